//! The running log: storage, the registry in force, the sequencer, and the
//! operations the HTTP handlers call. Nothing here knows about HTTP, and
//! nothing here knows its followers (the publisher, the witness client):
//! they see the log through [`LogView`], and the one thing the log asks of
//! a follower, waiting for publication, goes through [`AckGate`].
//!
//! | module | holds |
//! | --- | --- |
//! | [`admission`] | what a submission passes before it is queued: the signature pool and rate limits |
//! | [`sequencer`] | group commit: pure batch assembly, the committer, the threads and queue between them |
//! | [`view`] | [`LogView`] and [`AckGate`], the small interfaces between the log and its followers |

pub mod admission;
pub mod keys;
pub mod sequencer;
pub mod view;

pub use sequencer::Published;
pub use view::{AckError, AckGate, LogView};

use crate::config::{Config, Overrides};
use admission::Admission;
use admission::ratelimit::RateLimits;
use admission::verify_pool::VerifyPool;
use anyhow::{Context, Result, bail};
use provlog_proto::event::Term;
use provlog_proto::json;
use provlog_proto::policy::{Registry, ScopeError};
use provlog_proto::receipt::Receipt;
use provlog_proto::submission::{Submission, SubmissionError};
use provlog_storage::verify::{self, Depth};
use provlog_storage::{StorageError, Store, StoreOptions};
use provlog_tlog::keys::{SignerKey, VerifierKey};
use provlog_tlog::merkle::CompactRange;
use provlog_tlog::merkle::{self, Hash};
use sequencer::{Durable, EventJob, Outcome, SeqError, Sequenced, Sequencer, SequencerOptions};
use serde_json::Value;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Batches in flight under `[ha]`: their uploads overlap (docs/HA.md
/// "Pipelined uploads"). Measured on the three-node cluster of
/// `tests/it/ha_cluster.rs` (BENCHMARKS.md "High availability"): 1,457/s at
/// depth 1, 1,771/s at 2, 1,824/s at 3 with 256 clients.
const FENCED_PIPELINE_DEPTH: usize = 3;

/// Most submissions in one `POST /v1/entries/batch`.
pub const MAX_BATCH_SUBMISSIONS: usize = 1000;
/// Most results per page of `GET /v1/events`.
pub const MAX_SEARCH_LIMIT: usize = 1000;
/// Most steps of a search's join that find no match before a page ends
/// (`GET /v1/events` pages by work done: filters whose matches rarely meet
/// cost this much per page, not the log's size).
pub const MAX_SEARCH_MISSES: usize = 1024;
/// Most history entries a credential answer cites.
pub const MAX_CREDENTIAL_HISTORY: usize = 10_000;

/// Limits the log enforces, as `/v1/log` reports them.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct Limits {
    /// Largest entry (leaf) in bytes.
    pub max_entry_bytes: usize,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Largest `POST /v1/entries/batch` body in bytes.
    pub max_batch_body_bytes: usize,
    /// Most submissions per batch request.
    pub max_batch_submissions: usize,
    /// Most entries per sequenced batch.
    pub batch_max_entries: usize,
    /// Most results per search page.
    pub max_search_limit: usize,
    /// Whole-request timeout, milliseconds.
    pub request_timeout_ms: u64,
    /// Most single submissions handled at once.
    pub max_write_requests: usize,
    /// Most batch submissions handled at once.
    pub max_batch_requests: usize,
    /// Most reads that touch storage handled at once.
    pub max_read_requests: usize,
    /// Largest search or credential answer in bytes; longer ones page.
    pub max_answer_bytes: usize,
    /// Entries that may wait for the sequencer.
    pub queue_capacity: usize,
    /// `/readyz` fails while entries wait and the newest checkpoint is older than this, ms.
    pub ready_max_checkpoint_age_ms: u64,
}

/// Why a submission failed, by what the client can do about it.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Malformed submission (400).
    #[error(transparent)]
    Invalid(#[from] SubmissionError),
    /// Malformed batch request (400).
    #[error("{0}")]
    InvalidBatch(String),
    /// Signature does not verify (401).
    #[error("signature does not verify under the key of submitter {0:?}")]
    BadSignature(String),
    /// A version 1 signature (bound to no log) where the log requires its
    /// origin to be signed (400).
    #[error(
        "this log requires event signatures bound to its origin {0:?}: sign \"provlog/event/v2\\n\" || origin || \"\\n\" || JCS(event) and send \"signature_version\": 2 (a COSE statement names the origin as its CWT aud, claim 3)"
    )]
    OriginBindingRequired(String),
    /// A statement's `kid` is not the ID of its issuer's registered key
    /// (401).
    #[error("the statement's kid {kid} is not the key ID of submitter {submitter:?}'s registered key")]
    UnknownKid {
        /// The issuer.
        submitter: String,
        /// The kid, hex.
        kid: String,
    },
    /// A statement whose CWT `aud` names another log (401): it was made
    /// for that log, and is refused here as a version 2 signature made for
    /// another origin is.
    #[error("the statement's audience (CWT aud) is {aud:?}, not this log's origin {origin:?}")]
    WrongAudience {
        /// The statement's `aud`.
        aud: String,
        /// This log's origin.
        origin: String,
    },
    /// Unknown submitter (401) or outside its scope (403).
    #[error("{0}")]
    Scope(ScopeError),
    /// The approvals do not authorize the event (400, 403; 409 is the
    /// sequencer's).
    #[error(transparent)]
    Approval(provlog_proto::approval::ApprovalError),
    /// The signature-verification queue is full (503).
    #[error("the signature verification queue is full; retry shortly")]
    Overloaded,
    /// The submitter is over its rate limit (429); retry after the wait.
    #[error("submitter {0:?} is over its rate limit; retry in {1:?}")]
    RateLimited(String, Duration),
    /// The sequencer refused it (401, 403, 409, 503).
    #[error(transparent)]
    Sequencer(#[from] SeqError),
    /// The server's clock cannot be read (500).
    #[error(transparent)]
    Clock(#[from] crate::util::clock::ClockError),
    /// Durable in the log, but not (yet) in the object store, with
    /// `ack_after_publish` (503).
    #[error(transparent)]
    NotPublished(#[from] AckError),
    /// A refusal of authority of an authenticated submission, with the
    /// log's signed refusal (docs/REFUSALS.md).
    #[error("{error}")]
    Refused {
        /// The refusal.
        error: Box<SubmitError>,
        /// The log's signed statement of it.
        refusal: Box<provlog_proto::refusal::SignedRefusal>,
    },
}

impl SubmitError {
    /// The stable code of a refusal of authority (scope, validity window,
    /// approvals, policy decision, ownership, chain), `None` for others.
    #[must_use]
    pub fn authority_code(&self) -> Option<&'static str> {
        match self {
            Self::Scope(s) if !matches!(s, ScopeError::UnknownSubmitter(_)) => Some(s.code()),
            Self::Approval(a) => Some(a.code()),
            Self::Sequencer(e) => e.authority_code(),
            Self::Refused { error, .. } => error.authority_code(),
            _ => None,
        }
    }
}

/// What a signed refusal says about the submission it refuses.
#[derive(Debug, Clone)]
struct Refusable {
    /// `event` or `heartbeat`.
    kind: &'static str,
    /// Base64 digest of its canonical JSON.
    digest: String,
    submitter: String,
    event_id: Option<String>,
}

/// Failures reading the log.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Something the caller asked for does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is impossible for the current tree (400).
    #[error("{0}")]
    Invalid(String),
    /// Storage failed (500).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A read task died (500).
    #[error("read task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The server's clock cannot be read or expressed (500).
    #[error(transparent)]
    Clock(#[from] crate::util::clock::ClockError),
    /// A time the server computed cannot be written as RFC 3339 (500).
    #[error("the server time cannot be expressed as RFC 3339")]
    Timestamp(#[source] provlog_proto::time::TimeError),
    /// An invariant of the log's own state does not hold (500).
    #[error("{0}")]
    Internal(String),
    /// What was asked for was kept for a while and is gone: a credential
    /// map version older than the retention (410).
    #[error("{0}")]
    Pruned(String),
}

/// A credential's record (if any), the map proof of it, and the state
/// commitment (index and bytes, `None` before the first) both are against.
#[derive(Debug, Clone)]
pub struct CredentialState {
    /// The record, if an event named the credential.
    pub record: Option<provlog_proto::ledger::CredentialRecord>,
    /// Inclusion of the record's value, or absence, under the commitment's root.
    pub proof: provlog_proto::map::MapProof,
    /// The state leaf's index and bytes.
    pub commitment: Option<(u64, Vec<u8>)>,
}

/// A submitter's chain record (if it is or was sequenced), the map proof
/// of it, and the state commitment both are against.
#[derive(Debug, Clone)]
pub struct ChainState {
    /// The record.
    pub record: Option<provlog_proto::chain::ChainRecord>,
    /// Inclusion of the record's value, or absence, under the commitment's root.
    pub proof: provlog_proto::map::MapProof,
    /// The state leaf's index and bytes.
    pub commitment: Option<(u64, Vec<u8>)>,
}

/// Why a reload did not change the registry.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config file is unreadable or invalid; the old registry stays.
    #[error("{0:#}")]
    Config(anyhow::Error),
    /// Logging the new registry failed; the old registry stays.
    #[error(transparent)]
    Sequencer(#[from] SeqError),
    /// Reading the logged registry failed; the old registry stays.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// What a reload did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    /// Whether the registry changed (and a policy entry was logged).
    pub changed: bool,
    /// Index of the policy entry now in force, if it is known.
    pub policy_index: Option<u64>,
    /// Number of submitters in force.
    pub submitters: usize,
}

/// A filter set and page of `GET /v1/events`.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// `(term, value)` filters, all of which must match.
    pub filters: Vec<(Term, String)>,
    /// Last index already seen (exclusive).
    pub after: Option<u64>,
    /// Page size, 1..=[`MAX_SEARCH_LIMIT`].
    pub limit: usize,
    /// Only entries logged in `[from, to)` (`logged_at`, Unix ms), either
    /// end open.
    pub logged: (Option<i64>, Option<i64>),
    /// Only events whose `occurred_at` (Unix ms) is in `[from, to)`,
    /// either end open.
    pub occurred: Option<(Option<i64>, Option<i64>)>,
}

/// The registry in force for handler pre-checks, and the policy entry that
/// logged it.
#[derive(Debug)]
struct InForce {
    registry: Arc<Registry>,
    policy_index: Option<u64>,
}

/// How a [`Log`] writes.
pub enum WritePath {
    /// Straight to its store (a single node).
    Store,
    /// Not at all: a standby under `[ha]`. Every submission gets
    /// [`sequencer::Unavailable::NotSequencer`]; a follower appends to the
    /// store and moves the read view ([`Log::follow_store`]).
    Standby,
    /// Through the [`Durable`] that the function builds once the store is
    /// open and checked (the fenced writes of `[ha]`); it may first append
    /// to the store itself (a catch-up to the fenced checkpoint), and the
    /// sequencer then resumes from what the store holds.
    Wrapped(MakeDurable),
}

impl std::fmt::Debug for WritePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Store => "Store",
            Self::Standby => "Standby",
            Self::Wrapped(_) => "Wrapped",
        })
    }
}

