//! Reading the role's cloud state into the plain types [`super::diff`] compares: the role,
//! its ownership tag and attached policies, and the custom policies this object owns. Only
//! `Get*` / `List*` calls: observing never changes anything. Knows the RAM client, not
//! Kubernetes.

use std::collections::BTreeSet;

use crate::alicloud::ram::{PolicyType as CloudPolicyType, TagResourceType};
use crate::alicloud::wire::Tag;
use crate::alicloud::{self, CredentialsProvider};
use crate::crd::{OWNER_TAG_KEY, PolicyRef, PolicyType};

use super::diff::{ObservedPolicy, ObservedRole};

/// RAM calls signed with one object's credentials.
#[derive(Clone, Copy)]
pub struct Cloud<'a> {
    pub client: &'a alicloud::Client,
    pub credentials: &'a dyn CredentialsProvider,
}

/// `Ok(None)` for a cloud `NotFound`, the value otherwise.
pub fn found<T>(result: Result<T, alicloud::Error>) -> Result<Option<T>, alicloud::Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

/// `Ok(())` when a detach or delete finds its object already gone (a step repeated after a
/// crash, or done by someone else).
pub fn gone_already(result: Result<(), alicloud::Error>) -> Result<(), alicloud::Error> {
    match result {
        Err(error) if error.kind() == alicloud::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// `Ok(())` when an attach finds the policy already attached. A policy that does not exist
/// stays an error: it must not be reported as attached.
pub fn attached_already(result: Result<(), alicloud::Error>) -> Result<(), alicloud::Error> {
    match result {
        Err(error) if error.kind() == alicloud::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

impl<'a> Cloud<'a> {
    /// The RAM operations.
    pub fn ram(&self) -> alicloud::ram::Ram<'a> {
        self.client.ram(self.credentials)
    }

    /// The role with its ownership tag and attached policies; `None` when there is none.
    pub async fn observe_role(
        &self,
        role_name: &str,
    ) -> Result<Option<ObservedRole>, alicloud::Error> {
        let Some(role) = found(self.ram().get_role(role_name).await)? else {
            return Ok(None);
        };
        let owner = self.role_owner(role_name).await?;
        let attached = self.attached_policies(role_name).await?;
        Ok(Some(ObservedRole {
            role_id: role.role_id,
            arn: role.arn,
            description: role.description,
            trust_text: role.assume_role_policy_document,
            max_session_duration: role.max_session_duration,
            owner,
            attached,
        }))
    }

    /// The value of the role's ownership tag. Read with `ListTagResources` because `GetRole`
    /// does not return tags.
    async fn role_owner(&self, role_name: &str) -> Result<Option<String>, alicloud::Error> {
        let tags = self
            .ram()
            .list_tag_resources(TagResourceType::Role, &[role_name.to_string()], &[])
            .await?;
        Ok(tags
            .into_iter()
            .find(|tag| {
                tag.tag_key == OWNER_TAG_KEY && tag.resource_name.eq_ignore_ascii_case(role_name)
            })
            .map(|tag| tag.tag_value))
    }

    /// The policies attached to the role.
    pub async fn attached_policies(
        &self,
        role_name: &str,
    ) -> Result<Vec<PolicyRef>, alicloud::Error> {
        let attached = self.ram().list_policies_for_role(role_name).await?;
        Ok(attached
            .into_iter()
            .map(|policy| PolicyRef {
                policy_type: if policy.policy_type.eq_ignore_ascii_case("Custom") {
                    PolicyType::Custom
                } else {
                    PolicyType::System
                },
                name: policy.policy_name,
            })
            .collect())
    }

    /// Names of the custom policies tagged as owned by `owner`.
    pub async fn owned_policies(&self, owner: &str) -> Result<BTreeSet<String>, alicloud::Error> {
        let tagged = self
            .ram()
            .list_tag_resources(
                TagResourceType::Policy,
                &[],
                &[Tag::new(OWNER_TAG_KEY, owner)],
            )
            .await?;
        Ok(tagged
            .into_iter()
            .filter(|tag| tag.tag_key == OWNER_TAG_KEY && tag.tag_value == owner)
            .map(|tag| tag.resource_name)
            .collect())
    }

    /// A custom policy with its default document; `None` when there is none.
    pub async fn observe_policy(
        &self,
        policy_name: &str,
        owned: &BTreeSet<String>,
    ) -> Result<Option<ObservedPolicy>, alicloud::Error> {
        let Some(policy) = found(
            self.ram()
                .get_policy(CloudPolicyType::Custom, policy_name)
                .await,
        )?
        else {
            return Ok(None);
        };
        let default = policy.default_policy_version.unwrap_or_default();
        Ok(Some(ObservedPolicy {
            document_text: default.policy_document,
            default_version: if default.version_id.is_empty() {
                policy.policy.default_version
            } else {
                default.version_id
            },
            owned: owned
                .iter()
                .any(|name| name.eq_ignore_ascii_case(policy_name)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alicloud::ErrorKind;

    fn failing(kind: ErrorKind) -> Result<(), alicloud::Error> {
        Err(alicloud::Error::local(kind, "Call", "m"))
    }

    #[test]
    fn only_the_matching_already_done_answer_counts_as_success() {
        assert!(gone_already(failing(ErrorKind::NotFound)).is_ok());
        assert!(gone_already(failing(ErrorKind::AccessDenied)).is_err());
        assert!(attached_already(failing(ErrorKind::AlreadyExists)).is_ok());
        // Attaching a policy that does not exist must not pass as attached.
        assert!(attached_already(failing(ErrorKind::NotFound)).is_err());
        assert!(found(failing(ErrorKind::NotFound)).unwrap().is_none());
        assert!(found(failing(ErrorKind::Throttled)).is_err());
    }
}
