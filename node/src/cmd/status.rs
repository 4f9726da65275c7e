//! `synod status`: a human summary of a running node, read over its RPC.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::cli::StatusArgs;

/// Prints the node's status.
pub fn run(args: &StatusArgs) -> Result<bool> {
    let url = format!("{}/status", args.rpc.trim_end_matches('/'));
    let status: Value = ureq::get(&url)
        .call()
        .with_context(|| format!("cannot reach the node at {url}"))?
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_json()
        .context("the node's /status is not JSON")?;
    if args.json {
        crate::cmd::print(&serde_json::to_string_pretty(&status)?)?;
        return Ok(true);
    }
    let field = |k: &str| status.get(k).cloned().unwrap_or(Value::Null);
    let synced = if field("synced") == Value::Bool(true) {
        "synced"
    } else {
        "syncing"
    };
    let member = match field("validator_index").as_u64() {
        Some(i) => format!("member {i} of the committee"),
        None => "not in the committee".into(),
    };
    let l1 = match field("l1_epoch").as_u64() {
        Some(e) => format!(", newest on L1 {e}"),
        None => String::new(),
    };
    crate::cmd::print(&format!(
        "{role} {peer}\n  epoch {epoch}{l1}, {member}\n  finalized height {fh} ({synced}, network {nh})\n  view {view}, proposed height {ph}\n  peers {peers}, mempool {mp} txs, {pb} pending batches\n  finalized since start: {fb} blocks, {ft} txs",
        role = field("role").as_str().unwrap_or("?"),
        epoch = field("epoch"),
        peer = field("peer_id").as_str().unwrap_or("?"),
        fh = field("finalized_height"),
        nh = field("network_height"),
        view = field("view"),
        ph = field("proposed_height"),
        peers = field("peers"),
        mp = field("mempool_txs"),
        pb = field("pending_batches"),
        fb = field("finalized_blocks"),
        ft = field("finalized_txs"),
    ))?;
    Ok(true)
}
