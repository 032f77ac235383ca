//! Credential answers: `serde_json` → `CredentialAnswer::verify` with the
//! fixed log key never panics; a verified answer is consistent with itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use provlog_fuzz::log_verifier;
use provlog_proto::credential::{CredentialAnswer, names};

fuzz_target!(|data: &[u8]| {
    let Ok(a) = serde_json::from_slice::<CredentialAnswer>(data) else {
        return;
    };
    if let Ok(v) = a.verify(log_verifier()) {
        assert_eq!(v.state, a.state);
        assert_eq!(v.history.len(), a.history.len());
        for ((i, ev), item) in v.history.iter().zip(&a.history) {
            assert_eq!(*i, item.index);
            assert!(*i < v.checkpoint.size, "verified history index outside the tree");
            assert!(names(&ev.event.event, &a.fingerprint));
        }
    }
});
