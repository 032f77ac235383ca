//! The signature-verification pool: Ed25519 checks run on a few dedicated
//! threads, off the async workers, behind a bounded queue. When the queue is
//! full, callers are told at once (HTTP 503) instead of waiting without
//! bound.
//!
//! Every signature is checked with `verify_strict` (docs/DESIGN.md: signatures
//! that decide trust); a worker drains up to [`DRAIN`] queued checks at a
//! time to amortize wake-ups.

use provlog_tlog::keys::VerifierKey;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Most checks a worker takes from the queue at once.
pub const DRAIN: usize = 64;

struct Check {
    key: VerifierKey,
    msg: Vec<u8>,
    sig: [u8; 64],
    reply: oneshot::Sender<bool>,
}

/// The pool was full (or stopped); the caller should shed the request.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("the signature verification queue is full")]
pub struct PoolFull;

/// A fixed set of verification threads with a bounded queue.
#[derive(Debug, Clone)]
pub struct VerifyPool {
    tx: SyncSender<Check>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").finish_non_exhaustive()
    }
}

impl VerifyPool {
    /// Starts `threads` workers sharing a queue of `capacity` checks.
    ///
    /// # Errors
    /// The OS refused to start a thread.
    pub fn new(threads: usize, capacity: usize) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<Check>(capacity.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("provlog-verify-{i}"))
                .spawn(move || worker(&rx))?;
        }
        Ok(Self { tx })
    }

    /// Verifies `sig` over `msg` under `key` on the pool.
    ///
    /// # Errors
    /// [`PoolFull`] when the queue is full; nothing was checked.
    pub async fn verify(&self, key: VerifierKey, msg: Vec<u8>, sig: [u8; 64]) -> Result<bool, PoolFull> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Check { key, msg, sig, reply }) {
            Ok(()) => rx.await.map_err(|_| PoolFull),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(PoolFull),
        }
    }
}

fn worker(rx: &Mutex<Receiver<Check>>) {
    let mut batch = Vec::with_capacity(DRAIN);
    loop {
        {
            let rx = crate::util::sync::lock(rx, "verification queue");
            match rx.recv() {
                Ok(c) => batch.push(c),
                Err(_) => return,
            }
            while batch.len() < DRAIN {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
        }
        for c in batch.drain(..) {
            let ok = c.key.verify_raw(&c.msg, &c.sig);
            let _ = c.reply.send(ok);
        }
    }
}
