//! What a grant depends on, read from its namespace: the role ARN (`roleArn`, or the
//! `status.arn` of a `CrossAccountRole`), the source credentials (a `RamUser`'s AccessKey
//! Secret, a Secret, or the operator's identity) and the account they belong to.
//!
//! The account id matters for the `AssumeRole` budget: the client rate-limits per (service,
//! account) and keys by the access key id when the account is unknown. The account of a source
//! key is learnt once with `GetCallerIdentity` and cached per access key id, so every grant
//! whose source belongs to one account shares that account's `--sts-qps` budget.
//!
//! Reads only; never writes. Never reads outside the grant's namespace.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use kube::Api;
use tokio::sync::OnceCell;

use super::cache::SourceSecrets;
use crate::alicloud::{
    self, Credentials, CredentialsProvider, SharedCredentialsProvider, StaticProvider,
};
use crate::controller::error::Error;
use crate::controller::identity;
use crate::controller::secrets::{ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN};
use crate::crd::conditions::{self, READY};
use crate::crd::{CredentialsRef, CrossAccountRole, RamUser, StsGrant};

/// Reasons of dependency failures.
pub const ROLE_NOT_READY: &str = "RoleNotReady";
pub const RAM_USER_NOT_READY: &str = "RamUserNotReady";

/// The role to assume.
pub async fn role_arn(kube: &kube::Client, grant: &StsGrant) -> Result<String, Error> {
    if let Some(arn) = &grant.spec.role_arn {
        return Ok(arn.clone());
    }
    let Some(reference) = &grant.spec.role_ref else {
        return Err(Error::invalid_spec(
            "InvalidSpec",
            "set spec.roleArn or spec.roleRef",
        ));
    };
    let namespace = grant.metadata.namespace.as_deref().unwrap_or_default();
    let roles: Api<CrossAccountRole> = Api::namespaced(kube.clone(), namespace);
    let role = roles.get_opt(&reference.name).await?;
    role_arn_of(&reference.name, role.as_ref())
}

/// The ARN a `CrossAccountRole` publishes, or why it cannot be used yet.
pub fn role_arn_of(name: &str, role: Option<&CrossAccountRole>) -> Result<String, Error> {
    let Some(role) = role else {
        return Err(Error::waiting(
            ROLE_NOT_READY,
            format!("CrossAccountRole {name} does not exist yet: create it or fix spec.roleRef"),
        ));
    };
    let status = role.status.as_ref();
    match status.and_then(|status| status.arn.clone()) {
        Some(arn)
            if status.is_some_and(|status| conditions::is_true(&status.conditions, READY)) =>
        {
            Ok(arn)
        }
        _ => Err(Error::waiting(
            ROLE_NOT_READY,
            format!("CrossAccountRole {name} is not Ready yet; waiting for its ARN"),
        )),
    }
}

/// Source credentials with their access key id (not secret) for change tracking.
pub struct Source {
    pub provider: SharedCredentialsProvider,
    pub access_key_id: String,
}

