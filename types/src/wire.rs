//! Protobuf encodings of everything that crosses the network or goes to disk
//! (`docs/wire.md` has the schema).
//!
//! Decoding is bounded: the input length is checked against [`Limits`], then a pass over
//! the raw bytes ([`scan`]) counts every repeated field against its bound and refuses
//! input whose decoded form would take more than [`scan::MAX_EXPANSION`] times its
//! length, all before the protobuf decoder allocates anything; then every field is
//! validated — fixed-length hashes, keys and signatures, signer bitmaps sized
//! for the committee, list lengths — before a domain type is built. Malformed input
//! yields a [`WireError`], never a panic.

use prost::Message as _;
use thiserror::Error;

use crate::committee::{Member, SignerBitmap};
use crate::crypto::{PublicKey, Signature, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::hash::Hash;
use crate::messages::{
    Block, Certificate, CommitVote, FinalityCert, Header, Message, NextEpoch, Proposal, QuorumCert,
    SyncRequest, SyncResponse, TimeoutCert, TimeoutMsg, Vote,
};
use crate::tx::{Batch, Tx};

/// The protobuf schema, as Rust types.
pub mod pb;
pub mod scan;

/// Bounds applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded input accepted.
    pub max_message_bytes: usize,
    /// Largest committee of any epoch: signer bitmaps have at most `ceil(n/8)` bytes
    /// (checked exactly against their epoch's committee when verified), member indices
    /// are below `n`.
    pub committee_size: usize,
    /// Most blocks in one sync response.
    pub max_sync_blocks: usize,
    /// Largest transaction payload.
    pub max_tx_bytes: usize,
    /// Most transactions in one batch.
    pub max_batch_txs: usize,
    /// Most batches one block orders.
    pub max_block_batches: usize,
}

impl Limits {
    /// Defaults for a committee of `committee_size` members: 4 MiB messages, 64 blocks
    /// per sync response, 128 KiB transactions, 65,536 transactions per batch, 1,024
    /// batches per block.
    pub fn new(committee_size: usize) -> Limits {
        Limits {
            max_message_bytes: 4 << 20,
            committee_size,
            max_sync_blocks: 64,
            max_tx_bytes: crate::tx::DEFAULT_MAX_TX_BYTES,
            max_batch_txs: 1 << 16,
            max_block_batches: 1 << 10,
        }
    }
}

/// Why bytes could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The input exceeds the size limit; it was not decoded.
    #[error("message of {got} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Input size.
        got: usize,
        /// Limit.
        max: usize,
    },
    /// Not valid protobuf for the expected type.
    #[error("malformed encoding: {0}")]
    Decode(String),
    /// A required field is absent.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A fixed-length field has the wrong length.
    #[error("field `{field}` must be {expected} bytes, got {got}")]
    Length {
        /// Field.
        field: &'static str,
        /// Required length.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A list or value exceeds its bound.
    #[error("field `{field}` holds {got}, the limit is {max}")]
    Bound {
        /// Field.
        field: &'static str,
        /// Value given.
        got: usize,
        /// Limit.
        max: usize,
    },
    /// A signer bitmap does not fit the committee.
    #[error(transparent)]
    Bitmap(#[from] crate::committee::BitmapError),
}

fn decode_pb<T: prost::Message + Default>(
    bytes: &[u8],
    shape: &scan::Desc,
    limits: &Limits,
) -> Result<T, WireError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(WireError::TooLarge {
            got: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    scan::check(bytes, shape, limits)?;
    T::decode(bytes).map_err(|e| WireError::Decode(e.to_string()))
}

fn hash(field: &'static str, bytes: &[u8]) -> Result<Hash, WireError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| WireError::Length {
        field,
        expected: 32,
        got: bytes.len(),
    })?;
    Ok(Hash(array))
}

fn signature(field: &'static str, bytes: &[u8]) -> Result<Signature, WireError> {
    let array: [u8; SIGNATURE_LEN] = bytes.try_into().map_err(|_| WireError::Length {
        field,
        expected: SIGNATURE_LEN,
        got: bytes.len(),
    })?;
    Ok(Signature(array))
}

fn member(field: &'static str, index: u32, limits: &Limits) -> Result<u32, WireError> {
    if index as usize >= limits.committee_size {
        return Err(WireError::Bound {
            field,
            got: index as usize,
            max: limits.committee_size.saturating_sub(1),
        });
    }
    Ok(index)
}

