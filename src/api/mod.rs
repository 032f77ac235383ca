//! The HTTP API (docs/DESIGN.md "HTTP API"): the axum router and thin handlers
//! that parse parameters, call [`crate::log::Log`], and shape responses.

mod admin;
mod answers;
mod chains;
mod entries;
pub mod error;
mod explorer;
mod meta;
pub mod openapi;
pub mod params;
mod proofs;
pub mod responses;
mod scitt;
mod search;
mod tiles;

use crate::http::body;
use crate::log::Log;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
pub use error::ApiError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// What the handlers serve: the log, and the followers whose state some
/// answers show (cosigned checkpoints, publication status). Handlers that
/// need only the log extract `State<Arc<Log>>`.
#[derive(Debug, Clone)]
pub struct App {
    /// The running log.
    pub log: Arc<Log>,
    /// The witnesses and the cosignatures collected, if any are configured.
    pub witnessing: Option<Arc<crate::follow::cosign::Witnessing>>,
    /// The object-storage publisher, if configured.
    pub publisher: Option<Arc<crate::follow::publish::Publisher>>,
}

impl axum::extract::FromRef<App> for Arc<Log> {
    fn from_ref(app: &App) -> Self {
        Arc::clone(&app.log)
    }
}

/// Builds the router over a running log.
///
/// Every request has a deadline (`request_timeout_ms`, body included: a
/// client that trickles its body gets `408`); the write routes admit a
/// bounded number of requests at once and shed the rest with `503`.
pub fn router(app: App) -> Router {
    let l = app.log.limits();
    let writes = Arc::new(Semaphore::new(l.max_write_requests));
    let batches = Arc::new(Semaphore::new(l.max_batch_requests));
    let reads = Arc::new(Semaphore::new(l.max_read_requests));
    let read =
        |r: axum::routing::MethodRouter<App>| r.layer(middleware::from_fn_with_state(Arc::clone(&reads), admit_read));
    let timeout = Duration::from_millis(l.request_timeout_ms);
    Router::new()
        .route(
            "/v1/entries",
            post(entries::submit)
                .layer(middleware::from_fn_with_state(Arc::clone(&writes), admit))
                .layer(middleware::from_fn_with_state(l.max_body_bytes, body::read_body_first))
                .layer(middleware::from_fn_with_state(
                    l.max_body_bytes,
                    body::refuse_declared_oversize,
                )),
        )
        .route(
            "/entries",
            post(scitt::register)
                .layer(middleware::from_fn_with_state(Arc::clone(&writes), admit))
                .layer(middleware::from_fn_with_state(l.max_body_bytes, body::read_body_first))
                .layer(middleware::from_fn_with_state(
                    l.max_body_bytes,
                    body::refuse_declared_oversize,
                )),
        )
        .route("/entries/{index}", read(get(scitt::receipt)))
        .route("/.well-known/transparency-configuration", get(scitt::configuration))
        .route(
            "/v1/heartbeats",
            post(entries::heartbeat)
                .layer(middleware::from_fn_with_state(Arc::clone(&writes), admit))
                .layer(middleware::from_fn_with_state(l.max_body_bytes, body::read_body_first))
                .layer(middleware::from_fn_with_state(
                    l.max_body_bytes,
                    body::refuse_declared_oversize,
                )),
        )
        .route("/v1/chains/{submitter}", read(get(chains::chain)))
        .route(
            "/v1/entries/batch",
            post(entries::submit_batch)
                .layer(DefaultBodyLimit::max(l.max_batch_body_bytes))
                .layer(middleware::from_fn_with_state(batches, admit))
                .layer(middleware::from_fn_with_state(
                    l.max_batch_body_bytes,
                    body::read_body_first,
                ))
                .layer(middleware::from_fn_with_state(
                    l.max_batch_body_bytes,
                    body::refuse_declared_oversize,
                )),
        )
        .route("/v1/events", read(get(search::events)))
        .route("/v1/policies", read(get(search::policies)))
        .route("/v1/credentials/{fingerprint}", read(get(search::credential)))
        .route("/v1/admin/reload", post(admin::reload))
        .route("/v1/admin/freeze", post(admin::freeze))
        .route("/v1/admin/rotate-key", post(admin::rotate_key))
        .route("/v1/entries/{index}", read(get(entries::get_entry)))
        .route("/v1/entries/{index}/receipt", read(get(entries::get_receipt)))
        .route("/v1/entries/{index}/explain", read(get(entries::get_explain)))
        .route("/v1/proofs/inclusion", read(get(proofs::inclusion)))
        .route("/v1/proofs/consistency", read(get(proofs::consistency)))
        .route("/v1/log", get(meta::log_info))
        .route("/checkpoint", get(meta::checkpoint))
        .route("/log-keys", read(get(meta::log_keys)))
        .route("/v1/checkpoint/witnessed", get(meta::witnessed))
        .route("/tile/{*path}", read(get(tiles::tile)))
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/metrics", get(meta::metrics))
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .route("/", get(explorer::page))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(l.max_body_bytes))
        .layer(middleware::from_fn_with_state(timeout, body::deadline))
        .layer(middleware::from_fn(body::close_if_body_unread))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(Arc::clone(app.log.metrics()), track))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RequestIds::new()))
        .with_state(app)
}

/// Counts a request and its latency under its route template (never the
/// raw path, so a scan of random URLs cannot grow the label set).
async fn track(State(metrics): State<Arc<crate::obs::metrics::Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = std::time::Instant::now();
    let r = next.run(req).await;
    metrics.request(&route, r.status().as_u16(), started.elapsed());
    r
}

/// The span every request runs in: method, path and request id.
fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// Request ids for requests that come without an `x-request-id`: a random
/// per-process prefix and a counter, so ids are unique across restarts.
#[derive(Clone, Debug)]
struct RequestIds {
    prefix: u32,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        let mut b = [0u8; 4];
        let _ = getrandom::fill(&mut b);
        Self {
            prefix: u32::from_le_bytes(b),
            next: Arc::default(),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        axum::http::HeaderValue::from_str(&format!("{:08x}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// Admits a read that touches storage if one of the read slots is free,
/// else sheds it with `503 overloaded` and `Retry-After`. The slot is held
/// until the answer's body has been sent (or dropped), so a streamed answer
/// counts for as long as it runs.
async fn admit_read(State(slots): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    use http_body_util::BodyExt;
    let Ok(permit) = slots.try_acquire_owned() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many reads in progress; retry shortly",
        )
        .into_response();
    };
    let (parts, body) = next.run(req).await.into_parts();
    let body = body.map_frame(move |f| {
        let _held = &permit;
        f
    });
    Response::from_parts(parts, axum::body::Body::new(body))
}

/// Admits a request if a slot is free, else sheds it with 503.
async fn admit(State(slots): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    match slots.try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many submissions in progress; retry shortly",
        )
        .into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such resource")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this resource",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(&"a request handler panicked").into_response()
}
