//! C2SP signed-note Ed25519 keys (docs/SPECS.md §2.3–§2.6, §6.1).
//!
//! * A key is identified by its **name** and its **key ID**:
//!   `key_id = SHA-256(name || 0x0A || type_byte || public_key)[:4]`, read
//!   big-endian ([`key_id`]).
//! * Two Ed25519 signature types are supported: [`ALG_ED25519`] (0x01,
//!   plain signed-note signatures over the note text) and
//!   [`ALG_COSIGNATURE_V1`] (0x04, timestamped checkpoint cosignatures). The
//!   same Ed25519 key has a different key ID under each type. Verifier keys
//!   may also be ML-DSA-44 `subtree/v1` cosigner keys (0x06,
//!   [`crate::mldsa`], whose signer is [`crate::mldsa::MlDsaSigner`]).
//! * Verifier keys use the C2SP vkey encoding
//!   `<name>+<8 lowercase hex key ID>+<b64(type || public key)>`; signer keys
//!   use Go's `PRIVATE+KEY+<name>+<key ID>+<b64(type || seed)>` convention.
//!   Parsing splits at the first two (vkey) or four (skey) `+` only, and
//!   checks every field, including that the key ID matches the key.
//!
//! Nothing here does I/O or draws randomness: keys are built from a 32-byte
//! seed the caller supplies.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::b64;
use crate::merkle::sha256;

/// Signature type byte of a plain Ed25519 signed-note signature over the
/// note text (C2SP signed-note).
pub const ALG_ED25519: u8 = 0x01;

/// Signature type byte of a timestamped Ed25519 checkpoint cosignature,
/// "cosignature/v1" (C2SP tlog-cosignature).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Longest key name accepted, in bytes (docs/SPECS.md §2.3 / §8.13).
pub const MAX_KEY_NAME_BYTES: usize = 255;

/// Length of an Ed25519 public key or seed, in bytes.
pub const ED25519_KEY_LEN: usize = 32;

/// Length of an Ed25519 signature, in bytes.
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// Why a key name, vkey or skey was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key name is the empty string.
    #[error("key name is empty")]
    EmptyName,
    /// The key name is longer than [`MAX_KEY_NAME_BYTES`].
    #[error("key name is {0} bytes long, more than 255")]
    NameTooLong(usize),
    /// The key name contains a Unicode white-space character.
    #[error("key name contains white space")]
    NameHasWhitespace,
    /// The key name contains `+`.
    #[error("key name contains '+'")]
    NameHasPlus,
    /// The key name contains a control character below U+0020 (such a name
    /// can never appear in a valid signed note).
    #[error("key name contains a control character")]
    NameHasControl,
    /// The vkey does not have three `+`-separated fields.
    #[error("vkey is not of the form <name>+<key id>+<key data>")]
    VkeyFormat,
    /// The skey does not have the form `PRIVATE+KEY+<name>+<key id>+<data>`.
    #[error("skey is not of the form PRIVATE+KEY+<name>+<key id>+<key data>")]
    SkeyFormat,
    /// The key ID field is not exactly 8 lowercase hexadecimal digits.
    #[error("key id is not 8 lowercase hex digits")]
    KeyIdFormat,
    /// The key data field is not canonical standard base64.
    #[error("key data is not valid base64")]
    KeyDataBase64,
    /// The key data is empty (no signature type byte).
    #[error("key data is empty")]
    KeyDataEmpty,
    /// The signature type byte is not 0x01 or 0x04.
    #[error("unsupported signature type 0x{0:02x}")]
    UnsupportedAlg(u8),
    /// The key material after the type byte has the wrong length (32 bytes
    /// for Ed25519, 1312 for an ML-DSA-44 public key).
    #[error("key material is {0} bytes, not the length its signature type needs")]
    KeyLength(usize),
    /// The 32 bytes are not a valid Ed25519 public key.
    #[error("public key is not a valid ed25519 point")]
    InvalidPublicKey,
    /// The key ID stated in the encoding differs from the computed one.
    #[error("key id {stated:08x} does not match the key (computed {computed:08x})")]
    KeyIdMismatch {
        /// The key ID written in the encoding.
        stated: u32,
        /// The key ID computed from name, type byte and public key.
        computed: u32,
    },
}

