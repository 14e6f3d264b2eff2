//! What every operation shares: the per-request context, the permission check of a caller
//! against the store, name validation, tag parameters, pagination and JSON views of roles,
//! users and policies.
//!
//! Knows the store and the policy evaluator, not HTTP or signatures.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::auth::{Caller, Identity};
use super::authz::{self, ConditionContext, Decision, DocKind, PolicyDocument};
use super::errors::{ApiError, ApiResult};
use super::oidc::OidcProvider;
use super::request::ApiRequest;
use super::state::{Account, Attachment, Role, User, World};
use crate::alicloud::signature::format_timestamp;

/// Everything an operation may use.
pub struct Ctx<'a> {
    /// The store, locked for this request.
    pub world: &'a mut World,
    /// Who calls.
    pub caller: &'a Caller,
    /// The emulator's clock for this request.
    pub now: Timestamp,
    /// `--expiry-scale`.
    pub expiry_scale: f64,
    /// Registered OIDC providers.
    pub oidc: &'a [OidcProvider],
}

/// `YYYY-MM-DDThh:mm:ssZ`.
pub fn ts(at: Timestamp) -> String {
    format_timestamp(at)
}

/// RAM resource ARN used in permission policies, e.g. `acs:ram:*:<id>:role/<name>`.
pub fn ram_resource(account: &str, kind: &str, name: &str) -> String {
    format!("acs:ram:*:{account}:{kind}/{name}")
}

/// Role ARN as the API returns it.
pub fn role_arn(account: &str, role_name: &str) -> String {
    format!("acs:ram::{account}:role/{role_name}")
}

fn system_documents() -> &'static HashMap<String, PolicyDocument> {
    static DOCS: OnceLock<HashMap<String, PolicyDocument>> = OnceLock::new();
    DOCS.get_or_init(|| {
        authz::SYSTEM_POLICIES
            .iter()
            .filter_map(|(name, _, text)| {
                authz::parse(text, DocKind::Permission)
                    .ok()
                    .map(|d| (name.to_ascii_lowercase(), d))
            })
            .collect()
    })
}

fn attached_documents(account: &Account, attached: &[Attachment]) -> Vec<PolicyDocument> {
    attached
        .iter()
        .filter_map(|a| {
            if a.policy_type == "System" {
                system_documents()
                    .get(&a.policy_name.to_ascii_lowercase())
                    .cloned()
            } else {
                let policy = account.policies.get(&a.policy_name.to_ascii_lowercase())?;
                authz::parse(
                    &policy.default_document()?.policy_document,
                    DocKind::Permission,
                )
                .ok()
            }
        })
        .collect()
}

fn denied(caller: &Caller, action: &str, explicit: bool) -> ApiError {
    let (kind, name) = match &caller.identity {
        Identity::User { user_name, .. } => ("SubUser", user_name.clone()),
        Identity::Role {
            role_name,
            session_name,
            ..
        } => ("AssumedRoleUser", format!("{role_name}/{session_name}")),
        Identity::Root => ("Account", caller.account.clone()),
        Identity::Anonymous => ("Anonymous", String::new()),
    };
    ApiError::no_permission(Some(json!({
        "AuthAction": action,
        "AuthPrincipalType": kind,
        "AuthPrincipalDisplayName": name,
        "AuthPrincipalOwnerId": caller.account,
        "NoPermissionType": if explicit { "ExplicitDeny" } else { "ImplicitDeny" },
        "PolicyType": "AccountLevelIdentityBasedPolicy",
    })))
}

/// Whether `caller` may do `action` on `resource`: root keys may do anything in their account;
/// RAM users by their attached policies; role sessions by the role's policies intersected with
/// the session policy. Explicit Deny wins everywhere.
pub fn authorize(
    world: &World,
    caller: &Caller,
    action: &str,
    resource: &str,
    context: &ConditionContext,
) -> ApiResult<()> {
    let account = world
        .accounts
        .get(&caller.account)
        .ok_or_else(|| denied(caller, action, false))?;
    let decision = match &caller.identity {
        Identity::Root => Decision::Allow,
        Identity::Anonymous => Decision::ImplicitDeny,
        Identity::User { user_id, .. } => match account.user_by_id(user_id) {
            Some(user) => {
                let docs = attached_documents(account, &user.attached);
                let refs: Vec<&PolicyDocument> = docs.iter().collect();
                authz::evaluate(&refs, action, resource, context)
            }
            None => Decision::ImplicitDeny,
        },
        Identity::Role {
            role_name,
            session_policy,
            ..
        } => match account.roles.get(&role_name.to_ascii_lowercase()) {
            Some(role) => {
                let docs = attached_documents(account, &role.attached);
                let refs: Vec<&PolicyDocument> = docs.iter().collect();
                let by_role = authz::evaluate(&refs, action, resource, context);
                match session_policy
                    .as_deref()
                    .and_then(|p| authz::parse(p, DocKind::Permission).ok())
                {
                    None => by_role,
                    Some(session) => {
                        let by_session = authz::evaluate(&[&session], action, resource, context);
                        match (by_role, by_session) {
                            (Decision::ExplicitDeny, _) | (_, Decision::ExplicitDeny) => {
                                Decision::ExplicitDeny
                            }
                            (Decision::Allow, Decision::Allow) => Decision::Allow,
                            _ => Decision::ImplicitDeny,
                        }
                    }
                }
            }
            None => Decision::ImplicitDeny,
        },
    };
    match decision {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny => Err(denied(caller, action, true)),
        Decision::ImplicitDeny => Err(denied(caller, action, false)),
    }
}

