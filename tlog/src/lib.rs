//! # provlog-tlog
//!
//! The generic transparency-log code provlog is built on, with nothing of
//! provlog's own domain in it and no I/O: no clock, no randomness, no
//! network, no disk. Callers pass bytes and seeds in and get bytes and
//! verdicts out, so any project speaking RFC 6962 and the C2SP formats can
//! depend on this crate alone (as azul's `signed_note`/`tlog_tiles` are
//! separate from its workers). provlog's domain (events, leaves, policy,
//! receipts, credentials) is `provlog-proto`, which builds on this crate.
//!
//! | module | implements |
//! | --- | --- |
//! | [`merkle`] | RFC 6962 / RFC 9162 §2.1 hashing, the compact range, proof generation over a [`merkle::HashSource`] and proof verification |
//! | [`keys`] | C2SP signed-note Ed25519 keys (`PRIVATE+KEY+…` and vkeys), key IDs, cosignature/v1 keys |
//! | [`note`] | C2SP signed-note: parse, sign, verify; tlog-cosignature lines |
//! | [`mldsa`] | ML-DSA-44 `subtree/v1` cosignatures (C2SP tlog-cosignature v1.1): the message, signing from a seed, verification |
//! | [`checkpoint`] | C2SP tlog-checkpoint note text |
//! | [`policy`] | C2SP tlog-policy: logs, witnesses, nested k-of-n groups and the quorum a checkpoint must meet |
//! | [`tile`] | C2SP tlog-tiles paths, tile math and entry-bundle framing |
//! | [`replay`] | checking a tree from its level-0 tiles in order, in memory independent of its size |
//! | [`witness`] | C2SP tlog-witness add-checkpoint request bodies and the witness's judgement of them |
//! | [`b64`] | the one base64 dialect (standard, padded) the C2SP formats use |
//! | [`hex`] | lowercase hex, for vectors and diagnostics |

#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    expect(
        clippy::cast_possible_truncation,
        reason = "tests index small vectors and byte arrays with u64 values they built"
    )
)]

pub mod b64;
pub mod checkpoint;
pub mod hex;
pub mod keys;
pub mod merkle;
pub mod mldsa;
pub mod note;
pub mod policy;
pub mod replay;
pub mod tile;
pub mod witness;

pub use merkle::{Hash, NodeId};
