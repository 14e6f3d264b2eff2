//! Policy documents: serde types, builders for trust and permission policies, a semantic
//! normaliser, [`equivalent`] and a [`diff`] that names what differs.
//!
//! Documents are compared semantically, never as text: `Version` defaults to `"1"`, a single
//! string equals a one-element list (`Action`, `Resource`, `Principal.*`, condition values),
//! duplicates and the order of values, statements, condition operators and keys do not
//! matter. Unknown keys are kept and compared, so nothing is silently ignored.
//! Pure data; nothing here knows about the API.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The only policy language version.
pub const POLICY_VERSION: &str = "1";
/// The trust action.
pub const ASSUME_ROLE_ACTION: &str = "sts:AssumeRole";
/// Principal type of RAM accounts, users and roles.
pub const PRINCIPAL_RAM: &str = "RAM";
/// Principal type of cloud services.
pub const PRINCIPAL_SERVICE: &str = "Service";
/// Condition key checked against `AssumeRole`'s `ExternalId` (reference: unconfirmed name).
pub const EXTERNAL_ID_KEY: &str = "sts:ExternalId";

/// A list of strings that the JSON may write as one string (or a number / boolean, which
/// condition values sometimes are). Serialised as a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Values(pub Vec<String>);

impl Values {
    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn normalized(&self) -> Self {
        let set: BTreeSet<String> = self.0.iter().cloned().collect();
        Self(set.into_iter().collect())
    }
}

impl<S: Into<String>> FromIterator<S> for Values {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self(iter.into_iter().map(Into::into).collect())
    }
}

fn scalar_text(value: Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(format!(
            "expected a string or a list of strings, found {other}"
        )),
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = match Value::deserialize(deserializer)? {
            Value::Null => Vec::new(),
            Value::Array(items) => items,
            other => vec![other],
        };
        items
            .into_iter()
            .map(scalar_text)
            .collect::<Result<Vec<_>, _>>()
            .map(Values)
            .map_err(serde::de::Error::custom)
    }
}

/// `Allow` or `Deny`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Effect {
    #[default]
    #[serde(alias = "allow", alias = "ALLOW")]
    Allow,
    #[serde(alias = "deny", alias = "DENY")]
    Deny,
}

/// `Condition`: operator -> key -> values.
pub type Conditions = BTreeMap<String, BTreeMap<String, Values>>;

/// One statement of a permission or trust policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "Effect")]
    pub effect: Effect,
    #[serde(rename = "Action", default, skip_serializing_if = "Values::is_empty")]
    pub action: Values,
    #[serde(
        rename = "NotAction",
        default,
        skip_serializing_if = "Values::is_empty"
    )]
    pub not_action: Values,
    #[serde(rename = "Resource", default, skip_serializing_if = "Values::is_empty")]
    pub resource: Values,
    #[serde(
        rename = "NotResource",
        default,
        skip_serializing_if = "Values::is_empty"
    )]
    pub not_resource: Values,
    /// Principal type (`RAM`, `Service`, `Federated`) -> principals. Trust policies only.
    #[serde(
        rename = "Principal",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub principal: BTreeMap<String, Values>,
    #[serde(
        rename = "Condition",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub condition: Conditions,
    /// Keys this type does not model (e.g. `Sid`), kept so that they are compared too.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Statement {
    /// An `Allow` statement for `actions` on `resources`.
    pub fn allow<A: AsRef<str>, R: AsRef<str>>(actions: &[A], resources: &[R]) -> Self {
        Self {
            effect: Effect::Allow,
            action: actions.iter().map(AsRef::as_ref).collect(),
            resource: resources.iter().map(AsRef::as_ref).collect(),
            ..Self::default()
        }
    }

    /// A `Deny` statement for `actions` on `resources`.
    pub fn deny<A: AsRef<str>, R: AsRef<str>>(actions: &[A], resources: &[R]) -> Self {
        Self {
            effect: Effect::Deny,
            ..Self::allow(actions, resources)
        }
    }

    /// Adds a condition `operator: {key: values}`.
    pub fn condition<V: AsRef<str>>(mut self, operator: &str, key: &str, values: &[V]) -> Self {
        self.condition
            .entry(operator.to_string())
            .or_default()
            .entry(key.to_string())
            .or_default()
            .0
            .extend(values.iter().map(|value| value.as_ref().to_string()));
        self
    }

    fn normalized(&self) -> Self {
        let values = |map: &BTreeMap<String, Values>| -> BTreeMap<String, Values> {
            map.iter()
                .map(|(key, values)| (key.clone(), values.normalized()))
                .filter(|(_, values)| !values.is_empty())
                .collect()
        };
        Self {
            effect: self.effect,
            action: self.action.normalized(),
            not_action: self.not_action.normalized(),
            resource: self.resource.normalized(),
            not_resource: self.not_resource.normalized(),
            principal: values(&self.principal),
            condition: self
                .condition
                .iter()
                .map(|(operator, keys)| (operator.clone(), values(keys)))
                .filter(|(_, keys)| !keys.is_empty())
                .collect(),
            extra: self.extra.clone(),
        }
    }
}

