//! Every malformed or unauthorized request gets the 4xx and JSON error of
//! DESIGN.md, and changes nothing: the tree size and root stay the same.

use crate::common::{self, Server, checkpoint, client, event, raw, submission};
use provlog_tlog::b64;
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn case(name: &'static str, method: &'static str, path: &str, body: Vec<u8>, status: u16, code: &'static str) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        body,
        status,
        code,
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let ci = SignerKey::from_seed("ci", ALG_ED25519, [11; 32]).expect("key");
    let stranger = SignerKey::from_seed("stranger", ALG_ED25519, [12; 32]).expect("key");
    let impostor = SignerKey::from_seed("ci", ALG_ED25519, [13; 32]).expect("key");
    let config = dir.path().join("provlog.toml");
    std::fs::write(
        &config,
        format!(
            "origin = \"test.example/log\"\n[[submitters]]\nid = \"ci\"\nkey = \"{}\"\nactions = [\"rotate\", \"issue\"]\ntargets = [\"svc-*\"]\n",
            ci.verifier().to_vkey_string()
        ),
    )
    .expect("config");
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().expect("utf8"), "--max-body-bytes", "200000"],
    );
    let c = client();

    // One good entry so that index/size edge cases have something to hit.
    let good = submission(&ci, &event("evt-good", "svc-a"));
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .json(&good)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    // The policy, the first state commitment, the event, its commitment.
    let (before, _) = checkpoint(&c, &s).await;
    assert_eq!(before.size, 4);

    let sub = |f: &dyn Fn(&mut Value)| {
        let mut v = submission(&ci, &event("evt-x", "svc-a"));
        f(&mut v);
        json_bytes(&v)
    };
    let unsigned_event = |f: &dyn Fn(&mut Value)| {
        let mut e = event("evt-y", "svc-a");
        f(&mut e);
        json_bytes(&common::raw_submission(&ci, &e))
    };
    let big = {
        let mut e = event("evt-big", "svc-a");
        e["details"] = json!({"blob": "x".repeat(66_000)});
        // Signed correctly; refused for its size alone.
        let v = json!({"event": e, "submitter": "ci", "signature": b64::encode([0u8; 64])});
        json_bytes(&v)
    };
    let mut huge = b"{\"event\":\"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 300_000));
    huge.extend_from_slice(b"\"}");
    let good_bytes = json_bytes(&good);

    let cases = vec![
        case(
            "invalid json",
            "POST",
            "/v1/entries",
            b"{not json".to_vec(),
            400,
            "malformed_json",
        ),
        case("empty body", "POST", "/v1/entries", Vec::new(), 400, "malformed_json"),
        case(
            "truncated",
            "POST",
            "/v1/entries",
            good_bytes[..good_bytes.len() / 2].to_vec(),
            400,
            "malformed_json",
        ),
        case(
            "not utf-8",
            "POST",
            "/v1/entries",
            b"{\"event\":\"\xff\xfe\"}".to_vec(),
            400,
            "malformed_json",
        ),
        case(
            "trailing data",
            "POST",
            "/v1/entries",
            [good_bytes.clone(), b"{}".to_vec()].concat(),
            400,
            "malformed_json",
        ),
        case(
            "duplicate member",
            "POST",
            "/v1/entries",
            br#"{"submitter":"ci","submitter":"ci"}"#.to_vec(),
            400,
            "malformed_json",
        ),
        case(
            "array",
            "POST",
            "/v1/entries",
            b"[]".to_vec(),
            400,
            "invalid_submission",
        ),
        case(
            "missing signature",
            "POST",
            "/v1/entries",
            sub(&|v| {
                v.as_object_mut().expect("o").remove("signature");
            }),
            400,
            "invalid_submission",
        ),
        case(
            "unknown submission field",
            "POST",
            "/v1/entries",
            sub(&|v| v["x"] = json!(1)),
            400,
            "invalid_submission",
        ),
        case(
            "submitter wrong type",
            "POST",
            "/v1/entries",
            sub(&|v| v["submitter"] = json!(5)),
            400,
            "invalid_submission",
        ),
        case(
            "missing event field",
            "POST",
            "/v1/entries",
            unsigned_event(&|e| {
                e.as_object_mut().expect("o").remove("actor");
            }),
            400,
            "invalid_event",
        ),
        case(
            "unknown event field",
            "POST",
            "/v1/entries",
            unsigned_event(&|e| e["color"] = json!("red")),
            400,
            "invalid_event",
        ),
        case(
            "event wrong type",
            "POST",
            "/v1/entries",
            unsigned_event(&|e| e["outcome"] = json!(1)),
            400,
            "invalid_event",
        ),
        case(
            "bad event_id",
            "POST",
            "/v1/entries",
            unsigned_event(&|e| e["event_id"] = json!("with space")),
            400,
            "invalid_event",
        ),
        case(
            "bad action",
            "POST",
            "/v1/entries",
            unsigned_event(&|e| e["action"] = json!("delete")),
            400,
            "invalid_event",
        ),
        case(
            "bad fingerprint",
            "POST",
            "/v1/entries",
            unsigned_event(&|e| e["credential"]["fingerprint"] = json!("md5:00")),
            400,
            "invalid_event",
        ),
        case(
            "bad time",
            "POST",
            "/v1/entries",
            unsigned_event(&|e| e["occurred_at"] = json!("noon")),
            400,
            "invalid_event",
        ),
        case(
            "bad base64",
            "POST",
            "/v1/entries",
            sub(&|v| v["signature"] = json!("!!!")),
            400,
            "invalid_signature_encoding",
        ),
        case(
            "short signature",
            "POST",
            "/v1/entries",
            sub(&|v| v["signature"] = json!(b64::encode([1u8; 32]))),
            400,
            "invalid_signature_encoding",
        ),
        case("entry too large", "POST", "/v1/entries", big, 400, "entry_too_large"),
        case("body over limit", "POST", "/v1/entries", huge, 413, "body_too_large"),
        case(
            "bad signature",
            "POST",
            "/v1/entries",
            sub(&|v| v["signature"] = json!(b64::encode([7u8; 64]))),
            401,
            "bad_signature",
        ),
        case(
            "signed by another key",
            "POST",
            "/v1/entries",
            json_bytes(&submission(&impostor, &event("evt-i", "svc-a"))),
            401,
            "bad_signature",
        ),
        case(
            "unknown submitter",
            "POST",
            "/v1/entries",
            json_bytes(&submission(&stranger, &event("evt-s", "svc-a"))),
            401,
            "unknown_submitter",
        ),
        case(
            "action out of scope",
            "POST",
            "/v1/entries",
            json_bytes(&submission(&ci, &{
                let mut e = event("evt-r", "svc-a");
                e["action"] = json!("revoke");
                e
            })),
            403,
            "out_of_scope",
        ),
        case(
            "target out of scope",
            "POST",
            "/v1/entries",
            json_bytes(&submission(&ci, &event("evt-t", "db-main"))),
            403,
            "out_of_scope",
        ),
        case(
            "entry index too big",
            "GET",
            "/v1/entries/4",
            Vec::new(),
            404,
            "not_found",
        ),
        case(
            "entry index huge",
            "GET",
            "/v1/entries/99999999999999999999999",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "entry index not numeric",
            "GET",
            "/v1/entries/abc",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "entry index negative",
            "GET",
            "/v1/entries/-1",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "receipt index too big",
            "GET",
            "/v1/entries/7/receipt",
            Vec::new(),
            404,
            "not_found",
        ),
        case(
            "inclusion index >= tree_size",
            "GET",
            "/v1/proofs/inclusion?index=1&tree_size=1",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "inclusion tree_size beyond",
            "GET",
            "/v1/proofs/inclusion?index=0&tree_size=5",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "inclusion tree_size 0",
            "GET",
            "/v1/proofs/inclusion?index=0&tree_size=0",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "inclusion both",
            "GET",
            "/v1/proofs/inclusion?index=0&leaf_hash=00",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "inclusion neither",
            "GET",
            "/v1/proofs/inclusion",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "inclusion bad hex",
            "GET",
            &format!("/v1/proofs/inclusion?leaf_hash={}", "G".repeat(64)),
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "inclusion unknown hash",
            "GET",
            &format!("/v1/proofs/inclusion?leaf_hash={}", "0".repeat(64)),
            Vec::new(),
            404,
            "not_found",
        ),
        case(
            "inclusion not numeric",
            "GET",
            "/v1/proofs/inclusion?index=one",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "inclusion unknown param",
            "GET",
            "/v1/proofs/inclusion?index=0&foo=1",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "inclusion repeated param",
            "GET",
            "/v1/proofs/inclusion?index=0&index=1",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "consistency from > to",
            "GET",
            "/v1/proofs/consistency?from=2&to=1",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "consistency from 0",
            "GET",
            "/v1/proofs/consistency?from=0&to=1",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "consistency to beyond",
            "GET",
            "/v1/proofs/consistency?from=1&to=5",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "consistency missing from",
            "GET",
            "/v1/proofs/consistency?to=2",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "consistency not numeric",
            "GET",
            "/v1/proofs/consistency?from=1&to=2x",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "tile bad level",
            "GET",
            "/tile/064/000",
            Vec::new(),
            400,
            "invalid_tile_path",
        ),
        case(
            "tile bad group",
            "GET",
            "/tile/0/00",
            Vec::new(),
            400,
            "invalid_tile_path",
        ),
        case(
            "tile p/256",
            "GET",
            "/tile/0/000.p/256",
            Vec::new(),
            400,
            "invalid_tile_path",
        ),
        case(
            "tile p/0",
            "GET",
            "/tile/0/000.p/0",
            Vec::new(),
            400,
            "invalid_tile_path",
        ),
        case(
            "tile x on last",
            "GET",
            "/tile/0/x000",
            Vec::new(),
            400,
            "invalid_tile_path",
        ),
        case(
            "tile junk",
            "GET",
            "/tile/abc/%2e%2e/x",
            Vec::new(),
            400,
            "invalid_tile_path",
        ),
        case("tile not yet", "GET", "/tile/0/001", Vec::new(), 404, "not_found"),
        case("full tile not yet", "GET", "/tile/0/000", Vec::new(), 404, "not_found"),
        case(
            "bundle not yet",
            "GET",
            "/tile/entries/000.p/5",
            Vec::new(),
            404,
            "not_found",
        ),
        case(
            "huge number",
            "POST",
            "/v1/entries",
            String::from_utf8(unsigned_event(&|e| e["details"] = json!({"n": 1})))
                .expect("utf8")
                .replace("\"n\":1", "\"n\":1e400")
                .into_bytes(),
            400,
            "malformed_json",
        ),
        case(
            "deep nesting",
            "POST",
            "/v1/entries",
            format!("{{\"event\":{}{}}}", "[".repeat(200), "]".repeat(200)).into_bytes(),
            400,
            "malformed_json",
        ),
        case(
            "batch not json",
            "POST",
            "/v1/entries/batch",
            b"{\"submissions\":[".to_vec(),
            400,
            "malformed_json",
        ),
        case(
            "batch duplicate key",
            "POST",
            "/v1/entries/batch",
            br#"{"submissions":[],"submissions":[]}"#.to_vec(),
            400,
            "malformed_json",
        ),
        case(
            "batch not an object",
            "POST",
            "/v1/entries/batch",
            b"[1,2]".to_vec(),
            400,
            "invalid_batch",
        ),
        case(
            "events bad limit",
            "GET",
            "/v1/events?limit=18446744073709551616",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "events bad after",
            "GET",
            "/v1/events?after=1.5",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "credential traversal",
            "GET",
            "/v1/credentials/..%2F..%2Fetc",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "credential bad",
            "GET",
            "/v1/credentials/sha256:00",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case(
            "reload without token",
            "POST",
            "/v1/admin/reload",
            Vec::new(),
            403,
            "admin_disabled",
        ),
        case(
            "freeze without token",
            "POST",
            "/v1/admin/freeze",
            Vec::new(),
            403,
            "admin_disabled",
        ),
        case(
            "receipt not numeric",
            "GET",
            "/v1/entries/0x1/receipt",
            Vec::new(),
            400,
            "invalid_parameter",
        ),
        case("unknown path", "GET", "/v2/entries", Vec::new(), 404, "not_found"),
        case(
            "wrong method",
            "DELETE",
            "/v1/entries",
            Vec::new(),
            405,
            "method_not_allowed",
        ),
        case(
            "get on post route",
            "PUT",
            "/checkpoint",
            Vec::new(),
            405,
            "method_not_allowed",
        ),
    ];
    for k in &cases {
        let req = c
            .request(k.method.parse().expect("method"), format!("{}{}", s.url, k.path))
            .header("content-type", "application/json")
            .body(k.body.clone());
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        // Only an answer given before the body was read closes the
        // connection (see `an_unread_body_closes_the_connection_and_says_so`).
        let closes = r.headers().get("connection").is_some_and(|v| v == "close");
        assert!(
            !closes || k.status == 413,
            "{}: closed a connection whose body was read",
            k.name
        );
        let body: Value = serde_json::from_slice(&r.bytes().await.expect("body")).unwrap_or(Value::Null);
        assert_eq!(status, k.status, "{}: {body}", k.name);
        assert_eq!(ctype.as_deref(), Some("application/json"), "{}", k.name);
        assert_eq!(body["error"]["code"], k.code, "{}: {body}", k.name);
        assert!(
            body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}: {body}",
            k.name
        );
        let (now, _) = checkpoint(&c, &s).await;
        assert_eq!(
            (now.size, now.root),
            (before.size, before.root),
            "{} changed the tree",
            k.name
        );
    }
    // The scope error names the rule it broke.
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .json(&submission(&ci, &event("evt-t2", "db-main")))
        .send()
        .await
        .expect("post");
    let v: Value = r.json().await.expect("json");
    assert!(v["error"]["message"].as_str().expect("msg").contains("targets"), "{v}");
    assert_eq!(checkpoint(&c, &s).await.0.size, 4);
}

