//! `provlog sign` and `provlog submit`.

use super::post::{log_origin, post_with_retries, save_refusal};
use crate::util::keyfile;
use anyhow::{Context, Result, bail};
use provlog_tlog::keys::SignerKey;
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;

/// An event given on the command line instead of in a file.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct EventFlags {
    /// Build the event from flags: its action (`issue`, `rotate`, `revoke`, …).
    #[arg(long, help_heading = "Event from flags", conflicts_with = "file")]
    action: Option<String>,
    /// Idempotency key (default: a random one).
    #[arg(long, help_heading = "Event from flags")]
    event_id: Option<String>,
    /// When it happened, RFC 3339 (default: now).
    #[arg(long, help_heading = "Event from flags")]
    occurred_at: Option<String>,
    /// `actor.id`.
    #[arg(long, help_heading = "Event from flags")]
    actor: Option<String>,
    /// `actor.type`.
    #[arg(long, default_value = "workflow", help_heading = "Event from flags")]
    actor_type: String,
    /// `target.id`.
    #[arg(long, help_heading = "Event from flags")]
    target: Option<String>,
    /// `target.type`.
    #[arg(long, default_value = "service_account", help_heading = "Event from flags")]
    target_type: String,
    /// `target.system`.
    #[arg(long, help_heading = "Event from flags")]
    system: Option<String>,
    /// `authority.approval_id`.
    #[arg(long, help_heading = "Event from flags")]
    approval_id: Option<String>,
    /// `authority.approved_by`.
    #[arg(long, help_heading = "Event from flags")]
    approved_by: Option<String>,
    /// `authority.scope`.
    #[arg(long, help_heading = "Event from flags")]
    scope: Option<String>,
    /// `decision.result`.
    #[arg(long, default_value = "allow", value_parser = ["allow", "deny"], help_heading = "Event from flags")]
    decision: String,
    /// `decision.policy_id`.
    #[arg(long, help_heading = "Event from flags")]
    policy_id: Option<String>,
    /// `outcome`.
    #[arg(long, default_value = "success", value_parser = ["success", "failure"], help_heading = "Event from flags")]
    outcome: String,
    /// `credential.fingerprint` (`sha256:<64 hex>`).
    #[arg(long, help_heading = "Event from flags")]
    fingerprint: Option<String>,
    /// `credential.previous_fingerprint`.
    #[arg(long, help_heading = "Event from flags")]
    previous_fingerprint: Option<String>,
    /// `credential.not_after`, RFC 3339.
    #[arg(long, help_heading = "Event from flags")]
    not_after: Option<String>,
    /// `details`, a JSON object.
    #[arg(long, help_heading = "Event from flags")]
    details: Option<String>,
}

impl EventFlags {
    fn to_event(&self) -> Result<Option<Value>> {
        let Some(action) = &self.action else { return Ok(None) };
        let need = |v: &Option<String>, name: &str| v.clone().with_context(|| format!("--action needs --{name}"));
        let event_id = if let Some(e) = &self.event_id {
            e.clone()
        } else {
            let mut b = [0u8; 12];
            getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
            format!("evt-{}", provlog_tlog::hex::encode(b))
        };
        let now = crate::util::clock::now_millis()?;
        let occurred_at = match &self.occurred_at {
            Some(t) => t.clone(),
            None => provlog_proto::time::format_millis(now)?,
        };
        let mut target = json!({"id": need(&self.target, "target")?, "type": self.target_type});
        if let Some(s) = &self.system {
            target["system"] = json!(s);
        }
        let mut authority = json!({});
        for (k, v) in [
            ("approval_id", &self.approval_id),
            ("approved_by", &self.approved_by),
            ("scope", &self.scope),
        ] {
            if let Some(v) = v {
                authority[k] = json!(v);
            }
        }
        let mut decision = json!({"result": self.decision});
        if let Some(p) = &self.policy_id {
            decision["policy_id"] = json!(p);
        }
        let mut ev = json!({
            "event_id": event_id,
            "occurred_at": occurred_at,
            "action": action,
            "actor": {"id": need(&self.actor, "actor")?, "type": self.actor_type},
            "target": target,
            "authority": authority,
            "decision": decision,
            "outcome": self.outcome,
        });
        if let Some(f) = &self.fingerprint {
            let mut c = json!({"fingerprint": f});
            if let Some(p) = &self.previous_fingerprint {
                c["previous_fingerprint"] = json!(p);
            }
            if let Some(t) = &self.not_after {
                c["not_after"] = json!(t);
            }
            ev["credential"] = c;
        }
        if let Some(d) = &self.details {
            ev["details"] = serde_json::from_str(d).context("--details must be a JSON object")?;
        }
        Ok(Some(ev))
    }
}

