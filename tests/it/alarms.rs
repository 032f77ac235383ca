//! Issue 20 §3, alarms that reach someone: the real monitor's real alarms
//! sent to a receiver this test runs (axum, a real socket): generic JSON
//! with an HMAC signature the test checks, Slack and `PagerDuty` Events v2
//! shapes, a receiver answering 500 and 429 before 200 (delivered once,
//! after the retries, `Retry-After` honoured), and a receiver down all
//! along (the alarm is dead-lettered while the monitor goes on verifying,
//! and a restarted monitor re-sends it).

use crate::common::{Killed, Server, client, event, free_port, run, spawn_ready, static_log, submission};
use crate::monitor::{entries, targets};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    path: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

type Log = Arc<Mutex<Vec<Got>>>;

/// A webhook receiver on `listener`: answers the statuses of `script` in
/// order (with `Retry-After` where given), then 200; records everything.
fn receiver(listener: tokio::net::TcpListener, script: Vec<(u16, Option<&'static str>)>) -> Log {
    let got: Log = Arc::default();
    let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
    let app = axum::Router::new().fallback({
        let got = Arc::clone(&got);
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (got, script) = (Arc::clone(&got), Arc::clone(&script));
            async move {
                got.lock().expect("lock").push(Got {
                    path: uri.path().to_owned(),
                    headers,
                    body: body.to_vec(),
                    at: Instant::now(),
                });
                let (status, after) = script.lock().expect("lock").pop_front().unwrap_or((200, None));
                let mut r = axum::response::Response::new(axum::body::Body::from("{}"));
                *r.status_mut() = axum::http::StatusCode::from_u16(status).expect("status");
                if let Some(a) = after {
                    r.headers_mut().insert("retry-after", a.parse().expect("h"));
                }
                r
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    got
}

async fn bind() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    (l, url)
}

/// A log whose entry 6 is forged: one `authority` alarm.
async fn forged_log(seed: u8) -> (String, String) {
    let log = SignerKey::from_seed("hook.example/log", ALG_ED25519, [seed; 32]).expect("k");
    let sub = SignerKey::from_seed("ci", ALG_ED25519, [seed + 1; 32]).expect("k");
    let mallory = SignerKey::from_seed("ci", ALG_ED25519, [seed + 2; 32]).expect("k");
    let mut es = entries(&sub, &sub, &targets("ok", 5));
    let forged = entries(&sub, &mallory, &["svc-forged".into()]).pop().expect("e");
    es.push(
        String::from_utf8(forged)
            .expect("utf8")
            .replace("00:00:00.000Z", "00:00:58.000Z")
            .into_bytes(),
    );
    (static_log(es, log.clone()).await, log.verifier().to_vkey_string())
}

/// `provlog monitor --once` on `url` with `extra` flags, off the runtime.
async fn once(url: &str, vkey: &str, state: &std::path::Path, extra: &[String]) -> (i32, String) {
    let mut args: Vec<String> = [
        "monitor",
        "--url",
        url,
        "--log-key",
        vkey,
        "--state-dir",
        state.to_str().expect("p"),
        "--once",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend_from_slice(extra);
    tokio::task::spawn_blocking(move || run(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .expect("task")
}

fn hmac_hex(secret: &[u8], msg: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, msg)
        .as_ref()
        .iter()
        .fold(String::new(), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// What a receiver does to check a request: the signature over
/// `timestamp "." body`, and a timestamp within five minutes.
fn signature_ok(secret: &[u8], g: &Got) -> bool {
    let (Some(ts), Some(sig)) = (
        g.headers.get("x-provlog-timestamp"),
        g.headers.get("x-provlog-signature"),
    ) else {
        return false;
    };
    let ts = ts.to_str().expect("ascii");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let fresh = ts.parse::<u64>().is_ok_and(|t| t.abs_diff(now) < 300);
    let mut msg = ts.as_bytes().to_vec();
    msg.push(b'.');
    msg.extend_from_slice(&g.body);
    fresh && sig.to_str().expect("ascii") == format!("sha256={}", hmac_hex(secret, &msg))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alarm_reaches_generic_slack_and_pagerduty_webhooks_signed() {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, vkey) = forged_log(90).await;
    let (l, hook) = bind().await;
    let got = receiver(l, Vec::new());
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, "s3cret-for-hooks\n").expect("w");
    let rk = dir.path().join("pd.key");
    std::fs::write(&rk, "R0UTINGKEY0123456789abcdef012345\n").expect("w");
    let (code, out) = once(
        &url,
        &vkey,
        &dir.path().join("m"),
        &[
            format!("--webhook={hook}/generic?x=1"),
            format!("--webhook=slack={hook}/slack"),
            format!("--webhook=pagerduty={hook}/pd"),
            format!("--webhook-secret-file={}", secret.display()),
            format!("--pagerduty-routing-key-file={}", rk.display()),
            "--monitor-name=mon-a".into(),
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ALARM authority hook.example/log: entry 6"), "{out}");
    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 3, "one request per webhook: {got:?}");
    let by = |p: &str| {
        got.iter()
            .find(|g| g.path == p)
            .unwrap_or_else(|| panic!("no POST to {p}: {got:?}"))
    };

    let g = by("/generic");
    assert_eq!(g.headers["content-type"], "application/json");
    assert!(signature_ok(b"s3cret-for-hooks", g), "the signature verifies: {g:?}");
    assert!(!signature_ok(b"another secret", g), "and only under the secret");
    let mut tampered = g.clone();
    tampered.body.push(b' ');
    assert!(!signature_ok(b"s3cret-for-hooks", &tampered), "and only for this body");
    let v = g.json();
    assert_eq!(v["kind"], "authority", "{v}");
    assert_eq!(v["origin"], "hook.example/log", "{v}");
    assert_eq!(v["monitor"], "mon-a", "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("entry 6 (policy 0)")),
        "{v}"
    );
    assert!(
        v["at"].as_str().is_some_and(|a| a.ends_with('Z') && a.len() >= 20),
        "{v}"
    );
    let dedup = v["dedup_key"].as_str().expect("dedup_key").to_owned();
    assert_eq!(dedup.len(), 64, "{v}");

    let s = by("/slack").json();
    assert_eq!(s.as_object().map(serde_json::Map::len), Some(1), "only text: {s}");
    let text = s["text"].as_str().expect("text");
    assert!(text.contains("ALARM authority hook.example/log: entry 6"), "{text}");
    assert!(signature_ok(b"s3cret-for-hooks", by("/slack")));

    let p = by("/pd").json();
    assert_eq!(p["routing_key"], "R0UTINGKEY0123456789abcdef012345", "{p}");
    assert_eq!(p["event_action"], "trigger", "{p}");
    assert_eq!(p["dedup_key"], dedup.as_str(), "{p}");
    assert_eq!(p["payload"]["severity"], "critical", "{p}");
    assert_eq!(p["payload"]["source"], "mon-a", "{p}");
    assert_eq!(p["payload"]["timestamp"], v["at"], "{p}");
    assert!(
        p["payload"]["summary"]
            .as_str()
            .is_some_and(|m| m.starts_with("provlog ALARM authority hook.example/log: entry 6")),
        "{p}"
    );
    assert_eq!(p["payload"]["custom_details"]["kind"], "authority", "{p}");
    assert_eq!(p["payload"]["custom_details"]["message"], v["message"], "{p}");
    assert!(!dir.path().join("m/webhook-dead-letters.jsonl").exists());

    // A pagerduty= webhook without a routing key is refused at start.
    let (code, out) = once(
        &url,
        &vkey,
        &dir.path().join("m2"),
        &[format!("--webhook=pagerduty={hook}/pd")],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--pagerduty-routing-key-file"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answering_500_then_429_then_200_gets_the_alarm_once_after_the_retries() {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, vkey) = forged_log(93).await;
    let (l, hook) = bind().await;
    let got = receiver(l, vec![(500, None), (429, Some("1"))]);
    let (code, out) = once(
        &url,
        &vkey,
        &dir.path().join("m"),
        &[format!("--webhook={hook}/h"), "--webhook-backoff-ms=20".into()],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 3, "two refusals, then delivered once: {got:?}");
    assert!(got.iter().all(|g| g.body == got[0].body), "the same alarm each time");
    assert_eq!(got[0].json()["kind"], "authority");
    assert!(
        got[2].at.duration_since(got[1].at) >= Duration::from_millis(950),
        "Retry-After: 1 is honoured over the 40 ms backoff: {:?}",
        got[2].at.duration_since(got[1].at)
    );
    assert!(
        !dir.path().join("m/webhook-dead-letters.jsonl").exists(),
        "nothing dead-lettered"
    );
}

async fn scrape(c: &reqwest::Client, url: &str) -> String {
    c.get(format!("{url}/metrics"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text")
}

fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_all_along_gets_a_dead_letter_while_the_monitor_goes_on_and_a_restart_resends_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.dev_key();
    let c = client();
    // A revoke of a credential never issued: `lifecycle:revoke_unknown`.
    let mut e = event("dl-revoke", "svc-dl");
    e["action"] = json!("revoke");
    e["credential"] = json!({"fingerprint": format!("sha256:{}", "d".repeat(64))});
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .json(&submission(&key, &e))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    // Nothing listens on this port until the end of the test.
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/down");
    let state = dir.path().join("mon");
    let letters = state.join("webhook-dead-letters.jsonl");
    let vkey = s.vkey.to_vkey_string();
    let (child, mon) = spawn_ready(
        &state,
        &[
            "monitor",
            "--url",
            &s.url,
            "--log-key",
            &vkey,
            "--state-dir",
            state.to_str().expect("p"),
            "--listen",
            "127.0.0.1:0",
            "--interval-ms",
            "50",
            "--webhook",
            &hook,
            "--webhook-attempts",
            "3",
            "--webhook-backoff-ms",
            "20",
        ],
        "monitor",
    );
    let child = Killed(child);
    let deadline = Instant::now() + Duration::from_mins(1);
    let letter = loop {
        if let Some(l) = std::fs::read_to_string(&letters).ok().filter(|t| t.ends_with('\n')) {
            break l;
        }
        assert!(Instant::now() < deadline, "no dead letter in {}", letters.display());
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let lines: Vec<Value> = letter
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{letter}");
    assert_eq!(lines[0]["webhook"], hook.as_str(), "{letter}");
    assert_eq!(lines[0]["attempts"], 3, "{letter}");
    assert_eq!(lines[0]["alarm"]["kind"], "lifecycle:revoke_unknown", "{letter}");
    assert_eq!(lines[0]["alarm"]["origin"], "localhost/provlog", "{letter}");
    assert!(lines[0]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{letter}");
    // Meanwhile the monitor goes on: new entries are verified.
    let before = sample(&scrape(&c, &mon).await, "provlog_monitor_verified_size{").expect("verified size");
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .json(&submission(&key, &event("dl-more", "svc-dl-more")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let size = s.tree_size().await as f64;
    assert!(size > before, "{size} > {before}");
    let metrics = loop {
        let m = scrape(&c, &mon).await;
        if sample(&m, "provlog_monitor_verified_size{") == Some(size) {
            break m;
        }
        assert!(Instant::now() < deadline, "the monitor stopped verifying: {m}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let labels = format!("webhook=\"127.0.0.1:{port}\",format=\"generic\"");
    assert_eq!(
        sample(
            &metrics,
            &format!("provlog_monitor_webhook_deliveries_total{{{labels},result=\"failed\"}}")
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            &format!("provlog_monitor_webhook_deliveries_total{{{labels},result=\"dead_lettered\"}}")
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            &format!("provlog_monitor_webhook_deliveries_total{{{labels},result=\"sent\"}}")
        ),
        None,
        "{metrics}"
    );
    drop(child);

    // The receiver comes up; a restarted monitor re-sends the dead letter.
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    let got = receiver(l, Vec::new());
    let (code, out) = once(
        &s.url,
        &vkey,
        &state,
        &[format!("--webhook={hook}"), "--webhook-resend-dead-letters".into()],
    )
    .await;
    assert_eq!(code, 0, "no new alarm: {out}");
    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].json()["kind"], "lifecycle:revoke_unknown");
    assert_eq!(got[0].json()["at"], lines[0]["alarm"]["at"], "the original alarm");
    assert_eq!(
        std::fs::read_to_string(&letters).expect("file"),
        "",
        "the dead letter is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_beyond_a_full_queue_are_dead_lettered_at_once_and_none_is_lost() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = SignerKey::from_seed("burst.example/log", ALG_ED25519, [97; 32]).expect("k");
    let sub = SignerKey::from_seed("ci", ALG_ED25519, [98; 32]).expect("k");
    let mallory = SignerKey::from_seed("ci", ALG_ED25519, [99; 32]).expect("k");
    // 40 forged events: 40 alarms raised at once.
    let url = static_log(entries(&sub, &mallory, &targets("f", 40)), log.clone()).await;
    let state = dir.path().join("m");
    let (code, out) = once(
        &url,
        &log.verifier().to_vkey_string(),
        &state,
        &[
            format!("--webhook=http://127.0.0.1:{}/down", free_port()),
            "--webhook-queue=1".into(),
            "--webhook-attempts=2".into(),
            "--webhook-backoff-ms=200".into(),
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.matches("ALARM authority burst.example/log").count(), 40, "{out}");
    let letters: Vec<Value> = std::fs::read_to_string(state.join("webhook-dead-letters.jsonl"))
        .expect("dead letters")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(letters.len(), 40, "every alarm is a dead letter: {letters:?}");
    let full = letters
        .iter()
        .filter(|l| l["reason"] == "the delivery queue is full" && l["attempts"] == 0)
        .count();
    assert!(full >= 1, "the queue overflowed: {letters:?}");
    assert!(
        letters.iter().filter(|l| l["attempts"] == 2).count() >= 1,
        "the others were tried twice: {letters:?}"
    );
    let mut messages: Vec<&str> = letters
        .iter()
        .map(|l| l["alarm"]["message"].as_str().expect("message"))
        .collect();
    messages.sort_unstable();
    messages.dedup();
    assert_eq!(messages.len(), 40, "each alarm once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_stopped_while_a_delivery_waits_to_retry_dead_letters_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, vkey) = forged_log(100).await;
    let state = dir.path().join("m");
    let (child, mon) = spawn_ready(
        &state,
        &[
            "monitor",
            "--url",
            &url,
            "--log-key",
            &vkey,
            "--state-dir",
            state.to_str().expect("p"),
            "--listen",
            "127.0.0.1:0",
            "--interval-ms",
            "50",
            "--webhook",
            &format!("http://127.0.0.1:{}/down", free_port()),
            "--webhook-backoff-ms",
            "600000",
        ],
        "monitor",
    );
    let mut child = Killed(child);
    let c = client();
    let deadline = Instant::now() + Duration::from_mins(1);
    while !scrape(&c, &mon).await.contains("result=\"failed\"} 1") {
        assert!(Instant::now() < deadline, "no failed attempt");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // It now waits 10 minutes to retry; SIGTERM ends that wait (after 5 s).
    let pid = child.0.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let code = tokio::task::spawn_blocking(move || child.0.wait().expect("wait"))
        .await
        .expect("task");
    assert!(code.success(), "{code:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    let text = std::fs::read_to_string(state.join("webhook-dead-letters.jsonl")).expect("dead letters");
    let letters: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(letters.len(), 1, "{text}");
    assert_eq!(letters[0]["alarm"]["kind"], "authority", "{text}");
    assert!(
        letters[0]["reason"]
            .as_str()
            .is_some_and(|r| r.ends_with("the monitor stopped before delivering it")),
        "{text}"
    );
}