/// Builds the [`Durable`] a sequencer writes through, over the open store.
pub type MakeDurable =
    Box<dyn FnOnce(Arc<Store>) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Durable>>> + Send>;

/// The running log.
#[derive(Debug)]
pub struct Log {
    /// On a standby: the sequencer's base URL, named in refusals.
    leader: RwLock<Option<String>>,
    /// The store; readers stay within a published size. Only this module
    /// and its followers' view ([`LogView`]) read it.
    store: Arc<Store>,
    /// The write path.
    sequencer: Sequencer,
    /// The Prometheus registry this log reports to (`GET /metrics`).
    metrics: Arc<crate::obs::metrics::Metrics>,
    in_force: RwLock<InForce>,
    reload_lock: tokio::sync::Mutex<()>,
    overrides: Overrides,
    /// The checkpoint origin.
    origin: String,
    /// The log's keys: the one in force (which also signs refusals,
    /// docs/REFUSALS.md) and its history (docs/ROTATION.md).
    keys: RwLock<KeysInForce>,
    /// A configured `next_log_key` the log has not announced yet.
    pending_key: std::sync::Mutex<Option<SignerKey>>,
    /// How long a rotation's overlap lasts.
    key_overlap: Duration,
    /// Enforced limits.
    limits: Limits,
    /// Token for `/v1/admin/*`, if the admin API is enabled.
    admin_token: Option<String>,
    admission: Admission,
    /// What acknowledgements wait for besides durability (`ack_after_publish`).
    ack_gate: Option<Arc<dyn AckGate>>,
    /// The last state commitment's inclusion proof computed: (index, tree
    /// size, proof). Every credential answer between two checkpoints needs
    /// the same one.
    commitment_proof: std::sync::Mutex<Option<CachedProof>>,
    /// The map version the last credential answer of a whole tree was
    /// against, with its state leaf: (tree size, version, leaf bytes).
    /// Every answer between two checkpoints needs the same one.
    answer_version: std::sync::Mutex<Option<CachedVersion>>,
    /// The log's COSE signature over the last tree head a COSE receipt
    /// was asked for (RFC 9942: one per tree size serves every entry).
    cose_head: std::sync::Mutex<std::collections::VecDeque<Arc<provlog_proto::cose_receipt::TreeHeadSignature>>>,
}

/// The log's key in force and every key it signed with.
#[derive(Debug)]
struct KeysInForce {
    signer: SignerKey,
    history: provlog_tlog::checkpoint::LogKeys,
    announced: Vec<keys::Announced>,
}

/// What a key rotation did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Rotated {
    /// Index of the announcement entry.
    pub index: u64,
    /// The key it replaced.
    pub old: String,
    /// The key in force from the entry after the announcement on.
    pub new: String,
    /// Until when checkpoints carry both signatures.
    pub overlap_until: String,
}

/// Why a key rotation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// No `next_log_key` is configured (or it is already the key in force).
    #[error("no next_log_key to rotate to: configure next_log_key (a key named after the origin) and retry")]
    NoNextKey,
    /// The configured `next_log_key` cannot be read.
    #[error("next_log_key: {0:#}")]
    Config(anyhow::Error),
    /// The sequencer refused or failed it.
    #[error(transparent)]
    Sequencer(#[from] SeqError),
}

/// An inclusion proof kept for reuse: (index, tree size, proof).
type CachedProof = (u64, u64, Arc<Vec<Hash>>);

/// A map version kept for reuse: (tree size, version, state leaf bytes).
type CachedVersion = (u64, provlog_storage::map::MapVersion, Arc<Vec<u8>>);

impl Log {
    /// Opens the data directory, checks the stored tree against its latest
    /// checkpoint (refusing to start on any mismatch), starts the sequencer,
    /// and starts the sequencer; [`Log::begin`] then logs the registry.
    ///
    /// # Errors
    /// Anything that makes the log unsafe to serve.
    pub async fn open(
        cfg: &Config,
        overrides: Overrides,
        signer: SignerKey,
        ack_gate: Option<Arc<dyn AckGate>>,
        write: WritePath,
    ) -> Result<Arc<Self>> {
        let dir = cfg.data_dir.clone();
        let next = cfg.load_next_log_key()?;
        let configured = signer.verifier();
        let options = StoreOptions {
            block_cache_bytes: cfg.block_cache_bytes,
            ..StoreOptions::default()
        };
        let (store, announced) = tokio::task::spawn_blocking(move || -> Result<(Store, Vec<keys::Announced>)> {
            let store = Store::open(&dir.join("db"), &options)
                .with_context(|| format!("opening the store in {}", dir.display()))?;
            let announced = keys::announcements(&store).context("reading the log's key rotations")?;
            let history = keys::log_keys(&configured, &announced);
            match verify::check(&store, &history, Depth::Tree) {
                Ok(cp) => {
                    if let Some(cp) = cp {
                        tracing::info!(tree_size = cp.size, "stored tree matches the latest checkpoint");
                    }
                    Ok((store, announced))
                }
                Err(e) => bail!(
                    "refusing to start: the data in {} does not match its latest checkpoint: {e}",
                    dir.display()
                ),
            }
        })
        .await??;
        let store = Arc::new(store);
        // Fenced writes take an upload and a round trip to etcd; the
        // uploads of the next batches start while one is fenced.
        let pipeline_depth = if matches!(write, WritePath::Wrapped(_)) {
            FENCED_PIPELINE_DEPTH
        } else {
            sequencer::PIPELINE_DEPTH
        };
        let (durable, halted, announced): (Arc<dyn Durable>, _, _) = match write {
            WritePath::Store => (Arc::clone(&store) as Arc<dyn Durable>, None, announced),
            WritePath::Standby => (
                Arc::clone(&store) as Arc<dyn Durable>,
                Some(sequencer::Unavailable::NotSequencer { leader: None }),
                announced,
            ),
            WritePath::Wrapped(make) => {
                let durable = make(Arc::clone(&store)).await?;
                // The wrapper may have appended (a catch-up): key rotations too.
                let s = Arc::clone(&store);
                let announced = tokio::task::spawn_blocking(move || keys::announcements(&s))
                    .await?
                    .context("reading the log's key rotations")?;
                (durable, None, announced)
            }
        };
        let now = crate::util::clock::now_millis().unwrap_or(0);
        let (signing, history, pending) =
            keys::resolve(&announced, signer, next, now).context("refusing to start: the log's keys")?;
        let current = signing.current.clone();
        let metrics = Arc::new(crate::obs::metrics::Metrics::new());
        let sequencer = Sequencer::start_over(
            &store,
            durable,
            signing,
            SequencerOptions {
                batch_max_entries: cfg.batch_max_entries,
                batch_max_wait: Duration::from_millis(cfg.batch_max_wait_ms),
                queue_capacity: cfg.queue_capacity,
                state_commit_interval: cfg.state_commit_interval,
                pipeline_depth,
            },
            Arc::clone(&metrics),
            halted,
        )?;
        let log = Arc::new(Self {
            leader: RwLock::new(None),
            store,
            sequencer,
            metrics,
            in_force: RwLock::new(InForce {
                registry: Arc::new(Registry::default()),
                policy_index: None,
            }),
            reload_lock: tokio::sync::Mutex::new(()),
            overrides,
            origin: cfg.origin.clone(),
            keys: RwLock::new(KeysInForce {
                signer: current,
                history,
                announced,
            }),
            pending_key: std::sync::Mutex::new(pending),
            key_overlap: cfg.key_overlap,
            limits: Limits {
                max_entry_bytes: provlog_tlog::tile::MAX_ENTRY_BYTES,
                max_body_bytes: cfg.max_body_bytes,
                max_batch_body_bytes: cfg.max_batch_body_bytes,
                max_batch_submissions: MAX_BATCH_SUBMISSIONS,
                batch_max_entries: cfg.batch_max_entries,
                max_search_limit: MAX_SEARCH_LIMIT,
                request_timeout_ms: u64::try_from(cfg.request_timeout.as_millis()).unwrap_or(u64::MAX),
                max_write_requests: cfg.max_write_requests,
                max_batch_requests: cfg.max_batch_requests,
                max_read_requests: cfg.max_read_requests,
                max_answer_bytes: cfg.max_answer_bytes,
                queue_capacity: cfg.queue_capacity,
                ready_max_checkpoint_age_ms: u64::try_from(cfg.ready_max_checkpoint_age.as_millis())
                    .unwrap_or(u64::MAX),
            },
            admin_token: cfg.admin_token.clone(),
            admission: Admission::new(
                VerifyPool::new(cfg.verify_threads, cfg.verify_queue).context("starting verification threads")?,
                RateLimits::new(cfg.rate_limit, cfg.rate_limits.clone()),
                cfg.origin.clone(),
                cfg.require_origin_binding,
            ),
            ack_gate,
            commitment_proof: std::sync::Mutex::new(None),
            answer_version: std::sync::Mutex::new(None),
            cose_head: std::sync::Mutex::new(std::collections::VecDeque::new()),
        });
        spawn_map_pruner(&log, cfg.map_retention);
        Ok(log)
    }

