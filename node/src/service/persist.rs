//! The persistence thread: the synced writes (safety state, acknowledged transactions)
//! off the node task, so an fsync never stalls message handling.
//!
//! Jobs are taken in order and everything queued is written together: one synced write
//! for all pending transactions, and only the newest safety state (it supersedes the
//! older ones, and acknowledging its sequence number acknowledges theirs). The node
//! learns that a safety state is durable from [`Persisted::Safety`], the newest
//! acknowledgement on a watch channel (one slot: the thread never waits on the node); a
//! client learns that its transactions are accepted only after their write is synced.

use std::sync::Arc;

use synod_consensus::SafetyState;
use synod_sequencer::Rejected;
use synod_types::{Hash, Tx};
use tokio::sync::{mpsc, oneshot, watch};

use crate::protection::Protection;
use crate::storage::Store;

/// Jobs queued at most; the node waits when the thread is this far behind.
pub const QUEUE: usize = 1_024;

/// A write for the thread.
#[derive(Debug)]
pub enum Job {
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

/// Starts the thread.
pub fn spawn(
    store: Arc<Store>,
    protection: Arc<Protection>,
) -> (mpsc::Sender<Job>, watch::Receiver<Persisted>) {
    let (jobs, mut rx) = mpsc::channel::<Job>(QUEUE);
    let (done, results) = watch::channel(Persisted::Nothing);
    std::thread::Builder::new()
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
    (jobs, results)
}

fn write(
    store: &Store,
    protection: &Protection,
    batch: Vec<Job>,
    done: &watch::Sender<Persisted>,
) -> Result<(), String> {
    let mut safety: Option<(u64, SafetyState)> = None;
    let mut txs = Vec::new();
    let mut replies = Vec::new();
    for job in batch {
        match job {
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
