//! Following the L1 StakeTable's epoch snapshots.
//!
//! The committee of epoch `e` is the StakeTable's snapshot of that epoch. The reader
//! scans the table's `EpochStarted` events in bounded block ranges up to the L1 head
//! minus a confirmation depth, reads each new snapshot's members, and publishes the
//! snapshots it has read. Every node applies the same rule to the same L1 history, so
//! every node reads the same committees; the consensus hand-over (`docs/protocol.md`
//! §11) then agrees on the block at which the next one takes over.
//!
//! L1 errors never stop the reader: it retries with exponential backoff, so it outlives
//! an L1 node's restart. It does not talk to L1 itself: a [`StakeTableSource`] does
//! (the bridge client in the node, a scripted one in tests).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use synod_types::committee::MAX_COMMITTEE_SIZE;
use synod_types::NextEpoch;
use tokio::sync::watch;

/// Where snapshots come from.
pub trait StakeTableSource: Send + Sync {
    /// The source's error.
    type Error: std::fmt::Display + Send;

    /// The L1 head block number.
    fn block_number(&self) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// The `EpochStarted` events of blocks `from..=to`: `(epoch, snapshot block)`.
    fn epochs_started(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<(u64, u64)>, Self::Error>> + Send;

    /// The snapshot of `epoch`: its block and members in committee order.
    fn snapshot(&self, epoch: u64) -> impl Future<Output = Result<NextEpoch, Self::Error>> + Send;
}

/// How the reader follows L1.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// Blocks an event must be below the head before it counts.
    pub confirmations: u64,
    /// Most blocks asked for in one event query.
    pub max_range: u64,
    /// Pause between polls.
    pub poll: Duration,
    /// Longest pause after consecutive errors.
    pub max_backoff: Duration,
    /// Snapshots kept (the newest ones).
    pub keep: usize,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        ReaderConfig {
            confirmations: 12,
            max_range: 2_000,
            poll: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            keep: 8,
        }
    }
}

/// The snapshots read so far, the newest last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Epochs {
    recent: BTreeMap<u64, NextEpoch>,
}

impl Epochs {
    /// The newest snapshot read.
    pub fn latest(&self) -> Option<&NextEpoch> {
        self.recent.values().next_back()
    }

    /// The snapshot of `epoch`, if it is among the recent ones.
    pub fn get(&self, epoch: u64) -> Option<&NextEpoch> {
        self.recent.get(&epoch)
    }
}

impl FromIterator<NextEpoch> for Epochs {
    /// Snapshots known by other means (tests, the simulator), keyed by their epoch.
    fn from_iter<I: IntoIterator<Item = NextEpoch>>(records: I) -> Epochs {
        Epochs {
            recent: records.into_iter().map(|r| (r.epoch, r)).collect(),
        }
    }
}

/// Why a poll stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E: std::fmt::Display> {
    /// L1 did not answer or answered an error.
    #[error("L1: {0}")]
    Source(E),
    /// The snapshot read does not belong to its event's block: L1 reorganized between
    /// the two reads. Read again on the next poll.
    #[error("epoch {epoch}: the event says L1 block {event}, the snapshot says {snapshot}")]
    Moved {
        /// The epoch.
        epoch: u64,
        /// Block of the event.
        event: u64,
        /// Block the snapshot records.
        snapshot: u64,
    },
}

/// Follows the snapshots of one StakeTable.
#[derive(Debug)]
pub struct Reader<S> {
    source: S,
    cfg: ReaderConfig,
    next_block: u64,
    epochs: Epochs,
}

impl<S: StakeTableSource> Reader<S> {
    /// A reader that scans from L1 block `from_block` for epochs after `after_epoch`.
    pub fn new(source: S, cfg: ReaderConfig, from_block: u64, after_epoch: u64) -> Reader<S> {
        let mut epochs = Epochs::default();
        // Placeholder for "nothing newer than this"; never published as a snapshot.
        epochs.recent.insert(
            after_epoch,
            NextEpoch {
                epoch: after_epoch,
                l1_block: from_block,
                members: Vec::new(),
            },
        );
        Reader {
            source,
            cfg,
            next_block: from_block,
            epochs,
        }
    }

    /// What was read so far, without the starting point.
    pub fn epochs(&self) -> Epochs {
        let mut epochs = self.epochs.clone();
        epochs.recent.retain(|_, e| !e.members.is_empty());
        epochs
    }

