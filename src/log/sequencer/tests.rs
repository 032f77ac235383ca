//! The write path in process, over a real `RocksDB` store in a temporary
//! directory: batch assembly on its own ([`Assembler`]), and the two
//! threads over a store that can be made to fail (as sunlight's
//! `TestSequenceErrors`/`TestFatalError` do with in-memory backends).

use super::batch::{Assembled, Assembler, Work};
use super::{
    Durable, EventJob, InflightMap, Outcome, Published, SeqError, Sequenced, Sequencer, SequencerOptions, Unavailable,
};
use crate::obs::metrics::Metrics;
use provlog_proto::policy::{Policy, Registry, ScopeError, SubmitterPolicy};
use provlog_proto::submission::Submission;
use provlog_storage::{AppendBatch, StorageError, Store, StoreOptions, dedup_key};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use provlog_tlog::merkle::{CompactRange, EMPTY_ROOT};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// 2025-11-25T10:00:00Z, the time the tests sequence at.
const NOW: i64 = 1_764_064_800_000;

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, ALG_ED25519, [seed; 32]).expect("key")
}

/// A registry with one submitter, `key`, allowed every action on targets
/// matching `targets`.
fn registry(key: &SignerKey, targets: &str) -> Arc<Registry> {
    Arc::new(
        Registry::new(Policy {
            submitters: vec![SubmitterPolicy {
                id: key.name().to_owned(),
                key: key.verifier().to_vkey_string(),
                actions: vec!["*".into()],
                targets: vec![targets.into()],
                systems: None,
                not_before: None,
                not_after: None,
                sequenced: false,
                heartbeat_interval_seconds: None,
            }],
            ..Policy::default()
        })
        .expect("registry"),
    )
}

/// An event job as a handler hands it over: signed by `key`, its
/// signature checked with `key`.
fn job(key: &SignerKey, id: &str, target: &str) -> EventJob {
    event_job(key, id, "rotate", target, None)
}

/// An event job with `action` on `target`, naming credential `fp` if given.
fn event_job(key: &SignerKey, id: &str, action: &str, target: &str, fp: Option<&str>) -> EventJob {
    let mut event = serde_json::json!({
        "event_id": id,
        "occurred_at": "2026-11-25T10:00:00Z",
        "action": action,
        "actor": {"id": "wf/rotate-keys", "type": "workflow"},
        "target": {"id": target, "type": "service_account", "system": "gcp"},
        "authority": {"approval_id": "CHG-42", "approved_by": "alice"},
        "decision": {"result": "allow", "policy_id": "rot-90d"},
        "outcome": "success",
    });
    if let Some(fp) = fp {
        event["credential"] = serde_json::json!({ "fingerprint": fp });
    }
    let v = provlog_proto::submission::sign(&event, key.name(), key).expect("sign");
    let submission = Submission::from_value(v).expect("submission");
    EventJob {
        dedup_key: dedup_key(&submission.submitter, &submission.event.event.event_id),
        verified_with: key.verifier(),
        approval_keys: Vec::new(),
        submission,
    }
}

type Answer = oneshot::Receiver<Result<Sequenced, SeqError>>;

fn event(j: EventJob) -> (Work, Answer) {
    let (tx, rx) = oneshot::channel();
    (Work::Event(j, tx), rx)
}

fn policy(r: Arc<Registry>) -> (Work, Answer) {
    let (tx, rx) = oneshot::channel();
    (Work::Policy(r, tx), rx)
}

/// The answer a job already got (not one that waits for the committer).
fn answered(rx: &mut Answer) -> Result<Sequenced, SeqError> {
    rx.try_recv()
        .expect("answered without waiting for the committer")
        .map_err(SeqError::into_inner)
}

fn open(dir: &tempfile::TempDir) -> Arc<Store> {
    Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).expect("store"))
}

fn empty() -> Arc<Published> {
    Arc::new(Published {
        size: 0,
        root: EMPTY_ROOT,
        checkpoint: String::new(),
    })
}

/// Assembles `work` and writes the commit, as the committer would, so the
/// next assembly sees it in the store. Returns the indexes of the new
/// entries and the assembly's fatal cause.
fn assemble_and_write(
    a: &mut Assembler,
    store: &Store,
    inflight: &Mutex<InflightMap>,
    work: Vec<Work>,
) -> (Vec<u64>, Option<Unavailable>) {
    let Assembled { commit, fatal } = a.assemble(work, NOW, store, inflight, &empty());
    let Some(c) = commit else { return (Vec::new(), fatal) };
    Durable::append(store, &c.batch).expect("append");
    let mut set = inflight.lock().expect("lock");
    for (k, _) in &c.batch.dedup {
        set.remove(k);
    }
    (c.waiters.iter().map(|w| w.index).collect(), fatal)
}

fn assembler(log: &SignerKey, registry: Option<(u64, Arc<Registry>)>) -> Assembler {
    Assembler::new(
        super::SigningKeys::single(log.clone()),
        CompactRange::default(),
        registry,
        false,
        i64::MIN,
        super::credentials::Credentials::open(None, None),
        super::batch::CommitSchedule {
            last_ms: Some(0),
            interval_ms: i64::MAX,
        },
    )
}

