//! The credential map on disk: its nodes (by number, [`At`]), its records
//! (by map value), the versions committed in the log, and what each change
//! made unreachable, so that versions older than the retention can be
//! pruned.
//!
//! Node numbers grow with every node made, so each write's nodes go at the
//! end of `map_nodes` and its files never overlap: compaction moves them
//! down without rewriting them (measured against nodes stored by hash, a
//! random key, in BENCHMARKS.md).
//!
//! Written with the batch whose state leaf commits it ([`MapWrite`] in an
//! [`crate::AppendBatch`]), in the same `WriteBatch`: the map on disk is
//! always the map of the entries on disk, and a restart reads it as it is.

use crate::error::StorageError;
use crate::keys::{CF_MAP_NODES, CF_MAP_RECORDS, CF_MAP_STALE, CF_MAP_VERSIONS, CF_META, KEY_MAP_HEAD, KEY_MAP_PRUNED};
use crate::store::Store;
use provlog_proto::map_nodes::{At, Node, NodeSource, Root};
use provlog_tlog::merkle::Hash;
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions};

/// Tag of a node in a `map_stale` list.
const STALE_NODE: u8 = b'n';
/// Tag of a record in a `map_stale` list.
const STALE_RECORD: u8 = b'r';

/// Length of a `map_head` value: root (32) ‖ credentials ‖ covers ‖ root's
/// number ‖ next number (u64 BE each). A head of 48 bytes is the layout
/// before nodes were numbered ([`Store::open`] rebuilds that map).
pub(crate) const HEAD_LEN: usize = 64;
/// Length of a `map_head` value in the layout before nodes were numbered
/// (nodes stored under their hash).
const OLD_HEAD_LEN: usize = 48;

/// The map after the last write: what a restart continues from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapHead {
    /// Its root.
    pub root: Root,
    /// Number of credentials.
    pub credentials: u64,
    /// It is the map of entries `[0, covers)`.
    pub covers: u64,
    /// The number the next node made gets: above every node stored.
    pub next: At,
}

/// A version of the map committed by a state leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapVersion {
    /// The state leaf's index (the map of entries `[0, index)`).
    pub index: u64,
    /// The map's root.
    pub root: Root,
    /// Number of credentials.
    pub credentials: u64,
    /// The state leaf's `logged_at`, Unix ms.
    pub logged_at: i64,
}

/// One change of the map, written with the batch that makes it.
#[derive(Debug, Clone, Default)]
pub struct MapWrite {
    /// New nodes: number and stored bytes, in the order of their numbers
    /// (shared: the sequencer reads them until the write returns).
    pub nodes: std::sync::Arc<Vec<(At, Vec<u8>)>>,
    /// New records: map value and canonical bytes.
    pub records: Vec<(Hash, Vec<u8>)>,
    /// Numbers of the nodes the new root no longer reaches.
    pub unreachable_nodes: Vec<At>,
    /// Record values the new map no longer holds.
    pub unreachable_records: Vec<Hash>,
    /// The map after the change.
    pub head: Option<MapHead>,
    /// The version a state leaf in the batch commits, if any.
    pub version: Option<MapVersion>,
}

/// The `map_stale` key of one write's list: the version from which its
/// items are unreachable ‖ the entries the write's map covers (unique per
/// write: it grows with every write).
fn stale_key(version: u64, covers: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&version.to_be_bytes());
    k[8..].copy_from_slice(&covers.to_be_bytes());
    k
}

fn corrupt(what: &'static str, key: &[u8], reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        what,
        key: provlog_tlog::hex::encode(key),
        reason: reason.into(),
    }
}

fn hash_at(what: &'static str, key: &[u8], v: &[u8], at: usize) -> Result<Hash, StorageError> {
    v.get(at..at + 32)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(what, key, format!("{} bytes", v.len())))
}

fn u64_at(what: &'static str, key: &[u8], v: &[u8], at: usize) -> Result<u64, StorageError> {
    v.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt(what, key, format!("{} bytes", v.len())))
}

fn decode_version(key: &[u8], v: &[u8]) -> Result<MapVersion, StorageError> {
    let index = u64_at("map version", key, key, 0)?;
    if v.len() != 56 {
        return Err(corrupt("map version", key, format!("{} bytes, not 56", v.len())));
    }
    Ok(MapVersion {
        index,
        root: Root {
            hash: hash_at("map version", key, v, 0)?,
            at: u64_at("map version", key, v, 48)?,
        },
        credentials: u64_at("map version", key, v, 32)?,
        logged_at: i64::from_be_bytes(u64_at("map version", key, v, 40)?.to_be_bytes()),
    })
}

