//! `docs/architecture.md` says which crate depends on which; the `Cargo.toml` files are
//! the truth, and dependencies point up the table, never back.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The crates, in the table's order.
const CRATES: [&str; 11] = [
    "types",
    "sequencer",
    "da",
    "consensus",
    "p2p",
    "staking",
    "bridge",
    "keys",
    "store",
    "testnet",
    "node",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Synod crates a crate's `[dependencies]` section lists (not dev-dependencies).
fn manifest_deps(folder: &str) -> BTreeSet<&'static str> {
    let text = std::fs::read_to_string(root().join(folder).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut deps = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('[') {
            in_deps = line.trim() == "[dependencies]";
            continue;
        }
        if let Some(rest) = line.strip_prefix("synod-").filter(|_| in_deps) {
            let name = rest.split(['.', ' ', '=']).next().unwrap();
            deps.insert(*CRATES.iter().find(|c| **c == name).unwrap());
        }
    }
    deps
}

/// The table's "depends on" column for a crate: "all" means every other crate, "—"
/// none, otherwise the crate names it mentions.
fn documented(folder: &str) -> BTreeSet<&'static str> {
    let text = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("| `{folder}/` |")))
        .unwrap_or_else(|| panic!("docs/architecture.md has no row for {folder}/"));
    let cell = row.trim_end_matches('|').rsplit('|').next().unwrap().trim();
    if cell == "all" {
        return CRATES.iter().copied().filter(|c| *c != folder).collect();
    }
    let words: BTreeSet<&str> = cell
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    CRATES
        .iter()
        .copied()
        .filter(|c| *c != folder && words.contains(c))
        .collect()
}

#[test]
fn the_architecture_table_matches_the_manifests_and_points_up() {
    for (i, folder) in CRATES.iter().enumerate() {
        let deps = manifest_deps(folder);
        assert_eq!(
            documented(folder),
            deps,
            "docs/architecture.md disagrees with {folder}/Cargo.toml"
        );
        for dep in deps {
            let j = CRATES.iter().position(|c| *c == dep).unwrap();
            assert!(
                j < i,
                "{folder} depends on {dep}, which is below it in the table"
            );
        }
    }
}
