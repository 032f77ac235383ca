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
    /// Only entries logged at or after this time (`logged_at`; RFC 3339, or
    /// YYYY-MM-DD for its first instant in UTC).
    #[arg(long, value_parser = super::evidence::bound)]
    from: Option<String>,
    /// Only entries logged before this time (exclusive).
    #[arg(long, value_parser = super::evidence::bound)]
    to: Option<String>,
    /// Only events whose `occurred_at` is at or after this time.
    #[arg(long, value_parser = super::evidence::bound)]
    occurred_from: Option<String>,
    /// Only events whose `occurred_at` is before this time (exclusive).
    #[arg(long, value_parser = super::evidence::bound)]
    occurred_to: Option<String>,
    /// Start after this index.
    #[arg(long)]
    after: Option<u64>,
    /// Page size (1 to 1000).
    #[arg(long, default_value_t = 100)]
    limit: u64,
    /// Follow the cursor to the end instead of printing one page.
    #[arg(long)]
    all: bool,
    /// Print JSON lines even on a terminal (they are printed whenever
    /// stdout is not one).
    #[arg(long)]
    json: bool,
}

/// Prints matching entries: as JSON lines (`{"index","leaf_hash","entry","decoded"}`)
/// with `--json` or when stdout is not a terminal, as a table otherwise.
pub(super) fn events(a: &EventsArgs) -> Result<()> {
    let rt = crate::util::runtime::current_thread()?;
    let mut shown = EventsOutput::new(a.json);
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
                ("from", &a.from),
                ("to", &a.to),
                ("occurred_from", &a.occurred_from),
                ("occurred_to", &a.occurred_to),
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
            shown.page(body["entries"].as_array().map_or(&[][..], Vec::as_slice))?;
            match body["next_after"].as_u64() {
                Some(n) if a.all => after = Some(n),
                next => return shown.end(next),
            }
        }
    })
}

/// The output of `provlog events`: JSON lines as the log sends them, or a
/// table for people with a count at the end.
struct EventsOutput {
    /// `None` for JSON lines.
    table: Option<crate::util::output::Table>,
    count: u64,
}

impl EventsOutput {
    fn new(json: bool) -> Self {
        Self {
            table: (!crate::util::output::json_wanted(json)).then(|| {
                crate::util::output::Table::new(&[
                    "INDEX",
                    "LOGGED AT",
                    "ACTION",
                    "TARGET",
                    "ACTOR",
                    "SUBMITTER",
                    "DECISION",
                    "OUTCOME",
                ])
            }),
            count: 0,
        }
    }

    fn page(&mut self, entries: &[Value]) -> Result<()> {
        self.count += entries.len() as u64;
        let Some(table) = &mut self.table else {
            for e in entries {
                crate::util::output::out(format_args!("{e}"))?;
            }
            return Ok(());
        };
        let text = |v: &Value| v.as_str().map_or_else(|| "-".to_owned(), str::to_owned);
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let d = &e["decoded"];
                let ev = &d["event"];
                // Entries other than events (with no filter, every entry
                // matches) show their kind: `[policy]`, `[state]`, ….
                let action = match (ev["action"].as_str(), d["kind"].as_str()) {
                    (Some(a), _) => a.to_owned(),
                    (None, Some(k)) => format!("[{k}]"),
                    (None, None) => "-".to_owned(),
                };
                vec![
                    e["index"].as_u64().map_or_else(|| "-".to_owned(), |i| i.to_string()),
                    text(&d["logged_at"]),
                    action,
                    text(&ev["target"]["id"]),
                    text(&ev["actor"]["id"]),
                    text(&d["submitter"]),
                    text(&ev["decision"]["result"]),
                    text(&ev["outcome"]),
                ]
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        crate::util::output::out_lines(&table.lines(&rows))?;
        Ok(())
    }

