//! The gate's view of the log, kept verified: a small monitor of its own
//! (docs/GATE.md "What the gate verifies").
//!
//! It polls the log's checkpoint, verifies it (the log's key history,
//! witnesses when required), proves every new checkpoint extends the last
//! one it verified, and reads the new entries from the tiles (each checked
//! against the tree): a state commitment among them is the newest the
//! gate knows; an event naming a cached credential drops it from the
//! cache and has it asked again in the background. A checkpoint that does
//! not extend the last one is an alarm and the gate fails closed.
//!
//! A credential not in the cache is asked of the log pinned to the gate's
//! checkpoint (`tree_size`), and the answer is verified against the gate's
//! own verified checkpoint: its map proof, its commitment's inclusion,
//! and that the commitment is the newest one the gate read.

use super::cache::{Cache, Known};
use super::metrics::GateMetrics;
use super::presented::display;
use crate::client::verified::{ExtensionError, is_prefix, read_extension};
use crate::client::{Source, error_chain, get_bounded};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use provlog_proto::credential::CredentialAnswer;
use provlog_proto::leaf::Leaf;
use provlog_tlog::checkpoint::{Checkpoint, CheckpointError, LogKeys, open_checkpoint_with};
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::Hash;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// What the gate needs to follow a log.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The log's base URL.
    pub log_url: String,
    /// The log key the gate trusts (the first of its history, or any later).
    pub trusted: VerifierKey,
    /// Witness keys whose cosignatures count.
    pub witnesses: Vec<VerifierKey>,
    /// Cosignatures required on every checkpoint the gate relies on.
    pub min_witnesses: usize,
    /// The oldest commitment a decision may rest on.
    pub max_age: Duration,
    /// How often the checkpoint is polled.
    pub poll_interval: Duration,
    /// How long past `max_age` cached states still allow (0: never).
    pub fail_open_for: Duration,
    /// Most credentials cached.
    pub cache_size: usize,
    /// Most credentials asked of the log at once.
    pub max_misses: usize,
}

/// The checkpoint the gate verified last, and the newest commitment in it.
#[derive(Debug, Clone)]
pub struct Head {
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// Its note, with the cosignatures.
    pub note: String,
    /// The log key that signs a tree of this size.
    pub key: VerifierKey,
    /// The index of the newest state commitment below its size.
    pub commitment: u64,
    /// That commitment's `logged_at`, Unix ms.
    pub commitment_logged_ms: i64,
}

/// Why a credential could not be verified.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchFailure {
    /// No verified checkpoint yet.
    #[error("the gate has not verified a checkpoint of the log yet")]
    NotReady,
    /// The log could not be asked.
    #[error("the log could not be asked: {0}")]
    Unreachable(String),
    /// Its answer did not verify.
    #[error("the log's answer does not verify ({reason}): {message}")]
    Verification {
        /// A short code (the metrics label).
        reason: &'static str,
        /// What failed.
        message: String,
    },
    /// Too many misses in flight.
    #[error("too many credentials are being asked of the log at once")]
    Busy,
}

type Pending = Shared<BoxFuture<'static, Result<Arc<Known>, FetchFailure>>>;

/// The followed log, the cache, and the misses in flight.
pub struct Follower {
    settings: Settings,
    source: Source,
    http: reqwest::Client,
    head: RwLock<Option<Arc<Head>>>,
    alarm: RwLock<Option<Arc<str>>>,
    last_error: RwLock<Option<Arc<str>>>,
    keys: Mutex<LogKeys>,
    /// The verified states, per fingerprint.
    pub cache: Cache,
    /// Held while the head moves (and its invalidations apply) and while
    /// a fetched answer is inserted: an answer verified under an older
    /// head is never cached after the newer head dropped its credential.
    epoch: Mutex<()>,
    inflight: Mutex<HashMap<Hash, Pending>>,
    misses: tokio::sync::Semaphore,
    poke: tokio::sync::Notify,
    /// The gate's metrics.
    pub metrics: Arc<GateMetrics>,
}

/// Largest credential answer read (`history=false` is a few KiB).
const MAX_ANSWER: usize = 1 << 20;

/// The fingerprint the gate asks about to learn the newest commitment at
/// start (any fingerprint's answer names it).
const PROBE: &[u8] = b"provlog gate probe";

