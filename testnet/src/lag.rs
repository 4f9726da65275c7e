//! `synod testnet lag`: how far the L1 bridge trails finality on a running testnet.
//!
//! Every 50 ms it reads a validator's finalized height (`/status`) and, from L1, the
//! block number and the bridge's attested height. A height first seen final while L1
//! was at block `b` counts as attested at the first L1 block `b'` whose state holds an
//! attested height at or above it; its lag is `b' - b` blocks.

use std::time::{Duration, Instant};

use crate::cli::LagArgs;
use crate::manifest::Manifest;
use anyhow::{bail, Context, Result};

const POLL: Duration = Duration::from_millis(50);

/// One observation.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    finalized: u64,
    l1_block: u64,
    attested: u64,
}

/// Lags of the heights seen final, in L1 blocks and seconds.
#[derive(Debug, Default, PartialEq)]
struct Lags {
    blocks: Vec<u64>,
    seconds: Vec<f64>,
    /// Heights seen final that were not attested before the end.
    pending: usize,
}

/// Pairs each newly final height with the first sample attesting it.
fn lags(samples: &[Sample]) -> Lags {
    let mut out = Lags::default();
    let mut seen = samples.first().map_or(0, |s| s.finalized);
    let mut j = 0;
    for (i, s) in samples.iter().enumerate() {
        if s.finalized <= seen {
            continue;
        }
        seen = s.finalized;
        j = j.max(i);
        while j < samples.len() && samples[j].attested < s.finalized {
            j += 1;
        }
        match samples.get(j) {
            Some(a) => {
                out.blocks.push(a.l1_block.saturating_sub(s.l1_block));
                out.seconds.push((a.at - s.at).as_secs_f64());
            }
            None => out.pending += 1,
        }
    }
    out
}

fn percentile<T: Copy + PartialOrd>(values: &[T], p: f64) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied()
}

/// `synod testnet lag`.
pub fn run(args: &LagArgs) -> Result<bool> {
    let manifest = Manifest::load(&args.dir.dir)?;
    let Some(l1) = &manifest.l1 else {
        bail!("this testnet has no L1 (it was started with --l1 none)");
    };
    let node = manifest
        .nodes
        .iter()
        .find(|n| n.role == "validator")
        .context("the testnet has no validator")?;
    let samples = crate::process::runtime()?.block_on(async {
        let table = l1
            .stake_table
            .parse()
            .context("stake_table in testnet.json")?;
        let client = synod_bridge::L1::connect(&l1.rpc_url, table, None).await?;
        let started = Instant::now();
        let mut samples = Vec::new();
        while started.elapsed() < Duration::from_secs(args.duration) {
            let tick = Instant::now();
            let rpc_url = node.rpc_url.clone();
            let status = tokio::task::spawn_blocking(move || crate::up::status(&rpc_url));
            let (l1_block, tip) = tokio::try_join!(client.block_number(), client.attested())?;
            let finalized = status
                .await?
                .and_then(|s| s["finalized_height"].as_u64())
                .with_context(|| format!("{} does not answer", node.rpc_url))?;
            samples.push(Sample {
                at: tick - started,
                finalized,
                l1_block,
                attested: tip.height,
            });
            tokio::time::sleep(POLL.saturating_sub(tick.elapsed())).await;
        }
        Ok::<_, anyhow::Error>(samples)
    })?;
    let lags = lags(&samples);
    if lags.blocks.is_empty() {
        bail!("no block was finalized and attested in {} s", args.duration);
    }
    let within_two = lags.blocks.iter().filter(|b| **b <= 2).count();
    let share = within_two as f64 / lags.blocks.len() as f64;
    let (p50, p99, max) = (
        percentile(&lags.blocks, 0.5).unwrap_or(0),
        percentile(&lags.blocks, 0.99).unwrap_or(0),
        lags.blocks.iter().copied().max().unwrap_or(0),
    );
    let (s50, s99) = (
        percentile(&lags.seconds, 0.5).unwrap_or(0.0),
        percentile(&lags.seconds, 0.99).unwrap_or(0.0),
    );
    let first = samples.first().map_or(0, |s| s.l1_block);
    let last = samples.last().map_or(0, |s| s.l1_block);
    crate::process::say!(
        "{} heights finalized over {} L1 blocks; attested after (L1 blocks) p50 {p50}, p99 {p99}, max {max}; \
         (seconds) p50 {s50:.2}, p99 {s99:.2}; within 2 L1 blocks: {:.1}%; not attested yet at the end: {}",
        lags.blocks.len(),
        last - first,
        share * 100.0,
        lags.pending
    );
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "heights": lags.blocks.len(),
            "l1_blocks": last - first,
            "lag_blocks": {"p50": p50, "p99": p99, "max": max},
            "lag_seconds": {"p50": s50, "p99": s99},
            "within_two_blocks": share,
            "pending": lags.pending,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(max <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, finalized: u64, l1_block: u64, attested: u64) -> Sample {
        Sample {
            at: Duration::from_millis(ms),
            finalized,
            l1_block,
            attested,
        }
    }

    #[test]
    fn each_new_height_pairs_with_the_first_sample_that_attests_it() {
        let samples = [
            at(0, 10, 100, 5),
            at(50, 12, 100, 5),   // 12 final at block 100
            at(100, 12, 101, 10), // not yet
            at(150, 20, 101, 12), // 12 attested at 101; 20 final at 101
            at(200, 20, 103, 20), // 20 attested at 103
            at(250, 25, 103, 20), // 25 never attested
        ];
        let lags = lags(&samples);
        assert_eq!(lags.blocks, vec![1, 2]);
        assert_eq!(lags.seconds, vec![0.1, 0.05]);
        assert_eq!(lags.pending, 1);
    }
}
