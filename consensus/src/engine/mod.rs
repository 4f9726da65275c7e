//! The consensus engine: a deterministic state machine, inputs in, actions out.
//!
//! ```text
//!   Input::Message / TimerFired / PayloadReady / PayloadChecked / SafetyPersisted
//!                                   │
//!                                   ▼
//!   ┌──────────────── Engine ─────────────────────────────────────────────┐
//!   │ pacemaker (view, timer, backoff)   safety state (persisted first)  │
//!   │ block tree (above committed)       vote / timeout collectors       │
//!   └──────────────────────────────────────────────────────────────────────┘
//!                                   │
//!                                   ▼
//!   Action::PersistSafety → (ack) → Send / Broadcast,  ScheduleTimer, PersistBlock,
//!   RequestPayload, CheckPayload, Commit{blocks, finality certificate},
//!   Evidence, Penalize
//! ```
//!
//! The driver (the node on tokio, or the simulator on a virtual clock) executes the
//! actions in order. Messages that carry a signature are held back until the driver
//! acknowledges, with `Input::SafetyPersisted`, that the safety state recording them is
//! durable (`docs/protocol.md` §3, rule S5).

mod api;
mod certs;
mod collect;
mod epoch;
mod pacemaker;
mod receive;
mod safety;
mod tree;

#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use synod_types::{
    Block, Committee, FinalityCert, Hash, Header, Message, NextEpoch, Phase, Proposal, QuorumCert,
    SecretKey, SignerBitmap, TimeoutCert, Vote,
};

pub use api::{Action, Config, Input, Offense, PeerId, Recipient, Recovery, Status};
pub use safety::{safe_to_timeout, safe_to_vote, SafetyState};

use collect::{TimeoutCollector, VoteCollector};

use tree::BlockTree;

/// A signed message waiting for its safety state to be durable.
#[derive(Debug)]
enum Held {
    Broadcast(Message),
    Vote(Vote),
}

/// The consensus engine of one node.
#[derive(Debug)]
pub struct Engine {
    cfg: Config,
    committee: Arc<Committee>,
    key: Option<SecretKey>,
    me: Option<u32>,
    genesis_hash: Hash,
    safety: SafetyState,
    persist_seq: u64,
    persisted_seq: u64,
    held: Vec<(u64, Held)>,
    view: u64,
    consecutive_timeouts: u32,
    tree: BlockTree,
    high_tc: Option<TimeoutCert>,
    high_fc: Option<FinalityCert>,
    votes: VoteCollector,
    timeouts: TimeoutCollector,
    payload_requested: u64,
    awaiting_check: BTreeMap<Hash, Option<TimeoutCert>>,
    waiting_parent: Vec<(PeerId, Proposal)>,
    /// Sync requests in flight: attempts so far and the view of the last attempt.
    inflight: BTreeMap<Hash, (u32, u64)>,
    seen_proposals: BTreeMap<(u64, u32), (Hash, synod_types::Signature)>,
    reported: BTreeSet<(u32, u64, Phase)>,
    verified: HashMap<CertKey, SignerBitmap>,
    leaders: Cell<[(u64, u32); LEADER_CACHE]>,
    out: Vec<Action>,
    /// Why the last vote this validator considered was not signed, if it was not: its
    /// view and the reason (for status displays; 0 when the view is not known).
    no_vote: Option<(u64, &'static str)>,
}

pub(super) const VERIFIED_CACHE: usize = 4_096;
/// Attempts (each from another member) before a sync request is given up.
pub(super) const MAX_SYNC_ATTEMPTS: u32 = 8;
const LEADER_CACHE: usize = 8;

/// `(phase, epoch, view, subject, aggregate signature)` of a verified certificate; the
/// signer bitmap is compared on lookup.
pub(super) type CertKey = (u8, u64, u64, Hash, synod_types::Signature);
const EVIDENCE_WINDOW: u64 = 64;

impl Engine {
    /// A new engine. `key` is the validator's signing key (`None` for a follower);
    /// `genesis` is the genesis block; `recovery` the state persisted before a restart.
    pub fn new(
        cfg: Config,
        committee: Arc<Committee>,
        key: Option<SecretKey>,
        genesis: Block,
        recovery: Option<Recovery>,
    ) -> Engine {
        let genesis_hash = genesis.hash();
        let genesis_qc = QuorumCert::genesis(committee.epoch(), genesis_hash, committee.size());
        let me = key
            .as_ref()
            .and_then(|k| committee.index_of(&k.public_key()));
        let (safety, committed, high_fc, blocks) = match recovery {
            Some(r) => {
                let (root, fc) = match r.committed {
                    Some((block, fc)) => (block, Some(fc)),
                    None => (genesis, None),
                };
                // The previous epoch's certificate of the root is not this committee's.
                let fc = fc.filter(|fc| fc.0.epoch == committee.epoch());
                (r.safety, root, fc, r.blocks)
            }
            None => (
                SafetyState::initial(committee.epoch(), genesis_qc),
                genesis,
                None,
                Vec::new(),
            ),
        };
        let mut tree = BlockTree::new(committed, cfg.max_tree_blocks);
        for block in blocks {
            tree.insert(block);
        }
        // A timeout certificate restored from the safety state justifies its next view.
        let high_tc = safety
            .high_tc
            .clone()
            .filter(|tc| tc.epoch == committee.epoch());
        let view = (safety.high_qc.view() + 1)
            .max(safety.highest_vote_view)
            .max(high_tc.as_ref().map_or(0, |tc| tc.view + 1))
            .max(1);
        Engine {
            cfg,
            committee,
            key,
            me,
            genesis_hash,
            safety,
            persist_seq: 0,
            persisted_seq: 0,
            held: Vec::new(),
            view,
            consecutive_timeouts: 0,
            tree,
            high_tc,
            high_fc,
            votes: VoteCollector::default(),
            timeouts: TimeoutCollector::default(),
            payload_requested: 0,
            awaiting_check: BTreeMap::new(),
            waiting_parent: Vec::new(),
            inflight: BTreeMap::new(),
            seen_proposals: BTreeMap::new(),
            reported: BTreeSet::new(),
            verified: HashMap::new(),
            leaders: Cell::new([(u64::MAX, 0); LEADER_CACHE]),
            out: Vec::new(),
            no_vote: None,
        }
    }

