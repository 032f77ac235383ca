//! The log's signing keys across rotations (docs/ROTATION.md), read from
//! its own entries: which key signs each tree size, which private keys
//! the sequencer signs with at start, and the key history it serves
//! (`GET /log-keys`) so that readers follow a rotation they can verify.

use super::sequencer::SigningKeys;
use provlog_proto::leaf::Leaf;
use provlog_proto::rotation::{KeyHistory, RotationRecord, SignedAnnouncement};
use provlog_storage::{StorageError, Store};
use provlog_tlog::b64;
use provlog_tlog::checkpoint::LogKeys;
use provlog_tlog::keys::{SignerKey, VerifierKey};
use provlog_tlog::merkle::{consistency_proof, inclusion_proof};

/// Why the log's keys cannot be worked out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An entry indexed as an announcement is missing or is not one.
    #[error("entry {0} is indexed as a log key announcement but is not one: the store is corrupt")]
    NotAnnouncement(u64),
    /// No stored checkpoint includes an announcement.
    #[error("no stored checkpoint includes the log key announcement at entry {0}")]
    NoCheckpoint(u64),
    /// A proof cannot be computed from the store.
    #[error("the proofs of the announcement at entry {index}: {reason}")]
    Proof {
        /// The announcement's index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// Neither configured key is the key in force.
    #[error(
        "the log's key in force is {current} (announced at entry {index}): configure its private key \
         as log_key or next_log_key"
    )]
    CurrentKeyMissing {
        /// The key in force.
        current: String,
        /// Where it was announced.
        index: u64,
    },
    /// `log_key` is a key the log never announced.
    #[error(
        "log_key {0} is not a key of this log (its key history does not hold it): \
         a new key is announced by naming it next_log_key"
    )]
    Unannounced(String),
}

/// A log key announcement found in the log.
#[derive(Debug, Clone)]
pub struct Announced {
    /// Its index.
    pub index: u64,
    /// Its `logged_at`.
    pub logged_at: String,
    /// The announcement.
    pub announcement: SignedAnnouncement,
}

/// Every announcement the store holds, oldest first.
///
/// # Errors
/// [`KeysError::Storage`], [`KeysError::NotAnnouncement`].
pub fn announcements(store: &Store) -> Result<Vec<Announced>, KeysError> {
    store
        .log_key_rotations()?
        .into_iter()
        .map(|index| {
            let bytes = store.entry(index)?.ok_or(KeysError::NotAnnouncement(index))?;
            match Leaf::parse(&bytes) {
                Ok(Leaf::LogKey(k)) => Ok(Announced {
                    index,
                    logged_at: k.logged_at,
                    announcement: k.announcement,
                }),
                _ => Err(KeysError::NotAnnouncement(index)),
            }
        })
        .collect()
}

/// The keys that sign each size of a log whose first key is `first` (used
/// when it never rotated) and that logged `list`.
#[must_use]
pub fn log_keys(first: &VerifierKey, list: &[Announced]) -> LogKeys {
    let Some(a) = list.first() else {
        return LogKeys::single(first.clone());
    };
    let mut keys = LogKeys::single(a.announcement.announcement.old.clone());
    for a in list {
        // The sequencer checked each before appending it.
        let _ = keys.push(a.announcement.announcement.new.clone(), a.index);
    }
    keys
}

/// What the sequencer signs with at `now_ms`, given the configured
/// `log_key` and `next_log_key`, and the key a rotation should introduce
/// (`next_log_key` when the log has not announced it yet).
///
/// # Errors
/// [`KeysError::CurrentKeyMissing`] when neither configured key is the key
/// in force; [`KeysError::Unannounced`] when `log_key` is a key the log
/// never announced.
pub fn resolve(
    list: &[Announced],
    log_key: SignerKey,
    next: Option<SignerKey>,
    now_ms: i64,
) -> Result<(SigningKeys, LogKeys, Option<SignerKey>), KeysError> {
    let keys = log_keys(&log_key.verifier(), list);
    if !keys.contains(&log_key.verifier()) {
        return Err(KeysError::Unannounced(log_key.verifier().to_vkey_string()));
    }
    let pending = next.clone().filter(|n| !keys.contains(&n.verifier()));
    let Some(last) = list.last() else {
        return Ok((SigningKeys::single(log_key), keys, pending));
    };
    let have = [Some(log_key), next].into_iter().flatten().collect::<Vec<_>>();
    let find = |v: &VerifierKey| have.iter().find(|k| k.verifier() == *v).cloned();
    let a = &last.announcement.announcement;
    let current = find(&a.new).ok_or_else(|| KeysError::CurrentKeyMissing {
        current: a.new.to_vkey_string(),
        index: last.index,
    })?;
    let until = last.announcement.overlap_until_ms().unwrap_or(i64::MIN);
    let retiring = if now_ms < until {
        let old = find(&a.old);
        if old.is_none() {
            tracing::warn!(
                overlap_until = %a.overlap_until,
                "the key rotation's overlap has not ended but the old key is not configured: \
                 checkpoints are signed by the new key only, and readers that do not know it yet stop verifying"
            );
        }
        old.map(|k| (k, until))
    } else {
        None
    };
    let used = keys.iter().map(|(k, _)| k.clone()).collect();
    Ok((
        SigningKeys {
            current,
            retiring,
            last: Some(last.announcement.clone()),
            used,
        },
        keys,
        pending,
    ))
}

