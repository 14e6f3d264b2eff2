//! The emulated cloud's data: accounts with their roles, custom policies (with versions),
//! users (login profiles, access keys, attached policies), tags, password policies, and the
//! STS sessions issued so far. Serialisable so `--state-file` can persist it.
//!
//! Plain data plus small lookups; the server wraps it in one lock that is never held across
//! an await. Knows nothing of HTTP or signatures.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

use super::accounts::AccountsFile;

/// A policy attached to a role or user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Policy name as stored (canonical case).
    pub policy_name: String,
    /// `System` or `Custom`.
    pub policy_type: String,
    /// When it was attached.
    pub attach_date: Timestamp,
}

/// A RAM role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub role_id: String,
    pub role_name: String,
    pub description: String,
    pub assume_role_policy_document: String,
    pub max_session_duration: i64,
    pub create_date: Timestamp,
    pub update_date: Timestamp,
    pub attached: Vec<Attachment>,
    pub tags: BTreeMap<String, String>,
}

/// One version of a custom policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVersion {
    /// `v1`, `v2`, ...
    pub version_id: String,
    pub policy_document: String,
    pub create_date: Timestamp,
}

/// A custom policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomPolicy {
    pub policy_name: String,
    pub description: String,
    pub versions: Vec<PolicyVersion>,
    pub default_version: String,
    /// Next version number to hand out (versions are never renumbered).
    pub next_version: u32,
    pub create_date: Timestamp,
    pub update_date: Timestamp,
    pub tags: BTreeMap<String, String>,
}

impl CustomPolicy {
    /// The document of the default version.
    pub fn default_document(&self) -> Option<&PolicyVersion> {
        self.versions
            .iter()
            .find(|v| v.version_id == self.default_version)
    }
}

/// A console login profile.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginProfile {
    pub password: String,
    pub password_reset_required: bool,
    pub mfa_bind_required: bool,
    /// `Active` or `Inactive` (IMS).
    pub status: String,
    pub create_date: Timestamp,
    pub update_date: Timestamp,
}

impl std::fmt::Debug for LoginProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginProfile")
            .field("password", &"<redacted>")
            .field("status", &self.status)
            .finish()
    }
}

/// A RAM user's access key.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret: String,
    /// `Active` or `Inactive`.
    pub status: String,
    pub create_date: Timestamp,
    pub update_date: Timestamp,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("status", &self.status)
            .finish()
    }
}

/// A RAM user (seen by both RAM and IMS).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: String,
    pub user_name: String,
    pub display_name: String,
    pub email: String,
    pub mobile_phone: String,
    pub comments: String,
    pub create_date: Timestamp,
    pub update_date: Timestamp,
    pub attached: Vec<Attachment>,
    pub login_profile: Option<LoginProfile>,
    pub access_keys: Vec<AccessKey>,
    pub tags: BTreeMap<String, String>,
}

/// The account password policy (IMS field set; RAM shows a subset).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct PasswordPolicy {
    pub minimum_password_length: i64,
    pub require_lowercase_characters: bool,
    pub require_uppercase_characters: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
    pub password_not_contain_user_name: bool,
    pub minimum_password_different_character: i64,
    pub max_password_age: i64,
    pub password_reuse_prevention: i64,
    pub max_login_attemps: i64,
    pub hard_expire: bool,
    pub initial_password_age: i64,
    pub intercept_risk_password_on_api: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            minimum_password_length: 8,
            require_lowercase_characters: false,
            require_uppercase_characters: false,
            require_numbers: false,
            require_symbols: false,
            password_not_contain_user_name: false,
            minimum_password_different_character: 0,
            max_password_age: 0,
            password_reuse_prevention: 0,
            max_login_attemps: 0,
            hard_expire: false,
            initial_password_age: 14,
            intercept_risk_password_on_api: false,
        }
    }
}

impl PasswordPolicy {
    /// Why `password` breaks this policy, if it does.
    pub fn violation(&self, password: &str, user_name: &str) -> Option<String> {
        let length = i64::try_from(password.chars().count()).unwrap_or(i64::MAX);
        if length < self.minimum_password_length {
            return Some(format!(
                "The password must be at least {} characters long.",
                self.minimum_password_length
            ));
        }
        if password.chars().count() > 32 {
            return Some("The password must be at most 32 characters long.".to_string());
        }
        let checks = [
            (
                self.require_lowercase_characters,
                password.chars().any(|c| c.is_ascii_lowercase()),
                "a lowercase letter",
            ),
            (
                self.require_uppercase_characters,
                password.chars().any(|c| c.is_ascii_uppercase()),
                "an uppercase letter",
            ),
            (
                self.require_numbers,
                password.chars().any(|c| c.is_ascii_digit()),
                "a digit",
            ),
            (
                self.require_symbols,
                password.chars().any(|c| c.is_ascii_punctuation()),
                "a symbol",
            ),
        ];
        for (required, present, what) in checks {
            if required && !present {
                return Some(format!("The password must contain {what}."));
            }
        }
        if self.password_not_contain_user_name
            && !user_name.is_empty()
            && password.to_lowercase().contains(&user_name.to_lowercase())
        {
            return Some("The password must not contain the user name.".to_string());
        }
        let distinct = password
            .chars()
            .collect::<std::collections::HashSet<_>>()
            .len();
        if i64::try_from(distinct).unwrap_or(i64::MAX) < self.minimum_password_different_character {
            return Some(format!(
                "The password must contain at least {} different characters.",
                self.minimum_password_different_character
            ));
        }
        None
    }
}

