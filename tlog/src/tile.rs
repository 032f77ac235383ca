//! C2SP tlog-tiles: tile and entry-bundle paths, tile math, entry-bundle
//! framing, and a [`HashSource`] over fetched tiles.
//!
//! * A hash tile `(level L, index N, width W)` holds the hashes of the
//!   perfect nodes at tree level `8·L` with indexes `[256·N, 256·N + W)`,
//!   concatenated (32 bytes each, no header). Width 256 is a full tile; widths
//!   1..=255 are partial tiles, served only for the exact width a published
//!   tree size justifies.
//! * Entry bundle `N` of width `W` holds entries `[256·N, 256·N + W)`, each
//!   framed as `u16 big-endian length || entry bytes`.
//! * Paths are `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]` with
//!   `N` split into `x`-prefixed 3-digit groups ([`encode_index`]); parsing is
//!   strict and canonical ([`TileId::parse_path`]).
//! * Clients that only have the static API follow the index-then-fetch shape
//!   of Go's `sumdb/tlog`: compute the nodes they need, ask
//!   [`tiles_for_nodes`] which tiles hold them, fetch those, put them in a
//!   [`TileHashes`] and read node hashes from it as a [`HashSource`].
//!
//! Nothing here does I/O.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::str::FromStr;

use crate::merkle::{EMPTY_ROOT, Hash, HashSource, NodeId, ProofError, node_hash};

/// Tile height: every tile spans 8 tree levels.
pub const TILE_HEIGHT: u8 = 8;

/// Number of hashes in a full tile (and entries in a full bundle): `2^8`.
pub const TILE_WIDTH: u64 = 256;

/// Largest entry an entry bundle can frame (its length prefix is a `u16`).
pub const MAX_ENTRY_BYTES: usize = 65_535;

/// Size in bytes of a full hash tile: 256 hashes of 32 bytes.
pub const FULL_TILE_BYTES: usize = 256 * 32;

/// Highest tile level a path may carry (`0..=63`).
pub const MAX_TILE_LEVEL: u8 = 63;

/// `TILE_WIDTH` as the `u16` width of a full tile.
pub(crate) const FULL_WIDTH: u16 = 256;

/// Hash size in bytes.
const HASH_BYTES: usize = 32;

/// Errors from tile paths, bundles and tile-backed hash reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    /// A tile path is not in the strict canonical form of SPECS §4.4.
    #[error("invalid tile path: {0}")]
    InvalidPath(&'static str),
    /// An entry is too long for the bundle's `u16` length prefix.
    #[error("entry {index} is {len} bytes; the limit is 65535")]
    EntryTooLarge {
        /// Position of the entry in the bundle.
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// A bundle ends inside a length prefix or an entry.
    #[error("entry bundle truncated")]
    BundleTruncated,
    /// A bundle holds fewer entries than expected.
    #[error("entry bundle has {found} entries, want {expected}")]
    BundleTooShort {
        /// Entries the caller expected.
        expected: usize,
        /// Entries the body holds.
        found: usize,
    },
    /// A bundle has bytes after the expected number of entries.
    #[error("entry bundle has more than {expected} entries")]
    BundleTooLong {
        /// Entries the caller expected.
        expected: usize,
    },
    /// An entry bundle was given where a hash tile is needed.
    #[error("{tile} is not a hash tile")]
    NotHashTile {
        /// The offending tile.
        tile: TileId,
    },
    /// A tile (with this exact width) is not part of the tree of this size.
    #[error("{tile} does not exist at tree size {size}")]
    TileNotInTree {
        /// The tile.
        tile: TileId,
        /// The tree size.
        size: u64,
    },
    /// A tile body does not have the length its width implies.
    #[error("tile body is {len} bytes, want {want}")]
    TileLength {
        /// Length received.
        len: usize,
        /// Length required (`width · 32`).
        want: usize,
    },
    /// A requested node is not a complete perfect subtree of the tree.
    #[error("node ({level}, {index}) is not complete at tree size {size}")]
    NodeNotInTree {
        /// Node level.
        level: u8,
        /// Node index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tile needed to answer a read has not been inserted.
    #[error("missing {tile}")]
    MissingTile {
        /// The tile that is needed.
        tile: TileId,
    },
    /// A [`HashSource`] broke its contract of one hash per requested node.
    #[error("hash source returned {got} hashes for {want} nodes")]
    SourceCount {
        /// Number of nodes requested.
        want: usize,
        /// Number of hashes returned.
        got: usize,
    },
    /// The root recomputed from the tiles is not the expected root.
    #[error("root recomputed from tiles does not match")]
    RootMismatch,
    /// A full tile does not hash to the entry its parent tile holds for it.
    #[error("{tile} does not match its parent tile")]
    TileMismatch {
        /// The full tile that failed authentication.
        tile: TileId,
    },
}

/// What a tile holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// A Merkle hash tile at tile level `level` (valid paths carry `0..=63`;
    /// only `0..=7` can exist in a tree with a `u64` size).
    Hash {
        /// Tile level: the tile holds nodes at tree level `8 · level`.
        level: u8,
    },
    /// An entry bundle (`tile/entries/…`).
    Entries,
}

/// A hash tile or entry bundle, full (`width == 256`) or partial
/// (`width` 1..=255).
///
/// Fields are public, so any combination can be built; [`TileId::is_valid`]
/// tells whether it is one a path can name, and [`TileId::parse_path`] only
/// ever returns valid ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Hash tile (with its level) or entry bundle.
    pub kind: TileKind,
    /// Tile index `N` within its level.
    pub index: u64,
    /// Number of hashes or entries, 1..=256; 256 means a full tile.
    pub width: u16,
}

impl TileId {
    /// The hash tile at `level`, `index` with `width` hashes (no validation).
    #[must_use]
    pub const fn hash(level: u8, index: u64, width: u16) -> Self {
        Self {
            kind: TileKind::Hash { level },
            index,
            width,
        }
    }

    /// The entry bundle `index` with `width` entries (no validation).
    #[must_use]
    pub const fn entries(index: u64, width: u16) -> Self {
        Self {
            kind: TileKind::Entries,
            index,
            width,
        }
    }

    /// True iff this is a full tile or bundle (`width == 256`).
    #[must_use]
    pub const fn is_full(&self) -> bool {
        self.width == FULL_WIDTH
    }

    /// True iff a path can name this tile: width in 1..=256 and, for a hash
    /// tile, level in 0..=63. `TileId::parse_path(&t.path()) == Ok(t)` holds
    /// exactly for valid ids.
    #[must_use]
    pub const fn is_valid(&self) -> bool {
        let level_ok = match self.kind {
            TileKind::Hash { level } => level <= MAX_TILE_LEVEL,
            TileKind::Entries => true,
        };
        level_ok && self.width >= 1 && self.width <= FULL_WIDTH
    }

    /// The tile's path relative to the log prefix, e.g.
    /// `tile/0/x001/x234/067`, `tile/1/000.p/17`, `tile/entries/000.p/8`.
    ///
    /// A full tile never carries a `.p/` suffix. For an invalid id (see
    /// [`TileId::is_valid`]) the path is still produced, with the raw width as
    /// suffix, and does not parse back.
    #[must_use]
    pub fn path(&self) -> String {
        let mut out = String::from("tile/");
        match self.kind {
            TileKind::Hash { level } => out.push_str(&level.to_string()),
            TileKind::Entries => out.push_str("entries"),
        }
        out.push('/');
        out.push_str(&encode_index(self.index));
        if !self.is_full() {
            out.push_str(".p/");
            out.push_str(&self.width.to_string());
        }
        out
    }

