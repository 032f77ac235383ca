//! C2SP tlog-checkpoint (docs/SPECS.md §3): the note text
//!
//! ```text
//! <origin>\n
//! <tree size, decimal>\n
//! <root hash, b64 of 32 bytes>\n
//! [<extension line>\n ...]
//! ```
//!
//! signed by the log as a C2SP signed note.
//!
//! * [`Checkpoint::parse`] is strict: it re-serializes what it parsed and
//!   requires byte equality, so `+5`, `05`, unpadded or non-canonical base64
//!   are refused; size 0 must carry the empty-tree root.
//! * [`sign_checkpoint`] makes the log's Ed25519 (type 0x01) signature; as
//!   docs/DESIGN.md decides, the key name must equal the origin and no extension
//!   lines are signed.
//! * [`open_checkpoint`] parses a note, requires a valid signature by the
//!   log key (other signatures, e.g. witness cosignatures, are ignored), then
//!   parses the text and requires the origin to equal the key name. Each
//!   failing step has its own [`CheckpointError`] variant.
//!
//! Nothing here does I/O.

use std::fmt;
use std::str::FromStr;

use crate::b64;
use crate::keys::{ALG_ED25519, SignerKey, VerifierKey};
use crate::merkle::{EMPTY_ROOT, Hash};
use crate::note::{MAX_NOTE_BYTES, Note, NoteError};

/// Why a checkpoint text is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointTextError {
    /// The text is larger than [`MAX_NOTE_BYTES`].
    #[error("text is {0} bytes, more than 1000000")]
    TooLarge(usize),
    /// A code point below U+0020 other than `\n` occurs.
    #[error("text contains a control character at byte {0}")]
    ControlCharacter(usize),
    /// The text does not end in `\n`.
    #[error("last line does not end in a newline")]
    MissingFinalNewline,
    /// Fewer than three lines.
    #[error("text has {0} lines, fewer than 3")]
    TooFewLines(usize),
    /// The origin line is empty.
    #[error("origin is empty")]
    EmptyOrigin,
    /// A line after the origin is empty (1-based line number).
    #[error("line {0} is empty")]
    EmptyLine(usize),
    /// The tree size contains something other than ASCII digits.
    #[error("tree size is not a decimal number")]
    SizeNotDecimal,
    /// The tree size has a leading zero.
    #[error("tree size has a leading zero")]
    SizeLeadingZero,
    /// The tree size does not fit in 64 bits.
    #[error("tree size does not fit in 64 bits")]
    SizeOverflow,
    /// The root hash is not canonical padded base64 of exactly 32 bytes.
    #[error("root hash is not canonical base64 of 32 bytes")]
    InvalidRoot,
    /// The tree size is 0 but the root is not `SHA-256("")`.
    #[error("tree size is 0 but the root hash is not the empty-tree hash")]
    EmptyTreeRoot,
    /// The parsed values do not re-serialize to the same bytes.
    #[error("text is not in canonical form")]
    NotCanonical,
}

/// Why a checkpoint could not be parsed, signed or opened. Each variant
/// names the step that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note itself is malformed (syntax, before any signature
    /// check).
    #[error("malformed note: {0}")]
    MalformedNote(NoteError),
    /// No signature line matches the log key's name and key ID.
    #[error("the checkpoint has no signature by the log key {want} (it is signed by {found})")]
    NoLogSignature {
        /// The key looked for, `name+keyid`.
        want: String,
        /// The keys that signed the note, `name+keyid`, comma-separated
        /// (`nobody` for none).
        found: String,
    },
    /// A signature line with the log key's name and key ID does not verify.
    #[error("invalid signature by the log key {name}+{key_id:08x}")]
    BadSignature {
        /// The log key name.
        name: String,
        /// The log key ID.
        key_id: u32,
    },
    /// The (signed) note text is not a valid checkpoint.
    #[error("malformed checkpoint text: {0}")]
    MalformedText(CheckpointTextError),
    /// The checkpoint origin differs from the log key name.
    #[error("checkpoint origin {origin:?} does not match log key name {key_name:?}")]
    OriginMismatch {
        /// Origin line of the checkpoint.
        origin: String,
        /// Name of the log key.
        key_name: String,
    },
    /// The log key is not a plain Ed25519 (type 0x01) key.
    #[error("log key has signature type 0x{0:02x}, not 0x01")]
    WrongKeyType(u8),
    /// [`sign_checkpoint`] was given a checkpoint with extension lines.
    #[error("the log does not sign checkpoints with extension lines")]
    ExtensionLines,
    /// Building the signed note failed.
    #[error("cannot sign checkpoint: {0}")]
    Sign(NoteError),
}

