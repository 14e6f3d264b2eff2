//! The emulator in-process on 127.0.0.1:0, driven by signed HTTP calls: authentication
//! rejections, error codes, authorization, the seed flow, admin endpoints and the state file.
//!
//! The small client below signs with the shared signer; it stands in for the project's full
//! Alibaba Cloud client until that lands.

use std::collections::BTreeMap;
use std::time::Duration;

use ram_operator::alicloud::signature;
use ram_operator::emulator::accounts::{AccountSpec, AccountsFile, KeySpec};
use ram_operator::emulator::{EmulatorConfig, EmulatorHandle, serve};
use serde_json::{Value, json};

const A: &str = "1111111111111111";
const B: &str = "2222222222222222";
const C: &str = "3333333333333333";
const RAM: &str = "2015-05-01";
const IMS: &str = "2019-08-15";
const STS: &str = "2015-04-01";

fn root(account: &str) -> (String, String) {
    (
        format!("LTAI5tRoot{account}"),
        format!("fake-secret-{account}"),
    )
}

fn accounts() -> AccountsFile {
    AccountsFile {
        accounts: [(A, "account-a"), (B, "account-b"), (C, "account-c")]
            .into_iter()
            .map(|(id, alias)| {
                let (key, secret) = root(id);
                serde_json::from_value::<AccountSpec>(json!({
                    "id": id, "alias": alias, "accessKeys": [{"id": key, "secret": secret}]
                }))
                .unwrap()
            })
            .collect(),
        oidc_providers: Vec::new(),
    }
}

async fn start(scale: f64) -> EmulatorHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = EmulatorConfig::new(accounts());
    config.expiry_scale = scale;
    serve(listener, config).await.unwrap()
}

/// Knobs for one signed call.
#[derive(Default, Clone)]
struct Opts {
    v3: bool,
    get: bool,
    timestamp: Option<String>,
    nonce: Option<String>,
    body: Vec<(String, String)>,
    tamper_body: bool,
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    key_id: String,
    secret: String,
    token: Option<String>,
}

impl Client {
    fn new(emulator: &EmulatorHandle, key_id: &str, secret: &str) -> Self {
        Self {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            base: emulator.base_url(),
            key_id: key_id.to_string(),
            secret: secret.to_string(),
            token: None,
        }
    }

    fn root(emulator: &EmulatorHandle, account: &str) -> Self {
        let (key, secret) = root(account);
        Self::new(emulator, &key, &secret)
    }

    fn with_sts(emulator: &EmulatorHandle, credentials: &Value) -> Self {
        let mut client = Self::new(
            emulator,
            credentials["AccessKeyId"].as_str().unwrap(),
            credentials["AccessKeySecret"].as_str().unwrap(),
        );
        client.token = credentials["SecurityToken"].as_str().map(str::to_string);
        client
    }

    async fn call(&self, version: &str, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
        self.call_with(version, action, params, Opts::default())
            .await
    }

    async fn ok(&self, version: &str, action: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.call(version, action, params).await;
        assert_eq!(status, 200, "{action}: {body}");
        assert!(body["RequestId"].is_string());
        body
    }

    async fn code(&self, version: &str, action: &str, params: &[(&str, &str)]) -> (u16, String) {
        let (status, body) = self.call(version, action, params).await;
        assert_ne!(status, 200, "{action} unexpectedly succeeded: {body}");
        (
            status,
            body["Code"].as_str().unwrap_or_default().to_string(),
        )
    }

    async fn call_with(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
        opts: Opts,
    ) -> (u16, Value) {
        let timestamp = opts
            .timestamp
            .clone()
            .unwrap_or_else(|| signature::format_timestamp(jiff::Timestamp::now()));
        let nonce = opts
            .nonce
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let method = if opts.get { "GET" } else { "POST" };
        let mut query: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body_params: BTreeMap<String, String> = opts.body.iter().cloned().collect();
        let body = if body_params.is_empty() {
            String::new()
        } else {
            signature::canonicalized_query(&body_params)
        };
        let mut request;
        if opts.v3 {
            let payload_hash = signature::sha256_hex(body.as_bytes());
            let mut headers = BTreeMap::from([
                (
                    "host".to_string(),
                    self.base.trim_start_matches("http://").to_string(),
                ),
                ("x-acs-action".to_string(), action.to_string()),
                ("x-acs-version".to_string(), version.to_string()),
                ("x-acs-date".to_string(), timestamp),
                ("x-acs-signature-nonce".to_string(), nonce),
                ("x-acs-content-sha256".to_string(), payload_hash.clone()),
            ]);
            if let Some(token) = &self.token {
                headers.insert("x-acs-security-token".to_string(), token.clone());
            }
            if !body.is_empty() {
                headers.insert(
                    "content-type".to_string(),
                    "application/x-www-form-urlencoded".to_string(),
                );
            }
            let authorization = signature::v3_authorization(
                &self.key_id,
                &signature::V3Request {
                    method,
                    path: "/",
                    query: &query,
                    signed_headers: &headers,
                    payload_hash: &payload_hash,
                },
                &self.secret,
            );
            request = self.http.request(
                method.parse().unwrap(),
                format!("{}/?{}", self.base, signature::canonicalized_query(&query)),
            );
            for (name, value) in &headers {
                if name != "host" {
                    request = request.header(name.as_str(), value.as_str());
                }
            }
            request = request.header("authorization", authorization);
        } else {
            for (k, v) in [
                ("Action", action),
                ("Version", version),
                ("Format", "JSON"),
                ("AccessKeyId", self.key_id.as_str()),
                ("SignatureMethod", "HMAC-SHA1"),
                ("SignatureVersion", "1.0"),
                ("SignatureNonce", nonce.as_str()),
                ("Timestamp", timestamp.as_str()),
            ] {
                query.insert(k.to_string(), v.to_string());
            }
            if let Some(token) = &self.token {
                query.insert("SecurityToken".to_string(), token.clone());
            }
            let mut signed = query.clone();
            signed.extend(body_params.clone());
            let signed = signature::sign_rpc(method, &signed, &self.secret);
            query.insert("Signature".to_string(), signed.signature);
            request = self.http.request(
                method.parse().unwrap(),
                format!("{}/?{}", self.base, signature::canonicalized_query(&query)),
            );
            if !body.is_empty() {
                request = request.header("content-type", "application/x-www-form-urlencoded");
            }
        }
        let body = if opts.tamper_body {
            format!("{body}&Extra=1")
        } else {
            body
        };
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        (status, response.json().await.unwrap())
    }
}

