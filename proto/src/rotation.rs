//! Log key rotation (docs/ROTATION.md): the log announces a new signing key
//! in a `policy`-kind entry signed by its old and its new key, signs its
//! checkpoints with both during an overlap, and with the new key alone
//! after it. A reader that trusts one key of the log follows every
//! rotation it can verify from the log itself: the announcement is an
//! entry, included in a checkpoint signed by both keys.
//!
//! The announcement each key signs is
//!
//! ```text
//! "provlog/log-key/v1\n" ‖ JCS({"new":"<vkey>","old":"<vkey>","overlap_until":"<RFC 3339 ms>"})
//! ```
//!
//! That message never ends in a newline and its second line is JSON, so it
//! is never the text of a signed note: neither key signs anything a
//! checkpoint verifier would accept. The entry is
//!
//! ```text
//! {"kind":"policy","log_key":{"new":…,"new_signature":"<b64>","old":…,"old_signature":"<b64>","overlap_until":…},"logged_at":"…","v":1}
//! ```
//!
//! A log's key history ([`KeyHistory`], served as `log-keys`) lists each
//! announcement with its index, its entry, the first checkpoint that
//! includes it (signed by both keys), the inclusion proof, and a
//! consistency proof from the previous announcement's checkpoint.
//! [`KeyHistory::verify`] turns it into the [`LogKeys`] that open every
//! checkpoint of the log with the key that may sign a tree of its size: the
//! old key up to the announcement's index, the new key above it. Rules:
//!
//! * both signatures verify, the keys are Ed25519 (0x01), name the log's
//!   origin, and differ;
//! * each announcement's `old` is the key the previous one introduced (or
//!   the log's first key), and no key comes back;
//! * each checkpoint is signed by both keys, is larger than the
//!   announcement's index, and includes it; each is consistent with the one
//!   before;
//! * an announcement is not logged before the previous overlap ended (no
//!   second rotation during an overlap);
//! * the key the reader trusts is one of the keys of the history.

use crate::json::canonical_string;
use crate::time;
use provlog_tlog::b64;
use provlog_tlog::checkpoint::{Checkpoint, CheckpointError, LogKeys, open_checkpoint};
use provlog_tlog::keys::{ALG_ED25519, SignerKey, VerifierKey};
use provlog_tlog::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use serde::{Deserialize, Serialize};

/// Domain separation prefix of an announcement signature.
pub const ROTATION_CONTEXT: &[u8] = b"provlog/log-key/v1\n";

/// Most rotations a key history may list (a hostile server cannot make a
/// reader verify more).
pub const MAX_ROTATIONS: usize = 1024;

/// Why an announcement or a key history does not hold.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotationError {
    /// Not an announcement (members, keys, signatures, time).
    #[error("not a log key announcement: {0}")]
    Malformed(String),
    /// A signature does not verify (`which` is `old` or `new`).
    #[error(
        "the announcement's {which} signature does not verify: a rotation must be signed by the old and the new key"
    )]
    Signature {
        /// `old` or `new`.
        which: &'static str,
    },
    /// The keys are not two distinct Ed25519 keys of one name.
    #[error("the announcement's keys: {0}")]
    Keys(String),
    /// The announcement does not start from the key in force.
    #[error("the announcement rotates from {claimed}, but the key in force is {current}")]
    NotFromCurrent {
        /// The `old` it names.
        claimed: String,
        /// The key in force.
        current: String,
    },
    /// An announcement was logged before the previous overlap ended.
    #[error("a second rotation at entry {index} was logged during the overlap of the previous one (until {until})")]
    DuringOverlap {
        /// Its index.
        index: u64,
        /// When the previous overlap ends.
        until: String,
    },
    /// The checkpoint that should include an announcement does not hold.
    #[error("the checkpoint of the rotation at entry {index}: {reason}")]
    Checkpoint {
        /// The announcement's index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// The proofs do not hold.
    #[error("the proofs of the rotation at entry {index}: {reason}")]
    Proof {
        /// The announcement's index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// The key the reader trusts is not in the history.
    #[error("the key {0} is not a key of this log's history (an unannounced key)")]
    UnknownKey(String),
}

impl RotationError {
    /// Its stable error code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "rotation_malformed",
            Self::Signature { .. } => "rotation_signature",
            Self::Keys(_) => "rotation_keys",
            Self::NotFromCurrent { .. } => "rotation_not_from_current",
            Self::DuringOverlap { .. } => "rotation_during_overlap",
            Self::Checkpoint { .. } => "rotation_checkpoint",
            Self::Proof { .. } => "rotation_proof",
            Self::UnknownKey(_) => "unannounced_key",
        }
    }

    /// The HTTP status of a rotation the log refuses: 409 for one that
    /// conflicts with the log's state (an overlap running, a key used
    /// before, not from the key in force), 422 otherwise.
    #[must_use]
    pub const fn status(&self) -> u16 {
        match self {
            Self::DuringOverlap { .. } | Self::Keys(_) | Self::NotFromCurrent { .. } => 409,
            _ => 422,
        }
    }
}