    /// Blocking: deletes the credential map's nodes and records that only
    /// versions older than `retention` (before `now_ms`) hold, keeping the
    /// version in force at the cutoff. Returns how many it deleted.
    ///
    /// # Errors
    /// Storage errors.
    pub fn prune_map(&self, now_ms: i64, retention: Duration) -> Result<usize, StorageError> {
        const CHUNK: usize = 10_000;
        let cutoff = now_ms.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        let Some(keep) = self.store.map_keep_from(cutoff)? else {
            return Ok(0);
        };
        let mut total = 0;
        loop {
            let n = self.store.prune_map(keep, CHUNK)?;
            total += n;
            if n < CHUNK {
                break;
            }
        }
        if total > 0 {
            tracing::info!(
                deleted = total,
                keep_from = keep,
                "pruned credential map versions past the retention"
            );
        }
        Ok(total)
    }

    /// Makes the log ready to take submissions: freezes it if the config
    /// says so, then logs `registry` if it differs from the last logged one
    /// (always on first start, so entry 0 is a policy leaf), or with `None`
    /// keeps the last logged one in force. A halted log (its history
    /// diverges from what it published) signs nothing: the registry is not
    /// logged.
    ///
    /// # Errors
    /// Anything that makes the log unsafe to serve.
    pub async fn begin(&self, frozen: bool, registry: Option<Registry>) -> Result<()> {
        if let Some(why) = self.sequencer.failure() {
            tracing::error!(error = %crate::util::error_chain(&why), "the log does not accept entries; the configured registry is not logged");
            return Ok(());
        }
        if frozen && !self.sequencer.is_frozen() {
            let p = self
                .sequencer
                .freeze()
                .await
                .context("freezing the log (frozen = true)")?;
            tracing::warn!(tree_size = p.size, "frozen = true: the log is now frozen for good");
        }
        if self.sequencer.is_frozen() {
            tracing::warn!("the log is frozen: serving reads only; the configured registry is not logged");
        } else {
            match registry {
                Some(r) => {
                    self.install(r).await.context("logging the submitter registry")?;
                }
                None => self
                    .keep_logged()
                    .await
                    .context("reading the logged submitter registry")?,
            }
            let pending = crate::util::sync::lock(&self.pending_key, "pending key").take();
            if let Some(k) = pending {
                // A configured next key the log has not announced: rotate
                // now. A refusal (the previous overlap runs) leaves the log
                // signing with the key in force.
                match self.rotate_key(Some(k)).await {
                    Ok(r) => tracing::info!(index = r.index, new = %r.new, "next_log_key announced"),
                    Err(e) => tracing::warn!(error = %crate::util::error_chain(&e), "next_log_key is not announced"),
                }
            }
        }
        Ok(())
    }

    /// Puts in force the registry the log logged last (a restart with no
    /// config: nothing new is logged).
    async fn keep_logged(&self) -> Result<()> {
        let store = Arc::clone(&self.store);
        let Some(p) = blocking(move || Ok(store.policy()?)).await? else {
            bail!("the log has no policy entry and no [[submitters]] are configured");
        };
        let policy: provlog_proto::policy::Policy =
            serde_json::from_slice(&p.canonical).with_context(|| format!("the policy of entry {}", p.index))?;
        let registry = Arc::new(Registry::new(policy).with_context(|| format!("the policy of entry {}", p.index))?);
        *crate::util::sync::write(&self.in_force, "registry in force") = InForce {
            registry,
            policy_index: Some(p.index),
        };
        Ok(())
    }

    /// Makes `registry` the one in force: if it differs from the last
    /// logged one, logs a policy entry first (the sequencer applies it to
    /// every submission queued after it).
    async fn install(&self, registry: Registry) -> Result<Reloaded, ReloadError> {
        let want = registry.policy().canonical();
        let store = Arc::clone(&self.store);
        let last = blocking(move || Ok(store.policy()?)).await?;
        let submitters = registry.policy().submitters.len();
        let registry = Arc::new(registry);
        let (changed, policy_index) = if last.as_ref().map(|p| &p.canonical) == Some(&want) {
            (false, last.map(|p| p.index))
        } else {
            let s = self.sequencer.append_policy(Arc::clone(&registry)).await?;
            tracing::info!(
                index = s.index,
                submitters,
                "logged the submitter registry now in force"
            );
            (true, Some(s.index))
        };
        *crate::util::sync::write(&self.in_force, "registry in force") = InForce { registry, policy_index };
        Ok(Reloaded {
            changed,
            policy_index,
            submitters,
        })
    }

