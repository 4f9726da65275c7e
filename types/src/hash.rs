//! 32-byte hashes, keccak256, and the static subset of Solidity's `abi.encode`.
//!
//! Everything that L1 or a light client checks is hashed with keccak256 over an
//! `abi.encode` layout (`docs/protocol.md` §2), so a contract can recompute it with one
//! `keccak256(abi.encode(...))` expression.

use std::fmt;

use sha3::{Digest, Keccak256};

/// A 32-byte digest (keccak256 unless stated otherwise).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash, used for "no value" fields such as an absent DA commitment.
    pub const ZERO: Hash = Hash([0; 32]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A `uint64` placed in a 32-byte word, big-endian, as `bytes32(uint256(x))`.
    pub fn from_u64(value: u64) -> Hash {
        let mut out = [0u8; 32];
        out[24..].copy_from_slice(&value.to_be_bytes());
        Hash(out)
    }

    /// Lowercase hex with a `0x` prefix.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// The first four bytes as hex, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}…", self.short())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> Hash {
    Hash(Keccak256::digest(data).into())
}

/// Builds the `abi.encode` of static values: every value takes one 32-byte word.
///
/// Only static types are supported (uint, address, bytes32), which is all the signed
/// and hashed layouts of the protocol use.
#[derive(Debug, Default, Clone)]
pub struct AbiWriter {
    buf: Vec<u8>,
}

impl AbiWriter {
    /// A writer with room for `words` words.
    pub fn with_words(words: usize) -> Self {
        AbiWriter {
            buf: Vec::with_capacity(words * 32),
        }
    }

    /// Appends a `bytes32`.
    pub fn bytes32(mut self, value: &Hash) -> Self {
        self.buf.extend_from_slice(&value.0);
        self
    }

    /// Appends a `uint` (any width up to 64 bits), left-padded.
    pub fn uint(self, value: u64) -> Self {
        self.bytes32(&Hash::from_u64(value))
    }

    /// Appends an `address`, left-padded.
    pub fn address(mut self, value: &[u8; 20]) -> Self {
        self.buf.extend_from_slice(&[0u8; 12]);
        self.buf.extend_from_slice(value);
        self
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// keccak256 of the encoded bytes.
    pub fn keccak(self) -> Hash {
        keccak256(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_empty_input_matches_the_known_constant() {
        assert_eq!(
            keccak256(b"").to_hex(),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn abi_words_are_left_padded_big_endian() {
        let bytes = AbiWriter::default()
            .uint(0x0102)
            .address(&[0xaa; 20])
            .finish();
        assert_eq!(bytes.len(), 64);
        assert_eq!(&bytes[..30], &[0u8; 30]);
        assert_eq!(&bytes[30..32], &[1, 2]);
        assert_eq!(&bytes[32..44], &[0u8; 12]);
        assert_eq!(&bytes[44..64], &[0xaa; 20]);
    }
}
