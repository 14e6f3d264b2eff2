//! `make bench`: the `StsGrant` controller at scale against the floor of the same work.
//!
//! On the control plane named by `KUBECONFIG` and an emulator it starts itself (STS lifetimes
//! scaled so a refresh cycle takes a couple of minutes), the program:
//!
//! 1. sets up the cloud side with the project's client: a role in Account A trusting Account
//!    B, and a few RAM users with AccessKeys in B, referenced by `source.secretRef` Secrets;
//! 2. runs the **floor**: a plain client doing exactly one `AssumeRole` and one Secret create
//!    per grant, with the same concurrency and the same STS budget as the operator;
//! 3. creates N `StsGrant`s across several namespaces, starts the operator (release binary)
//!    and measures the time until every grant is Ready;
//! 4. lets at least `--cycles` refresh cycles pass, watching every Secret the operator writes,
//!    and stops and restarts the operator in the middle of the second cycle: SIGTERM by
//!    default (a rolling update, drain or eviction), SIGKILL with `--restart-signal kill`
//!    (a crash or OOM kill);
//! 5. prints a table and the summary line, and writes a JSON result file and two PNG plots.
//!
//! It is not a test: timing never goes into tests. It knows the operator only from the
//! outside (process, metrics endpoint, objects), like a user would.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use ram_operator::alicloud::policy::TrustPolicy;
use ram_operator::alicloud::ram::{CreateRoleRequest, CreateUserRequest, PolicyType};
use ram_operator::alicloud::sts::AssumeRoleRequest;
use ram_operator::alicloud::{
    Client, ClientConfig, Credentials, Endpoints, RateLimit, RateLimits, StaticProvider,
};
use ram_operator::controller::secrets::{StsSecretInput, sts_secret_data};
use ram_operator::crd::StsGrant;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const ACCOUNT_B: &str = "2222222222222222";
const ROOT_A: (&str, &str) = (
    "LTAI5tAccountARoot0001",
    "emulator-only-fake-secret-account-a",
);
const ROOT_B: (&str, &str) = (
    "LTAI5tAccountBRoot0001",
    "emulator-only-fake-secret-account-b",
);
const ROLE: &str = "bench-rabbitmq-access";
const MANAGER: &str = "ram-operator-bench";
const NEXT_REFRESH: &str = "ram.alicloud.dev/next-refresh-at";
const REFRESHED_AT: &str = "ram.alicloud.dev/refreshed-at";
const EXPIRATION: &str = "ram.alicloud.dev/expiration";

#[derive(Parser, Debug, Clone)]
#[command(about = "Benchmark of the StsGrant controller against the floor of the same work")]
struct Args {
    /// Number of StsGrants.
    #[arg(long, default_value_t = 1000)]
    grants: usize,
    /// Namespaces the grants are spread over.
    #[arg(long, default_value_t = 10)]
    namespaces: usize,
    /// RAM users (AccessKeys) in Account B the grants use as sources.
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// STS budget per source account and second, for the operator (`--sts-qps`) and the floor.
    #[arg(long, default_value_t = 100.0)]
    sts_qps: f64,
    /// Emulator expiry scale: a 900 s token lives 900·F seconds.
    #[arg(long, default_value_t = 0.15)]
    expiry_scale: f64,
    /// Refresh cycles to observe after convergence (every grant refreshed this often).
    #[arg(long, default_value_t = 3)]
    cycles: usize,
    /// Concurrency of the floor; 0 = unbounded. The default is the operator's limit of
    /// concurrent `StsGrant` reconciles.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The operator binary (a release build).
    #[arg(long, default_value = "target/release/ram-operator")]
    operator_bin: PathBuf,
    /// Where the JSON result and the plots go.
    #[arg(long, default_value = "bench-results")]
    out_dir: PathBuf,
    /// Skip the stop-and-restart of the operator.
    #[arg(long)]
    no_restart: bool,
    /// How the operator is stopped before the restart.
    #[arg(long, value_enum, default_value_t = StopSignal::Term)]
    restart_signal: StopSignal,
    /// Run the operator over every namespace (the chart's default) instead of one
    /// `--namespace` per bench namespace.
    #[arg(long)]
    cluster_wide: bool,
    /// Extra flags for `ram-operator run` (repeatable), e.g. `--operator-flag=--resync-interval=5m`.
    #[arg(long = "operator-flag", allow_hyphen_values = true)]
    operator_flags: Vec<String>,
}

/// How the bench stops the operator mid-cycle.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum StopSignal {
    /// SIGTERM, as the kubelet sends on a rollout, drain or eviction: running reconciles
    /// finish before the process exits.
    Term,
    /// SIGKILL, as a crash or an OOM kill: work in flight is lost.
    Kill,
}

impl StopSignal {
    fn name(self) -> &'static str {
        match self {
            Self::Term => "SIGTERM",
            Self::Kill => "SIGKILL",
        }
    }
}

/// What the watches and the sampler see, shared between tasks.
#[derive(Default)]
struct Observed {
    /// First time each grant was Ready=True (seconds since the operator started).
    ready_at: HashMap<String, f64>,
    /// The latest version of each operator-written Secret.
    secrets: HashMap<String, SecretView>,
    /// Refreshes after the first issue of each Secret.
    refreshes: Vec<RefreshRecord>,
    /// Refreshes per Secret.
    refresh_count: HashMap<String, usize>,
    /// Moments (sample x Secret) a Secret held expired credentials.
    expired_samples: usize,
    samples: Vec<Sample>,
}

