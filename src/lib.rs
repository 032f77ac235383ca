//! # provlog
//!
//! The provlog server and CLI: a transparency log for provisioning events of
//! non-human identities. See README.md for what it guarantees,
//! docs/DESIGN.md for the contract it implements and docs/ARCHITECTURE.md
//! for the layers and the path of a write and a read.
//!
//! Dependencies run one way: `provlog-tlog` (generic C2SP/RFC code) ←
//! `provlog-proto` (provlog's domain) ← `provlog-storage` (`RocksDB`) ←
//! [`log`] ← {[`api`], [`follow`]} ← [`cli`]; [`client`] (the one reader of
//! a published log) sits beside [`log`] for the monitor and the CLI's
//! readers, and [`util`], [`config`], [`obs`] and [`http`] import no
//! component.
//!
//! | module | holds |
//! | --- | --- |
//! | [`util`] | the clock, stop signals, stdout, tokio runtimes, key files |
//! | [`config`] | the TOML config types, their defaults and the embedded dev setup |
//! | [`obs`] | the Prometheus registry behind `GET /metrics` and the `tracing` setup |
//! | [`http`] | the accept loop (connection cap, header/idle timeout, graceful shutdown) and body limits, for every server |
//! | [`log`] | the running log: admission, the sequencer and committer, the reader that owns the store |
//! | [`follow`] | followers of the log: the object-storage publisher and the witness client |
//! | [`client`] | the one reader of a published log: tiles over HTTP, an object store or a directory, verified |
//! | [`ha`] | high availability: the sequencer's lease and the fenced latest checkpoint in etcd |
//! | [`api`] | the axum router, its thin handlers and the one mapping of errors to HTTP |
//! | [`witness`] | `provlog witness`: the C2SP tlog-witness service |
//! | [`monitor`] | `provlog monitor`: follows logs, gossips, writes fork evidence |
//! | [`cli`] | the `provlog` subcommands, wiring the above |

#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod follow;
pub mod gate;
pub mod ha;
pub mod http;
pub mod log;
pub mod monitor;
pub mod obs;
pub mod util;
pub mod witness;
