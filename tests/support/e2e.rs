//! End-to-end stage: the emulator and the operator as real processes (the `ram-operator`
//! binary Cargo builds for the integration tests), next to the control plane of the parent
//! module. Each test starts its own emulator and operator on free loopback ports, the
//! operator watching only the test's namespace, so tests do not see each other's objects.
//!
//! Process output goes to files under the target dir; `Operator::logs` returns it so a test
//! can scan it for secrets. Processes are killed when their handle is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::Value;
use tokio::process::{Child, Command};

use super::{Cluster, repo_root, wait_for};

/// The accounts the emulator is started with (`examples/emulator-accounts.yaml`).
pub const ACCOUNT_A: &str = "1111111111111111";
pub const ACCOUNT_B: &str = "2222222222222222";
pub const ACCOUNT_C: &str = "3333333333333333";

/// Root keys of the emulator's accounts, as in `examples/emulator-accounts.yaml`.
pub fn root_key(account: &str) -> (&'static str, &'static str) {
    match account {
        ACCOUNT_A => (
            "LTAI5tAccountARoot0001",
            "emulator-only-fake-secret-account-a",
        ),
        ACCOUNT_B => (
            "LTAI5tAccountBRoot0001",
            "emulator-only-fake-secret-account-b",
        ),
        ACCOUNT_C => (
            "LTAI5tAccountCRoot0001",
            "emulator-only-fake-secret-account-c",
        ),
        other => panic!("no emulator account {other}"),
    }
}

/// The `ram-operator` binary under test.
pub fn binary() -> PathBuf {
    std::env::var_os("RAM_OPERATOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ram-operator")))
}

/// A free TCP port on 127.0.0.1 (released before use; the small race is acceptable here).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

fn log_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-logs");
    std::fs::create_dir_all(&dir).expect("create the e2e log dir");
    dir
}

fn spawn_logged(program: &Path, args: &[String], log: &Path, envs: &[(&str, &str)]) -> Child {
    let file = std::fs::File::create(log).expect("create a log file");
    let err = file.try_clone().expect("clone the log file handle");
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .kill_on_drop(true)
        // The legacy proxies must not capture loopback traffic.
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy");
    for (name, value) in envs {
        command.env(name, value);
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()))
}

/// A running emulator.
pub struct Emulator {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub log: PathBuf,
    http: reqwest::Client,
}

impl Emulator {
    /// Starts the emulator with the example accounts; `expiry_scale` shortens STS lifetimes.
    pub async fn start(name: &str, expiry_scale: f64) -> Emulator {
        let port = free_port();
        let accounts = repo_root().join("examples/emulator-accounts.yaml");
        let log = log_dir().join(format!("{name}-emulator.log"));
        let args = vec![
            "emulator".to_string(),
            "--listen".to_string(),
            format!("127.0.0.1:{port}"),
            "--accounts".to_string(),
            accounts.display().to_string(),
            "--expiry-scale".to_string(),
            expiry_scale.to_string(),
        ];
        let child = spawn_logged(&binary(), &args, &log, &[]);
        let emulator = Emulator {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            http: reqwest::Client::new(),
        };
        let health = format!("{}/_emulator/health", emulator.url);
        let http = emulator.http.clone();
        wait_for("the emulator to serve", Duration::from_secs(30), || {
            let http = http.clone();
            let health = health.clone();
            async move {
                match http.get(&health).send().await {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(format!("health answered {}", response.status())),
                    Err(error) => Err(error.to_string()),
                }
            }
        })
        .await;
        emulator
    }

