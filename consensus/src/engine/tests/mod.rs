//! Engine tests on a synchronous in-memory network: each property is checked directly
//! on the actions the engine emits.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use synod_types::{
    Block, Committee, Domain, Equivocation, FinalityCert, Hash, Header, Member, Message, Phase,
    Proposal, QuorumCert, Scheme, SecretKey, SyncResponse, Vote,
};

use super::*;

mod epoch;

const DOMAIN: Domain = Domain {
    chain_id: 7,
    bridge: [9; 20],
};

struct Net {
    engines: Vec<Option<Engine>>,
    keys: Vec<SecretKey>,
    committee: Arc<Committee>,
    genesis: Block,
    queue: VecDeque<(usize, usize, Message)>,
    store: HashMap<Hash, Block>,
    persisted: Vec<Option<SafetyState>>,
    commits: Vec<Vec<(Vec<Block>, FinalityCert)>>,
    penalties: Vec<(usize, PeerId, Offense)>,
    evidence: Vec<Equivocation>,
    sent: Vec<(usize, Message)>,
    /// Nodes whose outgoing messages are dropped.
    muted: Vec<bool>,
    /// Nodes whose votes go out without their commit signature.
    withhold_commit: Vec<bool>,
    /// Corrupt the justify of the second block of every sync response.
    corrupt_sync: bool,
    /// Leaders end the epoch at this height with this hand-over record.
    next_epoch_at: Option<(u64, NextEpoch)>,
    /// The first proposal of a block at this height is lost.
    lose_proposal_at: Option<u64>,
}

