//! The running node: one task that owns the consensus engine, the mempool, the batch
//! pool and the store, and talks to the network, the RPC server and its timers over
//! bounded channels.
//!
//! ```text
//!   RPC ──Command──▶ ┌──────────────── Node (this task) ────────────────┐ ──Gossip/Request──▶ p2p
//!                    │ mempool → batches → pool     engine (validator)  │ ◀──Event────────── p2p
//!   timers ─Internal▶│ store (RocksDB)              follower (full node) │
//!                    └───────────────────────────────────────────────────┘
//!                         │ watch: NodeStatus        │ broadcast: Finalized
//!                         ▼                          ▼
//!                    /status, getTips           synod_subscribeFinalized
//! ```
//!
//! The task holds components that own their state, each tested beside its code:
//! the payload-availability tracker and the intake (`synod_sequencer::{Availability,
//! Intake}`), the validator directory (`synod_p2p::Directory`), the hand-over checks
//! (`synod_staking::handover`) and the commit path (`chain.rs`: store, finalized tip,
//! stream, status). The files here route between them:
//! - `consensus.rs`: driving the engine, executing its actions in order;
//! - `payload.rs`: transactions, batches, payload checks and batch fetches, commits;
//! - `follow.rs`: certificates from the certificates topic, range requests and their
//!   answers, ranges served to peers (the decisions are `synod_consensus::follow`'s `Follow`);
//! - `epoch.rs`: the committee hand-over;
//! - `requests.rs`: direct requests out and in;
//! - `persist.rs`: the thread that syncs the safety state and acknowledged transactions;
//! - `boot.rs`: the committee, root and engine the node starts (or hands over) from;
//! - `status.rs`: what RPC reads and sends.

mod boot;
mod chain;
mod consensus;
mod data;
mod epoch;
mod follow;
mod payload;
mod persist;
mod requests;
mod retrieve;
mod status;
pub mod stream;
#[cfg(feature = "testing")]
pub mod testing;

pub use status::{
    BlockData, ChainInfo, Command, DataSource, FinalTx, Finalized, NodeStatus, Shared,
};

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chain::Chain;
use synod_consensus::engine::PeerId as EnginePeer;
use synod_consensus::follow::Follow;
use synod_consensus::Engine;
use synod_p2p::{Directory, Event, Gossip, MessageId, NetworkHandle, PeerId, Response, Verdict};
use synod_sequencer::{Availability, BatchBuilder, BatchPool, Intake, Mempool, PeerBudgets};
use synod_types::wire::Limits;
use synod_types::{Block, Committee, Domain, Hash, SecretKey};
use tokio::sync::{mpsc, watch};

use crate::config::{Config, Role};
use synod_keys::protection::Protection;
use synod_store::Store;

/// Timer and request outcomes that come back to the node task.
#[derive(Debug)]
enum Internal {
    /// A view timer of the engine of one epoch.
    Timer { epoch: u64, view: u64 },
    Response {
        peer: PeerId,
        purpose: Purpose,
        /// The batch digests asked for (batch requests only).
        asked: Vec<Hash>,
        result: Result<Response, synod_p2p::RequestError>,
    },
    /// A queued commit's block data, rebuilt from shards, or why not.
    Rebuilt {
        block: Hash,
        result: Result<synod_da::payload::Payload, String>,
    },
}

/// Why a request was sent, to route its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Vote,
    Sync,
    Batches,
    Finalized,
    Forward,
}

const INTERNAL_QUEUE: usize = 16_384;
/// Blocks behind the network at which a node is reported as syncing.
const SYNCED_SLACK: u64 = 8;

/// Everything the node needs to start.
pub struct Setup {
    /// The resolved configuration.
    pub config: Config,
    /// The genesis committee.
    pub committee: Arc<Committee>,
    /// The chain and bridge signatures are bound to.
    pub domain: Domain,
    /// The genesis block.
    pub genesis: Block,
    /// The validator's key (`None` for a full node).
    pub key: Option<SecretKey>,
    /// Decoding limits, from the committee size and the configuration.
    pub limits: Limits,
    /// The open database.
    pub store: Arc<Store>,
    /// The slashing-protection database (the safety state), kept apart from `store` so
    /// that wiping the chain data never wipes what the key has signed.
    pub protection: Arc<Protection>,
    /// The network.
    pub net: NetworkHandle,
    /// Network events.
    pub events: mpsc::Receiver<Event>,
    /// The attested height, as the publisher reads it from L1.
    pub attested: watch::Receiver<Option<u64>>,
    /// Where equivocation evidence goes for submission to L1 (the publisher).
    pub evidence: Option<mpsc::Sender<synod_types::Equivocation>>,
    /// The StakeTable's epoch snapshots, as the staking reader reads them from L1.
    pub l1_epochs: Option<watch::Receiver<synod_staking::Epochs>>,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup").finish_non_exhaustive()
    }
}

