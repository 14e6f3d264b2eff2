//! RAM (2015-05-01) operations: roles, custom policies and their versions, users, login
//! profiles, access keys, the password policy and role / policy tags.
//!
//! Typed requests in, typed responses out; list calls follow `Marker` / `NextToken` and return
//! every item. Shapes follow section 3 of the API reference. Nothing here signs or retries;
//! the [`Client`] does.

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use super::Service;
use super::client::{Auth, Client};
use super::credentials::CredentialsProvider;
use super::error::Error;
use super::secret::Sensitive;
use super::wire::{
    Params, ResourceTag, Tag, lenient_bool, lenient_i64, lenient_string, nested_list,
};

/// Page size of list calls that take one.
const PAGE_SIZE: u32 = 100;

/// `System` (Alibaba-managed) or `Custom` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyType {
    System,
    Custom,
}

impl PolicyType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "System",
            Self::Custom => "Custom",
        }
    }
}

impl std::fmt::Display for PolicyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A RAM role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Role {
    #[serde(deserialize_with = "lenient_string")]
    pub role_id: String,
    pub role_name: String,
    pub arn: String,
    pub description: String,
    /// The trust policy as JSON text (absent in list results).
    pub assume_role_policy_document: String,
    pub create_date: String,
    pub update_date: String,
    #[serde(deserialize_with = "lenient_i64")]
    pub max_session_duration: i64,
    #[serde(deserialize_with = "nested_list")]
    pub tags: Vec<ResourceTag>,
}

#[derive(Deserialize)]
struct RoleBody {
    #[serde(rename = "Role", default)]
    role: Role,
}

/// `CreateRole` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateRoleRequest {
    pub role_name: String,
    /// Trust policy JSON.
    pub assume_role_policy_document: String,
    pub description: Option<String>,
    pub max_session_duration: Option<u32>,
    /// Sent as a JSON array in `Tag`.
    pub tags: Vec<Tag>,
}

/// `UpdateRole` input; `None` fields stay unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateRoleRequest {
    pub role_name: String,
    pub new_assume_role_policy_document: Option<String>,
    pub new_max_session_duration: Option<u32>,
    pub new_description: Option<String>,
}

/// A policy attached to a role or user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AttachedPolicy {
    pub policy_name: String,
    pub policy_type: String,
    pub description: String,
    pub default_version: String,
    pub attach_date: String,
}

#[derive(Deserialize)]
struct PoliciesBody {
    #[serde(rename = "Policies", default, deserialize_with = "nested_list")]
    policies: Vec<AttachedPolicy>,
}

/// A custom or system policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Policy {
    pub policy_name: String,
    pub policy_type: String,
    pub description: String,
    pub default_version: String,
    pub create_date: String,
    pub update_date: String,
    #[serde(deserialize_with = "lenient_i64")]
    pub attachment_count: i64,
}

/// One version of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PolicyVersion {
    pub version_id: String,
    #[serde(deserialize_with = "lenient_bool")]
    pub is_default_version: bool,
    pub policy_document: String,
    pub create_date: String,
}

/// `GetPolicy` result: the policy and its default version (which holds the document).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct GetPolicyResponse {
    pub policy: Policy,
    pub default_policy_version: Option<PolicyVersion>,
}

/// `CreatePolicy` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatePolicyRequest {
    pub policy_name: String,
    pub policy_document: String,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
}

/// What `CreatePolicyVersion` does when the policy already has 5 versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RotateStrategy {
    /// Fail with `LimitExceeded.Policy.Version`.
    #[default]
    None,
    /// Delete the oldest non-default version.
    DeleteOldestNonDefaultVersionWhenLimitExceeded,
}

/// `CreatePolicyVersion` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatePolicyVersionRequest {
    pub policy_name: String,
    pub policy_document: String,
    pub set_as_default: bool,
    pub rotate_strategy: RotateStrategy,
}

/// A RAM user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct User {
    #[serde(deserialize_with = "lenient_string")]
    pub user_id: String,
    pub user_name: String,
    pub display_name: String,
    pub email: String,
    pub mobile_phone: String,
    pub comments: String,
    pub create_date: String,
    pub update_date: String,
    pub last_login_date: String,
}

#[derive(Deserialize)]
struct UserBody {
    #[serde(rename = "User", default)]
    user: User,
}

/// `CreateUser` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateUserRequest {
    pub user_name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub mobile_phone: Option<String>,
    pub comments: Option<String>,
}

