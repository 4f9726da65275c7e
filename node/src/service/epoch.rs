//! The committee hand-over on the node's side (`docs/protocol.md` §11): the record a
//! leader puts in the epoch's last block, a voter's check of it against its own reading
//! of the StakeTable, and the switch to the next committee once that block is final.

use std::sync::Arc;

use anyhow::{Context, Result};
use synod_types::{Block, Committee, NextEpoch, PublicKey, Scheme, Tx};

use super::{consensus, now_ms, payload, Node};
use crate::config::Role;

/// What a voter makes of a hand-over record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecordCheck {
    /// It equals this node's reading of that epoch's snapshot.
    Valid,
    /// It does not, or names no later epoch, or this node reads no L1.
    Invalid,
    /// The snapshot is not read here yet (the reader follows L1 a poll behind).
    NotYetRead,
}

/// The committee the epoch's last block `end` hands over to: its record's members,
/// leader election seeded with the block's hash.
pub fn committee_after(end: &Block, scheme: Scheme) -> Result<Option<Committee>> {
    let Some(next) = &end.next_epoch else {
        return Ok(None);
    };
    Committee::new(next.epoch, scheme, end.hash(), next.members.clone())
        .map(Some)
        .with_context(|| format!("the committee of epoch {}", next.epoch))
}

/// Whether a record makes a committee (keys valid and distinct, stakes not zero).
fn makes_committee(record: &NextEpoch, scheme: Scheme) -> bool {
    Committee::new(
        record.epoch,
        scheme,
        synod_types::Hash::ZERO,
        record.members.clone(),
    )
    .is_ok()
}

/// The committee this node follows from its store: the one handed over to by the last
/// committed block that ended an epoch, or the genesis committee; with the block it
/// starts from.
pub fn current_committee(
    store: &crate::storage::Store,
    genesis_committee: &Arc<Committee>,
    genesis: &Block,
) -> Result<(Arc<Committee>, Block)> {
    let Some(end) = store.epoch_root().context("reading the epoch root")? else {
        return Ok((genesis_committee.clone(), genesis.clone()));
    };
    let committee = committee_after(&end, genesis_committee.scheme())?
        .context("the epoch root carries no committee")?;
    Ok((Arc::new(committee), end))
}

impl Node {
    /// The record a leader puts in its block: the newest snapshot read from L1, when it
    /// is of a later epoch than this committee's.
    pub(super) fn next_epoch_record(&self) -> Option<NextEpoch> {
        let epochs = self.l1_epochs.as_ref()?.borrow();
        let latest = epochs.latest()?;
        (latest.epoch > self.committee.epoch() && makes_committee(latest, self.committee.scheme()))
            .then(|| latest.clone())
    }

    /// Whether `key` is a member of the newest committee read from L1.
    pub(super) fn in_next_committee(&self, key: &PublicKey) -> bool {
        self.l1_epochs.as_ref().is_some_and(|e| {
            e.borrow()
                .latest()
                .is_some_and(|n| n.members.iter().any(|m| m.public_key == *key))
        })
    }

    /// H1: a record is voted for only if it equals this node's reading of that epoch.
    pub(super) fn check_record(&self, record: &NextEpoch) -> RecordCheck {
        let Some(epochs) = self.l1_epochs.as_ref() else {
            return RecordCheck::Invalid;
        };
        if record.epoch <= self.committee.epoch() {
            return RecordCheck::Invalid;
        }
        let epochs = epochs.borrow();
        match epochs.get(record.epoch) {
            Some(read) if read == record && makes_committee(record, self.committee.scheme()) => {
                RecordCheck::Valid
            }
            Some(_) => RecordCheck::Invalid,
            // Read past it without keeping it: too old to hand over to.
            None if epochs.latest().is_some_and(|l| l.epoch >= record.epoch) => {
                RecordCheck::Invalid
            }
            // Only the epoch after the newest one read may be waited for: a leader
            // cannot make votes wait on epochs L1 is not even close to.
            None if record.epoch
                > epochs
                    .latest()
                    .map_or(self.committee.epoch(), |l| l.epoch)
                    .max(self.committee.epoch())
                    + 1 =>
            {
                RecordCheck::Invalid
            }
            None => RecordCheck::NotYetRead,
        }
    }

    /// Payload checks that waited for the reader: decided once it has read the epoch.
    pub(super) async fn recheck_records(&mut self) -> Result<()> {
        if self.record_waits.is_empty() {
            return Ok(());
        }
        let finalized = self.finalized_height;
        let waits = std::mem::take(&mut self.record_waits);
        for block in waits {
            if block.header.height <= finalized || block.header.epoch != self.committee.epoch() {
                continue;
            }
            if let Some(actions) = self.check_payload(block)? {
                self.execute(actions).await?;
            }
        }
        Ok(())
    }

    /// The epoch's last block is final (`docs/protocol.md` §11, H4): the committee it
    /// names takes over from it. Called between inputs, never while the old engine's
    /// actions are being executed.
    pub(super) async fn hand_over(&mut self, end: Block) -> Result<()> {
        let Some(committee) = committee_after(&end, self.committee.scheme())? else {
            return Ok(());
        };
        if committee.epoch() <= self.committee.epoch() {
            return Ok(());
        }
        let committee = Arc::new(committee);
        let was = self.me;
        self.me = self
            .key
            .as_ref()
            .and_then(|k| committee.index_of(&k.public_key()));
        tracing::info!(
            epoch = committee.epoch(),
            members = committee.size(),
            height = end.header.height,
            index = ?self.me,
            "the next committee takes over"
        );
        metrics::gauge!("synod_consensus_epoch").set(committee.epoch() as f64);
        self.committee = committee.clone();
        self.committee_tx.send_replace(committee.clone());
        self.peers.reindex(&committee);
        self.record_waits.clear();
        self.follow.handed_over();
        self.progress.timeout_gossiped = None;
        self.checks.clear();
        // Batches of the old epoch are never ordered now: each author batches again
        // what it acknowledged (and the others drop their copies).
        let mine: Vec<Tx> = self
            .pool
            .take_before_epoch(committee.epoch())
            .iter()
            .filter(|b| was == Some(b.batch().author))
            .flat_map(|b| b.batch().txs.iter().cloned())
            .filter(|tx| self.own_pending.contains(&tx.hash()))
            .collect();
        self.builder = self.me.map(|index| {
            synod_sequencer::BatchBuilder::new(
                payload::batch_config(&self.cfg),
                index,
                committee.epoch(),
                now_ms(),
            )
        });
        self.requeue(mine);
        if let (Role::Validator, Some(key)) = (self.cfg.node.role, self.key.clone()) {
            let engine = consensus::engine(
                &self.cfg,
                &self.domain,
                &committee,
                key,
                end,
                &self.store,
                &self.protection,
            )?;
            self.engine = Some(engine);
            if let Some(engine) = self.engine.as_mut() {
                let actions = engine.start();
                self.execute(actions).await?;
            }
        }
        // Members bind their keys to their peers again: the indices changed.
        self.announce_due = self.me.map(|_| std::time::Instant::now());
        self.publish_status();
        Ok(())
    }
}
