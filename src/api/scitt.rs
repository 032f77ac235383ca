//! The SCITT Reference API (draft-ietf-scitt-scrapi) over the log:
//! `POST /entries` registers a signed statement and answers with its
//! COSE receipt, `GET /entries/<i>` is the receipt resource, and
//! `GET /.well-known/transparency-configuration` describes the service
//! (docs/SCITT.md).

use super::App;
use super::error::ApiError;
use super::params::Params;
use crate::log::Log;
use crate::log::sequencer::Outcome;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use provlog_proto::cose_receipt::CONTENT_TYPE as COSE;
use std::sync::Arc;

fn cose(status: StatusCode, bytes: Vec<u8>, location: Option<String>) -> Response {
    let mut r = (status, [(header::CONTENT_TYPE, HeaderValue::from_static(COSE))], bytes).into_response();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

/// Whether the request's `Content-Type` is `application/cose` (parameters
/// allowed).
fn is_cose(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(COSE))
}

/// `POST /entries`: registers a signed statement (`application/cose`) and
/// answers with its COSE receipt once it is durable and signed.
#[utoipa::path(
    post,
    path = "/entries",
    tag = "scitt",
    request_body(content = Vec<u8>, content_type = "application/cose", description = "A signed statement: a tagged COSE_Sign1 whose payload is a provisioning event's canonical JSON (docs/SCITT.md)"),
    responses(
        (status = 201, description = "Registered: its COSE receipt (RFC 9942); Location names the receipt resource", content_type = "application/cose", body = Vec<u8>),
        (status = 200, description = "A retry of a registered statement: its receipt against the latest checkpoint", content_type = "application/cose", body = Vec<u8>),
        (status = 400, description = "Malformed CBOR, not a tagged COSE_Sign1, unknown alg, detached payload, a claim in the unprotected header, an event that breaks its schema", body = crate::api::responses::ErrorBody),
        (status = 401, description = "An issuer that is no registered submitter, a kid that is not its key, or a signature that does not verify", body = crate::api::responses::ErrorBody),
        (status = 403, description = "Outside the submitter's scope, or the log is frozen", body = crate::api::responses::ErrorBody),
        (status = 409, description = "The event_id was used for a different event", body = crate::api::responses::ErrorBody),
        (status = 413, description = "Body over the limit", body = crate::api::responses::ErrorBody),
        (status = 415, description = "Not application/cose, or a payload content type the log does not register", body = crate::api::responses::ErrorBody),
        (status = 429, description = "Over the submitter's rate limit (Retry-After)", body = crate::api::responses::ErrorBody),
        (status = 503, description = "Overloaded or unable to append (Retry-After)", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn register(
    State(log): State<Arc<Log>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        if !is_cose(&headers) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "a signed statement is sent as Content-Type: application/cose",
            ));
        }
        let body = body.map_err(|e| super::entries::body_error(&e))?;
        let s = log.submit_statement(&body).await?;
        let receipt = log.cose_receipt_of(&s).await?;
        Ok::<_, ApiError>((s.outcome, s.index, receipt))
    }
    .await;
    let status = |o: Outcome| match o {
        Outcome::Created => StatusCode::CREATED,
        Outcome::Duplicate => StatusCode::OK,
    };
    match &r {
        Ok((o, ..)) => log.metrics().submission(
            status(*o).as_u16(),
            if *o == Outcome::Created { "created" } else { "duplicate" },
        ),
        Err(e) => log.metrics().submission(e.status.as_u16(), e.code),
    }
    match r {
        Ok((o, index, receipt)) => cose(status(o), receipt, Some(format!("/entries/{index}"))),
        Err(e) => e.into_response(),
    }
}

/// `GET /entries/<i>`: the receipt resource, entry `i`'s COSE receipt
/// against the latest checkpoint.
#[utoipa::path(
    get,
    path = "/entries/{index}",
    tag = "scitt",
    params(("index" = u64, Path, description = "Entry index")),
    responses(
        (status = 200, description = "The entry's COSE receipt (RFC 9942)", content_type = "application/cose", body = Vec<u8>),
        (status = 400, description = "Bad index", body = crate::api::responses::ErrorBody),
        (status = 404, description = "No such entry", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn receipt(
    State(log): State<Arc<Log>>,
    index: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let index = super::entries::index_param(index)?;
    Params::new(q, &[])?;
    Ok(cose(StatusCode::OK, log.cose_receipt(index).await?, None))
}

/// What `GET /.well-known/transparency-configuration` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct TransparencyConfiguration {
    /// The service's issuer: the log's checkpoint origin, the `iss` of its
    /// receipts.
    issuer: String,
    /// The verifiable data structure of its receipts (RFC 9942).
    verifiable_data_structure: &'static str,
    /// The `alg`s it signs receipts with and accepts on statements.
    supported_algorithms: Vec<&'static str>,
    /// The payload content types it registers.
    supported_content_types: Vec<&'static str>,
    /// The log's keys: every key it signed with.
    keys: Vec<ServiceKey>,
    /// Where the registration policy is: the logged submitter registry.
    registration_policy: RegistrationPolicy,
    /// The SCRAPI endpoints.
    endpoints: Endpoints,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct ServiceKey {
    /// The receipts' `kid`: the 4-byte C2SP key ID, hex.
    kid: String,
    /// `EdDSA`.
    alg: &'static str,
    /// The raw Ed25519 public key, base64.
    public_key: String,
    /// The signed-note verifier key.
    vkey: String,
    /// The smallest tree size it signs.
    from_size: u64,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct RegistrationPolicy {
    /// What it is.
    description: &'static str,
    /// The entry index of the registry in force, if one is logged.
    entry: Option<u64>,
    /// The URL of that entry.
    url: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Endpoints {
    register: &'static str,
    receipt: &'static str,
    entry: &'static str,
    checkpoint: &'static str,
    log_keys: &'static str,
}

/// `GET /.well-known/transparency-configuration`: the service's issuer,
/// keys, algorithms and registration policy.
#[utoipa::path(
    get,
    path = "/.well-known/transparency-configuration",
    tag = "scitt",
    responses((status = 200, description = "The transparency service's configuration", body = TransparencyConfiguration))
)]
pub(super) async fn configuration(State(app): State<App>) -> Response {
    let log = &app.log;
    let keys = log
        .log_keys()
        .iter()
        .map(|(k, after)| ServiceKey {
            kid: provlog_tlog::hex::encode(k.key_id().to_be_bytes()),
            alg: "EdDSA",
            public_key: provlog_tlog::b64::encode(k.public_key()),
            vkey: k.to_vkey_string(),
            from_size: after.map_or(0, |a| a + 1),
        })
        .collect();
    let entry = log.policy_index();
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(TransparencyConfiguration {
            issuer: log.origin().to_owned(),
            verifiable_data_structure: "RFC9162_SHA256",
            supported_algorithms: vec!["EdDSA"],
            supported_content_types: vec![provlog_proto::statement::EVENT_CONTENT_TYPE],
            keys,
            registration_policy: RegistrationPolicy {
                description: "the submitter registry logged in this log (a policy entry): who may register, with which key, for which actions and targets, with which approvals and Cedar policies",
                entry,
                url: entry.map(|i| format!("/v1/entries/{i}")),
            },
            endpoints: Endpoints {
                register: "/entries",
                receipt: "/entries/{index}",
                entry: "/v1/entries/{index}",
                checkpoint: "/checkpoint",
                log_keys: "/log-keys",
            },
        }),
    )
        .into_response()
}
