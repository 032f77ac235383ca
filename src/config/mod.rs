//! The server configuration: one TOML file (docs/DESIGN.md "Commands"), every
//! setting also a flag and a `PROVLOG_…` environment variable, and an
//! embedded default that runs with no file at all.

use crate::util::keyfile;
mod tables;

pub use tables::{HaConfig, PublishConfig, Rate, WitnessConfig};

use anyhow::{Context, Result, bail};
use provlog_proto::approval::{ApprovalRule, ApproverPolicy};
use provlog_proto::cedar::CedarPolicies;
use provlog_proto::policy::{Policy, Registry, SubmitterPolicy};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use provlog_tlog::tile::MAX_ENTRY_BYTES;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Origin used when none is configured.
pub const DEFAULT_ORIGIN: &str = "localhost/provlog";
/// Address used when none is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Data directory used when none is configured.
pub const DEFAULT_DATA_DIR: &str = "./provlog-data";
/// Id of the submitter the embedded default creates.
pub const DEV_SUBMITTER: &str = "dev";
/// Smallest `max_answer_bytes`: an answer always fits one entry of the
/// largest size with its encodings and proof.
pub const MIN_ANSWER_BYTES: usize = 1 << 20;
/// The block cache when none is configured, MiB: at 10 M credentials it
/// serves over 20 k credential answers/s with a resident set under 100 B
/// per credential (BENCHMARKS.md "One block cache for both targets").
pub const DEFAULT_BLOCK_CACHE_MIB: u64 = 512;

/// The config file, as written. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Checkpoint origin; also the log key's name.
    pub origin: Option<String>,
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// `RocksDB` data directory.
    pub data_dir: Option<PathBuf>,
    /// File holding the log's `PRIVATE+KEY+…` string.
    pub log_key: Option<PathBuf>,
    /// File holding the key the log rotates to (docs/ROTATION.md): announced
    /// at start or by `POST /v1/admin/rotate-key` if the log has not
    /// announced it yet.
    pub next_log_key: Option<PathBuf>,
    /// How long after a rotation checkpoints carry both signatures
    /// (`humantime`, e.g. `24h`).
    pub key_overlap: Option<String>,
    /// Largest accepted request body, bytes.
    pub max_body_bytes: Option<usize>,
    /// Most entries in one sequenced batch.
    pub batch_max_entries: Option<usize>,
    /// How long a batch may wait for more entries, in milliseconds.
    pub batch_max_wait_ms: Option<u64>,
    /// Submissions that may wait for the sequencer before new ones get 503.
    pub queue_capacity: Option<usize>,
    /// Largest `POST /v1/entries/batch` body, bytes.
    pub max_batch_body_bytes: Option<usize>,
    /// Bearer token for `/v1/admin/*`; the admin API is off without one.
    pub admin_token: Option<String>,
    /// Freeze the log at start (read-only for good, like a CT log at end of life).
    pub frozen: Option<bool>,
    /// Refuse event signatures not bound to this log (version 1).
    pub require_origin_binding: Option<bool>,
    /// Most open connections.
    pub max_connections: Option<usize>,
    /// Time a client gets to send request headers (and keep-alive idle time), ms.
    pub header_timeout_ms: Option<u64>,
    /// Time a request gets from its first byte to its response, ms.
    pub request_timeout_ms: Option<u64>,
    /// Signature verification threads.
    pub verify_threads: Option<usize>,
    /// Signature checks that may wait for a verification thread.
    pub verify_queue: Option<usize>,
    /// Most `POST /v1/entries` requests handled at once.
    pub max_write_requests: Option<usize>,
    /// Most `POST /v1/entries/batch` requests handled at once.
    pub max_batch_requests: Option<usize>,
    /// Most read requests that touch storage handled at once.
    pub max_read_requests: Option<usize>,
    /// Largest read answer in bytes before it pages.
    pub max_answer_bytes: Option<usize>,
    /// Longest an unchanged credential map goes without a state commitment, ms.
    pub state_commit_interval_ms: Option<u64>,
    /// How long old versions of the credential map stay provable
    /// (`humantime`, e.g. `30d`).
    pub map_retention: Option<String>,
    /// Memory for the store's block cache, MiB.
    pub block_cache_mib: Option<u64>,
    /// Default per-submitter rate limit (none: unlimited).
    pub rate_limit: Option<Rate>,
    /// Per-submitter rate limits by id, overriding `rate_limit`.
    #[serde(default)]
    pub rate_limits: std::collections::HashMap<String, Rate>,
    /// Witnesses to send checkpoints to.
    #[serde(default)]
    pub witnesses: Vec<WitnessConfig>,
    /// Cosignatures that make a checkpoint witnessed (default: all witnesses).
    pub witness_policy: Option<usize>,
    /// A C2SP tlog-policy file (relative to this file) naming the witnesses
    /// (with their URLs) and the quorum, instead of `witnesses` and
    /// `witness_policy`.
    pub witness_policy_file: Option<PathBuf>,
    /// How often to send the latest checkpoint to the witnesses, ms.
    pub witness_interval_ms: Option<u64>,
    /// `/readyz` fails while entries wait and the newest checkpoint is older than this, ms.
    pub ready_max_checkpoint_age_ms: Option<u64>,
    /// Publishing the static API to object storage.
    pub publish: Option<PublishConfig>,
    /// High availability through etcd (needs `[publish]`).
    pub ha: Option<HaConfig>,
    /// The submitter registry, with where each entry is in the file.
    #[serde(default)]
    pub submitters: Vec<toml::Spanned<SubmitterPolicy>>,
    /// Who may sign approvals, and what they may approve.
    #[serde(default)]
    pub approvers: Vec<toml::Spanned<ApproverPolicy>>,
    /// Which events need approvals.
    #[serde(default)]
    pub approval_rules: Vec<toml::Spanned<ApprovalRule>>,
    /// Cedar policies every event must satisfy.
    pub cedar: Option<CedarConfig>,
}

