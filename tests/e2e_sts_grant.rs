//! `StsGrant` end to end: the real control plane, the emulator with scaled STS lifetimes, and
//! the `ram-operator` binary. The cloud side (Account A's role trusting Account B, Account B's
//! user with an AccessKey) is set up directly with the project's client; each test has its
//! own namespace, emulator and operator.
//!
//! Proofs: the Secret works with the official SDK through env vars and `config.json`; it is
//! replaced before every expiry over ten cycles at one `AssumeRole` each; a restart mints
//! nothing; revoked trust shows `AccessDenied` then `CredentialsExpired` at the expiry;
//! throttling at 50 % does not make any grant late; rollout restarts are debounced; the
//! garbage collector deletes the Secret unless `Retain`; no secret reaches the operator log.

mod support;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use ram_operator::alicloud::policy::TrustPolicy;
use ram_operator::alicloud::ram::{
    CreateRoleRequest, CreateUserRequest, PolicyType, UpdateRoleRequest,
};
use ram_operator::alicloud::{Client, ClientConfig, Endpoints, StaticProvider};
use ram_operator::crd::StsGrant;
use serde_json::Value;

use support::e2e::{
    ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, Emulator, Operator, root_key, sdk_caller_identity,
};
use support::{Cluster, TestNamespace, install_crds, wait_for};

const ROLE: &str = "rabbitmq-access";
const USER: &str = "rabbitmq-app";
const SOURCE_SECRET: &str = "source-key";
const TIMEOUT: Duration = Duration::from_secs(90);

/// One test's world.
struct Stage {
    cluster: Cluster,
    namespace: TestNamespace,
    emulator: Emulator,
    operator: Operator,
    cloud: Client,
    role_arn: String,
    /// Every secret value the test knows, to scan the operator log for.
    secrets: BTreeSet<String>,
}

impl Stage {
    async fn start(prefix: &str, expiry_scale: f64) -> Stage {
        let cluster = Cluster::connect().await;
        install_crds(&cluster).await;
        let namespace = TestNamespace::create(&cluster, prefix).await;
        let emulator = Emulator::start(&namespace.name, expiry_scale).await;
        let cloud = Client::new(ClientConfig {
            endpoints: Endpoints::all(emulator.url.parse().expect("emulator URL")),
            allow_insecure: true,
            ..ClientConfig::default()
        })
        .expect("client for the emulator");

        // Account A: a role that Account B may assume, with RabbitMQ permissions.
        let a = root(ACCOUNT_A);
        let role = cloud
            .ram(&a)
            .create_role(&CreateRoleRequest {
                role_name: ROLE.into(),
                assume_role_policy_document: TrustPolicy::for_accounts(&[ACCOUNT_B]).to_json(),
                max_session_duration: Some(3600),
                ..CreateRoleRequest::default()
            })
            .await
            .expect("CreateRole in A");
        cloud
            .ram(&a)
            .attach_policy_to_role(PolicyType::System, "AliyunAMQPFullAccess", ROLE)
            .await
            .expect("AttachPolicyToRole");

        // Account B: a user allowed to call AssumeRole, with an AccessKey.
        let b = root(ACCOUNT_B);
        cloud
            .ram(&b)
            .create_user(&CreateUserRequest {
                user_name: USER.into(),
                ..CreateUserRequest::default()
            })
            .await
            .expect("CreateUser in B");
        cloud
            .ram(&b)
            .attach_policy_to_user(PolicyType::System, "AliyunSTSAssumeRoleAccess", USER)
            .await
            .expect("AttachPolicyToUser");
        let key = cloud
            .ram(&b)
            .create_access_key(Some(USER))
            .await
            .expect("CreateAccessKey");

        let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &namespace.name);
        secrets
            .create(
                &PostParams::default(),
                &Secret {
                    metadata: ObjectMeta {
                        name: Some(SOURCE_SECRET.into()),
                        ..ObjectMeta::default()
                    },
                    string_data: Some(
                        [
                            ("AccessKeyId".to_string(), key.access_key_id.clone()),
                            (
                                "AccessKeySecret".to_string(),
                                key.access_key_secret.expose().to_string(),
                            ),
                        ]
                        .into(),
                    ),
                    ..Secret::default()
                },
            )
            .await
            .expect("create the source Secret");

