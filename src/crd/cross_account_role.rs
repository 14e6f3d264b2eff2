//! `CrossAccountRole`: a RAM role in the resource owner's account (Account A) that trusts other
//! accounts or principals and carries the permissions they may use.
//!
//! Only the API: fields, defaults and the rules the API server enforces. How the role is
//! reconciled lives in the controller.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    ACCOUNT_ID_PATTERN, Adoption, CredentialsRef, DeletionPolicy, POLICY_NAME_PATTERN, PolicyRef,
    condition_list_schema, policy_list_schema,
};

fn default_max_session_duration() -> i64 {
    3600
}

/// A RAM role in this account (the resource owner, "Account A") that principals of other
/// accounts may assume through STS. The operator creates the role with a trust policy built from
/// `trustedAccounts` / `trustedPrincipals` (or the raw `assumeRolePolicyDocument`), attaches
/// `policies`, creates and attaches `inlinePolicies`, and keeps all of it as written here.
/// Removing an account from `trustedAccounts` revokes its access.
// Each `printcolumn(...)` repeats `type_ = ...`, which clippy mistakes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ram.alicloud.dev",
    version = "v1alpha1",
    kind = "CrossAccountRole",
    namespaced,
    shortname = "car",
    category = "ram",
    status = "CrossAccountRoleStatus",
    derive = "PartialEq",
    doc = "A RAM role in the resource owner's account that trusts other Alibaba Cloud accounts \
           (or specific RAM users and roles) and carries the permissions they may use.",
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
    printcolumn(name = "ARN", type_ = "string", json_path = ".status.arn"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(
        "(has(self.spec.roleName) ? self.spec.roleName : self.metadata.name) == \
         (has(oldSelf.spec.roleName) ? oldSelf.spec.roleName : oldSelf.metadata.name)"
    )
    .message("spec.roleName is immutable: the role name (spec.roleName, default metadata.name) cannot change; create a new CrossAccountRole instead")
    .field_path(".spec.roleName")
    .reason(Reason::FieldValueInvalid),
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.assumeRolePolicyDocument) || (!has(self.trustedAccounts) && !has(self.trustedPrincipals))",
        "message": "assumeRolePolicyDocument is exclusive with trustedAccounts and trustedPrincipals: set either the raw trust policy or the lists",
        "fieldPath": ".assumeRolePolicyDocument",
        "reason": "FieldValueForbidden"
    },
    {
        "rule": "has(self.assumeRolePolicyDocument) || has(self.trustedAccounts) || has(self.trustedPrincipals)",
        "message": "one of trustedAccounts, trustedPrincipals or assumeRolePolicyDocument is required (an empty trustedAccounts list trusts nobody)",
        "fieldPath": ".trustedAccounts",
        "reason": "FieldValueRequired"
    }
]))]
pub struct CrossAccountRoleSpec {
    /// Name of the RAM role. Defaults to `metadata.name`. 1-64 letters, digits, `.` or `-`.
    /// Cannot be changed once the resource exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9.-]{1,64}$"))]
    pub role_name: Option<String>,

    /// Description of the role shown in the RAM console (up to 1024 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub description: Option<String>,

