//! `provlog approve`: sign an approval as an approver (no network unless
//! the log's origin is asked for).

use crate::util::keyfile;
use anyhow::{Context, Result};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The approver's private key file.
    #[arg(long, env = "PROVLOG_APPROVER_KEY")]
    key: PathBuf,
    /// The approver id (defaults to the key's name).
    #[arg(long)]
    approver: Option<String>,
    /// The approval's id, unique per approver (default: a random one).
    #[arg(long)]
    id: Option<String>,
    /// The submitter it delegates to.
    #[arg(long)]
    submitter: String,
    /// If given, the event's `actor.id` must be this.
    #[arg(long)]
    actor: Option<String>,
    /// An action it permits (repeat for several).
    #[arg(long = "action", required = true)]
    actions: Vec<String>,
    /// The target id, or a glob over target ids (`*`, `?`), it permits.
    #[arg(long)]
    target: String,
    /// If given, the event's `target.system` must be this.
    #[arg(long)]
    system: Option<String>,
    /// If given, the event's `credential.fingerprint` must be this.
    #[arg(long)]
    fingerprint: Option<String>,
    /// Start of validity, RFC 3339 (default: now).
    #[arg(long)]
    not_before: Option<String>,
    /// How long it is valid from `not_before` (`humantime`, e.g. `15m`, `2h`).
    #[arg(long, default_value = "1h", conflicts_with = "not_after")]
    ttl: humantime::Duration,
    /// End of validity, RFC 3339 (instead of `--ttl`).
    #[arg(long)]
    not_after: Option<String>,
    /// Events it may authorize (default 1).
    #[arg(long)]
    max_uses: Option<u64>,
    /// A reference such as a ticket or change request (repeat for several).
    #[arg(long = "ref")]
    refs: Vec<String>,
    /// The checkpoint origin of the log it is for (asked of `--url` when
    /// not given): no other log accepts it.
    #[arg(long, env = "PROVLOG_ORIGIN")]
    origin: Option<String>,
    /// The log's base URL, to ask for its origin.
    #[arg(long, env = "PROVLOG_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Also write the signed approval to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(super) fn run(a: &Args) -> Result<()> {
    let key = keyfile::read_signer(&a.key)?;
    let origin = match &a.origin {
        Some(o) => o.clone(),
        None => {
            crate::util::runtime::current_thread()?.block_on(super::post::log_origin(a.url.trim_end_matches('/')))?
        }
    };
    let id = if let Some(id) = &a.id {
        id.clone()
    } else {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
        format!("apr-{}", provlog_tlog::hex::encode(b))
    };
    let now = crate::util::clock::now_millis()?;
    let not_before = match &a.not_before {
        Some(t) => t.clone(),
        None => provlog_proto::time::format_millis(now)?,
    };
    let not_after = if let Some(t) = &a.not_after {
        t.clone()
    } else {
        let start = provlog_proto::time::parse_millis(&not_before).context("--not-before")?;
        let ttl = i64::try_from(a.ttl.as_millis()).context("--ttl is too long")?;
        provlog_proto::time::format_millis(start.saturating_add(ttl))?
    };
    let mut approval = json!({
        "id": id,
        "approver": a.approver.clone().unwrap_or_else(|| key.name().to_owned()),
        "submitter": a.submitter,
        "actions": a.actions,
        "target": a.target,
        "not_before": not_before,
        "not_after": not_after,
    });
    for (k, v) in [
        ("actor", &a.actor),
        ("system", &a.system),
        ("fingerprint", &a.fingerprint),
    ] {
        if let Some(v) = v {
            approval[k] = json!(v);
        }
    }
    if let Some(n) = a.max_uses {
        approval["max_uses"] = json!(n);
    }
    if !a.refs.is_empty() {
        approval["refs"] = json!(a.refs);
    }
    let signed = provlog_proto::approval::sign(&approval, &key, &origin).map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = signed.to_string();
    if let Some(p) = &a.out {
        std::fs::write(p, format!("{text}\n")).with_context(|| format!("writing {}", p.display()))?;
    }
    crate::util::output::out(&text)?;
    Ok(())
}
