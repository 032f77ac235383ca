//! Per-submitter rate limits: a token bucket per submitter id, refilled at
//! its configured rate. Checked after the signature verified (so nobody can
//! spend another submitter's budget), before anything is queued.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Rate;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limits in force and the buckets.
#[derive(Debug, Default)]
pub struct RateLimits {
    default: Option<Rate>,
    by_id: HashMap<String, Rate>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimits {
    /// Limits with a default rate (none: unlimited) and per-id overrides.
    #[must_use]
    pub fn new(default: Option<Rate>, by_id: HashMap<String, Rate>) -> Self {
        Self {
            default,
            by_id,
            buckets: Mutex::default(),
        }
    }

    /// Takes `n` tokens from submitter `id`'s bucket, or says how long until
    /// they would be there.
    ///
    /// # Errors
    /// The wait, when the bucket holds fewer than `n` tokens.
    pub fn take(&self, id: &str, n: usize) -> Result<(), Duration> {
        let Some(rate) = self.by_id.get(id).or(self.default.as_ref()).copied() else {
            return Ok(());
        };
        if rate.per_second <= 0.0 {
            return Err(Duration::from_mins(1));
        }
        let now = Instant::now();
        let mut buckets = crate::util::sync::lock(&self.buckets, "rate-limit buckets");
        let b = buckets.entry(id.to_owned()).or_insert(Bucket {
            tokens: rate.burst_size(),
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate.per_second).min(rate.burst_size());
        b.at = now;
        let want = n as f64;
        if b.tokens >= want {
            b.tokens -= want;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((want - b.tokens) / rate.per_second).min(3600.0),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_and_are_per_submitter() {
        let mut by_id = HashMap::new();
        by_id.insert(
            "slow".to_owned(),
            Rate {
                per_second: 0.001,
                burst: Some(2.0),
            },
        );
        let rl = RateLimits::new(
            Some(Rate {
                per_second: 1000.0,
                burst: Some(5.0),
            }),
            by_id,
        );
        assert!(rl.take("slow", 1).is_ok());
        assert!(rl.take("slow", 1).is_ok());
        let wait = rl.take("slow", 1).expect_err("empty");
        assert!(wait > Duration::from_secs(100));
        assert!(rl.take("other", 5).is_ok(), "buckets are per submitter");
        assert!(rl.take("other", 100).is_err());
        assert!(
            RateLimits::default().take("x", 1_000_000).is_ok(),
            "no limit configured"
        );
    }
}
