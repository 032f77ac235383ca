//! A standby's catch-up: the entries between its store and the fenced
//! checkpoint, read from the object store and checked against that
//! checkpoint (its signature under the log's keys, and the root its
//! entries give) before any of them is written (docs/HA.md, plan step 2).
//!
//! The gap is held in memory (at most [`MAX_GAP_BYTES`] of entries): a
//! standby that follows the log stays a few rounds behind; one further
//! behind is rebuilt with `provlog restore` first.

use crate::client::{ClientError, Source};
use futures_util::StreamExt;
use provlog_storage::rebuild::{RebuildError, batch_from_entries};
use provlog_storage::{StorageError, Store};
use provlog_tlog::checkpoint::{CheckpointError, LogKeys, open_checkpoint_with};
use provlog_tlog::merkle::CompactRange;
use provlog_tlog::tile::{TILE_WIDTH, decode_bundle, new_bundles};
use std::sync::Arc;

/// The most entry bytes one catch-up holds before writing them.
pub const MAX_GAP_BYTES: usize = 256 << 20;

/// Bundles fetched at once.
const PARALLEL: usize = 16;

/// Why a catch-up wrote nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FollowError {
    /// The checkpoint is not signed by the log.
    #[error("the fenced checkpoint does not verify under the log's keys")]
    Checkpoint(#[source] CheckpointError),
    /// The store holds more entries than the log fenced: entries of a
    /// sequencer's round that never was (a store from before the fence
    /// was in the write path, or copied from another log).
    #[error(
        "this store holds {stored} entries, more than the {fenced} of the fenced checkpoint: it holds entries the \
         log never fenced (rebuild it with provlog restore)"
    )]
    Ahead {
        /// Entries stored here.
        stored: u64,
        /// The fenced size.
        fenced: u64,
    },
    /// The stored entries and the published ones do not hash to the
    /// fenced root.
    #[error(
        "the entries up to {size} do not hash to the fenced checkpoint's root: the object store or this store holds \
         another history"
    )]
    RootMismatch {
        /// The fenced size.
        size: u64,
    },
    /// More to fetch than one catch-up holds.
    #[error("{behind} entries behind (over {MAX_GAP_BYTES} bytes): rebuild this store with provlog restore")]
    TooFar {
        /// Entries between the store and the fenced checkpoint.
        behind: u64,
    },
    /// A bundle could not be read or decoded.
    #[error("reading {what}")]
    Read {
        /// Which object.
        what: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// A bundle is not a bundle of its width.
    #[error("{what}: {reason}")]
    Bundle {
        /// Which object.
        what: String,
        /// Why.
        reason: String,
    },
    /// An entry is not a provlog leaf.
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Brings `store` up to the checkpoint `note` (the one fenced in etcd),
/// reading bundles from `source`; returns how many entries it appended.
/// Nothing is written unless the note verifies under `keys` and every
/// entry, the stored ones included, hashes to its root.
///
/// # Errors
/// [`FollowError`]; the store is then unchanged.
pub async fn catch_up(store: &Arc<Store>, source: &Source, note: &[u8], keys: &LogKeys) -> Result<u64, FollowError> {
    let (cp, _) = open_checkpoint_with(note, keys).map_err(FollowError::Checkpoint)?;
    let stored = store.size();
    if cp.size < stored {
        return Err(FollowError::Ahead {
            stored,
            fenced: cp.size,
        });
    }
    let s = Arc::clone(store);
    let range = tokio::task::spawn_blocking(move || CompactRange::from_source(stored, s.as_ref()))
        .await
        .map_err(|e| StorageError::Corrupt {
            what: "tree",
            key: stored.to_string(),
            reason: e.to_string(),
        })?
        .map_err(|e| StorageError::Corrupt {
            what: "tree",
            key: stored.to_string(),
            reason: e.to_string(),
        })?;
    if cp.size == stored {
        return if stored == 0 || range.root() == cp.root {
            Ok(0)
        } else {
            Err(FollowError::RootMismatch { size: cp.size })
        };
    }
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0usize;
    let mut fetched = futures_util::stream::iter(new_bundles(stored, cp.size).map(|b| async move {
        let body = source
            .tile(&b)
            .await
            .map_err(|source| FollowError::Read { what: b.path(), source })?;
        let got = decode_bundle(&body, usize::from(b.width)).map_err(|e| FollowError::Bundle {
            what: b.path(),
            reason: e.to_string(),
        })?;
        // The head of the first bundle is stored already.
        let skip = usize::try_from(stored.saturating_sub(b.index * TILE_WIDTH)).unwrap_or(usize::MAX);
        Ok::<_, FollowError>(got.into_iter().skip(skip).map(<[u8]>::to_vec).collect::<Vec<_>>())
    }))
    .buffered(PARALLEL);
    while let Some(part) = fetched.next().await {
        for e in part? {
            bytes += e.len();
            if bytes > MAX_GAP_BYTES {
                return Err(FollowError::TooFar {
                    behind: cp.size - stored,
                });
            }
            entries.push(e);
        }
    }
    let mut extended = range;
    let mut batch = batch_from_entries(&mut extended, entries)?;
    if extended.size() != cp.size || extended.root() != cp.root {
        return Err(FollowError::RootMismatch { size: cp.size });
    }
    batch.checkpoint = note.to_vec();
    let s = Arc::clone(store);
    let n = batch.entries.len() as u64;
    tokio::task::spawn_blocking(move || s.append(&batch))
        .await
        .map_err(|e| StorageError::Corrupt {
            what: "append",
            key: stored.to_string(),
            reason: e.to_string(),
        })??;
    Ok(n)
}
