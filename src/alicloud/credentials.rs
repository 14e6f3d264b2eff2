//! Credentials and the providers that supply them: static AccessKey, static STS token,
//! environment, RRSA (OIDC token file -> anonymous `AssumeRoleWithOIDC`, cached and refreshed
//! before expiry), and a chain of those.
//!
//! Providers are `Send + Sync` and meant to be shared as [`SharedCredentialsProvider`]
//! (`Arc<dyn CredentialsProvider>`). Secrets are held as [`Sensitive`] and never printed.
//! This module knows nothing of signing; the RRSA provider uses the [`Client`] for its STS call.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;

use super::client::Client;
use super::error::{Error, ErrorKind};
use super::secret::Sensitive;
use super::sts::AssumeRoleWithOidcRequest;

/// A credential set used to sign requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// AccessKey id (`STS.` prefix for STS credentials).
    pub access_key_id: String,
    pub access_key_secret: Sensitive,
    /// Present for STS credentials; sent as `SecurityToken`.
    pub security_token: Option<Sensitive>,
    /// When STS credentials stop working; `None` for long-lived AccessKeys.
    pub expiration: Option<Timestamp>,
    /// The Alibaba Cloud account the credentials belong to, when known. The client keys its
    /// rate limiter by this (falling back to the access key id), so set it whenever the caller
    /// knows it: STS key ids change with every refresh.
    pub account_id: Option<String>,
}

impl Credentials {
    /// A long-lived AccessKey pair.
    pub fn access_key(id: impl Into<String>, secret: impl Into<Sensitive>) -> Self {
        Self {
            access_key_id: id.into(),
            access_key_secret: secret.into(),
            security_token: None,
            expiration: None,
            account_id: None,
        }
    }

    /// STS credentials: key pair plus security token.
    pub fn sts(
        id: impl Into<String>,
        secret: impl Into<Sensitive>,
        token: impl Into<Sensitive>,
        expiration: Option<Timestamp>,
    ) -> Self {
        Self {
            security_token: Some(token.into()),
            expiration,
            ..Self::access_key(id, secret)
        }
    }

    /// Sets the account the credentials belong to (see [`Credentials::account_id`]).
    pub fn with_account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// The key of the client-side rate limiter: the account id if known, else the key id.
    pub fn rate_limit_key(&self) -> &str {
        self.account_id.as_deref().unwrap_or(&self.access_key_id)
    }
}

/// Supplies credentials for each request attempt.
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    /// The credentials to sign the next attempt with (cached by the provider as it sees fit).
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>>;

    /// Forgets cached credentials, after the service said they expired.
    fn invalidate(&self) {}
}

/// A provider shared between tasks.
pub type SharedCredentialsProvider = Arc<dyn CredentialsProvider>;

/// The clock providers read; injectable so tests can move time.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Reads an environment variable; injectable so tests need not mutate the process environment.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
}

/// Fixed credentials: an AccessKey pair or an STS token, e.g. from a Kubernetes Secret.
#[derive(Debug, Clone)]
pub struct StaticProvider {
    credentials: Credentials,
}

impl StaticProvider {
    /// Serves the given credentials.
    pub fn new(credentials: Credentials) -> Self {
        Self { credentials }
    }
    /// Serves a long-lived AccessKey pair.
    pub fn access_key(id: impl Into<String>, secret: impl Into<Sensitive>) -> Self {
        Self::new(Credentials::access_key(id, secret))
    }
    /// Serves an STS token.
    pub fn sts(
        id: impl Into<String>,
        secret: impl Into<Sensitive>,
        token: impl Into<Sensitive>,
    ) -> Self {
        Self::new(Credentials::sts(id, secret, token, None))
    }
    /// Sets the account id used as rate-limit key.
    pub fn with_account_id(self, account_id: impl Into<String>) -> Self {
        Self::new(self.credentials.with_account_id(account_id))
    }
}

impl CredentialsProvider for StaticProvider {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        let credentials = self.credentials.clone();
        Box::pin(async move { Ok(credentials) })
    }
}

