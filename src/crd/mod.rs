//! The custom resources: `CrossAccountRole`, `RamUser` and `StsGrant`.
//!
//! This module is the API users write. It holds the resource types (whose `///` docs become
//! the CRD descriptions and `kubectl explain` text), the schema rules the API server enforces,
//! the well-known names the controllers share, and the pure helpers that belong to the API
//! (Go-style durations, condition bookkeeping, CRD generation). It must not know how anything is
//! reconciled: no cloud calls, no Kubernetes client.

pub mod common;
pub mod conditions;
pub mod cross_account_role;
pub mod duration;
pub mod generate;
pub mod ram_user;
pub mod sts_grant;

pub use common::{Adoption, CredentialsRef, DeletionPolicy, LocalObjectRef, PolicyRef, PolicyType};
pub use cross_account_role::{CrossAccountRole, CrossAccountRoleSpec, CrossAccountRoleStatus};
pub use duration::{GoDurationError, parse_go_duration};
pub use ram_user::{RamUser, RamUserSpec, RamUserStatus};
pub use sts_grant::{StsGrant, StsGrantSpec, StsGrantStatus};

/// API group of the three custom resources.
pub const GROUP: &str = "ram.alicloud.dev";
/// API version of the three custom resources.
pub const VERSION: &str = "v1alpha1";

/// Finalizer added before the first cloud write, removed once cleanup honoured `deletionPolicy`.
pub const FINALIZER: &str = "ram.alicloud.dev/cleanup";
/// Tag key on every cloud object the operator creates; value `<cluster>/<namespace>/<kind>/<name>`.
pub const OWNER_TAG_KEY: &str = "ram.alicloud.dev/owner";
/// Label key on every Secret the operator writes (and the only Secrets it watches).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "ram-operator";
/// Annotation on an `StsGrant` Secret: when the credentials in it expire (RFC 3339).
pub const EXPIRATION_ANNOTATION: &str = "ram.alicloud.dev/expiration";
/// Annotation on an `StsGrant` Secret: the ARN of the role the credentials belong to.
pub const ROLE_ARN_ANNOTATION: &str = "ram.alicloud.dev/role-arn";
/// Annotation on an `StsGrant` Secret: when the credentials were obtained (RFC 3339).
pub const REFRESHED_AT_ANNOTATION: &str = "ram.alicloud.dev/refreshed-at";
