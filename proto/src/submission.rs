//! What a submitter sends: `{"event": {...}, "submitter": "<id>",
//! "signature": "<base64>", "signature_version": 2, "approvals": [...]}`
//! (`approvals` optional: signed approvals, [`crate::approval`]), where the signature
//! is Ed25519 over `"provlog/event/v2\n" || origin || "\n" || JCS(event)`
//! (bound to one log, whose checkpoint origin it names) or, without
//! `signature_version` (or with 1), over `"provlog/event/v1\n" ||
//! JCS(event)` (bound to no log; docs/DESIGN.md "Submitters and delegated
//! authority", "One log per signature").

use crate::approval::{self, SignedApproval};
use crate::event::{CanonicalEvent, EventError};
use crate::json::{self, JsonError};
use crate::leaf::EventLeafTemplate;
use crate::policy;
use provlog_tlog::b64;
use provlog_tlog::keys::{SignerKey, VerifierKey};
use provlog_tlog::tile::MAX_ENTRY_BYTES;
use serde::Deserialize;
use serde_json::Value;

/// Domain separation prefix of the event signature, version 1 (bound to
/// no log).
pub const EVENT_SIGNATURE_CONTEXT: &[u8] = b"provlog/event/v1\n";
/// Domain separation prefix of the event signature, version 2 (followed by
/// the log's origin and a newline).
pub const EVENT_SIGNATURE_CONTEXT_V2: &[u8] = b"provlog/event/v2\n";

/// Which message an event signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// `"provlog/event/v1\n" || JCS(event)`: valid in any log that
    /// registers the key.
    #[default]
    V1,
    /// `"provlog/event/v2\n" || origin || "\n" || JCS(event)`: valid only
    /// in the log with that checkpoint origin.
    V2,
}

impl SignatureVersion {
    /// Its number, as submissions and event leaves write it.
    #[must_use]
    pub const fn number(self) -> u64 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// The version numbered `n`, if there is one.
    #[must_use]
    pub const fn from_number(n: u64) -> Option<Self> {
        match n {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }

    /// The exact bytes signed for an event with canonical bytes
    /// `event_jcs` in the log whose origin is `origin` (ignored by
    /// [`SignatureVersion::V1`]).
    #[must_use]
    pub fn message(self, origin: &str, event_jcs: &[u8]) -> Vec<u8> {
        match self {
            Self::V1 => signing_message(event_jcs),
            Self::V2 => signing_message_v2(origin, event_jcs),
        }
    }
}

/// The exact bytes a submitter signs (version 1) for an event with
/// canonical bytes `jcs`.
#[must_use]
pub fn signing_message(event_jcs: &[u8]) -> Vec<u8> {
    [EVENT_SIGNATURE_CONTEXT, event_jcs].concat()
}

/// The exact bytes a submitter signs (version 2) for an event with
/// canonical bytes `jcs` logged in the log whose checkpoint origin is
/// `origin`.
#[must_use]
pub fn signing_message_v2(origin: &str, event_jcs: &[u8]) -> Vec<u8> {
    [EVENT_SIGNATURE_CONTEXT_V2, origin.as_bytes(), b"\n", event_jcs].concat()
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
    #[error("{0}")]
    Event(#[from] EventError),
    /// The signature is not base64 of 64 bytes.
    #[error("signature: must be standard base64 of 64 bytes")]
    SignatureEncoding,
    /// An approval is malformed or over a size limit.
    #[error("{0}")]
    Approval(crate::approval::ApprovalError),
    /// The leaf would be larger than an entry bundle can hold.
    #[error("entry would be {0} bytes; the limit is 65535")]
    TooLarge(usize),
    /// A signed statement (SCITT) that is not one the log registers.
    #[error("statement: {0}")]
    Statement(#[from] crate::statement::StatementError),
    /// A signed statement whose content type the log does not register.
    #[error(
        "statement: content type {0:?} is not registered here; a statement's payload is a provisioning event (application/json)"
    )]
    ContentType(String),
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
            Self::Approval(a) => a.code(),
            Self::TooLarge(_) => "entry_too_large",
            Self::Statement(crate::statement::StatementError::Alg(_)) => "unsupported_alg",
            Self::Statement(crate::statement::StatementError::Smuggled(_)) => "unprotected_claim",
            Self::Statement(crate::statement::StatementError::Detached) => "detached_payload",
            Self::Statement(_) => "invalid_statement",
            Self::ContentType(_) => "unsupported_content_type",
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
    #[serde(default)]
    signature_version: Option<u64>,
    #[serde(default)]
    approvals: Option<Value>,
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
    /// Which message the signature covers.
    pub version: SignatureVersion,
    /// The signed approvals it carries (docs/DESIGN.md "Approvals").
    pub approvals: Vec<SignedApproval>,
    /// The leaf this submission becomes, waiting for its `logged_at`.
    pub leaf: EventLeafTemplate,
    /// The signed statement (SCITT) that carried the event, if it came as
    /// one: the signature is then the statement's.
    pub statement: Option<Box<crate::statement::SignedStatement>>,
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
        let version = match raw.signature_version {
            None => SignatureVersion::V1,
            Some(n) => SignatureVersion::from_number(n)
                .ok_or_else(|| SubmissionError::Schema(format!("signature_version {n}: must be 1 or 2")))?,
        };
        let event = CanonicalEvent::from_value(&raw.event)?;
        let approvals = match &raw.approvals {
            None => Vec::new(),
            Some(v) => approval::parse_list(v).map_err(SubmissionError::Approval)?,
        };
        let leaf = EventLeafTemplate::with_approvals(&event.jcs, &raw.submitter, &signature, version, &approvals);
        if leaf.len() > MAX_ENTRY_BYTES {
            return Err(SubmissionError::TooLarge(leaf.len()));
        }
        Ok(Self {
            event,
            submitter: raw.submitter,
            signature,
            version,
            approvals,
            leaf,
            statement: None,
        })
    }

