//! AccessKey bookkeeping of a programmatic user, as pure functions: which key is published,
//! which keys are leftovers of a crash, when the current key is due for rotation and when the
//! replaced key is retired.
//!
//! The caller observes (`ListAccessKeys`, the Secret, the status), asks [`next_action`] what to
//! do, does it, updates the [`KeyState`] and asks again until it hears [`KeyAction::Settled`].
//! Time is a parameter. Knows nothing of Kubernetes or of the cloud API.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// RAM's limit of AccessKeys per user.
pub const MAX_KEYS_PER_USER: usize = 2;

/// An AccessKey as `ListAccessKeys` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedKey {
    pub id: String,
    pub created: Option<Timestamp>,
    /// `Active` or `Inactive`.
    pub status: String,
}

/// The intent recorded before `CreateAccessKey`: the key ids the user had before the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub started_at: Timestamp,
    pub known_key_ids: BTreeSet<String>,
    pub rotation: bool,
}

/// A replaced key kept until `retire_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retiring {
    pub id: String,
    pub retire_after: Timestamp,
}

/// `rotation` of the spec, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    pub every: Duration,
    pub grace_period: Duration,
}

/// Everything the plan looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyState {
    /// The user's keys in RAM.
    pub listed: Vec<ListedKey>,
    /// The key id in the Secret (only when the Secret also holds its secret).
    pub published: Option<String>,
    /// `status.accessKeyId`: the key published as of the last status write.
    pub previous: Option<String>,
    /// Keys the operator created (from the status, plus the published one).
    pub owned: BTreeSet<String>,
    /// A `CreateAccessKey` that was started and not yet seen through.
    pub intent: Option<Intent>,
    /// The key replaced by the last rotation, kept for the grace period.
    pub retiring: Option<Retiring>,
}

/// Why a key gets deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    /// Created by a `CreateAccessKey` whose secret never reached the Secret (a crash).
    Orphan,
    /// Owned, but neither published nor in its grace period (its secret is lost or replaced).
    Unpublished,
    /// The grace period of a rotated key is over.
    Retired,
}

impl DeleteReason {
    /// Event / log wording.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Orphan => "it was created by an interrupted CreateAccessKey and never published",
            Self::Unpublished => "it is no longer in the Secret",
            Self::Retired => "its grace period after rotation is over",
        }
    }
}

/// The next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAction {
    /// `DeleteAccessKey`.
    Delete { id: String, reason: DeleteReason },
    /// The recorded intent is resolved (no orphan left); forget it.
    ClearIntent,
    /// The retiring key is gone already; forget it.
    ForgetRetiring,
    /// The previously published key was replaced: keep it until `retire_after`.
    StartRetiring { id: String, retire_after: Timestamp },
    /// Record the intent, `CreateAccessKey`, publish it in the Secret.
    Create { rotation: bool },
    /// Nothing to do until `next_at` (rotation due or grace period over), if ever.
    Settled { next_at: Option<Timestamp> },
}

/// Both key slots are taken and a new key is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotsFull {
    /// Keys in the slots that the operator does not own.
    pub foreign: Vec<String>,
    /// Whether the key is needed for a rotation (otherwise: the user has no usable key).
    pub rotation: bool,
}

impl KeyState {
    fn is_listed(&self, id: &str) -> bool {
        self.listed.iter().any(|k| k.id == id)
    }

    /// The published key, if RAM still has it.
    pub fn current(&self) -> Option<&ListedKey> {
        let published = self.published.as_deref()?;
        self.listed.iter().find(|k| k.id == published)
    }

    fn is_retiring(&self, id: &str) -> bool {
        self.retiring.as_ref().is_some_and(|r| r.id == id)
    }

    /// A key was deleted (or found gone).
    pub fn forget(&mut self, id: &str) {
        self.listed.retain(|k| k.id != id);
        self.owned.remove(id);
    }

    /// A new key was created and published in the Secret.
    pub fn created(&mut self, key: ListedKey) {
        self.owned.insert(key.id.clone());
        self.published = Some(key.id.clone());
        self.listed.push(key);
        self.intent = None;
    }
}

impl KeyState {
    /// A rotation's new key was created and published. The replaced key starts its grace
    /// period in the same step, so no status written afterwards shows it as owned but unused
    /// (which a later reconcile, or one reading a stale cache, would delete at once).
    pub fn rotated(&mut self, key: ListedKey, retire_after: Timestamp) {
        let replaced = self.current().map(|k| k.id.clone());
        self.created(key);
        if let Some(id) = replaced {
            self.retiring = Some(Retiring { id, retire_after });
        }
        self.previous = self.published.clone();
    }
}

/// When the current key is due for rotation.
pub fn rotation_due(created: Timestamp, every: Duration) -> Option<Timestamp> {
    let every = SignedDuration::try_from(every).ok()?;
    created.checked_add(every).ok()
}

