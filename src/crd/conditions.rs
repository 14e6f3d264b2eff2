//! `metav1.Condition` bookkeeping shared by the three kinds' statuses.
//!
//! Pure functions over a condition list: setting a condition changes `lastTransitionTime` only
//! when its status flips, so watchers and `kubectl wait` see real transitions, and the clock is a
//! parameter. Knows the condition vocabulary, not why a controller sets one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// True while the resource is what the spec asks for (for `StsGrant`: while the credentials in
/// the Secret are valid).
pub const READY: &str = "Ready";
/// True while the controller is working towards the spec (kstatus "reconciling").
pub const RECONCILING: &str = "Reconciling";
/// True when the controller cannot make progress without a change by a person (kstatus "stalled").
pub const STALLED: &str = "Stalled";
/// `StsGrant` only: True while the credentials in the Secret have not expired.
pub const CREDENTIALS_VALID: &str = "CredentialsValid";

/// `status` value of a condition that holds.
pub const TRUE: &str = "True";
/// `status` value of a condition that does not hold.
pub const FALSE: &str = "False";
/// `status` value when the controller cannot tell yet.
pub const UNKNOWN: &str = "Unknown";

/// The condition `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition `type_` is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == TRUE)
}

/// What a controller wants a condition to say; [`set`] adds the bookkeeping fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionUpdate<'a> {
    /// Condition type, e.g. [`READY`].
    pub type_: &'a str,
    /// [`TRUE`], [`FALSE`] or [`UNKNOWN`].
    pub status: &'a str,
    /// CamelCase reason, e.g. `TrustPolicyUpdated`.
    pub reason: &'a str,
    /// What happened and what to do about it; never a secret.
    pub message: &'a str,
}

/// Sets a condition in place, the way `meta.SetStatusCondition` does in Go:
/// `lastTransitionTime` becomes `now` only when the condition is new or its status changes;
/// reason, message and `observedGeneration` are always updated. Returns whether anything changed,
/// so a caller can skip a status write that would change nothing.
pub fn set(
    conditions: &mut Vec<Condition>,
    update: &ConditionUpdate<'_>,
    observed_generation: Option<i64>,
    now: jiff::Timestamp,
) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(existing) => {
            let before = existing.clone();
            if existing.status != update.status {
                existing.status = update.status.to_owned();
                existing.last_transition_time = Time(now);
            }
            existing.reason = update.reason.to_owned();
            existing.message = update.message.to_owned();
            existing.observed_generation = observed_generation;
            *existing != before
        }
        None => {
            conditions.push(Condition {
                type_: update.type_.to_owned(),
                status: update.status.to_owned(),
                reason: update.reason.to_owned(),
                message: update.message.to_owned(),
                observed_generation,
                last_transition_time: Time(now),
            });
            true
        }
    }
}

/// Removes the condition `type_`; returns whether it was present.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn ready(status: &'static str, reason: &'static str) -> ConditionUpdate<'static> {
        ConditionUpdate {
            type_: READY,
            status,
            reason,
            message: "m",
        }
    }

    #[test]
    fn a_new_condition_gets_the_current_time_and_generation() {
        let mut conditions = Vec::new();
        assert!(set(
            &mut conditions,
            &ready(TRUE, "Created"),
            Some(3),
            at(0)
        ));
        let ready_condition = find(&conditions, READY).unwrap();
        assert_eq!(ready_condition.status, TRUE);
        assert_eq!(ready_condition.reason, "Created");
        assert_eq!(ready_condition.observed_generation, Some(3));
        assert_eq!(ready_condition.last_transition_time, Time(at(0)));
        assert!(is_true(&conditions, READY));
    }

    #[test]
    fn same_status_keeps_the_transition_time_but_updates_the_rest() {
        let mut conditions = Vec::new();
        set(&mut conditions, &ready(FALSE, "Throttled"), Some(1), at(0));
        let changed = set(
            &mut conditions,
            &ready(FALSE, "AccessDenied"),
            Some(2),
            at(60),
        );
        assert!(changed);
        let ready_condition = find(&conditions, READY).unwrap();
        assert_eq!(ready_condition.last_transition_time, Time(at(0)));
        assert_eq!(ready_condition.reason, "AccessDenied");
        assert_eq!(ready_condition.observed_generation, Some(2));
    }

    #[test]
    fn a_status_flip_moves_the_transition_time() {
        let mut conditions = Vec::new();
        set(&mut conditions, &ready(FALSE, "Pending"), Some(1), at(0));
        set(&mut conditions, &ready(TRUE, "Refreshed"), Some(1), at(30));
        assert_eq!(
            find(&conditions, READY).unwrap().last_transition_time,
            Time(at(30))
        );
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn an_identical_update_reports_no_change() {
        let mut conditions = Vec::new();
        set(&mut conditions, &ready(TRUE, "Refreshed"), Some(1), at(0));
        assert!(!set(
            &mut conditions,
            &ready(TRUE, "Refreshed"),
            Some(1),
            at(90)
        ));
        assert_eq!(
            find(&conditions, READY).unwrap().last_transition_time,
            Time(at(0))
        );
    }

    #[test]
    fn conditions_of_other_types_are_left_alone() {
        let mut conditions = Vec::new();
        set(&mut conditions, &ready(TRUE, "Refreshed"), Some(1), at(0));
        let stalled = ConditionUpdate {
            type_: STALLED,
            status: FALSE,
            reason: "Progressing",
            message: "",
        };
        set(&mut conditions, &stalled, Some(1), at(5));
        assert_eq!(conditions.len(), 2);
        assert!(is_true(&conditions, READY));
        assert!(!is_true(&conditions, STALLED));
        assert!(!is_true(&conditions, CREDENTIALS_VALID));
        assert!(remove(&mut conditions, STALLED));
        assert!(!remove(&mut conditions, STALLED));
        assert_eq!(conditions.len(), 1);
    }
}