/// `[cedar]`: the registry's Cedar policies and schema, inline or from
/// files (relative to the config file's directory).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CedarConfig {
    /// Policy text.
    pub policies: Option<String>,
    /// File holding the policy text.
    pub policies_file: Option<PathBuf>,
    /// Schema text (Cedar schema syntax).
    pub schema: Option<String>,
    /// File holding the schema.
    pub schema_file: Option<PathBuf>,
}

impl CedarConfig {
    /// Reads the texts, files relative to `base`.
    fn resolve(&self, base: &Path) -> Result<CedarPolicies> {
        let read = |inline: &Option<String>, file: &Option<PathBuf>, what: &str| -> Result<Option<String>> {
            match (inline, file) {
                (Some(_), Some(_)) => bail!("[cedar]: give {what} or {what}_file, not both"),
                (Some(t), None) => Ok(Some(t.clone())),
                (None, Some(f)) => {
                    let p = base.join(f);
                    Ok(Some(
                        std::fs::read_to_string(&p).with_context(|| format!("[cedar] {what}_file {}", p.display()))?,
                    ))
                }
                (None, None) => Ok(None),
            }
        };
        let policies = read(&self.policies, &self.policies_file, "policies")?
            .context("[cedar] needs policies or policies_file")?;
        Ok(CedarPolicies {
            policies,
            schema: read(&self.schema, &self.schema_file, "schema")?,
        })
    }
}

/// Settings given on the command line or in the environment; they win over
/// the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Config file (TOML).
    #[arg(long, env = "PROVLOG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Checkpoint origin (and log key name).
    #[arg(long, env = "PROVLOG_ORIGIN")]
    pub origin: Option<String>,
    /// Address to listen on.
    #[arg(long, value_parser = listen_addr, env = "PROVLOG_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data directory.
    #[arg(long, env = "PROVLOG_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// File holding the log's private key (created on first start if absent).
    #[arg(long, env = "PROVLOG_LOG_KEY")]
    pub log_key: Option<PathBuf>,
    /// File holding the key to rotate to (`provlog keygen --name ORIGIN`),
    /// announced at start or by `POST /v1/admin/rotate-key`.
    #[arg(long, env = "PROVLOG_NEXT_LOG_KEY")]
    pub next_log_key: Option<PathBuf>,
    /// How long after a rotation checkpoints carry both signatures (e.g. `24h`).
    #[arg(long, env = "PROVLOG_KEY_OVERLAP")]
    pub key_overlap: Option<String>,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "PROVLOG_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most entries per sequenced batch.
    #[arg(long, env = "PROVLOG_BATCH_MAX_ENTRIES")]
    pub batch_max_entries: Option<usize>,
    /// Longest a batch waits for more entries, in milliseconds.
    #[arg(long, env = "PROVLOG_BATCH_MAX_WAIT_MS")]
    pub batch_max_wait_ms: Option<u64>,
    /// Submissions that may queue for the sequencer.
    #[arg(long, env = "PROVLOG_QUEUE_CAPACITY")]
    pub queue_capacity: Option<usize>,
    /// Largest batch request body in bytes.
    #[arg(long, env = "PROVLOG_MAX_BATCH_BODY_BYTES")]
    pub max_batch_body_bytes: Option<usize>,
    /// Bearer token for the admin API (`POST /v1/admin/reload`, `/freeze`).
    #[arg(long, env = "PROVLOG_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Freeze the log at start: read-only for good, a final checkpoint.
    #[arg(long, env = "PROVLOG_FROZEN")]
    pub frozen: bool,
    /// Accept only event signatures bound to this log's origin (version 2).
    #[arg(long, env = "PROVLOG_REQUIRE_ORIGIN_BINDING")]
    pub require_origin_binding: bool,
    /// Most open connections.
    #[arg(long, env = "PROVLOG_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Header (and keep-alive idle) timeout in milliseconds.
    #[arg(long, env = "PROVLOG_HEADER_TIMEOUT_MS")]
    pub header_timeout_ms: Option<u64>,
    /// Whole-request timeout in milliseconds.
    #[arg(long, env = "PROVLOG_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// Signature verification threads.
    #[arg(long, env = "PROVLOG_VERIFY_THREADS")]
    pub verify_threads: Option<usize>,
    /// Signature checks that may queue.
    #[arg(long, env = "PROVLOG_VERIFY_QUEUE")]
    pub verify_queue: Option<usize>,
    /// Most single submissions handled at once.
    #[arg(long, env = "PROVLOG_MAX_WRITE_REQUESTS")]
    pub max_write_requests: Option<usize>,
    /// Most batch submissions handled at once.
    #[arg(long, env = "PROVLOG_MAX_BATCH_REQUESTS")]
    pub max_batch_requests: Option<usize>,
    /// Most reads that touch storage handled at once (503 beyond).
    #[arg(long, env = "PROVLOG_MAX_READ_REQUESTS")]
    pub max_read_requests: Option<usize>,
    /// Largest read answer in bytes; longer ones page (at least 1 MiB).
    #[arg(long, env = "PROVLOG_MAX_ANSWER_BYTES")]
    pub max_answer_bytes: Option<usize>,
    /// An idle log commits the credential map at least this often (ms), so
    /// that gateways can tell their answers are current.
    #[arg(long, env = "PROVLOG_STATE_COMMIT_INTERVAL_MS")]
    pub state_commit_interval_ms: Option<u64>,
    /// How long old versions of the credential map stay provable, so that
    /// historical questions (`?at=`) can be answered (e.g. `30d`).
    #[arg(long, env = "PROVLOG_MAP_RETENTION")]
    pub map_retention: Option<String>,
    /// Memory for the store's block cache, MiB (default 512); the
    /// credential map's upper nodes have their own cache.
    #[arg(long, env = "PROVLOG_BLOCK_CACHE_MIB")]
    pub block_cache_mib: Option<u64>,
    /// Default per-submitter rate limit, entries per second.
    #[arg(long, env = "PROVLOG_RATE_LIMIT")]
    pub rate_limit: Option<f64>,
    /// A witness as URL=VKEY (repeatable; adds to the config's [[witnesses]]).
    #[arg(long = "witness", value_name = "URL=VKEY", value_parser = url_eq_vkey)]
    pub witnesses: Vec<String>,
    /// Cosignatures that make a checkpoint witnessed (default: all).
    #[arg(long, env = "PROVLOG_WITNESS_POLICY")]
    pub witness_policy: Option<usize>,
    /// A C2SP tlog-policy file: the witnesses (`witness NAME VKEY URL`), the
    /// k-of-n groups and the quorum a checkpoint must meet to be witnessed.
    #[arg(long, env = "PROVLOG_WITNESS_POLICY_FILE")]
    pub witness_policy_file: Option<PathBuf>,
    /// How often checkpoints go to the witnesses, in milliseconds.
    #[arg(long, env = "PROVLOG_WITNESS_INTERVAL_MS")]
    pub witness_interval_ms: Option<u64>,
    /// `/readyz` fails while entries wait and the newest checkpoint is older than this (ms).
    #[arg(long, env = "PROVLOG_READY_MAX_CHECKPOINT_AGE_MS")]
    pub ready_max_checkpoint_age_ms: Option<u64>,
    /// Publish the static API to this object store URL (<s3://bucket/prefix>,
    /// <file:///dir>, …; overrides `[publish] url`).
    #[arg(long, env = "PROVLOG_PUBLISH_URL")]
    pub publish_url: Option<String>,
    /// S3-compatible endpoint of the publish store (overrides `[publish] endpoint`).
    #[arg(long, env = "PROVLOG_PUBLISH_ENDPOINT")]
    pub publish_endpoint: Option<String>,
    /// Answer submissions only once their checkpoint is in the object store.
    #[arg(long, env = "PROVLOG_ACK_AFTER_PUBLISH")]
    pub ack_after_publish: bool,
}

