//! Recognises the watch events of the grant controller's own writes, so they cost no API
//! requests.
//!
//! Every refresh writes the Secret and the grant's status; both come back as watch events
//! that trigger another reconcile, and each such reconcile read the grant, the Secret and the
//! source again only to decide "wait". At 1,000 grants that was more than half of all API
//! requests during start-up. This module remembers, per grant, the resourceVersions its own
//! last writes produced, when the grant next needs attention, and whether anything it depends
//! on changed since:
//!
//! - a Secret event carrying the version this process wrote is an echo and maps to no grant;
//! - a reconcile of a grant whose cached object still has the version of the own last write,
//!   before the planned wake-up, with no dependency event since, is an echo and returns at once;
//! - the cached grant is current (no fresh GET needed) unless this process wrote the grant and
//!   the cache does not show that write yet.
//!
//! Any other change (spec edit, Secret edit or deletion, a RamUser or role event, a failure)
//! takes the full path. Knows nothing of Kubernetes clients: keys and versions are strings.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// A reconcile this close to its planned wake-up is the planned one, not an echo (the
/// scheduler's clock and the wall clock differ by a little).
const WAKE_MARGIN: SignedDuration = SignedDuration::from_millis(50);

#[derive(Debug, Default)]
struct Entry {
    /// resourceVersion of the grant after the last successful reconcile.
    grant_version: Option<String>,
    /// resourceVersion of the Secret this process last wrote.
    secret_version: Option<String>,
    /// When the last successful reconcile asked to be woken.
    wake_at: Option<Timestamp>,
    /// Dependency events seen; `settled` is the count the last success accounted for.
    events: u64,
    settled: u64,
}

/// Own writes per grant key (`namespace/name`).
#[derive(Debug, Default)]
pub struct OwnWrites {
    entries: Mutex<HashMap<String, Entry>>,
}

impl OwnWrites {
    fn with<T>(&self, key: &str, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        f(entries.entry(key.to_owned()).or_default())
    }

    fn read<T>(&self, key: &str, f: impl FnOnce(Option<&Entry>) -> T) -> T {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        f(entries.get(key))
    }

    /// Called when a reconcile starts: the dependency events it accounts for.
    pub fn begin(&self, key: &str) -> u64 {
        self.read(key, |entry| entry.map_or(0, |e| e.events))
    }

    /// Something the grant depends on changed (its Secret edited, a RamUser or role event):
    /// the next reconcile takes the full path.
    pub fn changed(&self, key: &str) {
        self.with(key, |entry| entry.events += 1);
    }

    /// This process wrote the grant's Secret, which now has `version`.
    pub fn wrote_secret(&self, key: &str, version: Option<&str>) {
        self.with(key, |entry| {
            entry.secret_version = version.map(str::to_owned)
        });
    }

    /// Whether a Secret event of the grant `key` is the echo of this process's own write.
    pub fn is_own_secret(&self, key: &str, version: Option<&str>) -> bool {
        version.is_some()
            && self.read(key, |entry| {
                entry.is_some_and(|e| e.secret_version.as_deref() == version)
            })
    }

    /// A reconcile that began at `begun` (from [`OwnWrites::begin`]) succeeded: the grant now
    /// has `grant_version` and wants to be woken at `wake_at`.
    pub fn settled(&self, key: &str, begun: u64, grant_version: Option<&str>, wake_at: Timestamp) {
        self.with(key, |entry| {
            entry.grant_version = grant_version.map(str::to_owned);
            entry.wake_at = Some(wake_at);
            entry.settled = begun;
        });
    }

    /// A reconcile failed: the next one takes the full path. The version of the own last
    /// Secret write stays: the write happened, and until the Secret cache shows it, the cache
    /// must not be trusted (a stale entry could look due and cost another `AssumeRole`).
    pub fn reset(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.get_mut(key) {
            *entry = Entry {
                secret_version: entry.secret_version.take(),
                ..Entry::default()
            };
        }
    }

    /// Whether a cached copy of the grant's Secret with `version` can be decided from: this
    /// process has not written the Secret (the cache comes from a list or watch that started
    /// after the last writer stopped), or the cache already shows its last write.
    pub fn secret_cache_is_current(&self, key: &str, version: Option<&str>) -> bool {
        self.read(key, |entry| {
            match entry.and_then(|e| e.secret_version.as_deref()) {
                None => true,
                Some(written) => version == Some(written),
            }
        })
    }

    /// Forgets the grant (deleted): its next reconcile takes the full path.
    pub fn forget(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
    }

