//! Helpers for tests that open a store (feature `testing`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// An empty directory for one test's database, unique per call: tests run in parallel
/// and may share a name.
pub fn temp_dir(name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("synod-store-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
