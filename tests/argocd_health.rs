//! The Argo CD health check (`deploy/argocd/health.lua`) run by a real Lua 5.4 interpreter
//! (Debian `lua5.4`; `RAM_OPERATOR_LUA` names another) against objects captured from the real
//! control plane: each kind applied, its status written through the status subresource, the
//! object read back as JSON and handed to the script as Argo CD does (`obj`, returns `hs`).
//! The captured objects are also kept in `deploy/argocd/testdata/` (set
//! `RAM_OPERATOR_ARGOCD_CAPTURE_DIR` to write them again) and checked without a cluster.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Cluster, TestNamespace, install_crds, repo_root};

fn script() -> PathBuf {
    repo_root().join("deploy/argocd/health.lua")
}

/// `value` as a Lua table constructor.
fn lua_literal(value: &Value) -> String {
    match value {
        Value::Null => "nil".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!(
            "{{{}}}",
            items.iter().map(lua_literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("[{k:?}] = {}", lua_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Runs the health script on `object`: (status, message).
fn health(object: &Value) -> (String, String) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("argocd-health");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let harness = dir.join(format!("{}.lua", uuid::Uuid::new_v4().simple()));
    let text = format!(
        "obj = {}\nlocal hs = dofile({:?})\nio.write(hs.status, \"\\n\", hs.message or \"\")\n",
        lua_literal(object),
        script().display().to_string()
    );
    std::fs::write(&harness, text).expect("write the harness");
    let lua = std::env::var("RAM_OPERATOR_LUA").unwrap_or_else(|_| "lua5.4".to_string());
    let output = std::process::Command::new(&lua)
        .arg(&harness)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {lua} ({e}): apt-get install lua5.4"));
    let _ = std::fs::remove_file(&harness);
    assert!(
        output.status.success(),
        "lua failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (status, message) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    (status.to_string(), message.to_string())
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, generation: i64) -> Value {
    json!({
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    })
}

struct Capture<'a> {
    cluster: &'a Cluster,
    namespace: &'a str,
}

impl Capture<'_> {
    async fn kubectl_json(&self, args: &[&str]) -> Value {
        let mut full = args.to_vec();
        full.extend(["-n", self.namespace, "-o", "json"]);
        let out = self.cluster.kubectl(&full).await;
        serde_json::from_str(out.expect_success("kubectl -o json")).expect("JSON")
    }

    /// Writes `status` through the status subresource and returns the object as stored.
    async fn with_status(&self, resource: &str, status: Value) -> Value {
        let patch = json!({ "status": status }).to_string();
        self.cluster
            .kubectl(&[
                "patch",
                resource,
                "-n",
                self.namespace,
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch,
            ])
            .await
            .expect_success("patch status");
        self.kubectl_json(&["get", resource]).await
    }
}

/// Keeps a captured object in the capture dir, when one is set.
fn keep(name: &str, object: &Value) {
    if let Some(dir) = std::env::var_os("RAM_OPERATOR_ARGOCD_CAPTURE_DIR") {
        let mut object = object.clone();
        if let Some(metadata) = object["metadata"].as_object_mut() {
            for field in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "managedFields",
                "annotations",
            ] {
                metadata.remove(field);
            }
            metadata.insert("namespace".into(), "team-a".into());
        }
        let text = serde_json::to_string_pretty(&object).expect("JSON");
        std::fs::write(Path::new(&dir).join(format!("{name}.json")), text + "\n")
            .expect("write a captured object");
    }
}

fn assert_health(name: &str, object: &Value, expected: &str, message_part: &str) {
    keep(name, object);
    let (status, message) = health(object);
    assert_eq!(status, expected, "{name}: {message}");
    assert!(message.contains(message_part), "{name}: {message:?}");
}

#[tokio::test]
async fn health_of_statuses_written_on_the_control_plane() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let namespace = TestNamespace::create(&cluster, "argocd-health").await;
    let capture = Capture {
        cluster: &cluster,
        namespace: &namespace.name,
    };
    for file in [
        "10-account-a-role.yaml",
        "20-account-b-user.yaml",
        "30-grant.yaml",
    ] {
        let path = repo_root().join("examples/seed").join(file);
        cluster
            .kubectl(&[
                "apply",
                "-n",
                &namespace.name,
                "-f",
                &path.display().to_string(),
            ])
            .await
            .expect_success("apply a seed object");
    }

    // Just applied: no status yet.
    let grant = capture
        .kubectl_json(&["get", "stsgrant/rabbitmq-app"])
        .await;
    assert_health("stsgrant-new", &grant, "Progressing", "Waiting");

    // Ready for generation 1.
    let ready = json!({
        "observedGeneration": 1,
        "conditions": [
            condition("Ready", "True", "CredentialsIssued", "credentials valid until 2026-01-01T01:00:00Z", 1),
            condition("Reconciling", "False", "Reconciled", "", 1),
            condition("Stalled", "False", "Reconciled", "", 1),
        ],
    });
    let grant = capture.with_status("stsgrant/rabbitmq-app", ready).await;
    assert_health("stsgrant-healthy", &grant, "Healthy", "CredentialsIssued");

    // The spec changed: generation 2 not observed yet, whatever the old conditions say.
    cluster
        .kubectl(&[
            "patch",
            "stsgrant/rabbitmq-app",
            "-n",
            &namespace.name,
            "--type=merge",
            "-p",
            r#"{"spec":{"durationSeconds":1800,"refreshBefore":"10m"}}"#,
        ])
        .await
        .expect_success("change the spec");
    let grant = capture
        .kubectl_json(&["get", "stsgrant/rabbitmq-app"])
        .await;
    assert_eq!(grant["metadata"]["generation"], json!(2));
    assert_health(
        "stsgrant-generation-changed",
        &grant,
        "Progressing",
        "generation 2",
    );

    // Credentials expired while STS refuses: Degraded even though the operator retries.
    let expired = json!({
        "observedGeneration": 2,
        "conditions": [
            condition("Ready", "False", "CredentialsExpired", "the credentials in Secret rabbitmq-app expired; AssumeRole fails with AccessDenied", 2),
            condition("Reconciling", "True", "Retrying", "retrying in 40s", 2),
            condition("Stalled", "False", "Retrying", "", 2),
        ],
    });
    let grant = capture.with_status("stsgrant/rabbitmq-app", expired).await;
    assert_health(
        "stsgrant-degraded",
        &grant,
        "Degraded",
        "CredentialsExpired",
    );

    // A transient failure being retried: Progressing.
    let throttled = json!({
        "observedGeneration": 1,
        "conditions": [
            condition("Ready", "False", "Throttled", "RAM throttled CreateUser; retrying", 1),
            condition("Reconciling", "True", "Retrying", "retrying in 5s", 1),
            condition("Stalled", "False", "Retrying", "", 1),
        ],
    });
    let user = capture.with_status("ramuser/rabbitmq-app", throttled).await;
    assert_health("ramuser-progressing", &user, "Progressing", "retrying");

    // A role name taken by someone else: Stalled, Degraded.
    let stalled = json!({
        "observedGeneration": 1,
        "conditions": [
            condition("Ready", "False", "AlreadyExists", "role rabbitmq-access exists without our ownership tag; set spec.adoption: Adopt to take it over", 1),
            condition("Reconciling", "False", "AlreadyExists", "", 1),
            condition("Stalled", "True", "AlreadyExists", "role rabbitmq-access exists without our ownership tag; set spec.adoption: Adopt to take it over", 1),
        ],
    });
    let role = capture
        .with_status("crossaccountrole/rabbitmq-access", stalled)
        .await;
    assert_health(
        "crossaccountrole-degraded",
        &role,
        "Degraded",
        "AlreadyExists",
    );

    let healthy = json!({
        "observedGeneration": 1,
        "conditions": [
            condition("Ready", "True", "RoleReady", "role acs:ram::1111111111111111:role/rabbitmq-access trusts 2222222222222222", 1),
            condition("Reconciling", "False", "Reconciled", "", 1),
            condition("Stalled", "False", "Reconciled", "", 1),
        ],
    });
    let role = capture
        .with_status("crossaccountrole/rabbitmq-access", healthy)
        .await;
    assert_health("crossaccountrole-healthy", &role, "Healthy", "RoleReady");
}

/// The committed captures, without a cluster: their expected health is in the file name.
#[test]
fn health_of_captured_objects() {
    let dir = repo_root().join("deploy/argocd/testdata");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/argocd/testdata") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let object: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        let expected = match name.rsplit('-').next() {
            Some("healthy") => "Healthy",
            Some("degraded") => "Degraded",
            _ => "Progressing",
        };
        assert_eq!(health(&object).0, expected, "{name}");
        checked += 1;
    }
    assert!(
        checked >= 6,
        "only {checked} captured objects in {}",
        dir.display()
    );
}

/// The ConfigMap users merge holds the script verbatim, once per kind.
#[test]
fn argocd_cm_carries_the_script_for_every_kind() {
    let script = std::fs::read_to_string(script()).expect("health.lua");
    let text = std::fs::read_to_string(repo_root().join("deploy/argocd/argocd-cm.yaml"))
        .expect("argocd-cm.yaml");
    let config: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    for kind in ["CrossAccountRole", "RamUser", "StsGrant"] {
        let key = format!("resource.customizations.health.ram.alicloud.dev_{kind}");
        let value = config["data"][key.as_str()].as_str().unwrap_or_default();
        assert_eq!(
            value.trim_end(),
            script.trim_end(),
            "{key} differs from health.lua"
        );
    }
}