    /// Parses a path of the form `tile/<L>/<N>[.p/<W>]` or
    /// `tile/entries/<N>[.p/<W>]` (SPECS §4.4), strictly.
    ///
    /// Accepts only: `L` decimal 0..=63 without sign or leading zeros; `N` as
    /// 3-digit groups, all but the last prefixed with `x`, fitting in `u64`
    /// and in canonical (shortest) form; `W` decimal 1..=255 without leading
    /// zeros. On success the result is valid and `result.path() == path`.
    ///
    /// # Errors
    /// [`TileError::InvalidPath`] for anything else.
    pub fn parse_path(path: &str) -> Result<Self, TileError> {
        let rest = path
            .strip_prefix("tile/")
            .ok_or(TileError::InvalidPath("missing tile/ prefix"))?;
        let (level_seg, rest) = rest
            .split_once('/')
            .ok_or(TileError::InvalidPath("missing tile index"))?;
        let kind = if level_seg == "entries" {
            TileKind::Entries
        } else {
            let level = parse_decimal(level_seg, u64::from(MAX_TILE_LEVEL))
                .and_then(|l| u8::try_from(l).ok())
                .ok_or(TileError::InvalidPath("bad level"))?;
            TileKind::Hash { level }
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index_part, width_seg)) => {
                let width = parse_decimal(width_seg, 255)
                    .filter(|&w| w >= 1)
                    .and_then(|w| u16::try_from(w).ok())
                    .ok_or(TileError::InvalidPath("bad partial width"))?;
                (index_part, width)
            }
            None => (rest, FULL_WIDTH),
        };
        let index = parse_index(index_part)?;
        let tile = Self { kind, index, width };
        if tile.path() != path {
            return Err(TileError::InvalidPath("not canonical"));
        }
        Ok(tile)
    }

    /// The tree level of the hashes this tile holds (`8·L`; 0 for a bundle,
    /// whose entries are leaves) and the index range of those nodes (entry
    /// indexes for a bundle): `[256·N, 256·N + W)`.
    ///
    /// `None` when the tile cannot exist in any tree with a `u64` size:
    /// hash-tile level above 7, width 0, or the range overflowing `u64`.
    #[must_use]
    pub fn node_range(&self) -> Option<(u8, Range<u64>)> {
        let level = match self.kind {
            TileKind::Hash { level } if level < 8 => level * TILE_HEIGHT,
            TileKind::Hash { .. } => return None,
            TileKind::Entries => 0,
        };
        if self.width == 0 {
            return None;
        }
        let start = self.index.checked_mul(TILE_WIDTH)?;
        let end = start.checked_add(u64::from(self.width))?;
        Some((level, start..end))
    }
}

impl fmt::Display for TileId {
    /// Formats the tile as its [`TileId::path`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

impl FromStr for TileId {
    type Err = TileError;

    /// Same as [`TileId::parse_path`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_path(s)
    }
}

/// Encodes a tile index as SPECS §4.4 `<N>`: decimal, zero-padded to a
/// multiple of 3 digits, split into 3-digit groups, every group but the last
/// prefixed with `x`, joined with `/` (0 → `000`, 1234067 → `x001/x234/067`).
#[must_use]
pub fn encode_index(n: u64) -> String {
    let mut groups = Vec::with_capacity(7);
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(groups.len() * 5);
    for (i, g) in groups.iter().rev().enumerate() {
        // Writing to a String cannot fail.
        let _ = if i + 1 < groups.len() {
            write!(out, "x{g:03}/")
        } else {
            write!(out, "{g:03}")
        };
    }
    out
}

/// Parses a non-empty decimal without sign or leading zeros, at most `max`.
fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > 3 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes.first() == Some(&b'0') {
        return None;
    }
    s.parse::<u64>().ok().filter(|&v| v <= max)
}

/// Parses the `<N>` part of a path: `x`-prefixed 3-digit groups then a final
/// unprefixed 3-digit group. Canonical form is checked by the caller.
fn parse_index(s: &str) -> Result<u64, TileError> {
    let mut groups = s.split('/').peekable();
    let mut n: u64 = 0;
    while let Some(group) = groups.next() {
        let last = groups.peek().is_none();
        let digits = if last {
            group
        } else {
            group
                .strip_prefix('x')
                .ok_or(TileError::InvalidPath("index group without x prefix"))?
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TileError::InvalidPath("index group is not 3 digits"));
        }
        let g: u64 = digits
            .parse()
            .map_err(|_| TileError::InvalidPath("index group is not 3 digits"))?;
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(g))
            .ok_or(TileError::InvalidPath("index overflows u64"))?;
    }
    Ok(n)
}

/// `size >> (8 · level)`, or 0 when the shift is 64 bits or more.
fn nodes_at_tile_level(size: u64, level: u8) -> u64 {
    size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT)).unwrap_or(0)
}

/// The low 8 bits of `n` as a width (0..=255).
fn low_width(n: u64) -> u16 {
    u16::from(n.to_le_bytes()[0])
}

/// Pushes the tiles of one level (`kind`) that a tree growing from `o` to
/// `w` nodes at that level adds: full tiles `[o >> 8, w >> 8)` and the
/// partial tile `w >> 8` of width `w mod 256` if non-zero.
fn push_level_tiles(out: &mut Vec<TileId>, kind: TileKind, o: u64, w: u64) {
    if o >= w {
        return;
    }
    for index in (o >> 8)..(w >> 8) {
        out.push(TileId {
            kind,
            index,
            width: FULL_WIDTH,
        });
    }
    let width = low_width(w);
    if width > 0 {
        out.push(TileId {
            kind,
            index: w >> 8,
            width,
        });
    }
}

/// Every hash tile and entry bundle that exists for a tree of `size`
/// (SPECS §4.3): per level, the full tiles and the partial tile if its width
/// is non-zero, then the bundles by the level-0 rule. Hash tiles come first,
/// ordered by level then index; size 0 has none.
///
/// The result has about `size / 128` elements.
#[must_use]
pub fn tiles_for_size(size: u64) -> Vec<TileId> {
    new_tiles(0, size)
}

/// The tiles and bundles to publish when the tree grows from `old` to `new`
/// (Go `tlog.NewTiles`, SPECS §4.3): per level `l` while `new >> 8l > 0`,
/// with `o = old >> 8l`, `w = new >> 8l` and `o != w`, the full tiles with
/// index in `[o >> 8, w >> 8)` plus the partial tile `w >> 8` of width
/// `w mod 256` if non-zero; bundles follow the level-0 rule.
///
/// For `old < new` this is exactly `tiles_for_size(new)` minus
/// `tiles_for_size(old)`; for `old >= new` it is empty.
#[must_use]
pub fn new_tiles(old: u64, new: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    if old >= new {
        return out;
    }
    for level in 0..8u8 {
        let w = nodes_at_tile_level(new, level);
        if w == 0 {
            break;
        }
        let o = nodes_at_tile_level(old, level);
        push_level_tiles(&mut out, TileKind::Hash { level }, o, w);
    }
    push_level_tiles(&mut out, TileKind::Entries, old, new);
    out
}

/// The entry bundles a tree growing from `old` to `new` entries adds (the
/// bundles of [`new_tiles`]), lazily: a reader walks them without a list
/// as long as the tree.
pub fn new_bundles(old: u64, new: u64) -> impl Iterator<Item = TileId> + use<> {
    let (first, full) = if old >= new { (0, 0) } else { (old >> 8, new >> 8) };
    let width = if old >= new { 0 } else { low_width(new) };
    (first..full)
        .map(|index| TileId {
            kind: TileKind::Entries,
            index,
            width: FULL_WIDTH,
        })
        .chain((width > 0).then_some(TileId {
            kind: TileKind::Entries,
            index: full,
            width,
        }))
}

