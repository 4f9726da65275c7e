//! The L1 client: one connection to an Ethereum JSON-RPC endpoint, the two contracts, and
//! the calls an operator, a publisher and the staking reader make.

use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{BlockId, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use synod_types::{Equivocation, FinalityCert, Hash, Header, PublicKey, SecretKey};

use crate::contracts::{
    abi_hash, abi_header, abi_key, abi_signature, address_bytes, key_from_abi, Bridge, StakeTable,
};
use crate::error::L1Error;
use crate::params::{Deployment, StakeParams, ValidatorStatus};

/// How long a sent transaction may wait for its receipt.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a validator's record on the stake table says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorRecord {
    /// Its status.
    pub status: ValidatorStatus,
    /// Stake in gwei.
    pub stake_gwei: u64,
    /// When an exiting or ejected validator may withdraw (L1 seconds; 0 when not exiting).
    pub withdrawable_at: u64,
    /// Its BLS key, when registered.
    pub key: Option<PublicKey>,
}

/// One member of an epoch's committee as the stake table recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitteeMember {
    /// The validator's L1 account.
    pub account: Address,
    /// Its BLS key.
    pub key: PublicKey,
    /// The stake it counts with, in gwei.
    pub stake_gwei: u64,
}

/// The committee snapshot of one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitteeSnapshot {
    /// The epoch.
    pub epoch: u64,
    /// The L1 block of the snapshot.
    pub l1_block: u64,
    /// Members in committee order (the order of signer bitmaps).
    pub members: Vec<CommitteeMember>,
}

/// What the bridge has attested last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttestedTip {
    /// Height of the last attested block (0 before the first).
    pub height: u64,
    /// Its epoch.
    pub epoch: u64,
    /// Its hash.
    pub hash: Hash,
}

/// A transaction that went through: its hash, block and the gas it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Transaction hash.
    pub tx: Hash,
    /// L1 block it was included in.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Gas price paid, in wei.
    pub gas_price: u128,
}

/// A connection to L1 and the deployed contracts, optionally with an account to send from.
#[derive(Debug, Clone)]
pub struct L1 {
    provider: DynProvider,
    account: Option<Address>,
    chain_id: u64,
    stake_table: StakeTable::StakeTableInstance<DynProvider>,
    bridge: Bridge::BridgeInstance<DynProvider>,
    max_fee_per_gas: Option<u128>,
}

/// Resends after a nonce taken by another sender of the same account, at most.
const NONCE_RETRIES: u32 = 3;

/// Whether a send failed because its nonce was used meanwhile (node messages vary).
fn nonce_taken(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    // Not "already known": that is this very transaction, sent already.
    ["nonce too low", "replacement transaction underpriced"]
        .iter()
        .any(|m| error.contains(m))
}

fn provider(rpc: &str, signer: Option<PrivateKeySigner>) -> Result<DynProvider, L1Error> {
    let url = rpc
        .parse()
        .map_err(|e| L1Error::Config(format!("L1 RPC URL {rpc:?}: {e}")))?;
    Ok(match signer {
        // The nonce is read from L1 for every transaction: the account is shared with
        // the operator's own `synod stake` commands, and a send that failed must not
        // leave a gap that holds every later one back.
        Some(signer) => ProviderBuilder::default()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_http(url)
            .erased(),
        None => ProviderBuilder::new().connect_http(url).erased(),
    })
}