/// One expected failure: action, parameters, HTTP status, error code.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);

fn trust(principal: &str) -> String {
    json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"RAM": [principal]}}]})
    .to_string()
}

/// A user in `account` with the given system policies and one key: (name, client).
async fn user_with_key(
    emulator: &EmulatorHandle,
    account: &str,
    name: &str,
    policies: &[&str],
) -> Client {
    let root = Client::root(emulator, account);
    root.ok(RAM, "CreateUser", &[("UserName", name)]).await;
    for policy in policies {
        root.ok(
            RAM,
            "AttachPolicyToUser",
            &[
                ("UserName", name),
                ("PolicyType", "System"),
                ("PolicyName", policy),
            ],
        )
        .await;
    }
    let key = root.ok(RAM, "CreateAccessKey", &[("UserName", name)]).await;
    Client::new(
        emulator,
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["AccessKeySecret"].as_str().unwrap(),
    )
}

async fn wait_for_code(client: &Client, code: &str) {
    for _ in 0..240 {
        let (_, body) = client.call(STS, "GetCallerIdentity", &[]).await;
        if body["Code"] == code {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("never saw {code}");
}

#[tokio::test]
async fn seed_flow_revocation_and_scaled_expiry() {
    // 900 s * 0.002 = 1.8 s of wall time.
    let emulator = start(0.002).await;
    let root_a = Client::root(&emulator, A);
    let role = root_a
        .ok(
            RAM,
            "CreateRole",
            &[
                ("RoleName", "rabbitmq-access"),
                (
                    "AssumeRolePolicyDocument",
                    &trust(&format!("acs:ram::{B}:root")),
                ),
            ],
        )
        .await;
    let role_arn = format!("acs:ram::{A}:role/rabbitmq-access");
    assert_eq!(role["Role"]["Arn"], role_arn.as_str());
    root_a
        .ok(
            RAM,
            "AttachPolicyToRole",
            &[
                ("RoleName", "rabbitmq-access"),
                ("PolicyType", "System"),
                ("PolicyName", "AliyunAMQPFullAccess"),
            ],
        )
        .await;

    let root_b = Client::root(&emulator, B);
    let domain = root_b.ok(IMS, "GetDefaultDomain", &[]).await;
    assert_eq!(domain["DefaultDomainName"], "account-b.onaliyun.com");
    let upn = "app@account-b.onaliyun.com";
    let user = root_b
        .ok(
            IMS,
            "CreateUser",
            &[
                ("UserPrincipalName", upn),
                ("DisplayName", "App"),
                ("Tag.1.Key", "owner"),
                ("Tag.1.Value", "me"),
            ],
        )
        .await;
    assert_eq!(user["User"]["UserPrincipalName"], upn);
    assert_eq!(user["User"]["Tags"]["Tag"][0]["TagKey"], "owner");
    let policy = root_b.ok(IMS, "GetPasswordPolicy", &[]).await;
    assert_eq!(policy["PasswordPolicy"]["MinimumPasswordLength"], 8);
    root_b
        .ok(
            IMS,
            "CreateLoginProfile",
            &[
                ("UserPrincipalName", upn),
                ("Password", "Rabbit-Password-1"),
            ],
        )
        .await;
    let key = root_b
        .ok(IMS, "CreateAccessKey", &[("UserPrincipalName", upn)])
        .await;
    root_b
        .ok(
            RAM,
            "AttachPolicyToUser",
            &[
                ("UserName", "app"),
                ("PolicyType", "System"),
                ("PolicyName", "AliyunSTSAssumeRoleAccess"),
            ],
        )
        .await;
    let app = Client::new(
        &emulator,
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["AccessKeySecret"].as_str().unwrap(),
    );

    let assumed = app
        .ok(
            STS,
            "AssumeRole",
            &[
                ("RoleArn", &role_arn),
                ("RoleSessionName", "seed"),
                ("DurationSeconds", "900"),
            ],
        )
        .await;
    let credentials = &assumed["Credentials"];
    assert!(
        credentials["AccessKeyId"]
            .as_str()
            .unwrap()
            .starts_with("STS.")
    );
    assert_eq!(
        assumed["AssumedRoleUser"]["Arn"],
        format!("{role_arn}/seed")
    );
    let expiration: jiff::Timestamp = credentials["Expiration"].as_str().unwrap().parse().unwrap();
    let lifetime = expiration.duration_since(jiff::Timestamp::now());
    assert!(
        lifetime <= jiff::SignedDuration::from_secs(3),
        "scaled: {lifetime:?}"
    );

    let session = Client::with_sts(&emulator, credentials);
    let identity = session.ok(STS, "GetCallerIdentity", &[]).await;
    assert_eq!(identity["IdentityType"], "AssumedRoleUser");
    assert_eq!(
        identity["Arn"],
        format!("acs:ram::{A}:assumed-role/rabbitmq-access/seed")
    );

    root_a
        .ok(
            RAM,
            "UpdateRole",
            &[
                ("RoleName", "rabbitmq-access"),
                (
                    "NewAssumeRolePolicyDocument",
                    &trust(&format!("acs:ram::{C}:root")),
                ),
            ],
        )
        .await;
    let (status, code) = app
        .code(
            STS,
            "AssumeRole",
            &[("RoleArn", &role_arn), ("RoleSessionName", "again")],
        )
        .await;
    assert_eq!((status, code.as_str()), (403, "NoPermission"));
    // The issued token keeps working (V3 this time) until it expires, then stops.
    let (status, _) = session
        .call_with(
            STS,
            "GetCallerIdentity",
            &[],
            Opts {
                v3: true,
                ..Opts::default()
            },
        )
        .await;
    assert_eq!(status, 200);
    wait_for_code(&session, "InvalidSecurityToken.Expired").await;

    let state = reqwest::get(format!("{}/_emulator/state", emulator.base_url()))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let issued = &state["stsCredentials"][0];
    assert_eq!(issued["expired"], true);
    assert_eq!(issued["issuedTo"], format!("acs:ram::{B}:user/app"));
    emulator.shutdown().await;
}

#[tokio::test]
async fn authentication_rejections() {
    let emulator = start(1.0).await;
    let root_b = Client::root(&emulator, B);

    let wrong = Client::new(&emulator, &root(B).0, "not-the-secret");
    for v3 in [false, true] {
        let (status, body) = wrong
            .call_with(
                STS,
                "GetCallerIdentity",
                &[],
                Opts {
                    v3,
                    ..Opts::default()
                },
            )
            .await;
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("SignatureDoesNotMatch"))
        );
        assert!(
            body["Message"]
                .as_str()
                .unwrap()
                .contains("server string to sign is:")
        );
    }
    let unknown = Client::new(&emulator, "LTAI5tUnknown", "x");
    assert_eq!(
        unknown.code(STS, "GetCallerIdentity", &[]).await,
        (404, "InvalidAccessKeyId.NotFound".to_string())
    );
    for minutes in [-16, 16] {
        let at = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_mins(minutes))
            .unwrap();
        for v3 in [false, true] {
            let opts = Opts {
                v3,
                timestamp: Some(signature::format_timestamp(at)),
                ..Opts::default()
            };
            let (status, body) = root_b.call_with(STS, "GetCallerIdentity", &[], opts).await;
            assert_eq!(
                (status, body["Code"].as_str()),
                (400, Some("InvalidTimeStamp.Expired"))
            );
        }
    }
    let nonce = Opts {
        nonce: Some("fixed-nonce".into()),
        ..Opts::default()
    };
    assert_eq!(
        root_b
            .call_with(STS, "GetCallerIdentity", &[], nonce.clone())
            .await
            .0,
        200
    );
    let (status, body) = root_b.call_with(STS, "GetCallerIdentity", &[], nonce).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed"))
    );

    // GET and form bodies are verified as well, in both styles.
    let get = Opts {
        get: true,
        ..Opts::default()
    };
    assert_eq!(
        root_b.call_with(IMS, "GetDefaultDomain", &[], get).await.0,
        200
    );
    for v3 in [false, true] {
        let name = if v3 { "form-v3" } else { "form-v2" };
        let opts = Opts {
            v3,
            body: vec![
                ("UserName".into(), name.into()),
                ("Comments".into(), "a b+c*~ é".into()),
            ],
            ..Opts::default()
        };
        let (status, body) = root_b.call_with(RAM, "CreateUser", &[], opts.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["User"]["Comments"], "a b+c*~ é");
        let tampered = Opts {
            tamper_body: true,
            nonce: None,
            ..opts
        };
        let (status, body) = root_b.call_with(RAM, "CreateUser", &[], tampered).await;
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("SignatureDoesNotMatch")),
            "{body}"
        );
    }

    // Disabled user key; root keys may not assume roles; a wrong security token.
    let user = user_with_key(&emulator, B, "keyholder", &["AliyunSTSAssumeRoleAccess"]).await;
    root_b
        .ok(
            RAM,
            "UpdateAccessKey",
            &[
                ("UserName", "keyholder"),
                ("UserAccessKeyId", &user.key_id),
                ("Status", "Inactive"),
            ],
        )
        .await;
    assert_eq!(
        user.code(STS, "GetCallerIdentity", &[]).await,
        (400, "InvalidAccessKeyId.Inactive".to_string())
    );
    root_b
        .ok(
            RAM,
            "UpdateAccessKey",
            &[
                ("UserName", "keyholder"),
                ("UserAccessKeyId", &user.key_id),
                ("Status", "Active"),
            ],
        )
        .await;
    let root_a = Client::root(&emulator, A);
    root_a
        .ok(
            RAM,
            "CreateRole",
            &[
                ("RoleName", "r"),
                (
                    "AssumeRolePolicyDocument",
                    &trust(&format!("acs:ram::{B}:root")),
                ),
            ],
        )
        .await;
    let arn = format!("acs:ram::{A}:role/r");
    assert_eq!(
        root_b
            .code(
                STS,
                "AssumeRole",
                &[("RoleArn", &arn), ("RoleSessionName", "root")]
            )
            .await,
        (403, "NoPermission".to_string())
    );
    let one = user
        .ok(
            STS,
            "AssumeRole",
            &[("RoleArn", &arn), ("RoleSessionName", "one")],
        )
        .await;
    let mut session = Client::with_sts(&emulator, &one["Credentials"]);
    session.token = Some("CAISforged".into());
    assert_eq!(
        session.code(STS, "GetCallerIdentity", &[]).await,
        (
            400,
            "InvalidSecurityToken.MismatchWithAccessKey".to_string()
        )
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn ram_and_ims_error_codes() {
    let emulator = start(1.0).await;
    let a = Client::root(&emulator, A);
    let doc = trust(&format!("acs:ram::{B}:root"));
    a.ok(
        RAM,
        "CreateRole",
        &[("RoleName", "r1"), ("AssumeRolePolicyDocument", &doc)],
    )
    .await;
    let attach = [
        ("RoleName", "r1"),
        ("PolicyType", "System"),
        ("PolicyName", "AliyunAMQPFullAccess"),
    ];
    a.ok(RAM, "AttachPolicyToRole", &attach).await;
    let allow = json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "amqp:*", "Resource": "*"}]}).to_string();
    a.ok(
        RAM,
        "CreatePolicy",
        &[("PolicyName", "mq-policy"), ("PolicyDocument", &allow)],
    )
    .await;
    a.ok(RAM, "CreateUser", &[("UserName", "u1")]).await;
    let user_attach = [
        ("UserName", "u1"),
        ("PolicyType", "Custom"),
        ("PolicyName", "mq-policy"),
    ];
    a.ok(RAM, "AttachPolicyToUser", &user_attach).await;
    let cases: Vec<Case<'_>> = vec![
        (
            "CreateRole",
            vec![("RoleName", "r1"), ("AssumeRolePolicyDocument", &doc)],
            409,
            "EntityAlreadyExists.Role",
        ),
        (
            "GetRole",
            vec![("RoleName", "nope")],
            404,
            "EntityNotExist.Role",
        ),
        (
            "CreateRole",
            vec![("RoleName", "bad_name"), ("AssumeRolePolicyDocument", &doc)],
            400,
            "InvalidParameter.RoleName.InvalidChars",
        ),
        (
            "CreateRole",
            vec![
                ("RoleName", "x"),
                ("AssumeRolePolicyDocument", &doc),
                ("MaxSessionDuration", "50000"),
            ],
            400,
            "InvalidParameter.MaxSessionDuration",
        ),
        (
            "CreateRole",
            vec![("RoleName", "x"), ("AssumeRolePolicyDocument", "{}")],
            400,
            "MalformedPolicyDocument",
        ),
        (
            "AttachPolicyToRole",
            attach.to_vec(),
            409,
            "EntityAlreadyExists.Role.Policy",
        ),
        (
            "AttachPolicyToRole",
            vec![
                ("RoleName", "r1"),
                ("PolicyType", "Custom"),
                ("PolicyName", "ghost"),
            ],
            404,
            "EntityNotExist.Policy",
        ),
        (
            "AttachPolicyToRole",
            vec![
                ("RoleName", "r1"),
                ("PolicyType", "Weird"),
                ("PolicyName", "ghost"),
            ],
            400,
            "InvalidParameter.PolicyType",
        ),
        (
            "DeleteRole",
            vec![("RoleName", "r1")],
            409,
            "DeleteConflict.Role.Policy",
        ),
        (
            "CreateUser",
            vec![("UserName", "u1")],
            409,
            "EntityAlreadyExists.User",
        ),
        (
            "CreateUser",
            vec![("UserName", "bad name")],
            400,
            "InvalidParameter.UserName.InvalidChars",
        ),
        (
            "GetUser",
            vec![("UserName", "ghost")],
            404,
            "EntityNotExist.User",
        ),
        (
            "AttachPolicyToUser",
            user_attach.to_vec(),
            409,
            "EntityAlreadyExists.User.Policy",
        ),
        (
            "DeleteUser",
            vec![("UserName", "u1")],
            409,
            "DeleteConflict.User.Policy",
        ),
        (
            "DeletePolicy",
            vec![("PolicyName", "mq-policy")],
            409,
            "DeleteConflict.Policy.User",
        ),
        (
            "GetLoginProfile",
            vec![("UserName", "u1")],
            404,
            "EntityNotExist.User.LoginProfile",
        ),
        (
            "CreateLoginProfile",
            vec![("UserName", "u1"), ("Password", "short")],
            400,
            "InvalidParameter.Password.TooWeak",
        ),
        (
            "DeleteAccessKey",
            vec![("UserName", "u1"), ("UserAccessKeyId", "LTAI5tNope")],
            404,
            "EntityNotExist.User.AccessKey",
        ),
        (
            "TagResources",
            vec![
                ("ResourceType", "user"),
                ("ResourceNames", "[\"u1\"]"),
                ("Tag", "[{\"Key\":\"k\",\"Value\":\"v\"}]"),
            ],
            400,
            "InvalidParameter.ResourceType",
        ),
        ("NoSuchAction", vec![], 404, "InvalidAction.NotFound"),
    ];
    for (action, params, status, code) in cases {
        assert_eq!(
            a.code(RAM, action, &params).await,
            (status, code.to_string()),
            "{action}"
        );
    }
    let (status, code) = a
        .code(
            IMS,
            "CreateUser",
            &[("UserPrincipalName", "x@account-a.onaliyun.com")],
        )
        .await;
    assert_eq!((status, code.as_str()), (400, "MissingDisplayName"));
    let (status, code) = a.code(STS, "AssumeRole", &[("RoleSessionName", "s")]).await;
    assert_eq!((status, code.as_str()), (400, "MissingRoleArn"));

    // Tags on roles and policies through RAM, listed back; pagination of ListUsers.
    a.ok(
        RAM,
        "TagResources",
        &[
            ("ResourceType", "role"),
            ("ResourceNames", "[\"r1\"]"),
            ("Tag", "[{\"Key\":\"owner\",\"Value\":\"op\"}]"),
        ],
    )
    .await;
    let tags = a
        .ok(
            RAM,
            "ListTagResources",
            &[("ResourceType", "role"), ("ResourceNames", "[\"r1\"]")],
        )
        .await;
    assert_eq!(tags["TagResources"][0]["TagKey"], "owner");
    a.ok(
        RAM,
        "UntagResources",
        &[
            ("ResourceType", "role"),
            ("ResourceNames", "[\"r1\"]"),
            ("TagKeys", "[\"owner\"]"),
        ],
    )
    .await;
    let tags = a
        .ok(RAM, "ListTagResources", &[("ResourceType", "role")])
        .await;
    assert_eq!(tags["TagResources"].as_array().unwrap().len(), 0);
    a.ok(RAM, "CreateUser", &[("UserName", "u2")]).await;
    let page = a.ok(RAM, "ListUsers", &[("MaxItems", "1")]).await;
    assert_eq!(page["IsTruncated"], true);
    let rest = a
        .ok(
            RAM,
            "ListUsers",
            &[("Marker", page["Marker"].as_str().unwrap())],
        )
        .await;
    assert_eq!(rest["Users"]["User"][0]["UserName"], "u2");
    emulator.shutdown().await;
}

