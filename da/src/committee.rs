//! The committee backend's code: a payload cut into `k` original shards, extended with
//! Reed–Solomon to the assignment's `N` shards (any `k` rebuild it), committed to by a
//! Merkle root, and rebuilt from any `k` shards that prove their place.
//!
//! ```text
//! commitment = blake3(0x02 ‖ N ‖ k ‖ len ‖ merkle_root(leaf(i, shard_i) for i < N))
//! ```
//!
//! `N`, `k` and the payload length are in the commitment, so a shard carrying them (and
//! its Merkle proof) is checked against the header's `da_commitment` alone.

use std::collections::BTreeMap;

use synod_types::Hash;

use crate::assign::Assignment;
use crate::error::DaError;
use crate::merkle::{self, Digest, Tree};

const COMMITMENT: u8 = 2;

/// Largest shard a validator accepts to keep: block data of more than `k` times this
/// gets no vote, so every shard fits one answer to a peer (`docs/protocol.md` §12).
pub const MAX_SHARD_BYTES: usize = 3 << 20;

/// What a commitment fixes besides the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Params {
    /// Shards in all (`N`).
    pub total: u32,
    /// Shards needed to rebuild (`k`).
    pub original: u32,
    /// Payload bytes.
    pub len: u64,
}

impl Params {
    /// The parameters of a payload of `len` bytes under `assignment`.
    pub fn new(assignment: &Assignment, len: u64) -> Params {
        Params {
            total: assignment.total(),
            original: assignment.original(),
            len,
        }
    }

    /// Bytes per shard: the payload split in `k`, rounded up to an even number (the
    /// code works on 16-bit symbols).
    pub fn shard_bytes(&self) -> usize {
        let per = (self.len as usize).div_ceil(self.original as usize).max(2);
        per + per % 2
    }

    fn commitment(&self, root: &Digest) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&[COMMITMENT]);
        h.update(&self.total.to_be_bytes());
        h.update(&self.original.to_be_bytes());
        h.update(&self.len.to_be_bytes());
        h.update(root);
        Hash(*h.finalize().as_bytes())
    }
}

/// One shard with what proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Its index, below `params.total`.
    pub index: u32,
    /// The parameters the commitment fixes.
    pub params: Params,
    /// Its bytes (`params.shard_bytes()` of them).
    pub bytes: Vec<u8>,
    /// Merkle siblings from its leaf to the root.
    pub proof: Vec<Digest>,
}

impl Shard {
    /// Whether this shard is the one at its index of the payload `commitment` names.
    pub fn verify(&self, commitment: &Hash) -> bool {
        if self.params.original == 0
            || self.params.original > self.params.total
            || self.bytes.len() != self.params.shard_bytes()
        {
            return false;
        }
        let leaf = merkle::leaf(self.index, &self.bytes);
        merkle::root_from(leaf, self.index, self.params.total, &self.proof)
            .is_some_and(|root| self.params.commitment(&root) == *commitment)
    }
}

/// Most Merkle siblings a shard's proof may carry (a tree of [`MAX_TOTAL`] leaves has
/// 15 levels).
///
/// [`MAX_TOTAL`]: crate::assign::MAX_TOTAL
const MAX_PROOF: usize = 32;

impl Shard {
    /// `N ‖ k ‖ len ‖ index ‖ u8 siblings ‖ siblings ‖ bytes`, integers big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(21 + 32 * self.proof.len() + self.bytes.len());
        out.extend_from_slice(&self.params.total.to_be_bytes());
        out.extend_from_slice(&self.params.original.to_be_bytes());
        out.extend_from_slice(&self.params.len.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
        out.push(self.proof.len() as u8);
        for p in &self.proof {
            out.extend_from_slice(p);
        }
        out.extend_from_slice(&self.bytes);
        out
    }

