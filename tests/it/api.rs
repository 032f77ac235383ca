//! End to end over a real socket: the real binary, a temporary data
//! directory, concurrent submissions, and every read path checked against
//! the signed checkpoint with provlog's own verifier.

use crate::common::{Server, checkpoint, client, event, get, get_json, post, submission};
use provlog_proto::leaf::Leaf;
use provlog_proto::receipt::Receipt;
use provlog_tlog::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use provlog_tlog::tile::{TileHashes, TileKind, decode_bundle, root_from_tiles, tiles_for_size};
use provlog_tlog::{b64, hex};
use serde_json::Value;
use std::collections::BTreeMap;

fn b64v(v: &Value) -> Vec<u8> {
    b64::decode(v.as_str().expect("string")).expect("base64")
}

async fn check_static_api(c: &reqwest::Client, s: &Server, entries: &BTreeMap<u64, Vec<u8>>) {
    let (cp, _) = checkpoint(c, s).await;
    let mut tiles = TileHashes::new(cp.size);
    for t in tiles_for_size(cp.size) {
        let r = c.get(format!("{}/{}", s.url, t.path())).send().await.expect("GET tile");
        assert_eq!(r.status(), 200, "{}", t.path());
        assert_eq!(r.headers()["content-type"], "application/octet-stream");
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .expect("ascii")
                .contains("immutable")
        );
        let body = r.bytes().await.expect("body").to_vec();
        match t.kind {
            TileKind::Hash { .. } => tiles.insert(t, body).expect("tile size"),
            TileKind::Entries => {
                let got = decode_bundle(&body, usize::from(t.width)).expect("bundle");
                for (k, e) in got.iter().enumerate() {
                    let i = t.index * 256 + k as u64;
                    if let Some(want) = entries.get(&i) {
                        assert_eq!(*e, want.as_slice(), "bundle entry {i}");
                    }
                }
            }
        }
    }
    assert_eq!(root_from_tiles(cp.size, &tiles).expect("root from tiles"), cp.root);
    // Every bundle entry hashes to its level-0 tile hash.
    for t in tiles_for_size(cp.size)
        .into_iter()
        .filter(|t| t.kind == TileKind::Entries)
    {
        let (_, body) = get(c, &s.url, &format!("/{}", t.path())).await;
        let level0 = tiles
            .get(&provlog_tlog::tile::TileId::hash(0, t.index, t.width))
            .expect("level-0 tile");
        for (k, e) in decode_bundle(&body, usize::from(t.width))
            .expect("bundle")
            .iter()
            .enumerate()
        {
            assert_eq!(&level0[k * 32..k * 32 + 32], leaf_hash(e).as_slice());
        }
    }
}

