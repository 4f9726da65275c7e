//! A binary Merkle tree over the shards, with BLAKE3 (nothing on L1 opens a shard, so the
//! hash is chosen for speed). Leaves and inner nodes are domain-separated, a leaf binds
//! its index, and a node without a sibling moves up unchanged.

/// A 32-byte BLAKE3 digest.
pub type Digest = [u8; 32];

const LEAF: u8 = 0;
const NODE: u8 = 1;

/// `blake3(0x00 ‖ index ‖ shard)`.
pub fn leaf(index: u32, shard: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&[LEAF]);
    h.update(&index.to_be_bytes());
    h.update(shard);
    *h.finalize().as_bytes()
}

fn node(left: &Digest, right: &Digest) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&[NODE]);
    h.update(left);
    h.update(right);
    *h.finalize().as_bytes()
}

/// Every level of the tree, leaves first.
#[derive(Debug, Clone)]
pub struct Tree {
    levels: Vec<Vec<Digest>>,
}

impl Tree {
    /// The tree over `leaves` (at least one).
    pub fn new(leaves: Vec<Digest>) -> Tree {
        assert!(!leaves.is_empty(), "a tree has at least one leaf");
        let mut levels = vec![leaves];
        while levels.last().expect("one level").len() > 1 {
            let below = levels.last().expect("one level");
            let up = below
                .chunks(2)
                .map(|pair| match pair {
                    [l, r] => node(l, r),
                    [single] => *single,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            levels.push(up);
        }
        Tree { levels }
    }

    /// The root.
    pub fn root(&self) -> Digest {
        self.levels.last().expect("one level")[0]
    }

    /// The siblings on the way from leaf `index` to the root.
    pub fn proof(&self, index: u32) -> Vec<Digest> {
        let mut i = index as usize;
        let mut out = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(i ^ 1) {
                out.push(*sibling);
            }
            i /= 2;
        }
        out
    }
}

/// The root `proof` leads to from `leaf` at `index` of `total` leaves, or `None` if the
/// proof has the wrong length for that position.
pub fn root_from(leaf: Digest, index: u32, total: u32, proof: &[Digest]) -> Option<Digest> {
    if index >= total {
        return None;
    }
    let (mut i, mut len, mut hash) = (index as usize, total as usize, leaf);
    let mut siblings = proof.iter();
    while len > 1 {
        if i ^ 1 < len {
            let sibling = siblings.next()?;
            hash = if i % 2 == 0 {
                node(&hash, sibling)
            } else {
                node(sibling, &hash)
            };
        }
        i /= 2;
        len = len.div_ceil(2);
    }
    siblings.next().is_none().then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_proves_its_place_and_nothing_else_does() {
        for total in [1u32, 2, 3, 5, 64, 100] {
            let leaves: Vec<Digest> = (0..total).map(|i| leaf(i, &[i as u8; 3])).collect();
            let tree = Tree::new(leaves.clone());
            for i in 0..total {
                let proof = tree.proof(i);
                assert_eq!(
                    root_from(leaves[i as usize], i, total, &proof),
                    Some(tree.root())
                );
                // Another index, another leaf, a short or long proof: not the root.
                if total > 1 {
                    let j = (i + 1) % total;
                    assert_ne!(
                        root_from(leaves[i as usize], j, total, &proof),
                        Some(tree.root())
                    );
                    assert_ne!(
                        root_from(leaves[j as usize], i, total, &proof),
                        Some(tree.root())
                    );
                    assert_eq!(root_from(leaves[i as usize], i, total, &proof[1..]), None);
                }
                let mut long = proof.clone();
                long.push([0; 32]);
                assert_eq!(root_from(leaves[i as usize], i, total, &long), None);
            }
            assert_eq!(root_from(leaves[0], total, total, &tree.proof(0)), None);
        }
    }
}
