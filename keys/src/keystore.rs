//! EIP-2335 keystores for BLS12-381 secret keys.
//!
//! A keystore encrypts the 32-byte secret with AES-128-CTR under a key derived from the
//! password by scrypt or PBKDF2-HMAC-SHA256; a SHA-256 checksum over the second half of
//! the derived key and the ciphertext detects a wrong password. Passwords are NFKD
//! normalized and stripped of control codes (C0, C1, DEL) before use, as the EIP says.
//!
//! A keystore file is untrusted input: its KDF parameters are bounded before any work
//! is done, so a crafted file cannot make the node allocate gigabytes or spin for hours.

use aes::cipher::{KeyIvInit, StreamCipher};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use synod_types::SecretKey;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// scrypt's `n` used for new keystores (2^18, as the EIP's examples).
pub const SCRYPT_N: u32 = 1 << 18;
/// PBKDF2's iteration count used for new keystores.
pub const PBKDF2_C: u32 = 1 << 18;
/// Largest scrypt `n` accepted when decrypting (2^20: 1 GiB of memory with r = 8).
const MAX_SCRYPT_N: u32 = 1 << 20;
/// Largest scrypt `r` and `p` accepted.
const MAX_SCRYPT_R: u32 = 32;
const MAX_SCRYPT_P: u32 = 16;
/// Largest PBKDF2 iteration count accepted.
const MAX_PBKDF2_C: u32 = 1 << 24;

/// What went wrong with a keystore.
#[derive(Debug, Error)]
pub enum KeystoreError {
    /// The JSON does not have the EIP-2335 shape.
    #[error("not an EIP-2335 keystore: {0}")]
    Format(String),
    /// A module or parameter this implementation does not support.
    #[error("unsupported keystore: {0}")]
    Unsupported(String),
    /// The checksum does not match: the password is wrong (or the file is corrupt).
    #[error("wrong password (the keystore checksum does not match)")]
    WrongPassword,
    /// The decrypted secret is not a valid BLS secret key or does not match `pubkey`.
    #[error("the decrypted secret is invalid: {0}")]
    InvalidSecret(String),
}

/// One module of the `crypto` object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Module {
    /// The function name.
    pub function: String,
    /// Its parameters.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Hex message.
    pub message: String,
}

/// The `crypto` object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Crypto {
    /// Key derivation.
    pub kdf: Module,
    /// Checksum of the derived key and ciphertext.
    pub checksum: Module,
    /// Cipher and ciphertext.
    pub cipher: Module,
}

/// An EIP-2335 keystore (version 4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Keystore {
    /// The encrypted secret.
    pub crypto: Crypto,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Hex public key (48 bytes compressed), without `0x`.
    #[serde(default)]
    pub pubkey: String,
    /// EIP-2334 derivation path, or empty.
    pub path: String,
    /// Identifier.
    pub uuid: String,
    /// Always 4.
    pub version: u32,
}

/// Which key derivation function a new keystore uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// scrypt with `n`, r = 8, p = 1.
    Scrypt {
        /// Cost parameter (a power of two).
        n: u32,
    },
    /// PBKDF2-HMAC-SHA256 with `c` iterations.
    Pbkdf2 {
        /// Iterations.
        c: u32,
    },
}

impl Kdf {
    /// The default for new keystores: scrypt with n = 2^18.
    pub const DEFAULT: Kdf = Kdf::Scrypt { n: SCRYPT_N };
}

/// The password as the EIP processes it: NFKD, then without C0, C1 and DEL.
pub fn process_password(password: &str) -> Zeroizing<Vec<u8>> {
    let normalized: String = password
        .nfkd()
        .filter(|c| !matches!(*c as u32, 0x00..=0x1f | 0x7f | 0x80..=0x9f))
        .collect();
    Zeroizing::new(normalized.into_bytes())
}

fn unhex(field: &str, s: &str) -> Result<Vec<u8>, KeystoreError> {
    hex::decode(s.trim_start_matches("0x"))
        .map_err(|_| KeystoreError::Format(format!("`{field}` is not hex")))
}

