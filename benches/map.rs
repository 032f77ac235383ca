//! The credential map (`provlog-map-v1`, docs/MAP.md): the cost of one
//! credential-changing event (set a key, recompute the root; or a batch of
//! 100 with one root) and of a
//! proof, at 10 thousand, 1 million and 10 million keys; proof sizes and
//! heap bytes per key are printed once per size.
//!
//! `cargo bench --bench map`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use provlog_proto::map::{Map, MapProof};
use provlog_tlog::merkle::sha256;
use std::hint::black_box;

fn key(i: u64) -> [u8; 32] {
    sha256(&[b"key", &i.to_be_bytes()])
}

fn build(n: u64) -> Map {
    let mut m = Map::new();
    for i in 0..n {
        m.set(key(i), key(i + n)).expect("set");
    }
    let _ = m.root();
    m
}

fn map(c: &mut Criterion) {
    let mut g = c.benchmark_group("map");
    g.sample_size(20);
    for n in [10_000u64, 1_000_000, 10_000_000] {
        let mut m = build(n);
        let (mut sizes, mut absent) = (0usize, 0usize);
        for i in 0..1000 {
            sizes += m.prove(&key(i * (n / 1000))).encode().len();
            absent += m.prove(&key(n + i)).encode().len();
        }
        eprintln!(
            "map of {n} keys: {:.0} heap bytes per key; proofs: inclusion {} B, absence {} B on average",
            m.heap_bytes() as f64 / n as f64,
            sizes / 1000,
            absent / 1000
        );
        g.throughput(Throughput::Elements(1));
        // One credential-changing event: a new value for an existing key,
        // then the new root (the path is rehashed).
        let mut i = 0u64;
        g.bench_function(BenchmarkId::new("update_and_root", n), |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                m.set(key(i), key(i ^ 0x55)).expect("set");
                black_box(m.root())
            });
        });
        // A sequenced batch: 100 credential-changing events, then one root
        // (how the sequencer would commit the map), per event.
        g.throughput(Throughput::Elements(100));
        g.bench_function(BenchmarkId::new("batch_of_100_and_root", n), |b| {
            b.iter(|| {
                for _ in 0..100 {
                    i = (i + 7919) % n;
                    m.set(key(i), key(i ^ 0x33)).expect("set");
                }
                black_box(m.root())
            });
        });
        g.throughput(Throughput::Elements(1));
        let root = m.root();
        g.bench_function(BenchmarkId::new("prove", n), |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                black_box(m.prove(&key(i)).encode())
            });
        });
        let k = key(3);
        let v = *m.get(&k).expect("present");
        let proof = MapProof::decode(&m.prove(&k).encode()).expect("decode");
        g.bench_function(BenchmarkId::new("verify", n), |b| {
            b.iter(|| black_box(proof.verify(&root, &k, Some(&v))).expect("verifies"));
        });
        // A new key each time: insertion and the new root.
        let mut next = 2 * n;
        g.bench_function(BenchmarkId::new("insert_and_root", n), |b| {
            b.iter(|| {
                next += 1;
                m.set(key(next), key(next)).expect("set");
                black_box(m.root())
            });
        });
    }
    g.finish();
}

criterion_group!(benches, map);
criterion_main!(benches);
