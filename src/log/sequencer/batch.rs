//! Batch assembly: what the sequencer thread does with the jobs it took
//! off the queue, with no thread, channel or clock in it (the caller passes
//! the time and the in-flight set), so it can be tested in process.
//!
//! In queue order, each event is
//! 1. attached to an identical event in flight (a retry), or refused if
//!    its `event_id` is in flight with another event;
//! 2. looked up in the store's dedup index (one batched read for the
//!    batch): a stored identical event is a [`Outcome::Duplicate`], a
//!    stored different one a [`SeqError::Conflict`];
//! 3. checked against the registry in force (a policy job earlier in the
//!    same batch changes it for the jobs after it): scope, signature,
//!    approvals, and the approvals' remaining uses (consumed in this
//!    batch's write);
//! 4. rendered with `logged_at` and given the next index.
//!
//! If the batch changed the credential map, or the last state commitment
//! is older than the commit interval, a `state` leaf with the map's root
//! closes the batch (docs/MAP.md "State commitments"), so the root is in
//! the tree the checkpoint signs. Then the compact range is extended, the
//! new entries' inclusion proofs are computed from memory, and the
//! checkpoint is signed.

use super::approvals::ApprovalUses;
use super::committer::{CommitParts, Waiter};
use super::credentials::Credentials;
use super::{
    Durable, EventJob, HeartbeatJob, Inflight, InflightMap, Outcome, Published, Reply, SeqError, Sequenced, Unavailable,
};
use provlog_proto::approval::{self, ApprovalUse};
use provlog_proto::cedar::{self, PolicyDecision};
use provlog_proto::chain::{ChainError, ChainRecord};
use provlog_proto::leaf::{policy_leaf, state_leaf};
use provlog_proto::ledger::RecordState;
use provlog_proto::policy::Registry;
use provlog_proto::rotation::{Announcement, RotationError, SignedAnnouncement, check_follows, log_key_leaf};
use provlog_storage::AppendBatch;
use provlog_tlog::checkpoint::{Checkpoint, sign_checkpoint_by};
use provlog_tlog::keys::{SignerKey, VerifierKey};
use provlog_tlog::merkle::{CompactRange, Hash, HashSource, NodeId, inclusion_proof, leaf_hash, sha256};
use provlog_tlog::tile::MAX_ENTRY_BYTES;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How far the clock may read before the last `logged_at` and still be
/// held at it (ms); further behind, batches are refused until it catches up.
pub const MAX_CLOCK_BACKSTEP_MS: i64 = 5_000;

/// One queued job, flattened.
// Almost every item is an event; boxing it would cost an allocation per
// entry to save space in a vector that lives for one batch.
#[expect(clippy::large_enum_variant, reason = "boxing would allocate per entry")]
pub enum Work {
    /// An event a handler checked.
    Event(EventJob, Reply),
    /// A heartbeat a handler checked.
    Heartbeat(HeartbeatJob, Reply),
    /// A new registry, logged as a policy leaf.
    Policy(Arc<Registry>, Reply),
    /// A new log key, announced in a `policy`-kind entry.
    Rotate(Box<Rotation>, Reply),
}

/// A log key rotation to sequence.
#[derive(Debug)]
pub struct Rotation {
    /// The key that replaces the key in force.
    pub new: SignerKey,
    /// How long after the announcement the log signs with both keys.
    pub overlap: std::time::Duration,
}

/// The keys the sequencer signs checkpoints with: the key in force, and
/// during the overlap of a rotation the key it replaces.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    /// The key in force.
    pub current: SignerKey,
    /// The key it replaced and the end of the overlap (Unix ms), while the
    /// overlap runs and the old private key is at hand.
    pub retiring: Option<(SignerKey, i64)>,
    /// The last announcement logged (what the next one must follow).
    pub last: Option<SignedAnnouncement>,
    /// Every key the log has signed with (none may come back).
    pub used: Vec<VerifierKey>,
}

