//! `provlog compact`: compact a stopped log's store and report the space
//! it takes against the bytes of its entries (BENCHMARKS.md "Storage").

use anyhow::{Context, Result};
use provlog_storage::{Store, StoreOptions};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// A stopped log's data directory.
    #[arg(long)]
    data_dir: PathBuf,
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

pub(super) fn run(a: &Args) -> Result<()> {
    let db = a.data_dir.join("db");
    let store = Store::open(&db, &StoreOptions::default())
        .with_context(|| format!("opening {} (is the server still running?)", db.display()))?;
    let size = store.size();
    let mut entry_bytes = 0u64;
    for i in (0..size).step_by(256) {
        let n = 256.min(size - i);
        entry_bytes += store.entries(i, n)?.iter().map(|e| e.len() as u64).sum::<u64>();
    }
    let before = dir_bytes(&db);
    store.compact()?;
    drop(store);
    let after = dir_bytes(&db);
    let n = size.max(1) as f64;
    crate::util::output::out(format_args!(
        "{}, {entry_bytes} entry bytes ({:.0} per entry); on disk {before} bytes before compaction, {after} after",
        crate::util::output::count(size, "entry", "entries"),
        entry_bytes as f64 / n
    ))?;
    crate::util::output::out(format_args!(
        "after compaction: {:.3} x entry bytes, or entry bytes + {:.1} bytes per entry",
        after as f64 / entry_bytes.max(1) as f64,
        (after as f64 - entry_bytes as f64) / n
    ))?;
    Ok(())
}
