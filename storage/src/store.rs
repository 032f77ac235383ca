//! The `RocksDB` store: open, append one batch atomically, read.

use crate::cache::{BlobCache, MIN_CACHED_LEVEL, UpperLevels, blob_cache};
use crate::error::StorageError;
use crate::keys::{
    ALL_CFS, CF_APPROVAL_USES, CF_CHECKPOINTS, CF_DEDUP, CF_ENTRIES, CF_HASHES, CF_LEAF_INDEX, CF_MAP_NODES,
    CF_MAP_RECORDS, CF_META, CF_SEARCH, KEY_FROZEN, KEY_LATEST, KEY_LOG_KEY_AT, KEY_LOGGED_AT, KEY_OCCURRED_SPAN,
    KEY_POLICY, KEY_POLICY_AT, KEY_TIME_INDEX, KEY_WITNESSES, decode_u64, entry_key, node_key, tag_prefix, term_key,
    term_prefix,
};
use provlog_proto::event::Term;
use provlog_tlog::merkle::{Hash, HashSource, NodeId, node_hash};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Direction, IteratorMode,
    Options, ReadOptions, WriteBatch, WriteOptions,
};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tuning knobs for [`Store::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Size of the shared block cache in bytes.
    pub block_cache_bytes: usize,
    /// Whether appends are fsync'd. Only tests and benchmarks that measure
    /// the unsynced path turn this off; the server never does.
    pub sync: bool,
    /// Open without write access (offline checks of a stopped log).
    pub read_only: bool,
    /// Memory for full level-0 tiles and full entry bundles served often.
    pub tile_cache_bytes: u64,
    /// Keep the write-ahead log in the process until a synced append
    /// flushes it, so that a crash loses every unsynced append: how the
    /// crash tests model a power cut. Not for production.
    #[doc(hidden)]
    pub manual_wal_flush: bool,
    /// Credential-map nodes kept decoded in memory (about 150 bytes
    /// each): every proof reads the upper levels, so these are the most
    /// read keys of the store.
    pub map_node_cache: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            block_cache_bytes: 512 << 20,
            sync: true,
            read_only: false,
            tile_cache_bytes: 128 << 20,
            manual_wal_flush: false,
            // The top 20 levels of a map of 10 M credentials.
            map_node_cache: 1 << 20,
        }
    }
}

/// The last policy leaf appended: its index and the canonical policy bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    /// Index of the policy leaf.
    pub index: u64,
    /// RFC 8785 bytes of its `policy` object.
    pub canonical: Vec<u8>,
}

/// One sequenced batch, written atomically by [`Store::append`].
#[derive(Debug, Default)]
pub struct AppendBatch {
    /// Index of the first entry; must equal the stored tree size.
    pub start: u64,
    /// Entry bytes, in index order.
    pub entries: Vec<Vec<u8>>,
    /// Leaf hash of each entry, in index order.
    pub leaf_hashes: Vec<Hash>,
    /// Every perfect node the batch completed, leaves included.
    pub nodes: Vec<(NodeId, Hash)>,
    /// Dedup keys (`dedup_key(submitter, event_id)`) and their index.
    pub dedup: Vec<(Vec<u8>, u64)>,
    /// The signed checkpoint note for `start + entries.len()`.
    pub checkpoint: Vec<u8>,
    /// A policy leaf in this batch, if any (the last one).
    pub policy: Option<PolicyRecord>,
    /// Search terms of the batch's events and the index of each.
    pub terms: Vec<(Term, String, u64)>,
    /// `logged_at` of the last entry, Unix ms.
    pub last_logged_at: i64,
    /// The batch's change of the credential map, if any.
    pub map: Option<crate::map::MapWrite>,
    /// Uses of approvals: [`approval_use_prefix`](crate::approval_use_prefix),
    /// the approval's digest, and the index of the event that used it.
    pub approval_uses: Vec<(Vec<u8>, Hash, u64)>,
    /// Index of every policy leaf in the batch.
    pub policy_leaves: Vec<u64>,
    /// Index of every log key announcement in the batch.
    pub log_key_leaves: Vec<u64>,
    /// The `occurred_at` buckets of the batch's events
    /// ([`crate::timeindex`]) and the index of each.
    pub occurred_buckets: Vec<([(u8, String); 2], u64)>,
    /// The earliest and latest `occurred_at` (Unix ms) of the batch's events.
    pub occurred_span: Option<(i64, i64)>,
}

impl AppendBatch {
    /// The index the next pushed entry gets.
    #[must_use]
    pub fn next_index(&self) -> u64 {
        self.start + self.entries.len() as u64
    }

    /// Appends an event entry at [`AppendBatch::next_index`] with
    /// everything the store derives from it: its leaf hash, its dedup key
    /// (`dedup_key(submitter, event_id)`) and its search terms. The
    /// sequencer and a rebuild from entries both go through here, so both
    /// write the same indexes. Returns the entry's index.
    pub fn push_event(&mut self, entry: Vec<u8>, event: &provlog_proto::event::Event, dedup_key: Vec<u8>) -> u64 {
        let index = self.next_index();
        self.terms
            .extend(event.terms().into_iter().map(|(t, v)| (t, v.to_owned(), index)));
        if let Some(ms) = crate::timeindex::occurred_ms(event)
            && let Some(b) = crate::timeindex::buckets_of(ms)
        {
            self.occurred_buckets.push((b, index));
            self.occurred_span = Some(widen(self.occurred_span, (ms, ms)));
        }
        self.dedup.push((dedup_key, index));
        self.leaf_hashes.push(provlog_tlog::merkle::leaf_hash(&entry));
        self.entries.push(entry);
        index
    }

    /// Records that entry `index` is position `seq` of `submitter`'s chain
    /// ([`crate::chain_seq_key`]).
    pub fn push_chain_seq(&mut self, submitter: &str, seq: u64, index: u64) {
        self.dedup.push((crate::chain_seq_key(submitter, seq), index));
    }

    /// Appends a heartbeat entry at [`AppendBatch::next_index`] with its
    /// chain position key ([`crate::chain_seq_key`]; it has no search terms).
    /// Returns the entry's index.
    pub fn push_heartbeat(&mut self, entry: Vec<u8>, dedup_key: Vec<u8>) -> u64 {
        let index = self.next_index();
        self.dedup.push((dedup_key, index));
        self.leaf_hashes.push(provlog_tlog::merkle::leaf_hash(&entry));
        self.entries.push(entry);
        index
    }

    /// Records that the event at `index` used `approvals` (one use each).
    /// The sequencer and a rebuild from entries both go through here.
    pub fn push_approval_uses(&mut self, index: u64, approvals: &[provlog_proto::approval::SignedApproval]) {
        self.approval_uses.extend(approvals.iter().map(|a| {
            (
                crate::approval_use_prefix(&a.approval.approver, &a.approval.id),
                a.digest(),
                index,
            )
        }));
    }

    /// Appends a state-commitment entry at [`AppendBatch::next_index`]
    /// (only its leaf hash is derived: it has no dedup key or search
    /// terms). Returns the entry's index.
    pub fn push_state(&mut self, entry: Vec<u8>) -> u64 {
        let index = self.next_index();
        self.leaf_hashes.push(provlog_tlog::merkle::leaf_hash(&entry));
        self.entries.push(entry);
        index
    }

    /// Appends a policy entry at [`AppendBatch::next_index`]: its leaf hash,
    /// and the policy (RFC 8785 bytes of its `policy` object) as the one in
    /// force from it on. Returns the entry's index.
    pub fn push_policy(&mut self, entry: Vec<u8>, canonical: Vec<u8>) -> u64 {
        let index = self.next_index();
        self.policy = Some(PolicyRecord { index, canonical });
        self.policy_leaves.push(index);
        self.leaf_hashes.push(provlog_tlog::merkle::leaf_hash(&entry));
        self.entries.push(entry);
        index
    }
}

impl AppendBatch {
    /// Appends a log key announcement at [`AppendBatch::next_index`]: its
    /// leaf hash, and its index in the list of rotations
    /// ([`Store::log_key_rotations`]). Returns the entry's index.
    pub fn push_log_key(&mut self, entry: Vec<u8>) -> u64 {
        let index = self.next_index();
        self.log_key_leaves.push(index);
        self.leaf_hashes.push(provlog_tlog::merkle::leaf_hash(&entry));
        self.entries.push(entry);
        index
    }
}

/// `span` widened to hold `by`.
fn widen(span: Option<(i64, i64)>, by: (i64, i64)) -> (i64, i64) {
    span.map_or(by, |(lo, hi)| (lo.min(by.0), hi.max(by.1)))
}

/// The log's `RocksDB` database.
///
/// `Store` is `Send + Sync`; reads may run from any thread while the single
/// writer appends. Readers must not read beyond the size of a checkpoint
/// they got from [`Store::latest_checkpoint`] (or that the writer
/// published): everything up to that size is durable and immutable.
pub struct Store {
    db: DB,
    size: AtomicU64,
    sync: bool,
    manual_wal_flush: bool,
    upper: UpperLevels,
    blobs: BlobCache,
    blocks: quick_cache::sync::Cache<u64, Arc<Vec<Hash>>>,
    /// The leaf hashes of the stored tree's last, incomplete 16-leaf block
    /// (index of its first leaf, then the hashes): every proof against the
    /// latest size needs nodes of it, and it changes with each write.
    tail: std::sync::RwLock<(u64, Vec<Hash>)>,
    /// Decoded map nodes by number (a stored node never changes and its
    /// number is never given again, so a cached node is never stale).
    pub(crate) map_nodes: quick_cache::sync::Cache<u64, provlog_proto::map_nodes::Node>,
    /// The earliest and latest `occurred_at` of the stored events (the
    /// bounds of an open `occurred_at` window); as `meta/occurred_span`.
    occurred_span: std::sync::Mutex<Option<(i64, i64)>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .field("size", &self.size.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

fn cf_options(cache: &Cache, name: &str) -> Options {
    let mut o = Options::default();
    let mut t = BlockBasedOptions::default();
    t.set_block_cache(cache);
    t.set_cache_index_and_filter_blocks(true);
    t.set_pin_l0_filter_and_index_blocks_in_cache(true);
    match name {
        CF_ENTRIES => {
            t.set_block_size(16 << 10);
            o.set_compression_type(DBCompressionType::Lz4);
            o.set_bottommost_compression_type(DBCompressionType::Zstd);
        }
        CF_HASHES => {
            // Hashes are random bytes: compression only costs CPU.
            o.set_compression_type(DBCompressionType::None);
            t.set_block_size(8 << 10);
        }
        CF_SEARCH => {
            // Keys only, sorted by term then index: prefix-compressed well.
            o.set_compression_type(DBCompressionType::Lz4);
            t.set_block_size(16 << 10);
        }
        CF_MAP_NODES => {
            // Looked up by number, one at a time; numbers only grow, so
            // files never overlap and compaction moves them down whole. No
            // bloom filter: a lookup's key range already names the one
            // file that can hold it (and filters for every node of every
            // kept version would be resident memory per credential).
            o.set_write_buffer_size(16 << 20);
            o.set_max_write_buffer_number(4);
            o.set_compression_type(DBCompressionType::None);
        }
        CF_MAP_RECORDS => {
            // Looked up by hash, one at a time, never iterated; keys are
            // random. Small memtables: each insert descends a skiplist, and
            // a small one stays in cache (measured: 64 MiB 7.9 k, 16 MiB
            // 9.8 k signed submissions/s at 256 clients).
            o.set_write_buffer_size(16 << 20);
            o.set_max_write_buffer_number(4);
            t.set_bloom_filter(10.0, false);
            o.set_compression_type(DBCompressionType::Lz4);
            o.optimize_for_point_lookup(64);
        }
        CF_DEDUP | CF_LEAF_INDEX => {
            t.set_bloom_filter(10.0, false);
            o.set_compression_type(if name == CF_DEDUP {
                DBCompressionType::Lz4
            } else {
                DBCompressionType::None
            });
            o.optimize_for_point_lookup(64);
        }
        _ => {}
    }
    o.set_block_based_table_factory(&t);
    o
}

/// Most bytes of write-ahead log kept before the column families that
/// hold the oldest are flushed.
pub const MAX_TOTAL_WAL_BYTES: u64 = 256 << 20;

impl Store {
    /// Opens (creating if needed) the store in directory `path`.
    ///
    /// # Errors
    /// `RocksDB` errors (missing permissions, corruption, a lock held by
    /// another process), or a stored checkpoint that cannot be read.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Self, StorageError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_bytes_per_sync(1 << 20);
        opts.set_keep_log_file_num(5);
        // A column family written rarely (checkpoints, meta, map versions)
        // would otherwise keep every WAL file since its last flush: measured
        // 2.4 GB of WAL after 500 k entries. Past this total, the column
        // families holding the oldest WAL are flushed so it can go.
        opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        opts.set_paranoid_checks(true);
        opts.set_manual_wal_flush(options.manual_wal_flush);
        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let cfs = ALL_CFS
            .iter()
            .map(|n| ColumnFamilyDescriptor::new(*n, cf_options(&cache, n)));
        let db = if options.read_only {
            opts.create_if_missing(false);
            // A store written before approvals has no `approval_uses`; read
            // only, it cannot be created, and reads find no uses.
            let have = DB::list_cf(&opts, path).unwrap_or_default();
            let cfs = cfs.filter(|d| d.name() != CF_APPROVAL_USES || have.iter().any(|h| h == CF_APPROVAL_USES));
            DB::open_cf_descriptors_read_only(&opts, path, cfs, false)?
        } else {
            DB::open_cf_descriptors(&opts, path, cfs)?
        };
        let store = Self {
            db,
            size: AtomicU64::new(0),
            sync: options.sync,
            manual_wal_flush: options.manual_wal_flush,
            upper: UpperLevels::default(),
            blobs: blob_cache(options.tile_cache_bytes),
            // 512 bytes per block of 16 leaves: 256 Ki blocks = 128 MiB
            // covers 4 M entries; beyond that, the hottest.
            blocks: quick_cache::sync::Cache::new(256 << 10),
            tail: std::sync::RwLock::default(),
            map_nodes: quick_cache::sync::Cache::new(options.map_node_cache.max(1)),
            occurred_span: std::sync::Mutex::new(None),
        };
        if !options.read_only {
            store.drop_old_map_layout()?;
        }
        let size = store.count_entries()?;
        store.size.store(size, Ordering::Release);
        if !options.read_only {
            store.build_time_index(size)?;
        }
        let span = store.read_occurred_span()?;
        *store
            .occurred_span
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = span;
        // Load the cached upper levels; nodes beyond the stored tree (if
        // any) are not loaded, so the cache never runs ahead of it.
        for level in MIN_CACHED_LEVEL..64 {
            if size >> level == 0 {
                break;
            }
            let mut nodes = Vec::new();
            for item in store.level_iter(level, 0) {
                let (i, h) = item?;
                if i >= size >> level {
                    break;
                }
                nodes.push((NodeId::new(level, i), h));
            }
            store.upper.extend(&nodes);
        }
        let first = size & !((1 << MIN_CACHED_LEVEL) - 1);
        let leaves = store.level_hashes(0, first, size - first)?;
        *store.tail.write().unwrap_or_else(std::sync::PoisonError::into_inner) = (first, leaves);
        Ok(store)
    }

    /// Whether writes are synced ([`StoreOptions::sync`]).
    pub(crate) fn syncs(&self) -> bool {
        self.sync
    }

    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    pub(crate) fn cf(&self, name: &'static str) -> &ColumnFamily {
        // Every name in ALL_CFS is created by `open`; a missing handle is a
        // programming error, not something the disk or a client controls.
        self.db
            .cf_handle(name)
            .unwrap_or_else(|| unreachable!("column family {name} is opened by Store::open"))
    }

    /// Number of stored entries: one past the last entry key.
    fn count_entries(&self) -> Result<u64, StorageError> {
        let mut it = self.db.iterator_cf(self.cf(CF_ENTRIES), IteratorMode::End);
        match it.next() {
            None => Ok(0),
            Some(r) => {
                let (k, _) = r?;
                Ok(decode_u64("entry key", b"entries", &k)? + 1)
            }
        }
    }

    /// Number of entries stored (the size of the latest committed tree).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// The path of the data directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// Writes one batch atomically and durably (`WriteBatch`, `sync`).
    ///
    /// # Errors
    /// [`StorageError::OutOfOrder`] if the batch does not start at the
    /// stored size (nothing is written); `RocksDB` errors, after which the
    /// caller must assume nothing of the batch and stop appending.
    pub fn append(&self, batch: &AppendBatch) -> Result<(), StorageError> {
        self.write_batch(batch, self.sync)
    }

    /// Appends without syncing; with `manual_wal_flush` the batch stays in
    /// the process until the next synced append. For crash tests only.
    ///
    /// # Errors
    /// As [`Store::append`].
    #[doc(hidden)]
    pub fn debug_append_unsynced(&self, batch: &AppendBatch) -> Result<(), StorageError> {
        self.write_batch(batch, false)
    }

    fn write_batch(&self, batch: &AppendBatch, sync: bool) -> Result<(), StorageError> {
        let want = self.size();
        if batch.start != want {
            return Err(StorageError::OutOfOrder { want, got: batch.start });
        }
        let mut wb = WriteBatch::default();
        let (entries, hashes, leaf_index) = (self.cf(CF_ENTRIES), self.cf(CF_HASHES), self.cf(CF_LEAF_INDEX));
        for (i, (e, lh)) in batch.entries.iter().zip(&batch.leaf_hashes).enumerate() {
            let index = batch.start + i as u64;
            wb.put_cf(entries, entry_key(index), e);
            wb.put_cf(leaf_index, lh, index.to_be_bytes());
        }
        for (id, h) in &batch.nodes {
            wb.put_cf(hashes, node_key(*id), h);
        }
        let dedup = self.cf(CF_DEDUP);
        for (k, index) in &batch.dedup {
            wb.put_cf(dedup, k, index.to_be_bytes());
        }
        let search = self.cf(CF_SEARCH);
        for (term, value, index) in &batch.terms {
            wb.put_cf(search, term_key(&term_prefix(*term, value), *index), []);
        }
        for (buckets, index) in &batch.occurred_buckets {
            for (tag, value) in buckets {
                wb.put_cf(search, term_key(&tag_prefix(*tag, value), *index), []);
            }
        }
        // The writer is the only one to change the span: read, widen, and
        // publish it after the batch is written.
        let old_span = self.occurred_span();
        let span = match (batch.occurred_span, old_span) {
            (Some(b), old) => {
                let new = widen(old, b);
                if old != Some(new) {
                    wb.put_cf(self.cf(CF_META), KEY_OCCURRED_SPAN, span_bytes(new));
                }
                Some(new)
            }
            (None, old) => old,
        };
        if !batch.approval_uses.is_empty() {
            let uses = self.cf(CF_APPROVAL_USES);
            for (prefix, digest, index) in &batch.approval_uses {
                let mut k = prefix.clone();
                k.extend_from_slice(&index.to_be_bytes());
                wb.put_cf(uses, k, digest);
            }
        }
        let checkpoints = self.cf(CF_CHECKPOINTS);
        wb.put_cf(checkpoints, KEY_LATEST, &batch.checkpoint);
        // Every checkpoint stays readable by its size, so that a paged answer
        // can prove all its pages against one checkpoint.
        let size = batch.start + batch.entries.len() as u64;
        wb.put_cf(checkpoints, size.to_be_bytes(), &batch.checkpoint);
        let meta = self.cf(CF_META);
        if let Some(p) = &batch.policy {
            let mut v = p.index.to_be_bytes().to_vec();
            v.extend_from_slice(&p.canonical);
            wb.put_cf(meta, KEY_POLICY, v);
        }
        wb.put_cf(meta, KEY_LOGGED_AT, batch.last_logged_at.to_be_bytes());
        for i in &batch.policy_leaves {
            wb.put_cf(meta, policy_at_key(*i), []);
        }
        for i in &batch.log_key_leaves {
            wb.put_cf(meta, [KEY_LOG_KEY_AT, &i.to_be_bytes()].concat(), []);
        }
        if let Some(m) = &batch.map {
            self.put_map(&mut wb, m);
        }
        let mut wo = WriteOptions::default();
        if self.manual_wal_flush {
            self.db.write_opt(wb, &wo)?;
            if sync {
                self.db.flush_wal(true)?;
            }
        } else {
            wo.set_sync(sync);
            self.db.write_opt(wb, &wo)?;
        }
        self.upper.extend(&batch.nodes);
        {
            let end = batch.start + batch.leaf_hashes.len() as u64;
            let first = end & !((1 << MIN_CACHED_LEVEL) - 1);
            let mut tail = self.tail.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if first >= batch.start {
                let from = usize::try_from(first - batch.start).unwrap_or(usize::MAX);
                *tail = (first, batch.leaf_hashes.get(from..).unwrap_or_default().to_vec());
            } else if tail.0 == first && tail.0 + tail.1.len() as u64 == batch.start {
                tail.1.extend_from_slice(&batch.leaf_hashes);
            } else {
                // Not the block it held (cannot happen with appends in
                // order): empty, so memory-only reads fall back.
                *tail = (first, Vec::new());
            }
        }
        if span != old_span {
            *self
                .occurred_span
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = span;
        }
        self.size
            .store(batch.start + batch.entries.len() as u64, Ordering::Release);
        Ok(())
    }

    /// The earliest and latest `occurred_at` (Unix ms) of the stored
    /// events, `None` before the first.
    #[must_use]
    pub fn occurred_span(&self) -> Option<(i64, i64)> {
        *self
            .occurred_span
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_occurred_span(&self) -> Result<Option<(i64, i64)>, StorageError> {
        let Some(v) = self.db.get_cf(self.cf(CF_META), KEY_OCCURRED_SPAN)? else {
            return Ok(None);
        };
        let half = |r: std::ops::Range<usize>| {
            v.get(r)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .ok_or_else(|| StorageError::Corrupt {
                    what: "occurred_at span",
                    key: "meta/occurred_span".into(),
                    reason: format!("value is {} bytes, not 16", v.len()),
                })
        };
        Ok(Some((half(0..8)?, half(8..16)?)))
    }

    /// Indexes the `occurred_at` of every stored event
    /// ([`crate::timeindex`]) in a store written before that index
    /// existed (no `meta/time_index`), then marks it done; a store that
    /// has the mark, or no entries, is only marked.
    fn build_time_index(&self, size: u64) -> Result<(), StorageError> {
        let meta = self.cf(CF_META);
        if self.db.get_cf(meta, KEY_TIME_INDEX)?.is_some() {
            return Ok(());
        }
        let search = self.cf(CF_SEARCH);
        let mut span = self.read_occurred_span()?;
        let mut wb = WriteBatch::default();
        for item in self.entry_iter(0) {
            let (index, entry) = item?;
            if index >= size {
                break;
            }
            if let Ok(provlog_proto::leaf::Leaf::Event(e)) = provlog_proto::leaf::Leaf::parse(&entry)
                && let Some(ms) = crate::timeindex::occurred_ms(&e.event.event)
                && let Some(buckets) = crate::timeindex::buckets_of(ms)
            {
                for (tag, value) in &buckets {
                    wb.put_cf(search, term_key(&tag_prefix(*tag, value), index), []);
                }
                span = Some(widen(span, (ms, ms)));
            }
            if wb.len() >= 20_000 {
                self.db.write(std::mem::take(&mut wb))?;
            }
        }
        if let Some(s) = span {
            wb.put_cf(meta, KEY_OCCURRED_SPAN, span_bytes(s));
        }
        wb.put_cf(meta, KEY_TIME_INDEX, []);
        let mut wo = WriteOptions::default();
        wo.set_sync(self.sync);
        self.db.write_opt(wb, &wo)?;
        Ok(())
    }

    /// The first index below `size` whose entry was logged at or after
    /// `ms` (Unix ms), or `size` if none was: a binary search, since
    /// `logged_at` never goes backwards along the log
    /// ([`crate::timeindex`]).
    ///
    /// # Errors
    /// `RocksDB` errors; a missing entry or one whose `logged_at` does not
    /// parse ([`StorageError::Corrupt`]).
    pub fn first_logged_at_or_after(&self, ms: i64, size: u64) -> Result<u64, StorageError> {
        let (mut lo, mut hi) = (0u64, size.min(self.size()));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.logged_at_of(mid)? < ms {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    fn logged_at_of(&self, index: u64) -> Result<i64, StorageError> {
        let entry = self.entry(index)?.ok_or_else(|| missing_entry(index))?;
        let corrupt = |reason: String| StorageError::Corrupt {
            what: "entries",
            key: index.to_string(),
            reason,
        };
        let leaf = provlog_proto::leaf::Leaf::parse(&entry).map_err(|e| corrupt(e.to_string()))?;
        let at = match &leaf {
            provlog_proto::leaf::Leaf::Event(e) => &e.logged_at,
            provlog_proto::leaf::Leaf::Policy(p) => &p.logged_at,
            provlog_proto::leaf::Leaf::State(s) => &s.logged_at,
            provlog_proto::leaf::Leaf::Heartbeat(h) => &h.logged_at,
            provlog_proto::leaf::Leaf::LogKey(k) => &k.logged_at,
        };
        provlog_proto::time::parse_millis(at).map_err(|e| corrupt(format!("logged_at: {e}")))
    }

    /// Whether entry `index` is an event whose `occurred_at` is in
    /// `[from, to)`.
    fn occurred_within(&self, index: u64, from: i64, to: i64) -> Result<bool, StorageError> {
        let Some(entry) = self.entry(index)? else {
            return Err(missing_entry(index));
        };
        Ok(match provlog_proto::leaf::Leaf::parse(&entry) {
            Ok(provlog_proto::leaf::Leaf::Event(e)) => {
                crate::timeindex::occurred_ms(&e.event.event).is_some_and(|t| (from..to).contains(&t))
            }
            _ => false,
        })
    }

    /// The latest stored checkpoint note, if any batch was ever appended.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn latest_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(CF_CHECKPOINTS), KEY_LATEST)?)
    }

    /// The checkpoint note signed for tree size `size`, if one was stored
    /// (every checkpoint appended since checkpoints are kept by size; a
    /// store written by an older version has only its latest).
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        if size == self.size() {
            return self.latest_checkpoint();
        }
        Ok(self.db.get_cf(self.cf(CF_CHECKPOINTS), size.to_be_bytes())?)
    }

    /// The first checkpoint kept whose tree includes entry `index` (the
    /// one signed for the batch that appended it, on a store that keeps
    /// checkpoints by size): its size and note.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn first_checkpoint_including(&self, index: u64) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        let from = (index + 1).to_be_bytes();
        let it = self
            .db
            .iterator_cf(self.cf(CF_CHECKPOINTS), IteratorMode::From(&from, Direction::Forward));
        for item in it {
            let (k, v) = item?;
            if let Ok(size) = <[u8; 8]>::try_from(k.as_ref()) {
                return Ok(Some((u64::from_be_bytes(size), v.into_vec())));
            }
        }
        Ok(None)
    }

    /// Index of the policy leaf in force for entry `index`: the last one
    /// at or before it, from the policy-leaf index (`meta` keys
    /// `policy_at ‖ index`; a store written before that index has only its
    /// latest policy, [`Store::policy`]).
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn policy_in_force(&self, index: u64) -> Result<Option<u64>, StorageError> {
        let from = policy_at_key(index);
        let it = self
            .db
            .iterator_cf(self.cf(CF_META), IteratorMode::From(&from, Direction::Reverse));
        for item in it {
            let (k, _) = item?;
            let Some(rest) = k.strip_prefix(KEY_POLICY_AT) else {
                break;
            };
            if let Ok(i) = <[u8; 8]>::try_from(rest) {
                return Ok(Some(u64::from_be_bytes(i)));
            }
        }
        Ok(None)
    }

    /// Indexes of the policy leaves after `after` and below `below`, in
    /// order, at most `limit`, from the policy-leaf index (a store written
    /// before that index lists only the policy leaves appended since, and
    /// its latest, [`Store::policy`]).
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn policy_leaves(&self, after: Option<u64>, below: u64, limit: usize) -> Result<Vec<u64>, StorageError> {
        let from = policy_at_key(after.map_or(0, |a| a.saturating_add(1)));
        let it = self
            .db
            .iterator_cf(self.cf(CF_META), IteratorMode::From(&from, Direction::Forward));
        let mut out = Vec::new();
        for item in it {
            let (k, _) = item?;
            let Some(rest) = k.strip_prefix(KEY_POLICY_AT) else {
                break;
            };
            let Ok(i) = <[u8; 8]>::try_from(rest) else {
                break;
            };
            let i = u64::from_be_bytes(i);
            if i >= below || out.len() >= limit {
                break;
            }
            out.push(i);
        }
        Ok(out)
    }

    /// Index of every log key announcement, oldest first.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn log_key_rotations(&self) -> Result<Vec<u64>, StorageError> {
        let it = self
            .db
            .iterator_cf(self.cf(CF_META), IteratorMode::From(KEY_LOG_KEY_AT, Direction::Forward));
        let mut out = Vec::new();
        for item in it {
            let (k, _) = item?;
            let Some(rest) = k.strip_prefix(KEY_LOG_KEY_AT) else {
                break;
            };
            if let Ok(i) = <[u8; 8]>::try_from(rest) {
                out.push(u64::from_be_bytes(i));
            }
        }
        Ok(out)
    }

    /// The last policy leaf appended.
    ///
    /// # Errors
    /// `RocksDB` errors or a malformed record.
    pub fn policy(&self) -> Result<Option<PolicyRecord>, StorageError> {
        let Some(v) = self.db.get_cf(self.cf(CF_META), KEY_POLICY)? else {
            return Ok(None);
        };
        if v.len() < 8 {
            return Err(StorageError::Corrupt {
                what: "policy record",
                key: "meta/policy".into(),
                reason: "shorter than 8 bytes".into(),
            });
        }
        let (i, c) = v.split_at(8);
        Ok(Some(PolicyRecord {
            index: decode_u64("policy record", KEY_POLICY, i)?,
            canonical: c.to_vec(),
        }))
    }

    /// Stores the witness client's state (the cosigned checkpoints it
    /// collected and each witness's last cosigned size) as opaque bytes
    /// under `meta/witnesses`, synced, so a restart keeps them. It is not
    /// part of the tree and never changes what the log commits to.
    ///
    /// # Errors
    /// `RocksDB` failures.
    pub fn put_witness_state(&self, bytes: &[u8]) -> Result<(), StorageError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        let mut wb = WriteBatch::default();
        wb.put_cf(self.cf(CF_META), KEY_WITNESSES, bytes);
        self.db.write_opt(wb, &wo)?;
        if self.manual_wal_flush {
            self.db.flush_wal(true)?;
        }
        Ok(())
    }

    /// The bytes [`Store::put_witness_state`] stored last, if any.
    ///
    /// # Errors
    /// `RocksDB` failures.
    pub fn witness_state(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(CF_META), KEY_WITNESSES)?)
    }

    /// Marks the log frozen at its current size, durably (synced). A frozen
    /// log is read-only for good; nothing in provlog clears the mark.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn set_frozen(&self) -> Result<u64, StorageError> {
        let size = self.size();
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        let mut wb = WriteBatch::default();
        wb.put_cf(self.cf(CF_META), KEY_FROZEN, size.to_be_bytes());
        self.db.write_opt(wb, &wo)?;
        if self.manual_wal_flush {
            self.db.flush_wal(true)?;
        }
        Ok(size)
    }

    /// The size the log was frozen at, if it is frozen.
    ///
    /// # Errors
    /// `RocksDB` errors or a malformed record.
    pub fn frozen(&self) -> Result<Option<u64>, StorageError> {
        self.db
            .get_cf(self.cf(CF_META), KEY_FROZEN)?
            .map(|v| decode_u64("frozen record", KEY_FROZEN, &v))
            .transpose()
    }

    /// `logged_at` (Unix ms) of the last entry appended, if any.
    ///
    /// # Errors
    /// `RocksDB` errors or a malformed record.
    pub fn last_logged_at(&self) -> Result<Option<i64>, StorageError> {
        self.db
            .get_cf(self.cf(CF_META), KEY_LOGGED_AT)?
            .map(|v| {
                <[u8; 8]>::try_from(v.as_slice())
                    .map(i64::from_be_bytes)
                    .map_err(|_| StorageError::Corrupt {
                        what: "logged_at record",
                        key: "meta/logged_at".into(),
                        reason: "not 8 bytes".into(),
                    })
            })
            .transpose()
    }

    /// The bytes of entry `index`.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(CF_ENTRIES), entry_key(index))?)
    }

    /// Entries `[start, start + count)`, which must all be stored.
    ///
    /// # Errors
    /// `RocksDB` errors; [`StorageError::Corrupt`] if one is missing.
    pub fn entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(entry_key(start + count).to_vec());
        let from = entry_key(start);
        let it = self
            .db
            .iterator_cf_opt(self.cf(CF_ENTRIES), ro, IteratorMode::From(&from, Direction::Forward));
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for (expect, r) in (start..).zip(it) {
            let (k, v) = r?;
            if k.as_ref() != entry_key(expect) {
                return Err(missing_entry(expect));
            }
            out.push(v.into_vec());
        }
        if out.len() as u64 != count {
            return Err(missing_entry(start + out.len() as u64));
        }
        Ok(out)
    }

    /// Hashes of the perfect nodes at `level` with indexes
    /// `[start, start + count)` (one hash tile is one such read).
    ///
    /// # Errors
    /// `RocksDB` errors; [`StorageError::MissingNode`] if one is missing.
    pub fn level_hashes(&self, level: u8, start: u64, count: u64) -> Result<Vec<Hash>, StorageError> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(node_key(NodeId::new(level, start + count)).to_vec());
        let from = node_key(NodeId::new(level, start));
        let it = self
            .db
            .iterator_cf_opt(self.cf(CF_HASHES), ro, IteratorMode::From(&from, Direction::Forward));
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for (expect, r) in (start..).zip(it) {
            let (k, v) = r?;
            let id = NodeId::new(level, expect);
            if k.as_ref() != node_key(id) {
                return Err(StorageError::MissingNode(id));
            }
            out.push(to_hash(id, &v)?);
        }
        if out.len() as u64 != count {
            return Err(StorageError::MissingNode(NodeId::new(level, start + out.len() as u64)));
        }
        Ok(out)
    }

    /// The leaf hash of entry `index`.
    ///
    /// # Errors
    /// `RocksDB` errors; [`StorageError::MissingNode`] if it is not stored.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, StorageError> {
        let id = NodeId::new(0, index);
        let v = self
            .db
            .get_pinned_cf(self.cf(CF_HASHES), node_key(id))?
            .ok_or(StorageError::MissingNode(id))?;
        to_hash(id, &v)
    }

    /// The body of a hash tile: the hashes of `count` nodes of tree level
    /// `level` from `start`, concatenated. Full tiles are cached; upper
    /// levels come from memory.
    ///
    /// # Errors
    /// As [`Store::level_hashes`].
    pub fn tile_body(&self, level: u8, start: u64, count: u64) -> Result<Arc<Vec<u8>>, StorageError> {
        if level >= MIN_CACHED_LEVEL {
            let ids: Vec<NodeId> = (start..start + count).map(|i| NodeId::new(level, i)).collect();
            return Ok(Arc::new(self.node_hashes(&ids)?.concat()));
        }
        let full = count == 256 && start.is_multiple_of(256);
        if full && let Some(b) = self.blobs.get(&(level, start)) {
            return Ok(b);
        }
        let body = Arc::new(self.level_hashes(level, start, count)?.concat());
        if full {
            self.blobs.insert((level, start), Arc::clone(&body));
        }
        Ok(body)
    }

    /// A full entry bundle (`start` a multiple of 256) from the cache, or
    /// read and encoded by `encode` (and cached if full).
    ///
    /// # Errors
    /// Storage errors, or what `encode` fails with (as `Corrupt`).
    pub fn bundle_body(
        &self,
        start: u64,
        count: u64,
        encode: impl FnOnce(&[Vec<u8>]) -> Result<Vec<u8>, String>,
    ) -> Result<Arc<Vec<u8>>, StorageError> {
        let full = count == 256 && start.is_multiple_of(256);
        // Tag 255 keeps bundles apart from hash tiles (levels 0..63).
        if full && let Some(b) = self.blobs.get(&(255, start)) {
            return Ok(b);
        }
        let entries = self.entries(start, count)?;
        let body = Arc::new(encode(&entries).map_err(|reason| StorageError::Corrupt {
            what: "entry bundle",
            key: start.to_string(),
            reason,
        })?);
        if full {
            self.blobs.insert((255, start), Arc::clone(&body));
        }
        Ok(body)
    }

    /// Whether a full tile or bundle is in memory (the read path then
    /// answers without a blocking read).
    #[must_use]
    pub fn is_cached(&self, level: u8, start: u64, count: u64, bundle: bool) -> bool {
        if !bundle && level >= MIN_CACHED_LEVEL {
            return true;
        }
        count == 256 && self.blobs.contains_key(&(if bundle { 255 } else { level }, start))
    }

    /// The uses recorded of the approval `id` of `approver`: the digest
    /// recorded with them (`None` if it was never used) and the indexes
    /// of the events that used it, at most `limit` of them.
    ///
    /// # Errors
    /// `RocksDB` errors; a stored digest that is not 32 bytes.
    pub fn approval_uses(
        &self,
        approver: &str,
        id: &str,
        limit: usize,
    ) -> Result<(Option<Hash>, Vec<u64>), StorageError> {
        let Some(cf) = self.db.cf_handle(CF_APPROVAL_USES) else {
            return Ok((None, Vec::new()));
        };
        let prefix = crate::approval_use_prefix(approver, id);
        let mut ro = ReadOptions::default();
        ro.set_iterate_range(rocksdb::PrefixRange(prefix.as_slice()));
        let mut digest = None;
        let mut indexes = Vec::new();
        for item in self
            .db
            .iterator_cf_opt(cf, ro, IteratorMode::From(&prefix, Direction::Forward))
        {
            let (k, v) = item?;
            let corrupt = |reason: String| StorageError::Corrupt {
                what: "approval use",
                key: String::from_utf8_lossy(&k).into_owned(),
                reason,
            };
            let d: Hash = v
                .as_ref()
                .try_into()
                .map_err(|_| corrupt(format!("value is {} bytes, not 32", v.len())))?;
            let i = k
                .get(prefix.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| corrupt("key does not end in an index".into()))?;
            digest.get_or_insert(d);
            indexes.push(i);
            if indexes.len() >= limit {
                break;
            }
        }
        Ok((digest, indexes))
    }

    /// The index stored for a dedup key.
    ///
    /// # Errors
    /// `RocksDB` errors or a malformed record.
    pub fn dedup(&self, key: &[u8]) -> Result<Option<u64>, StorageError> {
        self.db
            .get_pinned_cf(self.cf(CF_DEDUP), key)?
            .map(|v| decode_u64("dedup record", key, &v))
            .transpose()
    }

    /// The index of position `seq` of `submitter`'s chain, if logged.
    ///
    /// # Errors
    /// Storage errors.
    pub fn chain_entry(&self, submitter: &str, seq: u64) -> Result<Option<u64>, StorageError> {
        self.dedup(&crate::chain_seq_key(submitter, seq))
    }

    /// [`Store::dedup`] for many keys in one batched read, in order.
    pub fn dedup_many<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) -> Vec<Result<Option<u64>, StorageError>> {
        let keys: Vec<&[u8]> = keys.into_iter().collect();
        if keys.is_empty() {
            return Vec::new();
        }
        self.db
            .batched_multi_get_cf(self.cf(CF_DEDUP), keys.iter().copied(), false)
            .into_iter()
            .zip(&keys)
            .map(|(r, k)| r?.map(|v| decode_u64("dedup record", k, &v)).transpose())
            .collect()
    }

    /// Indexes of the entries matching every filter (an entry matches
    /// `(term, value)` if it was appended with that term), in increasing
    /// order, greater than `after`, below `below`, at most `limit`. With no
    /// filters every index matches.
    ///
    /// # Errors
    /// `RocksDB` errors or a malformed key.
    pub fn search(
        &self,
        filters: &[(Term, &str)],
        after: Option<u64>,
        below: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StorageError> {
        Ok(self.search_bounded(filters, after, below, limit, usize::MAX)?.0)
    }

    /// [`Store::search`] with its work bounded: after `max_misses` steps of
    /// the join that found no match it stops, and also returns the index up
    /// to which (inclusive) every entry has been examined, so that a caller
    /// pages by work done and resumes with it as `after`. `None` when the
    /// search ran to `limit` hits or to the end. Filters whose matches never
    /// meet so cost at most `max_misses` seeks per filter, not the log's
    /// size.
    ///
    /// # Errors
    /// `RocksDB` errors or a malformed key.
    pub fn search_bounded(
        &self,
        filters: &[(Term, &str)],
        after: Option<u64>,
        below: u64,
        limit: usize,
        max_misses: usize,
    ) -> Result<(Vec<u64>, Option<u64>), StorageError> {
        let q = Search {
            terms: filters.to_vec(),
            occurred: None,
            start: after.map_or(0, |a| a.saturating_add(1)),
            end: below,
        };
        self.search_in(&q, limit, max_misses).map_err(|e| match e {
            SearchError::Storage(e) => e,
            SearchError::TooWide(_) => unreachable!("a search without an occurred_at window plans no buckets"),
        })
    }

    /// [`Store::search_bounded`] of a [`Search`]: the entries in
    /// `[q.start, q.end)` matching every term and, with `q.occurred`, the
    /// events whose `occurred_at` is in that window (through its day and
    /// month buckets, [`crate::timeindex`]). The second value is the index
    /// up to which (inclusive) every entry has been examined when the work
    /// bound stopped the join, `None` when it ran to `limit` or the end.
    ///
    /// # Errors
    /// [`SearchError::TooWide`] for an `occurred_at` window of more than
    /// [`crate::timeindex::MAX_BUCKETS`] buckets; storage errors.
    pub fn search_in(
        &self,
        q: &Search<'_>,
        limit: usize,
        max_misses: usize,
    ) -> Result<(Vec<u64>, Option<u64>), SearchError> {
        let mut cand = q.start;
        let mut out = Vec::new();
        let mut sources: Vec<Source<'_>> = q
            .terms
            .iter()
            .map(|(t, v)| Source::Term(self.posting(term_prefix(*t, v))))
            .collect();
        let mut window = None;
        if let Some((from, to)) = q.occurred {
            // An open end stops at the stored events' span, so that the
            // window plans the buckets that can hold something.
            let Some((lo, hi)) = self.occurred_span() else {
                return Ok((out, None));
            };
            let (from, to) = (
                from.map_or(lo, |f| f.max(lo)),
                to.map_or(hi.saturating_add(1), |t| t.min(hi.saturating_add(1))),
            );
            if from >= to {
                return Ok((out, None));
            }
            let plan = crate::timeindex::plan(from, to)?;
            let parts = plan
                .into_iter()
                .map(|b| Part {
                    exact: b.exact,
                    posting: self.posting(b.prefix),
                    at: At::Unsought,
                })
                .collect();
            sources.push(Source::Union(parts));
            window = Some((from, to));
        }
        if sources.is_empty() {
            while out.len() < limit && cand < q.end {
                out.push(cand);
                cand += 1;
            }
            return Ok((out, None));
        }
        let mut misses = 0usize;
        // Leapfrog join: every list seeks to the candidate; if all land on
        // it, it matches (after the exact time check of an event from a
        // day the window cuts); otherwise the largest landing is the next
        // candidate.
        'outer: while out.len() < limit && cand < q.end {
            if misses >= max_misses {
                // Everything below `cand` has been examined.
                return Ok((out, cand.checked_sub(1)));
            }
            let mut next = cand;
            let mut check = false;
            for s in &mut sources {
                let Some((idx, c)) = s.seek(cand)? else {
                    break 'outer;
                };
                next = next.max(idx);
                check |= c && idx == cand;
            }
            if next == cand {
                if let (true, Some((from, to))) = (check, window)
                    && !self.occurred_within(cand, from, to)?
                {
                    misses += 1;
                    cand += 1;
                    continue;
                }
                out.push(cand);
                cand += 1;
            } else {
                misses += 1;
                cand = next;
            }
        }
        Ok((out, None))
    }

    fn posting(&self, prefix: Vec<u8>) -> Posting<'_> {
        let mut upper = prefix.clone();
        // The prefix ends in 0x00; 0x01 in its place bounds every key of the term.
        if let Some(last) = upper.last_mut() {
            *last = 1;
        }
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(upper);
        let it = self.db.raw_iterator_cf_opt(self.cf(CF_SEARCH), ro);
        Posting { prefix, it }
    }

    /// The index of the entry with leaf hash `hash`.
    ///
    /// # Errors
    /// `RocksDB` errors or a malformed record.
    pub fn index_of_leaf(&self, hash: &Hash) -> Result<Option<u64>, StorageError> {
        self.db
            .get_pinned_cf(self.cf(CF_LEAF_INDEX), hash)?
            .map(|v| decode_u64("leaf index record", b"leaf", &v))
            .transpose()
    }

    /// Iterates over the hashes of `level` in index order, from `start`.
    /// Used by integrity checks.
    pub(crate) fn level_iter(
        &self,
        level: u8,
        start: u64,
    ) -> impl Iterator<Item = Result<(u64, Hash), StorageError>> + '_ {
        let mut ro = ReadOptions::default();
        // Keys are level ‖ index; every key of `level` sorts below [level + 1].
        ro.set_iterate_upper_bound(vec![level.saturating_add(1)]);
        ro.fill_cache(false);
        let from = node_key(NodeId::new(level, start));
        self.db
            .iterator_cf_opt(self.cf(CF_HASHES), ro, IteratorMode::From(&from, Direction::Forward))
            .map(move |r| {
                let (k, v) = r?;
                let index = decode_u64("hash key", b"hashes", k.get(1..).unwrap_or_default())?;
                Ok((index, to_hash(NodeId::new(level, index), &v)?))
            })
    }

    /// Iterates over all entries in index order, from `start`.
    pub(crate) fn entry_iter(&self, start: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>), StorageError>> + '_ {
        let mut ro = ReadOptions::default();
        ro.fill_cache(false);
        let from = entry_key(start);
        self.db
            .iterator_cf_opt(self.cf(CF_ENTRIES), ro, IteratorMode::From(&from, Direction::Forward))
            .map(|r| {
                let (k, v) = r?;
                Ok((decode_u64("entry key", b"entries", &k)?, v.into_vec()))
            })
    }

    /// Overwrites raw values; for tests that corrupt a store on purpose.
    #[doc(hidden)]
    pub fn debug_put_raw(&self, cf: &'static str, key: &[u8], value: Option<&[u8]>) -> Result<(), StorageError> {
        let cf = self.cf(match cf {
            "entries" => CF_ENTRIES,
            "hashes" => CF_HASHES,
            "checkpoints" => CF_CHECKPOINTS,
            "dedup" => CF_DEDUP,
            "leaf_index" => CF_LEAF_INDEX,
            "search" => CF_SEARCH,
            _ => CF_META,
        });
        match value {
            Some(v) => self.db.put_cf(cf, key, v)?,
            None => self.db.delete_cf(cf, key)?,
        }
        Ok(())
    }

    /// Flushes memtables and compacts every column family: after a bulk
    /// load (`provlog restore`) and for `provlog compact`, which reports the
    /// size on disk.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn compact(&self) -> Result<(), StorageError> {
        for name in ALL_CFS {
            let cf = self.cf(name);
            self.db.flush_cf(cf)?;
            self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }
}

/// A search of the log ([`Store::search_in`]).
#[derive(Debug, Clone, Default)]
pub struct Search<'a> {
    /// `(term, value)` filters, all of which must match (only events have
    /// terms).
    pub terms: Vec<(Term, &'a str)>,
    /// Only events whose `occurred_at` (Unix ms) is in `[from, to)`,
    /// either end open.
    pub occurred: Option<(Option<i64>, Option<i64>)>,
    /// The first index examined (one past a page's `after`; the first
    /// entry of a `logged_at` window).
    pub start: u64,
    /// One past the last index examined (the tree size; the end of a
    /// `logged_at` window).
    pub end: u64,
}

/// Why [`Store::search_in`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The `occurred_at` window needs too many buckets (a client error).
    #[error(transparent)]
    TooWide(#[from] crate::timeindex::TooWide),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<rocksdb::Error> for SearchError {
    fn from(e: rocksdb::Error) -> Self {
        Self::Storage(e.into())
    }
}

/// One term's posting list: the keys `prefix ‖ index`, in index order.
struct Posting<'a> {
    prefix: Vec<u8>,
    it: rocksdb::DBRawIterator<'a>,
}

impl Posting<'_> {
    /// The first index at or after `cand` in the list, `None` past its end.
    fn seek(&mut self, cand: u64) -> Result<Option<u64>, StorageError> {
        self.it.seek(term_key(&self.prefix, cand));
        let Some(k) = self.it.key() else {
            self.it.status()?;
            return Ok(None);
        };
        decode_u64("search key", k, k.get(self.prefix.len()..).unwrap_or_default()).map(Some)
    }
}

/// Where a bucket's iterator stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Not sought yet.
    Unsought,
    /// At this index.
    Index(u64),
    /// Past its end.
    End,
}

/// One bucket of a union, and where its iterator stands.
struct Part<'a> {
    exact: bool,
    posting: Posting<'a>,
    at: At,
}

/// A list the join seeks in: one term, or the union of disjoint buckets.
enum Source<'a> {
    Term(Posting<'a>),
    Union(Vec<Part<'a>>),
}

impl Source<'_> {
    /// The first index at or after `cand`, and whether it must be checked
    /// against the exact window (it came from a bucket the window cuts);
    /// `None` when the list has nothing at or after `cand`.
    fn seek(&mut self, cand: u64) -> Result<Option<(u64, bool)>, StorageError> {
        match self {
            Self::Term(p) => Ok(p.seek(cand)?.map(|i| (i, false))),
            Self::Union(parts) => {
                let mut best: Option<(u64, bool)> = None;
                for part in parts.iter_mut() {
                    // A bucket already standing at or past `cand` stays.
                    let at = match part.at {
                        At::Index(i) if i >= cand => Some(i),
                        At::End => None,
                        _ => part.posting.seek(cand)?,
                    };
                    part.at = at.map_or(At::End, At::Index);
                    if let Some(i) = at
                        && best.is_none_or(|(b, _)| i < b)
                    {
                        best = Some((i, !part.exact));
                    }
                }
                parts.retain(|p| p.at != At::End);
                Ok(best)
            }
        }
    }
}

fn span_bytes((lo, hi): (i64, i64)) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&lo.to_be_bytes());
    v[8..].copy_from_slice(&hi.to_be_bytes());
    v
}

fn policy_at_key(index: u64) -> Vec<u8> {
    [KEY_POLICY_AT, &index.to_be_bytes()].concat()
}

fn missing_entry(index: u64) -> StorageError {
    StorageError::Corrupt {
        what: "entries",
        key: index.to_string(),
        reason: "entry is missing".into(),
    }
}

fn to_hash(id: NodeId, v: &[u8]) -> Result<Hash, StorageError> {
    v.try_into().map_err(|_| StorageError::Corrupt {
        what: "tree hash",
        key: format!("({}, {})", id.level, id.index),
        reason: format!("value is {} bytes, not 32", v.len()),
    })
}

/// The nodes a [`Store`] holds in memory: the upper levels and the cached
/// 16-leaf blocks (nodes below the upper levels are hashed up from their
/// block's leaves). A node not in memory is an error, so that a proof made
/// from it needed no disk read.
struct InMemory<'a>(&'a Store);

/// A node a memory-only read did not find.
#[derive(Debug)]
struct NotInMemory;

impl InMemory<'_> {
    /// The leaves of the complete, cached 16-leaf block holding `id`.
    fn block_of(&self, id: NodeId) -> Option<Arc<Vec<Hash>>> {
        if id.level >= MIN_CACHED_LEVEL {
            return None;
        }
        let b = (id.index << id.level) >> MIN_CACHED_LEVEL;
        if (b + 1) << MIN_CACHED_LEVEL > self.0.size() {
            return None;
        }
        self.0.blocks.get(&b)
    }

    fn node(&self, id: NodeId) -> Option<Hash> {
        if let Some(h) = self.0.upper.get(id) {
            return Some(h);
        }
        if id.level >= MIN_CACHED_LEVEL {
            return None;
        }
        let width = 1usize << id.level;
        let first = usize::try_from((id.index << id.level) & ((1 << MIN_CACHED_LEVEL) - 1)).ok()?;
        let mut level: Vec<Hash> = if let Some(leaves) = self.block_of(id) {
            leaves.get(first..first + width)?.to_vec()
        } else {
            // The last, incomplete block: its leaves so far.
            let tail = self.0.tail.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            let start = id.index << id.level;
            if start < tail.0 {
                return None;
            }
            let at = usize::try_from(start - tail.0).ok()?;
            tail.1.get(at..at + width)?.to_vec()
        };
        while level.len() > 1 {
            level = level.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
        }
        level.first().copied()
    }
}

impl HashSource for InMemory<'_> {
    type Error = NotInMemory;

    fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, NotInMemory> {
        ids.iter().map(|id| self.node(*id).ok_or(NotInMemory)).collect()
    }
}

impl Store {
    /// The leaf hash of entry `index` and its inclusion proof in the tree
    /// of `tree_size`, made from memory alone (the upper levels and the
    /// cached 16-leaf blocks, filled by earlier reads, and the leaves of the
    /// last, incomplete block): `None` when a node
    /// it needs is not in memory, or `index` is not below `tree_size` —
    /// then [`Store::leaf_hash`] and an inclusion proof over the store
    /// answer. The proof is the one those give: every cached node is
    /// durable and never changes. Never reads the disk, so that a server
    /// can answer from its async threads.
    #[must_use]
    pub fn cached_inclusion(&self, index: u64, tree_size: u64) -> Option<(Hash, Vec<Hash>)> {
        if tree_size > self.size() {
            return None;
        }
        let mem = InMemory(self);
        let leaf = mem.node(NodeId::new(0, index))?;
        let proof = provlog_tlog::merkle::inclusion_proof(index, tree_size, &mem).ok()?;
        Some((leaf, proof))
    }
}

impl HashSource for Store {
    type Error = StorageError;

    fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StorageError> {
        let mut out: Vec<Option<Hash>> = ids.iter().map(|id| self.upper.get(*id)).collect();
        let missing: Vec<NodeId> = ids
            .iter()
            .zip(&out)
            .filter(|(_, h)| h.is_none())
            .map(|(id, _)| *id)
            .collect();
        // Low nodes of one complete 16-leaf block (what an inclusion proof
        // needs below the cached levels) come from one range read of the
        // block's leaves instead of one lookup each.
        let size = self.size();
        let mut blocks: Vec<u64> = missing
            .iter()
            .filter(|id| id.level < MIN_CACHED_LEVEL)
            .map(|id| (id.index << id.level) >> MIN_CACHED_LEVEL)
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        for b in blocks {
            let first = b << MIN_CACHED_LEVEL;
            let in_block = |id: &NodeId| id.level < MIN_CACHED_LEVEL && (id.index << id.level) >> MIN_CACHED_LEVEL == b;
            if first + (1 << MIN_CACHED_LEVEL) > size {
                continue;
            }
            // The 16 leaf hashes of a complete block never change: cached.
            let leaves = if let Some(l) = self.blocks.get(&b) {
                l
            } else {
                let l: Arc<Vec<Hash>> = Arc::new(self.level_hashes(0, first, 1 << MIN_CACHED_LEVEL)?);
                self.blocks.insert(b, Arc::clone(&l));
                l
            };
            let mut level: Vec<Hash> = leaves.as_ref().clone();
            for l in 0..MIN_CACHED_LEVEL {
                let base = first >> l;
                for (slot, id) in out.iter_mut().zip(ids) {
                    if slot.is_none() && id.level == l && in_block(id) {
                        *slot = level
                            .get(usize::try_from(id.index - base).unwrap_or(usize::MAX))
                            .copied();
                    }
                }
                level = level.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
            }
        }
        let missing: Vec<NodeId> = ids
            .iter()
            .zip(&out)
            .filter(|(_, h)| h.is_none())
            .map(|(id, _)| *id)
            .collect();
        if !missing.is_empty() {
            let keys: Vec<[u8; 9]> = missing.iter().map(|id| node_key(*id)).collect();
            let got = self.db.batched_multi_get_cf(self.cf(CF_HASHES), keys.iter(), false);
            let mut got = missing.iter().zip(got);
            for slot in out.iter_mut().filter(|h| h.is_none()) {
                let Some((id, r)) = got.next() else { break };
                *slot = Some(match r? {
                    Some(v) => to_hash(*id, &v)?,
                    None => return Err(StorageError::MissingNode(*id)),
                });
            }
        }
        ids.iter()
            .zip(out)
            .map(|(id, h)| h.ok_or(StorageError::MissingNode(*id)))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use provlog_tlog::merkle::{
        CompactRange, consistency_proof, inclusion_proof, leaf_hash, verify_consistency, verify_inclusion,
    };

    pub(crate) fn fill(store: &Store, cr: &mut CompactRange, n: u64, batch: u64) {
        let mut i = store.size();
        let end = i + n;
        while i < end {
            let k = batch.min(end - i);
            let entries: Vec<Vec<u8>> = (i..i + k).map(|j| format!("leaf {j}").into_bytes()).collect();
            let leaf_hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
            let nodes = cr.extend(&leaf_hashes);
            store
                .append(&AppendBatch {
                    start: i,
                    entries,
                    leaf_hashes,
                    nodes,
                    dedup: vec![(crate::dedup_key("s", &format!("e{i}")), i)],
                    checkpoint: format!("size {}", i + k).into_bytes(),
                    policy: None,
                    terms: Vec::new(),
                    last_logged_at: i64::try_from(i).unwrap_or(0),
                    map: None,
                    approval_uses: Vec::new(),
                    policy_leaves: Vec::new(),
                    log_key_leaves: Vec::new(),
                    occurred_buckets: Vec::new(),
                    occurred_span: None,
                })
                .expect("append");
            i += k;
        }
    }

    #[test]
    fn append_read_and_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cr = CompactRange::new();
        {
            let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
            assert_eq!(store.size(), 0);
            assert_eq!(store.latest_checkpoint().expect("cp"), None);
            fill(&store, &mut cr, 1000, 77);
            assert!(matches!(
                store.append(&AppendBatch {
                    start: 5,
                    ..Default::default()
                }),
                Err(StorageError::OutOfOrder { want: 1000, got: 5 })
            ));
        }
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("reopen");
        assert_eq!(store.size(), 1000);
        assert_eq!(store.latest_checkpoint().expect("cp"), Some(b"size 1000".to_vec()));
        // Every batch's checkpoint is kept by its size; sizes between batches have none.
        assert_eq!(store.checkpoint_at(77).expect("cp"), Some(b"size 77".to_vec()));
        assert_eq!(store.checkpoint_at(924).expect("cp"), Some(b"size 924".to_vec()));
        assert_eq!(store.checkpoint_at(1000).expect("cp"), Some(b"size 1000".to_vec()));
        assert_eq!(store.checkpoint_at(78).expect("cp"), None);
        assert_eq!(store.entry(999).expect("e"), Some(b"leaf 999".to_vec()));
        assert_eq!(store.entry(1000).expect("e"), None);
        let es = store.entries(256, 256).expect("bundle");
        assert_eq!(es.len(), 256);
        assert_eq!(es[0], b"leaf 256");
        assert!(store.entries(900, 101).is_err());
        let tile = store.level_hashes(0, 0, 256).expect("tile");
        assert_eq!(tile[3], leaf_hash(b"leaf 3"));
        assert_eq!(store.level_hashes(8, 0, 3).expect("tile 1").len(), 3);
        assert!(store.level_hashes(8, 0, 4).is_err());
        assert_eq!(store.index_of_leaf(&leaf_hash(b"leaf 42")).expect("idx"), Some(42));
        assert_eq!(store.index_of_leaf(&[0; 32]).expect("idx"), None);
        assert_eq!(store.dedup(&crate::dedup_key("s", "e77")).expect("d"), Some(77));
        assert_eq!(store.last_logged_at().expect("t"), Some(924));
        assert_eq!(provlog_tlog::merkle::root(1000, &store).expect("root"), cr.root());
    }

    /// Search over a random stream of terms equals a brute-force scan.
    #[test]
    fn search_equals_brute_force() {
        use provlog_proto::event::Term;
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
        let stream = proptest::collection::vec((0u8..4, 0u8..3, 0u8..5, proptest::option::of(0u8..6)), 1..400);
        let queries = proptest::collection::vec(
            (
                proptest::option::of(0u8..4),
                proptest::option::of(0u8..3),
                proptest::option::of(0u8..5),
                proptest::option::of(0u8..6),
                proptest::option::of(0u64..400),
                1usize..50,
            ),
            1..30,
        );
        runner
            .run(&(stream, queries), |(stream, queries)| {
                let dir = tempfile::tempdir().expect("tmp");
                let store = Store::open(
                    dir.path(),
                    &StoreOptions {
                        sync: false,
                        ..Default::default()
                    },
                )
                .expect("open");
                let names = |t: &str, v: u8| format!("{t}-{v}");
                let rows: Vec<Vec<(Term, String)>> = stream
                    .iter()
                    .map(|(t, a, x, c)| {
                        let mut r = vec![
                            (Term::Target, names("svc", *t)),
                            (Term::Actor, names("wf", *a)),
                            (Term::Action, names("act", *x)),
                        ];
                        if let Some(c) = c {
                            r.push((Term::Credential, names("fp", *c)));
                        }
                        r
                    })
                    .collect();
                let mut cr = CompactRange::new();
                for (chunk_start, chunk) in (0u64..).step_by(64).zip(rows.chunks(64)) {
                    let entries: Vec<Vec<u8>> = (0..chunk.len())
                        .map(|k| format!("e{}", chunk_start + k as u64).into_bytes())
                        .collect();
                    let leaf_hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
                    let nodes = cr.extend(&leaf_hashes);
                    let terms = chunk
                        .iter()
                        .enumerate()
                        .flat_map(|(k, r)| r.iter().map(move |(t, v)| (*t, v.clone(), chunk_start + k as u64)))
                        .collect();
                    store
                        .append(&AppendBatch {
                            start: chunk_start,
                            entries,
                            leaf_hashes,
                            nodes,
                            terms,
                            ..Default::default()
                        })
                        .expect("append");
                }
                let n = rows.len() as u64;
                for (t, a, x, c, after, limit) in queries {
                    let mut f: Vec<(Term, String)> = Vec::new();
                    if let Some(v) = t {
                        f.push((Term::Target, names("svc", v)));
                    }
                    if let Some(v) = a {
                        f.push((Term::Actor, names("wf", v)));
                    }
                    if let Some(v) = x {
                        f.push((Term::Action, names("act", v)));
                    }
                    if let Some(v) = c {
                        f.push((Term::Credential, names("fp", v)));
                    }
                    let fr: Vec<(Term, &str)> = f.iter().map(|(t, v)| (*t, v.as_str())).collect();
                    let below = n.saturating_sub(after.unwrap_or(0) % 7);
                    let got = store.search(&fr, after, below, limit).expect("search");
                    let want: Vec<u64> = (0..below)
                        .filter(|i| after.is_none_or(|a| *i > a))
                        .filter(|i| f.iter().all(|q| rows[*i as usize].contains(q)))
                        .take(limit)
                        .collect();
                    prop_assert_eq!(got, want);
                }
                Ok(())
            })
            .expect("search matches brute force");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// Proofs generated from RocksDB verify; mutated ones fail.
        #[test]
        fn proofs_from_storage_verify(n in 1u64..5000, batch in 1u64..600, probes in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<u8>()), 20)) {
            let dir = tempfile::tempdir().expect("tmp");
            let store = Store::open(dir.path(), &StoreOptions { sync: false, ..Default::default() }).expect("open");
            let mut cr = CompactRange::new();
            fill(&store, &mut cr, n, batch);
            let mut roots = vec![provlog_tlog::merkle::EMPTY_ROOT];
            let mut model = CompactRange::new();
            for j in 0..n {
                model.extend(&[leaf_hash(format!("leaf {j}").as_bytes())]);
                roots.push(model.root());
            }
            for (a, b, bit) in probes {
                let size = 1 + b % n;
                let i = a % size;
                let leaf = leaf_hash(format!("leaf {i}").as_bytes());
                let p = inclusion_proof(i, size, &store).expect("inclusion");
                prop_assert!(verify_inclusion(i, size, &leaf, &p, &roots[size as usize]).is_ok());
                if !p.is_empty() {
                    let mut bad = p.clone();
                    let k = usize::from(bit) % bad.len();
                    bad[k][usize::from(bit) % 32] ^= 1 << (bit % 8);
                    prop_assert!(verify_inclusion(i, size, &leaf, &bad, &roots[size as usize]).is_err());
                    let mut short = p.clone();
                    short.remove(k);
                    prop_assert!(verify_inclusion(i, size, &leaf, &short, &roots[size as usize]).is_err());
                }
                let m = 1 + a % size;
                let c = consistency_proof(m, size, &store).expect("consistency");
                prop_assert!(verify_consistency(m, size, &roots[m as usize], &roots[size as usize], &c).is_ok());
                if m < size {
                    let mut bad = c.clone();
                    let k = usize::from(bit) % bad.len();
                    bad[k][usize::from(bit) % 32] ^= 1 << (bit % 8);
                    prop_assert!(verify_consistency(m, size, &roots[m as usize], &roots[size as usize], &bad).is_err());
                    if size < n {
                        prop_assert!(verify_consistency(m, size + 1, &roots[m as usize], &roots[size as usize + 1], &c).is_err());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod in_memory_tests {
    use super::*;
    use proptest::prelude::*;
    use provlog_tlog::merkle::{CompactRange, inclusion_proof};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
        /// Whatever the tree and the index, a proof from memory is the
        /// proof from the store, and it is there once a read warmed the
        /// index's block (never for the last, incomplete block).
        #[test]
        fn a_proof_from_memory_is_the_proof_from_the_store(
            size in 1u64..5_000,
            picks in proptest::collection::vec((0u64..u64::MAX, 0u64..u64::MAX), 1..12),
        ) {
            let dir = tempfile::tempdir().expect("tmp");
            let store = Store::open(dir.path(), &StoreOptions::default()).expect("open");
            let mut cr = CompactRange::new();
            tests::fill(&store, &mut cr, size, 700);
            for (a, b) in picks {
                let tree_size = 1 + a % size;
                let index = b % tree_size;
                let want = (store.leaf_hash(index).expect("leaf"), inclusion_proof(index, tree_size, &store).expect("proof"));
                // Complete blocks once read, and the last incomplete one.
                let complete = (index | 15) < size || index >= size & !15;
                // A read of the index's leaf through the store caches its
                // block when the block is complete.
                HashSource::node_hashes(&store, &[NodeId::new(0, index)]).expect("leaf node");
                match store.cached_inclusion(index, tree_size) {
                    Some(got) => prop_assert_eq!(got, want),
                    None => prop_assert!(!complete, "index {} of {} not served from memory after a read", index, tree_size),
                }
            }
            prop_assert!(store.cached_inclusion(0, size + 1).is_none());
        }
    }
}
