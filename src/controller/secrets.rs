//! The contents of the Secrets the operator writes, as pure functions.
//!
//! What the official tools read decides the formats: environment variables and the `aliyun`
//! CLI `config.json` carry STS credentials; the INI credentials file has no usable STS type and
//! serves long-lived AccessKeys only. Each rendering is proven readable by the official library
//! in the interop tests.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use serde_json::json;

use crate::alicloud::signature::format_timestamp;

/// Environment variable names every official SDK's default chain reads.
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
/// Key with the expiry of STS credentials (read by people and tools, not by the SDKs).
pub const EXPIRATION_KEY: &str = "expiration";
/// Key of the `aliyun` CLI configuration.
pub const CLI_CONFIG_KEY: &str = "config.json";
/// Key of the INI credentials file.
pub const CREDENTIALS_FILE_KEY: &str = "credentials";
/// Name of the profile in the rendered CLI configuration.
pub const CLI_PROFILE: &str = "default";

/// STS credentials to render.
#[derive(Clone, Copy)]
pub struct StsSecretInput<'a> {
    pub access_key_id: &'a str,
    pub access_key_secret: &'a str,
    pub security_token: &'a str,
    pub expiration: Timestamp,
    /// Region written into the CLI profile (the CLI requires one).
    pub region: &'a str,
}

/// The data of an `StsGrant` Secret: the `Env` keys always, `config.json` when asked.
pub fn sts_secret_data(
    input: &StsSecretInput<'_>,
    cli_config: bool,
) -> BTreeMap<String, ByteString> {
    let mut data = BTreeMap::new();
    put(&mut data, ENV_ACCESS_KEY_ID, input.access_key_id);
    put(&mut data, ENV_ACCESS_KEY_SECRET, input.access_key_secret);
    put(&mut data, ENV_SECURITY_TOKEN, input.security_token);
    put(
        &mut data,
        EXPIRATION_KEY,
        &format_timestamp(input.expiration),
    );
    if cli_config {
        let config = json!({
            "current": CLI_PROFILE,
            "profiles": [{
                "name": CLI_PROFILE,
                "mode": "StsToken",
                "access_key_id": input.access_key_id,
                "access_key_secret": input.access_key_secret,
                "sts_token": input.security_token,
                "region_id": input.region,
                "output_format": "json",
                "language": "en",
            }],
        });
        put(&mut data, CLI_CONFIG_KEY, &config.to_string());
    }
    data
}

/// An AccessKey pair to render.
#[derive(Clone, Copy)]
pub struct AccessKeySecretInput<'a> {
    pub access_key_id: &'a str,
    pub access_key_secret: &'a str,
    pub region: &'a str,
}

/// The data of a `RamUser` AccessKey Secret: the env keys always, the INI `credentials` file and
/// the CLI `config.json` (mode `AK`) when asked.
pub fn access_key_secret_data(
    input: &AccessKeySecretInput<'_>,
    credentials_file: bool,
    cli_config: bool,
) -> BTreeMap<String, ByteString> {
    let mut data = BTreeMap::new();
    put(&mut data, ENV_ACCESS_KEY_ID, input.access_key_id);
    put(&mut data, ENV_ACCESS_KEY_SECRET, input.access_key_secret);
    if credentials_file {
        let ini = format!(
            "[default]\ntype = access_key\naccess_key_id = {}\naccess_key_secret = {}\n",
            input.access_key_id, input.access_key_secret
        );
        put(&mut data, CREDENTIALS_FILE_KEY, &ini);
    }
    if cli_config {
        let config = json!({
            "current": CLI_PROFILE,
            "profiles": [{
                "name": CLI_PROFILE,
                "mode": "AK",
                "access_key_id": input.access_key_id,
                "access_key_secret": input.access_key_secret,
                "region_id": input.region,
                "output_format": "json",
                "language": "en",
            }],
        });
        put(&mut data, CLI_CONFIG_KEY, &config.to_string());
    }
    data
}

/// Reads a UTF-8 value of Secret data.
pub fn text_value<'a>(data: &'a BTreeMap<String, ByteString>, key: &str) -> Option<&'a str> {
    data.get(key)
        .and_then(|ByteString(bytes)| std::str::from_utf8(bytes).ok())
}

fn put(data: &mut BTreeMap<String, ByteString>, key: &str, value: &str) {
    data.insert(key.to_string(), ByteString(value.as_bytes().to_vec()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts_input() -> StsSecretInput<'static> {
        StsSecretInput {
            access_key_id: "STS.key",
            access_key_secret: "sec/ret+=",
            security_token: "tok\"en",
            expiration: "2026-01-02T03:04:05Z".parse().unwrap(),
            region: "cn-hangzhou",
        }
    }

    #[test]
    fn env_keys_are_always_written() {
        let data = sts_secret_data(&sts_input(), false);
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            [
                ENV_ACCESS_KEY_ID,
                ENV_ACCESS_KEY_SECRET,
                ENV_SECURITY_TOKEN,
                EXPIRATION_KEY
            ]
        );
        assert_eq!(
            text_value(&data, EXPIRATION_KEY),
            Some("2026-01-02T03:04:05Z")
        );
        assert_eq!(text_value(&data, ENV_SECURITY_TOKEN), Some("tok\"en"));
    }

    #[test]
    fn cli_config_is_a_current_sts_token_profile() {
        let data = sts_secret_data(&sts_input(), true);
        let config: serde_json::Value =
            serde_json::from_str(text_value(&data, CLI_CONFIG_KEY).unwrap()).unwrap();
        assert_eq!(config["current"], CLI_PROFILE);
        let profile = &config["profiles"][0];
        assert_eq!(profile["name"], CLI_PROFILE);
        assert_eq!(profile["mode"], "StsToken");
        assert_eq!(profile["sts_token"], "tok\"en");
        assert_eq!(profile["access_key_secret"], "sec/ret+=");
    }

    #[test]
    fn access_key_renderings() {
        let input = AccessKeySecretInput {
            access_key_id: "LTAIid",
            access_key_secret: "secret",
            region: "cn-hangzhou",
        };
        let data = access_key_secret_data(&input, true, true);
        assert_eq!(
            text_value(&data, CREDENTIALS_FILE_KEY),
            Some(
                "[default]\ntype = access_key\naccess_key_id = LTAIid\naccess_key_secret = secret\n"
            )
        );
        let config: serde_json::Value =
            serde_json::from_str(text_value(&data, CLI_CONFIG_KEY).unwrap()).unwrap();
        assert_eq!(config["profiles"][0]["mode"], "AK");
        let plain = access_key_secret_data(&input, false, false);
        assert_eq!(plain.len(), 2);
    }
}
