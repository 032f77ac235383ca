//! Checking a tree from its level-0 hash tiles in index order, with memory
//! independent of the tree's size: a compact range (one hash per level)
//! and, when replaying from the first leaf, the one unfinished tile of each
//! upper level. A reader fetches the tiles [`Replay::level0_tiles`] names,
//! one after the other, hands each to [`Replay::push`], compares each
//! upper tile it gets back with the one the log serves, and at the end
//! compares [`Replay::finish`]'s root with the checkpoint's. Whatever size
//! a checkpoint claims, nothing here allocates in proportion to it.
//!
//! No I/O: the caller fetches.

use crate::merkle::{CompactRange, Hash, NodeId};
use crate::tile::{FULL_WIDTH, TILE_HEIGHT, TileError, TileId};

/// Tile levels above 0 whose tiles a replay can check (a tree of up to
/// 2^64 leaves has at most 8 tile levels).
const UPPER_LEVELS: usize = 7;

/// An upper hash tile as the level-0 tiles imply it: the reader compares
/// it with the tile the log serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpliedTile {
    /// The tile (its width is the number of hashes it holds).
    pub tile: TileId,
    /// The bytes it must have.
    pub bytes: Vec<u8>,
}

/// Why a replay cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The start is beyond the tree's size.
    #[error("cannot replay from {start} to the smaller size {size}")]
    Backwards {
        /// Where the replay starts.
        start: u64,
        /// The tree's size.
        size: u64,
    },
    /// A tile other than the next one was pushed.
    #[error("expected {want}, got {got}")]
    OutOfOrder {
        /// The next level-0 tile.
        want: TileId,
        /// What was pushed.
        got: TileId,
    },
    /// A tile was pushed after the last one.
    #[error("{0}: every level-0 tile was already replayed")]
    PastEnd(TileId),
    /// A tile body has the wrong length.
    #[error(transparent)]
    Tile(#[from] TileError),
    /// `finish` before the last level-0 tile.
    #[error("the replay stopped at {at} of {size} leaves")]
    Unfinished {
        /// Leaves replayed.
        at: u64,
        /// The tree's size.
        size: u64,
    },
}

/// A replay of a tree of a given size from a verified prefix.
#[derive(Debug, Clone)]
pub struct Replay {
    size: u64,
    range: CompactRange,
    /// Hashes of the unfinished tile of upper levels 1..=7, when checked.
    upper: Option<Vec<Vec<u8>>>,
    completed: Vec<(NodeId, Hash)>,
}

/// The level-0 tile holding leaf `leaf` in a tree of `size` (full, or the
/// final partial one).
fn level0_tile(leaf: u64, size: u64) -> TileId {
    let index = leaf >> TILE_HEIGHT;
    let end = ((index + 1) << TILE_HEIGHT).min(size);
    let width = u16::try_from(end - (index << TILE_HEIGHT)).unwrap_or(FULL_WIDTH);
    TileId::hash(0, index, width)
}

impl Replay {
    /// A replay of a whole tree of `size` from its first leaf; it also
    /// yields every upper tile the level-0 tiles imply.
    #[must_use]
    pub fn whole(size: u64) -> Self {
        Self {
            size,
            range: CompactRange::new(),
            upper: Some(vec![Vec::new(); UPPER_LEVELS]),
            completed: Vec::new(),
        }
    }

    /// A replay of the leaves after `start` (a compact range the caller
    /// has already verified, e.g. against a checkpoint it trusts) up to
    /// `size`. Upper tiles are not checked: their first hashes lie before
    /// the start.
    ///
    /// # Errors
    /// [`ReplayError::Backwards`] if `start` is larger than `size`.
    pub fn from_range(start: CompactRange, size: u64) -> Result<Self, ReplayError> {
        if start.size() > size {
            return Err(ReplayError::Backwards {
                start: start.size(),
                size,
            });
        }
        Ok(Self {
            size,
            range: start,
            upper: None,
            completed: Vec::new(),
        })
    }

