//! Following finality: how a full node learns finalized blocks, and how every node serves
//! them by height.
//!
//! Validators publish each commit's last block with its finality certificate. A full
//! node verifies the certificate (one aggregate signature, `docs/protocol.md` §5) and
//! then asks a peer for the finalized blocks from its own height on; a range is
//! accepted only if its parent links lead from the node's last finalized block to the
//! certified block, so each block in it is proven final by that one certificate.

use std::time::{Duration, Instant};

use anyhow::Result;
use synod_p2p::protocol::{MAX_FINALIZED_PER_REQUEST, MAX_FINALIZED_PER_RESPONSE};
use synod_p2p::{PeerId, Request, Response, Verdict};
use synod_types::{Block, FinalityCert, Hash, Phase};

use synod_p2p::directory::PENALTY_INVALID;

use super::{Node, Purpose};
use crate::config::Role;

/// How long a range request may stay unanswered before another is sent.
const RANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Least time between range requests prompted by peers speaking for a later epoch.
const LATER_EPOCH_PROBE: Duration = Duration::from_secs(2);

/// The follower's progress.
#[derive(Debug)]
pub struct Follow {
    /// Highest finalized height proven by a certificate seen on the network.
    network_height: u64,
    /// Height of the last block queued for commit.
    queued_height: u64,
    /// The peer that last showed a certificate above us.
    source: Option<PeerId>,
    inflight: Option<Instant>,
    /// Whether the first connected peer was asked for the blocks above ours.
    probed: bool,
    /// A hand-over this node has not made yet is known: an epoch's last block at this
    /// height was shown final (verified). Its blocks are fetched by height until this
    /// node reaches them: no engine of this epoch will show them any more.
    epoch_end: Option<u64>,
    /// When a peer speaking for a later epoch was last asked for finalized blocks.
    later_epoch_probe: Option<Instant>,
    /// The block of the last finalized-block announcement received: announcing the same
    /// again would only be refused as a duplicate.
    pub heard: Option<Hash>,
}

impl Follow {
    /// A follower at `height`.
    pub fn new(height: u64) -> Follow {
        Follow {
            network_height: height,
            queued_height: height,
            source: None,
            inflight: None,
            probed: false,
            epoch_end: None,
            later_epoch_probe: None,
            heard: None,
        }
    }

    /// Highest finalized height known on the network.
    pub fn network_height(&self) -> u64 {
        self.network_height
    }

    /// A commit reached the store.
    pub fn committed(&mut self, height: u64) {
        self.queued_height = self.queued_height.max(height);
        self.network_height = self.network_height.max(height);
    }

    /// The range request failed; another may be sent.
    pub fn request_failed(&mut self) {
        self.inflight = None;
    }

    /// The committee changed here: what was known of a hand-over is done.
    pub fn handed_over(&mut self) {
        self.epoch_end = None;
    }

    /// Whether a known hand-over lies above the queued blocks.
    fn before_epoch_end(&self) -> bool {
        self.epoch_end.is_some_and(|h| h > self.queued_height)
    }
}

impl Node {
    fn verify_finality(&self, block: &Block, certificate: &FinalityCert) -> bool {
        certificate.is_for(block)
            && certificate
                .0
                .verify(&self.committee, &self.domain, Phase::Commit)
                .is_ok()
    }

