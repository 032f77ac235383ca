//! The submitter registry and delegated-authority scope (docs/DESIGN.md
//! "Submitters and delegated authority").
//!
//! The registry is what a `policy` leaf logs, so its canonical form is
//! fixed here: submitters sorted by `id`, absent optional fields omitted,
//! RFC 8785 bytes.
//!
//! Decisions where docs/DESIGN.md is silent (also in docs/DECISIONS.md):
//! * Submitter ids are 1–128 characters of `A-Z a-z 0-9 . _ - : @ /`.
//! * `actions` and `targets` entries are glob patterns: `*` matches any run
//!   of characters (including `/`, as in cloud IAM policies), `?` exactly one
//!   character, everything else itself. `"*"` in `actions` allows every
//!   action.
//! * `not_before` / `not_after` bound the submitter's validity window,
//!   inclusive, checked against the time the log receives the submission.

use crate::approval::{ApprovalRule, Approver, ApproverPolicy};
use crate::cedar::{CedarPolicies, Engine};
use crate::event::{Event, check_action};
use crate::{json, time};
use provlog_tlog::keys::{ALG_ED25519, VerifierKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One submitter: who may sign events, and what they may log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitterPolicy {
    /// The submitter's id, as named in submissions.
    pub id: String,
    /// Its Ed25519 signed-note verifier key (`name+hash+base64`).
    pub key: String,
    /// Glob patterns of the actions it may log.
    pub actions: Vec<String>,
    /// Glob patterns over `target.id` it may log events for.
    pub targets: Vec<String>,
    /// If set, `target.system` must be one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systems: Option<Vec<String>>,
    /// RFC 3339 start of validity (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// RFC 3339 end of validity (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Whether its entries form a chain (`seq`/`prev`, docs/DESIGN.md
    /// "Sequenced submitters"). Left out when false, so a registry without
    /// it has the bytes it always had.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sequenced: bool,
    /// Longest it may go without a heartbeat (seconds); only with
    /// `sequenced`. A monitor alarms when one is late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_seconds: Option<u64>,
}

/// Longest `heartbeat_interval_seconds` accepted: a year.
pub const MAX_HEARTBEAT_INTERVAL_SECONDS: u64 = 366 * 86_400;

/// The submitter registry: the `policy` object of a policy leaf. Members
/// added after the first version (`approvers`, `approval_rules`) are left
/// out when empty, so a registry without them has the bytes it always had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Every submitter, sorted by id in canonical form.
    pub submitters: Vec<SubmitterPolicy>,
    /// Every approver, sorted by id in canonical form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<ApproverPolicy>,
    /// Which events need approvals, sorted by id in canonical form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approval_rules: Vec<ApprovalRule>,
    /// Cedar policies every event must satisfy (docs/DESIGN.md "Cedar
    /// policies").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cedar: Option<CedarPolicies>,
}

/// Why a registry is not valid.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// A rule of the registry is broken; the message names the submitter and field.
    #[error("submitter {id:?}: {reason}")]
    Invalid {
        /// The submitter concerned.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A rule of an approver entry is broken.
    #[error("approver {id:?}: {reason}")]
    Approver {
        /// The approver concerned.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// An approval rule is broken.
    #[error("approval rule {id:?}: {reason}")]
    Rule {
        /// The rule concerned.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The Cedar policies or schema are refused (the message names the
    /// policy and line).
    #[error(transparent)]
    Cedar(#[from] crate::cedar::CedarError),
}

/// Why a submitter may not log an event.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// No submitter with this id is registered.
    #[error("unknown submitter {0:?}")]
    UnknownSubmitter(String),
    /// The action matches none of the submitter's `actions`.
    #[error("submitter {id:?} may not log action {action:?} (rule actions = {allowed:?})")]
    Action {
        /// Submitter.
        id: String,
        /// The refused action.
        action: String,
        /// Its `actions` rule.
        allowed: Vec<String>,
    },
    /// `target.id` matches none of the submitter's `targets`.
    #[error("submitter {id:?} may not log events for target {target:?} (rule targets = {allowed:?})")]
    Target {
        /// Submitter.
        id: String,
        /// The refused target id.
        target: String,
        /// Its `targets` rule.
        allowed: Vec<String>,
    },
    /// `target.system` is missing or not among the submitter's `systems`.
    #[error("submitter {id:?} may not log events for system {system:?} (rule systems = {allowed:?})")]
    System {
        /// Submitter.
        id: String,
        /// The refused system (`None` if the event names none).
        system: Option<String>,
        /// Its `systems` rule.
        allowed: Vec<String>,
    },
    /// Outside the submitter's validity window.
    #[error("submitter {id:?} is not valid at {at} (rule {rule} = {bound})")]
    Window {
        /// Submitter.
        id: String,
        /// The time checked.
        at: String,
        /// `not_before` or `not_after`.
        rule: &'static str,
        /// The bound.
        bound: String,
    },
}

impl ScopeError {
    /// The stable error code: `unknown_submitter`, `submitter_not_valid`
    /// (outside its validity window) or `out_of_scope`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::UnknownSubmitter(_) => "unknown_submitter",
            Self::Window { .. } => "submitter_not_valid",
            _ => "out_of_scope",
        }
    }
}

