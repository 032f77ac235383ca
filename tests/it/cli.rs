//! The `provlog` command line: keygen, sign, submit, verify (exit codes and
//! messages), config helpers, and refusal to start on a corrupted store.

use crate::common::{self, BIN, Server, event};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input).expect("write");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn keygen_writes_a_private_file_and_a_vkey() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("ci.skey");
    let o = run(
        &["keygen", "--name", "ci-provisioner", "--out", out.to_str().expect("p")],
        None,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mode = std::fs::metadata(&out).expect("skey").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let skey = std::fs::read_to_string(&out).expect("read");
    assert!(skey.starts_with("PRIVATE+KEY+ci-provisioner+"));
    let vkey = std::fs::read_to_string(out.with_extension("vkey")).expect("vkey");
    let v = provlog_tlog::keys::VerifierKey::parse(vkey.trim()).expect("valid vkey");
    assert_eq!(v.name(), "ci-provisioner");
    assert!(text(&o.stdout).contains(vkey.trim()));
    // Never overwrites an existing key.
    let again = run(
        &["keygen", "--name", "ci-provisioner", "--out", out.to_str().expect("p")],
        None,
    );
    assert_eq!(again.status.code(), Some(1));
    // Bad names are refused.
    let bad = run(
        &[
            "keygen",
            "--name",
            "has space",
            "--out",
            dir.path().join("x.skey").to_str().expect("p"),
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(1));
    // Usage errors exit 2.
    assert_eq!(run(&["keygen"], None).status.code(), Some(2));
}

#[test]
fn submit_then_verify_offline_and_detect_tampering() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let s = Server::start(&data, &[]);
    let skey = data.join("dev.skey");
    let vkey_file = data.join("log.vkey");
    let events = format!("{}\n{}\n", event("cli-1", "svc-a"), event("cli-2", "svc-b"));
    let o = run(
        &["submit", "--url", &s.url, "--key", skey.to_str().expect("p"), "-"],
        Some(events.as_bytes()),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let receipts: Vec<&str> = std::str::from_utf8(&o.stdout).expect("utf8").lines().collect();
    assert_eq!(receipts.len(), 2);
    let receipt = dir.path().join("receipt.json");
    std::fs::write(&receipt, receipts[1]).expect("write");

    let ok = run(
        &[
            "verify",
            "--receipt",
            receipt.to_str().expect("p"),
            "--log-key",
            vkey_file.to_str().expect("p"),
        ],
        None,
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).starts_with("OK: entry 4 "), "{}", text(&ok.stdout));
    // With the submitter key, the event signature is checked too.
    let dev_vkey = data.join("dev.vkey");
    let ok = run(
        &[
            "verify",
            "--receipt",
            receipt.to_str().expect("p"),
            "--log-key",
            &s.vkey.to_vkey_string(),
            "--submitter-key",
            dev_vkey.to_str().expect("p"),
        ],
        None,
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("submitter signature verified"));

    // The tlog-proof form verifies too.
    let r: serde_json::Value = serde_json::from_str(receipts[1]).expect("json");
    let proof_file = dir.path().join("e.tlog-proof");
    let entry_file = dir.path().join("e.json");
    std::fs::write(&proof_file, r["tlog_proof"].as_str().expect("s")).expect("w");
    std::fs::write(
        &entry_file,
        provlog_tlog::b64::decode(r["entry"].as_str().expect("s")).expect("b64"),
    )
    .expect("w");
    let ok = run(
        &[
            "verify",
            "--tlog-proof",
            proof_file.to_str().expect("p"),
            "--entry",
            entry_file.to_str().expect("p"),
            "--log-key",
            vkey_file.to_str().expect("p"),
        ],
        None,
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    // Tampering: a changed entry, a wrong key.
    let mut bad = r.clone();
    let mut entry = provlog_tlog::b64::decode(r["entry"].as_str().expect("s")).expect("b64");
    let pos = entry.iter().position(|&b| b == b'a').expect("an a");
    entry[pos] = b'b';
    bad["entry"] = provlog_tlog::b64::encode(&entry).into();
    let bad_file = dir.path().join("bad.json");
    std::fs::write(&bad_file, bad.to_string()).expect("w");
    let o = run(
        &[
            "verify",
            "--receipt",
            bad_file.to_str().expect("p"),
            "--log-key",
            vkey_file.to_str().expect("p"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("leaf_hash"), "{}", text(&o.stderr));
    let other = provlog_tlog::keys::SignerKey::from_seed("localhost/provlog", 1, [9; 32]).expect("k");
    let o = run(
        &[
            "verify",
            "--receipt",
            receipt.to_str().expect("p"),
            "--log-key",
            &other.verifier().to_vkey_string(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("checkpoint"), "{}", text(&o.stderr));
    let o = run(
        &[
            "verify",
            "--receipt",
            receipt.to_str().expect("p"),
            "--log-key",
            &s.vkey.to_vkey_string(),
            "--submitter-key",
            &other.verifier().to_vkey_string(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));

    // `sign` prints a submission that the server accepts.
    let o = run(
        &["sign", "--key", skey.to_str().expect("p")],
        Some(event("cli-3", "svc-c").to_string().as_bytes()),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let sub: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(sub["submitter"], "dev");
}

#[test]
fn config_example_checks_and_unknown_keys_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = run(&["config", "example"], None);
    assert!(o.status.success());
    let example = text(&o.stdout);
    // The example's placeholder vkey is not valid; swap in a real one.
    let k = provlog_tlog::keys::SignerKey::from_seed("ci-provisioner", 1, [3; 32]).expect("k");
    let cfg = example.replace("ci-provisioner+1a2b3c4d+AU...", &k.verifier().to_vkey_string());
    let f = dir.path().join("p.toml");
    std::fs::write(&f, &cfg).expect("w");
    let o = run(&["config", "check", f.to_str().expect("p")], None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::write(&f, format!("{cfg}\nbogus = 1\n")).expect("w");
    let o = run(&["config", "check", f.to_str().expect("p")], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("bogus"), "{}", text(&o.stderr));
    let line = cfg.lines().count() + 2;
    assert!(
        text(&o.stderr).contains(&format!("line {line}")),
        "the error names the line: {}",
        text(&o.stderr)
    );
}

/// Every top-level key of the example config is also a `serve` flag and a
/// `PROVLOG_…` environment variable (the tables `[[submitters]]`,
/// `[[witnesses]]` and `[rate_limits]` are file-only, except `--witness`).
#[test]
fn every_config_key_is_a_flag_and_an_environment_variable() {
    let o = run(&["config", "example"], None);
    let example = text(&o.stdout);
    let help = text(&run(&["serve", "--help"], None).stdout);
    let mut keys = Vec::new();
    for line in example.lines() {
        let l = line.trim_start_matches('#').trim_start();
        if l.starts_with('[') {
            break; // the tables
        }
        let Some((k, _)) = l.split_once(" = ") else { continue };
        if !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            keys.push(k.to_owned());
        }
    }
    assert!(keys.len() >= 20, "found only {keys:?}");
    for k in &keys {
        let flag = format!("--{}", k.replace('_', "-"));
        let env = format!("PROVLOG_{}", k.to_uppercase());
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "config key {k}: no flag {flag} in serve --help"
        );
        assert!(
            help.contains(&format!("[env: {env}")),
            "config key {k}: no {env} in serve --help"
        );
    }
}

#[test]
fn refuses_to_start_on_a_corrupted_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    {
        let s = Server::start(&data, &[]);
        let key = s.dev_key();
        let rt = tokio::runtime::Runtime::new().expect("rt");
        rt.block_on(async {
            let c = common::client();
            for i in 0..20 {
                let sub = common::submission(&key, &event(&format!("c-{i}"), "svc-x"));
                let r = c
                    .post(format!("{}/v1/entries", s.url))
                    .json(&sub)
                    .send()
                    .await
                    .expect("post");
                assert_eq!(r.status(), 201);
            }
        });
        s.stop();
    }
    // Flip a byte in a stored leaf hash.
    {
        let store =
            provlog_storage::Store::open(&data.join("db"), &provlog_storage::StoreOptions::default()).expect("open");
        let mut key = vec![0u8];
        key.extend_from_slice(&7u64.to_be_bytes());
        let mut h = store.leaf_hash(7).expect("leaf");
        h[0] ^= 1;
        store.debug_put_raw("hashes", &key, Some(&h)).expect("put");
    }
    let err = Server::try_start(&data, &[]).err().expect("must refuse to start");
    assert!(err.contains("refusing to start"), "{err}");
    assert!(err.contains("entry 7 does not match its stored leaf hash"), "{err}");
}
