//! The `OpenAPI` document against the real server: every route the router
//! declares is documented (and nothing else is), every documented operation
//! is exercised here, and every real response has a documented status,
//! the documented content type, and (for JSON) a body that validates
//! against its schema.

use crate::common::{Server, client, event, submission};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const ADMIN_TOKEN: &str = "openapi-test-admin-token";

/// The router's source: the list of routes is read from it, so a route added
/// there without a `#[utoipa::path]` fails this test.
const ROUTER_SRC: &str = include_str!("../../src/api/mod.rs");

fn router_paths() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for chunk in ROUTER_SRC.split(".route(").skip(1) {
        let quoted = chunk
            .trim_start()
            .strip_prefix('"')
            .expect("a route starts with a quoted path");
        let path = quoted.split('"').next().expect("a quoted path");
        // axum's catch-all `{*path}` is OpenAPI's `{path}`.
        out.insert(path.replace("{*", "{"));
    }
    out
}

/// Does a concrete path match a documented template?
fn matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if template == "/tile/{path}" {
        return path.starts_with("/tile/") && path.len() > "/tile/".len();
    }
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(a, b)| (a.starts_with('{') && !b.is_empty()) || a == b)
}

struct Checker {
    doc: Value,
    seen: BTreeSet<(String, String)>,
    checked: usize,
}

impl Checker {
    fn template(&self, path: &str) -> String {
        let paths = self.doc["paths"].as_object().expect("paths");
        // Prefer an exact (literal) match over a templated one.
        if paths.contains_key(path) {
            return path.to_owned();
        }
        paths
            .keys()
            .find(|t| matches(t, path))
            .unwrap_or_else(|| panic!("{path} matches no documented path"))
            .clone()
    }

