//! Issue 15.3: one log per signature. An event logged in one log and
//! replayed verbatim into another that registers the same submitter key
//! was accepted (the version 1 signature covers the event only). Version 2
//! signatures cover the log's origin; a log with `require_origin_binding`
//! refuses version 1. Against the real binary, three logs on loopback.

use crate::common::{Server, client, event, post, submission, write_key};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::Value;

fn start(dir: &std::path::Path, name: &str, origin: &str, ci: &SignerKey, extra: &[&str]) -> Server {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[[submitters]]\nid = \"ci\"\nkey = {:?}\nactions = [\"*\"]\ntargets = [\"*\"]\n",
            ci.verifier().to_vkey_string()
        ),
    )
    .expect("config");
    let mut args = vec!["--config", cfg.to_str().expect("utf8"), "--origin", origin];
    args.extend_from_slice(extra);
    Server::start(&dir.join(name), &args)
}

fn for_log(key: &SignerKey, e: &Value, origin: &str) -> Vec<u8> {
    let s = provlog_proto::submission::sign_for_log(e, key.name(), key, origin).expect("sign");
    serde_json::to_vec(&s).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_signed_for_one_log_is_refused_by_another() {
    let dir = tempfile::tempdir().expect("dir");
    let ci = SignerKey::from_seed("ci", ALG_ED25519, [21; 32]).expect("key");
    let a = start(dir.path(), "a", "a.example/log", &ci, &[]);
    let b = start(dir.path(), "b", "b.example/log", &ci, &[]);
    let strict = start(
        dir.path(),
        "strict",
        "strict.example/log",
        &ci,
        &["--require-origin-binding"],
    );
    let c = client();

    // The reproduction: a version 1 event logged in A is accepted by B
    // verbatim. Still so without the requirement (compatibility)…
    let v1 = serde_json::to_vec(&submission(&ci, &event("replayed-1", "svc-a"))).expect("json");
    let (st, r) = post(&c, &a.url, "/v1/entries", v1.clone()).await;
    assert_eq!(st, 201, "{r}");
    let (st, r) = post(&c, &b.url, "/v1/entries", v1.clone()).await;
    assert_eq!(st, 201, "a log without the requirement keeps accepting version 1: {r}");
    // …and refused, with nothing appended, by a log that requires binding.
    let before = strict.tree_size().await;
    let (st, r) = post(&c, &strict.url, "/v1/entries", v1).await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (400, Some("origin_binding_required")),
        "{r}"
    );
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("strict.example/log"),
        "the error names the origin to sign: {r}"
    );
    assert_eq!(
        strict.tree_size().await,
        before,
        "a refused submission never reaches the tree"
    );

    // A version 2 event for A: A takes it; B and the strict log refuse it,
    // because the signature covers A's origin.
    let v2 = for_log(&ci, &event("bound-1", "svc-b"), "a.example/log");
    let (st, r) = post(&c, &a.url, "/v1/entries", v2.clone()).await;
    assert_eq!(st, 201, "{r}");
    for other in [&b, &strict] {
        let before = other.tree_size().await;
        let (st, r) = post(&c, &other.url, "/v1/entries", v2.clone()).await;
        assert_eq!((st, r["error"]["code"].as_str()), (401, Some("bad_signature")), "{r}");
        assert_eq!(other.tree_size().await, before);
    }
    // The same through the batch endpoint.
    let batch = serde_json::to_vec(&serde_json::json!({
        "submissions": [serde_json::from_slice::<Value>(&v2).expect("json")]
    }))
    .expect("json");
    let (st, r) = post(&c, &strict.url, "/v1/entries/batch", batch).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["results"][0]["error"]["code"], "bad_signature", "{r}");

    // Signed for the strict log, it is accepted there.
    let own = for_log(&ci, &event("bound-2", "svc-c"), "strict.example/log");
    let (st, r) = post(&c, &strict.url, "/v1/entries", own).await;
    assert_eq!(st, 201, "{r}");

    // `provlog submit` binds the origin by default (it asks the log), so
    // the strict log takes it; asked for version 1, the strict log refuses.
    let skey = dir.path().join("ci.skey");
    write_key(&skey, &ci);
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, format!("{}\n", event("cli-1", "svc-d"))).expect("events");
    let cli = |extra: &[&str]| {
        let mut args = vec![
            "submit",
            "--url",
            &strict.url,
            "--key",
            skey.to_str().expect("p"),
            file.to_str().expect("p"),
        ];
        args.extend_from_slice(extra);
        crate::common::run(&args)
    };
    let (code, out) = cli(&[]);
    assert_eq!(code, 0, "{out}");
    std::fs::write(&file, format!("{}\n", event("cli-2", "svc-e"))).expect("events");
    let (code, out) = cli(&["--signature-version", "1"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("origin_binding_required"), "{out}");

    // Auditors re-verify every signature with the log's origin: version 1
    // and version 2 leaves alike.
    for s in [&a, &b, &strict] {
        let (ok, out) = s.audit();
        assert!(ok, "{out}");
    }
}
