//! Per-submitter chains and heartbeats (docs/DESIGN.md "Sequenced
//! submitters"; the bytes in docs/CHAINS.md).
//!
//! A submitter registered as `sequenced` numbers its entries 1, 2, 3, …
//! and names in each the leaf hash of its previous entry (for the first,
//! of the policy leaf that registered it as sequenced): its `seq` and
//! `prev`, inside what it signs. The log refuses a gap, a repeat or a
//! fork, so the chain in the log has no holes. The chain's head (its last
//! `seq`, that entry's leaf hash and index, the last heartbeat) is a
//! [`ChainRecord`] in the credential map under [`chain_key`], committed by
//! every `state` leaf like a credential's record: a map proof of the
//! record at a commitment proves there is no entry `seq + 1` of that
//! submitter before it.
//!
//! A **heartbeat** is a chain entry of its own kind: the submitter's signed
//! statement, at its `seq`, that it performed `actions` actions since its
//! previous heartbeat. Between two heartbeats the log holds exactly
//! `seq − previous seq − 1` of its events, so a count that differs is the
//! submitter's own admission that something it did is not logged; a
//! registry may require one every `heartbeat_interval_seconds`, and a
//! monitor alarms when one is late.

use crate::json::{self, canonical_string};
use crate::map::{Key, Value as MapValue};
use provlog_tlog::b64;
use provlog_tlog::merkle::{Hash, sha256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Domain tag of a chain's map key.
const KEY_TAG: &[u8] = b"provlog/chain-key/v1\n";
/// Domain tag of a chain record's map value.
const VALUE_TAG: &[u8] = b"provlog/chain-record/v1\n";
/// Domain separation prefix of a heartbeat signature (followed by the
/// log's origin and a newline).
pub const HEARTBEAT_SIGNATURE_CONTEXT: &[u8] = b"provlog/heartbeat/v1\n";
/// Largest `seq`, `actions` or index a chain carries: JSON integers above
/// 2^53 are not exact in every reader.
pub const MAX_SEQ: u64 = (1 << 53) - 1;

/// A chain's map key: `SHA-256("provlog/chain-key/v1\n" ‖ submitter id)`.
/// (Credential keys hash another tag, so no submitter id can collide with
/// a fingerprint.)
#[must_use]
pub fn chain_key(submitter: &str) -> Key {
    sha256(&[KEY_TAG, submitter.as_bytes()])
}

/// RFC 8785 bytes of a serializable value (the types here always serialize).
fn jcs(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| json::canonical(&v).ok())
        .unwrap_or_default()
}

/// The map value of a chain record whose canonical bytes are `canonical`:
/// `SHA-256("provlog/chain-record/v1\n" ‖ canonical)`.
#[must_use]
pub fn record_value(canonical: &[u8]) -> MapValue {
    sha256(&[VALUE_TAG, canonical])
}

/// The last heartbeat of a chain.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatMark {
    /// Its `seq`.
    pub seq: u64,
    /// Its entry index.
    pub index: u64,
    /// Its `logged_at`.
    pub logged_at: String,
}

/// The head of one submitter's chain: the value its [`chain_key`] commits
/// to (docs/CHAINS.md "Chain records").
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainRecord {
    /// Format version, 1.
    pub v: u8,
    /// The submitter.
    pub submitter: String,
    /// `seq` of its last entry; 0 while it has logged none.
    pub seq: u64,
    /// Base64 RFC 6962 leaf hash of that entry (of the registration's
    /// policy leaf while `seq` is 0): the `prev` its next entry names.
    pub head: String,
    /// Index of that entry.
    pub head_index: u64,
    /// Index of the policy leaf that registered the submitter as
    /// sequenced (its chain starts there).
    pub registered_index: u64,
    /// `logged_at` of that policy leaf.
    pub registered_at: String,
    /// Its last heartbeat, if it logged one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatMark>,
}

impl ChainRecord {
    /// The chain of `submitter` registered as sequenced by the policy leaf
    /// at `index` (logged at `logged_at`) whose leaf hash is `leaf_hash`.
    #[must_use]
    pub fn register(submitter: &str, index: u64, logged_at: &str, leaf_hash: &Hash) -> Self {
        Self {
            v: 1,
            submitter: submitter.to_owned(),
            seq: 0,
            head: b64::encode(leaf_hash),
            head_index: index,
            registered_index: index,
            registered_at: logged_at.to_owned(),
            heartbeat: None,
        }
    }