impl Ctx<'_> {
    /// The caller's account (every RAM / IMS operation acts there).
    pub fn account(&mut self) -> ApiResult<&mut Account> {
        self.world
            .accounts
            .get_mut(&self.caller.account)
            .ok_or_else(|| ApiError::no_permission(None))
    }

    /// Checks `ram:<action>` on a resource of the caller's account (`*` for account-wide).
    pub fn allow(&self, action: &str, kind: &str, name: &str) -> ApiResult<()> {
        let resource = if kind.is_empty() {
            "*".to_string()
        } else {
            ram_resource(&self.caller.account, kind, name)
        };
        authorize(
            self.world,
            self.caller,
            &format!("ram:{action}"),
            &resource,
            &ConditionContext::new(),
        )
    }
}

fn check_name(
    value: &str,
    field: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> ApiResult<()> {
    let length = value.chars().count();
    if length == 0 || length > max {
        return Err(ApiError::invalid(
            &format!("{field}.Length"),
            format!("The length of {field} must be 1-{max} characters."),
        ));
    }
    if !value.chars().all(allowed) {
        return Err(ApiError::invalid(
            &format!("{field}.InvalidChars"),
            format!("{field} contains invalid characters."),
        ));
    }
    Ok(())
}

/// RoleName: 1-64 letters, digits, `.`, `-`.
pub fn check_role_name(value: &str, field: &str) -> ApiResult<()> {
    check_name(value, field, 64, |c| {
        c.is_ascii_alphanumeric() || c == '.' || c == '-'
    })
}

/// UserName: 1-64 letters, digits, `.`, `-`, `_`.
pub fn check_user_name(value: &str, field: &str) -> ApiResult<()> {
    check_name(value, field, 64, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
    })
}

/// Custom PolicyName: 1-128 letters, digits, `-`.
pub fn check_policy_name(value: &str) -> ApiResult<()> {
    check_name(value, "PolicyName", 128, |c| {
        c.is_ascii_alphanumeric() || c == '-'
    })
}

/// A free-text field's length.
pub fn check_length(value: &str, field: &str, max: usize) -> ApiResult<()> {
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            &format!("{field}.Length"),
            format!("The length of {field} must not exceed {max} characters."),
        ));
    }
    Ok(())
}

/// Parses a permission policy document, with the RAM size limit.
pub fn check_policy_document(text: &str, field: &str) -> ApiResult<()> {
    if text.chars().count() > 6144 {
        return Err(ApiError::invalid(
            &format!("{field}.Length"),
            format!("The length of {field} must not exceed 6144 characters."),
        ));
    }
    authz::parse(text, DocKind::Permission)
        .map(|_| ())
        .map_err(|e| ApiError::malformed_policy(&e))
}

/// Parses a trust policy document (max 2048 characters).
pub fn check_trust_document(text: &str, field: &str) -> ApiResult<()> {
    if text.chars().count() > 2048 {
        return Err(ApiError::invalid(
            &format!("{field}.Length"),
            format!("The length of {field} must not exceed 2048 characters."),
        ));
    }
    authz::parse(text, DocKind::Trust)
        .map(|_| ())
        .map_err(|e| ApiError::malformed_policy(&e))
}

/// Tags from either the JSON-array `Tag` parameter (RAM, Tea style) or `Tag.N.Key/Value`.
pub fn tags_param(request: &ApiRequest, name: &str) -> ApiResult<Vec<(String, String)>> {
    let tags = match request.optional(name) {
        Some(text) => {
            let items: Vec<Value> = serde_json::from_str(text).map_err(|_| {
                ApiError::invalid(name, format!("{name} must be a JSON array of Key/Value."))
            })?;
            items
                .iter()
                .map(|item| {
                    let key = item.get("Key").and_then(Value::as_str);
                    let value = item.get("Value").and_then(Value::as_str).unwrap_or("");
                    key.map(|k| (k.to_string(), value.to_string()))
                        .ok_or_else(|| {
                            ApiError::invalid(&format!("{name}.Key"), "Every tag needs a Key.")
                        })
                })
                .collect::<ApiResult<Vec<_>>>()?
        }
        None => request.flat_tags(name),
    };
    check_tags(&tags)?;
    Ok(tags)
}

