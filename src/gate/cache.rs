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
use std::sync::atomic::{AtomicUsize, Ordering};
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
    capacity: usize,
    /// Entries over all shards (kept under each shard's write lock).
    len: AtomicUsize,
}

impl Cache {
    /// An empty cache of at most `capacity` entries (at least one).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            capacity: capacity.max(1),
            len: AtomicUsize::new(0),
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

    /// Caches `known` for `fp`. When the cache is full, another entry is
    /// dropped first (the next decision about it asks the log again): one
    /// of `fp`'s shard, or of another shard when that one holds none. The
    /// count is kept per insert, so concurrent inserts into different
    /// shards may pass `capacity` by at most one each, until the next
    /// inserts evict.
    pub fn insert(&self, fp: Hash, known: Arc<Known>) {
        {
            let Ok(mut m) = self.shard(&fp).write() else { return };
            if let Some(slot) = m.get_mut(&fp) {
                *slot = known;
                return;
            }
            if self.len.load(Ordering::Relaxed) < self.capacity || self.evict_one(&mut m) {
                m.insert(fp, known);
                self.len.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        // Full, and `fp`'s shard is empty: make room in another shard,
        // holding one shard lock at a time (no lock order to get wrong).
        for s in &self.shards {
            if s.write().is_ok_and(|mut o| self.evict_one(&mut o)) {
                break;
            }
        }
        let Ok(mut m) = self.shard(&fp).write() else { return };
        if m.insert(fp, known).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops one entry of the shard `m`; whether there was one.
    fn evict_one(&self, m: &mut HashMap<Hash, Arc<Known>>) -> bool {
        let Some(victim) = m.keys().next().copied() else {
            return false;
        };
        m.remove(&victim);
        self.len.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Drops `fp`; whether it was cached.
    pub fn remove(&self, fp: &Hash) -> bool {
        let removed = self.shard(fp).write().is_ok_and(|mut m| m.remove(fp).is_some());
        if removed {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Drops everything.
    pub fn clear(&self) {
        for s in &self.shards {
            if let Ok(mut m) = s.write() {
                self.len.fetch_sub(m.len(), Ordering::Relaxed);
                m.clear();
            }
        }
    }

    /// Entries cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
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
        assert_eq!(c.len(), 32);
        let fp = provlog_tlog::merkle::sha256(&[b"x"]);
        c.insert(fp, k(7));
        assert_eq!(c.get(&fp).map(|e| e.commitment), Some(7));
        assert!(c.remove(&fp));
        assert!(c.get(&fp).is_none());
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn holds_exactly_its_capacity() {
        // Regression: a per-shard bound evicted while the cache as a whole
        // had room (shards fill unevenly), so `--cache-size N` held fewer.
        let c = Cache::new(1000);
        let fps: Vec<Hash> = (0u32..1000)
            .map(|i| provlog_tlog::merkle::sha256(&[&i.to_be_bytes()]))
            .collect();
        for (i, fp) in fps.iter().enumerate() {
            c.insert(*fp, k(i as u64));
        }
        assert_eq!(c.len(), 1000);
        assert!(fps.iter().all(|fp| c.get(fp).is_some()), "every one is still cached");
        // Replacing one does not count twice; one more evicts one.
        c.insert(fps[0], k(9));
        assert_eq!(c.len(), 1000);
        c.insert(provlog_tlog::merkle::sha256(&[b"one more"]), k(1));
        assert_eq!(c.len(), 1000);
        let real: usize = c.shards.iter().map(|s| s.read().map_or(0, |m| m.len())).sum();
        assert_eq!(real, c.len());
    }

    #[test]
    fn a_full_cache_with_an_empty_shard_still_caches() {
        // Capacity 1: after the first insert every other shard is empty,
        // so a new fingerprint must evict across shards.
        let c = Cache::new(1);
        let a = provlog_tlog::merkle::sha256(&[b"a"]);
        let b = (0u32..1000)
            .map(|i| provlog_tlog::merkle::sha256(&[&i.to_be_bytes()]))
            .find(|f| usize::from(f[0]) % SHARDS != usize::from(a[0]) % SHARDS)
            .expect("another shard");
        c.insert(a, k(1));
        c.insert(b, k(2));
        assert_eq!(c.len(), 1);
        assert!(c.get(&a).is_none());
        assert_eq!(c.get(&b).map(|e| e.commitment), Some(2));
    }
}
