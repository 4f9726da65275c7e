//! The epoch hand-over as the engine sees it (`docs/protocol.md` §11): where the epoch's
//! last block is, what may follow it, and views across the boundary.

use synod_types::{Block, Hash, NextEpoch};

use super::Engine;

impl Engine {
    /// The view of the committed block, or 0 when it is the previous epoch's last block
    /// (this epoch's views start again at 1).
    pub(super) fn committed_view(&self) -> u64 {
        let committed = self.tree.committed();
        if committed.header.epoch == self.committee.epoch() {
            committed.header.view
        } else {
            0
        }
    }

    /// The epoch's last block (the one carrying a hand-over record) if `hash` is it or
    /// descends from it (`docs/protocol.md` §11, H1–H2). Walks the held chain down to the
    /// committed block; `Err` names a block missing on the way, for then the answer is
    /// unknown and nothing may be signed on it.
    pub(super) fn epoch_end(&self, hash: &Hash) -> Result<Option<&Block>, Hash> {
        let committed = self.tree.committed().hash();
        let mut cursor = *hash;
        loop {
            let Some(block) = self.tree.get(&cursor) else {
                return Err(cursor);
            };
            // The previous epoch's last block is this epoch's root, not its end.
            if block.header.epoch != self.committee.epoch() {
                return Ok(None);
            }
            if block.next_epoch.is_some() {
                return Ok(Some(block));
            }
            if cursor == committed {
                return Ok(None);
            }
            cursor = block.header.parent;
        }
    }

    /// H1, H2: a block after the epoch's last block carries nothing; a hand-over record
    /// names a later epoch.
    pub(super) fn block_shape_ok(
        &self,
        parent: &Hash,
        payload: &[Hash],
        next: Option<&NextEpoch>,
    ) -> bool {
        match self.epoch_end(parent) {
            Ok(Some(_)) => payload.is_empty() && next.is_none(),
            Ok(None) => next.is_none_or(|n| n.epoch > self.committee.epoch()),
            Err(_) => false,
        }
    }
}
