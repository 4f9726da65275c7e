//! Sync by height: what a node knows of finality on the network, when it fetches
//! finalized ranges instead of chains by hash, and which ranges it may use.
//!
//! Validators publish each commit's last block with its finality certificate. A node
//! behind (a full node at once, a validator more than `consensus.catch-up-blocks` behind
//! or before a hand-over it missed) asks a peer for the finalized blocks from its own
//! height on; a range is used only if its parent links lead from the node's last
//! finalized block to the certified block, so each block in it is proven final by that
//! one certificate (`check_range`).
//!
//! Pure: the caller passes the time and sends the requests; `P` is its name for a peer.

use std::time::{Duration, Instant};

use synod_types::{Block, Committee, Domain, FinalityCert, Hash, Phase};

/// How long a range request may stay unanswered before another is sent.
const RANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Least time between range requests prompted by peers speaking for a later epoch.
const LATER_EPOCH_PROBE: Duration = Duration::from_secs(2);

/// The follower's progress.
#[derive(Debug)]
pub struct Follow<P> {
    /// Highest finalized height proven by a certificate seen on the network.
    network_height: u64,
    /// Height of the last block queued for commit.
    queued_height: u64,
    /// The peer that last showed a certificate above us.
    source: Option<P>,
    /// The range request in flight: when it was sent, to which peer, and whether it
    /// probes that peer's unverified claim of a later epoch.
    inflight: Option<(Instant, P, bool)>,
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
    heard: Option<Hash>,
    /// Blocks behind the network at which ranges are fetched by height (0 for a full
    /// node; `consensus.catch-up-blocks` for a validator, whose engine fetches chains).
    slack: u64,
    /// The last range was as long as asked: the peer stopped at its cap, maybe not at
    /// its tip, so the next range is asked for whether or not a certificate above it was
    /// seen (on a halted chain, none is).
    more: bool,
}

