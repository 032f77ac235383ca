//! # provlog-storage
//!
//! The log's durable state in `RocksDB`, and nothing about HTTP. One
//! [`Store`] per data directory (the server opens `<data_dir>/db`); one
//! writer (the sequencer) appends whole batches with [`Store::append`], any
//! number of readers read concurrently.
//!
//! ## Layout (column families)
//! Integers are big-endian, so `RocksDB`'s byte order is numeric order; `‖`
//! is concatenation; key names in backquotes are their ASCII bytes.
//!
//! | CF | key | value |
//! | --- | --- | --- |
//! | `entries` | index (u64 BE, 8 bytes) | the entry bytes: the RFC 8785 canonical leaf JSON, at most 65,535 bytes |
//! | `hashes` | level (u8) ‖ index (u64 BE), 9 bytes | the 32-byte RFC 6962 hash of the perfect subtree covering leaves `[index·2^level, (index+1)·2^level)`; level 0 holds the leaf hashes |
//! | `checkpoints` | `latest` | the latest signed checkpoint note (UTF-8 text, log signature only) |
//! | `dedup` | submitter id ‖ 0x00 ‖ `event_id` ([`dedup_key`]); submitter id ‖ 0x00 ‖ 0x01 ‖ seq (u64 BE) for each entry of a sequenced submitter's chain ([`chain_seq_key`]) | index (u64 BE) of the entry logged under that key |
//! | `leaf_index` | leaf hash (32 bytes) | index (u64 BE) of the entry with that leaf hash |
//! | `search` | term tag (1 byte) ‖ value (UTF-8) ‖ 0x00 ‖ index (u64 BE) | empty |
//! | `meta` | `policy` | the last policy leaf appended: its index (u64 BE) ‖ the RFC 8785 bytes of its `policy` object |
//! | `meta` | `policy_at` ‖ index (u64 BE) | empty: entry `index` is a policy leaf (stores written before this index have none; the latest policy is under `policy`) |
//! | `meta` | `logged_at` | `logged_at` of the last entry appended, Unix milliseconds (i64 BE) |
//! | `meta` | `frozen` | the tree size (u64 BE) the log was frozen at; absent unless frozen, never cleared |
//! | `map_nodes` | node number (u64 BE), given in the order nodes are made | the node's bytes: its hash input, `0x12 ‖ key ‖ value` (leaf, 65) or `0x13 ‖ bit ‖ left ‖ right` followed by the children's numbers (u64 BE each) (inner, 82), docs/MAP.md "Stored nodes" |
//! | `map_records` | record value (32 bytes) | the record's RFC 8785 bytes (docs/MAP.md "Credential records") |
//! | `map_versions` | state leaf index (u64 BE) | the map root it commits (32) ‖ credentials (u64 BE) ‖ its `logged_at` (i64 BE, Unix ms) ‖ the root's node number (u64 BE) |
//! | `map_stale` | version (u64 BE) ‖ entries covered by the write (u64 BE) | the nodes and records that write made unreachable: `n` ‖ node number (u64 BE), 9 bytes, or `r` ‖ record value, 33 bytes; no map from that version on holds them; deleted when versions before it are pruned |
//! | `meta` | `map_head` | the map after the last write: root (32) ‖ credentials (u64 BE) ‖ the entries it covers (u64 BE) ‖ the root's node number (u64 BE) ‖ the next node number (u64 BE); a 48-byte head is the layout before numbered nodes, dropped at start and rebuilt from the entries |
//! | `approval_uses` | approver id ‖ 0x00 ‖ approval id ‖ 0x00 ([`approval_use_prefix`]) ‖ index (u64 BE) of the event that used it | the approval's digest: SHA-256 of its canonical approval object (32 bytes) |
//! | `meta` | `map_pruned` | versions before this index (u64 BE) were pruned |
//! | `search` | `d` ‖ `YYYY-MM-DD` ‖ 0x00 ‖ index (u64 BE); `m` ‖ `YYYY-MM` ‖ 0x00 ‖ index | empty: the event at `index` has its `occurred_at` on that UTC day, in that UTC month ([`timeindex`]) |
//! | `meta` | `occurred_span` | the earliest and the latest `occurred_at` of the stored events, Unix ms (i64 BE each, 16 bytes) |
//! | `meta` | `time_index` | empty: every stored event has its `occurred_at` buckets (a store without it is indexed on open) |
//! | `meta` | `witnesses` | the witness client's state, JSON: `{"known":{url:size},"latest":…,"witnessed":…}` (each `{"size","note","cosigners"}`); written by [`Store::put_witness_state`], synced; not part of the tree |
//!
//! Search term tags ([`provlog_proto::event::Term::tag`]): `t` `target.id`,
//! `d` and `m` the `occurred_at` day and month ([`timeindex`]),
//! `a` `actor.id`, `x` `action`, `c` a credential fingerprint (both
//! `credential.fingerprint` and `credential.previous_fingerprint` are
//! indexed under `c`). Only event leaves have terms. Indexed values never
//! contain 0x00 (the event schema refuses control characters), so the
//! prefix `tag ‖ value ‖ 0x00` of one term is never a prefix of another's
//! keys, and a search is a leapfrog join over those prefixes in index order.
//!
//! Every perfect node of every level is stored, so an inclusion or
//! consistency proof is one `multi_get`, and a tlog-tiles hash tile of level
//! `L` is one range read of tree level `8·L` (C2SP tlog-tiles §"Merkle
//! tree"). Nodes of level 4 and above, full level-0 tiles and full entry
//! bundles are also kept in memory; those copies only ever hold durable
//! data and are not part of the layout.
//!
//! [`StateStore`] (the witness's and the monitor's state, each in its own
//! directory) is a separate `RocksDB` with only the default column family;
//! its keys and values are the caller's (the witness: origin → tree size
//! (u64 BE) ‖ root (32 bytes) ‖ the cosigned note as received; the monitor:
//! `log/<origin>` → its JSON state, and under `b/` the book of each log it
//! follows, one key per credential, written through a [`journal::Journal`]).
//!
//! ## Guarantees
//! * [`Store::append`] writes one batch (entries, hashes, dedup, leaf-hash
//!   and search keys, the new checkpoint, `meta/logged_at` and, for a batch
//!   holding a policy leaf, `meta/policy`) as a single `RocksDB` `WriteBatch`
//!   with `sync = true`: after it returns `Ok` all of it is on disk, and
//!   after a crash either all of it or none of it is there.
//! * [`Store::set_frozen`] writes `meta/frozen` on its own, synced; nothing
//!   in provlog deletes it.
//! * The stored checkpoint always commits to exactly the stored tree.
//! * [`verify::check`] recomputes the tree from its leaves and refuses a
//!   store that does not match its latest checkpoint.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    test,
    expect(
        clippy::cast_possible_truncation,
        reason = "tests index small vectors and byte arrays with u64 values they built"
    )
)]

mod cache;
mod error;
pub mod journal;
mod keys;
pub mod map;
pub mod objects;
pub mod rebuild;
mod state;
mod store;
pub mod timeindex;
pub mod verify;

pub use error::StorageError;
pub use keys::{approval_use_prefix, chain_seq_key, dedup_key};
pub use state::{KeyValue, StateOptions, StateStore};
pub use store::{AppendBatch, PolicyRecord, Search, SearchError, Store, StoreOptions};
