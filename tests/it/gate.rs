//! Issue 17: `provlog gate` in front of a service, against the real log
//! binary: behind a real nginx (`auth_request`, the config of
//! docs/GATE.md), speaking Envoy's `ext_authz` HTTP protocol, and behind a
//! proxy between the gate and the log that tampers with what the log
//! serves.

use crate::common::{Server, client, free_port, post, spawn_ready, submission};
use provlog_tlog::keys::SignerKey;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

fn fp_of(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        provlog_tlog::hex::encode(provlog_tlog::merkle::sha256(&[bytes]))
    )
}

fn ev(id: &str, action: &str, target: &str, fp: &str) -> Value {
    let mut e = crate::common::event(id, target);
    e["action"] = json!(action);
    e["credential"] = json!({ "fingerprint": fp });
    e
}

/// A log that commits its credential map every half second when idle, so
/// that a gate with a few seconds of `--max-age` stays fresh.
fn start_log(dir: &Path) -> Server {
    Server::try_start_env(
        dir,
        &[],
        &[("RUST_LOG", "warn"), ("PROVLOG_STATE_COMMIT_INTERVAL_MS", "500")],
    )
    .unwrap_or_else(|e| panic!("log did not start: {e}"))
}

async fn log_event(s: &Server, key: &SignerKey, e: &Value) {
    let (st, r) = post(
        &client(),
        &s.url,
        "/v1/entries",
        serde_json::to_vec(&submission(key, e)).expect("json"),
    )
    .await;
    assert_eq!(st, 201, "{r}");
}

