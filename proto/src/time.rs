//! Timestamps as provlog writes them: RFC 3339 in UTC with millisecond
//! precision (`2026-11-25T22:33:32.123Z`), and RFC 3339 parsing for the
//! times clients send. Callers supply the clock.

use ::time::OffsetDateTime;
use ::time::format_description::well_known::Rfc3339;

/// A time that is not valid RFC 3339, or out of range.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("not an RFC 3339 date-time: {0}")]
pub struct TimeError(pub String);

/// Formats Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
///
/// # Errors
/// Times outside years 0000–9999 cannot be written in RFC 3339.
pub fn format_millis(unix_millis: i64) -> Result<String, TimeError> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000)
        .map_err(|e| TimeError(e.to_string()))?;
    if !(0..=9999).contains(&t.year()) {
        return Err(TimeError(format!("year {} out of range", t.year())));
    }
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    ))
}

/// Parses an RFC 3339 date-time (any offset) to Unix milliseconds,
/// truncating sub-millisecond digits.
///
/// # Errors
/// [`TimeError`] when `s` is not an RFC 3339 date-time.
pub fn parse_millis(s: &str) -> Result<i64, TimeError> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| TimeError(format!("{s:?}: {e}")))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|e| TimeError(e.to_string()))
}

/// Parses one end of a time window: an RFC 3339 date-time, or a date
/// `YYYY-MM-DD` meaning its first instant in UTC (so `from=2026-11-01`
/// with `to=2026-12-01` is November).
///
/// # Errors
/// [`TimeError`] when `s` is neither.
pub fn parse_bound(s: &str) -> Result<i64, TimeError> {
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' && s.chars().filter(char::is_ascii_digit).count() == 8 {
        return parse_millis(&format!("{s}T00:00:00Z"))
            .map_err(|_| TimeError(format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 date-time")));
    }
    parse_millis(s).map_err(|_| TimeError(format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 date-time")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_is_a_date_or_a_time() {
        assert_eq!(parse_bound("2026-11-01"), parse_millis("2026-11-01T00:00:00Z"));
        assert_eq!(
            parse_bound("2026-11-01T10:00:00+01:00"),
            parse_millis("2026-11-01T09:00:00Z")
        );
        for bad in ["2026-13-01", "2026-1-01", "20261101", "yesterday", "", "2026-11-0a"] {
            assert!(parse_bound(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_milliseconds() {
        assert_eq!(format_millis(0).as_deref(), Ok("1970-01-01T00:00:00.000Z"));
        let t = 1_795_991_612_123; // 2026-11-29T...
        let s = format_millis(t).expect("format");
        assert_eq!(parse_millis(&s), Ok(t));
        assert_eq!(
            parse_millis("2026-11-25T22:33:32.123+01:00"),
            Ok(parse_millis("2026-11-25T21:33:32.123Z").expect("t"))
        );
        assert!(parse_millis("2026-11-25T22:33:32").is_err());
        assert!(parse_millis("yesterday").is_err());
        assert!(format_millis(i64::MAX).is_err());
    }
}