    /// Sends the request and checks the answer against the document.
    async fn check(&mut self, req: reqwest::RequestBuilder) -> (u16, Vec<u8>) {
        let req = req.build_split();
        let (c, req) = (req.0, req.1.expect("request"));
        let method = req.method().as_str().to_lowercase();
        let path = req.url().path().to_owned();
        let r = c.execute(req).await.expect("request");
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        let body = r.bytes().await.expect("body").to_vec();
        let t = self.template(&path);
        let op = &self.doc["paths"][&t][&method];
        assert!(op.is_object(), "{method} {t} is not documented");
        self.seen.insert((t.clone(), method.clone()));
        let resp = &op["responses"][status.to_string()];
        assert!(
            resp.is_object(),
            "{method} {path} answered {status}, which the document does not list for {t}: {}",
            String::from_utf8_lossy(&body)
        );
        let Some(content) = resp["content"].as_object() else {
            return (status, body);
        };
        let (doc_type, media) = content
            .iter()
            .find(|(k, _)| ctype.starts_with(k.split(';').next().expect("media type")))
            .unwrap_or_else(|| panic!("{method} {path} {status}: content type {ctype:?} is not one of {content:?}"));
        if doc_type.starts_with("application/json") {
            let value: Value = serde_json::from_slice(&body).expect("a JSON body");
            let schema = &media["schema"];
            assert!(schema.is_object(), "{method} {t} {status}: no schema");
            let root = json!({"components": self.doc["components"], "allOf": [schema]});
            let validator = jsonschema::validator_for(&root).expect("a valid schema");
            let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{method} {path} {status}: the body does not match the document: {errors:?}\n{value:#}"
            );
            self.checked += 1;
        }
        (status, body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_covers_every_route_and_real_responses_match_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start(dir.path(), &["--admin-token", ADMIN_TOKEN]);
    let c = client();
    let u = &s.url;
    let doc: Value = c
        .get(format!("{u}/v1/openapi.json"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");

    // Every route is documented, and every documented path is a route.
    let documented: BTreeSet<String> = doc["paths"].as_object().expect("paths").keys().cloned().collect();
    let routes = router_paths();
    assert!(routes.len() >= 19, "found only {routes:?} in the router source");
    assert_eq!(
        routes, documented,
        "router routes (left) and documented paths (right) differ"
    );

    let mut ck = Checker {
        doc: doc.clone(),
        seen: BTreeSet::new(),
        checked: 0,
    };
    let key = s.dev_key();
    let ev = |id: &str, target: &str| submission(&key, &event(id, target));

    // Writes: created, duplicate, conflict, bad JSON, bad signature, batch.
    let (st, _) = ck
        .check(c.post(format!("{u}/v1/entries")).json(&ev("e1", "svc-a")))
        .await;
    assert_eq!(st, 201);
    let (st, _) = ck
        .check(c.post(format!("{u}/v1/entries")).json(&ev("e1", "svc-a")))
        .await;
    assert_eq!(st, 200);
    let (st, _) = ck
        .check(c.post(format!("{u}/v1/entries")).json(&ev("e1", "svc-b")))
        .await;
    assert_eq!(st, 409);
    let (st, _) = ck.check(c.post(format!("{u}/v1/entries")).body("{not json")).await;
    assert_eq!(st, 400);
    let mut forged = ev("e2", "svc-a");
    forged["signature"] = json!(provlog_tlog::b64::encode([7u8; 64]));
    let (st, _) = ck.check(c.post(format!("{u}/v1/entries")).json(&forged)).await;
    assert_eq!(st, 401);
    let (st, _) = ck
        .check(c.post(format!("{u}/v1/entries")).body(vec![b' '; 2 << 20]))
        .await;
    assert_eq!(st, 413);
    let batch = json!({"submissions": [ev("b1", "svc-c"), ev("b2", "svc-d"), forged]});
    let (st, body) = ck.check(c.post(format!("{u}/v1/entries/batch")).json(&batch)).await;
    assert_eq!(st, 200);
    let results: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(results["results"][2]["status"], 401);
    let (st, _) = ck
        .check(
            c.post(format!("{u}/v1/entries/batch"))
                .json(&json!({"submissions": []})),
        )
        .await;
    assert_eq!(st, 400);

    // Reads.
    let fp = format!("sha256:{}", "ab".repeat(32));
    for path in [
        "/v1/entries/1".to_owned(),
        "/v1/entries/999".to_owned(),
        "/v1/entries/x".to_owned(),
        "/v1/entries/1/receipt".to_owned(),
        "/v1/entries/1/receipt?witnessed=true".to_owned(),
        "/v1/entries/1/receipt?witnessed=maybe".to_owned(),
        "/v1/entries/1/explain".to_owned(),
        "/v1/entries/0/explain".to_owned(),
        "/v1/entries/999/explain".to_owned(),
        "/v1/events?target=svc-a".to_owned(),
        "/v1/events?limit=1".to_owned(),
        "/v1/events?bogus=1".to_owned(),
        "/v1/events?target=svc-a&tree_size=2&occurred_from=2026-11-01&from=2026-01-01".to_owned(),
        "/v1/events?from=yesterday".to_owned(),
        "/v1/policies".to_owned(),
        "/v1/policies?tree_size=2".to_owned(),
        "/v1/policies?tree_size=0".to_owned(),
        format!("/v1/credentials/{fp}"),
        format!(
            "/v1/credentials/{}?history=true",
            crate::common::fingerprint_of("svc-a")
        ),
        format!("/v1/credentials/{fp}?history=maybe"),
        "/v1/credentials/sha256:nothex".to_owned(),
        "/v1/chains/dev".to_owned(),
        "/v1/chains/dev?from=1".to_owned(),
        "/v1/chains/dev?from=0".to_owned(),
        "/v1/chains/bad%20id".to_owned(),
        "/v1/proofs/inclusion?index=1&tree_size=3".to_owned(),
        "/v1/proofs/inclusion?index=1&leaf_hash=00".to_owned(),
        format!("/v1/proofs/inclusion?leaf_hash={}", "00".repeat(32)),
        "/v1/proofs/consistency?from=1&to=3".to_owned(),
        "/v1/proofs/consistency?from=0".to_owned(),
        "/v1/log".to_owned(),
        "/checkpoint".to_owned(),
        "/log-keys".to_owned(),
        "/v1/checkpoint/witnessed".to_owned(),
        "/tile/0/000.p/4".to_owned(),
        "/tile/entries/000.p/4".to_owned(),
        "/tile/0/999".to_owned(),
        "/tile/nonsense".to_owned(),
        "/healthz".to_owned(),
        "/readyz".to_owned(),
        "/metrics".to_owned(),
        "/v1/openapi.json".to_owned(),
        "/".to_owned(),
    ] {
        ck.check(c.get(format!("{u}{path}"))).await;
    }

    // SCITT (SCRAPI): register a signed statement, a retry, the wrong media
    // type, malformed CBOR; the receipt resource; the configuration; and
    // the COSE receipt under content negotiation.
    let claims = provlog_proto::statement::StatementClaims {
        content_type: provlog_proto::statement::EVENT_CONTENT_TYPE.into(),
        issuer: "dev".into(),
        subject: None,
        audience: None,
        issued_at: None,
    };
    let payload = provlog_proto::json::canonical(&event("st1", "svc-st")).expect("jcs");
    let signed = provlog_proto::statement::sign(&payload, &claims, &key).expect("sign");
    let cose = |b: Vec<u8>| {
        c.post(format!("{u}/entries"))
            .header("content-type", "application/cose")
            .body(b)
    };
    let (st, _) = ck.check(cose(signed.clone())).await;
    assert_eq!(st, 201);
    let (st, _) = ck.check(cose(signed.clone())).await;
    assert_eq!(st, 200);
    let (st, _) = ck
        .check(
            c.post(format!("{u}/entries"))
                .header("content-type", "application/json")
                .body(signed),
        )
        .await;
    assert_eq!(st, 415);
    let (st, _) = ck.check(cose(vec![0xff, 0x00])).await;
    assert_eq!(st, 400);
    for path in [
        "/entries/1",
        "/entries/999",
        "/entries/x",
        "/.well-known/transparency-configuration",
    ] {
        ck.check(c.get(format!("{u}{path}"))).await;
    }
    let (st, _) = ck
        .check(
            c.get(format!("{u}/v1/entries/1/receipt"))
                .header("accept", "application/cose"),
        )
        .await;
    assert_eq!(st, 200);

    // Heartbeats: the dev submitter is not sequenced (a signed refusal), and
    // a malformed body is a plain 400.
    let hb = provlog_proto::chain::Heartbeat {
        seq: 1,
        prev: provlog_tlog::b64::encode([0u8; 32]),
        sent_at: "2026-12-03T10:00:00Z".into(),
        actions: None,
    };
    let body = provlog_proto::chain::HeartbeatSubmission::sign(&hb, "dev", &s.dev_key(), s.vkey.name());
    let (st, b) = ck.check(c.post(format!("{u}/v1/heartbeats")).body(body)).await;
    assert_eq!(st, 403);
    assert!(String::from_utf8_lossy(&b).contains("\"refusal\""), "a signed refusal");
    let (st, _) = ck.check(c.post(format!("{u}/v1/heartbeats")).body("{}")).await;
    assert_eq!(st, 400);

    // Admin: off without the token, then reload and freeze (last: it is final).
    let (st, _) = ck.check(c.post(format!("{u}/v1/admin/reload"))).await;
    assert_eq!(st, 401);
    let (st, _) = ck
        .check(c.post(format!("{u}/v1/admin/reload")).bearer_auth(ADMIN_TOKEN))
        .await;
    assert_eq!(st, 200);
    // No next_log_key configured: nothing to rotate to.
    let (st, _) = ck
        .check(c.post(format!("{u}/v1/admin/rotate-key")).bearer_auth(ADMIN_TOKEN))
        .await;
    assert_eq!(st, 400);
    let (st, _) = ck
        .check(c.post(format!("{u}/v1/admin/freeze")).bearer_auth(ADMIN_TOKEN))
        .await;
    assert_eq!(st, 200);
    let (st, _) = ck
        .check(c.post(format!("{u}/v1/entries")).json(&ev("e9", "svc-a")))
        .await;
    assert_eq!(st, 403, "a frozen log refuses submissions");

    // Every documented operation was exercised above.
    let mut all = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            all.insert((path.clone(), method.clone()));
        }
    }
    let missed: Vec<_> = all.difference(&ck.seen).collect();
    assert!(missed.is_empty(), "documented but not exercised: {missed:?}");
    assert!(ck.checked >= 30, "only {} JSON bodies validated", ck.checked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_that_breaks_its_schema_is_caught() {
    // The checker itself must be able to fail: a receipt missing a field
    // does not validate against the documented Receipt.
    let doc: Value = serde_json::from_str(provlog::api::openapi::document()).expect("document");
    let schema = &doc["paths"]["/v1/entries/{index}/receipt"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    let root = json!({"components": doc["components"], "allOf": [schema]});
    let v = jsonschema::validator_for(&root).expect("schema");
    let good = json!({"index": 1, "leaf_hash": "x", "entry": "y", "checkpoint": "c", "inclusion_proof": [], "tlog_proof": "t"});
    assert!(v.is_valid(&good));
    let mut bad = good.clone();
    bad.as_object_mut().expect("object").remove("checkpoint");
    assert!(!v.is_valid(&bad));
    bad = good;
    bad["index"] = json!("one");
    assert!(!v.is_valid(&bad));
}
