//! A [`BookStore`] in a [`StateStore`]: the book of one log
//! ([`provlog_proto::book`]: credential records, the map's nodes,
//! approvals' uses, the lifecycle rules' memory) on disk, so that a
//! monitor or an auditor holds in memory only what it has not written yet
//! (at most half a write buffer of the store's [`StateOptions`], 8 MiB by
//! default) whatever the log's size.
//!
//! A monitor advances its state only once a whole growth of the tree is
//! authenticated, but a growth of millions of entries changes more than
//! fits in memory. So a [`Journal`] writes as it goes and keeps, on disk,
//! what it needs to undo: before it first overwrites a value it saves the
//! old one, map nodes it makes are numbered from a mark on (undone by
//! deleting the numbers from the mark up), and the nodes it makes
//! unreachable are only listed, and deleted once the growth is committed.
//! [`Journal::commit`] writes the rest with the caller's own state in one
//! synced batch that also drops the undo records: after a crash either the
//! whole growth is there or none of it ([`Journal::begin`] undoes an
//! uncommitted one first). [`Journal::scratch`] is the same store without
//! undo records, for a replay nobody resumes (`provlog audit`).
//!
//! Keys (in the store's default column family; `ns` is `b/` ‖ the log
//! origin's length (u16 BE) ‖ the origin):
//!
//! | key | value |
//! | --- | --- |
//! | `ns` ‖ `k` ‖ book key | the book's value |
//! | `ns` ‖ node number (u64 BE), in the `book_nodes` column family | a map node's stored bytes |
//! | `ns` ‖ `s` ‖ node number (u64 BE) | empty: the node is unreachable, to delete once the growth that listed it is committed |
//! | `ns` ‖ `u` ‖ book key | undo: `0x00` (the key was absent) or `0x01` ‖ its value before the growth |
//! | `ns` ‖ `g` | a growth is under way: the first node number it made (u64 BE; `u64::MAX` before it made one) |

use crate::error::StorageError;
#[cfg(doc)]
use crate::state::StateOptions;
use crate::state::StateStore;
use provlog_proto::book::BookStore;
use provlog_proto::map_nodes::At;
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions};
use std::collections::{BTreeMap, HashMap};

/// Keys one batch of an undo or a sweep handles.
const CHUNK: usize = 16_384;

const VALUE: u8 = b'k';
const STALE: u8 = b's';
const UNDO: u8 = b'u';
const MARK: u8 = b'g';

/// Whether a journal can be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Undo records and a mark: [`Journal::commit`] or an undo.
    Journaled,
    /// Plain writes, no write-ahead log: a replay nobody resumes.
    Scratch,
}

/// The book of one log in a [`StateStore`], with the changes of one
/// growth either all committed or all undone.
pub struct Journal<'a> {
    store: &'a StateStore,
    ns: Vec<u8>,
    mode: Mode,
    values: HashMap<Vec<u8>, Vec<u8>>,
    nodes: BTreeMap<At, Vec<u8>>,
    drops: Vec<At>,
    bytes: usize,
    /// The first node number this growth made.
    first_new: Option<At>,
}