    async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .and_then(|response| response.error_for_status())
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
    }

    /// `GET /_emulator/state`.
    pub async fn state(&self) -> Value {
        self.get_json("/_emulator/state").await
    }

    /// `GET /_emulator/calls`.
    pub async fn calls(&self) -> Value {
        self.get_json("/_emulator/calls").await
    }

    /// `DELETE /_emulator/calls`: counts start again from zero.
    pub async fn reset_calls(&self) {
        self.send(reqwest::Method::DELETE, "/_emulator/calls", None)
            .await;
    }

    /// `POST /_emulator/faults` with `{"faults": rules}`.
    pub async fn set_faults(&self, rules: Value) {
        self.send(
            reqwest::Method::POST,
            "/_emulator/faults",
            Some(serde_json::json!({ "faults": rules })),
        )
        .await;
    }

    /// `DELETE /_emulator/faults`.
    pub async fn clear_faults(&self) {
        self.send(reqwest::Method::DELETE, "/_emulator/faults", None)
            .await;
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
            .send()
            .await
            .and_then(|response| response.error_for_status())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    }

    /// The emulator's process id (to kill it in fault tests).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Operator handles started by this test binary, numbering their log files.
static INSTANCES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A running `ram-operator run`, watching one namespace, pointed at an emulator.
pub struct Operator {
    child: Option<Child>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    name: String,
    starts: u32,
    /// Log of the current process.
    pub log: PathBuf,
    /// Logs of earlier processes (after restarts).
    pub earlier_logs: Vec<PathBuf>,
    pub metrics_url: String,
    pub health_url: String,
}

impl Operator {
    /// Starts the operator for `namespace` against `emulator`; `extra` flags are appended.
    pub async fn start(
        cluster: &Cluster,
        emulator: &Emulator,
        namespace: &str,
        extra: &[&str],
    ) -> Operator {
        Self::start_with_kubeconfig(emulator, namespace, extra, &cluster.kubeconfig).await
    }

    /// [`Operator::start`] with another kubeconfig, e.g. one holding a ServiceAccount token to
    /// run the operator with exactly that account's permissions.
    pub async fn start_with_kubeconfig(
        emulator: &Emulator,
        namespace: &str,
        extra: &[&str],
        kubeconfig: &Path,
    ) -> Operator {
        let operator = Self::launch_with_kubeconfig(emulator, namespace, extra, kubeconfig);
        operator.wait_ready().await;
        operator
    }

    /// [`Operator::start_with_kubeconfig`] without waiting for readiness, for tests in which
    /// the operator may never become ready (e.g. it lacks a permission it needs to start).
    pub fn launch_with_kubeconfig(
        emulator: &Emulator,
        namespace: &str,
        extra: &[&str],
        kubeconfig: &Path,
    ) -> Operator {
        let metrics_port = free_port();
        let health_port = free_port();
        let mut args: Vec<String> = [
            "run",
            "--namespace",
            namespace,
            "--cluster-name",
            "e2e",
            "--ram-endpoint",
            &emulator.url,
            "--ims-endpoint",
            &emulator.url,
            "--sts-endpoint",
            &emulator.url,
            "--allow-insecure-endpoints",
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--health-addr",
            &format!("127.0.0.1:{health_port}"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let envs = vec![
            ("KUBECONFIG".to_string(), kubeconfig.display().to_string()),
            (
                "RUST_LOG".to_string(),
                std::env::var("RAM_OPERATOR_TEST_LOG")
                    .unwrap_or_else(|_| "info,ram_operator=debug".into()),
            ),
        ];
        let mut operator = Operator {
            child: None,
            args,
            envs,
            // Several operators may watch one namespace (leader election): one log each.
            name: format!(
                "{namespace}-{}",
                INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            starts: 0,
            log: PathBuf::new(),
            earlier_logs: Vec::new(),
            metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
            health_url: format!("http://127.0.0.1:{health_port}"),
        };
        operator.spawn_process();
        operator
    }

    fn spawn_process(&mut self) {
        self.starts += 1;
        if self.starts > 1 {
            self.earlier_logs.push(self.log.clone());
        }
        self.log = log_dir().join(format!("{}-operator-{}.log", self.name, self.starts));
        let envs: Vec<(&str, &str)> = self
            .envs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.child = Some(spawn_logged(&binary(), &self.args, &self.log, &envs));
    }

    async fn wait_ready(&self) {
        let ready = format!("{}/readyz", self.health_url);
        wait_for("the operator to be ready", Duration::from_secs(60), || {
            let ready = ready.clone();
            async move {
                match reqwest::get(&ready).await {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(format!("readyz answered {}", response.status())),
                    Err(error) => Err(error.to_string()),
                }
            }
        })
        .await;
    }

    /// Kills the operator with SIGKILL (no cleanup, as a crash).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// The operator's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Sends `signal` (a `kill -s` name such as `TERM`) to the operator process.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().expect("the operator is running");
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {signal} {pid} failed");
    }

    /// Waits up to `timeout` for the process to exit by itself; its exit status, or `None`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let status = tokio::time::timeout(timeout, child.wait())
            .await
            .ok()?
            .ok()?;
        self.child = None;
        Some(status)
    }

    /// Starts the operator again with the same flags (after [`Operator::kill`]).
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn_process();
        self.wait_ready().await;
    }

