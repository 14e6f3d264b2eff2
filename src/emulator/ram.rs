//! RAM (`2015-05-01`) operations: roles, custom policies with versions, users, login profiles,
//! access keys, password policy and tags of roles and policies.
//!
//! Each operation checks the caller's permission, validates parameters, changes the store and
//! returns the response body (without `RequestId`). Knows nothing of HTTP or signatures.

use serde_json::{Value, json};

use super::auth::Identity;
use super::authz;
use super::common::{
    Ctx, apply_tags, attachments_json, check_length, check_policy_document, check_policy_name,
    check_role_name, check_trust_document, check_user_name, paginate, ram_user_json,
    resolve_policy, role_arn, role_json, tags_json, tags_param, ts,
};
use super::errors::{ApiError, ApiResult};
use super::request::ApiRequest;
use super::state::{Attachment, CustomPolicy, PasswordPolicy, PolicyVersion, Role, ids};
use super::users::{self, NewUser, ProfileInput};

/// Runs a RAM operation; `None` when the action does not exist.
pub fn handle(request: &ApiRequest, ctx: &mut Ctx<'_>) -> Option<ApiResult<Value>> {
    let r = request;
    Some(match request.action.as_str() {
        "CreateRole" => create_role(r, ctx),
        "GetRole" => get_role(r, ctx),
        "UpdateRole" => update_role(r, ctx),
        "DeleteRole" => delete_role(r, ctx),
        "ListRoles" => list_roles(r, ctx),
        "AttachPolicyToRole" => attach(r, ctx, Target::Role),
        "DetachPolicyFromRole" => detach(r, ctx, Target::Role),
        "ListPoliciesForRole" => list_attached(r, ctx, Target::Role),
        "AttachPolicyToUser" => attach(r, ctx, Target::User),
        "DetachPolicyFromUser" => detach(r, ctx, Target::User),
        "ListPoliciesForUser" => list_attached(r, ctx, Target::User),
        "CreatePolicy" => create_policy(r, ctx),
        "GetPolicy" => get_policy(r, ctx),
        "DeletePolicy" => delete_policy(r, ctx),
        "CreatePolicyVersion" => create_policy_version(r, ctx),
        "ListPolicyVersions" => list_policy_versions(r, ctx),
        "DeletePolicyVersion" => delete_policy_version(r, ctx),
        "SetDefaultPolicyVersion" => set_default_policy_version(r, ctx),
        "CreateUser" => create_user(r, ctx),
        "GetUser" => get_user(r, ctx),
        "UpdateUser" => update_user(r, ctx),
        "DeleteUser" => delete_user(r, ctx),
        "ListUsers" => list_users(r, ctx),
        "CreateLoginProfile" => create_login_profile(r, ctx),
        "GetLoginProfile" => get_login_profile(r, ctx),
        "UpdateLoginProfile" => update_login_profile(r, ctx),
        "DeleteLoginProfile" => delete_login_profile(r, ctx),
        "CreateAccessKey" => create_access_key(r, ctx),
        "ListAccessKeys" => list_access_keys(r, ctx),
        "UpdateAccessKey" => update_access_key(r, ctx),
        "DeleteAccessKey" => delete_access_key(r, ctx),
        "GetPasswordPolicy" => get_password_policy(ctx),
        "SetPasswordPolicy" => set_password_policy(r, ctx),
        "TagResources" => tag_resources(r, ctx),
        "UntagResources" => untag_resources(r, ctx),
        "ListTagResources" => list_tag_resources(r, ctx),
        _ => return None,
    })
}

fn no_such_role() -> ApiError {
    ApiError::not_found("EntityNotExist.Role", "The role does not exist.")
}

fn no_such_policy() -> ApiError {
    ApiError::not_found("EntityNotExist.Policy", "The policy does not exist.")
}

fn max_session_duration(value: Option<i64>, field: &str) -> ApiResult<Option<i64>> {
    match value {
        Some(v) if !(3600..=43200).contains(&v) => Err(ApiError::invalid(
            field,
            format!("{field} must be 3600-43200 seconds."),
        )),
        other => Ok(other),
    }
}

