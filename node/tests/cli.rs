//! The `synod` binary as a user runs it.

use std::path::PathBuf;
use std::process::Command;

use clap::CommandFactory;
use synod_node::cli::Cli;

fn synod(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(args)
        .output()
        .expect("the synod binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sim_reports_passed_and_failed_on_its_last_line() {
    let (code, stdout, _) = synod(&[
        "sim",
        "--scenario",
        "honest",
        "--seeds",
        "3",
        "--blocks",
        "5",
    ]);
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().last(), Some("sim: 3 passed, 0 failed"));
}

#[test]
fn a_negative_control_counts_as_passed_when_its_violation_is_detected() {
    let (code, stdout, _) = synod(&[
        "sim",
        "--scenario",
        "nc-quorum",
        "--seed",
        "4",
        "--seeds",
        "2",
        "--verbose",
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        stdout.matches("violation detected as expected").count(),
        2,
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("sim: 2 passed, 0 failed"));
}

#[test]
fn list_names_every_scenario_including_the_negative_controls() {
    let (code, stdout, _) = synod(&["sim", "--list"]);
    assert_eq!(code, 0);
    for name in [
        "honest",
        "lossy",
        "partition",
        "partition-oneway",
        "partition-rotating",
        "crash-restart",
        "crash-all-certified",
        "equivocating-leader",
        "corrupt-commitment",
        "double-voter",
        "silent",
        "replay",
        "invalid-signatures",
        "amnesia",
        "twins",
        "whale",
        "chaos",
        "large",
        "nc-twins",
        "nc-quorum",
        "nc-volatile-data",
        "nc-unchecked-commitment",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name} missing:\n{stdout}"
        );
    }
}

#[test]
fn stake_without_an_l1_endpoint_says_which_option_is_missing() {
    // No default endpoint: `l1.rpc` unset means no L1 for `stake` as for `start`.
    let (code, _, stderr) = synod(&[
        "stake",
        "status",
        "--l1.stake-table",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "--account",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("--l1.rpc (or SYNOD_L1_RPC) is needed"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_scenario_is_a_clear_error() {
    let (code, _, stderr) = synod(&["sim", "--scenario", "nope"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown scenario `nope`") && stderr.contains("synod sim --list"),
        "{stderr}"
    );
}

#[test]
fn one_seed_replays_identically() {
    let args = [
        "sim",
        "--scenario",
        "chaos",
        "--seed",
        "11",
        "--seeds",
        "1",
        "--verbose",
    ];
    let (_, a, _) = synod(&args);
    let (_, b, _) = synod(&args);
    let run_line = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("ok ") || l.starts_with("FAIL"))
            .map(str::to_owned)
    };
    assert!(run_line(&a).is_some());
    assert_eq!(run_line(&a), run_line(&b));
}

/// `docs/cli.md` is generated from the clap definitions; `make docs` regenerates it.
#[test]
fn generated_cli_reference() {
    let mut text = String::from(
        "# synod command-line reference\n\nGenerated from the code by `make docs`; CI fails when it drifts.\n",
    );
    let mut root = Cli::command();
    root.build();
    let mut stack = vec![(String::from("synod"), root)];
    while let Some((path, mut cmd)) = stack.pop() {
        text.push_str(&format!(
            "\n## `{path}`\n\n```text\n{}\n```\n",
            cmd.render_long_help().to_string().trim_end()
        ));
        let mut subs: Vec<_> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .cloned()
            .collect();
        subs.reverse();
        for sub in subs {
            stack.push((format!("{path} {}", sub.get_name()), sub));
        }
    }
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&file, &text).expect("docs/cli.md is writable");
    }
    let current = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        current == text,
        "docs/cli.md is out of date: run `make docs`"
    );
}

#[test]
fn keys_new_list_and_import() {
    let dir = std::env::temp_dir().join(format!("synod-keys-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let password = dir.join("password.txt");
    std::fs::write(&password, "s3cret password\n").unwrap();
    let a = dir.join("a");
    let (code, out, err) = synod(&[
        "keys",
        "new",
        "--data-dir",
        a.to_str().unwrap(),
        "--password-file",
        password.to_str().unwrap(),
        "--kdf",
        "pbkdf2",
    ]);
    assert_eq!(code, 0, "{err}");
    let pubkey = out
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("created key ")
        .to_string();
    assert_eq!(pubkey.len(), 2 + 96);
    let (_, listed, _) = synod(&["keys", "list", "--data-dir", a.to_str().unwrap()]);
    assert!(listed.starts_with(&pubkey), "{listed}");
    let keystore = a.join("keys").join(format!("{}.json", &pubkey[2..]));

    let wrong = dir.join("wrong.txt");
    std::fs::write(&wrong, "not it").unwrap();
    let b = dir.join("b");
    let (code, _, err) = synod(&[
        "keys",
        "import",
        "--data-dir",
        b.to_str().unwrap(),
        "--keystore",
        keystore.to_str().unwrap(),
        "--password-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("wrong password"), "{err}");
    let (code, out, err) = synod(&[
        "keys",
        "import",
        "--data-dir",
        b.to_str().unwrap(),
        "--keystore",
        keystore.to_str().unwrap(),
        "--password-file",
        password.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&pubkey));
    let (code, _, err) = synod(&[
        "keys",
        "import",
        "--data-dir",
        b.to_str().unwrap(),
        "--keystore",
        keystore.to_str().unwrap(),
        "--password-file",
        password.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "importing twice is refused");
    assert!(err.contains("already exists"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
