//! Why an L1 call failed, and revert reasons in words.

use alloy::sol_types::SolInterface;
use alloy::transports::{RpcError, TransportErrorKind};

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

impl From<synod_types::eip2537::EncodingError> for L1Error {
    fn from(e: synod_types::eip2537::EncodingError) -> L1Error {
        L1Error::Encoding(e.to_string())
    }
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

    pub(crate) fn rpc(e: RpcError<TransportErrorKind>) -> L1Error {
        L1Error::Rpc(e.to_string())
    }

    pub(crate) fn pending(e: alloy::providers::PendingTransactionError) -> L1Error {
        L1Error::Rpc(format!("waiting for the receipt: {e}"))
    }

    /// An error from a call that may carry revert data: decoded when it does.
    pub(crate) fn from_rpc_revert(call: &'static str, e: RpcError<TransportErrorKind>) -> L1Error {
        match e.as_error_resp().and_then(|resp| resp.as_revert_data()) {
            Some(data) => L1Error::Reverted {
                call,
                reason: decode_revert(&data),
            },
            None => L1Error::rpc(e),
        }
    }

    pub(crate) fn contract(call: &'static str, e: alloy::contract::Error) -> L1Error {
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
    use crate::contracts::{Bridge::BridgeErrors, StakeTable::StakeTableErrors};
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
