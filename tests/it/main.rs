//! The integration tests, as one test binary (`it`): each module was its own
//! binary before, each linking the whole crate and its `RocksDB` again. They
//! all drive the real `provlog` binary over real sockets; `common` holds
//! what they share.
//!
//! Run one area with a filter, e.g. `cargo nextest run --release -E
//! 'binary(it) and test(/^witness::/)'` or `cargo test --release --test it
//! witness::`.

mod common;

mod accountability;
mod alarms;
mod alerting;
mod api;
mod approvals;
mod bad_input;
mod cedar;
mod chains;
mod cli;
mod cli_errors;
mod cli_output;
mod crash;
mod defects;
mod deploy;
mod docs;
mod evidence;
mod explorer;
mod fsck;
mod garage;
mod gate;
mod ha;
mod ha_cluster;
mod interop;
mod map_versions;
mod monitor;
mod observability;
mod openapi;
mod origin_binding;
mod overload;
mod ownership;
mod publish;
mod refusals;
mod rotation;
mod scale;
mod scitt;
mod sdk_vectors;
mod witness;
