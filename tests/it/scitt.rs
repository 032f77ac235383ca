//! Issue 18: provlog as a SCITT Transparency Service. RFC 9942 COSE
//! receipts from the real server, checked by `provlog verify
//! --cose-receipt` and by an implementation we did not write.

use crate::common::{Server, client, get, get_json, post, run, submission};
use provlog_proto::cose_receipt;

/// The bytes of entry `i` (the leaf the receipts are about).
async fn entry_bytes(c: &reqwest::Client, url: &str, i: u64) -> Vec<u8> {
    let (st, v) = get_json(c, url, &format!("/v1/entries/{i}")).await;
    assert_eq!(st, 200, "{v}");
    provlog_tlog::b64::decode(v["entry"].as_str().expect("entry")).expect("base64")
}

async fn cose_receipt(c: &reqwest::Client, url: &str, index: u64) -> (u16, Vec<u8>, String) {
    let r = c
        .get(format!("{url}/v1/entries/{index}/receipt"))
        .header("accept", "application/cose")
        .send()
        .await
        .expect("get");
    let st = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (st, r.bytes().await.expect("body").to_vec(), ct)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cose_receipts_verify_offline_for_their_entry_only() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::start(&dir.path().join("log"), &[]);
    let key = s.dev_key();
    let c = client();
    for i in 0..5 {
        let e = crate::common::event(&format!("cose-{i}"), &format!("svc-cose-{i}"));
        let (st, r) = post(
            &c,
            &s.url,
            "/v1/entries",
            serde_json::to_vec(&submission(&key, &e)).expect("json"),
        )
        .await;
        assert_eq!(st, 201, "{r}");
    }
    let size = s.tree_size().await;
    let vkey_file = dir.path().join("log.vkey");
    std::fs::write(&vkey_file, s.vkey.to_vkey_string()).expect("vkey");
    let mut signatures = Vec::new();
    for i in 0..size {
        let (st, bytes, ct) = cose_receipt(&c, &s.url, i).await;
        assert_eq!((st, ct.as_str()), (200, "application/cose"));
        let entry = entry_bytes(&c, &s.url, i).await;
        let v = cose_receipt::verify(&bytes, &entry, &s.vkey).expect("verifies");
        assert_eq!((v.index, v.size), (i, size));
        signatures.push(cose_receipt::parse_sign1(&bytes).expect("sign1").signature);
        // The CLI, offline, from files.
        let rf = dir.path().join(format!("r{i}.cose"));
        let ef = dir.path().join(format!("e{i}"));
        std::fs::write(&rf, &bytes).expect("write");
        std::fs::write(&ef, &entry).expect("write");
        let (code, out) = run(&[
            "verify",
            "--cose-receipt",
            rf.to_str().expect("utf8"),
            "--entry",
            ef.to_str().expect("utf8"),
            "--log-key",
            vkey_file.to_str().expect("utf8"),
        ]);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains(&format!("entry {i} is included in the tree of size {size}")),
            "{out}"
        );
        // Another entry's bytes do not verify with this receipt.
        if i > 0 {
            let other = dir.path().join(format!("e{}", i - 1));
            let (code, out) = run(&[
                "verify",
                "--cose-receipt",
                rf.to_str().expect("utf8"),
                "--entry",
                other.to_str().expect("utf8"),
                "--log-key",
                vkey_file.to_str().expect("utf8"),
            ]);
            assert_eq!(code, 1, "{out}");
            assert!(out.contains("does NOT verify"), "{out}");
        }
    }
    // One signature per tree size serves every entry at that size.
    assert!(
        signatures.windows(2).all(|w| w[0] == w[1]),
        "one signature per tree size"
    );
    // A flipped byte anywhere in the signed parts fails.
    let (_, mut bytes, _) = cose_receipt(&c, &s.url, 1).await;
    let entry = entry_bytes(&c, &s.url, 1).await;
    let n = bytes.len();
    bytes[n - 3] ^= 1;
    assert!(cose_receipt::verify(&bytes, &entry, &s.vkey).is_err());
    // JSON stays the default; beyond the tree is 404 with the JSON error.
    let (st, body) = get(&c, &s.url, "/v1/entries/1/receipt").await;
    assert_eq!(st, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v["tlog_proof"].is_string()));
    let (st, body, _) = cose_receipt(&c, &s.url, size + 10).await;
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json error");
    assert_eq!((st, v["error"]["code"].as_str()), (404, Some("not_found")), "{v}");
}
