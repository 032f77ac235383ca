//! Publishing to object storage with the local-filesystem backend
//! (`file://`; the same code path as S3, which `tests/garage.rs` runs
//! against a real Garage cluster): the store mirrors the log byte for
//! byte, readers and `restore` use it with the log stopped, a store holding
//! other bytes is a fork, `ack_after_publish` waits for the store, and an
//! unreachable store is reported as configured.

use crate::common::{
    self, Server, client, event, get, get_json, post, serve_dir, submission, submit_many_plain, wait_log,
};
use provlog_tlog::checkpoint::open_checkpoint;
use provlog_tlog::merkle::verify_consistency;
use provlog_tlog::tile::tiles_for_size;
use serde_json::Value;
use std::path::Path;

fn vkey_file(dir: &Path, s: &Server) -> String {
    let p = dir.join("log.vkey.pub");
    std::fs::write(&p, s.vkey.to_vkey_string()).expect("vkey");
    p.to_str().expect("utf8").to_owned()
}

/// `provlog restore --from FROM --data-dir INTO --log-key VKEY`.
fn restore(from: &str, into: &Path, vkey: &str) -> (i32, String) {
    common::run(&[
        "restore",
        "--from",
        from,
        "--data-dir",
        into.to_str().expect("utf8"),
        "--log-key",
        vkey,
    ])
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let t = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_mirrors_the_log_and_readers_and_restore_use_it_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    let url = format!("file://{}", store.display());
    let s = Server::start(&dir.path().join("log"), &["--publish-url", &url]);
    let c = client();
    let key = s.dev_key();
    submit_many_plain(&c, &s.url, &key, "pub", 300).await;
    wait_log(&c, &s.url, "publication", |v| v["publish"]["published_size"] == 302).await;
    let (_, note_302) = get(&c, &s.url, "/checkpoint").await;
    submit_many_plain(&c, &s.url, &key, "pubb", 400).await;
    let size = 702;
    let info = wait_log(&c, &s.url, "publication", |v| v["publish"]["published_size"] == size).await;
    assert_eq!(info["publish"]["lag_entries"], 0);
    assert!(info["publish"]["error"].is_null(), "{info}");

    // Byte for byte what the log serves, under the same paths.
    let (_, note) = get(&c, &s.url, "/checkpoint").await;
    assert_eq!(std::fs::read(store.join("checkpoint")).expect("checkpoint"), note);
    for t in tiles_for_size(size) {
        let (st, body) = get(&c, &s.url, &format!("/{}", t.path())).await;
        assert_eq!(st, 200);
        assert_eq!(
            std::fs::read(store.join(t.path())).unwrap_or_else(|_| panic!("{} not published", t.path())),
            body,
            "{}",
            t.path()
        );
    }
    let (_, metrics) = get(&c, &s.url, "/metrics").await;
    let metrics = String::from_utf8(metrics).expect("utf8");
    assert!(
        metrics.contains(&format!("provlog_published_size {size}\n")),
        "{metrics}"
    );
    assert!(metrics.contains("provlog_publish_lag_entries 0\n"));

    // The log stops; readers use the store alone (through a plain mirror).
    let vkey = vkey_file(dir.path(), &s);
    let skey = std::fs::read(s.data_dir.join("log.skey")).expect("skey");
    let old_root = open_checkpoint(&note, &s.vkey).expect("cp").0;
    let (st, receipt) = get(&c, &s.url, "/v1/entries/300/receipt").await;
    assert_eq!(st, 200);
    let receipt_file = dir.path().join("receipt-300.json");
    std::fs::write(&receipt_file, receipt).expect("receipt");
    let receipt_file = receipt_file.to_str().expect("utf8").to_owned();
    s.stop();
    let mirror = serve_dir(store.clone()).await;
    let mon = dir.path().join("mon");
    let (code, out) = common::run(&[
        "monitor",
        "--url",
        &mirror,
        "--log-key",
        &vkey,
        "--state-dir",
        mon.to_str().expect("utf8"),
        "--once",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = common::run(&["fsck", "--url", &mirror, "--log-key", &vkey]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("tree size {size}, 0 findings")), "{out}");
    // A reader that saw the store at size 302 needs tile/0/001.p/46 and
    // tile/entries/001.p/46, which the publisher deleted once the full
    // tiles existed: readers cut them from the full ones.
    assert!(!store.join("tile/0/001.p/46").exists(), "replaced partials are deleted");
    assert!(
        !store.join("tile/entries/001.p/46").exists(),
        "replaced partials are deleted"
    );
    let old_view = dir.path().join("old-view");
    copy_dir(&store, &old_view);
    std::fs::write(old_view.join("checkpoint"), &note_302).expect("old checkpoint");
    let old_mirror = serve_dir(old_view.clone()).await;
    let (code, out) = common::run(&["fsck", "--url", &old_mirror, "--log-key", &vkey]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tree size 302, 0 findings"), "{out}");
    let (code, out) = common::run(&[
        "monitor",
        "--url",
        &old_mirror,
        "--log-key",
        &vkey,
        "--state-dir",
        dir.path().join("mon-old").to_str().expect("utf8"),
        "--once",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = restore(&old_mirror, &dir.path().join("restored-302"), &vkey);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("restored 302 entries"), "{out}");

    // A receipt checked against what the store publishes now.
    let (code, out) = common::run(&[
        "verify",
        "--receipt",
        &receipt_file,
        "--log-key",
        &vkey,
        "--url",
        &mirror,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "publishes a checkpoint of size {size} that includes entry 300"
        )),
        "{out}"
    );

    // A directory that names another log key is refused before any work.
    let wrong_key = dir.path().join("wrong-key");
    std::fs::create_dir_all(&wrong_key).expect("mkdir");
    std::fs::write(wrong_key.join("log.vkey"), "other.example/log+01234567+AAAA\n").expect("vkey");
    let (code, out) = restore(&url, &wrong_key, &vkey);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("holds another log key"), "{out}");
    assert!(!wrong_key.join("db").exists());

    // A corrupted copy is refused, naming what is wrong, and restores nothing.
    let bad = dir.path().join("bad-store");
    copy_dir(&store, &bad);
    let tile = bad.join("tile/0/001");
    let mut b = std::fs::read(&tile).expect("tile");
    b[5] ^= 1;
    std::fs::write(&tile, b).expect("write");
    let bad_url = format!("file://{}", bad.display());
    let target = dir.path().join("restored-bad");
    let (code, out) = restore(&bad_url, &target, &vkey);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("tile/0/001"), "{out}");
    // The receipt's entry sits in that tile: checking it against the
    // corrupted copy fails too.
    let bad_mirror = serve_dir(bad.clone()).await;
    let (code, out) = common::run(&[
        "verify",
        "--receipt",
        &receipt_file,
        "--log-key",
        &vkey,
        "--url",
        &bad_mirror,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("do NOT match"), "{out}");
    assert!(!target.join("db").exists());
    let bundle = bad.join("tile/entries/000");
    std::fs::copy(store.join("tile/0/001"), &tile).expect("repair");
    let mut b = std::fs::read(&bundle).expect("bundle");
    let n = b.len();
    b[n - 3] ^= 1;
    std::fs::write(&bundle, b).expect("write");
    let (code, out) = restore(&bad_url, &target, &vkey);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("root") || out.contains("entry"), "{out}");
    assert!(!target.join("db").exists());

    // Restore from the mirror over HTTP, and from the store URL.
    for (name, from) in [("from-http", mirror.clone()), ("from-store", url.clone())] {
        let (code, out) = restore(&from, &dir.path().join(name), &vkey);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(&format!("restored {size} entries")), "{out}");
    }

    // The restored log continues from that size, consistently, with its
    // dedup, search and registry intact.
    let restored = dir.path().join("from-store");
    common::put_log_key(&restored, &skey);
    std::fs::copy(dir.path().join("log/dev.skey"), restored.join("dev.skey")).expect("dev key");
    let s2 = Server::start(&restored, &[]);
    let (new_cp, _) = common::checkpoint(&c, &s2).await;
    assert_eq!(new_cp.size, size, "no policy entry: the registry is the logged one");
    assert_eq!(new_cp.root, old_root.root);
    let (st, r) = post(
        &c,
        &s2.url,
        "/v1/entries",
        serde_json::to_vec(&submission(&key, &common::plain_event("pub-3", "svc-pub-3"))).expect("json"),
    )
    .await;
    assert_eq!(st, 200, "a retry of an event logged before the restore: {r}");
    assert_eq!(r["index"], 5);
    let (st, r) = post(
        &c,
        &s2.url,
        "/v1/entries",
        serde_json::to_vec(&submission(&key, &common::plain_event("after-restore", "svc-new"))).expect("json"),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["index"], size);
    let (_, page) = get_json(&c, &s2.url, "/v1/events?target=svc-pub-17").await;
    assert_eq!(page["entries"][0]["index"], 19, "{page}");
    let (_, proof) = get_json(
        &c,
        &s2.url,
        &format!("/v1/proofs/consistency?from={size}&to={}", size + 1),
    )
    .await;
    let (grown, _) = common::checkpoint(&c, &s2).await;
    let hashes: Vec<Vec<u8>> = proof["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| provlog_tlog::b64::decode(h.as_str().expect("str")).expect("b64"))
        .collect();
    verify_consistency(size, size + 1, &old_root.root, &grown.root, &hashes).expect("consistent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_holding_other_bytes_is_a_fork() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    let url = format!("file://{}", store.display());
    let s = Server::start(&dir.path().join("log"), &["--publish-url", &url]);
    let c = client();
    let key = s.dev_key();
    submit_many_plain(&c, &s.url, &key, "a", 10).await;
    wait_log(&c, &s.url, "publication", |v| v["publish"]["published_size"] == 12).await;
    // Someone else's bytes where this log's tile/0/001 will go.
    std::fs::create_dir_all(store.join("tile/0")).expect("mkdir");
    std::fs::write(store.join("tile/0/001"), vec![7u8; 8192]).expect("write");
    submit_many_plain(&c, &s.url, &key, "b", 600).await;
    let info = wait_log(&c, &s.url, "the alarm", |v| !v["publish"]["alarm"].is_null()).await;
    assert!(
        info["publish"]["alarm"].as_str().expect("alarm").contains("tile/0/001"),
        "{info}"
    );
    assert!(info["publish"]["published_size"].as_u64().expect("size") < 612);
    assert_eq!(
        std::fs::read(store.join("tile/0/001")).expect("kept"),
        vec![7u8; 8192],
        "never overwritten"
    );
    let (st, body) = get_json(&c, &s.url, "/readyz").await;
    assert_eq!(st, 503, "{body}");
    let (_, m) = get(&c, &s.url, "/metrics").await;
    assert!(
        String::from_utf8(m)
            .expect("utf8")
            .contains("provlog_publish_alarm 1\n")
    );
    // The log itself goes on: publication never blocks sequencing.
    submit_many_plain(&c, &s.url, &key, "c", 5).await;
    let skey = std::fs::read(s.data_dir.join("log.skey")).expect("skey");
    s.stop();

    // The same log key on a data directory that lost what the store holds
    // (size 0 against 12 published): an alarm, and nothing is acknowledged
    // on the strength of the store, at once.
    let lost = dir.path().join("lost");
    common::put_log_key(&lost, &skey);
    let good = dir.path().join("good-store");
    std::fs::create_dir_all(&good).expect("mkdir");
    std::fs::copy(store.join("checkpoint"), good.join("checkpoint")).expect("checkpoint");
    // An ack timeout of 10 minutes: a submission that waited for it instead
    // of failing on the alarm would hang the test.
    let conf = dir.path().join("lost.toml");
    std::fs::write(
        &conf,
        format!(
            "[publish]\nurl = \"file://{}\"\nack_after_publish = true\nack_timeout_ms = 600000\n{}",
            good.display(),
            common::dev_submitter(&lost, 7)
        ),
    )
    .expect("config");
    let l = Server::start(&lost, &["--config", conf.to_str().expect("utf8")]);
    let info = wait_log(&c, &l.url, "the alarm", |v| !v["publish"]["alarm"].is_null()).await;
    assert!(
        info["publish"]["alarm"]
            .as_str()
            .expect("alarm")
            .contains("ahead of this log"),
        "{info}"
    );
    let (st, r) = post(
        &c,
        &l.url,
        "/v1/entries",
        serde_json::to_vec(&submission(&l.dev_key(), &event("lost-1", "svc-lost"))).expect("json"),
    )
    .await;
    // Since #13.3 the log signs nothing once it knows its history diverges
    // from the store's, so the submission is refused before it is sequenced
    // (it used to be sequenced and then refused as `not_published`).
    assert_eq!(st, 503, "{r}");
    assert_eq!(r["error"]["code"], "history_diverged", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .expect("message")
            .contains("provlog restore"),
        "{r}"
    );
    l.stop();

    // Another log may not publish over this one.
    let other = Server::try_start(&dir.path().join("other"), &["--publish-url", &url]);
    let err = other.err().expect("refused");
    assert!(err.contains("is not a checkpoint of this log"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_after_publish_and_an_unreachable_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = client();

    // Acknowledged means in the store.
    let store = dir.path().join("store");
    let url = format!("file://{}", store.display());
    let s = Server::start(&dir.path().join("a"), &["--publish-url", &url, "--ack-after-publish"]);
    let key = s.dev_key();
    for i in 0..5 {
        let (st, r) = post(
            &c,
            &s.url,
            "/v1/entries",
            serde_json::to_vec(&submission(&key, &event(&format!("ack-{i}"), "svc-ack"))).expect("json"),
        )
        .await;
        assert_eq!(st, 201, "{r}");
        let index = r["index"].as_u64().expect("index");
        let note = std::fs::read(store.join("checkpoint")).expect("published");
        let (cp, _) = open_checkpoint(&note, &s.vkey).expect("verifies");
        assert!(
            cp.size > index,
            "acknowledged entry {index} but the store is at {}",
            cp.size
        );
    }
    s.stop();

    // A store that cannot be reached: with `required = false` the log runs
    // degraded, says why, and (with ack_after_publish) answers 503.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let conf = |required: bool, data: &std::path::Path| {
        let p = dir.path().join(format!("unreachable-{required}.toml"));
        std::fs::write(
            &p,
            format!(
                "[publish]\nurl = \"s3://provlog/logs\"\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"garage\"\n\
                 required = {required}\nack_after_publish = true\nack_timeout_ms = 1500\n{}",
                common::dev_submitter(data, 8)
            ),
        )
        .expect("config");
        p.to_str().expect("utf8").to_owned()
    };
    let envs = [
        ("RUST_LOG", "warn"),
        ("AWS_ACCESS_KEY_ID", "GK000000000000000000000000"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ),
    ];
    let refused = Server::try_start_env(
        &dir.path().join("b"),
        &["--config", &conf(true, &dir.path().join("b"))],
        &envs,
    );
    let err = refused.err().expect("refused");
    assert!(err.contains("cannot read the object store s3://provlog/logs"), "{err}");

    let s = Server::try_start_env(
        &dir.path().join("c"),
        &["--config", &conf(false, &dir.path().join("c"))],
        &envs,
    )
    .expect("degraded start");
    let key = s.dev_key();
    let sub = serde_json::to_vec(&submission(&key, &event("unpublished", "svc-x"))).expect("json");
    let (st, r) = post(&c, &s.url, "/v1/entries", sub.clone()).await;
    assert_eq!(st, 503, "{r}");
    assert_eq!(r["error"]["code"], "not_published");
    let info: Value = get_json(&c, &s.url, "/v1/log").await.1;
    assert!(info["publish"]["error"].is_string(), "{info}");
    assert!(info["publish"]["lag_entries"].as_u64().expect("lag") >= 1, "{info}");
    // The entry is durable in the log: a retry finds it (and waits again).
    let (st, r) = post(&c, &s.url, "/v1/entries", sub).await;
    assert_eq!(st, 503, "{r}");
    let (_, e) = get_json(&c, &s.url, "/v1/entries/2").await;
    assert_eq!(e["decoded"]["event"]["event_id"], "unpublished");
}
