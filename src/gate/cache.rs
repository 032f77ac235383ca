//! The gate's cache of verified credential states, per fingerprint: what a
//! decision reads without asking the log. Bounded; sharded so that the
//! request threads rarely meet on a lock.
//!
//! An entry holds only what a decision needs (the committed state, the
//! `not_after` as milliseconds, the owner, the version and the commitment
//! it was proven against). It stays valid while the gate's follower
//! ([`super::follow`]) verifies that no entry after that commitment names
//! the credential; the follower removes it when one does.

use provlog_proto::ledger::{CredentialRecord, RecordState};
use provlog_tlog::merkle::Hash;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// What a verified answer said about one credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The committed record's state (`None`: the map proves the
    /// fingerprint absent, never logged).
    pub state: Option<RecordState>,
    /// The record's `not_after`, Unix ms.
    pub not_after_ms: Option<i64>,
    /// The owning target, `system/kind/id` (`kind/id` without a system).
    pub owner: Option<Arc<str>>,
    /// The owning target's id alone (what route `owners` match).
    pub owner_id: Option<Arc<str>>,
    /// The record's version.
    pub version: u64,
    /// The index of the state commitment the record was proven against.
    pub commitment: u64,
    /// The tree size of the checkpoint the proof was checked under.
    pub verified_size: u64,
}

impl Known {
    /// From a verified record (`None`: proven absent).
    #[must_use]
    pub fn from_record(record: Option<&CredentialRecord>, commitment: u64, verified_size: u64) -> Self {
        let Some(r) = record else {
            return Self {
                state: None,
                not_after_ms: None,
                owner: None,
                owner_id: None,
                version: 0,
                commitment,
                verified_size,
            };
        };
        let owner = match &r.owner.system {
            Some(s) => format!("{s}/{}/{}", r.owner.kind, r.owner.id),
            None => format!("{}/{}", r.owner.kind, r.owner.id),
        };
        Self {
            state: Some(r.state),
            not_after_ms: r
                .not_after
                .as_deref()
                .and_then(|t| provlog_proto::time::parse_millis(t).ok()),
            owner: Some(owner.into()),
            owner_id: Some(r.owner.id.as_str().into()),
            version: r.version,
            commitment,
            verified_size,
        }
    }

    /// Bytes this entry holds on the heap beyond its fixed size (for the
    /// memory figure in BENCHMARKS.md).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.owner.as_ref().map_or(0, |o| o.len() + 16) + self.owner_id.as_ref().map_or(0, |o| o.len() + 16)
    }
}

const SHARDS: usize = 16;

/// The cache: at most `capacity` fingerprints, in [`SHARDS`] shards.
#[derive(Debug)]
pub struct Cache {
    shards: Vec<RwLock<HashMap<Hash, Arc<Known>>>>,
    per_shard: usize,
}

impl Cache {
    /// An empty cache of at most `capacity` entries (at least one per shard).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, fp: &Hash) -> &RwLock<HashMap<Hash, Arc<Known>>> {
        // The key is a SHA-256 output: its first byte is uniform.
        &self.shards[usize::from(fp[0]) % SHARDS]
    }

    /// The entry for `fp`, if cached.
    #[must_use]
    pub fn get(&self, fp: &Hash) -> Option<Arc<Known>> {
        self.shard(fp).read().ok()?.get(fp).cloned()
    }

    /// Caches `known` for `fp`; when the shard is full, another entry of
    /// it is dropped first (the next decision about it asks the log again).
    pub fn insert(&self, fp: Hash, known: Arc<Known>) {
        let Ok(mut m) = self.shard(&fp).write() else { return };
        if m.len() >= self.per_shard && !m.contains_key(&fp) {
            let victim = m.keys().next().copied();
            if let Some(v) = victim {
                m.remove(&v);
            }
        }
        m.insert(fp, known);
    }

    /// Drops `fp`; whether it was cached.
    pub fn remove(&self, fp: &Hash) -> bool {
        self.shard(fp).write().is_ok_and(|mut m| m.remove(fp).is_some())
    }

    /// Drops everything.
    pub fn clear(&self) {
        for s in &self.shards {
            if let Ok(mut m) = s.write() {
                m.clear();
            }
        }
    }

    /// Entries cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().map_or(0, |m| m.len())).sum()
    }

    /// Whether nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(v: u64) -> Arc<Known> {
        Arc::new(Known::from_record(None, v, v + 1))
    }

    #[test]
    fn bounded_and_removable() {
        let c = Cache::new(32);
        for i in 0u32..1000 {
            let fp = provlog_tlog::merkle::sha256(&[&i.to_be_bytes()]);
            c.insert(fp, k(u64::from(i)));
        }
        assert!(c.len() <= 32, "{}", c.len());
        let fp = provlog_tlog::merkle::sha256(&[b"x"]);
        c.insert(fp, k(7));
        assert_eq!(c.get(&fp).map(|e| e.commitment), Some(7));
        assert!(c.remove(&fp));
        assert!(c.get(&fp).is_none());
        c.clear();
        assert!(c.is_empty());
    }
}
