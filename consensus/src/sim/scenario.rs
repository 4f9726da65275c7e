//! The scenario catalogue: each builds a network (committee, slots, Byzantine members,
//! link model, partitions, crashes) from a seed.
//!
//! Byzantine members are chosen so their stake stays strictly below a third of the
//! total, except in the negative controls (`nc-*`), which go past the bound on purpose
//! and must be reported as violations.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use synod_types::{keccak256, QuorumRule};

use super::network::{Cut, LinkModel, Network, Partition};

pub use super::setup::{Behavior, Crash, Params, Setup, SlotSpec};

/// A named scenario.
#[derive(Debug)]
pub struct Scenario {
    /// Name used on the command line.
    pub name: &'static str,
    /// One line about it.
    pub about: &'static str,
    build: fn(&mut Ctx) -> Setup,
}

impl Scenario {
    /// The run of this scenario for `seed`.
    pub fn setup(&self, seed: u64, params: Params) -> Setup {
        let mut ctx = Ctx {
            rng: ChaCha8Rng::seed_from_u64(
                seed ^ u64::from_be_bytes(
                    keccak256(self.name.as_bytes()).0[..8]
                        .try_into()
                        .expect("8 bytes"),
                ),
            ),
            seed,
            params,
        };
        let mut setup = (self.build)(&mut ctx);
        setup.name = self.name.to_string();
        setup
    }
}

/// Randomness and overrides while building a scenario.
#[derive(Debug)]
pub struct Ctx {
    rng: ChaCha8Rng,
    seed: u64,
    params: Params,
}

impl Ctx {
    fn nodes(&mut self, choices: &[usize]) -> usize {
        self.params
            .nodes
            .unwrap_or_else(|| *choices.choose(&mut self.rng).expect("choices"))
            .max(1)
    }

    /// Equal stakes for even seeds, random unequal stakes for odd ones.
    fn stakes(&mut self, n: usize) -> Vec<u64> {
        if self.seed.is_multiple_of(2) {
            vec![100; n]
        } else {
            (0..n).map(|_| self.rng.gen_range(1..=100)).collect()
        }
    }

    /// A random set of members whose stake is strictly below a third of the total,
    /// as large as that allows in a random order.
    fn byzantine(&mut self, stakes: &[u64]) -> Vec<u32> {
        let total: u64 = stakes.iter().sum();
        let mut order: Vec<u32> = (0..stakes.len() as u32).collect();
        order.shuffle(&mut self.rng);
        let mut chosen = Vec::new();
        let mut stake = 0;
        for m in order {
            if 3 * (stake + stakes[m as usize]) < total {
                stake += stakes[m as usize];
                chosen.push(m);
            }
        }
        chosen.sort_unstable();
        chosen
    }

    fn base(&mut self, stakes: Vec<u64>) -> Setup {
        let n = stakes.len();
        Setup {
            name: String::new(),
            slots: (0..n as u32)
                .map(|member| SlotSpec {
                    member,
                    behavior: Behavior::Honest,
                    crash_after_persist: 0.0,
                })
                .collect(),
            stakes,
            network: Network {
                link: LinkModel {
                    latency_ms: 20,
                    jitter_ms: 30,
                    loss: 0.0,
                },
                partitions: Vec::new(),
            },
            crashes: Vec::new(),
            quorum_rule: QuorumRule::MoreThanTwoThirds,
            expect_violation: false,
            expect_evidence: false,
            expect_penalties: false,
            target_blocks: self.params.blocks.unwrap_or(30),
            progress_views: 100,
            max_time_ms: 900_000,
            max_events: 50_000_000,
            base_timeout_ms: 1_000,
            window_crashes: 0,
            volatile_batches: false,
            unchecked_commitments: false,
        }
    }

    fn with_byzantine(&mut self, setup: &mut Setup, behavior: Behavior) -> Vec<u32> {
        let byz = self.byzantine(&setup.stakes);
        for m in &byz {
            setup.slots[*m as usize].behavior = behavior;
        }
        byz
    }

    fn split(&mut self, slots: usize) -> Vec<u8> {
        loop {
            let groups: Vec<u8> = (0..slots).map(|_| self.rng.gen_range(0..2)).collect();
            if groups.contains(&0) && groups.contains(&1) {
                return groups;
            }
        }
    }

    fn partitions(&mut self, slots: usize, count: usize, one_way: bool) -> Vec<Partition> {
        let mut at = self.rng.gen_range(300..1_500);
        (0..count)
            .map(|_| {
                let len = self.rng.gen_range(1_000..6_000);
                let groups = self.split(slots);
                let cut = if one_way {
                    Cut::OneWay(groups)
                } else {
                    Cut::Symmetric(groups)
                };
                let p = Partition {
                    from_ms: at,
                    until_ms: at + len,
                    cut,
                };
                at += len + self.rng.gen_range(0..500);
                p
            })
            .collect()
    }

    fn standard(&mut self, choices: &[usize]) -> Setup {
        let n = self.nodes(choices);
        let stakes = self.stakes(n);
        self.base(stakes)
    }
}

