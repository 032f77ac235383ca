//! `provlog fsck`: check a log's data, offline from its data directory or
//! from outside over the static API, and print every finding with where it
//! is.

use crate::client::Source;
use crate::client::verified::snapshot_with;
use crate::util::keyfile;
use anyhow::{Context, Result, bail};
use provlog_proto::leaf::Leaf;
use provlog_storage::verify::{Depth, findings};
use provlog_storage::{Store, StoreOptions};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Check a stopped log's data directory (opened read-only).
    #[arg(long, conflicts_with = "url", required_unless_present = "url")]
    data_dir: Option<PathBuf>,
    /// Check a running log (or a mirror) through its tiles and bundles.
    #[arg(long, requires = "log_key")]
    url: Option<String>,
    /// The log's vkey or a file holding it (default with --data-dir:
    /// DIR/log.vkey).
    #[arg(long)]
    log_key: Option<String>,
    /// Stop after this many findings.
    #[arg(long, default_value_t = 100)]
    max_findings: usize,
}

pub(super) fn run(a: &Args) -> Result<()> {
    let key_arg = match (&a.log_key, &a.data_dir) {
        (Some(k), _) => k.clone(),
        (None, Some(d)) => d.join("log.vkey").to_string_lossy().into_owned(),
        (None, None) => bail!("--url needs --log-key"),
    };
    let key = keyfile::read_verifier(&key_arg).context("log key")?;
    let (what, size, problems): (String, u64, Vec<String>) = if let Some(dir) = &a.data_dir {
        let db = dir.join("db");
        if !db.exists() {
            bail!("{} holds no provlog store", dir.display());
        }
        let store = Store::open(
            &db,
            &StoreOptions {
                read_only: true,
                ..StoreOptions::default()
            },
        )
        .with_context(|| format!("opening {} read-only (is the server still running?)", db.display()))?;
        let (cp, found) = findings(
            &store,
            &crate::log::keys::trusted_keys(&store, &key)?,
            Depth::Full,
            a.max_findings,
        );
        let mut problems: Vec<String> = found.iter().map(ToString::to_string).collect();
        if let Some(cp) = &cp {
            for i in 0..cp.size {
                if problems.len() >= a.max_findings {
                    break;
                }
                if let Ok(Some(e)) = store.entry(i)
                    && let Err(err) = Leaf::parse(&e)
                {
                    problems.push(format!("entry {i}: {err}"));
                }
            }
        }
        (dir.display().to_string(), cp.map_or(store.size(), |c| c.size), problems)
    } else {
        let url = a.url.clone().unwrap_or_default();
        let rt = crate::util::runtime::current_thread()?;
        let mut bad_entries = Vec::new();
        let source = Source::open(&url, None, None)?.with_retries(crate::client::READ_RETRIES);
        // On a terminal's stderr, sized once the checkpoint is verified.
        let bar = std::cell::OnceCell::new();
        let snap = rt.block_on(snapshot_with(
            &source,
            &key,
            |cp| {
                let _ = bar.set(crate::util::progress::bar(cp.size, "entries", "checking"));
            },
            |i, e| {
                if let Some(b) = bar.get() {
                    b.inc(1);
                }
                if let Err(err) = Leaf::parse(e)
                    && bad_entries.len() < a.max_findings
                {
                    bad_entries.push(format!("entry {i}: {err}"));
                }
                Ok::<(), std::convert::Infallible>(())
            },
        ))?;
        if let Some(b) = bar.get() {
            b.finish_and_clear();
        }
        let mut problems: Vec<String> = snap.findings.into_iter().map(|f| f.0).collect();
        problems.extend(bad_entries);
        (url, snap.checkpoint.size, problems)
    };
    for p in &problems {
        crate::util::output::out(format_args!("FINDING {p}"))?;
    }
    let findings = crate::util::output::count(problems.len() as u64, "finding", "findings");
    crate::util::output::out(format_args!("fsck {what}: tree size {size}, {findings}"))?;
    if !problems.is_empty() {
        bail!("{findings}");
    }
    Ok(())
}
