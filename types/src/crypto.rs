//! Signing keys, signatures and aggregation (`docs/protocol.md` §2).
//!
//! On the wire a public key is always 48 bytes and a signature 96 bytes: the compressed
//! encodings of BLS12-381 min_pk (keys in G1, signatures in G2). Two schemes sit behind
//! those bytes:
//!
//! - [`Scheme::Bls`]: the real thing, through `blst`, with hash-to-curve under
//!   [`SIG_DST`] and proofs of possession under [`POP_DST`].
//! - [`Scheme::Sim`]: a keyed hash for the deterministic simulator. A "signature" is
//!   `keccak256(tag ‖ public key ‖ message)` and aggregation is addition modulo 2^256.
//!   It models valid and invalid signatures and their aggregation exactly, but anyone who
//!   knows a public key can compute it: it is **not** a signature scheme and is never
//!   accepted outside the simulator. It exists because a pairing costs about a
//!   millisecond and the simulator runs thousands of views per second.
//!
//! Every message that is signed is a 32-byte keccak256 digest (see `messages.rs`), so
//! the same digest can be hashed to G2 on L1.

use std::fmt;

use blst::min_pk as bls;
use blst::BLST_ERROR;
use thiserror::Error;

use crate::hash::{keccak256, Hash};

/// Domain separation tag of consensus signatures (the IETF "proof of possession" ciphersuite).
pub const SIG_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// Domain separation tag of proofs of possession.
pub const POP_DST: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// Length of a compressed public key (G1).
pub const PUBLIC_KEY_LEN: usize = 48;
/// Length of a compressed signature (G2).
pub const SIGNATURE_LEN: usize = 96;

const SIM_TAG: &[u8] = b"synod-sim-signature-v1";

/// Errors from key handling and aggregation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The bytes are not a valid point of the expected group.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    /// The bytes are not a valid signature point.
    #[error("invalid signature encoding: {0}")]
    InvalidSignature(&'static str),
    /// Secret key material is unusable.
    #[error("invalid secret key: {0}")]
    InvalidSecretKey(&'static str),
    /// Nothing to aggregate.
    #[error("cannot aggregate an empty set of signatures")]
    EmptyAggregate,
}

fn bls_error(err: BLST_ERROR) -> &'static str {
    match err {
        BLST_ERROR::BLST_SUCCESS => "success",
        BLST_ERROR::BLST_BAD_ENCODING => "bad encoding",
        BLST_ERROR::BLST_POINT_NOT_ON_CURVE => "point not on curve",
        BLST_ERROR::BLST_POINT_NOT_IN_GROUP => "point not in the prime-order subgroup",
        BLST_ERROR::BLST_AGGR_TYPE_MISMATCH => "aggregate type mismatch",
        BLST_ERROR::BLST_VERIFY_FAIL => "verification failed",
        BLST_ERROR::BLST_PK_IS_INFINITY => "point at infinity",
        BLST_ERROR::BLST_BAD_SCALAR => "bad scalar",
    }
}

/// Which signature scheme a committee uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// BLS12-381 min_pk through blst.
    Bls,
    /// The simulator's insecure keyed hash (see the module doc).
    Sim,
}

/// A compressed public key (48 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// keccak256 of the key bytes, a short stable identifier.
    pub fn id(&self) -> Hash {
        keccak256(&self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pk:{}", hex::encode(&self.0[..6]))
    }
}

/// A compressed signature or aggregate signature (96 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl Signature {
    /// A signature of all zero bytes: never valid in either scheme.
    pub const EMPTY: Signature = Signature([0; SIGNATURE_LEN]);
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sig:{}", hex::encode(&self.0[..6]))
    }
}

/// A secret signing key.
#[derive(Clone)]
pub struct SecretKey {
    inner: SecretInner,
    public: PublicKey,
}

#[derive(Clone)]
enum SecretInner {
    Bls(bls::SecretKey),
    Sim,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({:?})", self.public)
    }
}

impl SecretKey {
    /// Derives a BLS key from at least 32 bytes of key material (EIP-2333 `KeyGen`).
    pub fn bls_from_ikm(ikm: &[u8]) -> Result<SecretKey, CryptoError> {
        let sk = bls::SecretKey::key_gen(ikm, &[])
            .map_err(|_| CryptoError::InvalidSecretKey("key material shorter than 32 bytes"))?;
        Ok(Self::from_bls(sk))
    }