/// Computes a signed-note key ID: the first four bytes, big-endian, of
/// `SHA-256(name || 0x0A || alg || public_key)`.
///
/// This is the formula of docs/SPECS.md §2.4 for any type byte; it does not
/// validate its inputs.
#[must_use]
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let [a, b, c, d, ..] = sha256(&[name.as_bytes(), b"\n", &[alg], public_key]);
    u32::from_be_bytes([a, b, c, d])
}

/// Checks the signed-note key-name rules: non-empty, at most 255 bytes, no
/// Unicode white space, no `+`, and (so the name can appear in a note) no
/// control character below U+0020.
///
/// # Errors
/// Returns the first rule the name breaks.
pub fn check_key_name(name: &str) -> Result<(), KeyError> {
    if name.is_empty() {
        return Err(KeyError::EmptyName);
    }
    if name.len() > MAX_KEY_NAME_BYTES {
        return Err(KeyError::NameTooLong(name.len()));
    }
    for c in name.chars() {
        if c.is_whitespace() {
            return Err(KeyError::NameHasWhitespace);
        }
        if c == '+' {
            return Err(KeyError::NameHasPlus);
        }
        if c < '\u{20}' {
            return Err(KeyError::NameHasControl);
        }
    }
    Ok(())
}

fn check_alg(alg: u8) -> Result<(), KeyError> {
    match alg {
        ALG_ED25519 | ALG_COSIGNATURE_V1 => Ok(()),
        other => Err(KeyError::UnsupportedAlg(other)),
    }
}

/// Parses exactly 8 lowercase hexadecimal digits.
fn parse_key_id_hex(s: &str) -> Result<u32, KeyError> {
    if s.len() != 8 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(KeyError::KeyIdFormat);
    }
    u32::from_str_radix(s, 16).map_err(|_| KeyError::KeyIdFormat)
}

/// Splits `PRIVATE+KEY+<name>+<8 hex key ID>+<b64(type || material)>` at
/// its first four `+`: the checked name, the stated key ID, the type byte
/// and the material (whose length and type the caller checks).
pub(crate) fn split_skey(skey: &str) -> Result<(&str, u32, u8, Vec<u8>), KeyError> {
    let mut parts = skey.splitn(5, '+');
    let (Some("PRIVATE"), Some("KEY"), Some(name), Some(id), Some(data)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(KeyError::SkeyFormat);
    };
    check_key_name(name)?;
    let stated = parse_key_id_hex(id)?;
    let (alg, material) = decode_any_key_data(data)?;
    Ok((name, stated, alg, material))
}

/// Decodes `b64(alg || key material)` into the type byte and the material.
fn decode_any_key_data(data: &str) -> Result<(u8, Vec<u8>), KeyError> {
    let mut bytes = b64::decode(data).map_err(|_| KeyError::KeyDataBase64)?;
    if bytes.is_empty() {
        return Err(KeyError::KeyDataEmpty);
    }
    let alg = bytes.remove(0);
    Ok((alg, bytes))
}

/// An Ed25519 signing key with its signed-note identity.
///
/// Guarantees: the name passes [`check_key_name`], the type byte is
/// [`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`], and the key ID is the one
/// computed from name, type and the public key. `Debug` never prints the
/// seed, and there is deliberately no `Display`: the only way to get the
/// secret out is [`SignerKey::to_skey_string`].
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    alg: u8,
    key: SigningKey,
    key_id: u32,
}

