//! Collecting votes and timeouts into certificates (`docs/protocol.md` §5).
//!
//! Signatures are not verified as they arrive. When the collected stake for a subject
//! reaches a threshold, the batch is aggregated and checked with one aggregate
//! verification; only if that fails is it bisected to find the invalid signatures, which
//! are dropped and whose *delivering peers* are reported (never the member named in the
//! message: anyone can forge a message in its name). Each sender has one slot per view;
//! a different message for an occupied slot is settled by verifying both. An honest
//! quorum therefore costs one pairing check per certificate, not one per vote.

use std::collections::{BTreeMap, BTreeSet};

use super::api::PeerId;
use synod_types::crypto::{aggregate_signatures, verify_aggregate, verify_aggregate_multi};
use synod_types::{
    Certificate, Committee, Domain, FinalityCert, Hash, Phase, QuorumCert, Signature, TimeoutCert,
    TimeoutMsg, VerifyingKey, Vote,
};

/// Splits `items` until every failing subset is a single item; returns those items.
/// `check` must accept the empty set.
pub(crate) fn bisect_invalid(items: &[u32], check: &mut dyn FnMut(&[u32]) -> bool) -> Vec<u32> {
    let mut bad = Vec::new();
    let mut stack = vec![items.to_vec()];
    while let Some(set) = stack.pop() {
        if set.is_empty() || check(&set) {
            continue;
        }
        if set.len() == 1 {
            bad.push(set[0]);
            continue;
        }
        let (a, b) = set.split_at(set.len() / 2);
        stack.push(b.to_vec());
        stack.push(a.to_vec());
    }
    bad.sort_unstable();
    bad
}

/// Whether the signatures `sigs[i]` by members `signers[i]` over `digest` verify as one
/// aggregate.
fn aggregate_ok(committee: &Committee, signers: &[u32], sigs: &[Signature], digest: &Hash) -> bool {
    let keys: Vec<&VerifyingKey> = signers.iter().filter_map(|i| committee.key(*i)).collect();
    if keys.len() != signers.len() {
        return false;
    }
    match aggregate_signatures(committee.scheme(), sigs) {
        Ok(agg) => verify_aggregate(&keys, digest, &agg),
        Err(_) => false,
    }
}

/// Verifies `(signer, signature)` pairs over one digest as a batch; returns the valid
/// signers, the invalid ones, and the aggregate of the valid signatures.
fn verify_batch(
    committee: &Committee,
    digest: &Hash,
    entries: &BTreeMap<u32, Signature>,
) -> (Vec<u32>, Vec<u32>, Option<Signature>) {
    let signers: Vec<u32> = entries.keys().copied().collect();
    let sigs_of = |set: &[u32]| -> Vec<Signature> { set.iter().map(|i| entries[i]).collect() };
    let bad = if aggregate_ok(committee, &signers, &sigs_of(&signers), digest) {
        Vec::new()
    } else {
        bisect_invalid(&signers, &mut |set| {
            aggregate_ok(committee, set, &sigs_of(set), digest)
        })
    };
    let good: Vec<u32> = signers.into_iter().filter(|s| !bad.contains(s)).collect();
    let aggregate = if good.is_empty() {
        None
    } else {
        aggregate_signatures(committee.scheme(), &sigs_of(&good)).ok()
    };
    (good, bad, aggregate)
}

fn certificate(
    committee: &Committee,
    view: u64,
    block_hash: Hash,
    signers: &[u32],
    signature: Signature,
) -> Certificate {
    let mut bitmap = committee.empty_bitmap();
    signers.iter().for_each(|s| bitmap.set(*s));
    Certificate {
        epoch: committee.epoch(),
        view,
        block_hash,
        signers: bitmap,
        signature,
    }
}

/// A message held for one sender in one view.
#[derive(Debug, Clone)]
pub(crate) struct Slot<T> {
    /// The message.
    pub msg: T,
    /// The peer that delivered it (`None` for this node's own).
    pub from: Option<PeerId>,
    /// Whether its signature has been verified.
    pub verified: bool,
}

