//! Credential state (docs/MAP.md "Credential answers"): what a gateway
//! relies on, and the offline check of the log's answer.
//!
//! The answer proves the credential's record (or its absence) in the
//! credential map ([`crate::ledger`]) as committed by a `state` leaf, which
//! is included in a signed (and, where required, witnessed) checkpoint.
//! Because every credential-changing event is followed by a commitment in
//! the same write, and monitors recompute every commitment from the
//! entries, an answer leaves nothing out: a revoke the server hides still
//! changed the committed root. The verifier judges freshness (how old the
//! commitment is) and expiry (`not_after`) by its own clock.
//!
//! [`StateTracker`] and [`derive_state`] are the older derivation from a
//! history alone (index order, events that took effect; `issue`, `bind`,
//! `rotate`, `grant` make active, `revoke`/`unbind` revoked, `expire`
//! expired, a `rotate` naming it as previous superseded), kept for
//! readers of history pages.

use crate::event::{Event, check_fingerprint};
use crate::leaf::{EventLeaf, Leaf, LeafError, StateLeaf};
use crate::time;
use provlog_tlog::b64;
use provlog_tlog::checkpoint::{Checkpoint, CheckpointError, open_checkpoint};
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::{self, VerifyError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The derived state of a credential.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialState {
    /// Issued, bound, or the new credential of a rotation, and not expired.
    Active,
    /// Replaced by a later rotation.
    Superseded,
    /// Revoked (or unbound).
    Revoked,
    /// Expired by an `expire` event or past its `not_after`.
    Expired,
    /// No event names it.
    Unknown,
}

/// Derives the state of `fingerprint` from the events that name it, in
/// index order, at `now_millis` (Unix ms).
#[must_use]
pub fn derive_state<'a>(
    fingerprint: &str,
    history: impl IntoIterator<Item = &'a Event>,
    now_millis: i64,
) -> CredentialState {
    let mut t = StateTracker::new(fingerprint);
    for e in history {
        t.apply(e);
    }
    t.state_at(now_millis)
}

/// [`derive_state`] one event at a time, so that a long history need not
/// be held in memory: feed the events naming the fingerprint in index
/// order, then ask for the state at a time.
#[derive(Debug, Clone)]
pub struct StateTracker {
    fingerprint: String,
    state: CredentialState,
    not_after: Option<i64>,
}

impl StateTracker {
    /// A tracker of `fingerprint` that has seen no event (`unknown`).
    #[must_use]
    pub fn new(fingerprint: &str) -> Self {
        Self {
            fingerprint: fingerprint.to_owned(),
            state: CredentialState::Unknown,
            not_after: None,
        }
    }

    /// Applies the next event in index order (events that do not name the
    /// fingerprint, or did not take effect, change nothing).
    pub fn apply(&mut self, e: &Event) {
        let Some(c) = &e.credential else { return };
        if !e.took_effect() {
            return;
        }
        if c.fingerprint == self.fingerprint {
            match e.action.as_str() {
                "issue" | "bind" | "rotate" | "grant" => {
                    self.state = CredentialState::Active;
                    self.not_after = c.not_after.as_deref().and_then(|t| time::parse_millis(t).ok());
                }
                "revoke" | "unbind" => self.state = CredentialState::Revoked,
                "expire" => self.state = CredentialState::Expired,
                _ => {}
            }
        } else if c.previous_fingerprint.as_deref() == Some(self.fingerprint.as_str()) && e.action == "rotate" {
            self.state = CredentialState::Superseded;
        }
    }

    /// The state at `now_millis` (Unix ms) after the events applied so far.
    #[must_use]
    pub fn state_at(&self, now_millis: i64) -> CredentialState {
        if self.state == CredentialState::Active && self.not_after.is_some_and(|t| t <= now_millis) {
            CredentialState::Expired
        } else {
            self.state
        }
    }
}

/// Whether `e` (if it took effect) changes the record of `fingerprint`
/// (docs/DESIGN.md "Credential ownership").
fn changes(e: &Event, fingerprint: &str) -> bool {
    let Some(c) = &e.credential else { return false };
    let acts = matches!(
        e.action.as_str(),
        "issue" | "bind" | "grant" | "rotate" | "revoke" | "unbind" | "expire"
    );
    acts && (c.fingerprint == fingerprint
        || (e.action == "rotate" && c.previous_fingerprint.as_deref() == Some(fingerprint)))
}

/// Whether `e` names `fingerprint` (as the credential or the one it replaces).
#[must_use]
pub fn names(e: &Event, fingerprint: &str) -> bool {
    e.credential
        .as_ref()
        .is_some_and(|c| c.fingerprint == fingerprint || c.previous_fingerprint.as_deref() == Some(fingerprint))
}

