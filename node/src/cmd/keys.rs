//! `synod keys new|import|list`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::RngCore;
use synod_types::SecretKey;

use crate::cli::{KdfArg, KeysCommand};
use crate::keys::keystore::{Kdf, Keystore, PBKDF2_C, SCRYPT_N};

/// Runs a `keys` subcommand; returns whether it succeeded.
pub fn run(command: &KeysCommand) -> Result<bool> {
    let mut out = std::io::stdout().lock();
    match command {
        KeysCommand::New {
            dir,
            password_file,
            kdf,
        } => {
            let password = read_password(password_file)?;
            let mut ikm = zeroize::Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(ikm.as_mut());
            let sk = SecretKey::bls_from_ikm(ikm.as_ref())?;
            let kdf = match kdf {
                KdfArg::Scrypt => Kdf::Scrypt { n: SCRYPT_N },
                KdfArg::Pbkdf2 => Kdf::Pbkdf2 { c: PBKDF2_C },
            };
            let keystore = Keystore::encrypt(&sk, &password, kdf, "", "synod validator key")?;
            let path = store(&dir.data_dir, &keystore)?;
            writeln!(
                out,
                "created key 0x{}\nkeystore {}",
                keystore.pubkey,
                path.display()
            )?;
        }
        KeysCommand::Import {
            dir,
            keystore,
            password_file,
        } => {
            let json = read_bounded(keystore)?;
            let ks = Keystore::from_json(&json)
                .with_context(|| format!("reading {}", keystore.display()))?;
            let sk = ks
                .decrypt(&read_password(password_file)?)
                .with_context(|| format!("opening {}", keystore.display()))?;
            let ks = Keystore {
                pubkey: hex::encode(sk.public_key().0),
                ..ks
            };
            let path = store(&dir.data_dir, &ks)?;
            writeln!(
                out,
                "imported key 0x{}\nkeystore {}",
                ks.pubkey,
                path.display()
            )?;
        }
        KeysCommand::Protection(command) => return crate::cmd::protection::run(command),
        KeysCommand::List { dir } => {
            let keys = list(&dir.data_dir)?;
            if keys.is_empty() {
                writeln!(out, "no keystores in {}", keys_dir(&dir.data_dir).display())?;
            }
            for (path, ks) in keys {
                writeln!(out, "0x{}  {}", ks.pubkey, path.display())?;
            }
        }
    }
    Ok(true)
}

/// Largest keystore or password file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

fn read_bounded(path: &Path) -> Result<String> {
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
            keys_dir(data_dir).display()
        ),
        _ => bail!(
            "{} keystores in {}: a validator signs with exactly one",
            found.len(),
            keys_dir(data_dir).display()
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

/// The folder of the keystores.
pub fn keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

fn store(data_dir: &Path, keystore: &Keystore) -> Result<PathBuf> {
    let dir = keys_dir(data_dir);
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
    let dir = keys_dir(data_dir);
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