/// `UpdateUser` input; `None` fields stay unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateUserRequest {
    pub user_name: String,
    pub new_user_name: Option<String>,
    pub new_display_name: Option<String>,
    pub new_email: Option<String>,
    pub new_mobile_phone: Option<String>,
    pub new_comments: Option<String>,
}

/// A console login profile (never holds the password).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LoginProfile {
    pub user_name: String,
    #[serde(deserialize_with = "lenient_bool")]
    pub password_reset_required: bool,
    #[serde(rename = "MFABindRequired", deserialize_with = "lenient_bool")]
    pub mfa_bind_required: bool,
    pub create_date: String,
}

#[derive(Deserialize)]
struct LoginProfileBody {
    #[serde(rename = "LoginProfile", default)]
    login_profile: LoginProfile,
}

/// `CreateLoginProfile` / `UpdateLoginProfile` input (for update, `None` = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginProfileRequest {
    pub user_name: String,
    pub password: Option<Sensitive>,
    pub password_reset_required: Option<bool>,
    pub mfa_bind_required: Option<bool>,
}

/// A freshly created access key: the only time the secret is returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AccessKey {
    pub access_key_id: String,
    pub access_key_secret: Sensitive,
    pub status: String,
    pub create_date: String,
}

#[derive(Deserialize)]
pub(crate) struct AccessKeyBody {
    #[serde(rename = "AccessKey", default)]
    pub(crate) access_key: AccessKey,
}

/// An access key as listed (no secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    pub create_date: String,
    pub update_date: String,
}

#[derive(Deserialize)]
pub(crate) struct AccessKeysBody {
    #[serde(rename = "AccessKeys", default, deserialize_with = "nested_list")]
    pub(crate) access_keys: Vec<AccessKeyInfo>,
}

/// `Active` or `Inactive` access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKeyStatus {
    Active,
    Inactive,
}

impl AccessKeyStatus {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Inactive",
        }
    }
}

/// The account's password policy (RAM and IMS spellings both read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PasswordPolicy {
    #[serde(deserialize_with = "lenient_i64")]
    pub minimum_password_length: i64,
    #[serde(deserialize_with = "lenient_bool")]
    pub require_lowercase_characters: bool,
    #[serde(deserialize_with = "lenient_bool")]
    pub require_uppercase_characters: bool,
    #[serde(deserialize_with = "lenient_bool")]
    pub require_numbers: bool,
    #[serde(deserialize_with = "lenient_bool")]
    pub require_symbols: bool,
    #[serde(alias = "HardExpire", deserialize_with = "lenient_bool")]
    pub hard_expiry: bool,
    #[serde(deserialize_with = "lenient_i64")]
    pub max_password_age: i64,
    #[serde(deserialize_with = "lenient_i64")]
    pub password_reuse_prevention: i64,
    /// Sic: the API spells it `MaxLoginAttemps`.
    #[serde(
        rename = "MaxLoginAttemps",
        alias = "MaxLoginAttempts",
        deserialize_with = "lenient_i64"
    )]
    pub max_login_attempts: i64,
    /// IMS only.
    #[serde(deserialize_with = "lenient_bool")]
    pub password_not_contain_user_name: bool,
    /// IMS only (0 = off).
    #[serde(deserialize_with = "lenient_i64")]
    pub minimum_password_different_character: i64,
}

#[derive(Deserialize)]
pub(crate) struct PasswordPolicyBody {
    #[serde(rename = "PasswordPolicy", default)]
    pub(crate) password_policy: PasswordPolicy,
}

/// RAM tags apply to roles and policies only (users are tagged through IMS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagResourceType {
    Role,
    Policy,
}

impl TagResourceType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Role => "role",
            Self::Policy => "policy",
        }
    }
}

/// One (resource, tag) pair as listed by `ListTagResources` (RAM names the resource, IMS
/// gives its id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaggedResource {
    pub resource_name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub resource_id: String,
    pub resource_type: String,
    pub tag_key: String,
    pub tag_value: String,
}

