//! The seeded fault run: a mixed set of `CrossAccountRole`s, `RamUser`s (one rotating its key
//! every minute, one console user) and `StsGrant`s (one sourcing from the rotating user)
//! reconciled by the operator binary against the emulator while the run injects emulator faults
//! (`Throttling.User`, `ServiceUnavailable`, `InternalError` at up to 50 %, latency, timeouts
//! of one action), kills the operator with SIGKILL and restarts it, restarts kube-apiserver
//! and etcd, and edits, deletes and re-creates objects, all racing each other.
//!
//! Afterwards (faults cleared, quiet period): every object is Ready for its generation; the
//! emulator's state matches the specs exactly (roles, trust, attached and inline policies; no
//! orphaned role, policy, user, login profile or key; every user's keys are the one in its
//! Secret plus at most the retiring one); never more than two keys per user and no duplicate
//! key at any sample; no grant's Secret held expired credentials at any sample; every object deletes (no finalizer stuck) and leaves nothing in the cloud; and no
//! secret the run saw appears in the operator logs, Events, object YAML or `/metrics`.
//!
//! The run restarts kube-apiserver and etcd, so it never uses the shared control plane: it
//! starts its own under `${RAM_OPERATOR_CACHE:-~/.cache/ram-operator}/envtest-run-faults`
//! (reused when already running, stopped at the end when it started it).
//!
//! `FAULTS_SEED` replays a run (the seed is printed), `FAULTS_SECONDS` sets the fault phase
//! (default 120; `make soak` runs longer).

mod security_common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use ram_operator::alicloud::policy::PolicyDocument;
use ram_operator::alicloud::ram::{CreateUserRequest, PolicyType};
use ram_operator::alicloud::{Client, ClientConfig, Endpoints, StaticProvider};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::time::Instant;

use security_common::{api, current, ready};
use support::e2e::{
    ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, Emulator, Operator, create_account_credentials, root_key,
};
use support::{Cluster, TestNamespace, install_crds, repo_root, wait_for};

const ROLES: usize = 4;
/// Grants 0..4 source from a Secret; grant 4 from the rotating `RamUser` user-0.
const GRANTS: usize = 5;
const USERS: usize = 3;
const SOURCE_USER: &str = "grant-source";
const SOURCE_SECRET: &str = "grant-source-key";
/// STS lifetimes are scaled by this: 900 s become 90 s, refreshed a third before expiry.
const EXPIRY_SCALE: f64 = 0.1;
const SETTLE: Duration = Duration::from_secs(240);
const FAULT_CODES: &[&str] = &["Throttling.User", "ServiceUnavailable", "InternalError"];
const INLINE_DOCUMENT: &str =
    r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"amqp:Get*","Resource":"*"}]}"#;

// ---------------------------------------------------------------------------------------------
// The run's own control plane

fn cache_dir() -> PathBuf {
    std::env::var_os("RAM_OPERATOR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/ram-operator")
        })
}

