//! Issue 21, "for a billion entries": the readers of a whole log (`fsck
//! --url`, `audit`, a monitor replaying it) peak at the same memory over a
//! log four times larger, and a monitor's state saved before its book (one
//! JSON value holding every credential) is moved into the book, one key per
//! credential, when it opens.

use crate::common::{Server, client, event, post, run, run_peak, static_log, submission};
use provlog_proto::event::CanonicalEvent;
use provlog_proto::leaf::{EventLeafTemplate, Leaf, policy_leaf, state_leaf};
use provlog_proto::policy::{Policy, SubmitterPolicy};
use provlog_proto::submission::signing_message;
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::{Value, json};

/// Events in the smaller log; the larger has four times as many.
const N: usize = 20_000;
/// How much more a reader may peak at over the larger log: what varies
/// from run to run (`fsck --url` has peaked at 49 to 65 MiB over the same
/// log). The state that grew with the log before issue 21 took about 1 KB
/// per event here (two credentials): 3 N events more was over 100 MiB more.
const SLACK_KIB: u64 = 32 * 1024;
/// `--cache-mib` of `audit` and the monitor: their caches (bounded, and
/// the same over both logs) are full already over the smaller log.
const CACHE_MIB: &str = "8";

/// The load generator's event `i`: a rotation of one of 500 targets to a
/// new fingerprint from a previous one never seen, two credentials each.
fn rotation(i: usize) -> Value {
    let mut e = event(&format!("scale-{i}"), &format!("svc-{}", i % 500));
    e["credential"] = json!({
        "fingerprint": format!("sha256:{:064x}", i + 1),
        "previous_fingerprint": format!("sha256:{:064x}", i + 1_000_000_000),
    });
    e
}

/// Appends events `from..to` ([`rotation`]), 1,000 per batch.
async fn grow(s: &Server, key: &SignerKey, from: usize, to: usize) {
    let c = client();
    for start in (from..to).step_by(1000) {
        let end = (start + 1000).min(to);
        let key = key.clone();
        let body = tokio::task::spawn_blocking(move || {
            let subs: Vec<Value> = (start..end).map(|i| submission(&key, &rotation(i))).collect();
            serde_json::to_vec(&json!({ "submissions": subs })).expect("json")
        })
        .await
        .expect("sign");
        let (st, out) = post(&c, &s.url, "/v1/entries/batch", body).await;
        let short = || out.to_string().chars().take(500).collect::<String>();
        assert_eq!(st, 200, "{}", short());
        let results = out["results"].as_array().expect("results");
        assert!(results.iter().all(|r| r["status"] == 201), "{}", short());
    }
}

/// Peak RSS (kB) of `fsck --url`, `audit` and a monitor's full replay of
/// the log at `url`, each checked to find nothing.
async fn peaks(url: &str, vkey: &str, state: std::path::PathBuf, rules: std::path::PathBuf) -> [u64; 3] {
    let (url, vkey) = (url.to_owned(), vkey.to_owned());
    tokio::task::spawn_blocking(move || {
        let (code, out, fsck) = run_peak(&["fsck", "--url", &url, "--log-key", &vkey]);
        assert_eq!(code, 0, "{}", tail(&out));
        assert!(out.contains(", 0 findings"), "{}", tail(&out));
        let (code, out, audit) = run_peak(&["audit", "--url", &url, "--log-key", &vkey, "--cache-mib", CACHE_MIB]);
        assert_eq!(code, 0, "{}", tail(&out));
        assert!(out.contains("recomputed and confirmed, 0 findings"), "{}", tail(&out));
        let (code, out, monitor) = run_peak(&[
            "monitor",
            "--url",
            &url,
            "--log-key",
            &vkey,
            "--state-dir",
            state.to_str().expect("utf8"),
            "--rules",
            rules.to_str().expect("utf8"),
            "--cache-mib",
            CACHE_MIB,
            "--once",
        ]);
        assert_eq!(code, 0, "{}", tail(&out));
        [fsck, audit, monitor]
    })
    .await
    .expect("readers")
}

