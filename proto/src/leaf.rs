//! The leaf object: what is hashed into the tree and stored in entry
//! bundles. Its bytes are the RFC 8785 canonical JSON of
//!
//! ```text
//! {"v":1,"kind":"event","logged_at":"…","submitter":"…","signature":"…","event":{…}}
//! {"v":1,"kind":"event",…,"approvals":[{"approval":{…},"signature":"…"},…]}
//! {"v":1,"kind":"policy","logged_at":"…","policy":{"submitters":[…]}}
//! {"v":1,"kind":"state","logged_at":"…","size":N,"credentials":C,"map_root":"<base64>"}
//! {"v":1,"kind":"heartbeat","logged_at":"…","submitter":"…","signature":"…","heartbeat":{…}}
//! {"v":1,"kind":"policy","logged_at":"…","log_key":{"new":…,"old":…,…}}
//! ```
//!
//! An event leaf with `"v":2` is the same object whose signature is of
//! version 2 (`"provlog/event/v2\n" || origin || "\n" || JCS(event)`, bound
//! to the log's checkpoint origin); other kinds are `v:1` only.
//!
//! at most 65,535 bytes. Leaves are assembled by splicing already canonical
//! parts in JCS member order (ASCII keys sort bytewise), which the tests
//! check against a full canonicalization; [`Leaf::parse`] refuses any bytes
//! that are not exactly canonical.

use crate::approval::{SignedApproval, canonical_list, parse_list};
use crate::cedar::PolicyDecision;
use crate::event::{CanonicalEvent, EventError};
use crate::json::{self, canonical_string};
use crate::policy::Policy;
use crate::submission::SignatureVersion;
use crate::time;
use provlog_tlog::b64;
use provlog_tlog::merkle::Hash;
use serde_json::Value;

/// Length of a `logged_at` value (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
pub const LOGGED_AT_LEN: usize = 24;

