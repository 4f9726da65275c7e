//! The engine's contract with its driver: the inputs it takes, the actions it returns,
//! its tuning, what it restarts from and the status it shows. `docs/architecture.md`
//! ("The engine's contract with its driver") says what the driver does with each.

use synod_types::{Block, Domain, Equivocation, FinalityCert, Hash, Message, NextEpoch};

use super::safety::SafetyState;

/// An opaque handle for the peer a message came from, chosen by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// The committee member with this index (the driver knows its address).
    Validator(u32),
    /// A specific peer, such as the one that sent the message being answered.
    Peer(PeerId),
}

/// What the driver feeds the engine.
#[derive(Debug, Clone)]
pub enum Input {
    /// A message from a peer.
    Message {
        /// Who sent it.
        from: PeerId,
        /// The message, not yet validated.
        message: Message,
    },
    /// A timer scheduled with [`Action::ScheduleTimer`] fired.
    TimerFired {
        /// The view it was scheduled for.
        view: u64,
    },
    /// The payload requested with [`Action::RequestPayload`] is ready.
    PayloadReady {
        /// The view it was requested for.
        view: u64,
        /// The digests of the batches the block orders.
        payload: Vec<Hash>,
        /// DA commitment of the block data.
        da_commitment: Hash,
        /// The proposer's clock, milliseconds since the Unix epoch.
        timestamp_ms: u64,
        /// The committee to hand over to, making this block the epoch's last (only when
        /// the request allowed it).
        next_epoch: Option<NextEpoch>,
    },
    /// The answer to [`Action::CheckPayload`]: whether the payload is available and valid.
    PayloadChecked {
        /// The block whose payload was checked.
        block_hash: Hash,
        /// Whether a vote may be cast for it.
        valid: bool,
    },
    /// The safety state of [`Action::PersistSafety`] with this sequence number (and every
    /// earlier one) is durable.
    SafetyPersisted {
        /// The sequence number.
        seq: u64,
    },
}

/// Why a peer is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offense {
    /// A signature that does not verify.
    InvalidSignature,
    /// A certificate that does not verify.
    InvalidCertificate,
    /// A message that breaks the protocol's structure.
    Malformed(&'static str),
    /// A sync response nobody asked for, or that does not link.
    BadSyncResponse,
}

/// What the engine asks the driver to do, in order.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send to one recipient.
    Send {
        /// The recipient.
        to: Recipient,
        /// The message.
        message: Message,
    },
    /// Send to every committee member (and followers).
    Broadcast(Message),
    /// Make this state durable (synced to disk), then answer with `SafetyPersisted`.
    PersistSafety {
        /// Sequence number to acknowledge.
        seq: u64,
        /// The state.
        state: SafetyState,
    },
    /// Store a validated block (not yet final) so it can be served to peers.
    PersistBlock(Block),
    /// Fire `TimerFired { view }` after `after_ms` milliseconds.
    ScheduleTimer {
        /// The view.
        view: u64,
        /// Delay.
        after_ms: u64,
    },
    /// As leader: prepare a payload on top of `parent`, then answer with `PayloadReady`.
    RequestPayload {
        /// The view.
        view: u64,
        /// The parent block.
        parent: Hash,
        /// Height of the block to build.
        height: u64,
        /// The parent is (or descends from) the epoch's last block: the new block must
        /// be empty, with no batches and no hand-over record (H2).
        empty: bool,
    },
    /// Before voting: check the payload is available and valid (every batch stored),
    /// then answer with `PayloadChecked`. Its digest already matches the header.
    CheckPayload {
        /// The block.
        block: Block,
    },
    /// These blocks are final, ascending; `certificate` is the finality certificate of
    /// the last one, and proves the others as its ancestors.
    Commit {
        /// The newly final blocks.
        blocks: Vec<Block>,
        /// Finality certificate of the last block.
        certificate: FinalityCert,
    },
    /// Verified proof of an equivocation, for slashing.
    Evidence(Equivocation),
    /// A peer sent something invalid.
    Penalize {
        /// The peer.
        peer: PeerId,
        /// What it did.
        offense: Offense,
    },
}

/// Engine tuning.
#[derive(Debug, Clone)]
pub struct Config {
    /// Chain and bridge that signatures are bound to.
    pub domain: Domain,
    /// Timeout of a view after a successful one, in milliseconds.
    pub base_timeout_ms: u64,
    /// Upper bound of the view timeout after consecutive failures.
    pub max_timeout_ms: u64,
    /// Growth of the timeout per consecutive failed view, in percent (150 = ×1.5).
    pub timeout_backoff_percent: u64,
    /// Blocks asked for in one sync request.
    pub sync_batch: u32,
    /// Sync requests in flight at once.
    pub max_inflight_sync: usize,
    /// Votes and timeouts are accepted for at most this many views ahead.
    pub max_views_ahead: u64,
    /// Blocks held above the committed one.
    pub max_tree_blocks: usize,
    /// Proposals held while their parent is fetched.
    pub max_waiting_proposals: usize,
}

impl Config {
    /// Defaults for a network with ~50 ms round trips.
    pub fn new(domain: Domain) -> Config {
        Config {
            domain,
            base_timeout_ms: 1_000,
            max_timeout_ms: 30_000,
            timeout_backoff_percent: 150,
            sync_batch: 64,
            max_inflight_sync: 16,
            max_views_ahead: 64,
            max_tree_blocks: 65_536,
            max_waiting_proposals: 16,
        }
    }
}

/// State to restart from after a crash.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// The persisted safety state.
    pub safety: SafetyState,
    /// The last committed block and its finality certificate, if any.
    pub committed: Option<(Block, FinalityCert)>,
    /// Stored blocks above the committed one.
    pub blocks: Vec<Block>,
}

/// A snapshot for status displays and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Current view.
    pub view: u64,
    /// View of the highest quorum certificate.
    pub high_qc_view: u64,
    /// Height of the last committed block.
    pub committed_height: u64,
    /// Hash of the last committed block.
    pub committed_hash: Hash,
    /// Consecutive views that ended by timeout.
    pub consecutive_timeouts: u32,
    /// Blocks held above the committed one (bounded by `Config::max_tree_blocks`).
    pub blocks_held: usize,
    /// Highest view in which this validator voted or timed out.
    pub highest_vote_view: u64,
    /// View of this validator's last proposal.
    pub last_proposal_view: u64,
    /// View of the highest timeout certificate known.
    pub high_tc_view: Option<u64>,
    /// Whether the block the highest quorum certificate certifies is held here (a
    /// leader extends it).
    pub has_high_qc_block: bool,
    /// Signed messages waiting for their safety state to be durable (rule S5).
    pub unsent: usize,
    /// Blocks asked for by hash and not received yet.
    pub syncing: usize,
    /// Proposals waiting for their parent.
    pub waiting_parent: usize,
    /// Proposals waiting for their payload check.
    pub awaiting_check: usize,
    /// Why the last vote considered was not signed: its view (0 if not known) and why.
    pub no_vote: Option<(u64, &'static str)>,
}
