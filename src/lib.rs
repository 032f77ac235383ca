//! # provlog
//!
//! The provlog server and CLI: a transparency log for provisioning events of
//! non-human identities. See README.md for what it guarantees and
//! docs/DESIGN.md (in `../shared/docs`) for the contract it implements.
//!
//! | module | holds |
//! | --- | --- |
//! | [`config`] | the TOML config, its defaults and the embedded dev setup |
//! | [`keyfile`] | reading and writing signed-note key files |
//! | [`sequencer`] | group commit: one thread orders and signs, one writes and syncs |
//! | [`log`] | the running log: store, registry, published checkpoint |
//! | [`metrics`] | the Prometheus registry behind `GET /metrics` |
//! | [`publish`] | publishing the static API to object storage |
//! | [`verify_pool`] | signature verification off the async workers, bounded |
//! | [`ratelimit`] | per-submitter token buckets |
//! | [`server`] | the accept loop: connection cap, header/idle timeout, graceful shutdown |
//! | [`api`] | the axum router and its thin handlers |
//! | [`cli`] | the `provlog` subcommands |

#![forbid(unsafe_code)]

pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod cosign;
pub mod fetch;
pub mod keyfile;
pub mod log;
pub mod metrics;
pub mod monitor;
pub mod publish;
pub mod ratelimit;
pub mod sequencer;
pub mod server;
pub mod verify_pool;
pub mod witness;