/// `[ha]` must name etcd, this node and a shared object store.
fn check_ha(ha: &HaConfig, publish: Option<&PublishConfig>) -> Result<()> {
    let Some(p) = publish else {
        bail!("[ha] needs [publish]: the standbys follow the log from the object store");
    };
    if p.url.starts_with("file:") {
        tracing::warn!(url = %p.url, "[ha] with a file: object store: every node must see the same directory");
    }
    if ha.etcd.is_empty() {
        bail!("[ha] etcd must list at least one etcd client URL");
    }
    for e in &ha.etcd {
        url::Url::parse(e).with_context(|| format!("[ha] etcd: {e:?} is not a URL (http://host:2379)"))?;
    }
    if ha.node_id.is_empty() || ha.node_id.len() > 128 {
        bail!("[ha] node_id must be 1 to 128 characters, unique among the log's nodes");
    }
    let u = url::Url::parse(&ha.advertise_url)
        .with_context(|| format!("[ha] advertise_url: {:?} is not a URL", ha.advertise_url))?;
    if !matches!(u.scheme(), "http" | "https") {
        bail!("[ha] advertise_url must be an http(s) URL, got {:?}", ha.advertise_url);
    }
    if !(2..=600).contains(&ha.lease_ttl_s) {
        bail!(
            "[ha] lease_ttl_s must be between 2 and 600 seconds, got {}",
            ha.lease_ttl_s
        );
    }
    if ha.request_timeout_ms < 100 || ha.request_timeout_ms >= ha.lease_ttl_s * 1000 {
        bail!(
            "[ha] request_timeout_ms must be at least 100 and below the lease ({} ms), got {}",
            ha.lease_ttl_s * 1000,
            ha.request_timeout_ms
        );
    }
    if p.ack_after_publish {
        tracing::info!("[ha]: every acknowledgement already follows the upload; ack_after_publish adds nothing");
    }
    Ok(())
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Checkpoint origin.
    pub origin: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Log key file.
    pub log_key: PathBuf,
    /// The key file to rotate to, if any.
    pub next_log_key: Option<PathBuf>,
    /// How long a rotation's overlap lasts.
    pub key_overlap: std::time::Duration,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Most entries per batch.
    pub batch_max_entries: usize,
    /// Longest wait for a batch to fill, ms.
    pub batch_max_wait_ms: u64,
    /// Sequencer queue capacity.
    pub queue_capacity: usize,
    /// Largest batch request body.
    pub max_batch_body_bytes: usize,
    /// Admin API token.
    pub admin_token: Option<String>,
    /// Freeze at start.
    pub frozen: bool,
    /// Refuse version 1 event signatures (bound to no log): only
    /// signatures over this log's origin are accepted.
    pub require_origin_binding: bool,
    /// Most open connections.
    pub max_connections: usize,
    /// Header / idle timeout.
    pub header_timeout: std::time::Duration,
    /// Whole-request timeout.
    pub request_timeout: std::time::Duration,
    /// Verification threads.
    pub verify_threads: usize,
    /// Verification queue.
    pub verify_queue: usize,
    /// Concurrent single submissions.
    pub max_write_requests: usize,
    /// Concurrent batch submissions.
    pub max_batch_requests: usize,
    /// Concurrent reads that touch storage.
    pub max_read_requests: usize,
    /// Read answer byte budget.
    pub max_answer_bytes: usize,
    /// Longest an unchanged credential map goes without a state commitment.
    pub state_commit_interval: std::time::Duration,
    /// How long old credential map versions stay provable.
    pub map_retention: std::time::Duration,
    /// Bytes of the store's block cache.
    pub block_cache_bytes: usize,
    /// Default rate limit.
    pub rate_limit: Option<Rate>,
    /// Rate limits by submitter.
    pub rate_limits: std::collections::HashMap<String, Rate>,
    /// Witnesses.
    pub witnesses: Vec<WitnessConfig>,
    /// Witness policy (k).
    pub witness_policy: Option<usize>,
    /// A C2SP tlog-policy instead of `witness_policy` (its witnesses are
    /// then the witnesses).
    pub witness_quorum: Option<std::sync::Arc<provlog_tlog::policy::WitnessPolicy>>,
    /// Witness interval.
    pub witness_interval: std::time::Duration,
    /// Readiness threshold on the checkpoint age while entries wait.
    pub ready_max_checkpoint_age: std::time::Duration,
    /// Object-storage publishing, if configured.
    pub publish: Option<PublishConfig>,
    /// High availability, if configured (then `publish` is too).
    pub ha: Option<HaConfig>,
    /// Configured submitters (empty means: create the dev submitter).
    pub submitters: Vec<SubmitterPolicy>,
    /// Configured approvers.
    pub approvers: Vec<ApproverPolicy>,
    /// Configured approval rules.
    pub approval_rules: Vec<ApprovalRule>,
    /// Configured Cedar policies.
    pub cedar: Option<CedarPolicies>,
    /// The config file these settings came from, if any.
    pub config_file: Option<PathBuf>,
}

