//! `POST /v1/entries`, `GET /v1/entries/<i>`, `GET /v1/entries/<i>/receipt`.

use super::error::ApiError;
use super::params::parse_u64;
use crate::log::{Log, ReadError};
use crate::sequencer::Outcome;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use provlog_proto::b64;
use provlog_proto::leaf::Leaf;
use provlog_proto::merkle::leaf_hash;
use std::sync::Arc;

fn body_error(e: &BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", e.body_text())
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
    }
}

/// Reads an index path parameter.
pub(super) fn index_param(p: Result<Path<String>, PathRejection>) -> Result<u64, ApiError> {
    let Path(s) = p.map_err(|e| ApiError::param(e.body_text()))?;
    parse_u64("index", &s)
}

pub(super) async fn submit(
    State(log): State<Arc<Log>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| body_error(&e))?;
    let s = log.submit(&body).await?;
    let (status, published) = match s.outcome {
        Outcome::Created => (StatusCode::CREATED, s.published),
        Outcome::Duplicate => (StatusCode::OK, log.published()),
    };
    let receipt = log.receipt(s.index, published).await?;
    Ok((status, Json(receipt)).into_response())
}

pub(super) async fn get_entry(
    State(log): State<Arc<Log>>,
    index: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let index = index_param(index)?;
    let size = log.published().size;
    if index >= size {
        return Err(ApiError::not_found(format!(
            "no entry {index}: the tree has {size} entries"
        )));
    }
    let entry = log
        .read(move |l| {
            l.store
                .entry(index)?
                .ok_or_else(|| ReadError::NotFound(format!("entry {index} is not stored")))
        })
        .await?;
    let decoded = Leaf::to_value(&entry).map_err(|e| ApiError::internal(&e))?;
    Ok(Json(serde_json::json!({
        "index": index,
        "leaf_hash": b64::encode(leaf_hash(&entry)),
        "entry": b64::encode(&entry),
        "decoded": decoded,
    }))
    .into_response())
}

pub(super) async fn get_receipt(
    State(log): State<Arc<Log>>,
    index: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let index = index_param(index)?;
    let receipt = log.receipt(index, log.published()).await?;
    Ok(Json(receipt).into_response())
}
