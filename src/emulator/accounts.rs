//! The accounts file: which Alibaba Cloud accounts exist, their root keys and the OIDC
//! providers that `AssumeRoleWithOIDC` trusts.
//!
//! ```yaml
//! accounts:
//!   - id: "1111111111111111"
//!     alias: account-a
//!     accessKeys: [{id: LTAI5tAccountARoot0001, secret: fake-secret}]
//!     oidcProviders:
//!       - arn: acs:ram::1111111111111111:oidc-provider/ack-rrsa
//!         issuer: https://oidc.example
//!         jwksFile: jwks.json
//! ```
//!
//! Only parsing and validation live here; the live state is in `state`.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The whole accounts file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountsFile {
    /// The accounts the emulator serves.
    pub accounts: Vec<AccountSpec>,
    /// OIDC providers may also be listed at the top level (their ARN names the account).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oidc_providers: Vec<OidcProviderSpec>,
}

/// One account.
#[derive(Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountSpec {
    /// Numeric account id (16 digits on the real service).
    pub id: String,
    /// Account alias; the default domain is `<alias>.onaliyun.com` (`<id>.onaliyun.com` without).
    #[serde(default)]
    pub alias: Option<String>,
    /// Root (primary account) access keys.
    #[serde(default)]
    pub access_keys: Vec<KeySpec>,
    /// OIDC identity providers registered in this account.
    #[serde(default)]
    pub oidc_providers: Vec<OidcProviderSpec>,
}

impl std::fmt::Debug for AccountSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSpec")
            .field("id", &self.id)
            .field("alias", &self.alias)
            .field("access_keys", &self.access_keys)
            .field("oidc_providers", &self.oidc_providers)
            .finish()
    }
}

/// A root access key.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// AccessKey id.
    pub id: String,
    /// AccessKey secret.
    pub secret: String,
}

impl std::fmt::Debug for KeySpec {
    // The secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySpec")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// An OIDC provider: tokens from `issuer` signed by a key in the JWKS file are accepted.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcProviderSpec {
    /// `acs:ram::<account>:oidc-provider/<name>`.
    pub arn: String,
    /// Expected `iss` claim.
    pub issuer: String,
    /// JSON Web Key Set file (RS256 keys), relative to the accounts file.
    pub jwks_file: String,
    /// Accepted `aud` values; empty accepts any audience.
    #[serde(default)]
    pub client_ids: Vec<String>,
}

impl AccountsFile {
    /// Every OIDC provider, from the accounts and from the top level.
    pub fn all_oidc_providers(&self) -> impl Iterator<Item = &OidcProviderSpec> {
        self.accounts
            .iter()
            .flat_map(|a| &a.oidc_providers)
            .chain(&self.oidc_providers)
    }

    /// Reads and validates an accounts file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read accounts file {}: {e}", path.display()))?;
        let file: Self = serde_yaml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid accounts file {}: {e}", path.display()))?;
        file.validate()?;
        Ok(file)
    }

    /// Checks ids are numeric and unique and key ids unique.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut ids = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for account in &self.accounts {
            if account.id.is_empty() || !account.id.bytes().all(|b| b.is_ascii_digit()) {
                anyhow::bail!("account id {:?} is not numeric", account.id);
            }
            if !ids.insert(account.id.clone()) {
                anyhow::bail!("account id {} listed twice", account.id);
            }
            for key in &account.access_keys {
                if key.id.is_empty() || key.secret.is_empty() {
                    anyhow::bail!(
                        "account {} has a key with an empty id or secret",
                        account.id
                    );
                }
                if !keys.insert(key.id.clone()) {
                    anyhow::bail!("access key id {} listed twice", key.id);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let file: AccountsFile = serde_yaml::from_str(
            r#"
accounts:
  - id: "1111111111111111"
    alias: account-a
    accessKeys: [{id: AK1, secret: S1}]
"#,
        )
        .unwrap();
        file.validate().unwrap();
        assert_eq!(file.all_oidc_providers().count(), 0);
        assert_eq!(file.accounts[0].alias.as_deref(), Some("account-a"));
        assert_eq!(file.accounts[0].access_keys[0].id, "AK1");
        assert!(!format!("{file:?}").contains("S1"));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let file: AccountsFile = serde_yaml::from_str(
            r#"
accounts:
  - {id: "1", accessKeys: [{id: AK1, secret: S1}]}
  - {id: "2", accessKeys: [{id: AK1, secret: S2}]}
"#,
        )
        .unwrap();
        assert!(file.validate().is_err());
    }
}