/// Tag rules: at most 20, key 1-128 without the reserved prefixes, value up to 128.
pub fn check_tags(tags: &[(String, String)]) -> ApiResult<()> {
    if tags.len() > 20 {
        return Err(ApiError::invalid(
            "Tag.Size",
            "At most 20 tags are allowed.",
        ));
    }
    for (key, value) in tags {
        let lower = key.to_ascii_lowercase();
        if key.is_empty()
            || key.chars().count() > 128
            || lower.starts_with("aliyun")
            || lower.starts_with("acs:")
            || lower.starts_with("http://")
            || lower.starts_with("https://")
        {
            return Err(ApiError::invalid(
                "Tag.Key",
                format!("The tag key {key:?} is invalid."),
            ));
        }
        if value.chars().count() > 128 {
            return Err(ApiError::invalid(
                "Tag.Value",
                "A tag value is longer than 128 characters.",
            ));
        }
    }
    Ok(())
}

/// Adds tags to a map, refusing to exceed 20 tags in total.
pub fn apply_tags(
    target: &mut BTreeMap<String, String>,
    tags: &[(String, String)],
) -> ApiResult<()> {
    let mut merged = target.clone();
    merged.extend(tags.iter().cloned());
    if merged.len() > 20 {
        return Err(ApiError::conflict(
            "LimitExceeded.Tag",
            "A resource can hold at most 20 tags.",
        ));
    }
    *target = merged;
    Ok(())
}

/// `{"Tag":[{"TagKey","TagValue"}]}`.
pub fn tags_json(tags: &BTreeMap<String, String>) -> Value {
    json!({"Tag": tags.iter().map(|(k, v)| json!({"TagKey": k, "TagValue": v})).collect::<Vec<_>>()})
}

/// `Marker` / `MaxItems` pagination over items sorted by key: (page, next marker).
pub fn paginate<'a, T>(
    items: impl Iterator<Item = (&'a String, T)>,
    request: &ApiRequest,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let max = request.int_param("MaxItems")?.unwrap_or(100);
    if !(1..=1000).contains(&max) {
        return Err(ApiError::invalid("MaxItems", "MaxItems must be 1-1000."));
    }
    let marker = request.optional("Marker").map(str::to_string);
    let mut page = Vec::new();
    let mut next = None;
    for (key, item) in items {
        if marker.as_deref().is_some_and(|m| key.as_str() < m) {
            continue;
        }
        if page.len() as i64 == max {
            next = Some(key.clone());
            break;
        }
        page.push(item);
    }
    Ok((page, next))
}

/// A role as `GetRole` / `CreateRole` return it.
pub fn role_json(account: &str, role: &Role) -> Value {
    json!({
        "RoleId": role.role_id,
        "RoleName": role.role_name,
        "Arn": role_arn(account, &role.role_name),
        "Description": role.description,
        "AssumeRolePolicyDocument": role.assume_role_policy_document,
        "CreateDate": ts(role.create_date),
        "UpdateDate": ts(role.update_date),
        "MaxSessionDuration": role.max_session_duration,
    })
}

/// A user as RAM shows it.
pub fn ram_user_json(user: &User) -> Value {
    json!({
        "UserId": user.user_id,
        "UserName": user.user_name,
        "DisplayName": user.display_name,
        "Email": user.email,
        "MobilePhone": user.mobile_phone,
        "Comments": user.comments,
        "CreateDate": ts(user.create_date),
        "UpdateDate": ts(user.update_date),
    })
}

/// `Policies.Policy[]` of attached policies.
pub fn attachments_json(account: &Account, attached: &[Attachment]) -> Value {
    let items: Vec<Value> = attached
        .iter()
        .map(|a| {
            let (description, default_version) = if a.policy_type == "System" {
                (
                    authz::system_policy(&a.policy_name)
                        .map(|p| p.1)
                        .unwrap_or_default()
                        .to_string(),
                    "v1".to_string(),
                )
            } else {
                account
                    .policies
                    .get(&a.policy_name.to_ascii_lowercase())
                    .map(|p| (p.description.clone(), p.default_version.clone()))
                    .unwrap_or_default()
            };
            json!({
                "PolicyName": a.policy_name,
                "PolicyType": a.policy_type,
                "Description": description,
                "DefaultVersion": default_version,
                "AttachDate": ts(a.attach_date),
            })
        })
        .collect();
    json!({"Policy": items})
}

/// Resolves `PolicyType` + `PolicyName` to the canonical name, or the RAM error.
pub fn resolve_policy(account: &Account, policy_type: &str, name: &str) -> ApiResult<String> {
    let missing = || ApiError::not_found("EntityNotExist.Policy", "The policy does not exist.");
    match policy_type {
        "System" => authz::system_policy(name)
            .map(|p| p.0.to_string())
            .ok_or_else(missing),
        "Custom" => account
            .policies
            .get(&name.to_ascii_lowercase())
            .map(|p| p.policy_name.clone())
            .ok_or_else(missing),
        _ => Err(ApiError::invalid(
            "PolicyType",
            "PolicyType must be System or Custom.",
        )),
    }
}
