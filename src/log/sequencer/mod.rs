//! Group commit (docs/DESIGN.md "Write path").
//!
//! Two threads own the write path:
//! * the **sequencer** takes everything queued (up to `batch_max_entries`,
//!   optionally waiting `batch_max_wait_ms` for more), drops or attaches
//!   duplicates, assigns indexes and `logged_at`, renders the leaves,
//!   extends the compact range, signs the new checkpoint, and hands the
//!   whole batch to
//! * the **committer**, which writes it as one synced `RocksDB` `WriteBatch`,
//!   then publishes the checkpoint and answers the waiters.
//!
//! While the committer syncs batch *k*, the sequencer builds batch *k+1*
//! from what arrived meanwhile. The sequencer's tree state runs at most one
//! batch ahead of the disk; if a write fails, nothing after it is written:
//! the log stops accepting entries (readiness fails) and a restart resumes
//! from the durable state.
//!
//! Authority: the sequencer holds the registry in force and checks every
//! event's scope against it (and, if the submitter's key changed since the
//! handler verified the signature, the signature again) at the moment it
//! assigns the index, with `logged_at` as the time. A registry change is a
//! job in the same queue: its `policy` leaf takes the next index and the
//! new registry applies from the next job on, so the registry an event was
//! checked under is always the last policy leaf before it.
//!
//! Credentials: the sequencer checks each event's credential changes
//! against the stored map with the batch's earlier changes on top
//! ([`credentials::Credentials`]) and writes the map's new nodes, records
//! and version with the batch. A batch is assembled while the committer
//! writes at most one earlier batch (the `ready` semaphore's two permits);
//! the map changes of batches not yet written are read from memory, so the
//! map a batch is checked against always holds every earlier batch.
//!
//! Idempotency: a submission whose `(submitter, event_id)` is already
//! stored or in flight with the same event gets the original index
//! ([`Outcome::Duplicate`], answered once that index is durable); with a
//! different event it gets [`SeqError::Conflict`]. Checking the in-flight
//! set before the store, and the committer clearing it only after the write,
//! makes concurrent retries safe.

//!
//! | file | holds |
//! | --- | --- |
//! | `mod.rs` | the handle ([`Sequencer`]), the bounded queue and the sequencer thread's loop |
//! | [`batch`] | batch assembly: queued jobs → one commit, with no thread or channel in it |
//! | [`committer`] | the committer: one synced write per batch, then the answers |
//!
//! Both threads reach the store through [`Durable`], which [`Store`]
//! implements, so tests can run them over a store that fails on command.

mod approvals;
mod batch;
mod committer;
pub mod credentials;

use crate::obs::metrics::Metrics;
use batch::{Assembler, Work};
pub use batch::{Rotation, SigningKeys};
use committer::Commit;
use provlog_proto::policy::{Policy, Registry, ScopeError};
use provlog_proto::submission::Submission;
use provlog_storage::{AppendBatch, StorageError, Store};
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::{CompactRange, EMPTY_ROOT, Hash};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// The latest durable, signed state of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The signed checkpoint note (empty only before the first append).
    pub checkpoint: String,
}

/// Whether a submission made a new entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Appended now.
    Created,
    /// The same event was already logged (or in flight) under this id.
    Duplicate,
}

/// An entry that is durable.
#[derive(Debug, Clone)]
pub struct Sequenced {
    /// Its index.
    pub index: u64,
    /// New or retry.
    pub outcome: Outcome,
    /// A durable checkpoint that includes it.
    pub published: Arc<Published>,
    /// For a new entry: its bytes and its inclusion proof against
    /// `published`, computed in memory by the sequencer (so answering needs
    /// no storage read). `None` for retries.
    pub receipt_parts: Option<Arc<(Vec<u8>, Vec<Hash>)>>,
}

