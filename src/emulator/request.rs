//! Turns an HTTP request into an API request: form-decoded query and body parameters, the
//! operation (`Action` / `Version` parameters or `x-acs-action` / `x-acs-version` headers)
//! and which signature style it carries.
//!
//! Knows nothing of keys, state or operations.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use super::errors::{ApiError, ApiResult};

/// The three services this port serves, by API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// RAM, `2015-05-01`.
    Ram,
    /// IMS, `2019-08-15`.
    Ims,
    /// STS, `2015-04-01`.
    Sts,
}

impl Service {
    /// The service that answers `version`.
    pub fn from_version(version: &str) -> Option<Self> {
        match version {
            "2015-05-01" => Some(Self::Ram),
            "2019-08-15" => Some(Self::Ims),
            "2015-04-01" => Some(Self::Sts),
            _ => None,
        }
    }

    /// `HostId` in error bodies.
    pub fn host_id(self) -> &'static str {
        match self {
            Self::Ram => "ram.aliyuncs.com",
            Self::Ims => "ims.aliyuncs.com",
            Self::Sts => "sts.aliyuncs.com",
        }
    }

    /// Product code used in the `Recommend` link.
    pub fn product(self) -> &'static str {
        match self {
            Self::Ram => "Ram",
            Self::Ims => "Ims",
            Self::Sts => "Sts",
        }
    }
}

/// How the request is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStyle {
    /// RPC HMAC-SHA1: a `Signature` parameter.
    V2,
    /// `ACS3-HMAC-SHA256`: an `Authorization` header.
    V3,
    /// Neither (only `AssumeRoleWithOIDC` accepts that).
    Anonymous,
}

/// A parsed API request.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Form-decoded URL query parameters.
    pub query: BTreeMap<String, String>,
    /// Form-decoded body parameters (`application/x-www-form-urlencoded` bodies only).
    pub body_params: BTreeMap<String, String>,
    /// Request headers (names are lower-case in `HeaderMap`).
    pub headers: HeaderMap,
    /// Raw body, hashed for V3.
    pub body: Vec<u8>,
    /// The operation name.
    pub action: String,
    /// The API version.
    pub version: String,
    /// The service the version selects.
    pub service: Service,
    /// Signature style.
    pub style: SignatureStyle,
}

/// Form-decodes `a=b&c=d` (`+` is a space, `%XY` a byte), as a server must.
pub fn form_decode(text: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(text).into_owned().collect()
}

impl ApiRequest {
    /// Parses method, raw query, headers and body. Fails with the gateway's codes when the
    /// operation or the version cannot be found.
    pub fn parse(
        method: &str,
        raw_query: Option<&str>,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> ApiResult<Self> {
        let query = raw_query
            .map(|q| form_decode(q.as_bytes()))
            .unwrap_or_default();
        let is_form = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let body_params = if is_form && !body.is_empty() {
            form_decode(&body)
        } else {
            BTreeMap::new()
        };
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let param = |name: &str| query.get(name).or_else(|| body_params.get(name)).cloned();
        let action = param("Action")
            .or_else(|| header("x-acs-action"))
            .ok_or_else(|| ApiError::missing("Action"))?;
        let version = param("Version")
            .or_else(|| header("x-acs-version"))
            .ok_or_else(|| ApiError::missing("Version"))?;
        let service = Service::from_version(&version).ok_or_else(|| {
            ApiError::bad_request(
                "InvalidVersion",
                format!("Specified parameter Version is not valid: {version}."),
            )
        })?;
        let style = if header("authorization").is_some() {
            SignatureStyle::V3
        } else if query.contains_key("Signature") || body_params.contains_key("Signature") {
            SignatureStyle::V2
        } else {
            SignatureStyle::Anonymous
        };
        Ok(Self {
            method: method.to_ascii_uppercase(),
            query,
            body_params,
            headers,
            body,
            action,
            version,
            service,
            style,
        })
    }

    /// A business parameter: query first, then form body.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .or_else(|| self.body_params.get(name))
            .map(String::as_str)
    }

    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every parameter sent, query and body together (what V2 signs, plus `Signature`).
    pub fn all_params(&self) -> BTreeMap<String, String> {
        let mut all = self.body_params.clone();
        all.extend(self.query.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }

    /// A parameter that must be present and non-empty.
    pub fn required(&self, name: &str) -> ApiResult<&str> {
        match self.param(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::missing(name)),
        }
    }

