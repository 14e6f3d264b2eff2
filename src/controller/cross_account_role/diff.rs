//! What differs between the desired role and what the cloud holds, as plain data: whether the
//! operator may touch the role at all (ownership and adoption), which role fields to update,
//! which policies to attach or detach, and what to do with each custom ("inline") policy.
//! Pure: the caller observes the cloud and carries out the plan.

use std::collections::BTreeSet;

use crate::alicloud::policy::{self, PolicyDiff, PolicyDocument};
use crate::controller::error::Error;
use crate::crd::{Adoption, PolicyRef};

use super::desired::{Desired, DesiredInline, same_policy};

/// Reason when a role or policy of the name exists and is not ours to touch.
pub const ALREADY_EXISTS: &str = "AlreadyExists";
/// Reason when `adoption: Adopt` finds no role to adopt.
pub const NOT_FOUND: &str = "NotFound";

/// The role as observed in the cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedRole {
    pub role_id: String,
    pub arn: String,
    pub description: String,
    /// The trust policy text as RAM returns it.
    pub trust_text: String,
    pub max_session_duration: i64,
    /// Value of the ownership tag, if the role has one.
    pub owner: Option<String>,
    /// Policies attached to the role.
    pub attached: Vec<PolicyRef>,
}

/// A custom policy as observed in the cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedPolicy {
    /// The document of the default version.
    pub document_text: String,
    pub default_version: String,
    /// Whether it carries our ownership tag.
    pub owned: bool,
}

/// What the operator may do with the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// No role of the name: create it.
    Create,
    /// The role carries our ownership tag.
    Owned,
    /// An untagged role that the spec allows to take over: tag it, then manage it.
    Adopt,
}

/// Decides whether the role may be created, managed or adopted; an error when it must not be
/// touched. A role tagged for another owner is never taken over, whatever `adoption` says:
/// two objects (or clusters) would fight over it.
pub fn ownership(
    adoption: Adoption,
    role_name: &str,
    role: Option<&ObservedRole>,
    our_owner: &str,
) -> Result<Ownership, Error> {
    match (role, adoption) {
        (None, Adoption::Adopt) => Err(Error::Conflict {
            reason: NOT_FOUND,
            message: format!(
                "adoption is Adopt but there is no role {role_name} to adopt: create it, or set \
                 adoption to AdoptOrCreate"
            ),
        }),
        (None, _) => Ok(Ownership::Create),
        (Some(role), _) if role.owner.as_deref() == Some(our_owner) => Ok(Ownership::Owned),
        (Some(role), _) if role.owner.is_some() => Err(Error::Conflict {
            reason: ALREADY_EXISTS,
            message: format!(
                "role {role_name} is managed by {} (tag {}): it is left alone; pick another \
                 spec.roleName, or remove that tag to let this object adopt it",
                role.owner.as_deref().unwrap_or_default(),
                crate::crd::OWNER_TAG_KEY
            ),
        }),
        (Some(_), Adoption::Never) => Err(Error::Conflict {
            reason: ALREADY_EXISTS,
            message: format!(
                "role {role_name} already exists and was not created by this operator: it is \
                 left alone; set spec.adoption to Adopt to take it over, or pick another \
                 spec.roleName"
            ),
        }),
        (Some(_), _) => Ok(Ownership::Adopt),
    }
}

/// Changes to the role's own fields (one `UpdateRole`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleUpdate {
    /// The new trust policy, and what drifted.
    pub trust: Option<(PolicyDocument, PolicyDiff)>,
    pub max_session_duration: Option<i64>,
    pub description: Option<String>,
    /// Principals the current trust policy allows that the new one does not: accounts by id,
    /// users and roles by ARN.
    pub revoked: Vec<String>,
}

impl RoleUpdate {
    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.trust.is_none() && self.max_session_duration.is_none() && self.description.is_none()
    }

    /// What changed, for the Event.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some((_, diff)) = &self.trust {
            parts.push(format!("trust policy: {diff}"));
        }
        if let Some(max) = self.max_session_duration {
            parts.push(format!("maxSessionDuration -> {max}"));
        }
        if self.description.is_some() {
            parts.push("description".to_string());
        }
        parts.join("; ")
    }
}

