//! What a StakeTable deployment is made of and what it says of a validator.

use std::fmt;

use alloy::primitives::Address;

use crate::error::L1Error;

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
    pub(crate) fn from_abi(status: u8) -> Result<ValidatorStatus, L1Error> {
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
