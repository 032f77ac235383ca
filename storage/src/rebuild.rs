//! Rebuilding a store from entries alone (a restore from the static API):
//! everything [`Store::append`](crate::Store::append) writes besides the
//! entries (hashes, dedup keys, search terms, approval uses, the policy in force, the last
//! `logged_at`) is derived from the entry bytes here, exactly as the
//! sequencer derived it when it appended them.

use crate::keys::dedup_key;
use crate::store::AppendBatch;
use provlog_proto::leaf::{Leaf, LeafError};
use provlog_tlog::merkle::CompactRange;

/// Why entries cannot be turned into a batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildError {
    /// An entry is not a provlog leaf.
    #[error("entry {index}: {source}")]
    Leaf {
        /// Its index.
        index: u64,
        /// Why.
        source: LeafError,
    },
    /// An entry's `logged_at` is not a time.
    #[error("entry {index}: logged_at {value:?} is not an RFC 3339 time")]
    LoggedAt {
        /// Its index.
        index: u64,
        /// The value.
        value: String,
    },
}

/// The batch that appends `entries` at `range.size()`, extending `range`.
/// Its checkpoint is left empty: the caller sets it on the batch that
/// reaches the size of a checkpoint it holds.
///
/// # Errors
/// An entry that is not a valid leaf (nothing is extended then).
pub fn batch_from_entries(range: &mut CompactRange, entries: Vec<Vec<u8>>) -> Result<AppendBatch, RebuildError> {
    let start = range.size();
    let mut batch = AppendBatch {
        start,
        last_logged_at: i64::MIN,
        ..AppendBatch::default()
    };
    for (k, entry) in entries.into_iter().enumerate() {
        let index = start + k as u64;
        let logged_at = match Leaf::parse(&entry).map_err(|source| RebuildError::Leaf { index, source })? {
            Leaf::Event(e) => {
                let key = dedup_key(&e.submitter, &e.event.event.event_id);
                let i = batch.push_event(entry, &e.event.event, key);
                batch.push_approval_uses(i, &e.approvals);
                if let Some(seq) = e.event.event.seq {
                    batch.push_chain_seq(&e.submitter, seq, i);
                }
                e.logged_at
            }
            Leaf::Policy(p) => {
                batch.push_policy(entry, p.policy.canonical());
                p.logged_at
            }
            Leaf::State(c) => {
                batch.push_state(entry);
                c.logged_at
            }
            Leaf::LogKey(k) => {
                batch.push_log_key(entry);
                k.logged_at
            }
            Leaf::Heartbeat(h) => {
                let key = crate::keys::chain_seq_key(&h.submitter, h.heartbeat.seq);
                batch.push_heartbeat(entry, key);
                h.logged_at
            }
        };
        batch.last_logged_at = provlog_proto::time::parse_millis(&logged_at).map_err(|_| RebuildError::LoggedAt {
            index,
            value: logged_at,
        })?;
    }
    batch.nodes = range.extend(&batch.leaf_hashes);
    Ok(batch)
}