/// Every hash tile of a tree of `size` (the hash tiles of
/// [`tiles_for_size`], in the same order), lazily.
pub fn hash_tiles(size: u64) -> impl Iterator<Item = TileId> + use<> {
    (0..8u8).flat_map(move |level| {
        let w = nodes_at_tile_level(size, level);
        let width = low_width(w);
        (0..w >> 8)
            .map(move |index| TileId::hash(level, index, FULL_WIDTH))
            .chain((width > 0).then_some(TileId::hash(level, w >> 8, width)))
    })
}

/// True iff a tree of `size` justifies serving exactly this tile: a full tile
/// whose nodes are all complete, or the one partial tile of that level whose
/// width equals `floor(size / 256^l) mod 256` (bundles: level 0).
#[must_use]
pub fn tile_exists(tile: &TileId, size: u64) -> bool {
    let level = match tile.kind {
        TileKind::Hash { level } => level,
        TileKind::Entries => 0,
    };
    let n = nodes_at_tile_level(size, level);
    if tile.is_full() {
        tile.index < n >> 8
    } else {
        tile.width != 0 && tile.index == n >> 8 && tile.width == low_width(n)
    }
}

/// The perfect nodes whose hashes a hash tile holds, in order: tree level
/// `8·L`, indexes `[256·N, 256·N + W)`. For an entry bundle, the leaves
/// (level 0) of its entries. Empty when [`TileId::node_range`] is `None`.
pub fn tile_nodes(tile: &TileId) -> impl Iterator<Item = NodeId> + use<> {
    let (level, range) = tile.node_range().unwrap_or((0, 0..0));
    range.map(move |index| NodeId::new(level, index))
}

/// The entry bundle holding entry `index` in a tree of `size`, and the
/// entry's position in it: the full bundle `index / 256` if complete at
/// `size`, else the partial bundle of `size`. `None` if `index >= size`.
#[must_use]
pub fn entry_bundle(index: u64, size: u64) -> Option<(TileId, usize)> {
    if index >= size {
        return None;
    }
    let n = index >> 8;
    let width = if n < size >> 8 { FULL_WIDTH } else { low_width(size) };
    Some((TileId::entries(n, width), usize::from(low_width(index))))
}

/// Where a complete perfect node's hash lives (SPECS §4.7): the tile, the
/// first position in it and the count `2^r` of consecutive hashes (with
/// `r = level mod 8`) that hash up `r` levels to the node.
///
/// The tile is the full tile if it is complete at `size`, else the partial
/// tile of `size`, whose width is then at least `position + count`. `None`
/// if the node is not complete in a tree of `size`.
#[must_use]
pub fn node_tile(node: NodeId, size: u64) -> Option<(TileId, usize, usize)> {
    if !node_complete(node, size) {
        return None;
    }
    let tile_level = node.level / TILE_HEIGHT;
    let r = node.level % TILE_HEIGHT;
    let shift = TILE_HEIGHT - r;
    let tile_index = node.index >> shift;
    let pos = (node.index & ((1u64 << shift) - 1)) << r;
    let n = nodes_at_tile_level(size, tile_level);
    let width = if tile_index < n >> 8 { FULL_WIDTH } else { low_width(n) };
    let pos = usize::from(u16::try_from(pos).ok()?);
    let count = 1usize << r;
    Some((TileId::hash(tile_level, tile_index, width), pos, count))
}

/// True iff `node` is a complete perfect subtree of a tree of `size`.
fn node_complete(node: NodeId, size: u64) -> bool {
    let Some(span) = 1u64.checked_shl(u32::from(node.level)) else {
        return false;
    };
    node.index
        .checked_add(1)
        .and_then(|end| end.checked_mul(span))
        .is_some_and(|end| end <= size)
}

/// The distinct tiles needed to read the hashes of `nodes` in a tree of
/// `size` (via [`node_tile`]), in order of first use.
///
/// # Errors
/// [`TileError::NodeNotInTree`] if a node is not complete at `size`.
pub fn tiles_for_nodes(size: u64, nodes: &[NodeId]) -> Result<Vec<TileId>, TileError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for &node in nodes {
        let (tile, _, _) = node_tile(node, size).ok_or(TileError::NodeNotInTree {
            level: node.level,
            index: node.index,
            size,
        })?;
        if seen.insert(tile) {
            out.push(tile);
        }
    }
    Ok(out)
}

/// The perfect subtrees that make up a tree of `size`, one per set bit,
/// largest (leftmost) first (SPECS §1.2). Empty for size 0.
#[must_use]
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut start: u64 = 0;
    for level in (0..64u8).rev() {
        let span = 1u64 << level;
        if size & span != 0 {
            out.push(NodeId::new(level, start >> level));
            start |= span;
        }
    }
    out
}

/// The root of a tree of `size` from the hashes of its [`root_nodes`], read
/// in one call to `source` (typically a [`TileHashes`]): `EMPTY_ROOT` for
/// size 0, else the fold from the right `acc = node_hash(x, acc)`
/// (SPECS §1.2).
///
/// # Errors
/// [`ProofError::Source`] with the source's error, or
/// [`ProofError::SourceLength`] if the source returns the wrong number of
/// hashes.
pub fn root_from_tiles<S>(size: u64, source: &S) -> Result<Hash, ProofError<S::Error>>
where
    S: HashSource + ?Sized,
{
    let nodes = root_nodes(size);
    if nodes.is_empty() {
        return Ok(EMPTY_ROOT);
    }
    let hashes = source.node_hashes(&nodes).map_err(ProofError::Source)?;
    if hashes.len() != nodes.len() {
        return Err(ProofError::SourceLength {
            want: nodes.len(),
            got: hashes.len(),
        });
    }
    let mut rev = hashes.iter().rev();
    let Some(last) = rev.next() else {
        return Ok(EMPTY_ROOT);
    };
    Ok(rev.fold(*last, |acc, x| node_hash(x, &acc)))
}

/// RFC 6962 Merkle tree hash of a list of subtree hashes.
fn mth(hashes: &[Hash]) -> Hash {
    match hashes {
        [] => EMPTY_ROOT,
        [one] => *one,
        _ => {
            // Largest power of two strictly less than len (len >= 2).
            let k = 1usize << (usize::BITS - 1 - (hashes.len() - 1).leading_zeros());
            match hashes.split_at_checked(k) {
                Some((left, right)) => node_hash(&mth(left), &mth(right)),
                None => EMPTY_ROOT,
            }
        }
    }
}

/// The Merkle tree hash of the 32-byte hashes in `tile_bytes`, treated as
/// subtree roots of equal height. For a full tile (8192 bytes) this is the
/// root of the perfect subtree the tile represents, i.e. the hash its parent
/// tile holds for it. A trailing incomplete 32-byte chunk is ignored; use
/// [`full_tile_hash`] to also check the length.
#[must_use]
pub fn tile_hash(tile_bytes: &[u8]) -> Hash {
    let (hashes, _) = tile_bytes.as_chunks::<HASH_BYTES>();
    mth(hashes)
}

