//! Gossip topics and what travels on each, decoded with bounds.

use synod_types::wire::{self, Limits, WireError};
use synod_types::{Batch, Block, FinalityCert, Message, PublicKey, Signature};

/// Size of an announcement: key, signature, nonce.
const ANNOUNCE_BYTES: usize = 48 + 96 + 8;

/// A gossipsub topic of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Proposals and timeouts.
    Consensus,
    /// Batches of transactions, from their authors to every validator.
    Batches,
    /// Finalized blocks with their finality certificates, for followers.
    Certificates,
    /// Validators binding their BLS key to their peer id.
    Announce,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 4] = [
        Topic::Consensus,
        Topic::Batches,
        Topic::Certificates,
        Topic::Announce,
    ];

    /// The topic's name on a chain: `/synod/<chain id>/<topic>/1`.
    pub fn name(self, chain_id: u64) -> String {
        let topic = match self {
            Topic::Consensus => "consensus",
            Topic::Batches => "batches",
            Topic::Certificates => "certificates",
            Topic::Announce => "announce",
        };
        format!("/synod/{chain_id}/{topic}/1")
    }
}

/// A decoded gossip message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gossip {
    /// A proposal or a timeout.
    Consensus(Message),
    /// A batch.
    Batch(Batch),
    /// A finalized block and its finality certificate.
    Finalized {
        /// The block.
        block: Block,
        /// Its finality certificate.
        certificate: FinalityCert,
    },
    /// A validator's binding of its BLS key to the gossip message's origin peer id.
    Announce {
        /// The validator's BLS key.
        public_key: PublicKey,
        /// Its signature over [`announce_message`] of the origin's peer id.
        signature: Signature,
        /// Unsigned; makes each announcement a distinct gossip message.
        nonce: u64,
    },
}

/// Why a gossip message was rejected while decoding.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    /// The bytes are not a valid encoding.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A message of a kind that does not belong on the topic.
    #[error("{0} does not belong on this topic")]
    WrongTopic(&'static str),
    /// A length prefix larger than what follows.
    #[error("truncated message")]
    Truncated,
    /// Wrong length of a fixed-size message.
    #[error("announcement of {0} bytes, expected 152")]
    BadAnnounce(usize),
}

impl Gossip {
    /// The topic the message travels on.
    pub fn topic(&self) -> Topic {
        match self {
            Gossip::Consensus(_) => Topic::Consensus,
            Gossip::Batch(_) => Topic::Batches,
            Gossip::Finalized { .. } => Topic::Certificates,
            Gossip::Announce { .. } => Topic::Announce,
        }
    }

    /// Encodes the message for its topic.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Gossip::Consensus(m) => wire::encode_message(m),
            Gossip::Batch(b) => wire::encode_batch(b),
            Gossip::Finalized { block, certificate } => {
                let block = wire::encode_block(block);
                let mut out = Vec::with_capacity(block.len() + 256);
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
                out.extend_from_slice(&wire::encode_certificate(&certificate.0));
                out
            }
            Gossip::Announce {
                public_key,
                signature,
                nonce,
            } => {
                let mut out = public_key.0.to_vec();
                out.extend_from_slice(&signature.0);
                out.extend_from_slice(&nonce.to_be_bytes());
                out
            }
        }
    }

    /// Decodes a message received on `topic`, checking every bound.
    pub fn decode(topic: Topic, bytes: &[u8], limits: &Limits) -> Result<Gossip, GossipError> {
        Ok(match topic {
            Topic::Consensus => match wire::decode_message(bytes, limits)? {
                m @ (Message::Proposal(_) | Message::Timeout(_)) => Gossip::Consensus(m),
                Message::Vote(_) => return Err(GossipError::WrongTopic("a vote")),
                _ => return Err(GossipError::WrongTopic("a sync message")),
            },
            Topic::Batches => Gossip::Batch(wire::decode_batch(bytes, limits)?),
            Topic::Certificates => {
                if bytes.len() < 4 {
                    return Err(GossipError::Truncated);
                }
                let (len, rest) = bytes.split_at(4);
                let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
                if len > rest.len() {
                    return Err(GossipError::Truncated);
                }
                let (block, cert) = rest.split_at(len);
                Gossip::Finalized {
                    block: wire::decode_block(block, limits)?,
                    certificate: FinalityCert(wire::decode_certificate(cert, limits)?),
                }
            }
            Topic::Announce => {
                if bytes.len() != ANNOUNCE_BYTES {
                    return Err(GossipError::BadAnnounce(bytes.len()));
                }
                let (key, rest) = bytes.split_at(48);
                let (sig, nonce) = rest.split_at(96);
                Gossip::Announce {
                    public_key: PublicKey(key.try_into().expect("48 bytes")),
                    signature: Signature(sig.try_into().expect("96 bytes")),
                    nonce: u64::from_be_bytes(nonce.try_into().expect("8 bytes")),
                }
            }
        })
    }
}

/// What a validator signs to bind its BLS key to its libp2p peer id on a chain.
pub fn announce_message(chain_id: u64, peer_id: &[u8]) -> synod_types::Hash {
    let mut data = b"synod-announce-v1".to_vec();
    data.extend_from_slice(&chain_id.to_be_bytes());
    data.extend_from_slice(peer_id);
    synod_types::keccak256(&data)
}
