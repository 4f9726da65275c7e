//! The node's interface to the RPC server: what it shows of itself (the status snapshot
//! of `/status` and `synod_getTips`, and the gauges it mirrors), what signatures are bound
//! to (`synod_chainInfo`), the finalized blocks with their transactions
//! (`synod_subscribeFinalized`), the handles RPC reads them through ([`Shared`]) and the
//! commands it sends ([`Command`]).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use synod_bridge::publisher::Certified;
use synod_sequencer::Rejected;
use synod_types::wire::Limits;
use synod_types::{Block, Committee, FinalityCert, Hash, Tx};
use tokio::sync::{mpsc, oneshot, watch};

use super::stream::{FinalizedStream, Slots};

use synod_store::{Store, TxLocation};

/// What the RPC server asks of the node.
#[derive(Debug)]
pub enum Command {
    /// Validate and accept transactions; one answer per transaction.
    Submit {
        /// The transactions.
        txs: Vec<Tx>,
        /// Hashes of the accepted ones, or why each was refused.
        reply: oneshot::Sender<Vec<Result<Hash, Rejected>>>,
    },
    /// Whether a transaction is accepted and not yet final.
    IsPending {
        /// Its hash.
        hash: Hash,
        /// The answer.
        reply: oneshot::Sender<bool>,
    },
    /// A finalized block's data (`synod_getBlockData`): its batches from the store, or
    /// rebuilt from the validators' shards (always with `from_shards`).
    BlockData {
        /// The height.
        height: u64,
        /// Rebuild from shards even if the batches are here.
        from_shards: bool,
        /// The data, or why it cannot be had.
        reply: oneshot::Sender<Result<BlockData, String>>,
    },
}

/// A finalized block's data, as `synod_getBlockData` returns it.
#[derive(Debug)]
pub struct BlockData {
    /// The block.
    pub block: Block,
    /// Where the data came from.
    pub source: DataSource,
    /// The batches and the hand-over record.
    pub payload: synod_da::payload::Payload,
}

/// Where [`BlockData`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSource {
    /// This node's store holds every batch.
    Store,
    /// Rebuilt from shards validators sent, each checked against the commitment.
    Shards,
}

/// Handles the RPC server shares with the node.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The database (read-only use by RPC).
    pub store: Arc<Store>,
    /// The latest status.
    pub status: watch::Receiver<NodeStatus>,
    /// The finalized stream.
    pub finalized: FinalizedStream,
    /// Slots for subscriptions to it, shared by every connection.
    pub subscriptions: Slots,
    /// Commands to the node.
    pub commands: mpsc::Sender<Command>,
    /// The committee of the current epoch.
    pub committee: watch::Receiver<Arc<Committee>>,
    /// Decoding limits.
    pub limits: Limits,
    /// Height the L1 bridge has attested (`None`: no L1, or not read yet).
    pub attested: watch::Receiver<Option<u64>>,
    /// What signatures are bound to.
    pub chain: Arc<ChainInfo>,
    /// The newest finalized header with its certificate (what the L1 publisher posts).
    pub certified: watch::Receiver<Option<Certified>>,
}

