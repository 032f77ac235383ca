//! `GET /v1/events` (search by identity) and
//! `GET /v1/credentials/<fingerprint>` (credential state with proofs).

use super::error::ApiError;
use super::params::Params;
use crate::log::{Log, MAX_SEARCH_LIMIT, SearchQuery};
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
        ("from" = Option<String>, Query, description = "Only entries logged at or after this time (`logged_at`; RFC 3339, or YYYY-MM-DD for its first instant in UTC)"),
        ("to" = Option<String>, Query, description = "Only entries logged before this time (`logged_at`, exclusive)"),
        ("occurred_from" = Option<String>, Query, description = "Only events whose `occurred_at` is at or after this time"),
        ("occurred_to" = Option<String>, Query, description = "Only events whose `occurred_at` is before this time (exclusive)"),
        ("tree_size" = Option<u64>, Query, description = "Search the first tree_size entries and give each entry its inclusion proof (`proof`) against the checkpoint of that size"),
        ("after" = Option<u64>, Query, description = "Last index already seen (exclusive)"),
        ("limit" = Option<usize>, Query, description = "Most entries per page, 1 to 1,000 (default 100); a page also ends where the next entry would take it past max_answer_bytes"),
    ),
    responses(
        (status = 200, description = "Matching entries in index order", body = crate::api::responses::EventsPage),
        (status = 400, description = "Bad or unknown parameter", body = crate::api::responses::ErrorBody),
        (status = 503, description = "Too many reads in progress (Retry-After)", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn events(
    State(log): State<Arc<Log>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = Params::new(
        q,
        &[
            "target",
            "actor",
            "credential",
            "action",
            "after",
            "limit",
            "from",
            "to",
            "occurred_from",
            "occurred_to",
            "tree_size",
        ],
    )?;
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
    let bound = |name: &str| {
        q.get(name)
            .map(|v| provlog_proto::time::parse_bound(v).map_err(|e| ApiError::param(format!("{name}: {}", e.0))))
            .transpose()
    };
    let logged = (bound("from")?, bound("to")?);
    let occurred = match (bound("occurred_from")?, bound("occurred_to")?) {
        (None, None) => None,
        w => Some(w),
    };
    for (name, (f, t)) in [
        ("from/to", logged),
        ("occurred_from/occurred_to", occurred.unwrap_or_default()),
    ] {
        if let (Some(f), Some(t)) = (f, t)
            && f > t
        {
            return Err(ApiError::param(format!("{name}: the window ends before it begins")));
        }
    }
    let published = log.published().size;
    let proof_size = match q.u64("tree_size")? {
        Some(n) if n == 0 || n > published => {
            return Err(ApiError::param(format!("tree_size must be 1 to {published}")));
        }
        n => n,
    };
    let q = SearchQuery {
        filters,
        after,
        limit,
        logged,
        occurred,
    };
    let size = proof_size.unwrap_or(published);
    let (deadline, budget) = read_limits(&log);
    crate::http::stream::json(deadline, task_failed, move |w| {
        super::answers::events_page(&log, &q, size, proof_size, budget, w)
    })
    .await
}

/// `GET /v1/policies`: the log's registry history.
#[utoipa::path(
    get,
    path = "/v1/policies",
    tag = "read",
    params(
        ("tree_size" = Option<u64>, Query, description = "List the policy leaves in the first tree_size entries, each with its inclusion proof (`proof`) against the checkpoint of that size"),
        ("after" = Option<u64>, Query, description = "Last index already seen (exclusive)"),
        ("limit" = Option<usize>, Query, description = "Most entries per page, 1 to 1,000 (default 100)"),
    ),
    responses(
        (status = 200, description = "The policy leaves (every change of the submitter registry, the first included) in index order", body = crate::api::responses::EventsPage),
        (status = 400, description = "Bad or unknown parameter", body = crate::api::responses::ErrorBody),
        (status = 503, description = "Too many reads in progress (Retry-After)", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn policies(
    State(log): State<Arc<Log>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = Params::new(q, &["after", "limit", "tree_size"])?;
    let limit = q.u64("limit")?.map_or(Ok(DEFAULT_LIMIT), |l| {
        usize::try_from(l)
            .ok()
            .filter(|l| (1..=MAX_SEARCH_LIMIT).contains(l))
            .ok_or_else(|| ApiError::param(format!("limit must be 1 to {MAX_SEARCH_LIMIT}")))
    })?;
    let after = q.u64("after")?;
    let published = log.published().size;
    let proof_size = match q.u64("tree_size")? {
        Some(n) if n == 0 || n > published => {
            return Err(ApiError::param(format!("tree_size must be 1 to {published}")));
        }
        n => n,
    };
    let size = proof_size.unwrap_or(published);
    let (deadline, budget) = read_limits(&log);
    crate::http::stream::json(deadline, task_failed, move |w| {
        super::answers::policies_page(&log, after, limit, size, proof_size, budget, w)
    })
    .await
}

/// The deadline of a streamed answer begun now, and its byte budget.
fn read_limits(log: &Log) -> (tokio::time::Instant, u64) {
    let l = log.limits();
    (
        tokio::time::Instant::now() + std::time::Duration::from_millis(l.request_timeout_ms),
        l.max_answer_bytes as u64,
    )
}

fn task_failed() -> ApiError {
    ApiError::internal(&"a read task failed")
}

/// `GET /v1/credentials/<fingerprint>`: the credential's committed record
/// (or its absence) with proofs, and on request its history.
#[utoipa::path(
    get,
    path = "/v1/credentials/{fingerprint}",
    tag = "read",
    params(
        ("fingerprint" = String, Path, description = "sha256:<64 lowercase hex>"),
        ("history" = Option<bool>, Query, description = "Also list the events naming the credential, each with its inclusion proof (paged)"),
        ("after" = Option<u64>, Query, description = "For the next page of a long history: the previous page's next_after"),
        ("tree_size" = Option<u64>, Query, description = "Answer against the kept checkpoint of this size (pin every page of one answer to the first page's size)"),
        ("at" = Option<u64>, Query, description = "Answer with the credential map in force when this entry was logged (the last state commitment at or before it), not the latest"),
    ),
    responses(
        (status = 200, description = "The record (absent: unknown) with its map proof against the last state commitment, the commitment leaf with its inclusion proof, the checkpoint (witnessed when the log has witnesses), and with history=true the events (or a page of them, with next_after)", body = provlog_proto::credential::CredentialAnswer),
        (status = 400, description = "Malformed fingerprint or parameter, or a history too long to answer", body = crate::api::responses::ErrorBody),
        (status = 404, description = "No checkpoint of this tree_size is kept", body = crate::api::responses::ErrorBody),
        (status = 409, description = "The pinned checkpoint predates the last state commitment: ask again without tree_size", body = crate::api::responses::ErrorBody),
        (status = 410, description = "The map version in force at `at` is older than the retention and was pruned", body = crate::api::responses::ErrorBody),
        (status = 503, description = "No state commitment (or no witnessed checkpoint) yet, or too many reads in progress (Retry-After)", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn credential(
    State(app): State<crate::api::App>,
    fp: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(fingerprint) = fp.map_err(|e| ApiError::param(e.body_text()))?;
    check_fingerprint("fingerprint", &fingerprint).map_err(|e| ApiError::param(e.to_string()))?;
    let q = Params::new(q, &["after", "tree_size", "history", "at"])?;
    let history = match q.get("history") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(ApiError::param(format!("history must be true or false, got {other:?}"))),
    };
    let log = Arc::clone(&app.log);
    // With witnesses, answers are against the latest witnessed checkpoint.
    let checkpoint = match app.witnessing.as_deref() {
        None => None,
        Some(w) => {
            let c = w.witnessed().ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "not_witnessed",
                    "no checkpoint is witnessed yet; retry shortly",
                )
            })?;
            Some((c.size, c.note.clone()))
        }
    };
    let q = super::answers::CredentialQuery {
        fingerprint,
        checkpoint,
        tree_size: q.u64("tree_size")?,
        history,
        after: q.u64("after")?,
        at: q.u64("at")?,
    };
    if !q.history {
        // A few hundred bytes to a few KiB, mostly from memory: no stream.
        let body = super::answers::credential_small(&log, &q).await?;
        return Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    let (deadline, budget) = read_limits(&log);
    crate::http::stream::json(deadline, task_failed, move |w| {
        super::answers::credential(&log, &q, budget, w)
    })
    .await
}