/// Deploys StakeTable and Bridge from `signer`'s account and binds them to each other.
pub async fn deploy(
    rpc: &str,
    signer: PrivateKeySigner,
    params: &StakeParams,
) -> Result<Deployment, L1Error> {
    let provider = provider(rpc, Some(signer))?;
    let chain_id = provider.get_chain_id().await.map_err(L1Error::rpc)?;
    let stake_table = StakeTable::deploy(
        provider.clone(),
        U256::from(params.min_stake_gwei),
        U256::from(params.ejection_stake_gwei),
        U256::from(params.exit_delay_secs),
        U256::from(params.epoch_blocks),
        U256::from(params.slash_bps),
        U256::from(params.reward_bps),
    )
    .await
    .map_err(|e| L1Error::contract("deploy StakeTable", e))?;
    let bridge = Bridge::deploy(provider.clone(), *stake_table.address())
        .await
        .map_err(|e| L1Error::contract("deploy Bridge", e))?;
    let receipt = stake_table
        .setBridge(*bridge.address())
        .send()
        .await
        .map_err(|e| L1Error::contract("setBridge", e))?
        .with_timeout(Some(RECEIPT_TIMEOUT))
        .get_receipt()
        .await
        .map_err(L1Error::pending)?;
    check_status("setBridge", &receipt)?;
    Ok(Deployment {
        chain_id,
        stake_table: *stake_table.address(),
        bridge: *bridge.address(),
        block: receipt.block_number.unwrap_or_default(),
    })
}

fn check_status(call: &'static str, receipt: &TransactionReceipt) -> Result<(), L1Error> {
    if receipt.status() {
        Ok(())
    } else {
        Err(L1Error::Reverted {
            call,
            reason: format!("transaction {} reverted", receipt.transaction_hash),
        })
    }
}

fn sent(receipt: &TransactionReceipt) -> Sent {
    Sent {
        tx: Hash(receipt.transaction_hash.0),
        block: receipt.block_number.unwrap_or_default(),
        gas_used: receipt.gas_used,
        gas_price: receipt.effective_gas_price,
    }
}

impl L1 {
    /// Connects to `rpc` for the StakeTable at `stake_table` and the bridge bound to it;
    /// `signer` is the account that sends transactions (none for a read-only client).
    pub async fn connect(
        rpc: &str,
        stake_table: Address,
        signer: Option<PrivateKeySigner>,
    ) -> Result<L1, L1Error> {
        let account = signer.as_ref().map(|s| s.address());
        let provider = provider(rpc, signer)?;
        let chain_id = provider.get_chain_id().await.map_err(L1Error::rpc)?;
        let table = StakeTable::new(stake_table, provider.clone());
        let bridge = table
            .bridge()
            .call()
            .await
            .map_err(|e| L1Error::contract("bridge", e))?;
        if bridge == Address::ZERO {
            return Err(L1Error::Config(format!(
                "no bridge is bound to the StakeTable at {stake_table} (is that the right address?)"
            )));
        }
        Ok(L1 {
            stake_table: table,
            bridge: Bridge::new(bridge, provider.clone()),
            provider,
            account,
            chain_id,
            max_fee_per_gas: None,
        })
    }

    /// Refuses to send when L1's base fee plus tip would exceed `wei` per gas.
    pub fn with_max_fee_per_gas(mut self, wei: u128) -> L1 {
        self.max_fee_per_gas = Some(wei);
        self
    }

    /// The L1 chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The sending account, if any.
    pub fn account(&self) -> Option<Address> {
        self.account
    }

    /// The stake table's address.
    pub fn stake_table_address(&self) -> Address {
        *self.stake_table.address()
    }

    /// The bridge's address.
    pub fn bridge_address(&self) -> Address {
        *self.bridge.address()
    }

    /// The StakeTable binding.
    pub(crate) fn stake_table(&self) -> &StakeTable::StakeTableInstance<DynProvider> {
        &self.stake_table
    }

