//! Issue 15.1: approvers and signed approvals, against the real binary on
//! loopback. The registry names approvers and a two-person rule for
//! production revocations; every way an approval can be wrong is refused
//! with its own code and changes nothing; a valid pair is logged with the
//! event, each approval is used once (also across a restart, and under
//! concurrent submissions of the same approval), and `provlog audit`
//! re-checks it all from the log alone.

use crate::common::{Server, client, get_json, now_plus, post, run, write_key};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::{Value, json};

const ORIGIN: &str = "approvals.example/log";

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, ALG_ED25519, [seed; 32]).expect("key")
}

struct Keys {
    ci: SignerKey,
    alice: SignerKey,
    bob: SignerKey,
    carol: SignerKey,
    mallory: SignerKey,
}

fn keys() -> Keys {
    Keys {
        ci: key("ci", 31),
        alice: key("alice", 32),
        bob: key("bob", 33),
        carol: key("carol", 34),
        mallory: key("mallory", 35),
    }
}

fn config(k: &Keys) -> String {
    format!(
        r#"
[[submitters]]
id = "ci"
key = "{ci}"
actions = ["*"]
targets = ["*"]

[[approvers]]
id = "alice"
key = "{alice}"
actions = ["*"]
targets = ["*"]
groups = ["security-oncall"]
max_uses = 5

[[approvers]]
id = "bob"
key = "{bob}"
actions = ["revoke", "rotate"]
targets = ["prod/*", "svc-*"]
groups = ["security-oncall"]

[[approvers]]
id = "carol"
key = "{carol}"
actions = ["*"]
targets = ["dev/*"]
max_ttl_seconds = 3600

[[approval_rules]]
id = "prod-revocations"
actions = ["revoke"]
targets = ["prod/*"]
approvals = 2
group = "security-oncall"
"#,
        ci = k.ci.verifier().to_vkey_string(),
        alice = k.alice.verifier().to_vkey_string(),
        bob = k.bob.verifier().to_vkey_string(),
        carol = k.carol.verifier().to_vkey_string(),
    )
}

fn start(dir: &std::path::Path, k: &Keys) -> Server {
    let cfg = dir.join("provlog.toml");
    std::fs::write(&cfg, config(k)).expect("config");
    Server::start(
        &dir.join("data"),
        &["--config", cfg.to_str().expect("utf8"), "--origin", ORIGIN],
    )
}

/// An approval by `approver` delegating `action` on `target` to `ci`,
/// valid from ten minutes ago for an hour.
fn approval(id: &str, approver: &str, action: &str, target: &str) -> Value {
    json!({
        "id": id,
        "approver": approver,
        "submitter": "ci",
        "actions": [action],
        "target": target,
        "not_before": now_plus(-600_000),
        "not_after": now_plus(3_000_000),
        "refs": ["CHG-1042"],
    })
}

/// Signs any JSON as an approval for this log (valid or not: the server,
/// not the client library, must refuse a bad one).
fn sign(a: &Value, by: &SignerKey) -> Value {
    let jcs = provlog_proto::json::canonical(a).expect("jcs");
    let sig = by.sign_raw(&provlog_proto::approval::signing_message(ORIGIN, &jcs));
    json!({"approval": a, "signature": provlog_tlog::b64::encode(sig)})
}

fn event(id: &str, action: &str, target: &str, approvers: &[&str]) -> Value {
    let mut authority = json!({});
    if let Some(first) = approvers.first() {
        authority["approved_by"] = json!(first);
    }
    json!({
        "event_id": id,
        "occurred_at": "2026-12-03T10:00:00Z",
        "action": action,
        "actor": {"id": "wf/offboard", "type": "workflow"},
        "target": {"id": target, "type": "service_account"},
        "authority": authority,
        "decision": {"result": "allow"},
        "outcome": "success",
        "credential": {"fingerprint": crate::common::fingerprint_of(target)},
    })
}

fn submission(k: &Keys, ev: &Value, approvals: &[Value]) -> Vec<u8> {
    let mut s = provlog_proto::submission::sign_for_log(ev, "ci", &k.ci, ORIGIN).expect("sign");
    if !approvals.is_empty() {
        s["approvals"] = json!(approvals);
    }
    serde_json::to_vec(&s).expect("json")
}

