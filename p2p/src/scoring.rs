//! Peer scoring: gossipsub's own score (invalid messages weigh heavily on every topic) and
//! the node's penalties, which enter it as the application-specific score. Penalties
//! fade each second; a peer whose penalties reach [`BAN_POINTS`] is disconnected and
//! banned for [`BAN_DURATION`].
//!
//! [`Penalties`] holds the points and the bans and says what changes; the swarm task
//! applies the changes to gossipsub and the connections.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use libp2p::gossipsub::{self, IdentTopic};
use libp2p::PeerId;

use crate::gossip::Topic;

/// Penalty points at which a peer is banned.
pub const BAN_POINTS: f64 = 100.0;
/// How long a ban lasts.
pub const BAN_DURATION: Duration = Duration::from_secs(600);
/// Penalties fade by this factor each second (half-life of about 35 s).
pub const PENALTY_DECAY: f64 = 0.98;
/// Banned peers remembered at most; past it the oldest ban is lifted.
pub const MAX_BANNED: usize = 1_024;

/// What the swarm must apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Set the peer's application-specific gossipsub score.
    Score(PeerId, f64),
    /// Disconnect and blacklist the peer.
    Ban(PeerId),
    /// Take the peer off the blacklist.
    Unban(PeerId),
}

/// Penalty points and bans.
#[derive(Debug, Default)]
pub struct Penalties {
    points: HashMap<PeerId, f64>,
    banned: VecDeque<(PeerId, Instant)>,
}

impl Penalties {
    /// Whether `peer` is banned.
    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned.iter().any(|(p, _)| p == peer)
    }

    /// Banned peers.
    pub fn banned(&self) -> usize {
        self.banned.len()
    }

    /// Adds `points` to `peer`: its score drops, and at [`BAN_POINTS`] it is banned.
    pub fn penalize(&mut self, peer: PeerId, points: f64, now: Instant) -> Vec<Change> {
        let total = self.points.entry(peer).or_default();
        *total += points;
        let total = *total;
        let mut changes = vec![Change::Score(peer, -total)];
        if total >= BAN_POINTS && !self.is_banned(&peer) {
            changes.push(Change::Ban(peer));
            self.banned.push_back((peer, now));
            if self.banned.len() > MAX_BANNED {
                changes.extend(self.unban_oldest());
            }
        }
        changes
    }

    fn unban_oldest(&mut self) -> Option<Change> {
        let (old, _) = self.banned.pop_front()?;
        self.points.remove(&old);
        Some(Change::Unban(old))
    }

    /// Once a second: penalties fade (a peer below one point is forgiven), bans expire.
    pub fn decay(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        let banned: Vec<PeerId> = self.banned.iter().map(|(p, _)| *p).collect();
        self.points.retain(|peer, points| {
            *points *= PENALTY_DECAY;
            if *points < 1.0 && !banned.contains(peer) {
                changes.push(Change::Score(*peer, 0.0));
                return false;
            }
            true
        });
        while self
            .banned
            .front()
            .is_some_and(|(_, since)| now.duration_since(*since) >= BAN_DURATION)
        {
            changes.extend(self.unban_oldest());
        }
        changes
    }
}

/// Gossipsub scoring: invalid messages (rejected by validation) weigh heavily on every
/// topic; the node's own penalties enter as the application-specific score.
pub fn peer_score_params(chain_id: u64) -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams {
        app_specific_weight: 1.0,
        ..Default::default()
    };
    for topic in Topic::ALL {
        let topic_params = gossipsub::TopicScoreParams {
            invalid_message_deliveries_weight: -50.0,
            invalid_message_deliveries_decay: 0.9,
            // Validators are few and stable; delivery counting would punish quiet topics.
            mesh_message_deliveries_weight: 0.0,
            first_message_deliveries_weight: 0.0,
            ..Default::default()
        };
        params
            .topics
            .insert(IdentTopic::new(topic.name(chain_id)).hash(), topic_params);
    }
    params
}

/// Below these scores a peer's gossip is ignored, its publishing refused, and it is
/// graylisted (at minus [`BAN_POINTS`]).
pub fn peer_score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -40.0,
        publish_threshold: -80.0,
        graylist_threshold: -BAN_POINTS,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerId {
        libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id()
    }

    #[test]
    fn penalties_lower_the_score_and_a_hundred_points_ban() {
        let (mut p, now, bad) = (Penalties::default(), Instant::now(), peer());
        assert_eq!(p.penalize(bad, 25.0, now), vec![Change::Score(bad, -25.0)]);
        assert_eq!(p.penalize(bad, 50.0, now), vec![Change::Score(bad, -75.0)]);
        assert!(!p.is_banned(&bad));
        assert_eq!(
            p.penalize(bad, 25.0, now),
            vec![Change::Score(bad, -100.0), Change::Ban(bad)]
        );
        assert!(p.is_banned(&bad));
        // Banned once: more points do not ban again.
        assert_eq!(p.penalize(bad, 5.0, now), vec![Change::Score(bad, -105.0)]);
        assert_eq!(p.banned(), 1);
    }

    #[test]
    fn penalties_fade_and_an_occasional_fault_never_adds_up_to_a_ban() {
        let (mut p, start, honest) = (Penalties::default(), Instant::now(), peer());
        // A minor fault (5 points) every 20 s, for an hour.
        for s in 0..3_600u64 {
            let now = start + Duration::from_secs(s);
            if s % 20 == 0 {
                p.penalize(honest, 5.0, now);
            }
            p.decay(now);
        }
        assert!(!p.is_banned(&honest));
        // Left alone, the points fade below one and the score is reset.
        let later = start + Duration::from_secs(3_600);
        let reset = (1..200u64)
            .flat_map(|s| p.decay(later + Duration::from_secs(s)))
            .collect::<Vec<_>>();
        assert_eq!(reset, vec![Change::Score(honest, 0.0)]);
    }

    #[test]
    fn bans_expire_and_are_bounded() {
        let (mut p, start) = (Penalties::default(), Instant::now());
        let first = peer();
        p.penalize(first, BAN_POINTS, start);
        assert!(p.decay(start + BAN_DURATION / 2).is_empty());
        assert!(p.is_banned(&first));
        let lifted = p.decay(start + BAN_DURATION);
        assert!(lifted.contains(&Change::Unban(first)));
        assert!(!p.is_banned(&first));
        // Past MAX_BANNED bans, the oldest is lifted.
        let peers: Vec<PeerId> = (0..=MAX_BANNED).map(|_| peer()).collect();
        let mut last = Vec::new();
        for q in &peers {
            last = p.penalize(*q, BAN_POINTS, start);
        }
        assert_eq!(p.banned(), MAX_BANNED);
        assert!(last.contains(&Change::Unban(peers[0])));
        assert!(!p.is_banned(&peers[0]));
    }
}
