//! Driving the consensus engine: its inputs from the network and timers, its actions
//! executed in order. Safety state is written and synced before the engine is told it
//! is durable, so no signed message leaves before its record (`docs/protocol.md` §3, S5).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use synod_consensus::engine::{Action, Input, Offense, Recipient};
use synod_consensus::Engine;
use synod_p2p::directory::{PENALTY_INVALID, PENALTY_MINOR};
use synod_p2p::{Gossip, Request, Verdict};
use synod_types::Message;

use super::{now_ms, Internal, Node, Purpose};

impl Node {
    /// Feeds one input to the engine and executes what it asks.
    pub(super) async fn drive(&mut self, input: Input) -> Result<()> {
        let Some(engine) = self.engine.as_mut() else {
            return Ok(());
        };
        let actions = engine.handle(input);
        self.execute(actions).await
    }

    /// Executes actions in order; the answers they produce are executed after them.
    pub(super) async fn execute(&mut self, actions: Vec<Action>) -> Result<()> {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let more = self.act(action).await?;
            queue.extend(more);
        }
        Ok(())
    }

    async fn act(&mut self, action: Action) -> Result<Vec<Action>> {
        fn engine(node: &mut Node) -> &mut Engine {
            node.engine
                .as_mut()
                .expect("actions come only from an engine")
        }
        match action {
            Action::PersistSafety { seq, state } => {
                // S5: the engine holds the message this state records until the
                // persistence thread reports it synced (`Persisted::Safety`).
                self.persist
                    .send(super::persist::Job::Safety { seq, state })
                    .await
                    .context("the persistence thread stopped")?;
            }
            Action::Send { to, message } => self.send(to, message),
            Action::Broadcast(message) => {
                if let Message::Proposal(p) = &message {
                    tracing::debug!(
                        height = p.block.header.height,
                        view = p.block.header.view,
                        batches = p.block.payload.len(),
                        "proposing"
                    );
                    self.progress.highest_height =
                        self.progress.highest_height.max(p.block.header.height);
                    #[cfg(feature = "testing")]
                    if super::testing::equivocating() {
                        self.equivocate(p).await;
                    }
                }
                if let Message::Timeout(t) = &message {
                    if self.progress.timeout_gossiped == Some(t.view) {
                        // Gossip ids are content hashes: the same bytes published again
                        // are dropped as a duplicate, so a validator that restarted after
                        // the first copy would never get it. Repeats go to each directly.
                        self.send_to_committee(&message);
                        return Ok(Vec::new());
                    }
                    self.progress.timeout_gossiped = Some(t.view);
                }
                self.net.publish(Gossip::Consensus(message)).await;
            }
            Action::PersistBlock(block) => {
                self.progress.highest_height =
                    self.progress.highest_height.max(block.header.height);
                self.availability.ordered(&block);
                self.persist
                    .send(super::persist::Job::Block(block))
                    .await
                    .context("the persistence thread stopped")?;
            }
            Action::ScheduleTimer { view, after_ms } => {
                let (internal, epoch) = (self.internal.clone(), self.committee.epoch());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(after_ms)).await;
                    let _ = internal.send(Internal::Timer { epoch, view }).await;
                });
            }
            Action::RequestPayload {
                view,
                empty,
                height,
                ..
            } => {
                tracing::debug!(view, height, empty, "payload asked for");
                // After the epoch's last block a block carries nothing (protocol §11, H2).
                let (payload, next_epoch) = if empty {
                    (Vec::new(), None)
                } else {
                    (self.pick_payload(), self.next_epoch_record())
                };
                let da_commitment = self.disperse(height, &payload, next_epoch.as_ref()).await?;
                return Ok(engine(self).handle(Input::PayloadReady {
                    view,
                    payload,
                    da_commitment,
                    timestamp_ms: now_ms(),
                    next_epoch,
                }));
            }
            Action::CheckPayload { block } => {
                tracing::debug!(
                    height = block.header.height,
                    view = block.header.view,
                    "checking a proposal's batches"
                );
                if let Some(valid) = self.check_payload(block).await? {
                    return Ok(valid);
                }
            }
            Action::Commit {
                blocks,
                certificate,
            } => {
                self.availability.queue_commit(blocks, certificate);
                self.flush_commits().await?;
            }
            Action::Evidence(evidence) => {
                tracing::warn!(
                    signer = %hex::encode(&evidence.signer.0[..8]),
                    epoch = evidence.epoch,
                    view = evidence.view,
                    phase = ?evidence.phase,
                    "equivocation evidence"
                );
                metrics::counter!("synod_consensus_evidence_total").increment(1);
                if let Some(publisher) = &self.evidence {
                    if publisher.try_send(evidence).is_err() {
                        tracing::warn!("the L1 publisher is not taking evidence; dropped");
                    }
                }
            }
            Action::Penalize { peer, offense } => {
                let points = match offense {
                    Offense::InvalidSignature | Offense::InvalidCertificate => PENALTY_INVALID,
                    Offense::Malformed(_) | Offense::BadSyncResponse => PENALTY_MINOR,
                };
                if let Some(peer) = self.peers.peer(peer.0) {
                    if self.judging.as_ref().is_some_and(|(_, s, _)| *s == peer) {
                        // Gossipsub scores the rejection itself.
                        self.judge(Verdict::Reject);
                    } else {
                        self.net.penalize(peer, points).await;
                    }
                    tracing::debug!(%peer, ?offense, "peer penalized");
                    metrics::counter!("synod_p2p_penalties_total").increment(1);
                }
            }
        }
        Ok(Vec::new())
    }

    fn send(&mut self, to: Recipient, message: Message) {
        if matches!(message, Message::SyncRequest(_)) && self.syncing_by_height() {
            // Finalized ranges by height bring this node closer far faster than chains
            // by hash; the engine asks again (on its view timer) once it is moved to the
            // synced block.
            return;
        }
        let (peer, purpose) = match (&to, &message) {
            (Recipient::Validator(index), Message::SyncRequest(_)) => {
                (self.peers.validator(*index), Purpose::Sync)
            }
            (Recipient::Peer(p), Message::SyncRequest(_)) => (self.peers.peer(p.0), Purpose::Sync),
            (Recipient::Validator(index), _) => (self.peers.validator(*index), Purpose::Vote),
            (Recipient::Peer(p), _) => (self.peers.peer(p.0), Purpose::Vote),
        };
        match peer {
            Some(peer) => self.request(peer, Request::Consensus(message), purpose),
            None => tracing::debug!(?to, "no known peer for recipient; message dropped"),
        }
    }

    /// Sends a message to every other member of the committee.
    fn send_to_committee(&mut self, message: &Message) {
        let (members, me) = (self.committee.size() as u32, self.me);
        for index in (0..members).filter(|i| Some(*i) != me) {
            self.send(Recipient::Validator(index), message.clone());
        }
    }

    /// What a validator waits for while its chain stands still (at debug level).
    fn log_stall(&self) {
        let Some(engine) = self.engine.as_ref() else {
            return;
        };
        let s = engine.status();
        tracing::debug!(
            view = s.view,
            high_qc_view = s.high_qc_view,
            high_tc_view = ?s.high_tc_view,
            has_high_qc_block = s.has_high_qc_block,
            highest_vote_view = s.highest_vote_view,
            last_proposal_view = s.last_proposal_view,
            unsent = s.unsent,
            syncing = s.syncing,
            waiting_parent = s.waiting_parent,
            awaiting_check = s.awaiting_check,
            checks_waiting_batches = self.availability.waiting_checks(),
            syncing_by_height = self.syncing_by_height(),
            no_vote = ?s.no_vote,
            "no block finalized in the last second"
        );
    }

    /// Logs one line per second: progress, not every message.
    pub(super) fn progress_line(&mut self) {
        let elapsed = self.progress.last_line.elapsed().as_secs_f64().max(1e-3);
        let blocks =
            self.chain.height() - self.progress.height_at_last_line.min(self.chain.height());
        let txs = self.chain.finalized_txs() - self.progress.txs_at_last_line;
        let view = self.engine.as_ref().map_or(0, |e| e.status().view);
        tracing::info!(
            height = self.chain.height(),
            view,
            blocks_per_s = format_args!("{:.1}", blocks as f64 / elapsed),
            tx_per_s = format_args!("{:.0}", txs as f64 / elapsed),
            mempool = self.mempool.len(),
            batches = self.pool.len(),
            peers = self.peers.connected_peers().count(),
            "progress"
        );
        if blocks == 0 {
            self.log_stall();
        }
        self.progress.last_line = Instant::now();
        self.progress.height_at_last_line = self.chain.height();
        self.progress.txs_at_last_line = self.chain.finalized_txs();
    }
}
