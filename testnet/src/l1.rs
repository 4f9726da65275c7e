//! The local L1 of `synod testnet up`: anvil (`synod testnet anvil`), the contracts
//! (`synod stake deploy`), every validator staked (`synod stake register`, the
//! operator's own command), the first epoch snapshot (`synod stake advance-epoch`) and
//! a genesis from it (`synod genesis --from-l1`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::manifest::{L1Entry, Manifest, Planned};
use crate::process::{alive, signal, spawn, synod, synod_output, synod_output_with, wait_exit};

/// Environment variable with an L1 account's private key, read by `synod stake` and
/// `synod start`.
pub const PRIVATE_KEY_ENV: &str = "SYNOD_L1_PRIVATE_KEY";
/// Offset of the L1's port from the base port: below the nodes' RPC ports (base+100+i)
/// and above their peer ports (base+i).
pub const PORT_OFFSET: u16 = 99;
/// Seconds between L1 blocks.
const BLOCK_TIME: u64 = 1;
/// Stake of each validator, in ETH (also the minimum).
/// A validator's stake unless told otherwise, and the StakeTable's minimum (ETH).
pub(crate) const STAKE_ETH: u64 = 32;
/// Funded accounts beyond the deployer's and the validators', for `synod testnet join`.
const SPARE_ACCOUNTS: usize = 8;
/// A validator slashed below this stake (ETH) is ejected: one slash (half) is enough.
const EJECTION_ETH: &str = "20";

/// Calls a JSON-RPC method; the `result`.
pub fn rpc(url: &str, method: &str, params: Value) -> Result<Value> {
    rpc_within(url, method, params, Duration::from_secs(5))
}

/// Calls a JSON-RPC method that may take up to `timeout`; the `result`.
fn rpc_within(url: &str, method: &str, params: Value, timeout: Duration) -> Result<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .build()
        .into();
    let mut answer: Value = agent
        .post(url)
        .send_json(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .with_context(|| format!("{method} to {url}"))?
        .body_mut()
        .read_json()
        .with_context(|| format!("{method} to {url}: not JSON"))?;
    if let Some(error) = answer.get("error") {
        bail!("{method}: {error}");
    }
    Ok(answer["result"].take())
}

fn hex_u64(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok()
}

/// Runs `synod <args>` with an L1 account's key; its stdout.
fn synod_with_key(args: &[&str], key: &str) -> Result<String> {
    synod_output_with(args, &[(PRIVATE_KEY_ENV, key)])
}

/// Starts anvil for `validators` validators and waits for its endpoint and its keys.
fn start_anvil(dir: &Path, port: u16, validators: usize) -> Result<(L1Entry, Vec<String>)> {
    let l1_dir = dir.join("l1");
    if l1_dir.exists() {
        std::fs::remove_dir_all(&l1_dir)
            .with_context(|| format!("cannot clear {}", l1_dir.display()))?;
    }
    std::fs::create_dir_all(&l1_dir)?;
    let config = l1_dir.join("accounts.json");
    let args: Vec<String> = vec![
        "testnet".into(),
        "anvil".into(),
        "--port".into(),
        port.to_string(),
        "--block-time".into(),
        BLOCK_TIME.to_string(),
        "--accounts".into(),
        (validators + 1 + SPARE_ACCOUNTS).to_string(),
        "--state".into(),
        l1_dir.join("state.json").to_string_lossy().into(),
        "--config-out".into(),
        config.to_string_lossy().into(),
    ];
    let log = l1_dir.join("anvil.log");
    let pid = spawn(&args, &log, &BTreeMap::new())?;
    let rpc_url = format!("http://127.0.0.1:{port}");
    wait_ready(&rpc_url, pid, &log)?;
    let written = Instant::now();
    while !config.exists() && written.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let keys: Vec<String> = accounts(&config)?.into_iter().map(|(_, k)| k).collect();
    if keys.len() <= validators {
        bail!(
            "anvil made {} accounts, {} are needed",
            keys.len(),
            validators + 1
        );
    }
    let entry = L1Entry {
        rpc_url,
        stake_table: String::new(),
        bridge: String::new(),
        epoch_blocks: 0,
        deployer_key: keys[0].clone(),
        pid,
        log,
        args,
    };
    Ok((entry, keys))
}

