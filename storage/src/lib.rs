//! # provlog-storage
//!
//! The log's durable state in RocksDB, and nothing about HTTP. One
//! [`Store`] per data directory; one writer (the sequencer) appends whole
//! batches with [`Store::append`], any number of readers read concurrently.
//!
//! ## Layout (column families)
//! | CF | key | value |
//! | --- | --- | --- |
//! | `entries` | index (u64 BE) | entry bytes (canonical leaf JSON) |
//! | `hashes` | level (u8) ‖ index (u64 BE) | 32-byte hash of the perfect subtree |
//! | `checkpoints` | `latest` | the latest signed checkpoint note |
//! | `dedup` | submitter ‖ 0x00 ‖ event_id | index (u64 BE) |
//! | `leaf_index` | leaf hash (32 bytes) | index (u64 BE) |
//! | `meta` | `policy`, `logged_at` | last policy leaf (index ‖ canonical policy), last `logged_at` (i64 BE ms) |
//!
//! Every perfect node of every level is stored, so an inclusion or
//! consistency proof is one `multi_get`, and a tlog-tiles hash tile of level
//! `L` is one range read of level `8·L` (C2SP tlog-tiles §"Merkle tree").
//!
//! ## Guarantees
//! * [`Store::append`] writes one batch (entries, hashes, dedup and
//!   leaf-hash keys, the new checkpoint and metadata) as a single RocksDB
//!   `WriteBatch` with `sync = true`: after it returns `Ok` all of it is on
//!   disk, and after a crash either all of it or none of it is there.
//! * The stored checkpoint always commits to exactly the stored tree.
//! * [`verify::check`] recomputes the tree from its leaves and refuses a
//!   store that does not match its latest checkpoint.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::cast_possible_truncation))]

mod cache;
mod error;
mod keys;
pub mod rebuild;
mod state;
mod store;
pub mod verify;

pub use error::StorageError;
pub use keys::dedup_key;
pub use state::{KeyValue, StateStore};
pub use store::{AppendBatch, PolicyRecord, Store, StoreOptions};
