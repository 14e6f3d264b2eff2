//! `RamUser`: a RAM user in the consumer's account (Account B), for an application (an AccessKey
//! written to a Secret) or for a person (console login).
//!
//! Only the API: fields, defaults and the rules the API server enforces. Status carries the
//! bookkeeping that makes AccessKey creation crash-safe, never a secret.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    Adoption, CredentialsRef, DNS_SUBDOMAIN_PATTERN, DeletionPolicy, GO_DURATION_PATTERN,
    PolicyRef, SECRET_KEY_PATTERN, condition_list_schema, policy_list_schema,
};

fn default_true() -> bool {
    true
}

fn default_access_key_formats() -> Vec<AccessKeyFormat> {
    vec![AccessKeyFormat::Env]
}

fn default_password_key() -> String {
    "password".to_owned()
}

/// A RAM user in this account ("Account B"), either for an application (`accessMode:
/// Programmatic`: the operator creates an AccessKey and writes it to a Secret the moment it
/// exists, and can rotate it) or for a person (`accessMode: Console`: a console login with a
/// password and, by default, MFA). One mode per user, as Alibaba Cloud's security guidance asks.
/// Give the user `AliyunSTSAssumeRoleAccess` so it can assume roles other accounts trust it with.
// Each `printcolumn(...)` repeats `type_ = ...`, which clippy mistakes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ram.alicloud.dev",
    version = "v1alpha1",
    kind = "RamUser",
    namespaced,
    shortname = "ramuser",
    category = "ram",
    status = "RamUserStatus",
    derive = "PartialEq",
    doc = "A RAM user in this Alibaba Cloud account, for an application (an AccessKey in a Secret) \
           or for a person (console login).",
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
    printcolumn(name = "User", type_ = "string", json_path = ".status.userPrincipalName"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.accessMode", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(
        "(has(self.spec.userName) ? self.spec.userName : self.metadata.name) == \
         (has(oldSelf.spec.userName) ? oldSelf.spec.userName : oldSelf.metadata.name)"
    )
    .message("spec.userName is immutable: the user name (spec.userName, default metadata.name) cannot change; create a new RamUser instead")
    .field_path(".spec.userName")
    .reason(Reason::FieldValueInvalid),
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.accessMode != 'Programmatic' || (has(self.programmatic) && !has(self.console))",
        "message": "accessMode Programmatic needs spec.programmatic and no spec.console",
        "fieldPath": ".programmatic",
        "reason": "FieldValueRequired"
    },
    {
        "rule": "self.accessMode != 'Console' || (has(self.console) && !has(self.programmatic))",
        "message": "accessMode Console needs spec.console and no spec.programmatic",
        "fieldPath": ".console",
        "reason": "FieldValueRequired"
    },
    {
        "rule": "self.accessMode == oldSelf.accessMode",
        "message": "spec.accessMode is immutable: a user is for an application or for a person; create a new RamUser instead",
        "fieldPath": ".accessMode",
        "reason": "FieldValueInvalid"
    }
]))]
pub struct RamUserSpec {
    /// Name of the RAM user. Defaults to `metadata.name`. 1-64 letters, digits, `.`, `-` or `_`.
    /// Cannot be changed once the resource exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub user_name: Option<String>,

    /// Display name shown in the RAM console (1-128 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub display_name: Option<String>,

    /// Free-form comment on the user (1-128 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub comments: Option<String>,

    /// Email address of the user (passed through to RAM).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128), regex(pattern = r"^[^@\s]+@[^@\s]+$"))]
    pub email: Option<String>,

    /// Mobile phone as `<country code>-<number>`, e.g. `86-18600008888` (passed through to RAM).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{1,5}-[0-9]{4,20}$"))]
    pub mobile_phone: Option<String>,

