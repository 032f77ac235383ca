//! The one reader of a published log, used by the monitor, `fsck --url`,
//! `audit`, `restore` and `verify --url`: a [`Source`] of the static
//! tlog-tiles API (`checkpoint`, `tile/…`) over HTTP (the log, a mirror, a
//! CDN, a bucket's web endpoint), an object store, or a directory, with
//!
//! * the partial→full fallback written once ([`Source::tile`]): a published
//!   log may delete a partial tile once the full tile that replaces it
//!   exists (provlog's publisher does), so a reader that gets "not found"
//!   for `…/N.p/W` reads `…/N` and keeps its first `W` hashes or entries:
//!   the same bytes, because a tile only ever grows at its end;
//! * every body bounded by what the spec allows for that object
//!   ([`max_object_bytes`]), so a hostile server cannot make a reader
//!   allocate more;
//! * connect and request timeouts, and retries where a command asks for
//!   them ([`Source::with_retries`]);
//! * [`verified::snapshot`], the stream of entries checked against the
//!   checkpoint's root.

pub mod store;
pub mod verified;

use object_store::ObjectStore;
use provlog_tlog::note::MAX_NOTE_BYTES;
use provlog_tlog::tile::{MAX_ENTRY_BYTES, TileId, TileKind, decode_bundle, encode_bundle};

