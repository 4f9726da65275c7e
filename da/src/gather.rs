//! Gathering one block's shards from the members that hold them, over whatever
//! transport the caller has (`docs/protocol.md` §12, retrieval).
//!
//! Members are asked for the shards they hold that are still missing, [`WAVE`] at a
//! time, until `k` shards are here or a whole round brings nothing new (an answer may be
//! capped in bytes: what did not fit is asked again in the next round). Every shard is
//! checked against the commitment before it counts ([`Retrieval::add`]); a member that
//! sends one that does not prove its place, or that was not asked for, is reported so
//! the caller can penalize its peer. Memory stays bounded by the layout's `N` shards and
//! one wave of answers.

use std::future::Future;

use futures::future::join_all;

use crate::{Added, Retrieval, Shard};

/// Members asked at once.
pub const WAVE: usize = 8;
/// Rounds of requests at most (each must bring new shards, or gathering stops).
pub const ROUNDS: usize = 64;

/// What gathering ended with.
#[derive(Debug)]
pub struct Gathered {
    /// The shards that came, ready to rebuild if there are enough.
    pub retrieval: Retrieval,
    /// Members that sent a shard that does not prove its place or was not asked for,
    /// each once.
    pub bad: Vec<usize>,
}

/// Asks members for the shards `retrieval` misses until it is ready or no round brings
/// more. `ask(member, indices)` sends the request and returns the encoded shards the
/// member answered with, or `None` when it did not answer (no known peer, a timeout, a
/// refusal).
pub async fn gather<F, Fut>(mut retrieval: Retrieval, ask: F) -> Gathered
where
    F: Fn(usize, Vec<u32>) -> Fut,
    Fut: Future<Output = Option<Vec<Vec<u8>>>>,
{
    let mut bad = Vec::new();
    'rounds: for _ in 0..ROUNDS {
        if retrieval.ready() {
            break;
        }
        let asks: Vec<(usize, Vec<u32>)> = retrieval
            .missing_holders()
            .into_iter()
            .map(|m| (m, retrieval.missing_of(m)))
            .filter(|(_, indices)| !indices.is_empty())
            .collect();
        let mut progress = false;
        for wave in asks.chunks(WAVE) {
            let answers = join_all(wave.iter().map(|(member, indices)| {
                let answer = ask(*member, indices.clone());
                async move { (*member, indices, answer.await) }
            }))
            .await;
            for (member, indices, answer) in answers {
                let mut misbehaved = false;
                for item in answer.unwrap_or_default() {
                    match Shard::decode(&item) {
                        Ok(shard) if indices.contains(&shard.index) => match retrieval.add(shard) {
                            Added::Counted => progress = true,
                            Added::Duplicate => {}
                            Added::Invalid => misbehaved = true,
                        },
                        _ => misbehaved = true,
                    }
                }
                if misbehaved && !bad.contains(&member) {
                    bad.push(member);
                }
            }
            if retrieval.ready() {
                break 'rounds;
            }
        }
        if !progress {
            break;
        }
    }
    Gathered { retrieval, bad }
}

impl Gathered {
    /// The block data, or why not: with fewer than `k` valid shards, the share of the
    /// stake (`stakes`, in committee order) whose shards came, for the block at `height`.
    pub fn rebuild(&self, stakes: &[u64], height: u64) -> Result<Vec<u8>, String> {
        if !self.retrieval.ready() {
            let total: u128 = stakes.iter().map(|s| u128::from(*s)).sum();
            let heard: u128 = self
                .retrieval
                .holders_heard()
                .iter()
                .map(|m| u128::from(stakes.get(*m).copied().unwrap_or(0)))
                .sum();
            return Err(format!(
                "the data of height {height} cannot be rebuilt: shards came from members holding {:.1}% of the stake, and at least a third is needed",
                100.0 * heard as f64 / total.max(1) as f64
            ));
        }
        self.retrieval.rebuild().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CommitteeDa, DaBackend, Kept};

    const STAKES: [u64; 4] = [1, 1, 1, 1];

    /// The data, its commitment, and what each of the four members keeps.
    fn dispersed() -> (Vec<u8>, synod_types::Hash, Vec<Kept>) {
        let data: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
        let kept: Vec<Kept> = (0..STAKES.len())
            .map(|m| CommitteeDa::new(&STAKES, Some(m)).disperse(&data).unwrap())
            .collect();
        (data, kept[0].commitment, kept)
    }

    fn run<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    /// What member `m` answers for `indices`: its shards among them, at most `cap`.
    fn answer(kept: &[Kept], m: usize, indices: &[u32], cap: usize) -> Vec<Vec<u8>> {
        kept[m]
            .shards
            .iter()
            .filter(|s| indices.contains(&s.index))
            .take(cap)
            .map(Shard::encode)
            .collect()
    }

    #[test]
    fn a_member_that_sends_a_bad_shard_is_reported_and_the_others_rebuild_the_data() {
        let (data, commitment, kept) = dispersed();
        let retrieval = CommitteeDa::new(&STAKES, None).retrieval(commitment);
        let gathered = run(gather(retrieval, |m, indices| {
            let mut shards = answer(&kept, m, &indices, usize::MAX);
            if m == 2 {
                // A flipped byte: the proof no longer holds.
                let last = shards[0].len() - 1;
                shards[0][last] ^= 1;
            }
            async move { Some(shards) }
        }));
        assert_eq!(gathered.bad, vec![2]);
        assert_eq!(gathered.rebuild(&STAKES, 9).unwrap(), data);
    }

    #[test]
    fn answers_capped_to_one_shard_take_more_rounds_and_still_rebuild() {
        let (data, commitment, kept) = dispersed();
        let retrieval = CommitteeDa::new(&STAKES, None).retrieval(commitment);
        let asked = std::cell::Cell::new(0);
        let gathered = run(gather(retrieval, |m, indices| {
            asked.set(asked.get() + 1);
            let shards = answer(&kept, m, &indices, 1);
            async move { Some(shards) }
        }));
        assert!(gathered.bad.is_empty());
        assert_eq!(gathered.rebuild(&STAKES, 9).unwrap(), data);
        assert!(asked.get() > STAKES.len(), "{} requests", asked.get());
    }

    #[test]
    fn a_quarter_of_the_stake_is_not_enough_and_the_error_says_how_much_answered() {
        let (_, commitment, kept) = dispersed();
        let retrieval = CommitteeDa::new(&STAKES, None).retrieval(commitment);
        let gathered = run(gather(retrieval, |m, indices| {
            let shards = (m == 1).then(|| answer(&kept, m, &indices, usize::MAX));
            async move { shards }
        }));
        let error = gathered.rebuild(&STAKES, 9).unwrap_err();
        assert!(
            error.contains("height 9") && error.contains("25.0% of the stake"),
            "{error}"
        );
    }
}
