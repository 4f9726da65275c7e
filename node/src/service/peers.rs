//! Who is who: libp2p peer ids, the engine's opaque peer handles, and which peer
//! speaks for which committee member (learned from signed announcements).

use std::collections::{BTreeMap, HashMap, HashSet};

use synod_consensus::engine::PeerId as EnginePeer;
use synod_p2p::PeerId;
use synod_types::{Committee, PublicKey};

/// Engine handles remembered, at most; the oldest unconnected ones are forgotten.
const MAX_HANDLES: usize = 4_096;

/// The peer tables.
#[derive(Debug, Default)]
pub struct Peers {
    to_engine: HashMap<PeerId, u64>,
    from_engine: BTreeMap<u64, PeerId>,
    next: u64,
    connected: HashSet<PeerId>,
    validators: HashMap<u32, PeerId>,
    /// The announced peer of each key: of the committee's members, and of the next
    /// committee's as read from L1, so a hand-over re-indexes without waiting.
    keys: HashMap<PublicKey, PeerId>,
}

impl Peers {
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

    /// The engine's handle for a peer (allocated on first sight).
    pub fn engine_id(&mut self, peer: PeerId) -> EnginePeer {
        if let Some(id) = self.to_engine.get(&peer) {
            return EnginePeer(*id);
        }
        if self.from_engine.len() >= MAX_HANDLES {
            let stale: Vec<u64> = self
                .from_engine
                .iter()
                .filter(|(_, p)| !self.connected.contains(p))
                .map(|(id, _)| *id)
                .take(MAX_HANDLES / 4)
                .collect();
            for id in stale {
                if let Some(p) = self.from_engine.remove(&id) {
                    self.to_engine.remove(&p);
                }
            }
        }
        let id = self.next;
        self.next += 1;
        self.to_engine.insert(peer, id);
        self.from_engine.insert(id, peer);
        EnginePeer(id)
    }

    /// The libp2p peer behind an engine handle.
    pub fn peer(&self, id: EnginePeer) -> Option<PeerId> {
        self.from_engine.get(&id.0).copied()
    }

    /// Records that committee member `index` (with `key`) speaks as `peer`.
    pub fn set_validator(&mut self, index: u32, key: PublicKey, peer: PeerId) -> bool {
        self.keys.insert(key, peer);
        self.validators.insert(index, peer) != Some(peer)
    }

    /// Records that a key of the next committee speaks as `peer` (the caller bounds
    /// which keys: members of one snapshot).
    pub fn set_next_member(&mut self, key: PublicKey, peer: PeerId) -> bool {
        self.keys.insert(key, peer) != Some(peer)
    }

    /// Whether `peer` is the announced peer of `key`.
    pub fn speaks_for(&self, key: &PublicKey, peer: &PeerId) -> bool {
        self.keys.get(key) == Some(peer)
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

    /// Whether `peer` is the announced peer of member `index`.
    pub fn is_validator(&self, index: u32, peer: &PeerId) -> bool {
        self.validators.get(&index) == Some(peer)
    }

    /// Connected peers that announced themselves as committee members.
    pub fn connected_validators(&self) -> Vec<PeerId> {
        self.validators
            .values()
            .filter(|p| self.connected.contains(p))
            .copied()
            .collect()
    }
}