impl Store {
    /// Adds `w` to a write batch; the caller writes it.
    pub(crate) fn put_map(&self, wb: &mut WriteBatch, w: &MapWrite) {
        let (nodes, records, stale) = (self.cf(CF_MAP_NODES), self.cf(CF_MAP_RECORDS), self.cf(CF_MAP_STALE));
        for (at, b) in w.nodes.iter() {
            wb.put_cf(nodes, at.to_be_bytes(), b);
        }
        for (v, b) in &w.records {
            wb.put_cf(records, v, b);
        }
        // What a change made unreachable is kept until the versions before
        // it are pruned: it is in no version from `at` on (the version this
        // write commits, or any later one).
        let at = w.version.map_or_else(|| w.head.map_or(0, |h| h.covers), |v| v.index);
        // One list per write (`n` ‖ number, 9 bytes, per node; `r` ‖ value,
        // 33 bytes, per record), not one key per item: the committer's
        // memtable inserts are the map's main cost.
        if !w.unreachable_nodes.is_empty() || !w.unreachable_records.is_empty() {
            let mut list = Vec::with_capacity(9 * w.unreachable_nodes.len() + 33 * w.unreachable_records.len());
            for at in &w.unreachable_nodes {
                list.push(STALE_NODE);
                list.extend_from_slice(&at.to_be_bytes());
            }
            for v in &w.unreachable_records {
                list.push(STALE_RECORD);
                list.extend_from_slice(v);
            }
            wb.put_cf(stale, stale_key(at, w.head.map_or(at, |h| h.covers)), list);
        }
        if let Some(h) = &w.head {
            let mut v = Vec::with_capacity(HEAD_LEN);
            v.extend_from_slice(&h.root.hash);
            v.extend_from_slice(&h.credentials.to_be_bytes());
            v.extend_from_slice(&h.covers.to_be_bytes());
            v.extend_from_slice(&h.root.at.to_be_bytes());
            v.extend_from_slice(&h.next.to_be_bytes());
            wb.put_cf(self.cf(CF_META), KEY_MAP_HEAD, v);
        }
        if let Some(m) = &w.version {
            let mut v = Vec::with_capacity(56);
            v.extend_from_slice(&m.root.hash);
            v.extend_from_slice(&m.credentials.to_be_bytes());
            v.extend_from_slice(&m.logged_at.to_be_bytes());
            v.extend_from_slice(&m.root.at.to_be_bytes());
            wb.put_cf(self.cf(CF_MAP_VERSIONS), m.index.to_be_bytes(), v);
        }
    }

