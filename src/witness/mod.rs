//! `provlog witness`: a C2SP tlog-witness server (docs/SPECS.md §5).
//!
//! * `POST /add-checkpoint`: judged by [`provlog_tlog::witness::check`]
//!   (Sunlight's order of checks), then persisted with a compare-and-set on
//!   the old size in the witness's own `RocksDB` (synced) **before** it
//!   cosigns, so a restart never lets it cosign a checkpoint inconsistent
//!   with one it already cosigned. The answer is one `cosignature/v1` line
//!   (type 0x04, timestamp in seconds) and, with an ML-DSA-44 key, one
//!   `subtree/v1` line (type 0x06, C2SP tlog-cosignature v1.1); a witness
//!   may hold either key or both.
//! * `POST /sign-subtree` (with an ML-DSA-44 key): a `subtree/v1`
//!   signature, timestamp 0, on a subtree of a checkpoint it cosigned, once
//!   the subtree consistency proof holds (C2SP tlog-witness: 400 malformed,
//!   403 not its cosigned checkpoint, 404 unknown log, 422 bad proof).
//! * `GET /checkpoints`: the latest checkpoint it cosigned per log (the
//!   log's signature and this witness's cosignatures included), for
//!   monitors to gossip with.
//! * `GET /<origin hash>/checkpoint` (C2SP tlog-witness monitoring, the
//!   hex SHA-256 of the origin) and the older `GET /<percent-encoded
//!   origin>/checkpoint`: the same note for one log, `404` if it never
//!   cosigned one.
//! * `GET /healthz`.

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use provlog_storage::StateStore;
use provlog_tlog::keys::{ALG_COSIGNATURE_V1, SignerKey, VerifierKey};
use provlog_tlog::merkle::Hash;
use provlog_tlog::mldsa::MlDsaSigner;
use provlog_tlog::note::NoteSignature;
use provlog_tlog::witness::{self, MAX_BODY_BYTES, Refusal};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A log the witness follows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessedLog {
    /// The log's checkpoint origin.
    pub origin: String,
    /// Its Ed25519 vkeys (any one signature suffices).
    pub keys: Vec<String>,
}

/// `witness.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessFile {
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// Directory for the witness's `RocksDB`.
    pub data_dir: Option<PathBuf>,
    /// File holding the witness's `PRIVATE+KEY+…` (type 0x04).
    pub key: Option<PathBuf>,
    /// File holding its ML-DSA-44 key (type 0x06), created on first start.
    pub mldsa_key: Option<PathBuf>,
    /// Cosign with the ML-DSA-44 key only (no Ed25519 key).
    #[serde(default)]
    pub mldsa_only: bool,
    /// Name of the key created on first start.
    pub name: Option<String>,
    /// The logs it witnesses.
    #[serde(default)]
    pub logs: Vec<WitnessedLog>,
}

/// Command-line settings of `provlog witness`.
#[derive(Debug, Clone, clap::Args)]
pub struct WitnessArgs {
    /// Config file (TOML: listen, `data_dir`, key, name, [[logs]] origin + keys).
    #[arg(long, env = "PROVLOG_WITNESS_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:7380).
    #[arg(long, value_parser = crate::config::listen_addr)]
    listen: Option<SocketAddr>,
    /// Data directory (default ./provlog-witness).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Witness key file (default `DATA_DIR/witness.skey`, created on first start).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Name of the witness key created on first start (default witness.localhost).
    #[arg(long)]
    name: Option<String>,
    /// Also cosign with this ML-DSA-44 key (`provlog keygen --type mldsa44`;
    /// created with the witness's name if missing).
    #[arg(long)]
    mldsa_key: Option<PathBuf>,
    /// Cosign with the ML-DSA-44 key only (needs --mldsa-key).
    #[arg(long, requires = "mldsa_key")]
    mldsa_only: bool,
    /// A log to witness: its vkey, or a file holding it (the origin is the
    /// key's name); repeatable (an origin given several keys accepts any
    /// of them, for a key rotation).
    #[arg(long = "log-key", value_name = "VKEY")]
    log_keys: Vec<String>,
    /// The old spelling of `--log-key` (deprecated).
    #[arg(long = "log", value_name = "VKEY", hide = true)]
    old_logs: Vec<String>,
    /// `--log-format`.
    #[command(flatten)]
    pub log_format: crate::obs::logging::LogFormatArg,
}

