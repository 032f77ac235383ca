//! Shared helpers for the integration tests: the real `provlog` binary on a
//! free port with a temporary data directory.
#![allow(dead_code, unreachable_pub, clippy::cast_possible_truncation)]

use provlog_proto::keys::{SignerKey, VerifierKey};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_provlog");

/// A raw TCP connection to `addr` whose reads give up after 30 s.
pub fn raw(addr: &str) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    s
}

/// A running `provlog serve`.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub vkey: VerifierKey,
    pub stdout: Vec<String>,
}

impl Server {
    /// Starts the binary on `data_dir` with extra args; waits until it
    /// listens.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::try_start(data_dir, extra).unwrap_or_else(|e| panic!("server did not start: {e}"))
    }

    /// Like `start`, but returns the server's stderr if it exits instead.
    pub fn try_start(data_dir: &Path, extra: &[&str]) -> Result<Self, String> {
        Self::try_start_env(data_dir, extra, &[("RUST_LOG", "warn")])
    }

    /// Like `try_start`, with these environment variables set.
    pub fn try_start_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("stderr.log"))
            .expect("log file");
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn provlog");
        let stdout = child.stdout.take().expect("stdout");
        // Drain stdout on a thread for the server's whole life, so that it
        // never writes into a closed or full pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let mut url = None;
        let mut vkey = None;
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
            if let Some(u) = line.strip_prefix("provlog listening on ") {
                url = Some(u.to_owned());
            }
            if let Some(k) = line.strip_prefix("log vkey: ") {
                vkey = Some(VerifierKey::parse(k).expect("vkey"));
            }
            let done = line.starts_with("tree size:");
            lines.push(line);
            if done {
                break;
            }
        }
        match (url, vkey) {
            (Some(url), Some(vkey)) => Ok(Self {
                child,
                url,
                data_dir: data_dir.to_owned(),
                vkey,
                stdout: lines,
            }),
            _ => {
                let _ = child.wait();
                Err(std::fs::read_to_string(data_dir.join("stderr.log")).unwrap_or_default())
            }
        }
    }

    /// The dev submitter key the embedded default created.
    pub fn dev_key(&self) -> SignerKey {
        let text = std::fs::read_to_string(self.data_dir.join("dev.skey")).expect("dev.skey");
        SignerKey::parse(text.trim()).expect("dev key")
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A valid event with the given id and target.
pub fn event(id: &str, target: &str) -> Value {
    json!({
        "event_id": id,
        "occurred_at": "2026-11-25T10:00:00Z",
        "action": "rotate",
        "actor": {"id": "wf/rotate-keys", "type": "workflow"},
        "target": {"id": target, "type": "service_account", "system": "gcp"},
        "authority": {"approval_id": "CHG-42", "approved_by": "alice"},
        "decision": {"result": "allow", "policy_id": "rot-90d"},
        "outcome": "success",
        "credential": {"fingerprint": format!("sha256:{}", "ab".repeat(32))}
    })
}

/// A signed submission of `event` by `key`.
pub fn submission(key: &SignerKey, event: &Value) -> Value {
    provlog_proto::submission::sign(event, key.name(), key).expect("sign")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// GET `path` and return status and body bytes.
pub async fn get(c: &reqwest::Client, url: &str, path: &str) -> (u16, Vec<u8>) {
    let r = c.get(format!("{url}{path}")).send().await.expect("GET");
    let s = r.status().as_u16();
    (s, r.bytes().await.expect("body").to_vec())
}

pub async fn get_json(c: &reqwest::Client, url: &str, path: &str) -> (u16, Value) {
    let (s, b) = get(c, url, path).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

pub async fn post(c: &reqwest::Client, url: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let r = c
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST");
    let s = r.status().as_u16();
    let b = r.bytes().await.expect("body");
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// The current checkpoint, verified with the server's key.
pub async fn checkpoint(c: &reqwest::Client, s: &Server) -> (provlog_proto::checkpoint::Checkpoint, String) {
    let (st, body) = get(c, &s.url, "/checkpoint").await;
    assert_eq!(st, 200);
    let text = String::from_utf8(body).expect("utf8");
    let (cp, _) = provlog_proto::checkpoint::open_checkpoint(text.as_bytes(), &s.vkey).expect("checkpoint verifies");
    (cp, text)
}

/// A submission signed over any JSON, valid event or not (to test that the
/// server, not the client library, refuses bad events).
pub fn raw_submission(key: &SignerKey, event: &Value) -> Value {
    let jcs = provlog_proto::json::canonical(event).expect("jcs");
    let sig = key.sign_raw(&provlog_proto::submission::signing_message(&jcs));
    json!({"event": event, "submitter": key.name(), "signature": provlog_proto::b64::encode(sig)})
}

/// A reverse proxy in front of a log that changes the body of one path:
/// how the tests play a log (or a mirror) serving tampered data.
pub async fn tamper_proxy(upstream: String, path: String, tamper: fn(&mut Vec<u8>)) -> String {
    use axum::body::Body;
    use axum::http::{Request, Response};
    let client = client();
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let (client, upstream, path) = (client.clone(), upstream.clone(), path.clone());
        async move {
            let uri = req.uri().to_string();
            let r = client.get(format!("{upstream}{uri}")).send().await.expect("upstream");
            let status = r.status().as_u16();
            let ctype = r.headers().get("content-type").cloned();
            let mut body = r.bytes().await.expect("body").to_vec();
            if req.uri().path() == path {
                tamper(&mut body);
            }
            let mut resp = Response::builder().status(status);
            if let Some(c) = ctype {
                resp = resp.header("content-type", c);
            }
            resp.body(Body::from(body)).expect("response")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Resident memory of a process, in kB (Linux).
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts `provlog ARGS…` and waits for a stdout line starting with
/// `ready`; returns the child, that line's rest, and stderr's log path.
pub fn spawn_ready(dir: &Path, args: &[&str], ready: &str) -> (Child, String) {
    std::fs::create_dir_all(dir).expect("dir");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stderr.log"))
        .expect("log");
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        if let Some(rest) = line.strip_prefix(ready) {
            // Keep draining the rest of stdout on the reader thread.
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return (child, rest.to_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "{args:?} did not print {ready:?}: {}",
        std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
    );
}

/// A log served from memory by the test: any entries, signed with any key.
/// This is how tests build logs that misbehave (forks, forged entries)
/// without any such ability in the server.
pub async fn static_log(entries: Vec<Vec<u8>>, key: SignerKey) -> String {
    use axum::extract::Path as AxPath;
    use axum::http::StatusCode;
    use provlog_proto::checkpoint::{Checkpoint, sign_checkpoint};
    use provlog_proto::merkle::{HashSource, MemoryTree, NodeId, leaf_hash};
    use provlog_proto::tile::{TileId, TileKind, encode_bundle};
    let mut tree = MemoryTree::new();
    for e in &entries {
        tree.push(leaf_hash(e));
    }
    let size = entries.len() as u64;
    let cp = Checkpoint::new(key.name(), size, tree.root_at(size).expect("root"));
    let note = sign_checkpoint(&cp, &key).expect("sign").to_string();
    let entries = std::sync::Arc::new(entries);
    let tree = std::sync::Arc::new(tree);
    let app = axum::Router::new()
        .route("/checkpoint", axum::routing::get(move || async move { note }))
        .route(
            "/tile/{*rest}",
            axum::routing::get(move |AxPath(rest): AxPath<String>| {
                let (entries, tree) = (entries.clone(), tree.clone());
                async move {
                    let Ok(t) = TileId::parse_path(&format!("tile/{rest}")) else {
                        return (StatusCode::BAD_REQUEST, Vec::new());
                    };
                    let Some((level, range)) = t.node_range().filter(|(l, r)| r.end <= size >> l) else {
                        return (StatusCode::NOT_FOUND, Vec::new());
                    };
                    let body = match t.kind {
                        TileKind::Hash { .. } => {
                            let ids: Vec<NodeId> = range.map(|i| NodeId::new(level, i)).collect();
                            tree.node_hashes(&ids).expect("nodes").concat()
                        }
                        TileKind::Entries => encode_bundle(
                            entries[range.start as usize..range.end as usize]
                                .iter()
                                .map(Vec::as_slice),
                        )
                        .expect("bundle"),
                    };
                    (StatusCode::OK, body)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Writes a signer key file (mode 0600) the way `provlog keygen` does.
pub fn write_key(path: &Path, key: &SignerKey) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .expect("key file");
    std::io::Write::write_all(&mut f, format!("{}\n", key.to_skey_string()).as_bytes()).expect("write");
}

/// Runs `provlog ARGS…` to completion: exit code and stdout+stderr.
pub fn run(args: &[&str]) -> (i32, String) {
    run_env(args, &[])
}

/// Runs the binary with extra environment variables; exit code and
/// stdout+stderr.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let o = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Puts a log's private key into `dir` as a log would accept it (mode 0600).
pub fn put_log_key(dir: &Path, skey: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("mkdir");
    let path = dir.join("log.skey");
    std::fs::write(&path, skey).expect("skey");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Serves a directory over HTTP (a mirror or CDN in front of a published
/// log): `GET /<path>` is the file, 404 otherwise.
pub async fn serve_dir(dir: PathBuf) -> String {
    use axum::extract::Path as AxPath;
    use axum::http::StatusCode;
    let app = axum::Router::new().route(
        "/{*rest}",
        axum::routing::get(move |AxPath(rest): AxPath<String>| {
            let dir = dir.clone();
            async move {
                if rest.split('/').any(|p| p == ".." || p.is_empty()) {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                }
                match std::fs::read(dir.join(&rest)) {
                    Ok(b) => (StatusCode::OK, b),
                    Err(_) => (StatusCode::NOT_FOUND, Vec::new()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Submits `n` events (targets `{prefix}-{i}`) through the batch endpoint,
/// 1,000 per request; returns the indexes.
pub async fn submit_many(c: &reqwest::Client, url: &str, key: &SignerKey, prefix: &str, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let all: Vec<Value> = (0..n)
        .map(|i| submission(key, &event(&format!("{prefix}-{i}"), &format!("svc-{prefix}-{i}"))))
        .collect();
    for chunk in all.chunks(1000) {
        let (st, body) = post(
            c,
            url,
            "/v1/entries/batch",
            serde_json::to_vec(&json!({ "submissions": chunk })).expect("json"),
        )
        .await;
        assert_eq!(st, 200, "{body}");
        for r in body["results"].as_array().expect("results") {
            assert!(r["status"] == 201 || r["status"] == 200, "{r}");
            out.push(r["receipt"]["index"].as_u64().expect("index"));
        }
    }
    out
}

/// Polls `/v1/log` until `f` holds for it (at most 30 s).
pub async fn wait_log(c: &reqwest::Client, url: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let (_, v) = get_json(c, url, "/v1/log").await;
        if f(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, v) = get_json(c, url, "/v1/log").await;
    panic!("timed out waiting for {what}: {v:#}");
}
