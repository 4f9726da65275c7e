//! The invariants checked on every simulated run (`docs/protocol.md` §10):
//!
//! - **agreement**: no two honest nodes finalize different blocks at one height;
//! - **ancestry**: each node's finalized blocks form one hash chain from genesis;
//! - **certificate validity**: every finality certificate and every justify of a
//!   finalized block verifies with more than two thirds of the stake, under the
//!   protocol's quorum rule even when the engines were run with a weaker one;
//! - **no honest double-sign**: no honest key signs two subjects for one
//!   `(epoch, view, phase)`, across crashes and restarts;
//! - **no false accusation**: no evidence or penalty against an honest node;
//! - **progress**: after the last fault heals, a block from a bounded number of views
//!   later is finalized by every honest node (checked by the runner);
//! - **data availability**: every batch of a finalized block is held by an honest node
//!   (checked by the runner, which sees the nodes' memory and disks).

use std::collections::{BTreeMap, HashMap, HashSet};

use synod_types::{Block, Committee, Domain, FinalityCert, Hash, Message, Phase, TimeoutMsg};

/// Collected violations and the canonical chain.
#[derive(Debug)]
pub struct Checker {
    committee: Committee,
    domain: Domain,
    canonical: BTreeMap<u64, Hash>,
    canonical_views: BTreeMap<u64, u64>,
    verified_blocks: HashSet<Hash>,
    verified_fcs: HashSet<(Hash, [u8; 96])>,
    last_committed: HashMap<usize, (u64, Hash)>,
    signed: HashMap<(u32, u64, Phase), Hash>,
    /// Everything that went wrong, in order.
    pub violations: Vec<String>,
}

impl Checker {
    /// A checker judging against `committee` (with the protocol's quorum rule).
    pub fn new(committee: Committee, domain: Domain, genesis: Hash) -> Checker {
        let mut canonical = BTreeMap::new();
        canonical.insert(0, genesis);
        Checker {
            committee,
            domain,
            canonical,
            canonical_views: BTreeMap::new(),
            verified_blocks: HashSet::new(),
            verified_fcs: HashSet::new(),
            last_committed: HashMap::new(),
            signed: HashMap::new(),
            violations: Vec::new(),
        }
    }

    fn violation(&mut self, text: String) {
        if self.violations.len() < 16 {
            self.violations.push(text);
        }
    }

    /// Height of the canonical chain.
    pub fn canonical_height(&self) -> u64 {
        self.canonical.keys().next_back().copied().unwrap_or(0)
    }

    /// The lowest view above `view` of any finalized block.
    pub fn first_final_view_after(&self, view: u64) -> Option<u64> {
        self.canonical_views
            .values()
            .copied()
            .filter(|v| *v > view)
            .min()
    }

    /// An honest node in `slot` committed `blocks` with `fc`.
    pub fn on_commit(&mut self, slot: usize, blocks: &[Block], fc: &FinalityCert) {
        let Some(last) = blocks.last() else { return };
        // Only an epoch's last block may be final at a later view (H3).
        let later_view_ok = last.next_epoch.is_some() || fc.at_block_view(&last.header);
        if !fc.is_for(last) || !later_view_ok {
            self.violation(format!(
                "slot {slot}: finality certificate is not for the last committed block"
            ));
        }
        if self
            .verified_fcs
            .insert((fc.block_hash(), fc.0.signature.0))
        {
            if let Err(e) = fc.0.verify(&self.committee, &self.domain, Phase::Commit) {
                self.violation(format!(
                    "slot {slot}: invalid finality certificate at height {}: {e}",
                    last.header.height
                ));
            }
        }
        let genesis = self.canonical[&0];
        let (mut height, mut parent) = self
            .last_committed
            .get(&slot)
            .copied()
            .unwrap_or((0, genesis));
        for block in blocks {
            let h = block.header.height;
            if block.header.parent != parent || h != height + 1 {
                self.violation(format!(
                    "slot {slot}: ancestry broken at height {h}: parent {:?} but last committed {:?} at {height}",
                    block.header.parent, parent
                ));
            }
            match self.canonical.get(&h) {
                Some(hash) if *hash != block.hash() => self.violation(format!(
                    "agreement: slot {slot} finalized {:?} at height {h}, another honest node finalized {:?}",
                    block.hash(),
                    hash
                )),
                Some(_) => {}
                None => {
                    self.canonical.insert(h, block.hash());
                    self.canonical_views.insert(h, block.header.view);
                }
            }
            if block.justify.view() > 0 && self.verified_blocks.insert(block.hash()) {
                if let Err(e) = block
                    .justify
                    .0
                    .verify(&self.committee, &self.domain, Phase::Vote)
                {
                    self.violation(format!(
                        "slot {slot}: block at height {h} has an invalid justify: {e}"
                    ));
                }
            }
            height = h;
            parent = block.hash();
        }
        self.last_committed.insert(slot, (height, parent));
    }

    /// An honest node signed and sent `message` as committee member `member`.
    pub fn on_signed(&mut self, member: u32, message: &Message) {
        let mut record = |view: u64, phase: Phase, subject: Hash| {
            match self.signed.insert((member, view, phase), subject) {
                Some(earlier) if earlier != subject => Some(format!(
                    "honest double-sign: member {member} signed {phase:?} at view {view} for {earlier:?} and {subject:?}"
                )),
                _ => None,
            }
        };
        let found = match message {
            Message::Proposal(p) => record(p.block.header.view, Phase::Proposal, p.block.hash()),
            Message::Vote(v) => {
                let commit = v
                    .commit
                    .as_ref()
                    .and_then(|c| record(c.view, Phase::Commit, c.block_hash));
                record(v.view, Phase::Vote, v.block_hash).or(commit)
            }
            Message::Timeout(t) => record(
                t.view,
                Phase::Timeout,
                TimeoutMsg::subject(t.high_qc.view()),
            ),
            _ => None,
        };
        if let Some(v) = found {
            self.violation(v);
        }
    }

    /// Records a failure found by the runner.
    pub fn fail(&mut self, text: String) {
        self.violation(text);
    }
}
