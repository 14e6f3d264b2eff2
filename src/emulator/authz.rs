//! Policy documents: grammar checks, the system policies the scenario uses, and evaluation of
//! permission policies (Allow / Deny, `Action` / `NotAction`, `Resource` / `NotResource`
//! wildcards, conditions; explicit Deny wins) and of trust policies (`Principal`).
//!
//! Pure functions over parsed documents; knows nothing of HTTP, keys or the store.

use std::collections::HashMap;

use serde_json::Value;

/// Which grammar a document must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// Permission (and session) policy: statements need `Resource`.
    Permission,
    /// Trust policy (`AssumeRolePolicyDocument`): statements need `Principal`.
    Trust,
}

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `"Effect": "Allow"`.
    Allow,
    /// `"Effect": "Deny"`.
    Deny,
}

/// A list of patterns, or its negation (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq)]
pub enum PatternSet {
    /// Matches a value that matches any pattern.
    Any(Vec<String>),
    /// Matches a value that matches none of the patterns.
    NoneOf(Vec<String>),
}

impl PatternSet {
    fn matches(&self, value: &str) -> bool {
        match self {
            Self::Any(patterns) => patterns.iter().any(|p| wildcard_match(p, value)),
            Self::NoneOf(patterns) => !patterns.iter().any(|p| wildcard_match(p, value)),
        }
    }
}

/// One condition: `operator` applied to `key` against any of `values`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// e.g. `StringEquals`.
    pub operator: String,
    /// e.g. `sts:ExternalId`.
    pub key: String,
    /// Accepted values.
    pub values: Vec<String>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Allow or Deny.
    pub effect: Effect,
    /// `Action` / `NotAction`.
    pub actions: PatternSet,
    /// `Resource` / `NotResource`; absent in trust policies.
    pub resources: Option<PatternSet>,
    /// `Principal` as (kind, values), e.g. `("RAM", ["acs:ram::1:root"])`; `("*", ["*"])` for `"*"`.
    pub principals: Vec<(String, Vec<String>)>,
    /// All conditions must hold.
    pub conditions: Vec<Condition>,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    /// The statements.
    pub statements: Vec<Statement>,
}

/// The outcome of evaluating permission policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Some statement allows and none denies.
    Allow,
    /// A statement denies.
    ExplicitDeny,
    /// Nothing allows.
    ImplicitDeny,
}

/// Case-insensitive glob: `*` any run of characters, `?` one character.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let value: Vec<char> = value.to_lowercase().chars().collect();
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == value[v]) {
            p += 1;
            v += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, v));
            p += 1;
        } else if let Some((sp, sv)) = star {
            p = sp + 1;
            v = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

fn string_list(value: &Value, field: &str) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(format!("{field} must hold non-empty strings")),
            })
            .collect(),
        _ => Err(format!(
            "{field} must be a string or a non-empty list of strings"
        )),
    }
}

fn condition_values(value: &Value) -> Result<Vec<String>, String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err("condition values must be strings, numbers or booleans".to_string()),
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Value::Array(_) => Err("condition value list is empty".to_string()),
        other => Ok(vec![scalar(other)?]),
    }
}

fn pattern_set(
    statement: &serde_json::Map<String, Value>,
    positive: &str,
    negative: &str,
) -> Result<Option<PatternSet>, String> {
    match (statement.get(positive), statement.get(negative)) {
        (Some(_), Some(_)) => Err(format!("{positive} and {negative} are exclusive")),
        (Some(v), None) => Ok(Some(PatternSet::Any(string_list(v, positive)?))),
        (None, Some(v)) => Ok(Some(PatternSet::NoneOf(string_list(v, negative)?))),
        (None, None) => Ok(None),
    }
}

