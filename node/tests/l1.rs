//! End-to-end tests of the L1 side on real processes: `synod testnet up` starts anvil,
//! deploys the contracts and stakes every validator with `synod stake register`; the
//! validators attest finality to the bridge and report equivocations for slashing.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// The L1 section of the manifest.
fn l1(net: &Net) -> Value {
    net.manifest()["l1"].clone()
}

/// A 32-byte word the bridge returns for a no-argument getter.
fn bridge_word(net: &Net, getter: &str) -> String {
    let l1 = l1(net);
    let selector = &synod_types::keccak256(getter.as_bytes()).0[..4];
    let answer = rpc(
        l1["rpc_url"].as_str().unwrap(),
        "eth_call",
        json!([{"to": l1["bridge"], "data": format!("0x{}", hex::encode(selector))}, "latest"]),
    );
    answer["result"]
        .as_str()
        .unwrap_or_else(|| panic!("{getter}: {answer}"))
        .to_string()
}

/// What the bridge holds: the attested height, read from the contract itself.
fn bridge_height(net: &Net) -> u64 {
    u64::from_str_radix(
        bridge_word(net, "attestedHeight()").trim_start_matches("0x"),
        16,
    )
    .unwrap()
}

/// The bridge's attested block is the block the nodes finalized at that height.
fn assert_bridge_holds_the_finalized_block(net: &Net) {
    // Read together: the bridge moves on while this node catches up.
    let (height, hash) = loop {
        let (height, hash) = (bridge_height(net), bridge_word(net, "attestedHash()"));
        if bridge_height(net) == height {
            break (height, hash);
        }
    };
    assert!(height > 0);
    let url = &net.urls()[0];
    // Attested from another validator's commit, the height may be ahead of this node's.
    wait_until(
        &format!("validator-0 to finalize the attested height {height}"),
        Duration::from_secs(30),
        || common::height(url) >= height,
    );
    let block = rpc(url, "synod_getBlock", json!([height]));
    assert_eq!(
        hash,
        block["result"]["hash"].as_str().unwrap(),
        "the bridge attests another block at height {height}"
    );
}

