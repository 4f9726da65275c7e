//! Intake: the transactions this node acknowledged and that are not final yet, and, for a
//! node that does not batch them itself (a full node, or a validator outside the
//! committee), their hand-over to the validators that do.
//!
//! A forwarded transaction goes to two *carriers*, members chosen from its hash, so one
//! of them being down loses nothing (the commit deduplicates); when neither is connected,
//! any connected member takes it. It is sent again every [`REFORWARD_AFTER`] until it is
//! final, so a carrier that crashed before batching it loses nothing either.
//!
//! Pure: the caller passes the time and says which peer speaks for which member.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use synod_types::{Hash, Tx};

use crate::mempool::{check_payload, Rejected};

/// How long a forwarded transaction may stay unfinalized before it is handed over again.
pub const REFORWARD_AFTER: Duration = Duration::from_secs(10);
/// Bytes a transaction adds to a request besides its payload (hash-free encoding: the
/// namespace and the length prefixes), for sizing requests.
pub const TX_OVERHEAD: usize = 16;

/// The intake of one node.
#[derive(Debug)]
pub struct Intake {
    /// Accepted here and not final yet.
    pending: HashSet<Hash>,
    /// To forward, not sent yet.
    fresh: Vec<Tx>,
    /// Sent, in the order they are due to be sent again.
    resend: VecDeque<(Instant, Tx)>,
    /// Most transactions pending here.
    max_txs: usize,
    /// Largest payload accepted.
    max_tx_bytes: usize,
}

impl Intake {
    /// An empty intake that holds at most `max_txs` pending transactions of at most
    /// `max_tx_bytes` each (the mempool's bounds).
    pub fn new(max_txs: usize, max_tx_bytes: usize) -> Intake {
        Intake {
            pending: HashSet::new(),
            fresh: Vec::new(),
            resend: VecDeque::new(),
            max_txs,
            max_tx_bytes,
        }
    }

    /// A client's transaction, for a node that forwards instead of batching: checked
    /// like the mempool checks it, then queued for its carriers.
    pub fn accept(&mut self, tx: Tx) -> Result<Hash, Rejected> {
        check_payload(&tx, self.max_tx_bytes)?;
        let hash = tx.hash();
        if self.pending.contains(&hash) {
            return Err(Rejected::Duplicate(hash));
        }
        if self.pending.len() >= self.max_txs {
            return Err(Rejected::Full {
                txs: self.pending.len(),
                bytes: 0,
            });
        }
        self.fresh.push(tx);
        self.pending.insert(hash);
        Ok(hash)
    }

    /// A transaction this node acknowledged and batches itself (through its mempool).
    pub fn track(&mut self, hash: Hash) {
        self.pending.insert(hash);
    }

    /// Acknowledged transactions to hand over (restored after a restart, or left by an
    /// epoch this node is no member of any more).
    pub fn forward(&mut self, txs: impl IntoIterator<Item = Tx>) {
        for tx in txs {
            self.pending.insert(tx.hash());
            self.fresh.push(tx);
        }
    }

    /// Whether `hash` was accepted here and is not final yet.
    pub fn is_pending(&self, hash: &Hash) -> bool {
        self.pending.contains(hash)
    }

    /// `hash` is final: no longer pending, never forwarded again. Returns whether it was
    /// pending here.
    pub fn finalized(&mut self, hash: &Hash) -> bool {
        self.pending.remove(hash)
    }

    /// Transactions pending here.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Transactions waiting to be forwarded or forwarded again.
    pub fn queued(&self) -> usize {
        self.fresh.len() + self.resend.len()
    }

    /// What to send now, per peer: the fresh transactions and those due again, each to
    /// its carriers among `members` committee members (`peer_of` says which peer speaks
    /// for a member) or, when neither is in `connected`, to one connected peer. Final
    /// ones are dropped; the others are due again after [`REFORWARD_AFTER`]. Nothing is
    /// taken while no member is connected.
    pub fn due<P: Copy + Eq + std::hash::Hash>(
        &mut self,
        now: Instant,
        members: usize,
        peer_of: impl Fn(u32) -> Option<P>,
        connected: &[P],
    ) -> HashMap<P, Vec<Tx>> {
        let mut per_peer: HashMap<P, Vec<Tx>> = HashMap::new();
        if connected.is_empty() || members == 0 {
            return per_peer;
        }
        let mut due = std::mem::take(&mut self.fresh);
        while self.resend.front().is_some_and(|(at, _)| *at <= now) {
            let (_, tx) = self.resend.pop_front().expect("front exists");
            due.push(tx);
        }
        for tx in due {
            let hash = tx.hash();
            if !self.pending.contains(&hash) {
                continue; // final
            }
            let mut targets: Vec<P> = carriers(&hash, members)
                .iter()
                .filter_map(|i| peer_of(*i))
                .filter(|p| connected.contains(p))
                .collect();
            targets.dedup();
            if targets.is_empty() {
                // Both carriers are away: any connected member orders it.
                let pick = u64::from_be_bytes(hash.0[8..16].try_into().expect("8 bytes"));
                targets.push(connected[(pick % connected.len() as u64) as usize]);
            }
            for peer in targets {
                per_peer.entry(peer).or_default().push(tx.clone());
            }
            self.resend.push_back((now + REFORWARD_AFTER, tx));
        }
        per_peer
    }
}

