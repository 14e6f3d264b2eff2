//! The controllers: one per kind, plus what they share (context, errors, credentials of an
//! object, Secret rendering, refresh schedule). Knows nothing of HTTP signing: every cloud
//! call goes through [`crate::alicloud`].

pub mod args;
pub mod context;
pub mod error;
pub mod identity;
pub mod initial_list;
pub mod latest;
pub mod leader;
pub mod schedule;
pub mod secrets;

pub use args::RunArgs;
pub use context::{Context, FIELD_MANAGER, Settings};
pub use error::Error;

pub mod cross_account_role;
pub mod ram_user;
pub mod sts_grant;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::runtime::events::Reporter;
use kube::runtime::wait::{Condition as _, conditions};

use crate::alicloud::{
    self, CallEvent, CallObserver, ChainProvider, ClientConfig, Endpoints, RateLimit, RateLimits,
    SharedCredentialsProvider,
};
use crate::metrics::Metrics;
use crate::server::{self, Readiness};

/// The namespaces a controller watches: every namespace, or each of a list.
#[derive(Clone, Debug)]
pub enum Scope {
    All,
    Namespace(String),
}

impl Scope {
    /// The scopes selected by `--namespace` (none given: all namespaces).
    pub fn from_namespaces(namespaces: &[String]) -> Vec<Self> {
        if namespaces.is_empty() {
            vec![Self::All]
        } else {
            namespaces.iter().cloned().map(Self::Namespace).collect()
        }
    }

    /// An `Api` of `K` over this scope.
    pub fn api<K>(&self, client: &kube::Client) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match self {
            Self::All => Api::all(client.clone()),
            Self::Namespace(namespace) => Api::namespaced(client.clone(), namespace),
        }
    }
}

/// Reports every cloud call attempt to Prometheus.
struct MetricsObserver(Metrics);

impl CallObserver for MetricsObserver {
    fn on_attempt(&self, event: &CallEvent<'_>) {
        self.0.cloud_call(
            event.service.name(),
            event.action,
            event.code,
            event.duration,
        );
    }
}

/// Runs the operator until SIGTERM / SIGINT: health and metrics endpoints, then (as leader,
/// when `--leader-election` is on) the three controllers over every watched namespace.
///
/// Shutdown: on SIGTERM or SIGINT the controllers stop taking work (each one also listens for
/// the signal through `Controller::shutdown_on_signal` and lets running reconciles finish), the
/// Lease is released so a standby takes over at once, and the process exits 0. Losing the Lease
/// returns an error, so the process exits non-zero and is restarted as a standby.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.log_format);
    let shutdown = ShutdownSignal::install()?;
    let metrics = Metrics::new();
    let readiness = Readiness::default();
    tokio::spawn(serve_or_log(
        "health",
        args.health_addr,
        server::health_router(readiness.clone()),
    ));
    tokio::spawn(serve_or_log(
        "metrics",
        args.metrics_addr,
        server::metrics_router(metrics.clone()),
    ));

    let kube = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes (in-cluster config or KUBECONFIG)")?;
    let cloud = alicloud::Client::new(cloud_config(&args, &metrics)?)
        .context("configuring the Alibaba Cloud client")?;
    let default_credentials = args
        .default_credentials
        .then(|| Arc::new(ChainProvider::default_chain(&cloud)) as SharedCredentialsProvider);
    let reporter = Reporter {
        controller: FIELD_MANAGER.to_string(),
        instance: std::env::var("POD_NAME").ok(),
    };

    tokio::select! {
        waited = wait_for_crds(&kube) => waited?,
        () = shutdown.wait() => {
            tracing::info!("shutdown requested while waiting for CRDs, exiting");
            return Ok(());
        }
    }
    let scopes = Scope::from_namespaces(&args.namespaces);
    // Asked once the CRDs exist: the probe watches StsGrants in the first scope.
    let grants = scopes[0].api::<crate::crd::StsGrant>(&kube);
    let initial_list = initial_list::resolve(args.initial_list, &grants).await;
    let settings = Settings {
        cluster_name: args.cluster_name.clone(),
        default_credentials,
        resync_interval: args.resync_interval,
        region: if args.region.is_empty() {
            DEFAULT_REGION.to_string()
        } else {
            args.region.clone()
        },
        initial_list,
    };
    let ctx = Arc::new(Context::new(
        kube.clone(),
        cloud,
        settings,
        reporter,
        metrics,
    ));

    let mut leadership = if args.leader_election {
        // A standby replica is ready: it can take over at any moment, and a rollout of several
        // replicas must not wait for a leadership that only one of them can have.
        readiness.set_ready();
        let config = leader::ElectionConfig {
            namespace: args.leader_election_namespace.clone(),
            lease_name: args.leader_election_lease_name.clone(),
            identity: leader::default_identity(),
            lease_duration: args.leader_election_lease_duration,
        };
        tokio::select! {
            acquired = leader::acquire(&kube, &config) => Some(acquired?),
            () = shutdown.wait() => {
                tracing::info!("shutdown requested while standing by, exiting");
                return Ok(());
            }
        }
    } else {
        None
    };
    tracing::info!(namespaces = ?args.namespaces, cluster = %args.cluster_name, "starting controllers");

    let mut controllers: Vec<BoxFuture<'static, ()>> = Vec::new();
    for scope in scopes {
        controllers.push(Box::pin(cross_account_role::run(
            ctx.clone(),
            scope.clone(),
        )));
        controllers.push(Box::pin(ram_user::run(ctx.clone(), scope.clone())));
        controllers.push(Box::pin(sts_grant::run(ctx.clone(), scope)));
    }
    let mut controllers = std::pin::pin!(futures::future::join_all(controllers));
    readiness.set_ready();

    let lease_lost = async {
        match leadership.as_mut() {
            Some(leadership) => leadership.lost().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = &mut controllers => tracing::info!("controllers stopped"),
        reason = lease_lost => {
            // Returning drops the controllers mid-flight: a process that cannot prove it leads
            // must not write another thing (see `leader`). The error exits the process non-zero.
            tracing::error!(%reason, "lost leadership, exiting");
            anyhow::bail!("lost leadership: {reason}");
        }
        () = shutdown.wait() => {
            tracing::info!(timeout = ?args.shutdown_timeout, "shutdown requested, waiting for running reconciles");
            if tokio::time::timeout(args.shutdown_timeout, &mut controllers).await.is_err() {
                tracing::warn!("controllers did not stop in time, exiting anyway");
            }
        }
    }
    if let Some(leadership) = leadership {
        leadership.release().await;
    }
    tracing::info!("exiting");
    Ok(())
}

