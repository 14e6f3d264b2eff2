//! When and how long to wait before the next attempt of a failed call: exponential backoff
//! with full jitter, bounded in attempts and in total time, honouring the service's
//! `x-acs-retry-after`.
//!
//! Pure decisions only: the caller passes the elapsed time and a random source, and does the
//! sleeping and the re-signing. Nothing here knows about HTTP or signing.

use std::time::Duration;

use rand::Rng;

use super::error::{Error, ErrorKind};

/// Retry bounds of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff cap of the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Largest backoff cap of any single wait.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt, and no wait
    /// would end past it.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that makes exactly one attempt.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff cap before retry number `retry` (0 for the first retry):
    /// `min(max_delay, base_delay * 2^retry)`.
    pub fn cap(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The wait before the next attempt after `error` on attempt `attempt` (1-based), or `None`
    /// when the call must give up: the error is not retryable, the attempts are used up, or the
    /// wait would end past `max_elapsed`. `ambiguous_ok` is false for actions that are unsafe
    /// to repeat when the first attempt may have taken effect (transport errors, 5xx).
    pub fn next_delay(
        &self,
        error: &Error,
        attempt: u32,
        elapsed: Duration,
        ambiguous_ok: bool,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        if !error.is_retryable() || attempt >= self.max_attempts {
            return None;
        }
        if !ambiguous_ok && matches!(error.kind(), ErrorKind::Transient | ErrorKind::Transport) {
            return None;
        }
        let cap = self.cap(attempt.saturating_sub(1));
        // Full jitter: uniform in [0, cap], so that many clients throttled together spread out.
        let jittered = Duration::from_nanos(rng.random_range(0..=cap.as_nanos() as u64));
        let delay = match error.retry_after() {
            Some(asked) => jittered.max(asked),
            None => jittered,
        };
        (elapsed + delay <= self.max_elapsed).then_some(delay)
    }
}

/// Actions whose repetition after an ambiguous failure (the first attempt may have succeeded)
/// creates a second object: a retry would leak an access key or burn a policy version slot.
/// Throttling is still retried for them, because a throttled request was not executed.
pub fn repeat_is_safe(action: &str) -> bool {
    !matches!(action, "CreateAccessKey" | "CreatePolicyVersion")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn throttled(retry_after: Option<Duration>) -> Error {
        Error::from_response(
            "GetRole",
            400,
            br#"{"Code":"Throttling.User","Message":"m"}"#,
            retry_after,
            &[],
        )
    }

    #[test]
    fn caps_grow_exponentially_up_to_the_maximum() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(60),
        };
        let caps: Vec<_> = (0..6).map(|retry| policy.cap(retry).as_millis()).collect();
        assert_eq!(caps, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.cap(200), Duration::from_secs(1));
    }

    #[test]
    fn delays_are_jittered_within_the_cap() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<_> = (0..50)
            .map(|_| {
                policy
                    .next_delay(&throttled(None), 3, Duration::ZERO, true, &mut rng)
                    .unwrap()
            })
            .collect();
        assert!(delays.iter().all(|delay| *delay <= policy.cap(2)));
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 40, "full jitter spreads the waits");
    }

    #[test]
    fn gives_up_on_attempts_elapsed_time_and_non_retryable_errors() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(100),
            max_elapsed: Duration::from_secs(1),
        };
        let mut rng = StdRng::seed_from_u64(1);
        let error = throttled(None);
        assert!(
            policy
                .next_delay(&error, 2, Duration::ZERO, true, &mut rng)
                .is_some()
        );
        assert!(
            policy
                .next_delay(&error, 3, Duration::ZERO, true, &mut rng)
                .is_none()
        );
        assert!(
            policy
                .next_delay(&error, 1, Duration::from_millis(1001), true, &mut rng)
                .is_none()
        );
        let not_found = Error::from_response(
            "GetRole",
            404,
            br#"{"Code":"EntityNotExist.Role"}"#,
            None,
            &[],
        );
        assert!(
            policy
                .next_delay(&not_found, 1, Duration::ZERO, true, &mut rng)
                .is_none()
        );
        let internal = Error::from_response(
            "CreateAccessKey",
            500,
            br#"{"Code":"InternalError"}"#,
            None,
            &[],
        );
        assert!(
            policy
                .next_delay(&internal, 1, Duration::ZERO, false, &mut rng)
                .is_none()
        );
        assert!(
            policy
                .next_delay(&error, 1, Duration::ZERO, false, &mut rng)
                .is_some()
        );
        assert!(!repeat_is_safe("CreateAccessKey"));
        assert!(repeat_is_safe("GetRole"));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(3);
        let delay = policy
            .next_delay(
                &throttled(Some(Duration::from_secs(5))),
                1,
                Duration::ZERO,
                true,
                &mut rng,
            )
            .unwrap();
        assert!(delay >= Duration::from_secs(5));
        let too_long = Some(Duration::from_secs(120));
        assert!(
            policy
                .next_delay(&throttled(too_long), 1, Duration::ZERO, true, &mut rng)
                .is_none(),
            "a wait past the time budget gives up instead"
        );
    }
}
