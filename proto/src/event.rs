//! The provisioning event, schema version 1 (docs/DESIGN.md "The provisioning
//! event").
//!
//! An event is what a provisioning system signs. The log checks it against
//! this schema, then stores the RFC 8785 canonical form of exactly the JSON
//! the submitter sent (so the submitter's signature still verifies); the
//! typed [`Event`] is for reading fields, never for re-encoding.
//!
//! Decisions where docs/DESIGN.md is silent (also in docs/DECISIONS.md):
//! * `null` is not a value of any field outside `details`; leave the field
//!   out instead.
//! * Identifier strings (`actor.*`, `target.*`, `authority.*`,
//!   `decision.policy_*`) are 1–1024 bytes with no control characters.
//! * `x-<name>` actions: `<name>` is 1–63 characters of `a-z 0-9 . _ -`,
//!   starting with a letter or digit.

use crate::json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest accepted identifier string, in bytes.
pub const MAX_ID_BYTES: usize = 1024;
/// Longest `event_id`, in characters.
pub const MAX_EVENT_ID: usize = 128;

/// Actions every log understands; others must be `x-<name>`.
pub const STANDARD_ACTIONS: [&str; 7] = ["issue", "rotate", "revoke", "bind", "unbind", "grant", "expire"];

/// A provisioning event. Field meanings are in docs/DESIGN.md.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Idempotency key, unique per submitter: 1–128 ASCII 0x21–0x7E.
    pub event_id: String,
    /// RFC 3339 time the action happened.
    pub occurred_at: String,
    /// `issue`, `rotate`, `revoke`, `bind`, `unbind`, `grant`, `expire` or `x-<name>`.
    pub action: String,
    /// Who performed it.
    pub actor: Actor,
    /// The identity acted on.
    pub target: Target,
    /// The delegated authority it ran under.
    pub authority: Authority,
    /// The policy decision.
    pub decision: Decision,
    /// Whether the action succeeded.
    pub outcome: Outcome,
    /// The credential state relied on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
    /// Free-form details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub details: Option<Map<String, Value>>,
    /// For a sequenced submitter: the event's place in its chain (1, 2,
    /// …; docs/DESIGN.md "Sequenced submitters"). With `prev`, or neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// With `seq`: base64 leaf hash of the submitter's previous chain
    /// entry (of its registration, for seq 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
}

/// The workflow or principal that performed the action.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Identifier of the actor.
    pub id: String,
    /// Kind of actor (`workflow`, `user`, …).
    #[serde(rename = "type")]
    pub kind: String,
}

/// The identity acted on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Identifier of the identity (matched by submitter scope globs).
    pub id: String,
    /// `service_account`, `api_key`, `token`, `certificate`, `role`, `secret`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The system the identity lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

/// The delegated authority an action ran under.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    /// Identifier of the approval (ticket, change request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// Who approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The scope granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A policy decision.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `allow` or `deny`.
    pub result: DecisionResult,
    /// The policy that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
}

/// `allow` or `deny`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionResult {
    /// The action was allowed.
    Allow,
    /// The action was denied.
    Deny,
}

impl DecisionResult {
    /// `"allow"` or `"deny"`, as the JSON writes it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// `success` or `failure`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The action took effect.
    Success,
    /// The action failed.
    Failure,
}

impl Outcome {
    /// `"success"` or `"failure"`, as the JSON writes it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// The credential state an action relied on or produced.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// `sha256:<64 lowercase hex>`.
    pub fingerprint: String,
    /// RFC 3339 expiry of the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// For a rotation: the fingerprint it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_fingerprint: Option<String>,
}