/// [`tile_hash`] of a full tile, checking that it is exactly 8192 bytes.
///
/// # Errors
/// [`TileError::TileLength`] for any other length.
pub fn full_tile_hash(tile_bytes: &[u8]) -> Result<Hash, TileError> {
    if tile_bytes.len() != FULL_TILE_BYTES {
        return Err(TileError::TileLength {
            len: tile_bytes.len(),
            want: FULL_TILE_BYTES,
        });
    }
    Ok(tile_hash(tile_bytes))
}

/// The hash tiles a client that verified a tree of `old` leaves needs in
/// order to verify its growth to `new` and read `nodes` of the new tree:
/// the tiles that change ([`new_tiles`]), the tiles holding `nodes`, and
/// every ancestor of a full tile among them, so that
/// [`TileHashes::authenticate`] can check all of them against the root of
/// `new`. Sorted by level, then index.
///
/// # Errors
/// A node that is not complete in a tree of `new` leaves.
pub fn tiles_to_verify(old: u64, new: u64, nodes: &[NodeId]) -> Result<Vec<TileId>, TileError> {
    let mut set: std::collections::BTreeSet<(u8, u64, u16)> = std::collections::BTreeSet::new();
    let key = |t: &TileId| match t.kind {
        TileKind::Hash { level } => Some((level, t.index, t.width)),
        TileKind::Entries => None,
    };
    for t in new_tiles(old, new).iter().chain(tiles_for_nodes(new, nodes)?.iter()) {
        if let Some(k) = key(t) {
            set.insert(k);
        }
    }
    // Ancestors: the tile one level up that holds a full tile's hash.
    let mut todo: Vec<(u8, u64, u16)> = set.iter().copied().filter(|&(_, _, w)| w == FULL_WIDTH).collect();
    while let Some((level, index, _)) = todo.pop() {
        let Some(up) = level.checked_add(1).filter(|l| *l <= 7) else {
            continue;
        };
        let n = nodes_at_tile_level(new, up);
        let pi = index >> 8;
        let width = if pi < n >> 8 { FULL_WIDTH } else { low_width(n) };
        if width == 0 {
            continue;
        }
        if set.insert((up, pi, width)) && width == FULL_WIDTH {
            todo.push((up, pi, width));
        }
    }
    Ok(set.into_iter().map(|(l, i, w)| TileId::hash(l, i, w)).collect())
}

/// Encodes an entry bundle: each entry as `u16 big-endian length || bytes`,
/// in order, with no count or trailer.
///
/// # Errors
/// [`TileError::EntryTooLarge`] if an entry exceeds [`MAX_ENTRY_BYTES`].
pub fn encode_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLarge {
            index,
            len: entry.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Decodes an entry bundle that must hold exactly `expected` entries and
/// nothing after them; the returned slices borrow from `body`.
///
/// # Errors
/// [`TileError::BundleTruncated`] if the body ends inside a length prefix or
/// entry, [`TileError::BundleTooShort`] if it holds fewer entries,
/// [`TileError::BundleTooLong`] if bytes follow the last expected entry.
pub fn decode_bundle(body: &[u8], expected: usize) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::with_capacity(expected.min(body.len() / 2));
    let mut rest = body;
    while !rest.is_empty() {
        if out.len() == expected {
            return Err(TileError::BundleTooLong { expected });
        }
        let (len, tail) = rest.split_first_chunk::<2>().ok_or(TileError::BundleTruncated)?;
        let len = usize::from(u16::from_be_bytes(*len));
        let (entry, tail) = tail.split_at_checked(len).ok_or(TileError::BundleTruncated)?;
        out.push(entry);
        rest = tail;
    }
    if out.len() != expected {
        return Err(TileError::BundleTooShort {
            expected,
            found: out.len(),
        });
    }
    Ok(out)
}

/// Hash tiles fetched for one tree size, readable as a [`HashSource`].
///
/// Every stored tile exists at `size` ([`tile_exists`]) and has the exact
/// length its width implies. Contents are unauthenticated until
/// [`TileHashes::authenticate`] succeeds (or the caller checks a root
/// computed from them against a verified checkpoint).
#[derive(Clone, Debug, Default)]
pub struct TileHashes {
    size: u64,
    tiles: HashMap<TileId, Vec<u8>>,
}

impl TileHashes {
    /// An empty set of tiles for a tree of `size`.
    #[must_use]
    pub fn new(size: u64) -> Self {
        Self {
            size,
            tiles: HashMap::new(),
        }
    }

    /// The tree size these tiles belong to.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// Number of stored tiles.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// True iff no tile is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    /// The stored body of `tile`, if any.
    #[must_use]
    pub fn get(&self, tile: &TileId) -> Option<&[u8]> {
        self.tiles.get(tile).map(Vec::as_slice)
    }

    /// Stores a fetched tile body, replacing any earlier body for it.
    ///
    /// # Errors
    /// [`TileError::NotHashTile`] for a bundle, [`TileError::TileNotInTree`]
    /// if the tile (with its width) does not exist at this size,
    /// [`TileError::TileLength`] unless `bytes.len() == width · 32`.
    pub fn insert(&mut self, tile: TileId, bytes: Vec<u8>) -> Result<(), TileError> {
        if tile.kind == TileKind::Entries {
            return Err(TileError::NotHashTile { tile });
        }
        if !tile_exists(&tile, self.size) {
            return Err(TileError::TileNotInTree { tile, size: self.size });
        }
        let want = usize::from(tile.width) * HASH_BYTES;
        if bytes.len() != want {
            return Err(TileError::TileLength { len: bytes.len(), want });
        }
        self.tiles.insert(tile, bytes);
        Ok(())
    }

    /// The hash of one complete node, read from its tile.
    fn node_hash(&self, node: NodeId) -> Result<Hash, TileError> {
        let (tile, pos, count) = node_tile(node, self.size).ok_or(TileError::NodeNotInTree {
            level: node.level,
            index: node.index,
            size: self.size,
        })?;
        let body = self.tiles.get(&tile).ok_or(TileError::MissingTile { tile })?;
        let (hashes, _) = body.as_chunks::<HASH_BYTES>();
        let slice = hashes.get(pos..pos + count).ok_or(TileError::MissingTile { tile })?;
        Ok(mth(slice))
    }

    /// Authenticates every stored tile against `root`, the verified root of
    /// a tree of [`TileHashes::size`] (Go `TileHashReader`): the root is
    /// recomputed from the partial tiles of the size (all of which must be
    /// present; together they hold exactly the root's subtrees), then every
    /// stored full tile must hash to the entry its parent tile (stored and
    /// already authenticated) holds for it.
    ///
    /// # Errors
    /// [`TileError::MissingTile`] if a partial tile of the size or a parent
    /// tile is absent, [`TileError::RootMismatch`], or
    /// [`TileError::TileMismatch`] naming the first full tile that fails.
    pub fn authenticate(&self, root: &Hash) -> Result<(), TileError> {
        let computed = root_from_tiles(self.size, self).map_err(|e| match e {
            ProofError::Source(e) => e,
            ProofError::SourceLength { want, got } => TileError::SourceCount { want, got },
            _ => TileError::RootMismatch,
        })?;
        if computed != *root {
            return Err(TileError::RootMismatch);
        }
        let mut full: Vec<&TileId> = self.tiles.keys().filter(|t| t.is_full()).collect();
        // Parents first: highest level first.
        full.sort_by(|a, b| b.cmp(a));
        let mut trusted: HashSet<TileId> = self.tiles.keys().filter(|t| !t.is_full()).copied().collect();
        for tile in full {
            let TileKind::Hash { level } = tile.kind else {
                return Err(TileError::NotHashTile { tile: *tile });
            };
            let parent_node = NodeId::new(
                level
                    .checked_add(1)
                    .and_then(|l| l.checked_mul(TILE_HEIGHT))
                    .ok_or(TileError::TileMismatch { tile: *tile })?,
                tile.index,
            );
            let (parent, _, _) = node_tile(parent_node, self.size).ok_or(TileError::TileMismatch { tile: *tile })?;
            if !trusted.contains(&parent) {
                return Err(TileError::MissingTile { tile: parent });
            }
            let body = self.tiles.get(tile).ok_or(TileError::MissingTile { tile: *tile })?;
            if self.node_hash(parent_node)? != tile_hash(body) {
                return Err(TileError::TileMismatch { tile: *tile });
            }
            trusted.insert(*tile);
        }
        Ok(())
    }
}

