//! Policy as code (docs/DESIGN.md "Cedar policies"): the registry's Cedar
//! policies and schema, checked when a registry is made, and evaluated for
//! each event by the sequencer and again by every auditor, with the same
//! Cedar version, from the log alone.
//!
//! The request for an event is
//! * principal `Submitter::"<submitter id>"` (attribute `id`);
//! * action `Action::"<action>"`;
//! * resource `Target::"<target.id>"` (attributes `id`, `type`, and
//!   `system` when the event names one);
//! * context `{actor: {id, type}, approvers: Set<String>, approver_groups:
//!   Set<String>, approval_count: Long, approval_ids: Set<String>,
//!   logged_at: Long (Unix seconds), outcome: String, claimed_decision:
//!   String, credential?: {fingerprint, state}}`, where `credential.state`
//!   is the credential's state in the map before this event (`"active"`,
//!   `"superseded"`, `"revoked"`, `"expired"`, or `"unknown"`).
//!
//! Every policy carries an `@id("…")` annotation: the ids are what the log
//! records as having determined a decision, so they must not depend on the
//! order of the text. Templates are refused.

use crate::approval::SignedApproval;
use crate::event::{DecisionResult, Event};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId, PolicySet, Request,
    RestrictedExpression, Schema, ValidationMode, Validator,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

/// Largest policy text, bytes.
pub const MAX_POLICY_BYTES: usize = 48 * 1024;
/// Largest schema text, bytes.
pub const MAX_SCHEMA_BYTES: usize = 16 * 1024;
/// Most policies in a registry.
pub const MAX_POLICIES: usize = 200;

/// The Cedar member of a registry, as logged: the policy text and,
/// optionally, the schema they are validated against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CedarPolicies {
    /// Cedar policies (human-readable syntax), each with `@id("…")`.
    pub policies: String,
    /// A Cedar schema (human-readable syntax); with one, policies are
    /// validated strictly and requests are checked against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// The Cedar version that evaluates policies, as recorded in entries.
#[must_use]
pub fn version() -> String {
    cedar_policy::get_sdk_version().to_string()
}

/// The line (1-based) of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |t| t.matches('\n').count() + 1)
}

/// The first labelled line of a Cedar diagnostic, as ` (line N)`.
fn at_line(text: &str, d: &dyn miette::Diagnostic) -> String {
    d.labels()
        .and_then(|mut l| l.next())
        .map(|l| format!(" (line {})", line_of(text, l.offset())))
        .unwrap_or_default()
}

/// Most actions whose policy slice is kept ([`Engine::slice`]); past it,
/// slices of further actions are computed per request (an `x-` action
/// name is the submitter's choice, so the cache must not grow with it).
const MAX_SLICES: usize = 64;

/// Policies ready to evaluate.
#[derive(Debug)]
pub struct Engine {
    set: PolicySet,
    schema: Option<Schema>,
    /// The schema's action entities (empty without a schema), the base of
    /// every request's entities.
    actions: Entities,
    ids: Vec<String>,
    authorizer: Authorizer,
    /// `Submitter`, `Action`, `Target`, parsed once.
    types: [EntityTypeName; 3],
    /// [`version`], formatted once.
    version: String,
    /// Per action, the policies whose action scope can match it.
    slices: std::sync::Mutex<HashMap<String, std::sync::Arc<PolicySet>>>,
}

/// What the log decided for an event, as an entry records it
/// (`policy_decision`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDecision {
    /// The Cedar version that evaluated it.
    pub cedar: String,
    /// `allow` or `deny`.
    pub decision: DecisionResult,
    /// Ids of the policies that determined it (sorted; empty for a
    /// default deny).
    pub policies: Vec<String>,
    /// Ids of the policies whose evaluation failed (sorted, omitted when
    /// none): they count as not satisfied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errored: Vec<String>,
}

impl PolicyDecision {
    /// RFC 8785 bytes, as spliced into the leaf.
    #[must_use]
    pub fn canonical(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).unwrap_or_default();
        crate::json::canonical(&v).unwrap_or_default()
    }
}

/// What a request for an event is made of beyond the event.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The submitter.
    pub submitter: &'a str,
    /// The approvals it carries (already checked), with each approver's groups.
    pub approvals: &'a [(&'a SignedApproval, &'a [String])],
    /// `logged_at`, Unix ms.
    pub logged_at_ms: i64,
    /// The state of `credential.fingerprint` in the map before the event
    /// (`None`: unknown, or the event names none).
    pub credential_state: Option<&'a str>,
}

