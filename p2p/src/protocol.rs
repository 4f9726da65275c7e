//! The direct (request-response) protocol `/synod/req/2` and its bounded framing.
//!
//! One request and one response per stream. Each is a frame: a 4-byte big-endian length,
//! then a kind byte and the body. The length is checked against the configured maximum
//! before anything is allocated; bodies are decoded with `synod_types::wire`, which
//! checks every field. Lists are a 4-byte count (checked against its bound first) and
//! 4-byte length-prefixed items.
//!
//! Every answer fits one frame: a node that serves batches, finalized ranges or shards
//! stops at [`MAX_REPLY_BYTES`] and says what it left out, and the asker asks again.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use synod_types::wire::{self, Limits, WireError};
use synod_types::{Batch, Block, FinalityCert, Hash, Message, Tx};

/// The protocol name negotiated on each stream.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/synod/req/2");

/// Batches asked for in one request, at most.
pub const MAX_BATCHES_PER_REQUEST: usize = 256;
/// Transactions handed over in one request, at most.
pub const MAX_TXS_PER_REQUEST: usize = 1_024;
/// Finalized blocks asked for in one request, at most.
pub const MAX_FINALIZED_PER_REQUEST: u32 = 64;
/// Finalized blocks in one response, at most: a response runs on past the number asked
/// for to the next block with a stored finality certificate.
pub const MAX_FINALIZED_PER_RESPONSE: usize = 1_024;
/// Shard indices one request may name (a committee's layout has at most 32,768).
pub const MAX_SHARDS_PER_REQUEST: usize = 32_768;
/// Bytes one answer carries at most (within the 4 MiB frame): batches, blocks or shards
/// beyond it are left for the asker to ask again.
pub const MAX_REPLY_BYTES: usize = (4 << 20) - (64 << 10);

/// What one peer asks another directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A consensus message addressed to this peer: a vote to the next leader, or a sync
    /// request for blocks by hash.
    Consensus(Message),
    /// The batches with these digests.
    Batches(Vec<Hash>),
    /// Finalized blocks from `from_height` on, at most `max`, with the finality
    /// certificate of the last one.
    Finalized {
        /// The first height wanted.
        from_height: u64,
        /// How many blocks at most.
        max: u32,
    },
    /// Transactions a full node hands to a validator for ordering.
    Txs(Vec<Tx>),
    /// The shards with these indices of the block data `commitment` names, as far as
    /// this peer keeps them.
    Shards {
        /// The block's DA commitment.
        commitment: Hash,
        /// The shard indices wanted.
        indices: Vec<u32>,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Received; nothing to return (votes).
    Ack,
    /// A consensus answer (a sync response).
    Consensus(Message),
    /// Batches asked for, in any order: those found, within [`MAX_REPLY_BYTES`].
    Batches {
        /// The batches found; missing ones are left out.
        batches: Vec<Batch>,
        /// Digests not looked up because the answer was full: to be asked again, from
        /// the same peer.
        deferred: Vec<Hash>,
    },
    /// Finalized blocks, ascending, and the finality certificate of the last one (which
    /// proves the others through their parent links). Empty if none is known.
    Finalized {
        /// The blocks.
        blocks: Vec<Block>,
        /// Finality certificate of the last block.
        certificate: Option<FinalityCert>,
    },
    /// The request was refused (rate limit, unknown data), with the reason.
    Refused(String),
    /// Shards found, each encoded as `synod_da::Shard::encode` (checked by the asker
    /// against the commitment), at most [`MAX_REPLY_BYTES`] of them.
    Shards(Vec<Vec<u8>>),
}

