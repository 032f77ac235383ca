//! Receipts: what a submitter keeps to prove, offline and with only the
//! log's vkey, that its entry is in the log.
//!
//! A receipt is the JSON object `POST /v1/entries` answers (docs/DESIGN.md "HTTP
//! API"): the entry bytes, their leaf hash, the signed checkpoint note, the
//! inclusion proof, and the same proof as a C2SP tlog-proof
//! (`c2sp.org/tlog-proof@v1`, docs/SPECS.md §7) so tools that know only that
//! format can check it too.

use crate::leaf::{Leaf, LeafError};
use provlog_tlog::b64;
use provlog_tlog::checkpoint::{Checkpoint, CheckpointError, open_checkpoint};
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::{self, Hash, VerifyError};
use serde::{Deserialize, Serialize};

/// First line of a C2SP tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A receipt for one entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The entry's index in the log.
    pub index: u64,
    /// Base64 of the RFC 6962 leaf hash of `entry`.
    pub leaf_hash: String,
    /// Base64 of the entry bytes (the canonical leaf JSON).
    pub entry: String,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
    /// The inclusion proof against `checkpoint`, base64 hashes, leaf side first.
    pub inclusion_proof: Vec<String>,
    /// The same proof as a C2SP tlog-proof text.
    pub tlog_proof: String,
}

/// A parsed C2SP tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Optional opaque extra data.
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// Inclusion proof hashes, leaf side first.
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim (with all its signature lines).
    pub checkpoint: String,
}

