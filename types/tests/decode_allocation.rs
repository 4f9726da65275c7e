//! Peak memory of decoding the worst inputs, measured with a counting allocator: what a
//! decode allocates stays a small multiple of its input, whatever a peer sends.
// A global allocator is an `unsafe impl`; this one only counts and forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use prost::Message as _;
use synod_types::wire::{self, pb, scan, Limits};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the peak of `f`, above what was allocated when it started.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - base
}

fn envelope(kind: pb::Kind) -> Vec<u8> {
    pb::Envelope { kind: Some(kind) }.encode_to_vec()
}

/// Repeats `element` (one encoded field) until `len` bytes.
fn repeated(element: &[u8], len: usize) -> Vec<u8> {
    element
        .iter()
        .copied()
        .cycle()
        .take(len / element.len() * element.len())
        .collect()
}

fn length_delimited(tag: u8, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![tag << 3 | 2];
    let mut len = inner.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(inner);
    out
}

/// A decoder of one kind of input, its result dropped.
type Decoder = fn(&[u8], &Limits);

// One test, so that no other test allocates while a peak is measured.
#[test]
fn the_worst_inputs_allocate_a_small_multiple_of_their_size() {
    let limits = Limits::new(128);
    let max = limits.max_message_bytes;
    let block = pb::Block {
        header: Some(pb::Header {
            parent: vec![1; 32],
            payload_digest: vec![2; 32],
            da_commitment: vec![3; 32],
            height: 9,
            ..Default::default()
        }),
        justify: Some(pb::Certificate {
            block_hash: vec![4; 32],
            signers: vec![0xff; 16],
            signature: vec![5; 96],
            ..Default::default()
        }),
        payload: vec![vec![6; 32]; 4],
        next_epoch: None,
    };
    let cases: Vec<(&str, Vec<u8>, Decoder)> = vec![
        (
            // Two bytes per empty block: a sync response of millions of blocks.
            "sync response of empty blocks",
            length_delimited(5, &repeated(&[0x0a, 0x00], max - 8)),
            |b, l| drop(wire::decode_message(b, l)),
        ),
        (
            "sync response of the most blocks, each with the most empty payload entries",
            envelope(pb::Kind::SyncResponse(pb::SyncResponse {
                blocks: vec![
                    pb::Block {
                        payload: vec![vec![]; limits.max_block_batches],
                        ..block.clone()
                    };
                    limits.max_sync_blocks
                ],
            })),
            |b, l| drop(wire::decode_message(b, l)),
        ),
        (
            "sync response of the most honest-looking blocks",
            envelope(pb::Kind::SyncResponse(pb::SyncResponse {
                blocks: vec![block.clone(); limits.max_sync_blocks],
            })),
            |b, l| drop(wire::decode_message(b, l)),
        ),
        (
            "block of empty payload entries",
            length_delimited(3, &[]).repeat(max / 2),
            |b, l| drop(wire::decode_block(b, l)),
        ),
        (
            "batch of empty transactions",
            repeated(&[0x22, 0x00], max - 8),
            |b, l| drop(wire::decode_batch(b, l)),
        ),
        (
            "batch of the most transactions with a namespace and no payload",
            pb::Batch {
                txs: vec![
                    pb::Tx {
                        namespace: 1,
                        payload: vec![],
                    };
                    limits.max_batch_txs
                ],
                ..Default::default()
            }
            .encode_to_vec(),
            |b, l| drop(wire::decode_batch(b, l)),
        ),
        (
            "batch of the most one-byte transactions",
            pb::Batch {
                txs: vec![
                    pb::Tx {
                        namespace: 0,
                        payload: vec![7],
                    };
                    limits.max_batch_txs
                ],
                ..Default::default()
            }
            .encode_to_vec(),
            |b, l| drop(wire::decode_batch(b, l)),
        ),
        (
            "timeout certificate of unpacked views",
            repeated(&[4 << 3, 1], max - 8),
            |b, l| drop(wire::decode_timeout_cert(b, l)),
        ),
        (
            "certificate whose signers field repeats",
            repeated(&length_delimited(4, &[0xff; 100]), max - 200),
            |b, l| drop(wire::decode_certificate(b, l)),
        ),
    ];
    let mut worst = 0f64;
    for (name, bytes, decode) in cases {
        assert!(bytes.len() <= max, "{name}: {} bytes", bytes.len());
        let peak = peak_of(|| decode(&bytes, &limits));
        let ratio = peak as f64 / bytes.len() as f64;
        eprintln!(
            "{name}: {} bytes in, peak {} bytes allocated ({ratio:.1}x)",
            bytes.len(),
            peak
        );
        worst = worst.max(ratio);
        // The scan bounds the protobuf form at MAX_EXPANSION times the input; a
        // vector's growth and the validated copy at most triple that.
        let bound = 3 * (scan::MAX_EXPANSION * bytes.len() + scan::EXPANSION_SLACK);
        assert!(peak <= bound, "{name}: peak {peak} above {bound}");
    }
    eprintln!("worst ratio {worst:.1}x");
}