impl Config {
    /// Resolves the file (if any) and the overrides into a config.
    ///
    /// # Errors
    /// Unreadable or invalid file (the TOML error names the line).
    pub fn load(o: &Overrides) -> Result<Self> {
        let (file, submitters, approvers, approval_rules) = match &o.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading config {}", p.display()))?;
                let file = toml::from_str::<FileConfig>(&text).with_context(|| format!("in config {}", p.display()))?;
                let subs = checked_submitters(&text, &file.submitters)
                    .with_context(|| format!("in config {}", p.display()))?;
                let approvers = checked_entries(&text, "approver", &file.approvers, |a| {
                    a.validate().map(drop).map(|()| a.id.clone())
                })
                .with_context(|| format!("in config {}", p.display()))?;
                let rules = checked_entries(&text, "approval rule", &file.approval_rules, |r| {
                    r.validate().map(|()| r.id.clone())
                })
                .with_context(|| format!("in config {}", p.display()))?;
                (file, subs, approvers, rules)
            }
            None => (FileConfig::default(), Vec::new(), Vec::new(), Vec::new()),
        };
        let cedar = match (&file.cedar, &o.config) {
            (Some(c), Some(p)) => Some(
                c.resolve(p.parent().unwrap_or_else(|| Path::new(".")))
                    .with_context(|| format!("in config {}", p.display()))?,
            ),
            _ => None,
        };
        let witness_quorum = match (&o.witness_policy_file, &file.witness_policy_file, &o.config) {
            (Some(p), _, _) => Some(p.clone()),
            (None, Some(f), Some(c)) => Some(c.parent().unwrap_or_else(|| Path::new(".")).join(f)),
            (None, Some(f), None) => Some(f.clone()),
            (None, None, _) => None,
        }
        .map(|p| -> Result<_> {
            let text =
                std::fs::read_to_string(&p).with_context(|| format!("reading witness policy {}", p.display()))?;
            let policy = provlog_tlog::policy::WitnessPolicy::parse(&text)
                .with_context(|| format!("in witness policy {}", p.display()))?;
            if let Some((name, _, _)) = policy.witnesses.iter().find(|(_, _, url)| url.is_none()) {
                bail!(
                    "in witness policy {}: witness {name:?} has no URL: the log must know where to send checkpoints",
                    p.display()
                );
            }
            Ok(std::sync::Arc::new(policy))
        })
        .transpose()?;
        if witness_quorum.is_some()
            && (!file.witnesses.is_empty()
                || !o.witnesses.is_empty()
                || o.witness_policy.is_some()
                || file.witness_policy.is_some())
        {
            bail!("give the witnesses either as witness_policy_file or as witnesses/witness_policy, not both");
        }
        let data_dir = o
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let log_key = o
            .log_key
            .clone()
            .or(file.log_key)
            .unwrap_or_else(|| data_dir.join("log.skey"));
        let cfg = Self {
            origin: o
                .origin
                .clone()
                .or(file.origin)
                .unwrap_or_else(|| DEFAULT_ORIGIN.into()),
            listen: o.listen.or(file.listen).unwrap_or_else(|| {
                DEFAULT_LISTEN
                    .parse()
                    .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
            }),
            data_dir,
            log_key,
            next_log_key: o.next_log_key.clone().or(file.next_log_key),
            key_overlap: match o.key_overlap.as_deref().or(file.key_overlap.as_deref()) {
                None => std::time::Duration::from_hours(24),
                Some(t) => {
                    let d = humantime::parse_duration(t)
                        .map_err(|e| anyhow::anyhow!("key_overlap {t:?}: {e} (write it like 24h or 30m)"))?;
                    if d < std::time::Duration::from_secs(1) {
                        bail!(
                            "key_overlap {t:?}: at least 1s (readers that do not know the new key need time to learn it)"
                        );
                    }
                    d
                }
            },
            max_body_bytes: o.max_body_bytes.or(file.max_body_bytes).unwrap_or(1 << 20),
            batch_max_entries: o.batch_max_entries.or(file.batch_max_entries).unwrap_or(4096),
            batch_max_wait_ms: o.batch_max_wait_ms.or(file.batch_max_wait_ms).unwrap_or(0),
            queue_capacity: o.queue_capacity.or(file.queue_capacity).unwrap_or(65_536),
            max_batch_body_bytes: o.max_batch_body_bytes.or(file.max_batch_body_bytes).unwrap_or(16 << 20),
            admin_token: o.admin_token.clone().or(file.admin_token).filter(|t| !t.is_empty()),
            frozen: o.frozen || file.frozen.unwrap_or(false),
            require_origin_binding: o.require_origin_binding || file.require_origin_binding.unwrap_or(false),
            max_connections: o.max_connections.or(file.max_connections).unwrap_or(1024),
            header_timeout: std::time::Duration::from_millis(
                o.header_timeout_ms.or(file.header_timeout_ms).unwrap_or(10_000),
            ),
            request_timeout: std::time::Duration::from_millis(
                o.request_timeout_ms.or(file.request_timeout_ms).unwrap_or(30_000),
            ),
            verify_threads: o
                .verify_threads
                .or(file.verify_threads)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get)),
            verify_queue: o.verify_queue.or(file.verify_queue).unwrap_or(4096),
            max_write_requests: o.max_write_requests.or(file.max_write_requests).unwrap_or(4096),
            max_batch_requests: o.max_batch_requests.or(file.max_batch_requests).unwrap_or(8),
            max_read_requests: o.max_read_requests.or(file.max_read_requests).unwrap_or(32),
            max_answer_bytes: o.max_answer_bytes.or(file.max_answer_bytes).unwrap_or(8 << 20),
            state_commit_interval: std::time::Duration::from_millis(
                o.state_commit_interval_ms
                    .or(file.state_commit_interval_ms)
                    .unwrap_or(10_000),
            ),
            map_retention: match o.map_retention.as_deref().or(file.map_retention.as_deref()) {
                None => std::time::Duration::from_hours(30 * 24),
                Some(t) => humantime::parse_duration(t)
                    .map_err(|e| anyhow::anyhow!("map_retention {t:?}: {e} (write it like 30d or 12h)"))?,
            },
            block_cache_bytes: match o
                .block_cache_mib
                .or(file.block_cache_mib)
                .unwrap_or(DEFAULT_BLOCK_CACHE_MIB)
            {
                m @ 8..=1_048_576 => usize::try_from(m << 20).unwrap_or(usize::MAX),
                m => anyhow::bail!("block_cache_mib {m}: between 8 and 1048576 (1 TiB)"),
            },
            rate_limit: o
                .rate_limit
                .map(|per_second| Rate {
                    per_second,
                    burst: None,
                })
                .or(file.rate_limit),
            rate_limits: file.rate_limits,
            witnesses: {
                let mut w = file.witnesses;
                if let Some(q) = &witness_quorum {
                    w.extend(q.witnesses.iter().map(|(_, k, url)| WitnessConfig {
                        url: url.clone().unwrap_or_default(),
                        key: k.to_vkey_string(),
                    }));
                }
                for arg in &o.witnesses {
                    let (url, key) = arg
                        .split_once('=')
                        .with_context(|| format!("--witness {arg:?} must be URL=VKEY"))?;
                    w.push(WitnessConfig {
                        url: url.to_owned(),
                        key: key.to_owned(),
                    });
                }
                w
            },
            witness_policy: o.witness_policy.or(file.witness_policy),
            witness_quorum,
            witness_interval: std::time::Duration::from_millis(
                o.witness_interval_ms
                    .or(file.witness_interval_ms)
                    .unwrap_or(1000)
                    .max(10),
            ),
            ready_max_checkpoint_age: std::time::Duration::from_millis(
                o.ready_max_checkpoint_age_ms
                    .or(file.ready_max_checkpoint_age_ms)
                    .unwrap_or(30_000),
            ),
            publish: {
                let mut p = file.publish;
                if let Some(url) = &o.publish_url {
                    match p.as_mut() {
                        Some(p) => p.url.clone_from(url),
                        None => p = Some(PublishConfig::new(url)),
                    }
                }
                if let Some(p) = p.as_mut() {
                    if o.publish_endpoint.is_some() {
                        p.endpoint.clone_from(&o.publish_endpoint);
                    }
                    p.ack_after_publish |= o.ack_after_publish;
                } else if o.ack_after_publish || o.publish_endpoint.is_some() {
                    bail!(
                        "--ack-after-publish and --publish-endpoint need a publish URL ([publish] url or --publish-url)"
                    );
                }
                p
            },
            ha: file.ha,
            submitters,
            approvers,
            approval_rules,
            cedar,
            config_file: o.config.clone(),
        };
        if let Some(ha) = &cfg.ha {
            check_ha(ha, cfg.publish.as_ref())?;
        }
        if cfg.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("admin_token must be at least 16 characters");
        }
        if [
            cfg.batch_max_entries,
            cfg.queue_capacity,
            cfg.max_body_bytes,
            cfg.max_batch_body_bytes,
            cfg.max_connections,
            cfg.verify_threads,
            cfg.verify_queue,
            cfg.max_write_requests,
            cfg.max_batch_requests,
            cfg.max_read_requests,
        ]
        .contains(&0)
        {
            bail!("size, count and capacity settings must be positive");
        }
        if cfg.max_answer_bytes < MIN_ANSWER_BYTES {
            bail!(
                "max_answer_bytes must be at least {MIN_ANSWER_BYTES} (one entry with its proof must fit), got {}",
                cfg.max_answer_bytes
            );
        }
        if cfg.state_commit_interval < std::time::Duration::from_millis(100) {
            bail!("state_commit_interval_ms must be at least 100");
        }
        if cfg.header_timeout.is_zero() || cfg.request_timeout.is_zero() {
            bail!("timeouts must be positive");
        }
        provlog_tlog::keys::check_key_name(&cfg.origin).with_context(|| format!("origin {:?}", cfg.origin))?;
        Ok(cfg)
    }

    /// Loads the log key, or on a first start generates one named after the
    /// origin, returned with `true` and not yet written (see
    /// [`Config::persist_log_key`]). Refuses a key whose name is not the
    /// origin, and a missing key beside an existing store or `.vkey`.
    ///
    /// # Errors
    /// Unreadable or mismatched key.
    pub fn load_or_generate_log_key(&self) -> Result<(SignerKey, bool)> {
        let (key, created) = if self.log_key.exists() {
            (keyfile::read_signer(&self.log_key)?, false)
        } else if self.data_dir.join("db").exists() {
            bail!(
                "{} holds a store but no log key at {}: put the log's private key there (or pass --log-key); \
                 a new key would sign checkpoints no one can tie to this log's history, so none is made",
                self.data_dir.display(),
                self.log_key.display()
            );
        } else {
            let vkey = self.log_key.with_extension("vkey");
            if vkey.exists() {
                bail!(
                    "{} exists but {} does not: put the log's private key there; a new key would not match it",
                    vkey.display(),
                    self.log_key.display()
                );
            }
            (keyfile::generate(&self.origin, ALG_ED25519)?, true)
        };
        if key.name() != self.origin {
            bail!(
                "the log key in {} is named {:?} but the origin is {:?}; a log signs checkpoints under its origin",
                self.log_key.display(),
                key.name(),
                self.origin
            );
        }
        if key.alg() != ALG_ED25519 {
            bail!(
                "the log key in {} is not an Ed25519 (type 0x01) key",
                self.log_key.display()
            );
        }
        Ok((key, created))
    }

    /// Reads `next_log_key`, if configured: it must exist (it is never
    /// generated) and be named after the origin.
    ///
    /// # Errors
    /// A missing or unreadable file, or a key of another name.
    pub fn load_next_log_key(&self) -> Result<Option<SignerKey>> {
        let Some(path) = &self.next_log_key else {
            return Ok(None);
        };
        let key = keyfile::read_signer(path).with_context(|| format!("next_log_key {}", path.display()))?;
        if key.name() != self.origin {
            bail!(
                "next_log_key {} is named {:?}, but the origin is {:?}: a rotated key keeps the log's name",
                path.display(),
                key.name(),
                self.origin
            );
        }
        if key.alg() != provlog_tlog::keys::ALG_ED25519 {
            bail!("next_log_key {} is not an Ed25519 (type 0x01) key", path.display());
        }
        Ok(Some(key))
    }

    /// Writes a key [`Config::load_or_generate_log_key`] generated (mode
    /// 0600, and its `.vkey`), once everything else about the start has
    /// been checked.
    ///
    /// # Errors
    /// The files exist or cannot be written.
    pub fn persist_log_key(&self, key: &SignerKey) -> Result<()> {
        keyfile::write_new(&self.log_key, key)
    }

    /// The registry to install at start: the configured submitters (a config
    /// file must name some); with no config at all, on a first start a
    /// `dev` submitter with full scope whose key is created next to the log
    /// key, and on a later start `None`: the registry logged last stays.
    /// Returns the registry and, for the dev case, the key file.
    ///
    /// # Errors
    /// Invalid registry or unreadable dev key.
    pub fn registry(&self) -> Result<(Option<Registry>, Option<PathBuf>)> {
        if !self.submitters.is_empty() || self.config_file.is_some() {
            return Ok((Some(self.configured_registry()?), None));
        }
        // No config at all: the embedded default is for a first start only;
        // a log that exists keeps the registry it logged last.
        if self.data_dir.join("db").exists() {
            return Ok((None, None));
        }
        let path = dev_key_path(&self.log_key);
        let key = if path.exists() {
            keyfile::read_signer(&path)?
        } else {
            let k = keyfile::generate(DEV_SUBMITTER, ALG_ED25519)?;
            keyfile::write_new(&path, &k)?;
            k
        };
        let reg = Registry::new(Policy {
            submitters: vec![SubmitterPolicy {
                id: DEV_SUBMITTER.into(),
                key: key.verifier().to_vkey_string(),
                actions: vec!["*".into()],
                targets: vec!["*".into()],
                systems: None,
                not_before: None,
                not_after: None,
                sequenced: false,
                heartbeat_interval_seconds: None,
            }],
            ..Policy::default()
        })?;
        Ok((Some(reg), Some(path)))
    }

    /// The registry of the configured `[[submitters]]`, checked to fit one
    /// policy leaf. A reload installs only this: never the embedded `dev`
    /// submitter.
    ///
    /// # Errors
    /// No `[[submitters]]`, an invalid entry, or a registry whose policy leaf
    /// would exceed [`MAX_ENTRY_BYTES`].
    pub fn configured_registry(&self) -> Result<Registry> {
        if self.submitters.is_empty() {
            bail!(
                "{} has no [[submitters]]: a log needs at least one (the full-scope dev submitter is only \
                 created on a first start with no config at all)",
                self.config_file
                    .as_ref()
                    .map_or_else(|| "the configuration".to_owned(), |p| p.display().to_string())
            );
        }
        let reg = Registry::new(Policy {
            submitters: self.submitters.clone(),
            approvers: self.approvers.clone(),
            approval_rules: self.approval_rules.clone(),
            cedar: self.cedar.clone(),
        })
        .context("invalid registry ([[submitters]], [[approvers]], [[approval_rules]], [cedar])")?;
        check_policy_size(&reg)?;
        Ok(reg)
    }
}

