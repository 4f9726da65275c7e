//! Synod's staking model: where each epoch's committee comes from.
//!
//! Today one source exists, the genesis file ([`genesis::Genesis`]): the chain id, the
//! bridge address that signatures are bound to, the genesis time and the initial
//! committee with its stakes. The L1 stake table (epochs from L1 stake, statuses,
//! slashing) builds on the same [`genesis::Genesis::committee`] shape: a
//! `synod_types::Committee` per epoch, identical on every node.

pub mod genesis;

pub use genesis::{Genesis, GenesisError, GenesisValidator};
