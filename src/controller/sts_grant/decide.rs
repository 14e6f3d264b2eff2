//! Whether a grant needs new credentials now, as a pure function of the clock, what the spec
//! asks for, and what the Secret serves.
//!
//! The Secret is the record of what is served: its annotations say which generation, role and
//! source key produced the credentials, when they expire and when the next refresh is due, and
//! a hash of the rendered keys shows whether someone else edited them. Deciding from the Secret
//! (not from memory) is what makes a restart free: fresh credentials are never minted again.
//!
//! This module knows nothing of the Kubernetes or cloud clients.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use sha2::{Digest, Sha256};

use crate::controller::secrets::{
    CLI_CONFIG_KEY, ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN, EXPIRATION_KEY,
    text_value,
};
use crate::crd::{EXPIRATION_ANNOTATION, REFRESHED_AT_ANNOTATION, ROLE_ARN_ANNOTATION};

/// Annotation: the grant generation the credentials were obtained for.
pub const GENERATION_ANNOTATION: &str = "ram.alicloud.dev/generation";
/// Annotation: when the next refresh is due (RFC 3339).
pub const NEXT_REFRESH_ANNOTATION: &str = "ram.alicloud.dev/next-refresh-at";
/// Annotation: the AccessKey ID of the source credentials that called `AssumeRole`.
pub const SOURCE_KEY_ANNOTATION: &str = "ram.alicloud.dev/source-access-key-id";
/// Annotation: SHA-256 of the keys the operator rendered, to notice edits by someone else.
pub const DATA_HASH_ANNOTATION: &str = "ram.alicloud.dev/data-hash";

/// What the spec and its dependencies ask for right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted<'a> {
    /// `metadata.generation` of the grant.
    pub generation: i64,
    /// The resolved role ARN.
    pub role_arn: &'a str,
    /// AccessKey ID of the source credentials.
    pub source_access_key_id: &'a str,
    /// Whether `config.json` is rendered (`CliConfig`).
    pub cli_config: bool,
}

/// What the Secret serves, read back from its annotations and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Temporary AccessKey ID in the Secret's data.
    pub access_key_id: Option<String>,
    pub expiration: Option<Timestamp>,
    pub next_refresh: Option<Timestamp>,
    pub refreshed_at: Option<Timestamp>,
    pub generation: Option<i64>,
    pub role_arn: Option<String>,
    pub source_access_key_id: Option<String>,
    /// The rendered keys still hash to what the operator wrote.
    pub intact: bool,
}

impl Served {
    /// Reads what `secret` serves; `cli_config` says which keys the operator renders.
    pub fn from_secret(secret: &Secret, cli_config: bool) -> Self {
        let empty = BTreeMap::new();
        let annotations = secret.metadata.annotations.as_ref().unwrap_or(&empty);
        let annotation = |key: &str| annotations.get(key).map(String::as_str);
        let time = |key: &str| annotation(key).and_then(|text| text.parse::<Timestamp>().ok());
        let no_data = BTreeMap::new();
        let data = secret.data.as_ref().unwrap_or(&no_data);
        let hash = data_hash(data, cli_config);
        Self {
            access_key_id: text_value(data, ENV_ACCESS_KEY_ID).map(str::to_owned),
            expiration: time(EXPIRATION_ANNOTATION),
            next_refresh: time(NEXT_REFRESH_ANNOTATION),
            refreshed_at: time(REFRESHED_AT_ANNOTATION),
            generation: annotation(GENERATION_ANNOTATION).and_then(|text| text.parse().ok()),
            role_arn: annotation(ROLE_ARN_ANNOTATION).map(str::to_owned),
            source_access_key_id: annotation(SOURCE_KEY_ANNOTATION).map(str::to_owned),
            intact: hash.is_some() && annotation(DATA_HASH_ANNOTATION) == hash.as_deref(),
        }
    }

    /// Whether the served credentials still work at `now`.
    pub fn valid_at(&self, now: Timestamp) -> bool {
        self.intact && self.expiration.is_some_and(|expiration| now < expiration)
    }
}

