//! The docs cannot rot: every ```` ```sh ```` block of README.md runs, in
//! order, in one `bash` (`set -euo pipefail`) in an empty directory with the
//! built `provlog` first on the `PATH`, each `127.0.0.1:PORT` moved to a free
//! port. Blocks marked `sh skip-test` (building, installing, Docker, root)
//! are checked to hold only such commands. Other markdown files may only
//! have `skip-test` blocks of that kind.

use crate::common;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One fenced code block.
struct Block {
    file: &'static str,
    line: usize,
    info: String,
    body: String,
}

fn blocks(file: &'static str, text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(rest) = trimmed.strip_prefix("```") {
            match open.take() {
                None => open = Some((i + 1, rest.trim().to_owned(), indent, String::new())),
                Some((line, info, _, body)) => out.push(Block { file, line, info, body }),
            }
            continue;
        }
        if let Some((_, _, ind, body)) = open.as_mut() {
            body.push_str(line.get(*ind..).unwrap_or_else(|| line.trim_start()));
            body.push('\n');
        }
    }
    assert!(open.is_none(), "{file}: unclosed code block");
    out
}

/// The commands of a block: continuation lines joined, comments dropped.
fn commands(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in body.lines() {
        let l = line.trim();
        if cur.is_empty() && (l.is_empty() || l.starts_with('#')) {
            continue;
        }
        if let Some(head) = l.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(l);
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// What a `skip-test` block may hold: building, installing, root, Docker,
/// runs that take minutes (the benchmarks, and the fuzzers, which
/// `scripts/test` runs itself), and rewriting the committed fuzz seeds.
const SKIPPABLE: &[&str] = &[
    "./scripts/",
    "scripts/",
    "cargo ",
    "CARGO_TARGET_DIR=",
    "docker ",
    "sudo ",
    "provlog-loadgen ",
    "fuzz/target/",
    "mkdir ",
    "python3 fuzz/gen_seeds.py ",
];

fn check_skipped(b: &Block) {
    for c in commands(&b.body) {
        assert!(
            SKIPPABLE.iter().any(|p| c.starts_with(p)),
            "{}:{}: `{c}` is in a skip-test block but is not a build/install/root/Docker/long-run command: \
             make the block runnable",
            b.file,
            b.line
        );
    }
}

/// Moves every `127.0.0.1:PORT` and `localhost:PORT` to a free port (the
/// same one for the same number); returns the new text and the mapping.
fn remap_ports(script: &str) -> (String, Vec<(String, u16)>) {
    const HOSTS: [&str; 2] = ["127.0.0.1:", "localhost:"];
    let mut map: Vec<(String, u16)> = Vec::new();
    for needle in HOSTS {
        let mut rest = script;
        while let Some(i) = rest.find(needle) {
            let after = &rest[i + needle.len()..];
            let port: String = after.chars().take_while(char::is_ascii_digit).collect();
            if !port.is_empty() && !map.iter().any(|(p, _)| *p == port) {
                let taken: Vec<u16> = map.iter().map(|(_, p)| *p).collect();
                map.push((port.clone(), quiet_port(&taken)));
            }
            rest = after;
        }
    }
    let mut out = script.to_owned();
    for needle in HOSTS {
        for (old, new) in &map {
            out = out.replace(&format!("{needle}{old}"), &format!("{needle}{new}"));
        }
    }
    (out, map)
}

/// A free loopback port below the kernel's ephemeral range. The README's
/// services bind theirs seconds after the script starts; a port from
/// `bind(:0)` sits in the range the kernel hands to the outgoing
/// connections of every test running beside this one, and one of those
/// took a port before Garage bound it (a failed `curl` at README.md:984).
fn quiet_port(taken: &[u16]) -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()))
        .unwrap_or(32768);
    let first = 10_000u32;
    let span = low.saturating_sub(first).max(1);
    // Start where another run of this test (another process) would not.
    let start = std::process::id().wrapping_mul(7919) % span;
    for k in 0..span {
        let Ok(port) = u16::try_from(first + (start + k) % span) else {
            continue;
        };
        if !taken.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    common::free_port()
}