    /// A finalized block with its certificate, from the certificates topic.
    pub(super) async fn on_finalized_gossip(
        &mut self,
        source: PeerId,
        block: Block,
        certificate: FinalityCert,
    ) -> Result<()> {
        let height = block.header.height;
        if height <= self.follow.queued_height.max(self.follow.network_height) {
            // Known already: nothing to verify, nothing to learn.
            self.judge(Verdict::Ignore);
            return Ok(());
        }
        if certificate.0.epoch != self.committee.epoch() {
            // Not provably wrong, only not verifiable with this committee: of a later
            // epoch, the blocks up to the hand-over are fetched by height first.
            self.judge(Verdict::Ignore);
            if certificate.0.epoch > self.committee.epoch() {
                self.later_epoch_seen(source);
            }
            return Ok(());
        }
        if !self.verify_finality(&block, &certificate) {
            self.judge(Verdict::Reject);
            return Ok(());
        }
        self.judge(Verdict::Accept);
        self.follow.heard = Some(block.hash());
        self.follow.network_height = height;
        self.follow.source = Some(source);
        if self.cfg.node.role != Role::Full {
            // Validators finalize through their engine, which fetches the chains it misses
            // by hash; one far behind syncs by height first, and so does one that missed
            // the epoch's last block (the next committee's engine starts from it).
            if block.next_epoch.is_some() {
                self.follow.epoch_end = Some(height);
            }
            if self.far_behind() {
                self.request_range(source);
            }
            return Ok(());
        }
        if height == self.follow.queued_height + 1 && !self.availability.has_commits() {
            let parent_ok = block.header.parent == self.chain.hash();
            if parent_ok {
                self.follow.queued_height = height;
                self.availability.queue_commit(vec![block], certificate);
                return self.flush_commits().await;
            }
        }
        self.request_range(source);
        Ok(())
    }

    /// Whether finalized ranges are being fetched by height (or about to be): the engine's
    /// chain requests by hash wait meanwhile.
    pub(super) fn syncing_by_height(&self) -> bool {
        let engine_behind = self
            .engine
            .as_ref()
            .is_some_and(|e| e.status().committed_height < self.follow.queued_height);
        !self.follow.probed || self.follow.inflight.is_some() || engine_behind || self.far_behind()
    }

    /// A peer connected: the first one is asked for the finalized blocks above ours, so a
    /// node that restarts behind learns how far behind it is before it syncs by hash.
    pub(super) fn probe_range(&mut self, peer: PeerId) {
        if !self.follow.probed {
            self.follow.probed = true;
            self.request_range(peer);
        }
    }

    /// A peer speaks for a later epoch (a certificate or a consensus message): this node
    /// missed a hand-over, whose blocks it asks that peer for, at most every
    /// `LATER_EPOCH_PROBE` (the claim is not verifiable with this committee, so it
    /// changes nothing else).
    pub(super) fn later_epoch_seen(&mut self, peer: PeerId) {
        if self
            .follow
            .later_epoch_probe
            .is_some_and(|t| t.elapsed() < LATER_EPOCH_PROBE)
        {
            return;
        }
        self.follow.later_epoch_probe = Some(Instant::now());
        self.request_range(peer);
    }

    fn request_range(&mut self, peer: PeerId) {
        if self
            .follow
            .inflight
            .is_some_and(|t| t.elapsed() < RANGE_TIMEOUT)
        {
            return;
        }
        // Nothing past an epoch's last block before the hand-over: what follows it is
        // signed by a committee this node does not follow yet.
        let queued_end = self
            .availability
            .last_queued()
            .is_some_and(|b| b.next_epoch.is_some());
        if queued_end {
            return;
        }
        self.follow.inflight = Some(Instant::now());
        self.request(
            peer,
            Request::Finalized {
                from_height: self.follow.queued_height + 1,
                max: MAX_FINALIZED_PER_REQUEST,
            },
            Purpose::Finalized,
        );
    }

    /// Whether this node should fetch finalized ranges by height: a full node whenever it
    /// is behind, a validator when it is more than `consensus.catch-up-blocks` behind.
    fn far_behind(&self) -> bool {
        let slack = match self.cfg.node.role {
            Role::Full => 0,
            Role::Validator => self.cfg.consensus.catch_up_blocks,
        };
        self.follow.network_height > self.follow.queued_height + slack
            || self.follow.before_epoch_end()
    }

    /// Once a second: a node behind the network asks for the next range, and a validator's
    /// engine is moved to what was synced by height.
    pub(super) async fn follow_tick(&mut self) -> Result<()> {
        self.move_engine_root().await?;
        if !self.far_behind() {
            return Ok(());
        }
        let peer = self
            .follow
            .source
            .filter(|p| self.peers.connected_peers().any(|c| c == p))
            .or_else(|| self.peers.connected_validators().first().copied());
        if let Some(peer) = peer {
            self.request_range(peer);
        }
        Ok(())
    }