        let operator = Operator::start(
            &cluster,
            &emulator,
            &namespace.name,
            &["--resync-interval", "5s"],
        )
        .await;
        let mut known = BTreeSet::new();
        known.insert(key.access_key_secret.expose().to_string());
        for account in [ACCOUNT_A, ACCOUNT_B, ACCOUNT_C] {
            known.insert(root_key(account).1.to_string());
        }
        Stage {
            cluster,
            namespace,
            emulator,
            operator,
            cloud,
            role_arn: role.arn,
            secrets: known,
        }
    }

    fn grants(&self) -> Api<StsGrant> {
        Api::namespaced(self.cluster.client.clone(), &self.namespace.name)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.cluster.client.clone(), &self.namespace.name)
    }

    async fn apply(&self, yaml: &str) {
        self.cluster
            .kubectl_stdin(&["apply", "-n", &self.namespace.name, "-f", "-"], yaml)
            .await
            .expect_success("kubectl apply");
    }

    /// Applies a grant of the role with the source Secret; `extra` is appended to its spec.
    async fn apply_grant(&self, name: &str, duration_seconds: u32, extra: &str) {
        let yaml = format!(
            "apiVersion: ram.alicloud.dev/v1alpha1\nkind: StsGrant\nmetadata:\n  name: {name}\n\
             spec:\n  roleArn: {}\n  source:\n    secretRef:\n      name: {SOURCE_SECRET}\n  \
             durationSeconds: {duration_seconds}\n{extra}",
            self.role_arn
        );
        self.apply(&yaml).await;
    }

    async fn wait_ready(&self, name: &str) -> StsGrant {
        let grants = self.grants();
        wait_for(&format!("StsGrant {name} Ready"), TIMEOUT, || async {
            let grant = grants.get(name).await.map_err(|e| e.to_string())?;
            match condition(&grant, "Ready") {
                Some((status, _)) if status == "True" => Ok(grant),
                other => Err(format!("Ready is {other:?}")),
            }
        })
        .await
    }

    /// The Secret's temporary AccessKey ID, remembering its secret values for the log scan.
    async fn served_key(&mut self, name: &str) -> Option<String> {
        let secret = self.secrets().get_opt(name).await.ok()??;
        let data = secret.data?;
        for key in [
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "ALIBABA_CLOUD_SECURITY_TOKEN",
        ] {
            if let Some(value) = data.get(key) {
                self.secrets
                    .insert(String::from_utf8_lossy(&value.0).into_owned());
            }
        }
        data.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .map(|value| String::from_utf8_lossy(&value.0).into_owned())
    }

    /// `AssumeRole` calls the emulator answered, whatever the outcome.
    async fn assume_role_calls(&self) -> u64 {
        self.emulator.calls().await["totals"]["AssumeRole"]
            .as_object()
            .map(|codes| codes.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    }

    /// STS keys the emulator reports as expired.
    async fn expired_keys(&self) -> HashSet<String> {
        self.emulator.state().await["stsCredentials"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["expired"].as_bool() == Some(true))
            .filter_map(|c| c["accessKeyId"].as_str().map(str::to_owned))
            .collect()
    }

    fn assert_no_secret_in_log(&self) {
        let logs = self.operator.logs();
        assert!(!logs.is_empty(), "the operator logged nothing");
        for secret in &self.secrets {
            assert!(
                !logs.contains(secret.as_str()),
                "the operator log contains a secret value"
            );
        }
    }
}

fn root(account: &str) -> StaticProvider {
    let (id, secret) = root_key(account);
    StaticProvider::access_key(id, secret)
}

fn condition(grant: &StsGrant, type_: &str) -> Option<(String, String)> {
    grant
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

fn annotation(secret: &Secret, key: &str) -> Option<String> {
    secret.metadata.annotations.as_ref()?.get(key).cloned()
}

fn text(secret: &Secret, key: &str) -> String {
    secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|value| String::from_utf8_lossy(&value.0).into_owned())
        .unwrap_or_default()
}

