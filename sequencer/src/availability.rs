//! The payload-availability tracker: which batches the blocks in flight need, which of
//! them are being fetched, which are ordered by blocks not final yet, and which commits
//! wait for their batches.
//!
//! ```text
//!  proposal ─▶ check ──all here──▶ Ready (vote)
//!                 └─missing──▶ fetch ─▶ arrived(digest) ─▶ checks completed (vote)
//!  block stored ─▶ ordered  ── excluded from the next payload until final
//!  Commit ─▶ queue_commit ─▶ next_commit: Ready (write it) │ Missing (fetch)
//!                 a peer lacks them ─▶ unserved ─▶ start_rebuilds (from shards) ─▶ arrived
//!  finalized(height) ─▶ ordered and checks at or below it forgotten
//! ```
//!
//! It owns no batch and reads no disk: the caller says which digests are at hand (the
//! batch pool or the store) through a closure, and moves the batches itself. Every
//! collection here is bounded by the blocks in flight, which the engine bounds; checks
//! and hand-over waits have their own caps ([`MAX_CHECKS`], [`MAX_RECORD_WAITS`]).

use std::collections::{HashMap, HashSet, VecDeque};

use synod_types::{Block, FinalityCert, Hash};

/// Payload checks waiting for batches, at most; the lowest block makes room (a newer
/// proposal is the one a vote can still help).
pub const MAX_CHECKS: usize = 1_024;
/// Hand-over blocks whose check waits for the StakeTable reader, at most.
pub const MAX_RECORD_WAITS: usize = 16;

/// The outcome of a payload check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Every batch is at hand: vote.
    Ready,
    /// These batches are missing; fetch them (the check completes through
    /// [`Availability::arrived`]).
    Waiting(Vec<Hash>),
}

/// What the next queued commit needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextCommit {
    /// No commit is queued.
    None,
    /// Its batches are all at hand: take it with [`Availability::pop_commit`].
    Ready,
    /// These batches are missing.
    Missing(Vec<Hash>),
}

/// The tracker.
#[derive(Debug, Default)]
pub struct Availability {
    /// Checks waiting for batches: block hash → (block, digests still missing).
    checks: HashMap<Hash, (Block, HashSet<Hash>)>,
    /// Digests ordered by blocks that are not final yet: block hash → (height, digests).
    ordered: HashMap<Hash, (u64, Vec<Hash>)>,
    /// Commits waiting for their batches, in order.
    commits: VecDeque<(Vec<Block>, FinalityCert)>,
    /// Digests asked of a peer and not answered yet.
    fetching: HashSet<Hash>,
    /// Hand-over blocks whose check waits for the StakeTable reader, oldest first.
    record_waits: VecDeque<Block>,
    /// Digests of queued commits that a peer was asked for and did not hold.
    unserved: HashSet<Hash>,
    /// Queued commit blocks whose data is being rebuilt from shards.
    rebuilding: HashSet<Hash>,
}

