//! A simulated node's life: booting from its disk, crashing (its memory is lost), and
//! the whole network crashing at once in the window where a block is certified and not
//! final.

use rand::Rng;
use synod_sequencer::{Availability, BatchPool, PoolConfig};
use synod_types::{Block, Hash, QuorumCert};

use super::Sim;
use crate::engine::{Engine, Recovery, SafetyState};
use crate::sim::network::Event;
use crate::sim::scenario::Behavior;

impl Sim {
    pub(super) fn boot(&mut self, slot: usize, wipe: bool) {
        if self.slots[slot].engine.is_some() {
            return;
        }
        self.log(slot, format_args!("RESTART wipe={wipe}"));
        let s = &mut self.slots[slot];
        let recovery = if s.disk.safety.is_none() && s.disk.committed.is_none() {
            None
        } else {
            let genesis_qc = QuorumCert::genesis(0, self.genesis.hash(), self.committee.size());
            let safety = match (&s.disk.safety, wipe) {
                (Some(state), false) => state.clone(),
                _ => SafetyState::initial(0, genesis_qc),
            };
            let committed_height = s
                .disk
                .committed
                .as_ref()
                .map_or(0, |(b, _)| b.header.height);
            let mut blocks: Vec<Block> = s
                .disk
                .blocks
                .values()
                .filter(|b| b.header.height > committed_height)
                .cloned()
                .collect();
            blocks.sort_by_key(|b| (b.header.height, b.hash()));
            Some(Recovery {
                safety,
                committed: s.disk.committed.clone(),
                blocks,
            })
        };
        let key = (s.behavior != Behavior::Observer).then(|| s.key.clone());
        let mut engine = Engine::new(
            self.cfg.clone(),
            self.committee.clone(),
            key,
            self.genesis.clone(),
            recovery,
        );
        let actions = engine.start();
        s.availability = Availability::new(engine.held_blocks());
        s.engine = Some(engine);
        self.execute_all(slot, actions);
    }

    /// Whether a whole-network crash is due: every node runs, `certified` was just
    /// persisted as a high certificate, orders batches, and no engine has finalized it.
    pub(super) fn in_window(&self, slot: usize, certified: &Hash) -> bool {
        self.window_crashes_left > 0
            && self.slots.iter().all(|s| s.engine.is_some())
            && self.slots[slot]
                .disk
                .blocks
                .get(certified)
                .is_some_and(|b| !b.payload.is_empty() && b.header.height > self.engine_committed)
    }

    /// Every running node crashes now and restarts 100–1,500 ms later.
    pub(super) fn crash_everyone(&mut self) {
        self.window_crashes_left -= 1;
        let now = self.queue.now();
        for slot in 0..self.slots.len() {
            if self.slots[slot].engine.is_none() {
                continue;
            }
            self.crash(slot);
            let at = now + self.rng.gen_range(100..1_500);
            self.restarts_until = self.restarts_until.max(at);
            self.queue.at(at, Event::Restart { slot, wipe: false });
        }
    }

    pub(super) fn crash(&mut self, slot: usize) {
        self.log(slot, format_args!("CRASH"));
        let s = &mut self.slots[slot];
        s.engine = None;
        s.incarnation += 1;
        s.pool = BatchPool::new(PoolConfig::default());
        s.fetches.clear();
    }
}
