//! Which validator holds which shards: contiguous ranges of shard indices in proportion
//! to stake (largest remainder), and the number of original shards `k` chosen so that
//! every set of validators holding at least a third of the stake holds at least `k`
//! shards, hence can rebuild the payload.

use std::ops::Range;

/// Fewest shards a payload is cut into.
pub const MIN_TOTAL: u32 = 64;
/// Most shards a payload is cut into (the erasure code's bound is far above).
pub const MAX_TOTAL: u32 = 32_768;

/// The shard layout of one committee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    total: u32,
    original: u32,
    /// Member `i` holds `starts[i]..starts[i + 1]`.
    starts: Vec<u32>,
}

impl Assignment {
    /// The layout for a committee with these stakes (in committee order). Every member
    /// gets at least `floor(stake · N / T)` shards of `N = max(64, 4n)`.
    pub fn new(stakes: &[u64]) -> Assignment {
        let n = stakes.len().max(1) as u32;
        let total = (4 * n).clamp(MIN_TOTAL, MAX_TOTAL);
        let counts = proportional(stakes, total);
        let original = threshold(stakes, &counts).max(1);
        let mut starts = Vec::with_capacity(counts.len() + 1);
        let mut at = 0u32;
        starts.push(0);
        for c in &counts {
            at += c;
            starts.push(at);
        }
        Assignment {
            total,
            original,
            starts,
        }
    }

    /// Shards a payload is cut into.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Shards needed to rebuild it (`k`): the fewest any third of the stake holds.
    pub fn original(&self) -> u32 {
        self.original
    }

    /// The shard indices member `member` holds (empty for an unknown member).
    pub fn shards_of(&self, member: usize) -> Range<u32> {
        match (self.starts.get(member), self.starts.get(member + 1)) {
            (Some(a), Some(b)) => *a..*b,
            _ => 0..0,
        }
    }

    /// The member holding shard `index`.
    pub fn holder(&self, index: u32) -> Option<usize> {
        if index >= self.total {
            return None;
        }
        Some(self.starts.partition_point(|s| *s <= index) - 1)
    }
}

/// `total` split in proportion to `stakes`, by largest remainder (ties to the lower
/// index), so the counts add up to `total`.
fn proportional(stakes: &[u64], total: u32) -> Vec<u32> {
    let sum: u128 = stakes.iter().map(|s| u128::from(*s)).sum();
    if sum == 0 {
        let mut even = vec![total / stakes.len().max(1) as u32; stakes.len()];
        let left = total - even.iter().sum::<u32>();
        for c in even.iter_mut().take(left as usize) {
            *c += 1;
        }
        return even;
    }
    let mut counts = Vec::with_capacity(stakes.len());
    let mut remainders = Vec::with_capacity(stakes.len());
    for (i, s) in stakes.iter().enumerate() {
        let scaled = u128::from(*s) * u128::from(total);
        counts.push((scaled / sum) as u32);
        remainders.push((scaled % sum, i));
    }
    let left = total - counts.iter().sum::<u32>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders.into_iter().take(left as usize) {
        counts[i] += 1;
    }
    counts
}

/// The fewest shards held by any set of members with at least a third of the stake: a
/// 0/1 knapsack over shard counts (`best[x]`: the most stake a set holding at most `x`
/// shards can have).
fn threshold(stakes: &[u64], counts: &[u32]) -> u32 {
    let sum: u128 = stakes.iter().map(|s| u128::from(*s)).sum();
    let total: u32 = counts.iter().sum();
    let mut best = vec![0u128; total as usize + 1];
    for (stake, count) in stakes.iter().zip(counts) {
        let (stake, count) = (u128::from(*stake), *count as usize);
        for x in (count..best.len()).rev() {
            best[x] = best[x].max(best[x - count] + stake);
        }
    }
    (0..=total)
        .find(|x| 3 * best[*x as usize] >= sum)
        .unwrap_or(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subset of members (small committees): those with a third of the stake hold
    /// at least `k` shards, and some such subset holds exactly `k`.
    fn check_exhaustively(stakes: &[u64]) {
        let a = Assignment::new(stakes);
        let sum: u128 = stakes.iter().map(|s| u128::from(*s)).sum();
        let mut tight = false;
        for mask in 0u32..(1 << stakes.len()) {
            let members = (0..stakes.len()).filter(|i| mask & (1 << i) != 0);
            let (stake, shards) = members.fold((0u128, 0u32), |(s, c), i| {
                (s + u128::from(stakes[i]), c + a.shards_of(i).len() as u32)
            });
            if 3 * stake >= sum {
                assert!(shards >= a.original(), "{stakes:?}: mask {mask:b}");
                tight |= shards == a.original();
            }
        }
        assert!(tight, "{stakes:?}: k is not the minimum");
    }

    #[test]
    fn any_third_of_the_stake_holds_enough_shards_to_rebuild() {
        for stakes in [
            vec![1, 1, 1, 1],
            vec![100, 100, 100, 100, 100, 100, 100],
            vec![1, 2, 3, 4, 5, 6, 7],
            vec![1_000_000, 1, 1, 1, 1],
            vec![32, 32, 64, 160, 5, 5, 5, 7, 9, 200, 3],
            vec![u64::MAX / 2, u64::MAX / 3, 7],
            vec![5],
        ] {
            check_exhaustively(&stakes);
        }
    }

    #[test]
    fn ranges_are_contiguous_cover_every_shard_and_follow_stake() {
        let stakes = [10, 30, 20, 40];
        let a = Assignment::new(&stakes);
        assert_eq!(a.total(), 64);
        let lens: Vec<u32> = (0..4).map(|i| a.shards_of(i).len() as u32).collect();
        assert_eq!(lens.iter().sum::<u32>(), 64);
        // 64 · stake / 100, largest remainder: 6.4, 19.2, 12.8, 25.6.
        assert_eq!(lens, vec![6, 19, 13, 26]);
        for index in 0..64 {
            let holder = a.holder(index).unwrap();
            assert!(a.shards_of(holder).contains(&index));
        }
        assert_eq!(a.holder(64), None);
        assert_eq!(a.shards_of(4), 0..0);
        // Equal stakes of four: two members are the smallest third.
        assert_eq!(Assignment::new(&[7; 4]).original(), 32);
        // Sixteen equal members: six are the smallest third, 4 shards each.
        assert_eq!(Assignment::new(&[1; 16]).original(), 24);
        // A hundred members get 400 shards; 34 of them are the smallest third.
        let hundred = Assignment::new(&[1; 100]);
        assert_eq!((hundred.total(), hundred.original()), (400, 136));
    }
}
