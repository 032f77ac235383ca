//! Credential state (docs/DESIGN.md `GET /v1/credentials/<fingerprint>`): the
//! state a gateway relies on, derived from the logged events that name a
//! fingerprint, and the offline check of the log's answer.
//!
//! Rules, applied to the history in index order (decisions where docs/DESIGN.md
//! is silent are marked *):
//! * only events that took effect (`outcome: success`, `decision.result:
//!   allow`) change the state; the others stay in the history *;
//! * naming the fingerprint as `credential.fingerprint`: `issue`, `bind`,
//!   `rotate` (it is the new credential) and `grant`* make it `active`
//!   (remembering that event's `not_after`); `revoke` and `unbind`* make it
//!   `revoked`; `expire` makes it `expired`; `x-…` actions change nothing*;
//! * a `rotate` naming it as `credential.previous_fingerprint` makes it
//!   `superseded`;
//! * an `active` credential whose `not_after` is at or before the
//!   evaluation time is `expired`;
//! * no event: `unknown`.
//!
//! What an answer can and cannot prove: every cited event is in the log
//! (inclusion proofs against one signed checkpoint) and the state follows
//! from them. It cannot prove that no other event names the fingerprint;
//! that completeness rests on monitors replaying the log (see `audit`).

use crate::event::{Event, check_fingerprint};
use crate::leaf::{EventLeaf, Leaf, LeafError};
use crate::time;
use provlog_tlog::b64;
use provlog_tlog::checkpoint::{Checkpoint, CheckpointError, open_checkpoint};
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::{self, VerifyError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The derived state of a credential.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialState {
    /// Issued, bound, or the new credential of a rotation, and not expired.
    Active,
    /// Replaced by a later rotation.
    Superseded,
    /// Revoked (or unbound).
    Revoked,
    /// Expired by an `expire` event or past its `not_after`.
    Expired,
    /// No event names it.
    Unknown,
}

/// Derives the state of `fingerprint` from the events that name it, in
/// index order, at `now_millis` (Unix ms).
#[must_use]
pub fn derive_state<'a>(
    fingerprint: &str,
    history: impl IntoIterator<Item = &'a Event>,
    now_millis: i64,
) -> CredentialState {
    let mut t = StateTracker::new(fingerprint);
    for e in history {
        t.apply(e);
    }
    t.state_at(now_millis)
}

/// [`derive_state`] one event at a time, so that a long history need not
/// be held in memory: feed the events naming the fingerprint in index
/// order, then ask for the state at a time.
#[derive(Debug, Clone)]
pub struct StateTracker {
    fingerprint: String,
    state: CredentialState,
    not_after: Option<i64>,
}

impl StateTracker {
    /// A tracker of `fingerprint` that has seen no event (`unknown`).
    #[must_use]
    pub fn new(fingerprint: &str) -> Self {
        Self {
            fingerprint: fingerprint.to_owned(),
            state: CredentialState::Unknown,
            not_after: None,
        }
    }

    /// Applies the next event in index order (events that do not name the
    /// fingerprint, or did not take effect, change nothing).
    pub fn apply(&mut self, e: &Event) {
        let Some(c) = &e.credential else { return };
        if !e.took_effect() {
            return;
        }
        if c.fingerprint == self.fingerprint {
            match e.action.as_str() {
                "issue" | "bind" | "rotate" | "grant" => {
                    self.state = CredentialState::Active;
                    self.not_after = c.not_after.as_deref().and_then(|t| time::parse_millis(t).ok());
                }
                "revoke" | "unbind" => self.state = CredentialState::Revoked,
                "expire" => self.state = CredentialState::Expired,
                _ => {}
            }
        } else if c.previous_fingerprint.as_deref() == Some(self.fingerprint.as_str()) && e.action == "rotate" {
            self.state = CredentialState::Superseded;
        }
    }

    /// The state at `now_millis` (Unix ms) after the events applied so far.
    #[must_use]
    pub fn state_at(&self, now_millis: i64) -> CredentialState {
        if self.state == CredentialState::Active && self.not_after.is_some_and(|t| t <= now_millis) {
            CredentialState::Expired
        } else {
            self.state
        }
    }
}

/// Whether `e` names `fingerprint` (as the credential or the one it replaces).
#[must_use]
pub fn names(e: &Event, fingerprint: &str) -> bool {
    e.credential
        .as_ref()
        .is_some_and(|c| c.fingerprint == fingerprint || c.previous_fingerprint.as_deref() == Some(fingerprint))
}

