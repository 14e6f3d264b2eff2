//! Namespace isolation, end to end (control plane + emulator + operator binary).
//!
//! A neighbour namespace holds a credentials Secret with Account A's root key, a Ready-looking
//! `CrossAccountRole` and a `RamUser`. Objects in the test namespace that name them (by their
//! plain names, or by crafted ones like `../x` and `other-ns/name`) never reach them: crafted
//! names and a `namespace` field in any reference are refused by the API server with a
//! message naming the field; plain names resolve in the object's own namespace only, where
//! they do not exist, so the objects report it and the emulator sees no call made with the
//! neighbour's key.

mod security_common;
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use security_common::{api, ready};
use support::e2e::{ACCOUNT_A, ACCOUNT_B, Emulator, Operator, root_key};
use support::{Cluster, TestNamespace, install_crds, wait_for};

const TIMEOUT: Duration = Duration::from_secs(90);

async fn neighbour(cluster: &Cluster, namespace: &str) {
    let (id, secret) = root_key(ACCOUNT_A);
    Api::<Secret>::namespaced(cluster.client.clone(), namespace)
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("shared-creds".into()),
                    ..ObjectMeta::default()
                },
                string_data: Some(
                    [
                        ("AccessKeyId".to_string(), id.to_string()),
                        ("AccessKeySecret".to_string(), secret.to_string()),
                    ]
                    .into(),
                ),
                ..Secret::default()
            },
        )
        .await
        .unwrap();
    let manifest = format!(
        r#"
apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata: {{name: other-role}}
spec:
  trustedAccounts: ["{ACCOUNT_B}"]
  credentialsRef: {{name: shared-creds}}
---
apiVersion: ram.alicloud.dev/v1alpha1
kind: RamUser
metadata: {{name: other-user}}
spec:
  accessMode: Programmatic
  programmatic: {{accessKeySecretName: other-user-key}}
  credentialsRef: {{name: shared-creds}}
"#
    );
    cluster
        .kubectl_stdin(&["apply", "-n", namespace, "-f", "-"], &manifest)
        .await
        .expect_success("apply the neighbour's objects");
    // Make the neighbour's role look Ready with an ARN, as its own operator would.
    let status = json!({"status": {
        "arn": format!("acs:ram::{ACCOUNT_A}:role/other-role"),
        "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled",
            "message": "ok", "lastTransitionTime": "2024-01-01T00:00:00Z", "observedGeneration": 1}]
    }});
    api(cluster, namespace, "CrossAccountRole")
        .patch_status(
            "other-role",
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .unwrap();
}

