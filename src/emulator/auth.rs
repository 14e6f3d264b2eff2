//! Authentication as the gateway does it: find the key (root, RAM user or STS session), check
//! the security token, the timestamp window, the signature (V2 HMAC-SHA1 or V3
//! ACS3-HMAC-SHA256, computed with the shared signer) and the nonce.
//!
//! Decides who the caller is, never what the caller may do (that is `authz`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

use super::errors::{ApiError, ApiResult};
use super::request::{ApiRequest, SignatureStyle};
use super::state::{KeyOwner, World};
use crate::alicloud::signature;

/// How far a request timestamp may be from the emulator's clock.
pub const TIMESTAMP_WINDOW: SignedDuration = SignedDuration::from_mins(15);
/// How long a used nonce is remembered (longer than the whole timestamp window, so a replay
/// inside the window is always caught).
pub const NONCE_RETENTION: SignedDuration = SignedDuration::from_mins(31);

/// The kind of identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The account's root key.
    Root,
    /// A RAM user's key.
    User { user_id: String, user_name: String },
    /// STS credentials of an assumed role.
    Role {
        role_id: String,
        role_name: String,
        session_name: String,
        session_policy: Option<String>,
    },
    /// No credentials (only `AssumeRoleWithOIDC`).
    Anonymous,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The account the identity belongs to (empty for anonymous).
    pub account: String,
    /// Who it is.
    pub identity: Identity,
    /// The access key id used (empty for anonymous).
    pub access_key_id: String,
}

impl Caller {
    /// The principal's ARN, as `GetCallerIdentity` shows it.
    pub fn arn(&self) -> String {
        let account = &self.account;
        match &self.identity {
            Identity::Root => format!("acs:ram::{account}:root"),
            Identity::User { user_name, .. } => format!("acs:ram::{account}:user/{user_name}"),
            Identity::Role {
                role_name,
                session_name,
                ..
            } => format!("acs:ram::{account}:assumed-role/{role_name}/{session_name}"),
            Identity::Anonymous => "anonymous".to_string(),
        }
    }
}

/// Used nonces, remembered for [`NONCE_RETENTION`].
#[derive(Debug, Default)]
pub struct NonceCache {
    inner: Mutex<NonceInner>,
}

#[derive(Debug, Default)]
struct NonceInner {
    seen: HashMap<String, Timestamp>,
    inserts_since_prune: usize,
}

impl NonceCache {
    /// Records `nonce` for `key_id`; false when it was already used.
    pub fn insert(&self, key_id: &str, nonce: &str, now: Timestamp) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        inner.inserts_since_prune += 1;
        if inner.inserts_since_prune >= 50_000 {
            inner.inserts_since_prune = 0;
            inner.seen.retain(|_, expiry| *expiry > now);
        }
        let key = format!("{key_id}\n{nonce}");
        match inner.seen.get(&key) {
            Some(expiry) if *expiry > now => false,
            _ => {
                let expiry = now.checked_add(NONCE_RETENTION).unwrap_or(now);
                inner.seen.insert(key, expiry);
                true
            }
        }
    }
}

struct Presented {
    key_id: String,
    token: Option<String>,
    timestamp: String,
    nonce: String,
}

fn presented(request: &ApiRequest) -> ApiResult<Presented> {
    match request.style {
        SignatureStyle::V2 => {
            let method = request.param("SignatureMethod").unwrap_or_default();
            if method != signature::V2_SIGNATURE_METHOD {
                return Err(ApiError::bad_request(
                    "InvalidSignatureMethod",
                    "Specified signature method is not valid.",
                ));
            }
            let version = request.param("SignatureVersion").unwrap_or_default();
            if version != signature::V2_SIGNATURE_VERSION {
                return Err(ApiError::bad_request(
                    "InvalidSignatureVersion",
                    "Specified signature version is not valid.",
                ));
            }
            Ok(Presented {
                key_id: request.required("AccessKeyId")?.to_string(),
                token: request.optional("SecurityToken").map(str::to_string),
                timestamp: request.required("Timestamp")?.to_string(),
                nonce: request.required("SignatureNonce")?.to_string(),
            })
        }
        SignatureStyle::V3 => {
            let header = request.header("authorization").unwrap_or_default();
            let parsed = signature::parse_v3_authorization(header).ok_or_else(incomplete)?;
            let required = |name: &str| {
                request
                    .header(name)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::missing(name))
            };
            Ok(Presented {
                key_id: parsed.access_key_id,
                token: request
                    .header("x-acs-security-token")
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
                timestamp: required("x-acs-date")?,
                nonce: required("x-acs-signature-nonce")?,
            })
        }
        SignatureStyle::Anonymous => Err(if request.param("AccessKeyId").is_some() {
            ApiError::missing("Signature")
        } else {
            ApiError::missing("AccessKeyId")
        }),
    }
}

