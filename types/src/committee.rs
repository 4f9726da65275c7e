//! The committee of an epoch: members' keys and stakes, the quorum threshold, signer
//! bitmaps and stake-weighted leader election (`docs/protocol.md` §1, §2, §5 P1).

use std::collections::BTreeMap;

use thiserror::Error;

use crate::crypto::{CryptoError, PublicKey, Scheme, SecretKey, VerifyingKey};
use crate::hash::{AbiWriter, Hash};

/// Stake in the smallest unit of the staking token.
pub type Stake = u64;

/// Upper bound on committee size; bitmaps and aggregation cost scale with it.
pub const MAX_COMMITTEE_SIZE: usize = 1024;

/// One member: its consensus key and its stake in this epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// BLS public key.
    pub public_key: PublicKey,
    /// Stake counted for quorums and leader election.
    pub stake: Stake,
}

impl Member {
    /// The members holding `keys`' public keys, each with `stake` (a committee of equal
    /// stakes, as local networks and tests use).
    pub fn equal_stakes<'a>(
        keys: impl IntoIterator<Item = &'a SecretKey>,
        stake: Stake,
    ) -> Vec<Member> {
        keys.into_iter()
            .map(|k| Member {
                public_key: k.public_key(),
                stake,
            })
            .collect()
    }
}

/// Why a committee could not be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CommitteeError {
    /// No members.
    #[error("a committee needs at least one member")]
    Empty,
    /// Too many members.
    #[error("committee of {0} members exceeds the maximum of {MAX_COMMITTEE_SIZE}")]
    TooLarge(usize),
    /// A member has zero stake.
    #[error("member {0} has zero stake")]
    ZeroStake(usize),
    /// The same key appears twice.
    #[error("member {0} repeats an earlier member's public key")]
    DuplicateKey(usize),
    /// A key does not decode.
    #[error("member {index}: {source}")]
    InvalidKey {
        /// Position of the member.
        index: usize,
        /// What was wrong.
        source: CryptoError,
    },
}

/// The rule that turns total stake into a quorum threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumRule {
    /// `floor(2 * total / 3) + 1`: more than two thirds. The protocol's rule.
    MoreThanTwoThirds,
    /// `ceil(2 * total / 3)`: exactly two thirds suffices. **Unsafe**; exists only so the
    /// simulator's negative control can show that the safety checker catches it.
    UnsafeTwoThirds,
}

/// The committee of one epoch.
#[derive(Debug, Clone)]
pub struct Committee {
    epoch: u64,
    scheme: Scheme,
    seed: Hash,
    members: Vec<Member>,
    keys: Vec<VerifyingKey>,
    by_key: BTreeMap<PublicKey, u32>,
    /// `cumulative[i]` is the stake of members `0..=i`.
    cumulative: Vec<u128>,
    total: u128,
    quorum: u128,
}

impl Committee {
    /// Builds and validates a committee. `seed` drives leader election.
    pub fn new(
        epoch: u64,
        scheme: Scheme,
        seed: Hash,
        members: Vec<Member>,
    ) -> Result<Committee, CommitteeError> {
        if members.is_empty() {
            return Err(CommitteeError::Empty);
        }
        if members.len() > MAX_COMMITTEE_SIZE {
            return Err(CommitteeError::TooLarge(members.len()));
        }
        let mut keys = Vec::with_capacity(members.len());
        let mut by_key = BTreeMap::new();
        let mut cumulative = Vec::with_capacity(members.len());
        let mut total: u128 = 0;
        for (index, member) in members.iter().enumerate() {
            if member.stake == 0 {
                return Err(CommitteeError::ZeroStake(index));
            }
            if by_key.insert(member.public_key, index as u32).is_some() {
                return Err(CommitteeError::DuplicateKey(index));
            }
            keys.push(
                VerifyingKey::new(scheme, &member.public_key)
                    .map_err(|source| CommitteeError::InvalidKey { index, source })?,
            );
            total += member.stake as u128;
            cumulative.push(total);
        }
        let mut committee = Committee {
            epoch,
            scheme,
            seed,
            members,
            keys,
            by_key,
            cumulative,
            total,
            quorum: 0,
        };
        committee.set_quorum_rule(QuorumRule::MoreThanTwoThirds);
        Ok(committee)
    }