/// One cited entry of a credential answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// Entry index.
    pub index: u64,
    /// Base64 leaf hash.
    pub leaf_hash: String,
    /// Base64 entry bytes.
    pub entry: String,
    /// The leaf JSON (informative; checked to equal `entry`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub decoded: Value,
    /// Base64 inclusion proof against the answer's checkpoint.
    pub proof: Vec<String>,
}

/// The answer of `GET /v1/credentials/<fingerprint>`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialAnswer {
    /// The fingerprint asked about.
    pub fingerprint: String,
    /// The derived state.
    pub state: CredentialState,
    /// The time expiry was evaluated at (RFC 3339).
    pub evaluated_at: String,
    /// The signed checkpoint every proof is against.
    pub checkpoint: String,
    /// Every logged event naming the fingerprint, in index order, or, in
    /// a page of a long history, those of this page.
    pub history: Vec<HistoryItem>,
    /// Present only on a page that is not the last one of a history too
    /// large for one answer: ask again with `after=<next_after>` and
    /// `tree_size=<this checkpoint's size>` for the next page, and
    /// [`CredentialAnswer::merge`] the pages. The `state` of every page is
    /// derived from the whole history, but only the merged answer lets a
    /// client check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

/// Why a credential answer does not hold.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialError {
    /// The fingerprint is malformed.
    #[error("fingerprint: {0}")]
    Fingerprint(String),
    /// The checkpoint is malformed or not signed by the log key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A field does not decode.
    #[error("history entry {index}: {what} is not valid base64")]
    Encoding {
        /// Entry index.
        index: u64,
        /// Which field.
        what: &'static str,
    },
    /// `leaf_hash` is not the hash of `entry`.
    #[error("history entry {0}: leaf_hash is not SHA-256(0x00 || entry)")]
    LeafHash(u64),
    /// An inclusion proof fails.
    #[error("history entry {index}: inclusion proof: {err}")]
    Inclusion {
        /// Entry index.
        index: u64,
        /// Why.
        err: VerifyError,
    },
    /// An entry is not an event leaf naming the fingerprint.
    #[error("history entry {index}: {reason}")]
    NotAbout {
        /// Entry index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// History is not in strictly increasing index order.
    #[error("history is not in increasing index order at entry {0}")]
    Order(u64),
    /// `decoded` differs from the entry bytes.
    #[error("history entry {0}: decoded does not match entry")]
    Decoded(u64),
    /// `evaluated_at` is not a time.
    #[error("evaluated_at: {0}")]
    Time(String),
    /// A genuine answer, but about another credential than the one asked.
    #[error("the answer is about {answered}, not the credential asked about, {asked}")]
    OtherCredential {
        /// The fingerprint asked about.
        asked: String,
        /// The fingerprint the answer is about.
        answered: String,
    },
    /// A page of a longer history: its state cannot be checked alone.
    #[error("a page of a longer history (next_after {0}): fetch the remaining pages and merge them")]
    Partial(u64),
    /// Pages that do not form one answer.
    #[error("pages do not merge: {0}")]
    Pages(String),
    /// The stated state does not follow from the history.
    #[error("state {claimed:?} does not follow from the history, which gives {derived:?}")]
    State {
        /// What the answer says.
        claimed: CredentialState,
        /// What the history gives.
        derived: CredentialState,
    },
}

/// A credential answer that verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCredential {
    /// The state, as derived.
    pub state: CredentialState,
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// The cited events with their indexes.
    pub history: Vec<(u64, EventLeaf)>,
}