    /// The record's canonical bytes (RFC 8785).
    #[must_use]
    pub fn canonical(&self) -> Vec<u8> {
        jcs(self)
    }

    /// Its map value.
    #[must_use]
    pub fn value(&self) -> MapValue {
        record_value(&self.canonical())
    }

    /// The record stored as its canonical bytes.
    ///
    /// # Errors
    /// Bytes that are no chain record.
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The link the chain's next entry must carry.
    #[must_use]
    pub fn next(&self) -> Link {
        Link {
            seq: self.seq.saturating_add(1),
            prev: b64::decode_array(&self.head).unwrap_or([0; 32]),
        }
    }

    /// The record after entry `index` (leaf hash `leaf_hash`, logged at
    /// `logged_at`) carrying `link` joins the chain; a heartbeat also
    /// becomes the last heartbeat.
    ///
    /// # Errors
    /// [`ChainError`] when `link` is not the next one.
    pub fn advance(
        &self,
        link: &Link,
        index: u64,
        leaf_hash: &Hash,
        heartbeat_at: Option<&str>,
    ) -> Result<Self, ChainError> {
        self.check(link)?;
        let mut next = self.clone();
        next.seq = link.seq;
        next.head = b64::encode(leaf_hash);
        next.head_index = index;
        if let Some(at) = heartbeat_at {
            next.heartbeat = Some(HeartbeatMark {
                seq: link.seq,
                index,
                logged_at: at.to_owned(),
            });
        }
        Ok(next)
    }

    /// The link the log expects next, as a refusal states it.
    #[must_use]
    pub fn expected(&self) -> Expected {
        let want = self.next();
        Expected {
            seq: want.seq,
            prev: b64::encode(want.prev),
        }
    }

    /// The refusal of an event of this (sequenced) submitter that carries
    /// no link.
    #[must_use]
    pub fn required(&self) -> ChainError {
        ChainError::Required {
            submitter: self.submitter.clone(),
            expected: self.expected(),
        }
    }

    /// Whether `link` is the chain's next one.
    ///
    /// # Errors
    /// [`ChainError::Gap`], [`ChainError::Reused`] or [`ChainError::Fork`],
    /// each with what the log expected.
    pub fn check(&self, link: &Link) -> Result<(), ChainError> {
        let want = self.next();
        let expected = self.expected();
        let submitter = self.submitter.clone();
        if link.seq > want.seq {
            return Err(ChainError::Gap {
                submitter,
                seq: link.seq,
                expected,
            });
        }
        if link.seq < want.seq {
            return Err(ChainError::Reused {
                submitter,
                seq: link.seq,
                expected,
            });
        }
        if link.prev != want.prev {
            return Err(ChainError::Fork {
                submitter,
                prev: b64::encode(link.prev),
                expected,
            });
        }
        Ok(())
    }

    /// Events logged since the last heartbeat (or since registration):
    /// what the next heartbeat's `actions` should say.
    #[must_use]
    pub fn since_heartbeat(&self) -> u64 {
        self.seq.saturating_sub(self.heartbeat.as_ref().map_or(0, |h| h.seq))
    }
}

/// What one chain entry claims: its place in its submitter's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// 1 for the submitter's first entry, one more for each next one.
    pub seq: u64,
    /// Leaf hash of the previous entry (of the registration, for seq 1).
    pub prev: Hash,
}

/// What the log expected instead (in a refusal's `expected` member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// The next `seq`.
    pub seq: u64,
    /// Base64 of the `prev` it must name.
    pub prev: String,
}

