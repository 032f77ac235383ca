//! Issue 15.2: policy as code. The registry carries Cedar policies; the
//! log evaluates them for every event, records its own decision (which
//! policies determined it) in the entry, and refuses an event whose claimed
//! decision differs. A reload that changes the policies under load logs
//! them before they apply, and `provlog audit` re-evaluates every event
//! under the policies in force at its index and reaches the log's
//! decisions. Against the real binary on loopback.

use crate::common::{Server, client, fingerprint_of, get_json, now_plus, post};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const ORIGIN: &str = "cedar.example/log";
const TOKEN: &str = "a-long-enough-admin-token";

const POLICIES_V1: &str = r#"
@id("within-scope")
permit (principal, action, resource);

@id("prod-revocations-need-two")
forbid (principal, action == Action::"revoke", resource)
when { resource.id like "prod/*" && context.approval_count < 2 };

@id("no-rotating-revoked")
forbid (principal, action == Action::"rotate", resource)
when { context has credential && context.credential.state == "revoked" };
"#;

/// v2 adds a freeze of `svc-frozen-*`.
const POLICIES_V2: &str = r#"
@id("within-scope")
permit (principal, action, resource);

@id("prod-revocations-need-two")
forbid (principal, action == Action::"revoke", resource)
when { resource.id like "prod/*" && context.approval_count < 2 };

@id("no-rotating-revoked")
forbid (principal, action == Action::"rotate", resource)
when { context has credential && context.credential.state == "revoked" };

@id("change-freeze")
forbid (principal, action, resource)
when { resource.id like "svc-frozen-*" };
"#;

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, ALG_ED25519, [seed; 32]).expect("key")
}

fn config(ci: &SignerKey, approvers: &[&SignerKey], policies_file: &str) -> String {
    let mut s = format!(
        "[[submitters]]\nid = \"ci\"\nkey = \"{}\"\nactions = [\"*\"]\ntargets = [\"*\"]\n",
        ci.verifier().to_vkey_string()
    );
    for a in approvers {
        use std::fmt::Write as _;
        let _ = write!(
            s,
            "\n[[approvers]]\nid = \"{}\"\nkey = \"{}\"\nactions = [\"*\"]\ntargets = [\"*\"]\ngroups = [\"oncall\"]\n",
            a.name(),
            a.verifier().to_vkey_string()
        );
    }
    s + &format!("\n[cedar]\npolicies_file = \"{policies_file}\"\n")
}

fn approval(id: &str, by: &SignerKey, action: &str, target: &str) -> Value {
    let a = json!({
        "id": id, "approver": by.name(), "submitter": "ci", "actions": [action], "target": target,
        "not_before": now_plus(-600_000), "not_after": now_plus(3_000_000),
    });
    provlog_proto::approval::sign(&a, by, ORIGIN).expect("sign")
}

fn event(id: &str, action: &str, target: &str, decision: &Value, outcome: &str) -> Value {
    json!({
        "event_id": id,
        "occurred_at": "2026-12-03T10:00:00Z",
        "action": action,
        "actor": {"id": "wf/provision", "type": "workflow"},
        "target": {"id": target, "type": "service_account"},
        "authority": {},
        "decision": decision.clone(),
        "outcome": outcome,
        "credential": {"fingerprint": fingerprint_of(target)},
    })
}

fn body(ci: &SignerKey, ev: &Value, approvals: &[Value]) -> Vec<u8> {
    let mut s = provlog_proto::submission::sign_for_log(ev, "ci", ci, ORIGIN).expect("sign");
    if !approvals.is_empty() {
        s["approvals"] = json!(approvals);
    }
    serde_json::to_vec(&s).expect("json")
}

async fn entry(s: &Server, index: u64) -> Value {
    let (st, e) = get_json(&client(), &s.url, &format!("/v1/entries/{index}")).await;
    assert_eq!(st, 200, "{e}");
    e["decoded"].clone()
}