/// The run's own control plane; `RAM_OPERATOR_FAULTS_ENVTEST_DIR` names another, so two runs
/// (a soak and a test suite) can go on side by side.
fn plane_dir() -> PathBuf {
    std::env::var_os("RAM_OPERATOR_FAULTS_ENVTEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("envtest-run-faults"))
}

async fn envtest(args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(repo_root().join("scripts/envtest.sh"))
        .args(args)
        .env("RAM_OPERATOR_ENVTEST_DIR", plane_dir())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("scripts/envtest.sh {args:?}: {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// The run's control plane; stopped on drop when this run started it.
struct Plane {
    kubeconfig: PathBuf,
    started_here: bool,
}

impl Plane {
    async fn start() -> Plane {
        let (running, _) = envtest(&["status"]).await;
        let (ok, exports) = envtest(&["start"]).await;
        assert!(ok, "could not start the fault run's control plane");
        let kubeconfig = exports
            .lines()
            .find_map(|line| line.strip_prefix("export KUBECONFIG="))
            .map(|path| PathBuf::from(path.trim_matches(['\'', '"'])))
            .expect("envtest.sh start printed no KUBECONFIG");
        Plane {
            kubeconfig,
            started_here: !running,
        }
    }

    async fn cluster(&self) -> Cluster {
        let loaded = Kubeconfig::read_from(&self.kubeconfig).expect("read the kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(loaded, &KubeConfigOptions::default())
            .await
            .expect("a kube config");
        Cluster {
            client: kube::Client::try_from(config).expect("a kube client"),
            kubeconfig: self.kubeconfig.clone(),
        }
    }
}

impl Drop for Plane {
    fn drop(&mut self) {
        if self.started_here {
            let _ = std::process::Command::new(repo_root().join("scripts/envtest.sh"))
                .arg("stop")
                .env("RAM_OPERATOR_ENVTEST_DIR", plane_dir())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The desired world

/// What the run wants to exist: kind/name -> spec, and whether it should exist now.
#[derive(Default)]
struct Model {
    specs: BTreeMap<(String, String), Value>,
    absent: BTreeSet<(String, String)>,
}

impl Model {
    /// The (kind, name) of every object that currently exists.
    fn present(&self) -> Vec<(String, String)> {
        self.specs
            .keys()
            .filter(|k| !self.absent.contains(*k))
            .cloned()
            .collect()
    }
}

fn role_spec(index: usize) -> Value {
    json!({
        "trustedAccounts": [ACCOUNT_B],
        "policies": [{"name": "AliyunAMQPFullAccess", "type": "System"}],
        "inlinePolicies": if index.is_multiple_of(2) {
            json!([{"name": "read", "document": INLINE_DOCUMENT}])
        } else {
            json!([])
        },
        "credentialsRef": {"name": "account-a-credentials"},
    })
}

/// user-0 rotates every minute, user-1 keeps its key, user-2 is a console user.
fn user_spec(index: usize) -> Value {
    let mut spec = match index {
        0 => json!({"accessMode": "Programmatic", "programmatic": {
            "accessKeySecretName": "user-0-key", "formats": ["Env"],
            "rotation": {"every": "1m", "gracePeriod": "20s"}}}),
        1 => json!({"accessMode": "Programmatic", "programmatic": {
            "accessKeySecretName": "user-1-key", "formats": ["Env", "CredentialsFile"]}}),
        _ => json!({"accessMode": "Console", "console": {"passwordSecretName": "user-2-password"}}),
    };
    spec["policies"] = json!([{"name": "AliyunSTSAssumeRoleAccess", "type": "System"}]);
    spec["credentialsRef"] = json!({"name": "account-b-credentials"});
    spec
}

fn grant_spec(index: usize) -> Value {
    let source = if index == 4 {
        json!({"ramUserRef": {"name": "user-0"}})
    } else {
        json!({"secretRef": {"name": SOURCE_SECRET}})
    };
    json!({
        "roleRef": {"name": format!("role-{}", index % ROLES)},
        "source": source,
        "durationSeconds": 900,
        "formats": if index.is_multiple_of(2) { json!(["Env"]) } else { json!(["Env", "CliConfig"]) },
    })
}

/// Retries a Kubernetes write through API server restarts (bounded).
async fn retry<T, F, Fut>(what: &str, mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    for _ in 0..60 {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {
                println!("faults: {what}: {}", status.message);
                return None;
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    panic!("{what}: the API server did not come back in a minute");
}

async fn create(cluster: &Cluster, ns: &str, kind: &str, name: &str, spec: &Value) -> bool {
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "ram.alicloud.dev/v1alpha1", "kind": kind,
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("a valid object");
    let api = api(cluster, ns, kind);
    let params = PostParams::default();
    retry(&format!("create {kind} {name}"), || {
        api.create(&params, &object)
    })
    .await
    .is_some()
}

// ---------------------------------------------------------------------------------------------
// Sampling throughout the run

#[derive(Default)]
struct Samples {
    count: AtomicU64,
    expired: AtomicU64,
    max_keys_per_user: AtomicU64,
    duplicate_keys: AtomicU64,
    secrets: Mutex<BTreeSet<String>>,
    expired_detail: Mutex<Vec<String>>,
    /// Grant uid -> until when its expiry does not count (its role or user was unusable).
    blocked_until: Mutex<BTreeMap<String, jiff::Timestamp>>,
}

async fn sample(cluster: &Cluster, ns: &str, emulator_url: &str, samples: &Samples) {
    let now = jiff::Timestamp::now();
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let grants = api(cluster, ns, "StsGrant");
    let listed = tokio::time::timeout(Duration::from_secs(5), async {
        (
            secrets.list(&ListParams::default()).await,
            grants.list(&ListParams::default()).await,
        )
    })
    .await;
    let dependencies = tokio::time::timeout(Duration::from_secs(5), async {
        (
            api(cluster, ns, "CrossAccountRole")
                .list(&ListParams::default())
                .await,
            api(cluster, ns, "RamUser")
                .list(&ListParams::default())
                .await,
        )
    })
    .await;
    if let Ok((Ok(secrets), Ok(grants))) = listed
        && let Ok((Ok(roles), Ok(users))) = dependencies
    {
        // A grant whose role or source user is missing, deleted or not Ready cannot get
        // credentials (STS refuses a deleted role); it counts again 30 s after they are back.
        let usable = |list: &kube::api::ObjectList<DynamicObject>, name: &str| {
            list.items.iter().any(|o| {
                o.metadata.name.as_deref() == Some(name)
                    && o.metadata.deletion_timestamp.is_none()
                    && ready(o).is_some_and(|(status, _, _, _)| status == "True")
            })
        };
        let mut live = BTreeSet::new();
        {
            let mut blocked = samples.blocked_until.lock().unwrap();
            for grant in grants
                .items
                .iter()
                .filter(|g| g.metadata.deletion_timestamp.is_none())
            {
                let Some(uid) = grant.metadata.uid.clone() else {
                    continue;
                };
                let role = grant.data["spec"]["roleRef"]["name"]
                    .as_str()
                    .unwrap_or_default();
                let user = grant.data["spec"]["source"]["ramUserRef"]["name"].as_str();
                let ok = usable(&roles, role) && user.is_none_or(|user| usable(&users, user));
                if !ok {
                    blocked.insert(uid.clone(), now + jiff::SignedDuration::from_secs(30));
                }
                if blocked.get(&uid).is_none_or(|until| *until < now) {
                    live.insert(uid);
                }
            }
        }
        for secret in secrets.items {
            let data = secret.data.clone().unwrap_or_default();
            for (key, value) in &data {
                let text = String::from_utf8_lossy(&value.0).into_owned();
                let mut found = BTreeSet::new();
                security_common::collect_secret_strings(key, &text, &mut found);
                samples.secrets.lock().unwrap().extend(found);
            }
            let owned_by_live_grant = secret
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|owner| owner.kind == "StsGrant" && live.contains(&owner.uid));
            let expiration = data
                .get("expiration")
                .and_then(|v| std::str::from_utf8(&v.0).ok().map(str::to_string))
                .and_then(|text| text.parse::<jiff::Timestamp>().ok());
            if owned_by_live_grant
                && let Some(expiration) = expiration
                && expiration < now
            {
                samples.expired.fetch_add(1, Ordering::SeqCst);
                samples.expired_detail.lock().unwrap().push(format!(
                    "{} expired at {expiration}, sampled at {now}",
                    secret.metadata.name.unwrap_or_default()
                ));
            }
        }
        samples.count.fetch_add(1, Ordering::SeqCst);
    }
    if let Some(text) = security_common::get_text(&format!("{emulator_url}/_emulator/state")).await
        && let Ok(state) = serde_json::from_str::<Value>(&text)
    {
        for account in state["accounts"].as_array().into_iter().flatten() {
            for user in account["users"].as_array().into_iter().flatten() {
                let keys: Vec<&str> = user["accessKeys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k["accessKeyId"].as_str())
                    .collect();
                samples
                    .max_keys_per_user
                    .fetch_max(keys.len() as u64, Ordering::SeqCst);
                let distinct: BTreeSet<&&str> = keys.iter().collect();
                if distinct.len() != keys.len() {
                    samples.duplicate_keys.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks after the run

fn account<'a>(state: &'a Value, id: &str) -> &'a Value {
    state["accounts"]
        .as_array()
        .and_then(|accounts| accounts.iter().find(|a| a["id"] == id))
        .unwrap_or(&Value::Null)
}

fn names(list: &Value, key: &str) -> BTreeSet<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item[key].as_str().map(str::to_string))
        .collect()
}

/// Differences between the emulator's state and the model: (orphans, mismatches).
/// Per user name: the key id its Secret publishes and the key id its status says is retiring.
type UserKeys = BTreeMap<String, (Option<String>, Option<String>)>;

async fn user_keys(cluster: &Cluster, ns: &str) -> UserKeys {
    let mut keys = UserKeys::new();
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let Ok(users) = api(cluster, ns, "RamUser")
        .list(&ListParams::default())
        .await
    else {
        return keys;
    };
    for user in users.items {
        let name = user.metadata.name.clone().unwrap_or_default();
        let retiring = user.data["status"]["rotation"]["retiringAccessKeyId"]
            .as_str()
            .map(str::to_string);
        let secret_name = user.data["spec"]["programmatic"]["accessKeySecretName"].as_str();
        let published = match secret_name {
            Some(secret_name) => secrets
                .get_opt(secret_name)
                .await
                .ok()
                .flatten()
                .and_then(|secret| secret.data)
                .and_then(|data| {
                    data.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
                        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                }),
            None => None,
        };
        keys.insert(name, (published, retiring));
    }
    keys
}

fn compare(state: &Value, model: &Model, user_keys: &UserKeys) -> (Vec<String>, Vec<String>) {
    let mut orphans = Vec::new();
    let mut mismatches = Vec::new();
    let a = account(state, ACCOUNT_A);
    let roles: BTreeMap<String, &Value> = a["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["roleName"].as_str().map(|n| (n.to_string(), r)))
        .collect();
    let wanted: BTreeMap<&str, &Value> = model
        .specs
        .iter()
        .filter(|((kind, _), _)| kind == "CrossAccountRole")
        .filter(|(key, _)| !model.absent.contains(key))
        .map(|((_, name), spec)| (name.as_str(), spec))
        .collect();
    let mut wanted_inline = BTreeSet::new();
    for name in roles.keys() {
        if !wanted.contains_key(name.as_str()) {
            orphans.push(format!("role {name}"));
        }
    }
    for (name, spec) in &wanted {
        let Some(role) = roles.get(*name) else {
            mismatches.push(format!("role {name} missing"));
            continue;
        };
        let trust =
            PolicyDocument::parse(role["assumeRolePolicyDocument"].as_str().unwrap_or("{}"))
                .map(|d| d.trusted_accounts())
                .unwrap_or_default();
        let want_trust: BTreeSet<String> = names_of(&spec["trustedAccounts"]);
        if trust != want_trust {
            mismatches.push(format!("role {name} trusts {trust:?}, spec {want_trust:?}"));
        }
        let attached: BTreeSet<String> = names(&role["attachedPolicies"], "policyName");
        let mut want_attached: BTreeSet<String> = BTreeSet::new();
        for policy in spec["policies"].as_array().into_iter().flatten() {
            want_attached.insert(policy["name"].as_str().unwrap_or_default().to_string());
        }
        for inline in spec["inlinePolicies"].as_array().into_iter().flatten() {
            let policy = format!("{name}-{}", inline["name"].as_str().unwrap_or_default());
            want_attached.insert(policy.clone());
            wanted_inline.insert(policy);
        }
        if attached != want_attached {
            mismatches.push(format!(
                "role {name} has {attached:?}, spec {want_attached:?}"
            ));
        }
        if role["maxSessionDuration"].as_i64()
            != Some(spec["maxSessionDuration"].as_i64().unwrap_or(3600))
        {
            mismatches.push(format!(
                "role {name} maxSessionDuration {}",
                role["maxSessionDuration"]
            ));
        }
        if let Some(description) = spec["description"].as_str()
            && role["description"] != description
        {
            mismatches.push(format!("role {name} description {}", role["description"]));
        }
    }
    for policy in names(&a["policies"], "policyName") {
        if !wanted_inline.contains(&policy) {
            orphans.push(format!("policy {policy}"));
        }
    }
    let wanted_users: BTreeMap<&str, &Value> = model
        .specs
        .iter()
        .filter(|((kind, _), _)| kind == "RamUser")
        .filter(|(key, _)| !model.absent.contains(key))
        .map(|((_, name), spec)| (name.as_str(), spec))
        .collect();
    let mut seen_users = BTreeSet::new();
    for id in [ACCOUNT_A, ACCOUNT_B, ACCOUNT_C] {
        for user in account(state, id)["users"].as_array().into_iter().flatten() {
            let name = user["userName"].as_str().unwrap_or_default();
            let keys: BTreeSet<String> = names(&user["accessKeys"], "accessKeyId");
            if id == ACCOUNT_B && name == SOURCE_USER {
                if keys.len() != 1 {
                    orphans.push(format!("key: {SOURCE_USER} has {} keys", keys.len()));
                }
                continue;
            }
            let Some(spec) = wanted_users.get(name).filter(|_| id == ACCOUNT_B) else {
                orphans.push(format!("user {id}/{name}"));
                continue;
            };
            seen_users.insert(name.to_string());
            let console = spec["accessMode"] == "Console";
            match (console, user["loginProfile"].is_null()) {
                (true, true) => mismatches.push(format!("user {name} has no login profile")),
                (false, false) => orphans.push(format!("login profile of {name}")),
                _ => {}
            }
            let (in_secret, retiring) = user_keys.get(name).cloned().unwrap_or_default();
            for key in &keys {
                if console || (Some(key) != in_secret.as_ref() && Some(key) != retiring.as_ref()) {
                    orphans.push(format!(
                        "key: {name} {key} is neither published nor retiring"
                    ));
                }
            }
            if !console && in_secret.as_ref().is_none_or(|key| !keys.contains(key)) {
                mismatches.push(format!(
                    "user {name}: the Secret's key {in_secret:?} is not in {keys:?}"
                ));
            }
            let attached = names(&user["attachedPolicies"], "policyName");
            let want: BTreeSet<String> = spec["policies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            if attached != want {
                mismatches.push(format!("user {name} has {attached:?}, spec {want:?}"));
            }
            for field in ["displayName", "comments"] {
                if let Some(value) = spec[field].as_str()
                    && user[field] != value
                {
                    mismatches.push(format!("user {name} {field} {}", user[field]));
                }
            }
        }
    }
    for name in wanted_users.keys() {
        if !seen_users.contains(*name) {
            mismatches.push(format!("user {name} missing"));
        }
    }
    (orphans, mismatches)
}

fn names_of(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The run

struct Counters {
    injected_rules: u64,
    operator_kills: u64,
    apiserver_restarts: u64,
    etcd_restarts: u64,
    edits: u64,
    deletions: u64,
    recreations: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeded_faults_lose_nothing_leak_nothing_and_wedge_nothing() {
    let seed: u64 = std::env::var("FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let seconds: u64 = std::env::var("FAULTS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    println!("faults seed={seed} seconds={seconds}");
    let mut rng = StdRng::seed_from_u64(seed);

    let plane = Plane::start().await;
    let cluster = plane.cluster().await;
    install_crds(&cluster).await;
    let namespace = TestNamespace::create(&cluster, "faults").await;
    let ns = namespace.name.clone();
    create_account_credentials(&cluster, &ns).await;
    let emulator = Emulator::start(&ns, EXPIRY_SCALE).await;

    // Account B's user the grants assume with, and its key in a Secret.
    let cloud = Client::new(ClientConfig {
        endpoints: Endpoints::all(emulator.url.parse().expect("emulator URL")),
        allow_insecure: true,
        ..ClientConfig::default()
    })
    .expect("a client");
    let (id, secret) = root_key(ACCOUNT_B);
    let root_b = StaticProvider::access_key(id, secret);
    let ram_b = cloud.ram(&root_b);
    ram_b
        .create_user(&CreateUserRequest {
            user_name: SOURCE_USER.into(),
            ..CreateUserRequest::default()
        })
        .await
        .expect("CreateUser");
    ram_b
        .attach_policy_to_user(PolicyType::System, "AliyunSTSAssumeRoleAccess", SOURCE_USER)
        .await
        .expect("AttachPolicyToUser");
    let key = ram_b
        .create_access_key(Some(SOURCE_USER))
        .await
        .expect("CreateAccessKey");
    Api::<Secret>::namespaced(cluster.client.clone(), &ns)
        .create(
            &PostParams::default(),
            &Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(SOURCE_SECRET.into()),
                    ..Default::default()
                },
                string_data: Some(
                    [
                        ("AccessKeyId".to_string(), key.access_key_id.clone()),
                        (
                            "AccessKeySecret".to_string(),
                            key.access_key_secret.expose().to_string(),
                        ),
                    ]
                    .into(),
                ),
                ..Secret::default()
            },
        )
        .await
        .expect("the source Secret");

    let mut model = Model::default();
    for index in 0..ROLES {
        model.specs.insert(
            ("CrossAccountRole".into(), format!("role-{index}")),
            role_spec(index),
        );
    }
    for index in 0..USERS {
        model.specs.insert(
            ("RamUser".into(), format!("user-{index}")),
            user_spec(index),
        );
    }
    for index in 0..GRANTS {
        model.specs.insert(
            ("StsGrant".into(), format!("grant-{index}")),
            grant_spec(index),
        );
    }
    for ((kind, name), spec) in &model.specs {
        assert!(create(&cluster, &ns, kind, name, spec).await);
    }
    let mut operator =
        Operator::start(&cluster, &emulator, &ns, &["--resync-interval", "5s"]).await;

    // Sampling in the background for the whole run.
    let samples = Arc::new(Samples::default());
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (samples, stop, cluster, ns, url) = (
            samples.clone(),
            stop.clone(),
            cluster.clone(),
            ns.clone(),
            emulator.url.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                sample(&cluster, &ns, &url, &samples).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    let mut counters = Counters {
        injected_rules: 0,
        operator_kills: 0,
        apiserver_restarts: 0,
        etcd_restarts: 0,
        edits: 0,
        deletions: 0,
        recreations: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let choice = rng.random_range(0..100u32);
        let label = match choice {
            0..=24 => "emulator faults",
            25..=34 => "clear faults",
            35..=46 => "operator SIGKILL",
            47..=53 => "restart kube-apiserver",
            54..=57 => "restart etcd",
            58..=79 => "edit",
            80..=89 => "delete",
            _ => "re-create",
        };
        println!("faults: {} {label}", jiff::Timestamp::now());
        match choice {
            0..=24 => {
                let code = *FAULT_CODES.choose(&mut rng).unwrap();
                let rate = rng.random_range(0.1..=0.5);
                let mut rules = vec![json!({"action": "*", "code": code, "rate": rate,
                                             "latencyMs": rng.random_range(0..200u64)})];
                if rng.random_bool(0.3) {
                    // One action times out (the client's attempt timeout is 10 s).
                    let action = *["GetRole", "AssumeRole", "ListPoliciesForRole", "GetPolicy"]
                        .choose(&mut rng)
                        .unwrap();
                    rules.insert(0, json!({"action": action, "latencyMs": 11_000}));
                }
                emulator.set_faults(json!(rules)).await;
                counters.injected_rules += 1;
            }
            25..=34 => emulator.clear_faults().await,
            35..=46 => {
                operator.kill().await;
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..2000))).await;
                operator.restart().await;
                counters.operator_kills += 1;
            }
            47..=53 => {
                let (ok, _) = envtest(&["restart-apiserver", "2"]).await;
                assert!(ok, "restart-apiserver failed");
                counters.apiserver_restarts += 1;
            }
            54..=57 => {
                let (ok, _) = envtest(&["restart-etcd", "2"]).await;
                assert!(ok, "restart-etcd failed");
                counters.etcd_restarts += 1;
            }
            58..=79 => {
                // A spec edit of a present object.
                let keys = model.present();
                let Some(key) = keys.choose(&mut rng).cloned() else {
                    continue;
                };
                let patch = if key.0 == "CrossAccountRole" {
                    match rng.random_range(0..4) {
                        0 => json!({"description": format!("edit {}", rng.random_range(0..1000))}),
                        1 => json!({"maxSessionDuration": 3600 + 600 * rng.random_range(0..6)}),
                        2 => {
                            if rng.random_bool(0.5) {
                                json!({"trustedAccounts": [ACCOUNT_B, ACCOUNT_C]})
                            } else {
                                json!({"trustedAccounts": [ACCOUNT_B]})
                            }
                        }
                        _ => {
                            if rng.random_bool(0.5) {
                                json!({"inlinePolicies": [{"name": "read", "document": INLINE_DOCUMENT}]})
                            } else {
                                json!({"inlinePolicies": []})
                            }
                        }
                    }
                } else if key.0 == "RamUser" {
                    match rng.random_range(0..3) {
                        0 => json!({"displayName": format!("User {}", rng.random_range(0..1000))}),
                        1 => json!({"comments": format!("edit {}", rng.random_range(0..1000))}),
                        _ => {
                            if rng.random_bool(0.5) {
                                json!({"policies": [{"name": "AliyunSTSAssumeRoleAccess", "type": "System"},
                                                    {"name": "AliyunAMQPReadOnlyAccess", "type": "System"}]})
                            } else {
                                json!({"policies": [{"name": "AliyunSTSAssumeRoleAccess", "type": "System"}]})
                            }
                        }
                    }
                } else {
                    json!({"durationSeconds": 900 + 300 * rng.random_range(0..4)})
                };
                let api = api(&cluster, &ns, &key.0);
                let params = PatchParams::default();
                let body = Patch::Merge(json!({"spec": patch}));
                let applied = retry(&format!("patch {}", key.1), || {
                    api.patch(&key.1, &params, &body)
                })
                .await;
                if applied.is_some()
                    && let Some(spec) = model.specs.get_mut(&key)
                    && let (Some(spec), Some(patch)) = (spec.as_object_mut(), patch.as_object())
                {
                    for (field, value) in patch {
                        spec.insert(field.clone(), value.clone());
                    }
                    counters.edits += 1;
                }
            }
            80..=89 => {
                let keys = model.present();
                if let Some(key) = keys.choose(&mut rng).cloned() {
                    let api = api(&cluster, &ns, &key.0);
                    let params = DeleteParams::default();
                    retry(&format!("delete {}", key.1), || api.delete(&key.1, &params)).await;
                    model.absent.insert(key);
                    counters.deletions += 1;
                }
            }
            _ => {
                // Re-create a deleted object, racing its finalizer.
                let absent: Vec<(String, String)> = model.absent.iter().cloned().collect();
                if let Some(key) = absent.choose(&mut rng).cloned() {
                    let spec = model.specs[&key].clone();
                    if create(&cluster, &ns, &key.0, &key.1, &spec).await {
                        model.absent.remove(&key);
                        counters.recreations += 1;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(1000..4000))).await;
    }

    // Quiet period: faults off, every object back.
    emulator.clear_faults().await;
    let absent: Vec<(String, String)> = model.absent.iter().cloned().collect();
    for key in absent {
        let spec = model.specs[&key].clone();
        let api = api(&cluster, &ns, &key.0);
        wait_for(&format!("old {} {} gone", key.0, key.1), SETTLE, || {
            let api = api.clone();
            let name = key.1.clone();
            async move {
                match api.get_opt(&name).await {
                    Ok(None) => Ok(()),
                    Ok(Some(object)) => Err(format!("terminating: {:?}", ready(&object))),
                    Err(error) => Err(error.to_string()),
                }
            }
        })
        .await;
        assert!(create(&cluster, &ns, &key.0, &key.1, &spec).await);
        model.absent.remove(&key);
    }
    for (kind, name) in model.specs.keys() {
        let api = api(&cluster, &ns, kind);
        wait_for(&format!("seed {seed}: {kind} {name} Ready"), SETTLE, || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let object = api.get(&name).await.map_err(|e| e.to_string())?;
                match ready(&object) {
                    Some((status, _, _, _)) if status == "True" && current(&object) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
    }
    // The cloud matches the specs (a few resyncs to converge after the last edit).
    let matched = {
        let model = &model;
        let emulator = &emulator;
        let cluster = &cluster;
        let ns = &ns;
        wait_for(
            &format!("seed {seed}: the emulator state to match the specs"),
            SETTLE,
            || async move {
                let keys = user_keys(cluster, ns).await;
                let state = emulator.state().await;
                let (orphans, mismatches) = compare(&state, model, &keys);
                if orphans.is_empty() && mismatches.is_empty() {
                    Ok(state)
                } else {
                    Err(format!("orphans {orphans:?} mismatches {mismatches:?}"))
                }
            },
        )
        .await
    };
    // Each grant's Secret holds credentials of its own role, unexpired.
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    let sessions = matched["stsCredentials"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for index in 0..GRANTS {
        let grant = format!("grant-{index}");
        let secret = wait_for(&format!("Secret of {grant}"), SETTLE, || {
            let secrets = secrets.clone();
            let grant = grant.clone();
            async move {
                secrets
                    .get_opt(&grant)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| "no Secret yet".to_string())
            }
        })
        .await;
        let data = secret.data.unwrap_or_default();
        let key_id = String::from_utf8_lossy(&data["ALIBABA_CLOUD_ACCESS_KEY_ID"].0).into_owned();
        let session = sessions
            .iter()
            .find(|s| s["accessKeyId"] == key_id.as_str())
            .cloned()
            .unwrap_or_else(|| emulator_session_missing(&key_id));
        let role = format!("acs:ram::{ACCOUNT_A}:role/role-{}", index % ROLES);
        assert_eq!(
            session["roleArn"],
            role.as_str(),
            "{grant} holds another role's credentials"
        );
    }

    // Nothing secret anywhere the run wrote.
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.await;
    let mut known = samples.secrets.lock().unwrap().clone();
    known.insert(key.access_key_secret.expose().to_string());
    for account_id in [ACCOUNT_A, ACCOUNT_B, ACCOUNT_C] {
        known.insert(root_key(account_id).1.to_string());
    }
    let metrics = operator.metrics().await;
    let artifacts = security_common::artifacts(&cluster, &ns, &operator.logs(), &metrics).await;
    security_common::assert_no_secret("fault run artifacts", &artifacts, &known);

    // Everything deletes and leaves nothing behind.
    for (kind, name) in model.specs.keys() {
        let api = api(&cluster, &ns, kind);
        let params = DeleteParams::default();
        retry(&format!("delete {name}"), || api.delete(name, &params)).await;
    }
    let mut stuck = 0;
    let gone_by = Instant::now() + SETTLE;
    for (kind, name) in model.specs.keys() {
        let api = api(&cluster, &ns, kind);
        loop {
            match api.get_opt(name).await {
                Ok(None) => break,
                _ if Instant::now() > gone_by => {
                    println!("faults: {kind} {name} stuck in deletion");
                    stuck += 1;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
    let final_state = emulator.state().await;
    let (orphans, _) = compare(&final_state, &Model::default(), &UserKeys::new());
    let calls = emulator.calls().await;
    let injected: u64 = calls["totals"]
        .as_object()
        .into_iter()
        .flat_map(|totals| totals.values())
        .filter_map(Value::as_object)
        .flat_map(|codes| codes.iter())
        .filter(|(code, _)| FAULT_CODES.contains(&code.as_str()))
        .filter_map(|(_, count)| count.as_u64())
        .sum();
    let leaked_keys = samples.duplicate_keys.load(Ordering::SeqCst)
        + u64::from(samples.max_keys_per_user.load(Ordering::SeqCst) > 2)
        + orphans.iter().filter(|o| o.starts_with("key")).count() as u64;
    let expired = samples.expired.load(Ordering::SeqCst);
    println!(
        "faults seed={seed} injected={injected} operator_kills={} apiserver_restarts={} \
         leaked_keys={leaked_keys} orphans={} expired_samples={expired} stuck={stuck}",
        counters.operator_kills,
        counters.apiserver_restarts,
        orphans.len()
    );
    println!(
        "faults detail: fault_rule_sets={} etcd_restarts={} edits={} deletions={} \
         recreations={} samples={} max_keys_per_user={}",
        counters.injected_rules,
        counters.etcd_restarts,
        counters.edits,
        counters.deletions,
        counters.recreations,
        samples.count.load(Ordering::SeqCst),
        samples.max_keys_per_user.load(Ordering::SeqCst)
    );
    assert_eq!(
        orphans,
        Vec::<String>::new(),
        "orphans after deleting everything"
    );
    assert_eq!(leaked_keys, 0);
    assert_eq!(
        expired,
        0,
        "expired credentials sampled: {:?}",
        samples.expired_detail.lock().unwrap()
    );
    assert_eq!(stuck, 0);
    assert!(
        samples.count.load(Ordering::SeqCst) > 0,
        "nothing was sampled"
    );
}

fn emulator_session_missing(key_id: &str) -> Value {
    panic!("the emulator issued no session {key_id}")
}
