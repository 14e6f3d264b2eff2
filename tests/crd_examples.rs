//! The seed manifests in `examples/seed/` parse into the Rust types and refer to each other
//! correctly. Plain `cargo test`, no control plane (`crd_schema` applies them to a real one).

use std::path::Path;

use ram_operator::crd::ram_user::AccessMode;
use ram_operator::crd::sts_grant::StsGrantFormat;
use ram_operator::crd::{CrossAccountRole, RamUser, StsGrant};
use serde::Deserialize;

/// Every YAML document in `examples/seed/`, in file order.
fn seed_documents() -> Vec<serde_yaml::Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let mut documents = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(document).unwrap();
            assert!(
                value
                    .get("metadata")
                    .and_then(|m| m.get("namespace"))
                    .is_none(),
                "{} sets a namespace; seed manifests are applied with -n",
                path.display()
            );
            documents.push(value);
        }
    }
    documents
}

fn of_kind<T: serde::de::DeserializeOwned>(kind: &str) -> Vec<T> {
    seed_documents()
        .into_iter()
        .filter(|d| d.get("kind").and_then(|k| k.as_str()) == Some(kind))
        .map(|d| serde_yaml::from_value(d).unwrap())
        .collect()
}

#[test]
fn the_role_trusts_account_b_with_rabbitmq_access() {
    let roles: Vec<CrossAccountRole> = of_kind("CrossAccountRole");
    assert_eq!(roles.len(), 1);
    let role = &roles[0];
    assert_eq!(role.role_name(), "rabbitmq-access");
    assert_eq!(
        role.spec.trusted_accounts.as_deref(),
        Some(&["2222222222222222".to_owned()][..])
    );
    assert!(
        role.spec
            .policies
            .iter()
            .any(|p| p.name == "AliyunAMQPFullAccess")
    );
    assert_eq!(
        role.spec.credentials_ref.as_ref().map(|c| c.name.as_str()),
        Some("account-a-credentials")
    );
}

#[test]
fn there_is_an_application_user_and_a_console_user() {
    let users: Vec<RamUser> = of_kind("RamUser");
    let app = users
        .iter()
        .find(|u| u.user_name() == "rabbitmq-app")
        .unwrap();
    assert_eq!(app.spec.access_mode, AccessMode::Programmatic);
    assert_eq!(
        app.spec
            .programmatic
            .as_ref()
            .map(|p| p.access_key_secret_name.as_str()),
        Some("rabbitmq-app-access-key")
    );
    assert!(
        app.spec
            .policies
            .iter()
            .any(|p| p.name == "AliyunSTSAssumeRoleAccess")
    );

    let person = users
        .iter()
        .find(|u| u.spec.access_mode == AccessMode::Console)
        .unwrap();
    let console = person.spec.console.as_ref().unwrap();
    assert!(console.mfa_bind_required);
    assert!(person.spec.programmatic.is_none());
}

#[test]
fn the_grant_uses_the_user_to_assume_the_role() {
    let grants: Vec<StsGrant> = of_kind("StsGrant");
    assert_eq!(grants.len(), 1);
    let grant = &grants[0];
    assert_eq!(
        grant.spec.role_ref.as_ref().map(|r| r.name.as_str()),
        Some("rabbitmq-access")
    );
    let source = grant.spec.source.as_ref().unwrap();
    assert_eq!(
        source.ram_user_ref.as_ref().map(|r| r.name.as_str()),
        Some("rabbitmq-app")
    );
    assert_eq!(
        grant.spec.formats,
        [StsGrantFormat::Env, StsGrantFormat::CliConfig]
    );
    let refresh_before =
        ram_operator::crd::parse_go_duration(grant.spec.refresh_before.as_deref().unwrap())
            .unwrap();
    assert!(refresh_before.as_secs() < grant.spec.duration_seconds as u64);
}

#[test]
fn the_credentials_secrets_are_the_ones_referenced() {
    let names: Vec<String> = seed_documents()
        .iter()
        .filter(|d| d.get("kind").and_then(|k| k.as_str()) == Some("Secret"))
        .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["account-a-credentials", "account-b-credentials"]);
}
