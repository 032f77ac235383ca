//! What a replay of a log learns per key, kept in a store instead of in
//! memory: every credential's record and the map over the records
//! ([`crate::map_nodes`], as stored nodes), the uses of every approval,
//! and what the lifecycle rules remember per credential and per target.
//! An auditor ([`crate::audit::Auditor`]) and a monitor keep these in a
//! [`BookStore`]: in memory ([`MemStore`]) for small logs and tests, on
//! disk (`provlog-storage`'s `Journal`) so that their memory does not grow
//! with the number of credentials a log names.
//!
//! Keys of the store (relative: a store may put all of them under a prefix
//! of its own; `‖` is concatenation):
//!
//! | key | value |
//! | --- | --- |
//! | `h` | the map's head: root hash (32) ‖ root node number ‖ keys ‖ next node number (u64 BE each) |
//! | `r` ‖ fingerprint | the credential's current record, its RFC 8785 bytes ([`CredentialRecord::canonical`]) |
//! | `u` ‖ approver id length (u32 BE) ‖ approver id ‖ approval id | the approval's digest (32) ‖ its uses so far (u64 BE) |
//! | `l` ‖ fingerprint | lifecycle: the credential's [`Status::code`] ‖ the index it was set at (u64 BE) |
//! | `t` ‖ target id | lifecycle: the target's latest `occurred_at` (Unix ms, i64 BE) ‖ its event's index (u64 BE) |
//!
//! Map nodes are stored by number through [`BookStore::put_nodes`]; the
//! nodes an update makes unreachable are handed to
//! [`BookStore::drop_nodes`], so the store holds only the latest version.
//!
//! No I/O: the caller's store does it.

use crate::chain::{ChainError, ChainRecord, Link, chain_key};
use crate::event::Event;
use crate::ledger::{CheckError, CredentialRecord, OwnershipError, changes, credential_key, record_value};
use crate::lifecycle::{LifecycleStore, Status};
use crate::map::Value;
use crate::map_nodes::{At, Node, NodeError, NodeSource, Root, WorkingMap};
use provlog_tlog::merkle::Hash;
use std::collections::HashMap;

/// The key of the map's head.
const HEAD: &[u8] = b"h";
/// Tag of a credential record's key.
const RECORD: u8 = b'r';
/// Tag of an approval's uses.
const APPROVAL: u8 = b'u';
/// Tag of a credential's lifecycle status.
const LIFECYCLE_CREDENTIAL: u8 = b'l';
/// Tag of a target's latest `occurred_at`.
const LIFECYCLE_TARGET: u8 = b't';
/// Length of the head's value.
const HEAD_LEN: usize = 56;
/// Most map nodes a [`Book`] holds in memory by default before it flushes
/// and keeps only the top of the map: 24 MiB of [`LOADED_NODE_BYTES`],
/// half the sequencer's [`crate::map_nodes::MAX_LOADED`].
pub const MAX_LOADED: usize = 1 << 17;
/// Most levels of the map a [`Book`] keeps in memory after a flush (at
/// most 2^14 inner nodes), as the sequencer does: the part every update
/// walks.
pub const KEEP_DEPTH: usize = 14;
/// Bytes of memory one map node takes while a [`Book`] holds it.
pub const LOADED_NODE_BYTES: usize = 192;

/// Where a [`Book`] keeps its values and the map's nodes.
pub trait BookStore {
    /// What reading or writing can fail with.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The value of `key` (the book's key, see the module's table).
    ///
    /// # Errors
    /// The store's.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Sets `key` to `value`.
    ///
    /// # Errors
    /// The store's.
    fn put(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), Self::Error>;
    /// The stored bytes of map node `at` ([`Node::stored`]).
    ///
    /// # Errors
    /// The store's.
    fn node(&self, at: At) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Stores new map nodes, in the order of their numbers (each number
    /// above every number stored before).
    ///
    /// # Errors
    /// The store's.
    fn put_nodes(&mut self, nodes: Vec<(At, Vec<u8>)>) -> Result<(), Self::Error>;
    /// Forgets map nodes the map's root no longer reaches.
    ///
    /// # Errors
    /// The store's.
    fn drop_nodes(&mut self, ats: &[At]) -> Result<(), Self::Error>;
}

/// A [`BookStore`] in memory.
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    values: HashMap<Vec<u8>, Vec<u8>>,
    nodes: HashMap<At, Vec<u8>>,
}

