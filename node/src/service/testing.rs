//! Test-only behaviour, compiled with the `testing` feature only: never in a shipped
//! binary.

use std::sync::atomic::{AtomicBool, Ordering};

use synod_p2p::Gossip;
use synod_types::Message;

use super::Node;

/// Set by `synod start --testing.equivocate`: as leader, this process also signs a
/// conflicting proposal, so that the network must detect, report and slash it.
static EQUIVOCATE: AtomicBool = AtomicBool::new(false);

/// Makes this process's validator equivocate as leader.
pub fn equivocate_as_leader() {
    EQUIVOCATE.store(true, Ordering::Relaxed);
}

/// Whether [`equivocate_as_leader`] was called.
pub(super) fn equivocating() -> bool {
    EQUIVOCATE.load(Ordering::Relaxed)
}

impl Node {
    /// Test only: signs a second proposal for the view with another payload, bypassing
    /// the safety rules, and gossips it too; the others see two proposals by one leader
    /// for one view (E1).
    pub(super) async fn equivocate(&mut self, proposal: &synod_types::Proposal) {
        let Some(key) = &self.key else {
            return;
        };
        let mut header = proposal.block.header.clone();
        let mut payload = proposal.block.payload.clone();
        payload.push(synod_types::keccak256(b"equivocation"));
        header.payload_digest = synod_types::tx::payload_digest(&payload);
        let block =
            synod_types::Block::with_payload(header, proposal.block.justify.clone(), payload);
        let mut other = proposal.clone();
        other.signature = key.sign(&self.domain.digest(
            block.header.epoch,
            block.header.view,
            synod_types::Phase::Proposal,
            &block.hash(),
        ));
        other.block = block;
        tracing::warn!(view = other.block.header.view, "test switch: equivocating");
        self.net
            .publish(Gossip::Consensus(Message::Proposal(other)))
            .await;
    }
}
