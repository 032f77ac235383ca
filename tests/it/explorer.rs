//! The explorer page (`GET /`) in headless Chromium against the real
//! binary: the home page verifies the latest checkpoint and lists the
//! recent entries (escaped, never as markup), search shows matches and the
//! server's error messages, and the entry view verifies leaf hash,
//! inclusion proof and checkpoint signature in the browser. A proxy that
//! tampers with the receipt (proof, signature, entry) must turn the verdict
//! to `failed`.
//!
//! Issue 20 §2, one test each: keys pinned in the link (a wrong log key
//! fails every check against a real log, the right one passes; a real
//! witness's cosignatures verified k of n, a forged one fails); outcome,
//! decision, Cedar decision and approvals on every event; a pasted JSON
//! receipt, COSE receipt and transparent statement verified (and failing
//! when changed or under a wrong key); history paging, the action filter,
//! the prefix and time-range filters applied in the browser, the origin
//! on every page, no "next" past the end, distinguishable fingerprints,
//! and the credential's verified state on its search page.
//!
//! Needs `chromium` on PATH (`scripts/setup` installs it); without it the
//! test fails rather than skips.

use crate::common::{Server, client, event, post, submission, tamper_proxy};
use provlog_tlog::b64;
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest one page load may take before Chromium is killed.
const CHROMIUM_TIMEOUT: Duration = Duration::from_mins(1);

/// Changes a response body in place.
type Tamper = fn(&mut Vec<u8>);

fn chromium() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("chromium"))
                .find(|f| f.is_file())
        })
        .unwrap_or_else(|| {
            panic!("`chromium` is not on PATH: the explorer test needs headless Chromium; run scripts/setup")
        })
}

/// Loads `url` in headless Chromium (fresh profile) and returns the DOM once
/// the page's scripts have settled.
pub(crate) fn dump_dom(url: &str) -> String {
    use std::os::unix::process::CommandExt as _;
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills its helpers too.
        .process_group(0)
        .spawn()
        .expect("spawn chromium");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for chromium") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish {url} within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    assert!(status.success(), "chromium failed on {url}: {status}\n{stderr}");
    assert!(dom.contains("</html>"), "no DOM for {url}:\n{dom}\n{stderr}");
    dom
}

pub(crate) async fn load(url: String) -> String {
    tokio::task::spawn_blocking(move || dump_dom(&url))
        .await
        .expect("chromium task")
}

/// The start tag holding `marker` (e.g. `id="verdict"`) and the text right
/// after it.
fn element<'a>(dom: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let at = dom.find(marker)?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    let text = &dom[end + 1..];
    Some((&dom[start..=end], &text[..text.find('<').unwrap_or(text.len())]))
}

/// The `data-status` and text of the element with `marker`; panics with
/// the DOM if there is none.
pub(crate) fn status<'a>(dom: &'a str, marker: &str) -> (&'a str, &'a str) {
    let (tag, text) = element(dom, marker).unwrap_or_else(|| panic!("no element with {marker} in:\n{dom}"));
    let s = tag
        .find("data-status=\"")
        .unwrap_or_else(|| panic!("{tag} has no data-status"))
        + "data-status=\"".len();
    (&tag[s..s + tag[s..].find('"').expect("closing quote")], text)
}

fn edit_receipt(body: &mut Vec<u8>, edit: impl FnOnce(&mut Value)) {
    let mut r: Value = serde_json::from_slice(body).expect("receipt JSON");
    edit(&mut r);
    *body = serde_json::to_vec(&r).expect("JSON");
}

fn flip_b64(v: &mut Value, byte: usize) {
    let mut raw = b64::decode(v.as_str().expect("base64 string")).expect("base64");
    raw[byte] ^= 1;
    *v = Value::String(b64::encode(raw));
}

/// One bit of the first inclusion-proof hash.
fn tamper_proof(body: &mut Vec<u8>) {
    edit_receipt(body, |r| flip_b64(&mut r["inclusion_proof"][0], 0));
}

/// One bit of the log's signature (past its 4-byte key hash): the body and
/// so the proof still match, the signature does not.
fn tamper_signature(body: &mut Vec<u8>) {
    edit_receipt(body, |r| {
        let note = r["checkpoint"].as_str().expect("checkpoint").to_owned();
        let (text, sigs) = note.split_once("\n\n").expect("signed note");
        let lines: Vec<String> = sigs
            .lines()
            .map(|line| {
                let (name, sig) = line.rsplit_once(' ').expect("signature line");
                let mut sig = Value::String(sig.to_owned());
                flip_b64(&mut sig, 4 + 10);
                format!("{name} {}\n", sig.as_str().expect("string"))
            })
            .collect();
        r["checkpoint"] = Value::String(format!("{text}\n\n{}", lines.concat()));
    });
}

