//! Batches: building them from the mempool, and the pool of batches a leader orders
//! into blocks.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use synod_types::{Batch, Hash, SealedBatch};
use thiserror::Error;

use crate::mempool::Mempool;

/// When a validator cuts a batch.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Cut a batch at least this often when transactions are pending, in milliseconds.
    pub interval_ms: u64,
    /// Cut as soon as this many bytes are pending; also the largest batch.
    pub max_bytes: usize,
    /// Most transactions in one batch.
    pub max_txs: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            interval_ms: 20,
            max_bytes: 1 << 20,
            max_txs: 1 << 14,
        }
    }
}

/// Cuts this validator's batches from its mempool.
#[derive(Debug)]
pub struct BatchBuilder {
    cfg: BatchConfig,
    author: u32,
    epoch: u64,
    next_seq: u64,
    last_cut_ms: u64,
}

impl BatchBuilder {
    /// A builder for `author` in `epoch`, continuing at sequence `next_seq`.
    pub fn new(cfg: BatchConfig, author: u32, epoch: u64, next_seq: u64) -> BatchBuilder {
        BatchBuilder {
            cfg,
            author,
            epoch,
            next_seq,
            last_cut_ms: 0,
        }
    }

    /// Cuts a batch if `max_bytes` are pending, or if anything is pending and
    /// `interval_ms` passed since the last cut.
    pub fn poll(&mut self, now_ms: u64, mempool: &mut Mempool) -> Option<Batch> {
        let due = now_ms.saturating_sub(self.last_cut_ms) >= self.cfg.interval_ms;
        if mempool.is_empty() || (!due && mempool.bytes() < self.cfg.max_bytes) {
            return None;
        }
        let txs = mempool.take(self.cfg.max_bytes, self.cfg.max_txs);
        if txs.is_empty() {
            return None;
        }
        self.last_cut_ms = now_ms;
        let batch = Batch {
            author: self.author,
            epoch: self.epoch,
            seq: self.next_seq,
            txs,
        };
        self.next_seq += 1;
        Some(batch)
    }
}

/// Bounds of the batch pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most batches held.
    pub max_batches: usize,
    /// Most bytes of transactions held.
    pub max_bytes: usize,
    /// Finalized batch digests remembered, to refuse them if they are sent again
    /// (older ones are recognized by the node's store).
    pub finalized_window: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_batches: 1 << 14,
            max_bytes: 1 << 30,
            finalized_window: 1 << 20,
        }
    }
}

/// Why a batch was not added.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// The pool is at its bound.
    #[error("batch pool is full ({batches} batches, {bytes} bytes)")]
    Full {
        /// Batches held.
        batches: usize,
        /// Bytes held.
        bytes: usize,
    },
    /// The author holds its whole share of the pool.
    #[error(
        "author {author} holds its share of the batch pool ({batches} batches, {bytes} bytes)"
    )]
    AuthorFull {
        /// The author's committee index.
        author: u32,
        /// Batches it holds.
        batches: usize,
        /// Bytes it holds.
        bytes: usize,
    },
}

/// Each author's share of the pool, in proportion to its stake, and what it holds.
#[derive(Debug, Default)]
struct Shares {
    /// Stakes by committee index; empty: no per-author bound.
    stakes: Vec<u64>,
    total: u128,
    /// Batches and bytes held, by author.
    held: HashMap<u32, (usize, usize)>,
}

/// The least share of any author: a member of tiny stake can still have a few batches,
/// of the largest size, waiting.
const MIN_SHARE_BATCHES: usize = 16;
/// The least share in bytes is this fraction of the pool's bytes.
const MIN_SHARE_BYTES_DIVISOR: usize = 256;

impl Shares {
    /// Batches and bytes `author` may hold.
    fn of(&self, author: u32, cfg: &PoolConfig) -> (usize, usize) {
        let stake = self.stakes.get(author as usize).copied().unwrap_or(0);
        let part = |max: usize| (max as u128 * u128::from(stake) / self.total.max(1)) as usize;
        (
            part(cfg.max_batches).max(MIN_SHARE_BATCHES),
            part(cfg.max_bytes).max(cfg.max_bytes / MIN_SHARE_BYTES_DIVISOR),
        )
    }

