//! Replaying a log to rebuild the authority every event ran under.
//!
//! The registry in force for entry `i` is the policy leaf with the largest
//! index below `i` (the sequencer switches registries exactly at a policy
//! leaf, so this is what it checked against). [`Auditor`] consumes entries
//! in index order and, for each event, checks that the submitter was
//! registered, that its signature verifies under the key in force, and that
//! the event was within its scope at the event's `logged_at`. It also
//! checks the log-wide rules: entry 0 is a policy leaf, every leaf is
//! canonical, `logged_at` never decreases.
//!
//! The caller is responsible for feeding it entries it has authenticated
//! (e.g. entry bundles checked against tiles and a verified checkpoint).

use crate::book::{Book, BookError, BookStore, MemStore};
use crate::leaf::{Leaf, LeafError};
use crate::policy::{PolicyError, Registry, ScopeError};
use crate::time;

/// What one audited entry was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audited {
    /// A policy leaf: from here on this registry is in force.
    Policy {
        /// Number of submitters it lists.
        submitters: usize,
    },
    /// A state commitment that matches the map recomputed from the
    /// entries before it.
    State {
        /// Its map root.
        map_root: provlog_tlog::merkle::Hash,
    },
    /// A heartbeat that joined its submitter's chain.
    Heartbeat {
        /// Its submitter.
        submitter: String,
        /// Its `seq`.
        seq: u64,
    },
    /// A log key announcement that follows the rotations before it.
    LogKey {
        /// The key it introduces.
        new: String,
    },
    /// An event that was authorized.
    Event {
        /// Its submitter.
        submitter: String,
        /// Index of the policy leaf it was checked under.
        policy_index: u64,
    },
}

/// A violation found at one entry.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// The bytes are not a provlog leaf.
    #[error("entry {index}: {err}")]
    Leaf {
        /// Entry index.
        index: u64,
        /// Why.
        err: LeafError,
    },
    /// Entry 0 is not a policy leaf, or an event precedes every policy.
    #[error("entry {0}: an event before any policy leaf")]
    NoPolicy(u64),
    /// A logged policy is not a valid registry.
    #[error("entry {index}: invalid policy: {err}")]
    BadPolicy {
        /// Entry index.
        index: u64,
        /// Why.
        err: PolicyError,
    },
    /// A log key announcement does not hold (one signature, not from the
    /// key in force, during the previous overlap).
    #[error("entry {index}: log key rotation: {err}")]
    Rotation {
        /// Entry index.
        index: u64,
        /// Why.
        err: crate::rotation::RotationError,
    },
    /// `logged_at` went backwards.
    #[error("entry {index}: logged_at {at} is before the previous entry's {previous}")]
    TimeBackwards {
        /// Entry index.
        index: u64,
        /// This entry's time.
        at: String,
        /// The previous entry's time.
        previous: String,
    },
    /// The submitter is not in the registry in force, or the event was out
    /// of its scope.
    #[error("entry {index} (policy {policy_index}): {err}")]
    Scope {
        /// Entry index.
        index: u64,
        /// The policy leaf in force.
        policy_index: u64,
        /// The rule broken.
        err: ScopeError,
    },
    /// The submitter's signature does not verify under its key in force.
    #[error("entry {index} (policy {policy_index}): the signature of {submitter:?} does not verify")]
    Signature {
        /// Entry index.
        index: u64,
        /// The policy leaf in force.
        policy_index: u64,
        /// Submitter id.
        submitter: String,
    },
    /// A state commitment does not hold the map recomputed from the
    /// entries before it: the log committed to credential states its own
    /// entries do not produce.
    #[error(
        "entry {index}: the state commitment claims map root {claimed} over {claimed_credentials} credentials, \
         the entries before it give {computed} over {computed_credentials}"
    )]
    StateMismatch {
        /// Entry index of the commitment.
        index: u64,
        /// Base64 root it commits to.
        claimed: String,
        /// Base64 root recomputed from the entries.
        computed: String,
        /// Credentials it claims.
        claimed_credentials: u64,
        /// Credentials the entries give.
        computed_credentials: u64,
    },
    /// The event's approvals do not authorize it under the registry in
    /// force: a log that checks approvals sequences none such.
    #[error("entry {index} (policy {policy_index}): {err}")]
    Approval {
        /// Entry index.
        index: u64,
        /// The policy leaf in force.
        policy_index: u64,
        /// The rule broken.
        err: crate::approval::ApprovalError,
    },
    /// The log's recorded policy decision is missing, or is not the one
    /// the registry's Cedar policies give when re-evaluated here, or the
    /// event's claimed decision disagrees with it.
    #[error("entry {index} (policy {policy_index}): {reason}")]
    PolicyDecision {
        /// Entry index.
        index: u64,
        /// The policy leaf in force.
        policy_index: u64,
        /// What differs, with both decisions.
        reason: String,
        /// The decision the log recorded, if any.
        logged: Option<Box<crate::cedar::PolicyDecision>>,
        /// The decision re-evaluated here, if the registry has policies.
        computed: Option<Box<crate::cedar::PolicyDecision>>,
    },
    /// The event changes a credential it may not (another target's, or a
    /// retired one made active): a log sequences none since the ownership
    /// rules (issue 14); one written before may hold such events.
    #[error("entry {index}: {err}")]
    Ownership {
        /// Entry index.
        index: u64,
        /// The rule broken.
        err: crate::ledger::OwnershipError,
    },
    /// The entry does not join its submitter's chain (a gap, a repeat, a
    /// fork, a missing or unexpected `seq`): a log sequences none such.
    #[error("entry {index}: {err}")]
    Chain {
        /// Entry index.
        index: u64,
        /// The rule broken.
        err: crate::chain::ChainError,
    },
    /// A heartbeat's claimed count of actions is not the number of the
    /// submitter's events since its previous heartbeat: by its own word,
    /// the submitter did something it did not log (or logged something it
    /// did not count).
    #[error(
        "entry {index}: heartbeat seq {seq} of {submitter:?} claims {claimed} action(s) since its previous heartbeat; \
         the log holds {logged}"
    )]
    HeartbeatCount {
        /// Entry index.
        index: u64,
        /// The submitter.
        submitter: String,
        /// The heartbeat's `seq`.
        seq: u64,
        /// What it claims.
        claimed: u64,
        /// Events of the submitter between it and its previous heartbeat.
        logged: u64,
    },
    /// The auditor's own store failed at this entry: the entry is not
    /// audited (nothing is known about it), and what the auditor holds
    /// may include part of its changes.
    #[error("entry {index}: the auditor's store failed: {error}")]
    Store {
        /// Entry index.
        index: u64,
        /// Why.
        error: String,
    },
    /// A required heartbeat came later than the registry's interval after
    /// the previous one (or the registration).
    #[error(
        "entry {index}: heartbeat seq {seq} of {submitter:?} came {gap_ms} ms after {since}, \
         over its interval of {interval_seconds} s"
    )]
    HeartbeatLate {
        /// Entry index.
        index: u64,
        /// The submitter.
        submitter: String,
        /// The heartbeat's `seq`.
        seq: u64,
        /// `logged_at` of the previous heartbeat (or of the registration).
        since: String,
        /// Milliseconds between the two.
        gap_ms: i64,
        /// The interval in force.
        interval_seconds: u64,
    },
}

