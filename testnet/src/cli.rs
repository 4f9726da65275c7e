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
}
