//! The chart's RBAC is the least the operator needs. The rules of the rendered chart (every
//! Role and ClusterRole) are split into single permissions, one (API group, resource or
//! subresource, verb) each, a rule's `resourceNames` kept with it. For every permission the
//! chart is installed with exactly that one left out, and the operator runs as the release's
//! ServiceAccount through a scenario that does everything it does: wait for its CRDs, take the
//! Lease, reconcile the seed (a role, two users, a grant), restart a Deployment, a StatefulSet
//! and a DaemonSet after the grant's refresh, pick up an edit of the grant, and repeat a
//! Warning so that the Event becomes a series. A run stops at the first refused request in
//! the operator's log, or when the operator exits; it counts only if the API server refused
//! exactly the permission left out (a step that merely never completes proves nothing about
//! it). A permission without which everything still works is not needed, and the test names
//! it.
//!
//! The permissions come from the rendered manifests, so a rule added to the chart later is
//! covered by this test without a change here, and fails it unless something needs the rule.
//! A control run with every permission (the split rules, none left out) must pass the whole
//! scenario with no refused request: it shows that the split rules grant what the chart
//! grants and that the scenario itself works.
//!
//! The chart is rendered with its defaults (ClusterRoles for the workload rules); with
//! `watchNamespaces` the same template (`ram-operator.workloadRules`) fills one Role per
//! namespace instead.

mod chart;
mod support;

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use ram_operator::crd::{CrossAccountRole, RamUser, StsGrant};
use serde_yaml::Value;

use support::e2e::{Emulator, Operator, create_account_credentials};
use support::release::{Release, forbidden_lines};
use support::{Cluster, TestNamespace, install_crds, repo_root};

/// Scenarios at once: each runs an emulator, an operator and a few kubectl processes, and four
/// keep a two-core machine busy without starving the API server.
const CONCURRENCY: usize = 4;

/// The longest wait for one step of the scenario; only a run that does not break waits this
/// long, so it is generous for a loaded machine.
const STEP_TIMEOUT: Duration = Duration::from_secs(90);

/// Stands for the release name in entry names, which differ per run.
const RELEASE: &str = "<release>";

/// The workloads the grant restarts: one of each kind `rollout.targets` supports.
const WORKLOAD_KINDS: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];
const WORKLOAD: &str = "consumer";

/// A grant whose source Secret does not exist: every retry fails with the same Warning, which
/// the operator's Recorder turns into an Event series (a patch of the first Event).
const FAILING_GRANT: &str = "missing-source";

/// One permission at the finest grain RBAC knows.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// `ClusterRole` or `Role`.
    kind: String,
    /// The object's name, the release name replaced by [`RELEASE`].
    role: String,
    /// Position of the rule it comes from in the object's `rules`.
    rule: usize,
    api_group: String,
    /// `resource` or `resource/subresource`.
    resource: String,
    verb: String,
    /// The rule's `resourceNames`, the release name replaced by [`RELEASE`].
    resource_names: Vec<String>,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.api_group.is_empty() {
            "core"
        } else {
            &self.api_group
        };
        write!(
            f,
            "{} {} rule {}: {} {group}/{}",
            self.kind, self.role, self.rule, self.verb, self.resource
        )?;
        if !self.resource_names.is_empty() {
            write!(f, " {:?}", self.resource_names)?;
        }
        Ok(())
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|item| {
            item.as_str()
                .unwrap_or_else(|| panic!("a string in an RBAC rule, not {item:?}"))
                .to_string()
        })
        .collect()
}

fn is_role(object: &Value) -> bool {
    matches!(chart::kind(object), "Role" | "ClusterRole")
}

