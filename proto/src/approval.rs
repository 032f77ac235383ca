//! Approvers, approval rules and signed approvals (docs/DESIGN.md
//! "Approvals"): who may approve what, which actions need how many
//! approvals, and the small signed document an approver hands a workflow
//! to delegate one task to it.
//!
//! An approval is `{"approval": {…}, "signature": "<base64>"}`, where the
//! signature is Ed25519 by the approver's key over
//!
//! ```text
//! "provlog/approval/v1\n" || origin || "\n" || JCS(approval)
//! ```
//!
//! so it is valid in one log only. A submission carries its approvals
//! beside the event; the log checks them under the registry in force at
//! sequencing ([`check`]), counts their uses, and logs them in the event's
//! leaf, so an auditor re-checks them from the log alone
//! ([`crate::audit::Auditor`]).
//!
//! Decisions where the issue is silent (also in docs/DECISIONS.md):
//! * An approval names exact actions (no globs) and one target id or glob;
//!   it covers an event whose action is one of them and whose `target.id`
//!   the target matches. The approver's own scope is applied to the event
//!   too, so a broad approval pattern never reaches past its approver.
//! * `not_before` and `not_after` are both required: an approval without
//!   an end is a standing grant, which is what a submitter's scope is for.
//! * `max_uses` defaults to 1 and is at most [`MAX_APPROVAL_USES`] (or the
//!   approver's `max_uses`). Uses are counted per (approver, approval id);
//!   the same id with other contents is refused as a reuse.
//! * A key belongs to one approver and to no submitter: k-of-n means k
//!   keys, and a workflow cannot approve its own work.
//! * Two approvals by the same approver in one submission are refused
//!   (`duplicate_approver`), whether or not a rule needs both.
//! * When the registry has approvers, an event whose `authority` names an
//!   `approval_id` or `approved_by` must carry a signed approval with that
//!   id and approver; without approvers the claim stays what it was, a
//!   string the submitter wrote.

use crate::event::{Event, check_action};
use crate::json;
use crate::policy::{Registry, check_pattern, check_submitter_id, glob_match};
use crate::time;
use provlog_tlog::b64;
use provlog_tlog::keys::{ALG_ED25519, SignerKey, VerifierKey};
use provlog_tlog::merkle::{Hash, sha256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Domain separation prefix of an approval signature (followed by the
/// log's origin and a newline).
pub const APPROVAL_SIGNATURE_CONTEXT: &[u8] = b"provlog/approval/v1\n";
/// Most approvals one submission carries.
pub const MAX_APPROVALS: usize = 8;
/// Largest approval object, in canonical bytes.
pub const MAX_APPROVAL_BYTES: usize = 4096;
/// Most uses an approval may grant.
pub const MAX_APPROVAL_USES: u64 = 1000;
/// Most references (tickets, change requests) an approval names.
pub const MAX_REFS: usize = 8;
/// Most actions an approval names.
pub const MAX_APPROVAL_ACTIONS: usize = 16;

/// One approver in the registry: who may approve, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverPolicy {
    /// The approver's id, as approvals name it.
    pub id: String,
    /// Its Ed25519 signed-note verifier key (`name+hash+base64`).
    pub key: String,
    /// Glob patterns of the actions it may approve.
    pub actions: Vec<String>,
    /// Glob patterns over `target.id` it may approve actions on.
    pub targets: Vec<String>,
    /// If set, `target.system` must be one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systems: Option<Vec<String>>,
    /// Groups it belongs to, as approval rules name them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Most uses one of its approvals may grant (default and ceiling:
    /// [`MAX_APPROVAL_USES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u64>,
    /// Longest validity window (`not_after - not_before`) of one of its
    /// approvals, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl_seconds: Option<u64>,
}

/// A rule that events matching a pattern need approvals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    /// The rule's id, named when an event lacks approvals.
    pub id: String,
    /// Glob patterns of the actions it applies to.
    pub actions: Vec<String>,
    /// Glob patterns over `target.id` it applies to.
    pub targets: Vec<String>,
    /// If set, it applies only to events whose `target.system` is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systems: Option<Vec<String>>,
    /// Distinct approvers needed (1 to [`MAX_APPROVALS`]).
    pub approvals: u64,
    /// If set, only approvers in this group count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// What an approval permits: the object the approver signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The approval's id, unique per approver (uses are counted under it).
    pub id: String,
    /// The approver who signs it.
    pub approver: String,
    /// The submitter it delegates to.
    pub submitter: String,
    /// If set, the event's `actor.id` must be this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The actions it permits (exact names).
    pub actions: Vec<String>,
    /// The target id, or a glob over target ids, it permits.
    pub target: String,
    /// If set, the event's `target.system` must be this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// If set, the event's `credential.fingerprint` must be this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// RFC 3339 start of validity (inclusive), against the entry's `logged_at`.
    pub not_before: String,
    /// RFC 3339 end of validity (inclusive).
    pub not_after: String,
    /// Events it may authorize (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u64>,
    /// References such as a ticket or change request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refs: Option<Vec<String>>,
}

impl Approval {
    /// Uses it grants: `max_uses`, or 1.
    #[must_use]
    pub fn uses(&self) -> u64 {
        self.max_uses.unwrap_or(1)
    }
}

/// A signed approval as a submission carries it and a leaf logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedApproval {
    /// What it permits.
    pub approval: Approval,
    /// RFC 8785 bytes of the approval object exactly as signed.
    pub jcs: Vec<u8>,
    /// The approver's Ed25519 signature.
    pub signature: [u8; 64],
    not_before: i64,
    not_after: i64,
}

