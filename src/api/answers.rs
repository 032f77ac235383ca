//! The answers that can be large, written as they are read: a page of
//! `GET /v1/events` and a credential answer (docs/DESIGN.md
//! `GET /v1/credentials/<fingerprint>`). Each runs on the blocking pool
//! through [`crate::http::stream`], holds one entry at a time, and ends its
//! page where the next item would take the answer past the byte budget
//! (`max_answer_bytes`), with a cursor to go on from. Every page holds at
//! least one item, so paging always moves on.
//!
//! The JSON is the same as that of the types in [`super::responses`] and
//! `provlog_proto::credential`, field for field; `decoded` is the entry's
//! own JSON text, copied as it is (entries are canonical JSON), never a
//! parsed copy.

use super::error::ApiError;
use crate::http::stream::{Cancelled, ChunkWriter};
use crate::log::{Log, SearchQuery};
use provlog_proto::credential::StateTracker;
use provlog_proto::leaf::Leaf;
use provlog_tlog::b64;
use provlog_tlog::merkle::leaf_hash;
use serde::Serialize;
use serde_json::value::RawValue;
use std::io::Write;

/// Room kept for the end of an answer (`],"next_after":<u64>}`).
const TAIL_BYTES: u64 = 64;

/// One entry of an answer, borrowing the entry bytes.
#[derive(Serialize)]
struct Item<'a> {
    index: u64,
    leaf_hash: String,
    entry: String,
    /// The entry's JSON as it is; `null` if it is not JSON.
    decoded: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proof: Option<Vec<String>>,
}

impl<'a> Item<'a> {
    fn new(index: u64, entry: &'a [u8], proof: Option<&[provlog_tlog::merkle::Hash]>) -> Self {
        Self {
            index,
            leaf_hash: b64::encode(leaf_hash(entry)),
            entry: b64::encode(entry),
            decoded: serde_json::from_slice(entry).ok(),
            proof: proof.map(|p| p.iter().map(b64::encode).collect()),
        }
    }
}

fn put(w: &mut ChunkWriter, bytes: &[u8]) -> Result<(), ApiError> {
    w.write_all(bytes).map_err(|_| ApiError::from(Cancelled))
}

/// Writes the items of `hits` (each read, and proven in the tree of
/// `proof_size` if given) until the next one would pass `budget`; returns
/// the index of the last item written, if the page ended before the last
/// hit.
fn items(
    log: &Log,
    w: &mut ChunkWriter,
    hits: impl IntoIterator<Item = u64>,
    proof_size: Option<u64>,
    budget: u64,
) -> Result<Option<u64>, ApiError> {
    let mut last: Option<u64> = None;
    let mut item = Vec::new();
    for i in hits {
        w.check()?;
        let entry = log.entry_blocking(i)?;
        let proof = proof_size
            .map(|size| log.inclusion_proof_blocking(i, size))
            .transpose()?;
        item.clear();
        if last.is_some() {
            item.push(b',');
        }
        serde_json::to_writer(&mut item, &Item::new(i, &entry, proof.as_deref()))
            .map_err(|e| ApiError::internal(&e))?;
        drop(entry);
        if let Some(l) = last
            && w.written() + item.len() as u64 + TAIL_BYTES > budget
        {
            return Ok(Some(l));
        }
        put(w, &item)?;
        last = Some(i);
    }
    Ok(None)
}

/// Writes one page of `GET /v1/events` (an `EventsPage`) for the tree of
/// `size`. Blocking.
///
/// # Errors
/// Storage errors before the answer began; [`Cancelled`].
pub(super) fn events_page(
    log: &Log,
    q: &SearchQuery,
    size: u64,
    budget: u64,
    w: &mut ChunkWriter,
) -> Result<(), ApiError> {
    let (hits, next) = log.search_hits(q, size)?;
    put(w, b"{\"entries\":[")?;
    let cut = items(log, w, hits, None, budget)?;
    let next = cut.or(next);
    let tail = serde_json::to_vec(&next).map_err(|e| ApiError::internal(&e))?;
    put(w, b"],\"next_after\":")?;
    put(w, &tail)?;
    put(w, b"}")
}

/// What a credential answer is asked: the fingerprint, the tree size it is
/// pinned to (the latest if none), the cursor, and the evaluation time.
pub(super) struct CredentialQuery {
    pub fingerprint: String,
    pub tree_size: Option<u64>,
    pub after: Option<u64>,
    pub now_millis: i64,
}

/// The fields of a credential answer before its history.
#[derive(Serialize)]
struct Head<'a> {
    fingerprint: &'a str,
    state: provlog_proto::credential::CredentialState,
    evaluated_at: String,
    checkpoint: &'a str,
}

/// Writes a credential answer (a `CredentialAnswer`), or the page of one
/// that starts after `after`. The state is derived from the whole history
/// in the tree, read one event at a time. Blocking.
///
/// # Errors
/// 404 for a tree size whose checkpoint is not kept; storage errors;
/// [`Cancelled`].
pub(super) fn credential(log: &Log, q: &CredentialQuery, budget: u64, w: &mut ChunkWriter) -> Result<(), ApiError> {
    let size = q.tree_size.unwrap_or_else(|| log.published().size);
    let checkpoint = log.checkpoint_blocking(size)?;
    let hits = log.credential_hits(&q.fingerprint, size)?;
    let mut state = StateTracker::new(&q.fingerprint);
    for i in &hits {
        w.check()?;
        if let Ok(Leaf::Event(e)) = Leaf::parse(&log.entry_blocking(*i)?) {
            state.apply(&e.event.event);
        }
    }
    let head = Head {
        fingerprint: &q.fingerprint,
        state: state.state_at(q.now_millis),
        evaluated_at: provlog_proto::time::format_millis(q.now_millis)
            .map_err(|e| ApiError::from(crate::log::ReadError::Timestamp(e)))?,
        checkpoint: &checkpoint,
    };
    let mut head = serde_json::to_vec(&head).map_err(|e| ApiError::internal(&e))?;
    head.pop(); // the closing brace
    put(w, &head)?;
    put(w, b",\"history\":[")?;
    let after = q.after;
    let rest = hits.into_iter().filter(|i| after.is_none_or(|a| *i > a));
    let cut = items(log, w, rest, Some(size), budget)?;
    put(w, b"]")?;
    if let Some(n) = cut {
        put(w, format!(",\"next_after\":{n}").as_bytes())?;
    }
    put(w, b"}")
}