fn param_u32(m: &Module, name: &str) -> Result<u32, KeystoreError> {
    m.params
        .get(name)
        .and_then(|v| v.as_u64())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            KeystoreError::Format(format!(
                "kdf parameter `{name}` is missing or not a 32-bit integer"
            ))
        })
}

fn param_str<'a>(m: &'a Module, name: &str) -> Result<&'a str, KeystoreError> {
    m.params
        .get(name)
        .and_then(|v| v.as_str())
        .ok_or_else(|| KeystoreError::Format(format!("kdf parameter `{name}` is missing")))
}

fn derive_key(kdf: &Module, password: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    if param_u32(kdf, "dklen")? != 32 {
        return Err(KeystoreError::Unsupported("dklen must be 32".into()));
    }
    let salt = unhex("kdf.params.salt", param_str(kdf, "salt")?)?;
    let mut key = Zeroizing::new([0u8; 32]);
    match kdf.function.as_str() {
        "scrypt" => {
            let (n, r, p) = (
                param_u32(kdf, "n")?,
                param_u32(kdf, "r")?,
                param_u32(kdf, "p")?,
            );
            if !n.is_power_of_two()
                || !(2..=MAX_SCRYPT_N).contains(&n)
                || !(1..=MAX_SCRYPT_R).contains(&r)
                || !(1..=MAX_SCRYPT_P).contains(&p)
            {
                return Err(KeystoreError::Unsupported(format!(
                    "scrypt parameters n={n} r={r} p={p} are outside n ≤ 2^20 (a power of two), r ≤ {MAX_SCRYPT_R}, p ≤ {MAX_SCRYPT_P}"
                )));
            }
            let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p, 32)
                .map_err(|e| KeystoreError::Unsupported(format!("scrypt parameters: {e}")))?;
            scrypt::scrypt(password, &salt, &params, key.as_mut())
                .map_err(|e| KeystoreError::Unsupported(format!("scrypt: {e}")))?;
        }
        "pbkdf2" => {
            let c = param_u32(kdf, "c")?;
            if param_str(kdf, "prf")? != "hmac-sha256" {
                return Err(KeystoreError::Unsupported(
                    "pbkdf2 prf must be hmac-sha256".into(),
                ));
            }
            if c == 0 || c > MAX_PBKDF2_C {
                return Err(KeystoreError::Unsupported(format!(
                    "pbkdf2 count {c} is outside 1..=2^24"
                )));
            }
            pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, c, key.as_mut());
        }
        other => {
            return Err(KeystoreError::Unsupported(format!(
                "kdf function `{other}`"
            )))
        }
    }
    Ok(key)
}

fn checksum(key: &[u8; 32], ciphertext: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&key[16..]);
    h.update(ciphertext);
    h.finalize().into()
}

fn apply_cipher(key: &[u8; 32], iv: &[u8], data: &mut [u8]) -> Result<(), KeystoreError> {
    let iv: [u8; 16] = iv
        .try_into()
        .map_err(|_| KeystoreError::Format("cipher iv must be 16 bytes".into()))?;
    let mut cipher = Aes128Ctr::new(key[..16].into(), &iv.into());
    cipher.apply_keystream(data);
    Ok(())
}

impl Keystore {
    /// Parses a keystore from JSON.
    pub fn from_json(json: &str) -> Result<Keystore, KeystoreError> {
        let ks: Keystore =
            serde_json::from_str(json).map_err(|e| KeystoreError::Format(e.to_string()))?;
        if ks.version != 4 {
            return Err(KeystoreError::Unsupported(format!(
                "version {} (expected 4)",
                ks.version
            )));
        }
        Ok(ks)
    }