/// Why an approval was refused. Each variant has a stable
/// [`code`](ApprovalError::code) and HTTP [`status`](ApprovalError::status).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalError {
    /// Malformed or over a size limit.
    #[error("approval: {0}")]
    Invalid(String),
    /// Two approvals by one approver.
    #[error("approver {0:?} signed more than one of the submission's approvals; k-of-n needs distinct approvers")]
    DuplicateApprover(String),
    /// The approver is not in the registry in force.
    #[error("approval {id:?}: unknown approver {approver:?}")]
    UnknownApprover {
        /// Approval id.
        id: String,
        /// The approver it names.
        approver: String,
    },
    /// The signature does not verify under the approver's key for this log.
    #[error(
        "approval {id:?}: the signature does not verify under the key of approver {approver:?} for this log \
         (altered, or signed for another log)"
    )]
    SignatureInvalid {
        /// Approval id.
        id: String,
        /// Its approver.
        approver: String,
    },
    /// Before `not_before`.
    #[error("approval {id:?} is not valid before {not_before} (logged at {at})")]
    NotYetValid {
        /// Approval id.
        id: String,
        /// The time checked.
        at: String,
        /// Its `not_before`.
        not_before: String,
    },
    /// After `not_after`.
    #[error("approval {id:?} expired at {not_after} (logged at {at})")]
    Expired {
        /// Approval id.
        id: String,
        /// The time checked.
        at: String,
        /// Its `not_after`.
        not_after: String,
    },
    /// It grants more than its approver may (uses, validity).
    #[error("approval {id:?}: {reason}")]
    ExceedsLimits {
        /// Approval id.
        id: String,
        /// Which limit.
        reason: String,
    },
    /// It delegates to another submitter or actor.
    #[error("approval {id:?}: {reason}")]
    WrongSubmitter {
        /// Approval id.
        id: String,
        /// Whom it names.
        reason: String,
    },
    /// It does not permit this event.
    #[error("approval {id:?} does not cover this event: {reason}")]
    DoesNotCover {
        /// Approval id.
        id: String,
        /// The field that differs.
        reason: String,
    },
    /// The approver may not approve this event.
    #[error("approver {approver:?} may not approve this event: {reason}")]
    ApproverOutOfScope {
        /// Approver id.
        approver: String,
        /// The rule broken.
        reason: String,
    },
    /// The event's `authority` names an approval the submission does not carry.
    #[error("{0}")]
    ClaimMismatch(String),
    /// An approval rule needs more approvals than the submission carries.
    #[error(
        "rule {rule:?} requires {needed} approval(s){} for this event; the submission carries {have} that count",
        group.as_ref().map(|g| format!(" from group {g:?}")).unwrap_or_default()
    )]
    Required {
        /// The rule's id.
        rule: String,
        /// Approvals it needs.
        needed: u64,
        /// The group they must come from.
        group: Option<String>,
        /// Valid approvals carried that count for it.
        have: u64,
    },
    /// Every use of the approval is spent.
    #[error("approval {id:?} of {approver:?} has been used {max_uses} time(s), all it grants")]
    UsedUp {
        /// Approver id.
        approver: String,
        /// Approval id.
        id: String,
        /// Uses it grants.
        max_uses: u64,
    },
    /// The approver already used this id for a different approval.
    #[error("approval id {id:?} of {approver:?} was already used for a different approval")]
    IdReused {
        /// Approver id.
        approver: String,
        /// Approval id.
        id: String,
    },
}

impl ApprovalError {
    /// The stable error code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_approval",
            Self::DuplicateApprover(_) => "duplicate_approver",
            Self::UnknownApprover { .. } => "unknown_approver",
            Self::SignatureInvalid { .. } => "approval_signature_invalid",
            Self::NotYetValid { .. } => "approval_not_yet_valid",
            Self::Expired { .. } => "approval_expired",
            Self::ExceedsLimits { .. } => "approval_exceeds_limits",
            Self::WrongSubmitter { .. } => "approval_wrong_submitter",
            Self::DoesNotCover { .. } => "approval_does_not_cover",
            Self::ApproverOutOfScope { .. } => "approver_out_of_scope",
            Self::ClaimMismatch(_) => "approval_claim_mismatch",
            Self::Required { .. } => "approvals_required",
            Self::UsedUp { .. } => "approval_used_up",
            Self::IdReused { .. } => "approval_id_reused",
        }
    }

    /// The HTTP status: 400 malformed, 409 spent or reused, 403 otherwise.
    #[must_use]
    pub const fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) | Self::DuplicateApprover(_) => 400,
            Self::UsedUp { .. } | Self::IdReused { .. } => 409,
            _ => 403,
        }
    }
}

fn check_text(field: &str, s: &str) -> Result<(), ApprovalError> {
    if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
        return Err(ApprovalError::Invalid(format!(
            "{field}: must be 1 to 256 bytes without control characters"
        )));
    }
    Ok(())
}

