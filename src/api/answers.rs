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
/// `size`, each entry with its inclusion proof against `proof_size` when
/// it is given. Blocking.
///
/// # Errors
/// Storage errors before the answer began; [`Cancelled`].
pub(super) fn events_page(
    log: &Log,
    q: &SearchQuery,
    size: u64,
    proof_size: Option<u64>,
    budget: u64,
    w: &mut ChunkWriter,
) -> Result<(), ApiError> {
    let (hits, next) = log.search_hits(q, size)?;
    put(w, b"{\"entries\":[")?;
    let cut = items(log, w, hits, proof_size, budget)?;
    let next = cut.or(next);
    let tail = serde_json::to_vec(&next).map_err(|e| ApiError::internal(&e))?;
    put(w, b"],\"next_after\":")?;
    put(w, &tail)?;
    put(w, b"}")
}

/// Writes one page of `GET /v1/policies` (an `EventsPage` of policy
/// leaves) for the tree of `size`, each with its inclusion proof against
/// `proof_size` when given. Blocking.
///
/// # Errors
/// Storage errors before the answer began; [`Cancelled`].
pub(super) fn policies_page(
    log: &Log,
    after: Option<u64>,
    limit: usize,
    size: u64,
    proof_size: Option<u64>,
    budget: u64,
    w: &mut ChunkWriter,
) -> Result<(), ApiError> {
    let (hits, next) = log.policy_hits(after, size, limit)?;
    put(w, b"{\"entries\":[")?;
    let cut = items(log, w, hits, proof_size, budget)?;
    let next = cut.or(next);
    let tail = serde_json::to_vec(&next).map_err(|e| ApiError::internal(&e))?;
    put(w, b"],\"next_after\":")?;
    put(w, &tail)?;
    put(w, b"}")
}

/// What a credential answer is asked: the fingerprint, the checkpoint to
/// prove against (its size and note: the latest, the latest witnessed, or
/// a kept one a client pinned), whether the history is wanted, and the
/// history cursor.
#[derive(Clone)]
pub(super) struct CredentialQuery {
    pub fingerprint: String,
    /// The checkpoint chosen by the handler, or `None` for a pinned
    /// `tree_size` read here.
    pub checkpoint: Option<(u64, String)>,
    pub tree_size: Option<u64>,
    pub history: bool,
    pub after: Option<u64>,
    /// Answer with the map in force at this entry, not the latest.
    pub at: Option<u64>,
}

/// The fields of a credential answer before its history.
#[derive(Serialize)]
struct Head<'a> {
    fingerprint: &'a str,
    state: provlog_proto::credential::CredentialState,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<provlog_proto::ledger::CredentialRecord>,
    map_proof: String,
    commitment: provlog_proto::credential::CommitmentItem,
    checkpoint: &'a str,
}

/// A credential answer without its history (`history=false`), not
/// streamed: the record and map proof read from the stored map version
/// on the blocking pool, the commitment's inclusion proof from
/// [`Log::commitment_proof`] (memory, mostly), the checkpoint the handler
/// chose or a kept one. Its bytes are
/// of [`credential`]'s head.
///
/// # Errors
/// As [`credential`].
pub(super) async fn credential_small(log: &std::sync::Arc<Log>, q: &CredentialQuery) -> Result<Vec<u8>, ApiError> {
    // From memory on this worker when the whole answer is cached (the
    // common case for the latest tree: measured a quarter more answers per
    // second than a hop to the pool), else from the store on the blocking
    // pool.
    let fast = match (&q.checkpoint, q.tree_size, q.at) {
        (None, None, None) => {
            let p = log.published();
            log.credential_state_in_memory(&q.fingerprint, p.size)
                .map(|state| (p.size, p.checkpoint.clone(), state))
        }
        _ => None,
    };
    let (size, checkpoint, state) = if let Some((size, note, state)) = fast {
        (size, note, committed(state)?)
    } else {
        let (l, q2) = (std::sync::Arc::clone(log), q.clone());
        tokio::task::spawn_blocking(move || answer_point(&l, &q2))
            .await
            .map_err(|_| ApiError::internal(&"a read task failed"))??
    };
    let (record, proof, index, entry) = within(state, size)?;
    let inclusion = log.commitment_proof(index, size).await?;
    head_bytes(&q.fingerprint, record, &proof, index, &entry, &inclusion, &checkpoint)
}