    /// One pass up to the confirmed head; whether a newer snapshot was read.
    pub async fn poll(&mut self) -> Result<bool, ReadError<S::Error>> {
        let head = self
            .source
            .block_number()
            .await
            .map_err(ReadError::Source)?;
        let confirmed = head.saturating_sub(self.cfg.confirmations);
        let mut changed = false;
        while self.next_block <= confirmed {
            let to = confirmed.min(
                self.next_block
                    .saturating_add(self.cfg.max_range.max(1) - 1),
            );
            let events = self
                .source
                .epochs_started(self.next_block, to)
                .await
                .map_err(ReadError::Source)?;
            let newest = self.epochs.latest().map_or(0, |e| e.epoch);
            // Only the newest usable epoch matters: a network that fell behind L1 skips
            // the epochs it missed and hands over to the current committee.
            let mut fresh: Vec<(u64, u64)> =
                events.into_iter().filter(|(e, _)| *e > newest).collect();
            fresh.sort_unstable_by(|a, b| b.cmp(a));
            for (epoch, block) in fresh {
                let snapshot = self
                    .source
                    .snapshot(epoch)
                    .await
                    .map_err(ReadError::Source)?;
                if snapshot.l1_block != block {
                    return Err(ReadError::Moved {
                        epoch,
                        event: block,
                        snapshot: snapshot.l1_block,
                    });
                }
                if snapshot.members.is_empty() || snapshot.members.len() > MAX_COMMITTEE_SIZE {
                    // No committee can run with it; an older one may.
                    tracing::warn!(
                        epoch,
                        members = snapshot.members.len(),
                        "the StakeTable's snapshot cannot be a committee; not taking it"
                    );
                    continue;
                }
                tracing::info!(
                    epoch,
                    l1_block = block,
                    members = snapshot.members.len(),
                    "read the StakeTable's snapshot of a new epoch"
                );
                self.epochs.recent.insert(epoch, snapshot);
                while self.epochs.recent.len() > self.cfg.keep.max(1) {
                    self.epochs.recent.pop_first();
                }
                changed = true;
                break;
            }
            self.next_block = to + 1;
        }
        Ok(changed)
    }

