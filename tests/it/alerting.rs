//! Issue 20 §3: the shipped Prometheus rules (`deploy/prometheus`) pass
//! `promtool check rules` and their unit tests (`promtool test rules`), and
//! every metric they and the Grafana dashboard (`deploy/grafana`) query is
//! one the real log, witness and monitor export on `/metrics`.

use crate::common::{
    Killed, Server, event, free_port, spawn_ready, start_witness_on, submission, wait_witnessed, write_key,
};
use provlog_tlog::keys::{ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// `promtool` (Debian's `prometheus` package, `scripts/setup --test`).
fn promtool(args: &[&str]) -> (bool, String) {
    let o = Command::new("promtool")
        .args(args)
        .current_dir(repo("deploy/prometheus"))
        .output()
        .expect("promtool is installed (scripts/setup --test installs Debian's prometheus)");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let (ok, out) = promtool(&["check", "rules", "provlog-rules.yml"]);
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    let (ok, out) = promtool(&["test", "rules", "provlog-rules.test.yml"]);
    assert!(ok, "{out}");
    // promtool itself fails a rule that does not parse (so this test can).
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(provlog_tree_size[5m]\n",
    )
    .expect("w");
    let (ok, out) = promtool(&["check", "rules", bad.to_str().expect("p")]);
    assert!(!ok, "{out}");
}

/// The metric names a `PromQL` expression selects: identifiers outside
/// strings, label matchers, ranges and grouping label lists, that are not
/// functions, aggregations, keywords or numbers.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
    ];
    const GROUPING: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];
    // Blank out strings, `{…}` and `[…]`.
    let mut clean = String::new();
    let (mut quote, mut depth) = (None::<char>, 0usize);
    let mut escaped = false;
    for c in expr.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            clean.push(' ');
            continue;
        }
        match c {
            '"' | '\'' | '`' if depth == 0 => {
                quote = Some(c);
                clean.push(' ');
            }
            '"' | '\'' | '`' => quote = Some(c),
            '{' | '[' => {
                depth += 1;
                clean.push(' ');
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                clean.push(' ');
            }
            _ if depth > 0 => clean.push(' '),
            _ => clean.push(c),
        }
    }
    let chars: Vec<char> = clean.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_') {
                i += 1;
            }
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == '_' || c == ':') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let next: String = chars[j..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        // A function call, or an aggregation with its grouping first.
        let call =
            chars.get(j) == Some(&'(') || (!GROUPING.contains(&word.as_str()) && (next == "by" || next == "without"));
        if GROUPING.contains(&word.as_str()) && call {
            // Skip the label list.
            while j < chars.len() && chars[j] != ')' {
                j += 1;
            }
            i = j;
            continue;
        }
        if call || KEYWORDS.contains(&word.as_str()) {
            continue;
        }
        out.insert(word);
    }
    out
}

/// The sample names a `/metrics` text exposes: from its `# TYPE` lines
/// (a counter `x` is `x_total`, a histogram `x` is `x_bucket`, `x_sum`,
/// `x_count`), so a metric no event has touched yet counts too.
fn exported(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in text.lines() {
        let mut w = l.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) = (w.next(), w.next(), w.next(), w.next()) {
            let suffixes: &[&str] = match kind {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "summary" => &["", "_sum", "_count", "_created"],
                "info" => &["_info"],
                _ => &[""],
            };
            out.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !l.starts_with('#')
            && let Some(name) = l.split(['{', ' ']).next().filter(|n| !n.is_empty())
        {
            out.insert(name.to_owned());
        }
    }
    out
}

/// What `exprs` name that `known` does not hold (`up` is Prometheus's own).
fn unknown(exprs: &[String], known: &BTreeSet<String>) -> Vec<String> {
    exprs
        .iter()
        .flat_map(|e| metric_names(e).into_iter().map(move |m| (m, e.clone())))
        .filter(|(m, _)| m != "up" && !known.contains(m))
        .map(|(m, e)| format!("{m} (in {e})"))
        .collect()
}

