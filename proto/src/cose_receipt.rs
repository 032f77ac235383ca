//! COSE receipts (RFC 9942) for the log's entries: the same inclusion
//! proof as a JSON [`crate::receipt::Receipt`], in the encoding a SCITT
//! verifier (RFC 9943) reads knowing only the log's public key.
//!
//! A receipt is a tagged `COSE_Sign1` (RFC 9052, tag 18):
//!
//! * protected header: `alg` (1) = `EdDSA` (−8), `kid` (4) = the log key's
//!   4-byte C2SP key ID (big-endian, as in the checkpoint's signature
//!   line), `vds` (395) = 1 (`RFC9162_SHA256`), and the CWT claims (15):
//!   `iss` (1) = the log's origin, `iat` (6) = when the tree head was
//!   signed (Unix seconds);
//! * unprotected header: `vdp` (396) = `{ -1: [ bstr .cbor [tree_size,
//!   leaf_index, [+ bstr .size 32]] ] }`, the inclusion proof of RFC 9162
//!   §2.1.3, leaf side first;
//! * payload: detached (nil); the signed payload is the 32-byte root the
//!   proof leads to from the entry's RFC 6962 leaf hash.
//!
//! The protected header holds nothing about the leaf, so one signature per
//! tree size serves every entry at that size ([`TreeHeadSignature`]): a
//! receipt costs the proof and its encoding, no signing.

use crate::statement::{header_value, map_get};
use coset::iana::{self, EnumI64};
use coset::{
    CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, Label, TaggedCborSerializable, cbor::value::Value,
};
use provlog_tlog::keys::{SignerKey, VerifierKey};
use provlog_tlog::merkle::{self, Hash};

/// `vds`: the verifiable data structure header parameter (RFC 9942 §3).
pub const LABEL_VDS: i64 = 395;
/// `vdp`: the verifiable data proofs header parameter (RFC 9942 §3).
pub const LABEL_VDP: i64 = 396;
/// Inclusion proofs within `vdp` (RFC 9942 §5.2).
pub const VDP_INCLUSION: i64 = -1;
/// `RFC9162_SHA256`, the only structure this module speaks.
pub const VDS_RFC9162_SHA256: i64 = 1;
/// CWT claims header parameter (RFC 9597).
pub const LABEL_CWT_CLAIMS: i64 = 15;
/// CWT `iss`.
pub const CWT_ISS: i64 = 1;
/// CWT `sub`.
pub const CWT_SUB: i64 = 2;
/// CWT `iat`.
pub const CWT_IAT: i64 = 6;
/// Media type of a receipt.
pub const CONTENT_TYPE: &str = "application/cose";
/// Most proof hashes a receipt may carry (a tree of 2^64 needs 64).
const MAX_PATH: usize = 64;

/// Why a COSE receipt does not prove what it claims.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoseReceiptError {
    /// Not a `COSE_Sign1` (tagged or not) in well-formed CBOR.
    #[error("not a COSE_Sign1: {0}")]
    Cbor(String),
    /// `alg` is missing or not EdDSA/Ed25519.
    #[error("the receipt's alg is {0}, not EdDSA (-8) or Ed25519 (-19)")]
    Alg(String),
    /// `vds` is missing or not 1.
    #[error("the receipt's vds is {0}, not 1 (RFC9162_SHA256)")]
    Vds(String),
    /// A header is not shaped as RFC 9942 says.
    #[error("malformed receipt: {0}")]
    Shape(String),
    /// The `kid` names another key than the one given.
    #[error("the receipt's kid {got} is not the key {want}")]
    Kid {
        /// The kid in the receipt, hex.
        got: String,
        /// The key given, hex key ID.
        want: String,
    },
    /// The `iss` is not the key's name (the log's origin).
    #[error("the receipt's issuer {got:?} is not the log {want:?}")]
    Issuer {
        /// The issuer in the receipt.
        got: String,
        /// The log's origin.
        want: String,
    },
    /// The inclusion proof is not a proof for this tree size and index.
    #[error("inclusion proof: {0}")]
    Proof(#[from] merkle::VerifyError),
    /// The signature does not verify over the root the proof leads to.
    #[error("the signature does not verify over the root the proof leads to")]
    Signature,
}

/// The log's signature over one tree head, in the protected header every
/// receipt at that size carries.
#[derive(Debug, Clone)]
pub struct TreeHeadSignature {
    /// The tree size.
    pub size: u64,
    /// The root at that size.
    pub root: Hash,
    /// The C2SP key ID of the key that signed.
    pub key_id: u32,
    sign1: CoseSign1,
}