    /// The raw provider, for block numbers and logs.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    fn sender(&self) -> Result<Address, L1Error> {
        self.account.ok_or(L1Error::NoAccount)
    }

    /// Sends `tx` (a contract call) with the fee bound applied and waits for its receipt.
    async fn send(&self, call: &'static str, tx: TransactionRequest) -> Result<Sent, L1Error> {
        let mut tx = tx.with_from(self.sender()?);
        if let Some(cap) = self.max_fee_per_gas {
            let fees = self
                .provider
                .estimate_eip1559_fees()
                .await
                .map_err(L1Error::rpc)?;
            if fees.max_fee_per_gas > cap {
                return Err(L1Error::GasPriceTooHigh {
                    wanted: fees.max_fee_per_gas,
                    cap,
                });
            }
            tx = tx
                .with_max_fee_per_gas(cap)
                .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas.min(cap));
        }
        // A call that would revert is caught by the estimate, with its reason. It runs on
        // the pending block: a post another validator sent and L1 has not included yet
        // makes this one revert here, and it is not sent twice.
        let gas = self
            .provider
            .estimate_gas(tx.clone())
            .block(BlockId::pending())
            .await
            .map_err(|e| L1Error::from_rpc_revert(call, e))?;
        let tx = tx.with_gas_limit(gas + gas / 5);
        // Another sender of this account (the node and its operator's `synod stake`
        // share it) may have taken the nonce just read: read it again and resend.
        let mut attempt = 0;
        let pending = loop {
            match self.provider.send_transaction(tx.clone()).await {
                Ok(pending) => break pending,
                Err(e) if attempt < NONCE_RETRIES && nonce_taken(&e.to_string()) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(L1Error::from_rpc_revert(call, e)),
            }
        };
        let receipt = pending
            .with_timeout(Some(RECEIPT_TIMEOUT))
            .get_receipt()
            .await
            .map_err(L1Error::pending)?;
        check_status(call, &receipt)?;
        Ok(sent(&receipt))
    }

    // --- staking ------------------------------------------------------------------------

    /// Registers the sending account with BLS key `key` and `stake_gwei` of stake; the
    /// proof of possession is made here, bound to the account and chain id.
    pub async fn register(&self, key: &SecretKey, stake_gwei: u64) -> Result<Sent, L1Error> {
        let account = self.sender()?;
        let pop =
            synod_types::eip2537::prove_possession(key, &address_bytes(&account), self.chain_id);
        let tx = self
            .stake_table
            .register(abi_key(&key.public_key())?, abi_signature(&pop)?)
            .value(U256::from(stake_gwei) * U256::from(1_000_000_000u64))
            .into_transaction_request();
        self.send("register", tx).await
    }

    /// Asks to leave the validating set from the next epoch.
    pub async fn request_exit(&self) -> Result<Sent, L1Error> {
        let tx = self.stake_table.requestExit().into_transaction_request();
        self.send("requestExit", tx).await
    }

    /// Withdraws the stake of an exited or ejected validator after the exit delay.
    pub async fn withdraw(&self) -> Result<Sent, L1Error> {
        let tx = self.stake_table.withdraw().into_transaction_request();
        self.send("withdraw", tx).await
    }

    /// Snapshots the next epoch's committee (anyone may, once the epoch's block is reached).
    pub async fn advance_epoch(&self) -> Result<Sent, L1Error> {
        let tx = self.stake_table.advanceEpoch().into_transaction_request();
        self.send("advanceEpoch", tx).await
    }

    /// Submits equivocation evidence against `account` (the owner of the evidence's key).
    pub async fn slash(&self, account: Address, evidence: &Equivocation) -> Result<Sent, L1Error> {
        let tx = self
            .stake_table
            .slash(
                account,
                U256::from(evidence.epoch),
                U256::from(evidence.view),
                evidence.phase as u8,
                abi_hash(&evidence.first.0),
                abi_signature(&evidence.first.1)?,
                abi_hash(&evidence.second.0),
                abi_signature(&evidence.second.1)?,
            )
            .into_transaction_request();
        self.send("slash", tx).await
    }

    /// The record of `account`.
    pub async fn validator(&self, account: Address) -> Result<ValidatorRecord, L1Error> {
        let v = self
            .stake_table
            .validator(account)
            .call()
            .await
            .map_err(|e| L1Error::contract("validator", e))?;
        let key = if v.blsKey.is_empty() {
            None
        } else {
            Some(key_from_abi(&v.blsKey)?)
        };
        Ok(ValidatorRecord {
            status: ValidatorStatus::from_abi(v.status)?,
            stake_gwei: v.stake.saturating_to(),
            withdrawable_at: v.withdrawableAt.saturating_to(),
            key,
        })
    }

    /// The owner of BLS key `key`, if it was ever registered.
    pub async fn key_owner(&self, key: &PublicKey) -> Result<Option<Address>, L1Error> {
        let hash = alloy::primitives::keccak256(abi_key(key)?);
        let owner = self
            .stake_table
            .keyOwner(hash)
            .call()
            .await
            .map_err(|e| L1Error::contract("keyOwner", e))?;
        Ok((owner != Address::ZERO).then_some(owner))
    }

    /// The latest epoch with a snapshot.
    pub async fn current_epoch(&self) -> Result<u64, L1Error> {
        let epoch = self
            .stake_table
            .currentEpoch()
            .call()
            .await
            .map_err(|e| L1Error::contract("currentEpoch", e))?;
        Ok(epoch.saturating_to())
    }

    /// The first L1 block at which epoch `epoch` may be snapshot.
    pub async fn epoch_due(&self, epoch: u64) -> Result<u64, L1Error> {
        let start = self
            .stake_table
            .startBlock()
            .call()
            .await
            .map_err(|e| L1Error::contract("startBlock", e))?;
        let length = self
            .stake_table
            .epochBlocks()
            .call()
            .await
            .map_err(|e| L1Error::contract("epochBlocks", e))?;
        Ok((start + U256::from(epoch) * length).saturating_to())
    }

    /// The committee of `epoch` as the stake table recorded it.
    pub async fn committee(&self, epoch: u64) -> Result<CommitteeSnapshot, L1Error> {
        let info = self
            .stake_table
            .committee(U256::from(epoch))
            .call()
            .await
            .map_err(|e| L1Error::contract("committee", e))?;
        let list = self
            .stake_table
            .members(U256::from(epoch))
            .call()
            .await
            .map_err(|e| L1Error::contract("members", e))?;
        let mut members = Vec::with_capacity(list.addresses.len());
        for ((account, key), stake) in list.addresses.iter().zip(&list.keys).zip(&list.stakes) {
            members.push(CommitteeMember {
                account: *account,
                key: key_from_abi(key)?,
                stake_gwei: stake.saturating_to(),
            });
        }
        Ok(CommitteeSnapshot {
            epoch,
            l1_block: info.l1Block.saturating_to(),
            members,
        })
    }

    // --- the bridge -----------------------------------------------------------------------

    /// Posts `header` with its finality certificate.
    pub async fn attest(&self, header: &Header, cert: &FinalityCert) -> Result<Sent, L1Error> {
        let tx = self
            .bridge
            .attest(
                abi_header(header),
                cert.0.signers.as_bytes().to_vec().into(),
                abi_signature(&cert.0.signature)?,
            )
            .into_transaction_request();
        self.send("attest", tx).await
    }

    /// The last attested block.
    pub async fn attested(&self) -> Result<AttestedTip, L1Error> {
        let height = self
            .bridge
            .attestedHeight()
            .call()
            .await
            .map_err(|e| L1Error::contract("attestedHeight", e))?;
        let epoch = self
            .bridge
            .attestedEpoch()
            .call()
            .await
            .map_err(|e| L1Error::contract("attestedEpoch", e))?;
        let hash = self
            .bridge
            .attestedHash()
            .call()
            .await
            .map_err(|e| L1Error::contract("attestedHash", e))?;
        Ok(AttestedTip {
            height,
            epoch,
            hash: Hash(hash.0),
        })
    }

    /// The latest L1 block number.
    pub async fn block_number(&self) -> Result<u64, L1Error> {
        self.provider.get_block_number().await.map_err(L1Error::rpc)
    }

    /// The balance of `account` in wei.
    pub async fn balance(&self, account: Address) -> Result<U256, L1Error> {
        self.provider
            .get_balance(account)
            .await
            .map_err(L1Error::rpc)
    }
}

#[cfg(test)]
mod tests {
    use super::nonce_taken;

    #[test]
    fn only_a_nonce_used_by_another_transaction_is_sent_again() {
        assert!(nonce_taken(
            "server returned an error response: error code -32003: nonce too low"
        ));
        assert!(nonce_taken("Replacement transaction underpriced"));
        assert!(!nonce_taken("already known"));
        assert!(!nonce_taken("execution reverted: TooEarly(601)"));
        assert!(!nonce_taken("connection refused"));
    }
}
