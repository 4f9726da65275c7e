//! The swarm task: owns the libp2p swarm and talks to the node over bounded channels.
//!
//! The task never blocks on the node: events go out with `try_send` and are dropped
//! (and counted) when the node's queue is full, as a lossy link would drop them. The
//! node's commands come in over a bounded channel that the node awaits.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    connection_limits, identify, identity, kad, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::gossip::{Gossip, Topic};
use crate::handle::{
    Command, Event, NetworkConfig, NetworkError, NetworkHandle, NetworkStatus, RequestError,
    Verdict,
};
use crate::protocol::{Codec, Request, Response, PROTOCOL};
use crate::scoring::{peer_score_params, peer_score_thresholds, Change, Penalties};

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    direct: request_response::Behaviour<Codec>,
}

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
        penalties: Penalties::default(),
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

struct Task {
    swarm: Swarm<Behaviour>,
    cfg: NetworkConfig,
    topics: HashMap<TopicHash, Topic>,
    events: mpsc::Sender<Event>,
    status: watch::Sender<NetworkStatus>,
    inbound: HashMap<u64, ResponseChannel<Response>>,
    outbound: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, RequestError>>>,
    next_inbound: u64,
    penalties: Penalties,
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
            banned_peers: self.penalties.banned(),
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
        self.penalties.is_banned(peer)
    }

    fn penalize(&mut self, peer: PeerId, points: f64) {
        let changes = self.penalties.penalize(peer, points, Instant::now());
        self.apply(changes);
    }

    /// Once a second: penalties fade, bans expire.
    fn decay_penalties(&mut self) {
        let changes = self.penalties.decay(Instant::now());
        self.apply(changes);
    }

    /// Applies what scoring decided to gossipsub and the connections.
    fn apply(&mut self, changes: Vec<Change>) {
        for change in changes {
            let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
            match change {
                Change::Score(peer, score) => {
                    gossipsub.set_application_score(&peer, score);
                }
                Change::Ban(peer) => {
                    tracing::warn!(%peer, "banning misbehaving peer for 10 minutes");
                    gossipsub.blacklist_peer(&peer);
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                Change::Unban(peer) => gossipsub.remove_blacklisted_peer(&peer),
            }
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
