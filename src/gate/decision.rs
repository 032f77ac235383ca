//! A decision from a verified state: pure, no I/O, what every request of
//! the gate ends in (docs/GATE.md "Decisions").

use super::cache::Known;
use provlog_proto::ledger::RecordState;

/// Why a request was allowed or denied: the `X-Provlog-Reason` header, the
/// `reason` label of the decision metrics and the `error.code` of a deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Allowed: verified active.
    Active,
    /// Allowed from the cache while the log cannot be reached, within
    /// `--fail-open-for` past `--max-age` (only with that option).
    FailOpen,
    /// No credential in the route's header.
    NoCredential,
    /// The header holds something the route's mapping cannot read.
    MalformedCredential,
    /// The map proves the fingerprint was never logged.
    Unknown,
    /// Revoked (or unbound).
    Revoked,
    /// Expired (by an event or past its `not_after` on the gate's clock).
    Expired,
    /// Replaced by a rotation.
    Superseded,
    /// Active, but owned by a target the route does not admit.
    OwnerNotAllowed,
    /// The newest verified commitment is older than `--max-age`.
    Stale,
    /// The gate has not verified a checkpoint yet.
    NotReady,
    /// The log could not be asked about this credential.
    LogUnreachable,
    /// The log's answer did not verify.
    VerificationFailed,
    /// The gate saw two checkpoints that cannot both be true: it fails
    /// closed until an operator restarts it.
    Inconsistent,
    /// Too many credentials are being asked about at once.
    Busy,
    /// No route matches the request's path.
    NoRoute,
}

impl Reason {
    /// Every reason (metrics are created for each at start).
    pub const ALL: [Self; 16] = [
        Self::Active,
        Self::FailOpen,
        Self::NoCredential,
        Self::MalformedCredential,
        Self::Unknown,
        Self::Revoked,
        Self::Expired,
        Self::Superseded,
        Self::OwnerNotAllowed,
        Self::Stale,
        Self::NotReady,
        Self::LogUnreachable,
        Self::VerificationFailed,
        Self::Inconsistent,
        Self::Busy,
        Self::NoRoute,
    ];

    /// The reason's code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::FailOpen => "fail_open",
            Self::NoCredential => "no_credential",
            Self::MalformedCredential => "malformed_credential",
            Self::Unknown => "unknown",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
            Self::OwnerNotAllowed => "owner_not_allowed",
            Self::Stale => "stale",
            Self::NotReady => "not_ready",
            Self::LogUnreachable => "log_unreachable",
            Self::VerificationFailed => "verification_failed",
            Self::Inconsistent => "inconsistent",
            Self::Busy => "busy",
            Self::NoRoute => "no_route",
        }
    }

    /// Whether the request is allowed.
    #[must_use]
    pub fn allows(self) -> bool {
        matches!(self, Self::Active | Self::FailOpen)
    }

    /// The status of a deny: 401 when no credential the log knows was
    /// presented, 403 for everything else (a known credential that may not
    /// pass, or a gate that cannot verify: fail closed). nginx's
    /// `auth_request` passes both on and turns anything else into a 500.
    #[must_use]
    pub fn deny_status(self) -> u16 {
        match self {
            Self::NoCredential | Self::MalformedCredential | Self::Unknown => 401,
            _ => 403,
        }
    }

    /// The index of the reason in [`Reason::ALL`].
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How current the newest verified commitment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Within `max_age`.
    Fresh,
    /// Past `max_age` but within `fail_open_for` after it.
    FailOpen,
    /// Too old (or too far ahead of the gate's clock).
    Stale,
}