impl From<CheckpointTextError> for CheckpointError {
    fn from(e: CheckpointTextError) -> Self {
        Self::MalformedText(e)
    }
}

/// A parsed checkpoint body.
///
/// The fields are public; a value that came from [`Checkpoint::parse`] is
/// always canonical (its [`Checkpoint::to_text`] is the parsed text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Tree size (number of leaves).
    pub size: u64,
    /// Merkle tree root hash for `size`.
    pub root: Hash,
    /// Extension lines, without their newlines (opaque, normally empty).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    #[must_use]
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Parses a checkpoint note text (with its final newline, without the
    /// blank line and signatures), strictly: at least three non-empty lines
    /// each ending in `\n`, a decimal size without sign or leading zeros that
    /// fits in `u64`, a root that is canonical padded base64 of 32 bytes,
    /// the empty-tree root when the size is 0, and byte equality with the
    /// re-serialization.
    ///
    /// # Errors
    /// [`CheckpointError::MalformedText`] with the broken rule.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        Ok(Self::parse_text(text)?)
    }

    fn parse_text(text: &str) -> Result<Self, CheckpointTextError> {
        use CheckpointTextError as E;
        if text.len() > MAX_NOTE_BYTES {
            return Err(E::TooLarge(text.len()));
        }
        if let Some(offset) = text.bytes().position(|b| b < 0x20 && b != b'\n') {
            return Err(E::ControlCharacter(offset));
        }
        let body = text.strip_suffix('\n').ok_or(E::MissingFinalNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(E::TooFewLines(lines.len()));
        };
        if origin.is_empty() {
            return Err(E::EmptyOrigin);
        }
        if let Some(i) = lines.iter().position(|l| l.is_empty()) {
            return Err(E::EmptyLine(i.saturating_add(1)));
        }
        let size = parse_size(size)?;
        let root: Hash = b64::decode_array(root).ok_or(E::InvalidRoot)?;
        if size == 0 && root != EMPTY_ROOT {
            return Err(E::EmptyTreeRoot);
        }
        let cp = Self {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|&e| e.to_owned()).collect(),
        };
        if cp.to_text() != text {
            return Err(E::NotCanonical);
        }
        Ok(cp)
    }

    /// The note text: origin, size, base64 root and extension lines, each
    /// followed by `\n`. For a parsed checkpoint this is exactly the input.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n{}\n{}\n", self.origin, self.size, b64::encode(self.root));
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }
}

fn parse_size(s: &str) -> Result<u64, CheckpointTextError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CheckpointTextError::SizeNotDecimal);
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(CheckpointTextError::SizeLeadingZero);
    }
    s.parse::<u64>().map_err(|_| CheckpointTextError::SizeOverflow)
}

impl fmt::Display for Checkpoint {
    /// Writes [`Checkpoint::to_text`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl FromStr for Checkpoint {
    type Err = CheckpointError;