/// The update that brings `observed` to `desired`. The trust policy is compared semantically;
/// one that RAM returns unparsable is replaced. No description in the spec leaves it alone.
pub fn role_update(desired: &Desired, observed: &ObservedRole) -> RoleUpdate {
    let mut update = RoleUpdate::default();
    match PolicyDocument::parse(&observed.trust_text) {
        Ok(current) if policy::equivalent(&current, &desired.trust) => {}
        Ok(current) => {
            update.revoked = revoked_principals(&current, &desired.trust);
            update.trust = Some((
                desired.trust.clone(),
                policy::diff(&current, &desired.trust),
            ));
        }
        Err(_) => {
            update.trust = Some((
                desired.trust.clone(),
                PolicyDiff {
                    changes: vec!["the role's trust policy could not be parsed".to_string()],
                },
            ));
        }
    }
    if observed.max_session_duration != desired.max_session_duration {
        update.max_session_duration = Some(desired.max_session_duration);
    }
    if let Some(description) = &desired.description
        && description != &observed.description
    {
        update.description = Some(description.clone());
    }
    update
}

/// RAM principals allowed by `current` and not by `desired`, accounts named by their id.
pub fn revoked_principals(current: &PolicyDocument, desired: &PolicyDocument) -> Vec<String> {
    let ram = |document: &PolicyDocument| -> BTreeSet<String> {
        document
            .trusted_principals()
            .into_iter()
            .filter(|(kind, _)| kind == policy::PRINCIPAL_RAM)
            .map(|(_, value)| value)
            .collect()
    };
    let keep = ram(desired);
    ram(current)
        .into_iter()
        .filter(|principal| !keep.contains(principal))
        .map(|principal| {
            principal
                .strip_prefix("acs:ram::")
                .and_then(|rest| rest.strip_suffix(":root"))
                .map(str::to_string)
                .unwrap_or(principal)
        })
        .collect()
}

/// Policies to attach and detach, and the policies the operator manages afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachmentPlan {
    pub attach: Vec<PolicyRef>,
    pub detach: Vec<PolicyRef>,
    /// `status.attachedPolicies` once the plan is carried out.
    pub managed: Vec<PolicyRef>,
}

/// The attachment rule: attach every listed policy that is missing; detach only policies this
/// operator attached earlier (`managed`, from status) that are no longer listed; never detach
/// a policy someone else attached.
pub fn attachments(
    desired: &[PolicyRef],
    attached: &[PolicyRef],
    managed: &[PolicyRef],
) -> AttachmentPlan {
    let contains =
        |list: &[PolicyRef], policy: &PolicyRef| list.iter().any(|p| same_policy(p, policy));
    let attach: Vec<PolicyRef> = desired
        .iter()
        .filter(|policy| !contains(attached, policy))
        .cloned()
        .collect();
    let detach: Vec<PolicyRef> = managed
        .iter()
        .filter(|policy| !contains(desired, policy) && contains(attached, policy))
        .cloned()
        .collect();
    let managed_after: Vec<PolicyRef> = desired
        .iter()
        .filter(|policy| contains(managed, policy) || contains(&attach, policy))
        .cloned()
        .collect();
    AttachmentPlan {
        attach,
        detach,
        managed: managed_after,
    }
}

/// What to do with one desired inline policy.
#[derive(Debug, Clone, PartialEq)]
pub struct InlinePlan {
    pub ram_name: String,
    pub action: InlineAction,
    /// Whether it still has to be attached to the role.
    pub attach: bool,
}

/// The change to one inline policy.
#[derive(Debug, Clone, PartialEq)]
pub enum InlineAction {
    /// Up to date.
    None,
    /// Create it (tagged).
    Create,
    /// A new default version, and what drifted.
    NewVersion(PolicyDiff),
    /// An untagged policy of the name that adoption allows to take over: tag it, and add a
    /// version when the document differs.
    Adopt(Option<PolicyDiff>),
}

/// The plan of one inline policy from what the cloud holds (`None`: no policy of the name).
pub fn inline_plan(
    desired: &DesiredInline,
    observed: Option<&ObservedPolicy>,
    attached: &[PolicyRef],
    adoption: Adoption,
) -> Result<InlinePlan, Error> {
    let document_drift = |observed: &ObservedPolicy| -> Option<PolicyDiff> {
        match PolicyDocument::parse(&observed.document_text) {
            Ok(current) if policy::equivalent(&current, &desired.document) => None,
            Ok(current) => Some(policy::diff(&current, &desired.document)),
            Err(_) => Some(PolicyDiff {
                changes: vec!["the policy's document could not be parsed".to_string()],
            }),
        }
    };
    let action = match observed {
        None => InlineAction::Create,
        Some(observed) if observed.owned => match document_drift(observed) {
            None => InlineAction::None,
            Some(diff) => InlineAction::NewVersion(diff),
        },
        Some(_) if adoption == Adoption::Never => {
            return Err(Error::Conflict {
                reason: ALREADY_EXISTS,
                message: format!(
                    "custom policy {} already exists and was not created by this operator: \
                     rename the inline policy, or set spec.adoption to Adopt",
                    desired.ram_name
                ),
            });
        }
        Some(observed) => InlineAction::Adopt(document_drift(observed)),
    };
    let attach = !attached.iter().any(|p| {
        p.policy_type == crate::crd::PolicyType::Custom
            && p.name.eq_ignore_ascii_case(&desired.ram_name)
    });
    Ok(InlinePlan {
        ram_name: desired.ram_name.clone(),
        action,
        attach,
    })
}

