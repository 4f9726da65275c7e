//! The L1 client as the staking reader's source of epoch snapshots.

use synod_staking::StakeTableSource;
use synod_types::{Member, NextEpoch};

use crate::client::L1;
use crate::error::L1Error;

impl StakeTableSource for L1 {
    type Error = L1Error;

    async fn block_number(&self) -> Result<u64, L1Error> {
        L1::block_number(self).await
    }

    async fn epochs_started(&self, from: u64, to: u64) -> Result<Vec<(u64, u64)>, L1Error> {
        let logs = self
            .stake_table()
            .EpochStarted_filter()
            .from_block(from)
            .to_block(to)
            .query()
            .await
            .map_err(|e| L1Error::contract("EpochStarted events", e))?;
        Ok(logs
            .into_iter()
            .map(|(event, _)| {
                (
                    event.epoch.saturating_to::<u64>(),
                    event.l1Block.saturating_to::<u64>(),
                )
            })
            .collect())
    }

    async fn snapshot(&self, epoch: u64) -> Result<NextEpoch, L1Error> {
        let snapshot = self.committee(epoch).await?;
        Ok(NextEpoch {
            epoch,
            l1_block: snapshot.l1_block,
            members: snapshot
                .members
                .into_iter()
                .map(|m| Member {
                    public_key: m.key,
                    stake: m.stake_gwei,
                })
                .collect(),
        })
    }
}
