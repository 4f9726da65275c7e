//! Synod's staking model: the stake table read from L1, epochs, the deterministic
//! committee of each epoch (a `synod_types::Committee`), validator statuses and the
//! equivocation evidence (`synod_types::Equivocation`) submitted for slashing.
//!
//! Not built yet: the staking and bridge milestone adds it.
