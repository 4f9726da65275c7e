//! The pacemaker (`docs/protocol.md` §5, P2–P3): entering views, the view timer and its
//! backoff, and timing out.

use synod_types::{Message, Phase, TimeoutMsg};

use super::{safe_to_timeout, Action, Engine, Held, EVIDENCE_WINDOW};

impl Engine {
    pub(super) fn timeout_ms(&self) -> u64 {
        let mut ms = self.cfg.base_timeout_ms.max(1);
        for _ in 0..self.consecutive_timeouts {
            ms = ms.saturating_mul(self.cfg.timeout_backoff_percent.max(100)) / 100;
            if ms >= self.cfg.max_timeout_ms {
                return self.cfg.max_timeout_ms;
            }
        }
        ms
    }

    pub(super) fn schedule_view_timer(&mut self) {
        let after_ms = self.timeout_ms();
        self.out.push(Action::ScheduleTimer {
            view: self.view,
            after_ms,
        });
    }

    /// Enters `view` if it is higher than the current one. `by_qc` tells whether the
    /// previous view ended with a quorum certificate (resets the backoff) or a timeout.
    pub(super) fn advance_to(&mut self, view: u64, by_qc: bool) {
        if view <= self.view {
            return;
        }
        self.view = view;
        self.consecutive_timeouts = if by_qc {
            0
        } else {
            self.consecutive_timeouts + 1
        };
        self.votes.prune_below(view.saturating_sub(1));
        self.timeouts.prune_below(view);
        self.awaiting_check.clear();
        let keep_from = view.saturating_sub(EVIDENCE_WINDOW);
        self.seen_proposals = self.seen_proposals.split_off(&(keep_from, 0));
        self.reported.retain(|(_, v, _)| *v >= keep_from);
        self.schedule_view_timer();
        self.retry_sync(false);
        self.try_propose();
    }

    pub(super) fn on_timer(&mut self, view: u64) {
        if view != self.view {
            return;
        }
        self.retry_sync(true);
        self.local_timeout();
        self.schedule_view_timer();
    }

    /// Times out the current view: signs a timeout (or re-broadcasts the one signed
    /// before) and persists it before it leaves.
    pub(super) fn local_timeout(&mut self) {
        let view = self.view;
        if let Some(t) = self.safety.last_timeout.clone().filter(|t| t.view == view) {
            if self.held.is_empty() {
                self.out.push(Action::Broadcast(Message::Timeout(t)));
            }
            return;
        }
        let (Some(me), Some(key)) = (self.me, self.key.as_ref()) else {
            return;
        };
        // S1.
        if !safe_to_timeout(&self.safety, view) {
            return;
        }
        let high_qc = self.safety.high_qc.clone();
        let digest = self.cfg.domain.digest(
            self.committee.epoch(),
            view,
            Phase::Timeout,
            &TimeoutMsg::subject(high_qc.view()),
        );
        let timeout = TimeoutMsg {
            epoch: self.committee.epoch(),
            view,
            high_qc,
            last_tc: self.tc_for(view).cloned().map(Box::new),
            sender: me,
            signature: key.sign(&digest),
        };
        // S1: no vote in this view after timing out in it; S5: persisted before it leaves.
        self.safety.highest_vote_view = self.safety.highest_vote_view.max(view);
        self.safety.last_timeout = Some(timeout.clone());
        let seq = self.persist();
        self.held
            .push((seq, Held::Broadcast(Message::Timeout(timeout))));
    }
}
