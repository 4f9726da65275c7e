//! The node's configuration: one section per concern, every option settable in the TOML
//! file, as a flag (`--section.option`) and as an environment variable
//! (`SYNOD_SECTION_OPTION`). Precedence: flag, then environment, then file, then the
//! default. An unknown `SYNOD_*` variable is an error, so a typo never goes unnoticed;
//! so is an unknown key in the file.
//!
//! Each option is declared once, in the `options!` table below; the doc comment there
//! is the `--help` text, the TOML documentation and the `--dump-config` comment.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use synod_p2p::Multiaddr;
use thiserror::Error;
use url::Url;

/// Whether the node signs (validator) or only follows (full node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Proposes, votes and attests with its BLS key.
    Validator,
    /// Verifies and serves the finalized chain, forwards transactions.
    Full,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Why the configuration could not be resolved.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said (unknown keys included).
        message: String,
    },
    /// `SYNOD_*` variables that are not options.
    #[error(
        "unknown environment variable(s) {0}: see `synod start --help` for the SYNOD_* variables"
    )]
    UnknownEnv(String),
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Declares the sections, their options, defaults, flags and environment variables.
macro_rules! options {
    ($(
        $(#[doc = $sdoc:literal])*
        $section:ident: $Section:ident, $SectionArgs:ident {
            $(
                $(#[doc = $doc:literal])*
                $(#[arg($($arg:tt)*)])?
                $field:ident: $ty:ty = $default:expr, $flag:literal, $env:literal;
            )*
        }
    )*) => {
        $(
            $(#[doc = $sdoc])*
            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            #[serde(deny_unknown_fields, default)]
            pub struct $Section {
                $( $(#[doc = $doc])* pub $field: $ty, )*
            }

            impl Default for $Section {
                fn default() -> Self {
                    $Section { $( $field: $default, )* }
                }
            }

            #[doc = concat!("Flags and variables of the `", stringify!($section), "` section.")]
            #[derive(Debug, Clone, Default, clap::Args)]
            pub struct $SectionArgs {
                $(
                    $(#[doc = $doc])*
                    #[arg(id = $flag, long = $flag, env = $env, hide_env_values = true, help_heading = stringify!($section) $(, $($arg)*)?)]
                    pub $field: Option<$ty>,
                )*
            }
        )*

        /// The whole configuration.
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Config {
            $( $(#[doc = $sdoc])* pub $section: $Section, )*
        }

        /// Every option as a command-line flag (and environment variable).
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct ConfigArgs {
            $(
                #[command(flatten)]
                #[allow(missing_docs)]
                pub $section: $SectionArgs,
            )*
        }

        impl ConfigArgs {
            /// Overrides `config` with every option given as a flag or variable.
            pub fn apply(self, config: &mut Config) {
                $($(
                    if let Some(value) = self.$section.$field {
                        config.$section.$field = value;
                    }
                )*)*
            }
        }

        /// Every `SYNOD_*` variable the node understands.
        pub const KNOWN_ENV: &[&str] = &[$($($env,)*)*];
    };
}

options! {
    /// The node itself.
    node: NodeConfig, NodeArgs {
        /// Data directory: keystores, database, node identity.
        data_dir: PathBuf = PathBuf::from(".synod"), "data-dir", "SYNOD_DATA_DIR";
        /// Validator (signs with its BLS key) or full node (follows).
        #[arg(value_enum)]
        role: Role = Role::Validator, "node.role", "SYNOD_NODE_ROLE";
        /// Genesis file: chain id, bridge address and the initial committee.
        genesis: PathBuf = PathBuf::from("genesis.json"), "node.genesis", "SYNOD_NODE_GENESIS";
        /// File holding the validator keystore's password (unset: none, for full nodes).
        #[arg(num_args = 1)]
        password_file: Option<PathBuf> = None, "node.password-file", "SYNOD_NODE_PASSWORD_FILE";
    }
    /// Peer-to-peer networking.
    network: NetworkConfig, NetworkArgs {
        /// Listen address (multiaddr).
        listen: Multiaddr = "/ip4/127.0.0.1/tcp/9000".parse().expect("a valid multiaddr"), "network.listen", "SYNOD_NETWORK_LISTEN";
        /// Peers to dial at start (multiaddrs with /p2p/<peer id>), comma-separated.
        #[arg(value_delimiter = ',')]
        bootnodes: Vec<Multiaddr> = Vec::new(), "network.bootnodes", "SYNOD_NETWORK_BOOTNODES";
        /// Most connected peers.
        max_peers: usize = 64, "network.max-peers", "SYNOD_NETWORK_MAX_PEERS";
        /// Also listen on QUIC.
        quic: bool = false, "network.quic", "SYNOD_NETWORK_QUIC";
        /// Largest message accepted from a peer, in bytes.
        max_message_bytes: usize = 4 << 20, "network.max-message-bytes", "SYNOD_NETWORK_MAX_MESSAGE_BYTES";
    }
    /// JSON-RPC, health, readiness and metrics.
    rpc: RpcConfig, RpcArgs {
        /// HTTP and WebSocket listen address.
        addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8545)), "rpc.addr", "SYNOD_RPC_ADDR";
        /// Admin listen address (unset: no admin listener).
        #[arg(num_args = 1)]
        admin_addr: Option<SocketAddr> = None, "rpc.admin-addr", "SYNOD_RPC_ADMIN_ADDR";
        /// File holding the admin bearer token.
        #[arg(num_args = 1)]
        admin_token_file: Option<PathBuf> = None, "rpc.admin-token-file", "SYNOD_RPC_ADMIN_TOKEN_FILE";
        /// Largest request body, in bytes.
        max_request_bytes: usize = 1 << 20, "rpc.max-request-bytes", "SYNOD_RPC_MAX_REQUEST_BYTES";
        /// Requests per second allowed per client address.
        rate_limit: u32 = 2_000, "rpc.rate-limit", "SYNOD_RPC_RATE_LIMIT";
        /// Most concurrent connections.
        max_connections: u32 = 1_024, "rpc.max-connections", "SYNOD_RPC_MAX_CONNECTIONS";
    }
    /// Pending transactions.
    mempool: MempoolSection, MempoolArgs {
        /// Most bytes of pending transactions.
        max_bytes: usize = 256 << 20, "mempool.max-bytes", "SYNOD_MEMPOOL_MAX_BYTES";
        /// Most pending transactions.
        max_txs: usize = 1 << 20, "mempool.max-txs", "SYNOD_MEMPOOL_MAX_TXS";
        /// Largest transaction payload, in bytes.
        max_tx_bytes: usize = 128 * 1024, "mempool.max-tx-bytes", "SYNOD_MEMPOOL_MAX_TX_BYTES";
        /// Share of the mempool one namespace may hold, in percent.
        max_namespace_percent: usize = 50, "mempool.max-namespace-percent", "SYNOD_MEMPOOL_MAX_NAMESPACE_PERCENT";
    }
    /// Batches of transactions.
    batch: BatchSection, BatchArgs {
        /// Cut a batch at least this often while transactions are pending, in milliseconds.
        interval_ms: u64 = 20, "batch.interval-ms", "SYNOD_BATCH_INTERVAL_MS";
        /// Cut a batch as soon as this many bytes are pending; also the largest batch.
        max_bytes: usize = 1 << 20, "batch.max-bytes", "SYNOD_BATCH_MAX_BYTES";
    }
    /// Blocks.
    block: BlockSection, BlockArgs {
        /// Most batches one block orders.
        max_batches: usize = 64, "block.max-batches", "SYNOD_BLOCK_MAX_BATCHES";
    }
    /// Consensus timing.
    consensus: ConsensusSection, ConsensusArgs {
        /// View timeout after a successful view, in milliseconds.
        base_timeout_ms: u64 = 1_000, "consensus.base-timeout-ms", "SYNOD_CONSENSUS_BASE_TIMEOUT_MS";
        /// Largest view timeout after repeated failures, in milliseconds.
        max_timeout_ms: u64 = 30_000, "consensus.max-timeout-ms", "SYNOD_CONSENSUS_MAX_TIMEOUT_MS";
        /// Growth of the timeout per failed view, in percent (at least 100).
        backoff_percent: u64 = 150, "consensus.backoff-percent", "SYNOD_CONSENSUS_BACKOFF_PERCENT";
        /// Blocks behind the network at which a validator stops fetching blocks one chain at
        /// a time and syncs finalized ranges by height, as a full node does.
        catch_up_blocks: u64 = 1_024, "consensus.catch-up-blocks", "SYNOD_CONSENSUS_CATCH_UP_BLOCKS";
    }
    /// The L1: the staking contracts and the publisher of attestations.
    l1: L1Section, L1ConfigArgs {
        /// L1 JSON-RPC endpoint (unset: no L1; the committee is the genesis file's).
        #[arg(num_args = 1)]
        rpc: Option<Url> = None, "l1.rpc", "SYNOD_L1_RPC";
        /// Address of the StakeTable contract (the bridge is read from it).
        #[arg(num_args = 1)]
        stake_table: Option<Address> = None, "l1.stake-table", "SYNOD_L1_STAKE_TABLE";
        /// Ethereum keystore of the account that posts attestations (else the
        /// SYNOD_L1_PRIVATE_KEY variable; neither: this validator does not post).
        #[arg(num_args = 1)]
        key_file: Option<PathBuf> = None, "l1.key-file", "SYNOD_L1_KEY_FILE";
        /// File holding that keystore's password.
        #[arg(num_args = 1)]
        key_password_file: Option<PathBuf> = None, "l1.key-password-file", "SYNOD_L1_KEY_PASSWORD_FILE";
        /// Post a finality certificate when the bridge is at least this many blocks behind.
        attest_every: u64 = 1, "l1.attest-every", "SYNOD_L1_ATTEST_EVERY";
        /// Seconds each validator after the one on duty waits before posting in its place.
        fallback_secs: u64 = 3, "l1.fallback-secs", "SYNOD_L1_FALLBACK_SECS";
        /// Take the StakeTable's next epoch snapshot once it is due, in turn with the
        /// other validators (anyone may; someone must, or the committee never changes).
        advance_epochs: bool = true, "l1.advance-epochs", "SYNOD_L1_ADVANCE_EPOCHS";
        /// L1 blocks an epoch snapshot must be below the head before it counts (12 suits
        /// Ethereum's mainnet head; a local anvil needs 1 or 2).
        confirmations: u64 = 12, "l1.confirmations", "SYNOD_L1_CONFIRMATIONS";
        /// Highest fee per gas to pay, in gwei (0: no bound). A transaction that would
        /// need more waits until fees fall.
        max_fee_gwei: u64 = synod_bridge::DEFAULT_MAX_FEE_GWEI, "l1.max-fee-gwei", "SYNOD_L1_MAX_FEE_GWEI";
    }
    /// Block data (`docs/protocol.md` §12).
    da: DaSection, DaArgs {
        /// Newest finalized blocks whose full batches are kept (unset: all). An older
        /// block's data is rebuilt from the validators' shards (`synod da get`); peers
        /// syncing from this node cannot fetch its pruned batches, so keep the default on
        /// nodes that others sync from.
        #[arg(num_args = 1)]
        retention_blocks: Option<u64> = None, "da.retention-blocks", "SYNOD_DA_RETENTION_BLOCKS";
        /// Newest finalized blocks whose shards this validator keeps (unset: all).
        #[arg(num_args = 1)]
        shard_retention_blocks: Option<u64> = None, "da.shard-retention-blocks", "SYNOD_DA_SHARD_RETENTION_BLOCKS";
        /// Committee DA: commit to each block's data and check the commitment before
        /// voting. Off only to measure what it costs (`synod testnet bench
        /// --node-arg=--da.committee=false`): every node of a network must use the same
        /// setting, or no block gets a vote.
        committee: bool = true, "da.committee", "SYNOD_DA_COMMITTEE";
    }
    /// Logging.
    log: LogSection, LogArgs {
        /// Output format.
        #[arg(value_enum)]
        format: LogFormat = LogFormat::Human, "log.format", "SYNOD_LOG_FORMAT";
        /// Filter, in `tracing` directive syntax (e.g. `info,synod_consensus=debug`).
        level: String = "info".into(), "log.level", "SYNOD_LOG_LEVEL";
    }
}

/// Variables that are not node options but belong to Synod's tools and tests.
const OTHER_KNOWN_ENV: &[&str] = &["SYNOD_SIM_SEEDS", "SYNOD_L1_PRIVATE_KEY", "SYNOD_ANVIL"];

/// Fails if the environment holds a `SYNOD_*` variable nobody reads.
pub fn check_env(vars: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    let known: BTreeSet<&str> = KNOWN_ENV.iter().chain(OTHER_KNOWN_ENV).copied().collect();
    let unknown: Vec<String> = vars
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("SYNOD_") && !known.contains(k.as_str()))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::UnknownEnv(unknown.join(", ")))
    }
}

impl Config {
    /// Reads a TOML file; every key is optional, unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Resolves the configuration: the file (if any), then flags and variables (as
    /// clap already merged them into `args`), after checking the environment for
    /// unknown `SYNOD_*` variables, then validates it.
    pub fn resolve(file: Option<&Path>, args: ConfigArgs) -> Result<Config, ConfigError> {
        check_env(std::env::vars())?;
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        args.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges that the types do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        if self.consensus.backoff_percent < 100 {
            return bad("consensus.backoff-percent must be at least 100");
        }
        if self.consensus.base_timeout_ms == 0
            || self.consensus.max_timeout_ms < self.consensus.base_timeout_ms
        {
            return bad("consensus timeouts must satisfy 0 < base-timeout-ms ≤ max-timeout-ms");
        }
        if !(16..=32_768).contains(&self.consensus.catch_up_blocks) {
            return bad("consensus.catch-up-blocks must be between 16 and 32768");
        }
        if self.mempool.max_namespace_percent == 0 || self.mempool.max_namespace_percent > 100 {
            return bad("mempool.max-namespace-percent must be between 1 and 100");
        }
        if self.mempool.max_tx_bytes == 0
            || self.mempool.max_tx_bytes > self.network.max_message_bytes
        {
            return bad(
                "mempool.max-tx-bytes must be positive and fit in network.max-message-bytes",
            );
        }
        if self.block.max_batches == 0
            || self.block.max_batches > synod_types::wire::Limits::new(1).max_block_batches
        {
            return bad("block.max-batches must be between 1 and 1024");
        }
        if self.l1.attest_every == 0 {
            return bad("l1.attest-every must be at least 1");
        }
        if !self.da.committee && self.da.retention_blocks.is_some() {
            return bad(
                "da.retention-blocks needs da.committee: without shards, pruned batches could not be rebuilt",
            );
        }
        if self.l1.rpc.is_some() && self.l1.stake_table.is_none() {
            return bad("l1.rpc needs l1.stake-table");
        }
        if self.batch.max_bytes == 0 || self.batch.max_bytes > self.network.max_message_bytes {
            return bad("batch.max-bytes must be positive and fit in network.max-message-bytes");
        }
        Ok(())
    }

    /// The configuration as TOML (what `--dump-config` prints).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration always serializes")
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        config: ConfigArgs,
    }

    fn args(list: &[&str]) -> ConfigArgs {
        Cmd::try_parse_from(std::iter::once("synod").chain(list.iter().copied()))
            .unwrap()
            .config
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let mut config: Config = toml::from_str("[mempool]\nmax_txs = 10\n").unwrap();
        args(&[
            "--mempool.max-bytes",
            "1024",
            "--node.role",
            "full",
            "--network.bootnodes",
            "/ip4/1.2.3.4/tcp/1,/ip4/5.6.7.8/tcp/2",
        ])
        .apply(&mut config);
        assert_eq!(config.mempool.max_txs, 10, "from the file");
        assert_eq!(config.mempool.max_bytes, 1024, "from the flag");
        assert_eq!(config.node.role, Role::Full);
        assert_eq!(config.network.bootnodes.len(), 2);
        assert_eq!(
            config.batch,
            BatchSection::default(),
            "untouched sections keep their defaults"
        );
    }

    #[test]
    fn the_l1_fee_is_bounded_unless_told_otherwise() {
        assert_eq!(Config::default().l1.max_fee_gwei, 200);
        let mut config = Config::default();
        args(&["--l1.max-fee-gwei", "0"]).apply(&mut config);
        assert_eq!(config.l1.max_fee_gwei, 0, "0 lifts the bound");
    }

    #[test]
    fn the_dump_reads_back_as_the_same_configuration() {
        let mut config = Config::default();
        args(&["--consensus.base-timeout-ms", "250", "--log.format", "json"]).apply(&mut config);
        let back: Config = toml::from_str(&config.to_toml()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn unknown_keys_and_variables_are_errors() {
        assert!(toml::from_str::<Config>("[mempool]\nmax_bites = 1\n").is_err());
        assert!(toml::from_str::<Config>("[mempol]\n").is_err());
        let env = |k: &str| vec![(k.to_string(), "1".to_string())];
        assert!(check_env(env("SYNOD_MEMPOOL_MAX_BYTES")).is_ok());
        assert!(check_env(env("SYNOD_SIM_SEEDS")).is_ok());
        assert!(check_env(env("PATH")).is_ok());
        let err = check_env(env("SYNOD_MEMPOOL_MAX_BITES"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SYNOD_MEMPOOL_MAX_BITES"), "{err}");
    }

    #[test]
    fn every_option_has_a_distinct_flag_and_variable() {
        let known: BTreeSet<&str> = KNOWN_ENV.iter().copied().collect();
        assert_eq!(known.len(), KNOWN_ENV.len());
        assert!(KNOWN_ENV.iter().all(|e| e.starts_with("SYNOD_")));
    }

    #[test]
    fn addresses_paths_and_urls_are_typed_and_unset_means_none() {
        let defaults = Config::default();
        assert_eq!(defaults.node.password_file, None);
        assert_eq!(defaults.rpc.admin_addr, None);
        assert_eq!(defaults.l1.rpc, None);
        let mut config = Config::default();
        args(&[
            "--node.password-file",
            "/keys/password",
            "--rpc.admin-addr",
            "127.0.0.1:9100",
            "--rpc.admin-token-file",
            "/keys/token",
            "--l1.rpc",
            "http://127.0.0.1:8545",
            "--l1.stake-table",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "--network.listen",
            "/ip4/0.0.0.0/tcp/9001",
        ])
        .apply(&mut config);
        assert_eq!(
            config.node.password_file.as_deref(),
            Some(Path::new("/keys/password"))
        );
        assert_eq!(
            config.rpc.admin_addr,
            Some(SocketAddr::from(([127, 0, 0, 1], 9100)))
        );
        assert_eq!(
            config.l1.rpc.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:8545/")
        );
        assert_eq!(config.network.listen.to_string(), "/ip4/0.0.0.0/tcp/9001");
        assert!(config.validate().is_ok());
        let back: Config = toml::from_str(&config.to_toml()).unwrap();
        assert_eq!(back, config);
        // A malformed value is refused where it is read, naming its option.
        for bad in [
            ["--rpc.addr", "localhost"],
            ["--network.listen", "127.0.0.1:9000"],
            ["--l1.rpc", "not a url"],
            ["--l1.stake-table", "0x12"],
        ] {
            let err = Cmd::try_parse_from(std::iter::once("synod").chain(bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains(bad[0]), "{err}");
        }
        // An L1 endpoint without its StakeTable is refused.
        let mut l1_only = Config::default();
        l1_only.l1.rpc = Some("http://127.0.0.1:8545".parse().unwrap());
        assert!(l1_only.validate().is_err());
        // Pruning batches with nothing to rebuild them from is refused.
        let mut prune_without_shards = Config::default();
        prune_without_shards.da.committee = false;
        prune_without_shards.da.retention_blocks = Some(10);
        assert!(prune_without_shards.validate().is_err());
        prune_without_shards.da.committee = true;
        assert!(prune_without_shards.validate().is_ok());
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let mut config = Config::default();
        config.consensus.backoff_percent = 50;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.block.max_batches = 5000;
        assert!(config.validate().is_err());
        assert!(Config::default().validate().is_ok());
    }
}
