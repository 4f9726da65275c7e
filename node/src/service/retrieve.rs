//! Rebuilding a block's data from the shards validators keep (`docs/protocol.md` §12),
//! in a task of its own: the node task only hands it the block, the committee's layout
//! and the peer of each member.
//!
//! Which members are asked for what, round after round, and which answers count is
//! `synod_da::gather`'s; this module carries the requests (`Request::Shards`, each
//! answer waited for at most 10 s), penalizes the peers of members that sent bad shards,
//! and checks that the rebuilt data decodes to the header's batches and hand-over
//! record. At most [`REBUILDS`] rebuilds run at once (a client's request is refused
//! while they do; a commit's waits its turn), so memory stays bounded whatever RPC
//! clients ask: a rebuild holds at most the `N` shards of one block (each at most
//! 3 MiB) and one wave of answers.

use std::time::Duration;

use synod_da::gather::gather;
use synod_da::payload::Payload;
use synod_da::{CommitteeDa, DaBackend, Shard};
use synod_p2p::directory::PENALTY_INVALID;
use synod_p2p::{NetworkHandle, PeerId, Request, Response};
use synod_types::wire::Limits;
use synod_types::Block;
use tokio::sync::Semaphore;

/// Rebuilds running at once, at most; more are refused as busy.
const REBUILDS: usize = 2;

static RUNNING: Semaphore = Semaphore::const_new(REBUILDS);
/// How long one member's answer is waited for.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What a rebuild needs.
pub(super) struct Rebuild {
    /// The block whose data is wanted.
    pub block: Block,
    /// The DA backend of the block's committee.
    pub da: CommitteeDa,
    /// Each member's stake, in committee order.
    pub stakes: Vec<u64>,
    /// The peer of each member, if known.
    pub peers: Vec<Option<PeerId>>,
    /// Shards this node keeps itself.
    pub own: Vec<Shard>,
    /// The network.
    pub net: NetworkHandle,
    /// Decoding bounds.
    pub limits: Limits,
    /// Wait for a free slot (a commit needs the data) instead of refusing as busy (a
    /// client asked).
    pub wait: bool,
}

impl Rebuild {
    /// The block's data, rebuilt from peers' shards and checked against its header, or
    /// why not (naming how much of the stake answered).
    pub(super) async fn run(self) -> Result<Payload, String> {
        let _permit = match self.wait {
            true => RUNNING.acquire().await.map_err(|e| e.to_string())?,
            false => RUNNING.try_acquire().map_err(|_| {
                format!("busy: {REBUILDS} rebuilds from shards are running; try again")
            })?,
        };
        let started = std::time::Instant::now();
        let header = &self.block.header;
        let commitment = header.da_commitment;
        let mut retrieval = self.da.retrieval(commitment);
        for shard in self.own.iter().cloned() {
            retrieval.add(shard);
        }
        let gathered = gather(retrieval, |member, indices| {
            let peer = self.peers.get(member).copied().flatten();
            let net = self.net.clone();
            async move {
                let request = Request::Shards {
                    commitment,
                    indices,
                };
                match tokio::time::timeout(ANSWER_TIMEOUT, net.request(peer?, request)).await {
                    Ok(Ok(Response::Shards(items))) => Some(items),
                    _ => None,
                }
            }
        })
        .await;
        for member in &gathered.bad {
            if let Some(peer) = self.peers.get(*member).copied().flatten() {
                self.net.penalize(peer, PENALTY_INVALID).await;
            }
        }
        let data = gathered.rebuild(&self.stakes, header.height)?;
        let payload = synod_da::payload::decode(&data, &self.limits).map_err(|e| e.to_string())?;
        let digests: Vec<_> = payload.batches.iter().map(|b| b.digest()).collect();
        if digests != self.block.payload || payload.record != self.block.next_epoch {
            return Err(format!(
                "the data rebuilt for height {} does not match its header's payload",
                header.height
            ));
        }
        metrics::counter!("synod_da_rebuilds_total").increment(1);
        metrics::gauge!("synod_da_rebuild_seconds").set(started.elapsed().as_secs_f64());
        Ok(payload)
    }
}
