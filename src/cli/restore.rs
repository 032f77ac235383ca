//! `provlog restore`: rebuild a data directory from the published static
//! API, trusting nothing but the log's vkey.
//!
//! The checkpoint must verify under the vkey; every entry of every bundle
//! is appended (hashes, dedup keys, search terms, the policy in force and
//! the last `logged_at` derived from the entry bytes, as the sequencer did);
//! the rebuilt tree's root must equal the checkpoint's; and every hash tile
//! in the source must equal the rebuilt one. Only then is the directory
//! put in place (it is built under `db.restoring` and renamed), with the
//! checkpoint as its latest, so `provlog serve` continues from that size.

use crate::client::Source;
use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use provlog_storage::rebuild::batch_from_entries;
use provlog_storage::verify::{self, Depth};
use provlog_storage::{Store, StoreOptions};
use provlog_tlog::checkpoint::open_checkpoint;
use provlog_tlog::merkle::CompactRange;
use provlog_tlog::tile::{decode_bundle, hash_tiles, new_bundles};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Where the log is published: its static API over HTTP(S) (the log, a
    /// mirror, a CDN, a bucket's web endpoint), or an object store URL
    /// (`s3://bucket/prefix`, `file:///dir`, …; credentials from the
    /// environment).
    #[arg(long)]
    from: String,
    /// The data directory to create (it must not hold a store yet).
    #[arg(long)]
    data_dir: PathBuf,
    /// The log's vkey (a file, or the vkey string).
    #[arg(long)]
    log_key: String,
    /// S3-compatible endpoint for an `s3://` source.
    #[arg(long, env = "PROVLOG_PUBLISH_ENDPOINT")]
    endpoint: Option<String>,
    /// Region for an `s3://` source.
    #[arg(long)]
    region: Option<String>,
    /// Refuse a published checkpoint of fewer entries than this: the size
    /// of a checkpoint you already trust (a receipt's, a monitor's), so that
    /// a stale mirror cannot roll the log back.
    #[arg(long, default_value_t = 0)]
    min_size: u64,
}

/// Most entries appended per synced write.
const BATCH: usize = 8192;
/// Most entry bytes appended per synced write (large entries make smaller
/// batches, so that memory stays bounded).
const BATCH_BYTES: usize = 32 << 20;
/// Objects fetched at once.
const PARALLEL: usize = 16;
/// Most wrong or missing tiles a failed restore names.
const MAX_REPORTED: usize = 100;

