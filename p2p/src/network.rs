//! The swarm task: owns the libp2p swarm and talks to the node over bounded channels.
//!
//! The task never blocks on the node: events go out with `try_send` and are dropped
//! (and counted) when the node's queue is full, as a lossy link would drop them. The
//! node's commands come in over a bounded channel that the node awaits.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    connection_limits, identify, identity, kad, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use synod_types::wire::Limits;
use tokio::sync::{mpsc, oneshot, watch};

use crate::gossip::{Gossip, Topic};
use crate::protocol::{Codec, Request, Response, PROTOCOL};

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

enum Command {
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
    commands: mpsc::Sender<Command>,
    local: PeerId,
    status: watch::Receiver<NetworkStatus>,
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

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    direct: request_response::Behaviour<Codec>,
}

/// Penalty points at which a peer is disconnected and banned.
pub const BAN_POINTS: f64 = 100.0;
/// How long a ban lasts.
pub const BAN_DURATION: Duration = Duration::from_secs(600);
/// Penalties shrink by this factor every second (a half-life of about 35 s), so
/// occasional faults of an honest peer never add up to a ban.
const PENALTY_DECAY: f64 = 0.98;
/// Peers remembered as banned, at most (oldest forgotten first).
const MAX_BANNED: usize = 1_024;
/// Direct requests from peers awaiting the node's answer, at most.
const MAX_PENDING_INBOUND: usize = 4_096;
/// Direct requests to peers in flight, at most.
const MAX_PENDING_OUTBOUND: usize = 4_096;
const COMMAND_QUEUE: usize = 8_192;
/// How often bootnodes that are not connected are dialed again.
const BOOTNODE_REDIAL: Duration = Duration::from_secs(3);
const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/synod/kad/1");

/// Starts the network with this identity; returns the handle and the event stream.
pub fn start(
    keypair: identity::Keypair,
    cfg: NetworkConfig,
) -> Result<(NetworkHandle, mpsc::Receiver<Event>), NetworkError> {
    let local = keypair.public().to_peer_id();
    let mut swarm = build_swarm(keypair, &cfg)?;
    let mut topics = HashMap::new();
    for topic in Topic::ALL {
        let t = IdentTopic::new(topic.name(cfg.chain_id));
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&t)
            .map_err(|e| NetworkError::Build(e.to_string()))?;
        topics.insert(t.hash(), topic);
    }
    for addr in &cfg.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }
    for addr in &cfg.bootnodes {
        if let Some(peer) = peer_of(addr) {
            swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
        }
        if let Err(e) = swarm.dial(addr.clone()) {
            tracing::warn!(%addr, error = %e, "cannot dial bootnode");
        }
    }
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (event_tx, events) = mpsc::channel(cfg.event_queue);
    let (status_tx, status) = watch::channel(NetworkStatus::default());
    let task = Task {
        swarm,
        cfg,
        topics,
        events: event_tx,
        status: status_tx,
        inbound: HashMap::new(),
        outbound: HashMap::new(),
        next_inbound: 0,
        penalties: HashMap::new(),
        banned: VecDeque::new(),
        counters: NetworkStatus::default(),
    };
    tokio::spawn(task.run(command_rx));
    Ok((
        NetworkHandle {
            commands,
            local,
            status,
        },
        events,
    ))
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

