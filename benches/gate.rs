//! `provlog gate`'s in-process cost of a decision from the cache: the
//! bearer token to its fingerprint (SHA-256), the cache lookup, the
//! judgement, at 100 thousand cached credentials; and the heap the cache
//! holds per cached credential, counted by a counting allocator (printed
//! once, before the timings).
//!
//! `cargo bench --bench gate`

use criterion::{BenchmarkId, Criterion, Throughput};
use provlog::gate::cache::{Cache, Known};
use provlog::gate::decision::judge;
use provlog::gate::presented::{Mapping, fingerprint};
use provlog_proto::ledger::RecordState;
use std::hint::black_box;
use std::sync::Arc;

/// The server's allocator, counting the bytes live on the heap.
#[global_allocator]
static ALLOC: cap::Cap<mimalloc::MiMalloc> = cap::Cap::new(mimalloc::MiMalloc, usize::MAX);

fn token(i: u64) -> String {
    format!("Bearer bench-token-{i}")
}

/// What the gate caches for an active credential of the prefill's shape.
fn known(i: u64) -> Arc<Known> {
    let owner: Arc<str> = format!("gcp/service_account/svc-{}", i % 5000).into();
    Arc::new(Known {
        state: Some(RecordState::Active),
        not_after_ms: Some(1_803_000_000_000),
        owner_id: Some(owner[20..].into()),
        owner: Some(owner),
        version: 1,
        commitment: 1_000_000,
        verified_size: 1_000_001,
    })
}

fn fp(i: u64) -> provlog_tlog::merkle::Hash {
    fingerprint(Mapping::Bearer, "authorization", token(i).as_bytes()).expect("a bearer token")
}

fn fill(n: u64) -> Cache {
    let c = Cache::new(usize::try_from(n).expect("fits"));
    for i in 0..n {
        c.insert(fp(i), known(i));
    }
    c
}

fn memory() {
    for n in [10_000u64, 100_000, 1_000_000] {
        let before = ALLOC.allocated();
        let c = fill(n);
        let after = ALLOC.allocated();
        assert_eq!(c.len() as u64, n, "all cached");
        eprintln!(
            "gate cache of {n} credentials: {:.0} heap bytes per cached credential",
            after.saturating_sub(before) as f64 / n as f64
        );
        drop(c);
    }
}

fn decision(c: &mut Criterion) {
    let n = 100_000u64;
    let cache = fill(n);
    let tokens: Vec<String> = (0..n).map(token).collect();
    let mut g = c.benchmark_group("gate");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function(BenchmarkId::new("bearer_to_fingerprint", n), |b| {
        b.iter(|| {
            i = (i + 7919) % tokens.len();
            black_box(fingerprint(Mapping::Bearer, "authorization", tokens[i].as_bytes()))
        });
    });
    let owners = vec!["svc-*".to_owned()];
    g.bench_function(BenchmarkId::new("decision_from_cache", n), |b| {
        b.iter(|| {
            i = (i + 7919) % tokens.len();
            let fp = fingerprint(Mapping::Bearer, "authorization", tokens[i].as_bytes()).expect("bearer");
            let k = cache.get(&fp).expect("cached");
            black_box(judge(&k, &owners, 1_800_000_000_000))
        });
    });
    g.finish();
}

fn main() {
    memory();
    let mut c = Criterion::default().configure_from_args();
    decision(&mut c);
    c.final_summary();
}
