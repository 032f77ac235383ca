//! `GET /`: the explorer, one self-contained page (no external assets) that
//! shows the latest checkpoint, the history and search, and verifies an
//! entry's inclusion proof, the checkpoint signature, witness
//! cosignatures, credential answers and pasted receipts in the browser
//! (`WebCrypto` SHA-256 and Ed25519) against the log key the user pinned,
//! or else the log's own vkey (and says which).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The page.
const PAGE: &str = include_str!("explorer.html");

/// Scripts and styles are inline; nothing may load from elsewhere, and the
/// page may only talk to this origin.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// `GET /`.
#[utoipa::path(
    get,
    path = "/",
    tag = "operate",
    responses((status = 200, description = "The explorer page", body = String, content_type = "text/html; charset=utf-8"))
)]
pub(super) async fn page() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PAGE,
    )
        .into_response()
}