    /// Starts the operator again with `extra` flags added to its own (after [`Operator::kill`]).
    pub async fn restart_with(&mut self, extra: &[&str]) {
        self.args.extend(extra.iter().map(|s| s.to_string()));
        self.restart().await;
    }

    /// The exit status if the process has ended by itself, without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Everything every operator process of this handle has logged so far.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for path in self.earlier_logs.iter().chain(std::iter::once(&self.log)) {
            text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        text
    }

    /// The Prometheus exposition.
    pub async fn metrics(&self) -> String {
        reqwest::get(&self.metrics_url)
            .await
            .and_then(|response| response.error_for_status())
            .unwrap_or_else(|e| panic!("GET /metrics: {e}"))
            .text()
            .await
            .unwrap_or_default()
    }
}

/// Creates the seed's credential Secrets (`account-a-credentials`, `account-b-credentials`)
/// in `namespace`, filled with the emulator's root keys.
pub async fn create_account_credentials(cluster: &Cluster, namespace: &str) {
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    for (name, account) in [
        ("account-a-credentials", ACCOUNT_A),
        ("account-b-credentials", ACCOUNT_B),
        ("account-c-credentials", ACCOUNT_C),
    ] {
        let (id, secret) = root_key(account);
        let object = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
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
        };
        secrets
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("create Secret {namespace}/{name}: {e}"));
    }
}

/// Runs the official SDK in a fresh process with `env` (and HOME `home`), as a pod would.
pub async fn sdk_caller_identity(
    endpoint: &str,
    home: &std::path::Path,
    env: &[(&str, String)],
) -> serde_json::Value {
    let venv = std::process::Command::new(repo_root().join("scripts/venv.sh"))
        .output()
        .expect("scripts/venv.sh runs");
    assert!(venv.status.success(), "scripts/venv.sh failed");
    let python =
        std::path::PathBuf::from(String::from_utf8_lossy(&venv.stdout).trim()).join("bin/python");
    let mut command = tokio::process::Command::new(python);
    command
        .arg(repo_root().join("tests/interop/sdk_caller_identity.py"))
        .arg(endpoint)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.expect("run the SDK script");
    assert!(
        output.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("the script prints JSON")
}

/// Applies `examples/seed/` in `namespace` (all but `00-credentials.yaml`, whose placeholders
/// [`create_account_credentials`] replaces with the emulator's keys) and waits until every
/// object of it is Ready.
pub async fn apply_seed_and_wait_ready(cluster: &Cluster, namespace: &str) {
    for file in [
        "10-account-a-role.yaml",
        "20-account-b-user.yaml",
        "30-grant.yaml",
        "40-console-user.yaml",
    ] {
        let path = repo_root().join("examples/seed").join(file);
        cluster
            .kubectl(&["apply", "-n", namespace, "-f", &path.display().to_string()])
            .await
            .expect_success(&format!("apply {file}"));
    }
    for object in [
        "crossaccountrole/rabbitmq-access",
        "ramuser/rabbitmq-app",
        "ramuser/alice",
        "stsgrant/rabbitmq-app",
    ] {
        cluster
            .kubectl(&[
                "wait",
                "--for=condition=Ready",
                object,
                "-n",
                namespace,
                "--timeout=120s",
            ])
            .await
            .expect_success(&format!("{object} becomes Ready"));
    }
}
