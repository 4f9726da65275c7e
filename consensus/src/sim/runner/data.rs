//! The data plane of a simulated node, driven as the node drives it: batches held in the
//! sequencer's [`BatchPool`] (memory, lost at a crash) and on the simulated disk, the
//! payload-availability tracker ([`Availability`]) deciding when a proposal may be voted
//! for and when a commit may be written, and batches fetched by digest from peers over
//! the same lossy, partitioned network as consensus messages.
//!
//! A leader disseminates one new batch of its own with each proposal and picks the
//! payload from its pool, leaving out what blocks not final yet already order. A batch
//! reaches the others by gossip or, when the proposal arrives first or the gossip is
//! lost, by a fetch from the proposer (later from random peers, after a timeout).

use std::collections::HashMap;

use rand::Rng;
use synod_da::DaBackend;
use synod_sequencer::{BatchPool, Check, NextCommit};
use synod_types::hash::AbiWriter;
use synod_types::{Batch, Block, FinalityCert, Hash, Message, SyncResponse, Tx};

use super::{Sim, Slot};
use crate::engine::Input;
use crate::sim::network::Event;
use crate::sim::scenario::Behavior;

/// Batches a leader puts in one block, at most.
const MAX_PAYLOAD: usize = 4;
/// Digests asked in one request, at most.
const MAX_FETCH: usize = 64;
/// Blocks in one sync answer, at most.
const MAX_SYNC_SERVE: u32 = 64;
/// How long a node waits for an answer before asking another peer (a crashed node's
/// requests are forgotten with it).
const FETCH_TIMEOUT_MS: u64 = 1_000;

/// Whether a batch is at hand: in memory or on disk.
fn at_hand<'a>(pool: &'a BatchPool, disk: &'a HashMap<Hash, Batch>) -> impl Fn(&Hash) -> bool + 'a {
    move |d| pool.get(d).is_some() || disk.contains_key(d)
}

impl Sim {
    /// The payload of a leader's block and its DA commitment: a new batch of its own,
    /// gossiped now, and up to [`MAX_PAYLOAD`] batches of its pool that no block in
    /// flight orders.
    pub(super) fn build_payload(&mut self, slot: usize) -> (Vec<Hash>, Hash) {
        let batch = self.new_batch(slot);
        self.gossip_batch(slot, batch);
        let s = &mut self.slots[slot];
        let exclude = s.availability.ordered_digests();
        let payload = s.pool.pick(MAX_PAYLOAD, &exclude);
        self.persist_batches(slot, &payload);
        let commitment = self.commitment_of(slot, &payload);
        (payload, commitment)
    }

    /// The committee DA commitment to the batches `payload` names, all at hand at `slot`
    /// ([`Hash::ZERO`] for none). Every honest node computes the same one, so the run
    /// computes it once per payload.
    pub(super) fn commitment_of(&mut self, slot: usize, payload: &[Hash]) -> Hash {
        if payload.is_empty() {
            return Hash::ZERO;
        }
        let key = synod_types::tx::payload_digest(payload);
        if let Some(c) = self.commitments.get(&key) {
            return *c;
        }
        let s = &self.slots[slot];
        let batches: Vec<&Batch> = payload
            .iter()
            .filter_map(|d| s.pool.get(d).or_else(|| s.disk.batches.get(d)))
            .collect();
        assert_eq!(
            batches.len(),
            payload.len(),
            "a payload's batches are at hand"
        );
        let data = synod_da::payload::encode(&batches, None);
        let commitment = self.da.commit(&data).expect("small payloads encode");
        self.commitments.insert(key, commitment);
        commitment
    }

    /// The answer to a payload check whose batches are all here: valid if the header's
    /// DA commitment is its data's (a corrupt one gets no vote), and then its batches
    /// are written before the vote.
    fn checked(&mut self, slot: usize, block: &Block) -> Input {
        let valid = self.setup.unchecked_commitments
            || self.commitment_of(slot, &block.payload) == block.header.da_commitment;
        if valid {
            self.persist_batches(slot, &block.payload);
        }
        Input::PayloadChecked {
            block_hash: block.hash(),
            valid,
        }
    }

    /// Writes batches at hand to the disk: what a node proposes or votes for is durable
    /// before its signature leaves (`docs/protocol.md` §3, S5).
    fn persist_batches(&mut self, slot: usize, digests: &[Hash]) {
        if self.setup.volatile_batches {
            return;
        }
        let s = &mut self.slots[slot];
        for d in digests {
            if let Some(batch) = s.pool.get(d) {
                s.disk.batches.entry(*d).or_insert_with(|| batch.clone());
            }
        }
    }

