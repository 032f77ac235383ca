//! Verifiable authority (issue 15): Cedar evaluation per event with 1, 10
//! and 100 policies (the target is at most 20 µs with 100), and the check
//! of signed approvals (their Ed25519 verification dominates).
//!
//! `cargo bench --bench authority`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use provlog_proto::approval::{self, SignedApproval};
use provlog_proto::cedar::{CedarPolicies, Engine, Facts};
use provlog_proto::event::Event;
use provlog_proto::policy::{Policy, Registry, SubmitterPolicy};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::json;
use std::fmt::Write as _;
use std::hint::black_box;

const ORIGIN: &str = "bench.example/log";

fn event() -> Event {
    Event::from_value(&json!({
        "event_id": "evt-1",
        "occurred_at": "2026-12-03T10:00:00Z",
        "action": "revoke",
        "actor": {"id": "wf/offboard", "type": "workflow"},
        "target": {"id": "team42/db-main", "type": "service_account", "system": "gcp"},
        "authority": {},
        "decision": {"result": "allow"},
        "outcome": "success",
        "credential": {"fingerprint": format!("sha256:{}", "ab".repeat(32))},
    }))
    .expect("event")
}

/// `n` policies shaped like a registry's: one permit, and per team a
/// two-person rule for revocations, a change freeze, and a submitter pin.
/// `scoped`: each rule names its actions in its scope (as Cedar's guidance
/// recommends), so that the engine's per-action slice skips it; otherwise
/// every rule is a condition the evaluator must run (the worst case).
fn policies(n: usize, scoped: bool) -> String {
    let mut s = String::from("@id(\"within-scope\")\npermit (principal, action, resource);\n");
    for i in 1..n {
        if scoped {
            let p = match i % 3 {
                0 => format!(
                    "@id(\"p{i}\")\nforbid (principal, action == Action::\"revoke\", resource)\nwhen {{ resource.id like \"team{i}/*\" && context.approval_count < 2 }};\n"
                ),
                1 => format!(
                    "@id(\"p{i}\")\nforbid (principal, action in [Action::\"issue\", Action::\"grant\", Action::\"bind\"], resource)\nwhen {{ resource.id like \"frozen{i}-*\" }};\n"
                ),
                _ => format!(
                    "@id(\"p{i}\")\nforbid (principal == Submitter::\"ci{i}\", action == Action::\"rotate\", resource)\nwhen {{ resource.id like \"team{i}/*\" }};\n"
                ),
            };
            s.push_str(&p);
            continue;
        }
        let p = match i % 3 {
            0 => format!(
                "@id(\"p{i}\")\nforbid (principal, action == Action::\"revoke\", resource)\nwhen {{ resource.id like \"team{i}/*\" && context.approval_count < 2 }};\n"
            ),
            1 => format!(
                "@id(\"p{i}\")\nforbid (principal, action, resource)\nwhen {{ resource.id like \"frozen{i}-*\" && context.logged_at > 1700000000 }};\n"
            ),
            _ => format!(
                "@id(\"p{i}\")\nforbid (principal, action, resource)\nwhen {{ resource.id like \"team{i}/*\" && principal != Submitter::\"ci\" && !(context.approver_groups.contains(\"oncall\")) }};\n"
            ),
        };
        s.push_str(&p);
    }
    s
}

