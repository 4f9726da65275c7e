pub mod da;
pub mod init;
pub mod keys;
pub mod protection;
pub mod sim;
pub mod stake;
pub mod start;
pub mod status;

use std::io::Write;

use anyhow::{Context, Result};

/// Prints to stdout (commands' results; logs go to stderr).
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// A single-threaded runtime for the commands that talk to L1.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