    /// A batch of one transaction, unique to this slot, incarnation and sequence number,
    /// added to the slot's own pool.
    pub(super) fn new_batch(&mut self, slot: usize) -> Batch {
        let seed = self.seed;
        let s = &mut self.slots[slot];
        s.next_seq += 1;
        let payload = AbiWriter::default()
            .uint(seed)
            .uint(slot as u64)
            .uint(u64::from(s.incarnation))
            .uint(s.next_seq)
            .finish();
        let batch = Batch {
            author: s.member,
            epoch: 0,
            seq: s.next_seq,
            txs: vec![Tx {
                namespace: slot as u64,
                payload,
            }],
        };
        // The default pool holds far more than a run builds.
        let _ = s.pool.add(batch.clone());
        batch
    }

    /// Sends a new batch to every other node (a silent node sends nothing).
    pub(super) fn gossip_batch(&mut self, from: usize, batch: Batch) {
        if self.slots[from].behavior == Behavior::Silent {
            return;
        }
        for to in (0..self.slots.len()).filter(|t| *t != from) {
            self.send_data(
                from,
                to,
                Event::Batches {
                    to,
                    from,
                    batches: vec![batch.clone()],
                    request: None,
                },
            );
        }
    }

    /// A payload check: the engine's answer when every batch is at hand, otherwise the
    /// missing ones are fetched (from the proposer first) and the answer comes when the
    /// last one arrives.
    pub(super) fn check_payload(&mut self, slot: usize, block: Block) -> Option<Input> {
        let proposer = block.header.proposer;
        let Slot {
            pool,
            disk,
            availability,
            ..
        } = &mut self.slots[slot];
        match availability.check(block.clone(), at_hand(pool, &disk.batches)) {
            Check::Ready => Some(self.checked(slot, &block)),
            Check::Waiting(missing) => {
                let peer =
                    (0..self.slots.len()).find(|t| *t != slot && self.slots[*t].member == proposer);
                self.fetch(slot, missing, peer);
                None
            }
        }
    }

    /// Queues a commit and writes every queued commit whose batches are at hand.
    pub(super) fn commit(&mut self, slot: usize, blocks: Vec<Block>, certificate: FinalityCert) {
        self.slots[slot]
            .availability
            .queue_commit(blocks, certificate);
        self.flush_commits(slot);
    }

    /// Writes queued commits in order (blocks, batches, the committed block) while their
    /// batches are at hand; fetches what the next one misses.
    fn flush_commits(&mut self, slot: usize) {
        loop {
            let s = &mut self.slots[slot];
            match s
                .availability
                .next_commit(at_hand(&s.pool, &s.disk.batches))
            {
                NextCommit::None => return,
                NextCommit::Missing(missing) => return self.fetch(slot, missing, None),
                NextCommit::Ready => {}
            }
            let (blocks, certificate) = s.availability.pop_commit().expect("a commit is ready");
            let Some(last) = blocks.last().cloned() else {
                continue;
            };
            for block in &blocks {
                for d in &block.payload {
                    if let Some(batch) = s.pool.get(d) {
                        s.disk.batches.insert(*d, batch.clone());
                    }
                }
                s.disk.blocks.insert(block.hash(), block.clone());
            }
            if self.honest(slot) {
                for b in &blocks {
                    if self.commitment_of(slot, &b.payload) != b.header.da_commitment {
                        self.checker.fail(format!(
                            "data commitment: slot {slot} finalized height {} with a DA commitment that is not its data's",
                            b.header.height
                        ));
                    }
                }
            }
            let s = &mut self.slots[slot];
            let digests: Vec<Hash> = blocks.iter().flat_map(|b| b.payload.clone()).collect();
            s.pool.finalize(&digests);
            s.availability.finalized(last.header.height);
            s.disk.committed = Some((last, certificate.clone()));
            if self.honest(slot) {
                self.checker.on_commit(slot, &blocks, &certificate);
            }
        }
    }

    /// Asks `peer` (or a random other node) for batches not already being fetched; the
    /// wait ends after [`FETCH_TIMEOUT_MS`] if no answer came.
    fn fetch(&mut self, slot: usize, digests: Vec<Hash>, peer: Option<usize>) {
        let wanted = self.slots[slot]
            .availability
            .start_fetch(digests, MAX_FETCH);
        if wanted.is_empty() || self.slots.len() < 2 {
            return;
        }
        let to = peer.unwrap_or_else(|| {
            let other = self.rng.gen_range(0..self.slots.len() - 1);
            if other >= slot {
                other + 1
            } else {
                other
            }
        });
        self.log(
            slot,
            format_args!("fetch {} batches from {to}: {:?}…", wanted.len(), wanted[0]),
        );
        let s = &mut self.slots[slot];
        s.last_request += 1;
        let request = s.last_request;
        s.fetches.insert(request, wanted.clone());
        self.send_data(
            slot,
            to,
            Event::Fetch {
                to,
                from: slot,
                request,
                digests: wanted,
            },
        );
        let at = self.queue.now() + FETCH_TIMEOUT_MS;
        self.queue.at(at, Event::FetchTimeout { slot, request });
    }

