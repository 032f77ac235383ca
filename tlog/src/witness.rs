//! C2SP tlog-witness `add-checkpoint` request bodies (docs/SPECS.md §5.2):
//!
//! ```text
//! old <decimal old size>\n
//! <base64 hash>\n          (0 to 63 consistency proof lines)
//! \n
//! <signed checkpoint note>
//! ```
//!
//! [`AddCheckpoint::parse`] only checks the framing; [`check`] judges a
//! request against the witness's trusted logs and its stored state, in the
//! order Sunlight (the spec author's witness) uses (docs/SPECS.md §5.3), and
//! [`cosign`] makes the timestamped Ed25519 cosignature (type 0x04,
//! `cosignature/v1`) the response body carries.

use crate::b64;
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointTextError};
use crate::keys::{SignerKey, VerifierKey};
use crate::merkle::{EMPTY_ROOT, Hash, verify_consistency};
use crate::note::{Note, NoteError, sign_text};

/// Largest accepted request body (Sunlight's limit, docs/SPECS.md §8.8).
pub const MAX_BODY_BYTES: usize = 128 << 10;
/// Most consistency-proof lines a client may send.
pub const MAX_PROOF_LINES: usize = 63;

/// A parsed add-checkpoint request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size the client believes the witness last cosigned.
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub note: Vec<u8>,
}

/// Why a body is malformed (HTTP 400 in the protocol).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// Larger than [`MAX_BODY_BYTES`].
    #[error("body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// No empty line between the proof and the checkpoint.
    #[error("missing the empty line before the checkpoint")]
    NoSeparator,
    /// The first line is not `old <decimal>`.
    #[error("first line must be \"old <size>\" in canonical decimal")]
    OldLine,
    /// A proof line is not base64 of 32 bytes.
    #[error("proof line {0} is not base64 of 32 bytes")]
    ProofLine(usize),
    /// More than [`MAX_PROOF_LINES`] proof lines.
    #[error("more than {MAX_PROOF_LINES} proof lines")]
    TooManyProofLines,
}

impl AddCheckpoint {
    /// Parses a request body (split at the first empty line, as Sunlight and
    /// azul do).
    ///
    /// # Errors
    /// [`BodyError`].
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        let sep = body
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or(BodyError::NoSeparator)?;
        let head = std::str::from_utf8(&body[..sep]).map_err(|_| BodyError::OldLine)?;
        let note = body[sep + 2..].to_vec();
        let mut lines = head.split('\n');
        let old_line = lines.next().ok_or(BodyError::OldLine)?;
        let digits = old_line.strip_prefix("old ").ok_or(BodyError::OldLine)?;
        let old: u64 = digits.parse().map_err(|_| BodyError::OldLine)?;
        if old.to_string() != digits {
            return Err(BodyError::OldLine);
        }
        let mut proof = Vec::new();
        for (i, l) in lines.enumerate() {
            if proof.len() == MAX_PROOF_LINES {
                return Err(BodyError::TooManyProofLines);
            }
            proof.push(b64::decode_array::<32>(l).ok_or(BodyError::ProofLine(i + 1))?);
        }
        Ok(Self { old, proof, note })
    }

    /// Renders the request body.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(b64::encode(h).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.note);
        out
    }
}

/// Why a witness refuses an add-checkpoint request; each maps to exactly
/// one HTTP status of the protocol.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Malformed request (400).
    #[error("{0}")]
    BadRequest(String),
    /// The checkpoint's origin is not a log this witness follows (404).
    #[error("unknown log origin {0:?}")]
    UnknownLog(String),
    /// No valid signature by a trusted key of that log, or a trusted key's
    /// signature fails (403).
    #[error("{0}")]
    Forbidden(String),
    /// `old` is not the size this witness last cosigned (409; the body
    /// carries that size).
    #[error("the witness is at size {0}")]
    Conflict(u64),
    /// The checkpoint is not consistent with what the witness cosigned
    /// (422): a bad proof, a different root at the same size, a non-empty
    /// proof with `old 0`, a size-0 checkpoint with another root.
    #[error("{0}")]
    Unprocessable(String),
}

impl Refusal {
    /// The HTTP status.
    #[must_use]
    pub const fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::UnknownLog(_) => 404,
            Self::Forbidden(_) => 403,
            Self::Conflict(_) => 409,
            Self::Unprocessable(_) => 422,
        }
    }

    /// The response body and its content type (`text/x.tlog.size` with the
    /// stored size for 409, as the spec requires; a one-line reason
    /// otherwise).
    #[must_use]
    pub fn body(&self) -> (&'static str, String) {
        match self {
            Self::Conflict(size) => ("text/x.tlog.size", format!("{size}\n")),
            other => ("text/plain; charset=utf-8", format!("{other}\n")),
        }
    }
}

