//! COSE receipts (RFC 9942, `provlog_proto::cose_receipt`): parsing any
//! bytes as a `COSE_Sign1` and reading its inclusion proofs never panics,
//! never yields a path longer than 64 hashes, and a receipt that verifies
//! with the fixed log key proves an index inside its tree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use provlog_fuzz::log_verifier;
use provlog_proto::cose_receipt::{inclusion_proofs, parse_sign1, verify, verify_leaf_hash};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = parse_sign1(data)
        && let Ok(proofs) = inclusion_proofs(&s)
    {
        assert!(!proofs.is_empty());
        assert!(proofs.iter().all(|(_, _, p)| p.len() <= 64));
    }
    // Split the input into the entry (its length in the first two bytes,
    // big-endian) and the receipt for it.
    let rest = data.get(2..).unwrap_or_default();
    let cut = data
        .get(..2)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .min(rest.len());
    let (entry, receipt) = rest.split_at(cut);
    if let Ok(v) = verify(receipt, entry, log_verifier()) {
        assert!(v.index < v.size, "a verified index outside its tree");
        assert_eq!(v.issuer, log_verifier().name());
    }
    let _ = verify_leaf_hash(data, &[0; 32], log_verifier());
});