/// An account.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: String,
    pub alias: Option<String>,
    /// Root key id -> secret (from the accounts file; never in `/_emulator/state`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub root_keys: BTreeMap<String, String>,
    /// Keyed by lower-case role name (RAM names are case-insensitive).
    pub roles: BTreeMap<String, Role>,
    /// Keyed by lower-case policy name.
    pub policies: BTreeMap<String, CustomPolicy>,
    /// Keyed by lower-case user name.
    pub users: BTreeMap<String, User>,
    pub password_policy: PasswordPolicy,
}

impl std::fmt::Debug for Account {
    // Root key secrets never reach a log line: only their ids are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("alias", &self.alias)
            .field("root_keys", &self.root_keys.keys().collect::<Vec<_>>())
            .field("roles", &self.roles.len())
            .field("policies", &self.policies.len())
            .field("users", &self.users.values().collect::<Vec<_>>())
            .finish()
    }
}

impl Account {
    /// `<alias>.onaliyun.com`, or `<id>.onaliyun.com` without an alias.
    pub fn default_domain(&self) -> String {
        format!(
            "{}.onaliyun.com",
            self.alias.as_deref().unwrap_or(self.id.as_str())
        )
    }

    /// The user with `user_id`.
    pub fn user_by_id(&self, user_id: &str) -> Option<&User> {
        self.users.values().find(|u| u.user_id == user_id)
    }
}

/// An STS session issued by `AssumeRole` / `AssumeRoleWithOIDC`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StsSession {
    pub access_key_id: String,
    pub secret: String,
    pub security_token: String,
    /// Account that owns the role.
    pub account: String,
    pub role_id: String,
    pub role_name: String,
    pub session_name: String,
    /// Session policy narrowing the role, if any.
    pub policy: Option<String>,
    pub issued_at: Timestamp,
    /// The reported `Expiration`; the token stops working at this instant.
    pub expiration: Timestamp,
    /// The ARN of whoever obtained it.
    pub issued_to: String,
}

impl std::fmt::Debug for StsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsSession")
            .field("access_key_id", &self.access_key_id)
            .field("role_name", &self.role_name)
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// Who owns an access key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    /// Root key of an account.
    Root { account: String },
    /// Key of a RAM user.
    User { account: String, user_id: String },
}

/// Everything.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct World {
    pub accounts: BTreeMap<String, Account>,
    /// STS sessions by temporary access key id.
    pub sessions: HashMap<String, StsSession>,
    /// Access key id -> owner, rebuilt from the data after loading.
    #[serde(skip)]
    key_index: HashMap<String, KeyOwner>,
}

impl World {
    /// A fresh world with the accounts of the file.
    pub fn from_accounts(file: &AccountsFile) -> Self {
        let mut world = Self::default();
        world.merge_accounts(file);
        world
    }

    /// Adds accounts missing from (a loaded) world and refreshes every root key from the file.
    pub fn merge_accounts(&mut self, file: &AccountsFile) {
        for spec in &file.accounts {
            let account = self
                .accounts
                .entry(spec.id.clone())
                .or_insert_with(|| Account {
                    id: spec.id.clone(),
                    alias: spec.alias.clone(),
                    root_keys: BTreeMap::new(),
                    roles: BTreeMap::new(),
                    policies: BTreeMap::new(),
                    users: BTreeMap::new(),
                    password_policy: PasswordPolicy::default(),
                });
            account.alias = spec.alias.clone();
            account.root_keys = spec
                .access_keys
                .iter()
                .map(|k| (k.id.clone(), k.secret.clone()))
                .collect();
        }
        self.rebuild_index();
    }

    /// Recomputes the access key index from accounts and users.
    pub fn rebuild_index(&mut self) {
        self.key_index.clear();
        for account in self.accounts.values() {
            for key in account.root_keys.keys() {
                self.key_index.insert(
                    key.clone(),
                    KeyOwner::Root {
                        account: account.id.clone(),
                    },
                );
            }
            for user in account.users.values() {
                for key in &user.access_keys {
                    self.key_index.insert(
                        key.access_key_id.clone(),
                        KeyOwner::User {
                            account: account.id.clone(),
                            user_id: user.user_id.clone(),
                        },
                    );
                }
            }
        }
    }