/// Every query of the dashboard: panel targets (rows' too) and template
/// variables (`label_values(METRIC, label)` as `METRIC`).
fn dashboard_exprs(d: &serde_json::Value) -> Vec<String> {
    fn walk(p: &serde_json::Value, out: &mut Vec<String>) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(t["expr"].as_str().expect("every target has an expr").to_owned());
        }
        for c in p["panels"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    let mut out = Vec::new();
    walk(d, &mut out);
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] == "query" {
            let q = v["query"]["query"]
                .as_str()
                .or_else(|| v["query"].as_str())
                .expect("query");
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.split(',').next())
                .expect("label_values(METRIC, label)");
            out.push(inner.to_owned());
        }
    }
    out
}

/// The `expr:` lines of the rules file (kept on one line each).
fn rule_exprs(text: &str) -> Vec<String> {
    let exprs: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .map(|e| e.trim().to_owned())
        .collect();
    assert!(
        exprs.iter().all(|e| !e.is_empty() && !e.starts_with(['|', '>'])),
        "every expr on its own line: {exprs:?}"
    );
    assert_eq!(
        exprs.len(),
        text.lines().filter(|l| l.trim().starts_with("- alert:")).count(),
        "one expr per alert"
    );
    exprs
}

#[test]
fn the_query_parser_finds_metrics_and_only_metrics() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"histogram_quantile(0.99, sum by (le, instance) (rate(provlog_fsync_seconds_bucket{a="b{c}"}[5m]))) > 0.5"#
        ),
        ["provlog_fsync_seconds_bucket"]
    );
    assert_eq!(
        names("provlog_queue_depth > 0 and on(instance) time() - x:recorded offset 5m > 1e3"),
        ["provlog_queue_depth", "x:recorded"]
    );
    assert_eq!(names(r#"up{job=~"provlog-.*"} == 0"#), ["up"]);
    let known =
        exported("# TYPE provlog_a counter\n# TYPE provlog_h histogram\n# TYPE provlog_g gauge\nprovlog_g 1\n# EOF\n");
    assert!(
        unknown(
            &["rate(provlog_a_total[5m]) + provlog_h_count + provlog_g".into()],
            &known
        )
        .is_empty()
    );
    assert_eq!(
        unknown(&["provlog_a".into()], &known).len(),
        1,
        "a counter is only its _total"
    );
    assert_eq!(unknown(&["provlog_no_such_metric".into()], &known).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_rules_and_the_dashboard_query_is_exported_by_the_binaries() {
    // Metric families with labels appear once something was counted: the
    // test makes each service do its work (a witnessed event; a monitor
    // alarm, a log it cannot reach, and its failed webhook delivery).
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("log");
    std::fs::create_dir_all(&data).expect("dir");
    let log_key = SignerKey::from_seed("alerting.example/log", ALG_ED25519, [94; 32]).expect("k");
    write_key(&data.join("log.skey"), &log_key);
    let vkey = log_key.verifier().to_vkey_string();
    let wk = SignerKey::from_seed("alerting.example/w", ALG_COSIGNATURE_V1, [95; 32]).expect("k");
    let (w, wurl) = start_witness_on(&dir.path().join("w"), &wk, &vkey, "127.0.0.1:0");
    let _w = Killed(w);
    let s = Server::start(
        &data,
        &[
            "--origin",
            "alerting.example/log",
            "--witness",
            &format!("{wurl}={}", wk.verifier().to_vkey_string()),
            "--witness-interval-ms",
            "50",
        ],
    );
    let c = crate::common::client();
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .json(&submission(&s.dev_key(), &event("alerting-1", "svc-alerting")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let witnessed = wait_witnessed(&c, &s.url, "alerting.example/log\n").await;
    assert!(!witnessed.is_empty(), "the witness cosigned");
    let gone = SignerKey::from_seed("gone.example/log", ALG_ED25519, [96; 32]).expect("k");
    let mdir = dir.path().join("m");
    let (m, murl) = spawn_ready(
        &mdir,
        &[
            "monitor",
            "--url",
            &s.url,
            "--log-key",
            &vkey,
            "--log",
            &format!("http://127.0.0.1:{}={}", free_port(), gone.verifier().to_vkey_string()),
            "--state-dir",
            mdir.to_str().expect("p"),
            "--listen",
            "127.0.0.1:0",
            "--interval-ms",
            "50",
            "--webhook",
            &format!("http://127.0.0.1:{}/hook", free_port()),
            "--webhook-attempts",
            "1",
        ],
        "monitor",
    );
    let _m = Killed(m);
    let mut known = BTreeSet::new();
    for (service, url, wanted) in [
        (
            "log",
            &s.url,
            &[
                "provlog_submissions_total",
                "provlog_witness_seconds_count",
                "provlog_http_requests_total",
            ][..],
        ),
        (
            "witness",
            &wurl,
            &[
                "provlog_witness_add_checkpoint_requests_total",
                "provlog_witness_cosigned_size",
            ][..],
        ),
        (
            "monitor",
            &murl,
            &[
                "provlog_monitor_alarms_total",
                "provlog_monitor_webhook_deliveries_total",
                "provlog_monitor_entries_verified_total",
            ][..],
        ),
    ] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
        let got = loop {
            let r = c.get(format!("{url}/metrics")).send().await.expect("scrape");
            assert_eq!(r.status(), 200, "{service}");
            let text = r.text().await.expect("text");
            let got = exported(&text);
            if wanted.iter().all(|w| got.contains(*w)) {
                break got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{service} exports {wanted:?}: {text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        known.extend(got);
    }
    // Gauges a poll sets after those counters may lag a scrape behind:
    // scrape again for a while before calling a metric missing.
    let all: Vec<String> =
        rule_exprs(&std::fs::read_to_string(repo("deploy/prometheus/provlog-rules.yml")).expect("r"))
            .into_iter()
            .chain(dashboard_exprs(
                &serde_json::from_str(&std::fs::read_to_string(repo("deploy/grafana/provlog.json")).expect("d"))
                    .expect("j"),
            ))
            .collect();
    let settle = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !unknown(&all, &known).is_empty() && std::time::Instant::now() < settle {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        for url in [&s.url, &wurl, &murl] {
            let text = c
                .get(format!("{url}/metrics"))
                .send()
                .await
                .expect("scrape")
                .text()
                .await
                .expect("text");
            known.extend(exported(&text));
        }
    }

    let rules = rule_exprs(&std::fs::read_to_string(repo("deploy/prometheus/provlog-rules.yml")).expect("rules"));
    assert!(rules.len() >= 10, "{rules:?}");
    let missing = unknown(&rules, &known);
    assert!(
        missing.is_empty(),
        "the rules query metrics nobody exports: {missing:#?}"
    );

    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("deploy/grafana/provlog.json")).expect("dashboard"))
            .expect("the dashboard is JSON");
    assert!(
        d["title"].is_string() && d["uid"].is_string(),
        "a titled dashboard with a uid"
    );
    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().expect("id")), "panel ids are unique: {p}");
        assert!(p["gridPos"]["w"].is_u64() && p["gridPos"]["h"].is_u64(), "{p}");
        if p["type"] != "row" {
            assert!(
                p["targets"].as_array().is_some_and(|t| !t.is_empty()),
                "every panel queries something: {p}"
            );
        }
    }
    let exprs = dashboard_exprs(&d);
    for family in ["provlog_monitor_", "provlog_witness_", "provlog_tree_size"] {
        assert!(
            exprs.iter().any(|e| e.contains(family)),
            "the dashboard shows {family}*"
        );
    }
    let missing = unknown(&exprs, &known);
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics nobody exports: {missing:#?}"
    );
    // The same check fails on a metric that does not exist.
    let mut broken = exprs;
    broken.push("rate(provlog_monitor_alarm_total[5m])".into());
    assert_eq!(
        unknown(&broken, &known),
        ["provlog_monitor_alarm_total (in rate(provlog_monitor_alarm_total[5m]))"]
    );
}
