//! C2SP tlog-witness `add-checkpoint` request bodies (SPECS.md §5.2):
//!
//! ```text
//! old <decimal old size>\n
//! <base64 hash>\n          (0 to 63 consistency proof lines)
//! \n
//! <signed checkpoint note>
//! ```
//!
//! Parsing only checks the framing; the note, the checkpoint and the proof
//! are judged by whoever processes the request.

use crate::b64;
use crate::merkle::Hash;

/// Largest accepted request body (Sunlight's limit, SPECS.md §8.8).
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
