//! In-memory copies of what the read path touches most.
//!
//! * [`UpperLevels`]: every perfect node at tree level 4 and above (one
//!   node per 16 leaves: 2 bytes per entry). An inclusion proof then needs
//!   `RocksDB` only for its four lowest nodes, whatever the tree size.
//! * Full level-0 tiles and full entry bundles, in a bounded cache: they
//!   never change, and a tile is otherwise a 256-key range read.
//!
//! Both only ever hold durable data: the store fills them after the synced
//! write of a batch returns.

use provlog_tlog::merkle::{Hash, NodeId};
use std::sync::{PoisonError, RwLock};

/// Lowest tree level kept in memory.
pub(crate) const MIN_CACHED_LEVEL: u8 = 4;

/// The nodes of levels `MIN_CACHED_LEVEL..` in index order.
#[derive(Debug, Default)]
pub(crate) struct UpperLevels {
    levels: RwLock<Vec<Vec<Hash>>>,
}

impl UpperLevels {
    /// Appends completed nodes (in completion order, as a compact range
    /// produces them); nodes below the cached levels are ignored.
    pub(crate) fn extend(&self, nodes: &[(NodeId, Hash)]) {
        let mut levels = self.levels.write().unwrap_or_else(PoisonError::into_inner);
        for (id, h) in nodes {
            let Some(l) = id.level.checked_sub(MIN_CACHED_LEVEL).map(usize::from) else {
                continue;
            };
            if levels.len() <= l {
                levels.resize_with(l + 1, Vec::new);
            }
            // Completed nodes of one level arrive in index order.
            if usize::try_from(id.index).ok() == Some(levels[l].len()) {
                levels[l].push(*h);
            }
        }
    }

    /// A cached node.
    pub(crate) fn get(&self, id: NodeId) -> Option<Hash> {
        let l = usize::from(id.level.checked_sub(MIN_CACHED_LEVEL)?);
        let levels = self.levels.read().unwrap_or_else(PoisonError::into_inner);
        levels.get(l)?.get(usize::try_from(id.index).ok()?).copied()
    }
}

/// Bounded cache of immutable full tiles and bundles, by weight in bytes.
pub(crate) type BlobCache = quick_cache::sync::Cache<(u8, u64), std::sync::Arc<Vec<u8>>, BlobWeight>;

/// Weighs cached blobs by their size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlobWeight;

impl quick_cache::Weighter<(u8, u64), std::sync::Arc<Vec<u8>>> for BlobWeight {
    fn weight(&self, _: &(u8, u64), v: &std::sync::Arc<Vec<u8>>) -> u64 {
        v.len() as u64 + 64
    }
}

/// A blob cache holding at most `bytes`.
pub(crate) fn blob_cache(bytes: u64) -> BlobCache {
    BlobCache::with_weighter(4096, bytes, BlobWeight)
}
