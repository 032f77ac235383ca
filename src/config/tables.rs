//! The config tables of the components (publisher, witnesses, rate
//! limits): plain data, so that [`crate::config`] imports no component and
//! each component imports its table from here.

use serde::Deserialize;

/// The `[publish]` table of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// Where: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix` (with the `gcs`/`azure` features) or
    /// `file:///absolute/dir`.
    pub url: String,
    /// S3-compatible endpoint (Garage, `MinIO`, Ceph…); default: AWS, or
    /// `AWS_ENDPOINT`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region; default `AWS_REGION`, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Answer `POST /v1/entries` only once the entry's checkpoint is in the
    /// store (survives the loss of this machine; adds the upload latency).
    #[serde(default)]
    pub ack_after_publish: bool,
    /// Refuse to start when the store cannot be read at start (default);
    /// `false` starts anyway and keeps retrying (the lag grows meanwhile).
    #[serde(default = "yes")]
    pub required: bool,
    /// How long a submission waits for its checkpoint to be published with
    /// `ack_after_publish` before it gets `503` (and is retried by the
    /// client with the same `event_id`), ms.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_ms: u64,
    /// Where readers fetch the published log (shown in `/v1/log`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Rounds start at most once per this many ms: fewer requests and
    /// fewer short-lived partial tiles under load (checkpoints coalesce).
    /// Not applied with `ack_after_publish`, where rounds run back to back
    /// because waiting submitters would pay the interval in latency.
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
}

impl PublishConfig {
    /// Defaults for `url`.
    #[must_use]
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            endpoint: None,
            region: None,
            ack_after_publish: false,
            required: true,
            ack_timeout_ms: default_ack_timeout(),
            public_url: None,
            interval_ms: default_interval(),
        }
    }
}

const fn yes() -> bool {
    true
}

const fn default_interval() -> u64 {
    200
}

const fn default_ack_timeout() -> u64 {
    10_000
}

/// A configured witness.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Base URL of its submission prefix (`…/add-checkpoint` is appended).
    pub url: String,
    /// Its cosignature/v1 vkey (type 0x04).
    pub key: String,
}

/// A rate: `per_second` entries on average, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Entries per second.
    pub per_second: f64,
    /// Bucket size (default: one second's worth, at least 1).
    #[serde(default)]
    pub burst: Option<f64>,
}

impl Rate {
    /// The bucket size in force: `burst`, else one second's worth, at
    /// least 1.
    #[must_use]
    pub fn burst_size(&self) -> f64 {
        self.burst.unwrap_or(self.per_second).max(1.0)
    }
}

/// The `[ha]` table: several `provlog serve` processes share one log
/// through etcd and the `[publish]` object store (docs/HA.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaConfig {
    /// etcd client URLs of the cluster (`http://10.0.0.1:2379`, …).
    pub etcd: Vec<String>,
    /// The key prefix of this log in etcd (default `/provlog/ORIGIN`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// The sequencer's lease, seconds: how long a sequencer that went
    /// silent (killed, paused, cut off) keeps the role before a standby
    /// takes over.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_s: u64,
    /// This node's id, unique among the log's nodes.
    pub node_id: String,
    /// The base URL clients reach this node at, which standbys name in
    /// `Provlog-Sequencer` while this node is the sequencer.
    pub advertise_url: String,
    /// How long one etcd request may take, retries on other members
    /// included, ms.
    #[serde(default = "default_etcd_timeout")]
    pub request_timeout_ms: u64,
}

const fn default_lease_ttl() -> u64 {
    5
}

const fn default_etcd_timeout() -> u64 {
    2_000
}