/// Why the log cannot append: it is stopping, or it stopped for good on a
/// failure (every later submission gets the same cause until a restart).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    /// The sequencer threads have stopped (shutdown).
    #[error("the sequencer has stopped")]
    Stopped,
    /// The sequencer ended without answering (it stopped meanwhile).
    #[error("the sequencer dropped the request")]
    Dropped,
    /// No policy entry has been logged, so no submitter is authorized.
    #[error("no submitter registry has been logged yet")]
    NoRegistry,
    /// Writing a batch failed; nothing after it was written.
    #[error("writing batch at index {start}")]
    Write {
        /// The batch's first index.
        start: u64,
        /// The storage failure.
        #[source]
        source: Arc<StorageError>,
    },
    /// Reading the dedup index failed for this submission.
    #[error("reading the dedup index")]
    Dedup(#[source] Arc<StorageError>),
    /// Reading the stored credential map failed.
    #[error("reading the credential map")]
    Map(#[source] Arc<StorageError>),
    /// Writing the durable freeze mark failed.
    #[error("writing the freeze mark")]
    Freeze(#[source] Arc<StorageError>),
    /// Signing the checkpoint failed.
    #[error("signing checkpoint")]
    Sign(#[source] Arc<provlog_tlog::checkpoint::CheckpointError>),
    /// The clock reads a time RFC 3339 cannot express.
    #[error("clock reads {0} ms, which RFC 3339 cannot express")]
    Clock(i64),
    /// The clock reads more than [`batch::MAX_CLOCK_BACKSTEP_MS`] before the
    /// last entry's `logged_at` (it was stepped back, or it had jumped ahead
    /// when that entry was logged): nothing is sequenced until it catches
    /// up, so `logged_at` never goes backwards and a bad step is not
    /// silently carried forward.
    #[error(
        "the clock reads {now_ms} ms, {} ms before the last entry's logged_at ({last_ms} ms): \
         nothing is sequenced until it catches up; check the time source",
        last_ms - now_ms
    )]
    ClockBehind {
        /// What the clock reads (Unix ms).
        now_ms: i64,
        /// The last `logged_at` (Unix ms).
        last_ms: i64,
    },
    /// A thread panicked while holding the write path's shared state.
    #[error("a write-path thread panicked; restart the log")]
    Poisoned,
    /// Under `[ha]`, this node is a standby: another node sequences (the
    /// API names it in `Provlog-Sequencer`).
    #[error("this node is a standby; submit to the sequencer{}", .leader.as_deref().map(|l| format!(" at {l}")).unwrap_or_default())]
    NotSequencer {
        /// The sequencer's base URL, when known.
        leader: Option<String>,
    },
    /// The log's own history diverges from what it already published or
    /// had cosigned: signing more would be an equivocation.
    #[error(
        "this log's history diverges from what it published: {0}. It signs nothing more until an operator acts: \
         stop it and rebuild the data directory with `provlog restore` from where it was published"
    )]
    Diverged(String),
}