/// Custom policies tagged as ours that the spec no longer lists: detach and delete them.
pub fn removed_inline(owned: &BTreeSet<String>, desired: &[DesiredInline]) -> Vec<String> {
    owned
        .iter()
        .filter(|name| {
            !desired
                .iter()
                .any(|inline| inline.ram_name.eq_ignore_ascii_case(name))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alicloud::policy::TrustPolicy;
    use crate::controller::cross_account_role::desired;
    use crate::crd::{CrossAccountRoleSpec, PolicyType};

    const OWNER: &str = "c/ns/CrossAccountRole/r";

    fn system(name: &str) -> PolicyRef {
        PolicyRef {
            name: name.to_string(),
            policy_type: PolicyType::System,
        }
    }

    fn desired_for(yaml: &str) -> Desired {
        let spec: CrossAccountRoleSpec = serde_yaml::from_str(yaml).unwrap();
        desired::build("r", &spec).unwrap()
    }

    fn role(trust: &str, owner: Option<&str>) -> ObservedRole {
        ObservedRole {
            trust_text: trust.to_string(),
            max_session_duration: 3600,
            owner: owner.map(str::to_string),
            ..ObservedRole::default()
        }
    }

    #[test]
    fn ownership_follows_tag_and_adoption() {
        let ours = role("{}", Some(OWNER));
        let untagged = role("{}", None);
        let theirs = role("{}", Some("other/ns/CrossAccountRole/x"));
        assert_eq!(
            ownership(Adoption::Never, "r", None, OWNER).unwrap(),
            Ownership::Create
        );
        assert_eq!(
            ownership(Adoption::AdoptOrCreate, "r", None, OWNER).unwrap(),
            Ownership::Create
        );
        let error = ownership(Adoption::Adopt, "r", None, OWNER).unwrap_err();
        assert_eq!(error.reason(), NOT_FOUND);
        assert_eq!(
            ownership(Adoption::Never, "r", Some(&ours), OWNER).unwrap(),
            Ownership::Owned
        );
        let error = ownership(Adoption::Never, "r", Some(&untagged), OWNER).unwrap_err();
        assert_eq!(error.reason(), ALREADY_EXISTS);
        assert!(error.is_stalled());
        assert_eq!(
            ownership(Adoption::Adopt, "r", Some(&untagged), OWNER).unwrap(),
            Ownership::Adopt
        );
        let error = ownership(Adoption::Adopt, "r", Some(&theirs), OWNER).unwrap_err();
        assert_eq!(error.reason(), ALREADY_EXISTS);
        assert!(error.to_string().contains("other/ns/CrossAccountRole/x"));
    }

    #[test]
    fn an_equivalent_trust_policy_needs_no_update() {
        let desired = desired_for(r#"{trustedAccounts: ["2222222222222222"]}"#);
        // Same meaning, other spelling: string instead of list, other key order, no Version.
        let observed = role(
            r#"{"Statement":[{"Principal":{"RAM":"acs:ram::2222222222222222:root"},"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
            Some(OWNER),
        );
        let update = role_update(&desired, &observed);
        assert!(update.is_empty(), "{update:?}");
    }

    #[test]
    fn removing_an_account_revokes_it_by_id() {
        let desired = desired_for(r#"{trustedAccounts: ["3333333333333333"]}"#);
        let current = TrustPolicy::for_accounts(&["2222222222222222"])
            .ram_principal("acs:ram::4444444444444444:user/u")
            .to_json();
        let update = role_update(&desired, &role(&current, Some(OWNER)));
        let (document, diff) = update.trust.clone().unwrap();
        assert!(policy::equivalent(&document, &desired.trust));
        assert!(diff.to_string().contains("2222222222222222"), "{diff}");
        assert_eq!(
            update.revoked,
            ["2222222222222222", "acs:ram::4444444444444444:user/u"]
        );
        assert!(update.summary().starts_with("trust policy:"));
    }

    #[test]
    fn session_duration_and_description_drift() {
        let desired =
            desired_for(r#"{trustedAccounts: ["2"], maxSessionDuration: 7200, description: "d"}"#);
        let observed = role(&TrustPolicy::for_accounts(&["2"]).to_json(), Some(OWNER));
        let update = role_update(&desired, &observed);
        assert!(update.trust.is_none());
        assert_eq!(update.max_session_duration, Some(7200));
        assert_eq!(update.description.as_deref(), Some("d"));
        assert!(update.revoked.is_empty());
    }

    #[test]
    fn unparsable_trust_in_the_cloud_is_replaced() {
        let desired = desired_for(r#"{trustedAccounts: ["2"]}"#);
        let update = role_update(&desired, &role("garbage", Some(OWNER)));
        assert!(update.trust.is_some());
    }

    #[test]
    fn attach_missing_detach_only_what_we_attached() {
        let desired = [system("AliyunAMQPFullAccess"), system("New")];
        let attached = [
            system("aliyunamqpfullaccess"),
            system("Old"),
            system("SomeoneElses"),
        ];
        let managed = [system("AliyunAMQPFullAccess"), system("Old")];
        let plan = attachments(&desired, &attached, &managed);
        assert_eq!(plan.attach, [system("New")]);
        assert_eq!(plan.detach, [system("Old")]);
        assert_eq!(
            plan.managed,
            [system("AliyunAMQPFullAccess"), system("New")]
        );
    }

    #[test]
    fn a_listed_policy_someone_else_attached_stays_theirs() {
        let plan = attachments(&[system("P")], &[system("P")], &[]);
        assert!(plan.attach.is_empty());
        assert!(plan.managed.is_empty());
        // Delisted later: not ours, so never detached.
        let plan = attachments(&[], &[system("P")], &plan.managed);
        assert!(plan.detach.is_empty());
    }

    #[test]
    fn a_managed_policy_detached_behind_our_back_is_attached_again() {
        let managed = [system("P")];
        let plan = attachments(&managed, &[], &managed);
        assert_eq!(plan.attach, managed);
        assert_eq!(plan.managed, managed);
    }

    fn inline(document: &str) -> DesiredInline {
        let desired = desired_for(&format!(
            r#"{{trustedAccounts: ["2"], inlinePolicies: [{{name: p, document: '{document}'}}]}}"#
        ));
        desired.inline[0].clone()
    }

    #[test]
    fn inline_policies_are_created_versioned_or_left_alone() {
        let doc =
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"amqp:*","Resource":"*"}]}"#;
        let desired = inline(doc);
        let plan = inline_plan(&desired, None, &[], Adoption::Never).unwrap();
        assert_eq!(plan.action, InlineAction::Create);
        assert!(plan.attach);

        let same = ObservedPolicy {
            document_text: r#"{"Statement":{"Effect":"Allow","Action":["amqp:*"],"Resource":"*"}}"#
                .to_string(),
            default_version: "v1".to_string(),
            owned: true,
        };
        let attached = [PolicyRef {
            name: "R-P".to_string(),
            policy_type: PolicyType::Custom,
        }];
        let plan = inline_plan(&desired, Some(&same), &attached, Adoption::Never).unwrap();
        assert_eq!(plan.action, InlineAction::None);
        assert!(!plan.attach);

        let changed = ObservedPolicy {
            document_text:
                r#"{"Statement":{"Effect":"Allow","Action":"amqp:Get*","Resource":"*"}}"#
                    .to_string(),
            ..same.clone()
        };
        let plan = inline_plan(&desired, Some(&changed), &attached, Adoption::Never).unwrap();
        assert!(
            matches!(plan.action, InlineAction::NewVersion(ref diff) if diff.to_string().contains("amqp:*"))
        );

        let foreign = ObservedPolicy {
            owned: false,
            ..same.clone()
        };
        let error = inline_plan(&desired, Some(&foreign), &[], Adoption::Never).unwrap_err();
        assert_eq!(error.reason(), ALREADY_EXISTS);
        let plan = inline_plan(&desired, Some(&foreign), &[], Adoption::Adopt).unwrap();
        assert_eq!(plan.action, InlineAction::Adopt(None));
    }

    #[test]
    fn owned_policies_no_longer_listed_are_removed() {
        let desired = [inline("{}")];
        let owned: BTreeSet<String> = ["r-p".to_string(), "r-gone".to_string()].into();
        assert_eq!(removed_inline(&owned, &desired), ["r-gone"]);
    }
}