    /// Tags on the RAM user (up to 20; keys up to 128 characters, values up to 128). Keys may not
    /// start with `aliyun` or `acs:`, and `ram.alicloud.dev/owner` is the operator's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 20),
        inner(length(max = 128)),
        extend("x-kubernetes-validations" = [
            {
                "rule": "self.all(k, size(k) >= 1 && size(k) <= 128 && !k.startsWith('aliyun') && !k.startsWith('acs:') && !k.startsWith('http://') && !k.startsWith('https://') && k != 'ram.alicloud.dev/owner')",
                "message": "tag keys must be 1-128 characters, must not start with aliyun, acs:, http:// or https://, and ram.alicloud.dev/owner is reserved"
            }
        ])
    )]
    pub tags: Option<BTreeMap<String, String>>,

    /// `Programmatic` (an application: AccessKey only, configured in `programmatic`) or `Console`
    /// (a person: console login only, configured in `console`). Cannot be changed.
    pub access_mode: AccessMode,

    /// AccessKey settings; required with `accessMode: Programmatic`, forbidden otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programmatic: Option<ProgrammaticAccess>,

    /// Console login settings; required with `accessMode: Console`, forbidden otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleAccess>,

    /// Policies to attach to the user, typically `{name: AliyunSTSAssumeRoleAccess}`.
    /// Policies attached by someone else are left alone.
    #[serde(default)]
    #[schemars(schema_with = "policy_list_schema")]
    pub policies: Vec<PolicyRef>,

    /// What to do when a user of this name already exists without the operator's ownership tag:
    /// `Never` (default: report Stalled, reason AlreadyExists, and never touch it), `Adopt` (take
    /// it over; never create), `AdoptOrCreate` (take it over or create it).
    #[serde(default)]
    pub adoption: Adoption,

    /// Secret in this namespace with the AccessKey of a RAM administrator of this account. Absent:
    /// the operator's own identity, only if the operator runs with default credentials enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<CredentialsRef>,

    /// `Delete` (default): deleting this resource deletes the user's AccessKeys, login profile,
    /// policy attachments and the user. `Orphan`: leave the user in the cloud.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// How the user signs in. Exactly one per user.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AccessMode {
    Programmatic,
    Console,
}

/// AccessKey of an application user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgrammaticAccess {
    /// Secret (in this namespace) that receives the AccessKey pair. It is written the moment the
    /// key is created, because Alibaba Cloud returns the key secret only once.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub access_key_secret_name: String,

    /// Renderings in the Secret: `Env` (always written: `ALIBABA_CLOUD_ACCESS_KEY_ID` and
    /// `ALIBABA_CLOUD_ACCESS_KEY_SECRET`), `CredentialsFile` (key `credentials`, the INI file of
    /// the official credentials libraries), `CliConfig` (key `config.json`, an `aliyun` CLI
    /// profile in `AK` mode).
    #[serde(default = "default_access_key_formats")]
    #[schemars(length(max = 3), extend("x-kubernetes-list-type" = "set"))]
    pub formats: Vec<AccessKeyFormat>,

    /// Rotate the AccessKey on a schedule. Absent: the key is kept until the user is deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
}

/// A rendering of an AccessKey pair in its Secret.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AccessKeyFormat {
    Env,
    CredentialsFile,
    CliConfig,
}

/// Scheduled AccessKey rotation within RAM's limit of two keys per user: create the new key,
/// publish it in the Secret, keep the old one for `gracePeriod`, then delete it. Never proceeds
/// while both key slots hold keys the operator does not own.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "duration(self.gracePeriod) < duration(self.every)",
        "message": "rotation.gracePeriod must be shorter than rotation.every",
        "fieldPath": ".gracePeriod",
        "reason": "FieldValueInvalid"
    }
]))]
pub struct Rotation {
    /// How old a key may get before it is replaced, as a Go duration (`"720h"` for 30 days).
    /// At least `1m`.
    #[schemars(
        length(min = 2, max = 32),
        regex(pattern = GO_DURATION_PATTERN),
        extend(
            "format" = "duration",
            "x-kubernetes-validations" = [
                {
                    "rule": "duration(self) >= duration('1m')",
                    "message": "rotation.every must be a Go duration of at least 1m, e.g. 720h"
                }
            ]
        )
    )]
    pub every: String,

    /// How long the replaced key stays valid after the new one is in the Secret, so running
    /// workloads can pick the new key up (Go duration, e.g. `"24h"`; `"0s"` deletes at once).
    #[schemars(
        length(min = 1, max = 32),
        regex(pattern = GO_DURATION_PATTERN),
        extend(
            "format" = "duration",
            "x-kubernetes-validations" = [
                {
                    "rule": "duration(self) >= duration('0s')",
                    "message": "rotation.gracePeriod must be a non-negative Go duration, e.g. 24h"
                }
            ]
        )
    )]
    pub grace_period: String,
}

