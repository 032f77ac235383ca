//! `provlog gate`: a verifying, fail-closed authorizer beside a proxy
//! (docs/GATE.md). nginx asks it with `auth_request`, Envoy with
//! `ext_authz` over HTTP; it answers from credential states it verified
//! itself with the log's public key.
//!
//! * [`presented`]: a presented credential to its fingerprint, per route;
//! * [`cache`]: the verified states, bounded;
//! * [`follow`]: the gate's own monitor of the log and the verified asks;
//! * [`decision`]: allow or deny, and why;
//! * [`server`]: the HTTP endpoints;
//! * [`metrics`]: what it counts.

pub mod cache;
pub mod decision;
pub mod follow;
pub mod metrics;
pub mod presented;
pub mod server;

use anyhow::{Context, Result, bail};
use axum::http::HeaderName;
use presented::Mapping;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `provlog gate` (flags override the config file's settings).
#[derive(Debug, Clone, clap::Args)]
pub struct GateArgs {
    /// A TOML file with these settings and the `[[routes]]` (docs/GATE.md).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The log's base URL (not taken from `PROVLOG_URL`: a gate names the
    /// log it trusts, here or as `url =` in its config).
    #[arg(long)]
    url: Option<String>,
    /// The old spelling of `--url` (deprecated).
    #[arg(long = "log", value_name = "URL", hide = true, conflicts_with = "url")]
    old_log: Option<String>,
    /// The log's vkey (or a file holding it): the first key of its history
    /// or any later one.
    #[arg(long)]
    log_key: Option<String>,
    /// A witness's cosignature/v1 vkey (or file) whose cosignature counts;
    /// repeatable.
    #[arg(long = "witness-key")]
    witness_keys: Vec<String>,
    /// Cosignatures required on each checkpoint (default: all witness keys).
    #[arg(long)]
    min_witnesses: Option<usize>,
    /// The oldest state commitment a decision may rest on (`30s`, `2m`):
    /// the longest a revoked credential can still pass.
    #[arg(long, value_parser = humantime::parse_duration)]
    max_age: Option<Duration>,
    /// How often the log's checkpoint is polled.
    #[arg(long, value_parser = humantime::parse_duration)]
    poll_interval: Option<Duration>,
    /// Keep allowing credentials cached as active for this long past
    /// `--max-age` while the log cannot be reached (default 0: never;
    /// revocations logged meanwhile are not seen).
    #[arg(long, value_parser = humantime::parse_duration)]
    fail_open_for: Option<Duration>,
    /// Where to listen.
    #[arg(long, value_parser = crate::config::listen_addr)]
    listen: Option<SocketAddr>,
    /// Most credentials cached.
    #[arg(long)]
    cache_size: Option<usize>,
    /// Without `[[routes]]`: the header carrying the credential.
    #[arg(long)]
    header: Option<String>,
    /// Without `[[routes]]`: how the header's credential maps to a
    /// fingerprint.
    #[arg(long, value_enum)]
    fingerprint: Option<Mapping>,
    /// `--log-format`.
    #[command(flatten)]
    pub log_format: crate::obs::logging::LogFormatArg,
}

/// The config file of `provlog gate --config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    url: Option<String>,
    /// The old name of `url` (deprecated).
    log: Option<String>,
    log_key: Option<String>,
    #[serde(default)]
    witness_keys: Vec<String>,
    min_witnesses: Option<usize>,
    max_age: Option<String>,
    poll_interval: Option<String>,
    fail_open_for: Option<String>,
    listen: Option<SocketAddr>,
    cache_size: Option<usize>,
    #[serde(default)]
    routes: Vec<RouteConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteConfig {
    #[serde(default = "slash")]
    prefix: String,
    header: String,
    fingerprint: Mapping,
    #[serde(default)]
    owners: Vec<String>,
}

fn slash() -> String {
    "/".into()
}

/// One route: requests whose path starts with `prefix` present their
/// credential in `header`, mapped with `fingerprint`; `owners` (if any)
/// are the owning target ids admitted (`billing-*` matches a prefix).
#[derive(Debug, Clone)]
pub struct Route {
    /// The path prefix (the longest matching prefix wins).
    pub prefix: String,
    /// The header holding the credential.
    pub header: HeaderName,
    /// How it maps to a fingerprint.
    pub fingerprint: Mapping,
    /// Owning target ids admitted (empty: any).
    pub owners: Vec<String>,
}

/// A running gate's shared state.
pub struct Gate {
    /// The followed log, cache and asks.
    pub follower: Arc<follow::Follower>,
    routes: Vec<Route>,
}

impl Gate {
    /// The route for `path`: the longest prefix that matches.
    #[must_use]
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| path.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
    }
}