    /// Records that `key_id` now belongs to a user.
    pub fn index_user_key(&mut self, key_id: &str, account: &str, user_id: &str) {
        self.key_index.insert(
            key_id.to_string(),
            KeyOwner::User {
                account: account.to_string(),
                user_id: user_id.to_string(),
            },
        );
    }

    /// Forgets `key_id`.
    pub fn unindex_key(&mut self, key_id: &str) {
        self.key_index.remove(key_id);
    }

    /// Who owns a permanent access key id.
    pub fn key_owner(&self, key_id: &str) -> Option<&KeyOwner> {
        self.key_index.get(key_id)
    }

    /// Drops sessions that expired more than `keep` ago, so memory does not grow forever.
    pub fn prune_sessions(&mut self, now: Timestamp, keep: jiff::SignedDuration) {
        self.sessions
            .retain(|_, s| s.expiration.checked_add(keep).is_ok_and(|t| t > now));
    }
}

/// Random identifiers in the shapes the real service uses.
pub mod ids {
    use super::*;

    fn alnum(len: usize) -> String {
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    }

    fn digits(len: usize) -> String {
        let mut rng = rand::rng();
        let mut out = String::with_capacity(len);
        out.push(char::from(b'1' + rng.random_range(0..9u8)));
        while out.len() < len {
            out.push(char::from(b'0' + rng.random_range(0..10u8)));
        }
        out
    }

    /// Role id: 19 digits.
    pub fn role_id() -> String {
        digits(19)
    }

    /// User id: 16 digits.
    pub fn user_id() -> String {
        digits(16)
    }

    /// Permanent access key id, `LTAI5t` + 18 characters.
    pub fn access_key_id() -> String {
        format!("LTAI5t{}", alnum(18))
    }

    /// Access key secret, 30 characters.
    pub fn secret() -> String {
        alnum(30)
    }

    /// STS access key id, `STS.` + 26 characters.
    pub fn sts_key_id() -> String {
        format!("STS.NT{}", alnum(22))
    }

    /// An opaque security token (the real ones are long base64 blobs).
    pub fn security_token() -> String {
        format!("CAIS{}", alnum(300))
    }

    /// Request id, an upper-case UUID as the service returns.
    pub fn request_id() -> String {
        uuid::Uuid::new_v4().to_string().to_uppercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy_checks() {
        let mut policy = PasswordPolicy::default();
        assert!(policy.violation("short", "u").is_some());
        assert!(policy.violation("longenough", "u").is_none());
        policy.require_numbers = true;
        policy.require_uppercase_characters = true;
        policy.require_symbols = true;
        assert!(policy.violation("longenough", "u").is_some());
        assert!(policy.violation("Longenough1!", "u").is_none());
        policy.password_not_contain_user_name = true;
        assert!(policy.violation("Alice-pass1!", "alice").is_some());
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let file: AccountsFile = serde_yaml::from_str(
            "accounts: [{id: \"1\", accessKeys: [{id: AK1, secret: very-secret}]}]",
        )
        .unwrap();
        let mut world = World::from_accounts(&file);
        let account = world.accounts.get_mut("1").unwrap();
        account.users.insert(
            "u".into(),
            User {
                user_id: "9".into(),
                user_name: "u".into(),
                display_name: String::new(),
                email: String::new(),
                mobile_phone: String::new(),
                comments: String::new(),
                create_date: Timestamp::UNIX_EPOCH,
                update_date: Timestamp::UNIX_EPOCH,
                attached: Vec::new(),
                login_profile: Some(LoginProfile {
                    password: "pass-secret".into(),
                    password_reset_required: false,
                    mfa_bind_required: false,
                    status: "Active".into(),
                    create_date: Timestamp::UNIX_EPOCH,
                    update_date: Timestamp::UNIX_EPOCH,
                }),
                access_keys: vec![AccessKey {
                    access_key_id: "LTAI5tX".into(),
                    secret: "key-secret".into(),
                    status: "Active".into(),
                    create_date: Timestamp::UNIX_EPOCH,
                    update_date: Timestamp::UNIX_EPOCH,
                }],
                tags: BTreeMap::new(),
            },
        );
        let text = format!("{world:?}");
        assert!(text.contains("AK1") && text.contains("LTAI5tX"));
        for secret in ["very-secret", "pass-secret", "key-secret"] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn ids_have_the_real_shapes() {
        assert_eq!(ids::role_id().len(), 19);
        assert!(ids::sts_key_id().starts_with("STS."));
        assert!(ids::access_key_id().starts_with("LTAI"));
        assert_eq!(ids::request_id().len(), 36);
    }
}
