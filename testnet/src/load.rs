//! `synod testnet load`: submits transactions to every node over JSON-RPC and follows
//! the finalized stream over WebSocket, to measure what was acknowledged, finalized and
//! lost, and the latency from submission to finality.
//!
//! Nodes may die and come back during a run (chaos and crash tests): the stream is
//! followed on whichever node answers, reconnecting when it drops, and at the end every
//! acknowledged transaction the stream did not show is looked up with
//! `synod_getTransaction`, so one missed during a reconnection counts as finalized
//! (without a latency), not lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::RngCore;
use serde::Serialize;
use serde_json::{json, Value};

use crate::manifest::Manifest;

/// Transactions per `synod_sendTransactions` call, at most.
const CHUNK: usize = 1_000;
/// Calls in one lookup batch (a node answers at most 100 calls a batch).
const LOOKUP_BATCH: usize = 100;
/// Times a lookup refused by a node's rate limit is tried again.
const LOOKUP_ATTEMPTS: usize = 100;
/// JSON-RPC code of a call refused by a node's rate limit.
const RATE_LIMITED: i64 = -32005;
/// How long after the last submission finality is waited for.
const DRAIN: Duration = Duration::from_secs(30);

/// What a load run offers.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Transactions per second, per step.
    pub steps: Vec<(f64, Duration)>,
    /// Payload size in bytes.
    pub size: usize,
}

/// One second of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Second {
    /// Seconds since the start.
    pub t: u64,
    /// Offered rate in this second.
    pub offered_tps: f64,
    /// Transactions acknowledged in this second.
    pub acknowledged: u64,
    /// Transactions finalized in this second.
    pub finalized: u64,
    /// Median latency of the transactions finalized in this second, ms.
    pub p50_ms: f64,
    /// 99th percentile latency of the transactions finalized in this second, ms.
    pub p99_ms: f64,
}

/// The outcome of a load run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Submitted.
    pub submitted: u64,
    /// Acknowledged with a hash.
    pub acknowledged: u64,
    /// Refused by a node (mempool full, …).
    pub rejected: u64,
    /// Acknowledged and seen finalized.
    pub finalized: u64,
    /// Of `finalized`, those found with `synod_getTransaction` rather than on the stream
    /// (finalized while the stream was reconnecting; no latency for them).
    pub finalized_unstreamed: u64,
    /// Acknowledged and never seen finalized.
    pub lost: u64,
    /// Seen finalized in more than one block.
    pub duplicates: u64,
    /// Latency percentiles, submission to finality, ms.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Finalized transactions per second over the submission window.
    pub finalized_tps: f64,
    /// Per-second series.
    pub seconds: Vec<Second>,
}

struct Shared {
    submitted: Mutex<HashMap<[u8; 32], Instant>>,
    finalized: Mutex<Vec<([u8; 32], Instant)>>,
    /// Acknowledged, missed by the stream, found finalized by lookup.
    looked_up: Mutex<std::collections::HashSet<[u8; 32]>>,
    /// Heights whose block was read from a stream: after a reconnection to another
    /// node, a block already read from the last one is not counted again.
    heights: Mutex<std::collections::HashSet<u64>>,
    rejected: Mutex<Vec<String>>,
    ack_times: Mutex<Vec<Instant>>,
    stop: AtomicBool,
}

