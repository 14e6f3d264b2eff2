//! The client against a local HTTP server that plays RAM / IMS / STS: retries (attempts,
//! fresh nonces, valid signatures), non-retryable errors, time budgets, pagination,
//! parameter shapes, anonymous OIDC calls and the RRSA provider's cache.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use futures::future::BoxFuture;
use ram_operator::alicloud::credentials::Clock;
use ram_operator::alicloud::ims::CreateUserRequest as ImsCreateUser;
use ram_operator::alicloud::ram::{PolicyType, TagResourceType};
use ram_operator::alicloud::signature::sign_rpc;
use ram_operator::alicloud::sts::AssumeRoleRequest;
use ram_operator::alicloud::wire::Tag;
use ram_operator::alicloud::{
    CallEvent, CallObserver, Client, ClientConfig, Credentials, CredentialsProvider, Endpoints,
    Error, ErrorKind, OidcProvider, RateLimit, RateLimits, RetryPolicy, StaticProvider,
};
use reqwest::Url;

const SECRET: &str = "test-secret+/=";
const TOKEN: &str = "CAIS+token/with=reserved&chars";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    params: BTreeMap<String, String>,
    body_len: usize,
}

type Handler = dyn Fn(usize, &BTreeMap<String, String>) -> (u16, String) + Send + Sync;

struct Server {
    url: Url,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Serves `handler(attempt_index, params)` -> (status, JSON body) on 127.0.0.1:0.
async fn serve(
    handler: impl Fn(usize, &BTreeMap<String, String>) -> (u16, String) + Send + Sync + 'static,
) -> Server {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let handler: Arc<Handler> = Arc::new(handler);
    let app = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/",
            axum::routing::any(
                move |method: Method, Query(query): Query<Vec<(String, String)>>, body: Bytes| {
                    let seen = seen.clone();
                    let handler = handler.clone();
                    async move {
                        let params: BTreeMap<String, String> = query.into_iter().collect();
                        let index = {
                            let mut seen = seen.lock().unwrap();
                            seen.push(Seen {
                                method,
                                params: params.clone(),
                                body_len: body.len(),
                            });
                            seen.len() - 1
                        };
                        let (status, body) = handler(index, &params);
                        (
                            StatusCode::from_u16(status).unwrap(),
                            [("content-type", "application/json")],
                            body,
                        )
                            .into_response()
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        url: Url::parse(&format!("http://{address}/")).unwrap(),
        seen,
    }
}

fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_elapsed: Duration::from_secs(30),
    }
}

fn client(server: &Server, retry: RetryPolicy, observer: Option<Arc<dyn CallObserver>>) -> Client {
    Client::new(ClientConfig {
        endpoints: Endpoints::all(server.url.clone()),
        allow_insecure: true,
        retry,
        observer,
        ..ClientConfig::default()
    })
    .unwrap()
}

fn error_body(code: &str) -> String {
    format!(r#"{{"RequestId":"REQ-{code}","Code":"{code}","Message":"says the server"}}"#)
}

const ROLE_BODY: &str = r#"{"RequestId":"R","Role":{"RoleId":"3","RoleName":"app","Arn":"acs:ram::1:role/app","MaxSessionDuration":3600}}"#;

/// Whether `seen` carries a V2 signature valid for `secret`.
fn signature_is_valid(seen: &Seen, secret: &str) -> bool {
    let mut params = seen.params.clone();
    let Some(signature) = params.remove("Signature") else {
        return false;
    };
    sign_rpc(seen.method.as_str(), &params, secret).signature == signature
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String, u32)>>);

impl CallObserver for Recorder {
    fn on_attempt(&self, event: &CallEvent<'_>) {
        self.0.lock().unwrap().push((
            format!("{}/{}", event.service.name(), event.action),
            event.code.to_string(),
            event.attempt,
        ));
    }
}

#[tokio::test]
async fn throttling_then_success_is_retried_with_fresh_nonces_and_valid_signatures() {
    let server = serve(|index, _| {
        if index < 2 {
            (400, error_body("Throttling.User"))
        } else {
            (200, ROLE_BODY.to_string())
        }
    })
    .await;
    let recorder = Arc::new(Recorder::default());
    let client = client(&server, fast_retries(5), Some(recorder.clone()));
    let credentials = StaticProvider::sts("STS.id", SECRET, TOKEN);
    let role = client.ram(&credentials).get_role("app").await.unwrap();
    assert_eq!(role.arn, "acs:ram::1:role/app");
    assert_eq!(role.max_session_duration, 3600);

    let seen = server.seen();
    assert_eq!(seen.len(), 3, "two throttled attempts and one success");
    let nonces: BTreeSet<_> = seen
        .iter()
        .map(|s| s.params["SignatureNonce"].clone())
        .collect();
    assert_eq!(nonces.len(), 3, "every attempt carries a new nonce");
    for attempt in &seen {
        assert!(signature_is_valid(attempt, SECRET), "{:?}", attempt.params);
        assert_eq!(attempt.method, Method::POST);
        assert_eq!(attempt.body_len, 0, "parameters travel in the query string");
        assert_eq!(attempt.params["Action"], "GetRole");
        assert_eq!(attempt.params["Version"], "2015-05-01");
        assert_eq!(attempt.params["Format"], "JSON");
        assert_eq!(attempt.params["RoleName"], "app");
        assert_eq!(attempt.params["SecurityToken"], TOKEN);
        assert_eq!(attempt.params["SignatureMethod"], "HMAC-SHA1");
        assert_eq!(attempt.params["SignatureVersion"], "1.0");
        assert!(
            ram_operator::alicloud::signature::parse_timestamp(&attempt.params["Timestamp"])
                .is_some()
        );
    }
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(
        events,
        vec![
            ("ram/GetRole".to_string(), "Throttling.User".to_string(), 1),
            ("ram/GetRole".to_string(), "Throttling.User".to_string(), 2),
            ("ram/GetRole".to_string(), "Success".to_string(), 3),
        ]
    );
}

#[tokio::test]
async fn non_retryable_errors_return_after_one_attempt() {
    let server = serve(|_, _| (404, error_body("EntityNotExist.Role"))).await;
    let client = client(&server, fast_retries(5), None);
    let credentials = StaticProvider::access_key("LTAIid", SECRET);
    let error = client.ram(&credentials).get_role("gone").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert_eq!(error.code(), Some("EntityNotExist.Role"));
    assert_eq!(error.request_id(), Some("REQ-EntityNotExist.Role"));
    assert_eq!(error.action(), "GetRole");
    assert_eq!(error.http_status(), Some(404));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].params.contains_key("SecurityToken"));
}