#[test]
fn duplicates_in_flight_and_stored_get_the_original_index_and_conflicts_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir);
    let (log, ci) = (key("log", 1), key("ci", 2));
    let inflight = Mutex::default();
    let mut a = assembler(&log, None);
    let (p, _p) = policy(registry(&ci, "svc-*"));
    assert_eq!(assemble_and_write(&mut a, &store, &inflight, vec![p]).0, vec![0]);

    // Batch 1: e1 is new; its retry in the same batch waits on it; the
    // same id with another event conflicts at once.
    let (w1, _r1) = event(job(&ci, "e1", "svc-a"));
    let (w1_again, mut r1_again) = event(job(&ci, "e1", "svc-a"));
    let (w1_other, mut r1_other) = event(job(&ci, "e1", "svc-b"));
    let Assembled { commit, fatal } =
        a.assemble(vec![w1, w1_again, w1_other], NOW, store.as_ref(), &inflight, &empty());
    assert!(fatal.is_none());
    let c = commit.expect("a commit");
    assert_eq!(c.batch.entries.len(), 1, "one new entry");
    assert_eq!(c.waiters.iter().map(|w| w.index).collect::<Vec<_>>(), vec![1]);
    assert!(
        matches!(r1_again.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
        "a retry in flight waits for the write"
    );
    assert!(matches!(answered(&mut r1_other), Err(SeqError::Conflict(1))));

    // Batch 2, while batch 1 is still being written: the key is in flight.
    let (w1_late, mut r1_late) = event(job(&ci, "e1", "svc-a"));
    let (w1_late_other, mut r1_late_other) = event(job(&ci, "e1", "svc-c"));
    let later = a.assemble(vec![w1_late, w1_late_other], NOW, store.as_ref(), &inflight, &empty());
    assert!(later.commit.is_none(), "nothing new");
    assert!(matches!(r1_late.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
    assert!(matches!(answered(&mut r1_late_other), Err(SeqError::Conflict(1))));
    let waiting = inflight
        .lock()
        .expect("lock")
        .get(&c.batch.dedup[0].0)
        .map(|i| i.waiters.len());
    assert_eq!(waiting, Some(2), "both retries wait on the entry in flight");

    // Batch 1 is written and its keys leave the in-flight set: a retry now
    // finds the stored entry.
    Durable::append(store.as_ref(), &c.batch).expect("append");
    inflight.lock().expect("lock").clear();
    let (w1_stored, mut r1_stored) = event(job(&ci, "e1", "svc-a"));
    let (w1_stored_other, mut r1_stored_other) = event(job(&ci, "e1", "svc-d"));
    let (idx, _) = assemble_and_write(&mut a, &store, &inflight, vec![w1_stored, w1_stored_other]);
    assert!(idx.is_empty(), "nothing new");
    let dup = answered(&mut r1_stored).expect("duplicate");
    assert_eq!((dup.index, dup.outcome), (1, Outcome::Duplicate));
    assert!(matches!(answered(&mut r1_stored_other), Err(SeqError::Conflict(1))));
    assert_eq!(store.size(), 2, "the policy and e1, once");
}

#[test]
fn the_registry_in_force_when_sequenced_decides_not_the_one_the_handler_saw() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir);
    let (log, ci) = (key("log", 1), key("ci", 2));
    let inflight = Mutex::default();
    // The handler checked the event under a registry that allowed svc-*;
    // by the time it is sequenced, a narrower one is in force.
    let mut a = assembler(&log, Some((0, registry(&ci, "svc-*"))));
    let (p, _p) = policy(registry(&ci, "db-*"));
    let (e, mut r) = event(job(&ci, "e1", "svc-a"));
    let (idx, _) = assemble_and_write(&mut a, &store, &inflight, vec![p, e]);
    assert_eq!(idx, vec![0], "only the policy leaf is appended");
    assert!(
        matches!(answered(&mut r), Err(SeqError::Scope(ScopeError::Target { .. }))),
        "refused under the registry in force"
    );
}

#[test]
fn a_registry_change_between_two_events_of_one_batch_applies_to_the_second_only() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir);
    let (log, ci, other) = (key("log", 1), key("ci", 2), key("other", 3));
    let inflight = Mutex::default();
    let mut a = assembler(&log, Some((0, registry(&ci, "svc-*"))));
    let (e1, _r1) = event(job(&ci, "e1", "svc-a"));
    // The new registry names another submitter only.
    let (p, _p) = policy(registry(&other, "*"));
    let (e2, mut r2) = event(job(&ci, "e2", "svc-a"));
    let Assembled { commit, .. } = a.assemble(vec![e1, p, e2], NOW, store.as_ref(), &inflight, &empty());
    let c = commit.expect("commit");
    assert_eq!(c.waiters.iter().map(|w| w.index).collect::<Vec<_>>(), vec![0, 1]);
    assert!(
        c.batch.policy.as_ref().is_some_and(|p| p.index == 1),
        "the policy leaf is entry 1"
    );
    assert!(matches!(
        answered(&mut r2),
        Err(SeqError::Scope(ScopeError::UnknownSubmitter(_)))
    ));
}

#[test]
fn no_event_is_sequenced_before_a_registry_is_logged() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir);
    let (log, ci) = (key("log", 1), key("ci", 2));
    let mut a = assembler(&log, None);
    let (e, mut r) = event(job(&ci, "e1", "svc-a"));
    let (idx, _) = assemble_and_write(&mut a, &store, &Mutex::default(), vec![e]);
    assert!(idx.is_empty());
    assert!(matches!(
        answered(&mut r),
        Err(SeqError::Unavailable(Unavailable::NoRegistry))
    ));
}

