//! tlog-witness add-checkpoint bodies: `AddCheckpoint::parse` never panics,
//! an accepted body re-serializes to exactly the input, and the embedded
//! note goes through `Note::parse` / `Checkpoint::parse` /
//! `open_checkpoint` without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use provlog_fuzz::log_verifier;
use provlog_tlog::checkpoint::{Checkpoint, open_checkpoint};
use provlog_tlog::note::Note;
use provlog_tlog::witness::{AddCheckpoint, MAX_PROOF_LINES};

fuzz_target!(|data: &[u8]| {
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
