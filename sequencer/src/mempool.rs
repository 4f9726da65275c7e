//! The mempool: transactions accepted from clients and not yet put in a batch.
//!
//! Bounded in bytes and count, with a per-namespace share so one namespace cannot
//! crowd out the others, deduplicated by hash (pending transactions and a bounded
//! window of recently batched ones), and drained round-robin across namespaces.
//! An accepted transaction is never evicted: a full pool rejects new ones instead.

use std::collections::{BTreeMap, HashSet, VecDeque};

use synod_types::{Hash, Tx};
use thiserror::Error;

/// Mempool bounds.
#[derive(Debug, Clone)]
pub struct MempoolConfig {
    /// Most bytes of pending transactions.
    pub max_bytes: usize,
    /// Most pending transactions.
    pub max_txs: usize,
    /// Largest transaction payload.
    pub max_tx_bytes: usize,
    /// Share of `max_bytes` one namespace may hold, in percent.
    pub max_namespace_percent: usize,
    /// Recently batched transaction hashes remembered to reject resubmissions.
    pub dedup_window: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_bytes: 256 << 20,
            max_txs: 1 << 20,
            max_tx_bytes: synod_types::tx::DEFAULT_MAX_TX_BYTES,
            max_namespace_percent: 50,
            dedup_window: 1 << 20,
        }
    }
}

/// The checks every node makes of a client's transaction before keeping it: not empty,
/// at most `max_tx_bytes`.
pub fn check_payload(tx: &Tx, max_tx_bytes: usize) -> Result<(), Rejected> {
    if tx.payload.is_empty() {
        return Err(Rejected::Empty);
    }
    if tx.payload.len() > max_tx_bytes {
        return Err(Rejected::TooLarge {
            size: tx.payload.len(),
            max: max_tx_bytes,
        });
    }
    Ok(())
}

/// Why a transaction was not accepted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// The payload is empty.
    #[error("transaction payload is empty")]
    Empty,
    /// The payload is over the size limit.
    #[error("transaction payload of {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Payload size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Already pending or recently batched.
    #[error("transaction {0} is already known")]
    Duplicate(Hash),
    /// Already final: in a finalized block (look it up by its hash).
    #[error("transaction {0} is already final")]
    Final(Hash),
    /// The mempool is full; retry later.
    #[error("mempool is full ({txs} transactions, {bytes} bytes); retry later")]
    Full {
        /// Pending transactions.
        txs: usize,
        /// Pending bytes.
        bytes: usize,
    },
    /// This namespace holds its full share of the mempool; retry later.
    #[error(
        "namespace {namespace} holds its full share of the mempool ({bytes} bytes); retry later"
    )]
    NamespaceFull {
        /// The namespace.
        namespace: u64,
        /// Its pending bytes.
        bytes: usize,
    },
}

#[derive(Debug, Default)]
struct Queue {
    txs: VecDeque<(Hash, Tx)>,
    bytes: usize,
}

/// Pending transactions, per namespace.
#[derive(Debug)]
pub struct Mempool {
    cfg: MempoolConfig,
    queues: BTreeMap<u64, Queue>,
    pending: HashSet<Hash>,
    recent: VecDeque<Hash>,
    recent_set: HashSet<Hash>,
    bytes: usize,
    count: usize,
    /// Namespace to serve first in the next drain (round-robin).
    cursor: u64,
}

impl Mempool {
    /// An empty mempool.
    pub fn new(cfg: MempoolConfig) -> Mempool {
        Mempool {
            cfg,
            queues: BTreeMap::new(),
            pending: HashSet::new(),
            recent: VecDeque::new(),
            recent_set: HashSet::new(),
            bytes: 0,
            count: 0,
            cursor: 0,
        }
    }

    /// Pending transactions.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Pending bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Validates and accepts a transaction; returns its hash.
    pub fn insert(&mut self, tx: Tx) -> Result<Hash, Rejected> {
        check_payload(&tx, self.cfg.max_tx_bytes)?;
        let hash = tx.hash();
        if self.pending.contains(&hash) || self.recent_set.contains(&hash) {
            return Err(Rejected::Duplicate(hash));
        }
        let size = tx.size();
        if self.count >= self.cfg.max_txs || self.bytes + size > self.cfg.max_bytes {
            return Err(Rejected::Full {
                txs: self.count,
                bytes: self.bytes,
            });
        }
        let share = self.cfg.max_bytes / 100 * self.cfg.max_namespace_percent;
        let queue = self.queues.entry(tx.namespace).or_default();
        if queue.bytes + size > share {
            return Err(Rejected::NamespaceFull {
                namespace: tx.namespace,
                bytes: queue.bytes,
            });
        }
        queue.bytes += size;
        queue.txs.push_back((hash, tx));
        self.pending.insert(hash);
        self.bytes += size;
        self.count += 1;
        Ok(hash)
    }

