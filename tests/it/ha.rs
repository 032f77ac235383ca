//! High availability against a real three-member etcd cluster: the leader
//! key has one holder, fencing refuses a deposed term and a stale
//! checkpoint, a silent holder's lease lapses and a standby takes over,
//! and a cluster without quorum fences nothing until quorum returns.

use crate::common::EtcdCluster;
use provlog::ha::{Coordinator, HaError, LeaderInfo, Settings};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(2);

async fn node(cluster: &EtcdCluster, prefix: &str, id: &str) -> Coordinator {
    Coordinator::connect(Settings {
        endpoints: cluster.endpoints(),
        prefix: prefix.to_owned(),
        lease_ttl: TTL,
        request_timeout: Duration::from_secs(2),
        me: LeaderInfo {
            id: id.to_owned(),
            url: format!("http://{id}.example:8080"),
        },
    })
    .await
    .expect("connect")
}

/// Waits (bounded) for `f` to hold.
async fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_fencing_refuses_deposed_terms_and_stale_checkpoints() {
    let dir = tempfile::tempdir().expect("tmp");
    let cluster = EtcdCluster::start(dir.path());
    let a = node(&cluster, "/provlog/test.example/log", "a").await;
    let b = node(&cluster, "/provlog/test.example/log", "b").await;

    // Bad settings are refused before any request.
    for (prefix, ttl) in [("", TTL), ("/p/", TTL), ("/p", Duration::from_millis(500))] {
        let e = Coordinator::connect(Settings {
            endpoints: cluster.endpoints(),
            prefix: prefix.into(),
            lease_ttl: ttl,
            request_timeout: Duration::from_secs(1),
            me: a.me().clone(),
        })
        .await
        .expect_err("bad settings");
        assert!(matches!(e, HaError::Config(_)), "{e}");
    }

    // One holder: a leads, b cannot, and b sees who does.
    let term_a = a.try_lead().await.expect("etcd").expect("a leads an empty cluster");
    assert!(
        b.try_lead().await.expect("etcd").is_none(),
        "b must not lead while a does"
    );
    let (leader, rev) = b.leader().await.expect("etcd").expect("a leader");
    assert_eq!((leader, rev), (a.me().clone(), term_a.revision));
    assert!(term_a.remaining() > Duration::ZERO && !term_a.is_lost());

    // Fencing: over nothing (prev 0), then only over what is there.
    assert_eq!(b.fenced().await.expect("etcd"), None);
    let r1 = a.fence(&term_a, 0, b"cp 1").await.expect("first checkpoint");
    let e = a.fence(&term_a, 0, b"cp 2").await.expect_err("stale prev");
    match e {
        HaError::Conflict { current, expected } => {
            assert_eq!(expected, 0);
            let c = current.expect("current");
            assert_eq!((c.note.as_slice(), c.revision), (&b"cp 1"[..], r1));
        }
        e => panic!("want Conflict, got {e}"),
    }
    // A retry of a fence that landed (its answer lost) succeeds with the
    // same revision, and writes nothing new.
    assert_eq!(a.fence(&term_a, 0, b"cp 1").await.expect("retry"), r1);
    let f = b.fenced().await.expect("etcd").expect("fenced");
    assert_eq!((f.note.as_slice(), f.revision), (&b"cp 1"[..], r1));

    // etcd ends a's term behind its back (as a lease lapsing while its
    // process was paused): the next fence is refused by etcd, and a's
    // keep-alive learns the term is over.
    let mut raw = etcd_client::Client::connect(cluster.endpoints(), None)
        .await
        .expect("raw client");
    raw.lease_revoke(term_a.lease).await.expect("revoke");
    let e = a.fence(&term_a, r1, b"cp 2 by a").await.expect_err("deposed");
    assert!(matches!(e, HaError::Deposed { leader: None }), "{e}");
    eventually("a's term is lost", TTL * 3, || term_a.is_lost()).await;
    let e = a.fence(&term_a, r1, b"cp 2 by a").await.expect_err("lost");
    assert!(matches!(e, HaError::Deposed { .. }), "{e}");

    // b campaigns and wins; a's old term is refused and names b.
    let term_b = tokio::time::timeout(TTL * 3, b.campaign()).await.expect("b wins");
    assert!(term_b.revision > term_a.revision, "a new term has a new revision");
    let r2 = b.fence(&term_b, r1, b"cp 2 by b").await.expect("b fences");
    assert!(
        a.try_lead().await.expect("etcd").is_none(),
        "a must not lead while b does"
    );
    let e = a.fence(&term_a, r2, b"cp 3 by a").await.expect_err("old term");
    assert!(matches!(e, HaError::Deposed { .. }), "{e}");
    drop(term_a);

    // b goes silent (a crash: no resign); its lease lapses and a takes
    // over. How long that took is printed, not asserted.
    let silent = Instant::now();
    drop(term_b);
    let term_a2 = tokio::time::timeout(TTL * 4, a.campaign()).await.expect("a takes over");
    eprintln!(
        "takeover after a silent leader: {:?} (lease TTL {TTL:?})",
        silent.elapsed()
    );
    assert!(
        b.try_lead().await.expect("etcd").is_none(),
        "b must not lead while a does"
    );
    let r3 = a.fence(&term_a2, r2, b"cp 3 by a").await.expect("a fences over b's");
    assert!(r3 > r2);

    // Resigning hands over at once.
    a.resign(term_a2).await.expect("resign");
    let term_b2 = tokio::time::timeout(TTL, b.campaign())
        .await
        .expect("b after a resigned");
    assert!(b.fence(&term_b2, r3, b"cp 4 by b").await.expect("b") > r3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_sequencers_never_fence_two_checkpoints_over_one() {
    // Three nodes campaign, fence a few checkpoints each over the latest
    // they read, and go silent or resign, for many rounds at once. Every
    // fence that succeeded must name a distinct predecessor: the fenced
    // history is one chain, whatever the interleaving.
    let dir = tempfile::tempdir().expect("tmp");
    let cluster = EtcdCluster::start(dir.path());
    let nodes = [
        node(&cluster, "/provlog/race/log", "n0").await,
        node(&cluster, "/provlog/race/log", "n1").await,
        node(&cluster, "/provlog/race/log", "n2").await,
    ];
    let deadline = Instant::now() + Duration::from_secs(12);
    let mut tasks = Vec::new();
    for (i, n) in nodes.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut fenced: Vec<(i64, i64, Vec<u8>)> = Vec::new();
            let mut round = 0u32;
            while Instant::now() < deadline {
                round += 1;
                let Ok(term) = tokio::time::timeout(Duration::from_secs(6), n.campaign()).await else {
                    continue;
                };
                for k in 0..5 {
                    // Read, then fence over what was read: another node may
                    // have fenced in between only if this term is over.
                    let prev = n.fenced().await.expect("etcd").map_or(0, |f| f.revision);
                    let note = format!("n{i} round {round} cp {k}").into_bytes();
                    match n.fence(&term, prev, &note).await {
                        Ok(rev) => fenced.push((prev, rev, note)),
                        Err(HaError::Deposed { .. } | HaError::Conflict { .. }) => break,
                        Err(e) => panic!("etcd: {e}"),
                    }
                }
                if round.is_multiple_of(2) {
                    n.resign(term).await.expect("resign");
                } else {
                    drop(term);
                }
            }
            fenced
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    assert!(all.len() >= 10, "too few fences to mean anything: {}", all.len());
    let mut prevs: Vec<i64> = all.iter().map(|(p, _, _)| *p).collect();
    prevs.sort_unstable();
    let before = prevs.len();
    prevs.dedup();
    assert_eq!(prevs.len(), before, "two checkpoints were fenced over one predecessor");
    // And the chain links up: each fence's revision is the next one's prev.
    all.sort_by_key(|(p, _, _)| *p);
    for w in all.windows(2) {
        assert_eq!(
            w[0].1, w[1].0,
            "a gap or a fork in the fenced chain: {:?} then {:?}",
            w[0], w[1]
        );
    }
    eprintln!("{} checkpoints fenced by racing nodes, one chain", all.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_quorum_nothing_is_fenced_and_it_resumes_when_quorum_returns() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cluster = EtcdCluster::start(dir.path());
    let a = node(&cluster, "/provlog/quorum/log", "a").await;
    let term = a.try_lead().await.expect("etcd").expect("leads");
    let mut prev = a.fence(&term, 0, b"cp 1").await.expect("fence");

    // One member down: a quorum remains and fencing goes on.
    cluster.kill(0);
    prev = a.fence(&term, prev, b"cp 2").await.expect("fence with two of three");

    // Two down: no quorum. Fencing fails as unreachable (not as deposed or
    // a conflict: the outcome is unknown) within the request timeout.
    cluster.kill(1);
    let started = Instant::now();
    let e = a.fence(&term, prev, b"cp 3").await.expect_err("no quorum");
    assert!(matches!(e, HaError::Etcd { .. } | HaError::Timeout { .. }), "{e}");
    eprintln!("fence without quorum failed after {:?}: {e}", started.elapsed());
    assert!(a.fenced().await.is_err(), "a linearizable read needs a quorum");
    eventually("the term lapses without quorum", TTL * 4, || term.is_lost()).await;

    // Quorum returns: nothing fenced was lost, and a node leads again once
    // the old key is gone.
    cluster.restart(0);
    cluster.restart(1);
    cluster.wait_healthy();
    let f = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(f) = a.fenced().await {
                return f;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("etcd answers again")
    .expect("a checkpoint");
    // The fence that failed had an unknown outcome, and it is settled
    // either way: a proposal the lone member had taken may be committed
    // once quorum returns. What cannot happen is anything else.
    if f.note == b"cp 3" {
        assert!(f.revision > prev, "{f:?}");
        eprintln!("the fence without quorum landed when quorum returned");
    } else {
        assert_eq!((f.note.as_slice(), f.revision), (&b"cp 2"[..], prev));
        eprintln!("the fence without quorum never landed");
    }
    drop(term);
    let again = tokio::time::timeout(TTL * 6, a.campaign()).await.expect("leads again");
    // The next fence names what etcd holds, whichever it was; the one
    // before it is refused.
    let e = if f.revision == prev {
        None
    } else {
        Some(a.fence(&again, prev, b"cp 4").await.expect_err("stale prev"))
    };
    assert!(e.is_none_or(|e| matches!(e, HaError::Conflict { .. })));
    assert!(a.fence(&again, f.revision, b"cp 4").await.expect("fence") > f.revision);
}

/// A batch of `n` made-up entries after what `cr` holds, whose
/// "checkpoint" names its size.
fn next_batch(cr: &mut provlog_tlog::merkle::CompactRange, n: u64) -> provlog_storage::AppendBatch {
    let start = cr.size();
    let entries: Vec<Vec<u8>> = (start..start + n).map(|j| format!("entry {j}").into_bytes()).collect();
    let leaf_hashes: Vec<_> = entries.iter().map(|e| provlog_tlog::merkle::leaf_hash(e)).collect();
    let nodes = cr.extend(&leaf_hashes);
    provlog_storage::AppendBatch {
        start,
        entries,
        leaf_hashes,
        nodes,
        checkpoint: format!("size {}\n", start + n).into_bytes(),
        last_logged_at: 0,
        ..provlog_storage::AppendBatch::default()
    }
}

/// What the store serves for `tile` (the bytes readers get from the log).
fn stored_tile(store: &provlog_storage::Store, tile: &provlog_tlog::tile::TileId) -> Vec<u8> {
    use provlog_tlog::tile::{TileKind, encode_bundle};
    let (level, r) = tile.node_range().expect("range");
    let body = if tile.kind == TileKind::Entries {
        store
            .bundle_body(r.start, r.end - r.start, |e| {
                encode_bundle(e.iter().map(Vec::as_slice)).map_err(|e| e.to_string())
            })
            .expect("bundle")
    } else {
        store.tile_body(level, r.start, r.end - r.start).expect("tile")
    };
    body.as_ref().clone()
}

/// A leading coordinator over a three-member etcd cluster and a fenced
/// writer over a fresh store, uploading to a `file://` object store.
struct FencedWriter {
    dir: tempfile::TempDir,
    cluster: EtcdCluster,
    a: provlog::ha::Coordinator,
    term: std::sync::Arc<provlog::ha::Term>,
    store: std::sync::Arc<provlog_storage::Store>,
    objects_dir: std::path::PathBuf,
    writes: std::sync::Arc<provlog::ha::fence::FencedWrites>,
    state: tokio::sync::watch::Receiver<provlog::ha::fence::FenceState>,
}

impl FencedWriter {
    async fn start(name: &str) -> Self {
        use std::sync::Arc;
        let dir = tempfile::tempdir().expect("tmp");
        let cluster = EtcdCluster::start(&dir.path().join("etcd"));
        let a = node(&cluster, &format!("/provlog/{name}/log"), "a").await;
        let term = Arc::new(a.try_lead().await.expect("etcd").expect("leads"));
        let store = Arc::new(
            provlog_storage::Store::open(&dir.path().join("db"), &provlog_storage::StoreOptions::default())
                .expect("store"),
        );
        let objects_dir = dir.path().join("objects");
        let objects = provlog::client::store::open_store(&format!("file://{}", objects_dir.display()), None, None)
            .expect("objects");
        let (writes, state) = provlog::ha::fence::FencedWrites::new(
            Arc::clone(&store),
            objects,
            false,
            a.clone(),
            Arc::clone(&term),
            0,
            tokio::runtime::Handle::current(),
        );
        Self {
            dir,
            cluster,
            a,
            term,
            store,
            objects_dir,
            writes,
            state,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_write_uploads_then_fences_then_writes_and_a_refused_one_writes_nothing() {
    use provlog::log::sequencer::Durable;
    use std::sync::Arc;
    let FencedWriter {
        dir: _dir,
        cluster,
        a,
        term,
        store,
        objects_dir,
        writes,
        state,
    } = FencedWriter::start("fenced").await;
    let append = |batch: provlog_storage::AppendBatch| {
        let w = Arc::clone(&writes);
        async move {
            tokio::task::spawn_blocking(move || Durable::append(w.as_ref(), &batch))
                .await
                .expect("join")
        }
    };
    let mut cr = provlog_tlog::merkle::CompactRange::default();

    // Three batches across a tile boundary: each fenced, written, and its
    // objects in the store with the bytes the log serves.
    for n in [200, 100, 300] {
        append(next_batch(&mut cr, n)).await.expect("fenced write");
    }
    assert_eq!(store.size(), 600);
    let fenced = a.fenced().await.expect("etcd").expect("fenced");
    assert_eq!(fenced.note, b"size 600\n");
    assert_eq!((state.borrow().size, state.borrow().revision), (600, fenced.revision));
    for tile in provlog_tlog::tile::tiles_for_size(600) {
        let published = std::fs::read(objects_dir.join(tile.path())).unwrap_or_else(|e| panic!("{}: {e}", tile.path()));
        assert_eq!(published, stored_tile(&store, &tile), "{}", tile.path());
    }
    // The checkpoint object follows the local write, off the write path.
    let mut tries = 0;
    while std::fs::read(objects_dir.join("checkpoint")).ok().as_deref() != Some(b"size 600\n".as_slice()) {
        tries += 1;
        assert!(tries < 100, "the checkpoint object never became the latest note");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // The checkpoint in etcd moves under the writer (what a second
    // sequencer with the same term would do): the next batch is refused,
    // nothing of it is written, and the writer stops for good.
    a.fence(&term, fenced.revision, b"someone else\n").await.expect("fence");
    // Every later batch starts at the stored 600.
    let at_600 = cr.clone();
    let e = append(next_batch(&mut at_600.clone(), 10)).await.expect_err("conflict");
    assert!(matches!(e, provlog_storage::StorageError::Refused(_)), "{e}");
    assert_eq!(store.size(), 600, "a refused batch must not be written");
    assert!(state.borrow().stopped.is_some());
    let e = append(next_batch(&mut at_600.clone(), 10)).await.expect_err("stopped");
    assert!(matches!(e, provlog_storage::StorageError::Refused(_)), "{e}");
    assert_eq!(a.fenced().await.expect("etcd").expect("fenced").note, b"someone else\n");

    // A deposed term: the lease is gone, etcd refuses the fence, and the
    // store is left at the fenced state.
    let now = a.fenced().await.expect("etcd").expect("fenced");
    let (deposed, state) = provlog::ha::fence::FencedWrites::new(
        Arc::clone(&store),
        provlog::client::store::open_store(&format!("file://{}", objects_dir.display()), None, None).expect("objects"),
        false,
        a.clone(),
        Arc::clone(&term),
        now.revision,
        tokio::runtime::Handle::current(),
    );
    let mut raw = etcd_client::Client::connect(cluster.endpoints(), None)
        .await
        .expect("raw");
    raw.lease_revoke(term.lease).await.expect("revoke");
    let batch = next_batch(&mut at_600.clone(), 5);
    let e = tokio::task::spawn_blocking(move || Durable::append(deposed.as_ref(), &batch))
        .await
        .expect("join")
        .expect_err("deposed");
    assert!(
        matches!(e, provlog_storage::StorageError::Refused(ref why) if why.contains("no longer the sequencer")),
        "{e}"
    );
    assert_eq!(store.size(), 600);
    assert!(state.borrow().stopped.is_some());
    assert_eq!(a.fenced().await.expect("etcd").expect("fenced"), now);
}

/// Work run on a fenced writer off the async threads.
type OnWriter = Box<dyn FnOnce(&provlog::ha::fence::FencedWrites) -> Result<(), provlog_storage::StorageError> + Send>;

/// The pipelined path of `[ha]`: the sequencer prepares each batch as it
/// hands it over, so batch N+1 uploads while batch N is still being
/// fenced and written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_batches_upload_ahead_and_fence_in_order_and_nothing_after_a_refusal_is_fenced() {
    use provlog::log::sequencer::Durable;
    use std::sync::Arc;
    let FencedWriter {
        dir: _dir,
        cluster: _cluster,
        a,
        term,
        store,
        objects_dir,
        writes,
        state,
    } = FencedWriter::start("prepared").await;
    let blocking = |f: OnWriter| {
        let w = Arc::clone(&writes);
        async move { tokio::task::spawn_blocking(move || f(w.as_ref())).await.expect("join") }
    };
    let mut cr = provlog_tlog::merkle::CompactRange::default();

    // Four batches across tile boundaries, each prepared while the ones
    // before it are neither fenced nor written; then written in order.
    let batches: Vec<_> = [250, 10, 300, 500]
        .iter()
        .map(|n| Arc::new(next_batch(&mut cr, *n)))
        .collect();
    for b in &batches {
        let b = Arc::clone(b);
        blocking(Box::new(move |w| {
            w.prepare(&b);
            Ok(())
        }))
        .await
        .expect("prepare");
    }
    // The last batch's objects arrive with nothing fenced yet: the uploads
    // ran ahead of the fences.
    let mut tries = 0;
    while !provlog_tlog::tile::new_tiles(560, 1060)
        .iter()
        .all(|t| objects_dir.join(t.path()).exists())
    {
        tries += 1;
        assert!(tries < 200, "the prepared uploads never arrived");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        a.fenced().await.expect("etcd").is_none(),
        "nothing is fenced before its append"
    );
    assert_eq!(store.size(), 0);
    let mut revisions = Vec::new();
    for b in batches {
        let end = b.start + b.entries.len() as u64;
        blocking(Box::new(move |w| Durable::append(w, &b)))
            .await
            .expect("fenced write");
        assert_eq!(store.size(), end);
        let fenced = a.fenced().await.expect("etcd").expect("fenced");
        assert_eq!(fenced.note, format!("size {end}\n").into_bytes(), "fenced in order");
        revisions.push(fenced.revision);
    }
    assert!(revisions.windows(2).all(|w| w[0] < w[1]));
    for tile in provlog_tlog::tile::tiles_for_size(1060) {
        let published = std::fs::read(objects_dir.join(tile.path())).unwrap_or_else(|e| panic!("{}: {e}", tile.path()));
        assert_eq!(published, stored_tile(&store, &tile), "{}", tile.path());
    }

    // Two more prepared; the fence of the first is refused (the checkpoint
    // in etcd moved): neither is written, the second is never fenced, and
    // the writer stops.
    let fenced = a.fenced().await.expect("etcd").expect("fenced");
    a.fence(&term, fenced.revision, b"someone else\n").await.expect("fence");
    let (x, y) = (Arc::new(next_batch(&mut cr, 20)), Arc::new(next_batch(&mut cr, 30)));
    let (x2, y2) = (Arc::clone(&x), Arc::clone(&y));
    blocking(Box::new(move |w| {
        w.prepare(&x2);
        w.prepare(&y2);
        Ok(())
    }))
    .await
    .expect("prepare");
    let e = blocking(Box::new(move |w| Durable::append(w, &x)))
        .await
        .expect_err("conflict");
    assert!(matches!(e, provlog_storage::StorageError::Refused(_)), "{e}");
    let e = blocking(Box::new(move |w| Durable::append(w, &y)))
        .await
        .expect_err("stopped");
    assert!(matches!(e, provlog_storage::StorageError::Refused(_)), "{e}");
    assert_eq!(store.size(), 1060, "a refused batch must not be written");
    assert!(state.borrow().stopped.is_some());
    assert_eq!(a.fenced().await.expect("etcd").expect("fenced").note, b"someone else\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_catches_up_from_the_object_store_and_writes_nothing_it_cannot_verify() {
    use crate::common::{Server, client, get, submit_many, wait_log};
    use provlog::client::Source;
    use provlog::ha::follow::{FollowError, catch_up};
    use provlog_tlog::checkpoint::LogKeys;
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("tmp");
    let objects = dir.path().join("objects");
    let url = format!("file://{}", objects.display());
    let s = Server::start(&dir.path().join("log"), &["--publish-url", &url]);
    let c = client();
    let key = s.dev_key();
    let keys = LogKeys::single(s.vkey.clone());
    let source = Source::open(&url, None, None).expect("source");
    let published = |size: u64| {
        let (c, url, vkey, objects) = (c.clone(), s.url.clone(), s.vkey.clone(), objects.clone());
        async move {
            wait_log(&c, &url, "publication", |v| {
                v["publish"]["published_size"].as_u64() >= Some(size)
            })
            .await;
            let note = std::fs::read(objects.join("checkpoint")).expect("checkpoint");
            let (cp, _) = provlog_tlog::checkpoint::open_checkpoint(&note, &vkey).expect("published checkpoint");
            (cp.size, note)
        }
    };
    let standby = Arc::new(
        provlog_storage::Store::open(
            &dir.path().join("standby/db"),
            &provlog_storage::StoreOptions::default(),
        )
        .expect("store"),
    );

    // From nothing, then from where it was: events with credentials, so
    // the entries include state commitments and policy leaves.
    submit_many(&c, &s.url, &key, "first", 150).await;
    let (size1, note1) = published(150).await;
    assert_eq!(
        catch_up(&standby, &source, &note1, &keys).await.expect("catch up"),
        size1
    );
    submit_many(&c, &s.url, &key, "second", 200).await;
    let (size2, note2) = published(size1 + 200).await;
    assert_eq!(
        catch_up(&standby, &source, &note2, &keys).await.expect("catch up"),
        size2 - size1
    );
    assert_eq!(standby.size(), size2);
    assert_eq!(catch_up(&standby, &source, &note2, &keys).await.expect("again"), 0);
    // The standby's store is a valid store of the log at note2, with the
    // tiles the log serves.
    let cp = provlog_storage::verify::check(&standby, &keys, provlog_storage::verify::Depth::Full)
        .expect("integrity")
        .expect("checkpoint");
    assert_eq!(cp.size, size2);
    for t in provlog_tlog::tile::tiles_for_size(size2) {
        let (st, body) = get(&c, &s.url, &format!("/{}", t.path())).await;
        assert_eq!(st, 200);
        assert_eq!(stored_tile(&standby, &t), body, "{}", t.path());
    }

    // What it refuses, writing nothing: an older checkpoint than it holds,
    // a checkpoint under another key, and entries that do not hash to the
    // checkpoint's root.
    let e = catch_up(&standby, &source, &note1, &keys).await.expect_err("behind");
    assert!(matches!(e, FollowError::Ahead { .. }), "{e}");
    let other = LogKeys::single(
        provlog_tlog::keys::SignerKey::from_seed("other.example", 1, [9; 32])
            .expect("key")
            .verifier(),
    );
    submit_many(&c, &s.url, &key, "third", 20).await;
    let (size3, note3) = published(size2 + 20).await;
    let e = catch_up(&standby, &source, &note3, &other)
        .await
        .expect_err("other key");
    assert!(matches!(e, FollowError::Checkpoint(_)), "{e}");
    // Swap two entries of the last bundle: every entry still parses, the
    // root differs.
    let (bundle, _) = provlog_tlog::tile::entry_bundle(size3 - 1, size3).expect("bundle");
    let path = objects.join(bundle.path());
    let original = std::fs::read(&path).expect("bundle");
    let mut entries: Vec<Vec<u8>> = provlog_tlog::tile::decode_bundle(&original, usize::from(bundle.width))
        .expect("decode")
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let n = entries.len();
    entries.swap(n - 1, n - 2);
    std::fs::write(
        &path,
        provlog_tlog::tile::encode_bundle(entries.iter().map(Vec::as_slice)).expect("encode"),
    )
    .expect("tamper");
    let e = catch_up(&standby, &source, &note3, &keys).await.expect_err("tampered");
    assert!(matches!(e, FollowError::RootMismatch { .. }), "{e}");
    assert_eq!(standby.size(), size2, "nothing of a refused catch-up is written");
    // Repaired, it goes on.
    std::fs::write(&path, &original).expect("repair");
    assert_eq!(
        catch_up(&standby, &source, &note3, &keys).await.expect("catch up"),
        size3 - size2
    );
    s.stop();
}