const REQ_CONSENSUS: u8 = 1;
const REQ_BATCHES: u8 = 2;
const REQ_FINALIZED: u8 = 3;
const REQ_TXS: u8 = 4;
const REQ_SHARDS: u8 = 5;
const RES_ACK: u8 = 0;
const RES_CONSENSUS: u8 = 1;
const RES_BATCHES: u8 = 2;
const RES_FINALIZED: u8 = 3;
const RES_REFUSED: u8 = 4;
const RES_SHARDS: u8 = 5;
const MAX_REASON_BYTES: usize = 256;

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame is shorter than its contents claim, or has bytes left over.
    #[error("truncated or padded frame")]
    Truncated,
    /// Unknown kind byte.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// A list longer than its bound.
    #[error("{what}: {count} items, at most {max} allowed")]
    TooMany {
        /// What the list holds.
        what: &'static str,
        /// Items claimed.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// An item failed to decode.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A message of a kind that does not belong in this frame.
    #[error("unexpected {0} in this frame")]
    Unexpected(&'static str),
}

impl Request {
    /// Encodes the request body (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Consensus(message) => tagged(REQ_CONSENSUS, wire::encode_message(message)),
            Request::Batches(digests) => {
                let mut out = vec![REQ_BATCHES];
                for d in digests {
                    out.extend_from_slice(d.as_bytes());
                }
                out
            }
            Request::Finalized { from_height, max } => {
                let mut out = vec![REQ_FINALIZED];
                out.extend_from_slice(&from_height.to_be_bytes());
                out.extend_from_slice(&max.to_be_bytes());
                out
            }
            Request::Txs(txs) => {
                let items: Vec<Vec<u8>> = txs.iter().map(wire::encode_tx).collect();
                tagged(REQ_TXS, encode_list(&items))
            }
            Request::Shards {
                commitment,
                indices,
            } => {
                let mut out = Vec::with_capacity(33 + 4 * indices.len());
                out.push(REQ_SHARDS);
                out.extend_from_slice(commitment.as_bytes());
                for i in indices {
                    out.extend_from_slice(&i.to_be_bytes());
                }
                out
            }
        }
    }

    /// Decodes a request body, checking every bound.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Request, FrameError> {
        let (&kind, body) = bytes.split_first().ok_or(FrameError::Truncated)?;
        match kind {
            REQ_CONSENSUS => match wire::decode_message(body, limits)? {
                m @ (Message::Vote(_) | Message::SyncRequest(_) | Message::Timeout(_)) => {
                    Ok(Request::Consensus(m))
                }
                Message::Proposal(_) => Err(FrameError::Unexpected("proposal")),
                Message::SyncResponse(_) => Err(FrameError::Unexpected("sync response")),
            },
            REQ_BATCHES => Ok(Request::Batches(digests(body)?)),
            REQ_FINALIZED => {
                let body: &[u8; 12] = body.try_into().map_err(|_| FrameError::Truncated)?;
                let (height, max) = body.split_at(8);
                let max = u32::from_be_bytes(max.try_into().expect("4 bytes"));
                if max > MAX_FINALIZED_PER_REQUEST {
                    return Err(FrameError::TooMany {
                        what: "finalized blocks",
                        count: max as usize,
                        max: MAX_FINALIZED_PER_REQUEST as usize,
                    });
                }
                Ok(Request::Finalized {
                    from_height: u64::from_be_bytes(height.try_into().expect("8 bytes")),
                    max,
                })
            }
            REQ_SHARDS => {
                if body.len() < 32 || (body.len() - 32) % 4 != 0 {
                    return Err(FrameError::Truncated);
                }
                let (commitment, indices) = body.split_at(32);
                let count = indices.len() / 4;
                if count > MAX_SHARDS_PER_REQUEST {
                    return Err(FrameError::TooMany {
                        what: "shard indices",
                        count,
                        max: MAX_SHARDS_PER_REQUEST,
                    });
                }
                Ok(Request::Shards {
                    commitment: Hash(commitment.try_into().expect("32 bytes")),
                    indices: indices
                        .chunks_exact(4)
                        .map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")))
                        .collect(),
                })
            }
            REQ_TXS => {
                let items = decode_list(body, MAX_TXS_PER_REQUEST, "transactions")?;
                let txs = items
                    .into_iter()
                    .map(|t| wire::decode_tx(t, limits))
                    .collect::<Result<_, _>>()?;
                Ok(Request::Txs(txs))
            }
            other => Err(FrameError::UnknownKind(other)),
        }
    }
}