fn duration(flag: Option<Duration>, file: Option<&str>, default: Duration, what: &str) -> Result<Duration> {
    match (flag, file) {
        (Some(d), _) => Ok(d),
        (None, Some(s)) => humantime::parse_duration(s).with_context(|| format!("{what} = {s:?}")),
        (None, None) => Ok(default),
    }
}

/// The settings and routes from the flags and the config file.
fn resolve(a: &GateArgs) -> Result<(follow::Settings, Vec<Route>, SocketAddr)> {
    let file: FileConfig = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("{}", p.display()))?
        }
        None => FileConfig::default(),
    };
    if a.old_log.is_some() {
        crate::util::output::deprecated("provlog gate --log URL", "--url URL");
    }
    if file.log.is_some() {
        crate::util::output::deprecated("log = in the gate's config", "url =");
    }
    let log = a
        .url
        .clone()
        .or_else(|| a.old_log.clone())
        .or(file.url)
        .or(file.log)
        .context("--url (or url = in the config) is required")?;
    let key = a
        .log_key
        .clone()
        .or(file.log_key)
        .context("--log-key (or log_key = in the config) is required")?;
    let trusted = crate::util::keyfile::read_verifier(&key).context("--log-key")?;
    let wk = if a.witness_keys.is_empty() {
        file.witness_keys
    } else {
        a.witness_keys.clone()
    };
    let witnesses = wk
        .iter()
        .map(|k| crate::util::keyfile::read_verifier(k).context("--witness-key"))
        .collect::<Result<Vec<_>>>()?;
    let min_witnesses = a.min_witnesses.or(file.min_witnesses).unwrap_or(witnesses.len());
    if min_witnesses > witnesses.len() {
        bail!(
            "--min-witnesses {min_witnesses} needs at least that many --witness-key (got {})",
            witnesses.len()
        );
    }
    let max_age = duration(a.max_age, file.max_age.as_deref(), Duration::from_secs(30), "max_age")?;
    let poll_interval = duration(
        a.poll_interval,
        file.poll_interval.as_deref(),
        Duration::from_secs(1),
        "poll_interval",
    )?;
    if poll_interval.is_zero() || poll_interval >= max_age {
        bail!("the poll interval ({poll_interval:?}) must be above zero and below --max-age ({max_age:?})");
    }
    let fail_open_for = duration(
        a.fail_open_for,
        file.fail_open_for.as_deref(),
        Duration::ZERO,
        "fail_open_for",
    )?;
    let mut routes = Vec::new();
    for r in file.routes {
        routes.push(Route {
            header: HeaderName::try_from(r.header.to_ascii_lowercase())
                .with_context(|| format!("route {:?}: header {:?}", r.prefix, r.header))?,
            prefix: r.prefix,
            fingerprint: r.fingerprint,
            owners: r.owners,
        });
    }
    if routes.is_empty() || a.header.is_some() || a.fingerprint.is_some() {
        let header = a.header.clone().unwrap_or_else(|| "authorization".into());
        routes.retain(|r| r.prefix != "/");
        routes.push(Route {
            prefix: "/".into(),
            header: HeaderName::try_from(header.to_ascii_lowercase())
                .with_context(|| format!("--header {header:?}"))?,
            fingerprint: a.fingerprint.unwrap_or(Mapping::Bearer),
            owners: Vec::new(),
        });
    }
    let listen = a
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8095)));
    Ok((
        follow::Settings {
            log_url: log.trim_end_matches('/').to_owned(),
            trusted,
            witnesses,
            min_witnesses,
            max_age,
            poll_interval,
            fail_open_for,
            cache_size: a.cache_size.or(file.cache_size).unwrap_or(100_000).max(1),
            max_misses: 64,
        },
        routes,
        listen,
    ))
}

/// Runs the gate until SIGINT/SIGTERM.
///
/// # Errors
/// Bad settings, a port that cannot be bound.
pub async fn run(a: GateArgs) -> Result<()> {
    let (settings, routes, listen) = resolve(&a)?;
    let metrics = Arc::new(metrics::GateMetrics::new());
    let follower = Arc::new(follow::Follower::new(settings.clone(), metrics)?);
    let gate = Arc::new(Gate {
        follower: Arc::clone(&follower),
        routes,
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        log = %settings.log_url,
        max_age = ?settings.max_age,
        fail_open_for = ?settings.fail_open_for,
        routes = gate.routes.len(),
        "provlog gate listening on http://{addr}"
    );
    crate::util::output::out(format_args!(
        "provlog gate on http://{addr}: nginx auth_request GET /check, Envoy ext_authz /envoy, log {}",
        settings.log_url
    ))?;
    crate::util::output::out(crate::util::output::ready_line("gate", addr))?;
    tokio::spawn(Arc::clone(&follower).run());
    crate::http::server::serve(
        listener,
        server::router(gate),
        crate::http::server::ConnectionLimits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(5),
        },
        crate::util::signal::shutdown_signal(),
    )
    .await
    .context("serving")
}
