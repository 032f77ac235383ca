//! The admin API, protected by a bearer token compared in constant time and
//! off without one:
//! * `POST /v1/admin/reload`: re-read the config file and install its
//!   submitter registry (logged as a policy entry first if it changed);
//! * `POST /v1/admin/freeze`: make the log read-only for good;
//! * `POST /v1/admin/rotate-key`: announce the configured `next_log_key`
//!   (docs/ROTATION.md).

use super::error::ApiError;
use crate::log::Log;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use subtle::ConstantTimeEq;

fn authorize(log: &Log, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = log.admin_token() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is off: configure admin_token (or PROVLOG_ADMIN_TOKEN)",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        ))
    }
}

/// `POST /v1/admin/reload`: re-read the submitter registry.
#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Reloaded (a policy entry was logged if the registry changed)", body = crate::log::Reloaded),
        (status = 401, description = "Missing or wrong admin token", body = crate::api::responses::ErrorBody),
        (status = 403, description = "The admin API is off (no admin_token)", body = crate::api::responses::ErrorBody),
        (status = 422, description = "Invalid config: the old registry stays in force", body = crate::api::responses::ErrorBody),
        (status = 503, description = "The log cannot append", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn reload(State(log): State<Arc<Log>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&log, &headers)?;
    log.reload()
        .await
        .map(|r| Json(r).into_response())
        .map_err(ApiError::from)
}

/// `POST /v1/admin/rotate-key`: rotate the log's key to the configured
/// `next_log_key` (re-read from the config file).
#[utoipa::path(
    post,
    path = "/v1/admin/rotate-key",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Announced: the entry, the old and new key, the end of the overlap", body = crate::log::Rotated),
        (status = 400, description = "No next_log_key configured, or it is the key in force (no_next_log_key)", body = crate::api::responses::ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = crate::api::responses::ErrorBody),
        (status = 403, description = "The admin API is off (no admin_token)", body = crate::api::responses::ErrorBody),
        (status = 409, description = "The previous rotation's overlap runs (rotation_during_overlap), or the key was used before (rotation_keys)", body = crate::api::responses::ErrorBody),
        (status = 422, description = "The next_log_key file is unreadable or names another origin", body = crate::api::responses::ErrorBody),
        (status = 503, description = "The log cannot append", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn rotate_key(State(log): State<Arc<Log>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&log, &headers)?;
    if log.is_frozen() {
        return Err(crate::log::sequencer::SeqError::Frozen.into());
    }
    let r = log.rotate_key(None).await?;
    Ok(Json(r).into_response())
}

/// `POST /v1/admin/freeze`: make the log read-only for good.
#[utoipa::path(
    post,
    path = "/v1/admin/freeze",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Frozen: the final checkpoint", body = crate::api::responses::Frozen),
        (status = 401, description = "Missing or wrong admin token", body = crate::api::responses::ErrorBody),
        (status = 403, description = "The admin API is off (no admin_token)", body = crate::api::responses::ErrorBody),
        (status = 503, description = "The log cannot append", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn freeze(State(log): State<Arc<Log>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&log, &headers)?;
    let p = log.freeze().await?;
    Ok(Json(super::responses::Frozen {
        frozen: true,
        tree_size: p.size,
        checkpoint: p.checkpoint.clone(),
    })
    .into_response())
}