    /// Alibaba Cloud account IDs (digits, e.g. `2222222222222222`) whose RAM users and roles may
    /// assume this role (trust policy principal `acs:ram::<id>:root`). Each trusted account still
    /// has to grant its own users `AliyunSTSAssumeRoleAccess`. Remove an account to revoke it; an
    /// empty list trusts nobody.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 100),
        inner(regex(pattern = ACCOUNT_ID_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub trusted_accounts: Option<Vec<String>>,

    /// Specific RAM users or roles of other accounts that may assume this role, as ARNs:
    /// `acs:ram::<account-id>:user/<name>` or `acs:ram::<account-id>:role/<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 100),
        inner(
            length(max = 256),
            regex(pattern = r"^acs:ram::[0-9]{1,32}:(user|role)/[A-Za-z0-9._@-]{1,128}$")
        ),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub trusted_principals: Option<Vec<String>>,

    /// A complete trust policy (JSON) to use as is, for conditions the lists cannot express
    /// (e.g. `sts:ExternalId`). Exclusive with `trustedAccounts` and `trustedPrincipals`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub assume_role_policy_document: Option<String>,

    /// Longest session, in seconds, that STS grants for this role: 3600-43200, default 3600.
    /// An `StsGrant` cannot ask for more.
    #[serde(default = "default_max_session_duration")]
    #[schemars(range(min = 3600, max = 43200))]
    pub max_session_duration: i64,

    /// Policies to attach to the role, e.g. `{name: AliyunAMQPFullAccess, type: System}`.
    /// Policies attached by someone else are left alone.
    #[serde(default)]
    #[schemars(schema_with = "policy_list_schema")]
    pub policies: Vec<PolicyRef>,

    /// Custom policies the operator creates for this role, keeps at the given document (a new
    /// policy version on change), attaches, and deletes with the role.
    #[serde(default)]
    #[schemars(
        length(max = 10),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub inline_policies: Vec<InlinePolicy>,

    /// What to do when a role of this name already exists without the operator's ownership tag:
    /// `Never` (default: report Stalled, reason AlreadyExists, and never touch it), `Adopt` (take
    /// it over; never create), `AdoptOrCreate` (take it over or create it).
    #[serde(default)]
    pub adoption: Adoption,

    /// Secret in this namespace with the AccessKey of a RAM administrator of this account. Absent:
    /// the operator's own identity, only if the operator runs with default credentials enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<CredentialsRef>,

    /// `Delete` (default): deleting this resource detaches the policies, deletes the inline
    /// policies and the role. `Orphan`: leave the role in the cloud.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// A custom policy owned by one role.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InlinePolicy {
    /// Name of the custom policy in RAM: 1-128 letters, digits or `-`; unique in the account.
    #[schemars(regex(pattern = POLICY_NAME_PATTERN))]
    pub name: String,
    /// The policy document (JSON, up to 6144 characters). Compared semantically: formatting and
    /// statement order do not cause a new version.
    #[schemars(length(min = 1, max = 6144))]
    pub document: String,
    /// Description of the policy (up to 1024 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub description: Option<String>,
}

/// Observed state of a `CrossAccountRole`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossAccountRoleStatus {
    /// The `metadata.generation` this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`, each with the generation it describes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "condition_list_schema")]
    pub conditions: Vec<Condition>,
    /// RAM role ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    /// Role ARN, `acs:ram::<account-id>:role/<name>`, to use in `StsGrant.spec.roleArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// ID of the account that owns the role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Accounts the trust policy in force trusts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_accounts: Vec<String>,
    /// Policies attached by the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policies: Vec<PolicyRef>,
    /// Custom policies the operator created for this role, with their default version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline_policies: Vec<InlinePolicyStatus>,
    /// Hash of the normalised trust policy in force (changes only when its meaning changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
    /// What a person of a trusted account enters on the console's Switch Role page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch_role: Option<SwitchRole>,
}

/// A custom policy created for the role.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InlinePolicyStatus {
    /// Policy name.
    pub name: String,
    /// Default version in force, e.g. `v2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_version: Option<String>,
}

/// The console's Switch Role form, filled in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SwitchRole {
    /// Account A's default domain (from `GetDefaultDomain`), e.g. `account-a.onaliyun.com`:
    /// the "enterprise alias or default domain" field.
    pub default_domain: String,
    /// The role name: the "role name" field.
    pub role_name: String,
    /// A link to the Switch Role page with both fields filled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl CrossAccountRole {
    /// The RAM role name: `spec.roleName`, default `metadata.name`.
    pub fn role_name(&self) -> &str {
        self.spec
            .role_name
            .as_deref()
            .or(self.metadata.name.as_deref())
            .unwrap_or_default()
    }
}
