//! `provlog events` and `provlog credential`: query a log over HTTP.

use crate::util::keyfile;
use anyhow::{Context, Result, bail};
use provlog_proto::credential::CredentialAnswer;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(super) struct EventsArgs {
    /// The log's base URL.
    #[arg(long, env = "PROVLOG_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Only events for this `target.id`.
    #[arg(long)]
    target: Option<String>,
    /// Only events by this `actor.id`.
    #[arg(long)]
    actor: Option<String>,
    /// Only events naming this credential fingerprint (as new or previous).
    #[arg(long)]
    credential: Option<String>,
    /// Only events with this action.
    #[arg(long)]
    action: Option<String>,
    /// Start after this index.
    #[arg(long)]
    after: Option<u64>,
    /// Page size (1 to 1000).
    #[arg(long, default_value_t = 100)]
    limit: u64,
    /// Follow the cursor to the end instead of printing one page.
    #[arg(long)]
    all: bool,
}

/// Prints matching entries as JSON lines (`{"index","leaf_hash","entry","decoded"}`).
pub(super) fn events(a: &EventsArgs) -> Result<()> {
    let rt = crate::util::runtime::current_thread()?;
    rt.block_on(async {
        let client = crate::client::http_client(std::time::Duration::from_mins(1))?;
        let mut after = a.after;
        loop {
            let mut q: Vec<(&str, String)> = vec![("limit", a.limit.to_string())];
            for (k, v) in [
                ("target", &a.target),
                ("actor", &a.actor),
                ("credential", &a.credential),
                ("action", &a.action),
            ] {
                if let Some(v) = v {
                    q.push((k, v.clone()));
                }
            }
            if let Some(x) = after {
                q.push(("after", x.to_string()));
            }
            let url = format!("{}/v1/events", a.url.trim_end_matches('/'));
            let resp = client
                .get(&url)
                .query(&q)
                .send()
                .await
                .with_context(|| format!("GET {url}"))?;
            let status = resp.status();
            let body: Value = resp.json().await.context("response is not JSON")?;
            if !status.is_success() {
                bail!("{status}: {}", body["error"]);
            }
            for e in body["entries"].as_array().cloned().unwrap_or_default() {
                crate::util::output::out(format_args!("{e}"))?;
            }
            match body["next_after"].as_u64() {
                Some(n) if a.all => after = Some(n),
                _ => return Ok(()),
            }
        }
    })
}

#[derive(Debug, clap::Args)]
pub(super) struct CredentialArgs {
    /// The fingerprint, `sha256:<64 hex>`.
    fingerprint: String,
    /// The log's base URL.
    #[arg(long, env = "PROVLOG_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Verify the answer with this log vkey (or file) before printing.
    #[arg(long)]
    log_key: Option<String>,
    /// Save the answer (for `provlog verify --credential`).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The size a checkpoint note states (its second line), unverified: only
/// used to pin the pages of one answer, which are verified when merged.
fn checkpoint_size(note: &str) -> Result<u64> {
    note.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .context("the answer's checkpoint has no size line")
}

/// Fetches a credential answer (every page of a long one, merged),
/// optionally verifies it, prints the state.
pub(super) fn credential(a: &CredentialArgs) -> Result<()> {
    let rt = crate::util::runtime::current_thread()?;
    // A long history comes in pages, all pinned to the first page's tree
    // size (so that they carry one checkpoint), merged into one answer.
    let pages = rt.block_on(async {
        let client = crate::client::http_client(std::time::Duration::from_mins(1))?;
        let base = format!("{}/v1/credentials/{}", a.url.trim_end_matches('/'), a.fingerprint);
        let mut pages: Vec<CredentialAnswer> = Vec::new();
        let mut size: Option<u64> = None;
        loop {
            let url = match (pages.last().and_then(|p| p.next_after), size) {
                (Some(after), Some(n)) => format!("{base}?after={after}&tree_size={n}"),
                _ => base.clone(),
            };
            let resp = client.get(&url).send().await.with_context(|| format!("GET {url}"))?;
            let status = resp.status();
            let text = resp.text().await?;
            if !status.is_success() {
                bail!("{status}: {text}");
            }
            let page: CredentialAnswer = serde_json::from_str(&text).context("not a credential answer")?;
            if size.is_none() {
                size = Some(checkpoint_size(&page.checkpoint)?);
            }
            let more = page.next_after.is_some();
            pages.push(page);
            if !more {
                return Ok(pages);
            }
        }
    })?;
    let answer = CredentialAnswer::merge(pages).context("the pages do not form one answer")?;
    if answer.fingerprint != a.fingerprint {
        bail!(
            "the log answered about {}, not about {}: refusing it",
            answer.fingerprint,
            a.fingerprint
        );
    }
    let text = serde_json::to_string_pretty(&answer)?;
    if let Some(p) = &a.out {
        std::fs::write(p, &text).with_context(|| format!("writing {}", p.display()))?;
    }
    let verified = match &a.log_key {
        Some(k) => {
            let key = keyfile::read_verifier(k).context("--log-key")?;
            answer
                .verify_for(&a.fingerprint, &key)
                .context("the answer does NOT verify")?;
            " (verified)"
        }
        None => " (not verified: give --log-key)",
    };
    crate::util::output::out(format_args!(
        "{}: {} as of {}, {} events{verified}",
        answer.fingerprint,
        serde_json::to_value(answer.state)?.as_str().unwrap_or("?"),
        answer.evaluated_at,
        answer.history.len()
    ))?;
    Ok(())
}
