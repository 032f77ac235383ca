//! Integrity checks of a stored log against its latest checkpoint.
//!
//! The server runs [`check`] with [`Depth::Tree`] before it serves anything
//! (docs/DESIGN.md guarantee 5); `provlog fsck --data-dir` runs [`Depth::Full`].

use crate::error::StorageError;
use crate::store::Store;
use provlog_tlog::checkpoint::{Checkpoint, LogKeys, open_checkpoint_with};
use provlog_tlog::merkle::{CompactRange, Hash, leaf_hash, node_hash};

/// How much to recompute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every stored tree hash is recomputed from the level below it and the
    /// root compared with the checkpoint; the entry count and the leaf
    /// hashes of the last [`TAIL_ENTRIES`] entries are checked.
    Tree,
    /// As `Tree`, and every entry's leaf hash is recomputed.
    Full,
}

/// Entries whose leaf hash [`Depth::Tree`] recomputes, counted from the end.
pub const TAIL_ENTRIES: u64 = 1024;

/// A finding that makes the store unusable, with where it was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    /// The store has data but no checkpoint, or a checkpoint but no data.
    #[error("store has {entries} entries but {}", if *.has_checkpoint { "a checkpoint that does not match" } else { "no checkpoint" })]
    NoCheckpoint {
        /// Entries stored.
        entries: u64,
        /// Whether a checkpoint exists.
        has_checkpoint: bool,
    },
    /// The stored checkpoint does not verify under the log key.
    #[error("stored checkpoint is not valid for this log key: {0}")]
    Checkpoint(String),
    /// The checkpoint's size differs from the number of stored entries.
    #[error("checkpoint is for size {checkpoint} but {entries} entries are stored")]
    Size {
        /// Size in the checkpoint.
        checkpoint: u64,
        /// Entries stored.
        entries: u64,
    },
    /// A tree node is missing.
    #[error("tree hash at level {level}, index {index} is missing")]
    MissingNode {
        /// Tree level (0 = leaves).
        level: u8,
        /// Node index at that level.
        index: u64,
    },
    /// A tree node exists beyond the checkpoint's size.
    #[error("tree hash at level {level}, index {index} is beyond the tree size")]
    ExtraNode {
        /// Tree level.
        level: u8,
        /// Node index.
        index: u64,
    },
    /// A stored node differs from the hash of its children.
    #[error("tree hash at level {level}, index {index} (leaves {} to {}) does not match its children", index << level, ((index + 1) << level) - 1)]
    NodeMismatch {
        /// Tree level.
        level: u8,
        /// Node index.
        index: u64,
    },
    /// An entry is missing.
    #[error("entry {0} is missing")]
    MissingEntry(u64),
    /// An entry exists beyond the checkpoint's size.
    #[error("entry {0} is beyond the tree size")]
    ExtraEntry(u64),
    /// The leaf-hash index does not map the entry's leaf hash to it.
    #[error("the leaf-hash index does not map entry {0}'s leaf hash to it")]
    LeafIndex(u64),
    /// An entry's leaf hash differs from the stored level-0 hash.
    #[error("entry {0} does not match its stored leaf hash")]
    EntryMismatch(u64),
    /// The recomputed root differs from the checkpoint's.
    #[error("recomputed root of size {0} differs from the checkpoint's root")]
    Root(u64),
    /// Reading failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Checks the store against its latest checkpoint, verified with the key of `log_keys` that signs its size.
/// Returns the checkpoint (`None` for a store never written to).
///
/// # Errors
/// The first [`IntegrityError`] found.
pub fn check(store: &Store, log_keys: &LogKeys, depth: Depth) -> Result<Option<Checkpoint>, IntegrityError> {
    let (cp, mut found) = findings(store, log_keys, depth, 1);
    match found.pop() {
        Some(e) => Err(e),
        None => Ok(cp),
    }
}

/// Like [`check`] but goes on after a finding, collecting up to `max`
/// findings (what `provlog fsck` prints). With [`Depth::Full`] it also
/// checks that the leaf-hash index maps every entry's leaf hash to it.
#[must_use]
pub fn findings(
    store: &Store,
    log_keys: &LogKeys,
    depth: Depth,
    max: usize,
) -> (Option<Checkpoint>, Vec<IntegrityError>) {
    let mut sink = Sink {
        out: Vec::new(),
        max: max.max(1),
    };
    let cp = match scan(store, log_keys, depth, &mut sink) {
        Ok(cp) => cp,
        Err(Stop::Full) => None,
        Err(Stop::Storage(e)) => {
            sink.out.push(IntegrityError::Storage(e));
            None
        }
    };
    (cp, sink.out)
}

struct Sink {
    out: Vec<IntegrityError>,
    max: usize,
}

enum Stop {
    Full,
    Storage(StorageError),
}