#[test]
fn a_policy_leaf_over_the_entry_limit_is_never_sequenced() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir);
    let (log, ci) = (key("log", 1), key("ci", 2));
    let mut a = assembler(&log, Some((0, registry(&ci, "*"))));
    // One submitter with 300 long target patterns: a leaf of about 75 KB.
    let targets = (0..300).map(|i| format!("svc-{i:04}-{}", "x".repeat(240))).collect();
    let big = Arc::new(
        Registry::new(Policy {
            submitters: vec![SubmitterPolicy {
                id: ci.name().to_owned(),
                key: ci.verifier().to_vkey_string(),
                actions: vec!["*".into()],
                targets,
                systems: None,
                not_before: None,
                not_after: None,
                sequenced: false,
                heartbeat_interval_seconds: None,
            }],
            ..Policy::default()
        })
        .expect("registry"),
    );
    let (p, mut r) = policy(big);
    let (e, _e) = event(job(&ci, "e1", "svc-a"));
    let (idx, _) = assemble_and_write(&mut a, &store, &Mutex::default(), vec![p, e]);
    assert!(
        matches!(answered(&mut r), Err(SeqError::EntryTooLarge { limit: 65_535, .. })),
        "refused"
    );
    assert_eq!(
        idx,
        vec![0],
        "the event after it is sequenced under the registry still in force"
    );
    assert_eq!(store.size(), 1);
}

#[test]
fn logged_at_never_goes_backwards_and_a_clock_far_behind_is_refused_until_it_catches_up() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir);
    let (log, ci) = (key("log", 1), key("ci", 2));
    let inflight = Mutex::default();
    let mut a = assembler(&log, Some((0, registry(&ci, "*"))));
    let logged_at = |store: &Store, i: u64| -> String {
        let e = store.entry(i).expect("read").expect("entry");
        let v: serde_json::Value = serde_json::from_slice(&e).expect("json");
        v["logged_at"].as_str().expect("logged_at").to_owned()
    };
    let mut at = |now: i64, id: &str| {
        let (e, r) = event(job(&ci, id, "svc-a"));
        let Assembled { commit, .. } = a.assemble(vec![e], now, store.as_ref(), &inflight, &empty());
        if let Some(c) = commit {
            Durable::append(store.as_ref(), &c.batch).expect("append");
            inflight.lock().expect("lock").clear();
        }
        r
    };
    let _r = at(NOW, "e0");
    assert_eq!(logged_at(&store, 0), "2025-11-25T10:00:00.000Z");
    // A small step back is held at the last logged_at.
    let _r = at(NOW - 2_000, "e1");
    assert_eq!(logged_at(&store, 1), "2025-11-25T10:00:00.000Z");
    // Far behind (the time source was corrected after a jump ahead): refused.
    let mut r = at(NOW - 600_000, "e2");
    assert!(
        matches!(
            answered(&mut r),
            Err(SeqError::Unavailable(Unavailable::ClockBehind { .. }))
        ),
        "refused while the clock is far behind"
    );
    assert_eq!(store.size(), 2, "nothing appended");
    // Once the clock catches up, the log goes on.
    let _r = at(NOW + 1_000, "e2");
    assert_eq!(logged_at(&store, 2), "2025-11-25T10:00:01.000Z");
}

#[test]
fn a_changed_key_is_checked_again_at_sequencing() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir);
    let log = key("log", 1);
    let (old, new) = (key("ci", 2), key("ci", 4));
    // The handler verified under the old key; the registry now names the
    // new one, under which the signature does not verify.
    let mut a = assembler(&log, Some((0, registry(&new, "*"))));
    let (e, mut r) = event(job(&old, "e1", "svc-a"));
    let (idx, _) = assemble_and_write(&mut a, &store, &Mutex::default(), vec![e]);
    assert!(idx.is_empty());
    assert!(matches!(answered(&mut r), Err(SeqError::BadSignature(_))));
}

/// A real store whose writes fail on command.
struct Failing {
    store: Arc<Store>,
    fail: AtomicBool,
}

impl Durable for Failing {
    fn dedup_many(&self, keys: &[&[u8]]) -> Vec<Result<Option<u64>, StorageError>> {
        Durable::dedup_many(self.store.as_ref(), keys)
    }
    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.store.entry(index)
    }
    fn append(&self, batch: &AppendBatch) -> Result<(), StorageError> {
        if self.fail.load(Ordering::Acquire) {
            return Err(StorageError::Corrupt {
                what: "batch",
                key: format!("{}", batch.start),
                reason: "injected write failure".into(),
            });
        }
        self.store.append(batch)
    }
    fn set_frozen(&self) -> Result<u64, StorageError> {
        self.store.set_frozen()
    }
    fn map_node(
        &self,
        at: provlog_proto::map_nodes::At,
    ) -> Result<Option<provlog_proto::map_nodes::Node>, StorageError> {
        Durable::map_node(self.store.as_ref(), at)
    }
    fn map_record(&self, value: &provlog_tlog::merkle::Hash) -> Result<Option<Vec<u8>>, StorageError> {
        self.store.map_record(value)
    }
    fn size(&self) -> u64 {
        self.store.size()
    }
    fn approval_uses(
        &self,
        approver: &str,
        id: &str,
        limit: usize,
    ) -> Result<(Option<provlog_tlog::merkle::Hash>, Vec<u64>), StorageError> {
        self.store.approval_uses(approver, id, limit)
    }
}

