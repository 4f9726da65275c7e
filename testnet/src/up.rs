//! `synod testnet up` and `down`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::RngCore;
use serde_json::Value;

use crate::cli::{L1Mode, UpArgs};
use crate::l1;
use crate::manifest::{L1Entry, Manifest, NodeEntry, Planned};
use crate::process::{alive, signal, spawn, synod_output, wait_exit};

/// Chain id of local networks (anvil's).
pub const CHAIN_ID: u64 = 31337;
const STAKE: u64 = 100;

/// The value after `prefix` on the first line that starts with it.
fn field(output: &str, prefix: &str) -> Result<String> {
    output
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|v| v.split_whitespace().next().unwrap_or_default().to_string())
        .with_context(|| format!("unexpected synod output (no {prefix:?}): {output}"))
}

/// Prepares every node's directory, keys and identity; the validators' keys as
/// `synod genesis --validator` takes them.
fn prepare(args: &UpArgs, dir: &Path) -> Result<(Vec<Planned>, Vec<String>)> {
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    let total = args.nodes + args.full_nodes;
    if total > usize::from(l1::PORT_OFFSET) {
        bail!("at most {} nodes", l1::PORT_OFFSET);
    }
    if usize::from(args.base_port) + 100 + total > usize::from(u16::MAX) {
        bail!(
            "--base-port {} leaves no room for {total} nodes",
            args.base_port
        );
    }
    if !args.stakes.is_empty() && args.stakes.len() != args.nodes {
        bail!(
            "--stakes lists {} stakes for {} validators",
            args.stakes.len(),
            args.nodes
        );
    }
    let default_stake = match args.l1 {
        L1Mode::Anvil => l1::STAKE_ETH,
        L1Mode::None => STAKE,
    };
    if args.l1 == L1Mode::Anvil {
        if let Some(low) = args.stakes.iter().find(|s| **s < l1::STAKE_ETH) {
            bail!(
                "--stakes: {low} ETH is below the StakeTable's minimum of {} ETH",
                l1::STAKE_ETH
            );
        }
    }
    if args.stakes.contains(&0) {
        bail!("--stakes: a validator's stake must be positive");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut planned = Vec::new();
    let mut validators = Vec::new();
    for i in 0..total {
        let validator = i < args.nodes;
        let name = if validator {
            format!("validator-{i}")
        } else {
            format!("full-{}", i - args.nodes)
        };
        let stake = match validator {
            true => args.stakes.get(i).copied().unwrap_or(default_stake),
            false => 0,
        };
        let (p, key) = plan_node(dir, name, stake, args.base_port, i)?;
        validators.extend(key.map(|k| format!("{k}:{stake}")));
        planned.push(p);
    }
    Ok((planned, validators))
}

/// Creates node `i`'s data directory (cleared first), its identity and, for a validator
/// (a positive `stake`), its keystore with a random password; returns the node and the
/// validator's public key.
pub(crate) fn plan_node(
    dir: &Path,
    name: String,
    stake: u64,
    base_port: u16,
    i: usize,
) -> Result<(Planned, Option<String>)> {
    let validator = stake > 0;
    let data_dir = dir.join(&name);
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("cannot clear {}", data_dir.display()))?;
    }
    std::fs::create_dir_all(&data_dir)?;
    let dd = data_dir.to_string_lossy().to_string();
    let mut public_key = None;
    let password_file = if validator {
        let path = data_dir.join("password.txt");
        let mut secret = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&path, hex)?;
        let out = synod_output(&[
            "keys",
            "new",
            "--data-dir",
            &dd,
            "--password-file",
            &path.to_string_lossy(),
            "--kdf",
            "pbkdf2",
        ])?;
        public_key = Some(field(&out, "created key ")?);
        Some(path)
    } else {
        None
    };
    let out = synod_output(&["init", "--data-dir", &dd])?;
    let planned = Planned {
        name,
        role: if validator { "validator" } else { "full" },
        data_dir,
        p2p_port: base_port + i as u16,
        rpc_port: base_port + 100 + i as u16,
        peer_id: field(&out, "peer id ")?,
        password_file,
        stake,
    };
    Ok((planned, public_key))
}