pub(super) fn run(a: &Args) -> Result<()> {
    let key = crate::util::keyfile::read_verifier(&a.log_key).context("log key")?;
    let db = a.data_dir.join("db");
    if db.exists() {
        bail!(
            "{} already holds a store; restore into a new directory",
            a.data_dir.display()
        );
    }
    // A directory that already names another log key would start a log
    // whose key does not sign the restored checkpoints.
    let vkey_path = a.data_dir.join("log.vkey");
    if let Ok(existing) = std::fs::read_to_string(&vkey_path)
        && existing.trim() != key.to_vkey_string()
    {
        bail!(
            "{} holds another log key ({}) than --log-key ({}): restore into a new directory",
            vkey_path.display(),
            existing.trim(),
            key.to_vkey_string()
        );
    }
    // A restore runs once, when the machine is gone: it rides out a store
    // node restarting or a reset connection rather than start over.
    let source =
        Source::open(&a.from, a.endpoint.as_deref(), a.region.as_deref())?.with_retries(crate::client::READ_RETRIES);
    let rt = crate::util::runtime::multi_thread()?;
    let note = rt.block_on(source.checkpoint())?;
    let (cp, _) = open_checkpoint(&note, &key).context("the published checkpoint does not verify under the log key")?;
    if cp.size == 0 {
        bail!("the published log is empty: nothing to restore");
    }
    if cp.size < a.min_size {
        bail!(
            "{} publishes a checkpoint of {}, fewer than --min-size {}: a stale or rolled-back copy \
             (nothing was restored)",
            a.from,
            crate::util::output::count(cp.size, "entry", "entries"),
            a.min_size
        );
    }
    std::fs::create_dir_all(&a.data_dir).with_context(|| format!("creating {}", a.data_dir.display()))?;
    let work = a.data_dir.join("db.restoring");
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    let store = Store::open(&work, &StoreOptions::default()).with_context(|| format!("creating {}", work.display()))?;
    let progress = crate::util::progress::bar(cp.size, "entries", "restoring");
    // Walked lazily: a checkpoint claiming a huge size costs nothing until
    // its bundles arrive, and the first one missing ends the restore.
    let bundles = new_bundles(0, cp.size);
    let mut range = CompactRange::default();
    let mut pending: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let append = |range: &mut CompactRange, entries: Vec<Vec<u8>>, last: bool| -> Result<()> {
        let mut batch = batch_from_entries(range, entries)?;
        if last {
            batch.checkpoint.clone_from(&note);
        }
        store.append(&batch).context("writing the restored entries")?;
        Ok(())
    };
    rt.block_on(async {
        let source = &source;
        let mut fetched = futures_util::stream::iter(bundles.map(|b| async move {
            let body = source.tile(&b).await?;
            let entries = decode_bundle(&body, usize::from(b.width)).with_context(|| b.path())?;
            Ok::<_, anyhow::Error>(entries.into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>())
        }))
        .buffered(PARALLEL);
        let mut pending_bytes = 0;
        while let Some(entries) = fetched.next().await {
            for e in entries? {
                pending_bytes += e.len();
                pending.push(e);
                if pending.len() == BATCH || pending_bytes >= BATCH_BYTES {
                    let n = pending.len() as u64;
                    let last = range.size() + n == cp.size;
                    append(&mut range, std::mem::take(&mut pending), last)?;
                    progress.inc(n);
                    pending_bytes = 0;
                }
            }
        }
        Ok::<(), anyhow::Error>(())
    })?;
    if !pending.is_empty() {
        let n = pending.len() as u64;
        append(&mut range, std::mem::take(&mut pending), true)?;
        progress.inc(n);
    }
    progress.finish_and_clear();
    if range.size() != cp.size {
        bail!(
            "the bundles hold {}, the checkpoint says {}",
            crate::util::output::count(range.size(), "entry", "entries"),
            cp.size
        );
    }
    if range.root() != cp.root {
        bail!(
            "the published entries do not hash to the checkpoint's root: the source is corrupted or serves another \
             history (nothing was restored)"
        );
    }
    // Every hash tile the source serves must be the one the entries imply.
    let mismatched = rt.block_on(async {
        let source = &source;
        let store = &store;
        futures_util::stream::iter(hash_tiles(cp.size).map(|t| async move {
            let Some((level, r)) = t.node_range() else {
                return Some(format!("{}: not a tile", t.path()));
            };
            let ours = match store.tile_body(level, r.start, r.end - r.start) {
                Ok(b) => b,
                Err(e) => return Some(format!("{}: {e}", t.path())),
            };
            match source.tile(&t).await {
                Ok(b) if b == ours.as_slice() => None,
                Ok(_) => Some(format!("{}: differs from the tile the entries imply", t.path())),
                Err(e) => Some(crate::util::error_chain(&e)),
            }
        }))
        .buffer_unordered(PARALLEL)
        .filter_map(|x| async move { x })
        .take(MAX_REPORTED)
        .collect::<Vec<String>>()
        .await
    });
    if !mismatched.is_empty() {
        bail!(
            "hash tiles in the source are wrong or missing (nothing was restored; the first {}): {}",
            mismatched.len(),
            mismatched.join("; ")
        );
    }
    // A bulk load leaves write-ahead logs and unsorted level-0 files
    // behind (about 5x the compacted size at 1 M entries): compact once so
    // the restored directory is as small and fast as the original.
    store.compact().context("compacting the restored store")?;
    verify::check(&store, &crate::log::keys::trusted_keys(&store, &key)?, Depth::Tree)
        .context("checking the restored store")?;
    drop(store);
    std::fs::rename(&work, &db).with_context(|| format!("moving {} to {}", work.display(), db.display()))?;
    if !vkey_path.exists() {
        std::fs::write(&vkey_path, format!("{}\n", key.to_vkey_string()))
            .with_context(|| format!("writing {}", vkey_path.display()))?;
    }
    crate::util::output::out(format_args!(
        "restored {} of {} from {} into {}: every entry and tile matches the checkpoint's root",
        crate::util::output::count(cp.size, "entry", "entries"),
        cp.origin,
        a.from,
        a.data_dir.display()
    ))?;
    crate::util::output::out(format_args!(
        "to continue the log, put its private key at {} (or pass --log-key) and run provlog serve",
        a.data_dir.join("log.skey").display()
    ))?;
    Ok(())
}
