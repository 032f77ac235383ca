//! The committer thread: writes each batch the sequencer assembled as one
//! synced write, then publishes its checkpoint and answers the waiters.
//! Nothing is answered before its write returned; a failed write stops
//! the log for good (every waiter of that batch and every later submission
//! gets [`Unavailable`]) and a restart resumes from the durable state.

use super::{Durable, FreezeReply, Outcome, Published, Reply, SeqError, Sequenced, Shared, Unavailable};
use provlog_storage::AppendBatch;
use provlog_tlog::merkle::Hash;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Instant;

/// Someone waiting for an entry of a batch to be durable.
pub struct Waiter {
    /// Where the answer goes.
    pub reply: Reply,
    /// The entry's index.
    pub index: u64,
    /// Its bytes and inclusion proof, computed in memory.
    pub parts: Option<Arc<(Vec<u8>, Vec<Hash>)>>,
}

/// One batch commit, unpacked.
pub struct CommitParts {
    /// What to write.
    pub batch: AppendBatch,
    /// Who waits for it.
    pub waiters: Vec<Waiter>,
    /// The root of the tree after it.
    pub root: Hash,
    /// When the sequencer took the batch's jobs off the queue.
    pub closed: Instant,
}

/// What the sequencer hands the committer.
pub enum Commit {
    /// A batch to write.
    Batch(Box<CommitParts>),
    /// Everything before is written: mark the log frozen.
    Freeze(FreezeReply),
}

/// The committer loop: one commit at a time, then the sequencer may close
/// the next batch (`ready`).
pub(super) fn run(store: &dyn Durable, shared: &Shared, rx: &Receiver<Commit>, ready: &SyncSender<()>) {
    while let Ok(c) = rx.recv() {
        commit_one(store, shared, c);
        let _ = ready.try_send(());
    }
}

/// Removes a batch's keys from the in-flight set and returns the retries
/// that waited on them. Called only after the batch's write returned, so a
/// lookup that misses the in-flight set finds the key in the store.
fn take_retries(shared: &Shared, batch: &AppendBatch) -> Result<Vec<(Reply, u64)>, Unavailable> {
    let mut inflight = shared.inflight()?;
    Ok(batch
        .dedup
        .iter()
        .filter_map(|(k, _)| inflight.remove(k))
        .flat_map(|inf| {
            let index = inf.index;
            inf.waiters.into_iter().map(move |w| (w, index))
        })
        .collect())
}

fn freeze(store: &dyn Durable, shared: &Shared, reply: FreezeReply) {
    let res = match shared.fatal() {
        Some(why) => Err(why.into()),
        None => match store.set_frozen() {
            Ok(size) => {
                shared.frozen.store(true, Ordering::Release);
                tracing::warn!(tree_size = size, "the log is frozen: read-only from now on");
                Ok(shared.state.borrow().clone())
            }
            Err(e) => Err(SeqError::from(Unavailable::Freeze(Arc::new(e)))),
        },
    };
    let _ = reply.send(res);
}

/// Answers everyone waiting on a batch that was not written.
fn fail(shared: &Shared, c: CommitParts, why: &Unavailable) {
    tracing::error!(error = %crate::util::error_chain(why), "the log stops accepting entries");
    shared.set_fatal(why.clone());
    if let Ok(retries) = take_retries(shared, &c.batch) {
        for (w, _) in retries {
            let _ = w.send(Err(why.clone().into()));
        }
    }
    for w in c.waiters {
        let _ = w.reply.send(Err(why.clone().into()));
    }
}

fn commit_one(store: &dyn Durable, shared: &Shared, c: Commit) {
    let c = match c {
        Commit::Batch(parts) => *parts,
        Commit::Freeze(reply) => return freeze(store, shared, reply),
    };
    let write_started = Instant::now();
    if let Some(why) = shared.fatal() {
        return fail(shared, c, &why);
    }
    if let Err(e) = store.append(&c.batch) {
        let why = Unavailable::Write {
            start: c.batch.start,
            source: Arc::new(e),
        };
        return fail(shared, c, &why);
    }
    let fsync = write_started.elapsed();
    let published = Arc::new(Published {
        size: c.batch.start + c.batch.entries.len() as u64,
        root: c.root,
        checkpoint: String::from_utf8_lossy(&c.batch.checkpoint).into_owned(),
    });
    shared.state.send_replace(Arc::clone(&published));
    shared
        .metrics
        .batch_committed(c.batch.entries.len() as u64, published.size, c.closed.elapsed(), fsync);
    tracing::debug!(
        tree_size = published.size,
        batch = c.batch.entries.len(),
        "batch committed"
    );
    // A poisoned in-flight set: the batch is durable and its own waiters
    // are answered; retries attached to it cannot be found and get the
    // failure when their channel drops.
    let dups = take_retries(shared, &c.batch).unwrap_or_default();
    for w in c.waiters {
        let _ = w.reply.send(Ok(Sequenced {
            index: w.index,
            outcome: Outcome::Created,
            published: Arc::clone(&published),
            receipt_parts: w.parts,
        }));
    }
    for (w, index) in dups {
        let _ = w.send(Ok(Sequenced {
            index,
            outcome: Outcome::Duplicate,
            published: Arc::clone(&published),
            receipt_parts: None,
        }));
    }
}