/// SHA-256 (hex) over the keys the operator renders, `None` when one is missing. Other keys
/// (added by someone else's field manager) are not the operator's and do not count.
pub fn data_hash(data: &BTreeMap<String, ByteString>, cli_config: bool) -> Option<String> {
    let mut keys = vec![
        ENV_ACCESS_KEY_ID,
        ENV_ACCESS_KEY_SECRET,
        ENV_SECURITY_TOKEN,
        EXPIRATION_KEY,
    ];
    if cli_config {
        keys.push(CLI_CONFIG_KEY);
    }
    let mut hasher = Sha256::new();
    for key in keys {
        let ByteString(value) = data.get(key)?;
        // Length-prefixed, so that moving bytes between keys changes the hash.
        hasher.update((key.len() as u64).to_be_bytes());
        hasher.update(key.as_bytes());
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value);
    }
    Some(hex::encode(hasher.finalize()))
}

/// Why new credentials are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshReason {
    /// No Secret yet (first issue, or it was deleted).
    SecretMissing,
    /// The rendered keys or the annotations were changed by someone else.
    SecretEdited,
    /// The spec changed since the credentials were obtained.
    SpecChanged,
    /// `roleRef` now resolves to another ARN.
    RoleChanged,
    /// The source AccessKey changed (rotation, edited Secret).
    SourceKeyChanged,
    /// The scheduled refresh time has come.
    Due,
    /// The served credentials have expired (a refresh failed for too long, or the operator
    /// was down).
    Expired,
}

impl RefreshReason {
    /// A short phrase for Events and logs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::SecretMissing => "the Secret did not exist",
            Self::SecretEdited => "the Secret was edited by someone else",
            Self::SpecChanged => "the spec changed",
            Self::RoleChanged => "the role ARN changed",
            Self::SourceKeyChanged => "the source AccessKey changed",
            Self::Due => "the scheduled refresh time came",
            Self::Expired => "the credentials had expired",
        }
    }
}

/// What to do with a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Obtain new credentials now.
    Refresh(RefreshReason),
    /// The served credentials are fine until the given time.
    Wait(Timestamp),
}

