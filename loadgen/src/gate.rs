//! `--mode gate`: `provlog gate` in front of the log this run started.
//!
//! The prefill's event *i* rotates to the credential whose fingerprint is
//! `sha256("bench-token-<i + 1>")`, so a request `GET /check` with `Authorization: Bearer bench-token-i` is
//! decided on it. Phases, each reported on its own:
//!
//! 1. **miss**: every one of `--gate-credentials` distinct tokens once, on an
//!    empty cache: each asks the log for the credential's answer (map proof,
//!    commitment inclusion) and verifies it;
//! 2. **unknown**: 5,000 tokens the log never saw (absence proofs, `401`);
//! 3. **hit**: the tokens of phase 1 again, cycled for `--duration`, all
//!    from the cache;
//! 4. with `--via-nginx`: nginx `return 204` (the proxy alone), then nginx
//!    `auth_request` to the gate on the cached tokens, in the same run.
//!
//! For each phase: decisions per second, latency percentiles, statuses, and
//! the CPU time the gate (and nginx) spent per request, read from
//! `/proc/<pid>/task/*/schedstat` (nanoseconds on the CPU), which is what
//! stays comparable on a shared machine. The gate's resident memory growth
//! per cached credential is read from `/proc/<pid>/status`.

use crate::{BenchArgs, Outcome, Req, Running, load, pct, provlog_bin};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bearer token of the prefill's credential `i`.
pub fn token(i: usize) -> String {
    format!("bench-token-{i}")
}

/// Its fingerprint, as the prefill logs it.
pub fn token_fingerprint(i: usize) -> String {
    provlog::gate::presented::display(&provlog_tlog::merkle::sha256(&[token(i).as_bytes()]))
}