/// Why an entry does not join its submitter's chain.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainError {
    /// The `seq` skips entries.
    #[error("submitter {submitter:?}: seq {seq} skips ahead; the next is seq {} with prev {}", expected.seq, expected.prev)]
    Gap {
        /// The submitter.
        submitter: String,
        /// The `seq` claimed.
        seq: u64,
        /// What the log expected.
        expected: Expected,
    },
    /// The `seq` is taken (by another entry) or goes back.
    #[error("submitter {submitter:?}: seq {seq} is already taken; the next is seq {} with prev {}", expected.seq, expected.prev)]
    Reused {
        /// The submitter.
        submitter: String,
        /// The `seq` claimed.
        seq: u64,
        /// What the log expected.
        expected: Expected,
    },
    /// The `seq` is the next one but `prev` is not the chain's head (it
    /// names another entry, perhaps another submitter's).
    #[error("submitter {submitter:?}: prev {prev} is not the head of its chain; the next is seq {} with prev {}", expected.seq, expected.prev)]
    Fork {
        /// The submitter.
        submitter: String,
        /// The `prev` claimed.
        prev: String,
        /// What the log expected.
        expected: Expected,
    },
    /// The submitter is sequenced, and the event carries no `seq`/`prev`.
    #[error("submitter {submitter:?} is sequenced: its events carry seq and prev; the next is seq {} with prev {}", expected.seq, expected.prev)]
    Required {
        /// The submitter.
        submitter: String,
        /// What the log expected.
        expected: Expected,
    },
    /// The submitter is not sequenced, and sent a `seq` or a heartbeat.
    #[error("submitter {0:?} is not registered as sequenced: it sends no seq, prev or heartbeat")]
    NotSequenced(String),
}

impl ChainError {
    /// The stable error code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Gap { .. } => "chain_gap",
            Self::Reused { .. } => "chain_seq_reused",
            Self::Fork { .. } => "chain_fork",
            Self::Required { .. } => "chain_required",
            Self::NotSequenced(_) => "not_sequenced",
        }
    }

    /// The HTTP status: 409 for a link that is not the next one, 403 for
    /// a submitter that may not chain.
    #[must_use]
    pub const fn status(&self) -> u16 {
        match self {
            Self::NotSequenced(_) => 403,
            _ => 409,
        }
    }

    /// What the log expected, for a link that is not the next one.
    #[must_use]
    pub const fn expected(&self) -> Option<&Expected> {
        match self {
            Self::Gap { expected, .. }
            | Self::Reused { expected, .. }
            | Self::Fork { expected, .. }
            | Self::Required { expected, .. } => Some(expected),
            Self::NotSequenced(_) => None,
        }
    }
}

/// A heartbeat: what a sequenced submitter signs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// Its place in the chain.
    pub seq: u64,
    /// Base64 leaf hash of the previous chain entry.
    pub prev: String,
    /// RFC 3339 time the submitter sent it.
    pub sent_at: String,
    /// Actions the submitter performed since its previous heartbeat (or
    /// since registration), if it counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<u64>,
}

/// Why a heartbeat is malformed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("heartbeat: {0}")]
pub struct HeartbeatError(pub String);

impl Heartbeat {
    /// Reads and checks a heartbeat object.
    ///
    /// # Errors
    /// Unknown, missing or mistyped members; `seq` outside 1…2^53−1;
    /// `prev` not base64 of 32 bytes; `sent_at` not RFC 3339; `actions`
    /// above 2^53−1.
    pub fn from_value(v: &Value) -> Result<Self, HeartbeatError> {
        let h: Self = serde_json::from_value(v.clone()).map_err(|e| HeartbeatError(e.to_string()))?;
        check_link_values(h.seq, &h.prev).map_err(HeartbeatError)?;
        crate::time::parse_millis(&h.sent_at).map_err(|e| HeartbeatError(format!("sent_at: {e}")))?;
        if h.actions.is_some_and(|a| a > MAX_SEQ) {
            return Err(HeartbeatError(format!("actions: at most {MAX_SEQ}")));
        }
        Ok(h)
    }

    /// Its link.
    #[must_use]
    pub fn link(&self) -> Link {
        Link {
            seq: self.seq,
            prev: b64::decode_array(&self.prev).unwrap_or([0; 32]),
        }
    }

    /// Its canonical bytes.
    #[must_use]
    pub fn canonical(&self) -> Vec<u8> {
        jcs(self)
    }
}

/// Checks a `seq` and a `prev` as events and heartbeats carry them.
///
/// # Errors
/// What is wrong, naming the member.
pub fn check_link_values(seq: u64, prev: &str) -> Result<Link, String> {
    if !(1..=MAX_SEQ).contains(&seq) {
        return Err(format!("seq: must be 1 to {MAX_SEQ}"));
    }
    let prev = b64::decode_array::<32>(prev).ok_or_else(|| "prev: must be standard base64 of 32 bytes".to_owned())?;
    Ok(Link { seq, prev })
}

