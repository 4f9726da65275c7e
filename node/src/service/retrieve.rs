//! Rebuilding a block's data from the shards validators keep (`docs/protocol.md` §12),
//! in a task of its own: the node task only hands it the block, the committee's layout
//! and the peer of each member.
//!
//! Members are asked for the shards they hold that are still missing, [`WAVE`] at a
//! time, until `k` shards are here or a whole round brings nothing new (an answer is
//! capped in bytes: what did not fit is asked again in the next round). Every shard is
//! checked against the header's commitment before it counts, and a peer that sends one
//! that does not prove its place is penalized. The rebuilt data must decode to the
//! header's batches and hand-over record. At most [`REBUILDS`] rebuilds run at once (a
//! client's request is refused while they do; a commit's waits its turn), so
//! memory stays bounded whatever RPC clients ask: a rebuild holds at most the `N` shards
//! of one block (each at most 3 MiB) and one wave of answers.

use std::time::Duration;

use futures::future::join_all;
use synod_da::payload::Payload;
use synod_da::{Added, CommitteeDa, DaBackend, Shard};
use synod_p2p::directory::PENALTY_INVALID;
use synod_p2p::{NetworkHandle, PeerId, Request, Response};
use synod_types::wire::Limits;
use synod_types::Block;
use tokio::sync::Semaphore;

/// Rounds of requests at most (each must bring new shards, or the rebuild stops).
const ROUNDS: usize = 64;
/// Members asked at once.
const WAVE: usize = 8;
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
        let mut retrieval = self.da.retrieval(header.da_commitment);
        let commitment = header.da_commitment;
        for shard in self.own.iter().cloned() {
            retrieval.add(shard);
        }
        'rounds: for _ in 0..ROUNDS {
            let asks: Vec<(PeerId, Vec<u32>)> = retrieval
                .missing_holders()
                .into_iter()
                .filter_map(|m| {
                    Some((
                        self.peers.get(m).copied().flatten()?,
                        retrieval.missing_of(m),
                    ))
                })
                .filter(|(_, indices)| !indices.is_empty())
                .collect();
            let mut progress = false;
            for wave in asks.chunks(WAVE) {
                let answers = join_all(wave.iter().map(|(peer, indices)| {
                    let net = self.net.clone();
                    let request = Request::Shards {
                        commitment,
                        indices: indices.clone(),
                    };
                    async move {
                        let answer =
                            tokio::time::timeout(ANSWER_TIMEOUT, net.request(*peer, request)).await;
                        (*peer, indices, answer)
                    }
                }))
                .await;
                for (peer, indices, answer) in answers {
                    let Ok(Ok(Response::Shards(items))) = answer else {
                        continue;
                    };
                    let mut bad = false;
                    for item in items {
                        match Shard::decode(&item) {
                            Ok(shard) if indices.contains(&shard.index) => {
                                match retrieval.add(shard) {
                                    Added::Counted => progress = true,
                                    Added::Duplicate => {}
                                    Added::Invalid => bad = true,
                                }
                            }
                            _ => bad = true,
                        }
                    }
                    if bad {
                        self.net.penalize(peer, PENALTY_INVALID).await;
                    }
                }
                if retrieval.ready() {
                    break 'rounds;
                }
            }
            if !progress {
                break;
            }
        }
        if !retrieval.ready() {
            let total: u128 = self.stakes.iter().map(|s| u128::from(*s)).sum();
            let heard: u128 = retrieval
                .holders_heard()
                .iter()
                .map(|m| u128::from(self.stakes.get(*m).copied().unwrap_or(0)))
                .sum();
            return Err(format!(
                "the data of height {} cannot be rebuilt: shards came from members holding {:.1}% of the stake, and at least a third is needed",
                header.height,
                100.0 * heard as f64 / total.max(1) as f64
            ));
        }
        let data = retrieval.rebuild().map_err(|e| e.to_string())?;
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
