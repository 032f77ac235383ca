//! ML-DSA-44 (FIPS 204) `subtree/v1` cosignatures, C2SP tlog-cosignature
//! v1.1 (docs/SPECS.md; vectors from an independent implementation in the
//! tests).
//!
//! * Keys have the signature type [`ALG_MLDSA44`] (0x06). A vkey carries the
//!   1312-byte public key (`<name>+<key id>+b64(0x06 ‖ pk)`, the key ID over
//!   the same bytes) and parses as a [`crate::keys::VerifierKey`]. An skey
//!   carries the 32-byte FIPS 204 seed ξ (`PRIVATE+KEY+<name>+<key id>+b64(0x06 ‖ seed)`)
//!   and parses as an [`MlDsaSigner`].
//! * The signed message is the binary `cosigned_message`
//!   `"subtree/v1\n\0" ‖ u8 len ‖ cosigner name ‖ u64 timestamp ‖ u8 len ‖
//!   origin ‖ u64 start ‖ u64 end ‖ hash[32]` (integers big-endian), signed
//!   with pure ML-DSA-44 and an empty context. A checkpoint cosignature is
//!   the subtree `[0, size)` with the checkpoint's root; a `sign-subtree`
//!   answer has timestamp 0.
//! * The note signature payload after the key ID is `u64 timestamp ‖
//!   signature[2420]`. Checkpoint extension lines are not signed, so a
//!   checkpoint with extension lines is never ML-DSA cosigned or verified.
//!
//! Signing is deterministic (the crate's `Signer`): the same key and message
//! give the same bytes. Other implementations sign hedged; both verify.

use ml_dsa::signature::{Keypair as _, Signer as _, Verifier as _};
use ml_dsa::{EncodedVerifyingKey, MlDsa44, Signature, SigningKey, VerifyingKey};

use crate::b64;
use crate::keys::{KeyError, VerifierKey, check_key_name, key_id};
use crate::merkle::Hash;
use crate::note::{NoteError, NoteSignature};

/// Signature type byte of an ML-DSA-44 `subtree/v1` cosignature.
pub const ALG_MLDSA44: u8 = 0x06;
/// Length of an ML-DSA-44 public key.
pub const MLDSA44_PUBLIC_KEY_LEN: usize = 1312;
/// Length of an ML-DSA-44 signature.
pub const MLDSA44_SIGNATURE_LEN: usize = 2420;
/// Length of a `subtree/v1` note signature payload after the key ID.
pub const SUBTREE_V1_PAYLOAD_LEN: usize = 8 + MLDSA44_SIGNATURE_LEN;
/// The label that starts every `subtree/v1` message.
pub const SUBTREE_V1_LABEL: &[u8; 12] = b"subtree/v1\n\0";