fn start(store: &Arc<Store>, durable: Arc<dyn Durable>, queue_capacity: usize) -> Sequencer {
    Sequencer::start_over(
        store,
        durable,
        super::SigningKeys::single(key("log", 1)),
        SequencerOptions {
            batch_max_entries: 1000,
            batch_max_wait: Duration::ZERO,
            queue_capacity,
            state_commit_interval: Duration::from_hours(1),
            pipeline_depth: super::PIPELINE_DEPTH,
        },
        Arc::new(Metrics::new()),
        None,
    )
    .expect("start")
}

#[tokio::test]
async fn a_failed_write_stops_the_log_and_acknowledges_nothing_unwritten() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir);
    let failing = Arc::new(Failing {
        store: Arc::clone(&store),
        fail: AtomicBool::new(false),
    });
    let seq = start(&store, Arc::clone(&failing) as Arc<dyn Durable>, 1000);
    let ci = key("ci", 2);
    // Entry 0 is the policy, 1 the first (empty) state commitment.
    seq.append_policy(registry(&ci, "*")).await.expect("policy");
    let ok = seq.submit(job(&ci, "e1", "svc-a")).await.expect("e1");
    assert_eq!((ok.index, ok.outcome), (2, Outcome::Created));

    failing.fail.store(true, Ordering::Release);
    let refused = seq
        .submit_many(vec![job(&ci, "e2", "svc-a"), job(&ci, "e3", "svc-a")])
        .await;
    for r in &refused {
        assert!(
            matches!(r, Err(SeqError::Unavailable(Unavailable::Write { start: 3, .. }))),
            "{r:?}"
        );
    }
    assert_eq!(store.size(), 3, "nothing of the failed batch is stored");
    assert!(store.entry(3).expect("read").is_none());
    assert_eq!(seq.published().size, 3, "no checkpoint covers the unwritten entries");
    assert!(matches!(seq.failure(), Some(Unavailable::Write { .. })));

    // The store works again, but the log stays stopped until a restart:
    // its in-memory tree ran ahead of the disk.
    failing.fail.store(false, Ordering::Release);
    let later = seq.submit(job(&ci, "e4", "svc-a")).await;
    assert!(
        matches!(later, Err(SeqError::Unavailable(Unavailable::Write { .. }))),
        "{later:?}"
    );
    let retry = seq.submit(job(&ci, "e1", "svc-a")).await;
    assert!(matches!(retry, Err(SeqError::Unavailable(_))), "{retry:?}");
    assert_eq!(store.size(), 3);
    seq.shutdown();

    // A restart resumes from the durable state and appends at its end.
    let seq = start(&store, Arc::clone(&store) as Arc<dyn Durable>, 1000);
    let again = seq.submit(job(&ci, "e2", "svc-a")).await.expect("after restart");
    assert_eq!((again.index, again.outcome), (3, Outcome::Created));
    seq.shutdown();
}

#[tokio::test]
async fn a_batch_over_the_queue_capacity_is_refused_whole() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir);
    let seq = start(&store, Arc::clone(&store) as Arc<dyn Durable>, 10);
    let ci = key("ci", 2);
    seq.append_policy(registry(&ci, "*")).await.expect("policy");
    let jobs = (0..11).map(|i| job(&ci, &format!("e{i}"), "svc-a")).collect();
    let results = seq.submit_many(jobs).await;
    assert_eq!(results.len(), 11);
    assert!(
        results.iter().all(|r| matches!(r, Err(SeqError::Overloaded))),
        "{results:?}"
    );
    assert_eq!(store.size(), 2, "only the policy leaf and the first state commitment");
    let fits = seq
        .submit_many((0..10).map(|i| job(&ci, &format!("e{i}"), "svc-a")).collect())
        .await;
    assert!(fits.iter().all(Result::is_ok));
    assert_eq!(store.size(), 12);
    seq.shutdown();
}

/// A job whose event issues the credential `fp` for `target`.
fn issue_job(key: &SignerKey, id: &str, target: &str, fp: &str) -> EventJob {
    event_job(key, id, "issue", target, Some(fp))
}

/// The assembler of a new log (no registry, no commitment yet, idle
/// commitments every 10 s).
fn new_log_assembler(log: &SignerKey) -> Assembler {
    Assembler::new(
        super::SigningKeys::single(log.clone()),
        CompactRange::default(),
        None,
        false,
        i64::MIN,
        super::credentials::Credentials::open(None, None),
        super::batch::CommitSchedule {
            last_ms: None,
            interval_ms: 10_000,
        },
    )
}

/// A new log whose first batch logged a registry letting submitter `ci`
/// do anything: its directory, store, submitter key, assembler and
/// in-flight set.
fn new_log_allowing_all() -> (tempfile::TempDir, Arc<Store>, SignerKey, Assembler, Mutex<InflightMap>) {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    let (log, sub) = (key("log.example/x", 1), key("ci", 2));
    let mut a = new_log_assembler(&log);
    let inflight = Mutex::new(InflightMap::new());
    assemble_and_write(&mut a, &store, &inflight, vec![policy(registry(&sub, "*")).0]);
    (dir, store, sub, a, inflight)
}

/// The state leaf at `index` of `store`, parsed.
fn state_at(store: &Store, index: u64) -> Option<provlog_proto::leaf::StateLeaf> {
    match provlog_proto::leaf::Leaf::parse(&store.entry(index).ok()??) {
        Ok(provlog_proto::leaf::Leaf::State(s)) => Some(s),
        _ => None,
    }
}