/// One cited entry of a credential answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// Entry index.
    pub index: u64,
    /// Base64 leaf hash.
    pub leaf_hash: String,
    /// Base64 entry bytes.
    pub entry: String,
    /// The leaf JSON (informative; checked to equal `entry`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub decoded: Value,
    /// Base64 inclusion proof against the answer's checkpoint.
    pub proof: Vec<String>,
}

/// The state-commitment leaf an answer's map proof is against, with its
/// inclusion proof under the answer's checkpoint.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitmentItem {
    /// Entry index of the state leaf.
    pub index: u64,
    /// Base64 entry bytes (a `state` leaf).
    pub entry: String,
    /// Base64 inclusion proof against the answer's checkpoint.
    pub proof: Vec<String>,
}

/// The answer of `GET /v1/credentials/<fingerprint>` (docs/MAP.md
/// "Credential answers"): the credential's record (or none), the map proof
/// of it against the last state commitment, that commitment's leaf with
/// its inclusion proof, and the signed checkpoint; with `history=true`, the
/// events naming the fingerprint, each with its inclusion proof.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialAnswer {
    /// The fingerprint asked about.
    pub fingerprint: String,
    /// The record's state as committed (`unknown` without a record).
    /// Informative: a verifier judges the state itself, expiry against its
    /// own clock ([`VerifiedCredential::state`]).
    pub state: CredentialState,
    /// The credential's record in the committed map, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<crate::ledger::CredentialRecord>,
    /// Base64 map proof (docs/MAP.md) for the fingerprint's key against
    /// the commitment's `map_root`: inclusion of the record's value, or
    /// absence.
    pub map_proof: String,
    /// The state commitment.
    pub commitment: CommitmentItem,
    /// The signed checkpoint every proof is against (with the witnesses'
    /// cosignatures, when the log has witnesses).
    pub checkpoint: String,
    /// With `history=true`: the logged events naming the fingerprint, in
    /// index order, or, in a page of a long history, those of this page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryItem>,
    /// Present only on a page that is not the last one of a history too
    /// large for one answer: ask again with `after=<next_after>` and
    /// `tree_size=<this checkpoint's size>` for the next page, and
    /// [`CredentialAnswer::merge`] the pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

/// How far a commitment's `logged_at` may be ahead of the verifier's clock
/// (ms): clocks disagree a little; more would let an answer stay
/// acceptable for longer than `max_age`.
pub const MAX_CLOCK_SKEW_MS: i64 = 5_000;

/// What a verifier requires of a credential answer besides the log's key.
#[derive(Debug, Clone)]
pub struct Requirements<'a> {
    /// The log's key.
    pub log_key: &'a VerifierKey,
    /// Witness keys whose cosignatures count.
    pub witnesses: &'a [VerifierKey],
    /// Cosignatures required from `witnesses` (0: none).
    pub min_witnesses: usize,
    /// The verifier's clock (Unix ms): freshness and expiry are judged
    /// against it, never against a time the server chose.
    pub now_millis: i64,
    /// The oldest commitment accepted: its `logged_at` must be at most
    /// this far before `now_millis` (ms), and at most
    /// [`MAX_CLOCK_SKEW_MS`] after it.
    pub max_age_millis: i64,
    /// A historical question: the answer is about the map in force when
    /// this entry was logged (`?at=`), not the current one. Its commitment
    /// must then be at or before the entry, freshness is not asked, expiry
    /// is judged at the commitment's `logged_at`, and later changes in the
    /// history are expected.
    pub as_of_entry: Option<u64>,
}

/// Why a credential answer does not hold.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialError {
    /// The fingerprint is malformed.
    #[error("fingerprint: {0}")]
    Fingerprint(String),
    /// The checkpoint is malformed or not signed by the log key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint lacks the witness cosignatures required.
    #[error("the witness policy is not met: {0}")]
    Witnesses(String),
    /// A field does not decode.
    #[error("entry {index}: {what} is not valid base64")]
    Encoding {
        /// Entry index.
        index: u64,
        /// Which field.
        what: &'static str,
    },
    /// `leaf_hash` is not the hash of `entry`.
    #[error("history entry {0}: leaf_hash is not SHA-256(0x00 || entry)")]
    LeafHash(u64),
    /// An inclusion proof fails.
    #[error("entry {index}: inclusion proof: {err}")]
    Inclusion {
        /// Entry index.
        index: u64,
        /// Why.
        err: VerifyError,
    },
    /// The commitment is not a state leaf that fits the checkpoint.
    #[error("state commitment at entry {index}: {reason}")]
    Commitment {
        /// Entry index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// The map proof does not decode or does not verify against the
    /// commitment's root for this fingerprint and record.
    #[error("map proof: {0}")]
    MapProof(crate::map::MapError),
    /// The record does not fit the answer.
    #[error("record: {0}")]
    Record(String),
    /// The commitment is older (or further ahead) than the verifier accepts.
    #[error(
        "the state commitment was logged at {logged_at}, {age_ms} ms from this verifier's clock, over the maximum age of {max_age_ms} ms: not current"
    )]
    Stale {
        /// The commitment's `logged_at`.
        logged_at: String,
        /// Its distance from the verifier's clock (negative: ahead of it).
        age_ms: i64,
        /// The verifier's maximum.
        max_age_ms: i64,
    },
    /// An entry is not an event leaf naming the fingerprint.
    #[error("history entry {index}: {reason}")]
    NotAbout {
        /// Entry index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// History is not in strictly increasing index order.
    #[error("history is not in increasing index order at entry {0}")]
    Order(u64),
    /// `decoded` differs from the entry bytes.
    #[error("history entry {0}: decoded does not match entry")]
    Decoded(u64),
    /// A genuine answer, but about another credential than the one asked.
    #[error("the answer is about {answered}, not the credential asked about, {asked}")]
    OtherCredential {
        /// The fingerprint asked about.
        asked: String,
        /// The fingerprint the answer is about.
        answered: String,
    },
    /// A page of a longer history: it cannot be checked alone.
    #[error("a page of a longer history (next_after {0}): fetch the remaining pages and merge them")]
    Partial(u64),
    /// Pages that do not form one answer.
    #[error("pages do not merge: {0}")]
    Pages(String),
    /// The stated state is not the record's.
    #[error("state {claimed:?} is not the committed record's, {committed:?}")]
    State {
        /// What the answer says.
        claimed: CredentialState,
        /// What the record says.
        committed: CredentialState,
    },
}