/// A sequenced submitter whose required heartbeat is overdue at a time
/// ([`Auditor::overdue_heartbeats`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Overdue {
    /// The submitter.
    pub submitter: String,
    /// `logged_at` of its last heartbeat (or of its registration).
    pub since: String,
    /// The interval in force (seconds).
    pub interval_seconds: u64,
    /// Its chain head.
    pub seq: u64,
}

/// Evidence that a log committed to a credential map its own entries do
/// not give (what the monitor writes on [`Finding::StateMismatch`]): the
/// commitment leaf, its inclusion proof under a checkpoint the log signed,
/// and the root recomputed from the entries before it. [`StateEvidence::verify`]
/// checks offline that the log signed this commitment; anyone confirms the
/// recomputed root by replaying the first `index` entries of that
/// checkpoint's tree (`provlog audit`), which the checkpoint authenticates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateEvidence {
    /// The log's origin.
    pub origin: String,
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// Entry index of the commitment.
    pub index: u64,
    /// Base64 bytes of the `state` leaf.
    pub entry: String,
    /// Base64 inclusion proof of it under the checkpoint.
    pub proof: Vec<String>,
    /// Base64 map root the entries before it give.
    pub computed_root: String,
    /// Credentials the entries before it give.
    pub computed_credentials: u64,
}

