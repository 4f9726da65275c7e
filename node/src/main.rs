//! The `synod` binary: parses the command line and hands over to `synod_node`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    synod_node::run(synod_node::cli::Cli::parse())
}