/// Checks the part every map answer shares (a credential's, a chain's):
/// the checkpoint under the log key (and the witnesses required), the
/// commitment's inclusion under it, that it is a `state` leaf covering
/// the entries before it, and its freshness by the verifier's clock (or,
/// with `as_of_entry`, that it is at or before that entry). Returns the
/// checkpoint, the state leaf and how many witnesses cosigned.
///
/// # Errors
/// [`CredentialError`] naming what fails.
pub fn verify_commitment(
    checkpoint_note: &str,
    c: &CommitmentItem,
    req: &Requirements<'_>,
) -> Result<(Checkpoint, StateLeaf, usize), CredentialError> {
    let (checkpoint, _) = open_checkpoint(checkpoint_note.as_bytes(), req.log_key)?;
    let witnessed = if req.min_witnesses == 0 {
        0
    } else {
        provlog_tlog::witness::require_cosignatures(checkpoint_note.as_bytes(), req.witnesses, req.min_witnesses)
            .map_err(|e| CredentialError::Witnesses(e.to_string()))?
    };
    let commitment = verify_commitment_under(&checkpoint, c, req)?;
    Ok((checkpoint, commitment, witnessed))
}

/// [`verify_commitment`] under a checkpoint the caller has already verified
/// (its signature and cosignatures): the inclusion of the commitment, its
/// index, and its freshness (or, for `req.as_of_entry`, its position).
///
/// # Errors
/// As [`verify_commitment`], less the checkpoint's.
pub fn verify_commitment_under(
    checkpoint: &Checkpoint,
    c: &CommitmentItem,
    req: &Requirements<'_>,
) -> Result<StateLeaf, CredentialError> {
    // The commitment: a state leaf, included, covering what precedes it.
    let bad = |reason: String| CredentialError::Commitment { index: c.index, reason };
    let entry = b64::decode(&c.entry).map_err(|_| CredentialError::Encoding {
        index: c.index,
        what: "entry",
    })?;
    let proof = decode_proof(c.index, &c.proof)?;
    merkle::verify_inclusion(
        c.index,
        checkpoint.size,
        &merkle::leaf_hash(&entry),
        &proof,
        &checkpoint.root,
    )
    .map_err(|err| CredentialError::Inclusion { index: c.index, err })?;
    let Leaf::State(commitment) = Leaf::parse(&entry).map_err(|e| bad(e.to_string()))? else {
        return Err(bad("not a state leaf".into()));
    };
    commitment.check_index(c.index).map_err(|e| bad(e.to_string()))?;
    // Freshness, by the verifier's clock; or for a historical question,
    // a commitment in force at the entry asked about.
    let logged = time::parse_millis(&commitment.logged_at).map_err(|e| bad(e.to_string()))?;
    let age_ms = req.now_millis.saturating_sub(logged);
    if let Some(at) = req.as_of_entry {
        if c.index > at {
            return Err(bad(format!(
                "the commitment is at entry {}, after entry {at} the question is about",
                c.index
            )));
        }
    } else if age_ms > req.max_age_millis || age_ms < -MAX_CLOCK_SKEW_MS.min(req.max_age_millis) {
        // Ahead of the verifier's clock by more than a small skew is as
        // wrong as too old: it would stretch the window to twice max_age.
        return Err(CredentialError::Stale {
            logged_at: commitment.logged_at.clone(),
            age_ms,
            max_age_ms: req.max_age_millis,
        });
    }
    Ok(commitment)
}

