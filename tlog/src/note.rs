//! C2SP signed-note (docs/SPECS.md §2) and cosignature/v1 signatures (§6.1).
//!
//! A note is
//!
//! ```text
//! <text: lines, each ending in \n>
//! \n
//! — <key name> <b64(key_id_be(4) || signature)>\n   (one or more)
//! ```
//!
//! * [`Note::parse`] applies every syntax rule before any cryptography: size
//!   cap [`MAX_NOTE_BYTES`], UTF-8, no control character below U+0020 except
//!   `\n`, split at the **last** `"\n\n"`, a non-empty signature block ending
//!   in `\n` with at most [`MAX_SIGNATURES`] lines, each of them a valid
//!   signature line. A parsed note re-serializes byte for byte.
//! * [`Note::verify`] implements docs/SPECS.md §2.7: signatures are matched to
//!   trusted keys by (name, key ID); unknown ones are ignored; a matching one
//!   that fails rejects the whole note; no verified signature is an error.
//! * Type 0x01 keys sign the text; type 0x04 keys make a cosignature/v1 over
//!   [`cosignature_message`] with payload `timestamp_be(8) || signature(64)`.
//!
//! Nothing here does I/O or reads a clock: timestamps are arguments.

use std::fmt;

use crate::b64;
use crate::keys::{self, ALG_COSIGNATURE_V1, ALG_ED25519, ED25519_SIGNATURE_LEN, KeyError, SignerKey, VerifierKey};

/// Largest note accepted or produced, in bytes (text, separator and all
/// signature lines).
pub const MAX_NOTE_BYTES: usize = 1_000_000;

/// Largest number of signature lines accepted or produced in one note.
pub const MAX_SIGNATURES: usize = 100;

/// What every signature line starts with: U+2014 (em dash) and a space.
pub const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// Length of a cosignature/v1 payload after the key ID:
/// `timestamp (8) || Ed25519 signature (64)`. With the key ID the decoded
/// signature is 76 bytes.
pub const COSIGNATURE_V1_PAYLOAD_LEN: usize = 8 + ED25519_SIGNATURE_LEN;

/// Largest cosignature/v1 timestamp allowed by the spec: 2^63 − 1 seconds.
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = u64::MAX >> 1;

/// Why a single signature line is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureLineError {
    /// The line does not start with U+2014 and a space.
    #[error("does not start with an em dash and a space")]
    MissingPrefix,
    /// There is no space between the key name and the signature.
    #[error("has no space between key name and signature")]
    MissingSpace,
    /// The key name breaks the key-name rules.
    #[error("invalid key name: {0}")]
    InvalidName(KeyError),
    /// Nothing follows the key name.
    #[error("signature is empty")]
    EmptySignature,
    /// The signature is not canonical standard base64.
    #[error("signature is not valid base64")]
    InvalidBase64,
    /// The decoded signature is shorter than 5 bytes (key ID plus at least
    /// one signature byte).
    #[error("signature is {0} bytes, fewer than 5")]
    TooShort(usize),
}

/// Why a note was refused, built, or failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note (or the note being built) exceeds [`MAX_NOTE_BYTES`].
    #[error("note is {0} bytes, more than 1000000")]
    TooLarge(usize),
    /// The note is not valid UTF-8.
    #[error("note is not valid utf-8")]
    NotUtf8,
    /// A code point below U+0020 other than `\n` occurs.
    #[error("note contains a control character at byte {offset}")]
    ControlCharacter {
        /// Byte offset of the control character (in the text or block that
        /// was checked).
        offset: usize,
    },
    /// There is no blank line separating the text from the signatures.
    #[error("note has no blank line before its signatures")]
    NoSeparator,
    /// The signature block is empty.
    #[error("note has no signature lines")]
    NoSignatures,
    /// The last signature line does not end in `\n`.
    #[error("last signature line does not end in a newline")]
    UnterminatedSignatureLine,
    /// A signature line is malformed.
    #[error("signature line {line}: {reason}")]
    BadSignatureLine {
        /// 1-based position of the line among the signature lines.
        line: usize,
        /// What is wrong with it.
        reason: SignatureLineError,
    },
    /// There are more than [`MAX_SIGNATURES`] signature lines.
    #[error("note has {0} signature lines, more than 100")]
    TooManySignatures(usize),
    /// The text to sign is empty.
    #[error("note text is empty")]
    EmptyText,
    /// The text to sign does not end in `\n`.
    #[error("note text does not end in a newline")]
    TextNotTerminated,
    /// No signer was given.
    #[error("no signer given")]
    NoSigners,
    /// The signer's type byte cannot sign notes.
    #[error("signer has unsupported signature type 0x{0:02x}")]
    UnsupportedAlg(u8),
    /// A cosignature timestamp above 2^63 − 1 was requested.
    #[error("cosignature timestamp {0} exceeds 2^63-1")]
    TimestampOutOfRange(u64),
    /// No signature line verified under any of the trusted keys.
    #[error("note has no signature from a trusted key")]
    NoTrustedSignature,
    /// A signature line from a trusted key did not verify.
    #[error("invalid signature by trusted key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name of the failing line.
        name: String,
        /// Key ID of the failing line.
        key_id: u32,
    },
}

/// One signature line of a note: `— <name> <b64(key_id_be || payload)>\n`.
///
/// The fields are public, so a value built by hand is not checked; values
/// returned by [`Note::parse`], [`NoteSignature::parse_line`] and
/// [`sign_text`] always pass [`NoteSignature::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID (first four decoded bytes, big-endian).
    pub key_id: u32,
    /// The signature bytes after the 4-byte key ID (for 0x01: 64 bytes; for
    /// 0x04: timestamp(8) || signature(64)).
    pub payload: Vec<u8>,
}