/// Why a submission was not sequenced.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SeqError {
    /// The `event_id` is taken by a different event.
    #[error("event_id already used for a different event at index {0}")]
    Conflict(u64),
    /// The registry in force at sequencing refuses it.
    #[error("{0}")]
    Scope(ScopeError),
    /// The submitter's key changed and the signature does not verify under
    /// the key in force.
    #[error("signature does not verify under the key of submitter {0:?} in force")]
    BadSignature(String),
    /// The log is frozen: read-only for good.
    #[error("the log is frozen at its final checkpoint and accepts no entries")]
    Frozen,
    /// The queue is full; retry later.
    #[error("the sequencer queue is full")]
    Overloaded,
    /// The leaf would exceed the most bytes an entry may hold (C2SP
    /// tlog-tiles frames entries with a 2-byte length): never sequenced.
    #[error("the entry would be {bytes} bytes, over the limit of {limit} bytes per entry")]
    EntryTooLarge {
        /// The leaf's size.
        bytes: usize,
        /// [`provlog_tlog::tile::MAX_ENTRY_BYTES`].
        limit: usize,
    },
    /// The submission's approvals do not authorize the event under the
    /// registry in force, or are spent: never sequenced.
    #[error(transparent)]
    Approval(provlog_proto::approval::ApprovalError),
    /// The event's claimed decision is not the one the registry's Cedar
    /// policies give: never sequenced.
    #[error(transparent)]
    Decision(provlog_proto::cedar::DecisionError),
    /// The event would change a credential it may not (another target's,
    /// or a retired one made active): never sequenced.
    #[error(transparent)]
    Ownership(#[from] provlog_proto::ledger::OwnershipError),
    /// The entry does not join its submitter's chain (a gap, a repeat, a
    /// fork, a missing `seq`, or a submitter that is not sequenced):
    /// never sequenced.
    #[error(transparent)]
    Chain(#[from] provlog_proto::chain::ChainError),
    /// A log key rotation the log refuses (the key was used before, is not
    /// a key for this origin, or the previous overlap has not ended):
    /// nothing is appended.
    #[error(transparent)]
    Rotation(#[from] provlog_proto::rotation::RotationError),
    /// The log cannot append (stopping, or a storage failure).
    #[error("the log is not accepting entries")]
    Unavailable(#[from] Unavailable),
    /// A refusal of authority (scope, approvals, decision, ownership,
    /// chain) and the index of the policy leaf of the registry it was
    /// judged under: what a signed refusal names.
    #[error("{error}")]
    Judged {
        /// The registry's policy leaf.
        policy_index: u64,
        /// The refusal.
        error: Box<SeqError>,
    },
}

impl SeqError {
    /// The refusal itself, without the registry it was judged under.
    #[must_use]
    pub fn into_inner(self) -> Self {
        match self {
            Self::Judged { error, .. } => error.into_inner(),
            other => other,
        }
    }

    /// The stable code of a refusal for a reason of authority (scope,
    /// validity window, approvals, Cedar decision, ownership, chain: what a
    /// signed refusal is given for; the submission was authenticated before
    /// any of these is judged), `None` for every other error.
    #[must_use]
    pub fn authority_code(&self) -> Option<&'static str> {
        match self {
            Self::Scope(s) if !matches!(s, ScopeError::UnknownSubmitter(_)) => Some(s.code()),
            Self::Approval(a) => Some(a.code()),
            Self::Decision(d) => Some(d.code()),
            Self::Ownership(o) => Some(o.code()),
            Self::Chain(c) => Some(c.code()),
            Self::Judged { error, .. } => error.authority_code(),
            _ => None,
        }
    }

    /// Whether it refuses for a reason of authority ([`SeqError::authority_code`]).
    #[must_use]
    pub fn is_authority(&self) -> bool {
        self.authority_code().is_some()
    }
}

/// Entries caught up between two map writes at most, when the stored map
/// is behind the entries.
const CATCH_UP_CHUNK: u64 = 65_536;

/// Brings the stored credential map up to the first `size` entries, if it
/// is behind them: a store restored or rebuilt from entries, or written
/// before the map was stored. A store the sequencer wrote is never behind
/// (each batch writes its map change), so a normal start reads nothing but
/// the map's head. Every state leaf met on the way must commit the map
/// its entries give. Events that break an ownership rule (only a log
/// written before the rules holds them) change nothing, as in `audit`.
/// Returns the number of entries replayed.
///
/// # Errors
/// Storage errors; [`StartError::StateMismatch`] for a commitment the
/// entries do not give; [`StartError::MapAhead`] for a map that covers
/// entries the store does not hold.
pub fn catch_up_map(store: &Store, size: u64) -> Result<u64, StartError> {
    use provlog_proto::leaf::Leaf;
    let head = store.map_head()?;
    let from = head.map_or(0, |h| h.covers);
    if from > size {
        return Err(StartError::MapAhead { covers: from, size });
    }
    if from == size {
        return Ok(0);
    }
    let last = store.map_version_at_or_before(u64::MAX)?;
    let mut map = credentials::Credentials::open(head, last);
    let mut index = from;
    let mut since_write = 0;
    while index < size {
        let n = 4096.min(size - index);
        for e in store.entries(index, n)? {
            match Leaf::parse(&e) {
                Ok(Leaf::Event(ev)) => {
                    match map.check(store, &ev.event.event, index, &ev.submitter) {
                        Ok(records) => map.apply(store, records).map_err(StartError::Map)?,
                        Err(SeqError::Unavailable(u)) => return Err(StartError::Map(u)),
                        Err(_) => {}
                    }
                    if let Some(link) = ev.event.event.link() {
                        map.advance_chain(store, &ev.submitter, &link, index, &e, None)
                            .map_err(StartError::Map)?;
                    }
                }
                Ok(Leaf::Heartbeat(h)) => {
                    map.advance_chain(store, &h.submitter, &h.heartbeat.link(), index, &e, Some(&h.logged_at))
                        .map_err(StartError::Map)?;
                }
                Ok(Leaf::Policy(p)) => {
                    let hash = provlog_tlog::merkle::leaf_hash(&e);
                    map.register_chains(store, &p.policy, index, &p.logged_at, &hash)
                        .map_err(StartError::Map)?;
                }
                Ok(Leaf::State(c)) => {
                    let at = provlog_proto::time::parse_millis(&c.logged_at).unwrap_or(0);
                    let (root, write) = map.finish(index + 1, Some((index, at)));
                    if c.size != index || c.map_root != root || c.credentials != map.len() {
                        return Err(StartError::StateMismatch {
                            index,
                            claimed: provlog_tlog::b64::encode(c.map_root),
                            computed: provlog_tlog::b64::encode(root),
                        });
                    }
                    store.write_map(&write)?;
                    since_write = 0;
                }
                _ => {}
            }
            index += 1;
            since_write += 1;
            if since_write >= CATCH_UP_CHUNK {
                let (_, write) = map.finish(index, None);
                store.write_map(&write)?;
                since_write = 0;
            }
        }
    }
    let (_, write) = map.finish(size, None);
    store.write_map(&write)?;
    Ok(size - from)
}

/// An event whose schema and signature a handler checked.
#[derive(Debug)]
pub struct EventJob {
    /// The parsed submission (event, submitter, signature, leaf template).
    pub submission: Submission,
    /// The key the handler verified the signature with.
    pub verified_with: VerifierKey,
    /// `dedup_key(submitter, event_id)`.
    pub dedup_key: Vec<u8>,
    /// The key the handler verified each of the submission's approvals
    /// with, in order (empty if it verified none).
    pub approval_keys: Vec<VerifierKey>,
}

/// A heartbeat whose schema and signature a handler checked.
#[derive(Debug)]
pub struct HeartbeatJob {
    /// The parsed heartbeat submission.
    pub submission: provlog_proto::chain::HeartbeatSubmission,
    /// The key the handler verified the signature with.
    pub verified_with: VerifierKey,
    /// `chain_seq_key(submitter, seq)`.
    pub dedup_key: Vec<u8>,
}

/// Where a job's answer goes.
pub type Reply = oneshot::Sender<Result<Sequenced, SeqError>>;
type FreezeReply = oneshot::Sender<Result<Arc<Published>, SeqError>>;

enum Job {
    Event(Box<EventJob>, Reply),
    Heartbeat(Box<HeartbeatJob>, Reply),
    Batch(Vec<(EventJob, Reply)>),
    Policy(Arc<Registry>, Reply),
    Rotate(Box<batch::Rotation>, Reply),
    Freeze(FreezeReply),
    Shutdown,
}

impl Job {
    /// Entries the job adds to the queue (control jobs add none).
    fn size(&self) -> usize {
        match self {
            Self::Batch(b) => b.len(),
            Self::Event(..) | Self::Heartbeat(..) | Self::Policy(..) | Self::Rotate(..) => 1,
            Self::Freeze(_) | Self::Shutdown => 0,
        }
    }
}

/// Tuning of the group commit.
#[derive(Debug, Clone, Copy)]
pub struct SequencerOptions {
    /// Most entries per batch.
    pub batch_max_entries: usize,
    /// Longest a batch waits to fill up.
    pub batch_max_wait: Duration,
    /// Jobs that may be queued.
    pub queue_capacity: usize,
    /// Longest an unchanged credential map goes without a new state
    /// commitment (an idle log appends one this often, so that verifiers
    /// can tell the map is current).
    pub state_commit_interval: Duration,
    /// Batches the sequencer may have handed to the committer and not seen
    /// written: [`PIPELINE_DEPTH`] (the one being written and the one being
    /// assembled). A store whose write has a slow first stage starts it in
    /// [`Durable::prepare`], so that the stages of consecutive batches
    /// overlap (the fenced writes of `[ha]`).
    pub pipeline_depth: usize,
}

/// Batches in flight between the sequencer and the committer by default:
/// the one being written and the one being assembled.
pub const PIPELINE_DEPTH: usize = 2;

/// What the sequencer and the committer need of the store at run time.
/// [`Store`] implements it; tests wrap a real store to make it fail.
pub trait Durable: Send + Sync + 'static {
    /// The index stored under each dedup key, in order.
    fn dedup_many(&self, keys: &[&[u8]]) -> Vec<Result<Option<u64>, StorageError>>;
    /// The bytes of entry `index`, if stored.
    ///
    /// # Errors
    /// Storage failures.
    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError>;
    /// Writes `batch` atomically and durably.
    ///
    /// # Errors
    /// Storage failures; nothing of the batch is then visible.
    fn append(&self, batch: &AppendBatch) -> Result<(), StorageError>;
    /// Called by the sequencer with each batch as it hands it to the
    /// committer, before [`Durable::append`] of that batch and possibly
    /// while the batches before it are still being written: a writer whose
    /// write has a slow first stage (the uploads of `[ha]`) starts it here.
    /// Nothing of the batch may become authoritative before its
    /// `append`. The default does nothing.
    fn prepare(&self, batch: &AppendBatch) {
        let _ = batch;
    }
    /// Marks the log frozen, durably; returns the frozen size.
    ///
    /// # Errors
    /// Storage failures.
    fn set_frozen(&self) -> Result<u64, StorageError>;
    /// The credential-map node stored under number `at`, if any.
    ///
    /// # Errors
    /// Storage failures.
    fn map_node(
        &self,
        at: provlog_proto::map_nodes::At,
    ) -> Result<Option<provlog_proto::map_nodes::Node>, StorageError>;
    /// The canonical bytes of the credential record of map value `value`.
    ///
    /// # Errors
    /// Storage failures.
    fn map_record(&self, value: &Hash) -> Result<Option<Vec<u8>>, StorageError>;
    /// Number of entries stored: every batch ending at or below it was
    /// written (set after the write returns).
    fn size(&self) -> u64;
    /// The stored uses of approval `id` of `approver`: the digest recorded
    /// and the indexes of the events that used it (at most `limit`).
    ///
    /// # Errors
    /// Storage failures.
    fn approval_uses(&self, approver: &str, id: &str, limit: usize) -> Result<(Option<Hash>, Vec<u64>), StorageError>;
}

impl Durable for Store {
    fn dedup_many(&self, keys: &[&[u8]]) -> Vec<Result<Option<u64>, StorageError>> {
        Store::dedup_many(self, keys.iter().copied())
    }
    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Store::entry(self, index)
    }
    fn append(&self, batch: &AppendBatch) -> Result<(), StorageError> {
        Store::append(self, batch)
    }
    fn set_frozen(&self) -> Result<u64, StorageError> {
        Store::set_frozen(self)
    }
    fn map_node(
        &self,
        at: provlog_proto::map_nodes::At,
    ) -> Result<Option<provlog_proto::map_nodes::Node>, StorageError> {
        provlog_proto::map_nodes::NodeSource::node(self, at)
    }
    fn map_record(&self, value: &Hash) -> Result<Option<Vec<u8>>, StorageError> {
        Store::map_record(self, value)
    }
    fn size(&self) -> u64 {
        Store::size(self)
    }
    fn approval_uses(&self, approver: &str, id: &str, limit: usize) -> Result<(Option<Hash>, Vec<u64>), StorageError> {
        Store::approval_uses(self, approver, id, limit)
    }
}