/// Transactions one peer may hand over a second, sustained (bursts of twice as many).
pub const FORWARDED_TXS_PER_SECOND: f64 = 20_000.0;
/// Bytes of transactions one peer may hand over a second, sustained.
pub const FORWARDED_BYTES_PER_SECOND: f64 = 16.0 * 1024.0 * 1024.0;
/// Peers a validator keeps a budget for; idle ones are forgotten first.
const MAX_TRACKED_PEERS: usize = 4_096;

/// What each peer may still hand over: a token bucket per peer, in transactions and in
/// bytes, so that no peer's `Txs` requests take more than its share of a validator's
/// intake (the RPC's rate limit covers clients; this covers peers).
#[derive(Debug)]
pub struct PeerBudgets<P> {
    /// Per peer: transactions and bytes left, and when they were last refilled.
    peers: HashMap<P, (f64, f64, Instant)>,
}

impl<P> Default for PeerBudgets<P> {
    fn default() -> Self {
        PeerBudgets {
            peers: HashMap::new(),
        }
    }
}

impl<P: Copy + Eq + std::hash::Hash> PeerBudgets<P> {
    /// Takes `txs` transactions of `bytes` bytes from `peer`'s budget; false, taking
    /// nothing, when they do not fit it.
    pub fn take(&mut self, peer: P, txs: usize, bytes: usize, now: Instant) -> bool {
        if self.peers.len() >= MAX_TRACKED_PEERS && !self.peers.contains_key(&peer) {
            self.peers
                .retain(|_, (_, _, at)| now.duration_since(*at) < Duration::from_secs(10));
            if self.peers.len() >= MAX_TRACKED_PEERS {
                return false;
            }
        }
        let (max_txs, max_bytes) = (
            2.0 * FORWARDED_TXS_PER_SECOND,
            2.0 * FORWARDED_BYTES_PER_SECOND,
        );
        let (left_txs, left_bytes, at) =
            self.peers.entry(peer).or_insert((max_txs, max_bytes, now));
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *left_txs = (*left_txs + elapsed * FORWARDED_TXS_PER_SECOND).min(max_txs);
        *left_bytes = (*left_bytes + elapsed * FORWARDED_BYTES_PER_SECOND).min(max_bytes);
        *at = now;
        if *left_txs < txs as f64 || *left_bytes < bytes as f64 {
            return false;
        }
        *left_txs -= txs as f64;
        *left_bytes -= bytes as f64;
        true
    }
}

/// The committee members that carry a transaction forwarded by a full node: two, so
/// one of them being down loses nothing.
pub fn carriers(hash: &Hash, members: usize) -> [u32; 2] {
    let members = members.max(1);
    let h = u64::from_be_bytes(hash.0[..8].try_into().expect("8 bytes"));
    let first = (h % members as u64) as u32;
    [first, ((first as usize + 1) % members) as u32]
}