/// What adding a message to a collector found.
#[derive(Debug)]
pub(crate) enum Added<T> {
    /// Stored.
    New,
    /// Exactly this message is already held.
    Duplicate,
    /// The sender already has a different message in this view. Unverified messages do
    /// not get to shadow each other: the engine verifies both and calls `resolve`.
    Contested(Box<Slot<T>>),
}

/// Votes for one view.
#[derive(Debug, Default)]
struct ViewVotes {
    slots: BTreeMap<u32, Slot<Vote>>,
    stake_by_block: BTreeMap<Hash, u128>,
    commit_stake: BTreeMap<(u64, Hash), u128>,
    qc_formed: bool,
    fc_formed: bool,
}

impl ViewVotes {
    fn account(&mut self, committee: &Committee, vote: &Vote, sign: bool) {
        let stake = committee.stake(vote.voter);
        let entry = self.stake_by_block.entry(vote.block_hash).or_default();
        *entry = if sign {
            *entry + stake
        } else {
            entry.saturating_sub(stake)
        };
        if let Some(c) = &vote.commit {
            let entry = self.commit_stake.entry((c.view, c.block_hash)).or_default();
            *entry = if sign {
                *entry + stake
            } else {
                entry.saturating_sub(stake)
            };
        }
    }

    fn set(&mut self, committee: &Committee, voter: u32, slot: Option<Slot<Vote>>) {
        if let Some(old) = self.slots.remove(&voter) {
            self.account(committee, &old.msg, false);
        }
        if let Some(slot) = slot {
            self.account(committee, &slot.msg, true);
            self.slots.insert(voter, slot);
        }
    }
}

/// The certificate a batch of votes produced, and who delivered invalid signatures.
#[derive(Debug)]
pub(crate) struct Formed<C> {
    /// The certificate, if the valid signatures reached a quorum.
    pub cert: Option<C>,
    /// Peers that delivered an invalid signature (the entries were dropped).
    pub invalid: Vec<PeerId>,
}

/// Votes received as the leader of the next view, per view.
#[derive(Debug, Default)]
pub(crate) struct VoteCollector {
    views: BTreeMap<u64, ViewVotes>,
}

impl VoteCollector {
    /// Stores a vote (unverified) unless its voter already has one for the view.
    pub fn add(&mut self, committee: &Committee, vote: Vote, from: Option<PeerId>) -> Added<Vote> {
        let view = self.views.entry(vote.view).or_default();
        match view.slots.get(&vote.voter) {
            Some(held) if held.msg == vote => Added::Duplicate,
            Some(held) => Added::Contested(Box::new(held.clone())),
            None => {
                view.set(
                    committee,
                    vote.voter,
                    Some(Slot {
                        msg: vote,
                        from,
                        verified: false,
                    }),
                );
                Added::New
            }
        }
    }

    /// Replaces what is held for `voter` after a contest (`None` drops it).
    pub fn resolve(
        &mut self,
        committee: &Committee,
        view: u64,
        voter: u32,
        keep: Option<Slot<Vote>>,
    ) {
        if let Some(v) = self.views.get_mut(&view) {
            v.set(committee, voter, keep);
        }
    }

    /// Stake of the votes held for `block_hash` in `view`.
    pub fn stake(&self, view: u64, block_hash: &Hash) -> u128 {
        self.views
            .get(&view)
            .and_then(|v| v.stake_by_block.get(block_hash).copied())
            .unwrap_or(0)
    }

    /// Whether the quorum certificate of `view` was formed.
    pub fn qc_formed(&self, view: u64) -> bool {
        self.views.get(&view).is_some_and(|v| v.qc_formed)
    }

