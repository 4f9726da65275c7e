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
    /// Block data: fetch a finalized block's batches, or rebuild them from the
    /// validators' shards.
    #[command(subcommand)]
    Da(DaCommand),
    /// Stake on L1: register a validator, exit, withdraw, show its status; deploy the contracts.
    #[command(subcommand)]
    Stake(StakeCommand),
    /// Run a local network of synod processes.
    #[command(subcommand)]
    Testnet(synod_testnet::cli::TestnetCommand),
}

/// Where L1 is and which account sends: the options of the `stake` subcommands and of
/// `init --from-l1`, and the same-named options of `start`'s `[l1]` section, which
/// [`L1Args::from`] turns into this type. Unset, `l1.rpc` means no L1 in every command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct L1Args {
    /// L1 JSON-RPC endpoint.
    #[arg(long = "l1.rpc", env = "SYNOD_L1_RPC", num_args = 1)]
    pub rpc: Option<url::Url>,
    /// Address of the StakeTable contract (the bridge is read from it).
    #[arg(
        long = "l1.stake-table",
        env = "SYNOD_L1_STAKE_TABLE",
        hide_env_values = true
    )]
    pub stake_table: Option<alloy::primitives::Address>,
    /// The sending account's key as an Ethereum (Web3 secret storage) keystore file.
    #[arg(
        long = "l1.key-file",
        env = "SYNOD_L1_KEY_FILE",
        hide_env_values = true
    )]
    pub key_file: Option<std::path::PathBuf>,
    /// File holding that keystore's password.
    #[arg(
        long = "l1.key-password-file",
        env = "SYNOD_L1_KEY_PASSWORD_FILE",
        hide_env_values = true
    )]
    pub key_password_file: Option<std::path::PathBuf>,
    /// Highest fee per gas to pay, in gwei (0: no bound).
    #[arg(
        long = "l1.max-fee-gwei",
        env = "SYNOD_L1_MAX_FEE_GWEI",
        default_value_t = synod_bridge::DEFAULT_MAX_FEE_GWEI
    )]
    pub max_fee_gwei: u64,
}

impl L1Args {
    /// The endpoint, which this command needs.
    pub fn rpc(&self) -> anyhow::Result<&url::Url> {
        self.rpc
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("--l1.rpc (or SYNOD_L1_RPC) is needed"))
    }

    /// The sending account: `l1.key-file` with its password file, or the
    /// `SYNOD_L1_PRIVATE_KEY` variable; `None` if neither is given.
    pub fn signer(&self) -> anyhow::Result<Option<alloy::signers::local::PrivateKeySigner>> {
        crate::keys::l1_signer(self.key_file.as_deref(), self.key_password_file.as_deref())
    }

    /// Connects to the StakeTable (and the bridge it names), sending as `signer`.
    pub async fn open(
        &self,
        signer: Option<alloy::signers::local::PrivateKeySigner>,
    ) -> anyhow::Result<synod_bridge::L1> {
        use anyhow::Context as _;
        let rpc = self.rpc()?;
        let Some(table) = self.stake_table else {
            anyhow::bail!("--l1.stake-table (or SYNOD_L1_STAKE_TABLE) is needed");
        };
        synod_bridge::L1::open(rpc.as_str(), table, signer, self.max_fee_gwei)
            .await
            .with_context(|| format!("connecting to L1 at {rpc}"))
    }
}

impl From<&crate::config::L1Section> for L1Args {
    fn from(l1: &crate::config::L1Section) -> L1Args {
        L1Args {
            rpc: l1.rpc.clone(),
            stake_table: l1.stake_table,
            key_file: l1.key_file.clone(),
            key_password_file: l1.key_password_file.clone(),
            max_fee_gwei: l1.max_fee_gwei,
        }
    }
}

/// `synod stake` subcommands. The sending account's key comes from `--l1.key-file` or
/// the `SYNOD_L1_PRIVATE_KEY` environment variable (hex).
#[derive(Debug, Subcommand)]
pub enum StakeCommand {
    /// Register the validator key of a data directory with a stake; it joins the
    /// committee at the next epoch.
    Register {
        /// L1 endpoint, contract and account.
        #[command(flatten)]
        l1: L1Args,
        /// The node's data directory (its validator keystore).
        #[command(flatten)]
        dir: DataDirArg,
        /// File holding the validator keystore's password.
        #[arg(long)]
        password_file: std::path::PathBuf,
        /// Stake in ETH (a whole number of gwei).
        #[arg(long)]
        stake: String,
    },
    /// Leave the validating set from the next epoch; the stake is withdrawable after the exit delay.
    Exit {
        /// L1 endpoint, contract and account.
        #[command(flatten)]
        l1: L1Args,
    },
    /// Withdraw the stake of an exited or ejected validator.
    Withdraw {
        /// L1 endpoint, contract and account.
        #[command(flatten)]
        l1: L1Args,
    },
    /// Show a validator's status, effective stake and exit time.
    Status {
        /// L1 endpoint, contract and account.
        #[command(flatten)]
        l1: L1Args,
        /// The validator's L1 account (default: the sending account).
        #[arg(long)]
        account: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Snapshot the validating set as the next epoch's committee (anyone may, once it is due).
    AdvanceEpoch {
        /// L1 endpoint, contract and account.
        #[command(flatten)]
        l1: L1Args,
    },
    /// Deploy a StakeTable and its Bridge for a new network; prints their addresses.
    Deploy {
        /// L1 endpoint and account.
        #[command(flatten)]
        l1: L1Args,
        /// Smallest stake, in ETH.
        #[arg(long, default_value = "32")]
        min_stake: String,
        /// Slashed validators below this stake (ETH) leave the committee.
        #[arg(long, default_value = "16")]
        ejection_stake: String,
        /// Seconds from an exit request to the withdrawal.
        #[arg(long, default_value_t = 86_400)]
        exit_delay: u64,
        /// L1 blocks per epoch.
        #[arg(long, default_value_t = 32)]
        epoch_blocks: u64,
        /// Write the deployment (chain id, addresses, block) as JSON here too.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
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
    /// Test only: as leader, also sign a conflicting proposal, so that the network
    /// reports the equivocation and slashes this validator on L1 (built with the
    /// `testing` feature only).
    #[cfg(feature = "testing")]
    #[arg(long = "testing.equivocate", hide = true)]
    pub equivocate: bool,
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
    #[arg(long = "validator", required_unless_present = "from_l1")]
    pub validators: Vec<String>,
    /// Take the committee, chain id and bridge from the StakeTable's latest epoch
    /// snapshot on L1 (`--l1.rpc`, `--l1.stake-table`) instead of `--validator`.
    #[arg(long, conflicts_with = "validators")]
    pub from_l1: bool,
    /// L1 endpoint and contract, for `--from-l1`.
    #[command(flatten)]
    pub l1: L1Args,
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

/// `synod da` subcommands.
#[derive(Debug, Subcommand)]
pub enum DaCommand {
    /// Print a finalized block's data as JSON (`synod_getBlockData`): from the node's
    /// store, or rebuilt from the validators' shards when the node lacks a batch.
    Get {
        /// The block's height.
        #[arg(long)]
        height: u64,
        /// Rebuild from the validators' shards even if the node holds the batches (checks
        /// that the data is available without any full copy).
        #[arg(long)]
        from_shards: bool,
        /// The node's RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:8545")]
        rpc: String,
    },
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