fn tail(path: &Path, lines: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn other_docs_hold_only_skippable_blocks() {
    for (file, text) in [
        ("BENCHMARKS.md", include_str!("../../BENCHMARKS.md")),
        ("docs/DECISIONS.md", include_str!("../../docs/DECISIONS.md")),
        ("docs/THREAT_MODEL.md", include_str!("../../docs/THREAT_MODEL.md")),
        ("fuzz/README.md", include_str!("../../fuzz/README.md")),
    ] {
        for b in blocks(file, text) {
            if b.info.starts_with("sh") {
                assert!(
                    b.info.contains("skip-test"),
                    "{file}:{}: a runnable sh block outside README.md; move it to README.md or mark it skip-test",
                    b.line
                );
                check_skipped(&b);
            }
        }
    }
}

#[test]
fn every_command_in_the_readme_runs() {
    let all = blocks("README.md", include_str!("../../README.md"));
    let mut script = String::from(
        "set -euo pipefail\n\
         trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT\n",
    );
    let mut runnable = 0;
    for b in &all {
        if !b.info.starts_with("sh") {
            continue;
        }
        if b.info.contains("skip-test") {
            check_skipped(b);
            continue;
        }
        assert_eq!(b.info, "sh", "README.md:{}: unknown block marker {:?}", b.line, b.info);
        writeln!(script, "echo '### README.md:{}'", b.line).expect("write to a String");
        script.push_str(&b.body);
        runnable += 1;
    }
    assert!(runnable >= 20, "only {runnable} runnable blocks");
    script.push_str("echo '### done'\n");
    let (script, ports) = remap_ports(&script);
    let main_port = ports
        .iter()
        .find(|(p, _)| p == "8080")
        .map(|(_, n)| *n)
        .expect("the README uses the default port");

    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let bin_dir = Path::new(common::BIN).parent().expect("bin dir");
    // Garage (for the object-storage section) is installed by scripts/garage.
    let tools = common::tools_dir();
    let path = format!(
        "{}:{}:{}",
        bin_dir.display(),
        tools.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = dir.path().join("docs.out");
    let err = dir.path().join("docs.err");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", &home)
        .env("PROVLOG_LISTEN", format!("127.0.0.1:{main_port}"))
        .env("PROVLOG_URL", format!("http://127.0.0.1:{main_port}"))
        .env_remove("RUST_LOG")
        .env_remove("PROVLOG_CONFIG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("out"))
        .stderr(std::fs::File::create(&err).expect("err"))
        .spawn()
        .expect("bash");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > Duration::from_mins(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the README commands did not finish in 5 minutes\nstdout:\n{}\nstderr:\n{}",
                tail(&out, 40),
                tail(&err, 40)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdout = String::new();
    std::fs::File::open(&out)
        .expect("out")
        .read_to_string(&mut stdout)
        .expect("read");
    let where_ = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("### "))
        .unwrap_or("### (before the first block)")
        .to_owned();
    assert!(
        status.success() && stdout.contains("### done"),
        "the README failed in the block at {}\nstdout (tail):\n{}\nstderr (tail):\n{}\nserver log (tail):\n{}",
        where_.trim_start_matches("### "),
        tail(&out, 40),
        tail(&err, 40),
        tail(&dir.path().join("provlog.log"), 20)
    );

    // What the README says the commands show.
    for expected in [
        "OK: entry 2 (event \"issue-2026-11-25-0001\"",
        "provlog_tree_size 4\n",
        "rotate-receipt.json:\"index\":",
        "\"status\":\"ready\"",
        "x-request-id: change-1042",
        "\"frozen\":true",
        "foo: 204 active",
        "test: 403 superseded",
        "provlog_ha_role 2\n",
        "provlog_ha_takeovers_total 1\n",
    ] {
        assert!(stdout.contains(expected), "README output lacks {expected:?}:\n{stdout}");
    }
    // The retry got the same index as the original.
    let idx: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("receipt.json:\"index\":"))
        .filter_map(|l| l.split(':').next_back())
        .collect();
    assert_eq!(idx.len(), 2, "{stdout}");
    assert_eq!(idx[0], idx[1], "a retry gets the original index");
}