/// What the old and the new key sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The key in force.
    pub old: VerifierKey,
    /// The key that replaces it.
    pub new: VerifierKey,
    /// Until when (RFC 3339, ms, UTC) the log signs with both keys.
    pub overlap_until: String,
}

impl Announcement {
    /// The bytes each key signs.
    #[must_use]
    pub fn message(&self) -> Vec<u8> {
        let body = format!(
            "{{\"new\":{},\"old\":{},\"overlap_until\":{}}}",
            canonical_string(&self.new.to_vkey_string()),
            canonical_string(&self.old.to_vkey_string()),
            canonical_string(&self.overlap_until)
        );
        [ROTATION_CONTEXT, body.as_bytes()].concat()
    }

    /// Checks the keys: two distinct Ed25519 keys of the same name.
    ///
    /// # Errors
    /// [`RotationError::Keys`].
    pub fn check_keys(&self) -> Result<(), RotationError> {
        if self.old.alg() != ALG_ED25519 || self.new.alg() != ALG_ED25519 {
            return Err(RotationError::Keys("both must be Ed25519 (0x01) keys".into()));
        }
        if self.old.name() != self.new.name() {
            return Err(RotationError::Keys(format!(
                "the new key is named {:?}, not the log's origin {:?}",
                self.new.name(),
                self.old.name()
            )));
        }
        if self.old == self.new {
            return Err(RotationError::Keys("the new key is the old key".into()));
        }
        Ok(())
    }

    /// Signs it with both keys.
    ///
    /// # Errors
    /// [`RotationError::Keys`] if the signers are not the announcement's keys
    /// or break [`Announcement::check_keys`].
    pub fn sign(self, old: &SignerKey, new: &SignerKey) -> Result<SignedAnnouncement, RotationError> {
        self.check_keys()?;
        if old.verifier() != self.old || new.verifier() != self.new {
            return Err(RotationError::Keys("the signers are not the announced keys".into()));
        }
        time::parse_millis(&self.overlap_until)
            .map_err(|_| RotationError::Malformed(format!("overlap_until {:?} is not a time", self.overlap_until)))?;
        let msg = self.message();
        Ok(SignedAnnouncement {
            old_signature: old.sign_raw(&msg),
            new_signature: new.sign_raw(&msg),
            announcement: self,
        })
    }
}

/// An announcement with both signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAnnouncement {
    /// What was signed.
    pub announcement: Announcement,
    /// The old key's Ed25519 signature over [`Announcement::message`].
    pub old_signature: [u8; 64],
    /// The new key's Ed25519 signature over [`Announcement::message`].
    pub new_signature: [u8; 64],
}

/// The `log_key` object, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    new: String,
    new_signature: String,
    old: String,
    old_signature: String,
    overlap_until: String,
}

impl SignedAnnouncement {
    /// Checks the keys and both signatures.
    ///
    /// # Errors
    /// [`RotationError::Keys`] or [`RotationError::Signature`].
    pub fn verify(&self) -> Result<(), RotationError> {
        let a = &self.announcement;
        a.check_keys()?;
        let msg = a.message();
        if !a.old.verify_raw(&msg, &self.old_signature) {
            return Err(RotationError::Signature { which: "old" });
        }
        if !a.new.verify_raw(&msg, &self.new_signature) {
            return Err(RotationError::Signature { which: "new" });
        }
        Ok(())
    }