/// Why a `subtree/v1` message cannot be built.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubtreeError {
    /// The cosigner name or the origin is empty or longer than 255 bytes.
    #[error("{0} must be 1 to 255 bytes")]
    Length(&'static str),
    /// A timestamp beyond 2^63 − 1, or a timestamp with a non-zero start.
    #[error("timestamp {0}: must be at most 2^63-1, and 0 unless start is 0")]
    Timestamp(u64),
    /// `[start, end)` is not a subtree (start must be a multiple of the
    /// smallest power of two at least `end − start`), or is empty with a
    /// hash other than the empty tree's.
    #[error("[{start}, {end}) is not a valid subtree")]
    Range {
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
}

/// Whether `[start, end)` is a valid subtree (draft-ietf-plants-merkle-tree-certs
/// §4.1): `start ≤ end`, and `start` is a multiple of the smallest power of
/// two `≥ end − start`.
#[must_use]
pub fn valid_subtree(start: u64, end: u64) -> bool {
    let Some(n) = end.checked_sub(start) else {
        return false;
    };
    n == 0 || n.checked_next_power_of_two().is_some_and(|p| start.is_multiple_of(p))
}

/// The `subtree/v1` message cosigner `name` signs for the subtree
/// `[start, end)` of the log `origin` with root `hash` at `timestamp`.
///
/// # Errors
/// [`SubtreeError`].
pub fn subtree_message(
    name: &str,
    timestamp: u64,
    origin: &str,
    start: u64,
    end: u64,
    hash: &Hash,
) -> Result<Vec<u8>, SubtreeError> {
    let len = |s: &str, what| {
        u8::try_from(s.len())
            .ok()
            .filter(|&n| n > 0)
            .ok_or(SubtreeError::Length(what))
    };
    let (nl, ol) = (len(name, "cosigner name")?, len(origin, "log origin")?);
    if timestamp > i64::MAX.unsigned_abs() || (timestamp != 0 && start != 0) {
        return Err(SubtreeError::Timestamp(timestamp));
    }
    if !valid_subtree(start, end) || (start == end && *hash != crate::merkle::EMPTY_ROOT) {
        return Err(SubtreeError::Range { start, end });
    }
    let mut m = Vec::with_capacity(12 + 2 + name.len() + origin.len() + 56);
    m.extend_from_slice(SUBTREE_V1_LABEL);
    m.push(nl);
    m.extend_from_slice(name.as_bytes());
    m.extend_from_slice(&timestamp.to_be_bytes());
    m.push(ol);
    m.extend_from_slice(origin.as_bytes());
    m.extend_from_slice(&start.to_be_bytes());
    m.extend_from_slice(&end.to_be_bytes());
    m.extend_from_slice(hash);
    Ok(m)
}

/// The origin, size and root of a checkpoint's note text, if it is exactly
/// those three lines (no extension lines: `subtree/v1` does not sign them).
#[must_use]
pub fn checkpoint_body(text: &str) -> Option<(&str, u64, Hash)> {
    let body = text.strip_suffix('\n')?;
    let mut lines = body.split('\n');
    let (origin, size, root) = (lines.next()?, lines.next()?, lines.next()?);
    if lines.next().is_some() || origin.is_empty() {
        return None;
    }
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) || (size.len() > 1 && size.starts_with('0')) {
        return None;
    }
    Some((origin, size.parse().ok()?, b64::decode_array(root)?))
}

/// Verifies a raw ML-DSA-44 signature (pure, empty context) over `msg` by
/// the 1312-byte public key `pk`; `false` for any malformed input.
#[must_use]
pub fn verify_raw(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(enc) = EncodedVerifyingKey::<MlDsa44>::try_from(pk) else {
        return false;
    };
    let Ok(sig) = Signature::<MlDsa44>::try_from(sig) else {
        return false;
    };
    VerifyingKey::<MlDsa44>::decode(&enc).verify(msg, &sig).is_ok()
}

/// An ML-DSA-44 cosigner key with its signed-note identity.
///
/// Guarantees: the name passes [`check_key_name`] and the key ID is the one
/// computed from the name, [`ALG_MLDSA44`] and the public key derived from
/// the seed. `Debug` never prints the seed.
#[derive(Clone)]
pub struct MlDsaSigner {
    name: String,
    seed: [u8; 32],
    key: Box<SigningKey<MlDsa44>>,
    public: Vec<u8>,
    key_id: u32,
}

