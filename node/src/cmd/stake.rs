//! `synod stake register|exit|withdraw|status|advance-epoch|deploy` against the L1
//! contracts, `synod testnet gas` and `synod testnet anvil`.

use alloy::primitives::utils::parse_units;
use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{bail, Context, Result};
use synod_bridge::StakeParams;

use crate::cli::{L1Args, StakeCommand};
use crate::cmd::runtime;
use crate::keys::{open_validator_key, PRIVATE_KEY_ENV};

fn required_signer(l1: &L1Args) -> Result<PrivateKeySigner> {
    l1.signer()?.with_context(|| {
        format!("an L1 account is needed: --l1.key-file with --l1.key-password-file, or {PRIVATE_KEY_ENV}")
    })
}

/// ETH as a decimal string, in gwei.
pub fn eth_to_gwei(eth: &str) -> Result<u64> {
    let wei: alloy::primitives::U256 = parse_units(eth, "ether")
        .with_context(|| format!("{eth:?} is not an amount of ETH"))?
        .into();
    let gwei = alloy::primitives::U256::from(1_000_000_000u64);
    if wei % gwei != alloy::primitives::U256::ZERO {
        bail!("{eth} ETH is not a whole number of gwei");
    }
    u64::try_from(wei / gwei).with_context(|| format!("{eth} ETH is too much"))
}

fn gwei_to_eth(gwei: u64) -> String {
    let whole = gwei / 1_000_000_000;
    let frac = gwei % 1_000_000_000;
    if frac == 0 {
        format!("{whole}")
    } else {
        format!("{whole}.{}", format!("{frac:09}").trim_end_matches('0'))
    }
}

/// Runs a `stake` subcommand; returns whether it succeeded.
pub fn run(command: &StakeCommand) -> Result<bool> {
    runtime()?.block_on(async {
        match command {
            StakeCommand::Register {
                l1,
                dir,
                password_file,
                stake,
            } => {
                let stake = eth_to_gwei(stake)?;
                let key = open_validator_key(&dir.data_dir, password_file)?;
                let client = l1.open(Some(required_signer(l1)?)).await?;
                let sent = client.register(&key, stake).await?;
                crate::cmd::print(&format!(
                    "registered 0x{} from {} with {} ETH in L1 block {} (tx {}, {} gas); it joins the committee at the next epoch",
                    hex::encode(key.public_key().0),
                    client.account().unwrap_or_default(),
                    gwei_to_eth(stake),
                    sent.block,
                    sent.tx,
                    sent.gas_used
                ))?;
            }
            StakeCommand::Exit { l1 } => {
                let client = l1.open(Some(required_signer(l1)?)).await?;
                let sent = client.request_exit().await?;
                let account = client.account().unwrap_or_default();
                let record = client.validator(account).await?;
                crate::cmd::print(&format!(
                    "exit requested for {account} in L1 block {}; it leaves the committee at the next epoch and may withdraw from {} (unix seconds)",
                    sent.block, record.withdrawable_at
                ))?;
            }
            StakeCommand::Withdraw { l1 } => {
                let client = l1.open(Some(required_signer(l1)?)).await?;
                let account = client.account().unwrap_or_default();
                let before = client.validator(account).await?;
                let sent = client.withdraw().await?;
                crate::cmd::print(&format!(
                    "withdrew {} ETH to {account} in L1 block {}",
                    gwei_to_eth(before.stake_gwei),
                    sent.block
                ))?;
            }
            StakeCommand::Status { l1, account, json } => {
                let client = l1.open(l1.signer()?).await?;
                let account: Address = match account {
                    Some(a) => a.parse().with_context(|| format!("{a:?} is not an address"))?,
                    None => client
                        .account()
                        .context("give --account, or an L1 key to use its account")?,
                };
                let record = client.validator(account).await?;
                let epoch = client.current_epoch().await?;
                let in_committee = client
                    .committee(epoch)
                    .await?
                    .members
                    .iter()
                    .any(|m| m.account == account);
                if *json {
                    crate::cmd::print(&serde_json::to_string_pretty(&serde_json::json!({
                        "account": account.to_string(),
                        "status": record.status.name(),
                        "stake_gwei": record.stake_gwei,
                        "withdrawable_at": record.withdrawable_at,
                        "public_key": record.key.map(|k| format!("0x{}", hex::encode(k.0))),
                        "epoch": epoch,
                        "in_committee": in_committee,
                    }))?)?;
                } else {
                    let exit = if record.withdrawable_at > 0 {
                        format!("\n  withdrawable from {} (unix seconds)", record.withdrawable_at)
                    } else {
                        String::new()
                    };
                    crate::cmd::print(&format!(
                        "{account}: {}\n  effective stake {} ETH\n  epoch {epoch}: {}{exit}",
                        record.status,
                        gwei_to_eth(record.stake_gwei),
                        if in_committee { "in the committee" } else { "not in the committee" },
                    ))?;
                }
            }
            StakeCommand::AdvanceEpoch { l1 } => {
                let client = l1.open(Some(required_signer(l1)?)).await?;
                let next = client.current_epoch().await? + 1;
                let due = client.epoch_due(next).await?;
                let now = client.block_number().await?;
                if now + 1 < due {
                    bail!("epoch {next} may be snapshot from L1 block {due}; L1 is at {now}");
                }
                let sent = client.advance_epoch().await?;
                let snapshot = client.committee(next).await?;
                crate::cmd::print(&format!(
                    "epoch {next} snapshot in L1 block {}: {} members, {} ETH of stake",
                    sent.block,
                    snapshot.members.len(),
                    gwei_to_eth(snapshot.members.iter().map(|m| m.stake_gwei).sum())
                ))?;
            }
            StakeCommand::Deploy {
                l1,
                min_stake,
                ejection_stake,
                exit_delay,
                epoch_blocks,
                out,
            } => {
                let params = StakeParams {
                    min_stake_gwei: eth_to_gwei(min_stake)?,
                    ejection_stake_gwei: eth_to_gwei(ejection_stake)?,
                    exit_delay_secs: *exit_delay,
                    epoch_blocks: *epoch_blocks,
                    ..StakeParams::default()
                };
                let d = synod_bridge::deploy(l1.rpc()?.as_str(), required_signer(l1)?, &params).await?;
                let json = serde_json::to_string_pretty(&serde_json::json!({
                    "chain_id": d.chain_id,
                    "stake_table": d.stake_table.to_string(),
                    "bridge": d.bridge.to_string(),
                    "block": d.block,
                }))?;
                if let Some(path) = out {
                    std::fs::write(path, format!("{json}\n"))
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                crate::cmd::print(&json)?;
            }
        }
        Ok(true)
    })
}
