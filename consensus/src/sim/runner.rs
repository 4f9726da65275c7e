//! Runs one simulated network from a seed: every random choice comes from one ChaCha
//! stream, so the same scenario and seed replay the same run event for event.

mod byzantine;
mod data;
mod lifecycle;
mod trace;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use synod_da::CommitteeDa;
use synod_sequencer::{Availability, BatchPool, PoolConfig};
use synod_types::hash::AbiWriter;
use synod_types::{
    keccak256, Batch, Block, Committee, Domain, FinalityCert, Hash, Header, Member, Message, Phase,
    QuorumCert, SecretKey,
};

use super::checker::Checker;
use super::network::{Event, Network, Queue};
use super::scenario::{Behavior, Setup};
use crate::engine::{Action, Config, Engine, Input, PeerId, Recipient, SafetyState};
use trace::{describe_action, describe_message};

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Committee size.
    pub nodes: usize,
    /// Invariant violations found.
    pub violations: Vec<String>,
    /// Whether the scenario is a negative control that must produce a violation.
    pub expect_violation: bool,
    /// Height of the finalized chain.
    pub height: u64,
    /// Highest view any node reached.
    pub views: u64,
    /// Virtual time simulated.
    pub sim_ms: u64,
    /// Messages delivered.
    pub messages: u64,
    /// Equivocation evidence reported.
    pub evidence: usize,
    /// Peer penalties reported.
    pub penalties: usize,
}

impl Outcome {
    /// A normal scenario passes without violations; a negative control passes when its
    /// violation was detected.
    pub fn passed(&self) -> bool {
        self.expect_violation != self.violations.is_empty()
    }
}

#[derive(Debug, Default)]
struct Disk {
    safety: Option<SafetyState>,
    blocks: HashMap<Hash, Block>,
    /// Batches written with their commit.
    batches: HashMap<Hash, Batch>,
    committed: Option<(Block, FinalityCert)>,
}

#[derive(Debug)]
struct Slot {
    member: u32,
    behavior: Behavior,
    key: SecretKey,
    engine: Option<Engine>,
    incarnation: u32,
    disk: Disk,
    log: VecDeque<Message>,
    crash_after_persist: f64,
    /// Batches in memory (lost at a crash).
    pool: BatchPool,
    /// Which batches the blocks in flight need (rebuilt at a restart).
    availability: Availability,
    /// Sequence number of the last batch this slot built.
    next_seq: u64,
    /// Batch requests not answered and not timed out: number → digests asked.
    fetches: HashMap<u64, Vec<Hash>>,
    /// Number of the last batch request.
    last_request: u64,
}

const REPLAY_LOG: usize = 128;

/// One simulated network.
#[derive(Debug)]
pub struct Sim {
    setup: Setup,
    seed: u64,
    cfg: Config,
    committee: Arc<Committee>,
    genesis: Block,
    queue: Queue,
    rng: ChaCha8Rng,
    slots: Vec<Slot>,
    checker: Checker,
    network: Network,
    messages: u64,
    evidence: usize,
    penalties: usize,
    equivocations: usize,
    max_view: u64,
    heal: Option<(u64, u64)>,
    trace: bool,
    /// Whole-network crashes still to apply ([`Setup::window_crashes`]).
    window_crashes_left: u32,
    /// When the last scheduled restart happens.
    restarts_until: u64,
    /// Highest block any engine committed.
    engine_committed: u64,
    /// The batches of every block an honest engine committed: block → (height, digests).
    finalized_payloads: HashMap<Hash, (u64, Vec<Hash>)>,
    /// The committee DA backend (its shard layout) the commitments are computed with.
    da: CommitteeDa,
    /// DA commitments computed so far: payload digest → commitment.
    commitments: HashMap<Hash, Hash>,
}

