//! Helpers shared by the security, schema-fuzz and fault tests: the three kinds as dynamic
//! objects (so one helper serves all), their `Ready` condition, and the secret scan over
//! everything a run produced (operator logs, Events, object YAML, `/metrics`).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;

use crate::support::Cluster;

/// API group and version of the three kinds.
pub const GROUP: &str = "ram.alicloud.dev";
pub const VERSION: &str = "v1alpha1";

/// The three kinds: (kind, plural).
pub const KINDS: &[(&str, &str)] = &[
    ("CrossAccountRole", "crossaccountroles"),
    ("RamUser", "ramusers"),
    ("StsGrant", "stsgrants"),
];

/// A namespaced dynamic API for `kind`.
pub fn api(cluster: &Cluster, namespace: &str, kind: &str) -> Api<DynamicObject> {
    let plural = KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, plural)| *plural)
        .unwrap_or_else(|| panic!("unknown kind {kind}"));
    let resource = ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(cluster.client.clone(), namespace, &resource)
}

/// The `Ready` condition of an object: (status, reason, message, observedGeneration).
pub fn ready(object: &DynamicObject) -> Option<(String, String, String, Option<i64>)> {
    let conditions = object.data.get("status")?.get("conditions")?.as_array()?;
    let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
    let text = |key: &str| ready[key].as_str().unwrap_or_default().to_string();
    Some((
        text("status"),
        text("reason"),
        text("message"),
        ready["observedGeneration"].as_i64(),
    ))
}

/// Whether the object's `Ready` condition is about its current generation.
pub fn current(object: &DynamicObject) -> bool {
    ready(object).is_some_and(|(_, _, _, generation)| generation == object.metadata.generation)
}

/// Every value of every Secret in `namespace` (decoded), at least 8 characters long: the
/// credentials the tests put there and everything the operator wrote from the emulator.
pub async fn secret_values(cluster: &Cluster, namespace: &str) -> BTreeSet<String> {
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    let mut values = BTreeSet::new();
    let Ok(list) = secrets.list(&ListParams::default()).await else {
        return values;
    };
    for secret in list.items {
        for (key, value) in secret.data.unwrap_or_default() {
            let text = String::from_utf8_lossy(&value.0).into_owned();
            collect_secret_strings(&key, &text, &mut values);
        }
    }
    values
}

/// The secret strings of one Secret entry: the whole value when the entry's key names a
/// secret, and the secret fields of a JSON (`config.json`) or INI / `.env` rendering inside it.
pub fn collect_secret_strings(key: &str, text: &str, into: &mut BTreeSet<String>) {
    if let Ok(json) = serde_json::from_str::<Value>(text) {
        collect_json(&json, into);
        return;
    }
    let whole = text.trim();
    if is_secret_key(key) && whole.len() >= 8 && !is_public(whole) {
        into.insert(whole.to_string());
    }
    for line in text.lines() {
        // `.env` and INI renderings: only the values of secret keys (not `type = access_key`).
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        if is_secret_key(key) && value.len() >= 8 && !is_public(value) {
            into.insert(value.to_string());
        }
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["secret", "token", "password"]
        .iter()
        .any(|word| key.contains(word))
}

fn collect_json(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                if is_secret_key(key)
                    && let Value::String(text) = item
                {
                    if text.len() >= 8 {
                        into.insert(text.clone());
                    }
                } else {
                    collect_json(item, into);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_json(item, into)),
        _ => {}
    }
}

/// Values that sit in credential Secrets but are not secret (ids, ARNs, times, regions).
fn is_public(value: &str) -> bool {
    value.starts_with("LTAI")
        || value.starts_with("STS.")
        || value.starts_with("acs:")
        || value.starts_with("cn-")
        || value.starts_with("20")
        || value.parse::<f64>().is_ok()
}

/// Everything a run produced about `namespace` that must hold no secret: the operator logs,
/// Events, the three kinds' full YAML (status included) and the metrics exposition.
pub async fn artifacts(cluster: &Cluster, namespace: &str, logs: &str, metrics: &str) -> String {
    let mut text = String::from(logs);
    for args in [
        vec!["get", "events", "-n", namespace, "-o", "yaml"],
        vec![
            "get",
            "crossaccountroles,ramusers,stsgrants",
            "-n",
            namespace,
            "-o",
            "yaml",
        ],
    ] {
        let output = cluster.kubectl(&args).await;
        text.push_str(&output.stdout);
        text.push_str(&output.stderr);
    }
    text.push_str(metrics);
    text
}

/// Fails naming the first secret (by its length and position only) found in `text`.
pub fn assert_no_secret(what: &str, text: &str, secrets: &BTreeSet<String>) {
    assert!(!secrets.is_empty(), "no secrets collected to scan for");
    for secret in secrets {
        if let Some(at) = text.find(secret.as_str()) {
            let start = (at.saturating_sub(120)..at)
                .find(|index| text.is_char_boundary(*index))
                .unwrap_or(at);
            let context = &text[start..at];
            panic!(
                "{what}: a secret of {} characters appears after: ...{context}",
                secret.len()
            );
        }
    }
}

/// GET `url` as text, with a bounded wait (None when it does not answer).
pub async fn get_text(url: &str) -> Option<String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}