    /// Re-reads the config file and installs its registry. An invalid file,
    /// or one without `[[submitters]]`, changes nothing and says why; with
    /// no config file the registry in force stays. Reloads are serialized.
    ///
    /// # Errors
    /// [`ReloadError`]; the registry in force is unchanged.
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        if self.sequencer.is_frozen() {
            return Err(SeqError::Frozen.into());
        }
        let overrides = self.overrides.clone();
        // No config file at all: there is nothing to re-read, and the
        // registry in force stays (the embedded dev submitter is never
        // installed by a reload).
        let registry = tokio::task::spawn_blocking(move || -> Result<Option<Registry>> {
            let cfg = Config::load(&overrides)?;
            if cfg.config_file.is_none() && cfg.submitters.is_empty() {
                return Ok(None);
            }
            cfg.configured_registry().map(Some)
        })
        .await
        .map_err(|e| ReloadError::Config(e.into()))?
        .map_err(ReloadError::Config)?;
        match registry {
            Some(r) => self.install(r).await,
            None => Ok(Reloaded {
                changed: false,
                policy_index: self.policy_index(),
                submitters: self.registry().policy().submitters.len(),
            }),
        }
    }

    /// The checkpoint origin (also the log key's name).
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's verifier key in force.
    #[must_use]
    pub fn vkey(&self) -> VerifierKey {
        crate::util::sync::read(&self.keys, "log keys").signer.verifier()
    }

    /// Every key the log signed with, each for the tree sizes it signs.
    #[must_use]
    pub fn log_keys(&self) -> provlog_tlog::checkpoint::LogKeys {
        crate::util::sync::read(&self.keys, "log keys").history.clone()
    }

    /// Blocking: the key history of the published tree (`GET /log-keys`).
    ///
    /// # Errors
    /// Storage failures.
    pub fn key_history(&self) -> Result<provlog_proto::rotation::KeyHistory, keys::KeysError> {
        let announced = crate::util::sync::read(&self.keys, "log keys").announced.clone();
        keys::history(&self.store, &announced, self.published().size)
    }

    /// Rotates the log's key to `new`, or to the configured
    /// `next_log_key` (re-read from the config file): logs the
    /// announcement signed by the key in force and the new one, after which
    /// checkpoints carry both signatures until the overlap ends, then the
    /// new one's alone (docs/ROTATION.md).
    ///
    /// # Errors
    /// [`RotateError`]; nothing is appended on error.
    pub async fn rotate_key(&self, new: Option<SignerKey>) -> Result<Rotated, RotateError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let new = if let Some(k) = new {
            k
        } else {
            let overrides = self.overrides.clone();
            let configured = tokio::task::spawn_blocking(move || Config::load(&overrides)?.load_next_log_key())
                .await
                .map_err(|e| RotateError::Config(e.into()))?
                .map_err(RotateError::Config)?;
            let pending = crate::util::sync::lock(&self.pending_key, "pending key").take();
            configured.or(pending).ok_or(RotateError::NoNextKey)?
        };
        if new.verifier() == self.vkey() {
            return Err(RotateError::NoNextKey);
        }
        let s = self
            .sequencer
            .rotate(sequencer::Rotation {
                new: new.clone(),
                overlap: self.key_overlap,
            })
            .await?;
        let store = Arc::clone(&self.store);
        let index = s.index;
        let announced = tokio::task::spawn_blocking(move || keys::announcements(&store))
            .await
            .map_err(|e| RotateError::Config(e.into()))?
            .map_err(|e| RotateError::Config(e.into()))?;
        let Some(a) = announced.iter().find(|a| a.index == index).cloned() else {
            return Err(RotateError::Config(anyhow::anyhow!(
                "the announcement at entry {index} is not indexed"
            )));
        };
        let mut k = crate::util::sync::write(&self.keys, "log keys");
        k.history = keys::log_keys(&k.history.first().clone(), &announced);
        k.announced = announced;
        k.signer = new;
        let an = &a.announcement.announcement;
        tracing::warn!(
            index,
            old = %an.old.to_vkey_string(),
            new = %an.new.to_vkey_string(),
            overlap_until = %an.overlap_until,
            "the log's key rotated: witnesses and pinned readers must add the new vkey before the overlap ends"
        );
        Ok(Rotated {
            index,
            old: an.old.to_vkey_string(),
            new: an.new.to_vkey_string(),
            overlap_until: an.overlap_until.clone(),
        })
    }

    /// The limits the log enforces, as `/v1/log` reports them.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The bearer token of `/v1/admin/*`; `None` when the admin API is off.
    #[must_use]
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// The Prometheus registry this log reports to.
    #[must_use]
    pub fn metrics(&self) -> &Arc<crate::obs::metrics::Metrics> {
        &self.metrics
    }

    /// Whether the log is frozen (read-only for good).
    #[must_use]
    pub fn is_frozen(&self) -> bool {
        self.sequencer.is_frozen()
    }

    /// Why the log stopped accepting entries, if it did.
    #[must_use]
    pub fn failure(&self) -> Option<sequencer::Unavailable> {
        match self.sequencer.failure() {
            Some(sequencer::Unavailable::NotSequencer { .. }) => Some(sequencer::Unavailable::NotSequencer {
                leader: crate::util::sync::read(&self.leader, "leader").clone(),
            }),
            other => other,
        }
    }

    /// On a standby: records the sequencer's base URL (`None`: unknown),
    /// which refusals name.
    pub fn set_leader(&self, url: Option<String>) {
        *crate::util::sync::write(&self.leader, "leader") = url;
    }

    /// On a standby, the store a follower appends to before
    /// [`Log::follow_store`]: nothing else writes it there.
    #[must_use]
    pub fn follower_store(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    /// Whether this log is a standby (it sequences nothing).
    #[must_use]
    pub fn is_standby(&self) -> bool {
        matches!(
            self.sequencer.failure(),
            Some(sequencer::Unavailable::NotSequencer { .. })
        )
    }

    /// On a standby, after a follower appended to the store: brings the
    /// credential map and the key history up to the stored entries and
    /// moves the read view to the stored checkpoint. Returns the size now
    /// served.
    ///
    /// # Errors
    /// Storage errors, a credential map the entries contradict.
    pub async fn follow_store(self: &Arc<Self>) -> Result<u64> {
        let log = Arc::clone(self);
        let (published, announced) = tokio::task::spawn_blocking(move || -> Result<_> {
            let store = &log.store;
            let size = store.size();
            let range = CompactRange::from_source(size, store.as_ref())
                .map_err(|e| anyhow::anyhow!("reading the right edge of the stored tree: {e}"))?;
            let checkpoint = match store.latest_checkpoint()? {
                Some(c) => String::from_utf8(c).context("the stored checkpoint is not UTF-8")?,
                None => String::new(),
            };
            sequencer::catch_up_map(store, size).context("bringing the credential map up to the stored entries")?;
            let announced = keys::announcements(store).context("reading the log's key rotations")?;
            Ok((
                Published {
                    size,
                    root: if size == 0 {
                        provlog_tlog::merkle::EMPTY_ROOT
                    } else {
                        range.root()
                    },
                    checkpoint,
                },
                announced,
            ))
        })
        .await??;
        {
            let mut k = crate::util::sync::write(&self.keys, "log keys");
            if k.announced.len() != announced.len() {
                k.history = keys::log_keys(&k.signer.verifier(), &announced);
                k.announced = announced;
            }
        }
        let size = published.size;
        self.sequencer.advance(&Arc::new(published));
        Ok(size)
    }

    /// Entries queued for the sequencer right now.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.sequencer.queue_depth()
    }

    /// The registry in force (as of the last completed install).
    #[must_use]
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.in_force_read().registry)
    }

    fn in_force_read(&self) -> std::sync::RwLockReadGuard<'_, InForce> {
        crate::util::sync::read(&self.in_force, "registry in force")
    }

    /// Index of the policy entry of the registry in force.
    #[must_use]
    pub fn policy_index(&self) -> Option<u64> {
        self.in_force_read().policy_index
    }

    /// The latest durable checkpoint.
    #[must_use]
    pub fn published(&self) -> Arc<Published> {
        self.sequencer.published()
    }

    /// Everything a handler checks before queuing: schema (already done
    /// by parsing), submitter, signature (on the verification pool), scope,
    /// rate limit. The sequencer checks scope again against the registry in
    /// force when it sequences.
    async fn check(&self, sub: Submission, about: Option<&Refusable>) -> Result<EventJob, SubmitError> {
        if self.sequencer.is_frozen() {
            return Err(SeqError::Frozen.into());
        }
        // A log that stopped (a failed write, a diverged history) says so
        // before it spends a signature check.
        if let Some(why) = self.failure() {
            return Err(SeqError::from(why).into());
        }
        let now = crate::util::clock::now_millis()?;
        let (registry, index) = self.in_force();
        self.admission
            .admit(&registry, sub, now)
            .await
            .map_err(|e| self.refuse(about, index, e))
    }

    /// The registry in force and the index of its policy leaf, read together.
    fn in_force(&self) -> (Arc<Registry>, Option<u64>) {
        let g = self.in_force_read();
        (Arc::clone(&g.registry), g.policy_index)
    }

    /// `err` with the log's signed refusal, if it refuses `about` (an
    /// authenticated submission) for a reason of authority; judged under
    /// the registry at `admitted_under` (admission) or the one the
    /// sequencer names. Otherwise `err` as it is.
    fn refuse(&self, about: Option<&Refusable>, admitted_under: Option<u64>, err: SubmitError) -> SubmitError {
        let Some(about) = about else { return err };
        let Some(code) = err.authority_code() else { return err };
        let policy_index = match &err {
            SubmitError::Sequencer(SeqError::Judged { policy_index, .. }) => Some(*policy_index),
            _ => admitted_under,
        };
        let Some(policy_index) = policy_index else { return err };
        let Ok(refused_at) = crate::util::clock::now_millis().map(provlog_proto::time::format_millis) else {
            return err;
        };
        let Ok(refused_at) = refused_at else { return err };
        let refusal = provlog_proto::refusal::Refusal {
            v: 1,
            origin: self.origin.clone(),
            kind: about.kind.to_owned(),
            submission: about.digest.clone(),
            submitter: about.submitter.clone(),
            event_id: about.event_id.clone(),
            code: code.to_owned(),
            message: err.to_string(),
            policy_index,
            refused_at,
            tree_size: self.published().size,
        }
        .sign(&crate::util::sync::read(&self.keys, "log keys").signer);
        self.metrics.refusal_signed(code);
        SubmitError::Refused {
            error: Box::new(err),
            refusal: Box::new(refusal),
        }
    }

    /// Checks and sequences one submission body; returns once durable.
    ///
    /// # Errors
    /// [`SubmitError`]; nothing is appended on error.
    pub async fn submit(&self, body: &[u8]) -> Result<Sequenced, SubmitError> {
        self.submit_parsed(body, Submission::parse(body)?).await
    }

    /// Registers a signed statement (SCITT, `application/cose`): the
    /// same checks and sequencing as [`Log::submit`], the statement's
    /// issuer as the submitter and its `kid` naming the submitter's key.
    ///
    /// # Errors
    /// As [`Log::submit`], and [`SubmitError::UnknownKid`].
    pub async fn submit_statement(&self, body: &[u8]) -> Result<Sequenced, SubmitError> {
        self.submit_parsed(body, Submission::from_statement(body)?).await
    }

    async fn submit_parsed(&self, body: &[u8], sub: Submission) -> Result<Sequenced, SubmitError> {
        use tracing::Instrument;
        let about = provlog_proto::refusal::body_digest(body).map(|digest| Refusable {
            kind: "event",
            digest,
            submitter: sub.submitter.clone(),
            event_id: Some(sub.event.event.event_id.clone()),
        });
        let span = tracing::info_span!(
            "submission",
            submitter = %sub.submitter,
            event_id = %sub.event.event.event_id,
            index = tracing::field::Empty,
            tree_size = tracing::field::Empty,
        );
        async move {
            let r = match self.check(sub, about.as_ref()).await {
                Ok(job) => match self.sequencer.submit(job).await {
                    Ok(s) => self.acknowledge(s.index).await.map(|()| s),
                    Err(e) => Err(self.refuse(about.as_ref(), None, SubmitError::from(e))),
                },
                Err(e) => Err(e),
            };
            match &r {
                Ok(s) => {
                    tracing::Span::current()
                        .record("index", s.index)
                        .record("tree_size", s.published.size);
                    tracing::debug!(outcome = ?s.outcome, "sequenced");
                }
                Err(e @ (SubmitError::Overloaded | SubmitError::RateLimited(..))) => {
                    tracing::debug!(error = %e, "submission shed");
                }
                Err(e) => tracing::info!(error = %e, "submission rejected"),
            }
            r
        }
        .instrument(span)
        .await
    }

    /// Checks and sequences one heartbeat body (`POST /v1/heartbeats`);
    /// returns once durable.
    ///
    /// # Errors
    /// [`SubmitError`]; nothing is appended on error.
    pub async fn heartbeat(&self, body: &[u8]) -> Result<Sequenced, SubmitError> {
        let sub = provlog_proto::chain::HeartbeatSubmission::parse(body)?;
        if self.sequencer.is_frozen() {
            return Err(SeqError::Frozen.into());
        }
        if let Some(why) = self.sequencer.failure() {
            return Err(SeqError::from(why).into());
        }
        let about = provlog_proto::refusal::body_digest(body).map(|digest| Refusable {
            kind: "heartbeat",
            digest,
            submitter: sub.submitter.clone(),
            event_id: None,
        });
        let now = crate::util::clock::now_millis()?;
        let (registry, index) = self.in_force();
        let job = self
            .admission
            .admit_heartbeat(&registry, sub, now)
            .await
            .map_err(|e| self.refuse(about.as_ref(), index, e))?;
        let s = self
            .sequencer
            .heartbeat(job)
            .await
            .map_err(|e| self.refuse(about.as_ref(), None, e.into()))?;
        self.acknowledge(s.index).await?;
        Ok(s)
    }

    /// With `ack_after_publish`, waits until the entry at `index` is in a
    /// checkpoint in the object store.
    async fn acknowledge(&self, index: u64) -> Result<(), SubmitError> {
        match &self.ack_gate {
            Some(g) => Ok(g.wait_published(index).await?),
            None => Ok(()),
        }
    }

    /// Checks every submission of a batch body on its own and sequences the
    /// accepted ones together. Results are in request order.
    ///
    /// Only a cheap check runs on the async runtime (the body must open a
    /// JSON object); parsing and canonicalizing up to
    /// `max_batch_body_bytes` of JSON runs on the blocking pool.
    ///
    /// # Errors
    /// The body as a whole is malformed (nothing is appended).
    pub async fn submit_batch(&self, body: bytes::Bytes) -> Result<Vec<Result<Sequenced, SubmitError>>, SubmitError> {
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(SubmitError::InvalidBatch(
                "body must be a JSON object {\"submissions\": [...]}".into(),
            ));
        }
        let items = tokio::task::spawn_blocking(move || parse_batch(&body))
            .await
            .map_err(|_| SubmitError::InvalidBatch("the batch could not be parsed".into()))??;
        let mut results: Vec<Option<Result<Sequenced, SubmitError>>> = Vec::with_capacity(items.len());
        let mut jobs = Vec::new();
        let mut slots = Vec::new();
        // Every item's signature goes to the verification pool at once.
        let mut abouts = Vec::with_capacity(items.len());
        let checked = futures_util::future::join_all(items.into_iter().map(|(digest, item)| {
            let about = item.as_ref().ok().map(|s| Refusable {
                kind: "event",
                digest,
                submitter: s.submitter.clone(),
                event_id: Some(s.event.event.event_id.clone()),
            });
            abouts.push(about.clone());
            async move {
                match item {
                    Ok(s) => self.check(s, about.as_ref()).await,
                    Err(e) => Err(e.into()),
                }
            }
        }))
        .await;
        for (i, c) in checked.into_iter().enumerate() {
            match c {
                Ok(job) => {
                    jobs.push(job);
                    slots.push(i);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        if !jobs.is_empty() {
            for (slot, r) in slots.into_iter().zip(self.sequencer.submit_many(jobs).await) {
                let about = abouts.get(slot).and_then(Option::as_ref);
                results[slot] = Some(r.map_err(|e| self.refuse(about, None, SubmitError::from(e))));
            }
        }
        let last = results
            .iter()
            .filter_map(|r| r.as_ref().and_then(|r| r.as_ref().ok()).map(|s| s.index))
            .max();
        if let Some(last) = last {
            self.acknowledge(last).await?;
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(SeqError::from(sequencer::Unavailable::Dropped).into())))
            .collect())
    }

    /// Receipts for sequenced entries: a new entry gets the checkpoint that
    /// made it durable, a retry the latest one.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn receipts(self: &Arc<Self>, done: Vec<Sequenced>) -> Result<Vec<Receipt>, ReadError> {
        // New entries come with their proof from the sequencer: no storage
        // read, no thread hop.
        if done.iter().all(|s| s.receipt_parts.is_some()) {
            return Ok(done
                .iter()
                .filter_map(|s| {
                    let parts = s.receipt_parts.as_ref()?;
                    Some(Receipt::new(s.index, &parts.0, &s.published.checkpoint, &parts.1))
                })
                .collect());
        }
        let latest = self.published();
        self.read(move |l| {
            done.into_iter()
                .map(|s| match (&s.receipt_parts, s.outcome) {
                    (Some(parts), _) => Ok(Receipt::new(s.index, &parts.0, &s.published.checkpoint, &parts.1)),
                    (None, Outcome::Created) => l.receipt_blocking(s.index, s.published.size, &s.published.checkpoint),
                    (None, Outcome::Duplicate) => l.receipt_blocking(s.index, latest.size, &latest.checkpoint),
                })
                .collect()
        })
        .await
    }

    fn receipt_blocking(&self, index: u64, size: u64, note: &str) -> Result<Receipt, ReadError> {
        if index >= size {
            return Err(ReadError::NotFound(format!(
                "no entry {index}: the tree has {size} entries"
            )));
        }
        let entry = self.entry_blocking(index)?;
        let proof = self.inclusion_proof_blocking(index, size)?;
        Ok(Receipt::new(index, &entry, note, &proof))
    }

    /// A receipt for entry `index` against the checkpoint `note` of tree
    /// `size` (a durable one, maybe carrying cosignatures; it must include
    /// the entry).
    ///
    /// # Errors
    /// [`ReadError::NotFound`] beyond `size`; storage errors.
    pub async fn receipt(self: &Arc<Self>, index: u64, size: u64, note: String) -> Result<Receipt, ReadError> {
        self.read(move |l| l.receipt_blocking(index, size, &note)).await
    }

    /// A COSE receipt (RFC 9942, docs/SCITT.md) for entry `index` against
    /// the latest checkpoint: the log's signature over that tree head
    /// (made once per tree size, by the key in force) and the entry's
    /// inclusion proof; for a statement's leaf, also the leaf's frame
    /// ([`provlog_proto::statement::LABEL_LEAF_FRAME`]).
    ///
    /// # Errors
    /// [`ReadError::NotFound`] beyond the tree; storage errors.
    pub async fn cose_receipt(self: &Arc<Self>, index: u64) -> Result<Vec<u8>, ReadError> {
        let p = self.published();
        if index >= p.size {
            return Err(ReadError::NotFound(format!(
                "no entry {index}: the tree has {} entries",
                p.size
            )));
        }
        let head = self.cose_head(&p)?;
        let size = p.size;
        let (proof, entry) = self
            .read(move |l| Ok((l.inclusion_proof_blocking(index, size)?, l.entry_blocking(index)?)))
            .await?;
        let frame = provlog_proto::statement::leaf_frame(&entry);
        head.receipt_with_frame(index, &proof, frame.as_deref())
            .map_err(|e| ReadError::Internal(format!("encoding a COSE receipt: {e}")))
    }

    /// The COSE receipt for a sequenced entry: for a new one, against the
    /// checkpoint that made it durable, from the proof the sequencer made
    /// (no storage read); for a retry, [`Log::cose_receipt`].
    ///
    /// # Errors
    /// As [`Log::cose_receipt`].
    pub async fn cose_receipt_of(self: &Arc<Self>, s: &Sequenced) -> Result<Vec<u8>, ReadError> {
        let Some(parts) = &s.receipt_parts else {
            return self.cose_receipt(s.index).await;
        };
        let head = self.cose_head(&s.published)?;
        let frame = provlog_proto::statement::leaf_frame(&parts.0);
        head.receipt_with_frame(s.index, &parts.1, frame.as_deref())
            .map_err(|e| ReadError::Internal(format!("encoding a COSE receipt: {e}")))
    }

    /// The log's COSE signature over the tree head `p`: made once per tree
    /// size and key (the last few are kept, for answers to batches that
    /// became durable at different sizes).
    fn cose_head(&self, p: &Published) -> Result<Arc<provlog_proto::cose_receipt::TreeHeadSignature>, ReadError> {
        const KEPT: usize = 8;
        let keys = crate::util::sync::read(&self.keys, "log keys");
        let mut cached = crate::util::sync::lock(&self.cose_head, "cose head");
        if let Some(h) = cached
            .iter()
            .find(|h| h.size == p.size && h.root == p.root && h.key_id == keys.signer.key_id())
        {
            return Ok(Arc::clone(h));
        }
        let iat = crate::util::clock::now_millis()? / 1000;
        let h = Arc::new(provlog_proto::cose_receipt::TreeHeadSignature::sign(
            &keys.signer,
            p.size,
            p.root,
            iat,
        ));
        if cached.len() == KEPT {
            cached.pop_front();
        }
        cached.push_back(Arc::clone(&h));
        Ok(h)
    }

    /// Runs a blocking read against the store on the blocking pool.
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Self) -> Result<T, ReadError> + Send + 'static,
    ) -> Result<T, ReadError> {
        let log = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&log))
            .await
            .map_err(ReadError::Task)?
    }

    /// The bytes of entry `index`, which must be within the durable tree.
    ///
    /// # Errors
    /// [`ReadError::NotFound`] beyond the durable size; storage errors.
    pub async fn entry(self: &Arc<Self>, index: u64) -> Result<Vec<u8>, ReadError> {
        let size = self.published().size;
        if index >= size {
            return Err(ReadError::NotFound(format!(
                "no entry {index}: the tree has {size} entries"
            )));
        }
        self.read(move |l| l.entry_blocking(index)).await
    }

    /// An inclusion proof in the tree of `tree_size` for entry `index`, or
    /// for the entry whose leaf hash is `leaf_hash`: the entry's index, its
    /// leaf hash and the proof. Blocking: a leaf hash is looked up in
    /// `RocksDB`; call it through [`Log::read`].
    ///
    /// # Errors
    /// [`ReadError::NotFound`] for a leaf hash not in the tree; storage
    /// errors.
    pub fn inclusion(
        &self,
        index: Option<u64>,
        leaf_hash: Option<Hash>,
        tree_size: u64,
    ) -> Result<(u64, Hash, Vec<Hash>), ReadError> {
        let index = match (index, leaf_hash) {
            (Some(i), _) => i,
            (None, Some(h)) => self.index_of_leaf(&h, tree_size)?.ok_or_else(|| {
                ReadError::NotFound(format!("no entry with this leaf hash in the first {tree_size} entries"))
            })?,
            (None, None) => return Err(ReadError::Invalid("give exactly one of index or leaf_hash".into())),
        };
        let leaf = self.store.leaf_hash(index)?;
        let proof = merkle::inclusion_proof(index, tree_size, self.store.as_ref()).map_err(proof_err)?;
        Ok((index, leaf, proof))
    }

    /// The leaf hash of entry `index` and its inclusion proof in the tree
    /// of `tree_size`, if everything it needs is in memory (no disk read,
    /// so the caller may be an async thread); `None` sends it to
    /// [`Log::inclusion`] on the blocking pool.
    #[must_use]
    pub fn cached_inclusion(&self, index: u64, tree_size: u64) -> Option<(Hash, Vec<Hash>)> {
        self.store.cached_inclusion(index, tree_size)
    }

    /// Whether tile `tile` of the tree of `size` is served from memory.
    fn tile_cached(&self, tile: &provlog_tlog::tile::TileId, size: u64) -> bool {
        tile_nodes(tile, size).is_ok_and(|(level, range)| {
            self.store.is_cached(
                level,
                range.start,
                range.end - range.start,
                tile.kind == provlog_tlog::tile::TileKind::Entries,
            )
        })
    }

    /// The index of the entry with leaf hash `hash`, if it is within `size`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn index_of_leaf(&self, hash: &Hash, size: u64) -> Result<Option<u64>, ReadError> {
        Ok(self.store.index_of_leaf(hash)?.filter(|i| *i < size))
    }

    /// Blocking (call it on the blocking pool): the indexes of one page of
    /// a search within the tree of `size`, in index order, and the cursor
    /// of the next page (`None` at the end). The page ends after `limit`
    /// hits or where the join's work bound ([`MAX_SEARCH_MISSES`]) stops it.
    ///
    /// # Errors
    /// Storage errors.
    pub fn search_hits(&self, q: &SearchQuery, size: u64) -> Result<(Vec<u64>, Option<u64>), ReadError> {
        // A `logged_at` window is an index range: `logged_at` never goes
        // backwards along the log (binary search, no scan).
        let mut start = q.after.map_or(0, |a| a.saturating_add(1));
        let mut end = size;
        if let Some(from) = q.logged.0 {
            start = start.max(self.store.first_logged_at_or_after(from, size)?);
        }
        if let Some(to) = q.logged.1 {
            end = end.min(self.store.first_logged_at_or_after(to, size)?);
        }
        let search = provlog_storage::Search {
            terms: q.filters.iter().map(|(t, v)| (*t, v.as_str())).collect(),
            occurred: q.occurred,
            start,
            end,
        };
        let (mut hits, stopped) =
            self.store
                .search_in(&search, q.limit + 1, MAX_SEARCH_MISSES)
                .map_err(|e| match e {
                    provlog_storage::SearchError::TooWide(w) => ReadError::Invalid(w.to_string()),
                    provlog_storage::SearchError::Storage(s) => ReadError::Storage(s),
                    other => ReadError::Internal(other.to_string()),
                })?;
        let more = hits.len() > q.limit;
        hits.truncate(q.limit);
        // A page ends at `limit` hits, or where the work bound stopped the
        // join (then possibly with fewer hits, even none): either way
        // `next` resumes exactly after what was examined. A window that
        // ends before the tree's end has nothing past it.
        let next = if more { hits.last().copied() } else { stopped };
        Ok((hits, next))
    }

    /// Blocking: one page of the policy leaves within the tree of `size`
    /// (after `after`, at most `limit`) and the cursor of the next page.
    ///
    /// # Errors
    /// Storage errors.
    pub fn policy_hits(
        &self,
        after: Option<u64>,
        size: u64,
        limit: usize,
    ) -> Result<(Vec<u64>, Option<u64>), ReadError> {
        let mut hits = self.store.policy_leaves(after, size, limit + 1)?;
        let more = hits.len() > limit;
        hits.truncate(limit);
        let next = if more { hits.last().copied() } else { None };
        Ok((hits, next))
    }

    /// Blocking: the indexes of every event naming `fingerprint` (as the
    /// credential or the one it replaced) within the tree of `size`.
    ///
    /// # Errors
    /// More than [`MAX_CREDENTIAL_HISTORY`] of them (400); storage errors.
    pub fn credential_hits(&self, fingerprint: &str, size: u64) -> Result<Vec<u64>, ReadError> {
        let hits = self.store.search(
            &[(Term::Credential, fingerprint)],
            None,
            size,
            MAX_CREDENTIAL_HISTORY + 1,
        )?;
        if hits.len() > MAX_CREDENTIAL_HISTORY {
            return Err(ReadError::Invalid(format!(
                "more than {MAX_CREDENTIAL_HISTORY} events name this credential; use /v1/events to page through them"
            )));
        }
        Ok(hits)
    }

    /// Blocking: the bytes of entry `index`, which the caller knows is
    /// within a published size.
    ///
    /// # Errors
    /// [`ReadError::NotFound`] if it is not stored; storage errors.
    pub fn entry_blocking(&self, index: u64) -> Result<Vec<u8>, ReadError> {
        self.store
            .entry(index)?
            .ok_or_else(|| ReadError::NotFound(format!("entry {index} is not stored")))
    }

    /// Blocking: the record of `fingerprint` (if any), the map proof of it,
    /// and the state commitment both are against (its index and bytes;
    /// `None` before the first): the last commitment a checkpoint of `size`
    /// includes.
    ///
    /// # Errors
    /// Storage errors; [`ReadError::Internal`] for a map that does not hold
    /// what its versions say.
    pub fn credential_state(&self, fingerprint: &str, size: u64) -> Result<CredentialState, ReadError> {
        match size.checked_sub(1) {
            Some(last) => {
                let (state, version) = self.credential_state_version(fingerprint, last)?;
                if let (Some(v), Some((_, entry))) = (version, &state.commitment)
                    && let Ok(mut g) = self.answer_version.lock()
                {
                    *g = Some((size, v, Arc::new(entry.clone())));
                }
                Ok(state)
            }
            None => Ok(CredentialState {
                record: None,
                proof: provlog_proto::map::Map::new().prove(&[0; 32]),
                commitment: None,
            }),
        }
    }

    /// [`Log::credential_state`] without blocking, if everything it reads
    /// is in memory: the version of the last answer for a tree of `size`,
    /// and the nodes and the record in the caches
    /// ([`provlog_storage::map::InMemory`]). `None`: something is not (or
    /// the read failed); ask [`Log::credential_state`] on the blocking
    /// pool, which also reports any error.
    #[must_use]
    pub fn credential_state_in_memory(&self, fingerprint: &str, size: u64) -> Option<CredentialState> {
        use provlog_storage::map::InMemory;
        let (v, entry) = match self.answer_version.lock().ok()?.as_ref() {
            Some((n, v, entry)) if *n == size => (*v, Arc::clone(entry)),
            _ => return None,
        };
        let mem = InMemory(self.store.as_ref());
        let key = provlog_proto::ledger::credential_key(fingerprint);
        let (proof, value) = provlog_proto::map_nodes::prove(&mem, &v.root, &key).ok()?;
        let record = match value {
            None => None,
            Some(value) => {
                Some(provlog_proto::ledger::CredentialRecord::from_canonical(&mem.map_record(&value).ok()??).ok()?)
            }
        };
        Some(CredentialState {
            record,
            proof,
            commitment: Some((v.index, entry.as_ref().clone())),
        })
    }

    /// Blocking: [`Log::credential_state`] against the map in force when
    /// entry `at` was logged: the last version committed at or before it
    /// (every version the retention keeps stays provable).
    ///
    /// # Errors
    /// [`ReadError::Pruned`] for a version older than the retention;
    /// storage errors; [`ReadError::Internal`] for a map that does not
    /// hold what its versions say.
    pub fn credential_state_at(&self, fingerprint: &str, at: u64) -> Result<CredentialState, ReadError> {
        Ok(self.credential_state_version(fingerprint, at)?.0)
    }

    /// [`Log::credential_state_at`] and the version it is against.
    fn credential_state_version(
        &self,
        fingerprint: &str,
        at: u64,
    ) -> Result<(CredentialState, Option<provlog_storage::map::MapVersion>), ReadError> {
        let key = provlog_proto::ledger::credential_key(fingerprint);
        let (proof, bytes, commitment, v) = self.map_state_version(&key, fingerprint, at)?;
        let record = bytes
            .map(|b| {
                provlog_proto::ledger::CredentialRecord::from_canonical(&b)
                    .map_err(|e| ReadError::Internal(format!("the stored record of {fingerprint}: {e}")))
            })
            .transpose()?;
        Ok((
            CredentialState {
                record,
                proof,
                commitment,
            },
            v,
        ))
    }

    /// Blocking: the chain record of `submitter` (if it is or was
    /// sequenced) and its map proof against the last state commitment a
    /// checkpoint of `size` includes (docs/DESIGN.md "Sequenced
    /// submitters").
    ///
    /// # Errors
    /// As [`Log::credential_state_at`].
    pub fn chain_state(&self, submitter: &str, size: u64) -> Result<ChainState, ReadError> {
        let Some(last) = size.checked_sub(1) else {
            return Ok(ChainState {
                record: None,
                proof: provlog_proto::map::Map::new().prove(&[0; 32]),
                commitment: None,
            });
        };
        let key = provlog_proto::chain::chain_key(submitter);
        let (proof, bytes, commitment, _) = self.map_state_version(&key, submitter, last)?;
        let record = bytes
            .map(|b| {
                provlog_proto::chain::ChainRecord::from_canonical(&b)
                    .map_err(|e| ReadError::Internal(format!("the stored chain record of {submitter}: {e}")))
            })
            .transpose()?;
        Ok(ChainState {
            record,
            proof,
            commitment,
        })
    }

    /// Blocking: the index of position `seq` of `submitter`'s chain, if
    /// logged (at any size: the caller bounds it by its checkpoint).
    ///
    /// # Errors
    /// Storage errors.
    pub fn chain_entry(&self, submitter: &str, seq: u64) -> Result<Option<u64>, ReadError> {
        Ok(self.store.chain_entry(submitter, seq)?)
    }

    /// The map proof of `key` (named `what` in errors) in the last map
    /// version committed at or before entry `at`, the stored bytes of its
    /// record, the commitment (index and bytes) and the version.
    #[expect(clippy::type_complexity, reason = "one private helper's tuple")]
    fn map_state_version(
        &self,
        key: &provlog_proto::map::Key,
        what: &str,
        at: u64,
    ) -> Result<
        (
            provlog_proto::map::MapProof,
            Option<Vec<u8>>,
            Option<(u64, Vec<u8>)>,
            Option<provlog_storage::map::MapVersion>,
        ),
        ReadError,
    > {
        use provlog_proto::map_nodes::{NodeError, prove};
        let Some(v) = self.store.map_version_at_or_before(at)? else {
            return Ok((provlog_proto::map::Map::new().prove(&[0; 32]), None, None, None));
        };
        let pruned = || {
            ReadError::Pruned(format!(
                "the credential map in force at entry {at} (committed at entry {}) is older than the map retention \
                 and was pruned; `provlog audit` recomputes any version from the log",
                v.index
            ))
        };
        if v.index < self.store.map_pruned_below()? {
            return Err(pruned());
        }
        let (proof, value) = match prove(self.store.as_ref(), &v.root, key) {
            Ok(p) => p,
            Err(NodeError::Missing(_)) if v.index < self.store.map_pruned_below()? => return Err(pruned()),
            Err(NodeError::Source(e)) => return Err(e.into()),
            Err(e) => return Err(ReadError::Internal(e.to_string())),
        };
        let bytes = match value {
            None => None,
            Some(value) => Some(
                self.store
                    .map_record(&value)?
                    .ok_or_else(|| ReadError::Internal(format!("the record of {what} in the map is not stored")))?,
            ),
        };
        let entry = self
            .store
            .entry(v.index)?
            .ok_or_else(|| ReadError::Internal(format!("the state leaf {} is not stored", v.index)))?;
        Ok((proof, bytes, Some((v.index, entry)), Some(v)))
    }

    /// The inclusion proof of the state commitment at `index` in the tree of
    /// `size`, from memory when the last answer needed the same one (the
    /// common case: every answer between two checkpoints), else read on
    /// the blocking pool.
    ///
    /// # Errors
    /// `index >= size` (400); storage errors.
    pub async fn commitment_proof(self: &Arc<Self>, index: u64, size: u64) -> Result<Arc<Vec<Hash>>, ReadError> {
        if let Ok(g) = self.commitment_proof.lock()
            && let Some((i, n, p)) = g.as_ref()
            && (*i, *n) == (index, size)
        {
            return Ok(Arc::clone(p));
        }
        let log = Arc::clone(self);
        let proof = Arc::new(blocking(move || log.inclusion_proof_blocking(index, size)).await?);
        if let Ok(mut g) = self.commitment_proof.lock() {
            *g = Some((index, size, Arc::clone(&proof)));
        }
        Ok(proof)
    }

    /// Blocking: the inclusion proof of entry `index` in the tree of `size`.
    ///
    /// # Errors
    /// `index >= size` (400); storage errors.
    pub fn inclusion_proof_blocking(&self, index: u64, size: u64) -> Result<Vec<Hash>, ReadError> {
        merkle::inclusion_proof(index, size, self.store.as_ref()).map_err(proof_err)
    }

    /// Blocking: the parts of the evidence that explains event `index` in
    /// the tree of `size` (docs/DESIGN.md "Explaining an entry"), all but
    /// the credential answers: the entry and the policy leaf in force with
    /// their inclusion proofs, the first checkpoint that included the
    /// entry with its consistency proof to `size`, and the events naming
    /// the entry's credential between its last commitment and the entry.
    ///
    /// # Errors
    /// [`ReadError::NotFound`] beyond `size`; [`ReadError::Invalid`] for an
    /// entry that is not an event; storage errors.
    pub fn explain_parts(&self, index: u64, size: u64) -> Result<ExplainParts, ReadError> {
        use provlog_proto::leaf::Leaf;
        if index >= size {
            return Err(ReadError::NotFound(format!(
                "no entry {index}: the tree has {size} entries"
            )));
        }
        let entry = self.entry_blocking(index)?;
        let Ok(Leaf::Event(e)) = Leaf::parse(&entry) else {
            return Err(ReadError::Invalid(format!(
                "entry {index} is not an event: only events are explained"
            )));
        };
        let proof = self.inclusion_proof_blocking(index, size)?;
        let policy_index = match self.store.policy_in_force(index)? {
            Some(i) => i,
            None => self.policy_before_by_scan(index)?,
        };
        let policy_entry = self.entry_blocking(policy_index)?;
        let policy_proof = self.inclusion_proof_blocking(policy_index, size)?;
        let (first_size, first_note) = match self.store.first_checkpoint_including(index)? {
            Some((n, note)) if n <= size => (n, String::from_utf8_lossy(&note).into_owned()),
            _ => (size, self.checkpoint_blocking(size)?),
        };
        let first_consistency = merkle::consistency_proof(first_size, size, self.store.as_ref()).map_err(proof_err)?;
        let fingerprint = e.event.event.credential.as_ref().map(|c| c.fingerprint.clone());
        let between = match (&fingerprint, index.checked_sub(1)) {
            (Some(fp), Some(before)) => {
                let committed = self.store.map_version_at_or_before(before)?.map(|v| v.index);
                self.credential_hits(fp, index)?
                    .into_iter()
                    .filter(|&i| committed.is_none_or(|c| i > c) && i < index)
                    .collect()
            }
            _ => Vec::new(),
        };
        Ok(ExplainParts {
            entry,
            proof,
            policy_index,
            policy_entry,
            policy_proof,
            first_size,
            first_note,
            first_consistency,
            fingerprint,
            between,
        })
    }

    /// The last policy leaf at or before `index`, found by reading entries
    /// back from it (stores written before the policy-leaf index), at most
    /// [`MAX_POLICY_SCAN`] of them.
    fn policy_before_by_scan(&self, index: u64) -> Result<u64, ReadError> {
        let from = index.saturating_sub(MAX_POLICY_SCAN - 1);
        for i in (from..=index).rev() {
            let entry = self.entry_blocking(i)?;
            if matches!(
                provlog_proto::leaf::Leaf::parse(&entry),
                Ok(provlog_proto::leaf::Leaf::Policy(_))
            ) {
                return Ok(i);
            }
        }
        Err(ReadError::Invalid(format!(
            "the registry in force at entry {index} is more than {MAX_POLICY_SCAN} entries back in a store written \
             before policy leaves were indexed; `provlog audit` replays it"
        )))
    }

    /// Blocking: the signed checkpoint of tree size `size`, which must be
    /// within the published tree: the latest one, or an earlier one the
    /// store kept.
    ///
    /// # Errors
    /// [`ReadError::NotFound`] when no checkpoint of that size is kept (a
    /// size between two batches, or one older than the store's record);
    /// storage errors.
    pub fn checkpoint_blocking(&self, size: u64) -> Result<String, ReadError> {
        let published = self.published();
        if size == published.size {
            return Ok(published.checkpoint.clone());
        }
        if size > published.size {
            return Err(ReadError::NotFound(format!(
                "no checkpoint of size {size}: the tree has {} entries",
                published.size
            )));
        }
        let note = self.store.checkpoint_at(size)?.ok_or_else(|| {
            ReadError::NotFound(format!(
                "no checkpoint of size {size} is kept; start again from the latest"
            ))
        })?;
        String::from_utf8(note).map_err(|_| ReadError::NotFound(format!("the checkpoint of size {size} is not text")))
    }

    /// The bytes of a hash tile or entry bundle that exists in the tree of
    /// `size` (blocking; see [`tile_bytes`]).
    ///
    /// # Errors
    /// [`ReadError::NotFound`] when the tile does not exist at `size`;
    /// storage errors.
    pub fn tile_bytes(&self, tile: &provlog_tlog::tile::TileId, size: u64) -> Result<Arc<Vec<u8>>, ReadError> {
        tile_bytes(&self.store, tile, size)
    }

    /// Freezes the log for good (docs/DESIGN.md has CT logs' end of life in
    /// mind): what is queued is sequenced, then the log accepts nothing more
    /// and keeps serving reads. Returns the final checkpoint.
    ///
    /// # Errors
    /// The sequencer has stopped.
    pub async fn freeze(&self) -> Result<Arc<Published>, SeqError> {
        let _no_reload_meanwhile = self.reload_lock.lock().await;
        self.sequencer.freeze().await
    }

    /// Stops sequencing and signing because the log's history diverges from
    /// what it already published or had cosigned (`why` says how); reads go
    /// on, submissions get `503 history_diverged`, readiness fails.
    pub fn halt(&self, why: String) {
        tracing::error!(reason = %why, "the log's history diverges from what it published: it signs nothing more");
        self.sequencer.halt(sequencer::Unavailable::Diverged(why));
    }

    /// Under `[ha]`, when this node steps down: refuses every later
    /// submission as a standby would (`503 not_sequencer`).
    pub fn halt_for_step_down(&self) {
        self.sequencer
            .halt(sequencer::Unavailable::NotSequencer { leader: None });
    }

    /// Stops the sequencer after finishing what is queued.
    pub fn shutdown(&self) {
        self.sequencer.shutdown();
    }
}

