//! `synod keys protection export|import`: the slashing-protection record of a
//! validator key as interchange JSON.
//!
//! The record is the consensus safety state (`docs/protocol.md` §3): the highest view
//! the key voted or timed out in, its last proposal, and the highest certificate it
//! knew. It lives in `<data-dir>/protection`, apart from the chain data, so wiping or
//! resyncing the database never lets the key sign again in a view it already signed.
//!
//! Import merges: views only go up, the higher certificate wins, and one extra view is
//! skipped past the highest signed one, because a proposal or vote made in that view
//! is not carried by the interchange and must never be made differently again.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use synod_consensus::SafetyState;
use synod_types::committee::MAX_COMMITTEE_SIZE;
use synod_types::wire::{self, Limits};
use synod_types::QuorumCert;

use crate::cli::ProtectionCommand;
use crate::cmd::keys;
use crate::cmd::start::protection_path;
use crate::storage::Store;

/// Format name in the interchange metadata.
pub const FORMAT: &str = "synod.slashing-protection";
/// Largest interchange file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The interchange document.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interchange {
    /// Format and version.
    pub metadata: Metadata,
    /// One record per key.
    pub data: Vec<Record>,
}

/// Format and version.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Always [`FORMAT`].
    pub interchange_format: String,
    /// Version 1.
    pub version: u32,
}

/// What one key has signed.
#[derive(Debug, Serialize, Deserialize)]
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

fn the_key(data_dir: &Path) -> Result<String> {
    match keys::list(data_dir)?.as_slice() {
        [(_, ks)] => Ok(format!("0x{}", ks.pubkey)),
        [] => bail!("no keystore in {}", keys::keys_dir(data_dir).display()),
        many => bail!(
            "{} keystores in {}; expected one",
            many.len(),
            keys::keys_dir(data_dir).display()
        ),
    }
}

fn open(data_dir: &Path) -> Result<Store> {
    Ok(Store::open(
        &protection_path(data_dir),
        Limits::new(MAX_COMMITTEE_SIZE),
    )?)
}

/// Runs a `keys protection` subcommand.
pub fn run(command: &ProtectionCommand) -> Result<bool> {
    match command {
        ProtectionCommand::Export { dir, out } => {
            let pubkey = the_key(&dir.data_dir)?;
            let store = open(&dir.data_dir)?;
            let data = store
                .safety()?
                .map(|s| Record {
                    pubkey,
                    epoch: s.epoch,
                    highest_vote_view: s.highest_vote_view,
                    last_proposal_view: s.last_proposal_view(),
                    high_qc: format!("0x{}", hex::encode(wire::encode_certificate(&s.high_qc.0))),
                })
                .into_iter()
                .collect();
            let doc = Interchange {
                metadata: Metadata {
                    interchange_format: FORMAT.into(),
                    version: 1,
                },
                data,
            };
            let json = serde_json::to_string_pretty(&doc)?;
            if out.as_os_str() == "-" {
                crate::cmd::print(&json)?;
            } else {
                std::fs::write(out, json)
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
        }
        ProtectionCommand::Import { dir, file } => {
            let meta = std::fs::metadata(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            if meta.len() > MAX_FILE_BYTES {
                bail!("{} is larger than 1 MiB", file.display());
            }
            let doc: Interchange = serde_json::from_str(&std::fs::read_to_string(file)?)
                .with_context(|| {
                    format!(
                        "{} is not a slashing-protection interchange",
                        file.display()
                    )
                })?;
            if doc.metadata.interchange_format != FORMAT || doc.metadata.version != 1 {
                bail!(
                    "unsupported interchange {} version {}",
                    doc.metadata.interchange_format,
                    doc.metadata.version
                );
            }
            let pubkey = the_key(&dir.data_dir)?;
            let Some(record) = doc
                .data
                .iter()
                .find(|r| r.pubkey.eq_ignore_ascii_case(&pubkey))
            else {
                bail!("the interchange has no record for this node's key {pubkey}");
            };
            let limits = Limits::new(MAX_COMMITTEE_SIZE);
            let qc_bytes = hex::decode(record.high_qc.trim_start_matches("0x"))
                .context("high_qc is not hex")?;
            let high_qc =
                QuorumCert(wire::decode_certificate(&qc_bytes, &limits).context("high_qc")?);
            let store = open(&dir.data_dir)?;
            let merged = merge(store.safety()?, record, high_qc)?;
            store.put_safety(&merged)?;
            crate::cmd::print(&format!(
                "imported: no signature for {pubkey} at or below view {}",
                merged.highest_vote_view
            ))?;
        }
    }
    Ok(true)
}

/// Merges an imported record into the current state; protection never decreases.
pub fn merge(
    current: Option<SafetyState>,
    record: &Record,
    high_qc: QuorumCert,
) -> Result<SafetyState> {
    let floor = record.highest_vote_view.max(record.last_proposal_view) + 1;
    Ok(match current {
        None => SafetyState {
            epoch: record.epoch,
            highest_vote_view: floor,
            high_qc,
            last_vote: None,
            last_timeout: None,
            last_proposal: None,
        },
        Some(mut s) => {
            if s.epoch != record.epoch {
                bail!(
                    "the record is for epoch {}, this node's state for epoch {}",
                    record.epoch,
                    s.epoch
                );
            }
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
    })
}
