//! Followers of the log: components that read it as it grows and act
//! outside it, each through [`crate::log::LogView`] rather than the log
//! itself, so the log knows none of them.
//!
//! | module | holds |
//! | --- | --- |
//! | [`publish`] | publishing the static API to object storage, write-once, tiles before the checkpoint; the [`crate::log::AckGate`] of `ack_after_publish` |
//! | [`cosign`] | the log side of C2SP tlog-witness: sending checkpoints to witnesses and keeping the cosigned ones |

pub mod cosign;
pub mod publish;
