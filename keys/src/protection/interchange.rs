//! The slashing-protection interchange (`synod keys protection export|import`): what a
//! key has signed, as JSON, to move a validator between machines or restore it after a
//! wiped disk, in the spirit of Ethereum's EIP-3076.
//!
//! ```json
//! {"metadata": {"interchange_format": "synod.slashing-protection", "version": 1},
//!  "data": [{"pubkey": "0x…", "epoch": 3, "highest_vote_view": 812,
//!            "last_proposal_view": 809, "high_qc": "0x…"}]}
//! ```
//!
//! An import merges into what the node holds and never lowers protection:
//! - within one epoch, the floor (no signature at or below it) is one view past the
//!   highest view voted, timed out or proposed in: a message of that view is not carried
//!   by the interchange, so it must never be made differently again; the higher
//!   certificate wins; a vote or timeout below the new floor is dropped so it is never
//!   re-sent as current;
//! - a record of an earlier epoch than the node's changes nothing (signatures carry their
//!   epoch, so nothing signed then conflicts with what is signed now); one of a later
//!   epoch replaces the node's (the key signed there already; the node follows without
//!   signing until it reaches that epoch);
//! - every record for the key is merged, in order; records for other keys are ignored.
//!
//! Refused: another format or version, unknown fields, a certificate that is not hex, does
//! not decode or is of another epoch than its record, a file without a record for the
//! key, a file over [`MAX_FILE_BYTES`].

use serde::{Deserialize, Serialize};
use thiserror::Error;

use synod_consensus::SafetyState;
use synod_types::committee::MAX_COMMITTEE_SIZE;
use synod_types::wire::{self, Limits};
use synod_types::QuorumCert;

/// Format name in the interchange metadata.
pub const FORMAT: &str = "synod.slashing-protection";
/// The version written and read.
pub const VERSION: u32 = 1;
/// Largest interchange document read.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Why an interchange document is refused.
#[derive(Debug, Error)]
pub enum InterchangeError {
    /// Over [`MAX_FILE_BYTES`].
    #[error("the interchange is {0} bytes, more than the 1 MiB read")]
    TooLarge(usize),
    /// Not JSON of this layout.
    #[error("not a slashing-protection interchange: {0}")]
    Json(#[from] serde_json::Error),
    /// Another format or version.
    #[error(
        "unsupported interchange {format} version {version} (expected {FORMAT} version {VERSION})"
    )]
    Format {
        /// The format named.
        format: String,
        /// The version named.
        version: u32,
    },
    /// Nothing for this key.
    #[error("the interchange has no record for this node's key {0}")]
    NoRecord(String),
    /// The certificate field of a record.
    #[error("the record's high_qc {0}")]
    HighQc(String),
}

/// The interchange document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interchange {
    /// Format and version.
    pub metadata: Metadata,
    /// One record per key (several for one key are merged).
    pub data: Vec<Record>,
}

/// Format and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Always [`FORMAT`].
    pub interchange_format: String,
    /// [`VERSION`].
    pub version: u32,
}

/// What one key has signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// BLS public key, 0x-hex.
    pub pubkey: String,
    /// Epoch of the record.
    pub epoch: u64,
    /// Highest view voted or timed out in.
    pub highest_vote_view: u64,
    /// View of the last proposal signed.
    pub last_proposal_view: u64,
    /// Highest quorum certificate known, wire encoding as 0x-hex.
    pub high_qc: String,
}

impl Record {
    /// The record's certificate, decoded with the bounds of network input.
    pub fn high_qc(&self) -> Result<QuorumCert, InterchangeError> {
        let bytes = hex::decode(self.high_qc.trim_start_matches("0x"))
            .map_err(|_| InterchangeError::HighQc("is not hex".into()))?;
        let qc = wire::decode_certificate(&bytes, &Limits::new(MAX_COMMITTEE_SIZE))
            .map_err(|e| InterchangeError::HighQc(format!("does not decode: {e}")))?;
        if qc.epoch != self.epoch {
            return Err(InterchangeError::HighQc(format!(
                "is of epoch {}, the record of epoch {}",
                qc.epoch, self.epoch
            )));
        }
        Ok(QuorumCert(qc))
    }
}

impl Interchange {
    /// Parses a document, refusing other formats and versions.
    pub fn parse(text: &str) -> Result<Interchange, InterchangeError> {
        if text.len() > MAX_FILE_BYTES {
            return Err(InterchangeError::TooLarge(text.len()));
        }
        let doc: Interchange = serde_json::from_str(text)?;
        if doc.metadata.interchange_format != FORMAT || doc.metadata.version != VERSION {
            return Err(InterchangeError::Format {
                format: doc.metadata.interchange_format,
                version: doc.metadata.version,
            });
        }
        Ok(doc)
    }

