//! Transactions, batches and commits: what the node accepts, what it orders, and how a
//! finalized block reaches the store and the finalized stream.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use synod_consensus::engine::{Action, Input};
use synod_p2p::directory::PENALTY_MINOR;
use synod_p2p::protocol::{batches_reply, reply_cap, MAX_BATCHES_PER_REQUEST, MAX_TXS_PER_REQUEST};
use synod_p2p::{Announced, Gossip, PeerId, Request, Response, Verdict};
use synod_sequencer::{forward, BatchPool, Check, NextCommit, Rejected};
use synod_types::{Batch, Block, FinalityCert, Hash, PublicKey, SealedBatch, Signature, Tx};

use super::{now_ms, Node, Purpose};
use synod_staking::RecordCheck;
use synod_store::Store;

/// Whether a batch is at hand: in the pool or on disk (a read error counts as not at
/// hand: it is fetched again).
pub(super) fn at_hand<'a>(pool: &'a BatchPool, store: &'a Store) -> impl Fn(&Hash) -> bool + 'a {
    move |d| pool.get(d).is_some() || store.has_batch(d).unwrap_or(false)
}

impl Node {
    /// Validates a client's transaction: into the mempool (a member of the committee,
    /// which batches it) or forwarded to the validators (a full node, or a validator
    /// outside the current committee).
    pub(super) fn accept_tx(&mut self, tx: Tx) -> Result<Hash, Rejected> {
        self.refuse_final(&tx)?;
        let hash = match self.builder {
            Some(_) => {
                let hash = self.mempool.insert(tx)?;
                self.intake.track(hash);
                hash
            }
            None => self.intake.accept(tx)?,
        };
        metrics::counter!("synod_rpc_transactions_accepted_total").increment(1);
        Ok(hash)
    }

    /// A transaction already in a finalized block is not accepted again: ordering it
    /// once more would finalize nothing (the index keeps its first place) and would
    /// leave it pending here for good. A read error lets it through (the commit
    /// deduplicates it).
    fn refuse_final(&self, tx: &Tx) -> Result<(), Rejected> {
        let hash = tx.hash();
        match self.chain.store().tx_location(&hash) {
            Ok(Some(_)) => Err(Rejected::Final(hash)),
            _ => Ok(()),
        }
    }

    /// Puts back the transactions acknowledged before a restart and not final yet.
    pub(super) fn restore_pending(&mut self) -> Result<()> {
        let txs = self.chain.store().pending(self.cfg.mempool.max_txs)?;
        if txs.is_empty() {
            return Ok(());
        }
        tracing::info!(count = txs.len(), "restoring acknowledged transactions");
        for tx in &txs {
            self.intake.track(tx.hash());
        }
        self.requeue(txs);
        Ok(())
    }

    /// Puts acknowledged transactions back where this node orders or forwards them.
    pub(super) fn requeue(&mut self, mut txs: Vec<Tx>) {
        if self.builder.is_none() {
            // Not a member (any more): what waits here goes to the validators.
            txs.extend(self.mempool.take(usize::MAX, usize::MAX));
            self.intake.forward(txs);
        } else if !txs.is_empty() {
            self.mempool.requeue(txs);
        }
    }

    /// Hands the transactions a full node accepted to the validators that carry them,
    /// and again every `REFORWARD_AFTER` until they are final: a carrier that crashed or
    /// was not reachable loses nothing. Waits while no validator is connected.
    pub(super) fn forward_txs(&mut self) {
        let validators = self.peers.connected_validators();
        let per_peer = self.intake.due(
            Instant::now(),
            self.committee.size(),
            |i| self.peers.validator(i),
            &validators,
        );
        let max_bytes = self.limits.max_message_bytes / 2;
        for (peer, txs) in per_peer {
            for chunk in forward::chunks(txs, MAX_TXS_PER_REQUEST, max_bytes) {
                self.request(peer, Request::Txs(chunk), Purpose::Forward);
            }
        }
    }

    /// Transactions a full node hands over: taken into this validator's mempool.
    pub(super) async fn on_forwarded_txs(&mut self, peer: PeerId, txs: Vec<Tx>) -> Response {
        if self.me.is_none() {
            return Response::Refused("not a committee member".into());
        }
        let bytes: usize = txs
            .iter()
            .map(|t| t.payload.len() + forward::TX_OVERHEAD)
            .sum();
        if !self
            .forward_budgets
            .take(peer, txs.len(), bytes, Instant::now())
        {
            // The full node sends them again later (or to another carrier).
            metrics::counter!("synod_p2p_forwarded_refused_total").increment(1);
            return Response::Refused("rate limit: forwarding faster than allowed".into());
        }
        let mut malformed = false;
        for tx in txs {
            if self.refuse_final(&tx).is_err() {
                continue;
            }
            match self.mempool.insert(tx) {
                Ok(hash) => self.intake.track(hash),
                Err(Rejected::Empty | Rejected::TooLarge { .. }) => malformed = true,
                // Known already, or full: the full node sends it again later.
                Err(_) => {}
            }
        }
        if malformed {
            self.net.penalize(peer, PENALTY_MINOR).await;
        }
        Response::Ack
    }

