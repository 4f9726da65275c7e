//! The validator directory: which peers are connected, which peer speaks for which
//! committee member (learned from signed announcements), the opaque handles the
//! consensus engine names peers by, and the penalty points each offence costs.
//!
//! A validator binds its BLS key to its libp2p peer id by signing
//! [`announce_message`]; the directory checks the signature once per (key, peer) and
//! keeps the binding for members of the current committee and of the next one read from
//! L1, so a hand-over re-indexes members without waiting for new announcements.
//!
//! It does no I/O: the node feeds it connection events and announcements.

use std::collections::{BTreeMap, HashMap, HashSet};

use libp2p::PeerId;
use synod_types::{Committee, PublicKey, Signature, VerifyingKey};

use crate::gossip::announce_message;

/// Penalty points for provably invalid input (a bad signature or certificate).
pub const PENALTY_INVALID: f64 = 25.0;
/// Penalty points for a minor offence (malformed or unasked-for data).
pub const PENALTY_MINOR: f64 = 5.0;
/// Engine handles remembered, at most; the oldest unconnected ones are forgotten.
pub const MAX_HANDLES: usize = 4_096;

/// What an announcement amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// A valid binding, new or known: `index` is the member's position in the current
    /// committee (`None`: a member of the next one).
    Bound {
        /// Position in the current committee.
        index: Option<u32>,
        /// Whether the binding is new (the signature was checked now).
        new: bool,
    },
    /// The key is no member of this committee or the next: not provably bad.
    NotAMember,
    /// The signature does not bind the key to the sending peer: the sender's fault.
    Invalid,
}

/// The directory.
#[derive(Debug, Default)]
pub struct Directory {
    to_handle: HashMap<PeerId, u64>,
    from_handle: BTreeMap<u64, PeerId>,
    next_handle: u64,
    connected: HashSet<PeerId>,
    validators: HashMap<u32, PeerId>,
    /// The announced peer of each key: of the committee's members, and of the next
    /// committee's as read from L1.
    keys: HashMap<PublicKey, PeerId>,
}

impl Directory {
    /// A peer connected.
    pub fn connected(&mut self, peer: PeerId) {
        self.connected.insert(peer);
    }

    /// A peer's last connection closed.
    pub fn disconnected(&mut self, peer: PeerId) {
        self.connected.remove(&peer);
    }

    /// Connected peers.
    pub fn connected_peers(&self) -> impl Iterator<Item = &PeerId> {
        self.connected.iter()
    }

