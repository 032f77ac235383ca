//! Answering the four audit questions about one entry (docs/DESIGN.md
//! "Explaining an entry"): who approved it, what changed, when, and which
//! credential state was in force, each from evidence the log serves
//! ([`Evidence`], `GET /v1/entries/<i>/explain`) and checked here offline
//! with nothing but the log's key ([`explain`]).

use crate::approval;
use crate::cedar::PolicyDecision;
use crate::credential::{CredentialAnswer, Requirements};
use crate::event::{Authority, Credential, Event, Target};
use crate::leaf::{EventLeaf, Leaf};
use crate::ledger::CredentialRecord;
use crate::policy::Registry;
use crate::time;
use provlog_tlog::b64;
use provlog_tlog::checkpoint::open_checkpoint;
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::{Hash, leaf_hash, verify_consistency, verify_inclusion};
use serde::{Deserialize, Serialize};

/// What the log serves to explain entry `index`: the entry and the policy
/// leaf in force with their inclusion proofs, the first checkpoint that
/// included the entry with its consistency to the latest, and the
/// credential's committed state before and after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The entry explained.
    pub index: u64,
    /// The latest signed checkpoint, which every proof leads to.
    pub checkpoint: String,
    /// Base64 entry bytes.
    pub entry: String,
    /// Base64 inclusion proof of the entry.
    pub proof: Vec<String>,
    /// Index of the policy leaf in force (the last one before `index`).
    pub policy_index: u64,
    /// Base64 bytes of that policy leaf.
    pub policy_entry: String,
    /// Base64 inclusion proof of the policy leaf.
    pub policy_proof: Vec<String>,
    /// The checkpoint signed for the batch that appended the entry.
    pub first_checkpoint: String,
    /// Base64 consistency proof from it to `checkpoint`.
    pub first_consistency: Vec<String>,
    /// The credential's committed state in force before the entry (`?at=`
    /// the entry before it), if the event names a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<CredentialAnswer>,
    /// Its committed state after the entry's batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<CredentialAnswer>,
    /// Indexes of events naming the credential between the commitment
    /// `before` is against and the entry (same batch): the state the
    /// policies saw is then not `before`'s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub between: Vec<u64>,
}

/// One check and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked.
    pub what: String,
    /// Whether it held.
    pub ok: bool,
    /// Why not, or what it rests on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One approval as explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalView {
    /// The approval as signed.
    pub approval: approval::Approval,
    /// The approver's groups in the registry in force.
    pub groups: Vec<String>,
    /// The approver's `actions` in the registry in force.
    pub approver_actions: Vec<String>,
    /// The approver's `targets` in the registry in force.
    pub approver_targets: Vec<String>,
    /// Whether its signature verifies for this log under the approver's key.
    pub signature_verified: bool,
}

/// Who authorized the entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Who {
    /// The submitter.
    pub submitter: String,
    /// Its `actions` and `targets` in the registry in force.
    pub submitter_actions: Vec<String>,
    /// Its `targets`.
    pub submitter_targets: Vec<String>,
    /// The event signature's version (2: bound to this log).
    pub signature_version: u64,
    /// The approvals it carried.
    pub approvals: Vec<ApprovalView>,
    /// The approval rules that applied, as `id: N [from group]`.
    pub rules: Vec<String>,
    /// What the event claims (`authority`).
    pub claimed: Authority,
    /// The decision the log recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_decision: Option<PolicyDecision>,
    /// The decision re-evaluated here, when it could be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reevaluated: Option<PolicyDecision>,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct What {
    /// The action.
    pub action: String,
    /// The target.
    pub target: Target,
    /// The credential, if named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
    /// `success` or `failure`.
    pub outcome: String,
    /// The event's claimed decision.
    pub decision: String,
}

/// When.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct When {
    /// When it happened, per the submitter.
    pub occurred_at: String,
    /// When the log sequenced it.
    pub logged_at: String,
    /// Size of the first checkpoint that included it.
    pub first_checkpoint_size: u64,
}

/// A committed credential state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateView {
    /// The record (`None`: proven absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<CredentialRecord>,
    /// The state commitment it is proven against.
    pub commitment_index: u64,
}

/// Which credential state was in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct States {
    /// Before the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<StateView>,
    /// After its batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<StateView>,
}

/// The four answers about one entry, and every check behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The entry.
    pub index: u64,
    /// Whether every check held.
    pub verified: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// Who approved it.
    pub who: Who,
    /// What changed.
    pub what: What,
    /// When.
    pub when: When,
    /// Whether the intended identity state was in force.
    pub state: States,
}

/// Why evidence cannot be explained at all (a check that fails is reported
/// in [`Explanation::checks`] instead).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ExplainError(pub String);

fn decode(list: &[String]) -> Result<Vec<Hash>, ExplainError> {
    list.iter()
        .map(|p| b64::decode_array(p).ok_or_else(|| ExplainError("a proof hash is not base64 of 32 bytes".into())))
        .collect()
}