#[test]
fn every_batch_that_changes_a_credential_ends_with_its_state_commitment() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    let (log, sub) = (key("log.example/x", 1), key("ci", 2));
    let mut a = new_log_assembler(&log);
    let inflight = Mutex::new(InflightMap::new());
    let mut ledger = provlog_proto::ledger::Ledger::new();
    // The first batch of a log commits the (empty) map after its policy.
    let (idx, _) = assemble_and_write(&mut a, &store, &inflight, vec![policy(registry(&sub, "*")).0]);
    assert_eq!(idx, [0]);
    let s = state_at(&store, 1).expect("entry 1 is a state leaf");
    assert_eq!((s.size, s.credentials, s.map_root), (1, 0, ledger.root()));
    // A batch issuing two credentials: its commitment follows its events
    // and holds the map with both.
    let (fa, fb) = (
        format!("sha256:{}", "a".repeat(64)),
        format!("sha256:{}", "b".repeat(64)),
    );
    let (idx, _) = assemble_and_write(
        &mut a,
        &store,
        &inflight,
        vec![
            event(issue_job(&sub, "i-1", "svc-a", &fa)).0,
            event(issue_job(&sub, "i-2", "svc-b", &fb)).0,
        ],
    );
    assert_eq!(idx, [2, 3]);
    for i in 2..4 {
        let e = provlog_proto::leaf::Leaf::parse(&store.entry(i).expect("r").expect("e")).expect("leaf");
        let provlog_proto::leaf::Leaf::Event(e) = e else {
            panic!("an event")
        };
        ledger.push(&e.event.event, i, &e.submitter).expect("push");
    }
    let s = state_at(&store, 4).expect("entry 4 is a state leaf");
    assert_eq!((s.size, s.credentials, s.map_root), (4, 2, ledger.root()));
    // A batch that changes no credential, within the interval: no commitment.
    let (idx, _) = assemble_and_write(&mut a, &store, &inflight, vec![event(job(&sub, "r-1", "svc-c")).0]);
    assert_eq!(idx, [5]);
    assert_eq!(store.size(), 6, "no commitment after a batch that changed nothing");
    assert_eq!(a.commit_due_in(NOW), Some(Duration::from_secs(10)));
    // Idle past the interval: a batch of only the commitment it owes.
    let Assembled { commit, .. } = a.assemble(Vec::new(), NOW + 10_000, store.as_ref(), &inflight, &empty());
    let c = commit.expect("an owed commitment is a batch of its own");
    assert_eq!(c.batch.entries.len(), 1);
    Durable::append(store.as_ref(), &c.batch).expect("append");
    let s = state_at(&store, 6).expect("entry 6 is a state leaf");
    assert_eq!((s.size, s.map_root), (6, ledger.root()));
    // Every commitment recomputes from the entries, as audit does it.
    let mut auditor = provlog_proto::audit::Auditor::new("log");
    for i in 0..store.size() {
        auditor
            .push(&store.entry(i).expect("r").expect("e"))
            .expect("no finding");
    }
}

/// A store the sequencer wrote holds its map: a start reads nothing but
/// its head. A store holding the same entries without the map (restored,
/// rebuilt, or written before the map was stored) catches up from the
/// entries to the same map, checking every commitment on the way; one
/// whose commitment the entries do not give is refused.
#[test]
fn the_stored_map_is_read_at_start_and_a_store_without_it_catches_up() {
    let (_dir, store, sub, mut a, inflight) = new_log_allowing_all();
    for n in 0..5u8 {
        let fp = format!("sha256:{}", char::from(b'a' + n).to_string().repeat(64));
        let jobs = vec![
            event(issue_job(&sub, &format!("i-{n}"), "svc", &fp)).0,
            event(event_job(&sub, &format!("r-{n}"), "revoke", "svc", Some(&fp))).0,
        ];
        assemble_and_write(&mut a, &store, &inflight, jobs);
    }
    let size = store.size();
    assert_eq!(
        super::catch_up_map(&store, size).expect("current"),
        0,
        "nothing to replay"
    );
    let head = store.map_head().expect("head").expect("a map");
    assert_eq!((head.covers, head.credentials), (size, 5));
    // The same entries in a store without the map.
    let copy_dir = tempfile::tempdir().expect("tmp");
    let copy = open(&copy_dir);
    let mut range = CompactRange::default();
    let entries = store.entries(0, size).expect("entries");
    let mut batch = provlog_storage::rebuild::batch_from_entries(&mut range, entries.clone()).expect("batch");
    batch.checkpoint = store.latest_checkpoint().expect("cp").expect("a checkpoint");
    copy.append(&batch).expect("append");
    assert_eq!(copy.map_head().expect("head"), None);
    assert_eq!(super::catch_up_map(&copy, size).expect("caught up"), size);
    let caught = copy.map_head().expect("head").expect("a map");
    assert_eq!((caught.root, caught.credentials, caught.covers), (head.root, 5, size));
    assert_eq!(
        copy.map_versions(0, 100).expect("versions"),
        store.map_versions(0, 100).expect("versions"),
        "the same versions, each checked against its state leaf"
    );
    // Entries whose commitment they do not give: the start is refused.
    let bad_dir = tempfile::tempdir().expect("tmp");
    let bad = open(&bad_dir);
    let mut tampered = entries;
    let last = tampered.len() - 1;
    let text = String::from_utf8(tampered[last].clone()).expect("utf8");
    assert!(text.contains("\"kind\":\"state\""), "{text}");
    tampered[last] = text.replace("\"credentials\":5", "\"credentials\":6").into_bytes();
    let mut range = CompactRange::default();
    let batch = provlog_storage::rebuild::batch_from_entries(&mut range, tampered).expect("batch");
    bad.append(&batch).expect("append");
    assert!(matches!(
        super::catch_up_map(&bad, size),
        Err(super::StartError::StateMismatch { index, .. }) if index == last as u64
    ));
}