    /// The document for `pubkey` (0x-hex) holding `state` (none: an empty `data`).
    pub fn export(pubkey: &str, state: Option<&SafetyState>) -> Interchange {
        Interchange {
            metadata: Metadata {
                interchange_format: FORMAT.into(),
                version: VERSION,
            },
            data: state
                .map(|s| Record {
                    pubkey: pubkey.into(),
                    epoch: s.epoch,
                    highest_vote_view: s.highest_vote_view,
                    last_proposal_view: s.last_proposal_view(),
                    high_qc: format!("0x{}", hex::encode(wire::encode_certificate(&s.high_qc.0))),
                })
                .into_iter()
                .collect(),
        }
    }

    /// Merges every record for `pubkey` (0x-hex, any case) into `current`.
    pub fn import(
        &self,
        pubkey: &str,
        mut current: Option<SafetyState>,
    ) -> Result<SafetyState, InterchangeError> {
        let mut found = false;
        for record in self
            .data
            .iter()
            .filter(|r| r.pubkey.eq_ignore_ascii_case(pubkey))
        {
            found = true;
            current = Some(merge(current, record, record.high_qc()?));
        }
        match current {
            Some(state) if found => Ok(state),
            _ => Err(InterchangeError::NoRecord(pubkey.into())),
        }
    }
}

