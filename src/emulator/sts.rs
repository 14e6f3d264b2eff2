//! STS (`2015-04-01`) operations: `AssumeRole` (trust policy and the caller's
//! `sts:AssumeRole` permission both required), `AssumeRoleWithOIDC` (anonymous, token
//! verified against a registered provider) and `GetCallerIdentity`.
//!
//! Issues sessions whose lifetime is scaled by `--expiry-scale`. Knows nothing of HTTP.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::auth::{Caller, Identity};
use super::authz::{self, ConditionContext, DocKind, TrustPrincipal};
use super::common::{Ctx, authorize, role_arn, ts};
use super::errors::{ApiError, ApiResult};
use super::oidc::TokenError;
use super::request::ApiRequest;
use super::state::{Role, StsSession, ids};

/// Runs an STS operation; `None` when the action does not exist.
pub fn handle(request: &ApiRequest, ctx: &mut Ctx<'_>) -> Option<ApiResult<Value>> {
    Some(match request.action.as_str() {
        "AssumeRole" => assume_role(request, ctx),
        "AssumeRoleWithOIDC" => assume_role_with_oidc(request, ctx),
        "GetCallerIdentity" => get_caller_identity(ctx.caller),
        _ => return None,
    })
}

/// `acs:ram::<account>:role/<name>` -> (account, name).
fn parse_role_arn(arn: &str) -> ApiResult<(String, String)> {
    let invalid = || ApiError::invalid("RoleArn", "The parameter RoleArn is wrong.");
    let rest = arn.strip_prefix("acs:ram::").ok_or_else(invalid)?;
    let (account, name) = rest.split_once(":role/").ok_or_else(invalid)?;
    if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return Err(invalid());
    }
    Ok((account.to_string(), name.to_string()))
}

fn check_session_name(name: &str) -> ApiResult<()> {
    let length = name.chars().count();
    if !(2..=64).contains(&length)
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'))
    {
        return Err(ApiError::invalid(
            "RoleSessionName",
            "RoleSessionName must be 2-64 letters, digits, '.', '@', '-' or '_'.",
        ));
    }
    Ok(())
}

fn check_session_policy(policy: Option<&str>) -> ApiResult<()> {
    if let Some(policy) = policy {
        if policy.chars().count() > 2048 {
            return Err(ApiError::invalid(
                "PolicySize",
                "The size of the session policy must not exceed 2048 characters.",
            ));
        }
        authz::parse(policy, DocKind::Permission).map_err(|e| {
            ApiError::invalid(
                "PolicyGrammar",
                format!("The policy grammar is invalid: {e}"),
            )
        })?;
    }
    Ok(())
}

fn check_external_id(value: Option<&str>) -> ApiResult<()> {
    if let Some(id) = value {
        let ok = (2..=1224).contains(&id.chars().count())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
        if !ok {
            return Err(ApiError::invalid(
                "ExternalId",
                "The parameter ExternalId is invalid.",
            ));
        }
    }
    Ok(())
}

fn duration(request: &ApiRequest, role: &Role) -> ApiResult<i64> {
    let seconds = request.int_param("DurationSeconds")?.unwrap_or(3600);
    if seconds < 900 || seconds > role.max_session_duration {
        return Err(ApiError::invalid(
            "DurationSeconds",
            format!(
                "The Min/Max value of DurationSeconds is 15min/{}s.",
                role.max_session_duration
            ),
        ));
    }
    Ok(seconds)
}

/// The instant a token of `seconds` issued at `now` expires: `seconds * scale` later, rounded
/// up to a whole second so it never stops working before the reported `Expiration`.
pub fn scaled_expiration(now: Timestamp, seconds: i64, scale: f64) -> Timestamp {
    let lifetime_ms = ((seconds as f64) * scale * 1000.0).ceil().max(1000.0) as i64;
    let end_ms = now.as_millisecond().saturating_add(lifetime_ms);
    let end_s = end_ms.div_euclid(1000) + i64::from(end_ms.rem_euclid(1000) != 0);
    Timestamp::from_second(end_s).unwrap_or(Timestamp::MAX)
}

struct Issue<'a> {
    role_account: &'a str,
    role: Role,
    session_name: String,
    seconds: i64,
    policy: Option<String>,
    issued_to: String,
}