fn create_role(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("RoleName")?;
    check_role_name(name, "RoleName")?;
    ctx.allow("CreateRole", "role", name)?;
    let trust = r.required("AssumeRolePolicyDocument")?;
    check_trust_document(trust, "AssumeRolePolicyDocument")?;
    let description = r.optional("Description").unwrap_or_default();
    check_length(description, "Description", 1024)?;
    let max = max_session_duration(r.int_param("MaxSessionDuration")?, "MaxSessionDuration")?
        .unwrap_or(3600);
    let tags = tags_param(r, "Tag")?;
    let now = ctx.now;
    let account_id = ctx.caller.account.clone();
    let account = ctx.account()?;
    let key = name.to_ascii_lowercase();
    if account.roles.contains_key(&key) {
        return Err(ApiError::conflict(
            "EntityAlreadyExists.Role",
            "The role already exists.",
        ));
    }
    if account.roles.len() >= 1000 {
        return Err(ApiError::conflict(
            "LimitExceeded.Role",
            "The count of roles has exceeded the limit.",
        ));
    }
    let mut role = Role {
        role_id: ids::role_id(),
        role_name: name.to_string(),
        description: description.to_string(),
        assume_role_policy_document: trust.to_string(),
        max_session_duration: max,
        create_date: now,
        update_date: now,
        attached: Vec::new(),
        tags: Default::default(),
    };
    apply_tags(&mut role.tags, &tags)?;
    let body = role_json(&account_id, &role);
    account.roles.insert(key, role);
    Ok(json!({ "Role": body }))
}

fn get_role(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("RoleName")?;
    ctx.allow("GetRole", "role", name)?;
    let account_id = ctx.caller.account.clone();
    let account = ctx.account()?;
    let role = account
        .roles
        .get(&name.to_ascii_lowercase())
        .ok_or_else(no_such_role)?;
    Ok(json!({ "Role": role_json(&account_id, role) }))
}

fn update_role(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("RoleName")?;
    ctx.allow("UpdateRole", "role", name)?;
    let trust = r.optional("NewAssumeRolePolicyDocument");
    if let Some(trust) = trust {
        check_trust_document(trust, "NewAssumeRolePolicyDocument")?;
    }
    let max = max_session_duration(
        r.int_param("NewMaxSessionDuration")?,
        "NewMaxSessionDuration",
    )?;
    let description = r.optional("NewDescription");
    if let Some(d) = description {
        check_length(d, "NewDescription", 1024)?;
    }
    let now = ctx.now;
    let account_id = ctx.caller.account.clone();
    let account = ctx.account()?;
    let role = account
        .roles
        .get_mut(&name.to_ascii_lowercase())
        .ok_or_else(no_such_role)?;
    if let Some(trust) = trust {
        role.assume_role_policy_document = trust.to_string();
    }
    if let Some(max) = max {
        role.max_session_duration = max;
    }
    if let Some(d) = description {
        role.description = d.to_string();
    }
    role.update_date = now;
    Ok(json!({ "Role": role_json(&account_id, role) }))
}

fn delete_role(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("RoleName")?;
    ctx.allow("DeleteRole", "role", name)?;
    let account = ctx.account()?;
    let key = name.to_ascii_lowercase();
    let role = account.roles.get(&key).ok_or_else(no_such_role)?;
    if !role.attached.is_empty() {
        return Err(ApiError::conflict(
            "DeleteConflict.Role.Policy",
            "The role still has policies attached; detach them first.",
        ));
    }
    account.roles.remove(&key);
    Ok(json!({}))
}

fn list_roles(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    ctx.allow("ListRoles", "", "")?;
    let filter = tags_param(r, "Tag")?;
    let account_id = ctx.caller.account.clone();
    let account = ctx.account()?;
    let matching = account.roles.iter().filter(|(_, role)| {
        filter
            .iter()
            .all(|(k, v)| role.tags.get(k).is_some_and(|t| v.is_empty() || t == v))
    });
    let (page, next) = paginate(matching, r)?;
    let items: Vec<Value> = page
        .into_iter()
        .map(|role| {
            let mut item = role_json(&account_id, role);
            if let Some(map) = item.as_object_mut() {
                map.remove("AssumeRolePolicyDocument");
                map.insert("Tags".to_string(), tags_json(&role.tags));
            }
            item
        })
        .collect();
    let mut body = json!({ "IsTruncated": next.is_some(), "Roles": {"Role": items} });
    if let (Some(marker), Some(map)) = (next, body.as_object_mut()) {
        map.insert("Marker".to_string(), json!(marker));
    }
    Ok(body)
}

#[derive(Clone, Copy)]
enum Target {
    Role,
    User,
}

impl Target {
    fn param(self) -> &'static str {
        match self {
            Self::Role => "RoleName",
            Self::User => "UserName",
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Self::Role => "role",
            Self::User => "user",
        }
    }
    fn entity(self) -> &'static str {
        match self {
            Self::Role => "Role",
            Self::User => "User",
        }
    }
}

