//! The deterministic simulator: many engines on a virtual clock over a seeded network,
//! each with the sequencer's batch pool and payload-availability tracker as its data
//! plane (batches are real, gossiped, fetched, lost with a node's memory at a crash).
//!
//! One seed fixes every random choice (committee, Byzantine members, delays, losses,
//! partitions, crashes), so any failure replays exactly with `synod sim --scenario S
//! --seed N`. Engines use the simulator's fast keyed-hash signatures by default (a
//! pairing costs a millisecond; a run simulates thousands of views); `bls` switches
//! to real BLS.

mod checker;
mod network;
mod runner;
mod scenario;
mod setup;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub use checker::Checker;
pub use network::{Cut, LinkModel, Network, Partition};
pub use runner::{Outcome, Sim};
pub use scenario::{find, scenarios, Behavior, Crash, Params, Scenario, Setup, SlotSpec};

/// Runs one scenario with one seed.
pub fn run(scenario: &Scenario, seed: u64, params: Params, bls: bool) -> Outcome {
    Sim::new(scenario.setup(seed, params), seed, bls).run()
}

/// Runs one scenario with one seed, printing its event log to stderr.
pub fn trace(scenario: &Scenario, seed: u64, params: Params, bls: bool) -> Outcome {
    Sim::new(scenario.setup(seed, params), seed, bls)
        .with_trace(true)
        .run()
}

/// Runs every `(scenario, seed)` pair on `threads` threads and returns the outcomes in
/// the order of the pairs; `on_done` sees each outcome as it finishes.
pub fn run_many(
    jobs: &[(&'static Scenario, u64)],
    params: Params,
    bls: bool,
    threads: usize,
    on_done: &(dyn Fn(&Outcome) + Sync),
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((scenario, seed)) = jobs.get(i) else {
                    break;
                };
                let outcome = run(scenario, *seed, params, bls);
                on_done(&outcome);
                results
                    .lock()
                    .expect("no worker panics while holding the lock")[i] = Some(outcome);
            });
        }
    });
    results
        .into_inner()
        .expect("workers finished")
        .into_iter()
        .map(|o| o.expect("every job ran"))
        .collect()
}