impl Follower {
    /// A follower of `settings.log_url`, with nothing verified yet.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(settings: Settings, metrics: Arc<GateMetrics>) -> Result<Self, crate::client::ClientError> {
        let source = Source::http(&settings.log_url)?;
        let http = crate::client::http_client(Duration::from_secs(10))?;
        Ok(Self {
            keys: Mutex::new(LogKeys::single(settings.trusted.clone())),
            cache: Cache::new(settings.cache_size),
            misses: tokio::sync::Semaphore::new(settings.max_misses.max(1)),
            settings,
            source,
            http,
            head: RwLock::new(None),
            alarm: RwLock::new(None),
            last_error: RwLock::new(None),
            epoch: Mutex::new(()),
            inflight: Mutex::new(HashMap::new()),
            poke: tokio::sync::Notify::new(),
            metrics,
        })
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The last verified head.
    #[must_use]
    pub fn head(&self) -> Option<Arc<Head>> {
        self.head.read().ok().and_then(|h| h.clone())
    }

    /// The alarm that made the gate fail closed, if any.
    #[must_use]
    pub fn alarm(&self) -> Option<Arc<str>> {
        self.alarm.read().ok().and_then(|a| a.clone())
    }

    /// Why the last poll failed, if it did.
    #[must_use]
    pub fn last_error(&self) -> Option<Arc<str>> {
        self.last_error.read().ok().and_then(|a| a.clone())
    }

    fn set_error(&self, e: Option<String>) {
        if let Ok(mut l) = self.last_error.write() {
            *l = e.map(Into::into);
        }
    }

    fn raise(&self, kind: &'static str, msg: &str) {
        tracing::error!(alarm = kind, "{msg}; the gate fails closed until it is restarted");
        self.metrics.alarm(kind);
        if let Ok(mut a) = self.alarm.write()
            && a.is_none()
        {
            *a = Some(format!("{kind}: {msg}").into());
        }
    }