fn required<T>(field: &'static str, value: Option<T>) -> Result<T, WireError> {
    value.ok_or(WireError::Missing(field))
}

// ----- domain → protobuf -----

fn header_pb(h: &Header) -> pb::Header {
    pb::Header {
        parent: h.parent.0.to_vec(),
        height: h.height,
        view: h.view,
        epoch: h.epoch,
        payload_digest: h.payload_digest.0.to_vec(),
        da_commitment: h.da_commitment.0.to_vec(),
        timestamp_ms: h.timestamp_ms,
        proposer: h.proposer,
    }
}

fn cert_pb(c: &Certificate) -> pb::Certificate {
    pb::Certificate {
        epoch: c.epoch,
        view: c.view,
        block_hash: c.block_hash.0.to_vec(),
        signers: c.signers.as_bytes().to_vec(),
        signature: c.signature.0.to_vec(),
    }
}

fn block_pb(b: &Block) -> pb::Block {
    pb::Block {
        header: Some(header_pb(&b.header)),
        justify: Some(cert_pb(&b.justify.0)),
        payload: b.payload.iter().map(|h| h.0.to_vec()).collect(),
        next_epoch: b.next_epoch.as_ref().map(|n| pb::NextEpoch {
            epoch: n.epoch,
            l1_block: n.l1_block,
            keys: n.members.iter().map(|m| m.public_key.0.to_vec()).collect(),
            stakes: n.members.iter().map(|m| m.stake).collect(),
        }),
    }
}

fn tc_pb(tc: &TimeoutCert) -> pb::TimeoutCert {
    pb::TimeoutCert {
        epoch: tc.epoch,
        view: tc.view,
        signers: tc.signers.as_bytes().to_vec(),
        high_qc_views: tc.high_qc_views.clone(),
        signature: tc.signature.0.to_vec(),
        high_qc: Some(cert_pb(&tc.high_qc.0)),
    }
}

fn message_pb(m: &Message) -> pb::Envelope {
    let kind = match m {
        Message::Proposal(p) => pb::Kind::Proposal(pb::Proposal {
            block: Some(block_pb(&p.block)),
            timeout_cert: p.timeout_cert.as_ref().map(tc_pb),
            commit: p.commit.as_ref().map(|c| cert_pb(&c.0)),
            signature: p.signature.0.to_vec(),
        }),
        Message::Vote(v) => pb::Kind::Vote(pb::Vote {
            epoch: v.epoch,
            view: v.view,
            block_hash: v.block_hash.0.to_vec(),
            voter: v.voter,
            signature: v.signature.0.to_vec(),
            commit: v.commit.as_ref().map(|c| pb::CommitVote {
                view: c.view,
                block_hash: c.block_hash.0.to_vec(),
                signature: c.signature.0.to_vec(),
            }),
        }),
        Message::Timeout(t) => pb::Kind::Timeout(pb::Timeout {
            epoch: t.epoch,
            view: t.view,
            high_qc: Some(cert_pb(&t.high_qc.0)),
            last_tc: t.last_tc.as_deref().map(tc_pb),
            sender: t.sender,
            signature: t.signature.0.to_vec(),
        }),
        Message::SyncRequest(r) => pb::Kind::SyncRequest(pb::SyncRequest {
            block_hash: r.block_hash.0.to_vec(),
            max_blocks: r.max_blocks,
        }),
        Message::SyncResponse(r) => pb::Kind::SyncResponse(pb::SyncResponse {
            blocks: r.blocks.iter().map(block_pb).collect(),
        }),
    };
    pb::Envelope { kind: Some(kind) }
}

// ----- protobuf → domain, validated -----

fn header_from(p: pb::Header, limits: &Limits) -> Result<Header, WireError> {
    Ok(Header {
        parent: hash("header.parent", &p.parent)?,
        height: p.height,
        view: p.view,
        epoch: p.epoch,
        payload_digest: hash("header.payload_digest", &p.payload_digest)?,
        da_commitment: hash("header.da_commitment", &p.da_commitment)?,
        timestamp_ms: p.timestamp_ms,
        proposer: member("header.proposer", p.proposer, limits)?,
    })
}