fn attachments_mut<'a>(
    account: &'a mut super::state::Account,
    target: Target,
    name: &str,
) -> ApiResult<&'a mut Vec<Attachment>> {
    let key = name.to_ascii_lowercase();
    match target {
        Target::Role => account
            .roles
            .get_mut(&key)
            .map(|r| &mut r.attached)
            .ok_or_else(no_such_role),
        Target::User => account
            .users
            .get_mut(&key)
            .map(|u| &mut u.attached)
            .ok_or_else(users::no_such_user),
    }
}

fn attach(r: &ApiRequest, ctx: &mut Ctx<'_>, target: Target) -> ApiResult<Value> {
    let name = r.required(target.param())?;
    let policy_type = r.required("PolicyType")?;
    let policy_name = r.required("PolicyName")?;
    let action = format!("AttachPolicyTo{}", target.entity());
    ctx.allow(&action, target.kind(), name)?;
    let now = ctx.now;
    let account = ctx.account()?;
    let canonical = resolve_policy(account, policy_type, policy_name)?;
    let attached = attachments_mut(account, target, name)?;
    if attached
        .iter()
        .any(|a| a.policy_type == policy_type && a.policy_name.eq_ignore_ascii_case(&canonical))
    {
        return Err(ApiError::conflict(
            format!("EntityAlreadyExists.{}.Policy", target.entity()),
            format!("The policy is already attached to the {}.", target.kind()),
        ));
    }
    let limit = if policy_type == "System" { 20 } else { 10 };
    if attached
        .iter()
        .filter(|a| a.policy_type == policy_type)
        .count()
        >= limit
    {
        return Err(ApiError::conflict(
            format!("LimitExceeded.{}.Policy", target.entity()),
            "The count of attached policies has exceeded the limit.",
        ));
    }
    attached.push(Attachment {
        policy_name: canonical,
        policy_type: policy_type.to_string(),
        attach_date: now,
    });
    Ok(json!({}))
}

fn detach(r: &ApiRequest, ctx: &mut Ctx<'_>, target: Target) -> ApiResult<Value> {
    let name = r.required(target.param())?;
    let policy_type = r.required("PolicyType")?;
    let policy_name = r.required("PolicyName")?;
    let action = format!("DetachPolicyFrom{}", target.entity());
    ctx.allow(&action, target.kind(), name)?;
    let account = ctx.account()?;
    let canonical = resolve_policy(account, policy_type, policy_name)?;
    let attached = attachments_mut(account, target, name)?;
    let before = attached.len();
    attached.retain(|a| {
        !(a.policy_type == policy_type && a.policy_name.eq_ignore_ascii_case(&canonical))
    });
    if attached.len() == before {
        return Err(ApiError::not_found(
            format!("EntityNotExist.{}.Policy", target.entity()),
            format!("The policy is not attached to the {}.", target.kind()),
        ));
    }
    Ok(json!({}))
}

fn list_attached(r: &ApiRequest, ctx: &mut Ctx<'_>, target: Target) -> ApiResult<Value> {
    let name = r.required(target.param())?;
    let action = format!("ListPoliciesFor{}", target.entity());
    ctx.allow(&action, target.kind(), name)?;
    let account = ctx.account()?;
    let attached = attachments_mut(account, target, name)?.clone();
    Ok(json!({ "Policies": attachments_json(account, &attached) }))
}

fn policy_json(policy: &CustomPolicy, attachment_count: usize) -> Value {
    json!({
        "PolicyName": policy.policy_name,
        "PolicyType": "Custom",
        "Description": policy.description,
        "DefaultVersion": policy.default_version,
        "CreateDate": ts(policy.create_date),
        "UpdateDate": ts(policy.update_date),
        "AttachmentCount": attachment_count,
        "PolicyDocument": policy.default_document().map(|v| v.policy_document.clone()).unwrap_or_default(),
    })
}

fn version_json(version: &PolicyVersion, default: &str) -> Value {
    json!({
        "VersionId": version.version_id,
        "IsDefaultVersion": version.version_id == default,
        "PolicyDocument": version.policy_document,
        "CreateDate": ts(version.create_date),
    })
}

fn attachment_count(
    account: &super::state::Account,
    policy_type: &str,
    name: &str,
) -> (usize, usize) {
    let matches =
        |a: &Attachment| a.policy_type == policy_type && a.policy_name.eq_ignore_ascii_case(name);
    let roles = account
        .roles
        .values()
        .filter(|r| r.attached.iter().any(matches))
        .count();
    let users = account
        .users
        .values()
        .filter(|u| u.attached.iter().any(matches))
        .count();
    (roles, users)
}

