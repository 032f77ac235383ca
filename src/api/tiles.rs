//! The C2SP tlog-tiles static API: `GET /tile/<L>/<N>[.p/<W>]` and
//! `GET /tile/entries/<N>[.p/<W>]`.
//!
//! A tile or bundle is served when every hash or entry it holds is complete
//! in the latest published tree: full ones, the current partial one, and
//! any narrower partial one (a prefix that an earlier checkpoint justified;
//! its bytes never change). All of them are immutable and cached as such;
//! 404s are not cached.

use super::error::ApiError;
use crate::log::Log;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use provlog_tlog::tile::TileId;
use std::sync::Arc;

/// `Cache-Control` of immutable static resources.
use crate::http::IMMUTABLE_CACHE_CONTROL as IMMUTABLE;

/// A shared tile body handed to the response without copying.
struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// `GET /tile/...`: C2SP tlog-tiles hash tiles and entry bundles.
#[utoipa::path(
    get,
    path = "/tile/{path}",
    tag = "static",
    params(("path" = String, Path, description = "A C2SP tlog-tiles path after `tile/` (it contains slashes): `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, N in `x001/x234/067` form")),
    responses(
        (status = 200, description = "The tile or bundle bytes (full tiles are immutable)", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 400, description = "Not a tile path", body = crate::api::responses::ErrorBody),
        (status = 404, description = "Beyond the current tree size", body = crate::api::responses::ErrorBody),
    )
)]
pub(super) async fn tile(
    State(log): State<Arc<Log>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(rest) =
        path.map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_tile_path", e.body_text()))?;
    let full = format!("tile/{rest}");
    let tile = TileId::parse_path(&full).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_tile_path",
            format!("{full}: {e}"),
        )
    })?;
    let size = log.published().size;
    let body = crate::log::LogView::tile(log.as_ref(), tile, size).await?;
    let body = bytes::Bytes::from_owner(ArcBytes(body));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
        ],
        body,
    )
        .into_response())
}
