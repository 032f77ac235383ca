//! Regression tests for the defects of issue 13, each against the real
//! binary, each written to fail on the code before its fix.

use crate::common::{Server, client, get_json, peak_rss_kb, run, run_capped};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use std::path::Path;

const TOKEN: &str = "a-long-enough-admin-token";

/// `POST /v1/admin/reload` with the admin token.
async fn reload(c: &reqwest::Client, url: &str) -> reqwest::Response {
    c.post(format!("{url}/v1/admin/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("reload")
}

fn key(id: &str) -> SignerKey {
    let seed = provlog_tlog::merkle::sha256(&[id.as_bytes()]);
    SignerKey::from_seed(id, ALG_ED25519, seed).expect("key")
}

/// A config with one submitter whose `targets` are `n` patterns of
/// `len` characters each.
fn config(path: &Path, n: usize, len: usize) {
    let targets: Vec<String> = (0..n)
        .map(|i| format!("{:?}", format!("svc-{i:04}-{}", "x".repeat(len))))
        .collect();
    let text = format!(
        "origin = \"defects.example/log\"\nadmin_token = {TOKEN:?}\n[[submitters]]\nid = \"ci\"\nkey = {:?}\nactions = [\"*\"]\ntargets = [{}]\n",
        key("ci").verifier().to_vkey_string(),
        targets.join(", ")
    );
    std::fs::write(path, text).expect("config");
}

/// #13.2: a registry whose policy leaf would exceed 65,535 bytes is refused
/// by `config check`, at start and at reload, naming the size and the
/// limit; the log is unchanged by the refused reload.
#[tokio::test]
async fn a_registry_too_large_for_one_leaf_is_refused_at_check_start_and_reload() {
    let dir = tempfile::tempdir().expect("dir");
    let big = dir.path().join("big.toml");
    config(&big, 300, 240);
    let (code, out) = run(&["config", "check", big.to_str().expect("p")]);
    assert_ne!(code, 0, "config check accepted an oversized registry: {out}");
    assert!(out.contains("65535"), "names the limit: {out}");

    let data = dir.path().join("data");
    let err = Server::try_start(&data, &["--config", big.to_str().expect("p")])
        .err()
        .expect("a start with an oversized registry is refused");
    assert!(err.contains("65535"), "{err}");
    assert!(!data.join("db").exists(), "nothing is created by a refused start");

    let small = dir.path().join("small.toml");
    config(&small, 2, 10);
    let s = Server::start(&data, &["--config", small.to_str().expect("p")]);
    let c = client();
    let (_, before) = get_json(&c, &s.url, "/v1/log").await;
    config(&small, 300, 240);
    let r = reload(&c, &s.url).await;
    assert_eq!(r.status().as_u16(), 422);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_config");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| m.contains("65535")),
        "{body}"
    );
    let (_, after) = get_json(&c, &s.url, "/v1/log").await;
    assert_eq!(before["tree_size"], after["tree_size"], "nothing was logged");
    assert_eq!(before["policy_index"], after["policy_index"]);
    let (code, _) = get_json(&c, &s.url, &format!("/tile/entries/000.p/{}", after["tree_size"])).await;
    assert_eq!(code, 200, "the log still serves its bundles");
    s.stop();
}

/// #13.7: a data directory that holds a store but lost its private key is
/// refused at start; no new key is made and `log.vkey` is kept.
#[test]
fn a_store_without_its_key_is_refused_and_no_key_is_made() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    Server::start(&data, &[]).stop();
    let vkey = std::fs::read(data.join("log.vkey")).expect("vkey");
    std::fs::remove_file(data.join("log.skey")).expect("rm");
    let err = Server::try_start(&data, &[]).err().expect("refused");
    assert!(err.contains("log.skey") && err.contains("holds a store"), "{err}");
    assert!(!data.join("log.skey").exists(), "no new key was made");
    assert_eq!(
        std::fs::read(data.join("log.vkey")).expect("vkey"),
        vkey,
        "log.vkey is kept"
    );
}

