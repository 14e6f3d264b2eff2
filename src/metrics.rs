//! Prometheus metrics of the operator (prefix `ram_operator_`).
//!
//! Reconciles per kind, cloud calls per service / action / result code, and per-grant
//! credential timestamps in the style of cert-manager's certificate metrics, so an alert can
//! fire before anything expires. No label ever carries a secret: labels are kinds, object
//! names, API action names and error codes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloudCallLabels {
    pub service: String,
    pub action: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloudActionLabels {
    pub service: String,
    pub action: String,
}

/// A grant's two series share one pair of strings: at 10,000 grants, separate `String`s per
/// series were 40,000 allocations.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabels {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

/// Every metric the operator exports, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub reconciliations: Family<KindLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub cloud_calls: Family<CloudCallLabels, Counter>,
    pub cloud_call_duration: Family<CloudActionLabels, Histogram>,
    pub cloud_throttled: Family<CloudActionLabels, Counter>,
    pub credentials_expiration: Family<GrantLabels, Gauge<f64, AtomicU64>>,
    pub credentials_refresh: Family<GrantLabels, Gauge<f64, AtomicU64>>,
    pub refresh_lateness: Histogram,
    /// Length of the last exposition, to size the next one's buffer at once.
    exposition_len: Arc<AtomicUsize>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ram_operator");
        let reconciliations = Family::<KindLabels, Counter>::default();
        registry.register(
            "reconciliations",
            "Reconciles started, per kind",
            reconciliations.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, per kind and condition reason",
            reconcile_errors.clone(),
        );
        let reconcile_duration =
            Family::<KindLabels, Histogram>::new_with_constructor(duration_histogram);
        registry.register(
            "reconcile_duration_seconds",
            "Time a reconcile took, per kind",
            reconcile_duration.clone(),
        );
        let cloud_calls = Family::<CloudCallLabels, Counter>::default();
        registry.register(
            "cloud_calls",
            "Alibaba Cloud API calls, per service, action and result code (Success or the error code)",
            cloud_calls.clone(),
        );
        let cloud_call_duration =
            Family::<CloudActionLabels, Histogram>::new_with_constructor(duration_histogram);
        registry.register(
            "cloud_call_duration_seconds",
            "Duration of Alibaba Cloud API calls including retries, per service and action",
            cloud_call_duration.clone(),
        );
        let cloud_throttled = Family::<CloudActionLabels, Counter>::default();
        registry.register(
            "cloud_throttled",
            "Alibaba Cloud answers that asked to slow down (Throttling.*)",
            cloud_throttled.clone(),
        );
        let credentials_expiration = Family::<GrantLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "credentials_expiration_timestamp_seconds",
            "Expiry of the STS credentials a StsGrant's Secret holds, as a Unix timestamp",
            credentials_expiration.clone(),
        );
        let credentials_refresh = Family::<GrantLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "credentials_refresh_timestamp_seconds",
            "When a StsGrant's credentials are next refreshed, as a Unix timestamp",
            credentials_refresh.clone(),
        );
        let refresh_lateness = Histogram::new(exponential_buckets(0.05, 2.0, 12));
        registry.register(
            "refresh_lateness_seconds",
            "How long after its scheduled time a refresh happened",
            refresh_lateness.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciliations,
            reconcile_errors,
            reconcile_duration,
            cloud_calls,
            cloud_call_duration,
            cloud_throttled,
            credentials_expiration,
            credentials_refresh,
            refresh_lateness,
            exposition_len: Arc::default(),
        }
    }

    /// The text exposition of every metric.
    ///
    /// The buffer starts at the last exposition's size plus an eighth, so a scrape writes into
    /// one allocation instead of growing a `String` by doubling through a dozen reallocations
    /// to 4 MiB for the two per-grant series (about 2 MiB of text at 10,000 grants). The
    /// first scrape still grows it.
    pub fn encode(&self) -> String {
        let last = self.exposition_len.load(Ordering::Relaxed);
        let mut out = String::with_capacity(last + last / 8);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        self.exposition_len.store(out.len(), Ordering::Relaxed);
        out
    }

    /// Counts a reconcile of `kind` and returns a guard that records its duration when dropped,
    /// so every exit path of a reconcile is measured.
    pub fn reconcile_started(&self, kind: &str) -> ReconcileTimer {
        let labels = KindLabels {
            kind: kind.to_string(),
        };
        self.reconciliations.get_or_create(&labels).inc();
        ReconcileTimer {
            histogram: self.reconcile_duration.get_or_create(&labels).clone(),
            started: Instant::now(),
        }
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, kind: &str, reason: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                kind: kind.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Records one finished cloud call.
    pub fn cloud_call(&self, service: &str, action: &str, code: &str, took: Duration) {
        self.cloud_calls
            .get_or_create(&CloudCallLabels {
                service: service.to_string(),
                action: action.to_string(),
                code: code.to_string(),
            })
            .inc();
        let action_labels = CloudActionLabels {
            service: service.to_string(),
            action: action.to_string(),
        };
        self.cloud_call_duration
            .get_or_create(&action_labels)
            .observe(took.as_secs_f64());
        if code.starts_with("Throttling") || code == "Rejected.Throttling" {
            self.cloud_throttled.get_or_create(&action_labels).inc();
        }
    }

    /// Publishes a grant's expiry and next refresh time.
    pub fn grant_credentials(
        &self,
        namespace: &str,
        name: &str,
        expiration: jiff::Timestamp,
        next_refresh: jiff::Timestamp,
    ) {
        let labels = GrantLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        self.credentials_expiration
            .get_or_create(&labels)
            .set(expiration.as_millisecond() as f64 / 1000.0);
        self.credentials_refresh
            .get_or_create(&labels)
            .set(next_refresh.as_millisecond() as f64 / 1000.0);
    }

    /// Drops a deleted grant's series so that alerts do not fire for it.
    pub fn forget_grant(&self, namespace: &str, name: &str) {
        let labels = GrantLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        self.credentials_expiration.remove(&labels);
        self.credentials_refresh.remove(&labels);
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Records the time since its creation into a histogram when dropped.
pub struct ReconcileTimer {
    histogram: Histogram,
    started: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_carry_the_prefix_and_labels() {
        let metrics = Metrics::new();
        drop(metrics.reconcile_started("StsGrant"));
        metrics.cloud_call(
            "sts",
            "AssumeRole",
            "Throttling.User",
            Duration::from_millis(5),
        );
        metrics.grant_credentials(
            "team-a",
            "app",
            jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            jiff::Timestamp::from_second(1_699_999_000).unwrap(),
        );
        let text = metrics.encode();
        assert!(
            text.contains("ram_operator_reconciliations_total{kind=\"StsGrant\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ram_operator_reconcile_duration_seconds_count{kind=\"StsGrant\"} 1")
        );
        assert!(text.contains(
            "ram_operator_cloud_calls_total{service=\"sts\",action=\"AssumeRole\",code=\"Throttling.User\"} 1"
        ));
        assert!(text.contains(
            "ram_operator_cloud_throttled_total{service=\"sts\",action=\"AssumeRole\"} 1"
        ));
        assert!(text.contains(
            "ram_operator_credentials_expiration_timestamp_seconds{namespace=\"team-a\",name=\"app\"} 1700000000"
        ));
        metrics.forget_grant("team-a", "app");
        assert!(!metrics.encode().contains("namespace=\"team-a\""));
    }
}