fn issue(ctx: &mut Ctx<'_>, issue: Issue<'_>) -> Value {
    let expiration = scaled_expiration(ctx.now, issue.seconds, ctx.expiry_scale);
    let session = StsSession {
        access_key_id: ids::sts_key_id(),
        secret: ids::secret(),
        security_token: ids::security_token(),
        account: issue.role_account.to_string(),
        role_id: issue.role.role_id.clone(),
        role_name: issue.role.role_name.clone(),
        session_name: issue.session_name.clone(),
        policy: issue.policy,
        issued_at: ctx.now,
        expiration,
        issued_to: issue.issued_to,
    };
    let body = json!({
        "AssumedRoleUser": {
            "Arn": format!("{}/{}", role_arn(issue.role_account, &issue.role.role_name), issue.session_name),
            "AssumedRoleId": format!("{}:{}", issue.role.role_id, issue.session_name),
        },
        "Credentials": {
            "AccessKeyId": session.access_key_id,
            "AccessKeySecret": session.secret,
            "SecurityToken": session.security_token,
            "Expiration": ts(expiration),
        },
    });
    // Bound memory: sessions a day past their expiry can no longer matter.
    if ctx.world.sessions.len().is_multiple_of(1024) {
        ctx.world
            .prune_sessions(ctx.now, jiff::SignedDuration::from_hours(24));
    }
    ctx.world
        .sessions
        .insert(session.access_key_id.clone(), session);
    body
}

fn find_role(ctx: &Ctx<'_>, account: &str, name: &str) -> ApiResult<Role> {
    ctx.world
        .accounts
        .get(account)
        .and_then(|a| a.roles.get(&name.to_ascii_lowercase()))
        .cloned()
        .ok_or_else(|| ApiError::not_found("EntityNotExist.Role", "The role does not exist."))
}

fn assume_role(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let arn = r.required("RoleArn")?;
    let session_name = r.required("RoleSessionName")?;
    let (role_account, role_name) = parse_role_arn(arn)?;
    check_session_name(session_name)?;
    let policy = r.optional("Policy");
    check_session_policy(policy)?;
    let external_id = r.optional("ExternalId");
    check_external_id(external_id)?;
    let principal = match &ctx.caller.identity {
        Identity::Root => {
            return Err(ApiError::new(
                403,
                "NoPermission",
                "Roles may not be assumed by root accounts.",
            ));
        }
        Identity::User { user_name, .. } => TrustPrincipal::User {
            account: ctx.caller.account.clone(),
            user: user_name.clone(),
        },
        Identity::Role { role_name, .. } => TrustPrincipal::Role {
            account: ctx.caller.account.clone(),
            role: role_name.clone(),
        },
        Identity::Anonymous => return Err(ApiError::no_permission(None)),
    };
    authorize(
        ctx.world,
        ctx.caller,
        "sts:AssumeRole",
        &role_arn(&role_account, &role_name),
        &ConditionContext::new(),
    )?;
    let role = find_role(ctx, &role_account, &role_name)?;
    let seconds = duration(r, &role)?;
    let trust = authz::parse(&role.assume_role_policy_document, DocKind::Trust)
        .map_err(|_| ApiError::no_permission(None))?;
    let mut context = ConditionContext::new();
    if let Some(id) = external_id {
        context.insert("sts:ExternalId".to_string(), id.to_string());
    }
    context.insert("acs:MFAPresent".to_string(), "false".to_string());
    if !authz::trust_allows(&trust, &principal, &context) {
        return Err(ApiError::no_permission(None));
    }
    let mut body = issue(
        ctx,
        Issue {
            role_account: &role_account,
            role,
            session_name: session_name.to_string(),
            seconds,
            policy: policy.map(str::to_string),
            issued_to: ctx.caller.arn(),
        },
    );
    if let (Some(source), Some(map)) = (r.optional("SourceIdentity"), body.as_object_mut()) {
        map.insert("SourceIdentity".to_string(), json!(source));
    }
    Ok(body)
}

