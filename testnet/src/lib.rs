//! Local multi-node Synod networks of real `synod` processes, driven through their CLI,
//! config files and RPC exactly as an operator would (this crate never links the
//! node's internals).
//!
//! - `synod testnet up`: keys (`synod keys new`), identities (`synod init`), the genesis
//!   (`synod genesis`), then one `synod start` per node on 127.0.0.1 with distinct
//!   ports; `testnet.json` describes the network; a live status line each second.
//! - `synod testnet down`: SIGTERM to every process of a `testnet.json`, then waits.

pub mod cli;
mod manifest;
mod up;

pub use manifest::{Manifest, NodeEntry};

use anyhow::Result;

/// Runs a `synod testnet` subcommand; returns whether it succeeded.
pub fn run(command: &cli::TestnetCommand) -> Result<bool> {
    match command {
        cli::TestnetCommand::Up(args) => up::up(args),
        cli::TestnetCommand::Down(args) => up::down(&args.dir),
    }
}
