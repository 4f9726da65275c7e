//! Cost of consensus cryptography with real BLS12-381, per vote and per block, at 4 and
//! 100 validators, measured through the engine's public interface.
//!
//! - `bls/sign`, `bls/verify`: one signature over a 32-byte digest.
//! - `vote/sign`: what a validator spends to vote (vote + commit signature).
//! - `leader_certify/N`: the next leader turning a quorum of votes into a quorum
//!   certificate and a finality certificate (batch aggregation + two pairing checks).
//! - `follower_block/N`: a validator accepting a proposal (leader signature, the
//!   parent's quorum certificate and the grandparent's finality certificate).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use synod_consensus::{Action, Config, Engine, Input, PeerId};
use synod_types::crypto::aggregate_signatures;
use synod_types::{
    Block, Certificate, CommitVote, Committee, Domain, FinalityCert, Hash, Header, Member, Message,
    Phase, Proposal, QuorumCert, Scheme, SecretKey, Vote,
};

const DOMAIN: Domain = Domain {
    chain_id: 31337,
    bridge: [0xb1; 20],
};

struct Fixture {
    keys: Vec<SecretKey>,
    committee: Arc<Committee>,
    genesis: Block,
}

impl Fixture {
    fn new(n: usize) -> Fixture {
        let keys: Vec<SecretKey> = (0..n)
            .map(|i| {
                SecretKey::bls_from_ikm(&[(i % 251) as u8 + 1, (i / 251) as u8, 7, 7].repeat(8))
                    .unwrap()
            })
            .collect();
        let members = Member::equal_stakes(&keys, 1);
        let committee =
            Arc::new(Committee::new(0, Scheme::Bls, Hash::from_u64(3), members).unwrap());
        let genesis = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, n));
        Fixture {
            keys,
            committee,
            genesis,
        }
    }

    fn quorum(&self) -> Vec<u32> {
        let mut signers = Vec::new();
        let mut stake = 0;
        for i in 0..self.keys.len() as u32 {
            if stake >= self.committee.quorum_stake() {
                break;
            }
            signers.push(i);
            stake += self.committee.stake(i);
        }
        signers
    }

    fn certificate(&self, phase: Phase, view: u64, block: Hash) -> Certificate {
        let digest = DOMAIN.digest(0, view, phase, &block);
        let signers = self.quorum();
        let sigs: Vec<_> = signers
            .iter()
            .map(|i| self.keys[*i as usize].sign(&digest))
            .collect();
        let mut bitmap = self.committee.empty_bitmap();
        signers.iter().for_each(|i| bitmap.set(*i));
        Certificate {
            epoch: 0,
            view,
            block_hash: block,
            signers: bitmap,
            signature: aggregate_signatures(Scheme::Bls, &sigs).unwrap(),
        }
    }

    fn block(&self, parent: &Block, view: u64, justify: QuorumCert) -> Block {
        let header = Header {
            parent: parent.hash(),
            height: parent.header.height + 1,
            view,
            epoch: 0,
            payload_digest: synod_types::tx::payload_digest(&[Hash::from_u64(view)]),
            da_commitment: Hash::ZERO,
            timestamp_ms: view,
            proposer: self.committee.leader(view),
        };
        Block::with_payload(header, justify, vec![Hash::from_u64(view)])
    }

    fn proposal(&self, block: Block, commit: Option<FinalityCert>) -> Proposal {
        let view = block.header.view;
        let leader = self.committee.leader(view) as usize;
        let signature =
            self.keys[leader].sign(&DOMAIN.digest(0, view, Phase::Proposal, &block.hash()));
        Proposal {
            block,
            timeout_cert: None,
            commit,
            signature,
        }
    }

    fn engine(&self, index: usize) -> Engine {
        let mut engine = Engine::new(
            Config::new(DOMAIN),
            self.committee.clone(),
            Some(self.keys[index].clone()),
            self.genesis.clone(),
            None,
        );
        engine.start();
        engine
    }
}

