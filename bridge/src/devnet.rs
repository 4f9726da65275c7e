//! A local L1 for tests and measurements: the pinned anvil (`--hardfork prague`) on a
//! free 127.0.0.1 port, stopped when dropped.
//!
//! The binary is `$SYNOD_ANVIL` when set, else the one `make bootstrap` installs under
//! `tools/node_modules` (looked up from the current directory upwards, then next to
//! this crate's sources), else `anvil` on `PATH`. Of the npm package the native binary
//! is run, not its Node wrapper: the wrapper exits on SIGTERM without waiting for anvil,
//! which is then still writing its state and holding its port.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;

use crate::client::{deploy, Sent, L1};
use crate::error::L1Error;
use crate::params::{Deployment, StakeParams};

/// Where `make bootstrap` installs the npm packages, relative to the repository root.
pub const NODE_MODULES_IN_REPO: &str = "tools/node_modules";

/// Flags every local L1 runs with: the fork whose precompiles the bridge needs.
pub const ANVIL_FLAGS: [&str; 2] = ["--hardfork", "prague"];

/// The anvil binary to run (see the module doc).
pub fn anvil_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SYNOD_ANVIL") {
        return PathBuf::from(path);
    }
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        if let Some(found) = native_anvil(&d.join(NODE_MODULES_IN_REPO)) {
            return found;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    let beside_sources = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(NODE_MODULES_IN_REPO);
    native_anvil(&beside_sources).unwrap_or_else(|| PathBuf::from("anvil"))
}

/// The native anvil of the npm package `@foundry-rs/anvil` in `node_modules`: npm
/// installs the one platform package (`@foundry-rs/anvil-<os>-<arch>`) that matches the
/// machine; older releases ship it in the package's `dist/`.
fn native_anvil(node_modules: &Path) -> Option<PathBuf> {
    let scope = node_modules.join("@foundry-rs");
    let platform = std::fs::read_dir(&scope)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("anvil-"))
        .map(|e| e.path().join("bin").join("anvil"));
    let dist = std::iter::once(scope.join("anvil").join("dist").join("anvil"));
    platform.chain(dist).find(|p| p.is_file())
}

/// A running anvil with funded accounts.
#[derive(Debug)]
pub struct LocalL1 {
    anvil: AnvilInstance,
}

impl LocalL1 {
    /// Starts anvil with `accounts` funded accounts; `block_time` none means a block per
    /// transaction.
    pub fn start(accounts: usize, block_time: Option<Duration>) -> Result<LocalL1, L1Error> {
        let mut anvil = Anvil::at(anvil_binary())
            .args(ANVIL_FLAGS)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--accounts")
            .arg(accounts.to_string())
            .arg("--balance")
            .arg("1000000");
        if let Some(t) = block_time {
            anvil = anvil
                .arg("--block-time")
                .arg(format!("{}", t.as_secs_f64()));
        }
        let anvil = anvil.try_spawn().map_err(|e| {
            L1Error::Config(format!(
                "cannot start anvil ({}): {e}; run `make bootstrap` or set SYNOD_ANVIL",
                anvil_binary().display()
            ))
        })?;
        Ok(LocalL1 { anvil })
    }

    /// Its HTTP endpoint.
    pub fn endpoint(&self) -> String {
        self.anvil.endpoint()
    }

    /// Funded account `i`.
    pub fn signer(&self, i: usize) -> PrivateKeySigner {
        PrivateKeySigner::from(self.anvil.keys()[i].clone())
    }

    /// How many funded accounts there are.
    pub fn accounts(&self) -> usize {
        self.anvil.keys().len()
    }

    /// Deploys the contracts from account 0.
    pub async fn deploy(&self, params: &StakeParams) -> Result<Deployment, L1Error> {
        deploy(&self.endpoint(), self.signer(0), params).await
    }

    /// A client for `deployment` sending from account `i`.
    pub async fn client(&self, deployment: &Deployment, i: usize) -> Result<L1, L1Error> {
        L1::connect(
            &self.endpoint(),
            deployment.stake_table,
            Some(self.signer(i)),
        )
        .await
    }

    /// Mines `blocks` empty blocks at once.
    pub async fn mine(&self, l1: &L1, blocks: u64) -> Result<(), L1Error> {
        l1.provider()
            .raw_request::<_, ()>("anvil_mine".into(), (blocks,))
            .await
            .map_err(|e| L1Error::Rpc(e.to_string()))
    }

    /// Moves L1 time forward by `seconds` and mines a block.
    pub async fn warp(&self, l1: &L1, seconds: u64) -> Result<(), L1Error> {
        l1.provider()
            .raw_request::<_, i64>("evm_increaseTime".into(), (seconds,))
            .await
            .map_err(|e| L1Error::Rpc(e.to_string()))?;
        self.mine(l1, 1).await
    }

    /// Mines up to the block where the next epoch may be snapshot and snapshots it;
    /// returns the new epoch and the snapshot transaction.
    pub async fn next_epoch(&self, l1: &L1) -> Result<(u64, Sent), L1Error> {
        let next = l1.current_epoch().await? + 1;
        let due = l1.epoch_due(next).await?;
        let now = l1.block_number().await?;
        // The snapshot transaction itself lands in the next block.
        if due > now + 1 {
            self.mine(l1, due - now - 1).await?;
        }
        let sent = l1.advance_epoch().await?;
        Ok((next, sent))
    }
}