    /// An optional non-empty parameter.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.param(name).filter(|v| !v.is_empty())
    }

    /// An optional boolean (`true` / `false`, any case).
    pub fn bool_param(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid(
                name,
                format!("{name} must be true or false."),
            )),
        }
    }

    /// An optional integer.
    pub fn int_param(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                ApiError::invalid(
                    name,
                    format!("The parameter {name} is not a valid integer."),
                )
            }),
        }
    }

    /// Flattened list parameters `<prefix>.1`, `<prefix>.2`, ... in index order.
    pub fn flat_list(&self, prefix: &str) -> Vec<String> {
        let mut indexed: Vec<(u32, String)> = self
            .all_params()
            .into_iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix(prefix)?.strip_prefix('.')?.parse().ok()?;
                Some((index, v))
            })
            .collect();
        indexed.sort_by_key(|(i, _)| *i);
        indexed.into_iter().map(|(_, v)| v).collect()
    }

    /// Flattened `<prefix>.N.Key` / `<prefix>.N.Value` pairs in index order.
    pub fn flat_tags(&self, prefix: &str) -> Vec<(String, String)> {
        let all = self.all_params();
        let mut indexed: BTreeMap<u32, (Option<String>, Option<String>)> = BTreeMap::new();
        for (k, v) in &all {
            let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let Some((index, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(index) = index.parse::<u32>() else {
                continue;
            };
            let entry = indexed.entry(index).or_default();
            match field {
                "Key" => entry.0 = Some(v.clone()),
                "Value" => entry.1 = Some(v.clone()),
                _ => {}
            }
        }
        indexed
            .into_values()
            .filter_map(|(k, v)| Some((k?, v.unwrap_or_default())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_treats_plus_as_space() {
        let decoded = form_decode(b"a=x+y&b=%2B%20z&c=");
        assert_eq!(decoded["a"], "x y");
        assert_eq!(decoded["b"], "+ z");
        assert_eq!(decoded["c"], "");
    }

    #[test]
    fn operation_from_headers_and_params() {
        let mut headers = HeaderMap::new();
        headers.insert("x-acs-action", "AssumeRole".parse().unwrap());
        headers.insert("x-acs-version", "2015-04-01".parse().unwrap());
        headers.insert("authorization", "ACS3-HMAC-SHA256 x".parse().unwrap());
        let request = ApiRequest::parse("POST", Some("RoleArn=a"), headers, vec![]).unwrap();
        assert_eq!(request.action, "AssumeRole");
        assert_eq!(request.service, Service::Sts);
        assert_eq!(request.style, SignatureStyle::V3);

        let request = ApiRequest::parse(
            "get",
            Some("Action=GetRole&Version=2015-05-01&Signature=x&Tag.2.Key=b&Tag.1.Key=a&Tag.1.Value=1"),
            HeaderMap::new(),
            vec![],
        )
        .unwrap();
        assert_eq!(request.service, Service::Ram);
        assert_eq!(request.style, SignatureStyle::V2);
        assert_eq!(
            request.flat_tags("Tag"),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn unknown_version_is_refused() {
        let err = ApiRequest::parse(
            "GET",
            Some("Action=X&Version=1999-01-01"),
            HeaderMap::new(),
            vec![],
        )
        .unwrap_err();
        assert_eq!(err.code, "InvalidVersion");
    }
}
