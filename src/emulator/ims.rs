//! IMS (`2019-08-15`) operations: the newer user API over the same user store as RAM.
//! Users are addressed by `UserPrincipalName` (`<name>@<default domain>`) or `UserId`;
//! list parameters are flattened (`Tag.1.Key`, `ResourcePrincipalName.1`).
//!
//! Knows nothing of HTTP or signatures.

use serde_json::{Value, json};

use super::common::{Ctx, apply_tags, check_length, check_tags, tags_json, ts};
use super::errors::{ApiError, ApiResult};
use super::ram::{apply_password_policy, key_user};
use super::request::ApiRequest;
use super::state::{Account, LoginProfile, User};
use super::users::{self, NewUser, ProfileInput};

/// Runs an IMS operation; `None` when the action does not exist.
pub fn handle(request: &ApiRequest, ctx: &mut Ctx<'_>) -> Option<ApiResult<Value>> {
    let r = request;
    Some(match request.action.as_str() {
        "GetDefaultDomain" => get_default_domain(ctx),
        "CreateUser" => create_user(r, ctx),
        "GetUser" => get_user(r, ctx),
        "UpdateUser" => update_user(r, ctx),
        "DeleteUser" => delete_user(r, ctx),
        "ListUsers" => list_users(r, ctx),
        "CreateLoginProfile" => create_login_profile(r, ctx),
        "GetLoginProfile" => get_login_profile(r, ctx),
        "UpdateLoginProfile" => update_login_profile(r, ctx),
        "DeleteLoginProfile" => delete_login_profile(r, ctx),
        "GetPasswordPolicy" => get_password_policy(ctx),
        "SetPasswordPolicy" => set_password_policy(r, ctx),
        "CreateAccessKey" => create_access_key(r, ctx),
        "ListAccessKeys" => list_access_keys(r, ctx),
        "UpdateAccessKey" => update_access_key(r, ctx),
        "DeleteAccessKey" => delete_access_key(r, ctx),
        "TagResources" => tag_resources(r, ctx),
        "UntagResources" => untag_resources(r, ctx),
        "ListTagResources" => list_tag_resources(r, ctx),
        _ => return None,
    })
}

/// The user name inside a UPN of this account's default domain.
fn upn_user_name(account: &Account, upn: &str, field: &str) -> ApiResult<String> {
    let invalid = || {
        ApiError::invalid(
            field,
            format!("{field} must be <name>@{}.", account.default_domain()),
        )
    };
    let (name, domain) = upn.split_once('@').ok_or_else(invalid)?;
    if !domain.eq_ignore_ascii_case(&account.default_domain()) || name.is_empty() {
        return Err(invalid());
    }
    Ok(name.to_string())
}

/// Finds the user a request addresses by `UserPrincipalName` or `UserId`.
fn addressed_user(r: &ApiRequest, account: &Account) -> ApiResult<String> {
    if let Some(upn) = r.optional("UserPrincipalName") {
        let name =
            upn_user_name(account, upn, "UserPrincipalName").map_err(|_| users::no_such_user())?;
        return users::user(account, &name).map(|u| u.user_name.clone());
    }
    if let Some(id) = r.optional("UserId") {
        return account
            .user_by_id(id)
            .map(|u| u.user_name.clone())
            .ok_or_else(users::no_such_user);
    }
    if let Some(key_id) = r.optional("UserAccessKeyId") {
        return account
            .users
            .values()
            .find(|u| u.access_keys.iter().any(|k| k.access_key_id == key_id))
            .map(|u| u.user_name.clone())
            .ok_or_else(users::no_such_user);
    }
    Err(ApiError::missing("UserPrincipalName"))
}

fn user_json(account: &Account, user: &User) -> Value {
    json!({
        "UserId": user.user_id,
        "UserPrincipalName": format!("{}@{}", user.user_name, account.default_domain()),
        "UserName": user.user_name,
        "DisplayName": user.display_name,
        "Comments": user.comments,
        "Email": user.email,
        "MobilePhone": user.mobile_phone,
        "CreateDate": ts(user.create_date),
        "UpdateDate": ts(user.update_date),
        "LastLoginDate": "",
        "ProvisionType": "Manual",
        "Tags": tags_json(&user.tags),
    })
}

fn get_default_domain(ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    ctx.allow("GetDefaultDomain", "", "")?;
    Ok(json!({ "DefaultDomainName": ctx.account()?.default_domain() }))
}

