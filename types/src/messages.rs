//! Blocks, certificates and the consensus messages, with the digests their signatures
//! cover (`docs/protocol.md` §2–§3).
//!
//! Every signature signs
//! `keccak256(abi.encode(tag, chain_id, bridge, epoch, view, phase, subject))` where
//! `tag = keccak256("SYNOD_CONSENSUS_V1")` and `subject` is a block hash (proposal, vote,
//! commit) or `bytes32(high_qc_view)` (timeout). A signature therefore cannot be replayed
//! across chains, bridge deployments, epochs, views or phases.

use std::sync::OnceLock;

use thiserror::Error;

use crate::committee::{BitmapError, Committee, Member, SignerBitmap};
use crate::crypto::{verify_aggregate, verify_aggregate_multi, PublicKey, Signature, VerifyingKey};
use crate::hash::{keccak256, AbiWriter, Hash};

/// Where signatures are valid: the L1 chain and the bridge contract that verifies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    /// L1 chain id.
    pub chain_id: u64,
    /// Address of the bridge contract on that chain.
    pub bridge: [u8; 20],
}

/// What a signature is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// The leader's signature on its proposal.
    Proposal = 1,
    /// A vote for a block; aggregates into a [`QuorumCert`].
    Vote = 2,
    /// A commit signature on a block's parent; aggregates into a [`FinalityCert`].
    Commit = 3,
    /// A timeout; aggregates into a [`TimeoutCert`].
    Timeout = 4,
}

fn consensus_tag() -> &'static Hash {
    static TAG: OnceLock<Hash> = OnceLock::new();
    TAG.get_or_init(|| keccak256(b"SYNOD_CONSENSUS_V1"))
}

impl Domain {
    /// The digest signed for `(epoch, view, phase, subject)`.
    pub fn digest(&self, epoch: u64, view: u64, phase: Phase, subject: &Hash) -> Hash {
        AbiWriter::with_words(7)
            .bytes32(consensus_tag())
            .uint(self.chain_id)
            .address(&self.bridge)
            .uint(epoch)
            .uint(view)
            .uint(phase as u64)
            .bytes32(subject)
            .keccak()
    }
}

/// A block header. Its hash is `keccak256(abi.encode(parent, height, view, epoch,
/// payload_digest, da_commitment, timestamp_ms, proposer))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Hash of the parent block.
    pub parent: Hash,
    /// Height: parent's height + 1; genesis is 0.
    pub height: u64,
    /// The view in which it was proposed.
    pub view: u64,
    /// The epoch whose committee certifies it.
    pub epoch: u64,
    /// Digest of the ordered batch digests this block carries.
    pub payload_digest: Hash,
    /// Commitment to the block data on the DA layer (zero when none).
    pub da_commitment: Hash,
    /// Proposer's wall-clock time in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Committee index of the proposer.
    pub proposer: u32,
}

impl Header {
    /// The block hash.
    pub fn hash(&self) -> Hash {
        AbiWriter::with_words(8)
            .bytes32(&self.parent)
            .uint(self.height)
            .uint(self.view)
            .uint(self.epoch)
            .bytes32(&self.payload_digest)
            .bytes32(&self.da_commitment)
            .uint(self.timestamp_ms)
            .uint(self.proposer as u64)
            .keccak()
    }

    /// The genesis header of an epoch-0 chain.
    pub fn genesis(timestamp_ms: u64) -> Header {
        Header {
            parent: Hash::ZERO,
            height: 0,
            view: 0,
            epoch: 0,
            payload_digest: Hash::ZERO,
            da_commitment: Hash::ZERO,
            timestamp_ms,
            proposer: 0,
        }
    }
}