/// Why an event was refused. Messages name the offending field.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventError {
    /// Unknown or missing field, wrong JSON type, `null`.
    #[error("{0}")]
    Schema(String),
    /// A field has the right type but a value the schema forbids.
    #[error("{field}: {reason}")]
    Value {
        /// Dotted path of the field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

fn bad(field: &'static str, reason: impl Into<String>) -> EventError {
    EventError::Value {
        field,
        reason: reason.into(),
    }
}

/// Refuses `null` anywhere outside `details`.
fn reject_nulls(v: &Value, path: &mut Vec<String>) -> Result<(), EventError> {
    // The path is only built into a string when a null is found.
    match v {
        Value::Null => Err(EventError::Schema(format!(
            "{}: null is not allowed; leave the field out",
            path.join(".")
        ))),
        Value::Object(m) => {
            for (k, x) in m {
                if path.is_empty() && k == "details" {
                    continue;
                }
                if matches!(x, Value::Null | Value::Object(_) | Value::Array(_)) {
                    path.push(k.clone());
                    reject_nulls(x, path)?;
                    path.pop();
                }
            }
            Ok(())
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                if matches!(x, Value::Null | Value::Object(_) | Value::Array(_)) {
                    path.push(format!("[{i}]"));
                    reject_nulls(x, path)?;
                    path.pop();
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_id(field: &'static str, s: &str) -> Result<(), EventError> {
    if s.is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    if s.len() > MAX_ID_BYTES {
        return Err(bad(field, format!("longer than {MAX_ID_BYTES} bytes")));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(field, "contains a control character"));
    }
    Ok(())
}

fn check_opt(field: &'static str, s: Option<&String>) -> Result<(), EventError> {
    s.map_or(Ok(()), |s| check_id(field, s))
}

/// Checks an `event_id`: 1–128 characters, each ASCII 0x21–0x7E.
///
/// # Errors
/// [`EventError::Value`] naming `event_id`.
pub fn check_event_id(id: &str) -> Result<(), EventError> {
    if id.is_empty() || id.len() > MAX_EVENT_ID {
        return Err(bad("event_id", format!("must be 1 to {MAX_EVENT_ID} characters")));
    }
    if !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(bad(
            "event_id",
            "only printable ASCII without spaces (0x21-0x7E) is allowed",
        ));
    }
    Ok(())
}

/// Checks an action name.
///
/// # Errors
/// [`EventError::Value`] naming `action`.
pub fn check_action(a: &str) -> Result<(), EventError> {
    if STANDARD_ACTIONS.contains(&a) {
        return Ok(());
    }
    if let Some(name) = a.strip_prefix("x-") {
        let ok = (1..=63).contains(&name.len())
            && name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            return Ok(());
        }
        return Err(bad("action", "x-<name> needs 1-63 characters of a-z 0-9 . _ -"));
    }
    Err(bad(
        "action",
        format!("{a:?} is not one of {} or x-<name>", STANDARD_ACTIONS.join(", ")),
    ))
}

/// Checks a credential fingerprint: `sha256:` and 64 lowercase hex digits.
///
/// # Errors
/// [`EventError::Value`] naming `field`.
pub fn check_fingerprint(field: &'static str, f: &str) -> Result<(), EventError> {
    match f.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => Ok(()),
        _ => Err(bad(field, "must be sha256: followed by 64 lowercase hex digits")),
    }
}

fn check_time(field: &'static str, s: &str) -> Result<(), EventError> {
    crate::time::parse_millis(s)
        .map(|_| ())
        .map_err(|e| bad(field, e.to_string()))
}

impl Event {
    /// Reads and validates an event from parsed JSON.
    ///
    /// # Errors
    /// [`EventError::Schema`] for unknown, missing, mistyped or `null`
    /// fields (with the field's path), [`EventError::Value`] for values the
    /// schema forbids.
    pub fn from_value(v: &Value) -> Result<Self, EventError> {
        if !v.is_object() {
            return Err(EventError::Schema("event: must be a JSON object".into()));
        }
        reject_nulls(v, &mut Vec::new())?;
        // The plain deserializer first (fast); only a failure is run again
        // with path tracking to name the field.
        let ev: Self = match Self::deserialize(v) {
            Ok(ev) => ev,
            Err(_) => serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                if path == "." || path.is_empty() {
                    EventError::Schema(format!("event: {inner}"))
                } else {
                    EventError::Schema(format!("event.{path}: {inner}"))
                }
            })?,
        };
        ev.validate()?;
        Ok(ev)
    }

    /// Checks every value rule of the schema (types are checked by serde).
    ///
    /// # Errors
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), EventError> {
        check_event_id(&self.event_id)?;
        check_time("occurred_at", &self.occurred_at)?;
        check_action(&self.action)?;
        check_id("actor.id", &self.actor.id)?;
        check_id("actor.type", &self.actor.kind)?;
        check_id("target.id", &self.target.id)?;
        check_id("target.type", &self.target.kind)?;
        check_opt("target.system", self.target.system.as_ref())?;
        check_opt("authority.approval_id", self.authority.approval_id.as_ref())?;
        check_opt("authority.approved_by", self.authority.approved_by.as_ref())?;
        check_opt("authority.scope", self.authority.scope.as_ref())?;
        check_opt("decision.policy_id", self.decision.policy_id.as_ref())?;
        check_opt("decision.policy_version", self.decision.policy_version.as_ref())?;
        match (self.seq, &self.prev) {
            (None, None) => {}
            (Some(seq), Some(prev)) => {
                let field = |r: &str| if r.starts_with("seq") { "seq" } else { "prev" };
                crate::chain::check_link_values(seq, prev).map_err(|r| bad(field(&r), r))?;
            }
            (Some(_), None) => return Err(bad("prev", "seq needs prev (the previous chain entry's leaf hash)")),
            (None, Some(_)) => return Err(bad("seq", "prev needs seq")),
        }
        if let Some(c) = &self.credential {
            check_fingerprint("credential.fingerprint", &c.fingerprint)?;
            if let Some(p) = &c.previous_fingerprint {
                check_fingerprint("credential.previous_fingerprint", p)?;
            }
            if let Some(t) = &c.not_after {
                check_time("credential.not_after", t)?;
            }
        }
        Ok(())
    }
}