const SIZES: &[usize] = &[4, 5, 7, 10];

fn byzantine_scenario(ctx: &mut Ctx, behavior: Behavior) -> Setup {
    let mut s = ctx.standard(SIZES);
    ctx.with_byzantine(&mut s, behavior);
    s
}

/// A negative control: members 0 and 1 of an equal-stake committee of `n` each run on
/// two nodes (appended as the last two slots), and a partition that never heals splits
/// the slots into `groups`. Passes only if a violation is detected.
fn twins_across_partition(ctx: &mut Ctx, n: usize, rule: QuorumRule, groups: Vec<u8>) -> Setup {
    let mut s = ctx.base(vec![100; n]);
    s.quorum_rule = rule;
    for member in [0, 1] {
        s.slots[member as usize].behavior = Behavior::Twin;
        s.slots.push(SlotSpec {
            member,
            behavior: Behavior::Twin,
            crash_after_persist: 0.0,
        });
    }
    s.network.partitions = vec![Partition {
        from_ms: 0,
        until_ms: u64::MAX,
        cut: Cut::Symmetric(groups),
    }];
    s.expect_violation = true;
    s.max_time_ms = 3_600_000;
    s
}

/// Every scenario, in the order `--scenario all` runs them.
pub fn scenarios() -> &'static [Scenario] {
    &SCENARIOS
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

