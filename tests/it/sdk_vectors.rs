//! Issue 19: the cross-language vectors of the SDKs
//! (`testdata/vectors/sdk_v1.json`, format in testdata/vectors/README.md):
//! keys, RFC 8785 canonical bytes, event signatures (versions 1 and 2),
//! receipts, witnessed checkpoints (k of n), consistency proofs,
//! credential answers, signed refusals, a sequenced chain and a tile read,
//! each positive or negative. They come from this implementation against a
//! real server: `PROVLOG_WRITE_VECTORS=1` rewrites the file from this run.
//! Every run re-derives what is deterministic (keys, canonical bytes,
//! signatures) and requires it equal to the file, and verifies every case
//! of the file (and of this run) with the Rust verifiers, so that the Rust
//! code and the file cannot drift; the Python, Go and TypeScript SDKs check
//! the same file in their own suites.

use crate::common::{Server, client, get, get_json, post};
use provlog_proto::credential::{CredentialAnswer, Requirements};
use provlog_proto::receipt::Receipt;
use provlog_proto::refusal::SignedRefusal;
use provlog_tlog::b64;
use provlog_tlog::keys::{ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey, VerifierKey};
use serde_json::{Value, json};

const ORIGIN: &str = "sdk.example/log";
/// The witnesses' cosignature timestamp (Unix seconds), fixed so that the
/// cosignature lines are deterministic.
const COSIGNED_AT: u64 = 1_796_378_400;

fn key(name: &str, alg: u8, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, alg, [seed; 32]).expect("key")
}

struct Keys {
    log: SignerKey,
    ci: SignerKey,
    seq: SignerKey,
    witnesses: Vec<SignerKey>,
}

fn keys() -> Keys {
    Keys {
        log: key(ORIGIN, ALG_ED25519, 0x11),
        ci: key("ci", ALG_ED25519, 0x22),
        seq: key("seq", ALG_ED25519, 0x33),
        witnesses: (0..3u8)
            .map(|i| key(&format!("witness.example/w{}", i + 1), ALG_COSIGNATURE_V1, 0x44 + i))
            .collect(),
    }
}

fn key_json(k: &SignerKey, kind: &str) -> Value {
    json!({
        "name": k.name(),
        "type": kind,
        "skey": k.to_skey_string(),
        "vkey": k.verifier().to_vkey_string(),
        "key_id_hex": provlog_tlog::hex::encode(k.key_id().to_be_bytes()),
        "public_key_b64": b64::encode(k.public_key_bytes()),
    })
}

