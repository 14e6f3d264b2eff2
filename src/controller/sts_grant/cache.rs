//! What the grant controller keeps of Secrets so that a reconcile needs no read of them.
//!
//! Before, every reconcile read the grant's own Secret and its source Secret with a GET: two
//! of the five API requests of a first issue, and the whole cost of a reconcile that only
//! learns "not due yet" (after a restart, every grant). Two caches replace them:
//!
//! - [`SecretCache`]: the labelled Secrets the controller already watches, kept as the little
//!   a decision needs ([`CachedSecret`]: the annotations, the labels, whether the data is
//!   intact), not the credentials themselves. The reconcile trusts an entry when this process
//!   has not written that Secret, or when the entry shows its last write; otherwise (the cache
//!   lags behind the own write, or has no entry: first issue, or a Secret of that name that
//!   is not labelled and so never cached) it reads the Secret. So a stale entry can cost at
//!   most a write that changes nothing, never an `AssumeRole` or a write over a foreign Secret.
//! - [`SourceSecrets`]: the data of source Secrets, for a few seconds per namespace and name,
//!   with one read for all grants that miss at once. Source Secrets are not labelled and may
//!   not be listed (the operator lists and watches labelled Secrets only), so they are read
//!   with GET, once per burst instead of once per grant. A labelled source (a `RamUser`'s
//!   AccessKey Secret) is dropped from it on every watch event, so a key rotation is seen at
//!   once; an edit of an unlabelled one is seen within [`SOURCE_TTL`], as before at the next
//!   refresh or resync.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::runtime::watcher;
use tokio::sync::{OnceCell, watch};

use super::decide::Served;
use super::output::GRANT_LABEL;
use super::{key, namespaced_key};
use crate::controller::error::Error;
use crate::crd::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};

/// How long a source Secret's data is reused: long enough for the grants of a namespace
/// reconciled in one burst (start-up, a restart, a cycle's peak) to share one read, short
/// enough that an edit is seen before the next refresh of any grant using it.
pub const SOURCE_TTL: Duration = Duration::from_secs(5);

/// A grant's Secret as far as deciding goes: no credential values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedSecret {
    pub resource_version: Option<String>,
    /// The grant label's value when the Secret carries the operator's managed-by label.
    pub written_for: Option<String>,
    /// What it serves, `intact` as checked for the keys rendered without `config.json`.
    served: Served,
    /// Whether it is intact when `config.json` is among the rendered keys.
    intact_with_cli_config: bool,
}

impl CachedSecret {
    pub fn from_secret(secret: &Secret) -> Self {
        let labels = secret.labels();
        let managed = labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_VALUE);
        Self {
            resource_version: secret.metadata.resource_version.clone(),
            written_for: labels.get(GRANT_LABEL).filter(|_| managed).cloned(),
            served: Served::from_secret(secret, false),
            intact_with_cli_config: Served::from_secret(secret, true).intact,
        }
    }

    /// What the Secret serves to a grant that renders `config.json` or not.
    pub fn served(&self, cli_config: bool) -> Served {
        let mut served = self.served.clone();
        if cli_config {
            served.intact = self.intact_with_cli_config;
        }
        served
    }

    /// The refresh the Secret's writer planned (`next-refresh-at`).
    pub fn next_refresh(&self) -> Option<jiff::Timestamp> {
        self.served.next_refresh
    }
}

/// The labelled Secrets of a watch, by `namespace/name`, fed with the watch's events.
#[derive(Debug)]
pub struct SecretCache {
    state: Mutex<CacheState>,
    /// Whether the first list is complete.
    listed: watch::Sender<bool>,
}

impl Default for SecretCache {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            listed: watch::Sender::new(false),
        }
    }
}

#[derive(Debug, Default)]
struct CacheState {
    entries: HashMap<String, Arc<CachedSecret>>,
    /// A re-list in progress: its objects replace `entries` when it is complete, so a Secret
    /// deleted while the watch was down does not stay.
    relisting: Option<HashMap<String, Arc<CachedSecret>>>,
}

