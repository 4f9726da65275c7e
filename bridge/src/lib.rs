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
pub mod gas;
pub mod publisher;
mod source;

use std::fmt;

use alloy::primitives::Address;
use alloy::sol_types::SolInterface;
use alloy::transports::{RpcError, TransportErrorKind};

pub use client::{
    deploy, AttestedTip, CommitteeMember, CommitteeSnapshot, Sent, ValidatorRecord, L1,
};

/// Parameters of a StakeTable deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StakeParams {
    /// Smallest stake to register, in gwei.
    pub min_stake_gwei: u64,
    /// A slashed validator below this stake (gwei) leaves the committee.
    pub ejection_stake_gwei: u64,
    /// Seconds between an exit request and the withdrawal.
    pub exit_delay_secs: u64,
    /// L1 blocks per epoch.
    pub epoch_blocks: u64,
    /// Share of the stake a slash takes, in basis points.
    pub slash_bps: u64,
    /// Share of the slashed amount paid to the reporter, in basis points.
    pub reward_bps: u64,
}

impl Default for StakeParams {
    /// 32 ETH minimum, ejection below 16 ETH, a day of exit delay, 32-block epochs, half
    /// the stake slashed, a tenth of it to the reporter.
    fn default() -> StakeParams {
        StakeParams {
            min_stake_gwei: 32_000_000_000,
            ejection_stake_gwei: 16_000_000_000,
            exit_delay_secs: 86_400,
            epoch_blocks: 32,
            slash_bps: 5_000,
            reward_bps: 1_000,
        }
    }
}

/// Where the contracts of one deployment live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// L1 chain id.
    pub chain_id: u64,
    /// StakeTable's address.
    pub stake_table: Address,
    /// Bridge's address (what consensus signatures are bound to).
    pub bridge: Address,
    /// The L1 block of the deployment.
    pub block: u64,
}

/// A validator's status on the stake table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidatorStatus {
    /// Never registered, or withdrawn.
    None,
    /// In the validating set (in the committee from the next snapshot).
    Validating,
    /// Slashed below the ejection stake: out of the committee, funds left to withdraw.
    Zombie,
    /// Exit requested: withdrawable after the exit delay, slashable until then.
    Exiting,
}

impl ValidatorStatus {
    fn from_abi(status: u8) -> Result<ValidatorStatus, L1Error> {
        Ok(match status {
            0 => ValidatorStatus::None,
            1 => ValidatorStatus::Validating,
            2 => ValidatorStatus::Zombie,
            3 => ValidatorStatus::Exiting,
            other => return Err(L1Error::Encoding(format!("unknown status {other}"))),
        })
    }

    /// The contract's name for it.
    pub fn name(self) -> &'static str {
        match self {
            ValidatorStatus::None => "NONE",
            ValidatorStatus::Validating => "VALIDATING",
            ValidatorStatus::Zombie => "ZOMBIE",
            ValidatorStatus::Exiting => "EXITING",
        }
    }
}

impl fmt::Display for ValidatorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an L1 call failed.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    /// The endpoint could not be reached or answered with an error.
    #[error("L1 RPC: {0}")]
    Rpc(String),
    /// The contract refused the call.
    #[error("L1 call {call} reverted: {reason}")]
    Reverted {
        /// The call.
        call: &'static str,
        /// The decoded reason.
        reason: String,
    },
    /// L1's fees are above the configured bound.
    #[error("L1 fee {wanted} wei per gas is above the bound of {cap}; raise it or wait")]
    GasPriceTooHigh {
        /// What L1 asks.
        wanted: u128,
        /// The bound.
        cap: u128,
    },
    /// A transaction was requested from a read-only client.
    #[error("no L1 account configured to send from")]
    NoAccount,
    /// A value could not be converted to or from its ABI form.
    #[error("L1 encoding: {0}")]
    Encoding(String),
    /// The client's configuration is wrong.
    #[error("{0}")]
    Config(String),
}

impl L1Error {
    /// Whether the failure is the endpoint's (worth a retry), not the contract's answer.
    pub fn is_transient(&self) -> bool {
        matches!(self, L1Error::Rpc(_) | L1Error::GasPriceTooHigh { .. })
    }

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            L1Error::Rpc(_) => "rpc",
            L1Error::Reverted { .. } => "reverted",
            L1Error::GasPriceTooHigh { .. } => "gas_price",
            L1Error::NoAccount => "no_account",
            L1Error::Encoding(_) => "encoding",
            L1Error::Config(_) => "config",
        }
    }

    fn rpc(e: RpcError<TransportErrorKind>) -> L1Error {
        L1Error::Rpc(e.to_string())
    }

    fn pending(e: alloy::providers::PendingTransactionError) -> L1Error {
        L1Error::Rpc(format!("waiting for the receipt: {e}"))
    }

    /// An error from a call that may carry revert data: decoded when it does.
    fn from_rpc_revert(call: &'static str, e: RpcError<TransportErrorKind>) -> L1Error {
        match e.as_error_resp().and_then(|resp| resp.as_revert_data()) {
            Some(data) => L1Error::Reverted {
                call,
                reason: decode_revert(&data),
            },
            None => L1Error::rpc(e),
        }
    }

    fn contract(call: &'static str, e: alloy::contract::Error) -> L1Error {
        match e.as_revert_data() {
            Some(data) => L1Error::Reverted {
                call,
                reason: decode_revert(&data),
            },
            None => L1Error::Rpc(format!("{call}: {e}")),
        }
    }
}

/// A revert reason in words: the contracts' custom errors by name and fields.
pub fn decode_revert(data: &[u8]) -> String {
    use contracts::{Bridge::BridgeErrors, StakeTable::StakeTableErrors};
    if let Ok(e) = StakeTableErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = BridgeErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(reason) = <alloy::sol_types::Revert as alloy::sol_types::SolError>::abi_decode(data) {
        return reason.reason;
    }
    format!("0x{}", alloy::primitives::hex::encode(data))
}
