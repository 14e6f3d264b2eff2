//! Schema-level fuzzing of the three kinds against the real API server, with the operator
//! (against the emulator) reconciling whatever is accepted.
//!
//! Every leaf field of each kind's `spec` schema (read from `crds/`, so a new field is fuzzed
//! without touching this file) is mutated from a valid base manifest, with a valid value
//! (from the field's enum, range, a sample matching its pattern, or free text) or an invalid
//! one derived from the schema (wrong type, outside the enum, range, length or pattern, too
//! many items). Properties:
//! - a refused manifest is refused with a message naming the mutated field (or, for
//!   cross-field rules, a `spec` field);
//! - an invalid single-field value is never accepted;
//! - every accepted object of a reconciled kind gets a `Ready` condition for its current
//!   generation within the deadline (Ready or a reason saying what is wrong), `/livez` never
//!   fails, the operator never panics, and every object deletes cleanly (no finalizer stuck).
//!
//! Seeded and reproducible: `SCHEMA_FUZZ_SEED=<n>` replays a run (the seed is printed);
//! `SCHEMA_FUZZ_CASES` sets cases per kind (60 in CI, more in `make soak`).

mod security_common;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kube::api::{DeleteParams, DynamicObject, PostParams};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use security_common::{api, current, ready};
use support::e2e::{ACCOUNT_A, ACCOUNT_B, Emulator, Operator, create_account_credentials};
use support::{Cluster, TestNamespace, install_crds, repo_root, wait_for};

/// Kinds whose controller runs in this build; the others are checked at the API server only.
const RECONCILED: &[&str] = &["CrossAccountRole", "RamUser", "StsGrant"];
const SETTLE: Duration = Duration::from_secs(240);

/// One leaf of a spec schema: its JSON path (`["spec", "policies", "0", "name"]`) and schema.
#[derive(Debug, Clone)]
struct Leaf {
    path: Vec<String>,
    schema: Value,
}

impl Leaf {
    /// The API server's notation: `spec.policies[0].name`.
    fn display(&self) -> String {
        let mut text = String::new();
        for segment in &self.path {
            if segment.parse::<usize>().is_ok() {
                text.push_str(&format!("[{segment}]"));
            } else {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(segment);
            }
        }
        text
    }
    fn name(&self) -> &str {
        self.path
            .iter()
            .rev()
            .find(|s| s.parse::<usize>().is_err())
            .map_or("", String::as_str)
    }
}

fn spec_schema(kind: &str) -> Value {
    let plural = security_common::KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, p)| *p)
        .unwrap();
    let text = std::fs::read_to_string(repo_root().join(format!("crds/{plural}.yaml"))).unwrap();
    let crd: Value = serde_yaml::from_str(&text).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
}

/// Every leaf (and every array / map, which have constraints of their own) under `schema`
/// that is present in `base`.
fn leaves(schema: &Value, base: &Value, path: Vec<String>, out: &mut Vec<Leaf>) {
    if path.len() > 1 {
        out.push(Leaf {
            path: path.clone(),
            schema: schema.clone(),
        });
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (name, child) in properties {
            if let Some(value) = base.get(name) {
                let mut next = path.clone();
                next.push(name.clone());
                leaves(child, value, next, out);
            }
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), base.as_array())
        && !values.is_empty()
    {
        let mut next = path.clone();
        next.push("0".into());
        leaves(items, &values[0], next, out);
    }
}

fn set(root: &mut Value, path: &[String], value: Value) {
    let mut node = root;
    for segment in &path[..path.len() - 1] {
        node = match segment.parse::<usize>() {
            Ok(index) => &mut node[index],
            Err(_) => &mut node[segment.as_str()],
        };
    }
    let last = &path[path.len() - 1];
    match last.parse::<usize>() {
        Ok(index) => node[index] = value,
        Err(_) => node[last.as_str()] = value,
    }
}