/// `synod genesis` with the validators of the command line.
fn genesis_without_l1(validators: &[String], genesis: &Path) -> Result<()> {
    let mut genesis_args = vec![
        "genesis".to_string(),
        "--chain-id".into(),
        CHAIN_ID.to_string(),
        "--out".into(),
        genesis.to_string_lossy().into(),
    ];
    for v in validators {
        genesis_args.push("--validator".into());
        genesis_args.push(v.clone());
    }
    synod_output(&genesis_args.iter().map(String::as_str).collect::<Vec<_>>())?;
    Ok(())
}

fn p2p_addr(p: &Planned) -> String {
    format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", p.p2p_port, p.peer_id)
}

/// The `synod start` arguments of one planned node.
fn start_args(p: &Planned, bootnodes: &str, genesis: &Path, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "start".into(),
        "--data-dir".into(),
        p.data_dir.to_string_lossy().into(),
        "--node.role".into(),
        p.role.into(),
        "--node.genesis".into(),
        genesis.to_string_lossy().into(),
        "--network.listen".into(),
        format!("/ip4/127.0.0.1/tcp/{}", p.p2p_port),
        "--network.bootnodes".into(),
        bootnodes.into(),
        "--rpc.addr".into(),
        format!("127.0.0.1:{}", p.rpc_port),
    ];
    if let Some(pw) = &p.password_file {
        args.push("--node.password-file".into());
        args.push(pw.to_string_lossy().into());
    }
    args.extend(extra.iter().cloned());
    args
}

/// Starts one planned node: with the L1's flags when the network has one, and as a
/// validator with its L1 account's key (`l1_key`), from which it publishes.
pub(crate) fn launch(
    p: &Planned,
    bootnodes: &str,
    genesis: &Path,
    node_args: &[String],
    l1: Option<&L1Entry>,
    l1_key: Option<&str>,
) -> Result<NodeEntry> {
    let mut start = start_args(p, bootnodes, genesis, node_args);
    let mut env = BTreeMap::new();
    if let Some(l1) = l1 {
        start.extend([
            "--l1.rpc".into(),
            l1.rpc_url.clone(),
            "--l1.stake-table".into(),
            l1.stake_table.clone(),
            // anvil mines on a timer and never reorganizes.
            "--l1.confirmations".into(),
            "1".into(),
        ]);
        if let Some(key) = l1_key {
            env.insert(l1::PRIVATE_KEY_ENV.to_string(), key.to_string());
        }
    }
    let log = p.data_dir.join("synod.log");
    let pid = spawn(&start, &log, &env)?;
    let rpc_url = format!("http://127.0.0.1:{}", p.rpc_port);
    Ok(NodeEntry {
        name: p.name.clone(),
        role: p.role.into(),
        metrics_url: format!("{rpc_url}/metrics"),
        rpc_url,
        p2p: p2p_addr(p),
        data_dir: p.data_dir.clone(),
        log,
        pid,
        args: start,
        env,
    })
}

