//! The error answer every provlog server gives: a status, a stable code
//! and a message, as `{"error":{"code","message"}}`, with `Retry-After` on
//! 429 and 503 and `Cache-Control: no-store`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Every 4xx and 5xx answer: `{"error":{"code","message"}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable code and a human-readable message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code (`invalid_submission`, `out_of_scope`, `overloaded`, …).
    pub code: &'static str,
    /// What is wrong, in words.
    pub message: String,
    /// For a chain entry that is not the next one: the `seq` and `prev`
    /// the log expected (docs/DESIGN.md "Sequenced submitters").
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub expected: Option<serde_json::Value>,
    /// For a refusal of an authenticated submission on a matter of
    /// authority: the log's signed refusal (docs/REFUSALS.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub refusal: Option<serde_json::Value>,
    /// Under `[ha]`, from a standby (`not_sequencer`): the sequencer's base
    /// URL, where the client retries with the same `event_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
}

/// The header in which a standby names the sequencer (`not_sequencer`).
pub const SEQUENCER_HEADER: &str = "provlog-sequencer";

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
    /// The body's `expected` member, if any (boxed: errors stay small).
    pub expected: Option<Box<serde_json::Value>>,
    /// The body's `refusal` member (a signed refusal), if any.
    pub refusal: Option<Box<serde_json::Value>>,
    /// Under `[ha]`, on a standby: the sequencer's base URL, sent as the
    /// `Provlog-Sequencer` header and the body's `sequencer` member.
    pub sequencer: Option<String>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE).then_some(1),
            expected: None,
            refusal: None,
            sequencer: None,
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
    pub fn body(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code,
            message: self.message.clone(),
            expected: self.expected.as_deref().cloned(),
            refusal: self.refusal.as_deref().cloned(),
            sequencer: self.sequencer.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody { error: self.body() });
        let mut r = (self.status, body).into_response();
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(v) = self.sequencer.as_deref().and_then(|u| HeaderValue::from_str(u).ok()) {
            r.headers_mut().insert(SEQUENCER_HEADER, v);
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}