impl StateEvidence {
    /// Checks that `log_key` signed a checkpoint including, at `index`, a
    /// state leaf that commits to something other than the recomputed map.
    ///
    /// # Errors
    /// Why the evidence does not hold, as text.
    pub fn verify(&self, log_key: &provlog_tlog::keys::VerifierKey) -> Result<crate::leaf::StateLeaf, String> {
        let (cp, _) = provlog_tlog::checkpoint::open_checkpoint(self.checkpoint.as_bytes(), log_key)
            .map_err(|e| format!("checkpoint: {e}"))?;
        let entry = provlog_tlog::b64::decode(&self.entry).map_err(|_| "entry is not base64".to_owned())?;
        let proof = self
            .proof
            .iter()
            .map(|p| provlog_tlog::b64::decode(p).map_err(|_| "proof is not base64".to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        provlog_tlog::merkle::verify_inclusion(
            self.index,
            cp.size,
            &provlog_tlog::merkle::leaf_hash(&entry),
            &proof,
            &cp.root,
        )
        .map_err(|e| format!("inclusion: {e}"))?;
        let Ok(Leaf::State(c)) = Leaf::parse(&entry) else {
            return Err("the entry is not a state leaf".into());
        };
        c.check_index(self.index).map_err(|e| e.to_string())?;
        if provlog_tlog::b64::encode(c.map_root) == self.computed_root && c.credentials == self.computed_credentials {
            return Err("the commitment holds the recomputed map: nothing is wrong".into());
        }
        Ok(c)
    }
}

/// What an [`Auditor`] remembers beyond its [`BookStore`], to resume it
/// later: small whatever the log's size (the registry in force, one chain
/// head per sequenced submitter). States saved before the book (issue 21)
/// also hold every credential's record and every approval's uses;
/// [`Auditor::resume_in`] moves those into the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditorState {
    /// Index of the next entry.
    pub next: u64,
    /// The policy in force and the index of its leaf.
    pub policy: Option<(u64, crate::policy::Policy)>,
    /// `logged_at` of the last entry.
    pub last_logged_at: Option<String>,
    /// Every credential's record, in states saved before the book (absent
    /// in states saved before issue 14, and since issue 21: the records
    /// are in the store).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<crate::ledger::CredentialRecord>,
    /// Uses of every approval seen: (approver, approval id, base64
    /// digest, uses), in states saved before the book.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approval_uses: Vec<(String, String, String, u64)>,
    /// Every sequenced submitter's chain head (absent in states saved
    /// before chains).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chains: Vec<crate::chain::ChainRecord>,
    /// The last log key announcement's `log_key` object (absent before
    /// any rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key: Option<serde_json::Value>,
    /// The records, the map and the approvals' uses are in the auditor's
    /// store, not here (states saved since issue 21).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_store: bool,
}

impl AuditorState {
    /// [`Auditor::overdue_heartbeats`] of the auditor this state resumes,
    /// without resuming it (nothing is read from its store).
    #[must_use]
    pub fn overdue_heartbeats(&self, now_ms: i64) -> Vec<Overdue> {
        let Some((_, policy)) = &self.policy else {
            return Vec::new();
        };
        overdue(policy, |s| self.chains.iter().find(|c| c.submitter == s), now_ms)
    }
}

/// The sequenced submitters of `policy` whose heartbeat is overdue at
/// `now_ms`, given their chain heads.
fn overdue<'a>(
    policy: &crate::policy::Policy,
    chain: impl Fn(&str) -> Option<&'a crate::chain::ChainRecord>,
    now_ms: i64,
) -> Vec<Overdue> {
    let mut out: Vec<Overdue> = policy
        .submitters
        .iter()
        .filter(|s| s.sequenced)
        .filter_map(|s| {
            let interval = s.heartbeat_interval_seconds?;
            let c = chain(&s.id)?;
            let since = c
                .heartbeat
                .as_ref()
                .map_or(c.registered_at.clone(), |m| m.logged_at.clone());
            let last = time::parse_millis(&since).ok()?;
            let limit = i64::try_from(interval.saturating_mul(1000)).unwrap_or(i64::MAX);
            (now_ms.saturating_sub(last) > limit).then(|| Overdue {
                submitter: s.id.clone(),
                since,
                interval_seconds: interval,
                seq: c.seq,
            })
        })
        .collect();
    out.sort_by(|a, b| a.submitter.cmp(&b.submitter));
    out
}

/// Why an [`Auditor`] could not resume from a saved state.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError<E: std::error::Error + 'static> {
    /// The saved policy is not a valid registry.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The store cannot be read or written.
    #[error(transparent)]
    Store(BookError<E>),
    /// The state and the store do not belong together.
    #[error("{0}")]
    Mismatch(&'static str),
}

/// What [`Auditor::step`] stops at: a finding, or the store failing.
enum Step<E> {
    Finding(Finding),
    Store(BookError<E>),
}

impl<E> From<Finding> for Step<E> {
    fn from(f: Finding) -> Self {
        Self::Finding(f)
    }
}

impl<E> From<BookError<E>> for Step<E> {
    fn from(e: BookError<E>) -> Self {
        Self::Store(e)
    }
}

/// `Err(f)` as a step.
fn fail<E>(f: Finding) -> Result<Audited, Step<E>> {
    Err(Step::Finding(f))
}

