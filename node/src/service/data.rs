//! The node's side of data availability (`docs/protocol.md` §12): the commitment a
//! leader puts in its header, and the check a validator makes before it votes, after
//! which the block's batches and this validator's shards are queued for a synced write
//! ahead of the vote's safety state. What is committed to and how (encoding, shard
//! layout, proofs) is `synod_da`'s; this module only gathers the batches and hands the
//! results to the persistence thread. It also starts the rebuilds from shards
//! (`retrieve.rs`) that a client's `synod_getBlockData` asks for, and those of commits
//! whose batches no peer holds any more.

use std::sync::Arc;

use anyhow::{Context, Result};
use synod_da::committee::MAX_SHARD_BYTES;
use synod_da::payload::Payload;
use synod_da::{DaBackend, Kept, Params};
use synod_p2p::protocol::reply_cap;
use synod_types::{Batch, Block, Committee, Hash, NextEpoch, SealedBatch};
use tokio::sync::oneshot;

use super::payload::at_hand;
use super::persist::Job;
use super::retrieve::Rebuild;
use super::status::{BlockData, DataSource};
use super::{Internal, Node};

/// Commits whose data is rebuilt from shards at once, at most.
const COMMIT_REBUILDS: usize = 2;
/// Pause before a commit's failed rebuild is tried again.
const REBUILD_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// A batch of a block being encoded: shared with the pool, or read from the store.
enum Held {
    Pool(Arc<SealedBatch>),
    Store(Batch),
}

impl Held {
    fn batch(&self) -> &Batch {
        match self {
            Held::Pool(s) => s.batch(),
            Held::Store(b) => b,
        }
    }
}

impl Node {
    /// The block data of `payload` and `record`, from the pool or the store; `None` if
    /// a batch is not at hand, or if there is nothing to commit to (no batches, no
    /// record: the commitment is [`Hash::ZERO`]).
    fn block_data(&self, payload: &[Hash], record: Option<&NextEpoch>) -> Result<Option<Vec<u8>>> {
        if payload.is_empty() && record.is_none() {
            return Ok(None);
        }
        let mut held = Vec::with_capacity(payload.len());
        for d in payload {
            match self.pool.sealed(d) {
                Some(s) => held.push(Held::Pool(s)),
                None => match self.chain.store().batch(d)? {
                    Some(b) => held.push(Held::Store(b)),
                    None => return Ok(None),
                },
            }
        }
        let batches: Vec<&Batch> = held.iter().map(Held::batch).collect();
        Ok(Some(synod_da::payload::encode(&batches, record)))
    }

    /// A leader's block data: its batches and its own shards are queued for disk
    /// before the proposal is signed; returns the DA commitment for the header.
    pub(super) async fn disperse(
        &mut self,
        height: u64,
        payload: &[Hash],
        record: Option<&NextEpoch>,
    ) -> Result<Hash> {
        if !self.cfg.da.committee {
            self.make_durable(payload, None).await?;
            return Ok(Hash::ZERO);
        }
        let (commitment, kept) = match self.block_data(payload, record)? {
            None => (Hash::ZERO, None),
            Some(data) => {
                let kept = self.da.disperse(&data)?;
                (kept.commitment, Some((height, kept)))
            }
        };
        self.make_durable(payload, kept).await?;
        Ok(commitment)
    }

    /// Before a vote on `block`, whose batches are all at hand: whether its DA
    /// commitment is its data's. If so, its batches and this validator's shards are
    /// queued for disk ahead of the vote (`docs/protocol.md` §3, S5); if not, the
    /// block gets no vote.
    pub(super) async fn check_data(&mut self, block: &Block) -> Result<bool> {
        if !self.cfg.da.committee {
            self.make_durable(&block.payload, None).await?;
            return Ok(true);
        }
        let kept = match self.block_data(&block.payload, block.next_epoch.as_ref())? {
            None => {
                let empty = block.payload.is_empty() && block.next_epoch.is_none();
                if !(empty && block.header.da_commitment == Hash::ZERO) {
                    tracing::debug!(
                        height = block.header.height,
                        view = block.header.view,
                        "a proposal's batches are not all at hand after its check; not voting"
                    );
                    return Ok(false);
                }
                None
            }
            Some(data)
                if Params::new(self.da.assignment(), data.len() as u64).shard_bytes()
                    > MAX_SHARD_BYTES =>
            {
                tracing::warn!(
                    height = block.header.height,
                    bytes = data.len(),
                    "block data too large for shards of at most 3 MiB; not voting"
                );
                return Ok(false);
            }
            Some(data) => match self.da.verify(&data, &block.header.da_commitment) {
                Ok(Some(kept)) => Some((block.header.height, kept)),
                Err(e) => {
                    // Not reachable for data the layout bounds; never fatal to the node.
                    tracing::error!(height = block.header.height, error = %e, "cannot encode block data; not voting");
                    return Ok(false);
                }
                Ok(None) => {
                    tracing::warn!(
                        height = block.header.height,
                        view = block.header.view,
                        proposer = block.header.proposer,
                        "the header's DA commitment is not its data's; not voting"
                    );
                    metrics::counter!("synod_da_rejected_commitments_total").increment(1);
                    return Ok(false);
                }
            },
        };
        self.make_durable(&block.payload, kept).await?;
        Ok(true)
    }