fn build_swarm(
    keypair: identity::Keypair,
    cfg: &NetworkConfig,
) -> Result<Swarm<Behaviour>, NetworkError> {
    let build = |e: &dyn std::fmt::Display| NetworkError::Build(e.to_string());
    let max_bytes = cfg.limits.max_message_bytes;
    let gossip_cfg = gossipsub::ConfigBuilder::default()
        .max_transmit_size(max_bytes + 1024)
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .heartbeat_interval(Duration::from_millis(700))
        .message_id_fn(|m: &gossipsub::Message| {
            // Content-addressed ids (duplicates collapse); SHA-256 has CPU support where
            // keccak does not, and a batch is hashed by every node that relays it.
            use sha2::Digest as _;
            let mut hasher = sha2::Sha256::new();
            hasher.update(m.topic.as_str().as_bytes());
            hasher.update(&m.data);
            MessageId::from(hasher.finalize().to_vec())
        })
        .build()
        .map_err(|e| build(&e))?;
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(cfg.max_peers))
        .with_max_established_per_peer(Some(2))
        .with_max_pending_incoming(Some(cfg.max_peers))
        .with_max_pending_outgoing(Some(cfg.max_peers));
    let codec = Codec { limits: cfg.limits };
    let rr_cfg = request_response::Config::default()
        .with_request_timeout(cfg.request_timeout)
        .with_max_concurrent_streams(256);
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(|e| build(&e))?
        .with_quic()
        .with_behaviour(|key| {
            let peer = key.public().to_peer_id();
            let mut gossipsub = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossip_cfg,
            )?;
            gossipsub.with_peer_score(peer_score_params(cfg.chain_id), peer_score_thresholds())?;
            let mut kad_cfg = kad::Config::new(KAD_PROTOCOL);
            kad_cfg.set_query_timeout(Duration::from_secs(30));
            let mut kad =
                kad::Behaviour::with_config(peer, kad::store::MemoryStore::new(peer), kad_cfg);
            kad.set_mode(Some(kad::Mode::Server));
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(limits),
                identify: identify::Behaviour::new(identify::Config::new(
                    "/synod/id/1".into(),
                    key.public(),
                )),
                kad,
                gossipsub,
                direct: request_response::Behaviour::with_codec(
                    codec,
                    [(PROTOCOL, ProtocolSupport::Full)],
                    rr_cfg,
                ),
            })
        })
        .map_err(|e| build(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    Ok(swarm)
}

/// Gossipsub scoring: invalid messages (rejected by validation) weigh heavily on every
/// topic; the node's own penalties enter as the application-specific score.
fn peer_score_params(chain_id: u64) -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams {
        app_specific_weight: 1.0,
        ..Default::default()
    };
    for topic in Topic::ALL {
        let topic_params = gossipsub::TopicScoreParams {
            invalid_message_deliveries_weight: -50.0,
            invalid_message_deliveries_decay: 0.9,
            // Validators are few and stable; delivery counting would punish quiet topics.
            mesh_message_deliveries_weight: 0.0,
            first_message_deliveries_weight: 0.0,
            ..Default::default()
        };
        params
            .topics
            .insert(IdentTopic::new(topic.name(chain_id)).hash(), topic_params);
    }
    params
}

fn peer_score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -40.0,
        publish_threshold: -80.0,
        graylist_threshold: -BAN_POINTS,
        ..Default::default()
    }
}

