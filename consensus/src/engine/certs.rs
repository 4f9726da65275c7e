//! Certificates, commits and fetching missing blocks (`docs/protocol.md` §4, §6).

use synod_types::{
    keccak256, Block, Certificate, FinalityCert, Hash, Message, Phase, QuorumCert, SyncRequest,
    TimeoutCert,
};

use super::tree::ChainError;
use super::{Action, Engine, PeerId, Recipient, VERIFIED_CACHE};

impl Engine {
    fn cert_cache_key(phase: Phase, cert: &Certificate) -> Hash {
        let mut bytes = Vec::with_capacity(8 + 8 + 32 + 96 + cert.signers.as_bytes().len());
        bytes.push(phase as u8);
        bytes.extend_from_slice(&cert.epoch.to_be_bytes());
        bytes.extend_from_slice(&cert.view.to_be_bytes());
        bytes.extend_from_slice(&cert.block_hash.0);
        bytes.extend_from_slice(&cert.signature.0);
        bytes.extend_from_slice(cert.signers.as_bytes());
        keccak256(&bytes)
    }

    /// Verifies a certificate, remembering the ones already verified so a certificate
    /// seen in several messages costs one pairing check.
    pub(super) fn verify_cert(&mut self, phase: Phase, cert: &Certificate) -> bool {
        if phase == Phase::Vote && cert.view == 0 {
            return cert.block_hash == self.genesis_hash && cert.epoch == self.committee.epoch();
        }
        if self.verified.contains(&Self::cert_cache_key(phase, cert)) {
            return true;
        }
        if cert
            .verify(&self.committee, &self.cfg.domain, phase)
            .is_err()
        {
            return false;
        }
        self.remember_verified(phase, cert);
        true
    }

    /// Records a certificate as verified (for certificates this node aggregated itself).
    pub(super) fn remember_verified(&mut self, phase: Phase, cert: &Certificate) {
        if self.verified.len() >= VERIFIED_CACHE {
            self.verified.clear();
        }
        self.verified.insert(Self::cert_cache_key(phase, cert));
    }

    /// Verifies a timeout certificate and its high certificate, once per certificate.
    pub(super) fn verify_tc(&mut self, tc: &TimeoutCert) -> bool {
        let mut bytes =
            Vec::with_capacity(16 + 96 + tc.signers.as_bytes().len() + 8 * tc.high_qc_views.len());
        bytes.extend_from_slice(&tc.view.to_be_bytes());
        bytes.extend_from_slice(&tc.epoch.to_be_bytes());
        bytes.extend_from_slice(&tc.signature.0);
        bytes.extend_from_slice(tc.signers.as_bytes());
        tc.high_qc_views
            .iter()
            .for_each(|v| bytes.extend_from_slice(&v.to_be_bytes()));
        bytes.extend_from_slice(&Self::cert_cache_key(Phase::Vote, &tc.high_qc.0).0);
        let key = keccak256(&bytes);
        if self.verified.contains(&key) {
            return true;
        }
        let valid = tc
            .verify_signatures(&self.committee, &self.cfg.domain)
            .is_ok()
            && self.verify_cert(Phase::Vote, &tc.high_qc.0);
        if valid {
            if self.verified.len() >= VERIFIED_CACHE {
                self.verified.clear();
            }
            self.verified.insert(key);
        }
        valid
    }

    /// A verified quorum certificate: raise `high_qc` and enter the next view.
    pub(super) fn process_qc(&mut self, qc: &QuorumCert) {
        if qc.view() > self.safety.high_qc.view() {
            self.safety.high_qc = qc.clone();
        }
        self.advance_to(qc.view() + 1, true);
    }

    /// A verified timeout certificate: enter the view after it.
    pub(super) fn process_tc(&mut self, tc: &TimeoutCert) {
        self.process_qc(&tc.high_qc);
        if self.high_tc.as_ref().is_none_or(|h| h.view < tc.view) {
            self.high_tc = Some(tc.clone());
        }
        self.advance_to(tc.view + 1, false);
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
        if fc.view() <= self.tree.committed().header.view {
            return;
        }
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
            // A finality certificate on a block that does not extend ours can only exist
            // if more than a third of the stake is Byzantine; never commit it.
            Err(ChainError::Conflict) => {}
        }
    }

    /// Stores a block whose parent link has been checked.
    pub(super) fn accept_block(&mut self, block: Block) {
        if self.tree.insert(block.clone()) {
            self.out.push(Action::PersistBlock(block));
        }
    }

    pub(super) fn request_block(&mut self, hash: Hash, hint: Option<PeerId>) {
        if self.tree.contains(&hash) || self.inflight.len() >= self.cfg.max_inflight_sync {
            return;
        }
        let attempts = self.inflight.entry(hash).or_insert(0);
        *attempts += 1;
        let attempts = *attempts;
        let to = match hint {
            Some(peer) => Recipient::Peer(peer),
            None => Recipient::Validator(self.sync_target(&hash, attempts)),
        };
        self.out.push(Action::Send {
            to,
            message: Message::SyncRequest(SyncRequest {
                block_hash: hash,
                max_blocks: self.cfg.sync_batch,
            }),
        });
    }

    /// A committee member other than this node to ask for `hash`, rotating with retries.
    fn sync_target(&self, hash: &Hash, attempts: u32) -> u32 {
        let n = self.committee.size() as u64;
        let mut index = (hash.0[0] as u64 + attempts as u64 + self.me.unwrap_or(0) as u64) % n;
        if n > 1 && Some(index as u32) == self.me {
            index = (index + 1) % n;
        }
        index as u32
    }
}
