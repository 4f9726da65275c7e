//! Key material on disk: the validator keystores of a data directory, password files, and
//! the L1 account that sends this node's transactions.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use alloy::signers::local::PrivateKeySigner;
use anyhow::{bail, Context, Result};
use synod_types::SecretKey;

use crate::datadir;
use synod_keys::keystore::Keystore;

/// Environment variable with the sending account's private key (hex), when no keystore
/// file is given.
pub const PRIVATE_KEY_ENV: &str = "SYNOD_L1_PRIVATE_KEY";

/// Largest keystore or password file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Reads a small text file (a keystore or a password), refusing one over 64 KiB.
pub fn read_bounded(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        bail!(
            "{} is {} bytes; a keystore or password file is at most {MAX_FILE_BYTES}",
            path.display(),
            meta.len()
        );
    }
    fs::read_to_string(path)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))
}

/// Opens the one validator keystore of `data_dir` with the password in `password_file`.
pub fn open_validator_key(data_dir: &Path, password_file: &Path) -> Result<SecretKey> {
    let found = list(data_dir)?;
    let (path, keystore) = match found.as_slice() {
        [one] => one,
        [] => bail!(
            "no validator keystore in {}: create one with `synod keys new`, or run a full node with --node.role full",
            datadir::keys(data_dir).display()
        ),
        _ => bail!(
            "{} keystores in {}: a validator signs with exactly one",
            found.len(),
            datadir::keys(data_dir).display()
        ),
    };
    let password = read_password(password_file)?;
    keystore
        .decrypt(&password)
        .with_context(|| format!("opening {}", path.display()))
}

/// Reads a password file; a trailing newline is not part of the password.
pub fn read_password(path: &Path) -> Result<String> {
    let password = read_bounded(path)?;
    if password.trim().is_empty() {
        bail!("the password file {} is empty", path.display());
    }
    Ok(password)
}

/// Writes a keystore into the data directory (owner-only, synced); refuses to overwrite.
pub fn save(data_dir: &Path, keystore: &Keystore) -> Result<PathBuf> {
    let dir = datadir::keys(data_dir);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{}.json", keystore.pubkey));
    if path.exists() {
        bail!(
            "a keystore for 0x{} already exists at {}",
            keystore.pubkey,
            path.display()
        );
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(keystore.to_json().as_bytes())?;
    file.sync_all()?;
    Ok(path)
}

/// The keystores in the data directory, by file name.
pub fn list(data_dir: &Path) -> Result<Vec<(PathBuf, Keystore)>> {
    let dir = datadir::keys(data_dir);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let ks = Keystore::from_json(&read_bounded(&path)?)
                .with_context(|| format!("reading {}", path.display()))?;
            out.push((path, ks));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The sending account: `--l1.key-file` with its password file, else `SYNOD_L1_PRIVATE_KEY`.
pub fn l1_signer(
    key_file: Option<&Path>,
    password_file: Option<&Path>,
) -> Result<Option<PrivateKeySigner>> {
    if let Some(file) = key_file {
        let Some(password_file) = password_file else {
            bail!("--l1.key-file needs --l1.key-password-file");
        };
        let password = read_password(password_file)?;
        let signer = PrivateKeySigner::decrypt_keystore(file, password)
            .with_context(|| format!("opening the L1 keystore {}", file.display()))?;
        return Ok(Some(signer));
    }
    match std::env::var(PRIVATE_KEY_ENV) {
        Ok(hex) => Ok(Some(hex.trim().parse().with_context(|| {
            format!("{PRIVATE_KEY_ENV} is not a 32-byte hex private key")
        })?)),
        Err(_) => Ok(None),
    }
}