    /// Reads a signed statement (SCITT, RFC 9943) presented for
    /// registration (`application/cose`): one of
    /// [`crate::statement`]'s form whose payload is a provisioning event's
    /// canonical JSON. The submitter is the statement's issuer; its `kid`
    /// and signature are checked against the registry by admission.
    ///
    /// # Errors
    /// [`SubmissionError::Statement`] for a statement the log does not
    /// take, [`SubmissionError::ContentType`] for a payload other than an
    /// event, [`SubmissionError::Event`] for an event that breaks its
    /// schema, [`SubmissionError::TooLarge`].
    pub fn from_statement(body: &[u8]) -> Result<Self, SubmissionError> {
        let st = crate::statement::SignedStatement::parse(body)?;
        policy::check_submitter_id(&st.issuer)
            .map_err(|r| SubmissionError::Schema(format!("statement issuer: {r}")))?;
        if st.content_type != crate::statement::EVENT_CONTENT_TYPE {
            return Err(SubmissionError::ContentType(st.content_type));
        }
        let event = crate::statement::event_payload(&st).map_err(|e| match e {
            crate::leaf::LeafError::Event(e) => SubmissionError::Event(e),
            other => SubmissionError::Schema(other.to_string()),
        })?;
        let leaf = EventLeafTemplate::statement(&st);
        if leaf.len() > MAX_ENTRY_BYTES {
            return Err(SubmissionError::TooLarge(leaf.len()));
        }
        Ok(Self {
            event,
            submitter: st.issuer.clone(),
            signature: st.signature,
            version: SignatureVersion::V1,
            approvals: Vec::new(),
            leaf,
            statement: Some(Box::new(st)),
        })
    }