/// One page of `ListTagResources` (RAM and IMS share the shape).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct TagPage {
    #[serde(deserialize_with = "nested_list")]
    pub(crate) tag_resources: Vec<TaggedResource>,
    pub(crate) next_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RolePage {
    #[serde(deserialize_with = "lenient_bool")]
    is_truncated: bool,
    marker: String,
    #[serde(deserialize_with = "nested_list")]
    roles: Vec<Role>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct PolicyVersionsBody {
    #[serde(deserialize_with = "nested_list")]
    policy_versions: Vec<PolicyVersion>,
}

#[derive(Deserialize)]
struct PolicyBody {
    #[serde(rename = "Policy", default)]
    policy: Policy,
}

#[derive(Deserialize)]
struct PolicyVersionBody {
    #[serde(rename = "PolicyVersion", default)]
    policy_version: PolicyVersion,
}

/// RAM operations bound to a client and the credentials to sign with.
#[derive(Clone, Copy)]
pub struct Ram<'a> {
    client: &'a Client,
    credentials: &'a dyn CredentialsProvider,
}

fn one(name: &str, value: &str) -> Params {
    let mut params = Params::new();
    params.set(name, value);
    params
}

fn policy_params(policy_type: PolicyType, policy_name: &str, target: (&str, &str)) -> Params {
    let mut params = Params::new();
    params
        .set("PolicyType", policy_type)
        .set("PolicyName", policy_name)
        .set(target.0, target.1);
    params
}

impl<'a> Ram<'a> {
    pub(crate) fn new(client: &'a Client, credentials: &'a dyn CredentialsProvider) -> Self {
        Self {
            client,
            credentials,
        }
    }

    async fn call<T: DeserializeOwned>(&self, action: &str, params: Params) -> Result<T, Error> {
        self.client
            .call(
                Service::Ram,
                action,
                &params,
                Auth::Signed(self.credentials),
            )
            .await
    }

    async fn call_unit(&self, action: &str, params: Params) -> Result<(), Error> {
        self.call::<IgnoredAny>(action, params).await.map(|_| ())
    }

    // ---- roles ----

    /// `CreateRole`.
    pub async fn create_role(&self, request: &CreateRoleRequest) -> Result<Role, Error> {
        let mut params = Params::new();
        params
            .set("RoleName", &request.role_name)
            .set(
                "AssumeRolePolicyDocument",
                &request.assume_role_policy_document,
            )
            .opt("Description", request.description.as_ref())
            .opt("MaxSessionDuration", request.max_session_duration)
            .json_list("Tag", &request.tags);
        Ok(self.call::<RoleBody>("CreateRole", params).await?.role)
    }

    /// `GetRole`.
    pub async fn get_role(&self, role_name: &str) -> Result<Role, Error> {
        Ok(self
            .call::<RoleBody>("GetRole", one("RoleName", role_name))
            .await?
            .role)
    }

    /// `UpdateRole`.
    pub async fn update_role(&self, request: &UpdateRoleRequest) -> Result<Role, Error> {
        let mut params = one("RoleName", &request.role_name);
        params
            .opt(
                "NewAssumeRolePolicyDocument",
                request.new_assume_role_policy_document.as_ref(),
            )
            .opt("NewMaxSessionDuration", request.new_max_session_duration)
            .opt("NewDescription", request.new_description.as_ref());
        Ok(self.call::<RoleBody>("UpdateRole", params).await?.role)
    }

    /// `DeleteRole` (fails with `DeleteConflict.Role.Policy` while policies are attached).
    pub async fn delete_role(&self, role_name: &str) -> Result<(), Error> {
        self.call_unit("DeleteRole", one("RoleName", role_name))
            .await
    }

    /// `ListRoles`, every page.
    pub async fn list_roles(&self) -> Result<Vec<Role>, Error> {
        let mut roles = Vec::new();
        let mut marker = String::new();
        loop {
            let mut params = Params::new();
            params.set("MaxItems", PAGE_SIZE);
            if !marker.is_empty() {
                params.set("Marker", &marker);
            }
            let page: RolePage = self.call("ListRoles", params).await?;
            roles.extend(page.roles);
            if !page.is_truncated || page.marker.is_empty() || page.marker == marker {
                return Ok(roles);
            }
            marker = page.marker;
        }
    }

    /// `AttachPolicyToRole` (`EntityAlreadyExists.Role.Policy` when already attached).
    pub async fn attach_policy_to_role(
        &self,
        policy_type: PolicyType,
        policy_name: &str,
        role_name: &str,
    ) -> Result<(), Error> {
        let params = policy_params(policy_type, policy_name, ("RoleName", role_name));
        self.call_unit("AttachPolicyToRole", params).await
    }

    /// `DetachPolicyFromRole` (`EntityNotExist.Role.Policy` when not attached).
    pub async fn detach_policy_from_role(
        &self,
        policy_type: PolicyType,
        policy_name: &str,
        role_name: &str,
    ) -> Result<(), Error> {
        let params = policy_params(policy_type, policy_name, ("RoleName", role_name));
        self.call_unit("DetachPolicyFromRole", params).await
    }

