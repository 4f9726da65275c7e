//! What the node starts from, and what it builds again at each hand-over: the committee
//! it follows and the block its engine starts from (read back from the store), the
//! engine with its recovered safety state and certified blocks, and the sequencer's
//! settings from the configuration.

use std::sync::Arc;

use anyhow::{Context, Result};
use synod_consensus::engine::Recovery;
use synod_consensus::{Config as EngineConfig, Engine};
use synod_sequencer::batches::{BatchConfig, BatchPool, PoolConfig};
use synod_sequencer::MempoolConfig;
use synod_staking::handover;
use synod_types::{Block, Committee, Domain, Hash, SecretKey};

use crate::config::Config;
use synod_keys::protection::Protection;
use synod_store::Store;

/// The mempool bounds of the configuration.
pub fn mempool_config(cfg: &Config) -> MempoolConfig {
    MempoolConfig {
        max_bytes: cfg.mempool.max_bytes,
        max_txs: cfg.mempool.max_txs,
        max_tx_bytes: cfg.mempool.max_tx_bytes,
        max_namespace_percent: cfg.mempool.max_namespace_percent,
        ..MempoolConfig::default()
    }
}

/// When batches are cut.
/// The committee's stakes by index, for the batch pool's per-author shares.
pub fn stakes(committee: &Committee) -> Vec<u64> {
    committee.members().iter().map(|m| m.stake).collect()
}

/// The batch pool, each author's share set by `committee`'s stakes.
pub fn batch_pool(committee: &Committee) -> BatchPool {
    let mut pool = BatchPool::new(PoolConfig::default());
    pool.set_stakes(stakes(committee));
    pool
}

pub fn batch_config(cfg: &Config) -> BatchConfig {
    BatchConfig {
        interval_ms: cfg.batch.interval_ms,
        max_bytes: cfg.batch.max_bytes,
        ..BatchConfig::default()
    }
}

/// The committee the epoch's last block `end` hands over to (`None`: it ends no epoch).
pub fn committee_after(end: &Block, scheme: synod_types::Scheme) -> Result<Option<Committee>> {
    handover::committee_after(end, scheme)
        .transpose()
        .with_context(|| format!("the committee after block {}", end.header.height))
}

/// The committee this node follows from its store: the one handed over to by the last
/// committed block that ended an epoch, or the genesis committee; with the block it
/// starts from.
pub fn current_committee(
    store: &synod_store::Store,
    genesis_committee: &Arc<Committee>,
    genesis: &Block,
) -> Result<(Arc<Committee>, Block)> {
    let Some(end) = store.epoch_root().context("reading the epoch root")? else {
        return Ok((genesis_committee.clone(), genesis.clone()));
    };
    let committee = committee_after(&end, genesis_committee.scheme())?
        .context("the epoch root carries no committee")?;
    Ok((Arc::new(committee), end))
}

/// Builds the engine of `committee`, which starts from `root` (the genesis block or the
/// block that ended the previous epoch), recovering the safety state and the committed
/// block from disk. A safety state of an earlier epoch is not this committee's concern
/// (signatures carry their epoch): the engine starts from a fresh one. One of a later
/// epoch means this key already signed past this committee (a wiped chain database
/// syncing again): the engine follows without signing until it reaches that epoch.
pub fn engine(
    cfg: &Config,
    domain: &Domain,
    committee: &Arc<Committee>,
    key: SecretKey,
    root: Block,
    store: &Store,
    protection: &Protection,
) -> Result<Engine> {
    let mut engine_cfg = EngineConfig::new(*domain);
    engine_cfg.base_timeout_ms = cfg.consensus.base_timeout_ms;
    engine_cfg.max_timeout_ms = cfg.consensus.max_timeout_ms;
    engine_cfg.timeout_backoff_percent = cfg.consensus.backoff_percent;
    let epoch = committee.epoch();
    let stored = protection
        .load()
        .context("reading the slashing-protection record")?;
    let key = match &stored {
        Some(s) if s.epoch > epoch => {
            tracing::warn!(
                signed_in = s.epoch,
                epoch,
                "this key signed in a later epoch; following without signing until then"
            );
            None
        }
        _ => Some(key),
    };
    let safety = stored.filter(|s| s.epoch == epoch);
    let committed = store
        .committed()
        .context("reading the committed block")?
        .filter(|(block, _)| block.header.height > root.header.height);
    let base = committed.as_ref().map_or(&root, |(b, _)| b);
    let blocks = match &safety {
        Some(s) => certified_chain(store, s.high_qc.block_hash(), base)?,
        None => Vec::new(),
    };
    let recovery = match (safety, committed) {
        (None, None) => None,
        (safety, committed) => Some(Recovery {
            safety: safety.unwrap_or_else(|| {
                synod_consensus::SafetyState::initial(
                    epoch,
                    synod_types::QuorumCert::genesis(epoch, root.hash(), committee.size()),
                )
            }),
            committed,
            blocks,
        }),
    };
    Ok(Engine::new(
        engine_cfg,
        committee.clone(),
        key,
        root,
        recovery,
    ))
}