/// #13.7: a reload of a file with no `[[submitters]]` is refused; the
/// embedded full-scope `dev` submitter is never installed by a reload.
#[tokio::test]
async fn a_reload_without_submitters_is_refused_and_dev_is_not_installed() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("provlog.toml");
    config(&file, 1, 4);
    let data = dir.path().join("data");
    let s = Server::start(&data, &["--config", file.to_str().expect("p")]);
    let c = client();
    let (_, before) = get_json(&c, &s.url, "/v1/log").await;
    std::fs::write(
        &file,
        format!("origin = \"defects.example/log\"\nadmin_token = {TOKEN:?}\n"),
    )
    .expect("write");
    let r = reload(&c, &s.url).await;
    assert_eq!(r.status().as_u16(), 422, "{:?}", r.text().await);
    let (_, after) = get_json(&c, &s.url, "/v1/log").await;
    assert_eq!(before["policy_index"], after["policy_index"]);
    assert_eq!(before["tree_size"], after["tree_size"]);
    assert!(!data.join("dev.skey").exists(), "no dev key was made");
    s.stop();
}

/// #13.3: a log that lost its store but kept its key, restarted with
/// publishing on, finds that the object store holds a larger history. It
/// must not sign anything (no new checkpoint, no policy entry), refuses
/// submissions with 503 `history_diverged`, fails readiness saying what to
/// do, and never contradicts the store's checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_behind_its_published_history_signs_nothing() {
    use crate::common::{post, submission, submit_many, wait_log};
    let dir = tempfile::tempdir().expect("dir");
    let store = dir.path().join("store");
    let url = format!("file://{}", store.display());
    let data = dir.path().join("log");
    let s = Server::start(&data, &["--publish-url", &url]);
    let c = client();
    let key = s.dev_key();
    // The policy, the first state commitment, 20 events, their commitment.
    submit_many(&c, &s.url, &key, "pub", 20).await;
    wait_log(&c, &s.url, "publication", |v| v["publish"]["published_size"] == 23).await;
    s.stop();
    let published = std::fs::read(store.join("checkpoint")).expect("checkpoint");

    // The machine lost db/ but not the key.
    std::fs::remove_dir_all(data.join("db")).expect("rm db");
    let s = Server::start(&data, &["--publish-url", &url]);
    let (code, ready) = get_json(&c, &s.url, "/readyz").await;
    assert_eq!(code, 503, "{ready}");
    assert!(
        ready["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("provlog restore")),
        "{ready}"
    );
    let (code, log) = get_json(&c, &s.url, "/v1/log").await;
    assert_eq!(code, 200);
    assert_eq!(log["tree_size"], 0, "no entry was sequenced: {log}");
    assert_eq!(log["checkpoint"], "", "no checkpoint was signed: {log}");
    let sub = serde_json::to_vec(&submission(&key, &crate::common::event("after-loss", "svc-x"))).expect("json");
    let (st, r) = post(&c, &s.url, "/v1/entries", sub).await;
    assert_eq!(st, 503, "{r}");
    assert_eq!(r["error"]["code"], "history_diverged", "{r}");
    let (code, _) = get_json(&c, &s.url, "/checkpoint").await;
    assert_eq!(code, 503, "no checkpoint to serve");
    assert_eq!(
        std::fs::read(store.join("checkpoint")).expect("checkpoint"),
        published,
        "the store's checkpoint is never contradicted"
    );
    s.stop();
}

/// #13.3: `restore --min-size` refuses a source whose checkpoint is older
/// than one the operator trusts, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_checkpoint_below_the_floor() {
    use crate::common::{submit_many, wait_log};
    let dir = tempfile::tempdir().expect("dir");
    let store = dir.path().join("store");
    let url = format!("file://{}", store.display());
    let s = Server::start(&dir.path().join("log"), &["--publish-url", &url]);
    let c = client();
    submit_many(&c, &s.url, &s.dev_key(), "floor", 5).await;
    wait_log(&c, &s.url, "publication", |v| v["publish"]["published_size"] == 8).await;
    let vkey = s.data_dir.join("log.vkey");
    s.stop();
    let target = dir.path().join("restored");
    let args = |min: &str| {
        vec![
            "restore".to_owned(),
            "--from".to_owned(),
            url.clone(),
            "--data-dir".to_owned(),
            target.to_str().expect("p").to_owned(),
            "--log-key".to_owned(),
            vkey.to_str().expect("p").to_owned(),
            "--min-size".to_owned(),
            min.to_owned(),
        ]
    };
    let a = args("9");
    let (code, out) = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("fewer than --min-size 9"), "{out}");
    assert!(!target.join("db").exists(), "nothing was restored");
    let a = args("8");
    let (code, out) = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{out}");
}

