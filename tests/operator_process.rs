//! The operator process on the real control plane: it waits for its CRDs, then serves
//! `/livez`, `/readyz` and `/metrics`.

mod support;

use support::e2e::{Emulator, Operator};
use support::{Cluster, TestNamespace, install_crds};

#[tokio::test]
async fn operator_becomes_ready_and_serves_metrics() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let namespace = TestNamespace::create(&cluster, "process").await;
    let emulator = Emulator::start("process", 1.0).await;
    let operator = Operator::start(&cluster, &emulator, &namespace.name, &[]).await;

    let live = reqwest::get(format!("{}/livez", operator.health_url))
        .await
        .expect("livez answers");
    assert!(live.status().is_success());
    let metrics = operator.metrics().await;
    assert!(
        metrics.contains("# TYPE ram_operator_refresh_lateness_seconds histogram"),
        "metrics exposition lacks the refresh lateness histogram:\n{metrics}"
    );
}
