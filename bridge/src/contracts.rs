//! Rust bindings of the deployed contracts, generated from the committed artifacts
//! (`bridge/artifacts/*.json`, written by `scripts/compile-contracts`), and the
//! conversions between Synod's types and the contracts' ABI types.

#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::too_many_arguments
)]

use alloy::primitives::{Address, Bytes, FixedBytes};
use alloy::sol;
use synod_types::eip2537::{self, EncodingError};
use synod_types::{Hash, Header, PublicKey, Signature};

sol!(
    #[sol(rpc, all_derives)]
    StakeTable,
    "artifacts/StakeTable.json"
);

sol!(
    #[sol(rpc, all_derives)]
    Bridge,
    "artifacts/Bridge.json"
);

/// A Synod header as the bridge's ABI takes it.
pub fn abi_header(h: &Header) -> Bridge::Header {
    Bridge::Header {
        parent: FixedBytes(h.parent.0),
        height: h.height,
        view_: h.view,
        epoch: h.epoch,
        payloadDigest: FixedBytes(h.payload_digest.0),
        daCommitment: FixedBytes(h.da_commitment.0),
        timestampMs: h.timestamp_ms,
        proposer: h.proposer,
    }
}

/// A BLS public key in the EIP-2537 encoding the contracts take.
pub fn abi_key(key: &PublicKey) -> Result<Bytes, EncodingError> {
    eip2537::g1_to_eip2537(key).map(|k| Bytes::copy_from_slice(&k))
}

/// A BLS signature in the EIP-2537 encoding the contracts take.
pub fn abi_signature(signature: &Signature) -> Result<Bytes, EncodingError> {
    eip2537::g2_to_eip2537(signature).map(|s| Bytes::copy_from_slice(&s))
}

/// A key read from L1 (EIP-2537 G1), back in Synod's encoding.
pub fn key_from_abi(bytes: &[u8]) -> Result<PublicKey, EncodingError> {
    eip2537::g1_from_eip2537(bytes)
}

/// A 32-byte hash as the ABI's `bytes32`.
pub fn abi_hash(hash: &Hash) -> FixedBytes<32> {
    FixedBytes(hash.0)
}

/// The 20 bytes of an address.
pub fn address_bytes(address: &Address) -> [u8; 20] {
    address.0 .0
}
