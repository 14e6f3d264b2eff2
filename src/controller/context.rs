//! What every reconcile shares: the Kubernetes and Alibaba Cloud clients, the operator's
//! settings, the event recorder, metrics, and per-object failure counts for backoff.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Error, backoff_delay};
use super::initial_list::ListStrategy;
use crate::alicloud::{self, SharedCredentialsProvider};
use crate::metrics::Metrics;

/// The one field manager of everything the operator writes (server-side apply).
pub const FIELD_MANAGER: &str = "ram-operator";

/// Operator-wide settings that reconcilers read.
#[derive(Clone, Debug)]
pub struct Settings {
    /// First part of the ownership tag value.
    pub cluster_name: String,
    /// The operator's own identity, when `--default-credentials` allows it.
    pub default_credentials: Option<SharedCredentialsProvider>,
    /// Period of the drift check.
    pub resync_interval: Duration,
    /// Region written into rendered `aliyun` CLI profiles.
    pub region: String,
    /// How the watches list the existing objects.
    pub initial_list: ListStrategy,
}

impl Settings {
    /// The base configuration of every watch (labels and the like still to be added).
    pub fn watcher_config(&self) -> watcher::Config {
        self.initial_list.watcher_config()
    }
}

/// Shared state of all controllers.
pub struct Context {
    pub kube: kube::Client,
    pub cloud: alicloud::Client,
    pub settings: Settings,
    /// Publishes Events that may repeat, folding repeats into a series.
    pub recorder: Recorder,
    /// Who publishes, for [`Context::event_once`].
    reporter: Reporter,
    pub metrics: Metrics,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        kube: kube::Client,
        cloud: alicloud::Client,
        settings: Settings,
        reporter: Reporter,
        metrics: Metrics,
    ) -> Self {
        Self {
            recorder: Recorder::new(kube.clone(), reporter.clone()),
            reporter,
            kube,
            cloud,
            settings,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The value of the ownership tag for an object: `<cluster>/<namespace>/<kind>/<name>`.
    pub fn owner_tag_value(&self, namespace: &str, kind: &str, name: &str) -> String {
        owner_tag_value(&self.settings.cluster_name, namespace, kind, name)
    }

    /// Publishes an Event; a failure to publish is logged, never fails the reconcile.
    ///
    /// The Event's `action` is `action` plus a short hash of the note. Why: kube-runtime's
    /// `Recorder` folds every Event with the same type, reason and action on one object within
    /// 6 minutes into a series of the FIRST one, keeping its note, so two different revocations
    /// in a row would both read like the first. With the note's hash in the action, repeated
    /// identical Events still fold into one series and different ones stay visible.
    pub async fn event(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: impl Into<String>,
    ) {
        publish(
            &self.recorder,
            reference,
            new_event(type_, reason, action, note.into()),
        )
        .await;
    }

    /// Publishes an Event whose note is new every time (it names fresh credentials), so it can
    /// never join a series; a failure to publish is logged.
    ///
    /// Why not [`Context::event`]: the shared `Recorder` keeps every Event it published for 6
    /// minutes to find series, and scans that cache on every publish. One such Event per
    /// refresh made it hold one Event per grant refreshed in the last 6 minutes (10,000 and
    /// more at scale: tens of MiB, and a scan of all of them per publish) for series that never
    /// form. A `Recorder` of its own per Event keeps nothing.
    pub async fn event_once(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: impl Into<String>,
    ) {
        let recorder = Recorder::new(self.kube.clone(), self.reporter.clone());
        publish(
            &recorder,
            reference,
            new_event(type_, reason, action, note.into()),
        )
        .await;
    }

    /// Counts a failure of `key` and returns how long to wait before the next attempt.
    pub fn next_backoff(&self, key: &str) -> Duration {
        let failures = {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            let count = failures.entry(key.to_string()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        backoff_delay(failures, rand::random::<f64>())
    }

    /// Forgets the failures of `key` after a successful reconcile.
    pub fn reset_backoff(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// The resync delay of `key`: the interval less a stable per-object jitter of up to 10 %,
    /// so objects created together do not all resync together.
    pub fn resync_after(&self, key: &str) -> Duration {
        self.settings
            .resync_interval
            .mul_f64(1.0 - 0.1 * stable_fraction(key))
    }
}

/// Publishes `event` through `recorder`; a failure is logged, never returned.
async fn publish(recorder: &Recorder, reference: &ObjectReference, event: Event) {
    if let Err(error) = recorder.publish(&event, reference).await {
        tracing::warn!(%error, reason = event.reason, "could not publish event");
    }
}

fn new_event(type_: EventType, reason: &str, action: &str, note: String) -> Event {
    let note = truncate(note, 1000);
    Event {
        type_,
        reason: reason.to_string(),
        action: event_action(action, &note),
        note: Some(note),
        secondary: None,
    }
}

/// `<action>-<8 hex digits of the note's hash>`: machine-readable, within the API's 128
/// characters.
///
/// A cloud error's `[RequestId ...]` differs on every attempt; it is left out of the hash so a
/// failure retried many times stays one Event series instead of a flood.
pub fn event_action(action: &str, note: &str) -> String {
    let hash = (stable_fraction(&without_request_ids(note)) * f64::from(u32::MAX)) as u32;
    let action: String = action.chars().take(100).collect();
    format!("{action}-{hash:08x}")
}

fn without_request_ids(note: &str) -> String {
    const MARK: &str = "[RequestId ";
    let mut out = String::with_capacity(note.len());
    let mut rest = note;
    while let Some(start) = rest.find(MARK) {
        out.push_str(&rest[..start]);
        match rest[start..].find(']') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `<cluster>/<namespace>/<kind>/<name>`.
pub fn owner_tag_value(cluster: &str, namespace: &str, kind: &str, name: &str) -> String {
    format!("{cluster}/{namespace}/{kind}/{name}")
}

/// A number in [0, 1) that depends only on `key` (FNV-1a), stable across restarts and builds.
pub fn stable_fraction(key: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Writes the whole status of `name` with server-side apply. The status is always sent whole,
/// because apply removes fields the manager owned but left out.
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    apply_status_object(api, name, status).await?;
    Ok(())
}

/// [`apply_status`], returning the object as written (for its new `resourceVersion`).
pub async fn apply_status_object<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<K, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    Ok(api
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?)
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_tag_names_cluster_namespace_kind_and_name() {
        assert_eq!(
            owner_tag_value("prod", "team-a", "RamUser", "app"),
            "prod/team-a/RamUser/app"
        );
    }

    #[test]
    fn stable_fraction_is_stable_and_spread() {
        assert_eq!(stable_fraction("a/b"), stable_fraction("a/b"));
        assert_ne!(stable_fraction("a/b"), stable_fraction("a/c"));
        let values: Vec<f64> = (0..1000)
            .map(|i| stable_fraction(&format!("ns/grant-{i}")))
            .collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let low = values.iter().filter(|v| **v < 0.5).count();
        assert!((400..600).contains(&low), "{low} of 1000 below one half");
    }

    #[test]
    fn event_actions_tell_different_notes_apart() {
        let revoke_b = event_action("UpdateRole", "account 2 can no longer assume role r");
        let revoke_c = event_action("UpdateRole", "account 3 can no longer assume role r");
        assert_ne!(revoke_b, revoke_c);
        assert_eq!(
            revoke_b,
            event_action("UpdateRole", "account 2 can no longer assume role r")
        );
        assert!(revoke_b.starts_with("UpdateRole-"));
        assert!(event_action(&"x".repeat(300), "n").len() <= 128);
    }

    #[test]
    fn retries_of_one_failure_share_an_event_series() {
        let first =
            "AssumeRole: NoPermission (HTTP 403): denied [RequestId 6781C6CF-8A1B] retrying";
        let second =
            "AssumeRole: NoPermission (HTTP 403): denied [RequestId 2D071F4A-FCA8] retrying";
        assert_eq!(
            event_action("Refresh", first),
            event_action("Refresh", second)
        );
        assert_ne!(
            event_action("Refresh", first),
            event_action("Refresh", "AssumeRole: Throttling.User [RequestId 1]")
        );
        assert_eq!(
            without_request_ids("a [RequestId x] b [RequestId y"),
            "a  b "
        );
    }

    #[test]
    fn events_carry_the_cut_note_and_its_action() {
        let event = new_event(EventType::Normal, "R", "Refresh", "x".repeat(1500));
        let note = event.note.unwrap();
        assert_eq!(note.len(), 1000);
        assert_eq!(event.action, event_action("Refresh", &note));
        assert_eq!(event.reason, "R");
    }

    #[test]
    fn long_notes_are_cut_on_a_char_boundary() {
        let text = truncate("é".repeat(600), 1000);
        assert!(text.len() <= 1000);
        assert!(text.chars().all(|c| c == 'é'));
    }
}
