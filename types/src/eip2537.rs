//! Conversion between blst's point encodings and the EIP-2537 precompile layout.
//!
//! EIP-2537 (the BLS12-381 precompiles activated in Prague) encodes:
//! - an Fp element as 64 bytes: 16 zero bytes, then the 48-byte big-endian value;
//! - a G1 point as `x ‖ y` (128 bytes);
//! - an Fp2 element `c0 + c1·u` as `c0 ‖ c1` (128 bytes), a G2 point as `x ‖ y` (256 bytes);
//! - the point at infinity as all zeros.
//!
//! blst's uncompressed serialization is `x ‖ y` with 48-byte elements, Fp2 as `c1 ‖ c0`,
//! and flags in the top three bits of the first byte (0x40 marks infinity). The bridge
//! contract and the node use this module so the two layouts never drift apart.

use blst::min_pk as bls;
use thiserror::Error;

use crate::crypto::{PublicKey, SecretKey, Signature, VerifyingKey};
use crate::hash::{keccak256, AbiWriter, Hash};

/// An Fp element in EIP-2537 layout.
pub const FP_LEN: usize = 64;
/// A G1 point in EIP-2537 layout.
pub const G1_LEN: usize = 2 * FP_LEN;
/// A G2 point in EIP-2537 layout.
pub const G2_LEN: usize = 4 * FP_LEN;

const BLST_FP: usize = 48;
const INFINITY_FLAG: u8 = 0x40;

