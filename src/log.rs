//! The running log: storage, the registry in force, the sequencer, and the
//! operations the HTTP handlers call. Nothing here knows about HTTP.

use crate::config::Config;
use crate::sequencer::{EventJob, Published, SeqError, Sequenced, Sequencer, SequencerOptions};
use anyhow::{Context, Result, bail};
use provlog_proto::keys::VerifierKey;
use provlog_proto::merkle::{self, Hash};
use provlog_proto::policy::{Registry, ScopeError};
use provlog_proto::receipt::Receipt;
use provlog_proto::submission::{Submission, SubmissionError};
use provlog_storage::verify::{self, Depth};
use provlog_storage::{StorageError, Store, StoreOptions, dedup_key};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Limits the log enforces, as `/v1/log` reports them.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Limits {
    /// Largest entry (leaf) in bytes.
    pub max_entry_bytes: usize,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Most entries per sequenced batch.
    pub batch_max_entries: usize,
}

/// Why a submission failed, by what the client can do about it.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Malformed submission (400).
    #[error(transparent)]
    Invalid(#[from] SubmissionError),
    /// Unknown submitter (401).
    #[error("{0}")]
    UnknownSubmitter(String),
    /// Signature does not verify (401).
    #[error("signature does not verify under the key of submitter {0:?}")]
    BadSignature(String),
    /// Outside the submitter's scope (403).
    #[error("{0}")]
    Scope(ScopeError),
    /// The sequencer refused it (409, 503).
    #[error(transparent)]
    Sequencer(#[from] SeqError),
}

/// Failures reading the log.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Something the caller asked for does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is impossible for the current tree (400).
    #[error("{0}")]
    Invalid(String),
    /// Storage failed (500).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A read task died (500).
    #[error("read task failed: {0}")]
    Task(String),
}

/// The running log.
#[derive(Debug)]
pub struct Log {
    /// The store; readers must stay within a published size.
    pub store: Arc<Store>,
    /// The write path.
    pub sequencer: Sequencer,
    registry: RwLock<Arc<Registry>>,
    /// The checkpoint origin.
    pub origin: String,
    /// The log's verifier key.
    pub vkey: VerifierKey,
    /// Enforced limits.
    pub limits: Limits,
}