    /// Decodes a shard (bounded by its input; whether it is valid is
    /// [`Shard::verify`]'s question).
    pub fn decode(bytes: &[u8]) -> Result<Shard, DaError> {
        let head: &[u8; 21] = bytes
            .get(..21)
            .and_then(|h| h.try_into().ok())
            .ok_or(DaError::Malformed("truncated shard"))?;
        let u32_at = |i: usize| u32::from_be_bytes(head[i..i + 4].try_into().expect("4 bytes"));
        let params = Params {
            total: u32_at(0),
            original: u32_at(4),
            len: u64::from_be_bytes(head[8..16].try_into().expect("8 bytes")),
        };
        let index = u32_at(16);
        let siblings = head[20] as usize;
        if siblings > MAX_PROOF {
            return Err(DaError::Malformed("shard proof too long"));
        }
        let rest = &bytes[21..];
        if rest.len() < 32 * siblings {
            return Err(DaError::Malformed("truncated shard proof"));
        }
        let (proof, data) = rest.split_at(32 * siblings);
        Ok(Shard {
            index,
            params,
            bytes: data.to_vec(),
            proof: proof
                .chunks_exact(32)
                .map(|c| c.try_into().expect("32 bytes"))
                .collect(),
        })
    }
}

/// A payload, encoded: its commitment and every shard.
#[derive(Debug, Clone)]
pub struct Encoded {
    params: Params,
    commitment: Hash,
    shards: Vec<Vec<u8>>,
    tree: Tree,
}

impl Encoded {
    /// The commitment a header carries.
    pub fn commitment(&self) -> Hash {
        self.commitment
    }

    /// The parameters.
    pub fn params(&self) -> Params {
        self.params
    }

    /// Shard `index` with its proof.
    pub fn shard(&self, index: u32) -> Option<Shard> {
        let bytes = self.shards.get(index as usize)?.clone();
        Some(Shard {
            index,
            params: self.params,
            bytes,
            proof: self.tree.proof(index),
        })
    }
}

/// Encodes `payload` for the committee of `assignment`.
pub fn encode(payload: &[u8], assignment: &Assignment) -> Result<Encoded, DaError> {
    let params = Params::new(assignment, payload.len() as u64);
    let size = params.shard_bytes();
    let k = params.original as usize;
    let mut shards: Vec<Vec<u8>> = Vec::with_capacity(params.total as usize);
    for i in 0..k {
        let start = (i * size).min(payload.len());
        let end = ((i + 1) * size).min(payload.len());
        let mut shard = Vec::with_capacity(size);
        shard.extend_from_slice(&payload[start..end]);
        shard.resize(size, 0);
        shards.push(shard);
    }
    let recovery = params.total as usize - k;
    if recovery > 0 {
        let extra = reed_solomon_simd::encode(k, recovery, &shards).map_err(DaError::Code)?;
        shards.extend(extra);
    }
    let leaves = shards
        .iter()
        .enumerate()
        .map(|(i, s)| merkle::leaf(i as u32, s))
        .collect();
    let tree = Tree::new(leaves);
    Ok(Encoded {
        commitment: params.commitment(&tree.root()),
        params,
        shards,
        tree,
    })
}

/// The commitment to `payload` (what a validator recomputes before voting).
pub fn commitment(payload: &[u8], assignment: &Assignment) -> Result<Hash, DaError> {
    Ok(encode(payload, assignment)?.commitment())
}

