//! What a submitter sends: `{"event": {...}, "submitter": "<id>",
//! "signature": "<base64>"}`, where the signature is Ed25519 over
//! `"provlog/event/v1\n" || JCS(event)` (docs/DESIGN.md "Submitters and delegated
//! authority").

use crate::event::{CanonicalEvent, EventError};
use crate::json::{self, JsonError};
use crate::leaf::EventLeafTemplate;
use crate::policy;
use provlog_tlog::b64;
use provlog_tlog::keys::{SignerKey, VerifierKey};
use provlog_tlog::tile::MAX_ENTRY_BYTES;
use serde::Deserialize;
use serde_json::Value;

/// Domain separation prefix of the event signature.
pub const EVENT_SIGNATURE_CONTEXT: &[u8] = b"provlog/event/v1\n";

/// The exact bytes a submitter signs for an event with canonical bytes `jcs`.
#[must_use]
pub fn signing_message(event_jcs: &[u8]) -> Vec<u8> {
    [EVENT_SIGNATURE_CONTEXT, event_jcs].concat()
}

/// Why a submission was refused before any key was consulted. Each variant
/// has a stable [`code`](SubmissionError::code) for the JSON error body.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmissionError {
    /// Not one well-formed JSON document.
    #[error("{0}")]
    Json(String),
    /// The submission object has unknown, missing or mistyped members.
    #[error("submission: {0}")]
    Schema(String),
    /// The event breaks its schema.
    #[error("event: {0}")]
    Event(#[from] EventError),
    /// The signature is not base64 of 64 bytes.
    #[error("signature: must be standard base64 of 64 bytes")]
    SignatureEncoding,
    /// The leaf would be larger than an entry bundle can hold.
    #[error("entry would be {0} bytes; the limit is 65535")]
    TooLarge(usize),
}

impl SubmissionError {
    /// The stable error code for this refusal.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Json(_) => "malformed_json",
            Self::Schema(_) => "invalid_submission",
            Self::Event(_) => "invalid_event",
            Self::SignatureEncoding => "invalid_signature_encoding",
            Self::TooLarge(_) => "entry_too_large",
        }
    }
}

impl From<JsonError> for SubmissionError {
    fn from(e: JsonError) -> Self {
        Self::Json(e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubmission {
    event: Value,
    submitter: String,
    signature: String,
}

/// A submission that passed every check that needs no key: strict JSON,
/// schema, signature encoding, size.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The event and its canonical bytes.
    pub event: CanonicalEvent,
    /// The submitter id it names.
    pub submitter: String,
    /// The 64-byte Ed25519 signature.
    pub signature: [u8; 64],
    /// The leaf this submission becomes, waiting for its `logged_at`.
    pub leaf: EventLeafTemplate,
}

impl Submission {
    /// Parses a request body.
    ///
    /// # Errors
    /// Any [`SubmissionError`].
    pub fn parse(body: &[u8]) -> Result<Self, SubmissionError> {
        Self::from_value(json::parse_strict(body)?)
    }

    /// Reads a submission from already parsed (strict) JSON.
    ///
    /// # Errors
    /// Any [`SubmissionError`] but [`SubmissionError::Json`].
    pub fn from_value(v: Value) -> Result<Self, SubmissionError> {
        if !v.is_object() {
            return Err(SubmissionError::Schema("must be a JSON object".into()));
        }
        let raw: RawSubmission = serde_json::from_value(v).map_err(|e| SubmissionError::Schema(e.to_string()))?;
        policy::check_submitter_id(&raw.submitter).map_err(|r| SubmissionError::Schema(format!("submitter: {r}")))?;
        let signature: [u8; 64] = b64::decode_array(&raw.signature).ok_or(SubmissionError::SignatureEncoding)?;
        let event = CanonicalEvent::from_value(&raw.event)?;
        let leaf = EventLeafTemplate::new(&event.jcs, &raw.submitter, &signature);
        if leaf.len() > MAX_ENTRY_BYTES {
            return Err(SubmissionError::TooLarge(leaf.len()));
        }
        Ok(Self {
            event,
            submitter: raw.submitter,
            signature,
            leaf,
        })
    }

    /// Whether the signature verifies (strictly) under `key`.
    #[must_use]
    pub fn verify(&self, key: &VerifierKey) -> bool {
        key.verify_raw(&signing_message(&self.event.jcs), &self.signature)
    }
}

/// Signs `event` (any JSON value; it is canonicalized first) as submitter
/// `submitter` and returns the submission JSON object.
///
/// # Errors
/// The event does not pass the schema.
pub fn sign(event: &Value, submitter: &str, key: &SignerKey) -> Result<Value, SubmissionError> {
    let ce = CanonicalEvent::from_value(event)?;
    let sig = key.sign_raw(&signing_message(&ce.jcs));
    Ok(serde_json::json!({
        "event": event,
        "submitter": submitter,
        "signature": b64::encode(sig),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::sample;
    use provlog_tlog::keys::ALG_ED25519;
    use serde_json::json;

    fn key() -> SignerKey {
        SignerKey::from_seed("ci", ALG_ED25519, [7; 32]).expect("key")
    }

    #[test]
    fn signed_submission_round_trips_and_verifies() {
        let v = sign(&sample(), "ci", &key()).expect("sign");
        let body = serde_json::to_vec(&v).expect("json");
        let s = Submission::parse(&body).expect("parse");
        assert!(s.verify(&key().verifier()));
        let other = SignerKey::from_seed("ci", ALG_ED25519, [8; 32]).expect("key");
        assert!(!s.verify(&other.verifier()));
        // Member order and whitespace of the event do not matter: the
        // signature covers its canonical form.
        let mut pretty = serde_json::to_string_pretty(&v).expect("json");
        pretty = pretty.replace("\"event_id\"", " \"event_id\"");
        assert!(
            Submission::parse(pretty.as_bytes())
                .expect("parse")
                .verify(&key().verifier())
        );
        // A changed event does not verify.
        let mut t = v.clone();
        t["event"]["target"]["id"] = json!("svc-other");
        let s = Submission::from_value(t).expect("parse");
        assert!(!s.verify(&key().verifier()));
    }

    #[test]
    fn refusals_have_codes() {
        let good = sign(&sample(), "ci", &key()).expect("sign");
        let code = |b: &[u8]| Submission::parse(b).expect_err("refused").code();
        assert_eq!(code(b"{"), "malformed_json");
        assert_eq!(code(b"\xff\xfe"), "malformed_json");
        assert_eq!(code(b"[]"), "invalid_submission");
        let mut v = good.clone();
        v["extra"] = json!(1);
        assert_eq!(code(&serde_json::to_vec(&v).expect("j")), "invalid_submission");
        let mut v = good.clone();
        v["signature"] = json!("not base64!");
        assert_eq!(code(&serde_json::to_vec(&v).expect("j")), "invalid_signature_encoding");
        let mut v = good.clone();
        v["signature"] = json!(b64::encode([0u8; 63]));
        assert_eq!(code(&serde_json::to_vec(&v).expect("j")), "invalid_signature_encoding");
        let mut v = good.clone();
        v["event"]["action"] = json!("explode");
        assert_eq!(code(&serde_json::to_vec(&v).expect("j")), "invalid_event");
        let mut v = good.clone();
        v["event"]["details"] = json!({"blob": "x".repeat(70_000)});
        assert_eq!(code(&serde_json::to_vec(&v).expect("j")), "entry_too_large");
        let mut v = good;
        v["submitter"] = json!("bad id");
        assert_eq!(code(&serde_json::to_vec(&v).expect("j")), "invalid_submission");
    }
}