#[derive(Debug, clap::Args)]
pub(super) struct SignArgs {
    /// The submitter's private key file.
    #[arg(long, env = "PROVLOG_SUBMITTER_KEY")]
    key: PathBuf,
    /// The submitter id (defaults to the key's name).
    #[arg(long)]
    submitter: Option<String>,
    /// Events: one JSON document or JSON lines; `-` or nothing for stdin.
    file: Option<PathBuf>,
    /// The checkpoint origin of the log the events are for: the
    /// signatures then cover it (version 2), and no other log accepts
    /// them. `submit` asks the log for it when not given.
    #[arg(long, env = "PROVLOG_ORIGIN")]
    origin: Option<String>,
    /// Which message to sign: 2 binds the log's origin (the default of
    /// `submit`, and of `sign` with `--origin`); 1 signs the event alone,
    /// for logs older than origin binding (a log that sets
    /// `require_origin_binding` refuses it).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    signature_version: Option<u8>,
    /// A signed approval (from `provlog approve`) to carry with every
    /// event; repeat for k-of-n.
    #[arg(long = "approval")]
    approvals: Vec<PathBuf>,
    #[command(flatten)]
    flags: EventFlags,
}

#[derive(Debug, clap::Args)]
pub(super) struct SubmitArgs {
    #[command(flatten)]
    sign: SignArgs,
    /// The log's base URL.
    #[arg(long, env = "PROVLOG_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Send through `POST /v1/entries/batch`, 1,000 events per request
    /// (events from FILE as JSON lines).
    #[arg(long)]
    batch: bool,
    /// Write the receipts (JSON lines) to this file, and print only a
    /// summary of each (`{"event_id","status","index","file"}`); with
    /// `--cose`, the transparent statement (one event) or `FILE-<n>.cose`
    /// (the n-th of several).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print JSON even on a terminal: the receipts (or with `--out` their
    /// summaries), as whenever stdout is not a terminal.
    #[arg(long)]
    json: bool,
    /// Register each event as a SCITT signed statement (`POST /entries`,
    /// `application/cose`, docs/SCITT.md) and write the transparent
    /// statement (the statement with its COSE receipt) to `--out`.
    #[arg(long, requires = "out", conflicts_with_all = ["batch", "approvals", "chain_file"])]
    cose: bool,
    #[command(flatten)]
    chain: super::chain::ChainFlags,
    /// Append the log's signed refusals (docs/REFUSALS.md) of rejected
    /// submissions to this file, one JSON object per line, to show later
    /// that the log refused them and why (`provlog verify --refusal`).
    #[arg(long)]
    refusals: Option<PathBuf>,
}

fn read_events(a: &SignArgs) -> Result<Vec<Value>> {
    if let Some(ev) = a.flags.to_event()? {
        if a.file.is_some() {
            bail!("give either FILE or --action with event flags, not both");
        }
        return Ok(vec![ev]);
    }
    let mut text = String::new();
    match a.file.as_ref().filter(|p| p.as_os_str() != "-") {
        Some(p) => {
            text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        }
        None => {
            std::io::stdin().read_to_string(&mut text).context("reading stdin")?;
        }
    }
    let events = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()
        .context("events must be JSON (one document or JSON lines)")?;
    if events.is_empty() {
        bail!("no events given");
    }
    Ok(events)
}

/// Signs every event: with version 2 over `origin` when it is given,
/// version 1 otherwise.
fn signed(a: &SignArgs, origin: Option<&str>) -> Result<Vec<Value>> {
    let key: SignerKey = keyfile::read_signer(&a.key)?;
    let submitter = a.submitter.clone().unwrap_or_else(|| key.name().to_owned());
    let approvals = read_approvals(&a.approvals)?;
    read_events(a)?
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut s = match origin {
                Some(o) => provlog_proto::submission::sign_for_log(e, &submitter, &key, o),
                None => provlog_proto::submission::sign(e, &submitter, &key),
            }
            .with_context(|| format!("event #{}", i + 1))?;
            if let Some(list) = &approvals {
                s["approvals"] = list.clone();
            }
            Ok(s)
        })
        .collect()
}