/// Waits until `name` has `Ready=False` with `reason`; returns its message.
async fn refused(
    cluster: &Cluster,
    namespace: &str,
    kind: &str,
    name: &str,
    reason: &str,
) -> String {
    let api = api(cluster, namespace, kind);
    wait_for(
        &format!("{kind} {name} Ready=False/{reason}"),
        TIMEOUT,
        || {
            let api = api.clone();
            async move {
                let object = api.get(name).await.map_err(|e| e.to_string())?;
                match ready(&object) {
                    Some((status, got, message, _)) if status == "False" && got == reason => {
                        Ok(message)
                    }
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await
}

#[tokio::test]
async fn objects_never_reach_into_another_namespace() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let other = TestNamespace::create(&cluster, "iso-other").await;
    let ours = TestNamespace::create(&cluster, "iso-ours").await;
    neighbour(&cluster, &other.name).await;
    let emulator = Emulator::start(&ours.name, 1.0).await;
    let operator = Operator::start(
        &cluster,
        &emulator,
        &ours.name,
        &["--resync-interval", "5s"],
    )
    .await;
    let ns = ours.name.as_str();
    let other_ns = other.name.as_str();

    // 1. Crafted names and namespace fields are refused by the API server, naming the field.
    let references = [
        (
            "CrossAccountRole",
            "spec.credentialsRef",
            "spec:\n  trustedAccounts: [\"2222222222222222\"]\n  credentialsRef: {REF}\n",
        ),
        (
            "RamUser",
            "spec.credentialsRef",
            "spec:\n  accessMode: Programmatic\n  programmatic: {accessKeySecretName: k}\n  credentialsRef: {REF}\n",
        ),
        (
            "StsGrant",
            "spec.roleRef",
            "spec:\n  roleRef: {REF}\n  source: {secretRef: {name: x}}\n",
        ),
        (
            "StsGrant",
            "spec.source.ramUserRef",
            "spec:\n  roleArn: acs:ram::1111111111111111:role/r\n  source: {ramUserRef: {REF}}\n",
        ),
        (
            "StsGrant",
            "spec.source.secretRef",
            "spec:\n  roleArn: acs:ram::1111111111111111:role/r\n  source: {secretRef: {REF}}\n",
        ),
    ];
    let crafted = [
        "../shared-creds".to_string(),
        format!("{other_ns}/shared-creds"),
        "shared-creds/..".to_string(),
        "..".to_string(),
        "/etc/passwd".to_string(),
        "shared-creds%2F..".to_string(),
        "Shared-Creds".to_string(),
    ];
    let mut refusals = 0;
    for (index, (kind, field, spec)) in references.iter().enumerate() {
        for (variant, name) in crafted.iter().enumerate() {
            let manifest = format!(
                "apiVersion: ram.alicloud.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: crafted-{index}-{variant}}}\n{}",
                spec.replace("{REF}", &format!("{{name: \"{name}\"}}"))
            );
            let output = cluster
                .kubectl_stdin(&["apply", "-n", ns, "-f", "-"], &manifest)
                .await;
            assert!(!output.success, "{kind} {field} name {name:?} was accepted");
            assert!(
                output.stderr.contains(&format!("{field}.name")),
                "{kind} {field} name {name:?}: refusal does not name the field: {}",
                output.stderr
            );
            refusals += 1;
        }
        let manifest = format!(
            "apiVersion: ram.alicloud.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: ns-field-{index}}}\n{}",
            spec.replace(
                "{REF}",
                &format!("{{name: shared-creds, namespace: {other_ns}}}")
            )
        );
        let output = cluster
            .kubectl_stdin(&["apply", "-n", ns, "-f", "-"], &manifest)
            .await;
        assert!(!output.success, "{kind} {field}.namespace was accepted");
        assert!(
            output.stderr.contains(&format!("{field}.namespace")),
            "{kind}: refusal does not name {field}.namespace: {}",
            output.stderr
        );
        refusals += 1;
    }

    // 2. A client that skips validation gets the field pruned, never honoured.
    let pruned: Value = json!({
        "apiVersion": "ram.alicloud.dev/v1alpha1", "kind": "CrossAccountRole",
        "metadata": {"name": "pruned"},
        "spec": {"trustedAccounts": [ACCOUNT_B],
                 "credentialsRef": {"name": "shared-creds", "namespace": other_ns}}
    });
    let object: kube::api::DynamicObject = serde_json::from_value(pruned).unwrap();
    let created = api(&cluster, ns, "CrossAccountRole")
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
    assert!(
        created.data["spec"]["credentialsRef"]
            .get("namespace")
            .is_none(),
        "namespace field stored: {}",
        created.data["spec"]
    );

    // 3. Plain names resolve in the object's own namespace, where nothing exists.
    let manifest = format!(
        r#"
apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata: {{name: steal-creds}}
spec:
  trustedAccounts: ["{ACCOUNT_B}"]
  credentialsRef: {{name: shared-creds}}
---
apiVersion: ram.alicloud.dev/v1alpha1
kind: StsGrant
metadata: {{name: steal-role}}
spec:
  roleRef: {{name: other-role}}
  source: {{secretRef: {{name: shared-creds}}}}
---
apiVersion: ram.alicloud.dev/v1alpha1
kind: StsGrant
metadata: {{name: steal-user}}
spec:
  roleArn: acs:ram::{ACCOUNT_A}:role/other-role
  source: {{ramUserRef: {{name: other-user}}}}
---
apiVersion: ram.alicloud.dev/v1alpha1
kind: StsGrant
metadata: {{name: steal-secret}}
spec:
  roleArn: acs:ram::{ACCOUNT_A}:role/other-role
  source: {{secretRef: {{name: shared-creds}}}}
"#
    );
    cluster
        .kubectl_stdin(&["apply", "-n", ns, "-f", "-"], &manifest)
        .await
        .expect_success("apply the objects naming the neighbour's");
    for name in ["steal-creds", "pruned"] {
        let message = refused(
            &cluster,
            ns,
            "CrossAccountRole",
            name,
            "CredentialsNotFound",
        )
        .await;
        assert!(message.contains(&format!("{ns}/shared-creds")), "{message}");
        assert!(!message.contains(other_ns), "{message}");
    }
    let message = refused(&cluster, ns, "StsGrant", "steal-role", "RoleNotReady").await;
    assert!(message.contains("other-role does not exist"), "{message}");
    let message = refused(&cluster, ns, "StsGrant", "steal-user", "RamUserNotReady").await;
    assert!(message.contains("other-user does not exist"), "{message}");
    let message = refused(
        &cluster,
        ns,
        "StsGrant",
        "steal-secret",
        "CredentialsNotFound",
    )
    .await;
    assert!(message.contains(&format!("{ns}/shared-creds")), "{message}");

    // Several resyncs later still nothing was signed with the neighbour's key.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let calls = emulator.calls().await;
    let root_a = format!("acs:ram::{ACCOUNT_A}:root");
    let used: Vec<&Value> = calls["calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .filter(|c| c["caller"] == root_a.as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(used.is_empty(), "the neighbour's key was used: {used:?}");
    assert!(
        !operator.logs().contains(root_key(ACCOUNT_A).1),
        "the neighbour's secret is in the operator log"
    );

    // Objects whose credentials never worked delete cleanly (regression: the finalizer waited
    // for the missing Secret for ever, holding the namespace in Terminating).
    let wrong = format!(
        r#"
apiVersion: v1
kind: Secret
metadata: {{name: wrong-creds}}
stringData: {{AccessKeyId: LTAI5tNoSuchKey0001, AccessKeySecret: not-a-real-secret-value}}
---
apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata: {{name: wrong-creds}}
spec:
  trustedAccounts: ["{ACCOUNT_B}"]
  credentialsRef: {{name: wrong-creds}}
"#
    );
    cluster
        .kubectl_stdin(&["apply", "-n", ns, "-f", "-"], &wrong)
        .await
        .expect_success("apply a role with unknown keys");
    refused(
        &cluster,
        ns,
        "CrossAccountRole",
        "wrong-creds",
        "CredentialsInvalid",
    )
    .await;
    // The same for RamUsers: a missing Secret, and keys the cloud refuses.
    let users = r#"
apiVersion: ram.alicloud.dev/v1alpha1
kind: RamUser
metadata: {name: missing-creds}
spec:
  accessMode: Programmatic
  programmatic: {accessKeySecretName: missing-creds-key}
  credentialsRef: {name: shared-creds}
---
apiVersion: ram.alicloud.dev/v1alpha1
kind: RamUser
metadata: {name: wrong-creds}
spec:
  accessMode: Programmatic
  programmatic: {accessKeySecretName: wrong-creds-key}
  credentialsRef: {name: wrong-creds}
"#;
    cluster
        .kubectl_stdin(&["apply", "-n", ns, "-f", "-"], users)
        .await
        .expect_success("apply users with unusable credentials");
    refused(
        &cluster,
        ns,
        "RamUser",
        "missing-creds",
        "CredentialsNotFound",
    )
    .await;
    refused(&cluster, ns, "RamUser", "wrong-creds", "CredentialsInvalid").await;
    let ram_users = api(&cluster, ns, "RamUser");
    for name in ["missing-creds", "wrong-creds"] {
        ram_users
            .delete(name, &kube::api::DeleteParams::default())
            .await
            .unwrap();
    }
    for name in ["missing-creds", "wrong-creds"] {
        wait_for(&format!("RamUser {name} to be deleted"), TIMEOUT, || {
            let ram_users = ram_users.clone();
            async move {
                match ram_users.get_opt(name).await {
                    Ok(None) => Ok(()),
                    Ok(Some(object)) => Err(format!("still there: {:?}", ready(&object))),
                    Err(error) => Err(error.to_string()),
                }
            }
        })
        .await;
    }
    let roles = api(&cluster, ns, "CrossAccountRole");
    for name in ["steal-creds", "pruned", "wrong-creds"] {
        roles
            .delete(name, &kube::api::DeleteParams::default())
            .await
            .unwrap();
    }
    for name in ["steal-creds", "pruned", "wrong-creds"] {
        wait_for(&format!("{name} to be deleted"), TIMEOUT, || {
            let roles = roles.clone();
            async move {
                match roles.get_opt(name).await {
                    Ok(None) => Ok(()),
                    Ok(Some(object)) => Err(format!("still there: {:?}", ready(&object))),
                    Err(error) => Err(error.to_string()),
                }
            }
        })
        .await;
    }
    println!("isolation: {refusals} crafted references refused, 4 plain ones resolved locally");
}
