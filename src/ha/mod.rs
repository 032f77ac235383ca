//! High availability: several `provlog serve` processes share one log (the
//! same key, origin, object store and etcd cluster); at most one of them,
//! the **sequencer**, appends and signs at any time, and nothing it signs
//! is published or acknowledged unless etcd agrees it still may (docs/HA.md).
//!
//! | module | holds |
//! | --- | --- |
//! | [`coordinator`] | the etcd side: the leader key on a lease, its keep-alive, and the compare-and-swap of the latest checkpoint that fences a deposed sequencer |
//! | [`follow`] | a standby's catch-up from the object store to the fenced checkpoint, verified before it is written |
//! | [`fence`] | the sequencer's write under HA: a batch's tiles to the object store, its checkpoint fenced, then the local write |
//! | [`role`] | a node's role in `provlog serve`: standby (follow, campaign) or sequencer (fenced writes), and the restart between them |
//!
//! The coordinator knows nothing of the log: it moves opaque checkpoint
//! notes and compares etcd revisions. What a checkpoint means, and what
//! must be in the object store before it is fenced, is the caller's.

pub mod coordinator;
pub mod fence;
pub mod follow;
pub mod role;

pub use coordinator::{Coordinator, Fenced, HaError, LeaderInfo, Settings, Term};
