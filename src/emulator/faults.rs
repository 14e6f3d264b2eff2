//! Fault injection: per action (or `*`), an error code and HTTP status returned at a rate, and
//! added latency. Applied after authentication, so an injected `Throttling.User` looks exactly
//! like the real one to a client.
//!
//! Knows nothing of operations or state.

use std::sync::RwLock;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::errors::ApiError;

/// One rule, as posted to `/_emulator/faults`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// Action name, or `*` for every action.
    pub action: String,
    /// Error code to return (absent: latency only).
    #[serde(default)]
    pub code: Option<String>,
    /// HTTP status of the error (default 400 for `Throttling*`, 503 for `ServiceUnavailable`,
    /// 500 otherwise).
    #[serde(default)]
    pub http_status: Option<u16>,
    /// Error message (default: a generic one per code).
    #[serde(default)]
    pub message: Option<String>,
    /// Share of matching requests that fail, 0..1 (default 1).
    #[serde(default = "one")]
    pub rate: f64,
    /// Latency added to every matching request, in milliseconds (a timeout is a large value).
    #[serde(default)]
    pub latency_ms: u64,
    /// Latency added after the operation ran, before the answer is sent, in milliseconds: a
    /// slow or lost response whose change is made even when the caller gives up waiting (the
    /// window a client crash after a non-idempotent call falls into).
    #[serde(default)]
    pub response_latency_ms: u64,
}

fn one() -> f64 {
    1.0
}

/// The body of `POST /_emulator/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSet {
    /// The rules; the first matching rule applies.
    pub faults: Vec<FaultRule>,
}

impl FaultSet {
    /// Rejects rates outside 0..1 and statuses that are not errors.
    pub fn validate(&self) -> Result<(), String> {
        for rule in &self.faults {
            if !(0.0..=1.0).contains(&rule.rate) {
                return Err(format!(
                    "rate {} of {} is not within 0..1",
                    rule.rate, rule.action
                ));
            }
            if rule.http_status.is_some_and(|s| !(400..=599).contains(&s)) {
                return Err(format!("httpStatus of {} must be 400-599", rule.action));
            }
            if rule.action.is_empty() {
                return Err("action must not be empty".to_string());
            }
        }
        Ok(())
    }
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    /// Latency to add first.
    pub latency_ms: u64,
    /// Latency to add after the operation ran (only when no error is injected).
    pub response_latency_ms: u64,
    /// Error to return instead of running the operation.
    pub error: Option<ApiError>,
}

/// The current rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: RwLock<FaultSet>,
}

impl Faults {
    /// Replaces the rules.
    pub fn set(&self, set: FaultSet) {
        if let Ok(mut rules) = self.rules.write() {
            *rules = set;
        }
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.set(FaultSet::default());
    }

    /// The current rules.
    pub fn get(&self) -> FaultSet {
        self.rules.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// Decides the injection for `action`, rolling the dice once.
    pub fn decide(&self, action: &str) -> Option<Injection> {
        let rules = self.rules.read().ok()?;
        let rule = rules
            .faults
            .iter()
            .find(|r| r.action == "*" || r.action.eq_ignore_ascii_case(action))?;
        let error = rule.code.as_ref().and_then(|code| {
            let fails = rule.rate >= 1.0 || rand::rng().random::<f64>() < rule.rate;
            fails.then(|| {
                let status = rule
                    .http_status
                    .unwrap_or(if code.starts_with("Throttling") {
                        400
                    } else if code == "ServiceUnavailable" {
                        503
                    } else {
                        500
                    });
                let message = rule
                    .message
                    .clone()
                    .unwrap_or_else(|| default_message(code));
                ApiError::new(status, code.clone(), message)
            })
        });
        Some(Injection {
            latency_ms: rule.latency_ms,
            response_latency_ms: rule.response_latency_ms,
            error,
        })
    }
}

fn default_message(code: &str) -> String {
    if code.starts_with("Throttling") {
        "Request was denied due to user flow control.".to_string()
    } else if code == "ServiceUnavailable" {
        "The request has failed due to a temporary failure of the server.".to_string()
    } else {
        "The request processing has failed due to some unknown error.".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_body_and_matches() {
        let set: FaultSet = serde_json::from_str(
            r#"{"faults":[{"action":"AssumeRole","code":"Throttling.User","httpStatus":400,"rate":1,"latencyMs":5}]}"#,
        )
        .unwrap();
        set.validate().unwrap();
        let faults = Faults::default();
        faults.set(set);
        let injection = faults.decide("AssumeRole").unwrap();
        assert_eq!(injection.latency_ms, 5);
        assert_eq!(injection.error.unwrap().code, "Throttling.User");
        assert!(faults.decide("GetRole").is_none());
    }

    #[test]
    fn response_latency_is_read() {
        let set: FaultSet = serde_json::from_str(
            r#"{"faults":[{"action":"CreateAccessKey","responseLatencyMs":3000}]}"#,
        )
        .unwrap();
        let faults = Faults::default();
        faults.set(set);
        let injection = faults.decide("CreateAccessKey").unwrap();
        assert_eq!(injection.response_latency_ms, 3000);
        assert_eq!(injection.latency_ms, 0);
        assert!(injection.error.is_none());
    }

    #[test]
    fn rate_zero_never_fails_and_star_matches() {
        let faults = Faults::default();
        faults.set(FaultSet {
            faults: vec![FaultRule {
                action: "*".into(),
                code: Some("ServiceUnavailable".into()),
                http_status: None,
                message: None,
                rate: 0.0,
                latency_ms: 0,
                response_latency_ms: 0,
            }],
        });
        for _ in 0..100 {
            assert!(faults.decide("GetRole").unwrap().error.is_none());
        }
    }

    #[test]
    fn bad_rates_are_refused() {
        let set: FaultSet =
            serde_json::from_str(r#"{"faults":[{"action":"*","code":"X","rate":2}]}"#).unwrap();
        assert!(set.validate().is_err());
    }
}
