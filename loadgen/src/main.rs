//! `provlog-loadgen`: the load generator, a binary of its own so that none
//! of it is in the server library.
//!
//! It starts its own server on a temporary data directory (or targets
//! `--url`), prepares every request before the clock starts (events are
//! signed up front, so the client spends its CPU on HTTP only), then keeps
//! `--concurrency` keep-alive connections busy for `--duration` seconds and
//! reports throughput, latency percentiles and errors by status, optionally
//! as JSON.
//!
//! Before the load it measures the ceilings of this machine in the same run
//! — one core's Ed25519 `verify_strict` rate, the fsync rate of the data
//! directory's disk, and a no-op HTTP handler's throughput with the same
//! client — and prints the achieved rate against them, so figures from a
//! noisy, shared machine stay comparable.
//!
//! The HTTP client is a minimal HTTP/1.1 keep-alive client over raw TCP:
//! a general-purpose client would take a large share of the two cores the
//! server is measured on.

use anyhow::{Context, Result, bail};
use provlog_tlog::keys::SignerKey;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod gate;

/// What to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Signed single submissions, `POST /v1/entries`.
    Single,
    /// `POST /v1/entries/batch` with `--batch-size` submissions each.
    Batch,
    /// Inclusion proofs for random indexes.
    Proof,
    /// Random full level-0 tiles.
    Tile,
    /// `GET /checkpoint`.
    Checkpoint,
    /// `GET /v1/credentials/<fp>` with the full proof, for random
    /// credentials of the prefill (and one in eight never logged).
    Credential,
    /// SCITT statements (`POST /entries`, `application/cose`) against JSON
    /// submissions (`POST /v1/entries`) of the same events, alternating
    /// phases in one run: the rates and their ratio.
    Scitt,
    /// `provlog gate` in front of the log: misses, never-logged tokens,
    /// cache hits (and with `--via-nginx` through nginx `auth_request`,
    /// next to nginx `return 204`).
    Gate,
}

/// The provlog load generator: start a log (or use --url), prepare
/// requests, load it, report throughput and latency against this
/// machine's ceilings.
///
/// Examples:
///   provlog-loadgen --mode single --concurrency 256 --duration 10
///   provlog-loadgen --mode batch --concurrency 4 --batch-size 1000
///   provlog-loadgen --mode scitt --concurrency 256 --duration 10
///   provlog-loadgen --mode proof --prefill 1000000 --concurrency 64
///   provlog-loadgen --mode credential --prefill 1000000 --concurrency 64
///   provlog-loadgen --mode gate --prefill 100000 --concurrency 64 --via-nginx
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "provlog-loadgen", version, verbatim_doc_comment)]
struct BenchArgs {
    /// What to load.
    #[arg(long, value_enum, default_value = "single")]
    mode: Mode,
    /// Concurrent connections.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Submissions per request in batch mode.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Entries to append before proof and tile loads.
    #[arg(long, default_value_t = 100_000)]
    prefill: u64,
    /// Most requests to prepare for write modes (default: enough for the
    /// duration at 40,000/s).
    #[arg(long)]
    requests: Option<usize>,
    /// Target this log instead of starting one (needs --key for writes).
    #[arg(long)]
    url: Option<String>,
    /// Submitter key for --url write loads.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Data directory for the server it starts (default: a temp dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Extra arguments for the server it starts (repeatable).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Skip the ceiling probes.
    #[arg(long)]
    no_probes: bool,
    /// The provlog binary to start (default: `provlog` next to this
    /// executable, else on the PATH).
    #[arg(long, env = "PROVLOG_BIN")]
    provlog_bin: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The server's process id, for its CPU per operation when the load
    /// targets `--url` (a server it starts is measured anyway).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Gate mode: distinct credentials asked (each a miss once, then the
    /// cached working set).
    #[arg(long, default_value_t = 20_000)]
    gate_credentials: usize,
    /// Gate mode: also load nginx `return 204` and nginx `auth_request`
    /// to the gate (needs nginx on the PATH).
    #[arg(long)]
    via_nginx: bool,
}

/// One prepared HTTP/1.1 request.
type Req = Arc<Vec<u8>>;

fn request(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    request_typed(method, path, "application/json", body)
}

