//! The publisher: posts finality certificates to the L1 bridge and follows what the
//! bridge has attested (`docs/operator.md`, "L1").
//!
//! Duty rotates: the validator on duty for the next post is the committee member at
//! `attested_height mod n` (a fact every node reads from L1 alike). The one on duty
//! posts the newest certificate it holds as soon as the bridge is `l1.attest-every`
//! blocks behind; member `k` places after it waits `k × l1.fallback-secs` from the
//! moment the bridge last moved, and posts only if the bridge still has not. A node
//! never posts a height at or below what it posted or what the bridge holds; the
//! contract refuses those too, and the call is simulated before it is sent, so a lost
//! race costs no gas.

use std::sync::Arc;
use std::time::{Duration, Instant};

use synod_bridge::{AttestedTip, L1Error, L1};
use synod_types::{FinalityCert, Header};
use tokio::sync::{broadcast, watch};

use crate::service::Finalized;

/// How often the bridge's tip is read.
const POLL: Duration = Duration::from_millis(500);
/// Longest wait between retries after L1 errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the publisher needs.
#[derive(Debug)]
pub struct Publisher {
    /// The L1 client; with an account when this node posts.
    pub l1: L1,
    /// This validator's committee index (`None`: follow only).
    pub index: Option<u32>,
    /// Committee size.
    pub committee_size: u32,
    /// Post when the bridge is at least this many blocks behind.
    pub attest_every: u64,
    /// Wait per place behind the member on duty.
    pub fallback: Duration,
    /// Where the attested height is published for RPC and status.
    pub attested: watch::Sender<Option<u64>>,
}

impl Publisher {
    /// Runs until the finalized stream closes.
    pub async fn run(self, mut finalized: broadcast::Receiver<Arc<Finalized>>) {
        let mut newest: Option<(Header, FinalityCert)> = None;
        let mut finalized_height = 0u64;
        let mut tip = AttestedTip::default();
        let mut moved_at = Instant::now();
        let mut posted = 0u64;
        let mut backoff = Duration::ZERO;
        let mut next_try = Instant::now();
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                block = finalized.recv() => match block {
                    Ok(f) => {
                        finalized_height = f.block.header.height;
                        if let Some(cert) = &f.certificate {
                            newest = Some((f.block.header.clone(), cert.clone()));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick() => {
                    if Instant::now() < next_try {
                        continue;
                    }
                    match self.step(&mut tip, &mut moved_at, &mut posted, newest.as_ref()).await {
                        Ok(()) => backoff = Duration::ZERO,
                        Err(e) => {
                            metrics::counter!("synod_l1_errors_total", "kind" => e.kind()).increment(1);
                            backoff = (backoff * 2).clamp(POLL, MAX_BACKOFF);
                            tracing::warn!(error = %e, retry_in = ?backoff, "L1");
                        }
                    }
                    next_try = Instant::now() + backoff;
                    metrics::gauge!("synod_l1_attested_height").set(tip.height as f64);
                    metrics::gauge!("synod_l1_attested_lag_blocks")
                        .set(finalized_height.saturating_sub(tip.height) as f64);
                }
            }
        }
    }

    /// Reads the bridge's tip and posts when this node's turn has come.
    async fn step(
        &self,
        tip: &mut AttestedTip,
        moved_at: &mut Instant,
        posted: &mut u64,
        newest: Option<&(Header, FinalityCert)>,
    ) -> Result<(), L1Error> {
        let now = self.l1.attested().await?;
        if now.height != tip.height {
            *tip = now;
            *moved_at = Instant::now();
        }
        if *self.attested.borrow() != Some(tip.height) {
            self.attested.send_replace(Some(tip.height));
        }
        let (Some(index), Some((header, cert))) = (self.index, newest) else {
            return Ok(());
        };
        if self.l1.account().is_none()
            || header.height < tip.height + self.attest_every
            || header.height <= *posted
        {
            return Ok(());
        }
        let n = self.committee_size.max(1) as u64;
        let duty = tip.height % n;
        let place = (index as u64 + n - duty) % n;
        if moved_at.elapsed() < self.fallback * place as u32 {
            return Ok(());
        }
        match self.l1.attest(header, cert).await {
            Ok(sent) => {
                *posted = header.height;
                metrics::counter!("synod_l1_attestations_posted_total").increment(1);
                metrics::counter!("synod_l1_gas_used_total").increment(sent.gas_used);
                tracing::info!(
                    height = header.height,
                    l1_block = sent.block,
                    gas = sent.gas_used,
                    place,
                    "attested on L1"
                );
                *tip = AttestedTip {
                    height: header.height,
                    epoch: header.epoch,
                    hash: header.hash(),
                };
                *moved_at = Instant::now();
                self.attested.send_replace(Some(tip.height));
                Ok(())
            }
            // Another validator was faster: the bridge already holds this height.
            Err(L1Error::Reverted { reason, .. }) if reason.contains("NotNewer") => {
                *posted = header.height;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
