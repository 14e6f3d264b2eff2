//! The CRDs on the real control plane: the seed examples are accepted, `kubectl explain` and
//! `kubectl get` show what the types say, and bad input is refused by the API server itself,
//! naming the field. Needs `eval "$(scripts/envtest.sh start)"`; fails without it.

mod support;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use ram_operator::crd::{CrossAccountRole, RamUser, StsGrant};
use serde_json::json;
use support::{Cluster, DEFAULT_TIMEOUT, TEST_MANAGER, TestNamespace, install_crds, wait_for};

async fn setup(prefix: &str) -> (Cluster, TestNamespace) {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let namespace = TestNamespace::create(&cluster, prefix).await;
    (cluster, namespace)
}

fn seed_dir() -> String {
    support::repo_root()
        .join("examples/seed")
        .display()
        .to_string()
}

/// Server-side applies one manifest (YAML) with strict field validation, the way a GitOps tool
/// would; unknown fields are errors, not silently pruned.
async fn apply(cluster: &Cluster, namespace: &str, manifest: &str) -> Result<(), kube::Error> {
    let object: DynamicObject = serde_yaml::from_str(manifest).expect("test manifest is YAML");
    let types = object
        .types
        .clone()
        .expect("test manifest has apiVersion and kind");
    let gvk = GroupVersionKind::try_from(&types).expect("apiVersion is group/version");
    let plural = format!("{}s", gvk.kind.to_ascii_lowercase());
    let resource = ApiResource::from_gvk_with_plural(&gvk, &plural);
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), namespace, &resource);
    let name = object
        .metadata
        .name
        .clone()
        .expect("test manifest has a name");
    let params = PatchParams::apply(TEST_MANAGER).force().validation_strict();
    api.patch(&name, &params, &Patch::Apply(&object))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn seed_examples_are_accepted_and_defaulted() {
    let (cluster, ns) = setup("crd-seed").await;
    let applied = cluster
        .kubectl(&["apply", "-n", &ns.name, "-f", &seed_dir()])
        .await;
    let stdout = applied.expect_success("kubectl apply -f examples/seed/");
    for object in [
        "crossaccountrole.ram.alicloud.dev/rabbitmq-access created",
        "ramuser.ram.alicloud.dev/rabbitmq-app created",
        "ramuser.ram.alicloud.dev/alice created",
        "stsgrant.ram.alicloud.dev/rabbitmq-app created",
    ] {
        assert!(stdout.contains(object), "missing {object:?} in:\n{stdout}");
    }

    // Read back through the Rust types: the server's defaults are what the docs promise.
    let role = Api::<CrossAccountRole>::namespaced(cluster.client.clone(), &ns.name)
        .get("rabbitmq-access")
        .await
        .unwrap();
    assert_eq!(role.spec.max_session_duration, 3600);
    assert_eq!(role.spec.adoption, ram_operator::crd::Adoption::Never);
    assert_eq!(
        role.spec.deletion_policy,
        ram_operator::crd::DeletionPolicy::Delete
    );
    let credentials = role.spec.credentials_ref.as_ref().unwrap();
    assert_eq!(credentials.access_key_id_key, "AccessKeyId");
    assert_eq!(credentials.access_key_secret_key, "AccessKeySecret");
    assert_eq!(credentials.security_token_key, "SecurityToken");

    let user = Api::<RamUser>::namespaced(cluster.client.clone(), &ns.name)
        .get("rabbitmq-app")
        .await
        .unwrap();
    let programmatic = user.spec.programmatic.as_ref().unwrap();
    assert_eq!(
        programmatic.formats,
        [ram_operator::crd::ram_user::AccessKeyFormat::Env]
    );
    assert_eq!(
        user.spec.policies[0].policy_type,
        ram_operator::crd::PolicyType::System
    );

    let grant = Api::<StsGrant>::namespaced(cluster.client.clone(), &ns.name)
        .get("rabbitmq-app")
        .await
        .unwrap();
    assert_eq!(grant.spec.duration_seconds, 3600);
    assert_eq!(
        grant.spec.secret_deletion_policy,
        ram_operator::crd::sts_grant::SecretDeletionPolicy::Delete
    );

    // Applying the same manifests again changes nothing and is accepted (transition rules pass).
    let again = cluster
        .kubectl(&["apply", "-n", &ns.name, "-f", &seed_dir()])
        .await;
    let stdout = again.expect_success("second kubectl apply -f examples/seed/");
    assert!(
        stdout.contains("stsgrant.ram.alicloud.dev/rabbitmq-app unchanged"),
        "{stdout}"
    );
}

