//! What the end-to-end tests share: a testnet of real `synod` processes, and reading
//! its nodes over RPC.
#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The nodes' log level in these tests, unless `SYNOD_LOG_LEVEL` says otherwise: the
/// logs of a failed test are kept, and say what the node task decided.
const TEST_LOG_LEVEL: &str = "info,synod_node=debug,synod_consensus=debug";

pub fn synod(args: &[&str]) -> Output {
    let level = std::env::var("SYNOD_LOG_LEVEL").unwrap_or_else(|_| TEST_LOG_LEVEL.into());
    Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(args)
        .env("SYNOD_LOG_LEVEL", level)
        .env_remove("SYNOD_DATA_DIR")
        .output()
        .expect("synod runs")
}

pub fn ok(args: &[&str]) -> String {
    let out = synod(args);
    assert!(
        out.status.success(),
        "synod {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A testnet directory and port range of its own; stopped on drop.
pub struct Net {
    pub dir: PathBuf,
    _ports: PortLease,
}

/// Slots of `SLOT_PORTS` ports from 21000, all below the kernel's ephemeral range
/// (32768 and up) where any outgoing connection could take a port first.
const SLOTS: u32 = 55;
const SLOT_PORTS: u16 = 200;

/// A port range held by one test process: claimed with a lock file that no concurrent
/// test can also create, and checked free before use; released on drop.
pub struct PortLease {
    base: u16,
    lock: PathBuf,
}

impl PortLease {
    fn take() -> PortLease {
        let start = std::process::id() % SLOTS;
        for i in 0..SLOTS {
            let slot = (start + i) % SLOTS;
            let base = 21_000 + slot as u16 * SLOT_PORTS;
            let lock = std::env::temp_dir().join(format!("synod-e2e-ports-{base}.lock"));
            let claimed = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
                .is_ok();
            if !claimed {
                continue;
            }
            // The testnet uses base..base+106 (p2p, anvil at +99, RPC from +100).
            let free = (base..base + 110)
                .all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
            if free {
                return PortLease { base, lock };
            }
            let _ = std::fs::remove_file(&lock);
        }
        panic!(
            "no free port range for an end-to-end testnet (stale {}/synod-e2e-ports-*.lock?)",
            std::env::temp_dir().display()
        );
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

impl Net {
    /// A network with its L1 (anvil), as `make testnet` starts it.
    pub fn up(name: &str, validators: usize, full: usize) -> Net {
        Net::up_with(name, validators, full, &[])
    }

    /// A network started with extra `synod testnet up` flags.
    pub fn up_with(name: &str, validators: usize, full: usize, extra: &[&str]) -> Net {
        let dir = std::env::temp_dir().join(format!("synod-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ports = PortLease::take();
        let base = ports.base;
        ok(&[
            "testnet",
            "up",
            "--detach",
            "--nodes",
            &validators.to_string(),
            "--full-nodes",
            &full.to_string(),
            "--dir",
            dir.to_str().unwrap(),
            "--base-port",
            &base.to_string(),
            "--node-arg=--consensus.base-timeout-ms=500",
            // Low enough that a wiped validator syncs by height before its engine resumes.
            "--node-arg=--consensus.catch-up-blocks=64",
            // The validators snapshot the next epoch after 300 L1 blocks (5 minutes,
            // longer than any test), or as soon as a test mines up to it (few enough
            // blocks that anvil mines them in a moment).
            "--epoch-blocks",
            "300",
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .collect::<Vec<_>>());
        Net { dir, _ports: ports }
    }

    pub fn manifest(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("testnet.json")).unwrap())
            .unwrap()
    }

    pub fn node(&self, name: &str) -> Value {
        self.manifest()["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// kill -9 of one node.
    pub fn kill(&self, name: &str) {
        let pid = self.node(name)["pid"].as_u64().unwrap().to_string();
        assert!(Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success());
    }

    /// `synod testnet restart` of one node, optionally with a wiped database.
    pub fn restart(&self, name: &str, wipe: bool) {
        let dir = self.dir.to_str().unwrap();
        let mut args = vec!["testnet", "restart", "--dir", dir, "--node", name];
        if wipe {
            args.push("--wipe");
        }
        ok(&args);
    }

    pub fn urls(&self) -> Vec<String> {
        self.manifest()["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["rpc_url"].as_str().unwrap().to_string())
            .collect()
    }

    /// `synod testnet load` in a thread of its own; its report when joined.
    pub fn load_in_background(&self, rate: u64, seconds: u64) -> std::thread::JoinHandle<Value> {
        let dir = self.dir.clone();
        std::thread::spawn(move || run_load(&dir, rate, seconds))
    }

    pub fn load(&self, rate: u64, seconds: u64) -> Value {
        run_load(&self.dir, rate, seconds)
    }
}

/// `synod testnet load` against the testnet in `dir`; its report.
fn run_load(dir: &std::path::Path, rate: u64, seconds: u64) -> Value {
    let report = dir.join(format!("load-{rate}-{seconds}.json"));
    let out = synod(&[
        "testnet",
        "load",
        "--dir",
        dir.to_str().unwrap(),
        "--rate",
        &rate.to_string(),
        "--duration",
        &seconds.to_string(),
        "--size",
        "64",
        "--json",
        report.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&report).unwrap_or_else(|_| {
        panic!(
            "no load report; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(&text).unwrap()
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = synod(&["testnet", "down", "--dir", self.dir.to_str().unwrap()]);
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("logs kept in {}", self.dir.display());
        }
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

pub fn rpc(url: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    agent()
        .post(url)
        .send_json(&body)
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

/// POSTs over a raw socket, ignoring write errors (the server may answer and close
/// before the body is sent), and returns the whole response text.
pub fn raw_post(url: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|_| s.write_all(body.as_bytes()));
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn status(url: &str) -> Option<Value> {
    agent()
        .get(format!("{url}/status"))
        .call()
        .ok()?
        .body_mut()
        .read_json()
        .ok()
}

/// The finalized height of a node (0 while it does not answer); checks on the way that
/// the proposed height it reports is never below it.
pub fn height(url: &str) -> u64 {
    let Some(s) = status(url) else {
        return 0;
    };
    let finalized = s["finalized_height"].as_u64().unwrap_or(0);
    let proposed = s["proposed_height"].as_u64().unwrap_or(0);
    assert!(
        proposed >= finalized,
        "{url} reports proposed height {proposed} below finalized {finalized}"
    );
    finalized
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Shown with the test's output: how close each wait came to its limit.
    eprintln!("waited {:.1?} of {timeout:?} for {what}", start.elapsed());
}

/// Block hashes at heights `0..=to` of one node (0: the genesis block), fetched with
/// JSON-RPC batch requests (a node answers at most 100 calls a batch, and calls over its
/// rate limit are asked again).
pub fn headers(url: &str, to: u64) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in (0..=to).collect::<Vec<_>>().chunks(100) {
        let mut hashes = vec![None; chunk.len()];
        for _ in 0..100 {
            let batch: Vec<Value> = chunk
                .iter()
                .enumerate()
                .filter(|(i, _)| hashes[*i].is_none())
                .map(|(i, h)| json!({"jsonrpc": "2.0", "id": i, "method": "synod_getBlock", "params": [h]}))
                .collect();
            if batch.is_empty() {
                break;
            }
            let answers: Vec<Value> = agent()
                .post(url)
                .send_json(&batch)
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap();
            for a in answers {
                let i = a["id"].as_u64().unwrap() as usize;
                if a["error"]["code"] != -32005 {
                    hashes[i] = Some(
                        a["result"]["hash"]
                            .as_str()
                            .unwrap_or("missing")
                            .to_string(),
                    );
                }
            }
            if hashes.iter().any(Option::is_none) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        out.extend(
            hashes
                .into_iter()
                .map(|h| h.expect("answered within 100 tries")),
        );
    }
    out
}

pub fn assert_identical_chains(urls: &[String]) {
    let common = urls.iter().map(|u| height(u)).min().unwrap();
    assert!(common > 0);
    let reference = headers(&urls[0], common);
    assert!(
        !reference.iter().any(|h| h == "missing"),
        "{} lacks blocks of its chain (from the genesis block at 0): {reference:?}",
        urls[0]
    );
    for url in &urls[1..] {
        assert_eq!(
            headers(url, common),
            reference,
            "{url} disagrees with {}",
            urls[0]
        );
    }
}

/// No node produced or saw equivocation evidence: an honest node's conflicting
/// signature would have been turned into evidence by its peers.
pub fn assert_no_evidence(urls: &[String]) {
    for url in urls {
        assert_eq!(metric(url, "synod_consensus_evidence_total"), 0.0, "{url}");
    }
}

/// The value of an unlabelled metric; a name the node does not export fails the test
/// (every metric is exported from the start, at zero).
pub fn metric(url: &str, name: &str) -> f64 {
    let text = agent()
        .get(format!("{url}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("{url}/metrics has no {name}"));
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{url}/metrics: {line:?} has no number"))
}

/// Records `synod_subscribeFinalized` notifications (full blocks with their
/// transactions) from one node, by height, until stopped.
pub struct Subscriber {
    blocks: Arc<Mutex<BTreeMap<u64, Value>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Subscriber {
    pub fn start(rpc_url: &str) -> Subscriber {
        let ws = rpc_url.replace("http://", "ws://");
        let (mut socket, _) = tungstenite::connect(&ws).unwrap();
        let request =
            json!({"jsonrpc": "2.0", "id": 1, "method": "synod_subscribeFinalized", "params": []});
        socket
            .send(tungstenite::Message::text(request.to_string()))
            .unwrap();
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
        }
        let blocks = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (received, stopped) = (blocks.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let text = match socket.read() {
                    Ok(tungstenite::Message::Text(text)) => text,
                    Ok(_) => continue,
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue
                    }
                    Err(e) => panic!("the subscription ended: {e}"),
                };
                let value: Value = serde_json::from_str(&text).unwrap();
                let Some(result) = value.pointer("/params/result") else {
                    continue;
                };
                assert!(
                    result.get("lagged").is_none(),
                    "the subscriber lagged: {result}"
                );
                if let Some(height) = result["height"].as_u64() {
                    received.lock().unwrap().insert(height, result.clone());
                }
            }
        });
        Subscriber {
            blocks,
            stop,
            thread,
        }
    }

    /// Every block received, by height, once every block from the first received to
    /// `height` is.
    pub fn stop_at(self, height: u64) -> BTreeMap<u64, Value> {
        wait_until(
            &format!("the subscriber to receive every block up to {height}"),
            Duration::from_secs(30),
            || {
                let blocks = self.blocks.lock().unwrap();
                blocks.first_key_value().is_some_and(|(first, _)| {
                    blocks.range(first..=&height).count() as u64 == height + 1 - first
                })
            },
        );
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let blocks = self.blocks.lock().unwrap().clone();
        blocks
    }
}
