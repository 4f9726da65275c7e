//! `synod init` and `synod genesis`.

use anyhow::{bail, Context, Result};
use synod_staking::{Genesis, GenesisValidator};

use crate::cli::{GenesisArgs, InitArgs};
use crate::cmd::runtime;
use crate::config::Config;
use crate::datadir;

/// The configuration file `synod init` writes.
pub const CONFIG_FILE: &str = "synod.toml";

/// Creates the network identity and a configuration file with the defaults.
pub fn run(args: &InitArgs) -> Result<bool> {
    let dir = &args.dir.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let identity = synod_p2p::identity::load_or_create(&datadir::identity(dir))?;
    let config_path = dir.join(CONFIG_FILE);
    if !config_path.exists() {
        let mut config = Config::default();
        config.node.data_dir = dir.clone();
        std::fs::write(&config_path, config.to_toml())
            .with_context(|| format!("cannot write {}", config_path.display()))?;
    }
    crate::cmd::print(&format!(
        "peer id {}\nconfig {}\nidentity {}",
        identity.public().to_peer_id(),
        config_path.display(),
        datadir::identity(dir).display()
    ))?;
    Ok(true)
}

/// Writes a genesis file from `--validator key:stake` entries.
pub fn genesis(args: &GenesisArgs) -> Result<bool> {
    let timestamp_ms = args.timestamp_ms.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    });
    let genesis = if args.from_l1 {
        runtime()?.block_on(async {
            let l1 = args.l1.open(None).await?;
            anyhow::Ok(l1.genesis(timestamp_ms).await?)
        })?
    } else {
        let validators = args
            .validators
            .iter()
            .map(|v| {
                let Some((key, stake)) = v.rsplit_once(':') else {
                    bail!("--validator {v:?}: expected 0x<public key>:<stake>");
                };
                Ok(GenesisValidator {
                    public_key: key.to_string(),
                    stake: stake
                        .parse()
                        .with_context(|| format!("--validator {v:?}: stake is not a number"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Genesis {
            chain_id: args.chain_id,
            bridge: args.bridge.clone(),
            timestamp_ms,
            epoch: 0,
            validators,
        }
    };
    genesis.committee()?;
    genesis.domain()?;
    std::fs::write(&args.out, genesis.to_json())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    crate::cmd::print(&format!(
        "genesis {} ({} validators, block {})",
        args.out.display(),
        genesis.validators.len(),
        genesis.block().hash().to_hex()
    ))?;
    Ok(true)
}
