//! A validator's key and what it has signed.
//!
//! - [`keystore`]: EIP-2335 keystores, the encrypted file a BLS secret key lives in.
//! - [`protection`]: the slashing-protection record (the consensus safety state) in a
//!   database of its own, synced before anything signed leaves, and its interchange
//!   format for moving it between machines.
//!
//! Where the files sit in a data directory, and how passwords are read, is the node's
//! (`synod-node`'s `keys` module).

pub mod keystore;
pub mod protection;
