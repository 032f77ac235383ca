//! tlog-witness add-checkpoint bodies: `AddCheckpoint::parse` never panics,
//! an accepted body re-serializes to exactly the input, and the embedded
//! note goes through `Note::parse` / `Checkpoint::parse` /
//! `open_checkpoint` without panicking. The same input, as a `sign-subtree`
//! body, a C2SP tlog-policy text and an ML-DSA-44 cosigned note, never
//! panics either (an accepted subtree request names a valid subtree).

#![no_main]

use libfuzzer_sys::fuzz_target;
use provlog_fuzz::log_verifier;
use provlog_tlog::checkpoint::{Checkpoint, open_checkpoint};
use provlog_tlog::note::Note;
use provlog_tlog::witness::{AddCheckpoint, MAX_PROOF_LINES};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = provlog_tlog::mldsa::SignSubtree::parse(data) {
        assert!(provlog_tlog::mldsa::valid_subtree(r.start, r.end));
        assert!(r.proof.len() <= MAX_PROOF_LINES);
        if let Ok(note) = Note::parse(&r.note) {
            let _ = provlog_tlog::mldsa::checkpoint_body(note.text());
            let _ = provlog_tlog::mldsa::verify_subtree_consistency(&r.proof, r.end, &r.hash, r.start, r.end, &r.hash);
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(p) = provlog_tlog::policy::WitnessPolicy::parse(text)
    {
        let _ = p.min_cosignatures();
    }
    let Ok(body) = AddCheckpoint::parse(data) else {
        return;
    };
    assert!(body.proof.len() <= MAX_PROOF_LINES);
    assert_eq!(
        body.to_bytes(),
        data,
        "AddCheckpoint::to_bytes differs from the parsed body"
    );
    assert_eq!(AddCheckpoint::parse(&body.to_bytes()).as_ref(), Ok(&body));
    if let Ok(note) = Note::parse(&body.note) {
        let _ = Checkpoint::parse(note.text());
    }
    let _ = open_checkpoint(&body.note, log_verifier());
});
