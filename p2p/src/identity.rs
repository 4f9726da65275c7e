//! The node's persisted ed25519 network identity.

use std::io::Write;
use std::path::Path;

use libp2p::identity::Keypair;

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file could not be read or written.
    #[error("node identity {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid ed25519 key.
    #[error("node identity {path} is not a valid ed25519 secret key: delete it to create a new one (the peer id changes)")]
    Invalid {
        /// The file.
        path: String,
    },
}

/// Loads the 32-byte ed25519 secret in `path`, or creates it (mode 0600) if absent.
pub fn load_or_create(path: &Path) -> Result<Keypair, IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(path) {
        Ok(mut bytes) => {
            let keypair =
                Keypair::ed25519_from_bytes(&mut bytes).map_err(|_| IdentityError::Invalid {
                    path: path.display().to_string(),
                })?;
            Ok(keypair)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keypair = libp2p::identity::ed25519::Keypair::generate();
            let secret = keypair.secret();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            file.write_all(secret.as_ref()).map_err(io)?;
            file.sync_all().map_err(io)?;
            Ok(keypair.into())
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_survives_a_restart_and_garbage_is_refused() {
        let dir = std::env::temp_dir().join(format!("synod-id-{}", std::process::id()));
        let path = dir.join("node.key");
        let _ = std::fs::remove_dir_all(&dir);
        let first = load_or_create(&path).unwrap().public().to_peer_id();
        let again = load_or_create(&path).unwrap().public().to_peer_id();
        assert_eq!(first, again);
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(IdentityError::Invalid { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
