//! Committee DA per MiB of block data at 4, 16 and 100 equal-stake validators: the
//! leader's encode + commit, a validator's check + its own shards (before its vote), and
//! a rebuild from the last `k` shards (mostly recovery shards, the expensive case).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use synod_da::{committee, Assignment, CommitteeDa, DaBackend};

const MIB: usize = 1 << 20;

fn data() -> Vec<u8> {
    (0..MIB as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn bench(c: &mut Criterion) {
    let data = data();
    let mut group = c.benchmark_group("da_per_mib");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.sample_size(10);
    for n in [4usize, 16, 100] {
        let stakes = vec![1u64; n];
        let leader = CommitteeDa::new(&stakes, Some(0));
        let commitment = leader.commit(&data).unwrap();
        group.bench_with_input(BenchmarkId::new("encode_commit", n), &n, |b, _| {
            b.iter(|| leader.commit(&data).unwrap())
        });
        let validator = CommitteeDa::new(&stakes, Some(1));
        group.bench_with_input(BenchmarkId::new("verify_keep", n), &n, |b, _| {
            b.iter(|| validator.verify(&data, &commitment).unwrap().unwrap())
        });
        let assignment = Assignment::new(&stakes);
        let encoded = committee::encode(&data, &assignment).unwrap();
        let k = assignment.original();
        let last: Vec<_> = (assignment.total() - k..assignment.total())
            .map(|i| encoded.shard(i).unwrap())
            .collect();
        group.bench_with_input(BenchmarkId::new("rebuild", n), &n, |b, _| {
            b.iter(|| committee::rebuild(&last).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
