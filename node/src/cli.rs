//! The command line. Each doc comment is the `--help` text.

use clap::{Parser, Subcommand};

/// Synod: a decentralized sequencer network daemon.
#[derive(Debug, Parser)]
#[command(name = "synod", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, import and list validator keys (EIP-2335 keystores).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run the consensus engine in the deterministic simulator and check its invariants.
    Sim(SimArgs),
    /// Prepare a data directory: network identity and a configuration file.
    Init(InitArgs),
    /// Write a genesis file for a new network.
    Genesis(GenesisArgs),
    /// Run the node (validator or full node).
    Start(Box<StartArgs>),
    /// Show a running node's status, read over its RPC.
    Status(StatusArgs),
    /// Run a local network of synod processes.
    #[command(subcommand)]
    Testnet(synod_testnet::cli::TestnetCommand),
}

/// Options of `synod start`.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Configuration file (TOML); flags and SYNOD_* variables override it.
    #[arg(long, env = "SYNOD_CONFIG", hide_env_values = true)]
    pub config: Option<std::path::PathBuf>,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    pub dump_config: bool,
    /// Every configuration option.
    #[command(flatten)]
    pub options: crate::config::ConfigArgs,
}

/// Options of `synod init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to create it.
    #[command(flatten)]
    pub dir: DataDirArg,
}

/// Options of `synod genesis`.
#[derive(Debug, clap::Args)]
pub struct GenesisArgs {
    /// A validator as `0x<BLS public key>:<stake>`; repeat for each.
    #[arg(long = "validator", required = true)]
    pub validators: Vec<String>,
    /// L1 chain id the signatures are bound to.
    #[arg(long, default_value_t = 31337)]
    pub chain_id: u64,
    /// Bridge contract address the signatures are bound to.
    #[arg(long, default_value = "0x0000000000000000000000000000000000000000")]
    pub bridge: String,
    /// Genesis time in milliseconds since the Unix epoch (default: now).
    #[arg(long)]
    pub timestamp_ms: Option<u64>,
    /// Where to write it.
    #[arg(long, default_value = "genesis.json")]
    pub out: std::path::PathBuf,
}

/// Options of `synod status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The node's RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
    /// Print the raw JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `synod sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,

    /// Scenario to run, or `all`.
    #[arg(long, default_value = "all")]
    pub scenario: String,

    /// Number of seeds per scenario (seeds `seed`, `seed+1`, …).
    #[arg(
        long,
        env = "SYNOD_SIM_SEEDS",
        hide_env_values = true,
        default_value_t = 100
    )]
    pub seeds: u64,

    /// First seed; with `--seeds 1` this replays exactly one run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Committee size (default: chosen per seed from 4, 5, 7, 10; 100 for `large`).
    #[arg(long)]
    pub nodes: Option<usize>,

    /// Blocks every honest node must finalize after the network heals.
    #[arg(long)]
    pub blocks: Option<u64>,

    /// Sign with real BLS12-381 instead of the simulator's keyed hash (slow).
    #[arg(long)]
    pub bls: bool,

    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,

    /// Print the event log of the run to stderr (needs exactly one scenario and seed).
    #[arg(long)]
    pub trace: bool,

    /// Print one line per run, not only failures.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Where the node keeps its files.
#[derive(Debug, Clone, clap::Args)]
pub struct DataDirArg {
    /// Data directory; keystores live in its `keys/` folder.
    #[arg(
        long,
        env = "SYNOD_DATA_DIR",
        hide_env_values = true,
        default_value = ".synod"
    )]
    pub data_dir: std::path::PathBuf,
}

/// Key derivation function of new keystores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KdfArg {
    /// scrypt, n = 2^18, r = 8, p = 1.
    Scrypt,
    /// PBKDF2-HMAC-SHA256, 2^18 iterations.
    Pbkdf2,
}

/// `synod keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new BLS validator key and store it in an encrypted keystore.
    New {
        /// Where to store it.
        #[command(flatten)]
        dir: DataDirArg,
        /// File holding the keystore password (a trailing newline is ignored).
        #[arg(long)]
        password_file: std::path::PathBuf,
        /// Key derivation function.
        #[arg(long, value_enum, default_value = "scrypt")]
        kdf: KdfArg,
    },
    /// Import an EIP-2335 keystore after checking that the password opens it.
    Import {
        /// Where to store it.
        #[command(flatten)]
        dir: DataDirArg,
        /// The keystore JSON file.
        #[arg(long)]
        keystore: std::path::PathBuf,
        /// File holding its password.
        #[arg(long)]
        password_file: std::path::PathBuf,
    },
    /// List the keystores in the data directory.
    List {
        /// Where to look.
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Export or import the slashing-protection record (what this key has signed).
    #[command(subcommand)]
    Protection(ProtectionCommand),
}

/// `synod keys protection` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProtectionCommand {
    /// Write the record as interchange JSON.
    Export {
        /// The node's data directory.
        #[command(flatten)]
        dir: DataDirArg,
        /// Output file (`-` for stdout).
        #[arg(long, default_value = "-")]
        out: std::path::PathBuf,
    },
    /// Merge an interchange JSON into the record; protection only ever grows.
    Import {
        /// The node's data directory.
        #[command(flatten)]
        dir: DataDirArg,
        /// The interchange file.
        #[arg(long)]
        file: std::path::PathBuf,
    },
}