#[derive(Clone)]
struct SecretView {
    refreshed_at: Timestamp,
    next_refresh: Timestamp,
    expiration: Timestamp,
}

#[derive(Clone, serde::Serialize)]
struct RefreshRecord {
    /// Seconds since the bench's clock started, when the watch delivered the new Secret.
    at_s: f64,
    /// New Secret seen minus the planned refresh time of the previous one.
    lateness_s: f64,
    /// `refreshed-at` (start of the refresh, before AssumeRole) minus the planned time.
    start_lateness_s: f64,
    /// When the refresh started (`refreshed-at`), on the bench's clock.
    started_s: f64,
}

#[derive(Clone, Default, serde::Serialize)]
struct Sample {
    at_s: f64,
    ready: usize,
    assume_role_total: u64,
    assume_per_s: f64,
    rss_kib: u64,
    cpu_s: f64,
    expired: usize,
}

fn since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

fn key(namespace: Option<&str>, name: Option<&str>) -> String {
    format!(
        "{}/{}",
        namespace.unwrap_or_default(),
        name.unwrap_or_default()
    )
}

fn parse_time(annotations: &BTreeMap<String, String>, key: &str) -> Option<Timestamp> {
    annotations.get(key)?.parse().ok()
}

// ------------------------------------------------------------------------------------------
// Processes

struct Proc {
    child: Child,
}

impl Proc {
    fn spawn(
        program: &Path,
        args: &[String],
        log: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<Proc> {
        let file = std::fs::File::create(log)?;
        let err = file.try_clone()?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .kill_on_drop(true)
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        Ok(Proc { child })
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `grace`).
    async fn terminate(&mut self, grace: Duration) -> anyhow::Result<()> {
        let pid = self.pid().context("the process has exited")?;
        let status = Command::new("kill")
            .args(["-s", "TERM", &pid.to_string()])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -s TERM {pid} failed");
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            eprintln!("bench: the process did not exit {grace:?} after SIGTERM, killing it");
            self.kill().await;
        }
        Ok(())
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_http_ok(http: &reqwest::Client, url: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer in {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resident set (VmRSS), its peak (VmHWM) in KiB and CPU seconds (user + system) of a process.
fn proc_stats(pid: u32) -> Option<(u64, u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse::<u64>().ok())
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux ABI Rust targets.
    Some((field("VmRSS:")?, field("VmHWM:")?, ticks as f64 / 100.0))
}

struct Operator {
    proc: Option<Proc>,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    log_dir: PathBuf,
    starts: u32,
    ready_url: String,
    metrics_url: String,
    /// Peak VmHWM over every process, KiB.
    peak_hwm_kib: u64,
    /// CPU seconds of processes that have ended.
    cpu_done_s: f64,
    last_cpu_s: f64,
}

impl Operator {
    async fn start(&mut self, http: &reqwest::Client) -> anyhow::Result<Duration> {
        self.starts += 1;
        let log = self.log_dir.join(format!("operator-{}.log", self.starts));
        let started = Instant::now();
        self.proc = Some(Proc::spawn(&self.program, &self.args, &log, &self.env)?);
        wait_http_ok(http, &self.ready_url, Duration::from_secs(120)).await?;
        Ok(started.elapsed())
    }

    fn sample(&mut self) -> Option<(u64, f64)> {
        let pid = self.proc.as_ref()?.pid()?;
        let (rss, hwm, cpu) = proc_stats(pid)?;
        self.peak_hwm_kib = self.peak_hwm_kib.max(hwm);
        self.last_cpu_s = cpu;
        Some((rss, self.cpu_done_s + cpu))
    }

    async fn kill(&mut self) {
        // SIGKILL cannot fail to stop the process.
        let _ = self.stop(StopSignal::Kill).await;
    }

    /// Stops the process with `signal`; the time from the signal to its exit.
    async fn stop(&mut self, signal: StopSignal) -> anyhow::Result<Duration> {
        // A /proc read after exit finds nothing: the CPU counted is the last sample's.
        self.sample();
        let started = Instant::now();
        if let Some(mut proc) = self.proc.take() {
            match signal {
                StopSignal::Kill => proc.kill().await,
                StopSignal::Term => proc.terminate(Duration::from_secs(60)).await?,
            }
        }
        self.cpu_done_s += self.last_cpu_s;
        self.last_cpu_s = 0.0;
        Ok(started.elapsed())
    }
}

// ------------------------------------------------------------------------------------------
// Kubernetes helpers

async fn install_crds(client: &kube::Client) -> anyhow::Result<()> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir("crds").context("reading crds/ (run from the repository root)")?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let crd: CustomResourceDefinition =
                serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
            let name = crd.metadata.name.clone().unwrap_or_default();
            api.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await?;
            names.push(name);
        }
    }
    for name in names {
        let established = kube::runtime::wait::await_condition(
            api.clone(),
            &name,
            kube::runtime::wait::conditions::is_crd_established(),
        );
        tokio::time::timeout(Duration::from_secs(60), established)
            .await
            .context("CRD not established")??;
    }
    Ok(())
}

async fn create_namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let api = Api::<Namespace>::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    api.create(&PostParams::default(), &namespace).await?;
    Ok(())
}

