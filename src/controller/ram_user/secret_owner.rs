//! Whose a Secret of a `RamUser`'s configured name is, decided from its metadata alone.
//!
//! A `RamUser` deleted and created again under the same name finds the Secrets the operator
//! wrote for the first object still in place: the garbage collector removes them only some time
//! after the owner is gone, and not at all while it lags (after API server restarts it was seen
//! to take minutes). Names are unique in a namespace, so an owner reference to a `RamUser` of
//! this name with another uid names an object that no longer exists; such a Secret is taken over
//! instead of blocking the new object with `SecretConflict`. Anything else stays untouched.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};

use crate::crd::ram_user::RamUser;
use crate::crd::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};

#[derive(Debug, PartialEq, Eq)]
pub enum SecretOwner {
    /// An owner reference names this very object.
    ThisUser,
    /// Written by the operator, and every owner reference names an earlier `RamUser` of the same
    /// name.
    EarlierUserOfThisName,
    /// Written by someone else, or also owned by other objects: never overwritten.
    Foreign,
}

pub fn classify(secret: &Secret, user: &RamUser) -> SecretOwner {
    let owners = secret
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default();
    if owners
        .iter()
        .any(|owner| Some(owner.uid.as_str()) == user.metadata.uid.as_deref())
    {
        return SecretOwner::ThisUser;
    }
    let written_by_operator =
        secret.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_VALUE);
    let kind = RamUser::kind(&());
    let api_version = RamUser::api_version(&());
    let earlier_self = |owner: &OwnerReference| {
        owner.kind == kind && owner.api_version == api_version && owner.name == user.name_any()
    };
    if written_by_operator && !owners.is_empty() && owners.iter().all(earlier_self) {
        SecretOwner::EarlierUserOfThisName
    } else {
        SecretOwner::Foreign
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::crd::ram_user::RamUserSpec;

    fn user(uid: &str) -> RamUser {
        let mut user = RamUser::new(
            "app",
            serde_json::from_value::<RamUserSpec>(serde_json::json!({
                "accessMode": "Programmatic",
                "programmatic": {"accessKeySecretName": "app-keys"},
                "credentialsRef": {"name": "b"}
            }))
            .unwrap(),
        );
        user.metadata.namespace = Some("ns".into());
        user.metadata.uid = Some(uid.into());
        user
    }

    fn secret(labelled: bool, owners: &[(&str, &str, &str)]) -> Secret {
        let labels =
            labelled.then(|| [(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string())].into());
        let owner_references = owners
            .iter()
            .map(|(kind, name, uid)| OwnerReference {
                api_version: "ram.alicloud.dev/v1alpha1".into(),
                kind: (*kind).into(),
                name: (*name).into(),
                uid: (*uid).into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            })
            .collect();
        Secret {
            metadata: ObjectMeta {
                name: Some("app-keys".into()),
                labels,
                owner_references: Some(owner_references),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn owned_by_this_object() {
        let secret = secret(true, &[("RamUser", "app", "uid-2")]);
        assert_eq!(classify(&secret, &user("uid-2")), SecretOwner::ThisUser);
    }

    #[test]
    fn written_for_an_earlier_object_of_the_same_name_is_taken_over() {
        let secret = secret(true, &[("RamUser", "app", "uid-1")]);
        assert_eq!(
            classify(&secret, &user("uid-2")),
            SecretOwner::EarlierUserOfThisName
        );
    }

    #[test]
    fn anything_else_is_foreign() {
        let new = user("uid-2");
        // Not written by the operator.
        assert_eq!(
            classify(&secret(false, &[("RamUser", "app", "uid-1")]), &new),
            SecretOwner::Foreign
        );
        // Another RamUser's, another kind's, or no owner at all.
        for owners in [
            vec![("RamUser", "other", "uid-1")],
            vec![("StsGrant", "app", "uid-1")],
            vec![("RamUser", "app", "uid-1"), ("RamUser", "other", "uid-3")],
            vec![],
        ] {
            assert_eq!(
                classify(&secret(true, &owners), &new),
                SecretOwner::Foreign,
                "{owners:?}"
            );
        }
    }
}