    /// A BLS key from its 32-byte big-endian scalar.
    pub fn bls_from_bytes(bytes: &[u8; 32]) -> Result<SecretKey, CryptoError> {
        let sk = bls::SecretKey::from_bytes(bytes).map_err(|_| {
            CryptoError::InvalidSecretKey("scalar is zero or not below the group order")
        })?;
        Ok(Self::from_bls(sk))
    }

    fn from_bls(sk: bls::SecretKey) -> SecretKey {
        let public = PublicKey(sk.sk_to_pk().compress());
        SecretKey {
            inner: SecretInner::Bls(sk),
            public,
        }
    }

    /// A simulator key derived from `seed` (see the module doc: not secure).
    pub fn sim(seed: u64) -> SecretKey {
        let digest = keccak256(&[SIM_TAG, &seed.to_be_bytes()].concat());
        let mut public = [0u8; PUBLIC_KEY_LEN];
        public[..32].copy_from_slice(&digest.0);
        public[32..40].copy_from_slice(&seed.to_be_bytes());
        SecretKey {
            inner: SecretInner::Sim,
            public: PublicKey(public),
        }
    }

    /// The BLS scalar, big-endian, for keystores. `None` for simulator keys.
    pub fn bls_bytes(&self) -> Option<[u8; 32]> {
        match &self.inner {
            SecretInner::Bls(sk) => Some(sk.to_bytes()),
            SecretInner::Sim => None,
        }
    }

    /// The scheme of this key.
    pub fn scheme(&self) -> Scheme {
        match self.inner {
            SecretInner::Bls(_) => Scheme::Bls,
            SecretInner::Sim => Scheme::Sim,
        }
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs a 32-byte message digest.
    pub fn sign(&self, message: &Hash) -> Signature {
        match &self.inner {
            SecretInner::Bls(sk) => Signature(sk.sign(&message.0, SIG_DST, &[]).compress()),
            SecretInner::Sim => sim_signature(&self.public, message),
        }
    }

    /// Signs `message` under the proof-of-possession domain (`POP_DST`), never a
    /// consensus signature: [`crate::eip2537::prove_possession`] says what is signed.
    pub fn sign_possession(&self, message: &Hash) -> Signature {
        match &self.inner {
            SecretInner::Bls(sk) => Signature(sk.sign(&message.0, POP_DST, &[]).compress()),
            SecretInner::Sim => sim_signature(&self.public, message),
        }
    }
}

fn sim_signature(public: &PublicKey, message: &Hash) -> Signature {
    let digest = keccak256(&[SIM_TAG, &public.0, &message.0].concat());
    let mut out = [0u8; SIGNATURE_LEN];
    out[..32].copy_from_slice(&digest.0);
    Signature(out)
}

/// Adds two simulator signatures (the first 32 bytes as little-endian integers, mod 2^256).
fn sim_add(acc: &mut [u8; SIGNATURE_LEN], other: &Signature) {
    let mut carry = 0u16;
    for (a, b) in acc[..32].iter_mut().zip(&other.0[..32]) {
        let sum = *a as u16 + *b as u16 + carry;
        *a = sum as u8;
        carry = sum >> 8;
    }
}

/// A public key checked and decoded once, ready for verification.
#[derive(Clone)]
pub struct VerifyingKey {
    public: PublicKey,
    inner: VerifyingInner,
}

#[derive(Clone)]
enum VerifyingInner {
    Bls(bls::PublicKey),
    Sim,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({:?})", self.public)
    }
}

impl VerifyingKey {
    /// Decodes and validates a public key: for BLS it must be on the curve, in the
    /// prime-order subgroup and not the point at infinity.
    pub fn new(scheme: Scheme, public: &PublicKey) -> Result<VerifyingKey, CryptoError> {
        let inner = match scheme {
            Scheme::Bls => VerifyingInner::Bls(
                bls::PublicKey::key_validate(&public.0)
                    .map_err(|e| CryptoError::InvalidPublicKey(bls_error(e)))?,
            ),
            Scheme::Sim => VerifyingInner::Sim,
        };
        Ok(VerifyingKey {
            public: *public,
            inner,
        })
    }