static SCENARIOS: [Scenario; 24] = [
    Scenario {
        name: "honest",
        about: "all honest, latency and jitter, plus a follower",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            s.slots.push(SlotSpec {
                member: u32::MAX,
                behavior: Behavior::Observer,
                crash_after_persist: 0.0,
            });
            s
        },
    },
    Scenario {
        name: "lossy",
        about: "10% message loss and heavy reordering",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            s.network.link = LinkModel {
                latency_ms: 10,
                jitter_ms: 120,
                loss: 0.10,
            };
            s
        },
    },
    Scenario {
        name: "partition",
        about: "a symmetric split, then the network heals",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            s.network.partitions = ctx.partitions(s.slots.len(), 1, false);
            s
        },
    },
    Scenario {
        name: "partition-oneway",
        about: "an asymmetric cut: one side hears the other but is not heard",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            s.network.partitions = ctx.partitions(s.slots.len(), 1, true);
            s
        },
    },
    Scenario {
        name: "partition-rotating",
        about: "six different splits in a row, then the network heals",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            s.network.partitions = ctx.partitions(s.slots.len(), 6, false);
            s
        },
    },
    Scenario {
        name: "crash-restart",
        about: "honest nodes crash (some between persisting and sending) and restart from disk",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            let n = s.slots.len();
            for _ in 0..ctx.rng.gen_range(1..=n) {
                let slot = ctx.rng.gen_range(0..n);
                let at_ms = ctx.rng.gen_range(200..8_000);
                let restart = ctx.rng.gen_range(100..3_000);
                s.crashes.push(Crash {
                    slot,
                    at_ms,
                    restart_after_ms: Some(restart),
                    wipe: false,
                });
            }
            for slot in s.slots.iter_mut().take(n.div_ceil(2)) {
                slot.crash_after_persist = 0.03;
            }
            s
        },
    },
    Scenario {
        name: "crash-all-certified",
        about: "every node crashes at once, three times, just after a block with batches is certified and before it is final",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            s.window_crashes = 3;
            s
        },
    },
    Scenario {
        name: "equivocating-leader",
        about: "Byzantine leaders send conflicting proposals to different halves",
        build: |ctx| {
            let mut s = byzantine_scenario(ctx, Behavior::Equivocator);
            s.expect_evidence = true;
            s
        },
    },
    Scenario {
        name: "double-voter",
        about: "Byzantine members vote for two blocks in every view",
        build: |ctx| {
            let mut s = byzantine_scenario(ctx, Behavior::DoubleVoter);
            s.expect_evidence = true;
            s
        },
    },
    Scenario {
        name: "silent",
        about: "Byzantine members send nothing",
        build: |ctx| byzantine_scenario(ctx, Behavior::Silent),
    },
    Scenario {
        name: "replay",
        about: "Byzantine members replay old messages to random nodes",
        build: |ctx| byzantine_scenario(ctx, Behavior::Replayer),
    },
    Scenario {
        name: "invalid-signatures",
        about: "Byzantine members send only corrupted signatures",
        build: |ctx| {
            let mut s = byzantine_scenario(ctx, Behavior::BadSigner);
            s.expect_penalties = true;
            s
        },
    },
    Scenario {
        name: "forgery",
        about: "Byzantine members forge messages in honest names and tamper with what they relay",
        build: |ctx| {
            let mut s = byzantine_scenario(ctx, Behavior::Forger);
            s.network.link.loss = 0.02;
            s.expect_penalties = true;
            s
        },
    },
    Scenario {
        name: "withhold-commit",
        about: "Byzantine members vote without commit signatures",
        build: |ctx| byzantine_scenario(ctx, Behavior::Withholder),
    },
    Scenario {
        name: "corrupt-commitment",
        about: "Byzantine leaders commit in their headers to data that is not their blocks'",
        build: |ctx| byzantine_scenario(ctx, Behavior::CorruptCommitment),
    },
    Scenario {
        name: "amnesia",
        about: "Byzantine members keep restarting without their safety state",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            let byz = ctx.with_byzantine(&mut s, Behavior::Amnesiac);
            for m in byz {
                let mut at = ctx.rng.gen_range(500..2_000);
                for _ in 0..20 {
                    let restart = ctx.rng.gen_range(50..400);
                    s.crashes.push(Crash {
                        slot: m as usize,
                        at_ms: at,
                        restart_after_ms: Some(restart),
                        wipe: true,
                    });
                    at += restart + ctx.rng.gen_range(300..2_000);
                }
            }
            s
        },
    },
    Scenario {
        name: "twins",
        about: "Byzantine keys each run on two nodes, under rotating partitions",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            let byz = ctx.with_byzantine(&mut s, Behavior::Twin);
            for m in byz {
                s.slots.push(SlotSpec {
                    member: m,
                    behavior: Behavior::Twin,
                    crash_after_persist: 0.0,
                });
            }
            s.network.partitions = ctx.partitions(s.slots.len(), 4, false);
            s
        },
    },
    Scenario {
        name: "whale",
        about: "one silent member holds just under a third of the stake",
        build: |ctx| {
            let n = ctx.nodes(&[4, 7, 10]).max(4);
            let mut stakes: Vec<u64> = (0..n).map(|_| ctx.rng.gen_range(50..=150)).collect();
            let rest: u64 = stakes[1..].iter().sum();
            // 3 * whale < whale + rest  ⇔  whale < rest / 2.
            stakes[0] = (rest - 1) / 2;
            let mut s = ctx.base(stakes);
            s.slots[0].behavior = Behavior::Silent;
            s
        },
    },
    Scenario {
        name: "chaos",
        about: "mixed Byzantine members, loss, a partition and honest crashes together",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            let byz = ctx.byzantine(&s.stakes);
            let kinds = [
                Behavior::Equivocator,
                Behavior::DoubleVoter,
                Behavior::Silent,
                Behavior::Replayer,
                Behavior::BadSigner,
            ];
            for m in byz {
                s.slots[m as usize].behavior = *kinds.choose(&mut ctx.rng).expect("kinds");
            }
            s.network.link.loss = 0.05;
            s.network.partitions = ctx.partitions(s.slots.len(), 2, false);
            let honest: Vec<usize> = (0..s.slots.len())
                .filter(|i| s.slots[*i].behavior == Behavior::Honest)
                .collect();
            let slot = *honest.choose(&mut ctx.rng).expect("an honest node");
            s.crashes.push(Crash {
                slot,
                at_ms: ctx.rng.gen_range(500..5_000),
                restart_after_ms: Some(ctx.rng.gen_range(100..2_000)),
                wipe: false,
            });
            s.slots[slot].crash_after_persist = 0.02;
            s
        },
    },
    Scenario {
        name: "large",
        about: "100 validators (or --nodes) under 10% message loss",
        build: |ctx| {
            let n = ctx.params.nodes.unwrap_or(100);
            let stakes = ctx.stakes(n);
            let mut s = ctx.base(stakes);
            s.network.link.loss = 0.10;
            s.target_blocks = ctx.params.blocks.unwrap_or(10);
            s
        },
    },
    Scenario {
        name: "nc-twins",
        about: "NEGATIVE CONTROL: f+1 twinned keys split across a partition must break agreement",
        // slots 0,1 (twins) and 2 on one side; 3 and the twins 4,5 on the other.
        build: |ctx| {
            twins_across_partition(
                ctx,
                4,
                QuorumRule::MoreThanTwoThirds,
                vec![0, 0, 0, 1, 1, 1],
            )
        },
    },
    Scenario {
        name: "nc-quorum",
        about: "NEGATIVE CONTROL: a quorum of exactly two thirds must be caught",
        // twins 0,1 and honest 2,3 on one side; honest 4,5 and the twins 6,7 on the other.
        build: |ctx| {
            twins_across_partition(
                ctx,
                6,
                QuorumRule::UnsafeTwoThirds,
                vec![0, 0, 0, 0, 1, 1, 1, 1],
            )
        },
    },
    Scenario {
        name: "nc-volatile-data",
        about: "NEGATIVE CONTROL: batches held only in memory until commit are lost when every node crashes in the window",
        build: |ctx| {
            let mut s = ctx.standard(SIZES);
            s.window_crashes = 1;
            s.volatile_batches = true;
            s.expect_violation = true;
            s.max_time_ms = 30_000;
            s
        },
    },
    Scenario {
        name: "nc-unchecked-commitment",
        about: "NEGATIVE CONTROL: nodes that vote without checking the DA commitment finalize a corrupt one",
        // One of four equal members, so that it leads about a view in four.
        build: |ctx| {
            let mut s = ctx.base(vec![100; 4]);
            s.slots[0].behavior = Behavior::CorruptCommitment;
            s.unchecked_commitments = true;
            s.expect_violation = true;
            s
        },
    },
];
