//! The interfaces between the log and its followers, so that neither
//! imports the other's internals: followers (the object-storage publisher,
//! the witness client) read the log through [`LogView`], which [`Log`]
//! implements, and the log waits for a follower only through [`AckGate`],
//! which the publisher implements.

use super::{Log, Published, ReadError, proof_err};
use provlog_tlog::checkpoint::LogKeys;
use provlog_tlog::merkle::{self, Hash};
use provlog_tlog::tile::TileId;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::watch;

/// What a follower sees of the log: its key, its durable checkpoints, and
/// reads of the tree within a durable size. Every read runs off the async
/// workers.
pub trait LogView: Send + Sync + 'static {
    /// Every key the log signed with, each for the tree sizes it signs.
    fn log_keys(&self) -> LogKeys;
    /// The latest durable checkpoint.
    fn published(&self) -> Arc<Published>;
    /// A receiver that sees every new durable checkpoint.
    fn subscribe(&self) -> watch::Receiver<Arc<Published>>;
    /// The root of the first `size` leaves (`size` at most the durable size).
    fn root_at(&self, size: u64) -> impl Future<Output = Result<Hash, ReadError>> + Send;
    /// The consistency proof from `old` to `new` (`new` at most the durable
    /// size).
    fn consistency_proof(&self, old: u64, new: u64) -> impl Future<Output = Result<Vec<Hash>, ReadError>> + Send;
    /// The bytes of hash tile or entry bundle `tile` in the tree of `size`.
    fn tile(&self, tile: TileId, size: u64) -> impl Future<Output = Result<Arc<Vec<u8>>, ReadError>> + Send;
    /// The JSON key history (`log-keys`, docs/ROTATION.md) of the tree of
    /// `size` entries; `None` when no rotation is in it.
    fn key_history(&self, size: u64) -> impl Future<Output = Result<Option<Vec<u8>>, ReadError>> + Send;
    /// The witness client's stored state, if any.
    fn witness_state(&self) -> impl Future<Output = Result<Option<Vec<u8>>, ReadError>> + Send;
    /// Stores the witness client's state (synced; not part of the tree).
    fn save_witness_state(&self, bytes: Vec<u8>) -> impl Future<Output = Result<(), ReadError>> + Send;
    /// Evidence that the log's history diverges from what it published or
    /// had cosigned (`why`): the log stops sequencing and signing.
    fn halt(&self, why: String);
}

/// Why a submission was not acknowledged after publication.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// Not published in time (the entry is durable in the log).
    #[error(
        "entry {index} is durable in the log but its checkpoint is not yet in the object store; \
         retry with the same event_id"
    )]
    NotYet {
        /// The entry.
        index: u64,
    },
    /// Publishing stopped on a fork.
    #[error("publishing stopped: {0}")]
    Stopped(String),
}

/// What an acknowledgement waits for after the entry is durable: with
/// `ack_after_publish`, that the entry's checkpoint is in the object store.
pub trait AckGate: Send + Sync + std::fmt::Debug {
    /// Resolves once the entry at `index` may be acknowledged.
    ///
    /// # Errors
    /// [`AckError`]: not in time, or never (publishing stopped).
    fn wait_published(&self, index: u64) -> Pin<Box<dyn Future<Output = Result<(), AckError>> + Send + '_>>;
}

impl LogView for Log {
    fn log_keys(&self) -> LogKeys {
        Log::log_keys(self)
    }

    fn published(&self) -> Arc<Published> {
        self.sequencer.published()
    }

    fn subscribe(&self) -> watch::Receiver<Arc<Published>> {
        self.sequencer.subscribe()
    }

    fn root_at(&self, size: u64) -> impl Future<Output = Result<Hash, ReadError>> + Send {
        let store = Arc::clone(&self.store);
        super::blocking(move || merkle::root(size, store.as_ref()).map_err(proof_err))
    }

    fn consistency_proof(&self, old: u64, new: u64) -> impl Future<Output = Result<Vec<Hash>, ReadError>> + Send {
        let store = Arc::clone(&self.store);
        super::blocking(move || merkle::consistency_proof(old, new, store.as_ref()).map_err(proof_err))
    }

    fn halt(&self, why: String) {
        Log::halt(self, why);
    }

    fn key_history(&self, size: u64) -> impl Future<Output = Result<Option<Vec<u8>>, ReadError>> + Send {
        let store = Arc::clone(&self.store);
        let announced = crate::util::sync::read(&self.keys, "log keys").announced.clone();
        super::blocking(move || {
            if !announced.iter().any(|a| a.index < size) {
                return Ok(None);
            }
            let h = super::keys::history(&store, &announced, size).map_err(|e| ReadError::Internal(e.to_string()))?;
            serde_json::to_vec(&h)
                .map(Some)
                .map_err(|e| ReadError::Internal(e.to_string()))
        })
    }

    fn witness_state(&self) -> impl Future<Output = Result<Option<Vec<u8>>, ReadError>> + Send {
        let store = Arc::clone(&self.store);
        super::blocking(move || Ok(store.witness_state()?))
    }

    fn save_witness_state(&self, bytes: Vec<u8>) -> impl Future<Output = Result<(), ReadError>> + Send {
        let store = Arc::clone(&self.store);
        super::blocking(move || Ok(store.put_witness_state(&bytes)?))
    }

    fn tile(&self, tile: TileId, size: u64) -> impl Future<Output = Result<Arc<Vec<u8>>, ReadError>> + Send {
        // Cached tiles are answered on the spot; others are read on the
        // blocking pool.
        let cached = self
            .tile_cached(&tile, size)
            .then(|| super::tile_bytes(&self.store, &tile, size));
        let store = Arc::clone(&self.store);
        async move {
            match cached {
                Some(r) => r,
                None => super::blocking(move || super::tile_bytes(&store, &tile, size)).await,
            }
        }
    }
}