/// An event leaf with everything but its `logged_at`, so that the sequencer
/// only splices a timestamp in. Its length is known before sequencing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLeafTemplate {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl EventLeafTemplate {
    /// Prepares the leaf of an event with canonical bytes `event_jcs` and a
    /// version 1 signature.
    #[must_use]
    pub fn new(event_jcs: &[u8], submitter: &str, signature: &[u8; 64]) -> Self {
        Self::with_version(event_jcs, submitter, signature, SignatureVersion::V1)
    }

    /// Prepares the leaf of an event with canonical bytes `event_jcs` and a
    /// signature of `version`: the leaf's `v` is the signature's version
    /// (a `v:2` event leaf's signature is bound to the log's origin).
    #[must_use]
    pub fn with_version(event_jcs: &[u8], submitter: &str, signature: &[u8; 64], version: SignatureVersion) -> Self {
        Self::with_approvals(event_jcs, submitter, signature, version, &[])
    }

    /// Prepares the leaf of an event that carries signed `approvals`: they
    /// are logged as its `approvals` member (left out when there are none,
    /// so a leaf without approvals has the bytes it always had).
    #[must_use]
    pub fn with_approvals(
        event_jcs: &[u8],
        submitter: &str,
        signature: &[u8; 64],
        version: SignatureVersion,
        approvals: &[SignedApproval],
    ) -> Self {
        let mut head = Vec::with_capacity(event_jcs.len() + 48);
        head.push(b'{');
        if !approvals.is_empty() {
            head.extend_from_slice(b"\"approvals\":");
            head.extend_from_slice(&canonical_list(approvals));
            head.push(b',');
        }
        head.extend_from_slice(b"\"event\":");
        head.extend_from_slice(event_jcs);
        head.extend_from_slice(b",\"kind\":\"event\",\"logged_at\":\"");
        let tail = format!(
            "\",\"signature\":\"{}\",\"submitter\":{},\"v\":{}}}",
            b64::encode(signature),
            canonical_string(submitter),
            version.number()
        )
        .into_bytes();
        Self { head, tail }
    }

    /// The leaf bytes before `logged_at`: `{"approvals":…,"event":<JCS
    /// event>,...` — two leaves with the same head log the same event with
    /// the same approvals.
    #[must_use]
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Prepares the leaf of a signed statement whose payload is an event
    /// (docs/SCITT.md "The leaf of a statement"):
    /// `{"cose_sign1":"<base64>","kind":"statement","logged_at":"…","submitter":…,"v":1}`.
    /// The statement's bytes come before `logged_at`, so the head tells a
    /// retry from another statement with the same `event_id`.
    #[must_use]
    pub fn statement(statement: &crate::statement::SignedStatement) -> Self {
        let mut head = Vec::with_capacity(statement.bytes.len() * 4 / 3 + 64);
        head.extend_from_slice(b"{\"cose_sign1\":\"");
        head.extend_from_slice(b64::encode(&statement.bytes).as_bytes());
        head.extend_from_slice(b"\",\"kind\":\"statement\",\"logged_at\":\"");
        let tail = format!("\",\"submitter\":{},\"v\":1}}", canonical_string(&statement.issuer)).into_bytes();
        Self { head, tail }
    }

    /// Length in bytes of the finished leaf.
    #[must_use]
    pub fn len(&self) -> usize {
        self.head.len() + LOGGED_AT_LEN + self.tail.len()
    }

    /// Never true: a leaf has members.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The leaf bytes with `logged_at` (which must be [`LOGGED_AT_LEN`]
    /// ASCII bytes as [`time::format_millis`] writes them).
    #[must_use]
    pub fn render(&self, logged_at: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(logged_at.as_bytes());
        out.extend_from_slice(&self.tail);
        out
    }

    /// The leaf bytes with `logged_at` and the log's own policy decision
    /// (member `policy_decision`, between `logged_at` and `signature` in
    /// canonical order; the head, which recognises a retry, is unchanged).
    #[must_use]
    pub fn render_decided(&self, logged_at: &str, decision: &PolicyDecision) -> Vec<u8> {
        let d = decision.canonical();
        let mut out = Vec::with_capacity(self.len() + d.len() + 20);
        out.extend_from_slice(&self.head);
        out.extend_from_slice(logged_at.as_bytes());
        // The tail starts with the quote that closes `logged_at`.
        out.extend_from_slice(b"\",\"policy_decision\":");
        out.extend_from_slice(&d);
        out.extend_from_slice(self.tail.get(1..).unwrap_or_default());
        out
    }
}

/// The canonical bytes of a policy leaf.
#[must_use]
pub fn policy_leaf(logged_at: &str, policy: &Policy) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"kind\":\"policy\",\"logged_at\":");
    out.extend_from_slice(canonical_string(logged_at).as_bytes());
    out.extend_from_slice(b",\"policy\":");
    out.extend_from_slice(&policy.canonical());
    out.extend_from_slice(b",\"v\":1}");
    out
}

/// The canonical bytes of a state-commitment leaf (docs/MAP.md
/// "State commitments"): the credential map's root over the first `size`
/// entries, which hold `credentials` credentials.
#[must_use]
pub fn state_leaf(logged_at: &str, size: u64, credentials: u64, map_root: &Hash) -> Vec<u8> {
    format!(
        "{{\"credentials\":{credentials},\"kind\":\"state\",\"logged_at\":{},\"map_root\":\"{}\",\"size\":{size},\"v\":1}}",
        canonical_string(logged_at),
        b64::encode(map_root)
    )
    .into_bytes()
}

/// A parsed leaf.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    /// A submitted event.
    Event(Box<EventLeaf>),
    /// A change of the submitter registry.
    Policy(PolicyLeaf),
    /// A commitment to the credential map.
    State(StateLeaf),
    /// A sequenced submitter's heartbeat ([`crate::chain`]).
    Heartbeat(Box<crate::chain::HeartbeatLeaf>),
    /// A `policy`-kind entry that announces a new log key
    /// ([`crate::rotation`]); the registry in force does not change.
    LogKey(Box<LogKeyLeaf>),
}