    /// `overlap_until` in Unix ms.
    ///
    /// # Errors
    /// [`RotationError::Malformed`] if it is not an RFC 3339 time.
    pub fn overlap_until_ms(&self) -> Result<i64, RotationError> {
        let s = &self.announcement.overlap_until;
        time::parse_millis(s).map_err(|_| RotationError::Malformed(format!("overlap_until {s:?} is not a time")))
    }

    /// The RFC 8785 bytes of the `log_key` object.
    #[must_use]
    pub fn canonical(&self) -> Vec<u8> {
        let a = &self.announcement;
        format!(
            "{{\"new\":{},\"new_signature\":\"{}\",\"old\":{},\"old_signature\":\"{}\",\"overlap_until\":{}}}",
            canonical_string(&a.new.to_vkey_string()),
            b64::encode(self.new_signature),
            canonical_string(&a.old.to_vkey_string()),
            b64::encode(self.old_signature),
            canonical_string(&a.overlap_until)
        )
        .into_bytes()
    }

    /// Reads the `log_key` object (its signatures are not checked here:
    /// see [`SignedAnnouncement::verify`]).
    ///
    /// # Errors
    /// [`RotationError::Malformed`].
    pub fn from_value(v: &serde_json::Value) -> Result<Self, RotationError> {
        let w: Wire = serde_json::from_value(v.clone()).map_err(|e| RotationError::Malformed(e.to_string()))?;
        let key = |s: &str, which: &str| {
            VerifierKey::parse(s).map_err(|e| RotationError::Malformed(format!("{which} key: {e}")))
        };
        let sig = |s: &str, which: &str| {
            b64::decode_array::<64>(s)
                .ok_or_else(|| RotationError::Malformed(format!("{which}_signature is not 64 bytes of base64")))
        };
        let out = Self {
            announcement: Announcement {
                old: key(&w.old, "old")?,
                new: key(&w.new, "new")?,
                overlap_until: w.overlap_until,
            },
            old_signature: sig(&w.old_signature, "old")?,
            new_signature: sig(&w.new_signature, "new")?,
        };
        out.overlap_until_ms()?;
        Ok(out)
    }
}

/// Checks that `next`, logged at entry `index` at `logged_at_ms` (Unix
/// ms), may follow `previous`, the last rotation logged before it (if
/// any): both its signatures verify, it rotates from the key `previous`
/// introduced, and it is not logged before `previous`'s overlap ended. The
/// log checks this before it appends an announcement, and every reader of
/// the history and the auditor check it again.
///
/// # Errors
/// [`RotationError::Keys`], [`RotationError::Signature`],
/// [`RotationError::NotFromCurrent`] or [`RotationError::DuringOverlap`].
pub fn check_follows(
    previous: Option<&SignedAnnouncement>,
    next: &SignedAnnouncement,
    index: u64,
    logged_at_ms: i64,
) -> Result<(), RotationError> {
    next.verify()?;
    let Some(p) = previous else {
        return Ok(());
    };
    if p.announcement.new != next.announcement.old {
        return Err(RotationError::NotFromCurrent {
            claimed: next.announcement.old.to_vkey_string(),
            current: p.announcement.new.to_vkey_string(),
        });
    }
    if logged_at_ms < p.overlap_until_ms()? {
        return Err(RotationError::DuringOverlap {
            index,
            until: p.announcement.overlap_until.clone(),
        });
    }
    Ok(())
}

/// The canonical bytes of a log key announcement entry.
#[must_use]
pub fn log_key_leaf(logged_at: &str, announcement: &SignedAnnouncement) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"kind\":\"policy\",\"log_key\":");
    out.extend_from_slice(&announcement.canonical());
    out.extend_from_slice(b",\"logged_at\":");
    out.extend_from_slice(canonical_string(logged_at).as_bytes());
    out.extend_from_slice(b",\"v\":1}");
    out
}

/// One rotation as a log serves it: the announcement entry and what makes
/// it verifiable from a key the reader already trusts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationRecord {
    /// Index of the announcement entry.
    pub index: u64,
    /// Base64 of the entry's bytes.
    pub entry: String,
    /// The first checkpoint that includes it, signed by the old and the new
    /// key (signed-note text).
    pub checkpoint: String,
    /// Base64 hashes of the inclusion proof of the entry in that checkpoint.
    pub inclusion: Vec<String>,
    /// Base64 hashes of the consistency proof from the previous record's
    /// checkpoint to this one (empty for the first).
    pub consistency: Vec<String>,
}

