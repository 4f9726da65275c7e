//! The chain store: the node's database (RocksDB), one column family per kind of record:
//!
//! | family | key | value |
//! |---|---|---|
//! | `blocks` | block hash | block (wire encoding) |
//! | `heights` | finalized height, big-endian | block hash |
//! | `certificates` | block hash | finality certificate of a committed block |
//! | `batches` | batch digest | batch |
//! | `txs` | transaction hash | height, batch index, position |
//! | `pending` | transaction hash | a transaction acknowledged to a client, not final yet |
//! | `shards` | DA commitment ‖ shard index | a shard of block data this validator keeps, with its proof |
//! | `shard_heights` | height ‖ DA commitment | nothing: which blocks' shards are kept at a height, final or not |
//! | `meta` | `schema`, `committed`, `epoch_root`, `batches_from`, `shards_from` | schema version, last committed block hash, last committed block that ended an epoch, lowest finalized heights whose batches and shards may still be held |
//!
//! Pending-transaction writes are synced before they return: the RPC answers with a
//! transaction hash only after that. So are the batches a validator writes before it
//! proposes or votes for a block that orders them (`put_batches`). Commits are one
//! atomic write batch, logged but not synced. The slashing-protection record lives in a database of its own
//! (`synod_keys::protection`).
//! Records read back are decoded with the same bounds as network input: a corrupt
//! database yields an error, never a panic.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};
use thiserror::Error;

use synod_da::{Kept, Shard};
use synod_types::wire::{self, Limits, WireError};
use synod_types::{Batch, Block, FinalityCert, Hash, SealedBatch, Tx};

mod retention;
use retention::META_SHARDS_FROM;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

const CF_BLOCKS: &str = "blocks";
const CF_HEIGHTS: &str = "heights";
const CF_CERTS: &str = "certificates";
const CF_BATCHES: &str = "batches";
const CF_TXS: &str = "txs";
const CF_META: &str = "meta";
/// Transactions acknowledged to clients and not final yet (survive a crash).
const CF_PENDING: &str = "pending";
/// This validator's shards of block data: commitment ‖ index (big-endian) → shard.
const CF_SHARDS: &str = "shards";
/// The blocks whose shards are kept, by height: height (big-endian) ‖ commitment → empty.
/// Pruning by height finds the shards of every block at that height, the ones that never
/// became final too.
const CF_SHARD_HEIGHTS: &str = "shard_heights";
const FAMILIES: [&str; 9] = [
    CF_BLOCKS,
    CF_HEIGHTS,
    CF_CERTS,
    CF_BATCHES,
    CF_TXS,
    CF_META,
    CF_PENDING,
    CF_SHARDS,
    CF_SHARD_HEIGHTS,
];

const SCHEMA_VERSION: u32 = 1;
/// Write-ahead log kept at most; beyond it the oldest families are flushed.
const MAX_WAL_BYTES: u64 = 128 << 20;
/// Families keyed by 32-byte hashes and written once per transaction.
const HASHED_FAMILIES: [&str; 2] = [CF_TXS, CF_PENDING];

/// What went wrong with the database.
#[derive(Debug, Error)]
pub enum StorageError {
    /// RocksDB reported an error.
    #[error("database error: {0}")]
    Db(#[from] rocksdb::Error),
    /// A record does not decode.
    #[error("corrupt {what} record: {source}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// Why.
        source: WireError,
    },
    /// The data directory holds another chain.
    #[error("the database holds the chain of genesis {stored}, not of this genesis ({genesis}); use the data directory of this chain or a fresh one")]
    OtherChain {
        /// The genesis hash recorded in the database.
        stored: Hash,
        /// The genesis hash of the configured genesis file.
        genesis: Hash,
    },
    /// The database was written by an incompatible version.
    #[error("database schema {found} is not supported (expected {SCHEMA_VERSION}); use a matching synod version or a fresh data directory")]
    Schema {
        /// The version found.
        found: u32,
    },
}

/// Where a finalized transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Height of the block.
    pub height: u64,
    /// Index of the batch in the block's payload.
    pub batch: u32,
    /// Position of the transaction in the batch.
    pub position: u32,
}

/// How many finalized blocks keep their data (`da.retention-blocks`,
/// `da.shard-retention-blocks`): `None` keeps all. Older blocks' batches are rebuilt
/// from shards (`docs/protocol.md` §12).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Newest finalized blocks whose full batches are kept.
    pub batches: Option<u64>,
    /// Newest finalized blocks whose shards are kept.
    pub shards: Option<u64>,
}