impl Response {
    /// Encodes the response body (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Response::Ack => vec![RES_ACK],
            Response::Consensus(message) => tagged(RES_CONSENSUS, wire::encode_message(message)),
            Response::Batches { batches, deferred } => {
                // The first item is the deferred digests, one after the other.
                let mut items = vec![deferred.iter().flat_map(|d| d.0).collect()];
                items.extend(batches.iter().map(wire::encode_batch));
                tagged(RES_BATCHES, encode_list(&items))
            }
            Response::Finalized {
                blocks,
                certificate,
            } => {
                let mut items: Vec<Vec<u8>> = blocks.iter().map(wire::encode_block).collect();
                if let Some(fc) = certificate {
                    items.push(wire::encode_certificate(&fc.0));
                }
                tagged(RES_FINALIZED, encode_list(&items))
            }
            Response::Refused(reason) => {
                let mut reason = reason.as_bytes().to_vec();
                reason.truncate(MAX_REASON_BYTES);
                tagged(RES_REFUSED, reason)
            }
            Response::Shards(shards) => tagged(RES_SHARDS, encode_list(shards)),
        }
    }

    /// Decodes a response body, checking every bound.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Response, FrameError> {
        let (&kind, body) = bytes.split_first().ok_or(FrameError::Truncated)?;
        match kind {
            RES_ACK if body.is_empty() => Ok(Response::Ack),
            RES_ACK => Err(FrameError::Truncated),
            RES_CONSENSUS => match wire::decode_message(body, limits)? {
                m @ Message::SyncResponse(_) => Ok(Response::Consensus(m)),
                _ => Err(FrameError::Unexpected("non-response message")),
            },
            RES_BATCHES => {
                let items = decode_list(body, MAX_BATCHES_PER_REQUEST + 1, "batches")?;
                let (deferred, batches) = items.split_first().ok_or(FrameError::Truncated)?;
                Ok(Response::Batches {
                    deferred: digests(deferred)?,
                    batches: batches
                        .iter()
                        .map(|b| wire::decode_batch(b, limits))
                        .collect::<Result<_, _>>()?,
                })
            }
            RES_FINALIZED => {
                let max = MAX_FINALIZED_PER_RESPONSE + 1;
                let mut items = decode_list(body, max, "finalized blocks")?;
                let certificate = match items.len() {
                    0 => None,
                    1 => return Err(FrameError::Unexpected("certificate without blocks")),
                    _ => {
                        let last = items.pop().expect("at least two items");
                        Some(FinalityCert(wire::decode_certificate(last, limits)?))
                    }
                };
                let blocks = items
                    .into_iter()
                    .map(|b| wire::decode_block(b, limits))
                    .collect::<Result<_, _>>()?;
                Ok(Response::Finalized {
                    blocks,
                    certificate,
                })
            }
            RES_SHARDS => {
                let items = decode_list(body, MAX_SHARDS_PER_REQUEST, "shards")?;
                Ok(Response::Shards(
                    items.into_iter().map(<[u8]>::to_vec).collect(),
                ))
            }
            RES_REFUSED => Ok(Response::Refused(
                String::from_utf8_lossy(&body[..body.len().min(MAX_REASON_BYTES)]).into_owned(),
            )),
            other => Err(FrameError::UnknownKind(other)),
        }
    }
}

/// Bytes an answer may carry under `limits`: [`MAX_REPLY_BYTES`], or less when the
/// frame limit is lower (64 KiB stay for the framing and the list headers).
pub fn reply_cap(limits: &Limits) -> usize {
    MAX_REPLY_BYTES.min(limits.max_message_bytes.saturating_sub(64 << 10))
}

/// The answer to a request for `digests`: each is looked up in order until the answer
/// holds `cap` bytes (always at least one batch found); the digests not looked up are
/// returned as deferred, for the asker to ask again.
pub fn batches_reply<E>(
    digests: &[Hash],
    cap: usize,
    mut lookup: impl FnMut(&Hash) -> Result<Option<Batch>, E>,
) -> Result<Response, E> {
    let mut batches = Vec::new();
    let mut bytes = 8 + 32 * digests.len();
    for (i, digest) in digests.iter().enumerate() {
        let Some(batch) = lookup(digest)? else {
            continue;
        };
        let len = 4 + wire::encoded_batch_len(&batch);
        if bytes + len > cap && !batches.is_empty() {
            return Ok(Response::Batches {
                batches,
                deferred: digests[i..].to_vec(),
            });
        }
        bytes += len;
        batches.push(batch);
    }
    Ok(Response::Batches {
        batches,
        deferred: Vec::new(),
    })
}

