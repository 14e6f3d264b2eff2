//! Entry points for the `cargo fuzz` targets in `fuzz/` and for the plain test that replays
//! their corpus and regression inputs (`tests/fuzz_regressions.rs`).
//!
//! Each function takes arbitrary bytes, drives one parser of untrusted input (cloud answers,
//! policy documents, requests reaching the emulator) and panics only when an invariant breaks,
//! so a fuzzer crash is always a finding. Not part of the operator's API; knows nothing of
//! Kubernetes.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::alicloud::error::{Error, ErrorKind};
use crate::alicloud::policy::{PolicyDocument, diff, equivalent};
use crate::alicloud::{ims, ram, signature, sts, wire};
use crate::emulator::accounts::{AccountSpec, AccountsFile, KeySpec};
use crate::emulator::auth::{NonceCache, authenticate};
use crate::emulator::request::ApiRequest;
use crate::emulator::state::World;

/// One fuzz target's entry point.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (the `fuzz/fuzz_targets/<name>.rs` files and the
/// `fuzz/{corpus,regressions}/<name>/` directories).
pub const TARGETS: &[(&str, Target)] = &[
    ("error_response", error_response),
    ("wire_decode", wire_decode),
    ("policy_normalize", policy_normalize),
    ("emulator_request", emulator_request),
    ("emulator_signed", emulator_signed),
];

/// A secret the error parser must never let through into the error text.
const SECRET: &str = "fuzz-secret-value+/=";

/// The error parser: first two bytes are the HTTP status, the rest the body. The error text
/// never holds the caller's secret, the classification is total, `Display` never panics.
pub fn error_response(data: &[u8]) {
    let (status, body) = match data {
        [high, low, rest @ ..] => (u16::from_be_bytes([*high, *low]), rest),
        _ => (500, data),
    };
    let mut with_secret = body.to_vec();
    with_secret.extend_from_slice(SECRET.as_bytes());
    // The secret echoed inside a well-formed message, surrounded by the fuzzer's text.
    let text = String::from_utf8_lossy(body);
    let echoed = serde_json::json!({
        "Code": text, "Message": format!("{text}{SECRET}{text}"), "RequestId": text,
    })
    .to_string();
    for body in [body, with_secret.as_slice(), echoed.as_bytes()] {
        let error = Error::from_response("GetRole", status, body, None, &[SECRET]);
        let text = error.to_string();
        assert!(!text.contains(SECRET), "secret in error text: {text}");
        assert!(
            !text.contains(&signature::percent_encode(SECRET)),
            "encoded secret in error text: {text}"
        );
        assert_eq!(error.http_status(), Some(status));
        let _ = error.is_retryable();
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = crate::alicloud::error::classify(Some(status), Some(text));
    }
}

/// The response decoder: the body decoded into every answer shape the client reads. Errors
/// are `Decode` and never quote the body.
pub fn wire_decode(data: &[u8]) {
    fn check<T: serde::de::DeserializeOwned>(data: &[u8]) {
        if let Err(error) = wire::decode::<T>("Fuzz", data) {
            assert_eq!(error.kind(), ErrorKind::Decode);
            let text = error.to_string();
            if data.len() >= 8
                && let Ok(body) = std::str::from_utf8(data)
            {
                assert!(!text.contains(body), "body quoted in {text}");
            }
        }
    }
    check::<ram::Role>(data);
    check::<ram::AttachedPolicy>(data);
    check::<ram::Policy>(data);
    check::<ram::GetPolicyResponse>(data);
    check::<ram::User>(data);
    check::<ram::LoginProfile>(data);
    check::<ram::AccessKey>(data);
    check::<ram::AccessKeyInfo>(data);
    check::<ram::PasswordPolicy>(data);
    check::<ram::TaggedResource>(data);
    check::<ims::ImsUser>(data);
    check::<ims::ImsLoginProfile>(data);
    check::<sts::AssumeRoleResponse>(data);
    check::<sts::CallerIdentity>(data);
    check::<serde_json::Value>(data);
}

/// The policy normaliser: normalising is idempotent, a document is equivalent to itself and
/// to its canonical JSON re-parsed, and `diff` is empty exactly when documents are equivalent.
pub fn policy_normalize(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Two documents: the input split at the first NUL, so diff sees related pairs.
    let (first, second) = text.split_once('\0').unwrap_or((text, ""));
    let Ok(a) = PolicyDocument::parse(first) else {
        return;
    };
    let normal = a.normalized();
    assert_eq!(normal.normalized(), normal, "normalising is not idempotent");
    assert!(equivalent(&a, &a));
    assert!(diff(&a, &a).is_empty());
    let canonical = a.canonical_json();
    let reparsed = PolicyDocument::parse(&canonical)
        .unwrap_or_else(|error| panic!("canonical JSON does not parse ({error}): {canonical}"));
    assert!(
        equivalent(&a, &reparsed),
        "canonical JSON not equivalent: {canonical}"
    );
    assert_eq!(reparsed.canonical_json(), canonical);
    if let Ok(b) = PolicyDocument::parse(second) {
        assert_eq!(
            diff(&a, &b).is_empty(),
            equivalent(&a, &b),
            "diff and equivalent disagree: {} / {}",
            a.to_json(),
            b.to_json()
        );
        assert_eq!(equivalent(&a, &b), equivalent(&b, &a));
    }
}

const FUZZ_ACCOUNT: &str = "1111111111111111";
const FUZZ_KEY_ID: &str = "LTAI5tFuzzRoot";
const FUZZ_KEY_SECRET: &str = "fuzz-root-secret";

