//! `synod testnet bench`: starts a network, measures empty blocks per second, ramps the
//! load to saturation, holds the saturation rate, then measures latency at half of it;
//! writes JSON and an SVG chart and prints a table.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{BenchArgs, DirArg, L1Mode, UpArgs};
use crate::load::{self, Plan, Report, Second};
use crate::manifest::Manifest;
use crate::up;

/// What a bench result was measured under; figures quoted from it state these.
#[derive(Debug, Serialize)]
pub struct Conditions {
    /// Validator processes, all on this machine, on 127.0.0.1.
    pub validators: usize,
    /// `anvil`: the validators posted attestations, took epoch snapshots and handed
    /// over committees on a local L1 while measured; `none`: no L1 work at all.
    pub l1: L1Mode,
    /// L1 blocks (1 s each) per staking epoch, with an L1.
    pub epoch_blocks: Option<u64>,
    /// How votes and certificates are signed and verified.
    pub signatures: &'static str,
    /// Where the load comes from.
    pub load: &'static str,
    /// CPU cores of the machine, shared by every process of the bench.
    pub cores: usize,
    /// Extra `synod start` flags of every node.
    pub node_args: Vec<String>,
}

impl Conditions {
    fn of(args: &BenchArgs) -> Conditions {
        Conditions {
            validators: args.nodes,
            l1: args.l1,
            epoch_blocks: (args.l1 == L1Mode::Anvil).then_some(args.epoch_blocks),
            signatures: "BLS12-381 (blst), every validator signing",
            load: "this process, through synod_sendTransactions on every validator",
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            node_args: args.node_args.clone(),
        }
    }
}

/// The bench result written to `--json`.
#[derive(Debug, Serialize)]
pub struct BenchResult {
    /// What it was measured under.
    pub conditions: Conditions,
    /// Validators.
    pub nodes: usize,
    /// Transaction payload size.
    pub size_bytes: usize,
    /// Finalized tx/s sustained at the saturation rate.
    pub finalized_tps: f64,
    /// The same in MB/s of payload.
    pub finalized_mb_per_s: f64,
    /// Latency at half the sustained rate, ms.
    pub p50_ms: f64,
    /// 99th percentile at half the sustained rate, ms.
    pub p99_ms: f64,
    /// Finalized blocks per second with no load (empty blocks).
    pub blocks_per_s: f64,
    /// Largest peak RSS of any node, MB.
    pub peak_rss_mb: f64,
    /// CPU time (user and system) a validator process spent per transaction finalized
    /// in the sustained phase, µs: the validators' total over their number, over the
    /// transactions. Less noisy than the rates, and what a change in the work per byte
    /// moves.
    pub cpu_us_per_tx: f64,
    /// The same at half load.
    pub cpu_us_per_tx_half_load: f64,
    /// Rate the ramp found saturating.
    pub saturation_offered_tps: f64,
    /// Transactions lost (acknowledged, never finalized) over the whole bench.
    pub lost: u64,
    /// The ramp, the sustained phase and the half-load phase, second by second.
    pub ramp: Vec<Second>,
    /// Sustained phase.
    pub sustained: Report,
    /// Half-load phase.
    pub half_load: Report,
    /// The chart.
    pub chart: PathBuf,
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time a process has used, user and system, in seconds: `/proc/<pid>/stat` fields
/// 14 and 15, in the USER_HZ ticks (1/100 s) the kernel reports them in.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is field 3.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
    Some((ticks(14)? + ticks(15)?) / 100.0)
}

/// The validators' CPU seconds so far, summed.
fn validators_cpu(manifest: &Manifest) -> f64 {
    manifest
        .nodes
        .iter()
        .filter(|n| n.role == "validator")
        .filter_map(|n| cpu_seconds(n.pid))
        .sum()
}

/// CPU µs per finalized transaction and validator between two readings.
fn cpu_per_tx(manifest: &Manifest, before: f64, after: f64, finalized: u64) -> f64 {
    let validators = manifest
        .nodes
        .iter()
        .filter(|n| n.role == "validator")
        .count()
        .max(1);
    (after - before) * 1e6 / validators as f64 / finalized.max(1) as f64
}

fn height(manifest: &Manifest) -> u64 {
    manifest
        .nodes
        .iter()
        .filter_map(|n| up::status(&n.rpc_url))
        .filter_map(|s| s.get("finalized_height").and_then(|h| h.as_u64()))
        .max()
        .unwrap_or(0)
}

