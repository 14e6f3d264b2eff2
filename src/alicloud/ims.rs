//! IMS (2019-08-15) operations: the account's default domain, users addressed by
//! `UserPrincipalName`, login profiles, access keys, the password policy and user tags.
//!
//! Array parameters are flattened (`Tag.1.Key`, `ResourcePrincipalName.1`). Shapes follow
//! section 4 of the API reference and the official SDK's models. Nothing here signs or
//! retries; the [`Client`] does.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::Service;
use super::client::{Auth, Client};
use super::credentials::CredentialsProvider;
use super::error::Error;
use super::ram::{
    AccessKey, AccessKeyBody, AccessKeyInfo, AccessKeysBody, PasswordPolicy, PasswordPolicyBody,
    TagPage, TaggedResource,
};
use super::secret::Sensitive;
use super::wire::{Params, ResourceTag, Tag, lenient_bool, lenient_string, nested_list};

/// An IMS user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImsUser {
    #[serde(deserialize_with = "lenient_string")]
    pub user_id: String,
    /// `<name>@<default domain>`.
    pub user_principal_name: String,
    pub user_name: String,
    pub display_name: String,
    pub comments: String,
    pub email: String,
    pub mobile_phone: String,
    pub create_date: String,
    pub update_date: String,
    pub last_login_date: String,
    /// `Manual`, `SCIM` or `CloudSSO`.
    pub provision_type: String,
    #[serde(deserialize_with = "nested_list")]
    pub tags: Vec<ResourceTag>,
}

#[derive(Deserialize)]
struct UserBody {
    #[serde(rename = "User", default)]
    user: ImsUser,
}

/// `CreateUser` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateUserRequest {
    pub user_principal_name: String,
    pub display_name: String,
    pub comments: Option<String>,
    pub email: Option<String>,
    pub mobile_phone: Option<String>,
    /// Flattened to `Tag.N.Key` / `Tag.N.Value` (at most 20).
    pub tags: Vec<Tag>,
}

/// How `GetUser` finds the user (exactly one is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    PrincipalName(String),
    UserId(String),
    AccessKeyId(String),
}

/// An IMS login profile (never holds the password).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImsLoginProfile {
    pub user_principal_name: String,
    /// `Active` or `Inactive`.
    pub status: String,
    #[serde(deserialize_with = "lenient_bool")]
    pub password_reset_required: bool,
    #[serde(rename = "MFABindRequired", deserialize_with = "lenient_bool")]
    pub mfa_bind_required: bool,
    /// `NotInitial`, `InitialValid` or `InitialExpired`.
    pub password_status: String,
    pub update_date: String,
}

#[derive(Deserialize)]
struct LoginProfileBody {
    #[serde(rename = "LoginProfile", default)]
    login_profile: ImsLoginProfile,
}

/// `CreateLoginProfile` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateLoginProfileRequest {
    pub user_principal_name: String,
    pub password: Option<Sensitive>,
    pub password_reset_required: Option<bool>,
    pub mfa_bind_required: Option<bool>,
    /// `Active` (default) or `Inactive`.
    pub status: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct DefaultDomainBody {
    default_domain_name: String,
}

/// IMS operations bound to a client and the credentials to sign with.
#[derive(Clone, Copy)]
pub struct Ims<'a> {
    client: &'a Client,
    credentials: &'a dyn CredentialsProvider,
}

/// IMS page size of `ListTagResources`.
const PAGE_SIZE: u32 = 100;

