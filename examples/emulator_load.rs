//! Measures how many signed calls per second the emulator serves.
//!
//! `cargo run --release --example emulator_load -- [SECONDS] [TASKS]` starts the emulator
//! in-process on a free loopback port, creates a RAM user in account B allowed to assume a role
//! of account A, then runs TASKS concurrent clients for SECONDS, each sending V2-signed requests
//! with a fresh nonce: alternately `AssumeRole` (authentication, permission, trust, issuance)
//! and `GetCallerIdentity` with the issued STS credentials. A load tool such as `wrk` cannot do
//! this because every request needs its own nonce and signature.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ram_operator::alicloud::signature;
use ram_operator::emulator::accounts::{AccountSpec, AccountsFile};
use ram_operator::emulator::{EmulatorConfig, serve};
use serde_json::{Value, json};

struct Signer {
    http: reqwest::Client,
    base: String,
    key_id: String,
    secret: String,
    token: Option<String>,
}

impl Signer {
    async fn call(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let mut query: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let nonce = uuid::Uuid::new_v4().to_string();
        let timestamp = signature::format_timestamp(jiff::Timestamp::now());
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
        let signed = signature::sign_rpc("POST", &query, &self.secret);
        query.insert("Signature".to_string(), signed.signature);
        let url = format!("{}/?{}", self.base, signature::canonicalized_query(&query));
        let response = self.http.post(url).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{action} failed: {body}");
        Ok(body)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let tasks: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(16);

    let accounts = AccountsFile {
        accounts: vec![
            serde_json::from_value::<AccountSpec>(
                json!({"id": "1111111111111111", "alias": "account-a",
                "accessKeys": [{"id": "LTAI5tLoadA", "secret": "load-secret-a"}]}),
            )?,
            serde_json::from_value::<AccountSpec>(
                json!({"id": "2222222222222222", "alias": "account-b",
                "accessKeys": [{"id": "LTAI5tLoadB", "secret": "load-secret-b"}]}),
            )?,
        ],
        oidc_providers: Vec::new(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let emulator = serve(listener, EmulatorConfig::new(accounts)).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let signer = |key_id: &str, secret: &str| Signer {
        http: http.clone(),
        base: emulator.base_url(),
        key_id: key_id.to_string(),
        secret: secret.to_string(),
        token: None,
    };

    let root_a = signer("LTAI5tLoadA", "load-secret-a");
    let trust =
        json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"RAM": ["acs:ram::2222222222222222:root"]}}]})
        .to_string();
    root_a
        .call(
            "2015-05-01",
            "CreateRole",
            &[("RoleName", "load"), ("AssumeRolePolicyDocument", &trust)],
        )
        .await?;
    let root_b = signer("LTAI5tLoadB", "load-secret-b");
    root_b
        .call("2015-05-01", "CreateUser", &[("UserName", "loader")])
        .await?;
    root_b
        .call(
            "2015-05-01",
            "AttachPolicyToUser",
            &[
                ("UserName", "loader"),
                ("PolicyType", "System"),
                ("PolicyName", "AliyunSTSAssumeRoleAccess"),
            ],
        )
        .await?;
    let key = root_b
        .call("2015-05-01", "CreateAccessKey", &[("UserName", "loader")])
        .await?;
    let user = Arc::new(signer(
        key["AccessKey"]["AccessKeyId"].as_str().unwrap_or_default(),
        key["AccessKey"]["AccessKeySecret"]
            .as_str()
            .unwrap_or_default(),
    ));
    let role_arn = "acs:ram::1111111111111111:role/load";

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for _ in 0..tasks {
        let (user, done, failed, http, base) = (
            user.clone(),
            done.clone(),
            failed.clone(),
            http.clone(),
            emulator.base_url(),
        );
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match user
                    .call(
                        "2015-04-01",
                        "AssumeRole",
                        &[("RoleArn", role_arn), ("RoleSessionName", "load")],
                    )
                    .await
                {
                    Ok(body) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        let credentials = &body["Credentials"];
                        let session = Signer {
                            http: http.clone(),
                            base: base.clone(),
                            key_id: credentials["AccessKeyId"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            secret: credentials["AccessKeySecret"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            token: credentials["SecurityToken"].as_str().map(str::to_string),
                        };
                        match session.call("2015-04-01", "GetCallerIdentity", &[]).await {
                            Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                            Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    println!(
        "{ok} signed calls in {elapsed:.1} s with {tasks} tasks: {:.0} calls/s ({} failed)",
        ok as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
    emulator.shutdown().await;
    Ok(())
}
