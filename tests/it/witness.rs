//! Witnesses over real processes on loopback: a log with two witnesses
//! reaches a 2-of-2 cosigned checkpoint that `provlog verify
//! --min-witnesses 2` accepts; a witness answers every bad request per the
//! spec, stores nothing for it, and after a restart keeps refusing a
//! checkpoint inconsistent with one it cosigned.

use crate::common::{self, Killed, Server, client, event, run, submission, write_key};
use provlog_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use provlog_tlog::keys::{ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey};
use provlog_tlog::merkle::{MemoryTree, consistency_proof, leaf_hash};
use provlog_tlog::witness::AddCheckpoint;
use std::path::Path;

fn witness_key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, ALG_COSIGNATURE_V1, [seed; 32]).expect("key")
}

fn start_witness(dir: &Path, key: &SignerKey, log_vkey: &str) -> (std::process::Child, String) {
    common::start_witness_on(dir, key, log_vkey, "127.0.0.1:0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_witnesses_cosign_and_verify_requires_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let log_key = SignerKey::from_seed("wit.example/log", ALG_ED25519, [50; 32]).expect("k");
    write_key(&data.join("log.skey"), &log_key);
    let vkey = log_key.verifier().to_vkey_string();
    let (w1k, w2k) = (witness_key("w1.example", 51), witness_key("w2.example", 52));
    let (c1, u1) = start_witness(&dir.path().join("w1"), &w1k, &vkey);
    let (c2, u2) = start_witness(&dir.path().join("w2"), &w2k, &vkey);
    let _guards = (Killed(c1), Killed(c2));
    let w1v = w1k.verifier().to_vkey_string();
    let w2v = w2k.verifier().to_vkey_string();
    let s = Server::start(
        &data,
        &[
            "--origin",
            "wit.example/log",
            "--witness",
            &format!("{u1}={w1v}"),
            "--witness",
            &format!("{u2}={w2v}"),
            "--witness-interval-ms",
            "50",
        ],
    );
    let c = client();
    let key = s.dev_key();
    for i in 0..20 {
        let r = c
            .post(format!("{}/v1/entries", s.url))
            .json(&submission(&key, &event(&format!("w-{i}"), "svc-w")))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 201);
    }
    // Wait (generously; this is not a timing assertion) for the witnesses.
    // The policy, the first state commitment, each event and its commitment.
    let witnessed = common::wait_witnessed(&c, &s.url, "wit.example/log\n42\n").await;
    assert!(witnessed.starts_with("wit.example/log\n42\n"), "{witnessed:?}");
    assert_eq!(
        witnessed.matches("\n\u{2014} ").count(),
        3,
        "log signature + two cosignatures: {witnessed}"
    );
    // /checkpoint carries them too once collected for the latest size.
    let (_, cp) = common::get(&c, &s.url, "/checkpoint").await;
    assert!(String::from_utf8_lossy(&cp).contains("\u{2014} w1.example "));

    let f = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).expect("w");
        p.to_str().expect("p").to_owned()
    };
    let cpf = f("witnessed.txt", &witnessed);
    let (code, out) = run(&[
        "verify",
        "--checkpoint",
        &cpf,
        "--log-key",
        &vkey,
        "--witness-key",
        &w1v,
        "--witness-key",
        &w2v,
        "--min-witnesses",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cosigned by 2 of 2 witnesses"), "{out}");

    // A receipt against the witnessed checkpoint satisfies a 2-of-2 policy.
    let r = c
        .get(format!("{}/v1/entries/7/receipt?witnessed=true", s.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let rf = f("witnessed-receipt.json", &r.text().await.expect("text"));
    let (code, out) = run(&[
        "verify",
        "--receipt",
        &rf,
        "--log-key",
        &vkey,
        "--witness-key",
        &w1v,
        "--witness-key",
        &w2v,
        "--min-witnesses",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    // A plain receipt (log signature only) does not.
    let r = c
        .get(format!("{}/v1/entries/7/receipt", s.url))
        .send()
        .await
        .expect("get");
    let plain = f("plain-receipt.json", &r.text().await.expect("text"));
    let (code, out) = run(&[
        "verify",
        "--receipt",
        &plain,
        "--log-key",
        &vkey,
        "--witness-key",
        &w1v,
        "--witness-key",
        &w2v,
        "--min-witnesses",
        "2",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("policy is NOT met"), "{out}");
    // A credential answer from a log with witnesses carries the witnessed
    // checkpoint: a gateway requiring both witnesses accepts it (issue 14.4).
    let fp = common::fingerprint_of("svc-w");
    let r = c
        .get(format!("{}/v1/credentials/{fp}", s.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let answer = f("credential.json", &r.text().await.expect("text"));
    let (code, out) = run(&[
        "verify",
        "--credential",
        &answer,
        "--fingerprint",
        &fp,
        "--log-key",
        &vkey,
        "--witness-key",
        &w1v,
        "--witness-key",
        &w2v,
        "--min-witnesses",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(": active (") && out.contains("cosigned by 2 of 2 witnesses"),
        "{out}"
    );
    // An unrelated witness key does not count.
    let stranger = witness_key("w3.example", 53).verifier().to_vkey_string();
    let (code, _) = run(&[
        "verify",
        "--receipt",
        &rf,
        "--log-key",
        &vkey,
        "--witness-key",
        &stranger,
        "--min-witnesses",
        "1",
    ]);
    assert_eq!(code, 1);
}

fn tree(prefix: &str, n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.push(leaf_hash(format!("{prefix}{i}").as_bytes()));
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_follows_the_spec_and_never_cosigns_a_fork_even_after_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = SignerKey::from_seed("fork.example/log", ALG_ED25519, [60; 32]).expect("k");
    let wk = witness_key("wit.example/w", 61);
    let vkey = log.verifier().to_vkey_string();
    let note = |t: &MemoryTree, n: u64| {
        sign_checkpoint(
            &Checkpoint::new("fork.example/log", n, t.root_at(n).expect("root")),
            &log,
        )
        .expect("sign")
        .to_string()
    };
    let honest = tree("h", 12);
    let mut forked = tree("h", 5);
    for i in 0..7 {
        forked.push(leaf_hash(format!("x{i}").as_bytes()));
    }
    let body = |old: u64, t: &MemoryTree, n: u64| {
        AddCheckpoint {
            old,
            proof: consistency_proof(old, n, t).expect("proof"),
            note: note(t, n).into_bytes(),
        }
        .to_bytes()
    };
    let wdir = dir.path().join("w");
    let (child, url) = start_witness(&wdir, &wk, &vkey);
    let mut guard = Killed(child);
    let c = client();
    let post = |b: Vec<u8>| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let r = c
                .post(format!("{url}/add-checkpoint"))
                .body(b)
                .send()
                .await
                .expect("post");
            let st = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            (st, ct, r.text().await.expect("text"))
        }
    };
    // First cosignature: old 0 at size 8.
    let (st, _, line) = post(body(0, &honest, 8)).await;
    assert_eq!(st, 200, "{line}");
    let sig = provlog_tlog::note::NoteSignature::parse_line(line.trim_end()).expect("line");
    let text = note(&honest, 8)
        .split("\n\n")
        .next()
        .map(|t| format!("{t}\n"))
        .expect("text");
    assert!(
        provlog_tlog::note::verify_signature(&text, &sig, &wk.verifier()).is_some(),
        "cosignature verifies"
    );

    // Restart: the stored state survives.
    drop(guard);
    let (child, url2) = start_witness(&wdir, &wk, &vkey);
    guard = Killed(child);
    let post = |b: Vec<u8>| {
        let (c, url) = (c.clone(), url2.clone());
        async move {
            let r = c
                .post(format!("{url}/add-checkpoint"))
                .body(b)
                .send()
                .await
                .expect("post");
            let st = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            (st, ct, r.text().await.expect("text"))
        }
    };
    // The fork at the same size: 422. From old 0: 409 with the size it has.
    assert_eq!(post(body(8, &forked, 8)).await.0, 422);
    let (st, ct, b) = post(body(0, &forked, 8)).await;
    assert_eq!((st, ct.as_deref(), b.as_str()), (409, Some("text/x.tlog.size"), "8\n"));
    // The fork grown past the cosigned size: the proof from 8 cannot verify.
    let (st, _, _) = post(
        AddCheckpoint {
            old: 8,
            proof: consistency_proof(8, 12, &forked).expect("proof"),
            note: note(&forked, 12).into_bytes(),
        }
        .to_bytes(),
    )
    .await;
    assert_eq!(st, 422);
    // Bad requests per the spec.
    let unknown = SignerKey::from_seed("other.example/log", ALG_ED25519, [62; 32]).expect("k");
    let other_note = sign_checkpoint(
        &Checkpoint::new("other.example/log", 8, honest.root_at(8).expect("r")),
        &unknown,
    )
    .expect("sign")
    .to_string();
    let impostor = SignerKey::from_seed("fork.example/log", ALG_ED25519, [63; 32]).expect("k");
    let impostor_note = sign_checkpoint(
        &Checkpoint::new("fork.example/log", 12, honest.root_at(12).expect("r")),
        &impostor,
    )
    .expect("sign")
    .to_string();
    for (b, want) in [
        (b"garbage".to_vec(), 400),
        (b"old 8\n\n".to_vec(), 400),
        (format!("old 8\n\n{other_note}").into_bytes(), 404),
        (format!("old 8\n\n{impostor_note}").into_bytes(), 403),
        (
            AddCheckpoint {
                old: 10,
                proof: vec![],
                note: note(&honest, 9).into_bytes(),
            }
            .to_bytes(),
            400,
        ),
        (
            AddCheckpoint {
                old: 8,
                proof: vec![[0; 32]],
                note: note(&honest, 12).into_bytes(),
            }
            .to_bytes(),
            422,
        ),
    ] {
        assert_eq!(post(b).await.0, want);
    }
    // Nothing of that was stored: the honest growth from 8 is still accepted.
    assert_eq!(post(body(8, &honest, 12)).await.0, 200);
    // A replay of the old checkpoint is stale now.
    let (st, _, b) = post(body(8, &honest, 8)).await;
    assert_eq!((st, b.as_str()), (409, "12\n"));
    // What it serves for gossip is the last cosigned checkpoint.
    let v: serde_json::Value = c
        .get(format!("{url2}/checkpoints"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(
        v["checkpoints"][0]
            .as_str()
            .expect("note")
            .starts_with("fork.example/log\n12\n")
    );
    drop(guard);
}

/// Issue 16.4: a witness holding an ML-DSA-44 key beside its Ed25519 one
/// answers add-checkpoint with both cosignatures; a log whose witness
/// policy names the ML-DSA-44 vkey collects that one; `provlog verify`
/// accepts it (and refuses another ML-DSA-44 key); the witness serves the
/// cosigned checkpoint at the C2SP monitoring path (origin hash) and the
/// older percent-encoded form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_with_ml_dsa_44_and_serves_the_monitoring_endpoint() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let log_key = SignerKey::from_seed("pq.example/log", ALG_ED25519, [60; 32]).expect("k");
    write_key(&data.join("log.skey"), &log_key);
    let vkey = log_key.verifier().to_vkey_string();
    let wdir = dir.path().join("w");
    std::fs::create_dir_all(&wdir).expect("dir");
    let ek = witness_key("pq-witness.example", 61);
    write_key(&wdir.join("w.skey"), &ek);
    let pq = wdir.join("pq.skey");
    let (child, wurl) = crate::common::spawn_ready(
        &wdir,
        &[
            "witness",
            "--key",
            wdir.join("w.skey").to_str().expect("p"),
            "--mldsa-key",
            pq.to_str().expect("p"),
            "--name",
            "pq-witness.example",
            "--log-key",
            &vkey,
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            wdir.to_str().expect("p"),
        ],
        "witness",
    );
    let _guard = Killed(child);
    let pqv = std::fs::read_to_string(wdir.join("pq.vkey")).expect("the ML-DSA-44 vkey was written");
    let pqv = pqv.trim().to_owned();
    assert!(
        provlog_tlog::keys::VerifierKey::parse(&pqv).is_ok_and(|k| k.alg() == provlog_tlog::mldsa::ALG_MLDSA44),
        "{pqv}"
    );
    let s = Server::start(
        &data,
        &[
            "--origin",
            "pq.example/log",
            "--witness",
            &format!("{wurl}={pqv}"),
            "--witness-interval-ms",
            "50",
        ],
    );
    let c = client();
    let key = s.dev_key();
    for i in 0..3 {
        let r = c
            .post(format!("{}/v1/entries", s.url))
            .json(&submission(&key, &event(&format!("pq-{i}"), "svc-pq")))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 201);
    }
    let witnessed = common::wait_witnessed(&c, &s.url, "pq.example/log\n8\n").await;
    assert!(witnessed.starts_with("pq.example/log\n8\n"), "{witnessed:?}");
    assert!(witnessed.contains("\u{2014} pq-witness.example "), "{witnessed}");
    let cpf = dir.path().join("witnessed.txt");
    std::fs::write(&cpf, &witnessed).expect("w");
    let cpf = cpf.to_str().expect("p").to_owned();
    let (code, out) = run(&[
        "verify",
        "--checkpoint",
        &cpf,
        "--log-key",
        &vkey,
        "--witness-key",
        &pqv,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cosigned by 1 of 1 witness\n"), "{out}");
    let other = provlog_tlog::mldsa::MlDsaSigner::from_seed("pq-witness.example", [62; 32])
        .expect("k")
        .verifier()
        .to_vkey_string();
    let (code, out) = run(&[
        "verify",
        "--checkpoint",
        &cpf,
        "--log-key",
        &vkey,
        "--witness-key",
        &other,
    ]);
    assert_eq!(code, 1, "another ML-DSA-44 key under the same name: {out}");

    // The monitoring endpoint: the log's signature and both cosignatures.
    let hash = provlog_tlog::hex::encode(provlog_tlog::merkle::sha256(&[b"pq.example/log"]));
    let (st, body) = common::get(&c, &wurl, &format!("/{hash}/checkpoint")).await;
    let note = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(st, 200, "{note}");
    assert!(note.starts_with("pq.example/log\n"), "{note}");
    assert_eq!(note.matches("\n\u{2014} pq-witness.example ").count(), 2, "{note}");
    let n = provlog_tlog::note::Note::parse(&body).expect("a note");
    let pk = provlog_tlog::keys::VerifierKey::parse(&pqv).expect("vk");
    assert!(n.verify(&[pk, ek.verifier()]).is_ok_and(|v| v.len() == 2), "{note}");
    let (st, _) = common::get(&c, &wurl, "/pq.example%2Flog/checkpoint").await;
    assert_eq!(st, 200, "the percent-encoded origin form");
    let (st, _) = common::get(&c, &wurl, &format!("/{}/checkpoint", "0".repeat(64))).await;
    assert_eq!(st, 404);

    // sign-subtree: [4, 8) of the cosigned checkpoint of size 8.
    let mut leaves = Vec::new();
    for i in 0..8 {
        let (_, e) = crate::common::get_json(&c, &s.url, &format!("/v1/entries/{i}")).await;
        leaves.push(provlog_tlog::b64::decode_array::<32>(e["leaf_hash"].as_str().expect("hash")).expect("32"));
    }
    let sh = mth(&leaves[4..8]);
    let proof = vec![mth(&leaves[0..4])];
    let post = |body: String| {
        let (c, wurl) = (c.clone(), wurl.clone());
        async move {
            let r = c
                .post(format!("{wurl}/sign-subtree"))
                .body(body)
                .send()
                .await
                .expect("post");
            (r.status().as_u16(), r.text().await.expect("text"))
        }
    };
    let body = |start: u64, end: u64, hash: &[u8; 32], proof: &[[u8; 32]], checkpoint: &str| {
        let mut b = format!("subtree {start} {end}\n{}\n", provlog_tlog::b64::encode(hash));
        for h in proof {
            b.push_str(&provlog_tlog::b64::encode(h));
            b.push('\n');
        }
        b.push('\n');
        b.push_str(checkpoint);
        b
    };
    let (st, line) = post(body(4, 8, &sh, &proof, &note)).await;
    assert_eq!(st, 200, "{line}");
    let sig = provlog_tlog::note::NoteSignature::parse_line(line.trim_end()).expect("a signature line");
    let pk = provlog_tlog::keys::VerifierKey::parse(&pqv).expect("vk");
    assert_eq!(
        provlog_tlog::mldsa::verify_subtree(&pk, &sig, "pq.example/log", 4, 8, &sh),
        Some(0),
        "a subtree/v1 signature with timestamp 0"
    );
    // A wrong proof, a range past the checkpoint or not a subtree, and a
    // checkpoint this witness did not cosign.
    let (st, _) = post(body(4, 8, &sh, &[[0; 32]], &note)).await;
    assert_eq!(st, 422);
    let (st, _) = post(body(8, 16, &sh, &proof, &note)).await;
    assert_eq!(st, 400);
    let (st, _) = post(body(3, 8, &sh, &proof, &note)).await;
    assert_eq!(st, 400);
    let log_only = format!(
        "{}\n{}",
        n.text(),
        n.signatures()
            .iter()
            .find(|x| x.name == "pq.example/log")
            .expect("the log's signature")
            .to_line()
    );
    let (st, _) = post(body(4, 8, &sh, &proof, &log_only)).await;
    assert_eq!(st, 403);
}

/// The RFC 6962 hash of `leaves` (test oracle for subtree hashes).
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = leaves.len().next_power_of_two() / 2;
    provlog_tlog::merkle::node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
}

/// Issue 16.4: the log's witness policy as a C2SP tlog-policy file: a
/// 2-of-3 group whose third witness is down is met by an Ed25519 and an
/// ML-DSA-44 witness; a policy that does not parse, or that lists logs but
/// not this one, stops the log from starting, naming why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tlog_policy_file_decides_what_is_witnessed() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let log_key = SignerKey::from_seed("policy.example/log", ALG_ED25519, [70; 32]).expect("k");
    write_key(&data.join("log.skey"), &log_key);
    let vkey = log_key.verifier().to_vkey_string();
    let ek = witness_key("w1.policy.example", 71);
    let (c1, u1) = start_witness(&dir.path().join("w1"), &ek, &vkey);
    let w2dir = dir.path().join("w2");
    std::fs::create_dir_all(&w2dir).expect("dir");
    let pq = w2dir.join("pq.skey");
    let (c2, u2) = crate::common::spawn_ready(
        &w2dir,
        &[
            "witness",
            "--mldsa-key",
            pq.to_str().expect("p"),
            "--mldsa-only",
            "--name",
            "w2.policy.example",
            "--log-key",
            &vkey,
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            w2dir.to_str().expect("p"),
        ],
        "witness",
    );
    let _guards = (Killed(c1), Killed(c2));
    let pqv = std::fs::read_to_string(w2dir.join("pq.vkey"))
        .expect("vkey")
        .trim()
        .to_owned();
    let down = witness_key("w3.policy.example", 72).verifier().to_vkey_string();
    let dead = format!("http://127.0.0.1:{}", crate::common::free_port());
    let policy = format!(
        "# two of three witnesses\nlog {vkey}\nwitness w1 {} {u1}\nwitness w2 {pqv} {u2}\nwitness w3 {down} {dead}\n\
         group g 2 w1 w2 w3\nquorum g\n",
        ek.verifier().to_vkey_string()
    );
    let pf = dir.path().join("witnesses.policy");
    std::fs::write(&pf, &policy).expect("w");
    let pfs = pf.to_str().expect("p").to_owned();
    let s = Server::start(
        &data,
        &[
            "--origin",
            "policy.example/log",
            "--witness-policy-file",
            &pfs,
            "--witness-interval-ms",
            "50",
        ],
    );
    let c = client();
    let r = c
        .post(format!("{}/v1/entries", s.url))
        .json(&submission(&s.dev_key(), &event("p-1", "svc-p")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let witnessed = common::wait_witnessed(&c, &s.url, "policy.example/log\n4\n").await;
    assert!(witnessed.starts_with("policy.example/log\n4\n"), "{witnessed:?}");
    let note = provlog_tlog::note::Note::parse(witnessed.as_bytes()).expect("note");
    let p = provlog_tlog::policy::WitnessPolicy::parse(&policy).expect("policy");
    assert!(p.check(&note), "the witnessed checkpoint meets the policy: {witnessed}");
    let (_, log) = crate::common::get_json(&c, &s.url, "/v1/log").await;
    assert_eq!(log["witness_policy"], serde_json::json!(2), "{log}");
    // A client checks the same policy file offline; a stricter one fails.
    let wf = dir.path().join("witnessed.txt");
    std::fs::write(&wf, &witnessed).expect("w");
    let wfs = wf.to_str().expect("p").to_owned();
    let (code, out) = run(&[
        "verify",
        "--checkpoint",
        &wfs,
        "--log-key",
        &vkey,
        "--witness-policy",
        &pfs,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("meeting the witness policy (cosigned by w1, w2)"), "{out}");
    let strict = dir.path().join("strict.policy");
    std::fs::write(&strict, policy.replace("group g 2", "group g 3")).expect("w");
    let (code, out) = run(&[
        "verify",
        "--checkpoint",
        &wfs,
        "--log-key",
        &vkey,
        "--witness-policy",
        strict.to_str().expect("p"),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("quorum is NOT met"), "{out}");
    // An Ed25519-only witness signs no subtrees.
    let r = c
        .post(format!("{u1}/sign-subtree"))
        .body("subtree 0 1\n")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 404);
    drop(s);

    // Policies the log refuses to start with.
    let other_log = SignerKey::from_seed("policy.example/log", ALG_ED25519, [73; 32]).expect("k");
    for (text, needle) in [
        (policy.replace("quorum g\n", ""), "no quorum line"),
        (policy.replace("group g 2", "group g 4"), "line 6"),
        (
            policy.replace(&vkey, &other_log.verifier().to_vkey_string()),
            "not this log's key",
        ),
    ] {
        std::fs::write(&pf, &text).expect("w");
        let e = Server::try_start(
            &data,
            &["--origin", "policy.example/log", "--witness-policy-file", &pfs],
        )
        .err()
        .expect("the log must not start");
        assert!(e.contains(needle), "{needle}: {e}");
    }
}