/// The deterministic sections: keys, canonicalization, event signatures.
fn deterministic(k: &Keys) -> Value {
    let mut keys = vec![
        key_json(&k.log, "ed25519"),
        key_json(&k.ci, "ed25519"),
        key_json(&k.seq, "ed25519"),
    ];
    keys.extend(k.witnesses.iter().map(|w| key_json(w, "cosignature/v1")));
    let good = k.ci.verifier().to_vkey_string();
    // name+hash+base64, where the base64 may hold '+'.
    let mut parts = good.splitn(3, '+');
    let (name, _, blob) = (
        parts.next().expect("name"),
        parts.next().expect("hash"),
        parts.next().expect("key"),
    );
    let head = format!("{name}+{}", provlog_tlog::hex::encode(k.ci.key_id().to_be_bytes()));
    let bad_vkeys = json!([
        {"vkey": format!("ci+00000000+{blob}"), "why": "the key ID is not the key's"},
        {"vkey": format!("{head}+{}", &blob[..blob.len() - 4]), "why": "the key is short"},
        {"vkey": format!("{head}+!{}", &blob[1..]), "why": "not base64"},
        {"vkey": head.clone(), "why": "no key"},
        {"vkey": format!("c i+{}", &good[3..]), "why": "a space in the name"},
    ]);
    let jcs_inputs = [
        r#"{"b":1,"a":[true,false,null],"c":{"z":"","y":{}}}"#,
        r#"{"\u20ac":"\u20ac","\r":"\n","a\u0000":"\u001f\u007f"}"#,
        r#"{"\ud83d\ude00":1,"\u00e9":2,"e":3,"\ufb33":4}"#,
        r#"{"numbers":[0,-0,1,-1,100,1e2,1.5,-2.25,1e21,1e-7,123456789012345,0.000001]}"#,
        r#"{"quote\"back\\slash":"tab\tand\/slash","u":"\u00fc\u0308"}"#,
        r#"  [ 1 , "x" , { } , [ ] ]  "#,
    ];
    let jcs: Vec<Value> = jcs_inputs
        .iter()
        .map(|input| {
            let v: Value = serde_json::from_str(input).expect("json");
            let c = provlog_proto::json::canonical(&v).expect("jcs");
            json!({"input": input, "canonical": String::from_utf8(c).expect("utf8")})
        })
        .collect();
    let events: Vec<Value> = sdk_events()
        .iter()
        .map(|e| {
            let ce = provlog_proto::event::CanonicalEvent::from_value(e).expect("event");
            let m1 = provlog_proto::submission::signing_message(&ce.jcs);
            let m2 = provlog_proto::submission::signing_message_v2(ORIGIN, &ce.jcs);
            json!({
                "event": e,
                "canonical": String::from_utf8(ce.jcs.clone()).expect("utf8"),
                "submitter": "ci",
                "message_v1_hex": provlog_tlog::hex::encode(&m1),
                "signature_v1": b64::encode(k.ci.sign_raw(&m1)),
                "origin": ORIGIN,
                "message_v2_hex": provlog_tlog::hex::encode(&m2),
                "signature_v2": b64::encode(k.ci.sign_raw(&m2)),
                "submission_v2": provlog_proto::submission::sign_for_log(e, "ci", &k.ci, ORIGIN).expect("sign"),
            })
        })
        .collect();
    json!({"keys": keys, "bad_vkeys": bad_vkeys, "jcs": jcs, "events": events})
}

fn sdk_events() -> Vec<Value> {
    let fp = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    vec![
        json!({
            "event_id": "sdk-issue-1", "occurred_at": "2026-12-04T10:00:00Z", "action": "issue",
            "actor": {"id": "github-actions/onboard", "type": "workflow"},
            "target": {"id": "svc-payments", "type": "service_account", "system": "gcp"},
            "authority": {"approval_id": "CHG-1", "approved_by": "alice@example.com"},
            "decision": {"result": "allow", "policy_id": "onboarding"}, "outcome": "success",
            "credential": {"fingerprint": fp('a'), "not_after": "2099-01-01T00:00:00Z"},
            "details": {"ticket": "OPS-1", "note": "caf\u{e9} \u{1f600}"}
        }),
        json!({
            "event_id": "sdk-rotate-1", "occurred_at": "2026-12-04T10:05:00Z", "action": "rotate",
            "actor": {"id": "wf/rotate", "type": "workflow"},
            "target": {"id": "svc-payments", "type": "service_account", "system": "gcp"},
            "authority": {}, "decision": {"result": "allow"}, "outcome": "success",
            "credential": {"fingerprint": fp('b'), "previous_fingerprint": fp('a'), "not_after": "2099-01-01T00:00:00Z"}
        }),
        json!({
            "event_id": "sdk-revoke-1", "occurred_at": "2026-12-04T10:10:00Z", "action": "revoke",
            "actor": {"id": "wf/offboard", "type": "workflow"},
            "target": {"id": "svc-legacy", "type": "api_key"},
            "authority": {}, "decision": {"result": "allow"}, "outcome": "success",
            "credential": {"fingerprint": fp('c')}
        }),
        json!({
            "event_id": "sdk-issue-2", "occurred_at": "2026-12-04T10:15:00Z", "action": "issue",
            "actor": {"id": "wf/onboard", "type": "workflow"},
            "target": {"id": "svc-legacy", "type": "api_key"},
            "authority": {}, "decision": {"result": "allow"}, "outcome": "success",
            "credential": {"fingerprint": fp('d'), "not_after": "2099-01-01T00:00:00Z"}
        }),
    ]
}

