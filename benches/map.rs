//! The credential map (`provlog-map-v1`, docs/MAP.md): the cost of one
//! credential-changing event (set a key, recompute the root; or a batch of
//! 100 with one root) and of a
//! proof, at 10 thousand, 1 million and 10 million keys; proof sizes and
//! heap bytes per key are printed once per size.
//!
//! The `stored` group measures the map as the server keeps it: nodes in
//! `RocksDB` (`provlog_storage::map`), the sequencer's top of the tree in
//! memory (`WorkingMap::shrink_to_top`): a batch of 100 credential-changing
//! events (set, finish, write, unsynced: the fsync is the batch's, counted
//! in the submission figures) and a proof read from disk, at the sizes in
//! `PROVLOG_BENCH_STORED` (default `10000,1000000`; add `10000000` for the
//! 10 M figure, about 3 GB of disk and a few minutes to build).
//!
//! `cargo bench --bench map` (`-- stored` for the stored group only)

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

fn stored(c: &mut Criterion) {
    use provlog_proto::map_nodes::{Root, WorkingMap, prove};
    use provlog_storage::map::{MapHead, MapWrite};
    use provlog_storage::{Store, StoreOptions};
    let sizes: Vec<u64> = std::env::var("PROVLOG_BENCH_STORED")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut g = c.benchmark_group("stored");
    g.sample_size(20);
    for n in sizes {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(
            dir.path(),
            &StoreOptions {
                sync: false,
                ..StoreOptions::default()
            },
        )
        .expect("store");
        let write = |store: &Store, u: provlog_proto::map_nodes::MapUpdate, len: u64, covers: u64| {
            store
                .write_map(&MapWrite {
                    nodes: u.nodes.into(),
                    unreachable_nodes: u.unreachable,
                    head: Some(MapHead {
                        root: u.root,
                        credentials: len,
                        covers,
                        next: u.next,
                    }),
                    ..MapWrite::default()
                })
                .expect("write");
        };
        // Built in chunks of a million keys, each one write.
        let mut work = WorkingMap::open(Root::empty(), 0, 1);
        let t = std::time::Instant::now();
        let mut i = 0;
        while i < n {
            let end = (i + 1_000_000).min(n);
            for k in i..end {
                work.set(&store, key(k), key(k + n)).expect("set");
            }
            let u = work.finish();
            write(&store, u, work.len(), end);
            work.shrink_to_top();
            i = end;
        }
        store.compact().expect("compact");
        let root = work.finish().root;
        let (mut sizes, mut absent) = (0usize, 0usize);
        for j in 0..1000 {
            sizes += prove(&store, &root, &key(j * (n / 1000)))
                .expect("prove")
                .0
                .encode()
                .len();
            absent += prove(&store, &root, &key(n + j)).expect("prove").0.encode().len();
        }
        let [nodes, _, _] = store.map_estimates();
        eprintln!(
            "stored map of {n} keys built in {:.1} s: ~{nodes} nodes; proofs: inclusion {} B, absence {} B on average; \
             {} nodes in memory",
            t.elapsed().as_secs_f64(),
            sizes / 1000,
            absent / 1000,
            work.loaded()
        );
        let mut i = 0u64;
        let mut covers = n;
        g.throughput(Throughput::Elements(100));
        g.bench_function(BenchmarkId::new("batch_of_100_finish_write", n), |b| {
            b.iter(|| {
                for _ in 0..100 {
                    i = (i + 7919) % n;
                    covers += 1;
                    work.set(&store, key(i), key(covers)).expect("set");
                }
                let u = work.finish();
                let root = u.root;
                write(&store, u, work.len(), covers);
                work.shrink_to_top();
                black_box(root)
            });
        });
        let root = work.finish().root;
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("prove_from_disk", n), |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                black_box(prove(&store, &root, &key(i)).expect("prove").0.encode())
            });
        });
    }
    g.finish();
}

criterion_group!(benches, map, stored);
criterion_main!(benches);