/// A field the log keeps a search index for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Term {
    /// `target.id`.
    Target,
    /// `actor.id`.
    Actor,
    /// `credential.fingerprint` or `credential.previous_fingerprint`.
    Credential,
    /// `action`.
    Action,
}

impl Term {
    /// Every term, in a fixed order.
    pub const ALL: [Self; 4] = [Self::Target, Self::Actor, Self::Credential, Self::Action];

    /// The one-byte tag storage prefixes its keys with.
    #[must_use]
    pub const fn tag(self) -> u8 {
        match self {
            Self::Target => b't',
            Self::Actor => b'a',
            Self::Credential => b'c',
            Self::Action => b'x',
        }
    }

    /// The query parameter of `GET /v1/events` that filters on it.
    #[must_use]
    pub const fn param(self) -> &'static str {
        match self {
            Self::Target => "target",
            Self::Actor => "actor",
            Self::Credential => "credential",
            Self::Action => "action",
        }
    }
}

impl Event {
    /// The index terms of this event: one per indexed field present (two
    /// for a rotation that names the previous fingerprint), deduplicated.
    /// No value contains a control character, so none contains 0x00.
    #[must_use]
    pub fn terms(&self) -> Vec<(Term, &str)> {
        let mut t = vec![
            (Term::Target, self.target.id.as_str()),
            (Term::Actor, self.actor.id.as_str()),
            (Term::Action, self.action.as_str()),
        ];
        if let Some(c) = &self.credential {
            t.push((Term::Credential, c.fingerprint.as_str()));
            if let Some(p) = &c.previous_fingerprint
                && *p != c.fingerprint
            {
                t.push((Term::Credential, p.as_str()));
            }
        }
        t
    }

    /// Its place in its submitter's chain, if it has one.
    #[must_use]
    pub fn link(&self) -> Option<crate::chain::Link> {
        let prev = provlog_tlog::b64::decode_array(self.prev.as_deref()?)?;
        Some(crate::chain::Link { seq: self.seq?, prev })
    }

    /// Whether the action took effect: `outcome` is `success` and the
    /// decision `allow`.
    #[must_use]
    pub fn took_effect(&self) -> bool {
        self.outcome == Outcome::Success && self.decision.result == DecisionResult::Allow
    }
}