fn create_policy(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("PolicyName")?;
    check_policy_name(name)?;
    ctx.allow("CreatePolicy", "policy", name)?;
    let document = r.required("PolicyDocument")?;
    check_policy_document(document, "PolicyDocument")?;
    let description = r.optional("Description").unwrap_or_default();
    check_length(description, "Description", 1024)?;
    let tags = tags_param(r, "Tag")?;
    let now = ctx.now;
    let account = ctx.account()?;
    let key = name.to_ascii_lowercase();
    if account.policies.contains_key(&key) || authz::system_policy(name).is_some() {
        return Err(ApiError::conflict(
            "EntityAlreadyExists.Policy",
            "The policy already exists.",
        ));
    }
    if account.policies.len() >= 1500 {
        return Err(ApiError::conflict(
            "LimitExceeded.Policy",
            "The count of policies has exceeded the limit.",
        ));
    }
    let mut policy = CustomPolicy {
        policy_name: name.to_string(),
        description: description.to_string(),
        versions: vec![PolicyVersion {
            version_id: "v1".to_string(),
            policy_document: document.to_string(),
            create_date: now,
        }],
        default_version: "v1".to_string(),
        next_version: 2,
        create_date: now,
        update_date: now,
        tags: Default::default(),
    };
    apply_tags(&mut policy.tags, &tags)?;
    let mut body = policy_json(&policy, 0);
    if let Some(map) = body.as_object_mut() {
        map.remove("UpdateDate");
        map.remove("AttachmentCount");
        map.remove("PolicyDocument");
    }
    account.policies.insert(key, policy);
    Ok(json!({ "Policy": body }))
}

fn get_policy(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("PolicyName")?;
    let policy_type = r.required("PolicyType")?;
    ctx.allow("GetPolicy", "policy", name)?;
    let account = ctx.account()?;
    match policy_type {
        "System" => {
            let (canonical, description, document) =
                authz::system_policy(name).ok_or_else(no_such_policy)?;
            let (roles, users) = attachment_count(account, "System", canonical);
            let created = "2015-04-28T16:00:00Z";
            Ok(json!({
                "Policy": {
                    "PolicyName": canonical,
                    "PolicyType": "System",
                    "Description": description,
                    "DefaultVersion": "v1",
                    "CreateDate": created,
                    "UpdateDate": created,
                    "AttachmentCount": roles + users,
                    "PolicyDocument": document,
                },
                "DefaultPolicyVersion": {
                    "VersionId": "v1",
                    "IsDefaultVersion": true,
                    "PolicyDocument": document,
                    "CreateDate": created,
                }
            }))
        }
        "Custom" => {
            let (roles, users) = attachment_count(account, "Custom", name);
            let policy = account
                .policies
                .get(&name.to_ascii_lowercase())
                .ok_or_else(no_such_policy)?;
            let default = policy.default_document().ok_or_else(no_such_policy)?;
            Ok(json!({
                "Policy": policy_json(policy, roles + users),
                "DefaultPolicyVersion": version_json(default, &policy.default_version),
            }))
        }
        _ => Err(ApiError::invalid(
            "PolicyType",
            "PolicyType must be System or Custom.",
        )),
    }
}

fn custom_policy_mut<'a>(
    account: &'a mut super::state::Account,
    name: &str,
) -> ApiResult<&'a mut CustomPolicy> {
    account
        .policies
        .get_mut(&name.to_ascii_lowercase())
        .ok_or_else(no_such_policy)
}

fn delete_policy(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("PolicyName")?;
    ctx.allow("DeletePolicy", "policy", name)?;
    let cascade = r.bool_param("CascadingDelete")?.unwrap_or(false);
    let account = ctx.account()?;
    let policy = custom_policy_mut(account, name)?;
    let extra_versions = policy.versions.len() > 1;
    let (roles, users) = attachment_count(account, "Custom", name);
    if users > 0 {
        return Err(ApiError::conflict(
            "DeleteConflict.Policy.User",
            "The policy is attached to users; detach it first.",
        ));
    }
    if roles > 0 {
        return Err(ApiError::conflict(
            "DeleteConflict.Policy.Role",
            "The policy is attached to roles; detach it first.",
        ));
    }
    if extra_versions && !cascade {
        return Err(ApiError::conflict(
            "DeleteConflict.Policy.Version",
            "The policy has non-default versions; delete them first.",
        ));
    }
    account.policies.remove(&name.to_ascii_lowercase());
    Ok(json!({}))
}