    /// The count, and where the next page starts when there is one.
    fn end(&self, next_after: Option<u64>) -> Result<()> {
        if self.table.is_none() {
            return Ok(());
        }
        let n = crate::util::output::count(self.count, "event", "events");
        match next_after {
            Some(after) => crate::util::output::out(format_args!("{n}; more with --after {after}, or --all"))?,
            None => crate::util::output::out(n)?,
        }
        Ok(())
    }
}

/// What a verifier of a credential answer requires besides the log key:
/// witnesses and freshness.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct Requirements {
    /// A witness's cosignature/v1 vkey (or file) whose cosignature counts;
    /// repeatable.
    #[arg(long = "witness-key")]
    pub witness_keys: Vec<String>,
    /// Cosignatures required from the given witnesses (default: all of them).
    #[arg(long)]
    pub min_witnesses: Option<usize>,
    /// The oldest state commitment accepted, by this machine's clock
    /// (`30s`, `5m`, …): an older answer is refused, not shown as current.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub max_age: std::time::Duration,
    /// A historical question: the credential's state in the map in force
    /// when entry AT was logged (its commitment must be at or before AT;
    /// no freshness is asked, expiry is judged at the commitment).
    #[arg(long)]
    pub at: Option<u64>,
}

/// Verifies a credential answer for `fingerprint` under `log_key` and
/// `req`, with this machine's clock; returns the verified answer and a
/// line saying what it proves.
///
/// # Errors
/// Unreadable keys; an answer that does not verify (why, in the chain).
pub(super) fn verify_answer(
    answer: &CredentialAnswer,
    fingerprint: &str,
    log_key: &provlog_tlog::keys::VerifierKey,
    req: &Requirements,
) -> Result<(provlog_proto::credential::VerifiedCredential, String)> {
    let witnesses = req
        .witness_keys
        .iter()
        .map(|k| keyfile::read_verifier(k).context("--witness-key"))
        .collect::<Result<Vec<_>>>()?;
    if witnesses.is_empty() && req.min_witnesses.unwrap_or(0) > 0 {
        bail!("--min-witnesses needs --witness-key");
    }
    let now = crate::util::clock::now_millis()?;
    let v = answer
        .verify_for(
            fingerprint,
            &provlog_proto::credential::Requirements {
                log_key,
                witnesses: &witnesses,
                min_witnesses: req.min_witnesses.unwrap_or(witnesses.len()),
                now_millis: now,
                max_age_millis: i64::try_from(req.max_age.as_millis()).unwrap_or(i64::MAX),
                as_of_entry: req.at,
            },
        )
        .context("the credential answer does NOT verify")?;
    let state = serde_json::to_value(v.state)?.as_str().unwrap_or("?").to_owned();
    let who = v.record.as_ref().map_or_else(
        || " (never logged: proven absent from the map)".to_owned(),
        |r| {
            format!(
                " (owner {}/{}/{}, issued by {}, version {})",
                r.owner.system.as_deref().unwrap_or("-"),
                r.owner.kind,
                r.owner.id,
                r.issued_by,
                r.version
            )
        },
    );
    let age = provlog_proto::time::parse_millis(&v.commitment.logged_at).map_or(0, |t| now - t);
    let when = req
        .at
        .map_or_else(String::new, |at| format!(" as of entry {at} (a historical answer)"));
    let witnessed = if witnesses.is_empty() {
        String::new()
    } else {
        format!(
            ", cosigned by {} of {}",
            v.witnessed,
            crate::util::output::count(witnesses.len() as u64, "witness", "witnesses")
        )
    };
    let line = format!(
        "{fingerprint}: {state}{who}{when}; map committed at entry {} ({}, {:.1} s ago), in checkpoint {} of size {}{witnessed}{}",
        v.commitment_index,
        v.commitment.logged_at,
        age as f64 / 1000.0,
        v.checkpoint.origin,
        v.checkpoint.size,
        if v.history.is_empty() {
            String::new()
        } else {
            format!(
                "; {} in the history, each included",
                crate::util::output::count(v.history.len() as u64, "event", "events")
            )
        }
    );
    Ok((v, line))
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
    #[command(flatten)]
    req: Requirements,
    /// Also fetch the events naming the credential, each with its proof.
    #[arg(long)]
    history: bool,
    /// Exit with status 3 unless the verified state is `active`.
    #[arg(long, requires = "log_key")]
    require_active: bool,
    /// Save the answer (for `provlog verify --credential`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the result as JSON even on a terminal (it is printed as JSON
    /// whenever stdout is not one).
    #[arg(long)]
    json: bool,
}

