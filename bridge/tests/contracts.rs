//! The contracts on a real anvil (`--hardfork prague`, the pinned binary) started on a
//! free port by each test: no mocks. Keys and signatures come from the Rust `blst` code,
//! so every accepted attestation also proves that the encodings agree.

use alloy::primitives::U256;
use synod_bridge::devnet::LocalL1;
use synod_bridge::gas::{domain, quorum_signers, test_header, TestCommittee};
use synod_bridge::{Deployment, L1Error, StakeParams, ValidatorStatus, L1};
use synod_types::{Domain, Equivocation, Hash, Phase};

const STAKE: u64 = 1_000_000_000; // 1 ETH in gwei

fn params() -> StakeParams {
    StakeParams {
        min_stake_gwei: STAKE,
        ejection_stake_gwei: STAKE * 3 / 4,
        exit_delay_secs: 3_600,
        epoch_blocks: 4,
        slash_bps: 5_000,
        reward_bps: 1_000,
    }
}

/// A local L1 with the contracts, `n` registered validators (accounts 1..=n) and their
/// committee snapshot as epoch 1; account 0 deploys and publishes.
struct Fixture {
    l1: LocalL1,
    deployment: Deployment,
    committee: TestCommittee,
    publisher: L1,
    domain: Domain,
}

async fn fixture(n: usize) -> Fixture {
    let l1 = LocalL1::start(n + 4, None).expect("anvil starts");
    let deployment = l1.deploy(&params()).await.expect("contracts deploy");
    let committee = TestCommittee::new(n, 1);
    committee
        .register_all(&l1, &deployment, 1, STAKE)
        .await
        .expect("validators register");
    let publisher = l1.client(&deployment, 0).await.expect("client");
    let (epoch, _) = l1.next_epoch(&publisher).await.expect("epoch 1 snapshot");
    assert_eq!(epoch, 1);
    Fixture {
        domain: domain(&deployment),
        l1,
        deployment,
        committee,
        publisher,
    }
}

