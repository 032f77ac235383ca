//! # provlog-proto
//!
//! provlog's own domain: the formats a provlog client, monitor, witness or
//! auditor needs beyond the generic transparency-log ones, and nothing that
//! does I/O: no clock, no randomness, no network, no disk. Callers pass
//! bytes, timestamps and seeds in, and get bytes and verdicts out. The
//! generic formats it builds on (Merkle math, signed notes, keys,
//! checkpoints, tiles, witness framing) are the `provlog-tlog` crate.
//!
//! | module | implements |
//! | --- | --- |
//! | [`event`] | the provisioning event (schema version 1) and its validation |
//! | [`leaf`] | the leaf object and its RFC 8785 canonical bytes |
//! | [`policy`] | the submitter registry and delegated-authority scope |
//! | [`approval`] | approvers, approval rules and signed approvals, and their checks |
//! | [`cedar`] | the registry's Cedar policies: checked at reload, evaluated per event by the log and by auditors |
//! | [`chain`] | per-submitter chains (`seq`/`prev`), heartbeats and the chain records the map commits |
//! | [`submission`] | what a submitter sends and the message it signs |
//! | [`refusal`] | signed refusals: the log's signed statement that it refused an authenticated submission, and why |
//! | [`receipt`] | receipts and C2SP tlog-proof, and their offline verification |
//! | [`credential`] | credential state derived from logged events, and offline checks of credential answers |
//! | [`explain`] | the four audit questions about one entry, answered from served evidence and checked offline |
//! | [`fork`] | fork evidence: two signed checkpoints that cannot both be true |
//! | [`lifecycle`] | credential lifecycle rules a monitor checks over the event stream |
//! | [`map`] | `provlog-map-v1`: the verifiable map (binary Patricia trie) with proofs of inclusion and absence (docs/MAP.md) |
//! | [`map_nodes`] | the map as stored nodes, numbered in the order they are made: proofs of any stored version and batched updates |
//! | [`ledger`] | who owns each credential and its state record, the rules events follow, and the map over the records |
//! | [`audit`] | replaying a log to rebuild the authority every event ran under |
//! | [`book`] | what a replay learns per key (records, map nodes, approvals' uses, lifecycle), kept in a store so that memory does not grow with the log |
//! | [`json`] | strict JSON input (no repeated member names, bounded depth) and RFC 8785 canonical output |
//! | [`time`] | RFC 3339 timestamps in milliseconds |

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    test,
    expect(
        clippy::cast_possible_truncation,
        reason = "tests index small vectors and byte arrays with u64 values they built"
    )
)]

pub mod approval;
pub mod audit;
pub mod book;
pub mod cedar;
pub mod chain;
pub mod cose_receipt;
pub mod credential;
pub mod event;
pub mod evidence;
pub mod explain;
pub mod fork;
pub mod json;
pub mod leaf;
pub mod ledger;
pub mod lifecycle;
pub mod map;
pub mod map_nodes;
pub mod policy;
pub mod receipt;
pub mod refusal;
pub mod rotation;
pub mod statement;
pub mod submission;
pub mod time;

pub use provlog_tlog::{Hash, NodeId};
