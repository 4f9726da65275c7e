//! The bytes a block's DA commitment covers: its batches, in payload order, and its
//! hand-over record if it has one.
//!
//! ```text
//! u32 batch_count ‖ (u32 len ‖ wire batch)* ‖ u8 has_record ‖ [u64 epoch ‖ u64 l1_block ‖ u32 n ‖ (48-byte key ‖ u64 stake)*]
//! ```
//!
//! All integers big-endian. Decoding is bounded by the input: every length is checked
//! against the bytes left before anything is allocated for it, and batches decode with
//! the wire format's limits.

use synod_types::wire::{self, Limits};
use synod_types::{Batch, Member, NextEpoch, PublicKey};

use crate::error::DaError;

const KEY_LEN: usize = 48;

/// Encodes a block's data.
pub fn encode(batches: &[&Batch], record: Option<&NextEpoch>) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = batches.iter().map(|b| wire::encode_batch(b)).collect();
    let record_len = record.map_or(0, |r| 20 + r.members.len() * (KEY_LEN + 8));
    let mut out =
        Vec::with_capacity(5 + encoded.iter().map(|e| e.len() + 4).sum::<usize>() + record_len);
    out.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    for e in &encoded {
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(e);
    }
    match record {
        None => out.push(0),
        Some(r) => {
            out.push(1);
            out.extend_from_slice(&r.epoch.to_be_bytes());
            out.extend_from_slice(&r.l1_block.to_be_bytes());
            out.extend_from_slice(&(r.members.len() as u32).to_be_bytes());
            for m in &r.members {
                out.extend_from_slice(&m.public_key.0);
                out.extend_from_slice(&m.stake.to_be_bytes());
            }
        }
    }
    out
}

/// A block's data, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The batches, in payload order.
    pub batches: Vec<Batch>,
    /// The hand-over record.
    pub record: Option<NextEpoch>,
}

/// Decodes a block's data (for instance one rebuilt from shards).
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Payload, DaError> {
    let mut r = Reader { bytes };
    let count = r.u32()? as usize;
    if count > limits.max_block_batches {
        return Err(DaError::Malformed("more batches than a block may order"));
    }
    let mut batches = Vec::with_capacity(count.min(r.bytes.len() / 4));
    for _ in 0..count {
        let len = r.u32()? as usize;
        let bytes = r.take(len)?;
        batches.push(wire::decode_batch(bytes, limits).map_err(DaError::Batch)?);
    }
    let record = match r.take(1)?[0] {
        0 => None,
        1 => {
            let epoch = r.u64()?;
            let l1_block = r.u64()?;
            let n = r.u32()? as usize;
            if n == 0 || n > limits.committee_size {
                return Err(DaError::Malformed("hand-over record committee size"));
            }
            let mut members = Vec::with_capacity(n.min(r.bytes.len() / (KEY_LEN + 8)));
            for _ in 0..n {
                let key: [u8; KEY_LEN] = r.take(KEY_LEN)?.try_into().expect("48 bytes");
                members.push(Member {
                    public_key: PublicKey(key),
                    stake: r.u64()?,
                });
            }
            Some(NextEpoch {
                epoch,
                l1_block,
                members,
            })
        }
        _ => return Err(DaError::Malformed("record flag")),
    };
    if !r.bytes.is_empty() {
        return Err(DaError::Malformed("bytes after the payload"));
    }
    Ok(Payload { batches, record })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DaError> {
        if n > self.bytes.len() {
            return Err(DaError::Malformed("truncated payload"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, DaError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, DaError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::Tx;

    pub(crate) fn batch(seq: u64, size: usize) -> Batch {
        Batch {
            author: 1,
            epoch: 2,
            seq,
            txs: vec![Tx {
                namespace: 7,
                payload: vec![seq as u8; size],
            }],
        }
    }

    #[test]
    fn batches_and_a_record_round_trip() {
        let (a, b) = (batch(1, 100), batch(2, 3_000));
        let record = NextEpoch {
            epoch: 3,
            l1_block: 99,
            members: vec![Member {
                public_key: PublicKey([5; 48]),
                stake: 10,
            }],
        };
        let limits = Limits::new(4);
        for rec in [None, Some(&record)] {
            let bytes = encode(&[&a, &b], rec);
            let decoded = decode(&bytes, &limits).unwrap();
            assert_eq!(decoded.batches, vec![a.clone(), b.clone()]);
            assert_eq!(decoded.record.as_ref(), rec);
        }
        assert_eq!(
            decode(&encode(&[], None), &limits).unwrap(),
            Payload {
                batches: vec![],
                record: None
            }
        );
    }

    #[test]
    fn truncated_padded_or_oversized_inputs_are_errors_without_big_allocations() {
        let limits = Limits::new(4);
        let bytes = encode(&[&batch(1, 50)], None);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], &limits).is_err(), "cut at {cut}");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(decode(&padded, &limits).is_err());
        // A count of four billion batches in five bytes is refused before allocating.
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0], &limits).is_err());
        let mut lying = vec![0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
        lying.push(0);
        assert!(decode(&lying, &limits).is_err());
    }
}