/// Prunes the credential map every minute (or every quarter of a shorter
/// retention), for as long as the log is alive.
fn spawn_map_pruner(log: &Arc<Log>, retention: Duration) {
    let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_mins(1));
    let weak = Arc::downgrade(log);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(log) = weak.upgrade() else { return };
            let Ok(now) = crate::util::clock::now_millis() else {
                continue;
            };
            let res = tokio::task::spawn_blocking(move || log.prune_map(now, retention)).await;
            if let Ok(Err(e)) = res {
                tracing::warn!(error = %crate::util::error_chain(&e), "pruning the credential map failed; retrying later");
            }
        }
    });
}

/// The bytes of a hash tile or entry bundle that exists in the tree of
/// `size` (blocking; served from the caches when warm). Every tile that
/// exists at some size has the same bytes at every larger size.
///
/// # Errors
/// [`ReadError::NotFound`] when the tile does not exist at `size`;
/// storage errors.
pub(crate) fn tile_bytes(
    store: &Store,
    tile: &provlog_tlog::tile::TileId,
    size: u64,
) -> Result<Arc<Vec<u8>>, ReadError> {
    use provlog_tlog::tile::{TileKind, encode_bundle};
    let (level, range) = tile_nodes(tile, size)?;
    let count = range.end - range.start;
    if tile.kind == TileKind::Entries {
        Ok(store.bundle_body(range.start, count, |entries| {
            encode_bundle(entries.iter().map(Vec::as_slice)).map_err(|e| e.to_string())
        })?)
    } else {
        Ok(store.tile_body(level, range.start, count)?)
    }
}

