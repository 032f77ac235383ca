//! One synced storage append round (entries, hashes, dedup, leaf-index and
//! four search keys per entry, checkpoint) at batch sizes 1, 64, 512 and 4096, with 600-byte
//! entries: the cost of a group commit on this machine's disk.
//!
//! `cargo bench --bench storage`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use provlog_proto::event::Term;
use provlog_storage::{AppendBatch, Store, StoreOptions, dedup_key};
use provlog_tlog::merkle::{CompactRange, Hash, leaf_hash};

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("storage_append_synced");
    for batch in [1usize, 64, 512, 4096] {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
        let mut cr = CompactRange::new();
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(BenchmarkId::from_parameter(batch), |b| {
            b.iter(|| {
                let start = cr.size();
                let entries: Vec<Vec<u8>> = (0..batch)
                    .map(|k| {
                        let mut e = format!("{{\"event\":{{\"event_id\":\"bench-{}\"", start + k as u64).into_bytes();
                        e.resize(600, b'x');
                        e
                    })
                    .collect();
                let leaf_hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
                let nodes = cr.extend(&leaf_hashes);
                let dedup = (0..batch)
                    .map(|k| (dedup_key("bench", &format!("e-{}", start + k as u64)), start + k as u64))
                    .collect();
                let terms = (0..batch)
                    .flat_map(|k| {
                        let i = start + k as u64;
                        [
                            (Term::Target, format!("svc-{}", i % 1000), i),
                            (Term::Actor, "wf/rotate".to_owned(), i),
                            (Term::Action, "rotate".to_owned(), i),
                            (Term::Credential, format!("sha256:{i:064x}"), i),
                        ]
                    })
                    .collect();
                store
                    .append(&AppendBatch {
                        start,
                        entries,
                        leaf_hashes,
                        nodes,
                        dedup,
                        checkpoint: vec![b'c'; 200],
                        policy: None,
                        terms,
                        last_logged_at: 0,
                        map: None,
                        approval_uses: Vec::new(),
                        policy_leaves: Vec::new(),
                        log_key_leaves: Vec::new(),
                        occurred_buckets: Vec::new(),
                        occurred_span: None,
                    })
                    .expect("append");
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = append
}
criterion_main!(benches);