/// Proof 1 and 7: Ready, the Secret's shape, the official SDK through env vars and
/// `config.json`, garbage collection with `Delete` and none with `Retain`.
#[tokio::test]
async fn grant_secret_works_with_the_official_sdk_and_is_garbage_collected() {
    let mut stage = Stage::start("grant-sdk", 1.0).await;
    stage
        .apply_grant(
            "app",
            3600,
            "  roleSessionName: rabbit-session\n  formats: [Env, CliConfig]\n",
        )
        .await;
    let grant = stage.wait_ready("app").await;
    assert_eq!(
        condition(&grant, "CredentialsValid")
            .map(|c| c.0)
            .as_deref(),
        Some("True")
    );
    let status = grant.status.clone().expect("status");
    assert_eq!(status.role_arn.as_deref(), Some(stage.role_arn.as_str()));
    assert_eq!(status.observed_generation, grant.metadata.generation);
    assert!(status.expiration.is_some() && status.next_refresh_time.is_some());
    let assumed = status.assumed_role_user.expect("assumedRoleUser");
    assert!(assumed.arn.ends_with("/rabbit-session"), "{}", assumed.arn);

    let secret = stage.secrets().get("app").await.expect("the Secret");
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    let labels = secret.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("ram-operator")
    );
    let owners = secret.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (owners[0].kind.as_str(), owners[0].name.as_str()),
        ("StsGrant", "app")
    );
    assert_eq!(
        owners[0].uid,
        grant.metadata.uid.clone().unwrap_or_default()
    );
    assert_eq!(
        annotation(&secret, "ram.alicloud.dev/role-arn").as_deref(),
        Some(stage.role_arn.as_str())
    );
    let expiration =
        annotation(&secret, "ram.alicloud.dev/expiration").expect("expiration annotation");
    assert_eq!(text(&secret, "expiration"), expiration);
    assert!(annotation(&secret, "ram.alicloud.dev/refreshed-at").is_some());
    let key_id = text(&secret, "ALIBABA_CLOUD_ACCESS_KEY_ID");
    assert!(key_id.starts_with("STS."), "{key_id}");
    assert_eq!(status.access_key_id.as_deref(), Some(key_id.as_str()));
    stage.served_key("app").await;

    // As a pod with envFrom: the Secret's keys become the environment.
    let expected_arn = format!("acs:ram::{ACCOUNT_A}:assumed-role/{ROLE}/rabbit-session");
    let home = tempdir("env");
    let env: Vec<(&str, String)> = [
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
    ]
    .into_iter()
    .map(|key| (key, text(&secret, key)))
    .collect();
    let identity = sdk_caller_identity(&stage.emulator.url, &home, &env).await;
    assert_eq!(identity["provider"], "default/env", "{identity}");
    assert_eq!(identity["key"], key_id.as_str());
    assert_eq!(identity["type"], "AssumedRoleUser");
    assert_eq!(identity["arn"], expected_arn.as_str());
    assert_eq!(identity["account"], ACCOUNT_A);

    // As a pod mounting config.json at ~/.aliyun/config.json.
    let home = tempdir("cli");
    std::fs::create_dir_all(home.join(".aliyun")).expect("mkdir .aliyun");
    std::fs::write(
        home.join(".aliyun/config.json"),
        text(&secret, "config.json"),
    )
    .expect("write config.json");
    let identity = sdk_caller_identity(&stage.emulator.url, &home, &[]).await;
    assert!(
        identity["provider"]
            .as_str()
            .unwrap_or_default()
            .contains("cli_profile"),
        "{identity}"
    );
    assert_eq!(identity["key"], key_id.as_str());
    assert_eq!(identity["arn"], expected_arn.as_str());

    // Steady state: across resyncs (5 s) the grant is not written and nothing is minted.
    let calls = stage.assume_role_calls().await;
    let version = stage
        .grants()
        .get("app")
        .await
        .expect("grant")
        .metadata
        .resource_version;
    let secret_version = secret.metadata.resource_version.clone();
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        stage.assume_role_calls().await,
        calls,
        "a resync minted credentials"
    );
    assert_eq!(
        stage
            .grants()
            .get("app")
            .await
            .expect("grant")
            .metadata
            .resource_version,
        version
    );
    assert_eq!(
        stage
            .secrets()
            .get("app")
            .await
            .expect("secret")
            .metadata
            .resource_version,
        secret_version
    );

    // Deleting the grant deletes its Secret (garbage collector); Retain keeps it.
    stage
        .apply_grant("kept", 3600, "  secretDeletionPolicy: Retain\n")
        .await;
    stage.wait_ready("kept").await;
    let kept = stage
        .secrets()
        .get("kept")
        .await
        .expect("the retained grant's Secret");
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    stage.served_key("kept").await;
    for name in ["app", "kept"] {
        stage
            .grants()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete grant");
    }
    let secrets = stage.secrets();
    wait_for(
        "the garbage collector to delete Secret app",
        Duration::from_secs(120),
        || async {
            match secrets.get_opt("app").await {
                Ok(None) => Ok(()),
                Ok(Some(_)) => Err("still there".to_string()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
    assert!(
        secrets.get_opt("kept").await.expect("get").is_some(),
        "the Retain Secret was deleted"
    );
    stage.assert_no_secret_in_log();
}

/// The refresh lateness histogram's sum and count.
fn lateness(metrics: &str) -> String {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("ram_operator_refresh_lateness_seconds_sum")
                || l.starts_with("ram_operator_refresh_lateness_seconds_count")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn tempdir(what: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sdk-home-{what}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create a HOME for the SDK");
    dir
}

/// Proof 2 and 3: with a 900 s token living 9 s, the Secret is replaced before every expiry
/// over ten cycles at one `AssumeRole` each; then a restart mid-lifetime mints nothing.
#[tokio::test]
async fn credentials_are_replaced_before_every_expiry_and_a_restart_mints_nothing() {
    let mut stage = Stage::start("grant-refresh", 0.01).await;
    stage.apply_grant("app", 900, "").await;
    stage.wait_ready("app").await;
    let first = stage.served_key("app").await.expect("a key");
    let calls_at_start = stage.assume_role_calls().await;
    let mut seen = vec![first];
    let mut samples = 0u32;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while seen.len() < 11 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} keys in 180 s",
            seen.len()
        );
        let Some(key) = stage.served_key("app").await else {
            panic!("the Secret disappeared");
        };
        let expired = stage.expired_keys().await;
        assert!(
            !expired.contains(&key),
            "the Secret held expired credentials {key} (sample {samples})"
        );
        if seen.last() != Some(&key) {
            assert!(!seen.contains(&key), "key {key} came back");
            seen.push(key);
        }
        samples += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = stage.assume_role_calls().await - calls_at_start;
    eprintln!(
        "refresh: {} cycles, {samples} samples, {calls} AssumeRole calls",
        seen.len() - 1
    );
    // Each new key came from exactly one call (the last one may be in flight of a sample).
    assert_eq!(calls, (seen.len() - 1) as u64, "AssumeRole calls per cycle");
    let grant = stage.grants().get("app").await.expect("grant");
    assert_eq!(grant.status.and_then(|s| s.consecutive_failures), None);
    eprintln!(
        "lateness over the cycles: {}",
        lateness(&stage.operator.metrics().await)
    );

    // Restart mid-lifetime: a spec change to a longer lifetime (3600 s: 36 s, refreshed after
    // about 24 s) refreshes once; then a restart must mint nothing until the planned time.
    let before = stage.served_key("app").await.expect("key");
    stage.apply_grant("app", 3600, "").await;
    let secrets = stage.secrets();
    wait_for(
        "the refresh for the new spec",
        Duration::from_secs(30),
        || async {
            let now = secrets.get("app").await.map_err(|e| e.to_string())?;
            let longer = annotation(&now, "ram.alicloud.dev/generation") != Some("1".to_string());
            if longer && text(&now, "ALIBABA_CLOUD_ACCESS_KEY_ID") != before {
                Ok(())
            } else {
                Err("no refresh yet".to_string())
            }
        },
    )
    .await;
    let secret = stage.secrets().get("app").await.expect("secret");
    let key = text(&secret, "ALIBABA_CLOUD_ACCESS_KEY_ID");
    let next: Timestamp = annotation(&secret, "ram.alicloud.dev/next-refresh-at")
        .and_then(|t| t.parse().ok())
        .expect("next-refresh-at annotation");
    let calls = stage.assume_role_calls().await;
    // The first process streamed its initial lists (`auto` on this API server); the restarted
    // one lists in pages, so both ways of reading the existing objects keep the schedule.
    assert!(
        stage.operator.logs().contains("strategy=Stream"),
        "the first process did not stream its lists"
    );
    stage
        .operator
        .restart_with(&["--initial-list", "page"])
        .await;
    assert!(stage.operator.logs().contains("strategy=Page"));
    // Until shortly before the planned refresh, the restarted operator must not mint.
    let quiet_until = next - jiff::SignedDuration::from_millis(500);
    assert!(
        Timestamp::now() < quiet_until,
        "the restart took until the planned refresh"
    );
    while Timestamp::now() < quiet_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            stage.assume_role_calls().await,
            calls,
            "the restart minted credentials"
        );
        assert_eq!(stage.served_key("app").await.as_deref(), Some(key.as_str()));
    }
    // And the schedule survived: the restarted operator refreshes, once.
    wait_for(
        "a refresh by the restarted operator",
        Duration::from_secs(30),
        || {
            let stage = &stage;
            let key = key.clone();
            async move {
                let now = stage
                    .secrets()
                    .get("app")
                    .await
                    .map_err(|e| e.to_string())?;
                if text(&now, "ALIBABA_CLOUD_ACCESS_KEY_ID") != key {
                    Ok(())
                } else {
                    Err("not yet".to_string())
                }
            }
        },
    )
    .await;
    assert_eq!(
        stage.assume_role_calls().await,
        calls + 1,
        "one AssumeRole for the refresh"
    );
    let metrics = stage.operator.metrics().await;
    eprintln!("lateness after restart: {}", lateness(&metrics));
    assert!(
        metrics.contains("ram_operator_refresh_lateness_seconds_count 1"),
        "the restarted operator observed one scheduled refresh:\n{metrics}"
    );
    stage.served_key("app").await;
    stage.assert_no_secret_in_log();
}

