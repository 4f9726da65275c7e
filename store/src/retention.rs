//! Retention: which finalized blocks keep their full batches and their shards, and the
//! pruning that runs in each commit's own write (`docs/protocol.md` §12).

use rocksdb::WriteBatch;

use synod_types::wire::WireError;
use synod_types::{Block, Hash};

use super::{
    shard_height_key, shard_key, stored_hash, StorageError, Store, CF_BATCHES, CF_META, CF_SHARDS,
    CF_SHARD_HEIGHTS,
};

/// Lowest finalized height whose batches may still be held (all below were pruned).
pub(super) const META_BATCHES_FROM: &[u8] = b"batches_from";
/// Lowest finalized height whose shards may still be held.
pub(super) const META_SHARDS_FROM: &[u8] = b"shards_from";
/// Finalized heights whose data one commit prunes at most: a window made smaller (or
/// set for the first time on a long chain) catches up over the next commits instead of
/// in one unbounded write.
pub(super) const MAX_PRUNED_HEIGHTS: u64 = 256;

impl Store {
    /// Keeps only the retained blocks' data: as `blocks` become final, the full batches
    /// and shards of the finalized heights that fall out of the retention windows are
    /// deleted in the same write (a block that falls out in this very commit is one of
    /// `blocks`), with the shards of any other block kept at those heights. Each window
    /// moves up from where the last prune left it, at most `MAX_PRUNED_HEIGHTS` a commit.
    pub(crate) fn prune(
        &self,
        write: &mut WriteBatch,
        blocks: &[Block],
    ) -> Result<(), StorageError> {
        let Some(last) = blocks.last().map(|b| b.header.height) else {
            return Ok(());
        };
        let block_at = |height: u64| -> Result<Option<Block>, StorageError> {
            match blocks.iter().find(|b| b.header.height == height) {
                Some(b) => Ok(Some(b.clone())),
                None => self.block_at(height),
            }
        };
        if let Some(falling) = self.falling(META_BATCHES_FROM, self.retention.batches, last)? {
            for height in falling.clone() {
                for d in block_at(height)?.map(|b| b.payload).unwrap_or_default() {
                    write.delete_cf(self.cf(CF_BATCHES), d.0);
                }
            }
            write.put_cf(
                self.cf(CF_META),
                META_BATCHES_FROM,
                falling.end.to_be_bytes(),
            );
        }
        if let Some(falling) = self.falling(META_SHARDS_FROM, self.retention.shards, last)? {
            let mut commitments = Vec::new();
            for height in falling.clone() {
                commitments.extend(block_at(height)?.map(|b| b.header.da_commitment));
            }
            let (low, high) = (
                shard_height_key(falling.start, &Hash::ZERO),
                shard_height_key(falling.end, &Hash::ZERO),
            );
            let index = self.db.iterator_cf(
                self.cf(CF_SHARD_HEIGHTS),
                rocksdb::IteratorMode::From(&low, rocksdb::Direction::Forward),
            );
            for entry in index {
                let (key, _) = entry?;
                if key.as_ref() >= high.as_slice() {
                    break;
                }
                commitments.push(stored_hash("shard height index", key[8..].to_vec())?);
            }
            for c in commitments {
                write.delete_range_cf(
                    self.cf(CF_SHARDS),
                    shard_key(&c, 0),
                    shard_key(&c, u32::MAX),
                );
            }
            write.delete_range_cf(self.cf(CF_SHARD_HEIGHTS), low, high);
            write.put_cf(
                self.cf(CF_META),
                META_SHARDS_FROM,
                falling.end.to_be_bytes(),
            );
        }
        Ok(())
    }

    /// The finalized heights whose data leaves a window of `keep` blocks now that `last`
    /// is final: from where the window last stood, at most `MAX_PRUNED_HEIGHTS` of them.
    fn falling(
        &self,
        marker: &[u8],
        keep: Option<u64>,
        last: u64,
    ) -> Result<Option<std::ops::Range<u64>>, StorageError> {
        let Some(keep) = keep else {
            return Ok(None);
        };
        let from = self.meta_height(marker)?;
        let first_kept = (last + 1).saturating_sub(keep).max(1);
        let to = first_kept.min(from.saturating_add(MAX_PRUNED_HEIGHTS));
        Ok((to > from).then_some(from..to))
    }