    /// Replaces the quorum rule. Only the simulator's negative control uses
    /// [`QuorumRule::UnsafeTwoThirds`].
    pub fn set_quorum_rule(&mut self, rule: QuorumRule) {
        self.quorum = match rule {
            QuorumRule::MoreThanTwoThirds => 2 * self.total / 3 + 1,
            QuorumRule::UnsafeTwoThirds => (2 * self.total).div_ceil(3),
        };
    }

    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The signature scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Number of members.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// The members in index order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member at `index`.
    pub fn member(&self, index: u32) -> Option<&Member> {
        self.members.get(index as usize)
    }

    /// The decoded verification key of member `index`.
    pub fn key(&self, index: u32) -> Option<&VerifyingKey> {
        self.keys.get(index as usize)
    }

    /// The index of the member holding `key`.
    pub fn index_of(&self, key: &PublicKey) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// Total stake.
    pub fn total_stake(&self) -> u128 {
        self.total
    }

    /// Stake needed for a certificate: more than two thirds of the total.
    pub fn quorum_stake(&self) -> u128 {
        self.quorum
    }

    /// Stake above which a set must contain an honest member (more than one third).
    pub fn validity_stake(&self) -> u128 {
        self.total / 3 + 1
    }

    /// The stake of member `index` (zero if out of range).
    pub fn stake(&self, index: u32) -> u128 {
        self.members
            .get(index as usize)
            .map_or(0, |m| m.stake as u128)
    }

    /// Total stake of the members set in `signers`.
    pub fn stake_of(&self, signers: &SignerBitmap) -> u128 {
        signers.iter().map(|i| self.stake(i)).sum()
    }

    /// The deterministic, stake-weighted leader of `view`: member `i` is drawn with
    /// probability `stake_i / total`, from `keccak256(abi.encode(seed, epoch, view))`.
    pub fn leader(&self, view: u64) -> u32 {
        let digest = AbiWriter::with_words(3)
            .bytes32(&self.seed)
            .uint(self.epoch)
            .uint(view)
            .keccak();
        let mut word = [0u8; 16];
        word.copy_from_slice(&digest.0[..16]);
        let point = u128::from_be_bytes(word) % self.total;
        // First member whose cumulative stake exceeds the drawn point.
        self.cumulative.partition_point(|c| *c <= point) as u32
    }

    /// An empty signer bitmap sized for this committee.
    pub fn empty_bitmap(&self) -> SignerBitmap {
        SignerBitmap::new(self.size())
    }
}

/// Which members signed: bit `i` (byte `i / 8`, bit `i % 8`) is member `i`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignerBitmap {
    bytes: Vec<u8>,
}

/// A bitmap that does not fit its committee.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("signer bitmap of {got} bytes does not fit a committee of {members} (needs {expected} bytes, no bits past the last member)")]
pub struct BitmapError {
    /// Bytes given.
    pub got: usize,
    /// Bytes required.
    pub expected: usize,
    /// Committee size.
    pub members: usize,
}

impl SignerBitmap {
    /// An empty bitmap for `members` members.
    pub fn new(members: usize) -> SignerBitmap {
        SignerBitmap {
            bytes: vec![0; members.div_ceil(8)],
        }
    }

    /// Decodes a bitmap received from elsewhere, checking it against the committee size.
    pub fn from_bytes(bytes: Vec<u8>, members: usize) -> Result<SignerBitmap, BitmapError> {
        let bitmap = SignerBitmap { bytes };
        bitmap.check(members)?;
        Ok(bitmap)
    }

    /// Decodes a bitmap whose committee is not known yet (it depends on the epoch): at
    /// most `max_members` bits. The certificate's verification checks it against its
    /// committee exactly.
    pub fn bounded(bytes: Vec<u8>, max_members: usize) -> Result<SignerBitmap, BitmapError> {
        let expected = max_members.div_ceil(8);
        if bytes.len() > expected {
            return Err(BitmapError {
                got: bytes.len(),
                expected,
                members: max_members,
            });
        }
        Ok(SignerBitmap { bytes })
    }

