//! Issue 16.1: per-submitter chains and heartbeats, against the real
//! binary on loopback. A sequenced submitter's entries carry `seq` and
//! `prev`; every way to break the chain is refused with its own code, the
//! expected link and no change to the tree; the chain head is committed in
//! the map and proved to someone holding only the log's key; heartbeats
//! join the chain, `audit` and the monitor check their counts and
//! deadlines; `provlog submit --chain` keeps the chain in a file, resends
//! what a crash left pending, and recovers a lost file from the log.

use crate::common::{Server, client, get_json, post, run, write_key};
use provlog_proto::chain::{ChainAnswer, Heartbeat, HeartbeatSubmission};
use provlog_tlog::b64;
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::{Value, json};

const ORIGIN: &str = "chains.example/log";

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, ALG_ED25519, [seed; 32]).expect("key")
}

fn start(dir: &std::path::Path, ci: &SignerKey, other: &SignerKey, interval: u64) -> Server {
    let cfg = dir.join("provlog.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[submitters]]
id = "ci"
key = "{}"
actions = ["*"]
targets = ["*"]
sequenced = true
heartbeat_interval_seconds = {interval}

[[submitters]]
id = "other"
key = "{}"
actions = ["*"]
targets = ["*"]
"#,
            ci.verifier().to_vkey_string(),
            other.verifier().to_vkey_string()
        ),
    )
    .expect("config");
    Server::start(
        &dir.join("data"),
        &["--config", cfg.to_str().expect("utf8"), "--origin", ORIGIN],
    )
}

fn event(id: &str, link: Option<(u64, &str)>) -> Value {
    let mut e = json!({
        "event_id": id,
        "occurred_at": "2026-12-03T10:00:00Z",
        "action": "rotate",
        "actor": {"id": "wf/rotate", "type": "workflow"},
        "target": {"id": format!("svc-{id}"), "type": "service_account"},
        "authority": {},
        "decision": {"result": "allow"},
        "outcome": "success",
    });
    if let Some((seq, prev)) = link {
        e["seq"] = json!(seq);
        e["prev"] = json!(prev);
    }
    e
}

/// Signs any JSON as an event for this log, valid or not: the server, not
/// the client library, must refuse a bad one.
fn signed(k: &SignerKey, who: &str, ev: &Value) -> Vec<u8> {
    let jcs = provlog_proto::json::canonical(ev).expect("jcs");
    let sig = k.sign_raw(&provlog_proto::submission::signing_message_v2(ORIGIN, &jcs));
    serde_json::to_vec(&json!({
        "event": ev, "submitter": who, "signature": b64::encode(sig), "signature_version": 2,
    }))
    .expect("json")
}

fn heartbeat(k: &SignerKey, who: &str, seq: u64, prev: &str, actions: Option<u64>) -> Vec<u8> {
    let h = Heartbeat {
        seq,
        prev: prev.to_owned(),
        sent_at: "2026-12-03T10:00:00Z".into(),
        actions,
    };
    HeartbeatSubmission::sign(&h, who, k, ORIGIN)
}

/// Posts `body` to `path` and checks the refusal: status, code, the
/// expected link (when given) and an unchanged tree.
async fn refused(s: &Server, path: &str, body: Vec<u8>, status: u16, code: &str, expected: Option<(u64, &str)>) {
    let before = s.tree_size().await;
    let (st, r) = post(&client(), &s.url, path, body).await;
    assert_eq!((st, r["error"]["code"].as_str()), (status, Some(code)), "{r}");
    if let Some((seq, prev)) = expected {
        assert_eq!(r["error"]["expected"], json!({"seq": seq, "prev": prev}), "{r}");
    }
    assert_eq!(s.tree_size().await, before, "a refusal appends nothing: {r}");
}