    /// Same as [`Checkpoint::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Signs a checkpoint as the log: a signed note whose single line is an
/// Ed25519 (type 0x01) signature over [`Checkpoint::to_text`].
///
/// Refuses unless the signer is a 0x01 key whose name equals the origin,
/// the checkpoint has no extension lines, and its text is canonical (parses
/// back to the same checkpoint), so the result always passes
/// [`open_checkpoint`] with the signer's verifier.
///
/// # Errors
/// [`CheckpointError::WrongKeyType`], [`CheckpointError::ExtensionLines`],
/// [`CheckpointError::OriginMismatch`], [`CheckpointError::MalformedText`]
/// or [`CheckpointError::Sign`].
pub fn sign_checkpoint(cp: &Checkpoint, signer: &SignerKey) -> Result<Note, CheckpointError> {
    sign_checkpoint_by(cp, &[signer])
}

/// [`sign_checkpoint`] with several log keys (a log in the overlap of a key
/// rotation signs with its old and its new key), one line each in the
/// given order. Every signer must pass the checks of [`sign_checkpoint`].
///
/// # Errors
/// As [`sign_checkpoint`].
pub fn sign_checkpoint_by(cp: &Checkpoint, signers: &[&SignerKey]) -> Result<Note, CheckpointError> {
    for signer in signers {
        if signer.alg() != ALG_ED25519 {
            return Err(CheckpointError::WrongKeyType(signer.alg()));
        }
        if cp.origin != signer.name() {
            return Err(CheckpointError::OriginMismatch {
                origin: cp.origin.clone(),
                key_name: signer.name().to_owned(),
            });
        }
    }
    if !cp.extensions.is_empty() {
        return Err(CheckpointError::ExtensionLines);
    }
    let text = cp.to_text();
    if Checkpoint::parse_text(&text)? != *cp {
        return Err(CheckpointError::MalformedText(CheckpointTextError::NotCanonical));
    }
    Note::new_signed(&text, signers, 0).map_err(CheckpointError::Sign)
}

/// Opens a checkpoint note signed by the log.
///
/// Steps, in order (the first failure is returned):
/// 1. the log key must be a 0x01 key ([`CheckpointError::WrongKeyType`]);
/// 2. the note must parse ([`CheckpointError::MalformedNote`]);
/// 3. a line with the log key's (name, key ID) must exist
///    ([`CheckpointError::NoLogSignature`]) and every such line must verify
///    ([`CheckpointError::BadSignature`]); lines of other keys are ignored;
/// 4. the text must be a valid checkpoint ([`CheckpointError::MalformedText`]);
/// 5. its origin must equal the key name ([`CheckpointError::OriginMismatch`]).
///
/// On success the checkpoint is authenticated by `log_key`; the returned
/// note keeps all its lines (e.g. witness cosignatures, not verified here).
///
/// # Errors
/// See the steps above.
pub fn open_checkpoint(note_bytes: &[u8], log_key: &VerifierKey) -> Result<(Checkpoint, Note), CheckpointError> {
    if log_key.alg() != ALG_ED25519 {
        return Err(CheckpointError::WrongKeyType(log_key.alg()));
    }
    let note = Note::parse(note_bytes).map_err(CheckpointError::MalformedNote)?;
    match note.verify(std::slice::from_ref(log_key)) {
        Ok(_) => {}
        Err(NoteError::NoTrustedSignature) => {
            let found: Vec<String> = note
                .signatures()
                .iter()
                .map(|s| format!("{}+{:08x}", s.name, s.key_id))
                .collect();
            return Err(CheckpointError::NoLogSignature {
                want: format!("{}+{:08x}", log_key.name(), log_key.key_id()),
                found: if found.is_empty() {
                    "nobody".into()
                } else {
                    found.join(", ")
                },
            });
        }
        Err(NoteError::InvalidSignature { name, key_id }) => {
            return Err(CheckpointError::BadSignature { name, key_id });
        }
        Err(other) => return Err(CheckpointError::MalformedNote(other)),
    }
    let cp = Checkpoint::parse(note.text())?;
    if cp.origin != log_key.name() {
        return Err(CheckpointError::OriginMismatch {
            origin: cp.origin,
            key_name: log_key.name().to_owned(),
        });
    }
    Ok((cp, note))
}

/// The keys a log has signed its checkpoints with, each for a range of
/// tree sizes: a log that rotated its key at entry `a` signs sizes `0..=a`
/// with the old key and sizes above `a` with the new one (during an overlap
/// it adds the old key's signature too, for readers that do not know the
/// new key yet). How a reader comes to trust a later key is the log's
/// business (provlog logs an announcement signed by both keys); this type
/// only applies the result, so that a checkpoint is opened with exactly the
/// key that may sign a tree of its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKeys {
    /// `(key, after)`: `key` signs sizes greater than `after` (the first
    /// key: every size), up to the next key's `after`.
    epochs: Vec<(VerifierKey, Option<u64>)>,
}

impl LogKeys {
    /// One key for every size.
    #[must_use]
    pub fn single(key: VerifierKey) -> Self {
        Self {
            epochs: vec![(key, None)],
        }
    }

