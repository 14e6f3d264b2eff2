//! Request signing exactly as the official Alibaba Cloud SDKs do it.
//!
//! Two styles exist for RPC APIs (RAM, IMS, STS):
//! - V2, `SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`: every parameter is signed, the
//!   canonical query is percent-encoded a second time, and the HMAC key is `secret + "&"`.
//! - V3, `ACS3-HMAC-SHA256`: the operation travels in `x-acs-*` headers and the signature in an
//!   `Authorization` header over a canonical request.
//!
//! The client signs with V2; the emulator verifies both, so this module is shared by both and
//! holds only pure functions (no clock, no randomness): callers pass the timestamp and nonce.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// `SignatureMethod` value of V2 signing.
pub const V2_SIGNATURE_METHOD: &str = "HMAC-SHA1";
/// `SignatureVersion` value of V2 signing.
pub const V2_SIGNATURE_VERSION: &str = "1.0";
/// Algorithm name of V3 signing, first word of its `Authorization` header.
pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Percent-encodes a parameter name or value over its UTF-8 bytes: `A-Z a-z 0-9 - _ . ~` stay
/// literal, every other byte becomes `%XY` with uppercase hex (so space is `%20`, never `+`).
pub fn percent_encode(input: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len() * 3);
    for &byte in input.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0x0f)] as char);
        }
    }
    out
}

/// `enc(name)=enc(value)` pairs sorted by raw name (byte order), joined with `&`.
///
/// A `BTreeMap<String, _>` iterates in byte order, which is the order the SDKs sort in.
pub fn canonicalized_query(params: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (name, value) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&percent_encode(name));
        out.push('=');
        out.push_str(&percent_encode(value));
    }
    out
}

/// The V2 string to sign: `METHOD&%2F&enc(canonicalized query)`.
///
/// `params` is every parameter sent (query and form body) except `Signature`.
pub fn rpc_string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode("/"),
        percent_encode(&canonicalized_query(params))
    )
}

/// Base64 HMAC-SHA1 of `string_to_sign` keyed with `access_key_secret + "&"`.
pub fn rpc_signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let key = format!("{access_key_secret}&");
    let mut mac =
        Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// A V2 signature together with the string it was computed over (the server echoes its own
/// string to sign on a mismatch, so keeping ours helps to tell a wrong secret from a bug).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcSignature {
    pub string_to_sign: String,
    pub signature: String,
}

/// Signs a V2 request: `params` holds every parameter to send, `Signature` excluded.
pub fn sign_rpc(
    method: &str,
    params: &BTreeMap<String, String>,
    access_key_secret: &str,
) -> RpcSignature {
    let string_to_sign = rpc_string_to_sign(method, params);
    let signature = rpc_signature(access_key_secret, &string_to_sign);
    RpcSignature {
        string_to_sign,
        signature,
    }
}

/// Lower-case hex SHA-256, as used for `x-acs-content-sha256` and the V3 string to sign.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The inputs of a V3 signature. Header names must already be lower-case; only the headers
/// listed here are signed.
#[derive(Debug, Clone)]
pub struct V3Request<'a> {
    pub method: &'a str,
    /// Request path, `/` for RPC APIs.
    pub path: &'a str,
    pub query: &'a BTreeMap<String, String>,
    pub signed_headers: &'a BTreeMap<String, String>,
    /// Lower-case hex SHA-256 of the body (`x-acs-content-sha256`).
    pub payload_hash: &'a str,
}

/// The V3 canonical request:
/// `METHOD\nPATH\nQUERY\nname:value\n...\n\nsigned;header;names\nPAYLOAD_HASH`.
pub fn v3_canonical_request(request: &V3Request<'_>) -> String {
    let headers: String = request
        .signed_headers
        .iter()
        .map(|(name, value)| format!("{name}:{}\n", value.trim()))
        .collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.to_ascii_uppercase(),
        request.path,
        canonicalized_query(request.query),
        headers,
        v3_signed_header_names(request.signed_headers),
        request.payload_hash
    )
}

/// The `SignedHeaders` list: lower-case names joined with `;`, sorted.
pub fn v3_signed_header_names(signed_headers: &BTreeMap<String, String>) -> String {
    signed_headers
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(";")
}

