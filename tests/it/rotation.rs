//! Log key rotation over real processes (docs/ROTATION.md): the log rotates
//! its key under load; during the overlap its checkpoints carry both
//! signatures, after it the new key's alone; a witness that holds both
//! vkeys keeps cosigning, a monitor and `provlog verify` that trust only the
//! old key follow the rotation from the log's key history, every
//! acknowledged entry is in the tree, a second rotation during the overlap
//! and an announcement the log cannot make are refused with nothing
//! appended, a checkpoint signed by an unannounced key is refused by the
//! witness, and the log restarts on its new key.

use crate::common::{self, Killed, Server, client, dev_submitter, event, get, get_json, run, submission, write_key};
use provlog_tlog::checkpoint::{CheckpointError, open_checkpoint, sign_checkpoint};
use provlog_tlog::keys::{ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const ORIGIN: &str = "rot.example/log";
const TOKEN: &str = "rotate-token-0123456789";

async fn rotate(c: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let r = c
        .post(format!("{url}/v1/admin/rotate-key"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("post");
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or_default())
}

fn note_sigs(note: &str) -> usize {
    note.matches("\n\u{2014} ").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one rotation, followed by every reader, end to end"
)]
async fn the_log_rotates_its_key_under_load_and_every_reader_follows() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let k0 = SignerKey::from_seed(ORIGIN, ALG_ED25519, [81; 32]).expect("k");
    let k1 = SignerKey::from_seed(ORIGIN, ALG_ED25519, [82; 32]).expect("k");
    let k2 = SignerKey::from_seed(ORIGIN, ALG_ED25519, [83; 32]).expect("k");
    let stranger = SignerKey::from_seed(ORIGIN, ALG_ED25519, [84; 32]).expect("k");
    write_key(&data.join("log.skey"), &k0);
    write_key(&dir.path().join("next.skey"), &k1);
    write_key(&dir.path().join("later.skey"), &k2);
    let (v0, v1) = (k0.verifier().to_vkey_string(), k1.verifier().to_vkey_string());

    // The witness operator added the new vkey beside the old one (what
    // docs/ROTATION.md asks of them); the origin stays the same.
    let wk = SignerKey::from_seed("w.rot.example", ALG_COSIGNATURE_V1, [85; 32]).expect("k");
    let wdir = dir.path().join("w");
    std::fs::create_dir_all(&wdir).expect("dir");
    write_key(&wdir.join("w.skey"), &wk);
    let (wc, wurl) = common::spawn_ready(
        &wdir,
        &[
            "witness",
            "--key",
            wdir.join("w.skey").to_str().expect("p"),
            "--log-key",
            &v0,
            "--log-key",
            &v1,
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            wdir.to_str().expect("p"),
        ],
        "witness",
    );
    let _w = Killed(wc);

    let config = dir.path().join("provlog.toml");
    let published = dir.path().join("published");
    let base = format!(
        "origin = {ORIGIN:?}\nadmin_token = {TOKEN:?}\nkey_overlap = \"3s\"\nwitness_interval_ms = 50\n\
         [publish]\nurl = \"file://{}\"\nack_after_publish = true\n\
         [[witnesses]]\nurl = {wurl:?}\nkey = {:?}\n{}",
        published.display(),
        wk.verifier().to_vkey_string(),
        dev_submitter(&data, 86)
    );
    std::fs::write(&config, &base).expect("config");
    let cfg = config.to_str().expect("p").to_owned();
    let s = Server::start(&data, &["--config", &cfg]);
    assert_eq!(s.vkey, k0.verifier());
    let c = client();
    let key = s.dev_key();

    // Without next_log_key there is nothing to rotate to.
    let (st, body) = rotate(&c, &s.url).await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["error"]["code"], "no_next_log_key");

    // The monitor, trusting only the old key, verifies the log before.
    let mstate = dir.path().join("monitor");
    let monitor = |state: std::path::PathBuf, url: String| {
        let trusted = v0.clone();
        tokio::task::spawn_blocking(move || {
            run(&[
                "monitor",
                "--url",
                &url,
                "--log-key",
                &trusted,
                "--state-dir",
                state.to_str().expect("p"),
                "--once",
            ])
        })
    };
    common::submit_many(&c, &s.url, &key, "before", 20).await;
    let (code, out) = monitor(mstate.clone(), s.url.clone()).await.expect("task");
    assert_eq!(code, 0, "{out}");

    // Load: writers submit until told to stop; every acknowledged entry is
    // kept with its receipt.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (c, url, key, stop) = (c.clone(), s.url.clone(), key.clone(), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Acquire) {
                let r = c
                    .post(format!("{url}/v1/entries"))
                    .json(&submission(&key, &event(&format!("load-{w}-{i}"), &format!("svc-{w}"))))
                    .send()
                    .await
                    .expect("post");
                assert_eq!(r.status(), 201, "every submission is acknowledged across the rotation");
                acked.push(r.json::<serde_json::Value>().await.expect("receipt"));
                i += 1;
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The operator names the next key and rotates, under load.
    std::fs::write(
        &config,
        format!("next_log_key = {:?}\n{base}", dir.path().join("next.skey")),
    )
    .expect("config");
    let (st, rotated) = rotate(&c, &s.url).await;
    assert_eq!(st, 200, "{rotated}");
    assert_eq!(rotated["old"], v0.as_str());
    assert_eq!(rotated["new"], v1.as_str());
    let at = rotated["index"].as_u64().expect("index");

    // During the overlap: checkpoints carry both signatures, so readers of
    // either key open them.
    let (_, cp) = get(&c, &s.url, "/checkpoint").await;
    let note = String::from_utf8(cp).expect("utf8");
    assert!(open_checkpoint(note.as_bytes(), &k0.verifier()).is_ok(), "{note}");
    assert!(open_checkpoint(note.as_bytes(), &k1.verifier()).is_ok(), "{note}");

    // A second rotation during the overlap is refused; nothing is appended
    // (the tree grows by the load alone: no announcement lands).
    std::fs::write(
        &config,
        format!("next_log_key = {:?}\n{base}", dir.path().join("later.skey")),
    )
    .expect("config");
    let (st, body) = rotate(&c, &s.url).await;
    assert_eq!(st, 409, "{body}");
    assert_eq!(body["error"]["code"], "rotation_during_overlap", "{body}");
    // A next key named for another origin is refused before the sequencer.
    let other = SignerKey::from_seed("other.example/log", ALG_ED25519, [87; 32]).expect("k");
    write_key(&dir.path().join("other.skey"), &other);
    std::fs::write(
        &config,
        format!("next_log_key = {:?}\n{base}", dir.path().join("other.skey")),
    )
    .expect("config");
    let (st, body) = rotate(&c, &s.url).await;
    assert_eq!(st, 422, "{body}");
    std::fs::write(
        &config,
        format!("next_log_key = {:?}\n{base}", dir.path().join("next.skey")),
    )
    .expect("config");

    // After the overlap (3 s; this bounds a wait, it is not a timing
    // assertion) the load makes checkpoints signed by the new key alone.
    let mut after = String::new();
    for _ in 0..200 {
        let (_, cp) = get(&c, &s.url, "/checkpoint").await;
        after = String::from_utf8(cp).expect("utf8");
        if open_checkpoint(after.as_bytes(), &k0.verifier()).is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        matches!(
            open_checkpoint(after.as_bytes(), &k0.verifier()).err(),
            Some(CheckpointError::NoLogSignature { .. })
        ),
        "{after}"
    );
    let (after_cp, _) = open_checkpoint(after.as_bytes(), &k1.verifier()).expect("new key");
    assert!(after_cp.size > at);
    stop.store(true, Ordering::Release);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.expect("writer"));
    }
    assert!(acked.len() > 10, "the load ran: {}", acked.len());

    // The key history: one rotation, verifiable from the old key.
    let (st, history) = get_json(&c, &s.url, "/log-keys").await;
    assert_eq!(st, 200, "{history}");
    let h: provlog_proto::rotation::KeyHistory = serde_json::from_value(history).expect("history");
    let (keys, rotations) = h.verify(&k0.verifier()).expect("verifies from the old key");
    assert_eq!(rotations.len(), 1, "the refused rotations left no announcement");
    assert_eq!(rotations[0].index, at);
    assert_eq!(*keys.current(), k1.verifier());

    // Every acknowledged entry is in the tree, with its bytes, and each
    // receipt verifies for a reader that trusts only the old key.
    let f = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).expect("w");
        p.to_str().expect("p").to_owned()
    };
    let first = acked.first().expect("one").clone();
    let last = acked.last().expect("one").clone();
    for (name, r) in [("first.json", &first), ("last.json", &last)] {
        let rf = f(name, &r.to_string());
        let (code, out) = run(&["verify", "--receipt", &rf, "--log-key", &v0, "--url", &s.url]);
        assert_eq!(code, 0, "{name}: {out}");
    }
    for r in &acked {
        let i = r["index"].as_u64().expect("index");
        let (st, e) = get_json(&c, &s.url, &format!("/v1/entries/{i}")).await;
        assert_eq!(st, 200);
        assert_eq!(e["entry"], r["entry"], "entry {i}");
    }
    // A checkpoint of the new key alone: `verify` with the old key refuses
    // it offline, and accepts it with the key history.
    let cpf = f("after.txt", &after);
    let (code, out) = run(&["verify", "--checkpoint", &cpf, "--log-key", &v0]);
    assert_ne!(code, 0, "{out}");
    let hf = f("history.json", &get_json(&c, &s.url, "/log-keys").await.1.to_string());
    let (code, out) = run(&["verify", "--checkpoint", &cpf, "--log-key", &v0, "--log-keys", &hf]);
    assert_eq!(code, 0, "{out}");

    // The monitor, still trusting the old key only, follows the rotation
    // from its saved state (consistency from before the rotation).
    let (code, out) = monitor(mstate, s.url.clone()).await.expect("task");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("KEY_ROTATION rot.example/log"), "{out}");
    assert!(!out.contains("ALARM"), "{out}");

    // The explorer verifies the history in the browser and shows the
    // rotation; a proxy that forges the new key's signature turns it to
    // failed.
    let dom = crate::explorer::load(format!("{}/", s.url)).await;
    let (st, text) = crate::explorer::status(&dom, "id=\"key-history-status\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("1 rotation"), "{text}");
    let proxy = common::tamper_proxy(s.url.clone(), "/log-keys".into(), |b| {
        let mut v: serde_json::Value = serde_json::from_slice(b).expect("json");
        let r = &mut v["rotations"][0];
        let entry = provlog_tlog::b64::decode(r["entry"].as_str().expect("entry")).expect("b64");
        let mut leaf: serde_json::Value = serde_json::from_slice(&entry).expect("leaf");
        let sig = leaf["log_key"]["new_signature"].as_str().expect("sig").to_owned();
        let mut raw = provlog_tlog::b64::decode(&sig).expect("b64");
        raw[0] ^= 1;
        leaf["log_key"]["new_signature"] = provlog_tlog::b64::encode(&raw).into();
        r["entry"] = provlog_tlog::b64::encode(serde_json::to_vec(&leaf).expect("json")).into();
        *b = serde_json::to_vec(&v).expect("json");
    })
    .await;
    let dom = crate::explorer::load(format!("{proxy}/")).await;
    let (st, text) = crate::explorer::status(&dom, "id=\"key-history-status\"");
    assert_eq!(st, "failed", "{text}");
    assert!(text.contains("not signed by the new key"), "{text}");

    // The witness cosigned checkpoints of the new key.
    let mut witnessed = String::new();
    for _ in 0..200 {
        witnessed = common::wait_witnessed(&c, &s.url, "rot.example/log\n").await;
        if open_checkpoint(witnessed.as_bytes(), &k0.verifier()).is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        open_checkpoint(witnessed.as_bytes(), &k1.verifier()).is_ok(),
        "{witnessed}"
    );
    assert!(witnessed.contains("\u{2014} w.rot.example "), "{witnessed}");
    assert_eq!(note_sigs(&witnessed), 2, "{witnessed}");

    // A gateway's `provlog credential`, trusting the old key, verifies an
    // answer against the witnessed checkpoint, which the new key alone signed.
    let fp = common::fingerprint_of("svc-0");
    let (code, out) = run(&["credential", &fp, "--url", &s.url, "--log-key", &v0]);
    assert_eq!(code, 0, "{out}");
    let answer: serde_json::Value = serde_json::from_str(&out).expect("a verified answer, as JSON in a pipe");
    assert_eq!(answer["verified"], true, "{out}");
    // And `provlog chain`: the dev submitter is not sequenced, which the
    // answer proves under a checkpoint of the new key (the verified answer
    // is what makes the command name the missing chain).
    let (code, out) = run(&["chain", "dev", "--url", &s.url, "--log-key", &v0]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("holds no chain for \"dev\""), "{out}");

    // A checkpoint signed by a key nobody announced: the witness refuses it.
    let (big, _) = open_checkpoint(after.as_bytes(), &k1.verifier()).expect("cp");
    let forged = sign_checkpoint(&big, &stranger).expect("sign").to_string();
    let body = format!("old {}\n\n{forged}", big.size);
    let r = c
        .post(format!("{wurl}/add-checkpoint"))
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap_or_default());

    // The audit replays the announcement; the log restarts on its new key
    // (log_key still the old key, next_log_key the new one: the history
    // says which is in force).
    let (ok, text) = s.audit();
    assert!(ok, "{text}");
    // The published copy carries the key history too: an audit of the
    // bucket alone, trusting the old key, follows the rotation.
    let (code, out) = run(&["audit", "--url", published.to_str().expect("p"), "--log-key", &v0]);
    assert_eq!(code, 0, "{out}");
    assert!(published.join("log-keys").exists());
    s.stop();
    let s = Server::start(&data, &["--config", &cfg]);
    assert_eq!(s.vkey, k1.verifier(), "restarted on the key in force");
    common::submit_many(&c, &s.url, &key, "restarted", 3).await;
    let (_, cp) = get(&c, &s.url, "/checkpoint").await;
    assert!(open_checkpoint(&cp, &k1.verifier()).is_ok());
    assert!(open_checkpoint(&cp, &k0.verifier()).is_err());
    s.stop();
    // A log_key the log never announced does not start.
    std::fs::write(&config, &base).expect("config");
    std::fs::remove_file(data.join("log.skey")).expect("rm");
    write_key(&data.join("log.skey"), &stranger);
    let err = Server::try_start(&data, &["--config", &cfg]).err().expect("refused");
    // (With publishing on, the published checkpoint is the first thing
    // that key cannot open.)
    assert!(
        err.contains("not a key of this log") || err.contains("no signature by the log key"),
        "{err}"
    );
}