impl std::fmt::Debug for Journal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("ns", &String::from_utf8_lossy(&self.ns))
            .field("mode", &self.mode)
            .field("pending_bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

/// The namespace of `origin`'s book.
fn namespace(origin: &str) -> Vec<u8> {
    let mut ns = b"b/".to_vec();
    ns.extend_from_slice(&u16::try_from(origin.len()).unwrap_or(u16::MAX).to_be_bytes());
    ns.extend_from_slice(origin.as_bytes());
    ns
}

/// The key of node `at` of the book `ns` (in the nodes' column family).
fn node_key(ns: &[u8], at: At) -> Vec<u8> {
    let mut k = Vec::with_capacity(ns.len() + 8);
    k.extend_from_slice(ns);
    k.extend_from_slice(&at.to_be_bytes());
    k
}

/// Above every node key of the book `ns`.
fn nodes_end(ns: &[u8]) -> Vec<u8> {
    let mut k = ns.to_vec();
    k.extend_from_slice(&[0xff; 9]);
    k
}

fn sub(ns: &[u8], tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(ns.len() + 1 + rest.len());
    k.extend_from_slice(ns);
    k.push(tag);
    k.extend_from_slice(rest);
    k
}

fn corrupt(key: &[u8], reason: &str) -> StorageError {
    StorageError::Corrupt {
        what: "journal",
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_owned(),
    }
}

/// Every key (and value) under `prefix`, `CHUNK` at a time, handed to `f`
/// with a batch that is written after each chunk.
fn each_chunk(
    store: &StateStore,
    prefix: &[u8],
    sync: bool,
    mut f: impl FnMut(&mut WriteBatch, &[u8], &[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut from = prefix.to_vec();
    loop {
        let mut batch = WriteBatch::default();
        let mut n = 0;
        let mut last = None;
        for kv in store.db.iterator(IteratorMode::From(&from, Direction::Forward)) {
            let (k, v) = kv?;
            if !k.starts_with(prefix) {
                break;
            }
            f(&mut batch, &k, &v)?;
            n += 1;
            if n == CHUNK {
                last = Some(k.into_vec());
                break;
            }
        }
        if n > 0 {
            let mut wo = WriteOptions::default();
            wo.set_sync(sync);
            store.db.write_opt(batch, &wo)?;
        }
        match last {
            Some(mut k) => {
                k.push(0);
                from = k;
            }
            None => return Ok(()),
        }
    }
}

impl<'a> Journal<'a> {
    /// Starts a growth of `origin`'s book in `store`: first undoes a growth
    /// left uncommitted (a crash, or a failed [`Journal::rollback`]) and
    /// deletes the nodes a committed one listed as unreachable.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn begin(store: &'a StateStore, origin: &str) -> Result<Self, StorageError> {
        let ns = namespace(origin);
        recover(store, &ns)?;
        Ok(Self::new(store, ns, Mode::Journaled))
    }

    /// `origin`'s book in `store` with plain writes: nothing to commit or
    /// undo, nothing synced, no write-ahead log (a crash loses what was
    /// written; for a store nobody reopens, e.g. `provlog audit`'s).
    #[must_use]
    pub fn scratch(store: &'a StateStore, origin: &str) -> Self {
        Self::new(store, namespace(origin), Mode::Scratch)
    }

    fn new(store: &'a StateStore, ns: Vec<u8>, mode: Mode) -> Self {
        Self {
            store,
            ns,
            mode,
            values: HashMap::new(),
            nodes: BTreeMap::new(),
            drops: Vec::new(),
            bytes: 0,
            first_new: None,
        }
    }

    /// Bytes held in memory, not yet written.
    #[must_use]
    pub fn pending_bytes(&self) -> usize {
        self.bytes
    }

    fn maybe_flush(&mut self) -> Result<(), StorageError> {
        if self.bytes >= (self.store.options.write_buffer_bytes / 2).max(256 << 10) {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is held in memory (not synced; undo records first
    /// unless [`Journal::scratch`]).
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        self.drain_into(&mut batch, self.mode == Mode::Journaled)?;
        let mut wo = WriteOptions::default();
        wo.disable_wal(self.mode == Mode::Scratch);
        self.store.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Moves what is held into `batch`; with `undo`, with the undo records
    /// and the mark a crash needs.
    fn drain_into(&mut self, batch: &mut WriteBatch, undo: bool) -> Result<(), StorageError> {
        let ns = &self.ns;
        if self.mode == Mode::Journaled {
            batch.put(sub(ns, MARK, &[]), self.first_new.unwrap_or(u64::MAX).to_be_bytes());
        }
        for (k, v) in self.values.drain() {
            let key = sub(ns, VALUE, &k);
            if undo {
                let uk = sub(ns, UNDO, &k);
                if self.store.db.get(&uk)?.is_none() {
                    let old = self.store.db.get(&key)?;
                    let mut u = vec![u8::from(old.is_some())];
                    u.extend_from_slice(old.as_deref().unwrap_or_default());
                    batch.put(uk, u);
                }
            }
            batch.put(key, v);
        }
        let cf = self.store.nodes()?;
        for (at, b) in std::mem::take(&mut self.nodes) {
            batch.put_cf(cf, node_key(ns, at), b);
        }
        for at in self.drops.drain(..) {
            let mine = self.first_new.is_some_and(|f| at >= f);
            if self.mode == Mode::Scratch || mine {
                batch.delete_cf(cf, node_key(ns, at));
            } else {
                batch.put(sub(ns, STALE, &at.to_be_bytes()), b"");
            }
        }
        self.bytes = 0;
        Ok(())
    }

    /// Commits the growth: what is held, `extra` (the caller's own keys,
    /// e.g. its verified checkpoint) and the end of the undo records, in
    /// one synced batch; then deletes the nodes it made unreachable.
    ///
    /// # Errors
    /// `RocksDB` errors; before the batch is written nothing is committed,
    /// and the next [`Journal::begin`] undoes the growth.
    pub fn commit(mut self, extra: &[(&[u8], &[u8])]) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        self.drain_into(&mut batch, false)?;
        for (k, v) in extra {
            batch.put(k, v);
        }
        if self.mode == Mode::Journaled {
            batch.delete_range(sub(&self.ns, UNDO, &[]), sub(&self.ns, UNDO + 1, &[]));
            batch.delete(sub(&self.ns, MARK, &[]));
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(self.mode == Mode::Journaled);
        wo.disable_wal(self.mode == Mode::Scratch);
        self.store.db.write_opt(batch, &wo)?;
        sweep(self.store, &self.ns)
    }

    /// Undoes the growth: drops what is held and restores what was
    /// written since [`Journal::begin`].
    ///
    /// # Errors
    /// `RocksDB` errors; the next [`Journal::begin`] tries again.
    pub fn rollback(self) -> Result<(), StorageError> {
        recover(self.store, &self.ns)
    }
}

/// Undoes an uncommitted growth of the book `ns`, if there is one, then
/// deletes the nodes a committed growth left listed.
fn recover(store: &StateStore, ns: &[u8]) -> Result<(), StorageError> {
    let mark_key = sub(ns, MARK, &[]);
    let Some(mark) = store.db.get(&mark_key)? else {
        return sweep(store, ns);
    };
    let first_new = <[u8; 8]>::try_from(mark.as_slice())
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(&mark_key, "the mark is not 8 bytes"))?;
    let undo = sub(ns, UNDO, &[]);
    each_chunk(store, &undo, false, |batch, k, v| {
        let key = sub(ns, VALUE, &k[undo.len()..]);
        match v.split_first() {
            Some((0, [])) => batch.delete(key),
            Some((1, old)) => batch.put(key, old),
            _ => return Err(corrupt(k, "an undo record that is neither 0x00 nor 0x01 ‖ value")),
        }
        batch.delete(k);
        Ok(())
    })?;
    let mut batch = WriteBatch::default();
    batch.delete_range_cf(store.nodes()?, node_key(ns, first_new), nodes_end(ns));
    batch.delete_range(sub(ns, STALE, &[]), sub(ns, STALE + 1, &[]));
    batch.delete(mark_key);
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    store.db.write_opt(batch, &wo)?;
    Ok(())
}

/// Deletes the nodes committed growths of the book `ns` made unreachable.
fn sweep(store: &StateStore, ns: &[u8]) -> Result<(), StorageError> {
    let stale = sub(ns, STALE, &[]);
    let cf = store.nodes()?;
    each_chunk(store, &stale, false, |batch, k, _| {
        let mut key = ns.to_vec();
        key.extend_from_slice(&k[stale.len()..]);
        batch.delete_cf(cf, key);
        batch.delete(k);
        Ok(())
    })
}

impl BookStore for Journal<'_> {
    type Error = StorageError;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = self.values.get(key) {
            return Ok(Some(v.clone()));
        }
        Ok(self.store.db.get(sub(&self.ns, VALUE, key))?)
    }
    fn put(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), StorageError> {
        self.bytes += key.len() + value.len() + 64;
        self.values.insert(key.to_vec(), value);
        self.maybe_flush()
    }
    fn node(&self, at: At) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(b) = self.nodes.get(&at) {
            return Ok(Some(b.clone()));
        }
        Ok(self.store.db.get_cf(self.store.nodes()?, node_key(&self.ns, at))?)
    }
    fn put_nodes(&mut self, nodes: Vec<(At, Vec<u8>)>) -> Result<(), StorageError> {
        if self.first_new.is_none() {
            self.first_new = nodes.first().map(|(at, _)| *at);
        }
        for (at, b) in nodes {
            self.bytes += b.len() + 48;
            self.nodes.insert(at, b);
        }
        self.maybe_flush()
    }
    fn drop_nodes(&mut self, ats: &[At]) -> Result<(), StorageError> {
        for at in ats {
            if self.nodes.remove(at).is_none() {
                self.drops.push(*at);
                self.bytes += 16;
            }
        }
        self.maybe_flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provlog_proto::book::Book;

    fn put(j: &mut Journal<'_>, k: &str, v: &str) {
        j.put(k.as_bytes(), v.as_bytes().to_vec()).expect("put");
    }

    fn get(j: &Journal<'_>, k: &str) -> Option<String> {
        j.get(k.as_bytes())
            .expect("get")
            .map(|v| String::from_utf8(v).expect("utf8"))
    }

    #[test]
    fn a_growth_is_committed_whole_or_undone_whole_even_after_a_crash() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = StateStore::open_with(dir.path(), crate::StateOptions::books_within(16)).expect("open");
        let mut j = Journal::begin(&store, "log.example").expect("begin");
        put(&mut j, "a", "1");
        put(&mut j, "b", "1");
        j.put_nodes(vec![(1, b"n1".to_vec()), (2, b"n2".to_vec())])
            .expect("nodes");
        j.commit(&[(b"log/x", b"size 1")]).expect("commit");

        // A second growth: overwrites a, adds c, drops node 1, adds node 3;
        // flushed to disk, then rolled back.
        let mut j = Journal::begin(&store, "log.example").expect("begin");
        put(&mut j, "a", "2");
        put(&mut j, "c", "2");
        j.put_nodes(vec![(3, b"n3".to_vec())]).expect("nodes");
        j.drop_nodes(&[1]).expect("drop");
        j.flush().expect("flush");
        put(&mut j, "a", "3");
        j.flush().expect("flush");
        assert_eq!(get(&j, "a").as_deref(), Some("3"));
        assert!(
            j.node(1).expect("node").is_some(),
            "dropped nodes stay until the commit"
        );
        j.rollback().expect("rollback");
        let j = Journal::begin(&store, "log.example").expect("begin");
        assert_eq!(get(&j, "a").as_deref(), Some("1"));
        assert_eq!(get(&j, "c"), None);
        assert!(j.node(3).expect("node").is_none());
        assert!(j.node(1).expect("node").is_some());
        drop(j);

        // The same growth, written, and the process gone before the commit.
        {
            let mut j = Journal::begin(&store, "log.example").expect("begin");
            put(&mut j, "a", "4");
            j.put_nodes(vec![(3, b"n3".to_vec())]).expect("nodes");
            j.drop_nodes(&[2]).expect("drop");
            j.flush().expect("flush");
        }
        drop(store);
        let store = StateStore::open_with(dir.path(), crate::StateOptions::books_within(16)).expect("reopen");
        let mut j = Journal::begin(&store, "log.example").expect("begin");
        assert_eq!(get(&j, "a").as_deref(), Some("1"), "undone at begin");
        assert!(j.node(3).expect("node").is_none());
        assert!(j.node(2).expect("node").is_some());
        // Committed: the dropped node goes, the others stay.
        put(&mut j, "a", "5");
        j.put_nodes(vec![(3, b"n3".to_vec())]).expect("nodes");
        j.drop_nodes(&[2, 3]).expect("drop");
        j.flush().expect("flush");
        j.commit(&[(b"log/x", b"size 2")]).expect("commit");
        let j = Journal::begin(&store, "log.example").expect("begin");
        assert_eq!(get(&j, "a").as_deref(), Some("5"));
        assert!(j.node(2).expect("node").is_none() && j.node(3).expect("node").is_none());
        assert!(j.node(1).expect("node").is_some());
        assert_eq!(store.get(b"log/x").expect("get").as_deref(), Some(&b"size 2"[..]));
        // Another origin's book is another namespace.
        let other = Journal::begin(&store, "log.example/2").expect("begin");
        assert_eq!(get(&other, "a"), None);
    }

    #[test]
    fn a_book_in_a_journal_spills_to_disk_and_reopens_with_its_root() {
        use provlog_proto::ledger::CredentialRecord;
        let dir = tempfile::tempdir().expect("tmp");
        let store = StateStore::open_with(dir.path(), crate::StateOptions::books_within(16)).expect("open");
        let record = |i: u64| CredentialRecord {
            v: 1,
            fingerprint: format!("sha256:{i:064x}"),
            state: provlog_proto::ledger::RecordState::Active,
            owner: provlog_proto::event::Target {
                id: "svc".into(),
                kind: "service_account".into(),
                system: Some("gcp".into()),
            },
            issued_by: "ci".into(),
            not_after: None,
            last_index: i,
            version: 1,
            previous: None,
        };
        let mut mem = Book::open(provlog_proto::book::MemStore::default()).expect("open");
        let mut book = Book::open(Journal::begin(&store, "o").expect("begin")).expect("open");
        for chunk in 0..20u64 {
            let recs: Vec<_> = (chunk * 2000..(chunk + 1) * 2000).map(record).collect();
            mem.apply(recs.clone()).expect("apply");
            book.apply(recs).expect("apply");
        }
        let root = book.root().expect("root");
        assert_eq!(root, mem.root().expect("root"));
        book.into_store().commit(&[]).expect("commit");
        let mut again = Book::open(Journal::begin(&store, "o").expect("begin")).expect("reopen");
        assert_eq!(again.root().expect("root"), root);
        assert_eq!(again.len(), 40_000);
        assert_eq!(again.record(&record(777).fingerprint).expect("read"), Some(record(777)));
    }
}