/// An event checked against the schema together with its canonical bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalEvent {
    /// The typed view of the event.
    pub event: Event,
    /// RFC 8785 canonical bytes of the event exactly as submitted.
    pub jcs: Vec<u8>,
}

impl CanonicalEvent {
    /// Validates `v` and canonicalizes it.
    ///
    /// # Errors
    /// Schema and value errors; canonicalization cannot fail for parsed JSON
    /// but is reported as a schema error if it does.
    pub fn from_value(v: &Value) -> Result<Self, EventError> {
        let event = Event::from_value(v)?;
        let jcs = json::canonical(v).map_err(|e| EventError::Schema(e.to_string()))?;
        Ok(Self { event, jcs })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A valid event used across the crate's tests.
    pub(crate) fn sample() -> Value {
        json!({
            "event_id": "evt-0001",
            "occurred_at": "2026-11-25T10:00:00Z",
            "action": "rotate",
            "actor": {"id": "wf/rotate-keys", "type": "workflow"},
            "target": {"id": "svc-payments", "type": "service_account", "system": "gcp"},
            "authority": {"approval_id": "CHG-42", "approved_by": "alice"},
            "decision": {"result": "allow", "policy_id": "rot-90d"},
            "outcome": "success",
            "credential": {
                "fingerprint": format!("sha256:{}", "ab".repeat(32)),
                "previous_fingerprint": format!("sha256:{}", "cd".repeat(32)),
                "not_after": "2027-02-23T10:00:00Z"
            },
            "details": {"reason": "scheduled", "n": null}
        })
    }

    fn err_of(v: &Value) -> String {
        Event::from_value(v).expect_err("must fail").to_string()
    }

    #[test]
    fn accepts_the_sample() {
        let e = Event::from_value(&sample()).expect("valid");
        assert_eq!(e.target.id, "svc-payments");
        assert_eq!(e.decision.result, DecisionResult::Allow);
    }

    #[test]
    fn refuses_schema_violations_with_the_field_named() {
        let mut v = sample();
        v["extra"] = json!(1);
        assert!(err_of(&v).contains("unknown field `extra`"), "{}", err_of(&v));
        let mut v = sample();
        v["actor"].as_object_mut().expect("o").remove("id");
        assert!(
            err_of(&v).contains("actor") && err_of(&v).contains("missing field `id`"),
            "{}",
            err_of(&v)
        );
        let mut v = sample();
        v["outcome"] = json!(true);
        assert!(err_of(&v).contains("outcome"), "{}", err_of(&v));
        let mut v = sample();
        v["target"]["system"] = Value::Null;
        assert!(err_of(&v).contains("target.system: null"), "{}", err_of(&v));
        let mut v = sample();
        v["decision"]["result"] = json!("maybe");
        assert!(err_of(&v).contains("decision.result"), "{}", err_of(&v));
        assert!(Event::from_value(&json!([1])).is_err());
    }

    #[test]
    fn refuses_bad_values() {
        for (path, val, needle) in [
            ("event_id", json!(""), "event_id"),
            ("event_id", json!("has space"), "event_id"),
            ("event_id", json!("x".repeat(129)), "event_id"),
            ("occurred_at", json!("yesterday"), "occurred_at"),
            ("action", json!("delete"), "action"),
            ("action", json!("x-"), "action"),
            ("action", json!("x-Bad"), "action"),
        ] {
            let mut v = sample();
            v[path] = val;
            assert!(err_of(&v).starts_with(needle), "{path}: {}", err_of(&v));
        }
        let mut v = sample();
        v["credential"]["fingerprint"] = json!("sha256:ABCD");
        assert!(err_of(&v).starts_with("credential.fingerprint"));
        let mut v = sample();
        v["actor"]["id"] = json!("a\nb");
        assert!(err_of(&v).starts_with("actor.id"));
        let mut v = sample();
        v["action"] = json!("x-custom.thing_1");
        assert!(Event::from_value(&v).is_ok());
        assert!(check_event_id(&"~".repeat(128)).is_ok());
    }
}
