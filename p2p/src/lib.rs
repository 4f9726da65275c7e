//! Synod's peer-to-peer layer, on libp2p.
//!
//! ```text
//!   node ── NetworkHandle (publish / request / respond / report / penalize) ──▶ swarm task
//!   node ◀── Event (Gossip, Request, Connected, Disconnected) ────────────────── swarm task
//! ```
//!
//! - Transport: TCP + noise + yamux, and QUIC when a `/udp/…/quic-v1` listen address is
//!   given; a persisted ed25519 identity ([`identity`]); bootnodes, identify and
//!   Kademlia discovery; connection limits.
//! - Gossipsub topics ([`gossip::Topic`]): consensus (proposals, timeouts), batches,
//!   forwarded transactions, finality certificates, validator announcements. Every
//!   message is decoded with the bounds of `synod_types::wire` before the node sees it;
//!   an undecodable one is rejected at once. The node reports a [`Verdict`] on the rest
//!   (gossipsub's Accept / Reject / Ignore), which feeds the forwarder's peer score, and
//!   can add penalties of its own; a peer whose penalties reach [`scoring::BAN_POINTS`]
//!   is disconnected and banned.
//! - Direct requests ([`protocol`]): votes to the next leader, sync of blocks by hash,
//!   batches by digest, finalized blocks by height. Length-prefixed frames, bounded
//!   in size and in the number of items.
//!
//! - The validator directory ([`directory`]): which peer speaks for which committee
//!   member (signed announcements), the engine's handles for peers, penalty points.
//!
//! The crate knows nothing of consensus rules: whether a signature or certificate is
//! valid is the node's and the engine's business.

pub mod directory;
pub mod gossip;
pub mod handle;
pub mod identity;
pub mod network;
pub mod protocol;
pub mod scoring;

pub use directory::{Announced, Directory};
pub use gossip::{announce_message, Gossip, Topic};
pub use handle::{
    Event, NetworkConfig, NetworkError, NetworkHandle, NetworkStatus, RequestError, Verdict,
};
pub use libp2p::{gossipsub::MessageId, identity::Keypair, Multiaddr, PeerId};
pub use network::start;
pub use protocol::{Request, Response};
