//! Logs (tracing, human or JSON) and Prometheus metrics (`synod_<area>_<name>_<unit>`).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the log subscriber (stderr) with `filter` in tracing's directive syntax.
pub fn init_logs(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("invalid log.level {filter:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let result = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// What a metric measures: a counter only goes up, a gauge is a current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic count.
    Counter,
    /// Current value.
    Gauge,
}

/// Every metric the node exports, with what it means (the table in `docs/rpc.md`).
/// Each is registered at zero when the recorder is installed, so `/metrics` lists them
/// all from the start: "no evidence" reads `synod_consensus_evidence_total 0`, and a
/// renamed metric is missing, not silently zero.
pub const METRICS: &[(&str, Kind, &str)] = &[
    (
        "synod_consensus_finalized_height",
        Kind::Gauge,
        "last finalized height",
    ),
    ("synod_consensus_view", Kind::Gauge, "current view"),
    (
        "synod_consensus_epoch",
        Kind::Gauge,
        "epoch of the committee followed",
    ),
    (
        "synod_consensus_network_height",
        Kind::Gauge,
        "highest finalized height proven on the network",
    ),
    (
        "synod_consensus_evidence_total",
        Kind::Counter,
        "equivocation evidence produced",
    ),
    (
        "synod_sequencer_finalized_transactions_total",
        Kind::Counter,
        "transactions finalized",
    ),
    (
        "synod_sequencer_mempool_transactions",
        Kind::Gauge,
        "mempool size",
    ),
    (
        "synod_sequencer_pending_batches",
        Kind::Gauge,
        "batches waiting to be ordered",
    ),
    (
        "synod_sequencer_acknowledged_pending_transactions",
        Kind::Gauge,
        "transactions acknowledged here and not final yet",
    ),
    (
        "synod_da_shards_stored_total",
        Kind::Counter,
        "shards of block data this validator stored (its share, before voting)",
    ),
    (
        "synod_da_shard_bytes_stored_total",
        Kind::Counter,
        "bytes of those shards",
    ),
    (
        "synod_da_retrievals_total",
        Kind::Counter,
        "block data asked of this node (synod_getBlockData), served from the store or rebuilt",
    ),
    (
        "synod_da_rebuilds_total",
        Kind::Counter,
        "block data rebuilt from validators' shards",
    ),
    (
        "synod_da_full_data_from_height",
        Kind::Gauge,
        "lowest finalized height from which every block's full batches are held",
    ),
    (
        "synod_da_rebuild_seconds",
        Kind::Gauge,
        "time the last rebuild from shards took",
    ),
    (
        "synod_da_rejected_commitments_total",
        Kind::Counter,
        "proposals not voted for: their DA commitment is not their data's",
    ),
    ("synod_rpc_requests_total", Kind::Counter, "RPC requests"),
    (
        "synod_rpc_transactions_accepted_total",
        Kind::Counter,
        "transactions accepted",
    ),
    (
        "synod_rpc_rate_limited_total",
        Kind::Counter,
        "RPC requests refused by the rate limit",
    ),
    ("synod_p2p_peers", Kind::Gauge, "connected peers"),
    ("synod_p2p_banned_peers", Kind::Gauge, "banned peers"),
    (
        "synod_p2p_forwarded_refused_total",
        Kind::Counter,
        "transaction hand-overs refused for a peer's rate limit",
    ),
    (
        "synod_p2p_penalties_total",
        Kind::Counter,
        "penalties given to peers",
    ),
    (
        "synod_p2p_dropped_events",
        Kind::Gauge,
        "network events dropped under overload",
    ),
    (
        "synod_p2p_invalid_messages",
        Kind::Gauge,
        "invalid messages received",
    ),
    (
        "synod_l1_attestations_posted_total",
        Kind::Counter,
        "finality certificates posted to the bridge",
    ),
    (
        "synod_l1_slashings_submitted_total",
        Kind::Counter,
        "equivocation evidence submitted to the StakeTable",
    ),
    (
        "synod_l1_epochs_advanced_total",
        Kind::Counter,
        "epoch snapshots taken on the StakeTable",
    ),
    (
        "synod_l1_errors_total",
        Kind::Counter,
        "failed L1 calls, by `kind`",
    ),
    (
        "synod_l1_gas_used_total",
        Kind::Counter,
        "gas used by this node's L1 transactions",
    ),
    (
        "synod_l1_attested_height",
        Kind::Gauge,
        "height the bridge has attested",
    ),
    (
        "synod_l1_attested_lag_blocks",
        Kind::Gauge,
        "finalized blocks not yet attested on L1",
    ),
    (
        "synod_process_resident_memory_bytes",
        Kind::Gauge,
        "resident memory",
    ),
];

/// Installs the Prometheus recorder once, with every metric of [`METRICS`] at zero;
/// returns the handle that renders `/metrics`.
pub fn metrics() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Only fails if another recorder is installed, which this process never does.
            let _ = metrics::set_global_recorder(recorder);
            for (name, kind, help) in METRICS {
                match kind {
                    Kind::Counter => {
                        metrics::describe_counter!(*name, *help);
                        metrics::counter!(*name).absolute(0);
                    }
                    Kind::Gauge => {
                        metrics::describe_gauge!(*name, *help);
                        metrics::gauge!(*name).set(0.0);
                    }
                }
            }
            handle
        })
        .clone()
}

/// Resident set size of this process (Linux), for the memory gauge.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names used in `metrics::counter!("…")` and `metrics::gauge!("…")` anywhere in
    /// the workspace's sources.
    fn names_in_sources() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut names = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if path.is_dir() {
                    if !name.starts_with('.') && name != "target" && name != "node_modules" {
                        dirs.push(path);
                    }
                } else if name.ends_with(".rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for marker in ["metrics::counter!(", "metrics::gauge!("] {
                        for (at, _) in text.match_indices(marker) {
                            let rest = text[at + marker.len()..].trim_start();
                            // A name, not a placeholder in a comment like this one's.
                            let name = rest.strip_prefix('"').and_then(|q| q.split('"').next());
                            if let Some(name) = name.filter(|n| {
                                n.bytes().all(|b| {
                                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
                                })
                            }) {
                                names.push(name.to_string());
                            }
                        }
                    }
                }
            }
        }
        names
    }

    #[test]
    fn every_metric_used_is_registered_at_zero_and_documented() {
        let used = names_in_sources();
        assert!(used.len() >= METRICS.len(), "{used:?}");
        for name in &used {
            assert!(
                METRICS.iter().any(|(n, _, _)| n == name),
                "{name} is used but not in telemetry::METRICS"
            );
        }
        let rpc_doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rpc.md"),
        )
        .unwrap();
        for (name, _, _) in METRICS {
            assert!(
                used.iter().any(|u| u == name),
                "{name} is registered but never set"
            );
            assert!(rpc_doc.contains(name), "{name} is not in docs/rpc.md");
        }
        let rendered = metrics().render();
        for (name, _, _) in METRICS {
            let line = rendered
                .lines()
                .find(|l| l.split(' ').next() == Some(name))
                .unwrap_or_else(|| panic!("{name} is not rendered:\n{rendered}"));
            let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
            assert!(value.is_some(), "{line}");
        }
    }
}
