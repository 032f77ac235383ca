//! Issue 16.2: signed refusals, against the real binary. A refusal of
//! authority (scope, validity window, approvals, chain) of an
//! authenticated submission carries the log's signed statement, which
//! verifies offline with the log's key and names the submission and the
//! registry it was judged under; `provlog verify --refusal` checks it, and
//! with `--url` finds that registry in the log and re-runs the scope check.
//! Malformed or unauthenticated submissions get plain errors: the log signs
//! nothing for someone who did not prove who they are.

use crate::common::{Server, client, post, run};
use provlog_proto::refusal::SignedRefusal;
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::{Value, json};

const ORIGIN: &str = "refusals.example/log";

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, ALG_ED25519, [seed; 32]).expect("key")
}

fn start(dir: &std::path::Path, ci: &SignerKey, seq: &SignerKey) -> Server {
    let cfg = dir.join("provlog.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[submitters]]
id = "ci"
key = "{}"
actions = ["rotate", "issue"]
targets = ["svc-*"]

[[submitters]]
id = "seq"
key = "{}"
actions = ["*"]
targets = ["*"]
sequenced = true
"#,
            ci.verifier().to_vkey_string(),
            seq.verifier().to_vkey_string()
        ),
    )
    .expect("config");
    Server::start(
        &dir.join("data"),
        &["--config", cfg.to_str().expect("utf8"), "--origin", ORIGIN],
    )
}

fn event(id: &str, action: &str, target: &str) -> Value {
    json!({
        "event_id": id,
        "occurred_at": "2026-12-03T10:00:00Z",
        "action": action,
        "actor": {"id": "wf/x", "type": "workflow"},
        "target": {"id": target, "type": "service_account"},
        "authority": {},
        "decision": {"result": "allow"},
        "outcome": "success",
    })
}

fn signed(k: &SignerKey, who: &str, ev: &Value) -> Value {
    provlog_proto::submission::sign_for_log(ev, who, k, ORIGIN).expect("sign")
}

