//! Prometheus metrics with an explicit registry (one per log, so tests can
//! run several servers in one process), served at `GET /metrics`.
//!
//! | metric | type | meaning |
//! | --- | --- | --- |
//! | `provlog_tree_size` | gauge | size of the latest durable checkpoint |
//! | `provlog_entries_appended_total` | counter | entries made durable |
//! | `provlog_batch_entries` | histogram | entries per sequenced batch |
//! | `provlog_batch_seconds` | histogram | from closing a batch to its answers |
//! | `provlog_fsync_seconds` | histogram | the synced RocksDB write of a batch |
//! | `provlog_submissions_total{status,code}` | counter | submission results (batch items included) |
//! | `provlog_refusals_signed_total{code}` | counter | signed refusals given (docs/REFUSALS.md), by refusal code |
//! | `provlog_queue_depth` | gauge | entries waiting for the sequencer |
//! | `provlog_checkpoint_age_seconds` | gauge | since the last new checkpoint |
//! | `provlog_witness_seconds{witness,result}` | histogram | add-checkpoint round-trips |
//! | `provlog_http_requests_total{route,status}` | counter | requests by route template (proofs, tiles, …) |
//! | `provlog_http_request_seconds{route}` | histogram | request latency by route |
//! | `provlog_published_size` | gauge | size of the checkpoint in the object store |
//! | `provlog_publish_lag_entries` | gauge | entries not yet in the object store |
//! | `provlog_publish_lag_seconds` | gauge | since the oldest unpublished checkpoint |
//! | `provlog_publish_objects_total` | counter | objects written (tiles, bundles, checkpoints) |
//! | `provlog_publish_round_seconds` | histogram | one publishing round |
//! | `provlog_publish_failures_total` | counter | failed rounds (retried) |
//! | `provlog_publish_alarm` | gauge | 1 when the store holds another history (publishing stopped) |
//! | `provlog_ha_role` | gauge | under `[ha]`: 1 standby, 2 sequencer (0 without `[ha]`) |
//! | `provlog_ha_lease_remaining_seconds` | gauge | how long the sequencer's lease is certainly alive (0 on a standby) |
//! | `provlog_ha_takeovers_total` | counter | terms this process started as the sequencer (resets when it restarts itself) |
//! | `provlog_ha_fence_failures_total` | counter | batches etcd did not fence (the sequencer then steps down) |
//! | `provlog_ha_fenced_size` | gauge | size of the latest checkpoint fenced in etcd, as this node last read it |
//! | `provlog_ha_follow_lag_entries` | gauge | on a standby: fenced entries not yet in its store when it last looked (every 100 ms) |

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Labels of submission results.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubmissionLabels {
    /// HTTP status.
    pub status: u16,
    /// Error code, or `ok`.
    pub code: String,
}

/// Labels of signed refusals.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The refusal's code.
    pub code: String,
}

/// Labels of HTTP requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template (`/v1/proofs/inclusion`, `/tile/{*path}`, …).
    pub route: String,
    /// HTTP status.
    pub status: u16,
}

/// Label of a route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    /// The route template.
    pub route: String,
}

/// Labels of witness round-trips.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WitnessLabels {
    /// The witness URL.
    pub witness: String,
    /// `cosigned` or `failed`.
    pub result: String,
}

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
}

/// All of the log's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    tree_size: Gauge,
    entries: Counter,
    batch_entries: Histogram,
    batch_seconds: Histogram,
    fsync_seconds: Histogram,
    submissions: Family<SubmissionLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    queue_depth: Gauge,
    checkpoint_age: Gauge,
    witness: Family<WitnessLabels, Histogram>,
    requests: Family<RouteLabels, Counter>,
    request_seconds: Family<Route, Histogram>,
    published_size: Gauge,
    publish_lag_entries: Gauge,
    publish_lag_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    publish_objects: Counter,
    publish_round: Histogram,
    publish_failures: Counter,
    publish_alarm: Gauge,
    last_checkpoint_ms: AtomicU64,
    ha_role: Gauge,
    ha_lease_remaining: Gauge<f64, std::sync::atomic::AtomicU64>,
    ha_takeovers: Counter,
    ha_fence_failures: Counter,
    ha_fenced_size: Gauge,
    ha_follow_lag: Gauge,
}

/// A node's role under `[ha]`, as `provlog_ha_role` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaRole {
    /// Follows the object store, serves reads, refuses writes.
    Standby = 1,
    /// Appends, signs and fences.
    Sequencer = 2,
}