    /// Deletes a map stored in the layout before nodes were numbered (a
    /// head of [`OLD_HEAD_LEN`] bytes): its nodes, records, versions and
    /// lists, its head and its pruning mark, in one synced write. The
    /// sequencer's start then rebuilds the map from the entries, checking
    /// every state leaf on the way. Returns whether it found one.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub(crate) fn drop_old_map_layout(&self) -> Result<bool, StorageError> {
        match self.db().get_cf(self.cf(CF_META), KEY_MAP_HEAD)? {
            Some(v) if v.len() == OLD_HEAD_LEN => {}
            _ => return Ok(false),
        }
        let mut wb = WriteBatch::default();
        // Every key of these families is shorter than 40 bytes.
        let end = [0xff_u8; 40];
        for cf in [CF_MAP_NODES, CF_MAP_RECORDS, CF_MAP_STALE, CF_MAP_VERSIONS] {
            wb.delete_range_cf(self.cf(cf), &[][..], &end[..]);
        }
        wb.delete_cf(self.cf(CF_META), KEY_MAP_HEAD);
        wb.delete_cf(self.cf(CF_META), KEY_MAP_PRUNED);
        let mut wo = WriteOptions::default();
        wo.set_sync(self.syncs());
        self.db().write_opt(wb, &wo)?;
        Ok(true)
    }

    /// Writes a map change on its own, synced unless the store was opened
    /// without syncing (the map caught up with
    /// entries that were stored without it: a restore, or a store written
    /// before the map existed).
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn write_map(&self, w: &MapWrite) -> Result<(), StorageError> {
        let mut wb = WriteBatch::default();
        self.put_map(&mut wb, w);
        let mut wo = WriteOptions::default();
        wo.set_sync(self.syncs());
        Ok(self.db().write_opt(wb, &wo)?)
    }

    /// The map after the last write (`None`: nothing was ever written).
    ///
    /// # Errors
    /// `RocksDB` errors; a malformed head.
    pub fn map_head(&self) -> Result<Option<MapHead>, StorageError> {
        let Some(v) = self.db().get_cf(self.cf(CF_META), KEY_MAP_HEAD)? else {
            return Ok(None);
        };
        if v.len() == OLD_HEAD_LEN {
            return Err(corrupt(
                "map head",
                KEY_MAP_HEAD,
                "the map layout before nodes were numbered: opening the store for writing (a start of the server) \
                 rebuilds it from the entries",
            ));
        }
        if v.len() != HEAD_LEN {
            return Err(corrupt(
                "map head",
                KEY_MAP_HEAD,
                format!("{} bytes, not {HEAD_LEN}", v.len()),
            ));
        }
        Ok(Some(MapHead {
            root: Root {
                hash: hash_at("map head", KEY_MAP_HEAD, &v, 0)?,
                at: u64_at("map head", KEY_MAP_HEAD, &v, 48)?,
            },
            credentials: u64_at("map head", KEY_MAP_HEAD, &v, 32)?,
            covers: u64_at("map head", KEY_MAP_HEAD, &v, 40)?,
            next: u64_at("map head", KEY_MAP_HEAD, &v, 56)?,
        }))
    }

    /// The last version committed at or before entry `index`: the map in
    /// force when entry `index` was logged.
    ///
    /// # Errors
    /// `RocksDB` errors; a malformed version.
    pub fn map_version_at_or_before(&self, index: u64) -> Result<Option<MapVersion>, StorageError> {
        let key = index.to_be_bytes();
        let mut it = self
            .db()
            .iterator_cf(self.cf(CF_MAP_VERSIONS), IteratorMode::From(&key, Direction::Reverse));
        match it.next() {
            None => Ok(None),
            Some(kv) => {
                let (k, v) = kv?;
                decode_version(&k, &v).map(Some)
            }
        }
    }

    /// Versions from entry `from` on, in index order, at most `limit`.
    ///
    /// # Errors
    /// `RocksDB` errors; a malformed version.
    pub fn map_versions(&self, from: u64, limit: usize) -> Result<Vec<MapVersion>, StorageError> {
        let key = from.to_be_bytes();
        self.db()
            .iterator_cf(self.cf(CF_MAP_VERSIONS), IteratorMode::From(&key, Direction::Forward))
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                decode_version(&k, &v)
            })
            .collect()
    }

    /// The canonical bytes of the record whose map value is `value`, if it
    /// is stored (every record of every version not pruned is).
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn map_record(&self, value: &Hash) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db().get_cf(self.cf(CF_MAP_RECORDS), value)?)
    }

    /// Versions committed before this entry index may no longer be provable
    /// (their unreachable nodes were deleted); 0 if nothing was pruned.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn map_pruned_below(&self) -> Result<u64, StorageError> {
        Ok(match self.db().get_cf(self.cf(CF_META), KEY_MAP_PRUNED)? {
            Some(v) => u64_at("map pruned", KEY_MAP_PRUNED, &v, 0)?,
            None => 0,
        })
    }

    /// The oldest version to keep so that every version committed after
    /// `cutoff_ms` (Unix ms) stays provable, and the one in force at it:
    /// the last version logged at or before `cutoff_ms`, and never the last
    /// version of all (which stays provable whatever its age). `None` if
    /// nothing may be pruned.
    ///
    /// # Errors
    /// `RocksDB` errors; a malformed version.
    pub fn map_keep_from(&self, cutoff_ms: i64) -> Result<Option<u64>, StorageError> {
        let Some(last) = self.map_version_at_or_before(u64::MAX)? else {
            return Ok(None);
        };
        let mut keep = None;
        let key = self.map_pruned_below()?.to_be_bytes();
        for kv in self
            .db()
            .iterator_cf(self.cf(CF_MAP_VERSIONS), IteratorMode::From(&key, Direction::Forward))
        {
            let (k, v) = kv?;
            let version = decode_version(&k, &v)?;
            // `logged_at` never goes backwards along the log.
            if version.logged_at > cutoff_ms || version.index >= last.index {
                break;
            }
            keep = Some(version.index);
        }
        Ok(keep.filter(|k| *k > 0))
    }

    /// Deletes the nodes and records that no version from `keep` on reaches
    /// (those a change at or before `keep` made unreachable), the lists of
    /// whole writes until at least `limit` are deleted, after marking the
    /// versions before `keep` pruned. Returns how many it deleted; fewer
    /// than `limit` means done. Not
    /// synced: a crash leaves the rest for the next call.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn prune_map(&self, keep: u64, limit: usize) -> Result<usize, StorageError> {
        let (stale, nodes, records) = (self.cf(CF_MAP_STALE), self.cf(CF_MAP_NODES), self.cf(CF_MAP_RECORDS));
        // The mark first: a reader of a version being pruned is told so
        // (`map_pruned_below`) rather than finding a node gone.
        if keep > self.map_pruned_below()? {
            self.db().put_cf(self.cf(CF_META), KEY_MAP_PRUNED, keep.to_be_bytes())?;
        }
        let mut wb = WriteBatch::default();
        let mut n = 0;
        let mut gone: Vec<At> = Vec::new();
        for kv in self.db().iterator_cf(stale, IteratorMode::Start) {
            let (k, list) = kv?;
            let version = u64_at("map stale", &k, &k, 0)?;
            if version > keep || n >= limit {
                break;
            }
            let mut rest = &list[..];
            while let Some((&tag, after)) = rest.split_first() {
                let len = match tag {
                    STALE_NODE => 8,
                    STALE_RECORD => 32,
                    _ => return Err(corrupt("map stale", &k, "unknown tag")),
                };
                let item = after
                    .get(..len)
                    .ok_or_else(|| corrupt("map stale", &k, format!("a list of {} bytes", list.len())))?;
                if tag == STALE_NODE {
                    wb.delete_cf(nodes, item);
                    gone.push(u64_at("map stale", &k, item, 0)?);
                } else {
                    wb.delete_cf(records, item);
                }
                rest = &after[len..];
                n += 1;
            }
            wb.delete_cf(stale, &k);
        }
        self.db().write(wb)?;
        // Versions below `keep` are marked pruned already, so no reader
        // asks for these nodes any more.
        for at in &gone {
            self.map_nodes.remove(at);
        }
        Ok(n)
    }

    /// Number of entries in the map's column families (nodes, records,
    /// unreachable), from `RocksDB`'s estimates, for the storage figures.
    #[must_use]
    pub fn map_estimates(&self) -> [u64; 3] {
        [CF_MAP_NODES, CF_MAP_RECORDS, CF_MAP_STALE].map(|cf| {
            self.db()
                .property_int_value_cf(self.cf(cf), "rocksdb.estimate-num-keys")
                .ok()
                .flatten()
                .unwrap_or(0)
        })
    }
}