/// The exact bytes an approver signs for an approval with canonical bytes
/// `approval_jcs` in the log whose checkpoint origin is `origin`.
#[must_use]
pub fn signing_message(origin: &str, approval_jcs: &[u8]) -> Vec<u8> {
    [APPROVAL_SIGNATURE_CONTEXT, origin.as_bytes(), b"\n", approval_jcs].concat()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigned {
    approval: Value,
    signature: String,
}

impl SignedApproval {
    /// Reads a signed approval from strict JSON: `{"approval": {…},
    /// "signature": "<base64 of 64 bytes>"}`, with every field of the
    /// approval checked.
    ///
    /// # Errors
    /// [`ApprovalError::Invalid`] naming the problem.
    pub fn from_value(v: &Value) -> Result<Self, ApprovalError> {
        if !v.is_object() {
            return Err(ApprovalError::Invalid("must be a JSON object".into()));
        }
        let raw: RawSigned = serde_json::from_value(v.clone()).map_err(|e| ApprovalError::Invalid(e.to_string()))?;
        let Some(members) = raw.approval.as_object() else {
            return Err(ApprovalError::Invalid("approval: must be a JSON object".into()));
        };
        if let Some((k, _)) = members.iter().find(|(_, v)| v.is_null()) {
            return Err(ApprovalError::Invalid(format!(
                "{k}: null is not a value; leave the member out"
            )));
        }
        let jcs = json::canonical(&raw.approval).map_err(|e| ApprovalError::Invalid(e.to_string()))?;
        if jcs.len() > MAX_APPROVAL_BYTES {
            return Err(ApprovalError::Invalid(format!(
                "{} bytes in canonical form; the limit is {MAX_APPROVAL_BYTES}",
                jcs.len()
            )));
        }
        let approval: Approval =
            serde_json::from_value(raw.approval).map_err(|e| ApprovalError::Invalid(e.to_string()))?;
        let signature: [u8; 64] = b64::decode_array(&raw.signature)
            .ok_or_else(|| ApprovalError::Invalid("signature: must be standard base64 of 64 bytes".into()))?;
        let (not_before, not_after) = Self::check_fields(&approval)?;
        Ok(Self {
            approval,
            jcs,
            signature,
            not_before,
            not_after,
        })
    }

    fn check_fields(a: &Approval) -> Result<(i64, i64), ApprovalError> {
        let bad = |f: &str, r: String| ApprovalError::Invalid(format!("{f}: {r}"));
        check_submitter_id(&a.id).map_err(|r| bad("id", r))?;
        check_submitter_id(&a.approver).map_err(|r| bad("approver", r))?;
        check_submitter_id(&a.submitter).map_err(|r| bad("submitter", r))?;
        if let Some(actor) = &a.actor {
            check_text("actor", actor)?;
        }
        if a.actions.is_empty() || a.actions.len() > MAX_APPROVAL_ACTIONS {
            return Err(bad("actions", format!("must list 1 to {MAX_APPROVAL_ACTIONS} actions")));
        }
        for act in &a.actions {
            check_action(act).map_err(|e| bad("actions", e.to_string()))?;
        }
        check_pattern(&a.target).map_err(|r| bad("target", r))?;
        if let Some(s) = &a.system {
            check_text("system", s)?;
        }
        if let Some(f) = &a.fingerprint {
            check_text("fingerprint", f)?;
        }
        let nb = time::parse_millis(&a.not_before).map_err(|e| bad("not_before", e.to_string()))?;
        let na = time::parse_millis(&a.not_after).map_err(|e| bad("not_after", e.to_string()))?;
        if nb > na {
            return Err(ApprovalError::Invalid("not_before is after not_after".into()));
        }
        if let Some(n) = a.max_uses
            && !(1..=MAX_APPROVAL_USES).contains(&n)
        {
            return Err(bad("max_uses", format!("must be 1 to {MAX_APPROVAL_USES}")));
        }
        if let Some(refs) = &a.refs {
            if refs.is_empty() || refs.len() > MAX_REFS {
                return Err(bad(
                    "refs",
                    format!("when present, must list 1 to {MAX_REFS} references"),
                ));
            }
            for r in refs {
                check_text("refs", r)?;
            }
        }
        Ok((nb, na))
    }

    /// Its canonical JSON, as a leaf logs it:
    /// `{"approval":<JCS>,"signature":"<base64>"}`.
    #[must_use]
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.jcs.len() + 112);
        out.extend_from_slice(b"{\"approval\":");
        out.extend_from_slice(&self.jcs);
        out.extend_from_slice(b",\"signature\":\"");
        out.extend_from_slice(b64::encode(self.signature).as_bytes());
        out.extend_from_slice(b"\"}");
        out
    }

    /// The bytes its signature covers in the log whose origin is `origin`.
    #[must_use]
    pub fn signing_message(&self, origin: &str) -> Vec<u8> {
        signing_message(origin, &self.jcs)
    }

    /// Whether the signature verifies (strictly) under `key` for the log
    /// whose origin is `origin`.
    #[must_use]
    pub fn verify(&self, key: &VerifierKey, origin: &str) -> bool {
        key.verify_raw(&self.signing_message(origin), &self.signature)
    }

    /// SHA-256 of its canonical approval object: what its uses are
    /// recorded under, so that an id reused for other contents is caught.
    #[must_use]
    pub fn digest(&self) -> Hash {
        sha256(&[&self.jcs])
    }
}

/// Signs `approval` (any JSON object; it is canonicalized first) with the
/// approver's `key` for the log whose origin is `origin`, and returns the
/// signed approval's JSON.
///
/// # Errors
/// The approval does not pass [`SignedApproval::from_value`].
pub fn sign(approval: &Value, key: &SignerKey, origin: &str) -> Result<Value, ApprovalError> {
    let jcs = json::canonical(approval).map_err(|e| ApprovalError::Invalid(e.to_string()))?;
    let sig = key.sign_raw(&signing_message(origin, &jcs));
    let v = serde_json::json!({"approval": approval, "signature": b64::encode(sig)});
    SignedApproval::from_value(&v)?;
    Ok(v)
}

/// Reads a submission's or a leaf's `approvals` array.
///
/// # Errors
/// [`ApprovalError::Invalid`]: not an array of 1 to [`MAX_APPROVALS`]
/// signed approvals.
pub fn parse_list(v: &Value) -> Result<Vec<SignedApproval>, ApprovalError> {
    let Some(items) = v.as_array() else {
        return Err(ApprovalError::Invalid("approvals: must be an array".into()));
    };
    if items.is_empty() || items.len() > MAX_APPROVALS {
        return Err(ApprovalError::Invalid(format!(
            "approvals: when present, must hold 1 to {MAX_APPROVALS} approvals"
        )));
    }
    items.iter().map(SignedApproval::from_value).collect()
}

/// The canonical bytes of an `approvals` array (`[a,b,…]`, each
/// [`SignedApproval::canonical`], in the order carried).
#[must_use]
pub fn canonical_list(approvals: &[SignedApproval]) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, a) in approvals.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&a.canonical());
    }
    out.push(b']');
    out
}