/// A credential answer that verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCredential {
    /// The state at the verifier's clock: the committed record's state,
    /// `expired` if it is active and its `not_after` has passed, `unknown`
    /// if the map proves the fingerprint absent.
    pub state: CredentialState,
    /// The committed record (`None`: proven absent).
    pub record: Option<crate::ledger::CredentialRecord>,
    /// The state commitment the record is proven against.
    pub commitment: StateLeaf,
    /// Its entry index.
    pub commitment_index: u64,
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// Cosignatures counted from the required witnesses.
    pub witnessed: usize,
    /// The cited events with their indexes.
    pub history: Vec<(u64, EventLeaf)>,
}

/// The state a record gives at `now_millis`.
#[must_use]
pub fn record_state(record: Option<&crate::ledger::CredentialRecord>, now_millis: i64) -> CredentialState {
    use crate::ledger::RecordState;
    let Some(r) = record else {
        return CredentialState::Unknown;
    };
    match r.state {
        RecordState::Active
            if r.not_after
                .as_deref()
                .and_then(|t| time::parse_millis(t).ok())
                .is_some_and(|t| t <= now_millis) =>
        {
            CredentialState::Expired
        }
        RecordState::Active => CredentialState::Active,
        RecordState::Superseded => CredentialState::Superseded,
        RecordState::Revoked => CredentialState::Revoked,
        RecordState::Expired => CredentialState::Expired,
    }
}

pub(crate) fn decode_proof(index: u64, proof: &[String]) -> Result<Vec<[u8; 32]>, CredentialError> {
    proof
        .iter()
        .map(|p| b64::decode_array(p).ok_or(CredentialError::Encoding { index, what: "proof" }))
        .collect()
}

