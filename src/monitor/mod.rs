//! `provlog monitor`: follow logs through their static tlog-tiles API,
//! check everything they publish, and gossip checkpoints with peers.
//!
//! For every new checkpoint of a followed log the monitor
//! 1. verifies the log's signature (and, if asked, a witness policy);
//! 2. fetches the tiles that changed plus those it needs, authenticates all
//!    of them against the new root, and recomputes from them the root of the
//!    size it verified before: a different root is a fork, written down as
//!    evidence ([`provlog_proto::fork::ForkEvidence`]);
//! 3. fetches the new entries from the bundles, checks each against its leaf
//!    hash, replays the submitter registry and checks each event's
//!    signature and scope ([`provlog_proto::audit::Auditor`]), and checks the
//!    credential lifecycle rules ([`provlog_proto::lifecycle`]);
//! 4. stores what it verified (`RocksDB`), so a restart resumes where it
//!    stopped without downloading anything again: a small state per log,
//!    and the log's book ([`provlog_proto::book`]: every credential's
//!    record and lifecycle status, the map over them) one key per
//!    credential, read and written per event, so that its memory does not
//!    grow with the credentials it has seen.
//!
//! Gossip: `GET /checkpoints` serves the latest checkpoint it verified per
//! log, and it polls the same endpoint of its peers (monitors or
//! witnesses). A peer's checkpoint that contradicts its own view is fork
//! evidence. Evidence needs the larger tree: a peer checkpoint larger than
//! the monitor's own is kept and checked once the monitor has caught up.
//!
//! Every problem is an *alarm*: printed as `ALARM <kind> <origin>: …` with
//! the index or path concerned, counted in `/metrics`, and a non-zero exit in
//! `--once` mode. With `--webhook`, each alarm is also sent (a POST: generic JSON,
//! Slack or `PagerDuty` payloads, HMAC-signed) by a background task that
//! retries and dead-letters ([`notify`]); delivery never slows monitoring.

mod notify;

use crate::client::verified::{TilesError, authenticated_tiles, entry_matches, level0_with_bundles, tiles_holding};
use crate::client::{ClientError, Source, error_chain, get_bounded, http_client};
use crate::util::keyfile;
use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use futures_util::StreamExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use provlog_proto::audit::{Audited, Auditor, AuditorState, ResumeError};
use provlog_proto::book::{BookError, Lifecycle};
use provlog_proto::fork::ForkEvidence;
use provlog_proto::leaf::Leaf;
use provlog_proto::lifecycle::{LifecycleState, LifecycleStore, Rules};
use provlog_storage::journal::Journal;
use provlog_storage::{StateOptions, StateStore, StorageError};
use provlog_tlog::checkpoint::{Checkpoint, CheckpointError, LogKeys, open_checkpoint_with};
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::{self, CompactRange, Hash, consistency_nodes, consistency_proof};
use provlog_tlog::replay::Replay;
use provlog_tlog::tile::{TileError, decode_bundle};
use provlog_tlog::{b64, witness};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Command-line settings of `provlog monitor`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(true).args(["logs", "url"])))]
pub struct MonitorArgs {
    /// A log to follow, as URL=VKEY (repeatable).
    #[arg(long = "log", value_name = "URL=VKEY", value_parser = crate::config::url_eq_vkey)]
    logs: Vec<String>,
    /// A log to follow: its base URL (with --log-key).
    #[arg(long, requires = "log_key")]
    url: Option<String>,
    /// The --url log's vkey, or a file holding it.
    #[arg(long, requires = "url")]
    log_key: Option<String>,
    /// Where the monitor keeps its state.
    #[arg(long, default_value = "./provlog-monitor")]
    state_dir: PathBuf,
    /// Memory for the state store's block cache, as much for its write
    /// buffers, and half as much for the part of the credential map held
    /// in memory: the monitor's memory does not grow with the logs.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    cache_mib: usize,
    /// Where fork evidence is written (default `STATE_DIR/evidence`).
    #[arg(long)]
    evidence_dir: Option<PathBuf>,
    /// Poll interval in milliseconds.
    #[arg(long, default_value_t = 5000)]
    interval_ms: u64,
    /// Poll every log and peer once, then exit (1 if anything was wrong).
    #[arg(long)]
    once: bool,
    /// Serve `/checkpoints` (gossip) and `/metrics` here.
    #[arg(long, value_parser = crate::config::listen_addr)]
    listen: Option<SocketAddr>,
    /// A peer monitor or witness to compare checkpoints with (repeatable).
    #[arg(long = "peer", value_name = "URL")]
    peers: Vec<String>,
    /// Lifecycle rules (TOML: `reissue_after_revoke`, `rotate_from_inactive`,
    /// `revoke_unknown`, `deny_but_success`, `occurred_at_skew_secs`).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Require cosignatures from these witnesses (repeatable).
    #[arg(long = "witness-key")]
    witness_keys: Vec<String>,
    /// How many of them (default: all).
    #[arg(long)]
    min_witnesses: Option<usize>,
    #[command(flatten)]
    webhooks: notify::WebhookArgs,
    /// `--log-format`.
    #[command(flatten)]
    pub log_format: crate::obs::logging::LogFormatArg,
}

