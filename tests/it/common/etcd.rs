//! A real etcd cluster on loopback: three members of Debian's
//! `etcd-server` (`scripts/setup --test` installs it), each with its own
//! data directory under the test's, that a test can kill and restart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The etcd binary.
fn etcd_bin() -> PathBuf {
    let bin = PathBuf::from("/usr/bin/etcd");
    assert!(
        bin.exists(),
        "{} is missing: install Debian's etcd-server (scripts/setup --test does)",
        bin.display()
    );
    bin
}

struct Member {
    name: String,
    data: PathBuf,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

/// Three etcd members forming one cluster.
pub(crate) struct EtcdCluster {
    dir: PathBuf,
    members: Vec<Member>,
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for n in 0..self.members.len() {
            self.kill(n);
        }
    }
}

impl EtcdCluster {
    /// Starts three members under `dir` and waits until the cluster
    /// answers a linearizable read.
    pub(crate) fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("etcd dir");
        let members = (0..3)
            .map(|n| Member {
                name: format!("etcd{n}"),
                data: dir.join(format!("etcd{n}")),
                client: super::free_port(),
                peer: super::free_port(),
                child: None,
            })
            .collect();
        let mut c = Self {
            dir: dir.to_owned(),
            members,
        };
        for n in 0..3 {
            c.spawn(n);
        }
        c.wait_healthy();
        c
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, n: usize) {
        let cluster = self.initial_cluster();
        let m = &mut self.members[n];
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", m.name)))
            .expect("etcd log");
        let client = format!("http://127.0.0.1:{}", m.client);
        let peer = format!("http://127.0.0.1:{}", m.peer);
        let child = Command::new(etcd_bin())
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&m.data)
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &cluster, "--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "provlog-test"])
            // Loopback: short heartbeats, so that losing a member's leader
            // is noticed in well under a second.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(["--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("etcd");
        m.child = Some(child);
    }

    /// Every member's client URL.
    pub(crate) fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client))
            .collect()
    }

    /// SIGKILLs member `n` (its data directory stays).
    pub(crate) fn kill(&mut self, n: usize) {
        if let Some(mut c) = self.members[n].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts member `n` on its data directory.
    pub(crate) fn restart(&mut self, n: usize) {
        assert!(self.members[n].child.is_none(), "member {n} is running");
        self.spawn(n);
    }

    /// Waits until a quorum answers: a member's `/health` says `true`.
    pub(crate) fn wait_healthy(&self) {
        for _ in 0..200 {
            for m in self.members.iter().filter(|m| m.child.is_some()) {
                if health(m.client) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the etcd cluster never became healthy; see {}/etcd*.log",
            self.dir.display()
        );
    }
}

/// Whether the member listening on `port` reports a healthy cluster (it
/// has a leader and a quorum).
fn health(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut t) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = t.set_read_timeout(Some(Duration::from_secs(3)));
    if t.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = t.read_to_string(&mut body);
    body.contains("\"health\":\"true\"")
}
