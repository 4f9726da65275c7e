//! Collecting votes and timeouts into certificates (`docs/protocol.md` §5).
//!
//! Signatures are not verified as they arrive. When the collected stake for a subject
//! reaches a threshold, the batch is aggregated and checked with one aggregate
//! verification; only if that fails is it bisected to find the invalid signatures, whose
//! senders are reported and excluded for the rest of the view. An honest quorum
//! therefore costs one pairing check per certificate, not one per vote.

use std::collections::{BTreeMap, BTreeSet};

use super::PeerId;
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

/// What adding a message to a collector found.
#[derive(Debug)]
pub(crate) enum Added<T> {
    /// New; the stake now collected for its subject.
    New(u128),
    /// Already had exactly this message, or its sender is excluded for this view.
    Ignored,
    /// The sender already sent a different message for this view: the earlier one.
    Conflict(Box<T>),
}

/// Votes for one view.
#[derive(Debug, Default)]
struct ViewVotes {
    by_voter: BTreeMap<u32, Vote>,
    sources: BTreeMap<u32, PeerId>,
    stake_by_block: BTreeMap<Hash, u128>,
    rejected: BTreeSet<u32>,
    certified: bool,
}

/// The certificates a batch of votes produced.
#[derive(Debug, Default)]
pub(crate) struct Certified {
    /// The quorum certificate, if the valid votes reached a quorum.
    pub qc: Option<QuorumCert>,
    /// The finality certificate of the parent, if enough valid commit signatures came.
    pub fc: Option<FinalityCert>,
    /// Peers that delivered a vote or commit signature that was invalid.
    pub invalid: Vec<PeerId>,
}

/// Votes received as the leader of the next view, per view.
#[derive(Debug, Default)]
pub(crate) struct VoteCollector {
    views: BTreeMap<u64, ViewVotes>,
}

impl VoteCollector {
    /// Records a vote (unverified).
    pub fn add(&mut self, committee: &Committee, vote: Vote, from: Option<PeerId>) -> Added<Vote> {
        let view = self.views.entry(vote.view).or_default();
        if view.rejected.contains(&vote.voter) {
            return Added::Ignored;
        }
        if let Some(earlier) = view.by_voter.get(&vote.voter) {
            return if earlier.block_hash == vote.block_hash {
                Added::Ignored
            } else {
                Added::Conflict(Box::new(earlier.clone()))
            };
        }
        if view.certified {
            // Kept only to detect equivocation against the votes already held.
            return Added::Ignored;
        }
        let stake = view.stake_by_block.entry(vote.block_hash).or_default();
        *stake += committee.stake(vote.voter);
        let total = *stake;
        if let Some(peer) = from {
            view.sources.insert(vote.voter, peer);
        }
        view.by_voter.insert(vote.voter, vote);
        Added::New(total)
    }

    /// Verifies the votes for `block_hash` in `view` as a batch and forms the
    /// certificates if the valid ones reach a quorum.
    pub fn certify(
        &mut self,
        committee: &Committee,
        domain: &Domain,
        view: u64,
        block_hash: Hash,
    ) -> Certified {
        let Some(votes) = self.views.get_mut(&view) else {
            return Certified::default();
        };
        let entries: BTreeMap<u32, Signature> = votes
            .by_voter
            .values()
            .filter(|v| v.block_hash == block_hash)
            .map(|v| (v.voter, v.signature))
            .collect();
        let digest = domain.digest(committee.epoch(), view, Phase::Vote, &block_hash);
        let (good, bad, aggregate) = verify_batch(committee, &digest, &entries);
        let mut invalid: Vec<PeerId> = bad
            .iter()
            .filter_map(|v| votes.sources.get(v).copied())
            .collect();
        for voter in &bad {
            votes.by_voter.remove(voter);
            votes.rejected.insert(*voter);
        }
        let stake: u128 = good.iter().map(|v| committee.stake(*v)).sum();
        votes.stake_by_block.insert(block_hash, stake);
        let mut out = Certified::default();
        let (true, Some(signature)) = (stake >= committee.quorum_stake(), aggregate) else {
            out.invalid = invalid;
            return out;
        };
        votes.certified = true;
        out.qc = Some(QuorumCert(certificate(
            committee, view, block_hash, &good, signature,
        )));

        // Commit signatures: honest voters of one block all sign the same parent.
        let mut by_parent: BTreeMap<(u64, Hash), BTreeMap<u32, Signature>> = BTreeMap::new();
        for voter in &good {
            if let Some(commit) = votes.by_voter.get(voter).and_then(|v| v.commit.as_ref()) {
                by_parent
                    .entry((commit.view, commit.block_hash))
                    .or_default()
                    .insert(*voter, commit.signature);
            }
        }
        let best = by_parent
            .into_iter()
            .filter(|((parent_view, _), _)| parent_view + 1 == view)
            .max_by_key(|(_, e)| e.keys().map(|v| committee.stake(*v)).sum::<u128>());
        if let Some(((parent_view, parent), commits)) = best {
            let digest = domain.digest(committee.epoch(), parent_view, Phase::Commit, &parent);
            let (good_commits, bad_commits, aggregate) = verify_batch(committee, &digest, &commits);
            invalid.extend(
                bad_commits
                    .iter()
                    .filter_map(|v| votes.sources.get(v).copied()),
            );
            let stake: u128 = good_commits.iter().map(|v| committee.stake(*v)).sum();
            if let (true, Some(signature)) = (stake >= committee.quorum_stake(), aggregate) {
                out.fc = Some(FinalityCert(certificate(
                    committee,
                    parent_view,
                    parent,
                    &good_commits,
                    signature,
                )));
            }
        }
        out.invalid = invalid;
        out
    }

