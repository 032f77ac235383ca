//! `GET /v1/chains/<submitter>`: a sequenced submitter's chain head,
//! proved against the last state commitment (docs/CHAINS.md "Chain
//! answers"), and with `from=<seq>` its entries from that position on.

use super::App;
use super::error::ApiError;
use super::params::Params;
use crate::log::Log;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use provlog_proto::chain::{ChainAnswer, ChainItem};
use provlog_proto::credential::CommitmentItem;
use provlog_tlog::b64;
use std::sync::Arc;

/// Most chain entries in one answer; more are paged with `next_from`.
pub const MAX_CHAIN_ITEMS: u64 = 1_000;

/// `GET /v1/chains/<submitter>`.
#[utoipa::path(
    get,
    path = "/v1/chains/{submitter}",
    tag = "read",
    params(
        ("submitter" = String, Path, description = "A submitter id"),
        ("from" = Option<u64>, Query, description = "List the chain's entries from this seq on (at most 1,000 per answer)"),
    ),
    responses(
        (status = 200, description = "The chain record (absent for a submitter never sequenced), its map proof, the commitment and the checkpoint", body = provlog_proto::chain::ChainAnswer),
        (status = 400, description = "Malformed submitter id or parameter", body = crate::api::responses::ErrorBody),
        (status = 503, description = "No commitment (or witnessed checkpoint) yet", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn chain(
    State(app): State<App>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(submitter) = p.map_err(|e| ApiError::param(e.body_text()))?;
    provlog_proto::policy::check_submitter_id(&submitter).map_err(|r| ApiError::param(format!("submitter: {r}")))?;
    let q = Params::new(q, &["from"])?;
    let from = q.u64("from")?;
    if from == Some(0) {
        return Err(ApiError::param("from: chain positions start at 1"));
    }
    let checkpoint = match app.witnessing.as_deref() {
        None => {
            let p = app.log.published();
            (p.size, p.checkpoint.clone())
        }
        Some(w) => {
            let c = w.witnessed().ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not_witnessed",
                    "no checkpoint is witnessed yet; retry shortly",
                )
            })?;
            (c.size, c.note.clone())
        }
    };
    let log = Arc::clone(&app.log);
    let body = tokio::task::spawn_blocking(move || answer(&log, &submitter, from, checkpoint))
        .await
        .map_err(|_| ApiError::internal(&"a read task failed"))??;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The answer's bytes. Blocking.
fn answer(log: &Log, submitter: &str, from: Option<u64>, (size, note): (u64, String)) -> Result<Vec<u8>, ApiError> {
    let state = log.chain_state(submitter, size)?;
    let Some((index, entry)) = state.commitment else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_committed",
            "the log has not committed its map in a checkpoint yet; retry shortly",
        ));
    };
    let inclusion = log.inclusion_proof_blocking(index, size)?;
    let mut entries = Vec::new();
    let mut next_from = None;
    if let Some(from) = from {
        let budget = u64::try_from(log.limits().max_answer_bytes).unwrap_or(u64::MAX);
        let mut bytes = 0u64;
        let mut seq = from;
        while let Some(i) = log.chain_entry(submitter, seq)?.filter(|i| *i < size) {
            if entries.len() as u64 >= MAX_CHAIN_ITEMS || bytes >= budget {
                next_from = Some(seq);
                break;
            }
            let e = log.entry_blocking(i)?;
            let proof = log.inclusion_proof_blocking(i, size)?;
            bytes += (e.len() * 4 / 3 + proof.len() * 46) as u64;
            entries.push(ChainItem {
                seq,
                index: i,
                entry: b64::encode(&e),
                proof: proof.iter().map(b64::encode).collect(),
            });
            seq += 1;
        }
    }
    let a = ChainAnswer {
        submitter: submitter.to_owned(),
        record: state.record,
        map_proof: b64::encode(state.proof.encode()),
        commitment: CommitmentItem {
            index,
            entry: b64::encode(&entry),
            proof: inclusion.iter().map(b64::encode).collect(),
        },
        checkpoint: note,
        entries,
        next_from,
    };
    serde_json::to_vec(&a).map_err(|e| ApiError::internal(&e))
}
