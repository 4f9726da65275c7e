//! `synod keys protection export|import`: the slashing-protection record of a
//! validator key as interchange JSON (`synod_keys::protection::interchange`).

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::ProtectionCommand;
use crate::datadir;
use crate::keys as files;
use synod_keys::protection::interchange::{Interchange, MAX_FILE_BYTES};
use synod_keys::protection::Protection;

/// The 0x-hex public key of the data directory's one keystore.
fn the_key(data_dir: &Path) -> Result<String> {
    match files::list(data_dir)?.as_slice() {
        [(_, ks)] => Ok(format!("0x{}", ks.pubkey)),
        [] => bail!("no keystore in {}", datadir::keys(data_dir).display()),
        many => bail!(
            "{} keystores in {}; expected one",
            many.len(),
            datadir::keys(data_dir).display()
        ),
    }
}

fn open(data_dir: &Path) -> Result<Protection> {
    Ok(Protection::open(&datadir::protection(data_dir))?)
}

/// Runs a `keys protection` subcommand.
pub fn run(command: &ProtectionCommand) -> Result<bool> {
    match command {
        ProtectionCommand::Export { dir, out } => {
            let pubkey = the_key(&dir.data_dir)?;
            let state = open(&dir.data_dir)?.load()?;
            let json = serde_json::to_string_pretty(&Interchange::export(&pubkey, state.as_ref()))?;
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
            if meta.len() > MAX_FILE_BYTES as u64 {
                bail!("{} is larger than 1 MiB", file.display());
            }
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let doc = Interchange::parse(&text).with_context(|| file.display().to_string())?;
            let pubkey = the_key(&dir.data_dir)?;
            let protection = open(&dir.data_dir)?;
            let merged = doc.import(&pubkey, protection.load()?)?;
            protection.save(&merged)?;
            crate::cmd::print(&format!(
                "imported: no signature for {pubkey} below view {} of epoch {}",
                merged.highest_vote_view, merged.epoch
            ))?;
        }
    }
    Ok(true)
}
