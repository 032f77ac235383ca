//! Reading a log as an outsider does: only the static tlog-tiles API
//! (`checkpoint`, `tile/…`) of a [`Source`] and the log's vkey, every entry
//! checked against the checkpoint's root before a caller sees it. Used by
//! `audit`, `fsck --url` and the monitor.

use super::{ClientError, Source, error_chain};
use futures_util::StreamExt;
use provlog_tlog::checkpoint::{Checkpoint, open_checkpoint};
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::{Hash, NodeId, leaf_hash};
use provlog_tlog::tile::{TileError, TileHashes, TileId, TileKind, decode_bundle, tiles_for_size, tiles_to_verify};

/// A problem found in what a log serves, with where.
#[derive(Debug)]
pub struct Finding(pub String);

/// Requests in flight while reading bundles: a CDN or an object store
/// answers each in tens of milliseconds, so one at a time would leave a
/// replay latency-bound.
const PARALLEL: usize = 16;

/// What a log serves at one checkpoint, checked as far as the static API
/// allows: the checkpoint signature, every hash tile authenticated against
/// the checkpoint's root, every bundle framed and each entry equal to its
/// leaf hash in the level-0 tiles.
#[derive(Debug)]
pub struct Snapshot {
    /// The checkpoint, verified under the log's key.
    pub checkpoint: Checkpoint,
    /// What did not check out, with where.
    pub findings: Vec<Finding>,
}

/// Why a snapshot could not be taken at all.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError<E: std::error::Error + 'static> {
    /// The checkpoint cannot be fetched.
    #[error(transparent)]
    Fetch(#[from] ClientError),
    /// The checkpoint does not verify under the log's key.
    #[error("the checkpoint does not verify")]
    Checkpoint(#[source] provlog_tlog::checkpoint::CheckpointError),
    /// The caller's `on_entry` failed.
    #[error(transparent)]
    Entry(E),
}

/// Whether `entry` is the `k`-th leaf of the level-0 hash tile `level0`:
/// the one check every reader makes before it trusts an entry of a bundle.
#[must_use]
pub fn entry_matches(level0: &[u8], k: usize, entry: &[u8]) -> Option<bool> {
    level0
        .get(k * 32..k * 32 + 32)
        .map(|h| h == leaf_hash(entry).as_slice())
}

/// Fetches and checks a log at its current checkpoint, handing each entry
/// that matches its leaf hash to `on_entry` in index order (entries of a
/// bundle that cannot be fetched or framed are skipped, with a finding).
/// Memory stays bounded by the hash tiles and the bundles in flight,
/// whatever the log's size. Fails outright only when nothing can be checked
/// (no valid checkpoint, unreachable log) or when `on_entry` fails.
///
/// # Errors
/// [`SnapshotError`]: no checkpoint, one that does not verify, or `on_entry`
/// failed.
pub async fn snapshot<E: std::error::Error + 'static>(
    source: &Source,
    key: &VerifierKey,
    mut on_entry: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<Snapshot, SnapshotError<E>> {
    let note = source.checkpoint().await?;
    let (checkpoint, _) = open_checkpoint(&note, key).map_err(SnapshotError::Checkpoint)?;
    let all = tiles_for_size(checkpoint.size);
    let mut tiles = TileHashes::new(checkpoint.size);
    let mut findings = Vec::new();
    let mut hash_tiles = futures_util::stream::iter(
        all.iter()
            .filter(|t| matches!(t.kind, TileKind::Hash { .. }))
            .map(|t| async move { (t, source.tile(t).await) }),
    )
    .buffered(PARALLEL);
    while let Some((t, body)) = hash_tiles.next().await {
        match body {
            Ok(body) => {
                if let Err(e) = tiles.insert(*t, body) {
                    findings.push(Finding(format!("{}: {e}", t.path())));
                }
            }
            Err(e) => findings.push(Finding(format!("{}: {}", t.path(), error_chain(&e)))),
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
            .map(|b| async move { (b, source.tile(b).await) }),
    )
    .buffered(PARALLEL);
    while let Some((b, body)) = bundles.next().await {
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                findings.push(Finding(format!("{}: {}", b.path(), error_chain(&e))));
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
            match level0.and_then(|t| entry_matches(t, k, e)) {
                Some(true) => on_entry(i, e).map_err(SnapshotError::Entry)?,
                Some(false) => findings.push(Finding(format!(
                    "entry {i} in {} does not match its leaf hash in tile/0",
                    b.path()
                ))),
                None => findings.push(Finding(format!("entry {i}: no level-0 tile to check it against"))),
            }
        }
    }
    Ok(Snapshot { checkpoint, findings })
}

/// Why the hash tiles of a tree could not be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum TilesError {
    /// The sizes or nodes asked for are impossible.
    #[error("planning the tiles to fetch")]
    Plan(#[source] TileError),
    /// A tile could not be fetched.
    #[error("{path}")]
    Fetch {
        /// The tile.
        path: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// A tile is malformed (wrong length, not a hash tile).
    #[error("{path}")]
    Tile {
        /// The tile.
        path: String,
        /// Why.
        #[source]
        source: TileError,
    },
    /// The tiles do not hash to the checkpoint's root.
    #[error("tiles do not match the checkpoint of size {size}")]
    Root {
        /// The checkpoint's size.
        size: u64,
        /// Why.
        #[source]
        source: TileError,
    },
}

/// Fetches the hash tiles of a tree of `size` that growing from `old` and
/// reading `nodes` need (C2SP tlog-tiles: only those), several at a time,
/// and authenticates them against `root`. Memory is bounded by the tiles
/// needed, whatever the tree's size.
///
/// # Errors
/// [`TilesError`].
pub async fn authenticated_tiles(
    source: &Source,
    old: u64,
    size: u64,
    root: &Hash,
    nodes: &[NodeId],
) -> Result<TileHashes, TilesError> {
    let need = tiles_to_verify(old, size, nodes).map_err(TilesError::Plan)?;
    let mut th = TileHashes::new(size);
    let mut fetched = futures_util::stream::iter(need.into_iter().map(|t| async move { (t, source.tile(&t).await) }))
        .buffered(PARALLEL);
    while let Some((t, body)) = fetched.next().await {
        let body = body.map_err(|source| TilesError::Fetch { path: t.path(), source })?;
        th.insert(t, body)
            .map_err(|source| TilesError::Tile { path: t.path(), source })?;
    }
    th.authenticate(root)
        .map_err(|source| TilesError::Root { size, source })?;
    Ok(th)
}