struct Witness {
    /// The Ed25519 cosignature/v1 key, unless ML-DSA only.
    key: Option<SignerKey>,
    /// The ML-DSA-44 subtree/v1 key, if any.
    mldsa: Option<MlDsaSigner>,
    logs: HashMap<String, Vec<VerifierKey>>,
    store: StateStore,
    metrics: WitnessMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct ResultLabel {
    /// `cosigned`, or the refusal's HTTP status (`409`, `403`, `422`, …).
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct OriginLabel {
    origin: String,
}

/// What `GET /metrics` of a witness exports.
struct WitnessMetrics {
    registry: prometheus_client::registry::Registry,
    requests: Family<ResultLabel, Counter>,
    cosigned_size: Family<OriginLabel, Gauge>,
    cosigned_at: Family<OriginLabel, Gauge>,
}

impl WitnessMetrics {
    fn new(logs: &HashMap<String, Vec<VerifierKey>>) -> Self {
        let mut registry = prometheus_client::registry::Registry::with_prefix("provlog_witness");
        let m = Self {
            registry: prometheus_client::registry::Registry::default(),
            requests: Family::default(),
            cosigned_size: Family::default(),
            cosigned_at: Family::default(),
        };
        registry.register(
            "add_checkpoint_requests",
            "add-checkpoint requests by result: cosigned, or the refusal's status",
            m.requests.clone(),
        );
        registry.register(
            "cosigned_size",
            "Size of the latest checkpoint cosigned, per log",
            m.cosigned_size.clone(),
        );
        registry.register(
            "cosigned_timestamp_seconds",
            "When this process last cosigned a checkpoint of the log (Unix seconds; 0: not since it started)",
            m.cosigned_at.clone(),
        );
        for o in logs.keys() {
            let l = OriginLabel { origin: o.clone() };
            drop(m.cosigned_size.get_or_create(&l));
            drop(m.cosigned_at.get_or_create(&l));
        }
        Self { registry, ..m }
    }
}

async fn metrics(State(w): State<Arc<Witness>>) -> Response {
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &w.metrics.registry);
    text(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        out,
    )
}

impl Witness {
    /// This witness's cosignature lines for the checkpoint `text` at `ts`.
    fn cosign(&self, text: &str, ts: u64) -> Result<Vec<NoteSignature>, Refusal> {
        let mut out = Vec::new();
        if let Some(k) = &self.key {
            out.push(
                provlog_tlog::note::sign_text(text, k, ts)
                    .map_err(|e| Refusal::BadRequest(format!("cannot cosign: {e}")))?,
            );
        }
        if let Some(k) = &self.mldsa {
            out.push(
                k.cosign_checkpoint(text, ts)
                    .map_err(|e| Refusal::BadRequest(format!("cannot cosign with ML-DSA-44: {e}")))?,
            );
        }
        Ok(out)
    }
}

/// Stored value: size (u64 BE) ‖ root (32) ‖ the cosigned note as received.
fn decode(v: &[u8]) -> Option<(u64, Hash, &[u8])> {
    let size = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let root: Hash = v.get(8..40)?.try_into().ok()?;
    Some((size, root, v.get(40..)?))
}

/// The cosignature timestamp: seconds since the epoch, at least 1 (C2SP
/// tlog-cosignature reserves 0).
fn now_secs() -> u64 {
    crate::util::clock::now_secs().map_or(1, |s| s.max(1))
}

fn text(status: StatusCode, ctype: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(ctype))], body).into_response()
}

fn refuse(r: &Refusal) -> Response {
    let (ctype, body) = r.body();
    text(
        StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST),
        ctype,
        body,
    )
}

