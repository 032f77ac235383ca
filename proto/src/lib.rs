//! # provlog-proto
//!
//! Everything a provlog client, monitor, witness or auditor needs to speak the
//! log's formats, and nothing that does I/O: no clock, no randomness, no
//! network, no disk. Callers pass bytes, timestamps and seeds in, and get
//! bytes and verdicts out.
//!
//! | module | implements |
//! | --- | --- |
//! | [`merkle`] | RFC 6962 / RFC 9162 §2.1 hashing, the compact range, proof generation over a [`merkle::HashSource`] and proof verification |
//! | [`keys`] | C2SP signed-note Ed25519 keys (`PRIVATE+KEY+…` and vkeys), key IDs, cosignature/v1 keys |
//! | [`note`] | C2SP signed-note: parse, sign, verify |
//! | [`checkpoint`] | C2SP tlog-checkpoint note text |
//! | [`tile`] | C2SP tlog-tiles paths, tile math and entry-bundle framing |
//! | [`event`] | the provisioning event (schema version 1) and its validation |
//! | [`leaf`] | the leaf object and its RFC 8785 canonical bytes |
//! | [`policy`] | the submitter registry and delegated-authority scope |
//! | [`submission`] | what a submitter sends and the message it signs |
//! | [`receipt`] | receipts and C2SP tlog-proof, and their offline verification |
//! | [`credential`] | credential state derived from logged events, and offline checks of credential answers |
//! | [`fork`] | fork evidence: two signed checkpoints that cannot both be true |
//! | [`lifecycle`] | credential lifecycle rules a monitor checks over the event stream |
//! | [`audit`] | replaying a log to rebuild the authority every event ran under |
//! | [`witness`] | C2SP tlog-witness add-checkpoint request bodies |
//! | [`b64`] | the one base64 dialect used on the wire |

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::cast_possible_truncation))]

pub mod audit;
pub mod b64;
pub mod checkpoint;
pub mod credential;
pub mod event;
pub mod fork;
pub mod hex;
pub mod json;
pub mod keys;
pub mod leaf;
pub mod lifecycle;
pub mod merkle;
pub mod note;
pub mod policy;
pub mod receipt;
pub mod submission;
pub mod tile;
pub mod time;
pub mod witness;

pub use merkle::{Hash, NodeId};