impl Net {
    fn new(n: usize, bls: bool) -> Net {
        let keys: Vec<SecretKey> = (0..n)
            .map(|i| {
                if bls {
                    SecretKey::bls_from_ikm(&[i as u8 + 1; 32]).unwrap()
                } else {
                    SecretKey::sim(i as u64)
                }
            })
            .collect();
        let members = Member::equal_stakes(&keys, 10);
        let scheme = if bls { Scheme::Bls } else { Scheme::Sim };
        let committee = Arc::new(Committee::new(0, scheme, Hash::from_u64(1), members).unwrap());
        let genesis = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, n));
        let mut net = Net {
            engines: Vec::new(),
            keys,
            committee,
            genesis,
            queue: VecDeque::new(),
            store: HashMap::new(),
            persisted: vec![None; n],
            commits: vec![Vec::new(); n],
            penalties: Vec::new(),
            evidence: Vec::new(),
            sent: Vec::new(),
            muted: vec![false; n],
            withhold_commit: vec![false; n],
            corrupt_sync: false,
            next_epoch_at: None,
            lose_proposal_at: None,
        };
        net.engines = (0..n).map(|_| None).collect();
        for i in 0..n {
            net.boot(i, None);
        }
        net
    }

    /// Four nodes that finalized a few blocks while one of them (not the first leader)
    /// was down; returns the network and the index of the node that is down.
    fn with_one_lagging() -> (Net, usize) {
        let mut net = Net::new(4, false);
        let lagging = (0..4)
            .find(|i| *i != net.committee.leader(1) as usize)
            .unwrap();
        net.engines[lagging] = None;
        net.pump(3_000);
        (net, lagging)
    }

    fn boot(&mut self, i: usize, recovery: Option<Recovery>) {
        let mut engine = Engine::new(
            Config::new(DOMAIN),
            self.committee.clone(),
            Some(self.keys[i].clone()),
            self.genesis.clone(),
            recovery,
        );
        let actions = engine.start();
        self.engines[i] = Some(engine);
        self.execute(i, actions);
    }

    fn input(&mut self, i: usize, input: Input) {
        let Some(engine) = self.engines[i].as_mut() else {
            return;
        };
        let actions = engine.handle(input);
        self.execute(i, actions);
    }

    /// The node holding the key of member `v` of node `i`'s committee.
    fn node_of(&self, i: usize, v: u32) -> usize {
        let committee = self.engines[i]
            .as_ref()
            .map_or(&self.committee, |e| e.committee());
        let key = committee.member(v).map(|m| m.public_key);
        (0..self.keys.len())
            .find(|n| Some(self.keys[*n].public_key()) == key)
            .unwrap_or(v as usize)
    }

    /// What a driver does once the epoch's last block `end` is final: a new engine for
    /// the next committee, rooted at `end`.
    fn hand_over(&mut self, i: usize, end: &Block) {
        let next = end.next_epoch.clone().unwrap();
        let scheme = self.committee.scheme();
        let committee =
            Arc::new(Committee::new(next.epoch, scheme, end.hash(), next.members).unwrap());
        let mut engine = Engine::new(
            Config::new(DOMAIN),
            committee,
            Some(self.keys[i].clone()),
            end.clone(),
            None,
        );
        let actions = engine.start();
        self.engines[i] = Some(engine);
        self.execute(i, actions);
    }

    /// The stored chain from node `i`'s last committed block (exclusive) up to `to`, as
    /// a finalized range would bring it.
    fn chain_above(&self, i: usize, to: &Block) -> Vec<Block> {
        let committed = self.commits[i]
            .last()
            .and_then(|(blocks, _)| blocks.last())
            .map_or(0, |b| b.header.height);
        let mut chain = vec![to.clone()];
        while let Some(parent) = self.store.get(&chain[chain.len() - 1].header.parent) {
            if parent.header.height <= committed {
                break;
            }
            chain.push(parent.clone());
        }
        chain.reverse();
        chain
    }

    fn epoch(&self, i: usize) -> u64 {
        self.engines[i]
            .as_ref()
            .map_or(0, |e| e.committee().epoch())
    }

    fn execute(&mut self, i: usize, actions: Vec<Action>) {
        let mut follow = Vec::new();
        for action in actions {
            match action {
                Action::Send { to, mut message } => {
                    if let Message::Vote(v) = &mut message {
                        if self.withhold_commit[i] {
                            v.commit = None;
                        }
                    }
                    let to = match to {
                        Recipient::Validator(v) => self.node_of(i, v),
                        Recipient::Peer(p) => p.0 as usize,
                    };
                    self.sent.push((i, message.clone()));
                    if !self.muted[i] {
                        self.queue.push_back((to, i, message));
                    }
                }
                Action::Broadcast(message) => {
                    if let Message::Proposal(p) = &message {
                        if self.lose_proposal_at == Some(p.block.header.height) {
                            self.lose_proposal_at = None;
                            continue;
                        }
                    }
                    self.sent.push((i, message.clone()));
                    if !self.muted[i] {
                        for to in (0..self.engines.len()).filter(|t| *t != i) {
                            self.queue.push_back((to, i, message.clone()));
                        }
                    }
                }
                Action::PersistSafety { seq, state } => {
                    self.persisted[i] = Some(state);
                    follow.push(Input::SafetyPersisted { seq });
                }
                Action::PersistBlock(block) => {
                    self.store.insert(block.hash(), block);
                }
                Action::ScheduleTimer { .. } => {}
                Action::RequestPayload {
                    view,
                    height,
                    empty,
                    ..
                } => follow.push(Input::PayloadReady {
                    view,
                    payload: if empty {
                        Vec::new()
                    } else {
                        vec![Hash::from_u64(view * 100 + i as u64)]
                    },
                    da_commitment: Hash::ZERO,
                    timestamp_ms: view,
                    next_epoch: self
                        .next_epoch_at
                        .clone()
                        .filter(|(at, n)| *at == height && !empty && n.epoch > self.epoch(i))
                        .map(|(_, n)| n),
                }),
                Action::CheckPayload { block } => follow.push(Input::PayloadChecked {
                    block_hash: block.hash(),
                    valid: true,
                }),
                Action::Commit {
                    blocks,
                    certificate,
                } => {
                    let end = blocks.iter().find(|b| b.next_epoch.is_some()).cloned();
                    self.commits[i].push((blocks, certificate.clone()));
                    if let Some(end) = end {
                        // This node and, as if by the finalized-block gossip, every node
                        // still in the old epoch go on with the next committee.
                        let epoch = self.epoch(i);
                        let nodes: Vec<usize> = (0..self.engines.len())
                            .filter(|n| self.epoch(*n) == epoch)
                            .collect();
                        for n in nodes {
                            if n != i {
                                let chain = self.chain_above(n, &end);
                                self.commits[n].push((chain, certificate.clone()));
                            }
                            self.hand_over(n, &end);
                        }
                        return;
                    }
                }
                Action::Evidence(e) => self.evidence.push(e),
                Action::Penalize { peer, offense } => self.penalties.push((i, peer, offense)),
            }
        }
        for input in follow {
            self.input(i, input);
        }
    }

    /// Delivers queued messages until none is left or `limit` were delivered.
    fn pump(&mut self, limit: usize) {
        for _ in 0..limit {
            let Some((to, from, message)) = self.queue.pop_front() else {
                return;
            };
            if let Message::SyncRequest(r) = &message {
                let mut blocks = Vec::new();
                let mut cursor = r.block_hash;
                while let Some(b) = self.store.get(&cursor) {
                    blocks.push(b.clone());
                    cursor = b.header.parent;
                    if blocks.len() >= r.max_blocks as usize {
                        break;
                    }
                }
                if self.corrupt_sync && blocks.len() > 1 {
                    blocks[1].justify.0.signature.0[9] ^= 1;
                }
                if !blocks.is_empty() {
                    self.queue.push_back((
                        from,
                        to,
                        Message::SyncResponse(SyncResponse { blocks }),
                    ));
                }
                continue;
            }
            self.input(
                to,
                Input::Message {
                    from: PeerId(from as u64),
                    message,
                },
            );
        }
    }

    fn height(&self, i: usize) -> u64 {
        self.engines[i]
            .as_ref()
            .map_or(0, |e| e.status().committed_height)
    }

    /// Delivers everything, then fires every node's view timer; `rounds` times.
    fn run(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.pump(20_000);
            self.fire_timers();
        }
        self.pump(20_000);
    }

    fn fire_timers(&mut self) {
        for i in 0..self.engines.len() {
            if let Some(view) = self.engines[i].as_ref().map(|e| e.status().view) {
                self.input(i, Input::TimerFired { view });
            }
        }
    }
}

