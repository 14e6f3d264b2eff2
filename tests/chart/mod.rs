//! Rendering the Helm chart with the real `helm` (built from Go modules by
//! `scripts/envtest.sh build-helm`), shared by the chart tests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

/// The `helm` binary: `$RAM_OPERATOR_HELM`, else `helm` on PATH.
pub fn helm() -> PathBuf {
    std::env::var_os("RAM_OPERATOR_HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("helm"))
}

/// The chart directory.
pub fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("charts/ram-operator")
}

/// Runs helm with `args`; stdout, or a panic with both outputs.
pub fn run_helm(args: &[&str]) -> String {
    let output = Command::new(helm())
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run helm ({e}): build it with `scripts/envtest.sh build-helm` and put \
                 it on PATH, or set RAM_OPERATOR_HELM"
            )
        });
    assert!(
        output.status.success(),
        "helm {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `helm template <release> <chart> -n <namespace> <set...>`: the manifest text.
pub fn template(release: &str, namespace: &str, sets: &[&str]) -> String {
    let chart = chart_dir();
    let chart = chart.to_str().expect("a UTF-8 chart path");
    let mut args = vec!["template", release, chart, "--namespace", namespace];
    for set in sets {
        args.push("--set");
        args.push(set);
    }
    run_helm(&args)
}

/// The objects of a rendered manifest.
pub fn objects(manifest: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(manifest)
        .map(|document| Value::deserialize(document).expect("helm rendered valid YAML"))
        .filter(|value| !value.is_null())
        .collect()
}

/// `kind` of an object.
pub fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

/// `metadata.name` of an object.
pub fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}