async fn add_checkpoint(
    State(w): State<Arc<Witness>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return refuse(&Refusal::BadRequest(format!(
            "body larger than {MAX_BODY_BYTES} bytes or unreadable"
        )));
    };
    let w2 = Arc::clone(&w);
    let res = tokio::task::spawn_blocking(move || {
        let stored = |o: &str| {
            w2.store
                .get(o.as_bytes())
                .ok()
                .flatten()
                .and_then(|v| decode(&v).map(|(s, r, _)| (s, r)))
        };
        let acc = witness::check(&body, |o| w2.logs.get(o).cloned(), stored)?;
        let origin = acc.checkpoint.origin.clone();
        // The cosignatures are made first and stored with the note (what the
        // monitoring endpoint serves), but answered only after the state is
        // persisted, with a compare-and-set on the old size: two racing
        // requests cannot roll the stored size back.
        let lines = w2.cosign(&acc.text, now_secs())?;
        let received = witness::AddCheckpoint::parse(&body).map(|r| r.note).unwrap_or_default();
        let kept = provlog_tlog::note::Note::parse(&received).map_or_else(
            |_| received.clone(),
            |mut n| {
                for l in &lines {
                    // A note already at the signature limit is kept as received.
                    let _ = n.try_add_signature(l.clone());
                }
                n.to_bytes()
            },
        );
        let mut value = acc.checkpoint.size.to_be_bytes().to_vec();
        value.extend_from_slice(&acc.checkpoint.root);
        value.extend_from_slice(&kept);
        let cas = w2.store.update(origin.as_bytes(), |cur| {
            let (have, have_root) = cur.and_then(decode).map_or((0, None), |(s, r, _)| (s, Some(r)));
            if have != acc.old {
                return Err(Refusal::Conflict(have));
            }
            if have == acc.checkpoint.size && have_root.is_some_and(|r| r != acc.checkpoint.root) {
                return Err(Refusal::Unprocessable("same size, different root".into()));
            }
            Ok(value)
        });
        match cas {
            Ok(Ok(())) => {}
            Ok(Err(r)) => return Err(r),
            Err(e) => {
                tracing::error!(error = %e, "witness store write failed");
                return Err(Refusal::Unprocessable("the witness could not persist its state".into()));
            }
        }
        Ok((
            origin,
            acc.checkpoint.size,
            lines.iter().map(NoteSignature::to_line).collect::<String>(),
        ))
    })
    .await;
    let result = |r: &str| {
        w.metrics
            .requests
            .get_or_create(&ResultLabel { result: r.to_owned() })
            .inc();
    };
    match res {
        Ok(Ok((origin, size, line))) => {
            result("cosigned");
            let l = OriginLabel { origin };
            w.metrics
                .cosigned_size
                .get_or_create(&l)
                .set(i64::try_from(size).unwrap_or(i64::MAX));
            w.metrics
                .cosigned_at
                .get_or_create(&l)
                .set(i64::try_from(now_secs()).unwrap_or(i64::MAX));
            text(StatusCode::OK, "text/plain; charset=utf-8", line)
        }
        Ok(Err(r)) => {
            tracing::info!(status = r.status(), reason = %r, "add-checkpoint refused");
            result(&r.status().to_string());
            refuse(&r)
        }
        Err(e) => {
            result("500");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                format!("{e}\n"),
            )
        }
    }
}

async fn checkpoints(State(w): State<Arc<Witness>>) -> Response {
    let all = w.store.all().unwrap_or_default();
    let notes: Vec<String> = all
        .iter()
        .filter_map(|(_, v)| decode(v).map(|(_, _, n)| String::from_utf8_lossy(n).into_owned()))
        .collect();
    axum::Json(serde_json::json!({ "checkpoints": notes })).into_response()
}

