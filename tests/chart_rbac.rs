//! The chart's RBAC on the real control plane: the rendered manifests are applied with
//! server-side apply, the operator runs with a TokenRequest token of the chart's
//! ServiceAccount, and both directions are checked: what it needs is allowed (it becomes
//! ready, takes its Lease, and the seed reaches Ready), what it must not do is forbidden.

mod chart;
mod support;

use std::time::Duration;

use support::e2e::{Emulator, Operator, apply_seed_and_wait_ready, create_account_credentials};
use support::release::{Release, forbidden_lines};
use support::{Cluster, TestNamespace, install_crds, wait_for};

#[tokio::test]
async fn namespaced_chart_rbac_allows_what_the_operator_needs_and_nothing_else() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let watched = TestNamespace::create(&cluster, "rbac-watched").await;
    let other = TestNamespace::create(&cluster, "rbac-other").await;
    let set = format!("watchNamespaces={{{}}}", watched.name);
    let release = Release::install(&cluster, "rbac", |name, namespace| {
        chart::template(name, namespace, &[&set])
    })
    .await;
    let w = watched.name.as_str();
    let o = other.name.as_str();
    let ops = release.ops.name.as_str();
    let lease = Release::account(&release.name);
    let lease_resource = format!("leases/{lease}");

    // What the operator does, one verb each.
    for (args, what) in [
        (vec!["get", "secrets", "-n", w], "read credentials Secrets"),
        (vec!["list", "secrets", "-n", w], "watch its Secrets"),
        (vec!["watch", "secrets", "-n", w], "watch its Secrets"),
        (
            vec!["create", "secrets", "-n", w],
            "create Secrets by apply",
        ),
        (vec!["patch", "secrets", "-n", w], "write Secrets by apply"),
        (
            vec!["delete", "secrets", "-n", w],
            "change a Secret's ownerReferences (admission)",
        ),
        (
            vec!["watch", "stsgrants.ram.alicloud.dev", "-n", w],
            "watch grants",
        ),
        (
            vec!["patch", "crossaccountroles.ram.alicloud.dev", "-n", w],
            "finalizer",
        ),
        (
            vec![
                "patch",
                "ramusers.ram.alicloud.dev",
                "--subresource=status",
                "-n",
                w,
            ],
            "status",
        ),
        (vec!["create", "events.events.k8s.io", "-n", w], "events"),
        (vec!["patch", "deployments.apps", "-n", w], "rollout"),
        (
            vec!["create", "leases.coordination.k8s.io", "-n", ops],
            "create the Lease",
        ),
        (
            vec!["patch", lease_resource.as_str(), "-n", ops],
            "renew the Lease",
        ),
        (
            vec![
                "get",
                "customresourcedefinitions/stsgrants.ram.alicloud.dev",
            ],
            "wait for CRDs",
        ),
    ] {
        assert!(
            release.can_i(&args).await,
            "forbidden but needed ({what}): {args:?}"
        );
    }
    // What it never does.
    for args in [
        vec!["create", "configmaps", "-n", w],
        vec!["deletecollection", "secrets", "-n", w],
        vec!["delete", "configmaps", "-n", w],
        vec!["update", "secrets", "-n", w],
        vec!["get", "secrets", "-n", o],
        vec!["list", "secrets", "-n", o],
        vec!["create", "secrets", "-n", o],
        vec!["list", "secrets", "--all-namespaces"],
        vec!["create", "stsgrants.ram.alicloud.dev", "-n", w],
        vec!["delete", "crossaccountroles.ram.alicloud.dev", "-n", w],
        vec!["update", "ramusers.ram.alicloud.dev", "-n", w],
        vec!["patch", "stsgrants.ram.alicloud.dev", "-n", o],
        // No finalizer on grants; owner references without blockOwnerDeletion; the rollout
        // patch alone finds a missing workload; CRDs are read by name, never listed.
        vec!["patch", "stsgrants.ram.alicloud.dev", "-n", w],
        vec![
            "update",
            "stsgrants.ram.alicloud.dev",
            "--subresource=finalizers",
            "-n",
            w,
        ],
        vec!["get", "deployments.apps", "-n", w],
        vec![
            "watch",
            "customresourcedefinitions/stsgrants.ram.alicloud.dev",
        ],
        vec!["create", "deployments.apps", "-n", w],
        vec!["get", "leases/someone-elses", "-n", ops],
        vec!["create", "leases.coordination.k8s.io", "-n", w],
        vec!["list", "customresourcedefinitions"],
        vec![
            "get",
            "customresourcedefinitions/leases.coordination.k8s.io",
        ],
        vec!["create", "clusterroles"],
        vec!["get", "pods", "-n", w],
    ] {
        assert!(
            !release.can_i(&args).await,
            "allowed but never needed: {args:?}"
        );
    }

    // Real writes: a labelled Secret applied server-side in a watched namespace works (the way
    // the operator writes), a ConfigMap there and a Secret elsewhere are refused.
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: probe\n  namespace: {w}\n  labels:\n    \
         app.kubernetes.io/managed-by: ram-operator\nstringData:\n  k: v\n"
    );
    let applied = release
        .cluster
        .kubectl_stdin(
            &[
                "--kubeconfig",
                &release.kubeconfig.display().to_string(),
                "apply",
                "--server-side",
                "--field-manager",
                "ram-operator",
                "-f",
                "-",
            ],
            &secret,
        )
        .await;
    applied.expect_success("server-side apply of a Secret as the operator");
    let configmap = release
        .kubectl(&[
            "create",
            "configmap",
            "probe",
            "-n",
            w,
            "--from-literal=k=v",
        ])
        .await;
    assert!(
        !configmap.success && configmap.stderr.contains("forbidden"),
        "{configmap:?}"
    );
    let elsewhere = release
        .kubectl(&[
            "create",
            "secret",
            "generic",
            "probe",
            "-n",
            o,
            "--from-literal=k=v",
        ])
        .await;
    assert!(
        !elsewhere.success && elsewhere.stderr.contains("forbidden"),
        "{elsewhere:?}"
    );
    let read_elsewhere = release.kubectl(&["get", "secrets", "-n", o]).await;
    assert!(!read_elsewhere.success, "{read_elsewhere:?}");

    // The operator itself, as the ServiceAccount: waits for its CRDs (by name), takes the Lease
    // in the release namespace, starts its controllers, and is ready; nothing was refused.
    let emulator = Emulator::start("rbac", 1.0).await;
    let flags = release.lease_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let operator = Operator::start_with_kubeconfig(&emulator, w, &flags, &release.kubeconfig).await;
    wait_for("the operator to lead", Duration::from_secs(60), || async {
        operator
            .logs()
            .contains("starting controllers")
            .then_some(())
            .ok_or("not leading yet")
    })
    .await;
    let holder = cluster
        .kubectl(&[
            "get",
            "lease",
            &lease,
            "-n",
            ops,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
        .await;
    assert!(!holder.expect_success("get the Lease").trim().is_empty());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let logs = operator.logs();
    assert!(
        forbidden_lines(&logs).is_empty(),
        "refused requests:\n{logs}"
    );
}

#[tokio::test]
async fn cluster_wide_chart_rbac_covers_every_namespace_but_not_other_kinds() {
    let cluster = Cluster::connect().await;
    let some = TestNamespace::create(&cluster, "rbac-any").await;
    let release = Release::install(&cluster, "rbac-cw", |name, namespace| {
        chart::template(name, namespace, &[])
    })
    .await;
    let n = some.name.as_str();
    assert!(
        release
            .can_i(&["list", "secrets", "--all-namespaces"])
            .await
    );
    assert!(
        release
            .can_i(&[
                "patch",
                "stsgrants.ram.alicloud.dev",
                "--subresource=status",
                "-n",
                n
            ])
            .await
    );
    assert!(
        release
            .can_i(&["create", "events.events.k8s.io", "-n", n])
            .await
    );
    assert!(!release.can_i(&["create", "configmaps", "-n", n]).await);
    assert!(
        !release
            .can_i(&["deletecollection", "secrets", "-n", n])
            .await
    );
    assert!(
        !release
            .can_i(&["create", "leases.coordination.k8s.io", "-n", n])
            .await
    );
    let configmap = release
        .kubectl(&[
            "create",
            "configmap",
            "probe",
            "-n",
            n,
            "--from-literal=k=v",
        ])
        .await;
    assert!(
        !configmap.success && configmap.stderr.contains("forbidden"),
        "{configmap:?}"
    );
}

/// The seed scenario under the chart's RBAC. Needs the three controllers: until they are merged
/// the placeholders never reconcile and this test times out waiting for Ready.
#[tokio::test]
async fn seed_reaches_ready_as_the_chart_service_account() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let watched = TestNamespace::create(&cluster, "rbac-seed").await;
    let set = format!("watchNamespaces={{{}}}", watched.name);
    let release = Release::install(&cluster, "rbac-seed", |name, namespace| {
        chart::template(name, namespace, &[&set])
    })
    .await;
    let w = watched.name.as_str();
    create_account_credentials(&cluster, w).await;
    let emulator = Emulator::start("rbac-seed", 0.05).await;
    let flags = release.lease_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let operator = Operator::start_with_kubeconfig(&emulator, w, &flags, &release.kubeconfig).await;

    apply_seed_and_wait_ready(&cluster, w).await;
    let secret = cluster
        .kubectl(&[
            "get",
            "secret",
            "rabbitmq-app",
            "-n",
            w,
            "-o",
            "jsonpath={.data}",
        ])
        .await;
    assert!(
        secret
            .expect_success("the grant's Secret")
            .contains("ALIBABA_CLOUD_SECURITY_TOKEN")
    );
    let logs = operator.logs();
    assert!(
        forbidden_lines(&logs).is_empty(),
        "refused requests:\n{logs}"
    );
}
