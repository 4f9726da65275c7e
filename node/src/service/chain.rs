//! The commit path: finalized blocks and their batches into the store in one write, the
//! transactions they finalize off the intake, the finalized stream for subscribers, the
//! newest certified header for the L1 publisher, and the finality fields of the status,
//! current at every commit.
//!
//! It owns the finalized tip. It does not decide what is final (the engine, or a range
//! proven by a finality certificate, does) nor wait for batches (the availability tracker
//! queues commits until they are here).

use std::sync::Arc;

use anyhow::{Context, Result};
use synod_bridge::publisher::Certified;
use synod_sequencer::Intake;
use synod_types::{Block, FinalityCert, Hash, SealedBatch};
use tokio::sync::watch;

use super::status::{FinalTx, Finalized, NodeStatus};
use super::stream::{FinalizedStream, STREAM_BLOCKS, STREAM_BYTES};
use synod_store::Store;

/// What a commit made final.
#[derive(Debug)]
pub struct Committed {
    /// Its last block (the one the certificate proves).
    pub last: Block,
    /// The certificate.
    pub certificate: FinalityCert,
    /// How many blocks became final (an overlap with what was final is skipped).
    pub blocks: usize,
    /// The batch digests they ordered.
    pub digests: Vec<Hash>,
}

/// The finalized chain of this node.
#[derive(Debug)]
pub struct Chain {
    store: Arc<Store>,
    height: u64,
    hash: Hash,
    txs: u64,
    blocks: u64,
    /// Lowest height from which every block's full batches are held.
    full_data_from: u64,
    finalized: FinalizedStream,
    certified: watch::Sender<Option<Certified>>,
    status: watch::Sender<NodeStatus>,
}

/// The read ends of what the chain publishes.
#[derive(Debug)]
pub struct Outputs {
    /// The finalized stream.
    pub finalized: FinalizedStream,
    /// The newest certified header.
    pub certified: watch::Receiver<Option<Certified>>,
    /// The status snapshot.
    pub status: watch::Receiver<NodeStatus>,
}