/// A request the witness may cosign (after persisting it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The parsed checkpoint.
    pub checkpoint: Checkpoint,
    /// The note text exactly as the log signed it.
    pub text: String,
    /// The size the witness had cosigned before (`old`).
    pub old: u64,
}

/// Judges an add-checkpoint request body.
///
/// `trusted(origin)` gives the log keys trusted for an origin (`None`: not
/// a followed log); `stored(origin)` the size and root of the latest
/// checkpoint this witness cosigned for it (`None`: never; the same as size
/// 0). The caller must persist the accepted checkpoint with a
/// compare-and-set on `old` before cosigning.
///
/// # Errors
/// The [`Refusal`] the protocol prescribes.
pub fn check(
    body: &[u8],
    trusted: impl Fn(&str) -> Option<Vec<VerifierKey>>,
    stored: impl Fn(&str) -> Option<(u64, Hash)>,
) -> Result<Accepted, Refusal> {
    let req = AddCheckpoint::parse(body).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let note = Note::parse(&req.note).map_err(|e| Refusal::BadRequest(format!("checkpoint note: {e}")))?;
    let origin = note.text().split('\n').next().unwrap_or_default().to_owned();
    let keys = trusted(&origin).ok_or_else(|| Refusal::UnknownLog(origin.clone()))?;
    match note.verify(&keys) {
        Ok(_) => {}
        Err(e @ (NoteError::NoTrustedSignature | NoteError::InvalidSignature { .. })) => {
            return Err(Refusal::Forbidden(format!("checkpoint: {e}")));
        }
        Err(e) => return Err(Refusal::BadRequest(format!("checkpoint note: {e}"))),
    }
    let cp = Checkpoint::parse(note.text()).map_err(|e| match e {
        // Well-formed but claiming an empty tree with another root: the
        // protocol treats that as an inconsistency, not a syntax error.
        CheckpointError::MalformedText(CheckpointTextError::EmptyTreeRoot) => {
            Refusal::Unprocessable("a size-0 checkpoint must have the empty-tree root".into())
        }
        e => Refusal::BadRequest(format!("checkpoint: {e}")),
    })?;
    if !cp.extensions.is_empty() {
        return Err(Refusal::BadRequest(
            "checkpoint extension lines are not accepted".into(),
        ));
    }
    if req.old > cp.size {
        return Err(Refusal::BadRequest(format!(
            "old size {} is larger than the checkpoint size {}",
            req.old, cp.size
        )));
    }
    if cp.size == 0 && cp.root != EMPTY_ROOT {
        return Err(Refusal::Unprocessable(
            "a size-0 checkpoint must have the empty-tree root".into(),
        ));
    }
    let (have, have_root) = stored(&origin).unwrap_or((0, EMPTY_ROOT));
    if req.old != have {
        return Err(Refusal::Conflict(have));
    }
    if req.old == 0 {
        if !req.proof.is_empty() {
            return Err(Refusal::Unprocessable("old size 0 needs an empty proof".into()));
        }
    } else if req.old == cp.size {
        if !req.proof.is_empty() || cp.root != have_root {
            return Err(Refusal::Unprocessable(
                "same size as the cosigned checkpoint but a different root or a non-empty proof".into(),
            ));
        }
    } else {
        verify_consistency(req.old, cp.size, &have_root, &cp.root, &req.proof)
            .map_err(|e| Refusal::Unprocessable(format!("consistency proof from {}: {e}", req.old)))?;
    }
    Ok(Accepted {
        checkpoint: cp,
        text: note.text().to_owned(),
        old: req.old,
    })
}

/// The cosignature line (`— <name> <base64>\n`) of `text` by a type-0x04
/// witness key at `timestamp` (Unix seconds, non-zero).
///
/// # Errors
/// The key is not a cosignature key, or the timestamp is 0 or too large.
pub fn cosign(key: &SignerKey, text: &str, timestamp: u64) -> Result<String, NoteError> {
    if key.alg() != crate::keys::ALG_COSIGNATURE_V1 {
        return Err(NoteError::UnsupportedAlg(key.alg()));
    }
    if timestamp == 0 {
        return Err(NoteError::TimestampOutOfRange(0));
    }
    Ok(sign_text(text, key, timestamp)?.to_line())
}