/// The sequencer assembles a batch while the committer writes the one
/// before: a batch checked before the earlier one is stored sees that
/// batch's credential changes (kept in memory until the store has them),
/// and once both are written the stored map is the map of the entries.
#[test]
fn a_batch_assembled_before_the_previous_one_is_written_sees_its_changes() {
    let (_dir, store, sub, mut a, inflight) = new_log_allowing_all();
    let fa = format!("sha256:{}", "a".repeat(64));
    let first = a
        .assemble(
            vec![event(issue_job(&sub, "i-1", "svc-a", &fa)).0],
            NOW,
            store.as_ref(),
            &inflight,
            &empty(),
        )
        .commit
        .expect("a batch");
    // The issue is not written yet: another target's revocation of the
    // credential is refused by its owner, the owner's own is sequenced.
    let (other, mut refused) = event(event_job(&sub, "x-1", "revoke", "svc-b", Some(&fa)));
    let (own, _) = event(event_job(&sub, "r-1", "revoke", "svc-a", Some(&fa)));
    let second = a.assemble(vec![other, own], NOW, store.as_ref(), &inflight, &empty());
    assert!(second.fatal.is_none(), "the batch in flight is read from memory");
    assert!(matches!(answered(&mut refused), Err(SeqError::Ownership(_))));
    let second = second.commit.expect("a batch");
    assert_eq!(second.waiters.iter().map(|w| w.index).collect::<Vec<_>>(), [4]);
    Durable::append(store.as_ref(), &first.batch).expect("append");
    Durable::append(store.as_ref(), &second.batch).expect("append");
    let mut ledger = provlog_proto::ledger::Ledger::new();
    for i in 0..store.size() {
        if let Ok(provlog_proto::leaf::Leaf::Event(e)) =
            provlog_proto::leaf::Leaf::parse(&store.entry(i).expect("r").expect("e"))
        {
            ledger.push(&e.event.event, i, &e.submitter).expect("push");
        }
    }
    let head = store.map_head().expect("read").expect("a head");
    assert_eq!((head.root.hash, head.covers), (ledger.root(), store.size()));
    let s = state_at(&store, 5).expect("entry 5 is the second batch's state leaf");
    assert_eq!((s.size, s.credentials, s.map_root), (5, 1, ledger.root()));
    // A third batch, after both writes, reads the stored map.
    let (w, mut r) = event(issue_job(&sub, "i-2", "svc-a", &fa));
    let third = a.assemble(vec![w], NOW, store.as_ref(), &inflight, &empty());
    assert!(third.commit.is_none() && third.fatal.is_none());
    assert!(
        matches!(answered(&mut r), Err(SeqError::Ownership(_))),
        "a revoked credential is not issued again"
    );
}

/// Issue 15.2: over a random stream of events (actions, targets, claimed
/// decisions, outcomes) under a registry with Cedar policies that read the
/// credential map, the log accepts exactly the events whose claim agrees
/// with its policies, records the decision, and an auditor replaying the
/// stored entries re-evaluates every one and reaches the same decisions.
#[test]
fn audit_re_evaluation_over_a_random_stream_equals_the_logs_decisions() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use provlog_proto::audit::{Audited, Auditor};
    use provlog_proto::cedar::CedarPolicies;
    let policies = r#"
@id("within-scope") permit (principal, action, resource);
@id("no-touching-revoked") forbid (principal, action, resource)
  when { context has credential && context.credential.state == "revoked" && action != Action::"revoke" };
@id("freeze-b") forbid (principal, action in [Action::"issue", Action::"grant"], resource)
  when { resource.id like "svc-b*" };