    /// The stake behind the best-supported commit subject of `view`, if the finality
    /// certificate is still to be formed.
    pub fn pending_commit_stake(&self, view: u64) -> u128 {
        self.views
            .get(&view)
            .filter(|v| !v.fc_formed)
            .and_then(|v| {
                v.commit_stake
                    .iter()
                    .filter(|((pv, _), _)| pv.checked_add(1) == Some(view))
                    .map(|(_, s)| *s)
                    .max()
            })
            .unwrap_or(0)
    }

    /// Verifies the votes for `block_hash` in `view` as a batch and forms the quorum
    /// certificate if the valid ones reach a quorum. Invalid entries are dropped.
    pub fn certify(
        &mut self,
        committee: &Committee,
        domain: &Domain,
        view: u64,
        block_hash: Hash,
    ) -> Formed<QuorumCert> {
        let mut formed = Formed {
            cert: None,
            invalid: Vec::new(),
        };
        let Some(votes) = self.views.get_mut(&view) else {
            return formed;
        };
        let entries: BTreeMap<u32, Signature> = votes
            .slots
            .values()
            .filter(|s| s.msg.block_hash == block_hash)
            .map(|s| (s.msg.voter, s.msg.signature))
            .collect();
        let digest = domain.digest(committee.epoch(), view, Phase::Vote, &block_hash);
        let (good, bad, aggregate) = verify_batch(committee, &digest, &entries);
        for voter in bad {
            formed
                .invalid
                .extend(votes.slots.get(&voter).and_then(|s| s.from));
            votes.set(committee, voter, None);
        }
        for voter in &good {
            if let Some(slot) = votes.slots.get_mut(voter) {
                slot.verified = true;
            }
        }
        let stake: u128 = good.iter().map(|v| committee.stake(*v)).sum();
        if let (true, Some(signature)) = (stake >= committee.quorum_stake(), aggregate) {
            votes.qc_formed = true;
            formed.cert = Some(QuorumCert(certificate(
                committee, view, block_hash, &good, signature,
            )));
        }
        formed
    }

    /// Verifies the commit signatures of `view` (on the parent, from the previous view)
    /// as a batch and forms the parent's finality certificate if they reach a quorum.
    /// Keeps working after the quorum certificate formed, so votes that arrive late
    /// still complete it. Invalid commit signatures are stripped from their votes.
    pub fn certify_commit(
        &mut self,
        committee: &Committee,
        domain: &Domain,
        view: u64,
    ) -> Formed<FinalityCert> {
        let mut formed = Formed {
            cert: None,
            invalid: Vec::new(),
        };
        let Some(votes) = self.views.get_mut(&view) else {
            return formed;
        };
        let Some(((parent_view, parent), _)) = votes
            .commit_stake
            .iter()
            .filter(|((pv, _), _)| pv.checked_add(1) == Some(view))
            .max_by_key(|(_, s)| **s)
            .map(|(k, s)| (*k, *s))
        else {
            return formed;
        };
        let entries: BTreeMap<u32, Signature> = votes
            .slots
            .values()
            .filter_map(|s| s.msg.commit.as_ref().map(|c| (s.msg.voter, c)))
            .filter(|(_, c)| c.view == parent_view && c.block_hash == parent)
            .map(|(voter, c)| (voter, c.signature))
            .collect();
        let digest = domain.digest(committee.epoch(), parent_view, Phase::Commit, &parent);
        let (good, bad, aggregate) = verify_batch(committee, &digest, &entries);
        for voter in bad {
            if let Some(mut slot) = votes.slots.get(&voter).cloned() {
                formed.invalid.extend(slot.from);
                slot.msg.commit = None;
                votes.set(committee, voter, Some(slot));
            }
        }
        let stake: u128 = good.iter().map(|v| committee.stake(*v)).sum();
        if let (true, Some(signature)) = (stake >= committee.quorum_stake(), aggregate) {
            votes.fc_formed = true;
            formed.cert = Some(FinalityCert(certificate(
                committee,
                parent_view,
                parent,
                &good,
                signature,
            )));
        }
        formed
    }

