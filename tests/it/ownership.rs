//! Issue 14.3: a credential belongs to the target that first made it
//! active; no other target's event may change it, and a retired credential
//! is never made active again. Against the real binary, with two teams'
//! submitters scoped to their own targets.

use crate::common::{Server, client, post, submission};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::{Value, json};

fn key(id: &str) -> SignerKey {
    let seed = provlog_tlog::merkle::sha256(&[b"ownership", id.as_bytes()]);
    SignerKey::from_seed(id, ALG_ED25519, seed).expect("key")
}

fn ev(id: &str, action: &str, target: &str, fp: &str) -> Value {
    let mut e = crate::common::event(id, target);
    e["action"] = json!(action);
    e["credential"] = json!({ "fingerprint": fp });
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_team_cannot_revoke_or_revive_a_credential() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, svc) = (key("db-team"), key("svc-team"));
    let cfg = dir.path().join("provlog.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[submitters]]\nid = \"db-team\"\nkey = {:?}\nactions = [\"*\"]\ntargets = [\"db-*\"]\n\
             [[submitters]]\nid = \"svc-team\"\nkey = {:?}\nactions = [\"*\"]\ntargets = [\"svc-*\"]\n",
            db.verifier().to_vkey_string(),
            svc.verifier().to_vkey_string()
        ),
    )
    .expect("config");
    let s = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("utf8")]);
    let c = client();
    let send = |k: &SignerKey, e: &Value| {
        let (c, url, body) = (
            c.clone(),
            s.url.clone(),
            serde_json::to_vec(&submission(k, e)).expect("json"),
        );
        async move { post(&c, &url, "/v1/entries", body).await }
    };
    let a = format!("sha256:{}", "a".repeat(64));
    let (st, r) = send(&db, &ev("db-1", "issue", "db-main", &a)).await;
    assert_eq!(st, 201, "{r}");
    // The reproduction: svc-team logs an in-scope revoke (target svc-a)
    // that names db-main's credential.
    let (st, r) = send(&svc, &ev("svc-1", "revoke", "svc-a", &a)).await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (403, Some("credential_owned_by_other")),
        "{r}"
    );
    assert!(
        r["error"]["message"].as_str().unwrap_or("").contains("db-main"),
        "names the owner: {r}"
    );
    // The owner revokes it; then neither team can make it active again.
    let (st, r) = send(&db, &ev("db-2", "revoke", "db-main", &a)).await;
    assert_eq!(st, 201, "{r}");
    let (st, r) = send(&svc, &ev("svc-2", "issue", "svc-a", &a)).await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (403, Some("credential_owned_by_other")),
        "{r}"
    );
    let (st, r) = send(&db, &ev("db-3", "issue", "db-main", &a)).await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (403, Some("credential_retired")),
        "{r}"
    );
    // A rotation may not supersede another team's credential.
    let b = format!("sha256:{}", "b".repeat(64));
    let mut rot = ev("svc-3", "rotate", "svc-a", &b);
    rot["credential"]["previous_fingerprint"] = json!(a);
    let (st, r) = send(&svc, &rot).await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (403, Some("credential_owned_by_other")),
        "{r}"
    );
    // The rules survive a restart: the ledger is rebuilt from the entries.
    s.stop();
    let s = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("utf8")]);
    let body = serde_json::to_vec(&submission(&db, &ev("db-4", "issue", "db-main", &a))).expect("json");
    let (st, r) = post(&c, &s.url, "/v1/entries", body).await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (403, Some("credential_retired")),
        "{r}"
    );
    // Only the two accepted events name the credential.
    let (_, v) = crate::common::get_json(&c, &s.url, &format!("/v1/events?credential={a}")).await;
    assert_eq!(v["entries"].as_array().map(Vec::len), Some(2), "{v}");
    s.stop();
}