impl TlogProof {
    /// Renders the text form.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        s.push_str(TLOG_PROOF_HEADER);
        s.push('\n');
        if let Some(x) = &self.extra {
            s.push_str("extra ");
            s.push_str(&b64::encode(x));
            s.push('\n');
        }
        s.push_str("index ");
        s.push_str(&self.index.to_string());
        s.push('\n');
        for h in &self.proof {
            s.push_str(&b64::encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Parses the text form strictly (canonical numbers and base64).
    ///
    /// # Errors
    /// [`ReceiptError::TlogProof`] saying which line is wrong.
    pub fn parse(text: &str) -> Result<Self, ReceiptError> {
        let bad = |m: &str| ReceiptError::TlogProof(m.to_owned());
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(bad("first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or_else(|| bad("missing index line"))?;
        let mut extra = None;
        if let Some(x) = line.strip_prefix("extra ") {
            extra = Some(b64::decode(x).map_err(|_| bad("extra is not base64"))?);
            line = lines.next().ok_or_else(|| bad("missing index line"))?;
        }
        let n = line.strip_prefix("index ").ok_or_else(|| bad("missing index line"))?;
        let index: u64 = n.parse().map_err(|_| bad("index is not a decimal number"))?;
        if index.to_string() != n {
            return Err(bad("index is not canonical decimal"));
        }
        let proof = lines
            .map(|l| b64::decode_array::<32>(l).ok_or_else(|| bad("proof line is not base64 of 32 bytes")))
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > 64 {
            return Err(bad("more than 64 proof hashes"));
        }
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

/// Why a receipt does not prove what it claims.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiptError {
    /// A base64 field does not decode.
    #[error("{0} is not valid base64")]
    Encoding(&'static str),
    /// `leaf_hash` is not the leaf hash of `entry`.
    #[error("leaf_hash is not SHA-256(0x00 || entry)")]
    LeafHashMismatch,
    /// The checkpoint is malformed or not signed by the log key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The inclusion proof fails against the checkpoint.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] VerifyError),
    /// The tlog-proof text is malformed.
    #[error("tlog_proof: {0}")]
    TlogProof(String),
    /// The tlog-proof says something else than the JSON fields.
    #[error("tlog_proof disagrees with the receipt's {0}")]
    Mismatch(&'static str),
    /// The entry is not a provlog leaf.
    #[error("entry: {0}")]
    Leaf(#[from] LeafError),
}

/// What a verified receipt proves.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedReceipt {
    /// The entry's index.
    pub index: u64,
    /// The entry's leaf hash.
    pub leaf_hash: Hash,
    /// The verified checkpoint the entry is included in.
    pub checkpoint: Checkpoint,
    /// The entry bytes.
    pub entry: Vec<u8>,
    /// The parsed leaf.
    pub leaf: Leaf,
}

impl Receipt {
    /// Builds a receipt (both JSON fields and the tlog-proof).
    #[must_use]
    pub fn new(index: u64, entry: &[u8], checkpoint_note: &str, proof: &[Hash]) -> Self {
        let tlog = TlogProof {
            extra: None,
            index,
            proof: proof.to_vec(),
            checkpoint: checkpoint_note.to_owned(),
        };
        Self {
            index,
            leaf_hash: b64::encode(merkle::leaf_hash(entry)),
            entry: b64::encode(entry),
            checkpoint: checkpoint_note.to_owned(),
            inclusion_proof: proof.iter().map(b64::encode).collect(),
            tlog_proof: tlog.to_text(),
        }
    }

    /// Verifies everything the receipt claims, offline, with only the log's
    /// key: the checkpoint signature and origin, the leaf hash, the
    /// inclusion proof, that the tlog-proof agrees with the JSON fields, and
    /// that the entry is a well-formed provlog leaf.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn verify(&self, log_key: &VerifierKey) -> Result<VerifiedReceipt, ReceiptError> {
        let entry = b64::decode(&self.entry).map_err(|_| ReceiptError::Encoding("entry"))?;
        let claimed: Hash = b64::decode_array(&self.leaf_hash).ok_or(ReceiptError::Encoding("leaf_hash"))?;
        if merkle::leaf_hash(&entry) != claimed {
            return Err(ReceiptError::LeafHashMismatch);
        }
        let proof = self
            .inclusion_proof
            .iter()
            .map(|p| b64::decode(p).map_err(|_| ReceiptError::Encoding("inclusion_proof")))
            .collect::<Result<Vec<_>, _>>()?;
        let tlog = TlogProof::parse(&self.tlog_proof)?;
        if tlog.index != self.index {
            return Err(ReceiptError::Mismatch("index"));
        }
        if tlog.checkpoint != self.checkpoint {
            return Err(ReceiptError::Mismatch("checkpoint"));
        }
        if tlog.proof.iter().map(|h| h.to_vec()).ne(proof.iter().cloned()) {
            return Err(ReceiptError::Mismatch("inclusion_proof"));
        }
        verify_entry(self.index, &entry, &proof, &self.checkpoint, log_key)
    }
}

/// Verifies a C2SP tlog-proof for `entry` with only the log's key.
///
/// # Errors
/// The first check that fails.
pub fn verify_tlog_proof(text: &str, entry: &[u8], log_key: &VerifierKey) -> Result<VerifiedReceipt, ReceiptError> {
    let t = TlogProof::parse(text)?;
    verify_entry(t.index, entry, &t.proof, &t.checkpoint, log_key)
}

fn verify_entry<P: AsRef<[u8]>>(
    index: u64,
    entry: &[u8],
    proof: &[P],
    checkpoint_note: &str,
    log_key: &VerifierKey,
) -> Result<VerifiedReceipt, ReceiptError> {
    let (checkpoint, _note) = open_checkpoint(checkpoint_note.as_bytes(), log_key)?;
    let leaf_hash = merkle::leaf_hash(entry);
    merkle::verify_inclusion(index, checkpoint.size, &leaf_hash, proof, &checkpoint.root)?;
    let leaf = Leaf::parse(entry)?;
    Ok(VerifiedReceipt {
        index,
        leaf_hash,
        checkpoint,
        entry: entry.to_vec(),
        leaf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf::policy_leaf;
    use crate::policy::Policy;
    use provlog_tlog::checkpoint::sign_checkpoint;
    use provlog_tlog::keys::{ALG_ED25519, SignerKey};
    use provlog_tlog::merkle::{MemoryTree, inclusion_proof, leaf_hash};

    fn setup() -> (SignerKey, Vec<Vec<u8>>, MemoryTree, String) {
        let key = SignerKey::from_seed("example.com/log", ALG_ED25519, [3; 32]).expect("key");
        let entries: Vec<Vec<u8>> = (0..5)
            .map(|i| policy_leaf(&format!("2026-11-25T00:00:0{i}.000Z"), &Policy::default()))
            .collect();
        let mut tree = MemoryTree::new();
        for e in &entries {
            tree.push(leaf_hash(e));
        }
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 5,
            root: tree.root_at(5).expect("root"),
            extensions: vec![],
        };
        let note = sign_checkpoint(&cp, &key).expect("sign").to_string();
        (key, entries, tree, note)
    }

    fn receipt(i: u64) -> (SignerKey, Receipt) {
        let (key, entries, tree, note) = setup();
        let proof = inclusion_proof(i, 5, &tree).expect("proof");
        (key, Receipt::new(i, &entries[i as usize], &note, &proof))
    }

    #[test]
    fn good_receipts_verify_both_ways() {
        for i in 0..5 {
            let (key, r) = receipt(i);
            let v = r.verify(&key.verifier()).expect("verifies");
            assert_eq!(v.index, i);
            assert_eq!(v.checkpoint.size, 5);
            let entry = b64::decode(&r.entry).expect("b64");
            verify_tlog_proof(&r.tlog_proof, &entry, &key.verifier()).expect("tlog-proof verifies");
            assert_eq!(TlogProof::parse(&r.tlog_proof).expect("parse").to_text(), r.tlog_proof);
        }
    }

    #[test]
    fn tampered_receipts_fail_with_a_reason() {
        let (key, good) = receipt(2);
        let vk = key.verifier();
        let mut r = good.clone();
        r.index = 3;
        assert_eq!(r.verify(&vk), Err(ReceiptError::Mismatch("index")));
        let mut r = good.clone();
        let mut e = b64::decode(&r.entry).expect("b64");
        e[10] ^= 1;
        r.entry = b64::encode(&e);
        assert_eq!(r.verify(&vk), Err(ReceiptError::LeafHashMismatch));
        let mut r = good.clone();
        r.inclusion_proof.swap(0, 1);
        assert_eq!(r.verify(&vk), Err(ReceiptError::Mismatch("inclusion_proof")));
        let mut r = good.clone();
        r.checkpoint = r.checkpoint.replace("\n5\n", "\n6\n");
        assert!(matches!(r.verify(&vk), Err(ReceiptError::Mismatch("checkpoint"))));
        let other = SignerKey::from_seed("example.com/log", ALG_ED25519, [4; 32]).expect("key");
        assert!(matches!(
            good.verify(&other.verifier()),
            Err(ReceiptError::Checkpoint(_))
        ));
        // Consistent but wrong proof in both places: the proof itself fails.
        let (_, r3) = receipt(3);
        let mut r = good.clone();
        r.inclusion_proof = r3.inclusion_proof.clone();
        r.tlog_proof = TlogProof {
            index: 2,
            ..TlogProof::parse(&r3.tlog_proof).expect("p")
        }
        .to_text();
        assert!(matches!(r.verify(&vk), Err(ReceiptError::Inclusion(_))));
        assert!(TlogProof::parse("c2sp.org/tlog-proof@v1\nindex 01\n\nx").is_err());
        assert!(TlogProof::parse("nope\nindex 1\n\nx").is_err());
    }
}