fn fuzz_world() -> World {
    let spec = AccountSpec {
        id: FUZZ_ACCOUNT.to_string(),
        alias: None,
        access_keys: vec![KeySpec {
            id: FUZZ_KEY_ID.to_string(),
            secret: FUZZ_KEY_SECRET.to_string(),
        }],
        oidc_providers: Vec::new(),
    };
    World::from_accounts(&AccountsFile {
        accounts: vec![spec],
        oidc_providers: Vec::new(),
    })
}

/// Splits `data` at NUL bytes into at most `n` text fields (lossy UTF-8).
fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .splitn(n, |byte| *byte == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

fn headers_from(text: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in text.lines() {
        if let Some((name, value)) = line.split_once(':')
            && let Ok(name) = HeaderName::from_bytes(name.trim().as_bytes())
            && let Ok(value) = HeaderValue::from_str(value.trim())
        {
            headers.append(name, value);
        }
    }
    headers
}

/// The emulator's request parser and authenticator on raw input: method, query, header lines
/// and body separated by NUL bytes. Parsing never panics, and a request the fuzzer made up
/// never authenticates (it cannot know the key's secret).
pub fn emulator_request(data: &[u8]) {
    let parts = fields(data, 4);
    let Ok(request) = ApiRequest::parse(
        &parts[0],
        Some(&parts[1]),
        headers_from(&parts[2]),
        parts[3].as_bytes().to_vec(),
    ) else {
        return;
    };
    let _ = request.all_params();
    let _ = request.flat_list("Tag");
    let _ = request.flat_tags("Tag");
    let _ = request.bool_param("Flag");
    let _ = request.int_param("MaxItems");
    let world = fuzz_world();
    let result = authenticate(
        &request,
        &world,
        &NonceCache::default(),
        jiff::Timestamp::now(),
    );
    assert!(result.is_err(), "an unsigned made-up request authenticated");
    if let Ok(header) = std::str::from_utf8(parts[2].as_bytes()) {
        let _ = signature::parse_v3_authorization(header);
        let _ = signature::parse_timestamp(header);
    }
}

/// Parameters the fuzzer may not set in [`emulator_signed`]: the signing ones are ours.
const RESERVED: &[&str] = &[
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "SecurityToken",
    "Action",
    "Version",
];

/// A correctly V2-signed request with fuzzer-chosen parameters (`name=value` pairs separated
/// by NUL bytes) authenticates once; the same request replayed is refused with
/// `SignatureNonceUsed`; any single changed, added or removed parameter is refused.
pub fn emulator_signed(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut params: BTreeMap<String, String> = text
        .split('\0')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| !name.is_empty() && !RESERVED.contains(name))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let now = jiff::Timestamp::now();
    for (name, value) in [
        ("Action", "GetCallerIdentity"),
        ("Version", "2015-04-01"),
        ("Format", "JSON"),
        ("AccessKeyId", FUZZ_KEY_ID),
        ("SignatureMethod", signature::V2_SIGNATURE_METHOD),
        ("SignatureVersion", signature::V2_SIGNATURE_VERSION),
        ("SignatureNonce", "fuzz-nonce"),
    ] {
        params.insert(name.to_string(), value.to_string());
    }
    params.insert("Timestamp".into(), signature::format_timestamp(now));
    let signed = signature::sign_rpc("POST", &params, FUZZ_KEY_SECRET);
    let query = |params: &BTreeMap<String, String>, signature_value: &str| {
        let mut parts: Vec<String> = params
            .iter()
            .map(|(name, value)| {
                format!(
                    "{}={}",
                    signature::percent_encode(name),
                    signature::percent_encode(value)
                )
            })
            .collect();
        parts.push(format!(
            "Signature={}",
            signature::percent_encode(signature_value)
        ));
        parts.join("&")
    };
    let parse = |query: &str| {
        ApiRequest::parse("POST", Some(query), HeaderMap::new(), Vec::new())
            .unwrap_or_else(|error| panic!("signed request did not parse: {}", error.code))
    };
    let world = fuzz_world();
    let nonces = NonceCache::default();
    let original = query(&params, &signed.signature);
    let request = parse(&original);
    if let Err(error) = authenticate(&request, &world, &nonces, now) {
        panic!("a correctly signed request was refused: {}", error.code);
    }
    let replay = authenticate(&parse(&original), &world, &nonces, now);
    assert_eq!(
        replay.map(|_| ()).map_err(|error| error.code),
        Err("SignatureNonceUsed".to_string())
    );
    // Tampering: each user parameter changed, then removed, then a parameter added, all with
    // the original signature and nonce. The signature is checked before the nonce, so
    // `SignatureDoesNotMatch` (not `SignatureNonceUsed`) proves the signature refused it.
    let user_params: Vec<String> = params
        .keys()
        .filter(|name| !RESERVED.contains(&name.as_str()) && name.as_str() != "Format")
        .cloned()
        .collect();
    let mut variants: Vec<BTreeMap<String, String>> = Vec::new();
    for name in user_params.iter().take(4) {
        let mut changed = params.clone();
        changed
            .entry(name.clone())
            .and_modify(|value| value.push('x'));
        variants.push(changed);
        let mut removed = params.clone();
        removed.remove(name);
        variants.push(removed);
    }
    let mut added = params.clone();
    added.insert("Injected".into(), "1".into());
    if !params.contains_key("Injected") {
        variants.push(added);
    }
    for variant in variants {
        let result = authenticate(
            &parse(&query(&variant, &signed.signature)),
            &world,
            &nonces,
            now,
        );
        assert_eq!(
            result.map(|_| ()).map_err(|error| error.code),
            Err("SignatureDoesNotMatch".to_string()),
            "tampered request accepted"
        );
    }
}