/// The checkpoint an answer is against (size and note) and the committed
/// state of the credential: in the last version that checkpoint includes,
/// or with `at`, in the version in force at that entry. Blocking.
fn answer_point(log: &Log, q: &CredentialQuery) -> Result<(u64, String, Committed), ApiError> {
    let (size, note) = match (&q.checkpoint, q.tree_size) {
        (Some((n, note)), None) => (*n, note.clone()),
        (Some((n, note)), Some(t)) if *n == t => (*n, note.clone()),
        (None, None) => {
            let p = log.published();
            (p.size, p.checkpoint.clone())
        }
        (_, Some(t)) => (t, log.checkpoint_blocking(t)?),
    };
    let state = match q.at {
        None => committed_state(log, &q.fingerprint, size)?,
        Some(at) if at >= size => {
            return Err(ApiError::param(format!(
                "at is {at}, but the checkpoint the answer is against holds {size} entries"
            )));
        }
        Some(at) => committed(log.credential_state_at(&q.fingerprint, at)?)?,
    };
    Ok((size, note, state))
}

/// The committed state of one credential: its record, the map proof, the
/// commitment's index and bytes.
type Committed = (
    Option<provlog_proto::ledger::CredentialRecord>,
    provlog_proto::map::MapProof,
    u64,
    Vec<u8>,
);

/// Checks that a checkpoint of `size` includes the commitment of `state`.
fn within(state: Committed, size: u64) -> Result<Committed, ApiError> {
    let index = state.2;
    if index >= size {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "state_moved",
            format!(
                "the credential map was last committed at entry {index}, after the checkpoint of size {size}: \
                 ask again without tree_size"
            ),
        ));
    }
    Ok(state)
}

/// The committed record and map proof of `fingerprint` and the commitment
/// they are against: the last one a checkpoint of `size` includes.
fn committed_state(log: &Log, fingerprint: &str, size: u64) -> Result<Committed, ApiError> {
    committed(log.credential_state(fingerprint, size)?)
}

fn committed(state: crate::log::CredentialState) -> Result<Committed, ApiError> {
    let crate::log::CredentialState {
        record,
        proof,
        commitment,
    } = state;
    let Some((index, entry)) = commitment else {
        return Err(not_committed(
            "the log has not committed its credential map in a checkpoint yet; retry shortly".into(),
        ));
    };
    Ok((record, proof, index, entry))
}

/// The JSON of an answer's head (everything but the history).
fn head_bytes(
    fingerprint: &str,
    record: Option<provlog_proto::ledger::CredentialRecord>,
    proof: &provlog_proto::map::MapProof,
    index: u64,
    entry: &[u8],
    inclusion: &[provlog_tlog::merkle::Hash],
    checkpoint: &str,
) -> Result<Vec<u8>, ApiError> {
    let head = Head {
        fingerprint,
        state: provlog_proto::credential::record_state(record.as_ref(), i64::MIN),
        record,
        map_proof: b64::encode(proof.encode()),
        commitment: provlog_proto::credential::CommitmentItem {
            index,
            entry: b64::encode(entry),
            proof: inclusion.iter().map(b64::encode).collect(),
        },
        checkpoint,
    };
    serde_json::to_vec(&head).map_err(|e| ApiError::internal(&e))
}

fn not_committed(why: String) -> ApiError {
    ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "not_committed", why)
}

/// Writes a credential answer (a `CredentialAnswer`, docs/MAP.md
/// "Credential answers"): the record and map proof against the last state
/// commitment the checkpoint includes, the commitment's leaf and inclusion
/// proof, and the events naming the fingerprint (or the page of them after
/// `after`): the `history=true` answer; [`credential_small`] is the other.
/// Blocking.
///
/// # Errors
/// 404 for a tree size whose checkpoint is not kept; 409 when the pinned
/// checkpoint predates the commitment (the state moved on: start again);
/// 503 before the first commitment; storage errors; [`Cancelled`].
pub(super) fn credential(log: &Log, q: &CredentialQuery, budget: u64, w: &mut ChunkWriter) -> Result<(), ApiError> {
    let (size, checkpoint, state) = answer_point(log, q)?;
    let (record, proof, index, entry) = within(state, size)?;
    let inclusion = log.inclusion_proof_blocking(index, size)?;
    let mut head = head_bytes(&q.fingerprint, record, &proof, index, &entry, &inclusion, &checkpoint)?;
    head.pop(); // the closing brace
    put(w, &head)?;
    let hits = log.credential_hits(&q.fingerprint, size)?;
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