impl SignerKey {
    /// Builds a signer from a key name, a type byte (0x01 or 0x04) and a
    /// 32-byte Ed25519 seed (RFC 8032 private key).
    ///
    /// # Errors
    /// [`KeyError`] if the name is invalid or the type is unsupported.
    pub fn from_seed(name: &str, alg: u8, seed: [u8; ED25519_KEY_LEN]) -> Result<Self, KeyError> {
        check_key_name(name)?;
        check_alg(alg)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, alg, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            alg,
            key,
            key_id,
        })
    }

    /// Parses Go's `PRIVATE+KEY+<name>+<8 hex key ID>+<b64(type || seed)>`.
    ///
    /// The string is split at its first four `+` only; the key ID must be
    /// 8 lowercase hex digits and equal the ID computed from the name, the
    /// type byte and the public key derived from the seed.
    ///
    /// # Errors
    /// [`KeyError`] naming the field that is wrong.
    pub fn parse(skey: &str) -> Result<Self, KeyError> {
        let (name, stated, alg, seed) = split_skey(skey)?;
        check_alg(alg)?;
        let seed: [u8; ED25519_KEY_LEN] = seed
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::KeyLength(seed.len()))?;
        let signer = Self::from_seed(name, alg, seed)?;
        if signer.key_id != stated {
            return Err(KeyError::KeyIdMismatch {
                stated,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// Renders the key as `PRIVATE+KEY+<name>+<key ID>+<b64(type || seed)>`,
    /// which [`SignerKey::parse`] accepts. The result contains the secret
    /// seed.
    #[must_use]
    pub fn to_skey_string(&self) -> String {
        let mut data = Vec::with_capacity(1 + ED25519_KEY_LEN);
        data.push(self.alg);
        data.extend_from_slice(self.key.as_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.key_id, b64::encode(&data))
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID (derived from name, type byte and public key).
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature type byte: [`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`].
    #[must_use]
    pub fn alg(&self) -> u8 {
        self.alg
    }

    /// The 32-byte Ed25519 public key.
    #[must_use]
    pub fn public_key_bytes(&self) -> [u8; ED25519_KEY_LEN] {
        self.key.verifying_key().to_bytes()
    }

    /// The matching verifier key (same name, type and key ID).
    #[must_use]
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            alg: self.alg,
            key: Material::Ed25519(self.key.verifying_key()),
        }
    }

    /// Signs `msg` with pure Ed25519 (RFC 8032) and returns the 64-byte
    /// signature. This is the raw primitive: it adds no framing, so callers
    /// decide what `msg` is (the note text, a cosignature message, ...).
    #[must_use]
    pub fn sign_raw(&self, msg: &[u8]) -> [u8; ED25519_SIGNATURE_LEN] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name)
            .field("alg", &self.alg)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl FromStr for SignerKey {
    type Err = KeyError;

    /// Same as [`SignerKey::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An Ed25519 verifier key with its signed-note identity.
///
/// Guarantees: the name passes [`check_key_name`], the type byte is
/// [`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`], the public key is a valid
/// Ed25519 point, and the key ID is the one computed from name, type and
/// public key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    alg: u8,
    key: Material,
}

/// A verifier's public key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Material {
    /// Types 0x01 and 0x04.
    Ed25519(VerifyingKey),
    /// Type 0x06: the 1312-byte ML-DSA-44 public key, checked for length
    /// (every such string decodes; a wrong one verifies nothing).
    MlDsa44(Vec<u8>),
}

