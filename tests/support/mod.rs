//! Test support for everything that runs against the real control plane started by
//! `scripts/envtest.sh start`: connect from `KUBECONFIG`, one namespace per test, the CRDs
//! installed once per test binary, polling with a deadline, and the real `kubectl`.
//!
//! A test that needs the control plane fails (never skips) with a message saying how to start
//! it. Nothing here knows the operator's reconcilers; this module only sets the stage.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod e2e;
pub mod release;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

/// What to run when there is no control plane.
pub const START_HINT: &str = "no control plane: run `eval \"$(scripts/envtest.sh start)\"` first (it exports KUBECONFIG and \
     puts the matching kubectl on PATH)";

/// Field manager of everything the tests apply themselves.
pub const TEST_MANAGER: &str = "ram-operator-tests";

/// Generous deadlines: the machine is shared, tests assert behaviour, not speed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The root of the repository (for `crds/`, `examples/`).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A connection to the test control plane.
#[derive(Clone)]
pub struct Cluster {
    /// Client for the plane (bound to the calling test's tokio runtime).
    pub client: Client,
    /// The kubeconfig file it came from, handed to `kubectl`.
    pub kubeconfig: PathBuf,
}

impl Cluster {
    /// Connects to the plane named by `KUBECONFIG` and checks that it answers. Panics with
    /// [`START_HINT`] when `KUBECONFIG` is unset or the API server does not answer.
    pub async fn connect() -> Cluster {
        let kubeconfig = match std::env::var_os("KUBECONFIG") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => panic!("KUBECONFIG is not set. {START_HINT}"),
        };
        let loaded = Kubeconfig::read_from(&kubeconfig).unwrap_or_else(|e| {
            panic!(
                "cannot read KUBECONFIG={}: {e}. {START_HINT}",
                kubeconfig.display()
            )
        });
        let config = Config::from_custom_kubeconfig(loaded, &KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| {
                panic!("bad kubeconfig {}: {e}. {START_HINT}", kubeconfig.display())
            });
        let server = config.cluster_url.clone();
        let client = Client::try_from(config)
            .unwrap_or_else(|e| panic!("cannot build a client for {server}: {e}. {START_HINT}"));
        match tokio::time::timeout(Duration::from_secs(20), client.apiserver_version()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("the API server at {server} does not answer: {e}. {START_HINT}"),
            Err(_) => panic!("the API server at {server} did not answer in 20s. {START_HINT}"),
        }
        Cluster { client, kubeconfig }
    }

    /// Runs the `kubectl` on PATH against this cluster.
    pub async fn kubectl(&self, args: &[&str]) -> KubectlOutput {
        kubectl_run(&self.kubeconfig, args, None).await
    }

    /// Runs `kubectl` with `stdin` as its standard input (for `-f -`).
    pub async fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> KubectlOutput {
        kubectl_run(&self.kubeconfig, args, Some(stdin)).await
    }
}

/// What a `kubectl` run printed and how it ended.
#[derive(Debug, Clone)]
pub struct KubectlOutput {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Exit code, if it exited normally.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl KubectlOutput {
    /// Panics with both outputs unless the command succeeded; returns stdout.
    pub fn expect_success(&self, what: &str) -> &str {
        assert!(
            self.success,
            "{what} failed (exit {:?})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        &self.stdout
    }
}

async fn kubectl_run(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> KubectlOutput {
    let mut command = tokio::process::Command::new("kubectl");
    command
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run kubectl from PATH: {e}. {START_HINT}"));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("writing kubectl's stdin: {e}"));
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in 120s"))
        .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"));
    KubectlOutput {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A namespace of its own for one test, deleted (best effort, without waiting) on drop.
pub struct TestNamespace {
    pub name: String,
    kubeconfig: PathBuf,
}

impl TestNamespace {
    /// Creates `<prefix>-<random>`; the prefix says which test made it.
    pub async fn create(cluster: &Cluster, prefix: &str) -> TestNamespace {
        let prefix: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{}-{}", prefix.trim_matches('-'), &suffix[..8]);
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("ram.alicloud.dev/test".to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(cluster.client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        TestNamespace {
            name,
            kubeconfig: cluster.kubeconfig.clone(),
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may already be shutting down: a plain
        // kubectl call that does not wait for finalization is the sturdy way to clean up.
        let _ = std::process::Command::new("kubectl")
            .args([
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ])
            .env("KUBECONFIG", &self.kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The CRDs installed once per test binary. Only the outcome is cached: a `Client` is tied to
/// the runtime of the test that made it, and every `#[tokio::test]` has its own runtime.
static CRDS_INSTALLED: OnceCell<()> = OnceCell::const_new();

/// Applies every file in `crds/` (server-side apply) and waits until each CRD is Established.
pub async fn install_crds(cluster: &Cluster) {
    CRDS_INSTALLED
        .get_or_init(|| async {
            let crds = read_crd_dir(&repo_root().join("crds"));
            let api = Api::<CustomResourceDefinition>::all(cluster.client.clone());
            let params = PatchParams::apply(TEST_MANAGER).force();
            for crd in &crds {
                let name = crd.metadata.name.clone().unwrap_or_default();
                api.patch(&name, &params, &Patch::Apply(crd))
                    .await
                    .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
            }
            for crd in &crds {
                let name = crd.metadata.name.clone().unwrap_or_default();
                wait_for(
                    &format!("CRD {name} Established"),
                    DEFAULT_TIMEOUT,
                    || async {
                        let current = api.get(&name).await.map_err(|e| e.to_string())?;
                        let established = current
                            .status
                            .and_then(|s| s.conditions)
                            .unwrap_or_default()
                            .iter()
                            .any(|c| c.type_ == "Established" && c.status == "True");
                        if established {
                            Ok(())
                        } else {
                            Err("not Established yet".to_owned())
                        }
                    },
                )
                .await;
            }
        })
        .await;
}

fn read_crd_dir(dir: &Path) -> Vec<CustomResourceDefinition> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no CRD files in {}", dir.display());
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            serde_yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not a CRD: {e}", path.display()))
        })
        .collect()
}

/// Polls `check` until it returns `Ok`, and returns that value. `Err` means "not yet" and says
/// what was seen; after `timeout` the test fails with `description` and the last observation.
pub async fn wait_for<T, E, F, Fut>(description: &str, timeout: Duration, mut check: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut interval = Duration::from_millis(100);
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(observation) => observation.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {description}; last seen: {last}");
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_secs(2));
    }
}
