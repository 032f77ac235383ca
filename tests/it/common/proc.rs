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
    exit_and_output(Command::new(BIN).args(args).envs(env.iter().copied()))
}

/// Runs the binary with its address space capped at `limit_mib` (`ulimit
/// -v`): an allocation beyond it aborts the process instead of succeeding.
/// glibc's malloc is held to two arenas: each arena reserves 64 MiB of
/// address space, and how many a run creates depends on which threads
/// happen to contend, so without the limit the cap was met by
/// reservations nothing uses (seen once in CI: `RocksDB`'s cache could not
/// map its table), not by what the command allocates.
pub(crate) fn run_capped(limit_mib: u64, args: &[&str]) -> (i32, String) {
    exit_and_output(
        Command::new("sh")
            .env("MALLOC_ARENA_MAX", "2")
            .arg("-c")
            .arg(format!("ulimit -v {}; exec \"$0\" \"$@\"", limit_mib * 1024))
            .arg(BIN)
            .args(args),
    )
}

/// Runs `provlog ARGS…` to completion, sampling its peak resident memory
/// (`VmHWM`) every 10 ms while it runs: exit code, stdout+stderr, and the
/// last peak seen in kB (the peak only grows, so this is the peak up to
/// the last 10 ms of the run).
pub(crate) fn run_peak(args: &[&str]) -> (i32, String, u64) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let mut peak = 0;
    let status = loop {
        peak = peak.max(status_kb(pid, "VmHWM:").unwrap_or(0));
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.join().expect("stdout")),
        String::from_utf8_lossy(&err.join().expect("stderr"))
    );
    (status.code().unwrap_or(-1), text, peak)
}

/// Runs `cmd`; its exit code and stdout+stderr.
fn exit_and_output(cmd: &mut Command) -> (i32, String) {
    let o = cmd.output().expect("run");
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

/// Resident memory of a process, in kB (Linux; 0 if it is gone).
pub(crate) fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:").unwrap_or(0)
}

/// Peak resident memory of a process since it started or since its peak
/// was reset (`echo 5 > /proc/PID/clear_refs`), in kB.
pub(crate) fn peak_rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:").expect("VmHWM")
}

/// A `kB` field of `/proc/PID/status`.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
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