impl NoteSignature {
    /// Parses one signature line **without** its final `\n`.
    ///
    /// # Errors
    /// [`SignatureLineError`] saying what is wrong with the line.
    pub fn parse_line(line: &str) -> Result<Self, SignatureLineError> {
        let rest = line
            .strip_prefix(SIGNATURE_LINE_PREFIX)
            .ok_or(SignatureLineError::MissingPrefix)?;
        let (name, sig_b64) = rest.split_once(' ').ok_or(SignatureLineError::MissingSpace)?;
        keys::check_key_name(name).map_err(SignatureLineError::InvalidName)?;
        if sig_b64.is_empty() {
            return Err(SignatureLineError::EmptySignature);
        }
        let decoded = b64::decode(sig_b64).map_err(|_| SignatureLineError::InvalidBase64)?;
        let Some((id, payload)) = decoded.split_first_chunk::<4>() else {
            return Err(SignatureLineError::TooShort(decoded.len()));
        };
        if payload.is_empty() {
            return Err(SignatureLineError::TooShort(decoded.len()));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: u32::from_be_bytes(*id),
            payload: payload.to_vec(),
        })
    }

    /// Checks what [`NoteSignature::parse_line`] checks: valid key name and
    /// a non-empty payload.
    ///
    /// # Errors
    /// [`SignatureLineError`] saying what is wrong.
    pub fn validate(&self) -> Result<(), SignatureLineError> {
        keys::check_key_name(&self.name).map_err(SignatureLineError::InvalidName)?;
        if self.payload.is_empty() {
            return Err(SignatureLineError::TooShort(4));
        }
        Ok(())
    }

    /// Renders the line `— <name> <b64(key_id_be || payload)>\n` (with its
    /// final newline). The result parses back to `self` when
    /// [`NoteSignature::validate`] succeeds.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(self.payload.len().saturating_add(4));
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.payload);
        format!("{SIGNATURE_LINE_PREFIX}{} {}\n", self.name, b64::encode(&raw))
    }

    /// The cosignature/v1 timestamp: `Some` exactly when the payload has the
    /// cosignature/v1 length (72 bytes after the key ID, 76 with it). This
    /// only decodes; it does not verify anything.
    #[must_use]
    pub fn cosignature_timestamp(&self) -> Option<u64> {
        if self.payload.len() != COSIGNATURE_V1_PAYLOAD_LEN {
            return None;
        }
        let ts = self.payload.first_chunk::<8>()?;
        Some(u64::from_be_bytes(*ts))
    }

    /// Length in bytes of [`NoteSignature::to_line`], without building it.
    fn line_len(&self) -> usize {
        let raw = self.payload.len().saturating_add(4);
        SIGNATURE_LINE_PREFIX
            .len()
            .saturating_add(self.name.len())
            .saturating_add(1)
            .saturating_add(raw.div_ceil(3).saturating_mul(4))
            .saturating_add(1)
    }
}

/// A signature that [`Note::verify`] (or [`verify_signature`]) checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifiedSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub key_id: u32,
    /// Signature type of the trusted key that verified it.
    pub alg: u8,
    /// The cosignature/v1 timestamp (seconds) for 0x04 keys; `None` for
    /// 0x01 keys.
    pub timestamp: Option<u64>,
}

/// The bytes a cosignature/v1 signs:
/// `"cosignature/v1\ntime <timestamp>\n" || text`.
///
/// `text` is the whole note text including its final newline (extension
/// lines included); the timestamp is printed in decimal without leading
/// zeros.
#[must_use]
pub fn cosignature_message(text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{text}").into_bytes()
}

/// Checks that `text` can be the text of a note: non-empty, ending in `\n`,
/// no control character below U+0020 other than `\n`, and no larger than
/// [`MAX_NOTE_BYTES`].
///
/// # Errors
/// The [`NoteError`] naming the broken rule.
pub fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() {
        return Err(NoteError::EmptyText);
    }
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge(text.len()));
    }
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotTerminated);
    }
    check_controls(text)
}

fn check_controls(s: &str) -> Result<(), NoteError> {
    match s.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter { offset }),
        None => Ok(()),
    }
}

/// Signs `text` with one key and returns its signature line.
///
/// A 0x01 key signs the text itself (`timestamp` is ignored); a 0x04 key
/// signs [`cosignature_message`]`(text, timestamp)` and the payload is
/// `timestamp_be(8) || signature(64)`.
///
/// # Errors
/// [`NoteError`] if the text breaks [`check_text`] or the timestamp exceeds
/// [`MAX_COSIGNATURE_TIMESTAMP`] for a 0x04 key.
pub fn sign_text(text: &str, signer: &SignerKey, timestamp: u64) -> Result<NoteSignature, NoteError> {
    check_text(text)?;
    let payload = match signer.alg() {
        ALG_ED25519 => signer.sign_raw(text.as_bytes()).to_vec(),
        ALG_COSIGNATURE_V1 => {
            if timestamp > MAX_COSIGNATURE_TIMESTAMP {
                return Err(NoteError::TimestampOutOfRange(timestamp));
            }
            let sig = signer.sign_raw(&cosignature_message(text, timestamp));
            let mut payload = Vec::with_capacity(COSIGNATURE_V1_PAYLOAD_LEN);
            payload.extend_from_slice(&timestamp.to_be_bytes());
            payload.extend_from_slice(&sig);
            payload
        }
        other => return Err(NoteError::UnsupportedAlg(other)),
    };
    Ok(NoteSignature {
        name: signer.name().to_owned(),
        key_id: signer.key_id(),
        payload,
    })
}

