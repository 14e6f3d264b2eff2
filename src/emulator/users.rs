//! The user store operations RAM and IMS share (one user store, two APIs): create, update,
//! delete, login profiles and access keys, with the real error codes.
//!
//! Parameters arrive already mapped from either API; the JSON shapes live in `ram` / `ims`.

use jiff::Timestamp;

use super::common::{apply_tags, check_length, check_user_name};
use super::errors::{ApiError, ApiResult};
use super::state::{AccessKey, Account, LoginProfile, User, World, ids};

/// Fields of a new user.
#[derive(Debug, Default)]
pub struct NewUser<'a> {
    pub user_name: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    pub mobile_phone: &'a str,
    pub comments: &'a str,
    pub tags: Vec<(String, String)>,
}

/// `EntityNotExist.User`.
pub fn no_such_user() -> ApiError {
    ApiError::not_found("EntityNotExist.User", "The user does not exist.")
}

/// The user called `name`.
pub fn user<'a>(account: &'a Account, name: &str) -> ApiResult<&'a User> {
    account
        .users
        .get(&name.to_ascii_lowercase())
        .ok_or_else(no_such_user)
}

/// The user called `name`, mutable.
pub fn user_mut<'a>(account: &'a mut Account, name: &str) -> ApiResult<&'a mut User> {
    account
        .users
        .get_mut(&name.to_ascii_lowercase())
        .ok_or_else(no_such_user)
}

/// Creates a user.
pub fn create(account: &mut Account, new: NewUser<'_>, now: Timestamp) -> ApiResult<User> {
    check_user_name(new.user_name, "UserName")?;
    check_length(new.display_name, "DisplayName", 128)?;
    check_length(new.comments, "Comments", 128)?;
    let key = new.user_name.to_ascii_lowercase();
    if account.users.contains_key(&key) {
        return Err(ApiError::conflict(
            "EntityAlreadyExists.User",
            "The user already exists.",
        ));
    }
    if account.users.len() >= 5000 {
        return Err(ApiError::conflict(
            "LimitExceeded.User",
            "The count of users has exceeded the limit.",
        ));
    }
    let mut user = User {
        user_id: ids::user_id(),
        user_name: new.user_name.to_string(),
        display_name: new.display_name.to_string(),
        email: new.email.to_string(),
        mobile_phone: new.mobile_phone.to_string(),
        comments: new.comments.to_string(),
        create_date: now,
        update_date: now,
        attached: Vec::new(),
        login_profile: None,
        access_keys: Vec::new(),
        tags: Default::default(),
    };
    apply_tags(&mut user.tags, &new.tags)?;
    account.users.insert(key, user.clone());
    Ok(user)
}

/// Changes a user's fields; a new name re-keys the user.
pub fn update(
    account: &mut Account,
    name: &str,
    new_name: Option<&str>,
    edit: impl FnOnce(&mut User) -> ApiResult<()>,
    now: Timestamp,
) -> ApiResult<User> {
    if let Some(new_name) = new_name {
        check_user_name(new_name, "NewUserName")?;
        let new_key = new_name.to_ascii_lowercase();
        if new_key != name.to_ascii_lowercase() && account.users.contains_key(&new_key) {
            return Err(ApiError::conflict(
                "EntityAlreadyExists.User",
                "The user already exists.",
            ));
        }
    }
    let mut user = account
        .users
        .remove(&name.to_ascii_lowercase())
        .ok_or_else(no_such_user)?;
    let original = user.clone();
    if let Err(e) = edit(&mut user) {
        account
            .users
            .insert(original.user_name.to_ascii_lowercase(), original);
        return Err(e);
    }
    if let Some(new_name) = new_name {
        user.user_name = new_name.to_string();
    }
    user.update_date = now;
    account
        .users
        .insert(user.user_name.to_ascii_lowercase(), user.clone());
    Ok(user)
}

/// Deletes a user that has no attached policies, access keys or login profile.
pub fn delete(account: &mut Account, name: &str) -> ApiResult<()> {
    let found = user(account, name)?;
    if !found.attached.is_empty() {
        return Err(ApiError::conflict(
            "DeleteConflict.User.Policy",
            "The user has policies attached; detach them first.",
        ));
    }
    if !found.access_keys.is_empty() {
        return Err(ApiError::conflict(
            "DeleteConflict.User.AccessKey",
            "The user has access keys; delete them first.",
        ));
    }
    if found.login_profile.is_some() {
        return Err(ApiError::conflict(
            "DeleteConflict.User.LoginProfile",
            "The user has a login profile; delete it first.",
        ));
    }
    account.users.remove(&name.to_ascii_lowercase());
    Ok(())
}

/// Login profile settings as sent.
#[derive(Debug, Default)]
pub struct ProfileInput<'a> {
    pub password: Option<&'a str>,
    pub password_reset_required: Option<bool>,
    pub mfa_bind_required: Option<bool>,
    pub status: Option<&'a str>,
}

