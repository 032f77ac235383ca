//! SCITT signed and transparent statements (`provlog_proto::statement`,
//! docs/SCITT.md): parsing any bytes never panics; a parsed statement's
//! logged form parses as itself (a fixed point, receipts cleared); a
//! statement that becomes a submission renders a leaf that parses back to
//! the same statement and frames and unframes to itself; and
//! `verify_transparent` (the keys of testdata/vectors/scitt_v1.json) never
//! panics and proves only an index inside its tree.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use provlog_proto::leaf::Leaf;
use provlog_proto::statement::{SignedStatement, leaf_frame, leaf_from_frame, verify_transparent};
use provlog_proto::submission::Submission;
use provlog_tlog::keys::{ALG_ED25519, SignerKey, VerifierKey};

/// The vector's submitter (`ci`, seed 0x80..0x9f) and log (seed 0xa0..0xbf).
static KEYS: LazyLock<(VerifierKey, VerifierKey)> = LazyLock::new(|| {
    let seed = |from: u8| std::array::from_fn::<u8, 32, _>(|i| from + u8::try_from(i).expect("i < 32"));
    let sub = SignerKey::from_seed("ci", ALG_ED25519, seed(0x80)).expect("key");
    let log = SignerKey::from_seed("log.example/scitt", ALG_ED25519, seed(0xa0)).expect("key");
    (sub.verifier(), log.verifier())
});

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = SignedStatement::parse(data) {
        let again = SignedStatement::parse_logged(&s.bytes).expect("the logged form is a logged form");
        assert_eq!(again.bytes, s.bytes);
        assert_eq!(
            (&again.protected, &again.payload, again.signature),
            (&s.protected, &s.payload, s.signature)
        );
        assert!(again.receipts.is_empty());
    }
    if let Ok(sub) = Submission::from_statement(data) {
        let leaf = sub.leaf.render("2026-12-04T10:00:00.000Z");
        assert_eq!(leaf.len(), sub.leaf.len());
        let st = sub.statement.as_ref().expect("a statement submission");
        match Leaf::parse(&leaf) {
            Ok(Leaf::Event(e)) => {
                assert_eq!(e.statement.as_ref().map(|s| &s.bytes), Some(&st.bytes));
                assert_eq!(e.event.jcs, sub.event.jcs);
                assert_eq!(e.submitter, sub.submitter);
            }
            other => panic!("a statement's leaf does not parse back: {other:?}"),
        }
        let frame = leaf_frame(&leaf).expect("a statement leaf has a frame");
        assert_eq!(leaf_from_frame(&frame, &st.bytes).expect("frame"), leaf);
    }
    let (sub, log) = &*KEYS;
    if let Ok(v) = verify_transparent(data, sub, |_| log) {
        assert!(v.receipt.index < v.receipt.size, "a verified index outside its tree");
        assert_eq!(v.statement.issuer, "ci");
    }
});