/// An entry being written, and the retries waiting for it.
struct Inflight {
    index: u64,
    head_hash: Hash,
    waiters: Vec<Reply>,
}

/// The dedup keys being written, shared by the two threads.
type InflightMap = HashMap<Vec<u8>, Inflight>;

/// State the handle and both threads share.
struct Shared {
    inflight: Mutex<InflightMap>,
    queued: AtomicUsize,
    frozen: AtomicBool,
    fatal: Mutex<Option<Unavailable>>,
    state: watch::Sender<Arc<Published>>,
    metrics: Arc<Metrics>,
}

impl Shared {
    /// Why the log stopped accepting entries, if it did. A poisoned lock
    /// (a thread panicked holding it) is itself such a cause.
    fn fatal(&self) -> Option<Unavailable> {
        match self.fatal.lock() {
            Ok(g) => g.clone(),
            Err(_) => Some(Unavailable::Poisoned),
        }
    }
    /// Records the first cause; later ones are dropped.
    fn set_fatal(&self, why: Unavailable) {
        match self.fatal.lock() {
            Ok(mut g) => {
                g.get_or_insert(why);
            }
            Err(p) => {
                p.into_inner().get_or_insert(Unavailable::Poisoned);
            }
        }
    }
    /// The in-flight set; a poisoned lock stops the log (a panic midway
    /// may have left the set inconsistent with the store).
    fn inflight(&self) -> Result<MutexGuard<'_, InflightMap>, Unavailable> {
        self.inflight.lock().map_err(|_| {
            self.set_fatal(Unavailable::Poisoned);
            Unavailable::Poisoned
        })
    }
}