/// The level and node range of tile `tile` if it exists in the tree of
/// `size` (the one place that decides; every tile that exists at some size
/// has the same bytes at every larger size).
///
/// # Errors
/// [`ReadError::NotFound`] when it does not exist at `size`.
fn tile_nodes(tile: &provlog_tlog::tile::TileId, size: u64) -> Result<(u8, std::ops::Range<u64>), ReadError> {
    tile.node_range()
        .filter(|(l, r)| r.end <= size >> l)
        .ok_or_else(|| ReadError::NotFound(format!("{} does not exist at tree size {size}", tile.path())))
}

/// Parses a batch body into its submissions, each parsed and canonicalized
/// on its own (an item that fails is that item's error). Blocking: up to
/// `max_batch_body_bytes` of JSON.
///
/// # Errors
/// The body is not `{"submissions": [1..=1000 items]}`.
/// The batch's items, each with the digest a signed refusal would name
/// ([`provlog_proto::refusal::submission_digest`]) and its parse.
#[expect(clippy::type_complexity, reason = "one private helper's result")]
fn parse_batch(body: &[u8]) -> Result<Vec<(String, Result<Submission, SubmissionError>)>, SubmitError> {
    let v = json::parse_strict(body).map_err(|e| SubmitError::Invalid(e.into()))?;
    let Value::Object(mut m) = v else {
        return Err(SubmitError::InvalidBatch(
            "body must be {\"submissions\": [...]}".into(),
        ));
    };
    if m.len() != 1 {
        return Err(SubmitError::InvalidBatch(
            "body must have exactly one member, \"submissions\"".into(),
        ));
    }
    let Some(Value::Array(items)) = m.remove("submissions") else {
        return Err(SubmitError::InvalidBatch("\"submissions\" must be an array".into()));
    };
    if items.is_empty() || items.len() > MAX_BATCH_SUBMISSIONS {
        return Err(SubmitError::InvalidBatch(format!(
            "a batch holds 1 to {MAX_BATCH_SUBMISSIONS} submissions, not {}",
            items.len()
        )));
    }
    Ok(items
        .into_iter()
        .map(|v| (provlog_proto::refusal::submission_digest(&v), Submission::from_value(v)))
        .collect())
}

