//! What the grant controller keeps of each `StsGrant` between reconciles.
//!
//! kube-runtime's store holds one object per grant for as long as the grant exists. As a typed
//! `StsGrant` that is about 2.2 KB of heap per grant: a 1 KB struct that is mostly empty
//! options, and some forty small strings. At 10,000 grants it was the largest part of the
//! process's memory. A [`GrantRecord`] keeps instead:
//!
//! - the metadata a reconcile reads (name, namespace, uid, resourceVersion, generation,
//!   deletionTimestamp), because the store and kube-runtime key objects by it;
//! - the few fields the watch mappers read for every Secret, `RamUser` or role event
//!   ([`Links`]), and the expiry the error policy bounds its retry by;
//! - the spec and the status as their JSON text, DEFLATE-compressed, which
//!   [`GrantRecord::grant`] decodes back into the `StsGrant` a reconcile works on (at most 32
//!   at a time). The round trip is lossless: the text is the typed values re-encoded, so
//!   decoding gives them back field for field.
//!
//! The text is compressed because it is most of the record: a served grant's spec and status
//! are about 1.5 KB of JSON (four conditions, each with its timestamps and message, the
//! assumed role's ARN twice), which DEFLATE takes to about 520 bytes. Compressing costs tens
//! of microseconds per grant event and decompressing a few per reconcile, against about 1 KB
//! of heap per grant for as long as it exists. Knows nothing of reconciling.

use std::borrow::Cow;

use jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};

use crate::crd::{StsGrant, StsGrantSpec, StsGrantStatus, sts_grant};

/// miniz's default level: at 1 a served grant's body is about 4 % larger, at 9 no smaller.
const BODY_LEVEL: u8 = 6;

/// `json` as raw DEFLATE (12-24 µs for a served grant's 1.5 KB, measured apart).
fn deflate(json: &[u8]) -> Box<[u8]> {
    miniz_oxide::deflate::compress_to_vec(json, BODY_LEVEL).into_boxed_slice()
}

/// A cached `StsGrant`; deserialises from the API's JSON through `StsGrant`.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "StsGrant")]
pub struct GrantRecord {
    /// Only the fields listed above.
    pub metadata: ObjectMeta,
    links: Links,
    /// `status.expiration`.
    expiration: Option<Timestamp>,
    /// The spec and the status as raw-DEFLATE-compressed JSON ([`Body`]).
    body: Box<[u8]>,
}

/// The spec fields that relate a grant to other objects; `None` where the spec has no value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// `spec.secretName`.
    pub secret_name: Option<Box<str>>,
    /// `spec.source.secretRef.name`.
    pub source_secret: Option<Box<str>>,
    /// `spec.source.ramUserRef.name`.
    pub source_user: Option<Box<str>>,
    /// `spec.roleRef.name`.
    pub role_ref: Option<Box<str>>,
}

impl Links {
    fn of(spec: &StsGrantSpec) -> Self {
        let source = spec.source.as_ref();
        Self {
            secret_name: spec.secret_name.as_deref().map(Box::from),
            source_secret: source
                .and_then(|source| source.secret_ref.as_ref())
                .map(|reference| Box::from(reference.name.as_str())),
            source_user: source
                .and_then(|source| source.ram_user_ref.as_ref())
                .map(|user| Box::from(user.name.as_str())),
            role_ref: spec.role_ref.as_ref().map(|r| Box::from(r.name.as_str())),
        }
    }
}

#[derive(Serialize)]
struct BodyRef<'a> {
    spec: &'a StsGrantSpec,
    status: &'a Option<StsGrantStatus>,
}

#[derive(Deserialize)]
struct Body {
    spec: StsGrantSpec,
    status: Option<StsGrantStatus>,
}

impl From<StsGrant> for GrantRecord {
    fn from(grant: StsGrant) -> Self {
        let StsGrant {
            metadata,
            spec,
            status,
        } = grant;
        let json = serde_json::to_vec(&BodyRef {
            spec: &spec,
            status: &status,
        })
        // Plain structs with string keys: encoding them cannot fail.
        .expect("a StsGrant spec and status encode as JSON");
        let body = deflate(&json);
        Self {
            metadata: ObjectMeta {
                name: metadata.name,
                namespace: metadata.namespace,
                uid: metadata.uid,
                resource_version: metadata.resource_version,
                generation: metadata.generation,
                deletion_timestamp: metadata.deletion_timestamp,
                ..ObjectMeta::default()
            },
            links: Links::of(&spec),
            expiration: status
                .as_ref()
                .and_then(|status| status.expiration.as_ref())
                .map(|time| time.0),
            body,
        }
    }
}