    /// Adds `key` for the sizes greater than `after`. Refuses a key whose
    /// name differs from the first key's (the origin does not change), a
    /// key already in the list, and an `after` not greater than the last
    /// one.
    ///
    /// # Errors
    /// A message saying which rule is broken.
    pub fn push(&mut self, key: VerifierKey, after: u64) -> Result<(), String> {
        let first = self.first();
        if key.name() != first.name() {
            return Err(format!(
                "a rotated key must keep the log's name {:?}, not {:?}",
                first.name(),
                key.name()
            ));
        }
        if self.epochs.iter().any(|(k, _)| *k == key) {
            return Err("the log already used this key: a rotation must introduce a new one".into());
        }
        if let Some(Some(last)) = self.epochs.last().map(|(_, a)| *a)
            && after <= last
        {
            return Err(format!(
                "a rotation at entry {after} does not follow the one at entry {last}"
            ));
        }
        self.epochs.push((key, Some(after)));
        Ok(())
    }

    /// The key that signs checkpoints of `size` entries.
    #[must_use]
    pub fn for_size(&self, size: u64) -> &VerifierKey {
        let mut out = self.first();
        for (k, after) in &self.epochs {
            match after {
                Some(a) if size > *a => out = k,
                None => out = k,
                Some(_) => break,
            }
        }
        out
    }

    /// The key that signs the checkpoint in the signed note `note` (the
    /// first key when it is not a checkpoint note: opening it then fails
    /// anyway).
    #[must_use]
    pub fn for_note(&self, note: &[u8]) -> &VerifierKey {
        Note::parse(note)
            .ok()
            .and_then(|n| Checkpoint::parse(n.text()).ok())
            .map_or_else(|| self.first(), |cp| self.for_size(cp.size))
    }

    /// The newest key.
    #[must_use]
    pub fn current(&self) -> &VerifierKey {
        self.epochs.last().map_or_else(|| self.first(), |(k, _)| k)
    }

    /// The first key.
    #[must_use]
    pub fn first(&self) -> &VerifierKey {
        // Never empty: built by `single`, only ever pushed to.
        &self.epochs[0].0
    }

    /// Every key, oldest first, with the entry after which it signs
    /// (`None` for the first).
    pub fn iter(&self) -> impl Iterator<Item = (&VerifierKey, Option<u64>)> {
        self.epochs.iter().map(|(k, a)| (k, *a))
    }

    /// Whether `key` is one of them.
    #[must_use]
    pub fn contains(&self, key: &VerifierKey) -> bool {
        self.epochs.iter().any(|(k, _)| k == key)
    }
}

