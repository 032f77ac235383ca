//! Strict parsing of path and query parameters, so that every malformed
//! request gets a 400 that names the parameter.

use super::error::ApiError;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use std::collections::HashMap;

/// Query parameters by name: unknown or repeated names are refused.
#[derive(Debug)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Reads the query, allowing only `allowed` names, each at most once.
    ///
    /// # Errors
    /// 400 `invalid_parameter`.
    pub fn new(q: Result<Query<Vec<(String, String)>>, QueryRejection>, allowed: &[&str]) -> Result<Self, ApiError> {
        let Query(pairs) = q.map_err(|e| ApiError::param(format!("malformed query string: {e}")))?;
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::param(format!(
                    "unknown parameter {k:?}; allowed: {}",
                    allowed.join(", ")
                )));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::param(format!("parameter {k:?} given twice")));
            }
        }
        Ok(Self(map))
    }

    /// The raw value of `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `name` as a non-negative decimal integer, if present.
    ///
    /// # Errors
    /// 400 when present but not a decimal `u64`.
    pub fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name).map(|v| parse_u64(name, v)).transpose()
    }
}

/// Parses a decimal `u64` (digits only).
///
/// # Errors
/// 400 naming `what`.
pub fn parse_u64(what: &str, v: &str) -> Result<u64, ApiError> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::param(format!(
            "{what} must be a non-negative decimal integer, got {v:?}"
        )));
    }
    v.parse()
        .map_err(|_| ApiError::param(format!("{what} is too large: {v}")))
}