fn cert_from(p: pb::Certificate, limits: &Limits) -> Result<Certificate, WireError> {
    Ok(Certificate {
        epoch: p.epoch,
        view: p.view,
        block_hash: hash("certificate.block_hash", &p.block_hash)?,
        signers: SignerBitmap::bounded(p.signers, limits.committee_size)?,
        signature: signature("certificate.signature", &p.signature)?,
    })
}

fn block_from(p: pb::Block, limits: &Limits) -> Result<Block, WireError> {
    let header = header_from(required("block.header", p.header)?, limits)?;
    let justify = QuorumCert(cert_from(required("block.justify", p.justify)?, limits)?);
    if p.payload.len() > limits.max_block_batches {
        return Err(WireError::Bound {
            field: "block.payload",
            got: p.payload.len(),
            max: limits.max_block_batches,
        });
    }
    let payload = p
        .payload
        .iter()
        .map(|h| hash("block.payload", h))
        .collect::<Result<_, _>>()?;
    let next_epoch = p
        .next_epoch
        .map(|n| next_epoch_from(n, limits))
        .transpose()?;
    Ok(Block::ending_epoch(header, justify, payload, next_epoch))
}

fn next_epoch_from(p: pb::NextEpoch, limits: &Limits) -> Result<NextEpoch, WireError> {
    if p.keys.len() > limits.committee_size || p.keys.is_empty() {
        return Err(WireError::Bound {
            field: "block.next_epoch.keys",
            got: p.keys.len(),
            max: limits.committee_size,
        });
    }
    if p.stakes.len() != p.keys.len() {
        return Err(WireError::Bound {
            field: "block.next_epoch.stakes",
            got: p.stakes.len(),
            max: p.keys.len(),
        });
    }
    let members = p
        .keys
        .iter()
        .zip(p.stakes)
        .map(|(key, stake)| {
            let array: [u8; PUBLIC_KEY_LEN] =
                key.as_slice().try_into().map_err(|_| WireError::Length {
                    field: "block.next_epoch.keys",
                    expected: PUBLIC_KEY_LEN,
                    got: key.len(),
                })?;
            Ok(Member {
                public_key: PublicKey(array),
                stake,
            })
        })
        .collect::<Result<_, WireError>>()?;
    Ok(NextEpoch {
        epoch: p.epoch,
        l1_block: p.l1_block,
        members,
    })
}

fn tc_from(p: pb::TimeoutCert, limits: &Limits) -> Result<TimeoutCert, WireError> {
    if p.high_qc_views.len() > limits.committee_size {
        return Err(WireError::Bound {
            field: "timeout_cert.high_qc_views",
            got: p.high_qc_views.len(),
            max: limits.committee_size,
        });
    }
    Ok(TimeoutCert {
        epoch: p.epoch,
        view: p.view,
        signers: SignerBitmap::bounded(p.signers, limits.committee_size)?,
        high_qc_views: p.high_qc_views,
        signature: signature("timeout_cert.signature", &p.signature)?,
        high_qc: QuorumCert(cert_from(
            required("timeout_cert.high_qc", p.high_qc)?,
            limits,
        )?),
    })
}

fn message_from(p: pb::Envelope, limits: &Limits) -> Result<Message, WireError> {
    Ok(match required("kind", p.kind)? {
        pb::Kind::Proposal(p) => Message::Proposal(Proposal {
            block: block_from(required("proposal.block", p.block)?, limits)?,
            timeout_cert: p.timeout_cert.map(|t| tc_from(t, limits)).transpose()?,
            commit: p
                .commit
                .map(|c| cert_from(c, limits).map(FinalityCert))
                .transpose()?,
            signature: signature("proposal.signature", &p.signature)?,
        }),
        pb::Kind::Vote(v) => Message::Vote(Vote {
            epoch: v.epoch,
            view: v.view,
            block_hash: hash("vote.block_hash", &v.block_hash)?,
            voter: member("vote.voter", v.voter, limits)?,
            signature: signature("vote.signature", &v.signature)?,
            commit: v
                .commit
                .map(|c| -> Result<CommitVote, WireError> {
                    Ok(CommitVote {
                        view: c.view,
                        block_hash: hash("vote.commit.block_hash", &c.block_hash)?,
                        signature: signature("vote.commit.signature", &c.signature)?,
                    })
                })
                .transpose()?,
        }),
        pb::Kind::Timeout(t) => Message::Timeout(TimeoutMsg {
            epoch: t.epoch,
            view: t.view,
            high_qc: QuorumCert(cert_from(required("timeout.high_qc", t.high_qc)?, limits)?),
            last_tc: t
                .last_tc
                .map(|tc| tc_from(tc, limits).map(Box::new))
                .transpose()?,
            sender: member("timeout.sender", t.sender, limits)?,
            signature: signature("timeout.signature", &t.signature)?,
        }),
        pb::Kind::SyncRequest(r) => Message::SyncRequest(SyncRequest {
            block_hash: hash("sync_request.block_hash", &r.block_hash)?,
            max_blocks: r.max_blocks,
        }),
        pb::Kind::SyncResponse(r) => {
            if r.blocks.len() > limits.max_sync_blocks {
                return Err(WireError::Bound {
                    field: "sync_response.blocks",
                    got: r.blocks.len(),
                    max: limits.max_sync_blocks,
                });
            }
            Message::SyncResponse(SyncResponse {
                blocks: r
                    .blocks
                    .into_iter()
                    .map(|b| block_from(b, limits))
                    .collect::<Result<_, _>>()?,
            })
        }
    })
}