/// Handle to the running sequencer and committer threads.
pub struct Sequencer {
    tx: SyncSender<Job>,
    capacity: usize,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer").finish_non_exhaustive()
    }
}

/// Why the sequencer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Reading the durable state failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The stored tree's right edge is unreadable.
    #[error("reading the right edge of the stored tree")]
    RightEdge(#[source] provlog_tlog::merkle::ProofError<StorageError>),
    /// The stored checkpoint is not UTF-8.
    #[error("the stored checkpoint is not UTF-8")]
    Checkpoint(#[source] std::string::FromUtf8Error),
    /// The last logged policy does not parse.
    #[error("the last logged policy (entry {index}) does not parse")]
    PolicyJson {
        /// Its index.
        index: u64,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The last logged policy is not a valid registry.
    #[error("the last logged policy (entry {index}) is not a valid registry")]
    Policy {
        /// Its index.
        index: u64,
        /// Why.
        #[source]
        source: provlog_proto::policy::PolicyError,
    },
    /// A stored state commitment does not hold the map its entries give.
    #[error(
        "entry {index} commits to credential map root {claimed}, but the entries before it give {computed}: \
         the store is corrupt; restore it from where it was published"
    )]
    StateMismatch {
        /// The commitment's index.
        index: u64,
        /// Base64 root it holds.
        claimed: String,
        /// Base64 root recomputed.
        computed: String,
    },
    /// The stored credential map covers more entries than the store holds.
    #[error(
        "the stored credential map covers {covers} entries but the store holds {size}: \
         the store is corrupt; restore it from where it was published"
    )]
    MapAhead {
        /// Entries the map covers.
        covers: u64,
        /// Entries stored.
        size: u64,
    },
    /// The stored credential map cannot be read.
    #[error("reading the stored credential map")]
    Map(#[source] Unavailable),
    /// A thread could not be spawned.
    #[error("spawning the {0} thread")]
    Spawn(&'static str, #[source] std::io::Error),
}

impl Sequencer {
    /// Starts the threads over `store`, resuming from its durable state
    /// (which the caller has already checked with `verify::check`).
    ///
    /// # Errors
    /// Storage failures reading the right edge of the tree.
    pub fn start(
        store: &Arc<Store>,
        signer: batch::SigningKeys,
        opts: SequencerOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StartError> {
        let durable: Arc<dyn Durable> = Arc::clone(store) as Arc<dyn Durable>;
        Self::start_over(store, durable, signer, opts, metrics, None)
    }

    /// Starts the threads resuming from `store`'s durable state, writing
    /// through `durable` (the same store, or a wrapper of it: the fenced
    /// writes of `[ha]`, or one the tests make fail). With `halted`, the
    /// log starts stopped for that reason: it appends nothing, not even an
    /// idle state commitment (a standby).
    ///
    /// # Errors
    /// Storage failures reading the durable state; a thread that cannot be
    /// spawned.
    pub fn start_over(
        store: &Store,
        durable: Arc<dyn Durable>,
        signer: batch::SigningKeys,
        opts: SequencerOptions,
        metrics: Arc<Metrics>,
        halted: Option<Unavailable>,
    ) -> Result<Self, StartError> {
        let size = store.size();
        let range = CompactRange::from_source(size, store).map_err(StartError::RightEdge)?;
        let checkpoint = match store.latest_checkpoint()? {
            Some(c) => String::from_utf8(c).map_err(StartError::Checkpoint)?,
            None => String::new(),
        };
        let published = Arc::new(Published {
            size,
            root: if size == 0 { EMPTY_ROOT } else { range.root() },
            checkpoint,
        });
        let (state, _) = watch::channel(published);
        let frozen = store.frozen()?.is_some();
        let replayed = catch_up_map(store, size)?;
        if replayed > 0 {
            tracing::info!(
                entries = replayed,
                "the credential map caught up with the stored entries"
            );
        }
        let head = store.map_head()?;
        let last = store.map_version_at_or_before(u64::MAX)?;
        let schedule = batch::CommitSchedule {
            last_ms: last.map(|v| v.logged_at),
            interval_ms: i64::try_from(opts.state_commit_interval.as_millis()).unwrap_or(i64::MAX),
        };
        let shared = Arc::new(Shared {
            inflight: Mutex::default(),
            queued: AtomicUsize::new(0),
            frozen: AtomicBool::new(frozen),
            fatal: Mutex::new(halted),
            state,
            metrics,
        });
        let (tx, rx) = mpsc::sync_channel(opts.queue_capacity);
        let (ctx, crx) = mpsc::sync_channel::<Commit>(1);
        // A semaphore of two permits: the sequencer assembles a batch while
        // the committer writes the one before, and no further ahead (jobs
        // queue meanwhile, so batches grow with the load).
        let depth = opts.pipeline_depth.max(1);
        let (ready_tx, ready_rx) = mpsc::sync_channel::<()>(depth);
        for _ in 0..depth {
            let _ = ready_tx.try_send(());
        }
        let ready_seq = ready_tx.clone();
        let last_logged_at = store.last_logged_at()?.unwrap_or(i64::MIN);
        let registry = match store.policy()? {
            None => None,
            Some(p) => {
                let index = p.index;
                let policy: Policy =
                    serde_json::from_slice(&p.canonical).map_err(|source| StartError::PolicyJson { index, source })?;
                let registry = Registry::new(policy).map_err(|source| StartError::Policy { index, source })?;
                Some((index, Arc::new(registry)))
            }
        };
        let seq = SeqThread {
            store: Arc::clone(&durable),
            assembler: Assembler::new(
                signer,
                range,
                registry,
                frozen,
                last_logged_at,
                credentials::Credentials::open(head, last),
                schedule,
            ),
            shared: Arc::clone(&shared),
            opts,
        };
        let s1 = std::thread::Builder::new()
            .name("provlog-sequencer".into())
            .spawn(move || seq.run(&rx, &ctx, &ready_rx, &ready_seq))
            .map_err(|e| StartError::Spawn("sequencer", e))?;
        let sh = Arc::clone(&shared);
        let s2 = std::thread::Builder::new()
            .name("provlog-committer".into())
            .spawn(move || committer::run(durable.as_ref(), &sh, &crx, &ready_tx))
            .map_err(|e| StartError::Spawn("committer", e))?;
        Ok(Self {
            tx,
            capacity: opts.queue_capacity,
            shared,
            threads: Mutex::new(vec![s1, s2]),
        })
    }

    fn enqueue(
        &self,
        make: impl FnOnce(Reply) -> Job,
    ) -> Result<oneshot::Receiver<Result<Sequenced, SeqError>>, SeqError> {
        if let Some(f) = self.shared.fatal() {
            return Err(f.into());
        }
        if self.is_frozen() {
            return Err(SeqError::Frozen);
        }
        let (reply, rx) = oneshot::channel();
        let job = make(reply);
        // The queue is bounded in entries, not jobs: a batch of 1,000 counts
        // as 1,000.
        let n = job.size();
        let before = self.shared.queued.fetch_add(n, Ordering::AcqRel);
        if before + n > self.capacity {
            self.shared.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(SeqError::Overloaded);
        }
        match self.tx.try_send(job) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.shared.queued.fetch_sub(n, Ordering::AcqRel);
                Err(match e {
                    TrySendError::Full(_) => SeqError::Overloaded,
                    TrySendError::Disconnected(_) => Unavailable::Stopped.into(),
                })
            }
        }
    }

    /// Entries queued for the sequencer right now.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    async fn wait(rx: oneshot::Receiver<Result<Sequenced, SeqError>>) -> Result<Sequenced, SeqError> {
        rx.await.unwrap_or_else(|_| Err(Unavailable::Dropped.into()))
    }

    /// Queues an event and waits until it is durable (or refused).
    ///
    /// # Errors
    /// [`SeqError`].
    pub async fn submit(&self, job: EventJob) -> Result<Sequenced, SeqError> {
        Self::wait(self.enqueue(|r| Job::Event(Box::new(job), r))?).await
    }

    /// Queues a heartbeat and waits until it is durable (or refused).
    ///
    /// # Errors
    /// [`SeqError`].
    pub async fn heartbeat(&self, job: HeartbeatJob) -> Result<Sequenced, SeqError> {
        Self::wait(self.enqueue(|r| Job::Heartbeat(Box::new(job), r))?).await
    }

    /// Queues events so that they are sequenced together in one batch, and
    /// waits for each. Results are in the order of `jobs`.
    pub async fn submit_many(&self, jobs: Vec<EventJob>) -> Vec<Result<Sequenced, SeqError>> {
        let n = jobs.len();
        let mut rxs = Vec::with_capacity(n);
        let batch = jobs
            .into_iter()
            .map(|j| {
                let (reply, rx) = oneshot::channel();
                rxs.push(rx);
                (j, reply)
            })
            .collect();
        if let Err(e) = self.enqueue(|_| Job::Batch(batch)) {
            return vec![Err(e); n];
        }
        let mut out = Vec::with_capacity(n);
        for rx in rxs {
            out.push(Self::wait(rx).await);
        }
        out
    }

    /// Appends a policy leaf for `registry` and makes it the registry in
    /// force for every job queued after it; waits until it is durable.
    ///
    /// # Errors
    /// [`SeqError`].
    pub async fn append_policy(&self, registry: Arc<Registry>) -> Result<Sequenced, SeqError> {
        Self::wait(self.enqueue(|r| Job::Policy(registry, r))?).await
    }

    /// Appends a log key announcement rotating from the key in force to
    /// `rotation.new` (signed by both, docs/ROTATION.md); every checkpoint
    /// from the one that includes it on is signed by the new key, and by
    /// the old one too until the overlap ends. Waits until it is durable.
    ///
    /// # Errors
    /// [`SeqError::Rotation`] for a rotation the log refuses; otherwise as
    /// any job.
    pub async fn rotate(&self, rotation: batch::Rotation) -> Result<Sequenced, SeqError> {
        Self::wait(self.enqueue(|r| Job::Rotate(Box::new(rotation), r))?).await
    }

    /// Freezes the log: everything queued before is sequenced, then the
    /// log is marked frozen durably and accepts nothing more. Returns the
    /// final checkpoint. Freezing a frozen log returns its checkpoint.
    ///
    /// # Errors
    /// [`SeqError::Unavailable`] if the log has stopped.
    pub async fn freeze(&self) -> Result<Arc<Published>, SeqError> {
        if self.is_frozen() {
            return Ok(self.published());
        }
        let (reply, rx) = oneshot::channel();
        // Blocking send: a freeze must not be refused because the queue is
        // full; it waits behind what is queued.
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || tx.send(Job::Freeze(reply)))
            .await
            .map_err(|_| Unavailable::Stopped)?
            .map_err(|_| Unavailable::Stopped)?;
        rx.await.unwrap_or_else(|_| Err(Unavailable::Dropped.into()))
    }

    /// Whether the log is frozen.
    #[must_use]
    pub fn is_frozen(&self) -> bool {
        self.shared.frozen.load(Ordering::Acquire)
    }

    /// The latest durable checkpoint.
    #[must_use]
    pub fn published(&self) -> Arc<Published> {
        self.shared.state.borrow().clone()
    }

    /// A receiver that sees every new durable checkpoint.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<Arc<Published>> {
        self.shared.state.subscribe()
    }

    /// Why the log stopped accepting entries, if it did.
    #[must_use]
    pub fn failure(&self) -> Option<Unavailable> {
        self.shared.fatal()
    }

    /// Stops sequencing and signing for good (until a restart): every
    /// queued and later submission is refused with `why`, and no checkpoint
    /// is signed. The first cause is kept.
    pub fn halt(&self, why: Unavailable) {
        self.shared.set_fatal(why);
    }

    /// On a standby (started halted with [`Unavailable::NotSequencer`]):
    /// moves the read view to `published`, a checkpoint a follower wrote
    /// to the store. Refused (`false`) on a log that sequences, whose view
    /// only its committer moves, and for a size below the current one.
    pub fn advance(&self, published: &Arc<Published>) -> bool {
        if !matches!(self.shared.fatal(), Some(Unavailable::NotSequencer { .. })) {
            return false;
        }
        let moved = self.shared.state.send_if_modified(|p| {
            if published.size > p.size {
                *p = Arc::clone(published);
                true
            } else {
                false
            }
        });
        if moved {
            self.shared
                .metrics
                .batch_committed(0, published.size, Duration::ZERO, Duration::ZERO);
        }
        moved
    }

    /// Sequences everything already queued, then stops both threads.
    pub fn shutdown(&self) {
        // A full queue blocks here until the sequencer makes room: queued
        // work is finished, not dropped.
        let _ = self.tx.send(Job::Shutdown);
        let threads = match self.threads.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            // Only `shutdown` takes this lock; a panic in another call of it
            // left the handles, which are joined all the same.
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        for t in threads {
            let _ = t.join();
        }
    }
}

