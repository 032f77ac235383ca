//! Entry bundles: the first byte is the expected entry count `n`
//! (0..=255), the rest the bundle body. `decode_bundle` never panics; when
//! it succeeds it returned exactly `n` entries and `encode_bundle` of them
//! gives back the body. The same is checked for `n + 1` so that full
//! (256-entry) bundles are covered.

#![no_main]

use libfuzzer_sys::fuzz_target;
use provlog_tlog::tile::{decode_bundle, encode_bundle};

fn check(body: &[u8], n: usize) {
    if let Ok(entries) = decode_bundle(body, n) {
        assert_eq!(entries.len(), n, "decode_bundle returned the wrong count");
        let encoded = encode_bundle(entries.iter().copied()).expect("decoded entries must re-encode");
        assert_eq!(encoded, body, "encode_bundle(decode_bundle(b)) != b");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, body)) = data.split_first() else {
        return;
    };
    let n = usize::from(n);
    check(body, n);
    check(body, n + 1);
});
