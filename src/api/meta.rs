//! `GET /checkpoint`, `GET /log-keys`, `GET /v1/log`, `GET /healthz`, `GET /readyz`,
//! `GET /metrics`.

use super::App;
use super::error::ApiError;
use super::responses::{Health, LogInfo, Ready, WitnessInfo};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use provlog_tlog::b64;

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
#[utoipa::path(
    get,
    path = "/checkpoint",
    tag = "static",
    responses(
        (status = 200, description = "C2SP signed checkpoint note, with any witness cosignatures", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 503, description = "No checkpoint yet", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn checkpoint(State(app): State<App>) -> Result<Response, ApiError> {
    let p = app.log.published();
    if p.checkpoint.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "no checkpoint yet",
        ));
    }
    let cosigned = app
        .witnessing
        .as_deref()
        .and_then(crate::follow::cosign::Witnessing::latest)
        .filter(|c| c.size == p.size);
    Ok(note_response(
        cosigned.map_or_else(|| p.checkpoint.clone(), |c| c.note.clone()),
    ))
}

/// `GET /v1/checkpoint/witnessed`: the latest checkpoint that carries the
/// cosignatures the witness policy requires.
#[utoipa::path(
    get,
    path = "/v1/checkpoint/witnessed",
    tag = "read",
    responses(
        (status = 200, description = "The latest checkpoint meeting the witness policy, with its cosignatures", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "No witnesses configured, or none has cosigned enough yet", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn witnessed(State(app): State<App>) -> Result<Response, ApiError> {
    let w = app.witnessing.as_ref().ok_or_else(|| {
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

/// `GET /log-keys`: the log's key history
/// (docs/ROTATION.md), from which a reader that trusts one of its keys
/// verifies every rotation: each announcement, signed by the old and the
/// new key, with the first checkpoint that includes it (signed by both)
/// and the proofs. Empty for a log that never rotated.
#[utoipa::path(
    get,
    path = "/log-keys",
    tag = "static",
    responses(
        (status = 200, description = "The key history", body = provlog_proto::rotation::KeyHistory),
        (status = 503, description = "The store cannot be read", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn log_keys(State(app): State<App>) -> Result<Response, ApiError> {
    let log = std::sync::Arc::clone(&app.log);
    let h = tokio::task::spawn_blocking(move || log.key_history())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| {
            tracing::error!(error = %crate::util::error_chain(&e), "cannot serve the key history");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                crate::util::error_chain(&e),
            )
        })?;
    Ok(([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(h)).into_response())
}

/// `GET /v1/log`: origin, key, size, witnesses, limits.
#[utoipa::path(
    get,
    path = "/v1/log",
    tag = "read",
    responses((status = 200, description = "What a client needs to verify this log", body = crate::api::responses::LogInfo))
)]
pub(super) async fn log_info(State(app): State<App>) -> Response {
    let log = &app.log;
    let p = log.published();
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(LogInfo {
            origin: log.origin().to_owned(),
            vkey: log.vkey().to_vkey_string(),
            tree_size: p.size,
            root_hash: b64::encode(p.root),
            checkpoint: p.checkpoint.clone(),
            witnesses: app.witnessing.as_ref().map_or_else(Vec::new, |w| {
                w.witnesses
                    .iter()
                    .map(|(url, k)| WitnessInfo {
                        url: url.clone(),
                        key: k.to_vkey_string(),
                    })
                    .collect()
            }),
            witness_policy: app.witnessing.as_ref().map(|w| w.policy),
            witnessed_size: app
                .witnessing
                .as_deref()
                .and_then(crate::follow::cosign::Witnessing::witnessed)
                .map(|c| c.size),
            policy_index: log.policy_index(),
            publish: app.publisher.as_ref().map(|pb| pb.status(p.size)),
            frozen: log.is_frozen(),
            limits: log.limits(),
        }),
    )
        .into_response()
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operate",
    responses((status = 200, description = "Up", body = crate::api::responses::Health))
)]
pub(super) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: the log can take submissions.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operate",
    responses(
        (status = 200, description = "Ready", body = crate::api::responses::Ready),
        (status = 503, description = "The store failed, there is no checkpoint yet, or entries wait while the newest checkpoint is too old", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn readyz(State(app): State<App>) -> Result<Json<Ready>, ApiError> {
    let log = &app.log;
    if let Some(why @ crate::log::sequencer::Unavailable::NotSequencer { .. }) = log.failure() {
        // A standby serves reads but takes no submissions: it names the sequencer.
        return Err(crate::log::sequencer::SeqError::from(why).into());
    }
    if let Some(why) = log.failure() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            crate::util::error_chain(&why),
        ));
    }
    if log.published().checkpoint.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no checkpoint yet",
        ));
    }
    let age = log.metrics().checkpoint_age();
    let waiting = log.queue_depth();
    let limit = std::time::Duration::from_millis(log.limits().ready_max_checkpoint_age_ms);
    stalled(waiting, age, limit).map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why))?;
    if let Some(alarm) = app
        .publisher
        .as_ref()
        .and_then(|p| p.status(log.published().size).alarm)
    {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", alarm));
    }
    Ok(Json(Ready {
        status: "ready",
        tree_size: log.published().size,
        queue_depth: waiting,
        checkpoint_age_ms: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
    }))
}

/// The write path is stalled when entries wait and no checkpoint has come
/// for longer than `limit`. An idle log (nothing waiting) is never stalled,
/// however old its checkpoint: a checkpoint only changes when entries come.
fn stalled(waiting: usize, age: std::time::Duration, limit: std::time::Duration) -> Result<(), String> {
    if waiting > 0 && age > limit {
        Err(format!(
            "{waiting} entries are waiting and the newest checkpoint is {} ms old (limit {} ms)",
            age.as_millis(),
            limit.as_millis()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::stalled;
    use std::time::Duration;

    #[test]
    fn readiness_fails_only_when_entries_wait_on_an_old_checkpoint() {
        let limit = Duration::from_secs(30);
        assert!(stalled(0, Duration::from_hours(1), limit).is_ok(), "idle is ready");
        assert!(
            stalled(10, Duration::from_secs(1), limit).is_ok(),
            "busy and moving is ready"
        );
        let why = stalled(10, Duration::from_secs(31), limit).expect_err("stuck");
        assert!(why.contains("10 entries are waiting"), "{why}");
    }
}

/// `GET /metrics`: Prometheus text exposition of this log's registry.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operate",
    responses((status = 200, description = "Prometheus / OpenMetrics text", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"))
)]
pub(super) async fn metrics(State(app): State<App>) -> Response {
    let log = &app.log;
    let size = log.published().size;
    let publish = app.publisher.as_ref().map(|p| p.gauges(size));
    let body = log.metrics().render(size, log.queue_depth(), publish);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}
