//! `RamUser` end to end: the real control plane, the emulator and the `ram-operator` binary.
//! Each test has its own namespace, emulator and operator (resync every 5 s), drives the
//! operator with `kubectl` and checks the emulator's state, the Secrets, status, Events, the
//! emulator's call counts and the operator's log (for every secret the test knows).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use ram_operator::alicloud::client::Auth;
use ram_operator::alicloud::ims::{CreateUserRequest, UserLookup};
use ram_operator::alicloud::ram::LoginProfileRequest;
use ram_operator::alicloud::wire::Params;
use ram_operator::alicloud::{Client, ClientConfig, Endpoints, Service, StaticProvider};
use ram_operator::crd::RamUser;
use ram_operator::crd::conditions::{self, READY, STALLED};
use support::e2e::{
    ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, Emulator, Operator, create_account_credentials, root_key,
};
use support::{Cluster, DEFAULT_TIMEOUT, TestNamespace, install_crds, repo_root, wait_for};

const RESYNC: &[&str] = &["--resync-interval", "5s"];
const LONG: Duration = Duration::from_secs(180);

/// Namespace, emulator and operator of one test.
struct Stage {
    cluster: Cluster,
    namespace: TestNamespace,
    emulator: Emulator,
    operator: Operator,
}

impl Stage {
    async fn start(name: &str) -> Stage {
        let cluster = Cluster::connect().await;
        install_crds(&cluster).await;
        let namespace = TestNamespace::create(&cluster, name).await;
        let emulator = Emulator::start(&namespace.name, 1.0).await;
        create_account_credentials(&cluster, &namespace.name).await;
        let operator = Operator::start(&cluster, &emulator, &namespace.name, RESYNC).await;
        Stage {
            cluster,
            namespace,
            emulator,
            operator,
        }
    }

    fn ns(&self) -> &str {
        &self.namespace.name
    }

