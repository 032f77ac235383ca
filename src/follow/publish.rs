//! Publishing the log's static API (C2SP tlog-tiles) to object storage, so
//! that reads and durability outgrow one machine: readers (monitors,
//! auditors, gateways, a CDN) fetch `checkpoint` and `tile/…` from the
//! store under exactly the paths the log serves, and `provlog restore`
//! rebuilds a data directory from it.
//!
//! ## Order and guarantees
//! Each round publishes the latest checkpoint `N` after the last one
//! published `M`:
//! 1. every tile and bundle that is new between `M` and `N` (Go
//!    `tlog.NewTiles`: the tiles that became full, and the partial tiles at
//!    `N`), several at once;
//! 2. only when all of them are stored, the checkpoint.
//!
//! So a reader never sees a checkpoint whose tiles are missing. Every tile
//! path is write-once: a tile's bytes never change once it exists, so the
//! publisher reads an object before writing it, writes it if absent, skips
//! it if equal, and **refuses** it if different: that is a fork (another
//! log, or a history rewritten), the publisher stops and raises an alarm
//! (`/v1/log`, `provlog_publish_alarm`). Objects left by a round that
//! crashed are therefore repaired (absent) or confirmed (equal) by the
//! next round before any checkpoint is published.
//!
//! Failures are retried with exponential back-off (up to 30 s) and never
//! block sequencing: the publisher only reads the store. The lag (entries
//! and seconds behind) is a metric and part of `/v1/log`. With
//! `ack_after_publish`, `POST /v1/entries` answers only once the entry's
//! checkpoint is in the store ([`Publisher::wait_published`]).

use crate::log::Log;
use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, AttributeValue, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};
use provlog_proto::checkpoint::open_checkpoint;
use provlog_proto::tile::{TileId, new_tiles};
use serde::Deserialize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// `Cache-Control` of tiles and bundles (their bytes never change).
pub const TILE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of the checkpoint (it moves on every round).
pub const CHECKPOINT_CACHE_CONTROL: &str = "public, max-age=2, must-revalidate";
/// Tiles uploaded at once.
const PARALLEL_UPLOADS: usize = 16;
/// Longest pause between failed rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The `[publish]` table of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// Where: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix` (with the `gcs`/`azure` features) or
    /// `file:///absolute/dir`.
    pub url: String,
    /// S3-compatible endpoint (Garage, MinIO, Ceph…); default: AWS, or
    /// `AWS_ENDPOINT`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region; default `AWS_REGION`, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Answer `POST /v1/entries` only once the entry's checkpoint is in the
    /// store (survives the loss of this machine; adds the upload latency).
    #[serde(default)]
    pub ack_after_publish: bool,
    /// Refuse to start when the store cannot be read at start (default);
    /// `false` starts anyway and keeps retrying (the lag grows meanwhile).
    #[serde(default = "yes")]
    pub required: bool,
    /// How long a submission waits for its checkpoint to be published with
    /// `ack_after_publish` before it gets `503` (and is retried by the
    /// client with the same `event_id`), ms.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_ms: u64,
    /// Where readers fetch the published log (shown in `/v1/log`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Rounds start at most once per this many ms: fewer requests and
    /// fewer short-lived partial tiles under load (checkpoints coalesce).
    /// Not applied with `ack_after_publish`, where rounds run back to back
    /// because waiting submitters would pay the interval in latency.
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
}

impl PublishConfig {
    /// Defaults for `url`.
    #[must_use]
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            endpoint: None,
            region: None,
            ack_after_publish: false,
            required: true,
            ack_timeout_ms: default_ack_timeout(),
            public_url: None,
            interval_ms: default_interval(),
        }
    }
}

const fn yes() -> bool {
    true
}

const fn default_interval() -> u64 {
    200
}

const fn default_ack_timeout() -> u64 {
    10_000
}

