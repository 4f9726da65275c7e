//! A pass over the raw protobuf bytes, run before the decoder allocates anything.
//!
//! Protobuf lets a two-byte field stand for a struct of hundreds of bytes (an empty
//! block in a sync response decodes into a `pb::Block` of about 400 bytes). Left to the
//! decoder, 4 MiB of empty elements would become more than half a gigabyte before any
//! count is checked. This pass walks the encoding against the schema without
//! allocating, counts the elements of every repeated field against its bound in
//! [`Limits`], and adds up what decoding would allocate: the struct of every element of a
//! repeated message, the bytes of every byte string, eight bytes per repeated integer.
//! Input whose decoded form would exceed [`MAX_EXPANSION`] times its length (plus
//! [`EXPANSION_SLACK`]) is refused before decoding starts.

use std::mem::size_of;

use super::{pb, Limits, WireError};

/// How many times its encoded length a decoded message may take in memory. Honest
/// messages stay well below it: a transaction of at least one byte (the mempool refuses
/// empty ones) encodes in five bytes and decodes into 33; a block decodes into about
/// twice its encoding.
pub const MAX_EXPANSION: usize = 8;

/// Allowance on top of [`MAX_EXPANSION`] for small messages, whose fixed-size structs
/// outweigh their bytes.
pub const EXPANSION_SLACK: usize = 16 << 10;

/// Nesting deeper than the schema is malformed (the schema has no recursion).
const MAX_DEPTH: usize = 8;

/// Most fields one description lists.
const MAX_FIELDS: usize = 8;

/// The shape of one protobuf message.
pub(crate) struct Desc {
    /// Size of the decoded struct.
    size: usize,
    fields: &'static [Field],
}

struct Field {
    tag: u64,
    name: &'static str,
    kind: Kind,
    repeated: bool,
    bound: Bound,
}

#[derive(Clone, Copy)]
enum Kind {
    Scalar,
    Bytes,
    Message(&'static Desc),
}

/// Which limit bounds a repeated field's count.
#[derive(Clone, Copy)]
enum Bound {
    Unbounded,
    SyncBlocks,
    BlockBatches,
    BatchTxs,
    Committee,
}

impl Bound {
    fn max(self, limits: &Limits) -> usize {
        match self {
            Bound::Unbounded => usize::MAX,
            Bound::SyncBlocks => limits.max_sync_blocks,
            Bound::BlockBatches => limits.max_block_batches,
            Bound::BatchTxs => limits.max_batch_txs,
            Bound::Committee => limits.committee_size,
        }
    }
}

const fn one(tag: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        tag,
        name,
        kind,
        repeated: false,
        bound: Bound::Unbounded,
    }
}

const fn many(tag: u64, name: &'static str, kind: Kind, bound: Bound) -> Field {
    Field {
        tag,
        name,
        kind,
        repeated: true,
        bound,
    }
}

use Kind::{Bytes, Message, Scalar};

pub(crate) static HEADER: Desc = Desc {
    size: size_of::<pb::Header>(),
    fields: &[
        one(1, "header.parent", Bytes),
        one(5, "header.payload_digest", Bytes),
        one(6, "header.da_commitment", Bytes),
    ],
};

pub(crate) static CERTIFICATE: Desc = Desc {
    size: size_of::<pb::Certificate>(),
    fields: &[
        one(3, "certificate.block_hash", Bytes),
        one(4, "certificate.signers", Bytes),
        one(5, "certificate.signature", Bytes),
    ],
};

static NEXT_EPOCH: Desc = Desc {
    size: size_of::<pb::NextEpoch>(),
    fields: &[
        many(3, "block.next_epoch.keys", Bytes, Bound::Committee),
        many(4, "block.next_epoch.stakes", Scalar, Bound::Committee),
    ],
};

pub(crate) static BLOCK: Desc = Desc {
    size: size_of::<pb::Block>(),
    fields: &[
        one(1, "block.header", Message(&HEADER)),
        one(2, "block.justify", Message(&CERTIFICATE)),
        many(3, "block.payload", Bytes, Bound::BlockBatches),
        one(4, "block.next_epoch", Message(&NEXT_EPOCH)),
    ],
};

pub(crate) static TIMEOUT_CERT: Desc = Desc {
    size: size_of::<pb::TimeoutCert>(),
    fields: &[
        one(3, "timeout_cert.signers", Bytes),
        many(4, "timeout_cert.high_qc_views", Scalar, Bound::Committee),
        one(5, "timeout_cert.signature", Bytes),
        one(6, "timeout_cert.high_qc", Message(&CERTIFICATE)),
    ],
};