/// Why a certificate is invalid.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CertificateError {
    /// Made for another epoch than the committee's.
    #[error("certificate is for epoch {got}, committee is epoch {expected}")]
    WrongEpoch {
        /// Committee epoch.
        expected: u64,
        /// Certificate epoch.
        got: u64,
    },
    /// The bitmap does not fit the committee.
    #[error(transparent)]
    Bitmap(#[from] BitmapError),
    /// The signers do not hold a quorum.
    #[error("signers hold {stake} of the {quorum} stake a quorum needs")]
    NoQuorum {
        /// Signers' stake.
        stake: u128,
        /// Required stake.
        quorum: u128,
    },
    /// Extra data does not match the signers (timeout certificates).
    #[error("malformed certificate: {0}")]
    Malformed(&'static str),
    /// The aggregate signature does not verify.
    #[error("aggregate signature does not verify")]
    BadSignature,
}

/// An aggregate signature by a quorum on `(epoch, view, phase, block_hash)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Epoch of the signing committee.
    pub epoch: u64,
    /// View of the certified block.
    pub view: u64,
    /// The certified block.
    pub block_hash: Hash,
    /// Who signed.
    pub signers: SignerBitmap,
    /// Aggregate of their signatures.
    pub signature: Signature,
}

impl Certificate {
    /// Checks epoch, bitmap, quorum stake and the aggregate signature for `phase`.
    pub fn verify(
        &self,
        committee: &Committee,
        domain: &Domain,
        phase: Phase,
    ) -> Result<(), CertificateError> {
        let (keys, digest) = self.signing_set(committee, domain, phase)?;
        if verify_aggregate(&keys, &digest, &self.signature) {
            Ok(())
        } else {
            Err(CertificateError::BadSignature)
        }
    }
}

impl Certificate {
    /// Checks epoch, bitmap and quorum stake, and returns the signers' keys and the
    /// digest they signed: what a batch verification of the signature needs.
    pub fn signing_set<'a>(
        &self,
        committee: &'a Committee,
        domain: &Domain,
        phase: Phase,
    ) -> Result<(Vec<&'a VerifyingKey>, Hash), CertificateError> {
        check_signers(committee, self.epoch, &self.signers)?;
        let keys = signer_keys(committee, &self.signers);
        Ok((
            keys,
            domain.digest(self.epoch, self.view, phase, &self.block_hash),
        ))
    }
}

fn check_signers(
    committee: &Committee,
    epoch: u64,
    signers: &SignerBitmap,
) -> Result<(), CertificateError> {
    if epoch != committee.epoch() {
        return Err(CertificateError::WrongEpoch {
            expected: committee.epoch(),
            got: epoch,
        });
    }
    signers.check(committee.size())?;
    let stake = committee.stake_of(signers);
    if stake < committee.quorum_stake() {
        return Err(CertificateError::NoQuorum {
            stake,
            quorum: committee.quorum_stake(),
        });
    }
    Ok(())
}

fn signer_keys<'a>(committee: &'a Committee, signers: &SignerBitmap) -> Vec<&'a VerifyingKey> {
    signers.iter().filter_map(|i| committee.key(i)).collect()
}

/// A quorum certificate: more than two thirds of the stake voted for a block
/// ([`Phase::Vote`]). View 0 with no signers is the genesis certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumCert(pub Certificate);

impl QuorumCert {
    /// The certificate that certifies the genesis block by definition.
    pub fn genesis(epoch: u64, genesis_hash: Hash, members: usize) -> QuorumCert {
        QuorumCert(Certificate {
            epoch,
            view: 0,
            block_hash: genesis_hash,
            signers: SignerBitmap::new(members),
            signature: Signature::EMPTY,
        })
    }

    /// The view of the certified block.
    pub fn view(&self) -> u64 {
        self.0.view
    }

    /// The certified block.
    pub fn block_hash(&self) -> Hash {
        self.0.block_hash
    }
}

/// A finality certificate: more than two thirds of the stake signed [`Phase::Commit`]
/// on a block, each while voting for a child of it in the next view. One aggregate
/// signature that proves the block final (`docs/protocol.md` §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalityCert(pub Certificate);

impl FinalityCert {
    /// The view of the finalized block.
    pub fn view(&self) -> u64 {
        self.0.view
    }

    /// The finalized block.
    pub fn block_hash(&self) -> Hash {
        self.0.block_hash
    }

    /// Whether this certificate is about `block`: it names the block, at the block's
    /// view or, for an epoch's last block made final through a block above it, at a
    /// later one (`docs/protocol.md` §11, H3). The signature is checked apart.
    pub fn is_for(&self, block: &Block) -> bool {
        self.block_hash() == block.hash()
            && (self.view() == block.header.view
                || (self.view() > block.header.view && block.next_epoch.is_some()))
    }