/// Opens a checkpoint note with the key of [`LogKeys`] that signs trees of
/// its size, as [`open_checkpoint`] does with one key: a tree larger than a
/// rotation point signed only by the old key (or by a key the list does
/// not hold) is [`CheckpointError::NoLogSignature`].
///
/// # Errors
/// As [`open_checkpoint`].
pub fn open_checkpoint_with(note_bytes: &[u8], keys: &LogKeys) -> Result<(Checkpoint, Note), CheckpointError> {
    let note = Note::parse(note_bytes).map_err(CheckpointError::MalformedNote)?;
    let cp = Checkpoint::parse(note.text())?;
    open_checkpoint(note_bytes, keys.for_size(cp.size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::ALG_COSIGNATURE_V1;
    use crate::note::{NoteSignature, sign_text};
    use proptest::prelude::*;
    use serde_json::Value;

    fn checkpoint_vectors() -> Value {
        serde_json::from_str(include_str!("../../testdata/vectors/checkpoint.json")).expect("checkpoint.json")
    }

    fn witness_vectors() -> Value {
        serde_json::from_str(include_str!("../../testdata/vectors/witness_add_checkpoint.json"))
            .expect("witness_add_checkpoint.json")
    }

    fn s<'a>(v: &'a Value, k: &str) -> &'a str {
        v[k].as_str().unwrap_or_else(|| panic!("missing string {k}"))
    }

    fn root(b: &str) -> Hash {
        b64::decode_array(b).expect("root b64")
    }

    const ROOT: &str = "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=";

    fn log_key() -> SignerKey {
        SignerKey::parse("PRIVATE+KEY+example.com/test-log+fc8658e2+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f")
            .expect("log skey")
    }

    fn witness_key() -> SignerKey {
        let seed: [u8; 32] = std::array::from_fn(|i| 0x20 + u8::try_from(i).expect("small"));
        SignerKey::from_seed("witness.example/w1", ALG_COSIGNATURE_V1, seed).expect("witness")
    }

    #[test]
    fn valid_vectors() {
        let v = checkpoint_vectors();
        let valid = v["valid"].as_array().expect("valid");
        assert_eq!(valid.len(), 5);
        for c in valid {
            let text = s(c, "text");
            let cp = Checkpoint::parse(text).expect(text);
            assert_eq!(cp.origin, s(c, "origin"));
            assert_eq!(Some(cp.size), c["size"].as_u64());
            assert_eq!(cp.root, root(s(c, "root_b64")));
            let ext: Vec<&str> = c["extensions"]
                .as_array()
                .expect("ext")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(cp.extensions, ext);
            assert_eq!(cp.to_text(), text);
            assert_eq!(cp.to_string(), text);
            assert_eq!(text.parse::<Checkpoint>(), Ok(cp));
        }
        let go = &v["go_sumdb_tree"];
        let cp = Checkpoint::parse(s(go, "text")).expect("go tree");
        assert_eq!(cp.origin, "go.sum database tree");
        assert_eq!(cp.size, 123_456_789_012);
        let hw = &v["record_hash_hello_world"];
        assert_eq!(
            b64::encode(crate::merkle::leaf_hash(s(hw, "input_utf8").as_bytes())),
            s(hw, "leaf_hash_b64")
        );
    }

    #[test]
    fn invalid_vectors() {
        use CheckpointTextError as E;
        let v = checkpoint_vectors();
        let invalid = v["invalid"].as_array().expect("invalid");
        let want = [
            E::EmptyOrigin,
            E::SizeNotDecimal,
            E::SizeOverflow,
            E::SizeLeadingZero,
            E::SizeNotDecimal,
            E::InvalidRoot,
            E::InvalidRoot,
            E::EmptyLine(5),
            E::MissingFinalNewline,
            E::TooFewLines(2),
        ];
        assert_eq!(invalid.len(), want.len());
        for (c, w) in invalid.iter().zip(want) {
            assert_eq!(
                Checkpoint::parse(s(c, "text")),
                Err(CheckpointError::MalformedText(w)),
                "{}",
                s(c, "why")
            );
        }
    }

    #[test]
    fn more_text_errors() {
        use CheckpointTextError as E;
        let p = |t: &str| Checkpoint::parse(t).err();
        let m = |e| Some(CheckpointError::MalformedText(e));
        assert_eq!(p(""), m(E::MissingFinalNewline));
        assert_eq!(p("\n"), m(E::TooFewLines(1)));
        assert_eq!(p(&format!("o\n\n{ROOT}\n")), m(E::EmptyLine(2)));
        assert_eq!(p("o\n1\n\n"), m(E::EmptyLine(3)));
        assert_eq!(p(&format!("o\n-1\n{ROOT}\n")), m(E::SizeNotDecimal));
        assert_eq!(p(&format!("o\n 1\n{ROOT}\n")), m(E::SizeNotDecimal));
        assert_eq!(p(&format!("o\n١\n{ROOT}\n")), m(E::SizeNotDecimal));
        assert_eq!(p(&format!("o\n00\n{ROOT}\n")), m(E::SizeLeadingZero));
        assert_eq!(p(&format!("o\n1\n{ROOT}\r\n")), m(E::ControlCharacter(48)));
        // Non-canonical trailing bits in the root.
        assert_eq!(
            p("o\n1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb1=\n"),
            m(E::InvalidRoot)
        );
        // URL-safe alphabet.
        assert_eq!(
            p("o\n1\nTszzRgjTG6xce-z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"),
            m(E::InvalidRoot)
        );
        assert_eq!(p(&format!("o\n0\n{ROOT}\n")), m(E::EmptyTreeRoot));
        let max = format!("o\n18446744073709551615\n{ROOT}\n");
        assert_eq!(Checkpoint::parse(&max).map(|c| c.size), Ok(u64::MAX));
        let big = format!("{}\n1\n{ROOT}\n", "o".repeat(MAX_NOTE_BYTES));
        assert_eq!(p(&big), m(E::TooLarge(big.len())));
        // Origins may contain spaces and '+'; clients must not assume otherwise.
        assert!(Checkpoint::parse(&format!("a b+c\n1\n{ROOT}\n")).is_ok());
        assert_eq!(
            CheckpointError::MalformedText(E::SizeLeadingZero).to_string(),
            "malformed checkpoint text: tree size has a leading zero"
        );
    }

    #[test]
    fn witness_signed_checkpoints_byte_for_byte() {
        let v = witness_vectors();
        let log = &v["log"];
        let sk = log_key();
        assert_eq!(sk.to_skey_string(), s(log, "skey"));
        let vk = VerifierKey::parse(s(log, "vkey")).expect("vkey");
        let signed = v["signed_checkpoints"].as_object().expect("signed");
        assert_eq!(signed.len(), 4);
        for (label, note) in signed {
            let note = note.as_str().expect("str");
            let (cp, parsed) = open_checkpoint(note.as_bytes(), &vk).expect(label);
            assert_eq!(cp.origin, s(log, "origin"));
            assert_eq!(format!("size_{}", cp.size), *label);
            let ours = sign_checkpoint(&cp, &sk).expect("sign");
            assert_eq!(ours.to_string(), note, "{label}");
            assert_eq!(ours, parsed);
            // Built from scratch too.
            let fresh = Checkpoint::new(s(log, "origin"), cp.size, cp.root);
            assert_eq!(sign_checkpoint(&fresh, &sk).expect("sign").to_bytes(), note.as_bytes());
        }
    }

    /// The note part of an add-checkpoint body: everything after the first
    /// blank line.
    fn body_note(body: &str) -> Option<&str> {
        body.split_once("\n\n").map(|(_, n)| n)
    }

    #[test]
    fn witness_request_checkpoints() {
        let v = witness_vectors();
        let vk = log_key().verifier();
        let w = witness_key();
        assert_eq!(w.verifier().to_vkey_string(), s(&v["witness"], "vkey"));
        let mut cosigned = 0;
        for c in v["cases"].as_array().expect("cases") {
            let desc = s(c, "desc");
            let status = c["expect_status"].as_u64().expect("status");
            let body = s(c, "request_body");
            let Some(note) = body_note(body) else {
                continue;
            };
            let opened = open_checkpoint(note.as_bytes(), &vk);
            match status {
                200 => {
                    let (cp, n) = opened.expect(desc);
                    let want = c["expect_body"].as_str().unwrap_or_default();
                    if !want.is_empty() {
                        // The vectors fix the witness clock per case (stated in
                        // the case note); take it from the expected line.
                        let want_sig = NoteSignature::parse_line(want.trim_end_matches('\n')).expect("expected line");
                        let ts = want_sig.cosignature_timestamp().expect("cosignature");
                        assert!(s(c, "note").contains(&ts.to_string()), "{desc}");
                        let sig = sign_text(n.text(), &w, ts).expect("cosign");
                        assert_eq!(sig.to_line(), want, "{desc}");
                        cosigned += 1;
                        // The cosigned note still opens with the log key, and the
                        // cosignature verifies with the witness key.
                        let mut with = n.clone();
                        with.try_add_signature(sig).expect("add");
                        let (cp2, _) = open_checkpoint(&with.to_bytes(), &vk).expect("reopen");
                        assert_eq!(cp2, cp);
                        let ok = with.verify(&[w.verifier()]).expect("cosig");
                        assert_eq!(ok[0].timestamp, Some(ts));
                    }
                }
                403 => assert!(
                    matches!(
                        opened,
                        Err(CheckpointError::NoLogSignature { .. } | CheckpointError::BadSignature { .. })
                    ),
                    "{desc}: {opened:?}"
                ),
                404 => assert!(opened.is_err(), "{desc}"),
                _ if desc.starts_with("size-0 checkpoint whose root") => assert_eq!(
                    opened.err(),
                    Some(CheckpointError::MalformedText(CheckpointTextError::EmptyTreeRoot)),
                    "{desc}"
                ),
                _ => {}
            }
        }
        assert_eq!(cosigned, 2);
    }

    #[test]
    fn open_error_paths() {
        let sk = log_key();
        let vk = sk.verifier();
        let cp = Checkpoint::new("example.com/test-log", 1, root(ROOT));
        let good = sign_checkpoint(&cp, &sk).expect("sign");
        assert_eq!(open_checkpoint(&good.to_bytes(), &vk).map(|(c, _)| c), Ok(cp.clone()));

        // Malformed note.
        assert!(matches!(
            open_checkpoint(good.text().as_bytes(), &vk),
            Err(CheckpointError::MalformedNote(NoteError::NoSeparator))
        ));
        // Signed by another key only (same name, different key).
        let other = SignerKey::from_seed("example.com/test-log", ALG_ED25519, [5; 32]).expect("k");
        let by_other = sign_checkpoint(&cp, &other).expect("sign");
        assert_eq!(
            open_checkpoint(&by_other.to_bytes(), &vk).err(),
            Some(CheckpointError::NoLogSignature {
                want: format!("example.com/test-log+{:08x}", vk.key_id()),
                found: format!("example.com/test-log+{:08x}", other.key_id()),
            })
        );
        // Log key line present but corrupt.
        let mut sig = good.signatures()[0].clone();
        sig.payload[3] ^= 4;
        let bad = Note::from_parts(good.text(), vec![sig]).expect("syntax");
        assert_eq!(
            open_checkpoint(&bad.to_bytes(), &vk).err(),
            Some(CheckpointError::BadSignature {
                name: "example.com/test-log".into(),
                key_id: 0xfc86_58e2
            })
        );
        // Valid signature over a text that is not a checkpoint.
        let junk = Note::new_signed("example.com/test-log\nhello\n", &[&sk], 0).expect("sign");
        assert_eq!(
            open_checkpoint(&junk.to_bytes(), &vk).err(),
            Some(CheckpointError::MalformedText(CheckpointTextError::TooFewLines(2)))
        );
        // Valid signature, valid checkpoint, but another origin.
        let foreign = Note::new_signed(
            &Checkpoint::new("example.com/other", 1, root(ROOT)).to_text(),
            &[&sk],
            0,
        )
        .expect("sign");
        assert_eq!(
            open_checkpoint(&foreign.to_bytes(), &vk).err(),
            Some(CheckpointError::OriginMismatch {
                origin: "example.com/other".into(),
                key_name: "example.com/test-log".into()
            })
        );
        // A cosignature key cannot be a log key.
        assert_eq!(
            open_checkpoint(&good.to_bytes(), &witness_key().verifier()).err(),
            Some(CheckpointError::WrongKeyType(ALG_COSIGNATURE_V1))
        );
        // Unknown extra lines (witness cosignatures, junk keys) are ignored.
        let mut extra = good.clone();
        extra.add_signature(NoteSignature {
            name: "someone".into(),
            key_id: 1,
            payload: vec![0; 64],
        });
        extra.add_signature(sign_text(good.text(), &witness_key(), 42).expect("cosign"));
        assert!(open_checkpoint(&extra.to_bytes(), &vk).is_ok());
    }

    #[test]
    fn sign_error_paths() {
        let sk = log_key();
        let cp = Checkpoint::new("example.com/test-log", 1, root(ROOT));
        let w = SignerKey::from_seed("example.com/test-log", ALG_COSIGNATURE_V1, [1; 32]).expect("w");
        assert_eq!(
            sign_checkpoint(&cp, &w).err(),
            Some(CheckpointError::WrongKeyType(ALG_COSIGNATURE_V1))
        );
        let mut ext = cp.clone();
        ext.extensions.push("x".into());
        assert_eq!(sign_checkpoint(&ext, &sk).err(), Some(CheckpointError::ExtensionLines));
        let other = Checkpoint::new("example.com/other", 1, root(ROOT));
        assert!(matches!(
            sign_checkpoint(&other, &sk),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        let empty = Checkpoint::new("example.com/test-log", 0, root(ROOT));
        assert_eq!(
            sign_checkpoint(&empty, &sk).err(),
            Some(CheckpointError::MalformedText(CheckpointTextError::EmptyTreeRoot))
        );
        let ok = Checkpoint::new("example.com/test-log", 0, EMPTY_ROOT);
        assert!(sign_checkpoint(&ok, &sk).is_ok());
        // An origin that cannot be a key name cannot be signed either.
        let spaced = SignerKey::from_seed("a b", ALG_ED25519, [1; 32]);
        assert!(spaced.is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn checkpoint_round_trips(
            origin in "[a-z0-9./-]{1,40}",
            size in any::<u64>(),
            root_bytes in any::<[u8; 32]>(),
            seed in any::<[u8; 32]>(),
        ) {
            let root_bytes = if size == 0 { EMPTY_ROOT } else { root_bytes };
            let cp = Checkpoint::new(origin.clone(), size, root_bytes);
            prop_assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp.clone()));
            let sk = SignerKey::from_seed(&origin, ALG_ED25519, seed).expect("key");
            let note = sign_checkpoint(&cp, &sk).expect("sign");
            let (opened, n) = open_checkpoint(&note.to_bytes(), &sk.verifier()).expect("open");
            prop_assert_eq!(opened, cp);
            prop_assert_eq!(n, note);
        }
    }

    fn rotation_keys() -> (SignerKey, SignerKey, LogKeys) {
        let old = SignerKey::from_seed("example.com/rot", ALG_ED25519, [7; 32]).expect("old");
        let new = SignerKey::from_seed("example.com/rot", ALG_ED25519, [8; 32]).expect("new");
        let mut keys = LogKeys::single(old.verifier());
        keys.push(new.verifier(), 9).expect("push");
        (old, new, keys)
    }

    #[test]
    fn log_keys_pick_the_key_of_the_size() {
        let (old, new, keys) = rotation_keys();
        let cp = |size| Checkpoint::new("example.com/rot", size, [size as u8; 32]);
        // Up to the rotation point the old key signs; above it the new one,
        // alone or beside the old one.
        for size in [1, 2, 9] {
            let n = sign_checkpoint(&cp(size), &old).expect("sign").to_bytes();
            assert!(open_checkpoint_with(&n, &keys).is_ok(), "size {size}");
            let n = sign_checkpoint(&cp(size), &new).expect("sign").to_bytes();
            assert!(
                matches!(
                    open_checkpoint_with(&n, &keys).err(),
                    Some(CheckpointError::NoLogSignature { .. })
                ),
                "{:?}",
                open_checkpoint_with(&n, &keys).err()
            );
        }
        for size in [10, 11, 1 << 40] {
            let n = sign_checkpoint(&cp(size), &new).expect("sign").to_bytes();
            assert!(open_checkpoint_with(&n, &keys).is_ok(), "size {size}");
            let both = sign_checkpoint_by(&cp(size), &[&old, &new]).expect("sign").to_bytes();
            assert!(open_checkpoint_with(&both, &keys).is_ok());
            assert!(
                open_checkpoint(&both, &old.verifier()).is_ok(),
                "an old reader still opens it"
            );
            // The old key alone no longer speaks for the log.
            let n = sign_checkpoint(&cp(size), &old).expect("sign").to_bytes();
            assert!(
                matches!(
                    open_checkpoint_with(&n, &keys).err(),
                    Some(CheckpointError::NoLogSignature { .. })
                ),
                "{:?}",
                open_checkpoint_with(&n, &keys).err()
            );
            // Nor does a key nobody announced.
            let stranger = SignerKey::from_seed("example.com/rot", ALG_ED25519, [9; 32]).expect("k");
            let n = sign_checkpoint(&cp(size), &stranger).expect("sign").to_bytes();
            assert!(
                matches!(
                    open_checkpoint_with(&n, &keys).err(),
                    Some(CheckpointError::NoLogSignature { .. })
                ),
                "{:?}",
                open_checkpoint_with(&n, &keys).err()
            );
        }
        assert_eq!(*keys.current(), new.verifier());
        assert_eq!(*keys.first(), old.verifier());
    }

    #[test]
    fn log_keys_refuse_a_rotation_that_does_not_follow() {
        let (old, new, mut keys) = rotation_keys();
        let other = SignerKey::from_seed("example.com/other", ALG_ED25519, [3; 32]).expect("k");
        let third = SignerKey::from_seed("example.com/rot", ALG_ED25519, [4; 32]).expect("k");
        assert!(keys.push(other.verifier(), 20).is_err(), "another name");
        assert!(keys.push(old.verifier(), 20).is_err(), "a key used before");
        assert!(keys.push(new.verifier(), 20).is_err(), "the same key again");
        assert!(keys.push(third.verifier(), 9).is_err(), "not after the last rotation");
        keys.push(third.verifier(), 10).expect("a later rotation");
        assert_eq!(*keys.for_size(10), new.verifier());
        assert_eq!(*keys.for_size(11), third.verifier());
    }
}