    /// Polls for ever, every `poll_interval` (sooner when poked).
    pub async fn run(self: Arc<Self>) {
        loop {
            self.poll().await;
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                () = self.poke.notified() => {}
            }
        }
    }

    /// One poll: fetch, verify and apply the log's checkpoint.
    pub async fn poll(self: &Arc<Self>) {
        let result = self.poll_once().await;
        match result {
            Ok(()) => {
                self.set_error(None);
                self.metrics.poll("ok");
            }
            Err(PollError::Unreachable(e)) => {
                tracing::warn!(error = %e, "polling the log failed");
                self.set_error(Some(e));
                self.metrics.poll("unreachable");
            }
            Err(PollError::Invalid(reason, e)) => {
                tracing::warn!(reason, error = %e, "the log's checkpoint or tiles do not verify");
                self.metrics.verification_failure(reason);
                self.set_error(Some(e));
                self.metrics.poll("invalid");
            }
        }
    }

    async fn checkpoint(&self) -> Result<(Checkpoint, String, VerifierKey), PollError> {
        let path = if self.settings.min_witnesses > 0 {
            "v1/checkpoint/witnessed"
        } else {
            "checkpoint"
        };
        let note = self
            .source
            .get(path)
            .await
            .map_err(|e| PollError::Unreachable(error_chain(&e)))?;
        let keys = self
            .keys
            .lock()
            .map_or_else(|_| LogKeys::single(self.settings.trusted.clone()), |k| k.clone());
        let opened = match open_checkpoint_with(&note, &keys) {
            Err(CheckpointError::NoLogSignature { .. }) => {
                // Signed by a later key? Follow a rotation the log proves.
                let keys = self
                    .source
                    .log_keys(&self.settings.trusted)
                    .await
                    .map_err(|e| PollError::Invalid("key_history", error_chain(&e)))?;
                let r = open_checkpoint_with(&note, &keys);
                if let Ok(mut k) = self.keys.lock() {
                    *k = keys;
                }
                r
            }
            r => r,
        };
        let (cp, _) = opened.map_err(|e| PollError::Invalid("checkpoint", format!("the checkpoint: {e}")))?;
        if self.settings.min_witnesses > 0 {
            provlog_tlog::witness::require_cosignatures(&note, &self.settings.witnesses, self.settings.min_witnesses)
                .map_err(|e| PollError::Invalid("witnesses", format!("checkpoint of size {}: {e}", cp.size)))?;
        }
        let key = self
            .keys
            .lock()
            .map_or_else(|_| self.settings.trusted.clone(), |k| k.for_size(cp.size).clone());
        let note = String::from_utf8(note).map_err(|_| PollError::Invalid("checkpoint", "not text".into()))?;
        Ok((cp, note, key))
    }

    async fn poll_once(self: &Arc<Self>) -> Result<(), PollError> {
        if self.alarm().is_some() {
            return Ok(());
        }
        let (cp, note, key) = self.checkpoint().await?;
        let Some(head) = self.head() else {
            return self.bootstrap(cp, note, key).await;
        };
        let old = &head.checkpoint;
        if cp.size == old.size {
            if cp.root != old.root {
                self.raise(
                    "fork",
                    &format!(
                        "two checkpoints of size {} with different roots, both signed by the log:\n{}\n---\n{note}",
                        cp.size, head.note
                    ),
                );
            }
            return Ok(());
        }
        if cp.size < old.size {
            return match is_prefix(&self.source, &cp, old).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    self.raise("fork", &format!(
                            "the log served a checkpoint of size {} that is not a prefix of the verified one of size {}:\n{}\n---\n{note}",
                            cp.size, old.size, head.note
                        ),
                    );
                    Ok(())
                }
                // A log that serves less than it signed before, without
                // the tiles that show it a prefix: no progress, so the
                // gate goes stale and fails closed.
                Err(e) => Err(PollError::Invalid(
                    "rollback",
                    format!(
                        "the log serves a checkpoint of size {} after the verified one of size {}, and its tiles do not prove it a prefix: {}",
                        cp.size,
                        old.size,
                        error_chain(&e)
                    ),
                )),
            };
        }
        let mut changed: HashSet<Hash> = HashSet::new();
        let mut flush = false;
        let mut newest: Option<(u64, i64)> = None;
        let limit = self.settings.cache_size;
        let read = read_extension(&self.source, Some(old), old.size, &cp, |i, e| {
            note_entry(i, e, &mut changed, &mut flush, &mut newest, limit);
            Ok::<(), std::convert::Infallible>(())
        })
        .await;
        match read {
            Ok(()) => {}
            Err(e @ ExtensionError::Fork { .. }) => {
                self.raise("fork", &format!("{}:\n{}\n---\n{note}", error_chain(&e), head.note));
                return Ok(());
            }
            Err(
                e @ (ExtensionError::Fetch { .. }
                | ExtensionError::Tiles(crate::client::verified::TilesError::Fetch { .. })),
            ) => {
                return Err(PollError::Unreachable(error_chain(&e)));
            }
            Err(e) => return Err(PollError::Invalid("tiles", error_chain(&e))),
        }
        let (commitment, commitment_logged_ms) = newest.unwrap_or((head.commitment, head.commitment_logged_ms));
        let next = Arc::new(Head {
            checkpoint: cp,
            note,
            key,
            commitment,
            commitment_logged_ms,
        });
        let mut refresh = Vec::new();
        {
            let _epoch = self.epoch.lock();
            if flush {
                self.cache.clear();
            } else {
                for fp in changed {
                    if self.cache.remove(&fp) {
                        refresh.push(fp);
                    }
                }
            }
            if let Ok(mut h) = self.head.write() {
                *h = Some(Arc::clone(&next));
            }
        }
        self.metrics.head(next.checkpoint.size, next.commitment_logged_ms);
        if !refresh.is_empty() {
            tracing::info!(
                credentials = refresh.len(),
                size = next.checkpoint.size,
                "cached credentials changed in the log; asking again"
            );
            let me = Arc::clone(self);
            tokio::spawn(async move {
                use futures_util::StreamExt;
                futures_util::stream::iter(refresh)
                    .for_each_concurrent(8, |fp| {
                        let me = Arc::clone(&me);
                        async move {
                            let _ = me.known(fp).await;
                        }
                    })
                    .await;
            });
        }
        Ok(())
    }

    /// The first head: the probe's answer names the newest commitment as
    /// of `cp`; the entries after it are read to check that it is.
    async fn bootstrap(self: &Arc<Self>, cp: Checkpoint, note: String, key: VerifierKey) -> Result<(), PollError> {
        let probe = provlog_tlog::merkle::sha256(&[PROBE]);
        let provisional = Head {
            checkpoint: cp.clone(),
            note: note.clone(),
            key: key.clone(),
            commitment: u64::MAX,
            commitment_logged_ms: 0,
        };
        let v = match self.ask(&provisional, probe).await {
            Ok(v) => v,
            Err(FetchFailure::Verification { reason, message }) => return Err(PollError::Invalid(reason, message)),
            Err(e) => return Err(PollError::Unreachable(e.to_string())),
        };
        let mut newest = Some((
            v.commitment_index,
            provlog_proto::time::parse_millis(&v.commitment.logged_at).unwrap_or(0),
        ));
        let named = newest;
        let (mut changed, mut flush) = (HashSet::new(), false);
        read_extension(&self.source, None, v.commitment_index + 1, &cp, |i, e| {
            note_entry(i, e, &mut changed, &mut flush, &mut newest, 0);
            Ok::<(), std::convert::Infallible>(())
        })
        .await
        .map_err(|e| match e {
            ExtensionError::Fetch { .. } => PollError::Unreachable(error_chain(&e)),
            e => PollError::Invalid("tiles", error_chain(&e)),
        })?;
        if newest != named {
            // The answer cited an older commitment than the tree holds.
            self.metrics.verification_failure("old_commitment");
        }
        let (commitment, commitment_logged_ms) = newest.unwrap_or((v.commitment_index, 0));
        let head = Arc::new(Head {
            checkpoint: cp,
            note,
            key,
            commitment,
            commitment_logged_ms,
        });
        tracing::info!(size = head.checkpoint.size, commitment, "verified the log's checkpoint");
        if let Ok(mut h) = self.head.write() {
            *h = Some(Arc::clone(&head));
        }
        self.metrics.head(head.checkpoint.size, head.commitment_logged_ms);
        Ok(())
    }

    /// Asks the log about `fp` pinned to `head` and verifies the answer
    /// under `head` (a commitment other than `head`'s newest is refused
    /// unless `head.commitment` is unknown, `u64::MAX`).
    async fn ask(&self, head: &Head, fp: Hash) -> Result<provlog_proto::credential::VerifiedCredential, FetchFailure> {
        let url = format!(
            "{}/v1/credentials/{}?history=false&tree_size={}",
            self.settings.log_url.trim_end_matches('/'),
            display(&fp),
            head.checkpoint.size
        );
        let body = match get_bounded(&self.http, &url, MAX_ANSWER).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                self.poke.notify_one();
                return Err(FetchFailure::Unreachable(format!(
                    "the log keeps no checkpoint of size {} any more",
                    head.checkpoint.size
                )));
            }
            Err(e) => return Err(FetchFailure::Unreachable(error_chain(&e))),
        };
        let bad = |reason: &'static str, message: String| {
            self.metrics.verification_failure(reason);
            FetchFailure::Verification { reason, message }
        };
        let answer: CredentialAnswer =
            serde_json::from_slice(&body).map_err(|e| bad("malformed", format!("not a credential answer: {e}")))?;
        let now = crate::util::clock::now_millis().map_err(|e| FetchFailure::Unreachable(e.to_string()))?;
        // Every proof is checked against the gate's own verified
        // checkpoint (its signature and cosignatures were checked when it
        // was polled), whatever note the answer carries.
        let v = answer
            .verify_under(
                &display(&fp),
                &head.checkpoint,
                &provlog_proto::credential::Requirements {
                    log_key: &head.key,
                    witnesses: &self.settings.witnesses,
                    min_witnesses: self.settings.min_witnesses,
                    now_millis: now,
                    // Freshness is judged per decision against the newest
                    // commitment the gate verified.
                    max_age_millis: i64::MAX,
                    as_of_entry: None,
                },
            )
            .map_err(|e| bad(failure_code(&e), e.to_string()))?;
        if head.commitment != u64::MAX && v.commitment_index != head.commitment {
            return Err(bad(
                "old_commitment",
                format!(
                    "the answer is proven against the commitment at entry {}, but the newest in the checkpoint of size {} is at entry {}",
                    v.commitment_index, head.checkpoint.size, head.commitment
                ),
            ));
        }
        Ok(v)
    }

    /// The verified state of `fp`: from the cache, or asked of the log
    /// (one request per fingerprint however many decisions wait for it).
    ///
    /// # Errors
    /// [`FetchFailure`].
    pub async fn known(self: &Arc<Self>, fp: Hash) -> Result<Arc<Known>, FetchFailure> {
        if let Some(k) = self.cache.get(&fp) {
            return Ok(k);
        }
        let pending = {
            let Ok(mut inflight) = self.inflight.lock() else {
                return Err(FetchFailure::Busy);
            };
            if let Some(p) = inflight.get(&fp) {
                p.clone()
            } else {
                let me = Arc::clone(self);
                let p = async move {
                    let r = me.fetch(fp).await;
                    if let Ok(mut i) = me.inflight.lock() {
                        i.remove(&fp);
                    }
                    r
                }
                .boxed()
                .shared();
                inflight.insert(fp, p.clone());
                p
            }
        };
        pending.await
    }

    async fn fetch(&self, fp: Hash) -> Result<Arc<Known>, FetchFailure> {
        let _slot = tokio::time::timeout(Duration::from_secs(2), self.misses.acquire())
            .await
            .map_err(|_| FetchFailure::Busy)?
            .map_err(|_| FetchFailure::Busy)?;
        // A head that moves while the answer is in flight may have
        // changed this credential: ask again under the new one.
        for _ in 0..3 {
            let head = self.head().ok_or(FetchFailure::NotReady)?;
            let v = self.ask(&head, fp).await?;
            let known = Arc::new(Known::from_record(
                v.record.as_ref(),
                v.commitment_index,
                head.checkpoint.size,
            ));
            let _epoch = self.epoch.lock();
            if self.head().is_some_and(|h| h.checkpoint.size == head.checkpoint.size) {
                self.cache.insert(fp, Arc::clone(&known));
                return Ok(known);
            }
        }
        Err(FetchFailure::Unreachable(
            "the log's tree moved on three times while the gate asked".into(),
        ))
    }
}

