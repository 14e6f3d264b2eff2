//! A string that must never be printed: access key secrets, security tokens, passwords and
//! OIDC tokens. `Debug` and `Display` both print `[REDACTED]`; the value is reachable only
//! through [`Sensitive::expose`], so every place that needs the cleartext says so.
//!
//! This module knows nothing of where secrets come from or go to.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// Placeholder printed instead of a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// A secret string: redacted in `Debug` and `Display`, zeroised on drop (via `secrecy`).
#[derive(Clone)]
pub struct Sensitive(SecretString);

impl Sensitive {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The cleartext, for signing requests and writing Secrets. Never log the result.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the secret is the empty string (useful for validation without exposing it).
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl PartialEq for Sensitive {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Sensitive {}

impl Default for Sensitive {
    fn default() -> Self {
        Self::new(String::new())
    }
}

impl From<String> for Sensitive {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Sensitive {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl<'de> Deserialize<'de> for Sensitive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_redacts_and_expose_reveals() {
        let secret = Sensitive::new("hunter2");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{secret}"), REDACTED);
        assert_eq!(secret.expose(), "hunter2");
        let parsed: Sensitive = serde_json::from_str("\"s3cr3t\"").unwrap();
        assert_eq!(parsed.expose(), "s3cr3t");
    }
}