/// The permissions of `rule` (of `object`, rendered for `release`), one per group, resource
/// and verb.
fn split_rule(object: &Value, index: usize, rule: &Value, release: &str) -> Vec<Entry> {
    // Non-resource URLs are for ClusterRoles of API paths (/healthz, ...), which the operator
    // never calls; this splitting does not handle them, so a chart that grants one fails here.
    assert!(
        rule.get("nonResourceURLs").is_none(),
        "nonResourceURLs in the chart: {rule:?}"
    );
    let normalize = |text: &str| text.replace(release, RELEASE);
    let resource_names: Vec<String> = strings(&rule["resourceNames"])
        .iter()
        .map(|name| normalize(name))
        .collect();
    let mut entries = Vec::new();
    for api_group in strings(&rule["apiGroups"]) {
        for resource in strings(&rule["resources"]) {
            for verb in strings(&rule["verbs"]) {
                entries.push(Entry {
                    kind: chart::kind(object).to_string(),
                    role: normalize(chart::name(object)),
                    rule: index,
                    api_group: api_group.clone(),
                    resource: resource.clone(),
                    verb,
                    resource_names: resource_names.clone(),
                });
            }
        }
    }
    entries
}

fn split_object(object: &Value, release: &str) -> Vec<Entry> {
    object["rules"]
        .as_sequence()
        .into_iter()
        .flatten()
        .enumerate()
        .flat_map(|(index, rule)| split_rule(object, index, rule, release))
        .collect()
}

/// Every permission the chart, rendered as `release`, grants.
fn entries(manifest: &str, release: &str) -> Vec<Entry> {
    chart::objects(manifest)
        .iter()
        .filter(|object| is_role(object))
        .flat_map(|object| split_object(object, release))
        .collect()
}

/// `manifest` (rendered as `release`) with every Role and ClusterRole rewritten to one rule
/// per permission, `removed` left out. The same grants as the chart, less exactly one.
fn without(manifest: &str, release: &str, removed: Option<&Entry>) -> String {
    let mut left_out = 0;
    let documents: Vec<String> = chart::objects(manifest)
        .into_iter()
        .map(|mut object| {
            if is_role(&object) {
                let rules: Vec<Value> = split_object(&object, release)
                    .into_iter()
                    .filter(|entry| {
                        let keep = Some(entry) != removed;
                        left_out += usize::from(!keep);
                        keep
                    })
                    .map(|entry| rule_of(&entry, release))
                    .collect();
                object["rules"] = Value::Sequence(rules);
            }
            serde_yaml::to_string(&object).expect("YAML of a rendered object")
        })
        .collect();
    assert_eq!(
        left_out,
        usize::from(removed.is_some()),
        "{removed:?} must match exactly one permission of the rendered chart"
    );
    documents.join("---\n")
}

/// A rule granting exactly `entry` for `release`.
fn rule_of(entry: &Entry, release: &str) -> Value {
    let list = |items: &[&str]| {
        Value::Sequence(
            items
                .iter()
                .map(|item| Value::String(item.to_string()))
                .collect(),
        )
    };
    let mut rule = serde_yaml::Mapping::new();
    rule.insert("apiGroups".into(), list(&[&entry.api_group]));
    rule.insert("resources".into(), list(&[&entry.resource]));
    rule.insert("verbs".into(), list(&[&entry.verb]));
    if !entry.resource_names.is_empty() {
        let names: Vec<String> = entry
            .resource_names
            .iter()
            .map(|name| name.replace(RELEASE, release))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        rule.insert("resourceNames".into(), list(&names));
    }
    Value::Mapping(rule)
}

/// How one run ended.
#[derive(Debug)]
enum Outcome {
    /// Every step completed and nothing was refused.
    Passed,
    /// The API server refused the left-out permission: what the operator was doing.
    Refused(String),
    /// Something else went wrong (a step never completed, another refusal, an exit).
    Broke(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Passed => write!(f, "passed, nothing refused"),
            Self::Refused(what) => write!(f, "refused: {what}"),
            Self::Broke(what) => write!(f, "broke otherwise: {what}"),
        }
    }
}

/// The API server's wording of a refusal of `entry` (without the escaping of `Debug` output).
fn refusal_text(entry: &Entry) -> String {
    format!(
        "cannot {} resource \"{}\" in API group \"{}\"",
        entry.verb, entry.resource, entry.api_group
    )
}

/// The OwnerReferencesPermissionEnforcement admission plugin's wording when a change of
/// `ownerReferences` is refused because the user may not delete the object.
const OWNER_REFERENCE_REFUSAL: &str = "cannot set an ownerRef on a resource you can't delete";