impl CredentialAnswer {
    /// Verifies the answer offline with only the log's key: the checkpoint
    /// signature, every entry's leaf hash and inclusion proof, that every
    /// entry is an event naming the fingerprint, index order, and that the
    /// stated state follows from the history at `evaluated_at`.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn verify(&self, log_key: &VerifierKey) -> Result<VerifiedCredential, CredentialError> {
        if let Some(n) = self.next_after {
            return Err(CredentialError::Partial(n));
        }
        check_fingerprint("fingerprint", &self.fingerprint).map_err(|e| CredentialError::Fingerprint(e.to_string()))?;
        let (checkpoint, _) = open_checkpoint(self.checkpoint.as_bytes(), log_key)?;
        let at = time::parse_millis(&self.evaluated_at).map_err(|e| CredentialError::Time(e.to_string()))?;
        let mut history = Vec::with_capacity(self.history.len());
        let mut last: Option<u64> = None;
        for item in &self.history {
            let i = item.index;
            if last.is_some_and(|l| l >= i) {
                return Err(CredentialError::Order(i));
            }
            last = Some(i);
            let entry = b64::decode(&item.entry).map_err(|_| CredentialError::Encoding {
                index: i,
                what: "entry",
            })?;
            let lh: [u8; 32] = b64::decode_array(&item.leaf_hash).ok_or(CredentialError::Encoding {
                index: i,
                what: "leaf_hash",
            })?;
            if merkle::leaf_hash(&entry) != lh {
                return Err(CredentialError::LeafHash(i));
            }
            let proof = item
                .proof
                .iter()
                .map(|p| {
                    b64::decode(p).map_err(|_| CredentialError::Encoding {
                        index: i,
                        what: "proof",
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            merkle::verify_inclusion(i, checkpoint.size, &lh, &proof, &checkpoint.root)
                .map_err(|err| CredentialError::Inclusion { index: i, err })?;
            if Leaf::to_value(&entry).ok().as_ref() != Some(&item.decoded) {
                return Err(CredentialError::Decoded(i));
            }
            let leaf = Leaf::parse(&entry).map_err(|e: LeafError| CredentialError::NotAbout {
                index: i,
                reason: e.to_string(),
            })?;
            let Leaf::Event(ev) = leaf else {
                return Err(CredentialError::NotAbout {
                    index: i,
                    reason: "a policy leaf".into(),
                });
            };
            if !names(&ev.event.event, &self.fingerprint) {
                return Err(CredentialError::NotAbout {
                    index: i,
                    reason: "the event does not name this fingerprint".into(),
                });
            }
            history.push((i, *ev));
        }
        let derived = derive_state(&self.fingerprint, history.iter().map(|(_, e)| &e.event.event), at);
        if derived != self.state {
            return Err(CredentialError::State {
                claimed: self.state,
                derived,
            });
        }
        Ok(VerifiedCredential {
            state: derived,
            checkpoint,
            history,
        })
    }
}

impl CredentialAnswer {
    /// [`CredentialAnswer::verify`], and that the answer is about
    /// `fingerprint`: a genuine answer about another credential (an active
    /// one, say, offered for a revoked one) fails. What a gateway calls.
    ///
    /// # Errors
    /// [`CredentialError::OtherCredential`], or the first check of
    /// [`CredentialAnswer::verify`] that fails.
    pub fn verify_for(&self, fingerprint: &str, log_key: &VerifierKey) -> Result<VerifiedCredential, CredentialError> {
        if self.fingerprint != fingerprint {
            return Err(CredentialError::OtherCredential {
                asked: fingerprint.to_owned(),
                answered: self.fingerprint.clone(),
            });
        }
        self.verify(log_key)
    }

    /// Merges the pages of one answer, in the order they were fetched, into
    /// the answer a single page would have been: the pages must be about
    /// one fingerprint and carry one checkpoint (the client pins it with
    /// `tree_size`), each page must start after the previous page's
    /// `next_after`, and only the last may have more to come. The merged
    /// answer takes the last page's `state` and `evaluated_at`;
    /// [`CredentialAnswer::verify`] then checks everything.
    ///
    /// # Errors
    /// [`CredentialError::Pages`] naming the first page that does not fit.
    pub fn merge(pages: impl IntoIterator<Item = Self>) -> Result<Self, CredentialError> {
        let mut pages = pages.into_iter();
        let mut merged = pages.next().ok_or_else(|| CredentialError::Pages("no page".into()))?;
        for (n, page) in pages.enumerate() {
            let n = n + 2;
            let Some(after) = merged.next_after else {
                return Err(CredentialError::Pages(format!("page {n} follows a last page")));
            };
            if page.fingerprint != merged.fingerprint {
                return Err(CredentialError::Pages(format!("page {n} is about another fingerprint")));
            }
            if page.checkpoint != merged.checkpoint {
                return Err(CredentialError::Pages(format!(
                    "page {n} carries another checkpoint (pin the pages with tree_size)"
                )));
            }
            if page.history.first().is_some_and(|h| h.index <= after) {
                return Err(CredentialError::Pages(format!(
                    "page {n} starts at or before the previous page's next_after {after}"
                )));
            }
            merged.history.extend(page.history);
            merged.state = page.state;
            merged.evaluated_at = page.evaluated_at;
            merged.next_after = page.next_after;
        }
        Ok(merged)
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

    fn ev(action: &str, f: &str, prev: Option<&str>, not_after: Option<&str>) -> Event {
        let mut v = sample();
        v["action"] = json!(action);
        let mut c = json!({"fingerprint": f});
        if let Some(p) = prev {
            c["previous_fingerprint"] = json!(p);
        }
        if let Some(t) = not_after {
            c["not_after"] = json!(t);
        }
        v["credential"] = c;
        Event::from_value(&v).expect("event")
    }

    #[test]
    fn lifecycle_issue_rotate_revoke_expire() {
        let (a, b) = (fp('a'), fp('b'));
        let now = time::parse_millis("2026-06-01T00:00:00Z").expect("t");
        let later = time::parse_millis("2028-01-01T00:00:00Z").expect("t");
        let issue = ev("issue", &a, None, Some("2027-01-01T00:00:00Z"));
        let rotate = ev("rotate", &b, Some(&a), None);
        let revoke = ev("revoke", &b, None, None);
        assert_eq!(derive_state(&a, [], now), CredentialState::Unknown);
        assert_eq!(derive_state(&a, [&issue], now), CredentialState::Active);
        assert_eq!(derive_state(&a, [&issue], later), CredentialState::Expired);
        assert_eq!(derive_state(&a, [&issue, &rotate], now), CredentialState::Superseded);
        assert_eq!(derive_state(&b, [&rotate], now), CredentialState::Active);
        assert_eq!(
            derive_state(&b, [&rotate], later),
            CredentialState::Active,
            "no not_after"
        );
        assert_eq!(derive_state(&b, [&rotate, &revoke], now), CredentialState::Revoked);
        assert_eq!(
            derive_state(&a, [&ev("expire", &a, None, None)], now),
            CredentialState::Expired
        );
        assert_eq!(
            derive_state(&a, [&ev("bind", &a, None, None), &ev("unbind", &a, None, None)], now),
            CredentialState::Revoked
        );
        // Failed or denied actions are history, not state.
        let mut failed = ev("revoke", &a, None, None);
        failed.outcome = crate::event::Outcome::Failure;
        assert_eq!(derive_state(&a, [&issue, &failed], now), CredentialState::Active);
        let mut denied = ev("revoke", &a, None, None);
        denied.decision.result = crate::event::DecisionResult::Deny;
        assert_eq!(derive_state(&a, [&issue, &denied], now), CredentialState::Active);
        // Custom actions change nothing; re-issue after revoke is active again.
        assert_eq!(
            derive_state(&a, [&issue, &ev("x-audit", &a, None, None)], now),
            CredentialState::Active
        );
        assert_eq!(
            derive_state(
                &a,
                [&issue, &ev("revoke", &a, None, None), &ev("issue", &a, None, None)],
                now
            ),
            CredentialState::Active
        );
        assert!(names(&rotate, &a) && names(&rotate, &b) && !names(&issue, &b));
    }

    fn page(indexes: &[u64], next_after: Option<u64>, checkpoint: &str) -> CredentialAnswer {
        CredentialAnswer {
            fingerprint: fp('a'),
            state: CredentialState::Active,
            evaluated_at: "2026-12-01T00:00:00Z".into(),
            checkpoint: checkpoint.into(),
            history: indexes
                .iter()
                .map(|i| HistoryItem {
                    index: *i,
                    leaf_hash: String::new(),
                    entry: String::new(),
                    decoded: Value::Null,
                    proof: Vec::new(),
                })
                .collect(),
            next_after,
        }
    }

    #[test]
    fn pages_merge_only_when_they_chain() {
        let m = CredentialAnswer::merge([page(&[1, 4], Some(4), "c"), page(&[9], None, "c")]).expect("merge");
        assert_eq!(m.history.iter().map(|h| h.index).collect::<Vec<_>>(), [1, 4, 9]);
        assert_eq!(m.next_after, None);
        // A page with more to come cannot be verified alone.
        let key = provlog_tlog::keys::SignerKey::from_seed("log.example/x", provlog_tlog::keys::ALG_ED25519, [7; 32])
            .expect("key");
        assert_eq!(
            page(&[1], Some(1), "c").verify(&key.verifier()),
            Err(CredentialError::Partial(1))
        );
        for bad in [
            vec![page(&[1], None, "c"), page(&[2], None, "c")],
            vec![page(&[1], Some(1), "c"), page(&[2], None, "other")],
            vec![page(&[1, 4], Some(4), "c"), page(&[4], None, "c")],
            vec![],
        ] {
            assert!(
                matches!(CredentialAnswer::merge(bad), Err(CredentialError::Pages(_))),
                "refused"
            );
        }
    }
}