/// `now + duration`, saturating at the far future.
pub fn after(now: Timestamp, duration: Duration) -> Timestamp {
    SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The next thing to do about the user's keys.
pub fn next_action(
    state: &KeyState,
    rotation: Option<RotationPolicy>,
    now: Timestamp,
) -> Result<KeyAction, SlotsFull> {
    // 1. A creation that was interrupted: any key it may have made that did not reach the
    //    Secret is a leak; a key that did reach the Secret is simply the current one.
    if let Some(intent) = &state.intent {
        let orphan = state.listed.iter().find(|k| {
            !intent.known_key_ids.contains(&k.id) && state.published.as_deref() != Some(&k.id)
        });
        return Ok(match orphan {
            Some(key) => KeyAction::Delete {
                id: key.id.clone(),
                reason: DeleteReason::Orphan,
            },
            None => KeyAction::ClearIntent,
        });
    }
    let current = state.current().map(|k| k.id.clone());

    // 2. The retiring key was deleted by someone else.
    if let Some(retiring) = &state.retiring
        && !state.is_listed(&retiring.id)
    {
        return Ok(KeyAction::ForgetRetiring);
    }

    // 3. The previously published key was replaced (a rotation whose status write was lost,
    //    or a Secret that lost its key): a rotation keeps it for the grace period.
    if let Some(previous) = &state.previous
        && current.as_deref() != Some(previous)
        && state.is_listed(previous)
        && state.owned.contains(previous)
        && !state.is_retiring(previous)
    {
        return Ok(match (rotation, &current, &state.retiring) {
            (Some(policy), Some(_), None) => KeyAction::StartRetiring {
                id: previous.clone(),
                retire_after: after(now, policy.grace_period),
            },
            _ => KeyAction::Delete {
                id: previous.clone(),
                reason: DeleteReason::Unpublished,
            },
        });
    }

    // 4. Any other owned key that is neither published nor retiring has lost its purpose.
    if let Some(stale) = state.listed.iter().find(|k| {
        state.owned.contains(&k.id)
            && current.as_deref() != Some(&k.id)
            && !state.is_retiring(&k.id)
    }) {
        return Ok(KeyAction::Delete {
            id: stale.id.clone(),
            reason: DeleteReason::Unpublished,
        });
    }

    // 5. The grace period of the replaced key is over.
    if let Some(retiring) = &state.retiring
        && retiring.retire_after <= now
    {
        return Ok(KeyAction::Delete {
            id: retiring.id.clone(),
            reason: DeleteReason::Retired,
        });
    }

    let slots_full = |rotation: bool| SlotsFull {
        foreign: state
            .listed
            .iter()
            .filter(|k| !state.owned.contains(&k.id))
            .map(|k| k.id.clone())
            .collect(),
        rotation,
    };

    // 6. No usable key in the Secret: make one, if a slot is free.
    let Some(current) = state.current() else {
        if state.listed.len() >= MAX_KEYS_PER_USER {
            return Err(slots_full(false));
        }
        return Ok(KeyAction::Create { rotation: false });
    };

    // 7. Scheduled rotation.
    let retire_after = state.retiring.as_ref().map(|r| r.retire_after);
    let due =
        rotation.and_then(|policy| current.created.and_then(|c| rotation_due(c, policy.every)));
    if let Some(due) = due
        && due <= now
    {
        if retire_after.is_some() {
            // The previous rotation's key still holds the other slot; wait for its deletion.
            return Ok(KeyAction::Settled {
                next_at: retire_after,
            });
        }
        if state.listed.len() >= MAX_KEYS_PER_USER {
            return Err(slots_full(true));
        }
        return Ok(KeyAction::Create { rotation: true });
    }

    Ok(KeyAction::Settled {
        next_at: [due, retire_after].into_iter().flatten().min(),
    })
}

/// How long to wait before the next reconcile: until `next_at` when it comes before the
/// periodic resync, never less than `floor` (a past deadline must not spin).
pub fn requeue_delay(
    next_at: Option<Timestamp>,
    now: Timestamp,
    resync: Duration,
    floor: Duration,
) -> Duration {
    let until_next = next_at.map(|at| {
        let span = now.duration_until(at);
        Duration::try_from(span).unwrap_or(Duration::ZERO)
    });
    until_next
        .map_or(resync, |until| until.min(resync))
        .max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_750_000_000 + seconds).unwrap()
    }

    fn key(id: &str, created: i64) -> ListedKey {
        ListedKey {
            id: id.to_string(),
            created: Some(at(created)),
            status: "Active".to_string(),
        }
    }

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn rotation() -> Option<RotationPolicy> {
        Some(RotationPolicy {
            every: Duration::from_secs(3600),
            grace_period: Duration::from_secs(600),
        })
    }

    /// A settled user: one owned key, published, recorded.
    fn settled() -> KeyState {
        KeyState {
            listed: vec![key("K1", 0)],
            published: Some("K1".into()),
            previous: Some("K1".into()),
            owned: ids(&["K1"]),
            ..KeyState::default()
        }
    }

    #[test]
    fn a_new_user_gets_a_key() {
        let state = KeyState::default();
        assert_eq!(
            next_action(&state, None, at(0)),
            Ok(KeyAction::Create { rotation: false })
        );
    }

    #[test]
    fn a_published_key_is_left_alone_without_rotation() {
        assert_eq!(
            next_action(&settled(), None, at(1_000_000)),
            Ok(KeyAction::Settled { next_at: None })
        );
    }

    #[test]
    fn crash_after_create_before_secret_deletes_the_orphan_then_creates_once() {
        // Intent recorded with no keys known; the key was created but never published.
        let mut state = KeyState {
            listed: vec![key("LEAKED", 5)],
            intent: Some(Intent {
                started_at: at(0),
                known_key_ids: BTreeSet::new(),
                rotation: false,
            }),
            ..KeyState::default()
        };
        assert_eq!(
            next_action(&state, None, at(10)),
            Ok(KeyAction::Delete {
                id: "LEAKED".into(),
                reason: DeleteReason::Orphan
            })
        );
        state.forget("LEAKED");
        assert_eq!(
            next_action(&state, None, at(10)),
            Ok(KeyAction::ClearIntent)
        );
        state.intent = None;
        assert_eq!(
            next_action(&state, None, at(10)),
            Ok(KeyAction::Create { rotation: false })
        );
    }

    #[test]
    fn crash_after_secret_write_keeps_the_published_key() {
        let state = KeyState {
            listed: vec![key("NEW", 5)],
            published: Some("NEW".into()),
            intent: Some(Intent {
                started_at: at(0),
                known_key_ids: BTreeSet::new(),
                rotation: false,
            }),
            ..KeyState::default()
        };
        assert_eq!(
            next_action(&state, None, at(10)),
            Ok(KeyAction::ClearIntent)
        );
        let mut state = state;
        state.intent = None;
        assert_eq!(
            next_action(&state, None, at(10)),
            Ok(KeyAction::Settled { next_at: None })
        );
    }

    #[test]
    fn an_interrupted_rotation_never_deletes_the_old_key_in_the_secret() {
        // Rotation of K1 started; K2 was created but the crash came before the Secret write.
        let state = KeyState {
            listed: vec![key("K1", 0), key("K2", 3700)],
            published: Some("K1".into()),
            previous: Some("K1".into()),
            owned: ids(&["K1"]),
            intent: Some(Intent {
                started_at: at(3600),
                known_key_ids: ids(&["K1"]),
                rotation: true,
            }),
            retiring: None,
        };
        assert_eq!(
            next_action(&state, rotation(), at(3800)),
            Ok(KeyAction::Delete {
                id: "K2".into(),
                reason: DeleteReason::Orphan
            })
        );
    }

    #[test]
    fn a_rotation_whose_status_write_was_lost_keeps_the_old_key_for_the_grace_period() {
        let state = KeyState {
            listed: vec![key("K1", 0), key("K2", 3700)],
            published: Some("K2".into()),
            previous: Some("K1".into()),
            owned: ids(&["K1", "K2"]),
            ..KeyState::default()
        };
        assert_eq!(
            next_action(&state, rotation(), at(3800)),
            Ok(KeyAction::StartRetiring {
                id: "K1".into(),
                retire_after: at(3800 + 600)
            })
        );
    }

    #[test]
    fn a_key_lost_from_the_secret_is_deleted_and_replaced() {
        let mut state = settled();
        state.published = None;
        assert_eq!(
            next_action(&state, None, at(10)),
            Ok(KeyAction::Delete {
                id: "K1".into(),
                reason: DeleteReason::Unpublished
            })
        );
        state.forget("K1");
        assert_eq!(
            next_action(&state, None, at(10)),
            Ok(KeyAction::Create { rotation: false })
        );
    }

    #[test]
    fn foreign_keys_are_never_deleted_and_two_of_them_stop_everything() {
        let state = KeyState {
            listed: vec![key("THEIRS1", 0), key("THEIRS2", 0)],
            ..KeyState::default()
        };
        assert_eq!(
            next_action(&state, None, at(10)),
            Err(SlotsFull {
                foreign: vec!["THEIRS1".into(), "THEIRS2".into()],
                rotation: false
            })
        );
        let one_foreign = KeyState {
            listed: vec![key("THEIRS1", 0)],
            ..KeyState::default()
        };
        assert_eq!(
            next_action(&one_foreign, None, at(10)),
            Ok(KeyAction::Create { rotation: false })
        );
    }

    #[test]
    fn rotation_is_due_after_every_and_needs_a_free_slot() {
        let state = settled();
        assert_eq!(
            next_action(&state, rotation(), at(3599)),
            Ok(KeyAction::Settled {
                next_at: Some(at(3600))
            })
        );
        assert_eq!(
            next_action(&state, rotation(), at(3600)),
            Ok(KeyAction::Create { rotation: true })
        );
        let mut crowded = settled();
        crowded.listed.push(key("THEIRS", 0));
        assert_eq!(
            next_action(&crowded, rotation(), at(3600)),
            Err(SlotsFull {
                foreign: vec!["THEIRS".into()],
                rotation: true
            })
        );
    }

    #[test]
    fn a_full_rotation_publishes_then_retires_after_the_grace_period() {
        let mut state = settled();
        let now = at(3600);
        assert_eq!(
            next_action(&state, rotation(), now),
            Ok(KeyAction::Create { rotation: true })
        );
        state.created(key("K2", 3600));
        assert_eq!(state.listed.len(), 2);
        let retire_after = at(3600 + 600);
        assert_eq!(
            next_action(&state, rotation(), now),
            Ok(KeyAction::StartRetiring {
                id: "K1".into(),
                retire_after
            })
        );
        state.retiring = Some(Retiring {
            id: "K1".into(),
            retire_after,
        });
        state.previous = Some("K2".into());
        // During the grace period: wait exactly until it ends.
        assert_eq!(
            next_action(&state, rotation(), at(3700)),
            Ok(KeyAction::Settled {
                next_at: Some(retire_after)
            })
        );
        assert_eq!(
            next_action(&state, rotation(), retire_after),
            Ok(KeyAction::Delete {
                id: "K1".into(),
                reason: DeleteReason::Retired
            })
        );
        state.forget("K1");
        state.retiring = None;
        assert_eq!(
            next_action(&state, rotation(), retire_after),
            Ok(KeyAction::Settled {
                next_at: Some(at(7200))
            })
        );
    }

    #[test]
    fn a_rotation_records_the_retiring_key_with_the_new_one() {
        let mut state = settled();
        let retire_after = at(3600 + 600);
        state.rotated(key("K2", 3600), retire_after);
        assert_eq!(state.published.as_deref(), Some("K2"));
        assert_eq!(state.previous.as_deref(), Some("K2"));
        assert_eq!(
            state.retiring,
            Some(Retiring {
                id: "K1".into(),
                retire_after
            })
        );
        // Read back as the status describes it: the old key waits for its grace period.
        assert_eq!(
            next_action(&state, rotation(), at(3601)),
            Ok(KeyAction::Settled {
                next_at: Some(retire_after)
            })
        );
    }

    #[test]
    fn a_zero_grace_period_deletes_the_old_key_at_once() {
        let policy = Some(RotationPolicy {
            every: Duration::from_secs(60),
            grace_period: Duration::ZERO,
        });
        let mut state = settled();
        state.created(key("K2", 60));
        let action = next_action(&state, policy, at(60)).unwrap();
        let KeyAction::StartRetiring { id, retire_after } = action else {
            panic!("expected StartRetiring, got {action:?}");
        };
        state.retiring = Some(Retiring { id, retire_after });
        state.previous = Some("K2".into());
        assert_eq!(
            next_action(&state, policy, at(60)),
            Ok(KeyAction::Delete {
                id: "K1".into(),
                reason: DeleteReason::Retired
            })
        );
    }

    #[test]
    fn a_retiring_key_deleted_by_someone_else_is_forgotten() {
        let mut state = settled();
        state.retiring = Some(Retiring {
            id: "GONE".into(),
            retire_after: at(100),
        });
        assert_eq!(
            next_action(&state, rotation(), at(10)),
            Ok(KeyAction::ForgetRetiring)
        );
    }

    #[test]
    fn requeue_waits_for_the_earlier_of_deadline_and_resync_with_a_floor() {
        let resync = Duration::from_secs(600);
        let floor = Duration::from_secs(1);
        assert_eq!(requeue_delay(None, at(0), resync, floor), resync);
        assert_eq!(
            requeue_delay(Some(at(30)), at(0), resync, floor),
            Duration::from_secs(30)
        );
        assert_eq!(requeue_delay(Some(at(9000)), at(0), resync, floor), resync);
        assert_eq!(requeue_delay(Some(at(-5)), at(0), resync, floor), floor);
    }

    #[test]
    fn rotation_due_adds_every_to_the_creation_time() {
        assert_eq!(
            rotation_due(at(0), Duration::from_secs(720 * 3600)),
            Some(at(720 * 3600))
        );
    }
}