impl<'a> Ims<'a> {
    pub(crate) fn new(client: &'a Client, credentials: &'a dyn CredentialsProvider) -> Self {
        Self {
            client,
            credentials,
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        action: &str,
        params: Params,
    ) -> Result<T, Error> {
        self.client
            .call(
                Service::Ims,
                action,
                &params,
                Auth::Signed(self.credentials),
            )
            .await
    }

    /// `GetDefaultDomain`: e.g. `example.onaliyun.com`.
    pub async fn get_default_domain(&self) -> Result<String, Error> {
        let body: DefaultDomainBody = self.call("GetDefaultDomain", Params::new()).await?;
        Ok(body.default_domain_name)
    }

    /// `CreateUser`, tags included.
    pub async fn create_user(&self, request: &CreateUserRequest) -> Result<ImsUser, Error> {
        let mut params = Params::new();
        params
            .set("UserPrincipalName", &request.user_principal_name)
            .set("DisplayName", &request.display_name)
            .opt("Comments", request.comments.as_ref())
            .opt("Email", request.email.as_ref())
            .opt("MobilePhone", request.mobile_phone.as_ref())
            .flat_tags(&request.tags);
        Ok(self.call::<UserBody>("CreateUser", params).await?.user)
    }

    /// `GetUser`.
    pub async fn get_user(&self, lookup: &UserLookup) -> Result<ImsUser, Error> {
        let mut params = Params::new();
        match lookup {
            UserLookup::PrincipalName(name) => params.set("UserPrincipalName", name),
            UserLookup::UserId(id) => params.set("UserId", id),
            UserLookup::AccessKeyId(id) => params.set("UserAccessKeyId", id),
        };
        Ok(self.call::<UserBody>("GetUser", params).await?.user)
    }

    /// `CreateLoginProfile`.
    pub async fn create_login_profile(
        &self,
        request: &CreateLoginProfileRequest,
    ) -> Result<ImsLoginProfile, Error> {
        let mut params = Params::new();
        params
            .set("UserPrincipalName", &request.user_principal_name)
            .secret("Password", request.password.as_ref())
            .opt("PasswordResetRequired", request.password_reset_required)
            .opt("MFABindRequired", request.mfa_bind_required)
            .opt("Status", request.status.as_ref());
        Ok(self
            .call::<LoginProfileBody>("CreateLoginProfile", params)
            .await?
            .login_profile)
    }

    /// `GetPasswordPolicy` (IMS flavour: also `PasswordNotContainUserName`, ...).
    pub async fn get_password_policy(&self) -> Result<PasswordPolicy, Error> {
        let body: PasswordPolicyBody = self.call("GetPasswordPolicy", Params::new()).await?;
        Ok(body.password_policy)
    }

    /// `CreateAccessKey` for `user_principal_name` (`None`: the caller). Never retried after
    /// an ambiguous failure; reconcile against [`Ims::list_access_keys`].
    pub async fn create_access_key(
        &self,
        user_principal_name: Option<&str>,
    ) -> Result<AccessKey, Error> {
        let mut params = Params::new();
        params.opt("UserPrincipalName", user_principal_name);
        Ok(self
            .call::<AccessKeyBody>("CreateAccessKey", params)
            .await?
            .access_key)
    }

    /// `ListAccessKeys`.
    pub async fn list_access_keys(
        &self,
        user_principal_name: Option<&str>,
    ) -> Result<Vec<AccessKeyInfo>, Error> {
        let mut params = Params::new();
        params.opt("UserPrincipalName", user_principal_name);
        Ok(self
            .call::<AccessKeysBody>("ListAccessKeys", params)
            .await?
            .access_keys)
    }

    /// `DeleteAccessKey`.
    pub async fn delete_access_key(
        &self,
        user_principal_name: Option<&str>,
        access_key_id: &str,
    ) -> Result<(), Error> {
        let mut params = Params::new();
        params
            .set("UserAccessKeyId", access_key_id)
            .opt("UserPrincipalName", user_principal_name);
        self.call::<IgnoredAny>("DeleteAccessKey", params)
            .await
            .map(|_| ())
    }

    /// `TagResources` on users (`ResourceType=user`) by principal name.
    pub async fn tag_users(
        &self,
        user_principal_names: &[String],
        tags: &[Tag],
    ) -> Result<(), Error> {
        let mut params = Params::new();
        params
            .set("ResourceType", "user")
            .flat_list("ResourcePrincipalName", user_principal_names)
            .flat_tags(tags);
        self.call::<IgnoredAny>("TagResources", params)
            .await
            .map(|_| ())
    }

    /// `ListTagResources` on users, every page; filtered by principal names and/or tags.
    pub async fn list_user_tags(
        &self,
        user_principal_names: &[String],
        tags: &[Tag],
    ) -> Result<Vec<TaggedResource>, Error> {
        let mut all = Vec::new();
        let mut next_token = String::new();
        loop {
            let mut params = Params::new();
            params
                .set("ResourceType", "user")
                .flat_list("ResourcePrincipalName", user_principal_names)
                .flat_tags(tags)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_shapes_decode() {
        let user: UserBody = serde_json::from_str(
            r#"{"RequestId":"R","User":{"UserId":"20732900249392****","UserPrincipalName":"alice@example.onaliyun.com",
                "DisplayName":"Alice","ProvisionType":"Manual","Tags":{"Tag":[{"TagKey":"ram.alicloud.dev/owner","TagValue":"c/ns/RamUser/a"}]}}}"#,
        )
        .unwrap();
        assert_eq!(user.user.user_principal_name, "alice@example.onaliyun.com");
        assert_eq!(user.user.tags[0].key, "ram.alicloud.dev/owner");
        let page: TagPage = serde_json::from_str(
            r#"{"IsTruncated":false,"NextToken":"","TagResources":{"TagResource":[{"ResourceId":"2073","ResourceType":"user","TagKey":"k","TagValue":"v"}]}}"#,
        )
        .unwrap();
        assert_eq!(page.tag_resources[0].resource_id, "2073");
        let profile: LoginProfileBody = serde_json::from_str(
            r#"{"LoginProfile":{"UserPrincipalName":"a@b","Status":"Active","MFABindRequired":true,"PasswordStatus":"InitialValid"}}"#,
        )
        .unwrap();
        assert!(profile.login_profile.mfa_bind_required);
    }
}
