//! The blocks an engine knows above its last committed block (`docs/protocol.md` §6).
//!
//! Blocks may be stored before their parent is known (sync fetches chains newest
//! first); heights are checked when a chain is linked to the committed block. Blocks
//! below the committed height are pruned on every commit, and the number of blocks held
//! is bounded.

use std::collections::HashMap;

use synod_types::{Block, Hash};

/// Why a chain to a block cannot be committed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChainError {
    /// This ancestor is not known: fetch it.
    Missing(Hash),
    /// The chain does not lead to the committed block, or heights do not follow.
    Conflict,
}

/// Blocks above the committed one.
#[derive(Debug)]
pub(crate) struct BlockTree {
    blocks: HashMap<Hash, Block>,
    committed: Block,
    capacity: usize,
}

impl BlockTree {
    /// A tree rooted at `committed`, holding at most `capacity` blocks.
    pub fn new(committed: Block, capacity: usize) -> BlockTree {
        let mut blocks = HashMap::new();
        blocks.insert(committed.hash(), committed.clone());
        BlockTree {
            blocks,
            committed,
            capacity,
        }
    }

    /// A known block.
    pub fn get(&self, hash: &Hash) -> Option<&Block> {
        self.blocks.get(hash)
    }

    /// Whether the block is known.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.blocks.contains_key(hash)
    }

    /// The last committed block.
    pub fn committed(&self) -> &Block {
        &self.committed
    }

    /// The blocks held, the committed one among them, in no particular order.
    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.blocks.values()
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Stores a block at or above the committed height. Returns false if it is below,
    /// already known, or the tree is full.
    pub fn insert(&mut self, block: Block) -> bool {
        if block.header.height <= self.committed.header.height
            || self.blocks.len() >= self.capacity
            || self.blocks.contains_key(&block.hash())
        {
            return false;
        }
        self.blocks.insert(block.hash(), block);
        true
    }

    /// The blocks from just above the committed block up to `target`, ascending.
    pub fn chain_to(&self, target: &Hash) -> Result<Vec<Block>, ChainError> {
        let mut chain = Vec::new();
        let mut cursor = *target;
        loop {
            if cursor == self.committed.hash() {
                chain.reverse();
                return Ok(chain);
            }
            let block = self
                .blocks
                .get(&cursor)
                .ok_or(ChainError::Missing(cursor))?;
            if block.header.height <= self.committed.header.height {
                return Err(ChainError::Conflict);
            }
            if let Some(child) = chain.last() {
                let child: &Block = child;
                if child.header.height != block.header.height + 1 {
                    return Err(ChainError::Conflict);
                }
            }
            cursor = block.header.parent;
            chain.push(block.clone());
        }
    }

    /// Makes `block` the committed root, held even if it was not before (a block synced
    /// by height), and prunes everything else at or below its height.
    pub fn commit(&mut self, block: Block) {
        let height = block.header.height;
        self.blocks.retain(|_, b| b.header.height > height);
        self.blocks.insert(block.hash(), block.clone());
        self.committed = block;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_types::{Header, QuorumCert};

    fn child(parent: &Block, view: u64) -> Block {
        let header = Header {
            parent: parent.hash(),
            height: parent.header.height + 1,
            view,
            ..parent.header.clone()
        };
        Block::new(header, QuorumCert::genesis(0, parent.hash(), 4))
    }

    #[test]
    fn chains_link_to_the_committed_block_and_prune_on_commit() {
        let genesis = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, 4));
        let mut tree = BlockTree::new(genesis.clone(), 100);
        let b1 = child(&genesis, 1);
        let b2 = child(&b1, 2);
        let fork = child(&genesis, 3);
        assert!(tree.insert(b2.clone()));
        assert_eq!(
            tree.chain_to(&b2.hash()),
            Err(ChainError::Missing(b1.hash()))
        );
        assert!(tree.insert(b1.clone()));
        assert!(tree.insert(fork.clone()));
        assert_eq!(
            tree.chain_to(&b2.hash()).unwrap(),
            vec![b1.clone(), b2.clone()]
        );
        tree.commit(b2.clone());
        assert!(!tree.contains(&b1.hash()) && !tree.contains(&fork.hash()));
        assert!(!tree.insert(fork), "below the committed height");
        assert_eq!(tree.chain_to(&b2.hash()).unwrap(), vec![]);
    }

    #[test]
    fn a_committed_block_not_held_before_is_held_and_its_children_link_to_it() {
        let genesis = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, 4));
        let mut tree = BlockTree::new(genesis.clone(), 100);
        let b1 = child(&genesis, 1);
        let b2 = child(&b1, 2);
        let b3 = child(&b2, 3);
        // Moved to b2 from outside (a range synced by height): b1 and b2 never held.
        tree.commit(b2.clone());
        assert_eq!(tree.get(&b2.hash()), Some(&b2));
        assert!(!tree.contains(&genesis.hash()));
        assert!(tree.insert(b3.clone()));
        assert_eq!(tree.chain_to(&b3.hash()).unwrap(), vec![b3.clone()]);
        assert_eq!(tree.get(&b3.header.parent), Some(tree.committed()));
    }

    #[test]
    fn capacity_bounds_the_tree() {
        let genesis = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, 4));
        let mut tree = BlockTree::new(genesis.clone(), 3);
        let b1 = child(&genesis, 1);
        let b2 = child(&b1, 2);
        let b3 = child(&b2, 3);
        assert!(tree.insert(b1) && tree.insert(b2));
        assert!(!tree.insert(b3));
        assert_eq!(tree.len(), 3);
    }
}