/// `POST /sign-subtree` (C2SP tlog-witness, optional): a `subtree/v1`
/// signature (timestamp 0) on a subtree of a checkpoint this witness
/// cosigned, if its consistency proof to that checkpoint holds. Needs an
/// ML-DSA-44 key (Ed25519 `cosignature/v1` cannot sign subtrees).
async fn sign_subtree(
    State(w): State<Arc<Witness>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let plain = |status: StatusCode, msg: String| text(status, "text/plain; charset=utf-8", format!("{msg}\n"));
    let Some(key) = &w.mldsa else {
        return plain(
            StatusCode::NOT_FOUND,
            "this witness holds no ML-DSA-44 key: it signs no subtrees".into(),
        );
    };
    let Ok(body) = body else {
        return plain(
            StatusCode::BAD_REQUEST,
            format!("body larger than {MAX_BODY_BYTES} bytes or unreadable"),
        );
    };
    let req = match provlog_tlog::mldsa::SignSubtree::parse(&body) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_REQUEST, e),
    };
    let Ok(note) = provlog_tlog::note::Note::parse(&req.note) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "the reference checkpoint is not a signed note".into(),
        );
    };
    let Ok(cp) = provlog_tlog::checkpoint::Checkpoint::parse(note.text()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "the reference checkpoint does not parse".into(),
        );
    };
    if !w.logs.contains_key(&cp.origin) {
        return plain(StatusCode::NOT_FOUND, format!("unknown log {:?}", cp.origin));
    }
    if req.end > cp.size {
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "the subtree ends at {}, past the checkpoint's size {}",
                req.end, cp.size
            ),
        );
    }
    // Only a checkpoint this witness cosigned (with either of its keys).
    let own: Vec<VerifierKey> = w
        .key
        .iter()
        .map(SignerKey::verifier)
        .chain(std::iter::once(key.verifier()))
        .collect();
    let cosigned = note.signatures().iter().any(|s| {
        own.iter()
            .any(|k| provlog_tlog::note::verify_signature(note.text(), s, k).is_some())
    });
    if !cosigned {
        return plain(
            StatusCode::FORBIDDEN,
            "the reference checkpoint carries no valid cosignature of this witness".into(),
        );
    }
    if !provlog_tlog::mldsa::verify_subtree_consistency(&req.proof, cp.size, &cp.root, req.start, req.end, &req.hash) {
        return plain(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the subtree consistency proof does not hold".into(),
        );
    }
    match key.sign_subtree(&cp.origin, req.start, req.end, &req.hash) {
        Ok(sig) => text(StatusCode::OK, "text/plain; charset=utf-8", sig.to_line()),
        Err(e) => plain(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// `GET /<origin hash>/checkpoint` (or `/<percent-encoded origin>/checkpoint`):
/// the latest checkpoint this witness cosigned for that log, with the log's
/// signature and its own cosignatures.
async fn log_checkpoint(
    State(w): State<Arc<Witness>>,
    p: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(axum::extract::Path(key)) = p else {
        return text(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            "bad path\n".into(),
        );
    };
    let origin = w
        .logs
        .keys()
        .find(|o| provlog_tlog::hex::encode(provlog_tlog::merkle::sha256(&[o.as_bytes()])) == key || **o == key)
        .cloned();
    let note = origin.and_then(|o| w.store.get(o.as_bytes()).ok().flatten());
    match note.as_deref().and_then(decode) {
        Some((_, _, n)) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            n.to_vec(),
        )
            .into_response(),
        None => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "this witness has cosigned no checkpoint of that log\n".into(),
        ),
    }
}

/// Longest a request may take, its body included.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The witness router (for tests that run it in-process too).
fn router(w: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/sign-subtree", post(sign_subtree))
        .route("/checkpoints", get(checkpoints))
        .route("/{origin}/checkpoint", get(log_checkpoint))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // The same request deadline as the log's: a client that trickles
        // its body gets 408 instead of holding a connection slot for good.
        .layer(axum::middleware::from_fn_with_state(
            REQUEST_TIMEOUT,
            crate::http::body::deadline,
        ))
        .layer(axum::middleware::from_fn(crate::http::body::close_if_body_unread))
        .with_state(w)
}

