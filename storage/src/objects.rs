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
        self.new_objects_after(&[], batch)
    }

    /// Every tile and bundle that `batch` adds to the tree, when the
    /// batches `pending` come before it and are being written meanwhile:
    /// what a pipelined sequencer uploads for its next batch while the
    /// previous one is still on its way to the store. `pending` must be
    /// contiguous, end where `batch` starts, and begin at or below the
    /// stored size (the stored entries from there on are theirs); the
    /// bytes are the ones [`Store::new_objects`] gives once `pending` is
    /// written. With `pending` empty this is [`Store::new_objects`].
    ///
    /// # Errors
    /// As [`Store::new_objects`]; [`StorageError::OutOfOrder`] also when
    /// `pending` is not contiguous, does not end at `batch.start`, or
    /// begins above the stored size, or when the store already holds
    /// entries of `batch`.
    pub fn new_objects_after(
        &self,
        pending: &[&AppendBatch],
        batch: &AppendBatch,
    ) -> Result<Vec<(TileId, Vec<u8>)>, StorageError> {
        let size = self.size();
        // The first index not known to be stored: the entries and nodes
        // from here on come from `pending` and `batch`.
        let base = pending.first().map_or(batch.start, |b| b.start);
        let mut at = base;
        for b in pending {
            if b.start != at {
                return Err(StorageError::OutOfOrder { want: at, got: b.start });
            }
            at = b.start + b.entries.len() as u64;
        }
        if batch.start != at {
            return Err(StorageError::OutOfOrder {
                want: at,
                got: batch.start,
            });
        }
        if base > size || size > batch.start {
            return Err(StorageError::OutOfOrder {
                want: size,
                got: batch.start,
            });
        }
        let old = batch.start;
        let new = old + batch.entries.len() as u64;
        let nodes: HashMap<NodeId, Hash> = pending
            .iter()
            .copied()
            .chain(std::iter::once(batch))
            .flat_map(|b| b.nodes.iter().copied())
            .collect();
        // Entry `base + i` for `i` in order.
        let later: Vec<&Vec<u8>> = pending
            .iter()
            .copied()
            .chain(std::iter::once(batch))
            .flat_map(|b| b.entries.iter())
            .collect();
        let mut out = Vec::new();
        for tile in new_tiles(old, new) {
            let Some((level, range)) = tile.node_range() else {
                continue;
            };
            let body = if tile.kind == TileKind::Entries {
                // Entries before `base` are stored; the rest are the
                // pending batches' and this one's, in order.
                let stored_end = range.end.min(base).max(range.start);
                let mut entries = self.entries(range.start, stored_end - range.start)?;
                let from = usize::try_from(stored_end - base).unwrap_or(usize::MAX);
                let to = usize::try_from(range.end - base).unwrap_or(usize::MAX);
                entries.extend(later.get(from..to).unwrap_or_default().iter().map(|e| (*e).clone()));
                encode_bundle(entries.iter().map(Vec::as_slice)).map_err(|e| StorageError::Corrupt {
                    what: "entry bundle",
                    key: tile.path(),
                    reason: e.to_string(),
                })?
            } else {
                // The nodes made since `base` are a suffix of the tile's:
                // the ones before them were complete and stored.
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
                    prop_assert_eq!(&body, &stored_object(&store, tile), "{}", tile.path());
                }
            }
        }
    }

    /// The bytes a stored tile or bundle has.
    fn stored_object(store: &Store, tile: provlog_tlog::tile::TileId) -> Vec<u8> {
        let (level, r) = tile.node_range().expect("range");
        if tile.kind == TileKind::Entries {
            store
                .bundle_body(r.start, r.end - r.start, |e| {
                    encode_bundle(e.iter().map(Vec::as_slice)).map_err(|e| e.to_string())
                })
                .expect("bundle")
                .to_vec()
        } else {
            store.tile_body(level, r.start, r.end - r.start).expect("tile").to_vec()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// A pipelined sequencer computes a batch's objects while up to
        /// `lag` batches before it are not written yet: whatever the sizes,
        /// the bytes are the ones the store serves once all are written.
        #[test]
        fn objects_computed_ahead_of_pending_writes_are_the_tiles_after_them(
            before in 0u64..70_000,
            sizes in proptest::collection::vec(1u64..700, 2..6),
            lag in 1usize..3,
        ) {
            let dir = tempfile::tempdir().expect("tmp");
            let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
            let mut cr = CompactRange::new();
            fill(&store, &mut cr, before, 4096);
            let batches: Vec<AppendBatch> = sizes.iter().map(|n| next_batch(&mut cr, *n)).collect();
            let mut written = 0;
            let mut objects = Vec::new();
            for k in 0..batches.len() {
                while k - written > lag {
                    store.append(&batches[written]).expect("append");
                    written += 1;
                }
                let pending: Vec<&AppendBatch> = batches[written..k].iter().collect();
                let got = store.new_objects_after(&pending, &batches[k]).expect("objects");
                let b = &batches[k];
                let want = provlog_tlog::tile::new_tiles(b.start, b.start + b.entries.len() as u64);
                prop_assert_eq!(got.iter().map(|(t, _)| *t).collect::<Vec<_>>(), want);
                objects.extend(got);
            }
            for b in &batches[written..] {
                store.append(b).expect("append");
            }
            for (tile, body) in objects {
                prop_assert_eq!(&body, &stored_object(&store, tile), "{}", tile.path());
            }
        }
    }

    #[test]
    fn pending_batches_must_be_contiguous_and_start_at_or_below_the_stored_size() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
        let mut cr = CompactRange::new();
        fill(&store, &mut cr, 10, 10);
        let a = next_batch(&mut cr, 3);
        let b = next_batch(&mut cr, 4);
        let c = next_batch(&mut cr, 5);
        // A gap: `b` missing between `a` and `c`.
        assert!(matches!(
            store.new_objects_after(&[&a], &c),
            Err(crate::StorageError::OutOfOrder { want: 13, got: 17 })
        ));
        // Pending above the stored size: `a` is neither stored nor pending.
        assert!(matches!(
            store.new_objects_after(&[&b], &c),
            Err(crate::StorageError::OutOfOrder { want: 10, got: 17 })
        ));
        assert!(store.new_objects_after(&[&a, &b], &c).is_ok());
        // Once `a` is stored it may still be passed as pending, or left out.
        store.append(&a).expect("append");
        assert!(store.new_objects_after(&[&a, &b], &c).is_ok());
        assert!(store.new_objects_after(&[&b], &c).is_ok());
        // The store already holds `c`'s first entries: refused.
        store.append(&b).expect("append");
        store.append(&c).expect("append");
        assert!(store.new_objects_after(&[&b], &c).is_err());
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
