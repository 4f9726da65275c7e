//! Validator keys: EIP-2335 keystores ([`keystore`]) and the key files of a data
//! directory ([`files`]).

pub mod files;
pub mod keystore;
