//! Overload and limits over the real server: a write flood is shed with 503
//! while memory stays flat, accepted writes are all durable and nothing shed
//! reaches the tree, and reads keep answering; per-submitter rate limits
//! answer 429; slow bodies get 408; idle and slow-header connections are
//! cut; the connection cap holds; freeze makes the log read-only for good.
//!
//! Latencies are printed, never asserted (they belong in BENCHMARKS.md).

use crate::common::{self, Server, checkpoint, client, event, get, raw, rss_kb, submission};
use provlog_proto::receipt::Receipt;
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "p is in 0..=1, so the rank is a valid index"
    )]
    let i = ((v.len() - 1) as f64 * p) as usize;
    v[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_flood_is_shed_while_reads_keep_answering() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(
        &dir.path().join("data"),
        &[
            "--queue-capacity",
            "256",
            "--verify-queue",
            "64",
            "--verify-threads",
            "1",
            "--max-write-requests",
            "96",
        ],
    );
    let key = s.dev_key();
    // Pre-sign so the clients spend their time on HTTP.
    let subs: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..12_000)
            // No credential: one entry per accepted event, whatever the batches.
            .map(|i| {
                serde_json::to_vec(&submission(
                    &key,
                    &crate::common::plain_event(&format!("flood-{i}"), "svc-f"),
                ))
                .expect("json")
            })
            .collect(),
    );
    let c = reqwest::Client::builder()
        .timeout(Duration::from_mins(1))
        .pool_max_idle_per_host(512)
        .build()
        .expect("client");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..300 {
        let (c, url, subs, next, stop) = (c.clone(), s.url.clone(), subs.clone(), next.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut out: Vec<(u16, f64, Option<Value>, bool)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = subs.get(i) else { break };
                let t = Instant::now();
                let r = c
                    .post(format!("{url}/v1/entries"))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("the server must answer, not drop, under load");
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key("retry-after");
                let v: Value = r.json().await.unwrap_or(Value::Null);
                out.push((status, t.elapsed().as_secs_f64() * 1000.0, Some(v), retry_after));
            }
            out
        }));
    }
    // A reader hammering the read API during the flood.
    let reader = {
        let (c, url, stop) = (client(), s.url.clone(), stop.clone());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for path in ["/checkpoint", "/v1/proofs/inclusion?index=0", "/tile/entries/000.p/1"] {
                    let t = Instant::now();
                    let (st, _) = get(&c, &url, path).await;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    statuses.push(st);
                }
            }
            (statuses, lat)
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_mid = rss_kb(s.child.id());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_end = rss_kb(s.child.id());
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    for w in writers {
        results.extend(w.await.expect("writer"));
    }
    let (read_statuses, mut read_lat) = reader.await.expect("reader");

    let accepted: Vec<_> = results.iter().filter(|r| r.0 == 201).collect();
    let shed: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    let mut acc_lat: Vec<f64> = accepted.iter().map(|r| r.1).collect();
    eprintln!(
        "flood: {} requests, {} accepted (p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms), {} shed with 503; reads: {} (p50 {:.1} ms, p99 {:.1} ms); RSS {} kB mid, {} kB end",
        results.len(),
        accepted.len(),
        pct(&mut acc_lat, 0.5),
        pct(&mut acc_lat, 0.99),
        pct(&mut acc_lat, 1.0),
        shed.len(),
        read_statuses.len(),
        pct(&mut read_lat, 0.5),
        pct(&mut read_lat, 0.99),
        rss_mid,
        rss_end
    );
    assert!(
        results.iter().all(|r| r.0 == 201 || r.0 == 503),
        "only 201 or 503 under a flood"
    );
    assert!(!shed.is_empty(), "the flood was not big enough to shed anything");
    assert!(shed.iter().all(|r| r.3), "every 503 carries Retry-After");
    assert!(
        shed.iter()
            .all(|r| r.2.as_ref().is_some_and(|v| v["error"]["code"] == "overloaded")),
        "every 503 says overloaded"
    );
    assert!(!accepted.is_empty());
    assert!(
        read_statuses.iter().all(|&st| st == 200),
        "reads failed during the flood"
    );
    assert!(!read_statuses.is_empty());
    // Memory stays flat while excess load is shed.
    assert!(
        rss_end <= rss_mid * 3 / 2 + 64 * 1024,
        "RSS grew from {rss_mid} kB to {rss_end} kB"
    );
    // Every accepted entry is in the tree, nothing shed is.
    let c2 = client();
    let (cp, _) = checkpoint(&c2, &s).await;
    assert_eq!(
        cp.size,
        accepted.len() as u64 + 2,
        "tree = policy entry + first state commitment + accepted entries"
    );
    for r in accepted.iter().step_by(97) {
        let receipt: Receipt = serde_json::from_value(r.2.clone().expect("body")).expect("receipt");
        receipt.verify(&s.vkey).expect("accepted receipt verifies");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_submitter_rate_limits_answer_429() {
    let dir = tempfile::tempdir().expect("tmp");
    let slow = SignerKey::from_seed("slow", ALG_ED25519, [31; 32]).expect("k");
    let fast = SignerKey::from_seed("fast", ALG_ED25519, [32; 32]).expect("k");
    let cfg = dir.path().join("p.toml");
    let block = |k: &SignerKey| {
        format!(
            "[[submitters]]\nid = \"{}\"\nkey = \"{}\"\nactions = [\"*\"]\ntargets = [\"*\"]\n",
            k.name(),
            k.verifier().to_vkey_string()
        )
    };
    std::fs::write(
        &cfg,
        format!(
            "rate_limit = {{ per_second = 1000.0 }}\n[rate_limits]\nslow = {{ per_second = 0.01, burst = 3.0 }}\n{}{}",
            block(&slow),
            block(&fast)
        ),
    )
    .expect("w");
    let s = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("p")]);
    let c = client();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = c
            .post(format!("{}/v1/entries", s.url))
            .json(&submission(&slow, &event(&format!("r-{i}"), "svc-r")))
            .send()
            .await
            .expect("post");
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("seconds");
            assert!(retry >= 1);
            let v: Value = r.json().await.expect("json");
            assert_eq!(v["error"]["code"], "rate_limited");
        }
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429, 429]);
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .json(&submission(&fast, &event("f-1", "svc-r")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201, "limits are per submitter");
    // The policy and the first state commitment, then each event with the
    // commitment of the credential it rotated.
    assert_eq!(checkpoint(&c, &s).await.0.size, 2 + 2 * (3 + 1));
}