    fn add(&mut self, author: u32, size: usize) {
        let held = self.held.entry(author).or_default();
        held.0 += 1;
        held.1 += size;
    }

    fn remove(&mut self, author: u32, size: usize) {
        if let Some(held) = self.held.get_mut(&author) {
            held.0 = held.0.saturating_sub(1);
            held.1 = held.1.saturating_sub(size);
            if held.0 == 0 {
                self.held.remove(&author);
            }
        }
    }
}

/// Batches received (or built) and not yet finalized; the leader picks from them.
#[derive(Debug)]
pub struct BatchPool {
    cfg: PoolConfig,
    batches: HashMap<Hash, Arc<SealedBatch>>,
    /// Unordered batches per author, in arrival order.
    waiting: BTreeMap<u32, VecDeque<Hash>>,
    finalized: HashSet<Hash>,
    finalized_order: VecDeque<Hash>,
    bytes: usize,
    cursor: u32,
    shares: Shares,
}

impl BatchPool {
    /// An empty pool.
    pub fn new(cfg: PoolConfig) -> BatchPool {
        BatchPool {
            cfg,
            batches: HashMap::new(),
            waiting: BTreeMap::new(),
            finalized: HashSet::new(),
            finalized_order: VecDeque::new(),
            bytes: 0,
            cursor: 0,
            shares: Shares::default(),
        }
    }

    /// Bounds what each author may hold by its stake (the committee's stakes, by index):
    /// a share of the pool's batches and bytes in proportion to its stake, and never less
    /// than 16 batches and 1/256 of the bytes. Until called, authors are bounded only by
    /// the pool's total.
    pub fn set_stakes(&mut self, stakes: Vec<u64>) {
        self.shares.total = stakes.iter().map(|&s| u128::from(s)).sum();
        self.shares.stakes = stakes;
    }

    /// Adds a batch; returns its digest (adding a known batch is a no-op).
    pub fn add(&mut self, batch: Batch) -> Result<Hash, PoolError> {
        self.add_sealed(Arc::new(SealedBatch::new(batch)))
    }

    /// Adds a batch already hashed, within its author's share.
    pub fn add_sealed(&mut self, sealed: Arc<SealedBatch>) -> Result<Hash, PoolError> {
        self.insert(sealed, true)
    }

    /// Adds a batch a block orders (fetched or rebuilt for a payload check or a commit):
    /// bounded by the pool's total only, since whoever ordered it, a node must hold it to
    /// vote or commit.
    pub fn add_needed(&mut self, sealed: Arc<SealedBatch>) -> Result<Hash, PoolError> {
        self.insert(sealed, false)
    }

    fn insert(&mut self, sealed: Arc<SealedBatch>, within_share: bool) -> Result<Hash, PoolError> {
        let digest = sealed.digest();
        if self.batches.contains_key(&digest) || self.finalized.contains(&digest) {
            return Ok(digest);
        }
        let size = sealed.batch().size();
        if self.batches.len() >= self.cfg.max_batches || self.bytes + size > self.cfg.max_bytes {
            return Err(PoolError::Full {
                batches: self.batches.len(),
                bytes: self.bytes,
            });
        }
        let author = sealed.batch().author;
        if within_share && !self.shares.stakes.is_empty() {
            let (max_batches, max_bytes) = self.shares.of(author, &self.cfg);
            let (batches, bytes) = self.shares.held.get(&author).copied().unwrap_or_default();
            if batches >= max_batches || bytes + size > max_bytes {
                return Err(PoolError::AuthorFull {
                    author,
                    batches,
                    bytes,
                });
            }
        }
        self.shares.add(author, size);
        self.bytes += size;
        self.waiting
            .entry(sealed.batch().author)
            .or_default()
            .push_back(digest);
        self.batches.insert(digest, sealed);
        Ok(digest)
    }

