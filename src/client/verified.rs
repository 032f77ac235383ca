//! Reading a log as an outsider does: only the static tlog-tiles API
//! (`checkpoint`, `tile/…`) of a [`Source`] and the log's vkey, every entry
//! checked against the checkpoint's root before a caller sees it. Used by
//! `audit`, `fsck --url` and the monitor.

use super::{ClientError, Source, error_chain};
use futures_util::StreamExt;
use provlog_tlog::checkpoint::{Checkpoint, open_checkpoint_with};
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::{Hash, NodeId, leaf_hash};
use provlog_tlog::replay::{ImpliedTile, Replay};
use provlog_tlog::tile::{TileError, TileHashes, TileId, TileKind, decode_bundle, tiles_to_verify};

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
    /// The log's key history cannot be followed.
    #[error(transparent)]
    Keys(#[from] super::LogKeysError),
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

/// Most findings a snapshot keeps; beyond them it counts.
pub const MAX_FINDINGS: usize = 1000;

/// Findings, at most [`MAX_FINDINGS`] kept, the rest counted.
#[derive(Debug, Default)]
struct Findings {
    kept: Vec<Finding>,
    more: u64,
}

impl Findings {
    fn push(&mut self, f: String) {
        if self.kept.len() < MAX_FINDINGS {
            self.kept.push(Finding(f));
        } else {
            self.more += 1;
        }
    }

    fn into_vec(mut self) -> Vec<Finding> {
        if self.more > 0 {
            self.kept.push(Finding(format!(
                "… and {} more",
                crate::util::output::count(self.more, "finding", "findings")
            )));
        }
        self.kept
    }
}

/// Fetches and checks a log at its current checkpoint, handing each entry
/// that matches its leaf hash to `on_entry` in index order (entries of a
/// bundle that cannot be fetched or framed are skipped, with a finding).
///
/// The tree is replayed from its level-0 tiles in order
/// ([`provlog_tlog::replay`]): each bundle is checked against its level-0
/// tile, every upper tile against the hashes the level-0 tiles imply, and
/// at the end the root against the checkpoint's. Entries reach `on_entry`
/// as their bundle checks out, before the root is known: a snapshot with
/// findings proves nothing about them. Memory is bounded by the bundles in
/// flight and one tile per level, whatever size the checkpoint claims; a
/// level-0 tile the log does not serve ends the replay with a finding.
/// Fails outright only when nothing can be checked (no valid checkpoint,
/// unreachable log) or when `on_entry` fails.
///
/// # Errors
/// [`SnapshotError`]: no checkpoint, one that does not verify, or `on_entry`
/// failed.
pub async fn snapshot<E: std::error::Error + 'static>(
    source: &Source,
    key: &VerifierKey,
    on_entry: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<Snapshot, SnapshotError<E>> {
    snapshot_with(source, key, |_| {}, on_entry).await
}

/// [`snapshot`], calling `on_checkpoint` with the verified checkpoint
/// before the first entry: the size a progress bar counts up to.
///
/// # Errors
/// As [`snapshot`].
pub async fn snapshot_with<E: std::error::Error + 'static>(
    source: &Source,
    key: &VerifierKey,
    on_checkpoint: impl FnOnce(&Checkpoint),
    mut on_entry: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<Snapshot, SnapshotError<E>> {
    let note = source.checkpoint().await?;
    // The key that signs a tree of this size, from the log's key history
    // verified from `key` (a log that rotated signs later trees with its
    // new key; the old one alone no longer speaks for them).
    let keys = source.log_keys(key).await?;
    let (checkpoint, _) = open_checkpoint_with(&note, &keys).map_err(SnapshotError::Checkpoint)?;
    on_checkpoint(&checkpoint);
    let mut findings = Findings::default();
    let mut replay = Replay::whole(checkpoint.size);
    let mut pairs = std::pin::pin!(level0_with_bundles(source, &replay));
    let mut complete = true;
    while let Some((t, b, tile, bundle)) = pairs.next().await {
        let level0 = match tile {
            Ok(body) => body,
            Err(e) => {
                findings.push(format!(
                    "{}: {} (the checkpoint claims {}; the rest of the tree is not checked)",
                    t.path(),
                    error_chain(&e),
                    crate::util::output::count(checkpoint.size, "entry", "entries")
                ));
                complete = false;
                break;
            }
        };
        match replay.push(t, &level0) {
            Ok(upper) => check_upper(source, upper, &mut findings).await,
            Err(e) => {
                findings.push(format!("{}: {e} (the rest of the tree is not checked)", t.path()));
                complete = false;
                break;
            }
        }
        let body = match bundle {
            Ok(body) => body,
            Err(e) => {
                findings.push(format!("{}: {}", b.path(), error_chain(&e)));
                continue;
            }
        };
        let entries = match decode_bundle(&body, usize::from(b.width)) {
            Ok(g) => g,
            Err(e) => {
                findings.push(format!("{}: {e}", b.path()));
                continue;
            }
        };
        for (k, e) in entries.iter().enumerate() {
            let i = b.index * 256 + k as u64;
            if entry_matches(&level0, k, e) == Some(true) {
                on_entry(i, e).map_err(SnapshotError::Entry)?;
            } else {
                findings.push(format!(
                    "entry {i} in {} does not match its leaf hash in tile/0",
                    b.path()
                ));
            }
        }
    }
    if complete {
        match replay.finish() {
            Ok((root, upper)) => {
                check_upper(source, upper, &mut findings).await;
                if root != checkpoint.root {
                    findings.push("the tiles do not match the checkpoint root".into());
                }
            }
            Err(e) => findings.push(e.to_string()),
        }
    }
    Ok(Snapshot {
        checkpoint,
        findings: findings.into_vec(),
    })
}

/// A level-0 tile and its bundle, and what fetching each gave.
pub type TileAndBundle = (
    TileId,
    TileId,
    Result<Vec<u8>, ClientError>,
    Result<Vec<u8>, ClientError>,
);

/// Each level-0 tile `replay` still needs, with its entry bundle: the tile,
/// the bundle, and what fetching each gave, in order. Pairs are fetched
/// several at a time (a CDN or an object store answers each in tens of
/// milliseconds); nothing is listed ahead.
pub fn level0_with_bundles<'a>(
    source: &'a Source,
    replay: &Replay,
) -> impl futures_util::Stream<Item = TileAndBundle> + 'a {
    futures_util::stream::iter(replay.level0_tiles().map(move |t| async move {
        let b = TileId {
            kind: TileKind::Entries,
            index: t.index,
            width: t.width,
        };
        let (tile, bundle) = futures_util::future::join(source.tile(&t), source.tile(&b)).await;
        (t, b, tile, bundle)
    }))
    .buffered(PARALLEL / 2)
}