fn one_or_many_statements<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Statement>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<Statement>),
        One(Box<Statement>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Many(statements) => statements,
        OneOrMany::One(statement) => vec![*statement],
    })
}

fn default_version() -> String {
    POLICY_VERSION.to_string()
}

/// A policy document (permission or trust policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version", default = "default_version")]
    pub version: String,
    #[serde(
        rename = "Statement",
        default,
        deserialize_with = "one_or_many_statements"
    )]
    pub statements: Vec<Statement>,
    /// Keys this type does not model, kept so that they are compared too.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Default for PolicyDocument {
    fn default() -> Self {
        Self {
            version: default_version(),
            statements: Vec::new(),
            extra: BTreeMap::new(),
        }
    }
}

impl PolicyDocument {
    /// Parses a JSON policy document.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Compact JSON, as sent to the API.
    pub fn to_json(&self) -> String {
        // A document of strings and maps always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The normal form: values sorted and deduplicated, statements sorted and deduplicated,
    /// empty lists dropped, `Version` defaulted.
    pub fn normalized(&self) -> Self {
        let mut statements: Vec<Statement> =
            self.statements.iter().map(Statement::normalized).collect();
        statements
            .sort_by_cached_key(|statement| serde_json::to_string(statement).unwrap_or_default());
        statements.dedup();
        Self {
            version: if self.version.trim().is_empty() {
                default_version()
            } else {
                self.version.trim().to_string()
            },
            statements,
            extra: self.extra.clone(),
        }
    }

    /// JSON of the normal form: equal for equivalent documents, so fit for hashing.
    pub fn canonical_json(&self) -> String {
        self.normalized().to_json()
    }

    /// Every principal of an `Allow` statement, as `Type:value` pairs.
    pub fn trusted_principals(&self) -> BTreeSet<(String, String)> {
        self.statements
            .iter()
            .filter(|statement| statement.effect == Effect::Allow)
            .flat_map(|statement| {
                statement.principal.iter().flat_map(|(kind, values)| {
                    values
                        .0
                        .iter()
                        .map(move |value| (kind.clone(), value.clone()))
                })
            })
            .collect()
    }

    /// The account ids trusted as a whole (`acs:ram::<id>:root` principals of `Allow`).
    pub fn trusted_accounts(&self) -> BTreeSet<String> {
        self.trusted_principals()
            .into_iter()
            .filter(|(kind, _)| kind == PRINCIPAL_RAM)
            .filter_map(|(_, arn)| {
                arn.strip_prefix("acs:ram::")
                    .and_then(|rest| rest.strip_suffix(":root"))
                    .map(str::to_string)
            })
            .collect()
    }
}

/// The principal ARN of a whole account: `acs:ram::<id>:root`.
pub fn account_principal(account_id: &str) -> String {
    format!("acs:ram::{account_id}:root")
}

/// Builder of a trust policy (`AssumeRolePolicyDocument`): one `Allow sts:AssumeRole`
/// statement with the trusted principals and optional conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    statement: Statement,
}

impl TrustPolicy {
    /// A trust policy trusting nobody yet.
    pub fn new() -> Self {
        Self {
            statement: Statement::allow(&[ASSUME_ROLE_ACTION], &[] as &[&str]),
        }
    }

    /// Trusts the given accounts as a whole (`acs:ram::<id>:root`).
    pub fn for_accounts<S: AsRef<str>>(account_ids: &[S]) -> Self {
        account_ids
            .iter()
            .fold(Self::new(), |policy, id| policy.account(id.as_ref()))
    }

