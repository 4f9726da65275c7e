//! Connecting as an operator configures it (an endpoint, the StakeTable's address, an
//! optional account, a fee bound), and the genesis a StakeTable's snapshot makes: what
//! `synod start`, `synod stake` and `synod genesis --from-l1` share.

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use synod_staking::{Genesis, GenesisValidator};

use crate::client::L1;
use crate::error::L1Error;

/// The default bound on the fee per gas a node pays, in gwei: far above an ordinary
/// Ethereum fee, low enough that a fee spike does not drain the account.
pub const DEFAULT_MAX_FEE_GWEI: u64 = 200;

impl L1 {
    /// Connects to `rpc` for the StakeTable at `stake_table`, sending from `signer`
    /// (none: read only), paying at most `max_fee_gwei` per gas (0: no bound).
    pub async fn open(
        rpc: &str,
        stake_table: Address,
        signer: Option<PrivateKeySigner>,
        max_fee_gwei: u64,
    ) -> Result<L1, L1Error> {
        let client = L1::connect(rpc, stake_table, signer).await?;
        Ok(match max_fee_gwei {
            0 => client,
            gwei => client.with_max_fee_per_gas(u128::from(gwei) * 1_000_000_000),
        })
    }

    /// A genesis whose committee is the StakeTable's latest epoch snapshot, bound to this
    /// deployment's chain id and bridge; stakes in gwei.
    pub async fn genesis(&self, timestamp_ms: u64) -> Result<Genesis, L1Error> {
        let epoch = self.current_epoch().await?;
        let snapshot = self.committee(epoch).await?;
        if snapshot.members.is_empty() {
            return Err(L1Error::Config(format!(
                "the StakeTable's epoch {epoch} has no committee: register validators, then snapshot an epoch (`synod stake advance-epoch`)"
            )));
        }
        Ok(Genesis {
            chain_id: self.chain_id(),
            bridge: self.bridge_address().to_string(),
            timestamp_ms,
            epoch,
            validators: snapshot
                .members
                .iter()
                .map(|m| GenesisValidator {
                    public_key: format!("0x{}", hex::encode(m.key.0)),
                    stake: m.stake_gwei,
                })
                .collect(),
        })
    }
}