/// Encodes a consensus message.
pub fn encode_message(message: &Message) -> Vec<u8> {
    message_pb(message).encode_to_vec()
}

/// Decodes and validates a consensus message.
pub fn decode_message(bytes: &[u8], limits: &Limits) -> Result<Message, WireError> {
    message_from(decode_pb(bytes, &scan::ENVELOPE, limits)?, limits)
}

/// Encodes a block (for storage and sync).
pub fn encode_block(block: &Block) -> Vec<u8> {
    block_pb(block).encode_to_vec()
}

/// Decodes and validates a block.
pub fn decode_block(bytes: &[u8], limits: &Limits) -> Result<Block, WireError> {
    block_from(decode_pb(bytes, &scan::BLOCK, limits)?, limits)
}

/// Encodes a certificate (for storage).
pub fn encode_certificate(cert: &Certificate) -> Vec<u8> {
    cert_pb(cert).encode_to_vec()
}

/// Decodes and validates a certificate.
pub fn decode_certificate(bytes: &[u8], limits: &Limits) -> Result<Certificate, WireError> {
    cert_from(decode_pb(bytes, &scan::CERTIFICATE, limits)?, limits)
}

/// Encodes a timeout certificate (for storage).
pub fn encode_timeout_cert(tc: &TimeoutCert) -> Vec<u8> {
    tc_pb(tc).encode_to_vec()
}

/// Decodes and validates a timeout certificate.
pub fn decode_timeout_cert(bytes: &[u8], limits: &Limits) -> Result<TimeoutCert, WireError> {
    tc_from(decode_pb(bytes, &scan::TIMEOUT_CERT, limits)?, limits)
}

fn tx_from(p: pb::Tx, limits: &Limits) -> Result<Tx, WireError> {
    if p.payload.len() > limits.max_tx_bytes {
        return Err(WireError::Bound {
            field: "tx.payload",
            got: p.payload.len(),
            max: limits.max_tx_bytes,
        });
    }
    Ok(Tx {
        namespace: p.namespace,
        payload: p.payload,
    })
}

fn tx_pb(tx: &Tx) -> pb::Tx {
    pb::Tx {
        namespace: tx.namespace,
        payload: tx.payload.clone(),
    }
}

/// Encodes a transaction.
pub fn encode_tx(tx: &Tx) -> Vec<u8> {
    tx_pb(tx).encode_to_vec()
}

/// Decodes and validates a transaction (payload at most `limits.max_tx_bytes`).
pub fn decode_tx(bytes: &[u8], limits: &Limits) -> Result<Tx, WireError> {
    let bounded = Limits {
        max_message_bytes: limits.max_message_bytes.min(limits.max_tx_bytes + 32),
        ..*limits
    };
    tx_from(decode_pb(bytes, &scan::TX, &bounded)?, limits)
}

/// Encodes a batch.
pub fn encode_batch(batch: &Batch) -> Vec<u8> {
    pb::Batch {
        author: batch.author,
        epoch: batch.epoch,
        seq: batch.seq,
        txs: batch.txs.iter().map(tx_pb).collect(),
    }
    .encode_to_vec()
}

