//! STS (2015-04-01) operations: `AssumeRole` (signed), `AssumeRoleWithOIDC` (anonymous) and
//! `GetCallerIdentity`. Shapes follow section 5 of the API reference.
//!
//! Nothing here signs or retries; the [`Client`] does.

use jiff::Timestamp;
use serde::Deserialize;

use super::Service;
use super::client::{Auth, Client};
use super::credentials::{Credentials, CredentialsProvider};
use super::error::Error;
use super::secret::Sensitive;
use super::signature::parse_timestamp;
use super::wire::{Params, lenient_string};

/// `AssumeRole` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssumeRoleRequest {
    /// `acs:ram::<account>:role/<name>`.
    pub role_arn: String,
    /// 2-64 chars of letters, digits, `. @ - _`.
    pub role_session_name: String,
    /// 900 up to the role's maximum; the service defaults to 3600.
    pub duration_seconds: Option<u32>,
    /// Session policy JSON narrowing the role.
    pub policy: Option<String>,
    pub external_id: Option<String>,
    pub source_identity: Option<String>,
}

/// `AssumeRoleWithOIDC` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssumeRoleWithOidcRequest {
    pub role_arn: String,
    /// `acs:ram::<account>:oidc-provider/<name>`.
    pub oidc_provider_arn: String,
    /// The raw JWT.
    pub oidc_token: Sensitive,
    pub role_session_name: Option<String>,
    pub duration_seconds: Option<u32>,
    pub policy: Option<String>,
}

/// Temporary credentials as STS returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct StsCredentials {
    pub access_key_id: String,
    pub access_key_secret: Sensitive,
    pub security_token: Sensitive,
    /// UTC `YYYY-MM-DDThh:mm:ssZ`.
    pub expiration: String,
}

impl StsCredentials {
    /// The expiry as a timestamp (`None` when absent or malformed).
    pub fn expires_at(&self) -> Option<Timestamp> {
        parse_timestamp(&self.expiration)
    }

    /// As signing credentials.
    pub fn into_credentials(self) -> Credentials {
        let expiration = self.expires_at();
        Credentials::sts(
            self.access_key_id,
            self.access_key_secret,
            self.security_token,
            expiration,
        )
    }
}

/// The identity of an assumed-role session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AssumedRoleUser {
    pub arn: String,
    pub assumed_role_id: String,
}

/// `AssumeRole` / `AssumeRoleWithOIDC` result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AssumeRoleResponse {
    pub request_id: String,
    pub assumed_role_user: AssumedRoleUser,
    pub credentials: StsCredentials,
    pub source_identity: String,
    /// `AssumeRoleWithOIDC` only.
    #[serde(rename = "OIDCTokenInfo")]
    pub oidc_token_info: Option<OidcTokenInfo>,
}

/// What STS read from the OIDC token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct OidcTokenInfo {
    pub subject: String,
    pub issuer: String,
    pub client_ids: String,
    pub issuance_time: String,
    pub expiration_time: String,
}

/// `GetCallerIdentity` result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CallerIdentity {
    #[serde(deserialize_with = "lenient_string")]
    pub account_id: String,
    pub arn: String,
    /// `RAMUser`, `AssumedRoleUser`, `Account`, ...
    pub identity_type: String,
    #[serde(deserialize_with = "lenient_string")]
    pub principal_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub user_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub role_id: String,
}

/// Signed STS operations.
#[derive(Clone, Copy)]
pub struct Sts<'a> {
    client: &'a Client,
    credentials: &'a dyn CredentialsProvider,
}

impl<'a> Sts<'a> {
    pub(crate) fn new(client: &'a Client, credentials: &'a dyn CredentialsProvider) -> Self {
        Self {
            client,
            credentials,
        }
    }

    /// `AssumeRole`: the caller must be a RAM user or role trusted by the role.
    pub async fn assume_role(
        &self,
        request: &AssumeRoleRequest,
    ) -> Result<AssumeRoleResponse, Error> {
        let mut params = Params::new();
        params
            .set("RoleArn", &request.role_arn)
            .set("RoleSessionName", &request.role_session_name)
            .opt("DurationSeconds", request.duration_seconds)
            .opt("Policy", request.policy.as_ref())
            .opt("ExternalId", request.external_id.as_ref())
            .opt("SourceIdentity", request.source_identity.as_ref());
        self.client
            .call(
                Service::Sts,
                "AssumeRole",
                &params,
                Auth::Signed(self.credentials),
            )
            .await
    }

    /// `GetCallerIdentity`: who the credentials belong to.
    pub async fn get_caller_identity(&self) -> Result<CallerIdentity, Error> {
        self.client
            .call(
                Service::Sts,
                "GetCallerIdentity",
                &Params::new(),
                Auth::Signed(self.credentials),
            )
            .await
    }
}

/// The unsigned STS operation.
#[derive(Clone, Copy)]
pub struct AnonymousSts<'a> {
    client: &'a Client,
}

impl<'a> AnonymousSts<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `AssumeRoleWithOIDC` (RRSA): no AccessKey, no signature.
    pub async fn assume_role_with_oidc(
        &self,
        request: &AssumeRoleWithOidcRequest,
    ) -> Result<AssumeRoleResponse, Error> {
        let mut params = Params::new();
        params
            .set("RoleArn", &request.role_arn)
            .set("OIDCProviderArn", &request.oidc_provider_arn)
            .secret("OIDCToken", Some(&request.oidc_token))
            .opt("RoleSessionName", request.role_session_name.as_ref())
            .opt("DurationSeconds", request.duration_seconds)
            .opt("Policy", request.policy.as_ref());
        self.client
            .call(Service::Sts, "AssumeRoleWithOIDC", &params, Auth::Anonymous)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assume_role_response_decodes() {
        let response: AssumeRoleResponse = serde_json::from_str(
            r#"{"RequestId":"6894B13B","AssumedRoleUser":{"Arn":"acs:ram::1:role/r/s","AssumedRoleId":"3:s"},
                "Credentials":{"AccessKeyId":"STS.x","AccessKeySecret":"sec","SecurityToken":"tok","Expiration":"2015-04-09T11:52:19Z"}}"#,
        )
        .unwrap();
        assert_eq!(response.assumed_role_user.assumed_role_id, "3:s");
        let credentials = response.credentials.into_credentials();
        assert_eq!(
            credentials.expiration.unwrap().to_string(),
            "2015-04-09T11:52:19Z"
        );
        assert_eq!(credentials.security_token.unwrap().expose(), "tok");
        let identity: CallerIdentity =
            serde_json::from_str(r#"{"AccountId":1234567890123456,"IdentityType":"RAMUser"}"#)
                .unwrap();
        assert_eq!(identity.account_id, "1234567890123456");
    }
}