/// One bit of the entry bytes: the leaf hash no longer matches.
fn tamper_entry(body: &mut Vec<u8>) {
    edit_receipt(body, |r| flip_b64(&mut r["entry"], 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explorer_verifies_in_the_browser_and_catches_tampering() {
    chromium();
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.dev_key();
    let c = client();
    let xss = "svc-<img src=x onerror=alert(1)>";
    let targets = ["svc-explorer-a", "svc-explorer-b", "svc-explorer-c", xss];
    for (i, t) in targets.iter().enumerate() {
        let body = serde_json::to_vec(&submission(&key, &event(&format!("explorer-{i}"), t))).expect("json");
        let (st, r) = post(&c, &s.url, "/v1/entries", body).await;
        assert_eq!(st, 201, "{r}");
        // Entry 0 is the policy, 1 the first state commitment; each event
        // is followed by the commitment of the credential it rotated.
        assert_eq!(r["index"], 2 * i + 2, "{r}");
    }

    // Home: the checkpoint verifies and the recent entries are listed.
    let dom = load(format!("{}/", s.url)).await;
    let (st, text) = status(&dom, "id=\"checkpoint-status\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("at size 10"), "{text}");
    let (st, text) = status(&dom, "id=\"key-history-status\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("No rotation"), "{text}");
    for t in &targets[..3] {
        assert!(dom.contains(&format!(">{t}</a>")), "{t} not listed:\n{dom}");
    }
    assert!(
        dom.contains("state commitment"),
        "state leaves are listed as such:\n{dom}"
    );
    for i in 0..10 {
        assert!(
            dom.contains(&format!("<a href=\"#/entry/{i}\">{i}</a>")),
            "entry {i} not listed"
        );
    }
    // A target is text, never markup.
    assert!(dom.contains(">svc-&lt;img src=x onerror=alert(1)&gt;</a>"), "{dom}");
    assert!(!dom.contains("<img src=\"x\""), "{dom}");

    // Search: the matching entry; a bad parameter shows the server's message.
    let dom = load(format!("{}/#/search?target=svc-explorer-b", s.url)).await;
    let (results, _) = element(&dom, "id=\"search-results\"").unwrap_or_else(|| panic!("no results:\n{dom}"));
    assert!(results.starts_with("<table"), "{results}");
    assert!(dom.contains("data-index=\"4\""), "{dom}");
    assert!(!dom.contains("data-index=\"2\""), "{dom}");
    let dom = load(format!("{}/#/search?credential=nope", s.url)).await;
    let (st, text) = status(&dom, "id=\"search-status\"");
    assert_eq!(st, "failed");
    assert!(text.contains("HTTP 400") && text.contains("credential"), "{text}");

    // An entry: leaf hash, inclusion proof and signature all check.
    let dom = load(format!("{}/#/entry/4", s.url)).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}");
    assert!(
        text.contains("entry 4 is included in localhost/provlog at size 10"),
        "{text}"
    );
    for check in ["leaf", "inclusion", "signature"] {
        assert_eq!(
            status(&dom, &format!("data-check=\"{check}\"")).0,
            "verified",
            "{check}"
        );
    }
    assert!(dom.contains("svc-explorer-b"), "the decoded entry is shown");
    // Its COSE receipt (GET /entries/4), decoded and checked in the browser.
    let (st, text) = status(&dom, "data-check=\"cose-receipt\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("root of size 10"), "{text}");
    assert!(dom.contains("RFC9162_SHA256 (1)"), "the receipt's vds is shown");
    // The four audit questions, from GET /v1/entries/4/explain.
    let list = |marker: &str| -> String {
        let at = dom.find(marker).unwrap_or_else(|| panic!("no {marker} in:\n{dom}"));
        dom[at..at + dom[at..].find("</ul>").expect("end of list")].to_owned()
    };
    let who = list("id=\"explain-who\"");
    assert!(
        who.contains("submitter ") && who.contains("no signed approvals"),
        "{who}"
    );
    assert!(
        dom.contains("Identity state") && dom.contains("before: "),
        "the credential's state is shown"
    );
    let checks = list("id=\"explain-checks\"");
    assert!(
        checks.contains("data-status=\"verified\"") && !checks.contains("data-status=\"failed\""),
        "{checks}"
    );
    // A COSE receipt whose signature a mirror changed fails, alone.
    let proxy = tamper_proxy(s.url.clone(), "/entries/4".into(), |b| {
        let n = b.len();
        b[n - 1] ^= 1;
    })
    .await;
    let dom = load(format!("{proxy}/#/entry/4")).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "failed", "{text}");
    assert!(text.contains("COSE receipt's signature does not verify"), "{text}");
    assert_eq!(status(&dom, "data-check=\"inclusion\"").0, "verified");
    let dom = load(format!("{}/#/entry/10", s.url)).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "failed");
    assert!(text.contains("HTTP 404"), "{text}");

    // A log (or mirror) serving tampered receipts.
    let cases: [(Tamper, &str, &str); 3] = [
        (
            tamper_proof,
            "inclusion",
            "inclusion proof does not match the checkpoint root",
        ),
        (
            tamper_signature,
            "signature",
            "checkpoint signature does not verify under the log key",
        ),
        (tamper_entry, "leaf", "entry does not match its leaf hash"),
    ];
    for (tamper, check, reason) in cases {
        let proxy = tamper_proxy(s.url.clone(), "/v1/entries/4/receipt".into(), tamper).await;
        let dom = load(format!("{proxy}/#/entry/4")).await;
        let (st, text) = status(&dom, "id=\"verdict\"");
        assert_eq!(st, "failed", "{check}: {text}");
        assert!(text.contains(reason), "{check}: {text}");
        assert_eq!(status(&dom, &format!("data-check=\"{check}\"")).0, "failed", "{check}");
        if check == "signature" {
            assert_eq!(
                status(&dom, "data-check=\"inclusion\"").0,
                "verified",
                "the proof itself is intact"
            );
        }
        // The untampered receipt of another entry still verifies.
        let dom = load(format!("{proxy}/#/entry/2")).await;
        assert_eq!(status(&dom, "id=\"verdict\"").0, "verified", "{check}");
    }

    // A credential's state (issue 14.5), verified in the browser: the
    // commitment's inclusion, the map proof, the signature.
    let fp = crate::common::fingerprint_of("svc-explorer-b");
    let dom = load(format!("{}/#/credential/{fp}", s.url)).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}\n{dom}");
    assert!(
        text.contains(&format!("{fp} is active as committed at entry 9")),
        "{text}"
    );
    for check in ["commitment", "inclusion", "map", "signature"] {
        assert_eq!(
            status(&dom, &format!("data-check=\"{check}\"")).0,
            "verified",
            "{check}"
        );
    }
    assert!(dom.contains("gcp/service_account/svc-explorer-b"), "the owner is shown");
    let unknown = format!("sha256:{}", "0".repeat(64));
    let dom = load(format!("{}/#/credential/{unknown}", s.url)).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("is unknown"), "{text}");
    assert!(dom.contains("absent from the committed map"), "{dom}");
    // A mirror that shows a revoked credential as active (or the reverse)
    // fails the map proof.
    let path = format!("/v1/credentials/{fp}");
    let proxy = tamper_proxy(s.url.clone(), path, |b| {
        let t = String::from_utf8(b.clone())
            .expect("utf8")
            .replace("\"active\"", "\"revoked\"");
        *b = t.into_bytes();
    })
    .await;
    let dom = load(format!("{proxy}/#/credential/{fp}")).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "failed", "{text}");
    assert_eq!(status(&dom, "data-check=\"map\"").0, "failed", "{text}");

    // A SCITT statement (issue 18): its protected header and its receipt.
    let claims = provlog_proto::statement::StatementClaims {
        content_type: provlog_proto::statement::EVENT_CONTENT_TYPE.into(),
        issuer: "dev".into(),
        subject: Some("svc-explorer-st".into()),
        audience: Some(s.vkey.name().into()),
        issued_at: Some(1_796_378_400),
    };
    let payload = provlog_proto::json::canonical(&event("explorer-st", "svc-explorer-st")).expect("jcs");
    let signed = provlog_proto::statement::sign(&payload, &claims, &key).expect("sign");
    let (st, _, index, _) = crate::common::register(&c, &s.url, "application/cose", signed).await;
    assert_eq!(st, 201);
    let index = index.expect("Location");
    let dom = load(format!("{}/#/entry/{index}", s.url)).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}\n{dom}");
    assert_eq!(status(&dom, "data-check=\"cose-receipt\"").0, "verified");
    let at = dom
        .find("id=\"statement-headers\"")
        .unwrap_or_else(|| panic!("no statement headers:\n{dom}"));
    let headers = &dom[at..at + dom[at..].find("</dl>").expect("end of list")];
    let kid = provlog_tlog::hex::encode(key.key_id().to_be_bytes());
    for want in [
        "EdDSA (-8)",
        kid.as_str(),
        "application/json",
        ">dev<",
        "svc-explorer-st",
        "localhost/provlog",
        "2026-12-04T",
    ] {
        assert!(headers.contains(want), "{want} not in {headers}");
    }
    assert!(dom.contains(">statement<"), "the kind is shown");
    let dom = load(format!("{}/", s.url)).await;
    assert!(
        dom.contains(">svc-explorer-st</a>"),
        "a statement's target is listed:\n{dom}"
    );
}

