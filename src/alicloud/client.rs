//! The HTTP side of the client: endpoints, signing each attempt, sending, decoding, retrying,
//! rate limiting and reporting every attempt to a [`CallObserver`].
//!
//! Every request is a `POST /` with all parameters in the query string and an empty body, as
//! the official SDKs send RAM, IMS and STS calls, with `Format=JSON`. Each attempt is signed
//! afresh (new `SignatureNonce` and `Timestamp`) with the credentials the provider hands out
//! at that moment. This module knows the wire protocol but not the operations (see `ram`,
//! `ims`, `sts`) and nothing of Kubernetes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::Service;
use super::credentials::{Credentials, CredentialsProvider};
use super::error::{Error, ErrorKind};
use super::ims::Ims;
use super::limiter::{Limiter, RateLimits};
use super::ram::Ram;
use super::retry::{RetryPolicy, repeat_is_safe};
use super::signature::{self, percent_encode};
use super::sts::{AnonymousSts, Sts};
use super::wire::{Params, decode};

/// The largest answer body the client reads. RAM / IMS / STS answers are a few kilobytes (a
/// full `ListPolicies` page a few hundred); anything larger is refused before it is buffered,
/// so a broken or hostile endpoint cannot make the operator allocate without bound.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Endpoint URL per service. Paths are ignored: RPC calls go to `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub ram: Url,
    pub ims: Url,
    pub sts: Url,
}

fn https(host: &str) -> Url {
    // The hosts below are constants and valid URLs.
    Url::parse(&format!("https://{host}/")).unwrap_or_else(|_| unreachable!("valid host {host}"))
}

impl Default for Endpoints {
    /// The public endpoints: `ram.aliyuncs.com`, `ims.aliyuncs.com`, `sts.aliyuncs.com`.
    fn default() -> Self {
        Self {
            ram: https("ram.aliyuncs.com"),
            ims: https("ims.aliyuncs.com"),
            sts: https("sts.aliyuncs.com"),
        }
    }
}

impl Endpoints {
    /// Public endpoints with the regional STS host `sts.<region>.aliyuncs.com`.
    pub fn for_region(region: &str) -> Self {
        Self {
            sts: https(&format!("sts.{region}.aliyuncs.com")),
            ..Self::default()
        }
    }

    /// The same base URL for all three services (the emulator serves them on one port).
    pub fn all(url: Url) -> Self {
        Self {
            ram: url.clone(),
            ims: url.clone(),
            sts: url,
        }
    }

    fn get(&self, service: Service) -> &Url {
        match service {
            Service::Ram => &self.ram,
            Service::Ims => &self.ims,
            Service::Sts => &self.sts,
        }
    }
}

/// One finished attempt, as reported to a [`CallObserver`].
#[derive(Debug, Clone)]
pub struct CallEvent<'a> {
    pub service: Service,
    pub action: &'a str,
    /// `Success`, the service's error code, or the [`ErrorKind`] name when there was none
    /// (e.g. `Transport`).
    pub code: &'a str,
    /// Time of this attempt (rate-limiter wait excluded).
    pub duration: Duration,
    /// 1 for the first attempt of a call, 2 for its first retry, ...
    pub attempt: u32,
}

