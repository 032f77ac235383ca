//! Every JSON answer of the API as one `Serialize + ToSchema` type, which
//! the handler serializes and the `OpenAPI` document describes: there is no
//! second description to drift (the integration tests still validate real
//! responses against the document). The request shapes (`Submission`,
//! `BatchRequest`) are here for the document only: requests are parsed by
//! `provlog-proto`'s strict parser. The event, receipt and credential types
//! come from `provlog-proto`.

use serde::Serialize;
use utoipa::ToSchema;

pub use crate::http::error::{ErrorBody, ErrorDetail};

/// A signed heartbeat: `POST /v1/heartbeats`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeartbeatRequest {
    /// The heartbeat: `seq`, `prev`, `sent_at`, optional `actions`.
    pub heartbeat: provlog_proto::chain::Heartbeat,
    /// The submitter id (a sequenced one).
    pub submitter: String,
    /// Base64 Ed25519 signature over `"provlog/heartbeat/v1\n" || origin
    /// || "\n" || JCS(heartbeat)`.
    pub signature: String,
}

/// A signed submission: `POST /v1/entries`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Submission {
    /// The provisioning event.
    pub event: provlog_proto::event::Event,
    /// The submitter id (its registry entry holds its key and scope).
    pub submitter: String,
    /// Base64 of the Ed25519 signature: over `"provlog/event/v2\n" ||
    /// origin || "\n" || JCS(event)` with `signature_version` 2 (bound to
    /// this log's checkpoint origin), or over `"provlog/event/v1\n" ||
    /// JCS(event)` without it (refused where the log sets
    /// `require_origin_binding`).
    pub signature: String,
    /// `2` for a signature bound to the log's origin; absent or `1` for
    /// the version 1 message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 2)]
    pub signature_version: Option<u8>,
    /// 1 to 8 signed approvals (`{"approval": {…}, "signature": "<base64>"}`,
    /// the signature over `"provlog/approval/v1\n" || origin || "\n" ||
    /// JCS(approval)` by the approver's key), logged with the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>, max_items = 8)]
    pub approvals: Option<Vec<serde_json::Value>>,
}

/// `POST /v1/entries/batch` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRequest {
    /// 1 to 1,000 submissions, each checked on its own.
    pub submissions: Vec<Submission>,
}

/// `POST /v1/entries/batch` answer: one result per submission, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    /// Per-item results in request order.
    pub results: Vec<BatchItem>,
}

/// One item of a batch answer: a receipt, or an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItem {
    /// `201` (new), `200` (retry of a logged event) or the error's status.
    pub status: u16,
    /// The receipt, when the item was logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<provlog_proto::receipt::Receipt>,
    /// The error, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// One entry: `GET /v1/entries/<index>` and each item of a search page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entry {
    /// Index in the log.
    pub index: u64,
    /// Base64 RFC 6962 leaf hash of `entry`.
    pub leaf_hash: String,
    /// Base64 of the entry bytes (canonical leaf JSON).
    pub entry: String,
    /// The leaf JSON (informative: `entry` is what is hashed), as the
    /// entry's own text; `null` if the entry is not JSON.
    #[schema(value_type = Object)]
    pub decoded: Option<Box<serde_json::value::RawValue>>,
    /// With `tree_size` (`GET /v1/events`): the base64 inclusion proof of
    /// the entry against the checkpoint of that size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<Vec<String>>,
}

impl Entry {
    /// The JSON view of entry `index` with bytes `entry`.
    #[must_use]
    pub fn new(index: u64, entry: &[u8]) -> Self {
        Self {
            index,
            leaf_hash: provlog_tlog::b64::encode(provlog_tlog::merkle::leaf_hash(entry)),
            entry: provlog_tlog::b64::encode(entry),
            decoded: serde_json::from_slice::<&serde_json::value::RawValue>(entry)
                .ok()
                .map(ToOwned::to_owned),
            proof: None,
        }
    }
}

/// A page of `GET /v1/events`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsPage {
    /// Matching entries in index order.
    pub entries: Vec<Entry>,
    /// Pass as `after` for the next page; null on the last page. A page
    /// may hold fewer than `limit` entries (even none) and still have a
    /// next one: pages end where the search's work bound stops it.
    pub next_after: Option<u64>,
}

/// `GET /v1/proofs/inclusion`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    /// The entry's index.
    pub index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// Base64 leaf hash.
    pub leaf_hash: String,
    /// Base64 hashes, leaf side first (RFC 9162 §2.1.3).
    pub proof: Vec<String>,
}

/// `GET /v1/proofs/consistency`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    /// Older tree size.
    pub from: u64,
    /// Newer tree size.
    pub to: u64,
    /// Base64 hashes (RFC 9162 §2.1.4).
    pub proof: Vec<String>,
}

/// A witness the log sends its checkpoints to.
#[derive(Debug, Serialize, ToSchema)]
pub struct WitnessInfo {
    /// Its base URL.
    pub url: String,
    /// Its cosignature vkey.
    pub key: String,
}

/// `GET /v1/log`: what a client needs to verify this log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogInfo {
    /// Checkpoint origin.
    pub origin: String,
    /// The log's signed-note vkey.
    pub vkey: String,
    /// Latest tree size.
    pub tree_size: u64,
    /// Base64 root hash at that size.
    pub root_hash: String,
    /// The latest signed checkpoint (empty before the first entry).
    pub checkpoint: String,
    /// Configured witnesses.
    pub witnesses: Vec<WitnessInfo>,
    /// Cosignatures that make a checkpoint witnessed.
    pub witness_policy: Option<usize>,
    /// Size of the latest witnessed checkpoint.
    pub witnessed_size: Option<u64>,
    /// Index of the policy entry in force.
    pub policy_index: Option<u64>,
    /// Object-storage publishing, when configured.
    pub publish: Option<crate::follow::publish::PublishStatus>,
    /// Whether the log is frozen (read-only for good).
    pub frozen: bool,
    /// Enforced limits.
    pub limits: crate::log::Limits,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// `GET /readyz` when ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: &'static str,
    /// Latest tree size.
    pub tree_size: u64,
    /// Entries waiting for the sequencer.
    pub queue_depth: usize,
    /// Milliseconds since the newest checkpoint.
    pub checkpoint_age_ms: u64,
}

/// `POST /v1/admin/freeze`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Frozen {
    /// Always true.
    pub frozen: bool,
    /// The final tree size.
    pub tree_size: u64,
    /// The final checkpoint.
    pub checkpoint: String,
}
