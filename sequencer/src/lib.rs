//! Synod's sequencer: what happens to a transaction before consensus orders it.
//!
//! ```text
//! client ─▶ Mempool::insert ─▶ BatchBuilder::poll ─▶ gossip ─▶ BatchPool::add (every validator)
//!                                                                  │
//!        leader: Action::RequestPayload ─▶ BatchPool::pick ─────────┘
//!        voter:  Action::CheckPayload   ─▶ Availability::check (fetch, then vote)
//!        commit: Action::Commit         ─▶ Availability::queue_commit ─▶ BatchPool::finalize
//! ```
//!
//! - [`mempool`]: bounded (bytes, count, per-namespace share), deduplicated by hash,
//!   drained round-robin across namespaces; accepted transactions are never evicted.
//! - [`batches`]: cutting batches by interval or size, and the bounded pool leaders
//!   draw block payloads from, fairly across authors.
//! - [`availability`]: which batches the blocks in flight need and which are being
//!   fetched, which are ordered by blocks not final yet, and the commits that wait for
//!   their batches.
//! - [`forward`]: a full node's (or a non-member's) intake: the transactions it
//!   acknowledged, handed to the validators that carry them and again until final.
//!
//! This crate holds no clock, socket or disk: the node drives it. It does not verify
//! signatures (batches are content-addressed by digest) and does not persist anything.

pub mod availability;
pub mod batches;
pub mod forward;
pub mod mempool;

pub use availability::{Availability, Check, NextCommit};
pub use batches::{BatchBuilder, BatchConfig, BatchPool, PoolConfig, PoolError};
pub use forward::{Intake, PeerBudgets};
pub use mempool::{Mempool, MempoolConfig, Rejected};