pub(super) fn sign(a: &SignArgs) -> Result<()> {
    let origin = match (a.signature_version, a.origin.as_deref()) {
        (Some(1), _) => None,
        (Some(_), None) => bail!("--signature-version 2 signs the log's origin: give --origin"),
        (_, o) => o,
    };
    for s in signed(a, origin)? {
        crate::util::output::out(format_args!("{s}"))?;
    }
    Ok(())
}

pub(super) fn submit(a: &SubmitArgs) -> Result<()> {
    let rt = crate::util::runtime::current_thread()?;
    let base = a.url.trim_end_matches('/').to_owned();
    // The key first: a wrong key file is said before any network error.
    keyfile::read_signer(&a.sign.key)?;
    let origin = match (a.sign.signature_version, &a.sign.origin) {
        (Some(1), _) => None,
        (_, Some(o)) => Some(o.clone()),
        (_, None) => Some(rt.block_on(log_origin(&base))?),
    };
    if a.chain.file.is_some() {
        return submit_chained(a, &rt, &base, origin.as_deref());
    }
    if a.cose {
        return submit_cose(a, &rt, &base, origin.as_deref());
    }
    let subs = signed(&a.sign, origin.as_deref())?;
    let mut receipts = Receipts::open(a.out.as_deref(), a.json)?;
    let pb = if subs.len() > 1 {
        crate::util::progress::bar(subs.len() as u64, "events", "")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let sent = rt.block_on(async {
        let client = crate::client::http_client(std::time::Duration::from_mins(1))?;
        let mut failed = 0usize;
        if a.batch {
            let url = format!("{base}/v1/entries/batch");
            for (c, chunk) in subs.chunks(crate::log::MAX_BATCH_SUBMISSIONS).enumerate() {
                let (status, body) = post_with_retries(&client, &url, &json!({ "submissions": chunk })).await?;
                if !status.is_success() {
                    bail!("batch #{}: {status}: {}", c + 1, body.trim_end());
                }
                let body: Value = serde_json::from_str(&body).context("batch response is not JSON")?;
                let results = body["results"].as_array().map_or(&[][..], Vec::as_slice);
                if results.len() != chunk.len() {
                    bail!(
                        "batch #{}: {} for {}",
                        c + 1,
                        crate::util::output::count(results.len() as u64, "result", "results"),
                        crate::util::output::count(chunk.len() as u64, "submission", "submissions")
                    );
                }
                for (i, (r, sub)) in results.iter().zip(chunk).enumerate() {
                    let status = r["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(0);
                    if let Some(receipt) = r.get("receipt") {
                        receipts.ack(&pb, &sub["event"]["event_id"], status, &receipt.to_string())?;
                    } else {
                        failed += 1;
                        if let Some(e) = r.get("error") {
                            save_refusal(a.refusals.as_deref(), &json!({ "error": e }).to_string())?;
                        }
                        pb.suspend(|| {
                            eprintln!(
                                "event #{}: {}: {}",
                                c * crate::log::MAX_BATCH_SUBMISSIONS + i + 1,
                                r["status"],
                                r["error"]
                            );
                        });
                    }
                }
                pb.inc(chunk.len() as u64);
            }
        } else {
            let url = format!("{base}/v1/entries");
            for (i, s) in subs.iter().enumerate() {
                let (status, body) = post_with_retries(&client, &url, s).await?;
                if status.is_success() {
                    receipts.ack(&pb, &s["event"]["event_id"], status.as_u16(), body.trim_end())?;
                } else {
                    failed += 1;
                    save_refusal(a.refusals.as_deref(), &body)?;
                    pb.suspend(|| eprintln!("event #{}: {status}: {}", i + 1, body.trim_end()));
                }
                pb.inc(1);
            }
        }
        Ok::<usize, anyhow::Error>(failed)
    });
    pb.finish_and_clear();
    receipts.finish(subs.len(), sent, ("event", "events"), &retry_hint(&a.sign, &subs))
}

/// For one event built from flags with a made-up `event_id` or time: the
/// flags that make running it again a retry of the same event rather than
/// another one.
fn retry_hint(a: &SignArgs, subs: &[Value]) -> String {
    let [s] = subs else { return String::new() };
    if a.flags.action.is_none() || (a.flags.event_id.is_some() && a.flags.occurred_at.is_some()) {
        return String::new();
    }
    let ev = &s["event"];
    format!(
        " only with the same event: add --event-id {} --occurred-at {}",
        ev["event_id"].as_str().unwrap_or("?"),
        ev["occurred_at"].as_str().unwrap_or("?")
    )
}

/// What `submit` does with what the log acknowledged: the receipts go to
/// `--out` (one JSON line each) or, without it, to stdout; stdout gets
/// JSON when asked or when it is not a terminal (each receipt, or with
/// `--out` a summary line `{"event_id","status","index","file"}`), and a
/// line per event for people otherwise. Each receipt is written as it
/// arrives, so an interrupted run keeps the receipts of what was
/// acknowledged.
struct Receipts {
    file: Option<(PathBuf, std::fs::File)>,
    json: bool,
    acked: u64,
}

impl Receipts {
    fn open(out: Option<&std::path::Path>, json: bool) -> Result<Self> {
        let file = match out {
            Some(p) => Some((
                p.to_owned(),
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
            )),
            None => None,
        };
        Ok(Self {
            file,
            json: crate::util::output::json_wanted(json),
            acked: 0,
        })
    }

    /// One event the log acknowledged with `status` (201 new, 200 already
    /// logged) and `receipt`.
    fn ack(&mut self, pb: &indicatif::ProgressBar, event_id: &Value, status: u16, receipt: &str) -> Result<()> {
        use std::io::Write;
        if let Some((p, f)) = &mut self.file {
            writeln!(f, "{receipt}").with_context(|| format!("writing {}", p.display()))?;
        }
        self.acked += 1;
        let index = serde_json::from_str::<Value>(receipt)
            .ok()
            .and_then(|r| r["index"].as_u64());
        let file = self.file.as_ref().map(|(p, _)| p.display().to_string());
        summarize(pb, self.json, event_id, status, index, file.as_deref(), "file", receipt)
    }

    /// Says how it ended: for people, how many were logged and where the
    /// receipts are; on a failure (some `rejected`, or `sent` failed), on
    /// stderr, how many were acknowledged, where their receipts are, and
    /// that running the same command again is safe.
    fn finish(self, total: usize, sent: Result<usize>, (one, many): (&str, &str), hint: &str) -> Result<()> {
        use crate::util::output::count;
        let total = total as u64;
        let (receipts, them) = if self.acked == 1 {
            ("receipt", "it")
        } else {
            ("receipts", "them")
        };
        let kept = match &self.file {
            Some((p, _)) => format!("{receipts} in {}", p.display()),
            None if self.json => format!("{receipts} on stdout"),
            None => format!("{receipts} not kept: give --out FILE, or --json to print {them}"),
        };
        let noun = |n: u64| count(n, one, many);
        let rejected = match sent {
            Ok(0) => {
                if !self.json {
                    crate::util::output::out(format_args!("{} logged; {kept}", noun(self.acked)))?;
                }
                return Ok(());
            }
            Ok(n) => Ok(n),
            Err(e) => Err(e),
        };
        // One refused event needs no account; an interrupted run or a
        // refusal among several does.
        if total > 1 || rejected.is_err() {
            let safe = if hint.is_empty() {
                " (the log answers each event it already holds with its original receipt)".to_owned()
            } else {
                hint.to_owned()
            };
            eprintln!(
                "{} of {} acknowledged ({kept}); running the same command again is safe{safe}",
                self.acked,
                noun(total)
            );
        }
        match rejected {
            Ok(n) => bail!("{n} of {} rejected", noun(total)),
            Err(e) => Err(e.context(format!("stopped after {} of {}", self.acked, noun(total)))),
        }
    }
}

/// The summary of one acknowledged event: a JSON line (`{"event_id",
/// "status","index",<file_key>}`) or, without `file`, the `receipt` itself
/// when `json`; a line for people otherwise.
#[expect(
    clippy::too_many_arguments,
    reason = "one line's fields, each named at the two call sites"
)]
fn summarize(
    pb: &indicatif::ProgressBar,
    json: bool,
    event_id: &Value,
    status: u16,
    index: Option<u64>,
    file: Option<&str>,
    file_key: &str,
    receipt: &str,
) -> Result<()> {
    let line = match (json, file) {
        (true, None) => receipt.to_owned(),
        (true, Some(f)) => {
            let mut v = json!({"event_id": event_id, "status": status, "index": index});
            v[file_key] = json!(f);
            v.to_string()
        }
        (false, _) => {
            let id = crate::util::output::printable(event_id.as_str().unwrap_or("?"));
            let at = index.map_or_else(|| "?".to_owned(), |i| i.to_string());
            if status == 200 {
                format!("{id}: already logged at index {at} (the original receipt)")
            } else {
                format!("{id}: logged at index {at}")
            }
        }
    };
    pb.suspend(|| crate::util::output::out(line))?;
    Ok(())
}

