//! What one simulated run is made of: its nodes and their behaviours, crashes, the
//! network, the invariants it expects to hold or break, and its limits.

use synod_types::QuorumRule;

use super::network::Network;

/// How a simulated node behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Follows the protocol (may still crash and restart from its disk).
    Honest,
    /// A follower without a key: verifies and commits, never signs.
    Observer,
    /// Sends nothing.
    Silent,
    /// As leader, sends two different signed proposals for its view.
    Equivocator,
    /// Votes for its block and, signed as well, for a block that does not exist.
    DoubleVoter,
    /// Also re-sends old messages it received, to random nodes.
    Replayer,
    /// Every signature it sends is corrupted.
    BadSigner,
    /// Crashes often and restarts without its safety state (ignores its lock).
    Amnesiac,
    /// One of two nodes running the same key.
    Twin,
    /// Forges votes and timeouts in honest members' names, relays proposals with their
    /// certificates stripped and timeouts with a corrupted high certificate.
    Forger,
    /// Votes without commit signatures, so finality depends on honest votes.
    Withholder,
    /// As leader, puts a DA commitment in its header that is not its data's.
    CorruptCommitment,
}

/// One simulated node.
#[derive(Debug, Clone)]
pub struct SlotSpec {
    /// Committee index whose key it runs (`u32::MAX` for followers).
    pub member: u32,
    /// Behaviour.
    pub behavior: Behavior,
    /// Probability of crashing right after each safety-state write, before sending.
    pub crash_after_persist: f64,
}

/// A crash, and the restart that follows it.
#[derive(Debug, Clone)]
pub struct Crash {
    /// Slot.
    pub slot: usize,
    /// When.
    pub at_ms: u64,
    /// Restart delay; `None` stays down.
    pub restart_after_ms: Option<u64>,
    /// Restart without the safety state (amnesia).
    pub wipe: bool,
}

/// A fully specified run.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Scenario name.
    pub name: String,
    /// Stake of each committee member.
    pub stakes: Vec<u64>,
    /// The nodes.
    pub slots: Vec<SlotSpec>,
    /// Links and partitions.
    pub network: Network,
    /// Crashes.
    pub crashes: Vec<Crash>,
    /// The quorum rule the engines use (the checker always uses the protocol's).
    pub quorum_rule: QuorumRule,
    /// A negative control: passes only if a violation is detected.
    pub expect_violation: bool,
    /// Fails unless equivocation evidence is reported.
    pub expect_evidence: bool,
    /// Fails unless peers are penalized.
    pub expect_penalties: bool,
    /// Blocks every honest node must finalize after the network heals.
    pub target_blocks: u64,
    /// A block from at most this many views after the heal must be finalized.
    pub progress_views: u64,
    /// Virtual time limit.
    pub max_time_ms: u64,
    /// Event limit.
    pub max_events: u64,
    /// Base view timeout.
    pub base_timeout_ms: u64,
    /// Times the whole network crashes at once, each time just after a block that
    /// orders batches is certified and before any node finalizes it (every node
    /// restarts 100–1,500 ms later).
    pub window_crashes: u32,
    /// Nodes keep batches in memory until they commit them, instead of writing them
    /// before they propose or vote (the defect a negative control must catch).
    pub volatile_batches: bool,
    /// Nodes vote without checking a block's DA commitment against its data (the
    /// defect a negative control must catch).
    pub unchecked_commitments: bool,
}

impl Setup {
    /// When the last fault affecting honest nodes ends.
    pub fn heal_at_ms(&self) -> u64 {
        let restarts = self
            .crashes
            .iter()
            .filter(|c| self.slots[c.slot].behavior == Behavior::Honest)
            .map(|c| c.at_ms + c.restart_after_ms.unwrap_or(u64::MAX / 4))
            .max()
            .unwrap_or(0);
        self.network.healed_at().max(restarts)
    }
}

/// Overrides from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Params {
    /// Committee size.
    pub nodes: Option<usize>,
    /// Blocks to finalize after the heal.
    pub blocks: Option<u64>,
}
