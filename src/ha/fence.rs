//! The sequencer's write under high availability: a batch's tiles and
//! bundles to the object store, then its checkpoint fenced in etcd, then
//! the local synced write; the committer answers the batch's waiters only
//! after all three (docs/HA.md).
//!
//! [`FencedWrites`] is the [`Durable`] the sequencer writes through when it
//! runs under `[ha]`. A batch that cannot be fenced is not written
//! locally either: the store stays at the fenced state, the committer
//! stops the log (every waiter gets `503`), and the node restarts as a
//! standby.

use super::{Coordinator, HaError, Term};
use crate::log::sequencer::Durable;
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, AttributeValue, Attributes, ObjectStore, PutOptions, PutPayload};
use provlog_storage::{AppendBatch, StorageError, Store};
use provlog_tlog::merkle::Hash;
use provlog_tlog::tile::TileId;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Objects uploaded at once.
const PARALLEL_UPLOADS: usize = 16;

/// What a fenced write reports to the role supervisor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FenceState {
    /// The size of the latest fenced checkpoint.
    pub size: u64,
    /// Its etcd revision.
    pub revision: i64,
    /// Why fencing stopped, once it has: the node must step down.
    pub stopped: Option<String>,
}

/// The sequencer's [`Durable`] under `[ha]`.
pub struct FencedWrites {
    store: Arc<Store>,
    objects: Arc<dyn ObjectStore>,
    /// Whether the backend keeps content types and cache control.
    attributes: bool,
    coordinator: Coordinator,
    term: Arc<Term>,
    /// The revision of the latest fenced checkpoint: the `prev` of the
    /// next fence.
    prev: Mutex<i64>,
    rt: tokio::runtime::Handle,
    state: watch::Sender<FenceState>,
    /// The latest locally written note, for the checkpoint object.
    checkpoint: watch::Sender<Option<Vec<u8>>>,
    /// Batches handed over and not yet written locally, oldest first,
    /// with their uploads (taken by `append`).
    pending: Mutex<VecDeque<Prepared>>,
}

/// A batch whose upload started before its turn to be fenced.
struct Prepared {
    /// The batch's entries and nodes: the later batches' objects are made
    /// over them until they are written locally.
    batch: Arc<AppendBatch>,
    /// The upload, until `append` takes it.
    upload: Option<tokio::task::JoinHandle<Result<Duration, Refused>>>,
}

impl std::fmt::Debug for FencedWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FencedWrites")
            .field("term", &self.term.revision)
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl FencedWrites {
    /// Writes through `store` for `term`, over the checkpoint fenced at
    /// `revision` (the caller caught the store up to it). Uploads go to
    /// `objects` (`attributes`: whether to send content type and cache
    /// control); the async work runs on `rt`, from the committer's thread.
    #[must_use]
    pub fn new(
        store: Arc<Store>,
        objects: Arc<dyn ObjectStore>,
        attributes: bool,
        coordinator: Coordinator,
        term: Arc<Term>,
        revision: i64,
        rt: tokio::runtime::Handle,
    ) -> (Arc<Self>, watch::Receiver<FenceState>) {
        let (checkpoint, latest) = watch::channel(None);
        let options = put_options(
            attributes,
            "text/plain; charset=utf-8",
            crate::http::CHECKPOINT_CACHE_CONTROL,
        );
        rt.spawn(put_checkpoints(Arc::clone(&objects), options, latest));
        let (state, rx) = watch::channel(FenceState {
            size: store.size(),
            revision,
            stopped: None,
        });
        (
            Arc::new(Self {
                store,
                objects,
                attributes,
                coordinator,
                term,
                prev: Mutex::new(revision),
                rt,
                state,
                checkpoint,
                pending: Mutex::default(),
            }),
            rx,
        )
    }

    /// The batch's upload: the one [`Durable::prepare`] started, or one
    /// started now. Returns how long the upload took.
    async fn uploaded(&self, batch: &AppendBatch) -> Result<Duration, Refused> {
        let end = batch.start + batch.entries.len() as u64;
        let started = crate::util::sync::lock(&self.pending, "prepared uploads")
            .iter_mut()
            .find(|p| p.batch.start == batch.start && p.batch.start + p.batch.entries.len() as u64 == end)
            .and_then(|p| p.upload.take());
        if let Some(task) = started {
            return task
                .await
                .map_err(|e| Refused(format!("the upload task failed: {e}")))?;
        }
        let objects = self.store.new_objects(batch).map_err(|e| Refused(e.to_string()))?;
        upload(
            Arc::clone(&self.objects),
            objects,
            self.attributes,
            self.term.remaining(),
        )
        .await
    }

    /// Waits for the batch's objects to be uploaded and fences its
    /// checkpoint; returns the new revision.
    async fn publish(&self, batch: &AppendBatch, prev: i64) -> Result<i64, Refused> {
        let started = std::time::Instant::now();
        let upload_took = self.uploaded(batch).await?;
        let waited = started.elapsed();
        let fenced = self
            .coordinator
            .fence(&self.term, prev, &batch.checkpoint)
            .await
            .map_err(|e| Refused(crate::util::error_chain(&e)));
        tracing::debug!(
            entries = batch.entries.len(),
            upload_ms = upload_took.as_millis(),
            waited_ms = waited.as_millis(),
            fence_ms = started.elapsed().saturating_sub(waited).as_millis(),
            "batch uploaded and fenced"
        );
        fenced
    }

    /// Stops every upload still running (the node steps down).
    fn abort_uploads(&self) {
        for p in crate::util::sync::lock(&self.pending, "prepared uploads").iter_mut() {
            if let Some(task) = p.upload.take() {
                task.abort();
            }
        }
    }

    fn stop(&self, why: &str) {
        self.state.send_modify(|s| {
            if s.stopped.is_none() {
                s.stopped = Some(why.to_owned());
            }
        });
    }
}