/// A finalized range being gathered for an answer, block by block from the asked height:
/// it ends at a block with a finality certificate once it holds the blocks asked for,
/// reaches the tip or an epoch's end, and never holds more than its byte cap past a
/// block it can prove.
#[derive(Debug)]
pub struct RangeReply {
    blocks: Vec<Block>,
    bytes: usize,
    /// Blocks up to the last one with a certificate, and that certificate.
    proved: Option<(usize, FinalityCert)>,
    max: usize,
    cap: usize,
}

impl RangeReply {
    /// A range of about `max` blocks (at most [`MAX_FINALIZED_PER_RESPONSE`]) within
    /// `cap` bytes.
    pub fn new(max: u32, cap: usize) -> RangeReply {
        RangeReply {
            blocks: Vec::new(),
            bytes: 8,
            proved: None,
            max: max as usize,
            cap,
        }
    }

    /// Adds the next block, with its stored finality certificate if any; `tip` if it is
    /// the last finalized block. Returns the answer once the range is complete.
    pub fn push(
        &mut self,
        block: Block,
        certificate: Option<FinalityCert>,
        tip: bool,
    ) -> Option<Response> {
        let len = 4 + wire::encoded_block_len_bound(&block) + CERTIFICATE_BYTES;
        if self.bytes + len > self.cap && self.proved.is_some() {
            return Some(self.finish());
        }
        self.bytes += len;
        let ends_epoch = block.next_epoch.is_some();
        self.blocks.push(block);
        if let Some(certificate) = certificate {
            self.proved = Some((self.blocks.len(), certificate));
            // A range ends at an epoch's last block: one committee proves it all.
            if self.blocks.len() >= self.max || tip || ends_epoch {
                return Some(self.finish());
            }
        }
        (self.blocks.len() >= MAX_FINALIZED_PER_RESPONSE).then(|| self.finish())
    }

    /// The answer with the blocks gathered up to the last one with a certificate; empty
    /// if none had one.
    pub fn finish(&mut self) -> Response {
        match self.proved.take() {
            Some((len, certificate)) => {
                let mut blocks = std::mem::take(&mut self.blocks);
                blocks.truncate(len);
                Response::Finalized {
                    blocks,
                    certificate: Some(certificate),
                }
            }
            None => Response::Finalized {
                blocks: Vec::new(),
                certificate: None,
            },
        }
    }
}

/// Bytes a finality certificate's encoding takes at most for a committee of up to
/// 32,768 members (a 4 KiB bitmap, a signature, a hash and varints).
const CERTIFICATE_BYTES: usize = 4096 + 96 + 32 + 64;

/// At most [`MAX_BATCHES_PER_REQUEST`] digests, one after the other.
fn digests(body: &[u8]) -> Result<Vec<Hash>, FrameError> {
    if !body.len().is_multiple_of(32) {
        return Err(FrameError::Truncated);
    }
    let count = body.len() / 32;
    if count > MAX_BATCHES_PER_REQUEST {
        return Err(FrameError::TooMany {
            what: "batch digests",
            count,
            max: MAX_BATCHES_PER_REQUEST,
        });
    }
    Ok(body
        .chunks_exact(32)
        .map(|c| Hash(c.try_into().expect("chunks_exact yields 32 bytes")))
        .collect())
}

fn tagged(kind: u8, body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(kind);
    out.extend_from_slice(&body);
    out
}

fn encode_list(items: &[Vec<u8>]) -> Vec<u8> {
    let total: usize = items.iter().map(|i| i.len() + 4).sum();
    let mut out = Vec::with_capacity(total + 4);
    out.extend_from_slice(&(items.len() as u32).to_be_bytes());
    for item in items {
        out.extend_from_slice(&(item.len() as u32).to_be_bytes());
        out.extend_from_slice(item);
    }
    out
}

/// Splits a list into its items without copying; the count is checked before anything
/// is allocated.
fn decode_list<'a>(
    mut body: &'a [u8],
    max: usize,
    what: &'static str,
) -> Result<Vec<&'a [u8]>, FrameError> {
    let count = take_u32(&mut body)? as usize;
    if count > max {
        return Err(FrameError::TooMany { what, count, max });
    }
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let len = take_u32(&mut body)? as usize;
        if len > body.len() {
            return Err(FrameError::Truncated);
        }
        let (item, rest) = body.split_at(len);
        items.push(item);
        body = rest;
    }
    if body.is_empty() {
        Ok(items)
    } else {
        Err(FrameError::Truncated)
    }
}

