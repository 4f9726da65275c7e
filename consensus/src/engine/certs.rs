//! Certificates, commits and fetching missing blocks (`docs/protocol.md` §4, §6).

use synod_types::{
    keccak256, Block, Certificate, FinalityCert, Hash, Message, Phase, Proposal, QuorumCert,
    SignerBitmap, SyncRequest, TimeoutCert,
};

use super::tree::ChainError;
use super::{Action, CertKey, Engine, PeerId, Recipient, MAX_SYNC_ATTEMPTS, VERIFIED_CACHE};

impl Engine {
    fn cert_key(phase: Phase, cert: &Certificate) -> CertKey {
        (
            phase as u8,
            cert.epoch,
            cert.view,
            cert.block_hash,
            cert.signature,
        )
    }

    fn is_cached(&self, key: &CertKey, signers: &SignerBitmap) -> bool {
        self.verified.get(key).is_some_and(|s| s == signers)
    }

    fn cache(&mut self, key: CertKey, signers: &SignerBitmap) {
        if self.verified.len() >= VERIFIED_CACHE {
            self.verified.clear();
        }
        self.verified.insert(key, signers.clone());
    }

    /// Verifies a certificate, remembering the ones already verified so a certificate
    /// seen in several messages costs one pairing check.
    pub(super) fn verify_cert(&mut self, phase: Phase, cert: &Certificate) -> bool {
        if phase == Phase::Vote && cert.view == 0 {
            return cert.block_hash == self.genesis_hash && cert.epoch == self.committee.epoch();
        }
        let key = Self::cert_key(phase, cert);
        if self.is_cached(&key, &cert.signers) {
            return true;
        }
        if cert
            .verify(&self.committee, &self.cfg.domain, phase)
            .is_err()
        {
            return false;
        }
        self.cache(key, &cert.signers);
        true
    }

    /// Verifies a proposal's signature together with its justify and finality
    /// certificates (those not already verified) in one randomized batch; on success the
    /// certificates are remembered as verified. `false` says only that the batch failed.
    pub(super) fn batch_verify_proposal(&mut self, digest: &Hash, p: &Proposal) -> bool {
        let committee = self.committee.clone();
        let Some(leader) = committee.key(p.block.header.proposer) else {
            return false;
        };
        let mut items = vec![(vec![leader], *digest, p.signature)];
        let mut certs = Vec::new();
        let carried = [
            (Phase::Vote, Some(&p.block.justify.0)),
            (Phase::Commit, p.commit.as_ref().map(|fc| &fc.0)),
        ];
        for (phase, cert) in carried {
            let Some(cert) = cert else { continue };
            if (phase == Phase::Vote && cert.view == 0)
                || self.is_cached(&Self::cert_key(phase, cert), &cert.signers)
            {
                continue;
            }
            match cert.signing_set(&committee, &self.cfg.domain, phase) {
                Ok((keys, subject)) => {
                    items.push((keys, subject, cert.signature));
                    certs.push((phase, cert));
                }
                Err(_) => return false,
            }
        }
        if !synod_types::crypto::verify_batch(&items) {
            return false;
        }
        for (phase, cert) in certs {
            self.remember_verified(phase, cert);
        }
        true
    }

    /// Records a certificate as verified (for certificates this node aggregated itself).
    pub(super) fn remember_verified(&mut self, phase: Phase, cert: &Certificate) {
        self.cache(Self::cert_key(phase, cert), &cert.signers);
    }

    /// Verifies a timeout certificate and its high certificate, once per certificate.
    pub(super) fn verify_tc(&mut self, tc: &TimeoutCert) -> bool {
        // The reported views decide the certificate's meaning: they are part of the key.
        let mut views = Vec::with_capacity(8 * (tc.high_qc_views.len() + 1));
        views.extend_from_slice(&tc.high_qc.view().to_be_bytes());
        tc.high_qc_views
            .iter()
            .for_each(|v| views.extend_from_slice(&v.to_be_bytes()));
        let key = (
            Phase::Timeout as u8,
            tc.epoch,
            tc.view,
            keccak256(&views),
            tc.signature,
        );
        if !self.verify_cert(Phase::Vote, &tc.high_qc.0) {
            return false;
        }
        if self.is_cached(&key, &tc.signers) {
            return true;
        }
        if tc
            .verify_signatures(&self.committee, &self.cfg.domain)
            .is_err()
        {
            return false;
        }
        self.cache(key, &tc.signers);
        true
    }