/// The chain answer for `ci` (from `from`), verified with the log key.
async fn chain(s: &Server, from: Option<u64>) -> (ChainAnswer, provlog_proto::chain::VerifiedChain) {
    let path = match from {
        Some(f) => format!("/v1/chains/ci?from={f}"),
        None => "/v1/chains/ci".to_owned(),
    };
    let (st, v) = get_json(&client(), &s.url, &path).await;
    assert_eq!(st, 200, "{v}");
    let a: ChainAnswer = serde_json::from_value(v).expect("chain answer");
    let now = provlog_proto::time::parse_millis(&crate::common::now_plus(0)).expect("now");
    let verified = a
        .verify_for(
            "ci",
            &provlog_proto::credential::Requirements {
                log_key: &s.vkey,
                witnesses: &[],
                min_witnesses: 0,
                now_millis: now,
                max_age_millis: 3_600_000,
                as_of_entry: None,
            },
        )
        .expect("the chain answer verifies");
    (a, verified)
}

fn leaf_hash_of(receipt: &Value) -> String {
    receipt["leaf_hash"].as_str().expect("leaf_hash").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequenced_chain_has_no_holes_and_its_head_is_proved() {
    let dir = tempfile::tempdir().expect("dir");
    let (ci, other) = (key("ci", 61), key("other", 62));
    let s = start(dir.path(), &ci, &other, 3600);
    let c = client();

    // Registered: the chain starts at the registration's policy leaf.
    let (a, v) = chain(&s, None).await;
    let r = a.record.clone().expect("a chain record");
    assert_eq!((r.seq, r.head_index, r.registered_index), (0, 0, 0));
    assert!(v.holds(0, &b64::decode_array(&r.head).expect("head")));
    let reg = r.head.clone();

    // An unsequenced submitter logs as before; its entry is no link of ci's.
    let (st, o) = post(&c, &s.url, "/v1/entries", signed(&other, "other", &event("o-1", None))).await;
    assert_eq!(st, 201, "{o}");
    let other_hash = leaf_hash_of(&o);

    // Every way to break the chain.
    refused(
        &s,
        "/v1/entries",
        signed(&ci, "ci", &event("c-0", None)),
        409,
        "chain_required",
        Some((1, &reg)),
    )
    .await;
    refused(
        &s,
        "/v1/entries",
        signed(&ci, "ci", &event("c-0", Some((2, &reg)))),
        409,
        "chain_gap",
        Some((1, &reg)),
    )
    .await;
    refused(
        &s,
        "/v1/entries",
        signed(&ci, "ci", &event("c-0", Some((1, &other_hash)))),
        409,
        "chain_fork",
        Some((1, &reg)),
    )
    .await;
    refused(
        &s,
        "/v1/entries",
        signed(&other, "other", &event("o-2", Some((1, &other_hash)))),
        403,
        "not_sequenced",
        None,
    )
    .await;
    refused(
        &s,
        "/v1/heartbeats",
        heartbeat(&other, "other", 1, &other_hash, None),
        403,
        "not_sequenced",
        None,
    )
    .await;
    // Malformed links and heartbeats are plain 400s.
    let mut bad = event("c-0", Some((1, &reg)));
    bad["prev"] = json!("AAAA");
    refused(&s, "/v1/entries", signed(&ci, "ci", &bad), 400, "invalid_event", None).await;
    let mut bad = event("c-0", None);
    bad["seq"] = json!(1);
    refused(&s, "/v1/entries", signed(&ci, "ci", &bad), 400, "invalid_event", None).await;
    refused(
        &s,
        "/v1/heartbeats",
        b"{\"heartbeat\":{}}".to_vec(),
        400,
        "invalid_submission",
        None,
    )
    .await;
    // A heartbeat signed by another key under ci's name.
    refused(
        &s,
        "/v1/heartbeats",
        heartbeat(&other, "ci", 1, &reg, None),
        401,
        "bad_signature",
        None,
    )
    .await;

    // The right link joins; a retry is the same entry; another event at
    // the same position is refused.
    let body = signed(&ci, "ci", &event("c-1", Some((1, &reg))));
    let (st, e1) = post(&c, &s.url, "/v1/entries", body.clone()).await;
    assert_eq!(st, 201, "{e1}");
    let (st, again) = post(&c, &s.url, "/v1/entries", body).await;
    assert_eq!((st, again["index"].clone()), (200, e1["index"].clone()), "{again}");
    let h1 = leaf_hash_of(&e1);
    refused(
        &s,
        "/v1/entries",
        signed(&ci, "ci", &event("c-1b", Some((1, &reg)))),
        409,
        "chain_seq_reused",
        Some((2, &h1)),
    )
    .await;

    // A heartbeat takes the next position; its retry too.
    let hb = heartbeat(&ci, "ci", 2, &h1, Some(1));
    let (st, e2) = post(&c, &s.url, "/v1/heartbeats", hb.clone()).await;
    assert_eq!(st, 201, "{e2}");
    let (st, again) = post(&c, &s.url, "/v1/heartbeats", hb).await;
    assert_eq!((st, again["index"].clone()), (200, e2["index"].clone()), "{again}");
    let h2 = leaf_hash_of(&e2);
    refused(
        &s,
        "/v1/heartbeats",
        heartbeat(&ci, "ci", 2, &h1, Some(0)),
        409,
        "chain_seq_reused",
        Some((3, &h2)),
    )
    .await;
    let (st, e3) = post(
        &c,
        &s.url,
        "/v1/entries",
        signed(&ci, "ci", &event("c-3", Some((3, &h2)))),
    )
    .await;
    assert_eq!(st, 201, "{e3}");
    let h3 = leaf_hash_of(&e3);

    // The committed head proves there is no seq 4, and the entries link.
    let (a, v) = chain(&s, Some(1)).await;
    let r = a.record.clone().expect("record");
    assert_eq!((r.seq, r.head.as_str()), (3, h3.as_str()));
    assert_eq!(r.heartbeat.as_ref().map(|h| h.seq), Some(2));
    assert_eq!(v.entries.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(v.holds(1, &b64::decode_array(&h1).expect("h")));
    assert!(v.count_mismatches.is_empty());
    // A tampered answer fails: a record with another head, an entry list
    // with a hole.
    let mut t = a.clone();
    if let Some(r) = t.record.as_mut() {
        r.seq = 2;
    }
    assert!(t.verify_for("ci", &reqs(&s)).is_err(), "a record the map does not hold");
    let mut t = a.clone();
    t.entries.remove(1);
    assert!(t.verify_for("ci", &reqs(&s)).is_err(), "a hole in the entries");
    assert!(
        a.verify_for("other", &reqs(&s)).is_err(),
        "an answer about another submitter"
    );
    let mut t = a.clone();
    if let Some(h) = t.record.as_mut().and_then(|r| r.heartbeat.as_mut()) {
        h.seq = 9;
    }
    assert!(t.verify_for("ci", &reqs(&s)).is_err(), "a heartbeat beyond the head");

    // `audit` replays the chain from the log alone.
    let (ok, out) = s.audit();
    assert!(ok, "{out}");

    // After a restart the chain goes on where it was.
    let data = s.data_dir.clone();
    s.stop();
    let s = Server::start(
        &data,
        &[
            "--config",
            dir.path().join("provlog.toml").to_str().expect("utf8"),
            "--origin",
            ORIGIN,
        ],
    );
    refused(
        &s,
        "/v1/entries",
        signed(&ci, "ci", &event("c-4", Some((5, &h3)))),
        409,
        "chain_gap",
        Some((4, &h3)),
    )
    .await;
    // A heartbeat whose count is wrong is logged (it is the submitter's
    // word), and audit reports it: seq 4 claims 3 actions, the log holds 1.
    let (st, e4) = post(&c, &s.url, "/v1/heartbeats", heartbeat(&ci, "ci", 4, &h3, Some(3))).await;
    assert_eq!(st, 201, "{e4}");
    let (ok, out) = s.audit();
    assert!(!ok, "{out}");
    assert!(
        out.contains("claims 3 action(s)") && out.contains("the log holds 1"),
        "{out}"
    );
    let (_, v) = chain(&s, Some(2)).await;
    assert_eq!(v.count_mismatches, vec![(4, 3, 1)]);
}

fn reqs(s: &Server) -> provlog_proto::credential::Requirements<'_> {
    provlog_proto::credential::Requirements {
        log_key: &s.vkey,
        witnesses: &[],
        min_witnesses: 0,
        now_millis: provlog_proto::time::parse_millis(&crate::common::now_plus(0)).expect("now"),
        max_age_millis: 3_600_000,
        as_of_entry: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_keeps_the_chain_resends_what_a_crash_left_and_recovers_a_lost_file() {
    let dir = tempfile::tempdir().expect("dir");
    let (ci, other) = (key("ci", 63), key("other", 64));
    let s = start(dir.path(), &ci, &other, 3600);
    let skey = dir.path().join("ci.skey");
    write_key(&skey, &ci);
    let chain_file = dir.path().join("ci.chain.json");
    let (kp, cf) = (
        skey.to_str().expect("p").to_owned(),
        chain_file.to_str().expect("p").to_owned(),
    );
    let vkey = s.vkey.to_vkey_string();
    let submit = |id: &str| {
        let (kp, cf, url) = (kp.clone(), cf.clone(), s.url.clone());
        let id = id.to_owned();
        move || {
            run(&[
                "submit",
                "--key",
                &kp,
                "--url",
                &url,
                "--chain",
                &cf,
                "--action",
                "rotate",
                "--actor",
                "wf/r",
                "--target",
                "svc-a",
                "--event-id",
                &id,
            ])
        }
    };
    // The file is created from the log's answer, then kept.
    let (code, out) = tokio::task::spawn_blocking(submit("cli-1")).await.expect("t");
    assert_eq!(code, 0, "{out}");
    let (code, out) = tokio::task::spawn_blocking(submit("cli-2")).await.expect("t");
    assert_eq!(code, 0, "{out}");
    let file: Value = serde_json::from_slice(&std::fs::read(&chain_file).expect("chain file")).expect("json");
    assert_eq!(
        (file["seq"].as_u64(), file["since_heartbeat"].as_u64()),
        (Some(2), Some(2)),
        "{file}"
    );
    // The heartbeat counts the two events.
    let (code, out) = tokio::task::spawn_blocking({
        let (kp, cf, url) = (kp.clone(), cf.clone(), s.url.clone());
        move || run(&["heartbeat", "--key", &kp, "--url", &url, "--chain", &cf])
    })
    .await
    .expect("t");
    assert_eq!(code, 0, "{out}");
    let (code, out) = tokio::task::spawn_blocking({
        let (cf, url, vkey) = (cf.clone(), s.url.clone(), vkey.clone());
        move || run(&["chain", "ci", "--url", &url, "--log-key", &vkey, "--chain", &cf])
    })
    .await
    .expect("t");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("has logged exactly 3 chain entries"), "{out}");

    // A crash after the pending submission was written and sent, before
    // the answer was recorded: the file names the old head and holds the
    // submission; the next run sends it again (a retry: same entry) and
    // goes on after it.
    let before: Value = serde_json::from_slice(&std::fs::read(&chain_file).expect("f")).expect("j");
    let ev = json!({
        "event_id": "cli-4", "occurred_at": crate::common::now_plus(0), "action": "rotate",
        "actor": {"id": "wf/r", "type": "workflow"}, "target": {"id": "svc-a", "type": "service_account"},
        "authority": {}, "decision": {"result": "allow"}, "outcome": "success",
        "seq": 4, "prev": before["head"],
    });
    let body = provlog_proto::submission::sign_for_log(&ev, "ci", &ci, ORIGIN).expect("sign");
    let (st, r4) = post(&client(), &s.url, "/v1/entries", serde_json::to_vec(&body).expect("j")).await;
    assert_eq!(st, 201, "{r4}");
    let mut crashed = before.clone();
    crashed["pending"] = json!({"kind": "event", "body": body});
    std::fs::write(&chain_file, serde_json::to_vec(&crashed).expect("j")).expect("write");
    let (code, out) = tokio::task::spawn_blocking(submit("cli-5")).await.expect("t");
    assert_eq!(code, 0, "{out}");
    let file: Value = serde_json::from_slice(&std::fs::read(&chain_file).expect("f")).expect("j");
    assert_eq!(file["seq"].as_u64(), Some(5), "{file}");
    assert!(file.get("pending").is_none(), "{file}");

    // A lost file is recovered from the log (verified with its key).
    std::fs::remove_file(&chain_file).expect("rm");
    let (code, out) = tokio::task::spawn_blocking({
        let (kp, cf, url, vkey) = (kp.clone(), cf.clone(), s.url.clone(), vkey.clone());
        move || {
            run(&[
                "submit",
                "--key",
                &kp,
                "--url",
                &url,
                "--chain",
                &cf,
                "--chain-log-key",
                &vkey,
                "--action",
                "rotate",
                "--actor",
                "wf/r",
                "--target",
                "svc-a",
                "--event-id",
                "cli-6",
            ])
        }
    })
    .await
    .expect("t");
    assert_eq!(code, 0, "{out}");
    let file: Value = serde_json::from_slice(&std::fs::read(&chain_file).expect("f")).expect("j");
    assert_eq!(file["seq"].as_u64(), Some(6), "{file}");

    // A chain file whose head the log does not hold (a lost or replaced
    // entry) fails `provlog chain`.
    let mut forged = file.clone();
    forged["head"] = json!(b64::encode([9u8; 32]));
    let ff = dir.path().join("forged.json");
    std::fs::write(&ff, serde_json::to_vec(&forged).expect("j")).expect("w");
    let (code, out) = tokio::task::spawn_blocking({
        let (ff, url, vkey) = (ff.to_str().expect("p").to_owned(), s.url.clone(), vkey.clone());
        move || run(&["chain", "ci", "--url", &url, "--log-key", &vkey, "--chain", &ff])
    })
    .await
    .expect("t");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does NOT hold"), "{out}");
    let (ok, out) = s.audit();
    assert!(ok, "{out}");
    // A monitor finds nothing wrong: every heartbeat is within its hour.
    let (code, out) = tokio::task::spawn_blocking({
        let (url, vkey, d) = (s.url.clone(), vkey.clone(), dir.path().join("m"));
        move || {
            run(&[
                "monitor",
                "--url",
                &url,
                "--log-key",
                &vkey,
                "--state-dir",
                d.to_str().expect("p"),
                "--once",
            ])
        }
    })
    .await
    .expect("t");
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_heartbeat_is_an_alarm() {
    let dir = tempfile::tempdir().expect("dir");
    let (ci, other) = (key("ci", 65), key("other", 66));
    let s = start(dir.path(), &ci, &other, 1);
    let vkey = s.vkey.to_vkey_string();
    let monitor = |state: &'static str| {
        let (url, vkey, d) = (s.url.clone(), vkey.clone(), dir.path().join(state));
        move || {
            run(&[
                "monitor",
                "--url",
                &url,
                "--log-key",
                &vkey,
                "--state-dir",
                d.to_str().expect("p"),
                "--once",
            ])
        }
    };
    let (a, _) = chain(&s, None).await;
    let reg = a.record.expect("record").head;
    // Two seconds of silence with an interval of one.
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let (code, out) = tokio::task::spawn_blocking(monitor("m2")).await.expect("t");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("heartbeat_overdue") && out.contains("\"ci\""), "{out}");
    // The heartbeat that comes now is logged, and audit calls it late.
    let (st, r) = post(
        &client(),
        &s.url,
        "/v1/heartbeats",
        heartbeat(&ci, "ci", 1, &reg, Some(0)),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let (ok, out) = s.audit();
    assert!(!ok && out.contains("over its interval of 1 s"), "{out}");
}
