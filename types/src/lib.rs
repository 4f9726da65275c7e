//! Synod's shared vocabulary: hashes, keys, committees, blocks, certificates and the
//! consensus messages.
//!
//! Every other crate speaks these types. This crate does no I/O and holds no state; it
//! defines what is hashed and signed, byte for byte, so that the node, the simulator and
//! the L1 contracts agree on it:
//!
//! - [`hash`]: keccak256 and the `abi.encode` layout of every hashed structure;
//! - [`crypto`]: BLS12-381 min_pk keys and signatures through `blst` (and the
//!   simulator's insecure stand-in), aggregation, proofs of possession;
//! - [`eip2537`]: the conversion to the L1 precompiles' point layout;
//! - [`committee`]: stakes, the quorum threshold, leader election, signer bitmaps;
//! - [`messages`]: headers, blocks, certificates, votes, timeouts, evidence;
//! - [`tx`]: transactions, batches and the payload digest;
//! - [`wire`]: bounded protobuf encodings of all of the above.
//!
//! Hashes and signatures never depend on the wire encoding: they cover the
//! `abi.encode` layouts only.

pub mod committee;
pub mod crypto;
pub mod eip2537;
pub mod hash;
pub mod messages;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tx;
pub mod wire;

pub use committee::{Committee, Member, QuorumRule, SignerBitmap, Stake};
pub use crypto::{PublicKey, Scheme, SecretKey, Signature, VerifyingKey};
pub use hash::{keccak256, Hash};
pub use messages::{
    block_payload_digest, Block, Certificate, CertificateError, CommitVote, Domain, Equivocation,
    FinalityCert, Header, Message, NextEpoch, Phase, Proposal, QuorumCert, SyncRequest,
    SyncResponse, TimeoutCert, TimeoutMsg, Vote,
};
pub use tx::{Batch, SealedBatch, Tx};