/// Validates every submitter, naming the line of the first bad one.
fn checked_submitters(text: &str, subs: &[toml::Spanned<SubmitterPolicy>]) -> Result<Vec<SubmitterPolicy>> {
    let line =
        |s: &toml::Spanned<SubmitterPolicy>| text.get(..s.span().start).map_or(0, |t| t.matches('\n').count()) + 1;
    let mut seen = std::collections::HashMap::new();
    for s in subs {
        if let Err(e) = s.get_ref().validate() {
            bail!("line {}: {e}", line(s));
        }
        if let Some(first) = seen.insert(s.get_ref().id.clone(), line(s)) {
            bail!(
                "line {}: submitter {:?} is already defined at line {first}",
                line(s),
                s.get_ref().id
            );
        }
    }
    Ok(subs.iter().map(|s| s.get_ref().clone()).collect())
}

/// Validates every entry of one table array with `check` (which returns
/// the entry's id), naming the line of the first bad one and of a
/// repeated id.
fn checked_entries<T: Clone>(
    text: &str,
    what: &str,
    entries: &[toml::Spanned<T>],
    check: impl Fn(&T) -> std::result::Result<String, String>,
) -> Result<Vec<T>> {
    let line = |s: &toml::Spanned<T>| text.get(..s.span().start).map_or(0, |t| t.matches('\n').count()) + 1;
    let mut seen = std::collections::HashMap::new();
    for e in entries {
        let id = check(e.get_ref()).map_err(|r| anyhow::anyhow!("line {}: {what}: {r}", line(e)))?;
        if let Some(first) = seen.insert(id.clone(), line(e)) {
            bail!("line {}: {what} {id:?} is already defined at line {first}", line(e));
        }
    }
    Ok(entries.iter().map(|e| e.get_ref().clone()).collect())
}

