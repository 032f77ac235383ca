//! `GET /v1/openapi.json`: the `OpenAPI` 3.1 document of this API, built from
//! the `#[utoipa::path]` attributes next to the handlers. No UI is served:
//! any `OpenAPI` viewer can load the JSON.

use super::{admin, chains, entries, explorer, meta, proofs, scitt, search, tiles};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "provlog",
        description = "A transparency log for provisioning events of non-human identities: \
            signed events in, receipts out, everything provable offline. The C2SP static API \
            (`/checkpoint`, `/tile/...`) is served alongside.",
        license(name = "Apache-2.0")
    ),
    paths(
        entries::submit,
        entries::submit_batch,
        entries::heartbeat,
        chains::chain,
        entries::get_entry,
        entries::get_receipt,
        entries::get_explain,
        search::events,
        search::policies,
        search::credential,
        proofs::inclusion,
        proofs::consistency,
        meta::log_info,
        meta::checkpoint,
        meta::log_keys,
        meta::witnessed,
        meta::healthz,
        meta::readyz,
        meta::metrics,
        tiles::tile,
        admin::reload,
        admin::freeze,
        admin::rotate_key,
        openapi_json,
        explorer::page,
        scitt::register,
        scitt::receipt,
        scitt::configuration,
    ),
    modifiers(&AdminToken),
    tags(
        (name = "submit", description = "Log signed provisioning events"),
        (name = "read", description = "Entries, proofs, search, credential state"),
        (name = "static", description = "C2SP tlog-tiles static API"),
        (name = "admin", description = "Operator actions (bearer token)"),
        (name = "operate", description = "Health, readiness, metrics, documents"),
        (name = "scitt", description = "SCITT Transparency Service (RFC 9943, SCRAPI): register signed statements, COSE receipts"),
    )
)]
pub struct ApiDoc;

/// Adds the admin bearer-token scheme.
struct AdminToken;

impl utoipa::Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("admin_token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The document as JSON, built once.
#[must_use]
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    })
}

/// `GET /v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operate",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object, content_type = "application/json"))
)]
pub(super) async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        document(),
    )
        .into_response()
}