#[tokio::test]
async fn explain_shows_the_field_documentation() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    // The OpenAPI document the API server publishes catches up with a new CRD a little later.
    let text = wait_for(
        "kubectl explain stsgrant.spec.refreshBefore",
        DEFAULT_TIMEOUT,
        || async {
            let out = cluster
                .kubectl(&["explain", "stsgrant.spec.refreshBefore"])
                .await;
            if out.success && out.stdout.contains("How long before expiry") {
                Ok(out.stdout)
            } else {
                Err(format!("stdout: {} stderr: {}", out.stdout, out.stderr))
            }
        },
    )
    .await;
    assert!(text.contains("refreshBefore"), "{text}");
    assert!(text.contains("shorter than"), "{text}");

    let car = cluster
        .kubectl(&["explain", "car.spec.trustedAccounts"])
        .await;
    let car_text = car.expect_success("kubectl explain car.spec.trustedAccounts");
    assert!(car_text.contains("account IDs"), "{car_text}");
}

/// Header words of each table `kubectl get a,b,c` printed.
fn table_headers(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|line| line.starts_with("NAME "))
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn get_shows_the_printer_columns() {
    let (cluster, ns) = setup("crd-columns").await;
    cluster
        .kubectl(&["apply", "-n", &ns.name, "-f", &seed_dir()])
        .await
        .expect_success("kubectl apply -f examples/seed/");

    // Status as a controller would write it (status subresource, server-side apply).
    let arn = "acs:ram::1111111111111111:role/rabbitmq-access";
    let status = json!({
        "apiVersion": "ram.alicloud.dev/v1alpha1",
        "kind": "CrossAccountRole",
        "status": {
            "observedGeneration": 1,
            "arn": arn,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "RoleCreated",
                "message": "role exists and trusts 2222222222222222",
                "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 1
            }]
        }
    });
    Api::<CrossAccountRole>::namespaced(cluster.client.clone(), &ns.name)
        .patch_status(
            "rabbitmq-access",
            &PatchParams::apply(TEST_MANAGER).force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();

    let out = cluster
        .kubectl(&["get", "car,ramuser,stsgrant", "-n", &ns.name])
        .await;
    let stdout = out.expect_success("kubectl get car,ramuser,stsgrant");
    assert_eq!(
        table_headers(stdout),
        [
            vec!["NAME", "READY", "REASON", "ARN", "AGE"],
            vec!["NAME", "READY", "REASON", "USER", "AGE"],
            vec!["NAME", "READY", "REASON", "EXPIRATION", "AGE"],
        ],
        "{stdout}"
    );
    let role_row = stdout
        .lines()
        .find(|line| line.contains("rabbitmq-access"))
        .unwrap_or_else(|| panic!("no role row in:\n{stdout}"));
    let cells: Vec<&str> = role_row.split_whitespace().collect();
    assert_eq!(&cells[1..4], ["True", "RoleCreated", arn], "{role_row}");

    // The wide view adds RamUser's access mode.
    let wide = cluster
        .kubectl(&["get", "ramuser", "-n", &ns.name, "-o", "wide"])
        .await;
    let wide_stdout = wide.expect_success("kubectl get ramuser -o wide");
    assert_eq!(
        table_headers(wide_stdout),
        [vec!["NAME", "READY", "REASON", "USER", "MODE", "AGE"]],
        "{wide_stdout}"
    );
    assert!(wide_stdout.contains("Console") && wide_stdout.contains("Programmatic"));
}

