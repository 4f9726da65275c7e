//! Byzantine behaviours, applied to what an honest engine sends.

use rand::seq::SliceRandom;
use rand::Rng;
use synod_types::{keccak256, Block, Message, Phase, QuorumCert, TimeoutMsg, Vote};

use super::Sim;
use crate::sim::scenario::Behavior;

impl Sim {
    /// Sends a node's signed message to `targets` as its behaviour has it: honest
    /// nodes as is, Byzantine ones silent, equivocating, replaying, forging, withholding
    /// commit signatures or corrupting signatures.
    pub(super) fn emit(&mut self, from: usize, targets: Vec<usize>, message: Message) {
        let behavior = self.slots[from].behavior;
        if matches!(behavior, Behavior::Honest | Behavior::Observer) {
            self.checker.on_signed(self.slots[from].member, &message);
        }
        match behavior {
            Behavior::Silent => {}
            Behavior::Equivocator => self.equivocate(from, targets, message),
            Behavior::DoubleVoter => {
                if let Message::Vote(vote) = &message {
                    let mut other = vote.clone();
                    other.block_hash = keccak256(&[&vote.block_hash.0[..], b"double"].concat());
                    other.commit = None;
                    other.signature = self.sign(from, vote.view, Phase::Vote, &other.block_hash);
                    self.equivocations += targets.iter().filter(|t| self.honest(**t)).count();
                    for t in &targets {
                        self.send_raw(from, *t, Message::Vote(other.clone()));
                    }
                }
                for t in targets {
                    self.send_raw(from, t, message.clone());
                }
            }
            Behavior::Replayer => {
                for t in targets {
                    self.send_raw(from, t, message.clone());
                }
                if !self.slots[from].log.is_empty() && self.rng.gen_bool(0.5) {
                    let i = self.rng.gen_range(0..self.slots[from].log.len());
                    let old = self.slots[from].log[i].clone();
                    let to = self.rng.gen_range(0..self.slots.len());
                    self.send_raw(from, to, old);
                }
            }
            Behavior::Forger => {
                for t in &targets {
                    self.send_raw(from, *t, message.clone());
                }
                self.forge(from);
            }
            Behavior::Withholder => {
                let mut message = message;
                if let Message::Vote(v) = &mut message {
                    v.commit = None;
                }
                for t in targets {
                    self.send_raw(from, t, message.clone());
                }
            }
            Behavior::BadSigner => {
                let corrupted = corrupt(message);
                for t in targets {
                    self.send_raw(from, t, corrupted.clone());
                }
            }
            Behavior::Honest
            | Behavior::Twin
            | Behavior::Amnesiac
            | Behavior::Observer
            | Behavior::CorruptCommitment => {
                for t in targets {
                    self.send_raw(from, t, message.clone());
                }
            }
        }
    }

    /// Votes and timeouts in the names of random honest members, with junk signatures:
    /// they must neither displace the real ones nor get their members penalized.
    pub(super) fn forge(&mut self, from: usize) {
        let Some(view) = self.slots[from].engine.as_ref().map(|e| e.status().view) else {
            return;
        };
        let honest: Vec<u32> = (0..self.committee.size() as u32)
            .filter(|m| self.honest_member(*m))
            .collect();
        let Some(&victim) = honest.get(self.rng.gen_range(0..honest.len().max(1))) else {
            return;
        };
        let mut junk = [0u8; 96];
        self.rng.fill(&mut junk[..]);
        let leader = self.committee.leader(view + 1);
        let vote = Vote {
            epoch: 0,
            view,
            block_hash: keccak256(&junk[..32]),
            voter: victim,
            signature: synod_types::Signature(junk),
            commit: None,
        };
        let high_qc = QuorumCert::genesis(0, self.genesis.hash(), self.committee.size());
        let timeout = TimeoutMsg {
            epoch: 0,
            view,
            high_qc,
            last_tc: None,
            sender: victim,
            signature: synod_types::Signature(junk),
        };
        for t in 0..self.slots.len() {
            if t == from {
                continue;
            }
            if self.slots[t].member == leader {
                self.send_raw(from, t, Message::Vote(vote.clone()));
            }
            self.send_raw(from, t, Message::Timeout(timeout.clone()));
        }
    }

    /// Relays what a forger received, tampered with where no signature covers it.
    pub(super) fn tamper_and_relay(&mut self, forger: usize, message: &Message) {
        let tampered = match message {
            Message::Proposal(p) => {
                let mut stripped = p.clone();
                stripped.timeout_cert = None;
                stripped.commit = None;
                let mut reordered = p.clone();
                reordered.block.payload.push(keccak256(b"smuggled batch"));
                vec![Message::Proposal(stripped), Message::Proposal(reordered)]
            }
            Message::Timeout(t) if t.high_qc.view() > 0 => {
                let mut t = t.clone();
                t.high_qc.0.signature.0[7] ^= 0x40;
                t.last_tc = None;
                vec![Message::Timeout(t)]
            }
            Message::Vote(v) if v.commit.is_some() => {
                let mut v = v.clone();
                v.commit = None;
                vec![Message::Vote(v)]
            }
            _ => return,
        };
        for message in tampered {
            for t in 0..self.slots.len() {
                if t != forger {
                    self.send_raw(forger, t, message.clone());
                }
            }
        }
    }

    /// Sends one proposal to half the targets and a conflicting one to the other half;
    /// one target gets both, so equivocation evidence can be produced.
    pub(super) fn equivocate(&mut self, from: usize, mut targets: Vec<usize>, message: Message) {
        let Message::Proposal(proposal) = &message else {
            for t in targets {
                self.send_raw(from, t, message.clone());
            }
            return;
        };
        let mut header = proposal.block.header.clone();
        // The second block orders one more batch, disseminated like any other, so that
        // honest nodes can vote for either.
        let extra = self.new_batch(from);
        let mut payload = proposal.block.payload.clone();
        payload.push(extra.digest());
        self.gossip_batch(from, extra);
        header.payload_digest = synod_types::tx::payload_digest(&payload);
        header.da_commitment = self.commitment_of(from, &payload);
        let block = Block::with_payload(header, proposal.block.justify.clone(), payload);
        let mut other = proposal.clone();
        other.signature = self.sign(from, block.header.view, Phase::Proposal, &block.hash());
        other.block = block;
        targets.shuffle(&mut self.rng);
        let half = targets.len() / 2;
        for (i, t) in targets.iter().enumerate() {
            let m = if i < half {
                message.clone()
            } else {
                Message::Proposal(other.clone())
            };
            self.send_raw(from, *t, m);
        }
        if let Some(t) = targets.first() {
            if self.honest(*t) {
                self.equivocations += 1;
            }
            self.send_raw(from, *t, Message::Proposal(other));
        }
    }
}

/// Flips a bit of every signature in the message.
pub(super) fn corrupt(message: Message) -> Message {
    match message {
        Message::Proposal(mut p) => {
            p.signature.0[5] ^= 0x10;
            Message::Proposal(p)
        }
        Message::Vote(mut v) => {
            v.signature.0[5] ^= 0x10;
            if let Some(c) = v.commit.as_mut() {
                c.signature.0[5] ^= 0x10;
            }
            Message::Vote(v)
        }
        Message::Timeout(mut t) => {
            t.signature.0[5] ^= 0x10;
            Message::Timeout(t)
        }
        other => other,
    }
}