/// A validated approver.
#[derive(Debug, Clone)]
pub struct Approver {
    /// Its registry entry.
    pub policy: ApproverPolicy,
    /// Its parsed key.
    pub key: VerifierKey,
}

fn check_globs(field: &str, list: &[String], actions: bool) -> Result<(), String> {
    if list.is_empty() {
        return Err(format!("{field}: must list at least one pattern"));
    }
    for p in list {
        check_pattern(p).map_err(|e| format!("{field}: {e}"))?;
        if actions && !(p.contains(['*', '?']) || check_action(p).is_ok()) {
            return Err(format!("{field}: {p:?} is neither an action nor a pattern"));
        }
    }
    Ok(())
}

fn check_systems(s: Option<&Vec<String>>) -> Result<(), String> {
    if let Some(s) = s {
        if s.is_empty() {
            return Err("systems: when present, must list at least one system".into());
        }
        if let Some(bad) = s.iter().find(|x| x.is_empty() || x.chars().any(char::is_control)) {
            return Err(format!("systems: {bad:?} is not a system name"));
        }
    }
    Ok(())
}

impl ApproverPolicy {
    /// Checks every field and returns the parsed key.
    ///
    /// # Errors
    /// A message naming the field.
    pub fn validate(&self) -> Result<VerifierKey, String> {
        check_submitter_id(&self.id)?;
        let key = VerifierKey::parse(&self.key).map_err(|e| format!("key: {e}"))?;
        if key.alg() != ALG_ED25519 {
            return Err("key: must be an Ed25519 (type 0x01) vkey".into());
        }
        check_globs("actions", &self.actions, true)?;
        check_globs("targets", &self.targets, false)?;
        check_systems(self.systems.as_ref())?;
        for g in &self.groups {
            check_submitter_id(g).map_err(|r| format!("groups: {r}"))?;
        }
        if let Some(n) = self.max_uses
            && !(1..=MAX_APPROVAL_USES).contains(&n)
        {
            return Err(format!("max_uses: must be 1 to {MAX_APPROVAL_USES}"));
        }
        if self.max_ttl_seconds == Some(0) {
            return Err("max_ttl_seconds: must be at least 1".into());
        }
        Ok(key)
    }

    fn in_scope(&self, e: &Event) -> Result<(), String> {
        if !self.actions.iter().any(|a| glob_match(a, &e.action)) {
            return Err(format!("action {:?} (rule actions = {:?})", e.action, self.actions));
        }
        if !self.targets.iter().any(|t| glob_match(t, &e.target.id)) {
            return Err(format!("target {:?} (rule targets = {:?})", e.target.id, self.targets));
        }
        if let Some(systems) = &self.systems
            && !e.target.system.as_ref().is_some_and(|s| systems.contains(s))
        {
            return Err(format!("system {:?} (rule systems = {systems:?})", e.target.system));
        }
        Ok(())
    }
}

impl ApprovalRule {
    /// Checks every field.
    ///
    /// # Errors
    /// A message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        check_submitter_id(&self.id)?;
        check_globs("actions", &self.actions, true)?;
        check_globs("targets", &self.targets, false)?;
        check_systems(self.systems.as_ref())?;
        if !(1..=MAX_APPROVALS as u64).contains(&self.approvals) {
            return Err(format!("approvals: must be 1 to {MAX_APPROVALS}"));
        }
        if let Some(g) = &self.group {
            check_submitter_id(g).map_err(|r| format!("group: {r}"))?;
        }
        Ok(())
    }

    /// Whether the rule applies to `e`.
    #[must_use]
    pub fn applies(&self, e: &Event) -> bool {
        self.actions.iter().any(|a| glob_match(a, &e.action))
            && self.targets.iter().any(|t| glob_match(t, &e.target.id))
            && self
                .systems
                .as_ref()
                .is_none_or(|s| e.target.system.as_ref().is_some_and(|x| s.contains(x)))
    }
}

/// One use of an approval that an event consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalUse {
    /// Approver id.
    pub approver: String,
    /// Approval id.
    pub id: String,
    /// [`SignedApproval::digest`].
    pub digest: Hash,
    /// Uses the approval grants.
    pub max_uses: u64,
}

impl ApprovalUse {
    /// Checks this use against what was recorded before it under the same
    /// (approver, id): the digest of the first use and the number of uses.
    ///
    /// # Errors
    /// [`ApprovalError::IdReused`], [`ApprovalError::UsedUp`].
    pub fn check(&self, prior: Option<(Hash, u64)>) -> Result<(), ApprovalError> {
        match prior {
            Some((d, _)) if d != self.digest => Err(ApprovalError::IdReused {
                approver: self.approver.clone(),
                id: self.id.clone(),
            }),
            Some((_, n)) if n >= self.max_uses => Err(ApprovalError::UsedUp {
                approver: self.approver.clone(),
                id: self.id.clone(),
                max_uses: self.max_uses,
            }),
            _ => Ok(()),
        }
    }
}