    /// Queues the batches of `payload` held in the pool, and `kept` shards, for a
    /// synced write ahead of the safety state of the vote or proposal this node is
    /// about to sign: the persistence thread writes them first, so nothing signed leaves
    /// before the data it attests is durable, and a restarted node still holds (and
    /// serves) every batch it voted for (`docs/protocol.md` §3, S5). Batches not in the
    /// pool came from the store.
    pub(super) async fn make_durable(
        &mut self,
        payload: &[Hash],
        kept: Option<(u64, Kept)>,
    ) -> Result<()> {
        let batches: Vec<Arc<SealedBatch>> =
            payload.iter().filter_map(|d| self.pool.sealed(d)).collect();
        if batches.is_empty() && kept.as_ref().is_none_or(|(_, k)| k.shards.is_empty()) {
            return Ok(());
        }
        if let Some((_, k)) = &kept {
            metrics::counter!("synod_da_shards_stored_total").increment(k.shards.len() as u64);
            let bytes: usize = k.shards.iter().map(|s| s.bytes.len()).sum();
            metrics::counter!("synod_da_shard_bytes_stored_total").increment(bytes as u64);
        }
        self.persist
            .send(Job::Data { batches, kept })
            .await
            .context("the persistence thread stopped")
    }

    /// This validator's shards of the data `commitment` names, as many of `indices` as
    /// it keeps and fit in one answer.
    pub(super) fn shards_for(&self, commitment: &Hash, indices: &[u32]) -> Result<Vec<Vec<u8>>> {
        // The answer fits one frame; every shard kept fits an answer alone.
        let cap = reply_cap(&self.limits);
        let mut out = Vec::new();
        let mut bytes = 0;
        for i in indices {
            let Some(shard) = self.chain.store().shard(commitment, *i)? else {
                continue;
            };
            let encoded = shard.encode();
            bytes += encoded.len() + 4;
            if bytes > cap && !out.is_empty() {
                break;
            }
            out.push(encoded);
        }
        Ok(out)
    }

    /// Answers `synod_getBlockData`: the finalized block at `height` with its data from
    /// the store, or (if a batch is missing, or `from_shards`) rebuilt from the
    /// validators' shards in a task of its own.
    pub(super) fn block_data_for(
        &mut self,
        height: u64,
        from_shards: bool,
        reply: oneshot::Sender<Result<BlockData, String>>,
    ) -> Result<()> {
        metrics::counter!("synod_da_retrievals_total").increment(1);
        let Some(block) = self.chain.store().block_at(height)? else {
            let _ = reply.send(Err(format!("no finalized block at height {height}")));
            return Ok(());
        };
        if !from_shards || block.header.da_commitment == Hash::ZERO {
            let mut batches = Vec::with_capacity(block.payload.len());
            for d in &block.payload {
                match self.chain.store().batch(d)? {
                    Some(b) => batches.push(b),
                    None => break,
                }
            }
            if batches.len() == block.payload.len() {
                let payload = synod_da::payload::Payload {
                    batches,
                    record: block.next_epoch.clone(),
                };
                let _ = reply.send(Ok(BlockData {
                    block,
                    source: DataSource::Store,
                    payload,
                }));
                return Ok(());
            }
        }
        let rebuild = match self.rebuild_of(block, false)? {
            Ok(rebuild) => rebuild,
            Err(e) => {
                let _ = reply.send(Err(e));
                return Ok(());
            }
        };
        tokio::spawn(async move {
            let block = rebuild.block.clone();
            let result = rebuild.run().await.map(|payload| BlockData {
                block,
                source: DataSource::Shards,
                payload,
            });
            let _ = reply.send(result);
        });
        Ok(())
    }

