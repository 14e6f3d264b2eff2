//! The user record itself, as pure functions: whether the cloud user is ours, which fields,
//! tags and policy attachments differ from the spec, and what to change.
//!
//! Knows the RAM / IMS data shapes, not how to call them or anything of Kubernetes.

use std::collections::BTreeMap;

use crate::alicloud::ims::ImsUser;
use crate::alicloud::ram::{AttachedPolicy, UpdateUserRequest};
use crate::alicloud::wire::{ResourceTag, Tag};
use crate::crd::ram_user::RamUserSpec;
use crate::crd::{OWNER_TAG_KEY, PolicyRef, PolicyType};

/// Who the cloud user belongs to, by its ownership tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Tagged with this object's owner value.
    Ours,
    /// No ownership tag: made by someone else, adoptable when the spec allows it.
    Untagged,
    /// Tagged for another object (another cluster, namespace or name): never taken over.
    Other(String),
}

/// Reads the ownership tag of `tags`.
pub fn ownership(tags: &[ResourceTag], owner_value: &str) -> Ownership {
    match tags.iter().find(|t| t.key == OWNER_TAG_KEY) {
        None => Ownership::Untagged,
        Some(tag) if tag.value == owner_value => Ownership::Ours,
        Some(tag) => Ownership::Other(tag.value.clone()),
    }
}

/// The tags the user should carry: the spec's, plus the ownership tag.
pub fn desired_tags(spec: &RamUserSpec, owner_value: &str) -> Vec<Tag> {
    let mut tags: Vec<Tag> = spec
        .tags
        .iter()
        .flatten()
        .filter(|(key, _)| key.as_str() != OWNER_TAG_KEY)
        .map(|(key, value)| Tag::new(key, value))
        .collect();
    tags.push(Tag::new(OWNER_TAG_KEY, owner_value));
    tags
}

/// Desired tags that are missing or have another value. Tags the spec does not name are left
/// alone (someone else may have set them).
pub fn tags_to_set(desired: &[Tag], observed: &[ResourceTag]) -> Vec<Tag> {
    let observed: BTreeMap<&str, &str> = observed
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    desired
        .iter()
        .filter(|tag| observed.get(tag.key.as_str()) != Some(&tag.value.as_str()))
        .cloned()
        .collect()
}

/// The display name to create the user with (IMS requires one).
pub fn display_name(spec: &RamUserSpec, user_name: &str) -> String {
    spec.display_name
        .clone()
        .unwrap_or_else(|| user_name.to_string())
}

/// `UpdateUser` for fields the spec sets and the cloud has otherwise, with their names for the
/// Event; `None` when nothing drifted. Fields the spec leaves out are not managed.
pub fn field_updates(
    spec: &RamUserSpec,
    observed: &ImsUser,
    user_name: &str,
) -> Option<(UpdateUserRequest, Vec<&'static str>)> {
    let mut request = UpdateUserRequest {
        user_name: user_name.to_string(),
        ..UpdateUserRequest::default()
    };
    let mut changed = Vec::new();
    let mut check = |wanted: &Option<String>, have: &str, slot: &mut Option<String>, name| {
        if let Some(wanted) = wanted
            && wanted != have
        {
            *slot = Some(wanted.clone());
            changed.push(name);
        }
    };
    check(
        &spec.display_name,
        &observed.display_name,
        &mut request.new_display_name,
        "displayName",
    );
    check(
        &spec.comments,
        &observed.comments,
        &mut request.new_comments,
        "comments",
    );
    check(
        &spec.email,
        &observed.email,
        &mut request.new_email,
        "email",
    );
    check(
        &spec.mobile_phone,
        &observed.mobile_phone,
        &mut request.new_mobile_phone,
        "mobilePhone",
    );
    (!changed.is_empty()).then_some((request, changed))
}

/// What to do about policy attachments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyPlan {
    /// Wanted and not attached.
    pub attach: Vec<PolicyRef>,
    /// Attached by the operator earlier, no longer wanted, still attached.
    pub detach: Vec<PolicyRef>,
    /// What the status remembers as attached by the operator afterwards.
    pub remembered: Vec<PolicyRef>,
}

fn same(a: &PolicyRef, name: &str, policy_type: &str) -> bool {
    a.name.eq_ignore_ascii_case(name) && type_name(a.policy_type).eq_ignore_ascii_case(policy_type)
}

/// The wire name of a policy type.
pub fn type_name(policy_type: PolicyType) -> &'static str {
    match policy_type {
        PolicyType::System => "System",
        PolicyType::Custom => "Custom",
    }
}