/// `provlog submit --cose`: each event signed as a statement (its issuer
/// the submitter, its `aud` the log's origin unless `--signature-version
/// 1`), registered through SCRAPI, and written with its receipt as a
/// transparent statement.
fn submit_cose(a: &SubmitArgs, rt: &tokio::runtime::Runtime, base: &str, origin: Option<&str>) -> Result<()> {
    use provlog_proto::statement::{self, StatementClaims};
    let key: SignerKey = keyfile::read_signer(&a.sign.key)?;
    let submitter = a.sign.submitter.clone().unwrap_or_else(|| key.name().to_owned());
    let events = read_events(&a.sign)?;
    let out = a
        .out
        .as_deref()
        .context("--cose writes the transparent statements to --out")?;
    let now = crate::util::clock::now_millis()? / 1000;
    let url = format!("{base}/entries");
    let json_out = crate::util::output::json_wanted(a.json);
    let pb = if events.len() > 1 {
        crate::util::progress::bar(events.len() as u64, "statements", "")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut registered = 0u64;
    let sent = rt.block_on(async {
        let client = crate::client::http_client(std::time::Duration::from_mins(1))?;
        let mut failed = 0usize;
        for (i, e) in events.iter().enumerate() {
            pb.inc(1);
            let payload = provlog_proto::event::CanonicalEvent::from_value(e)
                .with_context(|| format!("event #{}", i + 1))?
                .jcs;
            let claims = StatementClaims {
                content_type: statement::EVENT_CONTENT_TYPE.into(),
                issuer: submitter.clone(),
                subject: e["target"]["id"].as_str().map(str::to_owned),
                audience: origin.map(str::to_owned),
                issued_at: Some(now),
            };
            let signed = statement::sign(&payload, &claims, &key)?;
            let (status, body) = super::post::post_bytes_with_retries(
                &client,
                &url,
                provlog_proto::cose_receipt::CONTENT_TYPE,
                signed.clone(),
            )
            .await?;
            if !status.is_success() {
                failed += 1;
                let text = String::from_utf8_lossy(&body);
                save_refusal(a.refusals.as_deref(), &text)?;
                pb.suspend(|| eprintln!("event #{}: {status}: {}", i + 1, text.trim_end()));
                continue;
            }
            let parsed = statement::SignedStatement::parse(&signed)?;
            // The entry's index, from the receipt's proof (the verifier
            // checks it; this only names it).
            let index = provlog_proto::cose_receipt::parse_sign1(&body)
                .and_then(|r| provlog_proto::cose_receipt::inclusion_proofs(&r))
                .ok()
                .and_then(|p| p.first().map(|(_, i, _)| *i));
            let ts = parsed.transparent(&[body])?;
            let path = if events.len() == 1 {
                out.to_path_buf()
            } else {
                let mut p = out.as_os_str().to_owned();
                p.push(format!("-{}.cose", i + 1));
                PathBuf::from(p)
            };
            std::fs::write(&path, &ts).with_context(|| format!("writing {}", path.display()))?;
            registered += 1;
            let path = path.display().to_string();
            summarize(
                &pb,
                json_out,
                &e["event_id"],
                status.as_u16(),
                index,
                Some(&path),
                "transparent_statement",
                "",
            )?;
        }
        Ok::<usize, anyhow::Error>(failed)
    });
    pb.finish_and_clear();
    let total = crate::util::output::count(events.len() as u64, "statement", "statements");
    let kept = if events.len() == 1 {
        format!("{}", out.display())
    } else {
        format!("{}-<n>.cose", out.display())
    };
    match sent {
        Ok(0) => {
            if !json_out {
                crate::util::output::out(format_args!(
                    "{} registered; transparent statements in {kept}",
                    crate::util::output::count(registered, "statement", "statements")
                ))?;
            }
            Ok(())
        }
        Ok(failed) => {
            if events.len() > 1 {
                eprintln!("{registered} of {total} registered (transparent statements in {kept})");
            }
            bail!("{failed} of {total} rejected")
        }
        Err(e) => {
            eprintln!("{registered} of {total} registered (transparent statements in {kept})");
            Err(e.context(format!("stopped after {registered} of {total}")))
        }
    }
}

/// `provlog submit --chain FILE`: one event at a time, each with the
/// chain's next `seq` and `prev`, the signed submission written to the
/// chain file before it is sent (module docs of `cli/chain.rs`).
fn submit_chained(a: &SubmitArgs, rt: &tokio::runtime::Runtime, base: &str, origin: Option<&str>) -> Result<()> {
    let Some(origin) = origin else {
        bail!("--chain signs with version 2 (the chain is this log's): leave out --signature-version 1");
    };
    if a.batch {
        bail!("--chain sends one event at a time (each names the one before): leave out --batch");
    }
    let key: SignerKey = keyfile::read_signer(&a.sign.key)?;
    let submitter = a.sign.submitter.clone().unwrap_or_else(|| key.name().to_owned());
    let approvals = read_approvals(&a.sign.approvals)?;
    let events = read_events(&a.sign)?;
    let mut receipts = Receipts::open(a.out.as_deref(), a.json)?;
    let pb = indicatif::ProgressBar::hidden();
    let mut total = events.len();
    let sent = rt.block_on(async {
        let client = crate::client::http_client(std::time::Duration::from_mins(1))?;
        let (path, mut chain) = super::chain::open(&a.chain, &client, base, &submitter, origin)
            .await?
            .context("no chain file")?;
        if let Some(p) = &chain.pending {
            total += 1;
            let id = if p["kind"] == "heartbeat" {
                json!("heartbeat")
            } else {
                p["body"]["event"]["event_id"].clone()
            };
            match super::chain::send_pending(&client, base, &path, &mut chain).await? {
                Ok((status, r)) => {
                    eprintln!(
                        "sent again the submission pending in {} (seq {})",
                        path.display(),
                        chain.seq
                    );
                    receipts.ack(&pb, &id, status, r.trim_end())?;
                }
                Err(body) => save_refusal(a.refusals.as_deref(), &body)?,
            }
        }
        let mut failed = 0usize;
        for (i, e) in events.iter().enumerate() {
            let mut e = e.clone();
            super::chain::link(&mut e, &chain);
            let mut s = provlog_proto::submission::sign_for_log(&e, &submitter, &key, origin)
                .with_context(|| format!("event #{}", i + 1))?;
            if let Some(list) = &approvals {
                s["approvals"] = list.clone();
            }
            chain.pending = Some(json!({"kind": "event", "body": s}));
            chain.save_to(&path)?;
            match super::chain::send_pending(&client, base, &path, &mut chain).await? {
                Ok((status, r)) => receipts.ack(&pb, &e["event_id"], status, r.trim_end())?,
                Err(body) => {
                    save_refusal(a.refusals.as_deref(), &body)?;
                    failed += 1;
                }
            }
        }
        Ok::<usize, anyhow::Error>(failed)
    });
    // Each event is linked to the chain's position when it is sent: run
    // again, one already logged is another event under its event_id (409,
    // nothing logged twice), and the one in flight is resent from the
    // chain file.
    receipts.finish(
        total,
        sent,
        ("event", "events"),
        " for the events not acknowledged: the chain file resends the one in flight, and an event already \
         in the chain is refused (409), not logged twice",
    )
}

/// Reads signed approvals from files (each one JSON document), checked.
///
/// # Errors
/// An unreadable file or a malformed approval.
pub(super) fn read_approvals(files: &[PathBuf]) -> Result<Option<Value>> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(files.len());
    for p in files {
        let text = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let v = provlog_proto::json::parse_strict(&text).with_context(|| format!("{}: not JSON", p.display()))?;
        provlog_proto::approval::SignedApproval::from_value(&v).with_context(|| format!("{}", p.display()))?;
        out.push(v);
    }
    if out.len() > provlog_proto::approval::MAX_APPROVALS {
        bail!(
            "{} approvals given; a submission carries at most {}",
            out.len(),
            provlog_proto::approval::MAX_APPROVALS
        );
    }
    Ok(Some(Value::Array(out)))
}