/// Replays entries in index order, for the log whose checkpoint origin it
/// was made with (what version 2 event signatures cover). What grows with
/// the log (every credential's record, the map over them, every
/// approval's uses) is in its [`BookStore`] `S`: memory by default, or a
/// store on disk so that its memory does not depend on the log's size.
#[derive(Debug)]
pub struct Auditor<S: BookStore = MemStore> {
    origin: String,
    next: u64,
    registry: Option<(u64, Registry)>,
    last_logged_at: Option<String>,
    book: Book<S>,
    /// The last log key announcement.
    rotation: Option<crate::rotation::SignedAnnouncement>,
}

impl Auditor<MemStore> {
    /// An auditor of the log whose checkpoint origin is `origin` that
    /// expects entry 0 next, keeping everything in memory.
    #[must_use]
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            next: 0,
            registry: None,
            last_logged_at: None,
            book: Book::fresh(MemStore::default()),
            rotation: None,
        }
    }

    /// An in-memory auditor that goes on where `state` left off (a state
    /// that holds its records: one saved before the book, or in memory).
    ///
    /// # Errors
    /// The saved policy is not a valid registry, or the state's records
    /// are in a store.
    pub fn resume(state: AuditorState, origin: &str) -> Result<Self, ResumeError<std::convert::Infallible>> {
        Self::resume_in(state, origin, MemStore::default())
    }
}

impl<S: BookStore> Auditor<S> {
    /// An auditor of the log whose checkpoint origin is `origin` that
    /// expects entry 0 next, keeping what grows with the log in `store`
    /// (which should hold no book yet).
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn with_store(origin: &str, store: S) -> Result<Self, BookError<S::Error>> {
        Ok(Self {
            origin: origin.to_owned(),
            next: 0,
            registry: None,
            last_logged_at: None,
            book: Book::open(store)?,
            rotation: None,
        })
    }

    /// Its state, to resume from with [`Auditor::resume_in`] and the same
    /// store, once the store holds what it wrote: call
    /// [`Auditor::flush`] first.
    #[must_use]
    pub fn state(&self) -> AuditorState {
        AuditorState {
            next: self.next,
            policy: self.registry.as_ref().map(|(i, r)| (*i, r.policy().clone())),
            last_logged_at: self.last_logged_at.clone(),
            credentials: Vec::new(),
            approval_uses: Vec::new(),
            chains: self.book.chains(),
            log_key: self
                .rotation
                .as_ref()
                .and_then(|a| serde_json::from_slice(&a.canonical()).ok()),
            in_store: true,
        }
    }

    /// An auditor that goes on where `state` left off, with the book in
    /// `store`. A state saved before the book holds the records, the
    /// approvals' uses and the chains itself: they are written into the
    /// store (which must hold no book), and [`Auditor::state`] no longer
    /// holds them.
    ///
    /// # Errors
    /// [`ResumeError`]: an invalid saved policy, the store failing, or a
    /// state and a store that do not belong together.
    pub fn resume_in(state: AuditorState, origin: &str, store: S) -> Result<Self, ResumeError<S::Error>> {
        let mut book = Book::open(store).map_err(ResumeError::Store)?;
        if state.in_store {
            if book.was_empty() && state.next > 0 {
                return Err(ResumeError::Mismatch(
                    "the saved state's records are not in the store (a store from elsewhere, or lost)",
                ));
            }
            book.resume_chains(state.chains);
        } else {
            if !book.was_empty() {
                return Err(ResumeError::Mismatch(
                    "the saved state holds its records, and the store holds another book",
                ));
            }
            book.apply(state.credentials).map_err(ResumeError::Store)?;
            book.set_chains(state.chains).map_err(ResumeError::Store)?;
            for (approver, id, digest, uses) in state.approval_uses {
                let Some(d) = provlog_tlog::b64::decode_array(&digest) else {
                    continue;
                };
                book.set_approval_uses(&approver, &id, d, uses)
                    .map_err(ResumeError::Store)?;
            }
            book.flush().map_err(ResumeError::Store)?;
        }
        Ok(Self {
            origin: origin.to_owned(),
            next: state.next,
            registry: state
                .policy
                .map(|(i, p)| Registry::new(p).map(|r| (i, r)))
                .transpose()?,
            last_logged_at: state.last_logged_at,
            book,
            rotation: state
                .log_key
                .and_then(|v| crate::rotation::SignedAnnouncement::from_value(&v).ok()),
        })
    }

    /// Index of the next entry it expects.
    #[must_use]
    pub const fn next_index(&self) -> u64 {
        self.next
    }

    /// The record of `fingerprint` as replayed so far, if any event
    /// named it.
    ///
    /// # Errors
    /// The store's.
    pub fn record(&self, fingerprint: &str) -> Result<Option<crate::ledger::CredentialRecord>, BookError<S::Error>> {
        self.book.record(fingerprint)
    }

    /// The chain head of `submitter` as replayed so far.
    #[must_use]
    pub fn chain(&self, submitter: &str) -> Option<&crate::chain::ChainRecord> {
        self.book.chain(submitter)
    }