    /// Checks the length and that no bit past the last member is set.
    pub fn check(&self, members: usize) -> Result<(), BitmapError> {
        let expected = members.div_ceil(8);
        let tail_ok = match self.bytes.last() {
            Some(last) if !members.is_multiple_of(8) => last >> (members % 8) == 0,
            _ => true,
        };
        if self.bytes.len() != expected || !tail_ok {
            return Err(BitmapError {
                got: self.bytes.len(),
                expected,
                members,
            });
        }
        Ok(())
    }

    /// Marks member `index`. Panics if `index` is outside the bitmap: callers index it
    /// with committee positions they already checked.
    pub fn set(&mut self, index: u32) {
        self.bytes[index as usize / 8] |= 1 << (index % 8);
    }

    /// Whether member `index` is set.
    pub fn get(&self, index: u32) -> bool {
        self.bytes
            .get(index as usize / 8)
            .is_some_and(|b| b & (1 << (index % 8)) != 0)
    }

    /// The set members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.bytes.iter().enumerate().flat_map(|(byte, bits)| {
            (0..8u32)
                .filter(move |bit| bits & (1 << bit) != 0)
                .map(move |bit| byte as u32 * 8 + bit)
        })
    }

    /// Number of set members.
    pub fn count(&self) -> usize {
        self.bytes.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    fn committee(stakes: &[Stake]) -> Committee {
        let members = stakes
            .iter()
            .enumerate()
            .map(|(i, s)| Member {
                public_key: SecretKey::sim(i as u64).public_key(),
                stake: *s,
            })
            .collect();
        Committee::new(0, Scheme::Sim, Hash::ZERO, members).unwrap()
    }

    #[test]
    fn quorum_is_strictly_more_than_two_thirds() {
        assert_eq!(committee(&[1, 1, 1]).quorum_stake(), 3);
        assert_eq!(committee(&[1, 1, 1, 1]).quorum_stake(), 3);
        assert_eq!(committee(&[1; 6]).quorum_stake(), 5);
        assert_eq!(committee(&[100, 50, 50]).quorum_stake(), 134);
        let mut c = committee(&[1; 6]);
        c.set_quorum_rule(QuorumRule::UnsafeTwoThirds);
        assert_eq!(c.quorum_stake(), 4);
    }

    #[test]
    fn leader_election_follows_stake() {
        let c = committee(&[1, 1, 1, 97]);
        let heavy = (0..10_000).filter(|v| c.leader(*v) == 3).count();
        assert!(
            (9_500..=9_900).contains(&heavy),
            "heavy member led {heavy} of 10000 views"
        );
        let equal = committee(&[5; 4]);
        let mut counts = [0; 4];
        for v in 0..10_000 {
            counts[equal.leader(v) as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (2_300..=2_700).contains(c)),
            "{counts:?}"
        );
        assert_eq!(
            equal.leader(42),
            committee(&[5; 4]).leader(42),
            "deterministic"
        );
    }

    #[test]
    fn bitmaps_are_checked_against_the_committee_size() {
        let mut b = SignerBitmap::new(10);
        b.set(0);
        b.set(9);
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![0, 9]);
        assert_eq!(b.count(), 2);
        assert!(SignerBitmap::from_bytes(b.as_bytes().to_vec(), 10).is_ok());
        assert!(
            SignerBitmap::from_bytes(vec![0, 0b100], 10).is_err(),
            "bit 10 of 10"
        );
        assert!(SignerBitmap::from_bytes(vec![0], 10).is_err(), "too short");
        assert!(
            SignerBitmap::from_bytes(vec![0; 3], 10).is_err(),
            "too long"
        );
    }

    #[test]
    fn invalid_committees_are_rejected() {
        assert_eq!(
            Committee::new(0, Scheme::Sim, Hash::ZERO, vec![]).unwrap_err(),
            CommitteeError::Empty
        );
        let pk = SecretKey::sim(1).public_key();
        let dup = vec![
            Member {
                public_key: pk,
                stake: 1,
            },
            Member {
                public_key: pk,
                stake: 1,
            },
        ];
        assert_eq!(
            Committee::new(0, Scheme::Sim, Hash::ZERO, dup).unwrap_err(),
            CommitteeError::DuplicateKey(1)
        );
        let zero = vec![Member {
            public_key: pk,
            stake: 0,
        }];
        assert_eq!(
            Committee::new(0, Scheme::Sim, Hash::ZERO, zero).unwrap_err(),
            CommitteeError::ZeroStake(0)
        );
    }
}
