//! The operator process on the real control plane: it waits for its CRDs, then serves
//! `/livez`, `/readyz` and `/metrics`.

mod support;

use kube::Api;
use kube::api::{ApiResource, DynamicObject};
use ram_operator::controller::initial_list::{InitialList, ListStrategy, resolve};
use ram_operator::crd::StsGrant;
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

#[tokio::test]
async fn initial_lists_stream_where_the_api_server_serves_them() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let namespace = TestNamespace::create(&cluster, "initial-list").await;
    let grants: Api<StsGrant> = Api::namespaced(cluster.client.clone(), &namespace.name);
    // This API server (1.37) serves `WatchList`: `auto` streams; explicit choices are kept.
    assert_eq!(
        resolve(InitialList::Auto, &grants).await,
        ListStrategy::Stream
    );
    assert_eq!(
        resolve(InitialList::Page, &grants).await,
        ListStrategy::Page
    );
    // A probe the API server refuses (here: a collection that does not exist, 404) pages.
    let missing: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &namespace.name,
        &ApiResource {
            plural: "nosuchkinds".into(),
            ..ApiResource::erase::<StsGrant>(&())
        },
    );
    assert_eq!(
        resolve(InitialList::Auto, &missing).await,
        ListStrategy::Page
    );
}