    /// Forgets views below `view`.
    pub fn prune_below(&mut self, view: u64) {
        self.views = self.views.split_off(&view);
    }
}

/// Timeouts for one view.
#[derive(Debug, Default)]
struct ViewTimeouts {
    slots: BTreeMap<u32, Slot<TimeoutMsg>>,
    qc_checked: BTreeSet<u32>,
    stake: u128,
    certified: bool,
}

impl ViewTimeouts {
    fn set(&mut self, committee: &Committee, sender: u32, slot: Option<Slot<TimeoutMsg>>) {
        if self.slots.remove(&sender).is_some() {
            self.stake = self.stake.saturating_sub(committee.stake(sender));
        }
        self.qc_checked.remove(&sender);
        if let Some(slot) = slot {
            self.stake += committee.stake(sender);
            self.slots.insert(sender, slot);
        }
    }
}

/// Timeouts received, per view.
#[derive(Debug, Default)]
pub(crate) struct TimeoutCollector {
    views: BTreeMap<u64, ViewTimeouts>,
}

impl TimeoutCollector {
    /// Stores a timeout (unverified, without its `last_tc`) unless its sender already
    /// has one for the view.
    pub fn add(
        &mut self,
        committee: &Committee,
        mut timeout: TimeoutMsg,
        from: Option<PeerId>,
    ) -> Added<TimeoutMsg> {
        timeout.last_tc = None;
        let view = self.views.entry(timeout.view).or_default();
        match view.slots.get(&timeout.sender) {
            Some(held) if held.msg == timeout => Added::Duplicate,
            Some(held) => Added::Contested(Box::new(held.clone())),
            None => {
                view.set(
                    committee,
                    timeout.sender,
                    Some(Slot {
                        msg: timeout,
                        from,
                        verified: false,
                    }),
                );
                Added::New
            }
        }
    }

    /// Replaces what is held for `sender` after a contest (`None` drops it).
    pub fn resolve(
        &mut self,
        committee: &Committee,
        view: u64,
        sender: u32,
        keep: Option<Slot<TimeoutMsg>>,
        qc_ok: bool,
    ) {
        if let Some(v) = self.views.get_mut(&view) {
            v.set(committee, sender, keep);
            if qc_ok {
                v.qc_checked.insert(sender);
            }
        }
    }

    /// Whether a timeout certificate was already formed for `view`.
    pub fn is_certified(&self, view: u64) -> bool {
        self.views.get(&view).is_some_and(|v| v.certified)
    }

    /// The high certificates of `view` not yet checked, with their senders.
    pub fn unchecked_qcs(&self, view: u64) -> Vec<(u32, QuorumCert)> {
        self.views.get(&view).map_or_else(Vec::new, |v| {
            v.slots
                .values()
                .filter(|s| !v.qc_checked.contains(&s.msg.sender))
                .map(|s| (s.msg.sender, s.msg.high_qc.clone()))
                .collect()
        })
    }

    /// Records the result of checking `sender`'s high certificate; an invalid one drops
    /// the timeout and returns the peer that delivered it.
    pub fn qc_checked(
        &mut self,
        committee: &Committee,
        view: u64,
        sender: u32,
        valid: bool,
    ) -> Option<PeerId> {
        let v = self.views.get_mut(&view)?;
        if valid {
            v.qc_checked.insert(sender);
            return None;
        }
        let from = v.slots.get(&sender).and_then(|s| s.from);
        v.set(committee, sender, None);
        from
    }