fn read_all(s: &mut std::net::TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_slow_headers_idle_connections_and_the_connection_cap() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(
        &dir.path().join("data"),
        &[
            "--request-timeout-ms",
            "800",
            "--header-timeout-ms",
            "800",
            "--max-connections",
            "4",
        ],
    );
    let addr = s.url.trim_start_matches("http://").to_owned();
    let size = checkpoint(&client(), &s).await.0.size;

    // A body that never finishes: 408 with a JSON error, nothing appended.
    let a2 = addr.clone();
    let slow_body = tokio::task::spawn_blocking(move || {
        let mut t = raw(&a2);
        t.write_all(
            b"POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"ev",
        )
        .expect("write");
        read_all(&mut t)
    })
    .await
    .expect("task");
    assert!(slow_body.starts_with("HTTP/1.1 408"), "{slow_body}");
    assert!(slow_body.contains("\"request_timeout\""), "{slow_body}");

    // Headers that never finish: the connection is closed.
    let a2 = addr.clone();
    let slow_head = tokio::task::spawn_blocking(move || {
        let mut t = raw(&a2);
        t.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").expect("write");
        read_all(&mut t)
    })
    .await
    .expect("task");
    assert!(!slow_head.contains("200 OK"), "{slow_head}");

    // Four idle connections fill the cap; a fifth client is still served
    // once the idle ones are cut, and the idle ones see the server close.
    let a2 = addr.clone();
    let idle = tokio::task::spawn_blocking(move || {
        let conns: Vec<_> = (0..4).map(|_| raw(&a2)).collect();
        conns.into_iter().map(|mut c| read_all(&mut c)).collect::<Vec<_>>()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (st, _) = get(&client(), &s.url, "/healthz").await;
    assert_eq!(st, 200);
    let closed = idle.await.expect("task");
    assert_eq!(closed.len(), 4, "idle connections were closed by the server");
    assert_eq!(checkpoint(&client(), &s).await.0.size, size, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_makes_the_log_read_only_for_good() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let token = "freeze-test-admin-token";
    let s = Server::start(&data, &["--admin-token", token]);
    let key = s.dev_key();
    let c = client();
    for i in 0..5 {
        let r = c
            .post(format!("{}/v1/entries", s.url))
            .json(&submission(&key, &event(&format!("z-{i}"), "svc-z")))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 201);
    }
    let r = c.post(format!("{}/v1/admin/freeze", s.url)).send().await.expect("post");
    assert_eq!(r.status(), 401, "freeze needs the token");
    let r = c
        .post(format!("{}/v1/admin/freeze", s.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["frozen"], true);
    assert_eq!(v["tree_size"], 12, "the policy, a commitment, five events and theirs");
    let (final_cp, final_text) = checkpoint(&c, &s).await;
    assert_eq!(final_cp.size, 12);

    let refused = |url: String| {
        let (c, key) = (c.clone(), key.clone());
        async move {
            let r = c
                .post(format!("{url}/v1/entries"))
                .json(&submission(&key, &event("after-freeze", "svc-z")))
                .send()
                .await
                .expect("post");
            let st = r.status().as_u16();
            let v: Value = r.json().await.expect("json");
            (st, v["error"]["code"].as_str().unwrap_or("").to_owned())
        }
    };
    assert_eq!(refused(s.url.clone()).await, (403, "log_frozen".to_owned()));
    let r = c
        .post(format!("{}/v1/entries/batch", s.url))
        .json(&json!({"submissions": [submission(&key, &event("b-after", "svc-z"))]}))
        .send()
        .await
        .expect("post");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["results"][0]["status"], 403);
    assert_eq!(v["results"][0]["error"]["code"], "log_frozen");
    let r = c
        .post(format!("{}/v1/admin/reload", s.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    // Reads keep working.
    assert_eq!(get(&c, &s.url, "/v1/entries/3").await.0, 200);
    assert_eq!(get(&c, &s.url, "/v1/proofs/inclusion?index=3").await.0, 200);
    let (_, info) = common::get_json(&c, &s.url, "/v1/log").await;
    assert_eq!(info["frozen"], true);

    // Frozen for good: a restart (even with another registry) stays frozen
    // and logs nothing.
    s.stop();
    let other = dir.path().join("other.toml");
    let k = SignerKey::from_seed("new", ALG_ED25519, [40; 32]).expect("k");
    std::fs::write(
        &other,
        format!(
            "[[submitters]]\nid = \"new\"\nkey = \"{}\"\nactions = [\"*\"]\ntargets = [\"*\"]\n",
            k.verifier().to_vkey_string()
        ),
    )
    .expect("w");
    let s = Server::start(&data, &["--config", other.to_str().expect("p")]);
    let (cp, text) = checkpoint(&c, &s).await;
    assert_eq!((cp.size, text), (final_cp.size, final_text));
    assert_eq!(refused(s.url.clone()).await, (403, "log_frozen".to_owned()));

    // --frozen on a live log freezes it at start.
    let dir2 = tempfile::tempdir().expect("tmp");
    let s2 = Server::start(&dir2.path().join("data"), &[]);
    s2.stop();
    let s2 = Server::start(&dir2.path().join("data"), &["--frozen"]);
    assert_eq!(refused(s2.url.clone()).await, (403, "log_frozen".to_owned()));
}
