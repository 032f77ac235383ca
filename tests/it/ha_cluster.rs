//! High availability end to end (issue 21): three `provlog serve` nodes
//! with `[ha]` over a real three-member etcd cluster and a real three-node
//! Garage cluster, under concurrent load from clients that follow
//! `Provlog-Sequencer` and retry with the same `event_id`, as docs/HA.md
//! tells them to.
//!
//! Each cycle SIGKILLs the sequencer (a standby takes over; the killed
//! node is restarted and rejoins as a standby), then SIGSTOPs the new
//! sequencer for longer than its lease and resumes it (it must acknowledge
//! nothing and publish nothing, and come back as a standby). Then one etcd
//! member and one Garage node die and service goes on; then etcd loses its
//! quorum, sequencing stops (`503`, readiness fails everywhere) and
//! resumes when the quorum returns.
//!
//! At the end: every acknowledged entry is in the final tree with the
//! bytes its receipt gave; no event is in it twice; every checkpoint any
//! client, poller or the object store saw verifies and is a prefix of the
//! final tree; `provlog audit` passes; the nodes agree.
//!
//! `PROVLOG_HA_CYCLES` (default 2) and `PROVLOG_HA_LEASE_S` (default 2)
//! make it the soak of BENCHMARKS.md ("High availability"); it prints the
//! takeover times and rates it measured.

use crate::common::{
    self, BIN, EtcdCluster, GarageCluster, free_port, plain_event, put_log_key, start_ready, submission,
};
use provlog_tlog::checkpoint::open_checkpoint;
use provlog_tlog::keys::{SignerKey, VerifierKey};
use provlog_tlog::merkle::{MemoryTree, leaf_hash};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ORIGIN: &str = "ha.test/log";
const NODES: usize = 3;
const WORKERS: usize = 12;

/// One provlog node of the cluster.
struct Node {
    child: Option<Child>,
    dir: PathBuf,
    config: PathBuf,
    port: u16,
    url: String,
    env: Vec<(String, String)>,
}

impl Node {
    fn start(&mut self) {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.dir)
            .env("PROVLOG_STATE_COMMIT_INTERVAL_MS", "3600000")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let (child, _) = start_ready(cmd, &self.dir, "log");
        self.child = Some(child);
    }

    fn pid(&self) -> String {
        self.child.as_ref().expect("running").id().to_string()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill").args([sig, &self.pid()]).status().expect("kill");
        assert!(st.success(), "kill {sig}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A node left stopped would not die of SIGKILL's reaping otherwise.
            let _ = Command::new("kill").args(["-CONT", &self.pid()]).status();
        }
        self.kill();
    }
}

/// An acknowledged submission, as its client saw it.
#[derive(Debug, Clone)]
struct Ack {
    event_id: String,
    index: u64,
    entry: Vec<u8>,
    at: Instant,
}

/// What the clients and pollers saw.
#[derive(Default)]
struct Seen {
    acks: Vec<Ack>,
    checkpoints: Vec<String>,
    /// `503` answers by code.
    unavailable: HashMap<String, u64>,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(1))
        .build()
        .expect("client")
}

