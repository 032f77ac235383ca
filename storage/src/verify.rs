//! Integrity checks of a stored log against its latest checkpoint.
//!
//! The server runs [`check`] with [`Depth::Tree`] before it serves anything
//! (DESIGN.md guarantee 5); `provlog fsck --data-dir` runs [`Depth::Full`].

use crate::error::StorageError;
use crate::store::Store;
use provlog_proto::checkpoint::{Checkpoint, open_checkpoint};
use provlog_proto::keys::VerifierKey;
use provlog_proto::merkle::{CompactRange, Hash, leaf_hash, node_hash};

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

/// Checks the store against its latest checkpoint, verified with `log_key`.
/// Returns the checkpoint (`None` for a store never written to).
///
/// # Errors
/// The first [`IntegrityError`] found.
pub fn check(store: &Store, log_key: &VerifierKey, depth: Depth) -> Result<Option<Checkpoint>, IntegrityError> {
    let entries = store.size();
    let Some(note) = store.latest_checkpoint()? else {
        if entries == 0 && store.level_iter(0, 0).next().is_none() {
            return Ok(None);
        }
        return Err(IntegrityError::NoCheckpoint {
            entries,
            has_checkpoint: false,
        });
    };
    let (cp, _) = open_checkpoint(&note, log_key).map_err(|e| IntegrityError::Checkpoint(e.to_string()))?;
    if cp.size != entries {
        return Err(IntegrityError::Size {
            checkpoint: cp.size,
            entries,
        });
    }
    let from = match depth {
        Depth::Full => 0,
        Depth::Tree => cp.size.saturating_sub(TAIL_ENTRIES),
    };
    check_entries(store, from, cp.size)?;
    check_tree(store, cp.size)?;
    let root = CompactRange::from_source(cp.size, store)
        .map_err(|e| IntegrityError::Checkpoint(e.to_string()))?
        .root();
    if root != cp.root {
        return Err(IntegrityError::Root(cp.size));
    }
    Ok(Some(cp))
}

/// Recomputes every stored perfect node from the level below.
fn check_tree(store: &Store, size: u64) -> Result<(), IntegrityError> {
    for level in 0u8..64 {
        let count = size >> level;
        let mut lower = store.level_iter(level, 0);
        let mut upper = store.level_iter(level + 1, 0);
        let mut left: Hash = [0; 32];
        for want in 0..count {
            match lower.next().transpose()? {
                Some((i, h)) if i == want => {
                    if want % 2 == 0 {
                        left = h;
                    } else {
                        let parent = node_hash(&left, &h);
                        match upper.next().transpose()? {
                            Some((j, p)) if j == want / 2 => {
                                if p != parent {
                                    return Err(IntegrityError::NodeMismatch {
                                        level: level + 1,
                                        index: j,
                                    });
                                }
                            }
                            _ => {
                                return Err(IntegrityError::MissingNode {
                                    level: level + 1,
                                    index: want / 2,
                                });
                            }
                        }
                    }
                }
                _ => return Err(IntegrityError::MissingNode { level, index: want }),
            }
        }
        if let Some((index, _)) = lower.next().transpose()? {
            return Err(IntegrityError::ExtraNode { level, index });
        }
        if count == 0 {
            break;
        }
    }
    Ok(())
}

fn check_entries(store: &Store, from: u64, size: u64) -> Result<(), IntegrityError> {
    let mut hashes = store.level_iter(0, from);
    let mut entries = store.entry_iter(from);
    for want in from..size {
        let (i, e) = entries.next().transpose()?.ok_or(IntegrityError::MissingEntry(want))?;
        if i != want {
            return Err(IntegrityError::MissingEntry(want));
        }
        let (j, h) = hashes
            .next()
            .transpose()?
            .ok_or(IntegrityError::MissingNode { level: 0, index: want })?;
        if j != want || h != leaf_hash(&e) {
            return Err(IntegrityError::EntryMismatch(want));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{CF_HASHES, entry_key, node_key};
    use crate::store::{AppendBatch, StoreOptions};
    use provlog_proto::checkpoint::sign_checkpoint;
    use provlog_proto::keys::{ALG_ED25519, SignerKey};
    use provlog_proto::merkle::{HashSource, NodeId};

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
                check(&s, &key().verifier(), d).expect("sound").map(|c| c.size),
                Some(1500)
            );
        }
        let empty = tempfile::tempdir().expect("tmp");
        let e = Store::open(empty.path(), &StoreOptions::default()).expect("open");
        assert!(check(&e, &key().verifier(), Depth::Full).expect("empty").is_none());
    }

    #[test]
    fn findings_name_what_is_wrong() {
        let vk = key().verifier();
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
            check(&s, &other.verifier(), Depth::Tree),
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