/// Rebuilds the payload from shards already checked against its commitment (all with
/// the same parameters); needs `k` distinct ones.
pub fn rebuild(shards: &[Shard]) -> Result<Vec<u8>, DaError> {
    let Some(first) = shards.first() else {
        return Err(DaError::TooFewShards { have: 0, need: 1 });
    };
    let params = first.params;
    let k = params.original as usize;
    let mut originals: BTreeMap<usize, &[u8]> = BTreeMap::new();
    let mut recovery: BTreeMap<usize, &[u8]> = BTreeMap::new();
    for s in shards {
        if s.params != params {
            return Err(DaError::Malformed("shards of different encodings"));
        }
        let i = s.index as usize;
        if i < k {
            originals.insert(i, &s.bytes);
        } else {
            recovery.insert(i - k, &s.bytes);
        }
    }
    let have = originals.len() + recovery.len();
    if have < k {
        return Err(DaError::TooFewShards { have, need: k });
    }
    let mut restored = BTreeMap::new();
    if originals.len() < k {
        restored = reed_solomon_simd::decode(
            k,
            params.total as usize - k,
            originals.iter().map(|(i, s)| (*i, *s)),
            recovery.iter().map(|(i, s)| (*i, *s)),
        )
        .map_err(DaError::Code)?
        .into_iter()
        .collect();
    }
    let mut out = Vec::with_capacity(k * params.shard_bytes());
    for i in 0..k {
        match originals.get(&i) {
            Some(s) => out.extend_from_slice(s),
            None => out.extend_from_slice(
                restored
                    .get(&i)
                    .ok_or(DaError::Malformed("the code did not restore a shard"))?,
            ),
        }
    }
    out.truncate(params.len as usize);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn any_k_verified_shards_rebuild_the_payload_byte_for_byte() {
        let assignment = Assignment::new(&[10, 20, 30, 40, 50, 60, 70]);
        for len in [0, 1, 2, 1_000, 65_537] {
            let data = payload(len);
            let encoded = encode(&data, &assignment).unwrap();
            let c = encoded.commitment();
            let all: Vec<Shard> = (0..assignment.total())
                .map(|i| encoded.shard(i).unwrap())
                .collect();
            assert!(all.iter().all(|s| s.verify(&c)));
            let k = assignment.original() as usize;
            // The last k (mostly recovery shards), every other one, the first k.
            let tail: Vec<Shard> = all[all.len() - k..].to_vec();
            let spread: Vec<Shard> = all.iter().step_by(2).take(k).cloned().collect();
            for set in [tail, spread, all[..k].to_vec()] {
                assert_eq!(rebuild(&set).unwrap(), data, "len {len}");
            }
            assert!(matches!(
                rebuild(&all[..k - 1]),
                Err(DaError::TooFewShards { .. })
            ));
        }
    }

    #[test]
    fn a_shard_that_is_not_the_committed_one_does_not_verify() {
        let assignment = Assignment::new(&[1; 4]);
        let encoded = encode(&payload(5_000), &assignment).unwrap();
        let c = encoded.commitment();
        let good = encoded.shard(3).unwrap();
        let mut flipped = good.clone();
        flipped.bytes[7] ^= 1;
        let mut moved = good.clone();
        moved.index = 4;
        let mut longer = good.clone();
        longer.params.len += 1;
        let mut fewer = good.clone();
        fewer.params.original -= 1;
        let mut none = good.clone();
        none.params.original = 0;
        for bad in [flipped, moved, longer, fewer, none] {
            assert!(!bad.verify(&c));
        }
        assert!(good.verify(&c));
        let other = encode(&payload(5_001), &assignment).unwrap().commitment();
        assert!(!good.verify(&other));
    }

    #[test]
    fn a_shard_survives_its_encoding_and_garbage_is_an_error() {
        let encoded = encode(&payload(3_000), &Assignment::new(&[1; 7])).unwrap();
        let shard = encoded.shard(5).unwrap();
        let bytes = shard.encode();
        assert_eq!(Shard::decode(&bytes).unwrap(), shard);
        for cut in 0..21 + 32 * shard.proof.len() {
            assert!(Shard::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long_proof = bytes.clone();
        long_proof[20] = 200;
        assert!(Shard::decode(&long_proof).is_err());
    }

    #[test]
    fn the_commitment_depends_on_every_byte_and_on_the_committee() {
        let a = Assignment::new(&[1; 4]);
        let data = payload(10_000);
        let c = commitment(&data, &a).unwrap();
        let mut changed = data.clone();
        changed[9_999] ^= 1;
        assert_ne!(commitment(&changed, &a).unwrap(), c);
        assert_ne!(commitment(&data, &Assignment::new(&[1; 5])).unwrap(), c);
        assert_eq!(commitment(&data, &a).unwrap(), c);
    }
}
