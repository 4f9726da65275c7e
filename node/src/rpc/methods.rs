//! The JSON-RPC methods (`docs/rpc.md` lists them with examples).

use std::sync::Arc;

use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use serde::Deserialize;
use serde_json::{json, Value};
use synod_types::{Batch, Block, Hash, Tx};
use tokio::sync::oneshot;

use crate::service::stream::RecvError;
use crate::service::{Command, DataSource, Finalized, Shared};

/// Transactions accepted in one `synod_sendTransactions` call, at most.
pub const MAX_TXS_PER_CALL: usize = 4_096;

/// JSON-RPC error codes beyond the standard ones.
pub mod code {
    /// The transaction was refused (size, duplicate, mempool full).
    pub const TX_REJECTED: i32 = -32001;
    /// The node is shutting down or overloaded.
    pub const UNAVAILABLE: i32 = -32002;
    /// A block's data cannot be had (no such block, or too few shards reachable).
    pub const DATA_UNAVAILABLE: i32 = -32004;
    /// The node serves as many subscriptions as it may.
    pub const TOO_MANY_SUBSCRIPTIONS: i32 = -32012;
    /// The store failed.
    pub const INTERNAL: i32 = -32603;
    /// Invalid parameters.
    pub const INVALID_PARAMS: i32 = -32602;
}

fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

fn invalid(message: impl Into<String>) -> ErrorObjectOwned {
    error(code::INVALID_PARAMS, message)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    error(code::INTERNAL, format!("storage error: {e}"))
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn parse_hash(s: &str) -> Result<Hash, ErrorObjectOwned> {
    let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|e| invalid(format!("hash {s:?} is not hex: {e}")))?;
    bytes
        .try_into()
        .map(Hash)
        .map_err(|b: Vec<u8>| invalid(format!("hash must be 32 bytes, got {}", b.len())))
}

/// A transaction as clients send it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TxParam {
    namespace: u64,
    /// Payload, 0x-hex.
    data: String,
}

impl TxParam {
    fn into_tx(self, max_bytes: usize) -> Result<Tx, ErrorObjectOwned> {
        let hex_len = self.data.len().saturating_sub(2) / 2;
        if hex_len > max_bytes {
            return Err(error(
                code::TX_REJECTED,
                format!("transaction payload of {hex_len} bytes exceeds the limit of {max_bytes}"),
            ));
        }
        let payload = hex::decode(self.data.strip_prefix("0x").unwrap_or(&self.data))
            .map_err(|e| invalid(format!("`data` is not hex: {e}")))?;
        Ok(Tx {
            namespace: self.namespace,
            payload,
        })
    }
}

fn tx_json(tx: &Tx) -> Value {
    json!({ "hash": tx.hash().to_hex(), "namespace": tx.namespace, "data": hex0x(&tx.payload) })
}

fn block_json(block: &Block, certificate: Option<&synod_types::FinalityCert>) -> Value {
    let h = &block.header;
    json!({
        "hash": block.hash().to_hex(),
        "height": h.height,
        "view": h.view,
        "epoch": h.epoch,
        "parent": h.parent.to_hex(),
        "proposer": h.proposer,
        "timestamp_ms": h.timestamp_ms,
        "payload_digest": h.payload_digest.to_hex(),
        "da_commitment": h.da_commitment.to_hex(),
        "batches": block.payload.iter().map(|d| d.to_hex()).collect::<Vec<_>>(),
        "finality_certificate": certificate.map(|c| json!({
            "epoch": c.0.epoch,
            "view": c.0.view,
            "block_hash": c.0.block_hash.to_hex(),
            "signers": hex0x(c.0.signers.as_bytes()),
            "signature": hex0x(&c.0.signature.0),
        })),
    })
}

fn batch_json(digest: &Hash, batch: &Batch) -> Value {
    json!({
        "digest": digest.to_hex(),
        "author": batch.author,
        "epoch": batch.epoch,
        "seq": batch.seq,
        "txs": batch.txs.iter().map(tx_json).collect::<Vec<_>>(),
    })
}

async fn submit(
    shared: &Shared,
    txs: Vec<Tx>,
) -> Result<Vec<Result<Hash, String>>, ErrorObjectOwned> {
    let (reply, answer) = oneshot::channel();
    shared
        .commands
        .send(Command::Submit { txs, reply })
        .await
        .map_err(|_| error(code::UNAVAILABLE, "node is shutting down"))?;
    let results = answer
        .await
        .map_err(|_| error(code::UNAVAILABLE, "node is shutting down"))?;
    Ok(results
        .into_iter()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect())
}

fn raw(value: &Value) -> Result<SubscriptionMessage, serde_json::Error> {
    Ok(SubscriptionMessage::from(serde_json::value::to_raw_value(
        value,
    )?))
}

