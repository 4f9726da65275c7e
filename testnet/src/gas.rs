//! `synod testnet gas`: the gas of the L1 contracts' calls for committees of several
//! sizes, each measured on a fresh local anvil (`synod_bridge::gas`).

use anyhow::{bail, Context, Result};

use crate::cli::GasArgs;

/// `synod testnet gas`: measures each committee size on a fresh local anvil.
pub fn gas(args: &GasArgs) -> Result<bool> {
    let rows = crate::process::runtime()?.block_on(async {
        let mut rows = Vec::new();
        for &n in &args.sizes {
            if n == 0 || n > 500 {
                bail!("committee sizes are 1..=500, not {n}");
            }
            let started = std::time::Instant::now();
            let row = synod_bridge::gas::measure(n).await?;
            tracing::debug!(n, elapsed = ?started.elapsed(), "measured");
            rows.push(row);
        }
        Ok::<_, anyhow::Error>(rows)
    })?;
    let mut table = String::from(
        "| validators | attest, all sign | attest, 2/3+1 sign | first attest | advanceEpoch | register |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.validators,
            r.attest_all,
            r.attest_quorum,
            r.attest_first,
            r.advance_epoch,
            r.register
        ));
    }
    crate::process::say!("{}", table.trim_end());
    if let Some(path) = &args.json {
        let json: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "validators": r.validators,
                    "attest_all": r.attest_all,
                    "attest_quorum": r.attest_quorum,
                    "attest_first": r.attest_first,
                    "advance_epoch": r.advance_epoch,
                    "register": r.register,
                })
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(true)
}
