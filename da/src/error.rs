//! Why data could not be committed to, checked or rebuilt.

use thiserror::Error;

/// Why data could not be committed to, checked or rebuilt.
#[derive(Debug, Error)]
pub enum DaError {
    /// The bytes are not a payload.
    #[error("malformed block data: {0}")]
    Malformed(&'static str),
    /// A batch inside does not decode.
    #[error("a batch in the block data does not decode: {0}")]
    Batch(synod_types::wire::WireError),
    /// The erasure code refused its input.
    #[error("erasure code: {0}")]
    Code(reed_solomon_simd::Error),
    /// Not enough shards to rebuild.
    #[error("{have} distinct valid shards, {need} needed to rebuild")]
    TooFewShards {
        /// Distinct valid shards at hand.
        have: usize,
        /// Shards the code needs.
        need: usize,
    },
}