impl SigningKeys {
    /// A log that never rotated, signing with `key`.
    #[must_use]
    pub fn single(key: SignerKey) -> Self {
        Self {
            used: vec![key.verifier()],
            current: key,
            retiring: None,
            last: None,
        }
    }

    /// The keys that sign a checkpoint at `now_ms`, old key first.
    fn signers(&mut self, now_ms: i64) -> Vec<&SignerKey> {
        if self.retiring.as_ref().is_some_and(|(_, until)| now_ms >= *until) {
            tracing::info!("the key rotation's overlap ended: checkpoints are signed by the new key only");
            self.retiring = None;
        }
        match &self.retiring {
            Some((old, _)) => vec![old, &self.current],
            None => vec![&self.current],
        }
    }

    /// Signs the announcement of `rotation` logged at `now_ms` at entry
    /// `index`, checking that it may follow the last one.
    fn announce(&self, rotation: &Rotation, now_ms: i64, index: u64) -> Result<SignedAnnouncement, SeqError> {
        let new = rotation.new.verifier();
        if self.used.contains(&new) {
            return Err(
                RotationError::Keys("the log has signed with this key before: rotate to a new key".into()).into(),
            );
        }
        let overlap_ms = i64::try_from(rotation.overlap.as_millis()).unwrap_or(i64::MAX);
        let until = provlog_proto::time::format_millis(now_ms.saturating_add(overlap_ms))
            .map_err(|_| RotationError::Malformed("the overlap ends past year 9999".into()))?;
        let a = Announcement {
            old: self.current.verifier(),
            new,
            overlap_until: until,
        }
        .sign(&self.current, &rotation.new)?;
        check_follows(self.last.as_ref(), &a, index, now_ms)?;
        Ok(a)
    }
}

impl Work {
    /// Answers the job with `why`.
    pub fn fail(self, why: &Unavailable) {
        let _ = self.into_reply().send(Err(why.clone().into()));
    }

    /// Where its answer goes.
    fn into_reply(self) -> Reply {
        match self {
            Self::Event(_, r) | Self::Heartbeat(_, r) | Self::Policy(_, r) | Self::Rotate(_, r) => r,
        }
    }

    /// Its dedup key and the leaf bytes before `logged_at` (what a retry
    /// repeats), for the jobs that have them.
    fn dedup(&self) -> Option<(&[u8], &[u8])> {
        match self {
            Self::Event(e, _) => Some((e.dedup_key.as_slice(), e.submission.leaf.head())),
            Self::Heartbeat(h, _) => Some((h.dedup_key.as_slice(), h.submission.leaf.head())),
            Self::Policy(..) | Self::Rotate(..) => None,
        }
    }
}

/// What [`Assembler::assemble`] made of a batch of jobs.
pub struct Assembled {
    /// The commit to write, if any entry is new.
    pub commit: Option<CommitParts>,
    /// A failure that stops the log (the jobs were answered with it).
    pub fatal: Option<Unavailable>,
}

/// When state commitments are due.
#[derive(Debug, Clone, Copy)]
pub struct CommitSchedule {
    /// `logged_at` (Unix ms) of the last commitment (`None`: the log has
    /// none yet, and its next batch commits).
    pub last_ms: Option<i64>,
    /// Longest an unchanged map goes without a new commitment (ms).
    pub interval_ms: i64,
}

/// The sequencer's state between batches: the tree's right edge, the
/// registry in force, the last `logged_at`, the signing key, the credential
/// ledger and when the next state commitment is due.
pub struct Assembler {
    keys: SigningKeys,
    range: CompactRange,
    /// The registry in force and the index of its policy leaf.
    registry: Option<(u64, Arc<Registry>)>,
    /// Set once a freeze has been sequenced: everything after is refused.
    frozen: bool,
    last_logged_at: i64,
    /// Who owns each credential and its state: the stored map and this
    /// batch's changes.
    credentials: Credentials,
    /// `logged_at` (Unix ms) of the last state commitment (`None`: the log
    /// has none, and its next batch commits).
    last_commit_ms: Option<i64>,
    /// Longest an unchanged map goes without a new commitment (ms).
    commit_interval_ms: i64,
    /// Approval uses consumed, stored and in flight.
    uses: ApprovalUses,
}

