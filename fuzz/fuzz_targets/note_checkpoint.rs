//! Signed notes and checkpoints.
//!
//! * `Note::parse` never panics; a parsed note re-serializes to exactly the
//!   input bytes (signature lines are canonical base64) and parses back equal.
//! * `Checkpoint::parse` (on the note text and on the raw input) never
//!   panics; a parsed checkpoint's `to_text` is the parsed text and parses
//!   back equal.
//! * `open_checkpoint` with the fixed key never panics and, on success,
//!   agrees with `Note::parse` + `Checkpoint::parse`.
//! * Sign-then-open: a parsed checkpoint whose origin is a valid key name,
//!   signed by a key of that name, always opens to the same checkpoint.

#![no_main]

use libfuzzer_sys::fuzz_target;
use provlog_fuzz::{LOG_KEY_SEED, log_verifier};
use provlog_tlog::checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
use provlog_tlog::keys::{ALG_ED25519, SignerKey};
use provlog_tlog::note::Note;

fn check_checkpoint_text(text: &str) -> Option<Checkpoint> {
    let cp = Checkpoint::parse(text).ok()?;
    let again = cp.to_text();
    assert_eq!(again, text, "Checkpoint::to_text differs from the parsed text");
    assert_eq!(
        Checkpoint::parse(&again).as_ref(),
        Ok(&cp),
        "checkpoint re-parse differs"
    );
    Some(cp)
}

fuzz_target!(|data: &[u8]| {
    let parsed = Note::parse(data);
    if let Ok(note) = &parsed {
        let bytes = note.to_bytes();
        assert_eq!(bytes, data, "Note::to_bytes differs from the parsed bytes");
        let again = Note::parse(&bytes).expect("re-serialized note must parse");
        assert_eq!(&again, note, "note re-parse differs");

        if let Some(cp) = check_checkpoint_text(note.text()) {
            // Sign-then-open with a key named after the origin (skipped when
            // the origin is not a valid key name).
            if let Ok(signer) = SignerKey::from_seed(&cp.origin, ALG_ED25519, LOG_KEY_SEED) {
                let plain = Checkpoint::new(cp.origin.clone(), cp.size, cp.root);
                let signed = sign_checkpoint(&plain, &signer).expect("sign_checkpoint of a parsed checkpoint");
                let (opened, _) =
                    open_checkpoint(&signed.to_bytes(), &signer.verifier()).expect("signed checkpoint must open");
                assert_eq!(opened, plain, "opened checkpoint differs from the signed one");
                // With extension lines: sign the whole text as a note.
                if !cp.extensions.is_empty() {
                    let n = Note::new_signed(note.text(), &[&signer], 0).expect("sign note text");
                    let (opened, _) =
                        open_checkpoint(&n.to_bytes(), &signer.verifier()).expect("signed note must open");
                    assert_eq!(opened, cp);
                }
            }
        }
    }

    if let Ok(s) = std::str::from_utf8(data) {
        check_checkpoint_text(s);
    }

    if let Ok((cp, note)) = open_checkpoint(data, log_verifier()) {
        assert_eq!(
            Ok(&note),
            parsed.as_ref(),
            "open_checkpoint note differs from Note::parse"
        );
        assert_eq!(Checkpoint::parse(note.text()).as_ref(), Ok(&cp));
        assert_eq!(cp.origin, log_verifier().name());
    }
});