fn parse_hash(s: &str) -> Option<[u8; 32]> {
    let s = s.strip_prefix("0x")?;
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Follows `synod_subscribeFinalized` until told to stop, on the first of `ws_urls`
/// that answers, moving to the next whenever the connection drops. `ready` hears once:
/// the first subscription, or why none started within 10 s.
fn follow(ws_urls: Vec<String>, shared: Arc<Shared>, ready: mpsc::Sender<Result<()>>) {
    let began = Instant::now();
    let mut subscribed = false;
    let mut attempt = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        let url = &ws_urls[attempt % ws_urls.len()];
        attempt += 1;
        match follow_one(url, &shared, &mut || {
            if !subscribed {
                subscribed = true;
                let _ = ready.send(Ok(()));
            }
        }) {
            Ok(()) => return,
            Err(e) if !subscribed && began.elapsed() > Duration::from_secs(10) => {
                let _ = ready.send(Err(e));
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// Follows the stream on one node until stopped (`Ok`) or the connection fails.
fn follow_one(ws_url: &str, shared: &Shared, subscribed: &mut dyn FnMut()) -> Result<()> {
    {
        let (mut socket, _) = tungstenite::connect(ws_url)
            .with_context(|| format!("cannot open a WebSocket to {ws_url}"))?;
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": "synod_subscribeFinalized", "params": [{"hashes_only": true}]});
        socket.send(tungstenite::Message::text(request.to_string()))?;
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(200)))?;
        }
        subscribed();
        while !shared.stop.load(Ordering::Relaxed) {
            let message = match socket.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e.into()),
            };
            let now = Instant::now();
            let tungstenite::Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(&text)?;
            let Some(txs) = value
                .pointer("/params/result/txs")
                .and_then(Value::as_array)
            else {
                continue;
            };
            if let Some(height) = value
                .pointer("/params/result/height")
                .and_then(Value::as_u64)
            {
                if !shared
                    .heights
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(height)
                {
                    continue;
                }
            }
            let mut finalized = shared.finalized.lock().unwrap_or_else(|p| p.into_inner());
            for tx in txs {
                if let Some(h) = tx.get("hash").and_then(Value::as_str).and_then(parse_hash) {
                    finalized.push((h, now));
                }
            }
        }
        Ok(())
    }
}

/// Looks up, on the nodes of `rpc_urls` in turn, the acknowledged transactions the
/// stream has not shown; those finalized are recorded as such.
fn look_up_unseen(rpc_urls: &[String], shared: &Shared) {
    let seen: std::collections::HashSet<[u8; 32]> = shared
        .finalized
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(h, _)| *h)
        .collect();
    let unseen: Vec<[u8; 32]> = {
        let looked_up = shared.looked_up.lock().unwrap_or_else(|p| p.into_inner());
        shared
            .submitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|h| !seen.contains(*h) && !looked_up.contains(*h))
            .copied()
            .collect()
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    for (i, chunk) in unseen.chunks(LOOKUP_BATCH).enumerate() {
        // Calls the node's rate limit refused are asked again, a little later.
        let mut left: Vec<&[u8; 32]> = chunk.iter().collect();
        for attempt in 0..LOOKUP_ATTEMPTS {
            if left.is_empty() {
                break;
            }
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100));
            }
            let calls: Vec<Value> = left
                .iter()
                .enumerate()
                .map(|(id, h)| {
                    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
                    json!({"jsonrpc": "2.0", "id": id, "method": "synod_getTransaction", "params": [format!("0x{hex}")]})
                })
                .collect();
            let answers = rpc_urls
                .iter()
                .cycle()
                .skip(i + attempt)
                .take(rpc_urls.len())
                .find_map(|url| {
                    agent
                        .post(url)
                        .send_json(Value::Array(calls.clone()))
                        .and_then(|mut r| {
                            r.body_mut()
                                .with_config()
                                .limit(64 << 20)
                                .read_json::<Value>()
                        })
                        .ok()
                });
            let Some(Value::Array(answers)) = answers else {
                continue;
            };
            let mut limited = Vec::new();
            let mut looked_up = shared.looked_up.lock().unwrap_or_else(|p| p.into_inner());
            for a in answers {
                let Some(h) = a
                    .get("id")
                    .and_then(Value::as_u64)
                    .and_then(|i| left.get(i as usize))
                else {
                    continue;
                };
                if a.pointer("/error/code").and_then(Value::as_i64) == Some(RATE_LIMITED) {
                    limited.push(*h);
                } else if a.pointer("/result/status").and_then(Value::as_str) == Some("finalized") {
                    looked_up.insert(**h);
                }
            }
            left = limited;
        }
    }
}

