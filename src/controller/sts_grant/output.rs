//! What a grant writes, as pure functions: the Secret (data, label, annotations, owner) and the
//! status with its conditions, after a refresh, while waiting, and after a failure.
//!
//! Status carries key ids and times, never a secret or a token. This module knows nothing of
//! the clients; the clock is a parameter.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::api::ObjectMeta;

use super::decide::{
    DATA_HASH_ANNOTATION, GENERATION_ANNOTATION, NEXT_REFRESH_ANNOTATION, SOURCE_KEY_ANNOTATION,
    Served, data_hash,
};
use crate::alicloud::signature::format_timestamp;
use crate::controller::schedule::RefreshPlan;
use crate::controller::secrets::{StsSecretInput, sts_secret_data};
use crate::crd::conditions::{
    self, CREDENTIALS_VALID, ConditionUpdate, FALSE, READY, RECONCILING, STALLED, TRUE,
};
use crate::crd::sts_grant::{AssumedRoleUser, SecretDeletionPolicy, StsGrantFormat};
use crate::crd::{
    EXPIRATION_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, REFRESHED_AT_ANNOTATION,
    ROLE_ARN_ANNOTATION, StsGrant, StsGrantStatus,
};

/// Label on a grant's Secret naming the grant (so a `Retain` Secret, which has no owner
/// reference, still maps back to its grant).
pub const GRANT_LABEL: &str = "ram.alicloud.dev/sts-grant";

/// Condition reasons of a healthy grant.
pub const REASON_SERVED: &str = "CredentialsServed";
/// The served credentials are past their expiry.
pub const REASON_EXPIRED: &str = "CredentialsExpired";
/// There is no Secret with credentials yet.
pub const REASON_NO_CREDENTIALS: &str = "NoCredentials";

/// Freshly obtained credentials and where they came from.
pub struct Issued<'a> {
    pub access_key_id: &'a str,
    pub access_key_secret: &'a str,
    pub security_token: &'a str,
    pub expiration: Timestamp,
    pub obtained_at: Timestamp,
    pub plan: RefreshPlan,
    pub role_arn: &'a str,
    pub source_access_key_id: &'a str,
}

/// Whether the grant renders the `aliyun` CLI profile.
pub fn wants_cli_config(grant: &StsGrant) -> bool {
    grant.spec.formats.contains(&StsGrantFormat::CliConfig)
}

/// The whole Secret of `grant` holding `issued`, for one server-side apply.
pub fn desired_secret(grant: &StsGrant, issued: &Issued<'_>, region: &str) -> Secret {
    let cli_config = wants_cli_config(grant);
    let data = sts_secret_data(
        &StsSecretInput {
            access_key_id: issued.access_key_id,
            access_key_secret: issued.access_key_secret,
            security_token: issued.security_token,
            expiration: issued.expiration,
            region,
        },
        cli_config,
    );
    let mut annotations = BTreeMap::from([
        (
            EXPIRATION_ANNOTATION.to_owned(),
            format_timestamp(issued.expiration),
        ),
        (ROLE_ARN_ANNOTATION.to_owned(), issued.role_arn.to_owned()),
        (
            REFRESHED_AT_ANNOTATION.to_owned(),
            issued.obtained_at.to_string(),
        ),
        (
            NEXT_REFRESH_ANNOTATION.to_owned(),
            issued.plan.refresh_at.to_string(),
        ),
        (
            GENERATION_ANNOTATION.to_owned(),
            grant.metadata.generation.unwrap_or_default().to_string(),
        ),
        (
            SOURCE_KEY_ANNOTATION.to_owned(),
            issued.source_access_key_id.to_owned(),
        ),
    ]);
    if let Some(hash) = data_hash(&data, cli_config) {
        annotations.insert(DATA_HASH_ANNOTATION.to_owned(), hash);
    }
    let owner_references = match grant.spec.secret_deletion_policy {
        SecretDeletionPolicy::Delete => grant.controller_owner_ref(&()).map(|owner| vec![owner]),
        SecretDeletionPolicy::Retain => None,
    };
    Secret {
        metadata: ObjectMeta {
            name: Some(grant.secret_name().to_owned()),
            namespace: grant.metadata.namespace.clone(),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned()),
                (
                    GRANT_LABEL.to_owned(),
                    grant.metadata.name.clone().unwrap_or_default(),
                ),
            ])),
            annotations: Some(annotations),
            owner_references,
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// A timestamp as `metav1.Time` stores it (whole seconds), so that a status read back compares
/// equal to the one computed.
pub fn time(at: Timestamp) -> Time {
    Time(Timestamp::from_second(at.as_second()).unwrap_or(at))
}