/// A body declared far over the limit is refused at once: a 413 that says
/// `Connection: close`, and the server closes (a client that had already
/// sent its body would otherwise pool the connection and lose its next
/// request to the close). The body is declared but never sent, so the
/// server cannot have waited for it. A body a little over the limit is read
/// and thrown away, so the client gets its 413 and keeps the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_body_closes_the_connection_and_says_so() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &["--max-body-bytes", "1000"]);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let post = |path: &str, len: usize| {
        format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n")
    };
    for (path, len) in [("/v1/entries", 50_000_000), ("/v1/entries/batch", 500_000_000)] {
        let mut sock = raw(&addr);
        sock.write_all(format!("{}{{\"a\":", post(path, len)).as_bytes())
            .expect("write");
        let mut answer = Vec::new();
        sock.read_to_end(&mut answer).expect("the server closes the connection");
        let text = String::from_utf8_lossy(&answer).to_lowercase();
        assert!(text.starts_with("http/1.1 413"), "{path}: {text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{path}: {text}");
        assert!(text.contains("body_too_large"), "{path}: {text}");
    }
    // A little over the limit: the whole body is sent, drained, answered,
    // and the same connection serves the next (pipelined) request.
    let mut sock = raw(&addr);
    let mut req = post("/v1/entries", 100_000).into_bytes();
    req.extend(std::iter::repeat_n(b' ', 100_000));
    req.extend_from_slice(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    sock.write_all(&req).expect("write");
    let mut answer = Vec::new();
    sock.read_to_end(&mut answer).expect("read");
    let text = String::from_utf8_lossy(&answer).to_lowercase();
    let (first, _) = text
        .split_once("http/1.1 200")
        .unwrap_or_else(|| panic!("no second answer: {text}"));
    assert!(first.starts_with("http/1.1 413"), "{text}");
    assert!(!first.contains("\r\nconnection: close\r\n"), "{text}");
    assert!(first.contains("body_too_large"), "{text}");

    // A request whose body is read keeps its connection.
    let c = client();
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("connection").is_none(), "{:?}", r.headers());
}