    /// Its book (records, map, chains, approvals' uses).
    #[must_use]
    pub fn book(&self) -> &Book<S> {
        &self.book
    }

    /// Its book, e.g. to keep the lifecycle rules' memory in the same
    /// store ([`crate::book::Lifecycle`]).
    pub fn book_mut(&mut self) -> &mut Book<S> {
        &mut self.book
    }

    /// Hands the store every change so far ([`Book::flush`]).
    ///
    /// # Errors
    /// The store's.
    pub fn flush(&mut self) -> Result<(), BookError<S::Error>> {
        self.book.flush()
    }

    /// The store, once flushed.
    pub fn into_store(self) -> S {
        self.book.into_store()
    }

    /// The sequenced submitters of the registry in force whose required
    /// heartbeat is overdue at `now_ms`: more than their interval since
    /// their last heartbeat (or their registration) as replayed so far.
    #[must_use]
    pub fn overdue_heartbeats(&self, now_ms: i64) -> Vec<Overdue> {
        let Some((_, reg)) = &self.registry else {
            return Vec::new();
        };
        overdue(reg.policy(), |s| self.book.chain(s), now_ms)
    }

    /// Audits the next entry.
    ///
    /// # Errors
    /// The [`Finding`] that makes this entry a violation (the auditor
    /// moves on to the next index either way), or [`Finding::Store`] if
    /// its store failed ([`Auditor::try_push`] tells that apart).
    pub fn push(&mut self, entry: &[u8]) -> Result<Audited, Finding> {
        let index = self.next;
        match self.step(entry) {
            Ok(a) => Ok(a),
            Err(Step::Finding(f)) => Err(f),
            Err(Step::Store(e)) => Err(Finding::Store {
                index,
                error: e.to_string(),
            }),
        }
    }

    /// Audits the next entry: its verdict, or why the store failed (the
    /// entry is then not audited, and the store may hold part of its
    /// changes: the caller drops what it wrote since it last saved).
    ///
    /// # Errors
    /// [`BookError`].
    pub fn try_push(&mut self, entry: &[u8]) -> Result<Result<Audited, Finding>, BookError<S::Error>> {
        match self.step(entry) {
            Ok(a) => Ok(Ok(a)),
            Err(Step::Finding(f)) => Ok(Err(f)),
            Err(Step::Store(e)) => Err(e),
        }
    }

