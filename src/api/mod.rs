//! The HTTP API (DESIGN.md "HTTP API"): the axum router and thin handlers
//! that parse parameters, call [`crate::log::Log`], and shape responses.

mod admin;
mod entries;
pub mod error;
mod meta;
pub mod params;
mod proofs;
mod search;
mod tiles;

use crate::log::Log;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
pub use error::ApiError;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// Builds the router over a running log.
pub fn router(log: Arc<Log>) -> Router {
    let body_limit = log.limits.max_body_bytes;
    let batch_limit = log.limits.max_batch_body_bytes;
    Router::new()
        .route("/v1/entries", post(entries::submit))
        .route(
            "/v1/entries/batch",
            post(entries::submit_batch).layer(DefaultBodyLimit::max(batch_limit)),
        )
        .route("/v1/events", get(search::events))
        .route("/v1/credentials/{fingerprint}", get(search::credential))
        .route("/v1/admin/reload", post(admin::reload))
        .route("/v1/entries/{index}", get(entries::get_entry))
        .route("/v1/entries/{index}/receipt", get(entries::get_receipt))
        .route("/v1/proofs/inclusion", get(proofs::inclusion))
        .route("/v1/proofs/consistency", get(proofs::consistency))
        .route("/v1/log", get(meta::log_info))
        .route("/checkpoint", get(meta::checkpoint))
        .route("/tile/{*path}", get(tiles::tile))
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(log)
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
