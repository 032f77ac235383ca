//! Issue 20 §1: what a newcomer meets when something is wrong. Each error
//! chain is printed once; the common failures add a hint (no server at
//! `--url`, a URL without a scheme, a data directory another provlog
//! holds, a checkpoint signed by another key, a public key where the
//! private one belongs); usage errors exit 2, as the README promises; and
//! `--listen` takes a host name.

use crate::common::{BIN, Server, free_port};
use std::process::{Command, Output, Stdio};

fn provlog(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("PROVLOG_URL")
        .env_remove("PROVLOG_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run provlog")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// No phrase of at least 20 characters appears twice in `s`.
fn assert_said_once(s: &str, phrase: &str) {
    assert_eq!(s.matches(phrase).count(), 1, "{phrase:?} should appear once in:\n{s}");
}

#[test]
fn a_schema_error_is_printed_once() {
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("ci.skey");
    assert!(
        provlog(&["keygen", "--name", "ci", "--out", key.to_str().expect("utf8")])
            .status
            .success()
    );
    let ev = dir.path().join("ev.json");
    std::fs::write(
        &ev,
        r#"{"event_id":"e1","occurred_at":"2026-12-04T10:00:00Z","action":"issue","target":{"id":"svc","type":"service_account"},"authority":{},"decision":{"result":"allow"},"outcome":"success"}"#,
    )
    .expect("write");
    let o = provlog(&["sign", "--key", key.to_str().expect("utf8"), ev.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("actor"), "{e}");
    assert_said_once(&e, "missing field");
    assert!(!e.contains("event: event:"), "{e}");
}

#[test]
fn a_public_key_given_as_the_private_key_is_named_as_such() {
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("ci.skey");
    assert!(
        provlog(&["keygen", "--name", "ci", "--out", key.to_str().expect("utf8")])
            .status
            .success()
    );
    let vkey = dir.path().join("ci.vkey");
    let o = provlog(&[
        "submit",
        "--key",
        vkey.to_str().expect("utf8"),
        "--url",
        "http://127.0.0.1:9",
        "--action",
        "issue",
        "--actor",
        "wf",
        "--target",
        "svc",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("is a public key (vkey)"), "{e}");
    assert!(!e.contains("chmod"), "not told to chmod a public key: {e}");
}

#[test]
fn no_server_and_a_url_without_scheme_get_a_hint() {
    let port = free_port();
    let o = provlog(&[
        "events",
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--target",
        "svc",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("hint: nothing answered at that address"), "{e}");
    let o = provlog(&["events", "--url", &format!("127.0.0.1:{port}"), "--target", "svc"]);
    assert_ne!(o.status.code(), Some(0));
    let e = stderr(&o);
    assert!(e.contains("with its scheme"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_one_data_directory_and_a_wrong_log_key_say_what_to_do() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let s = Server::start(&data, &[]);
    let o = provlog(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("another provlog holds this data directory"), "{e}");

    // A receipt checked with another log's key: which key was expected,
    // which signed, and where to look.
    let key = s.dev_key();
    let skey = dir.path().join("dev.skey");
    crate::common::write_key(&skey, &key);
    let receipt = dir.path().join("r.json");
    let o = provlog(&[
        "submit",
        "--key",
        skey.to_str().expect("utf8"),
        "--url",
        &s.url,
        "--action",
        "issue",
        "--actor",
        "wf",
        "--target",
        "svc-x",
        "--out",
        receipt.to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let other = provlog_tlog::keys::SignerKey::from_seed("localhost/provlog", provlog_tlog::keys::ALG_ED25519, [9; 32])
        .expect("key")
        .verifier()
        .to_vkey_string();
    let o = provlog(&[
        "verify",
        "--receipt",
        receipt.to_str().expect("utf8"),
        "--log-key",
        &other,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_said_once(&e, "no signature by the log key");
    let hex = |k: &provlog_tlog::keys::VerifierKey| format!("{}+{:08x}", k.name(), k.key_id());
    assert!(
        e.contains(&hex(&provlog_tlog::keys::VerifierKey::parse(&other).expect("vkey"))),
        "{e}"
    );
    assert!(e.contains(&hex(&s.vkey)), "names the key that signed: {e}");
    assert!(e.contains("hint: check --log-key"), "{e}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ev.json");
    std::fs::write(&file, "{}").expect("write");
    let f = file.to_str().expect("utf8");
    for args in [
        vec!["verify", "--log-key", "x"],
        vec!["fsck", "--url", "http://127.0.0.1:9"],
        vec!["monitor", "--once"],
        vec!["submit", "--key", f, f, "--action", "issue"],
        vec!["serve", "--witness", "http://x"],
        vec!["monitor", "--log", "127.0.0.1:9=key", "--once"],
        vec!["serve", "--listen", "nowhere.invalid:80:80"],
    ] {
        let o = provlog(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty(), "{args:?} says why");
    }
}

#[test]
fn listen_takes_a_host_name() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut child, url) = crate::common::spawn_ready(
        dir.path(),
        &[
            "serve",
            "--listen",
            "localhost:0",
            "--data-dir",
            dir.path().join("data").to_str().expect("utf8"),
        ],
        "log",
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        url.starts_with("http://127.0.0.1:") || url.starts_with("http://[::1]:"),
        "{url}"
    );
}

#[test]
fn help_names_the_exit_codes_and_every_subcommand_exits_2_on_an_unknown_flag() {
    let o = provlog(&["--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Exit codes") && out.contains("2  bad command line"),
        "{out}"
    );
    let subcommands: Vec<String> = out
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(subcommands.len() >= 20, "{subcommands:?}");
    for c in &subcommands {
        let o = provlog(&[c, "--no-such-flag"]);
        assert_eq!(o.status.code(), Some(2), "{c}: {}", stderr(&o));
    }
}