fn create_policy_version(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("PolicyName")?;
    ctx.allow("CreatePolicyVersion", "policy", name)?;
    let document = r.required("PolicyDocument")?;
    check_policy_document(document, "PolicyDocument")?;
    let set_default = r.bool_param("SetAsDefault")?.unwrap_or(false);
    let rotate = match r.optional("RotateStrategy").unwrap_or("None") {
        "None" => false,
        "DeleteOldestNonDefaultVersionWhenLimitExceeded" => true,
        _ => {
            return Err(ApiError::invalid(
                "RotateStrategy",
                "RotateStrategy is not valid.",
            ));
        }
    };
    let now = ctx.now;
    let account = ctx.account()?;
    let policy = custom_policy_mut(account, name)?;
    if policy.versions.len() >= 5 {
        if !rotate {
            return Err(ApiError::conflict(
                "LimitExceeded.Policy.Version",
                "The count of versions of the policy has exceeded the limit of 5.",
            ));
        }
        let default = policy.default_version.clone();
        if let Some(oldest) = policy.versions.iter().position(|v| v.version_id != default) {
            policy.versions.remove(oldest);
        }
    }
    let version = PolicyVersion {
        version_id: format!("v{}", policy.next_version),
        policy_document: document.to_string(),
        create_date: now,
    };
    policy.next_version += 1;
    if set_default {
        policy.default_version = version.version_id.clone();
    }
    policy.update_date = now;
    policy.versions.push(version.clone());
    Ok(json!({ "PolicyVersion": version_json(&version, &policy.default_version) }))
}

fn list_policy_versions(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("PolicyName")?;
    let policy_type = r.optional("PolicyType").unwrap_or("Custom");
    ctx.allow("ListPolicyVersions", "policy", name)?;
    let account = ctx.account()?;
    if policy_type == "System" {
        let (_, _, document) = authz::system_policy(name).ok_or_else(no_such_policy)?;
        return Ok(json!({"PolicyVersions": {"PolicyVersion": [{
            "VersionId": "v1", "IsDefaultVersion": true, "PolicyDocument": document,
            "CreateDate": "2015-04-28T16:00:00Z"}]}}));
    }
    let policy = custom_policy_mut(account, name)?;
    let items: Vec<Value> = policy
        .versions
        .iter()
        .map(|v| version_json(v, &policy.default_version))
        .collect();
    Ok(json!({ "PolicyVersions": {"PolicyVersion": items} }))
}

fn delete_policy_version(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("PolicyName")?;
    let version_id = r.required("VersionId")?;
    ctx.allow("DeletePolicyVersion", "policy", name)?;
    let account = ctx.account()?;
    let policy = custom_policy_mut(account, name)?;
    if policy.default_version == version_id {
        return Err(ApiError::conflict(
            "DeleteConflict.Policy.Version.Default",
            "The default version of a policy cannot be deleted.",
        ));
    }
    let before = policy.versions.len();
    policy.versions.retain(|v| v.version_id != version_id);
    if policy.versions.len() == before {
        return Err(ApiError::not_found(
            "EntityNotExist.Policy.Version",
            "The policy version does not exist.",
        ));
    }
    Ok(json!({}))
}

fn set_default_policy_version(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("PolicyName")?;
    let version_id = r.required("VersionId")?;
    ctx.allow("SetDefaultPolicyVersion", "policy", name)?;
    let now = ctx.now;
    let account = ctx.account()?;
    let policy = custom_policy_mut(account, name)?;
    if !policy.versions.iter().any(|v| v.version_id == version_id) {
        return Err(ApiError::not_found(
            "EntityNotExist.Policy.Version",
            "The policy version does not exist.",
        ));
    }
    policy.default_version = version_id.to_string();
    policy.update_date = now;
    Ok(json!({}))
}

fn create_user(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("UserName")?;
    check_user_name(name, "UserName")?;
    ctx.allow("CreateUser", "user", name)?;
    let new = NewUser {
        user_name: name,
        display_name: r.optional("DisplayName").unwrap_or_default(),
        email: r.optional("Email").unwrap_or_default(),
        mobile_phone: r.optional("MobilePhone").unwrap_or_default(),
        comments: r.optional("Comments").unwrap_or_default(),
        tags: Vec::new(),
    };
    let now = ctx.now;
    let user = users::create(ctx.account()?, new, now)?;
    let mut body = ram_user_json(&user);
    if let Some(map) = body.as_object_mut() {
        map.remove("UpdateDate");
    }
    Ok(json!({ "User": body }))
}