/// Why a checkpoint does not meet a witness policy.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// The note is malformed.
    #[error("checkpoint note: {0}")]
    Note(NoteError),
    /// A line by one of the given witness keys does not verify.
    #[error("the cosignature of witness {0:?} does not verify")]
    BadCosignature(String),
    /// Fewer than the required number of witnesses cosigned.
    #[error("{got} of the {of} given witnesses cosigned this checkpoint; {want} are required")]
    TooFew {
        /// Witnesses whose cosignature verified.
        got: usize,
        /// Witness keys given.
        of: usize,
        /// Required.
        want: usize,
    },
}

/// Counts the witnesses among `witnesses` (type 0x04 vkeys) with a valid
/// cosignature on `note` (each key counts once), and requires at least
/// `min`. A line that names a given witness key but does not verify is an
/// error, as in signed-note verification.
///
/// # Errors
/// [`PolicyError`].
pub fn require_cosignatures(note: &[u8], witnesses: &[VerifierKey], min: usize) -> Result<usize, PolicyError> {
    let note = Note::parse(note).map_err(PolicyError::Note)?;
    let mut got = 0;
    // A key given twice is one witness: it must not count twice.
    let mut seen = std::collections::HashSet::new();
    for w in witnesses {
        if !seen.insert((w.name().to_owned(), w.key_id())) {
            continue;
        }
        let lines: Vec<_> = note
            .signatures()
            .iter()
            .filter(|s| s.name == w.name() && s.key_id == w.key_id())
            .collect();
        if lines.is_empty() {
            continue;
        }
        if lines
            .iter()
            .all(|s| crate::note::verify_signature(note.text(), s, w).is_some())
        {
            got += 1;
        } else {
            return Err(PolicyError::BadCosignature(w.name().to_owned()));
        }
    }
    if got < min {
        return Err(PolicyError::TooFew {
            got,
            of: witnesses.len(),
            want: min,
        });
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn vector_bodies_parse_or_fail_framing_as_expected() {
        let v: Value =
            serde_json::from_str(include_str!("../../testdata/vectors/witness_add_checkpoint.json")).expect("json");
        let mut parsed = 0;
        for c in v["cases"].as_array().expect("cases") {
            let body = c["request_body"].as_str().expect("body").as_bytes();
            match AddCheckpoint::parse(body) {
                Ok(req) => {
                    parsed += 1;
                    assert_eq!(req.to_bytes(), body, "{}", c["desc"]);
                }
                // Only framing errors may fail here, and those are 400s.
                Err(e) => assert_eq!(c["expect_status"], 400, "{}: {e}", c["desc"]),
            }
        }
        assert!(parsed >= 10, "{parsed}");
    }

    /// Every case of the vector file through [`check`] and [`cosign`]:
    /// status, body, content type, and the exact cosignature bytes at the
    /// case's timestamp.
    #[test]
    fn vector_cases_get_the_specified_answers() {
        use crate::keys::ALG_COSIGNATURE_V1;
        use crate::note::NoteSignature;
        let v: Value =
            serde_json::from_str(include_str!("../../testdata/vectors/witness_add_checkpoint.json")).expect("json");
        let origin = v["log"]["origin"].as_str().expect("origin").to_owned();
        let log_key = VerifierKey::parse(v["log"]["vkey"].as_str().expect("vkey")).expect("vkey");
        let seed: [u8; 32] = crate::hex::decode(v["witness"]["ed25519_seed_hex"].as_str().expect("seed"))
            .expect("hex")
            .try_into()
            .expect("32");
        let wkey = SignerKey::from_seed(v["witness"]["name"].as_str().expect("name"), ALG_COSIGNATURE_V1, seed)
            .expect("witness key");
        assert_eq!(
            wkey.verifier().to_vkey_string(),
            v["witness"]["vkey"].as_str().expect("vkey")
        );
        let mut n = 0;
        for c in v["cases"].as_array().expect("cases") {
            let desc = c["desc"].as_str().expect("desc");
            let state = &c["witness_state_before"];
            let size = state["size"].as_u64().expect("size");
            let root: Option<Hash> = state["root"].as_str().map(|r| b64::decode_array(r).expect("root"));
            let res = check(
                c["request_body"].as_str().expect("body").as_bytes(),
                |o| (o == origin).then(|| vec![log_key.clone()]),
                |o| (o == origin && size > 0).then(|| (size, root.unwrap_or(EMPTY_ROOT))),
            );
            let want = c["expect_status"].as_u64().expect("status");
            match res {
                Ok(acc) => {
                    assert_eq!(want, 200, "{desc}");
                    if let Some(body) = c["expect_body"].as_str().filter(|b| !b.is_empty()) {
                        let line = NoteSignature::parse_line(body.trim_end_matches('\n')).expect("line");
                        let ts = line.cosignature_timestamp().expect("timestamp");
                        assert_eq!(cosign(&wkey, &acc.text, ts).expect("cosign"), body, "{desc}");
                    }
                }
                Err(r) => {
                    assert_eq!(u64::from(r.status()), want, "{desc}: {r}");
                    if let Some(ct) = c["expect_content_type"].as_str() {
                        let (got_ct, body) = r.body();
                        assert_eq!(got_ct, ct, "{desc}");
                        assert_eq!(body, c["expect_body"].as_str().expect("body"), "{desc}");
                    }
                }
            }
            n += 1;
        }
        assert!(n >= 16);
        assert!(cosign(&wkey, "x\n", 0).is_err());
        let log_signer = SignerKey::from_seed("l", crate::keys::ALG_ED25519, [0; 32]).expect("k");
        assert!(cosign(&log_signer, "x\n", 5).is_err());
    }

    #[test]
    fn cosignature_policy() {
        use crate::keys::{ALG_COSIGNATURE_V1, ALG_ED25519};
        let log = SignerKey::from_seed("log.example", ALG_ED25519, [1; 32]).expect("k");
        let w1 = SignerKey::from_seed("w1.example", ALG_COSIGNATURE_V1, [2; 32]).expect("k");
        let w2 = SignerKey::from_seed("w2.example", ALG_COSIGNATURE_V1, [3; 32]).expect("k");
        let w3 = SignerKey::from_seed("w3.example", ALG_COSIGNATURE_V1, [4; 32]).expect("k");
        let text = format!("log.example\n5\n{}\n", b64::encode([9u8; 32]));
        let mut note = Note::new_signed(&text, &[&log], 0).expect("note").to_string();
        for w in [&w1, &w2] {
            note.push_str(&cosign(w, &text, 1_700_000_000).expect("cosign"));
        }
        let keys = [w1.verifier(), w2.verifier(), w3.verifier()];
        assert_eq!(require_cosignatures(note.as_bytes(), &keys, 2), Ok(2));
        assert!(matches!(
            require_cosignatures(note.as_bytes(), &keys, 3),
            Err(PolicyError::TooFew { got: 2, of: 3, want: 3 })
        ));
        // One witness given twice is one cosignature, not two.
        let twice = [w1.verifier(), w1.verifier(), w3.verifier()];
        assert!(matches!(
            require_cosignatures(note.as_bytes(), &twice, 2),
            Err(PolicyError::TooFew { got: 1, .. })
        ));
        // A cosignature over another checkpoint does not count: it fails.
        let other = format!("log.example\n6\n{}\n", b64::encode([9u8; 32]));
        let mut bad = Note::new_signed(&text, &[&log], 0).expect("note").to_string();
        bad.push_str(&cosign(&w1, &other, 1_700_000_000).expect("cosign"));
        assert_eq!(
            require_cosignatures(bad.as_bytes(), &keys, 1),
            Err(PolicyError::BadCosignature("w1.example".into()))
        );
    }

    #[test]
    fn framing_errors() {
        let h = b64::encode([7u8; 32]);
        assert!(AddCheckpoint::parse(b"old 0\n\nnote").is_ok());
        assert_eq!(AddCheckpoint::parse(b"old 0\nnote"), Err(BodyError::NoSeparator));
        assert_eq!(AddCheckpoint::parse(b"old 01\n\nx"), Err(BodyError::OldLine));
        assert_eq!(AddCheckpoint::parse(b"old -1\n\nx"), Err(BodyError::OldLine));
        assert_eq!(AddCheckpoint::parse(b"new 1\n\nx"), Err(BodyError::OldLine));
        assert_eq!(AddCheckpoint::parse(b"old 1\nAAAA\n\nx"), Err(BodyError::ProofLine(1)));
        let many = format!("old 1\n{}\nx", format!("{h}\n").repeat(64));
        assert_eq!(AddCheckpoint::parse(many.as_bytes()), Err(BodyError::TooManyProofLines));
        let ok = format!("old 1\n{}\nx", format!("{h}\n").repeat(63));
        assert_eq!(AddCheckpoint::parse(ok.as_bytes()).map(|r| r.proof.len()), Ok(63));
        assert_eq!(
            AddCheckpoint::parse(&vec![b'a'; MAX_BODY_BYTES + 1]),
            Err(BodyError::TooLarge)
        );
    }
}