impl SecretCache {
    /// Takes in one watch event.
    pub fn observe(&self, event: &watcher::Event<Secret>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            watcher::Event::Apply(secret) => {
                let entry = Arc::new(CachedSecret::from_secret(secret));
                state.entries.insert(key(secret), entry);
            }
            watcher::Event::Delete(secret) => {
                state.entries.remove(&key(secret));
            }
            watcher::Event::Init => state.relisting = Some(HashMap::new()),
            watcher::Event::InitApply(secret) => {
                let entry = Arc::new(CachedSecret::from_secret(secret));
                // Visible at once (a first list must not wait for its last page), and kept
                // when the list completes.
                state.entries.insert(key(secret), entry.clone());
                if let Some(relisting) = state.relisting.as_mut() {
                    relisting.insert(key(secret), entry);
                }
            }
            watcher::Event::InitDone => {
                if let Some(listed) = state.relisting.take() {
                    state.entries = listed;
                }
                self.listed.send_replace(true);
            }
        }
    }

    /// Whether an event (already observed) should trigger the grants of its Secret: not the
    /// objects of the first list. Every grant is reconciled at the start anyway, after that
    /// list ([`Self::listed_by`]), so as triggers they only doubled the reconciles of a start
    /// (20,000 at 10,000 grants). A later re-list may carry changes the watch missed: those
    /// trigger.
    pub fn triggers(&self, event: &watcher::Event<Secret>) -> bool {
        !matches!(event, watcher::Event::InitApply(_)) || *self.listed.borrow()
    }

    /// Waits until the first list of the watch is complete, but not past `deadline`; whether
    /// it is.
    ///
    /// Why: after a start every grant is reconciled, most of them before the Secrets are
    /// listed; each would read its Secret instead (10,000 GETs at 10,000 grants, ahead of the
    /// grants that are due). A missing Secret is only known to be missing once the list is
    /// complete. The deadline keeps a watch that cannot list from stalling the controller.
    pub async fn listed_by(&self, deadline: tokio::time::Instant) -> bool {
        let mut listed = self.listed.subscribe();
        matches!(
            tokio::time::timeout_at(deadline, listed.wait_for(|listed| *listed)).await,
            Ok(Ok(_))
        )
    }

    /// The cached Secret `name` in `namespace`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<CachedSecret>> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.entries.get(&namespaced_key(namespace, name)).cloned()
    }
}

/// Secret data.
pub type SecretData = Arc<BTreeMap<String, ByteString>>;

struct SourceEntry {
    read_at: Instant,
    data: Arc<OnceCell<SecretData>>,
}

/// Source Secrets' data by `namespace/name`, each for [`SOURCE_TTL`].
#[derive(Default)]
pub struct SourceSecrets {
    entries: Mutex<HashMap<String, SourceEntry>>,
}

impl SourceSecrets {
    /// The data of the Secret `key`: reused when read less than [`SOURCE_TTL`] ago, else from
    /// `read`, run once for concurrent callers. A failed read (including a missing Secret) is
    /// not kept, so the Secret is read again next time.
    pub async fn data<F, Fut>(&self, key: &str, read: F) -> Result<SecretData, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<BTreeMap<String, ByteString>, Error>>,
    {
        self.data_at(Instant::now(), key, read).await
    }