fn get_user(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("UserName")?;
    ctx.allow("GetUser", "user", name)?;
    let user = users::user(ctx.account()?, name)?;
    let mut body = ram_user_json(user);
    if let Some(map) = body.as_object_mut() {
        map.insert("LastLoginDate".to_string(), json!(""));
    }
    Ok(json!({ "User": body }))
}

fn update_user(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("UserName")?;
    ctx.allow("UpdateUser", "user", name)?;
    let display = r.optional("NewDisplayName").map(str::to_string);
    let email = r.optional("NewEmail").map(str::to_string);
    let phone = r.optional("NewMobilePhone").map(str::to_string);
    let comments = r.optional("NewComments").map(str::to_string);
    let now = ctx.now;
    let user = users::update(
        ctx.account()?,
        name,
        r.optional("NewUserName"),
        |u| {
            if let Some(d) = display {
                check_length(&d, "NewDisplayName", 128)?;
                u.display_name = d;
            }
            if let Some(e) = email {
                u.email = e;
            }
            if let Some(p) = phone {
                u.mobile_phone = p;
            }
            if let Some(c) = comments {
                check_length(&c, "NewComments", 128)?;
                u.comments = c;
            }
            Ok(())
        },
        now,
    )?;
    Ok(json!({ "User": ram_user_json(&user) }))
}

fn delete_user(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("UserName")?;
    ctx.allow("DeleteUser", "user", name)?;
    users::delete(ctx.account()?, name)?;
    Ok(json!({}))
}

fn list_users(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    ctx.allow("ListUsers", "", "")?;
    let account = ctx.account()?;
    let (page, next) = paginate(account.users.iter(), r)?;
    let items: Vec<Value> = page.into_iter().map(ram_user_json).collect();
    let mut body = json!({ "IsTruncated": next.is_some(), "Users": {"User": items} });
    if let (Some(marker), Some(map)) = (next, body.as_object_mut()) {
        map.insert("Marker".to_string(), json!(marker));
    }
    Ok(body)
}

fn profile_input(r: &ApiRequest) -> ApiResult<ProfileInput<'_>> {
    Ok(ProfileInput {
        password: r.optional("Password"),
        password_reset_required: r.bool_param("PasswordResetRequired")?,
        mfa_bind_required: r.bool_param("MFABindRequired")?,
        status: None,
    })
}

fn login_profile_json(user_name: &str, profile: &super::state::LoginProfile) -> Value {
    json!({"LoginProfile": {
        "UserName": user_name,
        "PasswordResetRequired": profile.password_reset_required,
        "MFABindRequired": profile.mfa_bind_required,
        "CreateDate": ts(profile.create_date),
    }})
}

fn create_login_profile(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("UserName")?;
    ctx.allow("CreateLoginProfile", "user", name)?;
    let now = ctx.now;
    let (user, profile) =
        users::create_login_profile(ctx.account()?, name, profile_input(r)?, true, now)?;
    Ok(login_profile_json(&user.user_name, &profile))
}

fn get_login_profile(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("UserName")?;
    ctx.allow("GetLoginProfile", "user", name)?;
    let user = users::user(ctx.account()?, name)?;
    let profile = user
        .login_profile
        .as_ref()
        .ok_or_else(users::no_login_profile)?;
    Ok(login_profile_json(&user.user_name, profile))
}

fn update_login_profile(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("UserName")?;
    ctx.allow("UpdateLoginProfile", "user", name)?;
    let now = ctx.now;
    users::update_login_profile(ctx.account()?, name, profile_input(r)?, now)?;
    Ok(json!({}))
}

fn delete_login_profile(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = r.required("UserName")?;
    ctx.allow("DeleteLoginProfile", "user", name)?;
    let user = users::user_mut(ctx.account()?, name)?;
    if user.login_profile.take().is_none() {
        return Err(users::no_login_profile());
    }
    Ok(json!({}))
}

/// The user an access-key operation targets: `UserName`, or the calling RAM user itself.
pub fn key_user(r: &ApiRequest, ctx: &Ctx<'_>, param: &str) -> ApiResult<String> {
    match (r.optional(param), &ctx.caller.identity) {
        (Some(name), _) => Ok(name.to_string()),
        (None, Identity::User { user_name, .. }) => Ok(user_name.clone()),
        (None, _) => Err(ApiError::missing(param)),
    }
}