    /// After a range synced by height: the engine goes on from the last finalized block
    /// instead of fetching the chain below it by hash.
    pub(super) async fn move_engine_root(&mut self) -> Result<()> {
        let Some(engine) = self.engine.as_mut() else {
            return Ok(());
        };
        if engine.status().committed_height >= self.chain.height() {
            return Ok(());
        }
        let Some((block, certificate)) = self.chain.store().committed()? else {
            return Ok(());
        };
        tracing::info!(
            height = block.header.height,
            "consensus resumes from the block synced by height"
        );
        let actions = engine.advance_committed(block, certificate);
        self.execute(actions).await
    }

    /// A range of finalized blocks from a peer: linked from our last block to a block
    /// that the certificate proves final.
    pub(super) async fn on_finalized_range(
        &mut self,
        peer: PeerId,
        blocks: Vec<Block>,
        certificate: Option<FinalityCert>,
    ) -> Result<()> {
        self.follow.inflight = None;
        let (Some(last), Some(certificate)) = (blocks.last(), certificate) else {
            return Ok(());
        };
        let mut parent = match self.availability.last_queued() {
            Some(queued) => Some(queued.hash()),
            None => Some(self.chain.hash()),
        };
        let first_height = self.follow.queued_height + 1;
        if blocks[..blocks.len() - 1]
            .iter()
            .any(|b| b.next_epoch.is_some())
        {
            // Ranges end at an epoch's last block: what follows is signed by the next
            // committee. Served by an older version, or crafted; not used.
            tracing::debug!(%peer, "finalized range across an epoch's last block");
            return Ok(());
        }
        let linked = blocks.iter().enumerate().all(|(i, b)| {
            let ok = b.header.height == first_height + i as u64
                && Some(b.header.parent) == parent
                && b.payload_matches();
            parent = Some(b.hash());
            ok
        });
        if certificate.0.epoch != self.committee.epoch() {
            // Another committee's: not checkable here (this node is before or after that
            // hand-over), not provably wrong.
            tracing::debug!(%peer, "finalized range of another epoch");
            return Ok(());
        }
        if !self.verify_finality(last, &certificate) {
            tracing::debug!(%peer, "finalized range with an invalid certificate");
            self.net.penalize(peer, PENALTY_INVALID).await;
            return Ok(());
        }
        if !linked {
            // Either the peer is on another chain (impossible with a valid certificate
            // unless a third of the stake is Byzantine) or we moved on meanwhile.
            tracing::debug!(%peer, "finalized range does not link to our chain");
            return Ok(());
        }
        let height = last.header.height;
        self.follow.queued_height = height;
        self.follow.network_height = self.follow.network_height.max(height);
        self.availability.queue_commit(blocks, certificate);
        self.flush_commits().await?;
        if self.far_behind() {
            self.request_range(peer);
        } else {
            self.move_engine_root().await?;
        }
        Ok(())
    }

    /// Finalized blocks from `from` for a peer: at least `max` if there are, and on to
    /// the next block with a stored certificate, which proves them all.
    pub(super) fn finalized_range(&self, from: u64, max: u32) -> Result<Response> {
        let mut blocks = Vec::new();
        let mut height = from.max(1);
        while height <= self.chain.height() && blocks.len() < MAX_FINALIZED_PER_RESPONSE {
            let Some(block) = self.chain.store().block_at(height)? else {
                break;
            };
            let certificate = self.chain.store().certificate(&block.hash())?;
            blocks.push(block);
            if let Some(certificate) = certificate {
                // A range ends at an epoch's last block: one committee proves it all.
                let ends_epoch = blocks.last().is_some_and(|b| b.next_epoch.is_some());
                if blocks.len() >= max as usize || height == self.chain.height() || ends_epoch {
                    return Ok(Response::Finalized {
                        blocks,
                        certificate: Some(certificate),
                    });
                }
            }
            height += 1;
        }
        Ok(Response::Finalized {
            blocks: Vec::new(),
            certificate: None,
        })
    }
}