    /// The task that rebuilds `block`'s data from the validators' shards, or why it
    /// cannot run here. The shards are those of the block's own committee: the current
    /// one, the genesis one, or the one a stored hand-over record names; its members are
    /// asked through the peers they announced (a member gone since is not reachable).
    fn rebuild_of(&self, block: Block, wait: bool) -> Result<Result<Rebuild, String>> {
        let epoch = block.header.epoch;
        let Some(committee) = self.committee_of(epoch)? else {
            return Ok(Err(format!(
                "the block at height {} is of epoch {epoch}, and this node holds no hand-over to it: that committee's shards cannot be checked here",
                block.header.height,
            )));
        };
        let da = super::boot::da_backend(&committee, None);
        let mut own = Vec::new();
        let me = self
            .key
            .as_ref()
            .and_then(|k| committee.index_of(&k.public_key()));
        if let Some(me) = me {
            for i in da.assignment().shards_of(me as usize) {
                own.extend(self.chain.store().shard(&block.header.da_commitment, i)?);
            }
        }
        Ok(Ok(Rebuild {
            da,
            own,
            stakes: committee.members().iter().map(|m| m.stake).collect(),
            peers: committee
                .members()
                .iter()
                .map(|m| self.peers.peer_of_key(&m.public_key))
                .collect(),
            net: self.net.clone(),
            limits: self.limits,
            block,
            wait,
        }))
    }

    /// The committee of `epoch`, if this node knows it: the current one, the genesis
    /// one, or the one the finalized block that handed over to it names.
    fn committee_of(&self, epoch: u64) -> Result<Option<Arc<Committee>>> {
        if epoch == self.committee.epoch() {
            return Ok(Some(self.committee.clone()));
        }
        if epoch == self.genesis_committee.epoch() {
            return Ok(Some(self.genesis_committee.clone()));
        }
        let Some(end) = self.chain.store().handover_to(epoch)? else {
            return Ok(None);
        };
        Ok(super::boot::committee_after(&end, self.committee.scheme())?.map(Arc::new))
    }

    /// Starts rebuilding, from the validators' shards, the data of queued commits whose
    /// batches a peer was asked for and did not hold (pruned past `da.retention-blocks`
    /// everywhere, or their holders gone); the commit goes on once they are here.
    pub(super) fn rebuild_commits(&mut self) -> Result<()> {
        let have = at_hand(&self.pool, self.chain.store());
        let blocks = self.availability.start_rebuilds(have, COMMIT_REBUILDS);
        for block in blocks {
            let hash = block.hash();
            let height = block.header.height;
            let rebuild = match self.rebuild_of(block, true)? {
                Ok(rebuild) => rebuild,
                Err(e) => {
                    tracing::warn!(height, error = %e, "a commit's batches are held by no peer");
                    self.availability.rebuild_ended(&hash);
                    continue;
                }
            };
            tracing::debug!(height, "rebuilding a commit's batches from shards");
            let internal = self.internal.clone();
            tokio::spawn(async move {
                let result = rebuild.run().await;
                if result.is_err() {
                    // Tried again after a pause: holders may still be connecting.
                    tokio::time::sleep(REBUILD_RETRY).await;
                }
                let _ = internal
                    .send(Internal::Rebuilt {
                        block: hash,
                        result,
                    })
                    .await;
            });
        }
        Ok(())
    }

    /// A queued commit's block data, rebuilt from shards (or why not, and it is tried
    /// again): its batches join the pool and the commits waiting for them go on.
    pub(super) async fn on_rebuilt(
        &mut self,
        block: Hash,
        result: Result<Payload, String>,
    ) -> Result<()> {
        self.availability.rebuild_ended(&block);
        let payload = match result {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!(error = %e, "rebuilding a commit's batches failed; trying again");
                return Ok(());
            }
        };
        let mut ready = Vec::new();
        for batch in payload.batches {
            let sealed = Arc::new(SealedBatch::new(batch));
            let digest = sealed.digest();
            if let Err(e) = self.pool.add_needed(sealed) {
                tracing::debug!(error = %e, "rebuilt batch dropped");
                continue;
            }
            ready.extend(self.availability.arrived(&digest));
        }
        self.payloads_ready(ready).await?;
        self.flush_commits().await?;
        self.move_engine_root().await
    }
}