/// `#/…` with `k=v` parameters, each percent-encoded.
fn hash_url(base: &str, route: &str, params: &[(&str, &str)]) -> String {
    let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", urlencoding(v))).collect();
    if q.is_empty() {
        format!("{base}/#{route}")
    } else {
        format!("{base}/#{route}?{}", q.join("&"))
    }
}

fn urlencoding(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Base64url without padding: a receipt in a link.
fn b64url(bytes: &[u8]) -> String {
    b64::encode(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// One bit of witness w1.example's cosignature line in a signed note
/// (past its key hash and timestamp).
fn tamper_cosignature(body: &mut Vec<u8>) {
    let note = String::from_utf8(body.clone()).expect("note");
    let (text, sigs) = note.split_once("\n\n").expect("signed note");
    let mut lines: Vec<String> = sigs.lines().map(str::to_owned).collect();
    let last = lines
        .iter_mut()
        .find(|l| l.starts_with("\u{2014} w1.example "))
        .expect("w1.example's line");
    let (name, sig) = last.rsplit_once(' ').expect("signature line");
    let mut sig = Value::String(sig.to_owned());
    flip_b64(&mut sig, 4 + 8 + 10);
    *last = format!("{name} {}", sig.as_str().expect("string"));
    *body = format!("{text}\n\n{}\n", lines.join("\n")).into_bytes();
}

/// Pinned keys (issue 20 §2): the log key and witness keys given in the
/// link are used instead of the server's; a wrong log key fails every
/// check against a real log's checkpoints, the right one passes and the
/// page says which key it trusted; a real witness's cosignatures are
/// verified k of n, and a forged one, or a witness that did not cosign,
/// fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explorer_pins_the_log_key_and_verifies_witness_cosignatures() {
    use crate::common::{Killed, start_witness_on, wait_witnessed, write_key};
    use provlog_tlog::keys::{ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey};
    chromium();
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let log_key = SignerKey::from_seed("localhost/provlog", ALG_ED25519, [60; 32]).expect("k");
    write_key(&data.join("log.skey"), &log_key);
    let right = log_key.verifier().to_vkey_string();
    // Same name, another key: what a lying server (or a mirror) would publish.
    let wrong = SignerKey::from_seed("localhost/provlog", ALG_ED25519, [61; 32])
        .expect("k")
        .verifier()
        .to_vkey_string();
    let wk = SignerKey::from_seed("w1.example", ALG_COSIGNATURE_V1, [62; 32]).expect("k");
    let wv = wk.verifier().to_vkey_string();
    let stranger = SignerKey::from_seed("w2.example", ALG_COSIGNATURE_V1, [63; 32])
        .expect("k")
        .verifier()
        .to_vkey_string();
    let (wc, wu) = start_witness_on(&dir.path().join("w1"), &wk, &right, "127.0.0.1:0");
    let _guard = Killed(wc);
    let s = Server::start(
        &data,
        &["--witness", &format!("{wu}={wv}"), "--witness-interval-ms", "50"],
    );
    let key = s.dev_key();
    let c = client();
    for i in 0..3 {
        let body =
            serde_json::to_vec(&submission(&key, &event(&format!("pin-{i}"), &format!("svc-pin-{i}")))).expect("json");
        assert_eq!(post(&c, &s.url, "/v1/entries", body).await.0, 201);
    }
    let witnessed = wait_witnessed(&c, &s.url, "localhost/provlog\n8\n").await;
    assert!(witnessed.starts_with("localhost/provlog\n8\n"), "{witnessed:?}");

    // Unpinned: verified, and the page says it trusted the server's key.
    let dom = load(format!("{}/", s.url)).await;
    let (st, text) = status(&dom, "id=\"checkpoint-status\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("not pinned"), "{text}");
    // The server lists its witness: its cosignature is verified, labelled as the server's list.
    let (st, text) = status(&dom, "id=\"witness-status\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("1 of 1 witnesses (listed by the server"), "{text}");

    // The right key and witness, pinned in the link.
    let pinned = [("key", right.as_str()), ("witness", wv.as_str()), ("k", "1")];
    let dom = load(hash_url(&s.url, "/", &pinned)).await;
    let (st, text) = status(&dom, "id=\"checkpoint-status\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("pinned in the URL"), "{text}");
    let (st, text) = status(&dom, "id=\"witness-status\"");
    assert_eq!(st, "verified", "{text}");
    assert!(
        text.contains("1 of 1 witnesses (pinned in the URL) cosigned") && text.contains("w1.example+"),
        "{text}"
    );
    assert!(dom.contains(&right), "the trusted key is shown");

    // A wrong pinned key fails the checkpoint, an entry (receipt and COSE
    // receipt) and a credential answer.
    for url in [
        hash_url(&s.url, "/", &[("key", wrong.as_str())]),
        format!("{}/#key={}", s.url, urlencoding(&wrong)),
    ] {
        let dom = load(url).await;
        let (st, text) = status(&dom, "id=\"checkpoint-status\"");
        assert_eq!(st, "failed", "{text}");
        assert!(
            text.contains("no signature by the log key") && text.contains("pinned in the URL"),
            "{text}"
        );
    }
    let dom = load(hash_url(&s.url, "/entry/2", &[("key", wrong.as_str())])).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "failed", "{text}");
    assert_eq!(status(&dom, "data-check=\"signature\"").0, "failed");
    assert_eq!(status(&dom, "data-check=\"cose-receipt\"").0, "failed");
    assert_eq!(status(&dom, "data-check=\"inclusion\"").0, "verified");
    let dom = load(hash_url(&s.url, "/entry/2", &[("key", right.as_str())])).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("(pinned)"), "{text}");
    assert_eq!(status(&dom, "data-check=\"cose-receipt\"").0, "verified");
    // With a pinned witness, the entry's receipt is against the witnessed checkpoint.
    let dom = load(hash_url(&s.url, "/entry/2", &pinned)).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}");
    let (st, text) = status(&dom, "data-check=\"witnesses\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("1 of 1 witnesses (pinned in the URL)"), "{text}");
    let fp = crate::common::fingerprint_of("svc-pin-1");
    let dom = load(hash_url(
        &s.url,
        &format!("/credential/{fp}"),
        &[("key", wrong.as_str())],
    ))
    .await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "failed", "{text}");
    assert_eq!(status(&dom, "data-check=\"signature\"").0, "failed");
    let dom = load(hash_url(&s.url, &format!("/credential/{fp}"), &pinned)).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}");
    // The credential answer carries the witnessed checkpoint: cosigned.
    let (st, text) = status(&dom, "data-check=\"witnesses\"");
    assert_eq!(st, "verified", "{text}");

    // A witness that did not cosign, required: failed.
    let dom = load(hash_url(
        &s.url,
        "/",
        &[("key", right.as_str()), ("witness", stranger.as_str()), ("k", "1")],
    ))
    .await;
    let (st, text) = status(&dom, "id=\"witness-status\"");
    assert_eq!(st, "failed", "{text}");
    assert!(text.contains("0 of 1 witnesses"), "{text}");
    // Two of two required, one cosigned: failed.
    let dom = load(format!(
        "{}/#/?key={}&witness={}&witness={}&k=2",
        s.url,
        urlencoding(&right),
        urlencoding(&wv),
        urlencoding(&stranger)
    ))
    .await;
    let (st, text) = status(&dom, "id=\"witness-status\"");
    assert_eq!(st, "failed", "{text}");
    assert!(
        text.contains("1 of 2 witnesses") && text.contains("2 required"),
        "{text}"
    );
    // A forged cosignature: failed, though the log's signature verifies.
    let proxy = tamper_proxy(s.url.clone(), "/v1/checkpoint/witnessed".into(), tamper_cosignature).await;
    let dom = load(hash_url(&proxy, "/", &pinned)).await;
    assert_eq!(status(&dom, "id=\"checkpoint-status\"").0, "verified");
    let (st, text) = status(&dom, "id=\"witness-status\"");
    assert_eq!(st, "failed", "{text}");
    assert!(
        text.contains("cosignature of witness w1.example+") && text.contains("does not verify"),
        "{text}"
    );
    // The Trust page says what is trusted, and where the pin comes from.
    let dom = load(format!("{}/#/trust", s.url)).await;
    let (st, text) = status(&dom, "id=\"trust-status\"");
    assert_eq!(st, "unverified", "{text}");
    assert!(text.contains("not pinned"), "{text}");
    let dom = load(hash_url(&s.url, "/trust", &pinned)).await;
    let (st, text) = status(&dom, "id=\"trust-status\"");
    assert_eq!(st, "verified", "{text}");
    assert!(
        text.contains(&right) && text.contains("pinned in the URL") && text.contains("witnesses 1 of 1"),
        "{text}"
    );
    // A malformed pinned key is an error, not a fallback to the server's.
    let dom = load(hash_url(&s.url, "/", &[("key", "not-a-key")])).await;
    let (st, text) = status(&dom, "id=\"checkpoint-status\"");
    assert_eq!(st, "failed", "{text}");
    assert!(text.contains("pinned log key is malformed"), "{text}");
}

/// The origin of the log in the outcome test.
const ORIGIN: &str = "outcome.example/log";

/// Every event shows its outcome and decision (issue 20 §2): a denied or
/// failed event never reads as a success, in the list, the entry page and
/// its verdict; the log's Cedar decision and the signed approvals are shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explorer_shows_outcomes_decisions_and_approvals() {
    use provlog_tlog::keys::{ALG_ED25519, SignerKey};
    use serde_json::json;
    chromium();
    let dir = tempfile::tempdir().expect("tmp");
    let ci = SignerKey::from_seed("ci", ALG_ED25519, [70; 32]).expect("k");
    let alice = SignerKey::from_seed("alice", ALG_ED25519, [71; 32]).expect("k");
    std::fs::write(
        dir.path().join("policies.cedar"),
        "@id(\"within-scope\")\npermit (principal, action, resource);\n\n@id(\"freeze\")\nforbid (principal, action, resource)\nwhen { resource.id like \"svc-frozen-*\" };\n",
    )
    .expect("policies");
    let cfg = dir.path().join("provlog.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[submitters]]\nid = \"ci\"\nkey = \"{}\"\nactions = [\"*\"]\ntargets = [\"*\"]\n\n[[approvers]]\nid = \"alice\"\nkey = \"{}\"\nactions = [\"*\"]\ntargets = [\"*\"]\ngroups = [\"oncall\"]\n\n[cedar]\npolicies_file = \"policies.cedar\"\n",
            ci.verifier().to_vkey_string(),
            alice.verifier().to_vkey_string()
        ),
    )
    .expect("config");
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().expect("p"), "--origin", ORIGIN],
    );
    let c = client();
    let ev = |id: &str, target: &str, decision: &str, outcome: &str| {
        json!({
            "event_id": id, "occurred_at": "2026-12-03T10:00:00Z", "action": "rotate",
            "actor": {"id": "wf/provision", "type": "workflow"},
            "target": {"id": target, "type": "service_account"},
            "authority": {}, "decision": {"result": decision}, "outcome": outcome,
            "credential": {"fingerprint": crate::common::fingerprint_of(target)},
        })
    };
    let submit = async |e: Value, approvals: Vec<Value>| {
        let mut sub = provlog_proto::submission::sign_for_log(&e, "ci", &ci, ORIGIN).expect("sign");
        if !approvals.is_empty() {
            sub["approvals"] = json!(approvals);
        }
        let (st, r) = post(&c, &s.url, "/v1/entries", serde_json::to_vec(&sub).expect("json")).await;
        assert_eq!(st, 201, "{r}");
        r["index"].as_u64().expect("index")
    };
    let approval = provlog_proto::approval::sign(
        &json!({
            "id": "CHG-7", "approver": "alice", "submitter": "ci", "actions": ["rotate"], "target": "svc-ok",
            "not_before": crate::common::now_plus(-600_000), "not_after": crate::common::now_plus(3_000_000),
        }),
        &alice,
        ORIGIN,
    )
    .expect("approval");
    let ok = submit(ev("o-1", "svc-ok", "allow", "success"), vec![approval]).await;
    let failed = submit(ev("o-2", "svc-broken", "allow", "failure"), vec![]).await;
    // A denial the policies agree with is logged, as a denial.
    let denied = submit(ev("o-3", "svc-frozen-1", "deny", "failure"), vec![]).await;

    let dom = load(format!("{}/", s.url)).await;
    let row = |i: u64| -> String {
        let at = dom
            .find(&format!("data-index=\"{i}\""))
            .unwrap_or_else(|| panic!("no row {i}:\n{dom}"));
        let start = dom[..at].rfind("<tr").expect("row start");
        dom[start..at + dom[at..].find("</tr>").expect("row end")].to_owned()
    };
    let r = row(ok);
    assert!(
        r.contains("\u{2713} success, decision allow, policy allow, 1 approval")
            && !r.contains("data-outcome=\"failure\""),
        "{r}"
    );
    let r = row(failed);
    assert!(
        r.contains("data-outcome=\"failure\"") && r.contains("\u{2717} failure, decision allow"),
        "{r}"
    );
    assert!(r.contains("bad-outcome"), "{r}");
    let r = row(denied);
    assert!(
        r.contains("data-decision=\"deny\"") && r.contains("\u{2717} failure, decision deny, policy deny"),
        "{r}"
    );

    // The entry page: the banner, the rows, and the verdict's wording.
    let dom = load(format!("{}/#/entry/{denied}", s.url)).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}");
    assert!(
        text.contains("it records a failure: outcome failure, decision deny"),
        "{text}"
    );
    let (tag, text) = element(&dom, "id=\"outcome\"").expect("outcome banner");
    assert!(tag.contains("data-outcome=\"failure\""), "{tag}");
    assert!(
        text.contains("did not take effect") && text.contains("not that it succeeded"),
        "{text}"
    );
    let (_, text) = element(&dom, "id=\"policy-decision\"").expect("policy decision");
    assert!(text.starts_with("deny by [") && text.contains("freeze"), "{text}");
    let dom = load(format!("{}/#/entry/{failed}", s.url)).await;
    let (_, text) = status(&dom, "id=\"verdict\"");
    assert!(
        text.contains("it records a failure: outcome failure, decision allow"),
        "{text}"
    );
    assert_eq!(element(&dom, "id=\"event-outcome\"").expect("outcome").1, "failure");
    let dom = load(format!("{}/#/entry/{ok}", s.url)).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("it records a success"), "{text}");
    let (tag, _) = element(&dom, "id=\"outcome\"").expect("outcome banner");
    assert!(tag.contains("data-outcome=\"success\""), "{tag}");
    assert_eq!(
        element(&dom, "id=\"event-approvals\"").expect("approvals").1,
        "CHG-7 by alice"
    );
}

