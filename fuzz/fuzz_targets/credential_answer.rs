//! Credential answers: `serde_json` → `CredentialAnswer::verify_for` with
//! the fixed log key, at a fixed time, never panics; a verified answer is
//! consistent with itself (its record is about the fingerprint, its
//! commitment is in the tree, its history names the fingerprint).

#![no_main]

use libfuzzer_sys::fuzz_target;
use provlog_fuzz::log_verifier;
use provlog_proto::credential::{CredentialAnswer, Requirements, names};

fuzz_target!(|data: &[u8]| {
    let Ok(a) = serde_json::from_slice::<CredentialAnswer>(data) else {
        return;
    };
    let req = Requirements {
        log_key: log_verifier(),
        witnesses: &[],
        min_witnesses: 0,
        now_millis: 1_795_000_000_000,
        max_age_millis: i64::MAX / 4,
        as_of_entry: None,
    };
    if let Ok(v) = a.verify_for(&a.fingerprint, &req) {
        assert!(v.commitment_index < v.checkpoint.size, "commitment outside the tree");
        assert_eq!(v.commitment.size, v.commitment_index);
        if let Some(r) = &v.record {
            assert_eq!(r.fingerprint, a.fingerprint);
            assert!(r.last_index < v.commitment_index);
        }
        assert_eq!(v.history.len(), a.history.len());
        for ((i, ev), item) in v.history.iter().zip(&a.history) {
            assert_eq!(*i, item.index);
            assert!(*i < v.checkpoint.size, "verified history index outside the tree");
            assert!(names(&ev.event.event, &a.fingerprint));
        }
    }
});
