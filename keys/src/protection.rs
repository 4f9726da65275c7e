//! Slashing protection: what this validator's key has signed, kept so that it never
//! signs twice for one view, whatever happens to the chain data.
//!
//! The record is the consensus safety state (`docs/protocol.md` §3): the highest view the
//! key voted or timed out in, its last vote, timeout and proposal, and the highest
//! certificate it knew. It lives in its own database, `<data-dir>/protection`, apart from
//! the chain store (`<data-dir>/db`), so wiping or resyncing the chain never lets the key
//! sign again in a view it already signed. Every write is synced before it returns: the
//! engine releases a signed message only after its record is durable (S5).
//!
//! [`interchange`] moves the record between machines (`synod keys protection
//! export|import`); an import merges and never lowers protection.
//!
//! It does not decide what may be signed (the engine's safety rules do) and holds nothing
//! else: no blocks, no transactions.

pub mod interchange;

use std::path::Path;

use prost::Message as _;
use rocksdb::{ColumnFamilyDescriptor, Options, WriteOptions, DB};
use thiserror::Error;

use synod_consensus::SafetyState;
use synod_types::committee::MAX_COMMITTEE_SIZE;
use synod_types::wire::{self, Limits, WireError};
use synod_types::{Message, QuorumCert};

/// The column family of the record.
const CF_SAFETY: &str = "safety";
/// The record's key.
const KEY: &[u8] = b"state";

/// What went wrong with the protection database.
#[derive(Debug, Error)]
pub enum ProtectionError {
    /// RocksDB reported an error.
    #[error("slashing-protection database: {0}")]
    Db(#[from] rocksdb::Error),
    /// The record does not decode: do not sign until it is restored (for instance from an
    /// interchange file, `synod keys protection import`).
    #[error("the slashing-protection record is corrupt ({0}); restore it from an interchange export before signing again")]
    Corrupt(WireError),
}

/// The record as stored.
#[derive(Clone, PartialEq, prost::Message)]
struct SafetyRecord {
    #[prost(uint64, tag = "1")]
    epoch: u64,
    #[prost(uint64, tag = "2")]
    highest_vote_view: u64,
    #[prost(bytes = "vec", tag = "3")]
    high_qc: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    last_vote: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    last_timeout: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    last_proposal: Vec<u8>,
    /// Empty when none (records written before it existed have none).
    #[prost(bytes = "vec", tag = "7")]
    high_tc: Vec<u8>,
}

/// The slashing-protection database of one key.
#[derive(Debug)]
pub struct Protection {
    db: DB,
    limits: Limits,
}

impl Protection {
    /// Opens (creating if needed) the database at `path`. Families a database written by
    /// an earlier version holds besides the record's are opened and left alone.
    pub fn open(path: &Path) -> Result<Protection, ProtectionError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let mut families = DB::list_cf(&options, path).unwrap_or_default();
        if !families.iter().any(|f| f == CF_SAFETY) {
            families.push(CF_SAFETY.into());
        }
        let descriptors = families
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors(&options, path, descriptors)?;
        Ok(Protection {
            db,
            // Signed messages of any committee this key may sit in decode.
            limits: Limits::new(MAX_COMMITTEE_SIZE),
        })
    }