/// Paste or drop a receipt (issue 20 §2), here given in the link as the
/// page's paste box would: a JSON receipt, a COSE receipt and a
/// transparent statement verify in the browser, a changed byte or a wrong
/// pinned key fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explorer_verifies_a_pasted_receipt() {
    use provlog_tlog::keys::{ALG_ED25519, SignerKey};
    chromium();
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.dev_key();
    let c = client();
    for i in 0..2 {
        let body = serde_json::to_vec(&submission(
            &key,
            &event(&format!("paste-{i}"), &format!("svc-paste-{i}")),
        ))
        .expect("json");
        assert_eq!(post(&c, &s.url, "/v1/entries", body).await.0, 201);
    }
    let wrong = SignerKey::from_seed(s.vkey.name(), ALG_ED25519, [80; 32])
        .expect("k")
        .verifier()
        .to_vkey_string();
    let verify = |bytes: &[u8], extra: &[(&str, &str)]| {
        let r = b64url(bytes);
        let mut p: Vec<(&str, &str)> = vec![("receipt", r.as_str())];
        p.extend_from_slice(extra);
        hash_url(&s.url, "/verify", &p)
    };
    let (st, json_receipt) = crate::common::get(&c, &s.url, "/v1/entries/4/receipt").await;
    assert_eq!(st, 200);
    let dom = load(verify(&json_receipt, &[])).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}\n{dom}");
    assert!(
        text.contains("(JSON receipt): entry 4 is included in localhost/provlog at size 6"),
        "{text}"
    );
    assert!(dom.contains("id=\"receipt-input\""), "the paste box is there");
    assert!(dom.contains("svc-paste-1"), "the entry is shown");
    for (tamper, check) in [
        (tamper_entry as Tamper, "leaf"),
        (tamper_proof, "inclusion"),
        (tamper_signature, "signature"),
    ] {
        let mut b = json_receipt.clone();
        tamper(&mut b);
        let dom = load(verify(&b, &[])).await;
        let (st, text) = status(&dom, "id=\"verdict\"");
        assert_eq!(st, "failed", "{check}: {text}");
        assert_eq!(status(&dom, &format!("data-check=\"{check}\"")).0, "failed", "{check}");
    }
    let dom = load(verify(&json_receipt, &[("key", wrong.as_str())])).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "failed", "{text}");
    assert!(text.contains("no signature by the log key"), "{text}");
    let right = s.vkey.to_vkey_string();
    let dom = load(verify(&json_receipt, &[("key", right.as_str())])).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}");
    assert!(text.contains("(pinned)"), "{text}");

    // A COSE receipt (GET /entries/4), binary.
    let (st, cose) = crate::common::get(&c, &s.url, "/entries/4").await;
    assert_eq!(st, 200);
    let dom = load(verify(&cose, &[])).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}\n{dom}");
    assert!(
        text.contains("(COSE receipt): entry 4 is included in the tree of size 6"),
        "{text}"
    );
    assert_eq!(status(&dom, "data-check=\"cose-receipt\"").0, "verified");
    let mut bad = cose.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let dom = load(verify(&bad, &[])).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "failed", "{text}");
    assert!(text.contains("signature does not verify"), "{text}");
    let dom = load(verify(&cose, &[("key", wrong.as_str())])).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "failed", "{text}");
    assert!(text.contains("kid is not the trusted log key"), "{text}");

    // A transparent statement: the statement with its receipt.
    let claims = provlog_proto::statement::StatementClaims {
        content_type: provlog_proto::statement::EVENT_CONTENT_TYPE.into(),
        issuer: "dev".into(),
        subject: Some("svc-paste-st".into()),
        audience: Some(s.vkey.name().into()),
        issued_at: Some(1_796_378_400),
    };
    let payload = provlog_proto::json::canonical(&event("paste-st", "svc-paste-st")).expect("jcs");
    let signed = provlog_proto::statement::sign(&payload, &claims, &key).expect("sign");
    let r = c
        .post(format!("{}/entries", s.url))
        .header("content-type", "application/cose")
        .body(signed.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let receipt = r.bytes().await.expect("receipt").to_vec();
    let ts = provlog_proto::statement::SignedStatement::parse(&signed)
        .expect("statement")
        .transparent(&[receipt])
        .expect("transparent");
    let dom = load(verify(&ts, &[])).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "verified", "{text}\n{dom}");
    assert!(text.contains("(transparent statement)"), "{text}");
    assert!(dom.contains("svc-paste-st"), "the event is shown");
    // The statement changed after logging: the rebuilt leaf is not in the log.
    let mut bad = ts.clone();
    let at = bad
        .windows(12)
        .position(|w| w == b"svc-paste-st")
        .expect("payload in the statement");
    bad[at + 4] ^= 1;
    let dom = load(verify(&bad, &[])).await;
    let (st, text) = status(&dom, "id=\"verdict\"");
    assert_eq!(st, "failed", "{text}");
    assert_eq!(status(&dom, "data-check=\"cose-receipt\"").0, "failed");
    // Not a receipt at all.
    let dom = load(verify(b"hello", &[])).await;
    assert_eq!(status(&dom, "id=\"verdict\"").0, "failed");
}