impl Assembler {
    /// The state of a log whose right edge is `range`, with `registry` in
    /// force (its policy leaf's index and itself) and `last_logged_at` the
    /// `logged_at` of its last entry.
    #[must_use]
    pub fn new(
        keys: SigningKeys,
        range: CompactRange,
        registry: Option<(u64, Arc<Registry>)>,
        frozen: bool,
        last_logged_at: i64,
        credentials: Credentials,
        commits: CommitSchedule,
    ) -> Self {
        Self {
            keys,
            range,
            registry,
            frozen,
            last_logged_at,
            credentials,
            last_commit_ms: commits.last_ms,
            commit_interval_ms: commits.interval_ms,
            uses: ApprovalUses::default(),
        }
    }

    /// How long after `now_ms` an idle log owes a state commitment (zero:
    /// now); `None` for an empty or frozen log, which owes none.
    #[must_use]
    pub fn commit_due_in(&self, now_ms: i64) -> Option<std::time::Duration> {
        if self.frozen || self.range.size() == 0 {
            return None;
        }
        let Some(last) = self.last_commit_ms else {
            return Some(std::time::Duration::ZERO);
        };
        let due = last.saturating_add(self.commit_interval_ms);
        Some(std::time::Duration::from_millis(
            u64::try_from(due.saturating_sub(now_ms)).unwrap_or(0),
        ))
    }

