//! The finalized stream to subscribers: the newest finalized blocks, bounded in count
//! and in bytes, each shared by every subscriber.
//!
//! A subscriber reads the blocks in order from its own position. When the blocks it has
//! not read yet no longer fit the bounds (it reads slower than blocks finalize), the
//! oldest leave and the subscriber is told how many it missed (`Lagged`), as a tokio
//! broadcast channel would. Unlike one, the bound is in bytes as well as in blocks: one
//! slow subscriber holds at most [`FinalizedStream::new`]'s `max_bytes` of blocks, not
//! a thousand full ones. With no subscriber, nothing is held.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::Finalized;

/// Blocks kept for subscribers that lag, at most.
pub const STREAM_BLOCKS: usize = 1_024;
/// Bytes of blocks kept for subscribers that lag, at most.
pub const STREAM_BYTES: usize = 64 << 20;

/// The sending end; cloned into the RPC's shared state.
#[derive(Debug, Clone)]
pub struct FinalizedStream {
    ring: Arc<Mutex<Ring>>,
    /// The sequence number of the newest block (0: none yet).
    head: Arc<watch::Sender<u64>>,
}

#[derive(Debug)]
struct Ring {
    /// `(sequence number, block, bytes)`, oldest first.
    blocks: VecDeque<(u64, Arc<Finalized>, usize)>,
    bytes: usize,
    subscribers: usize,
    max_blocks: usize,
    max_bytes: usize,
}

/// Why no block was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// This many blocks left the stream before they were read; the next ones follow.
    Lagged(u64),
    /// The node stopped.
    Closed,
}

/// A subscriber's end.
#[derive(Debug)]
pub struct FinalizedReceiver {
    ring: Arc<Mutex<Ring>>,
    head: watch::Receiver<u64>,
    /// Sequence number of the next block to read.
    next: u64,
}

/// Bytes a finalized block takes in the stream: its payload digests and transactions,
/// and the JSON subscribers make of it once (the payloads again, in hex, and a copy
/// without them).
fn size_of(block: &Finalized) -> usize {
    let txs: usize = block
        .txs
        .iter()
        .map(|t| 3 * 128 + 3 * t.payload.len())
        .sum();
    2 * 1_024 + 2 * 80 * block.block.payload.len() + txs
}

