//! Admission: everything a submission passes before it is queued for the
//! sequencer. Schema is checked by parsing (`provlog-proto`'s strict
//! parser); then the submitter must be registered, its signature must
//! verify (on the bounded verification pool, off the async workers), the
//! event must be within its scope now, its approvals must verify (on the
//! pool) and authorize it, and the submitter must be within its rate
//! limit. The sequencer checks scope again against the registry in force
//! when it assigns the index.

pub mod ratelimit;
pub mod verify_pool;

use super::SubmitError;
use super::sequencer::{EventJob, HeartbeatJob, SeqError};
use provlog_proto::approval;
use provlog_proto::chain::{ChainError, HeartbeatSubmission};
use provlog_proto::policy::Registry;
use provlog_proto::submission::{SignatureVersion, Submission};
use provlog_storage::{chain_seq_key, dedup_key};
use provlog_tlog::keys::VerifierKey;
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
        // A statement is bound to the log by its CWT `aud`.
        let bound = match &sub.statement {
            Some(st) => st.audience.as_deref() == Some(self.origin.as_str()),
            None => sub.version != SignatureVersion::V1,
        };
        if let Some(aud) = sub.statement.as_ref().and_then(|st| st.audience.as_ref())
            && *aud != self.origin
        {
            return Err(SubmitError::WrongAudience {
                aud: aud.clone(),
                origin: self.origin.clone(),
            });
        }
        if self.require_origin_binding && !bound {
            return Err(SubmitError::OriginBindingRequired(self.origin.clone()));
        }
        let key = reg.submitter(&sub.submitter).map_err(SubmitError::Scope)?.key.clone();
        if let Some(st) = &sub.statement
            && st.kid != key.key_id().to_be_bytes()
        {
            return Err(SubmitError::UnknownKid {
                submitter: sub.submitter.clone(),
                kid: provlog_tlog::hex::encode(&st.kid),
            });
        }
        let ok = self
            .pool
            .verify(key.clone(), sub.signing_message(&self.origin), sub.signature)
            .await
            .map_err(|_| SubmitError::Overloaded)?;
        if !ok {
            return Err(SubmitError::BadSignature(sub.submitter));
        }
        let s = reg
            .check_scope(&sub.submitter, &sub.event.event, now_ms)
            .map_err(SubmitError::Scope)?;
        if !s.policy.sequenced && sub.event.event.seq.is_some() {
            return Err(SeqError::Chain(ChainError::NotSequenced(sub.submitter)).into());
        }
        let approval_keys = self.check_approvals(reg, &sub, now_ms).await?;
        self.rate_limits
            .take(&sub.submitter, 1)
            .map_err(|wait| SubmitError::RateLimited(sub.submitter.clone(), wait))?;
        Ok(EventJob {
            dedup_key: dedup_key(&sub.submitter, &sub.event.event.event_id),
            verified_with: key,
            approval_keys,
            submission: sub,
        })
    }

    /// Admits a heartbeat under `reg` at `now_ms`: a registered, valid,
    /// sequenced submitter whose signature verifies, within its rate limit
    /// (a heartbeat counts as one submission). Its chain position is the
    /// sequencer's to judge.
    ///
    /// # Errors
    /// [`SubmitError`]: unknown submitter, bad signature, not sequenced,
    /// over the rate limit, or the verification pool is full.
    pub async fn admit_heartbeat(
        &self,
        reg: &Registry,
        sub: HeartbeatSubmission,
        now_ms: i64,
    ) -> Result<HeartbeatJob, SubmitError> {
        let s = reg.submitter(&sub.submitter).map_err(SubmitError::Scope)?;
        let key = s.key.clone();
        let sequenced = s.policy.sequenced;
        s.check_window(now_ms).map_err(SubmitError::Scope)?;
        let ok = self
            .pool
            .verify(key.clone(), sub.message(&self.origin), sub.signature)
            .await
            .map_err(|_| SubmitError::Overloaded)?;
        if !ok {
            return Err(SubmitError::BadSignature(sub.submitter));
        }
        if !sequenced {
            return Err(SeqError::Chain(ChainError::NotSequenced(sub.submitter)).into());
        }
        self.rate_limits
            .take(&sub.submitter, 1)
            .map_err(|wait| SubmitError::RateLimited(sub.submitter.clone(), wait))?;
        Ok(HeartbeatJob {
            dedup_key: chain_seq_key(&sub.submitter, sub.heartbeat.seq),
            verified_with: key,
            submission: sub,
        })
    }

    /// Verifies the approvals `sub` carries on the pool and checks them
    /// under `reg` at `now_ms` (uses are counted by the sequencer); returns
    /// the key each verified with.
    async fn check_approvals(
        &self,
        reg: &Registry,
        sub: &Submission,
        now_ms: i64,
    ) -> Result<Vec<VerifierKey>, SubmitError> {
        if sub.approvals.is_empty() && !reg.has_approvers() {
            return Ok(Vec::new());
        }
        let mut keys = Vec::with_capacity(sub.approvals.len());
        for a in &sub.approvals {
            // An unknown approver is reported by the check below.
            let Some(ap) = reg.approver(&a.approval.approver) else {
                keys.push(None);
                continue;
            };
            let ok = self
                .pool
                .verify(ap.key.clone(), a.signing_message(&self.origin), a.signature)
                .await
                .map_err(|_| SubmitError::Overloaded)?;
            keys.push(ok.then(|| ap.key.clone()));
        }
        approval::check(
            reg,
            &sub.submitter,
            &sub.event.event,
            &sub.approvals,
            now_ms,
            &mut |i, _, k| keys.get(i).and_then(Option::as_ref) == Some(k),
        )
        .map_err(SubmitError::Approval)?;
        Ok(keys.into_iter().flatten().collect())
    }
}
