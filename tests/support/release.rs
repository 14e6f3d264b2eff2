//! An installed chart release and a kubeconfig that acts as its ServiceAccount, for the tests
//! that run the operator with exactly the chart's RBAC. The manifest comes from the caller
//! (rendered by `helm template`, possibly edited), so this module knows nothing of Helm.

use std::path::{Path, PathBuf};

use super::{Cluster, KubectlOutput, TestNamespace};

/// An applied release and a token kubeconfig of its ServiceAccount. The release namespace goes
/// with the [`TestNamespace`]; the cluster-scoped objects are deleted on drop.
pub struct Release {
    /// Release name, `<prefix>-<random>`.
    pub name: String,
    /// Release namespace (ServiceAccount, Lease).
    pub ops: TestNamespace,
    /// Token kubeconfig of the ServiceAccount.
    pub kubeconfig: PathBuf,
    pub cluster: Cluster,
}

impl Release {
    /// Creates the release namespace, applies `render(release name, release namespace)` with
    /// server-side apply, and makes a token kubeconfig of the release's ServiceAccount.
    pub async fn install(
        cluster: &Cluster,
        prefix: &str,
        render: impl FnOnce(&str, &str) -> String,
    ) -> Release {
        let ops = TestNamespace::create(cluster, &format!("{prefix}-ops")).await;
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{prefix}-{}", &suffix[..6]);
        let manifest = render(&name, &ops.name);
        cluster
            .kubectl_stdin(
                &[
                    "apply",
                    "--server-side",
                    "--field-manager",
                    "chart-test",
                    "-f",
                    "-",
                ],
                &manifest,
            )
            .await
            .expect_success("kubectl apply --server-side of the rendered chart");
        let token = cluster
            .kubectl(&[
                "create",
                "token",
                &Self::account(&name),
                "-n",
                &ops.name,
                "--duration",
                "1h",
            ])
            .await
            .expect_success("kubectl create token")
            .trim()
            .to_string();
        let kubeconfig = token_kubeconfig(&cluster.kubeconfig, &token, &name);
        Release {
            name,
            ops,
            kubeconfig,
            cluster: cluster.clone(),
        }
    }

    /// The chart's ServiceAccount (and Lease) name for `release`.
    pub fn account(release: &str) -> String {
        format!("{release}-ram-operator")
    }

    /// kubectl as the ServiceAccount.
    pub async fn kubectl(&self, args: &[&str]) -> KubectlOutput {
        let kubeconfig = self.kubeconfig.display().to_string();
        let mut full = vec!["--kubeconfig", kubeconfig.as_str()];
        full.extend_from_slice(args);
        self.cluster.kubectl(&full).await
    }

    /// `kubectl auth can-i` as the ServiceAccount: yes or no.
    pub async fn can_i(&self, args: &[&str]) -> bool {
        let mut full = vec!["auth", "can-i"];
        full.extend_from_slice(args);
        let output = self.kubectl(&full).await;
        match output.stdout.trim() {
            "yes" => true,
            "no" => false,
            other => panic!("can-i {args:?}: {other:?} {}", output.stderr),
        }
    }

    /// The operator flags for leader election on the release's Lease, as the chart sets them.
    pub fn lease_flags(&self) -> Vec<String> {
        [
            "--leader-election",
            "--leader-election-namespace",
            &self.ops.name,
            "--leader-election-lease-name",
            &Self::account(&self.name),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        // Cluster-scoped objects do not go with the namespaces.
        let _ = std::process::Command::new("kubectl")
            .args([
                "delete",
                "clusterrole,clusterrolebinding",
                "-l",
                &format!("app.kubernetes.io/instance={}", self.name),
                "--wait=false",
                "--ignore-not-found",
            ])
            .env("KUBECONFIG", &self.cluster.kubeconfig)
            .output();
        let _ = std::fs::remove_file(&self.kubeconfig);
    }
}

/// A copy of `admin` (the test cluster's kubeconfig) that authenticates with `token` only.
fn token_kubeconfig(admin: &Path, token: &str, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(admin).expect("read the test kubeconfig");
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).expect("kubeconfig YAML");
    config["users"] = serde_yaml::from_str(&format!(
        "- name: service-account\n  user:\n    token: {token}\n"
    ))
    .expect("users YAML");
    for context in config["contexts"]
        .as_sequence_mut()
        .expect("kubeconfig contexts")
    {
        context["context"]["user"] = "service-account".into();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chart-kubeconfigs");
    std::fs::create_dir_all(&dir).expect("kubeconfig dir");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, serde_yaml::to_string(&config).expect("YAML")).expect("write");
    path
}

/// The lines of an operator log that report a refused request.
pub fn forbidden_lines(logs: &str) -> Vec<&str> {
    logs.lines()
        .filter(|line| line.contains("forbidden") || line.contains("Forbidden"))
        .collect()
}