    /// A verified quorum certificate: raise `high_qc` and enter the next view.
    pub(super) fn process_qc(&mut self, qc: &QuorumCert) {
        // S3.
        if qc.view() > self.safety.high_qc.view() {
            self.safety.high_qc = qc.clone();
        }
        self.advance_to(qc.view() + 1, true);
    }

    /// A verified timeout certificate: enter the view after it.
    pub(super) fn process_tc(&mut self, tc: &TimeoutCert) {
        if tc.high_qc.view() > self.safety.high_qc.view() {
            self.safety.high_qc = tc.high_qc.clone();
        }
        if self.high_tc.as_ref().is_none_or(|h| h.view < tc.view) {
            self.high_tc = Some(tc.clone());
        }
        // One view change: the timeout certificate is never older than its high_qc.
        self.advance_to(tc.view.saturating_add(1), false);
    }

    /// A verified finality certificate: commit its block and ancestors once known.
    pub(super) fn process_fc(&mut self, fc: &FinalityCert, hint: Option<PeerId>) {
        if self.high_fc.as_ref().is_none_or(|h| h.view() < fc.view()) {
            self.high_fc = Some(fc.clone());
        }
        self.try_commit(hint);
    }

    pub(super) fn try_commit(&mut self, hint: Option<PeerId>) {
        let Some(fc) = self.high_fc.clone() else {
            return;
        };
        if fc.view() <= self.committed_view() {
            return;
        }
        // C2: commit the certified block with every ancestor above the committed one.
        match self.tree.chain_to(&fc.block_hash()) {
            Ok(blocks) if blocks.is_empty() => {}
            Ok(blocks) => {
                let last = blocks.last().expect("chain is not empty").clone();
                self.tree.commit(last);
                self.out.push(Action::Commit {
                    blocks,
                    certificate: fc,
                });
            }
            Err(ChainError::Missing(hash)) => self.request_block(hash, hint),
            // C3: a finality certificate on a block that does not extend ours can only exist
            // if more than a third of the stake is Byzantine; never commit it.
            Err(ChainError::Conflict) => {}
        }
    }

    /// Stores a block whose parent link has been checked.
    pub(super) fn accept_block(&mut self, block: Block) {
        let hash = block.hash();
        self.inflight.remove(&hash);
        if self.tree.insert(block.clone()) {
            self.out.push(Action::PersistBlock(block));
            // A leader waiting for the block its proposal must extend.
            if hash == self.safety.high_qc.block_hash() {
                self.try_propose();
            }
        }
    }

    pub(super) fn request_block(&mut self, hash: Hash, hint: Option<PeerId>) {
        if self.tree.contains(&hash)
            || self.inflight.contains_key(&hash)
            || self.inflight.len() >= self.cfg.max_inflight_sync
        {
            return;
        }
        self.inflight.insert(hash, (1, self.view));
        let to = match hint {
            Some(peer) => Recipient::Peer(peer),
            None => Recipient::Validator(self.sync_target(&hash, 1)),
        };
        self.send_sync_request(to, hash);
    }

    /// Re-sends sync requests that went unanswered — on every view timer (`all`), or on a
    /// view change for requests at least two views old — each time to another member;
    /// gives up after `MAX_SYNC_ATTEMPTS`.
    pub(super) fn retry_sync(&mut self, all: bool) {
        let view = self.view;
        let stale: Vec<(Hash, u32)> = self
            .inflight
            .iter()
            .filter(|(_, (_, at))| all || at.saturating_add(2) <= view)
            .map(|(h, (n, _))| (*h, *n))
            .collect();
        for (hash, attempts) in stale {
            if attempts >= MAX_SYNC_ATTEMPTS || self.tree.contains(&hash) {
                self.inflight.remove(&hash);
                continue;
            }
            self.inflight.insert(hash, (attempts + 1, view));
            let to = Recipient::Validator(self.sync_target(&hash, attempts + 1));
            self.send_sync_request(to, hash);
        }
    }

    pub(super) fn send_sync_request(&mut self, to: Recipient, block_hash: Hash) {
        self.out.push(Action::Send {
            to,
            message: Message::SyncRequest(SyncRequest {
                block_hash,
                max_blocks: self.cfg.sync_batch,
            }),
        });
    }

    /// A committee member other than this node to ask for `hash`, rotating with retries.
    pub(super) fn sync_target(&self, hash: &Hash, attempts: u32) -> u32 {
        let n = self.committee.size() as u64;
        let mut index = (hash.0[0] as u64 + attempts as u64 + self.me.unwrap_or(0) as u64) % n;
        if n > 1 && Some(index as u32) == self.me {
            index = (index + 1) % n;
        }
        index as u32
    }
}
