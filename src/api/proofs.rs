//! `GET /v1/proofs/inclusion` and `GET /v1/proofs/consistency`.

use super::error::ApiError;
use super::params::Params;
use super::responses::{ConsistencyProof, InclusionProof};
use crate::log::Log;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use provlog_tlog::merkle::Hash;
use provlog_tlog::{b64, hex};
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
        (status = 200, description = "An inclusion proof", body = crate::api::responses::InclusionProof),
        (status = 400, description = "Bad parameters", body = crate::api::responses::ErrorBody),
        (status = 404, description = "No entry with this leaf hash", body = crate::api::responses::ErrorBody),
        (status = 503, description = "Too many reads in progress (Retry-After)", body = crate::api::responses::ErrorBody),
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
    // A proof by index whose nodes are all in memory is answered here; the
    // rest go to the blocking pool (a leaf hash is looked up in RocksDB,
    // and a proof by index may miss the caches). The hand-off to the pool
    // cost more than the proof itself (BENCHMARKS.md, issue 22).
    let cached = by_hash
        .err()
        .and_then(|i| log.cached_inclusion(i, tree_size).map(|(leaf, proof)| (i, leaf, proof)));
    let (index, leaf, proof) = match cached {
        Some(p) => p,
        None => {
            log.read(move |l| match by_hash {
                Err(i) => l.inclusion(Some(i), None, tree_size),
                Ok(h) => l.inclusion(None, Some(h), tree_size),
            })
            .await?
        }
    };
    Ok(Json(InclusionProof {
        index,
        tree_size,
        leaf_hash: b64::encode(leaf),
        proof: b64s(&proof),
    })
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
        (status = 200, description = "A consistency proof", body = crate::api::responses::ConsistencyProof),
        (status = 400, description = "Bad parameters", body = crate::api::responses::ErrorBody),
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
    let proof = crate::log::LogView::consistency_proof(log.as_ref(), from, to).await?;
    Ok(Json(ConsistencyProof {
        from,
        to,
        proof: b64s(&proof),
    })
    .into_response())
}
