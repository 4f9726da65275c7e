//! Synod's peer-to-peer layer (libp2p): gossip topics for batches, proposals,
//! certificates and forwarded transactions with strict validation and peer scoring;
//! request-response for votes to the next leader and for sync; discovery, connection
//! limits and maximum message sizes.
//!
//! It carries the `synod_types::Message`s that the consensus engine emits as
//! `Action::Send` / `Action::Broadcast`, and turns what peers send into
//! `Input::Message`, reporting `Action::Penalize` back into peer scores.
//!
//! Not built yet: the node milestone adds it. This crate compiles so the workspace
//! layout of `docs/architecture.md` holds from the start.