/// Matches `text` against a glob `pattern` (`*` any run, `?` one character).
#[must_use]
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Characters reserved for future glob syntax; refused in patterns today so
/// that a pattern never changes meaning later.
pub const RESERVED_GLOB_CHARS: [char; 5] = ['[', ']', '{', '}', '\\'];

/// Checks a glob pattern: 1–256 bytes, no whitespace or control characters,
/// none of [`RESERVED_GLOB_CHARS`].
///
/// # Errors
/// A message naming the problem.
pub fn check_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() || p.len() > 256 {
        return Err(format!("pattern {p:?} must be 1 to 256 bytes"));
    }
    if let Some(c) = p.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("pattern {p:?} contains {c:?}"));
    }
    if let Some(c) = p.chars().find(|c| RESERVED_GLOB_CHARS.contains(c)) {
        return Err(format!(
            "pattern {p:?} uses {c:?}, which is reserved; only * and ? are special"
        ));
    }
    Ok(())
}

/// Checks a submitter id's spelling.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_submitter_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err("id must be 1 to 128 characters".into());
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'@' | b'/'))
    {
        return Err("id may only hold A-Z a-z 0-9 . _ - : @ /".into());
    }
    Ok(())
}

impl SubmitterPolicy {
    fn invalid(&self, reason: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            id: self.id.clone(),
            reason: reason.into(),
        }
    }

    /// Checks every field and returns the parsed key.
    ///
    /// # Errors
    /// [`PolicyError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<VerifierKey, PolicyError> {
        check_submitter_id(&self.id).map_err(|r| self.invalid(r))?;
        let key = VerifierKey::parse(&self.key).map_err(|e| self.invalid(format!("key: {e}")))?;
        if key.alg() != ALG_ED25519 {
            return Err(self.invalid("key: must be an Ed25519 (type 0x01) vkey"));
        }
        if self.actions.is_empty() {
            return Err(self.invalid("actions: must list at least one action"));
        }
        for a in &self.actions {
            check_pattern(a).map_err(|e| self.invalid(format!("actions: {e}")))?;
            if !(a.contains(['*', '?']) || check_action(a).is_ok()) {
                return Err(self.invalid(format!("actions: {a:?} is neither an action nor a pattern")));
            }
        }
        if self.targets.is_empty() {
            return Err(self.invalid("targets: must list at least one pattern"));
        }
        for t in &self.targets {
            check_pattern(t).map_err(|e| self.invalid(format!("targets: {e}")))?;
        }
        if let Some(s) = &self.systems {
            if s.is_empty() {
                return Err(self.invalid("systems: when present, must list at least one system"));
            }
            if let Some(bad) = s.iter().find(|x| x.is_empty() || x.chars().any(char::is_control)) {
                return Err(self.invalid(format!("systems: {bad:?} is not a system name")));
            }
        }
        let nb = self.not_before.as_deref().map(time::parse_millis).transpose();
        let na = self.not_after.as_deref().map(time::parse_millis).transpose();
        let (nb, na) = match (nb, na) {
            (Ok(nb), Ok(na)) => (nb, na),
            (Err(e), _) => return Err(self.invalid(format!("not_before: {e}"))),
            (_, Err(e)) => return Err(self.invalid(format!("not_after: {e}"))),
        };
        if let (Some(nb), Some(na)) = (nb, na)
            && nb > na
        {
            return Err(self.invalid("not_before is after not_after"));
        }
        match self.heartbeat_interval_seconds {
            Some(_) if !self.sequenced => {
                return Err(self.invalid(
                    "heartbeat_interval_seconds: only a sequenced submitter logs heartbeats (set sequenced = true)",
                ));
            }
            Some(s) if !(1..=MAX_HEARTBEAT_INTERVAL_SECONDS).contains(&s) => {
                return Err(self.invalid(format!(
                    "heartbeat_interval_seconds: must be 1 to {MAX_HEARTBEAT_INTERVAL_SECONDS}"
                )));
            }
            _ => {}
        }
        Ok(key)
    }
}