    /// Whether `peer` is connected.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected.contains(peer)
    }

    /// The handle the engine knows `peer` by (allocated on first sight). At most
    /// [`MAX_HANDLES`] are kept: past that, a quarter of the unconnected ones, oldest
    /// first, are forgotten.
    pub fn handle(&mut self, peer: PeerId) -> u64 {
        if let Some(id) = self.to_handle.get(&peer) {
            return *id;
        }
        if self.from_handle.len() >= MAX_HANDLES {
            let stale: Vec<u64> = self
                .from_handle
                .iter()
                .filter(|(_, p)| !self.connected.contains(p))
                .map(|(id, _)| *id)
                .take(MAX_HANDLES / 4)
                .collect();
            for id in stale {
                if let Some(p) = self.from_handle.remove(&id) {
                    self.to_handle.remove(&p);
                }
            }
        }
        let id = self.next_handle;
        self.next_handle += 1;
        self.to_handle.insert(peer, id);
        self.from_handle.insert(id, peer);
        id
    }

    /// The peer behind an engine handle.
    pub fn peer(&self, handle: u64) -> Option<PeerId> {
        self.from_handle.get(&handle).copied()
    }

    /// An announcement from `origin` that `key` speaks as `origin` on chain `chain_id`:
    /// accepted for members of `committee` and for keys of the next committee
    /// (`next_member`), once its signature checks out.
    pub fn announced(
        &mut self,
        committee: &Committee,
        next_member: impl Fn(&PublicKey) -> bool,
        chain_id: u64,
        key: PublicKey,
        signature: &Signature,
        origin: PeerId,
    ) -> Announced {
        let index = committee.index_of(&key);
        if index.is_none() && !next_member(&key) {
            return Announced::NotAMember;
        }
        if self.keys.get(&key) == Some(&origin) {
            return Announced::Bound { index, new: false };
        }
        let message = announce_message(chain_id, &origin.to_bytes());
        let valid = VerifyingKey::new(committee.scheme(), &key)
            .is_ok_and(|k| k.verify(&message, signature));
        if !valid {
            return Announced::Invalid;
        }
        self.keys.insert(key, origin);
        if let Some(index) = index {
            self.validators.insert(index, origin);
        }
        Announced::Bound { index, new: true }
    }

    /// A new committee took over: members are indexed by their position in it, and
    /// keys outside it are forgotten.
    pub fn reindex(&mut self, committee: &Committee) {
        self.keys.retain(|k, _| committee.index_of(k).is_some());
        self.validators = self
            .keys
            .iter()
            .filter_map(|(k, p)| committee.index_of(k).map(|i| (i, *p)))
            .collect();
    }

    /// The peer of committee member `index`, if announced.
    pub fn validator(&self, index: u32) -> Option<PeerId> {
        self.validators.get(&index).copied()
    }

    /// The announced peer of `key` (a member of the committee, or of the next one).
    pub fn peer_of_key(&self, key: &PublicKey) -> Option<PeerId> {
        self.keys.get(key).copied()
    }

    /// Whether `peer` is the announced peer of member `index`.
    pub fn is_validator(&self, index: u32, peer: &PeerId) -> bool {
        self.validators.get(&index) == Some(peer)
    }

    /// Connected peers that announced themselves as committee members.
    pub fn connected_validators(&self) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self
            .validators
            .values()
            .filter(|p| self.connected.contains(p))
            .copied()
            .collect();
        peers.sort();
        peers.dedup();
        peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::{Hash, Member, Scheme, SecretKey};

    const CHAIN: u64 = 7;

    fn keys(n: u64) -> Vec<SecretKey> {
        (0..n).map(SecretKey::sim).collect()
    }

    fn committee(keys: &[SecretKey]) -> Committee {
        let members = Member::equal_stakes(keys, 10);
        Committee::new(1, Scheme::Sim, Hash::ZERO, members).unwrap()
    }

    fn sign(key: &SecretKey, peer: PeerId) -> Signature {
        key.sign(&announce_message(CHAIN, &peer.to_bytes()))
    }

    fn peer_id() -> PeerId {
        libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id()
    }

    fn none(_: &PublicKey) -> bool {
        false
    }

    #[test]
    fn a_signed_announcement_binds_a_member_to_its_peer_once() {
        let k = keys(3);
        let c = committee(&k);
        let mut d = Directory::default();
        let peer = peer_id();
        let index = c.index_of(&k[1].public_key());
        let announced = d.announced(&c, none, CHAIN, k[1].public_key(), &sign(&k[1], peer), peer);
        assert_eq!(announced, Announced::Bound { index, new: true });
        assert_eq!(d.validator(index.unwrap()), Some(peer));
        assert!(d.is_validator(index.unwrap(), &peer));
        // Known: no second check.
        let again = d.announced(&c, none, CHAIN, k[1].public_key(), &sign(&k[1], peer), peer);
        assert_eq!(again, Announced::Bound { index, new: false });
        // Not connected yet: not among the connected validators.
        assert!(d.connected_validators().is_empty());
        d.connected(peer);
        assert_eq!(d.connected_validators(), vec![peer]);
        d.disconnected(peer);
        assert!(d.connected_validators().is_empty());
    }

    #[test]
    fn a_signature_for_another_peer_chain_or_key_is_invalid() {
        let k = keys(3);
        let c = committee(&k);
        let mut d = Directory::default();
        let (peer, thief) = (peer_id(), peer_id());
        // Replayed by another peer.
        let stolen = sign(&k[0], peer);
        assert_eq!(
            d.announced(&c, none, CHAIN, k[0].public_key(), &stolen, thief),
            Announced::Invalid
        );
        // Of another chain.
        let other_chain = k[0].sign(&announce_message(CHAIN + 1, &peer.to_bytes()));
        assert_eq!(
            d.announced(&c, none, CHAIN, k[0].public_key(), &other_chain, peer),
            Announced::Invalid
        );
        // Signed by another member.
        assert_eq!(
            d.announced(&c, none, CHAIN, k[0].public_key(), &sign(&k[1], peer), peer),
            Announced::Invalid
        );
        assert_eq!(d.validator(c.index_of(&k[0].public_key()).unwrap()), None);
    }

    #[test]
    fn outsiders_are_ignored_and_next_members_kept_for_the_hand_over() {
        let k = keys(4);
        let current = committee(&k[..3]);
        let next = committee(&k[1..]);
        let mut d = Directory::default();
        let peer = peer_id();
        let outsider = k[3].public_key();
        assert_eq!(
            d.announced(&current, none, CHAIN, outsider, &sign(&k[3], peer), peer),
            Announced::NotAMember
        );
        let in_next = |key: &PublicKey| next.index_of(key).is_some();
        assert_eq!(
            d.announced(&current, in_next, CHAIN, outsider, &sign(&k[3], peer), peer),
            Announced::Bound {
                index: None,
                new: true
            }
        );
        // Member 0 announced too; it leaves at the hand-over.
        let first = peer_id();
        d.announced(
            &current,
            none,
            CHAIN,
            k[0].public_key(),
            &sign(&k[0], first),
            first,
        );
        d.reindex(&next);
        assert_eq!(d.validator(next.index_of(&outsider).unwrap()), Some(peer));
        assert!((0..3).all(|i| d.validator(i) != Some(first)));
    }

    #[test]
    fn engine_handles_are_stable_and_bounded() {
        let mut d = Directory::default();
        let peer = peer_id();
        d.connected(peer);
        let handle = d.handle(peer);
        assert_eq!(d.handle(peer), handle);
        assert_eq!(d.peer(handle), Some(peer));
        for _ in 0..MAX_HANDLES + 10 {
            d.handle(peer_id());
        }
        assert!(d.from_handle.len() <= MAX_HANDLES);
        // The connected peer kept its handle.
        assert_eq!(d.handle(peer), handle);
    }
}