/// `at` rounded up to a whole second: for a time a minimum interval is counted from, so that
/// storing it in whole seconds can only lengthen the interval, never shorten it.
pub fn time_ceil(at: Timestamp) -> Time {
    let second = at.as_second() + i64::from(at.subsec_nanosecond() > 0);
    Time(Timestamp::from_second(second).unwrap_or(at))
}

fn set(
    conditions: &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    conditions::set(
        conditions,
        &ConditionUpdate {
            type_,
            status,
            reason,
            message,
        },
        generation,
        now,
    );
}

/// The status of a grant whose Secret serves valid credentials (`served`), after a refresh
/// or while waiting for the next one. Depends only on its inputs, so an unchanged grant
/// computes an identical status and nothing is written.
pub fn healthy_status(
    old: &StsGrantStatus,
    generation: Option<i64>,
    served: &Served,
    assumed_role_user: Option<AssumedRoleUser>,
    now: Timestamp,
) -> StsGrantStatus {
    let mut status = old.clone();
    status.observed_generation = generation;
    status.expiration = served.expiration.map(time);
    status.last_refresh_time = served.refreshed_at.map(time);
    status.next_refresh_time = served.next_refresh.map(time);
    status.role_arn = served.role_arn.clone();
    status.access_key_id = served.access_key_id.clone();
    status.source_access_key_id = served.source_access_key_id.clone();
    status.consecutive_failures = None;
    if assumed_role_user.is_some() {
        status.assumed_role_user = assumed_role_user;
    }
    let expiration = served.expiration.map(format_timestamp).unwrap_or_default();
    let next = served
        .next_refresh
        .map(format_timestamp)
        .unwrap_or_default();
    let message = format!(
        "The Secret holds credentials {} valid until {expiration}; next refresh at {next}",
        served.access_key_id.as_deref().unwrap_or_default()
    );
    let conditions = &mut status.conditions;
    set(
        conditions,
        READY,
        TRUE,
        REASON_SERVED,
        &message,
        generation,
        now,
    );
    set(
        conditions,
        CREDENTIALS_VALID,
        TRUE,
        REASON_SERVED,
        &format!("Valid until {expiration}"),
        generation,
        now,
    );
    set(
        conditions,
        RECONCILING,
        FALSE,
        REASON_SERVED,
        "",
        generation,
        now,
    );
    set(
        conditions,
        STALLED,
        FALSE,
        REASON_SERVED,
        "",
        generation,
        now,
    );
    status
}

/// What went wrong, for [`failed_status`].
pub struct Failure<'a> {
    /// Specific CamelCase reason (`AccessDenied`, `RoleNotFound`, ...).
    pub reason: &'a str,
    /// What happened and what to do; never a secret.
    pub message: &'a str,
    /// A person must act (kstatus `Stalled`).
    pub stalled: bool,
    /// Counts as a failed refresh (an `AssumeRole` or Secret write failed).
    pub refresh_failed: bool,
}