/// A parsed log key announcement entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKeyLeaf {
    /// When the log sequenced it.
    pub logged_at: String,
    /// The announcement and its two signatures (checked by
    /// [`crate::rotation::SignedAnnouncement::verify`], not by the parser).
    pub announcement: crate::rotation::SignedAnnouncement,
}

/// A parsed state-commitment leaf: the credential map
/// ([`crate::ledger::Ledger`]) after the first `size` entries. A log puts
/// it at index `size`, right after the entries it covers, so a reader
/// checks `size` against the leaf's index ([`StateLeaf::check_index`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLeaf {
    /// When the log sequenced it.
    pub logged_at: String,
    /// Number of entries the map covers: entries `0..size`.
    pub size: u64,
    /// Number of credentials in the map.
    pub credentials: u64,
    /// The map's root (docs/MAP.md).
    pub map_root: Hash,
}

impl StateLeaf {
    /// Checks that this leaf, found at entry `index`, covers exactly the
    /// entries before it.
    ///
    /// # Errors
    /// [`LeafError::Schema`] naming both numbers.
    pub fn check_index(&self, index: u64) -> Result<(), LeafError> {
        if self.size == index {
            Ok(())
        } else {
            Err(LeafError::Schema(format!(
                "state leaf at index {index} claims to cover {} entries",
                self.size
            )))
        }
    }
}

/// A parsed event leaf.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLeaf {
    /// When the log sequenced it.
    pub logged_at: String,
    /// The submitter id.
    pub submitter: String,
    /// The submitter's signature over the event.
    pub signature: [u8; 64],
    /// Which message the signature covers (the leaf's `v`).
    pub version: SignatureVersion,
    /// The event and its canonical bytes (what the signature covers).
    pub event: CanonicalEvent,
    /// The signed approvals it was logged with.
    pub approvals: Vec<SignedApproval>,
    /// The log's decision under the registry's Cedar policies, if it has any.
    pub policy_decision: Option<PolicyDecision>,
    /// The signed statement (SCITT, [`crate::statement`]) that carried the
    /// event, for a `statement` leaf: its `signature` is then the
    /// statement's, over its `Sig_structure`, and `version` is
    /// [`SignatureVersion::V1`] by convention.
    pub statement: Option<Box<crate::statement::SignedStatement>>,
}

impl EventLeaf {
    /// The bytes the signature covers, in the log whose origin is `origin`.
    #[must_use]
    pub fn signing_message(&self, origin: &str) -> Vec<u8> {
        match &self.statement {
            Some(s) => s.signing_message(),
            None => self.version.message(origin, &self.event.jcs),
        }
    }

    /// Whether the signature verifies (strictly) under `key` in the log
    /// whose origin is `origin`.
    #[must_use]
    pub fn verify(&self, key: &provlog_tlog::keys::VerifierKey, origin: &str) -> bool {
        key.verify_raw(&self.signing_message(origin), &self.signature)
    }
}

/// A parsed policy leaf.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyLeaf {
    /// When the log sequenced it.
    pub logged_at: String,
    /// The registry in force from this leaf on.
    pub policy: Policy,
}

/// Why bytes are not a provlog leaf.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeafError {
    /// Not strict JSON.
    #[error("leaf is not JSON: {0}")]
    Json(String),
    /// Not canonical JSON (re-encoding differs).
    #[error("leaf is not in RFC 8785 canonical form")]
    NotCanonical,
    /// Structure, version or kind is wrong.
    #[error("leaf: {0}")]
    Schema(String),
    /// The embedded event breaks its schema.
    #[error("leaf event: {0}")]
    Event(#[from] EventError),
}

fn take_str(m: &serde_json::Map<String, Value>, k: &str) -> Result<String, LeafError> {
    m.get(k)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| LeafError::Schema(format!("member {k:?} missing or not a string")))
}

