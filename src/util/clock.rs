//! The one wall clock provlog reads.

use std::time::{SystemTime, UNIX_EPOCH};

/// The system clock could not be read as a time after 1970.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system clock reads a time before 1970-01-01")]
pub struct ClockError;

/// Milliseconds since the Unix epoch.
///
/// # Errors
/// [`ClockError`] when the system clock is set before 1970; a time past
/// `i64::MAX` ms saturates.
pub fn now_millis() -> Result<i64, ClockError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .map_err(|_| ClockError)
}

/// Seconds since the Unix epoch.
///
/// # Errors
/// [`ClockError`] when the system clock is set before 1970.
pub fn now_secs() -> Result<u64, ClockError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| ClockError)
}
