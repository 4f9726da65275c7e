//! Following finality on the node's side: certificates from the certificates topic,
//! range requests and their answers, and finalized ranges served to peers. The decisions
//! are `synod_consensus::follow`'s ([`Follow`], [`check_range`]); this file routes them.

use std::time::Instant;

use anyhow::Result;
use synod_p2p::directory::PENALTY_INVALID;
use synod_p2p::protocol::{reply_cap, RangeReply, MAX_FINALIZED_PER_REQUEST};
use synod_p2p::{PeerId, Request, Response, Verdict};
use synod_types::{wire, Block, FinalityCert};

use super::{Node, Purpose};
use crate::config::Role;
use synod_consensus::follow::{check_range, proves_final, RangeCheck};

impl Node {
    fn verify_finality(&self, block: &Block, certificate: &FinalityCert) -> bool {
        proves_final(block, certificate, &self.committee, &self.domain)
    }

    /// A finalized block with its certificate, from the certificates topic.
    pub(super) async fn on_finalized_gossip(
        &mut self,
        source: PeerId,
        block: Block,
        certificate: FinalityCert,
    ) -> Result<()> {
        let height = block.header.height;
        if self.follow.knows(height) {
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
        // Validators finalize through their engine, which fetches the chains it misses by
        // hash; one far behind syncs by height first, and so does one that missed the
        // epoch's last block (the next committee's engine starts from it).
        let validator = self.cfg.node.role != Role::Full;
        self.follow.certified(source, &block, validator);
        if validator {
            if self.follow.far_behind() {
                self.request_range(source);
            }
            return Ok(());
        }
        let next = height == self.follow.queued_height() + 1;
        if next && !self.availability.has_commits() && block.header.parent == self.chain.hash() {
            self.follow.queued(height);
            self.availability.queue_commit(vec![block], certificate);
            return self.flush_commits().await;
        }
        self.request_range(source);
        Ok(())
    }

    /// Whether finalized ranges are being fetched by height (or about to be): the engine's
    /// chain requests by hash wait meanwhile.
    pub(super) fn syncing_by_height(&self) -> bool {
        let engine = self.engine.as_ref().map(|e| e.status().committed_height);
        self.follow.syncing_by_height(engine)
    }

    /// A peer connected: the first one is asked for the finalized blocks above ours.
    pub(super) fn probe_range(&mut self, peer: PeerId) {
        if self.follow.first_probe() {
            self.request_range(peer);
        }
    }

    /// A peer speaks for a later epoch (a certificate or a consensus message): this node
    /// missed a hand-over, whose blocks it asks that peer for, now and then.
    pub(super) fn later_epoch_seen(&mut self, peer: PeerId) {
        if self.follow.later_epoch_probe(Instant::now()) {
            self.start_range_request(peer, true);
        }
    }

    fn request_range(&mut self, peer: PeerId) {
        self.start_range_request(peer, false);
    }

    fn start_range_request(&mut self, peer: PeerId, probe: bool) {
        let queued_end = self
            .availability
            .last_queued()
            .is_some_and(|b| b.next_epoch.is_some());
        let now = Instant::now();
        let from = if probe {
            self.follow.start_probe(peer, queued_end, now)
        } else {
            self.follow.start_range(peer, queued_end, now)
        };
        if let Some(from_height) = from {
            self.request(
                peer,
                Request::Finalized {
                    from_height,
                    max: MAX_FINALIZED_PER_REQUEST,
                },
                Purpose::Finalized,
            );
        }
    }

    /// Once a second: a node behind the network asks for the next range, and a validator's
    /// engine is moved to what was synced by height.
    pub(super) async fn follow_tick(&mut self) -> Result<()> {
        self.move_engine_root().await?;
        if !self.follow.far_behind() {
            return Ok(());
        }
        let peer = self
            .follow
            .source()
            .filter(|p| self.peers.is_connected(p))
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
        self.follow.request_failed(peer);
        let Some(certificate) = certificate else {
            self.follow.range_empty();
            return Ok(());
        };
        // Full: as many blocks as asked, or cut at the peer's byte cap.
        let bytes: usize = blocks.iter().map(wire::encoded_block_len_bound).sum();
        let full = blocks.len() >= MAX_FINALIZED_PER_REQUEST as usize
            || bytes >= reply_cap(&self.limits) / 2;
        let parent = self
            .availability
            .last_queued()
            .map_or(self.chain.hash(), Block::hash);
        let first_height = self.follow.queued_height() + 1;
        let check = check_range(
            &blocks,
            &certificate,
            parent,
            first_height,
            &self.committee,
            &self.domain,
        );
        match check {
            RangeCheck::Valid => {}
            RangeCheck::Empty => {
                self.follow.range_empty();
                return Ok(());
            }
            RangeCheck::InvalidCertificate => {
                tracing::debug!(%peer, "finalized range with an invalid certificate");
                self.net.penalize(peer, PENALTY_INVALID).await;
                return Ok(());
            }
            other => {
                tracing::debug!(%peer, ?other, "finalized range not used");
                return Ok(());
            }
        }
        let last = blocks.last().expect("a valid range is not empty");
        self.follow.range_queued(last.header.height, full);
        self.availability.queue_commit(blocks, certificate);
        self.flush_commits().await?;
        if self.follow.far_behind() {
            self.request_range(peer);
        } else {
            self.move_engine_root().await?;
        }
        Ok(())
    }

    /// Finalized blocks from `from` for a peer: at least `max` if there are, and on to
    /// the next block with a stored certificate, which proves them all.
    pub(super) fn finalized_range(&self, from: u64, max: u32) -> Result<Response> {
        let mut range = RangeReply::new(max, reply_cap(&self.limits));
        let tip = self.chain.height();
        for height in from.max(1)..=tip {
            let Some(block) = self.chain.store().block_at(height)? else {
                break;
            };
            let certificate = self.chain.store().certificate(&block.hash())?;
            if let Some(answer) = range.push(block, certificate, height == tip) {
                return Ok(answer);
            }
        }
        Ok(range.finish())
    }
}