impl Sim {
    /// Builds the network of `setup` from `seed` (keys are simulator keys unless
    /// `bls` is set).
    pub fn new(setup: Setup, seed: u64, bls: bool) -> Sim {
        let rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5eed);
        let keys: Vec<SecretKey> = (0..setup.stakes.len())
            .map(|i| {
                if bls {
                    SecretKey::bls_from_ikm(
                        &AbiWriter::default().uint(seed).uint(i as u64).finish(),
                    )
                    .expect("64 bytes of key material")
                } else {
                    SecretKey::sim(i as u64)
                }
            })
            .collect();
        let members: Vec<Member> = keys
            .iter()
            .zip(&setup.stakes)
            .map(|(k, s)| Member {
                public_key: k.public_key(),
                stake: *s,
            })
            .collect();
        let scheme = keys[0].scheme();
        let seed_hash = keccak256(&seed.to_be_bytes());
        let honest_committee = Committee::new(0, scheme, seed_hash, members)
            .expect("scenario builds a valid committee");
        let mut engine_committee = honest_committee.clone();
        engine_committee.set_quorum_rule(setup.quorum_rule);
        let committee = Arc::new(engine_committee);
        let domain = Domain {
            chain_id: 31337,
            bridge: [0xb1; 20],
        };
        let genesis = Block::new(
            Header::genesis(0),
            QuorumCert::genesis(0, Hash::ZERO, setup.stakes.len()),
        );
        let mut cfg = Config::new(domain);
        cfg.base_timeout_ms = setup.base_timeout_ms;
        let slots = setup
            .slots
            .iter()
            .map(|s| Slot {
                member: s.member,
                behavior: s.behavior,
                key: keys[(s.member as usize).min(keys.len() - 1)].clone(),
                engine: None,
                incarnation: 0,
                disk: Disk::default(),
                log: VecDeque::new(),
                crash_after_persist: s.crash_after_persist,
                pool: BatchPool::new(PoolConfig::default()),
                availability: Availability::default(),
                next_seq: 0,
                fetches: HashMap::new(),
                last_request: 0,
            })
            .collect();
        let checker = Checker::new(honest_committee, domain, genesis.hash());
        let network = setup.network.clone();
        let window_crashes_left = setup.window_crashes;
        let da = CommitteeDa::new(&setup.stakes, None);
        Sim {
            setup,
            seed,
            cfg,
            committee,
            genesis,
            queue: Queue::default(),
            rng,
            slots,
            checker,
            network,
            messages: 0,
            evidence: 0,
            penalties: 0,
            equivocations: 0,
            max_view: 0,
            heal: None,
            trace: false,
            window_crashes_left,
            restarts_until: 0,
            engine_committed: 0,
            finalized_payloads: HashMap::new(),
            da,
            commitments: HashMap::new(),
        }
    }

    /// Prints every delivery and action to stderr (for replaying one seed).
    pub fn with_trace(mut self, trace: bool) -> Sim {
        self.trace = trace;
        self
    }

    fn log(&self, slot: usize, what: std::fmt::Arguments<'_>) {
        if self.trace {
            eprintln!("{:>8}ms slot {slot:>3}: {what}", self.queue.now());
        }
    }

    /// Runs to completion and checks the invariants.
    pub fn run(mut self) -> Outcome {
        for slot in 0..self.slots.len() {
            self.boot(slot, false);
        }
        for crash in self.setup.crashes.clone() {
            self.queue
                .at(crash.at_ms, Event::Crash { slot: crash.slot });
            if let Some(after) = crash.restart_after_ms {
                self.queue.at(
                    crash.at_ms + after,
                    Event::Restart {
                        slot: crash.slot,
                        wipe: crash.wipe,
                    },
                );
            }
        }
        let heal_at = self.setup.heal_at_ms();
        let mut events: u64 = 0;
        while let Some(event) = self.queue.pop() {
            let now = self.queue.now();
            if now > self.setup.max_time_ms || events > self.setup.max_events {
                break;
            }
            events += 1;
            if self.heal.is_none()
                && now >= heal_at.max(self.restarts_until)
                && self.window_crashes_left == 0
            {
                self.heal = Some((self.max_view, self.checker.canonical_height()));
            }
            match event {
                Event::Deliver { to, from, message } => self.deliver(to, from, message),
                Event::Timer {
                    slot,
                    incarnation,
                    view,
                } => {
                    if self.slots[slot].incarnation == incarnation {
                        self.feed(slot, Input::TimerFired { view });
                    }
                }
                Event::Batches {
                    to,
                    from,
                    batches,
                    request,
                } => {
                    if self.trace {
                        let digests: Vec<Hash> = batches.iter().map(Batch::digest).collect();
                        self.log(to, format_args!("<- {from}: batches {digests:?}"));
                    }
                    self.on_batches(to, batches, request);
                }
                Event::Fetch {
                    to,
                    from,
                    request,
                    digests,
                } => self.serve_batches(to, from, request, &digests),
                Event::FetchTimeout { slot, request } => self.on_fetch_timeout(slot, request),
                Event::Crash { slot } => self.crash(slot),
                Event::Restart { slot, wipe } => self.boot(slot, wipe),
            }
            if self.done() || (self.setup.expect_violation && !self.checker.violations.is_empty()) {
                break;
            }
        }
        self.final_checks();
        Outcome {
            scenario: self.setup.name.clone(),
            seed: self.seed,
            nodes: self.committee.size(),
            violations: self.checker.violations.clone(),
            expect_violation: self.setup.expect_violation,
            height: self.checker.canonical_height(),
            views: self.max_view,
            sim_ms: self.queue.now(),
            messages: self.messages,
            evidence: self.evidence,
            penalties: self.penalties,
        }
    }

    /// Honest validators and followers: the nodes every invariant is checked on.
    fn honest(&self, slot: usize) -> bool {
        matches!(
            self.slots[slot].behavior,
            Behavior::Honest | Behavior::Observer
        )
    }

    fn honest_member(&self, member: u32) -> bool {
        self.slots
            .iter()
            .filter(|s| s.member == member)
            .all(|s| matches!(s.behavior, Behavior::Honest | Behavior::Observer))
    }

    fn committed_height(&self, slot: usize) -> u64 {
        self.slots[slot]
            .disk
            .committed
            .as_ref()
            .map_or(0, |(b, _)| b.header.height)
    }

    fn done(&self) -> bool {
        let Some((_, height_at_heal)) = self.heal else {
            return false;
        };
        let goal = height_at_heal + self.setup.target_blocks;
        (0..self.slots.len())
            .filter(|s| self.honest(*s))
            .all(|s| self.committed_height(s) >= goal)
    }

    fn final_checks(&mut self) {
        self.data_checks();
        if self.setup.expect_violation {
            return;
        }
        let Some((view_at_heal, height_at_heal)) = self.heal else {
            self.checker.fail(format!(
                "the run ended at {} ms before the network healed",
                self.queue.now()
            ));
            return;
        };
        for slot in 0..self.slots.len() {
            if self.honest(slot) && self.committed_height(slot) <= height_at_heal {
                self.checker.fail(format!(
                    "progress: honest slot {slot} still at height {} after the network healed at height {height_at_heal}",
                    self.committed_height(slot)
                ));
            }
        }
        match self.checker.first_final_view_after(view_at_heal) {
            Some(v) if v <= view_at_heal + self.setup.progress_views => {}
            other => self.checker.fail(format!(
                "progress: no block from views {}..={} finalized after the network healed (first: {other:?})",
                view_at_heal + 1,
                view_at_heal + self.setup.progress_views
            )),
        }
        if self.setup.expect_evidence && self.equivocations > 0 && self.evidence == 0 {
            self.checker.fail(format!(
                "{} equivocations reached honest nodes and none was reported as evidence",
                self.equivocations
            ));
        }
        if self.setup.expect_penalties && self.penalties == 0 {
            self.checker.fail(
                "no penalties reported against the members sending invalid signatures".into(),
            );
        }
    }

    fn feed(&mut self, slot: usize, input: Input) {
        let mut inputs = VecDeque::from([input]);
        while let Some(input) = inputs.pop_front() {
            let Some(engine) = self.slots[slot].engine.as_mut() else {
                return;
            };
            let actions = engine.handle(input);
            self.max_view = self.max_view.max(engine.status().view);
            for action in actions {
                match self.execute(slot, action) {
                    Step::Continue => {}
                    Step::Feed(input) => inputs.push_back(input),
                    Step::Crashed => return,
                }
            }
        }
    }

    fn execute_all(&mut self, slot: usize, actions: Vec<Action>) {
        let mut inputs = VecDeque::new();
        for action in actions {
            match self.execute(slot, action) {
                Step::Continue => {}
                Step::Feed(input) => inputs.push_back(input),
                Step::Crashed => return,
            }
        }
        for input in inputs {
            self.feed(slot, input);
        }
    }

    fn execute(&mut self, slot: usize, action: Action) -> Step {
        let now = self.queue.now();
        if self.trace {
            self.log(slot, format_args!("{}", describe_action(&action)));
        }
        match action {
            Action::Send { to, message } => {
                let targets: Vec<usize> = match to {
                    Recipient::Validator(member) => (0..self.slots.len())
                        .filter(|t| self.slots[*t].member == member && *t != slot)
                        .collect(),
                    Recipient::Peer(PeerId(peer)) => vec![peer as usize],
                };
                self.emit(slot, targets, message);
            }
            Action::Broadcast(message) => {
                let targets = (0..self.slots.len()).filter(|t| *t != slot).collect();
                self.emit(slot, targets, message);
            }
            Action::PersistSafety { seq, state } => {
                let certified = state.high_qc.block_hash();
                self.slots[slot].disk.safety = Some(state);
                if self.in_window(slot, &certified) {
                    self.crash_everyone();
                    return Step::Crashed;
                }
                let p = self.slots[slot].crash_after_persist;
                if p > 0.0 && self.rng.gen_bool(p) {
                    // Crash after the state is durable but before the message leaves.
                    self.crash(slot);
                    let after = self.rng.gen_range(100..800);
                    self.queue
                        .at(now + after, Event::Restart { slot, wipe: false });
                    return Step::Crashed;
                }
                return Step::Feed(Input::SafetyPersisted { seq });
            }
            Action::PersistBlock(block) => {
                let s = &mut self.slots[slot];
                s.availability.ordered(&block);
                s.disk.blocks.insert(block.hash(), block);
            }
            Action::ScheduleTimer { view, after_ms } => {
                let incarnation = self.slots[slot].incarnation;
                self.queue.at(
                    now + after_ms,
                    Event::Timer {
                        slot,
                        incarnation,
                        view,
                    },
                );
            }
            Action::RequestPayload { view, empty, .. } => {
                let (payload, mut da_commitment) = if empty {
                    (Vec::new(), Hash::ZERO)
                } else {
                    self.build_payload(slot)
                };
                if self.slots[slot].behavior == Behavior::CorruptCommitment {
                    da_commitment = keccak256(&[&da_commitment.0[..], b"corrupt"].concat());
                }
                return Step::Feed(Input::PayloadReady {
                    view,
                    payload,
                    da_commitment,
                    timestamp_ms: now,
                    next_epoch: None,
                });
            }
            Action::CheckPayload { block } => {
                if let Some(answer) = self.check_payload(slot, block) {
                    return Step::Feed(answer);
                }
            }
            Action::Commit {
                blocks,
                certificate,
            } => {
                if self.honest(slot) {
                    for b in &blocks {
                        self.engine_committed = self.engine_committed.max(b.header.height);
                        self.finalized_payloads
                            .insert(b.hash(), (b.header.height, b.payload.clone()));
                    }
                }
                self.commit(slot, blocks, certificate);
            }
            Action::Evidence(evidence) => {
                self.evidence += 1;
                if let Some(member) = self.committee.index_of(&evidence.signer) {
                    if self.honest_member(member) && self.honest(slot) {
                        self.checker.fail(format!(
                            "false evidence: slot {slot} accused honest member {member} ({:?} at view {})",
                            evidence.phase, evidence.view
                        ));
                    }
                }
            }
            Action::Penalize { peer, offense } => {
                self.penalties += 1;
                let peer = peer.0 as usize;
                if self.honest(slot) && peer < self.slots.len() && self.honest(peer) {
                    self.checker.fail(format!(
                        "slot {slot} penalized honest slot {peer}: {offense:?}"
                    ));
                }
            }
        }
        Step::Continue
    }

    // ----- the network, with Byzantine senders -----

    fn deliver(&mut self, to: usize, from: usize, message: Message) {
        if self.slots[to].engine.is_none() {
            return;
        }
        self.messages += 1;
        if self.trace {
            self.log(
                to,
                format_args!("<- {from}: {}", describe_message(&message)),
            );
        }
        if let Message::SyncRequest(request) = &message {
            return self.serve_sync(to, from, request.block_hash, request.max_blocks);
        }
        if self.slots[to].behavior == Behavior::Forger
            && self.slots[from].behavior != Behavior::Forger
        {
            self.tamper_and_relay(to, &message);
        }
        if self.slots[to].behavior == Behavior::Replayer {
            let log = &mut self.slots[to].log;
            if log.len() >= REPLAY_LOG {
                log.pop_front();
            }
            log.push_back(message.clone());
        }
        self.feed(
            to,
            Input::Message {
                from: PeerId(from as u64),
                message,
            },
        );
    }

    fn send_raw(&mut self, from: usize, to: usize, message: Message) {
        let now = self.queue.now();
        if let Some(at) = self.network.delay(&mut self.rng, now, from, to) {
            self.queue.at(at, Event::Deliver { to, from, message });
        }
    }

    fn sign(&self, slot: usize, view: u64, phase: Phase, subject: &Hash) -> synod_types::Signature {
        let digest = self
            .cfg
            .domain
            .digest(self.committee.epoch(), view, phase, subject);
        self.slots[slot].key.sign(&digest)
    }
}

enum Step {
    Continue,
    Feed(Input),
    Crashed,
}
