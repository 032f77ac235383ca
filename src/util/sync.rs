//! Locks whose poisoning is surfaced, not swallowed.
//!
//! A lock is poisoned when a thread panicked while holding it. The write
//! path's shared state (the sequencer's in-flight set and failure cause)
//! stops the log when that happens (`Unavailable::Poisoned`). Everywhere
//! else provlog locks a value that is only ever replaced whole (the
//! registry in force, the cosigned checkpoints, the publisher's status), so
//! the value under a poisoned lock is still one that was written in full:
//! these helpers take it, and say so in the log at error level, naming the
//! lock, so the panic that caused it is not silent.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

fn poisoned(what: &str) {
    tracing::error!(
        lock = what,
        "a thread panicked while holding this lock; its last complete value is used"
    );
}

/// Locks `m`, surfacing poisoning (see the module documentation).
pub fn lock<'a, T>(m: &'a Mutex<T>, what: &str) -> MutexGuard<'a, T> {
    m.lock().unwrap_or_else(|p| {
        poisoned(what);
        p.into_inner()
    })
}

/// Read-locks `l`, surfacing poisoning (see the module documentation).
pub fn read<'a, T>(l: &'a RwLock<T>, what: &str) -> RwLockReadGuard<'a, T> {
    l.read().unwrap_or_else(|p| {
        poisoned(what);
        p.into_inner()
    })
}

/// Write-locks `l`, surfacing poisoning (see the module documentation).
pub fn write<'a, T>(l: &'a RwLock<T>, what: &str) -> RwLockWriteGuard<'a, T> {
    l.write().unwrap_or_else(|p| {
        poisoned(what);
        p.into_inner()
    })
}
