//! `CrossAccountRole` end to end: the real control plane, the emulator and the operator
//! binary. Each test has its own namespace, emulator and operator (resync every 5 s, so
//! several resyncs fit in a test); manifests go through the real `kubectl`; the cloud side is
//! checked in the emulator's `/_emulator/state` and `/_emulator/calls`, and with the project's
//! own Alibaba Cloud client acting as a person with a root key.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use ram_operator::alicloud::policy::TrustPolicy;
use ram_operator::alicloud::ram::{
    CreateRoleRequest, CreateUserRequest, PolicyType, UpdateRoleRequest,
};
use ram_operator::alicloud::sts::AssumeRoleRequest;
use ram_operator::alicloud::{Client, ClientConfig, Endpoints, StaticProvider};
use ram_operator::crd::CrossAccountRole;
use ram_operator::crd::conditions::{READY, STALLED, find};
use serde_json::Value;

use support::e2e::{
    ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, Emulator, Operator, create_account_credentials, root_key,
};
use support::{Cluster, DEFAULT_TIMEOUT, TestNamespace, install_crds, repo_root, wait_for};

/// Resync period of the operator under test.
const RESYNC: &str = "5s";

struct Stage {
    cluster: Cluster,
    namespace: TestNamespace,
    emulator: Emulator,
    operator: Operator,
    cloud: Client,
}

impl Stage {
    async fn start(prefix: &str) -> Stage {
        let cluster = Cluster::connect().await;
        install_crds(&cluster).await;
        let namespace = TestNamespace::create(&cluster, prefix).await;
        let emulator = Emulator::start(&namespace.name, 1.0).await;
        create_account_credentials(&cluster, &namespace.name).await;
        let operator = Operator::start(
            &cluster,
            &emulator,
            &namespace.name,
            &["--resync-interval", RESYNC],
        )
        .await;
        let url = reqwest::Url::parse(&emulator.url).expect("emulator URL");
        let cloud = Client::new(ClientConfig {
            endpoints: Endpoints {
                ram: url.clone(),
                ims: url.clone(),
                sts: url,
            },
            allow_insecure: true,
            ..ClientConfig::default()
        })
        .expect("a client for the emulator");
        Stage {
            cluster,
            namespace,
            emulator,
            operator,
            cloud,
        }
    }

    fn ns(&self) -> &str {
        &self.namespace.name
    }

    fn api(&self) -> Api<CrossAccountRole> {
        Api::namespaced(self.cluster.client.clone(), self.ns())
    }

    async fn apply(&self, manifest: &str) {
        self.cluster
            .kubectl_stdin(&["apply", "-n", self.ns(), "-f", "-"], manifest)
            .await
            .expect_success("kubectl apply");
    }