/// The first log line in which the API server refuses `entry`, unescaped: RBAC's wording, or
/// for `delete` the admission plugin's refusal of an ownerReferences change on that resource.
fn refusal_of(entry: &Entry, logs: &str) -> Option<String> {
    let text = refusal_text(entry);
    let admission = format!("{} \"", entry.resource);
    logs.lines()
        .map(|line| line.replace('\\', ""))
        .find(|line| {
            line.contains(&text)
                || (entry.verb == "delete"
                    && line.contains(OWNER_REFERENCE_REFUSAL)
                    && line.contains(&admission))
        })
}

/// What the operator was doing when `line` (a log record, or a cause in the error it exited
/// with) was refused: the log message without time, level, spans and error, and the refusal.
fn refusal_summary(entry: &Entry, line: &str) -> String {
    const LEVELS: [&str; 5] = [" ERROR ", " WARN ", " INFO ", " DEBUG ", " TRACE "];
    let what = match LEVELS.iter().find_map(|level| line.split_once(level)) {
        Some((_, record)) => {
            let message = record.rsplit_once("}: ").map_or(record, |(_, rest)| rest);
            let message = message.split(" error=").next().unwrap_or(message);
            message.split(": Api").next().unwrap_or(message).trim()
        }
        None => "the operator exited with this error",
    };
    format!("{what}: {}", refusal_text(entry))
}

/// Polls `check` until it returns `Ok`; `Err(what was seen)` after `timeout`. Unlike
/// `support::wait_for` it does not panic: here a step that never completes is a result.
async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut interval = Duration::from_millis(100);
    loop {
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(observation) => observation,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{what} did not happen in {timeout:?}; last seen: {last}"
            ));
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_secs(1));
    }
}

/// One line of a log, short enough for a report.
fn excerpt(line: &str) -> String {
    let line = line.trim();
    match line.char_indices().nth(300) {
        Some((end, _)) => format!("{}...", &line[..end]),
        None => line.to_string(),
    }
}