fn request_typed(method: &str, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Reads one response; returns its status.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16> {
    buf.clear();
    let mut head_end = None;
    while head_end.is_none() {
        buf.reserve(16 << 10);
        if s.read_buf(buf).await? == 0 {
            bail!("connection closed");
        }
        head_end = buf.windows(4).position(|w| w == b"\r\n\r\n");
    }
    let head_end = head_end.unwrap_or(0) + 4;
    let head = std::str::from_utf8(&buf[..head_end]).context("response head")?;
    let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).context("status line")?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        buf.reserve(16 << 10);
        if s.read_buf(buf).await? == 0 {
            bail!("connection closed mid-body");
        }
    }
    Ok(status)
}

/// Results of one load phase.
#[derive(Debug, Default)]
struct Outcome {
    /// Latencies of successful responses, microseconds.
    ok: Vec<u32>,
    /// Latencies of every response, microseconds.
    all: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    elapsed: f64,
}

/// Keeps `conc` connections busy until `duration` passes or `reqs` run out
/// (cycling through them if `cycle`).
async fn load(addr: &str, reqs: Arc<Vec<Req>>, conc: usize, duration: Duration, cycle: bool) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (addr, reqs, next, stop) = (addr.to_owned(), reqs.clone(), next.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            let mut buf = Vec::with_capacity(64 << 10);
            let mut conn: Option<TcpStream> = None;
            while !stop.load(Ordering::Relaxed) && start.elapsed() < duration {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let r = if cycle {
                    &reqs[i % reqs.len()]
                } else {
                    match reqs.get(i) {
                        Some(r) => r,
                        None => break,
                    }
                };
                if conn.is_none() {
                    if let Ok(s) = TcpStream::connect(&addr).await {
                        let _ = s.set_nodelay(true);
                        conn = Some(s);
                    } else {
                        out.transport_errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                }
                let Some(s) = conn.as_mut() else { continue };
                let t = Instant::now();
                let res = async {
                    s.write_all(r).await?;
                    read_response(s, &mut buf).await
                }
                .await;
                if let Ok(status) = res {
                    *out.statuses.entry(status).or_default() += 1;
                    let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
                    out.all.push(us);
                    if (200..300).contains(&status) {
                        out.ok.push(us);
                    }
                } else {
                    out.transport_errors += 1;
                    conn = None;
                }
            }
            out
        }));
    }
    let mut all = Outcome::default();
    for t in tasks {
        if let Ok(o) = t.await {
            all.ok.extend(o.ok);
            all.all.extend(o.all);
            for (k, v) in o.statuses {
                *all.statuses.entry(k).or_default() += v;
            }
            all.transport_errors += o.transport_errors;
        }
    }
    stop.store(true, Ordering::Relaxed);
    all.elapsed = start.elapsed().as_secs_f64();
    all
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[expect(
        clippy::cast_sign_loss,
        clippy::cast_possible_truncation,
        reason = "p is in 0..=1, so the rank is a valid index"
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Signs `n` distinct events on all cores and renders the requests.
/// `POST /v1/entries/batch` requests of `per` submissions each.
fn batch_requests(subs: &[Value], per: usize) -> Vec<Req> {
    subs.chunks(per)
        .map(|c| {
            Arc::new(request(
                "POST",
                "/v1/entries/batch",
                json!({ "submissions": c }).to_string().as_bytes(),
            ))
        })
        .collect()
}

/// Entries signed and sent per slice of a prefill (about 0.5 GB of requests).
const PREFILL_SLICE: usize = 200_000;

/// The fingerprint the prefill's event `i` rotates to: `sha256:` of
/// `i + 1` as 32 bytes (the proof and credential modes) or of the bearer
/// token `bench-token-<i + 1>` (the gate mode).
fn credential_fingerprint(i: usize, tokens: bool) -> String {
    if tokens {
        gate::token_fingerprint(i + 1)
    } else {
        format!("sha256:{:064x}", i + 1)
    }
}

/// The prefill's and the write loads' event `i`.
fn bench_event(i: usize, tag: &str, tokens: bool) -> Value {
    json!({
        "event_id": format!("bench-{tag}-{i}"),
        "occurred_at": "2026-11-25T10:00:00Z",
        "action": "rotate",
        "actor": {"id": "bench/rotate-keys", "type": "workflow"},
        "target": {"id": format!("svc-{}", i % 5000), "type": "service_account", "system": "gcp"},
        "authority": {"approval_id": format!("CHG-{}", i % 977), "approved_by": "bench@example.com"},
        "decision": {"result": "allow", "policy_id": "rotate-every-90d"},
        "outcome": "success",
        "credential": {
            "fingerprint": credential_fingerprint(i, tokens),
            "previous_fingerprint": format!("sha256:{:064x}", i + 1_000_000_000),
            "not_after": "2027-02-23T10:00:00Z"
        },
        "details": {"reason": "scheduled rotation", "ticket": "OPS-1234", "runner": "bench-runner-01"}
    })
}

/// Runs `f(i)` for `i` in `start..start + n` on all cores, in order.
fn on_all_cores<T: Send>(start: usize, n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let chunk = n.div_ceil(threads.max(1));
    let f = &f;
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (start + t * chunk..start + ((t + 1) * chunk).min(n))
                        .map(f)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Signs `n` distinct events on all cores: JSON submissions.
fn signed_events(key: &SignerKey, start: usize, n: usize, tag: &str, tokens: bool) -> Vec<Value> {
    on_all_cores(start, n, |i| {
        provlog_proto::submission::sign(&bench_event(i, tag, tokens), key.name(), key).unwrap_or(Value::Null)
    })
}

/// Signs `n` distinct events on all cores as SCITT statements
/// (docs/SCITT.md): `aud` the log's origin, `iss` the key's name.
fn signed_statements(key: &SignerKey, origin: &str, start: usize, n: usize, tag: &str) -> Vec<Vec<u8>> {
    use provlog_proto::statement::{self, StatementClaims};
    on_all_cores(start, n, |i| {
        let ev = bench_event(i, tag, false);
        let claims = StatementClaims {
            content_type: statement::EVENT_CONTENT_TYPE.into(),
            issuer: key.name().to_owned(),
            subject: ev["target"]["id"].as_str().map(str::to_owned),
            audience: Some(origin.to_owned()),
            issued_at: Some(1_796_378_400),
        };
        provlog_proto::json::canonical(&ev)
            .ok()
            .and_then(|p| statement::sign(&p, &claims, key).ok())
            .unwrap_or_default()
    })
}

/// CPU time a process has spent, user and system, all its threads
/// including the ones that ended (`utime + stime` of `/proc/<pid>/stat`,
/// in the kernel's 100 Hz user ticks), nanoseconds; `None` when the process
/// cannot be read.
fn process_cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields count from
    // the last `)`.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).
    Some(ticks * 10_000_000)
}

struct Probes {
    verify_per_core: f64,
    fsync_per_sec: f64,
    noop_http: f64,
}

fn probe_verify() -> f64 {
    let k = SignerKey::from_seed("probe", provlog_tlog::keys::ALG_ED25519, [7; 32]).unwrap_or_else(|_| unreachable!());
    let v = k.verifier();
    let msg = vec![b'x'; 600];
    let sig = k.sign_raw(&msg);
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            std::hint::black_box(v.verify_raw(&msg, &sig));
        }
        n += 100;
    }
    f64::from(n) / t.elapsed().as_secs_f64()
}