impl Chain {
    /// The chain of `store`, whose last committed block (or `genesis`) is the tip.
    pub fn open(store: Arc<Store>, genesis: &Block) -> Result<(Chain, Outputs)> {
        let (height, hash) = match store.committed().context("reading the committed block")? {
            Some((block, _)) => (block.header.height, block.hash()),
            None => (0, genesis.hash()),
        };
        let full_data_from = store.batches_from().context("reading the retention mark")?;
        let finalized = FinalizedStream::new(STREAM_BLOCKS, STREAM_BYTES);
        let (certified, certified_rx) = watch::channel(None);
        let (status, status_rx) = watch::channel(NodeStatus::default());
        let outputs = Outputs {
            finalized: finalized.clone(),
            certified: certified_rx,
            status: status_rx,
        };
        let chain = Chain {
            store,
            height,
            hash,
            txs: 0,
            blocks: 0,
            full_data_from,
            finalized,
            certified,
            status,
        };
        Ok((chain, outputs))
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Height of the last finalized block.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Hash of the last finalized block.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Transactions finalized since start.
    pub fn finalized_txs(&self) -> u64 {
        self.txs
    }

    /// Blocks finalized since start.
    pub fn finalized_blocks(&self) -> u64 {
        self.blocks
    }

    /// Lowest finalized height from which every block's full batches are held.
    pub fn full_data_from(&self) -> u64 {
        self.full_data_from
    }

    /// Publishes a full status snapshot (the node's, once a second).
    pub fn publish_status(&self, status: NodeStatus) {
        let _ = self.status.send(status);
    }

    /// Writes `blocks` (each with its batches, in order) as final, proven by
    /// `certificate`; the transactions they finalize leave `intake`. Blocks at or below
    /// the tip are skipped (a range synced by height and the engine's own commit may
    /// overlap). `None` when nothing was new. The RocksDB write runs on a blocking
    /// thread: the node's task waits for it without holding up the runtime.
    pub async fn commit(
        &mut self,
        blocks: Vec<Block>,
        certificate: FinalityCert,
        batches: Vec<Vec<Arc<SealedBatch>>>,
        intake: &mut Intake,
    ) -> Result<Option<Committed>> {
        let fresh_from = blocks
            .iter()
            .position(|b| b.header.height > self.height)
            .unwrap_or(blocks.len());
        let blocks: Vec<Block> = blocks.into_iter().skip(fresh_from).collect();
        let batches: Vec<Vec<Arc<SealedBatch>>> = batches.into_iter().skip(fresh_from).collect();
        let Some(last) = blocks.last().cloned() else {
            return Ok(None);
        };
        let done: Vec<Hash> = batches
            .iter()
            .flatten()
            .flat_map(|b| b.tx_hashes().iter().copied())
            .filter(|h| intake.is_pending(h))
            .collect();
        let store = self.store.clone();
        let (blocks, certificate, batches, done, written) =
            tokio::task::spawn_blocking(move || {
                let written = store
                    .commit(&blocks, &certificate, &batches, &done)
                    .and_then(|indexed| Ok((indexed, store.batches_from()?)));
                (blocks, certificate, batches, done, written)
            })
            .await
            .context("the commit write stopped")?;
        let (indexed, full_data_from) = written.context("writing a commit")?;
        // Every pending transaction these blocks order is final now, a copy of one
        // finalized earlier too (it is not indexed again, and must not stay pending).
        for hash in &done {
            intake.finalized(hash);
        }
        self.full_data_from = full_data_from;
        metrics::gauge!("synod_da_full_data_from_height").set(full_data_from as f64);
        let subscribers = self.finalized.receiver_count() > 0;
        let count = blocks.len();
        let mut digests = Vec::new();
        for (i, (block, fresh)) in blocks.into_iter().zip(indexed).enumerate() {
            digests.extend_from_slice(&block.payload);
            let mut txs = Vec::with_capacity(if subscribers { fresh.len() } else { 0 });
            if subscribers {
                for (hash, location) in &fresh {
                    let tx = &batches[i][location.batch as usize].batch().txs
                        [location.position as usize];
                    txs.push(FinalTx {
                        hash: *hash,
                        namespace: tx.namespace,
                        location: *location,
                        payload: tx.payload.clone(),
                    });
                }
            }
            self.txs += fresh.len() as u64;
            metrics::counter!("synod_sequencer_finalized_transactions_total")
                .increment(fresh.len() as u64);
            if subscribers {
                let certificate = (i + 1 == count).then(|| certificate.clone());
                self.finalized.send(Arc::new(Finalized {
                    block,
                    certificate,
                    txs,
                    json: Default::default(),
                }));
            }
        }
        self.blocks += count as u64;
        self.height = last.header.height;
        self.hash = last.hash();
        self.certified.send_replace(Some(Certified {
            header: last.header.clone(),
            certificate: certificate.clone(),
        }));
        // The finality fields of the status are current at every commit (the rest once
        // a second): `/status` and `synod_getTips` report finality as it happens.
        let (height, hash, txs, total) = (self.height, self.hash, self.txs, self.blocks);
        self.status.send_modify(|s| {
            s.proposed_height = s.proposed_height.max(height);
            s.finalized_height = height;
            s.finalized_hash = hash.to_hex();
            s.finalized_txs = txs;
            s.finalized_blocks = total;
            s.network_height = s.network_height.max(height);
        });
        metrics::gauge!("synod_consensus_finalized_height").set(height as f64);
        Ok(Some(Committed {
            last,
            certificate,
            blocks: count,
            digests,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_store::testing::temp_dir;
    use synod_types::testing::chain;
    use synod_types::wire::Limits;
    use synod_types::{Batch, Header, QuorumCert, Tx};

    fn batch(n: u8) -> Arc<SealedBatch> {
        Arc::new(SealedBatch::new(Batch {
            author: 0,
            epoch: 0,
            seq: u64::from(n),
            txs: vec![Tx {
                namespace: 1,
                payload: vec![n; 8],
            }],
        }))
    }

    #[tokio::test]
    async fn a_commit_moves_the_tip_finalizes_pending_transactions_and_streams_them() {
        let dir = temp_dir("chain");
        let store = Arc::new(Store::open(&dir, Limits::new(4)).unwrap());
        let genesis = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, 4));
        let (mut c, outputs) = Chain::open(store, &genesis).unwrap();
        assert_eq!((c.height(), c.hash()), (0, genesis.hash()));
        let mut stream = outputs.finalized.subscribe();
        let blocks = chain(2);
        let (one, two) = (batch(1), batch(2));
        let mut intake = Intake::new(10, 64);
        let pending = one.batch().txs[0].hash();
        intake.track(pending);
        let cert = FinalityCert(QuorumCert::genesis(0, blocks[1].hash(), 4).0);
        let committed = c
            .commit(
                blocks.clone(),
                cert.clone(),
                vec![vec![one], vec![two]],
                &mut intake,
            )
            .await
            .unwrap()
            .expect("new blocks");
        assert_eq!(committed.blocks, 2);
        assert_eq!(committed.last, blocks[1]);
        assert_eq!((c.height(), c.hash()), (2, blocks[1].hash()));
        assert_eq!(c.finalized_txs(), 2);
        // The transaction acknowledged here is final: no longer pending, nor forwarded.
        assert!(!intake.is_pending(&pending));
        // Subscribers get each block, the certificate with the last one only.
        let first = stream.recv().await.unwrap();
        let second = stream.recv().await.unwrap();
        assert_eq!(first.block, blocks[0]);
        assert!(first.certificate.is_none());
        assert_eq!(second.certificate.as_ref(), Some(&cert));
        assert_eq!(second.txs.len(), 1);
        // The publisher's input and the status follow.
        let certified = outputs.certified.borrow().clone().unwrap();
        assert_eq!(certified.header, blocks[1].header);
        assert_eq!(outputs.status.borrow().finalized_height, 2);
        assert!(outputs.status.borrow().proposed_height >= 2);
        // The same commit again (an overlapping range) changes nothing.
        let again = c
            .commit(
                blocks,
                cert,
                vec![vec![batch(1)], vec![batch(2)]],
                &mut intake,
            )
            .await
            .unwrap();
        assert!(again.is_none());
        assert_eq!(c.finalized_blocks(), 2);
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_copy_of_a_final_transaction_ordered_again_is_no_longer_pending() {
        let dir = temp_dir("chain-copy");
        let store = Arc::new(Store::open(&dir, Limits::new(4)).unwrap());
        let genesis = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, 4));
        let (mut c, _outputs) = Chain::open(store, &genesis).unwrap();
        let blocks = chain(2);
        let cert = |b: &Block| FinalityCert(QuorumCert::genesis(0, b.hash(), 4).0);
        let mut intake = Intake::new(10, 64);
        let tx = batch(1).batch().txs[0].hash();
        c.commit(
            vec![blocks[0].clone()],
            cert(&blocks[0]),
            vec![vec![batch(1)]],
            &mut intake,
        )
        .await
        .unwrap();
        // Acknowledged again while its first copy was not final here yet, and ordered
        // again in a batch of another sequence number.
        intake.track(tx);
        let copy = Arc::new(SealedBatch::new(Batch {
            seq: 9,
            ..batch(1).batch().clone()
        }));
        c.commit(
            vec![blocks[1].clone()],
            cert(&blocks[1]),
            vec![vec![copy]],
            &mut intake,
        )
        .await
        .unwrap()
        .expect("a new block");
        // Indexed once, and not left pending (it would be forwarded again for good).
        assert_eq!(c.finalized_txs(), 1);
        assert!(!intake.is_pending(&tx));
        assert_eq!(intake.pending(), 0);
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
