//! Which Alibaba Cloud credentials an object acts with.
//!
//! `spec.credentialsRef` names a Secret in the object's own namespace (the API has no field for
//! another namespace, and this module only ever reads from the namespace it is given). Without
//! it, the operator's own identity is used, and only when the operator runs with
//! `--default-credentials`. Secret values go straight into redacting types; errors name Secrets
//! and keys, never values.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::error::Error;
use crate::alicloud::{Credentials, SharedCredentialsProvider, StaticProvider};
use crate::crd::CredentialsRef;

/// Reasons of the credential failures.
pub const CREDENTIALS_NOT_FOUND: &str = "CredentialsNotFound";
pub const CREDENTIALS_INVALID: &str = "CredentialsInvalid";
pub const DEFAULT_CREDENTIALS_DISABLED: &str = "DefaultCredentialsDisabled";

/// Resolves the credentials of an object in `namespace`.
pub async fn resolve(
    kube: &kube::Client,
    default_credentials: Option<&SharedCredentialsProvider>,
    namespace: &str,
    credentials_ref: Option<&CredentialsRef>,
) -> Result<SharedCredentialsProvider, Error> {
    match credentials_ref {
        Some(reference) => {
            let data = read_secret(kube, namespace, &reference.name).await?;
            let credentials = credentials_from_secret_data(&reference.name, &data, reference)?;
            Ok(std::sync::Arc::new(StaticProvider::new(credentials)))
        }
        None => default_credentials
            .cloned()
            .ok_or_else(|| Error::Credentials {
                reason: DEFAULT_CREDENTIALS_DISABLED,
                message: "spec.credentialsRef is not set and the operator runs without \
                      --default-credentials: name a Secret holding an AccessKey pair in \
                      spec.credentialsRef"
                    .to_string(),
            }),
    }
}

/// Reads the data of Secret `name` in `namespace`.
pub async fn read_secret(
    kube: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, ByteString>, Error> {
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), namespace);
    let secret = secrets
        .get_opt(name)
        .await?
        .ok_or_else(|| Error::Credentials {
            reason: CREDENTIALS_NOT_FOUND,
            message: format!(
                "Secret {namespace}/{name} does not exist: create it with the AccessKey pair"
            ),
        })?;
    Ok(secret.data.unwrap_or_default())
}

/// Builds credentials from Secret data with the key names of `reference`; a token is used when
/// the Secret has the token key.
pub fn credentials_from_secret_data(
    secret_name: &str,
    data: &BTreeMap<String, ByteString>,
    reference: &CredentialsRef,
) -> Result<Credentials, Error> {
    let id = required_value(secret_name, data, &reference.access_key_id_key)?;
    let secret = required_value(secret_name, data, &reference.access_key_secret_key)?;
    Ok(
        match optional_value(secret_name, data, &reference.security_token_key)? {
            Some(token) => Credentials::sts(id, secret, token, None),
            None => Credentials::access_key(id, secret),
        },
    )
}

fn required_value(
    secret_name: &str,
    data: &BTreeMap<String, ByteString>,
    key: &str,
) -> Result<String, Error> {
    optional_value(secret_name, data, key)?.ok_or_else(|| Error::Credentials {
        reason: CREDENTIALS_INVALID,
        message: format!("Secret {secret_name} has no key {key:?} (or it is empty)"),
    })
}

fn optional_value(
    secret_name: &str,
    data: &BTreeMap<String, ByteString>,
    key: &str,
) -> Result<Option<String>, Error> {
    let Some(ByteString(bytes)) = data.get(key) else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes.clone()).map_err(|_| Error::Credentials {
        reason: CREDENTIALS_INVALID,
        message: format!("Secret {secret_name} key {key:?} is not UTF-8 text"),
    })?;
    let text = text.trim().to_string();
    Ok((!text.is_empty()).then_some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn access_key_pair_from_default_keys() {
        let credentials = credentials_from_secret_data(
            "creds",
            &data(&[
                ("AccessKeyId", "LTAIabc"),
                ("AccessKeySecret", "s3cr3t-value\n"),
            ]),
            &CredentialsRef::new("creds"),
        )
        .unwrap();
        assert_eq!(credentials.access_key_id, "LTAIabc");
        assert!(credentials.security_token.is_none());
        assert!(!format!("{credentials:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn token_makes_sts_credentials() {
        let credentials = credentials_from_secret_data(
            "creds",
            &data(&[
                ("AccessKeyId", "STS.abc"),
                ("AccessKeySecret", "s"),
                ("SecurityToken", "tok"),
            ]),
            &CredentialsRef::new("creds"),
        )
        .unwrap();
        assert!(credentials.security_token.is_some());
    }

    #[test]
    fn missing_key_names_the_key_not_a_value() {
        let error = credentials_from_secret_data(
            "creds",
            &data(&[("AccessKeyId", "LTAIabc"), ("wrong", "s3cr3t-value")]),
            &CredentialsRef::new("creds"),
        )
        .unwrap_err();
        assert_eq!(error.reason(), CREDENTIALS_INVALID);
        let text = error.to_string();
        assert!(text.contains("AccessKeySecret"), "{text}");
        assert!(!text.contains("s3cr3t-value"));
    }
}