#[tokio::test]
async fn retries_are_bounded_in_attempts_and_in_total_time() {
    let server = serve(|_, _| (400, error_body("Throttling.User"))).await;
    let credentials = StaticProvider::access_key("LTAIid", SECRET);
    let error = client(&server, fast_retries(4), None)
        .ram(&credentials)
        .get_role("app")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Throttled);
    assert_eq!(server.seen().len(), 4, "max_attempts bounds the attempts");

    let server = serve(|_, _| (503, error_body("ServiceUnavailable"))).await;
    let budget = RetryPolicy {
        max_attempts: 10_000,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_millis(300),
    };
    let error = client(&server, budget, None)
        .ram(&credentials)
        .get_role("app")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    let attempts = server.seen().len();
    assert!(
        attempts > 1 && attempts < 10_000,
        "the time budget, not the attempt limit, stopped after {attempts} attempts"
    );
}

#[tokio::test]
async fn create_access_key_is_not_repeated_after_an_ambiguous_failure() {
    let server = serve(|_, _| (500, error_body("InternalError"))).await;
    let credentials = StaticProvider::access_key("LTAIid", SECRET);
    let client = client(&server, fast_retries(5), None);
    let error = client
        .ram(&credentials)
        .create_access_key(Some("bob"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(
        server.seen().len(),
        1,
        "a second key must not be created blindly"
    );
    // Reads are retried on the same error.
    client
        .ram(&credentials)
        .list_access_keys(Some("bob"))
        .await
        .unwrap_err();
    assert_eq!(server.seen().len(), 6);
}

#[derive(Debug, Default)]
struct Rotating {
    invalidations: AtomicUsize,
}

impl CredentialsProvider for Rotating {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        let generation = self.invalidations.load(Ordering::SeqCst);
        Box::pin(async move {
            Ok(Credentials::sts(
                format!("STS.gen{generation}"),
                SECRET,
                TOKEN,
                None,
            ))
        })
    }
    fn invalidate(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn expired_credentials_are_refreshed_and_retried_once() {
    let server = serve(|_, params| {
        if params["AccessKeyId"] == "STS.gen0" {
            (400, error_body("InvalidSecurityToken.Expired"))
        } else {
            (
                200,
                r#"{"RequestId":"R","AccountId":"1","Arn":"a","IdentityType":"AssumedRoleUser"}"#
                    .to_string(),
            )
        }
    })
    .await;
    let provider = Rotating::default();
    let client = client(&server, RetryPolicy::never(), None);
    let identity = client.sts(&provider).get_caller_identity().await.unwrap();
    assert_eq!(identity.identity_type, "AssumedRoleUser");
    assert_eq!(provider.invalidations.load(Ordering::SeqCst), 1);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].params["Version"], "2015-04-01");

    // Expired again after the refresh: returned, not looped.
    let server = serve(|_, _| (400, error_body("InvalidSecurityToken.Expired"))).await;
    let error = crate::client(&server, fast_retries(5), None)
        .sts(&provider)
        .get_caller_identity()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsExpired);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn list_calls_follow_markers_and_tokens() {
    let server = serve(|_, params| match (params["Action"].as_str(), params.get("Marker"), params.get("NextToken")) {
        ("ListRoles", None, _) => (200, r#"{"IsTruncated":true,"Marker":"m1","Roles":{"Role":[{"RoleName":"a"},{"RoleName":"b"}]}}"#.into()),
        ("ListRoles", Some(_), _) => (200, r#"{"IsTruncated":false,"Roles":{"Role":[{"RoleName":"c"}]}}"#.into()),
        ("ListTagResources", _, None) => (200, r#"{"NextToken":"t1","TagResources":{"TagResource":[{"ResourceId":"1","TagKey":"k","TagValue":"v"}]}}"#.into()),
        ("ListTagResources", _, Some(_)) => (200, r#"{"NextToken":"","TagResources":{"TagResource":[{"ResourceId":"2","TagKey":"k","TagValue":"w"}]}}"#.into()),
        _ => (400, error_body("InvalidAction")),
    })
    .await;
    let client = client(&server, RetryPolicy::never(), None);
    let credentials = StaticProvider::access_key("LTAIid", SECRET);
    let roles = client.ram(&credentials).list_roles().await.unwrap();
    let names: Vec<_> = roles.iter().map(|role| role.role_name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let tags = client
        .ims(&credentials)
        .list_user_tags(&["alice@example.onaliyun.com".to_string()], &[])
        .await
        .unwrap();
    assert_eq!(tags.len(), 2);
    let seen = server.seen();
    assert_eq!(seen[1].params["Marker"], "m1");
    assert_eq!(seen[2].params["Version"], "2019-08-15");
    assert_eq!(
        seen[2].params["ResourcePrincipalName.1"],
        "alice@example.onaliyun.com"
    );
    assert_eq!(seen[3].params["NextToken"], "t1");
}

#[tokio::test]
async fn parameter_shapes_of_ram_and_ims() {
    let server = serve(|_, _| {
        (
            200,
            r#"{"RequestId":"R","User":{"UserPrincipalName":"u@d"}}"#.into(),
        )
    })
    .await;
    let client = client(&server, RetryPolicy::never(), None);
    let credentials = StaticProvider::access_key("LTAIid", SECRET);
    client
        .ims(&credentials)
        .create_user(&ImsCreateUser {
            user_principal_name: "u@d".into(),
            display_name: "U".into(),
            tags: vec![Tag::new("ram.alicloud.dev/owner", "c/ns/RamUser/u")],
            ..ImsCreateUser::default()
        })
        .await
        .unwrap();
    client
        .ram(&credentials)
        .tag_resources(
            TagResourceType::Role,
            &["app".into()],
            &[Tag::new("k", "v")],
        )
        .await
        .unwrap();
    client
        .ram(&credentials)
        .attach_policy_to_role(PolicyType::System, "AliyunAMQPFullAccess", "app")
        .await
        .unwrap();
    client
        .sts(&credentials)
        .assume_role(&AssumeRoleRequest {
            role_arn: "acs:ram::1:role/app".into(),
            role_session_name: "s".into(),
            duration_seconds: Some(900),
            external_id: Some("ext".into()),
            ..AssumeRoleRequest::default()
        })
        .await
        .unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].params["Tag.1.Key"], "ram.alicloud.dev/owner");
    assert_eq!(seen[0].params["Tag.1.Value"], "c/ns/RamUser/u");
    assert_eq!(seen[1].params["ResourceType"], "role");
    assert_eq!(seen[1].params["ResourceNames"], r#"["app"]"#);
    assert_eq!(seen[1].params["Tag"], r#"[{"Key":"k","Value":"v"}]"#);
    assert_eq!(seen[2].params["PolicyType"], "System");
    assert_eq!(seen[3].params["DurationSeconds"], "900");
    assert_eq!(seen[3].params["ExternalId"], "ext");
    assert!(seen.iter().all(|seen| signature_is_valid(seen, SECRET)));
}

const OIDC_BODY: &str = r#"{"RequestId":"R","AssumedRoleUser":{"Arn":"acs:ram::1:role/op/s","AssumedRoleId":"3:s"},
  "Credentials":{"AccessKeyId":"STS.oidc","AccessKeySecret":"oidc-secret","SecurityToken":"oidc-token","Expiration":"2030-01-01T01:00:00Z"},
  "OIDCTokenInfo":{"Subject":"system:serviceaccount:ns:op","Issuer":"https://oidc"}}"#;

#[tokio::test]
async fn rrsa_provider_caches_refreshes_and_rereads_the_token_file() {
    let server = serve(|_, _| (200, OIDC_BODY.to_string())).await;
    let client = client(&server, RetryPolicy::never(), None);
    let directory =
        std::env::temp_dir().join(format!("ram-operator-oidc-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&directory).unwrap();
    let token_file = directory.join("token");
    std::fs::write(&token_file, "jwt-one\n").unwrap();

    let now = Arc::new(AtomicI64::new(
        "2030-01-01T00:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second(),
    ));
    let clock: Clock = {
        let now = now.clone();
        Arc::new(move || jiff::Timestamp::from_second(now.load(Ordering::SeqCst)).unwrap())
    };
    let provider = OidcProvider::new(
        client.clone(),
        "acs:ram::1234:role/operator",
        "acs:ram::1234:oidc-provider/ack",
        &token_file,
    )
    .with_session_name("op")
    .with_clock(clock);

    let first = provider.credentials().await.unwrap();
    assert_eq!(first.access_key_id, "STS.oidc");
    assert_eq!(first.account_id.as_deref(), Some("1234"));
    assert_eq!(
        first.expiration.unwrap().to_string(),
        "2030-01-01T01:00:00Z"
    );
    // Cached: 30 minutes later, no second call.
    now.fetch_add(30 * 60, Ordering::SeqCst);
    provider.credentials().await.unwrap();
    assert_eq!(server.seen().len(), 1);
    // 50 minutes in (past expiry - 15 min): refreshed, with the rotated token.
    std::fs::write(&token_file, "jwt-two").unwrap();
    now.fetch_add(20 * 60, Ordering::SeqCst);
    provider.credentials().await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].params["OIDCToken"], "jwt-one");
    assert_eq!(seen[1].params["OIDCToken"], "jwt-two");
    for call in &seen {
        assert_eq!(call.params["Action"], "AssumeRoleWithOIDC");
        assert_eq!(call.params["RoleSessionName"], "op");
        assert_eq!(
            call.params["OIDCProviderArn"],
            "acs:ram::1234:oidc-provider/ack"
        );
        for absent in [
            "Signature",
            "AccessKeyId",
            "SignatureMethod",
            "SecurityToken",
        ] {
            assert!(
                !call.params.contains_key(absent),
                "anonymous call carries {absent}"
            );
        }
    }
    // A failed refresh (token file gone) keeps serving credentials that are still valid...
    std::fs::remove_file(&token_file).unwrap();
    now.fetch_add(8 * 60, Ordering::SeqCst); // 00:58: past the refresh time, before expiry
    let cached = provider.credentials().await.unwrap();
    assert_eq!(cached.access_key_id, "STS.oidc");
    assert_eq!(server.seen().len(), 2);
    // ...but not once they are invalidated.
    provider.invalidate();
    let error = provider.credentials().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsNotFound);
    std::fs::remove_dir_all(&directory).ok();
}

#[tokio::test]
async fn the_limiter_is_keyed_by_account() {
    // One request per second per (service, account): two accounts go at once, which a
    // shared budget would not allow within the generous timeout below.
    let server = serve(|_, _| (200, ROLE_BODY.to_string())).await;
    let slow = RateLimit {
        qps: 0.001,
        burst: 1,
    };
    let client = Client::new(ClientConfig {
        endpoints: Endpoints::all(server.url.clone()),
        allow_insecure: true,
        retry: RetryPolicy::never(),
        rate_limits: RateLimits {
            ram: slow,
            ims: slow,
            sts: slow,
        },
        ..ClientConfig::default()
    })
    .unwrap();
    let a = StaticProvider::access_key("LTAIa", SECRET).with_account_id("111");
    let b = StaticProvider::access_key("LTAIb", SECRET).with_account_id("222");
    let both = async {
        client.ram(&a).get_role("app").await.unwrap();
        client.ram(&b).get_role("app").await.unwrap();
        client.ims(&a).get_default_domain().await.unwrap();
    };
    tokio::time::timeout(Duration::from_secs(60), both)
        .await
        .expect("different accounts and services do not share a budget");
    let second =
        tokio::time::timeout(Duration::from_millis(500), client.ram(&a).get_role("app")).await;
    assert!(second.is_err(), "the same account waits for its next slot");
}
