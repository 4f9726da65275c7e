//! Synod's data availability: what a block's `da_commitment` commits to, and the
//! backends that keep that data retrievable after its block is final.
//!
//! ```text
//!  leader:    payload::encode(batches, record) ─▶ DaBackend::commit ─▶ header.da_commitment
//!  validator: payload::encode(...) ─▶ DaBackend::verify(data, commitment) ─▶ Kept (store, then vote)
//!  anyone:    DaBackend::retrieval(commitment) ─▶ gather(ask) ─▶ Retrieval::add(shard)… ─▶ data ─▶ payload::decode
//! ```
//!
//! - [`payload`]: the bytes a commitment covers (a block's batches in order and its
//!   hand-over record), with bounded decoding.
//! - [`assign`]: the committee backend's shard layout: contiguous ranges in proportion
//!   to stake, and `k` such that any third of the stake holds `k` shards.
//! - [`merkle`]: the BLAKE3 Merkle tree over shards.
//! - [`committee`]: Reed–Solomon encoding, the commitment, shard proofs, rebuilding.
//! - [`CommitteeDa`]: the default backend, on the committee's own disks.
//! - [`gather`]: who is asked for which shards, round after round, until a
//!   [`Retrieval`] can rebuild, over a transport the caller passes in.
//!
//! Like the engine, this crate does no I/O: the node stores what [`DaBackend::verify`]
//! says to keep, and carries [`gather::gather`]'s requests to its peers.

pub mod assign;
pub mod committee;
mod error;
pub mod gather;
pub mod merkle;
pub mod payload;

use std::collections::BTreeMap;

use synod_types::Hash;

pub use assign::Assignment;
pub use committee::{Params, Shard};
pub use error::DaError;

/// What a validator keeps of a block's data it checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The commitment checked.
    pub commitment: Hash,
    /// Its own shards with their proofs (the committee backend; none for a validator
    /// without stake in the layout).
    pub shards: Vec<Shard>,
}

/// A data-availability backend, as the node's DA component uses it. The commitment goes
/// in the header, so the finality certificate, and the L1 bridge, cover the data.
pub trait DaBackend {
    /// The commitment to `data`.
    fn commit(&self, data: &[u8]) -> Result<Hash, DaError>;

    /// A leader's dispersal: the commitment to `data` and what this node keeps of it
    /// (for the committee backend, the others derive their shards from the batches they
    /// already hold, in [`DaBackend::verify`]).
    fn disperse(&self, data: &[u8]) -> Result<Kept, DaError>;

    /// Before a vote: checks that `commitment` is `data`'s and says what this node keeps
    /// (disperses to itself) to serve it later. `Ok(None)`: the commitment is wrong and
    /// the block gets no vote.
    fn verify(&self, data: &[u8], commitment: &Hash) -> Result<Option<Kept>, DaError>;

    /// Starts retrieving the data of `commitment` from pieces peers hold.
    fn retrieval(&self, commitment: Hash) -> Retrieval;
}

/// The default backend: shards on the committee's own disks, in proportion to stake.
#[derive(Debug, Clone)]
pub struct CommitteeDa {
    assignment: Assignment,
    me: Option<usize>,
}

impl CommitteeDa {
    /// The backend of a committee with these stakes, for member `me` (`None`: a full
    /// node, which keeps no shards).
    pub fn new(stakes: &[u64], me: Option<usize>) -> CommitteeDa {
        CommitteeDa {
            assignment: Assignment::new(stakes),
            me,
        }
    }

    /// The shard layout.
    pub fn assignment(&self) -> &Assignment {
        &self.assignment
    }
}

impl CommitteeDa {
    /// This node's shards of `encoded`.
    fn kept(&self, encoded: &committee::Encoded) -> Kept {
        let shards = self
            .me
            .map(|me| {
                self.assignment
                    .shards_of(me)
                    .filter_map(|i| encoded.shard(i))
                    .collect()
            })
            .unwrap_or_default();
        Kept {
            commitment: encoded.commitment(),
            shards,
        }
    }
}

impl DaBackend for CommitteeDa {
    fn commit(&self, data: &[u8]) -> Result<Hash, DaError> {
        committee::commitment(data, &self.assignment)
    }

    fn disperse(&self, data: &[u8]) -> Result<Kept, DaError> {
        Ok(self.kept(&committee::encode(data, &self.assignment)?))
    }

    fn verify(&self, data: &[u8], commitment: &Hash) -> Result<Option<Kept>, DaError> {
        let encoded = committee::encode(data, &self.assignment)?;
        Ok((encoded.commitment() == *commitment).then(|| self.kept(&encoded)))
    }