fn tail(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The readers' peak memory does not grow with the log: `fsck --url`,
/// `audit` and a monitor's full replay over N events (2 N credentials) and
/// over 4 N peak within [`SLACK_KIB`] of each other. Before issue 21 the
/// auditor's map and records (in `audit` and in the monitor) and the
/// monitor's lifecycle state were in memory; now they are on disk, and
/// what `audit` and the monitor hold in memory is bounded by
/// `--cache-mib` (small here, so that the smaller log fills it: the
/// default's bound is larger, reached later, and just as flat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_audit_and_a_monitor_replay_four_times_the_log_in_the_same_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.dev_key();
    let vkey = s.vkey.to_vkey_string();
    // The load generator's events rotate from a fingerprint never issued.
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "rotate_from_inactive = false\n").expect("rules");
    grow(&s, &key, 0, N).await;
    let small = peaks(&s.url, &vkey, dir.path().join("m1"), rules.clone()).await;
    grow(&s, &key, N, 4 * N).await;
    let large = peaks(&s.url, &vkey, dir.path().join("m4"), rules).await;
    let size = s.tree_size().await;
    for (i, tool) in ["fsck --url", "audit", "monitor --once"].iter().enumerate() {
        eprintln!(
            "{tool}: peak RSS {} MiB over {N} events, {} MiB over {} events ({size} entries)",
            small[i] / 1024,
            large[i] / 1024,
            4 * N
        );
    }
    for (i, tool) in ["fsck --url", "audit", "monitor --once"].iter().enumerate() {
        assert!(
            large[i] <= small[i] + SLACK_KIB,
            "{tool} peaked at {} KiB over {} events and {} KiB over {N}: memory grows with the log",
            large[i],
            4 * N,
            small[i]
        );
    }
}

/// An event leaf by `sub`, logged at second `i` after 01:00.
fn leaf(sub: &SignerKey, i: usize, action: &str, target: &str, credential: Option<Value>, occurred: &str) -> Vec<u8> {
    let mut e = event(&format!("mig-{i}"), target);
    e["action"] = json!(action);
    e["occurred_at"] = json!(occurred);
    match credential {
        Some(c) => e["credential"] = c,
        None => {
            e.as_object_mut().expect("object").remove("credential");
        }
    }
    let ce = CanonicalEvent::from_value(&e).expect("event");
    let sig = sub.sign_raw(&signing_message(&ce.jcs));
    EventLeafTemplate::new(&ce.jcs, sub.name(), &sig).render(&format!("2026-11-25T01:{:02}:{:02}.000Z", i / 60, i % 60))
}

fn fp(c: &str) -> String {
    format!("sha256:{}", c.repeat(64))
}