/// Decides from `now`, what is wanted and what the Secret serves (`None`: no Secret).
pub fn decide(now: Timestamp, wanted: &Wanted<'_>, served: Option<&Served>) -> Decision {
    let Some(served) = served else {
        return Decision::Refresh(RefreshReason::SecretMissing);
    };
    let (Some(expiration), Some(next_refresh)) = (served.expiration, served.next_refresh) else {
        return Decision::Refresh(RefreshReason::SecretEdited);
    };
    if !served.intact {
        return Decision::Refresh(RefreshReason::SecretEdited);
    }
    if served.generation != Some(wanted.generation) {
        return Decision::Refresh(RefreshReason::SpecChanged);
    }
    if served.role_arn.as_deref() != Some(wanted.role_arn) {
        return Decision::Refresh(RefreshReason::RoleChanged);
    }
    if served.source_access_key_id.as_deref() != Some(wanted.source_access_key_id) {
        return Decision::Refresh(RefreshReason::SourceKeyChanged);
    }
    if now >= expiration {
        return Decision::Refresh(RefreshReason::Expired);
    }
    if now >= next_refresh {
        return Decision::Refresh(RefreshReason::Due);
    }
    Decision::Wait(next_refresh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn wanted() -> Wanted<'static> {
        Wanted {
            generation: 2,
            role_arn: "acs:ram::1:role/r",
            source_access_key_id: "LTAIsource",
            cli_config: false,
        }
    }

    fn secret(data: &[(&str, &str)], annotations: &[(&str, String)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    fn good_data() -> Vec<(&'static str, &'static str)> {
        vec![
            (ENV_ACCESS_KEY_ID, "STS.one"),
            (ENV_ACCESS_KEY_SECRET, "s3cr3t"),
            (ENV_SECURITY_TOKEN, "t0ken"),
            (EXPIRATION_KEY, "x"),
        ]
    }

    fn good_secret() -> Secret {
        let data = good_data();
        let probe = secret(&data, &[]);
        let hash = data_hash(probe.data.as_ref().unwrap(), false).unwrap();
        secret(
            &data,
            &[
                (EXPIRATION_ANNOTATION, at(900).to_string()),
                (NEXT_REFRESH_ANNOTATION, at(600).to_string()),
                (REFRESHED_AT_ANNOTATION, at(0).to_string()),
                (GENERATION_ANNOTATION, "2".to_string()),
                (ROLE_ARN_ANNOTATION, "acs:ram::1:role/r".to_string()),
                (SOURCE_KEY_ANNOTATION, "LTAIsource".to_string()),
                (DATA_HASH_ANNOTATION, hash),
            ],
        )
    }

    #[test]
    fn fresh_credentials_wait_until_the_planned_time_even_after_a_restart() {
        let served = Served::from_secret(&good_secret(), false);
        assert!(served.intact);
        assert_eq!(served.access_key_id.as_deref(), Some("STS.one"));
        assert_eq!(
            decide(at(10), &wanted(), Some(&served)),
            Decision::Wait(at(600))
        );
        assert_eq!(
            decide(at(599), &wanted(), Some(&served)),
            Decision::Wait(at(600))
        );
        assert!(served.valid_at(at(899)));
        assert!(!served.valid_at(at(900)));
    }

    #[test]
    fn due_and_expired() {
        let served = Served::from_secret(&good_secret(), false);
        assert_eq!(
            decide(at(600), &wanted(), Some(&served)),
            Decision::Refresh(RefreshReason::Due)
        );
        assert_eq!(
            decide(at(900), &wanted(), Some(&served)),
            Decision::Refresh(RefreshReason::Expired)
        );
    }

    #[test]
    fn missing_secret_refreshes() {
        assert_eq!(
            decide(at(0), &wanted(), None),
            Decision::Refresh(RefreshReason::SecretMissing)
        );
    }

    #[test]
    fn an_edited_value_or_lost_annotations_refresh() {
        let mut edited = good_secret();
        edited.data.as_mut().unwrap().insert(
            ENV_ACCESS_KEY_SECRET.to_string(),
            ByteString(b"changed".to_vec()),
        );
        let served = Served::from_secret(&edited, false);
        assert!(!served.intact);
        assert_eq!(
            decide(at(10), &wanted(), Some(&served)),
            Decision::Refresh(RefreshReason::SecretEdited)
        );
        let mut stripped = good_secret();
        stripped
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove(NEXT_REFRESH_ANNOTATION);
        assert_eq!(
            decide(
                at(10),
                &wanted(),
                Some(&Served::from_secret(&stripped, false))
            ),
            Decision::Refresh(RefreshReason::SecretEdited)
        );
    }

    #[test]
    fn a_key_added_by_someone_else_is_not_an_edit() {
        let mut extended = good_secret();
        extended
            .data
            .as_mut()
            .unwrap()
            .insert("extra".to_string(), ByteString(b"v".to_vec()));
        assert!(Served::from_secret(&extended, false).intact);
    }

    #[test]
    fn a_new_cli_format_makes_the_secret_incomplete() {
        // CliConfig was added: the Secret lacks config.json, so it is not what is wanted.
        assert!(!Served::from_secret(&good_secret(), true).intact);
    }

    #[test]
    fn spec_role_and_source_changes_refresh_at_once() {
        let served = Served::from_secret(&good_secret(), false);
        let spec = Wanted {
            generation: 3,
            ..wanted()
        };
        assert_eq!(
            decide(at(10), &spec, Some(&served)),
            Decision::Refresh(RefreshReason::SpecChanged)
        );
        let role = Wanted {
            role_arn: "acs:ram::1:role/other",
            ..wanted()
        };
        assert_eq!(
            decide(at(10), &role, Some(&served)),
            Decision::Refresh(RefreshReason::RoleChanged)
        );
        let source = Wanted {
            source_access_key_id: "LTAIrotated",
            ..wanted()
        };
        assert_eq!(
            decide(at(10), &source, Some(&served)),
            Decision::Refresh(RefreshReason::SourceKeyChanged)
        );
    }

    #[test]
    fn the_hash_depends_on_key_boundaries() {
        let one = secret(
            &[(ENV_ACCESS_KEY_ID, "ab"), (ENV_ACCESS_KEY_SECRET, "c")],
            &[],
        );
        let two = secret(
            &[(ENV_ACCESS_KEY_ID, "a"), (ENV_ACCESS_KEY_SECRET, "bc")],
            &[],
        );
        let full = |s: &Secret| {
            let mut data = s.data.clone().unwrap();
            data.insert(ENV_SECURITY_TOKEN.into(), ByteString(vec![]));
            data.insert(EXPIRATION_KEY.into(), ByteString(vec![]));
            data_hash(&data, false)
        };
        assert_ne!(full(&one), full(&two));
        assert_eq!(data_hash(one.data.as_ref().unwrap(), false), None);
    }
}