/// Checks one signature line against one trusted key over `text`.
///
/// Returns `Some` exactly when the line's (name, key ID) equal the key's and
/// the signature verifies (`verify_strict`): for a 0x01 key the payload must
/// be a 64-byte signature of `text`; for a 0x04 key it must be 72 bytes
/// (76 with the key ID), its timestamp at most 2^63 − 1, and its signature
/// valid over [`cosignature_message`].
#[must_use]
pub fn verify_signature(text: &str, sig: &NoteSignature, key: &VerifierKey) -> Option<VerifiedSignature> {
    if sig.name != key.name() || sig.key_id != key.key_id() {
        return None;
    }
    let timestamp = match key.alg() {
        ALG_ED25519 => {
            if !key.verify_raw(text.as_bytes(), &sig.payload) {
                return None;
            }
            None
        }
        ALG_COSIGNATURE_V1 => {
            let ts = sig.cosignature_timestamp()?;
            if ts > MAX_COSIGNATURE_TIMESTAMP {
                return None;
            }
            let raw = sig.payload.get(8..)?;
            if !key.verify_raw(&cosignature_message(text, ts), raw) {
                return None;
            }
            Some(ts)
        }
        crate::mldsa::ALG_MLDSA44 => {
            // A checkpoint cosignature: the subtree [0, size) with its root
            // (extension lines are not signed: such a note does not verify).
            let (origin, size, root) = crate::mldsa::checkpoint_body(text)?;
            Some(crate::mldsa::verify_subtree(key, sig, origin, 0, size, &root)?)
        }
        _ => return None,
    };
    Some(VerifiedSignature {
        name: sig.name.clone(),
        key_id: sig.key_id,
        alg: key.alg(),
        timestamp,
    })
}

/// Parses a block of signature lines, each ending in `\n` (the part of a
/// note after the blank line, or a witness's add-checkpoint response body).
///
/// # Errors
/// [`NoteError`] if the block is larger than [`MAX_NOTE_BYTES`], contains a
/// control character, is empty, does not end in `\n`, has more than
/// [`MAX_SIGNATURES`] lines or any line is malformed.
pub fn parse_signature_lines(block: &str) -> Result<Vec<NoteSignature>, NoteError> {
    if block.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge(block.len()));
    }
    check_controls(block)?;
    if block.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let Some(body) = block.strip_suffix('\n') else {
        return Err(NoteError::UnterminatedSignatureLine);
    };
    let count = block.bytes().filter(|&b| b == b'\n').count();
    if count > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures(count));
    }
    body.split('\n')
        .enumerate()
        .map(|(i, line)| {
            NoteSignature::parse_line(line).map_err(|reason| NoteError::BadSignatureLine {
                line: i.saturating_add(1),
                reason,
            })
        })
        .collect()
}