/// #13.4: a checkpoint that a witness failed to cosign is sent again, with
/// back-off, until it is cosigned: on an idle log the witnessed checkpoint
/// does not stay missing after a transient witness failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_witness_round_is_retried_on_an_idle_log() {
    use crate::common::{Killed, free_port, start_witness_on, submit_many, wait_witnessed, write_key};
    use provlog_tlog::keys::ALG_COSIGNATURE_V1;
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let log_key = SignerKey::from_seed("retry.example/log", ALG_ED25519, [60; 32]).expect("k");
    write_key(&data.join("log.skey"), &log_key);
    let wk = SignerKey::from_seed("w.example", ALG_COSIGNATURE_V1, [61; 32]).expect("k");
    // The witness is down while the log sequences its entries.
    let port = free_port();
    let wurl = format!("http://127.0.0.1:{port}");
    let s = Server::start(
        &data,
        &[
            "--origin",
            "retry.example/log",
            "--witness",
            &format!("{wurl}={}", wk.verifier().to_vkey_string()),
            "--witness-interval-ms",
            "50",
        ],
    );
    let c = client();
    submit_many(&c, &s.url, &s.dev_key(), "r", 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (code, _) = get_json(&c, &s.url, "/v1/checkpoint/witnessed").await;
    assert_eq!(code, 404, "nothing is witnessed while the witness is down");
    // The witness comes up; the log sequences nothing more.
    let listen = format!("127.0.0.1:{port}");
    let (child, _) = start_witness_on(
        &dir.path().join("w"),
        &wk,
        &log_key.verifier().to_vkey_string(),
        &listen,
    );
    let _w = Killed(child);
    // The retry back-off doubles from 50 ms.
    let body = wait_witnessed(&c, &s.url, "retry.example/log\n8\n").await;
    assert!(body.starts_with("retry.example/log\n8\n"), "never witnessed: {body:?}");
    assert!(body.contains("\u{2014} w.example "), "{body}");
    s.stop();
}

/// #13.7: a start that fails (here: the port is taken) creates nothing: no
/// key, no store, no entry 0.
#[test]
fn a_failed_start_leaves_nothing_behind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let (code, out) = run(&["serve", "--listen", &addr, "--data-dir", data.to_str().expect("p")]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("listening on"), "{out}");
    for f in ["log.skey", "log.vkey", "dev.skey", "db"] {
        assert!(!data.join(f).exists(), "{f} was created by a failed start: {out}");
    }
    drop(taken);
}

/// #13.5: connections that trickle their bodies do not hold the batch
/// slots: a slot is taken only once the body is in, so a real batch is
/// still served while every slot's worth of slow clients is stuck sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_bodies_do_not_take_the_write_slots() {
    use crate::common::{post, raw, submission};
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(
        &dir.path().join("data"),
        &["--max-batch-requests", "2", "--max-write-requests", "2"],
    );
    let addr = s.url.trim_start_matches("http://").to_owned();
    // Four slow clients per route: headers and a first byte, then nothing.
    let mut slow = Vec::new();
    for path in ["/v1/entries/batch", "/v1/entries"] {
        for _ in 0..4 {
            let mut c = raw(&addr);
            write!(
                c,
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
            )
            .expect("write");
            slow.push(c);
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let c = client();
    let key = s.dev_key();
    let batch = serde_json::json!({"submissions": [submission(&key, &crate::common::event("b-1", "svc-b"))]});
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries/batch",
        serde_json::to_vec(&batch).expect("json"),
    )
    .await;
    assert_eq!(st, 200, "a batch is served while slow clients send: {r}");
    let one = submission(&key, &crate::common::event("s-1", "svc-b"));
    let (st, r) = post(&c, &s.url, "/v1/entries", serde_json::to_vec(&one).expect("json")).await;
    assert_eq!(st, 201, "a submission is served while slow clients send: {r}");
    drop(slow);
    s.stop();
}

