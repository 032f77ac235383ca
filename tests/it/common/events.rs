//! Events and the signed submissions that carry them.

use provlog_tlog::keys::SignerKey;
use serde_json::{Value, json};

/// The fingerprint [`event`] gives `target`'s credential: one per target,
/// since a credential belongs to one target.
pub(crate) fn fingerprint_of(target: &str) -> String {
    format!(
        "sha256:{}",
        provlog_tlog::hex::encode(provlog_tlog::merkle::sha256(&[target.as_bytes()]))
    )
}

/// A valid event with the given id and target (a rotation of the
/// target's credential, [`fingerprint_of`]).
pub(crate) fn event(id: &str, target: &str) -> Value {
    json!({
        "event_id": id,
        "occurred_at": "2026-11-25T10:00:00Z",
        "action": "rotate",
        "actor": {"id": "wf/rotate-keys", "type": "workflow"},
        "target": {"id": target, "type": "service_account", "system": "gcp"},
        "authority": {"approval_id": "CHG-42", "approved_by": "alice"},
        "decision": {"result": "allow", "policy_id": "rot-90d"},
        "outcome": "success",
        "credential": {"fingerprint": fingerprint_of(target)}
    })
}

/// A signed submission of `event` by `key`.
pub(crate) fn submission(key: &SignerKey, event: &Value) -> Value {
    provlog_proto::submission::sign(event, key.name(), key).expect("sign")
}

/// A submission signed over any JSON, valid event or not (to test that the
/// server, not the client library, refuses bad events).
pub(crate) fn raw_submission(key: &SignerKey, event: &Value) -> Value {
    let jcs = provlog_proto::json::canonical(event).expect("jcs");
    let sig = key.sign_raw(&provlog_proto::submission::signing_message(&jcs));
    json!({"event": event, "submitter": key.name(), "signature": provlog_tlog::b64::encode(sig)})
}

/// Verifies a credential answer for `fingerprint` the way a gateway does:
/// the log key, no witnesses, this machine's clock, a 5-minute max age.
pub(crate) fn verify_credential(
    answer: &provlog_proto::credential::CredentialAnswer,
    fingerprint: &str,
    vkey: &provlog_tlog::keys::VerifierKey,
) -> Result<provlog_proto::credential::VerifiedCredential, provlog_proto::credential::CredentialError> {
    verify_credential_with(answer, fingerprint, vkey, 300_000, None)
}

/// [`verify_credential`] with this `max_age_millis` and, for a historical
/// question, the entry it is about.
pub(crate) fn verify_credential_with(
    answer: &provlog_proto::credential::CredentialAnswer,
    fingerprint: &str,
    vkey: &provlog_tlog::keys::VerifierKey,
    max_age_millis: i64,
    as_of_entry: Option<u64>,
) -> Result<provlog_proto::credential::VerifiedCredential, provlog_proto::credential::CredentialError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    answer.verify_for(
        fingerprint,
        &provlog_proto::credential::Requirements {
            log_key: vkey,
            witnesses: &[],
            min_witnesses: 0,
            now_millis: now,
            max_age_millis,
            as_of_entry,
        },
    )
}

/// The RFC 3339 time `ms` milliseconds from now.
pub(crate) fn now_plus(ms: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    provlog_proto::time::format_millis(i64::try_from(now).expect("ms") + ms).expect("time")
}