@id("failures-are-denials") forbid (principal, action, resource) when { context.outcome == "failure" };
"#;
    let step = (0usize..4, 0usize..4, any::<bool>(), any::<bool>());
    let mut runner = TestRunner::new(Config {
        cases: 12,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(step, 1..60), |steps| {
            let dir = tempfile::tempdir().expect("tmp");
            let store = open(&dir);
            let (log, sub) = (key("log.example/x", 1), key("ci", 2));
            let mut p = registry(&sub, "*").policy().clone();
            p.cedar = Some(CedarPolicies {
                policies: policies.into(),
                schema: None,
            });
            let reg = Arc::new(Registry::new(p).expect("registry"));
            let mut a = new_log_assembler(&log);
            let inflight = Mutex::new(InflightMap::new());
            assemble_and_write(&mut a, &store, &inflight, vec![policy(reg).0]);
            let mut accepted = 0usize;
            // Batches of up to 5 events, so that decisions also read the
            // map changes of earlier events in the same batch.
            for (b, chunk) in steps.chunks(5).enumerate() {
                let mut answers = Vec::new();
                let mut work = Vec::new();
                for (i, &(act, tgt, allow, success)) in chunk.iter().enumerate() {
                    let action = ["issue", "rotate", "revoke", "grant"][act];
                    let target = format!("svc-{}", ["a", "b", "c", "d"][tgt]);
                    let fp = format!(
                        "sha256:{}",
                        provlog_tlog::hex::encode(provlog_tlog::merkle::sha256(&[target.as_bytes()]))
                    );
                    let ev = serde_json::json!({
                        "event_id": format!("e{b}-{i}"),
                        "occurred_at": "2026-11-25T10:00:00Z",
                        "action": action,
                        "actor": {"id": "wf/x", "type": "workflow"},
                        "target": {"id": target, "type": "service_account"},
                        "authority": {},
                        "decision": {"result": if allow { "allow" } else { "deny" }},
                        "outcome": if success { "success" } else { "failure" },
                        "credential": {"fingerprint": fp},
                    });
                    let v = provlog_proto::submission::sign(&ev, "ci", &sub).expect("sign");
                    let submission = Submission::from_value(v).expect("submission");
                    let (w, rx) = event(EventJob {
                        dedup_key: dedup_key("ci", &submission.event.event.event_id),
                        verified_with: sub.verifier(),
                        approval_keys: Vec::new(),
                        submission,
                    });
                    work.push(w);
                    answers.push(rx);
                }
                let before = accepted;
                let (written, fatal) = assemble_and_write(&mut a, &store, &inflight, work);
                prop_assert!(fatal.is_none());
                for mut rx in answers {
                    match rx.try_recv() {
                        // Sequenced: its reply was the committer's, which
                        // `assemble_and_write` drops.
                        Err(oneshot::error::TryRecvError::Closed) => accepted += 1,
                        Ok(Err(e))
                            if matches!(e.clone().into_inner(), SeqError::Decision(_) | SeqError::Ownership(_)) => {}
                        other => prop_assert!(false, "unexpected answer {:?}", other.map(|r| r.map(|s| s.index))),
                    }
                }
                prop_assert_eq!(accepted, before + written.len(), "every accepted event was written");
            }
            // The auditor replays what was stored.
            let mut auditor = Auditor::new("log.example/x");
            let mut events = 0usize;
            for i in 0..store.size() {
                let entry = store.entry(i).expect("read").expect("stored");
                match auditor.push(&entry) {
                    Ok(Audited::Event { .. }) => {
                        events += 1;
                        let Ok(provlog_proto::leaf::Leaf::Event(e)) = provlog_proto::leaf::Leaf::parse(&entry) else {
                            panic!("event leaf")
                        };
                        let d = e.policy_decision.expect("a decision is recorded");
                        prop_assert_eq!(d.decision, e.event.event.decision.result);
                    }
                    Ok(_) => {}
                    Err(f) => prop_assert!(false, "audit finding: {f}"),
                }
            }
            prop_assert_eq!(events, accepted);
            Ok(())
        })
        .expect("property");
}