impl VerifierKey {
    /// Builds a verifier from a name, a type byte and a raw 32-byte Ed25519
    /// public key; the key ID is computed.
    ///
    /// # Errors
    /// [`KeyError`] if the name is invalid, the type is unsupported or the
    /// bytes are not an Ed25519 point.
    pub fn new(name: &str, alg: u8, public_key: [u8; ED25519_KEY_LEN]) -> Result<Self, KeyError> {
        check_key_name(name)?;
        check_alg(alg)?;
        let key = VerifyingKey::from_bytes(&public_key).map_err(|_| KeyError::InvalidPublicKey)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, alg, &public_key),
            alg,
            key: Material::Ed25519(key),
        })
    }

    /// Builds an ML-DSA-44 (`subtree/v1`, type [`crate::mldsa::ALG_MLDSA44`])
    /// verifier from a name and a 1312-byte public key.
    ///
    /// # Errors
    /// [`KeyError`] if the name is invalid or the key has another length.
    pub fn new_mldsa44(name: &str, public_key: &[u8]) -> Result<Self, KeyError> {
        use crate::mldsa::{ALG_MLDSA44, MLDSA44_PUBLIC_KEY_LEN};
        check_key_name(name)?;
        if public_key.len() != MLDSA44_PUBLIC_KEY_LEN {
            return Err(KeyError::KeyLength(public_key.len()));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, ALG_MLDSA44, public_key),
            alg: ALG_MLDSA44,
            key: Material::MlDsa44(public_key.to_vec()),
        })
    }

    /// Parses a C2SP vkey `<name>+<8 lowercase hex key ID>+<b64(type || key)>`.
    ///
    /// The string is split at its first two `+` only (the base64 data may
    /// contain `+`). The type must be 0x01 or 0x04, the key 32 bytes and a
    /// valid point, and the key ID must equal the computed one.
    ///
    /// # Errors
    /// [`KeyError`] naming the field that is wrong.
    pub fn parse(vkey: &str) -> Result<Self, KeyError> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::VkeyFormat);
        };
        check_key_name(name)?;
        let stated = parse_key_id_hex(id)?;
        let (alg, material) = decode_any_key_data(data)?;
        let key = if alg == crate::mldsa::ALG_MLDSA44 {
            Self::new_mldsa44(name, &material)?
        } else {
            check_alg(alg)?;
            let public_key: [u8; ED25519_KEY_LEN] = material
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::KeyLength(material.len()))?;
            Self::new(name, alg, public_key)?
        };
        if key.key_id != stated {
            return Err(KeyError::KeyIdMismatch {
                stated,
                computed: key.key_id,
            });
        }
        Ok(key)
    }

    /// Renders the key as a C2SP vkey, which [`VerifierKey::parse`] accepts.
    #[must_use]
    pub fn to_vkey_string(&self) -> String {
        let mut data = Vec::with_capacity(1 + self.public_key().len());
        data.push(self.alg);
        data.extend_from_slice(self.public_key());
        format!("{}+{:08x}+{}", self.name, self.key_id, b64::encode(&data))
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

    /// The signature type byte: [`ALG_ED25519`], [`ALG_COSIGNATURE_V1`] or
    /// [`crate::mldsa::ALG_MLDSA44`].
    #[must_use]
    pub fn alg(&self) -> u8 {
        self.alg
    }

    /// The public key: 32 bytes for Ed25519, 1312 for ML-DSA-44.
    #[must_use]
    pub fn public_key(&self) -> &[u8] {
        match &self.key {
            Material::Ed25519(k) => k.as_bytes(),
            Material::MlDsa44(k) => k,
        }
    }

    /// Checks a raw signature over `msg`: Ed25519 with `verify_strict`
    /// (rejects non-canonical `S`, small-order `R` and small-order keys;
    /// `false` for any signature that is not exactly 64 bytes), or pure
    /// ML-DSA-44 with an empty context (`false` for any signature that is
    /// not a valid 2420-byte encoding).
    #[must_use]
    pub fn verify_raw(&self, msg: &[u8], sig: &[u8]) -> bool {
        match &self.key {
            Material::Ed25519(key) => {
                let Ok(sig) = <[u8; ED25519_SIGNATURE_LEN]>::try_from(sig) else {
                    return false;
                };
                key.verify_strict(msg, &Signature::from_bytes(&sig)).is_ok()
            }
            Material::MlDsa44(pk) => crate::mldsa::verify_raw(pk, msg, sig),
        }
    }
}

impl fmt::Display for VerifierKey {
    /// Writes the vkey encoding ([`VerifierKey::to_vkey_string`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vkey_string())
    }
}

impl FromStr for VerifierKey {
    type Err = KeyError;