/// The store's map read from memory only: the node cache, then `RocksDB`'s
/// memtables and block cache (`ReadTier::BlockCache`). A read that would go
/// to the disk fails with [`StorageError::WouldBlock`] instead, so that an
/// async task can try it on its own thread and go to a blocking pool only
/// then. It reads the same stored bytes as the store itself.
#[derive(Debug, Clone, Copy)]
pub struct InMemory<'a>(pub &'a Store);

fn memory_only() -> rocksdb::ReadOptions {
    let mut ro = rocksdb::ReadOptions::default();
    ro.set_read_tier(rocksdb::ReadTier::BlockCache);
    ro
}

fn would_block(e: rocksdb::Error) -> StorageError {
    if e.kind() == rocksdb::ErrorKind::Incomplete {
        StorageError::WouldBlock
    } else {
        StorageError::Rocks(e)
    }
}

impl InMemory<'_> {
    /// [`Store::map_record`], from memory only.
    ///
    /// # Errors
    /// [`StorageError::WouldBlock`]; `RocksDB` errors.
    pub fn map_record(&self, value: &Hash) -> Result<Option<Vec<u8>>, StorageError> {
        let s = self.0;
        s.db()
            .get_cf_opt(s.cf(CF_MAP_RECORDS), value, &memory_only())
            .map_err(would_block)
    }
}

impl NodeSource for InMemory<'_> {
    type Error = StorageError;

    fn node(&self, at: At) -> Result<Option<Node>, StorageError> {
        self.0.map_node_with(at, &memory_only())
    }
}