    /// Trusts one more account.
    pub fn account(self, account_id: &str) -> Self {
        self.principal(PRINCIPAL_RAM, &account_principal(account_id))
    }

    /// Trusts a specific RAM user or role ARN (`acs:ram::<id>:user/<name>` / `role/<name>`).
    pub fn ram_principal(self, arn: &str) -> Self {
        self.principal(PRINCIPAL_RAM, arn)
    }

    /// Trusts a cloud service (`ecs.aliyuncs.com`).
    pub fn service(self, service: &str) -> Self {
        self.principal(PRINCIPAL_SERVICE, service)
    }

    /// Adds a principal of any type.
    pub fn principal(mut self, kind: &str, value: &str) -> Self {
        self.statement
            .principal
            .entry(kind.to_string())
            .or_default()
            .0
            .push(value.to_string());
        self
    }

    /// Adds a condition, e.g. `("Bool", "acs:MFAPresent", &["true"])`.
    pub fn condition<V: AsRef<str>>(mut self, operator: &str, key: &str, values: &[V]) -> Self {
        self.statement = self.statement.condition(operator, key, values);
        self
    }

    /// Requires the caller to pass this `ExternalId`.
    pub fn external_id(self, external_id: &str) -> Self {
        self.condition("StringEquals", EXTERNAL_ID_KEY, &[external_id])
    }

    /// The document.
    pub fn build(&self) -> PolicyDocument {
        PolicyDocument {
            statements: vec![self.statement.clone()],
            ..PolicyDocument::default()
        }
    }

    /// The document as JSON.
    pub fn to_json(&self) -> String {
        self.build().to_json()
    }
}

impl From<TrustPolicy> for PolicyDocument {
    fn from(policy: TrustPolicy) -> Self {
        policy.build()
    }
}

/// Builder of a permission policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionPolicy {
    statements: Vec<Statement>,
}

impl PermissionPolicy {
    /// An empty policy.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a statement.
    pub fn statement(mut self, statement: Statement) -> Self {
        self.statements.push(statement);
        self
    }
    /// Adds `Allow actions on resources`.
    pub fn allow<A: AsRef<str>, R: AsRef<str>>(self, actions: &[A], resources: &[R]) -> Self {
        self.statement(Statement::allow(actions, resources))
    }
    /// Adds `Deny actions on resources`.
    pub fn deny<A: AsRef<str>, R: AsRef<str>>(self, actions: &[A], resources: &[R]) -> Self {
        self.statement(Statement::deny(actions, resources))
    }
    /// The document.
    pub fn build(&self) -> PolicyDocument {
        PolicyDocument {
            statements: self.statements.clone(),
            ..PolicyDocument::default()
        }
    }
}

/// Whether two documents mean the same (see the module docs for what is normalised).
pub fn equivalent(a: &PolicyDocument, b: &PolicyDocument) -> bool {
    a.normalized() == b.normalized()
}

/// [`equivalent`] on JSON texts; an unparsable text is equivalent to nothing.
pub fn equivalent_json(a: &str, b: &str) -> Result<bool, serde_json::Error> {
    Ok(equivalent(
        &PolicyDocument::parse(a)?,
        &PolicyDocument::parse(b)?,
    ))
}

/// What changed from one document to another; empty when they are equivalent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyDiff {
    /// Human-readable changes, e.g. `trusted principals added: RAM:acs:ram::1:root`.
    pub changes: Vec<String>,
}

impl PolicyDiff {
    /// Whether the documents are equivalent.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for PolicyDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            f.write_str("no difference")
        } else {
            f.write_str(&self.changes.join("; "))
        }
    }
}