/// Why an encoding could not be converted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EncodingError {
    /// The input has the wrong length.
    #[error("expected {expected} bytes, got {got}")]
    Length {
        /// Required length.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// One of the 16 padding bytes of a 64-byte field element is not zero.
    #[error("field element padding is not zero")]
    Padding,
    /// The point is not on the curve or not in the subgroup.
    #[error("not a valid point: {0}")]
    Point(&'static str),
}

/// A G1 public key in EIP-2537 layout.
pub fn g1_to_eip2537(public_key: &PublicKey) -> Result<[u8; G1_LEN], EncodingError> {
    let point = bls::PublicKey::uncompress(&public_key.0)
        .map_err(|_| EncodingError::Point("public key does not decompress"))?;
    Ok(g1_serialized_to_eip2537(&point.serialize()))
}

/// A G2 signature in EIP-2537 layout.
pub fn g2_to_eip2537(signature: &Signature) -> Result<[u8; G2_LEN], EncodingError> {
    let point = bls::Signature::uncompress(&signature.0)
        .map_err(|_| EncodingError::Point("signature does not decompress"))?;
    Ok(g2_serialized_to_eip2537(&point.serialize()))
}

/// A public key from its EIP-2537 encoding (checked to be on the curve).
pub fn g1_from_eip2537(bytes: &[u8]) -> Result<PublicKey, EncodingError> {
    let serialized = g1_eip2537_to_serialized(bytes)?;
    let point = bls::PublicKey::deserialize(&serialized)
        .map_err(|_| EncodingError::Point("not a G1 point"))?;
    Ok(PublicKey(point.compress()))
}

/// A signature from its EIP-2537 encoding (checked to be on the curve).
pub fn g2_from_eip2537(bytes: &[u8]) -> Result<Signature, EncodingError> {
    let serialized = g2_eip2537_to_serialized(bytes)?;
    let point = bls::Signature::deserialize(&serialized)
        .map_err(|_| EncodingError::Point("not a G2 point"))?;
    Ok(Signature(point.compress()))
}

fn is_infinity(serialized: &[u8]) -> bool {
    serialized[0] & INFINITY_FLAG != 0
}

fn put_fp(out: &mut [u8], fp: &[u8]) {
    debug_assert_eq!(out.len(), FP_LEN);
    out[..FP_LEN - BLST_FP].fill(0);
    out[FP_LEN - BLST_FP..].copy_from_slice(fp);
}

fn take_fp(input: &[u8]) -> Result<&[u8], EncodingError> {
    if input[..FP_LEN - BLST_FP].iter().any(|b| *b != 0) {
        return Err(EncodingError::Padding);
    }
    Ok(&input[FP_LEN - BLST_FP..])
}

/// blst's 96-byte uncompressed G1 (`x ‖ y`) to EIP-2537's 128 bytes.
pub fn g1_serialized_to_eip2537(serialized: &[u8; 96]) -> [u8; G1_LEN] {
    let mut out = [0u8; G1_LEN];
    if is_infinity(serialized) {
        return out;
    }
    put_fp(&mut out[..FP_LEN], &serialized[..BLST_FP]);
    put_fp(&mut out[FP_LEN..], &serialized[BLST_FP..]);
    out
}

/// blst's 192-byte uncompressed G2 (`x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0`) to EIP-2537's 256 bytes
/// (`x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1`).
pub fn g2_serialized_to_eip2537(serialized: &[u8; 192]) -> [u8; G2_LEN] {
    let mut out = [0u8; G2_LEN];
    if is_infinity(serialized) {
        return out;
    }
    // (position in blst's layout, position in EIP-2537's layout)
    for (from, to) in [(1, 0), (0, 1), (3, 2), (2, 3)] {
        put_fp(
            &mut out[to * FP_LEN..(to + 1) * FP_LEN],
            &serialized[from * BLST_FP..(from + 1) * BLST_FP],
        );
    }
    out
}

/// EIP-2537's 128-byte G1 to blst's 96-byte uncompressed layout.
pub fn g1_eip2537_to_serialized(bytes: &[u8]) -> Result<[u8; 96], EncodingError> {
    if bytes.len() != G1_LEN {
        return Err(EncodingError::Length {
            expected: G1_LEN,
            got: bytes.len(),
        });
    }
    let mut out = [0u8; 96];
    if bytes.iter().all(|b| *b == 0) {
        out[0] = INFINITY_FLAG;
        return Ok(out);
    }
    out[..BLST_FP].copy_from_slice(take_fp(&bytes[..FP_LEN])?);
    out[BLST_FP..].copy_from_slice(take_fp(&bytes[FP_LEN..])?);
    Ok(out)
}

/// EIP-2537's 256-byte G2 to blst's 192-byte uncompressed layout.
pub fn g2_eip2537_to_serialized(bytes: &[u8]) -> Result<[u8; 192], EncodingError> {
    if bytes.len() != G2_LEN {
        return Err(EncodingError::Length {
            expected: G2_LEN,
            got: bytes.len(),
        });
    }
    let mut out = [0u8; 192];
    if bytes.iter().all(|b| *b == 0) {
        out[0] = INFINITY_FLAG;
        return Ok(out);
    }
    for (from, to) in [(0, 1), (1, 0), (2, 3), (3, 2)] {
        out[to * BLST_FP..(to + 1) * BLST_FP]
            .copy_from_slice(take_fp(&bytes[from * FP_LEN..(from + 1) * FP_LEN])?);
    }
    Ok(out)
}

/// The digest a proof of possession signs:
/// `keccak256(abi.encode(keccak256("SYNOD_POP_V1"), chain_id, address, keccak256(pk)))`
/// where `pk` is the key in its EIP-2537 encoding (128 bytes), as the StakeTable
/// contract receives it. (A simulation key, which is no curve point, is hashed as is.)
pub fn possession_message(public_key: &PublicKey, address: &[u8; 20], chain_id: u64) -> Hash {
    let key_hash = match g1_to_eip2537(public_key) {
        Ok(encoded) => keccak256(&encoded),
        Err(_) => public_key.id(),
    };
    AbiWriter::with_words(4)
        .bytes32(&keccak256(b"SYNOD_POP_V1"))
        .uint(chain_id)
        .address(address)
        .bytes32(&key_hash)
        .keccak()
}

/// A proof of possession binding `key` to an L1 `address` on `chain_id`
/// (`docs/protocol.md` §2), as the StakeTable checks it at registration.
pub fn prove_possession(key: &SecretKey, address: &[u8; 20], chain_id: u64) -> Signature {
    key.sign_possession(&possession_message(&key.public_key(), address, chain_id))
}

/// Verifies a proof made by [`prove_possession`].
pub fn verify_possession(
    key: &VerifyingKey,
    pop: &Signature,
    address: &[u8; 20],
    chain_id: u64,
) -> bool {
    key.verify_possession(
        pop,
        &possession_message(key.public_key(), address, chain_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::hash::keccak256;

    /// The G1 generator in EIP-2537 layout, as listed in the EIP.
    const G1_GENERATOR_X: &str = "17f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb";
    const G1_GENERATOR_Y: &str = "08b3f481e3aaa0f1a09e30ed741d8ae4fcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1";
    /// The G2 generator's x = c0 + c1·u (EIP-2537 lists c0 first).
    const G2_GENERATOR_X_C0: &str = "024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8";
    const G2_GENERATOR_X_C1: &str = "13e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e";

    fn padded(hex_fp: &str) -> Vec<u8> {
        let mut v = vec![0u8; 16];
        v.extend(hex::decode(hex_fp).unwrap());
        v
    }

    #[test]
    fn g1_generator_matches_the_eip_layout() {
        // Secret key 1 gives the generator as public key.
        let mut one = [0u8; 32];
        one[31] = 1;
        let pk = SecretKey::bls_from_bytes(&one).unwrap().public_key();
        let enc = g1_to_eip2537(&pk).unwrap();
        assert_eq!(&enc[..64], &padded(G1_GENERATOR_X)[..]);
        assert_eq!(&enc[64..], &padded(G1_GENERATOR_Y)[..]);
        assert_eq!(g1_from_eip2537(&enc).unwrap(), pk);
    }

    #[test]
    fn g2_generator_is_written_c0_first() {
        let generator = blst::min_pk::Signature::from_bytes(&{
            // blst's compressed G2 generator: x.c1 ‖ x.c0 with the compression flag.
            let mut c = [0u8; 96];
            c[..48].copy_from_slice(&hex::decode(G2_GENERATOR_X_C1).unwrap());
            c[48..].copy_from_slice(&hex::decode(G2_GENERATOR_X_C0).unwrap());
            c[0] |= 0x80;
            c
        })
        .expect("generator decompresses");
        let sig = Signature(generator.compress());
        let enc = g2_to_eip2537(&sig).unwrap();
        assert_eq!(&enc[..64], &padded(G2_GENERATOR_X_C0)[..]);
        assert_eq!(&enc[64..128], &padded(G2_GENERATOR_X_C1)[..]);
        assert_eq!(g2_from_eip2537(&enc).unwrap(), sig);
    }

    #[test]
    fn round_trips_random_keys_and_signatures() {
        for i in 0..20u8 {
            let sk = SecretKey::bls_from_ikm(&[i; 32]).unwrap();
            let pk = sk.public_key();
            let sig = sk.sign(&keccak256(&[i]));
            assert_eq!(g1_from_eip2537(&g1_to_eip2537(&pk).unwrap()).unwrap(), pk);
            assert_eq!(g2_from_eip2537(&g2_to_eip2537(&sig).unwrap()).unwrap(), sig);
        }
    }

    #[test]
    fn infinity_is_all_zeros_both_ways() {
        let mut inf_g1 = [0u8; 96];
        inf_g1[0] = INFINITY_FLAG;
        assert_eq!(g1_serialized_to_eip2537(&inf_g1), [0u8; G1_LEN]);
        assert_eq!(g1_eip2537_to_serialized(&[0u8; G1_LEN]).unwrap(), inf_g1);
        let mut inf_g2 = [0u8; 192];
        inf_g2[0] = INFINITY_FLAG;
        assert_eq!(g2_serialized_to_eip2537(&inf_g2), [0u8; G2_LEN]);
        assert_eq!(g2_eip2537_to_serialized(&[0u8; G2_LEN]).unwrap(), inf_g2);
    }

    #[test]
    fn malformed_inputs_are_rejected() {
        assert_eq!(
            g1_from_eip2537(&[1u8; 100]),
            Err(EncodingError::Length {
                expected: 128,
                got: 100
            })
        );
        let sk = SecretKey::bls_from_ikm(&[9; 32]).unwrap();
        let mut enc = g1_to_eip2537(&sk.public_key()).unwrap();
        enc[0] = 1;
        assert_eq!(g1_from_eip2537(&enc), Err(EncodingError::Padding));
        let mut enc = g1_to_eip2537(&sk.public_key()).unwrap();
        enc[127] ^= 1;
        assert!(matches!(
            g1_from_eip2537(&enc),
            Err(EncodingError::Point(_))
        ));
    }

    #[test]
    fn proof_of_possession_is_bound_to_address_and_chain() {
        let sk = SecretKey::bls_from_ikm(&[7; 32]).unwrap();
        let vk = VerifyingKey::new(crate::Scheme::Bls, &sk.public_key()).unwrap();
        let pop = prove_possession(&sk, &[1; 20], 31337);
        assert!(verify_possession(&vk, &pop, &[1; 20], 31337));
        assert!(!verify_possession(&vk, &pop, &[2; 20], 31337));
        assert!(!verify_possession(&vk, &pop, &[1; 20], 1));
        // A consensus signature over the same digest is not a proof of possession (DST).
        let digest = possession_message(&sk.public_key(), &[1; 20], 31337);
        assert!(!verify_possession(&vk, &sk.sign(&digest), &[1; 20], 31337));
    }
}