impl MemStore {
    /// Number of map nodes held (the latest version's only).
    #[must_use]
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }
}

impl BookStore for MemStore {
    type Error = std::convert::Infallible;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(self.values.get(key).cloned())
    }
    fn put(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), Self::Error> {
        self.values.insert(key.to_vec(), value);
        Ok(())
    }
    fn node(&self, at: At) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(self.nodes.get(&at).cloned())
    }
    fn put_nodes(&mut self, nodes: Vec<(At, Vec<u8>)>) -> Result<(), Self::Error> {
        self.nodes.extend(nodes);
        Ok(())
    }
    fn drop_nodes(&mut self, ats: &[At]) -> Result<(), Self::Error> {
        for at in ats {
            self.nodes.remove(at);
        }
        Ok(())
    }
}

/// Why a [`Book`] could not read or write its store.
#[derive(Debug, thiserror::Error)]
pub enum BookError<E> {
    /// The store failed.
    #[error(transparent)]
    Store(E),
    /// A stored value is not what the book wrote.
    #[error("the auditor's store is damaged: {0}")]
    Corrupt(String),
}

fn key(tag: u8, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(tag);
    k.extend_from_slice(name);
    k
}

fn approval_key(approver: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(5 + approver.len() + id.len());
    k.push(APPROVAL);
    k.extend_from_slice(&u32::try_from(approver.len()).unwrap_or(u32::MAX).to_be_bytes());
    k.extend_from_slice(approver.as_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_be_bytes)
}

fn encode_head(root: Root, len: u64, next: At) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEAD_LEN);
    v.extend_from_slice(&root.hash);
    v.extend_from_slice(&root.at.to_be_bytes());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&next.to_be_bytes());
    v
}

fn decode_head<E>(b: &[u8]) -> Result<(Root, u64, At), BookError<E>> {
    let bad = || BookError::Corrupt(format!("the map's head has {} bytes, not {HEAD_LEN}", b.len()));
    if b.len() != HEAD_LEN {
        return Err(bad());
    }
    let hash: Hash = b[..32].try_into().map_err(|_| bad())?;
    let (Some(at), Some(len), Some(next)) = (u64_at(b, 32), u64_at(b, 40), u64_at(b, 48)) else {
        return Err(bad());
    };
    Ok((Root { hash, at }, len, next))
}

/// A [`BookStore`] as the map's [`NodeSource`].
struct Src<'a, S>(&'a S);

impl<S: BookStore> NodeSource for Src<'_, S> {
    type Error = BookError<S::Error>;
    fn node(&self, at: At) -> Result<Option<Node>, Self::Error> {
        match self.0.node(at).map_err(BookError::Store)? {
            None => Ok(None),
            Some(b) => Node::decode(&b)
                .map(Some)
                .map_err(|e| BookError::Corrupt(format!("map node #{at}: {e}"))),
        }
    }
}

fn node_error<E>(e: NodeError<BookError<E>>) -> BookError<E> {
    match e {
        NodeError::Source(s) => s,
        NodeError::Missing(at) => BookError::Corrupt(format!("map node #{at} is not stored")),
        NodeError::Malformed { at, why } => BookError::Corrupt(format!("map node #{at}: {why}")),
    }
}

/// The current record of `fp` in `store`, with its map value.
fn current<S: BookStore>(store: &S, fp: &str) -> Result<Option<(CredentialRecord, Value)>, BookError<S::Error>> {
    let Some(b) = store.get(&key(RECORD, fp.as_bytes())).map_err(BookError::Store)? else {
        return Ok(None);
    };
    let r = CredentialRecord::from_canonical(&b).map_err(|e| BookError::Corrupt(format!("the record of {fp}: {e}")))?;
    Ok(Some((r, record_value(&b))))
}

