//! `StsGrant`: short-lived STS credentials for a role, obtained with `AssumeRole`, kept fresh in
//! a Secret that workloads mount or load with `envFrom`.
//!
//! Only the API: fields, defaults and the rules the API server enforces. The refresh schedule
//! and the Secret renderings live in the controller.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CredentialsRef, DNS_SUBDOMAIN_PATTERN, GO_DURATION_PATTERN, LocalObjectRef,
    condition_list_schema,
};

fn default_duration_seconds() -> i64 {
    3600
}

fn default_formats() -> Vec<StsGrantFormat> {
    vec![StsGrantFormat::Env]
}

fn default_min_interval() -> String {
    "5m".to_owned()
}

/// Short-lived STS credentials for a RAM role (usually another account's `CrossAccountRole`),
/// obtained with `AssumeRole` and written to a Secret that the operator refreshes well before
/// the credentials expire. Pods use the Secret with `envFrom` (every official SDK reads the
/// `ALIBABA_CLOUD_*` variables) or mount the `aliyun` CLI profile.
// Each `printcolumn(...)` repeats `type_ = ...`, which clippy mistakes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ram.alicloud.dev",
    version = "v1alpha1",
    kind = "StsGrant",
    namespaced,
    shortname = "stsgrant",
    category = "ram",
    status = "StsGrantStatus",
    derive = "PartialEq",
    doc = "Short-lived STS credentials for a RAM role, kept fresh in a Secret.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#
    ),
    printcolumn(
        name = "Expiration",
        type_ = "string",
        json_path = ".status.expiration"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.roleArn) != has(self.roleRef)",
        "message": "set exactly one of roleArn or roleRef",
        "fieldPath": ".roleArn",
        "reason": "FieldValueInvalid"
    },
    {
        "rule": "!has(self.refreshBefore) || duration(self.refreshBefore).getSeconds() < self.durationSeconds",
        "message": "refreshBefore must be shorter than durationSeconds",
        "fieldPath": ".refreshBefore",
        "reason": "FieldValueInvalid"
    }
]))]
pub struct StsGrantSpec {
    /// ARN of the role to assume, `acs:ram::<account-id>:role/<role-name>`, e.g. the
    /// `status.arn` of another account's `CrossAccountRole`. Exactly one of `roleArn` and
    /// `roleRef`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 128),
        regex(pattern = r"^acs:ram::[0-9]{1,32}:role/[A-Za-z0-9.-]{1,64}$")
    )]
    pub role_arn: Option<String>,

    /// A `CrossAccountRole` in this namespace whose role to assume (its `status.arn`). Exactly
    /// one of `roleArn` and `roleRef`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_ref: Option<LocalObjectRef>,

    /// Whose credentials call `AssumeRole`: a `RamUser` of this namespace (`ramUserRef`, through
    /// its AccessKey Secret) or a Secret holding an AccessKey (`secretRef`). Absent: the
    /// operator's own identity, only if the operator runs with default credentials enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<GrantSource>,

    /// Session name recorded in ActionTrail and in the assumed-role ARN: 2-64 letters, digits,
    /// `.`, `@`, `-` or `_`. Default: derived from the namespace and name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 64), regex(pattern = r"^[A-Za-z0-9.@_-]{2,64}$"))]
    pub role_session_name: Option<String>,

    /// Lifetime of the credentials in seconds: 900-43200, default 3600, and not above the
    /// role's `maxSessionDuration`.
    #[serde(default = "default_duration_seconds")]
    #[schemars(range(min = 900, max = 43200))]
    pub duration_seconds: i64,

    /// Session policy (JSON, up to 2048 characters) that narrows what the credentials may do
    /// below the role's own permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub policy: Option<String>,

    /// External ID the role's trust policy requires (`sts:ExternalId`): 2-1224 letters, digits
    /// or `_+=,.@:/-`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = 1224),
        regex(pattern = r"^[A-Za-z0-9_+=,.@:/-]+$")
    )]
    pub external_id: Option<String>,

    /// How long before expiry the credentials are refreshed, as a Go duration like `"20m"` or
    /// `"1h30m"`. At least `1m` and shorter than `durationSeconds`. Default: one third of the
    /// lifetime STS actually granted (20m for the default hour). Old credentials stay valid
    /// until they expire, so workloads have this long to pick up the new ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = 32),
        regex(pattern = GO_DURATION_PATTERN),
        extend(
            "format" = "duration",
            "x-kubernetes-validations" = [
                {
                    "rule": "duration(self) >= duration('1m')",
                    "message": "refreshBefore must be a Go duration of at least 1m, e.g. 20m",
                    "reason": "FieldValueInvalid"
                }
            ]
        )
    )]
    pub refresh_before: Option<String>,

    /// Secret (in this namespace) that receives the credentials. Default: `metadata.name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub secret_name: Option<String>,

    /// Renderings in the Secret: `Env` (always written: `ALIBABA_CLOUD_ACCESS_KEY_ID`,
    /// `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, `ALIBABA_CLOUD_SECURITY_TOKEN` and `expiration`) and
    /// `CliConfig` (key `config.json`, an `aliyun` CLI profile in `StsToken` mode).
    #[serde(default = "default_formats")]
    #[schemars(length(max = 2), extend("x-kubernetes-list-type" = "set"))]
    pub formats: Vec<StsGrantFormat>,

    /// Workloads to restart (pod template annotation) after a refresh, for programs that read
    /// the credentials from environment variables only at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,

    /// `Delete` (default): the Secret is owned by this grant and garbage collected with it.
    /// `Retain`: the Secret stays when the grant is deleted (its credentials still expire).
    #[serde(default)]
    pub secret_deletion_policy: SecretDeletionPolicy,
}