fn create_access_key(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = key_user(r, ctx, "UserName")?;
    ctx.allow("CreateAccessKey", "user", &name)?;
    let account_id = ctx.caller.account.clone();
    let key = users::create_access_key(ctx.world, &account_id, &name, ctx.now)?;
    Ok(json!({"AccessKey": {
        "AccessKeyId": key.access_key_id,
        "AccessKeySecret": key.secret,
        "Status": key.status,
        "CreateDate": ts(key.create_date),
    }}))
}

fn list_access_keys(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = key_user(r, ctx, "UserName")?;
    ctx.allow("ListAccessKeys", "user", &name)?;
    let user = users::user(ctx.account()?, &name)?;
    let items: Vec<Value> = user
        .access_keys
        .iter()
        .map(|k| {
            json!({
                "AccessKeyId": k.access_key_id,
                "Status": k.status,
                "CreateDate": ts(k.create_date),
                "UpdateDate": ts(k.update_date),
            })
        })
        .collect();
    Ok(json!({ "AccessKeys": {"AccessKey": items} }))
}

fn update_access_key(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = key_user(r, ctx, "UserName")?;
    let key_id = r.required("UserAccessKeyId")?;
    let status = r.required("Status")?;
    ctx.allow("UpdateAccessKey", "user", &name)?;
    let now = ctx.now;
    users::update_access_key(ctx.account()?, &name, key_id, status, now)?;
    Ok(json!({}))
}

fn delete_access_key(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = key_user(r, ctx, "UserName")?;
    let key_id = r.required("UserAccessKeyId")?;
    ctx.allow("DeleteAccessKey", "user", &name)?;
    let account_id = ctx.caller.account.clone();
    users::delete_access_key(ctx.world, &account_id, &name, key_id)?;
    Ok(json!({}))
}

fn get_password_policy(ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    ctx.allow("GetPasswordPolicy", "", "")?;
    let p = ctx.account()?.password_policy.clone();
    Ok(json!({"PasswordPolicy": {
        "MinimumPasswordLength": p.minimum_password_length,
        "RequireLowercaseCharacters": p.require_lowercase_characters,
        "RequireUppercaseCharacters": p.require_uppercase_characters,
        "RequireNumbers": p.require_numbers,
        "RequireSymbols": p.require_symbols,
        "HardExpiry": p.hard_expire,
        "MaxPasswordAge": p.max_password_age,
        "PasswordReusePrevention": p.password_reuse_prevention,
        "MaxLoginAttemps": p.max_login_attemps,
    }}))
}

/// Applies `SetPasswordPolicy` parameters (shared with IMS, which adds a few fields).
pub fn apply_password_policy(r: &ApiRequest, policy: &mut PasswordPolicy) -> ApiResult<()> {
    let range = |name: &str, value: Option<i64>, min: i64, max: i64| match value {
        Some(v) if !(min..=max).contains(&v) => Err(ApiError::invalid(
            name,
            format!("{name} must be {min}-{max}."),
        )),
        _ => Ok(value),
    };
    if let Some(v) = range(
        "MinimumPasswordLength",
        r.int_param("MinimumPasswordLength")?,
        8,
        32,
    )? {
        policy.minimum_password_length = v;
    }
    for (name, field) in [
        (
            "RequireLowercaseCharacters",
            &mut policy.require_lowercase_characters,
        ),
        (
            "RequireUppercaseCharacters",
            &mut policy.require_uppercase_characters,
        ),
        ("RequireNumbers", &mut policy.require_numbers),
        ("RequireSymbols", &mut policy.require_symbols),
        (
            "PasswordNotContainUserName",
            &mut policy.password_not_contain_user_name,
        ),
    ] {
        if let Some(v) = r.bool_param(name)? {
            *field = v;
        }
    }
    if let Some(v) = r.bool_param("HardExpiry")?.or(r.bool_param("HardExpire")?) {
        policy.hard_expire = v;
    }
    if let Some(v) = range("MaxPasswordAge", r.int_param("MaxPasswordAge")?, 0, 1095)? {
        policy.max_password_age = v;
    }
    if let Some(v) = range(
        "PasswordReusePrevention",
        r.int_param("PasswordReusePrevention")?,
        0,
        24,
    )? {
        policy.password_reuse_prevention = v;
    }
    if let Some(v) = range("MaxLoginAttemps", r.int_param("MaxLoginAttemps")?, 0, 32)? {
        policy.max_login_attemps = v;
    }
    if let Some(v) = range(
        "MinimumPasswordDifferentCharacter",
        r.int_param("MinimumPasswordDifferentCharacter")?,
        0,
        8,
    )? {
        policy.minimum_password_different_character = v;
    }
    Ok(())
}

