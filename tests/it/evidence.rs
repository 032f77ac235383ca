//! Evidence for an auditor, over a real log with a real witness: the time
//! filters of `/v1/events` (on `logged_at` and `occurred_at`) answer what
//! a scan of every entry answers; `provlog evidence` writes a bundle that
//! `provlog verify --evidence` accepts offline (the log stopped) with the
//! log's and the witness's keys; and every kind of tampering with the
//! bundle, or the wrong keys, makes it fail.

use crate::common::{self, Killed, Server, client, get_json, run, submission, write_key};
use provlog_tlog::keys::{ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey};
use serde_json::{Value, json};

fn event(id: &str, target: &str, occurred: &str, outcome: &str) -> Value {
    json!({
        "event_id": id,
        "occurred_at": occurred,
        "action": "rotate",
        "actor": {"id": "wf/rotate", "type": "workflow"},
        "target": {"id": target, "type": "service_account"},
        "authority": {"approval_id": "CHG-1", "approved_by": "alice"},
        "decision": {"result": "allow"},
        "outcome": outcome,
    })
}

/// Every entry of the log, decoded, by paging `/v1/events` without filters.
async fn all_entries(c: &reqwest::Client, url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let (s, body) = get_json(c, url, &format!("/v1/events?limit=1000{after}")).await;
        assert_eq!(s, 200, "{body}");
        out.extend(body["entries"].as_array().expect("entries").iter().cloned());
        match body["next_after"].as_u64() {
            Some(n) => after = format!("&after={n}"),
            None => return out,
        }
    }
}

async fn indexes(c: &reqwest::Client, url: &str, query: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let (s, body) = get_json(c, url, &format!("/v1/events?{query}&limit=7{after}")).await;
        assert_eq!(s, 200, "{query}: {body}");
        out.extend(
            body["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| e["index"].as_u64().expect("i")),
        );
        match body["next_after"].as_u64() {
            Some(n) => after = format!("&after={n}"),
            None => return out,
        }
    }
}