/// The size a checkpoint note states (its second line), unverified: only
/// used to pin the pages of one answer, which are verified when merged.
fn checkpoint_size(note: &str) -> Result<u64> {
    note.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .context("the answer's checkpoint has no size line")
}

/// Fetches a credential answer (every page of a long history, merged),
/// optionally verifies it, prints the state.
pub(super) fn credential(a: &CredentialArgs) -> Result<()> {
    let rt = crate::util::runtime::current_thread()?;
    // A long history comes in pages, all pinned to the first page's tree
    // size (so that they carry one checkpoint), merged into one answer.
    let pages = rt.block_on(async {
        let client = crate::client::http_client(std::time::Duration::from_mins(1))?;
        let at = a.req.at.map_or_else(String::new, |i| format!("&at={i}"));
        let base = format!("{}/v1/credentials/{}", a.url.trim_end_matches('/'), a.fingerprint);
        let first = if a.history {
            format!("{base}?history=true{at}")
        } else {
            format!("{base}?history=false{at}")
        };
        let mut pages: Vec<CredentialAnswer> = Vec::new();
        let mut size: Option<u64> = None;
        loop {
            let url = match (pages.last().and_then(|p| p.next_after), size) {
                (Some(after), Some(n)) => format!("{base}?history=true&after={after}&tree_size={n}{at}"),
                _ => first.clone(),
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
    if let Some(p) = &a.out {
        let text = serde_json::to_string_pretty(&answer)?;
        std::fs::write(p, format!("{text}\n")).with_context(|| format!("writing {}", p.display()))?;
    }
    let json = crate::util::output::json_wanted(a.json);
    let Some(k) = &a.log_key else {
        let state = serde_json::to_value(answer.state)?;
        if json {
            crate::util::output::out(serde_json::json!({
                "fingerprint": answer.fingerprint,
                "verified": false,
                "state": state,
                "record": answer.record,
                "commitment_index": answer.commitment.index,
            }))?;
        } else {
            crate::util::output::out(format_args!(
                "{}: {} as committed at entry {} (NOT verified: give --log-key)",
                answer.fingerprint,
                state.as_str().unwrap_or("?"),
                answer.commitment.index
            ))?;
        }
        return Ok(());
    };
    let trusted = keyfile::read_verifier(k).context("--log-key")?;
    // The key that signs the answer's tree, from the log's key history
    // verified from the key given (docs/ROTATION.md).
    let keys = rt.block_on(async {
        let source = crate::client::Source::open(a.url.trim_end_matches('/'), None, None)?;
        anyhow::Ok(source.log_keys(&trusted).await?)
    })?;
    let key = keys.for_note(answer.checkpoint.as_bytes()).clone();
    let (v, line) = verify_answer(&answer, &a.fingerprint, &key, &a.req)?;
    if json {
        crate::util::output::out(serde_json::json!({
            "fingerprint": a.fingerprint,
            "verified": true,
            "state": v.state,
            "record": v.record,
            "commitment_index": v.commitment_index,
            "committed_at": v.commitment.logged_at,
            "checkpoint_origin": v.checkpoint.origin,
            "checkpoint_size": v.checkpoint.size,
            "witnessed": v.witnessed,
            "history_events": v.history.len(),
            "at": a.req.at,
        }))?;
    } else {
        crate::util::output::out(format_args!("OK: {line}"))?;
    }
    if a.require_active && v.state != provlog_proto::credential::CredentialState::Active {
        std::process::exit(3);
    }
    Ok(())
}