/// The exact length of [`encode_batch`]'s output, computed without encoding.
pub fn encoded_batch_len(batch: &Batch) -> usize {
    use prost::encoding::encoded_len_varint as varint;
    let field = |value: u64| if value == 0 { 0 } else { 1 + varint(value) };
    let txs: usize = batch
        .txs
        .iter()
        .map(|tx| {
            let payload = if tx.payload.is_empty() {
                0
            } else {
                1 + varint(tx.payload.len() as u64) + tx.payload.len()
            };
            let inner = field(tx.namespace) + payload;
            1 + varint(inner as u64) + inner
        })
        .sum();
    field(batch.author.into()) + field(batch.epoch) + field(batch.seq) + txs
}

/// At least the length of [`encode_block`]'s output, computed without encoding.
pub fn encoded_block_len_bound(block: &Block) -> usize {
    // Header and justify: three and one hashes, a bitmap, a signature and varints.
    let fixed = 512 + block.justify.0.signers.as_bytes().len();
    let payload = block.payload.len() * 34;
    let next_epoch = block
        .next_epoch
        .as_ref()
        .map_or(0, |n| 32 + n.members.len() * (PUBLIC_KEY_LEN + 2 + 11));
    fixed + payload + next_epoch
}

/// Decodes and validates a batch.
pub fn decode_batch(bytes: &[u8], limits: &Limits) -> Result<Batch, WireError> {
    let p: pb::Batch = decode_pb(bytes, &scan::BATCH, limits)?;
    if p.txs.len() > limits.max_batch_txs {
        return Err(WireError::Bound {
            field: "batch.txs",
            got: p.txs.len(),
            max: limits.max_batch_txs,
        });
    }
    Ok(Batch {
        author: member("batch.author", p.author, limits)?,
        epoch: p.epoch,
        seq: p.seq,
        txs: p
            .txs
            .into_iter()
            .map(|t| tx_from(t, limits))
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::committee::{Committee, Member};
    use crate::crypto::{Scheme, SecretKey};
    use crate::messages::Phase;

    fn sample_messages() -> Vec<Message> {
        let n = 10;
        let mut signers = SignerBitmap::new(n);
        [0, 3, 9].iter().for_each(|i| signers.set(*i));
        let cert = Certificate {
            epoch: 2,
            view: 41,
            block_hash: Hash([4; 32]),
            signers: signers.clone(),
            signature: Signature([7; 96]),
        };
        let header = Header {
            parent: Hash([1; 32]),
            height: 9,
            view: 42,
            epoch: 2,
            payload_digest: Hash([2; 32]),
            da_commitment: Hash([3; 32]),
            timestamp_ms: 1_700_000_000_000,
            proposer: 5,
        };
        let block = Block::with_payload(
            header,
            QuorumCert(cert.clone()),
            vec![Hash([5; 32]), Hash([6; 32])],
        );
        let tc = TimeoutCert {
            epoch: 2,
            view: 41,
            signers,
            high_qc_views: vec![40, 39, 40],
            signature: Signature([8; 96]),
            high_qc: QuorumCert(cert.clone()),
        };
        vec![
            Message::Proposal(Proposal {
                block: block.clone(),
                timeout_cert: Some(tc.clone()),
                commit: Some(FinalityCert(cert.clone())),
                signature: Signature([9; 96]),
            }),
            Message::Proposal(Proposal {
                block: block.clone(),
                timeout_cert: None,
                commit: None,
                signature: Signature([9; 96]),
            }),
            Message::Proposal(Proposal {
                block: Block::ending_epoch(
                    block.header.clone(),
                    block.justify.clone(),
                    Vec::new(),
                    Some(NextEpoch {
                        epoch: 3,
                        l1_block: 120,
                        members: vec![
                            Member {
                                public_key: PublicKey([7; 48]),
                                stake: 32_000_000_000,
                            },
                            Member {
                                public_key: PublicKey([8; 48]),
                                stake: 1,
                            },
                        ],
                    }),
                ),
                timeout_cert: None,
                commit: None,
                signature: Signature([9; 96]),
            }),
            Message::Vote(Vote {
                epoch: 2,
                view: 42,
                block_hash: block.hash(),
                voter: 9,
                signature: Signature([5; 96]),
                commit: Some(CommitVote {
                    view: 41,
                    block_hash: Hash([4; 32]),
                    signature: Signature([6; 96]),
                }),
            }),
            Message::Timeout(TimeoutMsg {
                epoch: 2,
                view: 43,
                high_qc: QuorumCert(cert),
                last_tc: Some(Box::new(tc)),
                sender: 0,
                signature: Signature([3; 96]),
            }),
            Message::SyncRequest(SyncRequest {
                block_hash: Hash([1; 32]),
                max_blocks: 64,
            }),
            Message::SyncResponse(SyncResponse {
                blocks: vec![block.clone(), block],
            }),
        ]
    }

    #[test]
    fn every_message_round_trips() {
        let limits = Limits::new(10);
        for m in sample_messages() {
            let bytes = encode_message(&m);
            assert_eq!(decode_message(&bytes, &limits).unwrap(), m);
        }
    }

    #[test]
    fn encoded_lengths_are_computed_without_encoding() {
        let batch = |author, epoch, seq, txs: Vec<Tx>| Batch {
            author,
            epoch,
            seq,
            txs,
        };
        let tx = |namespace, len| Tx {
            namespace,
            payload: vec![7; len],
        };
        for b in [
            batch(0, 0, 0, vec![]),
            batch(3, 1 << 40, 300, vec![tx(0, 0), tx(1, 1), tx(u64::MAX, 200)]),
            batch(1, 2, 3, vec![tx(9, 128 << 10); 3]),
        ] {
            assert_eq!(encoded_batch_len(&b), encode_batch(&b).len());
        }
        for m in sample_messages() {
            let blocks = match m {
                Message::Proposal(p) => vec![p.block],
                Message::SyncResponse(r) => r.blocks,
                _ => continue,
            };
            for block in blocks {
                assert!(encoded_block_len_bound(&block) >= encode_block(&block).len());
            }
        }
    }

    #[test]
    fn a_hand_over_record_is_bounded_and_checked() {
        let record = |keys: Vec<Vec<u8>>, stakes: Vec<u64>| {
            let block = pb::Block {
                next_epoch: Some(pb::NextEpoch {
                    epoch: 1,
                    l1_block: 2,
                    keys,
                    stakes,
                }),
                ..block_pb(&Block::new(
                    Header::genesis(0),
                    QuorumCert::genesis(0, Hash::ZERO, 2),
                ))
            };
            decode_block(&block.encode_to_vec(), &Limits::new(2))
        };
        assert!(record(vec![vec![1; 48]; 2], vec![5, 6]).is_ok());
        assert!(matches!(
            record(vec![vec![1; 48]; 3], vec![5, 6, 7]),
            Err(WireError::Bound {
                field: "block.next_epoch.keys",
                got: 3,
                max: 2
            })
        ));
        assert!(matches!(
            record(Vec::new(), Vec::new()),
            Err(WireError::Bound {
                field: "block.next_epoch.keys",
                ..
            })
        ));
        assert!(matches!(
            record(vec![vec![1; 48]; 2], vec![5]),
            Err(WireError::Bound {
                field: "block.next_epoch.stakes",
                ..
            })
        ));
        assert!(matches!(
            record(vec![vec![1; 47], vec![1; 48]], vec![5, 6]),
            Err(WireError::Length {
                field: "block.next_epoch.keys",
                ..
            })
        ));
    }

    #[test]
    fn real_signed_messages_still_verify_after_a_round_trip() {
        let keys: Vec<SecretKey> = (0..4)
            .map(|i| SecretKey::bls_from_ikm(&[i + 1; 32]).unwrap())
            .collect();
        let committee = Committee::new(
            0,
            Scheme::Bls,
            Hash::ZERO,
            keys.iter()
                .map(|k| Member {
                    public_key: k.public_key(),
                    stake: 1,
                })
                .collect(),
        )
        .unwrap();
        let domain = crate::messages::Domain {
            chain_id: 1,
            bridge: [0; 20],
        };
        let digest = domain.digest(0, 3, Phase::Vote, &Hash([1; 32]));
        let sigs: Vec<Signature> = keys[..3].iter().map(|k| k.sign(&digest)).collect();
        let mut signers = committee.empty_bitmap();
        (0..3).for_each(|i| signers.set(i));
        let cert = Certificate {
            epoch: 0,
            view: 3,
            block_hash: Hash([1; 32]),
            signers,
            signature: crate::crypto::aggregate_signatures(Scheme::Bls, &sigs).unwrap(),
        };
        let decoded = decode_certificate(&encode_certificate(&cert), &Limits::new(4)).unwrap();
        assert_eq!(decoded.verify(&committee, &domain, Phase::Vote), Ok(()));
    }

    #[test]
    fn wrong_lengths_bounds_and_sizes_are_rejected() {
        let limits = Limits::new(10);
        let vote = |f: &dyn Fn(&mut pb::Vote)| {
            let mut v = pb::Vote {
                epoch: 0,
                view: 1,
                block_hash: vec![0; 32],
                voter: 1,
                signature: vec![0; 96],
                commit: None,
            };
            f(&mut v);
            pb::Envelope {
                kind: Some(pb::Kind::Vote(v)),
            }
            .encode_to_vec()
        };
        assert_eq!(decode_message(&vote(&|_| {}), &limits).map(|_| ()), Ok(()));
        assert_eq!(
            decode_message(&vote(&|v| v.block_hash.pop().map_or((), |_| ())), &limits),
            Err(WireError::Length {
                field: "vote.block_hash",
                expected: 32,
                got: 31
            })
        );
        assert_eq!(
            decode_message(&vote(&|v| v.signature = vec![0; 48]), &limits),
            Err(WireError::Length {
                field: "vote.signature",
                expected: 96,
                got: 48
            })
        );
        assert_eq!(
            decode_message(&vote(&|v| v.voter = 10), &limits),
            Err(WireError::Bound {
                field: "vote.voter",
                got: 10,
                max: 9
            })
        );
        assert_eq!(
            decode_message(&[], &limits),
            Err(WireError::Missing("kind"))
        );
        let big = vec![0u8; limits.max_message_bytes + 1];
        assert!(matches!(
            decode_message(&big, &limits),
            Err(WireError::TooLarge { .. })
        ));
        let bad_bitmap = pb::Envelope {
            kind: Some(pb::Kind::Timeout(pb::Timeout {
                epoch: 0,
                view: 2,
                high_qc: Some(pb::Certificate {
                    epoch: 0,
                    view: 1,
                    block_hash: vec![0; 32],
                    signers: vec![0; 3],
                    signature: vec![0; 96],
                }),
                last_tc: None,
                sender: 0,
                signature: vec![0; 96],
            })),
        }
        .encode_to_vec();
        assert!(matches!(
            decode_message(&bad_bitmap, &limits),
            Err(WireError::Bitmap(_))
        ));
        let many = pb::Envelope {
            kind: Some(pb::Kind::SyncResponse(pb::SyncResponse {
                blocks: vec![pb::Block::default(); 65],
            })),
        }
        .encode_to_vec();
        assert_eq!(
            decode_message(&many, &limits),
            Err(WireError::Bound {
                field: "sync_response.blocks",
                got: 65,
                max: 64
            })
        );
        let tx = pb::Tx {
            namespace: 1,
            payload: vec![0; limits.max_tx_bytes + 1],
        }
        .encode_to_vec();
        assert!(decode_tx(&tx, &limits).is_err());
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        let limits = Limits::new(10);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let samples: Vec<Vec<u8>> = sample_messages().iter().map(encode_message).collect();
        for i in 0..20_000 {
            let mut bytes = if i % 2 == 0 {
                samples[i % samples.len()].clone()
            } else {
                (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect()
            };
            for _ in 0..rng.gen_range(1..4) {
                if !bytes.is_empty() {
                    let at = rng.gen_range(0..bytes.len());
                    bytes[at] = rng.gen();
                }
            }
            let _ = decode_message(&bytes, &limits);
            let _ = decode_batch(&bytes, &limits);
            let _ = decode_tx(&bytes, &limits);
        }
    }

    #[test]
    fn batches_and_transactions_round_trip() {
        let limits = Limits::new(4);
        let batch = Batch {
            author: 3,
            epoch: 1,
            seq: 99,
            txs: vec![
                Tx {
                    namespace: 7,
                    payload: b"hello".to_vec(),
                },
                Tx {
                    namespace: 8,
                    payload: vec![],
                },
            ],
        };
        assert_eq!(decode_batch(&encode_batch(&batch), &limits).unwrap(), batch);
        assert_eq!(
            decode_tx(&encode_tx(&batch.txs[0]), &limits).unwrap(),
            batch.txs[0]
        );
        let foreign = Batch { author: 4, ..batch };
        assert!(
            decode_batch(&encode_batch(&foreign), &limits).is_err(),
            "author outside the committee"
        );
    }
}
