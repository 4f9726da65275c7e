//! The persistence thread: the engine's writes (blocks, batches about to be proposed or
//! voted for, safety state) and acknowledged transactions off the node task, so neither
//! a RocksDB write nor an fsync stalls message handling.
//!
//! Jobs are taken in order and everything queued is written together: the blocks, then
//! one synced write for all batches (which also syncs the blocks' log), before the
//! safety state (the vote that state records attests them:
//! protocol §3, S5), only the newest safety state (it supersedes the older ones, and
//! acknowledging its sequence number acknowledges theirs), and one synced write for all
//! pending transactions. The node
//! learns that a safety state is durable from [`Persisted::Safety`], the newest
//! acknowledgement on a watch channel (one slot: the thread never waits on the node); a
//! client learns that its transactions are accepted only after their write is synced.

use std::sync::Arc;

use synod_consensus::SafetyState;
use synod_da::Kept;
use synod_sequencer::Rejected;
use synod_types::{Hash, SealedBatch, Tx};
use tokio::sync::{mpsc, oneshot, watch};

use synod_keys::protection::Protection;
use synod_store::Store;

/// Jobs queued at most; the node waits when the thread is this far behind.
pub const QUEUE: usize = 1_024;

/// A write for the thread.
#[derive(Debug)]
pub enum Job {
    /// Store a block the engine holds (not final yet), before any safety state queued
    /// after it.
    Block(synod_types::Block),
    /// Make these batches, and the shards this validator keeps of a block it is about
    /// to vote for, durable before any safety state queued after them.
    Data {
        /// Batches of the block (or of the payload about to be proposed).
        batches: Vec<Arc<SealedBatch>>,
        /// This validator's shards of the block's data, with the block's height.
        kept: Option<(u64, Kept)>,
    },
    /// Make this safety state durable, then report `seq`.
    Safety {
        /// The engine's sequence number.
        seq: u64,
        /// The state.
        state: SafetyState,
    },
    /// Make these accepted transactions durable, then send `results` to the client.
    Accepted {
        /// The accepted transactions.
        txs: Vec<(Hash, Tx)>,
        /// The answer for every transaction of the request.
        results: Vec<Result<Hash, Rejected>>,
        /// Where the answer goes.
        reply: oneshot::Sender<Vec<Result<Hash, Rejected>>>,
    },
}

/// What the thread reports back (the newest report replaces the older ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persisted {
    /// Nothing written yet.
    Nothing,
    /// Safety states up to `seq` of the engine of `epoch` are durable.
    Safety {
        /// The epoch of the engine that asked.
        epoch: u64,
        /// Its sequence number.
        seq: u64,
    },
    /// A write failed; going on would be unsafe.
    Failed(String),
}

/// Starts the thread. It ends, and the databases it holds close, once every job sender
/// is dropped and the queue is written; join it before the process exits (RocksDB aborts
/// if a database closes while the process tears down its statics).
pub fn spawn(
    store: Arc<Store>,
    protection: Arc<Protection>,
) -> (
    mpsc::Sender<Job>,
    watch::Receiver<Persisted>,
    std::thread::JoinHandle<()>,
) {
    let (jobs, mut rx) = mpsc::channel::<Job>(QUEUE);
    let (done, results) = watch::channel(Persisted::Nothing);
    let thread = std::thread::Builder::new()
        .name("synod-persist".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                if let Err(e) = write(&store, &protection, batch, &done) {
                    done.send_replace(Persisted::Failed(e));
                    return;
                }
            }
        })
        .expect("the persistence thread starts");
    (jobs, results, thread)
}

fn write(
    store: &Store,
    protection: &Protection,
    batch: Vec<Job>,
    done: &watch::Sender<Persisted>,
) -> Result<(), String> {
    let mut safety: Option<(u64, SafetyState)> = None;
    let mut blocks = Vec::new();
    let mut batches = Vec::new();
    let mut kept = Vec::new();
    let mut txs = Vec::new();
    let mut replies = Vec::new();
    for job in batch {
        match job {
            Job::Block(block) => blocks.push(block),
            Job::Data {
                batches: more,
                kept: k,
            } => {
                batches.extend(more);
                kept.extend(k);
            }
            Job::Safety { seq, state } => safety = Some((seq, state)),
            Job::Accepted {
                txs: accepted,
                results,
                reply,
            } => {
                txs.extend(accepted);
                replies.push((results, reply));
            }
        }
    }
    for block in &blocks {
        store
            .put_block(block)
            .map_err(|e| format!("storing a block: {e}"))?;
    }
    if !batches.is_empty() || !kept.is_empty() {
        store
            .put_data(&batches, &kept)
            .map_err(|e| format!("storing block data before a vote: {e}"))?;
    }
    if let Some((seq, state)) = safety {
        // S5: synced before the engine releases the messages it records.
        protection
            .save(&state)
            .map_err(|e| format!("persisting the safety state: {e}"))?;
        done.send_replace(Persisted::Safety {
            epoch: state.epoch,
            seq,
        });
    }
    if !txs.is_empty() {
        let refs: Vec<(Hash, &Tx)> = txs.iter().map(|(h, t)| (*h, t)).collect();
        store
            .put_pending(&refs)
            .map_err(|e| format!("recording accepted transactions: {e}"))?;
    }
    for (results, reply) in replies {
        let _ = reply.send(results);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_store::testing::temp_dir;
    use synod_types::wire::Limits;
    use synod_types::{Batch, QuorumCert};

    #[tokio::test]
    async fn batches_queued_before_a_safety_state_are_on_disk_when_it_is_acknowledged() {
        let dir = temp_dir("persist-order");
        let store = Arc::new(Store::open(&dir.join("chain"), Limits::new(4)).unwrap());
        let protection = Arc::new(Protection::open(&dir.join("protection")).unwrap());
        let (jobs, mut persisted, thread) = spawn(store.clone(), protection);
        let batches: Vec<Arc<SealedBatch>> = (0..64)
            .map(|seq| {
                Arc::new(SealedBatch::new(Batch {
                    author: 0,
                    epoch: 0,
                    seq,
                    txs: vec![Tx {
                        namespace: 1,
                        payload: vec![seq as u8; 4_096],
                    }],
                }))
            })
            .collect();
        jobs.send(Job::Data {
            batches: batches.clone(),
            kept: None,
        })
        .await
        .unwrap();
        let state = SafetyState::initial(0, QuorumCert::genesis(0, Hash::ZERO, 4));
        jobs.send(Job::Safety { seq: 7, state }).await.unwrap();
        while *persisted.borrow_and_update() != (Persisted::Safety { epoch: 0, seq: 7 }) {
            persisted.changed().await.unwrap();
        }
        // The vote this state records may leave now: every batch it attests is readable.
        for sealed in &batches {
            assert_eq!(
                store.batch(&sealed.digest()).unwrap().as_ref(),
                Some(sealed.batch())
            );
        }
        drop((jobs, store));
        thread.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
