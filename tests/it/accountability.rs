//! Accountability over the real server: scoped delegated authority, reloads
//! logged as policy entries (also under load), batch submission, search by
//! identity against a brute-force scan, credential state with proofs, and
//! the auditor rebuilding every event's authority from tiles and bundles.

#![expect(
    clippy::cast_possible_truncation,
    reason = "counts and indexes it builds itself, far below 2^32"
)]

use crate::common::{self, BIN, Server, client, event, get, get_json, raw_submission, submission};
use provlog_proto::credential::{CredentialAnswer, CredentialState};
use provlog_proto::leaf::Leaf;
use provlog_proto::receipt::Receipt;
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use provlog_tlog::tile::{TileKind, decode_bundle, tiles_for_size};
use serde_json::{Value, json};
use std::path::Path;

const TOKEN: &str = "a-long-enough-admin-token";

/// (submitter, action, target, system, status, code, word in message)
type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, u16, &'a str, &'a str);

fn key(id: &str) -> SignerKey {
    let seed = provlog_tlog::merkle::sha256(&[id.as_bytes()]);
    SignerKey::from_seed(id, ALG_ED25519, seed).expect("key")
}

/// A `[[submitters]]` block.
fn block(id: &str, actions: &[&str], targets: &[&str], extra: &str) -> String {
    let q = |v: &[&str]| v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    format!(
        "[[submitters]]\nid = {id:?}\nkey = {:?}\nactions = [{}]\ntargets = [{}]\n{extra}\n",
        key(id).verifier().to_vkey_string(),
        q(actions),
        q(targets)
    )
}

fn write_config(path: &Path, blocks: &[String]) {
    std::fs::write(path, format!("origin = \"acct.example/log\"\n{}", blocks.concat())).expect("config");
}

async fn post_json(c: &reqwest::Client, url: &str, path: &str, v: &Value) -> (u16, Value) {
    let r = c.post(format!("{url}{path}")).json(v).send().await.expect("post");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn all_entries(c: &reqwest::Client, s: &Server) -> Vec<Vec<u8>> {
    let (cp, _) = common::checkpoint(c, s).await;
    let mut out = Vec::new();
    for t in tiles_for_size(cp.size)
        .into_iter()
        .filter(|t| t.kind == TileKind::Entries)
    {
        let (st, body) = get(c, &s.url, &format!("/{}", t.path())).await;
        assert_eq!(st, 200);
        out.extend(
            decode_bundle(&body, usize::from(t.width))
                .expect("bundle")
                .into_iter()
                .map(<[u8]>::to_vec),
        );
    }
    out
}

fn audit(s: &Server) -> (bool, String) {
    let o = std::process::Command::new(BIN)
        .args(["audit", "--url", &s.url, "--log-key", &s.vkey.to_vkey_string()])
        .output()
        .expect("audit");
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_matrix() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("provlog.toml");
    write_config(
        &cfg,
        &[
            block("ci", &["issue", "rotate"], &["svc-*", "k8s/prod/*"], ""),
            block("gcp-only", &["*"], &["*"], "systems = [\"gcp\"]"),
            block("custom", &["x-*"], &["svc-?"], ""),
            block("expired", &["*"], &["*"], "not_after = \"2020-01-01T00:00:00Z\""),
            block("future", &["*"], &["*"], "not_before = \"2099-01-01T00:00:00Z\""),
        ],
    );
    let s = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("p")]);
    let c = client();
    let ev = |action: &str, target: &str, system: Option<&str>| {
        let mut e = event(&format!("m-{action}-{target}-{}", system.unwrap_or("none")), target);
        e["action"] = json!(action);
        match system {
            Some(x) => e["target"]["system"] = json!(x),
            None => {
                e["target"].as_object_mut().expect("o").remove("system");
            }
        }
        e
    };
    let cases: &[Case<'_>] = &[
        ("ci", "rotate", "svc-payments", Some("gcp"), 201, "", ""),
        ("ci", "issue", "k8s/prod/ns/sa", None, 201, "", ""),
        ("ci", "revoke", "svc-payments", None, 403, "out_of_scope", "actions"),
        ("ci", "rotate", "db-main", None, 403, "out_of_scope", "targets"),
        ("ci", "rotate", "k8s/staging/sa", None, 403, "out_of_scope", "targets"),
        ("gcp-only", "revoke", "anything", Some("gcp"), 201, "", ""),
        (
            "gcp-only",
            "revoke",
            "anything",
            Some("aws"),
            403,
            "out_of_scope",
            "systems",
        ),
        ("gcp-only", "revoke", "other", None, 403, "out_of_scope", "systems"),
        ("custom", "x-attest", "svc-1", None, 201, "", ""),
        ("custom", "issue", "svc-1", None, 403, "out_of_scope", "actions"),
        ("custom", "x-attest", "svc-12", None, 403, "out_of_scope", "targets"),
        (
            "expired",
            "issue",
            "svc-a",
            None,
            403,
            "submitter_not_valid",
            "not_after",
        ),
        (
            "future",
            "issue",
            "svc-a",
            None,
            403,
            "submitter_not_valid",
            "not_before",
        ),
    ];
    let mut size = common::checkpoint(&c, &s).await.0.size;
    for (who, action, target, system, status, code, word) in cases {
        let (st, v) = post_json(
            &c,
            &s.url,
            "/v1/entries",
            &submission(&key(who), &ev(action, target, *system)),
        )
        .await;
        assert_eq!(st, *status, "{who} {action} {target}: {v}");
        let now = common::checkpoint(&c, &s).await.0.size;
        if *status == 201 {
            // The event, and the state commitment of the credential it
            // changed (custom `x-` actions change none).
            let commits = u64::from(!action.starts_with("x-"));
            assert_eq!(now, size + 1 + commits, "{who} {action} {target}");
            size = now;
        } else {
            assert_eq!(v["error"]["code"], *code, "{v}");
            let msg = v["error"]["message"].as_str().expect("message");
            assert!(msg.contains(word) && msg.contains(who), "{msg}");
            assert_eq!(now, size, "a refused submission changed the tree");
        }
    }
    let (ok, out) = audit(&s);
    assert!(ok, "{out}");
}

