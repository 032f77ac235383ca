//! A durable key-value store for the witness and the monitor: each keeps
//! its state per log origin in its own `RocksDB` directory, the monitor
//! also its book of every log it follows ([`crate::journal`]).
//!
//! [`StateStore::update`] is an atomic read-modify-write: updates of one
//! store are serialized in the process, and each is written with `sync`
//! before it returns, so state a caller acted on (a cosigned checkpoint, a
//! verified tree size) is never lost or rolled back by a crash.

use crate::error::StorageError;
use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType,
    IteratorMode, Options, WriteOptions,
};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// One key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// What a [`StateStore`] holds: whether it has books, and what it may
/// hold in memory, whatever it holds on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateOptions {
    /// Bytes of `RocksDB`'s block cache, which also holds the index and
    /// filter blocks.
    pub cache_bytes: usize,
    /// Bytes of one write buffer (memtable); each column family has at
    /// most two.
    pub write_buffer_bytes: usize,
    /// Open (creating it if needed) the column family of the books' map
    /// nodes ([`crate::journal`]). A store that never had one (the
    /// witness's) stays without, so earlier versions still open it.
    pub books: bool,
}

impl Default for StateOptions {
    /// A store without books (the witness's): 8 MiB of cache, 4 MiB write
    /// buffers.
    fn default() -> Self {
        Self {
            cache_bytes: 8 << 20,
            write_buffer_bytes: 4 << 20,
            books: false,
        }
    }
}

impl StateOptions {
    /// A store with books that holds at most about `mib` MiB of cache and
    /// `mib` MiB of write buffers (at least 1 MiB of each).
    #[must_use]
    pub fn books_within(mib: usize) -> Self {
        let mib = mib.max(1);
        Self {
            cache_bytes: mib << 20,
            write_buffer_bytes: (mib << 20) / 4,
            books: true,
        }
    }
}

/// The column family of the books' map nodes (the caller's keys and the
/// books' other values are in the default one).
pub(crate) const CF_BOOK_NODES: &str = "book_nodes";

/// A durable map of values.
pub struct StateStore {
    pub(crate) db: DB,
    pub(crate) options: StateOptions,
    write: Mutex<()>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

impl StateStore {
    /// Opens (creating if needed) the store in `path`, with the default
    /// [`StateOptions`].
    ///
    /// # Errors
    /// `RocksDB` errors (including another process holding the directory).
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_with(path, StateOptions::default())
    }

    /// Opens (creating if needed) the store in `path`, holding in memory
    /// what `options` allow.
    ///
    /// # Errors
    /// `RocksDB` errors (including another process holding the directory).
    pub fn open_with(path: &Path, options: StateOptions) -> Result<Self, StorageError> {
        let mut o = Options::default();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        o.set_keep_log_file_num(3);
        o.set_max_total_wal_size(64 << 20);
        // A monitor's book holds a record and a few nodes per credential:
        // index and filter blocks go into the one bounded block cache, so
        // that memory does not grow with the store.
        let cache = Cache::new_lru_cache(options.cache_bytes);
        let mut values = Options::default();
        // Records are read by fingerprint, mostly ones never seen (a new
        // credential): a filter answers those without reading a block.
        values.set_block_based_table_factory(&filtered_table(&cache));
        // Compressed once they settle: compressing the first levels, which
        // compaction rewrites soon, cost about a twentieth of a replay's
        // CPU.
        let (none, lz4) = (DBCompressionType::None, DBCompressionType::Lz4);
        values.set_compression_per_level(&[none, none, lz4, lz4, lz4, lz4, lz4]);
        values.set_write_buffer_size(options.write_buffer_bytes);
        values.set_max_write_buffer_number(2);
        // Map nodes: numbered in the order they are made, so new ones go
        // at the end; random hashes, so nothing to compress. A book keeps
        // only its latest version, so each flush also deletes old numbers
        // and every file's key range overlaps the others': a filter keeps
        // a lookup from reading a block of each (without one, a replay of
        // 1 M entries took more than twice as long).
        let mut nodes = Options::default();
        nodes.set_block_based_table_factory(&filtered_table(&cache));
        nodes.set_compression_type(none);
        nodes.set_write_buffer_size(options.write_buffer_bytes);
        nodes.set_max_write_buffer_number(2);
        let mut cfs = vec![ColumnFamilyDescriptor::new(rocksdb::DEFAULT_COLUMN_FAMILY_NAME, values)];
        // A store opened with books once keeps them: `RocksDB` opens a
        // store only with every column family it has.
        let had_books = DB::list_cf(&o, path).is_ok_and(|v| v.iter().any(|c| c == CF_BOOK_NODES));
        if options.books || had_books {
            cfs.push(ColumnFamilyDescriptor::new(CF_BOOK_NODES, nodes));
        }
        let db = DB::open_cf_descriptors(&o, path, cfs)?;
        Ok(Self {
            db,
            options,
            write: Mutex::new(()),
        })
    }