    /// The bytes the signature must cover in the log whose origin is
    /// `origin` (a statement's `Sig_structure`, which names no origin).
    #[must_use]
    pub fn signing_message(&self, origin: &str) -> Vec<u8> {
        match &self.statement {
            Some(s) => s.signing_message(),
            None => self.version.message(origin, &self.event.jcs),
        }
    }

    /// Whether the signature verifies (strictly) under `key` for the log
    /// whose origin is `origin` (a version 2 signature made for another
    /// log does not; a statement's `kid` must be the key's ID).
    #[must_use]
    pub fn verify(&self, key: &VerifierKey, origin: &str) -> bool {
        match &self.statement {
            Some(s) => s.verify(key),
            None => key.verify_raw(&self.signing_message(origin), &self.signature),
        }
    }
}

/// Signs `event` (any JSON value; it is canonicalized first) as submitter
/// `submitter` for the log whose checkpoint origin is `origin` (signature
/// version 2: no other log accepts it) and returns the submission JSON
/// object.
///
/// # Errors
/// The event does not pass the schema.
pub fn sign_for_log(event: &Value, submitter: &str, key: &SignerKey, origin: &str) -> Result<Value, SubmissionError> {
    let ce = CanonicalEvent::from_value(event)?;
    let sig = key.sign_raw(&signing_message_v2(origin, &ce.jcs));
    Ok(serde_json::json!({
        "event": event,
        "submitter": submitter,
        "signature": b64::encode(sig),
        "signature_version": 2,
    }))
}

