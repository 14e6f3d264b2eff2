//! The operator's own identity is used only with `--default-credentials`.
//!
//! The operator process gets Account C's root key in `ALIBABA_CLOUD_ACCESS_KEY_ID` /
//! `_SECRET` (inherited from this test process). Without the flag, a `CrossAccountRole` and an
//! `StsGrant` that name no credentials report `DefaultCredentialsDisabled` and the emulator
//! records no call signed with that key, across several resyncs. Restarted with the flag, the
//! same role becomes Ready in Account C, signed with that key.

mod security_common;
mod support;

use std::time::Duration;

use serde_json::Value;

use security_common::{api, ready};
use support::e2e::{ACCOUNT_B, ACCOUNT_C, Emulator, Operator, root_key};
use support::{Cluster, TestNamespace, install_crds, wait_for};

const TIMEOUT: Duration = Duration::from_secs(90);

async fn wait_reason(cluster: &Cluster, ns: &str, kind: &str, name: &str, want: &str) -> String {
    let api = api(cluster, ns, kind);
    wait_for(&format!("{kind} {name} reason {want}"), TIMEOUT, || {
        let api = api.clone();
        async move {
            let object = api.get(name).await.map_err(|e| e.to_string())?;
            match ready(&object) {
                Some((_, reason, message, _)) if reason == want => Ok(message),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
}

fn calls_by(calls: &Value, caller: &str) -> Vec<String> {
    calls["calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .filter(|call| call["caller"] == caller)
                .map(|call| format!("{} {}", call["action"], call["code"]))
                .collect()
        })
        .unwrap_or_default()
}

async fn scenario() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let namespace = TestNamespace::create(&cluster, "default-identity").await;
    let ns = namespace.name.as_str();
    let emulator = Emulator::start(ns, 1.0).await;
    let manifest = format!(
        r#"
apiVersion: ram.alicloud.dev/v1alpha1
kind: CrossAccountRole
metadata: {{name: uses-default}}
spec:
  trustedAccounts: ["{ACCOUNT_B}"]
---
apiVersion: ram.alicloud.dev/v1alpha1
kind: StsGrant
metadata: {{name: uses-default}}
spec:
  roleArn: acs:ram::{ACCOUNT_B}:role/anything
"#
    );
    cluster
        .kubectl_stdin(&["apply", "-n", ns, "-f", "-"], &manifest)
        .await
        .expect_success("apply objects without credentials");
    let caller = format!("acs:ram::{ACCOUNT_C}:root");

    let mut operator = Operator::start(&cluster, &emulator, ns, &["--resync-interval", "3s"]).await;
    for kind in ["CrossAccountRole", "StsGrant"] {
        let message = wait_reason(
            &cluster,
            ns,
            kind,
            "uses-default",
            "DefaultCredentialsDisabled",
        )
        .await;
        assert!(message.contains("--default-credentials"), "{message}");
    }
    // Several resyncs: still nothing signed with the environment's key.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let calls = emulator.calls().await;
    assert_eq!(calls_by(&calls, &caller), Vec::<String>::new());
    assert!(
        calls["calls"].as_array().is_none_or(|calls| calls
            .iter()
            .all(|call| call["caller"] != root_key(ACCOUNT_C).0)),
        "the environment's key was presented: {calls}"
    );
    operator.kill().await;

    // With the flag the same object is reconciled with that identity.
    let with_flag = Operator::start(
        &cluster,
        &emulator,
        ns,
        &["--resync-interval", "3s", "--default-credentials"],
    )
    .await;
    wait_reason(
        &cluster,
        ns,
        "CrossAccountRole",
        "uses-default",
        "RoleReady",
    )
    .await;
    let state = emulator.state().await;
    let account_c = state["accounts"]
        .as_array()
        .and_then(|accounts| accounts.iter().find(|a| a["id"] == ACCOUNT_C))
        .cloned()
        .unwrap_or_default();
    assert!(
        account_c["roles"]
            .as_array()
            .is_some_and(|roles| roles.iter().any(|r| r["roleName"] == "uses-default")),
        "role not created in account C: {account_c}"
    );
    let calls = calls_by(&emulator.calls().await, &caller);
    assert!(calls.iter().any(|c| c.contains("CreateRole")), "{calls:?}");
    // The grant's status from the run without the flag stays until the new process has
    // reconciled it (its AssumeRole may be retried after the role is already ready): wait for
    // that reconcile rather than read the status once; it fails if the reason stays.
    let grants = api(&cluster, ns, "StsGrant");
    wait_for(
        "StsGrant uses-default reconciled with the default identity",
        TIMEOUT,
        || {
            let grants = grants.clone();
            async move {
                let grant = grants
                    .get("uses-default")
                    .await
                    .map_err(|e| e.to_string())?;
                match ready(&grant) {
                    Some((_, reason, _, _)) if reason != "DefaultCredentialsDisabled" => Ok(reason),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await;
    assert!(!with_flag.logs().contains(root_key(ACCOUNT_C).1));
    assert!(!operator.logs().contains(root_key(ACCOUNT_C).1));
}

#[test]
fn default_identity_only_with_the_flag() {
    let (id, secret) = root_key(ACCOUNT_C);
    // SAFETY: set before any thread of this test binary exists (the runtime is built below,
    // and this binary holds only this test); the operator processes inherit them.
    unsafe {
        std::env::set_var("ALIBABA_CLOUD_ACCESS_KEY_ID", id);
        std::env::set_var("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(scenario());
}