/// One manifest the API server must refuse.
struct Invalid {
    /// Names the object too, so a failure says which case it was.
    name: &'static str,
    /// Applied (and accepted) first; then `manifest` is an update of it.
    before: Option<String>,
    manifest: String,
    /// The field path the refusal must name.
    field: &'static str,
}

const CAR: &str = "apiVersion: ram.alicloud.dev/v1alpha1\nkind: CrossAccountRole\n";
const USER: &str = "apiVersion: ram.alicloud.dev/v1alpha1\nkind: RamUser\n";
const GRANT: &str = "apiVersion: ram.alicloud.dev/v1alpha1\nkind: StsGrant\n";
const TRUST: &str = "  trustedAccounts: [\"2222222222222222\"]\n";
const APP: &str = "  accessMode: Programmatic\n  programmatic:\n    accessKeySecretName: app-key\n";
const ARN: &str = "  roleArn: acs:ram::1111111111111111:role/rabbitmq-access\n";

fn manifest(kind: &str, name: &str, spec: &str) -> String {
    format!("{kind}metadata:\n  name: {name}\nspec:\n{spec}")
}

fn invalid(name: &'static str, kind: &str, spec: &str, field: &'static str) -> Invalid {
    Invalid {
        name,
        before: None,
        manifest: manifest(kind, name, spec),
        field,
    }
}

fn changed(
    name: &'static str,
    kind: &str,
    before: &str,
    after: &str,
    field: &'static str,
) -> Invalid {
    Invalid {
        name,
        before: Some(manifest(kind, name, before)),
        manifest: manifest(kind, name, after),
        field,
    }
}