/// History, filters and search (issue 20 §2): paging back from the home
/// page, the action filter (the server's), a target prefix and a time
/// range (applied in the browser, and labelled so), the origin on every
/// page, no "next" past the last entry, fingerprints that tell apart, and
/// the credential's verified state on its search page (failing under a
/// mirror that changes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explorer_pages_history_filters_and_shows_credential_state() {
    chromium();
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.dev_key();
    let c = client();
    let xss = "svc-pre-<img src=x onerror=alert(1)>";
    let targets = ["svc-pre-a", "svc-pre-b", "svc-other", xss, "svc-pre-c", "db-main"];
    let mut at = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let mut e = event(&format!("h-{i}"), t);
        if i == 2 {
            e["action"] = "x-audit".into();
        }
        let body = serde_json::to_vec(&submission(&key, &e)).expect("json");
        let (st, r) = post(&c, &s.url, "/v1/entries", body).await;
        assert_eq!(st, 201, "{r}");
        at.push(r["index"].as_u64().expect("index"));
    }
    let row = |i: u64| format!("data-index=\"{i}\"");
    // More history than one page of the home page (20 entries).
    for i in 0..6 {
        let body = serde_json::to_vec(&submission(
            &key,
            &event(&format!("more-{i}"), &format!("svc-more-{i}")),
        ))
        .expect("json");
        assert_eq!(post(&c, &s.url, "/v1/entries", body).await.0, 201);
    }
    let size = s.tree_size().await;
    assert!(size > 20, "{size}");

    let dom = load(format!("{}/", s.url)).await;
    let (tag, _) = element(&dom, "id=\"older-page\"").unwrap_or_else(|| panic!("no older page:\n{dom}"));
    assert!(tag.contains(&format!("href=\"#/?before={}\"", size - 20)), "{tag}");
    assert!(!dom.contains("id=\"newer-page\""), "the newest page has no newer");
    assert!(!dom.contains("data-index=\"0\""), "entry 0 is on an older page");
    let dom = load(format!("{}/#/?before={}", s.url, size - 20)).await;
    assert!(dom.contains(&row(0)) && dom.contains(&row(size - 21)), "{dom}");
    assert!(!dom.contains(&row(size - 20)), "{dom}");
    assert!(dom.contains("id=\"newer-page\" href=\"#/\""), "{dom}");
    assert!(!dom.contains("id=\"older-page\""), "{dom}");
    assert_eq!(status(&dom, "id=\"checkpoint-status\"").0, "verified");

    // Fingerprints: the start and the end of the hash, distinct per credential.
    let (fa, fb) = (
        crate::common::fingerprint_of("svc-pre-a"),
        crate::common::fingerprint_of("svc-pre-b"),
    );
    let label = |fp: &str| format!(">sha256:{}\u{2026}{}</a>", &fp[7..15], &fp[fp.len() - 8..]);
    assert!(dom.contains(&label(&fa)) && dom.contains(&label(&fb)), "{dom}");
    assert_ne!(label(&fa), label(&fb));

    // The action filter is the server's.
    let dom = load(format!("{}/#/search?action=x-audit", s.url)).await;
    assert!(dom.contains(&row(at[2])), "{dom}");
    assert!(
        !dom.contains(&row(at[0])) && !dom.contains("id=\"local-filter\""),
        "{dom}"
    );
    assert_eq!(
        element(&dom, "id=\"origin\"").expect("origin").1,
        "localhost/provlog",
        "the origin on the search page"
    );

    // A target prefix, in the browser, labelled; a target is still text.
    let dom = load(format!("{}/#/search?target=svc-pre-*", s.url)).await;
    let (_, note) = element(&dom, "id=\"local-filter\"").unwrap_or_else(|| panic!("no label:\n{dom}"));
    assert!(
        note.contains("Filtered in this browser, not by the server") && note.contains("prefix"),
        "{note}"
    );
    for i in [0, 1, 3, 4] {
        assert!(dom.contains(&row(at[i])), "{i}:\n{dom}");
    }
    assert!(!dom.contains(&row(at[2])) && !dom.contains(&row(at[5])), "{dom}");
    assert!(dom.contains(">svc-pre-&lt;img src=x onerror=alert(1)&gt;</a>"), "{dom}");
    assert!(!dom.contains("<img src=\"x\""), "{dom}");
    // A time range, by the server: nothing in 2000, everything since; the
    // page scans nothing itself for it.
    let dom = load(format!("{}/#/search?from=2000-01-01&to=2000-12-31", s.url)).await;
    assert!(
        !dom.contains("id=\"local-filter\"") && dom.contains("No entries."),
        "{dom}"
    );
    let dom = load(format!("{}/#/search?target=svc-pre-*&from=2000-01-01", s.url)).await;
    assert!(
        dom.contains(&row(at[0])) && dom.contains("id=\"local-filter\""),
        "{dom}"
    );
    let dom = load(format!(
        "{}/#/search?occurred_from=2000-01-01&occurred_to=2000-12-31",
        s.url
    ))
    .await;
    assert!(dom.contains("No entries."), "{dom}");
    let dom = load(format!("{}/#/search?occurred_from=2000-01-01", s.url)).await;
    assert!(
        dom.contains(&row(at[0])) && !dom.contains("id=\"local-filter\""),
        "{dom}"
    );
    let dom = load(format!("{}/#/search?from=yesterday", s.url)).await;
    let (st, text) = status(&dom, "id=\"search-status\"");
    assert_eq!(st, "failed");
    assert!(text.contains("from is not a date"), "{text}");

    // No "next" past the last entry.
    let dom = load(format!("{}/#/entry/{}", s.url, size - 1)).await;
    assert_eq!(status(&dom, "id=\"verdict\"").0, "verified");
    assert!(
        !dom.contains("id=\"next-entry\"") && dom.contains("id=\"prev-entry\""),
        "{dom}"
    );
    let dom = load(format!("{}/#/entry/2", s.url)).await;
    assert!(
        dom.contains("id=\"next-entry\" href=\"#/entry/3\"") || dom.contains("href=\"#/entry/3\" id=\"next-entry\""),
        "{dom}"
    );

    // The credential's state on its search page, verified here.
    let dom = load(format!("{}/#/search?credential={fb}", s.url)).await;
    let (st, text) = status(&dom, "id=\"credential-verdict\"");
    assert_eq!(st, "verified", "{text}\n{dom}");
    assert!(
        text.starts_with("active as of a commitment ") && text.contains(" s old") && text.contains("verified"),
        "{text}"
    );
    assert!(dom.contains(&row(at[1])), "and its events:\n{dom}");
    let proxy = tamper_proxy(s.url.clone(), format!("/v1/credentials/{fb}"), |b| {
        let t = String::from_utf8(b.clone())
            .expect("utf8")
            .replace("\"active\"", "\"revoked\"");
        *b = t.into_bytes();
    })
    .await;
    let dom = load(format!("{proxy}/#/search?credential={fb}")).await;
    let (st, text) = status(&dom, "id=\"credential-verdict\"");
    assert_eq!(st, "failed", "{text}");
    assert!(text.contains("map proof"), "{text}");
}