    /// Takes up to `max_bytes` / `max_txs` of transactions, one per namespace in turn
    /// (starting after the namespace served first last time), oldest first within a
    /// namespace. Taken hashes stay known for dedup.
    pub fn take(&mut self, max_bytes: usize, max_txs: usize) -> Vec<Tx> {
        let mut out = Vec::new();
        let mut taken_bytes = 0;
        let order: Vec<u64> = self
            .queues
            .range(self.cursor..)
            .chain(self.queues.range(..self.cursor))
            .map(|(ns, _)| *ns)
            .collect();
        if let Some(first) = order.first() {
            // Next drain starts with the namespace after this one.
            self.cursor = first.wrapping_add(1);
        }
        let mut progress = true;
        while progress && out.len() < max_txs {
            progress = false;
            for ns in &order {
                if out.len() >= max_txs {
                    break;
                }
                let Some(queue) = self.queues.get_mut(ns) else {
                    continue;
                };
                let Some((_, front)) = queue.txs.front() else {
                    continue;
                };
                if taken_bytes + front.size() > max_bytes {
                    continue;
                }
                let (hash, tx) = queue.txs.pop_front().expect("front exists");
                queue.bytes -= tx.size();
                taken_bytes += tx.size();
                self.remember(hash);
                out.push(tx);
                progress = true;
            }
        }
        self.queues.retain(|_, q| !q.txs.is_empty());
        self.bytes -= taken_bytes;
        self.count -= out.len();
        out
    }

    /// Puts back transactions whose batch was dropped before being finalized, so no
    /// accepted transaction is lost. They bypass the size limits (they were accepted).
    pub fn requeue(&mut self, txs: Vec<Tx>) {
        for tx in txs.into_iter().rev() {
            let hash = tx.hash();
            if self.pending.contains(&hash) {
                continue;
            }
            let queue = self.queues.entry(tx.namespace).or_default();
            queue.bytes += tx.size();
            self.bytes += tx.size();
            self.count += 1;
            self.pending.insert(hash);
            queue.txs.push_front((hash, tx));
        }
    }

    fn remember(&mut self, hash: Hash) {
        self.pending.remove(&hash);
        if self.cfg.dedup_window == 0 {
            return;
        }
        if self.recent.len() >= self.cfg.dedup_window {
            if let Some(old) = self.recent.pop_front() {
                self.recent_set.remove(&old);
            }
        }
        if self.recent_set.insert(hash) {
            self.recent.push_back(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(ns: u64, n: u32) -> Tx {
        Tx {
            namespace: ns,
            payload: n.to_be_bytes().to_vec(),
        }
    }

    #[test]
    fn validation_and_dedup() {
        let mut m = Mempool::new(MempoolConfig {
            max_tx_bytes: 8,
            ..Default::default()
        });
        assert_eq!(
            m.insert(Tx {
                namespace: 1,
                payload: vec![]
            }),
            Err(Rejected::Empty)
        );
        assert_eq!(
            m.insert(Tx {
                namespace: 1,
                payload: vec![0; 9]
            }),
            Err(Rejected::TooLarge { size: 9, max: 8 })
        );
        let h = m.insert(tx(1, 1)).unwrap();
        assert_eq!(m.insert(tx(1, 1)), Err(Rejected::Duplicate(h)));
        assert_eq!(m.take(1 << 20, 10), vec![tx(1, 1)]);
        assert_eq!(
            m.insert(tx(1, 1)),
            Err(Rejected::Duplicate(h)),
            "recently batched"
        );
        assert!(m.is_empty());
    }

    #[test]
    fn bounds_reject_without_evicting_anything_accepted() {
        let mut m = Mempool::new(MempoolConfig {
            max_bytes: 100,
            max_txs: 3,
            max_namespace_percent: 100,
            ..Default::default()
        });
        for i in 0..3 {
            m.insert(tx(i, i as u32)).unwrap();
        }
        assert_eq!(
            m.insert(tx(9, 9)),
            Err(Rejected::Full { txs: 3, bytes: 36 })
        );
        assert_eq!(m.len(), 3);
        let mut m = Mempool::new(MempoolConfig {
            max_bytes: 100,
            max_namespace_percent: 30,
            ..Default::default()
        });
        m.insert(tx(1, 1)).unwrap();
        m.insert(tx(1, 2)).unwrap();
        assert_eq!(
            m.insert(tx(1, 3)),
            Err(Rejected::NamespaceFull {
                namespace: 1,
                bytes: 24
            })
        );
        assert!(m.insert(tx(2, 1)).is_ok(), "another namespace still fits");
    }

    #[test]
    fn draining_is_fair_across_namespaces_and_ordered_within_one() {
        let mut m = Mempool::new(MempoolConfig::default());
        for i in 0..100 {
            m.insert(tx(1, i)).unwrap();
        }
        for i in 0..3 {
            m.insert(tx(2, i)).unwrap();
        }
        let batch = m.take(1 << 20, 6);
        let namespaces: Vec<u64> = batch.iter().map(|t| t.namespace).collect();
        assert_eq!(
            namespaces,
            vec![1, 2, 1, 2, 1, 2],
            "a flood in namespace 1 does not starve namespace 2"
        );
        let ones: Vec<&Tx> = batch.iter().filter(|t| t.namespace == 1).collect();
        assert_eq!(ones, vec![&tx(1, 0), &tx(1, 1), &tx(1, 2)]);
        assert_eq!(m.len(), 97);
        assert_eq!(m.take(36, 100).len(), 3, "byte budget respected");
    }

    #[test]
    fn requeued_transactions_come_back_first_and_are_not_lost() {
        let mut m = Mempool::new(MempoolConfig::default());
        for i in 0..4 {
            m.insert(tx(1, i)).unwrap();
        }
        let first = m.take(1 << 20, 2);
        m.requeue(first.clone());
        assert_eq!(
            m.take(1 << 20, 4),
            vec![tx(1, 0), tx(1, 1), tx(1, 2), tx(1, 3)]
        );
    }
}