#[test]
fn malformed_globs_and_duplicate_ids_are_refused_at_start_with_the_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("provlog.toml");
    write_config(
        &cfg,
        &[
            block("ci", &["issue"], &["svc-*"], ""),
            block("bad", &["issue"], &["svc-[a-z]"], ""),
        ],
    );
    let err = Server::try_start(&dir.path().join("data"), &["--config", cfg.to_str().expect("p")])
        .err()
        .expect("must refuse");
    assert!(err.contains("line 8") && err.contains("reserved"), "{err}");
    write_config(
        &cfg,
        &[
            block("ci", &["issue"], &["svc-*"], ""),
            block("ci", &["rotate"], &["svc-*"], ""),
        ],
    );
    let err = Server::try_start(&dir.path().join("data2"), &["--config", cfg.to_str().expect("p")])
        .err()
        .expect("must refuse");
    assert!(
        err.contains("line 8") && err.contains("already defined at line 2"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_under_load_logs_the_policy_before_any_event_checked_under_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("provlog.toml");
    // Before: ci may touch svc-*. After: only svc-a*, and ops joins.
    write_config(&cfg, &[block("ci", &["rotate"], &["svc-*"], "")]);
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().expect("p"), "--admin-token", TOKEN],
    );
    let c = client();

    // The admin API refuses without the token.
    let r = c.post(format!("{}/v1/admin/reload", s.url)).send().await.expect("post");
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{}/v1/admin/reload", s.url))
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);

    // Load: 16 clients submit to svc-a… and svc-b… while the reload happens.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (c, url, stop) = (c.clone(), s.url.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut k = 0;
            let mut refused_after = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let target = if k % 2 == 0 {
                    format!("svc-a{t}")
                } else {
                    format!("svc-b{t}")
                };
                let (st, v) = post_json(
                    &c,
                    &url,
                    "/v1/entries",
                    &submission(&key("ci"), &event(&format!("l-{t}-{k}"), &target)),
                )
                .await;
                assert!(st == 201 || st == 403, "{st} {v}");
                if st == 403 {
                    assert!(target.starts_with("svc-b"), "{target} refused: {v}");
                    refused_after += 1;
                }
                k += 1;
            }
            refused_after
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    write_config(
        &cfg,
        &[
            block("ci", &["rotate"], &["svc-a*"], ""),
            block("ops", &["revoke"], &["*"], ""),
        ],
    );
    let r = c
        .post(format!("{}/v1/admin/reload", s.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 200);
    let rel: Value = r.json().await.expect("json");
    assert_eq!(rel["changed"], true);
    let policy_index = rel["policy_index"].as_u64().expect("policy index");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut refused = 0;
    for t in tasks {
        refused += t.await.expect("task");
    }
    assert!(refused > 0, "the narrowed scope never refused anything");
    // ops can log now.
    let (st, v) = post_json(
        &c,
        &s.url,
        "/v1/entries",
        &submission(&key("ops"), &{
            let mut e = event("ops-1", "db-main");
            e["action"] = json!("revoke");
            e
        }),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert!(v["index"].as_u64().expect("index") > policy_index);

    // In the log: every event after the policy entry is within the new
    // scope, and the auditor agrees for every entry.
    let entries = all_entries(&c, &s).await;
    let mut before = 0;
    let mut after = 0;
    for (i, e) in entries.iter().enumerate() {
        match Leaf::parse(e).expect("leaf") {
            Leaf::Policy(p) => assert!(i == 0 || i as u64 == policy_index, "unexpected policy at {i}: {p:?}"),
            Leaf::State(_) | Leaf::Heartbeat(_) | Leaf::LogKey(_) => {}
            Leaf::Event(ev) => {
                let t = &ev.event.event.target.id;
                if (i as u64) < policy_index {
                    before += 1;
                } else {
                    after += 1;
                    assert!(
                        t.starts_with("svc-a") || ev.submitter == "ops",
                        "entry {i} for {t} after the narrowing"
                    );
                }
            }
        }
    }
    assert!(
        before > 0 && after > 0,
        "load did not straddle the reload ({before} before, {after} after)"
    );
    let (ok, out) = audit(&s);
    assert!(ok, "{out}");
    assert!(out.contains("2 policy entries") && out.contains("0 findings"), "{out}");

    // An invalid file keeps the old registry and says why; nothing is logged.
    let size = common::checkpoint(&c, &s).await.0.size;
    std::fs::write(&cfg, "origin = \"acct.example/log\"\n[[submitters]]\nid = \"x\"\n").expect("w");
    let r = c
        .post(format!("{}/v1/admin/reload", s.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "invalid_config");
    assert!(
        v["error"]["message"].as_str().expect("m").contains("missing field"),
        "{v}"
    );
    assert_eq!(common::checkpoint(&c, &s).await.0.size, size);
    let (st, _) = post_json(
        &c,
        &s.url,
        "/v1/entries",
        &submission(&key("ops"), &{
            let mut e = event("ops-2", "db-main");
            e["action"] = json!("revoke");
            e
        }),
    )
    .await;
    assert_eq!(st, 201, "the old registry must stay in force");

    // SIGHUP reloads too.
    write_config(&cfg, &[block("ci", &["rotate"], &["svc-*"], "")]);
    let size = common::checkpoint(&c, &s).await.0.size;
    std::process::Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .expect("kill -HUP");
    let mut grew = false;
    for _ in 0..100 {
        if common::checkpoint(&c, &s).await.0.size == size + 1 {
            grew = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(grew, "SIGHUP did not log the new registry");
    let (_, e) = get_json(&c, &s.url, &format!("/v1/entries/{size}")).await;
    assert_eq!(e["decoded"]["kind"], "policy");
    let (st, _) = post_json(
        &c,
        &s.url,
        "/v1/entries",
        &submission(&key("ops"), &{
            let mut e = event("ops-3", "db-main");
            e["action"] = json!("revoke");
            e
        }),
    )
    .await;
    assert_eq!(st, 401, "ops was removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_is_off_without_a_token() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &[]);
    let r = client()
        .post(format!("{}/v1/admin/reload", s.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "admin_disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_with_mixed_items() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("provlog.toml");
    write_config(&cfg, &[block("ci", &["rotate", "issue"], &["svc-*"], "")]);
    let s = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("p")]);
    let c = client();
    let ci = key("ci");
    let (st, earlier) = post_json(&c, &s.url, "/v1/entries", &submission(&ci, &event("b-0", "svc-x"))).await;
    assert_eq!(st, 201);
    let size0 = common::checkpoint(&c, &s).await.0.size;
    let mut bad_sig = submission(&ci, &event("b-bad-sig", "svc-x"));
    bad_sig["signature"] = json!(provlog_tlog::b64::encode([9u8; 64]));
    let mut conflict = event("b-0", "svc-x");
    conflict["outcome"] = json!("failure");
    let items = vec![
        submission(&ci, &event("b-1", "svc-x")),            // 201
        json!({"event": {}, "submitter": "ci"}),            // 400 invalid_submission
        raw_submission(&ci, &json!({"event_id": "b-2"})),   // 400 invalid_event
        bad_sig,                                            // 401 bad_signature
        submission(&key("nobody"), &event("b-3", "svc-x")), // 401 unknown_submitter
        submission(&ci, &event("b-4", "db-main")),          // 403 out_of_scope
        submission(&ci, &event("b-0", "svc-x")),            // 200 earlier index
        submission(&ci, &conflict),                         // 409
        submission(&ci, &event("b-5", "svc-y")),            // 201
        submission(&ci, &event("b-5", "svc-y")),            // 200 same as previous item
    ];
    let (st, v) = post_json(&c, &s.url, "/v1/entries/batch", &json!({ "submissions": items })).await;
    assert_eq!(st, 200, "{v}");
    let r = v["results"].as_array().expect("results");
    let statuses: Vec<u64> = r.iter().map(|x| x["status"].as_u64().expect("status")).collect();
    assert_eq!(statuses, [201, 400, 400, 401, 401, 403, 200, 409, 201, 200]);
    let codes: Vec<&str> = r.iter().map(|x| x["error"]["code"].as_str().unwrap_or("")).collect();
    assert_eq!(
        codes,
        [
            "",
            "invalid_submission",
            "invalid_event",
            "bad_signature",
            "unknown_submitter",
            "out_of_scope",
            "",
            "event_id_conflict",
            "",
            ""
        ]
    );
    assert_eq!(r[6]["receipt"]["index"], earlier["index"]);
    assert_eq!(r[8]["receipt"]["index"], r[9]["receipt"]["index"]);
    for i in [0, 6, 8, 9] {
        let receipt: Receipt = serde_json::from_value(r[i]["receipt"].clone()).expect("receipt");
        receipt.verify(&s.vkey).expect("receipt verifies");
    }
    // Exactly the two new events were appended, once each, in one batch,
    // and the batch's state commitment after them.
    assert_eq!(common::checkpoint(&c, &s).await.0.size, size0 + 3);
    let i1 = r[0]["receipt"]["index"].as_u64().expect("i");
    let i5 = r[8]["receipt"]["index"].as_u64().expect("i");
    assert_eq!((i1, i5), (size0, size0 + 1));
    assert_eq!(
        r[0]["receipt"]["checkpoint"], r[8]["receipt"]["checkpoint"],
        "one batch, one checkpoint"
    );

    // Whole-request errors.
    for (body, code) in [
        (json!({"submissions": []}), "invalid_batch"),
        (json!({"submissions": "x"}), "invalid_batch"),
        (json!({"items": []}), "invalid_batch"),
        (json!([]), "invalid_batch"),
        (json!({"submissions": vec![json!({}); 1001]}), "invalid_batch"),
    ] {
        let (st, v) = post_json(&c, &s.url, "/v1/entries/batch", &body).await;
        assert_eq!((st, v["error"]["code"].as_str()), (400, Some(code)), "{v}");
    }
    assert_eq!(common::checkpoint(&c, &s).await.0.size, size0 + 3);
}

/// A tiny deterministic generator for the random event stream.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// An event of `action` on credential `cred` for `target`.
fn credential_event(id: &str, target: &str, action: &str, cred: Value) -> Value {
    let mut e = event(id, target);
    e["action"] = json!(action);
    e["credential"] = cred;
    e
}

fn fp(n: u64) -> String {
    format!("sha256:{n:064x}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_equals_a_brute_force_scan() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &[]);
    let dev = s.dev_key();
    let c = client();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("search property seed {seed}");
    let mut rng = Rng(seed);
    let actions = ["issue", "rotate", "revoke", "bind", "x-audit"];
    for b in 0..4 {
        let subs: Vec<Value> = (0..150)
            .map(|k| {
                let mut e = event(&format!("s-{b}-{k}"), &format!("svc-{}", rng.below(6)));
                e["action"] = json!(actions[rng.below(5) as usize]);
                e["actor"]["id"] = json!(format!("wf/{}", rng.below(4)));
                match rng.below(3) {
                    0 => {
                        e.as_object_mut().expect("o").remove("credential");
                    }
                    1 => e["credential"] = json!({"fingerprint": fp(rng.below(8))}),
                    _ => {
                        e["credential"] =
                            json!({"fingerprint": fp(rng.below(8)), "previous_fingerprint": fp(rng.below(8))});
                    }
                }
                submission(&dev, &e)
            })
            .collect();
        let (st, v) = post_json(&c, &s.url, "/v1/entries/batch", &json!({ "submissions": subs })).await;
        assert_eq!(st, 200);
        // Random credentials break the ownership rules now and then (another
        // target's fingerprint, a retired one reissued): those are refused,
        // and the search is compared with what the log holds.
        assert!(
            v["results"].as_array().expect("r").iter().all(|r| r["status"] == 201
                || (r["status"] == 403
                    && ["credential_owned_by_other", "credential_retired"]
                        .contains(&r["error"]["code"].as_str().unwrap_or("")))),
            "{v}"
        );
    }
    let entries = all_entries(&c, &s).await;
    let decoded: Vec<Option<provlog_proto::event::Event>> = entries
        .iter()
        .map(|e| match Leaf::parse(e).expect("leaf") {
            Leaf::Event(ev) => Some(ev.event.event),
            Leaf::Policy(_) | Leaf::State(_) | Leaf::Heartbeat(_) | Leaf::LogKey(_) => None,
        })
        .collect();
    for _ in 0..60 {
        let mut q: Vec<(&str, String)> = Vec::new();
        if rng.below(2) == 0 {
            q.push(("target", format!("svc-{}", rng.below(7))));
        }
        if rng.below(3) == 0 {
            q.push(("actor", format!("wf/{}", rng.below(4))));
        }
        if rng.below(2) == 0 {
            q.push(("credential", fp(rng.below(9))));
        }
        if rng.below(3) == 0 {
            q.push(("action", actions[rng.below(5) as usize].to_owned()));
        }
        let limit = 1 + rng.below(120);
        let want: Vec<u64> = decoded
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                q.iter().all(|(k, v)| match (e, *k) {
                    (None, _) => false,
                    (Some(e), "target") => e.target.id == *v,
                    (Some(e), "actor") => e.actor.id == *v,
                    (Some(e), "action") => e.action == *v,
                    (Some(e), _) => provlog_proto::credential::names(e, v),
                })
            })
            .map(|(i, _)| i as u64)
            .collect();
        // Page through with the cursor.
        let mut got = Vec::new();
        let mut after: Option<u64> = None;
        loop {
            let mut qq = q.clone();
            qq.push(("limit", limit.to_string()));
            if let Some(a) = after {
                qq.push(("after", a.to_string()));
            }
            let r = c
                .get(format!("{}/v1/events", s.url))
                .query(&qq)
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.expect("json");
            let page = v["entries"].as_array().expect("entries");
            assert!(page.len() as u64 <= limit);
            for e in page {
                let i = e["index"].as_u64().expect("index");
                let bytes = provlog_tlog::b64::decode(e["entry"].as_str().expect("entry")).expect("b64");
                assert_eq!(bytes, entries[i as usize]);
                got.push(i);
            }
            match v["next_after"].as_u64() {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(got, want, "query {q:?} limit {limit}");
    }
    // Bad search parameters.
    let long = "x".repeat(1025);
    for q in [
        "target=".to_owned(),
        format!("target={long}"),
        "credential=md5:abc".to_owned(),
        "action=delete".to_owned(),
        "limit=0".to_owned(),
        "limit=1001".to_owned(),
        "after=-1".to_owned(),
        "colour=red".to_owned(),
        "target=a&target=b".to_owned(),
        "actor=%01".to_owned(),
    ] {
        let (st, v) = get_json(&c, &s.url, &format!("/v1/events?{q}")).await;
        assert_eq!(st, 400, "{q}: {v}");
        assert_eq!(v["error"]["code"], "invalid_parameter", "{q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_state_transitions_with_proofs() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &[]);
    let dev = s.dev_key();
    let c = client();
    let (a, b, x) = (fp(0xa), fp(0xb), fp(0xe));
    let submit =
        |id: &str, action: &str, cred: Value| submission(&dev, &credential_event(id, "svc-cred", action, cred));
    let state = |fingerprint: String| {
        let (c, url, vkey, dir) = (c.clone(), s.url.clone(), s.vkey.clone(), dir.path().to_owned());
        async move {
            let (st, v) = get_json(&c, &url, &format!("/v1/credentials/{fingerprint}?history=true")).await;
            assert_eq!(st, 200, "{v}");
            let answer: CredentialAnswer = serde_json::from_value(v.clone()).expect("answer");
            let verified =
                crate::common::verify_credential(&answer, &fingerprint, &vkey).expect("answer verifies offline");
            // Tampering is caught: another state, a record changed, a
            // record dropped, a commitment too old for the verifier.
            let mut wrong = answer.clone();
            wrong.state = if answer.state == CredentialState::Active {
                CredentialState::Revoked
            } else {
                CredentialState::Active
            };
            assert!(crate::common::verify_credential(&wrong, &fingerprint, &vkey).is_err());
            if let Some(r) = &answer.record {
                let mut changed = answer.clone();
                let mut rec = r.clone();
                rec.state = match r.state {
                    provlog_proto::ledger::RecordState::Active => provlog_proto::ledger::RecordState::Revoked,
                    _ => provlog_proto::ledger::RecordState::Active,
                };
                changed.state = provlog_proto::credential::record_state(Some(&rec), i64::MIN);
                changed.record = Some(rec);
                assert!(matches!(
                    crate::common::verify_credential(&changed, &fingerprint, &vkey),
                    Err(provlog_proto::credential::CredentialError::MapProof(_))
                ));
                let mut dropped = answer.clone();
                dropped.record = None;
                dropped.state = CredentialState::Unknown;
                dropped.history.clear();
                assert!(crate::common::verify_credential(&dropped, &fingerprint, &vkey).is_err());
            }
            let stale = answer.verify_for(
                &fingerprint,
                &provlog_proto::credential::Requirements {
                    log_key: &vkey,
                    witnesses: &[],
                    min_witnesses: 0,
                    now_millis: i64::MAX / 2,
                    max_age_millis: 60_000,
                    as_of_entry: None,
                },
            );
            assert!(
                matches!(stale, Err(provlog_proto::credential::CredentialError::Stale { .. })),
                "{stale:?}"
            );
            // The CLI agrees.
            let f = dir.join("answer.json");
            std::fs::write(&f, v.to_string()).expect("w");
            let o = std::process::Command::new(BIN)
                .args([
                    "verify",
                    "--credential",
                    f.to_str().expect("p"),
                    "--fingerprint",
                    &fingerprint,
                    "--log-key",
                    &vkey.to_vkey_string(),
                ])
                .output()
                .expect("verify");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            (verified.state, answer.history.len())
        }
    };
    assert_eq!(state(a.clone()).await, (CredentialState::Unknown, 0));
    let future = "2099-01-01T00:00:00Z";
    let (st, _) = post_json(
        &c,
        &s.url,
        "/v1/entries",
        &submit("c-1", "issue", json!({"fingerprint": a, "not_after": future})),
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(state(a.clone()).await, (CredentialState::Active, 1));
    let (st, _) = post_json(
        &c,
        &s.url,
        "/v1/entries",
        &submit("c-2", "rotate", json!({"fingerprint": b, "previous_fingerprint": a})),
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(state(a.clone()).await, (CredentialState::Superseded, 2));
    assert_eq!(state(b.clone()).await, (CredentialState::Active, 1));
    // A failed revoke is history but not state.
    let mut failed = submit("c-3", "revoke", json!({"fingerprint": b}));
    failed["event"]["outcome"] = json!("failure");
    let failed = submission(&dev, &failed["event"]);
    let (st, _) = post_json(&c, &s.url, "/v1/entries", &failed).await;
    assert_eq!(st, 201);
    assert_eq!(state(b.clone()).await, (CredentialState::Active, 2));
    let (st, _) = post_json(
        &c,
        &s.url,
        "/v1/entries",
        &submit("c-4", "revoke", json!({"fingerprint": b})),
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(state(b.clone()).await, (CredentialState::Revoked, 3));
    // Expiry: not_after in the past.
    let (st, _) = post_json(
        &c,
        &s.url,
        "/v1/entries",
        &submit(
            "c-5",
            "issue",
            json!({"fingerprint": x, "not_after": "2021-01-01T00:00:00Z"}),
        ),
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(state(x.clone()).await, (CredentialState::Expired, 1));
    // Bad fingerprints.
    for bad in [
        "sha256:xyz",
        "md5:00",
        &format!("sha256:{}", "A".repeat(64)),
        &format!("sha256:{}", "a".repeat(65)),
        &format!("sha512:{}", "a".repeat(128)),
        &format!("sha256:{}", "a".repeat(5000)),
    ] {
        let (st, v) = get_json(&c, &s.url, &format!("/v1/credentials/{bad}")).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (400, Some("invalid_parameter")),
            "{bad}"
        );
    }
}

/// Answers for the latest tree come from memory once their version is
/// cached (`Log::credential_state_in_memory`); they must be the bytes the
/// store's own path gives for the same checkpoint (`?tree_size=`, always
/// read on the blocking pool), and move on with the tree.
#[tokio::test]
async fn credential_answers_from_memory_are_the_stores_answers() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &[]);
    let dev = s.dev_key();
    let c = client();
    let (a, b, x) = (fp(0x1a), fp(0x1b), fp(0x1e));
    let post = |id: &str, action: &str, cred: Value| {
        let sub = submission(&dev, &credential_event(id, "svc-mem", action, cred));
        let (c, url) = (c.clone(), s.url.clone());
        async move {
            let (st, v) = post_json(&c, &url, "/v1/entries", &sub).await;
            assert_eq!(st, 201, "{v}");
        }
    };
    let answer = |fingerprint: String| {
        let (c, url, vkey) = (c.clone(), s.url.clone(), s.vkey.clone());
        async move {
            let path = format!("/v1/credentials/{fingerprint}");
            let (st, first) = get(&c, &url, &path).await;
            assert_eq!(st, 200);
            let v: Value = serde_json::from_slice(&first).expect("json");
            let size: u64 = v["checkpoint"]
                .as_str()
                .and_then(|n| n.lines().nth(1))
                .and_then(|l| l.parse().ok())
                .expect("a checkpoint size");
            // Asked again (from memory now) and through the store's path.
            let (_, again) = get(&c, &url, &path).await;
            let (_, stored) = get(&c, &url, &format!("{path}?tree_size={size}")).await;
            assert_eq!(
                String::from_utf8_lossy(&again),
                String::from_utf8_lossy(&first),
                "the same answer twice"
            );
            assert_eq!(
                String::from_utf8_lossy(&again),
                String::from_utf8_lossy(&stored),
                "memory and store agree"
            );
            let parsed: CredentialAnswer = serde_json::from_value(v).expect("answer");
            crate::common::verify_credential(&parsed, &fingerprint, &vkey).expect("verifies offline");
            parsed.state
        }
    };
    post("m-1", "issue", json!({"fingerprint": a})).await;
    assert_eq!(answer(a.clone()).await, CredentialState::Active);
    assert_eq!(answer(x.clone()).await, CredentialState::Unknown);
    post("m-2", "rotate", json!({"fingerprint": b, "previous_fingerprint": a})).await;
    assert_eq!(answer(a.clone()).await, CredentialState::Superseded);
    assert_eq!(answer(b.clone()).await, CredentialState::Active);
    post("m-3", "revoke", json!({"fingerprint": b})).await;
    assert_eq!(answer(b.clone()).await, CredentialState::Revoked);
    assert_eq!(answer(x).await, CredentialState::Unknown);
}