fn incomplete() -> ApiError {
    ApiError::bad_request(
        "IncompleteSignature",
        "The request signature does not conform to Aliyun standards.",
    )
}

fn key_not_found() -> ApiError {
    ApiError::not_found(
        "InvalidAccessKeyId.NotFound",
        "Specified access key is not found.",
    )
}

/// Resolves the key to (caller, secret), checking token, status and expiry.
fn resolve_key(
    world: &World,
    presented: &Presented,
    now: Timestamp,
) -> ApiResult<(Caller, String)> {
    let key_id = presented.key_id.as_str();
    if key_id.starts_with("STS.") {
        let session = world.sessions.get(key_id).ok_or_else(key_not_found)?;
        let token = presented.token.as_deref().ok_or_else(|| {
            ApiError::bad_request(
                "MissingSecurityToken",
                "SecurityToken is mandatory for this action.",
            )
        })?;
        if token != session.security_token {
            return Err(ApiError::bad_request(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            ));
        }
        if now >= session.expiration {
            return Err(ApiError::bad_request(
                "InvalidSecurityToken.Expired",
                "Specified SecurityToken is expired.",
            ));
        }
        let caller = Caller {
            account: session.account.clone(),
            identity: Identity::Role {
                role_id: session.role_id.clone(),
                role_name: session.role_name.clone(),
                session_name: session.session_name.clone(),
                session_policy: session.policy.clone(),
            },
            access_key_id: key_id.to_string(),
        };
        return Ok((caller, session.secret.clone()));
    }
    if presented.token.is_some() {
        // A token only belongs to STS credentials; with a permanent key it cannot match.
        return Err(ApiError::bad_request(
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        ));
    }
    let owner = world.key_owner(key_id).ok_or_else(key_not_found)?;
    match owner {
        KeyOwner::Root { account } => {
            let secret = world
                .accounts
                .get(account)
                .and_then(|a| a.root_keys.get(key_id))
                .ok_or_else(key_not_found)?;
            Ok((
                Caller {
                    account: account.clone(),
                    identity: Identity::Root,
                    access_key_id: key_id.to_string(),
                },
                secret.clone(),
            ))
        }
        KeyOwner::User { account, user_id } => {
            let user = world
                .accounts
                .get(account)
                .and_then(|a| a.user_by_id(user_id))
                .ok_or_else(key_not_found)?;
            let key = user
                .access_keys
                .iter()
                .find(|k| k.access_key_id == key_id)
                .ok_or_else(key_not_found)?;
            if key.status != "Active" {
                return Err(ApiError::bad_request(
                    "InvalidAccessKeyId.Inactive",
                    "Specified access key is disabled.",
                ));
            }
            Ok((
                Caller {
                    account: account.clone(),
                    identity: Identity::User {
                        user_id: user.user_id.clone(),
                        user_name: user.user_name.clone(),
                    },
                    access_key_id: key_id.to_string(),
                },
                key.secret.clone(),
            ))
        }
    }
}