    /// What it may hold in memory.
    #[must_use]
    pub fn options(&self) -> StateOptions {
        self.options
    }

    /// The column family of the books' map nodes.
    pub(crate) fn nodes(&self) -> Result<&ColumnFamily, StorageError> {
        self.db.cf_handle(CF_BOOK_NODES).ok_or_else(|| StorageError::Corrupt {
            what: "state store",
            key: CF_BOOK_NODES.to_owned(),
            reason: "opened without books (StateOptions::books)".to_owned(),
        })
    }

    /// The value of `key`.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(key)?)
    }

    /// Every key and value of the default column family (the caller's
    /// keys and the books' values, not their map nodes), in key order.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn all(&self) -> Result<Vec<KeyValue>, StorageError> {
        self.db
            .iterator(IteratorMode::Start)
            .map(|r| r.map(|(k, v)| (k.into_vec(), v.into_vec())).map_err(StorageError::from))
            .collect()
    }

    /// Atomically replaces the value of `key` with what `f` makes of the
    /// current one, synced before returning. If `f` fails nothing is
    /// written and its error is returned inside `Ok`.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn update<E>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> Result<Vec<u8>, E>,
    ) -> Result<Result<(), E>, StorageError> {
        let _one_at_a_time = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.db.get(key)?;
        let new = match f(current.as_deref()) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.put_opt(key, new, &wo)?;
        Ok(Ok(()))
    }
}

/// A table format whose index and filter blocks live in the one bounded
/// `cache` (memory does not grow with the store), with a partitioned bloom
/// filter: a lookup of an absent key reads no data block, and loads only
/// the filter partitions it needs.
fn filtered_table(cache: &Cache) -> BlockBasedOptions {
    let mut t = BlockBasedOptions::default();
    t.set_block_cache(cache);
    t.set_cache_index_and_filter_blocks(true);
    t.set_pin_l0_filter_and_index_blocks_in_cache(true);
    t.set_bloom_filter(10.0, false);
    t.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
    t.set_partition_filters(true);
    t.set_pin_top_level_index_and_filter(true);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_is_read_modify_write_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let s = StateStore::open(dir.path()).expect("open");
            assert_eq!(s.get(b"a").expect("get"), None);
            s.update(b"a", |cur| {
                assert!(cur.is_none());
                Ok::<_, ()>(b"1".to_vec())
            })
            .expect("db")
            .expect("ok");
            let refused = s
                .update(b"a", |cur| {
                    if cur == Some(b"2") {
                        Ok(b"3".to_vec())
                    } else {
                        Err("stale")
                    }
                })
                .expect("db");
            assert_eq!(refused, Err("stale"));
            assert_eq!(s.get(b"a").expect("get"), Some(b"1".to_vec()));
        }
        let s = StateStore::open(dir.path()).expect("reopen");
        assert_eq!(s.all().expect("all"), vec![(b"a".to_vec(), b"1".to_vec())]);
    }

    #[test]
    fn a_store_without_books_keeps_one_column_family_and_one_with_books_keeps_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfs = || DB::list_cf(&Options::default(), dir.path()).expect("list");
        drop(StateStore::open(dir.path()).expect("open"));
        assert_eq!(cfs(), vec!["default".to_owned()], "what earlier versions open");
        drop(StateStore::open_with(dir.path(), StateOptions::books_within(4)).expect("books"));
        assert!(cfs().iter().any(|c| c == CF_BOOK_NODES));
        let s = StateStore::open(dir.path()).expect("reopen without asking for books");
        assert!(s.nodes().is_ok());
    }
}