/// Receives every attempt; the operator wires it to Prometheus. Must not block.
pub trait CallObserver: Send + Sync {
    fn on_attempt(&self, event: &CallEvent<'_>);
}

/// Client settings.
#[derive(Clone)]
pub struct ClientConfig {
    pub endpoints: Endpoints,
    /// Accept `http://` endpoints (the emulator); refused otherwise.
    pub allow_insecure: bool,
    /// Timeout of one attempt, connect to last byte.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Client-side limits per (service, account).
    pub rate_limits: RateLimits,
    pub observer: Option<Arc<dyn CallObserver>>,
    pub user_agent: String,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoints", &self.endpoints)
            .field("allow_insecure", &self.allow_insecure)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("rate_limits", &self.rate_limits)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            endpoints: Endpoints::default(),
            allow_insecure: false,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            rate_limits: RateLimits::default(),
            observer: None,
            user_agent: concat!("ram-operator/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// How a request is authenticated.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// Signed with the provider's credentials.
    Signed(&'a dyn CredentialsProvider),
    /// Unsigned (`AssumeRoleWithOIDC`).
    Anonymous,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    limiter: Limiter,
}

/// The Alibaba Cloud RPC client; cheap to clone (one connection pool shared by all clones).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Client {
    /// Builds a client; fails on a plain `http://` endpoint unless `allow_insecure`, and on a
    /// scheme other than http(s).
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        for service in [Service::Ram, Service::Ims, Service::Sts] {
            let url = config.endpoints.get(service);
            match url.scheme() {
                "https" => {}
                "http" if config.allow_insecure => {}
                "http" => {
                    return Err(Error::local(
                        ErrorKind::Config,
                        "",
                        format!(
                            "the {} endpoint {url} is plain http; allow insecure endpoints \
                             explicitly (emulator only) or use https",
                            service.name()
                        ),
                    ));
                }
                other => {
                    return Err(Error::local(
                        ErrorKind::Config,
                        "",
                        format!(
                            "unsupported scheme {other} in the {} endpoint",
                            service.name()
                        ),
                    ));
                }
            }
        }
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|error| Error::local(ErrorKind::Config, "", error.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                limiter: Limiter::new(config.rate_limits),
                config,
            }),
        })
    }

    /// RAM operations signed with `credentials`.
    pub fn ram<'a>(&'a self, credentials: &'a dyn CredentialsProvider) -> Ram<'a> {
        Ram::new(self, credentials)
    }
    /// IMS operations signed with `credentials`.
    pub fn ims<'a>(&'a self, credentials: &'a dyn CredentialsProvider) -> Ims<'a> {
        Ims::new(self, credentials)
    }
    /// STS operations signed with `credentials`.
    pub fn sts<'a>(&'a self, credentials: &'a dyn CredentialsProvider) -> Sts<'a> {
        Sts::new(self, credentials)
    }
    /// The unsigned STS operation `AssumeRoleWithOIDC`.
    pub fn sts_anonymous(&self) -> AnonymousSts<'_> {
        AnonymousSts::new(self)
    }

    /// Calls `action` of `service` and decodes the JSON answer into `T`, retrying throttling
    /// and transient failures as the [`RetryPolicy`] allows. Credentials the service reports
    /// expired are invalidated in the provider and the call is tried once more.
    pub async fn call<T: DeserializeOwned>(
        &self,
        service: Service,
        action: &str,
        params: &Params,
        auth: Auth<'_>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        let policy = &self.inner.config.retry;
        let mut attempt = 0;
        let mut refreshed_credentials = false;
        loop {
            attempt += 1;
            let error = match self.attempt(service, action, params, auth, attempt).await {
                Ok(body) => return decode(action, &body),
                Err(error) => error,
            };
            if let (ErrorKind::CredentialsExpired, Auth::Signed(provider)) = (error.kind(), auth)
                && !refreshed_credentials
            {
                refreshed_credentials = true;
                provider.invalidate();
                continue;
            }
            let delay = policy.next_delay(
                &error,
                attempt,
                started.elapsed(),
                repeat_is_safe(action),
                &mut rand::rng(),
            );
            let Some(delay) = delay else {
                return Err(error);
            };
            tracing::debug!(
                service = service.name(),
                action,
                attempt,
                ?delay,
                code = error.code().unwrap_or("-"),
                "retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One signed attempt; the raw body of a successful answer.
    async fn attempt(
        &self,
        service: Service,
        action: &str,
        params: &Params,
        auth: Auth<'_>,
        attempt: u32,
    ) -> Result<Vec<u8>, Error> {
        let credentials = match auth {
            Auth::Signed(provider) => Some(provider.credentials().await.map_err(|error| {
                Error::local(error.kind(), action, error.message().to_string())
            })?),
            Auth::Anonymous => None,
        };
        let limiter_key = credentials
            .as_ref()
            .map_or("anonymous", Credentials::rate_limit_key);
        self.inner.limiter.acquire(service, limiter_key).await;

        let started = Instant::now();
        let url = self.signed_url(service, action, params, credentials.as_ref());
        let result = self.send(action, url, credentials.as_ref()).await;
        if let Some(observer) = &self.inner.config.observer {
            let code = match &result {
                Ok(_) => "Success".to_string(),
                Err(error) => error
                    .code()
                    .map_or_else(|| format!("{:?}", error.kind()), str::to_string),
            };
            observer.on_attempt(&CallEvent {
                service,
                action,
                code: &code,
                duration: started.elapsed(),
                attempt,
            });
        }
        result
    }

    /// The endpoint URL with every parameter, common ones and `Signature` included.
    fn signed_url(
        &self,
        service: Service,
        action: &str,
        params: &Params,
        credentials: Option<&Credentials>,
    ) -> Url {
        let mut all = params.clone().into_map();
        let mut common = |name: &str, value: &str| {
            all.insert(name.to_string(), value.to_string());
        };
        common("Action", action);
        common("Version", service.api_version());
        common("Format", "JSON");
        common(
            "Timestamp",
            &signature::format_timestamp(jiff::Timestamp::now()),
        );
        common("SignatureNonce", &uuid::Uuid::new_v4().to_string());
        if let Some(credentials) = credentials {
            common("AccessKeyId", &credentials.access_key_id);
            common("SignatureMethod", signature::V2_SIGNATURE_METHOD);
            common("SignatureVersion", signature::V2_SIGNATURE_VERSION);
            if let Some(token) = &credentials.security_token {
                common("SecurityToken", token.expose());
            }
            let signed = signature::sign_rpc("POST", &all, credentials.access_key_secret.expose());
            all.insert("Signature".to_string(), signed.signature);
        }
        let mut url = self.inner.config.endpoints.get(service).clone();
        url.set_path("/");
        let query: Vec<String> = all
            .iter()
            .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
            .collect();
        url.set_query(Some(&query.join("&")));
        url
    }

    async fn send(
        &self,
        action: &str,
        url: Url,
        credentials: Option<&Credentials>,
    ) -> Result<Vec<u8>, Error> {
        // `without_url`: the URL carries the security token and must not reach error text.
        let transport = |error: reqwest::Error| {
            let what = if error.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            Error::local(
                ErrorKind::Transport,
                action,
                format!("request {what}: {}", error.without_url()),
            )
        };
        let response = self
            .inner
            .http
            .post(url)
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("x-acs-retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            // The Tea SDK compares it with a millisecond cap, so milliseconds it is.
            .map(Duration::from_millis);
        let body = read_body(response).await.map_err(|error| match error {
            BodyError::Transport(error) => transport(error),
            BodyError::TooLarge => too_large(action),
        })?;
        if status.is_success() {
            return Ok(body);
        }
        let secrets: Vec<&str> = credentials
            .into_iter()
            .flat_map(|credentials| {
                std::iter::once(credentials.access_key_secret.expose()).chain(
                    credentials
                        .security_token
                        .as_ref()
                        .map(|token| token.expose()),
                )
            })
            .collect();
        Err(Error::from_response(
            action,
            status.as_u16(),
            &body,
            retry_after,
            &secrets,
        ))
    }
}

enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

fn too_large(action: &str) -> Error {
    Error::local(
        ErrorKind::Decode,
        action,
        format!(
            "the answer is larger than {} MiB; refused unread",
            MAX_RESPONSE_BYTES / (1024 * 1024)
        ),
    )
}

/// Reads the body chunk by chunk, stopping as soon as it exceeds [`MAX_RESPONSE_BYTES`]
/// (a declared `Content-Length` over the limit is refused before reading anything).
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        let endpoints = Endpoints::all(Url::parse("http://127.0.0.1:18080").unwrap());
        let config = ClientConfig {
            endpoints: endpoints.clone(),
            ..ClientConfig::default()
        };
        let error = Client::new(config).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.message().contains("plain http"));
        let allowed = ClientConfig {
            endpoints,
            allow_insecure: true,
            ..ClientConfig::default()
        };
        assert!(Client::new(allowed).is_ok());
        let ftp = ClientConfig {
            endpoints: Endpoints::all(Url::parse("ftp://x/").unwrap()),
            allow_insecure: true,
            ..ClientConfig::default()
        };
        assert_eq!(Client::new(ftp).unwrap_err().kind(), ErrorKind::Config);
    }

    #[test]
    fn default_and_regional_endpoints() {
        let endpoints = Endpoints::for_region("cn-hangzhou");
        assert_eq!(
            endpoints.sts.as_str(),
            "https://sts.cn-hangzhou.aliyuncs.com/"
        );
        assert_eq!(endpoints.ram.as_str(), "https://ram.aliyuncs.com/");
        assert_eq!(
            Endpoints::default().ims.as_str(),
            "https://ims.aliyuncs.com/"
        );
    }
}