/// Runs `provlog witness` until SIGINT/SIGTERM.
///
/// # Errors
/// Bad configuration, an unusable key or data directory.
pub async fn run(a: WitnessArgs) -> Result<()> {
    let file = match &a.config {
        Some(p) => toml::from_str::<WitnessFile>(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("in {}", p.display()))?,
        None => WitnessFile::default(),
    };
    let data_dir = a
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("./provlog-witness"));
    let key_path = a.key.or(file.key).unwrap_or_else(|| data_dir.join("witness.skey"));
    let name = a.name.or(file.name).unwrap_or_else(|| "witness.localhost".into());
    let mldsa_only = a.mldsa_only || file.mldsa_only;
    let key = if mldsa_only {
        None
    } else if key_path.exists() {
        Some(crate::util::keyfile::read_signer(&key_path)?)
    } else {
        let k = crate::util::keyfile::generate(&name, ALG_COSIGNATURE_V1)?;
        crate::util::keyfile::write_new(&key_path, &k)?;
        Some(k)
    };
    if let Some(k) = &key
        && k.alg() != ALG_COSIGNATURE_V1
    {
        bail!(
            "{} is not a cosignature/v1 key; make one with: provlog keygen --type cosignature",
            key_path.display()
        );
    }
    let mldsa = match a.mldsa_key.or(file.mldsa_key) {
        Some(p) if p.exists() => Some(crate::util::keyfile::read_mldsa_signer(&p)?),
        Some(p) => {
            let k = crate::util::keyfile::generate_mldsa(&name)?;
            crate::util::keyfile::write_new_mldsa(&p, &k)?;
            Some(k)
        }
        None if mldsa_only => bail!("--mldsa-only needs an ML-DSA-44 key: give --mldsa-key FILE"),
        None => None,
    };
    let mut logs: HashMap<String, Vec<VerifierKey>> = HashMap::new();
    for l in &file.logs {
        let keys = l
            .keys
            .iter()
            .map(|k| VerifierKey::parse(k).with_context(|| format!("log {:?}: key {k:?}", l.origin)))
            .collect::<Result<Vec<_>>>()?;
        logs.entry(l.origin.clone()).or_default().extend(keys);
    }
    if !a.old_logs.is_empty() {
        crate::util::output::deprecated("provlog witness --log VKEY", "--log-key VKEY");
    }
    for k in a.log_keys.iter().chain(&a.old_logs) {
        let v = crate::util::keyfile::read_verifier(k).context("--log-key")?;
        logs.entry(v.name().to_owned()).or_default().push(v);
    }
    if logs.is_empty() {
        bail!("no logs to witness: give --log-key VKEY or [[logs]] in the config");
    }
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let store = StateStore::open(&data_dir.join("db")).context("opening the witness store")?;
    let listen = a
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7380)));
    let shutdown = crate::util::signal::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let mut banner = vec![
        format!("provlog witness listening on http://{addr}"),
        key.as_ref().map_or_else(String::new, |k| {
            format!("witness vkey: {}", k.verifier().to_vkey_string())
        }),
        mldsa.as_ref().map_or_else(String::new, |k| {
            format!("witness ML-DSA-44 vkey: {}", k.verifier().to_vkey_string())
        }),
        format!("witnessing: {}", logs.keys().cloned().collect::<Vec<_>>().join(", ")),
        crate::util::output::ready_line("witness", addr),
    ];
    banner.retain(|l| !l.is_empty());
    crate::util::output::out_lines(&banner)?;
    let w = Arc::new(Witness {
        key,
        mldsa,
        metrics: WitnessMetrics::new(&logs),
        logs,
        store,
    });
    crate::http::server::serve(
        listener,
        router(w),
        crate::http::server::ConnectionLimits {
            max_connections: 256,
            header_timeout: std::time::Duration::from_secs(10),
            drain_timeout: std::time::Duration::from_secs(10),
        },
        shutdown,
    )
    .await?;
    Ok(())
}