impl Leaf {
    /// Parses and checks leaf bytes: strict JSON, canonical form, `v == 1`,
    /// known `kind`, exactly the members of that kind, valid contents.
    ///
    /// # Errors
    /// Any [`LeafError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, LeafError> {
        let v = json::parse_strict(bytes).map_err(|e| LeafError::Json(e.to_string()))?;
        if json::canonical(&v).ok().as_deref() != Some(bytes) {
            return Err(LeafError::NotCanonical);
        }
        let Value::Object(m) = &v else {
            return Err(LeafError::Schema("not an object".into()));
        };
        let is_event = m.get("kind").and_then(Value::as_str) == Some("event");
        // A statement leaf's `v` is 1: its signature is the statement's.
        let version = match m.get("v").and_then(Value::as_u64) {
            Some(1) => SignatureVersion::V1,
            // An event leaf's `v` is its signature's version.
            Some(2) if is_event => SignatureVersion::V2,
            _ => {
                return Err(LeafError::Schema(
                    "unsupported version (v must be 1, or 2 for an event)".into(),
                ));
            }
        };
        let logged_at = take_str(m, "logged_at")?;
        if logged_at.len() != LOGGED_AT_LEN || time::parse_millis(&logged_at).is_err() {
            return Err(LeafError::Schema(format!("bad logged_at {logged_at:?}")));
        }
        let members = |want: &[&str]| {
            let mut have: Vec<&str> = m.keys().map(String::as_str).collect();
            have.sort_unstable();
            if have == want {
                Ok(())
            } else {
                Err(LeafError::Schema(format!("members {have:?}, want {want:?}")))
            }
        };
        match m.get("kind").and_then(Value::as_str) {
            Some("event") => {
                let mut want = vec!["event", "kind", "logged_at", "signature", "submitter", "v"];
                for optional in ["approvals", "policy_decision"] {
                    if m.contains_key(optional) {
                        want.push(optional);
                    }
                }
                want.sort_unstable();
                members(&want)?;
                let policy_decision = policy_decision_of(m)?;
                let approvals = match m.get("approvals") {
                    Some(a) => parse_list(a).map_err(|e| LeafError::Schema(e.to_string()))?,
                    None => Vec::new(),
                };
                let signature = b64::decode_array(take_str(m, "signature")?)
                    .ok_or_else(|| LeafError::Schema("signature is not base64 of 64 bytes".into()))?;
                let event = CanonicalEvent::from_value(&m["event"])?;
                Ok(Self::Event(Box::new(EventLeaf {
                    logged_at,
                    submitter: take_str(m, "submitter")?,
                    signature,
                    version,
                    event,
                    approvals,
                    policy_decision,
                    statement: None,
                })))
            }
            Some("statement") => {
                let mut want = vec!["cose_sign1", "kind", "logged_at", "submitter", "v"];
                if m.contains_key("policy_decision") {
                    want.push("policy_decision");
                }
                want.sort_unstable();
                members(&want)?;
                let policy_decision = policy_decision_of(m)?;
                let bytes = b64::decode(take_str(m, "cose_sign1")?)
                    .map_err(|_| LeafError::Schema("cose_sign1 is not base64".into()))?;
                let statement = crate::statement::SignedStatement::parse_logged(&bytes)
                    .map_err(|e| LeafError::Schema(format!("cose_sign1: {e}")))?;
                let submitter = take_str(m, "submitter")?;
                if statement.issuer != submitter {
                    return Err(LeafError::Schema(format!(
                        "submitter {submitter:?} is not the statement's issuer {:?}",
                        statement.issuer
                    )));
                }
                let event = crate::statement::event_payload(&statement)?;
                Ok(Self::Event(Box::new(EventLeaf {
                    logged_at,
                    submitter,
                    signature: statement.signature,
                    version,
                    event,
                    approvals: Vec::new(),
                    policy_decision,
                    statement: Some(Box::new(statement)),
                })))
            }
            Some("policy") if m.contains_key("log_key") => {
                members(&["kind", "log_key", "logged_at", "v"])?;
                let announcement = crate::rotation::SignedAnnouncement::from_value(&m["log_key"])
                    .map_err(|e| LeafError::Schema(e.to_string()))?;
                Ok(Self::LogKey(Box::new(LogKeyLeaf {
                    logged_at,
                    announcement,
                })))
            }
            Some("policy") => {
                members(&["kind", "logged_at", "policy", "v"])?;
                let policy: Policy = serde_json::from_value(m["policy"].clone())
                    .map_err(|e| LeafError::Schema(format!("policy: {e}")))?;
                Ok(Self::Policy(PolicyLeaf { logged_at, policy }))
            }
            Some("state") => {
                members(&["credentials", "kind", "logged_at", "map_root", "size", "v"])?;
                let num = |k: &str| {
                    m[k].as_u64()
                        .ok_or_else(|| LeafError::Schema(format!("{k} is not an unsigned integer")))
                };
                let map_root = b64::decode_array(take_str(m, "map_root")?)
                    .ok_or_else(|| LeafError::Schema("map_root is not base64 of 32 bytes".into()))?;
                Ok(Self::State(StateLeaf {
                    logged_at,
                    size: num("size")?,
                    credentials: num("credentials")?,
                    map_root,
                }))
            }
            Some("heartbeat") => {
                members(&["heartbeat", "kind", "logged_at", "signature", "submitter", "v"])?;
                let heartbeat = crate::chain::Heartbeat::from_value(&m["heartbeat"])
                    .map_err(|e| LeafError::Schema(e.to_string()))?;
                let signature = b64::decode_array(take_str(m, "signature")?)
                    .ok_or_else(|| LeafError::Schema("signature is not base64 of 64 bytes".into()))?;
                let submitter = take_str(m, "submitter")?;
                crate::policy::check_submitter_id(&submitter)
                    .map_err(|r| LeafError::Schema(format!("submitter: {r}")))?;
                Ok(Self::Heartbeat(Box::new(crate::chain::HeartbeatLeaf {
                    logged_at,
                    submitter,
                    signature,
                    heartbeat,
                })))
            }
            _ => Err(LeafError::Schema(
                "kind must be \"event\", \"statement\", \"policy\", \"state\" or \"heartbeat\"".into(),
            )),
        }
    }

    /// When the log sequenced this leaf.
    #[must_use]
    pub fn logged_at(&self) -> &str {
        match self {
            Self::Event(e) => &e.logged_at,
            Self::Policy(p) => &p.logged_at,
            Self::State(c) => &c.logged_at,
            Self::Heartbeat(h) => &h.logged_at,
            Self::LogKey(k) => &k.logged_at,
        }
    }

    /// The leaf's JSON (for the API's `decoded` member).
    ///
    /// # Errors
    /// Never for bytes that [`Leaf::parse`] accepted.
    pub fn to_value(bytes: &[u8]) -> Result<Value, LeafError> {
        json::parse_strict(bytes).map_err(|e| LeafError::Json(e.to_string()))
    }
}

