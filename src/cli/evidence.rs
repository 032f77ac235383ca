//! `provlog evidence`: a self-contained, offline-verifiable bundle of the
//! entries answering an auditor's question, and `provlog verify
//! --evidence`, which checks one (docs/EVIDENCE.md).
//!
//! A bundle is a directory: `evidence.json` (the proofs,
//! [`provlog_proto::evidence::Bundle`]), `events.csv` and `report.html`
//! (what a person reads; both are rendered from the verified evidence,
//! and the verifier renders them again and requires the same bytes, so a
//! report cannot say something the proofs do not), and `README.txt` (how
//! to re-verify).

use crate::util::keyfile;
use anyhow::{Context, Result, bail};
use provlog_proto::evidence::{Bundle, FORMAT, Item, Question, Requirements, Verified, verify};
use provlog_tlog::checkpoint::LogKeys;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("about").required(true).multiple(true).args(["target", "actor", "credential", "action", "from", "to", "occurred_from", "occurred_to"])))]
pub(super) struct Args {
    /// The log's base URL.
    #[arg(long, env = "PROVLOG_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The log's vkey, or a file holding it.
    #[arg(long, env = "PROVLOG_LOG_KEY")]
    log_key: String,
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
    #[arg(long, value_parser = bound)]
    from: Option<String>,
    /// Only entries logged before this time (exclusive).
    #[arg(long, value_parser = bound)]
    to: Option<String>,
    /// Only events whose `occurred_at` is at or after this time.
    #[arg(long, value_parser = bound)]
    occurred_from: Option<String>,
    /// Only events whose `occurred_at` is before this time (exclusive).
    #[arg(long, value_parser = bound)]
    occurred_to: Option<String>,
    /// A witness's vkey (or file) whose cosignature the checkpoint must
    /// carry; repeatable.
    #[arg(long = "witness-key")]
    witness_keys: Vec<String>,
    /// Cosignatures required from the given witnesses (default: all of them).
    #[arg(long)]
    min_witnesses: Option<usize>,
    /// The directory to write (created; must be empty if it exists).
    #[arg(long)]
    out: PathBuf,
}

/// A time bound as the server takes it (checked here, so that a typo is
/// a usage error).
pub(super) fn bound(s: &str) -> Result<String, String> {
    provlog_proto::time::parse_bound(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.0)
}

/// The witness keys and how many must cosign.
pub(super) fn witnesses(keys: &[String], min: Option<usize>) -> Result<(Vec<provlog_tlog::keys::VerifierKey>, usize)> {
    let w = keys
        .iter()
        .map(|k| keyfile::read_verifier(k).context("--witness-key"))
        .collect::<Result<Vec<_>>>()?;
    if w.is_empty() && min.unwrap_or(0) > 0 {
        bail!("--min-witnesses needs --witness-key");
    }
    let n = min.unwrap_or(w.len());
    Ok((w, n))
}

async fn get_json(client: &reqwest::Client, url: &str, q: &[(&str, String)]) -> Result<(u16, Value)> {
    let resp = client
        .get(url)
        .query(q)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.with_context(|| format!("GET {url}: not JSON"))?;
    Ok((status, body))
}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<(u16, String)> {
    let resp = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await.with_context(|| format!("GET {url}"))?))
}

fn items(body: &Value, what: &str) -> Result<Vec<Item>> {
    body["entries"]
        .as_array()
        .with_context(|| format!("{what}: no entries"))?
        .iter()
        .map(|e| {
            Ok(Item {
                index: e["index"]
                    .as_u64()
                    .with_context(|| format!("{what}: an entry without index"))?,
                entry: e["entry"]
                    .as_str()
                    .with_context(|| format!("{what}: an entry without bytes"))?
                    .to_owned(),
                proof: serde_json::from_value(e["proof"].clone())
                    .with_context(|| format!("{what}: an entry without its inclusion proof"))?,
                policy_index: None,
            })
        })
        .collect()
}