fn check_status(status: Option<&str>) -> ApiResult<()> {
    match status {
        None | Some("Active") | Some("Inactive") => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "Status",
            "Status must be Active or Inactive.",
        )),
    }
}

fn check_password(account: &Account, password: &str, user_name: &str) -> ApiResult<()> {
    match account.password_policy.violation(password, user_name) {
        Some(reason) => Err(ApiError::invalid("Password.TooWeak", reason)),
        None => Ok(()),
    }
}

/// Creates a login profile; the password must satisfy the account's password policy.
pub fn create_login_profile(
    account: &mut Account,
    name: &str,
    input: ProfileInput<'_>,
    require_password: bool,
    now: Timestamp,
) -> ApiResult<(User, LoginProfile)> {
    let found = user(account, name)?;
    if found.login_profile.is_some() {
        return Err(ApiError::conflict(
            "EntityAlreadyExists.User.LoginProfile",
            "The login profile of the user already exists.",
        ));
    }
    check_status(input.status)?;
    let password = match input.password {
        Some(p) => p.to_string(),
        None if require_password => return Err(ApiError::missing("Password")),
        None => String::new(),
    };
    if !password.is_empty() {
        check_password(account, &password, name)?;
    }
    let profile = LoginProfile {
        password,
        password_reset_required: input.password_reset_required.unwrap_or(false),
        mfa_bind_required: input.mfa_bind_required.unwrap_or(false),
        status: input.status.unwrap_or("Active").to_string(),
        create_date: now,
        update_date: now,
    };
    let found = user_mut(account, name)?;
    found.login_profile = Some(profile.clone());
    Ok((found.clone(), profile))
}

/// `EntityNotExist.User.LoginProfile`.
pub fn no_login_profile() -> ApiError {
    ApiError::not_found(
        "EntityNotExist.User.LoginProfile",
        "The login profile of the user does not exist.",
    )
}

/// Changes a login profile.
pub fn update_login_profile(
    account: &mut Account,
    name: &str,
    input: ProfileInput<'_>,
    now: Timestamp,
) -> ApiResult<(User, LoginProfile)> {
    check_status(input.status)?;
    if let Some(password) = input.password {
        check_password(account, password, name)?;
    }
    let found = user_mut(account, name)?;
    let profile = found.login_profile.as_mut().ok_or_else(no_login_profile)?;
    if let Some(password) = input.password {
        profile.password = password.to_string();
    }
    if let Some(v) = input.password_reset_required {
        profile.password_reset_required = v;
    }
    if let Some(v) = input.mfa_bind_required {
        profile.mfa_bind_required = v;
    }
    if let Some(v) = input.status {
        profile.status = v.to_string();
    }
    profile.update_date = now;
    let profile = profile.clone();
    Ok((found.clone(), profile))
}

/// Creates an access key (at most two per user) and indexes it for authentication.
pub fn create_access_key(
    world: &mut World,
    account_id: &str,
    name: &str,
    now: Timestamp,
) -> ApiResult<AccessKey> {
    let account = world
        .accounts
        .get_mut(account_id)
        .ok_or_else(no_such_user)?;
    let found = user_mut(account, name)?;
    if found.access_keys.len() >= 2 {
        return Err(ApiError::conflict(
            "LimitExceeded.User.AccessKey",
            "The count of access key for the user has exceeded the limit.",
        ));
    }
    let key = AccessKey {
        access_key_id: ids::access_key_id(),
        secret: ids::secret(),
        status: "Active".to_string(),
        create_date: now,
        update_date: now,
    };
    found.access_keys.push(key.clone());
    let user_id = found.user_id.clone();
    world.index_user_key(&key.access_key_id, account_id, &user_id);
    Ok(key)
}

/// `EntityNotExist.User.AccessKey`.
pub fn no_such_key() -> ApiError {
    ApiError::not_found(
        "EntityNotExist.User.AccessKey",
        "The access key of the user does not exist.",
    )
}

/// Sets a key's status.
pub fn update_access_key(
    account: &mut Account,
    name: &str,
    key_id: &str,
    status: &str,
    now: Timestamp,
) -> ApiResult<()> {
    if !matches!(status, "Active" | "Inactive") {
        return Err(ApiError::invalid(
            "Status",
            "Status must be Active or Inactive.",
        ));
    }
    let found = user_mut(account, name)?;
    let key = found
        .access_keys
        .iter_mut()
        .find(|k| k.access_key_id == key_id)
        .ok_or_else(no_such_key)?;
    key.status = status.to_string();
    key.update_date = now;
    Ok(())
}

/// Deletes a key and forgets it for authentication.
pub fn delete_access_key(
    world: &mut World,
    account_id: &str,
    name: &str,
    key_id: &str,
) -> ApiResult<()> {
    let account = world
        .accounts
        .get_mut(account_id)
        .ok_or_else(no_such_user)?;
    let found = user_mut(account, name)?;
    let before = found.access_keys.len();
    found.access_keys.retain(|k| k.access_key_id != key_id);
    if found.access_keys.len() == before {
        return Err(no_such_key());
    }
    world.unindex_key(key_id);
    Ok(())
}