/// A finalized transaction as the finalized stream carries it.
#[derive(Debug, Clone)]
pub struct FinalTx {
    /// Its hash.
    pub hash: Hash,
    /// Its namespace.
    pub namespace: u64,
    /// Where it is.
    pub location: TxLocation,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// One finalized block on the finalized stream.
#[derive(Debug, Clone)]
pub struct Finalized {
    /// The block.
    pub block: Block,
    /// The finality certificate, if this block is the last of its commit.
    pub certificate: Option<FinalityCert>,
    /// Transactions finalized by this block (first occurrences only).
    pub txs: Vec<FinalTx>,
    /// Its JSON for subscribers without a namespace filter, with payloads (`[0]`) and
    /// without (`[1]`): encoded once, by the first subscriber that sends it.
    pub json: [OnceLock<Box<serde_json::value::RawValue>>; 2],
}

/// What the node shows of itself: `/status`, `synod_getTips`, the progress line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NodeStatus {
    /// `validator` or `full`.
    pub role: String,
    /// libp2p peer id.
    pub peer_id: String,
    /// Index in the committee, for a validator that is a member.
    pub validator_index: Option<u32>,
    /// Current consensus view (validators).
    pub view: u64,
    /// Height of the highest block this node has seen proposed (never below
    /// `finalized_height`).
    pub proposed_height: u64,
    /// Height of the last finalized block.
    pub finalized_height: u64,
    /// Hash of the last finalized block.
    pub finalized_hash: String,
    /// Finalized height announced by peers (what this node syncs towards).
    pub network_height: u64,
    /// Whether this node is within a few blocks of the network.
    pub synced: bool,
    /// Connected peers.
    pub peers: usize,
    /// Transactions waiting in the mempool.
    pub mempool_txs: usize,
    /// Batches waiting to be ordered.
    pub pending_batches: usize,
    /// Transactions acknowledged by this node and not final yet.
    pub acknowledged_pending: usize,
    /// Transactions finalized since start.
    pub finalized_txs: u64,
    /// Blocks finalized since start.
    pub finalized_blocks: u64,
    /// Lowest finalized height from which this node holds every block's full batches
    /// (`da.retention-blocks` prunes the ones below; their data is rebuilt from shards).
    pub full_data_from: u64,
    /// The epoch of the committee this node follows.
    pub epoch: u64,
    /// The newest epoch snapshot read from the L1 StakeTable (confirmed; `None`: no L1,
    /// or none newer than the genesis epoch yet).
    pub l1_epoch: Option<u64>,
}

/// What signatures on this chain are bound to (`synod_chainInfo`): with it, a client
/// verifies a finality certificate from RPC answers alone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainInfo {
    /// L1 chain id in every signed message's domain.
    pub chain_id: u64,
    /// The bridge contract in every signed message's domain, 0x-hex.
    pub bridge: String,
    /// The StakeTable contract this node reads committees from (`None`: no L1).
    pub stake_table: Option<String>,
    /// Hash of the genesis block (height 0).
    pub genesis_hash: String,
    /// Epoch of the genesis committee.
    pub genesis_epoch: u64,
}

/// Mirrors the status snapshot into gauges.
pub fn record_gauges(status: &NodeStatus, net: &synod_p2p::NetworkStatus) {
    metrics::gauge!("synod_consensus_view").set(status.view as f64);
    metrics::gauge!("synod_consensus_network_height").set(status.network_height as f64);
    metrics::gauge!("synod_p2p_peers").set(status.peers as f64);
    metrics::gauge!("synod_sequencer_mempool_transactions").set(status.mempool_txs as f64);
    metrics::gauge!("synod_sequencer_pending_batches").set(status.pending_batches as f64);
    metrics::gauge!("synod_sequencer_acknowledged_pending_transactions")
        .set(status.acknowledged_pending as f64);
    metrics::gauge!("synod_p2p_dropped_events").set(net.dropped_events as f64);
    metrics::gauge!("synod_p2p_invalid_messages").set(net.invalid_messages as f64);
    metrics::gauge!("synod_p2p_banned_peers").set(net.banned_peers as f64);
    if let Some(rss) = crate::telemetry::rss_bytes() {
        metrics::gauge!("synod_process_resident_memory_bytes").set(rss as f64);
    }
}

/// Counters behind the one-line-per-second progress log.
#[derive(Debug)]
pub struct Progress {
    /// Highest block height seen certified or proposed.
    pub highest_height: u64,
    /// View of the last timeout this node gossiped.
    pub(super) timeout_gossiped: Option<u64>,
    pub(super) last_line: Instant,
    pub(super) height_at_last_line: u64,
    pub(super) txs_at_last_line: u64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            highest_height: 0,
            timeout_gossiped: None,
            last_line: Instant::now(),
            height_at_last_line: 0,
            txs_at_last_line: 0,
        }
    }
}