/// Environment variable names read by [`EnvProvider`] (the official SDKs' names).
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
/// RRSA variables (injected by the ACK RRSA webhook).
pub const ENV_ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
pub const ENV_OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
pub const ENV_OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
pub const ENV_ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";

/// Credentials from `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` / `_SECURITY_TOKEN`, read on
/// every call (so a rotated environment, e.g. a restarted sidecar, is picked up).
#[derive(Clone)]
pub struct EnvProvider {
    lookup: EnvLookup,
}

impl fmt::Debug for EnvProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnvProvider")
    }
}

impl Default for EnvProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvProvider {
    /// Reads the process environment.
    pub fn new() -> Self {
        Self::with_lookup(process_env())
    }
    /// Reads variables through `lookup` (tests).
    pub fn with_lookup(lookup: EnvLookup) -> Self {
        Self { lookup }
    }
    fn read(&self) -> Result<Credentials, Error> {
        let id = (self.lookup)(ENV_ACCESS_KEY_ID);
        let secret = (self.lookup)(ENV_ACCESS_KEY_SECRET);
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Credentials {
                security_token: (self.lookup)(ENV_SECURITY_TOKEN).map(Sensitive::new),
                ..Credentials::access_key(id, secret)
            }),
            (None, None) => Err(Error::local(
                ErrorKind::CredentialsNotFound,
                "",
                format!("{ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} are not set"),
            )),
            _ => Err(Error::local(
                ErrorKind::CredentialsInvalid,
                "",
                format!("set both {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, not one"),
            )),
        }
    }
}

impl CredentialsProvider for EnvProvider {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        let result = self.read();
        Box::pin(async move { result })
    }
}

/// How long before expiry the RRSA provider refreshes (capped at a third of the lifetime).
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone)]
struct Cached {
    credentials: Credentials,
    refresh_at: Timestamp,
}

/// RRSA: exchanges the OIDC token in a file (re-read on every refresh, since the kubelet
/// rotates it) for STS credentials through anonymous `AssumeRoleWithOIDC`; caches them and
/// refreshes them before they expire.
pub struct OidcProvider {
    client: Client,
    role_arn: String,
    oidc_provider_arn: String,
    token_file: PathBuf,
    session_name: String,
    duration_seconds: Option<u32>,
    refresh_before: Duration,
    clock: Clock,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider")
            .field("role_arn", &self.role_arn)
            .field("oidc_provider_arn", &self.oidc_provider_arn)
            .field("token_file", &self.token_file)
            .field("session_name", &self.session_name)
            .finish_non_exhaustive()
    }
}

