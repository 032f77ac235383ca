//! The static-API objects a batch adds, computed **before** the batch is
//! written: what a highly available sequencer uploads to the object store
//! and fences in etcd before its local write (docs/HA.md), so that a
//! sequencer deposed half-way leaves its store at the fenced state.
//!
//! Each hash tile and entry bundle of
//! [`new_tiles`](provlog_tlog::tile::new_tiles)`(start, start + n)` is made
//! from the batch's own nodes and entries over the stored ones, with the
//! bytes [`Store::tile_body`] and [`Store::bundle_body`] give once the batch
//! is written (a property test holds them to it).

use crate::error::StorageError;
use crate::store::{AppendBatch, Store};
use provlog_tlog::merkle::{Hash, NodeId};
use provlog_tlog::tile::{TileId, TileKind, encode_bundle, new_tiles};
use std::collections::HashMap;

impl Store {
    /// Every tile and bundle that `batch` adds to the stored tree, with its
    /// bytes. `batch.start` must be the stored size.
    ///
    /// # Errors
    /// Storage errors; a batch that does not start at the stored size
    /// ([`StorageError::OutOfOrder`]) or lacks a node its tiles need
    /// ([`StorageError::Corrupt`]).
    pub fn new_objects(&self, batch: &AppendBatch) -> Result<Vec<(TileId, Vec<u8>)>, StorageError> {
        let old = batch.start;
        if old != self.size() {
            return Err(StorageError::OutOfOrder {
                want: self.size(),
                got: old,
            });
        }
        let new = old + batch.entries.len() as u64;
        let nodes: HashMap<NodeId, Hash> = batch.nodes.iter().copied().collect();
        let mut out = Vec::new();
        for tile in new_tiles(old, new) {
            let Some((level, range)) = tile.node_range() else {
                continue;
            };
            let body = if tile.kind == TileKind::Entries {
                // Entries before the batch are stored; the rest are the
                // batch's, in order.
                let stored_end = range.end.min(old).max(range.start);
                let mut entries = self.entries(range.start, stored_end - range.start)?;
                let from = usize::try_from(stored_end - old).unwrap_or(usize::MAX);
                let to = usize::try_from(range.end - old).unwrap_or(usize::MAX);
                entries.extend(batch.entries.get(from..to).unwrap_or_default().iter().cloned());
                encode_bundle(entries.iter().map(Vec::as_slice)).map_err(|e| StorageError::Corrupt {
                    what: "entry bundle",
                    key: tile.path(),
                    reason: e.to_string(),
                })?
            } else {
                // The nodes the batch made are a suffix of the tile's: the
                // ones before it were complete before the batch.
                let first_new = range
                    .clone()
                    .find(|i| nodes.contains_key(&NodeId::new(level, *i)))
                    .unwrap_or(range.end);
                let mut body = if first_new > range.start {
                    self.tile_body(level, range.start, first_new - range.start)?.to_vec()
                } else {
                    Vec::with_capacity(32 * usize::try_from(range.end - range.start).unwrap_or(0))
                };
                for i in first_new..range.end {
                    let id = NodeId::new(level, i);
                    let h = nodes.get(&id).ok_or_else(|| StorageError::Corrupt {
                        what: "batch",
                        key: tile.path(),
                        reason: format!("no hash for node {level}/{i}"),
                    })?;
                    body.extend_from_slice(h);
                }
                body
            };
            out.push((tile, body));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tests::fill;
    use crate::{AppendBatch, Store, StoreOptions};
    use proptest::prelude::*;
    use provlog_tlog::merkle::{CompactRange, leaf_hash};
    use provlog_tlog::tile::{TileKind, encode_bundle};

    /// A batch of `n` made-up entries after what `cr` holds.
    fn next_batch(cr: &mut CompactRange, n: u64) -> AppendBatch {
        let start = cr.size();
        let entries: Vec<Vec<u8>> = (start..start + n)
            .map(|j| format!("leaf {j} {}", "x".repeat(usize::try_from(j % 7).unwrap_or(0))).into_bytes())
            .collect();
        let leaf_hashes = entries.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>();
        let nodes = cr.extend(&leaf_hashes);
        AppendBatch {
            start,
            entries,
            leaf_hashes,
            nodes,
            checkpoint: format!("size {}", start + n).into_bytes(),
            last_logged_at: 0,
            ..AppendBatch::default()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Whatever the stored size and the batch size (across tile and
        /// level boundaries), the objects computed before the write are the
        /// ones the store serves after it.
        #[test]
        fn objects_before_the_write_are_the_tiles_after_it(
            before in 0u64..70_000,
            sizes in proptest::collection::vec(1u64..700, 1..4),
        ) {
            let dir = tempfile::tempdir().expect("tmp");
            let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
            let mut cr = CompactRange::new();
            fill(&store, &mut cr, before, 4096);
            for n in sizes {
                let batch = next_batch(&mut cr, n);
                let objects = store.new_objects(&batch).expect("objects");
                let want = provlog_tlog::tile::new_tiles(batch.start, batch.start + n);
                prop_assert_eq!(objects.iter().map(|(t, _)| *t).collect::<Vec<_>>(), want);
                store.append(&batch).expect("append");
                for (tile, body) in objects {
                    let (level, r) = tile.node_range().expect("range");
                    let stored = if tile.kind == TileKind::Entries {
                        store
                            .bundle_body(r.start, r.end - r.start, |e| {
                                encode_bundle(e.iter().map(Vec::as_slice)).map_err(|e| e.to_string())
                            })
                            .expect("bundle")
                    } else {
                        store.tile_body(level, r.start, r.end - r.start).expect("tile")
                    };
                    prop_assert_eq!(&body, stored.as_ref(), "{}", tile.path());
                }
            }
        }
    }

    #[test]
    fn a_batch_that_does_not_start_at_the_stored_size_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
        let mut cr = CompactRange::new();
        fill(&store, &mut cr, 10, 10);
        let mut other = CompactRange::new();
        let stale = next_batch(&mut other, 3);
        assert!(matches!(
            store.new_objects(&stale),
            Err(crate::StorageError::OutOfOrder { want: 10, got: 0 })
        ));
        let fine = next_batch(&mut cr, 3);
        assert_eq!(store.new_objects(&fine).expect("objects").len(), 2);
    }
}