/// Sends `rate` tx/s (split across senders) to one node while the plan runs.
fn send(rpc_url: String, plan: Plan, share: f64, start: Instant, shared: Arc<Shared>, seed: u64) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut rng = rand::thread_rng();
    let mut counter = seed << 40;
    let tick = Duration::from_millis(10);
    let mut step_start = start;
    for (rate, length) in plan.steps {
        // Exactly rate × length over the step (this sender's share), paced evenly.
        let total = (rate * share * length.as_secs_f64()).round() as u64;
        let mut sent = 0u64;
        let step_end = step_start + length;
        while sent < total && !shared.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let due = if now >= step_end {
                total
            } else {
                ((total as f64) * now.duration_since(step_start).as_secs_f64()
                    / length.as_secs_f64()) as u64
            };
            let n = (due.saturating_sub(sent) as usize).min(CHUNK * 4);
            if n == 0 {
                std::thread::sleep(tick);
                continue;
            }
            sent += n as u64;
            for chunk_start in (0..n).step_by(CHUNK) {
                let k = CHUNK.min(n - chunk_start);
                let txs: Vec<Value> = (0..k)
                    .map(|_| {
                        counter += 1;
                        let mut payload = vec![0u8; plan.size.max(8)];
                        rng.fill_bytes(&mut payload);
                        payload[..8].copy_from_slice(&counter.to_be_bytes());
                        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
                        json!({"namespace": counter % 4, "data": format!("0x{hex}")})
                    })
                    .collect();
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "synod_sendTransactions", "params": [txs]});
                let sent = Instant::now();
                let answer: Result<Value, _> = agent
                    .post(&rpc_url)
                    .send_json(&body)
                    .and_then(|mut r| r.body_mut().with_config().limit(64 << 20).read_json());
                let mut acked = Vec::new();
                let mut refused = Vec::new();
                match answer {
                    Ok(v) => match v.get("result").and_then(Value::as_array) {
                        Some(results) => {
                            for r in results {
                                match r.get("hash").and_then(Value::as_str).and_then(parse_hash) {
                                    Some(h) => acked.push(h),
                                    None => refused
                                        .push(r.get("error").map_or("?".into(), |e| e.to_string())),
                                }
                            }
                        }
                        None => refused.extend(std::iter::repeat_n(
                            v.get("error").map_or("?".into(), |e| e.to_string()),
                            k,
                        )),
                    },
                    Err(e) => refused.extend(std::iter::repeat_n(e.to_string(), k)),
                }
                let mut submitted = shared.submitted.lock().unwrap_or_else(|p| p.into_inner());
                for h in &acked {
                    submitted.insert(*h, sent);
                }
                drop(submitted);
                shared
                    .ack_times
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(std::iter::repeat_n(sent, acked.len()));
                if !refused.is_empty() {
                    let mut r = shared.rejected.lock().unwrap_or_else(|p| p.into_inner());
                    if r.len() < 1_000_000 {
                        r.extend(refused);
                    }
                }
            }
        }
        step_start = step_end;
    }
}