/// Most stored blocks a restarted engine takes back above its committed block.
const MAX_RECOVERED_BLOCKS: usize = 1_024;

/// The stored blocks from `tip` (the highest certified block this node knew) down to the
/// child of `base` (its committed block), oldest first; none unless they link to it. A
/// restarted leader extends them at once instead of fetching them again.
fn certified_chain(store: &Store, tip: Hash, base: &Block) -> Result<Vec<Block>> {
    let mut chain: Vec<Block> = Vec::new();
    let mut cursor = tip;
    while chain.len() < MAX_RECOVERED_BLOCKS {
        match store.block(&cursor).context("reading a stored block")? {
            Some(block) if block.header.height > base.header.height => {
                cursor = block.header.parent;
                chain.push(block);
            }
            _ => break,
        }
    }
    if chain.last().is_some_and(|b| b.header.parent != base.hash()) {
        chain.clear();
    }
    chain.reverse();
    Ok(chain)
}

/// The committee DA backend of `committee`, for member `me`.
pub fn da_backend(committee: &Committee, me: Option<u32>) -> synod_da::CommitteeDa {
    let stakes: Vec<u64> = committee.members().iter().map(|m| m.stake).collect();
    synod_da::CommitteeDa::new(&stakes, me.map(|m| m as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_store::testing::temp_dir;
    use synod_types::testing::chain;
    use synod_types::wire::Limits;

    #[test]
    fn a_restart_takes_back_the_stored_blocks_up_to_the_highest_certified_one() {
        let dir = temp_dir("recover");
        let store = Store::open(&dir, Limits::new(4)).unwrap();
        let blocks = chain(5);
        let heights =
            |chain: Vec<Block>| -> Vec<u64> { chain.iter().map(|b| b.header.height).collect() };
        // Heights 2 to 4 are stored; 1 is not.
        for b in &blocks[1..4] {
            store.put_block(b).unwrap();
        }
        // Committed at 1, certified up to 4: 2, 3 and 4 come back, oldest first.
        let tip = blocks[3].hash();
        let at = |h: usize| &blocks[h - 1];
        assert_eq!(
            heights(certified_chain(&store, tip, at(1)).unwrap()),
            [2, 3, 4]
        );
        assert_eq!(heights(certified_chain(&store, tip, at(3)).unwrap()), [4]);
        // A tip that was never stored, a chain with a gap, or one that does not descend
        // from the committed block gives nothing.
        assert!(certified_chain(&store, blocks[4].hash(), at(1))
            .unwrap()
            .is_empty());
        let genesis = Block::new(
            synod_types::Header::genesis(0),
            synod_types::QuorumCert::genesis(0, Hash::ZERO, 4),
        );
        assert!(certified_chain(&store, tip, &genesis).unwrap().is_empty());
        let mut header = at(1).header.clone();
        header.timestamp_ms += 1;
        let other = Block::with_payload(header, at(1).justify.clone(), at(1).payload.clone());
        assert!(certified_chain(&store, tip, &other).unwrap().is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