/// Issue 14.4: a genuine answer about another credential (an active one,
/// offered when a revoked one is asked about) must not verify for the one
/// asked about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_about_another_credential_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("data"), &[]);
    let (c, dev) = (client(), s.dev_key());
    let (active, revoked) = (
        format!("sha256:{}", "a".repeat(64)),
        format!("sha256:{}", "e".repeat(64)),
    );
    for (id, action, target, fp) in [
        ("x-1", "issue", "svc-a", &active),
        ("x-2", "issue", "svc-r", &revoked),
        ("x-3", "revoke", "svc-r", &revoked),
    ] {
        let body = serde_json::to_vec(&submission(&dev, &ev(id, action, target, fp))).expect("json");
        let (st, r) = post(&c, &s.url, "/v1/entries", body).await;
        assert_eq!(st, 201, "{r}");
    }
    let (_, genuine) = crate::common::get_json(&c, &s.url, &format!("/v1/credentials/{active}")).await;
    assert_eq!(genuine["state"], "active");
    // A mirror that answers every credential question with that answer.
    let body = genuine.to_string();
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([("content-type", "application/json")], body) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mirror = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let vkey = s.vkey.to_vkey_string();
    let saved = dir.path().join("answer.json");
    std::fs::write(&saved, genuine.to_string()).expect("write");
    let (code, out, code_any, code_right) = tokio::task::spawn_blocking({
        let (mirror, vkey, revoked, active, saved) = (mirror, vkey, revoked.clone(), active.clone(), saved);
        move || {
            let (code, out) = crate::common::run(&["credential", &revoked, "--url", &mirror, "--log-key", &vkey]);
            let file = saved.to_str().expect("utf8").to_owned();
            let verify = |fp: &str| {
                crate::common::run(&["verify", "--log-key", &vkey, "--credential", &file, "--fingerprint", fp]).0
            };
            let any = crate::common::run(&["verify", "--log-key", &vkey, "--credential", &file]).0;
            assert_ne!(
                verify(&revoked),
                0,
                "verify --fingerprint of the revoked one refuses the active answer"
            );
            (code, out, any, verify(&active))
        }
    })
    .await
    .expect("task");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("not about") && !out.contains("active as of"), "{out}");
    assert_eq!(code_right, 0, "the answer itself is genuine");
    assert_ne!(
        code_any, 0,
        "verify --credential needs the fingerprint it must be about"
    );
    s.stop();
}

/// Issue 14.2/14.4: an idle log commits its credential map every
/// `state_commit_interval_ms`, so an answer stays provably current; with
/// commitments far apart, the same question gets an answer that a verifier
/// with a short `max_age` refuses as stale instead of showing it as current.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_log_keeps_its_answers_fresh_and_a_stale_one_is_refused() {
    use provlog_proto::credential::{CredentialAnswer, CredentialError};
    let answer_after_idle = |interval: &'static str| async move {
        let dir = tempfile::tempdir().expect("dir");
        let s = Server::try_start_env(
            &dir.path().join("data"),
            &[],
            &[("RUST_LOG", "warn"), ("PROVLOG_STATE_COMMIT_INTERVAL_MS", interval)],
        )
        .expect("start");
        let (c, dev) = (client(), s.dev_key());
        let fp = format!("sha256:{}", "f".repeat(64));
        let body = serde_json::to_vec(&submission(&dev, &ev("idle-1", "issue", "svc-idle", &fp))).expect("json");
        let (st, r) = post(&c, &s.url, "/v1/entries", body).await;
        assert_eq!(st, 201, "{r}");
        let size_after_event = crate::common::checkpoint(&c, &s).await.0.size;
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        let (st, v) = crate::common::get_json(&c, &s.url, &format!("/v1/credentials/{fp}")).await;
        assert_eq!(st, 200, "{v}");
        let answer: CredentialAnswer = serde_json::from_value(v).expect("answer");
        let grown = crate::common::checkpoint(&c, &s).await.0.size - size_after_event;
        let vkey = s.vkey.clone();
        s.stop();
        (answer, fp, vkey, grown)
    };
    let strict = |a: &CredentialAnswer, fp: &str, vkey: &provlog_tlog::keys::VerifierKey| {
        crate::common::verify_credential_with(a, fp, vkey, 1500, None)
    };
    // Commitments every 200 ms: the idle log appended some, and the answer
    // is at most about that old.
    let (a, fp, vkey, grown) = answer_after_idle("200").await;
    assert!(grown >= 3, "an idle log appends state commitments ({grown} entries)");
    let v = strict(&a, &fp, &vkey).expect("a fresh answer verifies under a 1.5 s max age");
    assert_eq!(v.state, provlog_proto::credential::CredentialState::Active);
    // Commitments an hour apart: the last one is 2.5 s old, and refused.
    let (a, fp, vkey, grown) = answer_after_idle("3600000").await;
    assert_eq!(grown, 0, "no idle commitment within the interval");
    let err = strict(&a, &fp, &vkey).expect_err("stale");
    assert!(matches!(err, CredentialError::Stale { .. }), "{err}");
    assert!(err.to_string().contains("not current"), "{err}");
}
