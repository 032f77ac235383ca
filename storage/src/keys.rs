//! Column-family names and key encodings. Integers are big-endian so that
//! `RocksDB`'s byte order is numeric order.

use provlog_tlog::NodeId;

pub(crate) const CF_ENTRIES: &str = "entries";
pub(crate) const CF_HASHES: &str = "hashes";
pub(crate) const CF_CHECKPOINTS: &str = "checkpoints";
pub(crate) const CF_DEDUP: &str = "dedup";
pub(crate) const CF_LEAF_INDEX: &str = "leaf_index";
pub(crate) const CF_META: &str = "meta";
pub(crate) const CF_SEARCH: &str = "search";
pub(crate) const CF_MAP_NODES: &str = "map_nodes";
pub(crate) const CF_MAP_RECORDS: &str = "map_records";
pub(crate) const CF_MAP_STALE: &str = "map_stale";
pub(crate) const CF_MAP_VERSIONS: &str = "map_versions";
pub(crate) const CF_APPROVAL_USES: &str = "approval_uses";

pub(crate) const ALL_CFS: [&str; 12] = [
    CF_ENTRIES,
    CF_HASHES,
    CF_CHECKPOINTS,
    CF_DEDUP,
    CF_LEAF_INDEX,
    CF_META,
    CF_SEARCH,
    CF_MAP_NODES,
    CF_MAP_RECORDS,
    CF_MAP_STALE,
    CF_MAP_VERSIONS,
    CF_APPROVAL_USES,
];

pub(crate) const KEY_LATEST: &[u8] = b"latest";
pub(crate) const KEY_POLICY: &[u8] = b"policy";
pub(crate) const KEY_POLICY_AT: &[u8] = b"policy_at";
/// Prefix of the index of each log key announcement (`log_key_at` ‖ BE
/// index); no other meta key starts with it.
pub(crate) const KEY_LOG_KEY_AT: &[u8] = b"log_key_at";
pub(crate) const KEY_LOGGED_AT: &[u8] = b"logged_at";
pub(crate) const KEY_FROZEN: &[u8] = b"frozen";
pub(crate) const KEY_WITNESSES: &[u8] = b"witnesses";
pub(crate) const KEY_MAP_HEAD: &[u8] = b"map_head";
pub(crate) const KEY_MAP_PRUNED: &[u8] = b"map_pruned";
pub(crate) const KEY_OCCURRED_SPAN: &[u8] = b"occurred_span";
pub(crate) const KEY_TIME_INDEX: &[u8] = b"time_index";

pub(crate) fn entry_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub(crate) fn node_key(id: NodeId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = id.level;
    k[1..].copy_from_slice(&id.index.to_be_bytes());
    k
}

pub(crate) fn decode_u64(what: &'static str, key: &[u8], v: &[u8]) -> Result<u64, crate::StorageError> {
    v.try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| crate::StorageError::Corrupt {
            what,
            key: String::from_utf8_lossy(key).into_owned(),
            reason: format!("value is {} bytes, not 8", v.len()),
        })
}

/// The dedup key of `(submitter, event_id)`: submitter ids never contain
/// 0x00, so the encoding is unambiguous.
#[must_use]
pub fn dedup_key(submitter: &str, event_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(submitter.len() + 1 + event_id.len());
    k.extend_from_slice(submitter.as_bytes());
    k.push(0);
    k.extend_from_slice(event_id.as_bytes());
    k
}

/// The key of position `seq` in submitter `submitter`'s chain, in the
/// dedup column family: submitter id ‖ 0x00 ‖ 0x01 ‖ seq (u64 BE), for
/// every chain entry (event or heartbeat; a heartbeat's only key). An
/// `event_id` is printable ASCII, so no event's key starts
/// submitter ‖ 0x00 ‖ 0x01.
#[must_use]
pub fn chain_seq_key(submitter: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(submitter.len() + 10);
    k.extend_from_slice(submitter.as_bytes());
    k.extend_from_slice(&[0, 1]);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The key prefix of one approval's uses: approver id ‖ 0x00 ‖ approval
/// id ‖ 0x00 (ids never contain 0x00, so one prefix is never a prefix of
/// another's keys).
#[must_use]
pub fn approval_use_prefix(approver: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(approver.len() + id.len() + 10);
    k.extend_from_slice(approver.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k
}

/// The key prefix of one search term: tag ‖ value ‖ 0x00. Indexed values
/// never contain 0x00 (the event schema refuses control characters), so a
/// prefix never is a prefix of another term's keys.
pub(crate) fn term_prefix(term: provlog_proto::event::Term, value: &str) -> Vec<u8> {
    tag_prefix(term.tag(), value)
}

/// [`term_prefix`] of any tag (the `occurred_at` buckets' too).
pub(crate) fn tag_prefix(tag: u8, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 10);
    k.push(tag);
    k.extend_from_slice(value.as_bytes());
    k.push(0);
    k
}

/// The search key of `index` under a term prefix.
pub(crate) fn term_key(prefix: &[u8], index: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&index.to_be_bytes());
    k
}
