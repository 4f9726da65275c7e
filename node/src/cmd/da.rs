//! `synod da get`: a finalized block's data, over a node's RPC.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::cli::DaCommand;

/// Runs a `synod da` subcommand.
pub fn run(command: &DaCommand) -> Result<bool> {
    let DaCommand::Get {
        height,
        from_shards,
        rpc,
    } = command;
    let body = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "synod_getBlockData",
        "params": [height, {"from_shards": from_shards}],
    });
    let answer: Value = ureq::post(rpc)
        .send_json(&body)
        .with_context(|| format!("cannot reach the node at {rpc}"))?
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_json()
        .context("the node's answer is not JSON")?;
    if let Some(error) = answer.get("error") {
        bail!(
            "{}",
            error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the node refused")
        );
    }
    crate::cmd::print(&serde_json::to_string_pretty(&answer["result"])?)?;
    Ok(true)
}
