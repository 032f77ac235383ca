//! Evidence bundles (docs/EVIDENCE.md): the entries matching a question
//! (a target, an actor, a credential, an action, a time window), each with
//! its inclusion proof against one checkpoint (witnessed where the log has
//! witnesses), the policy leaves they were checked under, and a
//! consistency proof from that checkpoint to the latest one when the
//! bundle was made; checked offline with nothing but the log's key by
//! [`verify`].
//!
//! What a bundle proves: every entry in it is in the log, in the order
//! and with the bytes shown, as the checkpoint (and its witnesses) commit;
//! each event matches the question, its submitter was registered and in
//! scope, its signature and its approvals' signatures verify, under the
//! policy leaf the log names as in force; and the checkpoint is a prefix
//! of the later one. What it does not prove: that the log returned every
//! matching entry (a search answer is the log's word: `provlog audit` or
//! a monitor replays every entry and would see one left out) and that no
//! other policy leaf lies between the one named and the event (`provlog
//! audit` replays that too).

use crate::leaf::Leaf;
use crate::policy::Registry;
use provlog_tlog::b64;
use provlog_tlog::checkpoint::{LogKeys, open_checkpoint_with};
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::{verify_consistency, verify_inclusion};
use serde::{Deserialize, Serialize};

/// The `format` of a bundle this module writes and reads.
pub const FORMAT: &str = "provlog-evidence/v1";

/// The question a bundle answers: every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// `target.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `actor.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// A credential fingerprint (as `credential.fingerprint` or
    /// `previous_fingerprint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// `action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `logged_at` at or after (RFC 3339 or `YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `logged_at` before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `occurred_at` at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_from: Option<String>,
    /// `occurred_at` before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_to: Option<String>,
}

/// One entry of a bundle with its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Its index in the log.
    pub index: u64,
    /// Base64 of the entry bytes.
    pub entry: String,
    /// Base64 inclusion proof against the bundle's checkpoint.
    pub proof: Vec<String>,
    /// For an event: the index of the policy leaf in force (the log's
    /// word; one of the bundle's `policies`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_index: Option<u64>,
}

/// An evidence bundle (`evidence.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`FORMAT`].
    pub format: String,
    /// The log's origin.
    pub origin: String,
    /// The question.
    pub question: Question,
    /// When the bundle was made, by the maker's clock (informative).
    pub created_at: String,
    /// The signed checkpoint every inclusion proof is against, with the
    /// witnesses' cosignatures when the log has witnesses.
    pub checkpoint: String,
    /// The latest checkpoint when the bundle was made.
    pub latest: String,
    /// Base64 consistency proof from `checkpoint` to `latest`.
    pub consistency: Vec<String>,
    /// The matching entries within `checkpoint`, in index order.
    pub entries: Vec<Item>,
    /// The policy leaves the events were checked under, in index order.
    pub policies: Vec<Item>,
    /// Matching entries logged after `checkpoint` (not in the bundle: a
    /// later bundle, once a checkpoint covering them is witnessed, holds
    /// them).
    pub later: u64,
}

/// What the verifier requires besides the log key.
#[derive(Debug, Clone, Copy)]
pub struct Requirements<'a> {
    /// The log's keys (one, or its key history: each checkpoint is
    /// checked with the key in force for it).
    pub log_keys: &'a LogKeys,
    /// Witness keys whose cosignatures count.
    pub witnesses: &'a [VerifierKey],
    /// Cosignatures required from `witnesses`.
    pub min_witnesses: usize,
}

/// One verified event, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRow {
    /// Its index.
    pub index: u64,
    /// When the log sequenced it.
    pub logged_at: String,
    /// When it says it happened.
    pub occurred_at: String,
    /// `event_id`.
    pub event_id: String,
    /// The submitter.
    pub submitter: String,
    /// `action`.
    pub action: String,
    /// `actor.id`.
    pub actor: String,
    /// `target.id`.
    pub target: String,
    /// `credential.fingerprint`, if any.
    pub credential: String,
    /// `credential.previous_fingerprint`, if any.
    pub previous_credential: String,
    /// `outcome` (`success`, `failure`).
    pub outcome: String,
    /// The submitter's decision (`allow`, `deny`).
    pub decision: String,
    /// The approvers, `approver/id` each, joined by spaces.
    pub approvals: String,
    /// The log's Cedar decision, if the registry has policies.
    pub policy_decision: String,
    /// The policy leaf in force.
    pub policy_index: u64,
}

