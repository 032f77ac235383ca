//! Credential lifecycle rules a monitor checks over the event stream, in
//! index order. Each violation names the rule and the indexes involved.
//!
//! | rule | flags |
//! | --- | --- |
//! | `reissue_after_revoke` | `issue`, `bind` or `grant` of a fingerprint that was revoked |
//! | `rotate_from_inactive` | a `rotate` whose `previous_fingerprint` is not active (never issued, revoked, superseded or expired) |
//! | `revoke_unknown` | `revoke` or `unbind` of a fingerprint never issued |
//! | `deny_but_success` | `decision.result` is `deny` but `outcome` is `success` |
//! | `occurred_at_regression` | an event's `occurred_at` is more than the skew before an earlier event's for the same `target.id` |
//!
//! Only events that took effect (`success` and `allow`) change credential
//! state, as in [`crate::credential`].

use crate::event::{DecisionResult, Event, Outcome};
use crate::time;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Which rules apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "one switch per rule, as the rules file names them"
)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Flag re-issuing a revoked credential.
    pub reissue_after_revoke: bool,
    /// Flag rotations away from a credential that is not active.
    pub rotate_from_inactive: bool,
    /// Flag revoking a credential never issued.
    pub revoke_unknown: bool,
    /// Flag denied actions reported as successful.
    pub deny_but_success: bool,
    /// Flag `occurred_at` going back more than this many seconds for one
    /// target (`None`: off).
    pub occurred_at_skew_secs: Option<u64>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            reissue_after_revoke: true,
            rotate_from_inactive: true,
            revoke_unknown: true,
            deny_but_success: true,
            occurred_at_skew_secs: Some(300),
        }
    }
}

/// One rule broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The rule's name.
    pub rule: String,
    /// The indexes involved, earliest first.
    pub indexes: Vec<u64>,
    /// What happened.
    pub message: String,
}

/// What the rules remember of a credential: its status since an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Issued, bound, granted, or rotated to.
    Active,
    /// Revoked or unbound.
    Revoked,
    /// Rotated away from.
    Superseded,
    /// Expired.
    Expired,
}

impl Status {
    /// One byte for a store: 0 active, 1 revoked, 2 superseded, 3 expired.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Active => 0,
            Self::Revoked => 1,
            Self::Superseded => 2,
            Self::Expired => 3,
        }
    }

    /// The status of [`Status::code`] `c`, if it is one.
    #[must_use]
    pub const fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Self::Active),
            1 => Some(Self::Revoked),
            2 => Some(Self::Superseded),
            3 => Some(Self::Expired),
            _ => None,
        }
    }
}

/// Where the rules keep what they remember between events, one value per
/// credential and per target, read and written as events come: in memory
/// ([`LifecycleState`]) or in a store ([`crate::book::Lifecycle`]), so that
/// a monitor's memory need not grow with the credentials it has seen.
pub trait LifecycleStore {
    /// What reading or writing can fail with.
    type Error;
    /// The status of credential `fp` and the index it was set at.
    ///
    /// # Errors
    /// The store's.
    fn credential(&mut self, fp: &str) -> Result<Option<(Status, u64)>, Self::Error>;
    /// Sets the status of credential `fp` (at entry `index`).
    ///
    /// # Errors
    /// The store's.
    fn set_credential(&mut self, fp: &str, status: Status, index: u64) -> Result<(), Self::Error>;
    /// The latest `occurred_at` (Unix ms) seen for target `id`, and the
    /// index of its event.
    ///
    /// # Errors
    /// The store's.
    fn target(&mut self, id: &str) -> Result<Option<(i64, u64)>, Self::Error>;
    /// Sets the latest `occurred_at` of target `id`.
    ///
    /// # Errors
    /// The store's.
    fn set_target(&mut self, id: &str, at_ms: i64, index: u64) -> Result<(), Self::Error>;
}

/// What the rules remember between events, in memory (serializable: the
/// form monitors saved it in before issue 21, read to migrate them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleState {
    creds: HashMap<String, (Status, u64)>,
    targets: HashMap<String, (i64, u64)>,
}

