//! Restarting the workloads listed in `spec.rollout` after a refresh, for programs that read
//! the credentials from environment variables only when they start.
//!
//! Old STS credentials keep working until they expire, so restarts need not be immediate: they
//! are debounced by `minInterval`, but never put off past the expiry (less a margin) of the
//! credentials the running pods got at the last restart. The planning is pure; [`restart`]
//! patches the pod template annotation the way `kubectl rollout restart` does.
//!
//! Knows nothing of STS or of the Secret's contents.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::controller::FIELD_MANAGER;
use crate::controller::schedule::duration_between;
use crate::crd::REFRESHED_AT_ANNOTATION;
use crate::crd::sts_grant::{RolloutTarget, WorkloadKind};

/// The largest margin kept between a restart and the expiry of the credentials it replaces.
const MAX_MARGIN: Duration = Duration::from_secs(120);

/// Time for pods to restart before the credentials they hold expire: a sixth of the
/// credentials' lifetime, at most two minutes.
pub fn margin(lifetime: Duration) -> Duration {
    (lifetime / 6).min(MAX_MARGIN)
}

/// The latest time the workloads must restart after a refresh at `now`. `replaced` is the
/// (obtained, expiration) of the credentials the refresh replaced, if they were still valid;
/// `pending` an earlier deadline not yet met (the pods still hold those older credentials).
pub fn deadline_after_refresh(
    now: Timestamp,
    replaced: Option<(Timestamp, Timestamp)>,
    pending: Option<Timestamp>,
) -> Timestamp {
    let deadline = match replaced {
        Some((obtained, expiration)) if expiration > now => {
            let lead = margin(duration_between(obtained, expiration));
            expiration
                .checked_sub(SignedDuration::try_from(lead).unwrap_or(SignedDuration::ZERO))
                .unwrap_or(now)
                .max(now)
        }
        _ => now,
    };
    pending.map_or(deadline, |pending| pending.min(deadline))
}

/// When to restart: as soon as `min_interval` after the last restart allows, and never later
/// than `deadline`.
pub fn restart_at(
    last_restart: Option<Timestamp>,
    min_interval: Duration,
    deadline: Timestamp,
) -> Timestamp {
    let allowed = last_restart.and_then(|last| {
        last.checked_add(SignedDuration::try_from(min_interval).unwrap_or(SignedDuration::MAX))
            .ok()
    });
    match allowed {
        Some(allowed) => allowed.min(deadline),
        None => Timestamp::MIN,
    }
}

/// Annotates the pod template of `target` in `namespace` with `at`, which rolls its pods.
/// Returns `Ok(false)` when the workload does not exist.
pub async fn restart(
    kube: &kube::Client,
    namespace: &str,
    target: &RolloutTarget,
    at: Timestamp,
) -> Result<bool, kube::Error> {
    let patch = serde_json::json!({
        "spec": {"template": {"metadata": {"annotations": {
            REFRESHED_AT_ANNOTATION: at.to_string(),
        }}}}
    });
    // A merge patch, not an apply: the operator must not take ownership of the workload's
    // template, only bump one annotation as `kubectl rollout restart` does.
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let patch = Patch::Merge(&patch);
    let result = match target.kind {
        WorkloadKind::Deployment => Api::<Deployment>::namespaced(kube.clone(), namespace)
            .patch(&target.name, &params, &patch)
            .await
            .map(|_| ()),
        WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(kube.clone(), namespace)
            .patch(&target.name, &params, &patch)
            .await
            .map(|_| ()),
        WorkloadKind::DaemonSet => Api::<DaemonSet>::namespaced(kube.clone(), namespace)
            .patch(&target.name, &params, &patch)
            .await
            .map(|_| ()),
    };
    match result {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn the_first_refresh_restarts_at_once() {
        let deadline = deadline_after_refresh(at(0), None, None);
        assert_eq!(deadline, at(0));
        assert!(restart_at(None, 5 * MINUTE, deadline) <= at(0));
    }

    #[test]
    fn restarts_wait_for_the_interval_but_not_past_the_old_expiry() {
        // Credentials of an hour replaced 20 minutes before expiry: the pods have until
        // expiry minus two minutes.
        let deadline = deadline_after_refresh(at(2400), Some((at(0), at(3600))), None);
        assert_eq!(deadline, at(3600 - 120));
        // Last restart 10 minutes ago, interval 5 minutes: now.
        assert_eq!(restart_at(Some(at(1800)), 5 * MINUTE, deadline), at(2100));
        // Last restart a minute ago, interval 5 minutes: four minutes from now.
        assert_eq!(restart_at(Some(at(2340)), 5 * MINUTE, deadline), at(2640));
        // Interval of an hour: the deadline wins.
        assert_eq!(restart_at(Some(at(2340)), 60 * MINUTE, deadline), deadline);
    }

    #[test]
    fn a_pending_deadline_is_kept_when_refreshes_pile_up() {
        let first = deadline_after_refresh(at(100), Some((at(0), at(900))), None);
        assert_eq!(first, at(780));
        let second = deadline_after_refresh(at(200), Some((at(100), at(1000))), Some(first));
        assert_eq!(second, first);
    }

    #[test]
    fn expired_old_credentials_mean_restart_now() {
        assert_eq!(
            deadline_after_refresh(at(1000), Some((at(0), at(900))), None),
            at(1000)
        );
        assert_eq!(margin(Duration::from_secs(9)), Duration::from_millis(1500));
    }
}
