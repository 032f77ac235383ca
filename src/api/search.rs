//! `GET /v1/events` (search by identity) and
//! `GET /v1/credentials/<fingerprint>` (credential state with proofs).

use super::error::ApiError;
use super::params::Params;
use super::responses::{Entry, EventsPage};
use crate::log::{Log, MAX_SEARCH_LIMIT, SearchQuery};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use provlog_proto::event::{MAX_ID_BYTES, Term, check_action, check_fingerprint};
use std::sync::Arc;

/// Default page size of `GET /v1/events`.
pub(super) const DEFAULT_LIMIT: usize = 100;

fn filter_value(term: Term, v: &str) -> Result<String, ApiError> {
    let name = term.param();
    if v.is_empty() {
        return Err(ApiError::param(format!("{name} must not be empty")));
    }
    if v.len() > MAX_ID_BYTES {
        return Err(ApiError::param(format!("{name} is longer than {MAX_ID_BYTES} bytes")));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::param(format!("{name} contains a control character")));
    }
    match term {
        Term::Credential => check_fingerprint("credential", v).map_err(|e| ApiError::param(e.to_string()))?,
        Term::Action => check_action(v).map_err(|e| ApiError::param(e.to_string()))?,
        Term::Target | Term::Actor => {}
    }
    Ok(v.to_owned())
}

/// `GET /v1/events`: search by identity.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "read",
    params(
        ("target" = Option<String>, Query, description = "target.id"),
        ("actor" = Option<String>, Query, description = "actor.id"),
        ("credential" = Option<String>, Query, description = "credential.fingerprint or previous_fingerprint"),
        ("action" = Option<String>, Query, description = "action"),
        ("after" = Option<u64>, Query, description = "Last index already seen (exclusive)"),
        ("limit" = Option<usize>, Query, description = "Page size, 1 to 1,000 (default 100)"),
    ),
    responses(
        (status = 200, description = "Matching entries in index order", body = crate::api::responses::EventsPage),
        (status = 400, description = "Bad or unknown parameter", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn events(
    State(log): State<Arc<Log>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = Params::new(q, &["target", "actor", "credential", "action", "after", "limit"])?;
    let mut filters = Vec::new();
    for term in Term::ALL {
        if let Some(v) = q.get(term.param()) {
            filters.push((term, filter_value(term, v)?));
        }
    }
    let limit = q.u64("limit")?.map_or(Ok(DEFAULT_LIMIT), |l| {
        usize::try_from(l)
            .ok()
            .filter(|l| (1..=MAX_SEARCH_LIMIT).contains(l))
            .ok_or_else(|| ApiError::param(format!("limit must be 1 to {MAX_SEARCH_LIMIT}")))
    })?;
    let after = q.u64("after")?;
    let (entries, next_after) = log.search(SearchQuery { filters, after, limit }).await?;
    let entries = entries.iter().map(|(i, e)| Entry::new(*i, e)).collect();
    Ok(Json(EventsPage { entries, next_after }).into_response())
}

/// `GET /v1/credentials/<fingerprint>`: state, history and proofs.
#[utoipa::path(
    get,
    path = "/v1/credentials/{fingerprint}",
    tag = "read",
    params(("fingerprint" = String, Path, description = "sha256:<64 lowercase hex>")),
    responses(
        (status = 200, description = "The derived state, every event naming the credential, one checkpoint and a proof per event", body = provlog_proto::credential::CredentialAnswer),
        (status = 400, description = "Malformed fingerprint, or a history too long to answer", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn credential(
    State(log): State<Arc<Log>>,
    fp: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(fp) = fp.map_err(|e| ApiError::param(e.body_text()))?;
    Ok(Json(log.credential(fp).await?).into_response())
}