/// How long a stopping monitor waits for webhook deliveries in flight.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// Most bytes of a peer's `/checkpoints` answer.
const MAX_GOSSIP_BYTES: usize = 4 << 20;

/// Why a followed log could not be grown to its new checkpoint; each is an
/// alarm of kind [`GrowError::kind`].
#[derive(Debug, thiserror::Error)]
enum GrowError {
    #[error(transparent)]
    Tiles(#[from] TilesError),
    #[error("computing from the tiles")]
    Proof(#[source] merkle::ProofError<TileError>),
    #[error("{path}")]
    Fetch {
        path: String,
        #[source]
        source: ClientError,
    },
    #[error("{path}")]
    Bundle {
        path: String,
        #[source]
        source: TileError,
    },
    #[error("tiles do not match the checkpoint of size {size} (its root, or its consistency with the verified tree)")]
    Unproven { size: u64 },
    #[error("{path}: the log signed a checkpoint of size {size} but does not serve this tile")]
    Unserved {
        path: String,
        size: u64,
        #[source]
        source: ClientError,
    },
    #[error("replaying the tiles")]
    Replay(#[source] provlog_tlog::replay::ReplayError),
    #[error("entry {index} in {path} does not match its leaf hash")]
    EntryMismatch { index: u64, path: String },
    #[error("resuming the saved authority state")]
    Resume(#[source] ResumeError<StorageError>),
    #[error("the monitor's state store")]
    Book(#[source] BookError<StorageError>),
    #[error("saving the verified state")]
    Save(#[source] anyhow::Error),
}

impl GrowError {
    /// The alarm kind, as `ALARM <kind>` and the metric label show it.
    fn kind(&self) -> &'static str {
        match self {
            Self::Tiles(_) | Self::Proof(_) | Self::Unproven { .. } | Self::Replay(_) => "tiles",
            Self::Unserved { .. } => "unserved",
            Self::Fetch { .. } | Self::Bundle { .. } => "bundle",
            Self::EntryMismatch { .. } => "entry_mismatch",
            Self::Resume(_) | Self::Book(_) | Self::Save(_) => "state",
        }
    }
}

/// `origin` as a file name: what is not a letter, digit, `.` or `-` becomes `_`.
fn file_name(origin: &str) -> String {
    origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A state commitment the entries do not give: its index, its bytes, the
/// root and the number of credentials the entries give.
type BadState = (u64, Vec<u8>, String, u64);

/// Undoes what a growth wrote to the book (a failure to is logged: the
/// next growth's [`Journal::begin`] undoes it first).
fn undo(auditor: Auditor<Journal<'_>>) {
    if let Err(e) = auditor.into_store().rollback() {
        tracing::error!(error = %e, "undoing a growth's changes of the book failed; the next poll retries");
    }
}

/// Most alarms one growth holds back until its root checks out; beyond
/// them it counts.
const MAX_HELD_ALARMS: usize = 1000;

/// Alarms raised by entries not yet authenticated, raised once they are.
#[derive(Debug, Default)]
struct HeldAlarms {
    kept: Vec<(String, String)>,
    more: u64,
}

impl HeldAlarms {
    fn push(&mut self, kind: String, msg: String) {
        if self.kept.len() < MAX_HELD_ALARMS {
            self.kept.push((kind, msg));
        } else {
            self.more += 1;
        }
    }

    fn into_alarms(mut self) -> Vec<(String, String)> {
        if self.more > 0 {
            self.kept.push((
                "entries".into(),
                format!(
                    "… and {} more from these entries",
                    crate::util::output::count(self.more, "alarm", "alarms")
                ),
            ));
        }
        self.kept
    }
}

/// What the monitor verified of one log, persisted after each checkpoint
/// (`log/<origin>` in its state store). Small whatever the log's size:
/// what grows with it (every credential's record and lifecycle status,
/// the map, every target's and approval's state) is in the log's book in
/// the same store, one key each ([`provlog_storage::journal`]), and is
/// committed with this in one batch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LogState {
    checkpoint: String,
    size: u64,
    root: String,
    auditor: AuditorState,
    /// The lifecycle rules' memory, in states saved before the book
    /// (moved into it on open, [`migrate`]).
    #[serde(default, skip_serializing_if = "LifecycleState::is_empty")]
    lifecycle: LifecycleState,
}

/// The key of `origin`'s [`LogState`].
fn state_key(origin: &str) -> Vec<u8> {
    format!("log/{origin}").into_bytes()
}

/// Moves a state saved before the book (every credential's record, the
/// approvals' uses and the lifecycle rules' memory inside the one JSON
/// value) into the book in the same store, one key per credential, and
/// rewrites the state without them, in one synced batch.
fn migrate(store: &StateStore, origin: &str, mut state: LogState, book_bytes: usize) -> Result<LogState> {
    if state.auditor.in_store && state.lifecycle.is_empty() {
        return Ok(state);
    }
    let credentials = state.auditor.credentials.len();
    let journal = Journal::begin(store, origin).context("opening the book")?;
    let mut auditor = Auditor::resume_in(std::mem::take(&mut state.auditor), origin, journal)
        .context("moving the saved records into the book")?;
    auditor.book_mut().limit_memory(book_bytes);
    let lifecycle = std::mem::take(&mut state.lifecycle);
    {
        let mut l = Lifecycle(auditor.book_mut().store_mut());
        for (fp, status, index) in lifecycle.credentials() {
            l.set_credential(fp, status, index)?;
        }
        for (id, at, index) in lifecycle.targets() {
            l.set_target(id, at, index)?;
        }
    }
    auditor.flush()?;
    state.auditor = auditor.state();
    let v = serde_json::to_vec(&state)?;
    auditor
        .into_store()
        .commit(&[(&state_key(origin), &v)])
        .context("writing the migrated state")?;
    tracing::info!(
        origin,
        credentials,
        "moved the saved state into the book: one key per credential"
    );
    Ok(state)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabel {
    origin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlarmLabel {
    origin: String,
    kind: String,
}

struct Metrics {
    registry: Registry,
    tree_size: Family<OriginLabel, Gauge>,
    verified_size: Family<OriginLabel, Gauge>,
    lag: Family<OriginLabel, Gauge>,
    entries: Family<OriginLabel, Counter>,
    alarms: Family<AlarmLabel, Counter>,
    deliveries: Family<notify::DeliveryLabel, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let m = Self {
            tree_size: Family::default(),
            verified_size: Family::default(),
            lag: Family::default(),
            entries: Family::default(),
            alarms: Family::default(),
            deliveries: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "provlog_monitor_tree_size",
            "Size of the latest checkpoint seen",
            m.tree_size.clone(),
        );
        registry.register(
            "provlog_monitor_verified_size",
            "Size up to which everything was verified",
            m.verified_size.clone(),
        );
        registry.register(
            "provlog_monitor_lag_entries",
            "Entries seen but not yet verified",
            m.lag.clone(),
        );
        registry.register(
            "provlog_monitor_entries_verified",
            "Entries verified",
            m.entries.clone(),
        );
        registry.register("provlog_monitor_alarms", "Alarms raised", m.alarms.clone());
        registry.register(
            "provlog_monitor_webhook_deliveries",
            "Webhook deliveries of alarms by webhook host, format and result (sent, failed attempt, dead_lettered)",
            m.deliveries.clone(),
        );
        Self { registry, ..m }
    }
}

struct Followed {
    source: Source,
    /// The key the operator gave: what every later key must be vouched by.
    key: VerifierKey,
    /// Every key of the log the monitor verified, each for its sizes.
    keys: LogKeys,
    /// Whether the key history was read since the monitor started.
    keys_fetched: bool,
    state: LogState,
    /// Peer checkpoints larger than what this monitor verified so far.
    pending: Vec<String>,
    /// Overdue heartbeats already alarmed: (submitter, since).
    overdue: std::collections::HashSet<(String, String)>,
}

struct Monitor {
    logs: Vec<tokio::sync::Mutex<Followed>>,
    store: StateStore,
    /// Bytes of map nodes a growth's book holds in memory.
    book_bytes: usize,
    rules: Rules,
    metrics: Metrics,
    alarms: Mutex<u64>,
    client: reqwest::Client,
    evidence_dir: PathBuf,
    peers: Vec<String>,
    witness_keys: Vec<VerifierKey>,
    min_witnesses: usize,
    progress: bool,
    notifier: Option<notify::Notifier>,
}

impl Monitor {
    fn alarm(&self, origin: &str, kind: &str, msg: &str) {
        *crate::util::sync::lock(&self.alarms, "alarm count") += 1;
        self.metrics
            .alarms
            .get_or_create(&AlarmLabel {
                origin: origin.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
        let _ = crate::util::output::out(format_args!("ALARM {kind} {origin}: {msg}"));
        tracing::error!(origin, kind, "{msg}");
        if let Some(n) = &self.notifier {
            n.send(origin, kind, msg);
        }
    }

    /// A peer's `/checkpoints` (gossip): at most [`MAX_GOSSIP_BYTES`].
    async fn fetch_peer(&self, url: &str) -> Result<Vec<u8>, ClientError> {
        get_bounded(&self.client, url, MAX_GOSSIP_BYTES)
            .await?
            .ok_or_else(|| ClientError::NotFound { url: url.to_owned() })
    }

    /// Compares another signed checkpoint of `f`'s log with the monitor's
    /// own verified view; writes evidence if they contradict each other.
    async fn compare(&self, f: &mut Followed, other_note: &str, source: &str) {
        let Ok((other, _)) = open_checkpoint_with(other_note.as_bytes(), &f.keys) else {
            return; // not signed by this log: proves nothing
        };
        let own_root: Hash = b64::decode_array(&f.state.root).unwrap_or_default();
        let own_size = f.state.size;
        let origin = f.key.name().to_owned();
        if other.size > own_size {
            if !f.pending.iter().any(|p| p == other_note) {
                f.pending.push(other_note.to_owned());
            }
            return;
        }
        if other.size == own_size {
            if other.root != own_root {
                self.evidence(
                    &origin,
                    &ForkEvidence::new(&origin, other_note, &f.state.checkpoint, None, &[], source),
                );
            }
            return;
        }
        if other.size == 0 {
            return;
        }
        let mut nodes = CompactRange::node_ids(other.size);
        nodes.extend(consistency_nodes(other.size, own_size));
        let th = match authenticated_tiles(&f.source, own_size, own_size, &own_root, &nodes).await {
            Ok(t) => t,
            Err(e) => return self.alarm(&origin, "tiles", &crate::util::error_chain(&e)),
        };
        let (Ok(x), Ok(proof)) = (
            merkle::root(other.size, &th),
            consistency_proof(other.size, own_size, &th),
        ) else {
            return self.alarm(&origin, "tiles", "cannot compute an old root from verified tiles");
        };
        if x != other.root {
            self.evidence(
                &origin,
                &ForkEvidence::new(&origin, other_note, &f.state.checkpoint, Some(x), &proof, source),
            );
        }
    }

    fn evidence(&self, origin: &str, ev: &ForkEvidence) {
        let name = file_name(origin);
        let sizes = |n: &str| {
            Checkpoint::parse(
                n.split("\n\n")
                    .next()
                    .map(|t| format!("{t}\n"))
                    .as_deref()
                    .unwrap_or(""),
            )
            .map_or(0, |c| c.size)
        };
        let path = self.evidence_dir.join(format!(
            "fork-{name}-{}-{}.json",
            sizes(&ev.checkpoint_a),
            sizes(&ev.checkpoint_b)
        ));
        let written = std::fs::create_dir_all(&self.evidence_dir)
            .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(&ev).unwrap_or_default()));
        match written {
            Ok(()) => self.alarm(
                origin,
                "fork",
                &format!(
                    "the log signed two inconsistent checkpoints; evidence written to {}",
                    path.display()
                ),
            ),
            Err(e) => self.alarm(
                origin,
                "fork",
                &format!("the log forked, and writing the evidence failed: {e}"),
            ),
        }
    }

    /// Keeps the signed checkpoint that claims a tree the log does not
    /// serve (a size it cannot back, say): the log's own signature is the
    /// evidence. Returns what to add to the alarm.
    fn unserved_evidence(&self, origin: &str, note: &str, size: u64, path: &str) -> String {
        let name = file_name(origin);
        let file = self.evidence_dir.join(format!("unserved-{name}-{size}.json"));
        let ev = serde_json::json!({
            "origin": origin,
            "checkpoint": note,
            "unserved": path,
            "found": "the log signed this checkpoint but does not serve the tile named",
        });
        match std::fs::create_dir_all(&self.evidence_dir)
            .and_then(|()| std::fs::write(&file, serde_json::to_vec_pretty(&ev).unwrap_or_default()))
        {
            Ok(()) => format!("; the signed checkpoint is kept in {}", file.display()),
            Err(e) => format!("; keeping the checkpoint failed: {e}"),
        }
    }

    /// Writes the evidence of a state commitment the entries do not give
    /// (its leaf, its inclusion proof under the verified checkpoint `cp`,
    /// the recomputed root); returns what to say in the alarm.
    #[expect(clippy::too_many_arguments, reason = "the parts of one piece of evidence")]
    async fn state_evidence(
        &self,
        f: &Followed,
        note: &str,
        cp: &Checkpoint,
        index: u64,
        entry: &[u8],
        computed_root: String,
        computed_credentials: u64,
    ) -> String {
        let origin = f.key.name();
        let th = match tiles_holding(&f.source, cp.size, &merkle::inclusion_nodes(index, cp.size)).await {
            Ok(th) => th,
            Err(e) => return format!("evidence for entry {index} not written: {}", error_chain(&e)),
        };
        let proof = match merkle::inclusion_proof(index, cp.size, &th) {
            Ok(p) => p,
            Err(e) => return format!("evidence for entry {index} not written: {e}"),
        };
        let ev = provlog_proto::audit::StateEvidence {
            origin: origin.to_owned(),
            checkpoint: note.to_owned(),
            index,
            entry: b64::encode(entry),
            proof: proof.iter().map(b64::encode).collect(),
            computed_root,
            computed_credentials,
        };
        let file = self
            .evidence_dir
            .join(format!("state-{}-{index}.json", file_name(origin)));
        match std::fs::create_dir_all(&self.evidence_dir)
            .and_then(|()| std::fs::write(&file, serde_json::to_vec_pretty(&ev).unwrap_or_default()))
        {
            Ok(()) => format!(
                "the state commitment at entry {index} is not the map its entries give; evidence in {} \
                 (provlog verify --state-evidence)",
                file.display()
            ),
            Err(e) => format!("writing the evidence for entry {index} failed: {e}"),
        }
    }

    /// One poll of one log.
    async fn poll(&self, f: &mut Followed) {
        let origin = f.key.name().to_owned();
        let note = match f.source.checkpoint().await {
            Ok(n) => String::from_utf8_lossy(&n).into_owned(),
            Err(e) => return self.alarm(&origin, "unreachable", &error_chain(&e)),
        };
        let mut opened = open_checkpoint_with(note.as_bytes(), &f.keys);
        if matches!(opened, Err(CheckpointError::NoLogSignature { .. })) || !f.keys_fetched {
            f.keys_fetched = true;
            // Not signed by the key the monitor knows for its size: follow
            // a rotation the log can prove, or alarm (an unannounced key).
            match f.source.log_keys(&f.key).await {
                Ok(keys) if keys != f.keys => {
                    for (k, after) in keys.iter().filter(|(k, _)| !f.keys.contains(k)) {
                        tracing::warn!(
                            log = %origin,
                            new_key = %k.to_vkey_string(),
                            from_size = after.map_or(0, |a| a + 1),
                            "the log rotated its key; the announcement is signed by the old and the new key and included in a checkpoint both signed"
                        );
                        let _ = crate::util::output::out(format_args!(
                            "KEY_ROTATION {origin}: the log's key is now {}, for trees larger than {} (verified from the log's key history)",
                            k.to_vkey_string(),
                            after.unwrap_or(0)
                        ));
                    }
                    f.keys = keys;
                    opened = open_checkpoint_with(note.as_bytes(), &f.keys);
                }
                Ok(_) => {}
                Err(e) => return self.alarm(&origin, "key_history", &error_chain(&e)),
            }
        }
        let cp = match opened {
            Ok((c, _)) => c,
            Err(CheckpointError::NoLogSignature { .. }) => {
                return self.alarm(
                    &origin,
                    "unannounced_key",
                    "the checkpoint is not signed by the log key for its size, and the log's key history announces no key that signs it",
                );
            }
            Err(e) => return self.alarm(&origin, "bad_checkpoint", &format!("{e}")),
        };
        if !self.witness_keys.is_empty()
            && let Err(e) = witness::require_cosignatures(note.as_bytes(), &self.witness_keys, self.min_witnesses)
        {
            self.alarm(
                &origin,
                "witness_policy",
                &format!("checkpoint of size {}: {e}", cp.size),
            );
        }
        self.metrics
            .tree_size
            .get_or_create(&OriginLabel { origin: origin.clone() })
            .set(i64::try_from(cp.size).unwrap_or(i64::MAX));
        if cp.size <= f.state.size {
            self.compare(f, &note, "the log itself").await;
        } else if let Err(e) = self.grow(f, &cp, &note).await {
            let mut msg = error_chain(&e);
            if let GrowError::Unserved { path, .. } = &e {
                msg.push_str(&self.unserved_evidence(&origin, &note, cp.size, path));
            }
            self.alarm(&origin, e.kind(), &msg);
        }
        let lag = cp.size.saturating_sub(f.state.size);
        self.metrics
            .lag
            .get_or_create(&OriginLabel { origin: origin.clone() })
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
        for p in std::mem::take(&mut f.pending) {
            self.compare(f, &p, "a peer").await;
        }
        self.check_heartbeats(f);
    }

    /// Alarms `heartbeat_overdue` once for each sequenced submitter whose
    /// required heartbeat is late by this monitor's clock, in the tree it
    /// verified: silence (or a log withholding the heartbeat) shows.
    fn check_heartbeats(&self, f: &mut Followed) {
        let Ok(now) = crate::util::clock::now_millis() else {
            return;
        };
        let origin = f.key.name().to_owned();
        for o in f.state.auditor.overdue_heartbeats(now) {
            if f.overdue.insert((o.submitter.clone(), o.since.clone())) {
                self.alarm(
                    &origin,
                    "heartbeat_overdue",
                    &format!(
                        "sequenced submitter {:?} (chain at seq {}) has logged no heartbeat since {}, \
                         over its interval of {} s, in the tree of size {} this monitor verified",
                        o.submitter, o.seq, o.since, o.interval_seconds, f.state.size
                    ),
                );
            }
        }
    }

    /// Verifies the growth from the verified size to `cp` and everything
    /// new in it; advances the stored state only if the tree checks out.
    ///
    /// Memory does not depend on the size `cp` claims: consistency is
    /// checked with the few tiles that hold the proof's nodes, then the new
    /// level-0 tiles are replayed in order ([`Replay`]) from the verified
    /// compact range, each bundle checked against its tile, and the root
    /// compared with the checkpoint's at the end. What the new entries
    /// raise (authority, lifecycle) is held back until the root checks
    /// out, so unauthenticated bytes never raise an alarm of their own.
    /// What they change (records, the map, the lifecycle rules' memory) is
    /// written to the log's book as it goes, one key per credential
    /// ([`Journal`]), and committed with the new state in one batch once the
    /// root checks out, or undone: memory does not grow with the
    /// credentials either.
    async fn grow(&self, f: &mut Followed, cp: &Checkpoint, note: &str) -> Result<(), GrowError> {
        let origin = f.key.name().to_owned();
        let old = f.state.size;
        let start = if old == 0 {
            CompactRange::new()
        } else {
            let mut nodes = CompactRange::node_ids(old);
            nodes.extend(consistency_nodes(old, cp.size));
            let th = tiles_holding(&f.source, cp.size, &nodes).await?;
            let x = merkle::root(old, &th).map_err(GrowError::Proof)?;
            let proof = consistency_proof(old, cp.size, &th).map_err(GrowError::Proof)?;
            if merkle::verify_consistency(old, cp.size, &x, &cp.root, &proof).is_err() {
                return Err(GrowError::Unproven { size: cp.size });
            }
            let own: Hash = b64::decode_array(&f.state.root).unwrap_or_default();
            if x != own {
                self.evidence(
                    &origin,
                    &ForkEvidence::new(&origin, &f.state.checkpoint, note, Some(x), &proof, "the log itself"),
                );
                return Ok(());
            }
            let hashes = merkle::HashSource::node_hashes(&th, &CompactRange::node_ids(old))
                .map_err(|e| GrowError::Proof(merkle::ProofError::Source(e)))?;
            CompactRange::from_hashes(old, hashes).ok_or(GrowError::Unproven { size: cp.size })?
        };
        let journal = Journal::begin(&self.store, &origin).map_err(|e| GrowError::Save(e.into()))?;
        let mut auditor =
            Auditor::resume_in(f.state.auditor.clone(), f.key.name(), journal).map_err(GrowError::Resume)?;
        auditor.book_mut().limit_memory(self.book_bytes);
        let (mut held, bad_states) = match self.replay(f, cp, old, start, &mut auditor).await {
            Ok(r) => r,
            Err(e) => {
                undo(auditor);
                return Err(e);
            }
        };
        for (index, entry, root, n) in bad_states {
            let msg = self.state_evidence(f, note, cp, index, &entry, root, n).await;
            held.push("state".into(), msg);
        }
        for (kind, msg) in held.into_alarms() {
            self.alarm(&origin, &kind, &msg);
        }
        self.metrics
            .entries
            .get_or_create(&OriginLabel { origin: origin.clone() })
            .inc_by(cp.size - old);
        if let Err(e) = auditor.flush() {
            undo(auditor);
            return Err(GrowError::Book(e));
        }
        let state = LogState {
            checkpoint: note.to_owned(),
            size: cp.size,
            root: b64::encode(cp.root),
            auditor: auditor.state(),
            lifecycle: LifecycleState::default(),
        };
        let v = serde_json::to_vec(&state).map_err(|e| GrowError::Save(e.into()))?;
        // One synced batch: the state and every change of the book, or
        // (failing) none of them, undone by the next growth's `begin`.
        auditor
            .into_store()
            .commit(&[(&state_key(&origin), &v)])
            .map_err(|e| GrowError::Save(e.into()))?;
        f.state = state;
        self.metrics
            .verified_size
            .get_or_create(&OriginLabel { origin: origin.clone() })
            .set(i64::try_from(cp.size).unwrap_or(i64::MAX));
        Ok(())
    }

    /// Replays the new level-0 tiles from `start` (the verified compact
    /// range of size `old`) to `cp`, each bundle checked against its tile,
    /// every new entry through `auditor` and the lifecycle rules (whose
    /// memory is in the auditor's store), and the root compared with
    /// `cp`'s. Returns the alarms the entries raise and the state
    /// commitments they do not give, for the caller to raise once it has
    /// the root: nothing here is an alarm on its own.
    async fn replay(
        &self,
        f: &Followed,
        cp: &Checkpoint,
        old: u64,
        start: CompactRange,
        auditor: &mut Auditor<Journal<'_>>,
    ) -> Result<(HeldAlarms, Vec<BadState>), GrowError> {
        let origin = f.key.name();
        let mut replay = Replay::from_range(start, cp.size).map_err(GrowError::Replay)?;
        let mut held = HeldAlarms::default();
        let mut mismatch: Option<GrowError> = None;
        // State commitments the entries do not give: (index, entry, root, credentials).
        let mut bad_states: Vec<BadState> = Vec::new();
        let bar = crate::util::progress::bar(cp.size - old, "entries", origin);
        let mut fetched = std::pin::pin!(level0_with_bundles(&f.source, &replay).enumerate());
        while let Some((n, (t, b, tile, bundle))) = fetched.next().await {
            let level0 = tile.map_err(|source| GrowError::Unserved {
                path: t.path(),
                size: cp.size,
                source,
            })?;
            replay.push(t, &level0).map_err(GrowError::Replay)?;
            let body = bundle.map_err(|source| GrowError::Fetch { path: b.path(), source })?;
            let entries = decode_bundle(&body, usize::from(b.width))
                .map_err(|source| GrowError::Bundle { path: b.path(), source })?;
            for (k, e) in entries.iter().enumerate() {
                let i = b.index * 256 + k as u64;
                if i < old {
                    continue;
                }
                if mismatch.is_some() {
                    break;
                }
                if entry_matches(&level0, k, e) != Some(true) {
                    // The entry or its tile is wrong: the root decides which.
                    mismatch = Some(GrowError::EntryMismatch {
                        index: i,
                        path: b.path(),
                    });
                    break;
                }
                match auditor.try_push(e).map_err(GrowError::Book)? {
                    Ok(Audited::Event { .. }) => {
                        if let Ok(Leaf::Event(ev)) = Leaf::parse(e) {
                            let lifecycle = &mut Lifecycle(auditor.book_mut().store_mut());
                            let found = provlog_proto::lifecycle::check(lifecycle, &self.rules, i, &ev.event.event)
                                .map_err(GrowError::Book)?;
                            for v in found {
                                held.push(
                                    format!("lifecycle:{}", v.rule),
                                    format!("entries {:?}: {}", v.indexes, v.message),
                                );
                            }
                        }
                    }
                    Ok(
                        Audited::Policy { .. }
                        | Audited::State { .. }
                        | Audited::Heartbeat { .. }
                        | Audited::LogKey { .. },
                    ) => {}
                    Err(
                        finding @ (provlog_proto::audit::Finding::Chain { .. }
                        | provlog_proto::audit::Finding::HeartbeatCount { .. }
                        | provlog_proto::audit::Finding::HeartbeatLate { .. }),
                    ) => {
                        let kind = match &finding {
                            provlog_proto::audit::Finding::Chain { .. } => "chain",
                            provlog_proto::audit::Finding::HeartbeatCount { .. } => "heartbeat_count",
                            _ => "heartbeat_late",
                        };
                        held.push(kind.into(), finding.to_string());
                    }
                    Err(finding) => {
                        if let provlog_proto::audit::Finding::StateMismatch {
                            index,
                            computed,
                            computed_credentials,
                            ..
                        } = &finding
                        {
                            if bad_states.len() < 16 {
                                bad_states.push((*index, e.to_vec(), computed.clone(), *computed_credentials));
                            }
                            held.push("state".into(), finding.to_string());
                        } else {
                            held.push("authority".into(), finding.to_string());
                        }
                    }
                }
            }
            bar.inc(entries.len() as u64);
            if !self.progress && n % 64 == 63 {
                tracing::info!(
                    origin,
                    done = b.index * 256 + u64::from(b.width),
                    of = cp.size,
                    "catching up"
                );
            }
        }
        bar.finish_and_clear();
        let (root, _) = replay.finish().map_err(GrowError::Replay)?;
        if root != cp.root {
            return Err(GrowError::Unproven { size: cp.size });
        }
        if let Some(e) = mismatch {
            return Err(e);
        }
        Ok((held, bad_states))
    }

    async fn gossip(&self) {
        for peer in &self.peers {
            let url = format!("{}/checkpoints", peer.trim_end_matches('/'));
            let notes: Vec<String> = match self
                .fetch_peer(&url)
                .await
                .map_err(|e| error_chain(&e))
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string()))
            {
                Ok(v) => v["checkpoints"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(peer, error = %e, "peer unreachable");
                    continue;
                }
            };
            for n in notes {
                let origin = n.split('\n').next().unwrap_or_default().to_owned();
                for l in &self.logs {
                    let mut f = l.lock().await;
                    if f.key.name() == origin {
                        self.compare(&mut f, &n, &format!("peer {peer}")).await;
                    }
                }
            }
        }
    }

    async fn round(&self) {
        for l in &self.logs {
            let mut f = l.lock().await;
            self.poll(&mut f).await;
        }
        self.gossip().await;
    }
}

async fn checkpoints(State(m): State<Arc<Monitor>>) -> axum::Json<serde_json::Value> {
    let mut notes = Vec::new();
    for l in &m.logs {
        let f = l.lock().await;
        if !f.state.checkpoint.is_empty() {
            notes.push(f.state.checkpoint.clone());
        }
    }
    axum::Json(serde_json::json!({ "checkpoints": notes }))
}

async fn metrics(State(m): State<Arc<Monitor>>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &m.metrics.registry);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
}

/// Runs `provlog monitor`.
///
/// # Errors
/// Bad arguments or state; in `--once` mode, any alarm.
pub async fn run(a: MonitorArgs) -> Result<()> {
    let mut targets: Vec<(String, VerifierKey)> = Vec::new();
    for l in &a.logs {
        let (url, key) = l
            .split_once('=')
            .with_context(|| format!("--log {l:?} must be URL=VKEY"))?;
        targets.push((
            url.trim_end_matches('/').to_owned(),
            keyfile::read_verifier(key).context("--log")?,
        ));
    }
    if let (Some(url), Some(key)) = (&a.url, &a.log_key) {
        targets.push((
            url.trim_end_matches('/').to_owned(),
            keyfile::read_verifier(key).context("--log-key")?,
        ));
    }
    if targets.is_empty() {
        bail!("nothing to monitor: give --url URL --log-key VKEY, or --log URL=VKEY");
    }
    let rules: Rules = match &a.rules {
        Some(p) => toml::from_str(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
            .with_context(|| format!("in {}", p.display()))?,
        None => Rules::default(),
    };
    let witness_keys = a
        .witness_keys
        .iter()
        .map(|k| keyfile::read_verifier(k).context("--witness-key"))
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&a.state_dir).with_context(|| format!("creating {}", a.state_dir.display()))?;
    let store = StateStore::open_with(&a.state_dir.join("db"), StateOptions::books_within(a.cache_mib))
        .context("opening the monitor state")?;
    let book_bytes = a.cache_mib.max(1) << 19;
    let registry = Metrics::new();
    let notifier = notify::Notifier::start(&a.webhooks, &a.state_dir, registry.deliveries.clone())?;
    let mut logs = Vec::new();
    for (url, key) in targets {
        let state = match store.get(&state_key(key.name()))? {
            Some(v) => migrate(
                &store,
                key.name(),
                serde_json::from_slice(&v).context("reading the saved state")?,
                book_bytes,
            )?,
            None => LogState::default(),
        };
        if state.size > 0 {
            tracing::info!(
                origin = key.name(),
                size = state.size,
                "resuming from the verified size"
            );
        }
        logs.push(tokio::sync::Mutex::new(Followed {
            source: Source::open(&url, None, None)?,
            keys: LogKeys::single(key.clone()),
            keys_fetched: false,
            key,
            state,
            pending: Vec::new(),
            overdue: std::collections::HashSet::new(),
        }));
    }
    let m = Arc::new(Monitor {
        logs,
        store,
        book_bytes,
        rules,
        metrics: registry,
        alarms: Mutex::new(0),
        client: http_client(Duration::from_secs(30))?,
        evidence_dir: a.evidence_dir.clone().unwrap_or_else(|| a.state_dir.join("evidence")),
        peers: a.peers.clone(),
        min_witnesses: a.min_witnesses.unwrap_or(witness_keys.len()),
        witness_keys,
        progress: std::io::stderr().is_terminal(),
        notifier,
    });
    if let Some(addr) = a.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        crate::util::output::out(format_args!(
            "provlog monitor listening on http://{}",
            listener.local_addr()?
        ))?;
        crate::util::output::out(crate::util::output::ready_line("monitor", listener.local_addr()?))?;
        let app = Router::new()
            .route("/checkpoints", get(checkpoints))
            .route("/metrics", get(metrics))
            .layer(axum::middleware::from_fn_with_state(
                Duration::from_secs(10),
                crate::http::body::deadline,
            ))
            .with_state(Arc::clone(&m));
        // The same accept loop, connection cap and timeouts as the log.
        tokio::spawn(crate::http::server::serve(
            listener,
            app,
            crate::http::server::ConnectionLimits {
                max_connections: 256,
                header_timeout: Duration::from_secs(10),
                drain_timeout: Duration::from_secs(1),
            },
            std::future::pending(),
        ));
    }
    if a.once {
        m.round().await;
        if let Some(n) = &m.notifier {
            // Every alarm is delivered or dead-lettered before `--once` exits.
            n.drain(Duration::MAX).await;
        }
        let alarms = *crate::util::sync::lock(&m.alarms, "alarm count");
        for l in &m.logs {
            let f = l.lock().await;
            crate::util::output::out(format_args!("{}: verified up to size {}", f.key.name(), f.state.size))?;
        }
        if alarms > 0 {
            bail!("{}", crate::util::output::count(alarms, "alarm", "alarms"));
        }
        return Ok(());
    }
    let mut tick = tokio::time::interval(Duration::from_millis(a.interval_ms.max(10)));
    let shutdown = crate::util::signal::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tick.tick() => m.round().await,
            () = &mut shutdown => {
                if let Some(n) = &m.notifier {
                    n.drain(SHUTDOWN_DRAIN).await;
                }
                return Ok(());
            }
        }
    }
}