    fn step(&mut self, entry: &[u8]) -> Result<Audited, Step<S::Error>> {
        let index = self.next;
        self.next += 1;
        let leaf = Leaf::parse(entry).map_err(|err| Finding::Leaf { index, err })?;
        let at = leaf.logged_at().to_owned();
        if let Some(prev) = self.last_logged_at.replace(at.clone())
            && at < prev
        {
            return fail(Finding::TimeBackwards {
                index,
                at,
                previous: prev,
            });
        }
        match leaf {
            Leaf::State(c) => {
                c.check_index(index).map_err(|err| Finding::Leaf { index, err })?;
                let computed = self.book.root()?;
                let n = self.book.len();
                if computed != c.map_root || n != c.credentials {
                    return fail(Finding::StateMismatch {
                        index,
                        claimed: provlog_tlog::b64::encode(c.map_root),
                        computed: provlog_tlog::b64::encode(computed),
                        claimed_credentials: c.credentials,
                        computed_credentials: n,
                    });
                }
                Ok(Audited::State { map_root: computed })
            }
            Leaf::Policy(p) => {
                let n = p.policy.submitters.len();
                let reg = Registry::new(p.policy).map_err(|err| Finding::BadPolicy { index, err })?;
                self.book.register_chains(reg.policy(), index, &p.logged_at, entry)?;
                self.registry = Some((index, reg));
                Ok(Audited::Policy { submitters: n })
            }
            Leaf::LogKey(k) => {
                let at = time::parse_millis(&k.logged_at).unwrap_or(i64::MIN);
                crate::rotation::check_follows(self.rotation.as_ref(), &k.announcement, index, at)
                    .map_err(|err| Finding::Rotation { index, err })?;
                let new = k.announcement.announcement.new.to_vkey_string();
                self.rotation = Some(k.announcement);
                Ok(Audited::LogKey { new })
            }
            Leaf::Heartbeat(h) => {
                let Some((policy_index, reg)) = &self.registry else {
                    return fail(Finding::NoPolicy(index));
                };
                let policy_index = *policy_index;
                let s = reg.submitter(&h.submitter).map_err(|err| Finding::Scope {
                    index,
                    policy_index,
                    err,
                })?;
                if !h.verify(&s.key, &self.origin) {
                    return fail(Finding::Signature {
                        index,
                        policy_index,
                        submitter: h.submitter.clone(),
                    });
                }
                let chain = |err| Finding::Chain { index, err };
                if !s.policy.sequenced {
                    return fail(chain(crate::chain::ChainError::NotSequenced(h.submitter.clone())));
                }
                let interval = s.policy.heartbeat_interval_seconds;
                let before = self
                    .book
                    .chain(&h.submitter)
                    .cloned()
                    .ok_or_else(|| chain(crate::chain::ChainError::NotSequenced(h.submitter.clone())))?;
                self.book
                    .advance_chain(&h.submitter, &h.heartbeat.link(), index, entry, Some(&h.logged_at))?
                    .map_err(chain)?;
                let seq = h.heartbeat.seq;
                if let Some((claimed, logged)) = crate::chain::count_mismatch(&before, &h.heartbeat) {
                    return fail(Finding::HeartbeatCount {
                        index,
                        submitter: h.submitter.clone(),
                        seq,
                        claimed,
                        logged,
                    });
                }
                if let Some(interval_seconds) = interval {
                    let since = before
                        .heartbeat
                        .as_ref()
                        .map_or(before.registered_at.clone(), |m| m.logged_at.clone());
                    let gap_ms = time::parse_millis(&h.logged_at)
                        .unwrap_or(0)
                        .saturating_sub(time::parse_millis(&since).unwrap_or(0));
                    if gap_ms > i64::try_from(interval_seconds.saturating_mul(1000)).unwrap_or(i64::MAX) {
                        return fail(Finding::HeartbeatLate {
                            index,
                            submitter: h.submitter.clone(),
                            seq,
                            since,
                            gap_ms,
                            interval_seconds,
                        });
                    }
                }
                Ok(Audited::Heartbeat {
                    submitter: h.submitter.clone(),
                    seq,
                })
            }
            Leaf::Event(e) => {
                let Some((policy_index, reg)) = &self.registry else {
                    return fail(Finding::NoPolicy(index));
                };
                let policy_index = *policy_index;
                let now = time::parse_millis(&e.logged_at).map_err(|err| Finding::Leaf {
                    index,
                    err: LeafError::Schema(err.to_string()),
                })?;
                let s = reg
                    .check_scope(&e.submitter, &e.event.event, now)
                    .map_err(|err| Finding::Scope {
                        index,
                        policy_index,
                        err,
                    })?;
                if !e.verify(&s.key, &self.origin) {
                    return fail(Finding::Signature {
                        index,
                        policy_index,
                        submitter: e.submitter.clone(),
                    });
                }
                let origin = &self.origin;
                let approval = |err| Finding::Approval {
                    index,
                    policy_index,
                    err,
                };
                let uses =
                    crate::approval::check(reg, &e.submitter, &e.event.event, &e.approvals, now, &mut |_, a, k| {
                        a.verify(k, origin)
                    })
                    .map_err(approval)?;
                for u in &uses {
                    u.check(self.book.approval_uses(&u.approver, &u.id)?)
                        .map_err(approval)?;
                }
                // The credential's state is a fact only Cedar policies read.
                let record = match e.event.event.credential.as_ref() {
                    Some(c) if reg.engine().is_some() => self.book.record(&c.fingerprint)?,
                    _ => None,
                };
                let state = record.as_ref().map(|r| r.state.as_str());
                let computed = reg.decide(&e.submitter, &e.event.event, &e.approvals, now, state);
                let decision = |reason: String| Finding::PolicyDecision {
                    index,
                    policy_index,
                    reason,
                    logged: e.policy_decision.clone().map(Box::new),
                    computed: computed.clone().map(Box::new),
                };
                match (&computed, &e.policy_decision) {
                    (None, None) => {}
                    (Some(c), Some(l)) if c == l => {
                        crate::cedar::check_claim(&e.event.event, c).map_err(|err| decision(err.to_string()))?;
                    }
                    (Some(c), Some(l)) => {
                        return fail(decision(format!(
                            "the log recorded {} by {:?} (cedar {}), re-evaluation gives {} by {:?} (cedar {})",
                            l.decision.as_str(),
                            l.policies,
                            l.cedar,
                            c.decision.as_str(),
                            c.policies,
                            c.cedar
                        )));
                    }
                    (Some(_), None) => {
                        return fail(decision(
                            "the registry in force has Cedar policies, but the entry records no decision".into(),
                        ));
                    }
                    (None, Some(_)) => {
                        return fail(decision(
                            "the entry records a policy decision, but the registry in force has no Cedar policies"
                                .into(),
                        ));
                    }
                }
                let chain = |err| Finding::Chain { index, err };
                let link = e.event.event.link();
                match (s.policy.sequenced, &link) {
                    (false, None) => {}
                    (false, Some(_)) => {
                        return fail(chain(crate::chain::ChainError::NotSequenced(e.submitter.clone())));
                    }
                    (true, link) => {
                        let cur = self
                            .book
                            .chain(&e.submitter)
                            .ok_or_else(|| chain(crate::chain::ChainError::NotSequenced(e.submitter.clone())))?;
                        let Some(l) = link else {
                            return fail(chain(cur.required()));
                        };
                        cur.check(l).map_err(chain)?;
                    }
                }
                self.book
                    .push_event(&e.event.event, index, &e.submitter)?
                    .map_err(|err| Finding::Ownership { index, err })?;
                if let Some(l) = &link {
                    self.book
                        .advance_chain(&e.submitter, l, index, entry, None)?
                        .map_err(chain)?;
                }
                for u in uses {
                    self.book.use_approval(&u.approver, &u.id, u.digest)?;
                }
                Ok(Audited::Event {
                    submitter: e.submitter.clone(),
                    policy_index,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CanonicalEvent;
    use crate::event::tests::sample;
    use crate::leaf::{EventLeafTemplate, policy_leaf};
    use crate::policy::{Policy, SubmitterPolicy};
    use crate::submission::signing_message;
    use provlog_tlog::keys::{ALG_ED25519, SignerKey};
    use serde_json::json;

    fn key(id: &str) -> SignerKey {
        SignerKey::from_seed(id, ALG_ED25519, [id.len() as u8; 32]).expect("key")
    }

    fn policy(ids: &[&str], targets: &[&str]) -> Policy {
        Policy {
            submitters: ids
                .iter()
                .map(|id| SubmitterPolicy {
                    id: (*id).into(),
                    key: key(id).verifier().to_vkey_string(),
                    actions: vec!["*".into()],
                    targets: targets.iter().map(|t| (*t).into()).collect(),
                    systems: None,
                    not_before: None,
                    not_after: None,
                    sequenced: false,
                    heartbeat_interval_seconds: None,
                })
                .collect(),
            ..Policy::default()
        }
    }

    fn event(id: &str, target: &str, at: &str) -> Vec<u8> {
        let mut v = sample();
        v["target"]["id"] = json!(target);
        // One credential per target: a credential belongs to one target.
        v["credential"] = json!({
            "fingerprint": format!("sha256:{}", provlog_tlog::hex::encode(provlog_tlog::merkle::sha256(&[target.as_bytes()])))
        });
        let ce = CanonicalEvent::from_value(&v).expect("event");
        let sig = key(id).sign_raw(&signing_message(&ce.jcs));
        EventLeafTemplate::new(&ce.jcs, id, &sig).render(at)
    }

    /// A version 2 event leaf verifies only with the origin it was signed
    /// for: an auditor of another log flags it.
    #[test]
    fn a_version_2_signature_is_checked_against_the_audited_log() {
        use crate::submission::{SignatureVersion, signing_message_v2};
        let t0 = "2026-11-25T00:00:00.000Z";
        let mut v = sample();
        v["credential"] = json!({"fingerprint": format!("sha256:{}", "b".repeat(64))});
        let ce = CanonicalEvent::from_value(&v).expect("event");
        let sig = key("ci").sign_raw(&signing_message_v2("a.example/log", &ce.jcs));
        let leaf = EventLeafTemplate::with_version(&ce.jcs, "ci", &sig, SignatureVersion::V2).render(t0);
        for (origin, ok) in [("a.example/log", true), ("b.example/log", false)] {
            let mut a = Auditor::new(origin);
            a.push(&policy_leaf(t0, &policy(&["ci"], &["*"]))).expect("policy");
            let r = a.push(&leaf);
            assert_eq!(r.is_ok(), ok, "{origin}: {r:?}");
            if !ok {
                assert!(matches!(r, Err(Finding::Signature { index: 1, .. })), "{r:?}");
            }
        }
    }

    #[test]
    fn rebuilds_authority_and_flags_violations() {
        let t0 = "2026-11-25T00:00:00.000Z";
        let t1 = "2026-11-25T00:00:01.000Z";
        let mut a = Auditor::new("example.com/log");
        assert_eq!(
            a.push(&policy_leaf(t0, &policy(&["ci"], &["svc-*"]))),
            Ok(Audited::Policy { submitters: 1 })
        );
        assert_eq!(
            a.push(&event("ci", "svc-a", t0)),
            Ok(Audited::Event {
                submitter: "ci".into(),
                policy_index: 0
            })
        );
        // Out of scope under policy 0.
        assert!(matches!(
            a.push(&event("ci", "db-a", t1)),
            Err(Finding::Scope {
                index: 2,
                policy_index: 0,
                ..
            })
        ));
        // A new policy widens the scope; the next event is checked under it.
        assert!(a.push(&policy_leaf(t1, &policy(&["ci", "ops"], &["*"]))).is_ok());
        assert_eq!(
            a.push(&event("ci", "db-a", t1)),
            Ok(Audited::Event {
                submitter: "ci".into(),
                policy_index: 3
            })
        );
        // Unknown submitter; time going backwards; garbage.
        assert!(matches!(
            a.push(&event("eve", "svc-a", t1)),
            Err(Finding::Scope { index: 5, .. })
        ));
        assert!(matches!(
            a.push(&event("ops", "svc-a", t0)),
            Err(Finding::TimeBackwards { index: 6, .. })
        ));
        assert!(matches!(a.push(b"leaf"), Err(Finding::Leaf { index: 7, .. })));
        // A bad signature: ops' event re-signed by ci's key.
        let good = event("ops", "svc-a", t1);
        let forged = String::from_utf8(good).expect("utf8");
        let sig_ci = {
            let ce = CanonicalEvent::from_value(&{
                let mut v = sample();
                v["target"]["id"] = json!("svc-a");
                v
            })
            .expect("e");
            provlog_tlog::b64::encode(key("ci").sign_raw(&signing_message(&ce.jcs)))
        };
        let start = forged.find("\"signature\":\"").expect("sig") + 13;
        let forged = format!("{}{}{}", &forged[..start], sig_ci, &forged[start + 88..]);
        assert!(matches!(
            a.push(forged.as_bytes()),
            Err(Finding::Signature { index: 8, .. })
        ));
        // Ownership (issue 14.3), in a history written before the rules: an
        // event of svc-b that revokes svc-a's credential.
        let mut v = sample();
        v["action"] = json!("revoke");
        v["target"]["id"] = json!("svc-b");
        v["credential"] = json!({
            "fingerprint": format!("sha256:{}", provlog_tlog::hex::encode(provlog_tlog::merkle::sha256(&[b"svc-a"])))
        });
        let ce = CanonicalEvent::from_value(&v).expect("event");
        let sig = key("ops").sign_raw(&signing_message(&ce.jcs));
        let theft = EventLeafTemplate::new(&ce.jcs, "ops", &sig).render(t1);
        let err = a.push(&theft).expect_err("flagged");
        assert!(matches!(err, Finding::Ownership { index: 9, .. }), "{err}");
        assert!(err.to_string().contains("belongs to"), "{err}");
        // The state survives a save and a resume with the same store.
        a.flush().expect("flush");
        let fp_a = format!(
            "sha256:{}",
            provlog_tlog::hex::encode(provlog_tlog::merkle::sha256(&[b"svc-a"]))
        );
        let before = a.record(&fp_a).expect("read");
        assert!(before.is_some());
        let (state, origin) = (a.state(), "example.com/log");
        let mut a = Auditor::resume_in(state.clone(), origin, a.into_store()).expect("resume");
        assert_eq!(a.record(&fp_a).expect("read"), before);
        assert!(!a.book().is_empty());
        // The state alone holds no record: resuming it without its store
        // is refused.
        assert!(state.credentials.is_empty() && state.in_store);
        assert!(matches!(
            Auditor::resume(state.clone(), origin),
            Err(ResumeError::Mismatch(_))
        ));
        // A state saved before the book (records inside) moves them into
        // an empty store.
        let mut legacy = state;
        legacy.in_store = false;
        legacy.credentials = vec![before.clone().expect("record")];
        let moved = Auditor::resume(legacy, origin).expect("migrate");
        assert_eq!(moved.record(&fp_a).expect("read"), before);
        assert!(moved.state().credentials.is_empty());
        // A commitment to the map the entries give passes; one to another
        // root, or placed at another index, is flagged.
        let root = a.book_mut().root().expect("root");
        let n = a.book().len();
        assert_eq!(n, 2, "svc-a's credential and db-a's");
        assert_eq!(
            a.push(&crate::leaf::state_leaf(t1, 10, n, &root)),
            Ok(Audited::State { map_root: root })
        );
        let err = a
            .push(&crate::leaf::state_leaf(t1, 11, n, &[1; 32]))
            .expect_err("flagged");
        assert!(matches!(err, Finding::StateMismatch { index: 11, .. }), "{err}");
        let err = a.push(&crate::leaf::state_leaf(t1, 99, n, &root)).expect_err("flagged");
        assert!(matches!(err, Finding::Leaf { index: 12, .. }), "{err}");
        let err = a
            .push(&crate::leaf::state_leaf(t1, 13, n + 1, &root))
            .expect_err("flagged");
        assert!(matches!(err, Finding::StateMismatch { index: 13, .. }), "{err}");
        // An event first.
        let mut b = Auditor::new("example.com/log");
        assert_eq!(b.push(&event("ci", "svc-a", t0)), Err(Finding::NoPolicy(0)));
    }
}
