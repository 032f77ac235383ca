//! Receipts: `serde_json` → `Receipt::verify` with the fixed log key, and
//! `TlogProof::parse` / `verify_tlog_proof` on UTF-8 input, never panic.
//! An accepted tlog-proof re-serializes to the input; a verified receipt
//! agrees with its own fields. A log key history (`log-keys`,
//! docs/ROTATION.md) from a hostile server: `KeyHistory::verify` never
//! panics, and what it accepts starts from a key of the history.

#![no_main]

use libfuzzer_sys::fuzz_target;
use provlog_fuzz::log_verifier;
use provlog_tlog::b64;
use provlog_proto::receipt::{Receipt, TlogProof, verify_tlog_proof};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = serde_json::from_slice::<provlog_proto::rotation::KeyHistory>(data)
        && let Ok((keys, rotations)) = h.verify(log_verifier())
    {
        assert!(keys.contains(log_verifier()), "a history accepted without the trusted key");
        assert_eq!(rotations.len(), h.rotations.len());
    }
    if let Ok(r) = serde_json::from_slice::<Receipt>(data) {
        if let Ok(v) = r.verify(log_verifier()) {
            assert_eq!(v.index, r.index);
            assert!(v.index < v.checkpoint.size, "verified index outside the tree");
            assert_eq!(b64::encode(v.leaf_hash), r.leaf_hash);
            assert_eq!(b64::encode(&v.entry), r.entry);
            // The tlog-proof alone verifies the same entry.
            let t =
                verify_tlog_proof(&r.tlog_proof, &v.entry, log_verifier()).expect("tlog_proof of a verified receipt");
            assert_eq!(t, v);
        }
        if let Ok(t) = TlogProof::parse(&r.tlog_proof) {
            assert_eq!(
                t.to_text(),
                r.tlog_proof,
                "TlogProof::to_text differs from the parsed text"
            );
        }
    }

    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = TlogProof::parse(s) {
            assert!(t.proof.len() <= 64);
            assert_eq!(t.to_text(), s, "TlogProof::to_text differs from the parsed text");
            assert_eq!(TlogProof::parse(&t.to_text()).as_ref(), Ok(&t));
        }
        let _ = verify_tlog_proof(s, b"", log_verifier());
    }
});
