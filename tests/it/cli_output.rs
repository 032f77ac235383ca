//! Issue 20 §1: output for people and for machines. On a terminal
//! `events`, `credential` and `submit` print for people; in a pipe (every
//! script) and with `--json` they print JSON, each line ending in a
//! newline. `submit --out` prints a summary, not the receipt again; an
//! interrupted `submit` says what was acknowledged and that running it
//! again is safe, and running it again gives the same indexes. The long
//! jobs draw a progress bar on a terminal's stderr and nothing in a pipe.
//! The flags mean one thing everywhere; the old spellings warn and work.
//!
//! A terminal is a pseudo-terminal: the binary runs under `script -qec`
//! (util-linux), which gives it one as stdin, stdout and stderr and copies
//! what it writes there to its own stdout.

use crate::common::{BIN, Server, spawn_ready};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The binary with `args`, stdout and stderr each a pipe.
fn piped(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("PROVLOG_URL")
        .env_remove("PROVLOG_LOG_FORMAT")
        .stdin(Stdio::null())
        .output()
        .expect("run provlog")
}

/// `s` quoted for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The binary with `args` on a pseudo-terminal, `redirect` (e.g.
/// `"> out.txt"`) appended to its command line: exit code and what it
/// wrote to the terminal (line ends as `\n`).
fn on_tty(args: &[&str], redirect: &str) -> (i32, String) {
    let mut cmd = quote(BIN);
    for a in args {
        cmd.push(' ');
        cmd.push_str(&quote(a));
    }
    cmd.push(' ');
    cmd.push_str(redirect);
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env_remove("PROVLOG_URL")
        .env_remove("PROVLOG_LOG_FORMAT")
        .stdin(Stdio::null())
        .output()
        .expect("run script (util-linux)");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n"),
    )
}

