//! The Helm chart rendered by the real `helm`: it lints, renders in both RBAC modes, grants
//! no wildcard and exactly the documented rules, and runs the operator locked down.

mod chart;

use chart::{chart_dir, kind, name, objects, run_helm, template};
use serde_yaml::Value;

fn rules_of<'a>(objects: &'a [Value], role_kind: &str) -> Vec<(&'a Value, String)> {
    objects
        .iter()
        .filter(|object| kind(object) == role_kind)
        .flat_map(|object| {
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            object["rules"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(move |rule| (rule, namespace.clone()))
        })
        .collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[test]
fn chart_lints_in_both_modes() {
    let chart = chart_dir();
    let chart = chart.to_str().expect("UTF-8 path");
    let out = run_helm(&["lint", "--strict", chart]);
    assert!(out.contains("0 chart(s) failed"), "{out}");
    let out = run_helm(&[
        "lint",
        "--strict",
        chart,
        "--set",
        "watchNamespaces={team-a,team-b}",
        "--set",
        "replicaCount=2",
        "--set",
        "metrics.serviceMonitor.enabled=true",
    ]);
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn no_wildcards_and_delete_only_on_secrets() {
    for sets in [&[][..], &["watchNamespaces={team-a,team-b}"][..]] {
        let rendered = objects(&template("r", "ops", sets));
        for role_kind in ["ClusterRole", "Role"] {
            for (rule, _) in rules_of(&rendered, role_kind) {
                for field in ["verbs", "resources", "apiGroups"] {
                    assert!(
                        !strings(&rule[field]).contains(&"*"),
                        "wildcard in {field}: {rule:?}"
                    );
                }
                let verbs = strings(&rule["verbs"]);
                // delete on Secrets is there for the ownerReferences admission check only.
                if verbs.contains(&"delete") {
                    assert_eq!(strings(&rule["resources"]), ["secrets"], "{rule:?}");
                }
                assert!(!verbs.contains(&"deletecollection"), "{rule:?}");
            }
        }
    }
}

#[test]
fn namespaced_install_grants_secrets_only_in_watched_namespaces() {
    let rendered = objects(&template("r", "ops", &["watchNamespaces={team-a,team-b}"]));
    // Cluster-wide: only reading the three CRDs by name.
    let cluster_rules = rules_of(&rendered, "ClusterRole");
    assert_eq!(cluster_rules.len(), 1, "{cluster_rules:?}");
    let (crd_rule, _) = &cluster_rules[0];
    assert_eq!(
        strings(&crd_rule["resources"]),
        ["customresourcedefinitions"]
    );
    assert_eq!(strings(&crd_rule["verbs"]), ["get"]);
    assert_eq!(strings(&crd_rule["resourceNames"]).len(), 3);

    let secret_namespaces: Vec<String> = rules_of(&rendered, "Role")
        .into_iter()
        .filter(|(rule, _)| strings(&rule["resources"]).contains(&"secrets"))
        .map(|(rule, namespace)| {
            assert_eq!(
                strings(&rule["verbs"]),
                ["get", "list", "watch", "create", "patch", "delete"]
            );
            namespace
        })
        .collect();
    assert_eq!(secret_namespaces, ["team-a", "team-b"]);

    // The Lease: only in the release namespace, get and patch only on its own name.
    let lease_rules: Vec<_> = rules_of(&rendered, "Role")
        .into_iter()
        .filter(|(rule, _)| strings(&rule["resources"]).contains(&"leases"))
        .collect();
    assert!(lease_rules.iter().all(|(_, namespace)| namespace == "ops"));
    assert!(lease_rules.iter().any(|(rule, _)| {
        strings(&rule["verbs"]) == ["get", "patch"]
            && strings(&rule["resourceNames"]) == ["r-ram-operator"]
    }));
}

#[test]
fn cluster_wide_install_uses_cluster_roles() {
    let rendered = objects(&template("r", "ops", &[]));
    assert!(
        rendered.iter().all(|object| kind(object) != "RoleBinding"
            || name(object) == "r-ram-operator-leader-election")
    );
    let secrets = rules_of(&rendered, "ClusterRole")
        .into_iter()
        .filter(|(rule, _)| strings(&rule["resources"]).contains(&"secrets"))
        .count();
    assert_eq!(secrets, 1);
}

#[test]
fn deployment_is_locked_down() {
    let rendered = objects(&template("r", "ops", &[]));
    let deployment = rendered
        .iter()
        .find(|object| kind(object) == "Deployment")
        .expect("a Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], Value::Bool(true));
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], Value::Bool(true));
    assert_eq!(security["allowPrivilegeEscalation"], Value::Bool(false));
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["requests"]["memory"].is_string());
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            container[probe]["httpGet"]["port"].as_str(),
            Some("health"),
            "{probe}"
        );
    }
    let env: Vec<&str> = container["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|variable| variable["name"].as_str())
        .collect();
    for variable in [
        "POD_NAMESPACE",
        "RAM_OPERATOR_LEADER_ELECTION",
        "RAM_OPERATOR_LOG_FORMAT",
        "RAM_OPERATOR_STS_QPS",
    ] {
        assert!(env.contains(&variable), "{variable} missing: {env:?}");
    }
}

#[test]
fn rrsa_projects_a_token_for_sts() {
    let rendered = objects(&template(
        "r",
        "ops",
        &[
            "defaultCredentials.enabled=true",
            "defaultCredentials.rrsa.enabled=true",
            "defaultCredentials.rrsa.roleArn=acs:ram::1111111111111111:role/ram-operator",
            "defaultCredentials.rrsa.oidcProviderArn=acs:ram::1111111111111111:oidc-provider/ack-rrsa",
        ],
    ));
    let deployment = rendered
        .iter()
        .find(|object| kind(object) == "Deployment")
        .expect("a Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let source = &pod["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"];
    assert_eq!(source["audience"].as_str(), Some("sts.aliyuncs.com"));
    let rendered_text = serde_yaml::to_string(pod).expect("YAML");
    assert!(rendered_text.contains("ALIBABA_CLOUD_OIDC_TOKEN_FILE"));
    assert!(rendered_text.contains("RAM_OPERATOR_DEFAULT_CREDENTIALS"));
}

#[test]
fn several_replicas_without_leader_election_are_refused() {
    let chart = chart_dir();
    let output = std::process::Command::new(chart::helm())
        .args(["template", "r"])
        .arg(&chart)
        .args([
            "--set",
            "replicaCount=2",
            "--set",
            "leaderElection.enabled=false",
        ])
        .output()
        .expect("run helm");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("leaderElection"));
}