    async fn patch_spec(&self, name: &str, spec: Value) {
        self.api()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "spec": spec })),
            )
            .await
            .unwrap_or_else(|e| panic!("patching {name}: {e}"));
    }

    /// Waits until `Ready` has `status` and `reason`; returns the object.
    async fn wait_ready(&self, name: &str, status: &str, reason: &str) -> CrossAccountRole {
        let api = self.api();
        wait_for(
            &format!("{name} Ready={status} reason {reason}"),
            DEFAULT_TIMEOUT,
            || {
                let api = api.clone();
                async move {
                    let object = api.get(name).await.map_err(|e| e.to_string())?;
                    let conditions = object
                        .status
                        .as_ref()
                        .map(|s| s.conditions.clone())
                        .unwrap_or_default();
                    match find(&conditions, READY) {
                        Some(c)
                            if c.status == status
                                && c.reason == reason
                                && c.observed_generation == object.metadata.generation =>
                        {
                            Ok(object)
                        }
                        other => Err(format!("{other:?}")),
                    }
                }
            },
        )
        .await
    }

    /// Events about `name`, as (reason, note).
    async fn events(&self, name: &str) -> Vec<(String, String)> {
        let api: Api<Event> = Api::namespaced(self.cluster.client.clone(), self.ns());
        let mut events: Vec<Event> = api
            .list(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                    && e.regarding.as_ref().and_then(|r| r.kind.as_deref())
                        == Some("CrossAccountRole")
            })
            .collect();
        events.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
        events
            .into_iter()
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }

    async fn wait_event(&self, name: &str, reason: &str, note_contains: &str) -> String {
        wait_for(
            &format!("a {reason} event on {name} mentioning {note_contains}"),
            DEFAULT_TIMEOUT,
            || async {
                let events = self.events(name).await;
                events
                    .iter()
                    .find(|(r, note)| r == reason && note.contains(note_contains))
                    .map(|(_, note)| note.clone())
                    .ok_or_else(|| format!("{events:?}"))
            },
        )
        .await
    }

    /// The role `name` of `account` in the emulator's state.
    async fn role(&self, account: &str, name: &str) -> Option<Value> {
        let state = self.emulator.state().await;
        account_of(&state, account)["roles"]
            .as_array()?
            .iter()
            .find(|r| {
                r["roleName"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .cloned()
    }

    /// The custom policy `name` of `account` in the emulator's state.
    async fn policy(&self, account: &str, name: &str) -> Option<Value> {
        let state = self.emulator.state().await;
        account_of(&state, account)["policies"]
            .as_array()?
            .iter()
            .find(|p| {
                p["policyName"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .cloned()
    }

    /// Deletes `name` and waits until it is gone (the operator's cleanup ran).
    async fn delete(&self, name: &str) {
        self.cluster
            .kubectl(&[
                "delete",
                "crossaccountrole",
                name,
                "-n",
                self.ns(),
                "--wait=true",
                "--timeout=60s",
            ])
            .await
            .expect_success("kubectl delete");
    }

    /// Removes finalizers left on purpose (objects whose cleanup cannot run), so the test
    /// namespace can go away after the operator is stopped.
    async fn release(&self) {
        let api = self.api();
        for object in api.list(&ListParams::default()).await.expect("list").items {
            let name = object.metadata.name.clone().unwrap_or_default();
            let _ = api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
                )
                .await;
        }
    }

    /// Asserts that no known secret appears in the operator's log.
    fn assert_no_secret_in_logs(&self, extra: &[&str]) {
        let logs = self.operator.logs();
        assert!(!logs.is_empty(), "the operator logged nothing");
        for account in [ACCOUNT_A, ACCOUNT_B, ACCOUNT_C] {
            let (_, secret) = root_key(account);
            assert!(
                !logs.contains(secret),
                "the root secret of {account} is in the log"
            );
        }
        for secret in extra {
            assert!(!logs.contains(secret), "a created key secret is in the log");
        }
    }
}

fn account_of<'a>(state: &'a Value, account: &str) -> &'a Value {
    state["accounts"]
        .as_array()
        .and_then(|accounts| accounts.iter().find(|a| a["id"] == account))
        .unwrap_or(&Value::Null)
}

fn root(account: &str) -> StaticProvider {
    let (id, secret) = root_key(account);
    StaticProvider::access_key(id, secret).with_account_id(account)
}

fn seed_role() -> String {
    std::fs::read_to_string(repo_root().join("examples/seed/10-account-a-role.yaml"))
        .expect("the seed's Account A manifest")
}

fn trust_accounts(role: &Value) -> Vec<String> {
    let text = role["assumeRolePolicyDocument"]
        .as_str()
        .unwrap_or_default();
    let document = ram_operator::alicloud::policy::PolicyDocument::parse(text).expect("trust JSON");
    document.trusted_accounts().into_iter().collect()
}

fn attached(role: &Value) -> Vec<String> {
    role["attachedPolicies"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| p["policyName"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Actions in `/_emulator/calls` that are not reads.
fn write_actions(calls: &Value) -> Vec<String> {
    calls["calls"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| c["action"].as_str())
                .filter(|action| !action.starts_with("Get") && !action.starts_with("List"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn call_count(calls: &Value, action: &str) -> u64 {
    calls["totals"][action]
        .as_object()
        .map(|codes| codes.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

/// A RAM user of `account` with an AccessKey and `policies` attached, made with the root key.
async fn user_with_key(
    cloud: &Client,
    account: &str,
    name: &str,
    policies: &[&str],
) -> (String, String) {
    let root = root(account);
    let ram = cloud.ram(&root);
    ram.create_user(&CreateUserRequest {
        user_name: name.to_string(),
        ..CreateUserRequest::default()
    })
    .await
    .expect("CreateUser");
    for policy in policies {
        ram.attach_policy_to_user(PolicyType::System, policy, name)
            .await
            .expect("AttachPolicyToUser");
    }
    let key = ram
        .create_access_key(Some(name))
        .await
        .expect("CreateAccessKey");
    (
        key.access_key_id,
        key.access_key_secret.expose().to_string(),
    )
}

#[tokio::test]
async fn seed_role_becomes_ready_and_costs_no_writes_when_unchanged() {
    let stage = Stage::start("car-seed").await;
    let started = Instant::now();
    stage.apply(&seed_role()).await;
    let object = stage
        .wait_ready("rabbitmq-access", "True", "RoleReady")
        .await;
    let time_to_ready = started.elapsed();

    let role = stage
        .role(ACCOUNT_A, "rabbitmq-access")
        .await
        .expect("the role in Account A");
    assert_eq!(trust_accounts(&role), [ACCOUNT_B]);
    assert_eq!(attached(&role), ["AliyunAMQPFullAccess"]);
    assert_eq!(role["maxSessionDuration"], 3600);
    let owner = format!("e2e/{}/CrossAccountRole/rabbitmq-access", stage.ns());
    assert_eq!(role["tags"]["ram.alicloud.dev/owner"], owner.as_str());

    let status = object.status.expect("status");
    assert_eq!(status.role_id.as_deref(), role["roleId"].as_str());
    assert_eq!(
        status.arn.as_deref(),
        Some("acs:ram::1111111111111111:role/rabbitmq-access")
    );
    assert_eq!(status.account_id.as_deref(), Some(ACCOUNT_A));
    assert_eq!(status.trusted_accounts, [ACCOUNT_B]);
    assert_eq!(status.attached_policies.len(), 1);
    assert_eq!(status.attached_policies[0].name, "AliyunAMQPFullAccess");
    assert_eq!(status.policy_hash.as_deref().map(str::len), Some(32));
    let switch_role = status.switch_role.expect("switchRole");
    assert_eq!(switch_role.default_domain, "account-a.onaliyun.com");
    assert_eq!(switch_role.role_name, "rabbitmq-access");
    stage
        .wait_event("rabbitmq-access", "RoleCreated", ACCOUNT_B)
        .await;
    stage
        .wait_event("rabbitmq-access", "PolicyAttached", "AliyunAMQPFullAccess")
        .await;

    // Steady state: let the reconcile that follows the status write pass, then count calls
    // over several resyncs.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = stage.api().get("rabbitmq-access").await.expect("get");
    let events_before = stage.events("rabbitmq-access").await.len();
    stage.emulator.reset_calls().await;
    tokio::time::sleep(Duration::from_secs(22)).await;
    let calls = stage.emulator.calls().await;
    let after = stage.api().get("rabbitmq-access").await.expect("get");
    let resyncs = call_count(&calls, "GetRole");
    assert!(
        resyncs >= 3,
        "expected at least 3 resyncs in 22 s, saw {resyncs}: {calls}"
    );
    assert_eq!(write_actions(&calls), Vec::<String>::new(), "{calls}");
    assert_eq!(
        call_count(&calls, "GetCallerIdentity") + call_count(&calls, "GetDefaultDomain"),
        0,
        "accountId and switchRole come from status: {calls}"
    );
    assert_eq!(
        before.metadata.resource_version, after.metadata.resource_version,
        "an unchanged role must not cause a Kubernetes write"
    );
    assert_eq!(stage.events("rabbitmq-access").await.len(), events_before);
    let total: u64 = calls["calls"]
        .as_array()
        .map(|items| items.iter().filter_map(|c| c["count"].as_u64()).sum())
        .unwrap_or(0);
    println!(
        "time to Ready: {time_to_ready:?}; steady state: {resyncs} resyncs, {total} cloud calls \
         ({:.1} per resync, all reads): {}",
        total as f64 / resyncs as f64,
        calls["totals"]
    );

    stage.delete("rabbitmq-access").await;
    stage.assert_no_secret_in_logs(&[]);
}

#[tokio::test]
async fn removing_an_account_revokes_its_access() {
    let stage = Stage::start("car-revoke").await;
    stage.apply(&seed_role()).await;
    let object = stage
        .wait_ready("rabbitmq-access", "True", "RoleReady")
        .await;
    let arn = object.status.and_then(|s| s.arn).expect("arn");

    let (key_id, key_secret) = user_with_key(
        &stage.cloud,
        ACCOUNT_B,
        "app",
        &["AliyunSTSAssumeRoleAccess"],
    )
    .await;
    let user = StaticProvider::access_key(key_id.as_str(), key_secret.as_str());
    let assume = AssumeRoleRequest {
        role_arn: arn.clone(),
        role_session_name: "e2e-check".to_string(),
        ..AssumeRoleRequest::default()
    };
    let granted = stage
        .cloud
        .sts(&user)
        .assume_role(&assume)
        .await
        .expect("B's user may assume the role while B is trusted");
    assert!(granted.credentials.access_key_id.starts_with("STS."));

    let edited = Instant::now();
    stage
        .patch_spec(
            "rabbitmq-access",
            serde_json::json!({"trustedAccounts": [ACCOUNT_C]}),
        )
        .await;
    let note = stage
        .wait_event("rabbitmq-access", "TrustRevoked", ACCOUNT_B)
        .await;
    let revoked_after = edited.elapsed();
    assert!(note.contains("can no longer assume"), "{note}");
    stage
        .wait_event("rabbitmq-access", "TrustPolicyUpdated", ACCOUNT_C)
        .await;
    let object = stage
        .wait_ready("rabbitmq-access", "True", "RoleReady")
        .await;
    assert_eq!(object.status.expect("status").trusted_accounts, [ACCOUNT_C]);
    let role = stage
        .role(ACCOUNT_A, "rabbitmq-access")
        .await
        .expect("role");
    assert_eq!(trust_accounts(&role), [ACCOUNT_C]);

    let error = stage
        .cloud
        .sts(&user)
        .assume_role(&assume)
        .await
        .expect_err("B's user must no longer assume the role");
    assert_eq!(error.code(), Some("NoPermission"), "{error}");
    println!("revocation: edit to TrustRevoked event in {revoked_after:?}");

    // An empty list trusts nobody: the role stays, and C is revoked too.
    stage
        .patch_spec(
            "rabbitmq-access",
            serde_json::json!({"trustedAccounts": []}),
        )
        .await;
    stage
        .wait_event("rabbitmq-access", "TrustRevoked", ACCOUNT_C)
        .await;
    let object = stage
        .wait_ready("rabbitmq-access", "True", "RoleReady")
        .await;
    assert!(object.status.expect("status").trusted_accounts.is_empty());
    let role = stage
        .role(ACCOUNT_A, "rabbitmq-access")
        .await
        .expect("role");
    assert!(trust_accounts(&role).is_empty(), "{role}");

    stage.delete("rabbitmq-access").await;
    stage.assert_no_secret_in_logs(&[&key_secret]);
}

#[tokio::test]
async fn drift_behind_the_operators_back_is_repaired() {
    let stage = Stage::start("car-drift").await;
    stage.apply(&seed_role()).await;
    stage
        .wait_ready("rabbitmq-access", "True", "RoleReady")
        .await;

    let root_a = root(ACCOUNT_A);
    let ram = stage.cloud.ram(&root_a);
    let foreign_trust = TrustPolicy::for_accounts(&[ACCOUNT_C]).to_json();
    let changed = Instant::now();
    ram.update_role(&UpdateRoleRequest {
        role_name: "rabbitmq-access".to_string(),
        new_assume_role_policy_document: Some(foreign_trust),
        ..UpdateRoleRequest::default()
    })
    .await
    .expect("UpdateRole with A's root key");
    ram.detach_policy_from_role(
        PolicyType::System,
        "AliyunAMQPFullAccess",
        "rabbitmq-access",
    )
    .await
    .expect("DetachPolicyFromRole with A's root key");

    // Within one resync (5 s) plus generous slack for a shared machine.
    let repaired = wait_for("the drift to be repaired", DEFAULT_TIMEOUT, || async {
        let role = stage
            .role(ACCOUNT_A, "rabbitmq-access")
            .await
            .ok_or("no role")?;
        if trust_accounts(&role) == [ACCOUNT_B] && attached(&role) == ["AliyunAMQPFullAccess"] {
            Ok(changed.elapsed())
        } else {
            Err(format!("{role}"))
        }
    })
    .await;
    let note = stage
        .wait_event(
            "rabbitmq-access",
            "TrustPolicyUpdated",
            "trusted principals",
        )
        .await;
    assert!(
        note.contains(ACCOUNT_C) && note.contains(ACCOUNT_B),
        "{note}"
    );
    stage
        .wait_event("rabbitmq-access", "TrustRevoked", ACCOUNT_C)
        .await;
    // Nothing but the periodic resync can notice a change made in the cloud: the repair itself
    // proves the drift check. How long it took is printed, not asserted (shared machine).
    println!("drift repaired {repaired:?} after the change (resync {RESYNC})");

    stage.delete("rabbitmq-access").await;
    stage.assert_no_secret_in_logs(&[]);
}

#[tokio::test]
async fn adoption_is_refused_unless_asked_and_then_takes_over() {
    let stage = Stage::start("car-adopt").await;
    let root_a = root(ACCOUNT_A);
    let ram = stage.cloud.ram(&root_a);
    let original_trust = TrustPolicy::for_accounts(&[ACCOUNT_B]).to_json();
    ram.create_role(&CreateRoleRequest {
        role_name: "legacy".to_string(),
        assume_role_policy_document: original_trust,
        ..CreateRoleRequest::default()
    })
    .await
    .expect("CreateRole by a person");
    let before = stage.role(ACCOUNT_A, "legacy").await.expect("legacy role");

    stage
        .apply(&format!(
            r#"apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata:
  name: legacy
spec:
  trustedAccounts: ["{ACCOUNT_C}"]
  policies: [{{name: AliyunAMQPReadOnlyAccess}}]
  credentialsRef: {{name: account-a-credentials}}
"#
        ))
        .await;
    let refused = stage.wait_ready("legacy", "False", "AlreadyExists").await;
    let conditions = refused.status.expect("status").conditions;
    let stalled = find(&conditions, STALLED).expect("Stalled");
    assert_eq!(stalled.status, "True");
    assert!(stalled.message.contains("adoption"), "{}", stalled.message);
    stage.wait_event("legacy", "AlreadyExists", "legacy").await;
    // Give the operator a few resyncs to prove it keeps its hands off.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let untouched = stage.role(ACCOUNT_A, "legacy").await.expect("legacy role");
    assert_eq!(before, untouched, "a role that is not ours was changed");
    let writes = write_actions(&stage.emulator.calls().await);
    assert_eq!(
        writes,
        ["CreateRole"],
        "only the person's CreateRole may have written"
    );

    stage
        .patch_spec("legacy", serde_json::json!({"adoption": "Adopt"}))
        .await;
    let adopted = stage.wait_ready("legacy", "True", "RoleReady").await;
    assert_eq!(
        adopted.status.expect("status").trusted_accounts,
        [ACCOUNT_C]
    );
    let role = stage.role(ACCOUNT_A, "legacy").await.expect("legacy role");
    assert_eq!(role["roleId"], before["roleId"], "adopted, not recreated");
    assert_eq!(
        role["tags"]["ram.alicloud.dev/owner"],
        format!("e2e/{}/CrossAccountRole/legacy", stage.ns()).as_str()
    );
    assert_eq!(trust_accounts(&role), [ACCOUNT_C]);
    assert_eq!(attached(&role), ["AliyunAMQPReadOnlyAccess"]);
    stage.wait_event("legacy", "RoleAdopted", "legacy").await;

    // Adopt without a role to adopt.
    stage
        .apply(
            r#"apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata:
  name: ghost
spec:
  trustedAccounts: ["2222222222222222"]
  adoption: Adopt
  credentialsRef: {name: account-a-credentials}
"#,
        )
        .await;
    stage.wait_ready("ghost", "False", "NotFound").await;
    assert!(stage.role(ACCOUNT_A, "ghost").await.is_none());

    stage.delete("legacy").await;
    assert!(
        stage.role(ACCOUNT_A, "legacy").await.is_none(),
        "adopted, so ours to delete"
    );

    // A refused role is never deleted with the object that was refused it.
    ram.create_role(&CreateRoleRequest {
        role_name: "foreign".to_string(),
        assume_role_policy_document: TrustPolicy::for_accounts(&[ACCOUNT_B]).to_json(),
        ..CreateRoleRequest::default()
    })
    .await
    .expect("CreateRole by a person");
    let foreign = stage
        .role(ACCOUNT_A, "foreign")
        .await
        .expect("foreign role");
    stage
        .apply(&format!(
            r#"apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata:
  name: foreign
spec:
  trustedAccounts: ["{ACCOUNT_C}"]
  credentialsRef: {{name: account-a-credentials}}
"#
        ))
        .await;
    stage.wait_ready("foreign", "False", "AlreadyExists").await;
    stage.delete("foreign").await;
    stage.wait_event("foreign", "RoleLeft", "not touched").await;
    assert_eq!(
        stage.role(ACCOUNT_A, "foreign").await,
        Some(foreign),
        "a role that is not ours survives the deletion unchanged"
    );
    stage.delete("ghost").await;
    stage.assert_no_secret_in_logs(&[]);
}

#[tokio::test]
async fn deletion_honours_orphan_and_delete() {
    let stage = Stage::start("car-delete").await;
    let document_v1 =
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"amqp:Get*","Resource":"*"}]}"#;
    stage
        .apply(&format!(
            r#"apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata:
  name: kept
spec:
  trustedAccounts: ["{ACCOUNT_B}"]
  deletionPolicy: Orphan
  policies: [{{name: AliyunAMQPFullAccess}}]
  credentialsRef: {{name: account-a-credentials}}
---
apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata:
  name: full
spec:
  trustedAccounts: ["{ACCOUNT_B}"]
  policies: [{{name: AliyunAMQPFullAccess}}]
  inlinePolicies:
    - name: read
      document: '{document_v1}'
  credentialsRef: {{name: account-a-credentials}}
"#
        ))
        .await;
    stage.wait_ready("kept", "True", "RoleReady").await;
    let full = stage.wait_ready("full", "True", "RoleReady").await;
    let inline_status = full.status.expect("status").inline_policies;
    assert_eq!(inline_status.len(), 1);
    assert_eq!(inline_status[0].name, "full-read");
    assert_eq!(inline_status[0].default_version.as_deref(), Some("v1"));
    let role = stage.role(ACCOUNT_A, "full").await.expect("role full");
    let mut names = attached(&role);
    names.sort();
    assert_eq!(names, ["AliyunAMQPFullAccess", "full-read"]);
    let policy = stage
        .policy(ACCOUNT_A, "full-read")
        .await
        .expect("inline policy");
    assert_eq!(
        policy["tags"]["ram.alicloud.dev/owner"],
        format!("e2e/{}/CrossAccountRole/full", stage.ns()).as_str()
    );

    // A new document makes a new default version; the old one stays until deletion.
    let document_v2 = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["amqp:Get*","amqp:List*"],"Resource":"*"}]}"#;
    stage
        .patch_spec(
            "full",
            serde_json::json!({"inlinePolicies": [{"name": "read", "document": document_v2}]}),
        )
        .await;
    stage
        .wait_event("full", "InlinePolicyUpdated", "amqp:List*")
        .await;
    let full = stage.wait_ready("full", "True", "RoleReady").await;
    assert_eq!(
        full.status.expect("status").inline_policies[0]
            .default_version
            .as_deref(),
        Some("v2")
    );
    let policy = stage
        .policy(ACCOUNT_A, "full-read")
        .await
        .expect("inline policy");
    assert_eq!(policy["defaultVersion"], "v2");
    assert_eq!(policy["versions"].as_array().map(Vec::len), Some(2));

    // Someone else attaches a policy: deletion still goes through (RAM needs it detached).
    let root_a = root(ACCOUNT_A);
    stage
        .cloud
        .ram(&root_a)
        .attach_policy_to_role(PolicyType::System, "AliyunAMQPReadOnlyAccess", "full")
        .await
        .expect("attach by a person");

    stage.delete("kept").await;
    let kept = stage
        .role(ACCOUNT_A, "kept")
        .await
        .expect("Orphan leaves the role");
    assert_eq!(attached(&kept), ["AliyunAMQPFullAccess"]);
    stage.wait_event("kept", "RoleOrphaned", "kept").await;

    stage.delete("full").await;
    assert!(
        stage.role(ACCOUNT_A, "full").await.is_none(),
        "Delete removes the role"
    );
    assert!(
        stage.policy(ACCOUNT_A, "full-read").await.is_none(),
        "Delete removes the inline policy with all its versions"
    );
    stage.assert_no_secret_in_logs(&[]);
}

#[tokio::test]
async fn bad_credentials_and_denied_access_are_reported_without_secrets() {
    let stage = Stage::start("car-bad").await;
    let (weak_id, weak_secret) = user_with_key(&stage.cloud, ACCOUNT_A, "no-rights", &[]).await;
    stage
        .apply(&format!(
            r#"apiVersion: v1
kind: Secret
metadata: {{name: wrong-keys}}
stringData: {{id: LTAI5tAccountARoot0001, secret: emulator-only-fake-secret-account-a}}
---
apiVersion: v1
kind: Secret
metadata: {{name: unknown-key}}
stringData: {{AccessKeyId: LTAI5tDoesNotExist0001, AccessKeySecret: not-a-real-secret-value}}
---
apiVersion: v1
kind: Secret
metadata: {{name: weak-credentials}}
stringData: {{AccessKeyId: {weak_id}, AccessKeySecret: {weak_secret}}}
"#
        ))
        .await;
    let role = |name: &str, secret: &str| {
        format!(
            r#"apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata:
  name: {name}
spec:
  trustedAccounts: ["{ACCOUNT_B}"]
  credentialsRef: {{name: {secret}}}
---
"#
        )
    };
    let manifest = [
        role("missing", "no-such-secret"),
        role("wrong", "wrong-keys"),
        role("unknown", "unknown-key"),
        role("denied", "weak-credentials"),
        format!(
            r#"apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata:
  name: nopolicy
spec:
  trustedAccounts: ["{ACCOUNT_B}"]
  policies: [{{name: AliyunNoSuchPolicy}}]
  credentialsRef: {{name: account-a-credentials}}
"#
        ),
    ]
    .concat();
    stage.apply(&manifest).await;

    for (name, reason, hint) in [
        ("missing", "CredentialsNotFound", "no-such-secret"),
        ("wrong", "CredentialsInvalid", "AccessKeyId"),
        ("unknown", "CredentialsInvalid", "InvalidAccessKeyId"),
        ("denied", "AccessDenied", "NoPermission"),
        ("nopolicy", "NotFound", "EntityNotExist.Policy"),
    ] {
        let object = stage.wait_ready(name, "False", reason).await;
        let conditions = object.status.expect("status").conditions;
        let message = &find(&conditions, READY).expect("Ready").message;
        assert!(message.contains(hint), "{name}: {message}");
        stage.wait_event(name, reason, hint).await;
    }
    let state = stage.emulator.state().await;
    let roles: Vec<&str> = account_of(&state, ACCOUNT_A)["roles"]
        .as_array()
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r["roleName"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        roles,
        ["nopolicy"],
        "only the role with good credentials may exist"
    );
    let status = stage
        .api()
        .get("nopolicy")
        .await
        .expect("get")
        .status
        .expect("status");
    assert!(
        status.attached_policies.is_empty(),
        "a policy that does not exist must not be reported as attached"
    );

    stage.assert_no_secret_in_logs(&[&weak_secret, "not-a-real-secret-value"]);
    // Their cleanup cannot run without usable credentials: release them for the namespace.
    stage.release().await;
}
