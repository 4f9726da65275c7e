//! The layout of a data directory (`node.data-dir`):
//!
//! | path | what |
//! |---|---|
//! | `db/` | the chain store (RocksDB, `storage.rs`): blocks, batches, certificates, the transaction index |
//! | `protection/` | the slashing-protection record of the validator key (`protection/`) |
//! | `keys/` | the validator's EIP-2335 keystore (`keys/`) |
//! | `network.key` | the libp2p identity |
//!
//! Wiping `db/` resyncs the chain; `protection/` must survive it (or be restored from an
//! interchange export) for the key to stay safe.

use std::path::{Path, PathBuf};

/// The chain store.
pub fn db(data_dir: &Path) -> PathBuf {
    data_dir.join("db")
}

/// The slashing-protection database.
pub fn protection(data_dir: &Path) -> PathBuf {
    data_dir.join("protection")
}

/// The folder of the keystores.
pub fn keys(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

/// The network identity file.
pub fn identity(data_dir: &Path) -> PathBuf {
    data_dir.join("network.key")
}