impl HashSource for TileHashes {
    type Error = TileError;

    /// Reads each node from its tile ([`node_tile`]) and hashes the `2^r`
    /// tile entries up to it.
    ///
    /// # Errors
    /// [`TileError::NodeNotInTree`] for a node not complete at the size,
    /// [`TileError::MissingTile`] for a tile not inserted.
    fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TileError> {
        ids.iter().map(|&id| self.node_hash(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, sha256};
    use proptest::prelude::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    const PATHS: &str = include_str!("../../testdata/vectors/tlog_tile_paths.json");
    const SMALL: &str = include_str!("../../testdata/vectors/tlog_tiles_small.json");
    const BIG: &str = include_str!("../../testdata/vectors/tlog_tiles_70000.json");
    const REF8: &str = include_str!("../../testdata/vectors/merkle_reference_8.json");

    fn json(text: &str) -> Value {
        serde_json::from_str(text).expect("vector JSON parses")
    }

    fn hex(s: &str) -> Vec<u8> {
        assert!(s.len().is_multiple_of(2), "odd hex length");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    fn to_hex(b: &[u8]) -> String {
        crate::hex::encode(b)
    }

    fn u(v: &Value) -> u64 {
        v.as_u64().expect("unsigned integer")
    }

    fn u8v(v: &Value) -> u8 {
        u8::try_from(u(v)).expect("fits u8")
    }

    fn width_of(partial: u64) -> u16 {
        if partial == 0 {
            256
        } else {
            u16::try_from(partial).expect("fits u16")
        }
    }

    /// All perfect-node hashes of a tree, for building tiles.
    struct Mem {
        size: u64,
        nodes: HashMap<NodeId, Hash>,
    }

    impl Mem {
        fn new(leaves: &[Vec<u8>]) -> Self {
            let mut nodes = HashMap::new();
            let mut level: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
            let mut h = 0u8;
            while !level.is_empty() {
                for (i, x) in level.iter().enumerate() {
                    nodes.insert(NodeId::new(h, u64::try_from(i).unwrap()), *x);
                }
                level = level.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
                h += 1;
            }
            Self {
                size: u64::try_from(leaves.len()).unwrap(),
                nodes,
            }
        }
    }

    impl HashSource for Mem {
        type Error = TileError;
        fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TileError> {
            ids.iter()
                .map(|id| {
                    if node_complete(*id, self.size) {
                        self.nodes.get(id).copied().ok_or(TileError::MissingTile {
                            tile: TileId::hash(0, 0, 0),
                        })
                    } else {
                        Err(TileError::NodeNotInTree {
                            level: id.level,
                            index: id.index,
                            size: self.size,
                        })
                    }
                })
                .collect()
        }
    }

    /// A tile body served from stored perfect nodes, as a server does.
    fn read_tile(tile: &TileId, mem: &Mem) -> Result<Vec<u8>, TileError> {
        if tile.kind == TileKind::Entries || tile.node_range().is_none() {
            return Err(TileError::NotHashTile { tile: *tile });
        }
        let ids: Vec<NodeId> = tile_nodes(tile).collect();
        Ok(mem.node_hashes(&ids)?.concat())
    }

    /// A `TileHashes` for `size` holding every hash tile of that size.
    fn tile_hashes(mem: &Mem, size: u64) -> TileHashes {
        let mut th = TileHashes::new(size);
        for t in tiles_for_size(size) {
            if matches!(t.kind, TileKind::Hash { .. }) {
                th.insert(t, read_tile(&t, mem).unwrap()).unwrap();
            }
        }
        th
    }

    fn big_leaves(n: u64) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
    }

    fn hash_paths(tiles: &[TileId]) -> Vec<String> {
        tiles
            .iter()
            .filter(|t| matches!(t.kind, TileKind::Hash { .. }))
            .map(TileId::path)
            .collect()
    }

    #[test]
    fn examples_from_spec() {
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(1), "001");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
        assert_eq!(encode_index(123_456_789), "x123/x456/789");
        assert_eq!(encode_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        assert_eq!(TileId::hash(0, 1_234_067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(TileId::hash(1, 0, 17).path(), "tile/1/000.p/17");
        assert_eq!(TileId::entries(0, 8).path(), "tile/entries/000.p/8");
        assert_eq!(
            TileId::parse_path("tile/0/x018/x446/x744/x073/x709/x551/615").unwrap(),
            TileId::hash(0, u64::MAX, 256)
        );
        for bad in [
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x000/001",
            "tile/00/001",
            "tile/+1/001",
            "tile/0/001.p/0",
            "tile/0/001.p/01",
            "tile/0/001.p/+1",
            "tile/0/001.p/5/",
            "tile/0/001/",
            "/tile/0/001",
            "0/001",
            "tile/entries/x001",
            "tile/data/001",
            "tile/0/X001/000",
            "tile/0/001.p/.p/1",
            "tile/0/00a",
            "tile//001",
            "tile/0/",
        ] {
            assert!(TileId::parse_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            "tile/entries/x123/x456/789".parse::<TileId>().unwrap(),
            TileId::entries(123_456_789, 256)
        );
    }

    #[test]
    fn path_vectors() {
        let v = json(PATHS);
        for c in v["tlog_tiles_tile_paths"].as_array().unwrap() {
            let t = TileId::hash(u8v(&c["level"]), u(&c["index"]), width_of(u(&c["partial"])));
            let path = c["path"].as_str().unwrap();
            assert_eq!(t.path(), path);
            assert_eq!(TileId::parse_path(path).unwrap(), t);
            assert_eq!(t.to_string(), path);
        }
        for c in v["tlog_tiles_entry_paths"].as_array().unwrap() {
            let t = TileId::entries(u(&c["index"]), width_of(u(&c["partial"])));
            let path = c["path"].as_str().unwrap();
            assert_eq!(t.path(), path);
            assert_eq!(TileId::parse_path(path).unwrap(), t);
        }
        for c in v["entry_path_for_index"].as_array().unwrap() {
            let index = u(&c["entry_index"]);
            let (t, pos) = entry_bundle(index, u(&c["tree_size"])).unwrap();
            assert_eq!(t.path(), c["path"].as_str().unwrap());
            assert_eq!(u64::try_from(pos).unwrap(), index % 256);
            assert!(tile_exists(&t, u(&c["tree_size"])));
        }
        assert_eq!(entry_bundle(5, 5), None);
        let cases = v["parse_cases"].as_array().unwrap();
        assert_eq!(cases.len(), 19);
        for c in cases {
            let path = c["path"].as_str().unwrap();
            let got = TileId::parse_path(path);
            if c["error"].as_bool().unwrap() {
                assert!(got.is_err(), "{path} should fail, got {got:?}");
            } else {
                let want = TileId::hash(u8v(&c["level"]), u(&c["index"]), width_of(u(&c["partial_width"])));
                assert_eq!(got.unwrap(), want, "{path}");
                assert_eq!(want.path(), path);
            }
        }
        // Go sumdb paths: same <N> encoding after the height element.
        for c in v["go_sumdb_paths"].as_array().unwrap() {
            if c.get("error").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let path = c["path"].as_str().unwrap();
            let n_part = path.splitn(4, '/').nth(3).unwrap();
            let n_part = n_part.split(".p/").next().unwrap();
            assert_eq!(encode_index(u(&c["N"])), n_part, "{path}");
        }
    }

    #[test]
    fn node_address_vectors() {
        let v = json(PATHS);
        for c in v["node_to_tile_address"].as_array().unwrap() {
            let node = NodeId::new(u8v(&c["tree_level"]), u(&c["tree_index"]));
            let r = u8v(&c["node_level_in_tile"]);
            let (tile, pos, count) = node_tile(node, u64::MAX).unwrap();
            assert_eq!(
                tile.kind,
                TileKind::Hash {
                    level: u8v(&c["tile_level"])
                }
            );
            assert_eq!(tile.index, u(&c["tile_index"]));
            assert!(tile.is_full());
            assert_eq!(count, 1usize << r);
            let in_tile = usize::try_from(u(&c["node_index_in_tile"])).unwrap();
            assert_eq!(pos, in_tile << r);
        }
        // Partial tile when the full one is not complete yet.
        assert_eq!(node_tile(NodeId::new(1, 0), 3), Some((TileId::hash(0, 0, 3), 0, 2)));
        assert_eq!(
            node_tile(NodeId::new(16, 0), 70_000),
            Some((TileId::hash(2, 0, 1), 0, 1))
        );
        assert_eq!(
            node_tile(NodeId::new(12, 16), 70_000),
            Some((TileId::hash(1, 1, 17), 0, 16))
        );
        assert_eq!(node_tile(NodeId::new(1, 1), 3), None);
        assert_eq!(node_tile(NodeId::new(64, 0), u64::MAX), None);
        assert_eq!(node_tile(NodeId::new(0, u64::MAX), u64::MAX), None);
        assert_eq!(
            node_tile(NodeId::new(63, 0), u64::MAX),
            Some((TileId::hash(7, 0, 255), 0, 128))
        );
        assert!(tiles_for_nodes(3, &[NodeId::new(0, 3)]).is_err());
        assert_eq!(
            tiles_for_nodes(70_000, &root_nodes(70_000)).unwrap(),
            vec![TileId::hash(2, 0, 1), TileId::hash(1, 1, 17), TileId::hash(0, 273, 112)]
        );
    }

    proptest! {
        #[test]
        fn the_lazy_iterators_are_the_lists(old in 0u64..300_000, grow in 0u64..300_000) {
            let new = old + grow;
            let all = tiles_for_size(new);
            let hashes: Vec<TileId> = all.iter().filter(|t| t.kind != TileKind::Entries).copied().collect();
            prop_assert_eq!(hash_tiles(new).collect::<Vec<_>>(), hashes);
            let bundles: Vec<TileId> = new_tiles(old, new).into_iter().filter(|t| t.kind == TileKind::Entries).collect();
            prop_assert_eq!(new_bundles(old, new).collect::<Vec<_>>(), bundles);
        }
    }

    #[test]
    fn tiles_for_size_vectors() {
        let v = json(PATHS);
        for (size, want) in v["tiles_for_size"].as_object().unwrap() {
            let size: u64 = size.parse().unwrap();
            let got = hash_paths(&tiles_for_size(size));
            let mut expected = Vec::new();
            for w in want.as_array().unwrap() {
                let w = w.as_str().unwrap();
                if let Some((first, rest)) = w.split_once(" ... ") {
                    // "tile/0/000 ... tile/0/272 (273 full level-0 tiles)"
                    let last = rest.split(' ').next().unwrap();
                    let a = TileId::parse_path(first).unwrap();
                    let b = TileId::parse_path(last).unwrap();
                    for i in a.index..=b.index {
                        expected.push(TileId { index: i, ..a }.path());
                    }
                } else {
                    expected.push(w.to_owned());
                }
            }
            assert_eq!(got, expected, "size {size}");
            for t in tiles_for_size(size) {
                assert!(tile_exists(&t, size), "{t} at {size}");
            }
        }
        assert!(tiles_for_size(0).is_empty());
        let s = json(SMALL);
        let ex = &s["size_256_example"];
        let all = tiles_for_size(256);
        let want: Vec<&str> = ex["tiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(hash_paths(&all), want);
        let bundles: Vec<String> = all
            .iter()
            .filter(|t| t.kind == TileKind::Entries)
            .map(TileId::path)
            .collect();
        let want: Vec<&str> = ex["bundles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(bundles, want);
        assert_eq!(tiles_for_size(70_000).len(), 277 + 274);
    }

    #[test]
    fn small_tiles_and_bundles() {
        let s = json(SMALL);
        let r = json(REF8);
        let leaves: Vec<Vec<u8>> = r["leaf_inputs_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| hex(x.as_str().unwrap()))
            .collect();
        let mem = Mem::new(&leaves);
        for (size, c) in s["by_tree_size"].as_object().unwrap() {
            let n: usize = size.parse().unwrap();
            let size: u64 = size.parse().unwrap();
            let part = leaves.get(..n).unwrap();
            let all = tiles_for_size(size);
            let mut th = TileHashes::new(size);
            let tiles = c["tiles"].as_object().unwrap();
            assert_eq!(hash_paths(&all), tiles.keys().cloned().collect::<Vec<_>>());
            for (path, body) in tiles {
                let t = TileId::parse_path(path).unwrap();
                let body = hex(body.as_str().unwrap());
                let from_leaves: Vec<u8> = part.iter().flat_map(|l| leaf_hash(l)).collect();
                assert_eq!(body, from_leaves, "{path}");
                assert_eq!(read_tile(&t, &mem).unwrap(), body);
                th.insert(t, body).unwrap();
            }
            let bundles = c["entry_bundles"].as_object().unwrap();
            let bundle_tiles: Vec<TileId> = all.iter().filter(|t| t.kind == TileKind::Entries).copied().collect();
            assert_eq!(bundle_tiles.len(), bundles.len());
            for (path, body) in bundles {
                let t = TileId::parse_path(path).unwrap();
                assert!(bundle_tiles.contains(&t));
                let body = hex(body.as_str().unwrap());
                assert_eq!(encode_bundle(part.iter().map(Vec::as_slice)).unwrap(), body);
                let decoded = decode_bundle(&body, n).unwrap();
                assert_eq!(decoded, part.iter().map(Vec::as_slice).collect::<Vec<_>>());
            }
            let root = hex(c["root"].as_str().unwrap());
            assert_eq!(root_from_tiles(size, &th).unwrap().as_slice(), root.as_slice());
            let root: Hash = root.try_into().unwrap();
            th.authenticate(&root).unwrap();
        }
        assert_eq!(root_from_tiles(0, &TileHashes::new(0)).unwrap(), EMPTY_ROOT);
    }

    #[test]
    fn tree_of_70000() {
        let v = json(BIG);
        let leaves = big_leaves(70_000);
        let mem = Mem::new(&leaves);

        // Every tile body at size 70,000.
        let listed = v["tiles_for_size_70000"]["tiles"].as_array().unwrap();
        assert_eq!(u(&v["tiles_for_size_70000"]["count"]), 277);
        let all = tiles_for_size(70_000);
        assert_eq!(hash_paths(&all).len(), listed.len());
        let th = tile_hashes(&mem, 70_000);
        assert_eq!(th.len(), 277);
        for (t, c) in all.iter().zip(listed) {
            assert_eq!(t.path(), c["path"].as_str().unwrap());
            assert_eq!(
                t.kind,
                TileKind::Hash {
                    level: u8v(&c["level"])
                }
            );
            assert_eq!(t.index, u(&c["index"]));
            assert_eq!(u64::from(t.width), u(&c["width"]));
            let body = th.get(t).unwrap();
            assert_eq!(u64::try_from(body.len()).unwrap(), u(&c["bytes"]));
            assert_eq!(to_hex(&sha256(&[body])), c["sha256"].as_str().unwrap(), "{t}");
        }
        for (path, body) in v["small_tile_bodies_hex"].as_object().unwrap() {
            let t = TileId::parse_path(path).unwrap();
            assert_eq!(th.get(&t).unwrap(), hex(body.as_str().unwrap()).as_slice());
        }

        // Roots for every listed size from the tiles of that size, both from
        // all tiles and from only the tiles the root needs.
        for (size, root) in v["roots_by_size"].as_object().unwrap() {
            let size: u64 = size.parse().unwrap();
            let root: Hash = hex(root.as_str().unwrap()).try_into().unwrap();
            let full = tile_hashes(&mem, size);
            assert_eq!(root_from_tiles(size, &full).unwrap(), root, "size {size}");
            full.authenticate(&root).unwrap();
            let mut minimal = TileHashes::new(size);
            for t in tiles_for_nodes(size, &root_nodes(size)).unwrap() {
                assert!(!t.is_full(), "root nodes live in partial tiles");
                minimal.insert(t, full.get(&t).unwrap().to_vec()).unwrap();
            }
            assert_eq!(root_from_tiles(size, &minimal).unwrap(), root, "size {size}");
            minimal.authenticate(&root).unwrap();
        }

        // Entry bundles.
        for c in v["entry_bundles"]["bundles"].as_array().unwrap() {
            let t = TileId::parse_path(c["path"].as_str().unwrap()).unwrap();
            assert!(tile_exists(&t, 70_000));
            let (_, range) = t.node_range().unwrap();
            let start = usize::try_from(range.start).unwrap();
            let end = usize::try_from(range.end).unwrap();
            let entries = leaves.get(start..end).unwrap();
            assert_eq!(u64::try_from(entries.len()).unwrap(), u(&c["entries"]));
            let body = encode_bundle(entries.iter().map(Vec::as_slice)).unwrap();
            assert_eq!(u64::try_from(body.len()).unwrap(), u(&c["bytes"]));
            assert_eq!(to_hex(&sha256(&[&body])), c["sha256"].as_str().unwrap());
            assert!(to_hex(&body).starts_with(c["first_bytes_hex"].as_str().unwrap()));
            let decoded = decode_bundle(&body, entries.len()).unwrap();
            // Entry i's leaf hash is hash i mod 256 of the level-0 tile.
            let tile = th.get(&TileId::hash(0, t.index, t.width)).unwrap();
            for (e, h) in decoded.iter().zip(tile.as_chunks::<32>().0) {
                assert_eq!(&leaf_hash(e), h);
            }
        }
    }

    #[test]
    fn every_node_from_tiles() {
        let leaves = big_leaves(70_000);
        let mem = Mem::new(&leaves);
        for size in [
            1u64, 2, 3, 7, 8, 255, 256, 257, 300, 511, 512, 513, 65_535, 65_536, 65_537, 70_000,
        ] {
            let th = tile_hashes(&mem, size);
            let mut ids = Vec::new();
            for level in 0..=16u8 {
                for index in 0..(size >> level) {
                    ids.push(NodeId::new(level, index));
                }
            }
            let want = mem.node_hashes(&ids).unwrap();
            assert_eq!(th.node_hashes(&ids).unwrap(), want, "size {size}");
            // Incomplete nodes and missing tiles are errors.
            assert!(matches!(
                th.node_hashes(&[NodeId::new(0, size)]),
                Err(TileError::NodeNotInTree { .. })
            ));
            assert!(matches!(
                TileHashes::new(size).node_hashes(&[NodeId::new(0, 0)]),
                Err(TileError::MissingTile { .. })
            ));
        }
    }

    #[test]
    fn tile_hashes_checks() {
        let leaves = big_leaves(600);
        let mem = Mem::new(&leaves);
        let mut th = TileHashes::new(600);
        let t0 = TileId::hash(0, 0, 256);
        let body = read_tile(&t0, &mem).unwrap();
        assert_eq!(
            th.insert(t0, body.get(..32).unwrap().to_vec()),
            Err(TileError::TileLength { len: 32, want: 8192 })
        );
        assert!(matches!(
            th.insert(TileId::hash(0, 2, 87), vec![0; 87 * 32]),
            Err(TileError::TileNotInTree { .. })
        ));
        assert!(matches!(
            th.insert(TileId::hash(0, 3, 256), vec![0; 8192]),
            Err(TileError::TileNotInTree { .. })
        ));
        assert!(matches!(
            th.insert(TileId::entries(0, 256), vec![]),
            Err(TileError::NotHashTile { .. })
        ));
        th.insert(t0, body.clone()).unwrap();
        // Parent entry of tile/0/000 is hash 0 of tile/1/000.p/2.
        let parent = read_tile(&TileId::hash(1, 0, 2), &mem).unwrap();
        assert_eq!(tile_hash(&body).as_slice(), parent.get(..32).unwrap());
        assert_eq!(full_tile_hash(&body).unwrap(), tile_hash(&body));
        assert!(full_tile_hash(&parent).is_err());

        // Authentication: a complete honest set passes, a tampered full tile
        // or a wrong root fails, a missing parent is reported.
        let root = root_from_tiles(600, &mem).unwrap();
        let honest = tile_hashes(&mem, 600);
        honest.authenticate(&root).unwrap();
        assert_eq!(honest.authenticate(&[0; 32]), Err(TileError::RootMismatch));
        let mut bad = honest.clone();
        let mut tampered = body.clone();
        if let Some(b) = tampered.get_mut(100) {
            *b ^= 1;
        }
        bad.insert(TileId::hash(0, 1, 256), tampered).unwrap();
        assert_eq!(
            bad.authenticate(&root),
            Err(TileError::TileMismatch {
                tile: TileId::hash(0, 1, 256)
            })
        );
        let mut orphan = TileHashes::new(600);
        for t in tiles_for_nodes(600, &root_nodes(600)).unwrap() {
            orphan.insert(t, honest.get(&t).unwrap().to_vec()).unwrap();
        }
        orphan.authenticate(&root).unwrap();
        orphan.insert(t0, body).unwrap();
        // tile/1/000.p/2 is the parent and is present (it holds a root
        // node), so this passes; a level-0 tile of a bigger tree would not.
        orphan.authenticate(&root).unwrap();
        let mut only_leaf_tiles = TileHashes::new(600);
        only_leaf_tiles
            .insert(
                TileId::hash(0, 2, 88),
                honest.get(&TileId::hash(0, 2, 88)).unwrap().to_vec(),
            )
            .unwrap();
        assert!(matches!(
            only_leaf_tiles.authenticate(&root),
            Err(TileError::MissingTile { .. })
        ));
        assert!(read_tile(&TileId::entries(0, 1), &mem).is_err());
        assert!(read_tile(&TileId::hash(8, 0, 1), &mem).is_err());
    }

    #[test]
    fn bundle_errors() {
        assert_eq!(encode_bundle([]).unwrap(), Vec::<u8>::new());
        assert_eq!(decode_bundle(&[], 0).unwrap(), Vec::<&[u8]>::new());
        let max = vec![7u8; MAX_ENTRY_BYTES];
        let body = encode_bundle([max.as_slice()]).unwrap();
        assert_eq!(body.len(), MAX_ENTRY_BYTES + 2);
        assert_eq!(decode_bundle(&body, 1).unwrap(), vec![max.as_slice()]);
        let big = vec![0u8; MAX_ENTRY_BYTES + 1];
        assert_eq!(
            encode_bundle([b"a".as_slice(), big.as_slice()]),
            Err(TileError::EntryTooLarge { index: 1, len: 65_536 })
        );
        let body = encode_bundle([b"ab".as_slice(), b"".as_slice()]).unwrap();
        assert_eq!(body, [0, 2, b'a', b'b', 0, 0]);
        assert_eq!(
            decode_bundle(&body, 3),
            Err(TileError::BundleTooShort { expected: 3, found: 2 })
        );
        assert_eq!(decode_bundle(&body, 1), Err(TileError::BundleTooLong { expected: 1 }));
        assert_eq!(decode_bundle(&body[..5], 2), Err(TileError::BundleTruncated));
        assert_eq!(decode_bundle(&body[..3], 1), Err(TileError::BundleTruncated));
        assert_eq!(decode_bundle(&[0, 1, 9, 0, 5], 2), Err(TileError::BundleTruncated));
    }

    #[test]
    fn new_tiles_matches_go_rule() {
        assert!(new_tiles(5, 5).is_empty());
        assert!(new_tiles(6, 5).is_empty());
        let paths: Vec<String> = new_tiles(250, 70_000).iter().map(TileId::path).collect();
        assert!(paths.contains(&"tile/0/000".to_owned()));
        assert!(paths.contains(&"tile/2/000.p/1".to_owned()));
        assert!(paths.contains(&"tile/entries/273.p/112".to_owned()));
        assert_eq!(new_tiles(256, 257), vec![TileId::hash(0, 1, 1), TileId::entries(1, 1)]);
        assert_eq!(
            new_tiles(255, 256),
            vec![TileId::hash(0, 0, 256), TileId::hash(1, 0, 1), TileId::entries(0, 256)]
        );
    }

    fn arb_tile() -> impl Strategy<Value = TileId> {
        (
            prop_oneof![
                (0u8..=63).prop_map(|level| TileKind::Hash { level }),
                Just(TileKind::Entries)
            ],
            prop_oneof![any::<u64>(), 0u64..2000],
            prop_oneof![1u16..=256, Just(256u16)],
        )
            .prop_map(|(kind, index, width)| TileId { kind, index, width })
    }

    proptest! {
        #[test]
        fn path_round_trip(t in arb_tile()) {
            prop_assert!(t.is_valid());
            prop_assert_eq!(TileId::parse_path(&t.path()), Ok(t));
        }

        #[test]
        fn parse_is_canonical(s in "tile/(entries|[0-9]{1,3}|-1)/(x?[0-9]{1,4}/){0,7}x?[0-9]{2,4}(\\.p/[0-9]{0,4})?") {
            if let Ok(t) = TileId::parse_path(&s) {
                prop_assert!(t.is_valid());
                prop_assert_eq!(t.path(), s);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = TileId::parse_path(&s);
        }

        #[test]
        fn bundle_round_trip(entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..40), cut in any::<prop::sample::Index>()) {
            let body = encode_bundle(entries.iter().map(Vec::as_slice)).unwrap();
            let want: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(decode_bundle(&body, entries.len()), Ok(want));
            if !body.is_empty() {
                let cut = cut.index(body.len());
                prop_assert!(decode_bundle(&body[..cut], entries.len()).is_err());
                let mut longer = body.clone();
                longer.extend_from_slice(&[0, 0]);
                prop_assert!(decode_bundle(&longer, entries.len()).is_err());
            }
        }

        #[test]
        fn new_tiles_is_set_difference(a in 0u64..300_000, b in 0u64..300_000) {
            let (old, new) = (a.min(b), a.max(b));
            let got: BTreeSet<TileId> = new_tiles(old, new).into_iter().collect();
            let before: BTreeSet<TileId> = tiles_for_size(old).into_iter().collect();
            let after: BTreeSet<TileId> = tiles_for_size(new).into_iter().collect();
            let diff: BTreeSet<TileId> = after.difference(&before).copied().collect();
            prop_assert_eq!(got, diff);
        }

        #[test]
        fn tile_exists_matches_tiles_for_size(size in 0u64..200_000, level in 0u8..4, index in 0u64..1000, width in 0u16..=257) {
            let all: HashSet<TileId> = tiles_for_size(size).into_iter().collect();
            for t in [TileId::hash(level, index, width), TileId::entries(index, width)] {
                prop_assert_eq!(tile_exists(&t, size), all.contains(&t), "{}", t);
            }
        }

        #[test]
        fn node_tile_is_consistent(size in 1u64.., level in 0u8..64, frac in any::<prop::sample::Index>()) {
            let count = size >> level;
            prop_assume!(count > 0);
            let index = u64::try_from(frac.index(usize::try_from(count.min(1 << 40)).unwrap())).unwrap();
            let node = NodeId::new(level, index);
            let (tile, pos, n) = node_tile(node, size).unwrap();
            prop_assert!(tile_exists(&tile, size));
            prop_assert!(pos + n <= usize::from(tile.width));
            prop_assert_eq!(n, 1usize << (level % 8));
            // The tile's nodes at positions [pos, pos + n) are exactly the
            // children of `node` at the tile's level.
            let (tl, range) = tile.node_range().unwrap();
            let first = range.start + u64::try_from(pos).unwrap();
            prop_assert_eq!(first, index << (level - tl));
            prop_assert_eq!(tiles_for_nodes(size, &[node]), Ok(vec![tile]));
        }
    }

    #[test]
    fn tiles_to_verify_authenticate_growth() {
        use crate::merkle::{CompactRange, consistency_nodes, consistency_proof, leaf_hash, root};
        let leaves: Vec<Hash> = (0..70_000u64)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect();
        let mut all = crate::merkle::MemoryTree::new();
        for l in &leaves {
            all.push(*l);
        }
        for (old, new) in [
            (1u64, 2u64),
            (255, 257),
            (256, 65_536),
            (300, 70_000),
            (65_536, 65_537),
            (69_000, 70_000),
        ] {
            let mut nodes = CompactRange::node_ids(old);
            nodes.extend(consistency_nodes(old, new));
            let need = tiles_to_verify(old, new, &nodes).expect("tiles");
            let mut th = TileHashes::new(new);
            for t in &need {
                let ids: Vec<NodeId> = tile_nodes(t).collect();
                th.insert(*t, all.node_hashes(&ids).expect("nodes").concat())
                    .expect("insert");
            }
            let new_root = all.root_at(new).expect("root");
            th.authenticate(&new_root).expect("authenticates");
            assert_eq!(
                root(old, &th).expect("old root"),
                all.root_at(old).expect("root"),
                "{old}->{new}"
            );
            assert_eq!(
                consistency_proof(old, new, &th).expect("proof"),
                consistency_proof(old, new, &all).expect("proof")
            );
            assert!(
                need.len() < tiles_for_size(new).len() || new < 300,
                "{old}->{new}: {} tiles",
                need.len()
            );
        }
    }
}
