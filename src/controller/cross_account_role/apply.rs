//! The apply path of one `CrossAccountRole`: validate -> build desired -> observe -> decide
//! ownership -> change only what differs -> the facts for status. Each cloud change publishes
//! a Normal Event saying what changed (and, for the trust policy, what drifted). Unchanged
//! state costs only `Get*` / `List*` calls: `GetCallerIdentity` and `GetDefaultDomain` are
//! cached in status.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;

use crate::alicloud::credentials::account_of_arn;
use crate::alicloud::ram::{
    CreatePolicyRequest, CreatePolicyVersionRequest, CreateRoleRequest, PolicyType as CloudType,
    RotateStrategy, TagResourceType, UpdateRoleRequest,
};
use crate::alicloud::wire::Tag;
use crate::controller::Context;
use crate::controller::error::Error;
use crate::crd::cross_account_role::{CrossAccountRoleStatus, InlinePolicyStatus, SwitchRole};
use crate::crd::{CrossAccountRole, OWNER_TAG_KEY, PolicyRef};

use super::cloud::{Cloud, attached_already, gone_already};
use super::desired::{self, Desired, DesiredInline, cloud_policy_type};
use super::diff::{self, InlineAction, ObservedRole, Ownership};
use super::status::{self, RoleFacts};

/// What the apply path needs besides the object.
pub struct Target<'a> {
    pub ctx: &'a Context,
    pub reference: &'a ObjectReference,
    /// `<cluster>/<namespace>/CrossAccountRole/<name>`.
    pub owner: String,
    pub cloud: Cloud<'a>,
}

impl Target<'_> {
    async fn normal(&self, reason: &str, action: &str, note: String) {
        tracing::info!(reason, "{note}");
        self.ctx
            .event(self.reference, EventType::Normal, reason, action, note)
            .await;
    }

    fn owner_tag(&self) -> Tag {
        Tag::new(OWNER_TAG_KEY, &self.owner)
    }
}

/// Brings the role to the spec and returns what status should say.
pub async fn apply(target: &Target<'_>, object: &CrossAccountRole) -> Result<RoleFacts, Error> {
    let role_name = object.role_name();
    let desired = desired::build(role_name, &object.spec)?;
    let previous = object.status.clone().unwrap_or_default();

    let observed = target.cloud.observe_role(role_name).await?;
    let ownership = diff::ownership(
        desired.adoption,
        role_name,
        observed.as_ref(),
        &target.owner,
    )?;
    let role = match (ownership, observed) {
        (Ownership::Owned, Some(role)) => role,
        (Ownership::Adopt, Some(role)) => adopt_role(target, role_name, role).await?,
        _ => create_role(target, &desired).await?,
    };

    update_role(target, &desired, &role).await?;
    let attached_policies =
        reconcile_attachments(target, &desired, &role, &previous.attached_policies).await?;
    let inline_policies = reconcile_inline(target, &desired, &role).await?;
    let account_id = account_id(target, &previous, &role.arn).await?;
    let switch_role = switch_role(target, &previous, account_id.as_deref(), role_name).await;

    Ok(RoleFacts {
        role_name: role_name.to_string(),
        role_id: role.role_id,
        arn: role.arn,
        account_id,
        trusted_accounts: desired.trusted_accounts(),
        attached_policies,
        inline_policies,
        policy_hash: desired::policy_hash(&desired.trust),
        switch_role,
    })
}

fn session_seconds(desired: &Desired) -> Result<u32, Error> {
    u32::try_from(desired.max_session_duration).map_err(|_| {
        Error::invalid_spec(
            "InvalidMaxSessionDuration",
            "spec.maxSessionDuration must be 3600-43200 seconds",
        )
    })
}

async fn create_role(target: &Target<'_>, desired: &Desired) -> Result<ObservedRole, Error> {
    let trust_text = desired.trust.to_json();
    let request = CreateRoleRequest {
        role_name: desired.role_name.clone(),
        assume_role_policy_document: trust_text.clone(),
        description: desired.description.clone(),
        max_session_duration: Some(session_seconds(desired)?),
        tags: vec![target.owner_tag()],
    };
    let role = target.cloud.ram().create_role(&request).await?;
    target
        .normal(
            "RoleCreated",
            "CreateRole",
            format!(
                "created role {} ({}) trusting {}",
                role.role_name,
                role.arn,
                describe_trust(desired)
            ),
        )
        .await;
    Ok(ObservedRole {
        role_id: role.role_id,
        arn: role.arn,
        description: desired.description.clone().unwrap_or_default(),
        trust_text,
        max_session_duration: desired.max_session_duration,
        owner: Some(target.owner.clone()),
        attached: Vec::new(),
    })
}

