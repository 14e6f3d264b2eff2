//! Leader election over a `coordination.k8s.io/v1` Lease (kube-lease-manager), so that several
//! replicas can run for availability while only one of them reconciles.
//!
//! The rule this module enforces: a process reconciles only while it can prove it holds the
//! Lease. When it cannot (another replica took the Lease, or renewals fail until the Lease may
//! have expired), [`Leadership::lost`] resolves and the caller exits the process. A stale leader
//! must not keep writing: two operators refreshing the same grants or rewriting the same trust
//! policies would fight, and exiting hands every in-flight reconcile to the new leader through a
//! clean restart (the same choice linkerd's policy controller makes).
//!
//! It knows nothing of the controllers; it only answers "may this process act now?".

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerBuilder};

use super::FIELD_MANAGER;

/// How this process takes part in the election.
#[derive(Clone, Debug)]
pub struct ElectionConfig {
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// Name of the Lease; every replica of one installation uses the same.
    pub lease_name: String,
    /// Holder identity of this process (pod name plus a random suffix).
    pub identity: String,
    /// How long a Lease stays valid without renewal; a crashed leader is replaced after this.
    pub lease_duration: Duration,
}

impl ElectionConfig {
    /// Seconds before expiry at which the holder renews: a third of the duration, at least one
    /// second, so that a renewal has two more chances before the Lease runs out.
    pub fn renew_grace_seconds(&self) -> u64 {
        (self.lease_duration.as_secs() / 3).max(1)
    }
}

/// The identity of this process: `POD_NAME` (or the host name) plus a random suffix, so two
/// processes on one host, or a restarted container of the same pod, never share an identity.
pub fn default_identity() -> String {
    let base = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "ram-operator".to_string());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{base}-{}", &suffix[..8])
}

/// Proof that this process holds the Lease, renewed in the background.
pub struct Leadership {
    manager: std::sync::Arc<LeaseManager>,
    renewer: tokio::task::JoinHandle<()>,
    lost: tokio::sync::oneshot::Receiver<String>,
    identity: String,
}