    /// Same as [`VerifierKey::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn signed_note_vectors() -> Value {
        serde_json::from_str(include_str!("../../testdata/vectors/signed_note.json")).expect("signed_note.json")
    }

    fn cosig_vectors() -> Value {
        serde_json::from_str(include_str!("../../testdata/vectors/cosignature_v1.json")).expect("cosignature_v1.json")
    }

    fn witness_vectors() -> Value {
        serde_json::from_str(include_str!("../../testdata/vectors/witness_add_checkpoint.json"))
            .expect("witness_add_checkpoint.json")
    }

    fn hex(s: &str) -> Vec<u8> {
        assert!(s.len().is_multiple_of(2));
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn seed(s: &str) -> [u8; 32] {
        hex(s).try_into().expect("32-byte seed")
    }

    fn s<'a>(v: &'a Value, k: &str) -> &'a str {
        v[k].as_str().unwrap_or_else(|| panic!("missing string {k}"))
    }

    fn alg_of(v: &Value) -> u8 {
        u8::try_from(v["type"].as_u64().expect("type")).expect("type byte")
    }

    #[test]
    fn go_keys_from_vectors() {
        let v = signed_note_vectors();
        for k in v["keys"].as_array().expect("keys") {
            let name = s(k, "name");
            let id = u32::from_str_radix(s(k, "key_id_hex"), 16).expect("id");
            let alg = alg_of(k);
            let pk = hex(s(k, "ed25519_public_key_hex"));
            assert_eq!(key_id(name, alg, &pk), id, "{name}");
            if let Some(pre) = k["key_id_sha256_input_hex"].as_str() {
                let mut expect = name.as_bytes().to_vec();
                expect.push(b'\n');
                expect.push(alg);
                expect.extend_from_slice(&pk);
                assert_eq!(hex(pre), expect);
            }

            let vk = VerifierKey::parse(s(k, "vkey")).expect("vkey parses");
            assert_eq!(vk.name(), name);
            assert_eq!(vk.key_id(), id);
            assert_eq!(vk.alg(), alg);
            assert_eq!(vk.public_key().to_vec(), pk);
            assert_eq!(vk.to_vkey_string(), s(k, "vkey"));
            assert_eq!(vk.to_string(), s(k, "vkey"));
            assert_eq!(s(k, "vkey").parse::<VerifierKey>().as_ref(), Ok(&vk));

            if let Some(skey) = k["skey"].as_str() {
                let sk = SignerKey::parse(skey).expect("skey parses");
                assert_eq!(sk.name(), name);
                assert_eq!(sk.key_id(), id);
                assert_eq!(sk.alg(), alg);
                assert_eq!(sk.to_skey_string(), skey);
                assert_eq!(sk.verifier(), vk);
                let from_seed = SignerKey::from_seed(name, alg, seed(s(k, "ed25519_seed_hex"))).expect("seed");
                assert_eq!(from_seed.to_skey_string(), skey);
                assert_eq!(from_seed.public_key_bytes().to_vec(), pk);
            }
        }
    }

    #[test]
    fn bad_vkeys_from_vectors() {
        let v = signed_note_vectors();
        let bad = v["bad_vkeys"].as_array().expect("bad_vkeys");
        assert!(!bad.is_empty());
        for b in bad {
            let r = VerifierKey::parse(s(b, "vkey"));
            assert!(r.is_err(), "accepted bad vkey ({}): {}", s(b, "why"), s(b, "vkey"));
        }
        // Each case fails for the reason the vector states.
        let errs: Vec<KeyError> = bad
            .iter()
            .filter_map(|b| VerifierKey::parse(s(b, "vkey")).err())
            .collect();
        // "BADKEY==" has non-zero trailing bits: strict base64 refuses it
        // before the key length is even looked at (Go would decode it and
        // then refuse the 36-byte key).
        assert_eq!(errs[0], KeyError::KeyDataBase64);
        assert_eq!(errs[1], KeyError::UnsupportedAlg(0x65));
        assert!(matches!(
            errs[2],
            KeyError::KeyIdMismatch {
                stated: 0xc74f_20a4,
                computed: 0xc74f_20a3
            }
        ));
        assert_eq!(errs[3], KeyError::VkeyFormat);
        assert_eq!(errs[4], KeyError::KeyDataBase64);
        assert_eq!(errs[5], KeyError::NameHasWhitespace);
    }

    #[test]
    fn key_id_vectors() {
        let v = signed_note_vectors();
        for k in v["key_id_vectors"].as_array().expect("key_id_vectors") {
            let vk = VerifierKey::parse(s(k, "vkey")).expect("vkey parses");
            assert_eq!(format!("{:08x}", vk.key_id()), s(k, "key_id_hex"));
            assert_eq!(vk.alg(), alg_of(k));
            assert_eq!(vk.to_vkey_string(), s(k, "vkey"));
        }
    }

    #[test]
    fn cosignature_key_vector() {
        let v = cosig_vectors();
        let w = &v["witness_key"];
        let name = s(w, "name");
        let sk = SignerKey::from_seed(name, ALG_COSIGNATURE_V1, seed(s(w, "ed25519_seed_hex"))).expect("signer");
        let pk = hex(s(w, "ed25519_public_key_hex"));
        assert_eq!(sk.public_key_bytes().to_vec(), pk);
        assert_eq!(format!("{:08x}", sk.key_id()), s(w, "key_id_hex"));
        assert_eq!(sk.verifier().to_vkey_string(), s(w, "vkey"));
        let mut pre = name.as_bytes().to_vec();
        pre.extend_from_slice(&[b'\n', ALG_COSIGNATURE_V1]);
        pre.extend_from_slice(&pk);
        assert_eq!(pre, hex(s(w, "key_id_sha256_input_hex")));
        // The same key as a plain 0x01 signer has another key ID.
        assert_eq!(
            format!("{:08x}", key_id(name, ALG_ED25519, &pk)),
            s(w, "key_id_if_type_were_0x01_hex")
        );
        let plain = SignerKey::from_seed(name, ALG_ED25519, seed(s(w, "ed25519_seed_hex"))).expect("signer");
        assert_ne!(plain.key_id(), sk.key_id());
        assert_ne!(plain.verifier(), sk.verifier());
    }

    #[test]
    fn witness_vector_keys() {
        let v = witness_vectors();
        let log = &v["log"];
        let sk = SignerKey::parse(s(log, "skey")).expect("log skey");
        assert_eq!(sk.name(), s(log, "key_name"));
        assert_eq!(format!("{:08x}", sk.key_id()), s(log, "key_id_hex"));
        assert_eq!(sk.verifier().to_vkey_string(), s(log, "vkey"));
        assert_eq!(sk.public_key_bytes().to_vec(), hex(s(log, "ed25519_public_key_hex")));
        let from_seed =
            SignerKey::from_seed(s(log, "key_name"), ALG_ED25519, seed(s(log, "ed25519_seed_hex"))).expect("seed");
        assert_eq!(from_seed.to_skey_string(), s(log, "skey"));

        let w = &v["witness"];
        let wk =
            SignerKey::from_seed(s(w, "name"), ALG_COSIGNATURE_V1, seed(s(w, "ed25519_seed_hex"))).expect("witness");
        assert_eq!(wk.verifier().to_vkey_string(), s(w, "vkey"));
        let round = SignerKey::parse(&wk.to_skey_string()).expect("round trip");
        assert_eq!(round.verifier(), wk.verifier());
        assert_eq!(round.alg(), ALG_COSIGNATURE_V1);
    }

    #[test]
    fn key_name_rules() {
        assert_eq!(check_key_name(""), Err(KeyError::EmptyName));
        assert_eq!(check_key_name(&"a".repeat(255)), Ok(()));
        assert_eq!(check_key_name(&"a".repeat(256)), Err(KeyError::NameTooLong(256)));
        for ws in [" ", "\t", "\n", "\r", "\u{85}", "\u{a0}", "\u{2028}", "\u{3000}"] {
            assert_eq!(
                check_key_name(&format!("a{ws}b")),
                Err(KeyError::NameHasWhitespace),
                "{ws:?}"
            );
        }
        assert_eq!(check_key_name("a+b"), Err(KeyError::NameHasPlus));
        assert_eq!(check_key_name("a\u{1}b"), Err(KeyError::NameHasControl));
        assert_eq!(check_key_name("example.com/log—é"), Ok(()));
    }

    #[test]
    fn vkey_error_paths() {
        let good = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        assert!(VerifierKey::parse(good).is_ok());
        assert_eq!(VerifierKey::parse("PeterNeumann"), Err(KeyError::VkeyFormat));
        assert_eq!(
            VerifierKey::parse("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
            Err(KeyError::EmptyName)
        );
        for id in ["C74F20A3", "c74f20a", "c74f20a3a", "+74f20a3", "g74f20a3", ""] {
            assert_eq!(
                VerifierKey::parse(&format!(
                    "PeterNeumann+{id}+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
                )),
                Err(KeyError::KeyIdFormat),
                "{id}"
            );
        }
        assert_eq!(
            VerifierKey::parse("PeterNeumann+c74f20a3+"),
            Err(KeyError::KeyDataEmpty)
        );
        // Unpadded / non-canonical base64.
        assert_eq!(
            VerifierKey::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T"),
            Err(KeyError::KeyDataBase64)
        );
        // Canonical base64, but 33 bytes of key material.
        let mut long = vec![ALG_ED25519];
        long.extend_from_slice(&[1; 33]);
        assert_eq!(
            VerifierKey::parse(&format!("n+00000000+{}", b64::encode(&long))),
            Err(KeyError::KeyLength(33))
        );
        // A 32-byte string that is not a curve point (y = 2 is not on the curve).
        let mut not_point = [0u8; 32];
        not_point[0] = 2;
        let mut data = vec![ALG_ED25519];
        data.extend_from_slice(&not_point);
        let id = key_id("n", ALG_ED25519, &not_point);
        assert_eq!(
            VerifierKey::parse(&format!("n+{id:08x}+{}", b64::encode(&data))),
            Err(KeyError::InvalidPublicKey)
        );
        assert_eq!(
            VerifierKey::new("n", ALG_ED25519, not_point),
            Err(KeyError::InvalidPublicKey)
        );
        assert_eq!(
            VerifierKey::new("n", 0x02, [0; 32]),
            Err(KeyError::UnsupportedAlg(0x02))
        );
    }

    #[test]
    fn skey_error_paths() {
        let good = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        assert!(good.parse::<SignerKey>().is_ok());
        for bad in [
            "PRIVATE+KEY+PeterNeumann+c74f20a3",
            "PRIVATE+KEX+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PUBLIC+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ] {
            assert_eq!(SignerKey::parse(bad).err(), Some(KeyError::SkeyFormat), "{bad}");
        }
        assert_eq!(
            SignerKey::parse("PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").err(),
            Some(KeyError::KeyIdMismatch {
                stated: 0xc74f_20a4,
                computed: 0xc74f_20a3
            })
        );
        assert_eq!(
            SignerKey::parse("PRIVATE+KEY+Peter Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").err(),
            Some(KeyError::NameHasWhitespace)
        );
        // Type byte 0x02.
        let mut data = vec![0x02];
        data.extend_from_slice(&[7; 32]);
        assert_eq!(
            SignerKey::parse(&format!("PRIVATE+KEY+x+00000000+{}", b64::encode(&data))).err(),
            Some(KeyError::UnsupportedAlg(0x02))
        );
        // Seed of 31 bytes.
        assert_eq!(
            SignerKey::parse(&format!("PRIVATE+KEY+x+00000000+{}", b64::encode([1u8; 32]))).err(),
            Some(KeyError::KeyLength(31))
        );
        assert_eq!(
            SignerKey::from_seed("x", 0x05, [0; 32]).err(),
            Some(KeyError::UnsupportedAlg(0x05))
        );
        assert_eq!(
            SignerKey::from_seed("a+b", ALG_ED25519, [0; 32]).err(),
            Some(KeyError::NameHasPlus)
        );
    }

    #[test]
    fn debug_hides_seed() {
        let sk = SignerKey::from_seed("k", ALG_ED25519, [0x42; 32]).expect("signer");
        let dbg = format!("{sk:?}");
        assert!(dbg.contains("SignerKey"));
        assert!(dbg.contains(&format!("{:08x}", sk.key_id())));
        let skey = sk.to_skey_string();
        let seed_b64 = skey.rsplit('+').next().expect("data");
        assert!(!dbg.contains(seed_b64));
        assert!(!dbg.contains("42, 42"));
        assert!(!dbg.to_lowercase().contains("4242"));
    }

    #[test]
    fn raw_sign_and_verify() {
        let sk = SignerKey::from_seed("k", ALG_ED25519, [9; 32]).expect("signer");
        let vk = sk.verifier();
        let sig = sk.sign_raw(b"msg");
        assert!(vk.verify_raw(b"msg", &sig));
        assert!(!vk.verify_raw(b"msh", &sig));
        assert!(!vk.verify_raw(b"msg", &sig[..63]));
        let mut long = sig.to_vec();
        long.push(0);
        assert!(!vk.verify_raw(b"msg", &long));
        let mut flipped = sig;
        flipped[10] ^= 1;
        assert!(!vk.verify_raw(b"msg", &flipped));
        // Non-canonical S (S + L) is refused by verify_strict.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut s_plus_l = sig;
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
            let [lo, _] = v.to_le_bytes();
            s_plus_l[32 + i] = lo;
            carry = v >> 8;
        }
        assert!(!vk.verify_raw(b"msg", &s_plus_l));
    }

    #[test]
    fn small_order_key_never_verifies() {
        // The identity point (y = 1) is a valid encoding of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let vk = VerifierKey::new("weak", ALG_ED25519, identity).expect("decodes");
        // R = identity, S = 0 is a valid cofactorless signature for the
        // identity key on any message; verify_strict must refuse it.
        let mut sig = [0u8; 64];
        sig[0] = 1;
        assert!(!vk.verify_raw(b"anything", &sig));
    }
}