/// The node's database.
#[derive(Debug)]
pub struct Store {
    db: DB,
    limits: Limits,
    retention: Retention,
}

/// The key of a shard: the commitment of its data, then its index.
fn shard_key(commitment: &Hash, index: u32) -> [u8; 36] {
    let mut key = [0u8; 36];
    key[..32].copy_from_slice(&commitment.0);
    key[32..].copy_from_slice(&index.to_be_bytes());
    key
}

/// The key of a kept block's shards in the height index.
fn shard_height_key(height: u64, commitment: &Hash) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..].copy_from_slice(&commitment.0);
    key
}

/// A 32-byte hash read back from the database.
fn stored_hash(what: &'static str, bytes: Vec<u8>) -> Result<Hash, StorageError> {
    let got = bytes.len();
    bytes
        .try_into()
        .map(Hash)
        .map_err(|_| StorageError::Corrupt {
            what,
            source: WireError::Length {
                field: "hash",
                expected: 32,
                got,
            },
        })
}

fn corrupt(what: &'static str) -> impl Fn(WireError) -> StorageError {
    move |source| StorageError::Corrupt { what, source }
}

impl Store {
    /// Opens (creating if needed) the database at `path`. `limits` bound what is decoded.
    pub fn open(path: &Path, limits: Limits) -> Result<Store, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        options.set_max_open_files(512);
        // Required by the hash memtables of the transaction families.
        options.set_allow_concurrent_memtable_write(false);
        // A write-ahead log file is deleted only when every family with data in it has
        // been flushed; the small families (meta, pending, safety) rarely fill a
        // memtable, so without a bound the logs would pile up and replay for ever.
        options.set_max_total_wal_size(MAX_WAL_BYTES);
        options.set_keep_log_file_num(4);
        let families = FAMILIES.iter().map(|name| {
            let mut cf = Options::default();
            // Every lookup is by key (hash or height): bloom filters spare the reads of
            // files that do not hold it (the commit's duplicate check, mostly misses).
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_bloom_filter(10.0, false);
            table.set_cache_index_and_filter_blocks(true);
            cf.set_block_based_table_factory(&table);
            cf.set_memtable_whole_key_filtering(true);
            cf.set_memtable_prefix_bloom_ratio(0.1);
            if *name == CF_BATCHES {
                // Batches are large and written once: blob files keep them out of
                // compaction, which would otherwise rewrite every byte several times.
                cf.set_enable_blob_files(true);
                cf.set_min_blob_size(4 * 1024);
                cf.set_blob_compression_type(rocksdb::DBCompressionType::Lz4);
            }
            if HASHED_FAMILIES.contains(name) {
                // One insert (and lookup) per transaction, never a range scan on the hot
                // path: a hash-bucketed memtable instead of a skip list.
                cf.set_prefix_extractor(rocksdb::SliceTransform::create_fixed_prefix(32));
                cf.set_memtable_factory(rocksdb::MemtableFactory::HashLinkList {
                    bucket_count: 1 << 20,
                });
            }
            ColumnFamilyDescriptor::new(*name, cf)
        });
        // A family an earlier version created and this one does not use (`safety`, now
        // in the protection database) is opened and left alone: RocksDB opens a
        // database only with all of its families.
        let unused: Vec<ColumnFamilyDescriptor> = DB::list_cf(&options, path)
            .unwrap_or_default()
            .into_iter()
            .filter(|name| name != "default" && !FAMILIES.contains(&name.as_str()))
            .map(|name| ColumnFamilyDescriptor::new(name, Options::default()))
            .collect();
        let db = DB::open_cf_descriptors(&options, path, families.chain(unused))?;
        let store = Store {
            db,
            limits,
            retention: Retention::default(),
        };
        match store.get(CF_META, b"schema")? {
            None => store.put_synced(CF_META, b"schema", &SCHEMA_VERSION.to_be_bytes())?,
            Some(v) => {
                let found = v.try_into().map(u32::from_be_bytes).unwrap_or(u32::MAX);
                if found != SCHEMA_VERSION {
                    return Err(StorageError::Schema { found });
                }
            }
        }
        Ok(store)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is created at open")
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    fn put_synced(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.put_cf_opt(self.cf(cf), key, value, &options)?;
        Ok(())
    }