    fn users(&self) -> Api<RamUser> {
        Api::namespaced(self.cluster.client.clone(), self.ns())
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.cluster.client.clone(), self.ns())
    }

    async fn apply(&self, yaml: &str) {
        self.cluster
            .kubectl_stdin(&["apply", "-n", self.ns(), "-f", "-"], yaml)
            .await
            .expect_success("kubectl apply");
    }

    async fn apply_file(&self, relative: &str) {
        let text = std::fs::read_to_string(repo_root().join(relative))
            .unwrap_or_else(|e| panic!("reading {relative}: {e}"));
        self.apply(&text).await;
    }

    async fn merge_patch(&self, name: &str, patch: Value) {
        self.users()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patching RamUser {name}: {e}"));
    }

    /// Waits until `name` is Ready for its current generation.
    async fn wait_ready(&self, name: &str) -> RamUser {
        let api = self.users();
        wait_for(&format!("RamUser {name} Ready"), LONG, || {
            let api = api.clone();
            async move {
                let user = api.get(name).await.map_err(|e| e.to_string())?;
                let status = user.status.clone().unwrap_or_default();
                let ready = conditions::find(&status.conditions, READY)
                    .map(|c| format!("{} {} {}", c.status, c.reason, c.message));
                if conditions::is_true(&status.conditions, READY)
                    && status.observed_generation == user.metadata.generation
                {
                    Ok(user)
                } else {
                    Err(format!("Ready: {ready:?}"))
                }
            }
        })
        .await
    }

    /// Waits until `name` is `Ready=False` with `reason`.
    async fn wait_not_ready(&self, name: &str, reason: &str) -> RamUser {
        let api = self.users();
        wait_for(
            &format!("RamUser {name} Ready=False/{reason}"),
            LONG,
            || {
                let api = api.clone();
                async move {
                    let user = api.get(name).await.map_err(|e| e.to_string())?;
                    let status = user.status.clone().unwrap_or_default();
                    match conditions::find(&status.conditions, READY) {
                        Some(c) if c.status == conditions::FALSE && c.reason == reason => Ok(user),
                        other => Err(format!("Ready: {other:?}")),
                    }
                }
            },
        )
        .await
    }

    async fn secret_data(&self, name: &str) -> BTreeMap<String, String> {
        let secret = self
            .secrets()
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("Secret {name}: {e}"));
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect()
    }

    /// The user `name` of account B in the emulator, if it exists.
    async fn cloud_user(&self, name: &str) -> Option<Value> {
        let state = self.emulator.state().await;
        account_b(&state)["users"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|u| u["userName"] == name)
            .cloned()
    }

    async fn key_ids(&self, name: &str) -> Vec<String> {
        self.cloud_user(name)
            .await
            .map(|u| key_ids_of(&u))
            .unwrap_or_default()
    }

    /// Events about `name`: `(type, reason, note)`.
    async fn events(&self, name: &str) -> Vec<(String, String, String)> {
        let api: Api<Event> = Api::namespaced(self.cluster.client.clone(), self.ns());
        api.list(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                )
            })
            .collect()
    }

    async fn wait_event(&self, name: &str, type_: &str, reason: &str) {
        wait_for(
            &format!("a {type_} Event {reason} on {name}"),
            DEFAULT_TIMEOUT,
            || async {
                let events = self.events(name).await;
                if events.iter().any(|(t, r, _)| t == type_ && r == reason) {
                    Ok(())
                } else {
                    Err(format!("{events:?}"))
                }
            },
        )
        .await;
    }

    /// Deletes `name` and waits until the object is gone (finalizer done).
    async fn delete(&self, name: &str) {
        self.users()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("deleting RamUser {name}: {e}"));
        let api = self.users();
        wait_for(&format!("RamUser {name} gone"), LONG, || {
            let api = api.clone();
            async move {
                match api.get_opt(name).await {
                    Ok(None) => Ok(()),
                    Ok(Some(_)) => Err("still there".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
    }

    /// Fails when any of `secrets` appears in any operator log line.
    fn assert_logs_free_of(&self, secrets: &[&str]) {
        let logs = self.operator.logs();
        assert!(!logs.is_empty(), "the operator logged nothing");
        for secret in secrets {
            assert!(!secret.is_empty());
            if let Some(line) = logs.lines().find(|line| line.contains(secret)) {
                panic!("a secret value appears in the operator log: {line}");
            }
        }
    }

    /// Drops the finalizers of whatever is left, so the namespace can go away.
    async fn release(&self) {
        let api = self.users();
        for user in api
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let name = user.metadata.name.unwrap_or_default();
            let _ = api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await;
        }
    }
}

fn account_b(state: &Value) -> &Value {
    state["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["id"] == ACCOUNT_B))
        .expect("account B in the emulator state")
}

fn key_ids_of(user: &Value) -> Vec<String> {
    user["accessKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["accessKeyId"].as_str().map(str::to_string))
        .collect()
}

fn cloud(emulator: &Emulator) -> Client {
    Client::new(ClientConfig {
        endpoints: Endpoints::all(emulator.url.parse().expect("emulator URL")),
        allow_insecure: true,
        ..ClientConfig::default()
    })
    .expect("a client for the emulator")
}

fn root_b() -> StaticProvider {
    let (id, secret) = root_key(ACCOUNT_B);
    StaticProvider::access_key(id, secret)
}

fn root_secrets() -> Vec<&'static str> {
    [ACCOUNT_A, ACCOUNT_B, ACCOUNT_C]
        .iter()
        .map(|a| root_key(a).1)
        .collect()
}

/// Calls that change something, from `/_emulator/calls`: `(action, count)`.
fn write_calls(calls: &Value) -> Vec<(String, u64)> {
    calls["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let action = c["action"].as_str()?;
            let read = action.starts_with("Get") || action.starts_with("List");
            (!read).then(|| (action.to_string(), c["count"].as_u64().unwrap_or(0)))
        })
        .collect()
}

fn count_calls(calls: &Value, action: &str, code: Option<&str>) -> u64 {
    calls["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["action"] == action && code.is_none_or(|code| c["code"] == code))
        .filter_map(|c| c["count"].as_u64())
        .sum()
}

fn programmatic_user(name: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: ram.alicloud.dev/v1alpha1
kind: RamUser
metadata:
  name: {name}
spec:
  accessMode: Programmatic
  programmatic:
    accessKeySecretName: {name}-key
{extra}
  policies:
    - name: AliyunSTSAssumeRoleAccess
  credentialsRef:
    name: account-b-credentials
"#
    )
}

/// Seed user: Ready, one working key published, steady state free of writes, then `Delete`
/// removes the user with its key and policy attachment.
#[tokio::test]
async fn seed_programmatic_user_is_ready_with_one_working_key_and_delete_removes_it() {
    let stage = Stage::start("ramuser-seed").await;
    let started = Instant::now();
    stage
        .apply_file("examples/seed/20-account-b-user.yaml")
        .await;
    let user = stage.wait_ready("rabbitmq-app").await;
    println!("apply to Ready: {:?}", started.elapsed());
    let status = user.status.expect("status");

    let cloud_user = stage.cloud_user("rabbitmq-app").await.expect("user exists");
    let state = stage.emulator.state().await;
    let domain = account_b(&state)["defaultDomain"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        status.user_principal_name.as_deref(),
        Some(format!("rabbitmq-app@{domain}").as_str())
    );
    assert_eq!(status.user_id.as_deref(), cloud_user["userId"].as_str());
    assert_eq!(cloud_user["displayName"], "RabbitMQ application");
    let policies: Vec<&str> = cloud_user["attachedPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["policyName"].as_str())
        .collect();
    assert_eq!(policies, ["AliyunSTSAssumeRoleAccess"]);
    assert_eq!(
        cloud_user["tags"]["ram.alicloud.dev/owner"],
        format!("e2e/{}/RamUser/rabbitmq-app", stage.ns())
    );
    let keys = key_ids_of(&cloud_user);
    assert_eq!(keys.len(), 1, "exactly one key: {keys:?}");
    assert_eq!(status.access_key_id.as_deref(), Some(keys[0].as_str()));
    assert_eq!(status.access_keys.len(), 1);
    assert!(status.access_keys[0].owned && status.access_keys[0].current);
    assert!(status.access_key_creation.is_none());

    // The Secret: owned, labelled, holding the key, which works.
    let secret = stage
        .secrets()
        .get("rabbitmq-app-access-key")
        .await
        .unwrap();
    assert_eq!(
        secret.metadata.labels.unwrap()["app.kubernetes.io/managed-by"],
        "ram-operator"
    );
    let owner = &secret.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("RamUser", Some(true))
    );
    let data = stage.secret_data("rabbitmq-app-access-key").await;
    assert_eq!(data["ALIBABA_CLOUD_ACCESS_KEY_ID"], keys[0]);
    let key_secret = data["ALIBABA_CLOUD_ACCESS_KEY_SECRET"].clone();
    let app = StaticProvider::access_key(keys[0].clone(), key_secret.clone());
    let identity = cloud(&stage.emulator)
        .sts(&app)
        .get_caller_identity()
        .await
        .expect("the published key signs GetCallerIdentity");
    assert_eq!(identity.account_id, ACCOUNT_B);
    assert!(
        identity.arn.ends_with(":user/rabbitmq-app"),
        "{}",
        identity.arn
    );
    stage
        .wait_event("rabbitmq-app", "Normal", "AccessKeyCreated")
        .await;

    // Steady state: several resyncs, reads only, no Kubernetes writes.
    let user_version = stage
        .users()
        .get("rabbitmq-app")
        .await
        .unwrap()
        .metadata
        .resource_version;
    let secret_version = stage
        .secrets()
        .get("rabbitmq-app-access-key")
        .await
        .unwrap()
        .metadata
        .resource_version;
    stage.emulator.reset_calls().await;
    let calls = wait_for("three resyncs", DEFAULT_TIMEOUT, || async {
        let calls = stage.emulator.calls().await;
        match count_calls(&calls, "GetUser", None) {
            n if n >= 3 => Ok(calls),
            n => Err(format!("{n} GetUser calls")),
        }
    })
    .await;
    assert_eq!(write_calls(&calls), Vec::<(String, u64)>::new(), "{calls}");
    let resyncs = count_calls(&calls, "GetUser", None);
    let reads: u64 = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["count"].as_u64())
        .sum();
    println!("steady state: {reads} read calls over {resyncs} reconciles, 0 writes");
    assert_eq!(
        stage
            .users()
            .get("rabbitmq-app")
            .await
            .unwrap()
            .metadata
            .resource_version,
        user_version,
        "a resync wrote the RamUser"
    );
    assert_eq!(
        stage
            .secrets()
            .get("rabbitmq-app-access-key")
            .await
            .unwrap()
            .metadata
            .resource_version,
        secret_version,
        "a resync wrote the Secret"
    );

    // Drift: a policy detached behind the operator's back is attached again.
    cloud(&stage.emulator)
        .ram(&root_b())
        .detach_policy_from_user(
            ram_operator::alicloud::ram::PolicyType::System,
            "AliyunSTSAssumeRoleAccess",
            "rabbitmq-app",
        )
        .await
        .expect("detach behind the operator's back");
    wait_for("the policy re-attached", DEFAULT_TIMEOUT, || async {
        let user = stage.cloud_user("rabbitmq-app").await.unwrap();
        match user["attachedPolicies"].as_array().map(Vec::len) {
            Some(1) => Ok(()),
            other => Err(format!("{other:?} policies")),
        }
    })
    .await;

    stage.delete("rabbitmq-app").await;
    assert!(
        stage.cloud_user("rabbitmq-app").await.is_none(),
        "Delete leaves no user"
    );
    assert!(
        !stage.emulator.state().await.to_string().contains(&keys[0]),
        "the key is gone too"
    );
    let mut secrets = root_secrets();
    secrets.push(&key_secret);
    stage.assert_logs_free_of(&secrets);
}

/// SIGKILL while `CreateAccessKey` is in flight (the key exists, its answer is delayed), then
/// restart: the leaked key is deleted and exactly one key, the published one, remains.
#[tokio::test]
async fn a_crash_during_create_access_key_leaves_exactly_the_published_key() {
    let mut stage = Stage::start("ramuser-crash").await;
    stage
        .emulator
        .set_faults(json!([{"action": "CreateAccessKey", "responseLatencyMs": 6000}]))
        .await;
    stage.apply(&programmatic_user("crashy", "")).await;
    let api = stage.users();
    let leaked = wait_for(
        "the creation intent in status and the key in RAM",
        LONG,
        || async {
            let user = api.get("crashy").await.map_err(|e| e.to_string())?;
            let intent = user.status.and_then(|s| s.access_key_creation);
            let keys = stage.key_ids("crashy").await;
            match (intent, keys.as_slice()) {
                (Some(_), [key]) => Ok(key.clone()),
                (intent, keys) => Err(format!("intent {intent:?}, keys {keys:?}")),
            }
        },
    )
    .await;
    stage.operator.kill().await;
    stage.emulator.clear_faults().await;
    assert!(
        stage
            .secrets()
            .get_opt("crashy-key")
            .await
            .unwrap()
            .is_none(),
        "the crash came before the Secret write"
    );

    stage.operator.restart().await;
    let user = stage.wait_ready("crashy").await;
    let status = user.status.unwrap();
    let keys = stage.key_ids("crashy").await;
    let data = stage.secret_data("crashy-key").await;
    assert_eq!(keys.len(), 1, "exactly one key: {keys:?}");
    assert_eq!(data["ALIBABA_CLOUD_ACCESS_KEY_ID"], keys[0]);
    assert_eq!(status.access_key_id.as_deref(), Some(keys[0].as_str()));
    assert_ne!(keys[0], leaked, "the leaked key was deleted");
    assert!(status.access_key_creation.is_none());
    let calls = stage.emulator.calls().await;
    assert_eq!(
        count_calls(&calls, "DeleteAccessKey", Some("Success")),
        1,
        "{calls}"
    );
    // The first CreateAccessKey may not be counted: its answer never left the emulator.
    assert!(count_calls(&calls, "CreateAccessKey", Some("Success")) >= 1);
    stage
        .wait_event("crashy", "Normal", "AccessKeyDeleted")
        .await;
    let mut secrets = root_secrets();
    let key_secret = data["ALIBABA_CLOUD_ACCESS_KEY_SECRET"].clone();
    secrets.push(&key_secret);
    stage.assert_logs_free_of(&secrets);
    stage.release().await;
}

/// Rotation every minute with a 10 s grace period: the new key is published, the old one kept
/// for exactly the grace period and then deleted; never more than two keys.
#[tokio::test]
async fn rotation_publishes_a_new_key_and_retires_the_old_one_after_the_grace_period() {
    let stage = Stage::start("ramuser-rotate").await;
    stage
        .apply(&programmatic_user(
            "rotating",
            "    formats: [Env, CredentialsFile, CliConfig]\n    rotation:\n      every: 1m\n      gracePeriod: 10s",
        ))
        .await;
    let user = stage.wait_ready("rotating").await;
    let first = user.status.unwrap().access_key_id.expect("a key");
    let data = stage.secret_data("rotating-key").await;
    assert!(data["credentials"].contains("type = access_key"));
    assert!(data["config.json"].contains("\"mode\":\"AK\""));
    let first_secret = data["ALIBABA_CLOUD_ACCESS_KEY_SECRET"].clone();

    let mut most_keys = 0;
    let mut retiring = None;
    let deadline = Instant::now() + LONG;
    let old_gone_at = loop {
        let keys = stage.key_ids("rotating").await;
        most_keys = most_keys.max(keys.len());
        let status = stage.users().get("rotating").await.unwrap().status.unwrap();
        if let Some(rotation) = &status.rotation
            && rotation.retiring_access_key_id.as_deref() == Some(first.as_str())
        {
            retiring = Some((
                rotation
                    .last_rotation_time
                    .clone()
                    .expect("lastRotationTime")
                    .0,
                rotation.retire_after.clone().expect("retireAfter").0,
            ));
        }
        let published =
            stage.secret_data("rotating-key").await["ALIBABA_CLOUD_ACCESS_KEY_ID"].clone();
        if published != first && !keys.contains(&first) && keys == [published.clone()] {
            break jiff::Timestamp::now();
        }
        assert!(
            Instant::now() < deadline,
            "no rotation: keys {keys:?}, status {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        most_keys, 2,
        "the old key stays while the new one is published"
    );
    let (rotated_at, retire_after) = retiring.expect("status showed the retiring key");
    assert_eq!(
        rotated_at.duration_until(retire_after),
        jiff::SignedDuration::from_secs(10),
        "the grace period is the spec's"
    );
    assert!(
        old_gone_at >= retire_after,
        "the old key was deleted before its grace period ended ({old_gone_at} < {retire_after})"
    );
    let status = stage.users().get("rotating").await.unwrap().status.unwrap();
    let data = stage.secret_data("rotating-key").await;
    assert_eq!(
        status.access_key_id.as_deref(),
        Some(data["ALIBABA_CLOUD_ACCESS_KEY_ID"].as_str())
    );
    assert!(data["credentials"].contains(&data["ALIBABA_CLOUD_ACCESS_KEY_ID"]));
    stage
        .wait_event("rotating", "Normal", "AccessKeyRotated")
        .await;
    // The old key no longer works; the new one does.
    let client = cloud(&stage.emulator);
    let old = StaticProvider::access_key(first.clone(), first_secret.clone());
    assert!(client.sts(&old).get_caller_identity().await.is_err());
    let new = StaticProvider::access_key(
        data["ALIBABA_CLOUD_ACCESS_KEY_ID"].clone(),
        data["ALIBABA_CLOUD_ACCESS_KEY_SECRET"].clone(),
    );
    client
        .sts(&new)
        .get_caller_identity()
        .await
        .expect("the new key works");
    let mut secrets = root_secrets();
    secrets.push(&first_secret);
    secrets.push(&data["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]);
    stage.assert_logs_free_of(&secrets);
    stage.release().await;
}

/// Console user of the seed under a strict password policy: the generated password satisfies
/// it, sits in its Secret, MFA binding is required (and restored after drift); Delete removes
/// the login profile and the user.
#[tokio::test]
async fn console_user_gets_a_policy_compliant_password_and_mfa() {
    let stage = Stage::start("ramuser-console").await;
    let client = cloud(&stage.emulator);
    let mut params = Params::new();
    params
        .set("MinimumPasswordLength", 24)
        .set("RequireLowercaseCharacters", true)
        .set("RequireUppercaseCharacters", true)
        .set("RequireNumbers", true)
        .set("RequireSymbols", true)
        .set("PasswordNotContainUserName", true);
    client
        .call::<Value>(
            Service::Ims,
            "SetPasswordPolicy",
            &params,
            Auth::Signed(&root_b()),
        )
        .await
        .expect("SetPasswordPolicy");

    stage.apply_file("examples/seed/40-console-user.yaml").await;
    let user = stage.wait_ready("alice").await;
    assert!(user.status.unwrap().login_profile_created.is_some());
    let password = stage.secret_data("alice-console-password").await["password"].clone();
    assert!(password.chars().count() >= 24, "length {}", password.len());
    assert!(password.chars().any(|c| c.is_ascii_lowercase()));
    assert!(password.chars().any(|c| c.is_ascii_uppercase()));
    assert!(password.chars().any(|c| c.is_ascii_digit()));
    assert!(password.chars().any(|c| c.is_ascii_punctuation()));
    assert!(!password.to_lowercase().contains("alice"));
    let cloud_user = stage.cloud_user("alice").await.unwrap();
    assert_eq!(cloud_user["loginProfile"]["mfaBindRequired"], true);
    assert_eq!(cloud_user["loginProfile"]["passwordResetRequired"], true);
    assert_eq!(cloud_user["accessKeys"].as_array().map(Vec::len), Some(0));
    let calls = stage.emulator.calls().await;
    assert_eq!(
        count_calls(&calls, "CreateLoginProfile", Some("Success")),
        1,
        "{calls}"
    );

    // MFA switched off behind the operator's back is switched on again.
    client
        .ram(&root_b())
        .update_login_profile(&LoginProfileRequest {
            user_name: "alice".into(),
            mfa_bind_required: Some(false),
            ..LoginProfileRequest::default()
        })
        .await
        .expect("UpdateLoginProfile");
    wait_for("MFA required again", DEFAULT_TIMEOUT, || async {
        let user = stage.cloud_user("alice").await.unwrap();
        match user["loginProfile"]["mfaBindRequired"].as_bool() {
            Some(true) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    stage.delete("alice").await;
    assert!(stage.cloud_user("alice").await.is_none());
    let mut secrets = root_secrets();
    secrets.push(&password);
    stage.assert_logs_free_of(&secrets);
}

/// A user that exists without the ownership tag is refused (untouched) until `adoption: Adopt`;
/// `deletionPolicy: Orphan` then leaves it in place.
#[tokio::test]
async fn adoption_is_refused_then_granted_and_orphan_leaves_the_user() {
    let stage = Stage::start("ramuser-adopt").await;
    let client = cloud(&stage.emulator);
    let domain = client
        .ims(&root_b())
        .get_default_domain()
        .await
        .expect("GetDefaultDomain");
    client
        .ims(&root_b())
        .create_user(&CreateUserRequest {
            user_principal_name: format!("legacy@{domain}"),
            display_name: "made by hand".into(),
            ..CreateUserRequest::default()
        })
        .await
        .expect("a user made outside the operator");

    stage.apply(&programmatic_user("legacy", "")).await;
    let refused = stage.wait_not_ready("legacy", "AlreadyExists").await;
    assert!(conditions::is_true(
        &refused.status.unwrap().conditions,
        STALLED
    ));
    stage.wait_event("legacy", "Warning", "AlreadyExists").await;
    let untouched = stage.cloud_user("legacy").await.unwrap();
    assert_eq!(untouched["tags"], json!({}));
    assert_eq!(untouched["accessKeys"], json!([]));
    assert_eq!(untouched["attachedPolicies"], json!([]));
    assert_eq!(untouched["displayName"], "made by hand");
    assert_eq!(
        write_calls(&stage.emulator.calls().await)
            .into_iter()
            .filter(|(action, _)| action != "CreateUser")
            .collect::<Vec<_>>(),
        vec![],
        "nothing written to a user that is not ours"
    );

    stage
        .merge_patch("legacy", json!({"spec": {"adoption": "Adopt"}}))
        .await;
    stage.wait_ready("legacy").await;
    stage.wait_event("legacy", "Normal", "UserAdopted").await;
    let adopted = stage.cloud_user("legacy").await.unwrap();
    assert_eq!(
        adopted["tags"]["ram.alicloud.dev/owner"],
        format!("e2e/{}/RamUser/legacy", stage.ns())
    );
    assert_eq!(key_ids_of(&adopted).len(), 1);

    stage
        .merge_patch("legacy", json!({"spec": {"deletionPolicy": "Orphan"}}))
        .await;
    stage.wait_ready("legacy").await;
    stage.delete("legacy").await;
    let orphaned = stage
        .cloud_user("legacy")
        .await
        .expect("Orphan leaves the user");
    assert_eq!(key_ids_of(&orphaned).len(), 1);
    assert_eq!(
        orphaned["attachedPolicies"].as_array().map(Vec::len),
        Some(1)
    );
    let user = client
        .ims(&root_b())
        .get_user(&UserLookup::PrincipalName(format!("legacy@{domain}")))
        .await
        .expect("still there through IMS");
    assert_eq!(user.user_name, "legacy");
    stage.assert_logs_free_of(&root_secrets());
}

/// Credentials the schema cannot check: a missing Secret, a Secret with the wrong keys, and a
/// key without RAM permissions each give `Ready=False` with a specific reason and a Warning
/// Event, and no secret value reaches the log.
#[tokio::test]
async fn bad_credentials_give_specific_reasons_events_and_no_secret_in_logs() {
    let stage = Stage::start("ramuser-bad").await;
    // A working application user whose key has no RAM permissions.
    stage.apply(&programmatic_user("app", "")).await;
    stage.wait_ready("app").await;
    let app_secret = stage.secret_data("app-key").await["ALIBABA_CLOUD_ACCESS_KEY_SECRET"].clone();
    let wrong_value = "wrong-keys-secret-value-0123456789";
    stage
        .apply(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: wrong-keys\nstringData:\n  id: LTAI5tWrongKeys\n  secret: {wrong_value}\n"
        ))
        .await;
    let user = |name: &str, credentials: &str| {
        format!(
            "apiVersion: ram.alicloud.dev/v1alpha1\nkind: RamUser\nmetadata:\n  name: {name}\nspec:\n  accessMode: Programmatic\n  programmatic:\n    accessKeySecretName: {name}-key\n  credentialsRef:\n{credentials}\n"
        )
    };
    stage
        .apply(&user("no-secret", "    name: does-not-exist"))
        .await;
    stage
        .apply(&user("wrong-keys", "    name: wrong-keys"))
        .await;
    stage
        .apply(&user(
            "denied",
            "    name: app-key\n    accessKeyIdKey: ALIBABA_CLOUD_ACCESS_KEY_ID\n    accessKeySecretKey: ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        ))
        .await;
    for (name, reason) in [
        ("no-secret", "CredentialsNotFound"),
        ("wrong-keys", "CredentialsInvalid"),
        ("denied", "AccessDenied"),
    ] {
        let failed = stage.wait_not_ready(name, reason).await;
        let ready = conditions::find(&failed.status.as_ref().unwrap().conditions, READY)
            .unwrap()
            .clone();
        assert!(
            !ready.message.is_empty(),
            "{name}: a message says what to do"
        );
        stage.wait_event(name, "Warning", reason).await;
        assert!(
            stage.cloud_user(name).await.is_none(),
            "{name}: nothing created"
        );
    }
    let mut secrets = root_secrets();
    secrets.push(&app_secret);
    secrets.push(wrong_value);
    stage.assert_logs_free_of(&secrets);
    stage.release().await;
}

/// A `RamUser` deleted and at once created again under the same name becomes Ready: a Secret
/// still owned by the first object (the garbage collector removes it only later) is taken over
/// instead of refused with `SecretConflict`, and the cloud ends with exactly the one key the
/// Secret publishes.
#[tokio::test]
async fn a_ram_user_recreated_under_the_same_name_takes_over_its_secret() {
    let stage = Stage::start("ramuser-again").await;
    stage.apply(&programmatic_user("again", "")).await;
    let first = stage.wait_ready("again").await;
    let first_uid = first.metadata.uid.clone().unwrap();

    // Delete, wait for the finalizer only, and create again before the garbage collector runs.
    stage.delete("again").await;
    stage.apply(&programmatic_user("again", "")).await;
    let second = stage.wait_ready("again").await;
    let second_uid = second.metadata.uid.clone().unwrap();
    assert_ne!(first_uid, second_uid);
    let adopted = stage
        .events("again")
        .await
        .iter()
        .any(|(_, reason, _)| reason == "SecretAdopted");
    println!("the second object took over the first one's Secret: {adopted}");

    let secret = stage.secrets().get("again-key").await.unwrap();
    let owners: Vec<String> = secret
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .map(|o| o.uid)
        .collect();
    assert_eq!(owners, [second_uid], "owned by the new object only");
    let keys = stage.key_ids("again").await;
    let data = stage.secret_data("again-key").await;
    assert_eq!(keys, [data["ALIBABA_CLOUD_ACCESS_KEY_ID"].clone()]);
    let app = StaticProvider::access_key(
        data["ALIBABA_CLOUD_ACCESS_KEY_ID"].clone(),
        data["ALIBABA_CLOUD_ACCESS_KEY_SECRET"].clone(),
    );
    cloud(&stage.emulator)
        .sts(&app)
        .get_caller_identity()
        .await
        .expect("the published key works");
    assert!(
        !stage
            .events("again")
            .await
            .iter()
            .any(|(_, reason, _)| reason == "SecretConflict")
    );
    stage.delete("again").await;
}
