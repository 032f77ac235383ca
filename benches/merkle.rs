//! Hashing, compact-range extension, and proof generation/verification
//! (in memory and from `RocksDB`).
//!
//! `cargo bench --bench merkle`

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use provlog_storage::{AppendBatch, Store, StoreOptions};
use provlog_tlog::merkle::{
    CompactRange, Hash, MemoryTree, consistency_proof, inclusion_proof, leaf_hash, node_hash, verify_consistency,
    verify_inclusion,
};
use std::hint::black_box;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash");
    let entry = vec![b'x'; 600];
    g.throughput(Throughput::Elements(1));
    g.bench_function("leaf_600B", |b| b.iter(|| leaf_hash(black_box(&entry))));
    let (l, r) = ([1u8; 32], [2u8; 32]);
    g.bench_function("node", |b| b.iter(|| node_hash(black_box(&l), black_box(&r))));
    g.finish();
}

fn compact_range(c: &mut Criterion) {
    let mut g = c.benchmark_group("compact_range_extend");
    for batch in [1u64, 64, 512, 4096] {
        let ls = leaves(batch);
        g.throughput(Throughput::Elements(batch));
        g.bench_with_input(BenchmarkId::from_parameter(batch), &ls, |b, ls| {
            let mut base = CompactRange::new();
            base.extend(&leaves(1_000_003));
            b.iter_batched(|| base.clone(), |mut cr| cr.extend(ls), BatchSize::SmallInput);
        });
    }
    g.finish();
}

fn proofs_memory(c: &mut Criterion) {
    let n = 1 << 20;
    let mut tree = MemoryTree::new();
    for l in leaves(n) {
        tree.push(l);
    }
    let root = tree.root_at(n).expect("root");
    let mut g = c.benchmark_group("proof_memory_1M");
    let mut i = 0u64;
    g.bench_function("inclusion_generate", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            inclusion_proof(i, n, &tree).expect("proof")
        });
    });
    let idx = 123_456;
    let p = inclusion_proof(idx, n, &tree).expect("proof");
    let leaf = leaf_hash(format!("leaf {idx}").as_bytes());
    g.bench_function("inclusion_verify", |b| {
        b.iter(|| verify_inclusion(idx, n, &leaf, black_box(&p), &root).expect("ok"));
    });
    let m = 654_321;
    let cp = consistency_proof(m, n, &tree).expect("proof");
    let old = tree.root_at(m).expect("root");
    g.bench_function("consistency_generate", |b| {
        b.iter(|| consistency_proof(black_box(m), n, &tree).expect("p"));
    });
    g.bench_function("consistency_verify", |b| {
        b.iter(|| verify_consistency(m, n, &old, &root, black_box(&cp)).expect("ok"));
    });
    g.finish();
}

fn fill(store: &Store, n: u64, batch: u64) -> CompactRange {
    let mut cr = CompactRange::new();
    let mut i = 0;
    while i < n {
        let k = batch.min(n - i);
        let entries: Vec<Vec<u8>> = (i..i + k).map(|j| format!("leaf {j}").into_bytes()).collect();
        let leaf_hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let nodes = cr.extend(&leaf_hashes);
        store
            .append(&AppendBatch {
                start: i,
                entries,
                leaf_hashes,
                nodes,
                checkpoint: b"bench".to_vec(),
                ..Default::default()
            })
            .expect("append");
        i += k;
    }
    cr
}

fn proofs_storage(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(
        dir.path(),
        &StoreOptions {
            sync: false,
            ..Default::default()
        },
    )
    .expect("open");
    let n = 1 << 20;
    fill(&store, n, 4096);
    let mut g = c.benchmark_group("proof_rocksdb_1M");
    let mut i = 0u64;
    g.bench_function("inclusion_generate", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            inclusion_proof(i, n, &store).expect("proof")
        });
    });
    let mut m = 1u64;
    g.bench_function("consistency_generate", |b| {
        b.iter(|| {
            m = (m + 7919) % (n - 1) + 1;
            consistency_proof(m, n, &store).expect("proof")
        });
    });
    g.bench_function("tile_level0_read", |b| {
        b.iter(|| {
            i = (i + 7919) % (n / 256);
            store.level_hashes(0, i * 256, 256).expect("tile")
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = hashing, compact_range, proofs_memory, proofs_storage
}
criterion_main!(benches);
