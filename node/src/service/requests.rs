//! Direct requests: sending them in the background, routing their answers (and view
//! timers) back to the component that asked, and answering peers' requests from the
//! engine, the batch pool and the store.

use anyhow::Result;
use synod_consensus::engine::PeerId as EnginePeer;
use synod_p2p::directory::PENALTY_MINOR;
use synod_p2p::{PeerId, Request, Response};

use super::{Internal, Node, Purpose};

impl Node {
    /// A view timer or a request's answer, routed to what asked for it.
    pub(super) async fn on_internal(&mut self, internal: Internal) -> Result<()> {
        match internal {
            Internal::Timer { epoch, view } => {
                if epoch == self.committee.epoch() {
                    self.drive(synod_consensus::Input::TimerFired { view })
                        .await?;
                }
            }
            Internal::Rebuilt { block, result } => self.on_rebuilt(block, result).await?,
            Internal::Response {
                peer,
                purpose,
                asked,
                result,
            } => match (purpose, result) {
                (_, Err(e)) => {
                    tracing::debug!(%peer, ?purpose, error = %e, "request failed");
                    // May be asked again, from another peer.
                    self.availability.fetch_ended(&asked);
                    if purpose == Purpose::Finalized && self.follow.request_failed(peer) {
                        // It claimed a later epoch and did not answer for it.
                        self.net.penalize(peer, PENALTY_MINOR).await;
                    }
                }
                (Purpose::Vote | Purpose::Forward, Ok(_)) => {}
                (Purpose::Sync, Ok(Response::Consensus(message))) => {
                    let from = EnginePeer(self.peers.handle(peer));
                    self.drive(synod_consensus::Input::Message { from, message })
                        .await?;
                }
                (Purpose::Batches, Ok(Response::Batches { batches, deferred })) => {
                    self.on_fetched_batches(peer, &asked, batches, deferred)
                        .await?;
                }
                (
                    Purpose::Finalized,
                    Ok(Response::Finalized {
                        blocks,
                        certificate,
                    }),
                ) => {
                    self.on_finalized_range(peer, blocks, certificate).await?;
                }
                (purpose, Ok(other)) => {
                    self.availability.fetch_ended(&asked);
                    tracing::debug!(%peer, ?purpose, answer = ?std::mem::discriminant(&other), "unexpected answer");
                    if purpose == Purpose::Finalized && self.follow.request_failed(peer) {
                        self.net.penalize(peer, PENALTY_MINOR).await;
                    }
                }
            },
        }
        Ok(())
    }

    /// Sends a request in the background; the answer comes back as `Internal`.
    pub(super) fn request(&self, peer: PeerId, request: Request, purpose: Purpose) {
        let net = self.net.clone();
        let internal = self.internal.clone();
        let asked = match &request {
            Request::Batches(digests) => digests.clone(),
            _ => Vec::new(),
        };
        tokio::spawn(async move {
            let result = net.request(peer, request).await;
            let _ = internal
                .send(Internal::Response {
                    peer,
                    purpose,
                    asked,
                    result,
                })
                .await;
        });
    }

    /// Answers a peer's direct request.
    pub(super) async fn serve(&mut self, peer: PeerId, request: Request) -> Result<Response> {
        Ok(match request {
            Request::Consensus(message) => match message {
                synod_types::Message::SyncRequest(r) => {
                    let found = self.blocks_back_from(r.block_hash, r.max_blocks)?;
                    if found.blocks.is_empty() {
                        Response::Refused("unknown block".into())
                    } else {
                        Response::Consensus(synod_types::Message::SyncResponse(found))
                    }
                }
                message => {
                    if message.epoch() > Some(self.committee.epoch()) {
                        self.later_epoch_seen(peer);
                        Response::Ack
                    } else if self.engine.is_some() {
                        let from = EnginePeer(self.peers.handle(peer));
                        self.drive(synod_consensus::Input::Message { from, message })
                            .await?;
                        Response::Ack
                    } else {
                        Response::Refused("not a validator".into())
                    }
                }
            },
            Request::Batches(digests) => self.batches_for(&digests)?,
            Request::Finalized { from_height, max } => self.finalized_range(from_height, max)?,
            Request::Txs(txs) => self.on_forwarded_txs(peer, txs).await,
            Request::Shards {
                commitment,
                indices,
            } => Response::Shards(self.shards_for(&commitment, &indices)?),
        })
    }
}
