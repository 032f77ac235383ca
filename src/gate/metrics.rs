//! The gate's Prometheus metrics (docs/GATE.md "Operating the gate").

use super::decision::Reason;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    result: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Counters and gauges of one gate.
#[derive(Debug)]
pub struct GateMetrics {
    registry: Registry,
    /// One counter per [`Reason`], resolved at start (no lookup per decision).
    decisions: Vec<Counter>,
    hits: Counter,
    misses: Counter,
    failures: Family<ReasonLabel, Counter>,
    alarms: Family<KindLabel, Counter>,
    polls: Family<ResultLabel, Counter>,
    checkpoint_size: Gauge,
    cached: Gauge,
    age: Gauge<f64, std::sync::atomic::AtomicU64>,
    logged_ms: AtomicI64,
}

impl Default for GateMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GateMetrics {
    /// Registered, all zero.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("provlog_gate");
        let family = Family::<DecisionLabels, Counter>::default();
        let decisions = Reason::ALL
            .iter()
            .map(|r| {
                family
                    .get_or_create(&DecisionLabels {
                        result: if r.allows() { "allow" } else { "deny" },
                        reason: r.code(),
                    })
                    .clone()
            })
            .collect();
        registry.register("decisions", "Decisions by result and reason", family);
        let (hits, misses) = (Counter::default(), Counter::default());
        registry.register("cache_hits", "Decisions answered from the cache", hits.clone());
        registry.register("cache_misses", "Decisions that asked the log", misses.clone());
        let failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "verification_failures",
            "Answers, checkpoints or tiles from the log that did not verify, by reason",
            failures.clone(),
        );
        let alarms = Family::<KindLabel, Counter>::default();
        registry.register(
            "alarms",
            "Alarms (a checkpoint that does not extend the last one): the gate fails closed",
            alarms.clone(),
        );
        let polls = Family::<ResultLabel, Counter>::default();
        registry.register("polls", "Polls of the log's checkpoint, by result", polls.clone());
        let checkpoint_size = Gauge::default();
        registry.register(
            "checkpoint_size",
            "Size of the last checkpoint the gate verified",
            checkpoint_size.clone(),
        );
        let cached = Gauge::default();
        registry.register("cached_credentials", "Credentials in the cache", cached.clone());
        let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "commitment_age_seconds",
            "Age of the newest verified state commitment by the gate's clock",
            age.clone(),
        );
        Self {
            registry,
            decisions,
            hits,
            misses,
            failures,
            alarms,
            polls,
            checkpoint_size,
            cached,
            age,
            logged_ms: AtomicI64::new(0),
        }
    }

    /// Counts a decision.
    pub fn decision(&self, r: Reason) {
        if let Some(c) = self.decisions.get(r.index()) {
            c.inc();
        }
    }

    /// Counts a decision answered from the cache (`true`) or not.
    pub fn lookup(&self, hit: bool) {
        if hit { &self.hits } else { &self.misses }.inc();
    }

    /// Counts something from the log that did not verify.
    pub fn verification_failure(&self, reason: &'static str) {
        self.failures.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Counts an alarm.
    pub fn alarm(&self, kind: &'static str) {
        self.alarms.get_or_create(&KindLabel { kind }).inc();
    }

    /// Counts a poll.
    pub fn poll(&self, result: &'static str) {
        self.polls.get_or_create(&ResultLabel { result }).inc();
    }

    /// Records a new verified head: its tree size and the `logged_at` (Unix
    /// ms) of the newest state commitment under it.
    pub fn head(&self, size: u64, commitment_logged_ms: i64) {
        self.checkpoint_size.set(i64::try_from(size).unwrap_or(i64::MAX));
        self.logged_ms.store(commitment_logged_ms, Ordering::Relaxed);
    }

    /// The text exposition, with the gauges read now.
    #[must_use]
    pub fn render(&self, cached: usize, now_ms: i64) -> String {
        self.cached.set(i64::try_from(cached).unwrap_or(i64::MAX));
        let logged = self.logged_ms.load(Ordering::Relaxed);
        self.age.set(if logged == 0 {
            f64::NAN
        } else {
            (now_ms - logged) as f64 / 1000.0
        });
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