fn protected_header(origin: &str, key_id: u32, iat: i64) -> coset::Header {
    let claims = Value::Map(vec![
        (Value::from(CWT_ISS), Value::Text(origin.to_owned())),
        (Value::from(CWT_IAT), Value::from(iat)),
    ]);
    HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(key_id.to_be_bytes().to_vec())
        .value(LABEL_VDS, Value::from(VDS_RFC9162_SHA256))
        .value(LABEL_CWT_CLAIMS, claims)
        .build()
}

impl TreeHeadSignature {
    /// Signs the tree head (`size`, `root`) with the log's key, issued by
    /// the key's name (the log's origin) at `iat` (Unix seconds).
    #[must_use]
    pub fn sign(signer: &SignerKey, size: u64, root: Hash, iat: i64) -> Self {
        let sign1 = CoseSign1Builder::new()
            .protected(protected_header(signer.name(), signer.key_id(), iat))
            .create_detached_signature(&root, b"", |tbs| signer.sign_raw(tbs).to_vec())
            .build();
        Self {
            size,
            root,
            key_id: signer.key_id(),
            sign1,
        }
    }

    /// The receipt for entry `index` with its inclusion proof `path` (leaf
    /// side first) in the tree this head signs. The proof is not checked
    /// here: a wrong one makes a receipt that does not verify.
    ///
    /// # Errors
    /// Only if CBOR encoding fails (it does not for these values).
    pub fn receipt(&self, index: u64, path: &[Hash]) -> Result<Vec<u8>, CoseReceiptError> {
        self.receipt_with_frame(index, path, None)
    }

    /// [`TreeHeadSignature::receipt`], for a statement's leaf with its
    /// `frame` ([`crate::statement::leaf_frame`]) in the unprotected header
    /// under [`crate::statement::LABEL_LEAF_FRAME`], so that the receipt
    /// and the statement rebuild the leaf.
    ///
    /// # Errors
    /// As [`TreeHeadSignature::receipt`].
    pub fn receipt_with_frame(
        &self,
        index: u64,
        path: &[Hash],
        frame: Option<&str>,
    ) -> Result<Vec<u8>, CoseReceiptError> {
        let proof = Value::Array(vec![
            Value::from(self.size),
            Value::from(index),
            Value::Array(path.iter().map(|h| Value::Bytes(h.to_vec())).collect()),
        ]);
        let mut proof_bytes = Vec::with_capacity(48 + 34 * path.len());
        coset::cbor::ser::into_writer(&proof, &mut proof_bytes).map_err(|e| CoseReceiptError::Cbor(e.to_string()))?;
        let vdp = Value::Map(vec![(
            Value::from(VDP_INCLUSION),
            Value::Array(vec![Value::Bytes(proof_bytes)]),
        )]);
        let mut s = self.sign1.clone();
        s.unprotected.rest = vec![(Label::Int(LABEL_VDP), vdp)];
        if let Some(f) = frame {
            s.unprotected.rest.push((
                Label::Text(crate::statement::LABEL_LEAF_FRAME.into()),
                Value::Text(f.to_owned()),
            ));
        }
        s.to_tagged_vec().map_err(|e| CoseReceiptError::Cbor(e.to_string()))
    }
}

/// What a verified receipt proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCoseReceipt {
    /// The entry's index.
    pub index: u64,
    /// The tree size the receipt proves inclusion in.
    pub size: u64,
    /// The root at that size, signed by the log.
    pub root: Hash,
    /// The issuer (the log's origin).
    pub issuer: String,
    /// When the tree head was signed, Unix seconds.
    pub issued_at: Option<i64>,
}

