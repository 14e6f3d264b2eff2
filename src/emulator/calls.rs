//! Call accounting for `/_emulator/calls`: how many requests per action, caller and result
//! code since start or since the last reset.
//!
//! The caller is the principal ARN (`acs:ram::<id>:user/<name>`,
//! `acs:ram::<id>:assumed-role/<role>/<session>`, `acs:ram::<id>:root`), or the presented
//! access key id when authentication failed, or `anonymous`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::alicloud::signature::format_timestamp;

#[derive(Debug)]
struct Inner {
    since: Timestamp,
    counts: BTreeMap<(String, String, String), u64>,
}

/// Call counters.
#[derive(Debug)]
pub struct Calls {
    inner: Mutex<Inner>,
}

impl Default for Calls {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                since: Timestamp::now(),
                counts: BTreeMap::new(),
            }),
        }
    }
}

impl Calls {
    /// Counts one call.
    pub fn record(&self, action: &str, caller: &str, code: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner
                .counts
                .entry((action.to_string(), caller.to_string(), code.to_string()))
                .or_insert(0) += 1;
        }
    }

    /// Forgets every count and restarts the period.
    pub fn reset(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.counts.clear();
            inner.since = Timestamp::now();
        }
    }

    /// `{"since", "calls": [{action, caller, code, count}], "totals": {action: {code: n}}}`.
    pub fn snapshot(&self) -> Value {
        let Ok(inner) = self.inner.lock() else {
            return json!({});
        };
        let mut totals: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
        let calls: Vec<Value> = inner
            .counts
            .iter()
            .map(|((action, caller, code), count)| {
                *totals.entry(action).or_default().entry(code).or_insert(0) += count;
                json!({"action": action, "caller": caller, "code": code, "count": count})
            })
            .collect();
        json!({
            "since": format_timestamp(inner.since),
            "calls": calls,
            "totals": totals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_totals() {
        let calls = Calls::default();
        calls.record("AssumeRole", "u1", "Success");
        calls.record("AssumeRole", "u1", "Success");
        calls.record("AssumeRole", "u2", "NoPermission");
        let snap = calls.snapshot();
        assert_eq!(snap["totals"]["AssumeRole"]["Success"], 2);
        assert_eq!(snap["totals"]["AssumeRole"]["NoPermission"], 1);
        assert_eq!(snap["calls"].as_array().unwrap().len(), 2);
        calls.reset();
        assert_eq!(calls.snapshot()["calls"].as_array().unwrap().len(), 0);
    }
}
