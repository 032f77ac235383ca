//! `provlog monitor` over real processes: a split view caught through
//! gossip (and the evidence verifies with the log key alone), tampered
//! bundles and tiles served by a proxy, forged and out-of-scope entries,
//! lifecycle violations, and resuming without downloading again.
//!
//! Misbehaving logs are built by the tests (`common::static_log`) from
//! entries and a key they choose; the server has no way to misbehave.

use crate::common::{Killed, Server, client, event, run, spawn_ready, static_log, submission, tamper_proxy};
use provlog_proto::event::CanonicalEvent;
use provlog_proto::leaf::{EventLeafTemplate, policy_leaf};
use provlog_proto::policy::{Policy, SubmitterPolicy};
use provlog_proto::submission::signing_message;
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::json;

/// A provlog log's entries: a policy admitting `sub` for `svc-*`, then one
/// event per target, signed by `signer` (normally `sub`).
pub(crate) fn entries(sub: &SignerKey, signer: &SignerKey, targets: &[String]) -> Vec<Vec<u8>> {
    let policy = Policy {
        submitters: vec![SubmitterPolicy {
            id: sub.name().into(),
            key: sub.verifier().to_vkey_string(),
            actions: vec!["*".into()],
            targets: vec!["svc-*".into()],
            systems: None,
            not_before: None,
            not_after: None,
            sequenced: false,
            heartbeat_interval_seconds: None,
        }],
        ..Policy::default()
    };
    let mut out = vec![policy_leaf("2026-11-25T00:00:00.000Z", &policy)];
    for (i, t) in targets.iter().enumerate() {
        let ce = CanonicalEvent::from_value(&event(&format!("ev-{i}-{t}"), t)).expect("event");
        let sig = signer.sign_raw(&signing_message(&ce.jcs));
        out.push(EventLeafTemplate::new(&ce.jcs, sub.name(), &sig).render(&format!(
            "2026-11-25T00:{:02}:{:02}.000Z",
            i / 60,
            i % 60
        )));
    }
    out
}