/// What [`verify`] established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// The checkpoint's size.
    pub size: u64,
    /// The latest checkpoint's size.
    pub latest_size: u64,
    /// Cosignatures counted from the required witnesses.
    pub witnessed: usize,
    /// The events, in index order.
    pub events: Vec<EventRow>,
    /// The policy leaves checked.
    pub policies: Vec<u64>,
}

/// Why a bundle does not verify.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvidenceError {
    /// Not a bundle of this format.
    #[error("not a {FORMAT} bundle (format {0:?})")]
    Format(String),
    /// A checkpoint does not verify.
    #[error("{what}: {reason}")]
    Checkpoint {
        /// Which one.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The checkpoint lacks the required cosignatures.
    #[error("the witness policy is not met: {0}")]
    Witnesses(String),
    /// The latest checkpoint does not extend the bundle's.
    #[error("the latest checkpoint is not consistent with the bundle's: {0}")]
    Consistency(String),
    /// An entry is not where the bundle says.
    #[error("entry {index}: {reason}")]
    Entry {
        /// Its index.
        index: u64,
        /// Why.
        reason: String,
    },
}

fn entry_err(index: u64, reason: impl Into<String>) -> EvidenceError {
    EvidenceError::Entry {
        index,
        reason: reason.into(),
    }
}

/// Decodes an item and checks its inclusion under `(size, root)`.
fn included(item: &Item, size: u64, root: &[u8]) -> Result<Vec<u8>, EvidenceError> {
    let bytes = b64::decode(&item.entry).map_err(|_| entry_err(item.index, "entry is not base64"))?;
    let proof: Vec<Vec<u8>> = item
        .proof
        .iter()
        .map(|p| b64::decode(p).map_err(|_| entry_err(item.index, "proof is not base64")))
        .collect::<Result<_, _>>()?;
    if item.index >= size {
        return Err(entry_err(item.index, format!("beyond the checkpoint's {size} entries")));
    }
    verify_inclusion(item.index, size, &provlog_tlog::merkle::leaf_hash(&bytes), &proof, root)
        .map_err(|e| entry_err(item.index, format!("inclusion proof does not verify: {e}")))?;
    Ok(bytes)
}

fn in_window(t: &str, from: Option<&String>, to: Option<&String>) -> Result<bool, String> {
    let t = crate::time::parse_millis(t).map_err(|e| e.0)?;
    let bound = |b: Option<&String>| b.map(|s| crate::time::parse_bound(s).map_err(|e| e.0)).transpose();
    Ok(bound(from)?.is_none_or(|f| t >= f) && bound(to)?.is_none_or(|e| t < e))
}

