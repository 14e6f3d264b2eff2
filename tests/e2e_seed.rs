//! The seed scenario end to end, as a user runs it: `examples/seed/` applied to the real control
//! plane, the operator against the emulator with two accounts. Account A's role trusting B,
//! B's user with its AccessKey, the grant's STS credentials used by the official SDK exactly
//! as a pod would (environment from the Secret, and the mounted `config.json`), then revocation
//! by A.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use ram_operator::crd::{StsGrant, conditions};

use support::e2e::{
    ACCOUNT_A, ACCOUNT_B, Emulator, Operator, apply_seed_and_wait_ready,
    create_account_credentials, root_key, sdk_caller_identity,
};
use support::{Cluster, TestNamespace, install_crds, wait_for};

fn secret_text(secret: &Secret, key: &str) -> String {
    secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|value| String::from_utf8_lossy(&value.0).into_owned())
        .unwrap_or_default()
}

fn tempdir(what: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("seed-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

#[tokio::test]
async fn seed_scenario_end_to_end() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let namespace = TestNamespace::create(&cluster, "seed").await;
    let ns = namespace.name.as_str();
    create_account_credentials(&cluster, ns).await;
    let emulator = Emulator::start("seed", 1.0).await;
    let operator = Operator::start(&cluster, &emulator, ns, &["--resync-interval", "5s"]).await;

    // 00-credentials.yaml holds placeholders; the Secrets above carry the emulator's keys.
    apply_seed_and_wait_ready(&cluster, ns).await;

    // The cloud side: A's role trusts B and carries the RabbitMQ policy; B's user has one key.
    let state = emulator.state().await;
    let text = state.to_string();
    assert!(text.contains("rabbitmq-access"), "role missing from {text}");
    assert!(
        text.contains(&format!("acs:ram::{ACCOUNT_B}:root")),
        "trust does not name B"
    );
    assert!(text.contains("AliyunAMQPFullAccess"));
    assert!(text.contains("AliyunSTSAssumeRoleAccess"));

    // The grant's Secret, used by the official SDK as a pod would use it.
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let secret = secrets
        .get("rabbitmq-app")
        .await
        .expect("the grant's Secret");
    let key_id = secret_text(&secret, "ALIBABA_CLOUD_ACCESS_KEY_ID");
    assert!(key_id.starts_with("STS."), "{key_id}");
    let env: Vec<(&str, String)> = [
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
    ]
    .into_iter()
    .map(|key| (key, secret_text(&secret, key)))
    .collect();
    let expected_arn =
        format!("acs:ram::{ACCOUNT_A}:assumed-role/rabbitmq-access/{ns}.rabbitmq-app");
    let identity = sdk_caller_identity(&emulator.url, &tempdir("env"), &env).await;
    assert_eq!(identity["type"], "AssumedRoleUser", "{identity}");
    assert_eq!(identity["account"], ACCOUNT_A);
    assert_eq!(identity["arn"], expected_arn.as_str(), "{identity}");

    let home = tempdir("cli");
    std::fs::create_dir_all(home.join(".aliyun")).expect("mkdir .aliyun");
    std::fs::write(
        home.join(".aliyun/config.json"),
        secret_text(&secret, "config.json"),
    )
    .expect("write config.json");
    let identity = sdk_caller_identity(&emulator.url, &home, &[]).await;
    assert_eq!(identity["arn"], expected_arn.as_str(), "{identity}");

    // Revocation by A: trust nobody. The next AssumeRole fails; the grant says AccessDenied
    // while it keeps serving the still-valid credentials.
    cluster
        .kubectl(&[
            "patch",
            "crossaccountrole/rabbitmq-access",
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"trustedAccounts":[]}}"#,
        ])
        .await
        .expect_success("remove B from the trusted accounts");
    cluster
        .kubectl(&[
            "wait",
            "--for=jsonpath={.status.trustedAccounts}=[]",
            "crossaccountrole/rabbitmq-access",
            "-n",
            ns,
            "--timeout=60s",
        ])
        .await;
    // Force a refresh now: a spec change of the grant refreshes at once.
    cluster
        .kubectl(&[
            "patch",
            "stsgrant/rabbitmq-app",
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"durationSeconds":3000}}"#,
        ])
        .await
        .expect_success("edit the grant");
    let grants: Api<StsGrant> = Api::namespaced(cluster.client.clone(), ns);
    wait_for(
        "the grant to report AccessDenied",
        Duration::from_secs(60),
        || {
            let grants = grants.clone();
            async move {
                let grant = grants
                    .get("rabbitmq-app")
                    .await
                    .map_err(|e| e.to_string())?;
                let conditions = grant
                    .status
                    .as_ref()
                    .map(|s| s.conditions.clone())
                    .unwrap_or_default();
                let ready = conditions::find(&conditions, conditions::READY)
                    .map(|c| (c.status.clone(), c.reason.clone()));
                match ready {
                    Some((status, reason)) if reason == "AccessDenied" && status == "True" => {
                        Err(format!("Ready=True with reason {reason}?"))
                    }
                    Some((_, reason)) if reason == "AccessDenied" => Ok(()),
                    other => Err(format!("Ready is {other:?}")),
                }
            }
        },
    )
    .await;
    let grant = grants.get("rabbitmq-app").await.expect("grant");
    let status = grant.status.expect("status");
    assert!(
        conditions::is_true(&status.conditions, conditions::CREDENTIALS_VALID),
        "the served credentials are still valid: {:?}",
        status.conditions
    );
    let served = secrets.get("rabbitmq-app").await.expect("Secret");
    assert_eq!(secret_text(&served, "ALIBABA_CLOUD_ACCESS_KEY_ID"), key_id);
    let identity = sdk_caller_identity(&emulator.url, &tempdir("env2"), &env).await;
    assert_eq!(
        identity["arn"],
        expected_arn.as_str(),
        "old token works until it expires"
    );

    // Nothing secret in the operator's log.
    let logs = operator.logs();
    let mut secrets_seen: Vec<String> = vec![
        root_key(ACCOUNT_A).1.to_string(),
        root_key(ACCOUNT_B).1.to_string(),
        secret_text(&secret, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        secret_text(&secret, "ALIBABA_CLOUD_SECURITY_TOKEN"),
    ];
    let user_key = secrets
        .get("rabbitmq-app-access-key")
        .await
        .expect("user key Secret");
    secrets_seen.push(secret_text(&user_key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"));
    for value in secrets_seen.iter().filter(|v| v.len() >= 8) {
        assert!(
            !logs.contains(value.as_str()),
            "a secret value is in the operator log"
        );
    }
}