fn assume_role_with_oidc(r: &ApiRequest, ctx: &mut Ctx<'_>) -> ApiResult<Value> {
    let arn = r.required("RoleArn")?;
    let provider_arn = r.required("OIDCProviderArn")?;
    let token = r.required("OIDCToken")?;
    let session_name = r.optional("RoleSessionName").unwrap_or("oidc-session");
    let (role_account, role_name) = parse_role_arn(arn)?;
    check_session_name(session_name)?;
    let policy = r.optional("Policy");
    check_session_policy(policy)?;
    let provider = ctx
        .oidc
        .iter()
        .find(|p| p.arn.eq_ignore_ascii_case(provider_arn))
        .ok_or_else(|| {
            ApiError::not_found(
                "EntityNotExist.OIDCProvider",
                "The OIDC provider does not exist.",
            )
        })?;
    if !provider_arn.starts_with(&format!("acs:ram::{role_account}:")) {
        return Err(ApiError::invalid(
            "OIDCProviderArn",
            "The OIDC provider and the role belong to different accounts.",
        ));
    }
    let claims = provider
        .verify(token, ctx.now.as_second())
        .map_err(token_refused)?;
    let role = find_role(ctx, &role_account, &role_name)?;
    let seconds = duration(r, &role)?;
    let trust = authz::parse(&role.assume_role_policy_document, DocKind::Trust)
        .map_err(|_| ApiError::no_permission(None))?;
    let mut context = ConditionContext::new();
    context.insert("oidc:iss".to_string(), claims.issuer.clone());
    context.insert("oidc:sub".to_string(), claims.subject.clone());
    if let Some(aud) = claims.audiences.first() {
        context.insert("oidc:aud".to_string(), aud.clone());
    }
    let principal = TrustPrincipal::Federated {
        provider_arn: provider.arn.clone(),
    };
    if !authz::trust_allows(&trust, &principal, &context) {
        return Err(ApiError::no_permission(None));
    }
    let mut body = issue(
        ctx,
        Issue {
            role_account: &role_account,
            role,
            session_name: session_name.to_string(),
            seconds,
            policy: policy.map(str::to_string),
            issued_to: format!("{}/{}", provider.arn, claims.subject),
        },
    );
    let time = |s: i64| Timestamp::from_second(s).map(ts).unwrap_or_default();
    if let Some(map) = body.as_object_mut() {
        map.insert(
            "OIDCTokenInfo".to_string(),
            json!({
                "Subject": claims.subject,
                "Issuer": claims.issuer,
                "ClientIds": claims.audiences.join(","),
                "IssuanceTime": time(claims.issued_at),
                "ExpirationTime": time(claims.expires_at),
                "VerificationInfo": "Success",
            }),
        );
    }
    Ok(body)
}

/// The answer to a refused OIDC token: HTTP 401, as STS's published error codes list
/// `AuthenticationFail.OIDCToken.*`.
fn token_refused(error: TokenError) -> ApiError {
    match error {
        TokenError::Expired => ApiError::new(
            401,
            "AuthenticationFail.OIDCToken.Expired",
            "The OIDC token has expired.",
        ),
        TokenError::Invalid(why) => ApiError::new(
            401,
            "AuthenticationFail.OIDCToken.Invalid",
            format!("The OIDC token is invalid: {why}."),
        ),
    }
}

fn get_caller_identity(caller: &Caller) -> ApiResult<Value> {
    let account = &caller.account;
    Ok(match &caller.identity {
        Identity::Root => json!({
            "AccountId": account, "Arn": caller.arn(), "IdentityType": "Account",
            "PrincipalId": account, "UserId": account,
        }),
        Identity::User { user_id, .. } => json!({
            "AccountId": account, "Arn": caller.arn(), "IdentityType": "RAMUser",
            "PrincipalId": user_id, "UserId": user_id,
        }),
        Identity::Role {
            role_id,
            session_name,
            ..
        } => json!({
            "AccountId": account, "Arn": caller.arn(), "IdentityType": "AssumedRoleUser",
            "PrincipalId": format!("{role_id}:{session_name}"), "RoleId": role_id,
        }),
        Identity::Anonymous => return Err(ApiError::missing("AccessKeyId")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("acs:ram::111:role/app").unwrap(),
            ("111".to_string(), "app".to_string())
        );
        assert!(parse_role_arn("acs:ram::abc:role/app").is_err());
        assert!(parse_role_arn("arn:aws:iam::1:role/x").is_err());
    }

    #[test]
    fn expiry_is_scaled_and_rounded_up() {
        let now = Timestamp::from_millisecond(1_000_500).unwrap();
        // 900 s * 0.01 = 9 s after 1000.5 s -> 1009.5 s, reported as 1010 s.
        assert_eq!(scaled_expiration(now, 900, 0.01).as_second(), 1010);
        let whole = Timestamp::from_second(1000).unwrap();
        assert_eq!(scaled_expiration(whole, 3600, 1.0).as_second(), 4600);
    }

    #[test]
    fn refused_oidc_tokens_are_401() {
        let expired = token_refused(TokenError::Expired);
        assert_eq!(
            (expired.status, expired.code.as_str()),
            (401, "AuthenticationFail.OIDCToken.Expired")
        );
        let invalid = token_refused(TokenError::Invalid("bad signature".into()));
        assert_eq!(
            (invalid.status, invalid.code.as_str()),
            (401, "AuthenticationFail.OIDCToken.Invalid")
        );
        assert!(invalid.message.contains("bad signature"));
    }

    #[test]
    fn session_names() {
        assert!(check_session_name("ok-name_1@x.y").is_ok());
        assert!(check_session_name("a").is_err());
        assert!(check_session_name("has space").is_err());
    }
}
