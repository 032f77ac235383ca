//! Running a real `provlog witness` and waiting for a log's witnessed
//! checkpoint.

use super::{spawn_ready, write_key};
use provlog_tlog::keys::SignerKey;
use std::path::Path;
use std::time::Duration;

/// Starts `provlog witness` for the log with vkey `log_vkey` on `listen`
/// (`127.0.0.1:0` for any port), keeping its key and state in `dir`;
/// returns the child and its URL.
pub(crate) fn start_witness_on(
    dir: &Path,
    key: &SignerKey,
    log_vkey: &str,
    listen: &str,
) -> (std::process::Child, String) {
    std::fs::create_dir_all(dir).expect("dir");
    let kf = dir.join("w.skey");
    if !kf.exists() {
        write_key(&kf, key);
    }
    spawn_ready(
        dir,
        &[
            "witness",
            "--key",
            kf.to_str().expect("p"),
            "--log-key",
            log_vkey,
            "--listen",
            listen,
            "--data-dir",
            dir.to_str().expect("p"),
        ],
        "witness",
    )
}

/// Polls `/v1/checkpoint/witnessed` (generously: this bounds how long a
/// test waits, it is not a timing assertion) until it answers a note that
/// starts with `prefix`; returns the last note seen (empty if none).
pub(crate) async fn wait_witnessed(c: &reqwest::Client, url: &str, prefix: &str) -> String {
    let mut note = String::new();
    for _ in 0..400 {
        let r = c
            .get(format!("{url}/v1/checkpoint/witnessed"))
            .send()
            .await
            .expect("get");
        if r.status() == 200 {
            note = r.text().await.expect("text");
            if note.starts_with(prefix) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    note
}
