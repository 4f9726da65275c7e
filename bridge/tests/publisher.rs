//! The publisher on a real anvil: what it posts, and what does not hold it back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use synod_bridge::devnet::LocalL1;
use synod_bridge::gas::{domain, test_header, TestCommittee};
use synod_bridge::publisher::{Certified, Publisher};
use synod_bridge::{Deployment, StakeParams};
use synod_types::{Committee, Equivocation, Hash, Member, Phase, Scheme, Signature};
use tokio::sync::{mpsc, watch};

const STAKE: u64 = 1_000_000_000;

/// An anvil (mining every `block_time`, or each transaction) with the contracts and `n`
/// validators registered from accounts 1..=n; account 0 is left to read and snapshot.
async fn network(n: usize, block_time: Option<Duration>) -> (LocalL1, Deployment, TestCommittee) {
    let l1 = LocalL1::start(n + 2, block_time).expect("anvil starts");
    let params = StakeParams {
        min_stake_gwei: STAKE,
        ejection_stake_gwei: STAKE / 2,
        epoch_blocks: 2,
        ..StakeParams::default()
    };
    let deployment = l1.deploy(&params).await.expect("contracts deploy");
    let keys = TestCommittee::new(n, n as u8 + 2);
    keys.register_all(&l1, &deployment, 1, STAKE)
        .await
        .expect("registers");
    (l1, deployment, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_that_cannot_be_submitted_does_not_stop_attestations() {
    let (l1, deployment, keys) = network(1, None).await;
    let reader = l1.client(&deployment, 0).await.expect("client");
    let (epoch, _) = l1.next_epoch(&reader).await.expect("epoch 1");
    let snapshot = reader.committee(epoch).await.expect("committee");
    let members = snapshot
        .members
        .iter()
        .map(|m| Member {
            public_key: m.key,
            stake: m.stake_gwei,
        })
        .collect();
    let committee = Committee::new(epoch, Scheme::Bls, Hash::ZERO, members).expect("committee");
    let me = keys.keys[0].public_key();

    let publisher = Publisher {
        l1: l1.client(&deployment, 1).await.expect("validator's client"),
        key: Some(me),
        attest_every: 1,
        fallback: Duration::from_secs(1),
        advance_epochs: false,
        attested: watch::channel(None).0,
    };
    let header = test_header(epoch, 5);
    let certificate = keys.certify(&domain(&deployment), &header, &[true]);
    let (_finalized_tx, finalized) = watch::channel(Some(Certified {
        header: header.clone(),
        certificate,
    }));
    let (evidence_tx, evidence) = mpsc::channel(4);
    // Evidence against this very key whose signatures are no curve points: every
    // submission fails before it reaches L1, for good.
    evidence_tx
        .send(Equivocation {
            signer: me,
            epoch,
            view: 3,
            phase: Phase::Vote,
            first: (Hash([1; 32]), Signature([0xff; 96])),
            second: (Hash([2; 32]), Signature([0xfe; 96])),
        })
        .await
        .unwrap();
    let (_committee_tx, committee_rx) = watch::channel(Arc::new(committee));
    let running = tokio::spawn(publisher.run(committee_rx, finalized, evidence));

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reader.attested().await.expect("tip").height == header.height {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing attested while the evidence kept failing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_waiting_for_inclusion_makes_a_second_one_fail_in_simulation() {
    // Blocks every 2 s: a post waits in the pool until the next one.
    let (l1, deployment, keys) = network(2, Some(Duration::from_secs(2))).await;
    let first = l1.client(&deployment, 1).await.expect("client");
    let second = l1.client(&deployment, 2).await.expect("client");
    let (epoch, _) = l1.next_epoch(&first).await.expect("epoch 1");
    let header = test_header(epoch, 5);
    let certificate = keys.certify(&domain(&deployment), &header, &[true, true]);
    // Right after a block, so that the first post waits about 2 s for the next one.
    let block = first.block_number().await.expect("block");
    while first.block_number().await.expect("block") == block {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (h, c) = (header.clone(), certificate.clone());
    let on_duty = tokio::spawn(async move { first.attest(&h, &c).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        second.attested().await.expect("tip").height,
        0,
        "the first post is still waiting for inclusion"
    );
    // The fallback tries the same height before the first post is included.
    let fallback = second.attest(&header, &certificate).await;
    let landed = on_duty.await.unwrap().expect("the post on duty lands");
    match fallback {
        Err(synod_bridge::L1Error::Reverted { reason, .. }) => {
            assert!(reason.contains("NotNewer"), "{reason}")
        }
        other => panic!(
            "the fallback sent a second post: {other:?} (first in block {})",
            landed.block
        ),
    }
}
