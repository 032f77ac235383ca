//! Group commit (DESIGN.md "Write path").
//!
//! Two threads own the write path:
//! * the **sequencer** takes everything queued (up to `batch_max_entries`,
//!   optionally waiting `batch_max_wait_ms` for more), drops or attaches
//!   duplicates, assigns indexes and `logged_at`, renders the leaves,
//!   extends the compact range, signs the new checkpoint, and hands the
//!   whole batch to
//! * the **committer**, which writes it as one synced RocksDB `WriteBatch`,
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
//! Idempotency: a submission whose `(submitter, event_id)` is already
//! stored or in flight with the same event gets the original index
//! ([`Outcome::Duplicate`], answered once that index is durable); with a
//! different event it gets [`SeqError::Conflict`]. Checking the in-flight
//! set before the store, and the committer clearing it only after the write,
//! makes concurrent retries safe.

use crate::metrics::Metrics;
use provlog_proto::checkpoint::{Checkpoint, sign_checkpoint};
use provlog_proto::keys::{SignerKey, VerifierKey};
use provlog_proto::leaf::policy_leaf;
use provlog_proto::merkle::{CompactRange, EMPTY_ROOT, Hash, HashSource, NodeId, inclusion_proof, leaf_hash, sha256};
use provlog_proto::policy::{Policy, Registry, ScopeError};
use provlog_proto::submission::Submission;
use provlog_storage::{AppendBatch, PolicyRecord, StorageError, Store};
use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
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

/// Why a submission was not sequenced.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
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
    /// The log cannot append (stopping, or a storage failure).
    #[error("the log is not accepting entries: {0}")]
    Unavailable(String),
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
}

type Reply = oneshot::Sender<Result<Sequenced, SeqError>>;
type FreezeReply = oneshot::Sender<Result<Arc<Published>, SeqError>>;

enum Job {
    Event(Box<EventJob>, Reply),
    Batch(Vec<(EventJob, Reply)>),
    Policy(Arc<Registry>, Reply),
    Freeze(FreezeReply),
    Shutdown,
}