    /// A held batch.
    pub fn get(&self, digest: &Hash) -> Option<&Batch> {
        self.batches.get(digest).map(|s| s.batch())
    }

    /// A held batch with its hashes.
    pub fn sealed(&self, digest: &Hash) -> Option<Arc<SealedBatch>> {
        self.batches.get(digest).cloned()
    }

    /// The digests of `payload` that are not held, in order: empty means a vote may be
    /// cast for a block ordering `payload`.
    pub fn missing(&self, payload: &[Hash]) -> Vec<Hash> {
        payload
            .iter()
            .filter(|d| !self.batches.contains_key(d) && !self.finalized.contains(d))
            .copied()
            .collect()
    }

    /// Up to `max` batch digests for a new block, skipping those in `exclude` (ordered
    /// by blocks not yet final), one author at a time in turn, oldest first per author.
    pub fn pick(&mut self, max: usize, exclude: &HashSet<Hash>) -> Vec<Hash> {
        let mut out = Vec::new();
        let authors: Vec<u32> = self
            .waiting
            .range(self.cursor..)
            .chain(self.waiting.range(..self.cursor))
            .map(|(a, _)| *a)
            .collect();
        if let Some(first) = authors.first() {
            self.cursor = first.wrapping_add(1);
        }
        let mut depth = 0;
        while out.len() < max {
            let mut any = false;
            for author in &authors {
                if out.len() >= max {
                    break;
                }
                let queue = &self.waiting[author];
                let candidates: Vec<Hash> = queue
                    .iter()
                    .filter(|d| !exclude.contains(d))
                    .copied()
                    .collect();
                if let Some(d) = candidates.get(depth) {
                    out.push(*d);
                    any = true;
                }
            }
            if !any {
                break;
            }
            depth += 1;
        }
        out
    }

    /// Marks batches as finalized: they leave the pool (returned, for the output
    /// stream) and are never picked or accepted again.
    pub fn finalize(&mut self, digests: &[Hash]) -> Vec<Arc<SealedBatch>> {
        let mut out = Vec::new();
        for d in digests {
            if !self.finalized.insert(*d) {
                continue;
            }
            self.finalized_order.push_back(*d);
            if self.finalized_order.len() > self.cfg.finalized_window {
                if let Some(old) = self.finalized_order.pop_front() {
                    self.finalized.remove(&old);
                }
            }
            if let Some(sealed) = self.remove(d) {
                out.push(sealed);
            }
        }
        self.waiting.retain(|_, q| !q.is_empty());
        out
    }

    /// Removes and returns the unordered batches of epochs before `epoch`: after a
    /// committee hand-over they are never ordered (their authors batch what they held
    /// again, `docs/protocol.md` §11).
    pub fn take_before_epoch(&mut self, epoch: u64) -> Vec<Arc<SealedBatch>> {
        let old: Vec<Hash> = self
            .batches
            .iter()
            .filter(|(_, b)| b.batch().epoch < epoch)
            .map(|(d, _)| *d)
            .collect();
        let mut out = Vec::with_capacity(old.len());
        for d in old {
            if let Some(sealed) = self.remove(&d) {
                out.push(sealed);
            }
        }
        self.waiting.retain(|_, q| !q.is_empty());
        out
    }

    fn remove(&mut self, digest: &Hash) -> Option<Arc<SealedBatch>> {
        let sealed = self.batches.remove(digest)?;
        let (author, size) = (sealed.batch().author, sealed.batch().size());
        self.bytes -= size;
        self.shares.remove(author, size);
        if let Some(q) = self.waiting.get_mut(&author) {
            q.retain(|x| x != digest);
        }
        Some(sealed)
    }

    /// Batches held.
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    /// Whether no batch is held.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::MempoolConfig;
    use synod_types::Tx;

    fn batch(author: u32, seq: u64) -> Batch {
        Batch {
            author,
            epoch: 0,
            seq,
            txs: vec![Tx {
                namespace: 1,
                payload: vec![author as u8, seq as u8],
            }],
        }
    }