/// `txs` cut into requests of at most `max_txs` transactions and about `max_bytes`
/// (a single larger transaction travels alone).
pub fn chunks(txs: Vec<Tx>, max_txs: usize, max_bytes: usize) -> Vec<Vec<Tx>> {
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    let mut bytes = 0;
    for tx in txs {
        let size = tx.payload.len() + TX_OVERHEAD;
        if !chunk.is_empty() && (chunk.len() >= max_txs || bytes + size > max_bytes) {
            out.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        bytes += size;
        chunk.push(tx);
    }
    if !chunk.is_empty() {
        out.push(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(n: u32) -> Tx {
        Tx {
            namespace: 1,
            payload: n.to_be_bytes().to_vec(),
        }
    }

    /// Members 0..4 speak as peers 10..14.
    fn peer_of(i: u32) -> Option<u32> {
        Some(10 + i)
    }

    #[test]
    fn a_forwarded_transaction_goes_to_its_two_carriers_and_again_until_final() {
        let mut intake = Intake::new(100, 64);
        let t = tx(1);
        let hash = intake.accept(t.clone()).unwrap();
        let [a, b] = carriers(&hash, 4);
        assert_ne!(a, b);
        let all = [10, 11, 12, 13];
        let now = Instant::now();
        let sent = intake.due(now, 4, peer_of, &all);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[&(10 + a)], vec![t.clone()]);
        assert_eq!(sent[&(10 + b)], vec![t.clone()]);
        // Not again before it is due.
        assert!(intake
            .due(now + Duration::from_secs(1), 4, peer_of, &all)
            .is_empty());
        // Due again, and still not final: sent again.
        let later = now + REFORWARD_AFTER;
        assert_eq!(intake.due(later, 4, peer_of, &all).len(), 2);
        // Final: never again, and no longer pending.
        assert!(intake.finalized(&hash));
        assert!(!intake.is_pending(&hash));
        assert!(intake
            .due(later + REFORWARD_AFTER, 4, peer_of, &all)
            .is_empty());
        assert_eq!(intake.queued(), 0);
    }

    #[test]
    fn with_both_carriers_away_one_connected_member_takes_it() {
        let mut intake = Intake::new(100, 64);
        let t = tx(2);
        let hash = intake.accept(t.clone()).unwrap();
        let carried = carriers(&hash, 4).map(|i| 10 + i);
        let others: Vec<u32> = [10, 11, 12, 13]
            .into_iter()
            .filter(|p| !carried.contains(p))
            .collect();
        let sent = intake.due(Instant::now(), 4, peer_of, &others);
        assert_eq!(sent.len(), 1);
        let (peer, txs) = sent.into_iter().next().unwrap();
        assert!(others.contains(&peer));
        assert_eq!(txs, vec![t]);
    }

    #[test]
    fn nothing_is_taken_while_no_member_is_connected() {
        let mut intake = Intake::new(100, 64);
        intake.accept(tx(3)).unwrap();
        assert!(intake.due(Instant::now(), 4, peer_of, &[]).is_empty());
        assert_eq!(intake.queued(), 1);
        assert_eq!(intake.due(Instant::now(), 4, peer_of, &[12]).len(), 1);
    }

    #[test]
    fn what_is_refused_is_refused_as_the_mempool_would() {
        let mut intake = Intake::new(2, 4);
        assert_eq!(
            intake.accept(Tx {
                namespace: 1,
                payload: vec![]
            }),
            Err(Rejected::Empty)
        );
        assert_eq!(
            intake.accept(Tx {
                namespace: 1,
                payload: vec![0; 5]
            }),
            Err(Rejected::TooLarge { size: 5, max: 4 })
        );
        let hash = intake.accept(tx(1)).unwrap();
        assert_eq!(intake.accept(tx(1)), Err(Rejected::Duplicate(hash)));
        intake.accept(tx(2)).unwrap();
        assert_eq!(
            intake.accept(tx(3)),
            Err(Rejected::Full { txs: 2, bytes: 0 })
        );
        // A final one makes room.
        intake.finalized(&hash);
        assert!(intake.accept(tx(3)).is_ok());
    }

    #[test]
    fn transactions_handed_back_are_pending_and_forwarded() {
        let mut intake = Intake::new(100, 64);
        intake.forward([tx(1), tx(2)]);
        assert_eq!(intake.pending(), 2);
        assert!(intake.is_pending(&tx(1).hash()));
        let sent = intake.due(Instant::now(), 1, peer_of, &[10]);
        assert_eq!(sent[&10].len(), 2);
        // A tracked one (batched here) is pending but never forwarded.
        intake.track(tx(9).hash());
        assert!(intake.is_pending(&tx(9).hash()));
        assert_eq!(intake.queued(), 2);
    }

    #[test]
    fn requests_are_cut_by_count_and_by_bytes() {
        let txs: Vec<Tx> = (0..10).map(tx).collect();
        let by_count = chunks(txs.clone(), 4, usize::MAX);
        assert_eq!(by_count.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
        // Each is 4 + 16 bytes: three fit in 60.
        let by_bytes = chunks(txs.clone(), 100, 60);
        assert_eq!(
            by_bytes.iter().map(Vec::len).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        assert_eq!(by_bytes.concat(), txs);
        // A transaction larger than the bound still travels, alone.
        let big = Tx {
            namespace: 1,
            payload: vec![0; 100],
        };
        assert_eq!(chunks(vec![big.clone()], 4, 60), vec![vec![big]]);
        assert!(chunks(Vec::new(), 4, 60).is_empty());
    }

    #[test]
    fn a_peer_hands_over_at_most_its_budget_and_it_refills() {
        let mut budgets = PeerBudgets::default();
        let now = Instant::now();
        let burst = 2 * FORWARDED_TXS_PER_SECOND as usize;
        // Requests of 1,024 small transactions: a burst's worth passes, then no more.
        let mut passed = 0;
        while budgets.take(1u32, 1_024, 1_024 * 40, now) {
            passed += 1_024;
        }
        assert!(passed <= burst && passed + 1_024 > burst, "{passed}");
        // Another peer has its own budget.
        assert!(budgets.take(2u32, 1_024, 1_024 * 40, now));
        // Half a second later, about half a second's worth more passes.
        let later = now + Duration::from_millis(500);
        let mut more = 0;
        while budgets.take(1u32, 1_024, 1_024 * 40, later) {
            more += 1_024;
        }
        let expected = FORWARDED_TXS_PER_SECOND as usize / 2;
        assert!(
            more <= expected + 1_024 && more + 2_048 > expected,
            "{more}"
        );
        // Bytes bound it too: a few requests of large transactions.
        let mut big = 0;
        while budgets.take(3u32, 32, 32 << 20, now) {
            big += 1;
        }
        assert_eq!(big, 1);
    }
}
