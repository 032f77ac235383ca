//! Reading the static tlog-tiles API over HTTP, as every provlog reader
//! (monitor, fsck, audit, verify, restore) does, from the log itself, a
//! mirror, a CDN or an object store's web endpoint.
//!
//! A published log may delete a partial tile once the full tile that
//! replaces it exists (provlog's publisher does), so a reader that asks for
//! `…/N.p/W` and gets 404 falls back to the full tile `…/N` and keeps its
//! first `W` hashes or entries: they are the same bytes, because a tile
//! only ever grows at its end.

use anyhow::{Context, Result, bail};
use provlog_proto::tile::{TileId, TileKind, decode_bundle, encode_bundle};
use std::time::Duration;

/// Hashes or entries in a full tile.
const FULL_WIDTH: u16 = 256;

/// A client with the timeouts a reader needs: a stalled server fails a
/// request (and its retry logic runs) instead of hanging forever.
///
/// # Errors
/// The TLS backend cannot be initialised.
pub fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// GETs `url`: the body on 2xx, `None` on 404, an error otherwise.
///
/// # Errors
/// Transport errors and statuses other than 2xx and 404.
pub async fn get(client: &reqwest::Client, url: &str) -> Result<Option<Vec<u8>>> {
    let r = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    if r.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !r.status().is_success() {
        bail!("GET {url}: {}", r.status());
    }
    Ok(Some(r.bytes().await.with_context(|| format!("GET {url}"))?.to_vec()))
}

/// GETs `url`, failing on any non-2xx status.
///
/// # Errors
/// Transport errors and non-2xx statuses.
pub async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>> {
    get(client, url)
        .await?
        .with_context(|| format!("GET {url}: 404 Not Found"))
}

/// GETs tile `t` under `base`, falling back to the full tile when a partial
/// one is gone (see the module documentation).
///
/// # Errors
/// Transport errors, non-2xx statuses, a full tile that is too short.
pub async fn fetch_tile(client: &reqwest::Client, base: &str, t: &TileId) -> Result<Vec<u8>> {
    let url = format!("{base}/{}", t.path());
    if let Some(body) = get(client, &url).await? {
        return Ok(body);
    }
    if t.width >= FULL_WIDTH {
        bail!("GET {url}: 404 Not Found");
    }
    let full = full_tile(t);
    let body = fetch(client, &format!("{base}/{}", full.path()))
        .await
        .with_context(|| format!("GET {url}: 404 Not Found, and its full tile"))?;
    cut_to_partial(t, &body)
}

/// The full tile that partial tile `t` becomes.
#[must_use]
pub fn full_tile(t: &TileId) -> TileId {
    TileId {
        width: FULL_WIDTH,
        ..*t
    }
}

/// The bytes of partial tile `t` taken from the body of its full tile.
///
/// # Errors
/// A full tile or bundle that does not hold `t.width` hashes or entries.
pub fn cut_to_partial(t: &TileId, full: &[u8]) -> Result<Vec<u8>> {
    let w = usize::from(t.width);
    match t.kind {
        TileKind::Hash { .. } => full
            .get(..w * 32)
            .map(<[u8]>::to_vec)
            .with_context(|| format!("{}: the full tile is too short", t.path())),
        TileKind::Entries => {
            let entries = decode_bundle(full, usize::from(FULL_WIDTH))
                .with_context(|| format!("{}: the full bundle does not decode", t.path()))?;
            Ok(encode_bundle(entries.into_iter().take(w))?)
        }
    }
}