/// A valid event (a rotation of `target`'s credential), its credential
/// one of its own.
fn event(id: &str, target: &str) -> Value {
    let mut e = crate::common::event(id, target);
    e["credential"]["fingerprint"] = Value::from(crate::common::fingerprint_of(id));
    e
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every line of `out` is a JSON object, and `out` ends with a newline.
fn json_lines(out: &[u8]) -> Vec<Value> {
    let s = text(out);
    assert!(s.ends_with('\n'), "JSON output ends with a newline: {s:?}");
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Writes `events` as JSON lines to `path`.
fn write_events(path: &Path, events: &[Value]) {
    let mut lines = String::new();
    for e in events {
        lines.push_str(&e.to_string());
        lines.push('\n');
    }
    std::fs::write(path, lines).expect("write events");
}

/// The indexes of the receipts (JSON lines) in `path`.
fn receipt_indexes(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .expect("receipts")
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("receipt")["index"]
                .as_u64()
                .expect("index")
        })
        .collect()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

#[test]
fn events_are_a_table_on_a_terminal_and_json_lines_in_a_pipe() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.data_dir.join("dev.skey");
    let file = dir.path().join("events.jsonl");
    write_events(
        &file,
        &[
            event("t-1", "svc-table"),
            event("t-2", "svc-table"),
            event("t-3", "svc-one"),
        ],
    );
    let o = piped(&["submit", "--url", &s.url, "--key", p(&key), p(&file)]);
    assert!(o.status.success(), "{}", text(&o.stderr));

    // A pipe: the entries as the log sends them, one JSON object a line.
    let o = piped(&["events", "--url", &s.url, "--target", "svc-table"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lines = json_lines(&o.stdout);
    assert_eq!(lines.len(), 2, "{}", text(&o.stdout));
    assert!(
        lines
            .iter()
            .all(|l| l["decoded"]["event"]["target"]["id"] == "svc-table")
    );

    // A terminal: a table, and the count in the right number.
    let (code, out) = on_tty(&["events", "--url", &s.url, "--target", "svc-table"], "");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("INDEX") && out.contains("ACTION") && out.contains("TARGET"),
        "{out}"
    );
    assert!(out.contains("rotate") && out.contains("svc-table"), "{out}");
    assert!(out.contains("2 events\n"), "{out}");
    assert!(!out.contains("{\"index\""), "no JSON on a terminal: {out}");
    let (code, out) = on_tty(&["events", "--url", &s.url, "--target", "svc-one"], "");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\n1 event\n"), "{out}");
    // More pages: where the next one starts.
    let (_, out) = on_tty(
        &["events", "--url", &s.url, "--target", "svc-table", "--limit", "1"],
        "",
    );
    assert!(out.contains("1 event; more with --after"), "{out}");

    // --json on a terminal: JSON lines.
    let (code, out) = on_tty(&["events", "--url", &s.url, "--target", "svc-table", "--json"], "");
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for l in lines {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
    s.stop();
}

#[test]
fn credential_is_a_line_on_a_terminal_and_json_in_a_pipe() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.data_dir.join("dev.skey");
    let file = dir.path().join("ev.json");
    write_events(&file, &[event("c-1", "svc-cred")]);
    assert!(
        piped(&["submit", "--url", &s.url, "--key", p(&key), p(&file)])
            .status
            .success()
    );
    let fp = crate::common::fingerprint_of("c-1");
    let vkey = s.vkey.to_vkey_string();
    let args = [
        "credential",
        &fp,
        "--url",
        &s.url,
        "--log-key",
        &vkey,
        "--max-age",
        "1h",
    ];

    let o = piped(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v = json_lines(&o.stdout);
    assert_eq!(v.len(), 1, "{}", text(&o.stdout));
    assert_eq!(
        (&v[0]["fingerprint"], &v[0]["verified"], &v[0]["state"]),
        (&Value::from(fp.clone()), &Value::Bool(true), &Value::from("active")),
        "{}",
        v[0]
    );
    assert!(v[0]["commitment_index"].is_u64(), "{}", v[0]);

    let (code, out) = on_tty(&args, "");
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(&format!("OK: {fp}: active")), "{out}");

    let mut with_json = args.to_vec();
    with_json.push("--json");
    let (code, out) = on_tty(&with_json, "");
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(out.trim_end()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(v["verified"], true, "{v}");

    // Unverified (no --log-key): said so, in both forms.
    let o = piped(&["credential", &fp, "--url", &s.url]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(json_lines(&o.stdout)[0]["verified"], false);
    let (_, out) = on_tty(&["credential", &fp, "--url", &s.url], "");
    assert!(out.contains("NOT verified"), "{out}");

    // The saved answer is JSON that ends with a newline.
    let saved = dir.path().join("answer.json");
    assert!(
        piped(&["credential", &fp, "--url", &s.url, "--out", p(&saved)])
            .status
            .success()
    );
    let answer = std::fs::read_to_string(&saved).expect("answer");
    assert!(answer.ends_with("}\n"), "{answer:?}");
    s.stop();
}

#[test]
fn submit_prints_receipts_in_a_pipe_and_with_out_only_a_summary() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.data_dir.join("dev.skey");
    let one = dir.path().join("one.json");
    write_events(&one, &[event("s-1", "svc-sum")]);

    // No --out, a pipe: the receipt, as always.
    let o = piped(&["submit", "--url", &s.url, "--key", p(&key), p(&one)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let r = json_lines(&o.stdout);
    assert_eq!(r.len(), 1);
    let index = r[0]["index"].as_u64().expect("index");
    assert!(r[0]["inclusion_proof"].is_array(), "a receipt: {}", r[0]);

    // --out, a pipe: the receipt in the file, a summary on stdout.
    let out = dir.path().join("receipt.json");
    let o = piped(&["submit", "--url", &s.url, "--key", p(&key), p(&one), "--out", p(&out)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let summary = json_lines(&o.stdout);
    assert_eq!(summary.len(), 1, "{}", text(&o.stdout));
    assert_eq!(
        summary[0],
        serde_json::json!({"event_id": "s-1", "status": 200, "index": index, "file": p(&out)}),
        "a retry: the original index, status 200"
    );
    assert!(!text(&o.stdout).contains("inclusion_proof"), "not the receipt again");
    let saved = std::fs::read_to_string(&out).expect("receipt file");
    assert!(saved.ends_with("}\n"), "{saved:?}");
    assert_eq!(receipt_indexes(&out), vec![index]);

    // A terminal: a line for people; --json gives the summary as JSON.
    let (code, text_out) = on_tty(
        &["submit", "--url", &s.url, "--key", p(&key), p(&one), "--out", p(&out)],
        "",
    );
    assert_eq!(code, 0, "{text_out}");
    assert!(
        text_out.contains(&format!("s-1: already logged at index {index}")),
        "{text_out}"
    );
    assert!(
        text_out.contains(&format!("1 event logged; receipt in {}", p(&out))),
        "{text_out}"
    );
    assert!(!text_out.contains("inclusion_proof"), "{text_out}");
    let (code, json_out) = on_tty(
        &[
            "submit",
            "--url",
            &s.url,
            "--key",
            p(&key),
            p(&one),
            "--out",
            p(&out),
            "--json",
        ],
        "",
    );
    assert_eq!(code, 0, "{json_out}");
    let v: Value = serde_json::from_str(json_out.trim_end()).unwrap_or_else(|e| panic!("not JSON ({e}): {json_out}"));
    assert_eq!(v["index"], index, "{v}");

    // Several events on a terminal: one line each, and the count.
    let two = dir.path().join("two.jsonl");
    write_events(&two, &[event("s-2", "svc-sum-2"), event("s-3", "svc-sum-3")]);
    let (code, out) = on_tty(&["submit", "--url", &s.url, "--key", p(&key), p(&two)], "");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("s-2: logged at index") && out.contains("s-3: logged at index"),
        "{out}"
    );
    assert!(out.contains("2 events logged; receipts not kept"), "{out}");
    s.stop();
}

/// Five events, the third under an `event_id` the log already holds for
/// another event (`409`), sent one by one or as a batch: the other four
/// are acknowledged and their receipts kept; stderr says so, and that
/// running the command again is safe; running it again gives the same
/// indexes and logs nothing new.
#[test]
fn a_submit_with_a_refusal_in_the_middle_says_what_was_acknowledged_and_a_rerun_gets_the_same_indexes() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.data_dir.join("dev.skey");
    let taken = dir.path().join("taken.json");
    write_events(&taken, &[event("taken", "svc-taken")]);
    assert!(
        piped(&["submit", "--url", &s.url, "--key", p(&key), p(&taken)])
            .status
            .success()
    );
    for batch in [false, true] {
        let tag = if batch { "b" } else { "s" };
        let file = dir.path().join(format!("{tag}.jsonl"));
        let mut events: Vec<Value> = (1..=5)
            .map(|i| event(&format!("{tag}-{i}"), &format!("svc-{tag}-{i}")))
            .collect();
        events[2] = event("taken", &format!("svc-{tag}-other"));
        write_events(&file, &events);
        let out = dir.path().join(format!("{tag}-receipts.jsonl"));
        let mut args = vec!["submit", "--url", &s.url, "--key", p(&key), p(&file), "--out", p(&out)];
        if batch {
            args.push("--batch");
        }
        let o = piped(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("event #3: 409"), "{err}");
        assert!(
            err.contains(&format!("4 of 5 events acknowledged (receipts in {})", p(&out))),
            "{err}"
        );
        assert!(err.contains("running the same command again is safe"), "{err}");
        assert!(err.contains("error: 1 of 5 events rejected"), "{err}");
        let first = receipt_indexes(&out);
        assert_eq!(first.len(), 4, "the acknowledged receipts are kept");
        assert_eq!(json_lines(&o.stdout).len(), 4, "a summary line for each");

        let size = tree_size(&s);
        let o = piped(&args);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        assert_eq!(receipt_indexes(&out), first, "the same indexes again");
        assert_eq!(tree_size(&s), size, "nothing logged twice");
    }
    s.stop();
}

/// The log's tree size.
fn tree_size(s: &Server) -> u64 {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(s.tree_size())
}

/// A TCP proxy in front of `upstream` that forwards everything until the
/// `posts`+1-th `POST /v1/entries` reaches it; then it drops that
/// connection unanswered and closes its port: the log is gone in the
/// middle of a run.
async fn cut_after(upstream: std::net::SocketAddr, posts: usize) -> String {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(async move {
        loop {
            let (mut client, _) = tokio::select! {
                a = listener.accept() => match a { Ok(a) => a, Err(_) => return },
                () = cut.notified() => return,
            };
            let (seen, cut) = (Arc::clone(&seen), Arc::clone(&cut));
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = async {
                    let mut buf = vec![0u8; 64 << 10];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let chunk = &buf[..n];
                        let posts_here = chunk.windows(17).filter(|w| w == b"POST /v1/entries ").count();
                        if posts_here > 0 && seen.fetch_add(posts_here, Ordering::SeqCst) + posts_here > posts {
                            cut.notify_one();
                            return;
                        }
                        if sw.write_all(chunk).await.is_err() {
                            return;
                        }
                    }
                };
                let down = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                // Whichever ends first ends the connection.
                tokio::select! {
                    () = up => {},
                    () = down => {},
                }
            });
        }
    });
    format!("http://{addr}")
}

/// The log goes away after two of five events: `submit` fails, says two
/// were acknowledged and where their receipts are, and running it again
/// against the log gives those two the same indexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_cut_off_mid_way_keeps_the_receipts_so_far_and_a_rerun_gets_the_same_indexes() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("data"), &[]);
    let upstream: std::net::SocketAddr = s.url.trim_start_matches("http://").parse().expect("addr");
    let proxy = cut_after(upstream, 2).await;
    let key = s.data_dir.join("dev.skey");
    let file = dir.path().join("cut.jsonl");
    let events: Vec<Value> = (1..=5)
        .map(|i| event(&format!("cut-{i}"), &format!("svc-cut-{i}")))
        .collect();
    write_events(&file, &events);
    let out = dir.path().join("cut-receipts.jsonl");
    let run = |url: String| {
        let (key, file, out) = (key.clone(), file.clone(), out.clone());
        move || piped(&["submit", "--url", &url, "--key", p(&key), p(&file), "--out", p(&out)])
    };
    let o = tokio::task::spawn_blocking(run(proxy)).await.expect("task");
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("2 of 5 events acknowledged (receipts in {})", p(&out))),
        "{err}"
    );
    assert!(err.contains("running the same command again is safe"), "{err}");
    assert!(err.contains("stopped after 2 of 5 events"), "{err}");
    let first = receipt_indexes(&out);
    assert_eq!(first.len(), 2, "the receipts acknowledged before the cut are kept");

    let o = tokio::task::spawn_blocking(run(s.url.clone())).await.expect("task");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let again = receipt_indexes(&out);
    assert_eq!(again.len(), 5);
    assert_eq!(again[..2], first[..], "the same indexes for what was acknowledged");
    s.stop();
}