    fn cf(&self) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(CF_SAFETY)
            .expect("the safety family is created at open")
    }

    /// Records `state` and syncs it to disk before returning (S5).
    pub fn save(&self, state: &SafetyState) -> Result<(), ProtectionError> {
        let encode = |m: Option<Message>| m.map(|m| wire::encode_message(&m)).unwrap_or_default();
        let record = SafetyRecord {
            epoch: state.epoch,
            highest_vote_view: state.highest_vote_view,
            high_qc: wire::encode_certificate(&state.high_qc.0),
            last_vote: encode(state.last_vote.clone().map(Message::Vote)),
            last_timeout: encode(state.last_timeout.clone().map(Message::Timeout)),
            last_proposal: encode(state.last_proposal.clone().map(Message::Proposal)),
            high_tc: state
                .high_tc
                .as_ref()
                .map(wire::encode_timeout_cert)
                .unwrap_or_default(),
        };
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .put_cf_opt(self.cf(), KEY, record.encode_to_vec(), &options)?;
        Ok(())
    }

    /// The recorded state (`None`: this key never signed with this database).
    pub fn load(&self) -> Result<Option<SafetyState>, ProtectionError> {
        let Some(bytes) = self.db.get_cf(self.cf(), KEY)? else {
            return Ok(None);
        };
        let record = SafetyRecord::decode(bytes.as_slice())
            .map_err(|e| ProtectionError::Corrupt(WireError::Decode(e.to_string())))?;
        let message = |b: &[u8]| -> Result<Option<Message>, ProtectionError> {
            if b.is_empty() {
                return Ok(None);
            }
            wire::decode_message(b, &self.limits)
                .map(Some)
                .map_err(ProtectionError::Corrupt)
        };
        let high_qc = QuorumCert(
            wire::decode_certificate(&record.high_qc, &self.limits)
                .map_err(ProtectionError::Corrupt)?,
        );
        let last_vote = match message(&record.last_vote)? {
            Some(Message::Vote(v)) => Some(v),
            _ => None,
        };
        let last_timeout = match message(&record.last_timeout)? {
            Some(Message::Timeout(t)) => Some(t),
            _ => None,
        };
        let last_proposal = match message(&record.last_proposal)? {
            Some(Message::Proposal(p)) => Some(p),
            _ => None,
        };
        let high_tc = if record.high_tc.is_empty() {
            None
        } else {
            Some(
                wire::decode_timeout_cert(&record.high_tc, &self.limits)
                    .map_err(ProtectionError::Corrupt)?,
            )
        };
        Ok(Some(SafetyState {
            epoch: record.epoch,
            highest_vote_view: record.highest_vote_view,
            high_qc,
            last_vote,
            last_timeout,
            last_proposal,
            high_tc,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::{Certificate, CommitVote, Hash, Signature, SignerBitmap, TimeoutCert, Vote};

    pub(crate) fn state(epoch: u64, view: u64) -> SafetyState {
        let qc = Certificate {
            epoch,
            view: view - 1,
            block_hash: Hash([3; 32]),
            signers: SignerBitmap::new(4),
            signature: Signature([9; 96]),
        };
        SafetyState {
            epoch,
            highest_vote_view: view,
            high_qc: QuorumCert(qc.clone()),
            last_vote: Some(Vote {
                epoch,
                view,
                block_hash: Hash([4; 32]),
                voter: 1,
                signature: Signature([1; 96]),
                commit: Some(CommitVote {
                    view: view - 1,
                    block_hash: Hash([3; 32]),
                    signature: Signature([2; 96]),
                }),
            }),
            last_timeout: None,
            last_proposal: None,
            high_tc: Some(TimeoutCert {
                epoch,
                view: view - 1,
                signers: SignerBitmap::new(4),
                high_qc_views: vec![view - 2; 3],
                signature: Signature([5; 96]),
                high_qc: QuorumCert(qc.clone()),
            }),
        }
    }

    #[test]
    fn the_record_survives_a_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("protection");
        {
            let p = Protection::open(&dir).unwrap();
            assert_eq!(p.load().unwrap(), None);
            p.save(&state(2, 10)).unwrap();
            p.save(&state(2, 11)).unwrap();
        }
        let p = Protection::open(&dir).unwrap();
        assert_eq!(p.load().unwrap(), Some(state(2, 11)));
    }

    #[test]
    fn a_database_of_the_earlier_layout_opens_with_its_record() {
        // Earlier versions kept the record in a database with the chain store's families
        // too: it opens with its record, and is never started afresh.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("protection-legacy");
        Protection::open(&dir).unwrap().save(&state(1, 7)).unwrap();
        {
            let mut options = Options::default();
            options.create_missing_column_families(true);
            let families = ["safety", "blocks", "meta", "pending"];
            DB::open_cf(&options, &dir, families).unwrap();
        }
        let p = Protection::open(&dir).unwrap();
        assert_eq!(p.load().unwrap(), Some(state(1, 7)));
    }

    #[test]
    fn a_corrupt_record_is_an_error_not_a_fresh_start() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("protection-corrupt");
        let p = Protection::open(&dir).unwrap();
        p.db.put_cf(p.cf(), KEY, b"\x0a\x05abc").unwrap();
        assert!(matches!(p.load(), Err(ProtectionError::Corrupt(_))));
    }
}