fn describe_trust(desired: &Desired) -> String {
    let principals: Vec<String> = desired
        .trust
        .trusted_principals()
        .into_iter()
        .map(|(_, value)| value)
        .collect();
    if principals.is_empty() {
        "nobody".to_string()
    } else {
        principals.join(", ")
    }
}

async fn adopt_role(
    target: &Target<'_>,
    name: &str,
    mut role: ObservedRole,
) -> Result<ObservedRole, Error> {
    target
        .cloud
        .ram()
        .tag_resources(
            TagResourceType::Role,
            &[name.to_string()],
            &[target.owner_tag()],
        )
        .await?;
    target
        .normal(
            "RoleAdopted",
            "TagResources",
            format!(
                "adopted the existing role {name}: tagged {OWNER_TAG_KEY}={}",
                target.owner
            ),
        )
        .await;
    role.owner = Some(target.owner.clone());
    Ok(role)
}

async fn update_role(
    target: &Target<'_>,
    desired: &Desired,
    role: &ObservedRole,
) -> Result<(), Error> {
    let update = diff::role_update(desired, role);
    if update.is_empty() {
        return Ok(());
    }
    let request = UpdateRoleRequest {
        role_name: desired.role_name.clone(),
        new_assume_role_policy_document: update.trust.as_ref().map(|(doc, _)| doc.to_json()),
        new_max_session_duration: match update.max_session_duration {
            Some(_) => Some(session_seconds(desired)?),
            None => None,
        },
        new_description: update.description.clone(),
    };
    target.cloud.ram().update_role(&request).await?;
    let reason = if update.trust.is_some() {
        "TrustPolicyUpdated"
    } else {
        "RoleUpdated"
    };
    target
        .normal(
            reason,
            "UpdateRole",
            format!("updated role {}: {}", desired.role_name, update.summary()),
        )
        .await;
    for principal in &update.revoked {
        let who = if principal.starts_with("acs:") {
            principal.clone()
        } else {
            format!("account {principal}")
        };
        target
            .normal(
                "TrustRevoked",
                "UpdateRole",
                format!("{who} can no longer assume role {}", desired.role_name),
            )
            .await;
    }
    Ok(())
}

async fn reconcile_attachments(
    target: &Target<'_>,
    desired: &Desired,
    role: &ObservedRole,
    managed: &[PolicyRef],
) -> Result<Vec<PolicyRef>, Error> {
    let plan = diff::attachments(&desired.policies, &role.attached, managed);
    let ram = target.cloud.ram();
    for policy in &plan.attach {
        attached_already(
            ram.attach_policy_to_role(
                cloud_policy_type(policy.policy_type),
                &policy.name,
                &desired.role_name,
            )
            .await,
        )?;
        target
            .normal(
                "PolicyAttached",
                "AttachPolicyToRole",
                format!(
                    "attached {} policy {} to role {}",
                    desired::policy_type_str(policy.policy_type),
                    policy.name,
                    desired.role_name
                ),
            )
            .await;
    }
    for policy in &plan.detach {
        gone_already(
            ram.detach_policy_from_role(
                cloud_policy_type(policy.policy_type),
                &policy.name,
                &desired.role_name,
            )
            .await,
        )?;
        target
            .normal(
                "PolicyDetached",
                "DetachPolicyFromRole",
                format!(
                    "detached {} policy {} from role {}: no longer listed in spec.policies",
                    desired::policy_type_str(policy.policy_type),
                    policy.name,
                    desired.role_name
                ),
            )
            .await;
    }
    Ok(plan.managed)
}

async fn reconcile_inline(
    target: &Target<'_>,
    desired: &Desired,
    role: &ObservedRole,
) -> Result<Vec<InlinePolicyStatus>, Error> {
    let owned = target.cloud.owned_policies(&target.owner).await?;
    let mut statuses = Vec::new();
    for inline in &desired.inline {
        let observed = target
            .cloud
            .observe_policy(&inline.ram_name, &owned)
            .await?;
        let plan = diff::inline_plan(inline, observed.as_ref(), &role.attached, desired.adoption)?;
        let default_version = match plan.action {
            InlineAction::None => observed.map(|p| p.default_version),
            InlineAction::Create => Some(create_policy(target, inline).await?),
            InlineAction::NewVersion(drift) => {
                Some(new_policy_version(target, inline, &drift.to_string()).await?)
            }
            InlineAction::Adopt(drift) => {
                adopt_policy(target, inline).await?;
                match drift {
                    Some(drift) => {
                        Some(new_policy_version(target, inline, &drift.to_string()).await?)
                    }
                    None => observed.map(|p| p.default_version),
                }
            }
        };
        if plan.attach {
            attached_already(
                target
                    .cloud
                    .ram()
                    .attach_policy_to_role(CloudType::Custom, &inline.ram_name, &desired.role_name)
                    .await,
            )?;
            target
                .normal(
                    "PolicyAttached",
                    "AttachPolicyToRole",
                    format!(
                        "attached inline policy {} to role {}",
                        inline.ram_name, desired.role_name
                    ),
                )
                .await;
        }
        statuses.push(InlinePolicyStatus {
            name: inline.ram_name.clone(),
            default_version,
        });
    }
    for name in diff::removed_inline(&owned, &desired.inline) {
        delete_inline_policy(target, &desired.role_name, &name).await?;
    }
    Ok(statuses)
}

