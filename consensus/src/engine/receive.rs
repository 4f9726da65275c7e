//! Handling what peers send: proposals, votes, timeouts and sync responses
//! (`docs/protocol.md` §5–§6). Every check that is cheap runs before any signature is
//! verified; every signature is verified before anything is stored or acted upon.

use synod_types::{
    Equivocation, Hash, Message, Phase, Proposal, Signature, SyncResponse, TimeoutMsg, Vote,
};

use super::collect::Added;
use super::{safe_to_vote, Action, Engine, Offense, PeerId};

impl Engine {
    pub(super) fn on_message(&mut self, from: PeerId, message: Message) {
        match message {
            Message::Proposal(p) => self.on_proposal(from, p),
            Message::Vote(v) => self.collect_vote(Some(from), v),
            Message::Timeout(t) => self.collect_timeout(Some(from), t),
            Message::SyncResponse(r) => self.on_sync_response(from, r),
            // Served by the driver from its block store.
            Message::SyncRequest(_) => {}
        }
    }

    fn penalize(&mut self, peer: Option<PeerId>, offense: Offense) {
        if let Some(peer) = peer {
            self.out.push(Action::Penalize { peer, offense });
        }
    }

    fn on_proposal(&mut self, from: PeerId, p: Proposal) {
        let header = &p.block.header;
        let view = header.view;
        let conflicting = self
            .seen_proposals
            .get(&(view, header.proposer))
            .is_some_and(|(seen, _)| *seen != p.block.hash());
        if header.epoch != self.committee.epoch() || (view + 1 < self.view && !conflicting) {
            return;
        }
        if view == 0 || header.proposer != self.leader(view) {
            return self.penalize(
                Some(from),
                Offense::Malformed("proposer is not the leader of the view"),
            );
        }
        if header.parent != p.block.justify.block_hash() || p.block.justify.view() >= view {
            return self.penalize(
                Some(from),
                Offense::Malformed("justify does not certify the parent"),
            );
        }
        let hash = p.block.hash();
        if let Some((seen, _)) = self.seen_proposals.get(&(view, header.proposer)) {
            if *seen == hash {
                return;
            }
        }
        let digest = self
            .cfg
            .domain
            .digest(self.committee.epoch(), view, Phase::Proposal, &hash);
        let valid = self
            .committee
            .key(header.proposer)
            .is_some_and(|k| k.verify(&digest, &p.signature));
        if !valid {
            return self.penalize(Some(from), Offense::InvalidSignature);
        }
        if let Some((seen, sig)) = self.seen_proposals.get(&(view, header.proposer)).copied() {
            // E1: a second signed proposal for the same view is evidence.
            self.report(
                header.proposer,
                view,
                Phase::Proposal,
                (seen, sig),
                (hash, p.signature),
                Some(from),
            );
            return;
        }

        if !self.verify_cert(Phase::Vote, &p.block.justify.0) {
            return self.penalize(Some(from), Offense::InvalidCertificate);
        }
        if let Some(tc) = &p.timeout_cert {
            if tc.view + 1 != view || !self.verify_tc(tc) {
                return self.penalize(Some(from), Offense::InvalidCertificate);
            }
        }
        if let Some(fc) = &p.commit {
            if !self.verify_cert(Phase::Commit, &fc.0) {
                return self.penalize(Some(from), Offense::InvalidCertificate);
            }
        }
        // Recorded only once its certificates verified, so a leader cannot fill the map
        // with proposals for views that will never exist.
        self.seen_proposals
            .insert((view, header.proposer), (hash, p.signature));
        let justify = p.block.justify.clone();
        self.process_qc(&justify);
        if let Some(tc) = &p.timeout_cert {
            self.process_tc(tc);
        }
        if let Some(fc) = &p.commit {
            self.process_fc(fc, Some(from));
        }
        // A block certified below the committed one cannot extend it.
        if justify.view() < self.tree.committed().header.view {
            return;
        }
        self.place_proposal(from, p);
    }

