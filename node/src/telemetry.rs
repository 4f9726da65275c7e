//! Logs (tracing, human or JSON) and Prometheus metrics (`synod_<area>_<name>_<unit>`).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::service::NodeStatus;

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

/// Installs the Prometheus recorder once; returns the handle that renders `/metrics`.
pub fn metrics() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Only fails if another recorder is installed, which this process never does.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Mirrors the status snapshot into gauges.
pub fn record_status(status: &NodeStatus, net: &synod_p2p::NetworkStatus) {
    metrics::gauge!("synod_consensus_view").set(status.view as f64);
    metrics::gauge!("synod_consensus_network_height").set(status.network_height as f64);
    metrics::gauge!("synod_p2p_peers").set(status.peers as f64);
    metrics::gauge!("synod_sequencer_mempool_transactions").set(status.mempool_txs as f64);
    metrics::gauge!("synod_sequencer_pending_batches").set(status.pending_batches as f64);
    metrics::gauge!("synod_p2p_dropped_events").set(net.dropped_events as f64);
    metrics::gauge!("synod_p2p_invalid_messages").set(net.invalid_messages as f64);
    metrics::gauge!("synod_p2p_banned_peers").set(net.banned_peers as f64);
    if let Some(rss) = rss_bytes() {
        metrics::gauge!("synod_process_resident_memory_bytes").set(rss as f64);
    }
}

/// Resident set size of this process (Linux), for the memory gauge.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
