//! Metrics, readiness, logs and request ids of the real server: the
//! Prometheus scrape agrees with the log's own state, and a JSON log line
//! ties a request id to the entry it created.

use crate::common::{Server, checkpoint, client, event, submission};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Parses a Prometheus text exposition into `name{labels}` → value.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_readiness_logs_and_request_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::try_start_env(
        dir.path(),
        &["--log-format", "json"],
        &[("RUST_LOG", "info,provlog=debug")],
    )
    .expect("server");
    let c = client();
    let key = s.dev_key();
    for i in 0..5 {
        let r = c
            .post(format!("{}/v1/entries", s.url))
            .json(&submission(&key, &event(&format!("m{i}"), "svc-metrics")))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 201);
        // Without an x-request-id the server makes one up.
        assert!(r.headers().contains_key("x-request-id"));
    }
    // A request id given by the client comes back and reaches the logs.
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .header("x-request-id", "req-observability-1")
        .json(&submission(&key, &event("traced", "svc-traced")))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-request-id"], "req-observability-1");
    let receipt: Value = r.json().await.expect("receipt");
    let traced_index = receipt["index"].as_u64().expect("index");
    // One rejected submission (bad signature).
    let mut forged = submission(&key, &event("forged", "svc-metrics"));
    forged["signature"] = json!(provlog_tlog::b64::encode([1u8; 64]));
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .json(&forged)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 401);
    for _ in 0..3 {
        let r = c
            .get(format!("{}/v1/proofs/inclusion?index=1", s.url))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 200);
    }

    let (cp, _) = checkpoint(&c, &s).await;
    let r = c.get(format!("{}/metrics", s.url)).send().await.expect("scrape");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.expect("text");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let m = parse(&text);
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in\n{text}"));
    let size = cp.size as f64;
    assert!((get("provlog_tree_size") - size).abs() < f64::EPSILON);
    // Entry 0 (the policy) was appended at start: all 7 entries went
    // through this process.
    assert!((get("provlog_entries_appended_total") - size).abs() < f64::EPSILON);
    assert!((get("provlog_submissions_total{status=\"201\",code=\"created\"}") - 6.0).abs() < f64::EPSILON);
    assert!((get("provlog_submissions_total{status=\"401\",code=\"bad_signature\"}") - 1.0).abs() < f64::EPSILON);
    assert!(get("provlog_fsync_seconds_count") >= 1.0);
    assert!(get("provlog_batch_entries_count") >= 1.0);
    assert!((get("provlog_batch_entries_sum") - size).abs() < f64::EPSILON);
    assert!((get("provlog_queue_depth")).abs() < f64::EPSILON);
    assert!(get("provlog_checkpoint_age_seconds") >= 0.0);
    assert!(
        (get("provlog_http_requests_total{route=\"/v1/proofs/inclusion\",status=\"200\"}") - 3.0).abs() < f64::EPSILON
    );
    assert!(get("provlog_http_request_seconds_count{route=\"/v1/entries\"}") >= 7.0);

    // Ready, with the figures it decided on.
    let r: Value = c
        .get(format!("{}/readyz", s.url))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(r["status"], "ready");
    assert_eq!(r["tree_size"], cp.size);

    // The JSON logs: every line is an object, and one of them carries the
    // request id, the submitter, the event id, and the index assigned.
    s.stop();
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).expect("log");
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let hit = lines.iter().find(|l| {
        let spans = l["spans"].as_array().cloned().unwrap_or_default();
        let has = |k: &str, v: &Value| spans.iter().any(|s| &s[k] == v);
        has("request_id", &json!("req-observability-1"))
            && has("event_id", &json!("traced"))
            && has("submitter", &json!("dev"))
            && has("index", &json!(traced_index))
    });
    assert!(
        hit.is_some(),
        "no log line ties the request id to entry {traced_index}:\n{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "submission rejected" && l["level"] == "INFO"),
        "the rejected submission is logged:\n{log}"
    );
}