/// Console login of a person.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.passwordSecretRef) != has(self.passwordSecretName)",
        "message": "set exactly one of console.passwordSecretRef (a password you provide) or console.passwordSecretName (where the operator writes a generated password)",
        "fieldPath": ".passwordSecretName",
        "reason": "FieldValueInvalid"
    }
]))]
pub struct ConsoleAccess {
    /// A password you provide, in a Secret of this namespace. It must satisfy the account's
    /// password policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeyRef>,

    /// Secret (in this namespace) where the operator writes a generated password that satisfies
    /// the account's password policy (`GetPasswordPolicy`), under key `password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub password_secret_name: Option<String>,

    /// Whether the person must bind an MFA device at first login. Default true.
    #[serde(default = "default_true")]
    pub mfa_bind_required: bool,

    /// Whether the person must change the password at first login. Default: true for a generated
    /// password, false for one you provide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_reset_required: Option<bool>,
}

/// One key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
    /// Key in the Secret; default `password`.
    #[serde(default = "default_password_key")]
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY_PATTERN))]
    pub key: String,
}

/// Observed state of a `RamUser`. Never holds a secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RamUserStatus {
    /// The `metadata.generation` this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`, each with the generation it describes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "condition_list_schema")]
    pub conditions: Vec<Condition>,
    /// RAM user ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Logon name, `<userName>@<default domain>`, what a person types on the sign-in page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    /// ID of the AccessKey currently published in the Secret (never the secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// When the published AccessKey was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_created: Option<Time>,
    /// Every AccessKey the user has in RAM (at most two), and whether the operator owns it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub access_keys: Vec<AccessKeyStatus>,
    /// Set just before `CreateAccessKey` is called and cleared once the new key is in the Secret.
    /// After a crash in between, a key created after `startedAt` that is not in `knownKeyIds` and
    /// not in the Secret is a leaked key and gets deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_creation: Option<AccessKeyCreation>,
    /// State of a rotation: when the last one happened, when the next is due, and the old key
    /// kept for the grace period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationStatus>,
    /// Policies attached by the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policies: Vec<PolicyRef>,
    /// When the console login profile was created (`accessMode: Console`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_profile_created: Option<Time>,
}

/// One AccessKey of the user, as listed by RAM (never the secret).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyStatus {
    /// AccessKey ID.
    pub id: String,
    /// When the key was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Time>,
    /// `Active` or `Inactive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether the operator created this key (it never deletes keys it does not own).
    #[serde(default)]
    pub owned: bool,
    /// Whether this key is the one published in the Secret.
    #[serde(default)]
    pub current: bool,
}

/// The intent recorded before a `CreateAccessKey` call (which is not idempotent and returns the
/// secret only once).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyCreation {
    /// When the creation was started.
    pub started_at: Time,
    /// The user's key IDs before the call; any other key found afterwards came from this call.
    #[serde(default)]
    pub known_key_ids: Vec<String>,
    /// Why the key is being created: `Initial` or `Rotation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Progress of scheduled rotation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationStatus {
    /// When the current key replaced the previous one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotation_time: Option<Time>,
    /// When the current key is due to be replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_time: Option<Time>,
    /// The replaced key, still valid during the grace period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_access_key_id: Option<String>,
    /// When the replaced key gets deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retire_after: Option<Time>,
}

impl RamUser {
    /// The RAM user name: `spec.userName`, default `metadata.name`.
    pub fn user_name(&self) -> &str {
        self.spec
            .user_name
            .as_deref()
            .or(self.metadata.name.as_deref())
            .unwrap_or_default()
    }
}
