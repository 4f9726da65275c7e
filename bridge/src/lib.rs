//! Synod's L1 bridge: the Solidity contracts (`bridge/contracts/`) that verify finality
//! certificates through the EIP-2537 precompiles and hold the stake table, and the Rust
//! client that posts attestations and reads L1 state. Point encodings for the
//! precompiles come from `synod_types::eip2537`.
//!
//! Not built yet: the staking and bridge milestone adds it.