fn cedar(c: &mut Criterion) {
    let ev = event();
    let mut g = c.benchmark_group("cedar_evaluate");
    for (n, scoped) in [(1usize, false), (10, false), (100, false), (100, true)] {
        let engine = Engine::new(&CedarPolicies {
            policies: policies(n, scoped),
            schema: None,
        })
        .expect("policies");
        let facts = Facts {
            submitter: "ci",
            approvals: &[],
            logged_at_ms: 1_796_292_000_000,
            credential_state: Some("active"),
        };
        let name = if scoped {
            format!("{n}-scoped")
        } else {
            format!("{n}-conditions")
        };
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| engine.evaluate(black_box(&ev), black_box(&facts)));
        });
    }
    // 100 policies spread over the seven standard actions (each names one
    // in its scope, with a per-team condition): an event's slice holds
    // about a seventh of them.
    let actions = ["issue", "rotate", "revoke", "bind", "unbind", "grant", "expire"];
    let mut text = String::from("@id(\"within-scope\")\npermit (principal, action, resource);\n");
    for i in 1..100 {
        let a = actions[i % actions.len()];
        let _ = writeln!(
            text,
            "@id(\"p{i}\")\nforbid (principal, action == Action::\"{a}\", resource)\nwhen {{ resource.id like \"team{i}/*\" && context.approval_count < 2 }};"
        );
    }
    let engine = Engine::new(&CedarPolicies {
        policies: text,
        schema: None,
    })
    .expect("policies");
    let facts = Facts {
        submitter: "ci",
        approvals: &[],
        logged_at_ms: 1_796_292_000_000,
        credential_state: Some("active"),
    };
    g.bench_function(BenchmarkId::from_parameter("100-spread-over-actions"), |b| {
        b.iter(|| engine.evaluate(black_box(&ev), black_box(&facts)));
    });
    // The worst case: 100 policies with no scope and no leading
    // `resource.id like` test, so every condition must run.
    let mut text = String::from("@id(\"within-scope\")\npermit (principal, action, resource);\n");
    for i in 1..100 {
        let _ = writeln!(
            text,
            "@id(\"p{i}\")\nforbid (principal, action, resource)\nwhen {{ context.approval_count > {} && context.actor.id like \"team{i}/*\" }};",
            100 + i
        );
    }
    let engine = Engine::new(&CedarPolicies {
        policies: text,
        schema: None,
    })
    .expect("policies");
    g.bench_function(BenchmarkId::from_parameter("100-unguarded"), |b| {
        b.iter(|| engine.evaluate(black_box(&ev), black_box(&facts)));
    });
    g.finish();
}

fn approvals(c: &mut Criterion) {
    let ci = SignerKey::from_seed("ci", ALG_ED25519, [1; 32]).expect("key");
    let keys: Vec<SignerKey> = (0..2u8)
        .map(|i| SignerKey::from_seed(&format!("a{i}"), ALG_ED25519, [10 + i; 32]).expect("key"))
        .collect();
    let reg = Registry::new(Policy {
        submitters: vec![SubmitterPolicy {
            id: "ci".into(),
            key: ci.verifier().to_vkey_string(),
            actions: vec!["*".into()],
            targets: vec!["*".into()],
            systems: None,
            not_before: None,
            not_after: None,
            sequenced: false,
            heartbeat_interval_seconds: None,
        }],
        approvers: keys
            .iter()
            .map(|k| approval::ApproverPolicy {
                id: k.name().into(),
                key: k.verifier().to_vkey_string(),
                actions: vec!["*".into()],
                targets: vec!["*".into()],
                systems: None,
                groups: vec!["oncall".into()],
                max_uses: None,
                max_ttl_seconds: None,
            })
            .collect(),
        ..Policy::default()
    })
    .expect("registry");
    let signed: Vec<SignedApproval> = keys
        .iter()
        .map(|k| {
            let a = json!({"id": "A-1", "approver": k.name(), "submitter": "ci", "actions": ["revoke"],
                "target": "team42/*", "not_before": "2026-12-01T00:00:00Z", "not_after": "2026-12-31T00:00:00Z"});
            SignedApproval::from_value(&approval::sign(&a, k, ORIGIN).expect("sign")).expect("parse")
        })
        .collect();
    let ev = event();
    let mut g = c.benchmark_group("approvals_check");
    for n in [1usize, 2] {
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                approval::check(&reg, "ci", &ev, &signed[..n], 1_796_292_000_000, &mut |_, a, k| {
                    a.verify(k, ORIGIN)
                })
                .expect("valid")
            });
        });
    }
    g.finish();
}

criterion_group!(benches, cedar, approvals);
criterion_main!(benches);
