//! The credential map as the sequencer writes it: the stored map
//! (`provlog_storage::map`) with this batch's changes on top. Ownership
//! is judged against it ([`provlog_proto::ledger::changes`], the same rules
//! `audit` applies), and each batch that changes it hands the store the new
//! nodes and records with the batch's entries, in the same write.
//!
//! Only the top of the tree stays in memory between batches
//! ([`WorkingMap::shrink_to_top`]); records are read from the store when an
//! event names their credential.
//!
//! The sequencer assembles a batch while the committer writes the one
//! before: the nodes and records of batches handed over but not yet
//! written are kept here ([`InFlight`]) and read before the store, until
//! the store's size shows their write returned.

use super::{Durable, SeqError, Unavailable};
use provlog_proto::chain::{ChainRecord, chain_key, record_value as chain_value};
use provlog_proto::event::Event;
use provlog_proto::ledger::{CheckError, CredentialRecord, changes, credential_key, record_value};
use provlog_proto::map::Value;
use provlog_proto::map_nodes::{At, Node, NodeError, NodeSource, Root, WorkingMap};
use provlog_storage::StorageError;
use provlog_storage::map::{MapHead, MapVersion, MapWrite};
use provlog_tlog::merkle::Hash;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// The map changes of a batch handed to the committer and perhaps not yet
/// written.
struct InFlight {
    /// The store holds them once its size reaches this (the batch's end).
    end: u64,
    /// New nodes (the committer's copy, shared), numbered one after the
    /// other from the first.
    nodes: Arc<Vec<(At, Vec<u8>)>>,
    /// New records, by map value.
    records: HashMap<Value, Vec<u8>>,
}

/// The store with the batches in flight on top, as a [`NodeSource`].
struct Nodes<'a> {
    store: &'a dyn Durable,
    in_flight: &'a VecDeque<InFlight>,
}

impl NodeSource for Nodes<'_> {
    type Error = StorageError;
    fn node(&self, at: At) -> Result<Option<Node>, StorageError> {
        let held = self.in_flight.iter().find_map(|f| {
            let first = f.nodes.first().map(|(a, _)| *a)?;
            at.checked_sub(first)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| f.nodes.get(i))
                .filter(|(n, _)| *n == at)
                .map(|(_, b)| b)
        });
        if let Some(b) = held {
            return Node::decode(b).map(Some).map_err(|e| StorageError::Corrupt {
                what: "map node in flight",
                key: at.to_string(),
                reason: e.to_string(),
            });
        }
        self.store.map_node(at)
    }
}

/// A stored map record that does not hold what the map says.
fn corrupt(what: &'static str, key: &str, reason: String) -> Unavailable {
    Unavailable::Map(Arc::new(StorageError::Corrupt {
        what,
        key: key.to_owned(),
        reason,
    }))
}

fn unavailable(e: NodeError<StorageError>) -> Unavailable {
    Unavailable::Map(Arc::new(match e {
        NodeError::Source(s) => s,
        other => StorageError::Corrupt {
            what: "map",
            key: String::new(),
            reason: other.to_string(),
        },
    }))
}

/// The map the sequencer changes: the stored one and the current batch's
/// changes.
pub struct Credentials {
    map: WorkingMap,
    /// The records this batch wrote, by value, and their bytes.
    written: HashMap<Value, (CredentialRecord, Vec<u8>)>,
    /// The chain records this batch wrote, by value, and their bytes.
    chains_written: HashMap<Value, (ChainRecord, Vec<u8>)>,
    /// Values of records this batch replaced that are stored.
    replaced: Vec<Value>,
    /// Values this batch wrote and replaced again (never stored).
    transient: HashSet<Value>,
    /// The map holds changes no state leaf committed yet.
    uncommitted: bool,
    /// Earlier batches' changes the store may not hold yet, oldest first.
    in_flight: VecDeque<InFlight>,
}

impl Credentials {
    /// The stored map `head` (`None`: empty), of which `last` is the last
    /// committed version.
    #[must_use]
    pub fn open(head: Option<MapHead>, last: Option<MapVersion>) -> Self {
        let (root, len, next) = head.map_or((Root::empty(), 0, 1), |h| (h.root, h.credentials, h.next));
        Self {
            map: WorkingMap::open(root, len, next),
            written: HashMap::new(),
            chains_written: HashMap::new(),
            replaced: Vec::new(),
            transient: HashSet::new(),
            uncommitted: head.is_some_and(|h| last.is_none_or(|v| v.root != h.root)),
            in_flight: VecDeque::new(),
        }
    }

    /// Forgets the in-flight changes the store now holds (its size shows
    /// their batch's write returned).
    fn settle(&mut self, store: &dyn Durable) {
        let stored = store.size();
        while self.in_flight.front().is_some_and(|f| f.end <= stored) {
            self.in_flight.pop_front();
        }
    }

