//! How a presented credential becomes the fingerprint the log knows it by
//! (docs/GATE.md "Mapping a credential to its fingerprint"). Pure: no I/O.
//!
//! A route names the request header that carries the credential and one
//! [`Mapping`]:
//!
//! * `token`: SHA-256 of the header value's bytes (an API key header);
//! * `bearer`: SHA-256 of the token after `Bearer ` (RFC 6750, the scheme
//!   matched case-insensitively);
//! * `cert-der`: SHA-256 of the client certificate's DER;
//! * `cert-spki`: SHA-256 of the certificate's DER `SubjectPublicKeyInfo`
//!   (stays the same across a re-issue with the same key);
//! * `fingerprint`: the header already carries it, `sha256:<64 hex>` or 64
//!   bare hex digits (either case).
//!
//! A certificate arrives as PEM, as URL-escaped PEM (nginx's
//! `$ssl_client_escaped_cert`), or as an Envoy `x-forwarded-client-cert`
//! element whose `Cert="…"` is URL-escaped PEM; exactly one certificate.

use provlog_tlog::merkle::{Hash, sha256};

/// How a route turns the credential header into a fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mapping {
    /// SHA-256 of the header value (an API key).
    Token,
    /// SHA-256 of the token after `Bearer `.
    Bearer,
    /// SHA-256 of the client certificate's DER.
    CertDer,
    /// SHA-256 of the client certificate's `SubjectPublicKeyInfo` DER.
    CertSpki,
    /// The header carries the fingerprint itself.
    Fingerprint,
}

impl Mapping {
    /// The name used in configuration and docs.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Bearer => "bearer",
            Self::CertDer => "cert-der",
            Self::CertSpki => "cert-spki",
            Self::Fingerprint => "fingerprint",
        }
    }
}

/// Why no fingerprint could be taken from a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresentedError {
    /// The header is absent or empty.
    #[error("no credential in the {0} header")]
    Missing(String),
    /// The header holds something the route's mapping cannot read.
    #[error("the {header} header is not a {mapping} credential: {why}")]
    Malformed {
        /// The header.
        header: String,
        /// The route's mapping.
        mapping: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

/// The longest header value read (a certificate chain in PEM, escaped, is
/// a few KiB; nginx and Envoy cap headers at 8–60 KiB).
pub const MAX_VALUE: usize = 32 * 1024;

/// The fingerprint (as its 32 bytes) of the credential `value` carried in
/// `header`, under `mapping`.
///
/// # Errors
/// [`PresentedError`]: an empty value, or one the mapping cannot read.
pub fn fingerprint(mapping: Mapping, header: &str, value: &[u8]) -> Result<Hash, PresentedError> {
    let bad = |why: String| PresentedError::Malformed {
        header: header.to_owned(),
        mapping: mapping.name(),
        why,
    };
    if value.is_empty() {
        return Err(PresentedError::Missing(header.to_owned()));
    }
    if value.len() > MAX_VALUE {
        return Err(bad(format!("{} bytes, over the {MAX_VALUE} read", value.len())));
    }
    match mapping {
        Mapping::Token => Ok(sha256(&[value])),
        Mapping::Bearer => {
            let scheme = value.get(..7).filter(|s| s.eq_ignore_ascii_case(b"bearer "));
            let token = scheme
                .map(|_| trim(&value[7..]))
                .ok_or_else(|| bad("it does not start with \"Bearer \"".into()))?;
            if token.is_empty() {
                return Err(bad("the bearer token is empty".into()));
            }
            if token.iter().any(u8::is_ascii_whitespace) {
                return Err(bad("the bearer token holds whitespace".into()));
            }
            Ok(sha256(&[token]))
        }
        Mapping::CertDer => certificate_der(value).map(|der| sha256(&[&der])).map_err(bad),
        Mapping::CertSpki => {
            let der = certificate_der(value).map_err(bad)?;
            spki_der(&der).map(|spki| sha256(&[&spki])).map_err(bad)
        }
        Mapping::Fingerprint => given(value).map_err(bad),
    }
}

/// `value` without leading and trailing spaces and tabs.
fn trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |e| e + 1);
    &value[start..end]
}

/// A fingerprint given as `sha256:<64 hex>` or 64 hex digits.
fn given(value: &[u8]) -> Result<Hash, String> {
    let v = trim(value);
    let hex = v.strip_prefix(b"sha256:").unwrap_or(v);
    if hex.len() != 64 {
        return Err(format!("expected sha256:<64 hex digits>, got {} bytes", v.len()));
    }
    let lower: Vec<u8> = hex.to_ascii_lowercase();
    let text = std::str::from_utf8(&lower).map_err(|_| "not ASCII".to_owned())?;
    provlog_tlog::hex::decode_hash(text).ok_or_else(|| "not hex".to_owned())
}

/// The DER of the one certificate in `value`: PEM, URL-escaped PEM, or an
/// Envoy XFCC element with `Cert="…"`.
fn certificate_der(value: &[u8]) -> Result<Vec<u8>, String> {
    let v = trim(value);
    let pem: Vec<u8> = if v.starts_with(b"-----BEGIN") {
        v.to_vec()
    } else if v.starts_with(b"-----BEGIN%20") || v.starts_with(b"%2D") || v.starts_with(b"%2d") {
        percent_encoding::percent_decode(v).collect()
    } else if let Some(cert) = xfcc_cert(v)? {
        percent_encoding::percent_decode(cert).collect()
    } else {
        return Err("not PEM, URL-escaped PEM, or an x-forwarded-client-cert element with Cert=".into());
    };
    let text = std::str::from_utf8(&pem).map_err(|_| "the PEM is not text".to_owned())?;
    let blocks = text.matches("-----BEGIN ").count();
    if blocks != 1 {
        return Err(format!("{blocks} PEM blocks, expected one certificate"));
    }
    let (label, der) = der_from_pem(text)?;
    if label != "CERTIFICATE" {
        return Err(format!("a PEM {label:?} block, not a CERTIFICATE"));
    }
    // Parse it: a fingerprint of something that is not a certificate
    // would match nothing, but the reason belongs in the answer.
    spki_der(&der)?;
    Ok(der)
}