fn set_change(label: &str, from: &BTreeSet<String>, to: &BTreeSet<String>) -> Option<String> {
    let added: Vec<_> = to.difference(from).map(String::as_str).collect();
    let removed: Vec<_> = from.difference(to).map(String::as_str).collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("{label} added: {}", added.join(", ")));
    }
    if !removed.is_empty() {
        parts.push(format!("{label} removed: {}", removed.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn collect(
    document: &PolicyDocument,
    pick: impl Fn(&Statement) -> Vec<String>,
) -> BTreeSet<String> {
    document.statements.iter().flat_map(pick).collect()
}

fn effect_prefixed(statement: &Statement, values: &Values) -> Vec<String> {
    values
        .0
        .iter()
        .map(|value| format!("{:?} {value}", statement.effect))
        .collect()
}

/// What differs from `from` (e.g. the cloud's document) to `to` (e.g. the desired one).
pub fn diff(from: &PolicyDocument, to: &PolicyDocument) -> PolicyDiff {
    let (from, to) = (from.normalized(), to.normalized());
    let mut changes = Vec::new();
    if from == to {
        return PolicyDiff { changes };
    }
    if from.version != to.version {
        changes.push(format!(
            "Version changed: {} -> {}",
            from.version, to.version
        ));
    }
    let principals = |statement: &Statement| -> Vec<String> {
        statement
            .principal
            .iter()
            .flat_map(|(kind, values)| values.0.iter().map(move |value| format!("{kind}:{value}")))
            .collect()
    };
    let conditions = |statement: &Statement| -> Vec<String> {
        statement
            .condition
            .iter()
            .flat_map(|(operator, keys)| {
                keys.iter()
                    .map(move |(key, values)| format!("{operator} {key}={}", values.0.join("|")))
            })
            .collect()
    };
    let summaries = [
        set_change(
            "trusted principals",
            &collect(&from, principals),
            &collect(&to, principals),
        ),
        set_change(
            "actions",
            &collect(&from, |s| effect_prefixed(s, &s.action)),
            &collect(&to, |s| effect_prefixed(s, &s.action)),
        ),
        set_change(
            "not-actions",
            &collect(&from, |s| effect_prefixed(s, &s.not_action)),
            &collect(&to, |s| effect_prefixed(s, &s.not_action)),
        ),
        set_change(
            "resources",
            &collect(&from, |s| s.resource.0.clone()),
            &collect(&to, |s| s.resource.0.clone()),
        ),
        set_change(
            "not-resources",
            &collect(&from, |s| s.not_resource.0.clone()),
            &collect(&to, |s| s.not_resource.0.clone()),
        ),
        set_change(
            "conditions",
            &collect(&from, conditions),
            &collect(&to, conditions),
        ),
    ];
    changes.extend(summaries.into_iter().flatten());
    if from.extra != to.extra {
        changes.push("top-level keys other than Version and Statement changed".to_string());
    }
    if changes.is_empty() {
        // Same building blocks, grouped differently: name the statements.
        let as_json = |document: &PolicyDocument| -> BTreeSet<String> {
            document
                .statements
                .iter()
                .map(|statement| serde_json::to_string(statement).unwrap_or_default())
                .collect()
        };
        if let Some(change) = set_change("statements", &as_json(&from), &as_json(&to)) {
            changes.push(change);
        }
    }
    PolicyDiff { changes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> PolicyDocument {
        PolicyDocument::parse(text).unwrap()
    }

    #[test]
    fn trust_policy_builder_matches_the_reference_shape() {
        let policy = TrustPolicy::for_accounts(&["1234567890123456"]);
        assert_eq!(
            policy.to_json(),
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole"],"Principal":{"RAM":["acs:ram::1234567890123456:root"]}}]}"#
        );
        let reference = doc(
            r#"{"Version":"1","Statement":[{"Action":"sts:AssumeRole","Effect":"Allow",
                "Principal":{"RAM":["acs:ram::1234567890123456:root"]}}]}"#,
        );
        assert!(equivalent(&policy.build(), &reference));
        assert_eq!(
            policy
                .build()
                .trusted_accounts()
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["1234567890123456".to_string()]
        );
    }

    #[test]
    fn string_and_list_order_and_duplicates_are_equivalent() {
        let a = doc(r#"{"Version":"1","Statement":[
                {"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":"acs:ram::2:root"},
                 "Condition":{"StringEquals":{"sts:ExternalId":"x"},"Bool":{"acs:MFAPresent":true}}},
                {"Effect":"Deny","Action":["amqp:Delete*"],"Resource":"*"}]}"#);
        let b = doc(r#"{"Statement":[
                {"Resource":["*","*"],"Action":"amqp:Delete*","Effect":"Deny"},
                {"Condition":{"Bool":{"acs:MFAPresent":"true"},"StringEquals":{"sts:ExternalId":["x"]}},
                 "Principal":{"RAM":["acs:ram::2:root"]},"Action":["sts:AssumeRole"],"Effect":"Allow"}]}"#);
        assert!(equivalent(&a, &b));
        assert!(diff(&a, &b).is_empty());
        assert_eq!(a.canonical_json(), b.canonical_json());
        // A single statement object instead of a list.
        let single =
            doc(r#"{"Version":"1","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*"}}"#);
        let listed = PermissionPolicy::new().allow(&["a:b"], &["*"]).build();
        assert!(equivalent(&single, &listed));
    }

    #[test]
    fn diff_names_the_changed_principals() {
        let old = TrustPolicy::for_accounts(&["111", "222"]).build();
        let new = TrustPolicy::for_accounts(&["222", "333"]).build();
        assert!(!equivalent(&old, &new));
        let change = diff(&old, &new);
        assert_eq!(
            change.to_string(),
            "trusted principals added: RAM:acs:ram::333:root, trusted principals removed: RAM:acs:ram::111:root"
        );
    }

    #[test]
    fn diff_names_actions_resources_conditions_and_effects() {
        let old = PermissionPolicy::new().allow(&["amqp:*"], &["*"]).build();
        let new = PermissionPolicy::new()
            .allow(&["amqp:Get*"], &["acs:amqp:*:1:/instances/i/*"])
            .build();
        let text = diff(&old, &new).to_string();
        assert!(text.contains("actions added: Allow amqp:Get*"), "{text}");
        assert!(text.contains("actions removed: Allow amqp:*"), "{text}");
        assert!(
            text.contains("resources added: acs:amqp:*:1:/instances/i/*"),
            "{text}"
        );

        let with_mfa =
            TrustPolicy::for_accounts(&["1"]).condition("Bool", "acs:MFAPresent", &["true"]);
        let text = diff(
            &TrustPolicy::for_accounts(&["1"]).build(),
            &with_mfa.build(),
        )
        .to_string();
        assert_eq!(text, "conditions added: Bool acs:MFAPresent=true");

        let deny = PermissionPolicy::new().deny(&["amqp:*"], &["*"]).build();
        assert!(
            diff(&old, &deny)
                .to_string()
                .contains("actions added: Deny amqp:*")
        );

        let regrouped_a = PermissionPolicy::new()
            .allow(&["a:x", "a:y"], &["r1"])
            .allow(&["a:x"], &["r2"])
            .build();
        let regrouped_b = PermissionPolicy::new()
            .allow(&["a:x"], &["r1", "r2"])
            .allow(&["a:y"], &["r1"])
            .build();
        assert!(!equivalent(&regrouped_a, &regrouped_b));
        assert!(
            diff(&regrouped_a, &regrouped_b)
                .to_string()
                .starts_with("statements added")
        );
    }

    #[test]
    fn unknown_keys_and_version_are_compared() {
        let a = doc(
            r#"{"Version":"1","Statement":[{"Sid":"a","Effect":"Allow","Action":"x:y","Resource":"*"}]}"#,
        );
        let b = doc(
            r#"{"Version":"1","Statement":[{"Sid":"b","Effect":"Allow","Action":"x:y","Resource":"*"}]}"#,
        );
        assert!(!equivalent(&a, &b));
        assert!(!diff(&a, &b).is_empty());
        let v2 = doc(
            r#"{"Version":"2","Statement":[{"Sid":"a","Effect":"Allow","Action":"x:y","Resource":"*"}]}"#,
        );
        assert_eq!(diff(&a, &v2).to_string(), "Version changed: 1 -> 2");
        assert!(
            equivalent_json(r#"{"Statement":[]}"#, r#"{"Version":"1","Statement":[]}"#).unwrap()
        );
    }

    #[test]
    fn external_id_and_specific_principals() {
        let policy = TrustPolicy::new()
            .ram_principal("acs:ram::2:user/alice")
            .service("ecs.aliyuncs.com")
            .external_id("abc")
            .build();
        let json = policy.to_json();
        assert!(
            json.contains(r#""StringEquals":{"sts:ExternalId":["abc"]}"#),
            "{json}"
        );
        assert!(json.contains(r#""Service":["ecs.aliyuncs.com"]"#), "{json}");
        assert!(policy.trusted_accounts().is_empty());
        assert_eq!(policy.trusted_principals().len(), 2);
    }
}