    /// Stores a verified proposal's block once its parent is known, then asks for the
    /// payload check that precedes a vote.
    fn place_proposal(&mut self, from: PeerId, p: Proposal) {
        let header = &p.block.header;
        let Some(parent) = self.tree.get(&header.parent) else {
            if self.waiting_parent.len() >= self.cfg.max_waiting_proposals {
                self.waiting_parent.remove(0);
            }
            let parent = header.parent;
            self.waiting_parent.push((from, p));
            self.request_block(parent, Some(from));
            return;
        };
        if header.height != parent.header.height + 1
            || header.timestamp_ms < parent.header.timestamp_ms
        {
            return self.penalize(
                Some(from),
                Offense::Malformed("height or timestamp does not follow the parent"),
            );
        }
        let hash = p.block.hash();
        let view = header.view;
        self.accept_block(p.block.clone());
        self.try_commit(Some(from));
        self.release_waiting(hash);
        if view == self.view
            && self.me.is_some()
            && safe_to_vote(
                &self.safety,
                view,
                &p.block.justify,
                p.timeout_cert.as_ref(),
            )
        {
            self.awaiting_check.insert(hash, p.timeout_cert.clone());
            self.out.push(Action::CheckPayload {
                block_hash: hash,
                header: p.block.header.clone(),
            });
        }
    }

