//! Client-side rate limits per (service, caller account), so a thousand reconciles queue up
//! behind each other instead of tripping the account's server-side limits (which count per
//! API and parent account).
//!
//! A small GCRA limiter on `tokio::time`, rather than `governor`, so that tests can drive it
//! with paused time. It knows nothing of HTTP or credentials: keys are plain strings chosen by
//! the client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::Service;

/// Requests per second per (service, account), and the burst allowed above the steady rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Steady rate; `0` or less disables limiting.
    pub qps: f64,
    /// Requests that may go at once after a quiet period (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// A limit of `qps` with a burst of one second's worth of requests (at least 1).
    pub fn per_second(qps: f64) -> Self {
        Self {
            qps,
            burst: (qps.floor() as u32).max(1),
        }
    }
}

/// Limits per service (defaults: half of the documented per-account limits, leaving room for
/// the workloads' own calls).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    pub ram: RateLimit,
    pub ims: RateLimit,
    pub sts: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            ram: RateLimit::per_second(10.0),
            ims: RateLimit::per_second(10.0),
            sts: RateLimit::per_second(50.0),
        }
    }
}

impl RateLimits {
    fn for_service(&self, service: Service) -> RateLimit {
        match service {
            Service::Ram => self.ram,
            Service::Ims => self.ims,
            Service::Sts => self.sts,
        }
    }
}

/// One GCRA bucket: `tat` is the theoretical arrival time of the next request.
#[derive(Debug)]
struct Bucket {
    interval: Duration,
    tolerance: Duration,
    tat: Mutex<Instant>,
}

impl Bucket {
    fn new(limit: RateLimit) -> Self {
        let interval = Duration::from_secs_f64(1.0 / limit.qps);
        Self {
            interval,
            tolerance: interval * limit.burst.max(1).saturating_sub(1),
            tat: Mutex::new(Instant::now()),
        }
    }

    /// Reserves the next slot and returns when it starts; callers sleep until then. Reserving
    /// before sleeping keeps waiters in order and needs no lock across the sleep.
    fn reserve(&self) -> Instant {
        let now = Instant::now();
        // A poisoned lock only means another task panicked mid-update of a plain Instant.
        let mut tat = self.tat.lock().unwrap_or_else(|poison| poison.into_inner());
        let earliest = tat.checked_sub(self.tolerance).unwrap_or(now);
        let start = earliest.max(now);
        *tat = (*tat).max(now) + self.interval;
        start
    }
}

/// One bucket per (service, account key).
type Buckets = HashMap<(Service, String), Arc<Bucket>>;

/// Rate limiters keyed by (service, account key); cheap to share (`Arc` inside).
#[derive(Debug, Clone, Default)]
pub struct Limiter {
    limits: RateLimits,
    buckets: Arc<Mutex<Buckets>>,
}

impl Limiter {
    /// A limiter with the given per-service limits.
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            buckets: Arc::default(),
        }
    }

    /// Waits until a request of `service` for `account` may be sent.
    pub async fn acquire(&self, service: Service, account: &str) {
        let limit = self.limits.for_service(service);
        if limit.qps <= 0.0 || !limit.qps.is_finite() {
            return;
        }
        let bucket = {
            let mut buckets = self
                .buckets
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            buckets
                .entry((service, account.to_string()))
                .or_insert_with(|| Arc::new(Bucket::new(limit)))
                .clone()
        };
        let start = bucket.reserve();
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(qps: f64, burst: u32) -> RateLimits {
        let limit = RateLimit { qps, burst };
        RateLimits {
            ram: limit,
            ims: limit,
            sts: limit,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn holds_the_configured_rate() {
        let limiter = Limiter::new(limits(10.0, 1));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                limiter.acquire(Service::Ram, "acct").await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.unwrap() - start);
        }
        times.sort();
        // 50 requests at 10/s with no burst: the last one starts 4.9 s after the first.
        assert_eq!(times[0], Duration::ZERO);
        assert_eq!(times[49], Duration::from_millis(4900));
        for window in times.windows(11) {
            assert!(
                window[10] - window[0] >= Duration::from_millis(1000),
                "{window:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_steady_and_keys_are_independent() {
        let limiter = Limiter::new(limits(5.0, 5));
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire(Service::Sts, "a").await;
        }
        assert_eq!(
            Instant::now() - start,
            Duration::ZERO,
            "the burst goes at once"
        );
        limiter.acquire(Service::Sts, "a").await;
        assert_eq!(Instant::now() - start, Duration::from_millis(200));
        // Another account and another service have their own budget.
        limiter.acquire(Service::Sts, "b").await;
        limiter.acquire(Service::Ram, "a").await;
        assert_eq!(Instant::now() - start, Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_qps_disables_limiting() {
        let limiter = Limiter::new(limits(0.0, 1));
        let start = Instant::now();
        for _ in 0..100 {
            limiter.acquire(Service::Ims, "a").await;
        }
        assert_eq!(Instant::now() - start, Duration::ZERO);
    }
}