/// `ACS3-HMAC-SHA256\n` + hex SHA-256 of the canonical request.
pub fn v3_string_to_sign(canonical_request: &str) -> String {
    format!(
        "{V3_ALGORITHM}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Lower-case hex HMAC-SHA256 keyed with the plain secret (no `&`, unlike V2).
pub fn v3_signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(access_key_secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The value of the `Authorization` header of a V3 request.
pub fn v3_authorization(access_key_id: &str, request: &V3Request<'_>, secret: &str) -> String {
    let string_to_sign = v3_string_to_sign(&v3_canonical_request(request));
    format!(
        "{V3_ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={}",
        v3_signed_header_names(request.signed_headers),
        v3_signature(secret, &string_to_sign)
    )
}

/// The three fields of a V3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Authorization {
    pub access_key_id: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=...`; `None` when the
/// header is not of that form.
pub fn parse_v3_authorization(header: &str) -> Option<V3Authorization> {
    let rest = header.strip_prefix(V3_ALGORITHM)?.trim_start();
    let mut access_key_id = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name {
            "Credential" => access_key_id = Some(value.to_string()),
            "SignedHeaders" => {
                signed_headers = Some(value.split(';').map(str::to_string).collect::<Vec<_>>())
            }
            "Signature" => signature = Some(value.to_string()),
            _ => return None,
        }
    }
    Some(V3Authorization {
        access_key_id: access_key_id?,
        signed_headers: signed_headers?,
        signature: signature?,
    })
}

/// Formats a timestamp the way both signature styles and the API responses carry it:
/// UTC `YYYY-MM-DDThh:mm:ssZ`, no fractional seconds.
pub fn format_timestamp(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a `YYYY-MM-DDThh:mm:ssZ` timestamp (any RFC 3339 UTC form is accepted).
pub fn parse_timestamp(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn percent_encoding_follows_the_sdk_rules() {
        assert_eq!(
            percent_encode("a b*c~d/e=f&g+h%"),
            "a%20b%2Ac~d%2Fe%3Df%26g%2Bh%25"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("😀"), "%F0%9F%98%80");
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
    }

    #[test]
    fn sorting_is_by_byte_order() {
        let query = canonicalized_query(&params(&[
            ("Tag.2.Key", "b"),
            ("Tag.10.Key", "c"),
            ("Tag.1.Key", "a"),
            ("lower", "z"),
            ("Upper", ""),
        ]));
        assert_eq!(query, "Tag.1.Key=a&Tag.10.Key=c&Tag.2.Key=b&Upper=&lower=z");
    }

    #[test]
    fn published_documentation_example() {
        let signed = sign_rpc(
            "GET",
            &params(&[
                ("AccessKeyId", "testid"),
                ("Action", "DescribeRegions"),
                ("Format", "XML"),
                ("SignatureMethod", "HMAC-SHA1"),
                ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
                ("SignatureVersion", "1.0"),
                ("Timestamp", "2016-02-23T12:46:24Z"),
                ("Version", "2014-05-26"),
            ]),
            "testsecret",
        );
        assert_eq!(signed.signature, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }

    #[test]
    fn v3_worked_example_from_the_reference() {
        let query = params(&[
            (
                "RoleArn",
                "acs:ram::1234567890123456:role/rabbitmq-access-role",
            ),
            ("RoleSessionName", "operator-session"),
            ("DurationSeconds", "3600"),
        ]);
        let payload_hash = sha256_hex(b"");
        let headers = params(&[
            ("host", "sts.aliyuncs.com"),
            ("x-acs-action", "AssumeRole"),
            ("x-acs-version", "2015-04-01"),
            ("x-acs-date", "2024-01-02T03:04:05Z"),
            (
                "x-acs-signature-nonce",
                "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
            ),
            ("x-acs-content-sha256", &payload_hash),
        ]);
        let request = V3Request {
            method: "POST",
            path: "/",
            query: &query,
            signed_headers: &headers,
            payload_hash: &payload_hash,
        };
        let string_to_sign = v3_string_to_sign(&v3_canonical_request(&request));
        assert_eq!(
            string_to_sign,
            "ACS3-HMAC-SHA256\n71a9d72edfee48a0dbaddceebcf454f18c70555256a12abb2292ebc753a7b34a"
        );
        let authorization = v3_authorization("testid", &request, "testsecret");
        assert_eq!(
            authorization,
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;\
             x-acs-date;x-acs-signature-nonce;x-acs-version,\
             Signature=fe2ec70fbcbbc6e5fbb363bac776741574cdacb66a7d0a617cc37a741d54ca04"
        );
        let parsed = parse_v3_authorization(&authorization).expect("parses");
        assert_eq!(parsed.access_key_id, "testid");
        assert_eq!(parsed.signed_headers.len(), 6);
        assert_eq!(
            parsed.signature,
            "fe2ec70fbcbbc6e5fbb363bac776741574cdacb66a7d0a617cc37a741d54ca04"
        );
    }

    #[test]
    fn malformed_v3_authorization_is_refused() {
        assert_eq!(parse_v3_authorization("Bearer abc"), None);
        assert_eq!(
            parse_v3_authorization("ACS3-HMAC-SHA256 Credential=a,Signature=b"),
            None
        );
    }

    #[test]
    fn timestamps_have_no_fraction() {
        let at: jiff::Timestamp = "2024-01-02T03:04:05.678Z".parse().unwrap();
        assert_eq!(format_timestamp(at), "2024-01-02T03:04:05Z");
        assert_eq!(
            parse_timestamp("2024-01-02T03:04:05Z"),
            jiff::Timestamp::from_second(at.as_second()).ok()
        );
    }
}
