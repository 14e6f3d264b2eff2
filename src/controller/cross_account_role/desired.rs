//! What a `CrossAccountRole` asks for, validated and built into cloud terms: the role name,
//! the trust policy document, the policies to attach and the custom ("inline") policies with
//! their RAM names. Pure: no cloud calls, no Kubernetes client.
//!
//! The schema already refuses most bad input; this is the second check the design asks for,
//! with reasons a person can act on, plus the checks the schema cannot make (JSON documents,
//! derived name lengths).

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::alicloud::policy::{self, PolicyDocument, TrustPolicy};
use crate::controller::error::Error;
use crate::crd::cross_account_role::InlinePolicy;
use crate::crd::{Adoption, CrossAccountRoleSpec, PolicyRef, PolicyType};

/// Reason of a trust document that is not valid JSON policy.
pub const INVALID_TRUST_POLICY: &str = "InvalidTrustPolicy";
/// Reason of an inline policy document that is not valid JSON policy.
pub const INVALID_INLINE_POLICY: &str = "InvalidInlinePolicy";
/// Reason of a derived inline policy name over RAM's limit.
pub const INLINE_POLICY_NAME_TOO_LONG: &str = "InlinePolicyNameTooLong";
/// Reason of a role name RAM does not accept.
pub const INVALID_ROLE_NAME: &str = "InvalidRoleName";

/// RAM's limit on custom policy names.
pub const MAX_POLICY_NAME: usize = 128;
/// RAM's limit on role names.
pub const MAX_ROLE_NAME: usize = 64;

/// A custom policy the operator keeps for the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredInline {
    /// The name in the spec.
    pub spec_name: String,
    /// The name in RAM: `<roleName>-<name>` (see [`inline_policy_name`]).
    pub ram_name: String,
    /// The document as written (sent to RAM).
    pub document_text: String,
    /// The parsed document (compared semantically).
    pub document: PolicyDocument,
    pub description: Option<String>,
}

/// The role as the spec wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub role_name: String,
    pub description: Option<String>,
    pub trust: PolicyDocument,
    pub max_session_duration: i64,
    /// Policies to attach, in spec order.
    pub policies: Vec<PolicyRef>,
    pub inline: Vec<DesiredInline>,
    pub adoption: Adoption,
}

impl Desired {
    /// Accounts the desired trust policy trusts as a whole.
    pub fn trusted_accounts(&self) -> Vec<String> {
        self.trust.trusted_accounts().into_iter().collect()
    }
}

/// Validates `spec` for the role `role_name` and builds what it asks for.
pub fn build(role_name: &str, spec: &CrossAccountRoleSpec) -> Result<Desired, Error> {
    check_role_name(role_name)?;
    let trust = trust_policy(spec)?;
    let inline = spec
        .inline_policies
        .iter()
        .map(|inline| desired_inline(role_name, inline))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = BTreeSet::new();
    let policies = spec
        .policies
        .iter()
        .filter(|p| seen.insert((policy_type_str(p.policy_type), p.name.to_ascii_lowercase())))
        .cloned()
        .collect();
    Ok(Desired {
        role_name: role_name.to_string(),
        description: spec.description.clone(),
        trust,
        max_session_duration: spec.max_session_duration,
        policies,
        inline,
        adoption: spec.adoption,
    })
}

fn check_role_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= MAX_ROLE_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_spec(
            INVALID_ROLE_NAME,
            format!(
                "role name {name:?} is not valid in RAM (1-64 letters, digits, '.' or '-'): set \
                 spec.roleName"
            ),
        ))
    }
}

/// The trust policy: the raw document, or one built from the account and principal lists.
/// Empty lists build a policy that trusts nobody (RAM refuses a trust statement without a
/// principal, so it is an explicit `Deny` for every RAM principal).
pub fn trust_policy(spec: &CrossAccountRoleSpec) -> Result<PolicyDocument, Error> {
    if let Some(text) = &spec.assume_role_policy_document {
        let document = PolicyDocument::parse(text).map_err(|error| {
            Error::invalid_spec(
                INVALID_TRUST_POLICY,
                format!("spec.assumeRolePolicyDocument is not a policy document: {error}"),
            )
        })?;
        if document.statements.is_empty() {
            return Err(Error::invalid_spec(
                INVALID_TRUST_POLICY,
                "spec.assumeRolePolicyDocument has no Statement",
            ));
        }
        return Ok(document);
    }
    let accounts = spec.trusted_accounts.as_deref().unwrap_or_default();
    let principals = spec.trusted_principals.as_deref().unwrap_or_default();
    if accounts.is_empty() && principals.is_empty() {
        return Ok(trust_nobody());
    }
    let builder = principals
        .iter()
        .fold(TrustPolicy::for_accounts(accounts), |builder, arn| {
            builder.ram_principal(arn)
        });
    Ok(builder.build())
}

/// A trust policy that lets nobody assume the role.
pub fn trust_nobody() -> PolicyDocument {
    let mut statement = policy::Statement::deny(&[policy::ASSUME_ROLE_ACTION], &[] as &[&str]);
    statement.principal.insert(
        policy::PRINCIPAL_RAM.to_string(),
        ["*"].into_iter().collect(),
    );
    PolicyDocument {
        statements: vec![statement],
        ..PolicyDocument::default()
    }
}

/// The RAM name of an inline policy: `<roleName>-<name>`, with the `.` that role names allow
/// (and policy names do not) turned into `-`.
pub fn inline_policy_name(role_name: &str, spec_name: &str) -> String {
    format!("{}-{spec_name}", role_name.replace('.', "-"))
}

