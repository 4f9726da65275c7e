//! `synod sim`: runs scenarios of the consensus simulator and reports failures with
//! the seed that replays them.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Result};
use synod_consensus::sim::{self, Outcome, Params, Scenario};

use crate::cli::SimArgs;

/// Runs the simulator; returns whether every run passed.
pub fn run(args: &SimArgs) -> Result<bool> {
    if args.list {
        let mut out = std::io::stdout().lock();
        for s in sim::scenarios() {
            writeln!(out, "{:<22} {}", s.name, s.about)?;
        }
        return Ok(true);
    }
    let chosen: Vec<&'static Scenario> = if args.scenario == "all" {
        sim::scenarios().iter().collect()
    } else {
        match sim::find(&args.scenario) {
            Some(s) => vec![s],
            None => bail!(
                "unknown scenario `{}`; `synod sim --list` names them",
                args.scenario
            ),
        }
    };
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let jobs: Vec<(&'static Scenario, u64)> = chosen
        .iter()
        .flat_map(|s| (args.seed..args.seed + args.seeds).map(move |seed| (*s, seed)))
        .collect();
    let params = Params {
        nodes: args.nodes,
        blocks: args.blocks,
    };
    if args.trace {
        if jobs.len() != 1 {
            bail!("--trace needs one scenario and `--seeds 1`");
        }
        let outcome = sim::trace(jobs[0].0, jobs[0].1, params, args.bls);
        writeln!(std::io::stdout().lock(), "{outcome:#?}")?;
        return Ok(outcome.passed());
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let started = Instant::now();
    let verbose = args.verbose;
    let report = |o: &Outcome| {
        let mut out = std::io::stdout().lock();
        if !o.passed() {
            let what = if o.expect_violation {
                "negative control not detected".to_string()
            } else {
                o.violations.join("; ")
            };
            let _ = writeln!(
                out,
                "FAIL scenario={} seed={} nodes={}: {}",
                o.scenario, o.seed, o.nodes, what
            );
        } else if verbose {
            let _ = writeln!(
                out,
                "ok   scenario={} seed={} nodes={} height={} views={} sim_ms={} messages={} evidence={} penalties={}{}",
                o.scenario,
                o.seed,
                o.nodes,
                o.height,
                o.views,
                o.sim_ms,
                o.messages,
                o.evidence,
                o.penalties,
                if o.expect_violation { " (violation detected as expected)" } else { "" }
            );
        }
    };
    let outcomes = sim::run_many(&jobs, params, args.bls, threads, &report);
    let elapsed = started.elapsed().as_secs_f64();
    let views: u64 = outcomes.iter().map(|o| o.views).sum();
    let blocks: u64 = outcomes.iter().map(|o| o.height).sum();
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "sim: {} runs, {views} views, {blocks} finalized blocks in {elapsed:.2}s wall ({:.0} views/s, {threads} threads)",
        outcomes.len(),
        views as f64 / elapsed.max(1e-9)
    )?;
    writeln!(
        out,
        "sim: {} passed, {} failed",
        outcomes.len() - failed,
        failed
    )?;
    Ok(failed == 0)
}