fn bytes(s: &str, what: &str) -> Result<Vec<u8>, ExplainError> {
    b64::decode(s).map_err(|_| ExplainError(format!("{what} is not base64")))
}

/// Checks `ev` with the log's key and answers the four questions. Nothing
/// is trusted that a check did not establish; the checks that fail are
/// listed with why.
///
/// # Errors
/// [`ExplainError`]: the checkpoint is not signed by `log_key`, or the
/// entry is not an event leaf; nothing can be explained then.
pub fn explain(ev: &Evidence, log_key: &VerifierKey) -> Result<Explanation, ExplainError> {
    let mut checks = Vec::new();
    let mut check = |what: &str, ok: bool, detail: String| {
        checks.push(Check {
            what: what.to_owned(),
            ok,
            detail,
        });
    };
    let (cp, _) =
        open_checkpoint(ev.checkpoint.as_bytes(), log_key).map_err(|e| ExplainError(format!("checkpoint: {e}")))?;
    let origin = cp.origin.clone();
    let entry = bytes(&ev.entry, "entry")?;
    let incl = verify_inclusion(ev.index, cp.size, &leaf_hash(&entry), &decode(&ev.proof)?, &cp.root);
    check(
        "the entry is included in the log's signed checkpoint",
        incl.is_ok(),
        incl.err()
            .map_or_else(|| format!("{origin} size {}", cp.size), |e| e.to_string()),
    );
    let Ok(Leaf::Event(e)) = Leaf::parse(&entry) else {
        return Err(ExplainError(format!("entry {} is not an event", ev.index)));
    };
    let e: EventLeaf = *e;
    let event: &Event = &e.event.event;
    // The registry in force.
    let pentry = bytes(&ev.policy_entry, "policy entry")?;
    let pincl = verify_inclusion(
        ev.policy_index,
        cp.size,
        &leaf_hash(&pentry),
        &decode(&ev.policy_proof)?,
        &cp.root,
    );
    let registry = match Leaf::parse(&pentry) {
        Ok(Leaf::Policy(p)) if ev.policy_index < ev.index => Registry::new(p.policy).map_err(|e| e.to_string()),
        Ok(_) => Err(format!(
            "entry {} is not a policy leaf before the entry",
            ev.policy_index
        )),
        Err(err) => Err(err.to_string()),
    };
    check(
        "the registry in force is a logged policy leaf before the entry",
        pincl.is_ok() && registry.is_ok(),
        match (&pincl, &registry) {
            (Err(err), _) => err.to_string(),
            (_, Err(err)) => err.clone(),
            _ => format!(
                "policy leaf {} (that none is between it and the entry is what `provlog audit` proves)",
                ev.policy_index
            ),
        },
    );
    // When: the first checkpoint that included it.
    let first = open_checkpoint(ev.first_checkpoint.as_bytes(), log_key).map_err(|e| e.to_string());
    let first_size = first.as_ref().map_or(0, |(c, _)| c.size);
    let first_ok = match &first {
        Ok((f, _)) if f.size > ev.index && f.size <= cp.size => {
            verify_consistency(f.size, cp.size, &f.root, &cp.root, &decode(&ev.first_consistency)?)
                .map_err(|e| e.to_string())
        }
        Ok((f, _)) => Err(format!("its size {} does not include entry {}", f.size, ev.index)),
        Err(err) => Err(err.clone()),
    };
    check(
        "the first checkpoint that included it is signed and consistent with the latest",
        first_ok.is_ok(),
        first_ok.err().unwrap_or_else(|| format!("size {first_size}")),
    );
    let logged_ms = time::parse_millis(&e.logged_at).unwrap_or(0);
    let mut approvals = Vec::new();
    let mut rules = Vec::new();
    let (mut sub_actions, mut sub_targets) = (Vec::new(), Vec::new());
    let mut reevaluated = None;
    if let Ok(reg) = &registry {
        match reg.check_scope(&e.submitter, event, logged_ms) {
            Ok(s) => {
                sub_actions.clone_from(&s.policy.actions);
                sub_targets.clone_from(&s.policy.targets);
                let sig = e.verify(&s.key, &origin);
                check(
                    "the submitter's signature verifies under its key in force",
                    sig,
                    format!("signature version {}", e.version.number()),
                );
                check("the event was within the submitter's scope", true, String::new());
            }
            Err(err) => check("the event was within the submitter's scope", false, err.to_string()),
        }
        for a in &e.approvals {
            let ap = reg.approver(&a.approval.approver);
            approvals.push(ApprovalView {
                approval: a.approval.clone(),
                groups: ap.map(|p| p.policy.groups.clone()).unwrap_or_default(),
                approver_actions: ap.map(|p| p.policy.actions.clone()).unwrap_or_default(),
                approver_targets: ap.map(|p| p.policy.targets.clone()).unwrap_or_default(),
                signature_verified: ap.is_some_and(|p| a.verify(&p.key, &origin)),
            });
        }
        for r in reg.approval_rules().iter().filter(|r| r.applies(event)) {
            rules.push(format!(
                "{}: {} approval(s){}",
                r.id,
                r.approvals,
                r.group.as_ref().map(|g| format!(" from {g}")).unwrap_or_default()
            ));
        }
        let checked = approval::check(reg, &e.submitter, event, &e.approvals, logged_ms, &mut |_, a, k| {
            a.verify(k, &origin)
        });
        check(
            "its approvals authorize it under the registry in force (uses are counted by `provlog audit`)",
            checked.is_ok(),
            checked.err().map_or_else(
                || format!("{} approval(s); {} rule(s) applied", e.approvals.len(), rules.len()),
                |e| e.to_string(),
            ),
        );
    }
    // Which state was in force.
    let fp = event.credential.as_ref().map(|c| c.fingerprint.clone());
    let now_ms = logged_ms;
    let verify = |answer: &CredentialAnswer, at: u64| {
        answer.verify_for(
            fp.as_deref().unwrap_or_default(),
            &Requirements {
                log_key,
                witnesses: &[],
                min_witnesses: 0,
                now_millis: now_ms,
                max_age_millis: i64::MAX,
                as_of_entry: Some(at),
            },
        )
    };
    let mut states = States {
        before: None,
        after: None,
    };
    let mut before_state: Option<Option<&'static str>> = None;
    if fp.is_some() {
        match (&ev.before, ev.index.checked_sub(1)) {
            (Some(b), Some(at)) => match verify(b, at) {
                Ok(v) => {
                    before_state = Some(v.record.as_ref().map(|r| r.state.as_str()));
                    check(
                        "the credential's state before it is proven in a committed map",
                        true,
                        format!("commitment at entry {}", v.commitment_index),
                    );
                    states.before = Some(StateView {
                        record: v.record,
                        commitment_index: v.commitment_index,
                    });
                }
                Err(err) => check(
                    "the credential's state before it is proven in a committed map",
                    false,
                    err.to_string(),
                ),
            },
            (None, Some(_)) => check(
                "the credential's state before it is proven in a committed map",
                false,
                "no answer was given".into(),
            ),
            _ => {}
        }
        match &ev.after {
            Some(a) => match verify(a, first_size.saturating_sub(1)) {
                Ok(v) => {
                    let holds = v.record.as_ref().is_some_and(|r| r.last_index >= ev.index)
                        || event.outcome.as_str() != "success";
                    check(
                        "the credential's state after it is proven in the map its batch committed",
                        true,
                        format!(
                            "commitment at entry {}{}",
                            v.commitment_index,
                            if holds {
                                ""
                            } else {
                                "; the record was not changed by this entry"
                            }
                        ),
                    );
                    states.after = Some(StateView {
                        record: v.record,
                        commitment_index: v.commitment_index,
                    });
                }
                Err(err) => check(
                    "the credential's state after it is proven in the map its batch committed",
                    false,
                    err.to_string(),
                ),
            },
            None => check(
                "the credential's state after it is proven in the map its batch committed",
                false,
                "no answer was given".into(),
            ),
        }
    }
    // The policy decision, re-evaluated with the state before.
    if let Ok(reg) = &registry
        && reg.engine().is_some()
    {
        if ev.between.is_empty() && (fp.is_none() || before_state.is_some()) {
            let d = reg
                .decide(&e.submitter, event, &e.approvals, logged_ms, before_state.flatten())
                .unwrap_or_else(|| unreachable!("the registry has an engine"));
            let same = e.policy_decision.as_ref() == Some(&d);
            check(
                "re-evaluating the registry's Cedar policies gives the decision the log recorded",
                same,
                format!("{} by {:?} (cedar {})", d.decision.as_str(), d.policies, d.cedar),
            );
            reevaluated = Some(d);
        } else {
            check(
                "re-evaluating the registry's Cedar policies gives the decision the log recorded",
                e.policy_decision.is_some(),
                format!(
                    "not re-evaluated here: events {:?} changed the credential earlier in the same batch; `provlog audit` replays them",
                    ev.between
                ),
            );
        }
    }
    let verified = checks.iter().all(|c| c.ok);
    Ok(Explanation {
        index: ev.index,
        verified,
        checks,
        who: Who {
            submitter: e.submitter.clone(),
            submitter_actions: sub_actions,
            submitter_targets: sub_targets,
            signature_version: e.version.number(),
            approvals,
            rules,
            claimed: event.authority.clone(),
            policy_decision: e.policy_decision.clone(),
            reevaluated,
        },
        what: What {
            action: event.action.clone(),
            target: event.target.clone(),
            credential: event.credential.clone(),
            outcome: event.outcome.as_str().to_owned(),
            decision: event.decision.result.as_str().to_owned(),
        },
        when: When {
            occurred_at: event.occurred_at.clone(),
            logged_at: e.logged_at.clone(),
            first_checkpoint_size: first_size,
        },
        state: states,
    })
}