impl GrantRecord {
    /// The grant as the API server last sent it, without the metadata fields not kept.
    pub fn grant(&self) -> Result<StsGrant, serde_json::Error> {
        let json = miniz_oxide::inflate::decompress_to_vec(&self.body).map_err(|error| {
            serde::de::Error::custom(format_args!("the cached grant does not inflate: {error}"))
        })?;
        let Body { spec, status } = serde_json::from_slice(&json)?;
        Ok(StsGrant {
            metadata: self.metadata.clone(),
            spec,
            status,
        })
    }

    pub fn links(&self) -> &Links {
        &self.links
    }

    /// The Secret that receives the credentials, as [`StsGrant::secret_name`].
    pub fn secret_name(&self) -> &str {
        sts_grant::secret_name(
            self.links.secret_name.as_deref(),
            self.metadata.name.as_deref(),
        )
    }

    /// `status.expiration`: until when the credentials last reported are valid.
    pub fn expiration(&self) -> Option<Timestamp> {
        self.expiration
    }
}

impl Resource for GrantRecord {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        StsGrant::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        StsGrant::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        StsGrant::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        StsGrant::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_grant() -> serde_json::Value {
        json!({
            "apiVersion": "ram.alicloud.dev/v1alpha1",
            "kind": "StsGrant",
            "metadata": {
                "name": "app", "namespace": "team-a", "uid": "u-1", "resourceVersion": "42",
                "generation": 3, "creationTimestamp": "2026-11-30T03:00:00Z",
                "labels": {"team": "a"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]
            },
            "spec": {
                "roleRef": {"name": "mq-role"},
                "source": {"ramUserRef": {"name": "app-user"}},
                "secretName": "app-creds",
                "durationSeconds": 1800,
                "formats": ["Env", "CliConfig"],
                "rollout": {"targets": [{"kind": "Deployment", "name": "web"}], "minInterval": "10m"}
            },
            "status": {
                "observedGeneration": 3,
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "CredentialsServed",
                    "message": "served", "observedGeneration": 3,
                    "lastTransitionTime": "2026-11-30T03:00:01Z"
                }],
                "expiration": "2026-11-30T03:30:00Z",
                "nextRefreshTime": "2026-11-30T03:20:00Z",
                "assumedRoleUser": {"arn": "acs:ram::1:role/mq-role/s", "assumedRoleId": "3:s"},
                "accessKeyId": "STS.abc",
                "consecutiveFailures": 2
            }
        })
    }

    #[test]
    fn a_record_gives_back_the_spec_status_and_the_metadata_a_reconcile_reads() {
        let grant: StsGrant = serde_json::from_value(full_grant()).unwrap();
        let record: GrantRecord = serde_json::from_value(full_grant()).unwrap();
        let back = record.grant().unwrap();
        assert_eq!(back.spec, grant.spec);
        assert_eq!(back.status, grant.status);
        let meta = &back.metadata;
        assert_eq!(meta.name.as_deref(), Some("app"));
        assert_eq!(meta.namespace.as_deref(), Some("team-a"));
        assert_eq!(meta.uid.as_deref(), Some("u-1"));
        assert_eq!(meta.resource_version.as_deref(), Some("42"));
        assert_eq!(meta.generation, Some(3));
        // Kept compressed: well under the JSON's size.
        let json = serde_json::to_vec(
            &json!({"spec": full_grant()["spec"], "status": full_grant()["status"]}),
        );
        assert!(
            record.body.len() * 3 < json.unwrap().len() * 2,
            "{} bytes",
            record.body.len()
        );
        // What no reconcile reads is not kept.
        assert!(meta.managed_fields.is_none());
        assert!(meta.annotations.is_none());
        assert!(meta.labels.is_none());
    }

    #[test]
    fn links_and_expiration_are_read_without_decoding() {
        let record: GrantRecord = serde_json::from_value(full_grant()).unwrap();
        assert_eq!(
            record.links(),
            &Links {
                secret_name: Some("app-creds".into()),
                source_secret: None,
                source_user: Some("app-user".into()),
                role_ref: Some("mq-role".into()),
            }
        );
        assert_eq!(record.secret_name(), "app-creds");
        assert_eq!(
            record.expiration(),
            Some("2026-11-30T03:30:00Z".parse().unwrap())
        );
    }

    #[test]
    fn the_secret_name_defaults_to_the_grant_name_and_a_new_grant_has_no_status() {
        let record: GrantRecord = serde_json::from_value(json!({
            "apiVersion": "ram.alicloud.dev/v1alpha1",
            "kind": "StsGrant",
            "metadata": {"name": "app", "namespace": "team-a"},
            "spec": {"roleArn": "acs:ram::1:role/r", "source": {"secretRef": {"name": "keys"}}}
        }))
        .unwrap();
        assert_eq!(record.secret_name(), "app");
        assert_eq!(record.links().source_secret.as_deref(), Some("keys"));
        assert_eq!(record.expiration(), None);
        let grant = record.grant().unwrap();
        assert!(grant.status.is_none());
        assert_eq!(grant.spec.duration_seconds, 3600);
    }

    #[test]
    fn a_served_grant_keeps_about_a_third_of_its_json() {
        // A grant as the benchmark serves it: four conditions, the assumed role's ARN twice.
        let at = "2026-11-30T07:06:57Z";
        let condition = |kind: &str, status: &str, message: &str| {
            json!({"type": kind, "status": status, "reason": "CredentialsServed",
                   "message": message, "observedGeneration": 1, "lastTransitionTime": at})
        };
        let role = "acs:ram::1111111111111111:role/bench-rabbitmq-access";
        let served = json!({
            "apiVersion": "ram.alicloud.dev/v1alpha1", "kind": "StsGrant",
            "metadata": {"name": "g-0", "namespace": "bench-0"},
            "spec": {"roleArn": role, "source": {"secretRef": {"name": "source-0"}}, "durationSeconds": 900},
            "status": {
                "observedGeneration": 1, "accessKeyId": "STS.NTvdqSWP3NSBkQh8NLZFLTeO",
                "assumedRoleUser": {"arn": format!("{role}/bench-0.g-0"), "assumedRoleId": "7680037871230453487:bench-0.g-0"},
                "conditions": [
                    condition("Ready", "True", "The Secret holds credentials STS.NTvdqSWP3NSBkQh8NLZFLTeO valid until 2026-11-30T07:12:58Z; next refresh at 2026-11-30T07:10:52Z"),
                    condition("CredentialsValid", "True", "Valid until 2026-11-30T07:12:58Z"),
                    condition("Reconciling", "False", ""),
                    condition("Stalled", "False", ""),
                ],
                "expiration": "2026-11-30T07:12:58Z", "lastRefreshTime": "2026-11-30T07:06:56Z",
                "nextRefreshTime": "2026-11-30T07:10:52Z", "roleArn": role,
                "sourceAccessKeyId": "LTAI5tFEdDz1eBDfxtMYv4vs"
            }
        });
        let grant: StsGrant = serde_json::from_value(served.clone()).unwrap();
        let json = serde_json::to_vec(&BodyRef {
            spec: &grant.spec,
            status: &grant.status,
        });
        let json = json.unwrap().len();
        let record: GrantRecord = serde_json::from_value(served).unwrap();
        assert!(json > 1400, "{json} bytes of JSON");
        assert!(
            record.body.len() * 5 < json * 2,
            "{} of {json} bytes",
            record.body.len()
        );
        assert_eq!(record.grant().unwrap().status, grant.status);
    }

    #[test]
    fn bodies_of_every_size_inflate_to_their_json() {
        // Each inflates to exactly its own JSON, also one that barely compresses.
        let mut state = 1u64;
        let noise: String = (0..20_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                char::from(b'0' + (state >> 58) as u8)
            })
            .collect();
        for json in [
            &b"{}"[..],
            noise.as_bytes(),
            b"{\"spec\":{}}",
            &[b'a'; 5000][..],
        ] {
            let body = deflate(json);
            if json.len() == noise.len() {
                assert!(body.len() > json.len() / 2 + 64, "{} bytes", body.len());
            }
            let back = miniz_oxide::inflate::decompress_to_vec(&body).unwrap();
            assert_eq!(back, json);
        }
    }
}