/// The key history of the log's first `size` entries: each announcement
/// with the first checkpoint that includes it and the proofs
/// ([`provlog_proto::rotation`]).
///
/// # Errors
/// Storage failures, or a store that lacks a checkpoint or node a proof
/// needs.
pub fn history(store: &Store, list: &[Announced], size: u64) -> Result<KeyHistory, KeysError> {
    let mut out = KeyHistory::default();
    let mut prev: Option<u64> = None;
    for a in list.iter().filter(|a| a.index < size) {
        let index = a.index;
        let entry = store.entry(index)?.ok_or(KeysError::NotAnnouncement(index))?;
        let (cp_size, note) = store
            .first_checkpoint_including(index)?
            .filter(|(s, _)| *s <= size)
            .ok_or(KeysError::NoCheckpoint(index))?;
        let proof = |e: &dyn std::fmt::Display| KeysError::Proof {
            index,
            reason: e.to_string(),
        };
        let inclusion = inclusion_proof(index, cp_size, store).map_err(|e| proof(&e))?;
        let consistency = match prev {
            Some(p) => consistency_proof(p, cp_size, store).map_err(|e| proof(&e))?,
            None => Vec::new(),
        };
        prev = Some(cp_size);
        out.rotations.push(RotationRecord {
            index,
            entry: b64::encode(&entry),
            checkpoint: String::from_utf8_lossy(&note).into_owned(),
            inclusion: inclusion.iter().map(b64::encode).collect(),
            consistency: consistency.iter().map(b64::encode).collect(),
        });
    }
    Ok(out)
}

/// The keys of a stored log, for a reader that trusts `trusted` (offline
/// checks: `fsck`, `restore`): every announcement the store holds must be
/// signed by both its keys and follow the one before, and `trusted` must
/// be one of the keys. The entries themselves are checked against the
/// latest checkpoint by the caller.
///
/// # Errors
/// [`KeysError`], or the announcement that does not hold.
pub fn trusted_keys(store: &Store, trusted: &VerifierKey) -> anyhow::Result<LogKeys> {
    let list = announcements(store)?;
    let mut previous: Option<&SignedAnnouncement> = None;
    for a in &list {
        let at = provlog_proto::time::parse_millis(&a.logged_at).unwrap_or(i64::MIN);
        provlog_proto::rotation::check_follows(previous, &a.announcement, a.index, at)
            .map_err(|e| anyhow::anyhow!("the log key announcement at entry {}: {e}", a.index))?;
        previous = Some(&a.announcement);
    }
    let keys = log_keys(trusted, &list);
    if !keys.contains(trusted) {
        anyhow::bail!(
            "the key {} is not a key of this log's history",
            trusted.to_vkey_string()
        );
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use provlog_proto::rotation::Announcement;
    use provlog_tlog::keys::ALG_ED25519;

    fn key(seed: u8) -> SignerKey {
        SignerKey::from_seed("keys.example/log", ALG_ED25519, [seed; 32]).expect("key")
    }

    fn announced(old: &SignerKey, new: &SignerKey, index: u64, until: &str) -> Announced {
        Announced {
            index,
            logged_at: "2026-12-03T10:00:00.000Z".into(),
            announcement: Announcement {
                old: old.verifier(),
                new: new.verifier(),
                overlap_until: until.into(),
            }
            .sign(old, new)
            .expect("sign"),
        }
    }

    const UNTIL: &str = "2026-12-03T11:00:00.000Z";
    const DURING: i64 = 1_796_293_200_000; // 2026-12-03T10:20:00Z
    const AFTER: i64 = 1_796_299_200_000; // 2026-12-03T12:00:00Z

    #[test]
    fn the_key_in_force_is_the_last_announced_whichever_file_holds_it() {
        let (k0, k1) = (key(1), key(2));
        let list = vec![announced(&k0, &k1, 7, UNTIL)];
        // log_key the old key, next_log_key the new: the new signs, the old
        // too during the overlap.
        let (s, keys, pending) = resolve(&list, k0.clone(), Some(k1.clone()), DURING).expect("resolves");
        assert_eq!(s.current.verifier(), k1.verifier());
        assert_eq!(s.retiring.as_ref().map(|(k, _)| k.verifier()), Some(k0.verifier()));
        assert!(pending.is_none(), "next_log_key is announced already");
        assert_eq!(*keys.for_size(7), k0.verifier());
        assert_eq!(*keys.for_size(8), k1.verifier());
        // After the overlap the old key signs nothing.
        let (s, _, _) = resolve(&list, k0.clone(), Some(k1.clone()), AFTER).expect("resolves");
        assert!(s.retiring.is_none());
        // The operator moved the new key to log_key.
        let (s, _, _) = resolve(&list, k1.clone(), None, AFTER).expect("resolves");
        assert_eq!(s.current.verifier(), k1.verifier());
        assert_eq!(s.used.len(), 2);
    }

    #[test]
    fn a_missing_or_unannounced_key_does_not_start() {
        let (k0, k1, k9) = (key(1), key(2), key(9));
        let list = vec![announced(&k0, &k1, 7, UNTIL)];
        assert!(matches!(
            resolve(&list, k0.clone(), None, AFTER),
            Err(KeysError::CurrentKeyMissing { index: 7, .. })
        ));
        assert!(matches!(
            resolve(&list, k9.clone(), Some(k1.clone()), AFTER),
            Err(KeysError::Unannounced(_))
        ));
        // A log that never rotated: next_log_key is the pending rotation.
        let (s, _, pending) = resolve(&[], k0.clone(), Some(k9.clone()), AFTER).expect("resolves");
        assert_eq!(s.current.verifier(), k0.verifier());
        assert_eq!(pending.map(|k| k.verifier()), Some(k9.verifier()));
    }
}