/// Verifies a bundle offline: the checkpoint under the log key (and the
/// witnesses required), the latest checkpoint and the consistency proof
/// to it, every entry's inclusion, every policy leaf's inclusion, and for
/// each event: that it answers the question, that the policy leaf named
/// is in the bundle and before it, and that under that registry its
/// submitter was in scope at `logged_at`, its signature verifies and its
/// approvals satisfy the rules with valid signatures.
///
/// # Errors
/// The first check that fails ([`EvidenceError`]).
pub fn verify(b: &Bundle, req: &Requirements<'_>) -> Result<Verified, EvidenceError> {
    if b.format != FORMAT {
        return Err(EvidenceError::Format(b.format.clone()));
    }
    let cp_err = |what| {
        move |e: provlog_tlog::checkpoint::CheckpointError| EvidenceError::Checkpoint {
            what,
            reason: e.to_string(),
        }
    };
    let (cp, _) = open_checkpoint_with(b.checkpoint.as_bytes(), req.log_keys).map_err(cp_err("checkpoint"))?;
    let (latest, _) = open_checkpoint_with(b.latest.as_bytes(), req.log_keys).map_err(cp_err("latest checkpoint"))?;
    if cp.origin != b.origin || latest.origin != b.origin {
        return Err(EvidenceError::Checkpoint {
            what: "checkpoint",
            reason: format!("origin {:?} is not the bundle's {:?}", cp.origin, b.origin),
        });
    }
    let witnessed = if req.min_witnesses == 0 {
        0
    } else {
        provlog_tlog::witness::require_cosignatures(b.checkpoint.as_bytes(), req.witnesses, req.min_witnesses)
            .map_err(|e| EvidenceError::Witnesses(e.to_string()))?
    };
    let proof: Vec<Vec<u8>> = b
        .consistency
        .iter()
        .map(|p| b64::decode(p).map_err(|_| EvidenceError::Consistency("proof is not base64".into())))
        .collect::<Result<_, _>>()?;
    verify_consistency(cp.size, latest.size, &cp.root, &latest.root, &proof)
        .map_err(|e| EvidenceError::Consistency(e.to_string()))?;

    let mut registries: Vec<(u64, Registry)> = Vec::new();
    for p in &b.policies {
        if registries.last().is_some_and(|(i, _)| *i >= p.index) {
            return Err(entry_err(p.index, "policy leaves are not in increasing index order"));
        }
        let bytes = included(p, cp.size, &cp.root)?;
        let Ok(Leaf::Policy(leaf)) = Leaf::parse(&bytes) else {
            return Err(entry_err(p.index, "not a policy leaf"));
        };
        let reg = Registry::new(leaf.policy).map_err(|e| entry_err(p.index, format!("invalid policy: {e}")))?;
        registries.push((p.index, reg));
    }
    let q = &b.question;
    let mut events = Vec::with_capacity(b.entries.len());
    let mut last: Option<u64> = None;
    for item in &b.entries {
        let index = item.index;
        if last.is_some_and(|l| l >= index) {
            return Err(entry_err(index, "entries are not in increasing index order"));
        }
        last = Some(index);
        let bytes = included(item, cp.size, &cp.root)?;
        let Ok(Leaf::Event(e)) = Leaf::parse(&bytes) else {
            return Err(entry_err(index, "not an event"));
        };
        let ev = &e.event.event;
        let cred = ev.credential.as_ref();
        let matches = q.target.as_ref().is_none_or(|t| *t == ev.target.id)
            && q.actor.as_ref().is_none_or(|a| *a == ev.actor.id)
            && q.action.as_ref().is_none_or(|a| *a == ev.action)
            && q.credential.as_ref().is_none_or(|c| {
                cred.is_some_and(|k| k.fingerprint == *c || k.previous_fingerprint.as_ref() == Some(c))
            })
            && in_window(&e.logged_at, q.from.as_ref(), q.to.as_ref()).map_err(|r| entry_err(index, r))?
            && in_window(&ev.occurred_at, q.occurred_from.as_ref(), q.occurred_to.as_ref())
                .map_err(|r| entry_err(index, r))?;
        if !matches {
            return Err(entry_err(index, "the event does not answer the bundle's question"));
        }
        let Some(pi) = item.policy_index.filter(|p| *p < index) else {
            return Err(entry_err(index, "names no policy leaf before it"));
        };
        // The policy leaf named must be in the bundle, and no later
        // bundled policy leaf may come before the event.
        let Some(pos) = registries.iter().position(|(i, _)| *i == pi) else {
            return Err(entry_err(index, format!("policy leaf {pi} is not in the bundle")));
        };
        if registries.get(pos + 1).is_some_and(|(i, _)| *i < index) {
            return Err(entry_err(
                index,
                format!("policy leaf {pi} was not in force: a later one is before the event"),
            ));
        }
        let reg = &registries[pos].1;
        let now = crate::time::parse_millis(&e.logged_at).map_err(|err| entry_err(index, err.0))?;
        let s = reg
            .check_scope(&e.submitter, ev, now)
            .map_err(|err| entry_err(index, format!("under policy leaf {pi}: {err}")))?;
        if !e.verify(&s.key, &b.origin) {
            return Err(entry_err(
                index,
                format!(
                    "the signature does not verify under {}'s key in policy leaf {pi}",
                    e.submitter
                ),
            ));
        }
        crate::approval::check(reg, &e.submitter, ev, &e.approvals, now, &mut |_, a, k| {
            a.verify(k, &b.origin)
        })
        .map_err(|err| entry_err(index, format!("approvals under policy leaf {pi}: {err}")))?;
        events.push(EventRow {
            index,
            logged_at: e.logged_at.clone(),
            occurred_at: ev.occurred_at.clone(),
            event_id: ev.event_id.clone(),
            submitter: e.submitter.clone(),
            action: ev.action.clone(),
            actor: ev.actor.id.clone(),
            target: ev.target.id.clone(),
            credential: cred.map(|c| c.fingerprint.clone()).unwrap_or_default(),
            previous_credential: cred.and_then(|c| c.previous_fingerprint.clone()).unwrap_or_default(),
            outcome: ev.outcome.as_str().to_owned(),
            decision: ev.decision.result.as_str().to_owned(),
            approvals: e
                .approvals
                .iter()
                .map(|a| format!("{}/{}", a.approval.approver, a.approval.id))
                .collect::<Vec<_>>()
                .join(" "),
            policy_decision: e
                .policy_decision
                .as_ref()
                .map(|d| d.decision.as_str().to_owned())
                .unwrap_or_default(),
            policy_index: pi,
        });
    }
    Ok(Verified {
        size: cp.size,
        latest_size: latest.size,
        witnessed,
        events,
        policies: registries.iter().map(|(i, _)| *i).collect(),
    })
}