/// An event that names no credential, so that it adds one entry and no
/// state commitment: the tree holds exactly the test's events.
fn plain(id: &str, target: &str) -> serde_json::Value {
    let mut e = event(id, target);
    e.as_object_mut().expect("object").remove("credential");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submissions_receipts_tiles_proofs_and_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let s = Server::start(&data, &[]);
    let key = s.dev_key();
    let c = client();

    // Entry 0 is the policy leaf holding the registry in force.
    let (cp0, cp0_text) = checkpoint(&c, &s).await;
    assert_eq!(cp0.size, 2);
    let (st, e0) = get_json(&c, &s.url, "/v1/entries/0").await;
    assert_eq!(st, 200);
    assert_eq!(e0["decoded"]["kind"], "policy");
    assert_eq!(e0["decoded"]["policy"]["submitters"][0]["id"], "dev");
    // Entry 1 is the first state commitment: the empty credential map.
    let (st, e1) = get_json(&c, &s.url, "/v1/entries/1").await;
    assert_eq!(st, 200);
    assert_eq!(e1["decoded"]["kind"], "state");
    assert_eq!(e1["decoded"]["credentials"], 0);

    // 300 submissions from 24 concurrent clients.
    let mut tasks = Vec::new();
    for t in 0..24 {
        let (c, url, key, vkey) = (c.clone(), s.url.clone(), key.clone(), s.vkey.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for k in 0..(300 / 24 + usize::from(t < 300 % 24)) {
                let ev = plain(&format!("evt-{t}-{k}"), &format!("svc-{t}"));
                let body = serde_json::to_vec(&submission(&key, &ev)).expect("json");
                let (st, r) = post(&c, &url, "/v1/entries", body).await;
                assert_eq!(st, 201, "{r}");
                let receipt: Receipt = serde_json::from_value(r).expect("receipt");
                let v = receipt.verify(&vkey).expect("receipt verifies");
                match &v.leaf {
                    Leaf::Event(e) => {
                        assert_eq!(e.event.event.event_id, format!("evt-{t}-{k}"));
                        assert_eq!(e.submitter, "dev");
                    }
                    Leaf::Policy(_) | Leaf::State(_) | Leaf::Heartbeat(_) | Leaf::LogKey(_) => {
                        panic!("expected an event leaf")
                    }
                }
                out.push((v.index, v.entry));
            }
            out
        }));
    }
    let mut entries = BTreeMap::new();
    for t in tasks {
        for (i, e) in t.await.expect("task") {
            assert!(entries.insert(i, e).is_none(), "index {i} given twice");
        }
    }
    assert_eq!(entries.len(), 300);
    assert_eq!(
        entries.keys().copied().collect::<Vec<_>>(),
        (2..=301).collect::<Vec<_>>()
    );

    // logged_at never decreases along the log.
    let mut last = String::new();
    for e in entries.values() {
        let l = Leaf::parse(e).expect("leaf").logged_at().to_owned();
        assert!(l >= last, "{l} < {last}");
        last = l;
    }

    let (cp, cp_text) = checkpoint(&c, &s).await;
    assert_eq!(cp.size, 302);

    // Entries, receipts and proofs.
    for (&i, e) in entries.iter().step_by(17) {
        let (st, v) = get_json(&c, &s.url, &format!("/v1/entries/{i}")).await;
        assert_eq!(st, 200);
        assert_eq!(b64v(&v["entry"]), *e);
        assert_eq!(b64v(&v["leaf_hash"]), leaf_hash(e));
        assert_eq!(v["decoded"]["kind"], "event");
        let (st, r) = get_json(&c, &s.url, &format!("/v1/entries/{i}/receipt")).await;
        assert_eq!(st, 200);
        let r: Receipt = serde_json::from_value(r).expect("receipt");
        assert_eq!(r.verify(&s.vkey).expect("verifies").checkpoint.size, 302);
        for q in [format!("index={i}"), format!("leaf_hash={}", hex::encode(leaf_hash(e)))] {
            let (st, p) = get_json(&c, &s.url, &format!("/v1/proofs/inclusion?{q}&tree_size=302")).await;
            assert_eq!(st, 200, "{p}");
            assert_eq!(p["index"], i);
            let proof: Vec<Vec<u8>> = p["proof"].as_array().expect("a").iter().map(b64v).collect();
            verify_inclusion(i, 302, &leaf_hash(e), &proof, &cp.root).expect("inclusion verifies");
        }
    }
    let (st, p) = get_json(&c, &s.url, "/v1/proofs/consistency?from=2&to=302").await;
    assert_eq!(st, 200);
    let proof: Vec<Vec<u8>> = p["proof"].as_array().expect("a").iter().map(b64v).collect();
    verify_consistency(2, 302, &cp0.root, &cp.root, &proof).expect("consistency verifies");

    let mut all = entries.clone();
    all.insert(0, b64v(&e0["entry"]));
    all.insert(1, b64v(&e1["entry"]));
    check_static_api(&c, &s, &all).await;

    // Idempotent retries: same content → 200 and the original index, also
    // when sent concurrently; other content → 409. The tree does not grow.
    let ev = plain("evt-3-1", "svc-3");
    let orig = *entries
        .iter()
        .find(|(_, e)| String::from_utf8_lossy(e).contains("\"evt-3-1\""))
        .expect("original")
        .0;
    let body = serde_json::to_vec(&submission(&key, &ev)).expect("json");
    let mut retries = Vec::new();
    for _ in 0..8 {
        let (c, url, body) = (c.clone(), s.url.clone(), body.clone());
        retries.push(tokio::spawn(async move { post(&c, &url, "/v1/entries", body).await }));
    }
    for r in retries {
        let (st, v) = r.await.expect("task");
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["index"], orig);
        let r: Receipt = serde_json::from_value(v).expect("receipt");
        r.verify(&s.vkey).expect("retry receipt verifies");
    }
    let mut other = ev.clone();
    other["outcome"] = "failure".into();
    let (st, v) = post(
        &c,
        &s.url,
        "/v1/entries",
        serde_json::to_vec(&submission(&key, &other)).expect("j"),
    )
    .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["code"], "event_id_conflict");
    assert_eq!(checkpoint(&c, &s).await.0.size, 302);

    // Concurrent first submissions of one new event: exactly one 201.
    let body = serde_json::to_vec(&submission(&key, &plain("evt-race", "svc-race"))).expect("json");
    let mut racers = Vec::new();
    for _ in 0..10 {
        let (c, url, body) = (c.clone(), s.url.clone(), body.clone());
        racers.push(tokio::spawn(async move { post(&c, &url, "/v1/entries", body).await }));
    }
    let mut created = 0;
    let mut indexes = std::collections::HashSet::new();
    for r in racers {
        let (st, v) = r.await.expect("task");
        assert!(st == 201 || st == 200, "{st} {v}");
        created += usize::from(st == 201);
        indexes.insert(v["index"].as_u64().expect("index"));
    }
    assert_eq!((created, indexes.len()), (1, 1));
    let (cp_before, _) = checkpoint(&c, &s).await;
    assert_eq!(cp_before.size, 303);
    all.insert(302, {
        let (_, v) = get_json(&c, &s.url, "/v1/entries/302").await;
        b64v(&v["entry"])
    });

    // Restart: everything is still there, byte for byte, and the log goes on
    // with checkpoints consistent with the old ones.
    s.stop();
    let s = Server::start(&data, &[]);
    let (cp_after, _) = checkpoint(&c, &s).await;
    assert_eq!(
        cp_after.size, cp_before.size,
        "no new policy entry: the registry did not change"
    );
    assert_eq!(cp_after.root, cp_before.root);
    for (&i, e) in all.iter().step_by(7) {
        let (_, v) = get_json(&c, &s.url, &format!("/v1/entries/{i}")).await;
        assert_eq!(b64v(&v["entry"]), *e, "entry {i} after restart");
    }
    let (st, _) = post(
        &c,
        &s.url,
        "/v1/entries",
        serde_json::to_vec(&submission(&key, &plain("evt-after", "svc-a"))).expect("j"),
    )
    .await;
    assert_eq!(st, 201);
    let (cp2, _) = checkpoint(&c, &s).await;
    assert_eq!(cp2.size, 304);
    let (_, p) = get_json(&c, &s.url, &format!("/v1/proofs/consistency?from={}&to=304", cp.size)).await;
    let proof: Vec<Vec<u8>> = p["proof"].as_array().expect("a").iter().map(b64v).collect();
    verify_consistency(cp.size, 304, &cp.root, &cp2.root, &proof).expect("consistent across restart");
    check_static_api(&c, &s, &all).await;
    let _ = (cp0_text, cp_text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_and_log_info_headers() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &["--origin", "example.com/test-provlog"]);
    let c = client();
    let r = c.get(format!("{}/checkpoint", s.url)).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let text = r.text().await.expect("text");
    assert!(text.starts_with("example.com/test-provlog\n2\n"), "{text}");
    assert!(text.contains("\n\n\u{2014} example.com/test-provlog "), "{text}");
    let (st, info) = get_json(&c, &s.url, "/v1/log").await;
    assert_eq!(st, 200);
    assert_eq!(info["origin"], "example.com/test-provlog");
    assert_eq!(info["vkey"], s.vkey.to_vkey_string());
    assert_eq!(info["tree_size"], 2, "the policy and the first state commitment");
    assert_eq!(info["limits"]["max_entry_bytes"], 65535);
    assert_eq!(get(&c, &s.url, "/healthz").await.0, 200);
    assert_eq!(get(&c, &s.url, "/readyz").await.0, 200);
    // A partial tile narrower than the current one is a prefix and is served
    // (an older checkpoint justified it); one wider is not.
    assert_eq!(get(&c, &s.url, "/tile/0/000.p/1").await.0, 200);
    assert_eq!(get(&c, &s.url, "/tile/0/000.p/2").await.0, 200);
    assert_eq!(get(&c, &s.url, "/tile/0/000.p/3").await.0, 404);
    assert_eq!(get(&c, &s.url, "/tile/entries/000.p/2").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_entry_is_logged_exactly_when_the_registry_changes() {
    use provlog_tlog::keys::{ALG_ED25519, SignerKey};
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let cfg = dir.path().join("provlog.toml");
    let a = SignerKey::from_seed("alpha", ALG_ED25519, [21; 32]).expect("k");
    let b = SignerKey::from_seed("beta", ALG_ED25519, [22; 32]).expect("k");
    let block = |k: &SignerKey| {
        format!(
            "[[submitters]]\nid = \"{}\"\nkey = \"{}\"\nactions = [\"rotate\"]\ntargets = [\"svc-*\"]\n",
            k.name(),
            k.verifier().to_vkey_string()
        )
    };
    let c = client();
    let size = |s: &Server| {
        let (c, s_url, vkey) = (c.clone(), s.url.clone(), s.vkey.clone());
        async move {
            let (st, body) = get(&c, &s_url, "/checkpoint").await;
            assert_eq!(st, 200);
            provlog_tlog::checkpoint::open_checkpoint(&body, &vkey)
                .expect("cp")
                .0
                .size
        }
    };
    let args = ["--config", cfg.to_str().expect("utf8")];

    std::fs::write(&cfg, block(&a)).expect("w");
    // The policy, and the first state commitment.
    let s = Server::start(&data, &args);
    assert_eq!(size(&s).await, 2);
    s.stop();
    // Same registry: nothing new.
    let s = Server::start(&data, &args);
    assert_eq!(size(&s).await, 2);
    s.stop();
    // A new submitter: one policy entry holding the whole new registry.
    std::fs::write(&cfg, format!("{}{}", block(&a), block(&b))).expect("w");
    let s = Server::start(&data, &args);
    assert_eq!(size(&s).await, 3);
    let (_, e) = get_json(&c, &s.url, "/v1/entries/2").await;
    assert_eq!(e["decoded"]["kind"], "policy");
    let ids: Vec<&str> = e["decoded"]["policy"]["submitters"]
        .as_array()
        .expect("a")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["alpha", "beta"]);
    // The new submitter can log now.
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .json(&submission(&b, &event("b-1", "svc-b")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    s.stop();
    // Reordering the file is not a change.
    std::fs::write(&cfg, format!("{}{}", block(&b), block(&a))).expect("w");
    let s = Server::start(&data, &args);
    assert_eq!(size(&s).await, 5, "the event and its state commitment, no policy");
    s.stop();
}