/// A log's key history: `GET /log-keys` (and the object `log-keys` of a
/// published log).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KeyHistory {
    /// Every rotation, oldest first.
    pub rotations: Vec<RotationRecord>,
}

/// A rotation [`KeyHistory::verify`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRotation {
    /// Index of the announcement entry.
    pub index: u64,
    /// `logged_at` of the announcement.
    pub logged_at: String,
    /// The announcement.
    pub announcement: SignedAnnouncement,
    /// The checkpoint signed by both keys that includes it.
    pub checkpoint: Checkpoint,
}

fn decode_hashes(list: &[String], index: u64) -> Result<Vec<[u8; 32]>, RotationError> {
    list.iter()
        .map(|h| {
            b64::decode_array::<32>(h).ok_or_else(|| RotationError::Proof {
                index,
                reason: "a proof hash is not 32 bytes of base64".into(),
            })
        })
        .collect()
}

impl KeyHistory {
    /// Verifies the history from `trusted`, a key of the log the reader
    /// trusts (its first key, or any key a verified announcement names),
    /// and returns the keys that sign each size with the rotations. An
    /// empty history gives `trusted` for every size.
    ///
    /// # Errors
    /// The first [`RotationError`] found, in log order.
    pub fn verify(&self, trusted: &VerifierKey) -> Result<(LogKeys, Vec<VerifiedRotation>), RotationError> {
        if self.rotations.len() > MAX_ROTATIONS {
            return Err(RotationError::Malformed(format!(
                "{} rotations: more than {MAX_ROTATIONS}",
                self.rotations.len()
            )));
        }
        let mut keys: Option<LogKeys> = None;
        let mut out: Vec<VerifiedRotation> = Vec::with_capacity(self.rotations.len());
        for r in &self.rotations {
            let v = verify_record(r, out.last())?;
            let a = &v.announcement.announcement;
            let k = keys.get_or_insert_with(|| LogKeys::single(a.old.clone()));
            if *k.current() != a.old {
                return Err(RotationError::NotFromCurrent {
                    claimed: a.old.to_vkey_string(),
                    current: k.current().to_vkey_string(),
                });
            }
            k.push(a.new.clone(), r.index).map_err(RotationError::Keys)?;
            out.push(v);
        }
        let keys = keys.unwrap_or_else(|| LogKeys::single(trusted.clone()));
        if !keys.contains(trusted) {
            return Err(RotationError::UnknownKey(trusted.to_vkey_string()));
        }
        Ok((keys, out))
    }
}