    fn release_waiting(&mut self, parent: Hash) {
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_parent)
            .into_iter()
            .partition(|(_, p)| p.block.header.parent == parent);
        self.waiting_parent = waiting;
        for (from, p) in ready {
            self.place_proposal(from, p);
        }
    }

    /// E1: reports two different signed subjects for one `(view, phase)` if both
    /// signatures verify; otherwise penalizes whoever delivered the bad one.
    fn report(
        &mut self,
        signer: u32,
        view: u64,
        phase: Phase,
        first: (Hash, Signature),
        second: (Hash, Signature),
        from: Option<PeerId>,
    ) {
        if self.reported.contains(&(signer, view, phase)) {
            return;
        }
        let (Some(member), Some(key)) = (self.committee.member(signer), self.committee.key(signer))
        else {
            return;
        };
        let evidence = Equivocation {
            signer: member.public_key,
            epoch: self.committee.epoch(),
            view,
            phase,
            first,
            second,
        };
        if evidence.verify(key, &self.cfg.domain) {
            self.reported.insert((signer, view, phase));
            self.out.push(Action::Evidence(evidence));
        } else {
            self.penalize(from, Offense::InvalidSignature);
        }
    }

    pub(super) fn collect_vote(&mut self, from: Option<PeerId>, vote: Vote) {
        if vote.epoch != self.committee.epoch() || self.committee.member(vote.voter).is_none() {
            return self.penalize(from, Offense::Malformed("vote from outside the committee"));
        }
        if vote.view + 1 < self.view
            || vote.view > self.view + self.cfg.max_views_ahead
            || !self.is_leader(vote.view + 1)
        {
            return;
        }
        let (view, block_hash) = (vote.view, vote.block_hash);
        match self.votes.add(&self.committee, vote.clone(), from) {
            Added::Ignored => {}
            Added::Conflict(earlier) => self.report(
                vote.voter,
                view,
                Phase::Vote,
                (earlier.block_hash, earlier.signature),
                (vote.block_hash, vote.signature),
                from,
            ),
            Added::New(stake) if stake >= self.committee.quorum_stake() => {
                // C1, P4: one aggregate check for the batch, bisection only on failure.
                let certified =
                    self.votes
                        .certify(&self.committee, &self.cfg.domain, view, block_hash);
                for peer in certified.invalid {
                    self.penalize(Some(peer), Offense::InvalidSignature);
                }
                if let Some(fc) = certified.fc {
                    self.remember_verified(synod_types::Phase::Commit, &fc.0);
                    self.process_fc(&fc, None);
                }
                if let Some(qc) = certified.qc {
                    self.remember_verified(synod_types::Phase::Vote, &qc.0);
                    self.process_qc(&qc);
                }
            }
            Added::New(_) => {}
        }
    }

    pub(super) fn collect_timeout(&mut self, from: Option<PeerId>, t: TimeoutMsg) {
        if t.epoch != self.committee.epoch() || self.committee.member(t.sender).is_none() {
            return self.penalize(
                from,
                Offense::Malformed("timeout from outside the committee"),
            );
        }
        if t.high_qc.view() >= t.view {
            return self.penalize(
                from,
                Offense::Malformed("timeout's high_qc is not below its view"),
            );
        }
        // A higher certificate lets this node catch up, whatever the timeout's view.
        if t.high_qc.view() > self.safety.high_qc.view() {
            if !self.verify_cert(Phase::Vote, &t.high_qc.0) {
                return self.penalize(from, Offense::InvalidCertificate);
            }
            let qc = t.high_qc.clone();
            self.process_qc(&qc);
        }
        // The previous view's timeout certificate lets a node that missed it catch up.
        if let Some(tc) = t.last_tc.as_deref() {
            if tc.view + 1 != t.view {
                return self.penalize(
                    from,
                    Offense::Malformed("timeout carries a certificate of another view"),
                );
            }
            if tc.view >= self.view {
                if !self.verify_tc(tc) {
                    return self.penalize(from, Offense::InvalidCertificate);
                }
                let tc = tc.clone();
                self.process_tc(&tc);
            }
        }
        let view = t.view;
        if view < self.view
            || view > self.view + self.cfg.max_views_ahead
            || self.timeouts.is_certified(view)
        {
            return;
        }
        let stake = match self.timeouts.add(&self.committee, t.clone(), from) {
            Added::New(stake) => stake,
            Added::Ignored => return,
            Added::Conflict(earlier) => {
                let subject = |m: &TimeoutMsg| TimeoutMsg::subject(m.high_qc.view());
                return self.report(
                    t.sender,
                    view,
                    Phase::Timeout,
                    (subject(&earlier), earlier.signature),
                    (subject(&t), t.signature),
                    from,
                );
            }
        };
        // P3: timeouts from more than a third of the stake for this view mean an
        // honest validator gave up on it; join them rather than wait for the timer.
        let timed_out = self
            .safety
            .last_timeout
            .as_ref()
            .is_some_and(|m| m.view == view);
        if view == self.view && !timed_out && stake >= self.committee.validity_stake() {
            let (bad, verified) =
                self.timeouts
                    .verify_pending(&self.committee, &self.cfg.domain, view);
            for peer in bad {
                self.penalize(Some(peer), Offense::InvalidSignature);
            }
            if verified >= self.committee.validity_stake() {
                self.local_timeout();
            }
        }
        if self.timeouts.stake(view) >= self.committee.quorum_stake() {
            self.form_tc(view);
        }
    }

    fn form_tc(&mut self, view: u64) {
        for (sender, qc) in self.timeouts.high_qcs_to_check(view) {
            if !self.verify_cert(Phase::Vote, &qc.0) {
                let peer = self.timeouts.reject(&self.committee, view, sender);
                self.penalize(peer, Offense::InvalidCertificate);
            }
        }
        let (bad, _) = self
            .timeouts
            .verify_pending(&self.committee, &self.cfg.domain, view);
        for peer in bad {
            self.penalize(Some(peer), Offense::InvalidSignature);
        }
        if let Some(tc) = self.timeouts.certify(&self.committee, view) {
            self.process_tc(&tc);
        }
    }

    fn on_sync_response(&mut self, from: PeerId, response: SyncResponse) {
        let blocks = response.blocks;
        let Some(first) = blocks.first() else {
            return self.penalize(Some(from), Offense::BadSyncResponse);
        };
        if !self.inflight.contains_key(&first.hash()) {
            // Late (answered after a retry) or unsolicited: nothing to do.
            return;
        }
        let linked = blocks.len() <= self.cfg.sync_batch as usize
            && blocks.windows(2).all(|w| {
                w[0].header.parent == w[1].hash() && w[0].header.height == w[1].header.height + 1
            });
        if !linked {
            return self.penalize(Some(from), Offense::BadSyncResponse);
        }
        self.inflight.remove(&first.hash());
        let committed_height = self.tree.committed().header.height;
        let mut accepted = Vec::new();
        for block in blocks {
            if block.header.height <= committed_height || self.tree.contains(&block.hash()) {
                break;
            }
            accepted.push(block.hash());
            self.accept_block(block);
        }
        if let Some(oldest) = accepted.last().and_then(|h| self.tree.get(h)) {
            let parent = oldest.header.parent;
            if oldest.header.height > committed_height + 1 && !self.tree.contains(&parent) {
                self.request_block(parent, Some(from));
            }
        }
        for hash in accepted.into_iter().rev() {
            self.release_waiting(hash);
        }
        self.try_commit(Some(from));
        self.try_propose();
    }
}