/// Resolves whose credentials call `AssumeRole`; Secrets are read through `sources`.
pub async fn source(
    kube: &kube::Client,
    sources: &SourceSecrets,
    default_credentials: Option<&SharedCredentialsProvider>,
    grant: &StsGrant,
) -> Result<Source, Error> {
    let namespace = grant.metadata.namespace.as_deref().unwrap_or_default();
    let source = grant.spec.source.as_ref();
    let provider = match (
        source.and_then(|s| s.ram_user_ref.as_ref()),
        source.and_then(|s| s.secret_ref.as_ref()),
    ) {
        (Some(user_ref), _) => {
            let users: Api<RamUser> = Api::namespaced(kube.clone(), namespace);
            let user = users.get_opt(&user_ref.name).await?;
            let secret_name = ram_user_secret(&user_ref.name, user.as_ref())?;
            let reference = CredentialsRef {
                name: secret_name,
                access_key_id_key: ENV_ACCESS_KEY_ID.to_owned(),
                access_key_secret_key: ENV_ACCESS_KEY_SECRET.to_owned(),
                security_token_key: ENV_SECURITY_TOKEN.to_owned(),
            };
            from_secret(kube, sources, namespace, &reference)
                .await
                .map_err(|error| match error {
                    // The user's Secret appears once its controller created the key.
                    Error::Credentials {
                        reason: identity::CREDENTIALS_NOT_FOUND,
                        message,
                    } => Error::waiting(RAM_USER_NOT_READY, message),
                    other => other,
                })?
        }
        (None, Some(secret_ref)) => from_secret(kube, sources, namespace, secret_ref).await?,
        (None, None) => identity::resolve(kube, default_credentials, namespace, None)
            .await
            .map_err(|error| match error {
                Error::Credentials { reason, .. } => Error::Credentials {
                    reason,
                    message: "spec.source is not set and the operator runs without \
                              --default-credentials: set spec.source.ramUserRef or \
                              spec.source.secretRef"
                        .to_owned(),
                },
                other => other,
            })?,
    };
    let credentials = provider.credentials().await?;
    Ok(Source {
        provider,
        access_key_id: credentials.access_key_id,
    })
}

/// Credentials from the Secret `reference` names in `namespace` (the grant's own).
async fn from_secret(
    kube: &kube::Client,
    sources: &SourceSecrets,
    namespace: &str,
    reference: &CredentialsRef,
) -> Result<SharedCredentialsProvider, Error> {
    let key = super::namespaced_key(namespace, &reference.name);
    let data = sources
        .data(&key, || {
            identity::read_secret(kube, namespace, &reference.name)
        })
        .await?;
    let credentials = identity::credentials_from_secret_data(&reference.name, &data, reference)?;
    Ok(Arc::new(StaticProvider::new(credentials)))
}

/// The AccessKey Secret of a programmatic `RamUser`.
pub fn ram_user_secret(name: &str, user: Option<&RamUser>) -> Result<String, Error> {
    let Some(user) = user else {
        return Err(Error::waiting(
            RAM_USER_NOT_READY,
            format!("RamUser {name} does not exist yet: create it or fix spec.source.ramUserRef"),
        ));
    };
    user.spec
        .programmatic
        .as_ref()
        .map(|programmatic| programmatic.access_key_secret_name.clone())
        .ok_or_else(|| {
            Error::invalid_spec(
                "RamUserNotProgrammatic",
                format!(
                    "RamUser {name} has no spec.programmatic AccessKey: a console user cannot \
                     call AssumeRole for a grant"
                ),
            )
        })
}

/// Account ids of source keys, learnt with `GetCallerIdentity` (an STS read that needs no
/// permission) and cached per access key id for the life of the process.
///
/// One lookup per key, however many grants ask at once: a thousand grants of one source
/// reconciled together at start-up wait for the same `GetCallerIdentity` instead of each
/// sending its own (they all missed an empty cache, and the calls took the STS budget
/// ahead of the `AssumeRole` calls that matter).
#[derive(Default)]
pub struct AccountCache {
    accounts: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
}

impl AccountCache {
    /// `source` with its account id set on every credential it yields, so the client's limiter
    /// puts its `AssumeRole` calls into the account's budget. When the account cannot be learnt
    /// the key id stays the limiter key (a budget of its own), and the next refresh tries again.
    pub async fn with_account(
        &self,
        cloud: &alicloud::Client,
        source: &Source,
    ) -> SharedCredentialsProvider {
        let account = self
            .learn(&source.access_key_id, || async {
                match cloud
                    .sts(source.provider.as_ref())
                    .get_caller_identity()
                    .await
                {
                    Ok(identity) if !identity.account_id.is_empty() => Ok(identity.account_id),
                    Ok(_) => Err("GetCallerIdentity returned no AccountId".to_owned()),
                    Err(error) => Err(error.to_string()),
                }
            })
            .await;
        match account {
            Some(account) => Arc::new(InAccount {
                inner: source.provider.clone(),
                account,
            }),
            None => source.provider.clone(),
        }
    }