/// Every credential's record, the map over the records and the submitter
/// chains, and the uses of every approval, in a [`BookStore`]: the state
/// of [`crate::ledger::Ledger`] (the same rules, through
/// [`crate::ledger::changes`], and the same map root) that need not fit in
/// memory. What it holds in memory is the top of the map and the nodes
/// changed since the last [`Book::flush`] (at most about [`MAX_LOADED`],
/// or [`Book::limit_memory`]), and the chain heads (one per sequenced
/// submitter).
#[derive(Debug)]
pub struct Book<S> {
    store: S,
    map: WorkingMap,
    chains: HashMap<String, ChainRecord>,
    /// The root as of the last flush.
    root: Hash,
    /// Changes since the last flush (or no head stored yet).
    dirty: bool,
    /// The store held no head when the book was opened.
    fresh: bool,
    /// Nodes in memory before a flush.
    max_loaded: usize,
}

impl<S: BookStore> Book<S> {
    /// The book in `store` (empty if the store holds no head).
    ///
    /// # Errors
    /// [`BookError`]: the store fails, or its head is malformed.
    pub fn open(store: S) -> Result<Self, BookError<S::Error>> {
        let head = store.get(HEAD).map_err(BookError::Store)?;
        let fresh = head.is_none();
        let (root, len, next) = match head {
            None => (Root::empty(), 0, 1),
            Some(b) => decode_head(&b)?,
        };
        Ok(Self {
            store,
            map: WorkingMap::open(root, len, next),
            chains: HashMap::new(),
            root: root.hash,
            dirty: fresh,
            fresh,
            max_loaded: MAX_LOADED,
        })
    }

    /// A book over `store`, which holds none (nothing is read from it).
    #[must_use]
    pub fn fresh(store: S) -> Self {
        let root = Root::empty();
        Self {
            store,
            map: WorkingMap::open(root, 0, 1),
            chains: HashMap::new(),
            root: root.hash,
            dirty: true,
            fresh: true,
            max_loaded: MAX_LOADED,
        }
    }

    /// Holds at most about `bytes` of map nodes in memory (at least 2^10
    /// nodes; the default is [`MAX_LOADED`] nodes).
    pub fn limit_memory(&mut self, bytes: usize) {
        self.max_loaded = (bytes / LOADED_NODE_BYTES).max(1 << 10);
    }

    /// The levels kept after a flush: at most [`KEEP_DEPTH`], and few
    /// enough that they take a quarter of the nodes allowed.
    fn keep_depth(&self) -> usize {
        let fit = usize::try_from((self.max_loaded / 4).max(2).ilog2()).unwrap_or(KEEP_DEPTH);
        fit.saturating_sub(1).min(KEEP_DEPTH)
    }

