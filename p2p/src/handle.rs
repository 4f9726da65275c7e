//! The node's side of the network: its settings, the handle it sends through
//! (publish, request, respond, report, penalize), the events it receives, and the
//! status the swarm task publishes.

use std::time::Duration;

use libp2p::gossipsub::MessageId;
use libp2p::{Multiaddr, PeerId};
use synod_types::wire::Limits;
use tokio::sync::{mpsc, oneshot, watch};

use crate::gossip::Gossip;
use crate::protocol::{Request, Response};

/// Network settings.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Chain id: topics are namespaced by it.
    pub chain_id: u64,
    /// Addresses to listen on (TCP, and QUIC if a `/quic-v1` address is given).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start, with `/p2p/<peer id>`.
    pub bootnodes: Vec<Multiaddr>,
    /// Most established connections.
    pub max_peers: u32,
    /// Decoding limits; `max_message_bytes` bounds every gossip message and frame.
    pub limits: Limits,
    /// How long a direct request may take.
    pub request_timeout: Duration,
    /// Depth of the channel of events to the node.
    pub event_queue: usize,
}

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The transport or a behaviour could not be built.
    #[error("cannot build the network: {0}")]
    Build(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
}

/// Why a direct request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    /// The peer could not be reached, timed out or broke the protocol.
    #[error("request to {peer} failed: {reason}")]
    Failed {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// The network task has stopped.
    #[error("the network has stopped")]
    Stopped,
}

/// How the node judged a gossip message (gossipsub's validation result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it.
    Accept,
    /// Invalid: drop it and penalize the peer that forwarded it.
    Reject,
    /// Not useful (stale, duplicate): drop it without penalty.
    Ignore,
}

/// Something that happened on the network.
#[derive(Debug)]
pub enum Event {
    /// A decoded gossip message, waiting for a [`Verdict`] through
    /// [`NetworkHandle::report`].
    Gossip {
        /// The peer that forwarded it.
        source: PeerId,
        /// The peer that published it (gossip messages are signed by their origin).
        origin: Option<PeerId>,
        /// Its gossipsub id, to report the verdict.
        id: MessageId,
        /// The message.
        message: Gossip,
    },
    /// A direct request, to answer with [`NetworkHandle::respond`].
    Request {
        /// Who asked.
        peer: PeerId,
        /// Id to answer with.
        id: u64,
        /// The request.
        request: Request,
    },
    /// A connection to a peer was established.
    Connected(PeerId),
    /// The last connection to a peer closed.
    Disconnected(PeerId),
}

/// A snapshot of the network for status displays and metrics.
#[derive(Debug, Clone, Default)]
pub struct NetworkStatus {
    /// Connected peers.
    pub peers: usize,
    /// Addresses being listened on.
    pub listen: Vec<Multiaddr>,
    /// Events dropped because the node's queue was full.
    pub dropped_events: u64,
    /// Gossip messages and frames that failed to decode.
    pub invalid_messages: u64,
    /// Peers disconnected and banned for misbehaviour.
    pub banned_peers: usize,
}

pub(crate) enum Command {
    Publish(Gossip),
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, RequestError>>,
    },
    Respond {
        id: u64,
        response: Response,
    },
    Report {
        id: MessageId,
        source: PeerId,
        verdict: Verdict,
    },
    Penalize {
        peer: PeerId,
        points: f64,
    },
}

/// The node's side of the network: cheap to clone.
#[derive(Debug, Clone)]
pub struct NetworkHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) local: PeerId,
    pub(crate) status: watch::Receiver<NetworkStatus>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl NetworkHandle {
    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    /// The latest status snapshot.
    pub fn status(&self) -> NetworkStatus {
        self.status.borrow().clone()
    }

    /// Publishes a message on its topic.
    pub async fn publish(&self, message: Gossip) {
        let _ = self.commands.send(Command::Publish(message)).await;
    }

    /// Sends a direct request and waits for the answer.
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, RequestError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Request {
                peer,
                request,
                reply,
            })
            .await
            .map_err(|_| RequestError::Stopped)?;
        answer.await.map_err(|_| RequestError::Stopped)?
    }

    /// Answers the request with this id.
    pub async fn respond(&self, id: u64, response: Response) {
        let _ = self.commands.send(Command::Respond { id, response }).await;
    }

    /// Reports the verdict on a gossip message; it feeds the forwarder's peer score.
    pub async fn report(&self, id: MessageId, source: PeerId, verdict: Verdict) {
        let _ = self
            .commands
            .send(Command::Report {
                id,
                source,
                verdict,
            })
            .await;
    }

    /// Lowers a peer's score for misbehaviour seen by the node (an invalid signature in
    /// a direct message, a bad sync response). Enough points disconnect and ban it.
    pub async fn penalize(&self, peer: PeerId, points: f64) {
        let _ = self.commands.send(Command::Penalize { peer, points }).await;
    }
}
