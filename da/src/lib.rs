//! Synod's data availability: the `DaClient` trait (`submit`, `retrieve`, `verify`)
//! and its backends — the built-in erasure-coded committee store, EIP-4844 blobs on
//! Ethereum, and Celestia. A block header's `da_commitment` binds the block data, so the
//! finality certificate covers it.
//!
//! Not built yet: a later milestone adds it.
