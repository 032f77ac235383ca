//! Strict JSON input and RFC 8785 (JCS) canonical output.
//!
//! Everything provlog signs or hashes is JSON, so its reading is stricter
//! than `serde_json`'s default: an object with a repeated member name is an
//! error (a signer and a verifier could otherwise see different values), and
//! the nesting depth is bounded.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Maximum nesting depth of arrays and objects accepted on input.
pub const MAX_DEPTH: usize = 64;

/// Why a JSON document was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The bytes are not one well-formed JSON document (this includes
    /// truncated input, invalid UTF-8, repeated member names and excessive
    /// nesting).
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// The value could not be put in canonical form.
    #[error("cannot canonicalize JSON: {0}")]
    Canonical(String),
}

/// Parses exactly one JSON document, refusing repeated member names and
/// nesting deeper than [`MAX_DEPTH`].
///
/// # Errors
/// [`JsonError::Malformed`] with the position `serde_json` reports.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = StrictValue::deserialize_depth(&mut de, 0).map_err(|e| JsonError::Malformed(e.to_string()))?;
    de.end().map_err(|e| JsonError::Malformed(e.to_string()))?;
    Ok(v)
}

/// The RFC 8785 canonical bytes of `value`.
///
/// # Errors
/// [`JsonError::Canonical`] for values JCS cannot represent (non-finite
/// numbers cannot occur in a parsed [`Value`]).
pub fn canonical(value: &Value) -> Result<Vec<u8>, JsonError> {
    // Fast path: with ASCII member names (sorted bytewise, which is UTF-16
    // order for ASCII) and integers that are exact doubles,
    // serde_json's compact output is exactly RFC 8785 (same string escapes:
    // short forms, `\u00xx` in lowercase, nothing else escaped). Anything
    // else goes to the full canonicalizer. Tested against it below and by
    // the `submission` fuzz target.
    if fast_path_ok(value) {
        let mut out = Vec::new();
        write_sorted(value, &mut out).map_err(|e| JsonError::Canonical(e.to_string()))?;
        return Ok(out);
    }
    serde_json_canonicalizer::to_vec(value).map_err(|e| JsonError::Canonical(e.to_string()))
}

/// `serde_json`'s compact output with every object's members in bytewise
/// order of their (ASCII) names. The order is imposed here rather than
/// taken from [`serde_json::Map`]: a dependency may turn on `serde_json`'s
/// `preserve_order` (cedar-policy does), and feature unification then
/// makes every map keep insertion order.
fn write_sorted(v: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match v {
        Value::Object(m) => {
            let mut members: Vec<(&String, &Value)> = m.iter().collect();
            if !members.is_sorted_by(|a, b| a.0 <= b.0) {
                members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            }
            out.push(b'{');
            for (i, (k, x)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)?;
                out.push(b':');
                write_sorted(x, out)?;
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_sorted(x, out)?;
            }
            out.push(b']');
        }
        other => serde_json::to_writer(&mut *out, other)?,
    }
    Ok(())
}

/// Largest integer every double represents exactly (2^53).
const MAX_EXACT: u64 = 1 << 53;

fn fast_path_ok(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        Value::Number(n) => {
            n.as_u64().is_some_and(|u| u <= MAX_EXACT) || n.as_i64().is_some_and(|i| i.unsigned_abs() <= MAX_EXACT)
        }
        Value::Array(a) => a.iter().all(fast_path_ok),
        Value::Object(m) => m.iter().all(|(k, x)| k.is_ascii() && fast_path_ok(x)),
    }
}

/// The JCS encoding of one string value (with quotes).
#[must_use]
pub fn canonical_string(s: &str) -> String {
    // Serializing a &str cannot fail.
    serde_json_canonicalizer::to_string(&s).unwrap_or_default()
}

struct StrictValue;

impl StrictValue {
    fn deserialize_depth<'de, D: Deserializer<'de>>(d: D, depth: usize) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor { depth })
    }
}

struct StrictVisitor {
    depth: usize,
}

struct Nested(usize);

impl<'de> de::DeserializeSeed<'de> for Nested {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictValue::deserialize_depth(d, self.0)
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("JSON nested too deeply"));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Nested(self.depth + 1))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("JSON nested too deeply"));
        }
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format_args!("member `{k}` appears twice")));
            }
            let v = map.next_value_seed(Nested(self.depth + 1))?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicates_depth_and_trailing_data() {
        assert!(parse_strict(br#"{"a":1,"b":{"c":2}}"#).is_ok());
        assert!(parse_strict(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_strict(br#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(parse_strict(br#"[{"x":[{"y":1,"y":2}]}]"#).is_err());
        assert!(parse_strict(br#"{"a":1} x"#).is_err());
        assert!(parse_strict(br#"{"a":"#).is_err());
        assert!(parse_strict(b"{\"a\":\"\xff\"}").is_err());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(parse_strict(deep.as_bytes()).is_err());
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_strict(ok.as_bytes()).is_ok());
    }

    #[test]
    fn canonical_form_follows_rfc_8785() {
        let v = parse_strict(br#"{"b":1,"a":[1e21,0.1,-0],"\u00e9":"\u20ac","c":"\u000f"}"#).expect("parse");
        assert_eq!(
            String::from_utf8(canonical(&v).expect("jcs")).expect("utf8"),
            "{\"a\":[1e+21,0.1,0],\"b\":1,\"c\":\"\\u000f\",\"é\":\"€\"}"
        );
        assert_eq!(canonical_string("a\"b\\"), r#""a\"b\\""#);
    }

    /// Regression: with `serde_json`'s `preserve_order` on (cedar-policy
    /// turns it on for the whole build), a parsed map keeps the order it
    /// was sent in, and the fast path wrote it in that order.
    #[test]
    fn members_are_sorted_whatever_the_map_keeps() {
        let v = parse_strict(br#"{"v":1,"kind":"policy","a":{"z":[{"y":1,"x":2}],"b":true}}"#).expect("parse");
        assert_eq!(
            String::from_utf8(canonical(&v).expect("jcs")).expect("utf8"),
            r#"{"a":{"b":true,"z":[{"x":2,"y":1}]},"kind":"policy","v":1}"#
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The fast path agrees with the full canonicalizer on everything.
        #[test]
        fn fast_path_equals_the_canonicalizer(v in arb_json()) {
            // (Sorted regardless of how the map orders its members.)
            let full = serde_json_canonicalizer::to_vec(&v).expect("jcs");
            proptest::prop_assert_eq!(canonical(&v).expect("jcs"), full);
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e20f64..1e20).prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::String),
            proptest::collection::vec(0u32..0x11_0000, 0..6)
                .prop_map(|cs| Value::String(cs.into_iter().filter_map(char::from_u32).collect())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                // Members in any order: a map may keep insertion order
                // (serde_json's `preserve_order`, which cedar-policy turns on).
                proptest::collection::vec(("[a-zA-Z_\\u{e9}\\u{1F600}\\u{E000}]{0,6}", inner), 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
