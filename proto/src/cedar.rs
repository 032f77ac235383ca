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
    /// Per policy id, the `resource.id like "…"` tests its condition
    /// starts with ([`id_guards`]).
    guards: HashMap<PolicyId, Vec<Pattern>>,
}

/// A `like` pattern, one element per character (`None`: `*`).
type Pattern = Vec<Option<char>>;

fn flatten(pattern: &[Glob]) -> Pattern {
    let mut p = Vec::new();
    for g in pattern {
        match g {
            Glob::Any => p.push(None),
            Glob::Text(cs) => p.extend(cs.iter().copied().map(Some)),
        }
    }
    p
}

/// One element of a Cedar `like` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Glob {
    /// `*`: any run of characters.
    Any,
    /// These characters.
    Text(Vec<char>),
}

/// Cedar's `like`: `*` matches any run of characters, everything else
/// itself.
#[cfg(test)]
fn glob_matches(pattern: &[Glob], text: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    pattern_matches(&flatten(pattern), &t)
}

/// [`glob_matches`] on a flattened pattern and the text's characters.
fn pattern_matches(p: &[Option<char>], t: &[char]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(None) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(Some(c)) if *c == t[ti] => {
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
    p[pi..].iter().all(Option::is_none)
}

/// The tests `resource.id like "<pattern>"` that a policy's condition
/// evaluates first, before anything that could fail: the leading `&&`
/// conjuncts of its leading `when` clauses, in Cedar's evaluation order
/// (clauses in order, `&&` left to right). If one of them does not match,
/// the condition is false and nothing else of it is evaluated, so leaving
/// the policy out gives Cedar's decision, reasons and errors exactly.
/// Anything not recognised ends the list (which is then only shorter).
fn id_guards(est: &serde_json::Value) -> Vec<Vec<Glob>> {
    fn conjuncts<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
        match v.get("&&") {
            Some(and) => {
                conjuncts(&and["left"], out);
                conjuncts(&and["right"], out);
            }
            None => out.push(v),
        }
    }
    fn guard(v: &serde_json::Value) -> Option<Vec<Glob>> {
        let like = v.get("like")?;
        let attr = like.get("left")?.get(".")?;
        if attr.get("left")?.get("Var")?.as_str()? != "resource" || attr.get("attr")?.as_str()? != "id" {
            return None;
        }
        like.get("pattern")?
            .as_array()?
            .iter()
            .map(|e| match e {
                serde_json::Value::String(w) if w == "Wildcard" => Some(Glob::Any),
                other => Some(Glob::Text(other.get("Literal")?.as_str()?.chars().collect())),
            })
            .collect()
    }
    let mut out = Vec::new();
    let Some(clauses) = est.get("conditions").and_then(serde_json::Value::as_array) else {
        return out;
    };
    for clause in clauses {
        if clause.get("kind").and_then(serde_json::Value::as_str) != Some("when") {
            return out;
        }
        let mut parts = Vec::new();
        conjuncts(&clause["body"], &mut parts);
        for part in parts {
            match guard(part) {
                Some(g) => out.push(g),
                None => return out,
            }
        }
    }
    out
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
        let guards = set
            .policies()
            .filter_map(|p| {
                let g = id_guards(&p.to_json().ok()?);
                (!g.is_empty()).then(|| (p.id().clone(), g.iter().map(|x| flatten(x)).collect()))
            })
            .collect();
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
            guards,
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

    /// `slice` without the policies whose [`id_guards`] `target` fails:
    /// the same decision, reasons and errors, fewer policies to evaluate.
    fn narrow(&self, slice: std::sync::Arc<PolicySet>, target: &str) -> std::sync::Arc<PolicySet> {
        if self.guards.is_empty() {
            return slice;
        }
        let t: Vec<char> = target.chars().collect();
        let fails = |p: &cedar_policy::Policy| {
            self.guards
                .get(p.id())
                .is_some_and(|gs| gs.iter().any(|g| !pattern_matches(g, &t)))
        };
        if !slice.policies().any(fails) {
            return slice;
        }
        let mut set = PolicySet::new();
        for p in slice.policies().filter(|p| !fails(p)) {
            // Ids are unique in the slice, so adding cannot fail.
            let _ = set.add(p.clone());
        }
        std::sync::Arc::new(set)
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
        self.evaluate_on(event, facts, true)
    }

    /// [`Engine::evaluate`], on the slice and guards (`sliced`) or on
    /// every policy (to test that both give the same).
    fn evaluate_on(&self, event: &Event, facts: &Facts<'_>, sliced: bool) -> PolicyDecision {
        let deny = |errored: Vec<String>| PolicyDecision {
            cedar: self.version.clone(),
            decision: DecisionResult::Deny,
            policies: Vec::new(),
            errored,
        };
        let Ok((request, entities, action)) = self.request(event, facts) else {
            return deny(Vec::new());
        };
        let set = if sliced {
            self.narrow(self.slice(&action), &event.target.id)
        } else {
            std::sync::Arc::new(self.set.clone())
        };
        let response = self.authorizer.is_authorized(&request, &set, &entities);
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

    #[test]
    fn like_patterns_match_as_cedar_does() {
        let g = |p: &str| -> Vec<Glob> {
            p.split('*')
                .enumerate()
                .flat_map(|(i, part)| {
                    let mut v = Vec::new();
                    if i > 0 {
                        v.push(Glob::Any);
                    }
                    if !part.is_empty() {
                        v.push(Glob::Text(part.chars().collect()));
                    }
                    v
                })
                .collect()
        };
        for (p, t, want) in [
            ("team1/*", "team1/db", true),
            ("team1/*", "team10/db", false),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*-prod", "db-prod", true),
        ] {
            assert_eq!(glob_matches(&g(p), t), want, "{p} ~ {t}");
        }
    }

    use std::fmt::Write as _;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Slicing by action and leaving out policies whose leading
        /// `resource.id like` test fails gives exactly Cedar's answer over
        /// every policy: decision, reasons and errors.
        #[test]
        fn sliced_evaluation_equals_cedar_over_every_policy(
            action in 0usize..5,
            team in 0usize..12,
            suffix in "[a-z/]{0,6}",
            count in 0i64..4,
            state in 0usize..3,
        ) {
            let mut text = String::from("@id(\"all\") permit (principal, action, resource);\n");
            for i in 0..12 {
                let _ = write!(
                    text,
                    "@id(\"two-{i}\") forbid (principal, action == Action::\"revoke\", resource) \
                     when {{ resource.id like \"team{i}/*\" && context.approval_count < 2 }};\n\
                     @id(\"freeze-{i}\") forbid (principal, action in [Action::\"issue\", Action::\"grant\"], resource) \
                     when {{ resource.id like \"team{i}-frozen*\" }} when {{ context.logged_at > 0 }};\n\
                     @id(\"err-{i}\") forbid (principal, action, resource) \
                     when {{ context.credential.state == \"revoked\" && resource.id like \"team{i}*\" }};\n\
                     @id(\"late-{i}\") permit (principal, action, resource) \
                     when {{ resource.id like \"*{i}\" }} unless {{ context.approval_count > 2 }};\n"
                );
            }
            let e = Engine::new(&CedarPolicies { policies: text, schema: None }).expect("engine");
            let mut ev = event();
            ev.action = ["issue", "rotate", "revoke", "grant", "x-other"][action].into();
            ev.target.id = format!("team{team}{suffix}");
            if state == 2 {
                ev.credential = None;
            }
            let f = Facts {
                submitter: "ci",
                approvals: &[],
                logged_at_ms: 1_796_292_000_000 + count,
                credential_state: [Some("active"), Some("revoked"), None][state],
            };
            proptest::prop_assert_eq!(e.evaluate_on(&ev, &f, true), e.evaluate_on(&ev, &f, false));
        }
    }
}