/// The exact bytes a submitter signs for a heartbeat with canonical bytes
/// `heartbeat_jcs` in the log whose checkpoint origin is `origin`:
/// `"provlog/heartbeat/v1\n" ‖ origin ‖ "\n" ‖ JCS(heartbeat)`.
#[must_use]
pub fn heartbeat_message(origin: &str, heartbeat_jcs: &[u8]) -> Vec<u8> {
    [HEARTBEAT_SIGNATURE_CONTEXT, origin.as_bytes(), b"\n", heartbeat_jcs].concat()
}

/// The canonical bytes of a heartbeat leaf:
/// `{"heartbeat":{…},"kind":"heartbeat","logged_at":"…","signature":"…","submitter":"…","v":1}`,
/// as a head (up to `logged_at`'s value, which recognises a retry) and a
/// tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatLeafTemplate {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl HeartbeatLeafTemplate {
    /// The leaf of `heartbeat` signed by `submitter` with `signature`.
    #[must_use]
    pub fn new(heartbeat: &Heartbeat, submitter: &str, signature: &[u8; 64]) -> Self {
        let mut head = b"{\"heartbeat\":".to_vec();
        head.extend_from_slice(&heartbeat.canonical());
        head.extend_from_slice(b",\"kind\":\"heartbeat\",\"logged_at\":\"");
        let tail = format!(
            "\",\"signature\":\"{}\",\"submitter\":{},\"v\":1}}",
            b64::encode(signature),
            canonical_string(submitter)
        )
        .into_bytes();
        Self { head, tail }
    }

    /// The bytes before `logged_at`.
    #[must_use]
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The leaf with `logged_at` ([`crate::leaf::LOGGED_AT_LEN`] bytes).
    #[must_use]
    pub fn render(&self, logged_at: &str) -> Vec<u8> {
        [&self.head[..], logged_at.as_bytes(), &self.tail[..]].concat()
    }

    /// Length of the finished leaf.
    #[must_use]
    pub fn len(&self) -> usize {
        self.head.len() + crate::leaf::LOGGED_AT_LEN + self.tail.len()
    }

    /// Never true.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What a sequenced submitter posts to `POST /v1/heartbeats`:
/// `{"heartbeat":{…},"submitter":"…","signature":"…"}`.
#[derive(Debug, Clone)]
pub struct HeartbeatSubmission {
    /// The heartbeat.
    pub heartbeat: Heartbeat,
    /// Its canonical bytes (what the signature covers after the context).
    pub jcs: Vec<u8>,
    /// The submitter.
    pub submitter: String,
    /// The Ed25519 signature.
    pub signature: [u8; 64],
    /// The leaf it becomes.
    pub leaf: HeartbeatLeafTemplate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeartbeatSubmission {
    heartbeat: Value,
    submitter: String,
    signature: String,
}

impl HeartbeatSubmission {
    /// Parses a request body.
    ///
    /// # Errors
    /// [`crate::submission::SubmissionError`]: malformed JSON, an unknown
    /// or missing member, a malformed heartbeat or signature.
    pub fn parse(body: &[u8]) -> Result<Self, crate::submission::SubmissionError> {
        use crate::submission::SubmissionError;
        let v = json::parse_strict(body)?;
        let raw: RawHeartbeatSubmission =
            serde_json::from_value(v).map_err(|e| SubmissionError::Schema(e.to_string()))?;
        crate::policy::check_submitter_id(&raw.submitter)
            .map_err(|r| SubmissionError::Schema(format!("submitter: {r}")))?;
        let signature: [u8; 64] = b64::decode_array(&raw.signature).ok_or(SubmissionError::SignatureEncoding)?;
        let heartbeat = Heartbeat::from_value(&raw.heartbeat).map_err(|e| SubmissionError::Schema(e.to_string()))?;
        let jcs = heartbeat.canonical();
        let leaf = HeartbeatLeafTemplate::new(&heartbeat, &raw.submitter, &signature);
        Ok(Self {
            heartbeat,
            jcs,
            submitter: raw.submitter,
            signature,
            leaf,
        })
    }

