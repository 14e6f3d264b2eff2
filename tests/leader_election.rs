//! Leader election and graceful shutdown of the real operator process on the real control
//! plane: of two replicas exactly one holds the Lease and runs the controllers; when it dies
//! the other takes over; SIGTERM releases the Lease and exits 0; a leader that loses its Lease
//! exits non-zero.

mod support;

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};
use support::e2e::{Emulator, Operator};
use support::{Cluster, TEST_MANAGER, TestNamespace, install_crds, wait_for};

const LEASE: &str = "ram-operator";
/// Short, so that a takeover after a crash is quick; generous enough for a busy machine.
const LEASE_DURATION: &str = "6s";

fn election_flags(namespace: &str) -> Vec<String> {
    [
        "--leader-election",
        "--leader-election-namespace",
        namespace,
        "--leader-election-lease-duration",
        LEASE_DURATION,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn start(cluster: &Cluster, emulator: &Emulator, namespace: &str) -> Operator {
    let flags = election_flags(namespace);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Operator::start(cluster, emulator, namespace, &flags).await
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE)
        .await
        .ok()
        .flatten()
        .and_then(|lease| lease.spec)
        .and_then(|spec| spec.holder_identity)
        .filter(|holder| !holder.is_empty())
}

/// `text` without ANSI colour sequences (plain logs are coloured).
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip to the final byte of the CSI sequence.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The identity an operator logged when it acquired the Lease, if it did.
fn acquired_identity(logs: &str) -> Option<String> {
    strip_ansi(logs)
        .lines()
        .find(|line| line.contains("acquired leadership"))
        .and_then(|line| line.split("identity=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
}

fn runs_controllers(operator: &Operator) -> bool {
    operator.logs().contains("starting controllers")
}

#[tokio::test]
async fn one_leader_reconciles_and_a_standby_takes_over() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let namespace = TestNamespace::create(&cluster, "leader").await;
    let emulator = Emulator::start("leader", 1.0).await;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &namespace.name);

    let mut first = start(&cluster, &emulator, &namespace.name).await;
    let mut second = start(&cluster, &emulator, &namespace.name).await;

    let leader_identity = wait_for("a Lease holder", Duration::from_secs(60), || async {
        holder(&leases).await.ok_or("no holder yet")
    })
    .await;
    // Exactly one of the two logged the identity that holds the Lease and started controllers.
    let leader_index = wait_for(
        "one operator to report leadership",
        Duration::from_secs(60),
        || {
            let first_id = acquired_identity(&first.logs());
            let second_id = acquired_identity(&second.logs());
            let leader_identity = leader_identity.clone();
            async move {
                match (first_id, second_id) {
                    (Some(id), None) if id == leader_identity => Ok(1),
                    (None, Some(id)) if id == leader_identity => Ok(2),
                    seen => Err(format!(
                        "acquired: {seen:?}, Lease holder {leader_identity}"
                    )),
                }
            }
        },
    )
    .await;
    let (leader, standby) = if leader_index == 1 {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };
    wait_for(
        "the leader to start its controllers",
        Duration::from_secs(30),
        || async {
            runs_controllers(leader)
                .then_some(())
                .ok_or("no 'starting controllers' yet")
        },
    )
    .await;
    // Two renewals later the standby still waits and the holder has not changed.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(
        !runs_controllers(standby),
        "the standby started controllers while the leader held the Lease:\n{}",
        standby.logs()
    );
    assert_eq!(
        holder(&leases).await.as_deref(),
        Some(leader_identity.as_str())
    );
    let standby_ready = reqwest::get(format!("{}/readyz", standby.health_url))
        .await
        .expect("standby readyz answers");
    assert!(
        standby_ready.status().is_success(),
        "a standby is ready, so rollouts of several replicas complete"
    );

    // A crash (SIGKILL: nothing released): the standby takes over once the Lease expires.
    leader.kill().await;
    let new_holder = wait_for(
        "the standby to take the Lease",
        Duration::from_secs(60),
        || async {
            match holder(&leases).await {
                Some(holder) if holder != leader_identity => Ok(holder),
                seen => Err(format!("holder {seen:?}")),
            }
        },
    )
    .await;
    assert_eq!(acquired_identity(&standby.logs()), Some(new_holder.clone()));
    wait_for(
        "the new leader to start its controllers",
        Duration::from_secs(30),
        || async {
            runs_controllers(standby)
                .then_some(())
                .ok_or("no 'starting controllers' yet")
        },
    )
    .await;

    // SIGTERM: controllers stop, the Lease is released, exit status 0.
    standby.signal("TERM");
    let status = standby
        .wait_exit(Duration::from_secs(60))
        .await
        .expect("the operator exits after SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let logs = standby.logs();
    assert!(logs.contains("released the Lease"), "{logs}");
    let after = holder(&leases).await;
    assert_ne!(
        after.as_deref(),
        Some(new_holder.as_str()),
        "the Lease is released on shutdown"
    );
}

#[tokio::test]
async fn a_leader_that_loses_its_lease_exits() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let namespace = TestNamespace::create(&cluster, "leader-lost").await;
    let emulator = Emulator::start("leader-lost", 1.0).await;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &namespace.name);

    let mut operator = start(&cluster, &emulator, &namespace.name).await;
    wait_for("leadership", Duration::from_secs(60), || async {
        runs_controllers(&operator)
            .then_some(())
            .ok_or("not leading yet")
    })
    .await;

    // Someone else takes the Lease (as a replica on the other side of a partition would).
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(jiff::Timestamp::now());
    let patch = serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "spec": {
            "holderIdentity": "someone-else",
            "acquireTime": now,
            "renewTime": now,
            "leaseDurationSeconds": 3600,
        }
    });
    leases
        .patch(
            LEASE,
            &PatchParams::apply(TEST_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .expect("take the Lease");

    let status = operator
        .wait_exit(Duration::from_secs(60))
        .await
        .expect("the operator exits when it loses the Lease");
    assert!(
        !status.success(),
        "exit status after losing the Lease: {status}"
    );
    let logs = operator.logs();
    assert!(logs.contains("lost leadership"), "{logs}");
}