fn int(v: &Value) -> Option<i128> {
    match v {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

/// Parses a `COSE_Sign1`, tagged (18) or not. A receipt's unprotected
/// header is read; nothing else in it is trusted.
///
/// # Errors
/// [`CoseReceiptError::Cbor`].
pub fn parse_sign1(bytes: &[u8]) -> Result<CoseSign1, CoseReceiptError> {
    CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| CoseSign1::from_slice(bytes))
        .map_err(|e| CoseReceiptError::Cbor(e.to_string()))
}

/// The inclusion proofs a receipt's unprotected header carries:
/// `(tree_size, leaf_index, path)` each.
///
/// # Errors
/// [`CoseReceiptError::Shape`] unless the header is as RFC 9942 §5.2 says.
pub fn inclusion_proofs(s: &CoseSign1) -> Result<Vec<(u64, u64, Vec<Hash>)>, CoseReceiptError> {
    let shape = |m: &str| CoseReceiptError::Shape(m.to_owned());
    let vdp = header_value(&s.unprotected, LABEL_VDP)
        .ok_or_else(|| shape("no verifiable data proofs (396) in the unprotected header"))?;
    let Value::Map(m) = vdp else {
        return Err(shape("396 is not a map"));
    };
    let Some(Value::Array(proofs)) = map_get(m, VDP_INCLUSION) else {
        return Err(shape("396 holds no array of inclusion proofs (-1)"));
    };
    if proofs.is_empty() {
        return Err(shape("no inclusion proof"));
    }
    proofs
        .iter()
        .map(|p| {
            let Value::Bytes(b) = p else {
                return Err(shape("an inclusion proof is not a bstr"));
            };
            let v: Value =
                coset::cbor::de::from_reader(b.as_slice()).map_err(|_| shape("an inclusion proof is not CBOR"))?;
            let Value::Array(a) = v else {
                return Err(shape("an inclusion proof is not an array"));
            };
            let [size, index, Value::Array(path)] = a.as_slice() else {
                return Err(shape("an inclusion proof is not [tree_size, leaf_index, path]"));
            };
            let size = int(size)
                .and_then(|x| u64::try_from(x).ok())
                .ok_or_else(|| shape("tree_size is not an unsigned integer"))?;
            let index = int(index)
                .and_then(|x| u64::try_from(x).ok())
                .ok_or_else(|| shape("leaf_index is not an unsigned integer"))?;
            if path.len() > MAX_PATH {
                return Err(shape("more than 64 hashes in the path"));
            }
            let path = path
                .iter()
                .map(|h| match h {
                    Value::Bytes(b) => Hash::try_from(b.as_slice()).map_err(|_| shape("a path hash is not 32 bytes")),
                    _ => Err(shape("a path hash is not a bstr")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((size, index, path))
        })
        .collect()
}

/// Verifies `receipt` for the entry bytes `entry` with the log's key:
/// the protected header's `alg`, `vds`, `kid` and issuer, the root the
/// (first) inclusion proof leads to from the entry's leaf hash, and the
/// signature over that root.
///
/// # Errors
/// Which of those fails.
pub fn verify(receipt: &[u8], entry: &[u8], key: &VerifierKey) -> Result<VerifiedCoseReceipt, CoseReceiptError> {
    verify_leaf_hash(receipt, &merkle::leaf_hash(entry), key)
}

/// [`verify`] given the leaf hash rather than the entry.
///
/// # Errors
/// As [`verify`].
pub fn verify_leaf_hash(
    receipt: &[u8],
    leaf_hash: &Hash,
    key: &VerifierKey,
) -> Result<VerifiedCoseReceipt, CoseReceiptError> {
    verify_with_keys(receipt, leaf_hash, |_| key)
}

/// [`verify_leaf_hash`] with the key of the log for the receipt's tree
/// size, as `keys` gives it (a log that rotated its key: the key history's
/// [`provlog_tlog::checkpoint::LogKeys::for_size`]).
///
/// # Errors
/// As [`verify`].
pub fn verify_with_keys<'k>(
    receipt: &[u8],
    leaf_hash: &Hash,
    keys: impl FnOnce(u64) -> &'k VerifierKey,
) -> Result<VerifiedCoseReceipt, CoseReceiptError> {
    let s = parse_sign1(receipt)?;
    let proofs = inclusion_proofs(&s)?;
    let (size, index, path) = proofs.into_iter().next().ok_or(CoseReceiptError::Signature)?;
    let key = keys(size);
    let h = &s.protected.header;
    match &h.alg {
        Some(coset::RegisteredLabelWithPrivate::Assigned(a))
            if a.to_i64() == iana::Algorithm::EdDSA.to_i64() || a.to_i64() == -19 => {}
        other => return Err(CoseReceiptError::Alg(format!("{other:?}"))),
    }
    match header_value(h, LABEL_VDS) {
        Some(v) if int(v) == Some(i128::from(VDS_RFC9162_SHA256)) => {}
        other => return Err(CoseReceiptError::Vds(format!("{other:?}"))),
    }
    let want = key.key_id().to_be_bytes();
    if !h.key_id.is_empty() && h.key_id != want {
        return Err(CoseReceiptError::Kid {
            got: provlog_tlog::hex::encode(&h.key_id),
            want: provlog_tlog::hex::encode(want),
        });
    }
    let claims = header_value(h, LABEL_CWT_CLAIMS);
    let (issuer, issued_at) = match claims {
        Some(Value::Map(m)) => {
            let iss = match map_get(m, CWT_ISS) {
                Some(Value::Text(t)) => t.clone(),
                _ => return Err(CoseReceiptError::Shape("the CWT claims hold no text iss".into())),
            };
            let iat = map_get(m, CWT_IAT).and_then(int).and_then(|x| i64::try_from(x).ok());
            (iss, iat)
        }
        _ => {
            return Err(CoseReceiptError::Shape(
                "no CWT claims (15) in the protected header".into(),
            ));
        }
    };
    if issuer != key.name() {
        return Err(CoseReceiptError::Issuer {
            got: issuer,
            want: key.name().to_owned(),
        });
    }
    if s.payload.is_some() {
        return Err(CoseReceiptError::Shape("the payload is not detached".into()));
    }
    let root = merkle::root_from_inclusion_proof(index, size, leaf_hash, &path)?;
    s.verify_detached_signature(&root, b"", |sig, tbs| {
        if key.verify_raw(tbs, sig) {
            Ok(())
        } else {
            Err(CoseReceiptError::Signature)
        }
    })?;
    Ok(VerifiedCoseReceipt {
        index,
        size,
        root,
        issuer,
        issued_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use provlog_tlog::keys::ALG_ED25519;

    fn tree(n: u64) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
    }

    fn proof_for(entries: &[Vec<u8>], index: u64) -> (Hash, Vec<Hash>) {
        let mut t = merkle::MemoryTree::new();
        for e in entries {
            t.push(merkle::leaf_hash(e));
        }
        let size = t.size();
        let root = t.root_at(size).expect("root");
        let proof = merkle::inclusion_proof(index, size, &t).expect("proof");
        (root, proof)
    }

    fn key() -> SignerKey {
        SignerKey::from_seed("example.com/log", ALG_ED25519, [9; 32]).expect("key")
    }

    #[test]
    fn one_head_signature_serves_every_entry_and_each_verifies_only_for_its_own() {
        let k = key();
        let entries = tree(7);
        let (root, _) = proof_for(&entries, 0);
        let head = TreeHeadSignature::sign(&k, 7, root, 1_800_000_000);
        for i in 0..7u64 {
            let (_, path) = proof_for(&entries, i);
            let r = head.receipt(i, &path).expect("encode");
            let v = verify(&r, &entries[usize::try_from(i).expect("small")], &k.verifier()).expect("verifies");
            assert_eq!((v.index, v.size, v.root), (i, 7, root));
            assert_eq!(v.issuer, "example.com/log");
            assert_eq!(v.issued_at, Some(1_800_000_000));
            let other = &entries[usize::try_from((i + 1) % 7).expect("small")];
            assert_eq!(verify(&r, other, &k.verifier()), Err(CoseReceiptError::Signature));
        }
    }

    #[test]
    fn another_key_a_forged_proof_and_a_bad_header_are_refused() {
        let k = key();
        let entries = tree(5);
        let (root, path) = proof_for(&entries, 3);
        let head = TreeHeadSignature::sign(&k, 5, root, 1);
        let r = head.receipt(3, &path).expect("encode");
        let other = SignerKey::from_seed("example.com/log", ALG_ED25519, [8; 32]).expect("key");
        assert!(matches!(
            verify(&r, &entries[3], &other.verifier()),
            Err(CoseReceiptError::Kid { .. } | CoseReceiptError::Signature)
        ));
        let mut bad = path.clone();
        bad[0][0] ^= 1;
        let r2 = head.receipt(3, &bad).expect("encode");
        assert_eq!(
            verify(&r2, &entries[3], &k.verifier()),
            Err(CoseReceiptError::Signature)
        );
        let r3 = head.receipt(3, &path[..path.len() - 1]).expect("encode");
        assert!(matches!(
            verify(&r3, &entries[3], &k.verifier()),
            Err(CoseReceiptError::Proof(_))
        ));
        assert!(matches!(
            verify(b"\xd2\x84", &entries[3], &k.verifier()),
            Err(CoseReceiptError::Cbor(_))
        ));
        assert!(matches!(
            verify(&[], &entries[3], &k.verifier()),
            Err(CoseReceiptError::Cbor(_))
        ));
    }

    #[test]
    fn the_encoding_is_tagged_cose_sign1_with_the_rfc_9942_labels() {
        let k = key();
        let entries = tree(3);
        let (root, path) = proof_for(&entries, 1);
        let r = TreeHeadSignature::sign(&k, 3, root, 5)
            .receipt(1, &path)
            .expect("encode");
        // Tag 18, then a 4-element array.
        assert_eq!(&r[..2], &[0xd2, 0x84]);
        let v: Value = coset::cbor::de::from_reader(r.as_slice()).expect("cbor");
        let Value::Tag(18, inner) = v else { panic!("tag 18") };
        let Value::Array(a) = *inner else { panic!("array") };
        assert_eq!(a[2], Value::Null, "detached payload");
        let Value::Bytes(p) = &a[0] else {
            panic!("protected bstr")
        };
        let p: Value = coset::cbor::de::from_reader(p.as_slice()).expect("protected map");
        let Value::Map(p) = p else { panic!("map") };
        assert_eq!(map_get(&p, 1).and_then(int), Some(-8));
        assert_eq!(map_get(&p, LABEL_VDS).and_then(int), Some(1));
        assert_eq!(map_get(&p, 4), Some(&Value::Bytes(k.key_id().to_be_bytes().to_vec())));
    }
}