impl LifecycleState {
    /// Whether it remembers nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.creds.is_empty() && self.targets.is_empty()
    }

    /// Every credential it remembers: fingerprint, status, index.
    pub fn credentials(&self) -> impl Iterator<Item = (&str, Status, u64)> {
        self.creds.iter().map(|(k, &(s, i))| (k.as_str(), s, i))
    }

    /// Every target it remembers: id, latest `occurred_at` (Unix ms), index.
    pub fn targets(&self) -> impl Iterator<Item = (&str, i64, u64)> {
        self.targets.iter().map(|(k, &(t, i))| (k.as_str(), t, i))
    }

    /// Checks event `e` at `index` and updates the state.
    pub fn check(&mut self, rules: &Rules, index: u64, e: &Event) -> Vec<Violation> {
        match check(self, rules, index, e) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }
}

impl LifecycleStore for LifecycleState {
    type Error = std::convert::Infallible;
    fn credential(&mut self, fp: &str) -> Result<Option<(Status, u64)>, Self::Error> {
        Ok(self.creds.get(fp).copied())
    }
    fn set_credential(&mut self, fp: &str, status: Status, index: u64) -> Result<(), Self::Error> {
        self.creds.insert(fp.to_owned(), (status, index));
        Ok(())
    }
    fn target(&mut self, id: &str) -> Result<Option<(i64, u64)>, Self::Error> {
        Ok(self.targets.get(id).copied())
    }
    fn set_target(&mut self, id: &str, at_ms: i64, index: u64) -> Result<(), Self::Error> {
        self.targets.insert(id.to_owned(), (at_ms, index));
        Ok(())
    }
}

fn v(rule: &str, indexes: Vec<u64>, message: String) -> Violation {
    Violation {
        rule: rule.into(),
        indexes,
        message,
    }
}