/// #13.4: the cosignatures collected and each witness's last size survive a
/// restart: the witnessed checkpoint is served again at once, with the
/// witness unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witnessed_checkpoints_survive_a_restart() {
    use crate::common::{Killed, start_witness_on, submit_many, wait_witnessed, write_key};
    use provlog_tlog::keys::ALG_COSIGNATURE_V1;
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let log_key = SignerKey::from_seed("keep.example/log", ALG_ED25519, [70; 32]).expect("k");
    write_key(&data.join("log.skey"), &log_key);
    let wk = SignerKey::from_seed("wk.example", ALG_COSIGNATURE_V1, [71; 32]).expect("k");
    let (child, wurl) = start_witness_on(
        &dir.path().join("w"),
        &wk,
        &log_key.verifier().to_vkey_string(),
        "127.0.0.1:0",
    );
    let witness = Killed(child);
    let wflag = format!("{wurl}={}", wk.verifier().to_vkey_string());
    let args = [
        "--origin",
        "keep.example/log",
        "--witness",
        &wflag,
        "--witness-interval-ms",
        "50",
    ];
    let s = Server::start(&data, &args);
    let c = client();
    submit_many(&c, &s.url, &s.dev_key(), "k", 3).await;
    let before = wait_witnessed(&c, &s.url, "keep.example/log\n6\n").await;
    assert!(before.starts_with("keep.example/log\n6\n"), "{before:?}");
    s.stop();
    drop(witness);
    let s = Server::start(&data, &args);
    let r = c
        .get(format!("{}/v1/checkpoint/witnessed", s.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "the witnessed checkpoint is kept across a restart");
    assert_eq!(r.text().await.expect("text"), before);
    s.stop();
}

/// #13.7: two filters whose matches never meet cost work bounded per page,
/// not the whole log: the first page ends early with a cursor, and paging
/// on finds exactly the matches (here, three at the very end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_whose_filters_rarely_meet_pages_by_work_done() {
    use crate::common::{post, submission};
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("data"), &[]);
    let c = client();
    let key = s.dev_key();
    let ev = |id: String, target: &str, action: &str| {
        let mut e = crate::common::event(&id, target);
        e["action"] = serde_json::json!(action);
        submission(&key, &e)
    };
    // Interleaved: target A is only rotated, B only revoked; then three
    // entries that match both filters.
    for chunk in 0..3 {
        let subs: Vec<_> = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                if n % 2 == 0 {
                    ev(format!("a-{n}"), "svc-a", "rotate")
                } else {
                    ev(format!("b-{n}"), "svc-b", "revoke")
                }
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({ "submissions": subs })).expect("json");
        let (st, r) = post(&c, &s.url, "/v1/entries/batch", body).await;
        assert_eq!(st, 200, "{r}");
    }
    let subs: Vec<_> = (0..3).map(|i| ev(format!("m-{i}"), "svc-a", "revoke")).collect();
    let body = serde_json::to_vec(&serde_json::json!({ "submissions": subs })).expect("json");
    let (st, _) = post(&c, &s.url, "/v1/entries/batch", body).await;
    assert_eq!(st, 200);

    let mut after: Option<u64> = None;
    let (mut pages, mut found) = (0, Vec::new());
    loop {
        let q = after.map_or(String::new(), |a| format!("&after={a}"));
        let (code, page) = get_json(
            &c,
            &s.url,
            &format!("/v1/events?target=svc-a&action=revoke&limit=10{q}"),
        )
        .await;
        assert_eq!(code, 200, "{page}");
        pages += 1;
        for e in page["entries"].as_array().expect("entries") {
            found.push(e["decoded"]["event"]["event_id"].as_str().expect("id").to_owned());
        }
        match page["next_after"].as_u64() {
            Some(n) => {
                assert!(after.is_none_or(|a| n > a), "the cursor moves on");
                after = Some(n);
            }
            None => break,
        }
        assert!(pages < 100, "paging ends");
    }
    assert!(
        pages > 1,
        "the first page stopped at its work bound instead of scanning the whole log"
    );
    assert_eq!(found, vec!["m-0", "m-1", "m-2"], "every match, once, in order");
    s.stop();
}

/// Pages through `GET /v1/events?limit=1000` to the end; checks every
/// entry's leaf hash and decoded copy; returns the indexes seen.
async fn all_events(c: &reqwest::Client, url: &str) -> (Vec<u64>, usize) {
    let (mut seen, mut pages, mut after) = (Vec::new(), 0, None::<u64>);
    loop {
        let q = after.map_or(String::new(), |a| format!("&after={a}"));
        let (code, page) = get_json(c, url, &format!("/v1/events?limit=1000{q}")).await;
        assert_eq!(code, 200, "{page}");
        pages += 1;
        for e in page["entries"].as_array().expect("entries") {
            let bytes = provlog_tlog::b64::decode(e["entry"].as_str().expect("entry")).expect("b64");
            let lh = provlog_tlog::b64::encode(provlog_tlog::merkle::leaf_hash(&bytes));
            assert_eq!(e["leaf_hash"].as_str(), Some(lh.as_str()), "leaf hash");
            let decoded: serde_json::Value = serde_json::from_slice(&bytes).expect("entry is JSON");
            assert_eq!(e["decoded"], decoded, "decoded is the entry");
            seen.push(e["index"].as_u64().expect("index"));
        }
        match page["next_after"].as_u64() {
            Some(n) => after = Some(n),
            None => return (seen, pages),
        }
        assert!(pages < 10_000, "paging ends");
    }
}

