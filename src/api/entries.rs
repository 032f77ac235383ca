//! `POST /v1/entries`, `GET /v1/entries/<i>`, `GET /v1/entries/<i>/receipt`.

use super::App;
use super::error::ApiError;
use super::params::Params;
use super::params::parse_u64;
use super::responses::{BatchItem, BatchResponse, Entry};
use crate::log::Log;
use crate::log::sequencer::Outcome;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub(super) fn body_error(e: &BytesRejection) -> ApiError {
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

fn status_of(o: Outcome) -> StatusCode {
    match o {
        Outcome::Created => StatusCode::CREATED,
        Outcome::Duplicate => StatusCode::OK,
    }
}

fn outcome_code(o: Outcome) -> &'static str {
    match o {
        Outcome::Created => "created",
        Outcome::Duplicate => "duplicate",
    }
}

/// `POST /v1/entries`: one submission, answered with its receipt once durable.
#[utoipa::path(
    post,
    path = "/v1/entries",
    tag = "submit",
    request_body(content = crate::api::responses::Submission, description = "A signed event"),
    responses(
        (status = 201, description = "Logged: the receipt, once the entry is durable and signed", body = provlog_proto::receipt::Receipt),
        (status = 200, description = "A retry of a logged event: the original index, proved against the latest checkpoint", body = provlog_proto::receipt::Receipt),
        (status = 400, description = "Malformed JSON, schema violation, bad signature encoding, entry too large", body = crate::api::responses::ErrorBody),
        (status = 401, description = "Unknown submitter, or a signature that does not verify", body = crate::api::responses::ErrorBody),
        (status = 403, description = "Outside the submitter's scope (the message names the rule), or the log is frozen", body = crate::api::responses::ErrorBody),
        (status = 409, description = "The event_id was used for a different event", body = crate::api::responses::ErrorBody),
        (status = 413, description = "Body over the limit", body = crate::api::responses::ErrorBody),
        (status = 429, description = "Over the submitter's rate limit (Retry-After)", body = crate::api::responses::ErrorBody),
        (status = 503, description = "Overloaded or unable to append (Retry-After)", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn submit(State(log): State<Arc<Log>>, body: Result<Bytes, BytesRejection>) -> Response {
    let r = match body {
        Ok(b) => log.submit(&b).await.map_err(ApiError::from),
        Err(e) => Err(body_error(&e)),
    };
    answer(&log, r).await
}

/// Answers a submission (an event or a heartbeat) with its receipt, or its
/// error, and counts it in the metrics.
async fn answer(log: &Arc<Log>, r: Result<crate::log::sequencer::Sequenced, ApiError>) -> Response {
    let r = async {
        let s = r?;
        let outcome = s.outcome;
        let receipt = log
            .receipts(vec![s])
            .await?
            .pop()
            .ok_or_else(|| ApiError::internal(&"no receipt"))?;
        Ok::<_, ApiError>((outcome, receipt))
    }
    .await;
    match &r {
        Ok((o, _)) => log.metrics().submission(status_of(*o).as_u16(), outcome_code(*o)),
        Err(e) => log.metrics().submission(e.status.as_u16(), e.code),
    }
    r.map(|(o, receipt)| (status_of(o), Json(receipt))).into_response()
}

/// `POST /v1/heartbeats`: a sequenced submitter's heartbeat, answered with
/// its receipt once durable (docs/DESIGN.md "Sequenced submitters").
#[utoipa::path(
    post,
    path = "/v1/heartbeats",
    tag = "submit",
    request_body(content = crate::api::responses::HeartbeatRequest, description = "A signed heartbeat"),
    responses(
        (status = 201, description = "Logged: the receipt", body = provlog_proto::receipt::Receipt),
        (status = 200, description = "A retry of a logged heartbeat", body = provlog_proto::receipt::Receipt),
        (status = 400, description = "Malformed JSON, heartbeat or signature encoding", body = crate::api::responses::ErrorBody),
        (status = 401, description = "Unknown submitter, or a signature that does not verify", body = crate::api::responses::ErrorBody),
        (status = 403, description = "The submitter is not sequenced, not valid now, or the log is frozen", body = crate::api::responses::ErrorBody),
        (status = 409, description = "Not the chain's next position: the body's `expected` names the seq and prev", body = crate::api::responses::ErrorBody),
        (status = 429, description = "Over the submitter's rate limit (Retry-After)", body = crate::api::responses::ErrorBody),
        (status = 503, description = "Overloaded or unable to append (Retry-After)", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn heartbeat(State(log): State<Arc<Log>>, body: Result<Bytes, BytesRejection>) -> Response {
    let r = match body {
        Ok(b) => log.heartbeat(&b).await.map_err(ApiError::from),
        Err(e) => Err(body_error(&e)),
    };
    answer(&log, r).await
}

/// `POST /v1/entries/batch`: per-item results in request order.
#[utoipa::path(
    post,
    path = "/v1/entries/batch",
    tag = "submit",
    request_body(content = crate::api::responses::BatchRequest, description = "1 to 1,000 signed events"),
    responses(
        (status = 200, description = "One result per submission, in request order", body = crate::api::responses::BatchResponse),
        (status = 400, description = "The body is not a batch", body = crate::api::responses::ErrorBody),
        (status = 413, description = "Body over the batch limit", body = crate::api::responses::ErrorBody),
        (status = 503, description = "Overloaded", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn submit_batch(State(log): State<Arc<Log>>, body: Result<Bytes, BytesRejection>) -> Response {
    let r = batch(&log, body).await;
    if let Err(e) = &r {
        log.metrics().submission(e.status.as_u16(), e.code);
    }
    r.into_response()
}

async fn batch(log: &Arc<Log>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body = body.map_err(|e| body_error(&e))?;
    let results = log.submit_batch(body).await?;
    let done: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    let mut receipts = log.receipts(done).await?.into_iter();
    let results = results
        .into_iter()
        .map(|r| match r {
            Ok(s) => {
                log.metrics()
                    .submission(status_of(s.outcome).as_u16(), outcome_code(s.outcome));
                BatchItem {
                    status: status_of(s.outcome).as_u16(),
                    receipt: receipts.next(),
                    error: None,
                }
            }
            Err(e) => {
                let e = ApiError::from(e);
                log.metrics().submission(e.status.as_u16(), e.code);
                BatchItem {
                    status: e.status.as_u16(),
                    receipt: None,
                    error: Some(e.body()),
                }
            }
        })
        .collect();
    Ok(Json(BatchResponse { results }).into_response())
}

/// `GET /v1/entries/<index>`: one entry.
#[utoipa::path(
    get,
    path = "/v1/entries/{index}",
    tag = "read",
    params(("index" = u64, Path, description = "Entry index")),
    responses(
        (status = 200, description = "The entry", body = crate::api::responses::Entry),
        (status = 400, description = "Not an index", body = crate::api::responses::ErrorBody),
        (status = 404, description = "No such entry", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn get_entry(
    State(log): State<Arc<Log>>,
    index: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let index = index_param(index)?;
    let entry = log.entry(index).await?;
    Ok(Json(Entry::new(index, &entry)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/entries/{index}/receipt",
    tag = "read",
    params(
        ("index" = u64, Path, description = "Entry index"),
        ("witnessed" = Option<bool>, Query, description = "Prove against the latest witnessed checkpoint"),
    ),
    responses(
        (status = 200, description = "A receipt against the latest (or latest witnessed) checkpoint; with `Accept: application/cose`, an RFC 9942 COSE receipt against the latest (docs/SCITT.md)", content(
            (provlog_proto::receipt::Receipt = "application/json"),
            (Vec<u8> = "application/cose"),
        )),
        (status = 400, description = "Bad parameter", body = crate::api::responses::ErrorBody),
        (status = 404, description = "No such entry, or not yet witnessed", body = crate::api::responses::ErrorBody),
    )
)]
/// `GET /v1/entries/<i>/receipt[?witnessed=true]`: a receipt against the
/// latest checkpoint, or against the latest witnessed one (whose note then
/// carries the cosignatures).
pub(super) async fn get_receipt(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
    index: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let index = index_param(index)?;
    let q = Params::new(q, &["witnessed"])?;
    let log = &app.log;
    if wants_cose(&headers) {
        if q.get("witnessed").is_some_and(|w| w != "false") {
            return Err(ApiError::param(
                "a COSE receipt is against the latest checkpoint (its cosignatures are in the JSON receipt)",
            ));
        }
        let bytes = log.cose_receipt(index).await?;
        return Ok((
            [(
                axum::http::header::CONTENT_TYPE,
                provlog_proto::cose_receipt::CONTENT_TYPE,
            )],
            bytes,
        )
            .into_response());
    }
    let (size, note) = match q.get("witnessed") {
        None | Some("false") => {
            let p = log.published();
            (p.size, p.checkpoint.clone())
        }
        Some("true") => {
            let c = app
                .witnessing
                .as_deref()
                .and_then(crate::follow::cosign::Witnessing::witnessed)
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_witnessed", "no witnessed checkpoint yet"))?;
            if index >= c.size {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_witnessed",
                    format!(
                        "entry {index} is not in the latest witnessed checkpoint (size {})",
                        c.size
                    ),
                ));
            }
            (c.size, c.note.clone())
        }
        Some(other) => {
            return Err(ApiError::param(format!(
                "witnessed must be true or false, got {other:?}"
            )));
        }
    };
    let receipt = log.receipt(index, size, note).await?;
    Ok(Json(receipt).into_response())
}

/// Whether the client asked for `application/cose` (RFC 9942 receipts)
/// rather than JSON: an `Accept` that names it ahead of JSON.
pub(super) fn wants_cose(headers: &axum::http::HeaderMap) -> bool {
    let accept = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    let pos = |t: &str| accept.find(t);
    match (pos("application/cose"), pos("application/json")) {
        (Some(c), Some(j)) => c < j,
        (Some(_), None) => true,
        _ => false,
    }
}

#[utoipa::path(
    get,
    path = "/v1/entries/{index}/explain",
    tag = "read",
    params(("index" = u64, Path, description = "Entry index of an event")),
    responses(
        (status = 200, description = "The evidence that answers who approved the event, what changed, when, and which credential state was in force, and the log's own reading of it (`provlog explain` checks the evidence offline)", body = Object),
        (status = 400, description = "Bad parameter, or the entry is not an event", body = crate::api::responses::ErrorBody),
        (status = 404, description = "No such entry", body = crate::api::responses::ErrorBody),
    )
)]
/// `GET /v1/entries/<i>/explain`: `{"evidence": …, "explanation": …}`
/// against the latest checkpoint (docs/DESIGN.md "Explaining an entry").
pub(super) async fn get_explain(
    State(app): State<App>,
    index: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    use provlog_proto::explain::{Evidence, explain};
    let index = index_param(index)?;
    let log = Arc::clone(&app.log);
    let p = log.published();
    let (size, note) = (p.size, p.checkpoint.clone());
    let parts = log.read(move |l| l.explain_parts(index, size)).await?;
    let answer = |at: u64| {
        let q = super::answers::CredentialQuery {
            fingerprint: parts.fingerprint.clone().unwrap_or_default(),
            checkpoint: Some((size, note.clone())),
            tree_size: None,
            history: false,
            after: None,
            at: Some(at),
        };
        let log = Arc::clone(&log);
        async move {
            let bytes = super::answers::credential_small(&log, &q).await?;
            serde_json::from_slice::<provlog_proto::credential::CredentialAnswer>(&bytes)
                .map_err(|e| ApiError::internal(&e))
        }
    };
    let (before, after) = if parts.fingerprint.is_some() {
        let before = match index.checked_sub(1) {
            Some(at) => Some(answer(at).await?),
            None => None,
        };
        (before, Some(answer(parts.first_size - 1).await?))
    } else {
        (None, None)
    };
    let b64s = |v: &[provlog_tlog::merkle::Hash]| v.iter().map(provlog_tlog::b64::encode).collect::<Vec<_>>();
    let evidence = Evidence {
        index,
        checkpoint: note.clone(),
        entry: provlog_tlog::b64::encode(&parts.entry),
        proof: b64s(&parts.proof),
        policy_index: parts.policy_index,
        policy_entry: provlog_tlog::b64::encode(&parts.policy_entry),
        policy_proof: b64s(&parts.policy_proof),
        first_checkpoint: parts.first_note.clone(),
        first_consistency: b64s(&parts.first_consistency),
        before,
        after,
        between: parts.between.clone(),
    };
    let explanation = explain(&evidence, &log.vkey()).map_err(|e| ApiError::internal(&e))?;
    Ok(Json(serde_json::json!({"evidence": evidence, "explanation": explanation})).into_response())
}