    #[test]
    fn batches_are_cut_by_interval_or_by_size() {
        let mut m = Mempool::new(MempoolConfig::default());
        let mut b = BatchBuilder::new(
            BatchConfig {
                interval_ms: 100,
                max_bytes: 30,
                max_txs: 100,
            },
            2,
            0,
            5,
        );
        assert!(b.poll(1000, &mut m).is_none(), "nothing pending");
        m.insert(Tx {
            namespace: 1,
            payload: vec![1],
        })
        .unwrap();
        let first = b.poll(1000, &mut m).expect("interval elapsed");
        assert_eq!((first.author, first.seq, first.txs.len()), (2, 5, 1));
        m.insert(Tx {
            namespace: 1,
            payload: vec![2],
        })
        .unwrap();
        assert!(
            b.poll(1050, &mut m).is_none(),
            "interval not elapsed, below size"
        );
        for i in 3..6 {
            m.insert(Tx {
                namespace: 1,
                payload: vec![i],
            })
            .unwrap();
        }
        let full = b.poll(1060, &mut m).expect("size reached");
        assert_eq!(full.seq, 6);
        assert!(full.size() <= 30);
    }

    #[test]
    fn the_pool_picks_fairly_skips_excluded_and_forgets_finalized() {
        let mut pool = BatchPool::new(PoolConfig::default());
        let a: Vec<Hash> = (0..3).map(|s| pool.add(batch(1, s)).unwrap()).collect();
        let b: Vec<Hash> = (0..2).map(|s| pool.add(batch(2, s)).unwrap()).collect();
        assert_eq!(pool.pick(4, &HashSet::new()), vec![a[0], b[0], a[1], b[1]]);
        let exclude: HashSet<Hash> = [a[0], b[0]].into();
        assert_eq!(
            pool.pick(10, &exclude),
            vec![b[1], a[1], a[2]],
            "round-robin resumes at the next author"
        );
        assert_eq!(pool.missing(&[a[0], Hash([9; 32])]), vec![Hash([9; 32])]);
        let out = pool.finalize(&[a[0], b[0], a[0]]);
        assert_eq!(out.len(), 2, "each batch finalized once");
        assert_eq!(pool.add(batch(1, 0)).unwrap(), a[0]);
        assert_eq!(pool.len(), 3, "a finalized batch is not taken back");
        assert!(
            pool.missing(&[a[0]]).is_empty(),
            "finalized batches count as available"
        );
    }

    #[test]
    fn the_pool_is_bounded() {
        let mut pool = BatchPool::new(PoolConfig {
            max_batches: 2,
            max_bytes: 1 << 20,
            finalized_window: 2,
        });
        pool.add(batch(1, 0)).unwrap();
        pool.add(batch(1, 1)).unwrap();
        assert_eq!(
            pool.add(batch(1, 2)),
            Err(PoolError::Full {
                batches: 2,
                bytes: 20
            })
        );
        // The memory of finalized batches is a window, not a growing set.
        let digests: Vec<Hash> = (0..2).map(|s| batch(1, s).digest()).collect();
        pool.finalize(&digests);
        for seq in 10..20 {
            let d = pool.add(batch(2, seq)).unwrap();
            pool.finalize(&[d]);
        }
        assert_eq!(pool.finalized.len(), 2);
        assert_eq!(
            pool.missing(&[digests[0]]),
            vec![digests[0]],
            "forgotten beyond the window"
        );
    }

    #[test]
    fn a_hand_over_takes_the_previous_epochs_batches_out() {
        let mut pool = BatchPool::new(PoolConfig::default());
        let old: Vec<Hash> = (0..2).map(|s| pool.add(batch(1, s)).unwrap()).collect();
        let new = pool
            .add(Batch {
                epoch: 1,
                ..batch(3, 0)
            })
            .unwrap();
        let taken = pool.take_before_epoch(1);
        let mut digests: Vec<Hash> = taken.iter().map(|b| b.digest()).collect();
        digests.sort();
        let mut expected = old.clone();
        expected.sort();
        assert_eq!(digests, expected);
        assert_eq!(pool.len(), 1);
        assert_eq!(
            pool.pick(10, &HashSet::new()),
            vec![new],
            "only the new epoch's"
        );
        assert_eq!(pool.bytes, pool.get(&new).unwrap().size());
        assert!(pool.take_before_epoch(1).is_empty());
    }

