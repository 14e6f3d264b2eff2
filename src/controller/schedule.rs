//! When an `StsGrant` refreshes, as pure functions of timestamps (the clock is a parameter).
//!
//! The rule follows cert-manager's renewal time: refresh `refreshBefore` ahead of the expiry
//! STS actually returned, less a stable per-object jitter of up to 10 % of `refreshBefore`, so a
//! fleet created together does not refresh together. `refreshBefore` defaults to one third of
//! the granted lifetime; when the lifetime is not longer than the requested `refreshBefore`
//! (a role with a shorter maximum, a clock issue, the emulator's scaled expiry) one third is
//! used as well, and the caller says so in an Event: never a refresh loop.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// The refresh plan of one set of credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPlan {
    /// When to obtain new credentials.
    pub refresh_at: Timestamp,
    /// The `refreshBefore` in force (requested or derived).
    pub refresh_before: Duration,
    /// The requested `refreshBefore` was not shorter than the granted lifetime, so one third
    /// of the lifetime was used instead.
    pub shortened: bool,
}

/// Plans the refresh of credentials obtained at `obtained_at` that expire at `expiration`.
/// `jitter_fraction` in [0, 1) is stable per object.
pub fn plan_refresh(
    obtained_at: Timestamp,
    expiration: Timestamp,
    requested_refresh_before: Option<Duration>,
    jitter_fraction: f64,
) -> RefreshPlan {
    let lifetime = duration_between(obtained_at, expiration);
    let third = lifetime / 3;
    let (refresh_before, shortened) = match requested_refresh_before {
        Some(requested) if requested < lifetime => (requested, false),
        Some(_) => (third, true),
        None => (third, false),
    };
    let jitter = refresh_before.mul_f64(0.1 * jitter_fraction.clamp(0.0, 1.0));
    let lead = refresh_before + jitter;
    let refresh_at = expiration
        .checked_sub(signed(lead))
        .unwrap_or(obtained_at)
        .max(obtained_at);
    RefreshPlan {
        refresh_at,
        refresh_before,
        shortened,
    }
}

/// How long to wait from `now` until `at`, at least `floor` (a deadline in the past must not
/// make the controller spin) and at most `ceiling` (the periodic resync).
pub fn delay_until(now: Timestamp, at: Timestamp, floor: Duration, ceiling: Duration) -> Duration {
    duration_between(now, at).clamp(floor, ceiling.max(floor))
}

/// Whether credentials expiring at `expiration` still work at `now`.
pub fn is_valid(now: Timestamp, expiration: Timestamp) -> bool {
    now < expiration
}

/// Delay before retrying a failed refresh: the usual backoff, but never past half of the
/// remaining lifetime of the credentials still served, so a passing failure is retried while
/// they are valid.
pub fn retry_delay(backoff: Duration, now: Timestamp, expiration: Timestamp) -> Duration {
    let remaining = duration_between(now, expiration);
    if remaining.is_zero() {
        return backoff;
    }
    backoff.min((remaining / 2).max(Duration::from_secs(1)))
}

/// `to - from`, zero when `to` is not later.
pub fn duration_between(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or(Duration::ZERO)
}

fn signed(duration: Duration) -> SignedDuration {
    SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn default_is_one_third_of_the_granted_lifetime() {
        let plan = plan_refresh(at(0), at(3600), None, 0.0);
        assert_eq!(plan.refresh_before, 20 * MINUTE);
        assert_eq!(plan.refresh_at, at(2400));
        assert!(!plan.shortened);
    }

    #[test]
    fn requested_refresh_before_and_jitter() {
        let plan = plan_refresh(at(0), at(3600), Some(10 * MINUTE), 0.5);
        assert_eq!(plan.refresh_before, 10 * MINUTE);
        // 10 % of 600 s is 60 s at most; half of it is 30 s.
        assert_eq!(plan.refresh_at, at(3600 - 600 - 30));
        let latest = plan_refresh(at(0), at(3600), Some(10 * MINUTE), 0.0).refresh_at;
        let earliest = plan_refresh(at(0), at(3600), Some(10 * MINUTE), 0.999_999).refresh_at;
        assert_eq!(latest, at(3000));
        assert!(earliest >= at(2940) && earliest < latest);
    }

    #[test]
    fn a_lifetime_shorter_than_refresh_before_uses_a_third_instead_of_looping() {
        // The emulator scales 900 s to 9 s; refreshBefore 5m is longer than that.
        let plan = plan_refresh(at(0), at(9), Some(5 * MINUTE), 0.0);
        assert!(plan.shortened);
        assert_eq!(plan.refresh_before, Duration::from_secs(3));
        assert_eq!(plan.refresh_at, at(6));
        assert!(plan.refresh_at > at(0));
    }

    #[test]
    fn expired_or_inverted_times_never_plan_before_obtaining() {
        let plan = plan_refresh(at(100), at(50), None, 0.5);
        assert_eq!(plan.refresh_at, at(100));
    }

    #[test]
    fn delays_are_clamped() {
        let floor = Duration::from_secs(1);
        let ceiling = 10 * MINUTE;
        assert_eq!(delay_until(at(0), at(-50), floor, ceiling), floor);
        assert_eq!(
            delay_until(at(0), at(30), floor, ceiling),
            Duration::from_secs(30)
        );
        assert_eq!(delay_until(at(0), at(9999), floor, ceiling), ceiling);
    }

    #[test]
    fn retries_stay_within_the_remaining_lifetime() {
        let backoff = Duration::from_secs(120);
        assert_eq!(retry_delay(backoff, at(0), at(1000)), backoff);
        assert_eq!(
            retry_delay(backoff, at(0), at(100)),
            Duration::from_secs(50)
        );
        assert_eq!(retry_delay(backoff, at(0), at(1)), Duration::from_secs(1));
        assert_eq!(retry_delay(backoff, at(10), at(5)), backoff);
        assert!(is_valid(at(0), at(1)));
        assert!(!is_valid(at(1), at(1)));
    }
}