/// Issue 16.1: over a random stream of chain entries (events and
/// heartbeats, each at the right position or off by one, naming the head
/// or another hash, some retried), in batches, the sequencer accepts
/// exactly what a model of the chain accepts; the committed chain record is
/// the model's head; and an auditor replaying the stored entries finds the
/// chain whole.
#[test]
fn a_chain_takes_exactly_its_next_links_over_a_random_stream() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use provlog_proto::chain::{ChainRecord, Heartbeat, HeartbeatSubmission, chain_key};
    // (heartbeat?, seq offset from the next one, names the head?, retry of the last accepted?)
    let step = (any::<bool>(), -1i64..=1, 0u8..4, 0u8..8);
    let mut runner = TestRunner::new(Config {
        cases: 16,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(step, 1..40), |steps| {
            let dir = tempfile::tempdir().expect("tmp");
            let store = open(&dir);
            let (log, sub) = (key("log.example/x", 1), key("ci", 2));
            let mut p = registry(&sub, "*").policy().clone();
            p.submitters[0].sequenced = true;
            let mut a = new_log_assembler(&log);
            let inflight = Mutex::new(InflightMap::new());
            assemble_and_write(
                &mut a,
                &store,
                &inflight,
                vec![policy(Arc::new(Registry::new(p).expect("registry"))).0],
            );
            let ts = provlog_proto::time::format_millis(NOW).expect("ts");
            let b64 = provlog_tlog::b64::encode;
            // The model: the head's seq and leaf hash.
            let reg_hash = provlog_tlog::merkle::leaf_hash(&store.entry(0).expect("r").expect("policy leaf"));
            let (mut seq, mut head) = (0u64, reg_hash);
            let mut last_body: Option<(bool, serde_json::Value)> = None;
            let mut n = 0usize;
            for chunk in steps.chunks(5) {
                let mut work = Vec::new();
                let mut expect = Vec::new();
                for &(hb, off, prev_choice, retry) in chunk {
                    n += 1;
                    // A retry sends the last accepted submission again: a
                    // duplicate (answered with its index), never a new entry.
                    if retry == 0
                        && let Some((was_hb, body)) = &last_body
                    {
                        let w = if *was_hb {
                            let s = HeartbeatSubmission::parse(&serde_json::to_vec(body).expect("j")).expect("hb");
                            let (tx, rx) = oneshot::channel();
                            let dk = provlog_storage::chain_seq_key("ci", s.heartbeat.seq);
                            (
                                Work::Heartbeat(
                                    super::HeartbeatJob {
                                        submission: s,
                                        verified_with: sub.verifier(),
                                        dedup_key: dk,
                                    },
                                    tx,
                                ),
                                rx,
                            )
                        } else {
                            let s = Submission::from_value(body.clone()).expect("s");
                            event(EventJob {
                                dedup_key: dedup_key("ci", &s.event.event.event_id),
                                verified_with: sub.verifier(),
                                approval_keys: Vec::new(),
                                submission: s,
                            })
                        };
                        work.push(w.0);
                        expect.push((w.1, None));
                        continue;
                    }
                    let claim = seq.saturating_add_signed(off + 1).max(1);
                    let prev = if prev_choice == 0 { [7u8; 32] } else { head };
                    let ok = claim == seq + 1 && prev == head;
                    let (w, rx, leaf) = if hb {
                        let h = Heartbeat {
                            seq: claim,
                            prev: b64(prev),
                            sent_at: "2026-11-25T10:00:00Z".into(),
                            actions: None,
                        };
                        let body = HeartbeatSubmission::sign(&h, "ci", &sub, "log.example/x");
                        let s = HeartbeatSubmission::parse(&body).expect("hb");
                        let leaf = s.leaf.render(&ts);
                        if ok {
                            last_body = Some((true, serde_json::from_slice(&body).expect("j")));
                        }
                        let (tx, rx) = oneshot::channel();
                        let job = super::HeartbeatJob {
                            dedup_key: provlog_storage::chain_seq_key("ci", claim),
                            verified_with: sub.verifier(),
                            submission: s,
                        };
                        (Work::Heartbeat(job, tx), rx, leaf)
                    } else {
                        let ev = serde_json::json!({
                            "event_id": format!("e{n}"),
                            "occurred_at": "2026-11-25T10:00:00Z",
                            "action": "x-step",
                            "actor": {"id": "wf/x", "type": "workflow"},
                            "target": {"id": "svc-a", "type": "service_account"},
                            "authority": {},
                            "decision": {"result": "allow"},
                            "outcome": "success",
                            "seq": claim,
                            "prev": b64(prev),
                        });
                        let v = provlog_proto::submission::sign(&ev, "ci", &sub).expect("sign");
                        let s = Submission::from_value(v.clone()).expect("submission");
                        let leaf = s.leaf.render(&ts);
                        if ok {
                            last_body = Some((false, v));
                        }
                        let (w, rx) = event(EventJob {
                            dedup_key: dedup_key("ci", &s.event.event.event_id),
                            verified_with: sub.verifier(),
                            approval_keys: Vec::new(),
                            submission: s,
                        });
                        (w, rx, leaf)
                    };
                    if ok {
                        seq += 1;
                        head = provlog_tlog::merkle::leaf_hash(&leaf);
                    }
                    work.push(w);
                    expect.push((rx, Some(ok)));
                }
                let (_, fatal) = assemble_and_write(&mut a, &store, &inflight, work);
                prop_assert!(fatal.is_none());
                for (mut rx, ok) in expect {
                    match (rx.try_recv(), ok) {
                        // New entries are answered by the committer (dropped here).
                        // New entries, and retries of entries in this batch
                        // (attached to them), are answered by the committer.
                        (Err(oneshot::error::TryRecvError::Closed), Some(true) | None) => {}
                        (Ok(Err(SeqError::Judged { error, .. })), Some(false))
                            if matches!(*error, SeqError::Chain(_)) => {}
                        // A retry of a stored entry is answered now.
                        (Ok(Ok(s)), None) => prop_assert_eq!(s.outcome, Outcome::Duplicate),
                        (other, ok) => prop_assert!(
                            false,
                            "expected {:?}, got {:?}",
                            ok,
                            other.map(|r| r.map(|s| s.index).map_err(|e| e.to_string()))
                        ),
                    }
                }
            }
            // The committed record is the model's head.
            let head_version = store.map_version_at_or_before(u64::MAX).expect("r").expect("a version");
            let (_, value) =
                provlog_proto::map_nodes::prove(store.as_ref(), &head_version.root, &chain_key("ci")).expect("prove");
            let bytes = store
                .map_record(&value.expect("a chain record"))
                .expect("r")
                .expect("stored");
            let r = ChainRecord::from_canonical(&bytes).expect("record");
            prop_assert_eq!((r.seq, r.head.clone()), (seq, b64(head)));
            // The auditor replays it without a finding.
            let mut auditor = provlog_proto::audit::Auditor::new("log.example/x");
            for i in 0..store.size() {
                let entry = store.entry(i).expect("read").expect("stored");
                if let Err(f) = auditor.push(&entry) {
                    prop_assert!(false, "audit finding at {i}: {f}");
                }
            }
            prop_assert_eq!(auditor.chain("ci").map(|c| c.seq), Some(seq));
            // A store rebuilt from the entries catches its map up to the
            // same chain (every state leaf checked on the way), and indexes
            // every chain position.
            let size = store.size();
            let copy_dir = tempfile::tempdir().expect("tmp");
            let copy = open(&copy_dir);
            let mut range = CompactRange::default();
            let entries = store.entries(0, size).expect("entries");
            let batch = provlog_storage::rebuild::batch_from_entries(&mut range, entries).expect("batch");
            copy.append(&batch).expect("append");
            prop_assert_eq!(super::catch_up_map(&copy, size).expect("caught up"), size);
            let caught = copy.map_head().expect("head").expect("a map");
            prop_assert_eq!(caught.root, store.map_head().expect("head").expect("a map").root);
            for k in 1..=seq {
                prop_assert_eq!(
                    copy.chain_entry("ci", k).expect("r"),
                    store.chain_entry("ci", k).expect("r")
                );
                prop_assert!(
                    store.chain_entry("ci", k).expect("r").is_some(),
                    "position {k} is indexed"
                );
            }
            Ok(())
        })
        .expect("property");
}
