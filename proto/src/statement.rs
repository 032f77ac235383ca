//! SCITT signed statements (RFC 9943 §5, `COSE_Sign1` of RFC 9052) as the
//! log registers them, and transparent statements (a statement with its
//! receipts).
//!
//! A statement the log accepts is a tagged (18) `COSE_Sign1` with
//!
//! * protected header: `alg` (1) = `EdDSA` (−8) or `Ed25519` (−19); `kid`
//!   (4) = the 4-byte C2SP key ID of the submitter's registered key
//!   (big-endian); `content type` (3) = a media type; the CWT claims (15)
//!   with `iss` (1) = the submitter's id, and optionally `sub` (2), `aud`
//!   (3, the log's origin when the log requires origin binding) and `iat`
//!   (6); `crit` (2), if present, naming only labels this module reads;
//! * an embedded payload (a detached one is refused);
//! * an unprotected header that names none of the labels above (a claim
//!   there would be unauthenticated: it is refused, not ignored); whatever
//!   else it holds, receipts (394) included, is cleared before logging, as
//!   RFC 9943 §5.1 asks.
//!
//! The logged form ([`SignedStatement::bytes`]) is the statement with an
//! empty unprotected header, re-encoded by `coset` (the protected header's
//! bytes, the payload and the signature are kept exactly). docs/SCITT.md
//! gives the leaf that holds it and the transparent statement to the byte.

use coset::cbor::value::Value;
use coset::iana::{self, EnumI64};
use coset::{CoseSign1, CoseSign1Builder, HeaderBuilder, Label, RegisteredLabelWithPrivate, TaggedCborSerializable};
use provlog_tlog::keys::{SignerKey, VerifierKey};

/// `receipts`: the unprotected header parameter of a transparent statement
/// (RFC 9942 §2), an array of receipts as bstr.
pub const LABEL_RECEIPTS: i64 = 394;
/// The unprotected receipt header parameter (provlog's, text label) that
/// carries a statement leaf's frame: the leaf's canonical JSON with the
/// statement's base64 left out, from which a verifier rebuilds the leaf
/// (docs/SCITT.md "The leaf of a statement").
pub const LABEL_LEAF_FRAME: &str = "provlog_leaf";
/// Media type of a statement whose payload is a provisioning event (its
/// RFC 8785 canonical JSON).
pub const EVENT_CONTENT_TYPE: &str = "application/json";
/// CWT `aud`.
pub const CWT_AUD: i64 = 3;
/// Header labels the log reads from the protected header; in the
/// unprotected header they are refused.
const READ_LABELS: [i64; 5] = [1, 2, 3, 4, 15];
/// Labels a statement may mark critical: the ones read here.
const UNDERSTOOD: [i64; 5] = READ_LABELS;

/// Why bytes are not a statement the log registers.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementError {
    /// Not CBOR, or not a `COSE_Sign1`.
    #[error("not a COSE_Sign1 in CBOR: {0}")]
    Cbor(String),
    /// A `COSE_Sign1` without its tag (18).
    #[error("not a tagged COSE_Sign1: the statement must carry CBOR tag 18")]
    Untagged,
    /// `alg` is missing or not an Ed25519 algorithm.
    #[error("alg {0} is not supported: a statement is signed with EdDSA (-8) or Ed25519 (-19)")]
    Alg(String),
    /// A protected header parameter is missing or ill-typed.
    #[error("protected header: {0}")]
    Header(String),
    /// A parameter the log reads from the protected header appears in the
    /// unprotected one.
    #[error("the unprotected header carries label {0}, which is only read from the protected header")]
    Smuggled(i64),
    /// The payload is detached.
    #[error("the payload is detached: a statement is registered with its payload embedded")]
    Detached,
    /// The signature is not 64 bytes.
    #[error("the signature is {0} bytes, not the 64 of Ed25519")]
    Signature(usize),
    /// The logged form is not exactly as the log writes it.
    #[error("not in the logged form (a tagged COSE_Sign1 with an empty unprotected header, as re-encoded)")]
    NotLogged,
}

