//! `provlog sign` and `provlog submit`.

use crate::keyfile;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;

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
}

#[derive(Debug, clap::Args)]
pub(super) struct SubmitArgs {
    #[command(flatten)]
    sign: SignArgs,
    /// The log's base URL.
    #[arg(long, env = "PROVLOG_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
}

fn read_events(file: Option<&PathBuf>) -> Result<Vec<Value>> {
    let mut text = String::new();
    match file.filter(|p| p.as_os_str() != "-") {
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

fn signed(a: &SignArgs) -> Result<Vec<Value>> {
    let key = keyfile::read_signer(&a.key)?;
    let submitter = a.submitter.clone().unwrap_or_else(|| key.name().to_owned());
    read_events(a.file.as_ref())?
        .iter()
        .enumerate()
        .map(|(i, e)| provlog_proto::submission::sign(e, &submitter, &key).with_context(|| format!("event #{}", i + 1)))
        .collect()
}

pub(super) fn sign(a: &SignArgs) -> Result<()> {
    for s in signed(a)? {
        println!("{s}");
    }
    Ok(())
}

pub(super) fn submit(a: &SubmitArgs) -> Result<()> {
    let subs = signed(&a.sign)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{}/v1/entries", a.url.trim_end_matches('/'));
        let mut failed = 0usize;
        for (i, s) in subs.iter().enumerate() {
            let resp = client
                .post(&url)
                .json(s)
                .send()
                .await
                .with_context(|| format!("POST {url}"))?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            if status.is_success() {
                println!("{}", body.trim_end());
            } else {
                failed += 1;
                eprintln!("event #{}: {status}: {}", i + 1, body.trim_end());
            }
        }
        if failed > 0 {
            bail!("{failed} of {} submissions were rejected", subs.len());
        }
        Ok(())
    })
}