    /// Cuts this validator's batches and sends them to the others; with `all`, empties
    /// the mempool whatever the interval (at shutdown, so peers carry what was
    /// acknowledged here). Returns how many batches were sent.
    pub(super) async fn cut_batches(&mut self, all: bool) -> usize {
        self.forward_txs();
        let Some(builder) = self.builder.as_mut() else {
            return 0;
        };
        let now = if all { u64::MAX / 2 } else { now_ms() };
        let mut cut = Vec::new();
        while let Some(batch) = builder.poll(now, &mut self.mempool) {
            cut.push(batch);
        }
        let count = cut.len();
        for batch in cut {
            let sealed = std::sync::Arc::new(synod_types::SealedBatch::new(batch));
            match self.pool.add_sealed(sealed.clone()) {
                Ok(_) => {
                    self.net
                        .publish(Gossip::Batch(sealed.batch().clone()))
                        .await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "own batch refused by the pool; transactions requeued");
                    self.mempool.requeue(sealed.batch().txs.clone());
                }
            }
        }
        count
    }

    /// A batch from the network: only from the announced peer of its author.
    pub(super) async fn on_batch(&mut self, origin: Option<PeerId>, batch: Batch) -> Result<()> {
        if batch.epoch != self.committee.epoch() {
            // Of the epoch before or after a hand-over this node has not made yet: not
            // provably bad (a block that orders it fetches it by digest).
            self.judge(Verdict::Ignore);
            return Ok(());
        }
        if batch.author as usize >= self.committee.size() {
            self.judge(Verdict::Reject);
            return Ok(());
        }
        let from_author = origin.is_some_and(|o| self.peers.is_validator(batch.author, &o));
        if !from_author {
            // Unknown author peer so far (announcement not seen yet): not provably bad.
            self.judge(Verdict::Ignore);
            return Ok(());
        }
        match self.pool.add(batch) {
            Ok(digest) => {
                self.judge(Verdict::Accept);
                let ready = self.availability.arrived(&digest);
                self.payloads_ready(ready).await?;
            }
            Err(e) => {
                tracing::debug!(error = %e, "batch dropped");
                self.judge(Verdict::Ignore);
            }
        }
        Ok(())
    }

    /// Blocks whose batches are all here now: once their data is checked against
    /// their DA commitment and queued for disk, the engine votes (or not).
    pub(super) async fn payloads_ready(&mut self, blocks: Vec<Block>) -> Result<()> {
        for block in blocks {
            let valid = self.check_data(&block).await?;
            self.drive(Input::PayloadChecked {
                block_hash: block.hash(),
                valid,
            })
            .await?;
        }
        Ok(())
    }

    /// Up to `block.max_batches` digests not ordered by a block that is not final yet.
    pub(super) fn pick_payload(&mut self) -> Vec<Hash> {
        let exclude = self.availability.ordered_digests();
        self.pool.pick(self.cfg.block.max_batches, &exclude)
    }

    /// Checks that every batch of a proposed block is here (and queues them for disk);
    /// fetches the others. Returns the engine's answer when the check is complete now.
    pub(super) async fn check_payload(&mut self, block: Block) -> Result<Option<Vec<Action>>> {
        if let Some(record) = &block.next_epoch {
            // A hand-over record is voted for only if it matches this node's own reading
            // of the StakeTable (`docs/protocol.md` §11, H1).
            match self.check_record(record) {
                RecordCheck::Valid => {}
                RecordCheck::NotYetRead => {
                    tracing::debug!(
                        epoch = record.epoch,
                        "hand-over record of an epoch not read yet; the vote waits"
                    );
                    self.availability.wait_for_record(block);
                    return Ok(None);
                }
                RecordCheck::Invalid => {
                    tracing::warn!(
                        epoch = record.epoch,
                        height = block.header.height,
                        "hand-over record differs from the StakeTable as read here; not voting"
                    );
                    let engine = self
                        .engine
                        .as_mut()
                        .expect("only validators check payloads");
                    return Ok(Some(engine.handle(Input::PayloadChecked {
                        block_hash: block.hash(),
                        valid: false,
                    })));
                }
            }
        }
        let (block_hash, height, view) = (block.hash(), block.header.height, block.header.view);
        let proposer = self.peers.validator(block.header.proposer);
        match self
            .availability
            .check(block.clone(), at_hand(&self.pool, self.chain.store()))
        {
            Check::Ready => {
                let valid = self.check_data(&block).await?;
                let engine = self
                    .engine
                    .as_mut()
                    .expect("only validators check payloads");
                Ok(Some(
                    engine.handle(Input::PayloadChecked { block_hash, valid }),
                ))
            }
            Check::Waiting(missing) => {
                tracing::debug!(
                    height,
                    view,
                    missing = missing.len(),
                    "proposal waits for its batches"
                );
                self.fetch_batches(missing, proposer);
                Ok(None)
            }
        }
    }

    /// Asks `peer` (or any connected peer) for batches not already being fetched.
    pub(super) fn fetch_batches(&mut self, digests: Vec<Hash>, peer: Option<PeerId>) {
        let wanted = self
            .availability
            .start_fetch(digests, MAX_BATCHES_PER_REQUEST);
        if wanted.is_empty() {
            return;
        }
        // Any peer may hold a batch, full nodes too: after every validator crashed, the
        // batches a certified block orders may be left only with a full node.
        let candidates: Vec<PeerId> = self.peers.connected_peers().copied().collect();
        let peer = peer.filter(|p| candidates.contains(p)).or_else(|| {
            candidates
                .get(now_ms() as usize % candidates.len().max(1))
                .copied()
        });
        match peer {
            Some(peer) => self.request(peer, Request::Batches(wanted), Purpose::Batches),
            None => self.availability.fetch_ended(&wanted),
        }
    }

    /// Batches a peer sent for a request of `asked` digests: only those are kept; one
    /// that was not asked for is the peer's misbehaviour. Those it `deferred` (its answer
    /// was full) are asked of it again.
    pub(super) async fn on_fetched_batches(
        &mut self,
        peer: PeerId,
        asked: &[Hash],
        batches: Vec<Batch>,
        deferred: Vec<Hash>,
    ) -> Result<()> {
        let mut ready = Vec::new();
        let received = batches.len();
        for batch in batches {
            let sealed = Arc::new(SealedBatch::new(batch));
            let digest = sealed.digest();
            if !asked.contains(&digest) {
                self.net.penalize(peer, PENALTY_MINOR).await;
                continue;
            }
            if sealed.batch().epoch < self.committee.epoch() {
                // Asked before a hand-over: never ordered now.
                continue;
            }
            if let Err(e) = self.pool.add_needed(sealed) {
                tracing::debug!(error = %e, "fetched batch dropped");
                continue;
            }
            ready.extend(self.availability.arrived(&digest));
        }
        tracing::debug!(%peer, asked = asked.len(), deferred = deferred.len(), "batches fetched");
        // What the peer deferred is asked of it again. Whatever else did not come is
        // asked again, from another peer; a commit's batches the peer did not hold are
        // rebuilt from shards too.
        // An honest peer defers only once its answer holds a batch: deferring everything
        // would keep this node asking it alone, for ever.
        let deferred: Vec<Hash> = if received == 0 && !deferred.is_empty() {
            self.net.penalize(peer, PENALTY_MINOR).await;
            Vec::new()
        } else {
            deferred.into_iter().filter(|d| asked.contains(d)).collect()
        };
        self.availability.fetch_ended(asked);
        let unserved: Vec<Hash> = {
            let have = at_hand(&self.pool, self.chain.store());
            asked
                .iter()
                .filter(|d| !have(d) && !deferred.contains(d))
                .copied()
                .collect()
        };
        self.availability.unserved(unserved);
        if !deferred.is_empty() {
            self.fetch_batches(deferred, Some(peer));
        }
        self.rebuild_commits()?;
        self.payloads_ready(ready).await?;
        self.refetch_missing();
        self.flush_commits().await?;
        self.move_engine_root().await
    }

    /// Once a second: batches a proposal's check or the next commit still misses, and
    /// that no request is fetching (it failed, or its peer went away), are asked for
    /// again from another peer.
    pub(super) fn refetch_missing(&mut self) {
        let missing = self
            .availability
            .unfetched(at_hand(&self.pool, self.chain.store()));
        if !missing.is_empty() {
            self.fetch_batches(missing, None);
        }
    }

    /// Batches for a peer, from the pool or the store.
    pub(super) fn batches_for(&self, digests: &[Hash]) -> Result<Response> {
        let reply = batches_reply(digests, reply_cap(&self.limits), |d| {
            match self.pool.get(d) {
                Some(b) => Ok(Some(b.clone())),
                None => self.chain.store().batch(d),
            }
        })?;
        Ok(reply)
    }

    /// Writes queued commits whose batches are all here, in order; fetches the rest.
    pub(super) async fn flush_commits(&mut self) -> Result<()> {
        loop {
            match self
                .availability
                .next_commit(at_hand(&self.pool, self.chain.store()))
            {
                NextCommit::None => return Ok(()),
                NextCommit::Missing(missing) => {
                    self.fetch_batches(missing, None);
                    return Ok(());
                }
                NextCommit::Ready => {}
            }
            let (blocks, certificate) = self.availability.pop_commit().expect("a commit is ready");
            let mut batches = Vec::with_capacity(blocks.len());
            for block in &blocks {
                let mut list = Vec::with_capacity(block.payload.len());
                for d in &block.payload {
                    let batch = match self.pool.sealed(d) {
                        Some(b) => b,
                        None => Arc::new(SealedBatch::new(
                            self.chain
                                .store()
                                .batch(d)?
                                .with_context(|| format!("batch {d:?} of a commit vanished"))?,
                        )),
                    };
                    list.push(batch);
                }
                batches.push(list);
            }
            self.apply_commit(blocks, certificate, batches).await?;
        }
    }

    async fn apply_commit(
        &mut self,
        blocks: Vec<Block>,
        certificate: FinalityCert,
        batches: Vec<Vec<Arc<SealedBatch>>>,
    ) -> Result<()> {
        let Some(committed) = self
            .chain
            .commit(blocks, certificate, batches, &mut self.intake)
            .await?
        else {
            return Ok(());
        };
        self.pool.finalize(&committed.digests);
        let height = self.chain.height();
        let last = committed.last;
        if last.next_epoch.is_some() {
            self.hand_over_due = Some(last.clone());
        }
        self.follow.committed(height);
        self.progress.highest_height = self.progress.highest_height.max(height);
        self.availability.finalized(height);
        // One announcer per height (height mod committee size), so followers get each
        // certificate once; a gap left by a down member is closed by range sync.
        let members = self.committee.size() as u64;
        let first = height + 1 - committed.blocks as u64;
        // The epoch's last block is announced by every member that has not heard it
        // announced already: a node that misses it cannot follow the next committee.
        let announcer = self.me.is_some_and(|me| {
            (last.next_epoch.is_some() && self.follow.heard() != Some(last.hash()))
                || (first..=height).any(|h| h % members == u64::from(me))
        });
        if announcer {
            self.net
                .publish(Gossip::Finalized {
                    block: last,
                    certificate: committed.certificate,
                })
                .await;
        }
        Ok(())
    }

    /// Blocks from `hash` back along parents, newest first, at most `max` (and 64).
    pub(super) fn blocks_back_from(
        &self,
        hash: Hash,
        max: u32,
    ) -> Result<synod_types::SyncResponse> {
        let mut blocks = Vec::new();
        let mut next = hash;
        while blocks.len() < max.min(self.limits.max_sync_blocks as u32) as usize {
            match self.chain.store().block(&next)? {
                Some(b) if b.header.height > 0 => {
                    next = b.header.parent;
                    blocks.push(b);
                }
                _ => break,
            }
        }
        Ok(synod_types::SyncResponse { blocks })
    }

    /// Publishes this validator's binding of its BLS key to its peer id.
    pub(super) async fn announce(&mut self) {
        self.last_announce = Some(std::time::Instant::now());
        self.announce_due = None;
        let Some(key) = &self.key else {
            return;
        };
        // Members, and members of the next committee as read from L1 (so that the
        // others know their peers when it takes over).
        if self.me.is_none() && !self.in_next_committee(&key.public_key()) {
            return;
        }
        let peer = self.net.local_peer_id();
        let message = synod_p2p::announce_message(self.domain.chain_id, &peer.to_bytes());
        self.net
            .publish(Gossip::Announce {
                public_key: key.public_key(),
                signature: key.sign(&message),
                nonce: now_ms(),
            })
            .await;
    }

    /// A validator's announcement: verified once per (member, peer).
    pub(super) fn on_announce(
        &mut self,
        origin: Option<PeerId>,
        key: PublicKey,
        signature: Signature,
    ) {
        let Some(origin) = origin else {
            return self.judge(Verdict::Reject);
        };
        let epochs = self.l1_epochs.as_ref().map(|e| e.borrow());
        let next_member = |key: &PublicKey| {
            epochs
                .as_deref()
                .is_some_and(|e| synod_staking::handover::in_next_committee(e, key))
        };
        let announced = self.peers.announced(
            &self.committee,
            next_member,
            self.domain.chain_id,
            key,
            &signature,
            origin,
        );
        drop(epochs);
        match announced {
            Announced::Bound { index, new } => {
                if new {
                    tracing::info!(validator = ?index, peer = %origin, "validator announced");
                }
                self.judge(Verdict::Accept);
            }
            Announced::NotAMember => self.judge(Verdict::Ignore),
            Announced::Invalid => self.judge(Verdict::Reject),
        }
    }
}