/// `synod stake …` against the testnet's L1 with an account's key.
fn stake(net: &Net, key: &str, args: &[&str]) -> String {
    let l1 = l1(net);
    let mut all: Vec<&str> = vec!["stake"];
    all.extend(args);
    all.extend([
        "--l1.rpc",
        l1["rpc_url"].as_str().unwrap(),
        "--l1.stake-table",
        l1["stake_table"].as_str().unwrap(),
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(&all)
        .env("SYNOD_L1_PRIVATE_KEY", key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "synod {}: {}",
        all.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The anvil dev account validator `i` staked from: (address, private key).
fn validator_account(net: &Net, i: usize) -> (String, String) {
    let accounts: Value = serde_json::from_str(
        &std::fs::read_to_string(net.dir.join("l1").join("accounts.json")).unwrap(),
    )
    .unwrap();
    (
        accounts["available_accounts"][i + 1]
            .as_str()
            .unwrap()
            .to_string(),
        accounts["private_keys"][i + 1]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// The StakeTable's latest epoch.
fn l1_epoch(net: &Net) -> u64 {
    let deployer = l1(net)["deployer_key"].as_str().unwrap().to_string();
    let record: Value =
        serde_json::from_str(&stake(net, &deployer, &["status", "--json"])).unwrap();
    record["epoch"].as_u64().unwrap()
}

/// Mines L1 up to the next epoch's snapshot block; the validators take the snapshot
/// themselves (`l1.advance-epochs`). The new epoch.
fn advance_epoch(net: &Net) -> u64 {
    let next = l1_epoch(net) + 1;
    let epoch_blocks = l1(net)["epoch_blocks"].as_u64().unwrap();
    rpc(
        l1(net)["rpc_url"].as_str().unwrap(),
        "anvil_mine",
        json!([format!("0x{epoch_blocks:x}")]),
    );
    wait_until(
        "a validator to snapshot the next epoch",
        Duration::from_secs(40),
        || l1_epoch(net) >= next,
    );
    assert_eq!(l1_epoch(net), next, "more than one epoch was snapshot");
    next
}

/// Waits until every node of `urls` has read `epoch`'s snapshot from L1 (once confirmed).
fn wait_for_l1_epoch(urls: &[String], epoch: u64) {
    wait_until(
        "the new epoch read from L1",
        Duration::from_secs(40),
        || {
            urls.iter()
                .all(|u| common::status(u).is_some_and(|s| s["l1_epoch"].as_u64() == Some(epoch)))
        },
    );
}

/// Waits until every node of `urls` has handed over to `epoch`'s committee.
fn wait_for_hand_over(urls: &[String], epoch: u64) {
    wait_until("the hand-over", Duration::from_secs(30), || {
        urls.iter()
            .all(|u| common::status(u).is_some_and(|s| s["epoch"].as_u64() == Some(epoch)))
    });
}

/// Waits until the node at `url` runs `epoch` and is not in its committee.
fn wait_out_of_committee(url: &str, epoch: u64) {
    wait_until(
        "a node to leave the committee",
        Duration::from_secs(30),
        || {
            common::status(url).is_some_and(|s| {
                s["epoch"].as_u64() == Some(epoch) && s["validator_index"].is_null()
            })
        },
    );
}

/// The public keys of a node's current committee, which must be `epoch`'s.
fn committee_keys(url: &str, epoch: u64) -> Vec<String> {
    let committee = &rpc(url, "synod_getCommittee", json!([]))["result"];
    assert_eq!(
        committee["epoch"].as_u64(),
        Some(epoch),
        "{url}: {committee}"
    );
    committee["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["public_key"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the bridge holds a block of `epoch`, verified against its committee.
fn wait_for_attested_epoch(net: &Net, epoch: u64) {
    wait_until(
        "an attestation of the new epoch",
        Duration::from_secs(30),
        || {
            u64::from_str_radix(
                bridge_word(net, "attestedEpoch()").trim_start_matches("0x"),
                16,
            )
            .is_ok_and(|e| e == epoch)
        },
    );
}

#[test]
fn attestations_keep_up_with_finality_and_survive_restarts() {
    let net = Net::up("l1keep", 4, 0);
    let urls = net.urls();
    let attested = |url: &str| rpc(url, "synod_getTips", json!([]))["result"]["attested"].as_u64();
    wait_until("a first attestation", Duration::from_secs(30), || {
        attested(&urls[0]).is_some_and(|h| h > 0)
    });

    // Lag from finality to the L1 block holding it, measured the way the bench does.
    let report = net.dir.join("lag.json");
    let _ = synod(&[
        "testnet",
        "lag",
        "--dir",
        net.dir.to_str().unwrap(),
        "--duration",
        "10",
        "--json",
        report.to_str().unwrap(),
    ]);
    let lag: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(lag["heights"].as_u64().unwrap() > 50, "{lag}");
    assert!(lag["lag_blocks"]["p50"].as_u64().unwrap() <= 2, "{lag}");
    assert!(lag["lag_blocks"]["max"].as_u64().unwrap() <= 4, "{lag}");
    assert_bridge_holds_the_finalized_block(&net);
    // Duty rotates: more than one validator has posted.
    let posters = urls
        .iter()
        .filter(|u| metric(u, "synod_l1_attestations_posted_total") > 0.0)
        .count();
    assert!(posters > 1, "{posters} validator(s) posted");

    // anvil restarts (SIGTERM writes its chain): the bridge keeps what it held, and the
    // validators attest the blocks finalized meanwhile.
    let before = bridge_height(&net);
    net.restart("l1", false);
    let finalized = height(&urls[0]);
    wait_until(
        "attestations after the L1 restart",
        Duration::from_secs(30),
        || bridge_height(&net) >= finalized,
    );
    assert!(bridge_height(&net) >= before);

    // The validator that posted last is killed and restarted: the others cover its
    // turns, and it posts again once back.
    // Zero while the node is down or starting.
    let posted =
        |url: &str| status(url).map_or(0.0, |_| metric(url, "synod_l1_attestations_posted_total"));
    net.kill("validator-1");
    let finalized = height(&urls[0]);
    wait_until(
        "attestations without validator-1",
        Duration::from_secs(30),
        || bridge_height(&net) >= finalized,
    );
    net.restart("validator-1", false);
    wait_until("validator-1 to post again", Duration::from_secs(60), || {
        posted(&urls[1]) > 0.0
    });
    let finalized = height(&urls[0]);
    wait_until(
        "the bridge to follow finality",
        Duration::from_secs(30),
        || bridge_height(&net) >= finalized,
    );
    assert_bridge_holds_the_finalized_block(&net);
    assert_no_evidence(&urls);
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs the equivocating leader of the `testing` feature (make test enables it)"
)]
fn an_equivocating_validator_is_slashed_on_l1_and_leaves_the_next_committee() {
    let net = Net::up("slash", 4, 0);
    let urls = net.urls();
    let index3 = common::status(&urls[3]).unwrap()["validator_index"].clone();
    let key3 = committee_keys(&urls[3], 1)[index3.as_u64().unwrap() as usize].clone();
    let (account, _) = validator_account(&net, 3);
    let status = |net: &Net| -> Value {
        let deployer = l1(net)["deployer_key"].as_str().unwrap().to_string();
        serde_json::from_str(&stake(
            net,
            &deployer,
            &["status", "--account", &account, "--json"],
        ))
        .unwrap()
    };
    assert_eq!(status(&net)["status"], "VALIDATING");
    assert_eq!(status(&net)["in_committee"], true);

    // validator-3 comes back with the test switch: as leader it also signs a conflicting
    // proposal and sends it to the others.
    let mut manifest = net.manifest();
    let node = manifest["nodes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|n| n["name"] == "validator-3")
        .unwrap();
    node["args"]
        .as_array_mut()
        .unwrap()
        .push("--testing.equivocate".into());
    std::fs::write(
        net.dir.join("testnet.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    net.restart("validator-3", false);

    wait_until(
        "the honest validators to see evidence",
        Duration::from_secs(60),
        || {
            urls[..3]
                .iter()
                .any(|u| metric(u, "synod_consensus_evidence_total") > 0.0)
        },
    );
    wait_until("the slash to land on L1", Duration::from_secs(60), || {
        status(&net)["status"] == "ZOMBIE"
    });
    // The submitter counts it once its receipt is in.
    wait_until(
        "an honest validator to count its submission",
        Duration::from_secs(10),
        || {
            urls[..3]
                .iter()
                .any(|u| metric(u, "synod_l1_slashings_submitted_total") > 0.0)
        },
    );
    // Half the stake went with the first slash (later offenses may take more).
    let slashed = status(&net);
    assert!(
        slashed["stake_gwei"].as_u64().unwrap() <= 16_000_000_000,
        "{slashed}"
    );

    // The next snapshot leaves it out.
    let epoch = advance_epoch(&net);
    assert_eq!(status(&net)["in_committee"], false);
    wait_for_l1_epoch(&urls[..3], epoch);
    // The honest nodes hand over to it: the committee without validator-3, which
    // takes no part from then on, and the network finalizes under the new committee.
    wait_for_hand_over(&urls[..3], epoch);
    for url in &urls[..3] {
        let members = committee_keys(url, epoch);
        assert_eq!(members.len(), 3, "{members:?}");
        assert!(!members.contains(&key3), "{members:?}");
        let index = common::status(url).unwrap()["validator_index"].clone();
        assert!(index.as_u64().is_some_and(|i| i < 3), "{index}");
    }
    wait_out_of_committee(&urls[3], epoch);
    let h = height(&urls[0]);
    wait_until("blocks of the new epoch", Duration::from_secs(30), || {
        height(&urls[0]) > h + 10
    });
    let tip = rpc(&urls[0], "synod_getBlock", json!([height(&urls[0])]));
    assert_eq!(tip["result"]["epoch"].as_u64(), Some(epoch), "{tip}");
    // The bridge verifies the new committee's certificates against the StakeTable.
    wait_for_attested_epoch(&net, epoch);
    // Every node holds the same chain across the hand-over.
    assert_identical_chains(&urls);
}

#[test]
fn a_validator_joins_and_another_exits_at_the_next_epoch_snapshot() {
    // With one of four members down (below), a block is final only after three live
    // leaders in a row, and each view the dead leader holds backs the view timeout off by
    // half again: with the default 30 s ceiling, a streak of views led by it (the leader
    // draw is by stake, seeded per epoch) can hold finality for over a minute. A 2 s
    // ceiling keeps the wait below to tens of views whatever the draw.
    let net = Net::up_with(
        "churn",
        4,
        0,
        &["--node-arg=--consensus.max-timeout-ms=2000"],
    );
    let dir = net.dir.to_str().unwrap();
    // Blocks with data in the first committee's epoch, rebuilt from its shards below.
    let report = net.load(200, 3);
    assert_eq!(report["lost"], 0, "{report}");
    let urls = net.urls();
    let with_batches = (1..=height(&urls[0]))
        .rev()
        .find(|h| {
            rpc(&urls[0], "synod_getBlock", json!([h]))["result"]["batches"]
                .as_array()
                .is_some_and(|b| !b.is_empty())
        })
        .expect("a block with batches");

    // validator-4 is added to the running network and stakes through the operator's
    // own `synod stake register`; it follows the chain without voting.
    let out = ok(&["testnet", "join", "--dir", dir]);
    let key4 = out
        .split_whitespace()
        .skip_while(|w| *w != "registered")
        .nth(1)
        .unwrap_or_else(|| panic!("no registered key in {out:?}"))
        .to_string();
    let urls = net.urls();
    assert_eq!(urls.len(), 5);
    let status4 = common::status(&urls[4]).unwrap();
    assert!(status4["validator_index"].is_null(), "{status4}");
    assert!(!committee_keys(&urls[0], 1).contains(&key4));

    // validator-2 asks to leave: it stays in the committee until the next snapshot.
    let (_, key2_l1) = validator_account(&net, 2);
    let index2 = common::status(&urls[2]).unwrap()["validator_index"]
        .as_u64()
        .unwrap() as usize;
    let key2 = committee_keys(&urls[2], 1)[index2].clone();
    let out = stake(&net, &key2_l1, &["exit"]);
    assert!(out.contains("exit requested"), "{out}");
    let record: Value =
        serde_json::from_str(&stake(&net, &key2_l1, &["status", "--json"])).unwrap();
    assert_eq!(record["status"], "EXITING", "{record}");
    assert_eq!(record["in_committee"], true, "{record}");
    assert!(record["withdrawable_at"].as_u64().unwrap() > 0, "{record}");

    // The next snapshot has validator-4 in and validator-2 out; the network hands over.
    let epoch = advance_epoch(&net);
    // The sender counts it once its receipt is in.
    wait_until(
        "a validator to count the snapshot it took",
        Duration::from_secs(10),
        || {
            urls.iter()
                .any(|u| metric(u, "synod_l1_epochs_advanced_total") > 0.0)
        },
    );
    let stayers = [&urls[0], &urls[1], &urls[3], &urls[4]].map(String::clone);
    wait_for_l1_epoch(&stayers, epoch);
    wait_for_hand_over(&stayers, epoch);
    for url in &stayers {
        let members = committee_keys(url, epoch);
        assert_eq!(members.len(), 4, "{members:?}");
        assert!(members.contains(&key4), "{url}: {members:?}");
        assert!(!members.contains(&key2), "{url}: {members:?}");
    }
    let index4 = common::status(&urls[4]).unwrap()["validator_index"]
        .as_u64()
        .unwrap_or_else(|| panic!("validator-4 has no index in epoch {epoch}"));
    wait_out_of_committee(&urls[2], epoch);

    // A block of the epoch before is rebuilt from its own committee's shards (three of
    // its four members still announce themselves; the one that left does not).
    let rebuilt = rpc(
        &urls[4],
        "synod_getBlockData",
        json!([with_batches, {"from_shards": true}]),
    )["result"]
        .clone();
    let stored = rpc(&urls[0], "synod_getBlockData", json!([with_batches]))["result"].clone();
    assert_eq!(rebuilt["source"], "shards", "{rebuilt}");
    assert_eq!(rebuilt["batches"], stored["batches"]);
    let block_epoch = rpc(&urls[0], "synod_getBlock", json!([with_batches]))["result"]["epoch"]
        .as_u64()
        .unwrap();
    assert!(
        block_epoch < epoch,
        "height {with_batches} is of epoch {block_epoch}"
    );

    // validator-4 votes: its signature is in finality certificates of the new epoch (a
    // certificate holds the votes that completed its quorum, so some of 30 blocks) …
    let from = height(&urls[0]);
    wait_until("blocks of the new epoch", Duration::from_secs(30), || {
        height(&urls[0]) > from + 30
    });
    let signed_by_4 = (from + 1..=height(&urls[0])).any(|h| {
        let block = &rpc(&urls[0], "synod_getBlock", json!([h]))["result"];
        let cert = &block["finality_certificate"];
        let signers = hex::decode(
            cert["signers"]
                .as_str()
                .unwrap_or("0x")
                .trim_start_matches("0x"),
        )
        .unwrap();
        block["epoch"].as_u64() == Some(epoch)
            && signers
                .get(index4 as usize / 8)
                .is_some_and(|b| b & (1 << (index4 % 8)) != 0)
    });
    assert!(
        signed_by_4,
        "no certificate of epoch {epoch} carries validator-4's signature"
    );
    // … and it is needed: with validator-0 down, three of the four members finalize
    // only with validator-4's vote (each holds a quarter of the stake).
    net.kill("validator-0");
    let from = height(&urls[1]);
    wait_until(
        "finality without validator-0",
        Duration::from_secs(90),
        || height(&urls[1]) > from + 5,
    );
    // It also takes its turns at posting to the bridge, which verifies the new committee.
    wait_until(
        "validator-4 to post an attestation",
        Duration::from_secs(60),
        || metric(&urls[4], "synod_l1_attestations_posted_total") > 0.0,
    );
    wait_for_attested_epoch(&net, epoch);
    assert_identical_chains(&urls[1..]);
    assert_no_evidence(&urls[1..]);
}
