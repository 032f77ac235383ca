//! What a receipt costs the server, JSON against COSE (issue 18): the JSON
//! receipt built and serialized as `POST /v1/entries` answers it, and the
//! RFC 9942 COSE receipt encoded from the tree head's one signature as
//! `POST /entries` answers it (with and without a statement's leaf frame);
//! the once-per-tree-size signature apart; and what each costs a verifier.
//! The entry is a real event leaf, the proof 20 hashes (a tree of about a
//! million entries).
//!
//! `cargo bench --bench receipts`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use provlog_proto::cose_receipt::{self, TreeHeadSignature};
use provlog_proto::receipt::Receipt;
use provlog_proto::submission::{Submission, sign};
use provlog_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use provlog_tlog::merkle::{self, Hash};
use std::hint::black_box;

const ORIGIN: &str = "bench.example/log";

fn receipts(c: &mut Criterion) {
    let log = SignerKey::from_seed(ORIGIN, ALG_ED25519, [1; 32]).expect("key");
    let submitter = SignerKey::from_seed("ci", ALG_ED25519, [2; 32]).expect("key");
    let event = serde_json::json!({
        "event_id": "evt-1", "occurred_at": "2026-11-25T10:00:00Z", "action": "rotate",
        "actor": {"id": "wf/rotate-keys", "type": "workflow"},
        "target": {"id": "svc-payments", "type": "service_account", "system": "gcp"},
        "authority": {"approval_id": "CHG-42", "approved_by": "alice"},
        "decision": {"result": "allow", "policy_id": "rot-90d"}, "outcome": "success",
        "credential": {"fingerprint": format!("sha256:{}", "ab".repeat(32))}
    });
    let body = serde_json::to_vec(&sign(&event, "ci", &submitter).expect("sign")).expect("json");
    let entry = Submission::parse(&body)
        .expect("ok")
        .leaf
        .render("2026-11-25T10:00:00.123Z");
    // Entry 1000 of a tree of 2^20 + 1000 entries: a 21-hash path.
    let (index, size) = (1000u64, (1u64 << 20) + 1000);
    let mut tree = merkle::MemoryTree::new();
    for i in 0..size {
        tree.push(if i == index {
            merkle::leaf_hash(&entry)
        } else {
            merkle::sha256(&[&i.to_be_bytes()])
        });
    }
    let proof: Vec<Hash> = merkle::inclusion_proof(index, size, &tree).expect("proof");
    let root = tree.root_at(size).expect("root");
    drop(tree);
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size,
        root,
        extensions: vec![],
    };
    let note = sign_checkpoint(&cp, &log).expect("sign").to_string();
    let head = TreeHeadSignature::sign(&log, size, root, 1_796_378_400);
    let frame = provlog_proto::statement::leaf_frame(
        br#"{"cose_sign1":"AAAA","kind":"statement","logged_at":"2026-11-25T10:00:00.123Z","submitter":"ci","v":1}"#,
    )
    .expect("frame");

    let mut g = c.benchmark_group("receipt");
    g.throughput(Throughput::Elements(1));
    g.bench_function("json_build_serialize", |b| {
        b.iter(|| serde_json::to_vec(&Receipt::new(index, black_box(&entry), &note, &proof)).expect("json"));
    });
    g.bench_function("cose_encode", |b| {
        b.iter(|| head.receipt(index, black_box(&proof)).expect("cose"));
    });
    g.bench_function("cose_encode_with_frame", |b| {
        b.iter(|| {
            head.receipt_with_frame(index, black_box(&proof), Some(&frame))
                .expect("cose")
        });
    });
    g.bench_function("cose_tree_head_sign_once_per_size", |b| {
        b.iter(|| TreeHeadSignature::sign(&log, black_box(size), root, 1_796_378_400));
    });
    let json: Receipt = Receipt::new(index, &entry, &note, &proof);
    let cose = head.receipt(index, &proof).expect("cose");
    let vk = log.verifier();
    g.bench_function("json_verify", |b| {
        b.iter(|| black_box(&json).verify(&vk).expect("verifies"));
    });
    g.bench_function("cose_verify", |b| {
        b.iter(|| cose_receipt::verify(black_box(&cose), &entry, &vk).expect("verifies"));
    });
    g.finish();
    eprintln!(
        "sizes: JSON receipt {} bytes, COSE receipt {} bytes (entry {} bytes, {} proof hashes)",
        serde_json::to_vec(&json).expect("json").len(),
        cose.len(),
        entry.len(),
        proof.len()
    );
}

criterion_group!(benches, receipts);
criterion_main!(benches);