#[test]
fn four_bls_validators_finalize_with_one_aggregate_signature_per_block() {
    let mut net = Net::new(4, true);
    net.pump(2_000);
    assert!(
        (0..4).all(|i| net.height(i) >= 5),
        "heights {:?}",
        (0..4).map(|i| net.height(i)).collect::<Vec<_>>()
    );
    for i in 0..4 {
        let mut expected_height = 1;
        for (blocks, fc) in &net.commits[i] {
            for b in blocks {
                assert_eq!(
                    b.header.height, expected_height,
                    "commits are gapless and ordered"
                );
                expected_height += 1;
            }
            let last = blocks.last().unwrap();
            assert_eq!(fc.block_hash(), last.hash());
            assert_eq!(fc.0.verify(&net.committee, &DOMAIN, Phase::Commit), Ok(()));
            // The same certificate under another phase or chain does not verify.
            assert!(fc.0.verify(&net.committee, &DOMAIN, Phase::Vote).is_err());
            assert!(fc
                .0
                .verify(
                    &net.committee,
                    &Domain {
                        chain_id: 8,
                        ..DOMAIN
                    },
                    Phase::Commit
                )
                .is_err());
        }
    }
    let chain = |i: usize| -> Vec<Hash> {
        net.commits[i]
            .iter()
            .flat_map(|(b, _)| b.iter().map(|b| b.hash()))
            .collect()
    };
    let shortest = (0..4).map(|i| chain(i).len()).min().unwrap();
    for i in 1..4 {
        assert_eq!(chain(i)[..shortest], chain(0)[..shortest], "agreement");
    }
}