    fn tiny(author: u32, seq: u64) -> Arc<SealedBatch> {
        Arc::new(SealedBatch::new(batch(author, seq)))
    }

    #[test]
    fn one_author_flooding_tiny_batches_leaves_room_for_the_others() {
        let mut pool = BatchPool::new(PoolConfig::default());
        pool.set_stakes(vec![1, 1, 1, 1]);
        // Author 3 sends tiny batches until the pool refuses them.
        let mut sent = 0;
        while pool.add_sealed(tiny(3, sent)).is_ok() {
            sent += 1;
        }
        assert_eq!(sent as usize, PoolConfig::default().max_batches / 4);
        assert!(matches!(
            pool.add_sealed(tiny(3, sent)),
            Err(PoolError::AuthorFull { author: 3, .. })
        ));
        // The honest authors' batches still get in, up to their own shares.
        for author in 0..3 {
            for seq in 0..100 {
                pool.add_sealed(tiny(author, seq)).unwrap();
            }
        }
        // A batch of author 3 that a block orders is held whatever its share.
        pool.add_needed(tiny(3, sent)).unwrap();
        // It counts in the author's share; finalizing frees the share.
        let oldest = [tiny(3, 0).digest(), tiny(3, 1).digest()];
        assert_eq!(pool.finalize(&oldest).len(), 2);
        pool.add_sealed(tiny(3, sent + 1)).unwrap();
        assert!(pool.add_sealed(tiny(3, sent + 2)).is_err());
    }

    #[test]
    fn shares_follow_stake_with_a_floor() {
        let cfg = PoolConfig {
            max_batches: 1_000,
            max_bytes: 1 << 20,
            finalized_window: 10,
        };
        let mut pool = BatchPool::new(cfg);
        pool.set_stakes(vec![600, 300, 100, 0]);
        let fill = |pool: &mut BatchPool, author| {
            let mut n = 0;
            while pool.add_sealed(tiny(author, n)).is_ok() {
                n += 1;
            }
            n
        };
        assert_eq!(fill(&mut pool, 0), 600);
        assert_eq!(fill(&mut pool, 1), 300);
        assert_eq!(fill(&mut pool, 2), 100);
        // The pool's total bounds every author.
        assert_eq!(fill(&mut pool, 3), 0);
        // Little or no stake (or an index past the committee): the floor.
        let mut pool = BatchPool::new(cfg_with(1_000));
        pool.set_stakes(vec![1_000_000, 1]);
        assert_eq!(fill(&mut pool, 1), MIN_SHARE_BATCHES as u64);
        assert_eq!(fill(&mut pool, 7), MIN_SHARE_BATCHES as u64);
    }

    fn cfg_with(max_batches: usize) -> PoolConfig {
        PoolConfig {
            max_batches,
            max_bytes: 1 << 30,
            finalized_window: 10,
        }
    }

    #[test]
    fn a_share_is_bounded_in_bytes_too() {
        let mut pool = BatchPool::new(PoolConfig {
            max_batches: 1_000,
            max_bytes: 256 * 100,
            finalized_window: 10,
        });
        pool.set_stakes(vec![1, 1]);
        let big = |seq| {
            Arc::new(SealedBatch::new(Batch {
                author: 0,
                epoch: 0,
                seq,
                txs: vec![Tx {
                    namespace: 1,
                    payload: vec![0; 992],
                }],
            }))
        };
        // Each batch counts 1,000 bytes: half of 25,600 holds 12 of them.
        let mut n = 0;
        while pool.add_sealed(big(n)).is_ok() {
            n += 1;
        }
        assert_eq!(n, 12);
        assert!(matches!(
            pool.add_sealed(big(n)),
            Err(PoolError::AuthorFull {
                author: 0,
                batches: 12,
                ..
            })
        ));
    }
}
