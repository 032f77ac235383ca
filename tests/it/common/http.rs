//! Talking to a running log: an HTTP client and the few requests most tests
//! make, and raw TCP for what a client library would not send.

use super::{Server, event, submission};
use provlog_tlog::keys::SignerKey;
use serde_json::{Value, json};
use std::time::Duration;

/// A raw TCP connection to `addr` whose reads give up after 30 s.
pub(crate) fn raw(addr: &str) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    s
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_mins(1))
        .build()
        .expect("client")
}

/// GET `path` and return status and body bytes.
pub(crate) async fn get(c: &reqwest::Client, url: &str, path: &str) -> (u16, Vec<u8>) {
    let r = c.get(format!("{url}{path}")).send().await.expect("GET");
    let s = r.status().as_u16();
    (s, r.bytes().await.expect("body").to_vec())
}

pub(crate) async fn get_json(c: &reqwest::Client, url: &str, path: &str) -> (u16, Value) {
    let (s, b) = get(c, url, path).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

pub(crate) async fn post(c: &reqwest::Client, url: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
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

/// Posts `body` to SCRAPI's `POST /entries` as `content_type`: status,
/// content type, the entry index its `Location` names, body.
pub(crate) async fn register(
    c: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String, Option<u64>, Vec<u8>) {
    let r = c
        .post(format!("{url}/entries"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST /entries");
    let st = r.status().as_u16();
    let h = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let ct = h("content-type").unwrap_or_default();
    let index = h("location").and_then(|l| l.strip_prefix("/entries/").and_then(|i| i.parse().ok()));
    (st, ct, index, r.bytes().await.expect("body").to_vec())
}

/// The current checkpoint, verified with the server's key.
pub(crate) async fn checkpoint(c: &reqwest::Client, s: &Server) -> (provlog_tlog::checkpoint::Checkpoint, String) {
    let (st, body) = get(c, &s.url, "/checkpoint").await;
    assert_eq!(st, 200);
    let text = String::from_utf8(body).expect("utf8");
    let (cp, _) = provlog_tlog::checkpoint::open_checkpoint(text.as_bytes(), &s.vkey).expect("checkpoint verifies");
    (cp, text)
}

/// Submits `n` events (targets `{prefix}-{i}`) through the batch endpoint,
/// 1,000 per request; returns the indexes.
pub(crate) async fn submit_many(c: &reqwest::Client, url: &str, key: &SignerKey, prefix: &str, n: usize) -> Vec<u64> {
    submit_events(c, url, key, prefix, n, event).await
}

/// [`submit_many`] with events that name no credential: one entry per
/// event and no state commitment, for tests about the tree's shape.
pub(crate) async fn submit_many_plain(
    c: &reqwest::Client,
    url: &str,
    key: &SignerKey,
    prefix: &str,
    n: usize,
) -> Vec<u64> {
    submit_events(c, url, key, prefix, n, plain_event).await
}

/// An [`event`] without its credential.
pub(crate) fn plain_event(id: &str, target: &str) -> Value {
    let mut e = event(id, target);
    if let Some(o) = e.as_object_mut() {
        o.remove("credential");
    }
    e
}

async fn submit_events(
    c: &reqwest::Client,
    url: &str,
    key: &SignerKey,
    prefix: &str,
    n: usize,
    make: fn(&str, &str) -> Value,
) -> Vec<u64> {
    let mut out = Vec::new();
    let all: Vec<Value> = (0..n)
        .map(|i| submission(key, &make(&format!("{prefix}-{i}"), &format!("svc-{prefix}-{i}"))))
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
pub(crate) async fn wait_log(c: &reqwest::Client, url: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
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