    /// The keystore as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a keystore always serializes")
    }

    /// Decrypts the secret key with `password` and checks it against `pubkey`.
    pub fn decrypt(&self, password: &str) -> Result<SecretKey, KeystoreError> {
        let c = &self.crypto;
        if c.cipher.function != "aes-128-ctr" {
            return Err(KeystoreError::Unsupported(format!(
                "cipher `{}`",
                c.cipher.function
            )));
        }
        if c.checksum.function != "sha256" {
            return Err(KeystoreError::Unsupported(format!(
                "checksum `{}`",
                c.checksum.function
            )));
        }
        let ciphertext = unhex("cipher.message", &c.cipher.message)?;
        if ciphertext.len() != 32 {
            return Err(KeystoreError::Format(
                "the encrypted secret must be 32 bytes".into(),
            ));
        }
        let key = derive_key(&c.kdf, &process_password(password))?;
        let expected = unhex("checksum.message", &c.checksum.message)?;
        if checksum(&key, &ciphertext)[..] != expected[..] {
            return Err(KeystoreError::WrongPassword);
        }
        let iv = unhex(
            "cipher.params.iv",
            c.cipher
                .params
                .get("iv")
                .and_then(|v| v.as_str())
                .unwrap_or_default(),
        )?;
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&ciphertext);
        apply_cipher(&key, &iv, secret.as_mut())?;
        let sk = SecretKey::bls_from_bytes(&secret)
            .map_err(|e| KeystoreError::InvalidSecret(e.to_string()))?;
        if !self.pubkey.is_empty()
            && hex::encode(sk.public_key().0) != self.pubkey.trim_start_matches("0x")
        {
            return Err(KeystoreError::InvalidSecret(
                "it does not match the keystore's pubkey".into(),
            ));
        }
        Ok(sk)
    }

    /// Encrypts `secret` under `password` with fresh random salt and IV.
    pub fn encrypt(
        secret: &SecretKey,
        password: &str,
        kdf: Kdf,
        path: &str,
        description: &str,
    ) -> Result<Keystore, KeystoreError> {
        let bytes =
            Zeroizing::new(secret.bls_bytes().ok_or_else(|| {
                KeystoreError::InvalidSecret("only BLS keys can be stored".into())
            })?);
        let mut rng = rand::rngs::OsRng;
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);
        let mut params = serde_json::Map::new();
        params.insert("dklen".into(), 32.into());
        params.insert("salt".into(), hex::encode(salt).into());
        let function = match kdf {
            Kdf::Scrypt { n } => {
                params.insert("n".into(), n.into());
                params.insert("r".into(), 8.into());
                params.insert("p".into(), 1.into());
                "scrypt"
            }
            Kdf::Pbkdf2 { c } => {
                params.insert("c".into(), c.into());
                params.insert("prf".into(), "hmac-sha256".into());
                "pbkdf2"
            }
        };
        let kdf_module = Module {
            function: function.into(),
            params,
            message: String::new(),
        };
        let key = derive_key(&kdf_module, &process_password(password))?;
        let mut ciphertext = *bytes;
        apply_cipher(&key, &iv, &mut ciphertext)?;
        let mut cipher_params = serde_json::Map::new();
        cipher_params.insert("iv".into(), hex::encode(iv).into());
        let mut uuid = [0u8; 16];
        rng.fill_bytes(&mut uuid);
        uuid[6] = (uuid[6] & 0x0f) | 0x40;
        uuid[8] = (uuid[8] & 0x3f) | 0x80;
        let u = hex::encode(uuid);
        Ok(Keystore {
            crypto: Crypto {
                kdf: kdf_module,
                checksum: Module {
                    function: "sha256".into(),
                    params: serde_json::Map::new(),
                    message: hex::encode(checksum(&key, &ciphertext)),
                },
                cipher: Module {
                    function: "aes-128-ctr".into(),
                    params: cipher_params,
                    message: hex::encode(ciphertext),
                },
            },
            description: description.into(),
            pubkey: hex::encode(secret.public_key().0),
            path: path.into(),
            uuid: format!(
                "{}-{}-{}-{}-{}",
                &u[..8],
                &u[8..12],
                &u[12..16],
                &u[16..20],
                &u[20..]
            ),
            version: 4,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑";
    const SECRET: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
    const PUBKEY: &str = "9612d7a727c9d0a22e185a1c768478dfe919cada9266988cb32359c11f2b7b27f4ae4040902382ae2910c15e2b420d07";

    /// The EIP's test vectors (its "Test Cases" section).
    fn vector(kdf: &str, params: &str, checksum: &str, message: &str) -> String {
        format!(
            r#"{{"crypto": {{"kdf": {{"function": "{kdf}", "params": {params}, "message": ""}},
               "checksum": {{"function": "sha256", "params": {{}}, "message": "{checksum}"}},
               "cipher": {{"function": "aes-128-ctr", "params": {{"iv": "264daa3f303d7259501c93d997d84fe6"}}, "message": "{message}"}}}},
               "description": "test", "pubkey": "{PUBKEY}", "path": "m/12381/60/0/0",
               "uuid": "64625def-3331-4eea-ab6f-782f3ed16a83", "version": 4}}"#
        )
    }

    fn scrypt_vector() -> String {
        vector(
            "scrypt",
            r#"{"dklen": 32, "n": 262144, "p": 1, "r": 8, "salt": "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"}"#,
            "d2217fe5f3e9a1e34581ef8a78f7c9928e436d36dacc5e846690a5581e8ea484",
            "06ae90d55fe0a6e9c5c3bc5b170827b2e5cce3929ed3f116c2811e6366dfe20f",
        )
    }

    fn pbkdf2_vector() -> String {
        vector(
            "pbkdf2",
            r#"{"dklen": 32, "c": 262144, "prf": "hmac-sha256", "salt": "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"}"#,
            "8a9f5d9912ed7e75ea794bc5a89bca5f193721d30868ade6f73043c6ea6febf1",
            "cee03fde2af33149775b7223e7845e4fb2c8ae1792e5f99fe9ecf474cc8c16ad",
        )
    }

    #[test]
    fn password_processing_matches_the_eip() {
        assert_eq!(
            hex::encode(&*process_password(PASSWORD)),
            "7465737470617373776f7264f09f9491"
        );
        assert_eq!(&*process_password("pass\u{7f}word\n"), b"password");
    }

    #[test]
    fn the_eip_test_vectors_decrypt() {
        for json in [scrypt_vector(), pbkdf2_vector()] {
            let ks = Keystore::from_json(&json).unwrap();
            let sk = ks.decrypt(PASSWORD).unwrap();
            assert_eq!(hex::encode(sk.bls_bytes().unwrap()), SECRET);
            assert_eq!(hex::encode(sk.public_key().0), PUBKEY);
            assert!(matches!(
                ks.decrypt("wrong"),
                Err(KeystoreError::WrongPassword)
            ));
        }
    }

    #[test]
    fn encrypt_then_decrypt_with_both_kdfs() {
        let sk = SecretKey::bls_from_ikm(&[3; 32]).unwrap();
        for kdf in [Kdf::Scrypt { n: 1 << 10 }, Kdf::Pbkdf2 { c: 1_000 }] {
            let ks = Keystore::encrypt(&sk, "correct horse", kdf, "", "").unwrap();
            let back = Keystore::from_json(&ks.to_json()).unwrap();
            assert_eq!(
                back.decrypt("correct horse\n").unwrap().public_key(),
                sk.public_key(),
                "trailing newline of a password file is a control code"
            );
            assert!(matches!(
                back.decrypt("Correct horse"),
                Err(KeystoreError::WrongPassword)
            ));
            assert_eq!(back.uuid.len(), 36);
        }
    }

    #[test]
    fn hostile_parameters_are_refused_before_any_work() {
        let json = scrypt_vector().replace("\"n\": 262144", "\"n\": 4294967296");
        assert!(matches!(
            Keystore::from_json(&json).unwrap().decrypt(PASSWORD),
            Err(KeystoreError::Format(_))
        ));
        let json = scrypt_vector().replace("\"n\": 262144", "\"n\": 2147483648");
        assert!(matches!(
            Keystore::from_json(&json).unwrap().decrypt(PASSWORD),
            Err(KeystoreError::Unsupported(_))
        ));
        let json = pbkdf2_vector().replace("\"c\": 262144", "\"c\": 4000000000");
        assert!(matches!(
            Keystore::from_json(&json).unwrap().decrypt(PASSWORD),
            Err(KeystoreError::Unsupported(_))
        ));
        assert!(Keystore::from_json("{}").is_err());
        assert!(
            Keystore::from_json(&scrypt_vector().replace("\"version\": 4", "\"version\": 3"))
                .is_err()
        );
    }
}