/// GETs a node's `/status`.
pub fn status(rpc_url: &str) -> Option<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    agent
        .get(format!("{rpc_url}/status"))
        .call()
        .ok()?
        .body_mut()
        .read_json()
        .ok()
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// `synod testnet up`.
pub fn up(args: &UpArgs) -> Result<bool> {
    let dir = &args.dir.dir;
    if let Ok(old) = Manifest::load(dir) {
        if old.nodes.iter().any(|n| alive(n.pid)) || old.l1.as_ref().is_some_and(|l| alive(l.pid)) {
            bail!(
                "a testnet is already running in {}: stop it with `synod testnet down --dir {}`",
                dir.display(),
                dir.display()
            );
        }
    }
    let (planned, validators) = prepare(args, dir)?;
    let genesis = dir.join("genesis.json");
    let (l1, l1_keys) = match args.l1 {
        L1Mode::None => {
            genesis_without_l1(&validators, &genesis)?;
            (None, Vec::new())
        }
        L1Mode::Anvil => {
            let (l1, keys) = l1::stake_network(
                dir,
                args.base_port + l1::PORT_OFFSET,
                args.epoch_blocks,
                &planned,
                &genesis,
            )?;
            (Some(l1), keys)
        }
    };
    let mut nodes = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        // Everyone knows the first validator; the first validator knows the second.
        let boot = if i == 0 {
            planned.get(1)
        } else {
            planned.first()
        };
        let bootnodes = boot.map(p2p_addr).unwrap_or_default();
        let l1_key = l1_keys.get(i).map(String::as_str);
        nodes.push(launch(
            p,
            &bootnodes,
            &genesis,
            &args.node_args,
            l1.as_ref(),
            l1_key,
        )?);
    }
    let manifest = Manifest {
        chain_id: CHAIN_ID,
        genesis,
        nodes,
        l1,
        base_port: args.base_port,
        node_args: args.node_args.clone(),
    };
    manifest.save(dir)?;
    crate::process::say!(
        "started {} validators and {} full nodes; {} describes them",
        args.nodes,
        args.full_nodes,
        Manifest::path(dir).display()
    );
    if let Err(e) = wait_for_finality(&manifest, Duration::from_secs(60)) {
        // Nothing is left running behind a failed start.
        let _ = down(dir);
        return Err(e);
    }
    if args.detach {
        crate::process::say!(
            "network is finalizing; stop it with `synod testnet down --dir {}`",
            dir.display()
        );
        return Ok(true);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("cannot install the Ctrl-C handler")?;
    let started = Instant::now();
    let mut last: Option<(Instant, u64)> = None;
    while !stop.load(Ordering::SeqCst)
        && (args.duration == 0 || started.elapsed() < Duration::from_secs(args.duration))
    {
        let line = status_line(&manifest, &mut last);
        crate::process::say!("{line}");
        let _ = std::io::stdout().flush();
        let tick = Instant::now();
        while tick.elapsed() < Duration::from_secs(1) && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    crate::process::say!("stopping the network");
    down(dir)
}

/// One line: heights, views, finalized tx/s and peers of every node.
fn status_line(manifest: &Manifest, last: &mut Option<(Instant, u64)>) -> String {
    let statuses: Vec<Option<Value>> = manifest.nodes.iter().map(|n| status(&n.rpc_url)).collect();
    let up = statuses.iter().filter(|s| s.is_some()).count();
    let heights: Vec<u64> = statuses
        .iter()
        .flatten()
        .map(|s| u64_of(s, "finalized_height"))
        .collect();
    let height = heights.iter().copied().max().unwrap_or(0);
    let highest = |key: &str| {
        statuses
            .iter()
            .flatten()
            .map(|s| u64_of(s, key))
            .max()
            .unwrap_or(0)
    };
    let (view, epoch, txs) = (highest("view"), highest("epoch"), highest("finalized_txs"));
    let peers: Vec<String> = statuses
        .iter()
        .map(|s| {
            s.as_ref()
                .map_or("-".into(), |s| u64_of(s, "peers").to_string())
        })
        .collect();
    let now = Instant::now();
    let tps = match last {
        Some((t, n)) => {
            (txs.saturating_sub(*n)) as f64 / now.duration_since(*t).as_secs_f64().max(1e-3)
        }
        None => 0.0,
    };
    *last = Some((now, txs));
    let lag = heights.iter().map(|h| height - h).max().unwrap_or(0);
    let attested = manifest.l1.as_ref().map_or(String::new(), |l1| {
        let attested = manifest
            .nodes
            .iter()
            .find_map(|n| l1::attested(&n.rpc_url))
            .map_or("-".into(), |h| h.to_string());
        let block = l1::block_number(l1).map_or("down".into(), |b| b.to_string());
        format!("  attested on L1 {attested} (L1 block {block})")
    });
    format!(
        "height {height} (max lag {lag})  view {view}  epoch {epoch}  finalized {tps:.0} tx/s{attested}  nodes up {up}/{}  peers [{}]",
        manifest.nodes.len(),
        peers.join(" ")
    )
}

/// Waits until every validator reports a finalized height of at least 1.
pub fn wait_for_finality(manifest: &Manifest, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let done = manifest
            .nodes
            .iter()
            .filter(|n| n.role == "validator")
            .all(|n| status(&n.rpc_url).is_some_and(|s| u64_of(&s, "finalized_height") >= 1));
        if done {
            return Ok(());
        }
        for n in &manifest.nodes {
            if !alive(n.pid) {
                bail!("{} exited; see {}", n.name, n.log.display());
            }
        }
        if start.elapsed() > timeout {
            bail!(
                "the network did not finalize a block within {} s; see the logs in {}",
                timeout.as_secs(),
                manifest.nodes[0]
                    .data_dir
                    .parent()
                    .unwrap_or(Path::new("."))
                    .display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `synod testnet restart`: stops one node (SIGTERM) if it runs, optionally wipes its
/// database, and starts it again with the same arguments. `l1` restarts anvil, which
/// keeps its chain.
pub fn restart(dir: &Path, name: &str, wipe: bool) -> Result<bool> {
    let mut manifest = Manifest::load(dir)?;
    if name == "l1" {
        let Some(l1) = manifest.l1.as_mut() else {
            bail!("the testnet in {} has no L1", dir.display());
        };
        l1::stop(l1);
        l1.pid = spawn(&l1.args, &l1.log, &BTreeMap::new())?;
        l1::wait_ready(&l1.rpc_url, l1.pid, &l1.log)?;
        crate::process::say!("restarted the L1 (pid {})", l1.pid);
        manifest.save(dir)?;
        return Ok(true);
    }
    let Some(node) = manifest.nodes.iter_mut().find(|n| n.name == name) else {
        bail!("no node named {name} in {}", Manifest::path(dir).display());
    };
    if alive(node.pid) {
        signal("-TERM", node.pid);
        if !wait_exit(node.pid, Duration::from_secs(15)) {
            signal("-KILL", node.pid);
            wait_exit(node.pid, Duration::from_secs(5));
        }
    }
    if wipe {
        let db = node.data_dir.join("db");
        if db.exists() {
            std::fs::remove_dir_all(&db)
                .with_context(|| format!("cannot wipe {}", db.display()))?;
        }
    }
    node.pid = spawn(&node.args, &node.log, &node.env)?;
    crate::process::say!(
        "restarted {name} (pid {}){}",
        node.pid,
        if wipe { " with an empty database" } else { "" }
    );
    manifest.save(dir)?;
    Ok(true)
}

/// `synod testnet down`: SIGTERM to every node, then SIGKILL after 15 s.
pub fn down(dir: &Path) -> Result<bool> {
    let manifest = Manifest::load(dir)?;
    for n in &manifest.nodes {
        if alive(n.pid) {
            signal("-TERM", n.pid);
        }
    }
    let start = Instant::now();
    while manifest.nodes.iter().any(|n| alive(n.pid)) {
        if start.elapsed() > Duration::from_secs(15) {
            for n in manifest.nodes.iter().filter(|n| alive(n.pid)) {
                eprintln!("{} did not stop within 15 s; killing it", n.name);
                signal("-KILL", n.pid);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(l1) = &manifest.l1 {
        l1::stop(l1);
    }
    crate::process::say!(
        "stopped {} nodes{}",
        manifest.nodes.len(),
        if manifest.l1.is_some() {
            " and the L1"
        } else {
            ""
        }
    );
    Ok(true)
}