    /// Whether it is the standard certificate of §4, made at the block's own view: the
    /// one the bridge verifies against the block's header.
    pub fn at_block_view(&self, header: &Header) -> bool {
        self.view() == header.view
    }
}

/// A block: its header, the certificate of its parent, and its payload — the digests
/// of the batches it orders, whose [`crate::tx::payload_digest`] is
/// `header.payload_digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// Certificate of `header.parent` (the genesis certificate for height 1).
    pub justify: QuorumCert,
    /// Batch digests, in order.
    pub payload: Vec<Hash>,
    /// The committee that takes over once this block is final; a block carrying it is the
    /// last of its epoch (`docs/protocol.md` §11).
    pub next_epoch: Option<NextEpoch>,
    hash: Hash,
}

/// The hand-over record of an epoch's last block: the next epoch and its committee, as
/// the L1 StakeTable's snapshot of L1 block `l1_block` recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextEpoch {
    /// The epoch that starts after this block.
    pub epoch: u64,
    /// The L1 block of the StakeTable snapshot.
    pub l1_block: u64,
    /// The committee, in the snapshot's order.
    pub members: Vec<Member>,
}

impl NextEpoch {
    /// `keccak256(abi.encode(epoch, l1_block, keccak256(key_0 ‖ stake_0 ‖ …)))`, keys as
    /// 48 compressed bytes and stakes as 8 big-endian bytes.
    pub fn digest(&self) -> Hash {
        let mut packed = Vec::with_capacity(self.members.len() * 56);
        for m in &self.members {
            packed.extend_from_slice(&m.public_key.0);
            packed.extend_from_slice(&m.stake.to_be_bytes());
        }
        AbiWriter::with_words(3)
            .uint(self.epoch)
            .uint(self.l1_block)
            .bytes32(&keccak256(&packed))
            .keccak()
    }
}

/// The header's payload digest of a block: [`crate::tx::payload_digest`] of its batch
/// digests, and for an epoch's last block `keccak256(that ‖ next_epoch.digest())`.
pub fn block_payload_digest(payload: &[Hash], next_epoch: Option<&NextEpoch>) -> Hash {
    let batches = crate::tx::payload_digest(payload);
    match next_epoch {
        None => batches,
        Some(next) => {
            let mut bytes = [0u8; 64];
            bytes[..32].copy_from_slice(&batches.0);
            bytes[32..].copy_from_slice(&next.digest().0);
            keccak256(&bytes)
        }
    }
}

impl Block {
    /// Builds a block without payload, computing its hash once.
    pub fn new(header: Header, justify: QuorumCert) -> Block {
        Block::with_payload(header, justify, Vec::new())
    }

    /// Builds a block ordering the batches `payload`.
    pub fn with_payload(header: Header, justify: QuorumCert, payload: Vec<Hash>) -> Block {
        Block::ending_epoch(header, justify, payload, None)
    }

    /// Builds a block that may end its epoch with `next_epoch`.
    pub fn ending_epoch(
        header: Header,
        justify: QuorumCert,
        payload: Vec<Hash>,
        next_epoch: Option<NextEpoch>,
    ) -> Block {
        let hash = header.hash();
        Block {
            header,
            justify,
            payload,
            next_epoch,
            hash,
        }
    }

    /// Whether the payload (and hand-over record) hash to the header's payload digest.
    /// They are not signed directly; this binds them to the signed header.
    pub fn payload_matches(&self) -> bool {
        block_payload_digest(&self.payload, self.next_epoch.as_ref()) == self.header.payload_digest
    }

    /// The block hash (of the header).
    pub fn hash(&self) -> Hash {
        self.hash
    }
}

/// A leader's proposal for its view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The proposed block; `block.header.view` is the view.
    pub block: Block,
    /// Present when the previous view ended by timeout rather than a certificate.
    pub timeout_cert: Option<TimeoutCert>,
    /// The newest finality certificate the leader knows, so followers commit.
    pub commit: Option<FinalityCert>,
    /// The leader's signature on `(epoch, view, Proposal, block hash)`.
    pub signature: Signature,
}

