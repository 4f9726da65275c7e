//! The committee hand-over records (`docs/protocol.md` §11): what a leader puts in an
//! epoch's last block, how a voter checks it against its own reading of the StakeTable
//! (H1), and the committee that block hands over to.
//!
//! Pure functions of the current committee and the snapshots read from L1
//! ([`Epochs`]); when a hand-over happens is decided by the node once the block
//! carrying the record is final.

use synod_types::committee::CommitteeError;
use synod_types::{Block, Committee, Hash, NextEpoch, PublicKey, Scheme};

use crate::reader::Epochs;

/// What a voter makes of a hand-over record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordCheck {
    /// It equals this node's reading of that epoch's snapshot.
    Valid,
    /// It does not, or names no later epoch, or this node reads no L1.
    Invalid,
    /// The snapshot is not read here yet (the reader follows L1 a poll behind): the vote
    /// waits for it.
    NotYetRead,
}

/// Whether a record makes a committee (keys valid and distinct, stakes not zero).
pub fn makes_committee(record: &NextEpoch, scheme: Scheme) -> bool {
    Committee::new(record.epoch, scheme, Hash::ZERO, record.members.clone()).is_ok()
}

/// The committee the epoch's last block `end` hands over to: its record's members,
/// leader election seeded with the block's hash. `None` when `end` ends no epoch.
pub fn committee_after(end: &Block, scheme: Scheme) -> Option<Result<Committee, CommitteeError>> {
    let next = end.next_epoch.as_ref()?;
    Some(Committee::new(
        next.epoch,
        scheme,
        end.hash(),
        next.members.clone(),
    ))
}

/// The record a leader of `committee` puts in its block: the newest snapshot read from
/// L1, when it is of a later epoch and makes a committee.
pub fn next_record(committee: &Committee, epochs: &Epochs) -> Option<NextEpoch> {
    let latest = epochs.latest()?;
    (latest.epoch > committee.epoch() && makes_committee(latest, committee.scheme()))
        .then(|| latest.clone())
}

/// Whether `key` is a member of the newest committee read from L1.
pub fn in_next_committee(epochs: &Epochs, key: &PublicKey) -> bool {
    epochs
        .latest()
        .is_some_and(|n| n.members.iter().any(|m| m.public_key == *key))
}

