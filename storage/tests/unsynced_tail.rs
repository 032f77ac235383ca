//! A crash that drops the unsynced tail: a child process appends synced
//! batches, then one batch that never reaches the disk, then dies without
//! unwinding (abort). The reopened store must hold exactly the synced
//! batches, pass the integrity check against its last synced checkpoint,
//! and accept appends again from there.
//!
//! The child is this test binary re-run with `PROVLOG_TAIL_CHILD` set
//! (the store keeps its write-ahead log in memory until a synced append
//! flushes it, which is how a power cut loses unsynced writes).

use provlog_storage::verify::{Depth, check};
use provlog_storage::{AppendBatch, Store, StoreOptions, dedup_key};
use provlog_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use provlog_tlog::merkle::{CompactRange, Hash, leaf_hash};
use std::path::Path;

fn key() -> SignerKey {
    SignerKey::from_seed("tail.example/log", ALG_ED25519, [4; 32]).expect("key")
}

fn batch(cr: &mut CompactRange, n: u64, tag: &str) -> AppendBatch {
    let start = cr.size();
    let entries: Vec<Vec<u8>> = (start..start + n)
        .map(|i| format!("{tag} entry {i}").into_bytes())
        .collect();
    let leaf_hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let nodes = cr.extend(&leaf_hashes);
    let cp = Checkpoint::new("tail.example/log", cr.size(), cr.root());
    AppendBatch {
        start,
        entries,
        leaf_hashes,
        nodes,
        dedup: (start..start + n)
            .map(|i| (dedup_key("s", &format!("{tag}-{i}")), i))
            .collect(),
        checkpoint: sign_checkpoint(&cp, &key()).expect("sign").to_string().into_bytes(),
        ..Default::default()
    }
}

fn opts() -> StoreOptions {
    StoreOptions {
        manual_wal_flush: true,
        ..StoreOptions::default()
    }
}

fn child(dir: &Path, synced: u64) -> ! {
    let store = Store::open(dir, &opts()).expect("open");
    let mut cr = CompactRange::from_source(store.size(), &store).expect("range");
    for _ in 0..synced {
        store.append(&batch(&mut cr, 37, "synced")).expect("append");
    }
    store
        .debug_append_unsynced(&batch(&mut cr, 50, "lost"))
        .expect("unsynced append");
    // Die like a crashed process: no destructors, no flush.
    std::process::abort();
}

#[test]
fn the_unsynced_tail_is_dropped_and_the_store_recovers() {
    if let Ok(dir) = std::env::var("PROVLOG_TAIL_CHILD") {
        let synced = std::env::var("PROVLOG_TAIL_SYNCED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        child(Path::new(&dir), synced);
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let mut expected = 0u64;
    for round in 1..=3u64 {
        let status = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args([
                "--exact",
                "the_unsynced_tail_is_dropped_and_the_store_recovers",
                "--nocapture",
            ])
            .env("PROVLOG_TAIL_CHILD", tmp.path())
            .env("PROVLOG_TAIL_SYNCED", round.to_string())
            .status()
            .expect("child");
        assert!(!status.success(), "the child must die");
        expected += round * 37;

        let store = Store::open(tmp.path(), &opts()).expect("reopen");
        assert_eq!(
            store.size(),
            expected,
            "round {round}: synced entries kept, unsynced dropped"
        );
        let cp = check(
            &store,
            &provlog_tlog::checkpoint::LogKeys::single(key().verifier()),
            Depth::Full,
        )
        .expect("consistent after the crash")
        .expect("checkpoint");
        assert_eq!(cp.size, expected);
        assert_eq!(store.entry(expected).expect("read"), None, "no lost entry survived");
        assert!(
            store
                .dedup(&dedup_key("s", &format!("lost-{expected}")))
                .expect("dedup")
                .is_none(),
            "no dedup key of the lost batch survived"
        );
        // The log goes on from the durable state.
        let mut cr = CompactRange::from_source(store.size(), &store).expect("range");
        assert_eq!(cr.root(), cp.root);
        store
            .append(&batch(&mut cr, 5, "after"))
            .expect("append after recovery");
        expected += 5;
        assert_eq!(
            check(
                &store,
                &provlog_tlog::checkpoint::LogKeys::single(key().verifier()),
                Depth::Full
            )
            .expect("ok")
            .map(|c| c.size),
            Some(expected)
        );
    }
}