    /// `Some(wake_at)` when a reconcile of the grant, whose cached object has `version`, at
    /// `now` is only the echo of this process's own writes: nothing changed since the last
    /// success and its planned wake-up has not come.
    pub fn echo(&self, key: &str, version: Option<&str>, now: Timestamp) -> Option<Timestamp> {
        self.read(key, |entry| {
            let entry = entry?;
            let wake_at = entry.wake_at?;
            let unchanged = version.is_some()
                && entry.grant_version.as_deref() == version
                && entry.events == entry.settled;
            (unchanged && now + WAKE_MARGIN < wake_at).then_some(wake_at)
        })
    }

    /// Whether the cached grant with `version` can be trusted: this process has not written
    /// the grant, or the cache already shows its last write.
    pub fn cache_is_current(&self, key: &str, version: Option<&str>) -> bool {
        self.read(key, |entry| {
            match entry.and_then(|e| e.grant_version.as_deref()) {
                None => true,
                Some(written) => version == Some(written),
            }
        })
    }

    /// Grants remembered (for tests and memory accounting).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn own_writes_are_echoes_until_the_wake_up() {
        let own = OwnWrites::default();
        let begun = own.begin("ns/g");
        own.wrote_secret("ns/g", Some("10"));
        own.settled("ns/g", begun, Some("11"), at(90));
        assert!(own.is_own_secret("ns/g", Some("10")));
        assert_eq!(own.echo("ns/g", Some("11"), at(1)), Some(at(90)));
        // The planned wake-up takes the full path.
        assert_eq!(own.echo("ns/g", Some("11"), at(90)), None);
        assert!(own.cache_is_current("ns/g", Some("11")));
    }

    #[test]
    fn other_changes_take_the_full_path() {
        let own = OwnWrites::default();
        let begun = own.begin("ns/g");
        own.wrote_secret("ns/g", Some("10"));
        own.settled("ns/g", begun, Some("11"), at(90));
        // Someone else's Secret write, a deletion: another version.
        assert!(!own.is_own_secret("ns/g", Some("12")));
        assert!(!own.is_own_secret("ns/g", None));
        assert!(!own.is_own_secret("ns/other", Some("10")));
        // A spec edit: another grant version; the cache lagging behind the own write too.
        assert_eq!(own.echo("ns/g", Some("13"), at(1)), None);
        assert!(!own.cache_is_current("ns/g", Some("9")));
        // A dependency event.
        own.changed("ns/g");
        assert_eq!(own.echo("ns/g", Some("11"), at(1)), None);
        // Never seen: full path, and the cache is trusted.
        assert_eq!(own.echo("ns/new", Some("1"), at(1)), None);
        assert!(own.cache_is_current("ns/new", Some("1")));
    }

    #[test]
    fn an_event_during_a_reconcile_is_not_lost() {
        let own = OwnWrites::default();
        let begun = own.begin("ns/g");
        // The Secret is edited while the reconcile runs; the reconcile then succeeds.
        own.changed("ns/g");
        own.settled("ns/g", begun, Some("11"), at(90));
        assert_eq!(own.echo("ns/g", Some("11"), at(1)), None);
        // The next reconcile accounts for the event.
        let begun = own.begin("ns/g");
        own.settled("ns/g", begun, Some("11"), at(90));
        assert_eq!(own.echo("ns/g", Some("11"), at(1)), Some(at(90)));
    }

    #[test]
    fn the_secret_cache_is_trusted_once_it_shows_the_own_write() {
        let own = OwnWrites::default();
        // Never written by this process: the cache is as good as a read.
        assert!(own.secret_cache_is_current("ns/g", Some("5")));
        own.wrote_secret("ns/g", Some("10"));
        assert!(!own.secret_cache_is_current("ns/g", Some("5")));
        assert!(!own.secret_cache_is_current("ns/g", None));
        assert!(own.secret_cache_is_current("ns/g", Some("10")));
        // A failure later does not make a lagging cache trusted.
        own.settled("ns/g", 0, Some("11"), at(90));
        own.reset("ns/g");
        assert_eq!(own.echo("ns/g", Some("11"), at(1)), None);
        assert!(!own.secret_cache_is_current("ns/g", Some("5")));
        assert!(own.secret_cache_is_current("ns/g", Some("10")));
        assert!(own.is_own_secret("ns/g", Some("10")));
    }

    #[test]
    fn forgetting_drops_the_entry() {
        let own = OwnWrites::default();
        own.settled("ns/g", 0, Some("11"), at(90));
        assert_eq!(own.len(), 1);
        own.forget("ns/g");
        assert!(own.is_empty());
        assert_eq!(own.echo("ns/g", Some("11"), at(1)), None);
    }
}
