//! The one place where failures become HTTP statuses. Every error response
//! is `{"error":{"code","message"}}`.

use crate::log::{ReadError, SubmitError};
use crate::sequencer::SeqError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use provlog_proto::policy::ScopeError;

/// An HTTP error with a stable code.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable, machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation of what is wrong.
    pub message: String,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE).then_some(1),
        }
    }

    /// 400 `invalid_parameter`.
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500 `internal`; the details go to the server log, not the client.
    pub fn internal(err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl ApiError {
    /// The `{"code","message"}` object of the error body.
    #[must_use]
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"code": self.code, "message": self.message})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({"error": self.body()}));
        let mut r = (self.status, body).into_response();
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// 401 for an unknown submitter, 403 for a broken scope rule.
fn scope_error(e: &ScopeError) -> ApiError {
    let msg = e.to_string();
    match e {
        ScopeError::UnknownSubmitter(_) => ApiError::new(StatusCode::UNAUTHORIZED, "unknown_submitter", msg),
        ScopeError::Window { .. } => ApiError::new(StatusCode::FORBIDDEN, "submitter_not_valid", msg),
        _ => ApiError::new(StatusCode::FORBIDDEN, "out_of_scope", msg),
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        let msg = e.to_string();
        match e {
            SubmitError::Invalid(s) => Self::new(StatusCode::BAD_REQUEST, s.code(), msg),
            SubmitError::InvalidBatch(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_batch", msg),
            SubmitError::BadSignature(_) => Self::new(StatusCode::UNAUTHORIZED, "bad_signature", msg),
            SubmitError::NotPublished(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_published", msg),
            SubmitError::Scope(s) => scope_error(&s),
            SubmitError::Overloaded => Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", msg),
            SubmitError::RateLimited(_, wait) => Self {
                retry_after: Some(wait.as_secs().max(1)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", msg)
            },
            SubmitError::Sequencer(s) => s.into(),
        }
    }
}

impl From<SeqError> for ApiError {
    fn from(e: SeqError) -> Self {
        let msg = e.to_string();
        match e {
            SeqError::Conflict(_) => Self::new(StatusCode::CONFLICT, "event_id_conflict", msg),
            SeqError::Scope(s) => scope_error(&s),
            SeqError::BadSignature(_) => Self::new(StatusCode::UNAUTHORIZED, "bad_signature", msg),
            SeqError::Frozen => Self::new(StatusCode::FORBIDDEN, "log_frozen", msg),
            SeqError::Overloaded => Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", msg),
            SeqError::Unavailable(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotFound(m) => Self::not_found(m),
            ReadError::Invalid(m) => Self::param(m),
            ReadError::Storage(s) => Self::internal(&s),
            ReadError::Task(t) => Self::internal(&t),
        }
    }
}