struct Task {
    swarm: Swarm<Behaviour>,
    cfg: NetworkConfig,
    topics: HashMap<TopicHash, Topic>,
    events: mpsc::Sender<Event>,
    status: watch::Sender<NetworkStatus>,
    inbound: HashMap<u64, ResponseChannel<Response>>,
    outbound: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, RequestError>>>,
    next_inbound: u64,
    penalties: HashMap<PeerId, f64>,
    banned: VecDeque<(PeerId, std::time::Instant)>,
    counters: NetworkStatus,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut discovery = tokio::time::interval(Duration::from_secs(30));
        let mut redial = tokio::time::interval(BOOTNODE_REDIAL);
        redial.reset();
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                event = self.swarm.select_next_some() => self.on_swarm(event),
                _ = tick.tick() => {
                    self.decay_penalties();
                    self.publish_status();
                }
                _ = redial.tick() => self.redial_bootnodes(),
                _ = discovery.tick() => {
                    if self.swarm.connected_peers().next().is_some() {
                        let _ = self.swarm.behaviour_mut().kad.bootstrap();
                    }
                }
            }
        }
    }

    /// Dials again the bootnodes this node is not connected to: one that was not up yet
    /// at start, or that restarted, is reached within `BOOTNODE_REDIAL`.
    fn redial_bootnodes(&mut self) {
        let connected = self.swarm.connected_peers().count();
        if connected >= self.cfg.max_peers as usize {
            return;
        }
        for addr in self.cfg.bootnodes.clone() {
            let opts = match peer_of(&addr) {
                Some(peer) if self.swarm.is_connected(&peer) || self.is_banned(&peer) => continue,
                Some(peer) => DialOpts::peer_id(peer)
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .addresses(vec![addr.clone()])
                    .build(),
                None if connected == 0 => DialOpts::unknown_peer_id().address(addr.clone()).build(),
                None => continue,
            };
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%addr, error = %e, "cannot dial bootnode");
            }
        }
    }

    fn publish_status(&mut self) {
        let status = NetworkStatus {
            peers: self.swarm.connected_peers().count(),
            listen: self.swarm.listeners().cloned().collect(),
            banned_peers: self.banned.len(),
            ..self.counters.clone()
        };
        let _ = self.status.send(status);
    }

    /// Hands an event to the node; `false` if its queue was full and the event dropped.
    fn emit(&mut self, event: Event) -> bool {
        if self.events.try_send(event).is_err() {
            self.counters.dropped_events += 1;
            return false;
        }
        true
    }

    fn on_command(&mut self, command: Command) {
        let behaviour = self.swarm.behaviour_mut();
        match command {
            Command::Publish(message) => {
                let topic = IdentTopic::new(message.topic().name(self.cfg.chain_id));
                if let Err(e) = behaviour.gossipsub.publish(topic, message.encode()) {
                    // No peers yet, or a duplicate of something already published.
                    tracing::debug!(error = %e, "gossip publish failed");
                }
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                if self.outbound.len() >= MAX_PENDING_OUTBOUND {
                    let _ = reply.send(Err(RequestError::Failed {
                        peer,
                        reason: "too many requests in flight".into(),
                    }));
                    return;
                }
                let id = behaviour.direct.send_request(&peer, request);
                self.outbound.insert(id, reply);
            }
            Command::Respond { id, response } => {
                if let Some(channel) = self.inbound.remove(&id) {
                    let _ = behaviour.direct.send_response(channel, response);
                }
            }
            Command::Report {
                id,
                source,
                verdict,
            } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Reject => MessageAcceptance::Reject,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                };
                let _ = behaviour
                    .gossipsub
                    .report_message_validation_result(&id, &source, acceptance);
            }
            Command::Penalize { peer, points } => self.penalize(peer, points),
        }
    }

    fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned.iter().any(|(p, _)| p == peer)
    }

    fn penalize(&mut self, peer: PeerId, points: f64) {
        let total = self.penalties.entry(peer).or_default();
        *total += points;
        let total = *total;
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, -total);
        if total >= BAN_POINTS && !self.is_banned(&peer) {
            tracing::warn!(%peer, points = total, "banning misbehaving peer for 10 minutes");
            self.swarm.behaviour_mut().gossipsub.blacklist_peer(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            self.banned.push_back((peer, std::time::Instant::now()));
            if self.banned.len() > MAX_BANNED {
                self.unban_oldest();
            }
        }
    }

    fn unban_oldest(&mut self) {
        if let Some((old, _)) = self.banned.pop_front() {
            self.swarm
                .behaviour_mut()
                .gossipsub
                .remove_blacklisted_peer(&old);
            self.penalties.remove(&old);
        }
    }

    /// Once a second: penalties fade, bans expire.
    fn decay_penalties(&mut self) {
        let mut cleared = Vec::new();
        for (peer, points) in self.penalties.iter_mut() {
            *points *= PENALTY_DECAY;
            if *points < 1.0 {
                cleared.push(*peer);
            }
        }
        for peer in cleared {
            if !self.is_banned(&peer) {
                self.penalties.remove(&peer);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .set_application_score(&peer, 0.0);
            }
        }
        while self
            .banned
            .front()
            .is_some_and(|(_, since)| since.elapsed() >= BAN_DURATION)
        {
            self.unban_oldest();
        }
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message),
            SwarmEvent::Behaviour(BehaviourEvent::Direct(event)) => self.on_direct(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                for addr in info.listen_addrs.into_iter().take(8) {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer,
                addresses,
                ..
            })) => {
                let connected = self.swarm.connected_peers().count();
                if !self.swarm.is_connected(&peer)
                    && connected < self.cfg.max_peers as usize
                    && !self.is_banned(&peer)
                {
                    let _ = self.swarm.dial(
                        libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                            .addresses(addresses.into_vec())
                            .build(),
                    );
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if self.is_banned(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                } else if num_established.get() == 1 {
                    let _ = self.emit(Event::Connected(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                let _ = self.emit(Event::Disconnected(peer_id));
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, peer = %self.swarm.local_peer_id(), "listening");
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, source: PeerId, id: MessageId, message: gossipsub::Message) {
        let Some(&topic) = self.topics.get(&message.topic) else {
            return;
        };
        match Gossip::decode(topic, &message.data, &self.cfg.limits) {
            Ok(decoded) => {
                // A dropped message is never reported; gossipsub forgets it in time.
                let _ = self.emit(Event::Gossip {
                    source,
                    origin: message.source,
                    id,
                    message: decoded,
                });
            }
            Err(e) => {
                self.counters.invalid_messages += 1;
                tracing::debug!(peer = %source, ?topic, error = %e, "undecodable gossip");
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, MessageAcceptance::Reject);
            }
        }
    }

    fn on_direct(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if self.inbound.len() >= MAX_PENDING_INBOUND {
                        let _ = self.swarm.behaviour_mut().direct.send_response(
                            channel,
                            Response::Refused("busy: too many pending requests".into()),
                        );
                        return;
                    }
                    let id = self.next_inbound;
                    self.next_inbound += 1;
                    self.inbound.insert(id, channel);
                    if !self.emit(Event::Request { peer, id, request }) {
                        // Nobody will answer: close the stream now rather than at timeout.
                        self.inbound.remove(&id);
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.outbound.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let _ = reply.send(Err(RequestError::Failed {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                // Undecodable or oversized requests land here: penalize the sender.
                if let request_response::InboundFailure::Io(e) = &error {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        self.counters.invalid_messages += 1;
                        tracing::debug!(%peer, error = %e, "invalid direct request");
                        self.penalize(peer, 10.0);
                    }
                }
                self.inbound.retain(|_, c| c.is_open());
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}