impl FinalizedStream {
    /// A stream keeping at most `max_blocks` blocks and `max_bytes` bytes of them.
    pub fn new(max_blocks: usize, max_bytes: usize) -> FinalizedStream {
        FinalizedStream {
            ring: Arc::new(Mutex::new(Ring {
                blocks: VecDeque::new(),
                bytes: 0,
                subscribers: 0,
                max_blocks: max_blocks.max(1),
                max_bytes,
            })),
            head: Arc::new(watch::channel(0).0),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribers now.
    pub fn receiver_count(&self) -> usize {
        self.ring().subscribers
    }

    /// Appends a block (dropped at once when nobody subscribes); the oldest blocks leave
    /// while the bounds are exceeded, the newest always stays.
    pub fn send(&self, block: Arc<Finalized>) {
        let seq = {
            let mut ring = self.ring();
            if ring.subscribers == 0 {
                return;
            }
            let seq = *self.head.borrow() + 1;
            let bytes = size_of(&block);
            ring.bytes += bytes;
            ring.blocks.push_back((seq, block, bytes));
            while ring.blocks.len() > 1
                && (ring.blocks.len() > ring.max_blocks || ring.bytes > ring.max_bytes)
            {
                let (_, _, bytes) = ring.blocks.pop_front().expect("more than one block");
                ring.bytes -= bytes;
            }
            seq
        };
        self.head.send_replace(seq);
    }

    /// A subscriber that reads the blocks sent from now on.
    pub fn subscribe(&self) -> FinalizedReceiver {
        self.ring().subscribers += 1;
        let head = self.head.subscribe();
        let next = *head.borrow() + 1;
        FinalizedReceiver {
            ring: self.ring.clone(),
            head,
            next,
        }
    }
}

impl FinalizedReceiver {
    /// The next block, once it is final.
    pub async fn recv(&mut self) -> Result<Arc<Finalized>, RecvError> {
        loop {
            {
                let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
                if ring.blocks.is_empty() {
                    // Nothing held: what comes next is what is sent next.
                    self.next = self.next.max(*self.head.borrow() + 1);
                }
                if let Some((oldest, _, _)) = ring.blocks.front() {
                    if self.next < *oldest {
                        let missed = oldest - self.next;
                        self.next = *oldest;
                        return Err(RecvError::Lagged(missed));
                    }
                    let at = (self.next - oldest) as usize;
                    if let Some((_, block, _)) = ring.blocks.get(at) {
                        self.next += 1;
                        return Ok(block.clone());
                    }
                }
            }
            if *self.head.borrow_and_update() >= self.next {
                // Sent meanwhile: read it.
                continue;
            }
            if self.head.changed().await.is_err() {
                return Err(RecvError::Closed);
            }
        }
    }
}

impl Drop for FinalizedReceiver {
    fn drop(&mut self) {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.subscribers -= 1;
        if ring.subscribers == 0 {
            ring.blocks.clear();
            ring.bytes = 0;
        }
    }
}

/// Subscriptions to the stream served at once, at most (16 per connection, too).
pub const MAX_SUBSCRIPTIONS: usize = 1_024;

/// Slots for subscriptions, shared by every RPC connection of a node.
#[derive(Debug, Clone)]
pub struct Slots {
    taken: Arc<std::sync::atomic::AtomicUsize>,
    max: usize,
}

/// A slot taken; given back when dropped (the subscription ended).
#[derive(Debug)]
pub struct Slot(Arc<std::sync::atomic::AtomicUsize>);

impl Slots {
    /// `max` slots.
    pub fn new(max: usize) -> Slots {
        Slots {
            taken: Arc::default(),
            max,
        }
    }

    /// The number of slots.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot, unless all are taken.
    pub fn take(&self) -> Option<Slot> {
        use std::sync::atomic::Ordering;
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.taken.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::FinalTx;
    use synod_store::TxLocation;
    use synod_types::testing::chain;
    use synod_types::Hash;

    fn block(height: u64, payload_bytes: usize) -> Arc<Finalized> {
        Arc::new(Finalized {
            block: chain(height).pop().unwrap(),
            certificate: None,
            txs: vec![FinalTx {
                hash: Hash::from_u64(height),
                namespace: 1,
                location: TxLocation {
                    height,
                    batch: 0,
                    position: 0,
                },
                payload: vec![0; payload_bytes],
            }],
            json: Default::default(),
        })
    }

    fn height(b: &Finalized) -> u64 {
        b.block.header.height
    }

    #[tokio::test]
    async fn subscribers_read_every_block_in_order() {
        let stream = FinalizedStream::new(16, 1 << 20);
        let mut a = stream.subscribe();
        let mut b = stream.subscribe();
        assert_eq!(stream.receiver_count(), 2);
        for h in 1..=5 {
            stream.send(block(h, 10));
        }
        for h in 1..=5 {
            assert_eq!(height(&a.recv().await.unwrap()), h);
        }
        assert_eq!(height(&b.recv().await.unwrap()), 1);
        // A block sent later wakes a waiting subscriber.
        let waiting = tokio::spawn(async move { a.recv().await.map(|b| height(&b)) });
        tokio::task::yield_now().await;
        stream.send(block(6, 10));
        assert_eq!(waiting.await.unwrap(), Ok(6));
    }

    #[tokio::test]
    async fn a_slow_subscriber_holds_at_most_the_byte_bound_and_is_told_what_it_missed() {
        // 100 blocks of 1 MiB each against a bound of 8 MiB.
        let stream = FinalizedStream::new(1_024, 8 << 20);
        let mut slow = stream.subscribe();
        for h in 1..=100 {
            stream.send(block(h, 1 << 20));
            assert!(stream.ring().bytes <= 8 << 20);
        }
        let held = stream.ring().blocks.len() as u64;
        assert!((1..8).contains(&held), "{held} blocks held");
        assert_eq!(
            slow.recv().await.unwrap_err(),
            RecvError::Lagged(100 - held)
        );
        assert_eq!(height(&slow.recv().await.unwrap()), 100 - held + 1);
    }

    #[tokio::test]
    async fn nothing_is_held_without_subscribers_and_a_stopped_node_closes_the_stream() {
        let stream = FinalizedStream::new(16, 1 << 20);
        stream.send(block(1, 10));
        assert!(stream.ring().blocks.is_empty());
        let mut sub = stream.subscribe();
        stream.send(block(2, 10));
        drop(sub);
        assert!(stream.ring().blocks.is_empty(), "the last subscriber left");
        sub = stream.subscribe();
        drop(stream);
        assert_eq!(sub.recv().await.unwrap_err(), RecvError::Closed);
    }

    #[test]
    fn subscription_slots_are_bounded_and_given_back() {
        let slots = Slots::new(2);
        let a = slots.take().unwrap();
        let _b = slots.take().unwrap();
        assert!(slots.take().is_none());
        drop(a);
        assert!(slots.take().is_some());
    }
}