impl Availability {
    /// A tracker that knows `blocks` as ordered and not final (restored at a restart, so
    /// their batches are not proposed again).
    pub fn new<'a>(blocks: impl IntoIterator<Item = &'a Block>) -> Availability {
        let mut tracker = Availability::default();
        for block in blocks {
            tracker.ordered(block);
        }
        tracker
    }

    /// A block was stored (proposed or certified, not final): its batches are ordered.
    pub fn ordered(&mut self, block: &Block) {
        self.ordered
            .insert(block.hash(), (block.header.height, block.payload.clone()));
    }

    /// Every digest ordered by a block that is not final yet: a leader leaves them out.
    pub fn ordered_digests(&self) -> HashSet<Hash> {
        self.ordered
            .values()
            .flat_map(|(_, d)| d.iter().copied())
            .collect()
    }

    /// Checks that every batch of `block` is at hand (`have`); otherwise the block waits
    /// for the missing ones, which the caller fetches.
    pub fn check(&mut self, block: Block, have: impl Fn(&Hash) -> bool) -> Check {
        let missing: HashSet<Hash> = block.payload.iter().filter(|d| !have(d)).copied().collect();
        if missing.is_empty() {
            return Check::Ready;
        }
        if self.checks.len() >= MAX_CHECKS {
            let lowest = self
                .checks
                .iter()
                .min_by_key(|(_, (b, _))| b.header.height)
                .map(|(h, _)| *h);
            if let Some(lowest) = lowest {
                self.checks.remove(&lowest);
            }
        }
        let mut list: Vec<Hash> = missing.iter().copied().collect();
        list.sort();
        self.checks.insert(block.hash(), (block, missing));
        Check::Waiting(list)
    }

    /// A batch arrived: returns the blocks whose check it completes (each once).
    pub fn arrived(&mut self, digest: &Hash) -> Vec<Block> {
        self.fetching.remove(digest);
        self.unserved.remove(digest);
        let complete: Vec<Hash> = self
            .checks
            .iter_mut()
            .filter_map(|(hash, (_, missing))| {
                missing.remove(digest);
                missing.is_empty().then_some(*hash)
            })
            .collect();
        complete
            .iter()
            .filter_map(|hash| self.checks.remove(hash).map(|(block, _)| block))
            .collect()
    }

    /// Of `digests`, those not already being fetched, at most `max`; they count as being
    /// fetched until [`Availability::fetch_ended`].
    pub fn start_fetch(
        &mut self,
        digests: impl IntoIterator<Item = Hash>,
        max: usize,
    ) -> Vec<Hash> {
        digests
            .into_iter()
            .filter(|d| self.fetching.insert(*d))
            .take(max)
            .collect()
    }

    /// A request for `digests` ended (answered or failed): what did not arrive may be
    /// asked again.
    pub fn fetch_ended(&mut self, digests: &[Hash]) {
        for d in digests {
            self.fetching.remove(d);
        }
    }

    /// Batches the checks still miss and no request is fetching, plus those of the next
    /// commit that are not at hand (`have`).
    pub fn unfetched(&self, have: impl Fn(&Hash) -> bool) -> Vec<Hash> {
        let mut missing: Vec<Hash> = self
            .checks
            .values()
            .flat_map(|(_, m)| m.iter().copied())
            .collect();
        if let NextCommit::Missing(more) = self.next_commit(have) {
            missing.extend(more);
        }
        missing.sort();
        missing.dedup();
        missing.retain(|d| !self.fetching.contains(d));
        missing
    }

    /// Queues a commit; it is written once its batches are at hand, after those queued
    /// before it.
    pub fn queue_commit(&mut self, blocks: Vec<Block>, certificate: FinalityCert) {
        self.commits.push_back((blocks, certificate));
    }

    /// Whether a commit is queued.
    pub fn has_commits(&self) -> bool {
        !self.commits.is_empty()
    }

    /// The last block queued for commit.
    pub fn last_queued(&self) -> Option<&Block> {
        self.commits.back().and_then(|(blocks, _)| blocks.last())
    }

    /// What the next queued commit needs.
    pub fn next_commit(&self, have: impl Fn(&Hash) -> bool) -> NextCommit {
        let Some((blocks, _)) = self.commits.front() else {
            return NextCommit::None;
        };
        let missing: Vec<Hash> = blocks
            .iter()
            .flat_map(|b| &b.payload)
            .filter(|d| !have(d))
            .copied()
            .collect();
        if missing.is_empty() {
            NextCommit::Ready
        } else {
            NextCommit::Missing(missing)
        }
    }

    /// Takes the next queued commit.
    pub fn pop_commit(&mut self) -> Option<(Vec<Block>, FinalityCert)> {
        let commit = self.commits.pop_front()?;
        for block in &commit.0 {
            for d in &block.payload {
                self.unserved.remove(d);
            }
        }
        Some(commit)
    }

    /// A peer answered a request without these batches. Those a queued commit needs may
    /// be held by no peer any more (pruned past `da.retention-blocks`, or their holders
    /// gone): their blocks' data is rebuilt from the validators' shards instead
    /// ([`Availability::start_rebuilds`]).
    pub fn unserved(&mut self, digests: impl IntoIterator<Item = Hash>) {
        let mut digests = digests.into_iter().peekable();
        if digests.peek().is_none() {
            return;
        }
        let queued: HashSet<Hash> = self
            .commits
            .iter()
            .flat_map(|(blocks, _)| blocks.iter().flat_map(|b| b.payload.iter().copied()))
            .collect();
        self.unserved.extend(digests.filter(|d| queued.contains(d)));
    }

    /// Queued commit blocks, oldest first, that order a batch no peer served (and not at
    /// hand) and whose data is not being rebuilt yet, so that at most `max` rebuilds run.
    /// Each counts as being rebuilt until [`Availability::rebuild_ended`].
    pub fn start_rebuilds(&mut self, have: impl Fn(&Hash) -> bool, max: usize) -> Vec<Block> {
        let mut started = Vec::new();
        if self.unserved.is_empty() {
            return started;
        }
        for block in self.commits.iter().flat_map(|(blocks, _)| blocks) {
            if self.rebuilding.len() >= max {
                break;
            }
            let needs = block
                .payload
                .iter()
                .any(|d| self.unserved.contains(d) && !have(d));
            if needs && self.rebuilding.insert(block.hash()) {
                started.push(block.clone());
            }
        }
        started
    }

    /// The rebuild of `block`'s data ended (its batches arrived through
    /// [`Availability::arrived`], or it failed and may start again).
    pub fn rebuild_ended(&mut self, block: &Hash) {
        self.rebuilding.remove(block);
    }

    /// Blocks up to `height` are final: what they ordered is no longer excluded, and
    /// their checks are moot.
    pub fn finalized(&mut self, height: u64) {
        self.ordered.retain(|_, (h, _)| *h > height);
        self.checks.retain(|_, (b, _)| b.header.height > height);
    }

    /// A hand-over block's check waits for the StakeTable reader; the oldest waiting
    /// one makes room past [`MAX_RECORD_WAITS`].
    pub fn wait_for_record(&mut self, block: Block) {
        if self.record_waits.len() >= MAX_RECORD_WAITS {
            self.record_waits.pop_front();
        }
        self.record_waits.push_back(block);
    }

    /// The blocks waiting for the reader, to be checked again; those at or below
    /// `finalized`, or of another epoch than `epoch`, are dropped.
    pub fn take_record_waits(&mut self, finalized: u64, epoch: u64) -> Vec<Block> {
        std::mem::take(&mut self.record_waits)
            .into_iter()
            .filter(|b| b.header.height > finalized && b.header.epoch == epoch)
            .collect()
    }

    /// The committee changed: checks and waits of the old epoch's proposals are moot.
    pub fn handed_over(&mut self) {
        self.checks.clear();
        self.record_waits.clear();
    }

    /// Payload checks waiting for batches.
    pub fn waiting_checks(&self) -> usize {
        self.checks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::{Header, QuorumCert};

    fn digest(n: u8) -> Hash {
        Hash([n; 32])
    }

    fn block(height: u64, payload: &[u8]) -> Block {
        let mut header = Header::genesis(1);
        header.height = height;
        header.view = height;
        header.epoch = 1;
        let payload: Vec<Hash> = payload.iter().map(|n| digest(*n)).collect();
        header.payload_digest = synod_types::tx::payload_digest(&payload);
        Block::with_payload(header, QuorumCert::genesis(1, Hash::ZERO, 4), payload)
    }

    fn certificate() -> FinalityCert {
        FinalityCert(QuorumCert::genesis(1, Hash::ZERO, 4).0)
    }

    fn have(present: &[u8]) -> impl Fn(&Hash) -> bool + '_ {
        move |d| present.iter().any(|n| digest(*n) == *d)
    }

    #[test]
    fn a_block_whose_batches_are_here_is_ready_at_once() {
        let mut t = Availability::default();
        assert_eq!(t.check(block(1, &[1, 2]), have(&[1, 2, 3])), Check::Ready);
        assert_eq!(t.check(block(2, &[]), have(&[])), Check::Ready);
        assert_eq!(t.waiting_checks(), 0);
    }

    #[test]
    fn a_check_completes_once_its_last_missing_batch_arrives() {
        let mut t = Availability::default();
        let b = block(1, &[1, 2, 3]);
        assert_eq!(
            t.check(b.clone(), have(&[2])),
            Check::Waiting(vec![digest(1), digest(3)])
        );
        assert!(t.arrived(&digest(1)).is_empty());
        // A batch the block does not need changes nothing.
        assert!(t.arrived(&digest(9)).is_empty());
        assert_eq!(t.arrived(&digest(3)), vec![b]);
        // Completed once: a second copy completes nothing more.
        assert!(t.arrived(&digest(3)).is_empty());
        assert_eq!(t.waiting_checks(), 0);
    }

    #[test]
    fn one_batch_completes_every_check_that_waits_for_it() {
        let mut t = Availability::default();
        let (a, b) = (block(1, &[7]), block(2, &[7, 8]));
        t.check(a.clone(), have(&[]));
        t.check(b.clone(), have(&[8]));
        let mut ready: Vec<Hash> = t.arrived(&digest(7)).iter().map(Block::hash).collect();
        ready.sort();
        let mut expected = vec![a.hash(), b.hash()];
        expected.sort();
        assert_eq!(ready, expected);
    }

    #[test]
    fn a_digest_is_fetched_by_one_request_at_a_time_until_that_request_ends() {
        let mut t = Availability::default();
        let asked = t.start_fetch([digest(1), digest(2), digest(3)], 2);
        assert_eq!(asked, vec![digest(1), digest(2)]);
        // Already asked: not again; the third was never taken, so it is asked now.
        assert_eq!(
            t.start_fetch([digest(1), digest(2), digest(3)], 8),
            vec![digest(3)]
        );
        t.fetch_ended(&asked);
        assert_eq!(t.start_fetch([digest(1)], 8), vec![digest(1)]);
        // An arrival ends its fetch too.
        t.arrived(&digest(1));
        assert_eq!(t.start_fetch([digest(1)], 8), vec![digest(1)]);
    }

    #[test]
    fn what_is_missing_and_not_being_fetched_is_asked_again() {
        let mut t = Availability::default();
        t.check(block(1, &[1, 2]), have(&[]));
        t.queue_commit(vec![block(1, &[1, 2]), block(2, &[3])], certificate());
        // Everything missing, nothing being fetched.
        assert_eq!(
            t.unfetched(have(&[])),
            vec![digest(1), digest(2), digest(3)]
        );
        t.start_fetch([digest(1), digest(3)], 8);
        assert_eq!(t.unfetched(have(&[])), vec![digest(2)]);
        // The request failed: asked again; batch 2 arrived meanwhile, so not it.
        t.fetch_ended(&[digest(1), digest(3)]);
        t.arrived(&digest(2));
        assert_eq!(t.unfetched(have(&[2])), vec![digest(1), digest(3)]);
    }

    #[test]
    fn commits_are_written_in_order_once_their_batches_are_here() {
        let mut t = Availability::default();
        assert_eq!(t.next_commit(have(&[])), NextCommit::None);
        let (first, second) = (block(1, &[1]), block(2, &[2]));
        t.queue_commit(vec![first.clone()], certificate());
        t.queue_commit(vec![second.clone()], certificate());
        assert_eq!(t.last_queued(), Some(&second));
        // The second's batch is here, the first's is not: nothing may be written.
        assert_eq!(
            t.next_commit(have(&[2])),
            NextCommit::Missing(vec![digest(1)])
        );
        assert_eq!(t.next_commit(have(&[1, 2])), NextCommit::Ready);
        assert_eq!(t.pop_commit().unwrap().0, vec![first]);
        assert_eq!(t.next_commit(have(&[1, 2])), NextCommit::Ready);
        assert_eq!(t.pop_commit().unwrap().0, vec![second]);
        assert!(!t.has_commits());
    }

    #[test]
    fn blocks_whose_batches_no_peer_served_are_rebuilt_two_at_a_time_until_they_arrive() {
        let mut t = Availability::default();
        let (one, two, three) = (block(1, &[1]), block(2, &[2, 3]), block(3, &[4]));
        t.queue_commit(vec![one.clone(), two.clone()], certificate());
        t.queue_commit(vec![three.clone()], certificate());
        // Nothing unserved yet: batches are fetched, not rebuilt.
        assert!(t.start_rebuilds(have(&[]), 2).is_empty());
        // A digest no queued commit orders is not kept.
        t.unserved([digest(1), digest(3), digest(4), digest(9)]);
        let started: Vec<Hash> = t
            .start_rebuilds(have(&[]), 2)
            .iter()
            .map(Block::hash)
            .collect();
        assert_eq!(started, vec![one.hash(), two.hash()]);
        // Two running: no third until one ends.
        assert!(t.start_rebuilds(have(&[]), 2).is_empty());
        // The first block's batch arrived and its rebuild ended: the third block starts.
        t.arrived(&digest(1));
        t.rebuild_ended(&one.hash());
        let started: Vec<Hash> = t
            .start_rebuilds(have(&[1]), 2)
            .iter()
            .map(Block::hash)
            .collect();
        assert_eq!(started, vec![three.hash()]);
        // A failed rebuild starts again; one whose batches are all here does not.
        t.rebuild_ended(&two.hash());
        t.rebuild_ended(&three.hash());
        let started: Vec<Hash> = t
            .start_rebuilds(have(&[1, 4]), 2)
            .iter()
            .map(Block::hash)
            .collect();
        assert_eq!(started, vec![two.hash()]);
        // Written commits forget what they needed.
        t.rebuild_ended(&two.hash());
        t.pop_commit();
        t.pop_commit();
        t.unserved([digest(4)]);
        assert!(t.start_rebuilds(have(&[]), 2).is_empty());
        assert!(t.unserved.is_empty());
    }

    #[test]
    fn batches_of_unfinal_blocks_are_excluded_until_final() {
        let (one, two) = (block(1, &[1, 2]), block(2, &[3]));
        let mut t = Availability::new([&one]);
        t.ordered(&two);
        let all: HashSet<Hash> = [1, 2, 3].iter().map(|n| digest(*n)).collect();
        assert_eq!(t.ordered_digests(), all);
        t.finalized(1);
        assert_eq!(t.ordered_digests(), HashSet::from([digest(3)]));
        t.finalized(2);
        assert!(t.ordered_digests().is_empty());
    }

    #[test]
    fn finality_and_hand_overs_drop_moot_checks() {
        let mut t = Availability::default();
        t.check(block(1, &[1]), have(&[]));
        t.check(block(3, &[2]), have(&[]));
        t.finalized(2);
        assert_eq!(t.waiting_checks(), 1);
        assert_eq!(t.unfetched(have(&[])), vec![digest(2)]);
        t.handed_over();
        assert_eq!(t.waiting_checks(), 0);
        assert!(t.arrived(&digest(2)).is_empty());
    }

    #[test]
    fn checks_are_bounded_and_the_lowest_block_makes_room() {
        let mut t = Availability::default();
        for h in 0..MAX_CHECKS as u64 + 1 {
            t.check(block(h + 1, &[1, 2]), have(&[]));
        }
        assert_eq!(t.waiting_checks(), MAX_CHECKS);
        // Block 1 was dropped: the batch completes every other check, not its.
        t.arrived(&digest(1));
        let ready = t.arrived(&digest(2));
        assert_eq!(ready.len(), MAX_CHECKS);
        assert!(!ready.contains(&block(1, &[1, 2])));
    }

    #[test]
    fn record_waits_keep_the_newest_and_drop_what_is_final_or_of_another_epoch() {
        let mut t = Availability::default();
        for h in 1..=MAX_RECORD_WAITS as u64 + 2 {
            t.wait_for_record(block(h, &[]));
        }
        let heights =
            |blocks: Vec<Block>| blocks.iter().map(|b| b.header.height).collect::<Vec<_>>();
        // Heights 1 and 2 made room; 3 is final by now; all are of epoch 1.
        let waits = t.take_record_waits(3, 1);
        assert_eq!(
            heights(waits),
            (4..=MAX_RECORD_WAITS as u64 + 2).collect::<Vec<_>>()
        );
        assert!(t.take_record_waits(0, 1).is_empty());
        t.wait_for_record(block(9, &[]));
        assert!(t.take_record_waits(0, 2).is_empty());
    }
}