    /// Leaves replayed so far.
    #[must_use]
    pub fn done(&self) -> u64 {
        self.range.size()
    }

    /// The level-0 tiles still to push, in order (lazily: nothing is
    /// allocated for them).
    pub fn level0_tiles(&self) -> impl Iterator<Item = TileId> + use<> {
        let size = self.size;
        let done = self.range.size();
        let first = done >> TILE_HEIGHT;
        let last = if done < size {
            size.div_ceil(1 << TILE_HEIGHT)
        } else {
            first
        };
        (first..last).map(move |i| level0_tile(i << TILE_HEIGHT, size))
    }

    /// Replays the next level-0 tile (`body` is its bytes) and returns the
    /// upper tiles it completed (empty unless replaying a whole tree).
    ///
    /// # Errors
    /// A tile out of order or past the end, or a body of the wrong length.
    pub fn push(&mut self, tile: TileId, body: &[u8]) -> Result<Vec<ImpliedTile>, ReplayError> {
        let done = self.range.size();
        if done >= self.size {
            return Err(ReplayError::PastEnd(tile));
        }
        let want = level0_tile(done, self.size);
        if tile != want {
            return Err(ReplayError::OutOfOrder { want, got: tile });
        }
        let expect = usize::from(tile.width) * 32;
        if body.len() != expect {
            return Err(TileError::TileLength {
                len: body.len(),
                want: expect,
            }
            .into());
        }
        let skip = usize::try_from(done - (tile.index << TILE_HEIGHT)).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for leaf in body.chunks_exact(32).skip(skip) {
            let mut h = [0u8; 32];
            h.copy_from_slice(leaf);
            self.completed.clear();
            self.range.append(h, &mut self.completed);
            let Some(upper) = self.upper.as_mut() else { continue };
            for (id, hash) in &self.completed {
                if id.level == 0 || id.level % TILE_HEIGHT != 0 {
                    continue;
                }
                let l = usize::from(id.level / TILE_HEIGHT);
                let Some(pending) = upper.get_mut(l - 1) else { continue };
                pending.extend_from_slice(hash);
                if pending.len() == usize::from(FULL_WIDTH) * 32 {
                    out.push(ImpliedTile {
                        tile: TileId::hash(id.level / TILE_HEIGHT, id.index >> TILE_HEIGHT, FULL_WIDTH),
                        bytes: std::mem::take(pending),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Ends the replay: the root of the tree, and (replaying a whole tree)
    /// the partial upper tiles at its size.
    ///
    /// # Errors
    /// [`ReplayError::Unfinished`] if level-0 tiles are missing.
    pub fn finish(self) -> Result<(Hash, Vec<ImpliedTile>), ReplayError> {
        if self.range.size() != self.size {
            return Err(ReplayError::Unfinished {
                at: self.range.size(),
                size: self.size,
            });
        }
        let mut out = Vec::new();
        for (l, pending) in self.upper.into_iter().flatten().enumerate() {
            if pending.is_empty() {
                continue;
            }
            let level = u8::try_from(l + 1).unwrap_or(u8::MAX);
            let nodes = self.size >> (u32::from(level) * u32::from(TILE_HEIGHT));
            out.push(ImpliedTile {
                tile: TileId::hash(
                    level,
                    nodes >> TILE_HEIGHT,
                    u16::try_from(pending.len() / 32).unwrap_or(FULL_WIDTH),
                ),
                bytes: pending,
            });
        }
        Ok((self.range.root(), out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, root};
    use crate::tile::{TileHashes, TileKind, tiles_for_size};

    /// The tiles of a tree of `n` leaves, computed by the batch code.
    fn tiles(n: u64) -> (TileHashes, Vec<(TileId, Vec<u8>)>, Hash) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut cr = CompactRange::new();
        let nodes = cr.extend(&leaves);
        let by_id: std::collections::HashMap<NodeId, Hash> = nodes.into_iter().collect();
        let mut th = TileHashes::new(n);
        let mut all = Vec::new();
        for t in tiles_for_size(n) {
            let TileKind::Hash { .. } = t.kind else { continue };
            let (level, range) = t.node_range().expect("range");
            let bytes: Vec<u8> = range.flat_map(|i| by_id[&NodeId::new(level, i)].to_vec()).collect();
            th.insert(t, bytes.clone()).expect("insert");
            all.push((t, bytes));
        }
        (th, all, cr.root())
    }

    #[test]
    fn a_whole_replay_implies_every_upper_tile_and_the_root() {
        for n in [1u64, 255, 256, 257, 65_535, 65_536, 65_537, 70_000] {
            let (th, all, want_root) = tiles(n);
            let mut r = Replay::whole(n);
            let mut implied = Vec::new();
            let level0: Vec<TileId> = r.level0_tiles().collect();
            for t in level0 {
                let body = &all.iter().find(|(id, _)| *id == t).expect("level-0 tile").1;
                implied.extend(r.push(t, body).expect("push"));
            }
            let (got_root, rest) = r.finish().expect("finish");
            implied.extend(rest);
            assert_eq!(got_root, want_root, "size {n}");
            assert_eq!(root(n, &th).expect("root"), want_root);
            let upper: Vec<_> = all
                .iter()
                .filter(|(t, _)| t.kind != TileKind::Hash { level: 0 })
                .cloned()
                .collect();
            let mut implied: Vec<_> = implied.into_iter().map(|i| (i.tile, i.bytes)).collect();
            implied.sort_by_key(|(t, _)| *t);
            let mut upper = upper;
            upper.sort_by_key(|(t, _)| *t);
            assert_eq!(implied, upper, "size {n}: every upper tile, with its bytes");
        }
    }

    #[test]
    fn a_replay_from_a_prefix_reaches_the_same_root() {
        let n = 70_000;
        let (_, all, want_root) = tiles(n);
        for start in [0u64, 1, 255, 256, 300, 65_536, 69_999, 70_000] {
            let leaves: Vec<Hash> = (0..start).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let mut cr = CompactRange::new();
            cr.extend(&leaves);
            let mut r = Replay::from_range(cr, n).expect("replay");
            let level0: Vec<TileId> = r.level0_tiles().collect();
            for t in level0 {
                let body = &all.iter().find(|(id, _)| *id == t).expect("tile").1;
                assert!(r.push(t, body).expect("push").is_empty());
            }
            assert_eq!(r.finish().expect("finish").0, want_root, "from {start}");
        }
    }

    #[test]
    fn a_claimed_size_costs_nothing_until_tiles_arrive() {
        // 2^40 leaves: the replay and its tile iterator allocate nothing
        // in proportion to the size.
        let r = Replay::whole(1 << 40);
        assert_eq!(r.level0_tiles().next(), Some(TileId::hash(0, 0, FULL_WIDTH)));
        assert_eq!(
            r.level0_tiles().nth(1 << 20),
            Some(TileId::hash(0, 1 << 20, FULL_WIDTH))
        );
        assert!(matches!(r.finish(), Err(ReplayError::Unfinished { at: 0, .. })));
    }

    #[test]
    fn tiles_out_of_order_or_malformed_are_refused() {
        let (_, all, _) = tiles(600);
        let mut r = Replay::whole(600);
        let t1 = TileId::hash(0, 1, FULL_WIDTH);
        assert!(matches!(r.push(t1, &all[1].1), Err(ReplayError::OutOfOrder { .. })));
        let t0 = TileId::hash(0, 0, FULL_WIDTH);
        assert!(matches!(r.push(t0, &[0u8; 31]), Err(ReplayError::Tile(_))));
        assert!(
            Replay::from_range(CompactRange::new(), 0)
                .expect("empty")
                .finish()
                .is_ok()
        );
    }
}