#[test]
fn audit_and_fsck_draw_a_progress_bar_on_a_terminal_and_nothing_in_a_pipe() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("data"), &[]);
    let key = s.data_dir.join("dev.skey");
    let file = dir.path().join("events.jsonl");
    let events: Vec<Value> = (0..40)
        .map(|i| event(&format!("pb-{i}"), &format!("svc-pb-{i}")))
        .collect();
    write_events(&file, &events);
    let o = piped(&["submit", "--url", &s.url, "--key", p(&key), p(&file), "--batch"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(o.stderr.is_empty(), "no bar, nothing, in a pipe: {}", text(&o.stderr));
    let vkey = s.vkey.to_vkey_string();
    for (args, label) in [
        (vec!["audit", "--url", &s.url, "--log-key", &vkey], "auditing"),
        (vec!["fsck", "--url", &s.url, "--log-key", &vkey], "checking"),
    ] {
        // stdout to a file, stderr the terminal: what is on the terminal
        // is the bar.
        let stdout_file = dir.path().join(format!("{label}.out"));
        let (code, tty) = on_tty(&args, &format!("> {}", quote(p(&stdout_file))));
        assert_eq!(code, 0, "{tty}");
        assert!(
            tty.contains(label) && tty.contains(" entries (") && tty.contains("eta"),
            "{args:?}: {tty:?}"
        );
        let stdout = std::fs::read_to_string(&stdout_file).expect("stdout");
        assert!(stdout.contains("0 findings"), "{stdout}");
        assert!(!stdout.contains("eta"), "the bar is on stderr only: {stdout}");
        // A pipe: no bar.
        let o = piped(&args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(o.stderr.is_empty(), "{args:?}: {}", text(&o.stderr));
    }
    // The batch submit draws one too on a terminal.
    let (code, tty) = on_tty(
        &["submit", "--url", &s.url, "--key", p(&key), p(&file), "--batch"],
        "> /dev/null",
    );
    assert_eq!(code, 0, "{tty}");
    assert!(tty.contains("/40 events (") && tty.contains("eta"), "{tty:?}");
    // Counts in the right number: one policy entry.
    let (_, out) = crate::common::run(&["audit", "--url", &s.url, "--log-key", &vkey]);
    assert!(out.contains(": 1 policy entry, 40 events, 0 heartbeats, "), "{out}");
    s.stop();
}

#[test]
fn log_format_is_an_option_of_the_commands_that_log_only() {
    // Not listed, and refused (a usage error), on a one-shot command.
    let o = piped(&["submit", "--help"]);
    assert!(o.status.success());
    assert!(!text(&o.stdout).contains("--log-format"), "{}", text(&o.stdout));
    let o = piped(&["submit", "--log-format", "json", "--key", "x.skey"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    for c in ["serve", "witness", "monitor", "gate"] {
        let o = piped(&[c, "--help"]);
        assert!(text(&o.stdout).contains("--log-format"), "{c}: {}", text(&o.stdout));
    }
    // Taken by serve and monitor: their logs are JSON lines.
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::try_start_env(
        &dir.path().join("data"),
        &["--log-format", "json"],
        &[("RUST_LOG", "info")],
    )
    .expect("serve --log-format json");
    let serve_log = std::fs::read_to_string(s.data_dir.join("stderr.log")).expect("log");
    let first = serve_log.lines().next().expect("a log line");
    serde_json::from_str::<Value>(first).unwrap_or_else(|e| panic!("not JSON ({e}): {first}"));
    let state = dir.path().join("monitor");
    let o = Command::new(BIN)
        .args([
            "monitor",
            "--log-format",
            "json",
            "--url",
            &s.url,
            "--log-key",
            &s.vkey.to_vkey_string(),
            "--state-dir",
            p(&state),
            "--once",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("monitor");
    assert!(o.status.success(), "{}", text(&o.stderr));
    for l in text(&o.stderr).lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
    // Before the command, where it used to go: still taken, with a warning.
    let o = Command::new(BIN)
        .args([
            "--log-format",
            "json",
            "monitor",
            "--url",
            &s.url,
            "--log-key",
            &s.vkey.to_vkey_string(),
            "--state-dir",
            p(&state),
            "--once",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("monitor");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    let mut lines = err.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("warning: --log-format before the command is deprecated")),
        "{err}"
    );
    for l in lines {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
    s.stop();
}

#[test]
fn the_old_spellings_of_witness_and_gate_flags_still_work_and_warn() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("data"), &[]);
    let vkey = s.vkey.to_vkey_string();

    // witness --log VKEY (now --log-key).
    let wdir = dir.path().join("w");
    let (mut w, wurl) = spawn_ready(
        &wdir,
        &[
            "witness",
            "--log",
            &vkey,
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            p(&wdir),
        ],
        "witness",
    );
    let _ = w.kill();
    let _ = w.wait();
    assert!(wurl.starts_with("http://"), "{wurl}");
    let err = std::fs::read_to_string(wdir.join("stderr.log")).expect("log");
    assert!(
        err.contains("warning: provlog witness --log VKEY is deprecated: use --log-key VKEY"),
        "{err}"
    );

    // gate --log URL (now --url), and log = in its config (now url =).
    let gdir = dir.path().join("g");
    let (mut g, _) = spawn_ready(
        &gdir,
        &["gate", "--log", &s.url, "--log-key", &vkey, "--listen", "127.0.0.1:0"],
        "gate",
    );
    let _ = g.kill();
    let _ = g.wait();
    let err = std::fs::read_to_string(gdir.join("stderr.log")).expect("log");
    assert!(
        err.contains("warning: provlog gate --log URL is deprecated: use --url URL"),
        "{err}"
    );
    let cfg = dir.path().join("gate.toml");
    std::fs::write(
        &cfg,
        format!("log = {:?}\nlog_key = {vkey:?}\nlisten = \"127.0.0.1:0\"\n", s.url),
    )
    .expect("config");
    let cdir = dir.path().join("c");
    let (mut g, _) = spawn_ready(&cdir, &["gate", "--config", p(&cfg)], "gate");
    let _ = g.kill();
    let _ = g.wait();
    let err = std::fs::read_to_string(cdir.join("stderr.log")).expect("log");
    assert!(
        err.contains("warning: log = in the gate's config is deprecated: use url ="),
        "{err}"
    );

    // The new spellings say nothing of the kind.
    let ndir = dir.path().join("n");
    let (mut g, _) = spawn_ready(
        &ndir,
        &["gate", "--url", &s.url, "--log-key", &vkey, "--listen", "127.0.0.1:0"],
        "gate",
    );
    let _ = g.kill();
    let _ = g.wait();
    let err = std::fs::read_to_string(ndir.join("stderr.log")).unwrap_or_default();
    assert!(!err.contains("deprecated"), "{err}");
    s.stop();
}