    /// Verifies the unverified timeout signatures of `view` as a batch. Invalid ones are
    /// dropped; returns the peers that delivered them and the verified stake.
    pub fn verify_pending(
        &mut self,
        committee: &Committee,
        domain: &Domain,
        view: u64,
    ) -> (Vec<PeerId>, u128) {
        let Some(v) = self.views.get_mut(&view) else {
            return (Vec::new(), 0);
        };
        let pending: Vec<u32> = v
            .slots
            .values()
            .filter(|s| !s.verified)
            .map(|s| s.msg.sender)
            .collect();
        let check = |set: &[u32]| -> bool {
            if set.is_empty() {
                return true;
            }
            let mut groups: BTreeMap<u64, Vec<&VerifyingKey>> = BTreeMap::new();
            let mut sigs = Vec::with_capacity(set.len());
            for s in set {
                let t = &v.slots[s].msg;
                let Some(key) = committee.key(*s) else {
                    return false;
                };
                groups.entry(t.high_qc.view()).or_default().push(key);
                sigs.push(t.signature);
            }
            let groups: Vec<(Vec<&VerifyingKey>, Hash)> = groups
                .into_iter()
                .map(|(hv, keys)| {
                    (
                        keys,
                        domain.digest(
                            committee.epoch(),
                            view,
                            Phase::Timeout,
                            &TimeoutMsg::subject(hv),
                        ),
                    )
                })
                .collect();
            match aggregate_signatures(committee.scheme(), &sigs) {
                Ok(agg) => verify_aggregate_multi(&groups, &agg),
                Err(_) => false,
            }
        };
        let bad = if check(&pending) {
            Vec::new()
        } else {
            bisect_invalid(&pending, &mut |set| check(set))
        };
        let mut peers = Vec::new();
        for s in pending {
            if bad.contains(&s) {
                peers.extend(v.slots.get(&s).and_then(|slot| slot.from));
                v.set(committee, s, None);
            } else if let Some(slot) = v.slots.get_mut(&s) {
                slot.verified = true;
            }
        }
        let verified_stake = v
            .slots
            .values()
            .filter(|s| s.verified)
            .map(|s| committee.stake(s.msg.sender))
            .sum();
        (peers, verified_stake)
    }

    /// Forms the timeout certificate of `view` from the timeouts whose signature and
    /// high certificate were both verified, if they hold a quorum.
    pub fn certify(&mut self, committee: &Committee, view: u64) -> Option<TimeoutCert> {
        let v = self.views.get_mut(&view)?;
        let ready: Vec<&TimeoutMsg> = v
            .slots
            .values()
            .filter(|s| s.verified && v.qc_checked.contains(&s.msg.sender))
            .map(|s| &s.msg)
            .collect();
        let stake: u128 = ready.iter().map(|t| committee.stake(t.sender)).sum();
        if v.certified || stake < committee.quorum_stake() {
            return None;
        }
        let signature =
            aggregate_signatures(committee.scheme(), ready.iter().map(|t| &t.signature)).ok()?;
        let high_qc = ready
            .iter()
            .map(|t| &t.high_qc)
            .max_by_key(|qc| qc.view())?
            .clone();
        let mut signers = committee.empty_bitmap();
        ready.iter().for_each(|t| signers.set(t.sender));
        let tc = TimeoutCert {
            epoch: committee.epoch(),
            view,
            signers,
            high_qc_views: ready.iter().map(|t| t.high_qc.view()).collect(),
            signature,
            high_qc,
        };
        v.certified = true;
        Some(tc)
    }

    /// Stake of the timeouts held for `view` (verified or not).
    pub fn stake(&self, view: u64) -> u128 {
        self.views.get(&view).map_or(0, |v| v.stake)
    }

    /// Forgets views below `view`.
    pub fn prune_below(&mut self, view: u64) {
        self.views = self.views.split_off(&view);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisection_finds_exactly_the_bad_items() {
        let items: Vec<u32> = (0..37).collect();
        let bad = [3u32, 17, 36];
        let mut checks = 0;
        let found = bisect_invalid(&items, &mut |set| {
            checks += 1;
            !set.iter().any(|i| bad.contains(i))
        });
        assert_eq!(found, bad.to_vec());
        assert!(
            checks < 37,
            "bisection used {checks} checks for 3 bad of 37"
        );
        assert!(bisect_invalid(&items, &mut |_| true).is_empty());
    }
}