    /// A height recorded in the meta family (1 if none is).
    pub(crate) fn meta_height(&self, key: &[u8]) -> Result<u64, StorageError> {
        match self.get(CF_META, key)? {
            None => Ok(1),
            Some(v) => {
                v.try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|v: Vec<u8>| StorageError::Corrupt {
                        what: "meta height",
                        source: WireError::Length {
                            field: "height",
                            expected: 8,
                            got: v.len(),
                        },
                    })
            }
        }
    }

    /// The lowest finalized height from which every block's full batches are held
    /// (`da.retention-blocks` prunes the ones below; 1 while nothing was pruned).
    pub fn batches_from(&self) -> Result<u64, StorageError> {
        self.meta_height(META_BATCHES_FROM)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testing::temp_dir;
    use crate::Retention;
    use synod_da::Kept;
    use synod_types::testing::{cert, chain, child};
    use synod_types::wire::Limits;
    use synod_types::{Batch, FinalityCert, Header, QuorumCert, SealedBatch, Tx};

    #[test]
    fn blocks_past_the_retention_windows_lose_their_batches_and_shards_and_nothing_else() {
        let dir = temp_dir("retention");
        let store = Store::open(&dir, Limits::new(4))
            .unwrap()
            .with_retention(Retention {
                batches: Some(2),
                shards: Some(1),
            });
        let da = synod_da::CommitteeDa::new(&[1; 4], Some(0));
        let mut parent = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, 4));
        let mut kept_of = Vec::new();
        for h in 1..=5u64 {
            let (block, sealed, kept) = with_data(&store, &da, &parent, 0);
            assert_eq!(block.header.height, h);
            commit_one(&store, &block, &sealed);
            kept_of.push((sealed, kept));
            parent = block;
        }
        for (i, (sealed, kept)) in kept_of.iter().enumerate() {
            let h = i as u64 + 1;
            // Batches of the last two blocks, shards of the last one.
            assert_eq!(
                store.batch(&sealed.digest()).unwrap().is_some(),
                h >= 4,
                "batches at {h}"
            );
            assert_eq!(holds_shards(&store, kept), h >= 5, "shards at {h}");
            // Blocks and the transaction index stay.
            assert!(store.block_at(h).unwrap().is_some());
            let tx = sealed.batch().txs[0].hash();
            assert_eq!(store.tx_location(&tx).unwrap().unwrap().height, h);
        }
        assert_eq!(store.batches_from().unwrap(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_window_set_after_a_restart_prunes_the_older_data_and_the_shards_of_blocks_never_final() {
        let dir = temp_dir("retention-later");
        let da = synod_da::CommitteeDa::new(&[1; 4], Some(0));
        let genesis = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, 4));
        let mut chain = vec![genesis];
        let mut kept_of = Vec::new();
        let fork;
        {
            // Everything kept at first, and a block at height 3 that never became final.
            let store = Store::open(&dir, Limits::new(4)).unwrap();
            for h in 1..=5u64 {
                let (block, sealed, kept) = with_data(&store, &da, &chain[h as usize - 1], 0);
                commit_one(&store, &block, &sealed);
                kept_of.push((sealed, kept));
                chain.push(block);
            }
            let (_, _, kept) = with_data(&store, &da, &chain[2], 1);
            fork = kept;
            assert!(holds_shards(&store, &fork));
            assert_eq!(store.batches_from().unwrap(), 1);
        }
        // The operator keeps one block's data from now on.
        let store = Store::open(&dir, Limits::new(4))
            .unwrap()
            .with_retention(Retention {
                batches: Some(1),
                shards: Some(1),
            });
        let (block, sealed, kept) = with_data(&store, &da, &chain[5], 0);
        commit_one(&store, &block, &sealed);
        for (sealed, kept) in &kept_of {
            assert!(store.batch(&sealed.digest()).unwrap().is_none());
            assert!(!holds_shards(&store, kept));
        }
        assert!(
            !holds_shards(&store, &fork),
            "shards of a block never final"
        );
        assert!(store.batch(&sealed.digest()).unwrap().is_some());
        assert!(holds_shards(&store, &kept));
        assert_eq!(store.batches_from().unwrap(), 6);
        // Shards for a height already out of the window are not kept.
        let (_, _, late) = with_data(&store, &da, &chain[1], 1);
        assert!(!holds_shards(&store, &late));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_long_chain_is_pruned_a_bounded_number_of_heights_per_commit() {
        let dir = temp_dir("retention-bounded");
        let blocks = chain(MAX_PRUNED_HEIGHTS * 2 + 1);
        let (last, earlier) = blocks.split_last().unwrap();
        {
            let store = Store::open(&dir, Limits::new(4)).unwrap();
            let fc = FinalityCert(cert(earlier.len() as u64, earlier.last().unwrap().hash()));
            let none = vec![Vec::new(); earlier.len()];
            store.commit(earlier, &fc, &none, &[]).unwrap();
        }
        let store = Store::open(&dir, Limits::new(4))
            .unwrap()
            .with_retention(Retention {
                batches: Some(0),
                shards: None,
            });
        let fc = FinalityCert(cert(blocks.len() as u64, last.hash()));
        store
            .commit(std::slice::from_ref(last), &fc, &[Vec::new()], &[])
            .unwrap();
        assert_eq!(store.batches_from().unwrap(), 1 + MAX_PRUNED_HEIGHTS);
    }

    /// A child of `parent` with one batch (`fork` tells siblings apart), its batch and
    /// shards stored as before a vote.
    fn with_data(
        store: &Store,
        da: &synod_da::CommitteeDa,
        parent: &Block,
        fork: u8,
    ) -> (Block, Arc<SealedBatch>, Kept) {
        use synod_da::DaBackend;
        let height = parent.header.height + 1;
        let sealed = Arc::new(SealedBatch::new(Batch {
            author: 0,
            epoch: 0,
            seq: height,
            txs: vec![Tx {
                namespace: 1,
                payload: vec![height as u8, fork],
            }],
        }));
        let data = synod_da::payload::encode(&[sealed.batch()], None);
        let kept = da.disperse(&data).unwrap();
        let block = child(parent, vec![sealed.digest()], kept.commitment);
        store
            .put_data(std::slice::from_ref(&sealed), &[(height, kept.clone())])
            .unwrap();
        (block, sealed, kept)
    }

    fn commit_one(store: &Store, block: &Block, sealed: &Arc<SealedBatch>) {
        let fc = FinalityCert(cert(block.header.height, block.hash()));
        store
            .commit(
                std::slice::from_ref(block),
                &fc,
                &[vec![sealed.clone()]],
                &[],
            )
            .unwrap();
    }

    fn holds_shards(store: &Store, kept: &Kept) -> bool {
        kept.shards
            .iter()
            .any(|s| store.shard(&kept.commitment, s.index).unwrap().is_some())
    }
}