fn take_u32(body: &mut &[u8]) -> Result<u32, FrameError> {
    if body.len() < 4 {
        return Err(FrameError::Truncated);
    }
    let (head, rest) = body.split_at(4);
    *body = rest;
    Ok(u32::from_be_bytes(head.try_into().expect("4 bytes")))
}

/// Reads one length-prefixed frame of at most `max` bytes.
pub async fn read_frame<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one length-prefixed frame and closes the write side.
pub async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(body).await?;
    io.close().await
}

/// The request-response codec: framing plus bounded decoding.
#[derive(Debug, Clone)]
pub struct Codec {
    /// Decoding limits.
    pub limits: Limits,
}

fn invalid(e: FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, self.limits.max_message_bytes).await?;
        Request::decode(&frame, &self.limits).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, self.limits.max_message_bytes).await?;
        Response::decode(&frame, &self.limits).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request.encode()).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response.encode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::{SyncRequest, Tx};

    fn limits() -> Limits {
        Limits::new(4)
    }

    #[test]
    fn requests_round_trip() {
        let requests = [
            Request::Batches(vec![Hash::from_u64(1), Hash::from_u64(2)]),
            Request::Finalized {
                from_height: 7,
                max: 64,
            },
            Request::Consensus(Message::SyncRequest(SyncRequest {
                block_hash: Hash::from_u64(9),
                max_blocks: 3,
            })),
            Request::Shards {
                commitment: Hash::from_u64(4),
                indices: vec![0, 7, 63],
            },
            Request::Txs(vec![
                Tx {
                    namespace: 1,
                    payload: vec![7; 300],
                },
                Tx {
                    namespace: 2,
                    payload: vec![8],
                },
            ]),
        ];
        for r in requests {
            assert_eq!(Request::decode(&r.encode(), &limits()).unwrap(), r);
        }
    }

    #[test]
    fn responses_round_trip() {
        let batch = Batch {
            author: 1,
            epoch: 0,
            seq: 5,
            txs: vec![Tx {
                namespace: 3,
                payload: vec![1, 2, 3],
            }],
        };
        let responses = [
            Response::Ack,
            Response::Batches {
                batches: vec![batch.clone(), batch],
                deferred: vec![Hash::from_u64(3)],
            },
            Response::Batches {
                batches: vec![],
                deferred: vec![],
            },
            Response::Finalized {
                blocks: vec![],
                certificate: None,
            },
            Response::Refused("slow down".into()),
            Response::Shards(vec![vec![1, 2, 3], vec![]]),
        ];
        for r in responses {
            assert_eq!(Response::decode(&r.encode(), &limits()).unwrap(), r);
        }
    }

    fn big_batch(seq: u64) -> Batch {
        Batch {
            author: 0,
            epoch: 0,
            seq,
            txs: vec![
                Tx {
                    namespace: 1,
                    payload: vec![seq as u8; 128 << 10],
                };
                8
            ],
        }
    }

    #[test]
    fn a_batch_answer_over_a_frame_is_cut_and_the_rest_deferred() {
        let l = limits();
        let batches: Vec<Batch> = (0..8).map(big_batch).collect();
        let digests: Vec<Hash> = batches.iter().map(Batch::digest).collect();
        let lookup = |d: &Hash| -> Result<Option<Batch>, ()> {
            Ok(batches.iter().find(|b| b.digest() == *d).cloned())
        };
        // All eight in one answer would not fit the frame the asker reads.
        let whole = Response::Batches {
            batches: batches.clone(),
            deferred: vec![],
        };
        assert!(whole.encode().len() > l.max_message_bytes);

        let answer = batches_reply(&digests, reply_cap(&l), lookup).unwrap();
        let encoded = answer.encode();
        assert!(encoded.len() <= l.max_message_bytes);
        let Response::Batches {
            batches: sent,
            deferred,
        } = Response::decode(&encoded, &l).unwrap()
        else {
            panic!("not a batch answer");
        };
        assert!(!sent.is_empty() && !deferred.is_empty());
        // What was sent and what was deferred is everything asked for, in order.
        let sent: Vec<Hash> = sent.iter().map(Batch::digest).collect();
        assert_eq!([sent, deferred.clone()].concat(), digests);

        // Asked again for what it deferred, the peer sends the rest, a frame at a time.
        let mut left = deferred;
        let mut rounds = 1;
        while !left.is_empty() {
            let Response::Batches {
                batches: more,
                deferred,
            } = batches_reply(&left, reply_cap(&l), lookup).unwrap()
            else {
                panic!("not a batch answer");
            };
            assert!(!more.is_empty());
            assert!(
                more.iter()
                    .map(|b| 4 + wire::encoded_batch_len(b))
                    .sum::<usize>()
                    <= reply_cap(&l)
            );
            left = deferred;
            rounds += 1;
        }
        assert_eq!(rounds, 3);
    }

    #[test]
    fn a_finalized_range_stops_at_its_byte_cap_on_a_block_it_proves() {
        use synod_types::testing::{cert, child};
        let payload: Vec<Hash> = (0..1_024).map(Hash::from_u64).collect();
        let mut blocks = vec![child(
            &synod_types::testing::chain(1)[0],
            payload.clone(),
            Hash::ZERO,
        )];
        for _ in 1..200 {
            let next = child(blocks.last().unwrap(), payload.clone(), Hash::ZERO);
            blocks.push(next);
        }
        let l = limits();
        let gather = |max: u32, proved_every: usize| {
            let mut range = RangeReply::new(max, reply_cap(&l));
            for (i, block) in blocks.iter().enumerate() {
                let certificate = (i % proved_every == proved_every - 1)
                    .then(|| FinalityCert(cert(block.header.view, block.hash())));
                if let Some(answer) = range.push(block.clone(), certificate, i == blocks.len() - 1)
                {
                    return answer;
                }
            }
            range.finish()
        };
        // 200 blocks of 1,024 digests take 7 MiB: a range asked for them, or one that
        // runs on past the blocks asked for to the next block with a certificate, ends at
        // the last proved block that fits. (A range cannot end before its first proved
        // block; honest nodes store certificates at most one answer apart.)
        for (max, proved_every) in [(64, 1), (64, 50), (1, 100), (200, 7), (200, 1)] {
            let answer = gather(max, proved_every);
            let encoded = answer.encode();
            assert!(
                encoded.len() <= reply_cap(&l),
                "{max}/{proved_every}: {}",
                encoded.len()
            );
            let Response::Finalized {
                blocks: sent,
                certificate: Some(certificate),
            } = Response::decode(&encoded, &l).unwrap()
            else {
                panic!("{max}/{proved_every}: no range");
            };
            assert_eq!(sent[..], blocks[..sent.len()]);
            assert_eq!(certificate.0.block_hash, sent.last().unwrap().hash());
            assert_eq!(sent.len() % proved_every, 0);
        }
    }

    #[test]
    fn hostile_frames_are_errors_not_allocations() {
        let l = limits();
        // A list claiming four billion items is refused before anything is allocated.
        let mut huge = vec![RES_BATCHES];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Response::decode(&huge, &l),
            Err(FrameError::TooMany { .. })
        ));
        // An item longer than what is left.
        let mut short = vec![RES_BATCHES, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            Response::decode(&short, &l),
            Err(FrameError::Truncated)
        ));
        short.truncate(1);
        assert!(Response::decode(&short, &l).is_err());
        assert!(matches!(
            Request::decode(&[REQ_FINALIZED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], &l),
            Err(FrameError::TooMany { .. })
        ));
        let mut many_txs = vec![REQ_TXS];
        many_txs.extend_from_slice(&(MAX_TXS_PER_REQUEST as u32 + 1).to_be_bytes());
        assert!(matches!(
            Request::decode(&many_txs, &l),
            Err(FrameError::TooMany { .. })
        ));
        assert!(matches!(
            Request::decode(&[9], &l),
            Err(FrameError::UnknownKind(9))
        ));
        assert!(Request::decode(&[], &l).is_err());
        assert!(matches!(
            Request::decode(&[REQ_BATCHES, 1, 2], &l),
            Err(FrameError::Truncated)
        ));
        // Deterministic garbage never panics.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..2_000usize {
            let bytes: Vec<u8> = (0..len % 300)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = Request::decode(&bytes, &l);
            let _ = Response::decode(&bytes, &l);
        }
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_before_reading() {
        let mut frame = Vec::new();
        frame.extend_from_slice(&(10u32 << 20).to_be_bytes());
        let mut io = futures::io::Cursor::new(frame);
        let err = read_frame(&mut io, 1 << 20).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("exceeds the limit"), "{err}");
    }
}