fn create_user(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let upn = r.required("UserPrincipalName")?;
    let display = r.required("DisplayName")?;
    let name = upn_user_name(ctx.account()?, upn, "UserPrincipalName")?;
    ctx.allow("CreateUser", "user", &name)?;
    let tags = r.flat_tags("Tag");
    check_tags(&tags)?;
    let new = NewUser {
        user_name: &name,
        display_name: display,
        email: r.optional("Email").unwrap_or_default(),
        mobile_phone: r.optional("MobilePhone").unwrap_or_default(),
        comments: r.optional("Comments").unwrap_or_default(),
        tags,
    };
    let now = ctx.now;
    let account = ctx.account()?;
    let user = users::create(account, new, now)?;
    Ok(json!({ "User": user_json(account, &user) }))
}

fn get_user(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = addressed_user(r, ctx.account()?)?;
    ctx.allow("GetUser", "user", &name)?;
    let account = ctx.account()?;
    let user = users::user(account, &name)?;
    Ok(json!({ "User": user_json(account, user) }))
}

fn update_user(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = addressed_user(r, ctx.account()?)?;
    ctx.allow("UpdateUser", "user", &name)?;
    let new_name = match r.optional("NewUserPrincipalName") {
        Some(upn) => Some(upn_user_name(ctx.account()?, upn, "NewUserPrincipalName")?),
        None => None,
    };
    let display = r.optional("NewDisplayName").map(str::to_string);
    let email = r.optional("NewEmail").map(str::to_string);
    let phone = r.optional("NewMobilePhone").map(str::to_string);
    let comments = r.optional("NewComments").map(str::to_string);
    let now = ctx.now;
    let account = ctx.account()?;
    let user = users::update(
        account,
        &name,
        new_name.as_deref(),
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
    Ok(json!({ "User": user_json(account, &user) }))
}

fn delete_user(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = addressed_user(r, ctx.account()?)?;
    ctx.allow("DeleteUser", "user", &name)?;
    users::delete(ctx.account()?, &name)?;
    Ok(json!({}))
}

fn list_users(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    ctx.allow("ListUsers", "", "")?;
    let account = ctx.account()?;
    let (page, next) = super::common::paginate(account.users.iter(), r)?;
    let items: Vec<Value> = page.into_iter().map(|u| user_json(account, u)).collect();
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
        status: r.optional("Status"),
    })
}

fn profile_json(account: &Account, user: &User, profile: &LoginProfile, full: bool) -> Value {
    let mut body = json!({
        "UserPrincipalName": format!("{}@{}", user.user_name, account.default_domain()),
        "Status": profile.status,
        "PasswordResetRequired": profile.password_reset_required,
        "MFABindRequired": profile.mfa_bind_required,
        "PasswordStatus": if profile.password_reset_required { "InitialValid" } else { "NotInitial" },
        "UpdateDate": ts(profile.update_date),
    });
    if let (true, Some(map)) = (full, body.as_object_mut()) {
        map.insert("AutoDisableLoginStatus".to_string(), json!("Disabled"));
        map.insert("LastLoginTime".to_string(), json!(""));
    }
    json!({ "LoginProfile": body })
}

fn create_login_profile(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    r.required("UserPrincipalName")?;
    let name = addressed_user(r, ctx.account()?)?;
    ctx.allow("CreateLoginProfile", "user", &name)?;
    let now = ctx.now;
    let account = ctx.account()?;
    // SDK metadata does not mark Password required on IMS; without one the profile has no
    // usable password (the console would ask for a reset), which is what we model.
    let (user, profile) =
        users::create_login_profile(account, &name, profile_input(r)?, false, now)?;
    Ok(profile_json(account, &user, &profile, false))
}

fn get_login_profile(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = addressed_user(r, ctx.account()?)?;
    ctx.allow("GetLoginProfile", "user", &name)?;
    let account = ctx.account()?;
    let user = users::user(account, &name)?;
    let profile = user
        .login_profile
        .as_ref()
        .ok_or_else(users::no_login_profile)?;
    Ok(profile_json(account, user, profile, true))
}

fn update_login_profile(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = addressed_user(r, ctx.account()?)?;
    ctx.allow("UpdateLoginProfile", "user", &name)?;
    let now = ctx.now;
    let account = ctx.account()?;
    let (user, profile) = users::update_login_profile(account, &name, profile_input(r)?, now)?;
    Ok(profile_json(account, &user, &profile, false))
}

fn delete_login_profile(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = addressed_user(r, ctx.account()?)?;
    ctx.allow("DeleteLoginProfile", "user", &name)?;
    let user = users::user_mut(ctx.account()?, &name)?;
    if user.login_profile.take().is_none() {
        return Err(users::no_login_profile());
    }
    Ok(json!({}))
}

fn get_password_policy(ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    ctx.allow("GetPasswordPolicy", "", "")?;
    let policy = ctx.account()?.password_policy.clone();
    Ok(json!({ "PasswordPolicy": policy }))
}