    /// The pause after `failures` consecutive errors.
    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.min(16);
        self.cfg
            .poll
            .saturating_mul(factor)
            .min(self.cfg.max_backoff)
    }

    /// Polls until every receiver of `out` is gone, publishing each newer snapshot.
    pub async fn run(mut self, out: watch::Sender<Epochs>) {
        let mut failures = 0u32;
        while !out.is_closed() {
            let polled = self.poll().await;
            // A poll that failed part way may still have read a snapshot: publish it.
            let epochs = self.epochs();
            out.send_if_modified(|current| {
                let changed = *current != epochs;
                if changed {
                    *current = epochs;
                }
                changed
            });
            let pause = match polled {
                Ok(_) => {
                    if failures > 0 {
                        tracing::info!("L1 answers again; following the StakeTable");
                    }
                    failures = 0;
                    self.cfg.poll
                }
                Err(e) => {
                    failures += 1;
                    let pause = self.backoff(failures);
                    tracing::warn!(error = %e, retry_in = ?pause, "reading the StakeTable");
                    pause
                }
            };
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use synod_types::{Member, PublicKey};

    use super::*;

    /// A scripted L1: a head, events by block, snapshots by epoch, and failures to inject.
    #[derive(Default)]
    struct Script {
        head: u64,
        events: Vec<(u64, u64)>,
        snapshots: BTreeMap<u64, NextEpoch>,
        fail: u32,
        ranges: Vec<(u64, u64)>,
    }

    #[derive(Clone, Default)]
    struct Fake(Arc<Mutex<Script>>);

    impl Fake {
        fn epoch(&self, epoch: u64, block: u64, members: usize) {
            let mut s = self.0.lock().unwrap();
            s.events.push((epoch, block));
            s.snapshots.insert(
                epoch,
                NextEpoch {
                    epoch,
                    l1_block: block,
                    members: (0..members)
                        .map(|i| Member {
                            public_key: PublicKey([i as u8 + 1; 48]),
                            stake: 32,
                        })
                        .collect(),
                },
            );
        }

        fn step(&self) -> Result<(), String> {
            let mut s = self.0.lock().unwrap();
            if s.fail > 0 {
                s.fail -= 1;
                return Err("connection refused".into());
            }
            Ok(())
        }
    }

    impl StakeTableSource for Fake {
        type Error = String;

        async fn block_number(&self) -> Result<u64, String> {
            self.step()?;
            Ok(self.0.lock().unwrap().head)
        }

        async fn epochs_started(&self, from: u64, to: u64) -> Result<Vec<(u64, u64)>, String> {
            self.step()?;
            let mut s = self.0.lock().unwrap();
            s.ranges.push((from, to));
            Ok(s.events
                .iter()
                .copied()
                .filter(|(_, b)| (from..=to).contains(b))
                .collect())
        }

        async fn snapshot(&self, epoch: u64) -> Result<NextEpoch, String> {
            self.step()?;
            let s = self.0.lock().unwrap();
            s.snapshots
                .get(&epoch)
                .cloned()
                .ok_or("no such epoch".into())
        }
    }

    fn config() -> ReaderConfig {
        ReaderConfig {
            confirmations: 3,
            max_range: 10,
            poll: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            keep: 2,
        }
    }

    #[tokio::test]
    async fn snapshots_count_only_once_confirmed_and_ranges_stay_bounded() {
        let fake = Fake::default();
        fake.epoch(1, 5, 4);
        fake.epoch(2, 35, 5);
        fake.0.lock().unwrap().head = 37;
        let mut reader = Reader::new(fake.clone(), config(), 0, 0);
        assert!(reader.poll().await.unwrap());
        assert_eq!(
            reader.epochs().latest().map(|e| e.epoch),
            Some(1),
            "35 > 37 - 3"
        );
        let ranges = fake.0.lock().unwrap().ranges.clone();
        assert_eq!(ranges, vec![(0, 9), (10, 19), (20, 29), (30, 34)]);
        assert!(
            !reader.poll().await.unwrap(),
            "nothing new below the confirmed head"
        );
        fake.0.lock().unwrap().head = 38;
        assert!(reader.poll().await.unwrap());
        let latest = reader.epochs().latest().cloned().unwrap();
        assert_eq!(
            (latest.epoch, latest.l1_block, latest.members.len()),
            (2, 35, 5)
        );
        assert_eq!(reader.epochs().get(1).map(|e| e.members.len()), Some(4));
    }

    #[tokio::test]
    async fn a_network_behind_l1_goes_to_the_newest_epoch_and_skips_empty_committees() {
        let fake = Fake::default();
        fake.epoch(3, 12, 4);
        fake.epoch(4, 14, 6);
        fake.epoch(5, 16, 0);
        fake.0.lock().unwrap().head = 100;
        let mut reader = Reader::new(fake.clone(), config(), 10, 2);
        assert!(reader.poll().await.unwrap());
        let epochs = reader.epochs();
        assert_eq!(
            epochs.latest().map(|e| e.epoch),
            Some(4),
            "epoch 5 has no members, 4 has"
        );
        assert_eq!(
            epochs.get(3),
            None,
            "epochs skipped in one range are not read"
        );
        assert_eq!(epochs.get(2), None, "the starting point is not a snapshot");
    }

    #[tokio::test]
    async fn the_reader_outlives_l1_errors_and_publishes_what_it_reads() {
        let fake = Fake::default();
        fake.epoch(1, 5, 4);
        {
            let mut s = fake.0.lock().unwrap();
            s.head = 20;
            s.fail = 5;
        }
        let reader = Reader::new(fake.clone(), config(), 0, 0);
        assert_eq!(reader.backoff(1), Duration::from_millis(2));
        assert_eq!(reader.backoff(9), Duration::from_millis(4), "capped");
        let (tx, mut rx) = watch::channel(Epochs::default());
        let task = tokio::spawn(reader.run(tx));
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .expect("published despite the errors")
            .unwrap();
        assert_eq!(rx.borrow().latest().map(|e| e.epoch), Some(1));
        assert_eq!(fake.0.lock().unwrap().fail, 0, "every failure was retried");
        drop(rx);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the reader stops when nobody listens")
            .unwrap();
    }

    #[tokio::test]
    async fn a_snapshot_that_moved_is_read_again() {
        let fake = Fake::default();
        fake.epoch(1, 5, 4);
        fake.0.lock().unwrap().head = 20;
        fake.0
            .lock()
            .unwrap()
            .snapshots
            .get_mut(&1)
            .unwrap()
            .l1_block = 6;
        let mut reader = Reader::new(fake.clone(), config(), 0, 0);
        assert!(matches!(
            reader.poll().await,
            Err(ReadError::Moved { epoch: 1, .. })
        ));
        fake.0
            .lock()
            .unwrap()
            .snapshots
            .get_mut(&1)
            .unwrap()
            .l1_block = 5;
        assert!(reader.poll().await.unwrap(), "the range is scanned again");
    }
}
