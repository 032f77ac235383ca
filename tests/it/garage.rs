//! Publishing to a real distributed object store: a three-node Garage
//! cluster on loopback with replication factor 3. The log publishes to it
//! over S3; one node is killed mid-run and publishing and reading go on;
//! a monitor follows the log through the bucket's web endpoint while the
//! log is stopped; the log is restored from the cluster into a new data
//! directory with the same root, and continues.
//!
//! The cluster is `common::GarageCluster`.

use crate::common::{
    self, GarageCluster as Cluster, Server, client, get, post, submission, submit_many_plain, wait_log,
};
use provlog_tlog::checkpoint::open_checkpoint;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_to_a_garage_cluster_survives_a_node_loss_and_restores_from_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cluster = Cluster::start(dir.path());
    let (key_id, secret) = cluster.bucket_and_key();
    let endpoint = format!("http://127.0.0.1:{}", cluster.nodes[0].s3);
    let envs = [
        ("RUST_LOG", "warn"),
        ("AWS_ACCESS_KEY_ID", key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_REGION", "garage"),
    ];
    let url = "s3://localhost/logs/prod";

    // Wrong credentials: the log refuses to start and names the store.
    let wrong = [
        ("RUST_LOG", "warn"),
        ("AWS_ACCESS_KEY_ID", key_id.as_str()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ),
        ("AWS_REGION", "garage"),
    ];
    let refused = Server::try_start_env(
        &dir.path().join("wrong"),
        &["--publish-url", url, "--publish-endpoint", &endpoint],
        &wrong,
    );
    let Err(why) = refused else {
        panic!("a log with wrong store credentials started")
    };
    assert!(
        why.contains("cannot read the object store s3://localhost/logs/prod") && why.contains("403"),
        "{why}"
    );

    let log_dir = dir.path().join("log");
    let s = Server::try_start_env(
        &log_dir,
        &["--publish-url", url, "--publish-endpoint", &endpoint],
        &envs,
    )
    .expect("log");
    let c = client();
    let key = s.dev_key();
    // Events without credentials: the policy, the first state commitment,
    // then one entry per event.
    submit_many_plain(&c, &s.url, &key, "g1", 600).await;
    wait_log(&c, &s.url, "publication", |v| v["publish"]["published_size"] == 602).await;

    // Readers fetch the same paths from the bucket's web endpoint.
    let web = format!("http://localhost:{}/logs/prod", cluster.nodes[1].web);
    let (st, note) = get(&c, &web, "/checkpoint").await;
    assert_eq!(st, 200);
    let (cp, _) = open_checkpoint(&note, &s.vkey).expect("the published checkpoint verifies");
    assert_eq!(cp.size, 602);
    let r = c.get(format!("{web}/tile/0/001")).send().await.expect("GET");
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .expect("ascii")
            .contains("immutable"),
        "{:?}",
        r.headers()
    );

    // One of three nodes dies while entries are being submitted and
    // published: writes (quorum 2) and reads go on.
    tokio::join!(submit_many_plain(&c, &s.url, &key, "g2", 600), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        cluster.kill(2);
    });
    wait_log(&c, &s.url, "publication after a node loss", |v| {
        v["publish"]["published_size"] == 1202
    })
    .await;
    let (st, note) = get(&c, &web, "/checkpoint").await;
    assert_eq!(st, 200);
    let (cp, _) = open_checkpoint(&note, &s.vkey).expect("verifies");
    assert_eq!(cp.size, 1202);
    let (_, log_note) = get(&c, &s.url, "/checkpoint").await;
    let (log_cp, _) = open_checkpoint(&log_note, &s.vkey).expect("verifies");
    let vkey = dir.path().join("log.vkey.pub");
    std::fs::write(&vkey, s.vkey.to_vkey_string()).expect("vkey");
    let vkey = vkey.to_str().expect("utf8").to_owned();
    let skey = std::fs::read(log_dir.join("log.skey")).expect("skey");
    s.stop();

    // The log is down: a monitor follows it from the store alone.
    let (code, out) = common::run(&[
        "monitor",
        "--url",
        &web,
        "--log-key",
        &vkey,
        "--state-dir",
        dir.path().join("mon").to_str().expect("utf8"),
        "--once",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = common::run(&["fsck", "--url", &web, "--log-key", &vkey]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tree size 1202, 0 findings"), "{out}");

    // Restore from the cluster (through another node) into a new directory.
    let restored = dir.path().join("restored");
    let (code, text) = common::run_env(
        &[
            "restore",
            "--from",
            url,
            "--endpoint",
            &format!("http://127.0.0.1:{}", cluster.nodes[1].s3),
            "--region",
            "garage",
            "--data-dir",
            restored.to_str().expect("utf8"),
            "--log-key",
            &vkey,
        ],
        &envs,
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("restored 1202 entries"), "{text}");

    // It continues from there, publishing to the same place.
    common::put_log_key(&restored, &skey);
    std::fs::copy(log_dir.join("dev.skey"), restored.join("dev.skey")).expect("dev key");
    let s2 = Server::try_start_env(
        &restored,
        &["--publish-url", url, "--publish-endpoint", &endpoint],
        &envs,
    )
    .expect("restored log");
    let (cp2, _) = common::checkpoint(&c, &s2).await;
    assert_eq!((cp2.size, cp2.root), (log_cp.size, log_cp.root), "same tree");
    let (st, r) = post(
        &c,
        &s2.url,
        "/v1/entries",
        serde_json::to_vec(&submission(&key, &common::plain_event("after-restore", "svc-after"))).expect("json"),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    wait_log(&c, &s2.url, "publication after restore", |v| {
        v["publish"]["published_size"] == 1203
    })
    .await;
}
