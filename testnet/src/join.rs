//! `synod testnet join`: one more node in a running network, started the way `up`
//! starts its nodes. A validator gets a fresh key and stakes it on the network's L1
//! with `synod stake register` from a funded account nobody uses yet; it follows the
//! chain at once and enters the committee with the next epoch snapshot.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::l1;
use crate::manifest::Manifest;
use crate::process::alive;
use crate::up::{launch, plan_node, status};

/// How long the new node may take to finalize its first block.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// The base port of a manifest written before it recorded one: node 0 serves RPC on
/// base+100.
fn base_port(manifest: &Manifest) -> Result<u16> {
    if manifest.base_port != 0 {
        return Ok(manifest.base_port);
    }
    manifest
        .nodes
        .first()
        .and_then(|n| n.rpc_url.rsplit(':').next()?.parse::<u16>().ok())
        .and_then(|p| p.checked_sub(100))
        .context("testnet.json records no base port")
}

/// `synod testnet join`.
pub fn join(dir: &Path, full: bool) -> Result<bool> {
    let mut manifest = Manifest::load(dir)?;
    let Some(running) = manifest.nodes.iter().find(|n| alive(n.pid)) else {
        bail!(
            "the testnet in {} is not running: start it with `synod testnet up`",
            dir.display()
        );
    };
    let bootnodes = running.p2p.clone();
    if !full && manifest.l1.is_none() {
        bail!(
            "validators join by staking on the L1, and this testnet runs without one \
             (`--l1 none`); add a full node with `--full`"
        );
    }
    let i = manifest.nodes.len();
    let base = base_port(&manifest)?;
    if i >= usize::from(l1::PORT_OFFSET) || usize::from(base) + 100 + i > usize::from(u16::MAX) {
        bail!("no port left for another node of this testnet");
    }
    let role = if full { "full" } else { "validator" };
    let ordinal = manifest.nodes.iter().filter(|n| n.role == role).count();
    let name = format!("{role}-{ordinal}");
    if manifest.nodes.iter().any(|n| n.name == name) {
        bail!("testnet.json already has a node named {name}");
    }
    let stake = if full { 0 } else { l1::STAKE_ETH };
    let (planned, _) = plan_node(dir, name, stake, base, i)?;
    let l1_key = match (&manifest.l1, full) {
        (Some(l1), false) => {
            let key = l1::free_account(dir, &manifest)?;
            let out = l1::register(&planned, l1, &key)?;
            crate::process::say!("{}", out.trim());
            Some(key)
        }
        _ => None,
    };
    let node = launch(
        &planned,
        &bootnodes,
        &manifest.genesis,
        &manifest.node_args,
        manifest.l1.as_ref(),
        l1_key.as_deref(),
    )?;
    let (name, rpc_url, pid, log) = (
        node.name.clone(),
        node.rpc_url.clone(),
        node.pid,
        node.log.clone(),
    );
    manifest.nodes.push(node);
    manifest.save(dir)?;
    let started = Instant::now();
    let finalized = || status(&rpc_url).and_then(|s| s["finalized_height"].as_u64());
    while finalized().unwrap_or(0) == 0 {
        if !alive(pid) {
            bail!("{name} exited; see {}", log.display());
        }
        if started.elapsed() > SYNC_TIMEOUT {
            bail!(
                "{name} finalized no block within {} s; see {}",
                SYNC_TIMEOUT.as_secs(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    crate::process::say!(
        "{name} joined (pid {pid}, RPC {rpc_url}) and follows the chain{}",
        if full {
            ""
        } else {
            "; it votes from the first epoch whose StakeTable snapshot includes it"
        }
    );
    Ok(true)
}
