//! One-line descriptions of messages and actions for `synod sim --trace`.

use synod_types::Message;

use crate::engine::Action;

pub(super) fn describe_message(m: &Message) -> String {
    match m {
        Message::Proposal(p) => format!(
            "proposal v{} h{} {:?} justify v{} tc={:?} fc={:?}",
            p.block.header.view,
            p.block.header.height,
            p.block.hash(),
            p.block.justify.view(),
            p.timeout_cert.as_ref().map(|t| t.view),
            p.commit.as_ref().map(|f| f.view())
        ),
        Message::Vote(v) => format!(
            "vote v{} {:?} by {} commit={}",
            v.view,
            v.block_hash,
            v.voter,
            v.commit.is_some()
        ),
        Message::Timeout(t) => format!(
            "timeout v{} high_qc v{} by {}",
            t.view,
            t.high_qc.view(),
            t.sender
        ),
        Message::SyncRequest(r) => format!("sync request {:?} max {}", r.block_hash, r.max_blocks),
        Message::SyncResponse(r) => format!("sync response {} blocks", r.blocks.len()),
    }
}

pub(super) fn describe_action(a: &Action) -> String {
    match a {
        Action::Send { to, message } => format!("send {to:?} {}", describe_message(message)),
        Action::Broadcast(message) => format!("broadcast {}", describe_message(message)),
        Action::PersistSafety { seq, state } => format!(
            "persist #{seq} highest_vote v{} high_qc v{}",
            state.highest_vote_view,
            state.high_qc.view()
        ),
        Action::PersistBlock(b) => format!(
            "store block v{} h{} {:?} payload {:?}",
            b.header.view,
            b.header.height,
            b.hash(),
            b.payload
        ),
        Action::ScheduleTimer { view, after_ms } => format!("timer v{view} in {after_ms}ms"),
        Action::RequestPayload { view, height, .. } => format!("request payload v{view} h{height}"),
        Action::CheckPayload { block } => format!("check payload v{}", block.header.view),
        Action::Commit {
            blocks,
            certificate,
        } => format!(
            "COMMIT {} blocks up to h{} (fc v{})",
            blocks.len(),
            blocks.last().map_or(0, |b| b.header.height),
            certificate.view()
        ),
        Action::Evidence(e) => format!("EVIDENCE {:?} v{} by {:?}", e.phase, e.view, e.signer),
        Action::Penalize { peer, offense } => format!("PENALIZE {peer:?} {offense:?}"),
    }
}