    fn retrieval(&self, commitment: Hash) -> Retrieval {
        Retrieval {
            commitment,
            assignment: self.assignment.clone(),
            shards: BTreeMap::new(),
            rejected: 0,
        }
    }
}

/// Shards of one block's data gathered from peers until `k` valid ones rebuild it. Each
/// shard is checked against the commitment before it counts; memory is bounded by the
/// layout's `N` shards.
#[derive(Debug, Clone)]
pub struct Retrieval {
    commitment: Hash,
    assignment: Assignment,
    shards: BTreeMap<u32, Shard>,
    rejected: usize,
}

/// What one shard did to a retrieval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new valid shard.
    Counted,
    /// Valid, but held already.
    Duplicate,
    /// It does not prove its place under the commitment: its sender misbehaved.
    Invalid,
}

impl Retrieval {
    /// Offers a shard from a peer.
    pub fn add(&mut self, shard: Shard) -> Added {
        if shard.params.total != self.assignment.total()
            || shard.params.original != self.assignment.original()
            || !shard.verify(&self.commitment)
        {
            self.rejected += 1;
            return Added::Invalid;
        }
        if self.shards.contains_key(&shard.index) {
            return Added::Duplicate;
        }
        self.shards.insert(shard.index, shard);
        Added::Counted
    }

    /// Whether enough shards are here.
    pub fn ready(&self) -> bool {
        self.shards.len() >= self.assignment.original() as usize
    }

    /// The shard indices member `member` holds that are not here yet.
    pub fn missing_of(&self, member: usize) -> Vec<u32> {
        self.assignment
            .shards_of(member)
            .filter(|i| !self.shards.contains_key(i))
            .collect()
    }

    /// The layout.
    pub fn assignment(&self) -> &Assignment {
        &self.assignment
    }

    /// The members whose shards are not here yet (whom to ask).
    pub fn missing_holders(&self) -> Vec<usize> {
        let mut out: Vec<usize> = (0..self.assignment.total())
            .filter(|i| !self.shards.contains_key(i))
            .filter_map(|i| self.assignment.holder(i))
            .collect();
        out.dedup();
        out
    }

    /// The share of the stake whose shards arrived, as the members that sent any; for
    /// the error when the data cannot be rebuilt.
    pub fn holders_heard(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .shards
            .keys()
            .filter_map(|i| self.assignment.holder(*i))
            .collect();
        out.dedup();
        out
    }

    /// Rebuilds the data once [`Retrieval::ready`].
    pub fn rebuild(&self) -> Result<Vec<u8>, DaError> {
        let shards: Vec<Shard> = self.shards.values().cloned().collect();
        committee::rebuild(&shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_kept_by_a_third_of_the_stake_rebuild_what_the_leader_committed_to() {
        let stakes = [50, 10, 10, 10, 10, 5, 5];
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let leader = CommitteeDa::new(&stakes, Some(0));
        let commitment = leader.commit(&data).unwrap();
        // Members 1, 2, 3 and 5: 35 of 100, more than a third.
        let mut retrieval = leader.retrieval(commitment);
        for me in [1, 2, 3, 5] {
            let kept = CommitteeDa::new(&stakes, Some(me))
                .verify(&data, &commitment)
                .unwrap()
                .expect("the commitment is right");
            assert!(!kept.shards.is_empty());
            for shard in kept.shards {
                assert_eq!(retrieval.add(shard.clone()), Added::Counted);
                assert_eq!(retrieval.add(shard), Added::Duplicate);
            }
        }
        assert!(retrieval.ready());
        assert_eq!(retrieval.holders_heard(), vec![1, 2, 3, 5]);
        assert_eq!(retrieval.rebuild().unwrap(), data);
    }

    #[test]
    fn a_wrong_commitment_gets_no_vote_and_a_wrong_shard_does_not_count() {
        let stakes = [1; 4];
        let da = CommitteeDa::new(&stakes, Some(2));
        let data = vec![9u8; 4_096];
        let right = da.commit(&data).unwrap();
        let wrong = da.commit(&data[1..]).unwrap();
        assert!(da.verify(&data, &wrong).unwrap().is_none());
        let kept = da.verify(&data, &right).unwrap().unwrap();
        let mut retrieval = da.retrieval(right);
        let mut bad = kept.shards[0].clone();
        bad.bytes[0] ^= 0xff;
        assert_eq!(retrieval.add(bad), Added::Invalid);
        assert!(!retrieval.ready());
        // One member of four (a quarter of the stake) cannot rebuild.
        for s in kept.shards {
            retrieval.add(s);
        }
        assert!(!retrieval.ready());
        assert!(matches!(
            retrieval.rebuild(),
            Err(DaError::TooFewShards { .. })
        ));
        assert_eq!(retrieval.missing_holders(), vec![0, 1, 3]);
    }
}
