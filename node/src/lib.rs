//! The synod node: command line, configuration and the wiring of the Synod crates.
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`run`]. Each
//! subcommand lives in `cmd/`: `sim` drives the consensus engine in the deterministic
//! simulator (`synod_consensus::sim`); `keys` manages EIP-2335 keystores (`synod_keys`) in the
//! data directory ([`keys`]).
//! The daemon itself (`start`, `init`, `status`, `stake`, `testnet`) builds on these.

pub mod cli;
mod cmd;
pub mod config;
pub mod datadir;
pub mod keys;
pub mod rpc;
pub mod service;
pub mod telemetry;

use std::process::ExitCode;

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: cli::Cli) -> ExitCode {
    let result = match &cli.command {
        cli::Command::Sim(args) => cmd::sim::run(args),
        cli::Command::Keys(cli::KeysCommand::Protection(command)) => cmd::protection::run(command),
        cli::Command::Keys(command) => cmd::keys::run(command),
        cli::Command::Init(args) => cmd::init::run(args),
        cli::Command::Genesis(args) => cmd::init::genesis(args),
        cli::Command::Start(args) => cmd::start::run(args),
        cli::Command::Status(args) => cmd::status::run(args),
        cli::Command::Da(command) => cmd::da::run(command),
        cli::Command::Stake(command) => cmd::stake::run(command),
        cli::Command::Testnet(command) => synod_testnet::run(command),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
