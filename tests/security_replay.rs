//! Replayed and tampered requests: the emulator (standing in for the gateway) refuses a
//! byte-identical replay, any parameter changed after signing, a timestamp outside the
//! 15-minute window and an STS token swapped between sessions or put next to a permanent key;
//! and the project's client signs every attempt afresh (new nonce, valid signature), so its
//! own retries are never mistaken for replays.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use ram_operator::alicloud::policy::TrustPolicy;
use ram_operator::alicloud::ram::{CreateRoleRequest, CreateUserRequest, PolicyType};
use ram_operator::alicloud::signature;
use ram_operator::alicloud::sts::AssumeRoleRequest;
use ram_operator::alicloud::{
    Client, ClientConfig, Endpoints, ErrorKind, RetryPolicy, StaticProvider,
};
use ram_operator::emulator::accounts::{AccountSpec, AccountsFile};
use ram_operator::emulator::{EmulatorConfig, EmulatorHandle, serve};
use serde_json::{Value, json};

const A: &str = "1111111111111111";
const B: &str = "2222222222222222";
const STS: &str = "2015-04-01";
const RAM: &str = "2015-05-01";

fn root(account: &str) -> (String, String) {
    (
        format!("LTAI5tRoot{account}"),
        format!("replay-secret-{account}"),
    )
}