async fn reload(s: &Server) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/admin/reload", s.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("reload");
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_enforces_and_records_cedar_decisions_and_audit_reaches_the_same() {
    let dir = tempfile::tempdir().expect("dir");
    let (ci, alice, bob) = (key("ci", 41), key("alice", 42), key("bob", 43));
    std::fs::write(dir.path().join("policies.cedar"), POLICIES_V1).expect("policies");
    let cfg = dir.path().join("provlog.toml");
    std::fs::write(&cfg, config(&ci, &[&alice, &bob], "policies.cedar")).expect("config");
    let s = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            cfg.to_str().expect("p"),
            "--origin",
            ORIGIN,
            "--admin-token",
            TOKEN,
        ],
    );
    let c = client();
    let allow = json!({"result": "allow"});

    // Allowed: the entry records the log's decision and the policy behind it.
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        body(&ci, &event("e-1", "issue", "svc-a", &allow, "success"), &[]),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let leaf = entry(&s, r["index"].as_u64().expect("index")).await;
    assert_eq!(leaf["policy_decision"]["decision"], "allow", "{leaf}");
    assert_eq!(leaf["policy_decision"]["policies"], json!(["within-scope"]), "{leaf}");
    assert_eq!(
        leaf["policy_decision"]["cedar"].as_str().map(|v| v.starts_with("4.")),
        Some(true),
        "{leaf}"
    );

    // Denied by a forbid: 403 naming the policy; nothing appended.
    let one = approval("A-1", &alice, "revoke", "prod/db");
    let before = s.tree_size().await;
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        body(
            &ci,
            &event("e-2", "revoke", "prod/db", &allow, "success"),
            std::slice::from_ref(&one),
        ),
    )
    .await;
    assert_eq!((st, r["error"]["code"].as_str()), (403, Some("policy_denied")), "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("prod-revocations-need-two"),
        "{r}"
    );
    assert_eq!(s.tree_size().await, before);
    // With two approvers it is allowed (and the approvals are spent only now).
    let two = [one, approval("B-1", &bob, "revoke", "prod/db")];
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        body(&ci, &event("e-2", "revoke", "prod/db", &allow, "success"), &two),
    )
    .await;
    assert_eq!(st, 201, "{r}");

    // The claimed decision must agree: a wrong policy id, or a deny the
    // policies would allow.
    for (id, decision) in [
        ("e-3", json!({"result": "allow", "policy_id": "rot-90d"})),
        ("e-4", json!({"result": "deny"})),
    ] {
        let before = s.tree_size().await;
        let (st, r) = post(
            &c,
            &s.url,
            "/v1/entries",
            body(&ci, &event(id, "rotate", "svc-b", &decision, "success"), &[]),
        )
        .await;
        assert_eq!(
            (st, r["error"]["code"].as_str()),
            (403, Some("decision_mismatch")),
            "{r}"
        );
        assert_eq!(s.tree_size().await, before);
    }
    // A claimed policy id that did determine it is fine.
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        body(
            &ci,
            &event(
                "e-5",
                "rotate",
                "svc-b",
                &json!({"result": "allow", "policy_id": "within-scope"}),
                "success",
            ),
            &[],
        ),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    // Credential state from the map: svc-c's credential revoked, then a
    // rotation of it is denied by policy; the record of that denial (claim
    // deny, outcome failure) is logged with the log's deny.
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        body(&ci, &event("e-6", "revoke", "svc-c", &allow, "success"), &[]),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        body(&ci, &event("e-7", "rotate", "svc-c", &allow, "success"), &[]),
    )
    .await;
    assert_eq!((st, r["error"]["code"].as_str()), (403, Some("policy_denied")), "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no-rotating-revoked"),
        "{r}"
    );
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        body(
            &ci,
            &event("e-8", "rotate", "svc-c", &json!({"result": "deny"}), "failure"),
            &[],
        ),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let leaf = entry(&s, r["index"].as_u64().expect("index")).await;
    assert_eq!(leaf["policy_decision"]["decision"], "deny", "{leaf}");
    assert_eq!(
        leaf["policy_decision"]["policies"],
        json!(["no-rotating-revoked"]),
        "{leaf}"
    );

    // `provlog explain` re-evaluates the recorded decision with the state
    // the policies saw (svc-c's credential revoked before e-8).
    let (code, out) = crate::common::run(&[
        "explain",
        &r["index"].to_string(),
        "--url",
        &s.url,
        "--log-key",
        &s.vkey.to_vkey_string(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let x: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(x["who"]["reevaluated"], x["who"]["policy_decision"], "{x}");
    assert_eq!(x["who"]["reevaluated"]["decision"], "deny", "{x}");
    assert_eq!(x["state"]["before"]["record"]["state"], "revoked", "{x}");

    // A reload with a policy that does not parse is refused, naming the
    // policy's line; the old registry stays in force.
    std::fs::write(
        dir.path().join("policies.cedar"),
        "@id(\"ok\")\npermit (principal, action, resource);\n@id(\"broken\")\npermit (principal, action resource);\n",
    )
    .expect("policies");
    let (st, r) = reload(&s).await;
    assert_eq!((st, r["error"]["code"].as_str()), (422, Some("invalid_config")), "{r}");
    assert!(r["error"]["message"].as_str().unwrap_or("").contains("line 4"), "{r}");
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        body(&ci, &event("e-9", "issue", "svc-frozen-0", &allow, "success"), &[]),
    )
    .await;
    assert_eq!(st, 201, "the old policies stay in force: {r}");

    // A reload that adds a change freeze, under load: every event is
    // decided under the policies in force at its index.
    std::fs::write(dir.path().join("policies.cedar"), POLICIES_V2).expect("policies");
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (url, stop, ci) = (s.url.clone(), stop.clone(), ci.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut logged = Vec::new();
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let target = format!("svc-frozen-{t}-{k}");
                let ev = event(
                    &format!("load-{t}-{k}"),
                    "issue",
                    &target,
                    &json!({"result": "allow"}),
                    "success",
                );
                let (st, r) = post(&c, &url, "/v1/entries", body(&ci, &ev, &[])).await;
                match st {
                    201 => logged.push(r["index"].as_u64().expect("index")),
                    403 => assert_eq!(r["error"]["code"], "policy_denied", "{r}"),
                    _ => panic!("unexpected {st}: {r}"),
                }
                k += 1;
            }
            logged
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (st, r) = reload(&s).await;
    assert_eq!(st, 200, "{r}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut logged = Vec::new();
    for t in tasks {
        logged.extend(t.await.expect("task"));
    }
    // The new policy leaf: every frozen-target event after it was refused.
    let n = s.tree_size().await;
    let mut policy_at = None;
    for i in (0..n).rev() {
        if entry(&s, i).await["kind"] == "policy" {
            policy_at = Some(i);
            break;
        }
    }
    let policy_at = policy_at.expect("a policy leaf");
    let leaf = entry(&s, policy_at).await;
    assert!(
        leaf["policy"]["cedar"]["policies"]
            .as_str()
            .unwrap_or("")
            .contains("change-freeze"),
        "{leaf}"
    );
    assert!(!logged.is_empty(), "some load was logged before the reload");
    assert!(
        logged.iter().all(|&i| i < policy_at),
        "no frozen-target event is logged after the freeze took effect at {policy_at}"
    );
    // The auditor re-evaluates every event and reaches the log's decisions.
    let (ok, out) = s.audit();
    assert!(ok, "{out}");
}
