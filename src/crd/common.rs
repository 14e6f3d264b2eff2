//! Spec pieces shared by the three kinds: references to Secrets and objects in the same
//! namespace, deletion and adoption policies, and policy attachments, with the schema rules
//! that keep bad values out at `kubectl apply` time.
//!
//! References here have a `name` and never a `namespace`: a reference to another namespace
//! cannot even be written, so a namespace's users cannot reach another namespace's secrets.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Kubernetes object name (DNS-1123 subdomain), the names Secrets and our resources have.
pub(crate) const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A key of a Secret's `data`.
pub(crate) const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";
/// RAM policy name: letters, digits and `-`, 1-128 characters.
pub(crate) const POLICY_NAME_PATTERN: &str = r"^[A-Za-z0-9-]{1,128}$";
/// Alibaba Cloud account ID (UID): decimal digits.
pub(crate) const ACCOUNT_ID_PATTERN: &str = r"^[0-9]{1,32}$";

/// Go duration syntax (`"20m"`, `"1h30m"`, `"1.5h"`, `"0"`), what [`super::parse_go_duration`]
/// accepts. Needed next to `format: duration`: the API server's own `duration` format (and so CEL
/// on such a field) also takes `"30d"` or `"20 minutes"`, which Go and the controllers do not.
pub(crate) const GO_DURATION_PATTERN: &str = r"^(0|([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+)$";

fn default_access_key_id_key() -> String {
    "AccessKeyId".to_owned()
}

fn default_access_key_secret_key() -> String {
    "AccessKeySecret".to_owned()
}

fn default_security_token_key() -> String {
    "SecurityToken".to_owned()
}

/// A Secret in the same namespace that holds an Alibaba Cloud AccessKey pair (and optionally an
/// STS security token). Only the key names are configurable; the Secret is always read from the
/// namespace of the resource that refers to it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsRef {
    /// Name of the Secret, in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
    /// Key of the Secret that holds the AccessKey ID.
    #[serde(default = "default_access_key_id_key")]
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY_PATTERN))]
    pub access_key_id_key: String,
    /// Key of the Secret that holds the AccessKey secret.
    #[serde(default = "default_access_key_secret_key")]
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY_PATTERN))]
    pub access_key_secret_key: String,
    /// Key of the Secret that holds an STS security token. Only read when present in the
    /// Secret: a long-lived AccessKey pair has no token.
    #[serde(default = "default_security_token_key")]
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY_PATTERN))]
    pub security_token_key: String,
}

impl CredentialsRef {
    /// A reference to `name` with the default key names.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            access_key_id_key: default_access_key_id_key(),
            access_key_secret_key: default_access_key_secret_key(),
            security_token_key: default_security_token_key(),
        }
    }
}

/// The name of an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the object, in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
}

/// What happens to the cloud resource when the Kubernetes object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    // Delete the cloud resource (and what the operator attached or created for it).
    #[default]
    Delete,
    // Leave the cloud resource as it is and only drop the finalizer.
    Orphan,
}

/// What the operator does when the cloud already has a resource of the requested name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Adoption {
    // Never touch a resource that does not carry our ownership tag (reported as Stalled,
    // reason AlreadyExists).
    #[default]
    Never,
    // Take over an existing resource (tag it) but never create one.
    Adopt,
    // Take over an existing resource, or create it when there is none.
    AdoptOrCreate,
}

/// Whether a policy is one of Alibaba Cloud's system policies or a custom one of the account.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PolicyType {
    #[default]
    System,
    Custom,
}

/// A RAM policy to attach, e.g. `{name: AliyunAMQPFullAccess, type: System}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    /// Policy name, e.g. `AliyunAMQPFullAccess` or `AliyunSTSAssumeRoleAccess`.
    #[schemars(regex(pattern = POLICY_NAME_PATTERN))]
    pub name: String,
    /// `System` (default) for Alibaba Cloud's policies, `Custom` for a policy of this account.
    #[serde(rename = "type", default)]
    pub policy_type: PolicyType,
}

/// Schema of a `Vec<PolicyRef>`: a list-map keyed by name, so server-side apply from several
/// managers merges entries instead of replacing the list, and duplicates are refused.
pub(crate) fn policy_list_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = <Vec<PolicyRef>>::json_schema(generator);
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["name"]),
    );
    schema.insert("maxItems".into(), 20.into());
    schema
}

/// Schema of a condition list: a list-map keyed by `type`, as for every `metav1.Condition` list.
pub(crate) fn condition_list_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    let mut schema = <Vec<Condition>>::json_schema(generator);
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}