impl CredentialAnswer {
    /// Verifies the answer offline (docs/MAP.md "Verifying an answer"):
    /// it is about `fingerprint`; the checkpoint is signed by the log and
    /// cosigned as `req` requires; the commitment is a state leaf included
    /// in it, covering exactly the entries before it and logged within
    /// `req.max_age_millis` of `req.now_millis`; the map proof shows the
    /// record's value (or the fingerprint's absence) under the committed
    /// root; the record is about `fingerprint`; and every history item is
    /// an included event naming it. What a gateway calls.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn verify_for(&self, fingerprint: &str, req: &Requirements<'_>) -> Result<VerifiedCredential, CredentialError> {
        self.check_fingerprint(fingerprint)?;
        let (checkpoint, commitment, witnessed) = verify_commitment(&self.checkpoint, &self.commitment, req)?;
        self.verify_rest(checkpoint, commitment, witnessed, req)
    }

    /// [`Self::verify_for`] against `checkpoint`, one the caller has
    /// already verified (signature and cosignatures, as `req` requires):
    /// the answer's own note is not read. What a reader that follows the
    /// log (the gate) calls, pinning every answer to its own checkpoint;
    /// `witnessed` in the result is 0 (the caller counted them).
    ///
    /// # Errors
    /// The first check that fails.
    pub fn verify_under(
        &self,
        fingerprint: &str,
        checkpoint: &Checkpoint,
        req: &Requirements<'_>,
    ) -> Result<VerifiedCredential, CredentialError> {
        self.check_fingerprint(fingerprint)?;
        let commitment = verify_commitment_under(checkpoint, &self.commitment, req)?;
        self.verify_rest(checkpoint.clone(), commitment, 0, req)
    }

    fn check_fingerprint(&self, fingerprint: &str) -> Result<(), CredentialError> {
        if self.fingerprint != fingerprint {
            return Err(CredentialError::OtherCredential {
                asked: fingerprint.to_owned(),
                answered: self.fingerprint.clone(),
            });
        }
        if let Some(n) = self.next_after {
            return Err(CredentialError::Partial(n));
        }
        check_fingerprint("fingerprint", &self.fingerprint).map_err(|e| CredentialError::Fingerprint(e.to_string()))
    }

    /// Everything after the checkpoint and the commitment.
    fn verify_rest(
        &self,
        checkpoint: Checkpoint,
        commitment: StateLeaf,
        witnessed: usize,
        req: &Requirements<'_>,
    ) -> Result<VerifiedCredential, CredentialError> {
        let c = &self.commitment;
        // The record, under the committed root.
        let map_proof = b64::decode(&self.map_proof)
            .map_err(|_| CredentialError::MapProof(crate::map::MapError::Malformed("not base64")))
            .and_then(|b| crate::map::MapProof::decode(&b).map_err(CredentialError::MapProof))?;
        if let Some(r) = &self.record {
            if r.fingerprint != self.fingerprint {
                return Err(CredentialError::Record(format!(
                    "the record is about {}, not {}",
                    r.fingerprint, self.fingerprint
                )));
            }
            if let Some(t) = &r.not_after
                && time::parse_millis(t).is_err()
            {
                return Err(CredentialError::Record(format!(
                    "not_after {t:?} is not an RFC 3339 time"
                )));
            }
            if r.version >= 1 << 53 || r.last_index >= 1 << 53 {
                return Err(CredentialError::Record("version or last_index beyond 2^53".into()));
            }
            if r.last_index >= c.index {
                return Err(CredentialError::Record(format!(
                    "the record was last changed at entry {}, not before its commitment at {}",
                    r.last_index, c.index
                )));
            }
        }
        let value = self.record.as_ref().map(crate::ledger::CredentialRecord::value);
        map_proof
            .verify(
                &commitment.map_root,
                &crate::ledger::credential_key(&self.fingerprint),
                value.as_ref(),
            )
            .map_err(CredentialError::MapProof)?;
        let committed = record_state(self.record.as_ref(), i64::MIN);
        if committed != self.state {
            return Err(CredentialError::State {
                claimed: self.state,
                committed,
            });
        }
        let history = self.verify_history(&checkpoint)?;
        // A change of this credential logged after the commitment proves the
        // commitment is not the last one (a server hiding that change).
        if let Some((i, _)) = history
            .iter()
            .filter(|_| req.as_of_entry.is_none())
            .find(|(i, e)| *i > c.index && e.event.event.took_effect() && changes(&e.event.event, &self.fingerprint))
        {
            return Err(CredentialError::Commitment {
                index: c.index,
                reason: format!("the history holds a change of this credential at entry {i}, after the commitment"),
            });
        }
        if let Some(r) = &self.record
            && !history.is_empty()
            && !history.iter().any(|(i, _)| *i == r.last_index)
        {
            return Err(CredentialError::Record(format!(
                "the history does not hold entry {}, the record's last change",
                r.last_index
            )));
        }
        Ok(VerifiedCredential {
            state: record_state(
                self.record.as_ref(),
                if req.as_of_entry.is_some() {
                    time::parse_millis(&commitment.logged_at).unwrap_or(i64::MIN)
                } else {
                    req.now_millis
                },
            ),
            record: self.record.clone(),
            commitment,
            commitment_index: c.index,
            checkpoint,
            witnessed,
            history,
        })
    }

    /// Checks every history item: included under `checkpoint`, an event
    /// leaf naming the fingerprint, in increasing index order.
    fn verify_history(&self, checkpoint: &Checkpoint) -> Result<Vec<(u64, EventLeaf)>, CredentialError> {
        let mut history = Vec::with_capacity(self.history.len());
        let mut last: Option<u64> = None;
        for item in &self.history {
            let i = item.index;
            if last.is_some_and(|l| l >= i) {
                return Err(CredentialError::Order(i));
            }
            last = Some(i);
            let entry = b64::decode(&item.entry).map_err(|_| CredentialError::Encoding {
                index: i,
                what: "entry",
            })?;
            let lh: [u8; 32] = b64::decode_array(&item.leaf_hash).ok_or(CredentialError::Encoding {
                index: i,
                what: "leaf_hash",
            })?;
            if merkle::leaf_hash(&entry) != lh {
                return Err(CredentialError::LeafHash(i));
            }
            let proof = decode_proof(i, &item.proof)?;
            merkle::verify_inclusion(i, checkpoint.size, &lh, &proof, &checkpoint.root)
                .map_err(|err| CredentialError::Inclusion { index: i, err })?;
            if Leaf::to_value(&entry).ok().as_ref() != Some(&item.decoded) {
                return Err(CredentialError::Decoded(i));
            }
            let leaf = Leaf::parse(&entry).map_err(|e: LeafError| CredentialError::NotAbout {
                index: i,
                reason: e.to_string(),
            })?;
            let Leaf::Event(ev) = leaf else {
                return Err(CredentialError::NotAbout {
                    index: i,
                    reason: "not an event leaf".into(),
                });
            };
            if !names(&ev.event.event, &self.fingerprint) {
                return Err(CredentialError::NotAbout {
                    index: i,
                    reason: "the event does not name this fingerprint".into(),
                });
            }
            history.push((i, *ev));
        }
        Ok(history)
    }

    /// Merges the pages of one answer, in the order they were fetched, into
    /// the answer a single page would have been: the pages must be about
    /// one fingerprint and carry one checkpoint, commitment, record and map
    /// proof (the client pins them with `tree_size`), each page must start
    /// after the previous page's `next_after`, and only the last may have
    /// more to come. [`CredentialAnswer::verify_for`] then checks
    /// everything.
    ///
    /// # Errors
    /// [`CredentialError::Pages`] naming the first page that does not fit.
    pub fn merge(pages: impl IntoIterator<Item = Self>) -> Result<Self, CredentialError> {
        let mut pages = pages.into_iter();
        let mut merged = pages.next().ok_or_else(|| CredentialError::Pages("no page".into()))?;
        for (n, page) in pages.enumerate() {
            let n = n + 2;
            let Some(after) = merged.next_after else {
                return Err(CredentialError::Pages(format!("page {n} follows a last page")));
            };
            if page.fingerprint != merged.fingerprint {
                return Err(CredentialError::Pages(format!("page {n} is about another fingerprint")));
            }
            if page.checkpoint != merged.checkpoint {
                return Err(CredentialError::Pages(format!(
                    "page {n} carries another checkpoint (pin the pages with tree_size)"
                )));
            }
            if page.commitment != merged.commitment
                || page.record != merged.record
                || page.map_proof != merged.map_proof
                || page.state != merged.state
            {
                return Err(CredentialError::Pages(format!(
                    "page {n} carries another state commitment or record"
                )));
            }
            if page.history.first().is_some_and(|h| h.index <= after) {
                return Err(CredentialError::Pages(format!(
                    "page {n} starts at or before the previous page's next_after {after}"
                )));
            }
            merged.history.extend(page.history);
            merged.next_after = page.next_after;
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::sample;
    use serde_json::json;

    fn fp(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn ev(action: &str, f: &str, prev: Option<&str>, not_after: Option<&str>) -> Event {
        let mut v = sample();
        v["action"] = json!(action);
        let mut c = json!({"fingerprint": f});
        if let Some(p) = prev {
            c["previous_fingerprint"] = json!(p);
        }
        if let Some(t) = not_after {
            c["not_after"] = json!(t);
        }
        v["credential"] = c;
        Event::from_value(&v).expect("event")
    }

    #[test]
    fn lifecycle_issue_rotate_revoke_expire() {
        let (a, b) = (fp('a'), fp('b'));
        let now = time::parse_millis("2026-06-01T00:00:00Z").expect("t");
        let later = time::parse_millis("2028-01-01T00:00:00Z").expect("t");
        let issue = ev("issue", &a, None, Some("2027-01-01T00:00:00Z"));
        let rotate = ev("rotate", &b, Some(&a), None);
        let revoke = ev("revoke", &b, None, None);
        assert_eq!(derive_state(&a, [], now), CredentialState::Unknown);
        assert_eq!(derive_state(&a, [&issue], now), CredentialState::Active);
        assert_eq!(derive_state(&a, [&issue], later), CredentialState::Expired);
        assert_eq!(derive_state(&a, [&issue, &rotate], now), CredentialState::Superseded);
        assert_eq!(derive_state(&b, [&rotate], now), CredentialState::Active);
        assert_eq!(
            derive_state(&b, [&rotate], later),
            CredentialState::Active,
            "no not_after"
        );
        assert_eq!(derive_state(&b, [&rotate, &revoke], now), CredentialState::Revoked);
        assert_eq!(
            derive_state(&a, [&ev("expire", &a, None, None)], now),
            CredentialState::Expired
        );
        assert_eq!(
            derive_state(&a, [&ev("bind", &a, None, None), &ev("unbind", &a, None, None)], now),
            CredentialState::Revoked
        );
        // Failed or denied actions are history, not state.
        let mut failed = ev("revoke", &a, None, None);
        failed.outcome = crate::event::Outcome::Failure;
        assert_eq!(derive_state(&a, [&issue, &failed], now), CredentialState::Active);
        let mut denied = ev("revoke", &a, None, None);
        denied.decision.result = crate::event::DecisionResult::Deny;
        assert_eq!(derive_state(&a, [&issue, &denied], now), CredentialState::Active);
        // Custom actions change nothing; re-issue after revoke is active again.
        assert_eq!(
            derive_state(&a, [&issue, &ev("x-audit", &a, None, None)], now),
            CredentialState::Active
        );
        assert_eq!(
            derive_state(
                &a,
                [&issue, &ev("revoke", &a, None, None), &ev("issue", &a, None, None)],
                now
            ),
            CredentialState::Active
        );
        assert!(names(&rotate, &a) && names(&rotate, &b) && !names(&issue, &b));
    }

    fn page(indexes: &[u64], next_after: Option<u64>, checkpoint: &str) -> CredentialAnswer {
        CredentialAnswer {
            fingerprint: fp('a'),
            state: CredentialState::Active,
            record: None,
            map_proof: String::new(),
            commitment: CommitmentItem {
                index: 0,
                entry: String::new(),
                proof: Vec::new(),
            },
            checkpoint: checkpoint.into(),
            history: indexes
                .iter()
                .map(|i| HistoryItem {
                    index: *i,
                    leaf_hash: String::new(),
                    entry: String::new(),
                    decoded: Value::Null,
                    proof: Vec::new(),
                })
                .collect(),
            next_after,
        }
    }

    #[test]
    fn pages_merge_only_when_they_chain() {
        let m = CredentialAnswer::merge([page(&[1, 4], Some(4), "c"), page(&[9], None, "c")]).expect("merge");
        assert_eq!(m.history.iter().map(|h| h.index).collect::<Vec<_>>(), [1, 4, 9]);
        assert_eq!(m.next_after, None);
        // A page with more to come cannot be verified alone.
        let key = provlog_tlog::keys::SignerKey::from_seed("log.example/x", provlog_tlog::keys::ALG_ED25519, [7; 32])
            .expect("key");
        let vk = key.verifier();
        let req = Requirements {
            log_key: &vk,
            witnesses: &[],
            min_witnesses: 0,
            now_millis: 0,
            max_age_millis: 0,
            as_of_entry: None,
        };
        assert_eq!(
            page(&[1], Some(1), "c").verify_for(&fp('a'), &req),
            Err(CredentialError::Partial(1))
        );
        for bad in [
            vec![page(&[1], None, "c"), page(&[2], None, "c")],
            vec![page(&[1], Some(1), "c"), page(&[2], None, "other")],
            vec![page(&[1, 4], Some(4), "c"), page(&[4], None, "c")],
            vec![],
        ] {
            assert!(
                matches!(CredentialAnswer::merge(bad), Err(CredentialError::Pages(_))),
                "refused"
            );
        }
    }
}

#[cfg(test)]
mod answer_tests {
    //! The verifier against answers built here from a small log: a genuine
    //! answer passes, and each way of bending one is refused.
    use super::*;
    use crate::event::tests::sample;
    use crate::leaf::{EventLeafTemplate, state_leaf};
    use crate::ledger::Ledger;
    use provlog_tlog::checkpoint::sign_checkpoint;
    use provlog_tlog::keys::{ALG_ED25519, SignerKey};
    use provlog_tlog::merkle::{MemoryTree, inclusion_proof, leaf_hash};
    use serde_json::json;

    const T0: &str = "2026-12-02T10:00:00.000Z";

    fn fp(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn event_leaf(id: &str, action: &str, f: &str, not_after: Option<&str>, at: &str) -> Vec<u8> {
        let mut v = sample();
        v["event_id"] = json!(id);
        v["action"] = json!(action);
        v["credential"] = json!({ "fingerprint": f });
        if let Some(t) = not_after {
            v["credential"]["not_after"] = json!(t);
        }
        let ce = crate::event::CanonicalEvent::from_value(&v).expect("event");
        EventLeafTemplate::new(&ce.jcs, "ci", &[1; 64]).render(at)
    }

    /// A log of `events`, a state commitment after the first `committed`
    /// of them, and the rest after it; the answer about `f`, its history
    /// included when `history`.
    fn answer(events: &[Vec<u8>], committed: usize, f: &str, at: &str, history: bool) -> (CredentialAnswer, SignerKey) {
        let key = SignerKey::from_seed("answers.example/log", ALG_ED25519, [5; 32]).expect("key");
        let mut ledger = Ledger::new();
        let mut entries = Vec::new();
        for (i, e) in events.iter().take(committed).enumerate() {
            ledger.push_entry(i as u64, e).expect("rules");
            entries.push(e.clone());
        }
        let index = entries.len() as u64;
        entries.push(state_leaf(at, index, ledger.len() as u64, &ledger.root()));
        entries.extend(events.iter().skip(committed).cloned());
        let mut tree = MemoryTree::new();
        for e in &entries {
            tree.push(leaf_hash(e));
        }
        let size = entries.len() as u64;
        let cp = provlog_tlog::checkpoint::Checkpoint::new(key.name(), size, tree.root_at(size).expect("root"));
        let note = sign_checkpoint(&cp, &key).expect("sign").to_string();
        let (record, proof) = ledger.prove(f);
        let record = record.cloned();
        let items = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| history && matches!(Leaf::parse(e), Ok(Leaf::Event(ev)) if names(&ev.event.event, f)))
            .map(|(i, e)| HistoryItem {
                index: i as u64,
                leaf_hash: b64::encode(leaf_hash(e)),
                entry: b64::encode(e),
                decoded: Leaf::to_value(e).expect("json"),
                proof: inclusion_proof(i as u64, size, &tree)
                    .expect("proof")
                    .iter()
                    .map(b64::encode)
                    .collect(),
            })
            .collect();
        let a = CredentialAnswer {
            fingerprint: f.to_owned(),
            state: record_state(record.as_ref(), i64::MIN),
            record,
            map_proof: b64::encode(proof.encode()),
            commitment: CommitmentItem {
                index,
                entry: b64::encode(&entries[usize::try_from(index).expect("i")]),
                proof: inclusion_proof(index, size, &tree)
                    .expect("proof")
                    .iter()
                    .map(b64::encode)
                    .collect(),
            },
            checkpoint: note,
            history: items,
            next_after: None,
        };
        (a, key)
    }

    fn check(a: &CredentialAnswer, key: &SignerKey, f: &str, now: &str) -> Result<VerifiedCredential, CredentialError> {
        let vk = key.verifier();
        a.verify_for(
            f,
            &Requirements {
                log_key: &vk,
                witnesses: &[],
                min_witnesses: 0,
                now_millis: time::parse_millis(now).expect("t"),
                max_age_millis: 60_000,
                as_of_entry: None,
            },
        )
    }

    #[test]
    fn verify_under_checks_against_the_callers_checkpoint_not_the_answers_note() {
        let a = fp('a');
        let events = [event_leaf("e-1", "issue", &a, Some("2027-01-01T00:00:00Z"), T0)];
        let (ans, key) = answer(&events, 1, &a, T0, false);
        let vk = key.verifier();
        let req = Requirements {
            log_key: &vk,
            witnesses: &[],
            min_witnesses: 0,
            now_millis: time::parse_millis("2026-12-02T10:00:30.000Z").expect("t"),
            max_age_millis: 60_000,
            as_of_entry: None,
        };
        let (cp, _) = open_checkpoint(ans.checkpoint.as_bytes(), &vk).expect("note");
        let v = ans.verify_under(&a, &cp, &req).expect("under its own checkpoint");
        assert_eq!(v.state, CredentialState::Active);
        assert_eq!(
            v,
            ans.verify_for(&a, &req)
                .map(|v| VerifiedCredential { witnessed: 0, ..v })
                .expect("same")
        );
        // The note is not read: garbage there changes nothing ...
        let mut no_note = ans.clone();
        no_note.checkpoint = "not a note".into();
        assert!(no_note.verify_under(&a, &cp, &req).is_ok());
        // ... but the proofs must hold under the caller's checkpoint.
        let mut other = cp.clone();
        other.root[0] ^= 1;
        assert!(matches!(
            ans.verify_under(&a, &other, &req),
            Err(CredentialError::Inclusion { .. })
        ));
        // And the other checks still apply.
        assert!(matches!(
            ans.verify_under(&fp('b'), &cp, &req),
            Err(CredentialError::OtherCredential { .. })
        ));
    }

    #[test]
    fn a_genuine_answer_verifies_and_bent_ones_do_not() {
        let a = fp('a');
        let events = [
            event_leaf("e-1", "issue", &a, Some("2027-01-01T00:00:00Z"), T0),
            event_leaf("e-2", "revoke", &a, None, T0),
        ];
        // Committed after the issue only, the revoke logged after it.
        let (stale_view, key) = answer(&events, 1, &a, T0, false);
        let v = check(&stale_view, &key, &a, "2026-12-02T10:00:30.000Z").expect("genuine");
        assert_eq!(v.state, CredentialState::Active);
        assert_eq!(
            check(&stale_view, &key, &a, "2027-06-01T00:00:00.000Z").map(|v| v.state),
            Err(CredentialError::Stale {
                logged_at: T0.into(),
                age_ms: time::parse_millis("2027-06-01T00:00:00.000Z").expect("t") - time::parse_millis(T0).expect("t"),
                max_age_ms: 60_000
            })
        );
        // Its own history shows the later revoke: refused.
        let (with_history, key) = answer(&events, 1, &a, T0, true);
        let err = check(&with_history, &key, &a, "2026-12-02T10:00:30.000Z").expect_err("a later change");
        assert!(err.to_string().contains("after the commitment"), "{err}");
        // Committed after both: revoked, with or without its history.
        for h in [false, true] {
            let (full, key) = answer(&events, 2, &a, T0, h);
            let v = check(&full, &key, &a, "2026-12-02T10:00:30.000Z").expect("genuine");
            assert_eq!(v.state, CredentialState::Revoked);
        }
        // A commitment from the future (beyond the clock skew) is refused,
        // a little ahead is not.
        let (ahead, key) = answer(&events, 2, &a, "2026-12-02T10:00:40.000Z", false);
        assert!(check(&ahead, &key, &a, "2026-12-02T10:00:37.000Z").is_ok());
        assert!(matches!(
            check(&ahead, &key, &a, "2026-12-02T10:00:00.000Z"),
            Err(CredentialError::Stale { .. })
        ));
        // A record whose not_after is not a time cannot be judged: refused.
        let (mut odd, key) = answer(&events, 1, &a, T0, false);
        if let Some(r) = odd.record.as_mut() {
            r.not_after = Some("soon".into());
        }
        assert!(matches!(
            check(&odd, &key, &a, "2026-12-02T10:00:30.000Z"),
            Err(CredentialError::Record(_))
        ));
        // Another credential's genuine answer; an unknown one is unknown.
        assert!(matches!(
            check(&stale_view, &key, &fp('b'), "2026-12-02T10:00:30.000Z"),
            Err(CredentialError::OtherCredential { .. })
        ));
        let (unknown, key) = answer(&events, 2, &fp('c'), T0, false);
        let v = check(&unknown, &key, &fp('c'), "2026-12-02T10:00:30.000Z").expect("absence");
        assert_eq!((v.state, v.record), (CredentialState::Unknown, None));
    }
}
