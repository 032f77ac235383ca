//! Flat cost: synced append throughput and inclusion-proof latency from a
//! store of 10 k entries and of 10 M entries (issue 7, target 4: within
//! 15 %). The store is filled unsynced with 600-byte entries carrying four
//! search terms each, then measured with synced appends of 512 entries and
//! random proofs.
//!
//! `cargo bench --bench flat` (sizes: `PROVLOG_FLAT_SIZES=10000,10000000`).

#![expect(clippy::print_stdout, reason = "the flat-cost report is what this bench prints")]

use provlog_proto::event::Term;
use provlog_storage::{AppendBatch, Store, StoreOptions, dedup_key};
use provlog_tlog::merkle::{CompactRange, Hash, inclusion_proof, leaf_hash};
use std::time::Instant;

fn batch(cr: &mut CompactRange, n: u64) -> AppendBatch {
    let start = cr.size();
    let entries: Vec<Vec<u8>> = (start..start + n)
        .map(|i| {
            let mut e = format!("{{\"event\":{{\"event_id\":\"flat-{i}\"").into_bytes();
            e.resize(600, b'x');
            e
        })
        .collect();
    let leaf_hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let nodes = cr.extend(&leaf_hashes);
    let terms = (start..start + n)
        .flat_map(|i| {
            [
                (Term::Target, format!("svc-{}", i % 100_000), i),
                (Term::Actor, format!("wf/{}", i % 50), i),
                (Term::Action, "rotate".to_owned(), i),
                (Term::Credential, format!("sha256:{i:064x}"), i),
            ]
        })
        .collect();
    AppendBatch {
        start,
        dedup: (start..start + n)
            .map(|i| (dedup_key("flat", &format!("e{i}")), i))
            .collect(),
        entries,
        leaf_hashes,
        nodes,
        terms,
        checkpoint: vec![b'c'; 200],
        policy: None,
        last_logged_at: 0,
        map: None,
        approval_uses: Vec::new(),
        policy_leaves: Vec::new(),
        log_key_leaves: Vec::new(),
        occurred_buckets: Vec::new(),
        occurred_span: None,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let sizes: Vec<u64> = std::env::var("PROVLOG_FLAT_SIZES").ok().map_or_else(
        || vec![10_000, 10_000_000],
        |s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
    );
    // `cargo bench` passes --bench; `cargo test --benches` runs this with no
    // time to spare: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let sizes = if quick { vec![1_000] } else { sizes };
    for n in sizes {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cr = CompactRange::new();
        let t = Instant::now();
        {
            let store = Store::open(
                dir.path(),
                &StoreOptions {
                    sync: false,
                    ..Default::default()
                },
            )
            .expect("open");
            while cr.size() < n {
                let k = 4096.min(n - cr.size());
                store.append(&batch(&mut cr, k)).expect("append");
            }
        }
        let fill = t.elapsed().as_secs_f64();
        // The server's default block cache; proofs are measured warm (as a
        // serving log is) after a warm-up of random proofs.
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("reopen");
        let rounds = if quick { 3 } else { 60 };
        let mut rates = Vec::new();
        for _ in 0..rounds {
            let b = batch(&mut cr, 512);
            let t = Instant::now();
            store.append(&b).expect("append");
            rates.push(512.0 / t.elapsed().as_secs_f64());
        }
        let size = cr.size();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let t = Instant::now();
        for _ in 0..(if quick { 100 } else { 300_000 }) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            std::hint::black_box(inclusion_proof(x % size, size, &store).expect("proof"));
        }
        let warm = t.elapsed().as_secs_f64();
        let mut lat = Vec::new();
        for _ in 0..(if quick { 100 } else { 20_000 }) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = Instant::now();
            std::hint::black_box(inclusion_proof(x % size, size, &store).expect("proof"));
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
        println!(
            "flat/{n}: filled in {fill:.1} s; synced append of 512: median {:.0} entries/s; inclusion proof (after {warm:.1} s warm-up): median {:.1} us",
            median(rates),
            median(lat)
        );
    }
}