fn crypto(c: &mut Criterion) {
    let key = SecretKey::bls_from_ikm(&[1; 32]).unwrap();
    let vk = synod_types::VerifyingKey::new(Scheme::Bls, &key.public_key()).unwrap();
    let digest = DOMAIN.digest(0, 1, Phase::Vote, &Hash::from_u64(1));
    let sig = key.sign(&digest);
    c.bench_function("bls/sign", |b| b.iter(|| key.sign(&digest)));
    c.bench_function("bls/verify", |b| {
        b.iter(|| assert!(vk.verify(&digest, &sig)))
    });
    let commit_digest = DOMAIN.digest(0, 0, Phase::Commit, &Hash::from_u64(0));
    c.bench_function("vote/sign", |b| {
        b.iter(|| (key.sign(&digest), key.sign(&commit_digest)))
    });
}

fn leader_certify(c: &mut Criterion) {
    let mut group = c.benchmark_group("leader_certify");
    group.sample_size(20);
    for n in [4usize, 100] {
        let f = Fixture::new(n);
        // Votes for a block of view 2 that extends view 1 directly: each carries a
        // commit signature, so the leader of view 3 forms QC(2) and FC(1).
        let b1 = f.block(&f.genesis, 1, QuorumCert::genesis(0, f.genesis.hash(), n));
        let b2 = f.block(&b1, 2, QuorumCert(f.certificate(Phase::Vote, 1, b1.hash())));
        let leader = f.committee.leader(3) as usize;
        let votes: Vec<Vote> = f
            .quorum()
            .iter()
            .chain(std::iter::once(&(leader as u32)))
            .map(|i| {
                let k = &f.keys[*i as usize];
                Vote {
                    epoch: 0,
                    view: 2,
                    block_hash: b2.hash(),
                    voter: *i,
                    signature: k.sign(&DOMAIN.digest(0, 2, Phase::Vote, &b2.hash())),
                    commit: Some(CommitVote {
                        view: 1,
                        block_hash: b1.hash(),
                        signature: k.sign(&DOMAIN.digest(0, 1, Phase::Commit, &b1.hash())),
                    }),
                }
            })
            .collect();
        group.bench_function(format!("{n}"), |b| {
            b.iter_batched(
                || f.engine(leader),
                |mut engine| {
                    let mut formed = false;
                    for vote in &votes {
                        let actions = engine.handle(Input::Message {
                            from: PeerId(vote.voter as u64),
                            message: Message::Vote(vote.clone()),
                        });
                        formed |= actions.iter().any(|a| {
                            matches!(
                                a,
                                Action::RequestPayload { view: 3, .. } | Action::Send { .. }
                            )
                        });
                        if engine.status().view >= 3 {
                            break;
                        }
                    }
                    assert!(engine.status().view >= 3 && formed, "certificate formed");
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn follower_block(c: &mut Criterion) {
    let mut group = c.benchmark_group("follower_block");
    group.sample_size(20);
    for n in [4usize, 100] {
        let f = Fixture::new(n);
        let b1 = f.block(&f.genesis, 1, QuorumCert::genesis(0, f.genesis.hash(), n));
        let b2 = f.block(&b1, 2, QuorumCert(f.certificate(Phase::Vote, 1, b1.hash())));
        let b3 = f.block(&b2, 3, QuorumCert(f.certificate(Phase::Vote, 2, b2.hash())));
        let fc1 = FinalityCert(f.certificate(Phase::Commit, 1, b1.hash()));
        let (p1, p2, p3) = (
            f.proposal(b1, None),
            f.proposal(b2, None),
            f.proposal(b3, Some(fc1)),
        );
        let follower = (0..n)
            .find(|i| {
                ![1u64, 2, 3, 4]
                    .iter()
                    .any(|v| f.committee.leader(*v) as usize == *i)
            })
            .unwrap_or(0);
        group.bench_function(format!("{n}"), |b| {
            b.iter_batched(
                || {
                    let mut e = f.engine(follower);
                    for p in [&p1, &p2] {
                        e.handle(Input::Message {
                            from: PeerId(0),
                            message: Message::Proposal(p.clone()),
                        });
                    }
                    e
                },
                |mut e| {
                    e.handle(Input::Message {
                        from: PeerId(0),
                        message: Message::Proposal(p3.clone()),
                    });
                    assert_eq!(e.status().committed_height, 1, "FC(1) verified and applied");
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, crypto, leader_certify, follower_block);
criterion_main!(benches);