/// One client: submits new events one at a time, each until it is
/// acknowledged (same body, so the same `event_id`), following the
/// sequencer named by a standby, moving on to another node when one does
/// not answer.
async fn worker(w: usize, urls: Arc<Vec<String>>, key: SignerKey, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>) {
    let c = client();
    let mut target = w % urls.len();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let id = format!("ha-{w}-{i}");
        let body = serde_json::to_vec(&submission(&key, &plain_event(&id, &format!("svc-{w}-{i}")))).expect("json");
        while !stop.load(Ordering::Relaxed) {
            let r = c
                .post(format!("{}/v1/entries", urls[target]))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            let Ok(r) = r else {
                target = (target + 1) % urls.len();
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let status = r.status().as_u16();
            let leader = r
                .headers()
                .get("provlog-sequencer")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let Ok(bytes) = r.bytes().await else { continue };
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            match status {
                200 | 201 => {
                    let entry = provlog_tlog::b64::decode(v["entry"].as_str().expect("entry")).expect("b64");
                    let mut s = seen.lock().expect("seen");
                    s.acks.push(Ack {
                        event_id: id.clone(),
                        index: v["index"].as_u64().expect("index"),
                        entry,
                        at: Instant::now(),
                    });
                    s.checkpoints
                        .push(v["checkpoint"].as_str().expect("checkpoint").to_owned());
                    break;
                }
                503 => {
                    let code = v["error"]["code"].as_str().unwrap_or("?").to_owned();
                    *seen.lock().expect("seen").unavailable.entry(code).or_default() += 1;
                    match leader.and_then(|l| urls.iter().position(|u| *u == l)) {
                        Some(n) if n != target => target = n,
                        _ => {
                            target = (target + 1) % urls.len();
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                // A 408/504 from a slow node: retried like a lost answer.
                408 | 504 => {}
                _ => panic!("submission {id} to {}: {status} {v}", urls[target]),
            }
        }
        i += 1;
    }
}

/// Reads every node's `/checkpoint` and the object store's, again and
/// again, keeping what it saw.
async fn poller(urls: Arc<Vec<String>>, web: String, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>) {
    let c = client();
    while !stop.load(Ordering::Relaxed) {
        for u in urls.iter().chain(std::iter::once(&web)) {
            if let Ok(r) = c.get(format!("{u}/checkpoint")).send().await
                && r.status() == 200
                && let Ok(t) = r.text().await
            {
                seen.lock().expect("seen").checkpoints.push(t);
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// A node's role as its metrics say: 1 standby, 2 sequencer.
async fn role(c: &reqwest::Client, url: &str) -> Option<u8> {
    let text = c.get(format!("{url}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("provlog_ha_role "))
        .and_then(|v| v.trim().parse().ok())
}

/// The node that is ready to take writes (the sequencer), once exactly one is.
async fn wait_sequencer(c: &reqwest::Client, nodes: &[Node], skip: Option<usize>, patience: Duration) -> usize {
    let until = Instant::now() + patience;
    loop {
        let mut ready = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            if Some(i) == skip || n.child.is_none() {
                continue;
            }
            if let Ok(r) = c.get(format!("{}/readyz", n.url)).send().await
                && r.status() == 200
            {
                ready.push(i);
            }
        }
        if let [one] = ready[..] {
            return one;
        }
        assert!(
            Instant::now() < until,
            "no single sequencer within {patience:?}: ready {ready:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn acks(seen: &Mutex<Seen>) -> usize {
    seen.lock().expect("seen").acks.len()
}

/// Waits until `n` more acknowledgements than `from` came (at most `patience`).
async fn wait_acks(seen: &Mutex<Seen>, from: usize, n: usize, patience: Duration, what: &str) {
    let until = Instant::now() + patience;
    while acks(seen) < from + n {
        assert!(
            Instant::now() < until,
            "{what}: fewer than {n} acknowledgements in {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first acknowledgement after `t`, as time since `t`.
fn first_ack_after(seen: &Mutex<Seen>, t: Instant) -> Option<Duration> {
    seen.lock()
        .expect("seen")
        .acks
        .iter()
        .filter(|a| a.at > t)
        .map(|a| a.at - t)
        .min()
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn write_config(dir: &Path, i: usize, port: u16, s3: u16, etcd: &[String], lease: u64, submitters: &str) -> PathBuf {
    let etcd = etcd.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(", ");
    let path = dir.join(format!("node{i}.toml"));
    std::fs::write(
        &path,
        format!(
            "origin = {ORIGIN:?}\n{submitters}\n[publish]\nurl = \"s3://localhost/logs/ha\"\nendpoint = \"http://127.0.0.1:{s3}\"\n\
             region = \"garage\"\n\n[ha]\netcd = [{etcd}]\nnode_id = \"n{i}\"\nadvertise_url = \"http://127.0.0.1:{port}\"\n\
             lease_ttl_s = {lease}\nrequest_timeout_ms = {}\n",
            (lease * 1000 / 3).min(2000)
        ),
    )
    .expect("config");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_or_pausing_the_sequencer_under_load_loses_nothing_and_forks_nothing() {
    let cycles: usize = env_or("PROVLOG_HA_CYCLES", 2);
    let lease: u64 = env_or("PROVLOG_HA_LEASE_S", 2);
    let bench_s: f64 = env_or("PROVLOG_HA_BENCH_S", 0.0);
    let dir = tempfile::tempdir().expect("tmp");
    let mut etcd = EtcdCluster::start(&dir.path().join("etcd"));
    let mut garage = GarageCluster::start(&dir.path().join("garage"));
    let (key_id, secret) = garage.bucket_and_key();
    let env: Vec<(String, String)> = [
        (
            "RUST_LOG",
            if bench_s > 0.0 {
                "warn,provlog::ha=info,provlog::ha::fence=debug"
            } else {
                "warn,provlog::ha=info"
            },
        ),
        ("AWS_ACCESS_KEY_ID", key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_REGION", "garage"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let log_key = SignerKey::from_seed(ORIGIN, provlog_tlog::keys::ALG_ED25519, [21; 32]).expect("key");
    let vkey: VerifierKey = log_key.verifier();
    let dev = SignerKey::from_seed("dev", provlog_tlog::keys::ALG_ED25519, [22; 32]).expect("key");
    let submitters = format!(
        "[[submitters]]\nid = \"dev\"\nkey = {:?}\nactions = [\"*\"]\ntargets = [\"*\"]\n",
        dev.verifier().to_vkey_string()
    );
    let mut nodes: Vec<Node> = (0..NODES)
        .map(|i| {
            let port = free_port();
            let node_dir = dir.path().join(format!("node{i}"));
            put_log_key(&node_dir, format!("{}\n", log_key.to_skey_string()).as_bytes());
            Node {
                child: None,
                // Every node writes to the Garage node 0 endpoint; node 2 dies below.
                config: write_config(
                    dir.path(),
                    i,
                    port,
                    garage.nodes[0].s3,
                    &etcd.endpoints(),
                    lease,
                    &submitters,
                ),
                dir: node_dir,
                port,
                url: format!("http://127.0.0.1:{port}"),
                env: env.clone(),
            }
        })
        .collect();
    for n in &mut nodes {
        n.start();
    }
    let c = client();
    let mut seq = wait_sequencer(&c, &nodes, None, Duration::from_secs(30)).await;
    for (i, n) in nodes.iter().enumerate() {
        let want = if i == seq { 2 } else { 1 };
        assert_eq!(role(&c, &n.url).await, Some(want), "node {i}'s role");
    }
    // A standby refuses writes and names the sequencer.
    let standby = (seq + 1) % NODES;
    let r = c
        .post(format!("{}/v1/entries", nodes[standby].url))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&submission(&dev, &plain_event("probe", "svc-probe"))).expect("json"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["provlog-sequencer"], nodes[seq].url.as_str());
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "not_sequencer", "{v}");
    assert_eq!(v["error"]["sequencer"], nodes[seq].url.as_str(), "{v}");

    if bench_s > 0.0 {
        bench(dir.path(), &nodes, seq, &dev, bench_s, garage.nodes[0].s3, &env).await;
    }

    let urls = Arc::new(nodes.iter().map(|n| n.url.clone()).collect::<Vec<_>>());
    let web = format!("http://localhost:{}/logs/ha", garage.nodes[1].web);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        tasks.push(tokio::spawn(worker(
            w,
            Arc::clone(&urls),
            dev.clone(),
            Arc::clone(&seen),
            Arc::clone(&stop),
        )));
    }
    let poll = tokio::spawn(poller(
        Arc::clone(&urls),
        web.clone(),
        Arc::clone(&seen),
        Arc::clone(&stop),
    ));
    let started = Instant::now();
    wait_acks(&seen, 0, 200, Duration::from_secs(30), "the first load").await;

    let mut takeovers = Vec::new();
    let mut resumes = Vec::new();
    let patience = Duration::from_secs(lease * 6 + 20);
    for cycle in 0..cycles {
        // SIGKILL the sequencer under load.
        let before = acks(&seen);
        let killed_at = Instant::now();
        nodes[seq].kill();
        let next = wait_sequencer(&c, &nodes, Some(seq), patience).await;
        wait_acks(&seen, before, 50, patience, "after the sequencer was killed").await;
        let took = first_ack_after(&seen, killed_at + Duration::from_millis(300)).expect("an ack after the kill");
        takeovers.push(took);
        eprintln!("cycle {cycle}: SIGKILL of node {seq}: node {next} sequencing; first new ack after {took:?}");
        nodes[seq].start();
        seq = next;

        // SIGSTOP the sequencer for longer than its lease, then resume it.
        let paused = seq;
        let before = acks(&seen);
        nodes[paused].signal("-STOP");
        let stopped_at = Instant::now();
        let next = wait_sequencer(&c, &nodes, Some(paused), patience).await;
        wait_acks(&seen, before, 50, patience, "after the sequencer was paused").await;
        tokio::time::sleep(Duration::from_secs(lease * 2).saturating_sub(stopped_at.elapsed())).await;
        nodes[paused].signal("-CONT");
        resumes.push(first_ack_after(&seen, stopped_at + Duration::from_millis(300)).expect("an ack"));
        // It comes back as a standby; the new sequencer goes on.
        let until = Instant::now() + patience;
        while role(&c, &nodes[paused].url).await != Some(1) {
            assert!(Instant::now() < until, "the resumed node did not rejoin as a standby");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(wait_sequencer(&c, &nodes, None, patience).await, next, "one sequencer");
        eprintln!("cycle {cycle}: SIGSTOP of node {paused}: node {next} sequencing; it rejoined as a standby");
        seq = next;
    }

    // One etcd member and one Garage node die: service goes on.
    etcd.kill(2);
    garage.kill(2);
    let before = acks(&seen);
    wait_acks(
        &seen,
        before,
        200,
        patience,
        "with one etcd member and one Garage node down",
    )
    .await;

    // etcd loses its quorum: sequencing stops everywhere, nothing is lost.
    etcd.kill(1);
    tokio::time::sleep(Duration::from_secs(lease) + Duration::from_secs(2)).await;
    let stalled = acks(&seen);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(acks(&seen), stalled, "acknowledged without an etcd quorum");
    for n in &nodes {
        // A node restarting in its new role may not answer at all.
        if let Ok(r) = c.get(format!("{}/readyz", n.url)).send().await {
            assert_eq!(r.status(), 503, "{} ready without an etcd quorum", n.url);
        }
    }
    etcd.restart(1);
    etcd.restart(2);
    etcd.wait_healthy();
    wait_acks(&seen, stalled, 100, patience, "after the quorum returned").await;
    seq = wait_sequencer(&c, &nodes, None, patience).await;

    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("worker");
    }
    poll.await.expect("poller");
    let elapsed = started.elapsed();

    // Every node converges on one tree.
    let final_size = {
        let (st, v) = common::get_json(&c, &nodes[seq].url, "/v1/log").await;
        assert_eq!(st, 200);
        v["tree_size"].as_u64().expect("size")
    };
    for n in &nodes {
        common::wait_log(&c, &n.url, "the nodes converge", |v| {
            v["tree_size"].as_u64() == Some(final_size)
        })
        .await;
    }

    // The final tree, from the object store (what readers trust).
    let source = provlog::client::Source::http(&web).expect("source");
    let mut entries: Vec<Vec<u8>> = Vec::new();
    for b in provlog_tlog::tile::new_bundles(0, final_size) {
        let body = source.tile(&b).await.expect("bundle");
        for e in provlog_tlog::tile::decode_bundle(&body, usize::from(b.width)).expect("decode") {
            entries.push(e.to_vec());
        }
    }
    let entries = &entries[..usize::try_from(final_size).expect("size")];
    let mut tree = MemoryTree::new();
    for e in entries {
        tree.push(leaf_hash(e));
    }
    let seen = seen.lock().expect("seen");
    // Every acknowledged entry, with the bytes its client was given.
    for a in &seen.acks {
        let at = usize::try_from(a.index).expect("index");
        assert!(
            at < entries.len(),
            "acknowledged {} at {} beyond the final tree",
            a.event_id,
            a.index
        );
        assert_eq!(
            entries[at], a.entry,
            "entry {} is not what {} was acknowledged with",
            a.index, a.event_id
        );
    }
    // No event twice.
    let mut counts: HashMap<String, u32> = HashMap::new();
    for e in entries {
        let text = String::from_utf8_lossy(e);
        if let Some(rest) = text.split("\"event_id\":\"").nth(1)
            && let Some(id) = rest.split('"').next()
        {
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "events logged twice: {twice:?}");
    for a in &seen.acks {
        assert_eq!(counts.get(&a.event_id), Some(&1), "{} not in the tree once", a.event_id);
    }
    // No fork: every checkpoint anyone saw is a prefix of the final tree.
    let mut sizes = std::collections::BTreeSet::new();
    for note in &seen.checkpoints {
        let (cp, _) = open_checkpoint(note.as_bytes(), &vkey).expect("a checkpoint seen verifies");
        assert!(
            cp.size <= final_size,
            "a checkpoint of size {} beyond the final {final_size}",
            cp.size
        );
        assert_eq!(
            tree.root_at(cp.size).expect("root"),
            cp.root,
            "a fork at size {}",
            cp.size
        );
        sizes.insert(cp.size);
    }
    let (ok, out) = {
        let o = Command::new(BIN)
            .args(["audit", "--url", &nodes[seq].url, "--log-key", &vkey.to_vkey_string()])
            .output()
            .expect("audit");
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    assert!(ok, "{out}");
    assert!(
        seen.unavailable.contains_key("not_sequencer"),
        "the clients never met a standby: {:?}",
        seen.unavailable
    );
    eprintln!(
        "HA soak: {} cycles, lease {lease} s, {} acknowledged in {elapsed:?} ({:.0}/s across faults), \
         {} checkpoints seen ({} sizes), final tree {final_size}; takeover after SIGKILL {takeovers:?}; \
         first ack after SIGSTOP {resumes:?}; 503s {:?}",
        cycles,
        seen.acks.len(),
        seen.acks.len() as f64 / elapsed.as_secs_f64(),
        seen.checkpoints.len(),
        sizes.len(),
        seen.unavailable
    );
}

/// The figures of BENCHMARKS.md "High availability" (with
/// `PROVLOG_HA_BENCH_S`): `provlog-loadgen` against the sequencer while the
/// standbys' follow lag is sampled, then the same load against a single
/// node with `ack_after_publish` on the same Garage cluster.
async fn bench(
    dir: &Path,
    nodes: &[Node],
    seq: usize,
    dev: &SignerKey,
    seconds: f64,
    s3: u16,
    env: &[(String, String)],
) {
    let key = dir.join("bench-dev.skey");
    common::write_key(&key, dev);
    let loadgen = Path::new(BIN).with_file_name("provlog-loadgen");
    let stop = Arc::new(AtomicBool::new(false));
    let standbys: Vec<String> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != seq)
        .map(|(_, n)| n.url.clone())
        .collect();
    let sampler = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let c = client();
            let mut lags = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for u in &standbys {
                    if let Ok(r) = c.get(format!("{u}/metrics")).send().await
                        && let Ok(t) = r.text().await
                        && let Some(v) = t.lines().find_map(|l| l.strip_prefix("provlog_ha_follow_lag_entries "))
                        && let Ok(v) = v.trim().parse::<u64>()
                    {
                        lags.push(v);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            lags
        })
    };
    let secs = format!("{seconds}");
    let conc = std::env::var("PROVLOG_HA_BENCH_CONCURRENCY").unwrap_or_else(|_| "256".into());
    let run = |args: Vec<String>| {
        let loadgen = loadgen.clone();
        let env = env.to_vec();
        async move {
            tokio::task::spawn_blocking(move || {
                let o = Command::new(&loadgen)
                    .args(&args)
                    .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .env("PROVLOG_BIN", BIN)
                    .output()
                    .expect("provlog-loadgen");
                assert!(o.status.success(), "loadgen: {}", String::from_utf8_lossy(&o.stderr));
                String::from_utf8_lossy(&o.stdout).into_owned()
            })
            .await
            .expect("loadgen")
        }
    };
    let ha = run(vec![
        "--mode".into(),
        "single".into(),
        "--concurrency".into(),
        conc.clone(),
        "--duration".into(),
        secs.clone(),
        "--no-probes".into(),
        "--url".into(),
        nodes[seq].url.clone(),
        "--key".into(),
        key.display().to_string(),
    ])
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut lags = sampler.await.expect("sampler");
    lags.sort_unstable();
    let pick = |pct: usize| lags.get(lags.len().saturating_sub(1) * pct / 100).copied().unwrap_or(0);
    eprintln!(
        "HA bench: with [ha] (3 nodes, etcd x3, Garage x3): {ha}; standby follow lag over {} samples: p50 {} p99 {} max {} entries",
        lags.len(),
        pick(50),
        pick(99),
        pick(100)
    );
    // PROVLOG_HA_BENCH_AAP=0 skips the comparison run.
    if std::env::var("PROVLOG_HA_BENCH_AAP").is_ok_and(|v| v == "0") {
        return fenced_batches(nodes, seq);
    }
    let aap = run(vec![
        "--mode".into(),
        "single".into(),
        "--concurrency".into(),
        conc.clone(),
        "--duration".into(),
        secs,
        "--no-probes".into(),
        "--data-dir".into(),
        dir.join("bench-aap").display().to_string(),
        "--server-arg=--publish-url".into(),
        "--server-arg=s3://localhost/logs/bench-aap".into(),
        "--server-arg=--publish-endpoint".into(),
        format!("--server-arg=http://127.0.0.1:{s3}"),
        "--server-arg=--ack-after-publish".into(),
    ])
    .await;
    eprintln!("HA bench: one node with ack_after_publish on the same Garage: {aap}");
    fenced_batches(nodes, seq);
}

/// Where a fenced batch's time went, from the sequencer's debug lines.
fn fenced_batches(nodes: &[Node], seq: usize) {
    let log = std::fs::read_to_string(nodes[seq].dir.join("stderr.log")).unwrap_or_default();
    let field = |line: &str, name: &str| -> Option<u64> {
        let at = line.find(&format!("{name}="))? + name.len() + 1;
        line[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    let rows: Vec<[u64; 4]> = log
        .lines()
        .filter(|l| l.contains("batch uploaded and fenced"))
        .filter_map(|l| {
            Some([
                field(l, "entries")?,
                field(l, "upload_ms")?,
                field(l, "waited_ms")?,
                field(l, "fence_ms")?,
            ])
        })
        .collect();
    if !rows.is_empty() {
        let n = rows.len() as u64;
        let mean = |i: usize| rows.iter().map(|r| r[i]).sum::<u64>() / n;
        eprintln!(
            "HA bench: {n} fenced batches: mean {} entries, upload {} ms (the committer waited {} ms of it), fence {} ms",
            mean(0),
            mean(1),
            mean(2),
            mean(3)
        );
    }
}