    /// Number of keys in the map: credentials and submitter chains.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.map.len()
    }

    /// Whether no event named a credential yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether the map changed since its last commitment.
    #[must_use]
    pub fn changed(&self) -> bool {
        self.uncommitted || !self.written.is_empty() || !self.chains_written.is_empty()
    }

    /// The chain head of `submitter` with every earlier entry applied
    /// (this batch's included), `None` if it never was sequenced.
    ///
    /// # Errors
    /// [`Unavailable::Map`] if the stored map cannot be read.
    pub fn chain(&mut self, store: &dyn Durable, submitter: &str) -> Result<Option<ChainRecord>, Unavailable> {
        self.settle(store);
        let src = Nodes {
            store,
            in_flight: &self.in_flight,
        };
        let Some(v) = self.map.get(&src, &chain_key(submitter)).map_err(unavailable)? else {
            return Ok(None);
        };
        if let Some((r, _)) = self.chains_written.get(&v) {
            return Ok(Some(r.clone()));
        }
        let bytes = self.record_bytes(store, &v, "chain record", submitter)?;
        ChainRecord::from_canonical(&bytes)
            .map(Some)
            .map_err(|e| corrupt("chain record", submitter, e.to_string()))
    }

    /// The stored bytes of the record with map value `v` (`what` of `key`,
    /// for errors): from a batch in flight, else from the store.
    fn record_bytes(
        &self,
        store: &dyn Durable,
        v: &Value,
        what: &'static str,
        key: &str,
    ) -> Result<Vec<u8>, Unavailable> {
        match self.in_flight.iter().find_map(|f| f.records.get(v)) {
            Some(b) => Ok(b.clone()),
            None => store
                .map_record(v)
                .map_err(|e| Unavailable::Map(Arc::new(e)))?
                .ok_or_else(|| corrupt(what, key, "the map holds a record that is not stored".into())),
        }
    }

    /// Starts the chains the policy leaf at `index` (logged at `logged_at`,
    /// leaf hash `leaf_hash`) registers for the sequenced submitters of
    /// `policy` that have none ([`provlog_proto::chain::registrations`]).
    ///
    /// # Errors
    /// [`Unavailable::Map`] if the stored map cannot be read.
    pub fn register_chains(
        &mut self,
        store: &dyn Durable,
        policy: &provlog_proto::policy::Policy,
        index: u64,
        logged_at: &str,
        leaf_hash: &Hash,
    ) -> Result<(), Unavailable> {
        let mut failed = None;
        let new = provlog_proto::chain::registrations(policy, index, logged_at, leaf_hash, &mut |s| match self
            .chain(store, s)
        {
            Ok(c) => c.is_some(),
            Err(e) => {
                failed = Some(e);
                true
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        self.set_chains(store, new)
    }

    /// Moves `submitter`'s chain to entry `index` (bytes `entry`) if
    /// `link` is its next one (what a replay of stored entries does: the
    /// sequencer wrote only such links; others change nothing, as in
    /// `audit`).
    ///
    /// # Errors
    /// [`Unavailable::Map`] if the stored map cannot be read.
    pub fn advance_chain(
        &mut self,
        store: &dyn Durable,
        submitter: &str,
        link: &provlog_proto::chain::Link,
        index: u64,
        entry: &[u8],
        heartbeat_at: Option<&str>,
    ) -> Result<(), Unavailable> {
        let Some(cur) = self.chain(store, submitter)? else {
            return Ok(());
        };
        match cur.advance(link, index, &provlog_tlog::merkle::leaf_hash(entry), heartbeat_at) {
            Ok(next) => self.set_chains(store, vec![next]),
            Err(_) => Ok(()),
        }
    }

    /// Writes chain records (registrations and new heads).
    ///
    /// # Errors
    /// [`Unavailable::Map`] if the stored map cannot be read.
    pub fn set_chains(&mut self, store: &dyn Durable, records: Vec<ChainRecord>) -> Result<(), Unavailable> {
        self.settle(store);
        for r in records {
            let src = Nodes {
                store,
                in_flight: &self.in_flight,
            };
            let key = chain_key(&r.submitter);
            if let Some(old) = self.map.get(&src, &key).map_err(unavailable)? {
                if self.chains_written.remove(&old).is_some() {
                    self.transient.insert(old);
                } else {
                    self.replaced.push(old);
                }
            }
            let bytes = r.canonical();
            let v = chain_value(&bytes);
            self.map.set(&src, key, v).map_err(unavailable)?;
            self.chains_written.insert(v, (r, bytes));
        }
        Ok(())
    }

    /// The current record of `fingerprint` and its value.
    fn current(&mut self, store: &dyn Durable, fp: &str) -> Result<Option<(CredentialRecord, Value)>, Unavailable> {
        let src = Nodes {
            store,
            in_flight: &self.in_flight,
        };
        let Some(v) = self.map.get(&src, &credential_key(fp)).map_err(unavailable)? else {
            return Ok(None);
        };
        if let Some((r, _)) = self.written.get(&v) {
            return Ok(Some((r.clone(), v)));
        }
        let bytes = self.record_bytes(store, &v, "credential record", fp)?;
        let r =
            CredentialRecord::from_canonical(&bytes).map_err(|e| corrupt("credential record", fp, e.to_string()))?;
        Ok(Some((r, v)))
    }

    /// The state of credential `fp` with every earlier entry applied (this
    /// batch's included), `None` if no event named it.
    ///
    /// # Errors
    /// [`Unavailable::Map`] if the stored map cannot be read.
    pub fn state_of(
        &mut self,
        store: &dyn Durable,
        fp: &str,
    ) -> Result<Option<provlog_proto::ledger::RecordState>, Unavailable> {
        self.settle(store);
        Ok(self.current(store, fp)?.map(|(r, _)| r.state))
    }

    /// The records event `e` (entry `index`, by `submitter`) would write,
    /// or why it may not; changes nothing.
    ///
    /// # Errors
    /// [`SeqError::Ownership`] naming the rule; [`Unavailable::Map`] if
    /// the stored map cannot be read.
    pub fn check(
        &mut self,
        store: &dyn Durable,
        e: &Event,
        index: u64,
        submitter: &str,
    ) -> Result<Vec<CredentialRecord>, SeqError> {
        self.settle(store);
        changes(&mut |fp: &str| self.current(store, fp), e, index, submitter).map_err(|err| match err {
            CheckError::Rule(r) => SeqError::Ownership(r),
            CheckError::Read(u) => SeqError::Unavailable(u),
            _ => SeqError::Unavailable(Unavailable::Poisoned),
        })
    }

    /// Writes records [`Credentials::check`] returned.
    ///
    /// # Errors
    /// [`Unavailable::Map`] if the stored map cannot be read.
    pub fn apply(&mut self, store: &dyn Durable, records: Vec<CredentialRecord>) -> Result<(), Unavailable> {
        self.settle(store);
        for r in records {
            if let Some(p) = r.previous.as_deref().and_then(|p| provlog_tlog::b64::decode(p).ok()) {
                match <[u8; 32]>::try_from(p.as_slice()) {
                    Ok(old) if self.written.remove(&old).is_some() => {
                        self.transient.insert(old);
                    }
                    Ok(old) => self.replaced.push(old),
                    Err(_) => {}
                }
            }
            let bytes = r.canonical();
            let v = record_value(&bytes);
            let src = Nodes {
                store,
                in_flight: &self.in_flight,
            };
            self.map
                .set(&src, credential_key(&r.fingerprint), v)
                .map_err(unavailable)?;
            self.written.insert(v, (r, bytes));
        }
        Ok(())
    }

    /// Hashes the batch's changes: the map's root and what to store with
    /// the batch, the map then covering entries `[0, covers)`;
    /// `commitment` is the batch's state leaf (its index and `logged_at`),
    /// if it has one. Afterwards the changes count as stored: the caller
    /// hands them to the committer (this keeps them for the next batches
    /// until the store's size reaches `covers`), or stops the log.
    pub fn finish(&mut self, covers: u64, commitment: Option<(u64, i64)>) -> (Hash, MapWrite) {
        let u = self.map.finish();
        let credentials = self.map.len();
        let records: Vec<_> = self
            .written
            .drain()
            .map(|(v, (_, bytes))| (v, bytes))
            .chain(self.chains_written.drain().map(|(v, (_, bytes))| (v, bytes)))
            .collect();
        let had = !records.is_empty() || !u.nodes.is_empty();
        self.transient.clear();
        let write = MapWrite {
            nodes: Arc::new(u.nodes),
            records,
            unreachable_nodes: u.unreachable,
            unreachable_records: std::mem::take(&mut self.replaced),
            head: Some(MapHead {
                root: u.root,
                credentials,
                covers,
                next: u.next,
            }),
            version: commitment.map(|(index, logged_at)| MapVersion {
                index,
                root: u.root,
                credentials,
                logged_at,
            }),
        };
        if !write.nodes.is_empty() || !write.records.is_empty() {
            self.in_flight.push_back(InFlight {
                end: covers,
                nodes: Arc::clone(&write.nodes),
                records: write.records.iter().cloned().collect(),
            });
        }
        self.uncommitted = commitment.is_none() && (self.uncommitted || had);
        self.map.shrink_to_top();
        (u.root.hash, write)
    }
}