fn flip_b64(s: &str, byte: usize) -> String {
    let mut raw = b64::decode(s).expect("base64");
    raw[byte] ^= 1;
    b64::encode(raw)
}

/// A checkpoint note with these witnesses' cosignature lines added.
fn cosigned(note: &str, witnesses: &[SignerKey]) -> String {
    let (text, sigs) = note.split_once("\n\n").expect("a signed note");
    let mut out = format!("{text}\n\n{sigs}");
    for w in witnesses {
        out.push_str(&provlog_tlog::witness::cosign(w, &format!("{text}\n"), COSIGNED_AT).expect("cosign"));
    }
    out
}

/// Runs the server and records every live section.
async fn live(k: &Keys, dir: &std::path::Path) -> Value {
    let data = dir.join("data");
    crate::common::put_log_key(&data, format!("{}\n", k.log.to_skey_string()).as_bytes());
    let cfg = dir.join("provlog.toml");
    std::fs::write(
        &cfg,
        format!(
            "origin = {ORIGIN:?}\n\n[[submitters]]\nid = \"ci\"\nkey = {:?}\nactions = [\"issue\", \"rotate\", \"revoke\"]\ntargets = [\"svc-*\"]\n\n[[submitters]]\nid = \"seq\"\nkey = {:?}\nactions = [\"*\"]\ntargets = [\"*\"]\nsequenced = true\n",
            k.ci.verifier().to_vkey_string(),
            k.seq.verifier().to_vkey_string()
        ),
    )
    .expect("config");
    let s = Server::start(&data, &["--config", cfg.to_str().expect("utf8")]);
    assert_eq!(s.vkey.to_vkey_string(), k.log.verifier().to_vkey_string());
    let c = client();
    let log_vkey = k.log.verifier().to_vkey_string();

    // Receipts of the four events; a checkpoint after the first two.
    let mut receipts = Vec::new();
    let mut old_checkpoint = None;
    for (i, e) in sdk_events().iter().enumerate() {
        let sub = provlog_proto::submission::sign_for_log(e, "ci", &k.ci, ORIGIN).expect("sign");
        let (st, r) = post(&c, &s.url, "/v1/entries", serde_json::to_vec(&sub).expect("json")).await;
        assert_eq!(st, 201, "{r}");
        receipts.push(r);
        if i == 1 {
            let (_, cp) = get(&c, &s.url, "/checkpoint").await;
            old_checkpoint = Some(String::from_utf8(cp).expect("utf8"));
        }
    }
    let ok = |r: &Value| json!({"receipt": r, "expect": {"ok": true, "index": r["index"]}});
    let bad = |r: Value, why: &str| json!({"receipt": r, "why": why, "expect": {"ok": false}});
    let mut receipt_cases: Vec<Value> = receipts.iter().map(ok).collect();
    let r0 = receipts[0].clone();
    let mut t = r0.clone();
    t["entry"] = json!(flip_b64(t["entry"].as_str().expect("entry"), 20));
    receipt_cases.push(bad(t, "an entry byte changed"));
    let mut t = r0.clone();
    t["inclusion_proof"][0] = json!(flip_b64(t["inclusion_proof"][0].as_str().expect("proof"), 0));
    receipt_cases.push(bad(
        t,
        "a proof hash changed (the JSON proof and the tlog-proof disagree)",
    ));
    let mut t = r0.clone();
    let note = t["checkpoint"].as_str().expect("note").to_owned();
    let (text, sig) = note.split_once("\n\n").expect("note");
    let (line, b) = sig.trim_end().rsplit_once(' ').expect("sig line");
    let tampered_note = format!("{text}\n\n{line} {}\n", flip_b64(b, 10));
    let entry = b64::decode(t["entry"].as_str().expect("entry")).expect("b64");
    let proof: Vec<provlog_tlog::merkle::Hash> = t["inclusion_proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|p| b64::decode_array(p.as_str().expect("b64")).expect("hash"))
        .collect();
    let index = t["index"].as_u64().expect("index");
    t = serde_json::to_value(Receipt::new(index, &entry, &tampered_note, &proof)).expect("json");
    receipt_cases.push(bad(t, "the checkpoint signature changed"));
    let mut t = r0.clone();
    t["index"] = json!(index + 1);
    receipt_cases.push(bad(t, "the index changed"));
    let mut t = r0.clone();
    t["leaf_hash"] = receipts[1]["leaf_hash"].clone();
    receipt_cases.push(bad(t, "another entry's leaf hash"));

    // Witnessed checkpoints: the latest cosigned by two of three witnesses.
    let (_, latest) = get(&c, &s.url, "/checkpoint").await;
    let latest = String::from_utf8(latest).expect("utf8");
    let two = cosigned(&latest, &k.witnesses[..2]);
    let wv: Vec<String> = k.witnesses.iter().map(|w| w.verifier().to_vkey_string()).collect();
    let (text2, sigs2) = two.split_once("\n\n").expect("note");
    let mut lines: Vec<String> = sigs2.lines().map(str::to_owned).collect();
    let last = lines.pop().expect("a cosignature");
    let (l, b) = last.rsplit_once(' ').expect("line");
    lines.push(format!("{l} {}", flip_b64(b, 20)));
    let bad_cosig = format!("{text2}\n\n{}\n", lines.join("\n"));
    let checkpoints = json!([
        {"note": latest, "witnesses": [], "min_witnesses": 0, "expect": {"ok": true}},
        {"note": two, "witnesses": wv, "min_witnesses": 2, "expect": {"ok": true, "cosigned": 2}},
        {"note": two, "witnesses": wv, "min_witnesses": 3, "why": "two of the three cosigned", "expect": {"ok": false}},
        {"note": bad_cosig, "witnesses": wv, "min_witnesses": 1, "why": "a cosignature by a given witness does not verify", "expect": {"ok": false}},
        {"note": tampered_note, "witnesses": [], "min_witnesses": 0, "why": "the log's signature changed", "expect": {"ok": false}},
    ]);
    let r3 = &receipts[3];
    let witnessed_receipt = serde_json::to_value(Receipt::new(
        r3["index"].as_u64().expect("index"),
        &b64::decode(r3["entry"].as_str().expect("entry")).expect("b64"),
        &two,
        &r3["inclusion_proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(|p| b64::decode_array(p.as_str().expect("b64")).expect("hash"))
            .collect::<Vec<provlog_tlog::merkle::Hash>>(),
    ))
    .expect("json");
    let witnessed = json!([
        {"receipt": witnessed_receipt, "witnesses": wv, "min_witnesses": 2, "expect": {"ok": true, "index": r3["index"]}},
        {"receipt": witnessed_receipt, "witnesses": wv, "min_witnesses": 3, "expect": {"ok": false}},
    ]);

    // Consistency between the checkpoint after two events and the latest.
    let old = provlog_tlog::checkpoint::open_checkpoint(
        old_checkpoint.as_deref().expect("old").as_bytes(),
        &k.log.verifier(),
    )
    .expect("old")
    .0;
    let new = provlog_tlog::checkpoint::open_checkpoint(latest.as_bytes(), &k.log.verifier())
        .expect("new")
        .0;
    let (st, p) = get_json(
        &c,
        &s.url,
        &format!("/v1/proofs/consistency?from={}&to={}", old.size, new.size),
    )
    .await;
    assert_eq!(st, 200, "{p}");
    let case = |old_root: &str, new_root: &str, proof: &Value, ok: bool, why: &str| {
        json!({"old_size": old.size, "old_root": old_root, "new_size": new.size, "new_root": new_root,
               "proof": proof, "why": why, "expect": {"ok": ok}})
    };
    let (or, nr) = (b64::encode(old.root), b64::encode(new.root));
    let mut flipped = p["proof"].clone();
    flipped[0] = json!(flip_b64(flipped[0].as_str().expect("hash"), 3));
    let mut short = p["proof"].clone();
    short.as_array_mut().expect("proof").pop();
    let consistency = json!([
        case(&or, &nr, &p["proof"], true, "the log's proof"),
        case(&or, &nr, &flipped, false, "a proof hash changed"),
        case(&or, &nr, &short, false, "a proof hash missing"),
        case(&nr, &or, &p["proof"], false, "the roots swapped"),
        case(&or, &flip_b64(&nr, 0), &p["proof"], false, "another new root"),
    ]);
    let checkpoint_pair = json!({"old": old_checkpoint, "new": latest});

    // Credential answers: active (b, after the rotation), superseded (a),
    // revoked (c), active (d, issued after it), unknown; tampered.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    let fp = |ch: char| format!("sha256:{}", ch.to_string().repeat(64));
    let mut answers = Vec::new();
    for (f, state) in [
        (fp('b'), "active"),
        (fp('a'), "superseded"),
        (fp('c'), "revoked"),
        (fp('d'), "active"),
        (fp('0'), "unknown"),
    ] {
        let (st, v) = get_json(&c, &s.url, &format!("/v1/credentials/{f}")).await;
        assert_eq!(st, 200, "{v}");
        answers.push(json!({"fingerprint": f, "answer": v, "expect": {"ok": true, "state": state}}));
    }
    let mut shown_active = answers[1]["answer"].clone();
    shown_active["state"] = json!("active");
    shown_active["record"]["state"] = json!("active");
    let mut dropped = answers[1]["answer"].clone();
    dropped.as_object_mut().expect("object").remove("record");
    dropped["state"] = json!("unknown");
    let other = answers[0]["answer"].clone();
    for (f, a, why) in [
        (fp('a'), shown_active, "a superseded credential shown as active"),
        (fp('a'), other, "the answer about another credential"),
        (fp('a'), dropped, "the record dropped (shown as unknown)"),
    ] {
        answers.push(json!({"fingerprint": f, "answer": a, "why": why, "expect": {"ok": false}}));
    }

    // A signed refusal: ci out of its targets.
    let e = json!({
        "event_id": "sdk-refused-1", "occurred_at": "2026-12-04T10:20:00Z", "action": "rotate",
        "actor": {"id": "wf/rotate", "type": "workflow"}, "target": {"id": "prod-db", "type": "service_account"},
        "authority": {}, "decision": {"result": "allow"}, "outcome": "success"
    });
    let sub = provlog_proto::submission::sign_for_log(&e, "ci", &k.ci, ORIGIN).expect("sign");
    let (st, r) = post(&c, &s.url, "/v1/entries", serde_json::to_vec(&sub).expect("json")).await;
    assert_eq!(st, 403, "{r}");
    let refusal = r["error"]["refusal"].clone();
    assert!(refusal.is_object(), "{r}");
    let mut forged = refusal.clone();
    forged["refusal"]["reason"] = json!("something else");
    let other_sub = json!(receipts[0]["entry"]);
    let refusals = json!([
        {"submission": sub, "refusal": refusal, "error": r["error"], "expect": {"ok": true, "code": r["error"]["code"]}},
        {"submission": sub, "refusal": forged, "why": "the reason changed", "expect": {"ok": false}},
        {"submission": {"event": sdk_events()[0], "submitter": "ci", "signature": other_sub, "signature_version": 2},
         "refusal": refusal, "why": "about another submission", "expect": {"ok": false}},
    ]);

    // A sequenced chain of two events by `seq`.
    let (st, ch) = get_json(&c, &s.url, "/v1/chains/seq").await;
    assert_eq!(st, 200, "{ch}");
    let mut prev = ch["record"]["head"].as_str().expect("head").to_owned();
    let mut chain = Vec::new();
    for n in 1..=2u64 {
        let mut e = sdk_events()[0].clone();
        e["event_id"] = json!(format!("sdk-seq-{n}"));
        e["target"]["id"] = json!(format!("svc-seq-{n}"));
        e["credential"]["fingerprint"] = json!(format!("sha256:{}", format!("{n}").repeat(64)));
        e["seq"] = json!(n);
        e["prev"] = json!(prev);
        let sub = provlog_proto::submission::sign_for_log(&e, "seq", &k.seq, ORIGIN).expect("sign");
        let (st, r) = post(&c, &s.url, "/v1/entries", serde_json::to_vec(&sub).expect("json")).await;
        assert_eq!(st, 201, "{r}");
        r["leaf_hash"].as_str().expect("leaf hash").clone_into(&mut prev);
        chain.push(json!({"seq": n, "submission": sub, "receipt": r}));
    }
    // The chain's heartbeat (docs/CHAINS.md): two actions since registration.
    let hb = provlog_proto::chain::Heartbeat {
        seq: 3,
        prev: prev.clone(),
        sent_at: "2026-12-04T10:30:00Z".into(),
        actions: Some(2),
    };
    let body = provlog_proto::chain::HeartbeatSubmission::sign(&hb, "seq", &k.seq, ORIGIN);
    let (st, heartbeat) = post(&c, &s.url, "/v1/heartbeats", body.clone()).await;
    assert_eq!(st, 201, "{heartbeat}");
    let chain = json!({
        "submitter": "seq", "registered_head": ch["record"]["head"], "entries": chain,
        "heartbeat": {"submission": serde_json::from_slice::<Value>(&body).expect("json"), "receipt": heartbeat},
    });

    // A SCITT statement by ci (docs/SCITT.md): its leaf is of kind
    // `statement`, and its JSON receipt is an ordinary receipt.
    let claims = provlog_proto::statement::StatementClaims {
        content_type: provlog_proto::statement::EVENT_CONTENT_TYPE.into(),
        issuer: "ci".into(),
        subject: Some("svc-scitt".into()),
        audience: Some(ORIGIN.into()),
        issued_at: Some(1_796_378_400),
    };
    let mut e = sdk_events()[1].clone();
    e["event_id"] = json!("sdk-statement-1");
    e["target"]["id"] = json!("svc-scitt");
    e["credential"] = json!({"fingerprint": format!("sha256:{}", "5".repeat(64))});
    let payload = provlog_proto::json::canonical(&e).expect("jcs");
    let signed = provlog_proto::statement::sign(&payload, &claims, &k.ci).expect("sign");
    let (st, _, at, _) = crate::common::register(&c, &s.url, "application/cose", signed).await;
    assert_eq!(st, 201);
    let at = at.expect("Location");
    let (st, statement_receipt) = get_json(&c, &s.url, &format!("/v1/entries/{at}/receipt")).await;
    assert_eq!(st, 200, "{statement_receipt}");
    receipt_cases.push(
        json!({"receipt": statement_receipt, "why": "a SCITT statement's leaf", "expect": {"ok": true, "index": at}}),
    );

    // A tile read: the checkpoint, the level-0 tile and the entry bundle.
    let (_, cp) = get(&c, &s.url, "/checkpoint").await;
    let cp = String::from_utf8(cp).expect("utf8");
    let size = provlog_tlog::checkpoint::open_checkpoint(cp.as_bytes(), &k.log.verifier())
        .expect("cp")
        .0
        .size;
    let (st, tile) = get(&c, &s.url, &format!("/tile/0/000.p/{size}")).await;
    assert_eq!(st, 200);
    let (st, bundle) = get(&c, &s.url, &format!("/tile/entries/000.p/{size}")).await;
    assert_eq!(st, 200);
    let tiles =
        json!({"checkpoint": cp, "size": size, "tile_0_000": b64::encode(&tile), "bundle_000": b64::encode(&bundle)});
    s.stop();
    json!({
        "origin": ORIGIN,
        "log_vkey": log_vkey,
        "receipts": receipt_cases,
        "checkpoints": checkpoints,
        "witnessed_receipts": witnessed,
        "checkpoint_pair": checkpoint_pair,
        "consistency": consistency,
        "credential_answers": {"now_ms": now, "max_age_ms": 600_000, "cases": answers},
        "refusals": refusals,
        "chain": chain,
        "tiles": tiles,
    })
}

/// Checks every case of a vector set with the Rust verifiers.
fn check(v: &Value) {
    let log = VerifierKey::parse(v["log_vkey"].as_str().expect("vkey")).expect("vkey");
    let vkeys = |w: &Value| -> Vec<VerifierKey> {
        w.as_array()
            .expect("witnesses")
            .iter()
            .map(|k| VerifierKey::parse(k.as_str().expect("vkey")).expect("vkey"))
            .collect()
    };
    for (n, c) in v["receipts"].as_array().expect("receipts").iter().enumerate() {
        let r = serde_json::from_value::<Receipt>(c["receipt"].clone())
            .map_err(|e| e.to_string())
            .and_then(|r| r.verify(&log).map_err(|e| e.to_string()));
        assert_eq!(r.is_ok(), c["expect"]["ok"] == true, "receipt {n}: {r:?}");
        if let Ok(r) = r {
            assert_eq!(json!(r.index), c["expect"]["index"], "receipt {n}");
        }
    }
    for (n, c) in v["checkpoints"].as_array().expect("checkpoints").iter().enumerate() {
        let note = c["note"].as_str().expect("note").as_bytes();
        let min = usize::try_from(c["min_witnesses"].as_u64().expect("min")).expect("small");
        let r = provlog_tlog::checkpoint::open_checkpoint(note, &log)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                provlog_tlog::witness::require_cosignatures(note, &vkeys(&c["witnesses"]), min)
                    .map_err(|e| e.to_string())
            });
        assert_eq!(r.is_ok(), c["expect"]["ok"] == true, "checkpoint {n}: {r:?}");
    }
    for (n, c) in v["witnessed_receipts"]
        .as_array()
        .expect("witnessed")
        .iter()
        .enumerate()
    {
        let r: Receipt = serde_json::from_value(c["receipt"].clone()).expect("receipt");
        let min = usize::try_from(c["min_witnesses"].as_u64().expect("min")).expect("small");
        let ok = r.verify(&log).is_ok()
            && provlog_tlog::witness::require_cosignatures(r.checkpoint.as_bytes(), &vkeys(&c["witnesses"]), min)
                .is_ok();
        assert_eq!(ok, c["expect"]["ok"] == true, "witnessed receipt {n}");
    }
    for (n, c) in v["consistency"].as_array().expect("consistency").iter().enumerate() {
        let h = |k: &str| b64::decode(c[k].as_str().expect("root")).expect("b64");
        let proof: Vec<Vec<u8>> = c["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(|p| b64::decode(p.as_str().expect("b64")).expect("b64"))
            .collect();
        let r = provlog_tlog::merkle::verify_consistency(
            c["old_size"].as_u64().expect("size"),
            c["new_size"].as_u64().expect("size"),
            &h("old_root"),
            &h("new_root"),
            &proof,
        );
        assert_eq!(r.is_ok(), c["expect"]["ok"] == true, "consistency {n}: {r:?}");
    }
    let ca = &v["credential_answers"];
    let (now, max_age) = (
        ca["now_ms"].as_i64().expect("now"),
        ca["max_age_ms"].as_i64().expect("age"),
    );
    for (n, c) in ca["cases"].as_array().expect("cases").iter().enumerate() {
        let req = |at: i64| Requirements {
            log_key: &log,
            witnesses: &[],
            min_witnesses: 0,
            now_millis: at,
            max_age_millis: max_age,
            as_of_entry: None,
        };
        let r = serde_json::from_value::<CredentialAnswer>(c["answer"].clone())
            .map_err(|e| e.to_string())
            .and_then(|a| {
                a.verify_for(c["fingerprint"].as_str().expect("fp"), &req(now))
                    .map_err(|e| e.to_string())
            });
        assert_eq!(r.is_ok(), c["expect"]["ok"] == true, "credential answer {n}: {r:?}");
        if let Ok(a) = r {
            assert_eq!(
                serde_json::to_value(a.state).expect("state"),
                c["expect"]["state"],
                "answer {n}"
            );
            // Too old by the caller's clock.
            let late = serde_json::from_value::<CredentialAnswer>(c["answer"].clone())
                .expect("answer")
                .verify_for(c["fingerprint"].as_str().expect("fp"), &req(now + max_age + 60_000));
            assert!(late.is_err(), "answer {n} is stale a minute past max_age");
        }
    }
    for (n, c) in v["refusals"].as_array().expect("refusals").iter().enumerate() {
        let ok = SignedRefusal::from_value(&c["refusal"])
            .is_ok_and(|r| r.verify(&log).is_ok() && r.covers(&c["submission"]).is_ok());
        assert_eq!(ok, c["expect"]["ok"] == true, "refusal {n}");
    }
    // The chain links: each prev is the previous entry's leaf hash.
    let mut prev = v["chain"]["registered_head"].clone();
    for (n, e) in v["chain"]["entries"].as_array().expect("chain").iter().enumerate() {
        assert_eq!(e["submission"]["event"]["prev"], prev, "chain entry {n}");
        assert_eq!(json!(n + 1), e["submission"]["event"]["seq"]);
        let r: Receipt = serde_json::from_value(e["receipt"].clone()).expect("receipt");
        r.verify(&log).expect("chain receipt");
        prev = json!(r.leaf_hash);
    }
    let hb = &v["chain"]["heartbeat"];
    assert_eq!(
        hb["submission"]["heartbeat"]["prev"], prev,
        "the heartbeat continues the chain"
    );
    let r: Receipt = serde_json::from_value(hb["receipt"].clone()).expect("receipt");
    r.verify(&log).expect("heartbeat receipt");
    // The tile and bundle agree with the checkpoint.
    let t = &v["tiles"];
    let (cp, _) = provlog_tlog::checkpoint::open_checkpoint(t["checkpoint"].as_str().expect("cp").as_bytes(), &log)
        .expect("checkpoint");
    let bundle = b64::decode(t["bundle_000"].as_str().expect("bundle")).expect("b64");
    let entries = provlog_tlog::tile::decode_bundle(&bundle, usize::try_from(cp.size).expect("small")).expect("bundle");
    let leaves: Vec<provlog_tlog::merkle::Hash> = entries.iter().map(|e| provlog_tlog::merkle::leaf_hash(e)).collect();
    let tile = b64::decode(t["tile_0_000"].as_str().expect("tile")).expect("b64");
    assert_eq!(tile, leaves.concat(), "the level-0 tile holds the bundle's leaf hashes");
    let mut tree = provlog_tlog::merkle::MemoryTree::default();
    for h in &leaves {
        tree.push(*h);
    }
    assert_eq!(
        tree.root_at(cp.size).expect("root"),
        cp.root,
        "the bundle's entries make the checkpoint's root"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_vectors_are_this_implementations_and_verify_here() {
    let k = keys();
    let det = deterministic(&k);
    let dir = tempfile::tempdir().expect("tmp");
    let mut fresh = live(&k, dir.path()).await;
    for (key, v) in det.as_object().expect("object") {
        fresh[key] = v.clone();
    }
    fresh["what"] = json!(
        "provlog's cross-language SDK vectors (testdata/vectors/README.md, sdk_v1.json): \
         generated by tests/it/sdk_vectors.rs from a real server; checked there and by sdk/python, sdk/go and sdk/ts"
    );
    check(&fresh);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors/sdk_v1.json");
    if std::env::var_os("PROVLOG_WRITE_VECTORS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&fresh).expect("json") + "\n").expect("write");
    }
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the checked-in vectors")).expect("json");
    check(&stored);
    for section in ["keys", "bad_vkeys", "jcs", "events"] {
        assert_eq!(
            stored[section], det[section],
            "{section}: the file is not what this code makes"
        );
    }
    for b in stored["bad_vkeys"].as_array().expect("bad") {
        assert!(VerifierKey::parse(b["vkey"].as_str().expect("vkey")).is_err(), "{b}");
    }
    for key in stored["keys"].as_array().expect("keys") {
        let s = SignerKey::parse(key["skey"].as_str().expect("skey")).expect("skey");
        assert_eq!(s.verifier().to_vkey_string(), key["vkey"].as_str().expect("vkey"));
    }
}