    /// The public key bytes.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Verifies one signature over a 32-byte digest.
    pub fn verify(&self, message: &Hash, signature: &Signature) -> bool {
        match &self.inner {
            VerifyingInner::Bls(pk) => verify_bls(pk, message, signature, SIG_DST),
            VerifyingInner::Sim => sim_signature(&self.public, message) == *signature,
        }
    }

    /// Verifies a signature made by [`SecretKey::sign_possession`] over `message`.
    pub fn verify_possession(&self, pop: &Signature, message: &Hash) -> bool {
        match &self.inner {
            VerifyingInner::Bls(pk) => verify_bls(pk, message, pop, POP_DST),
            VerifyingInner::Sim => sim_signature(&self.public, message) == *pop,
        }
    }
}

fn verify_bls(pk: &bls::PublicKey, message: &Hash, signature: &Signature, dst: &[u8]) -> bool {
    match bls::Signature::from_bytes(&signature.0) {
        Ok(sig) => sig.verify(true, &message.0, dst, &[], pk, false) == BLST_ERROR::BLST_SUCCESS,
        Err(_) => false,
    }
}

/// Aggregates signatures (BLS: point addition in G2; Sim: addition mod 2^256).
///
/// Fails on an empty set or on bytes that are not a G2 point; it does not verify.
pub fn aggregate_signatures<'a>(
    scheme: Scheme,
    signatures: impl IntoIterator<Item = &'a Signature>,
) -> Result<Signature, CryptoError> {
    let mut iter = signatures.into_iter().peekable();
    if iter.peek().is_none() {
        return Err(CryptoError::EmptyAggregate);
    }
    match scheme {
        Scheme::Bls => {
            let mut acc: Option<bls::AggregateSignature> = None;
            for signature in iter {
                let sig = bls::Signature::from_bytes(&signature.0)
                    .map_err(|e| CryptoError::InvalidSignature(bls_error(e)))?;
                match acc.as_mut() {
                    None => acc = Some(bls::AggregateSignature::from_signature(&sig)),
                    Some(agg) => agg
                        .add_signature(&sig, false)
                        .map_err(|e| CryptoError::InvalidSignature(bls_error(e)))?,
                }
            }
            let agg = acc.ok_or(CryptoError::EmptyAggregate)?;
            Ok(Signature(agg.to_signature().compress()))
        }
        Scheme::Sim => {
            let mut acc = [0u8; SIGNATURE_LEN];
            for signature in iter {
                sim_add(&mut acc, signature);
            }
            Ok(Signature(acc))
        }
    }
}

/// Verifies an aggregate of signatures by `keys` over one `message` (fast aggregate
/// verification: the keys are summed, then one pairing check). The keys must have had
/// their proofs of possession checked, as committee keys do.
pub fn verify_aggregate(keys: &[&VerifyingKey], message: &Hash, signature: &Signature) -> bool {
    verify_aggregate_multi(&[(keys.to_vec(), *message)], signature)
}

/// Verifies an aggregate over several messages, each signed by a group of keys: one
/// aggregated key per distinct message, one Miller loop per group and a single final
/// exponentiation. Used for timeout certificates, whose signers sign their own highest
/// certificate view.
pub fn verify_aggregate_multi(
    groups: &[(Vec<&VerifyingKey>, Hash)],
    signature: &Signature,
) -> bool {
    if groups.is_empty() || groups.iter().any(|(keys, _)| keys.is_empty()) {
        return false;
    }
    let first = groups[0].0[0];
    match &first.inner {
        VerifyingInner::Sim => {
            let mut acc = [0u8; SIGNATURE_LEN];
            for (keys, message) in groups {
                for key in keys {
                    sim_add(&mut acc, &sim_signature(&key.public, message));
                }
            }
            acc == signature.0
        }
        VerifyingInner::Bls(_) => {
            let Ok(sig) = bls::Signature::from_bytes(&signature.0) else {
                return false;
            };
            let mut aggregated = Vec::with_capacity(groups.len());
            for (keys, _) in groups {
                let mut bls_keys = Vec::with_capacity(keys.len());
                for key in keys {
                    match &key.inner {
                        VerifyingInner::Bls(pk) => bls_keys.push(pk),
                        VerifyingInner::Sim => return false,
                    }
                }
                match bls::AggregatePublicKey::aggregate(&bls_keys, false) {
                    Ok(agg) => aggregated.push(agg.to_public_key()),
                    Err(_) => return false,
                }
            }
            let messages: Vec<&[u8]> = groups.iter().map(|(_, m)| &m.0[..]).collect();
            let key_refs: Vec<&bls::PublicKey> = aggregated.iter().collect();
            sig.aggregate_verify(true, &messages, SIG_DST, &key_refs, false)
                == BLST_ERROR::BLST_SUCCESS
        }
    }
}