/// SIGTERM (what the kubelet sends) or SIGINT (Ctrl-C), as a future any task can await.
#[derive(Clone)]
struct ShutdownSignal(tokio::sync::watch::Receiver<bool>);

impl ShutdownSignal {
    /// Registers the signal handlers now, so a signal that arrives during start-up is not lost.
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate =
            signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let (sender, receiver) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "received shutdown signal");
            let _ = sender.send(true);
        });
        Ok(Self(receiver))
    }

    /// Resolves once a signal has arrived.
    async fn wait(&self) {
        let mut receiver = self.0.clone();
        // An error means the sender task is gone, which only happens after it sent.
        let _ = receiver.wait_for(|received| *received).await;
    }
}

/// Region written into rendered CLI profiles when `--region` is not set.
pub const DEFAULT_REGION: &str = "cn-hangzhou";

fn cloud_config(args: &RunArgs, metrics: &Metrics) -> anyhow::Result<ClientConfig> {
    let parse = |name: &str, url: &str| {
        reqwest::Url::parse(url).with_context(|| format!("--{name}-endpoint {url:?} is not a URL"))
    };
    Ok(ClientConfig {
        endpoints: Endpoints {
            ram: parse("ram", &args.ram_endpoint)?,
            ims: parse("ims", &args.ims_endpoint)?,
            sts: parse("sts", &args.effective_sts_endpoint())?,
        },
        allow_insecure: args.allow_insecure_endpoints,
        rate_limits: RateLimits {
            ram: RateLimit::per_second(args.ram_qps),
            ims: RateLimit::per_second(args.ram_qps),
            sts: RateLimit::per_second(args.sts_qps),
        },
        observer: Some(Arc::new(MetricsObserver(metrics.clone()))),
        ..ClientConfig::default()
    })
}

/// How long to wait before reading a missing or not yet established CRD again.
const CRD_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Waits until the three CRDs are installed and established, so the controllers' watches do
/// not fail in a loop on a cluster where the chart's CRDs are still being applied.
///
/// Each CRD is read by name until it is established, rather than watched: a watch needs list
/// and watch on CRDs, and its watch request is only made when a CRD is not yet established, so
/// no test of the chart's RBAC could show that permission is needed. A GET by name needs `get`
/// alone, restricted to the three names, and is made at every start. Any error ends the wait
/// (as the watch did): a refused read does not fix itself.
async fn wait_for_crds(kube: &kube::Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(kube.clone());
    let established = conditions::is_crd_established();
    for name in ["crossaccountroles", "ramusers", "stsgrants"] {
        let full_name = format!("{name}.{}", crate::crd::GROUP);
        tracing::info!(crd = %full_name, "waiting for CRD to be established");
        loop {
            let crd = crds
                .get_opt(&full_name)
                .await
                .with_context(|| format!("waiting for CRD {full_name}"))?;
            if established.matches_object(crd.as_ref()) {
                break;
            }
            tokio::time::sleep(CRD_POLL_INTERVAL).await;
        }
    }
    Ok(())
}

async fn serve_or_log(what: &'static str, addr: std::net::SocketAddr, router: axum::Router) {
    if let Err(error) = server::serve(addr, router).await {
        tracing::error!(%error, %addr, "{what} endpoint failed");
        // Without health endpoints the pod would be killed anyway; exit with a clear reason.
        std::process::exit(1);
    }
}

/// The smallest requeue delay, so a deadline in the past cannot make a controller spin.
pub const MIN_REQUEUE: Duration = Duration::from_secs(1);