struct Gate {
    child: Child,
    url: String,
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gate(dir: &Path, log_url: &str, vkey: &str, extra: &[&str]) -> Gate {
    let mut args = vec![
        "gate",
        "--url",
        log_url,
        "--log-key",
        vkey,
        "--max-age",
        "3s",
        "--poll-interval",
        "200ms",
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let (child, url) = spawn_ready(dir, &args, "gate");
    Gate { child, url }
}

/// Waits until `cond` holds (checking every 100 ms), up to `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let deadline = Instant::now() + within;
    let mut last = String::new();
    while Instant::now() < deadline {
        match cond().await {
            None => return,
            Some(s) => last = s,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within {within:?}; last: {last}");
}

async fn ready(g: &Gate) {
    let c = client();
    eventually(Duration::from_secs(20), "the gate becoming ready", || {
        let c = c.clone();
        let url = format!("{}/readyz", g.url);
        async move {
            match c.get(&url).send().await {
                Ok(r) if r.status() == 200 => None,
                Ok(r) => Some(r.text().await.unwrap_or_default()),
                Err(e) => Some(e.to_string()),
            }
        }
    })
    .await;
}

/// `GET /check` as nginx sends it: status and the `x-provlog-*` headers.
async fn check(gate: &str, headers: &[(&str, &str)]) -> (u16, HashMap<String, String>) {
    let mut r = client().get(format!("{gate}/check"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.expect("check");
    let st = resp.status().as_u16();
    let hs = resp
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-provlog-"))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    (st, hs)
}

async fn metric(gate: &str, name: &str) -> f64 {
    let text = client()
        .get(format!("{gate}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The nginx config of docs/GATE.md, with this test's ports.
fn nginx_conf(dir: &Path, port: u16, gate: &str, upstream: &str) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/GATE.md")).expect("docs/GATE.md");
    let block = doc
        .split("```nginx\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("an nginx block in docs/GATE.md");
    let block = block
        .replace("127.0.0.1:8095", gate.trim_start_matches("http://"))
        .replace("127.0.0.1:9000", upstream.trim_start_matches("http://"))
        .replace("listen 127.0.0.1:8443", &format!("listen 127.0.0.1:{port}"));
    let d = dir.display();
    format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log stderr warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n \
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{block}}}\n"
    )
}

struct Nginx(Child);

impl Drop for Nginx {
    /// SIGTERM, so that the master stops its workers too (a killed
    /// master leaves them running, holding the port and inherited files).
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nginx(dir: &Path, conf: &str) -> Nginx {
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("conf");
    let bin = which_nginx();
    let log = std::fs::File::create(dir.join("nginx.log")).expect("log");
    let child = std::process::Command::new(bin)
        .args(["-e", "stderr", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .args(["-g", "daemon off;"])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("nginx (installed by ./scripts/setup --test)");
    Nginx(child)
}

fn which_nginx() -> String {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nginx is not installed: ./scripts/setup --test installs Debian's nginx")
}

/// The service behind nginx: answers 200 with the provlog headers nginx
/// passed on, and counts the requests that reached it.
async fn upstream() -> (String, Arc<Mutex<u64>>) {
    let hits = Arc::new(Mutex::new(0u64));
    let h = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let h = Arc::clone(&h);
        async move {
            *h.lock().expect("hits") += 1;
            let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            axum::Json(json!({"owner": get("x-provlog-owner"), "checkpoint": get("x-provlog-checkpoint")}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_lets_active_credentials_through_and_refuses_revoked_unknown_and_stale() {
    let dir = tempfile::tempdir().expect("dir");
    let log = start_log(&dir.path().join("log"));
    let key = log.dev_key();
    let token = "tok-nginx-1";
    log_event(&log, &key, &ev("g-1", "issue", "svc-orders", &fp_of(token.as_bytes()))).await;
    // The log sits behind a forwarding proxy, so that it can be stopped
    // and started again (on another port) under one URL.
    let proxy = LogProxy::start(log.url.clone()).await;
    let gate = start_gate(
        &dir.path().join("gate"),
        &proxy.url,
        &log.vkey.to_vkey_string(),
        &["--header", "authorization", "--fingerprint", "bearer"],
    );
    ready(&gate).await;
    let (up, hits) = upstream().await;
    let port = free_port();
    let _nginx = start_nginx(
        &dir.path().join("nginx"),
        &nginx_conf(&dir.path().join("nginx"), port, &gate.url, &up),
    );
    let front = format!("http://127.0.0.1:{port}");
    let c = client();
    let bearer = format!("Bearer {token}");
    let hit = |auth: Option<String>| {
        let (c, url) = (c.clone(), format!("{front}/orders/42"));
        async move {
            let mut r = c.get(&url);
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            match r.send().await {
                Ok(r) => {
                    let reason = r
                        .headers()
                        .get("x-provlog-reason")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let st = r.status().as_u16();
                    (st, reason, r.text().await.unwrap_or_default())
                }
                Err(e) => (0, String::new(), e.to_string()),
            }
        }
    };
    // nginx up?
    eventually(Duration::from_secs(10), "nginx answering", || {
        let h = hit(None);
        async move { (h.await.0 == 0).then(|| "no answer".to_owned()) }
    })
    .await;
    // An active credential reaches the service, with what the gate verified.
    let (st, reason, body) = hit(Some(bearer.clone())).await;
    assert_eq!((st, reason.as_str()), (200, "active"), "{body}");
    let seen: Value = serde_json::from_str(&body).expect("upstream json");
    assert_eq!(seen["owner"], "gcp/service_account/svc-orders", "{seen}");
    assert!(
        seen["checkpoint"].as_str().is_some_and(|s| s.parse::<u64>().is_ok()),
        "{seen}"
    );
    assert_eq!(*hits.lock().expect("hits"), 1);
    // No credential, an unknown one: 401, and the service sees nothing.
    let (st, reason, _) = hit(None).await;
    assert_eq!((st, reason.as_str()), (401, "no_credential"));
    let (st, reason, _) = hit(Some("Bearer never-issued".into())).await;
    assert_eq!((st, reason.as_str()), (401, "unknown"));
    assert_eq!(*hits.lock().expect("hits"), 1);
    // A revoke is logged: the same request is refused within --max-age.
    log_event(&log, &key, &ev("g-2", "revoke", "svc-orders", &fp_of(token.as_bytes()))).await;
    eventually(Duration::from_secs(3), "the revoke reaching nginx", || {
        let h = hit(Some(bearer.clone()));
        async move {
            let (st, reason, _) = h.await;
            (st != 403 || reason != "revoked").then(|| format!("{st} {reason}"))
        }
    })
    .await;
    // (Until the gate read the revoke, within one poll, it was active.)
    let seen = *hits.lock().expect("hits");
    for _ in 0..3 {
        assert_eq!(hit(Some(bearer.clone())).await.0, 403);
    }
    assert_eq!(
        *hits.lock().expect("hits"),
        seen,
        "once refused, the revoked credential never reaches the service"
    );
    // Another active credential; then the log stops: allowed while the
    // commitment is fresh, refused once it is older than --max-age.
    let token2 = "tok-nginx-2";
    log_event(
        &log,
        &key,
        &ev("g-3", "issue", "svc-billing", &fp_of(token2.as_bytes())),
    )
    .await;
    let bearer2 = format!("Bearer {token2}");
    eventually(Duration::from_secs(5), "the new credential passing", || {
        let h = hit(Some(bearer2.clone()));
        async move { (h.await.0 != 200).then(|| "not yet".to_owned()) }
    })
    .await;
    let data = log.data_dir.clone();
    log.stop();
    eventually(Duration::from_secs(8), "refusal once the commitment is stale", || {
        let h = hit(Some(bearer2.clone()));
        async move {
            let (st, reason, _) = h.await;
            (st != 403 || reason != "stale").then(|| format!("{st} {reason}"))
        }
    })
    .await;
    // The log comes back: allowed again.
    let log = start_log(&data);
    proxy.point_to(log.url.clone());
    eventually(Duration::from_secs(10), "allowed again with the log back", || {
        let h = hit(Some(bearer2.clone()));
        async move {
            let (st, reason, _) = h.await;
            (st != 200).then(|| format!("{st} {reason}"))
        }
    })
    .await;
    assert!(
        metric(
            &gate.url,
            "provlog_gate_decisions_total{result=\"deny\",reason=\"stale\"}"
        )
        .await
            >= 1.0
    );
}

/// What the proxy between the gate and the log does to credential answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tamper {
    Pass,
    /// `revoked` turned back into `active` in the answer.
    DropRevoke,
    /// The answer recorded before the revoke, replayed.
    OldAnswer,
    /// A flipped byte in the map proof.
    ForgeMapProof,
    /// Another credential's (genuine) answer.
    Swap,
    /// `/checkpoint` frozen at the one recorded before the revoke.
    FreezeCheckpoint,
}

struct LogProxy {
    url: String,
    upstream: Arc<RwLock<String>>,
    mode: Arc<RwLock<Tamper>>,
    /// Swap: the credential path whose answer replaces every other.
    swap_with: Arc<RwLock<String>>,
}

impl LogProxy {
    async fn start(upstream: String) -> Self {
        use axum::body::Body;
        use axum::http::{Request, Response};
        let upstream = Arc::new(RwLock::new(upstream));
        let mode = Arc::new(RwLock::new(Tamper::Pass));
        let swap_with = Arc::new(RwLock::new(String::new()));
        let saved: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let (u, m, s) = (Arc::clone(&upstream), Arc::clone(&mode), Arc::clone(&swap_with));
        let c = client();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let (u, m, s, c, saved) = (
                u.read().expect("u").clone(),
                *m.read().expect("m"),
                s.read().expect("s").clone(),
                c.clone(),
                Arc::clone(&saved),
            );
            async move {
                let path = req.uri().path().to_owned();
                let pq = req.uri().path_and_query().map_or(path.clone(), ToString::to_string);
                let is_answer = path.starts_with("/v1/credentials/");
                let fetch_path = if m == Tamper::Swap && is_answer {
                    format!("{s}?{}", req.uri().query().unwrap_or(""))
                } else {
                    pq
                };
                let Ok(resp) = c.get(format!("{u}{fetch_path}")).send().await else {
                    return Response::builder().status(502).body(Body::empty()).expect("502");
                };
                let status = resp.status().as_u16();
                let mut body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                let key = if is_answer { path.clone() } else { "checkpoint".into() };
                if status == 200 && (is_answer || path == "/checkpoint") {
                    let mut sv = saved.lock().expect("saved");
                    match m {
                        Tamper::Pass => {
                            sv.insert(key, body.clone());
                        }
                        Tamper::OldAnswer if is_answer => {
                            if let Some(b) = sv.get(&key) {
                                body.clone_from(b);
                            }
                        }
                        Tamper::FreezeCheckpoint if !is_answer => {
                            if let Some(b) = sv.get(&key) {
                                body.clone_from(b);
                            }
                        }
                        Tamper::DropRevoke if is_answer => {
                            let t = String::from_utf8_lossy(&body).replace("\"revoked\"", "\"active\"");
                            body = t.into_bytes();
                        }
                        Tamper::ForgeMapProof if is_answer => {
                            if let Ok(mut v) = serde_json::from_slice::<Value>(&body) {
                                let p = v["map_proof"].as_str().unwrap_or("").to_owned();
                                let mut raw = provlog_tlog::b64::decode(&p).unwrap_or_default();
                                if let Some(last) = raw.last_mut() {
                                    *last ^= 1;
                                }
                                v["map_proof"] = json!(provlog_tlog::b64::encode(&raw));
                                body = serde_json::to_vec(&v).expect("json");
                            }
                        }
                        _ => {}
                    }
                }
                Response::builder()
                    .status(status)
                    .body(Body::from(body))
                    .expect("response")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            upstream,
            mode,
            swap_with,
        }
    }

    fn point_to(&self, url: String) {
        *self.upstream.write().expect("u") = url;
    }

    fn set(&self, m: Tamper) {
        *self.mode.write().expect("m") = m;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tampering_between_the_gate_and_the_log_is_refused_and_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let log = start_log(&dir.path().join("log"));
    let key = log.dev_key();
    let (a, b) = (fp_of(b"tok-a"), fp_of(b"tok-b"));
    log_event(&log, &key, &ev("t-1", "issue", "svc-a", &a)).await;
    log_event(&log, &key, &ev("t-2", "issue", "svc-b", &b)).await;
    let proxy = LogProxy::start(log.url.clone()).await;
    let gate = start_gate(
        &dir.path().join("gate"),
        &proxy.url,
        &log.vkey.to_vkey_string(),
        &["--header", "x-api-key", "--fingerprint", "token"],
    );
    ready(&gate).await;
    let (st, h) = check(&gate.url, &[("x-api-key", "tok-a")]).await;
    assert_eq!(st, 204, "{h:?}");
    assert_eq!(h.get("x-provlog-fingerprint"), Some(&a));
    assert_eq!(
        h.get("x-provlog-owner").map(String::as_str),
        Some("gcp/service_account/svc-a")
    );
    // Each tampering with the answer for the revoked credential.
    let failures = || metric(&gate.url, "provlog_gate_verification_failures_total");
    *proxy.swap_with.write().expect("s") = format!("/v1/credentials/{b}");
    for mode in [
        Tamper::DropRevoke,
        Tamper::OldAnswer,
        Tamper::ForgeMapProof,
        Tamper::Swap,
    ] {
        proxy.set(Tamper::Pass);
        // A fresh credential per round, cached while honest, then revoked
        // behind the tampering proxy.
        let tok = format!("tok-{mode:?}");
        let fp = fp_of(tok.as_bytes());
        log_event(&log, &key, &ev(&format!("i-{mode:?}"), "issue", "svc-a", &fp)).await;
        eventually(Duration::from_secs(5), "the credential passing", || {
            let (g, t) = (gate.url.clone(), tok.clone());
            async move {
                let (st, h) = check(&g, &[("x-api-key", &t)]).await;
                (st != 204).then(|| format!("{st} {h:?}"))
            }
        })
        .await;
        let before = failures().await;
        proxy.set(mode);
        log_event(&log, &key, &ev(&format!("r-{mode:?}"), "revoke", "svc-a", &fp)).await;
        let size = log.tree_size().await;
        // Whatever the proxy does, the revoked credential never passes
        // once the gate has read the revoke.
        eventually(Duration::from_secs(5), "the gate reading the revoke", || {
            let g = gate.url.clone();
            async move {
                let s = crate::common::get_json(&client(), &g, "/v1/status").await.1;
                (s["checkpoint"].as_u64().unwrap_or(0) < size).then(|| s.to_string())
            }
        })
        .await;
        for _ in 0..3 {
            let (st, h) = check(&gate.url, &[("x-api-key", &tok)]).await;
            assert_eq!(
                (st, h.get("x-provlog-reason").map(String::as_str)),
                (403, Some("verification_failed")),
                "{mode:?}: {h:?}"
            );
        }
        assert!(failures().await > before, "{mode:?} is counted");
    }
    // The honest answer again: revoked.
    proxy.set(Tamper::Pass);
    let (st, h) = check(&gate.url, &[("x-api-key", "tok-DropRevoke")]).await;
    assert_eq!(
        (st, h.get("x-provlog-reason").map(String::as_str)),
        (403, Some("revoked"))
    );
    // A checkpoint frozen before a revoke: the gate never sees it, and
    // fails closed once the frozen commitment is older than --max-age.
    proxy.set(Tamper::FreezeCheckpoint);
    log_event(&log, &key, &ev("t-9", "revoke", "svc-b", &b)).await;
    eventually(Duration::from_secs(8), "failing closed on a frozen checkpoint", || {
        let g = gate.url.clone();
        async move {
            let (st, h) = check(&g, &[("x-api-key", "tok-b")]).await;
            (st != 403 || h.get("x-provlog-reason").map(String::as_str) != Some("stale")).then(|| format!("{st} {h:?}"))
        }
    })
    .await;
    // A fork: another log with the same key and other entries. The gate
    // alarms, denies everything and is no longer ready.
    proxy.set(Tamper::Pass);
    let dir2 = dir.path().join("log2");
    crate::common::put_log_key(&dir2, &std::fs::read(log.data_dir.join("log.skey")).expect("skey"));
    let other = start_log(&dir2);
    assert_eq!(other.vkey, log.vkey, "same log key");
    let k2 = other.dev_key();
    // Larger than the gate's tree, so that its own tiles prove the fork.
    while other.tree_size().await <= log.tree_size().await + 50 {
        crate::common::submit_many_plain(&client(), &other.url, &k2, "fork", 200).await;
    }
    proxy.point_to(other.url.clone());
    eventually(Duration::from_secs(8), "the fork alarm", || {
        let g = gate.url.clone();
        async move {
            let (st, h) = check(&g, &[("x-api-key", "tok-a")]).await;
            (st != 403 || h.get("x-provlog-reason").map(String::as_str) != Some("inconsistent"))
                .then(|| format!("{st} {h:?}"))
        }
    })
    .await;
    assert!(metric(&gate.url, "provlog_gate_alarms_total").await >= 1.0);
    let r = client()
        .get(format!("{}/readyz", gate.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "inconsistent", "{body}");
}

/// A self-signed certificate made by the openssl CLI, with its DER and
/// SPKI fingerprints as openssl computes them.
fn openssl_cert(dir: &Path) -> (String, String, String) {
    let run = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (installed by ./scripts/setup --test)");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "k.pem",
        "-out",
        "c.pem",
        "-days",
        "2",
        "-subj",
        "/CN=svc-mtls",
    ]);
    let der = run(&["x509", "-in", "c.pem", "-outform", "DER"]);
    run(&["x509", "-in", "c.pem", "-pubkey", "-noout", "-out", "pub.pem"]);
    let spki = run(&["pkey", "-pubin", "-in", "pub.pem", "-outform", "DER"]);
    let pem = std::fs::read_to_string(dir.join("c.pem")).expect("pem");
    (pem, fp_of(&der), fp_of(&spki))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_ext_authz_http_and_the_per_route_mappings() {
    let dir = tempfile::tempdir().expect("dir");
    let log = start_log(&dir.path().join("log"));
    let key = log.dev_key();
    let (pem, der_fp, spki_fp) = openssl_cert(dir.path());
    log_event(&log, &key, &ev("e-1", "issue", "svc-mtls", &der_fp)).await;
    log_event(&log, &key, &ev("e-2", "issue", "svc-spki", &spki_fp)).await;
    log_event(&log, &key, &ev("e-3", "issue", "billing-api", &fp_of(b"k_live_1"))).await;
    log_event(&log, &key, &ev("e-4", "issue", "other-team", &fp_of(b"k_live_2"))).await;
    let cfg = dir.path().join("gate.toml");
    std::fs::write(
        &cfg,
        format!(
            "url = {:?}\nlog_key = {:?}\nmax_age = \"5s\"\npoll_interval = \"200ms\"\nlisten = \"127.0.0.1:0\"\n\
             [[routes]]\nprefix = \"/billing/\"\nheader = \"x-api-key\"\nfingerprint = \"token\"\nowners = [\"billing-*\"]\n\
             [[routes]]\nprefix = \"/mtls/\"\nheader = \"x-forwarded-client-cert\"\nfingerprint = \"cert-der\"\n\
             [[routes]]\nprefix = \"/spki/\"\nheader = \"x-client-cert\"\nfingerprint = \"cert-spki\"\n",
            log.url,
            log.vkey.to_vkey_string()
        ),
    )
    .expect("config");
    let (child, url) = spawn_ready(
        &dir.path().join("gate"),
        &["gate", "--config", cfg.to_str().expect("utf8")],
        "gate",
    );
    let gate = Gate { child, url };
    ready(&gate).await;
    let escaped: String = percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC).to_string();
    let xfcc = format!("By=spiffe://cluster.local/ns/a/sa/front;Hash=00;Cert=\"{escaped}\";Subject=\"CN=svc-mtls\"");
    // As Envoy sends it: the original method and path behind path_prefix,
    // content-length 0, the allowed headers.
    let envoy = |method: &str, path: &str, headers: Vec<(&'static str, String)>| {
        let mut r = client()
            .request(method.parse().expect("method"), format!("{}/envoy{path}", gate.url))
            .header("content-length", "0")
            .header("x-envoy-expected-rq-timeout-ms", "500")
            .header("x-request-id", "req-envoy-1");
        for (k, v) in headers {
            r = r.header(k, v);
        }
        async move {
            let resp = r.send().await.expect("envoy check");
            let st = resp.status().as_u16();
            let hs: HashMap<String, String> = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let body = resp.text().await.unwrap_or_default();
            (st, hs, body)
        }
    };
    let (st, h, body) = envoy(
        "POST",
        "/mtls/orders?id=7",
        vec![("x-forwarded-client-cert", xfcc.clone())],
    )
    .await;
    assert_eq!(st, 200, "Envoy allows only on 200: {h:?} {body}");
    assert_eq!(h.get("x-provlog-fingerprint"), Some(&der_fp));
    assert_eq!(h.get("x-provlog-state").map(String::as_str), Some("active"));
    assert_eq!(h.get("x-request-id").map(String::as_str), Some("req-envoy-1"));
    assert!(
        h.get("x-provlog-checkpoint").is_some_and(|s| s.parse::<u64>().is_ok()),
        "{h:?}"
    );
    // URL-escaped PEM as nginx forwards it, mapped by its SPKI.
    let (st, h, _) = envoy("GET", "/spki/x", vec![("x-client-cert", escaped.clone())]).await;
    assert_eq!((st, h.get("x-provlog-fingerprint")), (200, Some(&spki_fp)));
    // The same certificate on the DER route hashes differently from SPKI:
    // on the SPKI route its DER fingerprint is unknown, and vice versa.
    let (st, h, body) = envoy(
        "GET",
        "/mtls/x",
        vec![("x-forwarded-client-cert", format!("Cert=\"{escaped}\""))],
    )
    .await;
    assert_eq!(st, 200, "{h:?} {body}");
    // An API key, and a route that admits only billing targets.
    let (st, _, _) = envoy("PUT", "/billing/invoices", vec![("x-api-key", "k_live_1".into())]).await;
    assert_eq!(st, 200);
    let (st, h, body) = envoy("PUT", "/billing/invoices", vec![("x-api-key", "k_live_2".into())]).await;
    assert_eq!(
        (st, h.get("x-provlog-reason").map(String::as_str)),
        (403, Some("owner_not_allowed"))
    );
    let v: Value = serde_json::from_str(&body).expect("a deny carries a JSON error");
    assert_eq!(v["error"]["code"], "owner_not_allowed", "{v}");
    // Unknown, malformed, missing, and no route: denied with the reason.
    let (st, h, _) = envoy("GET", "/billing/x", vec![("x-api-key", "k_never".into())]).await;
    assert_eq!(
        (st, h.get("x-provlog-reason").map(String::as_str)),
        (401, Some("unknown"))
    );
    assert_eq!(h.get("x-provlog-state").map(String::as_str), Some("unknown"));
    let (st, h, _) = envoy(
        "GET",
        "/mtls/x",
        vec![("x-forwarded-client-cert", "Cert=\"not-a-cert\"".into())],
    )
    .await;
    assert_eq!(
        (st, h.get("x-provlog-reason").map(String::as_str)),
        (401, Some("malformed_credential"))
    );
    let (st, h, _) = envoy("GET", "/mtls/x", vec![]).await;
    assert_eq!(
        (st, h.get("x-provlog-reason").map(String::as_str)),
        (401, Some("no_credential"))
    );
    let (st, h, _) = envoy("GET", "/elsewhere", vec![("x-api-key", "k_live_1".into())]).await;
    assert_eq!(
        (st, h.get("x-provlog-reason").map(String::as_str)),
        (403, Some("no_route"))
    );
    // Revoked: 403.
    log_event(&log, &key, &ev("e-5", "revoke", "svc-mtls", &der_fp)).await;
    eventually(Duration::from_secs(5), "the revoke reaching the gate", || {
        let x = xfcc.clone();
        let e = envoy("POST", "/mtls/orders", vec![("x-forwarded-client-cert", x)]);
        async move {
            let (st, h, _) = e.await;
            (st != 403 || h.get("x-provlog-reason").map(String::as_str) != Some("revoked"))
                .then(|| format!("{st} {h:?}"))
        }
    })
    .await;
    // The cache served the repeated asks.
    assert!(metric(&gate.url, "provlog_gate_cache_hits_total").await >= 1.0);
}