    /// Forgets views below `view`.
    pub fn prune_below(&mut self, view: u64) {
        self.views = self.views.split_off(&view);
    }
}

/// Timeouts for one view.
#[derive(Debug, Default)]
struct ViewTimeouts {
    by_sender: BTreeMap<u32, TimeoutMsg>,
    sources: BTreeMap<u32, PeerId>,
    verified: BTreeSet<u32>,
    rejected: BTreeSet<u32>,
    stake: u128,
    certified: bool,
}

/// Timeouts received, per view.
#[derive(Debug, Default)]
pub(crate) struct TimeoutCollector {
    views: BTreeMap<u64, ViewTimeouts>,
}

impl TimeoutCollector {
    /// Records a timeout (unverified).
    pub fn add(
        &mut self,
        committee: &Committee,
        timeout: TimeoutMsg,
        from: Option<PeerId>,
    ) -> Added<TimeoutMsg> {
        let view = self.views.entry(timeout.view).or_default();
        if view.rejected.contains(&timeout.sender) {
            return Added::Ignored;
        }
        if let Some(earlier) = view.by_sender.get(&timeout.sender) {
            return if earlier.high_qc.view() == timeout.high_qc.view() {
                Added::Ignored
            } else {
                Added::Conflict(Box::new(earlier.clone()))
            };
        }
        view.stake += committee.stake(timeout.sender);
        let stake = view.stake;
        if let Some(peer) = from {
            view.sources.insert(timeout.sender, peer);
        }
        view.by_sender.insert(timeout.sender, timeout);
        Added::New(stake)
    }

    /// Whether a timeout certificate was already formed for `view`.
    pub fn is_certified(&self, view: u64) -> bool {
        self.views.get(&view).is_some_and(|v| v.certified)
    }

    /// The timeouts of `view` whose high certificates still need checking, highest first.
    pub fn high_qcs_to_check(&self, view: u64) -> Vec<(u32, QuorumCert)> {
        let Some(v) = self.views.get(&view) else {
            return Vec::new();
        };
        let mut out: Vec<(u32, QuorumCert)> = v
            .by_sender
            .values()
            .filter(|t| !v.verified.contains(&t.sender))
            .map(|t| (t.sender, t.high_qc.clone()))
            .collect();
        out.sort_by_key(|(_, qc)| std::cmp::Reverse(qc.view()));
        out
    }

    /// Excludes `sender` for the rest of `view`; returns the peer that delivered its timeout.
    pub fn reject(&mut self, committee: &Committee, view: u64, sender: u32) -> Option<PeerId> {
        let v = self.views.get_mut(&view)?;
        {
            if v.by_sender.remove(&sender).is_some() {
                v.stake -= committee.stake(sender);
            }
            v.rejected.insert(sender);
        }
        v.sources.get(&sender).copied()
    }

    /// Verifies the unverified timeouts of `view` as a batch. Returns the peers that
    /// delivered invalid ones (their senders are excluded) and the verified stake.
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
            .by_sender
            .keys()
            .filter(|s| !v.verified.contains(s))
            .copied()
            .collect();
        let check = |set: &[u32]| -> bool {
            if set.is_empty() {
                return true;
            }
            let mut groups: BTreeMap<u64, Vec<&VerifyingKey>> = BTreeMap::new();
            let mut sigs = Vec::with_capacity(set.len());
            for s in set {
                let t = &v.by_sender[s];
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
        for s in &pending {
            if !bad.contains(s) {
                v.verified.insert(*s);
            }
        }
        for s in &bad {
            if v.by_sender.remove(s).is_some() {
                v.stake -= committee.stake(*s);
            }
            v.rejected.insert(*s);
        }
        let verified_stake = v.verified.iter().map(|s| committee.stake(*s)).sum();
        let peers = bad
            .iter()
            .filter_map(|s| v.sources.get(s).copied())
            .collect();
        (peers, verified_stake)
    }

    /// Forms the timeout certificate of `view` from its verified timeouts, if they hold
    /// a quorum. The caller has verified every sender's high certificate.
    pub fn certify(&mut self, committee: &Committee, view: u64) -> Option<TimeoutCert> {
        let v = self.views.get_mut(&view)?;
        let verified: Vec<&TimeoutMsg> = v
            .verified
            .iter()
            .filter_map(|s| v.by_sender.get(s))
            .collect();
        let stake: u128 = verified.iter().map(|t| committee.stake(t.sender)).sum();
        if v.certified || stake < committee.quorum_stake() {
            return None;
        }
        let signature =
            aggregate_signatures(committee.scheme(), verified.iter().map(|t| &t.signature)).ok()?;
        let high_qc = verified
            .iter()
            .map(|t| &t.high_qc)
            .max_by_key(|qc| qc.view())?
            .clone();
        let mut signers = committee.empty_bitmap();
        verified.iter().for_each(|t| signers.set(t.sender));
        let tc = TimeoutCert {
            epoch: committee.epoch(),
            view,
            signers,
            high_qc_views: verified.iter().map(|t| t.high_qc.view()).collect(),
            signature,
            high_qc,
        };
        v.certified = true;
        Some(tc)
    }

    /// Stake of the timeouts collected for `view` (verified or not).
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