/// The sequencer thread: takes jobs off the queue in batches and hands
/// each batch's commit to the committer.
struct SeqThread {
    store: Arc<dyn Durable>,
    assembler: Assembler,
    shared: Arc<Shared>,
    opts: SequencerOptions,
}

impl SeqThread {
    /// The sequencer loop. A batch is closed when the committer is idle,
    /// so it holds everything that arrived while the previous one synced
    /// (the larger the load, the larger the batches, the fewer the fsyncs
    /// and checkpoint signatures per entry).
    fn run(
        mut self,
        rx: &Receiver<Job>,
        commit: &SyncSender<Commit>,
        ready: &Receiver<()>,
        ready_again: &SyncSender<()>,
    ) {
        let mut jobs = Vec::new();
        // After an idle wake-up that committed nothing (a clock behind the
        // log, say), the next one waits at least a second.
        let mut quiet_until = Instant::now();
        loop {
            // An idle log wakes up when a state commitment is due; a
            // stopped one never does.
            let due = if self.shared.fatal().is_some() {
                None
            } else {
                self.assembler
                    .commit_due_in(crate::util::clock::now_millis().unwrap_or(0))
                    .map(|d| d.max(quiet_until.saturating_duration_since(Instant::now())))
            };
            let first = match due {
                None => rx.recv().ok(),
                Some(d) => match rx.recv_timeout(d) {
                    Ok(j) => Some(j),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                },
            };
            if ready.recv().is_err() {
                return;
            }
            let Some(first) = first else {
                // Nothing arrived: a batch of only the commitment it owes.
                if let Some(c) = self.sequence(&mut jobs) {
                    if self.hand_over(commit, c).is_err() {
                        return;
                    }
                } else {
                    quiet_until = Instant::now() + Duration::from_secs(1);
                    let _ = ready_again.try_send(());
                }
                continue;
            };
            let mut stop = matches!(first, Job::Shutdown);
            let mut entries = first.size();
            jobs.push(first);
            let deadline = Instant::now() + self.opts.batch_max_wait;
            while !stop && entries < self.opts.batch_max_entries {
                let next = match rx.try_recv() {
                    Ok(j) => Some(j),
                    Err(_) if self.opts.batch_max_wait.is_zero() => None,
                    Err(_) => rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok(),
                };
                match next {
                    Some(j) => {
                        stop = matches!(j, Job::Shutdown);
                        entries += j.size();
                        jobs.push(j);
                    }
                    None => break,
                }
            }
            self.shared.queued.fetch_sub(entries, Ordering::AcqRel);
            // Jobs up to a freeze are sequenced; the freeze follows them to
            // the committer; everything after it is refused.
            let freeze_at = jobs.iter().position(|j| matches!(j, Job::Freeze(_)));
            let mut rest = freeze_at.map(|i| jobs.split_off(i)).unwrap_or_default();
            match self.sequence(&mut jobs) {
                Some(c) => {
                    if self.hand_over(commit, c).is_err() {
                        return;
                    }
                }
                // Nothing to write: the committer is still idle.
                None => {
                    let _ = ready_again.try_send(());
                }
            }
            if !rest.is_empty() {
                let mut tail = rest.drain(..);
                if let Some(Job::Freeze(reply)) = tail.next() {
                    self.assembler.freeze();
                    if commit.send(Commit::Freeze(reply)).is_err() {
                        return;
                    }
                }
                for j in tail {
                    refuse_frozen(j, &self.shared);
                }
            }
            if stop {
                return;
            }
        }
    }

