//! The explorer page (`GET /`) in headless Chromium against the real
//! binary: the home page verifies the latest checkpoint and lists the
//! recent entries (escaped, never as markup), search shows matches and the
//! server's error messages, and the entry view verifies leaf hash,
//! inclusion proof and checkpoint signature in the browser. A proxy that
//! tampers with the receipt (proof, signature, entry) must turn the verdict
//! to `failed`.
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
    let r = c
        .post(format!("{}/entries", s.url))
        .header("content-type", "application/cose")
        .body(signed)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let index = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.strip_prefix("/entries/"))
        .and_then(|i| i.parse::<u64>().ok())
        .expect("Location");
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