/// Why a registry's policies are refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("cedar: {0}")]
pub struct CedarError(pub String);

impl Engine {
    /// Parses and checks `p`: sizes, every policy has a unique `@id`, no
    /// templates; with a schema, the schema parses and every policy
    /// validates strictly against it. Errors name the policy and line.
    ///
    /// # Errors
    /// [`CedarError`] saying what and where.
    pub fn new(p: &CedarPolicies) -> Result<Self, CedarError> {
        let bad = |s: String| CedarError(s);
        if p.policies.len() > MAX_POLICY_BYTES {
            return Err(bad(format!(
                "policies are {} bytes; the limit is {MAX_POLICY_BYTES}",
                p.policies.len()
            )));
        }
        let parsed = PolicySet::from_str(&p.policies)
            .map_err(|e| bad(format!("policies do not parse{}: {e}", at_line(&p.policies, &e))))?;
        if parsed.templates().next().is_some() {
            return Err(bad(
                "templates (policies with ?principal or ?resource) are not supported".into(),
            ));
        }
        let mut set = PolicySet::new();
        let mut ids = Vec::new();
        for (n, policy) in parsed.policies().enumerate() {
            let Some(id) = policy.annotation("id") else {
                return Err(bad(format!(
                    "policy #{} has no @id(\"…\") annotation: the log records decisions by id",
                    n + 1
                )));
            };
            if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
                return Err(bad(format!("policy #{}: @id must be 1 to 128 characters", n + 1)));
            }
            set.add(policy.new_id(PolicyId::new(id)))
                .map_err(|_| bad(format!("policy id {id:?} appears more than once")))?;
            ids.push(id.to_owned());
        }
        if ids.len() > MAX_POLICIES {
            return Err(bad(format!("{} policies; the limit is {MAX_POLICIES}", ids.len())));
        }
        let schema = match &p.schema {
            None => None,
            Some(text) => {
                if text.len() > MAX_SCHEMA_BYTES {
                    return Err(bad(format!(
                        "schema is {} bytes; the limit is {MAX_SCHEMA_BYTES}",
                        text.len()
                    )));
                }
                let (schema, _) = Schema::from_cedarschema_str(text)
                    .map_err(|e| bad(format!("schema does not parse{}: {e}", at_line(text, &e))))?;
                let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
                if let Some(e) = result.validation_errors().next() {
                    return Err(bad(format!(
                        "policy {:?} does not validate against the schema{}: {e}",
                        e.policy_id().to_string(),
                        at_line(&p.policies, e)
                    )));
                }
                Some(schema)
            }
        };
        let actions = match &schema {
            Some(s) => s.action_entities().map_err(|e| bad(format!("schema actions: {e}")))?,
            None => Entities::empty(),
        };
        Ok(Self {
            set,
            schema,
            actions,
            ids,
            authorizer: Authorizer::new(),
            types: ["Submitter", "Action", "Target"].map(|t| {
                // Literal, valid type names: parsing cannot fail.
                EntityTypeName::from_str(t).unwrap_or_else(|_| unreachable!("{t} is a type name"))
            }),
            version: version(),
            slices: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The policies whose action scope can match `action`: unconstrained,
    /// `== action`, or `in` a list naming it or an action group it belongs
    /// to in the schema. Evaluating only these gives the same decision,
    /// reasons and errors as evaluating all: a policy whose scope does not
    /// match is never satisfied, and its condition is never evaluated.
    fn slice(&self, action: &EntityUid) -> std::sync::Arc<PolicySet> {
        let key = action.id().unescaped().to_owned();
        if let Some(s) = self.slices.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return s;
        }
        let groups: HashSet<&EntityUid> = self
            .actions
            .ancestors(action)
            .map(Iterator::collect)
            .unwrap_or_default();
        let matches = |uid: &EntityUid| uid == action || groups.contains(uid);
        let mut set = PolicySet::new();
        for p in self.set.policies() {
            let keep = match p.action_constraint() {
                cedar_policy::ActionConstraint::Any => true,
                cedar_policy::ActionConstraint::Eq(uid) => matches(&uid),
                cedar_policy::ActionConstraint::In(uids) => uids.iter().any(matches),
            };
            if keep {
                // Ids are unique in `self.set`, so adding cannot fail.
                let _ = set.add(p.clone());
            }
        }
        let set = std::sync::Arc::new(set);
        if let Ok(mut m) = self.slices.lock()
            && m.len() < MAX_SLICES
        {
            m.insert(key, std::sync::Arc::clone(&set));
        }
        set
    }

    /// The policy ids, in text order.
    #[must_use]
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Evaluates the policies for `event` with `facts`. A request that the
    /// schema refuses (an undeclared action, a context of the wrong shape)
    /// is a deny determined by no policy.
    #[must_use]
    pub fn evaluate(&self, event: &Event, facts: &Facts<'_>) -> PolicyDecision {
        let deny = |errored: Vec<String>| PolicyDecision {
            cedar: self.version.clone(),
            decision: DecisionResult::Deny,
            policies: Vec::new(),
            errored,
        };
        let Ok((request, entities, action)) = self.request(event, facts) else {
            return deny(Vec::new());
        };
        let response = self.authorizer.is_authorized(&request, &self.slice(&action), &entities);
        let sorted = |ids: BTreeSet<String>| ids.into_iter().collect::<Vec<_>>();
        let policies = sorted(response.diagnostics().reason().map(ToString::to_string).collect());
        let errored = sorted(
            response
                .diagnostics()
                .errors()
                .map(|e| match e {
                    cedar_policy::AuthorizationError::PolicyEvaluationError(p) => p.policy_id().to_string(),
                })
                .collect(),
        );
        PolicyDecision {
            cedar: self.version.clone(),
            decision: match response.decision() {
                Decision::Allow => DecisionResult::Allow,
                Decision::Deny => DecisionResult::Deny,
            },
            policies,
            errored,
        }
    }

    fn request(&self, e: &Event, f: &Facts<'_>) -> Result<(Request, Entities, EntityUid), String> {
        let uid = |ty: &EntityTypeName, id: &str| EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id));
        let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
        let [sub_t, act_t, tgt_t] = &self.types;
        let principal = uid(sub_t, f.submitter);
        let action = uid(act_t, &e.action);
        let resource = uid(tgt_t, &e.target.id);
        let mut target = HashMap::from([
            ("id".to_owned(), s(&e.target.id)),
            ("type".to_owned(), s(&e.target.kind)),
        ]);
        if let Some(sys) = &e.target.system {
            target.insert("system".to_owned(), s(sys));
        }
        let entities = [
            Entity::new(
                principal.clone(),
                HashMap::from([("id".to_owned(), s(f.submitter))]),
                HashSet::new(),
            )
            .map_err(|e| e.to_string())?,
            Entity::new(resource.clone(), target, HashSet::new()).map_err(|e| e.to_string())?,
        ];
        let entities = match &self.schema {
            None => Entities::from_entities(entities, None),
            Some(schema) => self.actions.clone().add_entities(entities, Some(schema)),
        }
        .map_err(|e| e.to_string())?;
        let set = |items: BTreeSet<&str>| RestrictedExpression::new_set(items.into_iter().map(s));
        let approvers: BTreeSet<&str> = f.approvals.iter().map(|(a, _)| a.approval.approver.as_str()).collect();
        let groups: BTreeSet<&str> = f
            .approvals
            .iter()
            .flat_map(|(_, g)| g.iter().map(String::as_str))
            .collect();
        let ids: BTreeSet<&str> = f.approvals.iter().map(|(a, _)| a.approval.id.as_str()).collect();
        let record = |fields: Vec<(&str, RestrictedExpression)>| {
            RestrictedExpression::new_record(fields.into_iter().map(|(k, v)| (k.to_owned(), v)))
                .map_err(|e| e.to_string())
        };
        let count = i64::try_from(f.approvals.len()).unwrap_or(i64::MAX);
        let mut context = vec![
            (
                "actor",
                record(vec![("id", s(&e.actor.id)), ("type", s(&e.actor.kind))])?,
            ),
            ("approvers", set(approvers)),
            ("approver_groups", set(groups)),
            ("approval_ids", set(ids)),
            ("approval_count", RestrictedExpression::new_long(count)),
            (
                "logged_at",
                RestrictedExpression::new_long(f.logged_at_ms.div_euclid(1000)),
            ),
            ("outcome", s(e.outcome.as_str())),
            ("claimed_decision", s(e.decision.result.as_str())),
        ];
        if let Some(c) = &e.credential {
            context.push((
                "credential",
                record(vec![
                    ("fingerprint", s(&c.fingerprint)),
                    ("state", s(f.credential_state.unwrap_or("unknown"))),
                ])?,
            ));
        }
        let context =
            Context::from_pairs(context.into_iter().map(|(k, v)| (k.to_owned(), v))).map_err(|e| e.to_string())?;
        let request = Request::new(principal, action.clone(), resource, context, self.schema.as_ref())
            .map_err(|e| e.to_string())?;
        Ok((request, entities, action))
    }
}

