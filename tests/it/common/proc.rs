//! Processes and the machine: the `provlog` binary run to completion, a
//! guard that kills a child, resident memory, free ports, and where the
//! tests' tools are installed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The `provlog` binary Cargo built for these tests.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_provlog");

/// Runs `provlog ARGS…` to completion: exit code and stdout+stderr.
pub(crate) fn run(args: &[&str]) -> (i32, String) {
    run_env(args, &[])
}

/// Runs the binary with extra environment variables; exit code and
/// stdout+stderr.
pub(crate) fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let o = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// A child process killed (and reaped) when this is dropped, so that a
/// failing test leaves nothing running.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory of a process, in kB (Linux).
pub(crate) fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A port that was free a moment ago on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Where `scripts/garage` installs the tests' tools (`bin/garage`):
/// `$PROVLOG_TOOLS`, else `~/.cache/provlog/tools` (as in `scripts/env`).
pub(crate) fn tools_dir() -> PathBuf {
    std::env::var("PROVLOG_TOOLS").map_or_else(
        |_| Path::new(&std::env::var("HOME").unwrap_or_default()).join(".cache/provlog/tools"),
        PathBuf::from,
    )
}
