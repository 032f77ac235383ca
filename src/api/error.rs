//! The one place where the log's failures become HTTP statuses. Every
//! error response is `{"error":{"code","message"}}` ([`ApiError`], defined
//! with the server in [`crate::http::error`] so that the body limits there
//! answer the same way).

pub use crate::http::error::ApiError;

use crate::log::sequencer::{SeqError, Unavailable};
use crate::log::{ReadError, ReloadError, SubmitError};
use axum::http::StatusCode;
use provlog_proto::policy::ScopeError;

/// The status and code the approval check gives.
fn approval_error(e: &provlog_proto::approval::ApprovalError) -> ApiError {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN);
    ApiError::new(status, e.code(), e.to_string())
}

/// 401 for an unknown submitter, 403 for a broken scope rule.
fn scope_error(e: &ScopeError) -> ApiError {
    let status = match e {
        ScopeError::UnknownSubmitter(_) => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::new(status, e.code(), e.to_string())
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        let msg = e.to_string();
        match e {
            SubmitError::Invalid(s @ provlog_proto::submission::SubmissionError::ContentType(_)) => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, s.code(), msg)
            }
            SubmitError::Invalid(s) => Self::new(StatusCode::BAD_REQUEST, s.code(), msg),
            SubmitError::UnknownKid { .. } => Self::new(StatusCode::UNAUTHORIZED, "unknown_kid", msg),
            SubmitError::WrongAudience { .. } => Self::new(StatusCode::UNAUTHORIZED, "wrong_audience", msg),
            SubmitError::InvalidBatch(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_batch", msg),
            SubmitError::BadSignature(_) => Self::new(StatusCode::UNAUTHORIZED, "bad_signature", msg),
            SubmitError::OriginBindingRequired(_) => Self::new(StatusCode::BAD_REQUEST, "origin_binding_required", msg),
            SubmitError::NotPublished(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_published", msg),
            SubmitError::Scope(s) => scope_error(&s),
            SubmitError::Approval(a) => approval_error(&a),
            SubmitError::Overloaded => Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", msg),
            SubmitError::RateLimited(_, wait) => Self {
                retry_after: Some(wait.as_secs().max(1)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", msg)
            },
            SubmitError::Sequencer(s) => s.into(),
            SubmitError::Refused { error, refusal } => Self {
                refusal: serde_json::to_value(&*refusal).ok().map(Box::new),
                ..Self::from(*error)
            },
            SubmitError::Clock(c) => clock(&c),
        }
    }
}

/// 500 `clock`: the server's clock cannot be read; an operator must fix
/// it (the client did nothing wrong, and retrying elsewhere may help).
fn clock(e: &dyn std::error::Error) -> ApiError {
    tracing::error!(error = %crate::util::error_chain(e), "the server clock failed");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "clock", crate::util::error_chain(e))
}

impl From<SeqError> for ApiError {
    fn from(e: SeqError) -> Self {
        let msg = crate::util::error_chain(&e);
        match e {
            SeqError::Conflict(_) => Self::new(StatusCode::CONFLICT, "event_id_conflict", msg),
            SeqError::Scope(s) => scope_error(&s),
            SeqError::BadSignature(_) => Self::new(StatusCode::UNAUTHORIZED, "bad_signature", msg),
            SeqError::Frozen => Self::new(StatusCode::FORBIDDEN, "log_frozen", msg),
            SeqError::Overloaded => Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", msg),
            SeqError::EntryTooLarge { .. } => Self::new(StatusCode::BAD_REQUEST, "entry_too_large", msg),
            SeqError::Ownership(o) => Self::new(StatusCode::FORBIDDEN, o.code(), msg),
            SeqError::Chain(c) => Self {
                expected: c.expected().and_then(|x| serde_json::to_value(x).ok()).map(Box::new),
                ..Self::new(
                    StatusCode::from_u16(c.status()).unwrap_or(StatusCode::CONFLICT),
                    c.code(),
                    msg,
                )
            },
            SeqError::Approval(a) => approval_error(&a),
            SeqError::Decision(d) => Self::new(StatusCode::FORBIDDEN, d.code(), msg),
            SeqError::Unavailable(Unavailable::ClockBehind { .. }) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "clock_behind", msg)
            }
            SeqError::Unavailable(Unavailable::Diverged(_)) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "history_diverged", msg)
            }
            SeqError::Unavailable(Unavailable::NotSequencer { leader }) => Self {
                sequencer: leader,
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_sequencer", msg)
            },
            SeqError::Unavailable(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg),
            SeqError::Rotation(r) => Self::new(
                StatusCode::from_u16(r.status()).unwrap_or(StatusCode::CONFLICT),
                r.code(),
                msg,
            ),
            SeqError::Judged { error, .. } => Self::from(*error),
        }
    }
}

impl From<crate::http::stream::Cancelled> for ApiError {
    fn from(c: crate::http::stream::Cancelled) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", c.to_string())
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotFound(m) => Self::not_found(m),
            ReadError::Invalid(m) => Self::param(m),
            ReadError::Storage(s) => Self::internal(&crate::util::error_chain(&s)),
            ReadError::Task(t) => Self::internal(&crate::util::error_chain(&t)),
            ReadError::Clock(c) => clock(&c),
            ReadError::Timestamp(t) => clock(&t),
            ReadError::Internal(m) => Self::internal(&m),
            ReadError::Pruned(m) => Self::new(StatusCode::GONE, "pruned", m),
        }
    }
}

impl From<crate::log::RotateError> for ApiError {
    fn from(e: crate::log::RotateError) -> Self {
        let msg = crate::util::error_chain(&e);
        match e {
            crate::log::RotateError::NoNextKey => Self::new(StatusCode::BAD_REQUEST, "no_next_log_key", msg),
            crate::log::RotateError::Config(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", msg),
            crate::log::RotateError::Sequencer(e) => e.into(),
        }
    }
}

impl From<ReloadError> for ApiError {
    fn from(e: ReloadError) -> Self {
        match e {
            ReloadError::Config(e) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                format!("the old registry stays in force: {e:#}"),
            ),
            ReloadError::Sequencer(e) => e.into(),
            ReloadError::Read(e) => e.into(),
        }
    }
}