fn ms(s: &str) -> i64 {
    provlog_proto::time::parse_bound(s).expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_filters_and_an_evidence_bundle_verified_offline() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let log_key = SignerKey::from_seed("evidence.example/log", ALG_ED25519, [70; 32]).expect("k");
    write_key(&data.join("log.skey"), &log_key);
    let vkey = log_key.verifier().to_vkey_string();
    let wk = SignerKey::from_seed("w.example", ALG_COSIGNATURE_V1, [71; 32]).expect("k");
    let wv = wk.verifier().to_vkey_string();
    let (wc, wurl) = common::start_witness_on(&dir.path().join("w"), &wk, &vkey, "127.0.0.1:0");
    let _w = Killed(wc);
    let s = Server::start(
        &data,
        &[
            "--origin",
            "evidence.example/log",
            "--witness",
            &format!("{wurl}={wv}"),
            "--witness-interval-ms",
            "50",
        ],
    );
    let c = client();
    let key = s.dev_key();
    // Events for two targets whose occurred_at straddles November, one failed.
    let times = [
        "2026-10-30T23:59:59.999Z",
        "2026-11-01T00:00:00Z",
        "2026-11-15T12:00:00+02:00",
        "2026-11-30T23:59:59.999Z",
        "2026-12-01T00:00:00Z",
        "2025-06-01T08:00:00Z",
        "2026-11-20T00:00:00Z",
    ];
    for round in 0..3 {
        for (i, t) in times.iter().enumerate() {
            let target = if i % 3 == 2 { "svc-other" } else { "svc-pay" };
            let outcome = if i == 6 { "failure" } else { "success" };
            let r = c
                .post(format!("{}/v1/entries", s.url))
                .json(&submission(&key, &event(&format!("e-{round}-{i}"), target, t, outcome)))
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), 201);
        }
        // Some time between rounds, so that logged_at windows have edges.
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    let all = all_entries(&c, &s.url).await;
    let events: Vec<&Value> = all.iter().filter(|e| e["decoded"]["event"].is_object()).collect();
    assert_eq!(events.len(), 21);

    // occurred_at windows, with and without a target, equal a scan.
    let scan = |target: Option<&str>, from: Option<i64>, to: Option<i64>, logged: (Option<i64>, Option<i64>)| {
        all.iter()
            .filter(|e| {
                let d = &e["decoded"];
                let la = ms(d["logged_at"].as_str().expect("la"));
                let logged_ok = logged.0.is_none_or(|f| la >= f) && logged.1.is_none_or(|t| la < t);
                if from.is_none() && to.is_none() && target.is_none() {
                    return logged_ok;
                }
                let Some(o) = d["event"]["occurred_at"].as_str() else {
                    return false;
                };
                let o = ms(o);
                target.is_none_or(|t| d["event"]["target"]["id"] == t)
                    && from.is_none_or(|f| o >= f)
                    && to.is_none_or(|t| o < t)
                    && logged_ok
            })
            .map(|e| e["index"].as_u64().expect("i"))
            .collect::<Vec<_>>()
    };
    let nov = (Some(ms("2026-11-01")), Some(ms("2026-12-01")));
    for (q, target, w) in [
        ("occurred_from=2026-11-01&occurred_to=2026-12-01", None, nov),
        (
            "target=svc-pay&occurred_from=2026-11-01&occurred_to=2026-12-01",
            Some("svc-pay"),
            nov,
        ),
        (
            "occurred_from=2026-11-15T10:00:00Z",
            None,
            (Some(ms("2026-11-15T10:00:00Z")), None),
        ),
        (
            "target=svc-other&occurred_to=2026-11-15T10:00:00.001Z",
            Some("svc-other"),
            (None, Some(ms("2026-11-15T10:00:00.001Z"))),
        ),
        (
            "occurred_from=2020-01-01&occurred_to=2030-01-01",
            None,
            (Some(ms("2020-01-01")), Some(ms("2030-01-01"))),
        ),
    ] {
        let want = scan(target, w.0, w.1, (None, None));
        assert!(!want.is_empty(), "{q}");
        assert_eq!(indexes(&c, &s.url, q).await, want, "{q}");
    }
    // logged_at windows: from the 8th entry's logged_at to the 15th's.
    let la = |i: usize| all[i]["decoded"]["logged_at"].as_str().expect("la").to_owned();
    let (lf, lt) = (la(8), la(15));
    let want = scan(None, None, None, (Some(ms(&lf)), Some(ms(&lt))));
    assert!(!want.is_empty() && want.len() < all.len());
    let q = format!("from={lf}&to={lt}");
    assert_eq!(indexes(&c, &s.url, &q.replace('+', "%2B")).await, want);
    let want = scan(Some("svc-pay"), nov.0, nov.1, (Some(ms(&lf)), None));
    let q = format!("target=svc-pay&occurred_from=2026-11-01&occurred_to=2026-12-01&from={lf}");
    assert_eq!(indexes(&c, &s.url, &q).await, want);
    // The CLI passes them on.
    let (code, out) = run(&[
        "events",
        "--url",
        &s.url,
        "--target",
        "svc-pay",
        "--occurred-from",
        "2026-11-01",
        "--occurred-to",
        "2026-12-01",
        "--all",
    ]);
    assert_eq!(code, 0, "{out}");
    let got: Vec<u64> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["index"].as_u64())
        .collect();
    assert_eq!(got, scan(Some("svc-pay"), nov.0, nov.1, (None, None)));
    // Bad windows are 400s with a JSON error.
    for q in [
        "from=yesterday",
        "occurred_to=2026-13-01",
        "from=2026-12-01&to=2026-11-01",
        "tree_size=0",
        "tree_size=100000",
    ] {
        let (st, body) = get_json(&c, &s.url, &format!("/v1/events?{q}")).await;
        assert_eq!(st, 400, "{q}: {body}");
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{q}: {body}"
        );
    }
    let (code, out) = run(&["events", "--url", &s.url, "--from", "yesterday"]);
    assert_eq!(code, 2, "a malformed bound is a usage error: {out}");

    // The bundle: svc-pay's November, against the witnessed checkpoint.
    let size = s.tree_size().await;
    let witnessed = common::wait_witnessed(&c, &s.url, &format!("evidence.example/log\n{size}\n")).await;
    assert!(
        witnessed.starts_with(&format!("evidence.example/log\n{size}\n")),
        "{witnessed}"
    );
    let vkf = dir.path().join("log.vkey");
    std::fs::write(&vkf, &vkey).expect("w");
    let wkf = dir.path().join("w.vkey");
    std::fs::write(&wkf, &wv).expect("w");
    let bundle = dir.path().join("bundle");
    let b = bundle.to_str().expect("p");
    let (vk, wkk) = (vkf.to_str().expect("p"), wkf.to_str().expect("p"));
    let (code, out) = run(&[
        "evidence",
        "--url",
        &s.url,
        "--log-key",
        vk,
        "--witness-key",
        wkk,
        "--target",
        "svc-pay",
        "--occurred-from",
        "2026-11-01",
        "--occurred-to",
        "2026-12-01",
        "--out",
        b,
    ]);
    assert_eq!(code, 0, "{out}");
    let want = scan(Some("svc-pay"), nov.0, nov.1, (None, None));
    assert!(
        out.contains(&format!("{} events against the checkpoint of size {size}", want.len())),
        "{out}"
    );
    let ev: Value = serde_json::from_slice(&std::fs::read(bundle.join("evidence.json")).expect("r")).expect("json");
    let got: Vec<u64> = ev["entries"]
        .as_array()
        .expect("e")
        .iter()
        .map(|e| e["index"].as_u64().expect("i"))
        .collect();
    assert_eq!(got, want);
    assert!(ev["checkpoint"].as_str().expect("cp").contains("\u{2014} w.example "));
    let csv = std::fs::read_to_string(bundle.join("events.csv")).expect("csv");
    assert_eq!(csv.lines().count(), want.len() + 1, "{csv}");
    assert!(
        csv.contains(",failure,"),
        "the failed event is in the CSV as failed: {csv}"
    );
    let html = std::fs::read_to_string(bundle.join("report.html")).expect("html");
    assert!(
        html.contains("provlog verify --evidence") && html.contains("class=\"bad\""),
        "{html}"
    );
    // A second run into the same directory refuses to overwrite it.
    let (code, out) = run(&[
        "evidence",
        "--url",
        &s.url,
        "--log-key",
        vk,
        "--target",
        "svc-pay",
        "--out",
        b,
    ]);
    assert_eq!(code, 1, "{out}");

    // Offline: the log is gone.
    s.kill();
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--evidence", b, "--log-key", vk];
        args.extend_from_slice(extra);
        run(&args)
    };
    let (code, out) = verify(&["--witness-key", wkk]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("OK: {} events from evidence.example/log", want.len()))
            && out.contains("cosigned by 1 of 1"),
        "{out}"
    );
    // Another log key, or a witness that did not cosign: refused.
    let other = SignerKey::from_seed("evidence.example/log", ALG_ED25519, [72; 32]).expect("k");
    let (code, out) = run(&[
        "verify",
        "--evidence",
        b,
        "--log-key",
        &other.verifier().to_vkey_string(),
    ]);
    assert_eq!(code, 1, "{out}");
    let absent = SignerKey::from_seed("w2.example", ALG_COSIGNATURE_V1, [73; 32]).expect("k");
    let (code, out) = verify(&["--witness-key", &absent.verifier().to_vkey_string()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("witness"), "{out}");

    // Tampering: each change alone is caught.
    let original = std::fs::read_to_string(bundle.join("evidence.json")).expect("r");
    let tamper = |file: &str, f: &dyn Fn(&str) -> String| {
        let p = bundle.join(file);
        let before = std::fs::read_to_string(&p).expect("r");
        std::fs::write(&p, f(&before)).expect("w");
        let r = verify(&[]);
        std::fs::write(&p, before).expect("w");
        r
    };
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(&original).expect("j");
        f(&mut v);
        serde_json::to_string_pretty(&v).expect("s")
    };
    let first = format!("entry {}", want[0]);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "report.html",
            html.replacen("svc-pay", "svc-pax", 1),
            "report.html does NOT match",
        ),
        (
            "events.csv",
            csv.replacen(",failure,", ",success,", 1),
            "events.csv does NOT match",
        ),
        (
            "evidence.json",
            edit(&|v| {
                // An entry's bytes changed (its proof no longer leads to the root).
                let e = v["entries"][0]["entry"].as_str().expect("e");
                let mut bytes = provlog_tlog::b64::decode(e).expect("b64");
                let n = bytes.len();
                bytes[n / 2] ^= 1;
                v["entries"][0]["entry"] = json!(provlog_tlog::b64::encode(bytes));
            }),
            &first,
        ),
        (
            "evidence.json",
            edit(&|v| {
                v["question"]["target"] = json!("svc-other");
            }),
            "does not answer",
        ),
        (
            "evidence.json",
            edit(&|v| {
                v["policies"] = json!([]);
            }),
            "is not in the bundle",
        ),
        (
            "evidence.json",
            edit(&|v| {
                let a = v["entries"][0].clone();
                v["entries"][0] = v["entries"][1].clone();
                v["entries"][1] = a;
            }),
            "increasing index order",
        ),
        (
            "evidence.json",
            edit(&|v| {
                v["consistency"] = json!(["AAAA"]);
            }),
            "consistent",
        ),
        ("evidence.json", "{\"format\":1}".into(), "not an evidence bundle"),
    ];
    for (file, body, why) in cases {
        let (code, out) = tamper(file, &|_| body.clone());
        assert_eq!(code, 1, "{file} tampered ({why}) must fail: {out}");
        assert!(out.contains(why), "{file}: want {why:?} in {out}");
    }
    // Untouched again, it verifies.
    let (code, out) = verify(&[]);
    assert_eq!(code, 0, "{out}");
}