/// Proof 4: trust revoked -> `AccessDenied` while the old credentials are valid, then
/// `CredentialsExpired` at their expiry.
#[tokio::test]
async fn revoked_trust_shows_access_denied_then_credentials_expired_at_the_expiry() {
    let mut stage = Stage::start("grant-revoke", 0.01).await;
    // 1800 s at 0.01: 18 s, refreshed 6 s before expiry.
    stage.apply_grant("app", 1800, "").await;
    stage.wait_ready("app").await;
    stage.served_key("app").await;
    stage
        .cloud
        .ram(&root(ACCOUNT_A))
        .update_role(&UpdateRoleRequest {
            role_name: ROLE.into(),
            new_assume_role_policy_document: Some(
                TrustPolicy::for_accounts(&[ACCOUNT_C]).to_json(),
            ),
            ..UpdateRoleRequest::default()
        })
        .await
        .expect("UpdateRole: trust only C");

    let grants = stage.grants();
    let denied = wait_for("Ready=False AccessDenied while valid", TIMEOUT, || async {
        let grant = grants.get("app").await.map_err(|e| e.to_string())?;
        match (
            condition(&grant, "Ready"),
            condition(&grant, "CredentialsValid"),
        ) {
            (Some((ready, reason)), Some((valid, _)))
                if ready == "False" && reason == "AccessDenied" && valid == "True" =>
            {
                Ok(grant)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let status = denied.status.clone().expect("status");
    assert!(status.consecutive_failures.unwrap_or(0) >= 1);
    let expiration = status.expiration.expect("expiration").0;
    assert!(
        Timestamp::now() < expiration,
        "AccessDenied was only seen after the expiry"
    );
    // The served credentials are still the valid ones.
    let key = stage.served_key("app").await.expect("key");
    assert_eq!(status.access_key_id.as_deref(), Some(key.as_str()));
    assert!(!stage.expired_keys().await.contains(&key));

    let expired = wait_for("CredentialsExpired", TIMEOUT, || async {
        let grant = grants.get("app").await.map_err(|e| e.to_string())?;
        match condition(&grant, "CredentialsValid") {
            Some((valid, reason)) if valid == "False" && reason == "CredentialsExpired" => {
                Ok(grant)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(
        condition(&expired, "Ready"),
        Some(("False".to_string(), "CredentialsExpired".to_string()))
    );
    let flipped = expired
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "CredentialsValid"))
        .map(|c| c.last_transition_time.0)
        .expect("transition time");
    let late = flipped.duration_since(expiration);
    eprintln!("CredentialsExpired {late:?} after the expiry");
    assert!(
        late >= jiff::SignedDuration::ZERO && late <= jiff::SignedDuration::from_secs(5),
        "CredentialsValid flipped at {flipped}, the credentials expired at {expiration}"
    );
    stage.assert_no_secret_in_log();
}

/// Proof 5: `AssumeRole` throttled at 50 %: every grant still refreshes before expiry.
#[tokio::test]
async fn throttled_assume_role_still_refreshes_every_grant_in_time() {
    let mut stage = Stage::start("grant-throttle", 0.01).await;
    stage
        .emulator
        .set_faults(serde_json::json!([
            {"action": "AssumeRole", "code": "Throttling.User", "rate": 0.5}
        ]))
        .await;
    let names = ["g1", "g2", "g3", "g4"];
    // 1800 s at 0.01: 18 s, refreshed 6 s before expiry. (With 9 s lives and a 3 s lead, six
    // throttled attempts in a row - one refresh in 64 - exhaust the client's retries, about
    // 3.6 s, after the expiry; the lead must leave room for one more round.)
    for name in names {
        stage.apply_grant(name, 1800, "").await;
    }
    for name in names {
        stage.wait_ready(name).await;
    }
    let mut seen: Vec<BTreeSet<String>> = vec![BTreeSet::new(); names.len()];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen.iter().any(|keys| keys.len() < 4) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "grants refreshed too rarely: {seen:?}"
        );
        let expired = stage.expired_keys().await;
        for (index, name) in names.iter().enumerate() {
            let key = stage.served_key(name).await.expect("a key");
            assert!(
                !expired.contains(&key),
                "grant {name} served expired credentials"
            );
            seen[index].insert(key);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let throttled = stage.emulator.calls().await["totals"]["AssumeRole"]["Throttling.User"]
        .as_u64()
        .unwrap_or(0);
    eprintln!("throttling: {throttled} AssumeRole calls throttled");
    assert!(throttled > 0, "no AssumeRole was throttled");
    stage.assert_no_secret_in_log();
}

/// Proof 6: a listed Deployment is restarted after a refresh, never more often than
/// `minInterval`, even when spec edits cause refreshes in quick succession.
#[tokio::test]
async fn rollout_restarts_the_deployment_debounced() {
    let mut stage = Stage::start("grant-rollout", 0.01).await;
    stage
        .apply(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: consumer\nspec:\n  \
             replicas: 0\n  selector:\n    matchLabels: {app: consumer}\n  template:\n    \
             metadata:\n      labels: {app: consumer}\n    spec:\n      containers:\n      \
             - name: app\n        image: busybox\n        envFrom:\n        - secretRef: {name: app}\n",
        )
        .await;
    let rollout =
        "  rollout:\n    targets:\n    - {kind: Deployment, name: consumer}\n    minInterval: 8s\n";
    // 3600 s at 0.01: 36 s lifetime, refreshed about every 24 s. Long enough that the
    // other rollout rule (restart before the old credentials expire, a sixth of the lifetime
    // ahead) never has to override minInterval here: with 18 s lifetimes it could, under load,
    // and rightly restarted sooner than minInterval.
    stage.apply_grant("app", 3600, rollout).await;
    stage.wait_ready("app").await;
    let deployments: Api<Deployment> =
        Api::namespaced(stage.cluster.client.clone(), &stage.namespace.name);
    let restarted_at = |deployment: &Deployment| {
        deployment
            .spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get("ram.alicloud.dev/refreshed-at"))
            .and_then(|t| t.parse::<Timestamp>().ok())
    };
    wait_for("the Deployment to be restarted", TIMEOUT, || async {
        let deployment = deployments
            .get("consumer")
            .await
            .map_err(|e| e.to_string())?;
        restarted_at(&deployment).ok_or_else(|| "no annotation yet".to_string())
    })
    .await;

    // Two spec edits a second apart: two immediate refreshes, debounced restarts.
    let mut restarts: BTreeSet<Timestamp> = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let start = tokio::time::Instant::now();
    let mut edits = 0;
    while start.elapsed() < Duration::from_secs(45) {
        if edits < 2 && start.elapsed() >= Duration::from_secs(1 + edits) {
            edits += 1;
            stage
                .apply_grant(
                    "app",
                    3600,
                    &format!("  roleSessionName: edit-{edits}\n{rollout}"),
                )
                .await;
        }
        let deployment = deployments.get("consumer").await.expect("deployment");
        if let Some(at) = restarted_at(&deployment) {
            restarts.insert(at);
        }
        if let Some(key) = stage.served_key("app").await {
            keys.insert(key);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let restarts: Vec<Timestamp> = restarts.into_iter().collect();
    eprintln!("rollout: {} keys, restarts at {restarts:?}", keys.len());
    assert!(
        keys.len() >= 4,
        "expected the edits and the schedule to refresh: {keys:?}"
    );
    assert!(
        restarts.len() >= 2,
        "the Deployment was restarted {} times",
        restarts.len()
    );
    assert!(
        restarts.len() < keys.len(),
        "every refresh restarted the Deployment: not debounced"
    );
    for pair in restarts.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(
            gap >= jiff::SignedDuration::from_secs(8),
            "restarts {gap:?} apart: {restarts:?}"
        );
    }
    stage.assert_no_secret_in_log();
}
