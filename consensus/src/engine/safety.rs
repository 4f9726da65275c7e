//! The persisted safety state and the rules that decide whether signing is safe
//! (`docs/protocol.md` §3).
//!
//! The engine never lets a vote, timeout or proposal leave before the state that
//! records it has been acknowledged as durable (`Action::PersistSafety` /
//! `Input::SafetyPersisted`). After a crash the node restarts from this state, so it
//! re-sends the same message or none: it can never sign two different subjects for the
//! same `(epoch, view, phase)`.

use synod_types::{Proposal, QuorumCert, TimeoutCert, TimeoutMsg, Vote};

/// Everything an honest validator must remember across crashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyState {
    /// Epoch this state belongs to.
    pub epoch: u64,
    /// Highest view in which this validator voted or timed out (rule S1).
    pub highest_vote_view: u64,
    /// Highest quorum certificate known when the last message was signed (rule S3).
    pub high_qc: QuorumCert,
    /// The last vote signed, re-sent unchanged after a restart.
    pub last_vote: Option<Vote>,
    /// The last timeout signed, re-sent unchanged after a restart.
    pub last_timeout: Option<TimeoutMsg>,
    /// The last proposal signed as leader (rule S4: one proposal per view).
    pub last_proposal: Option<Proposal>,
    /// The highest timeout certificate known when the last message was signed. Not a
    /// safety rule: after a restart it justifies the view the validator is in, so the
    /// timeouts it sends there carry it (P3) and members that missed it can follow;
    /// without it, a network that restarts with its members split between two views
    /// never forms a certificate again.
    pub high_tc: Option<TimeoutCert>,
}

impl SafetyState {
    /// The state of a validator that has never signed anything.
    pub fn initial(epoch: u64, genesis_qc: QuorumCert) -> SafetyState {
        SafetyState {
            epoch,
            highest_vote_view: 0,
            high_qc: genesis_qc,
            last_vote: None,
            last_timeout: None,
            last_proposal: None,
            high_tc: None,
        }
    }

    /// The view of the last proposal signed, or 0.
    pub fn last_proposal_view(&self) -> u64 {
        self.last_proposal
            .as_ref()
            .map_or(0, |p| p.block.header.view)
    }
}

/// Rule S1 + S2: a block of `view` with parent certificate `justify` (and the timeout
/// certificate of the previous view, if the leader needed one) may be voted for iff the
/// view is above every view already voted or timed out in, and either the block
/// directly extends the previous view's certificate or a timeout certificate for the
/// previous view shows that no signer of it knew a higher certificate than `justify`.
pub fn safe_to_vote(
    state: &SafetyState,
    view: u64,
    justify: &QuorumCert,
    tc: Option<&TimeoutCert>,
) -> bool {
    if view <= state.highest_vote_view {
        return false;
    }
    if justify.view() + 1 == view {
        return true;
    }
    tc.is_some_and(|tc| tc.view + 1 == view && justify.view() >= tc.max_high_qc_view())
}

/// Rule S2 for a leader: what it may propose in `view` on `high_qc`.
pub fn justified_to_propose(view: u64, high_qc: &QuorumCert, tc: Option<&TimeoutCert>) -> bool {
    high_qc.view() + 1 == view
        || tc.is_some_and(|tc| tc.view + 1 == view && high_qc.view() >= tc.max_high_qc_view())
}

/// Rule S1 for timeouts: a validator may time out in a view it voted in, never in a
/// lower one.
pub fn safe_to_timeout(state: &SafetyState, view: u64) -> bool {
    view >= state.highest_vote_view
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::{Certificate, Hash, Signature, SignerBitmap};

    fn qc(view: u64) -> QuorumCert {
        QuorumCert(Certificate {
            epoch: 0,
            view,
            block_hash: Hash::from_u64(view),
            signers: SignerBitmap::new(4),
            signature: Signature::EMPTY,
        })
    }

    fn tc(view: u64, highs: Vec<u64>) -> TimeoutCert {
        let high = *highs.iter().max().unwrap();
        TimeoutCert {
            epoch: 0,
            view,
            signers: SignerBitmap::new(4),
            high_qc_views: highs,
            signature: Signature::EMPTY,
            high_qc: qc(high),
        }
    }

    #[test]
    fn votes_only_above_the_highest_voted_view() {
        let mut s = SafetyState::initial(0, qc(0));
        assert!(safe_to_vote(&s, 1, &qc(0), None));
        s.highest_vote_view = 5;
        assert!(!safe_to_vote(&s, 5, &qc(4), None));
        assert!(!safe_to_vote(&s, 4, &qc(3), None));
        assert!(safe_to_vote(&s, 6, &qc(5), None));
    }

    #[test]
    fn a_gap_needs_a_timeout_certificate_that_the_justify_dominates() {
        let s = SafetyState::initial(0, qc(0));
        assert!(!safe_to_vote(&s, 7, &qc(5), None), "gap without TC");
        assert!(safe_to_vote(&s, 7, &qc(5), Some(&tc(6, vec![5, 4, 5]))));
        assert!(
            !safe_to_vote(&s, 7, &qc(4), Some(&tc(6, vec![5, 4, 5]))),
            "a TC signer knew QC(5)"
        );
        assert!(
            !safe_to_vote(&s, 8, &qc(5), Some(&tc(6, vec![5]))),
            "TC of the wrong view"
        );
    }

    #[test]
    fn timeouts_never_go_below_a_vote() {
        let mut s = SafetyState::initial(0, qc(0));
        s.highest_vote_view = 5;
        assert!(safe_to_timeout(&s, 5));
        assert!(!safe_to_timeout(&s, 4));
    }
}
