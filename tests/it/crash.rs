//! Crash safety: the real binary under concurrent load, killed with SIGKILL
//! at a random moment, restarted, and checked:
//! * every acknowledged entry is present with identical bytes at its index;
//! * the tree size never goes backwards;
//! * the new checkpoint is consistent with the largest one seen before;
//! * submissions whose outcome was in doubt, retried with the same
//!   `event_id`, end up in the log exactly once;
//! * the credential map recomputed from the entries equals every state
//!   commitment (the last one included), and every credential answer given
//!   before the kill still verifies and its commitment is still in the log
//!   with the same bytes.
//!
//! Cycles: `PROVLOG_CRASH_CYCLES` (default 3, as CI runs it; run 20 or more
//! locally: `PROVLOG_CRASH_CYCLES=20 cargo test --release --test crash`).

#![expect(
    clippy::cast_possible_truncation,
    reason = "counts and indexes it builds itself, far below 2^32"
)]

use crate::common::{Server, checkpoint, client, event, get, get_json, submission};
use provlog_proto::leaf::Leaf;
use provlog_proto::receipt::Receipt;
use provlog_tlog::b64;
use provlog_tlog::checkpoint::Checkpoint;
use provlog_tlog::merkle::{MemoryTree, leaf_hash, verify_consistency};
use provlog_tlog::tile::{TileKind, decode_bundle, tiles_for_size};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Default)]
struct Seen {
    acked: BTreeMap<u64, Vec<u8>>,
    in_doubt: Vec<serde_json::Value>,
    best: Option<Checkpoint>,
    /// Every checkpoint any client was given: size → root.
    checkpoints: BTreeMap<u64, [u8; 32]>,
    /// Credential answers given under load, verified.
    answers: Vec<provlog_proto::credential::CredentialAnswer>,
}

