//! `testnet.json`: what `up` started, for `down`, `load`, `bench` and people.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One process of the network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Name, `validator-0`, `full-0`, ….
    pub name: String,
    /// `validator` or `full`.
    pub role: String,
    /// JSON-RPC URL (HTTP; the same port speaks WebSocket).
    pub rpc_url: String,
    /// Prometheus metrics URL.
    pub metrics_url: String,
    /// libp2p address with peer id.
    pub p2p: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Log file.
    pub log: PathBuf,
    /// Process id.
    pub pid: u32,
    /// The `synod` arguments it runs with (for restarts).
    pub args: Vec<String>,
    /// Environment variables it runs with (its L1 account's key).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// The whole network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Chain id of the genesis.
    pub chain_id: u64,
    /// The genesis file.
    pub genesis: PathBuf,
    /// Every node.
    pub nodes: Vec<NodeEntry>,
    /// The L1 the validators stake on, when the network has one.
    #[serde(default)]
    pub l1: Option<L1Entry>,
    /// First TCP port: node `i` listens on base+i and serves RPC on base+100+i.
    #[serde(default)]
    pub base_port: u16,
    /// Extra `synod start` flags every node runs with (`--node-arg`).
    #[serde(default)]
    pub node_args: Vec<String>,
}

impl Manifest {
    /// The manifest path of a testnet directory.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("testnet.json")
    }

    /// Reads a directory's manifest.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = Manifest::path(dir);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no testnet at {}: run `synod testnet up` first",
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a testnet manifest", path.display()))
    }

    /// Writes the manifest.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = Manifest::path(dir);
        std::fs::write(&path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The L1 of a network, in `testnet.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct L1Entry {
    /// JSON-RPC URL.
    pub rpc_url: String,
    /// StakeTable contract.
    pub stake_table: String,
    /// Bridge contract.
    pub bridge: String,
    /// L1 blocks per staking epoch.
    pub epoch_blocks: u64,
    /// The deployer's private key (anvil's first dev account), which may also snapshot
    /// epochs; validator `i` stakes from dev account `i + 1`.
    pub deployer_key: String,
    /// Its process id.
    pub pid: u32,
    /// Its log.
    pub log: PathBuf,
    /// The `synod` arguments it runs with (for restarts).
    pub args: Vec<String>,
}

/// A node about to start.
pub(crate) struct Planned {
    pub name: String,
    pub role: &'static str,
    pub data_dir: PathBuf,
    pub p2p_port: u16,
    pub rpc_port: u16,
    pub peer_id: String,
    pub password_file: Option<PathBuf>,
    /// A validator's stake (ETH with an L1, genesis units without); 0 for a full node.
    pub stake: u64,
}