    /// The bytes the signature covers in the log whose origin is `origin`.
    #[must_use]
    pub fn message(&self, origin: &str) -> Vec<u8> {
        heartbeat_message(origin, &self.jcs)
    }

    /// Signs `heartbeat` as `submitter` for the log whose origin is
    /// `origin`: the request body.
    #[must_use]
    pub fn sign(heartbeat: &Heartbeat, submitter: &str, key: &provlog_tlog::keys::SignerKey, origin: &str) -> Vec<u8> {
        let sig = key.sign_raw(&heartbeat_message(origin, &heartbeat.canonical()));
        let body = serde_json::json!({
            "heartbeat": heartbeat,
            "submitter": submitter,
            "signature": b64::encode(sig),
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// A parsed heartbeat leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatLeaf {
    /// When the log sequenced it.
    pub logged_at: String,
    /// The submitter.
    pub submitter: String,
    /// Its signature.
    pub signature: [u8; 64],
    /// The heartbeat.
    pub heartbeat: Heartbeat,
}

impl HeartbeatLeaf {
    /// Whether the signature verifies under `key` in the log of `origin`.
    #[must_use]
    pub fn verify(&self, key: &provlog_tlog::keys::VerifierKey, origin: &str) -> bool {
        key.verify_raw(&heartbeat_message(origin, &self.heartbeat.canonical()), &self.signature)
    }
}

/// The chains the policy leaf at `index` (logged at `logged_at`, leaf
/// hash `leaf_hash`) starts: one for each sequenced submitter of `policy`
/// that has none yet (`has` tells). A submitter that was sequenced before
/// keeps its chain, even after a registry that did not sequence it.
#[must_use]
pub fn registrations(
    policy: &crate::policy::Policy,
    index: u64,
    logged_at: &str,
    leaf_hash: &Hash,
    has: &mut dyn FnMut(&str) -> bool,
) -> Vec<ChainRecord> {
    policy
        .submitters
        .iter()
        .filter(|s| s.sequenced && !has(&s.id))
        .map(|s| ChainRecord::register(&s.id, index, logged_at, leaf_hash))
        .collect()
}

/// One entry of a chain answer: position `seq` of the chain, entry
/// `index`, its bytes and its inclusion proof under the answer's
/// checkpoint.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainItem {
    /// Its chain position.
    pub seq: u64,
    /// Its entry index.
    pub index: u64,
    /// Base64 entry bytes (an event or heartbeat leaf).
    pub entry: String,
    /// Base64 inclusion proof.
    pub proof: Vec<String>,
}

/// The answer of `GET /v1/chains/<submitter>` (docs/CHAINS.md "Chain
/// answers"): the submitter's chain record (or none) and its map proof
/// against the last state commitment, that commitment with its inclusion
/// proof, the signed checkpoint, and with `from=<seq>` the chain's
/// entries from that position on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainAnswer {
    /// The submitter asked about.
    pub submitter: String,
    /// Its chain record in the committed map, if it is (or was) sequenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<ChainRecord>,
    /// Base64 map proof for [`chain_key`] against the commitment's root.
    pub map_proof: String,
    /// The state commitment.
    pub commitment: crate::credential::CommitmentItem,
    /// The signed checkpoint every proof is against.
    pub checkpoint: String,
    /// With `from`: the chain's entries from that `seq` on, in order,
    /// through the last one the checkpoint holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<ChainItem>,
    /// Present when the entries did not fit: ask again with
    /// `from=<next_from>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_from: Option<u64>,
}

/// A chain answer that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The committed chain record (`None`: the submitter never was
    /// sequenced as of the commitment).
    pub record: Option<ChainRecord>,
    /// Index of the commitment.
    pub commitment_index: u64,
    /// Its `logged_at`.
    pub committed_at: String,
    /// Size of the checkpoint.
    pub tree_size: u64,
    /// Witness cosignatures counted.
    pub witnessed: usize,
    /// The answer's chain entries, checked: (seq, index, leaf hash), in
    /// order, each linked to the one before.
    pub entries: Vec<(u64, u64, Hash)>,
    /// Heartbeats among the entries whose claimed count differs from the
    /// events between them and the previous heartbeat in the entries:
    /// (seq, claimed, logged).
    pub count_mismatches: Vec<(u64, u64, u64)>,
}

impl VerifiedChain {
    /// Whether the chain holds position `seq` with leaf hash `leaf_hash`
    /// (as the committed head, or among the checked entries): what a
    /// submitter checks its own last acknowledged entry against.
    #[must_use]
    pub fn holds(&self, seq: u64, leaf_hash: &Hash) -> bool {
        self.record
            .as_ref()
            .is_some_and(|r| r.seq == seq && b64::decode_array(&r.head) == Some(*leaf_hash))
            || self.entries.iter().any(|(s, _, h)| *s == seq && h == leaf_hash)
    }