/// Whether every container on `path` (but the last segment) is still an object or array.
fn settable(root: &Value, path: &[String]) -> bool {
    let mut node = root;
    for segment in &path[..path.len() - 1] {
        node = match (segment.parse::<usize>(), node) {
            (Ok(index), Value::Array(items)) if index < items.len() => &items[index],
            (Err(_), Value::Object(map)) if map.contains_key(segment.as_str()) => {
                &map[segment.as_str()]
            }
            _ => return false,
        };
    }
    match (path[path.len() - 1].parse::<usize>(), node) {
        (Ok(index), Value::Array(items)) => index < items.len(),
        (Err(_), Value::Object(_)) => true,
        _ => false,
    }
}

fn get<'a>(root: &'a Value, path: &[String]) -> &'a Value {
    let mut node = root;
    for segment in path {
        node = match segment.parse::<usize>() {
            Ok(index) => &node[index],
            Err(_) => &node[segment.as_str()],
        };
    }
    node
}

fn random_text(rng: &mut StdRng, max: usize) -> String {
    let pieces = [
        "a", "Z", "0", " ", "é", "日本", "\"", "'", "{", "}", "[", "]", ":", ",", "\\", "\n", "\t",
        "<script>", "${x}", "%00", "../", "null", "😀", "\u{202e}",
    ];
    let len = rng.random_range(1..=max.clamp(1, 40));
    let mut text = String::new();
    while text.chars().count() < len {
        text.push_str(pieces.choose(rng).unwrap());
    }
    text.chars().take(max.max(1)).collect()
}

fn dns_name(rng: &mut StdRng) -> String {
    format!("fz-{}", rng.random_range(0..1_000_000u32))
}

fn digits(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

const DOCUMENT: &str =
    r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"amqp:*","Resource":"*"}]}"#;

/// A valid value for `leaf` (the same type, inside every single-field constraint).
fn valid(leaf: &Leaf, rng: &mut StdRng, current: &Value) -> Value {
    let schema = &leaf.schema;
    if let Some(values) = schema["enum"].as_array() {
        return values.choose(rng).cloned().unwrap_or(Value::Null);
    }
    match schema["type"].as_str().unwrap_or_default() {
        "integer" => {
            let min = schema["minimum"].as_f64().unwrap_or(0.0) as i64;
            let max = schema["maximum"].as_f64().unwrap_or(100_000.0) as i64;
            json!(rng.random_range(min..=max))
        }
        "boolean" => json!(rng.random_bool(0.5)),
        "array" | "object" => current.clone(),
        _ => {
            let name = leaf.name();
            let duration = ["1m", "90s", "15m", "1h", "2h30m", "36h", "1.5h"];
            let text = match name {
                "name" if leaf.display().contains("olicies[") => [
                    "AliyunAMQPFullAccess",
                    "AliyunSTSAssumeRoleAccess",
                    "NoSuchPolicy-x",
                    "ReadOnlyAccess",
                ]
                .choose(rng)
                .unwrap()
                .to_string(),
                "name" | "secretName" | "accessKeySecretName" | "passwordSecretName" => {
                    dns_name(rng)
                }
                "roleName" | "userName" => format!("Fz.{}-x", rng.random_range(0..100_000u32)),
                "accessKeyIdKey" | "accessKeySecretKey" | "securityTokenKey" | "key" => {
                    ["AccessKeyId", "id", "x.y_z-1", "AccessKeySecret"]
                        .choose(rng)
                        .unwrap()
                        .to_string()
                }
                "roleArn" => format!(
                    "acs:ram::{}:role/fz-{}",
                    [ACCOUNT_A, ACCOUNT_B].choose(rng).unwrap(),
                    rng.random_range(0..100u32)
                ),
                "roleSessionName" => format!("s@fz_{}.x", rng.random_range(0..1000u32)),
                "externalId" => format!("ext:{}/=+", rng.random_range(0..1000u32)),
                "refreshBefore" | "every" | "gracePeriod" | "minInterval" => {
                    duration.choose(rng).unwrap().to_string()
                }
                "email" => "someone@example.com".into(),
                "mobilePhone" => format!("86-{}", digits(rng, 11)),
                _ if leaf.display() == "spec.trustedAccounts[0]" => {
                    let n = rng.random_range(1..=32);
                    digits(rng, n)
                }
                _ if leaf.display() == "spec.trustedPrincipals[0]" => {
                    format!("acs:ram::{}:user/fz@x", digits(rng, 16))
                }
                "document" | "policy" | "assumeRolePolicyDocument" if rng.random_bool(0.5) => {
                    DOCUMENT.to_string()
                }
                _ => {
                    let max = schema["maxLength"].as_u64().unwrap_or(64) as usize;
                    random_text(rng, max)
                }
            };
            json!(text)
        }
    }
}