/// Opens an object store URL. Credentials come from the usual environment
/// variables of each cloud (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_STORAGE_…`).
///
/// # Errors
/// A URL the build cannot open (scheme, missing feature, bad options).
pub fn open_store(url: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<Arc<dyn ObjectStore>> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("object store URL {url:?}"))?;
    let prefix = parsed.path().trim_matches('/').to_owned();
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "file" => {
            let dir = std::path::PathBuf::from(parsed.path());
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            return Ok(Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .with_context(|| format!("opening {}", dir.display()))?,
            ));
        }
        #[cfg(feature = "s3")]
        "s3" => {
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_url(url)
                .with_retry(quick_retries())
                .with_client_options(client_options());
            if let Some(e) = endpoint {
                b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
            }
            if let Some(r) = region {
                b = b.with_region(r);
            }
            Arc::new(b.build().with_context(|| format!("configuring {url}"))?)
        }
        #[cfg(feature = "gcs")]
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_retry(quick_retries())
                .with_client_options(client_options())
                .build()
                .with_context(|| format!("configuring {url}"))?,
        ),
        #[cfg(feature = "azure")]
        "az" | "azure" | "abfs" => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_retry(quick_retries())
                .with_client_options(client_options())
                .build()
                .with_context(|| format!("configuring {url}"))?,
        ),
        other => bail!(
            "object store URL {url:?}: scheme {other:?} is not supported by this build (file, s3{}{})",
            if cfg!(feature = "gcs") { ", gs" } else { "" },
            if cfg!(feature = "azure") { ", az" } else { "" }
        ),
    };
    let _ = (endpoint, region);
    if prefix.is_empty() {
        Ok(store)
    } else {
        Ok(Arc::new(object_store::prefix::PrefixStore::new(store, prefix)))
    }
}

/// The publisher retries whole rounds itself (with back-off, forever), so
/// each request gives up quickly instead of the client's default minutes.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn quick_retries() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
        backoff: object_store::BackoffConfig::default(),
    }
}

#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn client_options() -> object_store::ClientOptions {
    object_store::ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(30))
}

