//! What the integration tests share. Every test drives the real `provlog`
//! binary: [`Server`] is `provlog serve` on a free port with its own data
//! directory, [`spawn_ready`] any other service (witness, monitor), both
//! ready when the service prints its machine-readable ready line.
//!
//! * `server`: starting services and waiting for their ready line;
//! * `proc`: the binary run to completion, child guards, the machine (RSS,
//!   free ports, where the tools are installed);
//! * `http`: clients of a running log, and raw sockets;
//! * `events`: events and signed submissions;
//! * `keys`: key files as the binary expects them;
//! * `mirror`: in-process HTTP servers in front of a log (tampering proxy,
//!   static directory);
//! * `static_log`: an in-process log serving whatever entries a test made;
//! * `witness`: a real witness process, and waiting for a witnessed checkpoint;
//! * `etcd`: a real three-member etcd cluster on loopback;
//! * `garage`: a real three-node Garage cluster on loopback.

mod etcd;
mod events;
mod garage;
mod http;
mod keys;
mod mirror;
mod proc;
mod server;
mod static_log;
mod witness;

pub(crate) use etcd::EtcdCluster;
pub(crate) use events::{
    event, fingerprint_of, now_plus, raw_submission, submission, verify_credential, verify_credential_with,
};
pub(crate) use garage::GarageCluster;
pub(crate) use http::{
    checkpoint, client, get, get_json, plain_event, post, raw, register, submit_many, submit_many_plain, wait_log,
};
pub(crate) use keys::{dev_submitter, put_log_key, write_key};
pub(crate) use mirror::{serve_dir, tamper_proxy};
pub(crate) use proc::{BIN, Killed, free_port, peak_rss_kb, rss_kb, run, run_capped, run_env, run_peak, tools_dir};
pub(crate) use server::{Server, spawn_ready, start_ready};
pub(crate) use static_log::static_log;
pub(crate) use witness::{start_witness_on, wait_witnessed};