/// Requests the API server counted, per `VERB resource[/subresource]`, from its `/metrics`.
async fn apiserver_requests(client: &kube::Client) -> anyhow::Result<BTreeMap<String, f64>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut writes = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split("\",")
                .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let verb = label("verb");
        let mut resource = label("resource");
        let subresource = label("subresource");
        if !subresource.is_empty() {
            resource = format!("{resource}/{subresource}");
        }
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        *writes.entry(format!("{verb} {resource}")).or_insert(0.0) += value;
    }
    Ok(writes)
}

fn delta(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

// ------------------------------------------------------------------------------------------
// Emulator helpers

async fn assume_role_total(http: &reqwest::Client, url: &str) -> anyhow::Result<(u64, u64)> {
    let calls: Value = http
        .get(format!("{url}/_emulator/calls"))
        .send()
        .await?
        .json()
        .await?;
    let totals = &calls["totals"];
    let count = |action: &str| -> (u64, u64) {
        let map = totals[action].as_object().cloned().unwrap_or_default();
        let success = map.get("Success").and_then(Value::as_u64).unwrap_or(0);
        let all = map.values().filter_map(Value::as_u64).sum();
        (success, all)
    };
    Ok(count("AssumeRole"))
}

fn cloud_client(url: &str, sts_qps: f64) -> anyhow::Result<Client> {
    Ok(Client::new(ClientConfig {
        endpoints: Endpoints::all(url.parse()?),
        allow_insecure: true,
        rate_limits: RateLimits {
            sts: RateLimit::per_second(sts_qps),
            ..RateLimits::default()
        },
        ..ClientConfig::default()
    })?)
}

/// A role in A trusting B, `users` RAM users with AccessKeys in B; returns the role ARN and
/// the (id, secret) pairs.
async fn setup_cloud(
    cloud: &Client,
    users: usize,
) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let a = StaticProvider::access_key(ROOT_A.0, ROOT_A.1);
    let role = cloud
        .ram(&a)
        .create_role(&CreateRoleRequest {
            role_name: ROLE.into(),
            assume_role_policy_document: TrustPolicy::for_accounts(&[ACCOUNT_B]).to_json(),
            max_session_duration: Some(3600),
            ..CreateRoleRequest::default()
        })
        .await?;
    cloud
        .ram(&a)
        .attach_policy_to_role(PolicyType::System, "AliyunAMQPFullAccess", ROLE)
        .await?;
    let b = StaticProvider::access_key(ROOT_B.0, ROOT_B.1);
    let mut keys = Vec::new();
    for i in 0..users {
        let user = format!("bench-app-{i}");
        cloud
            .ram(&b)
            .create_user(&CreateUserRequest {
                user_name: user.clone(),
                ..CreateUserRequest::default()
            })
            .await?;
        cloud
            .ram(&b)
            .attach_policy_to_user(PolicyType::System, "AliyunSTSAssumeRoleAccess", &user)
            .await?;
        let key = cloud.ram(&b).create_access_key(Some(&user)).await?;
        keys.push((
            key.access_key_id.clone(),
            key.access_key_secret.expose().to_string(),
        ));
    }
    Ok((role.arn, keys))
}

// ------------------------------------------------------------------------------------------
// The floor

struct FloorResult {
    seconds: f64,
    /// Completion time of each grant's Secret, seconds since the floor started (sorted).
    done_at: Vec<f64>,
}

