//! Issue 14.4: the credential map is stored, versioned and read from disk.
//! A historical question ("was this credential active when entry i was
//! logged?") is answered with a proof against the version in force at i
//! and verifies offline; versions older than the retention are pruned and
//! answered `410 pruned`; a restart reads the stored map instead of
//! replaying the log. Against the real binary.

use crate::common::{Server, client, get_json, post, submission};
use provlog_proto::credential::{CredentialAnswer, CredentialState, VerifiedCredential};
use serde_json::{Value, json};

fn ev(id: &str, action: &str, fp: &str) -> Value {
    let mut e = crate::common::event(id, "svc-history");
    e["action"] = json!(action);
    e["credential"] = json!({ "fingerprint": fp });
    e
}

fn verify_at(
    a: &CredentialAnswer,
    fp: &str,
    vkey: &provlog_tlog::keys::VerifierKey,
    at: Option<u64>,
) -> Result<VerifiedCredential, provlog_proto::credential::CredentialError> {
    crate::common::verify_credential_with(a, fp, vkey, 300_000, at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_historical_question_is_proven_against_the_map_in_force_and_old_versions_are_pruned() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let env = [("RUST_LOG", "info"), ("PROVLOG_MAP_RETENTION", "3s")];
    let s = Server::try_start_env(&data, &[], &env).expect("start");
    let (c, dev) = (client(), s.dev_key());
    let (fa, fb) = (
        format!("sha256:{}", "a".repeat(64)),
        format!("sha256:{}", "b".repeat(64)),
    );
    let index = |v: &Value| {
        v["receipt"]["index"]
            .as_u64()
            .or_else(|| v["index"].as_u64())
            .expect("index")
    };
    let mut log = Vec::new();
    for (id, action, fp) in [("h-1", "issue", &fa), ("h-2", "revoke", &fa), ("h-3", "issue", &fb)] {
        let body = serde_json::to_vec(&submission(&dev, &ev(id, action, fp))).expect("json");
        let (st, r) = post(&c, &s.url, "/v1/entries", body).await;
        assert_eq!(st, 201, "{r}");
        log.push(index(&r));
    }
    // Each event is its own batch, closed by its state commitment.
    let (issued, revoked) = (log[0] + 1, log[1] + 1);
    let ask = |fp: &str, at: Option<u64>| {
        let path = at.map_or_else(
            || format!("/v1/credentials/{fp}"),
            |i| format!("/v1/credentials/{fp}?at={i}"),
        );
        let (c, url) = (c.clone(), s.url.clone());
        async move { get_json(&c, &url, &path).await }
    };
    let answer = |v: Value| serde_json::from_value::<CredentialAnswer>(v).expect("answer");
    // Now: revoked.
    let (st, v) = ask(&fa, None).await;
    assert_eq!(st, 200, "{v}");
    let now = verify_at(&answer(v), &fa, &s.vkey, None).expect("current answer");
    assert_eq!(now.state, CredentialState::Revoked);
    // When its issue was committed: active, proven against that version.
    let (st, v) = ask(&fa, Some(issued)).await;
    assert_eq!(st, 200, "{v}");
    let then = answer(v);
    assert_eq!(then.commitment.index, issued);
    let t = verify_at(&then, &fa, &s.vkey, Some(issued)).expect("historical answer");
    assert_eq!(t.state, CredentialState::Active);
    // Before it was issued: unknown, with an absence proof.
    let (st, v) = ask(&fa, Some(log[0])).await;
    assert_eq!(st, 200, "{v}");
    let before = verify_at(&answer(v), &fa, &s.vkey, Some(log[0])).expect("absence then");
    assert_eq!(before.state, CredentialState::Unknown);
    // An answer committed after the entry asked about is refused for it.
    let (_, v) = ask(&fa, Some(revoked)).await;
    let err = verify_at(&answer(v), &fa, &s.vkey, Some(issued)).expect_err("committed after the entry");
    assert!(err.to_string().contains("after entry"), "{err}");
    let (st, v) = ask(&fa, Some(1 << 40)).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("invalid_parameter")),
        "{v}"
    );
    // Past the retention the version in force at the cutoff (the revoke)
    // and every later one stay; older ones are gone.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let (st, v) = ask(&fa, Some(issued)).await;
    assert_eq!((st, v["error"]["code"].as_str()), (410, Some("pruned")), "{v}");
    let (st, v) = ask(&fa, Some(revoked)).await;
    assert_eq!(st, 200, "{v}");
    let kept = verify_at(&answer(v), &fa, &s.vkey, Some(revoked)).expect("kept version");
    assert_eq!(kept.state, CredentialState::Revoked);
    let data_dir = s.data_dir.clone();
    s.stop();
    // A restart reads the stored map: nothing is replayed, and the answers
    // still verify.
    let s = Server::try_start_env(&data_dir, &[], &env).expect("restart");
    let log_text = std::fs::read_to_string(data_dir.join("stderr.log")).expect("log");
    assert!(
        !log_text.contains("caught up with the stored entries"),
        "a restart replays nothing: {log_text}"
    );
    let (st, v) = ask_again(&s, &fb).await;
    assert_eq!(st, 200, "{v}");
    let b = verify_at(&answer(v), &fb, &s.vkey, None).expect("after restart");
    assert_eq!(b.state, CredentialState::Active);
    s.stop();
}

async fn ask_again(s: &Server, fp: &str) -> (u16, Value) {
    get_json(&client(), &s.url, &format!("/v1/credentials/{fp}")).await
}
