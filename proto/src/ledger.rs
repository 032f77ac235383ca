//! Who owns each credential and what state it is in, the rules an event
//! must follow to change it, and the map ([`crate::map`]) that commits to
//! every record (docs/DESIGN.md "Credential ownership"; the record's bytes
//! in docs/MAP.md).
//!
//! Rules, applied to each event that took effect (`outcome: success`,
//! `decision.result: allow`) in index order:
//! * a credential belongs to the target (id, type, system) of the first
//!   event that named it as `credential.fingerprint`; an event for another
//!   target that names it is refused ([`OwnershipError::OwnedByOther`]);
//! * `issue`, `bind`, `grant` and `rotate` make it `active`; a credential
//!   that is `revoked`, `superseded` or `expired` is never made active again
//!   ([`OwnershipError::Retired`]): a new credential has a new fingerprint;
//! * `rotate` supersedes `credential.previous_fingerprint`, which must
//!   belong to the same target;
//! * `revoke` and `unbind` make it `revoked`, `expire` makes an active one
//!   `expired`; a revoke of a credential never seen records it as revoked
//!   (and owned by that target), so that nobody can issue it later;
//! * other actions (`x-…`) and events that did not take effect change
//!   nothing.
//!
//! Each change is a new version of the credential's record, chained to the
//! previous one by its hash. The sequencer refuses events that break a rule
//! (so a log written since carries none); `audit` and the monitor apply the
//! same rules to any history and flag what breaks them.

use crate::event::{Event, Target};
use crate::map::{Key, Map, MapError, MapProof, Value};
use provlog_tlog::b64;
use provlog_tlog::merkle::{Hash, sha256};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Domain tag of a credential's map key.
const KEY_TAG: &[u8] = b"provlog/credential-key/v1\n";
/// Domain tag of a record's map value.
const VALUE_TAG: &[u8] = b"provlog/credential-record/v1\n";

/// The state of a credential in its record.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordState {
    /// Issued, bound, granted, or the new credential of a rotation.
    Active,
    /// Replaced by a rotation.
    Superseded,
    /// Revoked or unbound.
    Revoked,
    /// Expired by an `expire` event (a `not_after` in the past is judged by
    /// whoever reads the record, against their own clock).
    Expired,
}