    /// `ListPoliciesForRole` (not paginated by the API).
    pub async fn list_policies_for_role(
        &self,
        role_name: &str,
    ) -> Result<Vec<AttachedPolicy>, Error> {
        let body: PoliciesBody = self
            .call("ListPoliciesForRole", one("RoleName", role_name))
            .await?;
        Ok(body.policies)
    }

    // ---- policies ----

    /// `CreatePolicy` (custom policy, version `v1`).
    pub async fn create_policy(&self, request: &CreatePolicyRequest) -> Result<Policy, Error> {
        let mut params = one("PolicyName", &request.policy_name);
        params
            .set("PolicyDocument", &request.policy_document)
            .opt("Description", request.description.as_ref())
            .json_list("Tag", &request.tags);
        Ok(self
            .call::<PolicyBody>("CreatePolicy", params)
            .await?
            .policy)
    }

    /// `GetPolicy`.
    pub async fn get_policy(
        &self,
        policy_type: PolicyType,
        policy_name: &str,
    ) -> Result<GetPolicyResponse, Error> {
        let mut params = one("PolicyName", policy_name);
        params.set("PolicyType", policy_type);
        self.call("GetPolicy", params).await
    }

    /// `CreatePolicyVersion`.
    pub async fn create_policy_version(
        &self,
        request: &CreatePolicyVersionRequest,
    ) -> Result<PolicyVersion, Error> {
        let mut params = one("PolicyName", &request.policy_name);
        params
            .set("PolicyDocument", &request.policy_document)
            .set("SetAsDefault", request.set_as_default);
        if request.rotate_strategy == RotateStrategy::DeleteOldestNonDefaultVersionWhenLimitExceeded
        {
            params.set(
                "RotateStrategy",
                "DeleteOldestNonDefaultVersionWhenLimitExceeded",
            );
        }
        Ok(self
            .call::<PolicyVersionBody>("CreatePolicyVersion", params)
            .await?
            .policy_version)
    }

    /// `ListPolicyVersions` (not paginated by the API).
    pub async fn list_policy_versions(
        &self,
        policy_type: PolicyType,
        policy_name: &str,
    ) -> Result<Vec<PolicyVersion>, Error> {
        let mut params = one("PolicyName", policy_name);
        params.set("PolicyType", policy_type);
        let body: PolicyVersionsBody = self.call("ListPolicyVersions", params).await?;
        Ok(body.policy_versions)
    }

    /// `DeletePolicyVersion` (the default version cannot be deleted).
    pub async fn delete_policy_version(
        &self,
        policy_name: &str,
        version_id: &str,
    ) -> Result<(), Error> {
        let mut params = one("PolicyName", policy_name);
        params.set("VersionId", version_id);
        self.call_unit("DeletePolicyVersion", params).await
    }

    /// `DeletePolicy`; `cascading` also deletes its non-default versions.
    pub async fn delete_policy(&self, policy_name: &str, cascading: bool) -> Result<(), Error> {
        let mut params = one("PolicyName", policy_name);
        if cascading {
            params.set("CascadingDelete", true);
        }
        self.call_unit("DeletePolicy", params).await
    }

    // ---- users ----

    /// `CreateUser`.
    pub async fn create_user(&self, request: &CreateUserRequest) -> Result<User, Error> {
        let mut params = one("UserName", &request.user_name);
        params
            .opt("DisplayName", request.display_name.as_ref())
            .opt("Email", request.email.as_ref())
            .opt("MobilePhone", request.mobile_phone.as_ref())
            .opt("Comments", request.comments.as_ref());
        Ok(self.call::<UserBody>("CreateUser", params).await?.user)
    }

    /// `GetUser`.
    pub async fn get_user(&self, user_name: &str) -> Result<User, Error> {
        Ok(self
            .call::<UserBody>("GetUser", one("UserName", user_name))
            .await?
            .user)
    }

    /// `UpdateUser`.
    pub async fn update_user(&self, request: &UpdateUserRequest) -> Result<User, Error> {
        let mut params = one("UserName", &request.user_name);
        params
            .opt("NewUserName", request.new_user_name.as_ref())
            .opt("NewDisplayName", request.new_display_name.as_ref())
            .opt("NewEmail", request.new_email.as_ref())
            .opt("NewMobilePhone", request.new_mobile_phone.as_ref())
            .opt("NewComments", request.new_comments.as_ref());
        Ok(self.call::<UserBody>("UpdateUser", params).await?.user)
    }