pub(crate) fn targets(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("svc-{prefix}{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_view_is_caught_through_gossip_and_the_evidence_verifies() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = SignerKey::from_seed("split.example/log", ALG_ED25519, [70; 32]).expect("k");
    let sub = SignerKey::from_seed("ci", ALG_ED25519, [71; 32]).expect("k");
    let vkey = log.verifier().to_vkey_string();
    // Two branches that share 300 entries and then differ.
    let mut a = targets("shared", 300);
    let mut b = a.clone();
    a.extend(targets("a", 40));
    b.extend(targets("b", 10));
    let url_a = static_log(entries(&sub, &sub, &a), log.clone()).await;
    let url_b = static_log(entries(&sub, &sub, &b), log.clone()).await;

    // Monitor B sees only branch B and gossips what it verified.
    let mb_dir = dir.path().join("mb");
    let (mb, mb_url) = spawn_ready(
        &mb_dir,
        &[
            "monitor",
            "--url",
            &url_b,
            "--log-key",
            &vkey,
            "--state-dir",
            mb_dir.to_str().expect("p"),
            "--listen",
            "127.0.0.1:0",
            "--interval-ms",
            "50",
        ],
        "monitor",
    );
    let _mb = Killed(mb);
    // Wait until monitor B has verified its branch.
    let c = client();
    for _ in 0..400 {
        let v: serde_json::Value = c
            .get(format!("{mb_url}/checkpoints"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if v["checkpoints"][0]
            .as_str()
            .is_some_and(|n| n.starts_with("split.example/log\n311\n"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // Monitor A follows branch A and polls monitor B.
    let ma_dir = dir.path().join("ma");
    let evidence = ma_dir.join("evidence");
    let (code, out) = tokio::task::spawn_blocking({
        let (url_a, vkey, ma_dir, mb_url) = (url_a.clone(), vkey.clone(), ma_dir.clone(), mb_url.clone());
        move || {
            run(&[
                "monitor",
                "--url",
                &url_a,
                "--log-key",
                &vkey,
                "--state-dir",
                ma_dir.to_str().expect("p"),
                "--peer",
                &mb_url,
                "--once",
            ])
        }
    })
    .await
    .expect("task");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ALARM fork split.example/log"), "{out}");
    let files: Vec<_> = std::fs::read_dir(&evidence)
        .expect("evidence dir")
        .map(|e| e.expect("e").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let f = files[0].to_str().expect("p").to_owned();
    let (code, out) = run(&["verify", "--fork-evidence", &f, "--log-key", &vkey]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("size 311 is not a prefix of its checkpoint of size 341"),
        "{out}"
    );
    // The evidence means nothing under another key.
    let other = SignerKey::from_seed("split.example/log", ALG_ED25519, [72; 32]).expect("k");
    let (code, _) = run(&[
        "verify",
        "--fork-evidence",
        &f,
        "--log-key",
        &other.verifier().to_vkey_string(),
    ]);
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_out_of_scope_entries_are_reported_with_their_index() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = SignerKey::from_seed("forge.example/log", ALG_ED25519, [73; 32]).expect("k");
    let sub = SignerKey::from_seed("ci", ALG_ED25519, [74; 32]).expect("k");
    let mallory = SignerKey::from_seed("ci", ALG_ED25519, [75; 32]).expect("k");
    let mut es = entries(&sub, &sub, &targets("ok", 5));
    // Entry 6: signed by someone else under ci's name. Entry 7: out of scope.
    let forged = entries(&sub, &mallory, &["svc-forged".into()]).pop().expect("e");
    es.push(
        String::from_utf8(forged)
            .expect("utf8")
            .replace("00:00:00.000Z", "00:00:58.000Z")
            .into_bytes(),
    );
    let mut oos = entries(&sub, &sub, &["db-main".into()]).pop().expect("e");
    oos = String::from_utf8(oos)
        .expect("utf8")
        .replace("00:00:00.000Z", "00:00:59.000Z")
        .into_bytes();
    es.push(oos);
    let url = static_log(es, log.clone()).await;
    let (code, out) = tokio::task::spawn_blocking({
        let (url, vkey, d) = (url.clone(), log.verifier().to_vkey_string(), dir.path().join("m"));
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
    .expect("task");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ALARM authority forge.example/log: entry 6 (policy 0): the signature of \"ci\" does not verify"),
        "{out}"
    );
    assert!(
        out.contains("ALARM authority forge.example/log: entry 7 (policy 0)") && out.contains("db-main"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_bundles_and_tiles_are_caught_and_state_resumes() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.dev_key();
    let c = client();
    let subs: Vec<_> = (0..300)
        .map(|i| submission(&key, &event(&format!("m-{i}"), &format!("svc-{i}"))))
        .collect();
    let r = c
        .post(format!("{}/v1/entries/batch", s.url))
        .json(&json!({ "submissions": subs }))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let vkey = s.vkey.to_vkey_string();
    let mon = |url: String, state: &str| {
        let (vkey, state) = (vkey.clone(), dir.path().join(state));
        tokio::task::spawn_blocking(move || {
            run(&[
                "monitor",
                "--url",
                &url,
                "--log-key",
                &vkey,
                "--state-dir",
                state.to_str().expect("p"),
                "--once",
            ])
        })
    };
    // The policy, the first state commitment, 300 events in one batch, its
    // commitment: 303 entries. A mirror that changes an entry of the
    // partial bundle.
    let bad_bundle = tamper_proxy(s.url.clone(), "/tile/entries/001.p/47".into(), |b| b[2 + 30] ^= 1).await;
    let (code, out) = mon(bad_bundle, "m1").await.expect("task");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ALARM entry_mismatch localhost/provlog: entry 256 in tile/entries/001.p/47"),
        "{out}"
    );
    assert!(
        out.contains("verified up to size 0"),
        "nothing is accepted from a bad mirror: {out}"
    );
    // A mirror that changes a full tile.
    let bad_tile = tamper_proxy(s.url.clone(), "/tile/0/000".into(), |b| b[64] ^= 1).await;
    let (code, out) = mon(bad_tile, "m2").await.expect("task");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ALARM tiles localhost/provlog: tiles do not match the checkpoint of size 303"),
        "{out}"
    );
    // The honest log verifies; a second run resumes without fetching any
    // bundle again (this mirror refuses every bundle).
    let (code, out) = mon(s.url.clone(), "m3").await.expect("task");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verified up to size 303"), "{out}");
    let no_bundles = tamper_proxy(s.url.clone(), "/tile/entries/000".into(), std::vec::Vec::clear).await;
    let (code, out) = mon(no_bundles, "m3").await.expect("task");
    assert_eq!(code, 0, "{out}");
    // Lifecycle rules: a revoke of a credential never issued is logged (and
    // alarmed); its re-issue is refused by the log itself (a retired
    // credential is never made active again), so the monitor sees none.
    let fp = format!("sha256:{}", "c".repeat(64));
    for (i, (action, status)) in [("revoke", 201), ("issue", 403)].iter().enumerate() {
        let mut e = event(&format!("life-{i}"), "svc-life");
        e["action"] = json!(action);
        e["credential"] = json!({"fingerprint": fp});
        let r = c
            .post(format!("{}/v1/entries", s.url))
            .json(&submission(&key, &e))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), *status, "{action}");
    }
    let (code, out) = mon(s.url.clone(), "m3").await.expect("task");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ALARM lifecycle:revoke_unknown localhost/provlog: entries [303]"),
        "{out}"
    );
    assert!(!out.contains("reissue_after_revoke"), "{out}");
    assert!(out.contains("verified up to size 305"), "{out}");
}

/// Issue 14.5: a log whose state commitment is not the map its entries
/// give (here: one that leaves out the credentials of its last events, as a
/// log hiding a revoke would) is caught by the monitor and by `audit`, and
/// the evidence the monitor writes verifies with the log key alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_commitment_the_entries_do_not_give_is_an_alarm_with_evidence() {
    use provlog_proto::leaf::{Leaf, state_leaf};
    let dir = tempfile::tempdir().expect("tmp");
    let log = SignerKey::from_seed("state.example/log", ALG_ED25519, [76; 32]).expect("k");
    let sub = SignerKey::from_seed("ci", ALG_ED25519, [77; 32]).expect("k");
    let mut es = entries(&sub, &sub, &targets("st", 4));
    // A true commitment after two events, then a false one after four
    // that commits to the map of the first two only.
    let mut ledger = provlog_proto::ledger::Ledger::new();
    for (i, e) in es.iter().enumerate().take(3) {
        ledger.push_entry(i as u64, e).expect("rules");
    }
    let (root2, n2) = (ledger.root(), ledger.len() as u64);
    let mut with_states = es.drain(..3).collect::<Vec<_>>();
    with_states.push(state_leaf("2026-11-25T00:00:01.000Z", 3, n2, &root2));
    with_states.extend(es.into_iter().map(|e| {
        String::from_utf8(e)
            .expect("utf8")
            .replace("00:00:02.000Z", "00:00:02.500Z")
            .into_bytes()
    }));
    with_states.push(state_leaf("2026-11-25T00:00:04.000Z", 6, n2, &root2));
    for (i, e) in with_states.iter().enumerate() {
        assert!(Leaf::parse(e).is_ok(), "entry {i} is a well-formed leaf");
    }
    let url = static_log(with_states, log.clone()).await;
    let vkey = log.verifier().to_vkey_string();
    let (state_dir, evidence) = (dir.path().join("m"), dir.path().join("m").join("evidence"));
    let (code, out) = tokio::task::spawn_blocking({
        let (url, vkey, d) = (url.clone(), vkey.clone(), state_dir.clone());
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
    .expect("task");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ALARM state state.example/log: entry 6: the state commitment claims map root"),
        "{out}"
    );
    assert!(!out.contains("entry 3: the state"), "the true commitment passes: {out}");
    let file = evidence.join("state-state.example_log-6.json");
    assert!(file.exists(), "evidence written: {out}");
    let f = file.to_str().expect("p").to_owned();
    let (code, out) = run(&["verify", "--state-evidence", &f, "--log-key", &vkey]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("entry 6 commits to credential map"), "{out}");
    let other = SignerKey::from_seed("state.example/log", ALG_ED25519, [78; 32]).expect("k");
    let (code, _) = run(&[
        "verify",
        "--state-evidence",
        &f,
        "--log-key",
        &other.verifier().to_vkey_string(),
    ]);
    assert_eq!(code, 1, "evidence is bound to the log's key");
    // `audit` finds the same, and only that.
    let (code, out) = tokio::task::spawn_blocking(move || run(&["audit", "--url", &url, "--log-key", &vkey]))
        .await
        .expect("task");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FINDING entry 6: the state commitment"), "{out}");
    assert!(
        out.contains("1 state commitment recomputed and confirmed, 1 finding\n"),
        "{out}"
    );
}