/// The rule: attach every wanted policy that is missing; detach only policies the operator
/// attached itself (remembered in status) and no longer wants. A wanted policy that was already
/// attached by someone else is not remembered, so dropping it from the spec leaves it attached.
pub fn policy_plan(
    wanted: &[PolicyRef],
    attached: &[AttachedPolicy],
    remembered: &[PolicyRef],
) -> PolicyPlan {
    let is_attached = |p: &PolicyRef| {
        attached
            .iter()
            .any(|a| same(p, &a.policy_name, &a.policy_type))
    };
    let is_wanted = |p: &PolicyRef| {
        wanted
            .iter()
            .any(|w| same(p, &w.name, type_name(w.policy_type)))
    };
    let was_ours = |p: &PolicyRef| {
        remembered
            .iter()
            .any(|r| same(p, &r.name, type_name(r.policy_type)))
    };
    let attach: Vec<PolicyRef> = wanted.iter().filter(|p| !is_attached(p)).cloned().collect();
    let detach: Vec<PolicyRef> = remembered
        .iter()
        .filter(|p| !is_wanted(p) && is_attached(p))
        .cloned()
        .collect();
    let remembered = wanted
        .iter()
        .filter(|p| !is_attached(p) || was_ours(p))
        .cloned()
        .collect();
    PolicyPlan {
        attach,
        detach,
        remembered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ram_user::AccessMode;

    fn spec() -> RamUserSpec {
        serde_json::from_value(serde_json::json!({
            "accessMode": "Console",
            "console": {"passwordSecretName": "p"},
            "displayName": "App",
            "email": "a@example.com",
            "tags": {"team": "mq"}
        }))
        .unwrap()
    }

    fn policy(name: &str) -> PolicyRef {
        PolicyRef {
            name: name.into(),
            policy_type: PolicyType::System,
        }
    }

    fn attached(name: &str) -> AttachedPolicy {
        AttachedPolicy {
            policy_name: name.into(),
            policy_type: "System".into(),
            ..AttachedPolicy::default()
        }
    }

    fn tag(key: &str, value: &str) -> ResourceTag {
        ResourceTag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn ownership_reads_the_owner_tag() {
        assert_eq!(ownership(&[], "c/ns/RamUser/a"), Ownership::Untagged);
        assert_eq!(
            ownership(&[tag(OWNER_TAG_KEY, "c/ns/RamUser/a")], "c/ns/RamUser/a"),
            Ownership::Ours
        );
        assert_eq!(
            ownership(
                &[tag(OWNER_TAG_KEY, "other/ns/RamUser/a")],
                "c/ns/RamUser/a"
            ),
            Ownership::Other("other/ns/RamUser/a".into())
        );
    }

    #[test]
    fn only_missing_or_changed_tags_are_set() {
        let desired = desired_tags(&spec(), "c/ns/RamUser/a");
        assert_eq!(desired.len(), 2);
        let observed = [
            tag("team", "mq"),
            tag(OWNER_TAG_KEY, "c/ns/RamUser/a"),
            tag("x", "y"),
        ];
        assert!(tags_to_set(&desired, &observed).is_empty());
        let drifted = [tag("team", "other")];
        let set = tags_to_set(&desired, &drifted);
        assert_eq!(set.len(), 2);
        assert_eq!(set[0], Tag::new("team", "mq"));
    }

    #[test]
    fn field_drift_updates_only_fields_the_spec_sets() {
        let spec = spec();
        assert_eq!(spec.access_mode, AccessMode::Console);
        let observed = ImsUser {
            display_name: "App".into(),
            email: "a@example.com".into(),
            comments: "set by hand".into(),
            ..ImsUser::default()
        };
        assert_eq!(field_updates(&spec, &observed, "a"), None);
        let drifted = ImsUser {
            display_name: "Changed".into(),
            ..observed
        };
        let (request, names) = field_updates(&spec, &drifted, "a").unwrap();
        assert_eq!(names, ["displayName"]);
        assert_eq!(request.new_display_name.as_deref(), Some("App"));
        assert_eq!(request.new_comments, None);
        assert_eq!(request.user_name, "a");
    }

    #[test]
    fn policies_attach_missing_and_detach_only_what_we_attached() {
        let wanted = [policy("AliyunSTSAssumeRoleAccess")];
        // Nothing attached yet: attach and remember.
        let plan = policy_plan(&wanted, &[], &[]);
        assert_eq!(plan.attach, wanted);
        assert_eq!(plan.remembered, wanted);
        // Steady state: nothing to do, still remembered.
        let plan = policy_plan(&wanted, &[attached("AliyunSTSAssumeRoleAccess")], &wanted);
        assert_eq!(
            plan,
            PolicyPlan {
                remembered: wanted.to_vec(),
                ..PolicyPlan::default()
            }
        );
        // Removed from the spec: ours is detached, someone else's is not.
        let plan = policy_plan(
            &[],
            &[
                attached("AliyunSTSAssumeRoleAccess"),
                attached("ReadOnlyAccess"),
            ],
            &wanted,
        );
        assert_eq!(plan.detach, wanted);
        assert!(plan.remembered.is_empty());
        // Wanted but already attached by someone else: not remembered, never detached.
        let plan = policy_plan(
            &[policy("ReadOnlyAccess")],
            &[attached("ReadOnlyAccess")],
            &[],
        );
        assert!(plan.attach.is_empty());
        assert!(plan.remembered.is_empty());
    }
}