fn invalid_cases() -> Vec<Invalid> {
    let long_name = "a".repeat(65);
    let long_display = "d".repeat(129);
    vec![
        // CrossAccountRole
        invalid(
            "car-name-chars",
            CAR,
            &format!("  roleName: bad_name\n{TRUST}"),
            "spec.roleName",
        ),
        invalid(
            "car-name-long",
            CAR,
            &format!("  roleName: {long_name}\n{TRUST}"),
            "spec.roleName",
        ),
        invalid(
            "car-name-empty",
            CAR,
            &format!("  roleName: \"\"\n{TRUST}"),
            "spec.roleName",
        ),
        invalid(
            "car-account-letters",
            CAR,
            "  trustedAccounts: [\"22222222abc\"]\n",
            "spec.trustedAccounts[0]",
        ),
        invalid(
            "car-principal-aws",
            CAR,
            "  trustedPrincipals: [\"arn:aws:iam::1:user/x\"]\n",
            "spec.trustedPrincipals[0]",
        ),
        invalid(
            "car-session-short",
            CAR,
            &format!("{TRUST}  maxSessionDuration: 3599\n"),
            "spec.maxSessionDuration",
        ),
        invalid(
            "car-session-long",
            CAR,
            &format!("{TRUST}  maxSessionDuration: 43201\n"),
            "spec.maxSessionDuration",
        ),
        invalid(
            "car-doc-and-list",
            CAR,
            &format!("{TRUST}  assumeRolePolicyDocument: '{{\"Version\":\"1\"}}'\n"),
            "spec.assumeRolePolicyDocument",
        ),
        invalid(
            "car-no-trust",
            CAR,
            "  description: trusts nobody by mistake\n",
            "spec.trustedAccounts",
        ),
        invalid(
            "car-policy-type",
            CAR,
            &format!("{TRUST}  policies: [{{name: AliyunAMQPFullAccess, type: Managed}}]\n"),
            "spec.policies[0].type",
        ),
        invalid(
            "car-policy-name",
            CAR,
            &format!("{TRUST}  policies: [{{name: \"bad name!\"}}]\n"),
            "spec.policies[0].name",
        ),
        invalid(
            "car-policy-twice",
            CAR,
            &format!("{TRUST}  policies: [{{name: A}}, {{name: A}}]\n"),
            "spec.policies",
        ),
        invalid(
            "car-adoption",
            CAR,
            &format!("{TRUST}  adoption: Sometimes\n"),
            "spec.adoption",
        ),
        invalid(
            "car-deletion-policy",
            CAR,
            &format!("{TRUST}  deletionPolicy: Keep\n"),
            "spec.deletionPolicy",
        ),
        invalid(
            "car-credentials-ns",
            CAR,
            &format!("{TRUST}  credentialsRef: {{name: admin, namespace: kube-system}}\n"),
            "spec.credentialsRef.namespace",
        ),
        changed(
            "car-name-changed",
            CAR,
            &format!("  roleName: first\n{TRUST}"),
            &format!("  roleName: second\n{TRUST}"),
            "spec.roleName",
        ),
        changed(
            "car-name-added",
            CAR,
            TRUST,
            &format!("  roleName: another\n{TRUST}"),
            "spec.roleName",
        ),
        // RamUser
        invalid(
            "user-name-chars",
            USER,
            &format!("  userName: \"bad name\"\n{APP}"),
            "spec.userName",
        ),
        invalid(
            "user-display-long",
            USER,
            &format!("  displayName: {long_display}\n{APP}"),
            "spec.displayName",
        ),
        invalid(
            "user-mode-unknown",
            USER,
            "  accessMode: Both\n",
            "spec.accessMode",
        ),
        invalid(
            "user-mode-no-block",
            USER,
            "  accessMode: Programmatic\n",
            "spec.programmatic",
        ),
        invalid(
            "user-console-and-ak",
            USER,
            "  accessMode: Console\n  console: {passwordSecretName: pw}\n  programmatic: {accessKeySecretName: k}\n",
            "spec.console",
        ),
        invalid(
            "user-password-both",
            USER,
            "  accessMode: Console\n  console: {passwordSecretName: pw, passwordSecretRef: {name: given}}\n",
            "spec.console.passwordSecretName",
        ),
        invalid(
            "user-rotation-days",
            USER,
            "  accessMode: Programmatic\n  programmatic: {accessKeySecretName: k, rotation: {every: 30d, gracePeriod: 1h}}\n",
            "spec.programmatic.rotation.every",
        ),
        invalid(
            "user-grace-too-long",
            USER,
            "  accessMode: Programmatic\n  programmatic: {accessKeySecretName: k, rotation: {every: 1h, gracePeriod: 2h}}\n",
            "spec.programmatic.rotation.gracePeriod",
        ),
        invalid(
            "user-format-unknown",
            USER,
            "  accessMode: Programmatic\n  programmatic: {accessKeySecretName: k, formats: [Ini]}\n",
            "spec.programmatic.formats[0]",
        ),
        invalid(
            "user-tag-reserved",
            USER,
            &format!("  tags: {{\"ram.alicloud.dev/owner\": me}}\n{APP}"),
            "spec.tags",
        ),
        invalid(
            "user-phone",
            USER,
            &format!("  mobilePhone: \"12345\"\n{APP}"),
            "spec.mobilePhone",
        ),
        changed(
            "user-name-changed",
            USER,
            &format!("  userName: first\n{APP}"),
            &format!("  userName: second\n{APP}"),
            "spec.userName",
        ),
        changed(
            "user-mode-changed",
            USER,
            APP,
            "  accessMode: Console\n  console: {passwordSecretName: pw}\n",
            "spec.accessMode",
        ),
        // StsGrant
        invalid(
            "grant-arn-and-ref",
            GRANT,
            &format!("{ARN}  roleRef: {{name: rabbitmq-access}}\n"),
            "spec.roleArn",
        ),
        invalid(
            "grant-no-role",
            GRANT,
            "  durationSeconds: 900\n",
            "spec.roleArn",
        ),
        invalid(
            "grant-arn-account",
            GRANT,
            "  roleArn: acs:ram::abc:role/x\n",
            "spec.roleArn",
        ),
        invalid(
            "grant-arn-user",
            GRANT,
            "  roleArn: acs:ram::1111111111111111:user/x\n",
            "spec.roleArn",
        ),
        invalid(
            "grant-duration-short",
            GRANT,
            &format!("{ARN}  durationSeconds: 899\n"),
            "spec.durationSeconds",
        ),
        invalid(
            "grant-duration-long",
            GRANT,
            &format!("{ARN}  durationSeconds: 43201\n"),
            "spec.durationSeconds",
        ),
        invalid(
            "grant-refresh-long",
            GRANT,
            &format!("{ARN}  durationSeconds: 900\n  refreshBefore: 15m\n"),
            "spec.refreshBefore",
        ),
        invalid(
            "grant-refresh-default",
            GRANT,
            &format!("{ARN}  refreshBefore: 1h\n"),
            "spec.refreshBefore",
        ),
        invalid(
            "grant-refresh-short",
            GRANT,
            &format!("{ARN}  refreshBefore: 30s\n"),
            "spec.refreshBefore",
        ),
        invalid(
            "grant-refresh-words",
            GRANT,
            &format!("{ARN}  refreshBefore: 20 minutes\n"),
            "spec.refreshBefore",
        ),
        invalid(
            "grant-format-unknown",
            GRANT,
            &format!("{ARN}  formats: [Ini]\n"),
            "spec.formats[0]",
        ),
        invalid(
            "grant-source-both",
            GRANT,
            &format!("{ARN}  source: {{ramUserRef: {{name: a}}, secretRef: {{name: b}}}}\n"),
            "spec.source.secretRef",
        ),
        invalid(
            "grant-source-ns",
            GRANT,
            &format!("{ARN}  source: {{ramUserRef: {{name: a, namespace: other}}}}\n"),
            "spec.source.ramUserRef.namespace",
        ),
        invalid(
            "grant-session-name",
            GRANT,
            &format!("{ARN}  roleSessionName: x\n"),
            "spec.roleSessionName",
        ),
        invalid(
            "grant-secret-policy",
            GRANT,
            &format!("{ARN}  secretDeletionPolicy: Orphan\n"),
            "spec.secretDeletionPolicy",
        ),
        invalid(
            "grant-rollout-kind",
            GRANT,
            &format!("{ARN}  rollout: {{targets: [{{kind: Pod, name: web}}]}}\n"),
            "spec.rollout.targets[0].kind",
        ),
        invalid(
            "grant-secret-name",
            GRANT,
            &format!("{ARN}  secretName: Bad_Name\n"),
            "spec.secretName",
        ),
        invalid(
            "grant-external-id",
            GRANT,
            &format!("{ARN}  externalId: x\n"),
            "spec.externalId",
        ),
    ]
}