/// A syntactically valid signed note: its text and its signature lines.
///
/// Guarantees: the text passes [`check_text`]; there are 1 to
/// [`MAX_SIGNATURES`] signature lines, each passing
/// [`NoteSignature::validate`]; the serialized note is at most
/// [`MAX_NOTE_BYTES`] and [`Note::parse`] of [`Note::to_bytes`] gives back an
/// equal note. (Only [`Note::add_signature`] can break the last two points,
/// see there.) Nothing about the signatures is verified until
/// [`Note::verify`] is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note, applying every syntax rule of docs/SPECS.md §2.1 and
    /// §2.2 (see the module documentation). No signature is verified.
    /// Duplicate lines are kept as they appear.
    ///
    /// # Errors
    /// The [`NoteError`] naming the first broken rule.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge(bytes.len()));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        check_controls(s)?;
        let split = s.rfind("\n\n").ok_or(NoteError::NoSeparator)?;
        let text = s.get(..=split).ok_or(NoteError::NoSeparator)?;
        let block = s.get(split.saturating_add(2)..).unwrap_or_default();
        let signatures = parse_signature_lines(block)?;
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Builds a note from a text and signature lines (kept in order,
    /// duplicates included) after checking everything [`Note::parse`]
    /// checks. No signature is verified.
    ///
    /// # Errors
    /// The [`NoteError`] naming the first broken rule.
    pub fn from_parts(text: &str, signatures: Vec<NoteSignature>) -> Result<Self, NoteError> {
        check_text(text)?;
        let note = Self {
            text: text.to_owned(),
            signatures,
        };
        note.check_signatures()?;
        Ok(note)
    }

    /// Signs `text` with every signer, in order (see [`sign_text`]; the
    /// timestamp is used only by 0x04 keys). A later signer with the same
    /// name and key ID as an earlier one replaces its line.
    ///
    /// # Errors
    /// [`NoteError`] if the text breaks [`check_text`], no signer is given,
    /// a cosignature timestamp is out of range, or the result would exceed
    /// [`MAX_SIGNATURES`] or [`MAX_NOTE_BYTES`].
    pub fn new_signed(text: &str, signers: &[&SignerKey], timestamp: u64) -> Result<Self, NoteError> {
        check_text(text)?;
        if signers.is_empty() {
            return Err(NoteError::NoSigners);
        }
        let mut note = Self {
            text: text.to_owned(),
            signatures: Vec::with_capacity(signers.len()),
        };
        for signer in signers {
            note.add_signature(sign_text(text, signer, timestamp)?);
        }
        note.check_signatures()?;
        Ok(note)
    }

    /// The note text, including its final `\n` and excluding the blank
    /// separator line.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines in note order.
    #[must_use]
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Appends `sig`, first dropping any existing line with the same name
    /// and key ID (as Go's `note.Sign` does).
    ///
    /// This does not validate `sig` nor the limits: adding a malformed line,
    /// or a 101st line, makes [`Note::to_bytes`] produce a note that
    /// [`Note::parse`] refuses. Use [`Note::try_add_signature`] to have it
    /// checked.
    pub fn add_signature(&mut self, sig: NoteSignature) {
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        self.signatures.push(sig);
    }

    /// Like [`Note::add_signature`], but refuses (and leaves the note
    /// unchanged) if `sig` is malformed or the result would exceed
    /// [`MAX_SIGNATURES`] or [`MAX_NOTE_BYTES`].
    ///
    /// # Errors
    /// The [`NoteError`] naming the broken rule.
    pub fn try_add_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        let mut next = self.clone();
        next.add_signature(sig);
        next.check_signatures()?;
        *self = next;
        Ok(())
    }

    /// Checks signature count, each line and total size.
    fn check_signatures(&self) -> Result<(), NoteError> {
        if self.signatures.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures(self.signatures.len()));
        }
        for (i, sig) in self.signatures.iter().enumerate() {
            sig.validate().map_err(|reason| NoteError::BadSignatureLine {
                line: i.saturating_add(1),
                reason,
            })?;
        }
        let len = self.encoded_len();
        if len > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge(len));
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.signatures
            .iter()
            .fold(self.text.len().saturating_add(1), |acc, s| {
                acc.saturating_add(s.line_len())
            })
    }

    /// The serialized note: text, `\n`, then every signature line.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Verifies the note against trusted keys (docs/SPECS.md §2.7).
    ///
    /// * A line whose (name, key ID) matches no key in `verifiers` is
    ///   ignored.
    /// * A line that matches must verify (see [`verify_signature`]; for a
    ///   0x04 key the payload must be 76 bytes with the key ID); otherwise
    ///   the whole note is rejected. Every matching line is checked, not
    ///   only the first; identical repeated lines are checked once.
    /// * At least one line must verify.
    ///
    /// Returns one entry per distinct verified (name, key ID), in note order
    /// (for repeated lines of one key, the first line's timestamp).
    ///
    /// # Errors
    /// [`NoteError::InvalidSignature`] for the first matching line that does
    /// not verify, [`NoteError::NoTrustedSignature`] if none verified.
    pub fn verify(&self, verifiers: &[VerifierKey]) -> Result<Vec<VerifiedSignature>, NoteError> {
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        let mut checked: Vec<&NoteSignature> = Vec::new();
        for sig in &self.signatures {
            let mut matching = verifiers
                .iter()
                .filter(|v| v.name() == sig.name && v.key_id() == sig.key_id)
                .peekable();
            if matching.peek().is_none() || checked.contains(&sig) {
                continue;
            }
            let Some(ok) = matching.find_map(|v| verify_signature(&self.text, sig, v)) else {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            };
            checked.push(sig);
            if !verified.iter().any(|v| v.name == ok.name && v.key_id == ok.key_id) {
                verified.push(ok);
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(verified)
    }

    /// The lines whose (name, key ID) match none of `verifiers`, in note
    /// order, with identical repeated lines listed once. These are the lines
    /// [`Note::verify`] ignores.
    #[must_use]
    pub fn unverified(&self, verifiers: &[VerifierKey]) -> Vec<&NoteSignature> {
        let mut out: Vec<&NoteSignature> = Vec::new();
        for sig in &self.signatures {
            let known = verifiers
                .iter()
                .any(|v| v.name() == sig.name && v.key_id() == sig.key_id);
            if !known && !out.contains(&sig) {
                out.push(sig);
            }
        }
        out
    }
}

impl fmt::Display for Note {
    /// Writes the serialized note (same bytes as [`Note::to_bytes`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            f.write_str(&sig.to_line())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn vectors(name: &str) -> Value {
        let raw = match name {
            "signed_note" => include_str!("../../testdata/vectors/signed_note.json"),
            "cosignature_v1" => include_str!("../../testdata/vectors/cosignature_v1.json"),
            _ => panic!("unknown vector file"),
        };
        serde_json::from_str(raw).expect("vector json")
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn s<'a>(v: &'a Value, k: &str) -> &'a str {
        v[k].as_str().unwrap_or_else(|| panic!("missing string {k}"))
    }

    fn signer(skey: &str) -> SignerKey {
        SignerKey::parse(skey).expect("skey")
    }

    fn vkeys(v: &Value) -> Vec<VerifierKey> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|k| VerifierKey::parse(k.as_str().expect("str")).expect("vkey"))
            .collect()
    }

    fn peter() -> SignerKey {
        signer("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
    }

    fn enoch() -> SignerKey {
        signer("PRIVATE+KEY+EnochRoot+af0cfe78+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    }

    fn witness() -> SignerKey {
        let seed: [u8; 32] = std::array::from_fn(|i| 0x20 + u8::try_from(i).expect("small"));
        SignerKey::from_seed("witness.example/w1", ALG_COSIGNATURE_V1, seed).expect("witness")
    }

    const TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";

    #[test]
    fn signed_note_vectors() {
        let v = vectors("signed_note");
        let notes = v["signed_notes"].as_array().expect("signed_notes");
        assert_eq!(notes.len(), 3);

        // 1: Peter alone, byte for byte.
        let n0 = &notes[0];
        let note = Note::new_signed(s(n0, "text"), &[&peter()], 0).expect("sign");
        assert_eq!(note.to_string(), s(n0, "signed_note"));
        assert_eq!(note.to_bytes(), hex(s(n0, "signed_note_hex")));
        assert_eq!(note.signatures()[0].to_line(), s(n0, "signature_line"));
        assert_eq!(
            note.signatures()[0].payload.len() + 4,
            usize::try_from(n0["signature_b64_decoded_len"].as_u64().expect("len")).expect("usize")
        );
        let parsed = Note::parse(s(n0, "signed_note").as_bytes()).expect("parse");
        assert_eq!(parsed, note);
        assert_eq!(parsed.text(), s(n0, "text"));

        // 2: Peter then Enoch, via new_signed and via add_signature.
        let n1 = &notes[1];
        let both = Note::new_signed(s(n1, "text"), &[&peter(), &enoch()], 0).expect("sign");
        assert_eq!(both.to_string(), s(n1, "signed_note"));
        let mut added = parsed.clone();
        added.add_signature(sign_text(s(n1, "text"), &enoch(), 0).expect("sign"));
        assert_eq!(added.to_string(), s(n1, "signed_note"));
        assert_eq!(Note::parse(s(n1, "signed_note").as_bytes()).expect("parse"), both);

        // 3: the C2SP example verifies under its published key.
        let n2 = &notes[2];
        let note = Note::parse(s(n2, "signed_note").as_bytes()).expect("parse");
        assert_eq!(note.text(), s(n2, "text"));
        assert_eq!(note.to_string(), s(n2, "signed_note"));
        let vk = VerifierKey::parse(s(n2, "verifier_key")).expect("vkey");
        let ok = note.verify(&[vk]).expect("verifies");
        assert_eq!(
            ok,
            vec![VerifiedSignature {
                name: "example.com/foo".into(),
                key_id: 0x530d_903a,
                alg: ALG_ED25519,
                timestamp: None,
            }]
        );
    }

    fn ids(list: impl IntoIterator<Item = (String, u32)>) -> Vec<String> {
        list.into_iter().map(|(n, id)| format!("{n}+{id:08x}")).collect()
    }

    #[test]
    fn verification_case_vectors() {
        let v = vectors("signed_note");
        let cases = v["verification_cases"].as_array().expect("cases");
        assert_eq!(cases.len(), 6);
        for case in cases {
            let desc = s(case, "desc");
            let verifiers = vkeys(&case["verifiers"]);
            let bytes = if let Some(n) = case["signed_note"].as_str() {
                n.to_owned()
            } else {
                // text + "\n" + 101 * peter signature line
                let line = sign_text(TEXT, &peter(), 0).expect("sign").to_line();
                format!("{TEXT}\n{}", line.repeat(101))
            };
            let expect = s(case, "expect");
            if expect == "accept" {
                let note = Note::parse(bytes.as_bytes()).expect(desc);
                let ok = note.verify(&verifiers).expect(desc);
                assert!(ok.iter().all(|v| v.alg == ALG_ED25519 && v.timestamp.is_none()));
                let got = ids(ok.into_iter().map(|v| (v.name, v.key_id)));
                let un = ids(note
                    .unverified(&verifiers)
                    .into_iter()
                    .map(|s| (s.name.clone(), s.key_id)));
                if let Some(want) = case["verified"].as_array() {
                    let want: Vec<&str> = want.iter().filter_map(Value::as_str).collect();
                    assert_eq!(got, want, "{desc}");
                }
                if let Some(want) = case["unverified"].as_array() {
                    let want: Vec<&str> = want.iter().filter_map(Value::as_str).collect();
                    assert_eq!(un, want, "{desc}");
                }
                if let Some(n) = case["verified_count"].as_u64() {
                    assert_eq!(u64::try_from(got.len()).ok(), Some(n), "{desc}");
                }
                if let Some(n) = case["unverified_count"].as_u64() {
                    assert_eq!(u64::try_from(un.len()).ok(), Some(n), "{desc}");
                }
            } else if expect.starts_with("reject (note has no verifiable") {
                let note = Note::parse(bytes.as_bytes()).expect(desc);
                assert_eq!(note.verify(&verifiers), Err(NoteError::NoTrustedSignature));
            } else if expect.starts_with("reject (invalid signature") {
                let note = Note::parse(bytes.as_bytes()).expect(desc);
                assert_eq!(
                    note.verify(&verifiers),
                    Err(NoteError::InvalidSignature {
                        name: "PeterNeumann".into(),
                        key_id: 0xc74f_20a3
                    })
                );
            } else if expect.starts_with("reject in Go (malformed note)") {
                assert_eq!(Note::parse(bytes.as_bytes()), Err(NoteError::TooManySignatures(101)));
                // Exactly 100 lines is fine and verifies.
                let line = sign_text(TEXT, &peter(), 0).expect("sign").to_line();
                let hundred = format!("{TEXT}\n{}", line.repeat(100));
                let note = Note::parse(hundred.as_bytes()).expect("100 lines");
                assert_eq!(note.signatures().len(), 100);
                assert_eq!(note.verify(&verifiers).expect("verifies").len(), 1);
            } else {
                panic!("unhandled case {desc}");
            }
        }
    }

    #[test]
    fn malformed_note_vectors() {
        let v = vectors("signed_note");
        let cases = v["malformed_notes"].as_array().expect("malformed");
        assert_eq!(cases.len(), 7);
        let errs: Vec<NoteError> = cases
            .iter()
            .map(|c| Note::parse(&hex(s(c, "message_hex"))).expect_err(s(c, "desc")))
            .collect();
        assert_eq!(errs[0], NoteError::NoSeparator);
        assert_eq!(errs[1], NoteError::NoSignatures);
        assert_eq!(errs[2], NoteError::UnterminatedSignatureLine);
        assert_eq!(errs[3], NoteError::ControlCharacter { offset: 0 });
        assert_eq!(errs[4], NoteError::NotUtf8);
        // Not newline-terminated either; with the newline the name is the problem.
        assert_eq!(errs[5], NoteError::UnterminatedSignatureLine);
        let mut fixed = hex(s(&cases[5], "message_hex"));
        fixed.push(b'\n');
        assert!(matches!(
            Note::parse(&fixed),
            Err(NoteError::BadSignatureLine {
                line: 1,
                reason: SignatureLineError::InvalidBase64
            })
        ));
        assert_eq!(
            errs[6],
            NoteError::BadSignatureLine {
                line: 2,
                reason: SignatureLineError::MissingPrefix
            }
        );
    }

    #[test]
    fn cosignature_vectors() {
        let v = vectors("cosignature_v1");
        let w = witness();
        assert_eq!(w.verifier().to_vkey_string(), s(&v["witness_key"], "vkey"));
        let wv = w.verifier();
        for c in v["cosignatures"].as_array().expect("cosignatures") {
            let text = s(c, "checkpoint_text");
            let ts = c["timestamp"].as_u64().expect("ts");
            let msg = cosignature_message(text, ts);
            assert_eq!(msg, s(c, "signed_message").as_bytes());
            if let Some(h) = c["signed_message_hex"].as_str() {
                assert_eq!(msg, hex(h));
            }
            let sig = sign_text(text, &w, ts).expect("cosign");
            assert_eq!(sig.to_line(), s(c, "signature_line"));
            assert_eq!(sig.payload.len() + 4, 76);
            assert_eq!(sig.cosignature_timestamp(), Some(ts));
            // The same through new_signed (timestamp used for 0x04 keys).
            let note = Note::new_signed(text, &[&w], ts).expect("note");
            assert_eq!(note.to_string(), format!("{text}\n{}", s(c, "signature_line")));
            let ok = note.verify(std::slice::from_ref(&wv)).expect("verifies");
            assert_eq!(
                ok,
                vec![VerifiedSignature {
                    name: "witness.example/w1".into(),
                    key_id: 0x2032_4abe,
                    alg: ALG_COSIGNATURE_V1,
                    timestamp: Some(ts),
                }]
            );
            let line = s(c, "signature_line");
            let parsed = NoteSignature::parse_line(line.strip_suffix('\n').expect("nl")).expect("line");
            assert_eq!(parsed, sig);
            assert_eq!(verify_signature(text, &parsed, &wv), ok.into_iter().next());
        }

        // Decoding the spec's example line.
        let ex = &v["spec_example_line"];
        let sig = NoteSignature::parse_line(s(ex, "line")).expect("spec line");
        assert_eq!(sig.name, "witness.example.com/w1");
        assert_eq!(format!("{:08x}", sig.key_id), s(ex, "key_id_hex"));
        assert_eq!(sig.payload.len() + 4, 76);
        let ts = ex["timestamp"].as_u64().expect("ts");
        assert_eq!(sig.cosignature_timestamp(), Some(ts));
        assert_eq!(
            cosignature_message(
                "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
                ts
            ),
            s(ex, "signed_message_for_that_timestamp").as_bytes()
        );

        // Decoding the transparency-dev/formats timestamp vector.
        let fv = &v["formats_timestamp_vector"];
        let sig = NoteSignature::parse_line(&format!("{SIGNATURE_LINE_PREFIX}x {}", s(fv, "signature_b64")))
            .expect("formats line");
        assert_eq!(format!("{:08x}", sig.key_id), s(fv, "key_id_hex"));
        assert_eq!(sig.cosignature_timestamp(), fv["expect_timestamp"].as_u64());
    }

    #[test]
    fn alg_types_do_not_cross() {
        let text = "example.com/log\n1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
        let seed = [0x20; 32];
        let cosigner = SignerKey::from_seed("w", ALG_COSIGNATURE_V1, seed).expect("w");
        let plain = SignerKey::from_seed("w", ALG_ED25519, seed).expect("w");
        let cos_note = Note::new_signed(text, &[&cosigner], 1_700_000_000).expect("sign");
        let plain_note = Note::new_signed(text, &[&plain], 1_700_000_000).expect("sign");
        // Different key IDs: the other verifier does not even match.
        assert_eq!(cos_note.verify(&[plain.verifier()]), Err(NoteError::NoTrustedSignature));
        assert_eq!(
            plain_note.verify(&[cosigner.verifier()]),
            Err(NoteError::NoTrustedSignature)
        );
        // A 0x01 signature forged under the 0x04 key's (name, id): wrong length.
        let mut forged = plain_note.signatures()[0].clone();
        forged.key_id = cosigner.key_id();
        let note = Note::from_parts(text, vec![forged]).expect("syntax ok");
        assert_eq!(
            note.verify(&[cosigner.verifier()]),
            Err(NoteError::InvalidSignature {
                name: "w".into(),
                key_id: cosigner.key_id()
            })
        );
        // A 0x04 payload under the 0x01 key's (name, id): wrong length too.
        let mut forged = cos_note.signatures()[0].clone();
        forged.key_id = plain.key_id();
        let note = Note::from_parts(text, vec![forged]).expect("syntax ok");
        assert!(matches!(
            note.verify(&[plain.verifier()]),
            Err(NoteError::InvalidSignature { .. })
        ));
        // Timestamp is signed: changing it breaks the cosignature.
        let mut sig = cos_note.signatures()[0].clone();
        sig.payload[7] ^= 1;
        let note = Note::from_parts(text, vec![sig]).expect("syntax ok");
        assert!(matches!(
            note.verify(&[cosigner.verifier()]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn cosignature_timestamp_range() {
        let w = witness();
        let text = "a\n";
        assert_eq!(
            sign_text(text, &w, MAX_COSIGNATURE_TIMESTAMP + 1),
            Err(NoteError::TimestampOutOfRange(MAX_COSIGNATURE_TIMESTAMP + 1))
        );
        let max = Note::new_signed(text, &[&w], MAX_COSIGNATURE_TIMESTAMP).expect("max ok");
        let ok = max.verify(&[w.verifier()]).expect("verifies");
        assert_eq!(ok[0].timestamp, Some(MAX_COSIGNATURE_TIMESTAMP));
        // A line carrying a timestamp above 2^63-1 is refused even if the
        // Ed25519 signature over it is valid.
        let big = u64::MAX;
        let raw = w.sign_raw(&cosignature_message(text, big));
        let mut payload = big.to_be_bytes().to_vec();
        payload.extend_from_slice(&raw);
        let sig = NoteSignature {
            name: w.name().into(),
            key_id: w.key_id(),
            payload,
        };
        let note = Note::from_parts(text, vec![sig]).expect("syntax ok");
        assert!(matches!(
            note.verify(&[w.verifier()]),
            Err(NoteError::InvalidSignature { .. })
        ));
        // The timestamp of a 0x01 signer is ignored.
        let a = Note::new_signed(text, &[&peter()], 1).expect("a");
        let b = Note::new_signed(text, &[&peter()], 2).expect("b");
        assert_eq!(a, b);
    }

    #[test]
    fn verify_rules() {
        let p = peter();
        let e = enoch();
        let pv = p.verifier();
        let ev = e.verifier();
        let note = Note::new_signed(TEXT, &[&p, &e], 0).expect("sign");
        // Name matches but ID differs, or ID matches but name differs: unknown.
        let wrong_id = VerifierKey::new(
            "PeterNeumann",
            ALG_ED25519,
            ev.public_key().try_into().expect("32 bytes"),
        )
        .expect("vk");
        assert_eq!(note.verify(&[wrong_id]), Err(NoteError::NoTrustedSignature));
        // A bad line from a trusted key rejects even when another key verified.
        let mut bad = note.clone();
        let mut sig = bad.signatures()[1].clone();
        sig.payload[0] ^= 0x80;
        bad.add_signature(sig);
        assert_eq!(bad.verify(std::slice::from_ref(&pv)).map(|v| v.len()), Ok(1));
        assert_eq!(
            bad.verify(&[pv.clone(), ev.clone()]),
            Err(NoteError::InvalidSignature {
                name: "EnochRoot".into(),
                key_id: 0xaf0c_fe78
            })
        );
        // A second, different line from the same trusted key is also checked.
        let mut twice = note.clone();
        let mut sig = twice.signatures()[0].clone();
        sig.payload[5] ^= 1;
        twice.signatures.push(sig);
        assert!(matches!(
            twice.verify(std::slice::from_ref(&pv)),
            Err(NoteError::InvalidSignature { .. })
        ));
        // A duplicated verifier entry is harmless.
        assert_eq!(note.verify(&[pv.clone(), pv.clone()]).map(|v| v.len()), Ok(1));
        // Signature of a different text.
        let other = Note::new_signed("other\n", &[&p], 0).expect("sign");
        let swapped = Note::from_parts(TEXT, other.signatures().to_vec()).expect("syntax");
        assert!(matches!(swapped.verify(&[pv]), Err(NoteError::InvalidSignature { .. })));
        assert_eq!(note.verify(&[]), Err(NoteError::NoTrustedSignature));
    }

    #[test]
    fn parse_error_paths() {
        let line = sign_text(TEXT, &peter(), 0).expect("sign").to_line();
        let good = format!("{TEXT}\n{line}");
        assert!(Note::parse(good.as_bytes()).is_ok());

        let big = format!("{}\n\n{line}", "a".repeat(MAX_NOTE_BYTES));
        assert_eq!(Note::parse(big.as_bytes()), Err(NoteError::TooLarge(big.len())));
        assert_eq!(
            Note::parse(format!("a\tb\n\n{line}").as_bytes()),
            Err(NoteError::ControlCharacter { offset: 1 })
        );
        assert_eq!(
            Note::parse(format!("a\r\n\n{line}").as_bytes()),
            Err(NoteError::ControlCharacter { offset: 1 })
        );
        // DEL and C1 controls are allowed.
        let del = Note::new_signed("a\u{7f}\u{85}\n", &[&peter()], 0).expect("sign");
        assert_eq!(Note::parse(&del.to_bytes()), Ok(del));
        // The split is at the LAST blank line: text may contain blank lines.
        let multi = Note::new_signed("a\n\nb\n\n", &[&peter()], 0).expect("sign");
        let parsed = Note::parse(&multi.to_bytes()).expect("parse");
        assert_eq!(parsed.text(), "a\n\nb\n\n");
        assert!(parsed.verify(&[peter().verifier()]).is_ok());
        // A trailing blank line after the signatures leaves no signatures.
        assert_eq!(
            Note::parse(format!("{good}\n").as_bytes()),
            Err(NoteError::NoSignatures)
        );

        let bad_line = |l: &str| Note::parse(format!("{TEXT}\n{l}\n").as_bytes());
        let reason = |r| Err(NoteError::BadSignatureLine { line: 1, reason: r });
        assert_eq!(bad_line("- a AAAAAAA="), reason(SignatureLineError::MissingPrefix));
        assert_eq!(bad_line("—a AAAAAAA="), reason(SignatureLineError::MissingPrefix));
        assert_eq!(bad_line("— aAAAAAAA="), reason(SignatureLineError::MissingSpace));
        assert_eq!(
            bad_line("—  AAAAAAA="),
            reason(SignatureLineError::InvalidName(KeyError::EmptyName))
        );
        assert_eq!(
            bad_line("— a+b AAAAAAA="),
            reason(SignatureLineError::InvalidName(KeyError::NameHasPlus))
        );
        assert_eq!(bad_line("— a "), reason(SignatureLineError::EmptySignature));
        assert_eq!(bad_line("— a AAAAAAA"), reason(SignatureLineError::InvalidBase64));
        assert_eq!(bad_line("— a AAAAAAB="), reason(SignatureLineError::InvalidBase64));
        assert_eq!(bad_line("— a AAAAAA= "), reason(SignatureLineError::InvalidBase64));
        assert_eq!(bad_line("— a AAAAAA=="), reason(SignatureLineError::TooShort(4)));
        assert_eq!(bad_line("— a AAAA"), reason(SignatureLineError::TooShort(3)));
        // Five decoded bytes are enough syntactically.
        let ok = bad_line("— a AAAAAAA=").expect("5 bytes");
        assert_eq!(ok.signatures()[0].payload, vec![0]);
        // Error on the second line carries its position.
        assert_eq!(
            Note::parse(format!("{TEXT}\n{line}— a\n").as_bytes()),
            Err(NoteError::BadSignatureLine {
                line: 2,
                reason: SignatureLineError::MissingSpace
            })
        );
    }

    #[test]
    fn signature_block_parsing() {
        let line = sign_text(TEXT, &peter(), 0).expect("sign").to_line();
        let two = format!("{line}{line}");
        let sigs = parse_signature_lines(&two).expect("two lines");
        assert_eq!(sigs.len(), 2);
        assert_eq!(parse_signature_lines(""), Err(NoteError::NoSignatures));
        assert_eq!(
            parse_signature_lines(line.trim_end()),
            Err(NoteError::UnterminatedSignatureLine)
        );
        assert_eq!(
            parse_signature_lines(&format!("{line}\n")),
            Err(NoteError::BadSignatureLine {
                line: 2,
                reason: SignatureLineError::MissingPrefix
            })
        );
        assert_eq!(
            parse_signature_lines(&format!("\t{line}")),
            Err(NoteError::ControlCharacter { offset: 0 })
        );
    }

    #[test]
    fn build_error_paths() {
        let p = peter();
        assert_eq!(Note::new_signed("", &[&p], 0), Err(NoteError::EmptyText));
        assert_eq!(Note::new_signed("abc", &[&p], 0), Err(NoteError::TextNotTerminated));
        assert_eq!(
            Note::new_signed("a\u{0}\n", &[&p], 0),
            Err(NoteError::ControlCharacter { offset: 1 })
        );
        assert_eq!(Note::new_signed("a\n", &[], 0), Err(NoteError::NoSigners));
        let huge = format!("{}\n", "a".repeat(MAX_NOTE_BYTES));
        assert_eq!(Note::new_signed(&huge, &[&p], 0), Err(NoteError::TooLarge(huge.len())));
        // Text that fits, but not together with the signature line.
        let almost = format!("{}\n", "a".repeat(MAX_NOTE_BYTES - 10));
        assert!(matches!(
            Note::new_signed(&almost, &[&p], 0),
            Err(NoteError::TooLarge(_))
        ));
        // Exactly at the cap is fine and round-trips.
        let line_len = sign_text("a\n", &p, 0).expect("sign").to_line().len();
        let exact = format!("{}\n", "a".repeat(MAX_NOTE_BYTES - line_len - 2));
        let note = Note::new_signed(&exact, &[&p], 0).expect("fits exactly");
        assert_eq!(note.to_bytes().len(), MAX_NOTE_BYTES);
        assert_eq!(Note::parse(&note.to_bytes()), Ok(note));

        // Duplicate signers collapse to one line.
        let dup = Note::new_signed("a\n", &[&p, &p], 0).expect("sign");
        assert_eq!(dup.signatures().len(), 1);

        // from_parts checks lines and limits.
        let sig = sign_text("a\n", &p, 0).expect("sign");
        assert_eq!(Note::from_parts("a\n", vec![]), Err(NoteError::NoSignatures));
        assert_eq!(
            Note::from_parts("a\n", vec![sig.clone(); 101]),
            Err(NoteError::TooManySignatures(101))
        );
        let mut bad = sig.clone();
        bad.name = "a b".into();
        assert_eq!(
            Note::from_parts("a\n", vec![sig.clone(), bad.clone()]),
            Err(NoteError::BadSignatureLine {
                line: 2,
                reason: SignatureLineError::InvalidName(KeyError::NameHasWhitespace)
            })
        );
        let mut empty = sig.clone();
        empty.payload.clear();
        assert!(matches!(
            Note::from_parts("a\n", vec![empty.clone()]),
            Err(NoteError::BadSignatureLine { line: 1, .. })
        ));
        assert_eq!(
            Note::from_parts("a", vec![sig.clone()]),
            Err(NoteError::TextNotTerminated)
        );

        // try_add_signature refuses and leaves the note unchanged.
        let mut note = Note::from_parts("a\n", vec![sig.clone()]).expect("ok");
        let before = note.clone();
        assert!(note.try_add_signature(bad).is_err());
        assert!(note.try_add_signature(empty).is_err());
        assert_eq!(note, before);
        let e = sign_text("a\n", &enoch(), 0).expect("sign");
        note.try_add_signature(e.clone()).expect("adds");
        assert_eq!(note.signatures(), &[sig.clone(), e.clone()]);
        // Re-adding Peter moves his line to the end (Go's order).
        note.try_add_signature(sig.clone()).expect("adds");
        assert_eq!(note.signatures(), &[e, sig]);
        let many: Vec<NoteSignature> = (0u32..100)
            .map(|i| NoteSignature {
                name: format!("k{i}"),
                key_id: i,
                payload: vec![1],
            })
            .collect();
        let mut n = Note::from_parts("a\n", many).expect("100");
        assert_eq!(
            n.try_add_signature(NoteSignature {
                name: "k100".into(),
                key_id: 100,
                payload: vec![1]
            }),
            Err(NoteError::TooManySignatures(101))
        );
        assert_eq!(n.signatures().len(), 100);
    }

    #[test]
    fn line_len_matches_rendering() {
        for plen in 1..10 {
            let sig = NoteSignature {
                name: "name—é".into(),
                key_id: 7,
                payload: vec![3; plen],
            };
            assert_eq!(sig.line_len(), sig.to_line().len());
        }
    }

    #[test]
    fn error_messages_are_specific() {
        assert_eq!(
            NoteError::InvalidSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f_20a3
            }
            .to_string(),
            "invalid signature by trusted key PeterNeumann+c74f20a3"
        );
        assert_eq!(
            NoteError::BadSignatureLine {
                line: 3,
                reason: SignatureLineError::InvalidName(KeyError::NameHasPlus)
            }
            .to_string(),
            "signature line 3: invalid key name: key name contains '+'"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn signed_note_round_trips_and_detects_flips(
            lines in proptest::collection::vec("[ -~\u{a0}-\u{2fff}]{0,40}", 1..6),
            seed in any::<[u8; 32]>(),
            ts in 0u64..=MAX_COSIGNATURE_TIMESTAMP,
            cosign in any::<bool>(),
            flip_at in any::<proptest::sample::Index>(),
            flip_mask in 1u8..=255,
        ) {
            let text: String = lines.iter().flat_map(|l| [l.as_str(), "\n"]).collect();
            let alg = if cosign { ALG_COSIGNATURE_V1 } else { ALG_ED25519 };
            let key = SignerKey::from_seed("example.com/p", alg, seed).expect("key");
            let vk = key.verifier();
            let note = Note::new_signed(&text, &[&key], ts).expect("sign");
            let bytes = note.to_bytes();
            let parsed = Note::parse(&bytes).expect("parse");
            prop_assert_eq!(&parsed, &note);
            prop_assert_eq!(parsed.text(), text.as_str());
            let ok = parsed.verify(std::slice::from_ref(&vk)).expect("verify");
            prop_assert_eq!(ok.len(), 1);
            prop_assert_eq!(ok[0].timestamp, if cosign { Some(ts) } else { None });

            // Flip one byte of the text: parsing or verification must fail.
            let i = flip_at.index(text.len());
            let mut flipped = bytes.clone();
            flipped[i] ^= flip_mask;
            let outcome = Note::parse(&flipped).and_then(|n| n.verify(std::slice::from_ref(&vk)));
            prop_assert!(outcome.is_err(), "flip at {} accepted", i);
        }
    }
}