/// Anvil's dev accounts, (address, private key), from the file `--config-out` wrote.
fn accounts(config: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("anvil wrote no {}", config.display()))?;
    let parsed: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", config.display()))?;
    let list = |key: &str| -> Vec<String> {
        parsed[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(list("available_accounts")
        .into_iter()
        .zip(list("private_keys"))
        .collect())
}

/// A funded dev account of the testnet in `dir` that neither the deployer nor any node
/// uses, and that is not registered on the StakeTable (by an earlier join that did not
/// finish): its private key.
pub(crate) fn free_account(dir: &Path, manifest: &Manifest) -> Result<String> {
    let l1 = manifest.l1.as_ref().context("the testnet has no L1")?;
    let used: Vec<&str> = manifest
        .nodes
        .iter()
        .filter_map(|n| n.env.get(PRIVATE_KEY_ENV).map(String::as_str))
        .chain([l1.deployer_key.as_str()])
        .collect();
    for (account, key) in accounts(&dir.join("l1").join("accounts.json"))? {
        if used.contains(&key.as_str()) {
            continue;
        }
        let out = synod_output(&[
            "stake",
            "status",
            "--account",
            &account,
            "--json",
            "--l1.rpc",
            &l1.rpc_url,
            "--l1.stake-table",
            &l1.stake_table,
        ])?;
        let record: Value = serde_json::from_str(&out)
            .with_context(|| format!("unexpected `synod stake status` output: {out}"))?;
        if record["status"] == "NONE" {
            return Ok(key);
        }
    }
    bail!("every funded L1 account of this testnet is taken")
}

/// `synod stake register` of a planned validator from the account of `key`, as its
/// operator would run it; its output.
pub(crate) fn register(p: &Planned, l1: &L1Entry, key: &str) -> Result<String> {
    let args = register_args(p, l1);
    synod_with_key(&args.iter().map(String::as_str).collect::<Vec<_>>(), key)
}

/// Waits until anvil (`pid`) answers on `rpc_url`.
pub fn wait_ready(rpc_url: &str, pid: u32, log: &Path) -> Result<()> {
    let started = Instant::now();
    while rpc(rpc_url, "eth_blockNumber", json!([])).is_err() {
        if !alive(pid) {
            bail!("anvil exited; see {}", log.display());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("anvil did not answer within 30 s; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Starts the L1 and stakes every validator of `planned`; writes `genesis` from the
/// first epoch snapshot. Returns the L1 and each validator's L1 key, in `planned` order.
pub fn stake_network(
    dir: &Path,
    port: u16,
    epoch_blocks: u64,
    planned: &[Planned],
    genesis: &Path,
) -> Result<(L1Entry, Vec<String>)> {
    let validators: Vec<&Planned> = planned.iter().filter(|p| p.role == "validator").collect();
    let (mut l1, keys) = start_anvil(dir, port, validators.len())?;
    let staked = (|| {
        let out = synod_with_key(
            &[
                "stake",
                "deploy",
                "--l1.rpc",
                &l1.rpc_url,
                "--min-stake",
                &STAKE_ETH.to_string(),
                "--ejection-stake",
                EJECTION_ETH,
                "--exit-delay",
                "60",
                "--epoch-blocks",
                &epoch_blocks.to_string(),
            ],
            &l1.deployer_key,
        )?;
        let deployment: Value = serde_json::from_str(&out)
            .with_context(|| format!("unexpected `synod stake deploy` output: {out}"))?;
        l1.stake_table = deployment["stake_table"]
            .as_str()
            .context("no stake_table in the deployment")?
            .to_string();
        l1.bridge = deployment["bridge"]
            .as_str()
            .context("no bridge in the deployment")?
            .to_string();
        l1.epoch_blocks = epoch_blocks;
        crate::process::say!(
            "L1 at {}: StakeTable {}, Bridge {}",
            l1.rpc_url,
            l1.stake_table,
            l1.bridge
        );
        // Every validator registers at once, each from its own account.
        let registrations: Vec<_> = validators
            .iter()
            .zip(&keys[1..])
            .map(|(p, key)| {
                let mut cmd = Command::new(synod()?);
                cmd.args(register_args(p, &l1))
                    .env(PRIVATE_KEY_ENV, key)
                    .env_remove("SYNOD_DATA_DIR")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                Ok((
                    p.name.clone(),
                    cmd.spawn().context("cannot run synod stake register")?,
                ))
            })
            .collect::<Result<_>>()?;
        for (name, child) in registrations {
            let out = child.wait_with_output()?;
            if !out.status.success() {
                bail!(
                    "synod stake register for {name} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        let stakes: Vec<String> = validators.iter().map(|p| p.stake.to_string()).collect();
        crate::process::say!(
            "staked {} validators (ETH: {})",
            validators.len(),
            stakes.join(", ")
        );
        snapshot_next_epoch(&l1)?;
        synod_output(&[
            "genesis",
            "--from-l1",
            "--l1.rpc",
            &l1.rpc_url,
            "--l1.stake-table",
            &l1.stake_table,
            "--out",
            &genesis.to_string_lossy(),
        ])?;
        Ok(())
    })();
    if let Err(e) = staked {
        stop(&l1);
        return Err(e);
    }
    let keys = keys[1..=validators.len()].to_vec();
    Ok((l1, keys))
}

fn register_args(p: &Planned, l1: &L1Entry) -> Vec<String> {
    let mut args = vec![
        "stake".to_string(),
        "register".into(),
        "--data-dir".into(),
        p.data_dir.to_string_lossy().into(),
        "--stake".into(),
        p.stake.to_string(),
        "--l1.rpc".into(),
        l1.rpc_url.clone(),
        "--l1.stake-table".into(),
        l1.stake_table.clone(),
    ];
    if let Some(pw) = &p.password_file {
        args.push("--password-file".into());
        args.push(pw.to_string_lossy().into());
    }
    args
}

/// Mines anvil up to the next epoch's snapshot block and snapshots it.
fn snapshot_next_epoch(l1: &L1Entry) -> Result<()> {
    // anvil_mine jumps the chain forward; the snapshot lands in the next block.
    let now = hex_u64(&rpc(&l1.rpc_url, "eth_blockNumber", json!([]))?)
        .context("eth_blockNumber is not a number")?;
    // anvil mines a few hundred blocks a second.
    rpc_within(
        &l1.rpc_url,
        "anvil_mine",
        json!([format!("0x{:x}", l1.epoch_blocks)]),
        Duration::from_secs(30 + l1.epoch_blocks / 50),
    )?;
    let out = synod_with_key(
        &[
            "stake",
            "advance-epoch",
            "--l1.rpc",
            &l1.rpc_url,
            "--l1.stake-table",
            &l1.stake_table,
        ],
        &l1.deployer_key,
    )
    .with_context(|| format!("snapshotting the first epoch (L1 was at block {now})"))?;
    crate::process::say!("{}", out.trim());
    Ok(())
}

/// The attested height on the bridge, as a node reports it.
pub fn attested(rpc_url: &str) -> Option<u64> {
    rpc(rpc_url, "synod_getTips", json!([])).ok()?["attested"].as_u64()
}

/// The L1's latest block number.
pub fn block_number(l1: &L1Entry) -> Option<u64> {
    hex_u64(&rpc(&l1.rpc_url, "eth_blockNumber", json!([])).ok()?)
}

/// Stops anvil (SIGTERM: it writes its state) and waits for it.
pub fn stop(l1: &L1Entry) {
    if alive(l1.pid) {
        signal("-TERM", l1.pid);
        if !wait_exit(l1.pid, Duration::from_secs(10)) {
            signal("-KILL", l1.pid);
            wait_exit(l1.pid, Duration::from_secs(5));
        }
    }
}

/// `synod testnet anvil`: becomes the pinned anvil (exec), so its pid is anvil's.
pub fn anvil(args: &crate::cli::AnvilArgs) -> Result<bool> {
    use std::os::unix::process::CommandExt as _;
    let binary = synod_bridge::devnet::anvil_binary();
    let mut cmd = std::process::Command::new(&binary);
    cmd.args(synod_bridge::devnet::ANVIL_FLAGS)
        .args(["--host", "127.0.0.1", "--port"])
        .arg(args.port.to_string())
        .arg("--block-time")
        .arg(args.block_time.to_string())
        .arg("--accounts")
        .arg(args.accounts.to_string());
    if let Some(state) = &args.state {
        // Written every second too: a killed anvil loses at most a second of chain.
        cmd.arg("--state")
            .arg(state)
            .args(["--state-interval", "1"]);
    }
    if let Some(out) = &args.config_out {
        cmd.arg("--config-out").arg(out);
    }
    let error = cmd.exec();
    bail!(
        "cannot run anvil ({}): {error}; run `make bootstrap` or set SYNOD_ANVIL",
        binary.display()
    )
}