fn probe_fsync(dir: &std::path::Path) -> Result<f64> {
    use std::io::Write;
    let p = dir.join(".fsync-probe");
    let mut f = std::fs::File::create(&p)?;
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed() < Duration::from_secs(1) {
        f.write_all(&[b'x'; 128])?;
        f.sync_data()?;
        n += 1;
    }
    drop(f);
    let _ = std::fs::remove_file(&p);
    Ok(f64::from(n) / t.elapsed().as_secs_f64())
}

async fn probe_http(conc: usize) -> Result<f64> {
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(|body: axum::body::Bytes| async move { format!("{}", body.len()) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let h = tokio::spawn(async move { axum::serve(listener, app).await });
    let reqs = Arc::new(vec![Arc::new(request("POST", "/", &[b'x'; 900]))]);
    let o = load(&addr, reqs, conc, Duration::from_secs(2), true).await;
    h.abort();
    Ok(o.ok.len() as f64 / o.elapsed)
}

struct Running {
    child: Option<std::process::Child>,
    url: String,
    key: Option<SignerKey>,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

/// The server binary: `--provlog-bin`, else `provlog` beside this
/// executable (cargo builds both into one directory), else the PATH's.
fn provlog_bin(a: &BenchArgs) -> PathBuf {
    if let Some(p) = &a.provlog_bin {
        return p.clone();
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("provlog")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("provlog"))
}

fn start_server(a: &BenchArgs) -> Result<Running> {
    use std::io::BufRead;
    if let Some(url) = &a.url {
        let key = a
            .key
            .as_ref()
            .map(|k| provlog::util::keyfile::read_signer(k))
            .transpose()?;
        return Ok(Running {
            child: None,
            url: url.trim_end_matches('/').to_owned(),
            key,
            dir: std::env::temp_dir(),
            _tmp: None,
        });
    }
    let (tmp, dir) = if let Some(d) = &a.data_dir {
        (None, d.clone())
    } else {
        let t = tempfile::Builder::new().prefix("provlog-bench-").tempdir()?;
        let d = t.path().to_owned();
        (Some(t), d)
    };
    let mut child = std::process::Command::new(provlog_bin(a))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .args(["--max-write-requests", "65536", "--queue-capacity", "1000000"])
        // Every connection is admitted: the load generator measures the
        // work per request, not the read admission limit.
        .args(["--max-read-requests", &a.concurrency.max(32).to_string()])
        .args(&a.server_args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()?;
    let out = child.stdout.take().context("server stdout")?;
    let mut url = None;
    let mut lines = std::io::BufReader::new(out).lines();
    for line in lines.by_ref() {
        let line = line?;
        // The machine-readable ready line comes last.
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && v["ready"] == "log"
        {
            url = v["url"].as_str().map(str::to_owned);
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let url = url.context("the server did not start")?;
    let key = provlog::util::keyfile::read_signer(&dir.join("dev.skey"))?;
    Ok(Running {
        child: Some(child),
        url,
        key: Some(key),
        dir,
        _tmp: tmp,
    })
}

/// Runs the load.
///
/// # Errors
/// A server that does not start, a write load without a key, I/O errors.
async fn run(a: BenchArgs) -> Result<()> {
    let srv = start_server(&a)?;
    let addr = srv.url.trim_start_matches("http://").to_owned();
    let duration = Duration::from_secs_f64(a.duration.max(0.5));
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let probes = if a.no_probes {
        None
    } else {
        eprintln!("probing this machine's ceilings…");
        let verify_per_core = tokio::task::spawn_blocking(probe_verify).await?;
        let fsync_per_sec = probe_fsync(&srv.dir)?;
        let noop_http = probe_http(a.concurrency).await?;
        Some(Probes {
            verify_per_core,
            fsync_per_sec,
            noop_http,
        })
    };
    let key = || srv.key.clone().context("a write load on --url needs --key");
    let client = provlog::client::http_client(Duration::from_mins(1))?;
    let mut size = client
        .get(format!("{}/v1/log", srv.url))
        .send()
        .await?
        .json::<Value>()
        .await?["tree_size"]
        .as_u64()
        .unwrap_or(0);
    let tokens = a.mode == Mode::Gate;
    // The events this run prefilled: (first, count).
    let mut prefilled = (0usize, 0usize);
    if matches!(a.mode, Mode::Proof | Mode::Tile | Mode::Credential | Mode::Gate) && size < a.prefill {
        let k = key()?;
        let need = usize::try_from(a.prefill - size).unwrap_or(0);
        eprintln!("prefilling {need} entries…");
        // In slices, so that memory stays bounded at any prefill size.
        let first = usize::try_from(size).unwrap_or(0);
        prefilled = (first, need);
        for from in (0..need).step_by(PREFILL_SLICE) {
            let n = PREFILL_SLICE.min(need - from);
            let k = k.clone();
            let subs =
                tokio::task::spawn_blocking(move || signed_events(&k, first + from, n, "prefill", tokens)).await?;
            let reqs = batch_requests(&subs, 1000);
            drop(subs);
            let o = load(&addr, Arc::new(reqs), 2, Duration::from_hours(1), false).await;
            if o.statuses.keys().any(|s| *s != 200) {
                bail!("prefill failed: {:?}", o.statuses);
            }
            eprintln!("  {} of {need}", from + n);
        }
        size = client
            .get(format!("{}/v1/log", srv.url))
            .send()
            .await?
            .json::<Value>()
            .await?["tree_size"]
            .as_u64()
            .unwrap_or(0);
    }
    if a.mode == Mode::Scitt {
        let report = scitt(&a, &srv, &addr, duration).await?;
        if let Some(path) = &a.json {
            std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        return Ok(());
    }
    if a.mode == Mode::Gate {
        let report = gate::run(&a, &srv, prefilled, probes.as_ref().map(|p| p.noop_http)).await?;
        if let Some(path) = &a.json {
            std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        return Ok(());
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a duration of seconds, made positive above, times a rate"
    )]
    let want = a
        .requests
        .unwrap_or_else(|| (a.duration.max(0.5) * 40_000.0) as usize + 1000);
    let (reqs, cycle, per_req): (Vec<Req>, bool, u64) = match a.mode {
        Mode::Single => {
            let k = key()?;
            eprintln!("signing {want} events…");
            let subs = tokio::task::spawn_blocking(move || signed_events(&k, 0, want, "single", false)).await?;
            let r = subs
                .iter()
                .map(|s| Arc::new(request("POST", "/v1/entries", s.to_string().as_bytes())))
                .collect();
            (r, false, 1)
        }
        Mode::Batch => {
            let k = key()?;
            let n = want.max(a.batch_size * a.concurrency * 2);
            eprintln!("signing {n} events…");
            let subs = tokio::task::spawn_blocking(move || signed_events(&k, 0, n, "batch", false)).await?;
            let per = a.batch_size.clamp(1, 1000);
            (batch_requests(&subs, per), false, per as u64)
        }
        Mode::Proof => {
            if size == 0 {
                bail!("the log is empty");
            }
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let r = (0..100_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    Arc::new(request(
                        "GET",
                        &format!("/v1/proofs/inclusion?index={}&tree_size={size}", x % size),
                        b"",
                    ))
                })
                .collect();
            (r, true, 1)
        }
        Mode::Tile => {
            let full = size / 256;
            if full == 0 {
                bail!("the log has no full tile yet");
            }
            let mut x: u64 = 0x2545_f491_4f6c_dd1d;
            let r = (0..100_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let t = provlog_tlog::tile::TileId::hash(0, x % full, 256);
                    Arc::new(request("GET", &format!("/{}", t.path()), b""))
                })
                .collect();
            (r, true, 1)
        }
        Mode::Checkpoint => (vec![Arc::new(request("GET", "/checkpoint", b""))], true, 1),
        Mode::Gate | Mode::Scitt => bail!("this mode runs its own phases"),
        Mode::Credential => {
            // The prefill's event i rotated to credential i + 1.
            let n = a.prefill.max(1);
            let mut x: u64 = 0x5851_f42d_4c95_7f2d;
            let r = (0..100_000)
                .map(|k| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let fp = if k % 8 == 7 { u64::MAX - x % n } else { x % n + 1 };
                    Arc::new(request("GET", &format!("/v1/credentials/sha256:{fp:064x}"), b""))
                })
                .collect();
            (r, true, 1)
        }
    };
    eprintln!(
        "loading {} with {:?} at {} connections for {:.1} s…",
        srv.url, a.mode, a.concurrency, a.duration
    );
    let pid = srv.child.as_ref().map(std::process::Child::id).or(a.server_pid);
    let own0 = process_cpu_ns(std::process::id());
    let cpu0 = pid.and_then(process_cpu_ns);
    let o = load(&addr, Arc::new(reqs), a.concurrency, duration, cycle).await;
    let server_cpu = pid
        .and_then(process_cpu_ns)
        .zip(cpu0)
        .map(|(c1, c0)| c1.saturating_sub(c0));
    let own_cpu = process_cpu_ns(std::process::id())
        .zip(own0)
        .map(|(c1, c0)| c1.saturating_sub(c0));
    let mut lat = o.ok;
    lat.sort_unstable();
    let ok = lat.len() as f64;
    let rps = ok / o.elapsed;
    let eps = rps * per_req as f64;
    let mut report = json!({
        "mode": format!("{:?}", a.mode).to_lowercase(),
        "concurrency": a.concurrency,
        "duration_s": o.elapsed,
        "tree_size_before": size,
        "ok": lat.len(),
        "requests_per_s": rps,
        "entries_per_s": if matches!(a.mode, Mode::Single | Mode::Batch) { Some(eps) } else { None },
        "latency_ms": {"p50": pct(&lat, 0.5), "p90": pct(&lat, 0.9), "p99": pct(&lat, 0.99), "max": pct(&lat, 1.0)},
        "statuses": o.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "transport_errors": o.transport_errors,
        "cores": cores,
        // Server CPU (utime + stime, every thread) over the load, per
        // successful request and per entry: what the issue targets are
        // stated in. The generator's own CPU is beside it.
        "server_cpu_us_per_request": server_cpu.map(|c| c as f64 / 1000.0 / ok.max(1.0)),
        "server_cpu_us_per_entry": server_cpu.map(|c| c as f64 / 1000.0 / (ok * per_req as f64).max(1.0)),
        "server_cpu_cores": server_cpu.map(|c| c as f64 / 1e9 / o.elapsed),
        "loadgen_cpu_us_per_request": own_cpu.map(|c| c as f64 / 1000.0 / ok.max(1.0)),
    });
    provlog::util::output::out(format_args!(
        "{:?}: {:.0} req/s{} | latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms | statuses {:?}, transport errors {}",
        a.mode,
        rps,
        if per_req > 1 {
            format!(" = {eps:.0} entries/s")
        } else {
            String::new()
        },
        pct(&lat, 0.5),
        pct(&lat, 0.9),
        pct(&lat, 0.99),
        pct(&lat, 1.0),
        o.statuses,
        o.transport_errors
    ))?;
    if let Some(c) = server_cpu {
        provlog::util::output::out(format_args!(
            "server CPU: {:.1} µs per request{} ({:.2} cores busy); load generator {:.1} µs per request",
            c as f64 / 1000.0 / ok.max(1.0),
            if per_req > 1 {
                format!(
                    ", {:.1} µs per entry",
                    c as f64 / 1000.0 / (ok * per_req as f64).max(1.0)
                )
            } else {
                String::new()
            },
            c as f64 / 1e9 / o.elapsed,
            own_cpu.map_or(0.0, |c| c as f64 / 1000.0 / ok.max(1.0)),
        ))?;
    }
    if let Some(p) = probes {
        let verify_ceiling = p.verify_per_core * cores as f64;
        provlog::util::output::out(format_args!(
            "ceilings: Ed25519 verify_strict {:.0}/s per core ({:.0}/s on {cores} cores), fsync {:.0}/s, no-op HTTP {:.0} req/s",
            p.verify_per_core, verify_ceiling, p.fsync_per_sec, p.noop_http
        ))?;
        provlog::util::output::out(format_args!(
            "achieved: {:.0}% of the no-op HTTP rate{}{}",
            100.0 * rps / p.noop_http,
            if matches!(a.mode, Mode::Single | Mode::Batch) {
                format!(", {:.0}% of all cores verifying", 100.0 * eps / verify_ceiling)
            } else {
                String::new()
            },
            if matches!(a.mode, Mode::Single | Mode::Batch) {
                format!(
                    "; the disk's {:.0} fsyncs/s would carry this with {:.1} entries per sync",
                    p.fsync_per_sec,
                    eps / p.fsync_per_sec
                )
            } else {
                String::new()
            }
        ))?;
        report["ceilings"] = json!({
            "verify_strict_per_core": p.verify_per_core,
            "fsync_per_s": p.fsync_per_sec,
            "noop_http_req_per_s": p.noop_http,
            "ratio_of_noop_http": rps / p.noop_http,
            "ratio_of_all_cores_verifying": eps / verify_ceiling,
        });
    }
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The SCITT mode: JSON submissions and COSE statements of distinct
/// events, prepared up front, in four alternating phases of `duration`
/// each (JSON, COSE, JSON, COSE), so that drift on a shared machine falls
/// on both. Reports each kind's rate over its two phases and the ratio.
async fn scitt(a: &BenchArgs, srv: &Running, addr: &str, duration: Duration) -> Result<Value> {
    let k = srv.key.clone().context("a write load on --url needs --key")?;
    let client = provlog::client::http_client(Duration::from_mins(1))?;
    let origin = client
        .get(format!("{}/v1/log", srv.url))
        .send()
        .await?
        .json::<Value>()
        .await?["origin"]
        .as_str()
        .context("v1/log has no origin")?
        .to_owned();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a duration of seconds, made positive, times a rate"
    )]
    let want = a
        .requests
        .unwrap_or_else(|| (a.duration.max(0.5) * 8_000.0) as usize + 1000);
    eprintln!("signing 2 x {want} events as JSON submissions and as COSE statements…");
    let (kj, kc, o) = (k.clone(), k, origin.clone());
    let json_reqs: Vec<Req> = tokio::task::spawn_blocking(move || signed_events(&kj, 0, want, "json", false))
        .await?
        .iter()
        .map(|s| Arc::new(request("POST", "/v1/entries", s.to_string().as_bytes())))
        .collect();
    let cose_reqs: Vec<Req> = tokio::task::spawn_blocking(move || signed_statements(&kc, &o, 0, want, "cose"))
        .await?
        .iter()
        .map(|b| Arc::new(request_typed("POST", "/entries", "application/cose", b)))
        .collect();
    let half = want / 2;
    let mut phases = Vec::new();
    let mut totals = [(0usize, 0.0f64, Vec::new()), (0usize, 0.0f64, Vec::new())];
    let mut cpu_total = [0u64; 2];
    for round in 0..2 {
        for (kind, reqs) in [(0usize, &json_reqs), (1usize, &cose_reqs)] {
            let slice: Vec<Req> = reqs[round * half..(round + 1) * half].to_vec();
            eprintln!(
                "loading {} with {} at {} connections for {:.1} s…",
                srv.url,
                ["JSON submissions", "COSE statements"][kind],
                a.concurrency,
                duration.as_secs_f64()
            );
            let pid = srv.child.as_ref().map(std::process::Child::id);
            let cpu0 = pid.map(|p| gate::cpu_ns(p, false));
            let out = load(addr, Arc::new(slice), a.concurrency, duration, false).await;
            let cpu = pid.zip(cpu0).map(|(p, c0)| gate::cpu_ns(p, false).saturating_sub(c0));
            let rate = out.ok.len() as f64 / out.elapsed;
            let name = ["json", "cose"][kind];
            phases.push(json!({
                "kind": name,
                "ok": out.ok.len(),
                "per_s": rate,
                "server_cpu_us_per_ok": cpu.map(|c| c as f64 / 1000.0 / out.ok.len().max(1) as f64),
                "statuses": out.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "transport_errors": out.transport_errors,
            }));
            if out.statuses.keys().any(|s| !(200..300).contains(s)) {
                eprintln!("warning: {} answered {:?}", ["JSON", "COSE"][kind], out.statuses);
            }
            cpu_total[kind] += cpu.unwrap_or(0);
            let t = &mut totals[kind];
            t.0 += out.ok.len();
            t.1 += out.elapsed;
            t.2.extend(out.ok);
        }
    }
    let rate = |t: &(usize, f64, Vec<u32>)| t.0 as f64 / t.1;
    let oks = [totals[0].0.max(1), totals[1].0.max(1)];
    let cpu_per = |k: usize| cpu_total[k] as f64 / 1000.0 / oks[k] as f64;
    let (json_rate, cose_rate) = (rate(&totals[0]), rate(&totals[1]));
    for t in &mut totals {
        t.2.sort_unstable();
    }
    provlog::util::output::out(format_args!(
        "Scitt at {} connections: JSON {:.0}/s (p50 {:.2} ms, p99 {:.2} ms, server CPU {:.1} µs each), COSE {:.0}/s (p50 {:.2} ms, p99 {:.2} ms, server CPU {:.1} µs each): COSE at {:.1}% of JSON's rate",
        a.concurrency,
        json_rate,
        pct(&totals[0].2, 0.5),
        pct(&totals[0].2, 0.99),
        cpu_per(0),
        cose_rate,
        pct(&totals[1].2, 0.5),
        pct(&totals[1].2, 0.99),
        cpu_per(1),
        100.0 * cose_rate / json_rate
    ))?;
    Ok(json!({
        "mode": "scitt",
        "concurrency": a.concurrency,
        "json_per_s": json_rate,
        "cose_per_s": cose_rate,
        "cose_over_json": cose_rate / json_rate,
        "json_server_cpu_us": cpu_per(0),
        "cose_server_cpu_us": cpu_per(1),
        "json_latency_ms": {"p50": pct(&totals[0].2, 0.5), "p99": pct(&totals[0].2, 0.99)},
        "cose_latency_ms": {"p50": pct(&totals[1].2, 0.5), "p99": pct(&totals[1].2, 0.99)},
        "phases": phases,
    }))
}

fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    let a = BenchArgs::parse();
    match provlog::util::runtime::multi_thread()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(a)))
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