/// Where the credentials that call `AssumeRole` come from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!(has(self.ramUserRef) && has(self.secretRef))",
        "message": "set at most one of source.ramUserRef and source.secretRef",
        "fieldPath": ".secretRef",
        "reason": "FieldValueForbidden"
    }
]))]
pub struct GrantSource {
    /// A programmatic `RamUser` in this namespace; its AccessKey Secret is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ram_user_ref: Option<LocalObjectRef>,
    /// A Secret in this namespace holding an AccessKey pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<CredentialsRef>,
}

/// A rendering of STS credentials in the Secret.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum StsGrantFormat {
    Env,
    CliConfig,
}

/// What happens to the Secret when the grant is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SecretDeletionPolicy {
    #[default]
    Delete,
    Retain,
}

/// Restart workloads after a refresh, debounced.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// Deployments, StatefulSets or DaemonSets in this namespace whose pod template gets a
    /// `ram.alicloud.dev/refreshed-at` annotation after a refresh.
    #[schemars(
        length(min = 1, max = 32),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["kind", "name"])
    )]
    pub targets: Vec<RolloutTarget>,

    /// Restarts happen at most this often (Go duration, default `5m`), but always before the
    /// old credentials expire: old STS tokens stay valid until then, so there is no need to
    /// restart at once.
    #[serde(default = "default_min_interval")]
    #[schemars(
        length(min = 1, max = 32),
        regex(pattern = GO_DURATION_PATTERN),
        extend(
            "format" = "duration",
            "x-kubernetes-validations" = [
                {
                    "rule": "duration(self) >= duration('0s')",
                    "message": "rollout.minInterval must be a non-negative Go duration, e.g. 5m"
                }
            ]
        )
    )]
    pub min_interval: String,
}

/// A workload to restart.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutTarget {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: WorkloadKind,
    /// Name of the workload in this namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
}

/// Kinds of workload a rollout can restart.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// Observed state of an `StsGrant`. Never holds a secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StsGrantStatus {
    /// The `metadata.generation` this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (True only while the credentials in the Secret are valid), `CredentialsValid`,
    /// `Reconciling` and `Stalled`, each with the generation it describes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "condition_list_schema")]
    pub conditions: Vec<Condition>,
    /// When the credentials in the Secret expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Time>,
    /// When the credentials in the Secret were obtained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_refresh_time: Option<Time>,
    /// When the next refresh is scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_refresh_time: Option<Time>,
    /// The role ARN in use (resolved from `roleRef` when that is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The identity STS issued the credentials to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed_role_user: Option<AssumedRoleUser>,
    /// The temporary AccessKey ID in the Secret (never the secret or the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The AccessKey ID of the source credentials that obtained them; a new source key triggers
    /// a refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_access_key_id: Option<String>,
    /// Failed refreshes since the last success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<i32>,
    /// When the rollout targets were last restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rollout_time: Option<Time>,
    /// A restart of the rollout targets is pending and must happen by then (the expiry, less a
    /// margin, of the credentials the running pods hold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_due_time: Option<Time>,
}

/// The identity of assumed-role credentials, as STS reports it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssumedRoleUser {
    /// `acs:ram::<account-id>:role/<role-name>/<session-name>`.
    pub arn: String,
    /// `<role-id>:<session-name>`.
    pub assumed_role_id: String,
}

impl StsGrant {
    /// The Secret that receives the credentials: `spec.secretName`, default `metadata.name`.
    pub fn secret_name(&self) -> &str {
        secret_name(
            self.spec.secret_name.as_deref(),
            self.metadata.name.as_deref(),
        )
    }
}

/// [`StsGrant::secret_name`] from the two fields it is made of, for holders of a grant's
/// fields that are not a whole `StsGrant`.
pub fn secret_name<'a>(spec_secret_name: Option<&'a str>, grant_name: Option<&'a str>) -> &'a str {
    spec_secret_name.or(grant_name).unwrap_or_default()
}