/// Pages through `path` (an `EventsPage` answer) with `q`, collecting
/// entries with their proofs against `tree_size`.
async fn collect(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    q: &[(&str, String)],
    progress: &indicatif::ProgressBar,
) -> Result<Vec<Item>> {
    let url = format!("{base}{path}");
    let mut out = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let mut q = q.to_vec();
        q.push(("limit", "1000".into()));
        if let Some(a) = after {
            q.push(("after", a.to_string()));
        }
        let (status, body) = get_json(client, &url, &q).await?;
        if status != 200 {
            bail!("GET {url}: {status}: {}", body["error"]);
        }
        let page = items(&body, path)?;
        progress.inc(page.len() as u64);
        out.extend(page);
        match body["next_after"].as_u64() {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

pub(super) fn run(a: &Args) -> Result<()> {
    let key = keyfile::read_verifier(&a.log_key).context("--log-key")?;
    let (wkeys, min) = witnesses(&a.witness_keys, a.min_witnesses)?;
    if a.out.exists() && std::fs::read_dir(&a.out).map_or(true, |mut d| d.next().is_some()) {
        bail!("{} exists and is not an empty directory", a.out.display());
    }
    let question = Question {
        target: a.target.clone(),
        actor: a.actor.clone(),
        credential: a.credential.clone(),
        action: a.action.clone(),
        from: a.from.clone(),
        to: a.to.clone(),
        occurred_from: a.occurred_from.clone(),
        occurred_to: a.occurred_to.clone(),
    };
    let base = a.url.trim_end_matches('/').to_owned();
    let rt = crate::util::runtime::current_thread()?;
    let keys = rt.block_on(async {
        let source = crate::client::Source::open(&base, None, None)?;
        Ok::<_, anyhow::Error>(source.log_keys(&key).await?)
    })?;
    let bundle = rt.block_on(fetch(&base, &question, &keys))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let v = verify(
        &bundle,
        &Requirements {
            log_keys: &keys,
            witnesses: &wkeys,
            min_witnesses: min,
        },
    )
    .context("the log's evidence does NOT verify (nothing written)")?;
    write_bundle(&a.out, &bundle, &v)?;
    let n = v.events.len();
    crate::util::output::out(format_args!(
        "{}: {n} {} against the checkpoint of size {}{}, {} policy {}; consistent with the latest checkpoint (size {}){}\nverify offline: provlog verify --evidence {} --log-key <the log's vkey>",
        a.out.display(),
        if n == 1 { "event" } else { "events" },
        v.size,
        if v.witnessed > 0 {
            format!(" (cosigned by {} witnesses)", v.witnessed)
        } else {
            String::new()
        },
        v.policies.len(),
        if v.policies.len() == 1 { "leaf" } else { "leaves" },
        v.latest_size,
        if bundle.later > 0 {
            format!(
                "; {} more logged after that checkpoint, not included (run again once a checkpoint covering them is witnessed)",
                bundle.later
            )
        } else {
            String::new()
        },
        a.out.display()
    ))?;
    Ok(())
}

/// Collects the bundle from the log at `base`: the checkpoint (the latest
/// witnessed one when the log has witnesses), the latest, the consistency
/// proof between them, the matching entries and the policy leaves in
/// force for each, every one with its inclusion proof.
async fn fetch(base: &str, question: &Question, keys: &LogKeys) -> Result<Bundle> {
    let client = crate::client::http_client(std::time::Duration::from_mins(2))?;
    let (status, witnessed) = get_text(&client, &format!("{base}/v1/checkpoint/witnessed")).await?;
    let (_, latest) = get_text(&client, &format!("{base}/checkpoint")).await?;
    let (latest_cp, _) = provlog_tlog::checkpoint::open_checkpoint_with(latest.as_bytes(), keys)
        .with_context(|| format!("{base}/checkpoint does NOT verify under the log key"))?;
    let checkpoint = if status == 200 { witnessed } else { latest.clone() };
    let (cp, _) = provlog_tlog::checkpoint::open_checkpoint_with(checkpoint.as_bytes(), keys)
        .context("the witnessed checkpoint does NOT verify under the log key")?;
    if cp.size == 0 {
        bail!("the log is empty");
    }
    if cp.size > latest_cp.size {
        bail!(
            "the witnessed checkpoint ({}) is ahead of the latest ({})",
            cp.size,
            latest_cp.size
        );
    }
    let consistency: Vec<String> = if cp.size == latest_cp.size {
        Vec::new()
    } else {
        let url = format!("{base}/v1/proofs/consistency");
        let (s, body) = get_json(
            &client,
            &url,
            &[("from", cp.size.to_string()), ("to", latest_cp.size.to_string())],
        )
        .await?;
        if s != 200 {
            bail!("GET {url}: {s}: {}", body["error"]);
        }
        serde_json::from_value(body["proof"].clone()).context("consistency proof")?
    };
    let mut q: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("target", &question.target),
        ("actor", &question.actor),
        ("credential", &question.credential),
        ("action", &question.action),
        ("from", &question.from),
        ("to", &question.to),
        ("occurred_from", &question.occurred_from),
        ("occurred_to", &question.occurred_to),
    ] {
        if let Some(v) = v {
            q.push((k, v.clone()));
        }
    }
    let progress = crate::util::progress::spinner("entries", "collecting");
    let mut with_size = q.clone();
    with_size.push(("tree_size", cp.size.to_string()));
    let mut entries = collect(&client, base, "/v1/events", &with_size, &progress).await?;
    // Every matching entry is an event (the question always filters).
    let policies_all = collect(
        &client,
        base,
        "/v1/policies",
        &[("tree_size", cp.size.to_string())],
        &progress,
    )
    .await?;
    progress.finish_and_clear();
    let mut used = std::collections::BTreeSet::new();
    for e in &mut entries {
        let pi = policies_all.iter().rev().find(|p| p.index < e.index).map(|p| p.index);
        e.policy_index = pi;
        used.extend(pi);
    }
    let policies = policies_all.into_iter().filter(|p| used.contains(&p.index)).collect();
    // Matching entries after the checkpoint: counted, not included.
    let mut later = 0u64;
    if cp.size < latest_cp.size {
        let mut after = cp.size - 1;
        loop {
            let mut q = q.clone();
            q.push(("after", after.to_string()));
            q.push(("limit", "1000".into()));
            let url = format!("{base}/v1/events");
            let (s, body) = get_json(&client, &url, &q).await?;
            if s != 200 {
                bail!("GET {url}: {s}: {}", body["error"]);
            }
            later += body["entries"].as_array().map_or(0, |e| e.len() as u64);
            match body["next_after"].as_u64() {
                Some(n) => after = n,
                None => break,
            }
        }
    }
    let created_at = provlog_proto::time::format_millis(crate::util::clock::now_millis()?)
        .map_err(|e| anyhow::anyhow!("the clock: {}", e.0))?;
    Ok(Bundle {
        format: FORMAT.into(),
        origin: cp.origin,
        question: question.clone(),
        created_at,
        checkpoint,
        latest,
        consistency,
        entries,
        policies,
        later,
    })
}

fn write_bundle(dir: &Path, b: &Bundle, v: &Verified) -> Result<()> {
    let mut json = serde_json::to_string_pretty(b)?;
    json.push('\n');
    for (name, bytes) in [
        ("evidence.json", json),
        ("events.csv", csv(v)),
        ("report.html", html(b, v)),
        ("README.txt", readme(b)),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// Checks the bundle in `dir`: `evidence.json` verifies, and
/// `events.csv` and `report.html` are exactly what it renders.
///
/// # Errors
/// A missing or malformed file, evidence that does not verify, a report
/// that does not match it.
pub(super) fn check_dir(dir: &Path, req: &Requirements<'_>) -> Result<(Bundle, Verified)> {
    let p = dir.join("evidence.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let b: Bundle =
        serde_json::from_str(&text).with_context(|| format!("{} is not an evidence bundle", p.display()))?;
    let v = verify(&b, req).context("the evidence does NOT verify")?;
    for (name, want) in [("events.csv", csv(&v)), ("report.html", html(&b, &v))] {
        let p = dir.join(name);
        let got = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        if got != want {
            bail!(
                "{} does NOT match the evidence (it was changed after the bundle was made)",
                p.display()
            );
        }
    }
    Ok((b, v))
}

const CSV_COLUMNS: [&str; 15] = [
    "index",
    "logged_at",
    "occurred_at",
    "event_id",
    "submitter",
    "action",
    "actor",
    "target",
    "credential",
    "previous_credential",
    "outcome",
    "decision",
    "approvals",
    "policy_decision",
    "policy_index",
];

/// One CSV field (RFC 4180 quoting; a value a spreadsheet would run as a
/// formula is prefixed with `'`).
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `events.csv`: one row per verified event.
fn csv(v: &Verified) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    for e in &v.events {
        let row = [
            e.index.to_string(),
            e.logged_at.clone(),
            e.occurred_at.clone(),
            e.event_id.clone(),
            e.submitter.clone(),
            e.action.clone(),
            e.actor.clone(),
            e.target.clone(),
            e.credential.clone(),
            e.previous_credential.clone(),
            e.outcome.clone(),
            e.decision.clone(),
            e.approvals.clone(),
            e.policy_decision.clone(),
            e.policy_index.to_string(),
        ];
        out.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn question_text(q: &Question) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("target", &q.target),
        ("actor", &q.actor),
        ("credential", &q.credential),
        ("action", &q.action),
        ("logged from", &q.from),
        ("logged before", &q.to),
        ("occurred from", &q.occurred_from),
        ("occurred before", &q.occurred_to),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k} {v}"));
        }
    }
    parts.join(", ")
}

fn cli_question(q: &Question) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("--target", &q.target),
        ("--actor", &q.actor),
        ("--credential", &q.credential),
        ("--action", &q.action),
        ("--from", &q.from),
        ("--to", &q.to),
        ("--occurred-from", &q.occurred_from),
        ("--occurred-to", &q.occurred_to),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k} '{v}'"));
        }
    }
    parts.join(" ")
}