/// A store's object, or `None` if absent.
///
/// # Errors
/// Anything but "not found".
pub async fn get_object(store: &dyn ObjectStore, path: &str) -> Result<Option<bytes::Bytes>, object_store::Error> {
    match store.get(&ObjectPath::from(path)).await {
        Ok(r) => Ok(Some(r.bytes().await?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the publisher reports.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct PublishStatus {
    /// Where it publishes.
    pub url: String,
    /// Where readers fetch it, if configured.
    pub public_url: Option<String>,
    /// Size of the checkpoint in the store.
    pub published_size: u64,
    /// Entries in the log but not yet in the store.
    pub lag_entries: u64,
    /// Seconds since the oldest unpublished checkpoint was signed (0 when
    /// caught up).
    pub lag_seconds: f64,
    /// Whether submissions wait for publication.
    pub ack_after_publish: bool,
    /// The last error, while failing.
    pub error: Option<String>,
    /// A fork: the store holds bytes this log did not write. Publishing has
    /// stopped.
    pub alarm: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    error: Option<String>,
    alarm: Option<String>,
    /// When the log first got ahead of the store, while it is.
    behind_since: Option<Instant>,
}

/// The publisher of one log.
#[derive(Debug)]
pub struct Publisher {
    store: Arc<dyn ObjectStore>,
    url: String,
    public_url: Option<String>,
    /// Attributes (content type, cache control) are sent when the backend
    /// keeps them; the local filesystem does not.
    attributes: bool,
    /// The size whose checkpoint is in the store, once checked against
    /// this log.
    published: watch::Sender<u64>,
    state: Mutex<State>,
    /// Submissions wait for publication.
    pub ack_after_publish: bool,
    /// How long they wait.
    pub ack_timeout: Duration,
    interval: Duration,
}

/// Why a submission was not acknowledged after publication.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// Not published in time (the entry is durable in the log).
    #[error(
        "entry {index} is durable in the log but its checkpoint is not yet in the object store; \
         retry with the same event_id"
    )]
    NotYet {
        /// The entry.
        index: u64,
    },
    /// Publishing stopped on a fork.
    #[error("publishing stopped: {0}")]
    Stopped(String),
}

impl Publisher {
    /// Opens the store and checks that its checkpoint, if any, is signed by
    /// this log (how far it matches this log's history is checked when
    /// publishing starts). With `required`, a store that cannot be read is
    /// an error naming it; otherwise the publisher starts degraded and
    /// retries.
    ///
    /// # Errors
    /// Bad configuration; an unreachable store when `required`.
    pub async fn open(cfg: &PublishConfig, vkey: &provlog_proto::keys::VerifierKey) -> Result<Self> {
        let store = open_store(&cfg.url, cfg.endpoint.as_deref(), cfg.region.as_deref())?;
        let attributes = !cfg.url.starts_with("file:");
        // A transient failure (a reset connection, a node restarting) is
        // retried a few times before a required store stops the start;
        // refused credentials are not.
        let mut first = get_object(store.as_ref(), "checkpoint").await;
        let mut wait = Duration::from_millis(250);
        for _ in 0..3 {
            match &first {
                Err(object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }) => {
                    break;
                }
                Err(e) if cfg.required => {
                    tracing::warn!(error = %e, retry_in = ?wait, "cannot read the object store; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    first = get_object(store.as_ref(), "checkpoint").await;
                }
                _ => break,
            }
        }
        let error = match first {
            Ok(None) => None,
            Ok(Some(note)) => {
                open_checkpoint(&note, vkey).with_context(|| {
                    format!(
                        "{}/checkpoint is not a checkpoint of this log ({}): refusing to publish over it",
                        cfg.url,
                        vkey.to_vkey_string()
                    )
                })?;
                None
            }
            Err(e) if cfg.required => {
                bail!(
                    "cannot read the object store {} (publish.required = true): {e}",
                    cfg.url
                )
            }
            Err(e) => Some(format!("reading {}/checkpoint: {e}", cfg.url)),
        };
        if let Some(e) = &error {
            tracing::warn!(error = %e, "object store unreachable at start; publishing will retry");
        }
        Ok(Self {
            store,
            url: cfg.url.clone(),
            public_url: cfg.public_url.clone(),
            attributes,
            // Trusted only once `check_history` has compared the store's
            // checkpoint with this log: until then nothing counts as
            // published, so `ack_after_publish` cannot acknowledge an entry
            // on the strength of a store that holds another history.
            published: watch::channel(0).0,
            state: Mutex::new(State {
                error,
                ..State::default()
            }),
            ack_after_publish: cfg.ack_after_publish,
            ack_timeout: Duration::from_millis(cfg.ack_timeout_ms),
            interval: Duration::from_millis(cfg.interval_ms),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The size whose checkpoint is in the store.
    #[must_use]
    pub fn published_size(&self) -> u64 {
        *self.published.borrow()
    }

    /// The status against a log of `log_size` entries.
    #[must_use]
    pub fn status(&self, log_size: u64) -> PublishStatus {
        let s = self.state();
        let published_size = self.published_size();
        PublishStatus {
            url: self.url.clone(),
            public_url: self.public_url.clone(),
            published_size,
            lag_entries: log_size.saturating_sub(published_size),
            lag_seconds: if log_size > published_size {
                s.behind_since.map_or(0.0, |t| t.elapsed().as_secs_f64())
            } else {
                0.0
            },
            ack_after_publish: self.ack_after_publish,
            error: s.error.clone(),
            alarm: s.alarm.clone(),
        }
    }

    /// Waits until the entry at `index` is inside a published checkpoint.
    ///
    /// # Errors
    /// [`AckError`] after `ack_timeout`, or when publishing stopped.
    pub async fn wait_published(&self, index: u64) -> Result<(), AckError> {
        let mut rx = self.published.subscribe();
        let wait = async {
            loop {
                // An alarm answers at once (`raise` wakes the waiters).
                if let Some(a) = self.state().alarm.clone() {
                    return Err(AckError::Stopped(a));
                }
                if *rx.borrow_and_update() > index {
                    return Ok(());
                }
                if rx.changed().await.is_err() {
                    return Err(AckError::NotYet { index });
                }
            }
        };
        tokio::time::timeout(self.ack_timeout, wait)
            .await
            .unwrap_or(Err(AckError::NotYet { index }))
    }

    /// Records a failed attempt (the lag counts from now if the log is
    /// ahead of what is confirmed published) and waits out the back-off.
    async fn failed(&self, log: &Log, why: String, backoff: &mut Duration) {
        tracing::warn!(error = %why, retry_in = ?*backoff, "cannot publish to the object store; retrying");
        log.metrics.publish_failed();
        {
            let mut s = self.state();
            if log.published().size > self.published_size() {
                s.behind_since.get_or_insert_with(Instant::now);
            }
            s.error = Some(why);
        }
        tokio::time::sleep(*backoff).await;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
    }

    /// Stops publishing on a fork: records the alarm, counts it, and wakes
    /// every submission waiting for publication so that it fails now.
    fn raise(&self, log: &Log, why: String) {
        tracing::error!(alarm = %why, "publishing stopped: the object store holds a different history");
        log.metrics.publish_alarm();
        self.state().alarm = Some(why);
        self.published.send_modify(|_| {});
    }

    fn put_options(&self, content_type: &'static str, cache: &'static str) -> PutOptions {
        let mut attributes = Attributes::new();
        if self.attributes {
            attributes.insert(Attribute::ContentType, AttributeValue::from(content_type));
            attributes.insert(Attribute::CacheControl, AttributeValue::from(cache));
        }
        PutOptions {
            attributes,
            ..PutOptions::default()
        }
    }

    /// Stores a tile unless it is there: absent → written; equal → kept;
    /// different → a fork.
    async fn put_once(&self, path: &str, bytes: Arc<Vec<u8>>) -> Result<bool, RoundError> {
        let existing = get_object(self.store.as_ref(), path)
            .await
            .map_err(|e| RoundError::Store(format!("reading {}/{path}: {e}", self.url)))?;
        match existing {
            Some(b) if b.as_ref() == bytes.as_slice() => Ok(false),
            Some(_) => Err(RoundError::Fork(format!(
                "{}/{path} holds bytes this log did not write: another log or a rewritten history \
                 publishes there",
                self.url
            ))),
            None => {
                self.store
                    .put_opts(
                        &ObjectPath::from(path),
                        PutPayload::from(bytes.as_ref().clone()),
                        self.put_options("application/octet-stream", TILE_CACHE_CONTROL),
                    )
                    .await
                    .map_err(|e| RoundError::Store(format!("writing {}/{path}: {e}", self.url)))?;
                Ok(true)
            }
        }
    }

    /// Checks that the store holds a prefix of this log's history (or
    /// nothing) and takes its size as the published size.
    async fn check_history(&self, log: &Arc<Log>) -> Result<(), RoundError> {
        let Some(note) = get_object(self.store.as_ref(), "checkpoint")
            .await
            .map_err(|e| RoundError::Store(format!("reading {}/checkpoint: {e}", self.url)))?
        else {
            self.published.send_replace(0);
            return Ok(());
        };
        let (cp, _) = open_checkpoint(&note, &log.vkey)
            .map_err(|e| RoundError::Fork(format!("{}/checkpoint is not a checkpoint of this log: {e}", self.url)))?;
        let size = log.published().size;
        if cp.size > size {
            return Err(RoundError::Fork(format!(
                "{}/checkpoint has size {}, ahead of this log's {size}: this data directory lost entries \
                 the store holds; restore it from the store (provlog restore) instead of publishing over it",
                self.url, cp.size
            )));
        }
        if cp.size > 0 {
            let at = cp.size;
            let root = log
                .read(move |l| provlog_proto::merkle::root(at, l.store.as_ref()).map_err(crate::log::proof_err))
                .await
                .map_err(|e| RoundError::Store(format!("computing the root at {at}: {e}")))?;
            if root != cp.root {
                return Err(RoundError::Fork(format!(
                    "{}/checkpoint of size {at} has another root than this log at that size",
                    self.url
                )));
            }
        }
        self.published.send_replace(cp.size);
        Ok(())
    }

    /// One round: the tiles new since `old`, then the checkpoint of `size`.
    async fn round(&self, log: &Arc<Log>, old: u64, size: u64, checkpoint: &str) -> Result<usize, RoundError> {
        let tiles: Vec<TileId> = new_tiles(old, size);
        let uploaded = futures_util::stream::iter(tiles.iter().copied().map(|t| async move {
            let bytes = log
                .read(move |l| l.tile_bytes(&t, size))
                .await
                .map_err(|e| RoundError::Store(format!("reading {} from the log: {e}", t.path())))?;
            self.put_once(&t.path(), bytes).await
        }))
        .buffer_unordered(PARALLEL_UPLOADS)
        .collect::<Vec<_>>()
        .await;
        let mut written = 0;
        let mut first_error = None;
        for r in uploaded {
            match r {
                Ok(w) => written += usize::from(w),
                Err(e @ RoundError::Fork(_)) => return Err(e),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.store
            .put_opts(
                &ObjectPath::from("checkpoint"),
                PutPayload::from(checkpoint.as_bytes().to_vec()),
                self.put_options("text/plain; charset=utf-8", CHECKPOINT_CACHE_CONTROL),
            )
            .await
            .map_err(|e| RoundError::Store(format!("writing {}/checkpoint: {e}", self.url)))?;
        // Partial tiles that a full tile of this round replaced are no
        // longer needed by any reader of the new checkpoint (C2SP lets
        // clients fall back to the full tile). Best effort.
        for t in tiles.iter().filter(|t| t.is_full()) {
            let prefix = ObjectPath::from(format!("{}.p", t.path()).as_str());
            let stale: Vec<ObjectPath> = self
                .store
                .list(Some(&prefix))
                .filter_map(|m| async move { m.ok().map(|m| m.location) })
                .collect()
                .await;
            for path in stale {
                if let Err(e) = self.store.delete(&path).await {
                    tracing::debug!(error = %e, %path, "could not delete a replaced partial tile");
                }
            }
        }
        Ok(written + 1)
    }
}

#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error("{0}")]
    Store(String),
    #[error("{0}")]
    Fork(String),
}

/// Publishes every new checkpoint until the process ends (or a fork is
/// found). Rounds coalesce: while one uploads, later checkpoints wait and
/// the next round publishes the latest.
pub async fn run(log: Arc<Log>) {
    let Some(p) = log.publisher.as_ref().map(Arc::clone) else {
        return;
    };
    let mut rx = log.sequencer.subscribe();
    let mut backoff = Duration::from_millis(100);
    // First, the store must hold this log's history (or nothing).
    loop {
        match p.check_history(&log).await {
            Ok(()) => break,
            Err(RoundError::Fork(why)) => {
                p.raise(&log, why);
                return;
            }
            Err(RoundError::Store(why)) => p.failed(&log, why, &mut backoff).await,
        }
    }
    if p.published_size() >= log.published().size {
        p.state().behind_since = None;
    }
    backoff = Duration::from_millis(100);
    loop {
        let latest = rx.borrow_and_update().clone();
        let old = p.published_size();
        if latest.size > old && !latest.checkpoint.is_empty() {
            {
                let mut s = p.state();
                s.behind_since.get_or_insert_with(Instant::now);
            }
            let started = Instant::now();
            match p.round(&log, old, latest.size, &latest.checkpoint).await {
                Ok(objects) => {
                    p.published.send_replace(latest.size);
                    // If the log moved on during the round, its oldest
                    // unpublished checkpoint is at most this old.
                    let moved_on = rx.has_changed().unwrap_or(false);
                    {
                        let mut s = p.state();
                        s.error = None;
                        s.behind_since = moved_on.then_some(started);
                    }
                    log.metrics.published(latest.size, objects, started.elapsed());
                    tracing::debug!(tree_size = latest.size, objects, "published");
                    backoff = Duration::from_millis(100);
                    // Rounds start at most every `interval`, which bounds the
                    // store's request rate. Submitters waiting on
                    // `ack_after_publish` would pay that interval in latency,
                    // so then rounds run back to back, each one taking
                    // whatever the log sequenced during the previous.
                    if !p.ack_after_publish {
                        tokio::time::sleep(p.interval.saturating_sub(started.elapsed())).await;
                    }
                    continue;
                }
                Err(RoundError::Fork(why)) => {
                    p.raise(&log, why);
                    return;
                }
                Err(RoundError::Store(why)) => {
                    p.failed(&log, why, &mut backoff).await;
                    continue;
                }
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