/// Item 1: entries near 64 KiB whose details expand when parsed, eight
/// concurrent full scans and a credential query naming all of them: the
/// server's peak RSS stays within 300 MiB of its idle RSS, and every answer
/// is complete and correct across its pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_page_and_stream_within_a_memory_bound() {
    use crate::common::{post, submission};
    const EVENTS: usize = 1000;
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("data"), &[]);
    let c = client();
    let key = s.dev_key();
    let zeros = vec![serde_json::json!(0); 31_000];
    for chunk in 0..EVENTS / 200 {
        let subs: Vec<_> = (0..200)
            .map(|i| {
                let mut e = crate::common::event(&format!("big-{chunk}-{i}"), "svc-big");
                e["details"] = serde_json::json!({ "p": zeros });
                submission(&key, &e)
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({ "submissions": subs })).expect("json");
        let (st, r) = post(&c, &s.url, "/v1/entries/batch", body).await;
        assert_eq!(st, 200, "{r}");
        for item in r["results"].as_array().expect("results") {
            assert_eq!(item["status"], 201, "{item}");
        }
    }
    // The policy entry, the state commitments (one per batch, and the first
    // one) and the events.
    let size = crate::common::get_json(&c, &s.url, "/v1/log").await.1["tree_size"]
        .as_u64()
        .expect("size");
    assert_eq!(
        size,
        u64::try_from(EVENTS).expect("n") + 2 + u64::try_from(EVENTS / 200).expect("n")
    );
    let pid = s.child.id();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let idle = crate::common::rss_kb(pid);
    // Reset the peak: from here VmHWM is the peak of the reads alone.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("clear_refs");

    let fp = crate::common::fingerprint_of("svc-big");
    let scans = (0..8)
        .map(|_| {
            let (c, url) = (c.clone(), s.url.clone());
            tokio::spawn(async move { all_events(&c, &url).await })
        })
        .collect::<Vec<_>>();
    let cred = {
        let (c, url, fp, vkey) = (c.clone(), s.url.clone(), fp.clone(), s.vkey.clone());
        tokio::spawn(async move {
            // Pages are pinned to the first page's tree size, so that they
            // all prove against one checkpoint and merge into one answer.
            let mut merged: Option<serde_json::Value> = None;
            let mut pages = 0;
            let mut q = "?history=true".to_owned();
            loop {
                let (code, mut page) = get_json(&c, &url, &format!("/v1/credentials/{fp}{q}")).await;
                assert_eq!(code, 200, "{page}");
                pages += 1;
                let next = page["next_after"].as_u64();
                match &mut merged {
                    None => {
                        let (cp, _) = provlog_tlog::checkpoint::open_checkpoint(
                            page["checkpoint"].as_str().expect("checkpoint").as_bytes(),
                            &vkey,
                        )
                        .expect("checkpoint");
                        q = format!("?history=true&tree_size={}", cp.size);
                        merged = Some(page);
                    }
                    Some(m) => {
                        assert_eq!(m["checkpoint"], page["checkpoint"], "one checkpoint for every page");
                        let more = page["history"].as_array_mut().expect("history").split_off(0);
                        m["history"].as_array_mut().expect("history").extend(more);
                        assert_eq!(m["commitment"], page["commitment"], "one commitment for every page");
                    }
                }
                let Some(next) = next else { break };
                let size = q
                    .split("tree_size=")
                    .nth(1)
                    .expect("size")
                    .split('&')
                    .next()
                    .expect("size")
                    .to_owned();
                q = format!("?history=true&tree_size={size}&after={next}");
                assert!(pages < 10_000, "paging ends");
            }
            let mut m = merged.expect("a page");
            m.as_object_mut().expect("object").remove("next_after");
            (m, pages)
        })
    };
    let mut scanned = Vec::new();
    for scan in scans {
        scanned.push(scan.await.expect("scan"));
    }
    let (answer, n) = cred.await.expect("credential");
    let peak = peak_rss_kb(pid);
    eprintln!(
        "large answers: idle RSS {} MiB, peak during reads {} MiB, {} MiB above idle",
        idle / 1024,
        peak / 1024,
        peak.saturating_sub(idle) / 1024
    );
    assert!(
        peak.saturating_sub(idle) < 300 * 1024,
        "peak RSS {peak} KiB is more than 300 MiB above idle ({idle} KiB)"
    );
    for (seen, pages) in scanned {
        assert_eq!(
            seen,
            (0..size).collect::<Vec<_>>(),
            "every entry once, in order (state commitments too)"
        );
        assert!(pages > 1, "an answer of ~150 MB was paged ({pages} pages)");
    }
    let answer: provlog_proto::credential::CredentialAnswer = serde_json::from_value(answer).expect("answer");
    let v = crate::common::verify_credential(&answer, &fp, &s.vkey).expect("the merged answer verifies");
    assert_eq!(v.history.len(), EVENTS, "every event naming the credential");
    assert!(n > 1, "the credential answer was paged ({n} pages)");

    s.stop();
}