/// A commit signature carried in a vote: on the parent of the voted block, made only
/// when the voted block is in the view right after its parent's (`docs/protocol.md` §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitVote {
    /// View of the parent block.
    pub view: u64,
    /// Hash of the parent block.
    pub block_hash: Hash,
    /// Signature on `(epoch, view, Commit, block_hash)`.
    pub signature: Signature,
}

/// A vote for a block, sent to the next view's leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// Epoch.
    pub epoch: u64,
    /// View of the voted block.
    pub view: u64,
    /// The voted block.
    pub block_hash: Hash,
    /// Committee index of the voter.
    pub voter: u32,
    /// Signature on `(epoch, view, Vote, block_hash)`.
    pub signature: Signature,
    /// Commit signature on the parent, when the two views are consecutive.
    pub commit: Option<CommitVote>,
}

/// A timeout for a view, broadcast to all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutMsg {
    /// Epoch.
    pub epoch: u64,
    /// The view that timed out.
    pub view: u64,
    /// The sender's highest quorum certificate.
    pub high_qc: QuorumCert,
    /// The timeout certificate of the previous view, when the sender entered this view
    /// by one: lets a node that missed it catch up (not covered by the signature; it
    /// verifies on its own).
    pub last_tc: Option<Box<TimeoutCert>>,
    /// Committee index of the sender.
    pub sender: u32,
    /// Signature on `(epoch, view, Timeout, bytes32(high_qc.view))`.
    pub signature: Signature,
}

impl TimeoutMsg {
    /// The subject its signature covers.
    pub fn subject(high_qc_view: u64) -> Hash {
        Hash::from_u64(high_qc_view)
    }
}

/// A timeout certificate: a quorum timed out in `view`. Each signer signed its own
/// highest certificate view; the certificate carries the highest of those certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutCert {
    /// Epoch.
    pub epoch: u64,
    /// The view that timed out.
    pub view: u64,
    /// Who signed.
    pub signers: SignerBitmap,
    /// Each signer's highest certificate view, in signer order.
    pub high_qc_views: Vec<u64>,
    /// Aggregate of the timeout signatures.
    pub signature: Signature,
    /// The highest certificate among the signers'; its view is the maximum of
    /// `high_qc_views`.
    pub high_qc: QuorumCert,
}

impl TimeoutCert {
    /// The highest certificate view any signer reported.
    pub fn max_high_qc_view(&self) -> u64 {
        self.high_qc_views.iter().copied().max().unwrap_or(0)
    }

    /// Checks everything except `high_qc` itself, which the caller verifies (it may be
    /// the genesis certificate): signers, quorum, that `high_qc` is the highest reported,
    /// and the multi-message aggregate signature.
    pub fn verify_signatures(
        &self,
        committee: &Committee,
        domain: &Domain,
    ) -> Result<(), CertificateError> {
        check_signers(committee, self.epoch, &self.signers)?;
        if self.high_qc_views.len() != self.signers.count() {
            return Err(CertificateError::Malformed(
                "one high_qc view per signer is required",
            ));
        }
        if self.high_qc.view() != self.max_high_qc_view() {
            return Err(CertificateError::Malformed(
                "high_qc is not the highest reported",
            ));
        }
        if self.high_qc.view() >= self.view {
            return Err(CertificateError::Malformed(
                "high_qc is not older than the timed-out view",
            ));
        }
        let mut groups: Vec<(Vec<&VerifyingKey>, Hash)> = Vec::new();
        let mut by_view: std::collections::BTreeMap<u64, Vec<&VerifyingKey>> = Default::default();
        for (signer, view) in self.signers.iter().zip(&self.high_qc_views) {
            if let Some(key) = committee.key(signer) {
                by_view.entry(*view).or_default().push(key);
            }
        }
        for (view, keys) in by_view {
            let digest = domain.digest(
                self.epoch,
                self.view,
                Phase::Timeout,
                &TimeoutMsg::subject(view),
            );
            groups.push((keys, digest));
        }
        if verify_aggregate_multi(&groups, &self.signature) {
            Ok(())
        } else {
            Err(CertificateError::BadSignature)
        }
    }
}

/// A request for a block and up to `max_blocks - 1` of its ancestors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    /// The newest block wanted.
    pub block_hash: Hash,
    /// How many blocks at most, newest first.
    pub max_blocks: u32,
}

/// Blocks answering a [`SyncRequest`], newest first, each the parent of the one before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    /// The blocks.
    pub blocks: Vec<Block>,
}

