//! Services of the `provlog` binary started for a test: `provlog serve` as
//! a [`Server`], and any service through [`spawn_ready`]/[`start_ready`].
//!
//! A service is ready when it prints its ready line on stdout, after the
//! human banner: one JSON object, `{"ready":"log","url":"http://…"}` for
//! `serve` (`"witness"` for `provlog witness`, `"monitor"` for `provlog
//! monitor --listen`). The tests wait for that line and take the URL from
//! it, not from the banner, which is for people and may change.

use super::BIN;
use provlog_tlog::keys::{SignerKey, VerifierKey};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The URL of `line` if it is the ready line of `service`.
fn ready_url(line: &str, service: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    if v.get("ready")?.as_str()? != service {
        return None;
    }
    Some(v.get("url")?.as_str()?.to_owned())
}

/// Spawns `cmd` with stdout piped and stderr appended to
/// `dir/stderr.log` (`dir` is created).
fn spawn_logged(cmd: &mut Command, dir: &Path) -> Child {
    std::fs::create_dir_all(dir).expect("dir");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stderr.log"))
        .expect("log file");
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn provlog")
}

/// What the service wrote to `dir/stderr.log`.
fn stderr_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
}

/// Reads `child`'s stdout until the ready line of `service`: its URL and
/// the lines before it (the banner); `None` if stdout ends, or is silent
/// for `patience`, first. Once ready, stdout goes on being drained on a
/// thread for the child's whole life, so that it never writes into a
/// closed or full pipe.
fn await_ready(child: &mut Child, service: &str, patience: Duration) -> Option<(String, Vec<String>)> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    while let Ok(line) = rx.recv_timeout(patience) {
        if let Some(url) = ready_url(&line, service) {
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return Some((url, banner));
        }
        banner.push(line);
    }
    None
}

/// Starts `cmd`, a `provlog` service, with stderr appended to
/// `dir/stderr.log`, and waits for its ready line as `service` (`log`,
/// `witness`, `monitor`): returns the child and the URL it serves on.
/// Panics with the service's stderr if it exits, or is silent for 60 s,
/// first.
pub(crate) fn start_ready(mut cmd: Command, dir: &Path, service: &str) -> (Child, String) {
    let mut child = spawn_logged(&mut cmd, dir);
    if let Some((url, _)) = await_ready(&mut child, service, Duration::from_mins(1)) {
        return (child, url);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{cmd:?} did not print its {service:?} ready line: {}", stderr_log(dir));
}

/// Starts `provlog ARGS…` (with `RUST_LOG=warn`), stderr in
/// `dir/stderr.log`, and waits for its ready line as `service`; returns
/// the child and its URL.
pub(crate) fn spawn_ready(dir: &Path, args: &[&str], service: &str) -> (Child, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("RUST_LOG", "warn");
    start_ready(cmd, dir, service)
}

/// A running `provlog serve`.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) vkey: VerifierKey,
}

impl Server {
    /// Starts the binary on `data_dir` with extra args; waits until it is
    /// ready.
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::try_start(data_dir, extra).unwrap_or_else(|e| panic!("server did not start: {e}"))
    }

    /// Like `start`, but returns the server's stderr if it exits instead.
    pub(crate) fn try_start(data_dir: &Path, extra: &[&str]) -> Result<Self, String> {
        Self::try_start_env(data_dir, extra, &[("RUST_LOG", "warn")])
    }

    /// Like `try_start`, with these environment variables set.
    pub(crate) fn try_start_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            // No idle state commitments during a test unless it asks for
            // them: tree sizes stay what the test's submissions make them.
            .env("PROVLOG_STATE_COMMIT_INTERVAL_MS", "3600000")
            .envs(env.iter().copied());
        let mut child = spawn_logged(&mut cmd, data_dir);
        let ready = await_ready(&mut child, "log", Duration::from_mins(2));
        // The ready line has the URL only; the log's key is in the banner.
        let vkey = ready.as_ref().and_then(|(_, banner)| {
            banner
                .iter()
                .find_map(|l| l.strip_prefix("log vkey: "))
                .map(|k| VerifierKey::parse(k).expect("vkey"))
        });
        if let (Some((url, _)), Some(vkey)) = (ready, vkey) {
            Ok(Self {
                child,
                url,
                data_dir: data_dir.to_owned(),
                vkey,
            })
        } else {
            let _ = child.kill();
            let _ = child.wait();
            Err(stderr_log(data_dir))
        }
    }

    /// The dev submitter key the embedded default created.
    pub(crate) fn dev_key(&self) -> SignerKey {
        let text = std::fs::read_to_string(self.data_dir.join("dev.skey")).expect("dev.skey");
        SignerKey::parse(text.trim()).expect("dev key")
    }

    /// Runs `provlog audit` against this log with its key: whether it found
    /// nothing, and its stdout and stderr.
    pub(crate) fn audit(&self) -> (bool, String) {
        let o = Command::new(BIN)
            .args(["audit", "--url", &self.url, "--log-key", &self.vkey.to_vkey_string()])
            .output()
            .expect("audit");
        let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&o.stderr));
        (o.status.success(), text)
    }

    /// The log's tree size (`GET /v1/log`).
    pub(crate) async fn tree_size(&self) -> u64 {
        let (st, log) = super::get_json(&super::client(), &self.url, "/v1/log").await;
        assert_eq!(st, 200, "{log}");
        log["tree_size"].as_u64().expect("tree_size")
    }

    /// SIGKILL.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub(crate) fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