impl OidcProvider {
    /// A provider for `role_arn` through `oidc_provider_arn` with the token in `token_file`.
    pub fn new(
        client: Client,
        role_arn: impl Into<String>,
        oidc_provider_arn: impl Into<String>,
        token_file: impl Into<PathBuf>,
    ) -> Self {
        Self {
            client,
            role_arn: role_arn.into(),
            oidc_provider_arn: oidc_provider_arn.into(),
            token_file: token_file.into(),
            session_name: format!("ram-operator-{}", Timestamp::now().as_second()),
            duration_seconds: None,
            refresh_before: DEFAULT_REFRESH_BEFORE,
            clock: Arc::new(Timestamp::now),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// From the RRSA variables; `None` unless all three required ones are set (as the
    /// official default chains decide).
    pub fn from_env(client: &Client, lookup: &EnvLookup) -> Option<Self> {
        let provider = Self::new(
            client.clone(),
            lookup(ENV_ROLE_ARN)?,
            lookup(ENV_OIDC_PROVIDER_ARN)?,
            lookup(ENV_OIDC_TOKEN_FILE)?,
        );
        Some(match lookup(ENV_ROLE_SESSION_NAME) {
            Some(name) => provider.with_session_name(name),
            None => provider,
        })
    }

    /// Sets the `RoleSessionName`.
    pub fn with_session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = name.into();
        self
    }
    /// Sets the requested `DurationSeconds`.
    pub fn with_duration_seconds(mut self, seconds: u32) -> Self {
        self.duration_seconds = Some(seconds);
        self
    }
    /// Sets how long before expiry to refresh.
    pub fn with_refresh_before(mut self, before: Duration) -> Self {
        self.refresh_before = before;
        self
    }
    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    async fn fetch(&self) -> Result<Cached, Error> {
        const ACTION: &str = "AssumeRoleWithOIDC";
        let token = tokio::fs::read_to_string(&self.token_file)
            .await
            .map_err(|error| {
                Error::local(
                    ErrorKind::CredentialsNotFound,
                    ACTION,
                    format!(
                        "cannot read the OIDC token file {}: {error}",
                        self.token_file.display()
                    ),
                )
            })?;
        let fetched_at = (self.clock)();
        let request = AssumeRoleWithOidcRequest {
            role_arn: self.role_arn.clone(),
            oidc_provider_arn: self.oidc_provider_arn.clone(),
            oidc_token: Sensitive::new(token.trim()),
            role_session_name: Some(self.session_name.clone()),
            duration_seconds: self.duration_seconds,
            policy: None,
        };
        let response = self
            .client
            .sts_anonymous()
            .assume_role_with_oidc(&request)
            .await?;
        let mut credentials = response.credentials.into_credentials();
        credentials.account_id = account_of_arn(&self.role_arn);
        let expiration = credentials.expiration.ok_or_else(|| {
            Error::local(
                ErrorKind::Decode,
                ACTION,
                "the credentials carry no Expiration",
            )
        })?;
        Ok(Cached {
            refresh_at: refresh_time(fetched_at, expiration, self.refresh_before),
            credentials,
        })
    }
}

/// When to refresh credentials fetched at `fetched_at` that expire at `expiration`:
/// `refresh_before` ahead of expiry, but never later than two thirds into the lifetime, so
/// short-lived tokens do not refresh on every call.
pub fn refresh_time(
    fetched_at: Timestamp,
    expiration: Timestamp,
    refresh_before: Duration,
) -> Timestamp {
    let lifetime = expiration.duration_since(fetched_at).unsigned_abs();
    let ahead = refresh_before.min(lifetime / 3);
    let ahead = jiff::SignedDuration::try_from(ahead).unwrap_or(jiff::SignedDuration::ZERO);
    expiration.checked_sub(ahead).unwrap_or(expiration)
}

/// The account id inside an ARN such as `acs:ram::123:role/name`.
pub fn account_of_arn(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(3)?;
    (!account.is_empty()).then(|| account.to_string())
}

impl CredentialsProvider for OidcProvider {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(async move {
            let mut cache = self.cache.lock().await;
            let now = (self.clock)();
            if let Some(cached) = cache.as_ref()
                && now < cached.refresh_at
            {
                return Ok(cached.credentials.clone());
            }
            match self.fetch().await {
                Ok(fresh) => {
                    let credentials = fresh.credentials.clone();
                    *cache = Some(fresh);
                    Ok(credentials)
                }
                // A failed refresh keeps serving credentials that are still valid.
                Err(error) => match cache.as_ref() {
                    Some(cached)
                        if cached
                            .credentials
                            .expiration
                            .is_some_and(|expiry| now < expiry) =>
                    {
                        tracing::warn!(%error, "RRSA credentials refresh failed; serving the cached ones");
                        Ok(cached.credentials.clone())
                    }
                    _ => Err(error),
                },
            }
        })
    }

    fn invalidate(&self) {
        if let Ok(mut cache) = self.cache.try_lock() {
            *cache = None;
        }
    }
}

/// Tries providers in order; a provider that has no credentials configured
/// ([`ErrorKind::CredentialsNotFound`]) passes to the next, any other error stops the chain.
#[derive(Debug, Clone)]
pub struct ChainProvider {
    providers: Vec<SharedCredentialsProvider>,
}