fn parse_statement(value: &Value, kind: DocKind) -> Result<Statement, String> {
    let statement = value
        .as_object()
        .ok_or("each Statement must be an object")?;
    for key in statement.keys() {
        if !matches!(
            key.as_str(),
            "Effect"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Principal"
                | "Condition"
                | "Sid"
        ) {
            return Err(format!("unknown statement element {key}"));
        }
    }
    let effect = match statement.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err("Effect must be Allow or Deny".to_string()),
    };
    let actions = pattern_set(statement, "Action", "NotAction")?
        .ok_or("a statement needs Action or NotAction")?;
    let resources = pattern_set(statement, "Resource", "NotResource")?;
    let mut principals = Vec::new();
    match statement.get("Principal") {
        None => {}
        Some(Value::String(s)) if s == "*" => principals.push(("*".to_string(), vec![s.clone()])),
        Some(Value::Object(map)) if !map.is_empty() => {
            for (kind, values) in map {
                if !matches!(kind.as_str(), "RAM" | "Service" | "Federated") {
                    return Err(format!("unknown principal type {kind}"));
                }
                principals.push((kind.clone(), string_list(values, "Principal")?));
            }
        }
        Some(_) => return Err("Principal must be \"*\" or an object".to_string()),
    }
    match kind {
        DocKind::Permission if resources.is_none() => {
            return Err("a statement needs Resource".to_string());
        }
        DocKind::Permission if !principals.is_empty() => {
            return Err("Principal is not allowed in a permission policy".to_string());
        }
        DocKind::Trust if principals.is_empty() => {
            return Err("a trust policy statement needs Principal".to_string());
        }
        _ => {}
    }
    let mut conditions = Vec::new();
    if let Some(condition) = statement.get("Condition") {
        let operators = condition.as_object().ok_or("Condition must be an object")?;
        for (operator, keys) in operators {
            let keys = keys
                .as_object()
                .ok_or("each condition operator must map keys to values")?;
            for (key, values) in keys {
                conditions.push(Condition {
                    operator: operator.clone(),
                    key: key.clone(),
                    values: condition_values(values)?,
                });
            }
        }
    }
    Ok(Statement {
        effect,
        actions,
        resources,
        principals,
        conditions,
    })
}

/// Parses and checks a document's grammar; the error says what is wrong.
pub fn parse(text: &str, kind: DocKind) -> Result<PolicyDocument, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the document is not JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or("the document must be a JSON object")?;
    for key in object.keys() {
        if !matches!(key.as_str(), "Version" | "Statement") {
            return Err(format!("unknown element {key}"));
        }
    }
    match object.get("Version") {
        Some(Value::String(v)) if v == "1" => {}
        _ => return Err("Version must be \"1\"".to_string()),
    }
    let statements = match object.get("Statement") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|s| parse_statement(s, kind))
            .collect::<Result<Vec<_>, _>>()?,
        Some(item @ Value::Object(_)) => vec![parse_statement(item, kind)?],
        _ => return Err("Statement must be a non-empty list".to_string()),
    };
    Ok(PolicyDocument { statements })
}

/// Values of condition keys for one request (e.g. `sts:ExternalId`, `acs:MFAPresent`).
pub type ConditionContext = HashMap<String, String>;

fn condition_holds(condition: &Condition, context: &ConditionContext) -> bool {
    let key = condition.key.to_ascii_lowercase();
    let actual = context
        .iter()
        .find(|(k, _)| k.to_ascii_lowercase() == key)
        .map(|(_, v)| v.as_str());
    let any = |f: &dyn Fn(&str, &str) -> bool| {
        actual.is_some_and(|a| condition.values.iter().any(|v| f(a, v)))
    };
    match condition.operator.as_str() {
        "StringEquals" => any(&|a, v| a == v),
        "StringNotEquals" => !any(&|a, v| a == v),
        "StringEqualsIgnoreCase" => any(&|a, v| a.eq_ignore_ascii_case(v)),
        "StringNotEqualsIgnoreCase" => !any(&|a, v| a.eq_ignore_ascii_case(v)),
        "StringLike" => any(&|a, v| wildcard_match(v, a)),
        "StringNotLike" => !any(&|a, v| wildcard_match(v, a)),
        "Bool" => any(&|a, v| a.eq_ignore_ascii_case(v)),
        // Operators this emulator does not model never hold, so an Allow guarded by them
        // does not widen access and a Deny guarded by them does not block.
        _ => false,
    }
}

