//! `provlog audit`: rebuild, from the static tlog-tiles API alone, the
//! authority every event ran under, and check it.
//!
//! Fetches the checkpoint and verifies it with the log key, fetches every
//! hash tile of that size and authenticates them against the checkpoint's
//! root, fetches every entry bundle and checks each entry's leaf hash
//! against the level-0 tiles, then replays the entries through
//! [`provlog_proto::audit::Auditor`]. Tiles and entries stream (one tile
//! per level, the bundles in flight); the map and the records the audit
//! recomputes are in a scratch `RocksDB` ([`provlog_storage::journal`])
//! deleted at the end, so memory does not grow with the log.

use crate::client::Source;
use crate::client::verified::snapshot_with;
use crate::util::keyfile;
use anyhow::{Context, Result, bail};
use provlog_proto::audit::{Audited, Auditor};
use provlog_storage::journal::Journal;
use provlog_storage::{StateOptions, StateStore};

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Base URL of the log's static API (the log itself or a mirror).
    #[arg(long, env = "PROVLOG_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The log's vkey, or a file holding it.
    #[arg(long)]
    log_key: String,
    /// Print one line per entry.
    #[arg(long)]
    verbose: bool,
    /// Also print this credential's record in the map version in force at
    /// `--at` (default: the last), recomputed from the entries alone: what
    /// a historical answer must agree with, whatever the log pruned.
    #[arg(long)]
    credential: Option<String>,
    /// The entry index the `--credential` question is about.
    #[arg(long, requires = "credential")]
    at: Option<u64>,
    /// Where to keep the credential map and records the audit recomputes
    /// while it runs (a scratch store in a new directory under it, deleted
    /// at the end; about 1 KB of disk per credential). Default: the
    /// system's temporary directory.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<std::path::PathBuf>,
    /// Memory for the scratch store's block cache, as much for its write
    /// buffers, and half as much for the part of the credential map held
    /// in memory: the audit's memory does not grow with the log.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    cache_mib: usize,
}

pub(super) fn run(a: &Args) -> Result<()> {
    let key = keyfile::read_verifier(&a.log_key).context("--log-key")?;
    let rt = crate::util::runtime::current_thread()?;
    let work = tempfile::Builder::new()
        .prefix("provlog-audit-")
        .tempdir_in(a.work_dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the audit's scratch directory (--work-dir)")?;
    let store = StateStore::open_with(work.path(), StateOptions::books_within(a.cache_mib))
        .context("opening the audit's scratch store")?;
    let mut auditor = Auditor::with_store(key.name(), Journal::scratch(&store, key.name()))?;
    auditor.book_mut().limit_memory(a.cache_mib.max(1) << 19);
    let (mut policies, mut events, mut states, mut findings, mut heartbeats) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut stopped = false;
    // The version the --credential question is about: the last commitment
    // at or before --at, its recomputed root and the record in it.
    let mut asked: Option<(
        u64,
        provlog_tlog::merkle::Hash,
        Option<provlog_proto::ledger::CredentialRecord>,
    )> = None;
    // Entries arrive in index order as their bundles are fetched and
    // checked; nothing is held beyond the auditor's registry and what its
    // scratch store has not written yet.
    let source = Source::open(&a.url, None, None)?.with_retries(crate::client::READ_RETRIES);
    // On a terminal's stderr, sized once the checkpoint is verified.
    let bar = std::cell::OnceCell::<indicatif::ProgressBar>::new();
    let say = |line: std::fmt::Arguments| match bar.get() {
        Some(b) => b.suspend(|| crate::util::output::out(line)),
        None => crate::util::output::out(line),
    };
    let snap = rt.block_on(snapshot_with(
        &source,
        &key,
        |cp| {
            let _ = bar.set(crate::util::progress::bar(cp.size, "entries", "auditing"));
        },
        |i, e| {
            if let Some(b) = bar.get() {
                b.inc(1);
            }
            if stopped {
                return Ok::<(), std::io::Error>(());
            }
            if i != auditor.next_index() {
                // Entries missing from the static API cannot be audited; the
                // replay stops at the first gap.
                say(format_args!(
                    "FINDING entry {} is missing; replay stops here",
                    auditor.next_index()
                ))?;
                findings += 1;
                stopped = true;
                return Ok(());
            }
            match auditor.try_push(e).map_err(std::io::Error::other)? {
                Ok(Audited::Policy { submitters }) => {
                    policies += 1;
                    if a.verbose {
                        say(format_args!(
                            "{i}: policy with {}",
                            crate::util::output::count(submitters as u64, "submitter", "submitters")
                        ))?;
                    }
                }
                Ok(Audited::State { map_root }) => {
                    states += 1;
                    if let Some(fp) = &a.credential
                        && a.at.is_none_or(|at| i <= at)
                    {
                        let record = auditor.record(fp).map_err(std::io::Error::other)?;
                        asked = Some((i, map_root, record));
                    }
                    if a.verbose {
                        say(format_args!(
                            "{i}: state commitment {}, recomputed from the entries before it",
                            provlog_tlog::b64::encode(map_root)
                        ))?;
                    }
                }
                Ok(Audited::LogKey { new }) => {
                    if a.verbose {
                        say(format_args!(
                            "{i}: log key rotation to {new}, signed by the old and the new key"
                        ))?;
                    }
                }
                Ok(Audited::Heartbeat { submitter, seq }) => {
                    heartbeats += 1;
                    if a.verbose {
                        say(format_args!("{i}: heartbeat seq {seq} of {submitter:?}"))?;
                    }
                }
                Ok(Audited::Event {
                    submitter,
                    policy_index,
                }) => {
                    events += 1;
                    if a.verbose {
                        say(format_args!(
                            "{i}: event by {submitter:?}, authorized by policy {policy_index}"
                        ))?;
                    }
                }
                Err(f) => {
                    findings += 1;
                    say(format_args!("FINDING {f}"))?;
                }
            }
            Ok(())
        },
    ))?;
    if let Some(b) = bar.get() {
        b.finish_and_clear();
    }
    findings += snap.findings.len() as u64;
    for f in &snap.findings {
        crate::util::output::out(format_args!("FINDING {}", f.0))?;
    }
    let n = crate::util::output::count;
    crate::util::output::out(format_args!(
        "audited {} of {} up to size {}: {}, {}, {}, {} recomputed and confirmed, {}",
        n(auditor.next_index(), "entry", "entries"),
        snap.checkpoint.origin,
        snap.checkpoint.size,
        n(policies, "policy entry", "policy entries"),
        n(events, "event", "events"),
        n(heartbeats, "heartbeat", "heartbeats"),
        n(states, "state commitment", "state commitments"),
        n(findings, "finding", "findings"),
    ))?;
    if let Some(fp) = &a.credential {
        match &asked {
            None => crate::util::output::out(format_args!("{fp}: no map version at or before the entry asked about"))?,
            Some((index, root, record)) => crate::util::output::out(format_args!(
                "{fp}: in the map committed at entry {index} (root {}, recomputed): {}",
                provlog_tlog::b64::encode(root),
                record.as_ref().map_or_else(
                    || "unknown (no event named it)".to_owned(),
                    |r| serde_json::to_string(r).unwrap_or_default()
                )
            ))?,
        }
    }
    if findings > 0 {
        bail!("{}", n(findings, "finding", "findings"));
    }
    Ok(())
}