    /// Stores a block (not yet final).
    pub fn put_block(&self, block: &Block) -> Result<(), StorageError> {
        self.db.put_cf(
            self.cf(CF_BLOCKS),
            block.hash().0,
            wire::encode_block(block),
        )?;
        Ok(())
    }

    /// A stored block.
    pub fn block(&self, hash: &Hash) -> Result<Option<Block>, StorageError> {
        self.get(CF_BLOCKS, &hash.0)?
            .map(|b| wire::decode_block(&b, &self.limits).map_err(corrupt("block")))
            .transpose()
    }

    /// Records `genesis` as the finalized block at height 0, or checks that the one
    /// recorded is `genesis`: a data directory holds one chain.
    pub fn put_genesis(&self, genesis: &Block) -> Result<(), StorageError> {
        let hash = genesis.hash();
        if let Some(stored) = self.get(CF_HEIGHTS, &0u64.to_be_bytes())? {
            let stored = stored_hash("height index", stored)?;
            if stored != hash {
                return Err(StorageError::OtherChain {
                    stored,
                    genesis: hash,
                });
            }
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_BLOCKS), hash.0, wire::encode_block(genesis));
        batch.put_cf(self.cf(CF_HEIGHTS), 0u64.to_be_bytes(), hash.0);
        self.db.write(batch)?;
        Ok(())
    }

    /// The finalized block at `height` (0: the genesis block).
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, StorageError> {
        match self.get(CF_HEIGHTS, &height.to_be_bytes())? {
            Some(hash) => {
                let hash = stored_hash("height index", hash)?;
                self.block(&hash)
            }
            None => Ok(None),
        }
    }

    /// Stores the batches a block not final yet orders and the shards this validator
    /// keeps of its data (with the height of their block), synced: a validator writes
    /// them before it signs a proposal or vote for that block, and serves them after a
    /// restart. Shards of a height already out of the shard window are not kept.
    pub fn put_data(
        &self,
        batches: &[Arc<SealedBatch>],
        kept: &[(u64, Kept)],
    ) -> Result<(), StorageError> {
        let mut write = WriteBatch::default();
        for sealed in batches {
            write.put_cf(
                self.cf(CF_BATCHES),
                sealed.digest().0,
                wire::encode_batch(sealed.batch()),
            );
        }
        let shards_from = self.meta_height(META_SHARDS_FROM)?;
        for (height, k) in kept.iter().filter(|(h, _)| *h >= shards_from) {
            for shard in &k.shards {
                write.put_cf(
                    self.cf(CF_SHARDS),
                    shard_key(&k.commitment, shard.index),
                    shard.encode(),
                );
            }
            write.put_cf(
                self.cf(CF_SHARD_HEIGHTS),
                shard_height_key(*height, &k.commitment),
                [],
            );
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(write, &options)?;
        Ok(())
    }

    /// A shard of the data `commitment` names, kept by this validator.
    pub fn shard(&self, commitment: &Hash, index: u32) -> Result<Option<Shard>, StorageError> {
        self.get(CF_SHARDS, &shard_key(commitment, index))?
            .map(|b| {
                Shard::decode(&b).map_err(|e| StorageError::Corrupt {
                    what: "shard",
                    source: WireError::Decode(e.to_string()),
                })
            })
            .transpose()
    }

    /// A stored batch.
    pub fn batch(&self, digest: &Hash) -> Result<Option<Batch>, StorageError> {
        self.get(CF_BATCHES, &digest.0)?
            .map(|b| wire::decode_batch(&b, &self.limits).map_err(corrupt("batch")))
            .transpose()
    }

    /// Makes `blocks` (ascending, each the child of the one before, the first the child
    /// of the last committed block) final, with `certificate` for the last one, stores
    /// `batches` (one list per block, in payload order) and indexes their transactions.
    /// A transaction hash finalizes once: a copy already in the index, or earlier in
    /// this commit, is not indexed again. Returns the locations of the transactions
    /// indexed by this commit, per block. One atomic write (not synced: see below).
    pub fn commit(
        &self,
        blocks: &[Block],
        certificate: &FinalityCert,
        batches: &[Vec<std::sync::Arc<SealedBatch>>],
        pending_done: &[Hash],
    ) -> Result<Vec<Vec<(Hash, TxLocation)>>, StorageError> {
        let Some(last) = blocks.last() else {
            return Ok(Vec::new());
        };
        let mut batch = WriteBatch::default();
        let mut seen = std::collections::HashSet::new();
        let mut indexed = Vec::with_capacity(blocks.len());
        for (i, block) in blocks.iter().enumerate() {
            let height = block.header.height;
            batch.put_cf(
                self.cf(CF_BLOCKS),
                block.hash().0,
                wire::encode_block(block),
            );
            batch.put_cf(self.cf(CF_HEIGHTS), height.to_be_bytes(), block.hash().0);
            let mut fresh = Vec::new();
            for (b, content) in batches
                .get(i)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                batch.put_cf(
                    self.cf(CF_BATCHES),
                    content.digest().0,
                    wire::encode_batch(content.batch()),
                );
                for (p, &hash) in content.tx_hashes().iter().enumerate() {
                    if !seen.insert(hash) || self.get(CF_TXS, &hash.0)?.is_some() {
                        continue;
                    }
                    let location = TxLocation {
                        height,
                        batch: b as u32,
                        position: p as u32,
                    };
                    let mut loc = Vec::with_capacity(16);
                    loc.extend_from_slice(&height.to_be_bytes());
                    loc.extend_from_slice(&location.batch.to_be_bytes());
                    loc.extend_from_slice(&location.position.to_be_bytes());
                    batch.put_cf(self.cf(CF_TXS), hash.0, loc);
                    fresh.push((hash, location));
                }
            }
            indexed.push(fresh);
        }
        batch.put_cf(
            self.cf(CF_CERTS),
            last.hash().0,
            wire::encode_certificate(&certificate.0),
        );
        batch.put_cf(self.cf(CF_META), b"committed", last.hash().0);
        // The committee changes here (`docs/protocol.md` §11): in the same write as the
        // block, so a restart always knows which committee follows.
        if let Some(end) = blocks.iter().rev().find(|b| b.next_epoch.is_some()) {
            batch.put_cf(self.cf(CF_META), b"epoch_root", end.hash().0);
        }
        self.prune(&mut batch, blocks)?;
        for hash in pending_done {
            batch.delete_cf(self.cf(CF_PENDING), hash.0);
        }
        // Written to the WAL without an fsync: a process crash loses nothing, and what a
        // power loss could lose is final elsewhere and fetched again from peers (the
        // pending transactions it would restore are deduplicated at commit).
        self.db.write(batch)?;
        Ok(indexed)
    }

    /// The store, keeping only `retention`'s blocks' data from now on.
    pub fn with_retention(mut self, retention: Retention) -> Store {
        self.retention = retention;
        self
    }

    /// The finality certificate stored for a committed block (the last block of each
    /// commit has one; its ancestors are proven through it).
    pub fn certificate(&self, hash: &Hash) -> Result<Option<FinalityCert>, StorageError> {
        self.get(CF_CERTS, &hash.0)?
            .map(|c| {
                wire::decode_certificate(&c, &self.limits)
                    .map(FinalityCert)
                    .map_err(corrupt("certificate"))
            })
            .transpose()
    }

    /// Records acknowledged transactions durably (synced) before the client is told.
    pub fn put_pending(&self, txs: &[(Hash, &Tx)]) -> Result<(), StorageError> {
        if txs.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for (hash, tx) in txs {
            batch.put_cf(self.cf(CF_PENDING), hash.0, wire::encode_tx(tx));
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// Acknowledged transactions not final yet, at most `max` (restored after a restart).
    pub fn pending(&self, max: usize) -> Result<Vec<Tx>, StorageError> {
        let mut out = Vec::new();
        // The family has a prefix extractor: a scan of all of it needs total order.
        let mut read = rocksdb::ReadOptions::default();
        read.set_total_order_seek(true);
        for item in self
            .db
            .iterator_cf_opt(self.cf(CF_PENDING), read, rocksdb::IteratorMode::Start)
            .take(max)
        {
            let (_, value) = item?;
            out.push(
                wire::decode_tx(&value, &self.limits).map_err(corrupt("pending transaction"))?,
            );
        }
        Ok(out)
    }

    /// Whether a batch is stored.
    pub fn has_batch(&self, digest: &Hash) -> Result<bool, StorageError> {
        Ok(self.get(CF_BATCHES, &digest.0)?.is_some())
    }

    /// The last committed block and its finality certificate.
    pub fn committed(&self) -> Result<Option<(Block, FinalityCert)>, StorageError> {
        let Some(hash) = self.get(CF_META, b"committed")? else {
            return Ok(None);
        };
        let hash = stored_hash("committed pointer", hash)?;
        let block = self.block(&hash)?;
        let cert = self
            .get(CF_CERTS, &hash.0)?
            .map(|c| wire::decode_certificate(&c, &self.limits).map_err(corrupt("certificate")))
            .transpose()?;
        Ok(block.zip(cert.map(FinalityCert)))
    }

    /// The last committed block that ended an epoch (it carries the committee that
    /// follows it), if any did.
    pub fn epoch_root(&self) -> Result<Option<Block>, StorageError> {
        let Some(hash) = self.get(CF_META, b"epoch_root")? else {
            return Ok(None);
        };
        let hash = stored_hash("epoch root pointer", hash)?;
        let block = self.block(&hash)?;
        if block.as_ref().is_none_or(|b| b.next_epoch.is_none()) {
            return Err(StorageError::Corrupt {
                what: "epoch root",
                source: WireError::Missing("the block ending the epoch"),
            });
        }
        Ok(block)
    }

    /// The finalized block that handed over to `epoch` (it carries that epoch's
    /// committee), if this store holds one: the parent of the first finalized block of
    /// `epoch`, found by bisecting heights (a block's epoch never decreases with height).
    pub fn handover_to(&self, epoch: u64) -> Result<Option<Block>, StorageError> {
        let Some((tip, _)) = self.committed()? else {
            return Ok(None);
        };
        if tip.header.epoch < epoch {
            return Ok(None);
        }
        // The first height whose block is of `epoch` or later lies in (low, high].
        let (mut low, mut high) = (0u64, tip.header.height);
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            match self.block_at(mid)? {
                Some(b) if b.header.epoch >= epoch => high = mid,
                Some(_) => low = mid,
                None => return Ok(None),
            }
        }
        let end = self.block_at(high - 1)?;
        Ok(end.filter(|b| b.next_epoch.as_ref().is_some_and(|n| n.epoch == epoch)))
    }

    /// Where a finalized transaction is.
    pub fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StorageError> {
        let Some(v) = self.get(CF_TXS, &hash.0)? else {
            return Ok(None);
        };
        if v.len() != 16 {
            return Err(StorageError::Corrupt {
                what: "transaction index",
                source: WireError::Length {
                    field: "location",
                    expected: 16,
                    got: v.len(),
                },
            });
        }
        let u64_at = |i: usize| u64::from_be_bytes(v[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_be_bytes(v[i..i + 4].try_into().expect("4 bytes"));
        Ok(Some(TxLocation {
            height: u64_at(0),
            batch: u32_at(8),
            position: u32_at(12),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::temp_dir;
    use synod_types::testing::{cert, chain};
    use synod_types::{Header, QuorumCert, Tx};

    #[test]
    fn the_block_that_handed_over_to_an_epoch_is_found_by_height() {
        let dir = temp_dir("handover");
        let store = Store::open(&dir, Limits::new(4)).unwrap();
        // Epoch 0 up to height 3, epoch 1 up to height 7, then epoch 2.
        let mut blocks = chain(10);
        let mut parent = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, 4));
        for b in blocks.iter_mut() {
            let h = b.header.height;
            let mut header = b.header.clone();
            header.parent = parent.hash();
            header.epoch = match h {
                1..=3 => 0,
                4..=7 => 1,
                _ => 2,
            };
            let next_epoch = match h {
                3 => Some(1),
                7 => Some(2),
                _ => None,
            }
            .map(|epoch| synod_types::NextEpoch {
                epoch,
                l1_block: h,
                members: vec![synod_types::Member {
                    public_key: synod_types::PublicKey(
                        [epoch as u8; synod_types::crypto::PUBLIC_KEY_LEN],
                    ),
                    stake: 1,
                }],
            });
            *b = Block::ending_epoch(header, b.justify.clone(), Vec::new(), next_epoch);
            parent = b.clone();
        }
        let fc = FinalityCert(cert(10, blocks[9].hash()));
        let none = vec![Vec::new(); blocks.len()];
        store.commit(&blocks, &fc, &none, &[]).unwrap();
        assert_eq!(store.handover_to(1).unwrap(), Some(blocks[2].clone()));
        assert_eq!(store.handover_to(2).unwrap(), Some(blocks[6].clone()));
        assert_eq!(store.handover_to(0).unwrap(), None, "the genesis epoch");
        assert_eq!(store.handover_to(3).unwrap(), None, "not reached");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn everything_written_is_read_back_after_reopening() {
        let dir = temp_dir("reopen");
        let blocks = chain(3);
        let fc = FinalityCert(cert(3, blocks[2].hash()));
        let batch = Batch {
            author: 1,
            epoch: 0,
            seq: 4,
            txs: vec![
                Tx {
                    namespace: 9,
                    payload: b"a".to_vec(),
                },
                Tx {
                    namespace: 9,
                    payload: b"b".to_vec(),
                },
            ],
        };
        {
            let store = Store::open(&dir, Limits::new(4)).unwrap();
            assert_eq!(store.committed().unwrap(), None);
            let sealed = std::sync::Arc::new(SealedBatch::new(batch.clone()));
            store.put_data(std::slice::from_ref(&sealed), &[]).unwrap();
            assert_eq!(store.batch(&sealed.digest()).unwrap(), Some(batch.clone()));
            store
                .commit(
                    &blocks,
                    &fc,
                    &[
                        vec![],
                        vec![std::sync::Arc::new(SealedBatch::new(batch.clone()))],
                        vec![],
                    ],
                    &[],
                )
                .unwrap();
        }
        let store = Store::open(&dir, Limits::new(4)).unwrap();
        assert_eq!(store.committed().unwrap(), Some((blocks[2].clone(), fc)));
        for b in &blocks {
            assert_eq!(store.block_at(b.header.height).unwrap().as_ref(), Some(b));
            assert_eq!(store.block(&b.hash()).unwrap().as_ref(), Some(b));
        }
        assert_eq!(
            store.tx_location(&batch.txs[1].hash()).unwrap(),
            Some(TxLocation {
                height: 2,
                batch: 0,
                position: 1
            })
        );
        assert_eq!(store.tx_location(&Hash([7; 32])).unwrap(), None);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn acknowledged_transactions_survive_a_reopen_until_committed() {
        let dir = temp_dir("pending");
        let txs: Vec<Tx> = (0..50u8)
            .map(|i| Tx {
                namespace: u64::from(i % 3),
                payload: vec![i; 40],
            })
            .collect();
        {
            let store = Store::open(&dir, Limits::new(4)).unwrap();
            let refs: Vec<(Hash, &Tx)> = txs.iter().map(|t| (t.hash(), t)).collect();
            store.put_pending(&refs).unwrap();
        }
        let store = Store::open(&dir, Limits::new(4)).unwrap();
        let mut back = store.pending(1_000).unwrap();
        back.sort_by_key(Tx::hash);
        let mut want = txs.clone();
        want.sort_by_key(Tx::hash);
        assert_eq!(back, want, "every acknowledged transaction comes back");
        assert_eq!(store.pending(10).unwrap().len(), 10, "bounded");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_genesis_block_is_height_zero_and_a_database_holds_one_chain() {
        let dir = temp_dir("genesis");
        let store = Store::open(&dir, Limits::new(4)).unwrap();
        let genesis = Block::new(Header::genesis(7), QuorumCert::genesis(0, Hash::ZERO, 4));
        assert_eq!(store.block_at(0).unwrap(), None);
        store.put_genesis(&genesis).unwrap();
        store.put_genesis(&genesis).unwrap();
        assert_eq!(store.block_at(0).unwrap().as_ref(), Some(&genesis));
        assert_eq!(
            store.block(&genesis.hash()).unwrap().as_ref(),
            Some(&genesis)
        );
        let other = Block::new(Header::genesis(8), QuorumCert::genesis(0, Hash::ZERO, 4));
        match store.put_genesis(&other) {
            Err(StorageError::OtherChain { stored, genesis: g }) => {
                assert_eq!((stored, g), (genesis.hash(), other.hash()));
            }
            other => panic!("expected OtherChain, got {other:?}"),
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let dir = temp_dir("corrupt");
        let store = Store::open(&dir, Limits::new(4)).unwrap();
        let hash = Hash([1; 32]);
        store
            .db
            .put_cf(store.cf(CF_BLOCKS), hash.0, b"\xff\xff garbage")
            .unwrap();
        assert!(matches!(
            store.block(&hash),
            Err(StorageError::Corrupt { what: "block", .. })
        ));
        store
            .db
            .put_cf(store.cf(CF_META), b"committed", b"short")
            .unwrap();
        assert!(matches!(
            store.committed(),
            Err(StorageError::Corrupt { .. })
        ));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