fn check_timestamp(text: &str, now: Timestamp) -> ApiResult<()> {
    let at = signature::parse_timestamp(text).ok_or_else(|| {
        ApiError::bad_request(
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    let skew = now.duration_since(at).abs();
    if skew > TIMESTAMP_WINDOW {
        return Err(ApiError::bad_request(
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

fn mismatch(string_to_sign: &str) -> ApiError {
    // aliyunsdkcore splits this message at its first ':' and compares the rest with its own
    // string to sign, so exactly one ':' may precede it.
    ApiError::bad_request(
        "SignatureDoesNotMatch",
        format!(
            "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
        ),
    )
}

fn verify_v2(request: &ApiRequest, secret: &str) -> ApiResult<()> {
    let mut params = request.all_params();
    let sent = params.remove("Signature").unwrap_or_default();
    let expected = signature::sign_rpc(&request.method, &params, secret);
    if expected.signature != sent {
        return Err(mismatch(&expected.string_to_sign));
    }
    Ok(())
}

fn verify_v3(request: &ApiRequest, secret: &str) -> ApiResult<()> {
    let header = request.header("authorization").unwrap_or_default();
    let parsed = signature::parse_v3_authorization(header).ok_or_else(incomplete)?;
    let mut signed = BTreeMap::new();
    for name in &parsed.signed_headers {
        let name = name.to_ascii_lowercase();
        // Repeated headers are joined the way the Tea SDK canonicalises them.
        let mut values: Vec<&str> = request
            .headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .collect();
        if values.is_empty() {
            return Err(incomplete());
        }
        values.sort_unstable();
        signed.insert(name, values.join(","));
    }
    let every_acs_header_signed = request
        .headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-acs-"))
        .all(|name| signed.contains_key(name.as_str()));
    if !signed.contains_key("host") || !every_acs_header_signed {
        return Err(incomplete());
    }
    let body_hash = signature::sha256_hex(&request.body);
    let payload_hash = request
        .header("x-acs-content-sha256")
        .unwrap_or(body_hash.as_str());
    let v3 = signature::V3Request {
        method: &request.method,
        path: "/",
        query: &request.query,
        signed_headers: &signed,
        payload_hash,
    };
    let string_to_sign = signature::v3_string_to_sign(&signature::v3_canonical_request(&v3));
    if signature::v3_signature(secret, &string_to_sign) != parsed.signature
        || payload_hash != body_hash
    {
        return Err(mismatch(&string_to_sign));
    }
    Ok(())
}

/// Authenticates a signed request: key, token, timestamp, signature, then nonce (a nonce is
/// only spent by a request whose signature is valid).
pub fn authenticate(
    request: &ApiRequest,
    world: &World,
    nonces: &NonceCache,
    now: Timestamp,
) -> ApiResult<Caller> {
    let presented = presented(request)?;
    let (caller, secret) = resolve_key(world, &presented, now)?;
    check_timestamp(&presented.timestamp, now)?;
    match request.style {
        SignatureStyle::V2 => verify_v2(request, &secret)?,
        SignatureStyle::V3 => verify_v3(request, &secret)?,
        SignatureStyle::Anonymous => return Err(incomplete()),
    }
    if !nonces.insert(&presented.key_id, &presented.nonce, now) {
        return Err(ApiError::bad_request(
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    Ok(caller)
}

/// The caller of an anonymous request (`AssumeRoleWithOIDC`).
pub fn anonymous() -> Caller {
    Caller {
        account: String::new(),
        identity: Identity::Anonymous,
        access_key_id: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_reuse_is_caught_and_scoped_per_key() {
        let cache = NonceCache::default();
        let now = Timestamp::now();
        assert!(cache.insert("AK", "n1", now));
        assert!(!cache.insert("AK", "n1", now));
        assert!(cache.insert("AK2", "n1", now));
        let later = now.checked_add(SignedDuration::from_mins(32)).unwrap();
        assert!(cache.insert("AK", "n1", later));
    }

    #[test]
    fn timestamp_window() {
        let now: Timestamp = "2024-01-02T03:04:05Z".parse().unwrap();
        assert!(check_timestamp("2024-01-02T03:18:05Z", now).is_ok());
        assert_eq!(
            check_timestamp("2024-01-02T03:20:06Z", now)
                .unwrap_err()
                .code,
            "InvalidTimeStamp.Expired"
        );
        assert_eq!(
            check_timestamp("2024-01-02T02:49:04Z", now)
                .unwrap_err()
                .code,
            "InvalidTimeStamp.Expired"
        );
        assert_eq!(
            check_timestamp("yesterday", now).unwrap_err().code,
            "InvalidTimeStamp.Format"
        );
    }

    #[test]
    fn mismatch_message_has_one_colon_before_the_string() {
        let err = mismatch("POST&%2F&A%3Db");
        assert_eq!(err.message.split(':').nth(1), Some("POST&%2F&A%3Db"));
    }
}