/// Everything the engines send each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A leader's proposal (broadcast).
    Proposal(Proposal),
    /// A vote (to the next leader).
    Vote(Vote),
    /// A timeout (broadcast).
    Timeout(TimeoutMsg),
    /// Ask a peer for blocks.
    SyncRequest(SyncRequest),
    /// A peer's answer.
    SyncResponse(SyncResponse),
}

impl Message {
    /// The epoch a proposal, vote or timeout belongs to (sync messages carry none).
    pub fn epoch(&self) -> Option<u64> {
        match self {
            Message::Proposal(p) => Some(p.block.header.epoch),
            Message::Vote(v) => Some(v.epoch),
            Message::Timeout(t) => Some(t.epoch),
            Message::SyncRequest(_) | Message::SyncResponse(_) => None,
        }
    }
}

/// Proof that one key signed two different subjects for the same `(epoch, view, phase)`:
/// what staking slashes for (`docs/protocol.md` §7, E1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    /// The offending key.
    pub signer: PublicKey,
    /// Epoch.
    pub epoch: u64,
    /// View.
    pub view: u64,
    /// Phase.
    pub phase: Phase,
    /// First subject and signature.
    pub first: (Hash, Signature),
    /// Second, different subject and signature.
    pub second: (Hash, Signature),
}