static PROPOSAL: Desc = Desc {
    size: size_of::<pb::Proposal>(),
    fields: &[
        one(1, "proposal.block", Message(&BLOCK)),
        one(2, "proposal.timeout_cert", Message(&TIMEOUT_CERT)),
        one(3, "proposal.commit", Message(&CERTIFICATE)),
        one(4, "proposal.signature", Bytes),
    ],
};

static COMMIT_VOTE: Desc = Desc {
    size: size_of::<pb::CommitVote>(),
    fields: &[
        one(2, "vote.commit.block_hash", Bytes),
        one(3, "vote.commit.signature", Bytes),
    ],
};

static VOTE: Desc = Desc {
    size: size_of::<pb::Vote>(),
    fields: &[
        one(3, "vote.block_hash", Bytes),
        one(5, "vote.signature", Bytes),
        one(6, "vote.commit", Message(&COMMIT_VOTE)),
    ],
};

static TIMEOUT: Desc = Desc {
    size: size_of::<pb::Timeout>(),
    fields: &[
        one(3, "timeout.high_qc", Message(&CERTIFICATE)),
        one(4, "timeout.last_tc", Message(&TIMEOUT_CERT)),
        one(6, "timeout.signature", Bytes),
    ],
};

static SYNC_REQUEST: Desc = Desc {
    size: size_of::<pb::SyncRequest>(),
    fields: &[one(1, "sync_request.block_hash", Bytes)],
};

static SYNC_RESPONSE: Desc = Desc {
    size: size_of::<pb::SyncResponse>(),
    fields: &[many(
        1,
        "sync_response.blocks",
        Message(&BLOCK),
        Bound::SyncBlocks,
    )],
};

pub(crate) static ENVELOPE: Desc = Desc {
    size: size_of::<pb::Envelope>(),
    fields: &[
        one(1, "proposal", Message(&PROPOSAL)),
        one(2, "vote", Message(&VOTE)),
        one(3, "timeout", Message(&TIMEOUT)),
        one(4, "sync_request", Message(&SYNC_REQUEST)),
        one(5, "sync_response", Message(&SYNC_RESPONSE)),
    ],
};

pub(crate) static TX: Desc = Desc {
    size: size_of::<pb::Tx>(),
    fields: &[one(2, "tx.payload", Bytes)],
};

pub(crate) static BATCH: Desc = Desc {
    size: size_of::<pb::Batch>(),
    fields: &[many(4, "batch.txs", Message(&TX), Bound::BatchTxs)],
};

/// Walks `bytes` as an encoding of `desc`, refusing it when a repeated field holds more
/// elements than its bound or when decoding it would allocate more than
/// [`MAX_EXPANSION`] times its length plus [`EXPANSION_SLACK`]. Allocates nothing.
pub(crate) fn check(bytes: &[u8], desc: &Desc, limits: &Limits) -> Result<(), WireError> {
    let mut cost = desc.size;
    walk(bytes, desc, limits, &mut cost, 0)?;
    let max = bytes
        .len()
        .saturating_mul(MAX_EXPANSION)
        .saturating_add(EXPANSION_SLACK);
    if cost > max {
        return Err(WireError::Bound {
            field: "decoded size",
            got: cost,
            max,
        });
    }
    Ok(())
}

/// Bytes a `Vec<u8>` element of a repeated byte-string field costs besides its content.
const VEC_HEADER: usize = size_of::<Vec<u8>>();