    /// Whether the store held no book when it was opened.
    #[must_use]
    pub fn was_empty(&self) -> bool {
        self.fresh
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, to write the caller's own keys (the lifecycle's:
    /// [`Lifecycle`]) next to the book's.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The store, once the book is flushed ([`Book::flush`]).
    pub fn into_store(self) -> S {
        self.store
    }

    /// Number of keys in the map: credentials and submitter chains (what
    /// a state leaf's `credentials` counts).
    #[must_use]
    pub fn len(&self) -> u64 {
        self.map.len()
    }

    /// Whether the map has no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The record of `fingerprint`, if any event named it.
    ///
    /// # Errors
    /// [`BookError`].
    pub fn record(&self, fingerprint: &str) -> Result<Option<CredentialRecord>, BookError<S::Error>> {
        Ok(current(&self.store, fingerprint)?.map(|(r, _)| r))
    }

    /// The chain head of `submitter`, if it is (or was) sequenced.
    #[must_use]
    pub fn chain(&self, submitter: &str) -> Option<&ChainRecord> {
        self.chains.get(submitter)
    }

    /// Every chain record, in submitter order (to save with the caller's
    /// state: there is one per sequenced submitter).
    #[must_use]
    pub fn chains(&self) -> Vec<ChainRecord> {
        let mut v: Vec<_> = self.chains.values().cloned().collect();
        v.sort_by(|a, b| a.submitter.cmp(&b.submitter));
        v
    }

    /// Takes the chain heads saved with the caller's state (already in
    /// the stored map: nothing is written).
    pub fn resume_chains(&mut self, chains: impl IntoIterator<Item = ChainRecord>) {
        self.chains = chains.into_iter().map(|c| (c.submitter.clone(), c)).collect();
    }

    /// Flushes when the nodes in memory pass the limit.
    fn bound(&mut self) -> Result<(), BookError<S::Error>> {
        if self.map.loaded() > self.max_loaded {
            self.flush()?;
        }
        Ok(())
    }

    fn set(&mut self, k: crate::map::Key, v: Value) -> Result<(), BookError<S::Error>> {
        self.map.set(&Src(&self.store), k, v).map_err(node_error)?;
        self.dirty = true;
        Ok(())
    }

    /// Writes credential records (each replacing the fingerprint's).
    ///
    /// # Errors
    /// [`BookError`].
    pub fn apply(&mut self, records: Vec<CredentialRecord>) -> Result<(), BookError<S::Error>> {
        for r in records {
            let bytes = r.canonical();
            let v = record_value(&bytes);
            self.set(credential_key(&r.fingerprint), v)?;
            self.store
                .put(&key(RECORD, r.fingerprint.as_bytes()), bytes)
                .map_err(BookError::Store)?;
            self.bound()?;
        }
        Ok(())
    }

    /// Checks event `e` (entry `index`, by `submitter`) against the
    /// ownership rules and applies its changes; an event that breaks a
    /// rule changes nothing (the inner error).
    ///
    /// # Errors
    /// [`BookError`].
    pub fn push_event(
        &mut self,
        e: &Event,
        index: u64,
        submitter: &str,
    ) -> Result<Result<(), OwnershipError>, BookError<S::Error>> {
        let store = &self.store;
        let mut read = |fp: &str| current(store, fp);
        let records = match changes(&mut read, e, index, submitter) {
            Ok(r) => r,
            Err(CheckError::Rule(r)) => return Ok(Err(r)),
            Err(CheckError::Read(e)) => return Err(e),
        };
        self.apply(records)?;
        Ok(Ok(()))
    }

    /// Writes chain records (new heads, or registrations).
    ///
    /// # Errors
    /// [`BookError`].
    pub fn set_chains(&mut self, records: impl IntoIterator<Item = ChainRecord>) -> Result<(), BookError<S::Error>> {
        for r in records {
            self.set(chain_key(&r.submitter), r.value())?;
            self.chains.insert(r.submitter.clone(), r);
            self.bound()?;
        }
        Ok(())
    }

    /// Starts the chains the policy leaf `entry` at `index` registers.
    ///
    /// # Errors
    /// [`BookError`].
    pub fn register_chains(
        &mut self,
        policy: &crate::policy::Policy,
        index: u64,
        logged_at: &str,
        entry: &[u8],
    ) -> Result<(), BookError<S::Error>> {
        let hash = provlog_tlog::merkle::leaf_hash(entry);
        let chains = &self.chains;
        let new = crate::chain::registrations(policy, index, logged_at, &hash, &mut |s| chains.contains_key(s));
        self.set_chains(new)
    }

    /// Moves `submitter`'s chain to entry `index` (bytes `entry`) carrying
    /// `link`; `heartbeat_at` for a heartbeat. A link that does not follow
    /// changes nothing (the inner error).
    ///
    /// # Errors
    /// [`BookError`].
    pub fn advance_chain(
        &mut self,
        submitter: &str,
        link: &Link,
        index: u64,
        entry: &[u8],
        heartbeat_at: Option<&str>,
    ) -> Result<Result<(), ChainError>, BookError<S::Error>> {
        let Some(cur) = self.chains.get(submitter) else {
            return Ok(Err(ChainError::NotSequenced(submitter.to_owned())));
        };
        let next = match cur.advance(link, index, &provlog_tlog::merkle::leaf_hash(entry), heartbeat_at) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        self.set_chains([next])?;
        Ok(Ok(()))
    }

    /// The digest and the uses so far of approval `id` of `approver`.
    ///
    /// # Errors
    /// [`BookError`].
    pub fn approval_uses(&self, approver: &str, id: &str) -> Result<Option<(Hash, u64)>, BookError<S::Error>> {
        let Some(b) = self.store.get(&approval_key(approver, id)).map_err(BookError::Store)? else {
            return Ok(None);
        };
        let digest: Option<Hash> = b.get(..32).and_then(|d| d.try_into().ok());
        match (digest, u64_at(&b, 32), b.len()) {
            (Some(d), Some(n), 40) => Ok(Some((d, n))),
            _ => Err(BookError::Corrupt(format!(
                "the uses of approval {id:?} of {approver:?}"
            ))),
        }
    }

    /// Counts one more use of approval `id` of `approver` (whose digest is
    /// `digest` at its first use).
    ///
    /// # Errors
    /// [`BookError`].
    pub fn use_approval(&mut self, approver: &str, id: &str, digest: Hash) -> Result<(), BookError<S::Error>> {
        let (d, n) = self.approval_uses(approver, id)?.unwrap_or((digest, 0));
        let mut v = Vec::with_capacity(40);
        v.extend_from_slice(&d);
        v.extend_from_slice(&(n + 1).to_be_bytes());
        self.store.put(&approval_key(approver, id), v).map_err(BookError::Store)
    }

    /// Sets the uses of an approval (importing a state saved before the
    /// book).
    ///
    /// # Errors
    /// [`BookError`].
    pub fn set_approval_uses(
        &mut self,
        approver: &str,
        id: &str,
        digest: Hash,
        uses: u64,
    ) -> Result<(), BookError<S::Error>> {
        let mut v = Vec::with_capacity(40);
        v.extend_from_slice(&digest);
        v.extend_from_slice(&uses.to_be_bytes());
        self.store.put(&approval_key(approver, id), v).map_err(BookError::Store)
    }

    /// The map's root, the changes since the last flush included (it
    /// flushes).
    ///
    /// # Errors
    /// [`BookError`].
    pub fn root(&mut self) -> Result<Hash, BookError<S::Error>> {
        self.flush()?;
        Ok(self.root)
    }

    /// Hashes the changes since the last flush and hands the store the
    /// new nodes, the unreachable ones and the new head; then keeps only
    /// the top of the map in memory.
    ///
    /// # Errors
    /// [`BookError`].
    pub fn flush(&mut self) -> Result<(), BookError<S::Error>> {
        if !self.dirty {
            return Ok(());
        }
        let u = self.map.finish();
        if !u.nodes.is_empty() {
            self.store.put_nodes(u.nodes).map_err(BookError::Store)?;
        }
        if !u.unreachable.is_empty() {
            self.store.drop_nodes(&u.unreachable).map_err(BookError::Store)?;
        }
        self.store
            .put(HEAD, encode_head(u.root, self.map.len(), u.next))
            .map_err(BookError::Store)?;
        self.root = u.root.hash;
        self.dirty = false;
        let depth = self.keep_depth();
        self.map.shrink(self.max_loaded, depth);
        Ok(())
    }
}

/// The lifecycle rules' memory ([`LifecycleStore`]) in a [`BookStore`],
/// one value per credential and per target (keys `l` and `t`).
#[derive(Debug)]
pub struct Lifecycle<'a, S>(pub &'a mut S);