/// Merges one record into the current state; protection never decreases (module doc).
pub fn merge(current: Option<SafetyState>, record: &Record, high_qc: QuorumCert) -> SafetyState {
    let floor = record
        .highest_vote_view
        .max(record.last_proposal_view)
        .saturating_add(1);
    let fresh = || SafetyState {
        epoch: record.epoch,
        highest_vote_view: floor,
        high_qc: high_qc.clone(),
        last_vote: None,
        last_timeout: None,
        last_proposal: None,
        high_tc: None,
    };
    match current {
        None => fresh(),
        Some(s) if record.epoch > s.epoch => fresh(),
        Some(s) if record.epoch < s.epoch => s,
        Some(mut s) => {
            if floor > s.highest_vote_view {
                s.highest_vote_view = floor;
                // Messages of lower views must not be re-sent as current.
                s.last_vote = None;
                s.last_timeout = None;
            }
            if high_qc.view() > s.high_qc.view() {
                s.high_qc = high_qc;
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    //! Test vectors in the style of the EIP-3076 interchange tests: each case is a
    //! starting state, one or more documents imported in turn, and what must come out
    //! (the floor, the certificate's view, the epoch), or the refusal.

    use super::*;
    use synod_types::{Certificate, Hash, Signature, SignerBitmap};

    const KEY: &str = "0xaa01";

    fn qc(epoch: u64, view: u64) -> QuorumCert {
        QuorumCert(Certificate {
            epoch,
            view,
            block_hash: Hash([view as u8; 32]),
            signers: SignerBitmap::new(4),
            signature: Signature([7; 96]),
        })
    }

    fn qc_hex(epoch: u64, view: u64) -> String {
        format!(
            "0x{}",
            hex::encode(wire::encode_certificate(&qc(epoch, view).0))
        )
    }

    fn record(pubkey: &str, epoch: u64, vote: u64, proposal: u64, qc_view: u64) -> String {
        format!(
            r#"{{"pubkey": "{pubkey}", "epoch": {epoch}, "highest_vote_view": {vote}, "last_proposal_view": {proposal}, "high_qc": "{}"}}"#,
            qc_hex(epoch, qc_view)
        )
    }

    fn doc(records: &[String]) -> String {
        format!(
            r#"{{"metadata": {{"interchange_format": "{FORMAT}", "version": 1}}, "data": [{}]}}"#,
            records.join(", ")
        )
    }

    fn state(epoch: u64, floor: u64, qc_view: u64) -> SafetyState {
        SafetyState {
            epoch,
            highest_vote_view: floor,
            high_qc: qc(epoch, qc_view),
            last_vote: None,
            last_timeout: None,
            last_proposal: None,
            high_tc: None,
        }
    }

    /// (epoch, floor, certificate view) of the state after importing `docs` in turn.
    fn import_all(
        current: Option<SafetyState>,
        docs: &[String],
    ) -> Result<(u64, u64, u64), String> {
        let mut current = current;
        for text in docs {
            let doc = Interchange::parse(text).map_err(|e| e.to_string())?;
            current = Some(doc.import(KEY, current).map_err(|e| e.to_string())?);
        }
        let s = current.expect("at least one document");
        Ok((s.epoch, s.highest_vote_view, s.high_qc.view()))
    }

    #[test]
    fn accepted_imports_never_lower_protection() {
        type Case = (
            &'static str,
            Option<SafetyState>,
            Vec<String>,
            (u64, u64, u64),
        );
        let cases: Vec<Case> = vec![
            (
                "into an empty database: one view past the highest signed",
                None,
                vec![doc(&[record(KEY, 2, 40, 38, 39)])],
                (2, 41, 39),
            ),
            (
                "a proposal above the votes sets the floor",
                None,
                vec![doc(&[record(KEY, 2, 40, 45, 39)])],
                (2, 46, 39),
            ),
            (
                "the same document twice is the same as once",
                None,
                vec![
                    doc(&[record(KEY, 2, 40, 0, 39)]),
                    doc(&[record(KEY, 2, 40, 0, 39)]),
                ],
                (2, 41, 39),
            ),
            (
                "an older record of the same epoch lowers nothing",
                Some(state(2, 90, 88)),
                vec![doc(&[record(KEY, 2, 40, 0, 39)])],
                (2, 90, 88),
            ),
            (
                "a newer record raises the floor and the certificate",
                Some(state(2, 30, 28)),
                vec![doc(&[record(KEY, 2, 40, 0, 39)])],
                (2, 41, 39),
            ),
            (
                "the floor and the certificate are merged independently",
                Some(state(2, 30, 35)),
                vec![doc(&[record(KEY, 2, 40, 0, 20)])],
                (2, 41, 35),
            ),
            (
                "a record of an earlier epoch changes nothing",
                Some(state(5, 10, 9)),
                vec![doc(&[record(KEY, 4, 900, 0, 899)])],
                (5, 10, 9),
            ),
            (
                "a record of a later epoch replaces an older state",
                Some(state(4, 900, 899)),
                vec![doc(&[record(KEY, 5, 10, 0, 9)])],
                (5, 11, 9),
            ),
            (
                "several records for one key are all merged",
                None,
                vec![doc(&[
                    record(KEY, 2, 40, 0, 39),
                    record(KEY, 2, 70, 0, 50),
                    record(KEY, 2, 60, 0, 59),
                ])],
                (2, 71, 59),
            ),
            (
                "the key matches in any case; other keys are ignored",
                None,
                vec![doc(&[
                    record("0xBB02", 2, 500, 0, 499),
                    record("0xAA01", 2, 40, 0, 39),
                ])],
                (2, 41, 39),
            ),
            (
                "successive exports, the later one higher",
                None,
                vec![
                    doc(&[record(KEY, 2, 40, 0, 39)]),
                    doc(&[record(KEY, 2, 80, 0, 79)]),
                ],
                (2, 81, 79),
            ),
        ];
        for (name, current, docs, expected) in cases {
            assert_eq!(import_all(current, &docs), Ok(expected), "{name}");
        }
    }

    #[test]
    fn refused_imports_say_why() {
        let good = record(KEY, 2, 40, 0, 39);
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "another format",
                doc(std::slice::from_ref(&good)).replace(FORMAT, "eip-3076"),
                "unsupported interchange eip-3076",
            ),
            (
                "another version",
                doc(std::slice::from_ref(&good)).replace(r#""version": 1"#, r#""version": 2"#),
                "version 2",
            ),
            (
                "an unknown field",
                doc(&[good.replace(r#""epoch""#, r#""slot": 1, "epoch""#)]),
                "unknown field",
            ),
            (
                "a missing field",
                doc(&[good.replace(r#""last_proposal_view": 0, "#, "")]),
                "missing field",
            ),
            ("not JSON", "{".into(), "not a slashing-protection"),
            (
                "no record for the key",
                doc(&[record("0xbb02", 2, 40, 0, 39)]),
                "no record",
            ),
            ("an empty document", doc(&[]), "no record"),
            (
                "a certificate that is not hex",
                doc(&[good.replace(&qc_hex(2, 39), "0xzz")]),
                "is not hex",
            ),
            (
                "a certificate that does not decode",
                doc(&[good.replace(&qc_hex(2, 39), "0x0102")]),
                "does not decode",
            ),
            (
                "a certificate of another epoch",
                doc(&[good.replace(&qc_hex(2, 39), &qc_hex(3, 39))]),
                "of epoch 3",
            ),
            (
                "more than a mebibyte",
                format!(
                    "{}{}",
                    doc(std::slice::from_ref(&good)),
                    " ".repeat(MAX_FILE_BYTES)
                ),
                "more than the 1 MiB",
            ),
        ];
        for (name, text, reason) in cases {
            let error = import_all(Some(state(2, 5, 4)), &[text]).unwrap_err();
            assert!(error.contains(reason), "{name}: {error}");
        }
    }

    #[test]
    fn an_export_imports_back_to_the_same_protection() {
        let mut s = state(3, 77, 70);
        s.last_proposal = None;
        let text = serde_json::to_string(&Interchange::export(KEY, Some(&s))).unwrap();
        let back = Interchange::parse(&text)
            .unwrap()
            .import(KEY, None)
            .unwrap();
        // One view past what was signed, with the same certificate.
        assert_eq!((back.epoch, back.highest_vote_view), (3, 78));
        assert_eq!(back.high_qc, s.high_qc);
        // Nothing signed: nothing to import.
        let empty = serde_json::to_string(&Interchange::export(KEY, None)).unwrap();
        assert!(Interchange::parse(&empty)
            .unwrap()
            .import(KEY, None)
            .is_err());
    }
}
