//! The JSON view of `/_emulator/state`: every account's roles (trust documents, attached
//! policies, tags), custom policies with versions, users (login profile, access key ids and
//! status, attached policies, tags), password policy, and the STS credentials issued with their
//! expiry. Secrets, passwords and security tokens are never part of it.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::common::{role_arn, ts};
use super::state::{Attachment, World};

fn attachments(attached: &[Attachment]) -> Vec<Value> {
    attached
        .iter()
        .map(|a| json!({"policyName": a.policy_name, "policyType": a.policy_type, "attachDate": ts(a.attach_date)}))
        .collect()
}

/// The state view at `now`.
pub fn state_view(world: &World, now: Timestamp) -> Value {
    let accounts: Vec<Value> = world
        .accounts
        .values()
        .map(|account| {
            let domain = account.default_domain();
            let roles: Vec<Value> = account
                .roles
                .values()
                .map(|r| {
                    json!({
                        "roleName": r.role_name,
                        "roleId": r.role_id,
                        "arn": role_arn(&account.id, &r.role_name),
                        "description": r.description,
                        "assumeRolePolicyDocument": r.assume_role_policy_document,
                        "maxSessionDuration": r.max_session_duration,
                        "createDate": ts(r.create_date),
                        "updateDate": ts(r.update_date),
                        "attachedPolicies": attachments(&r.attached),
                        "tags": r.tags,
                    })
                })
                .collect();
            let policies: Vec<Value> = account
                .policies
                .values()
                .map(|p| {
                    json!({
                        "policyName": p.policy_name,
                        "description": p.description,
                        "defaultVersion": p.default_version,
                        "versions": p.versions.iter().map(|v| json!({
                            "versionId": v.version_id,
                            "policyDocument": v.policy_document,
                            "createDate": ts(v.create_date),
                        })).collect::<Vec<_>>(),
                        "tags": p.tags,
                    })
                })
                .collect();
            let users: Vec<Value> = account
                .users
                .values()
                .map(|u| {
                    json!({
                        "userName": u.user_name,
                        "userId": u.user_id,
                        "userPrincipalName": format!("{}@{domain}", u.user_name),
                        "displayName": u.display_name,
                        "comments": u.comments,
                        "loginProfile": u.login_profile.as_ref().map(|p| json!({
                            "status": p.status,
                            "passwordResetRequired": p.password_reset_required,
                            "mfaBindRequired": p.mfa_bind_required,
                        })),
                        "accessKeys": u.access_keys.iter().map(|k| json!({
                            "accessKeyId": k.access_key_id,
                            "status": k.status,
                            "createDate": ts(k.create_date),
                        })).collect::<Vec<_>>(),
                        "attachedPolicies": attachments(&u.attached),
                        "tags": u.tags,
                    })
                })
                .collect();
            json!({
                "id": account.id,
                "alias": account.alias,
                "defaultDomain": domain,
                "roles": roles,
                "policies": policies,
                "users": users,
                "passwordPolicy": account.password_policy,
            })
        })
        .collect();
    let mut sessions: Vec<&super::state::StsSession> = world.sessions.values().collect();
    sessions.sort_by_key(|s| (s.issued_at, s.access_key_id.clone()));
    let credentials: Vec<Value> = sessions
        .into_iter()
        .map(|s| {
            json!({
                "accessKeyId": s.access_key_id,
                "roleArn": role_arn(&s.account, &s.role_name),
                "roleSessionName": s.session_name,
                "issuedTo": s.issued_to,
                "issuedAt": ts(s.issued_at),
                "expiration": ts(s.expiration),
                "expired": now >= s.expiration,
                "hasSessionPolicy": s.policy.is_some(),
            })
        })
        .collect();
    json!({"now": ts(now), "accounts": accounts, "stsCredentials": credentials})
}
