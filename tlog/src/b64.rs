//! Standard, padded base64 (RFC 4648 §4) as used by every C2SP format and by
//! provlog's JSON API. Decoding is strict: non-canonical trailing bits,
//! missing padding and whitespace are errors.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub use base64::DecodeError;

/// Encodes `bytes` as canonical standard base64 with padding.
#[must_use]
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard padded base64, rejecting anything non-canonical.
///
/// # Errors
/// Returns the decoder's error for any input that is not canonical base64.
pub fn decode(text: impl AsRef<[u8]>) -> Result<Vec<u8>, DecodeError> {
    STANDARD.decode(text)
}

/// Decodes a base64 string that must hold exactly `N` bytes.
#[must_use]
pub fn decode_array<const N: usize>(text: impl AsRef<[u8]>) -> Option<[u8; N]> {
    decode(text).ok()?.try_into().ok()
}
