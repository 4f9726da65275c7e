//! `synod keys new|import|list`.

use std::io::Write;

use anyhow::{Context, Result};
use rand::RngCore;
use synod_types::SecretKey;

use crate::cli::{KdfArg, KeysCommand};
use crate::datadir;
use crate::keys::{list, read_bounded, read_password, save};
use synod_keys::keystore::{Kdf, Keystore, PBKDF2_C, SCRYPT_N};

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
            let path = save(&dir.data_dir, &keystore)?;
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
            let path = save(&dir.data_dir, &ks)?;
            writeln!(
                out,
                "imported key 0x{}\nkeystore {}",
                ks.pubkey,
                path.display()
            )?;
        }
        KeysCommand::Protection(_) => unreachable!("dispatched by synod_node::run"),
        KeysCommand::List { dir } => {
            let keys = list(&dir.data_dir)?;
            if keys.is_empty() {
                writeln!(
                    out,
                    "no keystores in {}",
                    datadir::keys(&dir.data_dir).display()
                )?;
            }
            for (path, ks) in keys {
                writeln!(out, "0x{}  {}", ks.pubkey, path.display())?;
            }
        }
    }
    Ok(true)
}
