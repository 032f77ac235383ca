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

use crate::client::store::{get_object, open_store};
use crate::config::PublishConfig;
use crate::log::{AckError, AckGate, LogView};
use crate::obs::metrics::{Metrics, PublishGauges};
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, AttributeValue, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};
use provlog_tlog::checkpoint::open_checkpoint;
use provlog_tlog::tile::{TileId, new_tiles};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

use crate::http::{CHECKPOINT_CACHE_CONTROL, IMMUTABLE_CACHE_CONTROL as TILE_CACHE_CONTROL};
/// Tiles uploaded at once.
const PARALLEL_UPLOADS: usize = 16;
/// Longest pause between failed rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

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
    /// Under `[ha]`: an object beyond the fenced size that holds other
    /// bytes was uploaded by a deposed sequencer for a round etcd never
    /// fenced; it is replaced, not reported as a fork.
    replace_unfenced: bool,
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
    pub async fn open(cfg: &PublishConfig, vkeys: &[provlog_tlog::keys::VerifierKey]) -> Result<Self, OpenError> {
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
                // Any configured key will do here (the log may be rotating);
                // publishing checks the key of each size against the log's
                // key history.
                let mut opened = Err(provlog_tlog::checkpoint::CheckpointError::NoLogSignature {
                    want: "a configured log key".into(),
                    found: "nobody".into(),
                });
                for k in vkeys {
                    opened = open_checkpoint(&note, k).map(|_| ());
                    if opened.is_ok() {
                        break;
                    }
                }
                opened.map_err(|source| OpenError::NotThisLog {
                    url: cfg.url.clone(),
                    vkey: vkeys
                        .iter()
                        .map(provlog_tlog::keys::VerifierKey::to_vkey_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    source,
                })?;
                None
            }
            Err(source) if cfg.required => {
                return Err(OpenError::Unreachable {
                    url: cfg.url.clone(),
                    source,
                });
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
            replace_unfenced: false,
        })
    }

    /// Under `[ha]`, on the sequencer: objects the rounds write replace
    /// other bytes found at their names (a deposed sequencer's uploads of
    /// rounds etcd never fenced) instead of stopping as a fork.
    #[must_use]
    pub fn replacing_unfenced(mut self) -> Self {
        self.replace_unfenced = true;
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        crate::util::sync::lock(&self.state, "publisher state")
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

    /// The gauges `GET /metrics` shows.
    #[must_use]
    pub fn gauges(&self, log_size: u64) -> PublishGauges {
        let s = self.status(log_size);
        PublishGauges {
            published_size: s.published_size,
            lag_entries: s.lag_entries,
            lag_seconds: s.lag_seconds,
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
    async fn failed(&self, log: &impl LogView, metrics: &Metrics, e: &RoundError, backoff: &mut Duration) {
        let why = crate::util::error_chain(e);
        tracing::warn!(error = %why, retry_in = ?*backoff, "cannot publish to the object store; retrying");
        metrics.publish_failed();
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
    fn raise(&self, metrics: &Metrics, why: String) {
        tracing::error!(alarm = %why, "publishing stopped: the object store holds a different history");
        metrics.publish_alarm();
        self.state().alarm = Some(why);
        self.published.send_modify(|_| {});
    }

    /// An object-store failure on `path` of this store.
    fn object_error(&self, action: &'static str, path: &str, source: object_store::Error) -> RoundError {
        RoundError::Object {
            action,
            url: format!("{}/{path}", self.url),
            source,
        }
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
            .map_err(|source| self.object_error("reading", path, source))?;
        match existing {
            Some(b) if b.as_ref() == bytes.as_slice() => Ok(false),
            Some(_) if self.replace_unfenced => {
                tracing::warn!(
                    path,
                    "replacing an object a deposed sequencer uploaded for a round never fenced"
                );
                self.put_tile(path, bytes).await?;
                Ok(true)
            }
            Some(_) => Err(RoundError::Fork(format!(
                "{}/{path} holds bytes this log did not write: another log or a rewritten history \
                 publishes there",
                self.url
            ))),
            None => {
                self.put_tile(path, bytes).await?;
                Ok(true)
            }
        }
    }

    async fn put_tile(&self, path: &str, bytes: Arc<Vec<u8>>) -> Result<(), RoundError> {
        self.store
            .put_opts(
                &ObjectPath::from(path),
                PutPayload::from(bytes.as_ref().clone()),
                self.put_options("application/octet-stream", TILE_CACHE_CONTROL),
            )
            .await
            .map_err(|source| self.object_error("writing", path, source))?;
        Ok(())
    }

    /// Checks that the store holds a prefix of this log's history (or
    /// nothing) and takes its size as the published size.
    async fn check_history(&self, log: &impl LogView) -> Result<(), RoundError> {
        let Some(note) = get_object(self.store.as_ref(), "checkpoint")
            .await
            .map_err(|source| self.object_error("reading", "checkpoint", source))?
        else {
            self.published.send_replace(0);
            return Ok(());
        };
        let (cp, _) = provlog_tlog::checkpoint::open_checkpoint_with(&note, &log.log_keys())
            .map_err(|e| RoundError::Fork(format!("{}/checkpoint is not a checkpoint of this log: {e}", self.url)))?;
        let size = log.published().size;
        if cp.size > size {
            return Err(RoundError::Diverged(format!(
                "{}/checkpoint has size {}, ahead of this log's {size}: this data directory lost entries \
                 the store holds; restore it from the store (provlog restore) instead of publishing over it",
                self.url, cp.size
            )));
        }
        if cp.size > 0 {
            let at = cp.size;
            let root = log.root_at(at).await.map_err(|source| RoundError::Log {
                what: format!("computing the root at {at}"),
                source,
            })?;
            if root != cp.root {
                return Err(RoundError::Diverged(format!(
                    "{}/checkpoint of size {at} has another root than this log at that size",
                    self.url
                )));
            }
        }
        self.published.send_replace(cp.size);
        Ok(())
    }

    /// One round: the tiles new since `old` (unless `tiles` is false: under
    /// `[ha]` the fenced writes uploaded them before the checkpoint was
    /// fenced), then the key history and the checkpoint of `size`.
    async fn round(
        &self,
        log: &impl LogView,
        old: u64,
        size: u64,
        checkpoint: &str,
        tiles: bool,
    ) -> Result<usize, RoundError> {
        let tiles: Vec<TileId> = if tiles { new_tiles(old, size) } else { Vec::new() };
        let uploaded = futures_util::stream::iter(tiles.iter().copied().map(|t| async move {
            let bytes = log.tile(t, size).await.map_err(|source| RoundError::Log {
                what: format!("reading {} from the log", t.path()),
                source,
            })?;
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
                Err(e @ (RoundError::Fork(_) | RoundError::Diverged(_))) => return Err(e),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // The key history before the checkpoint, so that a reader of the
        // new checkpoint finds the key that signs it (docs/ROTATION.md).
        let history = log.key_history(size).await.map_err(|source| RoundError::Log {
            what: "reading the key history from the log".into(),
            source,
        })?;
        if let Some(h) = history {
            self.store
                .put_opts(
                    &ObjectPath::from("log-keys"),
                    PutPayload::from(h),
                    self.put_options("application/json", CHECKPOINT_CACHE_CONTROL),
                )
                .await
                .map_err(|source| self.object_error("writing", "log-keys", source))?;
        }
        self.store
            .put_opts(
                &ObjectPath::from("checkpoint"),
                PutPayload::from(checkpoint.as_bytes().to_vec()),
                self.put_options("text/plain; charset=utf-8", CHECKPOINT_CACHE_CONTROL),
            )
            .await
            .map_err(|source| self.object_error("writing", "checkpoint", source))?;
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

/// Why the publisher could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store URL cannot be opened.
    #[error(transparent)]
    Url(#[from] crate::client::store::StoreUrlError),
    /// The store holds a checkpoint of another log.
    #[error("{url}/checkpoint is not a checkpoint of this log ({vkey}): refusing to publish over it")]
    NotThisLog {
        /// The store.
        url: String,
        /// This log's key.
        vkey: String,
        /// Why the checkpoint does not open under it.
        #[source]
        source: provlog_tlog::checkpoint::CheckpointError,
    },
    /// The store cannot be read and `publish.required` is set.
    #[error("cannot read the object store {url} (publish.required = true)")]
    Unreachable {
        /// The store.
        url: String,
        /// Why.
        #[source]
        source: object_store::Error,
    },
}

impl AckGate for Publisher {
    fn wait_published(
        &self,
        index: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), AckError>> + Send + '_>> {
        Box::pin(Publisher::wait_published(self, index))
    }
}

#[derive(Debug, thiserror::Error)]
enum RoundError {
    /// The object store failed; the round is retried.
    #[error("{action} {url}")]
    Object {
        action: &'static str,
        url: String,
        #[source]
        source: object_store::Error,
    },
    /// Reading the log failed; the round is retried.
    #[error("{what}")]
    Log {
        what: String,
        #[source]
        source: crate::log::ReadError,
    },
    /// The store holds bytes this log did not write: publishing stops.
    #[error("{0}")]
    Fork(String),
    /// The store holds a checkpoint of this log that the local tree does
    /// not extend: publishing stops and so does the log.
    #[error("{0}")]
    Diverged(String),
}

impl Publisher {
    /// Before the log signs anything at start: if the store already holds a
    /// checkpoint of this log that the local tree does not extend (a data
    /// directory that lost entries, or another history under the same key),
    /// halts the log so that it signs nothing, and raises the alarm. Other
    /// failures are left to the publishing loop, which retries them.
    pub async fn check_before_signing(&self, log: &impl LogView, metrics: &Metrics) {
        if let Err(RoundError::Diverged(why)) = self.check_history(log).await {
            log.halt(why.clone());
            self.raise(metrics, why);
        }
    }
}

/// Under `[ha]`, once a new sequencer has sequenced for `after` (longer
/// than a lease, so that any upload of a deposed sequencer, frozen with its
/// process, has landed or failed): checks again every object of the tree
/// beyond `from` (the size it took over at) against its own log and
/// replaces any that differ. Best effort: a failure is logged.
pub async fn recheck_after_takeover(p: Arc<Publisher>, log: Arc<impl LogView>, from: u64, after: Duration) {
    tokio::time::sleep(after).await;
    let latest = log.published();
    if latest.size <= from || latest.checkpoint.is_empty() {
        return;
    }
    match p.round(log.as_ref(), from, latest.size, &latest.checkpoint, true).await {
        Ok(n) => tracing::info!(
            from,
            to = latest.size,
            objects = n,
            "objects since the takeover checked again"
        ),
        Err(e) => {
            tracing::warn!(error = %crate::util::error_chain(&e), "checking the objects since the takeover again");
        }
    }
}

/// Publishes every new checkpoint until the process ends (or a fork is
/// found). Rounds coalesce: while one uploads, later checkpoints wait and
/// the next round publishes the latest.
pub async fn run(p: Arc<Publisher>, log: Arc<impl LogView>, metrics: Arc<Metrics>) {
    let log = log.as_ref();
    let mut rx = log.subscribe();
    let mut backoff = Duration::from_millis(100);
    // First, the store must hold this log's history (or nothing).
    loop {
        match p.check_history(log).await {
            Ok(()) => break,
            Err(RoundError::Fork(why)) => {
                p.raise(&metrics, why);
                return;
            }
            Err(RoundError::Diverged(why)) => {
                log.halt(why.clone());
                p.raise(&metrics, why);
                return;
            }
            Err(e) => p.failed(log, &metrics, &e, &mut backoff).await,
        }
    }
    if p.published_size() >= log.published().size {
        p.state().behind_since = None;
    }
    backoff = Duration::from_millis(100);
    // Under [ha] the first round checks the tiles between the store's
    // checkpoint and the log (a log that turned [ha] on may not have
    // published them all); later rounds leave them to the fenced writes.
    let mut check_tiles = true;
    loop {
        let latest = rx.borrow_and_update().clone();
        let old = p.published_size();
        if latest.size > old && !latest.checkpoint.is_empty() {
            {
                let mut s = p.state();
                s.behind_since.get_or_insert_with(Instant::now);
            }
            let started = Instant::now();
            match p.round(log, old, latest.size, &latest.checkpoint, check_tiles).await {
                Ok(objects) => {
                    check_tiles = !p.replace_unfenced;
                    p.published.send_replace(latest.size);
                    // If the log moved on during the round, its oldest
                    // unpublished checkpoint is at most this old.
                    let moved_on = rx.has_changed().unwrap_or(false);
                    {
                        let mut s = p.state();
                        s.error = None;
                        s.behind_since = moved_on.then_some(started);
                    }
                    metrics.published(latest.size, objects, started.elapsed());
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
                    p.raise(&metrics, why);
                    return;
                }
                Err(RoundError::Diverged(why)) => {
                    log.halt(why.clone());
                    p.raise(&metrics, why);
                    return;
                }
                Err(e) => {
                    p.failed(log, &metrics, &e, &mut backoff).await;
                    continue;
                }
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
