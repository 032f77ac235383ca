//! `provlog fsck` offline (data directory) and over HTTP (tiles), on a
//! healthy log, a corrupted data directory and a tampering mirror; and the
//! server refusing to start on the corrupted directory.

use crate::common::{Server, client, event, run, submission, tamper_proxy};
use provlog_storage::{Store, StoreOptions};
use provlog_tlog::merkle::HashSource;
use provlog_tlog::merkle::NodeId;
use std::path::Path;

/// `provlog fsck ARGS…`: exit code and stdout+stderr.
fn fsck(args: &[&str]) -> (i32, String) {
    run(&[&["fsck"], args].concat())
}

async fn populate(data: &Path, n: usize) -> Server {
    let s = Server::start(data, &[]);
    let key = s.dev_key();
    let c = client();
    for chunk in 0..n / 50 {
        let subs: Vec<_> = (0..50)
            .map(|k| submission(&key, &event(&format!("f-{chunk}-{k}"), "svc-fsck")))
            .collect();
        let r = c
            .post(format!("{}/v1/entries/batch", s.url))
            .json(&serde_json::json!({ "submissions": subs }))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_of_a_data_directory() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    populate(&data, 600).await.stop();
    let d = data.to_str().expect("utf8");
    let (code, out) = fsck(&["--data-dir", d]);
    assert_eq!(code, 0, "{out}");
    // The policy, the first state commitment, the events, and one
    // commitment per batch of 50.
    assert!(out.contains("tree size 614, 0 findings"), "{out}");

    // Corrupt it: flip a byte in a level-3 node, delete entry 5.
    {
        let store = Store::open(&data.join("db"), &StoreOptions::default()).expect("open");
        let id = NodeId::new(3, 20);
        let mut h = store.node_hashes(&[id]).expect("node")[0];
        h[9] ^= 0x40;
        let mut k = vec![3u8];
        k.extend_from_slice(&20u64.to_be_bytes());
        store.debug_put_raw("hashes", &k, Some(&h)).expect("put");
        store
            .debug_put_raw("entries", &5u64.to_be_bytes(), None)
            .expect("delete");
    }
    let (code, out) = fsck(&["--data-dir", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FINDING entry 5 is missing"), "{out}");
    assert!(
        out.contains("FINDING tree hash at level 3, index 20 (leaves 160 to 167)"),
        "{out}"
    );
    // The server refuses to start on it, naming the problem.
    let err = Server::try_start(&data, &[]).err().expect("must refuse");
    assert!(
        err.contains("refusing to start") && err.contains("entry 5 is missing"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_over_http_catches_a_tampering_mirror() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = populate(&dir.path().join("data"), 300).await;
    let vkey = s.vkey.to_vkey_string();
    let (code, out) = fsck(&["--url", &s.url, "--log-key", &vkey]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tree size 308, 0 findings"), "{out}");

    // A mirror that flips a byte of entry 256, the first of the partial bundle.
    let bundle = tamper_proxy(s.url.clone(), "/tile/entries/001.p/52".into(), |b| b[2 + 40] ^= 1).await;
    let (code, out) = tokio::task::spawn_blocking(move || fsck(&["--url", &bundle, "--log-key", &vkey]))
        .await
        .expect("task");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FINDING entry 256 in tile/entries/001.p/52 does not match its leaf hash"),
        "{out}"
    );

    // A mirror that flips a byte of a full level-0 tile.
    let vkey = s.vkey.to_vkey_string();
    let tile = tamper_proxy(s.url.clone(), "/tile/0/000".into(), |b| b[100] ^= 1).await;
    let (code, out) = tokio::task::spawn_blocking(move || fsck(&["--url", &tile, "--log-key", &vkey]))
        .await
        .expect("task");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("tiles do not match the checkpoint root"), "{out}");
}