/// Verifies several signatures (each an aggregate by a group of keys over one message)
/// at once: each is weighted by a fresh random 64-bit scalar, so a batch in which any
/// item is invalid fails except with probability 2^-64, and the cost is one Miller loop
/// per item plus one final exponentiation instead of a full pairing check per item.
/// An empty batch verifies; an empty key group does not.
pub fn verify_batch(items: &[(Vec<&VerifyingKey>, Hash, Signature)]) -> bool {
    if items.iter().any(|(keys, _, _)| keys.is_empty()) {
        return false;
    }
    match items {
        [] => return true,
        [(keys, message, signature)] => return verify_aggregate(keys, message, signature),
        _ => {}
    }
    if items
        .iter()
        .any(|(keys, _, _)| keys.iter().any(|k| matches!(k.inner, VerifyingInner::Sim)))
    {
        return items
            .iter()
            .all(|(keys, message, signature)| verify_aggregate(keys, message, signature));
    }
    let mut keys = Vec::with_capacity(items.len());
    let mut signatures = Vec::with_capacity(items.len());
    for (group, _, signature) in items {
        let members: Vec<&bls::PublicKey> = group
            .iter()
            .filter_map(|k| match &k.inner {
                VerifyingInner::Bls(pk) => Some(pk),
                VerifyingInner::Sim => None,
            })
            .collect();
        match bls::AggregatePublicKey::aggregate(&members, false) {
            Ok(agg) => keys.push(agg.to_public_key()),
            Err(_) => return false,
        }
        match bls::Signature::from_bytes(&signature.0) {
            Ok(sig) => signatures.push(sig),
            Err(_) => return false,
        }
    }
    let mut rng = rand::thread_rng();
    let rands: Vec<blst::blst_scalar> = items
        .iter()
        .map(|_| {
            let mut b = [0u8; 32];
            // Non-zero 64-bit weights (little-endian scalar).
            let r = rand::Rng::gen_range(&mut rng, 1..=u64::MAX);
            b[..8].copy_from_slice(&r.to_le_bytes());
            blst::blst_scalar { b }
        })
        .collect();
    let messages: Vec<&[u8]> = items.iter().map(|(_, m, _)| &m.0[..]).collect();
    let key_refs: Vec<&bls::PublicKey> = keys.iter().collect();
    let sig_refs: Vec<&bls::Signature> = signatures.iter().collect();
    bls::Signature::verify_multiple_aggregate_signatures(
        &messages, SIG_DST, &key_refs, false, &sig_refs, true, &rands, 64,
    ) == BLST_ERROR::BLST_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bls_key(i: u8) -> SecretKey {
        SecretKey::bls_from_ikm(&[i; 32]).expect("32 bytes of key material")
    }

    #[test]
    fn batch_verification_accepts_valid_batches_and_rejects_any_bad_item() {
        let keys: Vec<SecretKey> = (1..=4).map(bls_key).collect();
        let vks: Vec<VerifyingKey> = keys
            .iter()
            .map(|k| VerifyingKey::new(Scheme::Bls, &k.public_key()).unwrap())
            .collect();
        let m1 = keccak256(b"proposal");
        let m2 = keccak256(b"qc");
        let agg =
            aggregate_signatures(Scheme::Bls, &[keys[1].sign(&m2), keys[2].sign(&m2)]).unwrap();
        let good = vec![
            (vec![&vks[0]], m1, keys[0].sign(&m1)),
            (vec![&vks[1], &vks[2]], m2, agg),
        ];
        assert!(verify_batch(&good));
        // One signature moved between items: the sum is unchanged, the batch must fail.
        let mut split = good.clone();
        split[0].2 = keys[3].sign(&m1);
        assert!(!verify_batch(&split));
        let mut wrong_signers = good.clone();
        wrong_signers[1].0 = vec![&vks[1], &vks[3]];
        assert!(!verify_batch(&wrong_signers));
        assert!(verify_batch(&[]));
        assert!(!verify_batch(&[(vec![], m1, keys[0].sign(&m1))]));
    }

    #[test]
    fn bls_sign_verify_and_reject_wrong_message_or_key() {
        let sk = bls_key(1);
        let vk = VerifyingKey::new(Scheme::Bls, &sk.public_key()).unwrap();
        let msg = keccak256(b"block");
        let sig = sk.sign(&msg);
        assert!(vk.verify(&msg, &sig));
        assert!(!vk.verify(&keccak256(b"other"), &sig));
        let other = VerifyingKey::new(Scheme::Bls, &bls_key(2).public_key()).unwrap();
        assert!(!other.verify(&msg, &sig));
        assert!(!vk.verify(&msg, &Signature::EMPTY));
    }

    #[test]
    fn bls_aggregate_of_same_message_verifies_only_for_the_signers() {
        let keys: Vec<SecretKey> = (1..=4).map(bls_key).collect();
        let vks: Vec<VerifyingKey> = keys
            .iter()
            .map(|k| VerifyingKey::new(Scheme::Bls, &k.public_key()).unwrap())
            .collect();
        let msg = keccak256(b"m");
        let sigs: Vec<Signature> = keys[..3].iter().map(|k| k.sign(&msg)).collect();
        let agg = aggregate_signatures(Scheme::Bls, &sigs).unwrap();
        let signers: Vec<&VerifyingKey> = vks[..3].iter().collect();
        assert!(verify_aggregate(&signers, &msg, &agg));
        let wrong: Vec<&VerifyingKey> = vks[1..].iter().collect();
        assert!(!verify_aggregate(&wrong, &msg, &agg));
    }

    #[test]
    fn bls_multi_message_aggregate() {
        let keys: Vec<SecretKey> = (1..=3).map(bls_key).collect();
        let vks: Vec<VerifyingKey> = keys
            .iter()
            .map(|k| VerifyingKey::new(Scheme::Bls, &k.public_key()).unwrap())
            .collect();
        let (m1, m2) = (keccak256(b"1"), keccak256(b"2"));
        let sigs = [keys[0].sign(&m1), keys[1].sign(&m1), keys[2].sign(&m2)];
        let agg = aggregate_signatures(Scheme::Bls, &sigs).unwrap();
        let groups = vec![(vec![&vks[0], &vks[1]], m1), (vec![&vks[2]], m2)];
        assert!(verify_aggregate_multi(&groups, &agg));
        let swapped = vec![(vec![&vks[0], &vks[2]], m1), (vec![&vks[1]], m2)];
        assert!(!verify_aggregate_multi(&swapped, &agg));
    }

    #[test]
    fn invalid_public_keys_are_rejected() {
        assert!(VerifyingKey::new(Scheme::Bls, &PublicKey([0; 48])).is_err());
        let mut infinity = [0u8; 48];
        infinity[0] = 0xc0;
        assert!(VerifyingKey::new(Scheme::Bls, &PublicKey(infinity)).is_err());
        assert!(VerifyingKey::new(Scheme::Bls, &PublicKey([0xff; 48])).is_err());
    }

    #[test]
    fn sim_scheme_aggregates_and_rejects_tampering() {
        let keys: Vec<SecretKey> = (0..4).map(SecretKey::sim).collect();
        let vks: Vec<VerifyingKey> = keys
            .iter()
            .map(|k| VerifyingKey::new(Scheme::Sim, &k.public_key()).unwrap())
            .collect();
        let msg = keccak256(b"m");
        let sigs: Vec<Signature> = keys.iter().map(|k| k.sign(&msg)).collect();
        let agg = aggregate_signatures(Scheme::Sim, &sigs).unwrap();
        let all: Vec<&VerifyingKey> = vks.iter().collect();
        assert!(verify_aggregate(&all, &msg, &agg));
        assert!(!verify_aggregate(&all[..3], &msg, &agg));
        let mut bad = sigs.clone();
        bad[2].0[0] ^= 1;
        let agg = aggregate_signatures(Scheme::Sim, &bad).unwrap();
        assert!(!verify_aggregate(&all, &msg, &agg));
    }
}