/// Compares the upper tiles a replay implies with the ones `source` serves.
async fn check_upper(source: &Source, implied: Vec<ImpliedTile>, findings: &mut Findings) {
    for u in implied {
        match source.tile(&u.tile).await {
            Ok(body) if body == u.bytes => {}
            Ok(_) => findings.push(format!(
                "{}: differs from the hashes its level-0 tiles imply",
                u.tile.path()
            )),
            Err(e) => findings.push(format!("{}: {}", u.tile.path(), error_chain(&e))),
        }
    }
}

/// Fetches the hash tiles of a tree of `size` that hold `nodes` (a few per
/// node: memory is bounded by the nodes asked for), several at a time. Not
/// authenticated: the caller checks what it computes from them, e.g. a
/// consistency proof against a checkpoint's root.
///
/// # Errors
/// [`TilesError`].
pub async fn tiles_holding(source: &Source, size: u64, nodes: &[NodeId]) -> Result<TileHashes, TilesError> {
    let need = provlog_tlog::tile::tiles_for_nodes(size, nodes).map_err(TilesError::Plan)?;
    let mut th = TileHashes::new(size);
    let mut fetched = futures_util::stream::iter(need.into_iter().map(|t| async move { (t, source.tile(&t).await) }))
        .buffered(PARALLEL);
    while let Some((t, body)) = fetched.next().await {
        let body = body.map_err(|source| TilesError::Fetch { path: t.path(), source })?;
        th.insert(t, body)
            .map_err(|source| TilesError::Tile { path: t.path(), source })?;
    }
    Ok(th)
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

/// Why the entries of a newer checkpoint could not be read as an
/// extension of an older one ([`read_extension`]).
#[derive(Debug, thiserror::Error)]
pub enum ExtensionError<E: std::error::Error + 'static> {
    /// The tiles that hold the older tree's compact range are unavailable
    /// or malformed.
    #[error(transparent)]
    Tiles(#[from] TilesError),
    /// A level-0 tile or an entry bundle could not be fetched.
    #[error("{path}")]
    Fetch {
        /// The tile.
        path: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// A bundle does not frame.
    #[error("{path}")]
    Bundle {
        /// The bundle.
        path: String,
        /// Why.
        #[source]
        source: TileError,
    },
    /// The tiles do not replay (a tile of the wrong width or content).
    #[error("replaying the tiles")]
    Replay(#[source] provlog_tlog::replay::ReplayError),
    /// An entry is not the leaf its level-0 tile holds.
    #[error("entry {index} in {path} does not match its leaf hash in tile/0")]
    EntryMismatch {
        /// The entry's index.
        index: u64,
        /// Its bundle.
        path: String,
    },
    /// What the log serves does not hash to the checkpoint's root.
    #[error("the tiles the log serves do not hash to the root of its checkpoint of size {size}")]
    Unproven {
        /// The checkpoint's size.
        size: u64,
    },
    /// The newer checkpoint's tree does not start with the older one: two
    /// trees the log signed that cannot both be true (a fork).
    #[error(
        "the checkpoint of size {size} does not extend the verified one of size {old_size}: its first {old_size} entries hash to {found}, not {expected}"
    )]
    Fork {
        /// The older size.
        old_size: u64,
        /// The newer size.
        size: u64,
        /// The older root (base64).
        expected: String,
        /// What the newer tree's prefix hashes to (base64).
        found: String,
    },
    /// The caller's `on_entry` failed.
    #[error(transparent)]
    Entry(E),
}

/// Reads the entries `from … cp.size - 1` of the tree of the verified
/// checkpoint `cp`, each checked against the level-0 tiles, and the tiles
/// replayed to `cp`'s root; with `old` (a verified checkpoint of size
/// `from`), also proves that `cp` extends it. What a reader that follows a
/// log (the gate) calls on each new checkpoint.
///
/// Entries reach `on_entry` before the root is known: the caller keeps
/// what it learns until this returns `Ok`. Memory is bounded by the
/// bundles in flight and the tiles holding `from`'s compact range.
///
/// # Errors
/// [`ExtensionError`]; [`ExtensionError::Fork`] only when the log's tiles
/// do hash to `cp`'s root (so `cp`'s tree provably has another prefix).
pub async fn read_extension<E: std::error::Error + 'static>(
    source: &Source,
    old: Option<&Checkpoint>,
    from: u64,
    cp: &Checkpoint,
    mut on_entry: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<(), ExtensionError<E>> {
    use provlog_tlog::merkle::{CompactRange, HashSource};
    let from = from.min(cp.size);
    let (start, prefix) = if from == 0 {
        (CompactRange::new(), provlog_tlog::merkle::EMPTY_ROOT)
    } else {
        let nodes = CompactRange::node_ids(from);
        let th = tiles_holding(source, cp.size, &nodes).await?;
        let hashes = th.node_hashes(&nodes).map_err(|source| TilesError::Tile {
            path: format!("the tiles holding the compact range of size {from}"),
            source,
        })?;
        let range = CompactRange::from_hashes(from, hashes).ok_or(ExtensionError::Unproven { size: cp.size })?;
        let prefix = range.root();
        (range, prefix)
    };
    let mut replay = Replay::from_range(start, cp.size).map_err(ExtensionError::Replay)?;
    let mut pairs = std::pin::pin!(level0_with_bundles(source, &replay));
    while let Some((t, b, tile, bundle)) = pairs.next().await {
        let level0 = tile.map_err(|source| ExtensionError::Fetch { path: t.path(), source })?;
        replay.push(t, &level0).map_err(ExtensionError::Replay)?;
        let body = bundle.map_err(|source| ExtensionError::Fetch { path: b.path(), source })?;
        let entries = decode_bundle(&body, usize::from(b.width))
            .map_err(|source| ExtensionError::Bundle { path: b.path(), source })?;
        for (k, e) in entries.iter().enumerate() {
            let i = b.index * 256 + k as u64;
            if i < from {
                continue;
            }
            if entry_matches(&level0, k, e) != Some(true) {
                return Err(ExtensionError::EntryMismatch {
                    index: i,
                    path: b.path(),
                });
            }
            on_entry(i, e).map_err(ExtensionError::Entry)?;
        }
    }
    let (root, _) = replay.finish().map_err(ExtensionError::Replay)?;
    if root != cp.root {
        return Err(ExtensionError::Unproven { size: cp.size });
    }
    if let Some(old) = old
        && (old.size != from || old.root != prefix)
    {
        return Err(ExtensionError::Fork {
            old_size: old.size,
            size: cp.size,
            expected: provlog_tlog::b64::encode(old.root),
            found: provlog_tlog::b64::encode(prefix),
        });
    }
    Ok(())
}

/// Proves that the verified checkpoint `older` is a prefix of the verified
/// `newer` from the tiles of `newer`'s tree (authenticated against its
/// root): what a reader checks when a log (or a mirror lagging behind)
/// serves a checkpoint smaller than one it has already verified.
///
/// # Errors
/// [`TilesError`] when the tiles cannot be fetched or authenticated;
/// `Ok(false)` when they prove `older` is not a prefix (a fork).
pub async fn is_prefix(source: &Source, older: &Checkpoint, newer: &Checkpoint) -> Result<bool, TilesError> {
    use provlog_tlog::merkle::{CompactRange, HashSource};
    if older.size > newer.size {
        return Ok(false);
    }
    if older.size == newer.size {
        return Ok(older.root == newer.root);
    }
    if older.size == 0 {
        return Ok(older.root == provlog_tlog::merkle::EMPTY_ROOT);
    }
    let nodes = CompactRange::node_ids(older.size);
    let th = authenticated_tiles(source, older.size, newer.size, &newer.root, &nodes).await?;
    let hashes = th.node_hashes(&nodes).map_err(|source| TilesError::Tile {
        path: format!("the tiles holding the compact range of size {}", older.size),
        source,
    })?;
    Ok(CompactRange::from_hashes(older.size, hashes).is_some_and(|r| r.root() == older.root))
}