/// Refuses a registry whose policy leaf would not fit one entry: C2SP
/// tlog-tiles frames entries with a 2-byte length, so a larger leaf could
/// be sequenced but never served as a bundle. (`logged_at` always has the
/// same width, so any timestamp gives the leaf's size.)
fn check_policy_size(reg: &Registry) -> Result<()> {
    let bytes = provlog_proto::leaf::policy_leaf("2000-01-01T00:00:00.000Z", reg.policy()).len();
    if bytes > MAX_ENTRY_BYTES {
        bail!(
            "the [[submitters]] registry would be logged as a policy entry of {bytes} bytes, over the limit of \
             {MAX_ENTRY_BYTES} bytes per entry: use fewer or shorter patterns (globs such as \"svc-*\" cover many \
             targets), or fewer submitters"
        );
    }
    Ok(())
}

/// Where the dev submitter key lives: beside the log key.
#[must_use]
pub fn dev_key_path(log_key: &Path) -> PathBuf {
    log_key.with_file_name("dev.skey")
}

/// A commented example config (`provlog config example`).
pub const EXAMPLE: &str = r#"# provlog configuration. Every key is optional; each is also a flag
# (--data-dir) and an environment variable (PROVLOG_DATA_DIR).

# Checkpoint origin: a scheme-less URL naming the log. The log key's name
# must equal it.
origin = "example.com/provlog"
listen = "127.0.0.1:8080"
data_dir = "./provlog-data"
# File holding the log's PRIVATE+KEY+... string; created on first start.
log_key = "./provlog-data/log.skey"
# Key rotation (docs/ROTATION.md): the key to rotate to (never generated;
# `provlog keygen --name ORIGIN`), announced at start or by
# POST /v1/admin/rotate-key, and how long checkpoints then carry both
# signatures.
# next_log_key = "./provlog-data/next.skey"
key_overlap = "24h"
# Largest request body in bytes (413 above it).
max_body_bytes = 1048576
# Group commit: a batch closes at this many entries, or when the sequencer
# has waited this long for more (0: take what is queued while the previous
# batch syncs).
batch_max_entries = 4096
batch_max_wait_ms = 0
# Submissions that may wait for the sequencer; beyond it new ones get 503.
queue_capacity = 65536
# Largest POST /v1/entries/batch body (up to 1,000 submissions).
max_batch_body_bytes = 16777216
# Bearer token for POST /v1/admin/reload (at least 16 characters; or set
# PROVLOG_ADMIN_TOKEN). Without one the admin API is off; SIGHUP still
# reloads the registry.
# admin_token = "change-me-to-a-long-random-string"
# End of life: make the log read-only for good with a final checkpoint
# (same as POST /v1/admin/freeze). There is no way back.
# frozen = true
# Accept only event signatures bound to this log's origin (version 2,
# "provlog/event/v2\n" || origin || "\n" || JCS(event)), so that an event
# signed for another log cannot be replayed here. Off by default, for the
# submitters that still sign version 1; recommended in production.
require_origin_binding = false