/// An invalid value for `leaf` breaking one of its own constraints, or None if it has none.
fn invalid(leaf: &Leaf, rng: &mut StdRng, current: &Value) -> Option<Value> {
    let schema = &leaf.schema;
    let mut options: Vec<Value> = Vec::new();
    match schema["type"].as_str().unwrap_or_default() {
        "string" => options.push(json!(12345)),
        "integer" => options.push(json!("many")),
        "boolean" => options.push(json!("yes")),
        "array" => options.push(json!("not-a-list")),
        "object" => options.push(json!(["not", "an", "object"])),
        _ => {}
    }
    if schema.get("enum").is_some() {
        options.push(json!("NotAnAllowedValue"));
    }
    if schema.get("pattern").is_some() {
        options.push(json!("bad value/../é"));
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        options.push(json!("a".repeat(max as usize + 1)));
    }
    if let Some(min) = schema["minLength"].as_u64()
        && min >= 1
    {
        options.push(json!("a".repeat(min as usize - 1)));
    }
    if let Some(min) = schema["minimum"].as_f64() {
        options.push(json!(min as i64 - 1));
    }
    if let Some(max) = schema["maximum"].as_f64() {
        options.push(json!(max as i64 + 1));
    }
    if let (Some(max), Some(items)) = (schema["maxItems"].as_u64(), current.as_array())
        && let Some(first) = items.first()
    {
        // Distinct items where the list is a set or a map, so only the count is wrong.
        let many: Vec<Value> = (0..=max).map(|index| distinct(first, index, rng)).collect();
        options.push(Value::Array(many));
    }
    if schema["minItems"].as_u64().is_some_and(|min| min >= 1) {
        options.push(json!([]));
    }
    if leaf.name() == "refreshBefore" {
        options.push(json!("30s"));
    }
    options.choose(rng).cloned()
}

fn distinct(first: &Value, index: u64, rng: &mut StdRng) -> Value {
    match first {
        Value::String(text) if text.chars().all(|c| c.is_ascii_digit()) => {
            json!(format!("{}{index}", digits(rng, 4)))
        }
        Value::String(text) if text.starts_with("acs:") => json!(format!("{text}{index}")),
        Value::Object(map) => {
            let mut map = map.clone();
            if let Some(Value::String(name)) = map.get("name") {
                map.insert("name".into(), json!(format!("{name}-{index}")));
            }
            Value::Object(map)
        }
        _ => first.clone(),
    }
}

