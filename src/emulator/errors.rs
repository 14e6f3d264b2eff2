//! Error answers of the emulated services: code, HTTP status and message, rendered in the body
//! shape of the real gateway (`RequestId`, `HostId`, `Code`, `Message`, `Recommend`).
//!
//! Knows nothing of state or authentication; the operations pick the code.

use serde_json::{Value, json};

/// One error answer. `detail` carries an optional `AccessDeniedDetail` object for
/// `NoPermission`, which the Tea SDK surfaces as `access_denied_detail`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// The `Code` field, e.g. `EntityNotExist.Role`.
    pub code: String,
    /// The `Message` field.
    pub message: String,
    /// Optional `AccessDeniedDetail`.
    pub detail: Option<Value>,
}

/// Result type of every operation.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            detail: None,
        }
    }

    /// 400 with the given code.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 404 `<code>`.
    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    /// 409 `<code>`.
    pub fn conflict(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    /// A required parameter is absent: the gateway answers `Missing<Name>`.
    pub fn missing(name: &str) -> Self {
        Self::bad_request(
            format!("Missing{name}"),
            format!("{name} is mandatory for this action."),
        )
    }

    /// `InvalidParameter.<suffix>` with a message.
    pub fn invalid(suffix: &str, message: impl Into<String>) -> Self {
        if suffix.is_empty() {
            Self::bad_request("InvalidParameter", message)
        } else {
            Self::bad_request(format!("InvalidParameter.{suffix}"), message)
        }
    }

    /// The standard `NoPermission` answer (403).
    pub fn no_permission(detail: Option<Value>) -> Self {
        Self {
            detail,
            ..Self::new(
                403,
                "NoPermission",
                "You are not authorized to do this action. You should be authorized by RAM.",
            )
        }
    }

    /// `MalformedPolicyDocument` with a reason.
    pub fn malformed_policy(reason: &str) -> Self {
        Self::bad_request(
            "MalformedPolicyDocument",
            format!("The policy document is malformed: {reason}"),
        )
    }

    /// The JSON body of this error for a request with id `request_id` to `host_id`.
    pub fn body(&self, request_id: &str, host_id: &str, product: &str) -> Value {
        let mut body = json!({
            "RequestId": request_id,
            "HostId": host_id,
            "Code": self.code,
            "Message": self.message,
            "Recommend": format!(
                "https://api.aliyun.com/troubleshoot?q={}&product={product}&requestId={request_id}",
                self.code
            ),
        });
        if let (Some(detail), Some(map)) = (&self.detail, body.as_object_mut()) {
            map.insert("AccessDeniedDetail".to_string(), detail.clone());
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_gateway_shape() {
        let body = ApiError::not_found("EntityNotExist.Role", "The role does not exist.").body(
            "REQ",
            "ram.aliyuncs.com",
            "Ram",
        );
        assert_eq!(body["Code"], "EntityNotExist.Role");
        assert_eq!(body["RequestId"], "REQ");
        assert_eq!(body["HostId"], "ram.aliyuncs.com");
        assert!(
            body["Recommend"]
                .as_str()
                .is_some_and(|r| r.contains("q=EntityNotExist.Role"))
        );
        assert!(body.get("AccessDeniedDetail").is_none());
    }

    #[test]
    fn missing_parameter_code() {
        let err = ApiError::missing("RoleArn");
        assert_eq!(err.code, "MissingRoleArn");
        assert_eq!(err.status, 400);
    }
}
