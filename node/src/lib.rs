//! The synod node: command line, configuration and the wiring of the Synod crates.
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`run`]. Each
//! subcommand lives in `cmd/`. Today that is `sim`, which drives the consensus engine
//! in the deterministic simulator (`synod_consensus::sim`); the daemon itself (`start`,
//! `init`, `keys`, `status`, `stake`, `testnet`) builds on the same engine.

pub mod cli;
mod cmd;

use std::process::ExitCode;

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: cli::Cli) -> ExitCode {
    let result = match &cli.command {
        cli::Command::Sim(args) => cmd::sim::run(args),
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
