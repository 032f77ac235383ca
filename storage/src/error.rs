use provlog_tlog::NodeId;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// `RocksDB` reported an error (I/O, corruption it detected, …).
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A node the caller asked for is not stored.
    #[error("tree node ({}, {}) is not stored", .0.level, .0.index)]
    MissingNode(NodeId),
    /// A stored value has the wrong shape.
    #[error("corrupt {what} at {key}: {reason}")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
        /// Its key, printable.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A read of [`crate::map::InMemory`] would have to go to the disk.
    #[error("the read needs the disk")]
    WouldBlock,
    /// An append does not start where the stored tree ends.
    #[error("append at index {got} but the stored tree has {want} entries")]
    OutOfOrder {
        /// The stored size.
        want: u64,
        /// The batch's first index.
        got: u64,
    },
    /// A write refused before it reached the store (a highly available
    /// sequencer that could not fence the batch, docs/HA.md): nothing of
    /// the batch was written.
    #[error("not written: {0}")]
    Refused(String),
}
