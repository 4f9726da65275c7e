//! End-to-end tests on real `synod` processes on 127.0.0.1, driven through the same
//! commands an operator uses (`synod testnet up|load|restart|down`) and the RPC.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[test]
fn ten_thousand_transactions_finalize_once_on_identical_chains() {
    let net = Net::up("agree", 4, 1);
    // 1,000 tx/s for 10 s, spread over the four validators and the full node.
    let report = net.load(1_000, 10);
    assert_eq!(report["rejected"], 0, "{report}");
    assert!(
        report["acknowledged"].as_u64().unwrap() >= 10_000,
        "{report}"
    );
    assert_eq!(report["acknowledged"], report["finalized"], "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
    let urls = net.urls();
    // Every node, the full node included, holds the same finalized headers.
    let top = height(&urls[0]);
    wait_until("the full node to catch up", Duration::from_secs(30), || {
        urls.iter().all(|u| height(u) >= top)
    });
    assert_identical_chains(&urls);
    assert_no_evidence(&urls);
}

#[test]
fn a_full_node_hands_over_what_it_acknowledged_until_it_is_final() {
    let net = Net::up("hand", 4, 1);
    let full = net.node("full-0")["rpc_url"].as_str().unwrap().to_string();
    let mut next = 0u32;
    let mut send = |count: u32| -> Vec<String> {
        (0..count)
            .map(|_| {
                next += 1;
                let data = format!("0x{next:08x}");
                let answer = rpc(
                    &full,
                    "synod_sendTransaction",
                    json!([{"namespace": 5, "data": data}]),
                );
                answer["result"]
                    .as_str()
                    .unwrap_or_else(|| panic!("not acknowledged: {answer}"))
                    .to_string()
            })
            .collect()
    };
    // Two validators down: the network stalls, and what the full node acknowledges now
    // sits in the other two validators' mempools only. Then those crash too.
    net.kill("validator-0");
    net.kill("validator-1");
    std::thread::sleep(Duration::from_secs(1));
    let mut hashes = send(50);
    std::thread::sleep(Duration::from_secs(2));
    net.kill("validator-2");
    net.kill("validator-3");
    std::thread::sleep(Duration::from_secs(1));
    // No validator at all: acknowledged, and held until one is back.
    hashes.extend(send(50));
    for i in 0..4 {
        net.restart(&format!("validator-{i}"), false);
    }
    let status = |hash: &String| {
        rpc(&full, "synod_getTransaction", json!([hash]))["result"]["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    wait_until(
        "every acknowledged transaction to be final",
        Duration::from_secs(90),
        || hashes.iter().all(|h| status(h) == "finalized"),
    );
    // A final transaction sent again is refused, by a full node and by a validator,
    // and nothing stays pending (it would be forwarded again every 10 s for good).
    let validator = net.node("validator-0")["rpc_url"]
        .as_str()
        .unwrap()
        .to_string();
    for url in [&full, &validator] {
        for n in 1..=5u32 {
            let answer = rpc(
                url,
                "synod_sendTransaction",
                json!([{"namespace": 5, "data": format!("0x{n:08x}")}]),
            );
            assert_eq!(answer["error"]["code"], -32001, "{answer}");
            let message = answer["error"]["message"].as_str().unwrap_or("");
            assert!(message.contains("already final"), "{answer}");
        }
    }
    wait_until(
        "nothing acknowledged by the full node to stay pending",
        Duration::from_secs(30),
        || common::status(&full).is_some_and(|s| s["acknowledged_pending"] == 0),
    );
}

#[test]
fn crashed_stopped_and_wiped_validators_recover_without_conflicts() {
    let net = Net::up("crash", 4, 0);
    let loader = net.load_in_background(300, 25);
    std::thread::sleep(Duration::from_secs(4));

    // kill -9 under load, then restart: it catches up.
    net.kill("validator-3");
    std::thread::sleep(Duration::from_secs(2));
    net.restart("validator-3", false);
    let urls = net.urls();
    let target = height(&urls[0]) + 5;
    wait_until(
        "the killed validator to catch up",
        Duration::from_secs(60),
        || height(&urls[3]) >= target,
    );

    // SIGTERM shuts down cleanly.
    let stopped = net.node("validator-2");
    let pid = stopped["pid"].as_u64().unwrap();
    assert!(Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    wait_until("SIGTERM to stop the node", Duration::from_secs(15), || {
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
    });
    let log = std::fs::read_to_string(stopped["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("shutting down"),
        "no clean shutdown in the log"
    );
    net.restart("validator-2", false);

    // A wiped validator resyncs from its peers: far behind, by height first.
    wait_until(
        "the chain to pass 128 blocks",
        Duration::from_secs(60),
        || height(&urls[0]) > 128,
    );
    net.restart("validator-1", true);
    let target = height(&urls[0]) + 5;
    wait_until(
        "the wiped validator to resync",
        Duration::from_secs(90),
        || height(&urls[1]) >= target,
    );
    let log = std::fs::read_to_string(net.node("validator-1")["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("consensus resumes from the block synced by height"),
        "the wiped validator did not sync by height"
    );

    assert_nothing_lost_or_conflicting(&loader.join().unwrap(), &urls);
}

/// Every validator killed at once, twenty times, at random points under load (no full
/// node holds a copy of anything): certified blocks whose batches were only in memory
/// used to stall finality for good. Each time finality resumes, and every acknowledged
/// transaction is finalized exactly once.
#[test]
fn every_validator_killed_at_once_twenty_times_under_load_loses_nothing() {
    const ROUNDS: u32 = 20;
    let net = Net::up("power", 4, 0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill schedule seed {seed}");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let loader = net.load_in_background(300, 150);
    let urls = net.urls();
    let names: Vec<String> = (0..4).map(|i| format!("validator-{i}")).collect();
    std::thread::sleep(Duration::from_secs(3));
    for round in 0..ROUNDS {
        std::thread::sleep(Duration::from_millis(rand::Rng::gen_range(
            &mut rng,
            200..2_500,
        )));
        let before = urls.iter().map(|u| height(u)).max().unwrap();
        // Frozen together, then killed: none of them gets to write anything more.
        let pids: Vec<String> = names
            .iter()
            .map(|n| net.node(n)["pid"].as_u64().unwrap().to_string())
            .collect();
        for signal in ["-STOP", "-KILL"] {
            assert!(Command::new("kill")
                .arg(signal)
                .args(&pids)
                .status()
                .unwrap()
                .success());
        }
        for name in &names {
            net.restart(name, false);
        }
        wait_until(
            &format!("finality to resume after round {round} (height {before}, seed {seed})"),
            Duration::from_secs(60),
            || urls.iter().all(|u| height(u) >= before + 2),
        );
    }
    assert_nothing_lost_or_conflicting(&loader.join().unwrap(), &urls);
}

/// After a load under faults: something was acknowledged, nothing acknowledged was lost
/// or finalized twice, every node holds the same chain, and nothing any node signed
/// conflicts with what it signed before a crash.
fn assert_nothing_lost_or_conflicting(report: &Value, urls: &[String]) {
    assert!(report["acknowledged"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(
        report["lost"], 0,
        "acknowledged transactions lost: {report}"
    );
    assert_eq!(report["duplicates"], 0, "{report}");
    assert_identical_chains(urls);
    assert_no_evidence(urls);
}

/// Block data rebuilt from the validators' shards alone, on a full node: byte for byte
/// the batches the store holds, while any third of the stake answers; with a quarter of
/// the stake left, a clear error that says how much answered.
#[test]
fn a_full_node_rebuilds_block_data_from_a_third_of_the_stake_and_no_less() {
    let net = Net::up("da", 4, 1);
    let report = net.load(200, 5);
    assert_eq!(report["lost"], 0, "{report}");
    let urls = net.urls();
    let full = &urls[4];
    let top = height(full);
    let with_batches: Vec<u64> = (1..=top)
        .filter(|h| {
            rpc(full, "synod_getBlock", json!([h]))["result"]["batches"]
                .as_array()
                .is_some_and(|b| !b.is_empty())
        })
        .collect();
    assert!(
        with_batches.len() >= 3,
        "blocks with batches: {with_batches:?}"
    );
    let rebuilt_matches = |h: u64| {
        let stored = rpc(full, "synod_getBlockData", json!([h]))["result"].clone();
        let rebuilt = rpc(
            full,
            "synod_getBlockData",
            json!([h, {"from_shards": true}]),
        )["result"]
            .clone();
        assert_eq!(stored["source"], "store");
        assert_eq!(rebuilt["source"], "shards", "{rebuilt}");
        assert_eq!(rebuilt["batches"], stored["batches"], "height {h}");
        assert_eq!(rebuilt["da_commitment"], stored["da_commitment"]);
    };
    for h in &with_batches {
        rebuilt_matches(*h);
    }
    // Three of four equal validators left, then two (half the stake): still rebuilt.
    net.kill("validator-3");
    rebuilt_matches(with_batches[0]);
    net.kill("validator-2");
    rebuilt_matches(with_batches[1]);
    // One of four: a quarter of the stake is not enough.
    net.kill("validator-1");
    assert_rebuild_refused(full, with_batches[2], "25.0%");
}

/// Rebuilding `height`'s data from shards fails with `-32004`, naming the `share` of the
/// stake whose shards came and the third that is needed.
fn assert_rebuild_refused(url: &str, height: u64, share: &str) {
    let answer = rpc(
        url,
        "synod_getBlockData",
        json!([height, {"from_shards": true}]),
    );
    assert_eq!(answer["error"]["code"], -32004, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{share} of the stake")) && message.contains("a third"),
        "{message}"
    );
}

/// The data-availability property on real processes (`docs/protocol.md` §12). Seven
/// validators of unequal stake keep no full batches past their commit
/// (`da.retention-blocks 0`, on every node of this network), only their shards, and run
/// a load while a subscriber records every finalized block. The three largest, 65% of
/// the stake, are stopped: the chain halts. A fresh full node then syncs the whole chain
/// from the four left, rebuilding each block's batches from their shards (35% of the
/// stake holds enough), and serves every block and every transaction as the subscriber
/// received them. With a quarter of the stake left, rebuilding fails with the share that
/// answered.
#[test]
fn a_fresh_full_node_rebuilds_the_chain_from_the_shards_of_a_third_of_the_stake() {
    let net = Net::up_with(
        "rebuild",
        7,
        0,
        &[
            "--stakes",
            "300,200,150,100,100,80,70",
            "--node-arg=--da.retention-blocks=0",
        ],
    );
    let urls = net.urls();
    let subscriber = Subscriber::start(&urls[6]);
    let report = net.load(200, 6);
    assert_eq!(report["lost"], 0, "{report}");
    for name in ["validator-0", "validator-1", "validator-2"] {
        net.kill(name);
    }
    // 35% of the stake finalizes nothing: the chain stops where the survivors see it.
    let mut top = height(&urls[6]);
    wait_until("the chain to halt", Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_secs(2));
        let now = urls[3..].iter().map(|u| height(u)).max().unwrap();
        std::mem::replace(&mut top, now) == now
    });
    // The subscriber's node may have finalized less than another survivor.
    let top = height(&urls[6]);
    let streamed = subscriber.stop_at(top);
    // Every block from before the load on: the blocks of `up` came before the subscription.
    let first = *streamed.keys().next().unwrap();
    let with_txs: Vec<u64> = (first..=top)
        .filter(|h| streamed[h]["txs"].as_array().is_some_and(|t| !t.is_empty()))
        .collect();
    assert!(
        with_txs.len() >= 3,
        "blocks with transactions: {with_txs:?}"
    );
    // The survivors hold no batch of any block: only shards, and they say so.
    let kept = rpc(&urls[3], "synod_getBlockData", json!([with_txs[0]]));
    assert_eq!(kept["result"]["source"], "shards", "{kept}");
    let survivor = status(&urls[3]).unwrap();
    assert_eq!(
        survivor["full_data_from"].as_u64(),
        survivor["finalized_height"].as_u64().map(|h| h + 1),
        "{survivor}"
    );

    ok(&[
        "testnet",
        "join",
        "--dir",
        net.dir.to_str().unwrap(),
        "--full",
    ]);
    let full = net.node("full-0")["rpc_url"].as_str().unwrap().to_string();
    wait_until(
        &format!("the full node to sync to height {top}"),
        Duration::from_secs(180),
        || height(&full) >= top,
    );
    // No node holds a full copy of any batch: the full node's commits rebuilt them all.
    let rebuilt = metric(&full, "synod_da_rebuilds_total");
    assert!(
        rebuilt >= with_txs.len() as f64,
        "{rebuilt} rebuilds for {} blocks with transactions",
        with_txs.len()
    );
    for h in first..=top {
        let mut block = streamed[&h].clone();
        let txs = block.as_object_mut().unwrap().remove("txs").unwrap();
        let mut synced = rpc(&full, "synod_getBlock", json!([h]))["result"].clone();
        // Each node puts a certificate on the last block of each of its own commits.
        for b in [&mut block, &mut synced] {
            b.as_object_mut().unwrap().remove("finality_certificate");
        }
        assert_eq!(synced, block, "height {h}");
        let data = rpc(&full, "synod_getBlockData", json!([h]))["result"].clone();
        if block["batches"].as_array().unwrap().is_empty() {
            assert!(data["batches"].as_array().unwrap().is_empty(), "height {h}");
            continue;
        }
        assert_eq!(data["source"], "shards", "height {h}: {data}");
        let batches = data["batches"].as_array().unwrap();
        let held: usize = batches
            .iter()
            .map(|b| b["txs"].as_array().unwrap().len())
            .sum();
        let txs = txs.as_array().unwrap();
        assert_eq!(held, txs.len(), "height {h}");
        for tx in txs {
            let (b, p) = (
                tx["batch"].as_u64().unwrap(),
                tx["position"].as_u64().unwrap(),
            );
            let stored = &batches[b as usize]["txs"][p as usize];
            for field in ["hash", "namespace", "data"] {
                assert_eq!(
                    stored[field], tx[field],
                    "height {h}, batch {b}, position {p}"
                );
            }
        }
    }
    // One more stopped: 25% of the stake is not enough.
    net.kill("validator-3");
    assert_rebuild_refused(&full, with_txs[0], "25.0%");
}

#[test]
fn bad_rpc_input_gets_clear_errors_and_the_node_keeps_running() {
    // Without an L1: nothing is attested.
    let net = Net::up_with("input", 1, 0, &["--l1", "none"]);
    let url = &net.urls()[0];
    let post = |body: &str| -> (u16, Value) {
        let mut r = agent()
            .post(url.as_str())
            .header("content-type", "application/json")
            .send(body)
            .unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_json().unwrap_or(Value::Null),
        )
    };
    let (_, v) = post("{not json");
    assert_eq!(v["error"]["code"], -32700);
    let (_, v) = post(r#"{"jsonrpc":"2.0","id":1,"method":"synod_nope","params":[]}"#);
    assert_eq!(v["error"]["code"], -32601);
    let (_, v) = post(
        r#"{"jsonrpc":"2.0","id":1,"method":"synod_sendTransaction","params":[{"namespace":1,"data":"0xzz"}]}"#,
    );
    assert_eq!(v["error"]["code"], -32602);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("not hex"),
        "{v}"
    );
    let huge = format!("0x{}", "ab".repeat(200 * 1024));
    let (_, v) = post(&json!({"jsonrpc":"2.0","id":1,"method":"synod_sendTransaction","params":[{"namespace":1,"data":huge}]}).to_string());
    assert_eq!(v["error"]["code"], -32001, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeds the limit"),
        "{v}"
    );
    // Oversized: refused with 413 after the limit, whatever the client still sends.
    let raw = raw_post(url, &"x".repeat(2 << 20));
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("-32007"), "{raw}");
    let (_, v) = post(r#"{"jsonrpc":"2.0","id":1,"method":"synod_getBlock","params":[{"no":1}]}"#);
    assert_eq!(v["error"]["code"], -32602);
    // Garbage on the p2p port: the handshake fails, the node goes on.
    let p2p_port: u16 = net.node("validator-0")["p2p"]
        .as_str()
        .unwrap()
        .split('/')
        .nth(4)
        .unwrap()
        .parse()
        .unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", p2p_port)).unwrap();
    std::io::Write::write_all(&mut s, &[0xffu8; 4096]).unwrap();
    drop(s);
    // Still serving, still finalizing.
    let h = height(url);
    wait_until("finality after bad input", Duration::from_secs(20), || {
        height(url) > h + 3
    });
    let (_, v) = post(
        r#"{"jsonrpc":"2.0","id":1,"method":"synod_sendTransaction","params":[{"namespace":1,"data":"0x01"}]}"#,
    );
    assert!(v["result"].as_str().is_some_and(|h| h.len() == 66), "{v}");
    assert_eq!(
        rpc(url, "synod_getTips", json!([]))["result"]["attested"],
        Value::Null
    );
}

#[test]
fn one_flag_or_variable_shows_in_the_dumped_config() {
    let flag = ok(&["start", "--dump-config", "--mempool.max-txs", "77"]);
    assert!(flag.contains("max_txs = 77"), "{flag}");
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["start", "--dump-config"])
        .env("SYNOD_BATCH_INTERVAL_MS", "7")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("interval_ms = 7"), "{text}");
    let bad = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["start", "--dump-config"])
        .env("SYNOD_MEMPOOL_MAX_TXS_TYPO", "1")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SYNOD_MEMPOOL_MAX_TXS_TYPO"));
}
