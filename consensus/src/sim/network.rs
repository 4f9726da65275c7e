//! The simulated network: a virtual clock, an event queue, and a link model with
//! latency, jitter (which reorders), loss and partitions.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use synod_types::{Batch, Hash, Message};

/// Link behaviour shared by all links.
#[derive(Debug, Clone, Copy)]
pub struct LinkModel {
    /// Minimum one-way delay.
    pub latency_ms: u64,
    /// Extra uniformly random delay in `0..=jitter_ms`; messages overtake each other.
    pub jitter_ms: u64,
    /// Probability that a message is lost.
    pub loss: f64,
}

/// Which messages a partition drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// Drops every message between slots of different groups.
    Symmetric(Vec<u8>),
    /// Drops messages from group 0 to group 1 only; the other direction works.
    OneWay(Vec<u8>),
}

/// A partition active in `[from_ms, until_ms)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Start.
    pub from_ms: u64,
    /// End (the network heals).
    pub until_ms: u64,
    /// What it cuts.
    pub cut: Cut,
}

impl Partition {
    /// Whether a message from `from` to `to` sent at `now` is dropped.
    pub fn drops(&self, now: u64, from: usize, to: usize) -> bool {
        if now < self.from_ms || now >= self.until_ms {
            return false;
        }
        match &self.cut {
            Cut::Symmetric(groups) => groups[from] != groups[to],
            Cut::OneWay(groups) => groups[from] == 0 && groups[to] == 1,
        }
    }
}

/// What happens at a point of virtual time.
#[derive(Debug)]
pub enum Event {
    /// A message arrives.
    Deliver {
        /// Receiving slot.
        to: usize,
        /// Sending slot.
        from: usize,
        /// The message.
        message: Message,
    },
    /// A node's timer fires (ignored if the node restarted since it was set).
    Timer {
        /// Slot.
        slot: usize,
        /// Incarnation of the node that set it.
        incarnation: u32,
        /// View.
        view: u64,
    },
    /// A node crashes.
    Crash {
        /// Slot.
        slot: usize,
    },
    /// Batches arrive: a new batch gossiped by its author, or the answer to a fetch of
    /// `asked`.
    Batches {
        /// Receiving slot.
        to: usize,
        /// Sending slot.
        from: usize,
        /// The batches.
        batches: Vec<Batch>,
        /// The request this answers (`None` for gossip).
        request: Option<u64>,
    },
    /// A request for batches by digest arrives.
    Fetch {
        /// Serving slot.
        to: usize,
        /// Asking slot.
        from: usize,
        /// The asking slot's number for the request.
        request: u64,
        /// The digests.
        digests: Vec<Hash>,
    },
    /// A fetch's wait is over: unless answered already, what it asked may be asked
    /// again, and a later answer is dropped.
    FetchTimeout {
        /// The asking slot.
        slot: usize,
        /// The request.
        request: u64,
    },
    /// A crashed node restarts from its disk; `wipe` forgets the safety state.
    Restart {
        /// Slot.
        slot: usize,
        /// Amnesia: start with an empty safety state.
        wipe: bool,
    },
}

struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on (time, insertion order): ties resolve in a fixed order.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The virtual clock and pending events.
#[derive(Default)]
pub struct Queue {
    now: u64,
    seq: u64,
    heap: BinaryHeap<Scheduled>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Queue(now={}, pending={})", self.now, self.heap.len())
    }
}

impl Queue {
    /// Current virtual time in milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Schedules `event` at `at` (not before now).
    pub fn at(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at: at.max(self.now),
            seq: self.seq,
            event,
        });
    }

    /// The next event, advancing the clock.
    pub fn pop(&mut self) -> Option<Event> {
        let next = self.heap.pop()?;
        self.now = next.at;
        Some(next.event)
    }
}

/// The network: link model plus partitions.
#[derive(Debug, Clone)]
pub struct Network {
    /// Link behaviour.
    pub link: LinkModel,
    /// Scheduled partitions.
    pub partitions: Vec<Partition>,
}

impl Network {
    /// The delivery time of a message sent now, or `None` if it is dropped.
    pub fn delay(&self, rng: &mut ChaCha8Rng, now: u64, from: usize, to: usize) -> Option<u64> {
        if from != to && self.partitions.iter().any(|p| p.drops(now, from, to)) {
            return None;
        }
        if self.link.loss > 0.0 && rng.gen_bool(self.link.loss) {
            return None;
        }
        let jitter = if self.link.jitter_ms > 0 {
            rng.gen_range(0..=self.link.jitter_ms)
        } else {
            0
        };
        Some(now + self.link.latency_ms + jitter)
    }

    /// When the last partition heals.
    pub fn healed_at(&self) -> u64 {
        self.partitions
            .iter()
            .map(|p| p.until_ms)
            .max()
            .unwrap_or(0)
    }
}