fn set_password_policy(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    ctx.allow("SetPasswordPolicy", "", "")?;
    let account = ctx.account()?;
    let mut policy = account.password_policy.clone();
    apply_password_policy(r, &mut policy)?;
    account.password_policy = policy.clone();
    Ok(json!({ "PasswordPolicy": policy }))
}

/// The user name for access-key calls: `UserPrincipalName`, or the calling user.
fn key_user_name(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<String> {
    match r.optional("UserPrincipalName") {
        Some(_) => addressed_user(r, ctx.account()?),
        None => key_user(r, ctx, "UserPrincipalName"),
    }
}

fn create_access_key(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = key_user_name(r, ctx)?;
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
    let name = key_user_name(r, ctx)?;
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
    let name = key_user_name(r, ctx)?;
    let key_id = r.required("UserAccessKeyId")?;
    let status = r.required("Status")?;
    ctx.allow("UpdateAccessKey", "user", &name)?;
    let now = ctx.now;
    users::update_access_key(ctx.account()?, &name, key_id, status, now)?;
    Ok(json!({}))
}

fn delete_access_key(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let name = key_user_name(r, ctx)?;
    let key_id = r.required("UserAccessKeyId")?;
    ctx.allow("DeleteAccessKey", "user", &name)?;
    let account_id = ctx.caller.account.clone();
    users::delete_access_key(ctx.world, &account_id, &name, key_id)?;
    Ok(json!({}))
}

/// The users a tag call addresses (`ResourceId.N` or `ResourcePrincipalName.N`); `None` = all.
fn tagged_users(
    r: &ApiRequest,
    account: &Account,
    required: bool,
) -> ApiResult<Option<Vec<String>>> {
    if r.required("ResourceType")? != "user" {
        return Err(ApiError::invalid(
            "ResourceType",
            "ResourceType must be user.",
        ));
    }
    let ids = r.flat_list("ResourceId");
    let upns = r.flat_list("ResourcePrincipalName");
    if ids.len() > 50 || upns.len() > 50 {
        return Err(ApiError::invalid(
            "ResourceId",
            "At most 50 resources are allowed.",
        ));
    }
    if ids.is_empty() && upns.is_empty() {
        return if required {
            Err(ApiError::missing("ResourcePrincipalName"))
        } else {
            Ok(None)
        };
    }
    let mut names = Vec::new();
    for id in ids {
        names.push(
            account
                .user_by_id(&id)
                .map(|u| u.user_name.clone())
                .ok_or_else(users::no_such_user)?,
        );
    }
    for upn in upns {
        let name = upn_user_name(account, &upn, "ResourcePrincipalName")
            .map_err(|_| users::no_such_user())?;
        names.push(users::user(account, &name)?.user_name.clone());
    }
    Ok(Some(names))
}

fn tag_resources(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let names = tagged_users(r, ctx.account()?, true)?.unwrap_or_default();
    let tags = r.flat_tags("Tag");
    if tags.is_empty() {
        return Err(ApiError::missing("Tag"));
    }
    check_tags(&tags)?;
    for name in &names {
        ctx.allow("TagResources", "user", name)?;
    }
    let account = ctx.account()?;
    for name in &names {
        apply_tags(&mut users::user_mut(account, name)?.tags, &tags)?;
    }
    Ok(json!({}))
}

fn untag_resources(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let names = tagged_users(r, ctx.account()?, true)?.unwrap_or_default();
    let all = r.bool_param("All")?.unwrap_or(false);
    let keys = r.flat_list("TagKey");
    if keys.is_empty() && !all {
        return Err(ApiError::missing("TagKey"));
    }
    for name in &names {
        ctx.allow("UntagResources", "user", name)?;
    }
    let account = ctx.account()?;
    for name in &names {
        let tags = &mut users::user_mut(account, name)?.tags;
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
    ctx.allow("ListTagResources", "", "")?;
    let account = ctx.account()?;
    let selected = tagged_users(r, account, false)?;
    let filter = r.flat_tags("Tag");
    let mut items = Vec::new();
    for user in account.users.values() {
        if selected
            .as_ref()
            .is_some_and(|s| !s.iter().any(|n| n.eq_ignore_ascii_case(&user.user_name)))
        {
            continue;
        }
        if !filter
            .iter()
            .all(|(k, v)| user.tags.get(k).is_some_and(|t| v.is_empty() || t == v))
        {
            continue;
        }
        for (key, value) in &user.tags {
            items.push(json!({
                "ResourceId": user.user_id,
                "ResourceType": "user",
                "TagKey": key,
                "TagValue": value,
            }));
        }
    }
    Ok(json!({ "IsTruncated": false, "TagResources": {"TagResource": items} }))
}