#[tokio::test]
async fn authorization_of_users_and_role_sessions() {
    let emulator = start(1.0).await;
    let reader = user_with_key(&emulator, A, "reader", &["AliyunRAMReadOnlyAccess"]).await;
    let a = Client::root(&emulator, A);
    a.ok(
        RAM,
        "CreateRole",
        &[
            ("RoleName", "r"),
            (
                "AssumeRolePolicyDocument",
                &trust(&format!("acs:ram::{A}:root")),
            ),
        ],
    )
    .await;
    assert_eq!(
        reader.ok(RAM, "GetRole", &[("RoleName", "r")]).await["Role"]["RoleName"],
        "r"
    );
    let (status, body) = reader.call(RAM, "DeleteRole", &[("RoleName", "r")]).await;
    assert_eq!((status, body["Code"].as_str()), (403, Some("NoPermission")));
    assert_eq!(body["AccessDeniedDetail"]["AuthAction"], "ram:DeleteRole");

    // A role of the same account, assumed by a user of A, acts with the role's policies.
    a.ok(
        RAM,
        "AttachPolicyToRole",
        &[
            ("RoleName", "r"),
            ("PolicyType", "System"),
            ("PolicyName", "AliyunRAMReadOnlyAccess"),
        ],
    )
    .await;
    let assumer = user_with_key(&emulator, A, "assumer", &["AliyunSTSAssumeRoleAccess"]).await;
    let arn = format!("acs:ram::{A}:role/r");
    let creds = assumer
        .ok(
            STS,
            "AssumeRole",
            &[("RoleArn", &arn), ("RoleSessionName", "s1")],
        )
        .await;
    let session = Client::with_sts(&emulator, &creds["Credentials"]);
    assert_eq!(
        session.ok(RAM, "ListRoles", &[]).await["Roles"]["Role"][0]["RoleName"],
        "r"
    );
    assert_eq!(
        session.code(RAM, "CreateUser", &[("UserName", "x")]).await,
        (403, "NoPermission".to_string())
    );
    // The assuming user itself has no RAM rights at all.
    assert_eq!(assumer.code(RAM, "ListRoles", &[]).await.1, "NoPermission");

    // A trust policy naming a role ARN admits sessions of that role only (role chaining).
    a.ok(
        RAM,
        "CreateRole",
        &[
            ("RoleName", "chained"),
            (
                "AssumeRolePolicyDocument",
                &trust(&format!("acs:ram::{A}:role/r")),
            ),
        ],
    )
    .await;
    let chained = format!("acs:ram::{A}:role/chained");
    let params = [("RoleArn", chained.as_str()), ("RoleSessionName", "chain")];
    assert_eq!(
        session.code(STS, "AssumeRole", &params).await.1,
        "NoPermission"
    );
    a.ok(
        RAM,
        "AttachPolicyToRole",
        &[
            ("RoleName", "r"),
            ("PolicyType", "System"),
            ("PolicyName", "AliyunSTSAssumeRoleAccess"),
        ],
    )
    .await;
    let hop = session.ok(STS, "AssumeRole", &params).await;
    assert_eq!(hop["AssumedRoleUser"]["Arn"], format!("{chained}/chain"));
    assert_eq!(
        assumer.code(STS, "AssumeRole", &params).await,
        (403, "NoPermission".to_string())
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn admin_endpoints_and_faults() {
    let emulator = start(1.0).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = |path: &str| format!("{}{path}", emulator.base_url());
    assert_eq!(
        http.get(url("/_emulator/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let bad = http
        .post(url("/_emulator/faults"))
        .body("{\"faults\":[{\"action\":\"*\",\"rate\":3}]}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let set = json!({"faults": [{"action": "GetCallerIdentity", "code": "Throttling.User", "httpStatus": 400, "rate": 1.0}]});
    assert_eq!(
        http.post(url("/_emulator/faults"))
            .json(&set)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let b = Client::root(&emulator, B);
    assert_eq!(
        b.code(STS, "GetCallerIdentity", &[]).await,
        (400, "Throttling.User".to_string())
    );
    assert_eq!(
        b.ok(IMS, "GetDefaultDomain", &[]).await["DefaultDomainName"],
        "account-b.onaliyun.com"
    );
    http.delete(url("/_emulator/faults")).send().await.unwrap();
    b.ok(STS, "GetCallerIdentity", &[]).await;
    let calls: Value = http
        .get(url("/_emulator/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["totals"]["GetCallerIdentity"]["Throttling.User"], 1);
    assert_eq!(calls["totals"]["GetCallerIdentity"]["Success"], 1);
    assert!(
        calls["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["caller"] == format!("acs:ram::{B}:root"))
    );
    http.delete(url("/_emulator/calls")).send().await.unwrap();
    let calls: Value = http
        .get(url("/_emulator/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["calls"].as_array().unwrap().len(), 0);
    emulator.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart_through_serialisation() {
    let emulator = start(1.0).await;
    let user = user_with_key(&emulator, B, "persisted", &[]).await;
    let world = emulator.shutdown().await;
    let text = serde_json::to_string(&world).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = EmulatorConfig::new(accounts());
    config.initial_world = Some(serde_json::from_str(&text).unwrap());
    let again = serve(listener, config).await.unwrap();
    let user = Client {
        base: again.base_url(),
        ..user
    };
    let identity = user.ok(STS, "GetCallerIdentity", &[]).await;
    assert_eq!(identity["Arn"], format!("acs:ram::{B}:user/persisted"));
    // Secrets of the accounts file never reach a Debug rendering.
    let spec = KeySpec {
        id: "id".into(),
        secret: "hidden-value".into(),
    };
    assert!(!format!("{spec:?}").contains("hidden-value"));
    again.shutdown().await;
}

#[tokio::test]
async fn every_ram_and_ims_operation_answers_with_its_shape() {
    let emulator = start(1.0).await;
    let a = Client::root(&emulator, A);
    let doc = trust(&format!("acs:ram::{B}:root"));
    let allow = json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "amqp:Get*", "Resource": "*"}]})
        .to_string();

    // Roles.
    let created = a
        .ok(
            RAM,
            "CreateRole",
            &[
                ("RoleName", "ops"),
                ("AssumeRolePolicyDocument", &doc),
                ("Description", "d"),
                ("MaxSessionDuration", "7200"),
                ("Tag", "[{\"Key\":\"k\",\"Value\":\"v\"}]"),
            ],
        )
        .await;
    assert_eq!(created["Role"]["MaxSessionDuration"], 7200);
    let updated = a
        .ok(
            RAM,
            "UpdateRole",
            &[
                ("RoleName", "OPS"),
                ("NewDescription", "new"),
                ("NewMaxSessionDuration", "3600"),
            ],
        )
        .await;
    assert_eq!(updated["Role"]["Description"], "new");
    let listed = a
        .ok(
            RAM,
            "ListRoles",
            &[("Tag", "[{\"Key\":\"k\",\"Value\":\"v\"}]")],
        )
        .await;
    assert_eq!(
        listed["Roles"]["Role"][0]["Tags"]["Tag"][0]["TagValue"],
        "v"
    );

    // Custom policies and versions.
    let policy = a
        .ok(
            RAM,
            "CreatePolicy",
            &[
                ("PolicyName", "ops-policy"),
                ("PolicyDocument", &allow),
                ("Description", "p"),
            ],
        )
        .await;
    assert_eq!(policy["Policy"]["DefaultVersion"], "v1");
    let version = a
        .ok(
            RAM,
            "CreatePolicyVersion",
            &[("PolicyName", "ops-policy"), ("PolicyDocument", &allow)],
        )
        .await;
    assert_eq!(version["PolicyVersion"]["VersionId"], "v2");
    assert_eq!(version["PolicyVersion"]["IsDefaultVersion"], false);
    a.ok(
        RAM,
        "SetDefaultPolicyVersion",
        &[("PolicyName", "ops-policy"), ("VersionId", "v2")],
    )
    .await;
    assert_eq!(
        a.code(
            RAM,
            "DeletePolicyVersion",
            &[("PolicyName", "ops-policy"), ("VersionId", "v2")]
        )
        .await
        .0,
        409
    );
    a.ok(
        RAM,
        "DeletePolicyVersion",
        &[("PolicyName", "ops-policy"), ("VersionId", "v1")],
    )
    .await;
    let versions = a
        .ok(
            RAM,
            "ListPolicyVersions",
            &[("PolicyName", "ops-policy"), ("PolicyType", "Custom")],
        )
        .await;
    assert_eq!(
        versions["PolicyVersions"]["PolicyVersion"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    a.ok(
        RAM,
        "TagResources",
        &[
            ("ResourceType", "policy"),
            ("ResourceNames", "[\"ops-policy\"]"),
            ("Tag", "[{\"Key\":\"owner\",\"Value\":\"x\"}]"),
        ],
    )
    .await;
    let tags = a
        .ok(RAM, "ListTagResources", &[("ResourceType", "policy")])
        .await;
    assert_eq!(tags["TagResources"][0]["ResourceName"], "ops-policy");
    a.ok(
        RAM,
        "AttachPolicyToRole",
        &[
            ("RoleName", "ops"),
            ("PolicyType", "Custom"),
            ("PolicyName", "ops-policy"),
        ],
    )
    .await;
    let attached = a
        .ok(RAM, "ListPoliciesForRole", &[("RoleName", "ops")])
        .await;
    assert_eq!(attached["Policies"]["Policy"][0]["DefaultVersion"], "v2");
    let got = a
        .ok(
            RAM,
            "GetPolicy",
            &[("PolicyName", "ops-policy"), ("PolicyType", "Custom")],
        )
        .await;
    assert_eq!(got["Policy"]["AttachmentCount"], 1);
    a.ok(
        RAM,
        "DetachPolicyFromRole",
        &[
            ("RoleName", "ops"),
            ("PolicyType", "Custom"),
            ("PolicyName", "ops-policy"),
        ],
    )
    .await;
    a.ok(RAM, "DeletePolicy", &[("PolicyName", "ops-policy")])
        .await;
    a.ok(RAM, "DeleteRole", &[("RoleName", "ops")]).await;

    // Users through RAM.
    a.ok(
        RAM,
        "CreateUser",
        &[
            ("UserName", "ram-user"),
            ("DisplayName", "R"),
            ("Comments", "c"),
        ],
    )
    .await;
    let renamed = a
        .ok(
            RAM,
            "UpdateUser",
            &[
                ("UserName", "ram-user"),
                ("NewUserName", "ram-user2"),
                ("NewDisplayName", "R2"),
            ],
        )
        .await;
    assert_eq!(renamed["User"]["UserName"], "ram-user2");
    assert_eq!(
        a.ok(RAM, "GetUser", &[("UserName", "ram-user2")]).await["User"]["DisplayName"],
        "R2"
    );
    a.ok(
        RAM,
        "AttachPolicyToUser",
        &[
            ("UserName", "ram-user2"),
            ("PolicyType", "System"),
            ("PolicyName", "AliyunAMQPReadOnlyAccess"),
        ],
    )
    .await;
    let for_user = a
        .ok(RAM, "ListPoliciesForUser", &[("UserName", "ram-user2")])
        .await;
    assert_eq!(for_user["Policies"]["Policy"][0]["PolicyType"], "System");
    a.ok(
        RAM,
        "DetachPolicyFromUser",
        &[
            ("UserName", "ram-user2"),
            ("PolicyType", "System"),
            ("PolicyName", "AliyunAMQPReadOnlyAccess"),
        ],
    )
    .await;
    let profile = a
        .ok(
            RAM,
            "CreateLoginProfile",
            &[
                ("UserName", "ram-user2"),
                ("Password", "Long-enough-1"),
                ("MFABindRequired", "true"),
            ],
        )
        .await;
    assert_eq!(profile["LoginProfile"]["MFABindRequired"], true);
    a.ok(
        RAM,
        "UpdateLoginProfile",
        &[("UserName", "ram-user2"), ("PasswordResetRequired", "true")],
    )
    .await;
    let profile = a
        .ok(RAM, "GetLoginProfile", &[("UserName", "ram-user2")])
        .await;
    assert_eq!(profile["LoginProfile"]["PasswordResetRequired"], true);
    a.ok(RAM, "DeleteLoginProfile", &[("UserName", "ram-user2")])
        .await;
    let key = a
        .ok(RAM, "CreateAccessKey", &[("UserName", "ram-user2")])
        .await;
    let key_id = key["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    a.ok(
        RAM,
        "UpdateAccessKey",
        &[
            ("UserName", "ram-user2"),
            ("UserAccessKeyId", &key_id),
            ("Status", "Inactive"),
        ],
    )
    .await;
    let keys = a
        .ok(RAM, "ListAccessKeys", &[("UserName", "ram-user2")])
        .await;
    assert_eq!(keys["AccessKeys"]["AccessKey"][0]["Status"], "Inactive");
    assert!(
        keys["AccessKeys"]["AccessKey"][0]
            .get("AccessKeySecret")
            .is_none()
    );
    a.ok(
        RAM,
        "DeleteAccessKey",
        &[("UserName", "ram-user2"), ("UserAccessKeyId", &key_id)],
    )
    .await;
    a.ok(RAM, "DeleteUser", &[("UserName", "ram-user2")]).await;
    let policy = a
        .ok(RAM, "SetPasswordPolicy", &[("MinimumPasswordLength", "12")])
        .await;
    assert_eq!(policy["PasswordPolicy"]["MinimumPasswordLength"], 12);
    assert_eq!(
        a.ok(RAM, "GetPasswordPolicy", &[]).await["PasswordPolicy"]["MinimumPasswordLength"],
        12
    );
    assert_eq!(
        a.code(RAM, "SetPasswordPolicy", &[("MinimumPasswordLength", "6")])
            .await,
        (400, "InvalidParameter.MinimumPasswordLength".to_string())
    );

    // Users through IMS, addressed by UPN and by id.
    let upn = "ims-user@account-a.onaliyun.com";
    let user = a
        .ok(
            IMS,
            "CreateUser",
            &[("UserPrincipalName", upn), ("DisplayName", "I")],
        )
        .await;
    let user_id = user["User"]["UserId"].as_str().unwrap().to_string();
    assert_eq!(
        a.ok(IMS, "GetUser", &[("UserId", &user_id)]).await["User"]["UserPrincipalName"],
        upn
    );
    let moved = a
        .ok(
            IMS,
            "UpdateUser",
            &[
                ("UserPrincipalName", upn),
                ("NewUserPrincipalName", "ims-user2@account-a.onaliyun.com"),
                ("NewDisplayName", "I2"),
            ],
        )
        .await;
    assert_eq!(moved["User"]["UserName"], "ims-user2");
    let upn = "ims-user2@account-a.onaliyun.com";
    assert_eq!(
        a.ok(IMS, "ListUsers", &[]).await["Users"]["User"][0]["UserPrincipalName"],
        upn
    );
    let profile = a
        .ok(
            IMS,
            "CreateLoginProfile",
            &[
                ("UserPrincipalName", upn),
                ("Password", "Long-enough-password-1"),
                ("Status", "Inactive"),
            ],
        )
        .await;
    assert_eq!(profile["LoginProfile"]["Status"], "Inactive");
    a.ok(
        IMS,
        "UpdateLoginProfile",
        &[("UserPrincipalName", upn), ("Status", "Active")],
    )
    .await;
    assert_eq!(
        a.ok(IMS, "GetLoginProfile", &[("UserPrincipalName", upn)])
            .await["LoginProfile"]["Status"],
        "Active"
    );
    a.ok(IMS, "DeleteLoginProfile", &[("UserPrincipalName", upn)])
        .await;
    let key = a
        .ok(IMS, "CreateAccessKey", &[("UserPrincipalName", upn)])
        .await;
    let key_id = key["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let by_key = a.ok(IMS, "GetUser", &[("UserAccessKeyId", &key_id)]).await;
    assert_eq!(by_key["User"]["UserId"], user_id.as_str());
    a.ok(
        IMS,
        "UpdateAccessKey",
        &[
            ("UserPrincipalName", upn),
            ("UserAccessKeyId", &key_id),
            ("Status", "Inactive"),
        ],
    )
    .await;
    assert_eq!(
        a.ok(IMS, "ListAccessKeys", &[("UserPrincipalName", upn)])
            .await["AccessKeys"]["AccessKey"][0]["Status"],
        "Inactive"
    );
    a.ok(
        IMS,
        "DeleteAccessKey",
        &[("UserPrincipalName", upn), ("UserAccessKeyId", &key_id)],
    )
    .await;
    a.ok(
        IMS,
        "TagResources",
        &[
            ("ResourceType", "user"),
            ("ResourceId.1", &user_id),
            ("Tag.1.Key", "a"),
            ("Tag.1.Value", "1"),
            ("Tag.2.Key", "b"),
            ("Tag.2.Value", "2"),
        ],
    )
    .await;
    let tags = a
        .ok(
            IMS,
            "ListTagResources",
            &[("ResourceType", "user"), ("Tag.1.Key", "a")],
        )
        .await;
    assert_eq!(
        tags["TagResources"]["TagResource"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    a.ok(
        IMS,
        "UntagResources",
        &[
            ("ResourceType", "user"),
            ("ResourceId.1", &user_id),
            ("All", "true"),
        ],
    )
    .await;
    let tags = a
        .ok(IMS, "ListTagResources", &[("ResourceType", "user")])
        .await;
    assert_eq!(
        tags["TagResources"]["TagResource"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let policy = a.ok(IMS, "GetPasswordPolicy", &[]).await;
    assert_eq!(policy["PasswordPolicy"]["MinimumPasswordLength"], 12);
    assert_eq!(policy["PasswordPolicy"]["InitialPasswordAge"], 14);
    a.ok(IMS, "DeleteUser", &[("UserId", &user_id)]).await;
    assert_eq!(
        a.code(IMS, "GetUser", &[("UserPrincipalName", upn)]).await,
        (404, "EntityNotExist.User".to_string())
    );
    emulator.shutdown().await;
}
