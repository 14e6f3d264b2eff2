//! The checks the schema cannot make (or that must hold even if an older schema let a value
//! through), turning the spec into what the reconcile needs. Pure; errors say what to change.

use super::keys::RotationPolicy;
use crate::controller::error::Error;
use crate::crd::ram_user::{AccessMode, RamUser};
use crate::crd::{Adoption, parse_go_duration};

/// The parts of the spec the pipeline needs, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub user_name: String,
    pub adoption: Adoption,
    pub rotation: Option<RotationPolicy>,
}

/// Checks `user` and extracts what the reconcile needs.
pub fn desired(user: &RamUser) -> Result<Desired, Error> {
    let spec = &user.spec;
    let user_name = user.user_name().to_string();
    let valid_name = !user_name.is_empty()
        && user_name.len() <= 64
        && user_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !valid_name {
        return Err(Error::invalid_spec(
            "InvalidUserName",
            format!(
                "user name {user_name:?} must be 1-64 letters, digits, '.', '-' or '_': set \
                 spec.userName"
            ),
        ));
    }
    let rotation = match (spec.access_mode, &spec.programmatic, &spec.console) {
        (AccessMode::Programmatic, Some(programmatic), None) => match &programmatic.rotation {
            None => None,
            Some(rotation) => {
                let every = parse_go_duration(&rotation.every).map_err(|e| {
                    Error::invalid_spec(
                        "InvalidRotation",
                        format!("spec.programmatic.rotation.every: {e}"),
                    )
                })?;
                let grace_period = parse_go_duration(&rotation.grace_period).map_err(|e| {
                    Error::invalid_spec(
                        "InvalidRotation",
                        format!("spec.programmatic.rotation.gracePeriod: {e}"),
                    )
                })?;
                if every.as_secs() < 60 || grace_period >= every {
                    return Err(Error::invalid_spec(
                        "InvalidRotation",
                        "spec.programmatic.rotation.every must be at least 1m and gracePeriod \
                         shorter than every",
                    ));
                }
                Some(RotationPolicy {
                    every,
                    grace_period,
                })
            }
        },
        (AccessMode::Console, None, Some(console)) => {
            if console.password_secret_ref.is_none() && console.password_secret_name.is_none() {
                return Err(Error::invalid_spec(
                    "PasswordSourceMissing",
                    "set spec.console.passwordSecretName (a generated password is written \
                     there) or spec.console.passwordSecretRef",
                ));
            }
            None
        }
        _ => {
            return Err(Error::invalid_spec(
                "InvalidAccessMode",
                "accessMode Programmatic needs spec.programmatic (and no spec.console); \
                 accessMode Console needs spec.console (and no spec.programmatic)",
            ));
        }
    };
    Ok(Desired {
        user_name,
        adoption: spec.adoption,
        rotation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn user(spec: serde_json::Value) -> RamUser {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ram.alicloud.dev/v1alpha1",
            "kind": "RamUser",
            "metadata": {"name": "app", "namespace": "ns"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn a_programmatic_user_with_rotation() {
        let desired = desired(&user(serde_json::json!({
            "accessMode": "Programmatic",
            "programmatic": {"accessKeySecretName": "k", "rotation": {"every": "720h", "gracePeriod": "24h"}}
        })))
        .unwrap();
        assert_eq!(desired.user_name, "app");
        assert_eq!(
            desired.rotation,
            Some(RotationPolicy {
                every: Duration::from_secs(720 * 3600),
                grace_period: Duration::from_secs(24 * 3600)
            })
        );
    }

    #[test]
    fn mismatched_mode_and_bad_rotation_are_refused_with_reasons() {
        let error = desired(&user(serde_json::json!({
            "accessMode": "Console",
            "programmatic": {"accessKeySecretName": "k"}
        })))
        .unwrap_err();
        assert_eq!(error.reason(), "InvalidAccessMode");
        let error = desired(&user(serde_json::json!({
            "accessMode": "Programmatic",
            "programmatic": {"accessKeySecretName": "k", "rotation": {"every": "1m", "gracePeriod": "2m"}}
        })))
        .unwrap_err();
        assert_eq!(error.reason(), "InvalidRotation");
        let error = desired(&user(serde_json::json!({
            "accessMode": "Console",
            "console": {}
        })))
        .unwrap_err();
        assert_eq!(error.reason(), "PasswordSourceMissing");
    }
}
