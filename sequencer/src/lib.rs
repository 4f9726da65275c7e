//! Synod's sequencer: the bounded mempool (bytes and count, dedup by hash,
//! per-namespace fairness), batch building by interval and size, the ordered output
//! stream of finalized transactions and the transaction index.
//!
//! It answers the engine's `Action::RequestPayload` (a digest of ordered batch digests)
//! and `Action::CheckPayload` (are all batches of a proposal stored).
//!
//! Not built yet: the node milestone adds it.
