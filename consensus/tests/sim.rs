//! Every simulator scenario over many seeds: agreement, ancestry, certificate validity,
//! no honest double-sign, no false accusation and progress after healing, with the
//! negative controls detected. `SYNOD_SIM_SEEDS` sets the number of seeds (default 100).

use synod_consensus::sim::{self, Params, Scenario};

fn seeds() -> u64 {
    std::env::var("SYNOD_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn every_scenario_passes_for_every_seed() {
    let seeds = seeds();
    let jobs: Vec<(&'static Scenario, u64)> = sim::scenarios()
        .iter()
        .flat_map(|s| (0..seeds).map(move |seed| (s, seed)))
        .collect();
    let outcomes = sim::run_many(&jobs, Params::default(), false, threads(), &|_| {});
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| {
            format!(
                "synod sim --scenario {} --seed {} --seeds 1: {}",
                o.scenario,
                o.seed,
                if o.expect_violation {
                    "negative control not detected".into()
                } else {
                    o.violations.join("; ")
                }
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n")
    );
    // The runs did real work: every normal run finalized its target, and the negative
    // controls found violations.
    for o in &outcomes {
        if o.expect_violation {
            assert!(!o.violations.is_empty());
        } else {
            assert!(
                o.height >= 10,
                "{} seed {} finalized only {} blocks",
                o.scenario,
                o.seed,
                o.height
            );
        }
    }
}

#[test]
fn a_seed_replays_the_same_run() {
    for name in ["chaos", "twins", "crash-restart"] {
        let scenario = sim::find(name).expect("scenario exists");
        let a = sim::run(scenario, 7, Params::default(), false);
        let b = sim::run(scenario, 7, Params::default(), false);
        assert_eq!(
            (
                a.height,
                a.views,
                a.sim_ms,
                a.messages,
                a.evidence,
                a.penalties
            ),
            (
                b.height,
                b.views,
                b.sim_ms,
                b.messages,
                b.evidence,
                b.penalties
            ),
            "{name}"
        );
    }
}

#[test]
fn the_simulator_also_runs_with_real_bls_signatures() {
    let scenario = sim::find("equivocating-leader").expect("scenario exists");
    let outcome = sim::run(
        scenario,
        2,
        Params {
            nodes: Some(4),
            blocks: Some(5),
        },
        true,
    );
    assert!(outcome.passed(), "{:?}", outcome.violations);
    assert!(outcome.height >= 5);
}

/// Runs that found defects, kept whatever the default number of seeds.
#[test]
fn runs_that_once_failed_pass() {
    for (name, seed, defect) in [
        (
            "crash-restart",
            60,
            "three of four validators crashed while a certified block's batches were only in memory: finality stopped for good",
        ),
        (
            "crash-all-certified",
            7,
            "the network restarted split between two views, and no member could show the timeout certificate of the lower one",
        ),
        ("crash-all-certified", 484, "the same, with other stakes"),
    ] {
        let scenario = sim::find(name).expect("scenario exists");
        let outcome = sim::run(scenario, seed, Params::default(), false);
        assert!(
            outcome.passed() && outcome.height >= 10,
            "synod sim --scenario {name} --seed {seed} ({defect}): {:?}",
            outcome.violations
        );
    }
}