    /// The last position the answer proves (the committed head, or a later
    /// checked entry).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        let committed = self.record.as_ref().map_or(0, |r| r.seq);
        self.entries.last().map_or(committed, |(s, _, _)| committed.max(*s))
    }
}

impl ChainAnswer {
    /// Verifies the answer offline: it is about `submitter`; the checkpoint,
    /// the commitment and its freshness as for a credential answer
    /// ([`crate::credential::verify_commitment`]); the record is about the
    /// submitter and was last changed before the commitment, and the map
    /// proof shows it (or its absence) under the commitment's root; every
    /// entry is included under the checkpoint, is the submitter's event or
    /// heartbeat at the position it is listed at, and names the leaf hash
    /// of the entry listed before it as `prev` (the first one after the
    /// committed head names the head); the entry at the record's position
    /// has the record's head hash and index.
    ///
    /// # Errors
    /// [`crate::credential::CredentialError`] naming what fails.
    pub fn verify_for(
        &self,
        submitter: &str,
        req: &crate::credential::Requirements<'_>,
    ) -> Result<VerifiedChain, crate::credential::CredentialError> {
        use crate::credential::CredentialError as E;
        use crate::leaf::Leaf;
        if self.submitter != submitter {
            return Err(E::Record(format!(
                "the answer is about submitter {:?}, not {submitter:?}",
                self.submitter
            )));
        }
        if let Some(n) = self.next_from {
            return Err(E::Pages(format!(
                "a page of a longer chain (next_from {n}): ask again from there"
            )));
        }
        let (checkpoint, commitment, witnessed) =
            crate::credential::verify_commitment(&self.checkpoint, &self.commitment, req)?;
        let c = &self.commitment;
        if let Some(r) = &self.record {
            if r.submitter != self.submitter {
                return Err(E::Record(format!("the record is about {:?}", r.submitter)));
            }
            if r.seq > MAX_SEQ || r.head_index >= c.index || r.registered_index > r.head_index {
                return Err(E::Record(format!(
                    "head {} at entry {} (registered at {}) does not fit a commitment at entry {}",
                    r.seq, r.head_index, r.registered_index, c.index
                )));
            }
            if b64::decode_array::<32>(&r.head).is_none() {
                return Err(E::Record("head is not base64 of 32 bytes".into()));
            }
            if let Some(h) = &r.heartbeat
                && (h.seq > r.seq || h.index > r.head_index || h.index < r.registered_index)
            {
                return Err(E::Record(format!(
                    "the last heartbeat (seq {}, entry {}) is not within the chain (seq {}, entry {})",
                    h.seq, h.index, r.seq, r.head_index
                )));
            }
        }
        let map_proof = b64::decode(&self.map_proof)
            .map_err(|_| E::MapProof(crate::map::MapError::Malformed("not base64")))
            .and_then(|b| crate::map::MapProof::decode(&b).map_err(E::MapProof))?;
        let value = self.record.as_ref().map(ChainRecord::value);
        map_proof
            .verify(&commitment.map_root, &chain_key(&self.submitter), value.as_ref())
            .map_err(E::MapProof)?;
        let mut entries: Vec<(u64, u64, Hash)> = Vec::with_capacity(self.entries.len());
        let mut mismatches = Vec::new();
        let mut last_heartbeat: Option<u64> = None;
        for item in &self.entries {
            let bad = |reason: String| E::NotAbout {
                index: item.index,
                reason,
            };
            let bytes = b64::decode(&item.entry).map_err(|_| E::Encoding {
                index: item.index,
                what: "entry",
            })?;
            let proof = crate::credential::decode_proof(item.index, &item.proof)?;
            let hash = provlog_tlog::merkle::leaf_hash(&bytes);
            provlog_tlog::merkle::verify_inclusion(item.index, checkpoint.size, &hash, &proof, &checkpoint.root)
                .map_err(|err| E::Inclusion { index: item.index, err })?;
            let (who, link, heartbeat) = match Leaf::parse(&bytes).map_err(|e| bad(e.to_string()))? {
                Leaf::Event(e) => (
                    e.submitter.clone(),
                    e.event.event.link().ok_or_else(|| bad("an event without seq".into()))?,
                    None,
                ),
                Leaf::Heartbeat(h) => (h.submitter.clone(), h.heartbeat.link(), Some(h.heartbeat)),
                _ => return Err(bad("neither an event nor a heartbeat".into())),
            };
            if who != self.submitter {
                return Err(bad(format!("an entry of submitter {who:?}")));
            }
            if link.seq != item.seq {
                return Err(bad(format!("listed at seq {}, carries seq {}", item.seq, link.seq)));
            }
            let want_prev = match entries.last() {
                Some((s, i, h)) => {
                    if *s + 1 != item.seq || *i >= item.index {
                        return Err(E::Order(item.index));
                    }
                    Some(*h)
                }
                None => self
                    .record
                    .as_ref()
                    .filter(|r| r.seq + 1 == item.seq)
                    .and_then(|r| b64::decode_array(&r.head)),
            };
            if let Some(p) = want_prev
                && p != link.prev
            {
                return Err(bad(format!(
                    "seq {} does not name the entry before it as prev",
                    item.seq
                )));
            }
            if let Some(r) = &self.record
                && r.seq == item.seq
                && (b64::decode_array(&r.head) != Some(hash) || r.head_index != item.index)
            {
                return Err(bad(format!("seq {} is not the committed head", item.seq)));
            }
            if let Some(h) = heartbeat {
                if let (Some(prev), Some(claimed)) = (last_heartbeat, h.actions) {
                    let logged = item.seq - prev - 1;
                    if claimed != logged {
                        mismatches.push((item.seq, claimed, logged));
                    }
                }
                last_heartbeat = Some(item.seq);
            }
            entries.push((item.seq, item.index, hash));
        }
        if let (Some(r), Some((first, _, _)), Some((last, _, _))) = (&self.record, entries.first(), entries.last())
            && *first <= r.seq
            && *last < r.seq
        {
            return Err(E::Record(format!(
                "the entries stop at seq {last}, before the committed head {}",
                r.seq
            )));
        }
        Ok(VerifiedChain {
            record: self.record.clone(),
            commitment_index: c.index,
            committed_at: commitment.logged_at,
            tree_size: checkpoint.size,
            witnessed,
            entries,
            count_mismatches: mismatches,
        })
    }
}