async fn create_policy(target: &Target<'_>, inline: &DesiredInline) -> Result<String, Error> {
    let request = CreatePolicyRequest {
        policy_name: inline.ram_name.clone(),
        policy_document: inline.document.to_json(),
        description: inline.description.clone(),
        tags: vec![target.owner_tag()],
    };
    let policy = target.cloud.ram().create_policy(&request).await?;
    target
        .normal(
            "InlinePolicyCreated",
            "CreatePolicy",
            format!(
                "created custom policy {} for inline policy {}",
                inline.ram_name, inline.spec_name
            ),
        )
        .await;
    Ok(if policy.default_version.is_empty() {
        "v1".to_string()
    } else {
        policy.default_version
    })
}

async fn new_policy_version(
    target: &Target<'_>,
    inline: &DesiredInline,
    drift: &str,
) -> Result<String, Error> {
    let request = CreatePolicyVersionRequest {
        policy_name: inline.ram_name.clone(),
        policy_document: inline.document.to_json(),
        set_as_default: true,
        // RAM keeps 5 versions; the oldest non-default one makes room, the default never goes.
        rotate_strategy: RotateStrategy::DeleteOldestNonDefaultVersionWhenLimitExceeded,
    };
    let version = target.cloud.ram().create_policy_version(&request).await?;
    target
        .normal(
            "InlinePolicyUpdated",
            "CreatePolicyVersion",
            format!(
                "custom policy {} has a new default version {}: {drift}",
                inline.ram_name, version.version_id
            ),
        )
        .await;
    Ok(version.version_id)
}

async fn adopt_policy(target: &Target<'_>, inline: &DesiredInline) -> Result<(), Error> {
    target
        .cloud
        .ram()
        .tag_resources(
            TagResourceType::Policy,
            std::slice::from_ref(&inline.ram_name),
            &[target.owner_tag()],
        )
        .await?;
    target
        .normal(
            "InlinePolicyAdopted",
            "TagResources",
            format!("adopted the existing custom policy {}", inline.ram_name),
        )
        .await;
    Ok(())
}

/// Detaches an owned custom policy from the role and deletes it with all its versions.
pub async fn delete_inline_policy(
    target: &Target<'_>,
    role_name: &str,
    policy_name: &str,
) -> Result<(), Error> {
    let ram = target.cloud.ram();
    gone_already(
        ram.detach_policy_from_role(CloudType::Custom, policy_name, role_name)
            .await,
    )?;
    gone_already(ram.delete_policy(policy_name, true).await)?;
    target
        .normal(
            "InlinePolicyDeleted",
            "DeletePolicy",
            format!("detached and deleted custom policy {policy_name} (all versions)"),
        )
        .await;
    Ok(())
}

/// The account of the credentials: cached in status, asked of STS (`GetCallerIdentity`) only
/// when unknown or when the role's ARN shows another account (the credentials changed).
async fn account_id(
    target: &Target<'_>,
    previous: &CrossAccountRoleStatus,
    role_arn: &str,
) -> Result<Option<String>, Error> {
    let arn_account = account_of_arn(role_arn);
    if let Some(cached) = &previous.account_id
        && arn_account.as_ref().is_none_or(|account| account == cached)
    {
        return Ok(Some(cached.clone()));
    }
    let identity = target
        .ctx
        .cloud
        .sts(target.cloud.credentials)
        .get_caller_identity()
        .await?;
    Ok(Some(identity.account_id).filter(|id| !id.is_empty()))
}

/// The Switch Role form: cached in status while the account stays the same. Best effort: a
/// caller without `ims:GetDefaultDomain` still gets a working role, without the console hint.
async fn switch_role(
    target: &Target<'_>,
    previous: &CrossAccountRoleStatus,
    account_id: Option<&str>,
    role_name: &str,
) -> Option<SwitchRole> {
    if let Some(cached) = &previous.switch_role
        && previous.account_id.as_deref() == account_id
        && cached.role_name == role_name
    {
        return Some(cached.clone());
    }
    let ims = target.ctx.cloud.ims(target.cloud.credentials);
    match ims.get_default_domain().await {
        Ok(domain) if !domain.is_empty() => Some(status::switch_role(&domain, role_name)),
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(%error, "cannot read the default domain; status.switchRole stays empty");
            None
        }
    }
}
