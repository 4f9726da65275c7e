//! Local multi-node Synod networks of real `synod` processes, driven through their CLI,
//! config files and RPC exactly as an operator would (this crate never links the
//! node's internals).
//!
//! - `synod testnet up`: keys (`synod keys new`), identities (`synod init`), the genesis
//!   (`synod genesis`), then one `synod start` per node on 127.0.0.1 with distinct
//!   ports; `testnet.json` describes the network; a live status line each second.
//! - `synod testnet join`: one more node in a running network; a validator registers
//!   on the L1 with `synod stake register` and enters at the next epoch snapshot.
//! - `synod testnet down`: SIGTERM to every process of a `testnet.json`, then waits.
//! - `synod testnet load`: transactions to every node over JSON-RPC, the finalized
//!   stream over WebSocket; acknowledged, finalized, lost, latency percentiles.
//! - `synod testnet bench`: a network, empty blocks per second, a ramp to saturation,
//!   the sustained rate and the latency at half of it; JSON, an SVG chart, a table.
//! - `synod testnet anvil|gas|lag`: the pinned anvil, the contracts' gas per committee
//!   size, how far the bridge trails finality; these use the L1 client
//!   (`synod_bridge`), the only Synod crate this one links.

mod bench;
mod chart;
pub mod cli;
mod gas;
mod join;
mod l1;
mod lag;
pub mod load;
mod manifest;
mod process;
mod up;

pub use manifest::{L1Entry, Manifest, NodeEntry};
pub use up::status;

use anyhow::Result;

/// Runs a `synod testnet` subcommand; returns whether it succeeded.
pub fn run(command: &cli::TestnetCommand) -> Result<bool> {
    match command {
        cli::TestnetCommand::Up(args) => up::up(args),
        cli::TestnetCommand::Down(args) => up::down(&args.dir),
        cli::TestnetCommand::Join(args) => join::join(&args.dir.dir, args.full),
        cli::TestnetCommand::Restart(args) => up::restart(&args.dir.dir, &args.node, args.wipe),
        cli::TestnetCommand::Load(args) => {
            let manifest = Manifest::load(&args.dir.dir)?;
            let report = load::run(
                &manifest,
                &load::Plan {
                    steps: vec![(
                        args.rate as f64,
                        std::time::Duration::from_secs(args.duration),
                    )],
                    size: args.size,
                },
            )?;
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
            }
            process::say!("{}", report.summary());
            Ok(report.lost == 0 && report.duplicates == 0)
        }
        cli::TestnetCommand::Bench(args) => bench::bench(args),
        cli::TestnetCommand::Gas(args) => gas::gas(args),
        cli::TestnetCommand::Anvil(args) => l1::anvil(args),
        cli::TestnetCommand::Lag(args) => lag::run(args),
    }
}