/// Checks event `e` at `index` against `rules`, with what `state`
/// remembers of the events before it, and updates `state`.
///
/// # Errors
/// The store's; the state may then hold part of the event's changes.
pub fn check<S: LifecycleStore>(
    state: &mut S,
    rules: &Rules,
    index: u64,
    e: &Event,
) -> Result<Vec<Violation>, S::Error> {
    let mut out = Vec::new();
    if rules.deny_but_success && e.decision.result == DecisionResult::Deny && e.outcome == Outcome::Success {
        out.push(v(
            "deny_but_success",
            vec![index],
            format!("{} of {:?} was denied but reports success", e.action, e.target.id),
        ));
    }
    if let (Some(skew), Ok(t)) = (rules.occurred_at_skew_secs, time::parse_millis(&e.occurred_at)) {
        let skew_ms = i64::try_from(skew.saturating_mul(1000)).unwrap_or(i64::MAX);
        match state.target(&e.target.id)? {
            Some((last, li)) if t < last.saturating_sub(skew_ms) => {
                out.push(v(
                    "occurred_at_regression",
                    vec![li, index],
                    format!(
                        "occurred_at for {:?} goes back {} s (more than {skew} s)",
                        e.target.id,
                        (last - t) / 1000
                    ),
                ));
            }
            Some((last, _)) if t <= last => {}
            _ => state.set_target(&e.target.id, t, index)?,
        }
    }
    let Some(c) = &e.credential else { return Ok(out) };
    if !e.took_effect() {
        return Ok(out);
    }
    let fp = c.fingerprint.as_str();
    match e.action.as_str() {
        "issue" | "bind" | "grant" => {
            if rules.reissue_after_revoke
                && let Some((Status::Revoked, ri)) = state.credential(fp)?
            {
                out.push(v(
                    "reissue_after_revoke",
                    vec![ri, index],
                    format!("{fp} was revoked at {ri} and {} again at {index}", e.action),
                ));
            }
            state.set_credential(fp, Status::Active, index)?;
        }
        "rotate" => {
            if let Some(prev) = c.previous_fingerprint.as_deref().filter(|p| *p != fp) {
                match state.credential(prev)? {
                    Some((Status::Active, _)) => {}
                    other => {
                        if rules.rotate_from_inactive {
                            let mut idx: Vec<u64> = other.map(|(_, i)| i).into_iter().collect();
                            idx.push(index);
                            out.push(v(
                                "rotate_from_inactive",
                                idx,
                                format!(
                                    "rotation at {index} replaces {prev}, which is {}",
                                    other.map_or("unknown".to_owned(), |(s, i)| format!("{s:?} since {i}")
                                        .to_lowercase())
                                ),
                            ));
                        }
                    }
                }
                state.set_credential(prev, Status::Superseded, index)?;
            }
            state.set_credential(fp, Status::Active, index)?;
        }
        "revoke" | "unbind" => {
            if rules.revoke_unknown && state.credential(fp)?.is_none() {
                out.push(v(
                    "revoke_unknown",
                    vec![index],
                    format!("{} of {fp}, which was never issued", e.action),
                ));
            }
            state.set_credential(fp, Status::Revoked, index)?;
        }
        "expire" => {
            state.set_credential(fp, Status::Expired, index)?;
        }
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::sample;
    use serde_json::json;

    fn ev(action: &str, fp: &str, prev: Option<&str>, at: &str) -> Event {
        let mut s = sample();
        s["action"] = json!(action);
        s["occurred_at"] = json!(at);
        s["credential"] = json!({"fingerprint": fp});
        if let Some(p) = prev {
            s["credential"]["previous_fingerprint"] = json!(p);
        }
        Event::from_value(&s).expect("event")
    }

    fn f(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn each_rule_fires_with_its_indexes() {
        let r = Rules::default();
        let mut s = LifecycleState::default();
        let t = "2026-11-25T10:00:00Z";
        let (a, b, c, d) = (f('a'), f('b'), f('c'), f('d'));
        assert!(s.check(&r, 0, &ev("issue", &a, None, t)).is_empty());
        assert!(s.check(&r, 1, &ev("rotate", &b, Some(&a), t)).is_empty());
        // a is superseded: rotating away from it again is suspicious.
        let got = s.check(&r, 2, &ev("rotate", &c, Some(&a), t));
        assert_eq!(
            (got[0].rule.as_str(), got[0].indexes.clone()),
            ("rotate_from_inactive", vec![1, 2])
        );
        assert!(s.check(&r, 3, &ev("revoke", &c, None, t)).is_empty());
        let got = s.check(&r, 4, &ev("issue", &c, None, t));
        assert_eq!(
            (got[0].rule.as_str(), got[0].indexes.clone()),
            ("reissue_after_revoke", vec![3, 4])
        );
        let got = s.check(&r, 5, &ev("revoke", &d, None, t));
        assert_eq!(
            (got[0].rule.as_str(), got[0].indexes.clone()),
            ("revoke_unknown", vec![5])
        );
        let mut denied = ev("issue", &f('e'), None, t);
        denied.decision.result = DecisionResult::Deny;
        let got = s.check(&r, 6, &denied);
        assert_eq!(
            (got[0].rule.as_str(), got[0].indexes.clone()),
            ("deny_but_success", vec![6])
        );
        // occurred_at going back 10 minutes for the same target.
        let got = s.check(&r, 7, &ev("x-audit", &a, None, "2026-11-25T09:50:00Z"));
        assert_eq!(
            (got[0].rule.as_str(), got[0].indexes.clone()),
            ("occurred_at_regression", vec![0, 7])
        );
        // Within the skew it is fine; rules can be switched off.
        assert!(
            s.check(&r, 8, &ev("x-audit", &a, None, "2026-11-25T09:58:00Z"))
                .is_empty()
        );
        let off = Rules {
            revoke_unknown: false,
            ..Rules::default()
        };
        assert!(s.check(&off, 9, &ev("revoke", &f('9'), None, t)).is_empty());
        // The state round-trips through JSON (a monitor persists it).
        let back: LifecycleState = serde_json::from_str(&serde_json::to_string(&s).expect("json")).expect("parse");
        assert_eq!(back, s);
    }
}
