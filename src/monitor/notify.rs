//! Alarms that reach someone: webhook notifications of the monitor's
//! alarms.
//!
//! Every alarm is put on a bounded queue ([`Notifier::send`] never waits);
//! a background task POSTs it to every webhook in the payload of that
//! webhook's format (generic JSON, Slack-compatible `{"text"}`, or
//! `PagerDuty` Events v2), signed with HMAC-SHA256 when a secret is given,
//! retried with exponential backoff (on transport errors, 408, 429 and
//! 5xx, honouring `Retry-After`), and written as a JSON line to the
//! dead-letter file, synced, after the last attempt or when the queue is
//! full. `--webhook-resend-dead-letters` queues them again at start.

use anyhow::{Context, Result, bail};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The webhook flags of `provlog monitor`.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// POST every alarm to this URL (repeatable): `URL` (generic JSON), or
    /// `slack=URL`, `pagerduty=URL` (Events v2), `generic=URL`.
    #[arg(long = "webhook", value_name = "[FORMAT=]URL")]
    webhooks: Vec<String>,
    /// Sign every webhook request with HMAC-SHA256 under this file's
    /// content (trailing newline removed): headers `X-Provlog-Timestamp`
    /// and `X-Provlog-Signature: sha256=<hex HMAC(secret, TIMESTAMP "." BODY)>`.
    #[arg(long, value_name = "FILE")]
    webhook_secret_file: Option<PathBuf>,
    /// The `PagerDuty` routing (integration) key, read from this file.
    #[arg(long, value_name = "FILE")]
    pagerduty_routing_key_file: Option<PathBuf>,
    /// Attempts per alarm and webhook before it is dead-lettered.
    #[arg(long, default_value_t = 6)]
    webhook_attempts: u32,
    /// Wait before the first retry; doubled after each, up to the cap.
    #[arg(long, default_value_t = 500)]
    webhook_backoff_ms: u64,
    /// Longest wait between two attempts (also caps `Retry-After`).
    #[arg(long, default_value_t = 60_000)]
    webhook_max_backoff_ms: u64,
    /// Timeout of one webhook request.
    #[arg(long, default_value_t = 10_000)]
    webhook_timeout_ms: u64,
    /// Alarms waiting for delivery at most; beyond, they are dead-lettered.
    #[arg(long, default_value_t = 1024)]
    webhook_queue: usize,
    /// Where undeliverable alarms go (default `STATE_DIR/webhook-dead-letters.jsonl`).
    #[arg(long, value_name = "FILE")]
    webhook_dead_letters: Option<PathBuf>,
    /// At start, queue the dead letters again (for webhooks still
    /// configured) and empty the file.
    #[arg(long)]
    webhook_resend_dead_letters: bool,
    /// This monitor's name in the payloads (default: the host name).
    #[arg(long)]
    monitor_name: Option<String>,
}

/// A webhook's payload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `{"kind","origin","message","at","monitor","dedup_key","version"}`.
    Generic,
    /// `{"text": "…"}` (Slack incoming webhooks, Mattermost, Rocket.Chat…).
    Slack,
    /// `PagerDuty` Events API v2 `trigger` events.
    Pagerduty,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Slack => "slack",
            Self::Pagerduty => "pagerduty",
        }
    }
}

/// One alarm as the webhooks receive it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alarm {
    /// The alarm kind (`fork`, `tiles`, `lifecycle:revoke_unknown`, …).
    pub kind: String,
    /// The log's origin.
    pub origin: String,
    /// What was found, with the index or path concerned.
    pub message: String,
    /// When it was raised (RFC 3339, UTC).
    pub at: String,
    /// The monitor that raised it.
    pub monitor: String,
    /// The same for the same alarm raised again: hex SHA-256 of origin,
    /// kind and message (`PagerDuty` groups by it).
    pub dedup_key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DeliveryLabel {
    /// The webhook's host (never its path, which may hold a token).
    pub webhook: String,
    pub format: String,
    /// `sent`, `failed` (one attempt) or `dead_lettered`.
    pub result: String,
}

struct Hook {
    url: String,
    format: Format,
    /// As given on the command line: how dead letters name their webhook.
    spec: String,
    host: String,
}

/// A dead letter: one line of the dead-letter file.
#[derive(Debug, Serialize, Deserialize)]
struct DeadLetter {
    webhook: String,
    format: Format,
    reason: String,
    attempts: u32,
    dead_at: String,
    alarm: Alarm,
}

struct Job {
    hook: usize,
    alarm: Alarm,
}