fn pair<E>(b: &[u8], what: &str, name: &str) -> Result<(u64, u64), BookError<E>> {
    match (u64_at(b, 0), u64_at(b, 8), b.len()) {
        (Some(a), Some(i), 16) => Ok((a, i)),
        _ => Err(BookError::Corrupt(format!("the lifecycle state of {what} {name:?}"))),
    }
}

impl<S: BookStore> LifecycleStore for Lifecycle<'_, S> {
    type Error = BookError<S::Error>;
    fn credential(&mut self, fp: &str) -> Result<Option<(Status, u64)>, Self::Error> {
        let Some(b) = self
            .0
            .get(&key(LIFECYCLE_CREDENTIAL, fp.as_bytes()))
            .map_err(BookError::Store)?
        else {
            return Ok(None);
        };
        match (b.first().copied().and_then(Status::from_code), u64_at(&b, 1), b.len()) {
            (Some(s), Some(i), 9) => Ok(Some((s, i))),
            _ => Err(BookError::Corrupt(format!("the lifecycle state of credential {fp}"))),
        }
    }
    fn set_credential(&mut self, fp: &str, status: Status, index: u64) -> Result<(), Self::Error> {
        let mut v = Vec::with_capacity(9);
        v.push(status.code());
        v.extend_from_slice(&index.to_be_bytes());
        self.0
            .put(&key(LIFECYCLE_CREDENTIAL, fp.as_bytes()), v)
            .map_err(BookError::Store)
    }
    fn target(&mut self, id: &str) -> Result<Option<(i64, u64)>, Self::Error> {
        let Some(b) = self
            .0
            .get(&key(LIFECYCLE_TARGET, id.as_bytes()))
            .map_err(BookError::Store)?
        else {
            return Ok(None);
        };
        let (t, i) = pair(&b, "target", id)?;
        Ok(Some((i64::from_be_bytes(t.to_be_bytes()), i)))
    }
    fn set_target(&mut self, id: &str, at_ms: i64, index: u64) -> Result<(), Self::Error> {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(&at_ms.to_be_bytes());
        v.extend_from_slice(&index.to_be_bytes());
        self.0
            .put(&key(LIFECYCLE_TARGET, id.as_bytes()), v)
            .map_err(BookError::Store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::sample;
    use crate::ledger::Ledger;
    use crate::lifecycle::{LifecycleState, Rules};
    use serde_json::json;

    fn ev(action: &str, target: &str, fp: &str, prev: Option<&str>) -> Event {
        let mut v = sample();
        v["action"] = json!(action);
        v["target"] = json!({"id": target, "type": "service_account", "system": "gcp"});
        let mut c = json!({"fingerprint": fp});
        if let Some(p) = prev {
            c["previous_fingerprint"] = json!(p);
        }
        v["credential"] = c;
        Event::from_value(&v).expect("event")
    }

    fn fp(i: u64) -> String {
        format!("sha256:{i:064x}")
    }

    #[test]
    fn a_book_gives_the_ledgers_records_and_root_and_keeps_only_the_last_version() {
        let mut ledger = Ledger::new();
        let mut book = Book::open(MemStore::default()).expect("open");
        let mut refused = 0;
        for i in 0..3000u64 {
            // Rotations along one chain, revokes of superseded ones, and
            // another target's tries (refused: not its credential).
            let e = if i % 13 == 5 {
                ev("revoke", "other", &fp(i), None)
            } else if i % 7 == 3 {
                ev("revoke", "svc", &fp(i - 1), None)
            } else {
                ev("rotate", "svc", &fp(i + 1), Some(&fp(i)))
            };
            let want = ledger.push(&e, i, "sub");
            let got = book.push_event(&e, i, "sub").expect("store");
            assert_eq!(got, want, "event {i}");
            refused += u32::from(got.is_err());
            if i % 500 == 0 {
                assert_eq!(book.root().expect("root"), ledger.root(), "after {i}");
            }
        }
        assert_eq!(book.root().expect("root"), ledger.root());
        assert_eq!(book.len(), ledger.len() as u64);
        assert!(
            refused > 100 && book.len() > 2500,
            "{refused} refused, {} keys",
            book.len()
        );
        for i in [0u64, 1, 4, 2999, 3000, 5000] {
            assert_eq!(book.record(&fp(i)).expect("read").as_ref(), ledger.record(&fp(i)));
        }
        // Only the latest version's nodes are kept: a trie of n keys has
        // 2n - 1 nodes.
        let n = book.len();
        let store = book.into_store();
        assert_eq!(store.nodes() as u64, 2 * n - 1);
        // Reopened from the store alone, it goes on with the same root.
        let mut again = Book::open(store).expect("reopen");
        let e = ev("issue", "svc-new", &fp(9999), None);
        ledger.push(&e, 4000, "sub").expect("issue");
        again.push_event(&e, 4000, "sub").expect("store").expect("issue");
        assert_eq!(again.root().expect("root"), ledger.root());
    }

    #[test]
    fn the_lifecycle_rules_give_the_same_violations_from_a_store() {
        let rules = Rules::default();
        let mut mem = LifecycleState::default();
        let mut store = MemStore::default();
        for i in 0..400u64 {
            let e = match i % 5 {
                0 => ev("issue", "svc-a", &fp(i % 37), None),
                1 => ev("rotate", "svc-a", &fp(i % 41), Some(&fp(i % 13))),
                2 => ev("revoke", "svc-b", &fp(i % 29), None),
                3 => ev("expire", "svc-b", &fp(i % 31), None),
                _ => ev("grant", "svc-c", &fp(i % 23), None),
            };
            let want = mem.check(&rules, i, &e);
            let got = crate::lifecycle::check(&mut Lifecycle(&mut store), &rules, i, &e).expect("store");
            assert_eq!(got, want, "event {i}");
        }
        assert!(!mem.is_empty());
    }
}
