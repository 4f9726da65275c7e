//! The committee hand-over on the node's side (`docs/protocol.md` §11): the record a
//! leader puts in the epoch's last block, a voter's check of it against its own reading
//! of the StakeTable, and the switch to the next committee once that block is final.

use std::sync::Arc;

use anyhow::Result;
use synod_staking::handover::{self, RecordCheck};
use synod_types::{Block, NextEpoch, PublicKey, Tx};

use super::{boot, now_ms, Node};
use crate::config::Role;

impl Node {
    /// The record a leader puts in its block (see [`handover::next_record`]).
    pub(super) fn next_epoch_record(&self) -> Option<NextEpoch> {
        handover::next_record(&self.committee, &self.l1_epochs.as_ref()?.borrow())
    }

    /// Whether `key` is a member of the newest committee read from L1.
    pub(super) fn in_next_committee(&self, key: &PublicKey) -> bool {
        self.l1_epochs
            .as_ref()
            .is_some_and(|e| handover::in_next_committee(&e.borrow(), key))
    }

    /// H1: a record is voted for only if it equals this node's reading of that epoch.
    pub(super) fn check_record(&self, record: &NextEpoch) -> RecordCheck {
        let epochs = self.l1_epochs.as_ref().map(|e| e.borrow());
        handover::check_record(&self.committee, epochs.as_deref(), record)
    }

    /// Payload checks that waited for the reader: decided once it has read the epoch.
    pub(super) async fn recheck_records(&mut self) -> Result<()> {
        let waits = self
            .availability
            .take_record_waits(self.chain.height(), self.committee.epoch());
        for block in waits {
            if let Some(actions) = self.check_payload(block).await? {
                self.execute(actions).await?;
            }
        }
        Ok(())
    }

    /// The epoch's last block is final (`docs/protocol.md` §11, H4): the committee it
    /// names takes over from it. Called between inputs, never while the old engine's
    /// actions are being executed.
    pub(super) async fn hand_over(&mut self, end: Block) -> Result<()> {
        let Some(committee) = boot::committee_after(&end, self.committee.scheme())? else {
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
        self.pool.set_stakes(boot::stakes(&committee));
        self.da = boot::da_backend(&committee, self.me);
        self.committee_tx.send_replace(committee.clone());
        self.peers.reindex(&committee);
        self.availability.handed_over();
        self.follow.handed_over();
        self.progress.timeout_gossiped = None;
        // Batches of the old epoch are never ordered now: each author batches again
        // what it acknowledged (and the others drop their copies).
        let mine: Vec<Tx> = self
            .pool
            .take_before_epoch(committee.epoch())
            .iter()
            .filter(|b| was == Some(b.batch().author))
            .flat_map(|b| b.batch().txs.iter().cloned())
            .filter(|tx| self.intake.is_pending(&tx.hash()))
            .collect();
        self.builder = self.me.map(|index| {
            synod_sequencer::BatchBuilder::new(
                boot::batch_config(&self.cfg),
                index,
                committee.epoch(),
                now_ms(),
            )
        });
        self.requeue(mine);
        if let (Role::Validator, Some(key)) = (self.cfg.node.role, self.key.clone()) {
            let engine = boot::engine(
                &self.cfg,
                &self.domain,
                &committee,
                key,
                end,
                self.chain.store(),
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
