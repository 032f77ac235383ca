//! The gate's HTTP endpoints: nginx `auth_request` (`GET /check`), Envoy
//! `ext_authz` over HTTP (`/envoy/<original path>`, any method), and
//! `/healthz`, `/readyz`, `/metrics`, `/v1/status`. Thin: the decision
//! is [`super::decision`]'s, the verified state [`super::follow`]'s.

use super::decision::{Freshness, Reason, freshness, judge};
use super::follow::{FetchFailure, Follower};
use super::presented::{PresentedError, display, fingerprint};
use super::{Gate, Route};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, Uri};
use axum::routing::{any, get};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which proxy asks: the status of an allow differs (nginx takes any 2xx,
/// Envoy only 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Nginx,
    Envoy,
}

/// The router of a gate.
pub fn router(gate: Arc<Gate>) -> Router {
    Router::new()
        .route("/check", get(nginx))
        .route("/envoy", any(envoy))
        .route("/envoy/{*rest}", any(envoy))
        .route(
            "/healthz",
            get(|| async { json_response(StatusCode::OK, &serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .with_state(gate)
}

async fn nginx(State(g): State<Arc<Gate>>, headers: HeaderMap) -> Response<Body> {
    // nginx sends the subrequest to /check; the original URI comes in a
    // header the location sets (`proxy_set_header X-Original-URI $request_uri`).
    let path = headers
        .get("x-original-uri")
        .and_then(|v| v.to_str().ok())
        .map_or("/", |u| u.split('?').next().unwrap_or("/"));
    let path = path.to_owned();
    decide(&g, &path, &headers, Flavor::Nginx).await
}

async fn envoy(State(g): State<Arc<Gate>>, uri: Uri, headers: HeaderMap) -> Response<Body> {
    // Envoy's HTTP authorization request keeps the original method and
    // path, behind the `path_prefix` configured (`/envoy`).
    let path = uri.path().strip_prefix("/envoy").unwrap_or("/");
    let path = if path.is_empty() { "/" } else { path }.to_owned();
    decide(&g, &path, &headers, Flavor::Envoy).await
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// The request id: the proxy's (`X-Request-Id`, nginx `$request_id`,
/// Envoy's own), else one of the gate's.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(
            || {
                format!(
                    "gate-{:x}-{}",
                    std::process::id(),
                    REQUESTS.fetch_add(1, Ordering::Relaxed)
                )
            },
            str::to_owned,
        )
}

/// What a decision rests on, for the response headers and the log line.
#[derive(Default)]
struct Basis {
    fingerprint: Option<String>,
    state: Option<&'static str>,
    owner: Option<Arc<str>>,
    checkpoint: Option<u64>,
    commitment: Option<u64>,
    message: Option<String>,
}

async fn decide(g: &Gate, path: &str, headers: &HeaderMap, flavor: Flavor) -> Response<Body> {
    let mut basis = Basis::default();
    let reason = decide_inner(g, path, headers, &mut basis).await;
    g.follower.metrics.decision(reason);
    let rid = request_id(headers);
    if reason.allows() {
        tracing::debug!(request_id = %rid, path, reason = reason.code(), fingerprint = basis.fingerprint.as_deref(), "allowed");
    } else {
        tracing::info!(
            request_id = %rid,
            path,
            reason = reason.code(),
            fingerprint = basis.fingerprint.as_deref(),
            detail = basis.message.as_deref(),
            "denied"
        );
    }
    respond(reason, &basis, &rid, flavor)
}

async fn decide_inner(g: &Gate, path: &str, headers: &HeaderMap, basis: &mut Basis) -> Reason {
    let Some(route) = g.route(path) else {
        basis.message = Some(format!("no route of the gate matches {path:?}"));
        return Reason::NoRoute;
    };
    let f: &Arc<Follower> = &g.follower;
    if let Some(a) = f.alarm() {
        basis.message = Some(a.to_string());
        return Reason::Inconsistent;
    }
    let Some(head) = f.head() else {
        basis.message = Some(f.last_error().map_or_else(
            || "the gate has not verified a checkpoint of the log yet".to_owned(),
            |e| format!("the gate has not verified a checkpoint of the log yet: {e}"),
        ));
        return Reason::NotReady;
    };
    basis.checkpoint = Some(head.checkpoint.size);
    basis.commitment = Some(head.commitment);
    let now = crate::util::clock::now_millis().unwrap_or(0);
    let s = f.settings();
    let fresh = freshness(
        head.commitment_logged_ms,
        now,
        millis(s.max_age),
        millis(s.fail_open_for),
    );
    if fresh == Freshness::Stale {
        basis.message = Some(format!(
            "the newest verified state commitment (entry {}) is {:.1} s old, over --max-age {:?}{}",
            head.commitment,
            (now - head.commitment_logged_ms) as f64 / 1000.0,
            s.max_age,
            f.last_error().map_or_else(String::new, |e| format!("; last poll: {e}"))
        ));
        return Reason::Stale;
    }
    let fp = match presented(route, headers) {
        Ok(fp) => fp,
        Err(PresentedError::Missing(h)) => {
            basis.message = Some(format!("no credential in the {h} header"));
            return Reason::NoCredential;
        }
        Err(e) => {
            basis.message = Some(e.to_string());
            return Reason::MalformedCredential;
        }
    };
    basis.fingerprint = Some(display(&fp));
    let known = if let Some(k) = f.cache.get(&fp) {
        f.metrics.lookup(true);
        k
    } else {
        f.metrics.lookup(false);
        if fresh == Freshness::FailOpen {
            basis.message = Some("failing open from the cache only: this credential is not cached".into());
            return Reason::LogUnreachable;
        }
        match f.known(fp).await {
            Ok(k) => k,
            Err(e) => {
                basis.message = Some(e.to_string());
                return match e {
                    FetchFailure::NotReady => Reason::NotReady,
                    FetchFailure::Unreachable(_) => Reason::LogUnreachable,
                    FetchFailure::Verification { .. } => Reason::VerificationFailed,
                    FetchFailure::Busy => Reason::Busy,
                };
            }
        }
    };
    basis.state = Some(match known.state {
        None => "unknown",
        Some(s) => state_name(s, known.not_after_ms, now),
    });
    basis.owner.clone_from(&known.owner);
    basis.commitment = Some(known.commitment.max(head.commitment));
    let r = judge(&known, &route.owners, now);
    if r == Reason::Active && fresh == Freshness::FailOpen {
        basis.message = Some(format!(
            "allowed from the cache with the log unreachable: the newest verified commitment is {:.1} s old",
            (now - head.commitment_logged_ms) as f64 / 1000.0
        ));
        return Reason::FailOpen;
    }
    r
}

fn state_name(s: provlog_proto::ledger::RecordState, not_after: Option<i64>, now: i64) -> &'static str {
    use provlog_proto::ledger::RecordState as S;
    match s {
        S::Active if not_after.is_some_and(|t| t <= now) => "expired",
        S::Active => "active",
        S::Revoked => "revoked",
        S::Expired => "expired",
        S::Superseded => "superseded",
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn presented(route: &Route, headers: &HeaderMap) -> Result<provlog_tlog::merkle::Hash, PresentedError> {
    let mut values = headers.get_all(&route.header).iter();
    let Some(v) = values.next() else {
        return Err(PresentedError::Missing(route.header.to_string()));
    };
    if values.next().is_some() {
        return Err(PresentedError::Malformed {
            header: route.header.to_string(),
            mapping: route.fingerprint.name(),
            why: "the header is repeated".into(),
        });
    }
    fingerprint(route.fingerprint, route.header.as_str(), v.as_bytes())
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| {
        HeaderValue::from_str(&percent_encoding::utf8_percent_encode(s, percent_encoding::CONTROLS).to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    })
}

fn respond(reason: Reason, b: &Basis, rid: &str, flavor: Flavor) -> Response<Body> {
    let status = if reason.allows() {
        match flavor {
            Flavor::Nginx => StatusCode::NO_CONTENT,
            Flavor::Envoy => StatusCode::OK,
        }
    } else {
        StatusCode::from_u16(reason.deny_status()).unwrap_or(StatusCode::FORBIDDEN)
    };
    let body = if reason.allows() {
        Body::empty()
    } else {
        Body::from(
            serde_json::json!({"error": {"code": reason.code(), "message": b.message.as_deref().unwrap_or(reason.code())}})
                .to_string(),
        )
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    let put = |h: &mut HeaderMap, k: &'static str, v: HeaderValue| {
        h.insert(HeaderName::from_static(k), v);
    };
    put(
        h,
        "x-provlog-decision",
        HeaderValue::from_static(if reason.allows() { "allow" } else { "deny" }),
    );
    put(h, "x-provlog-reason", HeaderValue::from_static(reason.code()));
    put(h, "x-request-id", header_value(rid));
    if let Some(s) = b.state {
        put(h, "x-provlog-state", HeaderValue::from_static(s));
    }
    if let Some(f) = &b.fingerprint {
        put(h, "x-provlog-fingerprint", header_value(f));
    }
    if let Some(o) = &b.owner {
        put(h, "x-provlog-owner", header_value(o));
    }
    if let Some(n) = b.checkpoint {
        put(h, "x-provlog-checkpoint", HeaderValue::from(n));
    }
    if let Some(n) = b.commitment {
        put(h, "x-provlog-commitment", HeaderValue::from(n));
    }
    if reason == Reason::FailOpen {
        put(h, "x-provlog-degraded", HeaderValue::from_static("fail-open"));
    }
    if !reason.allows() {
        put(h, "content-type", HeaderValue::from_static("application/json"));
        if reason.deny_status() == 401 {
            put(
                h,
                "www-authenticate",
                HeaderValue::from_static("Bearer realm=\"provlog\""),
            );
        }
    }
    r
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Ready only with a fresh verified commitment and no alarm.
async fn readyz(State(g): State<Arc<Gate>>) -> Response<Body> {
    let f = &g.follower;
    let now = crate::util::clock::now_millis().unwrap_or(0);
    let (code, message) = if let Some(a) = f.alarm() {
        ("inconsistent", a.to_string())
    } else if let Some(h) = f.head() {
        let s = f.settings();
        if freshness(h.commitment_logged_ms, now, millis(s.max_age), 0) == Freshness::Fresh {
            return json_response(
                StatusCode::OK,
                &serde_json::json!({"ready": true, "checkpoint": h.checkpoint.size, "commitment": h.commitment}),
            );
        }
        (
            "stale",
            format!(
                "the newest verified commitment is {:.1} s old, over --max-age",
                (now - h.commitment_logged_ms) as f64 / 1000.0
            ),
        )
    } else {
        (
            "not_ready",
            f.last_error()
                .map_or_else(|| "no checkpoint verified yet".to_owned(), |e| e.to_string()),
        )
    };
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({"error": {"code": code, "message": message}}),
    )
}

async fn metrics(State(g): State<Arc<Gate>>) -> Response<Body> {
    let now = crate::util::clock::now_millis().unwrap_or(0);
    let mut r = Response::new(Body::from(g.follower.metrics.render(g.follower.cache.len(), now)));
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

async fn status(State(g): State<Arc<Gate>>) -> Response<Body> {
    let f = &g.follower;
    let now = crate::util::clock::now_millis().unwrap_or(0);
    let head = f.head();
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "log": f.settings().log_url,
            "checkpoint": head.as_ref().map(|h| h.checkpoint.size),
            "origin": head.as_ref().map(|h| h.checkpoint.origin.clone()),
            "commitment": head.as_ref().map(|h| h.commitment),
            "commitment_age_ms": head.as_ref().map(|h| now - h.commitment_logged_ms),
            "alarm": f.alarm().map(|a| a.to_string()),
            "last_error": f.last_error().map(|a| a.to_string()),
            "cached": f.cache.len(),
        }),
    )
}
