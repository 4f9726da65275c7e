//! Synod's L1 bridge: the Solidity contracts (`bridge/contracts/`) and the Rust client
//! that talks to them.
//!
//! ```text
//!  operator ── synod stake … ──▶ StakeTable.register / requestExit / withdraw
//!  any node ── advanceEpoch ───▶ StakeTable (snapshot: committee of the next epoch)
//!  publisher ─ attest ─────────▶ Bridge ──reads──▶ StakeTable.committee(epoch)
//!  any node ── slash ──────────▶ StakeTable (two signatures, one key, one view)
//! ```
//!
//! - [`contracts`]: bindings generated from the committed artifacts, and the ABI
//!   conversions (keys and signatures in the EIP-2537 layout of `synod_types::eip2537`).
//! - [`client::L1`]: one connection to an Ethereum JSON-RPC endpoint with an optional
//!   sending account: deploy, register, exit, withdraw, advance the epoch, attest, slash,
//!   and the reads (validator records, committees, the attested tip).
//!
//! - [`publisher::Publisher`]: the task that posts finality certificates (rotating duty
//!   with fallback, never re-posting, a fee bound), takes epoch snapshots in turn, and
//!   submits equivocation evidence; it reads the chain only as a stream of
//!   [`publisher::Certified`] headers.
//!
//! What it does not do: decide which committee consensus uses — the staking reader and
//! the consensus hand-over do, on top of this client.

pub mod client;
mod connect;
pub mod contracts;
pub mod devnet;
mod error;
pub mod gas;
mod params;
pub mod publisher;
mod source;

pub use client::{
    deploy, AttestedTip, CommitteeMember, CommitteeSnapshot, Sent, ValidatorRecord, L1,
};
pub use connect::DEFAULT_MAX_FEE_GWEI;
pub use error::{decode_revert, L1Error};
pub use params::{Deployment, StakeParams, ValidatorStatus};