/// A monitor's state as monitors saved it before issue 21 (one JSON value
/// holding every credential's record and lifecycle status) is moved into
/// its book when it opens: the monitor goes on from the saved size, and
/// what it alarms about the new entries depends on what the migrated state
/// remembers of the old ones (a credential revoked, one superseded, a
/// target's time) and on the recomputed map (a state commitment).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_state_saved_as_one_json_value_is_moved_into_the_book_on_open() {
    use provlog_proto::audit::AuditorState;
    use provlog_proto::lifecycle::{LifecycleState, Rules};
    use provlog_tlog::checkpoint::{Checkpoint, sign_checkpoint};
    use provlog_tlog::merkle::{MemoryTree, leaf_hash};
    let dir = tempfile::tempdir().expect("tmp");
    let log = SignerKey::from_seed("migrate.example/log", ALG_ED25519, [81; 32]).expect("k");
    let sub = SignerKey::from_seed("ci", ALG_ED25519, [82; 32]).expect("k");
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
    let cred = |f: &str, prev: Option<&str>| {
        let mut c = json!({"fingerprint": f});
        if let Some(p) = prev {
            c["previous_fingerprint"] = json!(p);
        }
        Some(c)
    };
    let (a, a2, b, c1, c2, c3) = (fp("a"), fp("b"), fp("c"), fp("d"), fp("e"), fp("f"));
    let t = "2026-11-25T10:00:00Z";
    // What the old monitor verified: a policy, an issue, a revoke of a
    // credential never issued (alarmed then), a rotation from one never
    // issued (alarmed then), and 200 more credentials.
    let mut entries = vec![
        policy_leaf("2026-11-25T00:00:00.000Z", &policy),
        leaf(&sub, 1, "issue", "svc-a", cred(&a, None), t),
        leaf(&sub, 2, "revoke", "svc-b", cred(&b, None), t),
        leaf(&sub, 3, "rotate", "svc-c", cred(&c2, Some(&c1)), t),
    ];
    for k in 0..200 {
        let f = format!("sha256:{:064x}", k + 7);
        entries.push(leaf(
            &sub,
            entries.len(),
            "rotate",
            &format!("svc-f{k}"),
            cred(&f, None),
            t,
        ));
    }
    let n1 = entries.len() as u64;
    // Its state, as the old monitor saved it.
    let mut ledger = provlog_proto::ledger::Ledger::new();
    let mut lifecycle = LifecycleState::default();
    let mut tree = MemoryTree::new();
    for (i, e) in entries.iter().enumerate() {
        ledger.push_entry(i as u64, e).expect("the rules hold");
        if let Ok(Leaf::Event(ev)) = Leaf::parse(e) {
            lifecycle.check(&Rules::default(), i as u64, &ev.event.event);
        }
        tree.push(leaf_hash(e));
    }
    let root1 = tree.root_at(n1).expect("root");
    let note1 = sign_checkpoint(&Checkpoint::new(log.name(), n1, root1), &log)
        .expect("sign")
        .to_string();
    let legacy = json!({
        "checkpoint": note1,
        "size": n1,
        "root": provlog_tlog::b64::encode(root1),
        "auditor": AuditorState {
            next: n1,
            policy: Some((0, policy.clone())),
            last_logged_at: Leaf::parse(entries.last().expect("entry")).ok().map(|l| l.logged_at().to_owned()),
            credentials: ledger.records(),
            ..AuditorState::default()
        },
        "lifecycle": lifecycle,
    });
    let legacy = serde_json::to_vec(&legacy).expect("json");
    assert!(legacy.len() > 200 * 300, "every credential is in the one value");
    let state = dir.path().join("m");
    let key = format!("log/{}", log.name());
    {
        std::fs::create_dir_all(&state).expect("dir");
        let store = provlog_storage::StateStore::open(&state.join("db")).expect("open");
        store
            .update(key.as_bytes(), |_| Ok::<_, std::convert::Infallible>(legacy.clone()))
            .expect("write")
            .expect("written");
    }
    // The new entries: each alarm below needs what the old ones left.
    let n = entries.len();
    entries.push(leaf(&sub, n, "issue", "svc-b", cred(&b, None), t));
    entries.push(leaf(&sub, n + 1, "rotate", "svc-a", cred(&a2, Some(&a)), t));
    entries.push(leaf(&sub, n + 2, "rotate", "svc-c", cred(&c3, Some(&c1)), t));
    entries.push(leaf(&sub, n + 3, "x-audit", "svc-a", None, "2026-11-25T09:50:00Z"));
    for (i, e) in entries.iter().enumerate().skip(n) {
        let _ = ledger.push_entry(i as u64, e);
    }
    let (map_root, credentials) = (ledger.root(), ledger.len() as u64);
    entries.push(state_leaf(
        "2026-11-25T02:00:00.000Z",
        entries.len() as u64,
        credentials,
        &map_root,
    ));
    let size = entries.len();
    let url = static_log(entries, log.clone()).await;
    let vkey = log.verifier().to_vkey_string();
    let monitor = {
        let (url, vkey, state) = (url.clone(), vkey.clone(), state.clone());
        move || {
            run(&[
                "monitor",
                "--url",
                &url,
                "--log-key",
                &vkey,
                "--state-dir",
                state.to_str().expect("utf8"),
                "--once",
            ])
        }
    };
    let (code, out) = tokio::task::spawn_blocking(monitor.clone()).await.expect("monitor");
    assert_eq!(code, 1, "{out}");
    let origin = log.name();
    // The revoked credential, from the migrated records.
    assert!(
        out.contains(&format!(
            "ALARM authority {origin}: entry {n}: credential {b} is revoked"
        )),
        "{out}"
    );
    // The superseded one and its index, from the migrated lifecycle state.
    assert!(
        out.contains(&format!(
            "ALARM lifecycle:rotate_from_inactive {origin}: entries [3, {}]: rotation at {} replaces {c1}, which is superseded since 3",
            n + 2,
            n + 2
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "ALARM lifecycle:occurred_at_regression {origin}: entries [1, {}]",
            n + 3
        )),
        "{out}"
    );
    // The active one raises nothing; the commitment holds the map of all
    // the entries; the old entries are not replayed (their alarms are not
    // raised again).
    assert_eq!(out.matches("ALARM").count(), 3, "{out}");
    assert!(out.contains(&format!("verified up to size {size}")), "{out}");
    // The state is small now, and the book holds a key per credential.
    let store = provlog_storage::StateStore::open(&state.join("db")).expect("open");
    let saved: Value = serde_json::from_slice(&store.get(key.as_bytes()).expect("get").expect("state")).expect("json");
    assert!(saved["auditor"].get("credentials").is_none(), "{saved}");
    assert!(saved.get("lifecycle").is_none(), "{saved}");
    assert_eq!(saved["auditor"]["in_store"], true, "{saved}");
    assert_eq!(saved["size"], size, "{saved}");
    let book = store
        .all()
        .expect("all")
        .into_iter()
        .filter(|(k, _)| k.starts_with(b"b/"))
        .count();
    assert!(book > 2 * 204, "records, lifecycle states and map nodes: {book} keys");
    drop(store);
    // It resumes from there with nothing new to say.
    let (code, out) = tokio::task::spawn_blocking(monitor).await.expect("monitor");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("verified up to size {size}")), "{out}");
}
