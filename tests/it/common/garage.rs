//! A real Garage cluster on loopback: three nodes with replication factor
//! 3, the object store of the publishing and high-availability tests. The
//! binary comes from `scripts/garage` (installed once per machine, outside
//! the clone; `scripts/test` runs it first).

use super::tools_dir;
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

/// One Garage node: its config, process and ports.
pub(crate) struct Node {
    config: PathBuf,
    child: Option<Child>,
    /// The S3 API port.
    pub(crate) s3: u16,
    /// The web endpoint port.
    pub(crate) web: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Three Garage nodes, replication factor 3, on loopback.
pub(crate) struct GarageCluster {
    bin: PathBuf,
    pub(crate) nodes: Vec<Node>,
}

impl GarageCluster {
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

    pub(crate) fn start(dir: &Path) -> Self {
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
                super::free_port(),
                super::free_port(),
                super::free_port(),
                super::free_port(),
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
    pub(crate) fn wait_s3(&self, n: usize) {
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
    pub(crate) fn bucket_and_key(&self) -> (String, String) {
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

    pub(crate) fn kill(&mut self, n: usize) {
        if let Some(mut c) = self.nodes[n].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