impl RecordState {
    /// Its name, as the record's JSON writes it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Superseded => "superseded",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// The current state record of one credential: the value its map key
/// commits to (docs/MAP.md "Credential records").
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRecord {
    /// Format version, 1.
    pub v: u8,
    /// `sha256:<64 lowercase hex>`.
    pub fingerprint: String,
    /// Its state.
    pub state: RecordState,
    /// The target it belongs to: that of the first event naming it.
    pub owner: Target,
    /// The submitter of that first event.
    pub issued_by: String,
    /// Its `not_after`, as last stated by an event that made it active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Index of the entry of the last event that changed it.
    pub last_index: u64,
    /// 1 for the first record, one more for each change.
    pub version: u64,
    /// Base64 [`CredentialRecord::value`] of the previous version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

impl CredentialRecord {
    /// The record's canonical bytes (RFC 8785 JSON), written member by
    /// member in JCS order (the sequencer computes one per credential
    /// change; the tests check it against the full canonicalization).
    #[must_use]
    pub fn canonical(&self) -> Vec<u8> {
        use crate::json::canonical_string as cs;
        use std::fmt::Write as _;
        // JCS writes integers beyond 2^53 as doubles: leave those to the
        // full canonicalizer (no log gets there).
        const EXACT: u64 = 1 << 53;
        if self.last_index >= EXACT || self.version >= EXACT {
            return serde_json::to_value(self)
                .ok()
                .and_then(|v| crate::json::canonical(&v).ok())
                .unwrap_or_default();
        }
        let mut s = String::with_capacity(384);
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "{{\"fingerprint\":{},\"issued_by\":{},\"last_index\":{}",
            cs(&self.fingerprint),
            cs(&self.issued_by),
            self.last_index
        );
        if let Some(t) = &self.not_after {
            let _ = write!(s, ",\"not_after\":{}", cs(t));
        }
        let _ = write!(s, ",\"owner\":{{\"id\":{}", cs(&self.owner.id));
        if let Some(sys) = &self.owner.system {
            let _ = write!(s, ",\"system\":{}", cs(sys));
        }
        let _ = write!(s, ",\"type\":{}}}", cs(&self.owner.kind));
        if let Some(p) = &self.previous {
            let _ = write!(s, ",\"previous\":{}", cs(p));
        }
        let _ = write!(
            s,
            ",\"state\":\"{}\",\"v\":{},\"version\":{}}}",
            state_name(self.state),
            self.v,
            self.version
        );
        s.into_bytes()
    }

    /// Its map value: `SHA-256("provlog/credential-record/v1\n" ‖ JCS(record))`.
    #[must_use]
    pub fn value(&self) -> Value {
        record_value(&self.canonical())
    }
}

/// The map value of a record whose canonical bytes are `canonical`:
/// `SHA-256("provlog/credential-record/v1\n" ‖ canonical)`.
#[must_use]
pub fn record_value(canonical: &[u8]) -> Value {
    sha256(&[VALUE_TAG, canonical])
}

impl CredentialRecord {
    /// The record stored as its canonical bytes (what
    /// [`CredentialRecord::canonical`] wrote).
    ///
    /// # Errors
    /// Bytes that are no record.
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// A credential's map key: `SHA-256("provlog/credential-key/v1\n" ‖ fingerprint)`
/// over the fingerprint's ASCII text.
#[must_use]
pub fn credential_key(fingerprint: &str) -> Key {
    sha256(&[KEY_TAG, fingerprint.as_bytes()])
}

/// Why an event may not change a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OwnershipError {
    /// The credential belongs to another target.
    #[error("credential {fingerprint} belongs to {owner}, not to the event's target {target}")]
    OwnedByOther {
        /// The credential.
        fingerprint: String,
        /// Its owner, as `system/type/id`.
        owner: String,
        /// The event's target, the same way.
        target: String,
    },
    /// The credential is revoked, superseded or expired: it cannot be made
    /// active again.
    #[error("credential {fingerprint} is {state}: a retired credential is never made active again (use a new one)")]
    Retired {
        /// The credential.
        fingerprint: String,
        /// Its state.
        state: &'static str,
    },
}

impl OwnershipError {
    /// The stable error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::OwnedByOther { .. } => "credential_owned_by_other",
            Self::Retired { .. } => "credential_retired",
        }
    }
}

fn target_name(t: &Target) -> String {
    format!("{}/{}/{}", t.system.as_deref().unwrap_or("-"), t.kind, t.id)
}

fn state_name(s: RecordState) -> &'static str {
    match s {
        RecordState::Active => "active",
        RecordState::Superseded => "superseded",
        RecordState::Revoked => "revoked",
        RecordState::Expired => "expired",
    }
}