/// A leaf's `policy_decision` member, if any, in its one canonical form.
fn policy_decision_of(m: &serde_json::Map<String, Value>) -> Result<Option<PolicyDecision>, LeafError> {
    let policy_decision = m
        .get("policy_decision")
        .map(|d| serde_json::from_value::<PolicyDecision>(d.clone()))
        .transpose()
        .map_err(|e| LeafError::Schema(format!("policy_decision: {e}")))?;
    if let (Some(d), Some(raw)) = (&policy_decision, m.get("policy_decision"))
        && json::canonical(raw).ok() != Some(d.canonical())
    {
        return Err(LeafError::Schema(
            "policy_decision: not in its one form (an empty errored list, or unknown members)".into(),
        ));
    }
    Ok(policy_decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::sample;
    use crate::json::canonical;
    use serde_json::json;

    #[test]
    fn spliced_event_leaf_is_canonical() {
        let ce = CanonicalEvent::from_value(&sample()).expect("event");
        let sig = [9u8; 64];
        let t = EventLeafTemplate::new(&ce.jcs, "ci/prov\u{e9}", &sig);
        let ts = time::format_millis(1_795_000_000_123).expect("ts");
        let bytes = t.render(&ts);
        assert_eq!(bytes.len(), t.len());
        let want = json!({
            "v": 1, "kind": "event", "logged_at": ts, "submitter": "ci/prov\u{e9}",
            "signature": b64::encode(sig), "event": sample(),
        });
        assert_eq!(bytes, canonical(&want).expect("jcs"));
        match Leaf::parse(&bytes).expect("parse") {
            Leaf::Event(e) => {
                assert_eq!(e.logged_at, ts);
                assert_eq!(e.signature, sig);
                assert_eq!(e.event.jcs, ce.jcs);
            }
            Leaf::Policy(_) | Leaf::State(_) | Leaf::Heartbeat(_) | Leaf::LogKey(_) => panic!("kind"),
        }
    }

    #[test]
    fn policy_leaf_is_canonical_and_parses() {
        let p = Policy::default();
        let bytes = policy_leaf("2026-11-25T00:00:00.000Z", &p);
        let want = json!({"v":1,"kind":"policy","logged_at":"2026-11-25T00:00:00.000Z","policy":{"submitters":[]}});
        assert_eq!(bytes, canonical(&want).expect("jcs"));
        assert_eq!(
            Leaf::parse(&bytes).expect("parse"),
            Leaf::Policy(PolicyLeaf {
                logged_at: "2026-11-25T00:00:00.000Z".into(),
                policy: p,
            })
        );
    }

    #[test]
    fn state_leaf_is_canonical_and_parses() {
        let root = [7u8; 32];
        let bytes = state_leaf("2026-12-02T00:00:00.000Z", 41, 3, &root);
        let want = json!({"v":1,"kind":"state","logged_at":"2026-12-02T00:00:00.000Z",
            "size":41,"credentials":3,"map_root":b64::encode(root)});
        assert_eq!(bytes, canonical(&want).expect("jcs"));
        let Leaf::State(s) = Leaf::parse(&bytes).expect("parse") else {
            panic!("kind")
        };
        assert_eq!((s.size, s.credentials, s.map_root), (41, 3, root));
        assert!(s.check_index(41).is_ok());
        assert!(
            s.check_index(40).is_err(),
            "a leaf must cover exactly the entries before it"
        );
        for bad in [
            json!({"v":1,"kind":"state","logged_at":"2026-12-02T00:00:00.000Z","size":-1,"credentials":3,"map_root":b64::encode(root)}),
            json!({"v":1,"kind":"state","logged_at":"2026-12-02T00:00:00.000Z","size":1,"credentials":3,"map_root":"AAAA"}),
            json!({"v":1,"kind":"state","logged_at":"2026-12-02T00:00:00.000Z","size":1,"map_root":b64::encode(root)}),
        ] {
            assert!(
                matches!(Leaf::parse(&canonical(&bad).expect("j")), Err(LeafError::Schema(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_non_canonical_and_foreign_leaves() {
        let good = policy_leaf("2026-11-25T00:00:00.000Z", &Policy::default());
        let spaced = String::from_utf8(good.clone()).expect("utf8").replace(':', ": ");
        assert_eq!(Leaf::parse(spaced.as_bytes()), Err(LeafError::NotCanonical));
        assert!(matches!(Leaf::parse(b"leaf 0"), Err(LeafError::Json(_))));
        let v2 = String::from_utf8(good.clone())
            .expect("utf8")
            .replace("\"v\":1", "\"v\":2");
        assert!(matches!(Leaf::parse(v2.as_bytes()), Err(LeafError::Schema(_))));
        let odd = canonical(&json!({"v":1,"kind":"other","logged_at":"2026-11-25T00:00:00.000Z"})).expect("j");
        assert!(matches!(Leaf::parse(&odd), Err(LeafError::Schema(_))));
        let extra = canonical(
            &json!({"v":1,"kind":"policy","logged_at":"2026-11-25T00:00:00.000Z","policy":{"submitters":[]},"x":1}),
        )
        .expect("j");
        assert!(matches!(Leaf::parse(&extra), Err(LeafError::Schema(_))));
    }
}