# Overload protection. Beyond these limits requests are shed at once with
# 503 + Retry-After (queues) or 429 (rate limits) instead of queuing.
max_connections = 1024        # open connections; more wait in the backlog
header_timeout_ms = 10000     # to send request headers; also keep-alive idle
request_timeout_ms = 30000    # whole request, body included (408)
# verify_threads = 2          # default: one per core
verify_queue = 4096           # signature checks waiting for a thread
max_write_requests = 4096     # POST /v1/entries handled at once
max_batch_requests = 8        # POST /v1/entries/batch handled at once
max_read_requests = 32        # reads that touch storage handled at once
max_answer_bytes = 8388608    # a longer search or credential answer pages

# Credential state: after every batch that changes a credential the log
# appends a state commitment (the credential map's root) in the same write;
# an idle log appends one at least this often, so that a gateway checking
# an answer's freshness (its max_age) can tell the map is current.
state_commit_interval_ms = 10000
# Every committed version of the map stays provable this long, for
# questions like "was this credential active when entry i was logged?"
# (GET /v1/credentials/<fp>?at=i); older versions are pruned.
map_retention = "30d"
# Memory for the store's block cache (MiB). Resident memory is at most about
# this plus 0.3-0.5 GB (the credential map's node cache, memtables, tile
# caches): 0.8 GB at 10 M credentials with the default.
block_cache_mib = 512
# Per-submitter rate limits (entries per second; burst defaults to one
# second's worth). Off unless set.
# rate_limit = { per_second = 1000.0, burst = 2000.0 }

# Witnesses (C2SP tlog-witness, listed in [[witnesses]] below). Each new
# checkpoint goes to every witness (every witness_interval_ms); /checkpoint
# carries the cosignatures collected, /v1/checkpoint/witnessed the latest
# checkpoint with at least witness_policy of them (default: all).
# witness_policy = 2
# Or a C2SP tlog-policy file (witness NAME VKEY URL lines, nested k-of-n
# groups, quorum NAME) naming the witnesses and the quorum, instead of
# [[witnesses]] and witness_policy (docs/DESIGN.md "Witnesses"):
# witness_policy_file = "witnesses.policy"
# witness_interval_ms = 1000