    /// Hands a commit to the committer, letting the store start on a
    /// batch first ([`Durable::prepare`]).
    fn hand_over(&self, commit: &SyncSender<Commit>, c: Commit) -> Result<(), mpsc::SendError<Commit>> {
        if let Commit::Batch(parts) = &c {
            self.store.prepare(&parts.batch);
        }
        commit.send(c)
    }

    /// Turns queued jobs into one commit (or answers them all directly).
    fn sequence(&mut self, jobs: &mut Vec<Job>) -> Option<Commit> {
        let closed = Instant::now();
        if let Some(why) = self.shared.fatal()
            && jobs.is_empty()
        {
            // A stopped log commits nothing, not even an owed commitment.
            tracing::debug!(error = %why, "no state commitment: the log has stopped");
            return None;
        }
        if self.assembler.is_frozen() {
            for j in jobs.drain(..) {
                refuse_frozen(j, &self.shared);
            }
            return None;
        }
        let mut work: Vec<Work> = Vec::with_capacity(jobs.len());
        for j in jobs.drain(..) {
            match j {
                Job::Event(e, r) => work.push(Work::Event(*e, r)),
                Job::Heartbeat(h, r) => work.push(Work::Heartbeat(*h, r)),
                Job::Batch(b) => work.extend(b.into_iter().map(|(e, r)| Work::Event(e, r))),
                Job::Policy(p, r) => work.push(Work::Policy(p, r)),
                Job::Rotate(k, r) => work.push(Work::Rotate(k, r)),
                // `run` never passes a freeze here.
                Job::Freeze(r) => refuse_frozen(Job::Freeze(r), &self.shared),
                Job::Shutdown => {}
            }
        }
        if let Some(why) = self.shared.fatal() {
            for w in work {
                w.fail(&why);
            }
            return None;
        }
        let now = crate::util::clock::now_millis().unwrap_or(0);
        let latest = self.shared.state.borrow().clone();
        let out = self
            .assembler
            .assemble(work, now, self.store.as_ref(), &self.shared.inflight, &latest);
        if let Some(why) = out.fatal {
            self.shared.set_fatal(why);
        }
        out.commit
            .map(|parts| Commit::Batch(Box::new(committer::CommitParts { closed, ..parts })))
    }
}

/// Answers a job that arrived after a freeze.
fn refuse_frozen(j: Job, shared: &Shared) {
    match j {
        Job::Event(_, r) | Job::Heartbeat(_, r) | Job::Policy(_, r) | Job::Rotate(_, r) => {
            let _ = r.send(Err(SeqError::Frozen));
        }
        Job::Batch(b) => {
            for (_, r) in b {
                let _ = r.send(Err(SeqError::Frozen));
            }
        }
        Job::Freeze(r) => {
            let _ = r.send(Ok(shared.state.borrow().clone()));
        }
        Job::Shutdown => {}
    }
}

#[cfg(test)]
mod tests;
