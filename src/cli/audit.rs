//! `provlog audit`: rebuild, from the static tlog-tiles API alone, the
//! authority every event ran under, and check it.
//!
//! Fetches the checkpoint and verifies it with the log key, fetches every
//! hash tile of that size and authenticates them against the checkpoint's
//! root, fetches every entry bundle and checks each entry's leaf hash
//! against the level-0 tiles, then replays the entries through
//! [`provlog_proto::audit::Auditor`].

use crate::keyfile;
use anyhow::{Context, Result, bail};
use provlog_proto::audit::{Audited, Auditor};
use provlog_proto::checkpoint::open_checkpoint;
use provlog_proto::merkle::leaf_hash;
use provlog_proto::tile::{TileHashes, TileId, TileKind, decode_bundle, tiles_for_size};

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
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>> {
    let r = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    if !r.status().is_success() {
        bail!("GET {url}: {}", r.status());
    }
    Ok(r.bytes().await?.to_vec())
}

pub(super) fn run(a: &Args) -> Result<()> {
    let key = keyfile::read_verifier(&a.log_key).context("--log-key")?;
    let base = a.url.trim_end_matches('/').to_owned();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = reqwest::Client::new();
        let note = fetch(&client, &format!("{base}/checkpoint")).await?;
        let (cp, _) = open_checkpoint(&note, &key).context("checkpoint")?;
        let all = tiles_for_size(cp.size);
        let mut tiles = TileHashes::new(cp.size);
        for t in all.iter().filter(|t| matches!(t.kind, TileKind::Hash { .. })) {
            let body = fetch(&client, &format!("{base}/{}", t.path())).await?;
            tiles.insert(*t, body).with_context(|| t.path())?;
        }
        tiles
            .authenticate(&cp.root)
            .context("the tiles do not match the checkpoint")?;
        let mut auditor = Auditor::new();
        let (mut policies, mut events, mut findings) = (0u64, 0u64, 0u64);
        for b in all.iter().filter(|t| t.kind == TileKind::Entries) {
            let body = fetch(&client, &format!("{base}/{}", b.path())).await?;
            let entries = decode_bundle(&body, usize::from(b.width)).with_context(|| b.path())?;
            let level0 = tiles
                .get(&TileId::hash(0, b.index, b.width))
                .or_else(|| tiles.get(&TileId::hash(0, b.index, 256)))
                .with_context(|| format!("no level-0 tile for {}", b.path()))?;
            for (k, e) in entries.iter().enumerate() {
                let i = b.index * 256 + k as u64;
                if level0.get(k * 32..k * 32 + 32) != Some(leaf_hash(e).as_slice()) {
                    bail!("entry {i} in {} does not match its leaf hash in the tiles", b.path());
                }
                match auditor.push(e) {
                    Ok(Audited::Policy { submitters }) => {
                        policies += 1;
                        if a.verbose {
                            super::out(format_args!("{i}: policy with {submitters} submitters"))?;
                        }
                    }
                    Ok(Audited::Event {
                        submitter,
                        policy_index,
                    }) => {
                        events += 1;
                        if a.verbose {
                            super::out(format_args!(
                                "{i}: event by {submitter:?}, authorized by policy {policy_index}"
                            ))?;
                        }
                    }
                    Err(f) => {
                        findings += 1;
                        super::out(format_args!("FINDING {f}"))?;
                    }
                }
            }
        }
        super::out(format_args!(
            "audited {} entries of {} up to size {}: {policies} policy entries, {events} events, {findings} findings",
            auditor.next_index(),
            cp.origin,
            cp.size
        ))?;
        if findings > 0 {
            bail!("{findings} entries break the authority rules");
        }
        Ok(())
    })
}
