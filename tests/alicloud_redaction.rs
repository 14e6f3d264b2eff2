//! No secret in any `Debug` or `Display` output: every public type of the client that holds a
//! secret is formatted and searched for the cleartext, and so are errors built from response
//! bodies and transport failures that carried one.

use std::sync::Arc;
use std::time::Duration;

use ram_operator::alicloud::credentials::{EnvLookup, EnvProvider};
use ram_operator::alicloud::ims::CreateLoginProfileRequest;
use ram_operator::alicloud::ram::{AccessKey, LoginProfileRequest};
use ram_operator::alicloud::sts::{AssumeRoleResponse, AssumeRoleWithOidcRequest, StsCredentials};
use ram_operator::alicloud::wire::Params;
use ram_operator::alicloud::{
    ChainProvider, Client, ClientConfig, Credentials, CredentialsProvider, Endpoints, Error,
    ErrorKind, OidcProvider, RetryPolicy, Sensitive, StaticProvider,
};
use reqwest::Url;

const SECRET: &str = "SECRET-9f8e7d6c5b4a";
const TOKEN: &str = "TOKEN-CAIS+abc/def==";
const PASSWORD: &str = "PASSWORD-Xy!93kq";

fn assert_clean(what: &str, text: &str) {
    for secret in [SECRET, TOKEN, PASSWORD, "TOKEN-CAIS%2Babc%2Fdef%3D%3D"] {
        assert!(!text.contains(secret), "{what} leaks a secret: {text}");
    }
}

fn assert_debug_clean(what: &str, value: &impl std::fmt::Debug) {
    assert_clean(what, &format!("{value:?}"));
    assert_clean(what, &format!("{value:#?}"));
}

#[tokio::test]
async fn types_holding_secrets_redact_them() {
    let sensitive = Sensitive::new(SECRET);
    assert_debug_clean("Sensitive", &sensitive);
    assert_clean("Sensitive", &sensitive.to_string());

    let credentials = Credentials::sts("STS.id", SECRET, TOKEN, None);
    assert_debug_clean("Credentials", &credentials);
    let provider = StaticProvider::sts("STS.id", SECRET, TOKEN);
    assert_debug_clean("StaticProvider", &provider);
    assert_debug_clean(
        "credentials from StaticProvider",
        &provider.credentials().await.unwrap(),
    );

    let env: EnvLookup = Arc::new(|name| match name {
        "ALIBABA_CLOUD_ACCESS_KEY_ID" => Some("LTAIid".to_string()),
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET" => Some(SECRET.to_string()),
        "ALIBABA_CLOUD_SECURITY_TOKEN" => Some(TOKEN.to_string()),
        _ => None,
    });
    let env_provider = EnvProvider::with_lookup(env.clone());
    assert_debug_clean("EnvProvider", &env_provider);
    assert_debug_clean(
        "credentials from EnvProvider",
        &env_provider.credentials().await.unwrap(),
    );

    let client = Client::new(ClientConfig::default()).unwrap();
    assert_debug_clean("Client", &client);
    let chain = ChainProvider::default_chain_with(&client, env);
    assert_debug_clean("ChainProvider", &chain);
    let oidc = OidcProvider::new(
        client.clone(),
        "acs:ram::1:role/r",
        "acs:ram::1:oidc-provider/p",
        "/token",
    );
    assert_debug_clean("OidcProvider", &oidc);

    let access_key: AccessKey = serde_json::from_str(&format!(
        r#"{{"AccessKeyId":"LTAInew","AccessKeySecret":"{SECRET}","Status":"Active"}}"#
    ))
    .unwrap();
    assert_eq!(access_key.access_key_secret.expose(), SECRET);
    assert_debug_clean("AccessKey", &access_key);

    let sts_credentials: StsCredentials = serde_json::from_str(&format!(
        r#"{{"AccessKeyId":"STS.x","AccessKeySecret":"{SECRET}","SecurityToken":"{TOKEN}","Expiration":"2030-01-01T00:00:00Z"}}"#
    ))
    .unwrap();
    assert_debug_clean("StsCredentials", &sts_credentials);
    let response = AssumeRoleResponse {
        credentials: sts_credentials.clone(),
        ..AssumeRoleResponse::default()
    };
    assert_debug_clean("AssumeRoleResponse", &response);
    assert_debug_clean("converted Credentials", &sts_credentials.into_credentials());

    let oidc_request = AssumeRoleWithOidcRequest {
        oidc_token: Sensitive::new(TOKEN),
        ..AssumeRoleWithOidcRequest::default()
    };
    assert_debug_clean("AssumeRoleWithOidcRequest", &oidc_request);
    let login = LoginProfileRequest {
        user_name: "bob".into(),
        password: Some(Sensitive::new(PASSWORD)),
        ..LoginProfileRequest::default()
    };
    assert_debug_clean("ram::LoginProfileRequest", &login);
    let ims_login = CreateLoginProfileRequest {
        user_principal_name: "bob@d".into(),
        password: Some(Sensitive::new(PASSWORD)),
        ..CreateLoginProfileRequest::default()
    };
    assert_debug_clean("ims::CreateLoginProfileRequest", &ims_login);

    let mut params = Params::new();
    params.secret("Password", Some(&Sensitive::new(PASSWORD)));
    assert_eq!(params.get("Password"), Some(PASSWORD), "sent in cleartext");
    assert_debug_clean("Params", &params);
}

fn assert_error_clean(what: &str, error: &Error) {
    assert_debug_clean(what, error);
    assert_clean(what, &error.to_string());
    assert_clean(what, error.message());
}

#[test]
fn errors_built_from_bodies_with_secrets_redact_them() {
    let echo = format!(
        r#"{{"Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&SecurityToken%3D{}","RequestId":"R"}}"#,
        TOKEN.replace('+', "%252B")
    );
    let error = Error::from_response("GetRole", 400, echo.as_bytes(), None, &[SECRET, TOKEN]);
    assert_eq!(error.kind(), ErrorKind::SignatureMismatch);
    assert_error_clean("SignatureDoesNotMatch", &error);

    let echoed =
        format!(r#"{{"Code":"InvalidParameter","Message":"bad value {SECRET} / {TOKEN}"}}"#);
    let error = Error::from_response(
        "CreateLoginProfile",
        400,
        echoed.as_bytes(),
        None,
        &[SECRET, TOKEN],
    );
    assert_error_clean("echoed secret", &error);
}

#[tokio::test]
async fn decode_and_transport_errors_never_quote_secrets() {
    // A response whose shape is wrong right where the secret is.
    let body = format!(r#"{{"RequestId":"R","AccessKey":"{SECRET}"}}"#);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/",
        axum::routing::any(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = |url: &str| ClientConfig {
        endpoints: Endpoints::all(Url::parse(url).unwrap()),
        allow_insecure: true,
        retry: RetryPolicy::never(),
        timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    };
    let provider = StaticProvider::sts("STS.id", SECRET, TOKEN);
    let client = Client::new(config(&format!("http://{address}/"))).unwrap();
    let error = client
        .ram(&provider)
        .create_access_key(None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert_error_clean("decode error", &error);

    // Nothing listens on the port of a dropped listener: the URL (with the token) must not
    // reach the error text.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_address = closed.local_addr().unwrap();
    drop(closed);
    let client = Client::new(config(&format!("http://{closed_address}/"))).unwrap();
    let error = client
        .sts(&provider)
        .get_caller_identity()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert_error_clean("transport error", &error);
}
