//! Admission: everything a submission passes before it is queued for the
//! sequencer. Schema is checked by parsing (`provlog-proto`'s strict
//! parser); then the submitter must be registered, its signature must
//! verify (on the bounded verification pool, off the async workers), the
//! event must be within its scope now, and the submitter within its rate
//! limit. The sequencer checks scope again against the registry in force
//! when it assigns the index.

pub mod ratelimit;
pub mod verify_pool;

use super::SubmitError;
use super::sequencer::EventJob;
use provlog_proto::policy::Registry;
use provlog_proto::submission::{SignatureVersion, Submission};
use provlog_storage::dedup_key;
use ratelimit::RateLimits;
use verify_pool::VerifyPool;

/// The checks a submission passes before it is queued.
#[derive(Debug)]
pub struct Admission {
    pool: VerifyPool,
    rate_limits: RateLimits,
    origin: String,
    require_origin_binding: bool,
}

impl Admission {
    /// Admission with its verification pool and rate limits, for the log
    /// whose checkpoint origin is `origin` (what a version 2 signature
    /// covers); with `require_origin_binding`, version 1 signatures are
    /// refused.
    #[must_use]
    pub fn new(pool: VerifyPool, rate_limits: RateLimits, origin: String, require_origin_binding: bool) -> Self {
        Self {
            pool,
            rate_limits,
            origin,
            require_origin_binding,
        }
    }

    /// Admits `sub` under `reg` at wall-clock time `now_ms`: the job the
    /// sequencer takes, or why not. Nothing is queued here.
    ///
    /// # Errors
    /// [`SubmitError`]: unknown submitter, bad signature, out of scope,
    /// over the rate limit, or the verification pool is full.
    pub async fn admit(&self, reg: &Registry, sub: Submission, now_ms: i64) -> Result<EventJob, SubmitError> {
        if self.require_origin_binding && sub.version == SignatureVersion::V1 {
            return Err(SubmitError::OriginBindingRequired(self.origin.clone()));
        }
        let key = reg.submitter(&sub.submitter).map_err(SubmitError::Scope)?.key.clone();
        let ok = self
            .pool
            .verify(key.clone(), sub.signing_message(&self.origin), sub.signature)
            .await
            .map_err(|_| SubmitError::Overloaded)?;
        if !ok {
            return Err(SubmitError::BadSignature(sub.submitter));
        }
        reg.check_scope(&sub.submitter, &sub.event.event, now_ms)
            .map_err(SubmitError::Scope)?;
        self.rate_limits
            .take(&sub.submitter, 1)
            .map_err(|wait| SubmitError::RateLimited(sub.submitter.clone(), wait))?;
        Ok(EventJob {
            dedup_key: dedup_key(&sub.submitter, &sub.event.event.event_id),
            verified_with: key,
            submission: sub,
        })
    }
}