/// The proposal of view 1 in a network of four, and a fresh engine of another member
/// that received it: returns the engine, the proposal and the block its payload check
/// asks about.
fn a_voter_checking_the_first_proposal() -> (Engine, synod_types::Proposal, Hash) {
    let mut net = Net::new(4, false);
    let leader = net.committee.leader(1) as usize;
    net.pump(0);
    let proposal = net
        .sent
        .iter()
        .find_map(|(from, m)| match m {
            Message::Proposal(p) if *from == leader => Some(p.clone()),
            _ => None,
        })
        .expect("the leader of view 1 proposed on start");
    let voter = (0..4u32)
        .find(|i| *i != proposal.block.header.proposer)
        .unwrap();
    let genesis = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, 4));
    let mut engine = Engine::new(
        Config::new(DOMAIN),
        net.committee.clone(),
        Some(SecretKey::sim(voter as u64)),
        genesis,
        None,
    );
    engine.start();
    let actions = engine.handle(Input::Message {
        from: PeerId(9),
        message: Message::Proposal(proposal.clone()),
    });
    let check = actions
        .iter()
        .find_map(|a| match a {
            Action::CheckPayload { block } => Some(block.hash()),
            _ => None,
        })
        .expect("payload check requested");
    (engine, proposal, check)
}

#[test]
fn a_vote_leaves_only_after_its_safety_state_is_acknowledged() {
    let (mut engine, proposal, check) = a_voter_checking_the_first_proposal();
    let actions = engine.handle(Input::PayloadChecked {
        block_hash: check,
        valid: true,
    });
    let seq = actions
        .iter()
        .find_map(|a| match a {
            Action::PersistSafety { seq, state } => {
                assert_eq!(state.highest_vote_view, 1);
                assert_eq!(
                    state.last_vote.as_ref().map(|v| v.block_hash),
                    Some(proposal.block.hash())
                );
                Some(*seq)
            }
            _ => None,
        })
        .expect("the vote is persisted");
    assert!(
        !actions.iter().any(|a| matches!(
            a,
            Action::Send {
                message: Message::Vote(_),
                ..
            }
        )),
        "no vote before the acknowledgement"
    );
    let actions = engine.handle(Input::SafetyPersisted { seq });
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Send { message: Message::Vote(v), .. } if v.view == 1)));
}

#[test]
fn a_block_whose_payload_check_fails_gets_no_vote() {
    // The driver answers `valid: false` when the header's DA commitment is not its
    // data's (or a batch is invalid): the engine neither signs nor persists a vote.
    let (mut engine, _, block_hash) = a_voter_checking_the_first_proposal();
    let actions = engine.handle(Input::PayloadChecked {
        block_hash,
        valid: false,
    });
    assert!(
        actions.iter().all(|a| !matches!(
            a,
            Action::PersistSafety { .. }
                | Action::Send {
                    message: Message::Vote(_),
                    ..
                }
        )),
        "no vote for an invalid payload: {actions:?}"
    );
    assert_eq!(engine.safety().highest_vote_view, 0);
    assert!(engine.safety().last_vote.is_none());
    // A late `valid: true` for the same block changes nothing: the check was answered.
    let actions = engine.handle(Input::PayloadChecked {
        block_hash,
        valid: true,
    });
    assert!(actions
        .iter()
        .all(|a| !matches!(a, Action::PersistSafety { .. })));
}