impl Job {
    /// Entries the job adds to the queue (control jobs add none).
    fn size(&self) -> usize {
        match self {
            Self::Batch(b) => b.len(),
            Self::Event(..) | Self::Policy(..) => 1,
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
}

struct Inflight {
    index: u64,
    head_hash: Hash,
    waiters: Vec<Reply>,
}

type InflightMap = Arc<Mutex<HashMap<Vec<u8>, Inflight>>>;

struct Shared {
    inflight: InflightMap,
    queued: std::sync::atomic::AtomicUsize,
    frozen: std::sync::atomic::AtomicBool,
    fatal: Mutex<Option<String>>,
    state: watch::Sender<Arc<Published>>,
    metrics: Arc<Metrics>,
}

impl Shared {
    fn fatal(&self) -> Option<String> {
        self.fatal.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
    fn set_fatal(&self, why: String) {
        self.fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(why);
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
    /// The stored checkpoint is unreadable.
    #[error("stored checkpoint: {0}")]
    Checkpoint(String),
    /// The last logged policy is not a valid registry.
    #[error("the last logged policy (entry {index}) is not a valid registry: {reason}")]
    Policy {
        /// Its index.
        index: u64,
        /// Why.
        reason: String,
    },
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Sequencer {
    /// Starts the threads over `store`, resuming from its durable state
    /// (which the caller has already checked with `verify::check`).
    ///
    /// # Errors
    /// Storage failures reading the right edge of the tree.
    pub fn start(
        store: Arc<Store>,
        signer: SignerKey,
        opts: SequencerOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StartError> {
        let size = store.size();
        let range = CompactRange::from_source(size, store.as_ref()).map_err(|e| match e {
            provlog_proto::merkle::ProofError::Source(s) => StartError::Storage(s),
            other => StartError::Checkpoint(other.to_string()),
        })?;
        let checkpoint = match store.latest_checkpoint()? {
            Some(c) => String::from_utf8(c).map_err(|e| StartError::Checkpoint(e.to_string()))?,
            None => String::new(),
        };
        let published = Arc::new(Published {
            size,
            root: if size == 0 { EMPTY_ROOT } else { range.root() },
            checkpoint,
        });
        let (state, _) = watch::channel(published);
        let frozen = store.frozen()?.is_some();
        let shared = Arc::new(Shared {
            inflight: Arc::default(),
            queued: std::sync::atomic::AtomicUsize::new(0),
            frozen: std::sync::atomic::AtomicBool::new(frozen),
            fatal: Mutex::new(None),
            state,
            metrics,
        });
        let (tx, rx) = mpsc::sync_channel(opts.queue_capacity);
        let (ctx, crx) = mpsc::sync_channel::<Commit>(1);
        // A binary semaphore: available while the committer is idle.
        let (ready_tx, ready_rx) = mpsc::sync_channel::<()>(1);
        let _ = ready_tx.try_send(());
        let ready_seq = ready_tx.clone();
        let last_logged_at = store.last_logged_at()?.unwrap_or(i64::MIN);
        let registry = match store.policy()? {
            None => None,
            Some(p) => {
                let bad = |reason: String| StartError::Policy { index: p.index, reason };
                let policy: Policy = serde_json::from_slice(&p.canonical).map_err(|e| bad(e.to_string()))?;
                Some((
                    p.index,
                    Arc::new(Registry::new(policy).map_err(|e| bad(e.to_string()))?),
                ))
            }
        };
        let seq = SeqThread {
            store: Arc::clone(&store),
            signer,
            range,
            registry,
            frozen,
            last_logged_at,
            shared: Arc::clone(&shared),
            opts,
        };
        let s1 = std::thread::Builder::new()
            .name("provlog-sequencer".into())
            .spawn(move || seq.run(&rx, &ctx, &ready_rx, &ready_seq))
            .map_err(|e| StartError::Checkpoint(format!("spawning the sequencer: {e}")))?;
        let sh = Arc::clone(&shared);
        let s2 = std::thread::Builder::new()
            .name("provlog-committer".into())
            .spawn(move || commit_loop(&store, &sh, &crx, &ready_tx))
            .map_err(|e| StartError::Checkpoint(format!("spawning the committer: {e}")))?;
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
            return Err(SeqError::Unavailable(f));
        }
        if self.is_frozen() {
            return Err(SeqError::Frozen);
        }
        let (reply, rx) = oneshot::channel();
        let job = make(reply);
        // The queue is bounded in entries, not jobs: a batch of 1,000 counts
        // as 1,000.
        let n = job.size();
        let before = self.shared.queued.fetch_add(n, std::sync::atomic::Ordering::AcqRel);
        if before + n > self.capacity {
            self.shared.queued.fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
            return Err(SeqError::Overloaded);
        }
        match self.tx.try_send(job) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.shared.queued.fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
                Err(match e {
                    TrySendError::Full(_) => SeqError::Overloaded,
                    TrySendError::Disconnected(_) => SeqError::Unavailable("the sequencer has stopped".into()),
                })
            }
        }
    }

    /// Entries queued for the sequencer right now.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.shared.queued.load(std::sync::atomic::Ordering::Acquire)
    }

    async fn wait(rx: oneshot::Receiver<Result<Sequenced, SeqError>>) -> Result<Sequenced, SeqError> {
        rx.await
            .unwrap_or_else(|_| Err(SeqError::Unavailable("the sequencer dropped the request".into())))
    }

    /// Queues an event and waits until it is durable (or refused).
    ///
    /// # Errors
    /// [`SeqError`].
    pub async fn submit(&self, job: EventJob) -> Result<Sequenced, SeqError> {
        Self::wait(self.enqueue(|r| Job::Event(Box::new(job), r))?).await
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
            .map_err(|e| SeqError::Unavailable(e.to_string()))?
            .map_err(|_| SeqError::Unavailable("the sequencer has stopped".into()))?;
        rx.await
            .unwrap_or_else(|_| Err(SeqError::Unavailable("the sequencer dropped the request".into())))
    }

    /// Whether the log is frozen.
    #[must_use]
    pub fn is_frozen(&self) -> bool {
        self.shared.frozen.load(std::sync::atomic::Ordering::Acquire)
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
    pub fn failure(&self) -> Option<String> {
        self.shared.fatal()
    }

    /// Sequences everything already queued, then stops both threads.
    pub fn shutdown(&self) {
        // A full queue blocks here until the sequencer makes room: queued
        // work is finished, not dropped.
        let _ = self.tx.send(Job::Shutdown);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
    }
}

struct Waiter {
    reply: Reply,
    index: u64,
    parts: Option<Arc<(Vec<u8>, Vec<Hash>)>>,
}

enum Commit {
    Batch(Box<CommitParts>),
    Freeze(FreezeReply),
}

struct SeqThread {
    store: Arc<Store>,
    signer: SignerKey,
    range: CompactRange,
    /// The registry in force and the index of its policy leaf.
    registry: Option<(u64, Arc<Registry>)>,
    /// Set once a freeze has been sequenced: everything after is refused.
    frozen: bool,
    last_logged_at: i64,
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
        loop {
            let Ok(first) = rx.recv() else { return };
            if ready.recv().is_err() {
                return;
            }
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
            self.shared
                .queued
                .fetch_sub(entries, std::sync::atomic::Ordering::AcqRel);
            // Jobs up to a freeze are sequenced; the freeze follows them to
            // the committer; everything after it is refused.
            let freeze_at = jobs.iter().position(|j| matches!(j, Job::Freeze(_)));
            let mut rest = freeze_at.map(|i| jobs.split_off(i)).unwrap_or_default();
            match self.sequence(&mut jobs) {
                Some(c) => {
                    if commit.send(c).is_err() {
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
                    self.frozen = true;
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

    /// Turns queued jobs into one commit (or answers them all directly).
    fn sequence(&mut self, jobs: &mut Vec<Job>) -> Option<Commit> {
        let closed = Instant::now();
        if self.frozen {
            for j in jobs.drain(..) {
                refuse_frozen(j, &self.shared);
            }
            return None;
        }
        let mut work: Vec<Work> = Vec::with_capacity(jobs.len());
        for j in jobs.drain(..) {
            match j {
                Job::Event(e, r) => work.push(Work::Event(*e, r)),
                Job::Batch(b) => work.extend(b.into_iter().map(|(e, r)| Work::Event(e, r))),
                Job::Policy(p, r) => work.push(Work::Policy(p, r)),
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
        // Phase 1: attach events whose key is in flight (the in-flight set is
        // checked before the store, see the module docs).
        let mut fresh: Vec<(Work, Hash)> = Vec::with_capacity(work.len());
        {
            let mut inflight = self.shared.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            for w in work {
                let Work::Event(e, r) = w else {
                    fresh.push((w, [0; 32]));
                    continue;
                };
                let head_hash = sha256(&[e.submission.leaf.head()]);
                match inflight.get_mut(&e.dedup_key) {
                    Some(inf) if inf.head_hash == head_hash => inf.waiters.push(r),
                    Some(inf) => {
                        let _ = r.send(Err(SeqError::Conflict(inf.index)));
                    }
                    None => fresh.push((Work::Event(e, r), head_hash)),
                }
            }
        }
        // Phase 2: look the rest up in the store, in one batched read.
        let stored = self.store.dedup_many(fresh.iter().filter_map(|(w, _)| match w {
            Work::Event(e, _) => Some(e.dedup_key.as_slice()),
            Work::Policy(..) => None,
        }));
        let mut stored = stored.into_iter();
        // Phase 3: in queue order, assign indexes under the registry in force.
        let start = self.range.size();
        let now = now_millis().max(self.last_logged_at);
        let Ok(ts) = provlog_proto::time::format_millis(now) else {
            let why = format!("clock reads {now} ms, which RFC 3339 cannot express");
            self.shared.set_fatal(why.clone());
            for (w, _) in fresh {
                w.fail(&why);
            }
            return None;
        };
        let mut batch = AppendBatch {
            start,
            last_logged_at: now,
            ..AppendBatch::default()
        };
        let mut waiters = Vec::new();
        let mut inflight = self.shared.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        for (w, head_hash) in fresh {
            let index = start + batch.entries.len() as u64;
            let (e, r) = match w {
                Work::Policy(reg, r) => {
                    let entry = policy_leaf(&ts, reg.policy());
                    batch.policy = Some(PolicyRecord {
                        index,
                        canonical: reg.policy().canonical(),
                    });
                    batch.leaf_hashes.push(leaf_hash(&entry));
                    batch.entries.push(entry);
                    waiters.push(Waiter {
                        reply: r,
                        index,
                        parts: None,
                    });
                    self.registry = Some((index, reg));
                    continue;
                }
                Work::Event(e, r) => (e, r),
            };
            match stored.next() {
                Some(Err(err)) => {
                    let _ = r.send(Err(SeqError::Unavailable(format!("reading the dedup index: {err}"))));
                    continue;
                }
                Some(Ok(Some(old))) => {
                    let same = self
                        .store
                        .entry(old)
                        .ok()
                        .flatten()
                        .is_some_and(|bytes| bytes.starts_with(e.submission.leaf.head()));
                    let _ = r.send(if same {
                        Ok(Sequenced {
                            index: old,
                            outcome: Outcome::Duplicate,
                            published: self.shared.state.borrow().clone(),
                            receipt_parts: None,
                        })
                    } else {
                        Err(SeqError::Conflict(old))
                    });
                    continue;
                }
                Some(Ok(None)) | None => {}
            }
            // A key repeated inside this batch is in `inflight` by now.
            if let Some(inf) = inflight.get_mut(&e.dedup_key) {
                if inf.head_hash == head_hash {
                    inf.waiters.push(r);
                } else {
                    let _ = r.send(Err(SeqError::Conflict(inf.index)));
                }
                continue;
            }
            if let Err(err) = self.authorize(&e, now) {
                let _ = r.send(Err(err));
                continue;
            }
            let entry = e.submission.leaf.render(&ts);
            batch.leaf_hashes.push(leaf_hash(&entry));
            batch.entries.push(entry);
            batch.terms.extend(
                e.submission
                    .event
                    .event
                    .terms()
                    .into_iter()
                    .map(|(t, v)| (t, v.to_owned(), index)),
            );
            inflight.insert(
                e.dedup_key.clone(),
                Inflight {
                    index,
                    head_hash,
                    waiters: Vec::new(),
                },
            );
            batch.dedup.push((e.dedup_key, index));
            waiters.push(Waiter {
                reply: r,
                index,
                parts: None,
            });
        }
        drop(inflight);
        if batch.entries.is_empty() {
            return None;
        }
        let left: Vec<(NodeId, Hash)> = CompactRange::node_ids(start)
            .into_iter()
            .zip(self.range.hashes().iter().copied())
            .collect();
        batch.nodes = self.range.extend(&batch.leaf_hashes);
        let root = self.range.root();
        // Every node an inclusion proof of a new entry needs is either on
        // the right edge before this batch or completed by it, so receipts
        // come from memory.
        let nodes = BatchNodes(left.into_iter().chain(batch.nodes.iter().copied()).collect());
        let size = self.range.size();
        for w in &mut waiters {
            let Some(off) = w.index.checked_sub(start).and_then(|o| usize::try_from(o).ok()) else {
                continue;
            };
            if let (Some(entry), Ok(proof)) = (batch.entries.get(off), inclusion_proof(w.index, size, &nodes)) {
                w.parts = Some(Arc::new((entry.clone(), proof)));
            }
        }
        let cp = Checkpoint {
            origin: self.signer.name().to_owned(),
            size: self.range.size(),
            root,
            extensions: Vec::new(),
        };
        match sign_checkpoint(&cp, &self.signer) {
            Ok(note) => batch.checkpoint = note.to_string().into_bytes(),
            Err(e) => {
                let why = format!("signing checkpoint: {e}");
                self.shared.set_fatal(why.clone());
                for w in waiters {
                    let _ = w.reply.send(Err(SeqError::Unavailable(why.clone())));
                }
                return None;
            }
        }
        self.last_logged_at = now;
        Some(Commit::Batch(Box::new(CommitParts {
            batch,
            waiters,
            root,
            closed,
        })))
    }

    /// Checks an event against the registry in force at `now` (its
    /// `logged_at`), re-verifying the signature if the submitter's key is
    /// not the one the handler used.
    fn authorize(&self, e: &EventJob, now: i64) -> Result<(), SeqError> {
        let Some((_, reg)) = &self.registry else {
            return Err(SeqError::Unavailable(
                "no submitter registry has been logged yet".into(),
            ));
        };
        let s = reg
            .check_scope(&e.submission.submitter, &e.submission.event.event, now)
            .map_err(SeqError::Scope)?;
        if s.key != e.verified_with && !e.submission.verify(&s.key) {
            return Err(SeqError::BadSignature(e.submission.submitter.clone()));
        }
        Ok(())
    }
}

/// One queued job, flattened.
// Almost every item is an event; boxing it would cost an allocation per
// entry to save space in a vector that lives for one batch.
#[allow(clippy::large_enum_variant)]
enum Work {
    Event(EventJob, Reply),
    Policy(Arc<Registry>, Reply),
}

impl Work {
    fn fail(self, why: &str) {
        let r = match self {
            Self::Event(_, r) | Self::Policy(_, r) => r,
        };
        let _ = r.send(Err(SeqError::Unavailable(why.to_owned())));
    }
}

/// One batch commit, unpacked.
struct CommitParts {
    batch: AppendBatch,
    waiters: Vec<Waiter>,
    root: Hash,
    /// When the sequencer took the batch's jobs off the queue.
    closed: Instant,
}

/// The nodes of one batch's neighbourhood, for in-memory proofs.
struct BatchNodes(std::collections::HashMap<NodeId, Hash>);

impl HashSource for BatchNodes {
    type Error = NodeId;
    fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, NodeId> {
        ids.iter().map(|id| self.0.get(id).copied().ok_or(*id)).collect()
    }
}

/// Answers a job that arrived after a freeze.
fn refuse_frozen(j: Job, shared: &Shared) {
    match j {
        Job::Event(_, r) | Job::Policy(_, r) => {
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

/// Removes a batch's keys from the in-flight set and returns the retries
/// that waited on them. Called only after the batch's write returned, so a
/// lookup that misses the in-flight set finds the key in the store.
fn take_retries(shared: &Shared, batch: &AppendBatch) -> Vec<(Reply, u64)> {
    let mut inflight = shared.inflight.lock().unwrap_or_else(PoisonError::into_inner);
    batch
        .dedup
        .iter()
        .filter_map(|(k, _)| inflight.remove(k))
        .flat_map(|inf| {
            let index = inf.index;
            inf.waiters.into_iter().map(move |w| (w, index))
        })
        .collect()
}

fn commit_loop(store: &Store, shared: &Shared, rx: &Receiver<Commit>, ready: &SyncSender<()>) {
    while let Ok(c) = rx.recv() {
        commit_one(store, shared, c);
        let _ = ready.try_send(());
    }
}

fn commit_one(store: &Store, shared: &Shared, c: Commit) {
    {
        let c = match c {
            Commit::Batch(parts) => *parts,
            Commit::Freeze(reply) => {
                let res = match shared.fatal() {
                    Some(why) => Err(SeqError::Unavailable(why)),
                    None => match store.set_frozen() {
                        Ok(size) => {
                            shared.frozen.store(true, std::sync::atomic::Ordering::Release);
                            tracing::warn!(tree_size = size, "the log is frozen: read-only from now on");
                            Ok(shared.state.borrow().clone())
                        }
                        Err(e) => Err(SeqError::Unavailable(format!("writing the freeze mark: {e}"))),
                    },
                };
                let _ = reply.send(res);
                return;
            }
        };
        let write_started = Instant::now();
        let failed = shared.fatal().or_else(|| {
            store
                .append(&c.batch)
                .err()
                .map(|e| format!("writing batch at index {}: {e}", c.batch.start))
        });
        let fsync = write_started.elapsed();
        if let Some(why) = failed {
            tracing::error!(error = %why, "the log stops accepting entries");
            shared.set_fatal(why.clone());
            for (w, _) in take_retries(shared, &c.batch) {
                let _ = w.send(Err(SeqError::Unavailable(why.clone())));
            }
            for w in c.waiters {
                let _ = w.reply.send(Err(SeqError::Unavailable(why.clone())));
            }
            return;
        }
        let published = Arc::new(Published {
            size: c.batch.start + c.batch.entries.len() as u64,
            root: c.root,
            checkpoint: String::from_utf8_lossy(&c.batch.checkpoint).into_owned(),
        });
        shared.state.send_replace(Arc::clone(&published));
        shared
            .metrics
            .batch_committed(c.batch.entries.len() as u64, published.size, c.closed.elapsed(), fsync);
        tracing::debug!(
            tree_size = published.size,
            batch = c.batch.entries.len(),
            "batch committed"
        );
        let dups = take_retries(shared, &c.batch);
        for w in c.waiters {
            let _ = w.reply.send(Ok(Sequenced {
                index: w.index,
                outcome: Outcome::Created,
                published: Arc::clone(&published),
                receipt_parts: w.parts,
            }));
        }
        for (w, index) in dups {
            let _ = w.send(Ok(Sequenced {
                index,
                outcome: Outcome::Duplicate,
                published: Arc::clone(&published),
                receipt_parts: None,
            }));
        }
    }
}