impl Store {
    /// The node stored under `at`: from the node cache, else read with `ro`
    /// (and then cached).
    fn map_node_with(&self, at: At, ro: &rocksdb::ReadOptions) -> Result<Option<Node>, StorageError> {
        if let Some(n) = self.map_nodes.get(&at) {
            return Ok(Some(n));
        }
        let key = at.to_be_bytes();
        let Some(b) = self
            .db()
            .get_pinned_cf_opt(self.cf(CF_MAP_NODES), key, ro)
            .map_err(would_block)?
        else {
            return Ok(None);
        };
        let n = Node::decode(&b).map_err(|e| corrupt("map node", &key, e.to_string()))?;
        self.map_nodes.insert(at, n.clone());
        Ok(Some(n))
    }
}

impl NodeSource for Store {
    type Error = StorageError;

    fn node(&self, at: At) -> Result<Option<Node>, StorageError> {
        self.map_node_with(at, &rocksdb::ReadOptions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;
    use provlog_proto::map_nodes::{WorkingMap, prove};

    fn key(i: u32) -> Hash {
        provlog_tlog::merkle::sha256(&[&i.to_be_bytes()])
    }

    #[test]
    fn a_map_in_the_layout_before_numbered_nodes_is_dropped_for_a_rebuild() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
            // What a store written before node numbering holds: a node
            // under its hash, a version and a head of 48 bytes each.
            let db = store.db();
            db.put_cf(store.cf(CF_MAP_NODES), [7u8; 32], [0x12; 65]).expect("node");
            db.put_cf(store.cf(CF_MAP_VERSIONS), 5u64.to_be_bytes(), [1u8; 48])
                .expect("version");
            db.put_cf(store.cf(CF_MAP_RECORDS), [9u8; 32], b"{}").expect("record");
            db.put_cf(store.cf(CF_META), KEY_MAP_HEAD, [1u8; OLD_HEAD_LEN])
                .expect("head");
            let err = store.map_head().expect_err("an old head is not read as a new one");
            assert!(err.to_string().contains("rebuilds it"), "{err}");
        }
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("reopen");
        assert_eq!(
            store.map_head().expect("head"),
            None,
            "rebuilt from the entries by the start"
        );
        assert_eq!(store.map_version_at_or_before(u64::MAX).expect("versions"), None);
        assert_eq!(store.map_record(&[9u8; 32]).expect("record"), None);
        assert!(
            store
                .db()
                .iterator_cf(store.cf(CF_MAP_NODES), IteratorMode::Start)
                .next()
                .is_none(),
            "no old node left"
        );
        // A new head is kept across opens.
        store
            .write_map(&MapWrite {
                head: Some(MapHead {
                    root: Root::empty(),
                    credentials: 0,
                    covers: 3,
                    next: 1,
                }),
                ..MapWrite::default()
            })
            .expect("write");
        drop(store);
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("reopen");
        assert_eq!(store.map_head().expect("head").map(|h| h.covers), Some(3));
    }

    #[test]
    fn old_versions_stay_provable_until_pruned() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
        let mut work = WorkingMap::open(Root::empty(), 0, 1);
        let mut versions = Vec::new();
        for v in 1..=3u64 {
            for i in 0..50 {
                work.set(&store, key(i), [u8::try_from(v).expect("small"); 32])
                    .expect("set");
            }
            let u = work.finish();
            let version = MapVersion {
                index: v * 100,
                root: u.root,
                credentials: 50,
                logged_at: i64::try_from(v).expect("small"),
            };
            store
                .write_map(&MapWrite {
                    nodes: u.nodes.into(),
                    unreachable_nodes: u.unreachable,
                    head: Some(MapHead {
                        root: u.root,
                        credentials: 50,
                        covers: v * 100,
                        next: u.next,
                    }),
                    version: Some(version),
                    ..MapWrite::default()
                })
                .expect("write");
            versions.push(version);
        }
        assert_eq!(store.map_head().expect("head").map(|h| h.covers), Some(300));
        assert_eq!(store.map_version_at_or_before(250).expect("v"), Some(versions[1]));
        assert_eq!(store.map_version_at_or_before(99).expect("v"), None);
        for (n, v) in versions.iter().enumerate() {
            let (_, value) = prove(&store, &v.root, &key(7)).expect("provable");
            assert_eq!(value, Some([u8::try_from(n + 1).expect("small"); 32]));
        }
        // Keep the versions from 200 on: the first one goes, the others stay.
        while store.prune_map(200, 7).expect("prune") >= 7 {}
        assert_eq!(store.map_pruned_below().expect("pruned"), 200);
        assert!(prove(&store, &versions[0].root, &key(7)).is_err(), "pruned");
        for v in &versions[1..] {
            prove(&store, &v.root, &key(7)).expect("kept");
        }
    }
}
