//! Transactions, batches and the payload digest a block header commits to
//! (`docs/protocol.md` §2, `docs/wire.md`).

use crate::hash::{keccak256, AbiWriter, Hash};

/// Default maximum size of one transaction's payload (128 KiB).
pub const DEFAULT_MAX_TX_BYTES: usize = 128 * 1024;

/// A transaction: opaque bytes for one namespace (a rollup or application).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tx {
    /// The namespace subscribers filter on.
    pub namespace: u64,
    /// The payload, opaque to the sequencer.
    pub payload: Vec<u8>,
}

impl Tx {
    /// `keccak256(abi.encodePacked(uint64 namespace, bytes payload))`.
    pub fn hash(&self) -> Hash {
        use sha3::Digest as _;
        let mut hasher = sha3::Keccak256::new();
        hasher.update(self.namespace.to_be_bytes());
        hasher.update(&self.payload);
        Hash(hasher.finalize().into())
    }

    /// Bytes this transaction counts for in mempool and batch limits.
    pub fn size(&self) -> usize {
        8 + self.payload.len()
    }
}

/// An ordered list of transactions built by one validator, disseminated before any
/// block refers to it by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Committee index of the validator that built it.
    pub author: u32,
    /// Epoch it was built in.
    pub epoch: u64,
    /// The author's sequence number for it.
    pub seq: u64,
    /// The transactions, in order.
    pub txs: Vec<Tx>,
}

impl Batch {
    /// `keccak256(abi.encode(author, epoch, seq, keccak256(tx_hash_0 ‖ … ‖ tx_hash_n)))`.
    pub fn digest(&self) -> Hash {
        self.digest_with(&self.tx_hashes())
    }

    /// The hashes of the transactions, in order.
    pub fn tx_hashes(&self) -> Vec<Hash> {
        self.txs.iter().map(Tx::hash).collect()
    }

    /// [`Batch::digest`] from already computed transaction hashes.
    pub fn digest_with(&self, tx_hashes: &[Hash]) -> Hash {
        let mut hashes = Vec::with_capacity(32 * tx_hashes.len());
        for h in tx_hashes {
            hashes.extend_from_slice(&h.0);
        }
        AbiWriter::with_words(4)
            .uint(self.author as u64)
            .uint(self.epoch)
            .uint(self.seq)
            .bytes32(&keccak256(&hashes))
            .keccak()
    }

    /// Total size of the transactions.
    pub fn size(&self) -> usize {
        self.txs.iter().map(Tx::size).sum()
    }
}

/// A batch with its digest and transaction hashes, computed once: what the node keeps
/// and passes around (behind an `Arc`) so a batch is hashed once per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBatch {
    batch: Batch,
    digest: Hash,
    tx_hashes: Vec<Hash>,
}

impl SealedBatch {
    /// Hashes the batch.
    pub fn new(batch: Batch) -> SealedBatch {
        let tx_hashes = batch.tx_hashes();
        let digest = batch.digest_with(&tx_hashes);
        SealedBatch {
            batch,
            digest,
            tx_hashes,
        }
    }

    /// The batch.
    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    /// Its digest.
    pub fn digest(&self) -> Hash {
        self.digest
    }

    /// The hashes of its transactions, in order.
    pub fn tx_hashes(&self) -> &[Hash] {
        &self.tx_hashes
    }
}

/// The payload digest of a block: `keccak256(digest_0 ‖ … ‖ digest_n)` over its batch
/// digests in block order (`keccak256(abi.encodePacked(bytes32[]))`).
pub fn payload_digest(batch_digests: &[Hash]) -> Hash {
    let mut bytes = Vec::with_capacity(32 * batch_digests.len());
    for d in batch_digests {
        bytes.extend_from_slice(&d.0);
    }
    keccak256(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_cover_every_field_and_the_order() {
        let tx = |n: u64, p: &[u8]| Tx {
            namespace: n,
            payload: p.to_vec(),
        };
        assert_ne!(tx(1, b"a").hash(), tx(2, b"a").hash());
        assert_ne!(tx(1, b"a").hash(), tx(1, b"b").hash());
        let batch = Batch {
            author: 1,
            epoch: 0,
            seq: 7,
            txs: vec![tx(1, b"a"), tx(1, b"b")],
        };
        let mut swapped = batch.clone();
        swapped.txs.swap(0, 1);
        assert_ne!(batch.digest(), swapped.digest());
        assert_ne!(
            batch.digest(),
            Batch {
                seq: 8,
                ..batch.clone()
            }
            .digest()
        );
        let (a, b) = (batch.digest(), swapped.digest());
        assert_ne!(payload_digest(&[a, b]), payload_digest(&[b, a]));
        assert_eq!(batch.size(), 2 * 9);
    }
}
