//! Synod's sequencer: what happens to a transaction before consensus orders it.
//!
//! ```text
//! client ─▶ Mempool::insert ─▶ BatchBuilder::poll ─▶ gossip ─▶ BatchPool::add (every validator)
//!                                                                  │
//!        leader: Action::RequestPayload ─▶ BatchPool::pick ─────────┘
//!        voter:  Action::CheckPayload   ─▶ BatchPool::missing (fetch, then vote)
//!        commit: Action::Commit         ─▶ BatchPool::finalize ─▶ ordered output
//! ```
//!
//! - [`mempool`]: bounded (bytes, count, per-namespace share), deduplicated by hash,
//!   drained round-robin across namespaces; accepted transactions are never evicted.
//! - [`batches`]: cutting batches by interval or size, and the bounded pool leaders
//!   draw block payloads from, fairly across authors.
//!
//! This crate holds no clock, socket or disk: the node drives it. It does not verify
//! signatures (batches are content-addressed by digest) and does not persist anything.

pub mod batches;
pub mod mempool;

pub use batches::{BatchBuilder, BatchConfig, BatchPool, PoolConfig, PoolError};
pub use mempool::{Mempool, MempoolConfig, Rejected};
