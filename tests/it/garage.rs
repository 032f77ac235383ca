//! Publishing to a real distributed object store: a three-node Garage
//! cluster on loopback with replication factor 3. The log publishes to it
//! over S3; one node is killed mid-run and publishing and reading go on;
//! a monitor follows the log through the bucket's web endpoint while the
//! log is stopped; the log is restored from the cluster into a new data
//! directory with the same root, and continues.
//!
//! The Garage binary comes from `scripts/garage` (installed once per
//! machine, outside the clone; `scripts/test` runs it first).

use crate::common::{self, Server, client, get, post, submission, submit_many_plain, tools_dir, wait_log};
use provlog_tlog::checkpoint::open_checkpoint;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn garage_bin() -> PathBuf {
    let bin = tools_dir().join("bin/garage");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/garage (scripts/test does) to install Garage",
        bin.display()
    );
    bin
}

struct Node {
    config: PathBuf,
    child: Option<Child>,
    s3: u16,
    web: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Cluster {
    bin: PathBuf,
    nodes: Vec<Node>,
}

impl Cluster {
    /// Runs a garage command on `node`: its stdout, or stdout+stderr.
    fn try_garage(&self, node: usize, args: &[&str]) -> Result<String, String> {
        let o = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.nodes[node].config)
            .args(args)
            .output()
            .expect("garage");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        if o.status.success() {
            Ok(out)
        } else {
            Err(format!("{out}{}", String::from_utf8_lossy(&o.stderr)))
        }
    }

    fn garage(&self, node: usize, args: &[&str]) -> String {
        self.try_garage(node, args)
            .unwrap_or_else(|text| panic!("garage {args:?}: {text}"))
    }

    /// Retries a garage command while the cluster settles.
    fn garage_retry(&self, node: usize, args: &[&str]) -> String {
        for _ in 0..60 {
            if let Ok(out) = self.try_garage(node, args) {
                return out;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        self.garage(node, args)
    }

    fn start(dir: &Path) -> Self {
        let bin = garage_bin();
        let secret = provlog_tlog::hex::encode(
            (0u8..32)
                .map(|i| i.wrapping_mul(37).wrapping_add(11))
                .collect::<Vec<u8>>(),
        );
        let mut nodes = Vec::new();
        for n in 0..3 {
            let root = dir.join(format!("garage{n}"));
            std::fs::create_dir_all(&root).expect("mkdir");
            let (rpc, s3, web, admin) = (
                common::free_port(),
                common::free_port(),
                common::free_port(),
                common::free_port(),
            );
            let config = root.join("garage.toml");
            std::fs::write(
                &config,
                format!(
                    "metadata_dir = \"{root}/meta\"\ndata_dir = \"{root}/data\"\ndb_engine = \"lmdb\"\n\
                     replication_factor = 3\n\
                     rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\n\
                     rpc_secret = \"{secret}\"\n\n\
                     [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
                     root_domain = \".s3.garage.localhost\"\n\n\
                     [s3_web]\nbind_addr = \"127.0.0.1:{web}\"\nroot_domain = \".web.garage.localhost\"\n\
                     index = \"index.html\"\n\n[admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n",
                    root = root.display()
                ),
            )
            .expect("config");
            let log = std::fs::File::create(root.join("garage.log")).expect("log");
            let child = Command::new(&bin)
                .arg("-c")
                .arg(&config)
                .arg("server")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .spawn()
                .expect("garage server");
            nodes.push(Node {
                config,
                child: Some(child),
                s3,
                web,
            });
        }
        let c = Self { bin, nodes };
        // Connect the nodes, give each a zone and capacity, apply the layout.
        let ids: Vec<String> = (0..3)
            .map(|n| c.garage_retry(n, &["node", "id", "-q"]).trim().to_owned())
            .collect();
        for id in &ids[1..] {
            c.garage_retry(0, &["node", "connect", id]);
        }
        for id in &ids {
            let short = id.split('@').next().expect("id");
            c.garage_retry(0, &["layout", "assign", "-z", "dc1", "-c", "1G", short]);
        }
        c.garage(0, &["layout", "apply", "--version", "1"]);
        for n in 0..3 {
            c.wait_s3(n);
        }
        c
    }

    /// Waits until node `n`'s S3 API answers HTTP (any status): the layout
    /// is applied before the API listens, and a log started in between
    /// met a refused connection where the test expected the store's 403.
    fn wait_s3(&self, n: usize) {
        use std::io::{Read, Write};
        let addr = format!("127.0.0.1:{}", self.nodes[n].s3);
        for _ in 0..120 {
            if let Ok(mut t) = std::net::TcpStream::connect(&addr) {
                let _ = t.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = [0u8; 12];
                if t.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                    .is_ok()
                    && t.read_exact(&mut head).is_ok()
                    && head.starts_with(b"HTTP/1.")
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("garage node {n}'s S3 API at {addr} never answered");
    }

    /// A bucket named `localhost` (so its web endpoint answers
    /// `http://localhost:<web port>/…`), readable on the web endpoint, and
    /// a key allowed to write it.
    fn bucket_and_key(&self) -> (String, String) {
        self.garage_retry(0, &["bucket", "create", "localhost"]);
        let out = self.garage(0, &["key", "create", "provlog-publisher"]);
        let field = |name: &str| {
            out.lines()
                .find_map(|l| {
                    let l = l.trim();
                    l.strip_prefix(name)
                        .map(|rest| rest.trim_start_matches(':').trim().to_owned())
                })
                .unwrap_or_else(|| panic!("no {name} in {out}"))
        };
        let (id, secret) = (field("Key ID"), field("Secret key"));
        self.garage(
            0,
            &[
                "bucket",
                "allow",
                "--read",
                "--write",
                "--owner",
                "localhost",
                "--key",
                "provlog-publisher",
            ],
        );
        self.garage(0, &["bucket", "website", "--allow", "localhost"]);
        (id, secret)
    }

    fn kill(&mut self, n: usize) {
        if let Some(mut c) = self.nodes[n].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

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
