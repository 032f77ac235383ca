//! Signed refusals (docs/REFUSALS.md): when the log refuses an
//! authenticated submission for a reason of authority (scope, validity
//! window, approvals, policy, credential ownership, chain), it signs a
//! statement that it did, why, and under which registry, so that the
//! submitter can show a third party that it tried and the log refused, and
//! an auditor can check the reason against the logged registry.
//!
//! A refusal is signed with the log's key over
//! `"provlog/refusal/v1\n" ‖ JCS(refusal)`. That message never ends in a
//! newline and its second line is JSON, so it is never the text of a
//! signed note (a checkpoint): the log's key signs nothing a checkpoint
//! verifier would accept. Refusals of malformed or unauthenticated input
//! are never signed: a signature only answers a submitter that proved who
//! it is, so the log is no signing oracle for anyone else.

use crate::json;
use provlog_tlog::b64;
use provlog_tlog::keys::{SignerKey, VerifierKey};
use provlog_tlog::merkle::sha256;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Domain separation prefix of a refusal signature.
pub const REFUSAL_CONTEXT: &[u8] = b"provlog/refusal/v1\n";

/// What the log states when it refuses an authenticated submission.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    /// Format version, 1.
    pub v: u8,
    /// The log's checkpoint origin.
    pub origin: String,
    /// What was refused: `event` (`POST /v1/entries`, an item of a batch)
    /// or `heartbeat`.
    pub kind: String,
    /// Base64 SHA-256 of the RFC 8785 canonical form of the submission
    /// object (`{"event",…,"signature",…}` or `{"heartbeat",…}`).
    pub submission: String,
    /// The submitter it authenticated as.
    pub submitter: String,
    /// The event's `event_id`, for an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The error code of the refusal (`out_of_scope`, `approvals_required`,
    /// `chain_gap`, …).
    pub code: String,
    /// The error message.
    pub message: String,
    /// Index of the policy leaf of the registry it was judged under.
    pub policy_index: u64,
    /// When the log refused it (RFC 3339, ms, UTC).
    pub refused_at: String,
    /// The log's tree size when it refused it.
    pub tree_size: u64,
}

/// A refusal and the log's signature over it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRefusal {
    /// The statement.
    pub refusal: Refusal,
    /// Base64 Ed25519 signature by the log's key over
    /// `"provlog/refusal/v1\n" ‖ JCS(refusal)`.
    pub signature: String,
}

/// Why a signed refusal does not hold.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalError {
    /// Not a refusal object.
    #[error("not a signed refusal: {0}")]
    Malformed(String),
    /// The signature does not verify under the log's key, or the origin
    /// is not the key's.
    #[error("the refusal's signature does not verify under the log key {0:?}")]
    Signature(String),
    /// It is about another submission.
    #[error("the refusal is about submission {claimed}, not this one ({actual})")]
    OtherSubmission {
        /// The digest it names.
        claimed: String,
        /// The digest of the submission given.
        actual: String,
    },
}

/// The digest a refusal names for `submission` (a parsed submission
/// object): base64 SHA-256 of its canonical JSON.
#[must_use]
pub fn submission_digest(submission: &Value) -> String {
    let jcs = json::canonical(submission).unwrap_or_default();
    b64::encode(sha256(&[&jcs]))
}

/// The digest of a submission body (`None` if it is not JSON).
#[must_use]
pub fn body_digest(body: &[u8]) -> Option<String> {
    json::parse_strict(body).ok().map(|v| submission_digest(&v))
}

impl Refusal {
    /// The bytes the log signs.
    #[must_use]
    pub fn message(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).unwrap_or_default();
        [REFUSAL_CONTEXT, &json::canonical(&v).unwrap_or_default()].concat()
    }

    /// Signs it with the log's key.
    #[must_use]
    pub fn sign(self, key: &SignerKey) -> SignedRefusal {
        let sig = key.sign_raw(&self.message());
        SignedRefusal {
            refusal: self,
            signature: b64::encode(sig),
        }
    }
}

impl SignedRefusal {
    /// Reads one from JSON.
    ///
    /// # Errors
    /// [`RefusalError::Malformed`].
    pub fn from_value(v: &Value) -> Result<Self, RefusalError> {
        serde_json::from_value(v.clone()).map_err(|e| RefusalError::Malformed(e.to_string()))
    }

    /// Checks the signature under `log_key`, whose name must be the
    /// refusal's origin.
    ///
    /// # Errors
    /// [`RefusalError::Signature`].
    pub fn verify(&self, log_key: &VerifierKey) -> Result<(), RefusalError> {
        let sig = b64::decode_array::<64>(&self.signature);
        let ok = log_key.name() == self.refusal.origin
            && sig.is_some_and(|s| log_key.verify_raw(&self.refusal.message(), &s));
        if ok {
            Ok(())
        } else {
            Err(RefusalError::Signature(log_key.name().to_owned()))
        }
    }

    /// Checks that it is about `submission` (a parsed submission object).
    ///
    /// # Errors
    /// [`RefusalError::OtherSubmission`].
    pub fn covers(&self, submission: &Value) -> Result<(), RefusalError> {
        let actual = submission_digest(submission);
        if actual == self.refusal.submission {
            Ok(())
        } else {
            Err(RefusalError::OtherSubmission {
                claimed: self.refusal.submission.clone(),
                actual,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provlog_tlog::keys::ALG_ED25519;

    fn refusal() -> Refusal {
        Refusal {
            v: 1,
            origin: "log.example/x".into(),
            kind: "event".into(),
            submission: submission_digest(&serde_json::json!({"event": {"a": 1}, "submitter": "ci"})),
            submitter: "ci".into(),
            event_id: Some("e-1".into()),
            code: "out_of_scope".into(),
            message: "submitter \"ci\" may not log revoke".into(),
            policy_index: 0,
            refused_at: "2026-12-03T10:00:00.000Z".into(),
            tree_size: 7,
        }
    }

    #[test]
    fn a_refusal_verifies_under_the_log_key_only_and_names_its_submission() {
        let key = SignerKey::from_seed("log.example/x", ALG_ED25519, [5; 32]).expect("k");
        let other = SignerKey::from_seed("log.example/x", ALG_ED25519, [6; 32]).expect("k");
        let s = refusal().sign(&key);
        assert!(s.verify(&key.verifier()).is_ok());
        assert!(s.verify(&other.verifier()).is_err());
        let mut t = s.clone();
        t.refusal.code = "approvals_required".into();
        assert!(t.verify(&key.verifier()).is_err(), "altered after signing");
        // Member order and spacing do not change the digest.
        assert!(
            s.covers(&serde_json::from_str(r#"{ "submitter":"ci", "event":{"a":1} }"#).expect("j"))
                .is_ok()
        );
        assert!(
            s.covers(&serde_json::json!({"event": {"a": 2}, "submitter": "ci"}))
                .is_err()
        );
        // Round trip through JSON.
        let v = serde_json::to_value(&s).expect("json");
        assert_eq!(SignedRefusal::from_value(&v).expect("parse"), s);
    }

    #[test]
    fn the_signed_message_is_never_a_note_text() {
        let m = refusal().message();
        assert!(m.starts_with(REFUSAL_CONTEXT));
        assert!(!m.ends_with(b"\n"), "a note's text ends with a newline");
        assert!(
            provlog_tlog::checkpoint::Checkpoint::parse(&String::from_utf8(m).expect("utf8")).is_err(),
            "not a checkpoint body"
        );
    }
}