/// Hashes or entries in a full tile.
pub const FULL_TILE_WIDTH: u16 = 256;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why a read from a [`Source`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP client could not be built (TLS backend).
    #[error("building the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The request failed in transport (connect, timeout, reset).
    #[error("GET {url}")]
    Transport {
        /// What was fetched.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("GET {url}: {status}")]
    Status {
        /// What was fetched.
        url: String,
        /// The status.
        status: reqwest::StatusCode,
    },
    /// The object does not exist.
    #[error("{url}: not found")]
    NotFound {
        /// What was fetched.
        url: String,
    },
    /// The body is larger than the spec allows for that object.
    #[error("{url}: the response exceeds {limit} bytes, the most such an object can hold")]
    TooLarge {
        /// What was fetched.
        url: String,
        /// The bound.
        limit: usize,
    },
    /// The object store failed.
    #[error("reading {url}")]
    Store {
        /// What was read.
        url: String,
        /// Why.
        #[source]
        source: object_store::Error,
    },
    /// The directory could not be read.
    #[error("reading {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The object store URL cannot be opened.
    #[error(transparent)]
    StoreUrl(#[from] store::StoreUrlError),
    /// A partial tile is gone and its full tile does not hold it.
    #[error("{path}: the full tile does not hold this partial tile")]
    ShortFullTile {
        /// The partial tile's path.
        path: String,
    },
    /// A partial bundle is gone and its full bundle does not decode.
    #[error("{path}: the full bundle does not decode")]
    FullBundle {
        /// The partial bundle's path.
        path: String,
        /// Why.
        #[source]
        source: provlog_tlog::tile::TileError,
    },
}

/// Why a source's key history cannot be followed.
#[derive(Debug, thiserror::Error)]
pub enum LogKeysError {
    /// Fetching `log-keys` failed.
    #[error("fetching the log's key history")]
    Fetch(#[source] ClientError),
    /// It is not a key history.
    #[error("{url} is not a key history: {reason}")]
    Json {
        /// What was fetched.
        url: String,
        /// Why.
        reason: String,
    },
    /// It does not verify from the trusted key.
    #[error("the log's key history does NOT verify: {0}")]
    Rotation(#[from] provlog_proto::rotation::RotationError),
}

impl ClientError {
    /// Whether retrying may help: transport failures and server errors;
    /// not a missing object, an oversize body or a bad configuration.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Store { .. } | Self::Io { .. } => true,
            Self::Status { status, .. } => {
                status.is_server_error() || *status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }
}

/// The most bytes the object at `path` can hold under the specs: a
/// checkpoint is a signed note ([`MAX_NOTE_BYTES`]), a hash tile 256
/// hashes, an entry bundle 256 entries of at most [`MAX_ENTRY_BYTES`] with
/// their 2-byte lengths. Anything else gets the note bound.
#[must_use]
pub fn max_object_bytes(path: &str) -> usize {
    let full = usize::from(FULL_TILE_WIDTH);
    match TileId::parse_path(path) {
        Ok(t) if t.kind == TileKind::Entries => full * (2 + MAX_ENTRY_BYTES),
        Ok(_) => full * 32,
        Err(_) => MAX_NOTE_BYTES,
    }
}

/// An HTTP client with the timeouts a reader needs: a stalled server fails
/// a request (and the caller's retry logic runs) instead of hanging
/// forever. Every provlog HTTP client is built here.
///
/// # Errors
/// The TLS backend cannot be initialised.
pub fn http_client(request_timeout: Duration) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(request_timeout)
        .build()
        .map_err(ClientError::Client)
}

/// Retries of the commands that read a whole log (`audit`, `fsck --url`,
/// `restore`): over millions of fetches some meet a dropped connection
/// (the server closes idle keep-alive connections after
/// `header_timeout_ms`).
pub const READ_RETRIES: u32 = 4;

/// The request timeout of readers that fetch tiles and bundles.
pub const READ_TIMEOUT: Duration = Duration::from_mins(2);

/// GETs `url` with `client`: the body on 2xx (at most `limit` bytes),
/// `None` on 404. Not retried: [`Source::with_retries`] retries.
///
/// # Errors
/// Transport errors, statuses other than 2xx and 404, a body over `limit`.
pub async fn get_bounded(client: &reqwest::Client, url: &str, limit: usize) -> Result<Option<Vec<u8>>, ClientError> {
    let transport = |source| ClientError::Transport {
        url: url.to_owned(),
        source,
    };
    let mut r = client.get(url).send().await.map_err(transport)?;
    if r.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !r.status().is_success() {
        return Err(ClientError::Status {
            url: url.to_owned(),
            status: r.status(),
        });
    }
    let too_large = || ClientError::TooLarge {
        url: url.to_owned(),
        limit,
    };
    if r.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(r.content_length().map_or(0, |n| usize::try_from(n).unwrap_or(0)));
    while let Some(chunk) = r.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Where a published log is read from.
#[derive(Debug, Clone)]
enum Backend {
    Http { client: reqwest::Client, base: String },
    Store { store: Arc<dyn ObjectStore> },
    Dir { root: PathBuf },
}

/// A source of a published log's static API.
#[derive(Debug, Clone)]
pub struct Source {
    backend: Backend,
    /// How the source is named in errors (its URL or directory).
    name: String,
    retries: u32,
}

impl Source {
    /// A source over HTTP(S) at `base` (the prefix under which `checkpoint`
    /// and `tile/…` live).
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn http(base: &str) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        Ok(Self {
            backend: Backend::Http {
                client: http_client(READ_TIMEOUT)?,
                base: base.clone(),
            },
            name: base,
            retries: 0,
        })
    }

    /// A source over `http(s)://…`, an object store URL (`s3://`, `gs://`,
    /// `az://`, `file://`; credentials from the environment), or a plain
    /// directory path holding a copy of the static API.
    ///
    /// # Errors
    /// A URL this build cannot open.
    pub fn open(location: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<Self, ClientError> {
        if location.starts_with("http://") || location.starts_with("https://") {
            return Self::http(location);
        }
        if location.contains("://") {
            return Ok(Self {
                backend: Backend::Store {
                    store: store::open_store(location, endpoint, region)?,
                },
                name: location.trim_end_matches('/').to_owned(),
                retries: 0,
            });
        }
        Ok(Self {
            backend: Backend::Dir {
                root: PathBuf::from(location),
            },
            name: location.trim_end_matches('/').to_owned(),
            retries: 0,
        })
    }

    /// The same source, retrying transient failures `n` times (0.2 s, then
    /// doubling), for commands that run once and should ride out a node
    /// restarting or a reset connection (`restore`).
    #[must_use]
    pub fn with_retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// How the source is named (its URL or directory).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn get_opt_once(&self, path: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let limit = max_object_bytes(path);
        let url = || format!("{}/{path}", self.name);
        match &self.backend {
            Backend::Http { client, base } => get_bounded(client, &format!("{base}/{path}"), limit).await,
            Backend::Store { store } => match store::get_object(store.as_ref(), path).await {
                Ok(Some(b)) if b.len() > limit => Err(ClientError::TooLarge { url: url(), limit }),
                Ok(b) => Ok(b.map(|b| b.to_vec())),
                Err(source) => Err(ClientError::Store { url: url(), source }),
            },
            Backend::Dir { root } => {
                let file = root.join(path);
                match tokio::fs::metadata(&file).await {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(source) => return Err(ClientError::Io { path: file, source }),
                    Ok(m) if m.len() > limit as u64 => return Err(ClientError::TooLarge { url: url(), limit }),
                    Ok(_) => {}
                }
                tokio::fs::read(&file)
                    .await
                    .map(Some)
                    .map_err(|source| ClientError::Io { path: file, source })
            }
        }
    }

    /// The object at `path` (relative: `checkpoint`, `tile/0/000`), or
    /// `None` if it does not exist.
    ///
    /// # Errors
    /// [`ClientError`], after the retries for transient failures.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let mut wait = Duration::from_millis(200);
        let mut left = self.retries;
        loop {
            match self.get_opt_once(path).await {
                Err(e) if left > 0 && e.is_transient() => {
                    tracing::warn!(error = %error_chain(&e), retry_in = ?wait, "fetch failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    left -= 1;
                }
                r => return r,
            }
        }
    }

    /// The object at `path`, which must exist.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] and the errors of [`Source::get_opt`].
    pub async fn get(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        self.get_opt(path).await?.ok_or_else(|| ClientError::NotFound {
            url: format!("{}/{path}", self.name),
        })
    }

    /// The signed checkpoint note.
    ///
    /// # Errors
    /// The errors of [`Source::get`].
    pub async fn checkpoint(&self) -> Result<Vec<u8>, ClientError> {
        self.get("checkpoint").await
    }

    /// The log's keys for a reader that trusts `trusted`: the key history
    /// the source serves as `log-keys` (docs/ROTATION.md), verified from
    /// `trusted`; a source without one (a log that never rotated, or one
    /// older than rotations) gives `trusted` for every size.
    ///
    /// # Errors
    /// [`LogKeysError`]: the fetch failed, the history is not JSON, or it
    /// does not verify from `trusted`.
    pub async fn log_keys(
        &self,
        trusted: &provlog_tlog::keys::VerifierKey,
    ) -> Result<provlog_tlog::checkpoint::LogKeys, LogKeysError> {
        let Some(body) = self.get_opt("log-keys").await.map_err(LogKeysError::Fetch)? else {
            return Ok(provlog_tlog::checkpoint::LogKeys::single(trusted.clone()));
        };
        let h: provlog_proto::rotation::KeyHistory = serde_json::from_slice(&body).map_err(|e| LogKeysError::Json {
            url: format!("{}/log-keys", self.name),
            reason: e.to_string(),
        })?;
        Ok(h.verify(trusted)?.0)
    }

    /// Tile or bundle `t`, falling back to the full tile when a partial one
    /// is gone (see the module documentation).
    ///
    /// # Errors
    /// The errors of [`Source::get`]; a full tile that does not hold `t`.
    pub async fn tile(&self, t: &TileId) -> Result<Vec<u8>, ClientError> {
        let path = t.path();
        if let Some(body) = self.get_opt(&path).await? {
            return Ok(body);
        }
        if t.width >= FULL_TILE_WIDTH {
            return Err(ClientError::NotFound {
                url: format!("{}/{path}", self.name),
            });
        }
        let full = self.get(&full_tile(t).path()).await?;
        cut_to_partial(t, &full)
    }
}

pub use crate::util::error_chain;

/// The full tile that partial tile `t` becomes.
#[must_use]
pub fn full_tile(t: &TileId) -> TileId {
    TileId {
        width: FULL_TILE_WIDTH,
        ..*t
    }
}

/// The bytes of partial tile `t` taken from the body of its full tile.
///
/// # Errors
/// A full tile or bundle that does not hold `t.width` hashes or entries.
pub fn cut_to_partial(t: &TileId, full: &[u8]) -> Result<Vec<u8>, ClientError> {
    let w = usize::from(t.width);
    match t.kind {
        TileKind::Hash { .. } => full
            .get(..w * 32)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| ClientError::ShortFullTile { path: t.path() }),
        TileKind::Entries => {
            let entries = decode_bundle(full, usize::from(FULL_TILE_WIDTH))
                .map_err(|source| ClientError::FullBundle { path: t.path(), source })?;
            encode_bundle(entries.into_iter().take(w))
                .map_err(|source| ClientError::FullBundle { path: t.path(), source })
        }
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connection dropped before the answer (what an auditor met after
    /// 3.7 M entries) is retried by a source read with [`READ_RETRIES`].
    #[tokio::test]
    async fn a_get_whose_connection_drops_is_retried() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            // The first connection is closed as soon as the request is read.
            let (mut c, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf).await;
            drop(c);
            let (mut c, _) = listener.accept().await.expect("accept");
            let _ = c.read(&mut buf).await;
            c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
                .await
                .expect("write");
        });
        let source = Source::http(&format!("http://{addr}"))
            .expect("source")
            .with_retries(READ_RETRIES);
        let body = source.get_opt("tile/0/000").await.expect("retried");
        assert_eq!(body.as_deref(), Some(&b"hello"[..]));
        server.await.expect("server");
    }
}