# Readiness: GET /readyz answers 503 when the store failed, or when entries
# are waiting for the sequencer and the newest checkpoint is older than
# this (the write path is stuck). An idle log stays ready.
ready_max_checkpoint_age_ms = 30000

# Tables come last (a key after a table header belongs to the table).
# Per-submitter rate limits overriding rate_limit:
# [rate_limits]
# ci-provisioner = { per_second = 50.0 }

# Publishing the static API (checkpoint, tiles, bundles) to object storage,
# for readers at scale and to survive the loss of this machine. Credentials
# come from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, …).
# [publish]
# url = "s3://provlog-bucket/logs/prod"     # or file:///srv/mirror, gs://…, az://…
# endpoint = "http://127.0.0.1:3900"        # S3-compatible store (Garage, MinIO, …)
# region = "garage"
# ack_after_publish = false                 # true: 201 only once in the store
# ack_timeout_ms = 10000                    # then 503 not_published (retry, same event_id)
# required = true                           # false: start even if the store is down
# public_url = "https://tiles.example.com/logs/prod"
# interval_ms = 200                         # at most one upload round per interval (not with ack_after_publish)

# High availability (docs/HA.md, README "Running provlog highly available"):
# several nodes with the same key, origin and [publish] store; etcd elects
# the sequencer and fences every checkpoint; standbys follow the store,
# serve reads and answer writes with 503 and a Provlog-Sequencer header.
# [ha]
# etcd = ["http://10.0.0.1:2379", "http://10.0.0.2:2379", "http://10.0.0.3:2379"]
# node_id = "log-a"                          # unique per node
# advertise_url = "http://10.0.0.11:8080"   # where clients reach this node
# lease_ttl_s = 5                           # a silent sequencer is replaced after this
# request_timeout_ms = 2000                 # one etcd request, failover included
# prefix = "/provlog/ORIGIN"                # one prefix per log

# [[witnesses]]
# url = "https://witness.example/w1"
# key = "witness.example/w1+20324abe+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X"

# Who may submit: a config file must list at least one submitter (only a
# first start with no config file at all creates a full-scope "dev"
# submitter next to the log key, announced at start). Changes take effect
# on SIGHUP or POST /v1/admin/reload; each change is logged as a policy entry
# before any event is accepted under it.
[[submitters]]
id = "ci-provisioner"
key = "ci-provisioner+1a2b3c4d+AU..."    # signed-note Ed25519 vkey
actions = ["issue", "rotate", "revoke"]  # glob patterns; "*" = all
targets = ["svc-*", "k8s/prod/*"]        # glob patterns over target.id
# systems = ["gcp"]                      # if set, target.system must be one
# not_before = "2026-01-01T00:00:00Z"
# not_after = "2027-01-01T00:00:00Z"

# Approvers sign approvals (`provlog approve`) that a submission carries;
# each key is one approver's and no submitter's (docs/DESIGN.md "Approvals").
# [[approvers]]
# id = "alice"
# key = "alice+5e6f7a8b+AU..."
# actions = ["revoke", "rotate"]
# targets = ["prod/*"]
# groups = ["security-oncall"]
# max_uses = 1                            # most uses one approval may grant
# max_ttl_seconds = 3600                  # longest validity of one approval

# Events matching a rule need N approvals by distinct approvers.
# [[approval_rules]]
# id = "prod-revocations"
# actions = ["revoke"]
# targets = ["prod/*"]
# approvals = 2
# group = "security-oncall"

# Cedar policies every event must satisfy; paths relative to this file
# (docs/DESIGN.md "Cedar policies").
# [cedar]
# policies_file = "policies.cedar"
# schema_file = "provlog.cedarschema"
"#;

/// Checks a `URL=VKEY` command-line value (`--witness`, `provlog monitor
/// --log`) when the command line is parsed, so that a malformed one is a
/// usage error (exit 2) that names the flag: the URL must have a scheme and
/// the vkey must parse.
///
/// # Errors
/// What is wrong with it.
pub fn url_eq_vkey(s: &str) -> Result<String, String> {
    let (url, vkey) = s.split_once('=').ok_or_else(|| format!("{s:?} is not URL=VKEY"))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    }
    if provlog_tlog::keys::VerifierKey::parse(vkey.trim()).is_err() && !std::path::Path::new(vkey).is_file() {
        return Err(format!("{vkey:?} is neither a vkey nor a file holding one"));
    }
    Ok(s.to_owned())
}

/// Parses a listen address given as `IP:PORT` or `HOST:PORT` (a name is
/// resolved, e.g. `localhost:8080`; its first address is used).
///
/// # Errors
/// Not an address, or a name that does not resolve.
pub fn listen_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    s.to_socket_addrs()
        .map_err(|e| format!("{s:?} is not HOST:PORT: {e}"))?
        .next()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block cache a server gets without configuring one is the
    /// documented default, and the example config says the same.
    #[test]
    fn the_block_cache_defaults_to_what_the_example_says() {
        let dir = tempfile::tempdir().expect("dir");
        let cfg = Config::load(&Overrides {
            data_dir: Some(dir.path().to_owned()),
            ..Overrides::default()
        })
        .expect("config");
        assert_eq!(cfg.block_cache_bytes, 512 << 20);
        let file: FileConfig = toml::from_str(EXAMPLE).expect("the example parses");
        assert_eq!(file.block_cache_mib, Some(DEFAULT_BLOCK_CACHE_MIB));
        assert_eq!(
            provlog_storage::StoreOptions::default().block_cache_bytes,
            cfg.block_cache_bytes,
            "the store's own default is the server's"
        );
    }
}