impl Policy {
    /// The policy in canonical order (submitters sorted by id).
    #[must_use]
    pub fn normalized(mut self) -> Self {
        self.submitters.sort_by(|a, b| a.id.cmp(&b.id));
        self.approvers.sort_by(|a, b| a.id.cmp(&b.id));
        self.approval_rules.sort_by(|a, b| a.id.cmp(&b.id));
        self
    }

    /// RFC 8785 bytes of the normalized policy object.
    #[must_use]
    pub fn canonical(&self) -> Vec<u8> {
        let v = serde_json::to_value(self.clone().normalized()).unwrap_or_default();
        json::canonical(&v).unwrap_or_default()
    }
}

/// A submitter ready for checking submissions.
#[derive(Debug, Clone)]
pub struct Submitter {
    /// Its registry entry.
    pub policy: SubmitterPolicy,
    /// Its parsed key.
    pub key: VerifierKey,
    not_before: Option<i64>,
    not_after: Option<i64>,
}

impl Submitter {
    /// Checks that the submitter is within its validity window at
    /// `now_millis`.
    ///
    /// # Errors
    /// [`ScopeError::Window`] naming the bound.
    pub fn check_window(&self, now_millis: i64) -> Result<(), ScopeError> {
        let p = &self.policy;
        let at = || time::format_millis(now_millis).unwrap_or_else(|_| now_millis.to_string());
        if let Some(nb) = self.not_before
            && now_millis < nb
        {
            return Err(ScopeError::Window {
                id: p.id.clone(),
                at: at(),
                rule: "not_before",
                bound: p.not_before.clone().unwrap_or_default(),
            });
        }
        if let Some(na) = self.not_after
            && now_millis > na
        {
            return Err(ScopeError::Window {
                id: p.id.clone(),
                at: at(),
                rule: "not_after",
                bound: p.not_after.clone().unwrap_or_default(),
            });
        }
        Ok(())
    }
}

/// A validated registry, indexed by submitter id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    policy: Policy,
    by_id: HashMap<String, Submitter>,
    approvers: HashMap<String, Approver>,
    engine: Option<std::sync::Arc<Engine>>,
}

impl Registry {
    /// Validates `policy` (unique ids, every field; each approver key
    /// belongs to one approver and to no submitter; every approval rule
    /// can be met by the approvers listed) and indexes it.
    ///
    /// # Errors
    /// The first broken rule.
    pub fn new(policy: Policy) -> Result<Self, PolicyError> {
        let policy = policy.normalized();
        let mut by_id = HashMap::new();
        for s in &policy.submitters {
            let key = s.validate()?;
            let parse = |t: &Option<String>| t.as_deref().and_then(|t| time::parse_millis(t).ok());
            let sub = Submitter {
                policy: s.clone(),
                key,
                not_before: parse(&s.not_before),
                not_after: parse(&s.not_after),
            };
            if by_id.insert(s.id.clone(), sub).is_some() {
                return Err(s.invalid("id appears more than once"));
            }
        }
        let mut approvers: HashMap<String, Approver> = HashMap::new();
        for a in &policy.approvers {
            let bad = |reason: String| PolicyError::Approver {
                id: a.id.clone(),
                reason,
            };
            let key = a.validate().map_err(bad)?;
            if let Some(s) = by_id.values().find(|s| s.key == key) {
                return Err(bad(format!(
                    "its key is submitter {:?}'s: a workflow may not approve its own work",
                    s.policy.id
                )));
            }
            if let Some(other) = approvers.values().find(|o| o.key == key) {
                return Err(bad(format!(
                    "its key is approver {:?}'s: each approver needs a key of its own",
                    other.policy.id
                )));
            }
            let entry = Approver { policy: a.clone(), key };
            if approvers.insert(a.id.clone(), entry).is_some() {
                return Err(bad("id appears more than once".into()));
            }
        }
        let mut rule_ids = std::collections::HashSet::new();
        for r in &policy.approval_rules {
            let bad = |reason: String| PolicyError::Rule {
                id: r.id.clone(),
                reason,
            };
            r.validate().map_err(bad)?;
            if !rule_ids.insert(r.id.as_str()) {
                return Err(bad("id appears more than once".into()));
            }
            let able = approvers
                .values()
                .filter(|a| r.group.as_ref().is_none_or(|g| a.policy.groups.contains(g)))
                .count() as u64;
            if able < r.approvals {
                return Err(bad(format!(
                    "needs {} approvals{}, but the registry lists {able} such approver(s)",
                    r.approvals,
                    r.group
                        .as_ref()
                        .map(|g| format!(" from group {g:?}"))
                        .unwrap_or_default()
                )));
            }
        }
        let engine = policy
            .cedar
            .as_ref()
            .map(Engine::new)
            .transpose()?
            .map(std::sync::Arc::new);
        Ok(Self {
            policy,
            by_id,
            approvers,
            engine,
        })
    }

