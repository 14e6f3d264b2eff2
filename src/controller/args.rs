//! The flags of `ram-operator run`. Every flag is also an environment variable, so the Helm
//! chart can set them either way.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::initial_list::InitialList;
use crate::telemetry::LogFormat;

/// Flags of the operator process.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Namespace to watch; repeat for several. Default: every namespace.
    #[arg(
        long = "namespace",
        env = "RAM_OPERATOR_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,

    /// Name of this cluster, part of the ownership tag put on every cloud object
    /// (`<cluster-name>/<namespace>/<kind>/<name>`). Must be unique among the clusters that
    /// manage the same Alibaba Cloud accounts.
    #[arg(long, env = "RAM_OPERATOR_CLUSTER_NAME", default_value = "default")]
    pub cluster_name: String,

    /// Region of the STS endpoint when `--sts-endpoint` is not given
    /// (`https://sts.<region>.aliyuncs.com`); empty means the global `sts.aliyuncs.com`.
    #[arg(long, env = "RAM_OPERATOR_REGION", default_value = "")]
    pub region: String,

    /// RAM API endpoint.
    #[arg(
        long,
        env = "RAM_OPERATOR_RAM_ENDPOINT",
        default_value = "https://ram.aliyuncs.com"
    )]
    pub ram_endpoint: String,

    /// IMS API endpoint.
    #[arg(
        long,
        env = "RAM_OPERATOR_IMS_ENDPOINT",
        default_value = "https://ims.aliyuncs.com"
    )]
    pub ims_endpoint: String,

    /// STS API endpoint; default derived from `--region`.
    #[arg(long, env = "RAM_OPERATOR_STS_ENDPOINT")]
    pub sts_endpoint: Option<String>,

    /// Accept plain `http://` endpoints. Only for the local emulator: credentials would
    /// otherwise travel unencrypted.
    #[arg(long, env = "RAM_OPERATOR_ALLOW_INSECURE_ENDPOINTS")]
    pub allow_insecure_endpoints: bool,

    /// Let resources without `spec.credentialsRef` use the operator's own identity
    /// (environment variables, or RRSA). Off by default: every resource then has to name the
    /// credentials it acts with.
    #[arg(long, env = "RAM_OPERATOR_DEFAULT_CREDENTIALS")]
    pub default_credentials: bool,

    /// Client-side budget of STS calls per second and source account, shared by all grants
    /// (STS allows about 100 per second per account; half is left for the workloads).
    #[arg(long, env = "RAM_OPERATOR_STS_QPS", default_value_t = 50.0)]
    pub sts_qps: f64,

    /// Client-side budget of RAM and IMS calls per second and account.
    #[arg(long, env = "RAM_OPERATOR_RAM_QPS", default_value_t = 10.0)]
    pub ram_qps: f64,

    /// Period of the drift check of every object, jittered by up to 10 %.
    #[arg(long, env = "RAM_OPERATOR_RESYNC_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub resync_interval: Duration,

    /// How watches fetch the existing objects when they start: `stream` (Kubernetes'
    /// `WatchList`, one object at a time), `page` (lists of 500) or `auto`, which asks the API
    /// server once and streams where it can.
    #[arg(long, env = "RAM_OPERATOR_INITIAL_LIST", value_enum, default_value_t = InitialList::Auto)]
    pub initial_list: InitialList,

    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(
        long,
        env = "RAM_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_addr: SocketAddr,

    /// Address of the `/livez` and `/readyz` endpoints.
    #[arg(long, env = "RAM_OPERATOR_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    pub health_addr: SocketAddr,

    /// Run only while holding a Lease, so that several replicas can run for availability.
    #[arg(long, env = "RAM_OPERATOR_LEADER_ELECTION")]
    pub leader_election: bool,

    /// Namespace of the leader-election Lease; default the operator's own (`POD_NAMESPACE`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub leader_election_namespace: String,

    /// Name of the leader-election Lease; the replicas of one installation share it.
    #[arg(
        long,
        env = "RAM_OPERATOR_LEADER_ELECTION_LEASE_NAME",
        default_value = "ram-operator"
    )]
    pub leader_election_lease_name: String,

    /// How long the Lease stays valid without renewal: the longest a crashed leader blocks a
    /// standby replica. The holder renews a third of it before expiry.
    #[arg(
        long,
        env = "RAM_OPERATOR_LEADER_ELECTION_LEASE_DURATION",
        default_value = "15s",
        value_parser = parse_duration
    )]
    pub leader_election_lease_duration: Duration,

    /// How long to wait, after SIGTERM or SIGINT, for running reconciles to finish before
    /// exiting anyway; keep it below the pod's `terminationGracePeriodSeconds`.
    #[arg(
        long,
        env = "RAM_OPERATOR_SHUTDOWN_TIMEOUT",
        default_value = "20s",
        value_parser = parse_duration
    )]
    pub shutdown_timeout: Duration,

    /// Log line format.
    #[arg(long, env = "RAM_OPERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,
}

impl RunArgs {
    /// The STS endpoint in force: the flag, else the regional host, else the global one.
    pub fn effective_sts_endpoint(&self) -> String {
        match (&self.sts_endpoint, self.region.as_str()) {
            (Some(endpoint), _) => endpoint.clone(),
            (None, "") => "https://sts.aliyuncs.com".to_string(),
            (None, region) => format!("https://sts.{region}.aliyuncs.com"),
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::crd::parse_go_duration(text).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Harness {
        #[command(flatten)]
        args: RunArgs,
    }

    #[test]
    fn sts_endpoint_follows_the_region() {
        let args = Harness::parse_from(["x", "--region", "cn-hangzhou"]).args;
        assert_eq!(
            args.effective_sts_endpoint(),
            "https://sts.cn-hangzhou.aliyuncs.com"
        );
        let args = Harness::parse_from(["x"]).args;
        assert_eq!(args.effective_sts_endpoint(), "https://sts.aliyuncs.com");
        let args = Harness::parse_from(["x", "--sts-endpoint", "http://127.0.0.1:1"]).args;
        assert_eq!(args.effective_sts_endpoint(), "http://127.0.0.1:1");
    }

    #[test]
    fn namespaces_repeat_or_split_on_commas() {
        let args = Harness::parse_from(["x", "--namespace", "a", "--namespace", "b,c"]).args;
        assert_eq!(args.namespaces, ["a", "b", "c"]);
    }
}
