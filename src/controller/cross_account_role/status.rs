//! The status a reconcile leaves behind, as pure functions of the previous status and the
//! outcome: `Ready` / `Reconciling` / `Stalled` in the kstatus sense, each with
//! `observedGeneration`, plus the role's facts. The caller writes it only when it differs from
//! what is stored, so a steady state costs no Kubernetes write.

use crate::controller::error::Error;
use crate::crd::PolicyRef;
use crate::crd::conditions::{self, ConditionUpdate, FALSE, READY, RECONCILING, STALLED, TRUE};
use crate::crd::cross_account_role::{CrossAccountRoleStatus, InlinePolicyStatus, SwitchRole};

/// Reason of `Ready=True`.
pub const ROLE_READY: &str = "RoleReady";
/// Reason of `Reconciling=False` / `Stalled=False` after a successful reconcile.
pub const RECONCILED: &str = "Reconciled";

/// What a successful reconcile found and made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleFacts {
    pub role_name: String,
    pub role_id: String,
    pub arn: String,
    pub account_id: Option<String>,
    pub trusted_accounts: Vec<String>,
    pub attached_policies: Vec<PolicyRef>,
    pub inline_policies: Vec<InlinePolicyStatus>,
    pub policy_hash: String,
    pub switch_role: Option<SwitchRole>,
}

/// The console's Switch Role link for `default_domain` and `role_name`.
pub fn switch_role(default_domain: &str, role_name: &str) -> SwitchRole {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("parentAlias", default_domain)
        .append_pair("roleName", role_name)
        .finish();
    SwitchRole {
        default_domain: default_domain.to_string(),
        role_name: role_name.to_string(),
        url: Some(format!("https://signin.aliyun.com/switchRole.htm?{query}")),
    }
}

/// The status after a successful reconcile.
pub fn ready(
    previous: &CrossAccountRoleStatus,
    facts: RoleFacts,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> CrossAccountRoleStatus {
    let mut status = CrossAccountRoleStatus {
        observed_generation: generation,
        conditions: previous.conditions.clone(),
        role_id: Some(facts.role_id),
        arn: Some(facts.arn.clone()),
        account_id: facts.account_id,
        trusted_accounts: facts.trusted_accounts,
        attached_policies: facts.attached_policies,
        inline_policies: facts.inline_policies,
        policy_hash: Some(facts.policy_hash),
        switch_role: facts.switch_role,
    };
    let message = format!("role {} is in sync ({})", facts.role_name, facts.arn);
    for update in [
        ConditionUpdate {
            type_: READY,
            status: TRUE,
            reason: ROLE_READY,
            message: &message,
        },
        ConditionUpdate {
            type_: RECONCILING,
            status: FALSE,
            reason: RECONCILED,
            message: "",
        },
        ConditionUpdate {
            type_: STALLED,
            status: FALSE,
            reason: RECONCILED,
            message: "",
        },
    ] {
        conditions::set(&mut status.conditions, &update, generation, now);
    }
    status
}

/// The status after a failed reconcile: the facts already known stay, the conditions say
/// what failed and whether it is retried (`Reconciling`) or needs a person (`Stalled`).
pub fn failed(
    previous: &CrossAccountRoleStatus,
    error: &Error,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> CrossAccountRoleStatus {
    let mut status = previous.clone();
    status.observed_generation = generation;
    let message = error.to_string();
    let stalled = error.is_stalled();
    let (reconciling, stalled_status) = if stalled {
        (FALSE, TRUE)
    } else {
        (TRUE, FALSE)
    };
    for update in [
        ConditionUpdate {
            type_: READY,
            status: FALSE,
            reason: error.reason(),
            message: &message,
        },
        ConditionUpdate {
            type_: RECONCILING,
            status: reconciling,
            reason: error.reason(),
            message: if stalled { "" } else { "retrying with backoff" },
        },
        ConditionUpdate {
            type_: STALLED,
            status: stalled_status,
            reason: error.reason(),
            message: if stalled { &message } else { "" },
        },
    ] {
        conditions::set(&mut status.conditions, &update, generation, now);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::conditions::find;

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn facts() -> RoleFacts {
        RoleFacts {
            role_name: "r".into(),
            role_id: "3001".into(),
            arn: "acs:ram::1111111111111111:role/r".into(),
            account_id: Some("1111111111111111".into()),
            trusted_accounts: vec!["2222222222222222".into()],
            attached_policies: vec![],
            inline_policies: vec![],
            policy_hash: "h".into(),
            switch_role: Some(switch_role("account-a.onaliyun.com", "r")),
        }
    }

    #[test]
    fn a_second_identical_success_changes_nothing() {
        let first = ready(&CrossAccountRoleStatus::default(), facts(), Some(2), at(0));
        assert_eq!(find(&first.conditions, READY).unwrap().status, TRUE);
        assert_eq!(first.observed_generation, Some(2));
        let second = ready(&first, facts(), Some(2), at(600));
        assert_eq!(first, second, "a resync must not change the status");
    }

    #[test]
    fn failures_keep_the_facts_and_classify() {
        let ok = ready(&CrossAccountRoleStatus::default(), facts(), Some(1), at(0));
        let conflict = Error::Conflict {
            reason: "AlreadyExists",
            message: "role r exists".into(),
        };
        let failed_status = failed(&ok, &conflict, Some(1), at(5));
        assert_eq!(failed_status.arn, ok.arn);
        let ready_condition = find(&failed_status.conditions, READY).unwrap();
        assert_eq!(ready_condition.status, FALSE);
        assert_eq!(ready_condition.reason, "AlreadyExists");
        assert_eq!(
            find(&failed_status.conditions, STALLED).unwrap().status,
            TRUE
        );
        assert_eq!(
            find(&failed_status.conditions, RECONCILING).unwrap().status,
            FALSE
        );
        let transient = Error::waiting("Pending", "later");
        let retrying = failed(&ok, &transient, Some(1), at(5));
        assert_eq!(find(&retrying.conditions, STALLED).unwrap().status, FALSE);
        assert_eq!(
            find(&retrying.conditions, RECONCILING).unwrap().status,
            TRUE
        );
    }

    #[test]
    fn switch_role_link_is_encoded() {
        let link = switch_role("a b.onaliyun.com", "r").url.unwrap();
        assert_eq!(
            link,
            "https://signin.aliyun.com/switchRole.htm?parentAlias=a+b.onaliyun.com&roleName=r"
        );
    }
}