#[test]
fn after_a_restart_the_same_vote_is_resent_and_no_conflicting_one_is_signed() {
    let mut net = Net::new(4, false);
    // Deliver only the first proposal and the votes it causes, then crash a voter.
    net.pump(4);
    let voter = (0..4)
        .find(|i| {
            net.persisted[*i]
                .as_ref()
                .is_some_and(|s| s.last_vote.is_some())
                && *i != net.committee.leader(1) as usize
        })
        .unwrap();
    let state = net.persisted[voter].clone().unwrap();
    let vote = state.last_vote.clone().unwrap();
    net.engines[voter] = None;
    net.sent.clear();
    net.boot(
        voter,
        Some(Recovery {
            safety: state,
            committed: None,
            blocks: Vec::new(),
        }),
    );
    let resent: Vec<&Vote> = net
        .sent
        .iter()
        .filter_map(|(from, m)| match m {
            Message::Vote(v) if *from == voter => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(resent, vec![&vote], "exactly the persisted vote is re-sent");

    // A conflicting proposal for the same view (an equivocating leader) gets no vote.
    let leader = net.committee.leader(1) as usize;
    let mut header = net
        .store
        .values()
        .find(|b| b.header.view == 1)
        .unwrap()
        .header
        .clone();
    let payload = vec![Hash::from_u64(424242)];
    header.payload_digest = synod_types::tx::payload_digest(&payload);
    let block = Block::with_payload(
        header,
        QuorumCert::genesis(0, net.genesis.hash(), 4),
        payload,
    );
    let digest = DOMAIN.digest(0, 1, Phase::Proposal, &block.hash());
    let conflicting = Proposal {
        signature: net.keys[leader].sign(&digest),
        block,
        timeout_cert: None,
        commit: None,
    };
    net.sent.clear();
    net.input(
        voter,
        Input::Message {
            from: PeerId(leader as u64),
            message: Message::Proposal(conflicting),
        },
    );
    assert!(!net
        .sent
        .iter()
        .any(|(from, m)| *from == voter && matches!(m, Message::Vote(_))));
    assert_eq!(
        net.persisted[voter].as_ref().unwrap().last_vote.as_ref(),
        Some(&vote)
    );
}

#[test]
fn an_invalid_vote_is_isolated_by_bisection_and_its_sender_penalized() {
    let mut net = Net::new(7, true);
    let leader2 = net.committee.leader(2) as usize;
    let bad = (0..7).find(|i| *i != leader2).unwrap();
    net.muted[bad] = true;
    net.pump(200);
    // Forge the muted node's vote for view 1 with a signature over the wrong digest.
    let block = net
        .store
        .values()
        .find(|b| b.header.view == 1)
        .unwrap()
        .clone();
    let vote = Vote {
        epoch: 0,
        view: 1,
        block_hash: block.hash(),
        voter: bad as u32,
        signature: net.keys[bad].sign(&Hash::from_u64(5)),
        commit: None,
    };
    let mut fresh = Net::new(7, true);
    fresh.muted[bad] = true;
    // Deliver the forged vote first so it is part of the first batch.
    fresh.queue.push_front((leader2, bad, Message::Vote(vote)));
    fresh.run(6);
    assert!(fresh
        .penalties
        .iter()
        .any(|(_, peer, o)| peer.0 as usize == bad && *o == Offense::InvalidSignature));
    assert!(
        fresh
            .penalties
            .iter()
            .all(|(_, peer, _)| peer.0 as usize == bad),
        "only the forger is penalized"
    );
    assert!(
        (0..7).filter(|i| *i != bad).all(|i| fresh.height(i) >= 3),
        "progress without the bad vote"
    );
}

#[test]
fn conflicting_signed_proposals_become_verified_evidence() {
    let mut net = Net::new(4, false);
    net.pump(0);
    let leader = net.committee.leader(1) as usize;
    let victim = (leader + 1) % 4;
    let first = net
        .store
        .values()
        .find(|b| b.header.view == 1)
        .unwrap()
        .clone();
    let mut header = first.header.clone();
    let payload = vec![Hash::from_u64(777)];
    header.payload_digest = synod_types::tx::payload_digest(&payload);
    let block = Block::with_payload(header, first.justify.clone(), payload);
    let digest = DOMAIN.digest(0, 1, Phase::Proposal, &block.hash());
    let conflicting = Proposal {
        signature: net.keys[leader].sign(&digest),
        block,
        timeout_cert: None,
        commit: None,
    };
    net.pump(1);
    net.input(
        victim,
        Input::Message {
            from: PeerId(leader as u64),
            message: Message::Proposal(conflicting),
        },
    );
    net.pump(50);
    let evidence = net.evidence.first().expect("evidence reported");
    assert_eq!(evidence.signer, net.keys[leader].public_key());
    assert_eq!((evidence.view, evidence.phase), (1, Phase::Proposal));
    assert!(evidence.verify(net.committee.key(leader as u32).unwrap(), &DOMAIN));
}

#[test]
fn a_silent_leader_is_replaced_through_a_timeout_certificate() {
    let mut net = Net::new(4, false);
    let silent = net.committee.leader(1) as usize;
    net.muted[silent] = true;
    net.pump(100);
    assert!((0..4).all(|i| net.height(i) == 0));
    net.run(6);
    let tc_used = net.sent.iter().any(|(from, m)| {
        *from != silent && matches!(m, Message::Proposal(p) if p.timeout_cert.as_ref().is_some_and(|tc| tc.view + 1 == p.block.header.view))
    });
    assert!(
        tc_used,
        "a leader after a silent one justified its proposal with a timeout certificate"
    );
    assert!(
        (0..4).filter(|i| *i != silent).all(|i| net.height(i) >= 1),
        "progress resumed"
    );
}

#[test]
fn a_node_that_missed_blocks_fetches_them_and_commits_the_same_chain() {
    let (mut net, lagging) = Net::with_one_lagging();
    assert!(net.height((lagging + 1) % 4) >= 5);
    net.queue.clear();
    net.boot(lagging, None);
    // Its first contact with the network is a timeout carrying a high certificate.
    net.fire_timers();
    net.pump(5_000);
    assert!(
        net.height(lagging) >= 5,
        "lagging node height {}",
        net.height(lagging)
    );
    let chain = |i: usize| -> Vec<Hash> {
        net.commits[i]
            .iter()
            .flat_map(|(b, _)| b.iter().map(|b| b.hash()))
            .collect()
    };
    let other = (lagging + 1) % 4;
    let n = chain(lagging).len().min(chain(other).len());
    assert_eq!(chain(lagging)[..n], chain(other)[..n]);
}

#[test]
fn forged_votes_in_honest_names_neither_block_the_certificate_nor_blame_those_members() {
    let mut net = Net::new(4, true);
    let leader2 = net.committee.leader(2) as usize;
    let forger = PeerId(99);
    let block = net
        .store
        .values()
        .find(|b| b.header.view == 1)
        .unwrap()
        .hash();
    // Junk votes in every member's name reach the next leader before the real ones, for
    // the real block and for a made-up one.
    for voter in 0..4u32 {
        for block_hash in [block, Hash::from_u64(5)] {
            let forged = Vote {
                epoch: 0,
                view: 1,
                block_hash,
                voter,
                signature: net.keys[0].sign(&Hash::from_u64(1)),
                commit: None,
            };
            net.input(
                leader2,
                Input::Message {
                    from: forger,
                    message: Message::Vote(forged),
                },
            );
        }
    }
    net.pump(5_000);
    assert!(
        (0..4).all(|i| net.height(i) >= 3),
        "heights {:?}",
        (0..4).map(|i| net.height(i)).collect::<Vec<_>>()
    );
    assert!(!net.penalties.is_empty());
    assert!(
        net.penalties.iter().all(|(_, peer, _)| *peer == forger),
        "{:?}",
        net.penalties
    );
    assert!(net.evidence.is_empty(), "forgeries are not evidence");
}

#[test]
fn withheld_commit_signatures_do_not_prevent_finality() {
    let mut net = Net::new(4, false);
    let withholder = net.committee.leader(2) as usize;
    net.withhold_commit[withholder] = true;
    net.run(4);
    let honest: Vec<usize> = (0..4).filter(|i| *i != withholder).collect();
    assert!(
        honest.iter().all(|i| net.height(*i) >= 5),
        "heights {:?}",
        (0..4).map(|i| net.height(i)).collect::<Vec<_>>()
    );
}

#[test]
fn a_sync_response_with_a_forged_justify_is_penalized_and_not_stored() {
    let (mut net, lagging) = Net::with_one_lagging();
    net.queue.clear();
    net.corrupt_sync = true;
    net.boot(lagging, None);
    net.fire_timers();
    net.pump(5_000);
    assert!(
        net.penalties
            .iter()
            .any(|(i, _, o)| *i == lagging && *o == Offense::InvalidCertificate),
        "{:?}",
        net.penalties
    );
    // Nothing it committed rests on a forged certificate.
    for (blocks, _) in &net.commits[lagging] {
        for b in blocks {
            assert!(
                b.justify.view() == 0
                    || b.justify
                        .0
                        .verify(&net.committee, &DOMAIN, Phase::Vote)
                        .is_ok()
            );
        }
    }
}

#[test]
fn two_members_moved_by_height_sync_at_once_vote_on_the_block_they_were_moved_to() {
    // Two of four members restart with their chain lost (their safety state kept) and
    // are moved to the network's last finalized block by height sync, a block their
    // engines never held. Without their votes no certificate forms, so they must vote on
    // the blocks above it at once, not after views of timeouts.
    let mut net = Net::new(4, false);
    net.run(2);
    let (blocks, fc) = (0..4)
        .filter_map(|i| net.commits[i].last().cloned())
        .max_by_key(|(blocks, _)| blocks.last().unwrap().header.height)
        .unwrap();
    let root = blocks.last().unwrap().clone();
    assert!(root.header.height >= 3);
    net.queue.clear();
    let view = (0..4)
        .map(|i| net.engines[i].as_ref().unwrap().status().view)
        .max()
        .unwrap();
    for i in [0, 1] {
        let safety = net.engines[i].as_ref().unwrap().safety().clone();
        net.boot(
            i,
            Some(Recovery {
                safety,
                committed: None,
                blocks: Vec::new(),
            }),
        );
        let actions = net.engines[i]
            .as_mut()
            .unwrap()
            .advance_committed(root.clone(), fc.clone());
        net.execute(i, actions);
    }
    // What they sent while starting (their last vote again) reached nobody: their peers
    // were not known yet.
    net.queue.clear();
    net.run(3);
    for i in 0..4 {
        let status = net.engines[i].as_ref().unwrap().status();
        let first_above = net.commits[i]
            .iter()
            .flat_map(|(blocks, _)| blocks)
            .find(|b| b.header.height == root.header.height + 1)
            .map(|b| b.header.view);
        assert!(
            first_above.is_some_and(|v| v <= view + 8),
            "member {i}: the block above the root final in view {first_above:?}, moved in view {view}; {status:?}"
        );
    }
}

#[test]
fn a_node_moved_to_a_finalized_block_by_height_sync_goes_on_from_there() {
    let (mut net, lagging) = Net::with_one_lagging();
    let other = (lagging + 1) % 4;
    let (blocks, fc) = net.commits[other].last().cloned().unwrap();
    let root = blocks.last().unwrap().clone();
    assert!(root.header.height >= 5);
    net.queue.clear();
    net.boot(lagging, None);

    // A certificate for another block moves nothing.
    let mut wrong = fc.clone();
    wrong.0.block_hash = Hash::from_u64(99);
    let engine = net.engines[lagging].as_mut().unwrap();
    assert!(engine.advance_committed(root.clone(), wrong).is_empty());
    assert_eq!(engine.status().committed_height, 0);

    let actions = engine.advance_committed(root.clone(), fc);
    assert_eq!(engine.status().committed_hash, root.hash());
    net.execute(lagging, actions);
    // Nothing at or below the new root can be fetched by hash any more: whatever the
    // node commits from here on builds on the root it was moved to.
    net.store
        .retain(|_, b| b.header.height > root.header.height);
    let votes_before = net.sent.len();
    net.run(20);
    assert!(net.height(lagging) > root.header.height + 3);
    let first = &net.commits[lagging][0].0[0];
    assert_eq!(first.header.parent, root.hash());
    let voted = net.sent[votes_before..]
        .iter()
        .any(|(i, m)| *i == lagging && matches!(m, Message::Vote(_)));
    assert!(voted, "the moved node votes again");
}