fn set_password_policy(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    ctx.allow("SetPasswordPolicy", "", "")?;
    let account = ctx.account()?;
    let mut policy = account.password_policy.clone();
    apply_password_policy(r, &mut policy)?;
    account.password_policy = policy;
    get_password_policy(ctx)
}

fn json_list(r: &ApiRequest, name: &str, max: usize) -> ApiResult<Vec<String>> {
    let text = r.required(name)?;
    let items: Vec<String> = serde_json::from_str(text)
        .map_err(|_| ApiError::invalid(name, format!("{name} must be a JSON array of strings.")))?;
    if items.is_empty() || items.len() > max {
        return Err(ApiError::invalid(
            name,
            format!("{name} must hold 1-{max} items."),
        ));
    }
    Ok(items)
}

fn resource_type(r: &ApiRequest) -> ApiResult<&str> {
    match r.required("ResourceType")? {
        t @ ("role" | "policy") => Ok(t),
        _ => Err(ApiError::invalid(
            "ResourceType",
            "ResourceType must be role or policy.",
        )),
    }
}

fn resource_tags<'a>(
    account: &'a mut super::state::Account,
    kind: &str,
    name: &str,
) -> ApiResult<&'a mut std::collections::BTreeMap<String, String>> {
    let key = name.to_ascii_lowercase();
    if kind == "role" {
        account
            .roles
            .get_mut(&key)
            .map(|r| &mut r.tags)
            .ok_or_else(no_such_role)
    } else {
        account
            .policies
            .get_mut(&key)
            .map(|p| &mut p.tags)
            .ok_or_else(no_such_policy)
    }
}

fn tag_resources(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let kind = resource_type(r)?;
    let names = json_list(r, "ResourceNames", 50)?;
    let tags = tags_param(r, "Tag")?;
    if tags.is_empty() {
        return Err(ApiError::missing("Tag"));
    }
    for name in &names {
        ctx.allow("TagResources", kind, name)?;
    }
    let account = ctx.account()?;
    for name in &names {
        resource_tags(account, kind, name)?;
    }
    for name in &names {
        apply_tags(resource_tags(account, kind, name)?, &tags)?;
    }
    Ok(json!({}))
}

fn untag_resources(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let kind = resource_type(r)?;
    let names = json_list(r, "ResourceNames", 50)?;
    let all = r.bool_param("All")?.unwrap_or(false);
    let keys: Vec<String> = match r.optional("TagKeys") {
        Some(_) => json_list(r, "TagKeys", 20)?,
        None if all => Vec::new(),
        None => return Err(ApiError::missing("TagKeys")),
    };
    for name in &names {
        ctx.allow("UntagResources", kind, name)?;
    }
    let account = ctx.account()?;
    for name in &names {
        let tags = resource_tags(account, kind, name)?;
        if all {
            tags.clear();
        } else {
            for key in &keys {
                tags.remove(key);
            }
        }
    }
    Ok(json!({}))
}

fn list_tag_resources(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let kind = resource_type(r)?;
    ctx.allow("ListTagResources", "", "")?;
    let names = match r.optional("ResourceNames") {
        Some(_) => Some(json_list(r, "ResourceNames", 50)?),
        None => None,
    };
    let filter = tags_param(r, "Tag")?;
    let account_id = ctx.caller.account.clone();
    let account = ctx.account()?;
    let mut items = Vec::new();
    let resources: Vec<(String, std::collections::BTreeMap<String, String>)> = if kind == "role" {
        account
            .roles
            .values()
            .map(|r| (r.role_name.clone(), r.tags.clone()))
            .collect()
    } else {
        account
            .policies
            .values()
            .map(|p| (p.policy_name.clone(), p.tags.clone()))
            .collect()
    };
    for (name, tags) in resources {
        if names
            .as_ref()
            .is_some_and(|n| !n.iter().any(|x| x.eq_ignore_ascii_case(&name)))
        {
            continue;
        }
        if !filter
            .iter()
            .all(|(k, v)| tags.get(k).is_some_and(|t| v.is_empty() || t == v))
        {
            continue;
        }
        for (key, value) in tags {
            items.push(json!({
                "ResourceName": name,
                "ResourceType": kind,
                "ResourceArn": if kind == "role" { role_arn(&account_id, &name) } else { format!("acs:ram::{account_id}:policy/{name}") },
                "TagKey": key,
                "TagValue": value,
            }));
        }
    }
    Ok(json!({ "TagResources": items }))
}
