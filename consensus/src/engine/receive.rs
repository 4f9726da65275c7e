//! Handling what peers send: proposals, votes, timeouts and sync responses
//! (`docs/protocol.md` §5–§7). Cheap structural checks run before any signature is
//! verified; a proposal is verified before anything from it is stored or acted upon;
//! votes and timeouts are stored unverified and verified in batches (P4).
//!
//! A penalty always goes to the peer that delivered the offending bytes, never to the
//! member a message names: anyone can put an honest member's index on a forgery.

use synod_types::{
    Equivocation, Hash, Message, Phase, Proposal, Signature, SyncResponse, TimeoutMsg, Vote,
};

use super::collect::{Added, Slot};
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

    pub(super) fn penalize(&mut self, peer: Option<PeerId>, offense: Offense) {
        if let Some(peer) = peer {
            self.out.push(Action::Penalize { peer, offense });
        }
    }

    fn on_proposal(&mut self, from: PeerId, mut p: Proposal) {
        // A finality certificate of another epoch (a proposal built by an engine of
        // another epoch) is not this committee's to check (H4).
        if p.commit
            .as_ref()
            .is_some_and(|fc| fc.0.epoch != self.committee.epoch())
        {
            p.commit = None;
        }
        let header = &p.block.header;
        let view = header.view;
        let hash = p.block.hash();
        let seen = self.seen_proposals.get(&(view, header.proposer)).copied();
        let conflicting = seen.is_some_and(|(h, _)| h != hash);
        if header.epoch != self.committee.epoch()
            || (view.saturating_add(1) < self.view && !conflicting)
        {
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
        if !p.block.payload_matches() {
            return self.penalize(
                Some(from),
                Offense::Malformed("payload does not match the header's digest"),
            );
        }
        // S2, structurally: the view follows the justify directly or a timeout
        // certificate of the previous view. This bounds proposals by real certificates.
        let direct = p.block.justify.view() + 1 == view;
        let tc_ok = p
            .timeout_cert
            .as_ref()
            .is_some_and(|tc| tc.view.checked_add(1) == Some(view));
        if !direct && !tc_ok {
            return self.penalize(
                Some(from),
                Offense::Malformed("proposal is not justified for its view"),
            );
        }
        if seen.is_some_and(|(h, _)| h == hash) {
            // Another copy of a proposal already accepted; a relay may have stripped the
            // certificate this copy carries, so it may still enable the vote.
            return self.reconsider(from, p);
        }
        if self
            .reported
            .contains(&(header.proposer, view, Phase::Proposal))
        {
            return;
        }
        let digest = self
            .cfg
            .domain
            .digest(self.committee.epoch(), view, Phase::Proposal, &hash);
        // One batched pairing check for the signature and the certificates it carries;
        // if it fails, the checks below run one by one to find what is wrong.
        let valid = self.batch_verify_proposal(&digest, &p)
            || self
                .committee
                .key(header.proposer)
                .is_some_and(|k| k.verify(&digest, &p.signature));
        if !valid {
            return self.penalize(Some(from), Offense::InvalidSignature);
        }
        if let Some((first, sig)) = seen {
            // E1: a second signed proposal for the same view. Both signatures verified.
            return self.emit_evidence(
                header.proposer,
                view,
                Phase::Proposal,
                (first, sig),
                (hash, p.signature),
            );
        }
        if !self.verify_cert(Phase::Vote, &p.block.justify.0) {
            return self.penalize(Some(from), Offense::InvalidCertificate);
        }
        if let Some(tc) = &p.timeout_cert {
            if tc.view.checked_add(1) != Some(view) || !self.verify_tc(tc) {
                return self.penalize(Some(from), Offense::InvalidCertificate);
            }
        }
        if let Some(fc) = &p.commit {
            if !self.verify_cert(Phase::Commit, &fc.0) {
                return self.penalize(Some(from), Offense::InvalidCertificate);
            }
        }
        // Recorded only once its certificates verified: at most one per leader and view
        // that real certificates justify.
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
        if justify.view() < self.committed_view() {
            return;
        }
        self.place_proposal(from, p);
    }

    /// A repeated copy of an accepted proposal: if this node has not voted in the view
    /// yet, the copy's timeout certificate (verified) may make the block votable.
    fn reconsider(&mut self, from: PeerId, p: Proposal) {
        let view = p.block.header.view;
        let hash = p.block.hash();
        // The copy first seen may have lost its finality certificate on the way.
        if let Some(fc) = p.commit.as_ref() {
            if self.high_fc.as_ref().is_none_or(|h| h.view() < fc.view()) {
                if !self.verify_cert(Phase::Commit, &fc.0) {
                    return self.penalize(Some(from), Offense::InvalidCertificate);
                }
                let fc = fc.clone();
                self.process_fc(&fc, Some(from));
            }
        }
        if view != self.view
            || self.safety.highest_vote_view >= view
            || self.awaiting_check.contains_key(&hash)
        {
            return;
        }
        let Some(tc) = p.timeout_cert.as_ref() else {
            return;
        };
        if !self.verify_tc(tc) {
            return self.penalize(Some(from), Offense::InvalidCertificate);
        }
        let tc = tc.clone();
        self.process_tc(&tc);
        if self.tree.contains(&hash) {
            self.request_check(&hash, Some(tc));
        }
    }

    /// Asks for the payload check that precedes a vote, if the vote would be safe.
    fn request_check(&mut self, hash: &Hash, tc: Option<synod_types::TimeoutCert>) {
        let Some(block) = self.tree.get(hash) else {
            return;
        };
        let view = block.header.view;
        // Fall back to the node's own certificate of the previous view when the
        // proposal's was stripped on the way.
        let tc = tc.or_else(|| self.tc_for(view).cloned());
        if view == self.view
            && self.me.is_some()
            && safe_to_vote(&self.safety, view, &block.justify, tc.as_ref())
        {
            let block = block.clone();
            self.awaiting_check.insert(*hash, tc);
            self.out.push(Action::CheckPayload { block });
        } else if self.me.is_some() {
            self.no_vote = Some((view, "proposal not votable when it arrived"));
        }
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
        self.accept_block(p.block.clone());
        self.try_commit(Some(from));
        self.release_waiting(hash);
        self.request_check(&hash, p.timeout_cert);
    }

    pub(super) fn release_waiting(&mut self, parent: Hash) {
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_parent)
            .into_iter()
            .partition(|(_, p)| p.block.header.parent == parent);
        self.waiting_parent = waiting;
        for (from, p) in ready {
            self.place_proposal(from, p);
        }
    }

    /// E1: reports two verified signatures by `signer` on different subjects for one
    /// `(view, phase)`, once.
    fn emit_evidence(
        &mut self,
        signer: u32,
        view: u64,
        phase: Phase,
        first: (Hash, Signature),
        second: (Hash, Signature),
    ) {
        let Some(member) = self.committee.member(signer) else {
            return;
        };
        if first.0 == second.0 || !self.reported.insert((signer, view, phase)) {
            return;
        }
        self.out.push(Action::Evidence(Equivocation {
            signer: member.public_key,
            epoch: self.committee.epoch(),
            view,
            phase,
            first,
            second,
        }));
    }

    fn vote_valid(&self, vote: &Vote) -> bool {
        let Some(key) = self.committee.key(vote.voter) else {
            return false;
        };
        let epoch = self.committee.epoch();
        let domain = &self.cfg.domain;
        key.verify(
            &domain.digest(epoch, vote.view, Phase::Vote, &vote.block_hash),
            &vote.signature,
        ) && vote.commit.as_ref().is_none_or(|c| {
            c.view.checked_add(1) == Some(vote.view)
                && key.verify(
                    &domain.digest(epoch, c.view, Phase::Commit, &c.block_hash),
                    &c.signature,
                )
        })
    }

    pub(super) fn collect_vote(&mut self, from: Option<PeerId>, vote: Vote) {
        // Another epoch's votes are not wrong, only not for this engine (H4).
        if vote.epoch != self.committee.epoch() {
            return;
        }
        if self.committee.member(vote.voter).is_none() {
            return self.penalize(from, Offense::Malformed("vote from outside the committee"));
        }
        let view = vote.view;
        if view.saturating_add(1) < self.view
            || view > self.view.saturating_add(self.cfg.max_views_ahead)
            || !self.is_leader(view + 1)
        {
            return;
        }
        let block_hash = vote.block_hash;
        match self.votes.add(&self.committee, vote.clone(), from) {
            Added::Duplicate => return,
            Added::New => {}
            Added::Contested(held) => self.settle_vote(*held, vote, from),
        }
        // C1, P4: one aggregate check per certificate, bisection only on failure.
        if !self.votes.qc_formed(view)
            && self.votes.stake(view, &block_hash) >= self.committee.quorum_stake()
        {
            let formed = self
                .votes
                .certify(&self.committee, &self.cfg.domain, view, block_hash);
            for peer in formed.invalid {
                self.penalize(Some(peer), Offense::InvalidSignature);
            }
            if let Some(qc) = formed.cert {
                self.remember_verified(Phase::Vote, &qc.0);
                self.process_qc(&qc);
            }
        }
        if self.votes.qc_formed(view)
            && self.votes.pending_commit_stake(view) >= self.committee.quorum_stake()
        {
            let formed = self
                .votes
                .certify_commit(&self.committee, &self.cfg.domain, view);
            for peer in formed.invalid {
                self.penalize(Some(peer), Offense::InvalidSignature);
            }
            if let Some(fc) = formed.cert {
                self.remember_verified(Phase::Commit, &fc.0);
                self.process_fc(&fc, None);
            }
        }
    }

    /// Two different votes for one voter and view: verify both; keep the valid one,
    /// report an equivocation if both are valid for different blocks.
    fn settle_vote(&mut self, held: Slot<Vote>, vote: Vote, from: Option<PeerId>) {
        let (voter, view) = (vote.voter, vote.view);
        let old_ok = held.verified || self.vote_valid(&held.msg);
        let new_ok = self.vote_valid(&vote);
        let same_block = held.msg.block_hash == vote.block_hash;
        if old_ok && new_ok && !same_block {
            self.emit_evidence(
                voter,
                view,
                Phase::Vote,
                (held.msg.block_hash, held.msg.signature),
                (vote.block_hash, vote.signature),
            );
        }
        // Same block, both valid: keep the copy that carries a commit signature.
        let prefer_new = same_block && held.msg.commit.is_none() && vote.commit.is_some();
        let keep = self.settle(held, vote, from, (old_ok, new_ok), prefer_new);
        self.votes.resolve(&self.committee, view, voter, keep);
    }

    /// What to keep after a contest between a held message and a new one, given the
    /// validity of each; penalizes whoever delivered an invalid one.
    fn settle<T>(
        &mut self,
        held: Slot<T>,
        new: T,
        from: Option<PeerId>,
        (old_ok, new_ok): (bool, bool),
        prefer_new: bool,
    ) -> Option<Slot<T>> {
        let fresh = |msg| Slot {
            msg,
            from,
            verified: true,
        };
        match (old_ok, new_ok) {
            (true, true) if prefer_new => Some(fresh(new)),
            (true, _) => {
                if !new_ok {
                    self.penalize(from, Offense::InvalidSignature);
                }
                Some(Slot {
                    verified: true,
                    ..held
                })
            }
            (false, true) => {
                self.penalize(held.from, Offense::InvalidSignature);
                Some(fresh(new))
            }
            (false, false) => {
                self.penalize(held.from, Offense::InvalidSignature);
                self.penalize(from, Offense::InvalidSignature);
                None
            }
        }
    }

    fn timeout_sig_valid(&self, t: &TimeoutMsg) -> bool {
        let digest = self.cfg.domain.digest(
            self.committee.epoch(),
            t.view,
            Phase::Timeout,
            &TimeoutMsg::subject(t.high_qc.view()),
        );
        self.committee
            .key(t.sender)
            .is_some_and(|k| k.verify(&digest, &t.signature))
    }

    pub(super) fn collect_timeout(&mut self, from: Option<PeerId>, t: TimeoutMsg) {
        if t.epoch != self.committee.epoch() {
            return;
        }
        if self.committee.member(t.sender).is_none() {
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
            if tc.view.checked_add(1) != Some(t.view) {
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
            || view > self.view.saturating_add(self.cfg.max_views_ahead)
            || self.timeouts.is_certified(view)
        {
            return;
        }
        match self.timeouts.add(&self.committee, t.clone(), from) {
            Added::Duplicate => return,
            Added::New => {}
            Added::Contested(held) => self.settle_timeout(*held, t, from),
        }
        let stake = self.timeouts.stake(view);
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

    /// Two different timeouts for one sender and view: verify both (signature and high
    /// certificate); keep a valid one, report an equivocation if both are valid with
    /// different high certificate views.
    fn settle_timeout(&mut self, held: Slot<TimeoutMsg>, mut t: TimeoutMsg, from: Option<PeerId>) {
        let (sender, view) = (t.sender, t.view);
        let old_ok = (held.verified || self.timeout_sig_valid(&held.msg))
            && self.verify_cert(Phase::Vote, &held.msg.high_qc.0);
        let new_ok = self.timeout_sig_valid(&t) && self.verify_cert(Phase::Vote, &t.high_qc.0);
        t.last_tc = None;
        if old_ok && new_ok {
            let subject = |m: &TimeoutMsg| TimeoutMsg::subject(m.high_qc.view());
            self.emit_evidence(
                sender,
                view,
                Phase::Timeout,
                (subject(&held.msg), held.msg.signature),
                (subject(&t), t.signature),
            );
        }
        let keep = self.settle(held, t, from, (old_ok, new_ok), false);
        let qc_ok = keep.is_some();
        self.timeouts
            .resolve(&self.committee, view, sender, keep, qc_ok);
    }

    fn form_tc(&mut self, view: u64) {
        for (sender, qc) in self.timeouts.unchecked_qcs(view) {
            let valid = self.verify_cert(Phase::Vote, &qc.0);
            if let Some(peer) = self
                .timeouts
                .qc_checked(&self.committee, view, sender, valid)
            {
                self.penalize(Some(peer), Offense::InvalidCertificate);
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
            return;
        };
        if !self.inflight.contains_key(&first.hash()) {
            // Late (answered after a retry) or unsolicited: nothing to do.
            return;
        }
        let linked = blocks.len() <= self.cfg.sync_batch as usize
            && blocks.windows(2).all(|w| {
                w[0].header.parent == w[1].hash()
                    && w[0].header.height == w[1].header.height.wrapping_add(1)
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
            // The hash chain authenticates the headers; the justify rides along and is
            // checked like any certificate (cached, so a chain costs one check a block).
            if block.justify.block_hash() != block.header.parent
                || !block.payload_matches()
                || !self.verify_cert(Phase::Vote, &block.justify.0)
            {
                self.penalize(Some(from), Offense::InvalidCertificate);
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