/// Resolves with the first sign that the operator cannot do its work: it logged a refused
/// request, or it exited.
async fn breakage(operator: &mut Operator) -> String {
    loop {
        if let Some(line) = forbidden_lines(&operator.logs()).first() {
            return format!("refused: {}", excerpt(line));
        }
        if let Some(status) = operator.exited() {
            let logs = operator.logs();
            let error = logs
                .lines()
                .find(|line| line.starts_with("Error:"))
                .or_else(|| logs.lines().last())
                .unwrap_or_default();
            return format!("operator exited ({status}): {}", excerpt(error));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// An untyped Api for kind `K`, so one helper reads the status or annotations of any kind.
fn api<K>(cluster: &Cluster, namespace: &str) -> Api<DynamicObject>
where
    K: kube::Resource<DynamicType = ()>,
{
    Api::namespaced_with(
        cluster.client.clone(),
        namespace,
        &ApiResource::erase::<K>(&()),
    )
}

/// `Ok` when `object`'s Ready condition is True (and, with `generation`, its status has
/// observed that generation).
fn ready(object: &DynamicObject, generation: Option<i64>) -> Result<(), String> {
    let status = &object.data["status"];
    if let Some(generation) = generation {
        let observed = status["observedGeneration"].as_i64();
        if observed < Some(generation) {
            return Err(format!("observedGeneration {observed:?} < {generation}"));
        }
    }
    let condition = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|condition| condition["type"] == "Ready");
    match condition {
        Some(condition) if condition["status"] == "True" => Ok(()),
        other => Err(format!("Ready is {other:?}")),
    }
}

async fn wait_ready(
    api: &Api<DynamicObject>,
    name: &str,
    generation: Option<i64>,
) -> Result<(), String> {
    poll(&format!("{name} Ready"), STEP_TIMEOUT, || async {
        let object = api.get(name).await.map_err(|e| e.to_string())?;
        ready(&object, generation)
    })
    .await
}

/// Applies `yaml` as the admin: a failure is a broken test, not RBAC breakage.
async fn kubectl_apply(cluster: &Cluster, namespace: &str, yaml: &str) {
    cluster
        .kubectl_stdin(&["apply", "-n", namespace, "-f", "-"], yaml)
        .await
        .expect_success(&format!("kubectl apply as the admin of\n{yaml}"));
}

/// A Deployment, a StatefulSet and a DaemonSet named [`WORKLOAD`]. Nothing runs their pods
/// (the test control plane has no workload controllers): the operator only patches them.
fn workloads_yaml() -> String {
    WORKLOAD_KINDS
        .iter()
        .map(|kind| {
            let service_name = if *kind == "StatefulSet" {
                format!("  serviceName: {WORKLOAD}\n")
            } else {
                String::new()
            };
            format!(
                "apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {WORKLOAD}\nspec:\n\
                 {service_name}  selector:\n    matchLabels:\n      app: {WORKLOAD}\n  \
                 template:\n    metadata:\n      labels:\n        app: {WORKLOAD}\n    spec:\n      \
                 containers:\n      - name: app\n        image: registry.invalid/app:1\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The seed's grant (`examples/seed/30-grant.yaml`) with the three workloads as rollout
/// targets.
fn grant_with_rollout() -> (String, String) {
    let path = repo_root().join("examples/seed/30-grant.yaml");
    let text = std::fs::read_to_string(&path).expect("read the seed grant");
    let mut grant: Value = serde_yaml::from_str(&text).expect("the seed grant is YAML");
    let targets: Vec<Value> = WORKLOAD_KINDS
        .iter()
        .map(|kind| {
            serde_yaml::from_str(&format!("{{kind: {kind}, name: {WORKLOAD}}}"))
                .expect("target YAML")
        })
        .collect();
    let mut rollout = serde_yaml::Mapping::new();
    rollout.insert("targets".into(), Value::Sequence(targets));
    grant["spec"]["rollout"] = Value::Mapping(rollout);
    let name = chart::name(&grant).to_string();
    (name, serde_yaml::to_string(&grant).expect("grant YAML"))
}

fn seed_file(file: &str) -> String {
    let path = repo_root().join("examples/seed").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn name_of(yaml: &str) -> String {
    let object: Value = serde_yaml::from_str(yaml).expect("seed YAML");
    chart::name(&object).to_string()
}

/// Merges `spec` into the grant as the admin and waits until it is Ready for the new generation.
async fn edit_and_wait_ready(
    grants: &Api<DynamicObject>,
    grant: &str,
    spec: serde_json::Value,
) -> Result<DynamicObject, String> {
    let edited = grants
        .patch(
            grant,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "spec": spec })),
        )
        .await
        .unwrap_or_else(|e| panic!("edit the grant as the admin: {e}"));
    wait_ready(grants, grant, edited.metadata.generation).await?;
    Ok(edited)
}

/// Everything the operator does, as steps that each wait for its effect. `Err` names the step
/// that did not complete.
async fn scenario(cluster: &Cluster, namespace: &str, log: &Path) -> Result<(), String> {
    // Leader election: the operator waited for its CRDs, took the Lease and started.
    poll(
        "leading (\"starting controllers\")",
        STEP_TIMEOUT,
        || async {
            let logs = std::fs::read_to_string(log).unwrap_or_default();
            if logs.contains("starting controllers") {
                Ok(())
            } else {
                Err(logs.lines().last().unwrap_or_default().to_string())
            }
        },
    )
    .await?;

    // The seed: a CrossAccountRole (finalizer, status, credentials Secret), two RamUsers (an
    // AccessKey Secret and a password Secret, both owned), the grant (reads the role and the
    // user, writes its owned Secret) with rollout targets; and the failing grant.
    let role = seed_file("10-account-a-role.yaml");
    let app_user = seed_file("20-account-b-user.yaml");
    let console_user = seed_file("40-console-user.yaml");
    let (grant, grant_yaml) = grant_with_rollout();
    let failing = format!(
        "apiVersion: ram.alicloud.dev/v1alpha1\nkind: StsGrant\nmetadata:\n  name: {FAILING_GRANT}\n\
         spec:\n  roleArn: acs:ram::1111111111111111:role/rabbitmq-access\n  source:\n    \
         secretRef:\n      name: {FAILING_GRANT}-key\n"
    );
    for yaml in [&role, &app_user, &console_user, &grant_yaml, &failing] {
        kubectl_apply(cluster, namespace, yaml).await;
    }
    wait_ready(
        &api::<CrossAccountRole>(cluster, namespace),
        &name_of(&role),
        None,
    )
    .await?;
    let users = api::<RamUser>(cluster, namespace);
    wait_ready(&users, &name_of(&app_user), None).await?;
    wait_ready(&users, &name_of(&console_user), None).await?;
    let grants = api::<StsGrant>(cluster, namespace);
    wait_ready(&grants, &grant, None).await?;

    // The rollout after the first refresh: every target's pod template annotated.
    for (kind, workloads) in [
        ("Deployment", api::<Deployment>(cluster, namespace)),
        ("StatefulSet", api::<StatefulSet>(cluster, namespace)),
        ("DaemonSet", api::<DaemonSet>(cluster, namespace)),
    ] {
        poll(&format!("{kind} restarted"), STEP_TIMEOUT, || async {
            let workload = workloads.get(WORKLOAD).await.map_err(|e| e.to_string())?;
            let annotations = &workload.data["spec"]["template"]["metadata"]["annotations"];
            annotations
                .get(ram_operator::crd::REFRESHED_AT_ANNOTATION)
                .map(|_| ())
                .ok_or_else(|| format!("annotations {annotations}"))
        })
        .await?;
    }

    // An edit of the grant after the operator wrote its status: the cached grant is older than
    // the edit, so the operator reads the grant before it refreshes.
    edit_and_wait_ready(
        &grants,
        &grant,
        serde_json::json!({"roleSessionName": "rbac-edited"}),
    )
    .await?;

    // secretDeletionPolicy Retain: the operator removes the owner reference from the grant's
    // Secret, which the ownerReferences admission plugin allows only to a user who may delete it.
    let retained = edit_and_wait_ready(
        &grants,
        &grant,
        serde_json::json!({"secretDeletionPolicy": "Retain"}),
    )
    .await?;
    let secret_name = retained.data["spec"]["secretName"]
        .as_str()
        .unwrap_or(grant.as_str())
        .to_string();
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    poll("the grant's Secret without owner", STEP_TIMEOUT, || async {
        let secret = secrets.get(&secret_name).await.map_err(|e| e.to_string())?;
        match secret.metadata.owner_references.as_deref() {
            None | Some([]) => Ok(()),
            Some(owners) => Err(format!("owners {owners:?}")),
        }
    })
    .await?;

    // The failing grant's Warning, repeated: an Event series.
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), namespace);
    poll("a repeated Event (series)", STEP_TIMEOUT, || async {
        let list = events
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let counts: Vec<i32> = list
            .items
            .iter()
            .filter(|event| {
                event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(FAILING_GRANT)
            })
            .map(|event| event.series.as_ref().map_or(1, |series| series.count))
            .collect();
        if counts.iter().any(|count| *count >= 2) {
            Ok(())
        } else {
            Err(format!("Events of {FAILING_GRANT} with counts {counts:?}"))
        }
    })
    .await?;
    Ok(())
}

/// Installs the chart as a fresh release with `removed` left out and runs the scenario as its
/// ServiceAccount, until the scenario completes or something breaks.
async fn run(cluster: &Cluster, removed: Option<&Entry>) -> Outcome {
    let release = Release::install(cluster, "rbac-min", |name, namespace| {
        without(&chart::template(name, namespace, &[]), name, removed)
    })
    .await;
    let watched = TestNamespace::create(cluster, "rbac-min").await;
    let namespace = watched.name.as_str();
    create_account_credentials(cluster, namespace).await;
    kubectl_apply(cluster, namespace, &workloads_yaml()).await;
    let emulator = Emulator::start(namespace, 1.0).await;
    let mut flags = release.lease_flags();
    // Paged initial lists, as on an API server without `WatchList` (Kubernetes 1.33, which the
    // chart supports): they need `list` on top of what streaming lists need.
    flags.extend(["--initial-list".to_string(), "page".to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut operator =
        Operator::launch_with_kubeconfig(&emulator, namespace, &flags, &release.kubeconfig);
    let log = operator.log.clone();
    let completed = tokio::select! {
        result = scenario(cluster, namespace, &log) => result,
        broke = breakage(&mut operator) => Err(broke),
    };
    // Whatever stopped the run, the evidence that counts is the API server refusing exactly
    // the permission left out: a step that merely timed out proves nothing about it.
    let logs = operator.logs();
    drop(operator);
    release_finalizers(cluster, namespace).await;
    if let Some(line) =
        removed.and_then(|entry| refusal_of(entry, &logs).map(|line| refusal_summary(entry, &line)))
    {
        return Outcome::Refused(line);
    }
    match (completed, forbidden_lines(&logs).first()) {
        (Err(what), _) => Outcome::Broke(what),
        // A request refused after the last poll of the log.
        (Ok(()), Some(line)) => Outcome::Broke(format!("refused: {}", excerpt(line))),
        (Ok(()), None) => Outcome::Passed,
    }
}

/// Drops the finalizers the stopped operator left, so the namespace can go away instead of
/// staying Terminating (and keeping the namespace controller busy) for the rest of the suite.
async fn release_finalizers(cluster: &Cluster, namespace: &str) {
    let no_finalizers = Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}}));
    for objects in [
        api::<CrossAccountRole>(cluster, namespace),
        api::<RamUser>(cluster, namespace),
    ] {
        let Ok(list) = objects.list(&ListParams::default()).await else {
            continue;
        };
        for object in list.items {
            let name = object.metadata.name.unwrap_or_default();
            let _ = objects
                .patch(&name, &PatchParams::default(), &no_finalizers)
                .await;
        }
    }
}