fn reverted_with(result: Result<impl std::fmt::Debug, L1Error>, error: &str) {
    match result {
        Err(L1Error::Reverted { reason, .. }) => {
            assert!(
                reason.contains(error),
                "reverted with {reason}, expected {error}"
            )
        }
        other => panic!("expected a revert with {error}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_blst_certificate_of_the_committee_is_attested_and_replays_are_not() {
    let f = fixture(4).await;
    let header = test_header(1, 10);
    let cert = f.committee.certify(&f.domain, &header, &[true; 4]);
    let sent = f.publisher.attest(&header, &cert).await.expect("attested");
    assert!(sent.gas_used > 100_000, "a pairing was paid for");
    let tip = f.publisher.attested().await.expect("tip");
    assert_eq!((tip.height, tip.epoch, tip.hash), (10, 1, header.hash()));
    // The same certificate again, and an older height, are refused.
    reverted_with(f.publisher.attest(&header, &cert).await, "NotNewer");
    let older = test_header(1, 9);
    let cert = f.committee.certify(&f.domain, &older, &[true; 4]);
    reverted_with(f.publisher.attest(&older, &cert).await, "NotNewer");
}

#[tokio::test]
async fn signers_with_exactly_two_thirds_of_the_stake_are_not_enough() {
    // Six equal stakes: four signers hold exactly two thirds, five more than that.
    let f = fixture(6).await;
    let header = test_header(1, 1);
    let two_thirds = [true, true, true, true, false, false];
    let cert = f.committee.certify(&f.domain, &header, &two_thirds);
    reverted_with(f.publisher.attest(&header, &cert).await, "NoQuorum");
    let cert = f.committee.certify(&f.domain, &header, &quorum_signers(6));
    f.publisher
        .attest(&header, &cert)
        .await
        .expect("five of six attest");
}

#[tokio::test]
async fn a_changed_header_byte_or_a_false_bitmap_is_rejected() {
    let f = fixture(4).await;
    let header = test_header(1, 3);
    let cert = f.committee.certify(&f.domain, &header, &[true; 4]);
    let mut tampered = header.clone();
    tampered.da_commitment.0[31] ^= 1;
    reverted_with(f.publisher.attest(&tampered, &cert).await, "BadSignature");
    let mut tampered = header.clone();
    tampered.timestamp_ms += 1;
    reverted_with(f.publisher.attest(&tampered, &cert).await, "BadSignature");
    // Three signatures claimed as four.
    let three = f
        .committee
        .certify(&f.domain, &header, &[true, true, true, false]);
    let mut claimed = three.clone();
    claimed.0.signers = cert.0.signers.clone();
    reverted_with(f.publisher.attest(&header, &claimed).await, "BadSignature");
    // A bit past the committee.
    let mut bitmap = cert.0.signers.as_bytes().to_vec();
    bitmap[0] |= 0x10;
    let mut past = cert.clone();
    past.0.signers = synod_types::SignerBitmap::from_bytes(bitmap, 8).expect("bitmap");
    reverted_with(f.publisher.attest(&header, &past).await, "BadSigners");
    // A certificate bound to another bridge.
    let other = Domain {
        bridge: [9; 20],
        ..f.domain
    };
    let foreign = f.committee.certify(&other, &header, &[true; 4]);
    reverted_with(f.publisher.attest(&header, &foreign).await, "BadSignature");
    f.publisher
        .attest(&header, &cert)
        .await
        .expect("the untouched header attests");
}

#[tokio::test]
async fn the_point_at_infinity_is_no_signature() {
    let f = fixture(4).await;
    let header = test_header(1, 3);
    let mut cert = f.committee.certify(&f.domain, &header, &[true; 4]);
    // blst's compressed infinity: the compression and infinity flags, then zeros.
    let mut infinity = [0u8; 96];
    infinity[0] = 0xc0;
    cert.0.signature = synod_types::Signature(infinity);
    reverted_with(f.publisher.attest(&header, &cert).await, "BadSignature");
}

#[tokio::test]
async fn the_previous_epochs_committee_is_rejected_once_the_next_one_attested() {
    let f = fixture(4).await;
    // The first validator leaves and a fifth joins: epoch 2's committee differs.
    f.l1.client(&f.deployment, 1)
        .await
        .expect("client")
        .request_exit()
        .await
        .expect("exit");
    let all = TestCommittee::new(5, 1);
    f.l1.client(&f.deployment, 5)
        .await
        .expect("client")
        .register(&all.keys[4], STAKE)
        .await
        .expect("fifth registers");
    let (epoch, _) = f.l1.next_epoch(&f.publisher).await.expect("epoch 2");
    assert_eq!(epoch, 2);
    let snapshot = f.publisher.committee(2).await.expect("committee 2");
    assert_eq!(snapshot.members.len(), 4);
    let next = TestCommittee {
        keys: snapshot
            .members
            .iter()
            .map(|m| {
                all.keys
                    .iter()
                    .find(|k| k.public_key() == m.key)
                    .expect("a registered key")
                    .clone()
            })
            .collect(),
    };
    assert!(next
        .keys
        .iter()
        .all(|k| k.public_key() != f.committee.keys[0].public_key()));
    // Epoch 1's committee signs a header that claims epoch 2: refused.
    let header = test_header(2, 20);
    let old = f.committee.certify(&f.domain, &header, &[true; 4]);
    reverted_with(f.publisher.attest(&header, &old).await, "BadSignature");
    let cert = next.certify(&f.domain, &header, &[true; 4]);
    f.publisher
        .attest(&header, &cert)
        .await
        .expect("epoch 2 attests");
    // Epoch 1's committee on its own epoch is now too old.
    let header = test_header(1, 21);
    let old = f.committee.certify(&f.domain, &header, &[true; 4]);
    reverted_with(f.publisher.attest(&header, &old).await, "WrongEpoch");
    // An epoch the stake table has not snapshot yet.
    let header = test_header(3, 22);
    let cert = next.certify(&f.domain, &header, &[true; 4]);
    reverted_with(f.publisher.attest(&header, &cert).await, "WrongEpoch");
}

/// `register` with a given proof of possession, simulated from `l1`'s account.
async fn register_with_proof(
    l1: &L1,
    key: &synod_types::SecretKey,
    pop: &synod_types::Signature,
) -> Result<(), String> {
    use synod_bridge::contracts::{abi_key, abi_signature, StakeTable};
    let table = StakeTable::new(l1.stake_table_address(), l1.provider());
    let call = table
        .register(
            abi_key(&key.public_key()).expect("key"),
            abi_signature(pop).expect("pop"),
        )
        .value(wei(STAKE))
        .from(l1.account().expect("account"));
    match call.call().await {
        Ok(_) => Ok(()),
        Err(e) => Err(e
            .as_revert_data()
            .map(|d| synod_bridge::decode_revert(&d))
            .unwrap_or_else(|| e.to_string())),
    }
}

fn wei(gwei: u64) -> U256 {
    U256::from(gwei) * U256::from(1_000_000_000u64)
}

#[tokio::test]
async fn a_proof_of_possession_replayed_by_another_address_is_rejected() {
    let f = fixture(1).await;
    let key = &TestCommittee::new(1, 2).keys[0];
    let owner = f.l1.client(&f.deployment, 2).await.expect("client");
    let thief = f.l1.client(&f.deployment, 3).await.expect("client");
    // The owner's proof, sent by the thief with the owner's key.
    let owner_address = owner.account().expect("account").0 .0;
    let pop = synod_types::eip2537::prove_possession(key, &owner_address, owner.chain_id());
    let replayed = register_with_proof(&thief, key, &pop).await;
    assert!(
        matches!(&replayed, Err(e) if e.contains("InvalidProofOfPossession")),
        "{replayed:?}"
    );
    // A proof for another chain is refused as well; the owner's own proof works.
    let thief_address = thief.account().expect("account").0 .0;
    let other_chain =
        synod_types::eip2537::prove_possession(key, &thief_address, thief.chain_id() + 1);
    let result = register_with_proof(&thief, key, &other_chain).await;
    assert!(
        matches!(&result, Err(e) if e.contains("InvalidProofOfPossession")),
        "{result:?}"
    );
    assert_eq!(register_with_proof(&owner, key, &pop).await, Ok(()));
    owner
        .register(key, STAKE)
        .await
        .expect("the owner registers");
    let record = owner
        .validator(owner.account().expect("account"))
        .await
        .expect("record");
    assert_eq!(record.status, ValidatorStatus::Validating);
    assert_eq!(record.stake_gwei, STAKE);
    assert_eq!(record.key, Some(key.public_key()));
    // The key cannot be registered twice, even by its owner's proof from another account.
    reverted_with(thief.register(key, STAKE).await, "KeyInUse");
}

#[tokio::test]
async fn slashing_pays_once_and_ejects_below_the_threshold() {
    let f = fixture(4).await;
    let offender = f.l1.client(&f.deployment, 1).await.expect("client");
    let offender_account = offender.account().expect("account");
    let key = &f.committee.keys[0];
    let (a, b) = (Hash([1; 32]), Hash([2; 32]));
    let sign = |subject: &Hash| key.sign(&f.domain.digest(1, 7, Phase::Vote, subject));
    let evidence = Equivocation {
        signer: key.public_key(),
        epoch: 1,
        view: 7,
        phase: Phase::Vote,
        first: (a, sign(&a)),
        second: (b, sign(&b)),
    };
    let reporter = f.l1.client(&f.deployment, 6).await.expect("client");
    let reporter_account = reporter.account().expect("account");
    // Not evidence: one subject twice, or a signature by another key.
    let same = Equivocation {
        second: evidence.first,
        ..evidence.clone()
    };
    reverted_with(
        reporter.slash(offender_account, &same).await,
        "same subject",
    );
    let forged = Equivocation {
        second: (
            b,
            f.committee.keys[1].sign(&f.domain.digest(1, 7, Phase::Vote, &b)),
        ),
        ..evidence.clone()
    };
    reverted_with(
        reporter.slash(offender_account, &forged).await,
        "does not verify",
    );
    let before = reporter.balance(reporter_account).await.expect("balance");
    let sent = reporter
        .slash(offender_account, &evidence)
        .await
        .expect("slashed");
    let after = reporter.balance(reporter_account).await.expect("balance");
    let fee = U256::from(sent.gas_used) * U256::from(sent.gas_price);
    // Half the stake is slashed, a tenth of that rewarded: 0.05 ETH.
    let reward = wei(STAKE / 20);
    assert_eq!(after + fee - before, reward);
    let record = reporter.validator(offender_account).await.expect("record");
    assert_eq!(record.stake_gwei, STAKE / 2);
    assert_eq!(
        record.status,
        ValidatorStatus::Zombie,
        "below 3/4 ETH: ejected"
    );
    // The same evidence pays once.
    reverted_with(
        reporter.slash(offender_account, &evidence).await,
        "already slashed",
    );
    // The ejected validator is not in the next committee.
    let (epoch, _) = f.l1.next_epoch(&f.publisher).await.expect("epoch 2");
    let snapshot = f.publisher.committee(epoch).await.expect("committee");
    assert_eq!(snapshot.members.len(), 3);
    assert!(snapshot
        .members
        .iter()
        .all(|m| m.account != offender_account));
}

#[tokio::test]
async fn withdrawing_waits_for_the_exit_delay_and_an_attestation_past_its_epochs() {
    let f = fixture(2).await;
    let leaver = f.l1.client(&f.deployment, 2).await.expect("client");
    let account = leaver.account().expect("account");
    reverted_with(leaver.withdraw().await, "BadStatus");
    leaver.request_exit().await.expect("exit requested");
    let record = leaver.validator(account).await.expect("record");
    assert_eq!(record.status, ValidatorStatus::Exiting);
    assert!(record.withdrawable_at > 0);
    reverted_with(leaver.withdraw().await, "TooEarly");
    // It still counts in the current epoch's committee; the next one is without it.
    assert_eq!(f.publisher.committee(1).await.expect("c1").members.len(), 2);
    let (epoch, _) = f.l1.next_epoch(&f.publisher).await.expect("epoch 2");
    let next = f.publisher.committee(epoch).await.expect("c2");
    assert_eq!(next.members.len(), 1);
    assert!(next.members.iter().all(|m| m.account != account));
    f.l1.warp(&leaver, params().exit_delay_secs)
        .await
        .expect("time passes");
    // Its epoch's certificates are still accepted by the bridge: its stake stays.
    reverted_with(leaver.withdraw().await, "NotAttestedYet");
    let header = test_header(1, 10);
    let cert = f.committee.certify(&f.domain, &header, &[true; 2]);
    f.publisher
        .attest(&header, &cert)
        .await
        .expect("epoch 1 attests");
    reverted_with(leaver.withdraw().await, "NotAttestedYet");
    // A block of the next epoch, signed by the committee without it, is attested.
    let stayer = TestCommittee {
        keys: f
            .committee
            .keys
            .iter()
            .filter(|k| next.members.iter().any(|m| m.key == k.public_key()))
            .cloned()
            .collect(),
    };
    let header = test_header(epoch, 11);
    let cert = stayer.certify(&f.domain, &header, &[true]);
    f.publisher
        .attest(&header, &cert)
        .await
        .expect("epoch 2 attests");
    let before = leaver.balance(account).await.expect("balance");
    let sent = leaver.withdraw().await.expect("withdrawn");
    let after = leaver.balance(account).await.expect("balance");
    let fee = U256::from(sent.gas_used) * U256::from(sent.gas_price);
    assert_eq!(after + fee - before, wei(STAKE));
    let record = leaver.validator(account).await.expect("record");
    assert_eq!(
        (record.status, record.stake_gwei),
        (ValidatorStatus::None, 0)
    );
    reverted_with(leaver.withdraw().await, "BadStatus");
}
