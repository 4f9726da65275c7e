//! Synod's consensus: a HotStuff-2/Jolteon-family BFT engine with stake-weighted BLS
//! certificates, as a sans-IO state machine, and the deterministic simulator that
//! drives it under faults.
//!
//! ```text
//!   proposal(v) ──▶ votes ──▶ leader(v+1): QC(v) ──▶ proposal(v+1) ──▶ votes carry
//!                                                     commit sigs on block(v)
//!                                                          │
//!                            leader(v+2): QC(v+1) + FC(block v)  ──▶ everyone commits
//! ```
//!
//! - [`engine`]: the state machine. It does no I/O and owns no clock, socket, thread or
//!   disk; it takes [`engine::Input`]s and returns [`engine::Action`]s. The exact rules
//!   are in `docs/protocol.md`, and each safety-relevant line cites its rule there.
//! - [`follow`]: sync by height: when a node fetches finalized ranges instead of chains,
//!   and which ranges a finality certificate proves.
//! - [`sim`]: N engines on a seeded virtual clock and network with latency, loss,
//!   partitions, crashes and Byzantine members, checking agreement, ancestry,
//!   certificate validity, no honest double-sign and progress on every run.
//!
//! What this crate does not do: networking, storage, payload (batch) handling, and
//! epoch changes; the node supplies those through the actions it executes.

pub mod engine;
pub mod follow;
pub mod sim;

pub use engine::{
    Action, Config, Engine, Input, Offense, PeerId, Recipient, Recovery, SafetyState, Status,
};