    async fn data_at<F, Fut>(&self, now: Instant, key: &str, read: F) -> Result<SecretData, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<BTreeMap<String, ByteString>, Error>>,
    {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let fresh =
                |entry: &SourceEntry| now.saturating_duration_since(entry.read_at) < SOURCE_TTL;
            if !entries.get(key).is_some_and(fresh) {
                // Expired entries go on every miss, so the map holds at most the sources
                // read in the last few seconds.
                entries.retain(|_, entry| fresh(entry));
                entries.insert(
                    key.to_owned(),
                    SourceEntry {
                        read_at: now,
                        data: Arc::default(),
                    },
                );
            }
            entries[key].data.clone()
        };
        cell.get_or_try_init(|| async { read().await.map(Arc::new) })
            .await
            .cloned()
    }

    /// Drops `key` (its Secret changed).
    pub fn invalidate(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kube::api::ObjectMeta;

    use super::*;
    use crate::controller::sts_grant::decide::{DATA_HASH_ANNOTATION, data_hash};

    fn secret(name: &str, version: &str, cli_config: bool) -> Secret {
        let mut data = BTreeMap::new();
        for key in [
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "ALIBABA_CLOUD_SECURITY_TOKEN",
            "expiration",
        ] {
            data.insert(key.to_owned(), ByteString(b"v".to_vec()));
        }
        if cli_config {
            data.insert("config.json".to_owned(), ByteString(b"{}".to_vec()));
        }
        let hash = data_hash(&data, cli_config).unwrap();
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some("ns".to_owned()),
                resource_version: Some(version.to_owned()),
                labels: Some(BTreeMap::from([
                    (MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned()),
                    (GRANT_LABEL.to_owned(), "g".to_owned()),
                ])),
                annotations: Some(BTreeMap::from([(DATA_HASH_ANNOTATION.to_owned(), hash)])),
                ..ObjectMeta::default()
            },
            data: Some(data),
            ..Secret::default()
        }
    }

    fn entries(cache: &SecretCache) -> usize {
        cache.state.lock().unwrap().entries.len()
    }

    #[test]
    fn a_cached_secret_knows_whether_it_is_intact_either_way() {
        let plain = CachedSecret::from_secret(&secret("s", "1", false));
        assert!(plain.served(false).intact);
        assert!(!plain.served(true).intact);
        let with_cli = CachedSecret::from_secret(&secret("s", "1", true));
        assert!(with_cli.served(true).intact);
        assert!(!with_cli.served(false).intact);
        assert_eq!(plain.written_for.as_deref(), Some("g"));
        assert_eq!(plain.resource_version.as_deref(), Some("1"));
        // Without the managed-by label, the grant label means nothing.
        let mut foreign = secret("s", "1", false);
        foreign.labels_mut().remove(MANAGED_BY_LABEL);
        assert_eq!(CachedSecret::from_secret(&foreign).written_for, None);
    }

    #[test]
    fn the_cache_follows_the_watch_and_a_relist_drops_what_is_gone() {
        let cache = SecretCache::default();
        cache.observe(&watcher::Event::Init);
        cache.observe(&watcher::Event::InitApply(secret("a", "1", false)));
        cache.observe(&watcher::Event::InitApply(secret("b", "1", false)));
        // Visible before the list is complete.
        assert!(cache.get("ns", "a").is_some());
        cache.observe(&watcher::Event::InitDone);
        assert_eq!(entries(&cache), 2);
        cache.observe(&watcher::Event::Apply(secret("a", "2", false)));
        let a = cache.get("ns", "a").unwrap();
        assert_eq!(a.resource_version.as_deref(), Some("2"));
        cache.observe(&watcher::Event::Delete(secret("a", "3", false)));
        assert!(cache.get("ns", "a").is_none());
        assert!(cache.get("other", "b").is_none());
        // A re-list without b (deleted while the watch was down).
        cache.observe(&watcher::Event::Init);
        cache.observe(&watcher::Event::InitApply(secret("c", "5", false)));
        cache.observe(&watcher::Event::InitDone);
        assert!(cache.get("ns", "b").is_none());
        assert!(cache.get("ns", "c").is_some());
        assert_eq!(entries(&cache), 1);
    }

    #[test]
    fn only_the_first_list_triggers_nothing() {
        let cache = SecretCache::default();
        let observed = |event: watcher::Event<Secret>| {
            cache.observe(&event);
            cache.triggers(&event)
        };
        assert!(observed(watcher::Event::Init));
        assert!(!observed(watcher::Event::InitApply(secret(
            "a", "1", false
        ))));
        assert!(observed(watcher::Event::InitDone));
        assert!(observed(watcher::Event::Apply(secret("a", "2", false))));
        assert!(observed(watcher::Event::Delete(secret("a", "3", false))));
        // A re-list may carry what the watch missed.
        assert!(observed(watcher::Event::Init));
        assert!(observed(watcher::Event::InitApply(secret("b", "4", false))));
        assert!(observed(watcher::Event::InitDone));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_for_the_list_ends_at_the_list_or_the_deadline() {
        let cache = Arc::new(SecretCache::default());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        // Never listed: gives up at the deadline.
        let start = tokio::time::Instant::now();
        assert!(!cache.listed_by(deadline).await);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        // Listed while waiting.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let feeder = cache.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            feeder.observe(&watcher::Event::Init);
            feeder.observe(&watcher::Event::InitDone);
        });
        let start = tokio::time::Instant::now();
        assert!(cache.listed_by(deadline).await);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // Once listed, no wait.
        assert!(cache.listed_by(tokio::time::Instant::now()).await);
    }

    fn data(value: &str) -> BTreeMap<String, ByteString> {
        BTreeMap::from([("k".to_owned(), ByteString(value.as_bytes().to_vec()))])
    }

    #[tokio::test]
    async fn source_data_is_read_once_per_burst() {
        let sources = SourceSecrets::default();
        let reads = AtomicUsize::new(0);
        let read = |value: &'static str| {
            let reads = &reads;
            move || async move {
                reads.fetch_add(1, Ordering::SeqCst);
                Ok(data(value))
            }
        };
        let start = Instant::now();
        let (a, b) = tokio::join!(
            sources.data_at(start, "ns/s", read("1")),
            sources.data_at(start, "ns/s", read("1")),
        );
        assert_eq!(a.unwrap(), b.unwrap());
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        let later = start + SOURCE_TTL / 2;
        assert_eq!(
            *sources.data_at(later, "ns/s", read("2")).await.unwrap(),
            data("1")
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // After the TTL, or once invalidated, it is read again.
        let expired = start + SOURCE_TTL;
        assert_eq!(
            *sources.data_at(expired, "ns/s", read("2")).await.unwrap(),
            data("2")
        );
        sources.invalidate("ns/s");
        assert_eq!(
            *sources.data_at(expired, "ns/s", read("3")).await.unwrap(),
            data("3")
        );
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn failed_source_reads_are_not_kept() {
        let sources = SourceSecrets::default();
        let now = Instant::now();
        let missing = sources
            .data_at(now, "ns/s", || async {
                Err(Error::waiting("CredentialsNotFound", "no such Secret"))
            })
            .await;
        assert!(missing.is_err());
        let found = sources
            .data_at(now, "ns/s", || async { Ok(data("1")) })
            .await;
        assert_eq!(*found.unwrap(), data("1"));
    }
}
