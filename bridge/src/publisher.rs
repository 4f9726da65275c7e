//! The publisher: posts finality certificates to the L1 bridge and follows what the
//! bridge has attested (`docs/operator.md`, "L1"). It reads the chain only through
//! [`Certified`], the newest finalized header with its certificate.
//!
//! Duty rotates: the validator on duty for the next post is the member of the current
//! epoch's committee at `attested_height mod n` (facts every node reads alike). The one
//! on duty posts the newest certificate it holds as soon as the bridge is
//! `l1.attest-every` blocks behind; member `k` places after it waits `k × l1.fallback-secs`
//! and `k` L1 blocks from the moment the bridge last moved, and posts only if the bridge
//! still has not. Epoch snapshots (`StakeTable.advanceEpoch`) rotate the same way. A node
//! never posts a height at or below what it posted or what the bridge holds; the
//! contract refuses those too, and the call is simulated before it is sent, so a lost
//! race costs no gas.
//!
//! Equivocation evidence the engine reports is submitted to the StakeTable from this
//! node's account: the offender's account is looked up by its key, the contract verifies
//! both signatures and pays the first reporter only, so every validator that sees the
//! evidence may submit it and the losers' simulations fail without cost.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use synod_types::{Committee, Equivocation, FinalityCert, Header, Phase, PublicKey};
use tokio::sync::{mpsc, watch};

use crate::client::{AttestedTip, L1};
use crate::error::L1Error;

/// The newest finalized block with its finality certificate: all the publisher reads of
/// the chain (the node replaces it at every commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certified {
    /// The header of the last block of the commit.
    pub header: Header,
    /// Its finality certificate.
    pub certificate: FinalityCert,
}

/// How often L1's block number is read; the bridge's tip is read when it changes.
const POLL: Duration = Duration::from_millis(200);
/// Longest wait between retries after L1 errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Evidence waiting for submission, at most.
const MAX_PENDING_EVIDENCE: usize = 64;
/// Times one piece of evidence is submitted before it is given up.
const EVIDENCE_ATTEMPTS: u32 = 8;

/// Takes the newest commit: its height, and its certificate if the bridge can check it.
fn absorb(c: &Certified, newest: &mut Option<(Header, FinalityCert)>, finalized_height: &mut u64) {
    *finalized_height = c.header.height;
    // The bridge checks the commit at the header's view: an epoch's last block made
    // final through a block above it is not posted (the next epoch's blocks are).
    if c.certificate.at_block_view(&c.header) {
        *newest = Some((c.header.clone(), c.certificate.clone()));
    }
}

/// What the publisher knows of L1.
#[derive(Debug)]
struct State {
    /// The L1 block the tip was last read at.
    l1_block: Option<u64>,
    tip: AttestedTip,
    /// When, and at which L1 block, the tip last moved.
    moved_at: Instant,
    moved_block: u64,
    /// Highest height this node posted.
    posted: u64,
    /// The next epoch to snapshot and the L1 block from which it may be.
    next_epoch: Option<(u64, u64)>,
    /// The L1 block the next epoch was last read at.
    epoch_read_at: Option<u64>,
    /// When the next epoch's snapshot was first seen due.
    due_since: Option<Instant>,
}

/// What identifies one piece of evidence: the contract pays once per offense.
type Offense = (PublicKey, u64, u64, Phase);

fn offense(e: &Equivocation) -> Offense {
    (e.signer, e.epoch, e.view, e.phase)
}

/// What the publisher needs.
#[derive(Debug)]
pub struct Publisher {
    /// The L1 client; with an account when this node posts.
    pub l1: L1,
    /// This validator's key (`None`: follow only).
    pub key: Option<PublicKey>,
    /// Post when the bridge is at least this many blocks behind.
    pub attest_every: u64,
    /// Wait per place behind the member on duty.
    pub fallback: Duration,
    /// Also snapshot the next epoch (`StakeTable.advanceEpoch`) once it is due.
    pub advance_epochs: bool,
    /// Where the attested height is published for RPC and status.
    pub attested: watch::Sender<Option<u64>>,
}

/// How many places after the member on duty for `turn` member `index` comes.
fn place(committee: &Committee, index: u32, turn: u64) -> u64 {
    let n = committee.size().max(1) as u64;
    (index as u64 + n - turn % n) % n
}

impl Publisher {
    /// This node's index in `committee`, when it is a member.
    fn index(&self, committee: &Committee) -> Option<u32> {
        self.key.as_ref().and_then(|k| committee.index_of(k))
    }

