//! A small durable key-value store for the witness and the monitor: each
//! keeps a little state per log origin in its own `RocksDB` directory.
//!
//! [`StateStore::update`] is an atomic read-modify-write: updates of one
//! store are serialized in the process, and each is written with `sync`
//! before it returns, so state a caller acted on (a cosigned checkpoint, a
//! verified tree size) is never lost or rolled back by a crash.

use crate::error::StorageError;
use rocksdb::{DB, IteratorMode, Options, WriteOptions};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// One key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// A durable map of small values.
pub struct StateStore {
    db: DB,
    write: Mutex<()>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

impl StateStore {
    /// Opens (creating if needed) the store in `path`.
    ///
    /// # Errors
    /// `RocksDB` errors (including another process holding the directory).
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let mut o = Options::default();
        o.create_if_missing(true);
        o.set_keep_log_file_num(3);
        Ok(Self {
            db: DB::open(&o, path)?,
            write: Mutex::new(()),
        })
    }

    /// The value of `key`.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(key)?)
    }

    /// Every key and value, in key order.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn all(&self) -> Result<Vec<KeyValue>, StorageError> {
        self.db
            .iterator(IteratorMode::Start)
            .map(|r| r.map(|(k, v)| (k.into_vec(), v.into_vec())).map_err(StorageError::from))
            .collect()
    }

    /// Atomically replaces the value of `key` with what `f` makes of the
    /// current one, synced before returning. If `f` fails nothing is
    /// written and its error is returned inside `Ok`.
    ///
    /// # Errors
    /// `RocksDB` errors.
    pub fn update<E>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> Result<Vec<u8>, E>,
    ) -> Result<Result<(), E>, StorageError> {
        let _one_at_a_time = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.db.get(key)?;
        let new = match f(current.as_deref()) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.put_opt(key, new, &wo)?;
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_is_read_modify_write_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let s = StateStore::open(dir.path()).expect("open");
            assert_eq!(s.get(b"a").expect("get"), None);
            s.update(b"a", |cur| {
                assert!(cur.is_none());
                Ok::<_, ()>(b"1".to_vec())
            })
            .expect("db")
            .expect("ok");
            let refused = s
                .update(b"a", |cur| {
                    if cur == Some(b"2") {
                        Ok(b"3".to_vec())
                    } else {
                        Err("stale")
                    }
                })
                .expect("db");
            assert_eq!(refused, Err("stale"));
            assert_eq!(s.get(b"a").expect("get"), Some(b"1".to_vec()));
        }
        let s = StateStore::open(dir.path()).expect("reopen");
        assert_eq!(s.all().expect("all"), vec![(b"a".to_vec(), b"1".to_vec())]);
    }
}
