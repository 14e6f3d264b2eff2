//! Alibaba Cloud client: request signing, RAM / IMS / STS operations, errors,
//! retries, rate limits, credential providers and policy documents.
//!
//! Nothing in here knows about Kubernetes.
//!
//! Entry points: [`Client::new`] with a [`ClientConfig`]; per call, the credentials to use:
//! `client.ram(&provider).get_role("name")`, `client.ims(&provider)`, `client.sts(&provider)`,
//! and `client.sts_anonymous()` for `AssumeRoleWithOIDC`. A provider is any
//! [`CredentialsProvider`]; the operator uses a different one per object.

pub mod client;
pub mod credentials;
pub mod error;
pub mod ims;
pub mod limiter;
pub mod policy;
pub mod ram;
pub mod retry;
pub mod secret;
pub mod signature;
pub mod sts;
pub mod wire;

pub use client::{CallEvent, CallObserver, Client, ClientConfig, Endpoints};
pub use credentials::{
    ChainProvider, Credentials, CredentialsProvider, EnvProvider, OidcProvider,
    SharedCredentialsProvider, StaticProvider,
};
pub use error::{Error, ErrorKind};
pub use limiter::{RateLimit, RateLimits};
pub use retry::RetryPolicy;
pub use secret::Sensitive;

/// The three RPC services the operator talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Ram,
    Ims,
    Sts,
}

impl Service {
    /// The API `Version` parameter of the service.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::Ram => "2015-05-01",
            Self::Ims => "2019-08-15",
            Self::Sts => "2015-04-01",
        }
    }

    /// Lower-case name, for metrics labels and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ram => "ram",
            Self::Ims => "ims",
            Self::Sts => "sts",
        }
    }
}