fn millis_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Log {
    /// Opens the data directory, checks the stored tree against its latest
    /// checkpoint (refusing to start on any mismatch), starts the sequencer,
    /// and logs a `policy` entry if the registry in force differs from the
    /// last logged one (always on first start, so entry 0 is a policy leaf).
    ///
    /// # Errors
    /// Anything that makes the log unsafe to serve.
    pub async fn open(cfg: &Config, registry: Registry) -> Result<Arc<Self>> {
        let (signer, _) = cfg.load_or_create_log_key()?;
        let vkey = signer.verifier();
        let dir = cfg.data_dir.clone();
        let key = vkey.clone();
        let store = tokio::task::spawn_blocking(move || -> Result<Store> {
            let store = Store::open(&dir.join("db"), &StoreOptions::default())
                .with_context(|| format!("opening the store in {}", dir.display()))?;
            match verify::check(&store, &key, Depth::Tree) {
                Ok(cp) => {
                    if let Some(cp) = cp {
                        tracing::info!(tree_size = cp.size, "stored tree matches the latest checkpoint");
                    }
                    Ok(store)
                }
                Err(e) => bail!(
                    "refusing to start: the data in {} does not match its latest checkpoint: {e}",
                    dir.display()
                ),
            }
        })
        .await??;
        let store = Arc::new(store);
        let sequencer = Sequencer::start(
            Arc::clone(&store),
            signer,
            SequencerOptions {
                batch_max_entries: cfg.batch_max_entries,
                batch_max_wait: Duration::from_millis(cfg.batch_max_wait_ms),
                queue_capacity: cfg.queue_capacity,
            },
        )?;
        let log = Arc::new(Self {
            store,
            sequencer,
            registry: RwLock::new(Arc::new(registry)),
            origin: cfg.origin.clone(),
            vkey,
            limits: Limits {
                max_entry_bytes: provlog_proto::tile::MAX_ENTRY_BYTES,
                max_body_bytes: cfg.max_body_bytes,
                batch_max_entries: cfg.batch_max_entries,
            },
        });
        log.log_policy_if_changed().await?;
        Ok(log)
    }

    /// Appends a policy leaf if the registry in force is not the last one
    /// logged.
    async fn log_policy_if_changed(&self) -> Result<()> {
        let reg = self.registry();
        let want = reg.policy().canonical();
        let store = Arc::clone(&self.store);
        let last = tokio::task::spawn_blocking(move || store.policy()).await??;
        if last.as_ref().map(|p| &p.canonical) != Some(&want) {
            let s = self
                .sequencer
                .append_policy(reg.policy().clone())
                .await
                .context("logging the submitter registry")?;
            tracing::info!(index = s.index, "logged the submitter registry in force");
        }
        Ok(())
    }

    /// The registry in force.
    #[must_use]
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The latest durable checkpoint.
    #[must_use]
    pub fn published(&self) -> Arc<Published> {
        self.sequencer.published()
    }

    /// Checks and sequences one submission body; returns once durable.
    ///
    /// # Errors
    /// [`SubmitError`]; nothing is appended on error.
    pub async fn submit(&self, body: &[u8]) -> Result<Sequenced, SubmitError> {
        let sub = Submission::parse(body)?;
        let reg = self.registry();
        let submitter = reg
            .submitter(&sub.submitter)
            .map_err(|e| SubmitError::UnknownSubmitter(e.to_string()))?;
        if !sub.verify(&submitter.key) {
            return Err(SubmitError::BadSignature(sub.submitter));
        }
        reg.check_scope(&sub.submitter, &sub.event.event, millis_now())
            .map_err(SubmitError::Scope)?;
        let job = EventJob {
            dedup_key: dedup_key(&sub.submitter, &sub.event.event.event_id),
            template: sub.leaf,
        };
        Ok(self.sequencer.submit(job).await?)
    }

    /// A receipt for entry `index` against `published` (which must include
    /// it).
    ///
    /// # Errors
    /// [`ReadError::NotFound`] beyond the published size; storage errors.
    pub async fn receipt(self: &Arc<Self>, index: u64, published: Arc<Published>) -> Result<Receipt, ReadError> {
        let log = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            if index >= published.size {
                return Err(ReadError::NotFound(format!(
                    "no entry {index}: the tree has {} entries",
                    published.size
                )));
            }
            let entry = log
                .store
                .entry(index)?
                .ok_or_else(|| ReadError::NotFound(format!("entry {index} is not stored")))?;
            let proof = merkle::inclusion_proof(index, published.size, log.store.as_ref()).map_err(proof_err)?;
            Ok(Receipt::new(index, &entry, &published.checkpoint, &proof))
        })
        .await
        .map_err(|e| ReadError::Task(e.to_string()))?
    }

    /// Runs a blocking read against the store on the blocking pool.
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Self) -> Result<T, ReadError> + Send + 'static,
    ) -> Result<T, ReadError> {
        let log = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&log))
            .await
            .map_err(|e| ReadError::Task(e.to_string()))?
    }

    /// The index of the entry with leaf hash `hash`, if it is within `size`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn index_of_leaf(&self, hash: &Hash, size: u64) -> Result<Option<u64>, ReadError> {
        Ok(self.store.index_of_leaf(hash)?.filter(|i| *i < size))
    }

    /// Stops the sequencer after finishing what is queued.
    pub fn shutdown(&self) {
        self.sequencer.shutdown();
    }
}

/// Maps a proof-generation failure to a read error.
pub fn proof_err(e: merkle::ProofError<StorageError>) -> ReadError {
    match e {
        merkle::ProofError::Source(s) => ReadError::Storage(s),
        other => ReadError::Invalid(other.to_string()),
    }
}