/// A parsed statement in the form the log registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedStatement {
    /// The logged form: tagged, unprotected header empty.
    pub bytes: Vec<u8>,
    /// The protected header's bytes, as signed.
    pub protected: Vec<u8>,
    /// `kid`.
    pub kid: Vec<u8>,
    /// The CWT `iss`: the submitter's id.
    pub issuer: String,
    /// The CWT `sub`, if any.
    pub subject: Option<String>,
    /// The CWT `aud`, if any.
    pub audience: Option<String>,
    /// The CWT `iat`, if any (Unix seconds).
    pub issued_at: Option<i64>,
    /// The content type.
    pub content_type: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// The signature.
    pub signature: [u8; 64],
    /// The receipts its unprotected header carried (a transparent
    /// statement's; not part of the logged form).
    pub receipts: Vec<Vec<u8>>,
}

fn int(v: &Value) -> Option<i128> {
    match v {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

/// The value under integer `key` of a CBOR map.
#[must_use]
pub fn map_get(m: &[(Value, Value)], key: i64) -> Option<&Value> {
    m.iter().find(|(k, _)| int(k) == Some(i128::from(key))).map(|(_, v)| v)
}

/// The value of header parameter `label` in `h.rest`.
#[must_use]
pub fn header_value(h: &coset::Header, label: i64) -> Option<&Value> {
    h.rest.iter().find(|(l, _)| *l == Label::Int(label)).map(|(_, v)| v)
}

fn label_int(l: &Label) -> Option<i64> {
    match l {
        Label::Int(i) => Some(*i),
        Label::Text(_) => None,
    }
}

/// The bytes an Ed25519 `COSE_Sign1` signature covers: the CBOR of
/// `["Signature1", protected, h'', payload]` (RFC 9052 §4.4).
#[must_use]
pub fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let v = Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.to_vec()),
    ]);
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 24);
    // Writing a Value to a Vec does not fail.
    let _ = coset::cbor::ser::into_writer(&v, &mut out);
    out
}