/// Runs a plan against the network of `manifest`.
pub fn run(manifest: &Manifest, plan: &Plan) -> Result<Report> {
    if manifest.nodes.is_empty() {
        bail!("the testnet has no nodes");
    }
    let shared = Arc::new(Shared {
        submitted: Mutex::new(HashMap::new()),
        finalized: Mutex::new(Vec::new()),
        looked_up: Mutex::new(std::collections::HashSet::new()),
        heights: Mutex::new(std::collections::HashSet::new()),
        rejected: Mutex::new(Vec::new()),
        ack_times: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    let rpc_urls: Vec<String> = manifest.nodes.iter().map(|n| n.rpc_url.clone()).collect();
    let ws_urls = rpc_urls
        .iter()
        .map(|u| u.replacen("http://", "ws://", 1))
        .collect();
    let (ready_tx, ready) = mpsc::channel();
    let follower = {
        let shared = shared.clone();
        std::thread::spawn(move || follow(ws_urls, shared, ready_tx))
    };
    ready
        .recv_timeout(Duration::from_secs(15))
        .context("the finalized subscription did not start")??;
    let start = Instant::now();
    let targets = manifest.nodes.len();
    let senders: Vec<_> = manifest
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (url, plan, shared) = (n.rpc_url.clone(), plan.clone(), shared.clone());
            std::thread::spawn(move || {
                send(url, plan, 1.0 / targets as f64, start, shared, i as u64 + 1)
            })
        })
        .collect();
    for s in senders {
        let _ = s.join();
    }
    let sent_until = Instant::now();
    // Wait for the acknowledged transactions to finalize, or for progress to stop.
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    let mut last_lookup = Instant::now();
    loop {
        let finalized = shared
            .finalized
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
            + shared
                .looked_up
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len();
        let acked = shared
            .submitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        if finalized >= acked {
            break;
        }
        if finalized != last_count {
            last_count = finalized;
            last_progress = Instant::now();
        }
        if last_progress.elapsed() > DRAIN {
            break;
        }
        // What the stream missed while it reconnected never shows on it.
        if last_progress.elapsed() > Duration::from_secs(3)
            && last_lookup.elapsed() > Duration::from_secs(3)
        {
            look_up_unseen(&rpc_urls, &shared);
            last_lookup = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    shared.stop.store(true, Ordering::Relaxed);
    let _ = follower.join();
    look_up_unseen(&rpc_urls, &shared);
    Ok(report(&shared, plan, start, sent_until))
}

fn report(shared: &Shared, plan: &Plan, start: Instant, sent_until: Instant) -> Report {
    let submitted = shared.submitted.lock().unwrap_or_else(|p| p.into_inner());
    let finalized = shared.finalized.lock().unwrap_or_else(|p| p.into_inner());
    let rejected = shared
        .rejected
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .len() as u64;
    let mut seen: HashMap<[u8; 32], u32> = HashMap::with_capacity(finalized.len());
    let mut latencies = Vec::with_capacity(finalized.len());
    let secs = (sent_until.duration_since(start).as_secs() + DRAIN.as_secs() + 1) as usize;
    let mut per_second: Vec<(u64, u64, Vec<f64>)> = vec![(0, 0, Vec::new()); secs + 1];
    for (hash, at) in finalized.iter() {
        let count = seen.entry(*hash).or_default();
        *count += 1;
        if *count > 1 {
            continue;
        }
        if let Some(sent) = submitted.get(hash) {
            let ms = at.duration_since(*sent).as_secs_f64() * 1e3;
            latencies.push(ms);
            let s = (at.duration_since(start).as_secs() as usize).min(secs);
            per_second[s].1 += 1;
            per_second[s].2.push(ms);
        }
    }
    for at in shared
        .ack_times
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        let s = (at.duration_since(start).as_secs() as usize).min(secs);
        per_second[s].0 += 1;
    }
    let looked_up = shared.looked_up.lock().unwrap_or_else(|p| p.into_inner());
    let unstreamed = submitted
        .keys()
        .filter(|h| !seen.contains_key(*h) && looked_up.contains(*h))
        .count() as u64;
    let finalized_count =
        submitted.keys().filter(|h| seen.contains_key(*h)).count() as u64 + unstreamed;
    let duplicates = seen.values().filter(|c| **c > 1).count() as u64;
    latencies.sort_by(f64::total_cmp);
    let last_final = finalized
        .iter()
        .map(|(_, t)| *t)
        .max()
        .unwrap_or(sent_until);
    let window = last_final.duration_since(start).as_secs_f64().max(1e-3);
    let mut offered_at = Vec::new();
    for (rate, length) in &plan.steps {
        for _ in 0..length.as_secs() {
            offered_at.push(*rate);
        }
    }
    let last_busy = per_second
        .iter()
        .rposition(|s| s.0 > 0 || s.1 > 0)
        .unwrap_or(0);
    let seconds = per_second
        .into_iter()
        .take(last_busy + 1)
        .enumerate()
        .map(|(t, (acked, fin, mut lat))| {
            lat.sort_by(f64::total_cmp);
            Second {
                t: t as u64,
                offered_tps: offered_at.get(t).copied().unwrap_or(0.0),
                acknowledged: acked,
                finalized: fin,
                p50_ms: percentile(&lat, 0.5),
                p99_ms: percentile(&lat, 0.99),
            }
        })
        .collect();
    Report {
        submitted: submitted.len() as u64 + rejected,
        acknowledged: submitted.len() as u64,
        rejected,
        finalized: finalized_count,
        finalized_unstreamed: unstreamed,
        lost: submitted.len() as u64 - finalized_count,
        duplicates,
        p50_ms: percentile(&latencies, 0.5),
        p90_ms: percentile(&latencies, 0.9),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        finalized_tps: finalized_count as f64 / window,
        seconds,
    }
}

impl Report {
    /// A human summary.
    pub fn summary(&self) -> String {
        format!(
            "submitted {}  acknowledged {}  rejected {}  finalized {}  lost {}  duplicates {}\nlatency submission→finality: p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  max {:.0} ms\nfinalized {:.0} tx/s",
            self.submitted, self.acknowledged, self.rejected, self.finalized, self.lost, self.duplicates,
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms, self.finalized_tps
        )
    }
}