impl ChainProvider {
    /// A chain of the given providers, tried in order.
    pub fn new(providers: Vec<SharedCredentialsProvider>) -> Self {
        Self { providers }
    }

    /// The operator's own identity: environment, then RRSA when its variables are set.
    pub fn default_chain(client: &Client) -> Self {
        Self::default_chain_with(client, process_env())
    }

    /// [`ChainProvider::default_chain`] with an injected environment (tests).
    pub fn default_chain_with(client: &Client, lookup: EnvLookup) -> Self {
        let mut providers: Vec<SharedCredentialsProvider> =
            vec![Arc::new(EnvProvider::with_lookup(lookup.clone()))];
        if let Some(oidc) = OidcProvider::from_env(client, &lookup) {
            providers.push(Arc::new(oidc));
        }
        Self::new(providers)
    }
}

impl CredentialsProvider for ChainProvider {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(async move {
            let mut tried = Vec::new();
            for provider in &self.providers {
                match provider.credentials().await {
                    Ok(credentials) => return Ok(credentials),
                    Err(error) if error.kind() == ErrorKind::CredentialsNotFound => {
                        tried.push(error.message().to_string());
                    }
                    Err(error) => return Err(error),
                }
            }
            Err(Error::local(
                ErrorKind::CredentialsNotFound,
                "",
                format!("no credentials found: {}", tried.join("; ")),
            ))
        })
    }

    fn invalidate(&self) {
        for provider in &self.providers {
            provider.invalidate();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> EnvLookup {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Arc::new(move |name| map.get(name).cloned())
    }

    #[tokio::test]
    async fn env_provider_reads_the_sdk_variables() {
        let provider = EnvProvider::with_lookup(env(&[
            (ENV_ACCESS_KEY_ID, "STS.id"),
            (ENV_ACCESS_KEY_SECRET, "sec"),
            (ENV_SECURITY_TOKEN, "tok"),
        ]));
        let credentials = provider.credentials().await.unwrap();
        assert_eq!(credentials.access_key_id, "STS.id");
        assert_eq!(credentials.security_token.unwrap().expose(), "tok");
        let missing = EnvProvider::with_lookup(env(&[]))
            .credentials()
            .await
            .unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::CredentialsNotFound);
        let half = EnvProvider::with_lookup(env(&[(ENV_ACCESS_KEY_ID, "x")]));
        assert_eq!(
            half.credentials().await.unwrap_err().kind(),
            ErrorKind::CredentialsInvalid
        );
    }

    #[tokio::test]
    async fn chain_skips_unconfigured_providers() {
        let chain = ChainProvider::new(vec![
            Arc::new(EnvProvider::with_lookup(env(&[]))),
            Arc::new(StaticProvider::access_key("ak", "sk").with_account_id("42")),
        ]);
        let credentials = chain.credentials().await.unwrap();
        assert_eq!(credentials.access_key_id, "ak");
        assert_eq!(credentials.rate_limit_key(), "42");
        let empty = ChainProvider::new(vec![Arc::new(EnvProvider::with_lookup(env(&[])))]);
        let error = empty.credentials().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::CredentialsNotFound);
        assert!(error.message().contains(ENV_ACCESS_KEY_ID));
    }

    #[test]
    fn refresh_time_is_before_expiry() {
        let fetched: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let hour: Timestamp = "2024-01-01T01:00:00Z".parse().unwrap();
        assert_eq!(
            refresh_time(fetched, hour, DEFAULT_REFRESH_BEFORE).to_string(),
            "2024-01-01T00:45:00Z"
        );
        let short: Timestamp = "2024-01-01T00:15:00Z".parse().unwrap();
        assert_eq!(
            refresh_time(fetched, short, DEFAULT_REFRESH_BEFORE).to_string(),
            "2024-01-01T00:10:00Z",
            "a 15-minute token refreshes after two thirds, not at once"
        );
        assert_eq!(
            account_of_arn("acs:ram::1234:role/r").as_deref(),
            Some("1234")
        );
        assert_eq!(account_of_arn("nonsense"), None);
    }
}