/// Why a poll failed.
enum PollError {
    /// The log (or its tiles) could not be fetched.
    Unreachable(String),
    /// What it served does not verify (reason code, message).
    Invalid(&'static str, String),
}

/// Notes what entry `i` changes: the credentials an event names (all of
/// them dropped from the cache if they exceed `limit` or the entry does
/// not parse), the newest state commitment.
fn note_entry(
    i: u64,
    e: &[u8],
    changed: &mut HashSet<Hash>,
    flush: &mut bool,
    newest: &mut Option<(u64, i64)>,
    limit: usize,
) {
    match Leaf::parse(e) {
        Ok(Leaf::Event(ev)) => {
            if let Some(c) = &ev.event.event.credential {
                for f in std::iter::once(&c.fingerprint).chain(c.previous_fingerprint.as_ref()) {
                    match f.strip_prefix("sha256:").and_then(provlog_tlog::hex::decode_hash) {
                        Some(h) if changed.len() < limit => {
                            changed.insert(h);
                        }
                        Some(_) => *flush = true,
                        None => {}
                    }
                }
            }
        }
        Ok(Leaf::State(s)) => {
            *newest = Some((i, provlog_proto::time::parse_millis(&s.logged_at).unwrap_or(0)));
        }
        Ok(_) => {}
        // A kind this gate does not know: it may change anything.
        Err(_) => *flush = true,
    }
}

/// The metrics label of a credential answer that does not verify.
fn failure_code(e: &provlog_proto::credential::CredentialError) -> &'static str {
    use provlog_proto::credential::CredentialError as E;
    match e {
        E::OtherCredential { .. } => "other_credential",
        E::MapProof(_) => "map_proof",
        E::Inclusion { .. } => "inclusion",
        E::Commitment { .. } => "commitment",
        E::Checkpoint(_) => "checkpoint",
        E::Witnesses(_) => "witnesses",
        E::Record(_) | E::State { .. } => "record",
        E::Stale { .. } => "stale",
        _ => "malformed",
    }
}
