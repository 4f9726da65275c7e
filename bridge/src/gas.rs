//! What the contracts cost: a committee of `n` validators registers on a local L1, the
//! epoch is snapshot, and finality certificates are attested (`synod testnet gas`).

use synod_types::{
    crypto::aggregate_signatures, Certificate, Domain, FinalityCert, Hash, Header, Phase, Scheme,
    SecretKey, SignerBitmap,
};

use crate::client::L1;
use crate::contracts::address_bytes;
use crate::devnet::LocalL1;
use crate::error::L1Error;
use crate::params::{Deployment, StakeParams};

/// Gas of one committee size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasRow {
    /// Committee size.
    pub validators: usize,
    /// `register` of the last validator (the proof-of-possession check included).
    pub register: u64,
    /// `advanceEpoch` snapshotting the whole committee.
    pub advance_epoch: u64,
    /// The bridge's very first `attest` (its storage written from zero), all signing.
    pub attest_first: u64,
    /// `attest` with every member signing, once the bridge has attested before.
    pub attest_all: u64,
    /// `attest` with the smallest set above two thirds of the stake signing.
    pub attest_quorum: u64,
}

/// A committee of test validators with BLS keys derived from their index.
#[derive(Debug)]
pub struct TestCommittee {
    /// Their BLS keys, in registration (and committee) order.
    pub keys: Vec<SecretKey>,
}

impl TestCommittee {
    /// `n` validators whose keys come from `seed`.
    pub fn new(n: usize, seed: u8) -> TestCommittee {
        let keys = (0..n)
            .map(|i| {
                let mut ikm = [seed; 32];
                ikm[..8].copy_from_slice(&(i as u64).to_le_bytes());
                SecretKey::bls_from_ikm(&ikm).expect("32 bytes of key material are enough")
            })
            .collect();
        TestCommittee { keys }
    }

    /// Registers validator `i` from funded account `first_account + i` with `stake_gwei`.
    pub async fn register_all(
        &self,
        l1: &LocalL1,
        deployment: &Deployment,
        first_account: usize,
        stake_gwei: u64,
    ) -> Result<u64, L1Error> {
        let mut gas = 0;
        for (i, key) in self.keys.iter().enumerate() {
            let client = l1.client(deployment, first_account + i).await?;
            gas = client.register(key, stake_gwei).await?.gas_used;
        }
        Ok(gas)
    }

    /// A finality certificate on `header` by the members `signing` says sign.
    pub fn certify(&self, domain: &Domain, header: &Header, signing: &[bool]) -> FinalityCert {
        let hash = header.hash();
        let digest = domain.digest(header.epoch, header.view, Phase::Commit, &hash);
        let mut signers = SignerBitmap::new(self.keys.len());
        let mut signatures = Vec::new();
        for (i, key) in self.keys.iter().enumerate() {
            if signing[i] {
                signers.set(i as u32);
                signatures.push(key.sign(&digest));
            }
        }
        let signature = aggregate_signatures(Scheme::Bls, &signatures)
            .expect("signatures made by blst aggregate");
        FinalityCert(Certificate {
            epoch: header.epoch,
            view: header.view,
            block_hash: hash,
            signers,
            signature,
        })
    }
}

/// The signature domain of `deployment`.
pub fn domain(deployment: &Deployment) -> Domain {
    Domain {
        chain_id: deployment.chain_id,
        bridge: address_bytes(&deployment.bridge),
    }
}

/// A header of `epoch` at `height`, for attestations in tests and measurements.
pub fn test_header(epoch: u64, height: u64) -> Header {
    Header {
        parent: Hash([height as u8; 32]),
        height,
        view: height + 1,
        epoch,
        payload_digest: Hash([0xab; 32]),
        da_commitment: Hash([0xcd; 32]),
        timestamp_ms: 1_700_000_000_000 + height,
        proposer: 0,
    }
}

/// The smallest signing set above two thirds of `n` equal stakes: the first members.
pub fn quorum_signers(n: usize) -> Vec<bool> {
    let needed = 2 * n / 3 + 1;
    (0..n).map(|i| i < needed).collect()
}

/// Measures one committee size on a fresh local L1.
pub async fn measure(n: usize) -> Result<GasRow, L1Error> {
    let l1 = LocalL1::start(n + 1, None)?;
    let params = StakeParams {
        min_stake_gwei: 1_000_000_000,
        ejection_stake_gwei: 500_000_000,
        epoch_blocks: 1,
        ..StakeParams::default()
    };
    let deployment = l1.deploy(&params).await?;
    let committee = TestCommittee::new(n, 7);
    let register = committee
        .register_all(&l1, &deployment, 1, params.min_stake_gwei)
        .await?;
    let publisher: L1 = l1.client(&deployment, 0).await?;
    let (epoch, snapshot) = l1.next_epoch(&publisher).await?;
    let advance_epoch = snapshot.gas_used;
    let domain = domain(&deployment);
    let all = vec![true; n];
    // The bridge's first attestation also pays for its first storage writes; every later
    // one, which is what a network pays for, overwrites them.
    let header = test_header(epoch, 1);
    let attest_first = publisher
        .attest(&header, &committee.certify(&domain, &header, &all))
        .await?
        .gas_used;
    let header = test_header(epoch, 2);
    let attest_all = publisher
        .attest(&header, &committee.certify(&domain, &header, &all))
        .await?
        .gas_used;
    let header = test_header(epoch, 3);
    let attest_quorum = publisher
        .attest(
            &header,
            &committee.certify(&domain, &header, &quorum_signers(n)),
        )
        .await?
        .gas_used;
    Ok(GasRow {
        validators: n,
        register,
        advance_epoch,
        attest_first,
        attest_all,
        attest_quorum,
    })
}