/// Writes the checkpoint object, the latest note each time, after the
/// local writes: readers of the store find tiles for every checkpoint they
/// see there. Ends when the writer is dropped.
async fn put_checkpoints(
    objects: Arc<dyn ObjectStore>,
    options: PutOptions,
    mut latest: watch::Receiver<Option<Vec<u8>>>,
) {
    while latest.changed().await.is_ok() {
        let Some(note) = latest.borrow_and_update().clone() else {
            continue;
        };
        if let Err(e) = objects
            .put_opts(&ObjectPath::from("checkpoint"), PutPayload::from(note), options.clone())
            .await
        {
            // The fenced checkpoint in etcd is the authority; the next
            // batch writes the object again.
            tracing::warn!(error = %e, "writing the checkpoint object");
        }
    }
}

/// Uploads `objects` (at most [`PARALLEL_UPLOADS`] at once), all within
/// `left`: no upload may outlast the term, since one that did could land
/// after a successor's and replace its bytes. Returns how long it took.
async fn upload(
    store: Arc<dyn ObjectStore>,
    objects: Vec<(TileId, Vec<u8>)>,
    attributes: bool,
    left: Duration,
) -> Result<Duration, Refused> {
    let started = std::time::Instant::now();
    if left.is_zero() {
        return Err(Refused(HaError::Deposed { leader: None }.to_string()));
    }
    let options = put_options(
        attributes,
        "application/octet-stream",
        crate::http::IMMUTABLE_CACHE_CONTROL,
    );
    let store = &store;
    let options = &options;
    let uploads = futures_util::stream::iter(objects.into_iter().map(|(tile, body)| async move {
        let path = tile.path();
        store
            .put_opts(
                &ObjectPath::from(path.as_str()),
                PutPayload::from(body),
                options.clone(),
            )
            .await
            .map_err(|e| Refused(format!("uploading {path}: {e}")))
    }))
    .buffer_unordered(PARALLEL_UPLOADS)
    .collect::<Vec<_>>();
    let results = tokio::time::timeout(left, uploads)
        .await
        .map_err(|_| Refused("the uploads did not finish within the term".into()))?;
    for r in results {
        r?;
    }
    Ok(started.elapsed())
}

/// The options of a PUT: content type and cache control if the backend
/// keeps them (`attributes`).
fn put_options(attributes: bool, content_type: &'static str, cache: &'static str) -> PutOptions {
    let mut a = Attributes::new();
    if attributes {
        a.insert(Attribute::ContentType, AttributeValue::from(content_type));
        a.insert(Attribute::CacheControl, AttributeValue::from(cache));
    }
    PutOptions {
        attributes: a,
        ..PutOptions::default()
    }
}