    /// Starts the engine: arms the view timer and re-sends what was signed in the
    /// current view before a restart (the same messages, never new ones).
    pub fn start(&mut self) -> Vec<Action> {
        self.schedule_view_timer();
        let view = self.view;
        // Everything below was persisted before the crash (S5): the same messages again.
        let proposal = self
            .safety
            .last_proposal
            .clone()
            .filter(|p| p.block.header.view == view);
        if let Some(p) = proposal {
            self.accept_block(p.block.clone());
            self.out.push(Action::Broadcast(Message::Proposal(p)));
        }
        if let Some(v) = self.safety.last_vote.clone().filter(|v| v.view == view) {
            self.deliver_vote(v);
        }
        if let Some(t) = self.safety.last_timeout.clone().filter(|t| t.view == view) {
            self.collect_timeout(None, t.clone());
            self.out.push(Action::Broadcast(Message::Timeout(t)));
        }
        self.try_propose();
        std::mem::take(&mut self.out)
    }

    /// Handles one input and returns the actions to execute, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        match input {
            Input::Message { from, message } => self.on_message(from, message),
            Input::TimerFired { view } => self.on_timer(view),
            Input::PayloadReady {
                view,
                payload,
                da_commitment,
                timestamp_ms,
                next_epoch,
            } => self.on_payload_ready(view, payload, da_commitment, timestamp_ms, next_epoch),
            Input::PayloadChecked { block_hash, valid } => {
                match self.awaiting_check.remove(&block_hash) {
                    Some(tc) if valid => self.try_vote(&block_hash, tc.as_ref()),
                    Some(_) => self.no_vote = Some((0, "payload check failed")),
                    // A check answered twice, or for a view left since.
                    None => {}
                }
            }
            Input::SafetyPersisted { seq } => self.on_persisted(seq),
        }
        std::mem::take(&mut self.out)
    }

    /// The node learned outside the engine, by syncing finalized ranges by height, that
    /// `block` is final with `fc`: the engine moves its committed root there (dropping
    /// what it held below) and goes on from it. Does nothing if `block` is not above the
    /// committed root or `fc` does not certify it. Safety state is kept as it is.
    pub fn advance_committed(&mut self, block: Block, fc: FinalityCert) -> Vec<Action> {
        if block.header.height > self.tree.committed().header.height
            && fc.is_for(&block)
            && self.verify_cert(Phase::Commit, &fc.0)
        {
            let root = block.hash();
            let committed = block.header.height;
            self.tree.commit(block);
            self.waiting_parent
                .retain(|(_, p)| p.block.header.height > committed);
            self.inflight.remove(&root);
            if self.high_fc.as_ref().is_none_or(|h| h.view() < fc.view()) {
                self.high_fc = Some(fc);
            }
            self.release_waiting(root);
            self.try_commit(None);
            self.try_propose();
        }
        std::mem::take(&mut self.out)
    }

    /// The current status.
    pub fn status(&self) -> Status {
        Status {
            view: self.view,
            high_qc_view: self.safety.high_qc.view(),
            committed_height: self.tree.committed().header.height,
            committed_hash: self.tree.committed().hash(),
            consecutive_timeouts: self.consecutive_timeouts,
            blocks_held: self.tree.len(),
            highest_vote_view: self.safety.highest_vote_view,
            last_proposal_view: self.safety.last_proposal_view(),
            high_tc_view: self.high_tc.as_ref().map(|tc| tc.view),
            has_high_qc_block: self.tree.contains(&self.safety.high_qc.block_hash()),
            unsent: self.held.len(),
            syncing: self.inflight.len(),
            waiting_parent: self.waiting_parent.len(),
            awaiting_check: self.awaiting_check.len(),
            no_vote: self.no_vote,
        }
    }

    /// The blocks held above the committed one (restored from [`Recovery::blocks`] or
    /// received), in no particular order.
    pub fn held_blocks(&self) -> impl Iterator<Item = &Block> {
        let committed = self.tree.committed().header.height;
        self.tree
            .blocks()
            .filter(move |b| b.header.height > committed)
    }

    /// The committee.
    pub fn committee(&self) -> &Arc<Committee> {
        &self.committee
    }

    /// This node's committee index, if it is a member.
    pub fn index(&self) -> Option<u32> {
        self.me
    }

    /// The safety state as last handed to the driver (or restored).
    pub fn safety(&self) -> &SafetyState {
        &self.safety
    }

    // ----- persistence gating (rule S5) -----

    fn persist(&mut self) -> u64 {
        self.persist_seq += 1;
        self.safety.high_tc.clone_from(&self.high_tc);
        self.out.push(Action::PersistSafety {
            seq: self.persist_seq,
            state: self.safety.clone(),
        });
        self.persist_seq
    }

    /// S5: releases the messages whose safety state is now durable.
    fn on_persisted(&mut self, seq: u64) {
        // An acknowledgement for a state not handed out yet releases nothing early.
        self.persisted_seq = self.persisted_seq.max(seq.min(self.persist_seq));
        let ready: Vec<Held> = {
            let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
                .into_iter()
                .partition(|(s, _)| *s <= self.persisted_seq);
            self.held = later;
            ready.into_iter().map(|(_, h)| h).collect()
        };
        for held in ready {
            match held {
                Held::Broadcast(message) => {
                    if let Message::Timeout(t) = &message {
                        self.collect_timeout(None, t.clone());
                    }
                    self.out.push(Action::Broadcast(message));
                }
                Held::Vote(vote) => self.deliver_vote(vote),
            }
        }
    }

    /// Sends a vote to the next view's leader, or collects it if that is this node.
    fn deliver_vote(&mut self, vote: Vote) {
        let leader = self.leader(vote.view + 1);
        if Some(leader) == self.me {
            self.collect_vote(None, vote);
        } else {
            self.out.push(Action::Send {
                to: Recipient::Validator(leader),
                message: Message::Vote(vote),
            });
        }
    }

    // ----- leader (docs/protocol.md §5) -----

    /// The leader of `view`, memoized: it is asked for on every message.
    fn leader(&self, view: u64) -> u32 {
        let mut cache = self.leaders.get();
        let index = view as usize % LEADER_CACHE;
        if cache[index].0 != view {
            cache[index] = (view, self.committee.leader(view));
            self.leaders.set(cache);
        }
        cache[index].1
    }

    fn is_leader(&self, view: u64) -> bool {
        self.me.is_some() && self.me == Some(self.leader(view))
    }

    fn tc_for(&self, view: u64) -> Option<&TimeoutCert> {
        self.high_tc.as_ref().filter(|tc| tc.view + 1 == view)
    }

    fn try_propose(&mut self) {
        let view = self.view;
        // S4: one proposal per view.
        if !self.is_leader(view)
            || self.safety.last_proposal_view() >= view
            || self.payload_requested >= view
        {
            return;
        }
        let high_qc = &self.safety.high_qc;
        // S2.
        if !safety::justified_to_propose(view, high_qc, self.tc_for(view)) {
            return;
        }
        let parent_hash = high_qc.block_hash();
        let Some(parent) = self.tree.get(&parent_hash) else {
            self.request_block(parent_hash, None);
            return;
        };
        let height = parent.header.height + 1;
        let empty = match self.epoch_end(&parent_hash) {
            Ok(end) => end.is_some(),
            Err(missing) => return self.request_block(missing, None),
        };
        self.payload_requested = view;
        self.out.push(Action::RequestPayload {
            view,
            parent: parent_hash,
            height,
            empty,
        });
    }

    fn on_payload_ready(
        &mut self,
        view: u64,
        payload: Vec<Hash>,
        da_commitment: Hash,
        timestamp_ms: u64,
        next_epoch: Option<NextEpoch>,
    ) {
        if view != self.view || !self.is_leader(view) || self.safety.last_proposal_view() >= view {
            return;
        }
        if !self.block_shape_ok(
            &self.safety.high_qc.block_hash(),
            &payload,
            next_epoch.as_ref(),
        ) {
            // Prepared for another parent than the one it must extend now; ask again.
            self.payload_requested = 0;
            return;
        }
        let justify = self.safety.high_qc.clone();
        let Some(parent) = self.tree.get(&justify.block_hash()) else {
            // The payload was asked for on another parent; ask again once it is known.
            self.payload_requested = 0;
            return;
        };
        if parent.header.height < self.tree.committed().header.height {
            self.payload_requested = 0;
            return;
        }
        let (Some(me), Some(key)) = (self.me, self.key.as_ref()) else {
            return;
        };
        let header = Header {
            parent: justify.block_hash(),
            height: parent.header.height + 1,
            view,
            epoch: self.committee.epoch(),
            payload_digest: synod_types::block_payload_digest(&payload, next_epoch.as_ref()),
            da_commitment,
            timestamp_ms: timestamp_ms.max(parent.header.timestamp_ms),
            proposer: me,
        };
        let timeout_cert = if justify.view() + 1 == view {
            None
        } else {
            self.tc_for(view).cloned()
        };
        let block = Block::ending_epoch(header, justify, payload, next_epoch);
        let digest =
            self.cfg
                .domain
                .digest(self.committee.epoch(), view, Phase::Proposal, &block.hash());
        let proposal = Proposal {
            block,
            timeout_cert,
            commit: self.high_fc.clone(),
            signature: key.sign(&digest),
        };
        self.safety.last_proposal = Some(proposal.clone());
        let seq = self.persist();
        self.held
            .push((seq, Held::Broadcast(Message::Proposal(proposal.clone()))));
        // The leader votes for its own block like everyone else.
        self.accept_block(proposal.block.clone());
        self.try_vote(&proposal.block.hash(), proposal.timeout_cert.as_ref());
    }

    // ----- voting (docs/protocol.md §3, rules S1–S2) -----

    fn try_vote(&mut self, block_hash: &Hash, tc: Option<&TimeoutCert>) {
        let Some(block) = self.tree.get(block_hash) else {
            self.no_vote = Some((0, "block not held"));
            return;
        };
        let view = block.header.view;
        // S1, S2.
        if view != self.view {
            self.no_vote = Some((view, "not the current view"));
            return;
        }
        if !safe_to_vote(&self.safety, view, &block.justify, tc) {
            self.no_vote = Some((view, "not safe to vote (S1, S2)"));
            return;
        }
        // H1, H2; a gap below the parent is fetched, and the vote waits for it.
        let end = match self.epoch_end(&block.header.parent) {
            Ok(end) => end.map(Block::hash),
            Err(missing) => {
                self.no_vote = Some((view, "a block below the parent is missing"));
                self.request_block(missing, None);
                return;
            }
        };
        if !self.block_shape_ok(
            &block.header.parent,
            &block.payload,
            block.next_epoch.as_ref(),
        ) {
            self.no_vote = Some((view, "block shape (H1, H2)"));
            return;
        }
        let (Some(me), Some(key)) = (self.me, self.key.as_ref()) else {
            return;
        };
        let epoch = self.committee.epoch();
        let domain = self.cfg.domain;
        let justify = &block.justify;
        // Commit signature (§4): only when the parent is in the previous view. It names
        // the epoch's last block when the parent is it or above it, at the parent's view
        // (H3): no block above the last one is ever final.
        let target = end.unwrap_or(justify.block_hash());
        let commit =
            (justify.view() + 1 == view && justify.view() > 0).then(|| synod_types::CommitVote {
                view: justify.view(),
                block_hash: target,
                signature: key.sign(&domain.digest(epoch, justify.view(), Phase::Commit, &target)),
            });
        let vote = Vote {
            epoch,
            view,
            block_hash: *block_hash,
            voter: me,
            signature: key.sign(&domain.digest(epoch, view, Phase::Vote, block_hash)),
            commit,
        };
        // S1; S5: the vote is held until this state is durable.
        self.no_vote = None;
        self.safety.highest_vote_view = view;
        self.safety.last_vote = Some(vote.clone());
        let seq = self.persist();
        self.held.push((seq, Held::Vote(vote)));
    }
}