/// Valid base specs per kind; between them every field appears.
fn bases(kind: &str, name: &str) -> Vec<Value> {
    let credentials = |secret: &str| {
        json!({"name": secret, "accessKeyIdKey": "AccessKeyId",
               "accessKeySecretKey": "AccessKeySecret", "securityTokenKey": "SecurityToken"})
    };
    match kind {
        "CrossAccountRole" => vec![
            json!({
                "roleName": name, "description": "fuzzed role",
                "trustedAccounts": [ACCOUNT_B],
                "trustedPrincipals": [format!("acs:ram::{ACCOUNT_B}:user/app")],
                "maxSessionDuration": 3600,
                "policies": [{"name": "AliyunAMQPFullAccess", "type": "System"}],
                "inlinePolicies": [{"name": "inline-1", "document": DOCUMENT, "description": "d"}],
                "adoption": "Never", "credentialsRef": credentials("account-a-credentials"),
                "deletionPolicy": "Delete",
            }),
            json!({
                "roleName": name,
                "assumeRolePolicyDocument": ram_operator::alicloud::policy::TrustPolicy::for_accounts(&[ACCOUNT_B]).to_json(),
                "credentialsRef": {"name": "account-a-credentials"},
            }),
        ],
        "StsGrant" => vec![
            json!({
                "roleArn": format!("acs:ram::{ACCOUNT_A}:role/fz-missing"),
                "roleSessionName": "fz-session", "durationSeconds": 3600, "policy": DOCUMENT,
                "externalId": "ext-id", "refreshBefore": "20m", "secretName": format!("{name}-out"),
                "formats": ["Env", "CliConfig"],
                "rollout": {"targets": [{"kind": "Deployment", "name": "app"}], "minInterval": "5m"},
                "secretDeletionPolicy": "Delete",
                "source": {"secretRef": credentials("account-b-credentials")},
            }),
            json!({"roleRef": {"name": "fz-missing-role"}, "source": {"ramUserRef": {"name": "fz-user"}}}),
        ],
        _ => vec![
            json!({
                "userName": name, "displayName": "Fuzzed", "comments": "c",
                "email": "a@example.com", "mobilePhone": "86-12345678901", "tags": {"team": "x"},
                "accessMode": "Programmatic",
                "programmatic": {"accessKeySecretName": format!("{name}-key"), "formats": ["Env"],
                                 "rotation": {"every": "24h", "gracePeriod": "1h"}},
                "policies": [{"name": "AliyunSTSAssumeRoleAccess", "type": "System"}],
                "adoption": "Never", "credentialsRef": credentials("account-b-credentials"),
                "deletionPolicy": "Delete",
            }),
            json!({"accessMode": "Console",
                   "console": {"mfaBindRequired": true, "passwordResetRequired": false,
                               "passwordSecretName": format!("{name}-pw")},
                   "credentialsRef": {"name": "account-b-credentials"}}),
            json!({"accessMode": "Console",
                   "console": {"passwordSecretRef": {"name": "pw", "key": "password"}},
                   "credentialsRef": {"name": "account-b-credentials"}}),
        ],
    }
}

#[derive(Default, Debug)]
struct Tally {
    accepted: usize,
    refused_invalid: usize,
    refused_valid_cross_field: usize,
}