    /// The log's decision for `event` by `submitter`, carrying `approvals`
    /// (already checked), logged at `logged_at_ms`, with its credential in
    /// state `credential_state` before it: what the registry's Cedar
    /// policies decide, each approval counted with its approver's groups;
    /// `None` when the registry has no policies. The sequencer, `audit`
    /// and `explain` all decide through here.
    #[must_use]
    pub fn decide(
        &self,
        submitter: &str,
        event: &Event,
        approvals: &[crate::approval::SignedApproval],
        logged_at_ms: i64,
        credential_state: Option<&str>,
    ) -> Option<crate::cedar::PolicyDecision> {
        let engine = self.engine()?;
        let groups: Vec<(&crate::approval::SignedApproval, &[String])> = approvals
            .iter()
            .map(|a| {
                let g = self
                    .approver(&a.approval.approver)
                    .map_or(&[][..], |ap| &ap.policy.groups[..]);
                (a, g)
            })
            .collect();
        Some(engine.evaluate(
            event,
            &crate::cedar::Facts {
                submitter,
                approvals: &groups,
                logged_at_ms,
                credential_state,
            },
        ))
    }

    /// The Cedar policies every event must satisfy, if the registry has any.
    #[must_use]
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_deref()
    }

    /// Looks an approver up.
    #[must_use]
    pub fn approver(&self, id: &str) -> Option<&Approver> {
        self.approvers.get(id)
    }

    /// Whether any approver is registered (then an event's `authority`
    /// claims are checked against the approvals it carries).
    #[must_use]
    pub fn has_approvers(&self) -> bool {
        !self.approvers.is_empty()
    }

    /// The approval rules, in id order.
    #[must_use]
    pub fn approval_rules(&self) -> &[ApprovalRule] {
        &self.policy.approval_rules
    }

    /// The normalized policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Looks a submitter up.
    ///
    /// # Errors
    /// [`ScopeError::UnknownSubmitter`].
    pub fn submitter(&self, id: &str) -> Result<&Submitter, ScopeError> {
        self.by_id
            .get(id)
            .ok_or_else(|| ScopeError::UnknownSubmitter(id.to_owned()))
    }

    /// Checks that submitter `id` may log `event` at `now_millis`.
    ///
    /// # Errors
    /// The first rule the event breaks.
    pub fn check_scope(&self, id: &str, event: &Event, now_millis: i64) -> Result<&Submitter, ScopeError> {
        let s = self.submitter(id)?;
        let p = &s.policy;
        s.check_window(now_millis)?;
        if !p.actions.iter().any(|a| glob_match(a, &event.action)) {
            return Err(ScopeError::Action {
                id: id.into(),
                action: event.action.clone(),
                allowed: p.actions.clone(),
            });
        }
        if !p.targets.iter().any(|t| glob_match(t, &event.target.id)) {
            return Err(ScopeError::Target {
                id: id.into(),
                target: event.target.id.clone(),
                allowed: p.targets.clone(),
            });
        }
        if let Some(systems) = &p.systems
            && !event.target.system.as_ref().is_some_and(|sys| systems.contains(sys))
        {
            return Err(ScopeError::System {
                id: id.into(),
                system: event.target.system.clone(),
                allowed: systems.clone(),
            });
        }
        Ok(s)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use provlog_tlog::keys::SignerKey;

    pub(crate) fn submitter(id: &str, seed: u8) -> SubmitterPolicy {
        let key = SignerKey::from_seed(id, ALG_ED25519, [seed; 32]).expect("key");
        SubmitterPolicy {
            id: id.into(),
            key: key.verifier().to_vkey_string(),
            actions: vec!["issue".into(), "rotate".into()],
            targets: vec!["svc-*".into(), "k8s/prod/*".into()],
            systems: None,
            not_before: None,
            not_after: None,
            sequenced: false,
            heartbeat_interval_seconds: None,
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("svc-*", "svc-payments"));
        assert!(glob_match("svc-*", "svc-"));
        assert!(!glob_match("svc-*", "svcx"));
        assert!(glob_match("k8s/prod/*", "k8s/prod/ns/sa"));
        assert!(!glob_match("k8s/prod/*", "k8s/staging/sa"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*a*b*", "xxaxxbxx"));
        assert!(!glob_match("*a*b", "xxaxxbxxc"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }

    #[test]
    fn canonical_form_is_sorted_and_stable() {
        let a = Policy {
            submitters: vec![submitter("b", 2), submitter("a", 1)],
            ..Policy::default()
        };
        let b = Policy {
            submitters: vec![submitter("a", 1), submitter("b", 2)],
            ..Policy::default()
        };
        assert_eq!(a.canonical(), b.canonical());
        let text = String::from_utf8(a.canonical()).expect("utf8");
        assert!(
            text.starts_with(r#"{"submitters":[{"actions":["issue","rotate"],"id":"a","#),
            "{text}"
        );
    }

    #[test]
    fn registry_validation() {
        let mut dup = Policy {
            submitters: vec![submitter("a", 1), submitter("a", 2)],
            ..Policy::default()
        };
        assert!(Registry::new(dup.clone()).is_err());
        dup.submitters.pop();
        assert!(Registry::new(dup.clone()).is_ok());
        let mut s = submitter("a", 1);
        s.key = "nonsense".into();
        assert!(
            Registry::new(Policy {
                submitters: vec![s],
                ..Policy::default()
            })
            .is_err()
        );
        let mut s = submitter("a", 1);
        s.id = "a b".into();
        assert!(
            Registry::new(Policy {
                submitters: vec![s],
                ..Policy::default()
            })
            .is_err()
        );
        let mut s = submitter("a", 1);
        s.actions = vec!["delete".into()];
        assert!(
            Registry::new(Policy {
                submitters: vec![s],
                ..Policy::default()
            })
            .is_err()
        );
        for bad in ["svc-[a-z]*", "svc-{a,b}", "", "svc *", "a\\b"] {
            let mut s = submitter("a", 1);
            s.targets = vec![bad.into()];
            let err = Registry::new(Policy {
                submitters: vec![s],
                ..Policy::default()
            })
            .expect_err(bad);
            assert!(err.to_string().contains("targets"), "{err}");
        }
        let mut s = submitter("a", 1);
        s.not_before = Some("2027-01-01T00:00:00Z".into());
        s.not_after = Some("2026-01-01T00:00:00Z".into());
        assert!(
            Registry::new(Policy {
                submitters: vec![s],
                ..Policy::default()
            })
            .is_err()
        );
    }

    #[test]
    fn scope_checks() {
        let mut s = submitter("ci", 1);
        s.systems = Some(vec!["gcp".into()]);
        s.not_after = Some("2030-01-01T00:00:00Z".into());
        let reg = Registry::new(Policy {
            submitters: vec![s],
            ..Policy::default()
        })
        .expect("valid");
        let ev = Event::from_value(&crate::event::tests::sample()).expect("event");
        let now = time::parse_millis("2026-11-25T00:00:00Z").expect("t");
        assert!(reg.check_scope("ci", &ev, now).is_ok());
        assert!(matches!(
            reg.check_scope("nobody", &ev, now),
            Err(ScopeError::UnknownSubmitter(_))
        ));
        let mut e2 = ev.clone();
        e2.action = "revoke".into();
        assert!(matches!(
            reg.check_scope("ci", &e2, now),
            Err(ScopeError::Action { .. })
        ));
        let mut e2 = ev.clone();
        e2.target.id = "db-main".into();
        let err = reg.check_scope("ci", &e2, now).expect_err("target");
        assert!(err.to_string().contains("targets"), "{err}");
        let mut e2 = ev.clone();
        e2.target.system = None;
        assert!(matches!(
            reg.check_scope("ci", &e2, now),
            Err(ScopeError::System { .. })
        ));
        let later = time::parse_millis("2031-01-01T00:00:00Z").expect("t");
        assert!(matches!(
            reg.check_scope("ci", &ev, later),
            Err(ScopeError::Window { rule: "not_after", .. })
        ));
    }
}