/// Why [`changes`] gives no records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError<E> {
    /// The event breaks a rule.
    #[error(transparent)]
    Rule(#[from] OwnershipError),
    /// Reading a current record failed.
    #[error("reading a credential record: {0}")]
    Read(#[source] E),
}

/// The records event `e` (entry `index`, by `submitter`) would write, or
/// why it may not, given `current`, which reads a credential's current
/// record and its map value (`None`: no event named it yet). The one
/// statement of the rules: [`Ledger`] and the server's stored map both
/// apply them through here.
///
/// # Errors
/// [`CheckError::Rule`] naming the rule; [`CheckError::Read`] when
/// `current` fails.
pub fn changes<E>(
    current: &mut impl FnMut(&str) -> Result<Option<(CredentialRecord, Value)>, E>,
    e: &Event,
    index: u64,
    submitter: &str,
) -> Result<Vec<CredentialRecord>, CheckError<E>> {
    let Some(c) = &e.credential else { return Ok(Vec::new()) };
    if !e.took_effect() {
        return Ok(Vec::new());
    }
    let fp = c.fingerprint.as_str();
    let now = current(fp).map_err(CheckError::Read)?;
    let owned = |r: &CredentialRecord| -> Result<(), OwnershipError> {
        if r.owner == e.target {
            Ok(())
        } else {
            Err(OwnershipError::OwnedByOther {
                fingerprint: r.fingerprint.clone(),
                owner: target_name(&r.owner),
                target: target_name(&e.target),
            })
        }
    };
    let next =
        |r: Option<&(CredentialRecord, Value)>, fingerprint: &str, state: RecordState, not_after: Option<String>| {
            CredentialRecord {
                v: 1,
                fingerprint: fingerprint.to_owned(),
                state,
                owner: r.map_or_else(|| e.target.clone(), |(r, _)| r.owner.clone()),
                issued_by: r.map_or_else(|| submitter.to_owned(), |(r, _)| r.issued_by.clone()),
                not_after,
                last_index: index,
                version: r.map_or(1, |(r, _)| r.version + 1),
                previous: r.map(|(_, v)| b64::encode(v)),
            }
        };
    let not_after_of = |r: Option<&(CredentialRecord, Value)>| r.and_then(|(r, _)| r.not_after.clone());
    let mut out = Vec::new();
    match e.action.as_str() {
        "issue" | "bind" | "grant" | "rotate" => {
            if let Some((r, _)) = &now {
                owned(r)?;
                if r.state != RecordState::Active {
                    return Err(OwnershipError::Retired {
                        fingerprint: fp.to_owned(),
                        state: state_name(r.state),
                    }
                    .into());
                }
            }
            if e.action == "rotate"
                && let Some(p) = c.previous_fingerprint.as_deref().filter(|p| *p != fp)
            {
                let prev = current(p).map_err(CheckError::Read)?;
                if let Some((r, _)) = &prev {
                    owned(r)?;
                }
                match &prev {
                    Some((r, _)) if r.state != RecordState::Active => {}
                    _ => out.push(next(
                        prev.as_ref(),
                        p,
                        RecordState::Superseded,
                        not_after_of(prev.as_ref()),
                    )),
                }
            }
            out.push(next(now.as_ref(), fp, RecordState::Active, c.not_after.clone()));
        }
        "revoke" | "unbind" => {
            if let Some((r, _)) = &now {
                owned(r)?;
            }
            out.push(next(now.as_ref(), fp, RecordState::Revoked, not_after_of(now.as_ref())));
        }
        "expire" => {
            if let Some((r, _)) = &now {
                owned(r)?;
            }
            match &now {
                Some((r, _)) if r.state != RecordState::Active => {}
                _ => out.push(next(now.as_ref(), fp, RecordState::Expired, not_after_of(now.as_ref()))),
            }
        }
        _ => {}
    }
    Ok(out)
}

/// Every credential's record, and the map over them.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    records: HashMap<String, CredentialRecord>,
    /// Every sequenced submitter's chain head ([`crate::chain`]), in the
    /// same map under its own key domain.
    chains: HashMap<String, crate::chain::ChainRecord>,
    map: Map,
}

impl Ledger {
    /// The ledger of a log with no event.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The ledger holding `records` (as [`Ledger::records`] gave them).
    ///
    /// # Errors
    /// [`MapError::Full`].
    pub fn from_records(records: impl IntoIterator<Item = CredentialRecord>) -> Result<Self, MapError> {
        let mut l = Self::new();
        l.apply(records.into_iter().collect())?;
        Ok(l)
    }

    /// Every record, in fingerprint order (to save a ledger).
    #[must_use]
    pub fn records(&self) -> Vec<CredentialRecord> {
        let mut v: Vec<_> = self.records.values().cloned().collect();
        v.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        v
    }

    /// The record of `fingerprint`, if any event named it.
    #[must_use]
    pub fn record(&self, fingerprint: &str) -> Option<&CredentialRecord> {
        self.records.get(fingerprint)
    }

    /// Number of keys in the map: credentials and submitter chains (what
    /// a state leaf's `credentials` counts).
    #[must_use]
    pub fn len(&self) -> usize {
        self.records.len() + self.chains.len()
    }