    /// `DeleteUser` (detach policies, delete keys and login profile first).
    pub async fn delete_user(&self, user_name: &str) -> Result<(), Error> {
        self.call_unit("DeleteUser", one("UserName", user_name))
            .await
    }

    /// `AttachPolicyToUser`.
    pub async fn attach_policy_to_user(
        &self,
        policy_type: PolicyType,
        policy_name: &str,
        user_name: &str,
    ) -> Result<(), Error> {
        let params = policy_params(policy_type, policy_name, ("UserName", user_name));
        self.call_unit("AttachPolicyToUser", params).await
    }

    /// `DetachPolicyFromUser`.
    pub async fn detach_policy_from_user(
        &self,
        policy_type: PolicyType,
        policy_name: &str,
        user_name: &str,
    ) -> Result<(), Error> {
        let params = policy_params(policy_type, policy_name, ("UserName", user_name));
        self.call_unit("DetachPolicyFromUser", params).await
    }

    /// `ListPoliciesForUser` (not paginated by the API).
    pub async fn list_policies_for_user(
        &self,
        user_name: &str,
    ) -> Result<Vec<AttachedPolicy>, Error> {
        let body: PoliciesBody = self
            .call("ListPoliciesForUser", one("UserName", user_name))
            .await?;
        Ok(body.policies)
    }

    fn login_profile_params(request: &LoginProfileRequest) -> Params {
        let mut params = one("UserName", &request.user_name);
        params
            .secret("Password", request.password.as_ref())
            .opt("PasswordResetRequired", request.password_reset_required)
            .opt("MFABindRequired", request.mfa_bind_required);
        params
    }

    /// `CreateLoginProfile`.
    pub async fn create_login_profile(
        &self,
        request: &LoginProfileRequest,
    ) -> Result<LoginProfile, Error> {
        let params = Self::login_profile_params(request);
        Ok(self
            .call::<LoginProfileBody>("CreateLoginProfile", params)
            .await?
            .login_profile)
    }

    /// `GetLoginProfile`.
    pub async fn get_login_profile(&self, user_name: &str) -> Result<LoginProfile, Error> {
        let params = one("UserName", user_name);
        Ok(self
            .call::<LoginProfileBody>("GetLoginProfile", params)
            .await?
            .login_profile)
    }

    /// `UpdateLoginProfile`.
    pub async fn update_login_profile(&self, request: &LoginProfileRequest) -> Result<(), Error> {
        self.call_unit("UpdateLoginProfile", Self::login_profile_params(request))
            .await
    }

    /// `DeleteLoginProfile`.
    pub async fn delete_login_profile(&self, user_name: &str) -> Result<(), Error> {
        self.call_unit("DeleteLoginProfile", one("UserName", user_name))
            .await
    }

    // ---- access keys ----

    /// `CreateAccessKey` for `user_name` (`None`: the caller). Never retried after an
    /// ambiguous failure; reconcile against [`Ram::list_access_keys`].
    pub async fn create_access_key(&self, user_name: Option<&str>) -> Result<AccessKey, Error> {
        let mut params = Params::new();
        params.opt("UserName", user_name);
        Ok(self
            .call::<AccessKeyBody>("CreateAccessKey", params)
            .await?
            .access_key)
    }

    /// `ListAccessKeys` (not paginated by the API; at most 2 per user).
    pub async fn list_access_keys(
        &self,
        user_name: Option<&str>,
    ) -> Result<Vec<AccessKeyInfo>, Error> {
        let mut params = Params::new();
        params.opt("UserName", user_name);
        Ok(self
            .call::<AccessKeysBody>("ListAccessKeys", params)
            .await?
            .access_keys)
    }

    /// `UpdateAccessKey` (activate / deactivate).
    pub async fn update_access_key(
        &self,
        user_name: Option<&str>,
        access_key_id: &str,
        status: AccessKeyStatus,
    ) -> Result<(), Error> {
        let mut params = one("UserAccessKeyId", access_key_id);
        params
            .set("Status", status.as_str())
            .opt("UserName", user_name);
        self.call_unit("UpdateAccessKey", params).await
    }

    /// `DeleteAccessKey`.
    pub async fn delete_access_key(
        &self,
        user_name: Option<&str>,
        access_key_id: &str,
    ) -> Result<(), Error> {
        let mut params = one("UserAccessKeyId", access_key_id);
        params.opt("UserName", user_name);
        self.call_unit("DeleteAccessKey", params).await
    }

