//! Why a reconcile failed, as a typed error, and what that means for the object: the
//! condition reason users see, and whether to retry soon (transient) or wait for a change
//! (the spec or the cloud needs a person).

use std::time::Duration;

use crate::alicloud::{self, ErrorKind};

/// A reconcile failure. Messages say what to do and never contain a secret value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed (network, conflict, server error).
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// Alibaba Cloud answered with an error or could not be reached.
    #[error("{0}")]
    Cloud(#[from] alicloud::Error),

    /// The spec asks for something the schema could not refuse; a person must change it.
    #[error("{message}")]
    InvalidSpec {
        reason: &'static str,
        message: String,
    },

    /// The credentials to act with are missing or unusable.
    #[error("{message}")]
    Credentials {
        reason: &'static str,
        message: String,
    },

    /// Something this object depends on is not there or not ready yet; it is watched, so the
    /// object is reconciled again as soon as it changes.
    #[error("{message}")]
    Waiting {
        reason: &'static str,
        message: String,
    },

    /// A cloud object exists that this operator must not touch (adoption refused).
    #[error("{message}")]
    Conflict {
        reason: &'static str,
        message: String,
    },
}

/// How soon a failed object is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A passing failure: exponential backoff with jitter.
    Backoff,
    /// Needs a change by a person: try again on the next change or the periodic resync.
    AfterChange,
}

impl Error {
    /// The CamelCase reason for the `Ready=False` condition and the warning Event.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kube(_) => "KubernetesApiError",
            Self::Cloud(error) => cloud_reason(error.kind()),
            Self::InvalidSpec { reason, .. }
            | Self::Credentials { reason, .. }
            | Self::Waiting { reason, .. }
            | Self::Conflict { reason, .. } => reason,
        }
    }

    /// Whether to back off and retry, or to wait for a change.
    pub fn retry(&self) -> Retry {
        match self {
            Self::Kube(_) | Self::Waiting { .. } => Retry::Backoff,
            Self::Cloud(error) => match error.kind() {
                ErrorKind::InvalidParameter
                | ErrorKind::LimitExceeded
                | ErrorKind::SignatureMismatch
                | ErrorKind::Config => Retry::AfterChange,
                // Access and credential errors are often fixed outside Kubernetes (a policy
                // attached, a trust edited, a key re-enabled), so keep trying, slowly.
                _ => Retry::Backoff,
            },
            Self::Credentials { .. } => Retry::Backoff,
            Self::InvalidSpec { .. } | Self::Conflict { .. } => Retry::AfterChange,
        }
    }

    /// Whether the object is stuck until a person acts (kstatus `Stalled`).
    pub fn is_stalled(&self) -> bool {
        self.retry() == Retry::AfterChange
    }

    /// A spec error with a reason.
    pub fn invalid_spec(reason: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidSpec {
            reason,
            message: message.into(),
        }
    }

    /// A dependency that is not ready yet.
    pub fn waiting(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Waiting {
            reason,
            message: message.into(),
        }
    }
}

/// The condition reason for a cloud error kind.
pub fn cloud_reason(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "NotFound",
        ErrorKind::AlreadyExists => "AlreadyExists",
        ErrorKind::Conflict => "CloudConflict",
        ErrorKind::LimitExceeded => "LimitExceeded",
        ErrorKind::AccessDenied => "AccessDenied",
        ErrorKind::InvalidParameter => "InvalidParameter",
        ErrorKind::Throttled => "Throttled",
        ErrorKind::Transient | ErrorKind::Transport => "CloudUnavailable",
        ErrorKind::ClockSkew => "ClockSkew",
        ErrorKind::CredentialsInvalid => "CredentialsInvalid",
        ErrorKind::CredentialsExpired => "CredentialsExpired",
        ErrorKind::SignatureMismatch => "SignatureMismatch",
        ErrorKind::CredentialsNotFound => "CredentialsNotFound",
        ErrorKind::Decode => "UnexpectedCloudResponse",
        ErrorKind::Config => "OperatorMisconfigured",
        _ => "CloudError",
    }
}

/// Exponential backoff with jitter for the `failures`-th consecutive failure: 2 s doubling up
/// to 5 minutes, then a uniformly random point in the upper half of that, so that objects
/// failing together do not retry together.
pub fn backoff_delay(failures: u32, random_fraction: f64) -> Duration {
    const BASE: f64 = 2.0;
    const CAP: f64 = 300.0;
    let ceiling = (BASE * 2f64.powi(failures.saturating_sub(1).min(16) as i32)).min(CAP);
    Duration::from_secs_f64(ceiling * (0.5 + 0.5 * random_fraction.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_delay(1, 1.0), Duration::from_secs(2));
        assert_eq!(backoff_delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(3, 1.0), Duration::from_secs(8));
        assert_eq!(backoff_delay(30, 1.0), Duration::from_secs(300));
        assert_eq!(backoff_delay(30, 0.0), Duration::from_secs(150));
    }

    #[test]
    fn spec_errors_wait_for_a_change() {
        let error = Error::invalid_spec("InvalidPolicyDocument", "bad JSON");
        assert_eq!(error.retry(), Retry::AfterChange);
        assert!(error.is_stalled());
        assert_eq!(error.reason(), "InvalidPolicyDocument");
        let error = Error::waiting("RoleNotReady", "role has no ARN yet");
        assert_eq!(error.retry(), Retry::Backoff);
    }

    #[test]
    fn cloud_errors_map_to_specific_reasons() {
        let denied = alicloud::Error::local(ErrorKind::AccessDenied, "AssumeRole", "no");
        let error = Error::from(denied);
        assert_eq!(error.reason(), "AccessDenied");
        assert_eq!(error.retry(), Retry::Backoff);
        let invalid = alicloud::Error::local(ErrorKind::InvalidParameter, "CreateRole", "x");
        assert_eq!(Error::from(invalid).retry(), Retry::AfterChange);
    }
}