/// Wall-clock ms for the checkpoint-age gauge; 0 if the clock fails (the
/// age then reads as very old, which is what an operator should see).
fn now_ms() -> u64 {
    crate::util::clock::now_millis().map_or(0, |m| u64::try_from(m).unwrap_or(0))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("provlog");
        let m = Self {
            registry: Registry::default(),
            tree_size: Gauge::default(),
            entries: Counter::default(),
            batch_entries: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            batch_seconds: seconds_histogram(),
            fsync_seconds: seconds_histogram(),
            submissions: Family::default(),
            refusals: Family::default(),
            queue_depth: Gauge::default(),
            checkpoint_age: Gauge::default(),
            witness: Family::new_with_constructor(seconds_histogram),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(seconds_histogram),
            published_size: Gauge::default(),
            publish_lag_entries: Gauge::default(),
            publish_lag_seconds: Gauge::default(),
            publish_objects: Counter::default(),
            publish_round: seconds_histogram(),
            publish_failures: Counter::default(),
            publish_alarm: Gauge::default(),
            last_checkpoint_ms: AtomicU64::new(now_ms()),
            ha_role: Gauge::default(),
            ha_lease_remaining: Gauge::default(),
            ha_takeovers: Counter::default(),
            ha_fence_failures: Counter::default(),
            ha_fenced_size: Gauge::default(),
            ha_follow_lag: Gauge::default(),
        };
        registry.register(
            "tree_size",
            "Size of the latest durable checkpoint",
            m.tree_size.clone(),
        );
        registry.register("entries_appended", "Entries made durable", m.entries.clone());
        registry.register("batch_entries", "Entries per sequenced batch", m.batch_entries.clone());
        registry.register(
            "batch_seconds",
            "From closing a batch to answering its submitters",
            m.batch_seconds.clone(),
        );
        registry.register(
            "fsync_seconds",
            "Synced RocksDB write of one batch",
            m.fsync_seconds.clone(),
        );
        registry.register(
            "submissions",
            "Submission results by status and code",
            m.submissions.clone(),
        );
        registry.register(
            "refusals_signed",
            "Signed refusals given, by refusal code",
            m.refusals.clone(),
        );
        registry.register(
            "queue_depth",
            "Entries waiting for the sequencer",
            m.queue_depth.clone(),
        );
        registry.register(
            "checkpoint_age_seconds",
            "Seconds since the last new checkpoint",
            m.checkpoint_age.clone(),
        );
        registry.register(
            "witness_seconds",
            "Witness add-checkpoint round-trips",
            m.witness.clone(),
        );
        registry.register("http_requests", "HTTP requests by route and status", m.requests.clone());
        registry.register(
            "http_request_seconds",
            "HTTP request latency by route",
            m.request_seconds.clone(),
        );
        registry.register(
            "published_size",
            "Size of the checkpoint in the object store",
            m.published_size.clone(),
        );
        registry.register(
            "publish_lag_entries",
            "Entries not yet in the object store",
            m.publish_lag_entries.clone(),
        );
        registry.register(
            "publish_lag_seconds",
            "Seconds since the oldest unpublished checkpoint",
            m.publish_lag_seconds.clone(),
        );
        registry.register(
            "publish_objects",
            "Objects written to the object store",
            m.publish_objects.clone(),
        );
        registry.register("publish_round_seconds", "One publishing round", m.publish_round.clone());
        registry.register(
            "publish_failures",
            "Failed publishing rounds",
            m.publish_failures.clone(),
        );
        registry.register(
            "publish_alarm",
            "1 when the object store holds another history",
            m.publish_alarm.clone(),
        );
        registry.register(
            "ha_role",
            "Role under [ha]: 1 standby, 2 sequencer (0 without [ha])",
            m.ha_role.clone(),
        );
        registry.register(
            "ha_lease_remaining_seconds",
            "How long the sequencer's lease is certainly alive (0 on a standby)",
            m.ha_lease_remaining.clone(),
        );
        registry.register(
            "ha_takeovers",
            "Terms this process started as the sequencer",
            m.ha_takeovers.clone(),
        );
        registry.register(
            "ha_fence_failures",
            "Batches etcd did not fence",
            m.ha_fence_failures.clone(),
        );
        registry.register(
            "ha_fenced_size",
            "Size of the latest checkpoint fenced in etcd, as last read",
            m.ha_fenced_size.clone(),
        );
        registry.register(
            "ha_follow_lag_entries",
            "On a standby: fenced entries not yet in its store",
            m.ha_follow_lag.clone(),
        );
        Self { registry, ..m }
    }

    /// This node's role under `[ha]`.
    pub fn ha_role(&self, role: HaRole) {
        self.ha_role.set(role as i64);
    }

    /// How long the sequencer's lease is certainly alive.
    pub fn ha_lease_remaining(&self, left: Duration) {
        self.ha_lease_remaining.set(left.as_secs_f64());
    }

    /// This process started a term as the sequencer.
    pub fn ha_takeover(&self) {
        self.ha_takeovers.inc();
    }

    /// etcd did not fence a batch.
    pub fn ha_fence_failed(&self) {
        self.ha_fence_failures.inc();
    }

    /// The latest fenced size as read, and how far this node's store is behind it.
    pub fn ha_fenced(&self, fenced: u64, stored: u64) {
        self.ha_fenced_size.set(i64::try_from(fenced).unwrap_or(i64::MAX));
        self.ha_follow_lag
            .set(i64::try_from(fenced.saturating_sub(stored)).unwrap_or(i64::MAX));
    }

    /// A batch became durable.
    pub fn batch_committed(&self, entries: u64, tree_size: u64, batch: Duration, fsync: Duration) {
        self.entries.inc_by(entries);
        self.tree_size.set(i64::try_from(tree_size).unwrap_or(i64::MAX));
        self.batch_entries.observe(entries as f64);
        self.batch_seconds.observe(batch.as_secs_f64());
        self.fsync_seconds.observe(fsync.as_secs_f64());
        self.last_checkpoint_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// A submission was answered.
    pub fn submission(&self, status: u16, code: &str) {
        self.submissions
            .get_or_create(&SubmissionLabels {
                status,
                code: code.to_owned(),
            })
            .inc();
    }

    /// A signed refusal was given for `code`.
    pub fn refusal_signed(&self, code: &str) {
        self.refusals
            .get_or_create(&RefusalLabels { code: code.to_owned() })
            .inc();
    }

    /// A witness answered (or failed) after `took`.
    pub fn witness(&self, witness: &str, cosigned: bool, took: Duration) {
        self.witness
            .get_or_create(&WitnessLabels {
                witness: witness.to_owned(),
                result: if cosigned { "cosigned" } else { "failed" }.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// An HTTP request was answered.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&Route {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// A publishing round stored `objects` and the checkpoint of `size`.
    pub fn published(&self, size: u64, objects: usize, took: Duration) {
        self.published_size.set(i64::try_from(size).unwrap_or(i64::MAX));
        self.publish_objects.inc_by(objects as u64);
        self.publish_round.observe(took.as_secs_f64());
    }

    /// A publishing round failed (it is retried).
    pub fn publish_failed(&self) {
        self.publish_failures.inc();
    }

    /// The object store holds another history; publishing stopped.
    pub fn publish_alarm(&self) {
        self.publish_alarm.set(1);
    }

    /// Seconds since the last new checkpoint.
    #[must_use]
    pub fn checkpoint_age(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.last_checkpoint_ms.load(Ordering::Relaxed)))
    }

    /// The text exposition, with the gauges read at scrape time (the
    /// publisher's, when one runs, as plain numbers).
    #[must_use]
    pub fn render(&self, tree_size: u64, queue_depth: usize, publish: Option<PublishGauges>) -> String {
        if let Some(p) = publish {
            self.published_size
                .set(i64::try_from(p.published_size).unwrap_or(i64::MAX));
            self.publish_lag_entries
                .set(i64::try_from(p.lag_entries).unwrap_or(i64::MAX));
            self.publish_lag_seconds.set(p.lag_seconds);
        }
        self.tree_size.set(i64::try_from(tree_size).unwrap_or(i64::MAX));
        self.queue_depth.set(i64::try_from(queue_depth).unwrap_or(i64::MAX));
        self.checkpoint_age
            .set(i64::try_from(self.checkpoint_age().as_secs()).unwrap_or(i64::MAX));
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The publisher's gauges at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublishGauges {
    /// Size of the checkpoint in the store.
    pub published_size: u64,
    /// Entries in the log but not yet in the store.
    pub lag_entries: u64,
    /// Seconds since the oldest unpublished checkpoint was signed.
    pub lag_seconds: f64,
}