impl Equivocation {
    /// Whether this is real evidence: two different subjects, both signatures valid
    /// under `key` (which must be `signer`'s key).
    pub fn verify(&self, key: &VerifyingKey, domain: &Domain) -> bool {
        key.public_key() == &self.signer
            && self.first.0 != self.second.0
            && [&self.first, &self.second]
                .iter()
                .all(|(subject, signature)| {
                    key.verify(
                        &domain.digest(self.epoch, self.view, self.phase, subject),
                        signature,
                    )
                })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::committee::Member;
    use crate::crypto::{aggregate_signatures, Scheme, SecretKey};

    fn setup(n: u64) -> (Vec<SecretKey>, Committee, Domain) {
        let keys: Vec<SecretKey> = (0..n)
            .map(|i| SecretKey::bls_from_ikm(&[i as u8 + 1; 32]).unwrap())
            .collect();
        let members = Member::equal_stakes(&keys, 10);
        let committee = Committee::new(0, Scheme::Bls, Hash::ZERO, members).unwrap();
        (
            keys,
            committee,
            Domain {
                chain_id: 31337,
                bridge: [7; 20],
            },
        )
    }

    fn certify(
        keys: &[SecretKey],
        signers: &[u32],
        committee: &Committee,
        domain: &Domain,
        hash: Hash,
    ) -> Certificate {
        let digest = domain.digest(0, 5, Phase::Vote, &hash);
        let sigs: Vec<Signature> = signers
            .iter()
            .map(|i| keys[*i as usize].sign(&digest))
            .collect();
        let mut bitmap = committee.empty_bitmap();
        signers.iter().for_each(|i| bitmap.set(*i));
        Certificate {
            epoch: 0,
            view: 5,
            block_hash: hash,
            signers: bitmap,
            signature: aggregate_signatures(Scheme::Bls, &sigs).unwrap(),
        }
    }

    #[test]
    fn header_hash_is_the_keccak_of_its_abi_encoding() {
        let h = Header {
            parent: Hash([1; 32]),
            height: 2,
            view: 3,
            epoch: 4,
            payload_digest: Hash([5; 32]),
            da_commitment: Hash([6; 32]),
            timestamp_ms: 7,
            proposer: 8,
        };
        let mut enc = Vec::new();
        enc.extend([1u8; 32]);
        for v in [2u64, 3, 4] {
            enc.extend(Hash::from_u64(v).0);
        }
        enc.extend([5u8; 32]);
        enc.extend([6u8; 32]);
        enc.extend(Hash::from_u64(7).0);
        enc.extend(Hash::from_u64(8).0);
        assert_eq!(h.hash(), keccak256(&enc));
    }

    #[test]
    fn digests_separate_every_field() {
        let d = Domain {
            chain_id: 1,
            bridge: [0; 20],
        };
        let base = d.digest(1, 2, Phase::Vote, &Hash::ZERO);
        assert_ne!(
            base,
            Domain { chain_id: 2, ..d }.digest(1, 2, Phase::Vote, &Hash::ZERO)
        );
        assert_ne!(
            base,
            Domain {
                bridge: [1; 20],
                ..d
            }
            .digest(1, 2, Phase::Vote, &Hash::ZERO)
        );
        assert_ne!(base, d.digest(2, 2, Phase::Vote, &Hash::ZERO));
        assert_ne!(base, d.digest(1, 3, Phase::Vote, &Hash::ZERO));
        assert_ne!(base, d.digest(1, 2, Phase::Commit, &Hash::ZERO));
        assert_ne!(base, d.digest(1, 2, Phase::Vote, &Hash([1; 32])));
    }

    #[test]
    fn certificate_needs_more_than_two_thirds_and_a_valid_aggregate() {
        let (keys, committee, domain) = setup(6);
        let hash = keccak256(b"block");
        assert_eq!(
            certify(&keys, &[0, 1, 2, 3, 4], &committee, &domain, hash).verify(
                &committee,
                &domain,
                Phase::Vote
            ),
            Ok(())
        );
        // Exactly two thirds of the stake is not a quorum.
        assert_eq!(
            certify(&keys, &[0, 1, 2, 3], &committee, &domain, hash).verify(
                &committee,
                &domain,
                Phase::Vote
            ),
            Err(CertificateError::NoQuorum {
                stake: 40,
                quorum: 41
            })
        );
        let cert = certify(&keys, &[0, 1, 2, 3, 4], &committee, &domain, hash);
        assert_eq!(
            cert.verify(&committee, &domain, Phase::Commit),
            Err(CertificateError::BadSignature)
        );
        let mut lied = cert.clone();
        lied.signers.set(5);
        assert_eq!(
            lied.verify(&committee, &domain, Phase::Vote),
            Err(CertificateError::BadSignature)
        );
        let mut other_block = cert;
        other_block.block_hash = keccak256(b"other");
        assert_eq!(
            other_block.verify(&committee, &domain, Phase::Vote),
            Err(CertificateError::BadSignature)
        );
    }

    #[test]
    fn equivocation_evidence_verifies_only_for_two_different_signed_subjects() {
        let (keys, committee, domain) = setup(4);
        let (a, b) = (keccak256(b"a"), keccak256(b"b"));
        let sign = |h: &Hash| keys[1].sign(&domain.digest(0, 9, Phase::Vote, h));
        let ev = Equivocation {
            signer: keys[1].public_key(),
            epoch: 0,
            view: 9,
            phase: Phase::Vote,
            first: (a, sign(&a)),
            second: (b, sign(&b)),
        };
        let key = committee.key(1).unwrap();
        assert!(ev.verify(key, &domain));
        assert!(!Equivocation {
            second: (a, sign(&a)),
            ..ev.clone()
        }
        .verify(key, &domain));
        assert!(!Equivocation {
            view: 10,
            ..ev.clone()
        }
        .verify(key, &domain));
        assert!(!ev.verify(committee.key(2).unwrap(), &domain));
    }

    #[test]
    fn a_later_view_certificate_is_for_an_epochs_last_block_only() {
        let qc = QuorumCert::genesis(0, Hash::ZERO, 1);
        let mut header = Header::genesis(0);
        header.view = 5;
        let plain = Block::new(header.clone(), qc.clone());
        let next = Some(NextEpoch {
            epoch: 1,
            l1_block: 1,
            members: Vec::new(),
        });
        header.payload_digest = crate::block_payload_digest(&[], next.as_ref());
        let end = Block::ending_epoch(header, qc, Vec::new(), next);
        let fc = |b: &Block, view| {
            FinalityCert(Certificate {
                view,
                ..QuorumCert::genesis(0, b.hash(), 1).0
            })
        };
        assert!(fc(&plain, 5).is_for(&plain));
        assert!(!fc(&plain, 7).is_for(&plain), "only H3 makes a later view");
        assert!(fc(&end, 7).is_for(&end) && !fc(&end, 7).at_block_view(&end.header));
        assert!(!fc(&end, 4).is_for(&end), "never an earlier view");
        assert!(!fc(&plain, 5).is_for(&end), "another block");
    }
}