struct Shared {
    hooks: Vec<Hook>,
    secret: Option<Vec<u8>>,
    routing_key: Option<String>,
    client: reqwest::Client,
    attempts: u32,
    backoff: Duration,
    max_backoff: Duration,
    dead_letters: PathBuf,
    dead_lock: std::sync::Mutex<()>,
    deliveries: Family<DeliveryLabel, Counter>,
    /// Set when a stopping monitor stops waiting: what is still queued or
    /// retrying is dead-lettered at once.
    stop: tokio::sync::watch::Sender<bool>,
}

/// The sending side of the delivery queue.
pub(super) struct Notifier {
    tx: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<Job>>>,
    shared: Arc<Shared>,
    monitor: String,
    worker: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// How long dead-lettering what is left may take once a stop gives up.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Most deliveries in flight at once (each with its own retries).
const IN_FLIGHT: usize = 16;

fn parse_hook(spec: &str) -> Result<Hook> {
    let (format, url) = match spec.split_once('=') {
        Some(("generic", u)) => (Format::Generic, u),
        Some(("slack", u)) => (Format::Slack, u),
        Some(("pagerduty", u)) => (Format::Pagerduty, u),
        _ => (Format::Generic, spec),
    };
    let parsed = url::Url::parse(url).with_context(|| format!("--webhook {spec:?}: not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--webhook {spec:?}: only http and https URLs");
    }
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => bail!("--webhook {spec:?}: no host"),
    };
    Ok(Hook {
        url: url.to_owned(),
        format,
        spec: spec.to_owned(),
        host,
    })
}

fn read_secret(p: &Path, what: &str) -> Result<Vec<u8>> {
    let mut v = std::fs::read(p).with_context(|| format!("{what}: reading {}", p.display()))?;
    while v.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        v.pop();
    }
    if v.is_empty() {
        bail!("{what}: {} is empty", p.display());
    }
    Ok(v)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// `sha256=<hex HMAC-SHA256(secret, timestamp "." body)>`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256={}", hex(ctx.sign().as_ref()))
}

/// The body `format` gives `alarm`.
fn payload(format: Format, alarm: &Alarm, routing_key: Option<&str>) -> serde_json::Value {
    match format {
        Format::Generic => serde_json::json!({
            "version": 1,
            "kind": alarm.kind,
            "origin": alarm.origin,
            "message": alarm.message,
            "at": alarm.at,
            "monitor": alarm.monitor,
            "dedup_key": alarm.dedup_key,
        }),
        Format::Slack => serde_json::json!({
            "text": format!(
                ":rotating_light: provlog monitor {}: ALARM {} {}: {}",
                alarm.monitor, alarm.kind, alarm.origin, alarm.message
            ),
        }),
        Format::Pagerduty => {
            let mut summary = format!("provlog ALARM {} {}: {}", alarm.kind, alarm.origin, alarm.message);
            if summary.len() > 1024 {
                let mut end = 1021;
                while !summary.is_char_boundary(end) {
                    end -= 1;
                }
                summary.truncate(end);
                summary.push_str("...");
            }
            serde_json::json!({
                "routing_key": routing_key.unwrap_or_default(),
                "event_action": "trigger",
                "dedup_key": alarm.dedup_key,
                "payload": {
                    "summary": summary,
                    "source": alarm.monitor,
                    "severity": "critical",
                    "timestamp": alarm.at,
                    "component": alarm.origin,
                    "group": "provlog",
                    "class": alarm.kind,
                    "custom_details": {
                        "kind": alarm.kind,
                        "origin": alarm.origin,
                        "message": alarm.message,
                        "monitor": alarm.monitor,
                    },
                },
            })
        }
    }
}

/// Why one attempt failed, and whether another may succeed.
enum Failure {
    Retry { why: String, after: Option<Duration> },
    Final(String),
}

/// A `Retry-After` header: delay-seconds or an HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let d = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(d).unwrap_or(Duration::ZERO))
}