/// A finalized block as subscribers get it: the block, and its transactions of
/// `namespace` (all without one), with their payloads unless `hashes_only`.
fn finalized_json(
    block: &Finalized,
    namespace: Option<u64>,
    hashes_only: bool,
) -> Box<serde_json::value::RawValue> {
    let txs: Vec<Value> = block
        .txs
        .iter()
        .filter(|t| namespace.is_none_or(|n| n == t.namespace))
        .map(|t| {
            let mut v = json!({
                "hash": t.hash.to_hex(),
                "namespace": t.namespace,
                "batch": t.location.batch,
                "position": t.location.position,
            });
            if !hashes_only {
                v["data"] = Value::String(hex0x(&t.payload));
            }
            v
        })
        .collect();
    let mut value = block_json(&block.block, block.certificate.as_ref());
    value["txs"] = Value::Array(txs);
    serde_json::value::to_raw_value(&value).expect("a JSON value serializes")
}

/// Builds the module with every public method.
pub fn module(shared: Shared) -> RpcModule<Shared> {
    let mut m = RpcModule::new(shared);
    let register = "method names are unique";

    m.register_async_method(
        "synod_sendTransaction",
        |params: Params<'static>, ctx, _| async move {
            let (tx,): (TxParam,) = params.parse()?;
            let tx = tx.into_tx(ctx.limits.max_tx_bytes)?;
            match submit(&ctx, vec![tx]).await?.pop() {
                Some(Ok(hash)) => Ok::<_, ErrorObjectOwned>(hash.to_hex()),
                Some(Err(reason)) => Err(error(code::TX_REJECTED, reason)),
                None => Err(error(code::UNAVAILABLE, "no answer")),
            }
        },
    )
    .expect(register);

    m.register_async_method(
        "synod_sendTransactions",
        |params: Params<'static>, ctx, _| async move {
            let (txs,): (Vec<TxParam>,) = params.parse()?;
            if txs.len() > MAX_TXS_PER_CALL {
                return Err(invalid(format!(
                    "{} transactions in one call, at most {MAX_TXS_PER_CALL}",
                    txs.len()
                )));
            }
            let txs = txs
                .into_iter()
                .map(|t| t.into_tx(ctx.limits.max_tx_bytes))
                .collect::<Result<Vec<_>, _>>()?;
            let results = submit(&ctx, txs).await?;
            Ok::<_, ErrorObjectOwned>(
                results
                    .into_iter()
                    .map(|r| match r {
                        Ok(hash) => json!({ "hash": hash.to_hex() }),
                        Err(reason) => json!({ "error": reason }),
                    })
                    .collect::<Vec<_>>(),
            )
        },
    )
    .expect(register);

    m.register_async_method(
        "synod_getTransaction",
        |params: Params<'static>, ctx, _| async move {
            let (hash,): (String,) = params.parse()?;
            let hash = parse_hash(&hash)?;
            if let Some(loc) = ctx.store.tx_location(&hash).map_err(internal)? {
                let block = ctx.store.block_at(loc.height).map_err(internal)?;
                return Ok::<_, ErrorObjectOwned>(json!({
                    "hash": hash.to_hex(),
                    "status": "finalized",
                    "height": loc.height,
                    "block_hash": block.map(|b| b.hash().to_hex()),
                    "batch": loc.batch,
                    "position": loc.position,
                }));
            }
            let (reply, answer) = oneshot::channel();
            let pending = ctx
                .commands
                .send(Command::IsPending { hash, reply })
                .await
                .is_ok()
                && answer.await.unwrap_or(false);
            Ok(json!({
                "hash": hash.to_hex(),
                "status": if pending { "pending" } else { "unknown" },
            }))
        },
    )
    .expect(register);

    m.register_method("synod_getBlock", |params: Params<'_>, ctx, _| {
        let (at,): (Value,) = params.parse()?;
        let block = match &at {
            Value::Number(n) => {
                let height = n
                    .as_u64()
                    .ok_or_else(|| invalid("height must be a non-negative integer"))?;
                ctx.store.block_at(height).map_err(internal)?
            }
            Value::String(s) if s == "latest" || s == "finalized" => {
                match ctx.store.committed().map_err(internal)? {
                    Some((block, _)) => Some(block),
                    // Nothing committed yet: the genesis block is the finalized one.
                    None => ctx.store.block_at(0).map_err(internal)?,
                }
            }
            Value::String(s) => ctx.store.block(&parse_hash(s)?).map_err(internal)?,
            _ => return Err(invalid("expected a height, a block hash or \"finalized\"")),
        };
        let Some(block) = block else {
            return Ok::<_, ErrorObjectOwned>(Value::Null);
        };
        let certificate = ctx.store.certificate(&block.hash()).map_err(internal)?;
        Ok(block_json(&block, certificate.as_ref()))
    })
    .expect(register);

    m.register_method("synod_getBatch", |params: Params<'_>, ctx, _| {
        let (digest,): (String,) = params.parse()?;
        let digest = parse_hash(&digest)?;
        Ok::<_, ErrorObjectOwned>(
            ctx.store
                .batch(&digest)
                .map_err(internal)?
                .map_or(Value::Null, |b| batch_json(&digest, &b)),
        )
    })
    .expect(register);

    m.register_async_method(
        "synod_getBlockData",
        |params: Params<'static>, ctx, _| async move {
            let mut seq = params.sequence();
            let height: u64 = seq.next()?;
            let options: Option<Value> = seq.optional_next()?;
            let from_shards = options
                .as_ref()
                .and_then(|o| o.get("from_shards"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let (reply, answer) = oneshot::channel();
            ctx.commands
                .send(Command::BlockData {
                    height,
                    from_shards,
                    reply,
                })
                .await
                .map_err(|_| error(code::UNAVAILABLE, "the node is shutting down"))?;
            let data = answer
                .await
                .map_err(|_| error(code::UNAVAILABLE, "the node is shutting down"))?
                .map_err(|e| error(code::DATA_UNAVAILABLE, e))?;
            Ok::<_, ErrorObjectOwned>(json!({
                "height": data.block.header.height,
                "block_hash": data.block.hash().to_hex(),
                "da_commitment": data.block.header.da_commitment.to_hex(),
                "source": match data.source {
                    DataSource::Store => "store",
                    DataSource::Shards => "shards",
                },
                "batches": data.payload.batches.iter().map(|b| batch_json(&b.digest(), b)).collect::<Vec<_>>(),
                "record": data.payload.record.as_ref().map(|r| json!({
                    "epoch": r.epoch,
                    "l1_block": r.l1_block,
                    "members": r.members.iter().map(|m| json!({
                        "public_key": format!("0x{}", hex::encode(m.public_key.0)),
                        "stake": m.stake,
                    })).collect::<Vec<_>>(),
                })),
            }))
        },
    )
    .expect(register);

    m.register_method("synod_getTips", |_, ctx, _| {
        let s = ctx.status.borrow();
        json!({
            "proposed": s.proposed_height,
            "finalized": s.finalized_height,
            "finalized_hash": s.finalized_hash,
            "attested": *ctx.attested.borrow(),
        })
    })
    .expect(register);

    m.register_method("synod_getCommittee", |_, ctx, _| {
        let c = ctx.committee.borrow().clone();
        json!({
            "epoch": c.epoch(),
            "total_stake": c.total_stake().to_string(),
            "quorum_stake": c.quorum_stake().to_string(),
            "members": c.members().iter().enumerate().map(|(i, m)| json!({
                "index": i,
                "public_key": hex0x(&m.public_key.0),
                "stake": m.stake,
            })).collect::<Vec<_>>(),
        })
    })
    .expect(register);

    m.register_method("synod_chainInfo", |_, ctx, _| {
        serde_json::to_value(&*ctx.chain).unwrap_or(Value::Null)
    })
    .expect(register);

    m.register_method("synod_status", |_, ctx, _| {
        serde_json::to_value(&*ctx.status.borrow()).unwrap_or(Value::Null)
    })
    .expect(register);

    m.register_subscription(
        "synod_subscribeFinalized",
        "synod_finalized",
        "synod_unsubscribeFinalized",
        |params: Params<'static>, pending: PendingSubscriptionSink, ctx: Arc<Shared>, _| async move {
            #[derive(Deserialize, Default)]
            #[serde(deny_unknown_fields)]
            struct Filter {
                /// Only transactions of this namespace.
                namespace: Option<u64>,
                /// Leave out transaction payloads (hashes and positions only).
                #[serde(default)]
                hashes_only: bool,
            }
            let parsed = if params.is_object() {
                params.parse::<Filter>()
            } else {
                params
                    .sequence()
                    .optional_next::<Filter>()
                    .map(Option::unwrap_or_default)
            };
            let filter = match parsed {
                Ok(f) => f,
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            let Some(_slot) = ctx.subscriptions.take() else {
                pending
                    .reject(ErrorObjectOwned::owned(
                        code::TOO_MANY_SUBSCRIPTIONS,
                        format!(
                            "this node serves {} subscriptions already; retry later",
                            ctx.subscriptions.max()
                        ),
                        None::<()>,
                    ))
                    .await;
                return Ok(());
            };
            let mut rx = ctx.finalized.subscribe();
            let sink = pending.accept().await?;
            loop {
                // A client gone gives its slot back now, not at the next block.
                let received = tokio::select! {
                    received = rx.recv() => received,
                    _ = sink.closed() => return Ok(()),
                };
                let block: Arc<Finalized> = match received {
                    Ok(b) => b,
                    Err(RecvError::Lagged(n)) => {
                        sink.send(raw(&json!({ "lagged": n }))?).await?;
                        continue;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                };
                let message = match filter.namespace {
                    // Encoded once for every subscriber that wants the whole block.
                    None => block.json[usize::from(filter.hashes_only)]
                        .get_or_init(|| finalized_json(&block, None, filter.hashes_only))
                        .clone(),
                    Some(n) => finalized_json(&block, Some(n), filter.hashes_only),
                };
                sink.send(SubscriptionMessage::from(message)).await?;
            }
        },
    )
    .expect(register);
    m
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::service::stream::{FinalizedStream, Slots};
    use crate::service::{ChainInfo, NodeStatus};
    use synod_store::testing::temp_dir;
    use synod_store::Store;
    use synod_types::committee::Member;
    use synod_types::wire::Limits;
    use synod_types::{Committee, Header, PublicKey, QuorumCert, Scheme};
    use tokio::sync::{mpsc, watch};

    /// The module over a fresh store holding only `genesis`.
    fn module_with(genesis: &Block) -> (RpcModule<Shared>, std::path::PathBuf) {
        let (shared, dir) = shared_with(genesis, 4);
        (module(shared), dir)
    }

    /// The RPC's state over a fresh store holding only `genesis`, serving at most
    /// `subscriptions` subscriptions.
    pub(crate) fn shared_with(
        genesis: &Block,
        subscriptions: usize,
    ) -> (Shared, std::path::PathBuf) {
        let dir = temp_dir("rpc");
        let store = Arc::new(Store::open(&dir, Limits::new(4)).unwrap());
        store.put_genesis(genesis).unwrap();
        let members = vec![Member {
            public_key: PublicKey([1; 48]),
            stake: 1,
        }];
        let committee = Committee::new(0, Scheme::Sim, Hash::ZERO, members).unwrap();
        let (commands, _) = mpsc::channel(1);
        let shared = Shared {
            store,
            status: watch::channel(NodeStatus::default()).1,
            finalized: FinalizedStream::new(1, 1 << 20),
            subscriptions: Slots::new(subscriptions),
            commands,
            committee: watch::channel(Arc::new(committee)).1,
            limits: Limits::new(4),
            attested: watch::channel(None).1,
            chain: Arc::new(ChainInfo {
                chain_id: 31_337,
                bridge: "0x00000000000000000000000000000000000000b1".into(),
                stake_table: Some("0x00000000000000000000000000000000000000a1".into()),
                genesis_hash: genesis.hash().to_hex(),
                genesis_epoch: 0,
            }),
            certified: watch::channel(None).1,
        };
        (shared, dir)
    }

    pub(crate) fn genesis() -> Block {
        Block::new(Header::genesis(5), QuorumCert::genesis(0, Hash::ZERO, 1))
    }

    #[tokio::test]
    async fn height_zero_and_finalized_before_any_commit_are_the_genesis_block() {
        let genesis = genesis();
        let (m, dir) = module_with(&genesis);
        for at in [json!(0), json!("finalized"), json!(genesis.hash().to_hex())] {
            let block: Value = m.call("synod_getBlock", [at.clone()]).await.unwrap();
            assert_eq!(block["height"], 0, "{at}");
            assert_eq!(block["hash"], genesis.hash().to_hex(), "{at}");
        }
        let unknown: Value = m.call("synod_getBlock", [1]).await.unwrap();
        assert_eq!(unknown, Value::Null);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn chain_info_names_what_signatures_are_bound_to() {
        let genesis = genesis();
        let (m, dir) = module_with(&genesis);
        let info: Value = m.call("synod_chainInfo", [(); 0]).await.unwrap();
        assert_eq!(
            info,
            json!({
                "chain_id": 31_337,
                "bridge": "0x00000000000000000000000000000000000000b1",
                "stake_table": "0x00000000000000000000000000000000000000a1",
                "genesis_hash": genesis.hash().to_hex(),
                "genesis_epoch": 0,
            })
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn every_method_is_in_the_rpc_reference() {
        let (m, dir) = module_with(&genesis());
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rpc.md"),
        )
        .unwrap();
        let names: Vec<&str> = m.method_names().collect();
        assert!(names.contains(&"synod_chainInfo"), "{names:?}");
        for name in names {
            assert!(
                doc.contains(&format!("`{name}`")),
                "{name} is not in docs/rpc.md"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