#[tokio::test]
async fn invalid_manifests_are_rejected_by_the_api_server_naming_the_field() {
    let (cluster, ns) = setup("crd-invalid").await;
    let cases = invalid_cases();
    assert!(cases.len() >= 25, "only {} cases", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        if let Some(before) = &case.before
            && let Err(e) = apply(&cluster, &ns.name, before).await
        {
            failures.push(format!(
                "{}: the valid original was refused: {e}",
                case.name
            ));
            continue;
        }
        match apply(&cluster, &ns.name, &case.manifest).await {
            Ok(()) => failures.push(format!("{}: accepted\n{}", case.name, case.manifest)),
            Err(kube::Error::Api(status)) => {
                // 422 Invalid for schema and CEL rules. Structural errors (a duplicate list-map
                // key, a field the schema does not declare) surface from server-side apply as a
                // 500 "failed to create typed patch object" that names the field.
                let refused = matches!(status.code, 400 | 422)
                    || (status.code == 500
                        && status
                            .message
                            .contains("failed to create typed patch object"));
                if !refused || !status.message.contains(case.field) {
                    failures.push(format!(
                        "{}: expected a refusal naming {}, got {} {}: {}",
                        case.name, case.field, status.code, status.reason, status.message
                    ));
                }
            }
            Err(other) => failures.push(format!("{}: not an API error: {other}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn kubectl_shows_the_rule_message_to_the_user() {
    let (cluster, ns) = setup("crd-kubectl").await;
    let grant = manifest(
        GRANT,
        "too-eager",
        &format!("{ARN}  durationSeconds: 900\n  refreshBefore: 15m\n"),
    );
    let out = cluster
        .kubectl_stdin(&["apply", "-n", &ns.name, "-f", "-"], &grant)
        .await;
    assert!(!out.success, "accepted: {}", out.stdout);
    assert!(out.stderr.contains("spec.refreshBefore"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("refreshBefore must be shorter than durationSeconds"),
        "{}",
        out.stderr
    );

    // A reference into another namespace cannot even be written.
    let role = manifest(
        CAR,
        "elsewhere",
        &format!("{TRUST}  credentialsRef: {{name: admin, namespace: kube-system}}\n"),
    );
    let out = cluster
        .kubectl_stdin(&["apply", "-n", &ns.name, "-f", "-"], &role)
        .await;
    assert!(!out.success, "accepted: {}", out.stdout);
    assert!(
        out.stderr
            .contains("unknown field \"spec.credentialsRef.namespace\""),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn valid_edge_cases_and_updates_are_accepted() {
    let (cluster, ns) = setup("crd-valid").await;
    let accepted = [
        manifest(
            CAR,
            "dotted",
            "  roleName: rabbitmq.access-2\n  trustedAccounts: []\n",
        ),
        manifest(
            CAR,
            "principals",
            "  trustedPrincipals: [\"acs:ram::2222222222222222:user/rabbitmq-app\"]\n  maxSessionDuration: 43200\n",
        ),
        manifest(
            CAR,
            "raw-policy",
            "  assumeRolePolicyDocument: '{\"Version\":\"1\",\"Statement\":[]}'\n  policies: [{name: my-policy, type: Custom}]\n  inlinePolicies: [{name: my-policy, document: '{}'}]\n",
        ),
        manifest(
            USER,
            "rotating",
            "  accessMode: Programmatic\n  programmatic: {accessKeySecretName: k, formats: [Env, CredentialsFile, CliConfig], rotation: {every: 720h, gracePeriod: 24h}}\n  tags: {team: mq}\n  mobilePhone: 86-18600008888\n",
        ),
        manifest(
            USER,
            "given-password",
            "  accessMode: Console\n  console: {passwordSecretRef: {name: pw}, mfaBindRequired: false}\n",
        ),
        manifest(
            GRANT,
            "shortest",
            &format!("{ARN}  durationSeconds: 900\n  refreshBefore: 1m\n"),
        ),
        manifest(
            GRANT,
            "longest",
            &format!(
                "{ARN}  durationSeconds: 43200\n  refreshBefore: 11h59m\n  externalId: abc-123\n  rollout: {{targets: [{{kind: Deployment, name: web}}], minInterval: 0s}}\n  secretDeletionPolicy: Retain\n"
            ),
        ),
    ];
    for object in &accepted {
        if let Err(e) = apply(&cluster, &ns.name, object).await {
            panic!("refused: {e}\n{object}");
        }
    }

    // The immutability rules let every other change through, and the same name again.
    let updated = manifest(
        CAR,
        "dotted",
        "  roleName: rabbitmq.access-2\n  description: now described\n  trustedAccounts: [\"2222222222222222\"]\n",
    );
    apply(&cluster, &ns.name, &updated)
        .await
        .unwrap_or_else(|e| panic!("update refused: {e}"));
    let explicit_name = manifest(
        CAR,
        "principals",
        "  roleName: principals\n  trustedPrincipals: [\"acs:ram::2222222222222222:user/rabbitmq-app\"]\n",
    );
    apply(&cluster, &ns.name, &explicit_name)
        .await
        .unwrap_or_else(|e| panic!("spelling out the default name refused: {e}"));

    // An explicit null is refused with the field named, not taken as "set".
    let with_null = manifest(GRANT, "with-null", &format!("{ARN}  roleRef: null\n"));
    let refused = apply(&cluster, &ns.name, &with_null).await.unwrap_err();
    assert!(refused.to_string().contains("spec.roleRef"), "{refused}");
}