impl SignedStatement {
    /// Parses a statement presented for registration: tagged, the
    /// protected header as the module says, the payload embedded, no
    /// smuggled parameter; the unprotected header is cleared (receipts
    /// are kept in [`SignedStatement::receipts`]). The signature is not
    /// checked here ([`SignedStatement::verify`]).
    ///
    /// # Errors
    /// Any [`StatementError`] but [`StatementError::NotLogged`].
    pub fn parse(bytes: &[u8]) -> Result<Self, StatementError> {
        let mut s = match CoseSign1::from_tagged_slice(bytes) {
            Ok(s) => s,
            Err(e) => {
                return Err(
                    if coset::CborSerializable::from_slice(bytes).is_ok_and(|_: CoseSign1| true) {
                        StatementError::Untagged
                    } else {
                        StatementError::Cbor(e.to_string())
                    },
                );
            }
        };
        let header = |m: &str| StatementError::Header(m.to_owned());
        let u = &s.unprotected;
        if u.alg.is_some() {
            return Err(StatementError::Smuggled(1));
        }
        if !u.crit.is_empty() {
            return Err(StatementError::Smuggled(2));
        }
        if u.content_type.is_some() {
            return Err(StatementError::Smuggled(3));
        }
        if !u.key_id.is_empty() {
            return Err(StatementError::Smuggled(4));
        }
        if let Some(l) = u
            .rest
            .iter()
            .filter_map(|(l, _)| label_int(l))
            .find(|l| READ_LABELS.contains(l))
        {
            return Err(StatementError::Smuggled(l));
        }
        let receipts = match u.rest.iter().find(|(l, _)| *l == Label::Int(LABEL_RECEIPTS)) {
            None => Vec::new(),
            Some((_, Value::Array(a))) => a
                .iter()
                .map(|r| match r {
                    Value::Bytes(b) => Ok(b.clone()),
                    _ => Err(StatementError::Cbor("a receipt (394) is not a bstr".into())),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(StatementError::Cbor("receipts (394) is not an array".into())),
        };
        let h = &s.protected.header;
        match &h.alg {
            Some(RegisteredLabelWithPrivate::Assigned(a))
                if a.to_i64() == iana::Algorithm::EdDSA.to_i64() || a.to_i64() == -19 => {}
            Some(other) => return Err(StatementError::Alg(format!("{other:?}"))),
            None => return Err(StatementError::Alg("missing".into())),
        }
        for c in &h.crit {
            let ok = match c {
                RegisteredLabelWithPrivate::Assigned(a) => UNDERSTOOD.contains(&a.to_i64()),
                RegisteredLabelWithPrivate::PrivateUse(i) => UNDERSTOOD.contains(i),
                RegisteredLabelWithPrivate::Text(_) => false,
            };
            if !ok {
                return Err(header(&format!("crit names {c:?}, which the log does not understand")));
            }
        }
        if h.key_id.is_empty() {
            return Err(header("no kid (4): it names the submitter's key"));
        }
        let content_type = match &h.content_type {
            Some(coset::ContentType::Text(t)) => t.clone(),
            Some(coset::ContentType::Assigned(a)) => {
                return Err(header(&format!(
                    "content type is the CoAP number {}; give the media type as text",
                    a.to_i64()
                )));
            }
            None => return Err(header("no content type (3)")),
        };
        let Some(Value::Map(claims)) = header_value(h, crate::cose_receipt::LABEL_CWT_CLAIMS) else {
            return Err(header("no CWT claims (15) map: its iss names the submitter"));
        };
        let text = |k: i64, name: &str| -> Result<Option<String>, StatementError> {
            match map_get(claims, k) {
                None => Ok(None),
                Some(Value::Text(t)) => Ok(Some(t.clone())),
                Some(_) => Err(header(&format!("CWT claim {name} is not text"))),
            }
        };
        let issuer = text(crate::cose_receipt::CWT_ISS, "iss")?.ok_or_else(|| header("no CWT iss"))?;
        let subject = text(crate::cose_receipt::CWT_SUB, "sub")?;
        let audience = text(CWT_AUD, "aud")?;
        let issued_at = match map_get(claims, crate::cose_receipt::CWT_IAT) {
            None => None,
            Some(v) => Some(
                int(v)
                    .and_then(|x| i64::try_from(x).ok())
                    .ok_or_else(|| header("CWT iat is not an integer"))?,
            ),
        };
        let kid = h.key_id.clone();
        let Some(payload) = s.payload.clone() else {
            return Err(StatementError::Detached);
        };
        let signature: [u8; 64] = s
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| StatementError::Signature(s.signature.len()))?;
        let protected = match &s.protected.original_data {
            Some(p) => p.clone(),
            None => return Err(header("not a bstr-wrapped protected header")),
        };
        s.unprotected = coset::Header::default();
        let logged = s.to_tagged_vec().map_err(|e| StatementError::Cbor(e.to_string()))?;
        Ok(Self {
            bytes: logged,
            protected,
            kid,
            issuer,
            subject,
            audience,
            issued_at,
            content_type,
            payload,
            signature,
            receipts,
        })
    }

    /// Parses a statement in its logged form: as [`SignedStatement::parse`],
    /// and the bytes are exactly what the log writes.
    ///
    /// # Errors
    /// Any [`StatementError`].
    pub fn parse_logged(bytes: &[u8]) -> Result<Self, StatementError> {
        let s = Self::parse(bytes)?;
        if s.bytes != bytes {
            return Err(StatementError::NotLogged);
        }
        Ok(s)
    }

    /// The bytes the signature covers.
    #[must_use]
    pub fn signing_message(&self) -> Vec<u8> {
        sig_structure(&self.protected, &self.payload)
    }

    /// Whether the signature verifies under `key` and `kid` is that key's
    /// ID.
    #[must_use]
    pub fn verify(&self, key: &VerifierKey) -> bool {
        self.kid == key.key_id().to_be_bytes() && key.verify_raw(&self.signing_message(), &self.signature)
    }

    /// The transparent statement: the logged form with `receipts` in its
    /// unprotected header (394).
    ///
    /// # Errors
    /// [`StatementError::Cbor`] if the logged bytes do not parse (they do
    /// for a parsed statement).
    pub fn transparent(&self, receipts: &[Vec<u8>]) -> Result<Vec<u8>, StatementError> {
        let mut s = CoseSign1::from_tagged_slice(&self.bytes).map_err(|e| StatementError::Cbor(e.to_string()))?;
        s.unprotected.rest = vec![(
            Label::Int(LABEL_RECEIPTS),
            Value::Array(receipts.iter().map(|r| Value::Bytes(r.clone())).collect()),
        )];
        s.to_tagged_vec().map_err(|e| StatementError::Cbor(e.to_string()))
    }
}

/// The provisioning event a statement of [`EVENT_CONTENT_TYPE`] carries:
/// its payload must be an event's RFC 8785 canonical JSON, exactly.
///
/// # Errors
/// [`crate::leaf::LeafError::Schema`] for another content type or a
/// payload that is not canonical JSON, [`crate::leaf::LeafError::Event`]
/// for an event that breaks the schema.
pub fn event_payload(s: &SignedStatement) -> Result<crate::event::CanonicalEvent, crate::leaf::LeafError> {
    use crate::leaf::LeafError;
    if s.content_type != EVENT_CONTENT_TYPE {
        return Err(LeafError::Schema(format!(
            "content type {:?}: a statement's payload is an event ({EVENT_CONTENT_TYPE})",
            s.content_type
        )));
    }
    let v = crate::json::parse_strict(&s.payload).map_err(|e| LeafError::Schema(format!("payload: {e}")))?;
    let event = crate::event::CanonicalEvent::from_value(&v)?;
    if event.jcs != s.payload {
        return Err(LeafError::Schema(
            "payload: the event is not in RFC 8785 canonical form (sign its canonical bytes)".into(),
        ));
    }
    Ok(event)
}

/// How a statement leaf starts: its statement's base64 follows.
const LEAF_PREFIX: &[u8] = b"{\"cose_sign1\":\"";

/// The frame of a statement's leaf: the leaf with its `cose_sign1` value
/// emptied (`{"cose_sign1":"","kind":"statement","logged_at":…}`), which
/// [`leaf_from_frame`] fills in again from the statement. `None` for any
/// other leaf.
#[must_use]
pub fn leaf_frame(entry: &[u8]) -> Option<String> {
    let rest = entry.strip_prefix(LEAF_PREFIX)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let mut f = LEAF_PREFIX.to_vec();
    f.extend_from_slice(rest.get(end..)?);
    String::from_utf8(f).ok()
}

/// The leaf of `statement` (its logged form) in the frame `frame`. The
/// result is only a candidate: the receipt's proof decides whether the log
/// holds it, and [`crate::leaf::Leaf::parse`] whether it is well formed.
///
/// # Errors
/// [`StatementError::NotLogged`] if `frame` is not a statement leaf's.
pub fn leaf_from_frame(frame: &str, statement: &[u8]) -> Result<Vec<u8>, StatementError> {
    let rest = frame
        .as_bytes()
        .strip_prefix(LEAF_PREFIX)
        .filter(|r| r.starts_with(b"\",\"kind\":\"statement\","))
        .ok_or(StatementError::NotLogged)?;
    let b = provlog_tlog::b64::encode(statement);
    let mut out = Vec::with_capacity(frame.len() + b.len());
    out.extend_from_slice(LEAF_PREFIX);
    out.extend_from_slice(b.as_bytes());
    out.extend_from_slice(rest);
    Ok(out)
}

/// What a verified transparent statement proves.
#[derive(Debug, Clone)]
pub struct VerifiedTransparent {
    /// The statement (logged form).
    pub statement: SignedStatement,
    /// The leaf the log holds for it.
    pub leaf: Vec<u8>,
    /// What the (first) receipt proves for that leaf.
    pub receipt: crate::cose_receipt::VerifiedCoseReceipt,
}

/// Why a transparent statement does not verify.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransparentError {
    /// The statement is not one the log registers.
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// It carries no receipt.
    #[error("no receipt in the unprotected header (394): a signed statement, not a transparent one")]
    NoReceipt,
    /// The statement's signature does not verify under the submitter's key.
    #[error("the statement's signature does not verify under the submitter's key (or its kid is another key's)")]
    StatementSignature,
    /// The receipt carries no leaf frame.
    #[error("the receipt carries no leaf frame ({LABEL_LEAF_FRAME:?}): it is not a provlog statement receipt")]
    NoFrame,
    /// The receipt does not prove the leaf.
    #[error("receipt: {0}")]
    Receipt(#[from] crate::cose_receipt::CoseReceiptError),
    /// The rebuilt leaf is not a well-formed statement leaf for it.
    #[error("the leaf the receipt frames is not this statement's: {0}")]
    Leaf(String),
}

/// Verifies a transparent statement offline: the statement's signature
/// under its submitter's key `submitter`, and its first receipt under the
/// log's key for the receipt's tree size (`log`, as
/// [`crate::cose_receipt::verify_with_keys`] takes it) for the leaf rebuilt from the receipt's frame and the
/// statement (which must parse as a statement leaf of that statement and
/// issuer).
///
/// # Errors
/// Which check fails, as a [`TransparentError`].
pub fn verify_transparent<'k>(
    bytes: &[u8],
    submitter: &VerifierKey,
    log: impl FnOnce(u64) -> &'k VerifierKey,
) -> Result<VerifiedTransparent, TransparentError> {
    let statement = SignedStatement::parse(bytes)?;
    let receipt = statement.receipts.first().ok_or(TransparentError::NoReceipt)?.clone();
    if !statement.verify(submitter) {
        return Err(TransparentError::StatementSignature);
    }
    let r = crate::cose_receipt::parse_sign1(&receipt)?;
    let frame = r
        .unprotected
        .rest
        .iter()
        .find(|(l, _)| *l == Label::Text(LABEL_LEAF_FRAME.into()))
        .and_then(|(_, v)| v.as_text())
        .ok_or(TransparentError::NoFrame)?;
    let leaf = leaf_from_frame(frame, &statement.bytes)?;
    let verified = crate::cose_receipt::verify_with_keys(&receipt, &provlog_tlog::merkle::leaf_hash(&leaf), log)?;
    match crate::leaf::Leaf::parse(&leaf) {
        Ok(crate::leaf::Leaf::Event(e)) if e.statement.as_ref().is_some_and(|s| s.bytes == statement.bytes) => {}
        Ok(_) => return Err(TransparentError::Leaf("not a statement leaf".into())),
        Err(e) => return Err(TransparentError::Leaf(e.to_string())),
    }
    Ok(VerifiedTransparent {
        statement,
        leaf,
        receipt: verified,
    })
}

