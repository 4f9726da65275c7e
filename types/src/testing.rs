//! Builders for tests of the crates above (feature `testing`, never in a release build):
//! a chain of linked blocks with placeholder certificates.

use crate::{Block, Certificate, Hash, Header, QuorumCert, Signature, SignerBitmap};

/// A certificate of `hash` at `view` with one signer and a placeholder signature: links
/// blocks, verifies against nothing.
pub fn cert(view: u64, hash: Hash) -> Certificate {
    let mut signers = SignerBitmap::new(4);
    signers.set(1);
    Certificate {
        epoch: 0,
        view,
        block_hash: hash,
        signers,
        signature: Signature([view as u8; 96]),
    }
}

/// The child of `parent` at the next height and view, ordering `payload`.
pub fn child(parent: &Block, payload: Vec<Hash>, da_commitment: Hash) -> Block {
    let h = parent.header.height + 1;
    let header = Header {
        parent: parent.hash(),
        height: h,
        view: h,
        epoch: 0,
        payload_digest: crate::tx::payload_digest(&payload),
        da_commitment,
        timestamp_ms: h,
        proposer: 0,
    };
    Block::with_payload(header, QuorumCert(cert(h - 1, parent.hash())), payload)
}

/// Blocks 1 to `n` above epoch 0's genesis, each ordering one made-up batch digest.
pub fn chain(n: u64) -> Vec<Block> {
    let mut out = Vec::new();
    let mut parent = Block::new(Header::genesis(0), QuorumCert::genesis(0, Hash::ZERO, 4));
    for h in 1..=n {
        let block = child(&parent, vec![Hash::from_u64(h)], Hash::ZERO);
        out.push(block.clone());
        parent = block;
    }
    out
}