/// Why an event's claimed decision is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecisionError {
    /// The log's decision differs from the event's `decision`.
    #[error(
        "the registry's policies decide {} (policies {:?}), but the event claims {}{}",
        decided.decision.as_str(), decided.policies, claimed.as_str(),
        policy_id.as_ref().map(|p| format!(" by policy {p:?}")).unwrap_or_default()
    )]
    Mismatch {
        /// The log's decision.
        decided: PolicyDecision,
        /// The event's `decision.result`.
        claimed: DecisionResult,
        /// The event's `decision.policy_id`.
        policy_id: Option<String>,
    },
}

impl DecisionError {
    /// The stable error code: `policy_denied` when the policies deny an
    /// event that claims `allow`, `decision_mismatch` for any other
    /// disagreement.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Mismatch {
                decided:
                    PolicyDecision {
                        decision: DecisionResult::Deny,
                        ..
                    },
                claimed: DecisionResult::Allow,
                ..
            } => "policy_denied",
            Self::Mismatch { .. } => "decision_mismatch",
        }
    }
}

/// Checks the event's claimed `decision` against the log's: the results
/// must be equal, and a claimed `policy_id` must be among the policies
/// that determined it.
///
/// # Errors
/// [`DecisionError::Mismatch`].
pub fn check_claim(event: &Event, decided: &PolicyDecision) -> Result<(), DecisionError> {
    let claimed = event.decision.result;
    let pid = event.decision.policy_id.as_ref();
    if claimed != decided.decision || pid.is_some_and(|p| !decided.policies.contains(p)) {
        return Err(DecisionError::Mismatch {
            decided: decided.clone(),
            claimed,
            policy_id: pid.cloned(),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::tests::sample;

    pub(crate) const POLICIES: &str = r#"
@id("submitters-act-within-scope")
permit (principal, action, resource);

@id("prod-revocations-need-two")
forbid (principal, action == Action::"revoke", resource)
when { resource.id like "prod/*" && context.approval_count < 2 };

@id("no-reviving-revoked")
forbid (principal, action, resource)
when { context has credential && context.credential.state == "revoked" && action != Action::"revoke" };
"#;

    fn event() -> Event {
        Event::from_value(&sample()).expect("event")
    }

    fn facts(state: Option<&'static str>) -> Facts<'static> {
        Facts {
            submitter: "ci",
            approvals: &[],
            logged_at_ms: 1_764_064_800_000,
            credential_state: state,
        }
    }

    #[test]
    fn decisions_name_their_policies() {
        let e = Engine::new(&CedarPolicies {
            policies: POLICIES.into(),
            schema: None,
        })
        .expect("engine");
        assert_eq!(e.ids().len(), 3);
        let d = e.evaluate(&event(), &facts(Some("active")));
        assert_eq!(d.decision, DecisionResult::Allow);
        assert_eq!(d.policies, vec!["submitters-act-within-scope".to_owned()]);
        let d = e.evaluate(&event(), &facts(Some("revoked")));
        assert_eq!(d.decision, DecisionResult::Deny);
        assert_eq!(d.policies, vec!["no-reviving-revoked".to_owned()]);
        let mut revoke = event();
        revoke.action = "revoke".into();
        revoke.target.id = "prod/db".into();
        let d = e.evaluate(&revoke, &facts(None));
        assert_eq!(
            (d.decision, d.policies.as_slice()),
            (
                DecisionResult::Deny,
                ["prod-revocations-need-two".to_owned()].as_slice()
            )
        );
        // The claim must agree.
        let mut claim = event();
        claim.decision.policy_id = None;
        assert!(check_claim(&claim, &e.evaluate(&claim, &facts(None))).is_ok());
        claim.decision.policy_id = Some("rot-90d".into());
        assert!(check_claim(&claim, &e.evaluate(&claim, &facts(None))).is_err());
        claim.decision.policy_id = Some("submitters-act-within-scope".into());
        assert!(check_claim(&claim, &e.evaluate(&claim, &facts(None))).is_ok());
        claim.decision.result = DecisionResult::Deny;
        claim.decision.policy_id = None;
        assert_eq!(
            check_claim(&claim, &e.evaluate(&claim, &facts(None)))
                .expect_err("x")
                .code(),
            "decision_mismatch"
        );
        let denied = e.evaluate(&claim, &facts(Some("revoked")));
        assert!(
            check_claim(&claim, &denied).is_ok(),
            "a deny record of a denied action agrees"
        );
        claim.decision.result = DecisionResult::Allow;
        assert_eq!(check_claim(&claim, &denied).expect_err("x").code(), "policy_denied");
    }

    #[test]
    fn bad_policies_are_refused_with_where() {
        let err = |p: &str, s: Option<&str>| {
            Engine::new(&CedarPolicies {
                policies: p.into(),
                schema: s.map(Into::into),
            })
            .expect_err("refused")
            .0
        };
        let e = err(
            "@id(\"a\")\npermit (principal, action, resource);\n\n@id(\"b\")\npermit (principal, action resource);",
            None,
        );
        assert!(e.contains("do not parse") && e.contains("line 5"), "{e}");
        let e = err("permit (principal, action, resource);", None);
        assert!(e.contains("@id"), "{e}");
        let e = err(
            "@id(\"a\") permit (principal, action, resource);\n@id(\"a\") forbid (principal, action, resource);",
            None,
        );
        assert!(e.contains("more than once"), "{e}");
        let e = err("@id(\"t\") permit (principal == ?principal, action, resource);", None);
        assert!(e.contains("template"), "{e}");
        let schema = "entity Submitter { id: String };\nentity Target { id: String, type: String, system?: String };\naction rotate appliesTo { principal: Submitter, resource: Target, context: {} };";
        let e = err(
            "@id(\"ok\")\npermit (principal, action, resource);\n@id(\"typo\")\npermit (principal, action, resource)\nwhen { resource.sytem == \"gcp\" };",
            Some(schema),
        );
        assert!(e.contains("\"typo\"") && e.contains("line 5"), "{e}");
        let e = err("@id(\"a\") permit (principal, action, resource);", Some("entity {"));
        assert!(e.contains("schema does not parse"), "{e}");
        let big = format!(
            "@id(\"a\") permit (principal, action, resource);{}",
            " ".repeat(MAX_POLICY_BYTES)
        );
        assert!(err(&big, None).contains("limit"));
    }

    /// The example schema and policies of docs/examples validate, and a
    /// request provlog makes conforms to the schema (a mismatch would be
    /// a deny determined by no policy).
    #[test]
    fn the_documented_schema_fits_the_requests() {
        let e = Engine::new(&CedarPolicies {
            policies: include_str!("../../docs/examples/policies.cedar").into(),
            schema: Some(include_str!("../../docs/examples/provlog.cedarschema").into()),
        })
        .expect("the examples validate");
        let mut ev = event();
        ev.decision.policy_id = None;
        let d = e.evaluate(&ev, &facts(Some("active")));
        assert_eq!(d.decision, DecisionResult::Allow, "{d:?}");
        assert_eq!(d.policies, vec!["submitters-within-scope".to_owned()]);
        let d = e.evaluate(&ev, &facts(Some("revoked")));
        assert_eq!(d.policies, vec!["revoked-stays-revoked".to_owned()]);
        let mut revoke = ev.clone();
        revoke.action = "revoke".into();
        revoke.target.id = "prod/db-main".into();
        assert_eq!(
            e.evaluate(&revoke, &facts(None)).policies,
            vec!["prod-revocations-need-two-oncall".to_owned()]
        );
        // An action the schema does not declare is a deny by no policy.
        let mut odd = ev;
        odd.action = "x-custom".into();
        let d = e.evaluate(&odd, &facts(None));
        assert_eq!((d.decision, d.policies.len()), (DecisionResult::Deny, 0));
    }
}