/// The freshness of a commitment logged at `logged_ms`, at `now_ms`.
#[must_use]
pub fn freshness(logged_ms: i64, now_ms: i64, max_age_ms: i64, fail_open_ms: i64) -> Freshness {
    let age = now_ms.saturating_sub(logged_ms);
    if age < -provlog_proto::credential::MAX_CLOCK_SKEW_MS.min(max_age_ms) {
        Freshness::Stale
    } else if age <= max_age_ms {
        Freshness::Fresh
    } else if fail_open_ms > 0 && age <= max_age_ms.saturating_add(fail_open_ms) {
        Freshness::FailOpen
    } else {
        Freshness::Stale
    }
}

/// Whether an owner id matches one of a route's patterns (exact, or a
/// prefix ending in `*`).
#[must_use]
pub fn owner_matches(owner_id: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => owner_id.starts_with(prefix),
        None => owner_id == p,
    })
}

/// The decision for a verified state at `now_ms` on a route admitting
/// `owners` (empty: any owner).
#[must_use]
pub fn judge(known: &Known, owners: &[String], now_ms: i64) -> Reason {
    match known.state {
        None => Reason::Unknown,
        Some(RecordState::Active) if known.not_after_ms.is_some_and(|t| t <= now_ms) => Reason::Expired,
        Some(RecordState::Active) => {
            if owners.is_empty() || known.owner_id.as_deref().is_some_and(|o| owner_matches(o, owners)) {
                Reason::Active
            } else {
                Reason::OwnerNotAllowed
            }
        }
        Some(RecordState::Revoked) => Reason::Revoked,
        Some(RecordState::Expired) => Reason::Expired,
        Some(RecordState::Superseded) => Reason::Superseded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_in_declaration_order() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
        let codes: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len(), "codes are distinct");
    }

    fn known(state: Option<RecordState>, not_after_ms: Option<i64>, owner: &str) -> Known {
        Known {
            state,
            not_after_ms,
            owner: Some(format!("gcp/service_account/{owner}").into()),
            owner_id: Some(owner.into()),
            version: 1,
            commitment: 5,
            verified_size: 6,
        }
    }

    #[test]
    fn states_and_expiry_by_the_gates_clock() {
        let now = 1_000_000;
        assert_eq!(
            judge(&known(Some(RecordState::Active), None, "a"), &[], now),
            Reason::Active
        );
        assert_eq!(
            judge(&known(Some(RecordState::Active), Some(now), "a"), &[], now),
            Reason::Expired
        );
        assert_eq!(
            judge(&known(Some(RecordState::Active), Some(now + 1), "a"), &[], now),
            Reason::Active
        );
        assert_eq!(
            judge(&known(Some(RecordState::Revoked), None, "a"), &[], now),
            Reason::Revoked
        );
        assert_eq!(
            judge(&known(Some(RecordState::Superseded), None, "a"), &[], now),
            Reason::Superseded
        );
        assert_eq!(judge(&known(None, None, "a"), &[], now), Reason::Unknown);
        let owners = vec!["billing-*".to_owned(), "db".to_owned()];
        assert_eq!(
            judge(&known(Some(RecordState::Active), None, "billing-api"), &owners, now),
            Reason::Active
        );
        assert_eq!(
            judge(&known(Some(RecordState::Active), None, "dbx"), &owners, now),
            Reason::OwnerNotAllowed
        );
    }

    #[test]
    fn freshness_windows() {
        assert_eq!(freshness(0, 30_000, 30_000, 0), Freshness::Fresh);
        assert_eq!(freshness(0, 30_001, 30_000, 0), Freshness::Stale);
        assert_eq!(freshness(0, 30_001, 30_000, 60_000), Freshness::FailOpen);
        assert_eq!(freshness(0, 90_001, 30_000, 60_000), Freshness::Stale);
        assert_eq!(freshness(10_000, 0, 30_000, 0), Freshness::Stale, "from the future");
        assert!(
            Reason::ALL
                .iter()
                .all(|r| r.allows() == matches!(r, Reason::Active | Reason::FailOpen))
        );
        assert_eq!(
            Reason::ALL.iter().map(|r| r.index()).sum::<usize>(),
            (0..16usize).sum::<usize>()
        );
    }
}
