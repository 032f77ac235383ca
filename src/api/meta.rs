//! `GET /checkpoint`, `GET /v1/log`, `GET /healthz`, `GET /readyz`.

use super::error::ApiError;
use crate::log::Log;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use provlog_proto::b64;
use std::sync::Arc;

pub(super) async fn checkpoint(State(log): State<Arc<Log>>) -> Result<Response, ApiError> {
    let p = log.published();
    if p.checkpoint.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "no checkpoint yet",
        ));
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        p.checkpoint.clone(),
    )
        .into_response())
}

pub(super) async fn log_info(State(log): State<Arc<Log>>) -> Response {
    let p = log.published();
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(serde_json::json!({
            "origin": log.origin,
            "vkey": log.vkey.to_vkey_string(),
            "tree_size": p.size,
            "root_hash": b64::encode(p.root),
            "checkpoint": p.checkpoint,
            "witnesses": [],
            "policy_index": log.policy_index(),
            "frozen": log.sequencer.is_frozen(),
            "limits": log.limits,
        })),
    )
        .into_response()
}

pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

pub(super) async fn readyz(State(log): State<Arc<Log>>) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(why) = log.sequencer.failure() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why));
    }
    if log.published().checkpoint.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no checkpoint yet",
        ));
    }
    Ok(Json(
        serde_json::json!({"status": "ready", "tree_size": log.published().size}),
    ))
}