    /// The account of `access_key_id`: cached, or from `lookup`, run once for concurrent
    /// callers of the same key. A failed lookup is not cached.
    async fn learn<F, Fut>(&self, access_key_id: &str, lookup: F) -> Option<String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, String>>,
    {
        let cell = self
            .accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(access_key_id.to_owned())
            .or_default()
            .clone();
        match cell.get_or_try_init(lookup).await {
            Ok(account) => Some(account.clone()),
            Err(error) => {
                tracing::debug!(%error, "could not learn the account of a source key");
                None
            }
        }
    }
}

/// A provider whose credentials carry a known account id.
#[derive(Debug)]
struct InAccount {
    inner: SharedCredentialsProvider,
    account: String,
}

impl CredentialsProvider for InAccount {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, alicloud::Error>> {
        Box::pin(async move {
            let credentials = self.inner.credentials().await?;
            Ok(credentials.with_account_id(self.account.clone()))
        })
    }

    fn invalidate(&self) {
        self.inner.invalidate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{CrossAccountRoleStatus, RamUserSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn role(arn: Option<&str>, ready: bool) -> CrossAccountRole {
        let spec = serde_json::from_value(serde_json::json!({"trustedAccounts": ["2"]})).unwrap();
        let mut role = CrossAccountRole::new("r", spec);
        role.status = Some(CrossAccountRoleStatus {
            arn: arn.map(str::to_owned),
            conditions: vec![Condition {
                type_: READY.into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: "x".into(),
                message: String::new(),
                observed_generation: None,
                last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
            }],
            ..CrossAccountRoleStatus::default()
        });
        role
    }

    #[test]
    fn a_role_ref_needs_a_ready_role_with_an_arn() {
        assert_eq!(role_arn_of("r", None).unwrap_err().reason(), ROLE_NOT_READY);
        assert_eq!(
            role_arn_of("r", Some(&role(None, true)))
                .unwrap_err()
                .reason(),
            ROLE_NOT_READY
        );
        assert_eq!(
            role_arn_of("r", Some(&role(Some("acs:ram::1:role/r"), false)))
                .unwrap_err()
                .reason(),
            ROLE_NOT_READY
        );
        assert_eq!(
            role_arn_of("r", Some(&role(Some("acs:ram::1:role/r"), true))).unwrap(),
            "acs:ram::1:role/r"
        );
    }

    #[tokio::test]
    async fn concurrent_grants_of_one_key_learn_its_account_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cache = AccountCache::default();
        let calls = AtomicUsize::new(0);
        let lookup = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, String>("2222".to_owned())
        };
        let answers =
            futures::future::join_all((0..50).map(|_| cache.learn("LTAI-one", lookup))).await;
        assert!(answers.iter().all(|a| a.as_deref() == Some("2222")));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Another key is looked up on its own.
        assert_eq!(
            cache.learn("LTAI-two", lookup).await.as_deref(),
            Some("2222")
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_lookup_is_tried_again() {
        let cache = AccountCache::default();
        let failed = cache
            .learn("LTAI-k", || async { Err::<String, _>("down".to_owned()) })
            .await;
        assert_eq!(failed, None);
        let learnt = cache
            .learn("LTAI-k", || async { Ok::<_, String>("3333".to_owned()) })
            .await;
        assert_eq!(learnt.as_deref(), Some("3333"));
    }

    #[test]
    fn a_ram_user_source_uses_its_access_key_secret() {
        let spec: RamUserSpec = serde_json::from_value(serde_json::json!({
            "accessMode": "Programmatic",
            "programmatic": {"accessKeySecretName": "app-key"}
        }))
        .unwrap();
        let user = RamUser::new("app", spec);
        assert_eq!(ram_user_secret("app", Some(&user)).unwrap(), "app-key");
        assert_eq!(
            ram_user_secret("app", None).unwrap_err().reason(),
            RAM_USER_NOT_READY
        );
    }
}