fn statement_applies(statement: &Statement, action: &str, context: &ConditionContext) -> bool {
    statement.actions.matches(action)
        && statement
            .conditions
            .iter()
            .all(|c| condition_holds(c, context))
}

/// Evaluates permission policies for `action` on `resource`: explicit Deny wins, otherwise
/// any Allow allows.
pub fn evaluate(
    documents: &[&PolicyDocument],
    action: &str,
    resource: &str,
    context: &ConditionContext,
) -> Decision {
    let mut allowed = false;
    for statement in documents.iter().flat_map(|d| &d.statements) {
        let resource_matches = statement
            .resources
            .as_ref()
            .is_some_and(|r| r.matches(resource));
        if !resource_matches || !statement_applies(statement, action, context) {
            continue;
        }
        match statement.effect {
            Effect::Deny => return Decision::ExplicitDeny,
            Effect::Allow => allowed = true,
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Who asks to assume a role, as a trust policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustPrincipal {
    /// A RAM user `user` of `account`.
    User { account: String, user: String },
    /// A session of role `role` of `account`.
    Role { account: String, role: String },
    /// An OIDC identity provider by ARN.
    Federated { provider_arn: String },
}

fn ram_principal_matches(entry: &str, principal: &TrustPrincipal) -> bool {
    if entry == "*" {
        return true;
    }
    let entry = entry.to_ascii_lowercase();
    let (account, tail) = match principal {
        TrustPrincipal::User { account, user } => (account, format!("user/{user}")),
        TrustPrincipal::Role { account, role } => (account, format!("role/{role}")),
        TrustPrincipal::Federated { .. } => return false,
    };
    // A bare account id stands for that account's root, as the console writes it sometimes.
    entry == *account
        || entry == format!("acs:ram::{account}:root")
        || entry == format!("acs:ram::{account}:{}", tail.to_ascii_lowercase())
}

fn principal_matches(statement: &Statement, principal: &TrustPrincipal) -> bool {
    statement.principals.iter().any(|(kind, values)| {
        values.iter().any(|entry| match (kind.as_str(), principal) {
            ("*", _) => true,
            ("RAM", p) => ram_principal_matches(entry, p),
            ("Federated", TrustPrincipal::Federated { provider_arn }) => {
                entry.eq_ignore_ascii_case(provider_arn)
            }
            _ => false,
        })
    })
}

/// Whether a trust policy lets `principal` assume the role (`sts:AssumeRole`); Deny wins.
pub fn trust_allows(
    document: &PolicyDocument,
    principal: &TrustPrincipal,
    context: &ConditionContext,
) -> bool {
    let mut allowed = false;
    for statement in &document.statements {
        if !principal_matches(statement, principal)
            || !statement_applies(statement, "sts:AssumeRole", context)
        {
            continue;
        }
        match statement.effect {
            Effect::Deny => return false,
            Effect::Allow => allowed = true,
        }
    }
    allowed
}

/// System policies the emulator knows, with their documents.
pub const SYSTEM_POLICIES: &[(&str, &str, &str)] = &[
    (
        "AdministratorAccess",
        "Provides full access to Alibaba Cloud services and resources.",
        r#"{"Statement":[{"Action":"*","Effect":"Allow","Resource":"*"}],"Version":"1"}"#,
    ),
    (
        "AliyunSTSAssumeRoleAccess",
        "Provides access to assume RAM roles through the Security Token Service (STS).",
        r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Resource":"*"}],"Version":"1"}"#,
    ),
    (
        "AliyunRAMFullAccess",
        "Provides full access to Resource Access Management (RAM).",
        r#"{"Statement":[{"Action":"ram:*","Effect":"Allow","Resource":"*"}],"Version":"1"}"#,
    ),
    (
        "AliyunRAMReadOnlyAccess",
        "Provides read-only access to Resource Access Management (RAM).",
        r#"{"Statement":[{"Action":["ram:Get*","ram:List*","ram:GenerateCredentialReport"],"Effect":"Allow","Resource":"*"}],"Version":"1"}"#,
    ),
    (
        "AliyunAMQPFullAccess",
        "Provides full access to ApsaraMQ for RabbitMQ.",
        r#"{"Statement":[{"Action":"amqp:*","Effect":"Allow","Resource":"*"}],"Version":"1"}"#,
    ),
    (
        "AliyunAMQPReadOnlyAccess",
        "Provides read-only access to ApsaraMQ for RabbitMQ.",
        r#"{"Statement":[{"Action":["amqp:Get*","amqp:List*"],"Effect":"Allow","Resource":"*"}],"Version":"1"}"#,
    ),
];

/// The system policy called `name` (case-insensitive): (canonical name, description, document).
pub fn system_policy(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    SYSTEM_POLICIES
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str, kind: DocKind) -> PolicyDocument {
        parse(text, kind).unwrap()
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("ram:Get*", "ram:GetRole"));
        assert!(wildcard_match("RAM:get*", "ram:GetRole"));
        assert!(!wildcard_match("ram:Get*", "ram:ListRoles"));
        assert!(wildcard_match("acs:ram:*:1:role/*", "acs:ram::1:role/x"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn explicit_deny_wins() {
        let allow = doc(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ram:*","Resource":"*"}]}"#,
            DocKind::Permission,
        );
        let deny = doc(
            r#"{"Version":"1","Statement":{"Effect":"Deny","Action":["ram:Delete*"],"Resource":"acs:ram:*:1:role/*"}}"#,
            DocKind::Permission,
        );
        let ctx = ConditionContext::new();
        assert_eq!(
            evaluate(
                &[&allow, &deny],
                "ram:DeleteRole",
                "acs:ram:*:1:role/r",
                &ctx
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            evaluate(&[&allow, &deny], "ram:GetRole", "acs:ram:*:1:role/r", &ctx),
            Decision::Allow
        );
        assert_eq!(
            evaluate(&[&deny], "ram:GetRole", "acs:ram:*:1:role/r", &ctx),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn not_action() {
        let d = doc(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","NotAction":"ram:*","Resource":"*"}]}"#,
            DocKind::Permission,
        );
        let ctx = ConditionContext::new();
        assert_eq!(
            evaluate(&[&d], "ram:GetRole", "*", &ctx),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate(&[&d], "amqp:GetInstance", "*", &ctx),
            Decision::Allow
        );
    }

    #[test]
    fn grammar_errors() {
        for bad in [
            "not json",
            "[]",
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*"}]}"#,
        ] {
            assert!(parse(bad, DocKind::Permission).is_err(), "{bad}");
        }
        assert!(
            parse(
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
                DocKind::Trust
            )
            .is_err()
        );
    }

    #[test]
    fn trust_by_account_user_and_external_id() {
        let root = doc(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":["acs:ram::2:root"]}}]}"#,
            DocKind::Trust,
        );
        let user_b = TrustPrincipal::User {
            account: "2".into(),
            user: "app".into(),
        };
        let user_c = TrustPrincipal::User {
            account: "3".into(),
            user: "app".into(),
        };
        let ctx = ConditionContext::new();
        assert!(trust_allows(&root, &user_b, &ctx));
        assert!(!trust_allows(&root, &user_c, &ctx));

        let one_user = doc(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":"acs:ram::2:user/other"}}]}"#,
            DocKind::Trust,
        );
        assert!(!trust_allows(&one_user, &user_b, &ctx));

        let external = doc(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":["acs:ram::2:root"]},"Condition":{"StringEquals":{"sts:ExternalId":"abc"}}}]}"#,
            DocKind::Trust,
        );
        assert!(!trust_allows(&external, &user_b, &ctx));
        let with_id: ConditionContext = [("sts:ExternalId".to_string(), "abc".to_string())].into();
        assert!(trust_allows(&external, &user_b, &with_id));
    }

    #[test]
    fn system_policies_parse() {
        for (name, _, text) in SYSTEM_POLICIES {
            assert!(parse(text, DocKind::Permission).is_ok(), "{name}");
        }
        assert_eq!(
            system_policy("aliyunamqpfullaccess").map(|p| p.0),
            Some("AliyunAMQPFullAccess")
        );
    }
}