#[tokio::test]
async fn fuzzed_manifests_are_refused_clearly_or_reconciled_without_wedging() {
    let seed: u64 = std::env::var("SCHEMA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let cases: usize = std::env::var("SCHEMA_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    println!("schema_fuzz seed={seed} cases_per_kind={cases}");
    let mut rng = StdRng::seed_from_u64(seed);

    let cluster = Cluster::connect().await;
    install_crds(&cluster).await;
    let namespace = TestNamespace::create(&cluster, "schema-fuzz").await;
    let ns = namespace.name.clone();
    create_account_credentials(&cluster, &ns).await;
    let emulator = Emulator::start(&ns, 1.0).await;
    let operator = Operator::start(&cluster, &emulator, &ns, &["--resync-interval", "10s"]).await;

    // /livez watched for the whole run.
    let stop = Arc::new(AtomicBool::new(false));
    let livez_failures = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, failures) = (stop.clone(), livez_failures.clone());
        let url = format!("{}/livez", operator.health_url);
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                if security_common::get_text(&url).await.is_none() {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    let mut tally: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut accepted: Vec<(&str, String, String)> = Vec::new();
    for (kind, _) in security_common::KINDS {
        let schema = spec_schema(kind);
        let short: String = kind.chars().filter(char::is_ascii_uppercase).collect();
        for case in 0..cases {
            let name = format!("fz-{}-{case}", short.to_ascii_lowercase());
            let bases = bases(kind, &name);
            let mut spec = bases.choose(&mut rng).unwrap().clone();
            let mut all = Vec::new();
            leaves(&schema, &spec, vec!["spec".into()], &mut all);
            let count = rng.random_range(1..=2usize).min(all.len());
            let chosen: Vec<Leaf> = all.choose_multiple(&mut rng, count).cloned().collect();
            let mut invalid_fields = Vec::new();
            let mut described = Vec::new();
            for leaf in &chosen {
                let path = &leaf.path[1..];
                if !settable(&spec, path) {
                    // An earlier mutation replaced a container of this field.
                    continue;
                }
                let current = get(&spec, path).clone();
                let bad = if rng.random_bool(0.35) {
                    invalid(leaf, &mut rng, &current)
                } else {
                    None
                };
                let value = match bad {
                    Some(value) => {
                        invalid_fields.push(leaf.display());
                        value
                    }
                    None => valid(leaf, &mut rng, &current),
                };
                described.push(format!("{}={}", leaf.display(), short_json(&value)));
                set(&mut spec, path, value);
            }
            let object: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "ram.alicloud.dev/v1alpha1", "kind": kind,
                "metadata": {"name": name}, "spec": spec,
            }))
            .unwrap();
            let result = api(&cluster, &ns, kind)
                .create(&PostParams::default(), &object)
                .await;
            let entry = tally.entry(kind).or_default();
            match result {
                Ok(_) => {
                    assert!(
                        invalid_fields.is_empty(),
                        "seed {seed}: {kind} {name} accepted with invalid {invalid_fields:?}: {described:?}"
                    );
                    entry.accepted += 1;
                    accepted.push((kind, name, described.join(" ")));
                }
                Err(kube::Error::Api(status)) => {
                    let message = status.message;
                    if invalid_fields.is_empty() {
                        // Valid values alone: only a cross-field rule may refuse, naming a field.
                        assert!(
                            message.contains("spec"),
                            "seed {seed}: {kind} {name} refused without naming a field: {message} ({described:?})"
                        );
                        entry.refused_valid_cross_field += 1;
                    } else {
                        let named = invalid_fields.iter().any(|field| {
                            let top: String = field
                                .split(['[', '.'])
                                .take(2)
                                .collect::<Vec<_>>()
                                .join(".");
                            message.contains(field.as_str()) || message.contains(&top)
                        });
                        assert!(
                            named,
                            "seed {seed}: {kind} {name}: refusal does not name {invalid_fields:?}: {message}"
                        );
                        entry.refused_invalid += 1;
                    }
                }
                Err(other) => panic!("seed {seed}: {kind} {name}: {other}"),
            }
        }
    }

    // Every accepted object of a reconciled kind settles: a Ready condition for its
    // generation, whatever it says.
    for (kind, name, described) in accepted.iter().filter(|(k, _, _)| RECONCILED.contains(k)) {
        let api = api(&cluster, &ns, kind);
        wait_for(
            &format!("seed {seed}: {kind} {name} ({described}) to get a Ready condition"),
            SETTLE,
            || {
                let api = api.clone();
                async move {
                    let object = api.get(name).await.map_err(|e| e.to_string())?;
                    if current(&object) {
                        Ok(())
                    } else {
                        Err(format!("{:?}", ready(&object)))
                    }
                }
            },
        )
        .await;
    }
    // Every object deletes: nothing is wedged behind a finalizer. All deletions are asked for
    // first: one at a time, each waited for its turn at the cloud rate limit behind the
    // reconciles of every object still there (about 40 s each with 550 objects in a soak).
    for (kind, name, _) in &accepted {
        let _ = api(&cluster, &ns, kind)
            .delete(name, &DeleteParams::default())
            .await;
    }
    for (kind, name, described) in &accepted {
        let api = api(&cluster, &ns, kind);
        wait_for(
            &format!("seed {seed}: {kind} {name} ({described}) to be deleted"),
            SETTLE,
            || {
                let api = api.clone();
                async move {
                    match api.get_opt(name).await {
                        Ok(None) => Ok(()),
                        Ok(Some(object)) => Err(format!("still there: {:?}", ready(&object))),
                        Err(error) => Err(error.to_string()),
                    }
                }
            },
        )
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    let _ = watcher.await;
    assert_eq!(livez_failures.load(Ordering::SeqCst), 0, "/livez failed");
    assert!(
        !operator.logs().contains("panicked"),
        "the operator panicked"
    );
    println!("schema_fuzz seed={seed} {tally:?}");
}

fn short_json(value: &Value) -> String {
    let text = value.to_string();
    let count = text.chars().count();
    if count > 60 {
        format!(
            "{}...({count} chars)",
            text.chars().take(60).collect::<String>()
        )
    } else {
        text
    }
}
