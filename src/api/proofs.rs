//! `GET /v1/proofs/inclusion` and `GET /v1/proofs/consistency`.

use super::error::ApiError;
use super::params::Params;
use crate::log::{Log, proof_err};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use provlog_proto::merkle::{Hash, consistency_proof, inclusion_proof};
use provlog_proto::{b64, hex};
use std::sync::Arc;

fn b64s(p: &[Hash]) -> Vec<String> {
    p.iter().map(b64::encode).collect()
}

/// `GET /v1/proofs/inclusion`.
#[utoipa::path(
    get,
    path = "/v1/proofs/inclusion",
    tag = "read",
    params(
        ("index" = Option<u64>, Query, description = "Entry index (or leaf_hash)"),
        ("leaf_hash" = Option<String>, Query, description = "64 lowercase hex (or index)"),
        ("tree_size" = Option<u64>, Query, description = "Tree size (default: latest)"),
    ),
    responses(
        (status = 200, description = "An inclusion proof", body = crate::api::schema::InclusionProof),
        (status = 400, description = "Bad parameters", body = crate::api::schema::ErrorBody),
        (status = 404, description = "No entry with this leaf hash", body = crate::api::schema::ErrorBody),
    )
)]
pub(super) async fn inclusion(
    State(log): State<Arc<Log>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = Params::new(q, &["index", "leaf_hash", "tree_size"])?;
    let size = log.published().size;
    let tree_size = q.u64("tree_size")?.unwrap_or(size);
    if tree_size == 0 || tree_size > size {
        return Err(ApiError::param(format!(
            "tree_size must be between 1 and the current size {size}, got {tree_size}"
        )));
    }
    let by_hash = match (q.u64("index")?, q.get("leaf_hash")) {
        (Some(i), None) => {
            if i >= tree_size {
                return Err(ApiError::param(format!("index {i} is not below tree_size {tree_size}")));
            }
            Err(i)
        }
        (None, Some(h)) => {
            Ok(hex::decode_hash(h).ok_or_else(|| ApiError::param("leaf_hash must be 64 lowercase hex characters"))?)
        }
        _ => return Err(ApiError::param("give exactly one of index or leaf_hash")),
    };
    // Upper tree levels are in memory: a proof is a few block-cache reads,
    // answered on the spot.
    let (index, leaf, proof) = (|l: &Log| -> Result<_, crate::log::ReadError> {
        let index = match by_hash {
            Err(i) => i,
            Ok(h) => l.index_of_leaf(&h, tree_size)?.ok_or_else(|| {
                crate::log::ReadError::NotFound(format!(
                    "no entry with this leaf hash in the first {tree_size} entries"
                ))
            })?,
        };
        let leaf = l.store.leaf_hash(index)?;
        let proof = inclusion_proof(index, tree_size, l.store.as_ref()).map_err(proof_err)?;
        Ok((index, leaf, proof))
    })(&log)?;
    Ok(Json(serde_json::json!({
        "index": index,
        "tree_size": tree_size,
        "leaf_hash": b64::encode(leaf),
        "proof": b64s(&proof),
    }))
    .into_response())
}

/// `GET /v1/proofs/consistency`.
#[utoipa::path(
    get,
    path = "/v1/proofs/consistency",
    tag = "read",
    params(
        ("from" = u64, Query, description = "Older size, at least 1"),
        ("to" = Option<u64>, Query, description = "Newer size (default: latest)"),
    ),
    responses(
        (status = 200, description = "A consistency proof", body = crate::api::schema::ConsistencyProof),
        (status = 400, description = "Bad parameters", body = crate::api::schema::ErrorBody),
    )
)]
pub(super) async fn consistency(
    State(log): State<Arc<Log>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = Params::new(q, &["from", "to"])?;
    let size = log.published().size;
    let from = q.u64("from")?.ok_or_else(|| ApiError::param("from is required"))?;
    let to = q.u64("to")?.unwrap_or(size);
    if from == 0 || from > to || to > size {
        return Err(ApiError::param(format!(
            "need 1 <= from <= to <= {size} (the current size), got from={from} to={to}"
        )));
    }
    let proof = log
        .read(move |l| consistency_proof(from, to, l.store.as_ref()).map_err(proof_err))
        .await?;
    Ok(Json(serde_json::json!({"from": from, "to": to, "proof": b64s(&proof)})).into_response())
}