/// The node task.
pub struct Node {
    cfg: Config,
    domain: Domain,
    committee: Arc<Committee>,
    /// The genesis file's committee (blocks of its epoch are rebuilt from its shards).
    genesis_committee: Arc<Committee>,
    limits: Limits,
    protection: Arc<Protection>,
    /// The finalized chain: the store, the finalized stream, the status.
    chain: Chain,
    persist: mpsc::Sender<persist::Job>,
    /// The persistence thread, joined when the node stops.
    persist_thread: Option<std::thread::JoinHandle<()>>,
    net: NetworkHandle,
    engine: Option<Engine>,
    key: Option<SecretKey>,
    me: Option<u32>,
    mempool: Mempool,
    builder: Option<BatchBuilder>,
    pool: BatchPool,
    peers: Directory,
    /// Where the current committee is published for RPC.
    committee_tx: watch::Sender<Arc<Committee>>,
    /// The epoch's last block, final: the hand-over runs once the current input is done.
    hand_over_due: Option<Block>,
    /// Which batches the blocks in flight need, are fetched, are ordered; queued commits.
    availability: Availability,
    /// Transactions acknowledged here and not final; what is forwarded to validators.
    intake: Intake,
    /// What each peer may still forward (`Txs` requests).
    forward_budgets: PeerBudgets<PeerId>,
    /// The gossip message being handled, to report its verdict.
    judging: Option<(MessageId, PeerId, Verdict)>,
    follow: Follow<PeerId>,
    internal: mpsc::Sender<Internal>,
    last_announce: Option<Instant>,
    announce_due: Option<Instant>,
    progress: status::Progress,
    /// Evidence for the publisher to submit to L1.
    evidence: Option<mpsc::Sender<synod_types::Equivocation>>,
    /// The StakeTable's epoch snapshots read from L1.
    l1_epochs: Option<watch::Receiver<synod_staking::Epochs>>,
    /// The committee DA backend of the current committee (`data.rs`).
    da: synod_da::CommitteeDa,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Node {
    /// Builds the node from its setup and recovers its state from the store.
    pub fn new(setup: Setup) -> Result<(Node, Shared, Inputs)> {
        let Setup {
            config: cfg,
            committee,
            domain,
            genesis,
            key,
            limits,
            store,
            protection,
            net,
            events,
            attested,
            evidence,
            l1_epochs,
        } = setup;
        store
            .put_genesis(&genesis)
            .context("recording the genesis block")?;
        let genesis_committee = committee;
        let (committee, root) = boot::current_committee(&store, &genesis_committee, &genesis)?;
        let me = key
            .as_ref()
            .and_then(|k| committee.index_of(&k.public_key()));
        let engine = match (cfg.node.role, &key) {
            (Role::Validator, Some(key)) => Some(boot::engine(
                &cfg,
                &domain,
                &committee,
                key.clone(),
                root,
                &store,
                &protection,
            )?),
            _ => None,
        };
        // Batches ordered by restored blocks that are not final are not ordered again.
        let availability = Availability::new(engine.iter().flat_map(|e| e.held_blocks()));
        let intake = Intake::new(cfg.mempool.max_txs, cfg.mempool.max_tx_bytes);
        let mempool = Mempool::new(boot::mempool_config(&cfg));
        let pool = boot::batch_pool(&committee);
        let builder = me.map(|index| {
            // Batches are numbered by their creation time so a restarted validator never
            // reuses a sequence number for different contents.
            BatchBuilder::new(boot::batch_config(&cfg), index, committee.epoch(), now_ms())
        });
        let (internal, internal_rx) = mpsc::channel(INTERNAL_QUEUE);
        let (persist, persisted, persist_thread) =
            persist::spawn(store.clone(), protection.clone());
        let (committee_tx, committee_rx) = watch::channel(committee.clone());
        let (command_tx, command_rx) = mpsc::channel(4_096);
        let (chain, outputs) = Chain::open(store.clone(), &genesis)?;
        let info = Arc::new(ChainInfo {
            chain_id: domain.chain_id,
            bridge: format!("0x{}", hex::encode(domain.bridge)),
            stake_table: cfg.l1.stake_table.map(|a| a.to_string()),
            genesis_hash: genesis.hash().to_hex(),
            genesis_epoch: genesis.header.epoch,
        });
        let shared = Shared {
            chain: info,
            store,
            status: outputs.status,
            finalized: outputs.finalized,
            subscriptions: stream::Slots::new(stream::MAX_SUBSCRIPTIONS),
            commands: command_tx,
            committee: committee_rx,
            limits,
            attested,
            certified: outputs.certified,
        };
        let node = Node {
            follow: Follow::new(
                chain.height(),
                match cfg.node.role {
                    Role::Full => 0,
                    Role::Validator => cfg.consensus.catch_up_blocks,
                },
            ),
            da: boot::da_backend(&committee, me),
            cfg,
            domain,
            committee,
            genesis_committee,
            limits,
            protection,
            chain,
            persist,
            persist_thread: Some(persist_thread),
            net,
            engine,
            key,
            me,
            mempool,
            builder,
            pool,
            peers: Directory::default(),
            committee_tx,
            hand_over_due: None,
            availability,
            intake,
            forward_budgets: PeerBudgets::default(),
            judging: None,
            internal,
            last_announce: None,
            announce_due: Some(Instant::now() + Duration::from_millis(500)),
            progress: status::Progress::default(),
            evidence,
            l1_epochs,
        };
        let mut node = node;
        node.restore_pending()?;
        let inputs = Inputs {
            persisted,
            events,
            commands: command_rx,
            internal: internal_rx,
        };
        Ok((node, shared, inputs))
    }

    /// Runs until `shutdown` resolves or a storage error makes going on unsafe.
    pub async fn run(
        mut self,
        mut inputs: Inputs,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        if let Some(engine) = self.engine.as_mut() {
            let actions = engine.start();
            self.execute(actions).await?;
        }
        let mut batch_tick = tokio::time::interval(Duration::from_millis(
            self.cfg.batch.interval_ms.clamp(1, 1_000),
        ));
        batch_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut second = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(internal) = inputs.internal.recv() => self.on_internal(internal).await?,
                Some(event) = inputs.events.recv() => self.on_network(event).await?,
                Some(command) = inputs.commands.recv() => self.on_command(command).await?,
                Ok(()) = inputs.persisted.changed() => match inputs.persisted.borrow_and_update().clone() {
                    // A state of the previous epoch's engine is not this engine's.
                    persist::Persisted::Safety { epoch, seq } if epoch == self.committee.epoch() => {
                        self.drive(synod_consensus::Input::SafetyPersisted { seq }).await?;
                    }
                    persist::Persisted::Safety { .. } | persist::Persisted::Nothing => {}
                    persist::Persisted::Failed(e) => anyhow::bail!(e),
                },
                _ = batch_tick.tick() => {
                    self.cut_batches(false).await;
                    self.recheck_records().await?;
                }
                _ = second.tick() => self.every_second().await?,
            }
            if let Some(end) = self.hand_over_due.take() {
                self.hand_over(end).await?;
            }
        }
        // Hand what was acknowledged here to the other validators before leaving: they
        // order it even if this node never comes back (its record stays on disk too).
        let sent = self.cut_batches(true).await;
        if sent > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tracing::info!(
            height = self.chain.height(),
            batches = sent,
            "shutting down"
        );
        // Closing the queue lets the persistence thread write what is queued and close the
        // databases; the process must not exit before it has.
        let thread = self.persist_thread.take();
        drop(self);
        if let Some(thread) = thread {
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            anyhow::ensure!(
                matches!(joined, Ok(Ok(()))),
                "the persistence thread failed"
            );
        }
        Ok(())
    }

    async fn on_command(&mut self, command: Command) -> Result<()> {
        match command {
            Command::Submit { txs, reply } => {
                let mut accepted = Vec::new();
                let results: Vec<_> = txs
                    .into_iter()
                    .map(|tx| {
                        let copy = tx.clone();
                        let result = self.accept_tx(tx);
                        if let Ok(hash) = result {
                            accepted.push((hash, copy));
                        }
                        result
                    })
                    .collect();
                if accepted.is_empty() {
                    let _ = reply.send(results);
                } else {
                    // Durable before acknowledged: a crash loses no accepted transaction.
                    self.persist
                        .send(persist::Job::Accepted {
                            txs: accepted,
                            results,
                            reply,
                        })
                        .await
                        .context("the persistence thread stopped")?;
                }
            }
            Command::IsPending { hash, reply } => {
                let _ = reply.send(self.intake.is_pending(&hash));
            }
            Command::BlockData {
                height,
                from_shards,
                reply,
            } => self.block_data_for(height, from_shards, reply)?,
        }
        Ok(())
    }

    async fn on_network(&mut self, event: Event) -> Result<()> {
        match event {
            Event::Gossip {
                source,
                origin,
                id,
                message,
            } => {
                self.judging = Some((id.clone(), source, Verdict::Accept));
                self.on_gossip(source, origin, message).await?;
                if let Some((id, source, verdict)) = self.judging.take() {
                    self.net.report(id, source, verdict).await;
                }
            }
            Event::Request { peer, id, request } => {
                let response = self.serve(peer, request).await?;
                self.net.respond(id, response).await;
            }
            Event::Connected(peer) => {
                self.peers.connected(peer);
                self.probe_range(peer);
                // Announce to the newcomer once its subscriptions have arrived.
                self.announce_due = Some(Instant::now() + Duration::from_millis(500));
            }
            Event::Disconnected(peer) => self.peers.disconnected(peer),
        }
        Ok(())
    }

    /// Sets the verdict on the gossip message being handled.
    fn judge(&mut self, verdict: Verdict) {
        if let Some((_, _, v)) = self.judging.as_mut() {
            if *v != Verdict::Reject {
                *v = verdict;
            }
        }
    }

    async fn on_gossip(
        &mut self,
        source: PeerId,
        origin: Option<PeerId>,
        message: Gossip,
    ) -> Result<()> {
        match message {
            Gossip::Consensus(message) => {
                if message.epoch() > Some(self.committee.epoch()) {
                    // A peer already in a later epoch: this node missed a hand-over.
                    self.judge(Verdict::Ignore);
                    self.later_epoch_seen(source);
                } else if self.engine.is_some() {
                    let from = EnginePeer(self.peers.handle(source));
                    self.drive(synod_consensus::Input::Message { from, message })
                        .await?;
                } else {
                    self.judge(Verdict::Ignore);
                }
            }
            Gossip::Batch(batch) => self.on_batch(origin, batch).await?,
            Gossip::Finalized { block, certificate } => {
                self.on_finalized_gossip(source, block, certificate).await?;
            }
            Gossip::Announce {
                public_key,
                signature,
                ..
            } => self.on_announce(origin, public_key, signature),
        }
        Ok(())
    }

    async fn every_second(&mut self) -> Result<()> {
        self.publish_status();
        self.progress_line();
        let due = self.announce_due.is_some_and(|t| Instant::now() >= t)
            || self
                .last_announce
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(15));
        if due {
            self.announce().await;
        }
        self.refetch_missing();
        self.rebuild_commits()?;
        self.follow_tick().await
    }

    fn publish_status(&mut self) {
        let net = self.net.status();
        let view = self.engine.as_ref().map_or(0, |e| e.status().view);
        // The highest block seen proposed or certified, never below the finalized one
        // (a range synced by height, or a hand-over, commits blocks this node never saw
        // proposed).
        let proposed = self.progress.highest_height.max(self.chain.height());
        let network_height = self.follow.network_height().max(self.chain.height());
        let status = NodeStatus {
            role: match self.cfg.node.role {
                Role::Validator => "validator".into(),
                Role::Full => "full".into(),
            },
            peer_id: self.net.local_peer_id().to_string(),
            validator_index: self.me,
            view,
            proposed_height: proposed,
            finalized_height: self.chain.height(),
            finalized_hash: self.chain.hash().to_hex(),
            network_height,
            synced: self.chain.height() + SYNCED_SLACK >= network_height,
            peers: net.peers,
            mempool_txs: self.mempool.len(),
            pending_batches: self.pool.len(),
            acknowledged_pending: self.intake.pending(),
            finalized_txs: self.chain.finalized_txs(),
            finalized_blocks: self.chain.finalized_blocks(),
            full_data_from: self.chain.full_data_from(),
            epoch: self.committee.epoch(),
            l1_epoch: self
                .l1_epochs
                .as_ref()
                .and_then(|e| e.borrow().latest().map(|e| e.epoch)),
        };
        status::record_gauges(&status, &net);
        self.chain.publish_status(status);
    }
}

/// The node's input queues, consumed by [`Node::run`].
#[derive(Debug)]
pub struct Inputs {
    events: mpsc::Receiver<Event>,
    commands: mpsc::Receiver<Command>,
    internal: mpsc::Receiver<Internal>,
    persisted: watch::Receiver<persist::Persisted>,
}