impl Shared {
    fn count(&self, hook: &Hook, result: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabel {
                webhook: hook.host.clone(),
                format: hook.format.name().to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    async fn attempt(&self, hook: &Hook, body: &[u8]) -> Result<(), Failure> {
        let mut req = self
            .client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::USER_AGENT,
                concat!("provlog-monitor/", env!("CARGO_PKG_VERSION")),
            )
            .body(body.to_vec());
        if let Some(secret) = &self.secret {
            let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
            req = req
                .header("X-Provlog-Signature", signature(secret, &ts, body))
                .header("X-Provlog-Timestamp", ts);
        }
        let r = req.send().await.map_err(|e| Failure::Retry {
            why: crate::util::error_chain(&e),
            after: None,
        })?;
        let status = r.status();
        if status.is_success() {
            return Ok(());
        }
        let why = format!("HTTP {status}");
        if status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
        {
            Err(Failure::Retry {
                why,
                after: retry_after(r.headers()),
            })
        } else {
            Err(Failure::Final(why))
        }
    }

    /// Delivers `job`, retrying; dead-letters it if that fails.
    async fn deliver(&self, job: Job) {
        let hook = &self.hooks[job.hook];
        let body =
            serde_json::to_vec(&payload(hook.format, &job.alarm, self.routing_key.as_deref())).unwrap_or_default();
        let mut wait = self.backoff;
        let mut n = 0;
        let mut stop = self.stop.subscribe();
        let stopped = "the monitor stopped before delivering it";
        let reason = loop {
            if *stop.borrow() {
                break stopped.to_owned();
            }
            n += 1;
            let result = tokio::select! {
                r = self.attempt(hook, &body) => r,
                _ = stop.wait_for(|s| *s) => break stopped.to_owned(),
            };
            match result {
                Ok(()) => {
                    self.count(hook, "sent");
                    tracing::info!(
                        webhook = hook.host,
                        kind = job.alarm.kind,
                        attempts = n,
                        "alarm delivered"
                    );
                    return;
                }
                Err(Failure::Final(why)) => {
                    self.count(hook, "failed");
                    break why;
                }
                Err(Failure::Retry { why, after }) => {
                    self.count(hook, "failed");
                    if n >= self.attempts {
                        break why;
                    }
                    let pause = after.unwrap_or(wait).min(self.max_backoff);
                    tracing::warn!(
                        webhook = hook.host,
                        error = why,
                        retry_in_ms = pause.as_millis(),
                        "webhook delivery failed"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = stop.wait_for(|s| *s) => break format!("{why}; {stopped}"),
                    }
                    wait = (wait * 2).min(self.max_backoff);
                }
            }
        };
        self.dead_letter(job.hook, job.alarm, &reason, n);
    }

    /// Appends a dead letter, synced; says so at error level.
    fn dead_letter(&self, hook: usize, alarm: Alarm, reason: &str, attempts: u32) {
        let h = &self.hooks[hook];
        self.count(h, "dead_lettered");
        let letter = DeadLetter {
            webhook: h.spec.clone(),
            format: h.format,
            reason: reason.to_owned(),
            attempts,
            dead_at: now_rfc3339(),
            alarm,
        };
        let _guard = crate::util::sync::lock(&self.dead_lock, "dead letters");
        let written = append_line(&self.dead_letters, &letter);
        match written {
            Ok(()) => tracing::error!(
                webhook = h.host,
                reason,
                file = %self.dead_letters.display(),
                "alarm not delivered; written to the dead-letter file"
            ),
            Err(e) => tracing::error!(
                webhook = h.host,
                reason,
                error = %e,
                "alarm not delivered, and writing the dead letter failed"
            ),
        }
    }
}

fn append_line(path: &Path, letter: &DeadLetter) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut line = serde_json::to_vec(letter).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(&line)?;
    f.sync_data()
}