/// Signs `event` (any JSON value; it is canonicalized first) as submitter
/// `submitter` with signature version 1 (bound to no log, accepted unless
/// a log sets `require_origin_binding`) and returns the submission JSON
/// object.
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
        assert!(s.verify(&key().verifier(), "log"));
        let other = SignerKey::from_seed("ci", ALG_ED25519, [8; 32]).expect("key");
        assert!(!s.verify(&other.verifier(), "log"));
        // Member order and whitespace of the event do not matter: the
        // signature covers its canonical form.
        let mut pretty = serde_json::to_string_pretty(&v).expect("json");
        pretty = pretty.replace("\"event_id\"", " \"event_id\"");
        assert!(
            Submission::parse(pretty.as_bytes())
                .expect("parse")
                .verify(&key().verifier(), "log")
        );
        // A changed event does not verify.
        let mut t = v.clone();
        t["event"]["target"]["id"] = json!("svc-other");
        let s = Submission::from_value(t).expect("parse");
        assert!(!s.verify(&key().verifier(), "log"));
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

    /// A version 2 signature is bound to the origin it was made for: it
    /// verifies in that log only, its leaf says `v:2`, and the message is
    /// exactly the documented bytes.
    #[test]
    fn a_version_2_signature_verifies_only_in_its_log() {
        let v = sign_for_log(&sample(), "ci", &key(), "example.com/log-a").expect("sign");
        assert_eq!(v["signature_version"], 2);
        let s = Submission::from_value(v).expect("parse");
        assert_eq!(s.version, SignatureVersion::V2);
        assert!(s.verify(&key().verifier(), "example.com/log-a"));
        assert!(!s.verify(&key().verifier(), "example.com/log-b"));
        assert_eq!(
            s.signing_message("example.com/log-a"),
            [b"provlog/event/v2\nexample.com/log-a\n".as_slice(), &s.event.jcs].concat()
        );
        let leaf = s.leaf.render("2025-11-25T10:00:00.000Z");
        let crate::leaf::Leaf::Event(e) = crate::leaf::Leaf::parse(&leaf).expect("leaf") else {
            panic!("not an event leaf")
        };
        assert_eq!(e.version, SignatureVersion::V2);
        assert!(e.verify(&key().verifier(), "example.com/log-a"));
        assert!(!e.verify(&key().verifier(), "example.com/log-b"));
        // A version 1 signature verifies under any origin, as before.
        let s1 = Submission::from_value(sign(&sample(), "ci", &key()).expect("sign")).expect("parse");
        assert_eq!(s1.version, SignatureVersion::V1);
        assert!(s1.verify(&key().verifier(), "example.com/log-b"));
        // Relabelling a version 2 signature as version 1 (or the reverse)
        // does not verify: the messages differ.
        let mut relabelled = sign_for_log(&sample(), "ci", &key(), "example.com/log-a").expect("sign");
        relabelled["signature_version"] = json!(1);
        let r = Submission::from_value(relabelled).expect("parse");
        assert!(!r.verify(&key().verifier(), "example.com/log-a"));
    }

    #[test]
    fn unknown_signature_versions_are_refused() {
        for bad in [json!(0), json!(3), json!("2"), json!(-1), json!(2.5)] {
            let mut v = sign_for_log(&sample(), "ci", &key(), "o").expect("sign");
            v["signature_version"] = bad.clone();
            let e = Submission::from_value(v).expect_err("refused");
            assert_eq!(e.code(), "invalid_submission", "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// For any two origins, an event signed for one verifies there and
        /// never in the other; member order does not matter.
        #[test]
        fn version_2_binds_any_origin(a in "[a-z0-9./-]{1,40}", b in "[a-z0-9./-]{1,40}", id in "[a-z0-9-]{1,20}") {
            let mut ev = sample();
            ev["event_id"] = json!(id);
            let v = sign_for_log(&ev, "ci", &key(), &a).expect("sign");
            let pretty = serde_json::to_string_pretty(&v).expect("json");
            let s = Submission::parse(pretty.as_bytes()).expect("parse");
            proptest::prop_assert!(s.verify(&key().verifier(), &a));
            proptest::prop_assert_eq!(s.verify(&key().verifier(), &b), a == b);
        }
    }

    /// `testdata/vectors/event_signature_v2.json`, computed with another
    /// Ed25519 implementation: the same messages, the same signatures, the
    /// same leaf, and a version 2 signature valid under its origin only.
    #[test]
    fn event_signature_vectors() {
        let v: Value =
            serde_json::from_str(include_str!("../../testdata/vectors/event_signature_v2.json")).expect("json");
        let seed: [u8; 32] = provlog_tlog::hex::decode(v["seed_hex"].as_str().expect("seed"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let k = SignerKey::from_seed("ci", ALG_ED25519, seed).expect("key");
        let ce = CanonicalEvent::from_value(&v["event"]).expect("event");
        assert_eq!(ce.jcs, v["event_jcs"].as_str().expect("jcs").as_bytes());
        let hex = |s: &Value| provlog_tlog::hex::decode(s.as_str().expect("hex")).expect("hex");
        assert_eq!(signing_message(&ce.jcs), hex(&v["message_v1_hex"]));
        assert_eq!(b64::encode(k.sign_raw(&signing_message(&ce.jcs))), v["signature_v1"]);
        let cases = v["cases"].as_array().expect("cases");
        for c in cases {
            let origin = c["origin"].as_str().expect("origin");
            assert_eq!(signing_message_v2(origin, &ce.jcs), hex(&c["message_v2_hex"]));
            let sub = sign_for_log(&v["event"], "ci", &k, origin).expect("sign");
            assert_eq!(sub["signature"], c["signature_v2"], "{origin}");
            let parsed = Submission::from_value(sub).expect("parse");
            for other in cases {
                let o = other["origin"].as_str().expect("origin");
                assert_eq!(parsed.verify(&k.verifier(), o), o == origin, "{origin} under {o}");
            }
        }
        let l = &v["leaf_v2"];
        let sig: [u8; 64] = b64::decode_array(cases[0]["signature_v2"].as_str().expect("sig")).expect("sig");
        let leaf = EventLeafTemplate::with_version(&ce.jcs, "ci", &sig, SignatureVersion::V2)
            .render(l["logged_at"].as_str().expect("at"));
        assert_eq!(leaf, l["bytes"].as_str().expect("bytes").as_bytes());
    }
}