/// A child process stopped with SIGTERM when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Nanoseconds the process (all its threads, and its children's when
/// `children`) has spent on a CPU.
pub(crate) fn cpu_ns(pid: u32, children: bool) -> u64 {
    let mut pids = vec![pid];
    if children {
        let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        pids.extend(kids.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    let mut total = 0;
    for p in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            total += s
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// Resident set size, bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn check_request(path: &str, token: &str) -> Req {
    Arc::new(
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nX-Original-URI: /api\r\nAuthorization: Bearer {token}\r\n\r\n")
            .into_bytes(),
    )
}

/// A phase's figures; `cpu` is (pid, include children) of what it charges.
struct Phase {
    name: &'static str,
    o: Outcome,
    cpu_ns: Vec<(&'static str, u64)>,
}

impl Phase {
    fn report(&self) -> Value {
        let mut lat = self.o.all.clone();
        lat.sort_unstable();
        let n = lat.len() as f64;
        let mut cpu = serde_json::Map::new();
        for (who, ns) in &self.cpu_ns {
            cpu.insert(
                (*who).to_owned(),
                json!(if n > 0.0 { *ns as f64 / 1000.0 / n } else { 0.0 }),
            );
        }
        json!({
            "phase": self.name,
            "requests": lat.len(),
            "requests_per_s": n / self.o.elapsed,
            "latency_ms": {"p50": pct(&lat, 0.5), "p90": pct(&lat, 0.9), "p99": pct(&lat, 0.99), "max": pct(&lat, 1.0)},
            "cpu_us_per_request": cpu,
            "statuses": self.o.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "transport_errors": self.o.transport_errors,
        })
    }

    fn print(&self) -> Result<()> {
        let r = self.report();
        let cpu: Vec<String> = self
            .cpu_ns
            .iter()
            .map(|(who, _)| format!("{who} {:.1} µs", r["cpu_us_per_request"][who].as_f64().unwrap_or(0.0)))
            .collect();
        provlog::util::output::out(format_args!(
            "{:<14} {:>8.0} req/s | p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms | CPU per request: {} | statuses {:?}, transport errors {}",
            self.name,
            r["requests_per_s"].as_f64().unwrap_or(0.0),
            r["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
            r["latency_ms"]["p90"].as_f64().unwrap_or(0.0),
            r["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
            r["latency_ms"]["max"].as_f64().unwrap_or(0.0),
            cpu.join(", "),
            self.o.statuses,
            self.o.transport_errors
        ))?;
        Ok(())
    }
}

/// Loads `reqs` against `addr`, charging the CPU of `procs` to it.
async fn phase(
    name: &'static str,
    addr: &str,
    reqs: Vec<Req>,
    conc: usize,
    duration: Duration,
    cycle: bool,
    procs: &[(&'static str, u32, bool)],
) -> Phase {
    let before: Vec<u64> = procs.iter().map(|(_, p, c)| cpu_ns(*p, *c)).collect();
    let o = load(addr, Arc::new(reqs), conc, duration, cycle).await;
    let cpu_ns = procs
        .iter()
        .zip(before)
        .map(|((who, p, c), b)| (*who, cpu_ns(*p, *c).saturating_sub(b)))
        .collect();
    Phase { name, o, cpu_ns }
}

/// A metric's value in a Prometheus text exposition (summed over labels).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn start_gate(a: &BenchArgs, srv: &Running, cache: usize) -> Result<(Child, String)> {
    let vkey = srv.dir.join("log.vkey");
    if !vkey.exists() {
        bail!("--mode gate needs the log key at {}: run without --url", vkey.display());
    }
    let mut child = std::process::Command::new(provlog_bin(a))
        .arg("gate")
        .args(["--url", &srv.url, "--log-key"])
        .arg(&vkey)
        .args(["--max-age", "60s", "--listen", "127.0.0.1:0"])
        .args(["--header", "authorization", "--fingerprint", "bearer"])
        .args(["--cache-size", &cache.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .context("starting provlog gate")?;
    let out = child.stdout.take().context("gate stdout")?;
    let child = Child(child);
    let mut lines = std::io::BufReader::new(out).lines();
    let mut url = None;
    for line in lines.by_ref() {
        if let Ok(v) = serde_json::from_str::<Value>(&line?)
            && v["ready"] == "gate"
        {
            url = v["url"].as_str().map(str::to_owned);
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok((child, url.context("the gate did not start")?))
}

/// Waits until `url` answers 200.
async fn ready(url: &str, what: &str) -> Result<()> {
    let client = provlog::client::http_client(Duration::from_secs(5))?;
    let t = Instant::now();
    loop {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if t.elapsed() > Duration::from_mins(1) {
            bail!("{what} was not ready within a minute ({url})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// nginx with `/plain/` (`return 204`) and `/gated/` (`auth_request` to
/// the gate, then an empty 204), one worker, no access log.
fn start_nginx(dir: &Path, gate: &str) -> Result<(Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let d = dir.display();
    for sub in ["tmp", "logs"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let conf = format!(
        r#"worker_processes 1;
error_log {d}/logs/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;
    keepalive_requests 1000000;
    upstream provlog_gate {{ server {gate}; keepalive 64; keepalive_requests 1000000; }}
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location = /_provlog {{
            internal;
            proxy_pass http://provlog_gate/check;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }}
        location /plain/ {{ return 204; }}
        # `return` runs before the access phase, so the gated location
        # ends in try_files' `=204` (no such file), after auth_request.
        location /gated/ {{
            auth_request /_provlog;
            auth_request_set $provlog_owner $upstream_http_x_provlog_owner;
            add_header X-Provlog-Owner $provlog_owner;
            try_files /.none =204;
        }}
    }}
}}
"#
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let child = std::process::Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .args(["-g", "daemon off;"])
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .context("starting nginx (scripts/setup --test installs it)")?;
    Ok((Child(child), format!("127.0.0.1:{port}")))
}

/// Runs the gate phases; returns the JSON report.
///
/// # Errors
/// The gate or nginx not starting, a phase with unexpected statuses.
pub async fn run(a: &BenchArgs, srv: &Running, prefilled: (usize, usize), noop_http: Option<f64>) -> Result<Value> {
    // The prefill's event i rotated to the credential of token i + 1.
    let (first, logged) = prefilled;
    let n = a.gate_credentials.min(logged);
    if n == 0 {
        bail!("--mode gate needs credentials this run prefills (a fresh --data-dir and --prefill > 0)");
    }
    let tok = |k: usize| token(first + 1 + k);
    let (gate, gate_url) = start_gate(a, srv, n.max(1000) * 2)?;
    let gate_addr = gate_url.trim_start_matches("http://").to_owned();
    ready(&format!("{gate_url}/readyz"), "the gate").await?;
    let pid = gate.0.id();
    let procs = [("gate", pid, false)];
    // A miss is also the log's work: its answer.
    let with_log: Vec<(&'static str, u32, bool)> = procs
        .iter()
        .copied()
        .chain(srv.child.as_ref().map(|c| ("log", c.id(), false)))
        .collect();
    let rss_before = rss(pid);
    let metrics = provlog::client::http_client(Duration::from_secs(10))?;
    let scrape = || async { metrics.get(format!("{gate_url}/metrics")).send().await?.text().await };
    let forever = Duration::from_hours(1);
    let mut phases = Vec::new();

    let known: Vec<Req> = (0..n).map(|k| check_request("/check", &tok(k))).collect();
    eprintln!("gate: {n} distinct credentials, each a miss…");
    let miss = phase(
        "miss",
        &gate_addr,
        known.clone(),
        a.concurrency,
        forever,
        false,
        &with_log,
    )
    .await;
    if miss.o.statuses.keys().any(|s| *s != 204) {
        bail!("the miss phase was not all allowed: {:?}", miss.o.statuses);
    }
    let rss_after = rss(pid);
    phases.push(miss);

    let unknown: Vec<Req> = (0..5000)
        .map(|i| check_request("/check", &format!("bench-never-logged-{i}")))
        .collect();
    eprintln!("gate: 5000 tokens never logged…");
    let p = phase("unknown", &gate_addr, unknown, a.concurrency, forever, false, &with_log).await;
    if p.o.statuses.keys().any(|s| *s != 401) {
        bail!("the unknown phase was not all 401: {:?}", p.o.statuses);
    }
    phases.push(p);

    let duration = Duration::from_secs_f64(a.duration.max(0.5));
    let m0 = scrape().await?;
    eprintln!("gate: cached credentials for {:.1} s…", a.duration);
    let hit = phase("hit", &gate_addr, known.clone(), a.concurrency, duration, true, &procs).await;
    let m1 = scrape().await?;
    let hits = metric(&m1, "provlog_gate_cache_hits_total") - metric(&m0, "provlog_gate_cache_hits_total");
    let misses = metric(&m1, "provlog_gate_cache_misses_total") - metric(&m0, "provlog_gate_cache_misses_total");
    phases.push(hit);

    let mut nginx_keep = None;
    if a.via_nginx {
        let tmp = tempfile::Builder::new().prefix("provlog-bench-nginx-").tempdir()?;
        let (nginx, addr) = start_nginx(tmp.path(), &gate_addr)?;
        ready(&format!("http://{addr}/plain/"), "nginx").await?;
        let np = nginx.0.id();
        let both = [("nginx", np, true), ("gate", pid, false)];
        let plain = (1..=n.min(1000))
            .map(|i| check_request("/plain/x", &token(i)))
            .collect();
        eprintln!("nginx return 204 for {:.1} s…", a.duration);
        phases.push(phase("nginx-204", &addr, plain, a.concurrency, duration, true, &both).await);
        let gated = (0..n).map(|k| check_request("/gated/x", &tok(k))).collect();
        eprintln!("nginx auth_request to the gate for {:.1} s…", a.duration);
        phases.push(phase("nginx-gated", &addr, gated, a.concurrency, duration, true, &both).await);
        nginx_keep = Some((nginx, tmp));
    }

    drop(nginx_keep);
    for p in &phases {
        p.print()?;
    }
    let per_cred = (rss_after.saturating_sub(rss_before)) as f64 / n as f64;
    provlog::util::output::out(format_args!(
        "gate: cache hit ratio in the hit phase {:.4} ({hits} hits, {misses} misses); resident memory grew {per_cred:.0} bytes per cached credential ({n} cached)",
        if hits + misses > 0.0 {
            hits / (hits + misses)
        } else {
            0.0
        }
    ))?;
    if let Some(noop) = noop_http {
        provlog::util::output::out(format_args!(
            "ceiling: a no-op HTTP handler with the same client {noop:.0} req/s"
        ))?;
    }
    Ok(json!({
        "mode": "gate",
        "noop_http_req_per_s": noop_http,
        "concurrency": a.concurrency,
        "credentials": n,
        "phases": phases.iter().map(Phase::report).collect::<Vec<_>>(),
        "hit_ratio": if hits + misses > 0.0 { hits / (hits + misses) } else { 0.0 },
        "rss_bytes_per_cached_credential": per_cred,
    }))
}