async fn emulator() -> EmulatorHandle {
    let accounts = AccountsFile {
        accounts: [A, B]
            .into_iter()
            .map(|id| {
                let (key, secret) = root(id);
                serde_json::from_value::<AccountSpec>(
                    json!({"id": id, "accessKeys": [{"id": key, "secret": secret}]}),
                )
                .unwrap()
            })
            .collect(),
        oidc_providers: Vec::new(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve(listener, EmulatorConfig::new(accounts))
        .await
        .unwrap()
}

/// A V2-signed query string, built by hand so the test controls every part of it.
struct Signed {
    params: BTreeMap<String, String>,
    signature: String,
}

impl Signed {
    fn new(
        key: (&str, &str),
        token: Option<&str>,
        version: &str,
        action: &str,
        extra: &[(&str, &str)],
        timestamp: jiff::Timestamp,
    ) -> Self {
        let mut params: BTreeMap<String, String> = extra
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        for (name, value) in [
            ("Action", action),
            ("Version", version),
            ("Format", "JSON"),
            ("AccessKeyId", key.0),
            ("SignatureMethod", signature::V2_SIGNATURE_METHOD),
            ("SignatureVersion", signature::V2_SIGNATURE_VERSION),
        ] {
            params.insert(name.into(), value.into());
        }
        params.insert("SignatureNonce".into(), uuid::Uuid::new_v4().to_string());
        params.insert("Timestamp".into(), signature::format_timestamp(timestamp));
        if let Some(token) = token {
            params.insert("SecurityToken".into(), token.into());
        }
        let signature = signature::sign_rpc("POST", &params, key.1).signature;
        Self { params, signature }
    }

    fn query(&self) -> String {
        let mut all = self.params.clone();
        all.insert("Signature".into(), self.signature.clone());
        all.iter()
            .map(|(name, value)| {
                format!(
                    "{}={}",
                    signature::percent_encode(name),
                    signature::percent_encode(value)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

async fn send(emulator: &EmulatorHandle, query: &str) -> (u16, Value) {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = http
        .post(format!(
            "{}/?{query}",
            emulator.base_url().trim_end_matches('/')
        ))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn code(emulator: &EmulatorHandle, query: &str) -> String {
    let (status, body) = send(emulator, query).await;
    assert_ne!(status, 200, "accepted: {body}");
    body["Code"].as_str().unwrap_or_default().to_string()
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

#[tokio::test]
async fn a_byte_identical_replay_is_refused_even_for_a_write() {
    let emulator = emulator().await;
    let (key, secret) = root(A);
    let create = Signed::new(
        (&key, &secret),
        None,
        RAM,
        "CreateRole",
        &[
            ("RoleName", "replayed"),
            (
                "AssumeRolePolicyDocument",
                &TrustPolicy::for_accounts(&[B]).to_json(),
            ),
        ],
        now(),
    );
    let (status, body) = send(&emulator, &create.query()).await;
    assert_eq!(status, 200, "{body}");
    // The same bytes again: refused for the nonce, before the operation could say "exists".
    assert_eq!(code(&emulator, &create.query()).await, "SignatureNonceUsed");
    let read = Signed::new((&key, &secret), None, STS, "GetCallerIdentity", &[], now());
    assert_eq!(send(&emulator, &read.query()).await.0, 200);
    assert_eq!(code(&emulator, &read.query()).await, "SignatureNonceUsed");
    assert_eq!(code(&emulator, &read.query()).await, "SignatureNonceUsed");
}

#[tokio::test]
async fn any_parameter_changed_after_signing_is_refused() {
    let emulator = emulator().await;
    let (key, secret) = root(A);
    let document = TrustPolicy::for_accounts(&[B]).to_json();
    let original = Signed::new(
        (&key, &secret),
        None,
        RAM,
        "CreateRole",
        &[
            ("RoleName", "honest"),
            ("AssumeRolePolicyDocument", &document),
        ],
        now(),
    );
    let wider = TrustPolicy::for_accounts(&[B, "3333333333333333"]).to_json();
    let tamperings: Vec<(&str, Option<String>)> = vec![
        ("RoleName", Some("attacker".into())),
        ("AssumeRolePolicyDocument", Some(wider)),
        ("Action", Some("DeleteRole".into())),
        (
            "Timestamp",
            Some(signature::format_timestamp(
                now()
                    .checked_add(jiff::SignedDuration::from_mins(1))
                    .unwrap(),
            )),
        ),
        ("SignatureNonce", Some("other-nonce".into())),
        ("AccessKeyId", Some(root(B).0)),
        ("MaxSessionDuration", Some("43200".into())),
        ("RoleName", None),
    ];
    for (name, value) in tamperings {
        let mut tampered = Signed {
            params: original.params.clone(),
            signature: original.signature.clone(),
        };
        match value {
            Some(value) => tampered.params.insert(name.into(), value),
            None => tampered.params.remove(name),
        };
        let refused = code(&emulator, &tampered.query()).await;
        assert!(
            refused == "SignatureDoesNotMatch"
                || (name == "RoleName" && refused.starts_with("Missing")),
            "{name} tampered: {refused}"
        );
    }
    // The untouched original still goes through: tampered copies did not spend its nonce.
    let (status, body) = send(&emulator, &original.query()).await;
    assert_eq!(status, 200, "{body}");
    let state = emulator.world();
    let roles: Vec<&String> = state.accounts[A].roles.keys().collect();
    assert_eq!(roles, vec!["honest"]);
}

#[tokio::test]
async fn stale_and_future_timestamps_are_refused_inside_the_window_accepted() {
    let emulator = emulator().await;
    let (key, secret) = root(A);
    for (minutes, accepted) in [
        (-60 * 24, false),
        (-16, false),
        (-14, true),
        (14, true),
        (16, false),
        (60 * 24 * 365, false),
    ] {
        let at = now()
            .checked_add(jiff::SignedDuration::from_mins(minutes))
            .unwrap();
        let request = Signed::new((&key, &secret), None, STS, "GetCallerIdentity", &[], at);
        let (status, body) = send(&emulator, &request.query()).await;
        if accepted {
            assert_eq!(status, 200, "{minutes} min: {body}");
        } else {
            assert_eq!(
                body["Code"], "InvalidTimeStamp.Expired",
                "{minutes} min: {body}"
            );
        }
    }
    let mut malformed = Signed::new((&key, &secret), None, STS, "GetCallerIdentity", &[], now());
    malformed
        .params
        .insert("Timestamp".into(), "2024-13-45T99:00:00Z".into());
    malformed.signature = signature::sign_rpc("POST", &malformed.params, &secret).signature;
    assert_eq!(
        code(&emulator, &malformed.query()).await,
        "InvalidTimeStamp.Format"
    );
}

#[tokio::test]
async fn swapped_or_misplaced_security_tokens_are_refused() {
    let emulator = emulator().await;
    let client = Client::new(ClientConfig {
        endpoints: Endpoints::all(reqwest::Url::parse(&emulator.base_url()).unwrap()),
        allow_insecure: true,
        timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    })
    .unwrap();
    let (key_a, secret_a) = root(A);
    let (key_b, secret_b) = root(B);
    let root_a = StaticProvider::access_key(&key_a, secret_a.as_str());
    let root_b = StaticProvider::access_key(&key_b, secret_b.as_str());
    // Root accounts may not assume roles: a RAM user of B with the STS policy does.
    let ram_b = client.ram(&root_b);
    ram_b
        .create_user(&CreateUserRequest {
            user_name: "assumer".into(),
            ..CreateUserRequest::default()
        })
        .await
        .unwrap();
    ram_b
        .attach_policy_to_user(PolicyType::System, "AliyunSTSAssumeRoleAccess", "assumer")
        .await
        .unwrap();
    let user_key = ram_b.create_access_key(Some("assumer")).await.unwrap();
    let assumer = StaticProvider::access_key(user_key.access_key_id, user_key.access_key_secret);
    client
        .ram(&root_a)
        .create_role(&CreateRoleRequest {
            role_name: "shared".into(),
            assume_role_policy_document: TrustPolicy::for_accounts(&[B]).to_json(),
            ..CreateRoleRequest::default()
        })
        .await
        .unwrap();
    let assume = |session: &str| AssumeRoleRequest {
        role_arn: format!("acs:ram::{A}:role/shared"),
        role_session_name: session.into(),
        ..AssumeRoleRequest::default()
    };
    let one = client
        .sts(&assumer)
        .assume_role(&assume("one"))
        .await
        .unwrap();
    let two = client
        .sts(&assumer)
        .assume_role(&assume("two"))
        .await
        .unwrap();
    let (one, two) = (one.credentials, two.credentials);
    let secret_one = one.access_key_secret.expose().to_string();
    let token_one = one.security_token.expose().to_string();
    let token_two = two.security_token.expose().to_string();

    // Session one's key with its own token works ...
    let own = Signed::new(
        (&one.access_key_id, &secret_one),
        Some(&token_one),
        STS,
        "GetCallerIdentity",
        &[],
        now(),
    );
    assert_eq!(send(&emulator, &own.query()).await.0, 200);
    // ... with session two's token it does not, although the signature is valid.
    let swapped = Signed::new(
        (&one.access_key_id, &secret_one),
        Some(&token_two),
        STS,
        "GetCallerIdentity",
        &[],
        now(),
    );
    assert_eq!(
        code(&emulator, &swapped.query()).await,
        "InvalidSecurityToken.MismatchWithAccessKey"
    );
    // Without a token, and with a token next to a permanent key.
    let missing = Signed::new(
        (&one.access_key_id, &secret_one),
        None,
        STS,
        "GetCallerIdentity",
        &[],
        now(),
    );
    assert_eq!(
        code(&emulator, &missing.query()).await,
        "MissingSecurityToken"
    );
    let misplaced = Signed::new(
        (&key_b, &secret_b),
        Some(&token_one),
        STS,
        "GetCallerIdentity",
        &[],
        now(),
    );
    assert_eq!(
        code(&emulator, &misplaced.query()).await,
        "InvalidSecurityToken.MismatchWithAccessKey"
    );
    // The token cannot be swapped after signing either: it is part of the signed string.
    let mut resigned = Signed::new(
        (&one.access_key_id, &secret_one),
        Some(&token_one),
        STS,
        "GetCallerIdentity",
        &[],
        now(),
    );
    resigned
        .params
        .insert("SecurityToken".into(), token_two.clone());
    let refused = code(&emulator, &resigned.query()).await;
    assert!(
        refused == "InvalidSecurityToken.MismatchWithAccessKey"
            || refused == "SignatureDoesNotMatch",
        "{refused}"
    );
}

/// What the recording server saw of each attempt.
#[derive(Default)]
struct Recorded {
    attempts: Mutex<Vec<BTreeMap<String, String>>>,
}

async fn throttle_three_of_four(
    State(recorded): State<Arc<Recorded>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> (StatusCode, String) {
    let mut attempts = recorded.attempts.lock().unwrap();
    attempts.push(params);
    if attempts.len() % 4 != 0 {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"RequestId":"R","Code":"Throttling.User","Message":"slow down"}"#.into(),
        );
    }
    (
        StatusCode::OK,
        r#"{"RequestId":"R","AccountId":"1","Arn":"acs:ram::1:root","IdentityType":"Account"}"#
            .into(),
    )
}

#[tokio::test]
async fn the_client_signs_every_attempt_with_a_fresh_nonce() {
    let recorded = Arc::new(Recorded::default());
    let app = axum::Router::new()
        .route("/", post(throttle_three_of_four))
        .with_state(recorded.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new(ClientConfig {
        endpoints: Endpoints::all(reqwest::Url::parse(&url).unwrap()),
        allow_insecure: true,
        retry: RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_elapsed: Duration::from_secs(60),
        },
        ..ClientConfig::default()
    })
    .unwrap();
    let secret = "nonce-test-secret";
    let provider = StaticProvider::access_key("LTAI5tNonce", secret);
    for _ in 0..25 {
        client.sts(&provider).get_caller_identity().await.unwrap();
    }
    let attempts = recorded.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 100, "three throttled attempts per call");
    let nonces: BTreeSet<&str> = attempts
        .iter()
        .map(|params| params["SignatureNonce"].as_str())
        .collect();
    assert_eq!(nonces.len(), attempts.len(), "a nonce was reused");
    for params in &attempts {
        let mut unsigned = params.clone();
        let sent = unsigned.remove("Signature").unwrap();
        assert_eq!(
            signature::sign_rpc("POST", &unsigned, secret).signature,
            sent,
            "an attempt's signature does not cover what it sent"
        );
        assert!(signature::parse_timestamp(&params["Timestamp"]).is_some());
    }
    // Against the emulator the same holds end to end: retries after a (throttled) attempt are
    // never refused as replays.
    let emulator = emulator().await;
    emulator_faults(&emulator).await;
    let client = Client::new(ClientConfig {
        endpoints: Endpoints::all(reqwest::Url::parse(&emulator.base_url()).unwrap()),
        allow_insecure: true,
        retry: RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_elapsed: Duration::from_secs(60),
        },
        ..ClientConfig::default()
    })
    .unwrap();
    let (key, secret) = root(A);
    let provider = StaticProvider::access_key(&key, secret.as_str());
    let mut failures = Vec::new();
    for _ in 0..40 {
        if let Err(error) = client.sts(&provider).get_caller_identity().await {
            failures.push(error);
        }
    }
    assert!(
        failures
            .iter()
            .all(|error| error.kind() == ErrorKind::Throttled),
        "{failures:?}"
    );
    let calls = reqwest::get(format!("{}/_emulator/calls", emulator.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!calls.contains("SignatureNonceUsed"), "{calls}");
}

async fn emulator_faults(emulator: &EmulatorHandle) {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/_emulator/faults", emulator.base_url()))
        .json(&json!({"faults": [{"action": "*", "code": "Throttling.User", "rate": 0.5}]}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}