fn desired_inline(role_name: &str, inline: &InlinePolicy) -> Result<DesiredInline, Error> {
    let ram_name = inline_policy_name(role_name, &inline.name);
    if ram_name.len() > MAX_POLICY_NAME {
        return Err(Error::invalid_spec(
            INLINE_POLICY_NAME_TOO_LONG,
            format!(
                "inline policy {:?} becomes the RAM policy {ram_name:?} ({} characters), over \
                 RAM's limit of {MAX_POLICY_NAME}: shorten the inline policy name",
                inline.name,
                ram_name.len()
            ),
        ));
    }
    let document = PolicyDocument::parse(&inline.document).map_err(|error| {
        Error::invalid_spec(
            INVALID_INLINE_POLICY,
            format!(
                "inline policy {:?}: the document is not a policy document: {error}",
                inline.name
            ),
        )
    })?;
    Ok(DesiredInline {
        spec_name: inline.name.clone(),
        ram_name,
        document_text: inline.document.clone(),
        document,
        description: inline.description.clone(),
    })
}

/// Hash of the normalised trust policy: changes only when its meaning changes.
pub fn policy_hash(document: &PolicyDocument) -> String {
    let digest = Sha256::digest(document.canonical_json().as_bytes());
    hex::encode(&digest[..16])
}

/// The wire spelling of a policy type.
pub fn policy_type_str(policy_type: PolicyType) -> &'static str {
    match policy_type {
        PolicyType::System => "System",
        PolicyType::Custom => "Custom",
    }
}

/// The client's policy type for a spec policy type.
pub fn cloud_policy_type(policy_type: PolicyType) -> crate::alicloud::ram::PolicyType {
    match policy_type {
        PolicyType::System => crate::alicloud::ram::PolicyType::System,
        PolicyType::Custom => crate::alicloud::ram::PolicyType::Custom,
    }
}

/// Whether two policy references name the same policy (RAM names are case-insensitive).
pub fn same_policy(a: &PolicyRef, b: &PolicyRef) -> bool {
    a.policy_type == b.policy_type && a.name.eq_ignore_ascii_case(&b.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> CrossAccountRoleSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn accounts_and_principals_become_one_allow_statement() {
        let desired = build(
            "rabbitmq-access",
            &spec(
                r#"{trustedAccounts: ["2222222222222222"], trustedPrincipals: ["acs:ram::3333333333333333:user/app"],
                    policies: [{name: AliyunAMQPFullAccess}, {name: aliyunamqpfullaccess}]}"#,
            ),
        )
        .unwrap();
        assert_eq!(desired.trusted_accounts(), ["2222222222222222"]);
        let expected = TrustPolicy::for_accounts(&["2222222222222222"])
            .ram_principal("acs:ram::3333333333333333:user/app")
            .build();
        assert!(policy::equivalent(&desired.trust, &expected));
        assert_eq!(desired.policies.len(), 1, "duplicates differing in case");
        assert_eq!(desired.max_session_duration, 3600);
    }

    #[test]
    fn empty_lists_trust_nobody() {
        let desired = build("r", &spec("{trustedAccounts: []}")).unwrap();
        assert!(desired.trusted_accounts().is_empty());
        assert!(desired.trust.trusted_principals().is_empty());
        assert_eq!(
            desired.trust.statements[0].effect,
            policy::Effect::Deny,
            "{:?}",
            desired.trust
        );
    }

    #[test]
    fn raw_trust_document_is_parsed_and_bad_json_is_a_spec_error() {
        let desired = build(
            "r",
            &spec(
                r#"{assumeRolePolicyDocument: '{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":"acs:ram::2222222222222222:root"}}}'}"#,
            ),
        )
        .unwrap();
        assert_eq!(desired.trusted_accounts(), ["2222222222222222"]);
        let error = build("r", &spec("{assumeRolePolicyDocument: 'not json'}")).unwrap_err();
        assert_eq!(error.reason(), INVALID_TRUST_POLICY);
        assert!(error.is_stalled());
    }

    #[test]
    fn inline_policy_names_are_derived_and_checked() {
        assert_eq!(
            inline_policy_name("team.a-role", "read"),
            "team-a-role-read"
        );
        let long = "x".repeat(70);
        let error = build(
            "r".repeat(64).as_str(),
            &spec(&format!(
                r#"{{trustedAccounts: ["1"], inlinePolicies: [{{name: {long}, document: '{{}}'}}]}}"#
            )),
        )
        .unwrap_err();
        assert_eq!(error.reason(), INLINE_POLICY_NAME_TOO_LONG);
        assert!(error.to_string().contains("shorten"));
        let error = build(
            "r",
            &spec(r#"{trustedAccounts: ["1"], inlinePolicies: [{name: p, document: 'nope'}]}"#),
        )
        .unwrap_err();
        assert_eq!(error.reason(), INVALID_INLINE_POLICY);
    }

    #[test]
    fn role_names_ram_refuses_are_spec_errors() {
        let error = build("bad_name", &spec(r#"{trustedAccounts: ["1"]}"#)).unwrap_err();
        assert_eq!(error.reason(), INVALID_ROLE_NAME);
    }

    #[test]
    fn policy_hash_follows_meaning_not_text() {
        let a = PolicyDocument::parse(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":["acs:ram::1:root","acs:ram::2:root"]}}]}"#,
        )
        .unwrap();
        let b = PolicyDocument::parse(
            r#"{"Statement":[{"Principal":{"RAM":["acs:ram::2:root","acs:ram::1:root"]},"Action":["sts:AssumeRole"],"Effect":"Allow"}]}"#,
        )
        .unwrap();
        assert_eq!(policy_hash(&a), policy_hash(&b));
        assert_ne!(policy_hash(&a), policy_hash(&trust_nobody()));
        assert_eq!(policy_hash(&a).len(), 32);
    }
}
