//! The `synod testnet` command line.

use std::path::PathBuf;

use clap::Subcommand;

/// `synod testnet` subcommands.
#[derive(Debug, Subcommand)]
pub enum TestnetCommand {
    /// Start a local network: validators (and full nodes) on 127.0.0.1.
    Up(UpArgs),
    /// Stop the network described by a directory's testnet.json.
    Down(DirArg),
    /// Submit transactions to every node and report finality and latency.
    Load(LoadArgs),
    /// Add a node to a running network: a validator staked on its L1 (it enters the
    /// committee at the next epoch snapshot), or a full node.
    Join(JoinArgs),
    /// Restart one node (SIGTERM, then start it again), optionally with a wiped database.
    Restart(RestartArgs),
    /// Start a network, ramp the load to saturation, write JSON and a chart.
    Bench(BenchArgs),
    /// Gas of the L1 contracts for committees of several sizes, on a local anvil.
    Gas(GasArgs),
    /// Run the pinned anvil (`--hardfork prague`) as a local L1 in the foreground.
    Anvil(AnvilArgs),
    /// Measure how many L1 blocks pass between a block's finality and its attestation.
    Lag(LagArgs),
}

/// Options of `synod testnet lag`.
#[derive(Debug, clap::Args)]
pub struct LagArgs {
    /// The running network (started with its L1).
    #[command(flatten)]
    pub dir: DirArg,
    /// Seconds to watch.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Also write the result as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Options of `synod testnet anvil`.
#[derive(Debug, clap::Args)]
pub struct AnvilArgs {
    /// Port of its JSON-RPC endpoint (on 127.0.0.1).
    #[arg(long, default_value_t = 8545)]
    pub port: u16,
    /// Seconds between L1 blocks.
    #[arg(long, default_value_t = 1)]
    pub block_time: u64,
    /// Funded dev accounts.
    #[arg(long, default_value_t = 10)]
    pub accounts: usize,
    /// Keep the chain in this file: loaded at start if it exists, written every few
    /// seconds and at exit, so a restart continues the same chain.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Write the accounts and their private keys here as JSON.
    #[arg(long)]
    pub config_out: Option<PathBuf>,
}

/// The L1 of a local network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum L1Mode {
    /// Start anvil, deploy the contracts, stake every validator on it.
    Anvil,
    /// No L1: the committee is the genesis file's, nothing is attested.
    None,
}

/// Options of `synod testnet gas`.
#[derive(Debug, clap::Args)]
pub struct GasArgs {
    /// Committee sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "4,16,64,100")]
    pub sizes: Vec<usize>,
    /// Also write the table as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Options of `synod testnet join`.
#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// The running network.
    #[command(flatten)]
    pub dir: DirArg,
    /// Add a full node instead of a validator.
    #[arg(long)]
    pub full: bool,
}

/// Options of `synod testnet restart`.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// The running network.
    #[command(flatten)]
    pub dir: DirArg,
    /// The node, as named in testnet.json (e.g. `validator-2`), or `l1` for anvil.
    #[arg(long)]
    pub node: String,
    /// Delete its database first, so it resyncs from its peers.
    #[arg(long)]
    pub wipe: bool,
}

/// Options of `synod testnet load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The running network.
    #[command(flatten)]
    pub dir: DirArg,
    /// Transactions per second, across all nodes.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Payload bytes per transaction.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Options of `synod testnet bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Validators.
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Seconds at the saturation rate.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Payload bytes per transaction.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Write the result as JSON here (the chart goes beside it, as .svg).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where to put the network.
    #[arg(long, default_value = ".testnet-bench")]
    pub dir: PathBuf,
    /// First TCP port.
    #[arg(long, default_value_t = 19500)]
    pub base_port: u16,
    /// Offered rate of the first ramp step, tx/s (doubled each step).
    #[arg(long, default_value_t = 5_000)]
    pub ramp_start: u64,
    /// Highest offered rate tried.
    #[arg(long, default_value_t = 160_000)]
    pub ramp_max: u64,
    /// Seconds per ramp step.
    #[arg(long, default_value_t = 5)]
    pub ramp_step: u64,
    /// Extra `synod start` flags for every node.
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// The L1, as `synod testnet up` starts it: with anvil the validators post
    /// attestations and hand over epochs while they are measured, as users run them.
    #[arg(long, value_enum, default_value_t = L1Mode::Anvil)]
    pub l1: L1Mode,
    /// L1 blocks per staking epoch (with anvil).
    #[arg(long, default_value_t = 30)]
    pub epoch_blocks: u64,
}

/// The testnet directory.
#[derive(Debug, clap::Args)]
pub struct DirArg {
    /// Directory holding testnet.json and the nodes' data directories.
    #[arg(long, default_value = ".testnet")]
    pub dir: PathBuf,
}

/// Options of `synod testnet up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Validators.
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Full nodes.
    #[arg(long, default_value_t = 0)]
    pub full_nodes: usize,
    /// Each validator's stake, in order (ETH staked on the L1, or the genesis stake
    /// without one); unset: 32 ETH each (100 without an L1).
    #[arg(long, value_delimiter = ',')]
    pub stakes: Vec<u64>,
    /// Where to put the network.
    #[command(flatten)]
    pub dir: DirArg,
    /// First TCP port: node i listens for peers on base+i and serves RPC on base+100+i.
    #[arg(long, default_value_t = 19000)]
    pub base_port: u16,
    /// Return once every validator has finalized a block, leaving the network running.
    #[arg(long)]
    pub detach: bool,
    /// Stop after this many seconds instead of at Ctrl-C (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub duration: u64,
    /// Extra `synod start` flags given to every node (e.g. `--batch.interval-ms=10`).
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// The L1: anvil on base+99, with the contracts deployed and every validator staked
    /// through `synod stake register`; or none.
    #[arg(long, value_enum, default_value_t = L1Mode::Anvil)]
    pub l1: L1Mode,
    /// L1 blocks per staking epoch (with anvil).
    #[arg(long, default_value_t = 30)]
    pub epoch_blocks: u64,
}