#[tokio::test]
async fn every_permission_of_the_chart_is_needed() {
    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    // A release name that no other name in the chart contains, so that replacing it with
    // `<release>` touches nothing else.
    let probe = "rbac-minimal-probe";
    let permissions = entries(&chart::template(probe, "ops", &[]), probe);
    // The chart grants at least the Lease and the three kinds; an empty list would make the
    // test pass vacuously.
    assert!(permissions.len() >= 10, "{permissions:#?}");

    let started = Instant::now();
    let cluster_ref = &cluster;
    let runs: Vec<(Option<&Entry>, Outcome, Duration)> =
        futures::stream::iter(std::iter::once(None).chain(permissions.iter().map(Some)))
            .map(|removed| async move {
                let begun = Instant::now();
                let outcome = run(cluster_ref, removed).await;
                let took = begun.elapsed();
                let what = removed.map_or("control run, nothing removed".to_string(), |e| {
                    format!("without {e}")
                });
                eprintln!("[{:>5.1} s] {what}: {outcome}", took.as_secs_f64());
                (removed, outcome, took)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
    let total = started.elapsed();

    let mut report = String::new();
    for entry in std::iter::once(None).chain(permissions.iter().map(Some)) {
        let (_, outcome, took) = runs
            .iter()
            .find(|(removed, _, _)| *removed == entry)
            .expect("a run per permission");
        let what = entry.map_or("(control run)".to_string(), ToString::to_string);
        report.push_str(&format!(
            "{what}\n    {:.1} s: {outcome}\n",
            took.as_secs_f64()
        ));
    }
    eprintln!(
        "{} permissions and the control run in {:.1} s ({CONCURRENCY} at a time):\n{report}",
        permissions.len(),
        total.as_secs_f64()
    );

    let control = runs
        .iter()
        .find(|(removed, _, _)| removed.is_none())
        .expect("the control run");
    assert!(
        matches!(control.1, Outcome::Passed),
        "the scenario must pass with every permission of the chart: {}",
        control.1
    );
    let not_shown = |wanted: fn(&Outcome) -> bool| -> Vec<String> {
        runs.iter()
            .filter_map(|(removed, outcome, _)| {
                removed
                    .filter(|_| wanted(outcome))
                    .map(|entry| format!("{entry}: {outcome}"))
            })
            .collect()
    };
    let unneeded = not_shown(|outcome| matches!(outcome, Outcome::Passed));
    assert!(
        unneeded.is_empty(),
        "the operator does everything without these permissions: drop them from the chart, or \
         add the step that needs them to the scenario:\n{}",
        unneeded.join("\n")
    );
    let unexplained = not_shown(|outcome| matches!(outcome, Outcome::Broke(_)));
    assert!(
        unexplained.is_empty(),
        "these runs broke, but the API server never refused the permission left out, so they \
         do not show it is needed:\n{}",
        unexplained.join("\n")
    );
}
