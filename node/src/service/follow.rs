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
use synod_types::{Block, Committee, Domain, FinalityCert, Hash, Phase};

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

/// Whether `certificate` proves `block` final for `committee` (one aggregate signature,
/// `docs/protocol.md` §5).
pub fn proves_final(
    block: &Block,
    certificate: &FinalityCert,
    committee: &Committee,
    domain: &Domain,
) -> bool {
    certificate.is_for(block)
        && certificate
            .0
            .verify(committee, domain, Phase::Commit)
            .is_ok()
}

/// What a range of finalized blocks from a peer amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeCheck {
    /// No blocks: nothing to do.
    Empty,
    /// An epoch's last block inside the range, not at its end: what follows it is signed
    /// by the next committee. Served by an older version, or crafted; not used.
    AcrossEpochEnd,
    /// The certificate is another committee's: not checkable here (this node is before or
    /// after that hand-over), not provably wrong.
    OtherEpoch,
    /// The certificate does not prove the last block final: the peer's fault.
    InvalidCertificate,
    /// The blocks do not link from `parent` at `first_height` (or a payload does not
    /// match its header): another chain, or this node moved on meanwhile.
    Unlinked,
    /// Every block is final, proven by the certificate through the parent links.
    Valid,
}

/// Checks a range of finalized blocks that should follow `parent` from `first_height`,
/// the last one proven final by `certificate`.
pub fn check_range(
    blocks: &[Block],
    certificate: &FinalityCert,
    parent: Hash,
    first_height: u64,
    committee: &Committee,
    domain: &Domain,
) -> RangeCheck {
    let Some((last, before)) = blocks.split_last() else {
        return RangeCheck::Empty;
    };
    if before.iter().any(|b| b.next_epoch.is_some()) {
        return RangeCheck::AcrossEpochEnd;
    }
    if certificate.0.epoch != committee.epoch() {
        return RangeCheck::OtherEpoch;
    }
    if !proves_final(last, certificate, committee, domain) {
        return RangeCheck::InvalidCertificate;
    }
    let mut parent = parent;
    let linked = blocks.iter().enumerate().all(|(i, b)| {
        let ok = b.header.height == first_height + i as u64
            && b.header.parent == parent
            && b.payload_matches();
        parent = b.hash();
        ok
    });
    if linked {
        RangeCheck::Valid
    } else {
        RangeCheck::Unlinked
    }
}

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
        let Some(certificate) = certificate else {
            return Ok(());
        };
        let parent = self
            .availability
            .last_queued()
            .map_or(self.chain.hash(), Block::hash);
        let first_height = self.follow.queued_height + 1;
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
            RangeCheck::Empty => return Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::chain;
    use synod_types::crypto::aggregate_signatures;
    use synod_types::{Certificate, Member, NextEpoch, Scheme, SecretKey, SignerBitmap};

    /// Four members of equal stake, and the domain they sign in.
    fn setup() -> (Vec<SecretKey>, Committee, Domain) {
        let keys: Vec<SecretKey> = (0..4).map(SecretKey::sim).collect();
        let domain = Domain {
            chain_id: 7,
            bridge: [1; 20],
        };
        let members = Member::equal_stakes(&keys, 10);
        let committee = Committee::new(0, Scheme::Sim, Hash::ZERO, members).unwrap();
        (keys, committee, domain)
    }

    /// A finality certificate for `block` at `view`, signed by the first `signers` keys.
    fn certify(block: &Block, view: u64, keys: &[SecretKey], signers: usize) -> FinalityCert {
        let (_, _, domain) = setup();
        let digest = domain.digest(0, view, Phase::Commit, &block.hash());
        let sigs: Vec<_> = keys[..signers].iter().map(|k| k.sign(&digest)).collect();
        let mut bitmap = SignerBitmap::new(keys.len());
        for i in 0..signers {
            bitmap.set(i as u32);
        }
        FinalityCert(Certificate {
            epoch: 0,
            view,
            block_hash: block.hash(),
            signers: bitmap,
            signature: aggregate_signatures(Scheme::Sim, &sigs).unwrap(),
        })
    }

    #[test]
    fn a_range_is_used_only_if_it_links_to_our_chain_and_its_certificate_proves_it() {
        let (keys, c, domain) = setup();
        let blocks = chain(5);
        // Our chain ends at block 1; the peer sends 2 to 5, proven by 5's certificate.
        let (parent, range) = (blocks[0].hash(), &blocks[1..]);
        let last = range.last().unwrap();
        let good = certify(last, last.header.view, &keys, 3);
        let check = |range: &[Block], cert: &FinalityCert, parent: Hash, first: u64| {
            check_range(range, cert, parent, first, &c, &domain)
        };
        assert_eq!(check(range, &good, parent, 2), RangeCheck::Valid);
        assert_eq!(check(&[], &good, parent, 2), RangeCheck::Empty);
        // Two of four signers are no quorum; a certificate of another block proves
        // nothing; one of another view is not this block's.
        assert_eq!(
            check(range, &certify(last, last.header.view, &keys, 2), parent, 2),
            RangeCheck::InvalidCertificate
        );
        assert_eq!(
            check(
                range,
                &certify(&blocks[3], last.header.view, &keys, 3),
                parent,
                2
            ),
            RangeCheck::InvalidCertificate
        );
        assert_eq!(
            check(
                range,
                &certify(last, last.header.view + 1, &keys, 3),
                parent,
                2
            ),
            RangeCheck::InvalidCertificate
        );
        // Not from our tip, not at our next height, or with a gap: unlinked.
        assert_eq!(
            check(range, &good, blocks[1].hash(), 2),
            RangeCheck::Unlinked
        );
        assert_eq!(check(range, &good, parent, 3), RangeCheck::Unlinked);
        let gap = [blocks[1].clone(), blocks[3].clone(), blocks[4].clone()];
        assert_eq!(check(&gap, &good, parent, 2), RangeCheck::Unlinked);
        // A block whose payload does not match its header.
        let mut forged = range.to_vec();
        forged[1].payload.push(Hash([9; 32]));
        assert_eq!(check(&forged, &good, parent, 2), RangeCheck::Unlinked);
    }

    #[test]
    fn a_range_stops_at_an_epochs_last_block_and_another_epoch_is_not_judged() {
        let (keys, c, domain) = setup();
        let blocks = chain(3);
        let mut inner = blocks.clone();
        inner[1].next_epoch = Some(NextEpoch {
            epoch: 1,
            l1_block: 10,
            members: Vec::new(),
        });
        let last = inner.last().unwrap();
        let cert = certify(last, last.header.view, &keys, 3);
        assert_eq!(
            check_range(&inner, &cert, Hash::ZERO, 1, &c, &domain),
            RangeCheck::AcrossEpochEnd
        );
        let mut other = certify(&blocks[2], blocks[2].header.view, &keys, 3);
        other.0.epoch = 1;
        assert_eq!(
            check_range(&blocks, &other, Hash::ZERO, 1, &c, &domain),
            RangeCheck::OtherEpoch
        );
    }
}