fn walk(
    mut bytes: &[u8],
    desc: &Desc,
    limits: &Limits,
    cost: &mut usize,
    depth: usize,
) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::Decode("nested too deeply".into()));
    }
    // Element counts of this message's fields, by their place in the description.
    let mut counts = [0usize; MAX_FIELDS];
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let (tag, wire_type) = (key >> 3, key & 7);
        let field = desc.fields.iter().enumerate().find(|(_, f)| f.tag == tag);
        let added = match wire_type {
            0 => {
                varint(&mut bytes)?;
                match field {
                    Some((_, f)) if f.repeated => {
                        *cost = cost.saturating_add(8);
                        1
                    }
                    _ => 0,
                }
            }
            1 => {
                take(&mut bytes, 8)?;
                0
            }
            5 => {
                take(&mut bytes, 4)?;
                0
            }
            2 => {
                let len = usize::try_from(varint(&mut bytes)?)
                    .map_err(|_| WireError::Decode("length overflows".into()))?;
                let inner = take(&mut bytes, len)?;
                match field {
                    None => 0,
                    Some((_, f)) => match f.kind {
                        Bytes if f.repeated => {
                            *cost = cost.saturating_add(VEC_HEADER + len);
                            1
                        }
                        Bytes => {
                            *cost = cost.saturating_add(len);
                            0
                        }
                        Message(inner_desc) => {
                            if f.repeated {
                                *cost = cost.saturating_add(inner_desc.size);
                            }
                            walk(inner, inner_desc, limits, cost, depth + 1)?;
                            usize::from(f.repeated)
                        }
                        Scalar => {
                            // A packed run of varints.
                            let mut run = inner;
                            let mut n = 0;
                            while !run.is_empty() {
                                varint(&mut run)?;
                                n += 1;
                            }
                            *cost = cost.saturating_add(8 * n);
                            n
                        }
                    },
                }
            }
            other => return Err(WireError::Decode(format!("unsupported wire type {other}"))),
        };
        if let Some((index, f)) = field {
            if added > 0 {
                let count = &mut counts[index];
                *count += added;
                let max = f.bound.max(limits);
                if *count > max {
                    return Err(WireError::Bound {
                        field: f.name,
                        got: *count,
                        max,
                    });
                }
            }
        }
    }
    Ok(())
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if bytes.len() < n {
        return Err(WireError::Decode("truncated field".into()));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn varint(bytes: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = bytes
            .split_first()
            .ok_or_else(|| WireError::Decode("truncated varint".into()))?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::Decode("varint longer than 10 bytes".into()))
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn limits() -> Limits {
        Limits::new(4)
    }

    #[test]
    fn every_description_has_few_enough_fields_for_the_counts() {
        for desc in [
            &HEADER,
            &CERTIFICATE,
            &NEXT_EPOCH,
            &BLOCK,
            &TIMEOUT_CERT,
            &PROPOSAL,
            &COMMIT_VOTE,
            &VOTE,
            &TIMEOUT,
            &SYNC_REQUEST,
            &SYNC_RESPONSE,
            &ENVELOPE,
            &TX,
            &BATCH,
        ] {
            assert!(desc.fields.len() <= MAX_FIELDS);
        }
    }

    #[test]
    fn a_sync_response_of_empty_blocks_is_refused_at_its_count() {
        let blocks = vec![pb::Block::default(); limits().max_sync_blocks + 1];
        let bytes = pb::Envelope {
            kind: Some(pb::Kind::SyncResponse(pb::SyncResponse { blocks })),
        }
        .encode_to_vec();
        assert_eq!(
            check(&bytes, &ENVELOPE, &limits()),
            Err(WireError::Bound {
                field: "sync_response.blocks",
                got: 65,
                max: 64
            })
        );
    }

    #[test]
    fn packed_and_unpacked_repeated_integers_count_alike() {
        let views = vec![1u64; 5];
        let packed = pb::TimeoutCert {
            high_qc_views: views,
            ..Default::default()
        }
        .encode_to_vec();
        assert!(matches!(
            check(&packed, &TIMEOUT_CERT, &limits()),
            Err(WireError::Bound { got: 5, .. })
        ));
        // The same five integers, unpacked (field 4, wire type 0).
        let unpacked: Vec<u8> = (0..5).flat_map(|_| [4 << 3, 1]).collect();
        assert!(matches!(
            check(&unpacked, &TIMEOUT_CERT, &limits()),
            Err(WireError::Bound { got: 5, .. })
        ));
    }

    #[test]
    fn many_empty_elements_are_refused_for_what_they_would_allocate() {
        // 60,000 empty transactions: within the count bound, but each two-byte element
        // would become a struct of 32 bytes.
        let limits = Limits {
            max_batch_txs: 1 << 20,
            ..limits()
        };
        let bytes = pb::Batch {
            txs: vec![pb::Tx::default(); 60_000],
            ..Default::default()
        }
        .encode_to_vec();
        assert!(matches!(
            check(&bytes, &BATCH, &limits),
            Err(WireError::Bound {
                field: "decoded size",
                ..
            })
        ));
    }

    #[test]
    fn truncated_and_malformed_encodings_are_refused() {
        assert!(check(&[0x0a, 5, 1], &BLOCK, &limits()).is_err());
        assert!(check(&[0x80], &BLOCK, &limits()).is_err());
        assert!(check(&[0x0b], &BLOCK, &limits()).is_err());
        assert!(check(&[0x08; 11], &BLOCK, &limits()).is_err());
        assert!(check(&[], &BLOCK, &limits()).is_ok());
    }
}
