//! `GET /checkpoint`, `GET /v1/log`, `GET /healthz`, `GET /readyz`.

use super::error::ApiError;
use crate::log::Log;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use provlog_proto::b64;
use std::sync::Arc;

fn note_response(note: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        note,
    )
        .into_response()
}

/// `GET /checkpoint`: the latest checkpoint, with the witness cosignatures
/// collected for it so far (none until the witnesses answered).
pub(super) async fn checkpoint(State(log): State<Arc<Log>>) -> Result<Response, ApiError> {
    let p = log.published();
    if p.checkpoint.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "no checkpoint yet",
        ));
    }
    let cosigned = log
        .witnessing
        .as_ref()
        .and_then(crate::cosign::Witnessing::latest)
        .filter(|c| c.size == p.size);
    Ok(note_response(
        cosigned.map_or_else(|| p.checkpoint.clone(), |c| c.note.clone()),
    ))
}

/// `GET /v1/checkpoint/witnessed`: the latest checkpoint that carries the
/// cosignatures the witness policy requires.
pub(super) async fn witnessed(State(log): State<Arc<Log>>) -> Result<Response, ApiError> {
    let w = log.witnessing.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_witnesses",
            "this log has no witnesses configured",
        )
    })?;
    let c = w.witnessed().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_witnessed",
            format!("no checkpoint has {} cosignatures yet", w.policy),
        )
    })?;
    Ok(note_response(c.note.clone()))
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
            "witnesses": log.witnessing.as_ref().map_or_else(Vec::new, |w| w
                .witnesses
                .iter()
                .map(|(url, k)| serde_json::json!({"url": url, "key": k.to_vkey_string()}))
                .collect()),
            "witness_policy": log.witnessing.as_ref().map(|w| w.policy),
            "witnessed_size": log.witnessing.as_ref().and_then(crate::cosign::Witnessing::witnessed).map(|c| c.size),
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