    /// Whether a freeze has been sequenced.
    #[must_use]
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Records that a freeze was sequenced: every later job is refused.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Turns `work` into one commit at wall-clock time `now_ms`, answering
    /// directly every job that adds no entry (retries of stored events,
    /// conflicts, refusals). `inflight` is the set of dedup keys being
    /// written; the new entries' keys are added to it (it is locked while
    /// it is read or written, not across the store read, so the committer
    /// can clear the previous batch's keys meanwhile). `latest` is the
    /// durable checkpoint retries of stored events are answered with.
    pub fn assemble(
        &mut self,
        work: Vec<Work>,
        now_ms: i64,
        store: &dyn Durable,
        inflight: &Mutex<InflightMap>,
        latest: &Arc<Published>,
    ) -> Assembled {
        let poisoned = |work: Vec<Work>| {
            for w in work {
                w.fail(&Unavailable::Poisoned);
            }
            Assembled {
                commit: None,
                fatal: Some(Unavailable::Poisoned),
            }
        };
        // Phase 1: attach events whose key is in flight (the in-flight set is
        // checked before the store, see the module docs).
        let mut fresh: Vec<(Work, Hash)> = Vec::with_capacity(work.len());
        let Ok(mut set) = inflight.lock() else {
            return poisoned(work);
        };
        for w in work {
            let Some((key, head)) = w.dedup() else {
                fresh.push((w, [0; 32]));
                continue;
            };
            let head_hash = sha256(&[head]);
            let heartbeat = matches!(w, Work::Heartbeat(..));
            match set.get_mut(key) {
                Some(inf) if inf.head_hash == head_hash => inf.waiters.push(w.into_reply()),
                Some(inf) if !heartbeat => {
                    let index = inf.index;
                    let _ = w.into_reply().send(Err(SeqError::Conflict(index)));
                }
                _ => fresh.push((w, head_hash)),
            }
        }
        drop(set);
        // Phase 2: look the rest up in the store, in one batched read.
        let keys: Vec<&[u8]> = fresh.iter().filter_map(|(w, _)| w.dedup().map(|(k, _)| k)).collect();
        let stored = store.dedup_many(&keys);
        drop(keys);
        let mut stored = stored.into_iter();
        // Phase 3: in queue order, assign indexes under the registry in force.
        let start = self.range.size();
        // `logged_at` never goes backwards: a clock a little behind (a small
        // step, another thread's reading) is held at the last `logged_at`; a
        // clock far behind refuses the batch until it catches up.
        if now_ms < self.last_logged_at.saturating_sub(MAX_CLOCK_BACKSTEP_MS) {
            let why = Unavailable::ClockBehind {
                now_ms,
                last_ms: self.last_logged_at,
            };
            tracing::error!(error = %why, "the clock is behind the log");
            for (w, _) in fresh {
                w.fail(&why);
            }
            return Assembled {
                commit: None,
                fatal: None,
            };
        }
        let now = now_ms.max(self.last_logged_at);
        let Ok(ts) = provlog_proto::time::format_millis(now) else {
            let why = Unavailable::Clock(now);
            for (w, _) in fresh {
                w.fail(&why);
            }
            return Assembled {
                commit: None,
                fatal: Some(why),
            };
        };
        let mut batch = AppendBatch {
            start,
            last_logged_at: now,
            ..AppendBatch::default()
        };
        let mut waiters = Vec::new();
        let Ok(mut set) = inflight.lock() else {
            return poisoned(fresh.into_iter().map(|(w, _)| w).collect());
        };
        // A failed read or commit stops the log (`fatal`), so the map in
        // memory never runs ahead of a store that goes on.
        let stop = |why: Unavailable, r: Reply, waiters: Vec<Waiter>| {
            tracing::error!(error = %crate::util::error_chain(&why), "the credential map cannot be read");
            let _ = r.send(Err(why.clone().into()));
            for w in waiters {
                let _ = w.reply.send(Err(why.clone().into()));
            }
            Assembled {
                commit: None,
                fatal: Some(why),
            }
        };
        for (w, head_hash) in fresh {
            if let Work::Rotate(rotation, r) = w {
                let index = batch.next_index();
                let a = match self.keys.announce(&rotation, now, index) {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = r.send(Err(e));
                        continue;
                    }
                };
                let entry = log_key_leaf(&ts, &a);
                if let Err(e) = fits(&entry) {
                    let _ = r.send(Err(e));
                    continue;
                }
                let index = batch.push_log_key(entry);
                waiters.push(Waiter {
                    reply: r,
                    index,
                    parts: None,
                });
                let until = a.overlap_until_ms().unwrap_or(now);
                let old = std::mem::replace(&mut self.keys.current, rotation.new);
                self.keys.retiring = Some((old, until));
                self.keys.used.push(self.keys.current.verifier());
                self.keys.last = Some(a);
                continue;
            }
            if let Work::Policy(reg, r) = w {
                let entry = policy_leaf(&ts, reg.policy());
                if let Err(e) = fits(&entry) {
                    let _ = r.send(Err(e));
                    continue;
                }
                let index = batch.next_index();
                if let Err(why) = self
                    .credentials
                    .register_chains(store, reg.policy(), index, &ts, &leaf_hash(&entry))
                {
                    return stop(why, r, waiters);
                }
                let index = batch.push_policy(entry, reg.policy().canonical());
                waiters.push(Waiter {
                    reply: r,
                    index,
                    parts: None,
                });
                self.registry = Some((index, reg));
                continue;
            }
            // Retries: a stored entry with this key, or one earlier in this
            // batch (in `inflight` by now).
            let Some((key, head)) = w.dedup() else { continue };
            let (key, head) = (key.to_vec(), head.to_vec());
            // A heartbeat's key is its chain position: another entry there
            // is for the chain check to refuse (`chain_seq_reused`, with
            // what the log expects), not an `event_id` conflict.
            let heartbeat = matches!(w, Work::Heartbeat(..));
            match stored.next() {
                Some(Err(err)) => {
                    let _ = w.into_reply().send(Err(Unavailable::Dedup(Arc::new(err)).into()));
                    continue;
                }
                Some(Ok(Some(old))) => {
                    let same = store
                        .entry(old)
                        .ok()
                        .flatten()
                        .is_some_and(|bytes| bytes.starts_with(&head));
                    if same || !heartbeat {
                        let _ = w.into_reply().send(if same {
                            Ok(Sequenced {
                                index: old,
                                outcome: Outcome::Duplicate,
                                published: Arc::clone(latest),
                                receipt_parts: None,
                            })
                        } else {
                            Err(SeqError::Conflict(old))
                        });
                        continue;
                    }
                }
                Some(Ok(None)) | None => {}
            }
            if let Some(inf) = set.get_mut(&key) {
                if inf.head_hash == head_hash {
                    inf.waiters.push(w.into_reply());
                    continue;
                } else if !heartbeat {
                    let index = inf.index;
                    let _ = w.into_reply().send(Err(SeqError::Conflict(index)));
                    continue;
                }
            }
            let (e, r) = match w {
                Work::Event(e, r) => (e, r),
                Work::Heartbeat(h, r) => {
                    let chain = match self.authorize_heartbeat(&h, now, store) {
                        Ok(c) => c,
                        Err(err) => {
                            let _ = r.send(Err(self.judged(err)));
                            continue;
                        }
                    };
                    let entry = h.submission.leaf.render(&ts);
                    if let Err(err) = fits(&entry) {
                        let _ = r.send(Err(err));
                        continue;
                    }
                    let index = batch.next_index();
                    let next = match chain.advance(&h.submission.heartbeat.link(), index, &leaf_hash(&entry), Some(&ts))
                    {
                        Ok(n) => n,
                        Err(err) => {
                            let _ = r.send(Err(err.into()));
                            continue;
                        }
                    };
                    if let Err(why) = self.credentials.set_chains(store, vec![next]) {
                        return stop(why, r, waiters);
                    }
                    let index = batch.push_heartbeat(entry, h.dedup_key.clone());
                    set.insert(
                        h.dedup_key,
                        Inflight {
                            index,
                            head_hash,
                            waiters: Vec::new(),
                        },
                    );
                    waiters.push(Waiter {
                        reply: r,
                        index,
                        parts: None,
                    });
                    continue;
                }
                Work::Policy(..) | Work::Rotate(..) => continue,
            };
            let (uses, decision) = match self.authorize(&e, now, store) {
                Ok(a) => a,
                Err(err) => {
                    let _ = r.send(Err(self.judged(err)));
                    continue;
                }
            };
            // Spent or reused approvals are judged against every use
            // sequenced before, this batch's included.
            if let Err(err) = self.uses.check(store, &uses) {
                let _ = r.send(Err(self.judged(err)));
                continue;
            }
            // The chain is judged against its head with every earlier entry
            // applied, this batch's included.
            let chain = match self.chain_of(&e, store) {
                Ok(c) => c,
                Err(err) => {
                    let _ = r.send(Err(self.judged(err)));
                    continue;
                }
            };
            // Ownership is judged against the map with every earlier entry
            // applied, this batch's included.
            let changes = match self.credentials.check(
                store,
                &e.submission.event.event,
                batch.next_index(),
                &e.submission.submitter,
            ) {
                Ok(c) => c,
                Err(err) => {
                    let _ = r.send(Err(self.judged(err)));
                    continue;
                }
            };
            let entry = match &decision {
                Some(d) => e.submission.leaf.render_decided(&ts, d),
                None => e.submission.leaf.render(&ts),
            };
            if let Err(err) = fits(&entry) {
                let _ = r.send(Err(err));
                continue;
            }
            if let Err(why) = self.credentials.apply(store, changes) {
                return stop(why, r, waiters);
            }
            if let (Some(cur), Some(link)) = (chain, e.submission.event.event.link()) {
                // `chain_of` checked the link against this very head.
                if let Ok(next) = cur.advance(&link, batch.next_index(), &leaf_hash(&entry), None)
                    && let Err(why) = self.credentials.set_chains(store, vec![next])
                {
                    return stop(why, r, waiters);
                }
            }
            let index = batch.push_event(entry, &e.submission.event.event, e.dedup_key.clone());
            if let Some(seq) = e.submission.event.event.seq {
                batch.push_chain_seq(&e.submission.submitter, seq, index);
            }
            batch.push_approval_uses(index, &e.submission.approvals);
            self.uses.consume(uses, index);
            set.insert(
                e.dedup_key,
                Inflight {
                    index,
                    head_hash,
                    waiters: Vec::new(),
                },
            );
            waiters.push(Waiter {
                reply: r,
                index,
                parts: None,
            });
        }
        drop(set);
        // The state commitment closes the batch: after every change of the
        // map, and on a log that owes one (the last is older than the
        // interval), so that a verifier can tell the map is current.
        let owed = self.range.size() + batch.entries.len() as u64 > 0
            && self
                .last_commit_ms
                .is_none_or(|t| now.saturating_sub(t) >= self.commit_interval_ms);
        let mut committed = false;
        if self.credentials.changed() || owed {
            let index = batch.next_index();
            let (root, write) = self.credentials.finish(index + 1, Some((index, now)));
            let entry = state_leaf(&ts, index, self.credentials.len(), &root);
            batch.push_state(entry);
            batch.map = Some(write);
            committed = true;
        }
        self.uses.finish(batch.next_index());
        if batch.entries.is_empty() {
            return Assembled {
                commit: None,
                fatal: None,
            };
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
            origin: self.keys.current.name().to_owned(),
            size,
            root,
            extensions: Vec::new(),
        };
        match sign_checkpoint_by(&cp, &self.keys.signers(now)) {
            Ok(note) => batch.checkpoint = note.to_string().into_bytes(),
            Err(e) => {
                let why = Unavailable::Sign(Arc::new(e));
                for w in waiters {
                    let _ = w.reply.send(Err(why.clone().into()));
                }
                return Assembled {
                    commit: None,
                    fatal: Some(why),
                };
            }
        }
        self.last_logged_at = now;
        if committed {
            self.last_commit_ms = Some(now);
        }
        Assembled {
            commit: Some(CommitParts {
                batch,
                waiters,
                root,
                closed: std::time::Instant::now(),
            }),
            fatal: None,
        }
    }

    /// `err` with the registry in force it was judged under, if it is a
    /// refusal of authority.
    fn judged(&self, err: SeqError) -> SeqError {
        match &self.registry {
            Some((index, _)) if err.is_authority() => SeqError::Judged {
                policy_index: *index,
                error: Box::new(err),
            },
            _ => err,
        }
    }

    /// The chain head event `e` joins (`None`: its submitter is not
    /// sequenced and it carries no link), or why it does not.
    fn chain_of(&mut self, e: &EventJob, store: &dyn Durable) -> Result<Option<ChainRecord>, SeqError> {
        let Some((_, reg)) = &self.registry else {
            return Err(Unavailable::NoRegistry.into());
        };
        let sub = &e.submission.submitter;
        let sequenced = reg.submitter(sub).map_err(SeqError::Scope)?.policy.sequenced;
        let link = e.submission.event.event.link();
        if !sequenced {
            return match link {
                None => Ok(None),
                Some(_) => Err(ChainError::NotSequenced(sub.clone()).into()),
            };
        }
        let cur = self
            .credentials
            .chain(store, sub)?
            .ok_or_else(|| ChainError::NotSequenced(sub.clone()))?;
        let Some(l) = link else {
            return Err(cur.required().into());
        };
        cur.check(&l)?;
        Ok(Some(cur))
    }

    /// Checks a heartbeat against the registry in force at `now`: a
    /// registered, valid, sequenced submitter whose key in force signed
    /// it, at its chain's next link. Returns the chain head it joins.
    fn authorize_heartbeat(
        &mut self,
        h: &HeartbeatJob,
        now: i64,
        store: &dyn Durable,
    ) -> Result<ChainRecord, SeqError> {
        let Some((_, reg)) = &self.registry else {
            return Err(Unavailable::NoRegistry.into());
        };
        let sub = &h.submission;
        let s = reg.submitter(&sub.submitter).map_err(SeqError::Scope)?;
        s.check_window(now).map_err(SeqError::Scope)?;
        if s.key != h.verified_with && !s.key.verify_raw(&sub.message(self.keys.current.name()), &sub.signature) {
            return Err(SeqError::BadSignature(sub.submitter.clone()));
        }
        if !s.policy.sequenced {
            return Err(ChainError::NotSequenced(sub.submitter.clone()).into());
        }
        let cur = self
            .credentials
            .chain(store, &sub.submitter)?
            .ok_or_else(|| ChainError::NotSequenced(sub.submitter.clone()))?;
        cur.check(&sub.heartbeat.link())?;
        Ok(cur)
    }

    /// Checks an event against the registry in force at `now` (its
    /// `logged_at`): scope, signature, approvals and Cedar policies,
    /// re-verifying a signature only if the key in force is not the one
    /// the handler used. Returns the approval uses the event consumes and
    /// the log's policy decision (if the registry has policies), which
    /// the event's claimed decision agrees with.
    fn authorize(
        &mut self,
        e: &EventJob,
        now: i64,
        store: &dyn Durable,
    ) -> Result<(Vec<ApprovalUse>, Option<PolicyDecision>), SeqError> {
        let Some((_, reg)) = &self.registry else {
            return Err(Unavailable::NoRegistry.into());
        };
        let sub = &e.submission;
        let s = reg
            .check_scope(&sub.submitter, &sub.event.event, now)
            .map_err(SeqError::Scope)?;
        let origin = self.keys.current.name();
        if s.key != e.verified_with && !sub.verify(&s.key, origin) {
            return Err(SeqError::BadSignature(sub.submitter.clone()));
        }
        let uses = approval::check(
            reg,
            &sub.submitter,
            &sub.event.event,
            &sub.approvals,
            now,
            &mut |i, a, k| e.approval_keys.get(i) == Some(k) || a.verify(k, origin),
        )
        .map_err(SeqError::Approval)?;
        if reg.engine().is_none() {
            return Ok((uses, None));
        }
        let event = &sub.event.event;
        let state = match &event.credential {
            Some(c) => self.credentials.state_of(store, &c.fingerprint)?,
            None => None,
        };
        let Some(decision) = reg.decide(
            &sub.submitter,
            event,
            &sub.approvals,
            now,
            state.map(RecordState::as_str),
        ) else {
            return Ok((uses, None));
        };
        cedar::check_claim(event, &decision).map_err(SeqError::Decision)?;
        Ok((uses, Some(decision)))
    }
}

/// Refuses a leaf that no bundle could carry.
fn fits(entry: &[u8]) -> Result<(), SeqError> {
    if entry.len() > MAX_ENTRY_BYTES {
        return Err(SeqError::EntryTooLarge {
            bytes: entry.len(),
            limit: MAX_ENTRY_BYTES,
        });
    }
    Ok(())
}

/// The nodes of one batch's neighbourhood, for in-memory proofs.
struct BatchNodes(HashMap<NodeId, Hash>);

impl HashSource for BatchNodes {
    type Error = NodeId;
    fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, NodeId> {
        ids.iter().map(|id| self.0.get(id).copied().ok_or(*id)).collect()
    }
}