/// Waits until this process holds the Lease (creating it when missing), then keeps renewing it.
pub async fn acquire(kube: &kube::Client, config: &ElectionConfig) -> anyhow::Result<Leadership> {
    let duration = config.lease_duration.as_secs().max(2);
    let manager = LeaseManagerBuilder::new(kube.clone(), config.lease_name.clone())
        .with_namespace(config.namespace.clone())
        .with_identity(config.identity.clone())
        .with_duration(duration)
        .with_grace(config.renew_grace_seconds())
        .with_create_mode(LeaseCreateMode::AutoCreate)
        .with_field_manager(format!("{FIELD_MANAGER}-leader-election"))
        .build()
        .await
        .with_context(|| {
            format!(
                "reading or creating Lease {}/{}",
                config.namespace, config.lease_name
            )
        })?;
    tracing::info!(
        lease = %format!("{}/{}", config.namespace, config.lease_name),
        identity = %config.identity,
        "waiting for leadership"
    );
    loop {
        match manager.changed().await {
            Ok(true) => break,
            Ok(false) => {}
            // Not leading yet: nothing to protect, just try again.
            Err(error) => {
                tracing::warn!(%error, "leader election: lease check failed, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    tracing::info!(identity = %config.identity, "acquired leadership");

    let manager = std::sync::Arc::new(manager);
    let (lost_sender, lost) = tokio::sync::oneshot::channel();
    let leases: Api<Lease> = Api::namespaced(kube.clone(), &config.namespace);
    let renewer = tokio::spawn(renew(manager.clone(), leases, config.clone(), lost_sender));
    Ok(Leadership {
        manager,
        renewer,
        lost,
        identity: config.identity.clone(),
    })
}

/// Keeps the Lease renewed; sends why leadership ended when it does.
async fn renew(
    manager: std::sync::Arc<LeaseManager>,
    leases: Api<Lease>,
    config: ElectionConfig,
    lost: tokio::sync::oneshot::Sender<String>,
) {
    let reason = loop {
        // While we hold the Lease, `changed` sleeps until shortly before expiry, renews, and
        // returns only when the holder changed (`false`) or an API call failed.
        match manager.changed().await {
            Ok(true) => continue,
            Ok(false) => break "another replica holds the Lease".to_string(),
            Err(error) => {
                tracing::warn!(%error, "leader election: renewing the Lease failed");
                match still_holds(&leases, &config).await {
                    Ok(()) => tokio::time::sleep(Duration::from_secs(1)).await,
                    Err(why) => break why,
                }
            }
        }
    };
    let _ = lost.send(reason);
}

/// After a failed renewal: whether the Lease, read again, is still ours and unexpired. Retries
/// the read for the renewal grace period (the time left before the Lease can expire).
async fn still_holds(leases: &Api<Lease>, config: &ElectionConfig) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.renew_grace_seconds());
    loop {
        match leases.get(&config.lease_name).await {
            Ok(lease) => return holds(&lease, &config.identity, jiff::Timestamp::now()),
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(format!(
                    "cannot read the Lease to confirm leadership before it may expire: {error}"
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Whether `lease` is held by `identity` and unexpired at `now`; otherwise why not.
pub fn holds(lease: &Lease, identity: &str, now: jiff::Timestamp) -> Result<(), String> {
    let spec = lease.spec.as_ref().ok_or("the Lease has no spec")?;
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == identity => {}
        Some(holder) => return Err(format!("the Lease is held by {holder}")),
        None => return Err("the Lease has no holder".to_string()),
    }
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .ok_or("the Lease has no renew time")?;
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    let expiry = renewed
        .0
        .checked_add(jiff::SignedDuration::from_secs(duration))
        .map_err(|error| format!("the Lease's expiry is out of range: {error}"))?;
    if expiry <= now {
        return Err(format!("the Lease expired at {expiry}"));
    }
    Ok(())
}

impl Leadership {
    /// Resolves with the reason when this process no longer holds the Lease.
    pub async fn lost(&mut self) -> String {
        (&mut self.lost)
            .await
            .unwrap_or_else(|_| "the Lease renewal task ended".to_string())
    }

    /// Stops renewing and releases the Lease, so a standby replica can take over without
    /// waiting for it to expire. Called after the controllers have stopped.
    pub async fn release(self) {
        self.renewer.abort();
        let _ = self.renewer.await;
        match tokio::time::timeout(Duration::from_secs(5), self.manager.release()).await {
            Ok(Ok(())) => tracing::info!(identity = %self.identity, "released the Lease"),
            Ok(Err(error)) => tracing::warn!(%error, "could not release the Lease"),
            Err(_) => tracing::warn!("releasing the Lease timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(holder: Option<&str>, renewed: &str, seconds: i32) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                renew_time: Some(MicroTime(renewed.parse().unwrap())),
                lease_duration_seconds: Some(seconds),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn held_and_unexpired_lease_is_ours() {
        let now: jiff::Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        let ours = lease(Some("me"), "2026-01-01T00:00:00Z", 15);
        assert_eq!(holds(&ours, "me", now), Ok(()));
    }

    #[test]
    fn other_holder_or_expiry_is_not_ours() {
        let now: jiff::Timestamp = "2026-01-01T00:00:20Z".parse().unwrap();
        let theirs = lease(Some("other"), "2026-01-01T00:00:10Z", 15);
        assert!(holds(&theirs, "me", now).unwrap_err().contains("other"));
        let expired = lease(Some("me"), "2026-01-01T00:00:00Z", 15);
        assert!(holds(&expired, "me", now).unwrap_err().contains("expired"));
        let released = lease(None, "2026-01-01T00:00:10Z", 15);
        assert!(holds(&released, "me", now).is_err());
    }

    #[test]
    fn renewal_leaves_two_more_chances() {
        let config = ElectionConfig {
            namespace: "ns".into(),
            lease_name: "l".into(),
            identity: "me".into(),
            lease_duration: Duration::from_secs(15),
        };
        assert_eq!(config.renew_grace_seconds(), 5);
        let short = ElectionConfig {
            lease_duration: Duration::from_secs(2),
            ..config
        };
        assert_eq!(short.renew_grace_seconds(), 1);
    }

    #[test]
    fn identities_are_unique_per_process() {
        assert_ne!(default_identity(), default_identity());
    }
}