async fn run_floor(
    kube: &kube::Client,
    cloud: &Client,
    namespaces: &[String],
    role_arn: &str,
    keys: &[(String, String)],
    args: &Args,
) -> anyhow::Result<FloorResult> {
    let providers: Vec<StaticProvider> = keys
        .iter()
        .map(|(id, secret)| {
            StaticProvider::new(
                Credentials::access_key(id.clone(), secret.clone()).with_account_id(ACCOUNT_B),
            )
        })
        .collect();
    let concurrency = if args.concurrency == 0 {
        args.grants
    } else {
        args.concurrency
    };
    let start = Instant::now();
    let mut done_at: Vec<f64> = futures::stream::iter(0..args.grants)
        .map(|i| {
            let namespace = &namespaces[i % namespaces.len()];
            let provider = &providers[i % providers.len()];
            async move {
                let request = AssumeRoleRequest {
                    role_arn: role_arn.to_string(),
                    role_session_name: format!("{namespace}.g-{i}"),
                    duration_seconds: Some(900),
                    policy: None,
                    external_id: None,
                    source_identity: None,
                };
                let response = cloud.sts(provider).assume_role(&request).await?;
                let credentials = &response.credentials;
                let data = sts_secret_data(
                    &StsSecretInput {
                        access_key_id: &credentials.access_key_id,
                        access_key_secret: credentials.access_key_secret.expose(),
                        security_token: credentials.security_token.expose(),
                        expiration: credentials.expires_at().unwrap_or_else(Timestamp::now),
                        region: "cn-hangzhou",
                    },
                    false,
                );
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(format!("g-{i}")),
                        ..ObjectMeta::default()
                    },
                    type_: Some("Opaque".into()),
                    data: Some(data),
                    ..Secret::default()
                };
                Api::<Secret>::namespaced(kube.clone(), namespace)
                    .create(&PostParams::default(), &secret)
                    .await?;
                anyhow::Ok(since(start))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    done_at.sort_by(f64::total_cmp);
    Ok(FloorResult {
        seconds: since(start),
        done_at,
    })
}

// ------------------------------------------------------------------------------------------
// Watches and sampling

fn spawn_watches(
    kube: &kube::Client,
    observed: Arc<Mutex<Observed>>,
    clock: Instant,
    operator_t0: Arc<Mutex<Option<Instant>>>,
) {
    let grants = Api::<StsGrant>::all(kube.clone());
    let grant_observed = observed.clone();
    tokio::spawn(async move {
        let stream = watcher::watcher(grants, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            let grant = match event {
                Ok(Event::Apply(grant) | Event::InitApply(grant)) => grant,
                _ => continue,
            };
            let ready = grant.status.as_ref().is_some_and(|status| {
                status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            });
            if ready {
                let t0 = *operator_t0.lock().expect("lock");
                let Some(t0) = t0 else { continue };
                let k = key(
                    grant.metadata.namespace.as_deref(),
                    grant.metadata.name.as_deref(),
                );
                let mut observed = grant_observed.lock().expect("lock");
                observed.ready_at.entry(k).or_insert_with(|| since(t0));
            }
        }
    });
    let secrets = Api::<Secret>::all(kube.clone());
    tokio::spawn(async move {
        let config = watcher::Config::default().labels("app.kubernetes.io/managed-by=ram-operator");
        let stream = watcher::watcher(secrets, config).default_backoff();
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            let secret = match event {
                Ok(Event::Apply(secret) | Event::InitApply(secret)) => secret,
                _ => continue,
            };
            let seen = Timestamp::now();
            let annotations = secret.metadata.annotations.clone().unwrap_or_default();
            let (Some(refreshed_at), Some(next_refresh), Some(expiration)) = (
                parse_time(&annotations, REFRESHED_AT),
                parse_time(&annotations, NEXT_REFRESH),
                parse_time(&annotations, EXPIRATION),
            ) else {
                continue;
            };
            let k = key(
                secret.metadata.namespace.as_deref(),
                secret.metadata.name.as_deref(),
            );
            let view = SecretView {
                refreshed_at,
                next_refresh,
                expiration,
            };
            let mut observed = observed.lock().expect("lock");
            let previous = observed.secrets.insert(k.clone(), view);
            if let Some(previous) = previous
                && previous.refreshed_at != refreshed_at
            {
                let seconds = |d: jiff::SignedDuration| d.as_secs_f64();
                observed.refreshes.push(RefreshRecord {
                    at_s: since(clock),
                    lateness_s: seconds(seen.duration_since(previous.next_refresh)),
                    start_lateness_s: seconds(refreshed_at.duration_since(previous.next_refresh)),
                    started_s: since(clock) - seconds(seen.duration_since(refreshed_at)),
                });
                *observed.refresh_count.entry(k).or_insert(0) += 1;
            }
        }
    });
}

/// Samples once a second: AssumeRole rate at the emulator, operator RSS and CPU, Ready count,
/// Secrets holding expired credentials.
struct Sampler {
    last_total: u64,
    last_at: Instant,
    observed: Arc<Mutex<Observed>>,
    clock: Instant,
}

impl Sampler {
    fn sample(&mut self, operator: &mut Operator, assume_total: u64) {
        let now = Instant::now();
        let per_s = (assume_total.saturating_sub(self.last_total)) as f64
            / now.duration_since(self.last_at).as_secs_f64().max(1e-3);
        self.last_total = assume_total;
        self.last_at = now;
        let (rss, cpu) = operator.sample().unwrap_or((0, operator.cpu_done_s));
        let wall = Timestamp::now();
        let mut observed = self.observed.lock().expect("lock");
        let expired = observed
            .secrets
            .values()
            .filter(|s| s.expiration <= wall)
            .count();
        observed.expired_samples += expired;
        let ready = observed.ready_at.len();
        observed.samples.push(Sample {
            at_s: since(self.clock),
            ready,
            assume_role_total: assume_total,
            assume_per_s: per_s,
            rss_kib: rss,
            cpu_s: cpu,
            expired,
        });
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ------------------------------------------------------------------------------------------
// Plots

fn register_font() -> bool {
    let candidates = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"];
    let path = std::env::var("BENCH_FONT").ok().or_else(|| {
        candidates
            .iter()
            .find(|p| Path::new(p).exists())
            .map(|p| p.to_string())
    });
    let Some(bytes) = path.and_then(|p| std::fs::read(p).ok()) else {
        return false;
    };
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes).is_ok()
}

fn plot_ready(path: &Path, n: usize, operator: &[f64], floor: &[f64]) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let x_max = operator
        .last()
        .copied()
        .unwrap_or(1.0)
        .max(floor.last().copied().unwrap_or(1.0))
        * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{n} StsGrants: Ready over time"),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..(n as f64 * 1.05))?;
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc("grants")
        .draw()?;
    let series = |times: &[f64]| -> Vec<(f64, f64)> {
        let mut points = vec![(0.0, 0.0)];
        points.extend(times.iter().enumerate().map(|(i, t)| (*t, (i + 1) as f64)));
        points
    };
    chart
        .draw_series(LineSeries::new(series(operator), BLUE.stroke_width(2)))?
        .label("operator: grants Ready")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(series(floor), RED.stroke_width(2)))?
        .label("floor: AssumeRole + Secret create done")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}