/// A write refused before it reached the store.
#[derive(Debug)]
struct Refused(String);

impl Durable for FencedWrites {
    fn dedup_many(&self, keys: &[&[u8]]) -> Vec<Result<Option<u64>, StorageError>> {
        Durable::dedup_many(self.store.as_ref(), keys)
    }
    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Durable::entry(self.store.as_ref(), index)
    }
    fn append(&self, batch: &AppendBatch) -> Result<(), StorageError> {
        if let Some(why) = self.state.borrow().stopped.clone() {
            return Err(StorageError::Refused(why));
        }
        let prev = *crate::util::sync::lock(&self.prev, "fence revision");
        let revision = match self.rt.block_on(self.publish(batch, prev)) {
            Ok(r) => r,
            Err(Refused(why)) => {
                tracing::error!(error = %why, "the batch was not fenced: stepping down");
                self.stop(&why);
                self.abort_uploads();
                return Err(StorageError::Refused(why));
            }
        };
        *crate::util::sync::lock(&self.prev, "fence revision") = revision;
        // Fenced: the local write makes it durable here too. A failure now
        // stops this node like any failed write; the fenced state is in
        // the object store and etcd, and the restart catches up from it.
        Durable::append(self.store.as_ref(), batch)?;
        let size = batch.start + batch.entries.len() as u64;
        // Written: later batches' objects read it from the store now.
        {
            let mut pending = crate::util::sync::lock(&self.pending, "prepared uploads");
            while pending
                .front()
                .is_some_and(|p| p.batch.start + p.batch.entries.len() as u64 <= size)
            {
                pending.pop_front();
            }
        }
        self.state.send_modify(|s| {
            s.size = size;
            s.revision = revision;
        });
        // Not in the write path: the waiters are answered meanwhile. One
        // task writes the latest note, so the object never goes back.
        self.checkpoint.send_replace(Some(batch.checkpoint.clone()));
        Ok(())
    }
    /// Starts the batch's upload at once, over the batches handed over
    /// before it that are not written yet: the uploads of consecutive
    /// batches overlap, their fences stay in order (`append` fences a batch
    /// only after its upload and the fence of the one before). A batch
    /// that cannot be prepared (one before it was not) uploads in
    /// `append`.
    fn prepare(&self, batch: &AppendBatch) {
        if self.state.borrow().stopped.is_some() {
            return;
        }
        let chain: Vec<Arc<AppendBatch>> = crate::util::sync::lock(&self.pending, "prepared uploads")
            .iter()
            .map(|p| Arc::clone(&p.batch))
            .collect();
        let before: Vec<&AppendBatch> = chain.iter().map(AsRef::as_ref).collect();
        let objects = match self.store.new_objects_after(&before, batch) {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(error = %e, start = batch.start, "not prepared: the batch uploads when written");
                return;
            }
        };
        let task = self.rt.spawn(upload(
            Arc::clone(&self.objects),
            objects,
            self.attributes,
            self.term.remaining(),
        ));
        // Only what later batches' objects need.
        let kept = AppendBatch {
            start: batch.start,
            entries: batch.entries.clone(),
            nodes: batch.nodes.clone(),
            ..AppendBatch::default()
        };
        crate::util::sync::lock(&self.pending, "prepared uploads").push_back(Prepared {
            batch: Arc::new(kept),
            upload: Some(task),
        });
    }
    fn set_frozen(&self) -> Result<u64, StorageError> {
        Durable::set_frozen(self.store.as_ref())
    }
    fn map_node(
        &self,
        at: provlog_proto::map_nodes::At,
    ) -> Result<Option<provlog_proto::map_nodes::Node>, StorageError> {
        Durable::map_node(self.store.as_ref(), at)
    }
    fn map_record(&self, value: &Hash) -> Result<Option<Vec<u8>>, StorageError> {
        Durable::map_record(self.store.as_ref(), value)
    }
    fn size(&self) -> u64 {
        Durable::size(self.store.as_ref())
    }
    fn approval_uses(&self, approver: &str, id: &str, limit: usize) -> Result<(Option<Hash>, Vec<u64>), StorageError> {
        Durable::approval_uses(self.store.as_ref(), approver, id, limit)
    }
}