/// The signature lines' key names on a note (who signed, who cosigned).
fn signers(note: &str) -> Vec<String> {
    provlog_tlog::note::Note::parse(note.as_bytes())
        .map(|n| n.signatures().iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default()
}

/// `report.html`: what the bundle holds, what was verified and how to
/// verify it again. Self-contained (no script, no external resource).
fn html(b: &Bundle, v: &Verified) -> String {
    let mut h = String::new();
    let n = v.events.len();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>provlog evidence: {q}</title>\n\
         <style>body{{font:14px/1.45 system-ui,sans-serif;margin:2em;max-width:80em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}}code,td{{font-family:ui-monospace,monospace;font-size:12px}}\
         .bad{{color:#a00;font-weight:bold}}</style></head><body>\n\
         <h1>Evidence from {origin}</h1>\n<p>Question: <b>{q}</b>. Made {created}.</p>\n",
        q = esc(&question_text(&b.question)),
        origin = esc(&b.origin),
        created = esc(&b.created_at),
    );
    let _ = write!(
        h,
        "<h2>What was verified</h2>\n<ul>\n\
         <li>The checkpoint of size {size} is signed by the log's key (signature lines: {signers}).</li>\n\
         <li>It is a prefix of the log's latest checkpoint when the bundle was made (size {latest}): the consistency proof verifies.</li>\n\
         <li>Each of the {n} {events} below is included in that checkpoint at its index (inclusion proof), answers the question, \
         and was authorized: its submitter was registered and in scope at <code>logged_at</code> under the policy leaf named, \
         its signature verifies under the submitter's key in that registry, and its approvals meet the registry's rules with valid signatures.</li>\n\
         <li>Each of the {p} policy {leaves} named ({plist}) is included in the checkpoint.</li>\n</ul>\n",
        size = v.size,
        signers = esc(&signers(&b.checkpoint).join(", ")),
        latest = v.latest_size,
        events = if n == 1 { "event" } else { "events" },
        p = v.policies.len(),
        leaves = if v.policies.len() == 1 { "leaf" } else { "leaves" },
        plist = v
            .policies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    );
    let _ = write!(
        h,
        "<h2>What this does not prove</h2>\n<ul>\n\
         <li>That the log returned <i>every</i> matching entry: the search is the log's answer. \
         <code>provlog audit</code> (or a monitor) replays every entry of the log and would find one left out.</li>\n\
         <li>That no other policy leaf lies between the one named and the event: <code>provlog audit</code> replays that too.</li>\n\
         <li>Who the witnesses are: a cosignature counts only when you give their keys (<code>--witness-key</code>).</li>\n</ul>\n"
    );
    if b.later > 0 {
        let _ = writeln!(
            h,
            "<p class=\"bad\">{} more matching {} logged after this checkpoint {} not in this bundle.</p>",
            b.later,
            if b.later == 1 { "entry" } else { "entries" },
            if b.later == 1 { "is" } else { "are" }
        );
    }
    let _ = write!(
        h,
        "<h2>How to verify it again</h2>\n<pre>provlog verify --evidence &lt;this directory&gt; --log-key &lt;the log's vkey&gt; [--witness-key &lt;vkey&gt; ...]</pre>\n\
         <p>It needs no network. It checks <code>evidence.json</code> and that this report and <code>events.csv</code> are exactly what the evidence says. \
         To make a fresh bundle: <code>provlog evidence {cli} --out &lt;dir&gt;</code>.</p>\n",
        cli = esc(&cli_question(&b.question)),
    );
    let _ = write!(h, "<h2>Events ({n})</h2>\n<table>\n<tr>");
    for c in CSV_COLUMNS {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>\n");
    for e in &v.events {
        let failed = e.outcome != "success" || e.decision != "allow" || e.policy_decision == "deny";
        let _ = write!(h, "<tr{}>", if failed { " class=\"bad\"" } else { "" });
        for f in [
            e.index.to_string(),
            e.logged_at.clone(),
            e.occurred_at.clone(),
            e.event_id.clone(),
            e.submitter.clone(),
            e.action.clone(),
            e.actor.clone(),
            e.target.clone(),
            e.credential.clone(),
            e.previous_credential.clone(),
            e.outcome.clone(),
            e.decision.clone(),
            e.approvals.clone(),
            e.policy_decision.clone(),
            e.policy_index.to_string(),
        ] {
            let _ = write!(h, "<td>{}</td>", esc(&f));
        }
        h.push_str("</tr>\n");
    }
    let _ = write!(
        h,
        "</table>\n<h2>The checkpoint</h2>\n<pre>{}</pre>\n</body></html>\n",
        esc(&b.checkpoint)
    );
    h
}

fn readme(b: &Bundle) -> String {
    format!(
        "provlog evidence bundle ({FORMAT})\n\n\
         Log: {origin}\nQuestion: {q}\nMade: {created}\n\n\
         Files:\n  evidence.json  the entries, their inclusion proofs, the policy leaves they ran under,\n                 \
         the checkpoint they are proven against and a consistency proof to the latest one\n  \
         events.csv     the events, one row each\n  report.html    what was verified, and what was not\n\n\
         Verify it, offline, with the log's public key (its vkey, published by its operator):\n\n  \
         provlog verify --evidence <this directory> --log-key <the log's vkey> [--witness-key <vkey> ...]\n\n\
         The format is documented byte by byte in provlog's docs/EVIDENCE.md.\n",
        origin = b.origin,
        q = question_text(&b.question),
        created = b.created_at,
    )
}