/// The status after a failure. `Ready` says why; while the Secret's credentials still work it
/// stays `CredentialsValid=True`, and once they do not, `Ready` turns `CredentialsExpired`.
pub fn failed_status(
    old: &StsGrantStatus,
    generation: Option<i64>,
    served: Option<&Served>,
    failure: &Failure<'_>,
    now: Timestamp,
) -> StsGrantStatus {
    let mut status = old.clone();
    status.observed_generation = generation;
    if failure.refresh_failed {
        status.consecutive_failures = Some(old.consecutive_failures.unwrap_or(0).saturating_add(1));
    }
    let valid_until = served
        .filter(|served| served.valid_at(now))
        .and_then(|served| served.expiration);
    let conditions = &mut status.conditions;
    match valid_until {
        Some(expiration) => {
            let until = format_timestamp(expiration);
            set(
                conditions,
                READY,
                FALSE,
                failure.reason,
                &format!(
                    "{} The credentials in the Secret stay valid until {until}; retrying before then.",
                    failure.message
                ),
                generation,
                now,
            );
            set(
                conditions,
                CREDENTIALS_VALID,
                TRUE,
                REASON_SERVED,
                &format!("Valid until {until}"),
                generation,
                now,
            );
        }
        None => {
            let (reason, valid_reason, what) = match served.and_then(|s| s.expiration) {
                Some(expiration) if served.is_some_and(|s| s.intact) => (
                    REASON_EXPIRED,
                    REASON_EXPIRED,
                    format!(
                        "The credentials in the Secret expired at {}.",
                        format_timestamp(expiration)
                    ),
                ),
                _ => (
                    failure.reason,
                    REASON_NO_CREDENTIALS,
                    "The Secret holds no usable credentials.".to_owned(),
                ),
            };
            set(
                conditions,
                READY,
                FALSE,
                reason,
                &format!("{what} {} ({})", failure.message, failure.reason),
                generation,
                now,
            );
            set(
                conditions,
                CREDENTIALS_VALID,
                FALSE,
                valid_reason,
                &what,
                generation,
                now,
            );
        }
    }
    let (reconciling, stalled) = if failure.stalled {
        (FALSE, TRUE)
    } else {
        (TRUE, FALSE)
    };
    set(
        conditions,
        RECONCILING,
        reconciling,
        failure.reason,
        if failure.stalled { "" } else { "Retrying" },
        generation,
        now,
    );
    set(
        conditions,
        STALLED,
        stalled,
        failure.reason,
        if failure.stalled { failure.message } else { "" },
        generation,
        now,
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::schedule::plan_refresh;
    use crate::controller::secrets::{CLI_CONFIG_KEY, ENV_SECURITY_TOKEN};
    use crate::crd::StsGrantSpec;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn grant(policy: SecretDeletionPolicy, formats: Vec<StsGrantFormat>) -> StsGrant {
        let spec: StsGrantSpec = serde_json::from_value(serde_json::json!({
            "roleArn": "acs:ram::1111:role/r",
        }))
        .unwrap();
        let mut grant = StsGrant::new("app", spec);
        grant.metadata.namespace = Some("ns".into());
        grant.metadata.uid = Some("uid-1".into());
        grant.metadata.generation = Some(4);
        grant.spec.secret_deletion_policy = policy;
        grant.spec.formats = formats;
        grant
    }

    fn issued() -> Issued<'static> {
        Issued {
            access_key_id: "STS.new",
            access_key_secret: "s3cr3t",
            security_token: "t0ken",
            expiration: at(3600),
            obtained_at: at(0),
            plan: plan_refresh(at(0), at(3600), None, 0.0),
            role_arn: "acs:ram::1111:role/r",
            source_access_key_id: "LTAIsrc",
        }
    }

    #[test]
    fn the_secret_is_owned_labelled_annotated_and_reads_back_as_served() {
        let grant = grant(
            SecretDeletionPolicy::Delete,
            vec![StsGrantFormat::Env, StsGrantFormat::CliConfig],
        );
        let secret = desired_secret(&grant, &issued(), "cn-hangzhou");
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        let owners = secret.metadata.owner_references.clone().unwrap();
        assert_eq!(owners[0].kind, "StsGrant");
        assert_eq!(owners[0].controller, Some(true));
        let labels = secret.metadata.labels.clone().unwrap();
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
        assert_eq!(labels[GRANT_LABEL], "app");
        let annotations = secret.metadata.annotations.clone().unwrap();
        assert_eq!(annotations[EXPIRATION_ANNOTATION], "2027-01-15T09:00:00Z");
        assert!(secret.data.as_ref().unwrap().contains_key(CLI_CONFIG_KEY));
        assert!(
            secret
                .data
                .as_ref()
                .unwrap()
                .contains_key(ENV_SECURITY_TOKEN)
        );
        assert!(
            !serde_json::to_string(&annotations)
                .unwrap()
                .contains("s3cr3t")
        );

        let served = Served::from_secret(&secret, true);
        assert!(served.intact);
        assert_eq!(served.expiration, Some(at(3600)));
        assert_eq!(served.next_refresh, Some(at(2400)));
        assert_eq!(served.generation, Some(4));
        assert_eq!(served.source_access_key_id.as_deref(), Some("LTAIsrc"));
    }

    #[test]
    fn times_round_down_or_up_to_whole_seconds() {
        let at = at(10) + jiff::SignedDuration::from_millis(250);
        assert_eq!(time(at).0, super::tests::at(10));
        assert_eq!(time_ceil(at).0, super::tests::at(11));
        assert_eq!(time_ceil(super::tests::at(10)).0, super::tests::at(10));
    }

    #[test]
    fn a_retained_secret_has_no_owner() {
        let grant = grant(SecretDeletionPolicy::Retain, vec![StsGrantFormat::Env]);
        let secret = desired_secret(&grant, &issued(), "cn-hangzhou");
        assert!(secret.metadata.owner_references.is_none());
        assert!(!secret.data.unwrap().contains_key(CLI_CONFIG_KEY));
    }

    fn served() -> Served {
        let grant = grant(SecretDeletionPolicy::Delete, vec![StsGrantFormat::Env]);
        Served::from_secret(&desired_secret(&grant, &issued(), "r"), false)
    }

    #[test]
    fn a_healthy_status_is_stable_across_reconciles() {
        let first = healthy_status(&StsGrantStatus::default(), Some(4), &served(), None, at(1));
        assert!(conditions::is_true(&first.conditions, READY));
        assert!(conditions::is_true(&first.conditions, CREDENTIALS_VALID));
        assert_eq!(first.access_key_id.as_deref(), Some("STS.new"));
        // Through the API server and back (whole seconds), then recomputed later.
        let read_back: StsGrantStatus =
            serde_json::from_value(serde_json::to_value(&first).unwrap()).unwrap();
        let again = healthy_status(&read_back, Some(4), &served(), None, at(500));
        assert_eq!(again, read_back);
    }

    #[test]
    fn a_failure_keeps_serving_valid_credentials_then_reports_expiry() {
        let healthy = healthy_status(&StsGrantStatus::default(), Some(4), &served(), None, at(1));
        let denied = Failure {
            reason: "AccessDenied",
            message: "AssumeRole: NoPermission.",
            stalled: false,
            refresh_failed: true,
        };
        let failing = failed_status(&healthy, Some(4), Some(&served()), &denied, at(2500));
        let ready = conditions::find(&failing.conditions, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            (FALSE, "AccessDenied")
        );
        assert!(conditions::is_true(&failing.conditions, CREDENTIALS_VALID));
        assert!(conditions::is_true(&failing.conditions, RECONCILING));
        assert_eq!(failing.consecutive_failures, Some(1));

        let expired = failed_status(&failing, Some(4), Some(&served()), &denied, at(3600));
        let ready = conditions::find(&expired.conditions, READY).unwrap();
        assert_eq!(ready.reason, REASON_EXPIRED);
        assert!(ready.message.contains("AccessDenied"));
        let valid = conditions::find(&expired.conditions, CREDENTIALS_VALID).unwrap();
        assert_eq!(
            (valid.status.as_str(), valid.reason.as_str()),
            (FALSE, REASON_EXPIRED)
        );
        assert_eq!(expired.consecutive_failures, Some(2));
    }

    #[test]
    fn a_stalled_failure_without_credentials() {
        let failure = Failure {
            reason: "InvalidDuration",
            message: "durationSeconds exceeds the role's maximum.",
            stalled: true,
            refresh_failed: true,
        };
        let status = failed_status(&StsGrantStatus::default(), Some(1), None, &failure, at(0));
        let ready = conditions::find(&status.conditions, READY).unwrap();
        assert_eq!(ready.reason, "InvalidDuration");
        assert!(conditions::is_true(&status.conditions, STALLED));
        assert!(!conditions::is_true(&status.conditions, RECONCILING));
        assert!(!conditions::is_true(&status.conditions, CREDENTIALS_VALID));
    }
}