/// Every entry of the log, read through the entry bundles.
async fn all_entries(c: &reqwest::Client, s: &Server, size: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for t in tiles_for_size(size).into_iter().filter(|t| t.kind == TileKind::Entries) {
        let (st, body) = get(c, &s.url, &format!("/{}", t.path())).await;
        assert_eq!(st, 200, "{}", t.path());
        out.extend(
            decode_bundle(&body, usize::from(t.width))
                .expect("bundle")
                .into_iter()
                .map(<[u8]>::to_vec),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    let cycles: u32 = std::env::var("PROVLOG_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("crash test: {cycles} cycles, seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let c = client();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut last_size = 0u64;
    let mut s = Server::start(&data, &[]);
    let key = s.dev_key();

    for cycle in 0..cycles {
        // Load: 32 clients submitting new events as fast as they can.
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for t in 0..32 {
            let (c, url, key, vkey, seen, stop) = (
                c.clone(),
                s.url.clone(),
                key.clone(),
                s.vkey.clone(),
                Arc::clone(&seen),
                Arc::clone(&stop),
            );
            tasks.push(tokio::spawn(async move {
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let sub = submission(&key, &event(&format!("c{cycle}-t{t}-{k}"), "svc-crash"));
                    k += 1;
                    let res = c.post(format!("{url}/v1/entries")).json(&sub).send().await;
                    let ok = match res {
                        Ok(r) if r.status() == 201 || r.status() == 200 => r.json::<Receipt>().await.ok(),
                        _ => None,
                    };
                    let mut g = seen.lock().expect("lock");
                    if let Some(receipt) = ok {
                        let v = receipt.verify(&vkey).expect("acknowledged receipt verifies");
                        if g.best.as_ref().is_none_or(|b| b.size < v.checkpoint.size) {
                            g.best = Some(v.checkpoint.clone());
                        }
                        let old = g.checkpoints.insert(v.checkpoint.size, v.checkpoint.root);
                        assert!(
                            old.is_none_or(|r| r == v.checkpoint.root),
                            "two roots signed for size {}",
                            v.checkpoint.size
                        );
                        g.acked.insert(v.index, v.entry);
                    } else {
                        g.in_doubt.push(sub);
                        break;
                    }
                }
            }));
        }
        // A gateway asking about the credential under load.
        {
            let (c, url, vkey, seen, stop) = (
                c.clone(),
                s.url.clone(),
                s.vkey.clone(),
                Arc::clone(&seen),
                Arc::clone(&stop),
            );
            let fp = crate::common::fingerprint_of("svc-crash");
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(r) = c.get(format!("{url}/v1/credentials/{fp}")).send().await else {
                        break;
                    };
                    if r.status() != 200 {
                        break;
                    }
                    let Ok(a) = r.json::<provlog_proto::credential::CredentialAnswer>().await else {
                        break;
                    };
                    crate::common::verify_credential(&a, &fp, &vkey).expect("an answer under load verifies");
                    seen.lock().expect("lock").answers.push(a);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        let wait = 300 + rng.next() % 1500;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        s.kill();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("client task");
        }

        s = Server::start(&data, &[]);
        let (cp, _) = checkpoint(&c, &s).await;
        let (acked, best, in_doubt, seen_cps) = {
            let g = seen.lock().expect("lock");
            (g.acked.clone(), g.best.clone(), g.in_doubt.len(), g.checkpoints.clone())
        };
        eprintln!(
            "cycle {cycle}: killed after {wait} ms; {} acknowledged so far, {in_doubt} in doubt, size {}",
            acked.len(),
            cp.size
        );
        assert!(
            cp.size >= last_size,
            "tree size went backwards: {last_size} -> {}",
            cp.size
        );
        if let Some(best) = &best {
            assert!(
                cp.size >= best.size,
                "checkpoint {} < acknowledged {}",
                cp.size,
                best.size
            );
            if best.size < cp.size {
                let (st, p) = get_json(
                    &c,
                    &s.url,
                    &format!("/v1/proofs/consistency?from={}&to={}", best.size, cp.size),
                )
                .await;
                assert_eq!(st, 200);
                let proof: Vec<Vec<u8>> = p["proof"]
                    .as_array()
                    .expect("a")
                    .iter()
                    .map(|h| b64::decode(h.as_str().expect("s")).expect("b64"))
                    .collect();
                verify_consistency(best.size, cp.size, &best.root, &cp.root, &proof).expect("consistent with the past");
            } else {
                assert_eq!(best.root, cp.root);
            }
        }
        let entries = all_entries(&c, &s, cp.size).await;
        for (i, e) in &acked {
            assert_eq!(
                entries.get(*i as usize),
                Some(e),
                "acknowledged entry {i} lost or changed"
            );
        }
        // The map recomputed from the entries equals every commitment.
        let mut auditor = provlog_proto::audit::Auditor::new(s.vkey.name());
        let mut last_state = None;
        for (i, e) in entries.iter().enumerate() {
            let a = auditor.push(e).unwrap_or_else(|f| panic!("entry {i}: {f}"));
            if let provlog_proto::audit::Audited::State { map_root } = a {
                last_state = Some((i as u64, map_root));
            }
        }
        let (last_index, last_root) = last_state.expect("a state commitment");
        let fp = crate::common::fingerprint_of("svc-crash");
        let (st, v) = get_json(&c, &s.url, &format!("/v1/credentials/{fp}")).await;
        assert_eq!(st, 200, "{v}");
        let now: provlog_proto::credential::CredentialAnswer = serde_json::from_value(v).expect("answer");
        let verified = crate::common::verify_credential(&now, &fp, &s.vkey).expect("the answer after restart verifies");
        assert_eq!(
            (verified.commitment_index, verified.commitment.map_root),
            (last_index, last_root),
            "the answer after restart is against the last commitment, as recomputed"
        );
        // Every answer given before the kill still verifies, and its
        // commitment is in the log with the same bytes.
        let answers = std::mem::take(&mut seen.lock().expect("lock").answers);
        for a in &answers {
            let v = a
                .verify_for(
                    &fp,
                    &provlog_proto::credential::Requirements {
                        log_key: &s.vkey,
                        witnesses: &[],
                        min_witnesses: 0,
                        now_millis: provlog_proto::time::parse_millis(&verified.commitment.logged_at).expect("t"),
                        max_age_millis: i64::MAX / 4,
                        as_of_entry: None,
                    },
                )
                .expect("an earlier answer still verifies");
            assert_eq!(
                entries.get(v.commitment_index as usize).map(Vec::as_slice),
                b64::decode(&a.commitment.entry).ok().as_deref(),
                "an answered commitment is in the log"
            );
        }
        eprintln!(
            "cycle {cycle}: {} credential answers re-checked, map recomputed and equal to commitment {last_index}",
            answers.len()
        );
        // Every checkpoint ever handed out is a prefix of today's tree.
        let mut tree = MemoryTree::new();
        for e in &entries {
            tree.push(leaf_hash(e));
        }
        assert_eq!(
            tree.root_at(cp.size).expect("root"),
            cp.root,
            "served entries match the checkpoint"
        );
        for (size, root) in &seen_cps {
            assert_eq!(
                tree.root_at(*size).expect("root"),
                *root,
                "checkpoint of size {size} is not consistent"
            );
        }
        eprintln!(
            "cycle {cycle}: {} distinct checkpoints seen so far, all consistent",
            seen_cps.len()
        );
        last_size = cp.size;
    }

    // Retry everything in doubt with the same event_id: each ends up in the
    // log exactly once.
    let in_doubt = std::mem::take(&mut seen.lock().expect("lock").in_doubt);
    for sub in &in_doubt {
        let r = c
            .post(format!("{}/v1/entries", s.url))
            .json(sub)
            .send()
            .await
            .expect("retry");
        assert!(r.status() == 201 || r.status() == 200, "retry got {}", r.status());
    }
    let (cp, _) = checkpoint(&c, &s).await;
    let mut count: HashMap<String, usize> = HashMap::new();
    for e in all_entries(&c, &s, cp.size).await {
        if let Leaf::Event(ev) = Leaf::parse(&e).expect("leaf") {
            *count.entry(ev.event.event.event_id).or_default() += 1;
        }
    }
    for sub in &in_doubt {
        let id = sub["event"]["event_id"].as_str().expect("id");
        assert_eq!(count.get(id), Some(&1), "{id} is logged {:?} times", count.get(id));
    }
    assert!(count.values().all(|&n| n == 1), "some event_id is logged twice");
    let g = seen.lock().expect("lock");
    assert!(!g.acked.is_empty(), "the load never got an acknowledgement");
    s.stop();
}