/// Checks a heartbeat's claimed `actions` against `record`, the chain
/// before it: `Some((claimed, logged))` when they differ.
#[must_use]
pub fn count_mismatch(record: &ChainRecord, heartbeat: &Heartbeat) -> Option<(u64, u64)> {
    let logged = record.since_heartbeat();
    heartbeat.actions.filter(|&a| a != logged).map(|a| (a, logged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec() -> ChainRecord {
        ChainRecord::register("ci", 0, "2026-12-03T00:00:00.000Z", &[1; 32])
    }

    #[test]
    fn a_chain_takes_exactly_its_next_link() {
        let r = rec();
        let next = r.next();
        assert_eq!((next.seq, next.prev), (1, [1; 32]));
        let r1 = r.advance(&next, 1, &[2; 32], None).expect("next");
        assert_eq!((r1.seq, r1.head_index, r1.since_heartbeat()), (1, 1, 1));
        let e = r1
            .advance(&Link { seq: 3, prev: [2; 32] }, 2, &[3; 32], None)
            .expect_err("gap");
        assert_eq!(e.code(), "chain_gap");
        assert_eq!(e.expected().map(|x| x.seq), Some(2));
        let e = r1
            .advance(&Link { seq: 1, prev: [1; 32] }, 2, &[3; 32], None)
            .expect_err("reuse");
        assert_eq!(e.code(), "chain_seq_reused");
        let e = r1
            .advance(&Link { seq: 2, prev: [9; 32] }, 2, &[3; 32], None)
            .expect_err("fork");
        assert_eq!(e.code(), "chain_fork");
        let r2 = r1
            .advance(
                &Link { seq: 2, prev: [2; 32] },
                5,
                &[3; 32],
                Some("2026-12-03T00:00:01.000Z"),
            )
            .expect("heartbeat");
        assert_eq!(r2.heartbeat.as_ref().map(|h| (h.seq, h.index)), Some((2, 5)));
        assert_eq!(r2.since_heartbeat(), 0);
    }

    #[test]
    fn record_bytes_are_canonical_and_round_trip() {
        let r = rec();
        let b = r.canonical();
        assert_eq!(
            String::from_utf8(b.clone()).expect("utf8"),
            format!(
                "{{\"head\":\"{}\",\"head_index\":0,\"registered_at\":\"2026-12-03T00:00:00.000Z\",\"registered_index\":0,\"seq\":0,\"submitter\":\"ci\",\"v\":1}}",
                b64::encode([1; 32])
            )
        );
        assert_eq!(ChainRecord::from_canonical(&b).expect("parse"), r);
        assert_ne!(chain_key("ci"), crate::ledger::credential_key("ci"));
        // The vector of docs/CHAINS.md (computed there with Python's hashlib).
        assert_eq!(
            b64::encode(chain_key("ci")),
            "V794Z3zkf/hd9O5s3AW3MXjkT4Pqo0sn1Ol0BJ5fOig="
        );
        assert_eq!(b64::encode(r.value()), "hzBk75wYjhPHoLvRfV6Vo/GhfxHOL6XU8MIOJO4mFOA=");
    }

    #[test]
    fn heartbeats_parse_strictly() {
        let good = serde_json::json!({"seq":1,"prev":b64::encode([0;32]),"sent_at":"2026-12-03T00:00:00Z","actions":3});
        assert!(Heartbeat::from_value(&good).is_ok());
        for bad in [
            serde_json::json!({"seq":0,"prev":b64::encode([0;32]),"sent_at":"2026-12-03T00:00:00Z"}),
            serde_json::json!({"seq":1,"prev":"AAAA","sent_at":"2026-12-03T00:00:00Z"}),
            serde_json::json!({"seq":1,"prev":b64::encode([0;32]),"sent_at":"now"}),
            serde_json::json!({"seq":1,"prev":b64::encode([0;32]),"sent_at":"2026-12-03T00:00:00Z","x":1}),
            serde_json::json!({"seq":1,"prev":b64::encode([0;32]),"sent_at":"2026-12-03T00:00:00Z","actions":-1}),
            serde_json::json!({"seq":1,"prev":b64::encode([0;32]),"sent_at":"2026-12-03T00:00:00Z","actions":MAX_SEQ + 1}),
        ] {
            assert!(Heartbeat::from_value(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn heartbeat_leaf_is_canonical() {
        let h = Heartbeat {
            seq: 4,
            prev: b64::encode([5; 32]),
            sent_at: "2026-12-03T00:00:00Z".into(),
            actions: Some(2),
        };
        let t = HeartbeatLeafTemplate::new(&h, "ci/\u{e9}", &[7; 64]);
        let bytes = t.render("2026-12-03T00:00:00.123Z");
        assert_eq!(bytes.len(), t.len());
        let v = json::parse_strict(&bytes).expect("json");
        assert_eq!(json::canonical(&v).expect("jcs"), bytes);
    }

    proptest! {
        /// Only the next link joins a chain, whatever the chain and the
        /// link claimed.
        #[test]
        fn only_the_next_link_joins(steps in 0u64..20, seq in 0u64..25, prev in any::<u8>()) {
            let mut r = rec();
            for i in 0..steps {
                let n = r.next();
                r = r.advance(&n, i + 1, &[(i as u8).wrapping_add(2); 32], None).expect("next");
            }
            let link = Link { seq, prev: [prev; 32] };
            let ok = seq == steps + 1 && [prev; 32] == r.next().prev;
            prop_assert_eq!(r.advance(&link, 99, &[0; 32], None).is_ok(), ok);
        }
    }
}