/// What [`sign`] puts in a statement besides the payload.
#[derive(Debug, Clone, Default)]
pub struct StatementClaims {
    /// The content type.
    pub content_type: String,
    /// The CWT `iss`: the submitter's id.
    pub issuer: String,
    /// The CWT `sub`.
    pub subject: Option<String>,
    /// The CWT `aud`.
    pub audience: Option<String>,
    /// The CWT `iat` (Unix seconds).
    pub issued_at: Option<i64>,
}

/// Signs `payload` as a statement with the submitter's `signer` (kid = its
/// key ID), tagged, unprotected header empty.
///
/// # Errors
/// [`StatementError::Cbor`] if encoding fails (it does not for these
/// values).
pub fn sign(payload: &[u8], claims: &StatementClaims, signer: &SignerKey) -> Result<Vec<u8>, StatementError> {
    let mut cwt = vec![(
        Value::from(crate::cose_receipt::CWT_ISS),
        Value::Text(claims.issuer.clone()),
    )];
    if let Some(s) = &claims.subject {
        cwt.push((Value::from(crate::cose_receipt::CWT_SUB), Value::Text(s.clone())));
    }
    if let Some(a) = &claims.audience {
        cwt.push((Value::from(CWT_AUD), Value::Text(a.clone())));
    }
    if let Some(t) = claims.issued_at {
        cwt.push((Value::from(crate::cose_receipt::CWT_IAT), Value::from(t)));
    }
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(signer.key_id().to_be_bytes().to_vec())
        .content_type(claims.content_type.clone())
        .value(crate::cose_receipt::LABEL_CWT_CLAIMS, Value::Map(cwt))
        .build();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload.to_vec())
        .create_signature(b"", |tbs| signer.sign_raw(tbs).to_vec())
        .build()
        .to_tagged_vec()
        .map_err(|e| StatementError::Cbor(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use provlog_tlog::keys::ALG_ED25519;

    fn key() -> SignerKey {
        SignerKey::from_seed("ci", ALG_ED25519, [3; 32]).expect("key")
    }

    fn claims() -> StatementClaims {
        StatementClaims {
            content_type: EVENT_CONTENT_TYPE.into(),
            issuer: "ci".into(),
            subject: Some("svc".into()),
            audience: None,
            issued_at: Some(1_800_000_000),
        }
    }

    fn with_unprotected(bytes: &[u8], rest: Vec<(Label, Value)>) -> Vec<u8> {
        let mut s = CoseSign1::from_tagged_slice(bytes).expect("parse");
        s.unprotected.rest = rest;
        s.to_tagged_vec().expect("encode")
    }

    #[test]
    fn a_signed_statement_parses_verifies_and_is_its_own_logged_form() {
        let k = key();
        let b = sign(b"{\"a\":1}", &claims(), &k).expect("sign");
        let s = SignedStatement::parse_logged(&b).expect("parse");
        assert_eq!(s.issuer, "ci");
        assert_eq!(s.subject.as_deref(), Some("svc"));
        assert_eq!(s.issued_at, Some(1_800_000_000));
        assert_eq!(s.content_type, EVENT_CONTENT_TYPE);
        assert_eq!(s.payload, b"{\"a\":1}");
        assert!(s.verify(&k.verifier()));
        let other = SignerKey::from_seed("ci", ALG_ED25519, [4; 32]).expect("key");
        assert!(!s.verify(&other.verifier()));
    }

    #[test]
    fn the_unprotected_header_is_cleared_and_claims_in_it_are_refused() {
        let k = key();
        let b = sign(b"x", &claims(), &k).expect("sign");
        let noisy = with_unprotected(
            &b,
            vec![
                (Label::Int(LABEL_RECEIPTS), Value::Array(vec![Value::Bytes(vec![1, 2])])),
                (Label::Int(-70_000), Value::Text("note".into())),
            ],
        );
        let s = SignedStatement::parse(&noisy).expect("parse");
        assert_eq!(s.bytes, b);
        assert_eq!(s.receipts, vec![vec![1, 2]]);
        assert_eq!(SignedStatement::parse_logged(&noisy), Err(StatementError::NotLogged));
        for label in READ_LABELS {
            // Each with a value of the type its label takes.
            let value = match label {
                1 => Value::from(-8),
                2 => Value::Array(vec![Value::from(1)]),
                4 => Value::Bytes(vec![1, 2, 3, 4]),
                15 => Value::Map(vec![(Value::from(1), Value::Text("ops".into()))]),
                _ => Value::Text("text/plain".into()),
            };
            let smuggled = with_unprotected(&b, vec![(Label::Int(label), value)]);
            assert_eq!(
                SignedStatement::parse(&smuggled),
                Err(StatementError::Smuggled(label)),
                "{label}"
            );
        }
        let t = s.transparent(&[vec![9]]).expect("transparent");
        let back = SignedStatement::parse(&t).expect("parse");
        assert_eq!((back.bytes, back.receipts), (b, vec![vec![9]]));
    }

    #[test]
    fn untagged_detached_unknown_alg_and_garbage_are_refused() {
        let k = key();
        let b = sign(b"x", &claims(), &k).expect("sign");
        let s = CoseSign1::from_tagged_slice(&b).expect("parse");
        let untagged = coset::CborSerializable::to_vec(s.clone()).expect("encode");
        assert_eq!(SignedStatement::parse(&untagged), Err(StatementError::Untagged));
        let mut detached = s.clone();
        detached.payload = None;
        assert_eq!(
            SignedStatement::parse(&detached.to_tagged_vec().expect("encode")),
            Err(StatementError::Detached)
        );
        let es256 = CoseSign1Builder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(iana::Algorithm::ES256)
                    .key_id(vec![1])
                    .build(),
            )
            .payload(b"x".to_vec())
            .signature(vec![0; 64])
            .build()
            .to_tagged_vec()
            .expect("encode");
        assert!(matches!(SignedStatement::parse(&es256), Err(StatementError::Alg(_))));
        assert!(matches!(
            SignedStatement::parse(b"\xd2\x84\x40"),
            Err(StatementError::Cbor(_))
        ));
        assert!(matches!(SignedStatement::parse(b"{}"), Err(StatementError::Cbor(_))));
        let no_iss = CoseSign1Builder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(iana::Algorithm::EdDSA)
                    .key_id(vec![1])
                    .content_type("text/plain".into())
                    .build(),
            )
            .payload(b"x".to_vec())
            .signature(vec![0; 64])
            .build()
            .to_tagged_vec()
            .expect("encode");
        assert!(matches!(
            SignedStatement::parse(&no_iss),
            Err(StatementError::Header(_))
        ));
    }

    /// `testdata/vectors/scitt_v1.json`, computed by `scitt_v1.py` with
    /// `cbor2` and OpenSSL's Ed25519: provlog signs the same statement,
    /// logs the same form and leaf, frames it the same way, signs the same
    /// receipt and writes the same transparent statement, byte for byte;
    /// and the vector verifies.
    #[test]
    fn scitt_v1_vectors() {
        use provlog_tlog::merkle;
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../testdata/vectors/scitt_v1.json")).expect("json");
        let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k}")).to_owned();
        let hex = |k: &str| provlog_tlog::hex::decode(&s(k)).expect("hex");
        let submitter: SignerKey = s("submitter_skey").parse().expect("skey");
        let log: SignerKey = s("log_skey").parse().expect("skey");
        assert_eq!(submitter.verifier().to_vkey_string(), s("submitter_vkey"));
        assert_eq!(log.verifier().to_vkey_string(), s("log_vkey"));
        assert_eq!(log.key_id().to_be_bytes().to_vec(), hex("log_kid_hex"));
        let payload = crate::json::canonical(&v["event"]).expect("jcs");
        assert_eq!(payload, hex("payload_hex"));
        let claims = StatementClaims {
            content_type: EVENT_CONTENT_TYPE.into(),
            issuer: "ci".into(),
            subject: Some("svc-payments".into()),
            audience: Some(s("origin")),
            issued_at: v["statement_iat"].as_i64(),
        };
        let signed = sign(&payload, &claims, &submitter).expect("sign");
        assert_eq!(signed, hex("statement_logged_hex"), "the statement as signed here");
        // What a client sent, with a label the log drops, logs as the same.
        let sent = SignedStatement::parse(&hex("statement_sent_hex")).expect("parse");
        assert_eq!(sent.bytes, hex("statement_logged_hex"));
        assert_eq!(sent.protected, hex("statement_protected_hex"));
        assert_eq!(sent.signing_message(), hex("statement_sig_structure_hex"));
        assert!(sent.verify(&submitter.verifier()));
        assert_eq!(crate::statement::event_payload(&sent).expect("event").jcs, payload);
        let leaf = crate::leaf::EventLeafTemplate::statement(&sent).render(&s("logged_at"));
        assert_eq!(leaf, s("leaf").into_bytes());
        assert_eq!(leaf_frame(&leaf).as_deref(), Some(s("frame").as_str()));
        assert_eq!(leaf_from_frame(&s("frame"), &sent.bytes).expect("leaf"), leaf);
        assert_eq!(merkle::leaf_hash(&leaf).to_vec(), hex("leaf_hash_hex"));
        // The tree, its root and the path of entry 2.
        let entries: Vec<Vec<u8>> = v["tree_entries_hex"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| provlog_tlog::hex::decode(e.as_str().expect("hex")).expect("hex"))
            .collect();
        assert_eq!(entries[2], leaf);
        let h: Vec<merkle::Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let root = merkle::node_hash(&merkle::node_hash(&h[0], &h[1]), &merkle::node_hash(&h[2], &h[3]));
        assert_eq!(root.to_vec(), hex("root_hex"));
        let path: Vec<merkle::Hash> = v["inclusion_path_hex"]
            .as_array()
            .expect("path")
            .iter()
            .map(|p| {
                merkle::Hash::try_from(
                    provlog_tlog::hex::decode(p.as_str().expect("hex"))
                        .expect("hex")
                        .as_slice(),
                )
                .expect("32")
            })
            .collect();
        assert_eq!(path, vec![h[3], merkle::node_hash(&h[0], &h[1])]);
        let head = crate::cose_receipt::TreeHeadSignature::sign(&log, 4, root, v["receipt_iat"].as_i64().expect("iat"));
        let receipt = head.receipt_with_frame(2, &path, Some(&s("frame"))).expect("receipt");
        assert_eq!(receipt, hex("receipt_hex"), "the receipt as signed here");
        let r = crate::cose_receipt::verify(&receipt, &leaf, &log.verifier()).expect("verifies");
        assert_eq!((r.index, r.size, r.root), (2, 4, root));
        let ts = sent.transparent(std::slice::from_ref(&receipt)).expect("transparent");
        assert_eq!(ts, hex("transparent_statement_hex"));
        let lv = log.verifier();
        let t = verify_transparent(&ts, &submitter.verifier(), |_| &lv).expect("verifies");
        assert_eq!(t.leaf, leaf);
    }
}
