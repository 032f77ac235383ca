//! Reading a log as an outsider does: only the static tlog-tiles API
//! (`/checkpoint`, `/tile/…`) and the log's vkey. Shared by `audit` and
//! `fsck --url`.

use anyhow::{Context, Result};
use futures_util::StreamExt;
use provlog_proto::checkpoint::{Checkpoint, open_checkpoint};
use provlog_proto::keys::VerifierKey;
use provlog_proto::merkle::leaf_hash;
use provlog_proto::tile::{TileHashes, TileId, TileKind, decode_bundle, tiles_for_size};

pub(super) use crate::fetch::fetch;
use crate::fetch::fetch_tile;

/// A problem found in what a log serves, with where.
#[derive(Debug)]
pub(super) struct Finding(pub(super) String);

/// Requests in flight while reading bundles: a CDN or an object store
/// answers each in tens of milliseconds, so one at a time would leave a
/// replay latency-bound.
const PARALLEL: usize = 16;

/// What a log serves at one checkpoint, checked as far as the static API
/// allows: the checkpoint signature, every hash tile authenticated against
/// the checkpoint's root, every bundle framed and each entry equal to its
/// leaf hash in the level-0 tiles.
pub(super) struct Snapshot {
    pub(super) checkpoint: Checkpoint,
    pub(super) findings: Vec<Finding>,
}

/// Fetches and checks a log at its current checkpoint, handing each entry
/// that matches its leaf hash to `on_entry` in index order (entries of a
/// bundle that cannot be fetched or framed are skipped, with a finding).
/// Memory stays bounded by the hash tiles and the bundles in flight,
/// whatever the log's size. Fails outright only when nothing can be checked
/// (no valid checkpoint, unreachable log) or when `on_entry` fails.
pub(super) async fn snapshot(
    base: &str,
    key: &VerifierKey,
    mut on_entry: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Snapshot> {
    let base = base.trim_end_matches('/');
    let client = crate::fetch::client()?;
    let note = fetch(&client, &format!("{base}/checkpoint")).await?;
    let (checkpoint, _) = open_checkpoint(&note, key).context("the checkpoint does not verify")?;
    let all = tiles_for_size(checkpoint.size);
    let mut tiles = TileHashes::new(checkpoint.size);
    let mut findings = Vec::new();
    let client = &client;
    let mut hash_tiles = futures_util::stream::iter(
        all.iter()
            .filter(|t| matches!(t.kind, TileKind::Hash { .. }))
            .map(|t| async move { (t, fetch_tile(client, base, t).await) }),
    )
    .buffered(PARALLEL);
    while let Some((t, body)) = hash_tiles.next().await {
        match body {
            Ok(body) => {
                if let Err(e) = tiles.insert(*t, body) {
                    findings.push(Finding(format!("{}: {e}", t.path())));
                }
            }
            Err(e) => findings.push(Finding(format!("{}: {e:#}", t.path()))),
        }
    }
    if findings.is_empty()
        && let Err(e) = tiles.authenticate(&checkpoint.root)
    {
        findings.push(Finding(format!("tiles do not match the checkpoint root: {e}")));
    }
    let mut bundles = futures_util::stream::iter(
        all.iter()
            .filter(|t| t.kind == TileKind::Entries)
            .map(|b| async move { (b, fetch_tile(client, base, b).await) }),
    )
    .buffered(PARALLEL);
    while let Some((b, body)) = bundles.next().await {
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                findings.push(Finding(format!("{}: {e:#}", b.path())));
                continue;
            }
        };
        let got = match decode_bundle(&body, usize::from(b.width)) {
            Ok(g) => g,
            Err(e) => {
                findings.push(Finding(format!("{}: {e}", b.path())));
                continue;
            }
        };
        let level0 = tiles.get(&TileId::hash(0, b.index, b.width));
        for (k, e) in got.iter().enumerate() {
            let i = b.index * 256 + k as u64;
            match level0.and_then(|t| t.get(k * 32..k * 32 + 32)) {
                Some(h) if h == leaf_hash(e).as_slice() => on_entry(i, e)?,
                Some(_) => findings.push(Finding(format!(
                    "entry {i} in {} does not match its leaf hash in tile/0",
                    b.path()
                ))),
                None => findings.push(Finding(format!("entry {i}: no level-0 tile to check it against"))),
            }
        }
    }
    Ok(Snapshot { checkpoint, findings })
}