impl<P: Copy + PartialEq> Follow<P> {
    /// A follower at `height` that syncs by height once more than `slack` blocks behind.
    pub fn new(height: u64, slack: u64) -> Follow<P> {
        Follow {
            slack,
            network_height: height,
            queued_height: height,
            source: None,
            inflight: None,
            probed: false,
            epoch_end: None,
            later_epoch_probe: None,
            heard: None,
            more: false,
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

    /// `peer` answered the range request in flight, or it failed; another may be sent.
    /// Returns whether it was a probe of that peer's claim of a later epoch. An answer
    /// from another peer (to a request given up) leaves the one in flight alone.
    pub fn request_failed(&mut self, peer: P) -> bool {
        match self.inflight {
            Some((_, asked, probe)) if asked == peer => {
                self.inflight = None;
                probe
            }
            _ => false,
        }
    }

    /// The committee changed here: what was known of a hand-over is done.
    pub fn handed_over(&mut self) {
        self.epoch_end = None;
    }

    /// Whether a known hand-over lies above the queued blocks.
    fn before_epoch_end(&self) -> bool {
        self.epoch_end.is_some_and(|h| h > self.queued_height)
    }

    /// Height of the last block queued for commit.
    pub fn queued_height(&self) -> u64 {
        self.queued_height
    }

    /// The peer that last showed a certificate above this node.
    pub fn source(&self) -> Option<P> {
        self.source
    }

    /// The block of the last finalized-block announcement verified here.
    pub fn heard(&self) -> Option<Hash> {
        self.heard
    }

    /// Whether `height` is queued or proven final on the network already.
    pub fn knows(&self, height: u64) -> bool {
        height <= self.queued_height.max(self.network_height)
    }

    /// `block` was shown final by `source`, its certificate verified. With `epoch_end`,
    /// an epoch's last block marks a hand-over to reach by height.
    pub fn certified(&mut self, source: P, block: &Block, epoch_end: bool) {
        let height = block.header.height;
        self.heard = Some(block.hash());
        self.network_height = height;
        self.source = Some(source);
        if epoch_end && block.next_epoch.is_some() {
            self.epoch_end = Some(height);
        }
    }

    /// Blocks up to `height` were queued for commit.
    pub fn queued(&mut self, height: u64) {
        self.queued_height = height;
        self.network_height = self.network_height.max(height);
    }

    /// A range of finalized blocks up to `height` was queued for commit; `full` if it
    /// held as many blocks as asked (the peer may hold more).
    pub fn range_queued(&mut self, height: u64, full: bool) {
        self.queued(height);
        self.more = full;
    }

    /// A peer answered a range request with nothing above the queued height.
    pub fn range_empty(&mut self) {
        self.more = false;
    }

    /// Whether finalized ranges should be fetched by height: more than the slack behind,
    /// right after a full range, or before a known hand-over.
    pub fn far_behind(&self) -> bool {
        self.network_height > self.queued_height + self.slack
            || self.more
            || self.before_epoch_end()
    }

    /// Whether ranges are being fetched by height (or about to be): the engine's chain
    /// requests by hash wait meanwhile. `engine` is its committed height.
    pub fn syncing_by_height(&self, engine: Option<u64>) -> bool {
        let engine_behind = engine.is_some_and(|h| h < self.queued_height);
        // A probe of a peer's unverified later-epoch claim does not hold the engine's
        // requests back: a peer that claims one and never answers would stall them.
        let fetching = self.inflight.is_some_and(|(_, _, probe)| !probe);
        !self.probed || fetching || engine_behind || self.far_behind()
    }

    /// A peer connected: whether it is the first, to be asked for the blocks above ours
    /// (a node that restarts behind learns how far behind it is before it syncs by hash).
    pub fn first_probe(&mut self) -> bool {
        !std::mem::replace(&mut self.probed, true)
    }

    /// A peer speaks for a later epoch: whether to ask it for finalized blocks now (at
    /// most every `LATER_EPOCH_PROBE`; the claim is not verifiable with this committee).
    pub fn later_epoch_probe(&mut self, now: Instant) -> bool {
        if self
            .later_epoch_probe
            .is_some_and(|t| now.duration_since(t) < LATER_EPOCH_PROBE)
        {
            return false;
        }
        self.later_epoch_probe = Some(now);
        true
    }

    /// Starts a range request unless one is in flight (for less than `RANGE_TIMEOUT`) or
    /// the queued blocks end an epoch (what follows is signed by a committee this node
    /// does not follow yet); returns the height to ask from.
    pub fn start_range(&mut self, peer: P, queued_ends_epoch: bool, now: Instant) -> Option<u64> {
        self.start(peer, queued_ends_epoch, now, false)
    }

    /// [`Follow::start_range`] to `peer`, prompted by its claim of a later epoch: the
    /// claim is not verifiable with this committee, so the request does not count as
    /// syncing by height, and [`Follow::request_failed`] says it was a probe.
    pub fn start_probe(&mut self, peer: P, queued_ends_epoch: bool, now: Instant) -> Option<u64> {
        self.start(peer, queued_ends_epoch, now, true)
    }

    fn start(
        &mut self,
        peer: P,
        queued_ends_epoch: bool,
        now: Instant,
        probe: bool,
    ) -> Option<u64> {
        // A request in flight holds back another, except that a probe never holds back
        // a range this node needs.
        let busy = self.inflight.is_some_and(|(t, _, probing)| {
            now.duration_since(t) < RANGE_TIMEOUT && (!probing || probe)
        });
        if busy || queued_ends_epoch {
            return None;
        }
        self.inflight = Some((now, peer, probe));
        Some(self.queued_height + 1)
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

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::crypto::aggregate_signatures;
    use synod_types::testing::chain;
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

    fn peer() -> u64 {
        7
    }

    #[test]
    fn a_full_node_syncs_by_height_at_once_a_validator_only_past_its_slack_or_a_hand_over() {
        let blocks = chain(3);
        let mut full = Follow::<u64>::new(0, 0);
        let mut validator = Follow::new(0, 16);
        assert!(!full.far_behind() && !validator.far_behind());
        full.certified(peer(), &blocks[0], false);
        validator.certified(peer(), &blocks[0], true);
        assert!(
            full.far_behind(),
            "one block behind is behind for a full node"
        );
        assert!(
            !validator.far_behind(),
            "its engine fetches a block or so by hash"
        );
        // An epoch's last block known final above us: fetched by height until reached.
        let mut end = blocks[1].clone();
        end.next_epoch = Some(NextEpoch {
            epoch: 1,
            l1_block: 10,
            members: Vec::new(),
        });
        validator.certified(peer(), &end, true);
        assert!(validator.far_behind());
        validator.queued(2);
        assert!(!validator.far_behind());
        assert!(validator.knows(2) && !validator.knows(3));
        assert_eq!(validator.heard(), Some(end.hash()));
    }

    #[test]
    fn one_range_request_at_a_time_from_the_next_height_and_none_past_an_epoch_end() {
        let mut f = Follow::<u64>::new(5, 0);
        let now = Instant::now();
        assert_eq!(f.start_range(1, false, now), Some(6));
        // In flight: no second request until it is answered or times out.
        assert_eq!(f.start_range(2, false, now + Duration::from_secs(1)), None);
        assert_eq!(f.start_range(2, false, now + RANGE_TIMEOUT), Some(6));
        // The late answer of the request given up leaves the new one in flight.
        assert!(!f.request_failed(1));
        assert_eq!(f.start_range(3, false, now + RANGE_TIMEOUT), None);
        assert!(!f.request_failed(2));
        f.queued(9);
        assert_eq!(f.start_range(1, false, now + RANGE_TIMEOUT), Some(10));
        f.request_failed(1);
        // The queued blocks end an epoch: nothing past it before the hand-over.
        assert_eq!(f.start_range(1, true, now + RANGE_TIMEOUT), None);
    }

    #[test]
    fn after_a_full_range_the_next_is_fetched_until_a_peer_has_nothing_more() {
        // A validator far behind a halted chain: no certificate above its height is ever
        // gossiped, yet it fetches range after range while they come full.
        let mut f = Follow::<u64>::new(0, 64);
        assert!(!f.far_behind());
        f.range_queued(64, true);
        assert!(f.far_behind());
        f.range_queued(128, true);
        assert!(f.far_behind());
        f.range_queued(150, false);
        assert!(!f.far_behind());
        f.range_queued(214, true);
        f.range_empty();
        assert!(!f.far_behind());
        assert_eq!(f.queued_height(), 214);
    }

    #[test]
    fn the_first_peer_is_probed_once_and_later_epoch_claims_at_most_every_two_seconds() {
        let mut f = Follow::<u64>::new(0, 16);
        assert!(f.syncing_by_height(Some(0)), "before the first probe");
        assert!(f.first_probe());
        assert!(!f.first_probe());
        let now = Instant::now();
        assert!(f.later_epoch_probe(now));
        assert!(!f.later_epoch_probe(now + Duration::from_secs(1)));
        assert!(f.later_epoch_probe(now + LATER_EPOCH_PROBE));
        // The engine behind what was synced by height waits for it.
        f.queued(4);
        assert!(f.syncing_by_height(Some(3)));
        assert!(!f.syncing_by_height(Some(4)));
    }

    #[test]
    fn a_probe_of_a_later_epoch_claim_holds_back_neither_the_engine_nor_a_needed_range() {
        let mut f = Follow::<u64>::new(10, 16);
        assert!(f.first_probe());
        let now = Instant::now();
        assert!(!f.syncing_by_height(Some(10)));
        // Peer 7 claims a later epoch: it is asked, and never answers.
        assert_eq!(f.start_probe(7, false, now), Some(11));
        assert!(
            !f.syncing_by_height(Some(10)),
            "the engine's requests by hash go on"
        );
        // A second claim does not start another probe meanwhile.
        assert_eq!(f.start_probe(8, false, now), None);
        // A range this node needs is asked for at once, and that one counts as syncing.
        assert_eq!(
            f.start_range(9, false, now + Duration::from_secs(1)),
            Some(11)
        );
        assert!(f.syncing_by_height(Some(10)));
        assert_eq!(f.start_probe(8, false, now + Duration::from_secs(1)), None);
        // The probe's late answer does not end the range request.
        assert!(!f.request_failed(7));
        assert!(f.syncing_by_height(Some(10)));
        assert!(!f.request_failed(9));
        // A failed probe says so, for the peer's penalty.
        assert_eq!(
            f.start_probe(7, false, now + Duration::from_secs(2)),
            Some(11)
        );
        assert!(f.request_failed(7));
        assert!(!f.request_failed(7));
    }
}