fn verify_record(r: &RotationRecord, previous: Option<&VerifiedRotation>) -> Result<VerifiedRotation, RotationError> {
    let index = r.index;
    let entry = b64::decode(&r.entry).map_err(|_| RotationError::Malformed("entry is not base64".into()))?;
    let (logged_at, announcement) = match crate::leaf::Leaf::parse(&entry) {
        Ok(crate::leaf::Leaf::LogKey(l)) => (l.logged_at, l.announcement),
        Ok(_) => {
            return Err(RotationError::Malformed(format!(
                "entry {index} is not a log key announcement"
            )));
        }
        Err(e) => return Err(RotationError::Malformed(format!("entry {index}: {e}"))),
    };
    let at = time::parse_millis(&logged_at)
        .map_err(|_| RotationError::Malformed(format!("entry {index}: logged_at is not a time")))?;
    check_follows(previous.map(|p| &p.announcement), &announcement, index, at)?;
    let a = &announcement.announcement;
    let open = |key: &VerifierKey| {
        open_checkpoint(r.checkpoint.as_bytes(), key).map_err(|e: CheckpointError| RotationError::Checkpoint {
            index,
            reason: format!("{e} (key {})", key.to_vkey_string()),
        })
    };
    let (cp, _) = open(&a.old)?;
    open(&a.new)?;
    if cp.size <= index {
        return Err(RotationError::Checkpoint {
            index,
            reason: format!("its size {} does not include the entry", cp.size),
        });
    }
    let inclusion = decode_hashes(&r.inclusion, index)?;
    verify_inclusion(index, cp.size, &leaf_hash(&entry), &inclusion, &cp.root).map_err(|e| RotationError::Proof {
        index,
        reason: format!("inclusion: {e}"),
    })?;
    let consistency = decode_hashes(&r.consistency, index)?;
    match previous {
        Some(p) => {
            verify_consistency(p.checkpoint.size, cp.size, &p.checkpoint.root, &cp.root, &consistency).map_err(
                |e| RotationError::Proof {
                    index,
                    reason: format!("consistency with the previous rotation's checkpoint: {e}"),
                },
            )?;
        }
        None if !consistency.is_empty() => {
            return Err(RotationError::Proof {
                index,
                reason: "the first rotation has no previous checkpoint to be consistent with".into(),
            });
        }
        None => {}
    }
    Ok(VerifiedRotation {
        index,
        logged_at,
        announcement,
        checkpoint: cp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use provlog_tlog::checkpoint::{open_checkpoint_with, sign_checkpoint, sign_checkpoint_by};
    use provlog_tlog::merkle::{MemoryTree, consistency_proof, inclusion_proof};

    const ORIGIN: &str = "log.example/rot";

    fn key(seed: u8) -> SignerKey {
        SignerKey::from_seed(ORIGIN, ALG_ED25519, [seed; 32]).expect("key")
    }

    fn announce(old: &SignerKey, new: &SignerKey, until: &str) -> SignedAnnouncement {
        Announcement {
            old: old.verifier(),
            new: new.verifier(),
            overlap_until: until.into(),
        }
        .sign(old, new)
        .expect("sign")
    }

    /// A log of `filler` entries with rotations appended at the given
    /// points, each followed by one more entry; the record of each
    /// rotation uses the checkpoint right after it, signed by `signers`.
    struct Built {
        tree: MemoryTree,
        history: KeyHistory,
    }

    fn build(rotations: &[(SignedAnnouncement, &str, Vec<&SignerKey>)]) -> Built {
        let mut tree = MemoryTree::new();
        let mut history = KeyHistory::default();
        let mut prev_size = None;
        for (k, (a, logged_at, signers)) in rotations.iter().enumerate() {
            for j in 0..3u8 {
                tree.push(leaf_hash(&[k as u8, j]));
            }
            let entry = log_key_leaf(logged_at, a);
            let index = tree.size();
            tree.push(leaf_hash(&entry));
            tree.push(leaf_hash(b"after"));
            let size = tree.size();
            let root = tree.root_at(size).expect("root");
            let note = sign_checkpoint_by(&Checkpoint::new(ORIGIN, size, root), signers).expect("sign");
            let inclusion = inclusion_proof(index, size, &tree).expect("proof");
            let consistency = match prev_size {
                Some(p) => consistency_proof(p, size, &tree).expect("proof"),
                None => Vec::new(),
            };
            prev_size = Some(size);
            history.rotations.push(RotationRecord {
                index,
                entry: b64::encode(&entry),
                checkpoint: note.to_string(),
                inclusion: inclusion.iter().map(b64::encode).collect(),
                consistency: consistency.iter().map(b64::encode).collect(),
            });
        }
        Built { tree, history }
    }

    #[test]
    fn a_reader_of_any_key_follows_the_whole_history() {
        let (k0, k1, k2) = (key(1), key(2), key(3));
        let a1 = announce(&k0, &k1, "2026-12-03T11:00:00.000Z");
        let a2 = announce(&k1, &k2, "2026-12-04T11:00:00.000Z");
        let b = build(&[
            (a1, "2026-12-03T10:00:00.000Z", vec![&k0, &k1]),
            (a2, "2026-12-03T12:00:00.000Z", vec![&k1, &k2]),
        ]);
        for trusted in [&k0, &k1, &k2] {
            let (keys, rot) = b.history.verify(&trusted.verifier()).expect("verifies");
            assert_eq!(rot.len(), 2);
            assert_eq!(*keys.current(), k2.verifier());
            assert_eq!(*keys.for_size(3), k0.verifier());
            assert_eq!(*keys.for_size(4), k1.verifier());
            let size = b.tree.size();
            let root = b.tree.root_at(size).expect("root");
            let n = sign_checkpoint(&Checkpoint::new(ORIGIN, size, root), &k2).expect("s");
            assert!(open_checkpoint_with(&n.to_bytes(), &keys).is_ok());
            let n = sign_checkpoint(&Checkpoint::new(ORIGIN, size, root), &k1).expect("s");
            assert!(open_checkpoint_with(&n.to_bytes(), &keys).is_err(), "a retired key");
        }
        let stranger = key(9);
        assert!(matches!(
            b.history.verify(&stranger.verifier()),
            Err(RotationError::UnknownKey(_))
        ));
        // An empty history: the trusted key signs everything.
        let (keys, rot) = KeyHistory::default().verify(&k0.verifier()).expect("empty");
        assert!(rot.is_empty());
        assert_eq!(*keys.current(), k0.verifier());
    }

    #[test]
    fn an_announcement_signed_by_one_key_is_refused() {
        let (k0, k1, k9) = (key(1), key(2), key(9));
        let mut a = announce(&k0, &k1, "2026-12-03T11:00:00.000Z");
        a.new_signature = k9.sign_raw(&a.announcement.message());
        assert_eq!(a.verify(), Err(RotationError::Signature { which: "new" }));
        let mut a = announce(&k0, &k1, "2026-12-03T11:00:00.000Z");
        a.old_signature = k9.sign_raw(&a.announcement.message());
        assert_eq!(a.verify(), Err(RotationError::Signature { which: "old" }));
        let b = build(&[(a, "2026-12-03T10:00:00.000Z", vec![&k0, &k1])]);
        assert_eq!(
            b.history.verify(&k0.verifier()).err(),
            Some(RotationError::Signature { which: "old" })
        );
        // Signing an announcement needs both private keys.
        let bad = Announcement {
            old: k0.verifier(),
            new: k1.verifier(),
            overlap_until: "2026-12-03T11:00:00.000Z".into(),
        };
        assert!(bad.clone().sign(&k0, &k9).is_err());
        let same = Announcement {
            new: k0.verifier(),
            ..bad
        };
        assert!(matches!(same.sign(&k0, &k0), Err(RotationError::Keys(_))));
    }

    #[test]
    fn a_second_rotation_during_the_overlap_is_refused() {
        let (k0, k1, k2) = (key(1), key(2), key(3));
        let a1 = announce(&k0, &k1, "2026-12-03T11:00:00.000Z");
        let a2 = announce(&k1, &k2, "2026-12-04T11:00:00.000Z");
        let b = build(&[
            (a1, "2026-12-03T10:00:00.000Z", vec![&k0, &k1]),
            (a2, "2026-12-03T10:59:59.999Z", vec![&k1, &k2]),
        ]);
        assert!(matches!(
            b.history.verify(&k0.verifier()),
            Err(RotationError::DuringOverlap { .. })
        ));
    }

    #[test]
    fn a_rotation_must_start_from_the_key_in_force_and_be_dual_signed_and_included() {
        let (k0, k1, k2, k3) = (key(1), key(2), key(3), key(4));
        // From a key that is not in force.
        let b = build(&[
            (
                announce(&k0, &k1, "2026-12-03T11:00:00.000Z"),
                "2026-12-03T10:00:00.000Z",
                vec![&k0, &k1],
            ),
            (
                announce(&k2, &k3, "2026-12-05T11:00:00.000Z"),
                "2026-12-04T10:00:00.000Z",
                vec![&k2, &k3],
            ),
        ]);
        assert!(matches!(
            b.history.verify(&k0.verifier()),
            Err(RotationError::NotFromCurrent { .. })
        ));
        // A checkpoint signed by the new key only.
        let one = build(&[(
            announce(&k0, &k1, "2026-12-03T11:00:00.000Z"),
            "2026-12-03T10:00:00.000Z",
            vec![&k1],
        )]);
        assert!(matches!(
            one.history.verify(&k1.verifier()),
            Err(RotationError::Checkpoint { .. })
        ));
        // A wrong inclusion proof or an entry that is not the announcement.
        let mut b = build(&[(
            announce(&k0, &k1, "2026-12-03T11:00:00.000Z"),
            "2026-12-03T10:00:00.000Z",
            vec![&k0, &k1],
        )]);
        let good = b.history.clone();
        b.history.rotations[0].index -= 1;
        assert!(matches!(
            b.history.verify(&k0.verifier()),
            Err(RotationError::Proof { .. })
        ));
        let mut b2 = good.clone();
        b2.rotations[0].entry = b64::encode(br#"{"kind":"state"}"#);
        assert!(matches!(b2.verify(&k0.verifier()), Err(RotationError::Malformed(_))));
        let mut b3 = good.clone();
        b3.rotations[0].consistency = vec![b64::encode([0u8; 32])];
        assert!(matches!(b3.verify(&k0.verifier()), Err(RotationError::Proof { .. })));
        assert!(good.verify(&k0.verifier()).is_ok());
    }

    /// `testdata/vectors/rotation_v1.json`, computed by `rotation_v1.py` with
    /// Python's `cryptography`, not with this code.
    #[test]
    fn independent_vectors_verify_byte_for_byte() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../testdata/vectors/rotation_v1.json")).expect("json");
        let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k}")).to_owned();
        let seed = |k: &str| -> [u8; 32] {
            provlog_tlog::hex::decode(&s(k))
                .expect("hex")
                .try_into()
                .expect("32 bytes")
        };
        let old = SignerKey::from_seed(&s("origin"), ALG_ED25519, seed("old_seed_hex")).expect("key");
        let new = SignerKey::from_seed(&s("origin"), ALG_ED25519, seed("new_seed_hex")).expect("key");
        assert_eq!(old.verifier().to_vkey_string(), s("old_vkey"));
        assert_eq!(new.verifier().to_vkey_string(), s("new_vkey"));
        let a = Announcement {
            old: old.verifier(),
            new: new.verifier(),
            overlap_until: s("overlap_until"),
        };
        assert_eq!(provlog_tlog::hex::encode(a.message()), s("message_hex"));
        let signed = a.sign(&old, &new).expect("sign");
        assert_eq!(b64::encode(signed.old_signature), s("old_signature"));
        assert_eq!(b64::encode(signed.new_signature), s("new_signature"));
        let entry = log_key_leaf(&s("logged_at"), &signed);
        assert_eq!(String::from_utf8(entry.clone()).expect("utf8"), s("entry"));
        assert_eq!(provlog_tlog::hex::encode(leaf_hash(&entry)), s("leaf_hash_hex"));
        let h: KeyHistory = serde_json::from_value(v["history"].clone()).expect("history");
        for trusted in [&old, &new] {
            let (keys, rot) = h.verify(&trusted.verifier()).expect("the history verifies");
            assert_eq!(rot.len(), 1);
            assert_eq!(*keys.for_size(3), old.verifier());
            assert_eq!(*keys.for_size(4), new.verifier());
        }
        let stranger = VerifierKey::parse(&s("unannounced_vkey")).expect("vkey");
        assert!(matches!(h.verify(&stranger), Err(RotationError::UnknownKey(_))));
        for case in v["invalid"].as_array().expect("invalid") {
            let h: KeyHistory = serde_json::from_value(case["history"].clone()).expect("history");
            let err = h.verify(&old.verifier()).expect_err("refused");
            assert_eq!(
                err.code(),
                case["code"].as_str().expect("code"),
                "{}: {err}",
                case["name"]
            );
        }
    }

    #[test]
    fn the_entry_round_trips_through_the_leaf_parser() {
        let a = announce(&key(1), &key(2), "2026-12-03T11:00:00.000Z");
        let bytes = log_key_leaf("2026-12-03T10:00:00.000Z", &a);
        let crate::leaf::Leaf::LogKey(l) = crate::leaf::Leaf::parse(&bytes).expect("parses") else {
            panic!("not a log key leaf");
        };
        assert_eq!(l.announcement, a);
        assert_eq!(l.logged_at, "2026-12-03T10:00:00.000Z");
        // The message is exactly the documented bytes.
        let m = String::from_utf8(a.announcement.message()).expect("utf8");
        assert!(m.starts_with("provlog/log-key/v1\n{\"new\":\"log.example/rot+"));
        assert!(!m.ends_with('\n'));
    }
}