/// Posts `body` and checks that it was refused with `status` and `code`
/// and that the tree did not grow.
async fn refused(s: &Server, body: Vec<u8>, status: u16, code: &str) -> Value {
    let before = s.tree_size().await;
    let (st, r) = post(&client(), &s.url, "/v1/entries", body).await;
    assert_eq!((st, r["error"]["code"].as_str()), (status, Some(code)), "{r}");
    assert!(r["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    assert_eq!(
        s.tree_size().await,
        before,
        "a refused submission never reaches the tree: {r}"
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_checked_logged_and_used_once() {
    let dir = tempfile::tempdir().expect("dir");
    let k = keys();
    let s = start(dir.path(), &k);
    let c = client();
    let revoke = |id: &str, approvers: &[&str]| event(id, "revoke", "prod/db-main", approvers);

    // The two-person rule: none, one, or one plus an approver outside the
    // group are not enough; the error names the rule.
    let r = refused(&s, submission(&k, &revoke("r-0", &[]), &[]), 403, "approvals_required").await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("prod-revocations"),
        "{r}"
    );
    let a1 = sign(&approval("A-1", "alice", "revoke", "prod/db-main"), &k.alice);
    refused(
        &s,
        submission(&k, &revoke("r-1", &["alice"]), std::slice::from_ref(&a1)),
        403,
        "approvals_required",
    )
    .await;
    let carol = sign(&approval("C-1", "carol", "revoke", "prod/db-main"), &k.carol);
    refused(
        &s,
        submission(&k, &revoke("r-2", &["alice"]), &[a1.clone(), carol]),
        403,
        "approver_out_of_scope",
    )
    .await;
    // Two approvals by one approver are not two approvers.
    let a2 = sign(&approval("A-2", "alice", "revoke", "prod/db-main"), &k.alice);
    refused(
        &s,
        submission(&k, &revoke("r-3", &["alice"]), &[a1.clone(), a2]),
        400,
        "duplicate_approver",
    )
    .await;

    // Every way one approval can be wrong.
    let b = |f: &dyn Fn(&mut Value)| {
        let mut a = approval("B-1", "bob", "revoke", "prod/db-main");
        f(&mut a);
        a
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            sign(&b(&|a| a["not_after"] = json!(now_plus(-60_000))), &k.bob),
            403,
            "approval_expired",
        ),
        (
            sign(&b(&|a| a["not_before"] = json!(now_plus(600_000))), &k.bob),
            403,
            "approval_not_yet_valid",
        ),
        (
            sign(&b(&|a| a["submitter"] = json!("someone-else")), &k.bob),
            403,
            "approval_wrong_submitter",
        ),
        (
            sign(&b(&|a| a["target"] = json!("prod/other")), &k.bob),
            403,
            "approval_does_not_cover",
        ),
        (
            sign(&b(&|a| a["actions"] = json!(["rotate"])), &k.bob),
            403,
            "approval_does_not_cover",
        ),
        // Signed with mallory's key, naming bob.
        (sign(&b(&|_| {}), &k.mallory), 403, "approval_signature_invalid"),
        (
            sign(&b(&|a| a["approver"] = json!("mallory")), &k.mallory),
            403,
            "unknown_approver",
        ),
        // Signed for another log.
        (
            {
                let a = b(&|_| {});
                let jcs = provlog_proto::json::canonical(&a).expect("jcs");
                let sig = k
                    .bob
                    .sign_raw(&provlog_proto::approval::signing_message("other.example/log", &jcs));
                json!({"approval": a, "signature": provlog_tlog::b64::encode(sig)})
            },
            403,
            "approval_signature_invalid",
        ),
        // Altered after signing.
        (
            {
                let mut v = sign(&b(&|_| {}), &k.bob);
                v["approval"]["target"] = json!("prod/*");
                v
            },
            403,
            "approval_signature_invalid",
        ),
        (
            json!({"approval": b(&|_| {}), "signature": "AAAA"}),
            400,
            "invalid_approval",
        ),
        (
            sign(&b(&|a| a["refs"] = json!(["x".repeat(5000)])), &k.bob),
            400,
            "invalid_approval",
        ),
    ];
    for (bad, status, code) in cases {
        refused(
            &s,
            submission(&k, &revoke("r-4", &["alice"]), &[a1.clone(), bad]),
            status,
            code,
        )
        .await;
    }
    // More than an approver may grant.
    let many = sign(&approval("A-9", "alice", "rotate", "svc-a"), &k.alice);
    let mut many_uses = many["approval"].clone();
    many_uses["max_uses"] = json!(6);
    refused(
        &s,
        submission(
            &k,
            &event("x-1", "rotate", "svc-a", &["alice"]),
            &[sign(&many_uses, &k.alice)],
        ),
        403,
        "approval_exceeds_limits",
    )
    .await;
    let mut long = approval("C-2", "carol", "rotate", "dev/a");
    long["not_after"] = json!(now_plus(7_200_000));
    refused(
        &s,
        submission(
            &k,
            &event("x-2", "rotate", "dev/a", &["carol"]),
            &[sign(&long, &k.carol)],
        ),
        403,
        "approval_exceeds_limits",
    )
    .await;
    // The event's authority must name an approval it carries.
    refused(
        &s,
        submission(
            &k,
            &event("x-3", "rotate", "svc-a", &["bob"]),
            std::slice::from_ref(&many),
        ),
        403,
        "approval_claim_mismatch",
    )
    .await;
    // Malformed JSON in the list.
    let mut body: Value = serde_json::from_slice(&submission(&k, &revoke("r-5", &[]), &[])).expect("json");
    body["approvals"] = json!([]);
    refused(&s, serde_json::to_vec(&body).expect("json"), 400, "invalid_approval").await;

    // Two approvers of the group: logged, with both approvals in the leaf.
    let b1 = sign(&approval("B-1", "bob", "revoke", "prod/db-main"), &k.bob);
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        submission(&k, &revoke("r-ok", &["alice"]), &[a1.clone(), b1.clone()]),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let index = r["index"].as_u64().expect("index");
    let (st, e) = get_json(&c, &s.url, &format!("/v1/entries/{index}")).await;
    assert_eq!(st, 200, "{e}");
    let logged = &e["decoded"]["approvals"];
    assert_eq!(logged.as_array().map(Vec::len), Some(2), "{e}");
    assert_eq!(logged[0], a1, "the approval is logged as signed");
    assert_eq!(logged[1], b1);
    // `provlog explain`: who approved it, what changed, when, and the
    // credential's state before and after, each checked with the log key.
    let vkey = s.vkey.to_vkey_string();
    let (code, out) = run(&[
        "explain",
        &index.to_string(),
        "--url",
        &s.url,
        "--log-key",
        &vkey,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let x: Value = serde_json::from_str(&out).expect("explanation JSON");
    assert_eq!(x["verified"], true, "{x}");
    let approvers: Vec<&str> = x["who"]["approvals"]
        .as_array()
        .expect("approvals")
        .iter()
        .map(|a| {
            assert_eq!(a["signature_verified"], true, "{a}");
            a["approval"]["approver"].as_str().expect("approver")
        })
        .collect();
    assert_eq!(approvers, ["alice", "bob"]);
    assert_eq!(
        x["who"]["rules"][0], "prod-revocations: 2 approval(s) from security-oncall",
        "{x}"
    );
    assert_eq!(x["what"]["action"], "revoke");
    assert_eq!(x["state"]["after"]["record"]["state"], "revoked", "{x}");
    assert!(x["state"]["before"]["record"].is_null(), "never seen before: {x}");
    assert!(
        x["when"]["first_checkpoint_size"].as_u64().is_some_and(|n| n > index),
        "{x}"
    );
    let (code, out) = run(&["explain", &index.to_string(), "--url", &s.url, "--log-key", &vkey]);
    assert_eq!(code, 0, "{out}");
    for heading in [
        "WHO APPROVED IT",
        "WHAT CHANGED",
        "WHEN",
        "IDENTITY STATE",
        "✓ approval \"A-1\" by alice",
    ] {
        assert!(out.contains(heading), "{heading} in {out}");
    }
    // Under another log's key nothing verifies; a policy leaf is not an event.
    let other = SignerKey::from_seed("approvals.example/log", ALG_ED25519, [99; 32]).expect("key");
    let (code, out) = run(&[
        "explain",
        &index.to_string(),
        "--url",
        &s.url,
        "--log-key",
        &other.verifier().to_vkey_string(),
    ]);
    assert_ne!(code, 0, "{out}");
    let (st, r) = get_json(&c, &s.url, "/v1/entries/0/explain").await;
    assert_eq!(st, 400, "{r}");

    // A retry of the same submission is the same entry, not a second use.
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        submission(&k, &revoke("r-ok", &["alice"]), &[a1.clone(), b1.clone()]),
    )
    .await;
    assert_eq!((st, r["index"].as_u64()), (200, Some(index)), "{r}");

    // Each approval granted one use: another event with them is refused.
    refused(
        &s,
        submission(&k, &revoke("r-again", &["alice"]), &[a1.clone(), b1.clone()]),
        409,
        "approval_used_up",
    )
    .await;
    // The same id for different contents is a reuse.
    let a1_other = sign(&approval("A-1", "alice", "rotate", "svc-a"), &k.alice);
    refused(
        &s,
        submission(&k, &event("x-4", "rotate", "svc-a", &["alice"]), &[a1_other]),
        409,
        "approval_id_reused",
    )
    .await;

    // `provlog approve` and `provlog submit --approval`.
    let skey = dir.path().join("ci.skey");
    write_key(&skey, &k.ci);
    let akey = dir.path().join("alice.skey");
    write_key(&akey, &k.alice);
    let afile = dir.path().join("alice.approval.json");
    let (code, out) = run(&[
        "approve",
        "--key",
        akey.to_str().expect("p"),
        "--url",
        &s.url,
        "--submitter",
        "ci",
        "--action",
        "rotate",
        "--target",
        "svc-cli",
        "--ttl",
        "15m",
        "--max-uses",
        "2",
        "--ref",
        "CHG-7",
        "--out",
        afile.to_str().expect("p"),
    ]);
    assert_eq!(code, 0, "{out}");
    let signed: Value = serde_json::from_str(&std::fs::read_to_string(&afile).expect("file")).expect("json");
    assert_eq!(signed["approval"]["max_uses"], 2, "{signed}");
    for (i, want) in [(1, 0), (2, 0), (3, 1)] {
        let (code, out) = run(&[
            "submit",
            "--url",
            &s.url,
            "--key",
            skey.to_str().expect("p"),
            "--approval",
            afile.to_str().expect("p"),
            "--action",
            "rotate",
            "--actor",
            "wf/rotate",
            "--target",
            "svc-cli",
            "--approved-by",
            "alice",
            "--event-id",
            &format!("cli-{i}"),
        ]);
        assert_eq!(code != 0, want == 1, "use {i}: {out}");
        if want == 1 {
            assert!(out.contains("approval_used_up"), "{out}");
        }
    }

    // Uses are durable: after a restart the spent approvals stay spent.
    let (ok, out) = s.audit();
    assert!(ok, "the audit re-checks every approval from the log: {out}");
    s.stop();
    let s = start(dir.path(), &k);
    refused(
        &s,
        submission(&k, &revoke("r-after-restart", &["alice"]), &[a1, b1]),
        409,
        "approval_used_up",
    )
    .await;
    let (ok, out) = s.audit();
    assert!(ok, "{out}");
}

/// One approval, many concurrent submissions that carry it: exactly
/// `max_uses` of them are logged, the rest get 409, and the log holds
/// exactly that many uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_use_an_approval_exactly_max_uses_times() {
    let dir = tempfile::tempdir().expect("dir");
    let k = keys();
    let s = start(dir.path(), &k);
    for (id, uses) in [("once", 1u64), ("thrice", 3)] {
        let mut a = approval(id, "alice", "rotate", "svc-*");
        a["max_uses"] = json!(uses);
        let signed = sign(&a, &k.alice);
        let mut tasks = Vec::new();
        for i in 0..24 {
            let body = submission(
                &k,
                &event(&format!("{id}-{i}"), "rotate", &format!("svc-{id}-{i}"), &["alice"]),
                std::slice::from_ref(&signed),
            );
            let url = s.url.clone();
            tasks.push(tokio::spawn(
                async move { post(&client(), &url, "/v1/entries", body).await },
            ));
        }
        let (mut created, mut spent) = (0, 0);
        for t in tasks {
            let (st, r) = t.await.expect("task");
            match st {
                201 => created += 1,
                409 => {
                    assert_eq!(r["error"]["code"], "approval_used_up", "{r}");
                    spent += 1;
                }
                _ => panic!("unexpected answer {st}: {r}"),
            }
        }
        assert_eq!((created, spent), (uses, 24 - uses), "{id}");
    }
    let (ok, out) = s.audit();
    assert!(ok, "{out}");
}