/// The label and bytes of a single PEM block.
fn der_from_pem(text: &str) -> Result<(String, Vec<u8>), String> {
    use x509_cert::der::pem;
    let (label, der) = pem::decode_vec(text.trim().as_bytes()).map_err(|e| format!("PEM: {e}"))?;
    Ok((label.to_owned(), der))
}

/// The `Cert="…"` value of the single element of an Envoy
/// `x-forwarded-client-cert` header; `None` if it has no `Cert` key.
fn xfcc_cert(v: &[u8]) -> Result<Option<&[u8]>, String> {
    let text = std::str::from_utf8(v).map_err(|_| "not text".to_owned())?;
    // Elements are separated by commas outside quotes; pairs by
    // semicolons; values may be quoted.
    let mut elements = 1;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => elements += 1,
            _ => {}
        }
    }
    let mut cert = None;
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| "an XFCC pair without '='".to_owned())?;
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q
                .find('"')
                .ok_or_else(|| "an unterminated quoted XFCC value".to_owned())?;
            (&q[..end], q[end + 1..].trim_start_matches([';', ',']))
        } else {
            let end = after.find([';', ',']).unwrap_or(after.len());
            (&after[..end], after[end..].trim_start_matches([';', ',']))
        };
        if key.trim().eq_ignore_ascii_case("cert") {
            if cert.is_some() {
                return Err("several Cert= values (one client certificate expected)".into());
            }
            cert = Some(val.as_bytes());
        }
        rest = next;
    }
    if cert.is_some() && elements > 1 {
        return Err(format!(
            "{elements} x-forwarded-client-cert elements (one expected: have the proxy set, not append, the header)"
        ));
    }
    Ok(cert)
}

/// The DER of the certificate's `SubjectPublicKeyInfo`.
fn spki_der(der: &[u8]) -> Result<Vec<u8>, String> {
    use x509_cert::der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    cert.tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("SubjectPublicKeyInfo: {e}"))
}

/// The fingerprint as the log writes it, `sha256:<64 lowercase hex>`.
#[must_use]
pub fn display(fp: &Hash) -> String {
    format!("sha256:{}", provlog_tlog::hex::encode(fp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn token_and_bearer_hash_the_token_bytes() {
        let want = sha256(&[b"k-123"]);
        assert_eq!(fingerprint(Mapping::Token, "x-api-key", b"k-123"), Ok(want));
        assert_eq!(fingerprint(Mapping::Bearer, "authorization", b"Bearer k-123"), Ok(want));
        assert_eq!(
            fingerprint(Mapping::Bearer, "authorization", b"bearer  k-123 "),
            Ok(want)
        );
        assert!(matches!(
            fingerprint(Mapping::Bearer, "authorization", b"Basic a2V5"),
            Err(PresentedError::Malformed { .. })
        ));
        assert!(matches!(
            fingerprint(Mapping::Bearer, "authorization", b"Bearer "),
            Err(PresentedError::Malformed { .. })
        ));
        assert_eq!(
            fingerprint(Mapping::Token, "x-api-key", b""),
            Err(PresentedError::Missing("x-api-key".into()))
        );
    }

    #[test]
    fn a_given_fingerprint_is_read_in_either_form_and_case() {
        let fp = [0xab; 32];
        let hex = "ab".repeat(32);
        for v in [format!("sha256:{hex}"), hex.to_uppercase(), format!(" {hex} ")] {
            assert_eq!(fingerprint(Mapping::Fingerprint, "h", v.as_bytes()), Ok(fp), "{v}");
        }
        for v in ["sha256:ab", "sha1:00", &"zz".repeat(32)] {
            assert!(fingerprint(Mapping::Fingerprint, "h", v.as_bytes()).is_err(), "{v}");
        }
    }

    #[test]
    fn xfcc_takes_the_one_cert() {
        assert_eq!(
            xfcc_cert(br#"By=spiffe://a;Hash=00;Cert="%2D%2D";Subject="CN=x,O=y""#),
            Ok(Some(&b"%2D%2D"[..]))
        );
        assert_eq!(xfcc_cert(b"By=spiffe://a;Hash=00"), Ok(None));
        assert!(xfcc_cert(br#"Cert="a",Cert="b""#).is_err());
        assert!(xfcc_cert(br#"Cert="a"#).is_err());
    }

    proptest! {
        /// Nothing a client sends panics, and an accepted token maps to
        /// the hash of exactly its bytes.
        #[test]
        fn any_value_maps_or_is_refused(v in proptest::collection::vec(any::<u8>(), 0..300)) {
            for m in [Mapping::Token, Mapping::Bearer, Mapping::CertDer, Mapping::CertSpki, Mapping::Fingerprint] {
                let _ = fingerprint(m, "h", &v);
            }
            if !v.is_empty() {
                prop_assert_eq!(fingerprint(Mapping::Token, "h", &v), Ok(sha256(&[&v])));
            }
        }
    }
}
