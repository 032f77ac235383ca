//! Checkpoint signing and verification, RFC 8785 canonicalization, and
//! submission parsing with Ed25519 verification (`verify_strict` and batch).
//!
//! `cargo bench --bench crypto`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use provlog_proto::json;
use provlog_proto::submission::{Submission, sign};
use provlog_tlog::checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use std::hint::black_box;

fn sample_event(i: u64) -> serde_json::Value {
    serde_json::json!({
        "event_id": format!("evt-{i}"),
        "occurred_at": "2026-11-25T10:00:00Z",
        "action": "rotate",
        "actor": {"id": "wf/rotate-keys", "type": "workflow"},
        "target": {"id": "svc-payments", "type": "service_account", "system": "gcp"},
        "authority": {"approval_id": "CHG-42", "approved_by": "alice"},
        "decision": {"result": "allow", "policy_id": "rot-90d"},
        "outcome": "success",
        "credential": {"fingerprint": format!("sha256:{}", "ab".repeat(32))},
        "details": {"reason": "scheduled rotation", "ticket": "OPS-1234"}
    })
}

fn checkpoints(c: &mut Criterion) {
    let key = SignerKey::from_seed("bench.example/log", ALG_ED25519, [1; 32]).expect("key");
    let cp = Checkpoint {
        origin: "bench.example/log".into(),
        size: 123_456_789,
        root: [7; 32],
        extensions: vec![],
    };
    let mut g = c.benchmark_group("checkpoint");
    g.bench_function("sign", |b| {
        b.iter(|| sign_checkpoint(black_box(&cp), &key).expect("sign"));
    });
    let note = sign_checkpoint(&cp, &key).expect("sign").to_string();
    let vk = key.verifier();
    g.bench_function("open_verify", |b| {
        b.iter(|| open_checkpoint(black_box(note.as_bytes()), &vk).expect("ok"));
    });
    g.finish();
}

fn submissions(c: &mut Criterion) {
    let key = SignerKey::from_seed("ci", ALG_ED25519, [2; 32]).expect("key");
    let ev = sample_event(1);
    let body = serde_json::to_vec(&sign(&ev, "ci", &key).expect("sign")).expect("json");
    let mut g = c.benchmark_group("submission");
    g.throughput(Throughput::Elements(1));
    g.bench_function("jcs_canonicalize", |b| {
        b.iter(|| json::canonical(black_box(&ev)).expect("jcs"));
    });
    g.bench_function("parse_validate", |b| {
        b.iter(|| Submission::parse(black_box(&body)).expect("ok"));
    });
    let sub = Submission::parse(&body).expect("ok");
    let vk = key.verifier();
    g.bench_function("verify_strict", |b| {
        b.iter(|| assert!(sub.verify(black_box(&vk), "bench")));
    });
    g.finish();

    // Raw ed25519-dalek: strict single vs. batch verification of 128.
    let sk = SigningKey::from_bytes(&[3; 32]);
    let vk: VerifyingKey = sk.verifying_key();
    let msgs: Vec<Vec<u8>> = (0..128u32).map(|i| format!("message {i}").into_bytes()).collect();
    let sigs: Vec<Signature> = msgs.iter().map(|m| ed25519_dalek::Signer::sign(&sk, m)).collect();
    let mut g = c.benchmark_group("ed25519");
    g.throughput(Throughput::Elements(128));
    g.bench_function("verify_strict_x128", |b| {
        b.iter(|| {
            for (m, s) in msgs.iter().zip(&sigs) {
                vk.verify_strict(m, s).expect("ok");
            }
        });
    });
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    let keys = vec![vk; 128];
    g.bench_function("verify_batch_x128", |b| {
        b.iter(|| ed25519_dalek::verify_batch(&refs, &sigs, &keys).expect("ok"));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = checkpoints, submissions
}
criterion_main!(benches);