/// Runs the bench.
pub fn bench(args: &BenchArgs) -> Result<bool> {
    let dir = args.dir.clone();
    let up_args = UpArgs {
        nodes: args.nodes,
        full_nodes: 0,
        stakes: Vec::new(),
        dir: DirArg { dir: dir.clone() },
        base_port: args.base_port,
        detach: true,
        duration: 0,
        node_args: args.node_args.clone(),
        l1: args.l1,
        epoch_blocks: args.epoch_blocks,
    };
    up::up(&up_args)?;
    let result = measure(args, &dir);
    let stopped = up::down(&dir);
    // The databases hold every benchmark transaction (gigabytes); the logs stay.
    if let Ok(manifest) = Manifest::load(&dir) {
        for node in &manifest.nodes {
            let _ = std::fs::remove_dir_all(node.data_dir.join("db"));
        }
    }
    let result = result?;
    stopped?;
    let json = serde_json::to_string_pretty(&result)?;
    if let Some(path) = &args.json {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    crate::process::say!("{}", serde_json::to_string(&Summary::of(&result))?);
    crate::process::say!("{}", table(&result));
    Ok(result.lost == 0)
}

/// The headline numbers, printed as one JSON line.
#[derive(Debug, Serialize)]
struct Summary {
    finalized_tps: f64,
    finalized_mb_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    blocks_per_s: f64,
    peak_rss_mb: f64,
    cpu_us_per_tx: f64,
}

impl Summary {
    fn of(r: &BenchResult) -> Summary {
        Summary {
            finalized_tps: r.finalized_tps,
            finalized_mb_per_s: r.finalized_mb_per_s,
            p50_ms: r.p50_ms,
            p99_ms: r.p99_ms,
            blocks_per_s: r.blocks_per_s,
            peak_rss_mb: r.peak_rss_mb,
            cpu_us_per_tx: r.cpu_us_per_tx,
        }
    }
}

fn measure(args: &BenchArgs, dir: &Path) -> Result<BenchResult> {
    if let Some(parent) = args.json.as_ref().and_then(|j| j.parent()) {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
    }
    let manifest = Manifest::load(dir)?;
    // Empty blocks.
    let idle = Duration::from_secs(5);
    let h0 = height(&manifest);
    let t0 = Instant::now();
    std::thread::sleep(idle);
    let blocks_per_s = (height(&manifest) - h0) as f64 / t0.elapsed().as_secs_f64();
    crate::process::say!("empty blocks: {blocks_per_s:.1} per second");

    // Ramp: double the offered rate each step until finality falls behind, then
    // bisect between the last rate kept up with and the first one that was not.
    let step = Duration::from_secs(args.ramp_step);
    let mut ramp = Vec::new();
    let mut lost = 0;
    let mut good = 0.0f64;
    let mut bad: Option<f64> = None;
    let mut rate = args.ramp_start as f64;
    for _ in 0..16 {
        let report = load::run(
            &manifest,
            &Plan {
                steps: vec![(rate, step)],
                size: args.size,
            },
        )?;
        lost += report.lost;
        let offset = ramp.len() as u64;
        ramp.extend(report.seconds.iter().cloned().map(|mut s| {
            s.t += offset;
            s
        }));
        let kept_up =
            report.finalized_tps >= 0.9 * rate && report.rejected == 0 && report.p99_ms < 1_000.0;
        crate::process::say!(
            "ramp: offered {rate:.0} tx/s → finalized {:.0} tx/s, p99 {:.0} ms, rejected {}{}",
            report.finalized_tps,
            report.p99_ms,
            report.rejected,
            if kept_up { "" } else { "  (falling behind)" }
        );
        if kept_up {
            good = good.max(rate);
        } else {
            bad = Some(bad.map_or(rate, |b| b.min(rate)));
        }
        rate = match bad {
            None if rate * 2.0 <= args.ramp_max as f64 => rate * 2.0,
            None => break,
            Some(b) if b - good > 0.1 * good.max(1.0) => (good + b) / 2.0,
            Some(_) => break,
        };
    }
    let best = good;
    let saturation = best.max(1.0);
    let cpu_before = validators_cpu(&manifest);
    let sustained = load::run(
        &manifest,
        &Plan {
            steps: vec![(saturation, Duration::from_secs(args.duration))],
            size: args.size,
        },
    )?;
    let cpu_us_per_tx = cpu_per_tx(
        &manifest,
        cpu_before,
        validators_cpu(&manifest),
        sustained.finalized,
    );
    crate::process::say!("sustained: {}", sustained.summary().replace('\n', "; "));
    crate::process::say!("CPU per finalized transaction and validator: {cpu_us_per_tx:.1} µs");
    let cpu_before = validators_cpu(&manifest);
    let half = load::run(
        &manifest,
        &Plan {
            steps: vec![(saturation / 2.0, Duration::from_secs(args.duration.min(30)))],
            size: args.size,
        },
    )?;
    let cpu_us_per_tx_half_load = cpu_per_tx(
        &manifest,
        cpu_before,
        validators_cpu(&manifest),
        half.finalized,
    );
    crate::process::say!("half load: {}", half.summary().replace('\n', "; "));
    lost += sustained.lost + half.lost;
    let peak = manifest
        .nodes
        .iter()
        .map(|n| peak_rss_mb(n.pid))
        .fold(0.0, f64::max);
    let chart = args
        .json
        .as_ref()
        .map_or_else(|| dir.join("bench.svg"), |j| j.with_extension("svg"));
    let mut series = ramp.clone();
    for phase in [&sustained.seconds, &half.seconds] {
        let offset = series.len() as u64;
        series.extend(phase.iter().cloned().map(|mut s| {
            s.t += offset;
            s
        }));
    }
    std::fs::write(&chart, crate::chart::svg(&series))
        .with_context(|| format!("cannot write {}", chart.display()))?;
    Ok(BenchResult {
        conditions: Conditions::of(args),
        nodes: args.nodes,
        size_bytes: args.size,
        finalized_tps: sustained.finalized_tps,
        finalized_mb_per_s: sustained.finalized_tps * args.size as f64 / 1e6,
        p50_ms: half.p50_ms,
        p99_ms: half.p99_ms,
        blocks_per_s,
        peak_rss_mb: peak,
        cpu_us_per_tx,
        cpu_us_per_tx_half_load,
        saturation_offered_tps: saturation,
        lost,
        ramp,
        sustained,
        half_load: half,
        chart,
    })
}

fn table(r: &BenchResult) -> String {
    format!(
        "| metric | value |\n|---|---|\n| validators | {} |\n| L1 | {} |\n| tx size | {} B |\n| finalized tx/s (sustained) | {:.0} |\n| finalized MB/s | {:.2} |\n| p50 latency at half load | {:.0} ms |\n| p99 latency at half load | {:.0} ms |\n| empty blocks/s | {:.1} |\n| peak RSS per node | {:.0} MB |\n| CPU per finalized tx and validator (sustained / half load) | {:.1} µs / {:.1} µs |\n| lost transactions | {} |\n| chart | {} |",
        r.nodes,
        match r.conditions.epoch_blocks {
            Some(blocks) => format!("anvil, attesting, epochs of {blocks} L1 blocks"),
            None => "none".into(),
        },
        r.size_bytes, r.finalized_tps, r.finalized_mb_per_s, r.p50_ms, r.p99_ms,
        r.blocks_per_s, r.peak_rss_mb, r.cpu_us_per_tx, r.cpu_us_per_tx_half_load, r.lost,
        r.chart.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn cpu_time_of_a_process_grows_with_the_work_it_does() {
        let me = std::process::id();
        let before = cpu_seconds(me).unwrap();
        let start = Instant::now();
        // Work until 0.2 s of CPU show: on a busy machine that may take longer than
        // 0.2 s of wall time, never much less.
        let mut x = 0u64;
        let mut used = 0.0;
        while used < 0.2 && start.elapsed() < Duration::from_secs(30) {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            used = cpu_seconds(me).unwrap() - before;
        }
        std::hint::black_box(x);
        let wall = start.elapsed().as_secs_f64();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        assert!(used >= 0.2, "{used} s of CPU in {wall} s of work");
        assert!(used <= wall * cores + 0.05, "{used} s of CPU in {wall} s");
        assert_eq!(cpu_seconds(u32::MAX), None);
    }

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn conditions(args: &[&str]) -> serde_json::Value {
        let cmd =
            Cmd::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).unwrap();
        serde_json::to_value(Conditions::of(&cmd.bench)).unwrap()
    }

    #[test]
    fn the_bench_runs_with_the_l1_unless_told_not_to_and_says_so() {
        let default = conditions(&[]);
        assert_eq!(default["l1"], "anvil");
        assert_eq!(default["epoch_blocks"], 30);
        assert_eq!(default["validators"], 4);
        assert!(default["signatures"]
            .as_str()
            .unwrap()
            .contains("BLS12-381"));
        let without = conditions(&["--l1", "none", "--nodes", "7"]);
        assert_eq!(without["l1"], "none");
        assert_eq!(without["epoch_blocks"], serde_json::Value::Null);
        assert_eq!(without["validators"], 7);
    }
}