/// Checks the approvals a submission by `submitter` carries for `event`,
/// logged at `now_ms`, under `reg`: each approval's approver, signature
/// (`verified(i, approval, key)` says whether approval `i` verifies under
/// `key`; callers that verified it already say so without verifying
/// again), window, limits, delegate and coverage; distinct approvers; the
/// event's `authority` claims; every approval rule that applies. Returns
/// the uses to consume; counting them is the caller's (the log's store,
/// or an auditor's replay), through [`ApprovalUse::check`].
///
/// # Errors
/// The first [`ApprovalError`] found, approvals in order, then claims,
/// then rules.
pub fn check(
    reg: &Registry,
    submitter: &str,
    event: &Event,
    approvals: &[SignedApproval],
    now_ms: i64,
    verified: &mut dyn FnMut(usize, &SignedApproval, &VerifierKey) -> bool,
) -> Result<Vec<ApprovalUse>, ApprovalError> {
    if approvals.len() > MAX_APPROVALS {
        return Err(ApprovalError::Invalid(format!("more than {MAX_APPROVALS} approvals")));
    }
    for (i, a) in approvals.iter().enumerate() {
        if approvals[..i]
            .iter()
            .any(|b| b.approval.approver == a.approval.approver)
        {
            return Err(ApprovalError::DuplicateApprover(a.approval.approver.clone()));
        }
    }
    let at = || time::format_millis(now_ms).unwrap_or_else(|_| now_ms.to_string());
    let mut uses = Vec::with_capacity(approvals.len());
    let mut approvers: Vec<&Approver> = Vec::with_capacity(approvals.len());
    for (i, sa) in approvals.iter().enumerate() {
        let a = &sa.approval;
        let id = || a.id.clone();
        let ap = reg
            .approver(&a.approver)
            .ok_or_else(|| ApprovalError::UnknownApprover {
                id: id(),
                approver: a.approver.clone(),
            })?;
        if !verified(i, sa, &ap.key) {
            return Err(ApprovalError::SignatureInvalid {
                id: id(),
                approver: a.approver.clone(),
            });
        }
        if now_ms < sa.not_before {
            return Err(ApprovalError::NotYetValid {
                id: id(),
                at: at(),
                not_before: a.not_before.clone(),
            });
        }
        if now_ms > sa.not_after {
            return Err(ApprovalError::Expired {
                id: id(),
                at: at(),
                not_after: a.not_after.clone(),
            });
        }
        let ceiling = ap.policy.max_uses.unwrap_or(MAX_APPROVAL_USES);
        if a.uses() > ceiling {
            return Err(ApprovalError::ExceedsLimits {
                id: id(),
                reason: format!(
                    "max_uses {} is over approver {:?}'s limit of {ceiling}",
                    a.uses(),
                    a.approver
                ),
            });
        }
        if let Some(ttl) = ap.policy.max_ttl_seconds {
            let window = sa.not_after.saturating_sub(sa.not_before);
            if u64::try_from(window).unwrap_or(u64::MAX) > ttl.saturating_mul(1000) {
                return Err(ApprovalError::ExceedsLimits {
                    id: id(),
                    reason: format!(
                        "valid for {} s, over approver {:?}'s max_ttl_seconds of {ttl}",
                        window / 1000,
                        a.approver
                    ),
                });
            }
        }
        if a.submitter != submitter {
            return Err(ApprovalError::WrongSubmitter {
                id: id(),
                reason: format!("delegates to submitter {:?}, not {submitter:?}", a.submitter),
            });
        }
        if let Some(actor) = &a.actor
            && *actor != event.actor.id
        {
            return Err(ApprovalError::WrongSubmitter {
                id: id(),
                reason: format!("delegates to actor {actor:?}, not {:?}", event.actor.id),
            });
        }
        let cover = |reason: String| ApprovalError::DoesNotCover { id: id(), reason };
        if !a.actions.contains(&event.action) {
            return Err(cover(format!("action {:?} is not among {:?}", event.action, a.actions)));
        }
        if !glob_match(&a.target, &event.target.id) {
            return Err(cover(format!(
                "target {:?} does not match {:?}",
                event.target.id, a.target
            )));
        }
        if let Some(s) = &a.system
            && event.target.system.as_ref() != Some(s)
        {
            return Err(cover(format!("system {:?} is not {s:?}", event.target.system)));
        }
        if let Some(f) = &a.fingerprint
            && event.credential.as_ref().map(|c| &c.fingerprint) != Some(f)
        {
            return Err(cover(format!(
                "credential {:?} is not {f:?}",
                event.credential.as_ref().map(|c| &c.fingerprint)
            )));
        }
        ap.policy
            .in_scope(event)
            .map_err(|reason| ApprovalError::ApproverOutOfScope {
                approver: a.approver.clone(),
                reason,
            })?;
        approvers.push(ap);
        uses.push(ApprovalUse {
            approver: a.approver.clone(),
            id: a.id.clone(),
            digest: sa.digest(),
            max_uses: a.uses(),
        });
    }
    check_claims(reg, event, approvals)?;
    for rule in reg.approval_rules() {
        if !rule.applies(event) {
            continue;
        }
        let have = approvers
            .iter()
            .filter(|ap| rule.group.as_ref().is_none_or(|g| ap.policy.groups.contains(g)))
            .count() as u64;
        if have < rule.approvals {
            return Err(ApprovalError::Required {
                rule: rule.id.clone(),
                needed: rule.approvals,
                group: rule.group.clone(),
                have,
            });
        }
    }
    Ok(uses)
}