/// A log that signs a checkpoint claiming 2^36 entries and serves no tile
/// of it (a malicious log, or one that lost its data).
async fn log_claiming(size: u64, key: &SignerKey) -> String {
    use provlog_tlog::checkpoint::{Checkpoint, sign_checkpoint};
    let cp = Checkpoint::new(key.name(), size, [7u8; 32]);
    let note = sign_checkpoint(&cp, key).expect("sign").to_string();
    let app = axum::Router::new()
        .route("/checkpoint", axum::routing::get(move || async move { note }))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "no such tile") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Item 6: a checkpoint correctly signed but claiming 2^36 entries. Every
/// reader (`fsck --url`, `audit`, `restore`, the monitor) reports it and
/// exits or goes on, in memory that does not depend on the claimed size
/// (each runs under a 1 GiB address-space cap, which the old code's list of
/// 2^28 tiles alone exceeds); the monitor raises an alarm and keeps the
/// signed checkpoint as evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_claiming_an_impossible_size_is_reported_in_bounded_memory() {
    const CAP_MIB: u64 = 1024;
    let dir = tempfile::tempdir().expect("dir");
    let key = key("huge.example/log");
    let vkey = key.verifier().to_vkey_string();
    let url = log_claiming(1 << 36, &key).await;
    let capped = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_capped(CAP_MIB, &args)
        })
    };
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let (code, out) = capped(s(&["fsck", "--url", &url, "--log-key", &vkey]))
        .await
        .expect("fsck");
    assert_eq!(code, 1, "a finding, not a crash: {out}");
    assert!(out.contains("tile/0/000") && out.contains("68719476736"), "{out}");
    let (code, out) = capped(s(&["audit", "--url", &url, "--log-key", &vkey]))
        .await
        .expect("audit");
    assert_eq!(code, 1, "a finding, not a crash: {out}");
    assert!(out.contains("tile/0/000"), "{out}");
    let restored = dir.path().join("restored");
    let (code, out) = capped(s(&[
        "restore",
        "--from",
        &url,
        "--log-key",
        &vkey,
        "--data-dir",
        restored.to_str().expect("utf8"),
    ]))
    .await
    .expect("restore");
    assert_eq!(code, 1, "an error, not a crash: {out}");
    assert!(!restored.join("db").exists(), "nothing restored");

    // The monitor keeps running: it alarms, keeps the evidence, and its
    // peak memory stays small.
    let state = dir.path().join("monitor");
    let mut child = std::process::Command::new(crate::common::BIN)
        .args(["monitor", "--url", &url, "--log-key", &vkey, "--listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(&state)
        .args(["--interval-ms", "200"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("monitor");
    let evidence = state
        .join("evidence")
        .join("unserved-huge.example_log-68719476736.json");
    let mut waited = 0;
    while !evidence.exists() && waited < 600 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
        assert!(child.try_wait().expect("wait").is_none(), "the monitor died");
    }
    // A few more polls of the same checkpoint.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(child.try_wait().expect("wait").is_none(), "the monitor keeps running");
    let peak = peak_rss_kb(child.id());
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "monitor against a checkpoint of 2^36 entries: peak RSS {} MiB",
        peak / 1024
    );
    assert!(evidence.exists(), "the signed checkpoint is kept as evidence: {out}");
    let ev: serde_json::Value = serde_json::from_slice(&std::fs::read(&evidence).expect("read")).expect("json");
    assert!(
        provlog_tlog::checkpoint::open_checkpoint(ev["checkpoint"].as_str().expect("cp").as_bytes(), &key.verifier())
            .is_ok(),
        "the evidence is the log's own signature"
    );
    assert!(out.contains("ALARM unserved huge.example/log"), "{out}");
    assert!(peak < 200 * 1024, "monitor peak RSS {peak} KiB");
}

/// Item 1: reads have their own admission limit. A client that asks for a
/// large answer and never reads it holds its read slot; further reads get
/// `503` with `Retry-After` while writes go on; once the request deadline
/// passes the blocking work stops, the connection of a client that takes no
/// bytes is closed after the write timeout, the slot is free again, and the
/// answer the client never read is cut short (no final chunk), not
/// truncated into something that parses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_have_their_own_slots_and_stop_at_the_deadline() {
    use crate::common::{post, submission};
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(
        &dir.path().join("data"),
        &[
            "--max-read-requests",
            "1",
            "--max-answer-bytes",
            "268435456",
            "--request-timeout-ms",
            "3000",
            "--header-timeout-ms",
            "5000",
        ],
    );
    let c = client();
    let key = s.dev_key();
    let zeros = vec![serde_json::json!(0); 31_000];
    // In batches small enough to finish well inside the 3 s request
    // deadline on a loaded machine (it once took longer for 200 at once).
    for chunk in 0..8 {
        let subs: Vec<_> = (0..50)
            .map(|i| {
                let mut e = crate::common::event(&format!("slot-{chunk}-{i}"), "svc-slot");
                e["details"] = serde_json::json!({ "p": zeros });
                submission(&key, &e)
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({ "submissions": subs })).expect("json");
        let (st, r) = post(&c, &s.url, "/v1/entries/batch", body).await;
        assert_eq!(st, 200, "{r}");
    }
    // About 60 MB of answer, far more than the socket buffers hold. Its
    // status line shows it was admitted (a read in flight at that moment
    // would have had it shed: then ask again).
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut stuck = None;
    for _ in 0..100 {
        let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
        conn.write_all(format!("GET /v1/events?limit=1000 HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .expect("write");
        let mut status = [0u8; 12];
        conn.read_exact(&mut status).expect("status line");
        if &status == b"HTTP/1.1 200" {
            stuck = Some(conn);
            break;
        }
    }
    let mut stuck = stuck.expect("the large answer was admitted");
    let shed = Some(c.get(format!("{}/v1/entries/0", s.url)).send().await.expect("get")).filter(|r| r.status() == 503);
    let shed = shed.expect("a read is shed while the slot is held");
    assert_eq!(
        shed.headers()
            .get("retry-after")
            .map(reqwest::header::HeaderValue::as_bytes),
        Some(&b"1"[..])
    );
    let v: serde_json::Value = shed.json().await.expect("json");
    assert_eq!(v["error"]["code"], "overloaded", "{v}");
    // Writes have their own slots.
    let e = crate::common::event("slot-write", "svc-slot");
    let (st, r) = post(
        &c,
        &s.url,
        "/v1/entries",
        serde_json::to_vec(&submission(&key, &e)).expect("json"),
    )
    .await;
    assert_eq!(st, 201, "a write while the reads are full: {r}");
    // The deadline stops the producer and the write timeout (the header
    // timeout) closes the connection: the slot is free again although the
    // client never reads.
    let mut freed = false;
    for _ in 0..300 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if c.get(format!("{}/v1/entries/0", s.url))
            .send()
            .await
            .expect("get")
            .status()
            == 200
        {
            freed = true;
            break;
        }
    }
    assert!(freed, "the slot is free again after the deadline");
    // What the stuck client gets is cut short: the connection ends without
    // the final zero-length chunk.
    stuck
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut got = Vec::new();
    let _ = stuck.read_to_end(&mut got);
    assert!(got.len() > 1 << 20, "the answer had begun ({} bytes)", got.len());
    assert!(!got.ends_with(b"\r\n0\r\n\r\n"), "a cut answer has no final chunk");
    s.stop();
}