impl Notifier {
    /// The notifier the flags ask for; `None` without `--webhook`.
    pub(super) fn start(
        a: &WebhookArgs,
        state_dir: &Path,
        deliveries: Family<DeliveryLabel, Counter>,
    ) -> Result<Option<Self>> {
        if a.webhooks.is_empty() {
            return Ok(None);
        }
        let hooks = a.webhooks.iter().map(|s| parse_hook(s)).collect::<Result<Vec<_>>>()?;
        let routing_key = match &a.pagerduty_routing_key_file {
            Some(p) => Some(
                String::from_utf8(read_secret(p, "--pagerduty-routing-key-file")?)
                    .context("--pagerduty-routing-key-file: not UTF-8")?,
            ),
            None => None,
        };
        if routing_key.is_none() && hooks.iter().any(|h| h.format == Format::Pagerduty) {
            bail!("a pagerduty= webhook needs --pagerduty-routing-key-file");
        }
        let secret = match &a.webhook_secret_file {
            Some(p) => Some(read_secret(p, "--webhook-secret-file")?),
            None => None,
        };
        let monitor = a.monitor_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "provlog-monitor".into())
        });
        let shared = Arc::new(Shared {
            hooks,
            secret,
            routing_key,
            client: crate::client::http_client(Duration::from_millis(a.webhook_timeout_ms.max(1)))?,
            attempts: a.webhook_attempts.max(1),
            backoff: Duration::from_millis(a.webhook_backoff_ms),
            max_backoff: Duration::from_millis(a.webhook_max_backoff_ms),
            dead_letters: a
                .webhook_dead_letters
                .clone()
                .unwrap_or_else(|| state_dir.join("webhook-dead-letters.jsonl")),
            dead_lock: std::sync::Mutex::new(()),
            deliveries,
            stop: tokio::sync::watch::Sender::new(false),
        });
        let resend = if a.webhook_resend_dead_letters {
            take_dead_letters(&shared)?
        } else {
            Vec::new()
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(a.webhook_queue.max(1) + resend.len());
        for j in resend {
            let _ = tx.try_send(j);
        }
        let worker = tokio::spawn({
            let shared = Arc::clone(&shared);
            async move {
                let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
                let mut running = tokio::task::JoinSet::new();
                while let Some(job) = rx.recv().await {
                    let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                        break;
                    };
                    let shared = Arc::clone(&shared);
                    running.spawn(async move {
                        shared.deliver(job).await;
                        drop(permit);
                    });
                    while running.try_join_next().is_some() {}
                }
                while running.join_next().await.is_some() {}
            }
        });
        Ok(Some(Self {
            tx: std::sync::Mutex::new(Some(tx)),
            shared,
            monitor,
            worker: std::sync::Mutex::new(Some(worker)),
        }))
    }

    /// Queues `kind`/`origin`/`msg` for every webhook; never waits. A full
    /// queue dead-letters the alarm at once.
    pub(super) fn send(&self, origin: &str, kind: &str, msg: &str) {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for part in [origin, kind, msg] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let alarm = Alarm {
            kind: kind.to_owned(),
            origin: origin.to_owned(),
            message: msg.to_owned(),
            at: now_rfc3339(),
            monitor: self.monitor.clone(),
            dedup_key: hex(&h.finalize()),
        };
        let tx = crate::util::sync::lock(&self.tx, "webhook queue").clone();
        for hook in 0..self.shared.hooks.len() {
            let job = Job {
                hook,
                alarm: alarm.clone(),
            };
            let refused = match &tx {
                Some(tx) => tx.try_send(job).err().map(|e| match e {
                    tokio::sync::mpsc::error::TrySendError::Full(j) => (j, "the delivery queue is full"),
                    tokio::sync::mpsc::error::TrySendError::Closed(j) => (j, "the monitor is stopping"),
                }),
                None => Some((job, "the monitor is stopping")),
            };
            if let Some((j, why)) = refused {
                self.shared.dead_letter(j.hook, j.alarm, why, 0);
            }
        }
    }

    /// Stops taking alarms and waits up to `limit` for the queued ones to
    /// be delivered; then dead-letters what is still queued or retrying.
    pub(super) async fn drain(&self, limit: Duration) {
        drop(crate::util::sync::lock(&self.tx, "webhook queue").take());
        let worker = crate::util::sync::lock(&self.worker, "webhook worker").take();
        if let Some(mut w) = worker
            && tokio::time::timeout(limit, &mut w).await.is_err()
        {
            self.shared.stop.send_replace(true);
            if tokio::time::timeout(STOP_GRACE, w).await.is_err() {
                tracing::error!("webhook deliveries could not be dead-lettered before exit");
            }
        }
    }
}

/// The dead letters for webhooks still configured, as jobs; the file is
/// emptied, keeping the letters of webhooks no longer configured.
fn take_dead_letters(shared: &Shared) -> Result<Vec<Job>> {
    let path = &shared.dead_letters;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut jobs = Vec::new();
    let mut kept = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(letter) = serde_json::from_str::<DeadLetter>(line) else {
            kept.push(line.to_owned());
            continue;
        };
        match shared.hooks.iter().position(|h| h.spec == letter.webhook) {
            Some(hook) => jobs.push(Job {
                hook,
                alarm: letter.alarm,
            }),
            None => kept.push(line.to_owned()),
        }
    }
    let tmp = path.with_extension("jsonl.tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        for l in &kept {
            writeln!(f, "{l}")?;
        }
        f.sync_data()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    tracing::info!(resent = jobs.len(), kept = kept.len(), "dead letters queued again");
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Python: hmac.new(b"Jefe", b'1700000000.{"kind":"fork"}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature(b"Jefe", "1700000000", br#"{"kind":"fork"}"#),
            "sha256=75c7b84d5c968e59def5b55b9b5025f3b92dbc5fbae284bbf0fd83f1d3391268"
        );
    }

    #[test]
    fn a_webhook_names_its_format_or_is_generic() {
        assert_eq!(parse_hook("slack=http://h/x").expect("p").format, Format::Slack);
        assert_eq!(
            parse_hook("pagerduty=https://h/v2/enqueue").expect("p").format,
            Format::Pagerduty
        );
        let g = parse_hook("http://h:9/a?b=c").expect("p");
        assert_eq!(
            (g.format, g.url.as_str(), g.host.as_str()),
            (Format::Generic, "http://h:9/a?b=c", "h:9")
        );
        assert!(parse_hook("teams=http://h/").is_err());
        assert!(parse_hook("file:///etc/passwd").is_err());
    }
}