impl From<StorageError> for Stop {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

impl Sink {
    fn push(&mut self, e: IntegrityError) -> Result<(), Stop> {
        self.out.push(e);
        if self.out.len() >= self.max {
            Err(Stop::Full)
        } else {
            Ok(())
        }
    }
}

fn scan(store: &Store, log_keys: &LogKeys, depth: Depth, sink: &mut Sink) -> Result<Option<Checkpoint>, Stop> {
    let entries = store.size();
    let Some(note) = store.latest_checkpoint()? else {
        if entries == 0 && store.level_iter(0, 0).next().is_none() {
            return Ok(None);
        }
        sink.push(IntegrityError::NoCheckpoint {
            entries,
            has_checkpoint: false,
        })?;
        return Ok(None);
    };
    let cp = match open_checkpoint_with(&note, log_keys) {
        Ok((cp, _)) => cp,
        Err(e) => {
            sink.push(IntegrityError::Checkpoint(e.to_string()))?;
            return Ok(None);
        }
    };
    if cp.size != entries {
        sink.push(IntegrityError::Size {
            checkpoint: cp.size,
            entries,
        })?;
    }
    let from = match depth {
        Depth::Full => 0,
        Depth::Tree => cp.size.saturating_sub(TAIL_ENTRIES),
    };
    let before = sink.out.len();
    check_entries(store, from, cp.size, depth == Depth::Full, sink)?;
    check_tree(store, cp.size, sink)?;
    if sink.out.len() == before {
        let root = match CompactRange::from_source(cp.size, store) {
            Ok(r) => r.root(),
            Err(e) => {
                sink.push(IntegrityError::Checkpoint(e.to_string()))?;
                return Ok(Some(cp));
            }
        };
        if root != cp.root {
            sink.push(IntegrityError::Root(cp.size))?;
        }
    }
    Ok(Some(cp))
}

/// Recomputes every stored perfect node from the level below, reporting
/// missing, extra and mismatched nodes.
fn check_tree(store: &Store, size: u64, sink: &mut Sink) -> Result<(), Stop> {
    for level in 0u8..64 {
        let count = size >> level;
        let mut upper = store.level_iter(level + 1, 0).peekable();
        let mut expect = 0u64;
        let mut prev: Option<(u64, Hash)> = None;
        for item in store.level_iter(level, 0) {
            let (i, h) = item?;
            if i >= count {
                sink.push(IntegrityError::ExtraNode { level, index: i })?;
                continue;
            }
            while expect < i {
                sink.push(IntegrityError::MissingNode { level, index: expect })?;
                expect += 1;
            }
            expect = i + 1;
            if let Some((pi, left)) = prev
                && i % 2 == 1
                && pi + 1 == i
            {
                let k = i / 2;
                let parent = node_hash(&left, &h);
                loop {
                    match upper.peek() {
                        Some(Ok((j, _))) if *j < k => {
                            upper.next();
                        }
                        Some(Ok((j, p))) if *j == k => {
                            if *p != parent {
                                sink.push(IntegrityError::NodeMismatch {
                                    level: level + 1,
                                    index: k,
                                })?;
                            }
                            upper.next();
                            break;
                        }
                        Some(Err(_)) => {
                            if let Some(Err(e)) = upper.next() {
                                return Err(e.into());
                            }
                        }
                        _ => {
                            sink.push(IntegrityError::MissingNode {
                                level: level + 1,
                                index: k,
                            })?;
                            break;
                        }
                    }
                }
            }
            prev = Some((i, h));
        }
        while expect < count {
            sink.push(IntegrityError::MissingNode { level, index: expect })?;
            expect += 1;
        }
        if count == 0 {
            break;
        }
    }
    Ok(())
}

/// Checks entries `[from, size)` against their level-0 hashes (and, if
/// `leaf_index`, the leaf-hash index), reporting missing, extra and
/// mismatched entries.
fn check_entries(store: &Store, from: u64, size: u64, leaf_index: bool, sink: &mut Sink) -> Result<(), Stop> {
    let mut hashes = store.level_iter(0, from).peekable();
    let mut expect = from;
    for item in store.entry_iter(from) {
        let (i, e) = item?;
        if i >= size {
            sink.push(IntegrityError::ExtraEntry(i))?;
            continue;
        }
        while expect < i {
            sink.push(IntegrityError::MissingEntry(expect))?;
            expect += 1;
        }
        expect = i + 1;
        let lh = leaf_hash(&e);
        loop {
            match hashes.peek() {
                Some(Ok((j, _))) if *j < i => {
                    hashes.next();
                }
                Some(Ok((j, h))) if *j == i => {
                    if *h != lh {
                        sink.push(IntegrityError::EntryMismatch(i))?;
                    }
                    hashes.next();
                    break;
                }
                Some(Err(_)) => {
                    if let Some(Err(e)) = hashes.next() {
                        return Err(e.into());
                    }
                }
                // A missing level-0 hash is reported by the tree check.
                _ => break,
            }
        }
        if leaf_index && store.index_of_leaf(&lh)? != Some(i) {
            sink.push(IntegrityError::LeafIndex(i))?;
        }
    }
    while expect < size {
        sink.push(IntegrityError::MissingEntry(expect))?;
        expect += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{CF_HASHES, entry_key, node_key};
    use crate::store::{AppendBatch, StoreOptions};
    use provlog_tlog::checkpoint::sign_checkpoint;
    use provlog_tlog::keys::{ALG_ED25519, SignerKey};
    use provlog_tlog::merkle::{HashSource, NodeId};

    fn key() -> SignerKey {
        SignerKey::from_seed("test.example/log", ALG_ED25519, [1; 32]).expect("key")
    }

    /// A store of `n` entries appended in batches of 100, each batch with a
    /// checkpoint signed by `key()`.
    fn store(dir: &std::path::Path, n: u64) -> Store {
        let s = Store::open(
            dir,
            &StoreOptions {
                sync: false,
                ..Default::default()
            },
        )
        .expect("open");
        let mut cr = CompactRange::new();
        let mut i = 0;
        while i < n {
            let k = 100.min(n - i);
            let entries: Vec<Vec<u8>> = (i..i + k).map(|j| format!("entry {j}").into_bytes()).collect();
            let leaf_hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
            let nodes = cr.extend(&leaf_hashes);
            let cp = Checkpoint::new("test.example/log", cr.size(), cr.root());
            let note = sign_checkpoint(&cp, &key()).expect("sign");
            s.append(&AppendBatch {
                start: i,
                entries,
                leaf_hashes,
                nodes,
                checkpoint: note.to_string().into_bytes(),
                ..Default::default()
            })
            .expect("append");
            i += k;
        }
        s
    }

    #[test]
    fn a_sound_store_passes_both_depths() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = store(dir.path(), 1500);
        for d in [Depth::Tree, Depth::Full] {
            assert_eq!(
                check(&s, &LogKeys::single(key().verifier()), d)
                    .expect("sound")
                    .map(|c| c.size),
                Some(1500)
            );
        }
        let empty = tempfile::tempdir().expect("tmp");
        let e = Store::open(empty.path(), &StoreOptions::default()).expect("open");
        assert!(
            check(&e, &LogKeys::single(key().verifier()), Depth::Full)
                .expect("empty")
                .is_none()
        );
    }

    #[test]
    fn findings_name_what_is_wrong() {
        let vk = LogKeys::single(key().verifier());
        // A flipped internal node.
        let dir = tempfile::tempdir().expect("tmp");
        let s = store(dir.path(), 1500);
        let mut h = s.node_hashes(&[NodeId::new(3, 17)]).expect("node")[0];
        h[5] ^= 0x20;
        s.debug_put_raw(CF_HASHES, &node_key(NodeId::new(3, 17)), Some(&h))
            .expect("put");
        let err = check(&s, &vk, Depth::Tree).expect_err("corrupt");
        assert!(
            matches!(err, IntegrityError::NodeMismatch { level: 3, index: 17 }),
            "{err}"
        );
        assert!(err.to_string().contains("leaves 136 to 143"), "{err}");

        // A flipped leaf hash deep in the log: the start-up check finds its
        // parent, the full check names the entry.
        let dir = tempfile::tempdir().expect("tmp");
        let s = store(dir.path(), 1500);
        let mut h = s.leaf_hash(42).expect("leaf");
        h[0] ^= 1;
        s.debug_put_raw(CF_HASHES, &node_key(NodeId::new(0, 42)), Some(&h))
            .expect("put");
        assert!(matches!(
            check(&s, &vk, Depth::Full),
            Err(IntegrityError::EntryMismatch(42))
        ));
        assert!(matches!(
            check(&s, &vk, Depth::Tree),
            Err(IntegrityError::NodeMismatch { level: 1, index: 21 })
        ));

        // A missing entry in the middle.
        let dir = tempfile::tempdir().expect("tmp");
        let s = store(dir.path(), 1500);
        s.debug_put_raw("entries", &entry_key(1400), None).expect("delete");
        assert!(matches!(
            check(&s, &vk, Depth::Tree),
            Err(IntegrityError::MissingEntry(1400))
        ));

        // A missing last entry shows up as a size mismatch.
        let dir = tempfile::tempdir().expect("tmp");
        let s = store(dir.path(), 1500);
        s.debug_put_raw("entries", &entry_key(1499), None).expect("delete");
        drop(s);
        let s = Store::open(dir.path(), &StoreOptions::default()).expect("reopen");
        assert!(matches!(
            check(&s, &vk, Depth::Tree),
            Err(IntegrityError::Size {
                checkpoint: 1500,
                entries: 1499
            })
        ));

        // A checkpoint from another key.
        let dir = tempfile::tempdir().expect("tmp");
        let s = store(dir.path(), 10);
        let other = SignerKey::from_seed("test.example/log", ALG_ED25519, [2; 32]).expect("key");
        assert!(matches!(
            check(&s, &LogKeys::single(other.verifier()), Depth::Tree),
            Err(IntegrityError::Checkpoint(_))
        ));

        // A missing node.
        let dir = tempfile::tempdir().expect("tmp");
        let s = store(dir.path(), 1500);
        s.debug_put_raw(CF_HASHES, &node_key(NodeId::new(5, 3)), None)
            .expect("delete");
        assert!(matches!(
            check(&s, &vk, Depth::Tree),
            Err(IntegrityError::MissingNode { level: 5, index: 3 })
        ));
    }
}