impl std::fmt::Debug for MlDsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlDsaSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl MlDsaSigner {
    /// The key pair of the 32-byte FIPS 204 seed ξ (`ML-DSA.KeyGen_internal`).
    ///
    /// # Errors
    /// [`KeyError`] for an invalid name.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        check_key_name(name)?;
        let key = SigningKey::<MlDsa44>::from_seed(&ml_dsa::Seed::from(seed));
        let public = key.verifying_key().encode().to_vec();
        Ok(Self {
            name: name.to_owned(),
            seed,
            key_id: key_id(name, ALG_MLDSA44, &public),
            key: Box::new(key),
            public,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<8 hex key ID>+<b64(0x06 ‖ seed)>`.
    ///
    /// # Errors
    /// [`KeyError`] naming the field that is wrong.
    pub fn parse(skey: &str) -> Result<Self, KeyError> {
        let (name, stated, alg, seed) = crate::keys::split_skey(skey)?;
        if alg != ALG_MLDSA44 {
            return Err(KeyError::UnsupportedAlg(alg));
        }
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::KeyLength(seed.len()))?;
        let s = Self::from_seed(name, seed)?;
        if stated != s.key_id {
            return Err(KeyError::KeyIdMismatch {
                stated,
                computed: s.key_id,
            });
        }
        Ok(s)
    }

    /// The skey string (holds the secret seed).
    #[must_use]
    pub fn to_skey_string(&self) -> String {
        let mut data = vec![ALG_MLDSA44];
        data.extend_from_slice(&self.seed);
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.key_id, b64::encode(&data))
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier key.
    ///
    /// # Panics
    /// Never: the name and key were checked when the signer was built.
    #[must_use]
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey::new_mldsa44(&self.name, &self.public).expect("a signer's own key is valid")
    }

    /// Signs a `subtree/v1` message and returns the note signature (payload
    /// `timestamp ‖ signature`).
    fn sign(&self, timestamp: u64, msg: &[u8]) -> NoteSignature {
        let sig = self.key.sign(msg).encode();
        let mut payload = Vec::with_capacity(SUBTREE_V1_PAYLOAD_LEN);
        payload.extend_from_slice(&timestamp.to_be_bytes());
        payload.extend_from_slice(&sig);
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            payload,
        }
    }

    /// Cosigns the checkpoint whose note text is `text` at `timestamp`
    /// (seconds, non-zero): the subtree `[0, size)` with its root.
    ///
    /// # Errors
    /// [`NoteError::UnsupportedAlg`] for a text that is not exactly a
    /// checkpoint without extension lines, [`NoteError::TimestampOutOfRange`]
    /// for a timestamp of 0 or beyond 2^63 − 1.
    pub fn cosign_checkpoint(&self, text: &str, timestamp: u64) -> Result<NoteSignature, NoteError> {
        let (origin, size, root) = checkpoint_body(text).ok_or(NoteError::UnsupportedAlg(ALG_MLDSA44))?;
        if timestamp == 0 {
            return Err(NoteError::TimestampOutOfRange(0));
        }
        let msg = subtree_message(&self.name, timestamp, origin, 0, size, &root)
            .map_err(|_| NoteError::TimestampOutOfRange(timestamp))?;
        Ok(self.sign(timestamp, &msg))
    }

    /// Signs the subtree `[start, end)` of `origin` with hash `hash`
    /// (timestamp 0, as `sign-subtree` answers).
    ///
    /// # Errors
    /// [`SubtreeError`].
    pub fn sign_subtree(&self, origin: &str, start: u64, end: u64, hash: &Hash) -> Result<NoteSignature, SubtreeError> {
        let msg = subtree_message(&self.name, 0, origin, start, end, hash)?;
        Ok(self.sign(0, &msg))
    }
}

/// Verifies a `subtree/v1` note signature by `key` (an ML-DSA-44 verifier)
/// over the subtree `[start, end)` of `origin` with `hash`: the payload's
/// timestamp (returned) and signature.
#[must_use]
pub fn verify_subtree(
    key: &VerifierKey,
    sig: &NoteSignature,
    origin: &str,
    start: u64,
    end: u64,
    hash: &Hash,
) -> Option<u64> {
    if key.alg() != ALG_MLDSA44 || sig.name != key.name() || sig.key_id != key.key_id() {
        return None;
    }
    if sig.payload.len() != SUBTREE_V1_PAYLOAD_LEN {
        return None;
    }
    let ts = u64::from_be_bytes(*sig.payload.first_chunk::<8>()?);
    let msg = subtree_message(key.name(), ts, origin, start, end, hash).ok()?;
    key.verify_raw(&msg, sig.payload.get(8..)?).then_some(ts)
}

/// The largest power of two smaller than `n` (`n ≥ 2`): where RFC 6962
/// splits a node of `n` leaves.
fn split(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// Verifies a subtree consistency proof (draft-ietf-plants-merkle-tree-certs
/// §4.4; torchwood's `CheckSubtree`): that the tree of `tree_size` leaves
/// with root `tree_hash` contains the subtree `[start, end)` with hash
/// `subtree_hash`. An empty subtree needs an empty proof and the empty
/// tree's hash.
#[must_use]
pub fn verify_subtree_consistency(
    proof: &[Hash],
    tree_size: u64,
    tree_hash: &Hash,
    start: u64,
    end: u64,
    subtree_hash: &Hash,
) -> bool {
    if end > tree_size || !valid_subtree(start, end) {
        return false;
    }
    if start == end {
        return proof.is_empty() && *subtree_hash == crate::merkle::EMPTY_ROOT;
    }
    run_subtree_proof(proof, 0, tree_size, start, end, true, subtree_hash)
        .is_some_and(|(sh, th)| sh == *subtree_hash && th == *tree_hash)
}

/// Runs the proof that `[start, end)` is in the node of leaves `[lo, hi)`:
/// the implied subtree and node hashes. `known`: the verifier knows the
/// subtree hash of this part.
fn run_subtree_proof(
    p: &[Hash],
    lo: u64,
    hi: u64,
    start: u64,
    end: u64,
    known: bool,
    sh: &Hash,
) -> Option<(Hash, Hash)> {
    if !(lo <= start && start < end && end <= hi) {
        return None;
    }
    if lo == start && hi == end {
        return if known {
            p.is_empty().then_some((*sh, *sh))
        } else {
            match p {
                [h] => Some((*h, *h)),
                _ => None,
            }
        };
    }
    let (last, rest) = p.split_last()?;
    let k = lo + split(hi - lo);
    if end <= k {
        let (s2, nh) = run_subtree_proof(rest, lo, k, start, end, known, sh)?;
        Some((s2, crate::merkle::node_hash(&nh, last)))
    } else if k <= start {
        let (s2, nh) = run_subtree_proof(rest, k, hi, start, end, known, sh)?;
        Some((s2, crate::merkle::node_hash(last, &nh)))
    } else {
        // Straddles the split, which a valid subtree does only from lo.
        if start != lo {
            return None;
        }
        let (s2, nh) = run_subtree_proof(rest, k, hi, k, end, false, sh)?;
        Some((crate::merkle::node_hash(last, &s2), crate::merkle::node_hash(last, &nh)))
    }
}

/// A parsed C2SP tlog-witness `sign-subtree` request body:
///
/// ```text
/// subtree <start> <end>\n
/// <base64 subtree hash>\n
/// <base64 hash>\n             (0 to 63 subtree consistency proof lines)
/// \n
/// <reference checkpoint note>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignSubtree {
    /// First leaf of the subtree.
    pub start: u64,
    /// One past its last leaf.
    pub end: u64,
    /// Its hash.
    pub hash: Hash,
    /// The subtree consistency proof to the checkpoint.
    pub proof: Vec<Hash>,
    /// The reference checkpoint note, verbatim.
    pub note: Vec<u8>,
}

impl SignSubtree {
    /// Parses a request body (framing only; at most
    /// [`crate::witness::MAX_BODY_BYTES`], 63 proof lines).
    ///
    /// # Errors
    /// What is malformed, as text (HTTP 400).
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        if body.len() > crate::witness::MAX_BODY_BYTES {
            return Err(format!("body is larger than {} bytes", crate::witness::MAX_BODY_BYTES));
        }
        let sep = body
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or("missing the empty line before the checkpoint")?;
        let head = std::str::from_utf8(&body[..sep]).map_err(|_| "the request lines are not UTF-8")?;
        let mut lines = head.split('\n');
        let range = lines.next().unwrap_or_default();
        let mut f = range
            .strip_prefix("subtree ")
            .ok_or("first line must be \"subtree <start> <end>\"")?
            .split(' ');
        let num = |s: Option<&str>| -> Result<u64, String> {
            let s = s.ok_or("first line must be \"subtree <start> <end>\"")?;
            s.parse::<u64>()
                .ok()
                .filter(|n| n.to_string() == s)
                .ok_or_else(|| format!("{s:?} is not a canonical decimal"))
        };
        let (start, end) = (num(f.next())?, num(f.next())?);
        if f.next().is_some() {
            return Err("first line must be \"subtree <start> <end>\"".into());
        }
        let hash = lines
            .next()
            .and_then(b64::decode_array::<32>)
            .ok_or("second line must be the subtree hash in base64")?;
        let mut proof = Vec::new();
        for (i, l) in lines.enumerate() {
            if proof.len() == crate::witness::MAX_PROOF_LINES {
                return Err(format!("more than {} proof lines", crate::witness::MAX_PROOF_LINES));
            }
            proof.push(
                b64::decode_array::<32>(l).ok_or_else(|| format!("proof line {} is not base64 of 32 bytes", i + 1))?,
            );
        }
        if !valid_subtree(start, end) {
            return Err(format!("[{start}, {end}) is not a valid subtree"));
        }
        Ok(Self {
            start,
            end,
            hash,
            proof,
            note: body[sep + 2..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{Note, verify_signature};

    /// torchwood's ML-DSA-44 vector (cmd/litewitness/testdata/mldsa.txt,
    /// made by Go's crypto/mldsa, hedged): the log example.com/mldsa-log
    /// signs its checkpoint of size 1 with ML-DSA-44 (name = origin).
    const TORCHWOOD_SEED: &str = "2886adc2b0eabfce67c0472939127998bf886cf256bfee8ba76a253fce1146e0";
    const TORCHWOOD_NOTE: &str = include_str!("../../testdata/vectors/mldsa44_torchwood.note");
    const TORCHWOOD_VKEY: &str = include_str!("../../testdata/vectors/mldsa44_torchwood.vkey");

    fn seed() -> [u8; 32] {
        crate::hex::decode(TORCHWOOD_SEED)
            .expect("hex")
            .try_into()
            .expect("32 bytes")
    }

    #[test]
    fn an_independent_implementations_vector_verifies() {
        let vk = VerifierKey::parse(TORCHWOOD_VKEY.trim()).expect("the vkey parses");
        assert_eq!((vk.alg(), vk.key_id()), (ALG_MLDSA44, 0xb5df_45c5));
        // The key pair from the seed is the same one (FIPS 204 KeyGen_internal).
        let s = MlDsaSigner::from_seed("example.com/mldsa-log", seed()).expect("signer");
        assert_eq!(s.verifier(), vk);
        let note = Note::parse(TORCHWOOD_NOTE.as_bytes()).expect("note");
        let sig = &note.signatures()[0];
        let v = verify_signature(note.text(), sig, &vk).expect("the signature verifies");
        assert_eq!(v.timestamp, Some(0));
        // One flipped bit anywhere breaks it.
        let mut bad = sig.clone();
        bad.payload[100] ^= 1;
        assert!(verify_signature(note.text(), &bad, &vk).is_none());
        let other = note.text().replace("\n1\n", "\n2\n");
        assert!(verify_signature(&other, sig, &vk).is_none());
    }

    #[test]
    fn our_cosignatures_verify_and_are_deterministic() {
        let s = MlDsaSigner::from_seed("witness.example/pq", [7; 32]).expect("signer");
        let text = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let a = s.cosign_checkpoint(text, 1_700_000_000).expect("cosign");
        assert_eq!(a, s.cosign_checkpoint(text, 1_700_000_000).expect("again"));
        assert_eq!(a.payload.len(), SUBTREE_V1_PAYLOAD_LEN);
        let v = verify_signature(text, &a, &s.verifier()).expect("verifies");
        assert_eq!(v.timestamp, Some(1_700_000_000));
        // Round trip of the skey; no cosignature of a text with extensions.
        let p = MlDsaSigner::parse(&s.to_skey_string()).expect("parse");
        assert_eq!(p.verifier(), s.verifier());
        assert!(s.cosign_checkpoint(&format!("{text}ext\n"), 1).is_err());
        assert!(s.cosign_checkpoint(text, 0).is_err());
        // A subtree signature.
        let h = [3u8; 32];
        let st = s.sign_subtree("example.com/log", 4, 8, &h).expect("subtree");
        assert_eq!(verify_subtree(&s.verifier(), &st, "example.com/log", 4, 8, &h), Some(0));
        assert_eq!(verify_subtree(&s.verifier(), &st, "example.com/log", 0, 8, &h), None);
        assert!(s.sign_subtree("example.com/log", 3, 8, &h).is_err(), "not a subtree");
    }

    #[test]
    fn the_message_layout_is_the_specs() {
        let m = subtree_message("ab", 1, "o", 0, 2, &[9; 32]).expect("m");
        let mut want = b"subtree/v1\n\0".to_vec();
        want.extend_from_slice(&[2, b'a', b'b', 0, 0, 0, 0, 0, 0, 0, 1, 1, b'o']);
        want.extend_from_slice(&[0; 8]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
        want.extend_from_slice(&[9; 32]);
        assert_eq!(m, want);
        assert!(subtree_message("", 0, "o", 0, 1, &[0; 32]).is_err());
        assert!(
            subtree_message("a", 1, "o", 2, 4, &[0; 32]).is_err(),
            "a timestamp with a start"
        );
        for (s, e, ok) in [
            (0, 1, true),
            (0, 3, true),
            (4, 8, true),
            (4, 6, true),
            (6, 8, true),
            (2, 6, false),
            (5, 4, false),
        ] {
            assert_eq!(valid_subtree(s, e), ok, "[{s}, {e})");
        }
    }

    /// The RFC 6962 hash of leaves `[lo, hi)` (test oracle).
    fn mth(leaves: &[Hash], lo: usize, hi: usize) -> Hash {
        if hi - lo == 1 {
            return leaves[lo];
        }
        let k = lo + usize::try_from(split((hi - lo) as u64)).expect("k");
        crate::merkle::node_hash(&mth(leaves, lo, k), &mth(leaves, k, hi))
    }

    /// The subtree consistency proof (draft-ietf-plants-merkle-tree-certs
    /// §4.4), built from the leaves (test oracle, torchwood's `subtreeProof`).
    fn prove(leaves: &[Hash], lo: usize, hi: usize, start: usize, end: usize, known: bool) -> Vec<Hash> {
        if lo == start && hi == end {
            return if known { vec![] } else { vec![mth(leaves, lo, hi)] };
        }
        let k = lo + usize::try_from(split((hi - lo) as u64)).expect("k");
        let mut p;
        let th;
        if end <= k {
            p = prove(leaves, lo, k, start, end, known);
            th = mth(leaves, k, hi);
        } else if k <= start {
            th = mth(leaves, lo, k);
            p = prove(leaves, k, hi, start, end, known);
        } else {
            p = prove(leaves, k, hi, k, end, false);
            th = mth(leaves, lo, k);
        }
        p.push(th);
        p
    }

    proptest::proptest! {
        /// Every valid subtree of every tree up to 40 leaves has a proof that
        /// verifies, and changing any input makes it fail.
        #[test]
        fn subtree_consistency_proofs(n in 1usize..40, s in 0usize..40, w in 0u32..6) {
            let leaves: Vec<Hash> = (0..n).map(|i| crate::merkle::leaf_hash(&[i as u8])).collect();
            let size = 1usize << w;
            let start = (s / size) * size;
            let end = (start + size).min(n);
            proptest::prop_assume!(start < end && valid_subtree(start as u64, end as u64));
            let root = mth(&leaves, 0, n);
            let sh = mth(&leaves, start, end);
            let p = prove(&leaves, 0, n, start, end, true);
            proptest::prop_assert!(verify_subtree_consistency(&p, n as u64, &root, start as u64, end as u64, &sh));
            proptest::prop_assert!(!verify_subtree_consistency(&p, n as u64, &root, start as u64, end as u64, &[0; 32]));
            proptest::prop_assert!(!verify_subtree_consistency(&p, n as u64, &[0; 32], start as u64, end as u64, &sh));
            if !p.is_empty() {
                let mut q = p.clone();
                q[0][0] ^= 1;
                proptest::prop_assert!(!verify_subtree_consistency(&q, n as u64, &root, start as u64, end as u64, &sh));
                proptest::prop_assert!(!verify_subtree_consistency(&p[1..], n as u64, &root, start as u64, end as u64, &sh));
            }
        }
    }

    #[test]
    fn sign_subtree_bodies_parse_strictly() {
        let h = b64::encode([1u8; 32]);
        let good = format!("subtree 8 13\n{h}\n{h}\n\nnote\n");
        let r = SignSubtree::parse(good.as_bytes()).expect("parses");
        assert_eq!(
            (r.start, r.end, r.proof.len(), r.note.as_slice()),
            (8, 13, 1, &b"note\n"[..])
        );
        for bad in [
            format!("subtree 8\n{h}\n\nnote\n"),
            format!("subtree 08 13\n{h}\n\nnote\n"),
            format!("subtree 3 13\n{h}\n\nnote\n"),
            "subtree 8 13\nAAAA\n\nnote\n".to_owned(),
            format!("subtree 8 13\n{h}\n"),
            format!("subtree 8 13\n{h}\n{}\nnote\n", format!("{h}\n").repeat(64)),
        ] {
            assert!(SignSubtree::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_keys_and_signatures_are_refused() {
        let s = MlDsaSigner::from_seed("w", [1; 32]).expect("signer");
        let vk = s.verifier().to_vkey_string();
        let (head, data) = vk.rsplit_once('+').expect("+");
        let mut raw = b64::decode(data).expect("b64");
        raw.pop();
        assert!(
            VerifierKey::parse(&format!("{head}+{}", b64::encode(&raw))).is_err(),
            "short key"
        );
        assert!(!verify_raw(&[0; 10], b"m", &[0; MLDSA44_SIGNATURE_LEN]));
        assert!(!verify_raw(&s.public, b"m", &[0; 12]));
        assert!(!verify_raw(&s.public, b"m", &[0xff; MLDSA44_SIGNATURE_LEN]));
    }
}