    /// Whether the map has no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.chains.is_empty()
    }

    /// The chain head of `submitter`, if it is (or was) sequenced.
    #[must_use]
    pub fn chain(&self, submitter: &str) -> Option<&crate::chain::ChainRecord> {
        self.chains.get(submitter)
    }

    /// Every chain record, in submitter order (to save a ledger).
    #[must_use]
    pub fn chains(&self) -> Vec<crate::chain::ChainRecord> {
        let mut v: Vec<_> = self.chains.values().cloned().collect();
        v.sort_by(|a, b| a.submitter.cmp(&b.submitter));
        v
    }

    /// Writes chain records (new heads, or registrations).
    ///
    /// # Errors
    /// [`MapError::Full`].
    pub fn set_chains(&mut self, records: impl IntoIterator<Item = crate::chain::ChainRecord>) -> Result<(), MapError> {
        for r in records {
            self.map.set(crate::chain::chain_key(&r.submitter), r.value())?;
            self.chains.insert(r.submitter.clone(), r);
        }
        Ok(())
    }

    /// Starts the chains the policy leaf `entry` at `index` registers.
    pub fn register_chains(&mut self, policy: &crate::policy::Policy, index: u64, logged_at: &str, entry: &[u8]) {
        let hash = provlog_tlog::merkle::leaf_hash(entry);
        let new = crate::chain::registrations(policy, index, logged_at, &hash, &mut |s| self.chains.contains_key(s));
        // Full needs 2^32 keys.
        let _ = self.set_chains(new);
    }

    /// Moves `submitter`'s chain to entry `index` (bytes `entry`) carrying
    /// `link`; `heartbeat_at` for a heartbeat.
    ///
    /// # Errors
    /// [`crate::chain::ChainError`]: the submitter has no chain, or the
    /// link is not its next one; nothing changes.
    pub fn advance_chain(
        &mut self,
        submitter: &str,
        link: &crate::chain::Link,
        index: u64,
        entry: &[u8],
        heartbeat_at: Option<&str>,
    ) -> Result<(), crate::chain::ChainError> {
        let cur = self
            .chains
            .get(submitter)
            .ok_or_else(|| crate::chain::ChainError::NotSequenced(submitter.to_owned()))?;
        let next = cur.advance(link, index, &provlog_tlog::merkle::leaf_hash(entry), heartbeat_at)?;
        let _ = self.set_chains([next]);
        Ok(())
    }

    /// [`Ledger::prove`] for a submitter's chain record.
    pub fn prove_chain(&mut self, submitter: &str) -> (Option<&crate::chain::ChainRecord>, MapProof) {
        let proof = self.map.prove(&crate::chain::chain_key(submitter));
        (self.chains.get(submitter), proof)
    }

    /// The records event `e` (entry `index`, by `submitter`) would write,
    /// or why it may not; changes nothing.
    ///
    /// # Errors
    /// [`OwnershipError`] naming the rule.
    pub fn check(&self, e: &Event, index: u64, submitter: &str) -> Result<Vec<CredentialRecord>, OwnershipError> {
        let mut read = |fp: &str| -> Result<_, std::convert::Infallible> {
            Ok(self.records.get(fp).map(|r| {
                let v = self.map.get(&credential_key(fp)).copied().unwrap_or_else(|| r.value());
                (r.clone(), v)
            }))
        };
        changes(&mut read, e, index, submitter).map_err(|err| match err {
            CheckError::Rule(r) => r,
            CheckError::Read(never) => match never {},
        })
    }

    /// Writes records [`Ledger::check`] returned.
    ///
    /// # Errors
    /// [`MapError::Full`].
    pub fn apply(&mut self, records: Vec<CredentialRecord>) -> Result<(), MapError> {
        self.apply_valued(records.into_iter().map(|r| {
            let v = r.value();
            (r, v)
        }))
    }

    /// [`Ledger::apply`] for records whose [`CredentialRecord::value`] the
    /// caller computed already (the sequencer hands both ledgers of the
    /// server the same ones).
    ///
    /// # Errors
    /// [`MapError::Full`].
    pub fn apply_valued(
        &mut self,
        records: impl IntoIterator<Item = (CredentialRecord, Value)>,
    ) -> Result<(), MapError> {
        for (r, v) in records {
            self.map.set(credential_key(&r.fingerprint), v)?;
            self.records.insert(r.fingerprint.clone(), r);
        }
        Ok(())
    }

    /// Checks and applies event `e`.
    ///
    /// # Errors
    /// [`OwnershipError`]; nothing changes.
    pub fn push(&mut self, e: &Event, index: u64, submitter: &str) -> Result<(), OwnershipError> {
        let changes = self.check(e, index, submitter)?;
        // Full needs 2^32 credentials; a ledger that large is not in memory.
        let _ = self.apply(changes);
        Ok(())
    }

    /// Applies entry `index` (its bytes) if it is an event: replaying a log
    /// with this from its first entry rebuilds its ledger. Entries that are
    /// not event leaves change nothing.
    ///
    /// # Errors
    /// [`OwnershipError`] for an event that breaks a rule (it changes
    /// nothing: a log written before the rules may hold such events).
    pub fn push_entry(&mut self, index: u64, entry: &[u8]) -> Result<(), OwnershipError> {
        use crate::leaf::Leaf;
        match Leaf::parse(entry) {
            Ok(Leaf::Event(e)) => {
                self.push(&e.event.event, index, &e.submitter)?;
                if let Some(link) = e.event.event.link() {
                    let _ = self.advance_chain(&e.submitter, &link, index, entry, None);
                }
                Ok(())
            }
            Ok(Leaf::Policy(p)) => {
                self.register_chains(&p.policy, index, &p.logged_at, entry);
                Ok(())
            }
            Ok(Leaf::Heartbeat(h)) => {
                let _ = self.advance_chain(&h.submitter, &h.heartbeat.link(), index, entry, Some(&h.logged_at));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The map's root.
    pub fn root(&mut self) -> Hash {
        self.map.root()
    }

    /// The map's root if nothing changed since the last [`Ledger::root`]
    /// (what readers sharing a ledger use).
    #[must_use]
    pub fn clean_root(&self) -> Option<Hash> {
        self.map.clean_root()
    }

    /// [`Ledger::prove`] for readers sharing the ledger: `None` if the map
    /// changed since the last [`Ledger::root`].
    #[must_use]
    pub fn prove_clean(&self, fingerprint: &str) -> Option<(Option<&CredentialRecord>, MapProof)> {
        let proof = self.map.prove_clean(&credential_key(fingerprint))?;
        Some((self.records.get(fingerprint), proof))
    }

    /// Bytes the map holds on the heap (the records are not counted).
    #[must_use]
    pub fn map_heap_bytes(&self) -> usize {
        self.map.heap_bytes()
    }

    /// The record of `fingerprint` (or none) and the map proof of it.
    pub fn prove(&mut self, fingerprint: &str) -> (Option<&CredentialRecord>, MapProof) {
        let proof = self.map.prove(&credential_key(fingerprint));
        (self.records.get(fingerprint), proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::sample;
    use serde_json::json;

    fn fp(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn ev(action: &str, target: &str, f: &str, prev: Option<&str>) -> Event {
        let mut v = sample();
        v["action"] = json!(action);
        v["target"] = json!({"id": target, "type": "service_account", "system": "gcp"});
        let mut c = json!({"fingerprint": f});
        if let Some(p) = prev {
            c["previous_fingerprint"] = json!(p);
        }
        v["credential"] = c;
        Event::from_value(&v).expect("event")
    }

    #[test]
    fn another_team_cannot_revoke_or_revive_a_credential() {
        let (a, b) = (fp('a'), fp('b'));
        let mut l = Ledger::new();
        l.push(&ev("issue", "db-main", &a, None), 1, "db-team").expect("issue");
        // The reproduction of issue 14.3: svc-a revokes db-main's credential.
        let err = l
            .push(&ev("revoke", "svc-a", &a, None), 2, "svc-team")
            .expect_err("refused");
        assert_eq!(err.code(), "credential_owned_by_other");
        assert!(err.to_string().contains("gcp/service_account/db-main"), "{err}");
        assert_eq!(l.record(&a).map(|r| r.state), Some(RecordState::Active));
        // The owner revokes it; nobody makes it active again, not even the owner.
        l.push(&ev("revoke", "db-main", &a, None), 3, "db-team")
            .expect("revoke");
        for t in ["db-main", "svc-a"] {
            assert!(l.push(&ev("issue", t, &a, None), 4, "x").is_err(), "{t}");
        }
        assert_eq!(
            l.check(&ev("issue", "db-main", &a, None), 4, "db-team")
                .expect_err("retired")
                .code(),
            "credential_retired"
        );
        // A rotation may not supersede another target's credential.
        let err = l
            .push(&ev("rotate", "svc-a", &b, Some(&a)), 5, "svc-team")
            .expect_err("refused");
        assert_eq!(err.code(), "credential_owned_by_other");
        assert!(l.record(&b).is_none(), "a refused event changes nothing");
    }

    #[test]
    fn records_chain_and_the_map_commits_to_them() {
        let (a, b) = (fp('a'), fp('b'));
        let mut l = Ledger::new();
        let empty = l.root();
        l.push(&ev("issue", "svc", &a, None), 1, "ci").expect("issue");
        let r1 = l.record(&a).cloned().expect("record");
        assert_eq!(
            (r1.version, r1.previous.as_deref(), r1.issued_by.as_str()),
            (1, None, "ci")
        );
        l.push(&ev("rotate", "svc", &b, Some(&a)), 2, "ci").expect("rotate");
        let r2 = l.record(&a).cloned().expect("record");
        assert_eq!(r2.state, RecordState::Superseded);
        assert_eq!(r2.version, 2);
        assert_eq!(
            r2.previous,
            Some(b64::encode(r1.value())),
            "chained to the previous version"
        );
        assert_eq!(
            l.record(&b).map(|r| (r.state, r.last_index)),
            Some((RecordState::Active, 2))
        );
        let root = l.root();
        assert_ne!(root, empty);
        let (rec, proof) = l.prove(&a);
        let value = rec.expect("present").value();
        proof
            .verify(&root, &credential_key(&a), Some(&value))
            .expect("inclusion");
        let (rec, proof) = l.prove(&fp('c'));
        assert!(rec.is_none());
        proof.verify(&root, &credential_key(&fp('c')), None).expect("absence");
        // Failed or denied events and custom actions change nothing.
        let mut failed = ev("revoke", "svc", &b, None);
        failed.outcome = crate::event::Outcome::Failure;
        l.push(&failed, 3, "ci").expect("no-op");
        l.push(&ev("x-audit", "svc", &b, None), 4, "ci").expect("no-op");
        assert_eq!(l.root(), root);
    }

    #[test]
    fn the_record_bytes_are_its_full_canonicalization() {
        let mut r = CredentialRecord {
            v: 1,
            fingerprint: fp('a'),
            state: RecordState::Superseded,
            owner: Target {
                id: "db-\u{e9}\"main\\\u{1}".into(),
                kind: "service_account".into(),
                system: None,
            },
            issued_by: "t\u{2028}eam".into(),
            not_after: None,
            last_index: 9_007_199_254_740_991,
            version: 3,
            previous: Some("yLgvZ74sVK+y14P3Go2dCgFyr27jCEwPDpE0y+dd6ZM=".into()),
        };
        let full = |r: &CredentialRecord| crate::json::canonical(&serde_json::to_value(r).expect("json")).expect("jcs");
        assert_eq!(r.canonical(), full(&r));
        r.owner.system = Some("gcp".into());
        r.not_after = Some("2027-02-23T10:00:00Z".into());
        r.previous = None;
        for state in [RecordState::Active, RecordState::Revoked, RecordState::Expired] {
            r.state = state;
            assert_eq!(r.canonical(), full(&r));
        }
        r.last_index = 1 << 60;
        assert_eq!(r.canonical(), full(&r), "beyond 2^53 the full canonicalizer decides");
    }

    #[test]
    fn the_record_vector_of_docs_map() {
        let r = CredentialRecord {
            v: 1,
            fingerprint: fp('a'),
            state: RecordState::Active,
            owner: Target {
                id: "db-main".into(),
                kind: "service_account".into(),
                system: Some("gcp".into()),
            },
            issued_by: "db-team".into(),
            not_after: Some("2027-02-23T10:00:00Z".into()),
            last_index: 1,
            version: 1,
            previous: None,
        };
        assert_eq!(
            String::from_utf8(r.canonical()).expect("utf8"),
            format!(
                "{{\"fingerprint\":\"{}\",\"issued_by\":\"db-team\",\"last_index\":1,\"not_after\":\"2027-02-23T10:00:00Z\",\"owner\":{{\"id\":\"db-main\",\"system\":\"gcp\",\"type\":\"service_account\"}},\"state\":\"active\",\"v\":1,\"version\":1}}",
                fp('a')
            )
        );
        assert_eq!(
            b64::encode(credential_key(&fp('a'))),
            "sHFClg44FT0jCmnRdX7E5ZkQJVPp5N2z0HTXEYCl7j8="
        );
        assert_eq!(b64::encode(r.value()), "yLgvZ74sVK+y14P3Go2dCgFyr27jCEwPDpE0y+dd6ZM=");
    }
}