/// Posts `sub` and returns the error body, checking status, code and that
/// nothing was appended.
async fn refused(s: &Server, path: &str, body: Vec<u8>, status: u16, code: &str) -> Value {
    let before = s.tree_size().await;
    let (st, r) = post(&client(), &s.url, path, body).await;
    assert_eq!((st, r["error"]["code"].as_str()), (status, Some(code)), "{r}");
    assert_eq!(s.tree_size().await, before, "{r}");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_of_authority_are_signed_and_verify_offline() {
    let dir = tempfile::tempdir().expect("dir");
    let (ci, sq, mallory) = (key("ci", 81), key("seq", 82), key("ci", 83));
    let s = start(dir.path(), &ci, &sq);
    let vkey = s.vkey.to_vkey_string();

    // Out of scope: a signed refusal naming this submission and registry 0.
    let sub = signed(&ci, "ci", &event("r-1", "revoke", "db-main"));
    let r = refused(
        &s,
        "/v1/entries",
        serde_json::to_vec(&sub).expect("j"),
        403,
        "out_of_scope",
    )
    .await;
    let refusal = SignedRefusal::from_value(&r["error"]["refusal"]).expect("a signed refusal");
    refusal.verify(&s.vkey).expect("signed by the log");
    refusal.covers(&sub).expect("about this submission");
    let x = &refusal.refusal;
    assert_eq!(
        (
            x.code.as_str(),
            x.policy_index,
            x.submitter.as_str(),
            x.event_id.as_deref(),
            x.kind.as_str()
        ),
        ("out_of_scope", 0, "ci", Some("r-1"), "event")
    );
    assert!(
        refusal
            .covers(&signed(&ci, "ci", &event("r-2", "revoke", "db-main")))
            .is_err()
    );

    // The CLI checks it offline, and against the log's own registry.
    let rf = dir.path().join("refusal.json");
    let sf = dir.path().join("submission.json");
    std::fs::write(&rf, serde_json::to_vec(&r).expect("j")).expect("w");
    std::fs::write(&sf, serde_json::to_vec(&sub).expect("j")).expect("w");
    let (rfs, sfs) = (rf.to_str().expect("p").to_owned(), sf.to_str().expect("p").to_owned());
    let (code, out) = tokio::task::spawn_blocking({
        let (rfs, sfs, vkey, url) = (rfs.clone(), sfs.clone(), vkey.clone(), s.url.clone());
        move || {
            run(&[
                "verify",
                "--refusal",
                &rfs,
                "--submission",
                &sfs,
                "--log-key",
                &vkey,
                "--url",
                &url,
            ])
        }
    })
    .await
    .expect("t");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("it is about this submission") && out.contains("refuses the event again"),
        "{out}"
    );
    // Altered, or about another submission, or under another key: no.
    let mut t = r.clone();
    t["error"]["refusal"]["refusal"]["code"] = json!("approvals_required");
    let tf = dir.path().join("tampered.json");
    std::fs::write(&tf, serde_json::to_vec(&t).expect("j")).expect("w");
    let other = dir.path().join("other.json");
    std::fs::write(
        &other,
        serde_json::to_vec(&signed(&ci, "ci", &event("r-9", "revoke", "db-main"))).expect("j"),
    )
    .expect("w");
    let elsewhere = key(ORIGIN, 84).verifier().to_vkey_string();
    for args in [
        vec!["verify", "--refusal", tf.to_str().expect("p"), "--log-key", &vkey],
        vec![
            "verify",
            "--refusal",
            &rfs,
            "--submission",
            other.to_str().expect("p"),
            "--log-key",
            &vkey,
        ],
        vec!["verify", "--refusal", &rfs, "--log-key", &elsewhere],
    ] {
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let (code, out) = tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            run(&a)
        })
        .await
        .expect("t");
        assert_eq!(code, 1, "{out}");
    }

    // A chain refusal is signed too.
    let r = refused(
        &s,
        "/v1/entries",
        serde_json::to_vec(&signed(&sq, "seq", &event("s-1", "rotate", "svc-a"))).expect("j"),
        409,
        "chain_required",
    )
    .await;
    let c = SignedRefusal::from_value(&r["error"]["refusal"]).expect("signed");
    c.verify(&s.vkey).expect("verifies");
    assert_eq!(c.refusal.code, "chain_required");
    assert!(r["error"]["expected"]["seq"] == json!(1), "{r}");

    // In a batch, each refused item carries its own.
    let batch = json!({"submissions": [
        signed(&ci, "ci", &event("b-1", "rotate", "svc-a")),
        signed(&ci, "ci", &event("b-2", "grant", "svc-a")),
    ]});
    let (st, b) = post(
        &client(),
        &s.url,
        "/v1/entries/batch",
        serde_json::to_vec(&batch).expect("j"),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["results"][0]["status"], json!(201), "{b}");
    let item = &b["results"][1]["error"];
    assert_eq!(item["code"], json!("out_of_scope"), "{b}");
    let br = SignedRefusal::from_value(&item["refusal"]).expect("signed");
    br.verify(&s.vkey).expect("verifies");
    br.covers(&batch["submissions"][1]).expect("about that item");

    // Unauthenticated or malformed: plain errors, nothing signed.
    for (body, status, code) in [
        (
            serde_json::to_vec(&signed(&mallory, "ci", &event("m-1", "revoke", "db-main"))).expect("j"),
            401,
            "bad_signature",
        ),
        (
            serde_json::to_vec(&signed(&mallory, "nobody", &event("m-2", "rotate", "svc-a"))).expect("j"),
            401,
            "unknown_submitter",
        ),
        (b"{\"event\":{}}".to_vec(), 400, "invalid_submission"),
    ] {
        let r = refused(&s, "/v1/entries", body, status, code).await;
        assert!(
            r["error"].get("refusal").is_none(),
            "nothing signed for an unauthenticated request: {r}"
        );
    }

    // `provlog submit --refusals` keeps them for the submitter.
    let skey = dir.path().join("ci.skey");
    crate::common::write_key(&skey, &ci);
    let kept = dir.path().join("refusals.jsonl");
    let (code, out) = tokio::task::spawn_blocking({
        let (k, kept, url) = (
            skey.to_str().expect("p").to_owned(),
            kept.to_str().expect("p").to_owned(),
            s.url.clone(),
        );
        move || {
            run(&[
                "submit",
                "--key",
                &k,
                "--url",
                &url,
                "--refusals",
                &kept,
                "--action",
                "revoke",
                "--actor",
                "wf/x",
                "--target",
                "db-main",
            ])
        }
    })
    .await
    .expect("t");
    assert_eq!(code, 1, "{out}");
    let line = std::fs::read_to_string(&kept).expect("kept");
    let kr = SignedRefusal::from_value(&serde_json::from_str(line.trim()).expect("json")).expect("signed");
    kr.verify(&s.vkey).expect("verifies");
    let (ok, out) = s.audit();
    assert!(ok, "{out}");
}