    /// A peer asks for batches: it gets those in memory or on disk.
    pub(super) fn serve_batches(&mut self, slot: usize, to: usize, request: u64, digests: &[Hash]) {
        let s = &self.slots[slot];
        if s.engine.is_none() || s.behavior == Behavior::Silent {
            return;
        }
        let batches: Vec<Batch> = digests
            .iter()
            .filter_map(|d| s.pool.get(d).or_else(|| s.disk.batches.get(d)).cloned())
            .collect();
        self.send_data(
            slot,
            to,
            Event::Batches {
                to,
                from: slot,
                batches,
                request: Some(request),
            },
        );
    }

    /// Batches arrive, by gossip or as the answer to a request (of which only the
    /// digests asked are taken; an answer after the request timed out is dropped):
    /// checks they complete are answered, the commits they complete written, and what
    /// an answer lacked asked again.
    pub(super) fn on_batches(&mut self, slot: usize, batches: Vec<Batch>, request: Option<u64>) {
        if self.slots[slot].engine.is_none() {
            return;
        }
        let asked = match request {
            None => None,
            Some(id) => match self.slots[slot].fetches.remove(&id) {
                Some(asked) => Some(asked),
                None => return,
            },
        };
        let mut ready = Vec::new();
        let s = &mut self.slots[slot];
        for batch in batches {
            let digest = batch.digest();
            if asked.as_ref().is_some_and(|a| !a.contains(&digest)) {
                continue;
            }
            if s.pool.add(batch).is_ok() {
                ready.extend(s.availability.arrived(&digest));
            }
        }
        if let Some(asked) = &asked {
            s.availability.fetch_ended(asked);
            self.log(
                slot,
                format_args!("fetched batches ({} asked)", asked.len()),
            );
        }
        for block in ready {
            let answer = self.checked(slot, &block);
            self.feed(slot, answer);
        }
        if asked.is_some() {
            self.refetch_missing(slot);
        }
        self.flush_commits(slot);
    }

    /// A request timed out unanswered: what is still missing is asked of another peer.
    pub(super) fn on_fetch_timeout(&mut self, slot: usize, request: u64) {
        let s = &mut self.slots[slot];
        let Some(asked) = s.fetches.remove(&request) else {
            return;
        };
        s.availability.fetch_ended(&asked);
        self.refetch_missing(slot);
    }

    /// Batches that checks or the next commit miss and no request is fetching.
    fn refetch_missing(&mut self, slot: usize) {
        let s = &self.slots[slot];
        let missing = s.availability.unfetched(at_hand(&s.pool, &s.disk.batches));
        if !missing.is_empty() {
            self.fetch(slot, missing, None);
        }
    }

    /// No batch of a finalized block is lost: an honest node holds each one, in memory
    /// or on disk (a crashed node's memory is gone).
    pub(super) fn data_checks(&mut self) {
        let mut lost: Vec<(u64, Hash)> = Vec::new();
        for (height, digests) in self.finalized_payloads.values() {
            for d in digests {
                let held = (0..self.slots.len()).any(|t| {
                    let s = &self.slots[t];
                    self.honest(t)
                        && (s.disk.batches.contains_key(d)
                            || (s.engine.is_some() && s.pool.get(d).is_some()))
                });
                if !held {
                    lost.push((*height, *d));
                }
            }
        }
        lost.sort();
        if let Some((height, d)) = lost.first() {
            self.checker.fail(format!(
                "data availability: {} batches of finalized blocks are held by no honest node (first: {d:?} at height {height})",
                lost.len()
            ));
        }
    }

    /// A sync request: blocks back from `hash` along parents, from the disk.
    pub(super) fn serve_sync(&mut self, slot: usize, to: usize, hash: Hash, max: u32) {
        let disk = &self.slots[slot].disk;
        let mut blocks = Vec::new();
        let mut cursor = hash;
        while blocks.len() < max.min(MAX_SYNC_SERVE) as usize {
            let Some(block) = disk.blocks.get(&cursor) else {
                break;
            };
            cursor = block.header.parent;
            blocks.push(block.clone());
        }
        if !blocks.is_empty() {
            self.emit(
                slot,
                vec![to],
                Message::SyncResponse(SyncResponse { blocks }),
            );
        }
    }

    /// Schedules a data event over the link model (lossy, partitioned like the rest).
    fn send_data(&mut self, from: usize, to: usize, event: Event) {
        let now = self.queue.now();
        if let Some(at) = self.network.delay(&mut self.rng, now, from, to) {
            self.queue.at(at, event);
        }
    }
}