/// Most entries read back to find the registry in force for an old store.
pub const MAX_POLICY_SCAN: u64 = 65_536;

/// What [`Log::explain_parts`] reads.
#[derive(Debug)]
pub struct ExplainParts {
    /// The entry bytes.
    pub entry: Vec<u8>,
    /// Its inclusion proof.
    pub proof: Vec<Hash>,
    /// The policy leaf in force.
    pub policy_index: u64,
    /// Its bytes.
    pub policy_entry: Vec<u8>,
    /// Its inclusion proof.
    pub policy_proof: Vec<Hash>,
    /// The first checkpoint that included the entry.
    pub first_size: u64,
    /// Its note.
    pub first_note: String,
    /// Consistency from it to the tree explained against.
    pub first_consistency: Vec<Hash>,
    /// The event's credential, if it names one.
    pub fingerprint: Option<String>,
    /// Events naming it between its last commitment and the entry.
    pub between: Vec<u64>,
}

/// Runs a blocking read on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    tokio::task::spawn_blocking(f).await.map_err(ReadError::Task)?
}

/// Maps a proof-generation failure to a read error.
pub fn proof_err(e: merkle::ProofError<StorageError>) -> ReadError {
    match e {
        merkle::ProofError::Source(s) => ReadError::Storage(s),
        other => ReadError::Invalid(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Issue 13.7: a 16 MiB batch body is parsed on the blocking pool, not
    /// on the async runtime. On a single-threaded runtime another task can
    /// only run while `submit_batch` waits; it runs during the parse of a
    /// large body only if the parse is elsewhere.
    #[test]
    fn a_large_batch_is_parsed_off_the_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("dir");
            let o = Overrides {
                data_dir: Some(dir.path().to_owned()),
                ..Overrides::default()
            };
            let cfg = Config::load(&o).expect("config");
            let signer = SignerKey::from_seed(&cfg.origin, provlog_tlog::keys::ALG_ED25519, [3; 32]).expect("key");
            let log = Log::open(&cfg, o, signer, None, WritePath::Store).await.expect("open");
            // Well-formed up to its last byte, so the parser reads it all.
            let mut body = b"{\"submissions\":[".to_vec();
            while body.len() < 16 << 20 {
                body.extend_from_slice(b"{\"event\":{\"p\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]},\"submitter\":\"x\"},");
            }
            body.extend_from_slice(b"{}]");
            let ticks = Arc::new(AtomicU64::new(0));
            let t = Arc::clone(&ticks);
            let other = tokio::spawn(async move {
                loop {
                    t.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            });
            tokio::task::yield_now().await;
            let before = ticks.load(Ordering::Relaxed);
            let r = log.submit_batch(bytes::Bytes::from(body)).await;
            let after = ticks.load(Ordering::Relaxed);
            other.abort();
            assert!(
                matches!(r, Err(SubmitError::Invalid(_) | SubmitError::InvalidBatch(_))),
                "the unterminated body is refused: {r:?}"
            );
            assert!(after > before, "another task ran while the batch was parsed");
            log.shutdown();
        });
    }
}
