//! Running `synod` processes: starting them (in their own process group, logging to a
//! file), signalling them, waiting for them to exit, and running one-shot `synod`
//! commands for their output. Everything in this crate that touches a process goes
//! through here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Prints a line of a command's output to stdout (logs go to stderr).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}
pub(crate) use say;

/// The `synod` binary (this process's own).
pub(crate) fn synod() -> Result<PathBuf> {
    std::env::current_exe().context("cannot find the synod binary")
}

/// Runs `synod <args>` to completion; returns its stdout.
pub(crate) fn synod_output(args: &[&str]) -> Result<String> {
    synod_output_with(args, &[])
}

/// Runs `synod <args>` with extra environment variables to completion; its stdout.
pub(crate) fn synod_output_with(args: &[&str], env: &[(&str, &str)]) -> Result<String> {
    let out = Command::new(synod()?)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("SYNOD_DATA_DIR")
        .output()
        .with_context(|| format!("cannot run synod {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "synod {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts `synod` with `args` and `env`, appending to `log`; returns its pid.
pub fn spawn(args: &[String], log: &Path, env: &BTreeMap<String, String>) -> Result<u32> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let mut cmd = Command::new(synod()?);
    cmd.args(args)
        .envs(env)
        .env_remove("SYNOD_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    // Own process group: a detached network survives the terminal's Ctrl-C.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().context("cannot start synod")?;
    Ok(child.id())
}

/// Sends `sig` (a `kill` argument such as `-TERM`) to `pid`, ignoring failures.
pub(crate) fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Waits up to `timeout` for a process to exit; whether it did.
pub(crate) fn wait_exit(pid: u32, timeout: Duration) -> bool {
    let start = Instant::now();
    while alive(pid) {
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Whether a process is alive (Linux `/proc`).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            // A zombie (state Z) has exited.
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// A single-threaded runtime for the commands that talk to L1.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