    /// `GetPasswordPolicy`.
    pub async fn get_password_policy(&self) -> Result<PasswordPolicy, Error> {
        let body: PasswordPolicyBody = self.call("GetPasswordPolicy", Params::new()).await?;
        Ok(body.password_policy)
    }

    // ---- tags (roles and policies) ----

    /// `TagResources` (RAM: roles and policies; JSON-array parameters).
    pub async fn tag_resources(
        &self,
        resource_type: TagResourceType,
        resource_names: &[String],
        tags: &[Tag],
    ) -> Result<(), Error> {
        let mut params = one("ResourceType", resource_type.as_str());
        params
            .json_list("ResourceNames", resource_names)
            .json_list("Tag", tags);
        self.call_unit("TagResources", params).await
    }

    /// `ListTagResources`, every page. Filters by names and/or tags when given.
    pub async fn list_tag_resources(
        &self,
        resource_type: TagResourceType,
        resource_names: &[String],
        tags: &[Tag],
    ) -> Result<Vec<TaggedResource>, Error> {
        let mut all = Vec::new();
        let mut next_token = String::new();
        loop {
            let mut params = one("ResourceType", resource_type.as_str());
            params
                .json_list("ResourceNames", resource_names)
                .json_list("Tag", tags)
                .set("PageSize", PAGE_SIZE);
            if !next_token.is_empty() {
                params.set("NextToken", &next_token);
            }
            let page: TagPage = self.call("ListTagResources", params).await?;
            all.extend(page.tag_resources);
            if page.next_token.is_empty() || page.next_token == next_token {
                return Ok(all);
            }
            next_token = page.next_token;
        }
    }

    /// `UntagResources`: removes `tag_keys`, or every tag when `tag_keys` is empty.
    pub async fn untag_resources(
        &self,
        resource_type: TagResourceType,
        resource_names: &[String],
        tag_keys: &[String],
    ) -> Result<(), Error> {
        let mut params = one("ResourceType", resource_type.as_str());
        params.json_list("ResourceNames", resource_names);
        if tag_keys.is_empty() {
            params.set("All", true);
        } else {
            params.json_list("TagKeys", tag_keys);
        }
        self.call_unit("UntagResources", params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_shapes_decode() {
        let roles: RolePage = serde_json::from_str(
            r#"{"RequestId":"R","IsTruncated":true,"Marker":"m2","Roles":{"Role":[
                {"RoleId":"901234567890123","RoleName":"r","Arn":"acs:ram::1:role/r",
                 "MaxSessionDuration":"3600","Tags":{"Tag":[{"TagKey":"k","TagValue":"v"}]}}]}}"#,
        )
        .unwrap();
        assert!(roles.is_truncated);
        assert_eq!(roles.roles[0].max_session_duration, 3600);
        assert_eq!(roles.roles[0].tags[0].value, "v");
        let policy: GetPolicyResponse = serde_json::from_str(
            r#"{"Policy":{"PolicyName":"p","AttachmentCount":2},
                "DefaultPolicyVersion":{"VersionId":"v3","IsDefaultVersion":true,"PolicyDocument":"{}"}}"#,
        )
        .unwrap();
        assert_eq!(policy.policy.attachment_count, 2);
        assert_eq!(policy.default_policy_version.unwrap().version_id, "v3");
        let keys: AccessKeysBody = serde_json::from_str(
            r#"{"AccessKeys":{"AccessKey":[{"AccessKeyId":"a","Status":"Active"},{"AccessKeyId":"b","Status":"Inactive"}]}}"#,
        )
        .unwrap();
        assert_eq!(keys.access_keys.len(), 2);
        let password: PasswordPolicyBody = serde_json::from_str(
            r#"{"PasswordPolicy":{"MinimumPasswordLength":12,"RequireSymbols":true,"MaxLoginAttemps":5,"HardExpire":"true"}}"#,
        )
        .unwrap();
        assert_eq!(password.password_policy.minimum_password_length, 12);
        assert_eq!(password.password_policy.max_login_attempts, 5);
        assert!(password.password_policy.hard_expiry);
        let tags: TagPage = serde_json::from_str(
            r#"{"NextToken":"","TagResources":[{"ResourceName":"r","ResourceType":"role","TagKey":"k","TagValue":"v"}]}"#,
        )
        .unwrap();
        assert_eq!(tags.tag_resources[0].resource_name, "r");
    }
}
