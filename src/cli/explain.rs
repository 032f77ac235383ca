//! `provlog explain`: the four audit questions about one entry, answered
//! from the log's evidence and checked here with the log's key.

use crate::util::keyfile;
use anyhow::{Context, Result, bail};
use provlog_proto::explain::{Evidence, Explanation, explain};
use std::fmt::Write as _;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The entry index (an event).
    index: u64,
    /// The log's base URL.
    #[arg(long, env = "PROVLOG_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The log's vkey, or a file holding it.
    #[arg(long, env = "PROVLOG_LOG_KEY")]
    log_key: String,
    /// Print the explanation as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(a: &Args) -> Result<()> {
    let key = keyfile::read_verifier(&a.log_key).context("--log-key")?;
    let rt = crate::util::runtime::current_thread()?;
    let url = format!("{}/v1/entries/{}/explain", a.url.trim_end_matches('/'), a.index);
    let body: serde_json::Value = rt.block_on(async {
        let client = crate::client::http_client(std::time::Duration::from_mins(1))?;
        let resp = client.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.with_context(|| format!("GET {url}: not JSON"))?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {body}");
        }
        Ok::<_, anyhow::Error>(body)
    })?;
    let evidence: Evidence = serde_json::from_value(body["evidence"].clone()).context("the evidence is malformed")?;
    // Checked here, with the key given: the server's own reading is not used.
    let x = explain(&evidence, &key).map_err(|e| anyhow::anyhow!("entry {}: {e}", a.index))?;
    if a.json {
        crate::util::output::out(&serde_json::to_string_pretty(&x)?)?;
    } else {
        crate::util::output::out(render(&x).trim_end())?;
    }
    if !x.verified {
        bail!("entry {}: not every check held (marked ✗ above)", a.index);
    }
    Ok(())
}

fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

/// The readable layout: the four questions, then every check.
fn render(x: &Explanation) -> String {
    let mut s = String::new();
    let w = &x.who;
    let _ = writeln!(
        s,
        "entry {}: {} of {} by submitter {}  {}",
        x.index,
        x.what.action,
        x.what.target.id,
        w.submitter,
        if x.verified { "[verified]" } else { "[NOT VERIFIED]" }
    );
    let _ = writeln!(s, "\nWHO APPROVED IT");
    let _ = writeln!(
        s,
        "  submitter {} (signature v{}; scope actions {:?}, targets {:?})",
        w.submitter, w.signature_version, w.submitter_actions, w.submitter_targets
    );
    if w.approvals.is_empty() {
        let _ = writeln!(s, "  no signed approvals");
    }
    for a in &w.approvals {
        let ap = &a.approval;
        let _ = writeln!(
            s,
            "  {} approval {:?} by {}{} for {:?} on {:?}, valid {} .. {}, uses {}{}",
            mark(a.signature_verified),
            ap.id,
            ap.approver,
            if a.groups.is_empty() {
                String::new()
            } else {
                format!(" ({})", a.groups.join(", "))
            },
            ap.actions,
            ap.target,
            ap.not_before,
            ap.not_after,
            ap.uses(),
            ap.refs
                .as_ref()
                .map(|r| format!(", refs {}", r.join(", ")))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "      approver scope: actions {:?}, targets {:?}",
            a.approver_actions, a.approver_targets
        );
    }
    for r in &w.rules {
        let _ = writeln!(s, "  rule {r}");
    }
    if let Some(d) = &w.policy_decision {
        let _ = writeln!(
            s,
            "  policy decision: {} by {:?} (cedar {}){}",
            d.decision.as_str(),
            d.policies,
            d.cedar,
            match &w.reevaluated {
                Some(r) if r == d => ", re-evaluated: the same",
                Some(_) => ", re-evaluated: DIFFERENT",
                None => ", not re-evaluated here",
            }
        );
    }
    let c = &w.claimed;
    if c.approval_id.is_some() || c.approved_by.is_some() || c.scope.is_some() {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        let _ = writeln!(
            s,
            "  the event claims: approval_id {}, approved_by {}, scope {}",
            or_none(&c.approval_id),
            or_none(&c.approved_by),
            or_none(&c.scope)
        );
    }
    let _ = writeln!(s, "\nWHAT CHANGED");
    let _ = writeln!(
        s,
        "  {} of {} ({}{}), outcome {}, decision {}",
        x.what.action,
        x.what.target.id,
        x.what.target.kind,
        x.what
            .target
            .system
            .as_ref()
            .map(|sys| format!(" in {sys}"))
            .unwrap_or_default(),
        x.what.outcome,
        x.what.decision
    );
    if let Some(cr) = &x.what.credential {
        let _ = writeln!(
            s,
            "  credential {}{}",
            cr.fingerprint,
            cr.previous_fingerprint
                .as_ref()
                .map(|p| format!(" (replaces {p})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(s, "\nWHEN");
    let _ = writeln!(
        s,
        "  occurred_at {}, logged_at {}, first included in the checkpoint of size {}",
        x.when.occurred_at, x.when.logged_at, x.when.first_checkpoint_size
    );
    let _ = writeln!(s, "\nIDENTITY STATE");
    let state = |v: &Option<provlog_proto::explain::StateView>| match v {
        None => "not asked".to_owned(),
        Some(v) => match &v.record {
            None => format!("unknown (proven absent at commitment {})", v.commitment_index),
            Some(r) => format!(
                "{} (record version {}, owner {}, commitment {})",
                r.state.as_str(),
                r.version,
                r.owner.id,
                v.commitment_index
            ),
        },
    };
    if x.what.credential.is_some() {
        let _ = writeln!(s, "  before: {}", state(&x.state.before));
        let _ = writeln!(s, "  after:  {}", state(&x.state.after));
    } else {
        let _ = writeln!(s, "  the event names no credential");
    }
    let _ = writeln!(s, "\nCHECKS");
    for c in &x.checks {
        let _ = writeln!(
            s,
            "  {} {}{}",
            mark(c.ok),
            c.what,
            if c.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", c.detail)
            }
        );
    }
    s
}