/// H1: a record is voted for only if it equals this node's reading of that epoch
/// (`epochs`: `None` for a node that reads no L1).
pub fn check_record(
    committee: &Committee,
    epochs: Option<&Epochs>,
    record: &NextEpoch,
) -> RecordCheck {
    let Some(epochs) = epochs else {
        return RecordCheck::Invalid;
    };
    if record.epoch <= committee.epoch() {
        return RecordCheck::Invalid;
    }
    // Only the epoch after the newest one known may be waited for: a leader cannot make
    // votes wait on epochs L1 is not even close to.
    let newest = epochs
        .latest()
        .map_or(committee.epoch(), |l| l.epoch)
        .max(committee.epoch());
    match epochs.get(record.epoch) {
        Some(read) if read == record && makes_committee(record, committee.scheme()) => {
            RecordCheck::Valid
        }
        Some(_) => RecordCheck::Invalid,
        // Read past it without keeping it: too old to hand over to.
        None if epochs.latest().is_some_and(|l| l.epoch >= record.epoch) => RecordCheck::Invalid,
        None if record.epoch > newest + 1 => RecordCheck::Invalid,
        None => RecordCheck::NotYetRead,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::{Header, Member, QuorumCert};

    fn member(byte: u8, stake: u64) -> Member {
        Member {
            public_key: PublicKey([byte; 48]),
            stake,
        }
    }

    fn record(epoch: u64, members: Vec<Member>) -> NextEpoch {
        NextEpoch {
            epoch,
            l1_block: 100 * epoch,
            members,
        }
    }

    fn committee(epoch: u64) -> Committee {
        Committee::new(
            epoch,
            Scheme::Sim,
            Hash::ZERO,
            vec![member(1, 10), member(2, 10)],
        )
        .unwrap()
    }

    fn epochs(records: &[NextEpoch]) -> Epochs {
        records.iter().cloned().collect()
    }

    #[test]
    fn a_record_is_valid_only_if_it_equals_the_snapshot_read_here() {
        let c = committee(3);
        let read = record(4, vec![member(1, 10), member(3, 20)]);
        let e = epochs(std::slice::from_ref(&read));
        assert_eq!(check_record(&c, Some(&e), &read), RecordCheck::Valid);
        // Another stake, another member, another L1 block: not what L1 says.
        let mut stake = read.clone();
        stake.members[1].stake = 21;
        let mut key = read.clone();
        key.members[1].public_key = PublicKey([9; 48]);
        let mut block = read.clone();
        block.l1_block += 1;
        for forged in [stake, key, block] {
            assert_eq!(check_record(&c, Some(&e), &forged), RecordCheck::Invalid);
        }
        // Without L1 nothing is voted for.
        assert_eq!(check_record(&c, None, &read), RecordCheck::Invalid);
    }

    #[test]
    fn only_the_next_unread_epoch_waits_and_past_epochs_are_refused() {
        let c = committee(3);
        let e = epochs(&[record(4, vec![member(1, 10)])]);
        // Epoch 5 is the one after the newest read: the reader may be a poll behind.
        assert_eq!(
            check_record(&c, Some(&e), &record(5, vec![member(1, 10)])),
            RecordCheck::NotYetRead
        );
        // Epoch 6 is not close: a Byzantine leader cannot park votes on it.
        assert_eq!(
            check_record(&c, Some(&e), &record(6, vec![member(1, 10)])),
            RecordCheck::Invalid
        );
        // The committee's own epoch, or an earlier one, hands over to nothing.
        for epoch in [2, 3] {
            assert_eq!(
                check_record(&c, Some(&e), &record(epoch, vec![member(1, 10)])),
                RecordCheck::Invalid
            );
        }
        // With nothing read yet, only the committee's next epoch may wait.
        let none = epochs(&[]);
        assert_eq!(
            check_record(&c, Some(&none), &record(4, vec![member(1, 10)])),
            RecordCheck::NotYetRead
        );
        assert_eq!(
            check_record(&c, Some(&none), &record(5, vec![member(1, 10)])),
            RecordCheck::Invalid
        );
        // Read past it (epoch 5 was dropped from the recent ones): too old.
        let later = epochs(&[record(6, vec![member(1, 10)])]);
        let c4 = committee(4);
        assert_eq!(
            check_record(&c4, Some(&later), &record(5, vec![member(1, 10)])),
            RecordCheck::Invalid
        );
    }

    #[test]
    fn a_snapshot_that_makes_no_committee_is_neither_proposed_nor_voted_for() {
        let c = committee(3);
        for members in [
            vec![],
            vec![member(1, 0)],
            vec![member(1, 10), member(1, 20)],
        ] {
            let bad = record(4, members);
            let e = epochs(std::slice::from_ref(&bad));
            assert!(!makes_committee(&bad, Scheme::Sim));
            assert_eq!(check_record(&c, Some(&e), &bad), RecordCheck::Invalid);
            assert_eq!(next_record(&c, &e), None);
        }
    }

    #[test]
    fn a_leader_proposes_the_newest_snapshot_of_a_later_epoch() {
        let four = record(4, vec![member(1, 10)]);
        let five = record(5, vec![member(2, 10)]);
        let e = epochs(&[four.clone(), five.clone()]);
        assert_eq!(next_record(&committee(3), &e), Some(five.clone()));
        assert_eq!(next_record(&committee(5), &e), None);
        assert!(in_next_committee(&e, &PublicKey([2; 48])));
        assert!(!in_next_committee(&e, &PublicKey([1; 48])));
    }

    #[test]
    fn the_next_committee_is_the_records_seeded_with_the_last_blocks_hash() {
        let genesis = Block::new(Header::genesis(1), QuorumCert::genesis(0, Hash::ZERO, 2));
        assert!(committee_after(&genesis, Scheme::Sim).is_none());
        let mut end = genesis.clone();
        end.next_epoch = Some(record(4, vec![member(1, 10), member(2, 30)]));
        let next = committee_after(&end, Scheme::Sim).unwrap().unwrap();
        assert_eq!(next.epoch(), 4);
        assert_eq!(next.size(), 2);
        assert_eq!(next.total_stake(), 40);
        let mut empty = end.clone();
        empty.next_epoch = Some(record(4, vec![]));
        assert!(committee_after(&empty, Scheme::Sim).unwrap().is_err());
    }
}
