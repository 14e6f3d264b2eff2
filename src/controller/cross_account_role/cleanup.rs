//! The cleanup path, run while the finalizer holds a deleted `CrossAccountRole`.
//!
//! `Orphan` leaves everything. `Delete` removes the role only when it carries this object's
//! ownership tag: every policy is detached (also ones others attached: RAM refuses to delete a
//! role with attachments, and the role is going away), the owned custom policies are deleted
//! with all their versions, then the role. A role that is already gone counts as deleted; a
//! role this object does not own is never touched. Spec validation never blocks cleanup.

use crate::controller::error::Error;
use crate::crd::{CrossAccountRole, DeletionPolicy};

use super::apply::{Target, delete_inline_policy};
use super::cloud::gone_already;
use super::desired::cloud_policy_type;

/// What cleanup decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    Deleted,
    AlreadyGone,
    NotOwned,
}

/// Carries out `spec.deletionPolicy`.
pub async fn cleanup(target: &Target<'_>, object: &CrossAccountRole) -> Result<Cleanup, Error> {
    let role_name = object.role_name();
    let ram = target.cloud.ram();
    let Some(role) = target.cloud.observe_role(role_name).await? else {
        // Custom policies left by an interrupted cleanup are still ours to remove.
        for name in target.cloud.owned_policies(&target.owner).await? {
            delete_inline_policy(target, role_name, &name).await?;
        }
        return Ok(Cleanup::AlreadyGone);
    };
    if role.owner.as_deref() != Some(target.owner.as_str()) {
        return Ok(Cleanup::NotOwned);
    }
    let owned = target.cloud.owned_policies(&target.owner).await?;
    for policy in &role.attached {
        let is_owned_inline = policy.policy_type == crate::crd::PolicyType::Custom
            && owned
                .iter()
                .any(|name| name.eq_ignore_ascii_case(&policy.name));
        if is_owned_inline {
            continue;
        }
        gone_already(
            ram.detach_policy_from_role(
                cloud_policy_type(policy.policy_type),
                &policy.name,
                role_name,
            )
            .await,
        )?;
    }
    for name in &owned {
        delete_inline_policy(target, role_name, name).await?;
    }
    gone_already(ram.delete_role(role_name).await)?;
    Ok(Cleanup::Deleted)
}

/// Whether the object asks to leave its role behind.
pub fn orphans(object: &CrossAccountRole) -> bool {
    object.spec.deletion_policy == DeletionPolicy::Orphan
}