/// The event's `authority.approval_id` and `approved_by` must name a
/// carried approval (checked only when the registry has approvers, or the
/// submission carries approvals).
fn check_claims(reg: &Registry, event: &Event, approvals: &[SignedApproval]) -> Result<(), ApprovalError> {
    if approvals.is_empty() && !reg.has_approvers() {
        return Ok(());
    }
    let auth = &event.authority;
    if let Some(claimed) = &auth.approval_id
        && !approvals.iter().any(|a| &a.approval.id == claimed)
    {
        return Err(ApprovalError::ClaimMismatch(format!(
            "authority.approval_id {claimed:?} names no signed approval the submission carries"
        )));
    }
    if let Some(claimed) = &auth.approved_by
        && !approvals.iter().any(|a| &a.approval.approver == claimed)
    {
        return Err(ApprovalError::ClaimMismatch(format!(
            "authority.approved_by {claimed:?} signed no approval the submission carries"
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::tests::sample;
    use crate::policy::Policy;
    use serde_json::json;

    pub(crate) const ORIGIN: &str = "example.com/log";

    pub(crate) fn approver_key(id: &str) -> SignerKey {
        let seed = sha256(&[b"approver ", id.as_bytes()]);
        SignerKey::from_seed(id, ALG_ED25519, seed).expect("key")
    }

    pub(crate) fn approver(id: &str, groups: &[&str]) -> ApproverPolicy {
        ApproverPolicy {
            id: id.into(),
            key: approver_key(id).verifier().to_vkey_string(),
            actions: vec!["*".into()],
            targets: vec!["*".into()],
            systems: None,
            groups: groups.iter().map(|g| (*g).into()).collect(),
            max_uses: None,
            max_ttl_seconds: None,
        }
    }

    /// An approval by `approver` for the sample event (submitter `ci`).
    pub(crate) fn approval(id: &str, approver: &str) -> Value {
        json!({
            "id": id,
            "approver": approver,
            "submitter": "ci",
            "actions": ["rotate"],
            "target": "svc-*",
            "not_before": "2026-01-01T00:00:00Z",
            "not_after": "2027-01-01T00:00:00Z",
        })
    }

    pub(crate) fn signed(a: &Value, by: &str) -> SignedApproval {
        SignedApproval::from_value(&sign(a, &approver_key(by), ORIGIN).expect("sign")).expect("parse")
    }

    fn registry(rules: Vec<ApprovalRule>) -> Registry {
        let mut p = Policy {
            submitters: vec![crate::policy::tests::submitter("ci", 1)],
            approvers: vec![
                approver("alice", &["security-oncall"]),
                approver("bob", &["security-oncall"]),
                approver("carol", &[]),
            ],
            approval_rules: rules,
            ..Policy::default()
        };
        p.submitters[0].actions = vec!["*".into()];
        Registry::new(p).expect("registry")
    }

    fn now() -> i64 {
        time::parse_millis("2026-11-25T00:00:00Z").expect("t")
    }

    fn run(reg: &Registry, ev: &Event, a: &[SignedApproval]) -> Result<Vec<ApprovalUse>, ApprovalError> {
        check(reg, "ci", ev, a, now(), &mut |_, sa, k| sa.verify(k, ORIGIN))
    }

    /// The sample event (a rotation of svc-payments) claiming no approval.
    fn event() -> Event {
        let mut e = Event::from_value(&sample()).expect("event");
        e.authority.approval_id = None;
        e.authority.approved_by = None;
        e
    }

    #[test]
    fn a_valid_approval_passes_and_names_its_use() {
        let reg = registry(vec![]);
        let a = signed(&approval("A-1", "alice"), "alice");
        let uses = run(&reg, &event(), std::slice::from_ref(&a)).expect("ok");
        assert_eq!(uses.len(), 1);
        assert_eq!(
            (uses[0].approver.as_str(), uses[0].id.as_str(), uses[0].max_uses),
            ("alice", "A-1", 1)
        );
        assert_eq!(uses[0].digest, sha256(&[&a.jcs]));
        assert!(uses[0].check(None).is_ok());
        assert_eq!(
            uses[0].check(Some((uses[0].digest, 1))).expect_err("spent").code(),
            "approval_used_up"
        );
        assert_eq!(
            uses[0].check(Some(([0; 32], 0))).expect_err("reused").code(),
            "approval_id_reused"
        );
    }

    #[test]
    fn each_refusal_has_its_code() {
        let reg = registry(vec![]);
        let ev = event();
        let code = |a: Value, by: &str| run(&reg, &ev, &[signed(&a, by)]).expect_err("refused").code();
        let mut a = approval("A", "alice");
        a["not_after"] = json!("2026-02-01T00:00:00Z");
        assert_eq!(code(a, "alice"), "approval_expired");
        let mut a = approval("A", "alice");
        a["not_before"] = json!("2026-12-01T00:00:00Z");
        assert_eq!(code(a, "alice"), "approval_not_yet_valid");
        let mut a = approval("A", "alice");
        a["submitter"] = json!("other");
        assert_eq!(code(a, "alice"), "approval_wrong_submitter");
        let mut a = approval("A", "alice");
        a["actor"] = json!("someone-else");
        assert_eq!(code(a, "alice"), "approval_wrong_submitter");
        let mut a = approval("A", "alice");
        a["actions"] = json!(["revoke"]);
        assert_eq!(code(a, "alice"), "approval_does_not_cover");
        let mut a = approval("A", "alice");
        a["target"] = json!("db-*");
        assert_eq!(code(a, "alice"), "approval_does_not_cover");
        let mut a = approval("A", "alice");
        a["fingerprint"] = json!("sha256:00");
        assert_eq!(code(a, "alice"), "approval_does_not_cover");
        assert_eq!(code(approval("A", "mallory"), "mallory"), "unknown_approver");
        // Signed by bob's key but naming alice.
        assert_eq!(code(approval("A", "alice"), "bob"), "approval_signature_invalid");
        // Signed for another log.
        let other = SignedApproval::from_value(
            &sign(&approval("A", "alice"), &approver_key("alice"), "other.example/log").expect("sign"),
        )
        .expect("parse");
        assert_eq!(
            run(&reg, &ev, &[other]).expect_err("x").code(),
            "approval_signature_invalid"
        );
        // Two by one approver.
        let two = [
            signed(&approval("A", "alice"), "alice"),
            signed(&approval("B", "alice"), "alice"),
        ];
        assert_eq!(run(&reg, &ev, &two).expect_err("x").code(), "duplicate_approver");
    }

    #[test]
    fn approver_scope_and_limits_apply() {
        let mut p = registry(vec![]).policy().clone();
        p.approvers[0].targets = vec!["db-*".into()];
        p.approvers[0].max_uses = Some(3);
        p.approvers[0].max_ttl_seconds = Some(3600);
        let reg = Registry::new(p).expect("reg");
        let ev = event();
        let r = run(&reg, &ev, &[signed(&approval("A", "alice"), "alice")]).expect_err("x");
        assert_eq!(r.code(), "approval_exceeds_limits", "{r}");
        let mut a = approval("A", "alice");
        a["not_after"] = json!("2026-01-01T01:00:00Z");
        a["not_before"] = json!("2026-01-01T00:00:00Z");
        // Within the TTL, but expired by now: the window is checked first.
        assert_eq!(
            run(&reg, &ev, &[signed(&a, "alice")]).expect_err("x").code(),
            "approval_expired"
        );
        let mut a = approval("A", "alice");
        a["not_before"] = json!("2026-11-24T23:30:00Z");
        a["not_after"] = json!("2026-11-25T00:30:00Z");
        a["max_uses"] = json!(4);
        assert_eq!(
            run(&reg, &ev, &[signed(&a, "alice")]).expect_err("x").code(),
            "approval_exceeds_limits"
        );
        a["max_uses"] = json!(3);
        // Now the approval is fine, but alice may only approve db-*.
        let e = run(&reg, &ev, &[signed(&a, "alice")]).expect_err("x");
        assert_eq!(e.code(), "approver_out_of_scope", "{e}");
    }

    #[test]
    fn rules_need_distinct_approvers_of_the_group() {
        let rule = ApprovalRule {
            id: "prod-rotation".into(),
            actions: vec!["rotate".into()],
            targets: vec!["svc-*".into()],
            systems: None,
            approvals: 2,
            group: Some("security-oncall".into()),
        };
        let reg = registry(vec![rule]);
        let ev = event();
        let e = run(&reg, &ev, &[]).expect_err("x");
        assert_eq!(e.code(), "approvals_required");
        assert!(
            e.to_string().contains("prod-rotation") && e.to_string().contains("security-oncall"),
            "{e}"
        );
        let alice = signed(&approval("A", "alice"), "alice");
        let bob = signed(&approval("B", "bob"), "bob");
        let carol = signed(&approval("C", "carol"), "carol");
        assert_eq!(
            run(&reg, &ev, std::slice::from_ref(&alice)).expect_err("x").code(),
            "approvals_required"
        );
        // carol is not in the group: she does not count.
        assert_eq!(
            run(&reg, &ev, &[alice.clone(), carol.clone()]).expect_err("x").code(),
            "approvals_required"
        );
        assert_eq!(
            run(&reg, &ev, &[alice.clone(), bob.clone(), carol]).expect("ok").len(),
            3
        );
        // A rule that does not apply needs nothing.
        let mut other = ev.clone();
        other.action = "issue".into();
        assert!(run(&reg, &other, &[]).is_ok());
    }

    #[test]
    fn authority_claims_must_name_a_carried_approval() {
        let reg = registry(vec![]);
        let mut ev = event();
        ev.authority.approval_id = Some("A".into());
        ev.authority.approved_by = Some("alice".into());
        assert_eq!(run(&reg, &ev, &[]).expect_err("x").code(), "approval_claim_mismatch");
        assert!(run(&reg, &ev, &[signed(&approval("A", "alice"), "alice")]).is_ok());
        assert_eq!(
            run(&reg, &ev, &[signed(&approval("B", "alice"), "alice")])
                .expect_err("x")
                .code(),
            "approval_claim_mismatch"
        );
        assert_eq!(
            run(&reg, &ev, &[signed(&approval("A", "bob"), "bob")])
                .expect_err("x")
                .code(),
            "approval_claim_mismatch"
        );
        // A registry without approvers keeps claims as unchecked strings.
        let plain = Registry::new(Policy {
            submitters: vec![crate::policy::tests::submitter("ci", 1)],
            ..Policy::default()
        })
        .expect("reg");
        assert!(run(&plain, &ev, &[]).is_ok());
    }

    #[test]
    fn malformed_approvals_are_invalid() {
        let good = sign(&approval("A", "alice"), &approver_key("alice"), ORIGIN).expect("sign");
        let bad = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            SignedApproval::from_value(&v).expect_err("refused").code()
        };
        assert_eq!(bad(&|v| v["extra"] = json!(1)), "invalid_approval");
        assert_eq!(bad(&|v| v["approval"]["extra"] = json!(1)), "invalid_approval");
        assert_eq!(bad(&|v| v["signature"] = json!("AAAA")), "invalid_approval");
        assert_eq!(bad(&|v| v["approval"]["actions"] = json!([])), "invalid_approval");
        assert_eq!(bad(&|v| v["approval"]["actions"] = json!(["i*"])), "invalid_approval");
        assert_eq!(bad(&|v| v["approval"]["max_uses"] = json!(0)), "invalid_approval");
        assert_eq!(bad(&|v| v["approval"]["max_uses"] = json!(1001)), "invalid_approval");
        assert_eq!(
            bad(&|v| v["approval"]["not_after"] = json!("2025-01-01T00:00:00Z")),
            "invalid_approval"
        );
        assert_eq!(bad(&|v| v["approval"]["not_after"] = json!("soon")), "invalid_approval");
        assert_eq!(
            bad(&|v| {
                v["approval"].as_object_mut().expect("o").remove("not_after");
            }),
            "invalid_approval"
        );
        assert_eq!(bad(&|v| v["approval"]["id"] = json!("a b")), "invalid_approval");
        assert_eq!(bad(&|v| v["approval"]["target"] = json!("svc-[a]")), "invalid_approval");
        assert_eq!(
            bad(&|v| v["approval"]["refs"] = json!(["x".repeat(300)])),
            "invalid_approval"
        );
        assert_eq!(
            bad(&|v| v["approval"]["refs"] = json!((0..9).map(|i| i.to_string()).collect::<Vec<_>>())),
            "invalid_approval"
        );
        assert_eq!(bad(&|v| v["approval"]["max_uses"] = json!(null)), "invalid_approval");
        assert_eq!(bad(&|v| *v = json!([])), "invalid_approval");
        assert!(parse_list(&json!([])).is_err());
        assert!(parse_list(&json!(vec![good.clone(); 9])).is_err());
        assert_eq!(parse_list(&json!([good])).expect("one").len(), 1);
    }

    #[test]
    fn registry_refuses_shared_keys_and_unsatisfiable_rules() {
        let base = registry(vec![]).policy().clone();
        let mut p = base.clone();
        p.approvers[1].key = p.approvers[0].key.clone();
        assert!(Registry::new(p).expect_err("shared").to_string().contains("key"));
        let mut p = base.clone();
        p.approvers[0].key = p.submitters[0].key.clone();
        assert!(
            Registry::new(p)
                .expect_err("submitter key")
                .to_string()
                .contains("submitter")
        );
        let mut p = base.clone();
        p.approvers.push(approver("alice", &[]));
        assert!(Registry::new(p).is_err());
        let mut p = base.clone();
        p.approval_rules.push(ApprovalRule {
            id: "three".into(),
            actions: vec!["revoke".into()],
            targets: vec!["prod/*".into()],
            systems: None,
            approvals: 3,
            group: Some("security-oncall".into()),
        });
        let e = Registry::new(p).expect_err("only two in the group");
        assert!(e.to_string().contains("three"), "{e}");
        // Old registries keep their canonical bytes.
        let plain = Policy {
            submitters: vec![crate::policy::tests::submitter("ci", 1)],
            ..Policy::default()
        };
        assert!(!String::from_utf8(plain.canonical()).expect("utf8").contains("approv"));
    }

    /// `testdata/vectors/approval_v1.json`, computed with another Ed25519
    /// and JSON implementation: the same canonical bytes, digest, messages
    /// and signatures; each signature valid under its origin only; and the
    /// same event leaf.
    #[test]
    fn approval_vectors() {
        let v: Value = serde_json::from_str(include_str!("../../testdata/vectors/approval_v1.json")).expect("json");
        let hex = |s: &Value| provlog_tlog::hex::decode(s.as_str().expect("hex")).expect("hex");
        let seed: [u8; 32] = hex(&v["seed_hex"]).try_into().expect("32 bytes");
        let k = SignerKey::from_seed("alice", ALG_ED25519, seed).expect("key");
        let cases = v["cases"].as_array().expect("cases");
        for c in cases {
            let origin = c["origin"].as_str().expect("origin");
            let signed = sign(&v["approval"], &k, origin).expect("sign");
            assert_eq!(signed["signature"], c["signature"], "{origin}");
            let sa = SignedApproval::from_value(&signed).expect("parse");
            assert_eq!(sa.jcs, v["approval_jcs"].as_str().expect("jcs").as_bytes());
            assert_eq!(sa.digest().to_vec(), hex(&v["digest_hex"]));
            assert_eq!(sa.signing_message(origin), hex(&c["message_hex"]));
            for other in cases {
                let o = other["origin"].as_str().expect("origin");
                assert_eq!(sa.verify(&k.verifier(), o), o == origin, "{origin} under {o}");
            }
        }
        let sa = SignedApproval::from_value(&json!({"approval": v["approval"], "signature": cases[0]["signature"]}))
            .expect("parse");
        assert_eq!(sa.canonical(), v["signed_jcs"].as_str().expect("jcs").as_bytes());
        let ce = crate::event::CanonicalEvent::from_value(
            &json::parse_strict(v["leaf"]["bytes"].as_str().expect("leaf").as_bytes()).expect("leaf")["event"],
        )
        .expect("event");
        let esig: [u8; 64] = b64::decode_array(v["leaf"]["event_signature"].as_str().expect("sig")).expect("sig");
        let leaf = crate::leaf::EventLeafTemplate::with_approvals(
            &ce.jcs,
            "ci",
            &esig,
            crate::submission::SignatureVersion::V2,
            std::slice::from_ref(&sa),
        )
        .render(v["leaf"]["logged_at"].as_str().expect("at"));
        assert_eq!(leaf, v["leaf"]["bytes"].as_str().expect("bytes").as_bytes());
        let crate::leaf::Leaf::Event(e) = crate::leaf::Leaf::parse(&leaf).expect("parse") else {
            panic!("not an event leaf")
        };
        assert_eq!(e.approvals, vec![sa]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Member order and whitespace never change an approval's canonical
        /// bytes or digest; its signature verifies in its log only, and any
        /// change of a signed field breaks it.
        #[test]
        fn approval_canonical_form_and_signature(
            id in "[A-Za-z0-9._-]{1,40}",
            target in "[a-z0-9/*-]{1,30}",
            refs in proptest::collection::vec("[ -~]{1,20}", 0..4),
            uses in 1u64..=1000,
            origin in "[a-z0-9./-]{1,30}",
            other in "[a-z0-9./-]{1,30}",
        ) {
            let mut a = approval(&id, "alice");
            a["target"] = json!(target);
            a["max_uses"] = json!(uses);
            if !refs.is_empty() {
                a["refs"] = json!(refs);
            }
            let v = sign(&a, &approver_key("alice"), &origin).expect("sign");
            let pretty = serde_json::to_string_pretty(&v).expect("json");
            let reparsed = SignedApproval::from_value(&json::parse_strict(pretty.as_bytes()).expect("json")).expect("parse");
            let direct = SignedApproval::from_value(&v).expect("parse");
            proptest::prop_assert_eq!(&reparsed.jcs, &direct.jcs);
            proptest::prop_assert_eq!(reparsed.digest(), direct.digest());
            proptest::prop_assert_eq!(json::canonical(&json::parse_strict(&direct.canonical()).expect("j")).expect("c"), direct.canonical());
            let k = approver_key("alice").verifier();
            proptest::prop_assert!(direct.verify(&k, &origin));
            proptest::prop_assert_eq!(direct.verify(&k, &other), origin == other);
            let mut changed = v.clone();
            changed["approval"]["max_uses"] = json!(if uses == 1 { 2 } else { uses - 1 });
            let changed = SignedApproval::from_value(&changed).expect("parse");
            proptest::prop_assert!(!changed.verify(&k, &origin));
        }
    }
}