    /// Runs until the node drops its end of `finalized`. Duty follows `committee`, the
    /// current epoch's.
    pub async fn run(
        self,
        committee: watch::Receiver<Arc<Committee>>,
        mut finalized: watch::Receiver<Option<Certified>>,
        mut evidence: mpsc::Receiver<Equivocation>,
    ) {
        let mut pending: VecDeque<(Equivocation, u32)> = VecDeque::new();
        let mut seen: HashSet<Offense> = HashSet::new();
        let mut newest: Option<(Header, FinalityCert)> = None;
        let mut finalized_height = 0u64;
        let mut state = State {
            l1_block: None,
            tip: AttestedTip::default(),
            moved_at: Instant::now(),
            moved_block: 0,
            posted: 0,
            next_epoch: None,
            epoch_read_at: None,
            due_since: None,
        };
        let mut backoff = Duration::ZERO;
        let mut next_try = Instant::now();
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = finalized.changed() => match changed {
                    Ok(()) => {
                        if let Some(c) = finalized.borrow_and_update().as_ref() {
                            absorb(c, &mut newest, &mut finalized_height);
                        }
                    }
                    Err(_) => return,
                },
                Some(e) = evidence.recv() => {
                    if self.l1.account().is_some()
                        && pending.len() < MAX_PENDING_EVIDENCE
                        && seen.insert(offense(&e))
                    {
                        pending.push_back((e, 0));
                    }
                }
                _ = ticker.tick() => {
                    if Instant::now() < next_try {
                        continue;
                    }
                    // Blocks finalized while the last post waited for its receipt: post
                    // the newest, not the first of them.
                    if let Some(c) = finalized.borrow_and_update().as_ref() {
                        absorb(c, &mut newest, &mut finalized_height);
                    }
                    let committee = committee.borrow().clone();
                    // Evidence, attestations and epoch snapshots do not wait on one
                    // another: one failing does not hold the others back.
                    let slashed = self.slash(&mut pending).await;
                    let attested = self.step(&mut state, &committee, newest.as_ref()).await;
                    let advanced = self.advance(&mut state, &committee).await;
                    let step = slashed.and(attested).and(advanced);
                    match step {
                        Ok(()) => backoff = Duration::ZERO,
                        Err(e) => {
                            metrics::counter!("synod_l1_errors_total", "kind" => e.kind()).increment(1);
                            backoff = (backoff * 2).clamp(POLL, MAX_BACKOFF);
                            tracing::warn!(error = %e, retry_in = ?backoff, "L1");
                        }
                    }
                    next_try = Instant::now() + backoff;
                    let attested = state.tip.height;
                    metrics::gauge!("synod_l1_attested_height").set(attested as f64);
                    metrics::gauge!("synod_l1_attested_lag_blocks")
                        .set(finalized_height.saturating_sub(attested) as f64);
                }
            }
        }
    }

    /// Submits the pending evidence, oldest first; keeps what failed for a transient
    /// reason, at most `EVIDENCE_ATTEMPTS` times.
    async fn slash(&self, pending: &mut VecDeque<(Equivocation, u32)>) -> Result<(), L1Error> {
        while let Some((evidence, attempts)) = pending.front_mut() {
            if *attempts >= EVIDENCE_ATTEMPTS {
                tracing::warn!(
                    view = evidence.view,
                    "equivocation evidence dropped after failing {EVIDENCE_ATTEMPTS} times"
                );
                pending.pop_front();
                continue;
            }
            *attempts += 1;
            let evidence = &*evidence;
            let signer = hex::encode(&evidence.signer.0[..8]);
            let Some(account) = self.l1.key_owner(&evidence.signer).await? else {
                tracing::warn!(%signer, "equivocation by a key that is not staked on L1");
                pending.pop_front();
                continue;
            };
            match self.l1.slash(account, evidence).await {
                Ok(sent) => {
                    metrics::counter!("synod_l1_slashings_submitted_total").increment(1);
                    metrics::counter!("synod_l1_gas_used_total").increment(sent.gas_used);
                    tracing::warn!(
                        %signer,
                        %account,
                        view = evidence.view,
                        l1_block = sent.block,
                        "equivocation evidence submitted: the validator is slashed on L1"
                    );
                }
                // Someone else's submission landed first, or nothing is left to take.
                Err(L1Error::Reverted { reason, .. }) => {
                    tracing::info!(%signer, %account, %reason, "equivocation evidence not taken");
                }
                Err(e) => return Err(e),
            }
            pending.pop_front();
        }
        Ok(())
    }

    /// Reads the bridge's tip (when L1 has a new block) and posts when this node's turn
    /// has come.
    async fn step(
        &self,
        state: &mut State,
        committee: &Committee,
        newest: Option<&(Header, FinalityCert)>,
    ) -> Result<(), L1Error> {
        let block = self.l1.block_number().await?;
        if state.l1_block != Some(block) {
            // A restarted L1 may hold a lower tip than this node posted: the next post
            // is simply a higher height again.
            let now = self.l1.attested().await?;
            state.l1_block = Some(block);
            if now.height != state.tip.height {
                state.tip = now;
                state.moved_at = Instant::now();
                state.moved_block = block;
            }
        }
        let tip = &mut state.tip;
        let (moved_at, posted) = (&mut state.moved_at, &mut state.posted);
        if *self.attested.borrow() != Some(tip.height) {
            self.attested.send_replace(Some(tip.height));
        }
        let (Some(index), Some((header, cert))) = (self.index(committee), newest) else {
            return Ok(());
        };
        if self.l1.account().is_none()
            || header.height < tip.height + self.attest_every
            || header.height <= *posted
        {
            return Ok(());
        }
        let place = place(committee, index, tip.height);
        // A place behind waits for its time and for as many L1 blocks, so that the posts
        // before it had a block to land in.
        if moved_at.elapsed() < self.fallback * place as u32 || block < state.moved_block + place {
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
                state.moved_block = sent.block;
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

    /// Snapshots the next epoch once it is due, by rotating duty: the member at
    /// `next_epoch mod n` sends it at once, the one `k` places after it once the snapshot
    /// has been due for `k × l1.fallback-secs` and `k` L1 blocks. The epoch is read again
    /// on each new L1 block while it is due, so a snapshot someone else sent is not sent
    /// again; a lost race fails in simulation, without gas.
    async fn advance(&self, state: &mut State, committee: &Committee) -> Result<(), L1Error> {
        let (Some(block), Some(index)) = (state.l1_block, self.index(committee)) else {
            return Ok(());
        };
        if !self.advance_epochs || self.l1.account().is_none() {
            return Ok(());
        }
        let due = state.next_epoch.is_none_or(|(_, due)| block >= due);
        if due && state.epoch_read_at != Some(block) {
            let next = self.l1.current_epoch().await?.saturating_add(1);
            if state.next_epoch.map(|(e, _)| e) != Some(next) {
                state.next_epoch = Some((next, self.l1.epoch_due(next).await?));
                state.due_since = None;
            }
            state.epoch_read_at = Some(block);
        }
        let Some((next, due_at)) = state.next_epoch else {
            return Ok(());
        };
        if block < due_at {
            return Ok(());
        }
        let since = *state.due_since.get_or_insert_with(Instant::now);
        let place = place(committee, index, next);
        if since.elapsed() < self.fallback * place as u32 || block < due_at + place {
            return Ok(());
        }
        match self.l1.advance_epoch().await {
            Ok(sent) => {
                metrics::counter!("synod_l1_epochs_advanced_total").increment(1);
                metrics::counter!("synod_l1_gas_used_total").increment(sent.gas_used);
                tracing::info!(
                    epoch = next,
                    l1_block = sent.block,
                    gas = sent.gas_used,
                    place,
                    "epoch snapshot taken on L1"
                );
            }
            // Another validator's snapshot landed first.
            Err(L1Error::Reverted { reason, .. }) => {
                tracing::debug!(epoch = next, %reason, "epoch snapshot not taken");
            }
            Err(e) => return Err(e),
        }
        state.next_epoch = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::{Hash, Member, QuorumCert, Scheme};

    fn committee(n: u8) -> Committee {
        let members = (1..=n)
            .map(|i| Member {
                public_key: PublicKey([i; 48]),
                stake: 10,
            })
            .collect();
        Committee::new(1, Scheme::Sim, Hash::ZERO, members).unwrap()
    }

    #[test]
    fn each_turn_has_one_member_on_duty_and_every_other_one_place_behind_another() {
        let c = committee(4);
        for turn in 0..12u64 {
            let mut places: Vec<u64> = (0..4).map(|i| place(&c, i, turn)).collect();
            // The member on duty is the one at `turn mod n`.
            assert_eq!(places[(turn % 4) as usize], 0, "turn {turn}");
            places.sort();
            assert_eq!(places, [0, 1, 2, 3], "turn {turn}");
        }
        // The next turn moves duty to the next member; the one on duty before comes last.
        assert_eq!(place(&c, 1, 1), 0);
        assert_eq!(place(&c, 0, 1), 3);
        // A committee of one: always on duty.
        assert_eq!(place(&committee(1), 0, 99), 0);
    }

    #[test]
    fn only_certificates_the_bridge_checks_at_the_headers_view_are_posted() {
        let mut header = Header::genesis(0);
        header.height = 7;
        header.view = 9;
        let at_view = |view: u64| {
            let mut qc = QuorumCert::genesis(0, header.hash(), 4).0;
            qc.view = view;
            FinalityCert(qc)
        };
        let (mut newest, mut height) = (None, 0);
        absorb(
            &Certified {
                header: header.clone(),
                certificate: at_view(9),
            },
            &mut newest,
            &mut height,
        );
        assert_eq!(height, 7);
        assert_eq!(newest.as_ref().map(|(h, _)| h.height), Some(7));
        // An epoch's last block made final through a block above it: the height moves,
        // what is posted does not.
        let mut later = header.clone();
        later.height = 8;
        later.view = 10;
        let mut cert = at_view(12);
        cert.0.block_hash = later.hash();
        absorb(
            &Certified {
                header: later,
                certificate: cert,
            },
            &mut newest,
            &mut height,
        );
        assert_eq!(height, 8);
        assert_eq!(newest.map(|(h, _)| h.height), Some(7));
    }
}