fn plot_lateness(
    path: &Path,
    n: usize,
    refreshes: &[RefreshRecord],
    restart: Option<(f64, StopSignal)>,
) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let x_min = refreshes.first().map(|r| r.at_s).unwrap_or(0.0) - 5.0;
    let x_max = refreshes.last().map(|r| r.at_s).unwrap_or(1.0) + 5.0;
    let y_max = refreshes
        .iter()
        .map(|r| r.lateness_s)
        .fold(1.0_f64, f64::max)
        * 1.1;
    let y_min = refreshes
        .iter()
        .map(|r| r.lateness_s)
        .fold(0.0_f64, f64::min)
        - 0.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{n} StsGrants: refresh lateness (Secret written - planned time)"),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_min..x_max, y_min..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since bench start")
        .y_desc("lateness, s")
        .draw()?;
    chart
        .draw_series(
            refreshes
                .iter()
                .map(|r| Circle::new((r.at_s, r.lateness_s), 2, BLUE.filled())),
        )?
        .label("one refresh")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, BLUE.filled()));
    if let Some((at, signal)) = restart {
        chart
            .draw_series(LineSeries::new(
                vec![(at, y_min), (at, y_max)],
                RED.stroke_width(2),
            ))?
            .label(format!(
                "operator stopped ({}) and restarted",
                signal.name()
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}

// ------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.grants == 0 || args.namespaces == 0 || args.users == 0 {
        bail!("--grants, --namespaces and --users must be positive");
    }
    let clock = Instant::now();
    let run_id = format!("{:x}", Timestamp::now().as_second() % 0xffffff);
    let log_dir = std::env::temp_dir().join(format!("ram-operator-bench-{run_id}"));
    std::fs::create_dir_all(&log_dir)?;
    std::fs::create_dir_all(&args.out_dir)?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let kube = kube::Client::try_default()
        .await
        .context("connecting to the control plane (KUBECONFIG)")?;
    install_crds(&kube).await?;
    eprintln!("bench: run {run_id}, logs in {}", log_dir.display());

    // Emulator.
    let emulator_port = free_port()?;
    let emulator_url = format!("http://127.0.0.1:{emulator_port}");
    let mut emulator = Proc::spawn(
        &args.operator_bin,
        &[
            "emulator".into(),
            "--listen".into(),
            format!("127.0.0.1:{emulator_port}"),
            "--accounts".into(),
            "examples/emulator-accounts.yaml".into(),
            "--expiry-scale".into(),
            args.expiry_scale.to_string(),
        ],
        &log_dir.join("emulator.log"),
        &[("RUST_LOG", "warn".into())],
    )?;
    wait_http_ok(
        &http,
        &format!("{emulator_url}/_emulator/health"),
        Duration::from_secs(30),
    )
    .await?;
    let cloud = cloud_client(&emulator_url, args.sts_qps)?;
    let (role_arn, keys) = setup_cloud(&cloud, args.users).await?;

    // Namespaces: the operator's, and the floor's.
    let names: Vec<String> = (0..args.namespaces)
        .map(|i| format!("bench-{run_id}-{i}"))
        .collect();
    let floor_names: Vec<String> = (0..args.namespaces)
        .map(|i| format!("bench-{run_id}-floor-{i}"))
        .collect();
    for name in names.iter().chain(&floor_names) {
        create_namespace(&kube, name).await?;
    }
    for namespace in &names {
        let api = Api::<Secret>::namespaced(kube.clone(), namespace);
        for (i, (id, secret)) in keys.iter().enumerate() {
            let source = Secret {
                metadata: ObjectMeta {
                    name: Some(format!("source-{i}")),
                    ..ObjectMeta::default()
                },
                string_data: Some(BTreeMap::from([
                    ("AccessKeyId".to_string(), id.clone()),
                    ("AccessKeySecret".to_string(), secret.clone()),
                ])),
                ..Secret::default()
            };
            api.create(&PostParams::default(), &source).await?;
        }
    }

    // 1. The floor.
    eprintln!(
        "bench: floor: {} x (AssumeRole + Secret create) at {} STS calls/s",
        args.grants, args.sts_qps
    );
    let floor = run_floor(&kube, &cloud, &floor_names, &role_arn, &keys, &args).await?;
    eprintln!("bench: floor done in {:.2} s", floor.seconds);

    // 2. The grants, created while no operator runs, so the operator's time is its own.
    let created = Instant::now();
    futures::stream::iter(0..args.grants)
        .map(|i| {
            let kube = kube.clone();
            let namespace = names[i % names.len()].clone();
            let role_arn = role_arn.clone();
            let source = format!("source-{}", (i / names.len()) % keys.len());
            async move {
                let spec = json!({
                    "roleArn": role_arn,
                    "source": {"secretRef": {"name": source}},
                    "durationSeconds": 900,
                });
                let grant = StsGrant::new(&format!("g-{i}"), serde_json::from_value(spec)?);
                Api::<StsGrant>::namespaced(kube, &namespace)
                    .create(&PostParams::default(), &grant)
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;
    eprintln!(
        "bench: {} grants created in {:.1} s",
        args.grants,
        created.elapsed().as_secs_f64()
    );

    let observed = Arc::new(Mutex::new(Observed::default()));
    let operator_t0: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    spawn_watches(&kube, observed.clone(), clock, operator_t0.clone());

    // 3. The operator.
    let metrics_port = free_port()?;
    let health_port = free_port()?;
    let mut op_args: Vec<String> = vec!["run".into()];
    if !args.cluster_wide {
        for namespace in &names {
            op_args.extend(["--namespace".into(), namespace.clone()]);
        }
    }
    op_args.extend(
        [
            "--cluster-name",
            "bench",
            "--ram-endpoint",
            &emulator_url,
            "--ims-endpoint",
            &emulator_url,
            "--sts-endpoint",
            &emulator_url,
            "--allow-insecure-endpoints",
            "--sts-qps",
            &args.sts_qps.to_string(),
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--health-addr",
            &format!("127.0.0.1:{health_port}"),
        ]
        .map(String::from),
    );
    op_args.extend(args.operator_flags.iter().cloned());
    let kubeconfig = std::env::var("KUBECONFIG").context("KUBECONFIG")?;
    let mut operator = Operator {
        proc: None,
        program: args.operator_bin.clone(),
        args: op_args,
        env: vec![
            ("KUBECONFIG", kubeconfig),
            (
                "RUST_LOG",
                std::env::var("BENCH_OPERATOR_LOG").unwrap_or_else(|_| "info".into()),
            ),
        ],
        log_dir: log_dir.clone(),
        starts: 0,
        ready_url: format!("http://127.0.0.1:{health_port}/readyz"),
        metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
        peak_hwm_kib: 0,
        cpu_done_s: 0.0,
        last_cpu_s: 0.0,
    };
    let t0 = Instant::now();
    *operator_t0.lock().expect("lock") = Some(t0);
    let ready_after = operator.start(&http).await?;
    eprintln!(
        "bench: operator ready after {:.2} s",
        ready_after.as_secs_f64()
    );

    // Sampling every second until the end, on this task (the operator handle lives here).
    let budget = args.sts_qps;
    let mut sampler = Sampler {
        // The floor's calls are not the operator's.
        last_total: assume_role_total(&http, &emulator_url).await?.1,
        last_at: Instant::now(),
        observed: observed.clone(),
        clock,
    };

    // Convergence.
    let deadline = Instant::now() + Duration::from_secs(1800);
    let converge_s = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ready = observed.lock().expect("lock").ready_at.len();
        if ready >= args.grants {
            let observed = observed.lock().expect("lock");
            break observed.ready_at.values().copied().fold(0.0, f64::max);
        }
        if Instant::now() > deadline {
            bail!("only {ready} of {} grants Ready after 30 min", args.grants);
        }
        if sampler.last_at.elapsed() >= Duration::from_secs(1) {
            let total = assume_role_total(&http, &emulator_url).await?.1;
            sampler.sample(&mut operator, total);
        }
    };
    let converge_cpu = operator.sample().map(|s| s.1).unwrap_or_default();
    eprintln!(
        "bench: all {} grants Ready after {converge_s:.2} s (floor {:.2} s)",
        args.grants, floor.seconds
    );

    // 4. Refresh cycles, with a restart in the middle of the second.
    let assume_before = assume_role_total(&http, &emulator_url).await?;
    let requests_before = apiserver_requests(&kube).await?;
    let refreshes_before = observed.lock().expect("lock").refreshes.len();
    let mut stopped_at: Option<f64> = None;
    let mut restart_ready_s = None;
    let mut shutdown_s = None;
    let mut restart_first_refresh_s: Option<f64> = None;
    let mut restart_at_clock = None;
    let cycle_deadline = Instant::now()
        + Duration::from_secs_f64(900.0 * args.expiry_scale * (args.cycles as f64 + 2.0) + 600.0);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let total = assume_role_total(&http, &emulator_url).await?.1;
        sampler.sample(&mut operator, total);
        let (done, refreshes_since) = {
            let observed = observed.lock().expect("lock");
            let done = observed
                .refresh_count
                .values()
                .filter(|c| **c >= args.cycles)
                .count();
            (done, observed.refreshes.len() - refreshes_before)
        };
        if !args.no_restart
            && stopped_at.is_none()
            && refreshes_since >= args.grants + args.grants / 2
        {
            let signal = args.restart_signal;
            eprintln!(
                "bench: {} the operator mid-cycle ({refreshes_since} refreshes so far)",
                signal.name()
            );
            stopped_at = Some(since(clock));
            let stopped = operator.stop(signal).await?;
            shutdown_s = Some(stopped.as_secs_f64());
            eprintln!(
                "bench: operator exited after {:.2} s",
                stopped.as_secs_f64()
            );
            let ready = operator.start(&http).await?;
            restart_ready_s = Some(ready.as_secs_f64());
            restart_at_clock = Some(since(clock) - ready.as_secs_f64());
            eprintln!(
                "bench: operator ready again after {:.2} s",
                ready.as_secs_f64()
            );
        }
        if let (Some(restart_at), None) = (restart_at_clock, restart_first_refresh_s) {
            let observed = observed.lock().expect("lock");
            // A refresh the new process started (not one of the old process landing late).
            restart_first_refresh_s = observed
                .refreshes
                .iter()
                .find(|r| r.started_s >= restart_at)
                .map(|r| r.at_s - restart_at);
        }
        if done >= args.grants {
            break;
        }
        if Instant::now() > cycle_deadline {
            eprintln!(
                "bench: cycle deadline passed with {done} of {} grants at {} refreshes",
                args.grants, args.cycles
            );
            break;
        }
    }
    // Let in-flight writes land before the final counts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let assume_after = assume_role_total(&http, &emulator_url).await?;
    let requests = delta(&apiserver_requests(&kube).await?, &requests_before);
    let is_write = |verb: &str| {
        matches!(
            verb,
            "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE" | "CREATE" | "UPDATE"
        )
    };
    let writes: BTreeMap<String, f64> = requests
        .iter()
        .filter_map(|(k, v)| {
            let (verb, resource) = k.split_once(' ')?;
            is_write(verb).then(|| (resource.to_string(), *v))
        })
        .fold(BTreeMap::new(), |mut map, (k, v)| {
            *map.entry(k).or_insert(0.0) += v;
            map
        });
    let gets = |resource: &str| {
        requests
            .get(&format!("GET {resource}"))
            .copied()
            .unwrap_or(0.0)
    };
    let operator_metrics = http
        .get(&operator.metrics_url)
        .send()
        .await?
        .text()
        .await
        .unwrap_or_default();
    let (_, cpu_total) = operator.sample().unwrap_or_default();
    let rss_peak_mib = operator.peak_hwm_kib as f64 / 1024.0;
    operator.kill().await;
    emulator.kill().await;

    // 5. Figures.
    // The watches keep running into an empty record; the figures use this snapshot.
    let observed = std::mem::take(&mut *observed.lock().expect("lock"));
    let refreshes: Vec<RefreshRecord> = observed.refreshes[refreshes_before..].to_vec();
    let refresh_n = refreshes.len().max(1) as f64;
    let assume_calls = assume_after.1 - assume_before.1;
    let assume_failed = (assume_after.1 - assume_after.0) - (assume_before.1 - assume_before.0);
    let early = refreshes
        .iter()
        .filter(|r| r.start_lateness_s < -0.5)
        .count();
    let unwritten = assume_calls.saturating_sub(refreshes.len() as u64);
    let restart_extra = unwritten + early as u64;
    let assume_per_refresh = assume_calls as f64 / refresh_n;
    let sum = |pred: &dyn Fn(&str) -> bool| {
        writes
            .iter()
            .filter(|(k, _)| pred(k))
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    let secret_writes = sum(&|k| k == "secrets");
    let status_writes = sum(&|k| k.starts_with("stsgrants"));
    let event_writes = sum(&|k| k == "events");
    let writes_per_refresh = (secret_writes + status_writes) / refresh_n;
    let mut lateness: Vec<f64> = refreshes.iter().map(|r| r.lateness_s).collect();
    lateness.sort_by(f64::total_cmp);
    let mut start_lateness: Vec<f64> = refreshes.iter().map(|r| r.start_lateness_s).collect();
    start_lateness.sort_by(f64::total_cmp);
    let mut ready_times: Vec<f64> = observed.ready_at.values().copied().collect();
    ready_times.sort_by(f64::total_cmp);
    let converge_ratio = converge_s / floor.seconds;
    let lifetime = (900.0 * args.expiry_scale).ceil();
    let peak_calls = observed
        .samples
        .iter()
        .map(|s| s.assume_per_s)
        .fold(0.0, f64::max);

    let ready_png = args
        .out_dir
        .join(format!("bench-{}-ready.png", args.grants));
    let lateness_png = args
        .out_dir
        .join(format!("bench-{}-lateness.png", args.grants));
    let font = register_font();
    if font {
        plot_ready(&ready_png, args.grants, &ready_times, &floor.done_at)?;
        plot_lateness(
            &lateness_png,
            args.grants,
            &refreshes,
            stopped_at.map(|at| (at, args.restart_signal)),
        )?;
    } else {
        eprintln!("bench: no TrueType font found (set BENCH_FONT): no plots");
    }

    let rows: Vec<(&str, String)> = vec![
        (
            "grants / namespaces / RAM users",
            format!("{} / {} / {}", args.grants, args.namespaces, args.users),
        ),
        (
            "operator scope",
            if args.cluster_wide {
                "every namespace".to_owned()
            } else {
                format!("--namespace x {}", args.namespaces)
            },
        ),
        (
            "STS budget (--sts-qps, operator and floor)",
            format!("{budget} /s per account"),
        ),
        (
            "token lifetime (900 s x expiry scale)",
            format!("{lifetime} s"),
        ),
        (
            "floor: AssumeRole + Secret create, all",
            format!("{:.2} s", floor.seconds),
        ),
        (
            "operator: start to all Ready",
            format!(
                "{converge_s:.2} s (ready endpoint after {:.2} s)",
                ready_after.as_secs_f64()
            ),
        ),
        (
            "converge ratio operator / floor",
            format!("{converge_ratio:.2}"),
        ),
        (
            "operator CPU until converged",
            format!("{converge_cpu:.2} s"),
        ),
        (
            "refreshes observed (cycles)",
            format!("{} ({} per grant)", refreshes.len(), args.cycles),
        ),
        (
            "AssumeRole calls in the cycles (failed)",
            format!("{assume_calls} ({assume_failed})"),
        ),
        ("AssumeRole per refresh", format!("{assume_per_refresh:.3}")),
        (
            "API writes: Secret / status / Event",
            format!("{secret_writes} / {status_writes} / {event_writes}"),
        ),
        (
            "API writes (Secret + status) per refresh",
            format!("{writes_per_refresh:.2}"),
        ),
        (
            "API GETs per refresh: Secret / StsGrant",
            format!(
                "{:.2} / {:.2}",
                gets("secrets") / refresh_n,
                gets("stsgrants") / refresh_n
            ),
        ),
        (
            "lateness, Secret written (p50 / p99 / max)",
            format!(
                "{:.3} / {:.3} / {:.3} s",
                percentile(&lateness, 50.0),
                percentile(&lateness, 99.0),
                lateness.last().copied().unwrap_or(0.0)
            ),
        ),
        (
            "lateness, refresh started (p50 / p99 / max)",
            format!(
                "{:.3} / {:.3} / {:.3} s",
                percentile(&start_lateness, 50.0),
                percentile(&start_lateness, 99.0),
                start_lateness.last().copied().unwrap_or(0.0)
            ),
        ),
        (
            "expired samples (1/s x every Secret)",
            format!("{}", observed.expired_samples),
        ),
        (
            "operator peak RSS (VmHWM, all processes)",
            format!("{rss_peak_mib:.1} MiB"),
        ),
        ("operator CPU, whole run", format!("{cpu_total:.1} s")),
        (
            "emulator AssumeRole calls/s peak vs budget",
            format!("{peak_calls:.0} / {budget}"),
        ),
        (
            "restart: signal / exit after it",
            format!(
                "{} / {}",
                args.restart_signal.name(),
                shutdown_s.map_or("-".into(), |s| format!("{s:.2} s"))
            ),
        ),
        (
            "restart: ready endpoint / first refresh after",
            format!(
                "{} / {}",
                restart_ready_s.map_or("-".into(), |s| format!("{s:.2} s")),
                restart_first_refresh_s.map_or("-".into(), |s| format!("{s:.2} s"))
            ),
        ),
        (
            "restart: AssumeRole without a Secret / early",
            format!("{unwritten} / {early}"),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!();
    for (label, value) in &rows {
        println!("{label:<width$}  {value}");
    }
    let json_path = args.out_dir.join(format!("bench-{}.json", args.grants));
    let result = json!({
        "args": {
            "grants": args.grants, "namespaces": args.namespaces, "users": args.users,
            "cluster_wide": args.cluster_wide, "restart_signal": args.restart_signal.name(),
            "sts_qps": args.sts_qps, "expiry_scale": args.expiry_scale, "cycles": args.cycles,
            "concurrency": args.concurrency, "operator_flags": args.operator_flags,
        },
        "table": rows.iter().map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "summary": {
            "grants": args.grants, "converge_ratio": converge_ratio, "assume_per_refresh": assume_per_refresh,
            "writes_per_refresh": writes_per_refresh, "lateness_p99_s": percentile(&lateness, 99.0),
            "expired_samples": observed.expired_samples, "rss_mib": rss_peak_mib,
            "restart_extra_assume": restart_extra,
        },
        "floor_s": floor.seconds, "converge_s": converge_s, "operator_ready_s": ready_after.as_secs_f64(),
        "cpu_converge_s": converge_cpu, "cpu_total_s": cpu_total,
        "assume_calls": assume_calls, "assume_failed": assume_failed, "refreshes": refreshes.len(),
        "early_refreshes": early, "assume_without_secret": unwritten,
        "apiserver_writes": writes, "apiserver_requests": requests,
        "lateness_s": {"p50": percentile(&lateness, 50.0), "p99": percentile(&lateness, 99.0), "max": lateness.last()},
        "start_lateness_s": {"p50": percentile(&start_lateness, 50.0), "p99": percentile(&start_lateness, 99.0), "max": start_lateness.last()},
        "restart": {"signal": args.restart_signal.name(), "stopped_at_s": stopped_at, "exit_s": shutdown_s, "ready_s": restart_ready_s, "first_refresh_s": restart_first_refresh_s},
        "emulator_peak_assume_per_s": peak_calls,
        "operator_refresh_lateness_metric": operator_metrics.lines().filter(|l| l.starts_with("ram_operator_refresh_lateness")).collect::<Vec<_>>(),
        "ready_times_s": ready_times, "floor_times_s": floor.done_at,
        "refreshes_detail": refreshes, "samples": observed.samples,
        "plots": [ready_png.display().to_string(), lateness_png.display().to_string()],
    });
    std::fs::write(&json_path, serde_json::to_string_pretty(&result)?)?;
    println!(
        "results: {}, plots: {}, {}",
        json_path.display(),
        ready_png.display(),
        lateness_png.display()
    );

    // Cleanup: the namespaces go in the background.
    for name in names.iter().chain(&floor_names) {
        let _ = Api::<Namespace>::all(kube.clone())
            .delete(name, &DeleteParams::default())
            .await;
    }
    println!(
        "bench grants={} converge_ratio={converge_ratio:.2} assume_per_refresh={assume_per_refresh:.2} writes_per_refresh={writes_per_refresh:.2} lateness_p99_s={:.2} expired_samples={} rss_mib={rss_peak_mib:.1} restart_extra_assume={restart_extra}",
        args.grants,
        percentile(&lateness, 99.0),
        observed.expired_samples,
    );
    Ok(())
}
