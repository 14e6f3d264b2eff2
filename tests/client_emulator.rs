//! The project's own Alibaba Cloud client (`alicloud`) against the emulator running in-process
//! on 127.0.0.1:0: every public operation of `Ram`, `Ims`, `Sts` and `AnonymousSts` with typed
//! requests and typed responses, then every error code the emulator answers for them as the
//! client classifies it (`code`, `ErrorKind`, HTTP status), retries on injected faults, and no
//! secret in any error's `Display` or `Debug`.
//!
//! Accounts come from `examples/emulator-accounts.yaml` (A owns roles, B users, C is a
//! bystander). Each test starts its own emulator, so tests do not share state. Nothing here
//! depends on timing: "fail, then succeed" faults are cleared by a credentials provider just
//! before a given attempt, and the one wait (for a scaled STS expiry) polls the clock against
//! a generous deadline.
//!
//! Run: `cargo test --test client_emulator` (no cluster, no network beyond loopback).

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ErrorKind::{AccessDenied, AlreadyExists, Conflict, InvalidParameter, LimitExceeded, NotFound};
use futures::future::BoxFuture;
use ram_operator::alicloud::client::Auth;
use ram_operator::alicloud::ims::{self, CreateLoginProfileRequest, UserLookup};
use ram_operator::alicloud::policy::{self, PermissionPolicy, PolicyDocument, TrustPolicy};
use ram_operator::alicloud::ram::{
    AccessKeyStatus, CreatePolicyRequest, CreatePolicyVersionRequest, CreateRoleRequest,
    CreateUserRequest, LoginProfileRequest, PolicyType, RotateStrategy, TagResourceType,
    UpdateRoleRequest, UpdateUserRequest,
};
use ram_operator::alicloud::sts::{AssumeRoleRequest, AssumeRoleWithOidcRequest};
use ram_operator::alicloud::wire::{Params, Tag};
use ram_operator::alicloud::{
    CallEvent, CallObserver, Client, ClientConfig, Credentials, CredentialsProvider, Endpoints,
    Error, ErrorKind, RateLimit, RateLimits, RetryPolicy, Sensitive, Service, StaticProvider,
};
use ram_operator::emulator::accounts::{AccountsFile, OidcProviderSpec};
use ram_operator::emulator::oidc::OidcProvider as EmulatorOidcProvider;
use ram_operator::emulator::{EmulatorConfig, EmulatorHandle, serve};
use serde_json::{Value, json};

/// Account A: owns the cross-account role.
const A: &str = "1111111111111111";
/// Account B: owns the RAM users.
const B: &str = "2222222222222222";
/// Account C: trusted by nobody.
const C: &str = "3333333333333333";

/// Attempts the test client makes at most (the default is 6; fewer keeps exhaustion fast).
const MAX_ATTEMPTS: u32 = 4;

fn accounts_file() -> AccountsFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/emulator-accounts.yaml");
    AccountsFile::load(&path).expect("examples/emulator-accounts.yaml loads")
}

/// Records the result code of every attempt the client makes.
#[derive(Default)]
struct Attempts(Mutex<Vec<(String, String, u32)>>);

impl CallObserver for Attempts {
    fn on_attempt(&self, event: &CallEvent<'_>) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push((
                event.action.to_string(),
                event.code.to_string(),
                event.attempt,
            ));
        }
    }
}

impl Attempts {
    /// The codes of the attempts of `action`, in order.
    fn codes(&self, action: &str) -> Vec<String> {
        self.0
            .lock()
            .map(|seen| {
                seen.iter()
                    .filter(|(a, _, _)| a == action)
                    .map(|(_, code, _)| code.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn clear(&self) {
        if let Ok(mut seen) = self.0.lock() {
            seen.clear();
        }
    }
}

/// One emulator and one client pointed at it.
struct Cloud {
    emulator: EmulatorHandle,
    client: Client,
    admin: reqwest::Client,
    accounts: AccountsFile,
    attempts: Arc<Attempts>,
    /// Every secret handed out so far: root secrets, key secrets, STS secrets and tokens,
    /// passwords, OIDC tokens. No error text may contain one of them.
    secrets: Mutex<Vec<String>>,
}

impl Cloud {
    async fn start() -> Self {
        Self::start_with(1.0, Vec::new()).await
    }

    async fn start_with(expiry_scale: f64, oidc: Vec<EmulatorOidcProvider>) -> Self {
        let accounts = accounts_file();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let mut config = EmulatorConfig::new(accounts.clone());
        config.expiry_scale = expiry_scale;
        config.oidc = oidc;
        let emulator = serve(listener, config).await.expect("emulator starts");
        let attempts = Arc::new(Attempts::default());
        let unlimited = RateLimit { qps: 0.0, burst: 1 };
        let client = Client::new(ClientConfig {
            endpoints: Endpoints::all(
                reqwest::Url::parse(&emulator.base_url()).expect("emulator URL"),
            ),
            allow_insecure: true,
            // Generous: the machine is shared; the tests assert behaviour, not speed.
            timeout: Duration::from_secs(30),
            retry: RetryPolicy {
                max_attempts: MAX_ATTEMPTS,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(40),
                max_elapsed: Duration::from_secs(60),
            },
            rate_limits: RateLimits {
                ram: unlimited,
                ims: unlimited,
                sts: unlimited,
            },
            observer: Some(attempts.clone()),
            ..ClientConfig::default()
        })
        .expect("client for the emulator");
        let secrets = accounts
            .accounts
            .iter()
            .flat_map(|a| a.access_keys.iter().map(|k| k.secret.clone()))
            .collect();
        Self {
            emulator,
            client,
            admin: reqwest::Client::new(),
            accounts,
            attempts,
            secrets: Mutex::new(secrets),
        }
    }

    /// The root key of `account` from the accounts file.
    fn root(&self, account: &str) -> StaticProvider {
        let spec = self
            .accounts
            .accounts
            .iter()
            .find(|a| a.id == account)
            .expect("account in the accounts file");
        let key = &spec.access_keys[0];
        StaticProvider::access_key(key.id.clone(), key.secret.clone()).with_account_id(account)
    }

    fn remember(&self, secret: &str) {
        assert!(!secret.is_empty(), "an empty secret was handed out");
        self.secrets.lock().unwrap().push(secret.to_string());
    }

    /// Asserts that neither `Display` nor `Debug` of `error` holds a known secret.
    fn assert_secret_free(&self, error: &Error) {
        let display = error.to_string();
        let debug = format!("{error:?}");
        for secret in self.secrets.lock().unwrap().iter() {
            assert!(
                !display.contains(secret.as_str()) && !debug.contains(secret.as_str()),
                "a secret leaked into the error text: {display}"
            );
        }
    }

    /// The error of a call that must fail (checked for secrets).
    fn failure<T: std::fmt::Debug>(&self, what: &str, result: Result<T, Error>) -> Error {
        match result {
            Ok(value) => panic!("{what}: expected an error, got {value:?}"),
            Err(error) => {
                self.assert_secret_free(&error);
                error
            }
        }
    }

    /// A RAM user of `account` with the given system policies and one access key.
    async fn user_with_key(&self, account: &str, name: &str, policies: &[&str]) -> StaticProvider {
        let root = self.root(account);
        let ram = self.client.ram(&root);
        ram.create_user(&CreateUserRequest {
            user_name: name.to_string(),
            ..Default::default()
        })
        .await
        .expect("CreateUser");
        for policy in policies {
            ram.attach_policy_to_user(PolicyType::System, policy, name)
                .await
                .expect("AttachPolicyToUser");
        }
        let key = ram
            .create_access_key(Some(name))
            .await
            .expect("CreateAccessKey");
        self.remember(key.access_key_secret.expose());
        StaticProvider::access_key(key.access_key_id, key.access_key_secret)
            .with_account_id(account)
    }

    /// `GET /_emulator/calls`.
    async fn calls(&self) -> Value {
        self.admin
            .get(format!("{}/_emulator/calls", self.emulator.base_url()))
            .send()
            .await
            .expect("GET /_emulator/calls")
            .json()
            .await
            .expect("calls JSON")
    }

    /// How many calls of `action` ended with `code` since the last reset.
    async fn count(&self, action: &str, code: &str) -> u64 {
        self.calls().await["totals"][action][code]
            .as_u64()
            .unwrap_or(0)
    }

    async fn reset_calls(&self) {
        self.admin
            .delete(format!("{}/_emulator/calls", self.emulator.base_url()))
            .send()
            .await
            .expect("DELETE /_emulator/calls");
        self.attempts.clear();
    }

    async fn set_faults(&self, rules: Value) {
        let response = self
            .admin
            .post(format!("{}/_emulator/faults", self.emulator.base_url()))
            .json(&json!({ "faults": rules }))
            .send()
            .await
            .expect("POST /_emulator/faults");
        assert!(response.status().is_success(), "faults accepted");
    }

    async fn clear_faults(&self) {
        clear_faults(&self.admin, &self.emulator.base_url()).await;
    }

    /// Sets the account's password policy through the client's generic call (the operator
    /// never sets it, so the client has no typed operation for it).
    async fn set_password_policy(
        &self,
        account: &str,
        service: Service,
        settings: &[(&str, &str)],
    ) {
        let root = self.root(account);
        let mut params = Params::new();
        for (name, value) in settings {
            params.set(name, value);
        }
        self.client
            .call::<Value>(service, "SetPasswordPolicy", &params, Auth::Signed(&root))
            .await
            .expect("SetPasswordPolicy");
    }
}

async fn clear_faults(admin: &reqwest::Client, base: &str) {
    admin
        .delete(format!("{base}/_emulator/faults"))
        .send()
        .await
        .expect("DELETE /_emulator/faults");
}

fn role_arn(account: &str, name: &str) -> String {
    format!("acs:ram::{account}:role/{name}")
}

fn same_document(a: &str, b: &str) -> bool {
    policy::equivalent_json(a, b).expect("both documents parse")
}

fn allow(actions: &[&str]) -> String {
    PermissionPolicy::new()
        .allow(actions, &["*"])
        .build()
        .to_json()
}

// ---------------------------------------------------------------------------------------------
// RAM: roles, policies and their versions, attachments, tags
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ram_roles_policies_versions_attachments_and_tags() {
    let cloud = Cloud::start().await;
    let root_a = cloud.root(A);
    let ram = cloud.client.ram(&root_a);

    // Roles.
    let trust = TrustPolicy::for_accounts(&[B]).to_json();
    let role = ram
        .create_role(&CreateRoleRequest {
            role_name: "rabbitmq-access".to_string(),
            assume_role_policy_document: trust.clone(),
            description: Some("cross-account RabbitMQ".to_string()),
            max_session_duration: Some(7200),
            tags: vec![Tag::new("team", "mq")],
        })
        .await
        .unwrap();
    assert_eq!(role.role_name, "rabbitmq-access");
    assert_eq!(role.arn, role_arn(A, "rabbitmq-access"));
    assert!(!role.role_id.is_empty());
    assert_eq!(role.description, "cross-account RabbitMQ");
    assert_eq!(role.max_session_duration, 7200);
    assert!(same_document(&role.assume_role_policy_document, &trust));
    assert!(!role.create_date.is_empty());

    let fetched = ram.get_role("RabbitMQ-Access").await.unwrap();
    assert_eq!(
        fetched.role_id, role.role_id,
        "names match case-insensitively"
    );
    assert_eq!(fetched.arn, role.arn);

    let widened = TrustPolicy::for_accounts(&[B, C]).to_json();
    let updated = ram
        .update_role(&UpdateRoleRequest {
            role_name: "rabbitmq-access".to_string(),
            new_assume_role_policy_document: Some(widened.clone()),
            new_max_session_duration: Some(3600),
            new_description: Some("two accounts".to_string()),
        })
        .await
        .unwrap();
    assert_eq!(updated.role_id, role.role_id);
    assert_eq!(updated.max_session_duration, 3600);
    assert_eq!(updated.description, "two accounts");
    let trusted = PolicyDocument::parse(
        &ram.get_role("rabbitmq-access")
            .await
            .unwrap()
            .assume_role_policy_document,
    )
    .unwrap()
    .trusted_accounts();
    assert_eq!(
        trusted.into_iter().collect::<Vec<_>>(),
        vec![B.to_string(), C.to_string()]
    );

    // ListRoles follows the marker: 231 roles are three pages of 100.
    for index in 0..230 {
        ram.create_role(&CreateRoleRequest {
            role_name: format!("page-role-{index:03}"),
            assume_role_policy_document: trust.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    cloud.reset_calls().await;
    let roles = ram.list_roles().await.unwrap();
    assert_eq!(roles.len(), 231);
    let mut names: Vec<&str> = roles.iter().map(|r| r.role_name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 231, "no role is listed twice");
    assert_eq!(cloud.count("ListRoles", "Success").await, 3, "three pages");
    let listed = roles
        .iter()
        .find(|r| r.role_name == "rabbitmq-access")
        .unwrap();
    assert_eq!(listed.role_id, role.role_id);
    assert_eq!(listed.tags.len(), 1);
    assert_eq!(
        (listed.tags[0].key.as_str(), listed.tags[0].value.as_str()),
        ("team", "mq")
    );

    // Custom policy with versions.
    let v1 = allow(&["amqp:*"]);
    let created = ram
        .create_policy(&CreatePolicyRequest {
            policy_name: "mq-access".to_string(),
            policy_document: v1.clone(),
            description: Some("RabbitMQ".to_string()),
            tags: vec![Tag::new("team", "mq")],
        })
        .await
        .unwrap();
    assert_eq!(created.policy_name, "mq-access");
    assert_eq!(created.policy_type, "Custom");
    assert_eq!(created.default_version, "v1");
    assert_eq!(created.description, "RabbitMQ");
    let got = ram
        .get_policy(PolicyType::Custom, "mq-access")
        .await
        .unwrap();
    assert_eq!(got.policy.attachment_count, 0);
    let default = got.default_policy_version.unwrap();
    assert_eq!(default.version_id, "v1");
    assert!(default.is_default_version);
    assert!(same_document(&default.policy_document, &v1));

    let system = ram
        .get_policy(PolicyType::System, "aliyunstsassumeroleaccess")
        .await
        .unwrap();
    assert_eq!(system.policy.policy_name, "AliyunSTSAssumeRoleAccess");
    assert_eq!(system.policy.policy_type, "System");
    assert!(
        system
            .default_policy_version
            .unwrap()
            .policy_document
            .contains("sts:AssumeRole")
    );

    let v2_doc = allow(&["amqp:Get*", "amqp:List*"]);
    let v2 = ram
        .create_policy_version(&CreatePolicyVersionRequest {
            policy_name: "mq-access".to_string(),
            policy_document: v2_doc.clone(),
            set_as_default: true,
            rotate_strategy: RotateStrategy::None,
        })
        .await
        .unwrap();
    assert_eq!(v2.version_id, "v2");
    assert!(v2.is_default_version);
    for _ in 3..=5 {
        let version = ram
            .create_policy_version(&CreatePolicyVersionRequest {
                policy_name: "mq-access".to_string(),
                policy_document: allow(&["amqp:Get*"]),
                set_as_default: false,
                rotate_strategy: RotateStrategy::None,
            })
            .await
            .unwrap();
        assert!(!version.is_default_version);
    }
    let got = ram
        .get_policy(PolicyType::Custom, "mq-access")
        .await
        .unwrap();
    assert_eq!(got.policy.default_version, "v2");
    assert!(same_document(
        &got.default_policy_version.unwrap().policy_document,
        &v2_doc
    ));
    // A sixth version with the rotate strategy drops the oldest non-default one (v1).
    let v6 = ram
        .create_policy_version(&CreatePolicyVersionRequest {
            policy_name: "mq-access".to_string(),
            policy_document: allow(&["amqp:List*"]),
            set_as_default: false,
            rotate_strategy: RotateStrategy::DeleteOldestNonDefaultVersionWhenLimitExceeded,
        })
        .await
        .unwrap();
    assert_eq!(v6.version_id, "v6");
    let ids = |versions: Vec<ram_operator::alicloud::ram::PolicyVersion>| {
        versions
            .into_iter()
            .map(|v| (v.version_id, v.is_default_version))
            .collect::<Vec<_>>()
    };
    let expected = |list: &[&str]| {
        list.iter()
            .map(|v| (v.to_string(), *v == "v2"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(ram
            .list_policy_versions(PolicyType::Custom, "mq-access")
            .await
            .unwrap()),
        expected(&["v2", "v3", "v4", "v5", "v6"])
    );
    ram.delete_policy_version("mq-access", "v3").await.unwrap();
    assert_eq!(
        ids(ram
            .list_policy_versions(PolicyType::Custom, "mq-access")
            .await
            .unwrap()),
        expected(&["v2", "v4", "v5", "v6"])
    );
    let system_versions = ram
        .list_policy_versions(PolicyType::System, "AliyunAMQPFullAccess")
        .await
        .unwrap();
    assert_eq!(system_versions.len(), 1);
    assert!(system_versions[0].policy_document.contains("amqp:*"));

    // Attachments to a role.
    ram.attach_policy_to_role(PolicyType::Custom, "mq-access", "rabbitmq-access")
        .await
        .unwrap();
    ram.attach_policy_to_role(
        PolicyType::System,
        "AliyunAMQPReadOnlyAccess",
        "rabbitmq-access",
    )
    .await
    .unwrap();
    let mut attached: Vec<(String, String, String)> = ram
        .list_policies_for_role("rabbitmq-access")
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.policy_name, p.policy_type, p.default_version))
        .collect();
    attached.sort();
    assert_eq!(
        attached,
        vec![
            (
                "AliyunAMQPReadOnlyAccess".to_string(),
                "System".to_string(),
                "v1".to_string()
            ),
            (
                "mq-access".to_string(),
                "Custom".to_string(),
                "v2".to_string()
            ),
        ]
    );
    assert_eq!(
        ram.get_policy(PolicyType::Custom, "mq-access")
            .await
            .unwrap()
            .policy
            .attachment_count,
        1
    );
    ram.detach_policy_from_role(PolicyType::Custom, "mq-access", "rabbitmq-access")
        .await
        .unwrap();
    ram.detach_policy_from_role(
        PolicyType::System,
        "AliyunAMQPReadOnlyAccess",
        "rabbitmq-access",
    )
    .await
    .unwrap();
    assert!(
        ram.list_policies_for_role("rabbitmq-access")
            .await
            .unwrap()
            .is_empty()
    );

    // Tags of roles and policies.
    let both = ["rabbitmq-access".to_string(), "page-role-000".to_string()];
    ram.tag_resources(
        TagResourceType::Role,
        &both,
        &[Tag::new("env", "test"), Tag::new("owner", "ops")],
    )
    .await
    .unwrap();
    let tag_pairs = |resources: Vec<ram_operator::alicloud::ram::TaggedResource>| {
        let mut pairs: Vec<(String, String, String)> = resources
            .into_iter()
            .map(|r| {
                assert!(!r.resource_type.is_empty());
                (r.resource_name, r.tag_key, r.tag_value)
            })
            .collect();
        pairs.sort();
        pairs
    };
    let triple = |n: &str, k: &str, v: &str| (n.to_string(), k.to_string(), v.to_string());
    assert_eq!(
        tag_pairs(
            ram.list_tag_resources(TagResourceType::Role, &both[..1], &[])
                .await
                .unwrap()
        ),
        vec![
            triple("rabbitmq-access", "env", "test"),
            triple("rabbitmq-access", "owner", "ops"),
            triple("rabbitmq-access", "team", "mq"),
        ]
    );
    assert_eq!(
        tag_pairs(
            ram.list_tag_resources(TagResourceType::Role, &[], &[Tag::new("owner", "ops")])
                .await
                .unwrap()
        ),
        vec![
            triple("page-role-000", "env", "test"),
            triple("page-role-000", "owner", "ops"),
            triple("rabbitmq-access", "env", "test"),
            triple("rabbitmq-access", "owner", "ops"),
            triple("rabbitmq-access", "team", "mq"),
        ]
    );
    let policy_tags = ram
        .list_tag_resources(TagResourceType::Policy, &["mq-access".to_string()], &[])
        .await
        .unwrap();
    assert_eq!(policy_tags.len(), 1);
    assert_eq!(policy_tags[0].resource_type, "policy");
    assert_eq!(
        (
            policy_tags[0].tag_key.as_str(),
            policy_tags[0].tag_value.as_str()
        ),
        ("team", "mq")
    );
    ram.untag_resources(TagResourceType::Role, &both[..1], &["owner".to_string()])
        .await
        .unwrap();
    ram.untag_resources(TagResourceType::Role, &both[1..], &[])
        .await
        .unwrap();
    assert_eq!(
        tag_pairs(
            ram.list_tag_resources(TagResourceType::Role, &both, &[])
                .await
                .unwrap()
        ),
        vec![
            triple("rabbitmq-access", "env", "test"),
            triple("rabbitmq-access", "team", "mq"),
        ]
    );
    ram.untag_resources(TagResourceType::Policy, &["mq-access".to_string()], &[])
        .await
        .unwrap();
    assert!(
        ram.list_tag_resources(TagResourceType::Policy, &["mq-access".to_string()], &[])
            .await
            .unwrap()
            .is_empty()
    );

    // Deletion.
    ram.delete_role("rabbitmq-access").await.unwrap();
    let gone = cloud.failure("GetRole", ram.get_role("rabbitmq-access").await);
    assert_eq!(gone.code(), Some("EntityNotExist.Role"));
    assert!(gone.is_not_found());
    ram.delete_policy("mq-access", true).await.unwrap();
    let gone = cloud.failure(
        "GetPolicy",
        ram.get_policy(PolicyType::Custom, "mq-access").await,
    );
    assert_eq!(gone.code(), Some("EntityNotExist.Policy"));
    assert_eq!(gone.kind(), ErrorKind::NotFound);
}

// ---------------------------------------------------------------------------------------------
// RAM: users, attachments, login profiles, access keys, password policy
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ram_users_login_profiles_access_keys_and_password_policy() {
    let cloud = Cloud::start().await;
    let root_b = cloud.root(B);
    let ram = cloud.client.ram(&root_b);

    let user = ram
        .create_user(&CreateUserRequest {
            user_name: "app-user".to_string(),
            display_name: Some("App".to_string()),
            email: Some("app@example.com".to_string()),
            mobile_phone: Some("86-18600000000".to_string()),
            comments: Some("for the app".to_string()),
        })
        .await
        .unwrap();
    assert!(!user.user_id.is_empty());
    assert_eq!(user.user_name, "app-user");
    assert_eq!(user.display_name, "App");
    let fetched = ram.get_user("app-user").await.unwrap();
    assert_eq!(fetched.user_id, user.user_id);
    assert_eq!(fetched.email, "app@example.com");
    assert_eq!(fetched.mobile_phone, "86-18600000000");
    assert_eq!(fetched.comments, "for the app");

    let renamed = ram
        .update_user(&UpdateUserRequest {
            user_name: "app-user".to_string(),
            new_user_name: Some("app-user-2".to_string()),
            new_display_name: Some("App 2".to_string()),
            new_comments: Some("renamed".to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(renamed.user_id, user.user_id, "a rename keeps the id");
    assert_eq!(renamed.user_name, "app-user-2");
    assert_eq!(renamed.display_name, "App 2");
    assert_eq!(renamed.comments, "renamed");
    assert_eq!(renamed.email, "app@example.com", "unset fields are kept");
    let old = cloud.failure("GetUser", ram.get_user("app-user").await);
    assert_eq!(old.code(), Some("EntityNotExist.User"));
    let name = "app-user-2";

    // Attachments to a user.
    ram.attach_policy_to_user(PolicyType::System, "AliyunRAMReadOnlyAccess", name)
        .await
        .unwrap();
    let attached = ram.list_policies_for_user(name).await.unwrap();
    assert_eq!(attached.len(), 1);
    assert_eq!(attached[0].policy_name, "AliyunRAMReadOnlyAccess");
    assert_eq!(attached[0].policy_type, "System");
    assert!(!attached[0].attach_date.is_empty());

    // Password policy (set through the generic call; the client only reads it).
    cloud
        .set_password_policy(
            B,
            Service::Ram,
            &[
                ("MinimumPasswordLength", "12"),
                ("RequireNumbers", "true"),
                ("RequireSymbols", "true"),
                ("MaxLoginAttemps", "5"),
                ("HardExpiry", "true"),
            ],
        )
        .await;
    let password_policy = ram.get_password_policy().await.unwrap();
    assert_eq!(password_policy.minimum_password_length, 12);
    assert!(password_policy.require_numbers);
    assert!(password_policy.require_symbols);
    assert!(!password_policy.require_uppercase_characters);
    assert!(password_policy.hard_expiry);
    assert_eq!(password_policy.max_login_attempts, 5);

    // Login profile.
    let password = "Str0ng!Passw0rd";
    cloud.remember(password);
    let profile = ram
        .create_login_profile(&LoginProfileRequest {
            user_name: name.to_string(),
            password: Some(Sensitive::new(password)),
            password_reset_required: Some(true),
            mfa_bind_required: Some(false),
        })
        .await
        .unwrap();
    assert_eq!(profile.user_name, name);
    assert!(profile.password_reset_required);
    assert!(!profile.mfa_bind_required);
    assert!(!profile.create_date.is_empty());
    ram.update_login_profile(&LoginProfileRequest {
        user_name: name.to_string(),
        password: None,
        password_reset_required: Some(false),
        mfa_bind_required: Some(true),
    })
    .await
    .unwrap();
    let profile = ram.get_login_profile(name).await.unwrap();
    assert!(!profile.password_reset_required);
    assert!(profile.mfa_bind_required);
    ram.delete_login_profile(name).await.unwrap();
    let gone = cloud.failure("GetLoginProfile", ram.get_login_profile(name).await);
    assert_eq!(gone.code(), Some("EntityNotExist.User.LoginProfile"));

    // Access keys: created by root for the user, listed by the user itself (no UserName).
    let first = ram.create_access_key(Some(name)).await.unwrap();
    let second = ram.create_access_key(Some(name)).await.unwrap();
    for key in [&first, &second] {
        cloud.remember(key.access_key_secret.expose());
        assert!(
            key.access_key_id.starts_with("LTAI"),
            "{}",
            key.access_key_id
        );
        assert_eq!(key.status, "Active");
        assert!(!key.access_key_secret.is_empty());
        assert!(
            !format!("{key:?}").contains(key.access_key_secret.expose()),
            "Debug of an AccessKey hides its secret"
        );
    }
    assert_ne!(first.access_key_id, second.access_key_id);
    let own =
        StaticProvider::access_key(first.access_key_id.clone(), first.access_key_secret.clone());
    let listed = cloud.client.ram(&own).list_access_keys(None).await.unwrap();
    let mut ids: Vec<&str> = listed.iter().map(|k| k.access_key_id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![first.access_key_id.as_str(), second.access_key_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert!(listed.iter().all(|k| k.status == "Active"));

    ram.update_access_key(Some(name), &second.access_key_id, AccessKeyStatus::Inactive)
        .await
        .unwrap();
    let listed = ram.list_access_keys(Some(name)).await.unwrap();
    let status = |id: &str| {
        listed
            .iter()
            .find(|k| k.access_key_id == id)
            .map(|k| k.status.clone())
    };
    assert_eq!(status(&second.access_key_id).as_deref(), Some("Inactive"));
    assert_eq!(status(&first.access_key_id).as_deref(), Some("Active"));
    ram.update_access_key(Some(name), &second.access_key_id, AccessKeyStatus::Active)
        .await
        .unwrap();
    ram.delete_access_key(Some(name), &second.access_key_id)
        .await
        .unwrap();
    let listed = ram.list_access_keys(Some(name)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].access_key_id, first.access_key_id);

    // Clean up in dependency order, then the user is gone.
    ram.delete_access_key(Some(name), &first.access_key_id)
        .await
        .unwrap();
    ram.detach_policy_from_user(PolicyType::System, "AliyunRAMReadOnlyAccess", name)
        .await
        .unwrap();
    assert!(ram.list_policies_for_user(name).await.unwrap().is_empty());
    ram.delete_user(name).await.unwrap();
    let gone = cloud.failure("GetUser", ram.get_user(name).await);
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    assert_eq!(gone.http_status(), Some(404));
}

// ---------------------------------------------------------------------------------------------
// IMS: default domain, users by principal name, login profile, keys, password policy, tags
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ims_users_login_profiles_access_keys_password_policy_and_tags() {
    let cloud = Cloud::start().await;
    let root_b = cloud.root(B);
    let ims = cloud.client.ims(&root_b);

    let domain = ims.get_default_domain().await.unwrap();
    assert_eq!(domain, "account-b.onaliyun.com");
    let upn = format!("ims-user@{domain}");
    let owner = Tag::new("ram.alicloud.dev/owner", "c/ns/RamUser/a");
    let user = ims
        .create_user(&ims::CreateUserRequest {
            user_principal_name: upn.clone(),
            display_name: "IMS User".to_string(),
            comments: Some("made through IMS".to_string()),
            email: Some("ims@example.com".to_string()),
            mobile_phone: None,
            tags: vec![owner.clone()],
        })
        .await
        .unwrap();
    assert!(!user.user_id.is_empty());
    assert_eq!(user.user_principal_name, upn);
    assert_eq!(user.user_name, "ims-user");
    assert_eq!(user.display_name, "IMS User");
    assert_eq!(user.provision_type, "Manual");
    assert_eq!(user.tags.len(), 1);
    assert_eq!(
        (user.tags[0].key.as_str(), user.tags[0].value.as_str()),
        (owner.key.as_str(), owner.value.as_str())
    );
    let by_name = ims
        .get_user(&UserLookup::PrincipalName(upn.clone()))
        .await
        .unwrap();
    assert_eq!(by_name.user_id, user.user_id);
    assert_eq!(by_name.comments, "made through IMS");
    let by_id = ims
        .get_user(&UserLookup::UserId(user.user_id.clone()))
        .await
        .unwrap();
    assert_eq!(by_id.user_principal_name, upn);
    let through_ram = cloud
        .client
        .ram(&root_b)
        .get_user("ims-user")
        .await
        .unwrap();
    assert_eq!(
        through_ram.user_id, user.user_id,
        "RAM and IMS share one user store"
    );

    // Password policy with the IMS-only fields.
    cloud
        .set_password_policy(
            B,
            Service::Ims,
            &[
                ("MinimumPasswordLength", "10"),
                ("RequireUppercaseCharacters", "true"),
                ("PasswordNotContainUserName", "true"),
                ("MinimumPasswordDifferentCharacter", "3"),
            ],
        )
        .await;
    let password_policy = ims.get_password_policy().await.unwrap();
    assert_eq!(password_policy.minimum_password_length, 10);
    assert!(password_policy.require_uppercase_characters);
    assert!(password_policy.password_not_contain_user_name);
    assert_eq!(password_policy.minimum_password_different_character, 3);

    // Login profile.
    let password = "Another-Str0ng-One";
    cloud.remember(password);
    let profile = ims
        .create_login_profile(&CreateLoginProfileRequest {
            user_principal_name: upn.clone(),
            password: Some(Sensitive::new(password)),
            password_reset_required: Some(true),
            mfa_bind_required: Some(false),
            status: Some("Active".to_string()),
        })
        .await
        .unwrap();
    assert_eq!(profile.user_principal_name, upn);
    assert_eq!(profile.status, "Active");
    assert!(profile.password_reset_required);
    assert!(!profile.mfa_bind_required);
    assert_eq!(profile.password_status, "InitialValid");
    let through_ram = cloud
        .client
        .ram(&root_b)
        .get_login_profile("ims-user")
        .await
        .unwrap();
    assert!(through_ram.password_reset_required);

    // Access keys.
    let key = ims.create_access_key(Some(&upn)).await.unwrap();
    cloud.remember(key.access_key_secret.expose());
    assert_eq!(key.status, "Active");
    let by_key = ims
        .get_user(&UserLookup::AccessKeyId(key.access_key_id.clone()))
        .await
        .unwrap();
    assert_eq!(by_key.user_id, user.user_id);
    let listed = ims.list_access_keys(Some(&upn)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].access_key_id, key.access_key_id);
    assert_eq!(listed[0].status, "Active");
    ims.delete_access_key(Some(&upn), &key.access_key_id)
        .await
        .unwrap();
    assert!(ims.list_access_keys(Some(&upn)).await.unwrap().is_empty());

    // Tags of users.
    ims.create_user(&ims::CreateUserRequest {
        user_principal_name: format!("other@{domain}"),
        display_name: "Other".to_string(),
        tags: vec![Tag::new("env", "prod")],
        ..Default::default()
    })
    .await
    .unwrap();
    ims.tag_users(std::slice::from_ref(&upn), &[Tag::new("env", "test")])
        .await
        .unwrap();
    let mut pairs: Vec<(String, String, String)> = ims
        .list_user_tags(std::slice::from_ref(&upn), &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            assert_eq!(r.resource_type, "user");
            (r.resource_id, r.tag_key, r.tag_value)
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            (user.user_id.clone(), "env".to_string(), "test".to_string()),
            (user.user_id.clone(), owner.key.clone(), owner.value.clone()),
        ]
    );
    let filtered = ims
        .list_user_tags(&[], &[Tag::new("env", "prod")])
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert_ne!(filtered[0].resource_id, user.user_id);
    assert_eq!(filtered[0].tag_value, "prod");
    let all = ims.list_user_tags(&[], &[]).await.unwrap();
    assert_eq!(all.len(), 3, "every pair of every user");
}

// ---------------------------------------------------------------------------------------------
// STS: AssumeRole and the caller identities of root, RAM user and role session
// ---------------------------------------------------------------------------------------------

/// Account A's role `name` trusting `trust`, with `policies` (system) attached.
async fn role_in_a(cloud: &Cloud, name: &str, trust: &TrustPolicy, policies: &[&str]) -> String {
    let root_a = cloud.root(A);
    let ram = cloud.client.ram(&root_a);
    let role = ram
        .create_role(&CreateRoleRequest {
            role_name: name.to_string(),
            assume_role_policy_document: trust.to_json(),
            max_session_duration: Some(7200),
            ..Default::default()
        })
        .await
        .expect("CreateRole");
    for policy in policies {
        ram.attach_policy_to_role(PolicyType::System, policy, name)
            .await
            .expect("AttachPolicyToRole");
    }
    role.role_id
}

/// `AssumeRole` with defaults for the optional fields.
fn assume(role: &str, session: &str) -> AssumeRoleRequest {
    AssumeRoleRequest {
        role_arn: role_arn(A, role),
        role_session_name: session.to_string(),
        ..Default::default()
    }
}

#[tokio::test]
async fn sts_assume_role_and_caller_identities() {
    let cloud = Cloud::start().await;
    let role_id = role_in_a(
        &cloud,
        "mq-role",
        &TrustPolicy::for_accounts(&[B]),
        &["AliyunRAMReadOnlyAccess"],
    )
    .await;
    let assumer = cloud
        .user_with_key(B, "assumer", &["AliyunSTSAssumeRoleAccess"])
        .await;
    let assumer_id = cloud
        .client
        .ram(&cloud.root(B))
        .get_user("assumer")
        .await
        .unwrap()
        .user_id;

    let root_identity = cloud
        .client
        .sts(&cloud.root(B))
        .get_caller_identity()
        .await
        .unwrap();
    assert_eq!(root_identity.account_id, B);
    assert_eq!(root_identity.arn, format!("acs:ram::{B}:root"));
    assert_eq!(root_identity.identity_type, "Account");

    let user_identity = cloud
        .client
        .sts(&assumer)
        .get_caller_identity()
        .await
        .unwrap();
    assert_eq!(user_identity.account_id, B);
    assert_eq!(user_identity.arn, format!("acs:ram::{B}:user/assumer"));
    assert_eq!(user_identity.identity_type, "RAMUser");
    assert_eq!(user_identity.user_id, assumer_id);
    assert_eq!(user_identity.principal_id, assumer_id);

    let before = jiff::Timestamp::now();
    let granted = cloud
        .client
        .sts(&assumer)
        .assume_role(&AssumeRoleRequest {
            duration_seconds: Some(1800),
            source_identity: Some("alice".to_string()),
            ..assume("mq-role", "sess-1")
        })
        .await
        .unwrap();
    assert_eq!(
        granted.assumed_role_user.arn,
        format!("acs:ram::{A}:role/mq-role/sess-1")
    );
    assert_eq!(
        granted.assumed_role_user.assumed_role_id,
        format!("{role_id}:sess-1")
    );
    assert_eq!(granted.source_identity, "alice");
    assert!(!granted.request_id.is_empty());
    let credentials = granted.credentials;
    assert!(credentials.access_key_id.starts_with("STS."));
    assert!(!credentials.access_key_secret.is_empty());
    assert!(!credentials.security_token.is_empty());
    cloud.remember(credentials.access_key_secret.expose());
    cloud.remember(credentials.security_token.expose());
    let debug = format!("{credentials:?}");
    assert!(!debug.contains(credentials.security_token.expose()));
    assert!(!debug.contains(credentials.access_key_secret.expose()));
    // 1800 s from the call, rounded up to the second (loose bounds for a slow machine).
    let expires = credentials.expires_at().expect("Expiration parses");
    let lifetime = expires.duration_since(before).as_secs();
    assert!((1790..=1860).contains(&lifetime), "lifetime {lifetime} s");

    let session = StaticProvider::new(credentials.into_credentials()).with_account_id(A);
    let session_identity = cloud
        .client
        .sts(&session)
        .get_caller_identity()
        .await
        .unwrap();
    assert_eq!(session_identity.account_id, A);
    assert_eq!(
        session_identity.arn,
        format!("acs:ram::{A}:assumed-role/mq-role/sess-1")
    );
    assert_eq!(session_identity.identity_type, "AssumedRoleUser");
    assert_eq!(session_identity.role_id, role_id);
    assert_eq!(session_identity.principal_id, format!("{role_id}:sess-1"));
    // The session acts with the role's permissions in account A.
    let seen = cloud
        .client
        .ram(&session)
        .get_role("mq-role")
        .await
        .unwrap();
    assert_eq!(seen.role_id, role_id);

    // A session policy narrows the role: GetRole only.
    let narrowed = cloud
        .client
        .sts(&assumer)
        .assume_role(&AssumeRoleRequest {
            policy: Some(allow(&["ram:GetRole"])),
            ..assume("mq-role", "narrow")
        })
        .await
        .unwrap();
    cloud.remember(narrowed.credentials.access_key_secret.expose());
    cloud.remember(narrowed.credentials.security_token.expose());
    let narrow = StaticProvider::new(narrowed.credentials.into_credentials());
    assert!(cloud.client.ram(&narrow).get_role("mq-role").await.is_ok());
    let denied = cloud.failure(
        "ListRoles by a narrowed session",
        cloud.client.ram(&narrow).list_roles().await,
    );
    assert_eq!(denied.code(), Some("NoPermission"));
    assert_eq!(denied.kind(), ErrorKind::AccessDenied);

    // ExternalId condition in the trust policy.
    role_in_a(
        &cloud,
        "guarded",
        &TrustPolicy::for_accounts(&[B]).external_id("ext-123"),
        &[],
    )
    .await;
    let guarded = cloud
        .client
        .sts(&assumer)
        .assume_role(&AssumeRoleRequest {
            external_id: Some("ext-123".to_string()),
            ..assume("guarded", "with-id")
        })
        .await
        .unwrap();
    assert_eq!(
        guarded.assumed_role_user.arn,
        format!("acs:ram::{A}:role/guarded/with-id")
    );
    assert!(guarded.oidc_token_info.is_none());
    let refused = cloud.failure(
        "AssumeRole without the ExternalId",
        cloud
            .client
            .sts(&assumer)
            .assume_role(&assume("guarded", "without-id"))
            .await,
    );
    assert_eq!(refused.code(), Some("NoPermission"));
    assert_eq!(refused.http_status(), Some(403));
}

// ---------------------------------------------------------------------------------------------
// STS: AssumeRoleWithOIDC (RRSA), anonymous
// ---------------------------------------------------------------------------------------------

/// A 2048-bit RSA key (PKCS#1 DER, base64) made for this test only; it signs the test's OIDC
/// tokens and grants nothing anywhere. `ring` verifies and signs RSA but cannot generate RSA
/// keys, and the emulator accepts RS256 only, so the key is fixed here.
const OIDC_TEST_KEY: &[&str] = &[
    "MIIEowIBAAKCAQEA4d1XhiAuU7tQgr7PIf23k2RXh+1Ja+7fbYIFMvIytXH82QtBf8ssB7U2bM3I",
    "oR2dlpKI3wvPoq6SbnRMLUXGVEQ/zyLhqGXwJGNAn6OV9LjRPoS2cO9RySaULLeiKP+6yeKVvGRz",
    "qvniwrzNqT7SIm1dHQ5MZNlOz9XyG4vcXp5Ffx/Wt9uw2UAtvkYOBoy19FgefiytYD4m/PEeSoQm",
    "zqjRY3gDrPT5e9sEgDh0qmJlLsUiAf/BGne6uE1c8S91VVscG/EXNBVeF+W+CIW/pbJPjN09Qxot",
    "YRY4Zb+C7hWqOb+C4c6tNfoIQoyW0oLV1P3vtblPYz5oqdXuEnUH+wIDAQABAoIBABAENCVXZDGd",
    "LNO4rX40PFpVWTz9qfaKFTScwxBJIH4Wu961mkrHoN2tuf2eh3BKu1a8GWdHsnekzXl2VxiMGXOh",
    "oKy9mnw946OQ7jo5IsnHI/9nmyWzCCetdqsdHStZxxMd4Dm1yIYCplPiM5X21cvfLs/VUxGBCheu",
    "4jZAhWX9d7/drk1tIhzwUKSXkFnrMByAIyhbb2uAKv10xlnpPPGfQXPvjt0iyZ1FbyYEeS8EQZ0i",
    "7oyqKUUKdI4XFppY9sOnD1ljB3IM8sjs8NcinrSUj+M3A3pTLmHrJSyHEwP60bOAX6SyN41/DDvO",
    "V4d2rrHWOvW+QcYr5DO1Vx3Z1lECgYEA+mJRXUwZbGmODnEja1Ik8kjUndczqmCPIFCQyZIP2/jW",
    "9XHGBIiMt943w78IKmiXza6MWaa7zEJR8TypECPu+Kjz8tAcF3xsj3cfWgLQW2HyORx5QGoOypY+",
    "eXg1PstOiAHJ7Kn8OUThAagyz43aveUOC12bbfzrukFAqRs6GR0CgYEA5u48V4mcBtjP0WW6i7Ug",
    "4t2N4J7S+nbNCfZjIe5G5EFyD8TWPEkTmpf/erwRcxXBAkor340iNgkwT+9Eac7IC8BRG9SuEBLJ",
    "HVVlht5oR+vf3U83Xfs8CtouuHIinuUqMdhdHvRU9GqoCtDafpD0369Teqe9ZcO6vD0XQxnFcfcC",
    "gYEAh8XcvSzQ9Hrgr3AmdsHaiw93TAgwWgl2U12cxdFQjEYJuprxd+/b7rCvqJPkh6qj9sLaFJtX",
    "ZtHnwVrVio0RvwFPF7JGKW4tKDa+Z37zITqhsNqB3a4lSzHhuti2dtCkSxg9OPqMbTmukcl1lBsm",
    "LKcS0JL3/9KQuTU9LPY4sPkCgYAqPeHj0VQtHHPHReh9rcA6P3S4ZdUJ47lV3S/9AO0Oy7nlkIfv",
    "tx5S5QLinIxElPIdTRwBZHuhjsS7mnTVNfH51FAB20GLxyPqrbhIl15T6Z2lidwC4PX2tjpdmuMi",
    "VaEGRSGji+YOX4QlllahWDqywAtxIEXQ26DI1hPvPkOTuQKBgEfzJLgA+iRWkdsQ2kZ1WFRVipeJ",
    "eC6vS2FoEPewAwueVx/rc3dT2/nHZlpNPrfC98VFL9SQa9ehuXO7lEWWG0Dgtd4MtmZAcsvmOYG8",
    "5331AgwnGA1uWKQ+caJvFfjL9G89mMxCnJDg3pHwkdUCzDBjjrAxPofoVPz2ZfSCZZk9",
];

const OIDC_ISSUER: &str = "https://oidc.test/cluster";
const OIDC_AUDIENCE: &str = "sts.aliyuncs.com";

fn oidc_provider_arn() -> String {
    format!("acs:ram::{A}:oidc-provider/test-cluster")
}

/// Signs RS256 JWTs and describes its key as a JWKS.
struct OidcIssuer {
    key: ring::rsa::KeyPair,
}

impl OidcIssuer {
    fn new() -> Self {
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(OIDC_TEST_KEY.concat())
            .expect("test key is base64");
        Self {
            key: ring::rsa::KeyPair::from_der(&der).expect("test key is an RSA key"),
        }
    }

    fn jwks(&self) -> String {
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(self.key.public());
        json!({"keys": [{
            "kty": "RSA", "kid": "test-key", "alg": "RS256", "use": "sig",
            "n": b64url(&public.n), "e": b64url(&public.e),
        }]})
        .to_string()
    }

    /// A token for `subject` valid from now for `lifetime` seconds (negative: expired).
    fn token(&self, subject: &str, lifetime: i64) -> String {
        let now = jiff::Timestamp::now().as_second();
        let header = b64url(br#"{"alg":"RS256","kid":"test-key","typ":"JWT"}"#);
        let claims = json!({
            "iss": OIDC_ISSUER, "sub": subject, "aud": OIDC_AUDIENCE,
            "iat": now - 60, "exp": now + lifetime,
        });
        let payload = b64url(claims.to_string().as_bytes());
        let signed = format!("{header}.{payload}");
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .expect("RS256 signing");
        format!("{signed}.{}", b64url(&signature))
    }
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn sts_assume_role_with_oidc() {
    let issuer = OidcIssuer::new();
    let spec = OidcProviderSpec {
        arn: oidc_provider_arn(),
        issuer: OIDC_ISSUER.to_string(),
        jwks_file: String::new(),
        client_ids: vec![OIDC_AUDIENCE.to_string()],
    };
    let provider = EmulatorOidcProvider::from_jwks(&spec, &issuer.jwks()).expect("JWKS loads");
    let cloud = Cloud::start_with(1.0, vec![provider]).await;
    let subject = "system:serviceaccount:apps:worker";
    let trust = TrustPolicy::new()
        .principal("Federated", &oidc_provider_arn())
        .condition("StringEquals", "oidc:aud", &[OIDC_AUDIENCE])
        .condition("StringEquals", "oidc:sub", &[subject]);
    let role_id = role_in_a(&cloud, "rrsa-role", &trust, &["AliyunRAMReadOnlyAccess"]).await;

    let token = issuer.token(subject, 3600);
    cloud.remember(&token);
    let request = AssumeRoleWithOidcRequest {
        role_arn: role_arn(A, "rrsa-role"),
        oidc_provider_arn: oidc_provider_arn(),
        oidc_token: Sensitive::new(token.clone()),
        role_session_name: Some("worker".to_string()),
        duration_seconds: Some(900),
        policy: None,
    };
    assert!(
        !format!("{request:?}").contains(&token),
        "Debug hides the token"
    );
    let granted = cloud
        .client
        .sts_anonymous()
        .assume_role_with_oidc(&request)
        .await
        .unwrap();
    assert_eq!(
        granted.assumed_role_user.arn,
        format!("acs:ram::{A}:role/rrsa-role/worker")
    );
    assert_eq!(
        granted.assumed_role_user.assumed_role_id,
        format!("{role_id}:worker")
    );
    let info = granted.oidc_token_info.clone().expect("OIDCTokenInfo");
    assert_eq!(info.subject, subject);
    assert_eq!(info.issuer, OIDC_ISSUER);
    assert_eq!(info.client_ids, OIDC_AUDIENCE);
    assert!(!info.expiration_time.is_empty());
    cloud.remember(granted.credentials.access_key_secret.expose());
    cloud.remember(granted.credentials.security_token.expose());
    let session = StaticProvider::new(granted.credentials.into_credentials());
    let identity = cloud
        .client
        .sts(&session)
        .get_caller_identity()
        .await
        .unwrap();
    assert_eq!(identity.identity_type, "AssumedRoleUser");
    assert_eq!(
        identity.arn,
        format!("acs:ram::{A}:assumed-role/rrsa-role/worker")
    );
    assert_eq!(cloud.count("AssumeRoleWithOIDC", "Success").await, 1);

    // Refusals, as the client classifies them.
    let tampered = {
        let mut token = issuer.token(subject, 3600);
        let last = token
            .pop()
            .map_or('A', |c| if c == 'A' { 'B' } else { 'A' });
        token.push(last);
        token
    };
    let other_subject = issuer.token("system:serviceaccount:apps:intruder", 3600);
    let expired = issuer.token(subject, -120);
    for token in [&tampered, &other_subject, &expired] {
        cloud.remember(token);
    }
    let with = |token: &str, provider: String| AssumeRoleWithOidcRequest {
        oidc_token: Sensitive::new(token),
        oidc_provider_arn: provider,
        ..request.clone()
    };
    let cases = [
        (
            "unknown provider",
            with(&token, format!("acs:ram::{A}:oidc-provider/nobody")),
            "EntityNotExist.OIDCProvider",
            ErrorKind::NotFound,
            404,
        ),
        (
            "bad signature",
            with(&tampered, oidc_provider_arn()),
            "AuthenticationFail.OIDCToken.Invalid",
            ErrorKind::CredentialsInvalid,
            401,
        ),
        (
            "expired token",
            with(&expired, oidc_provider_arn()),
            "AuthenticationFail.OIDCToken.Expired",
            ErrorKind::CredentialsInvalid,
            401,
        ),
        (
            "subject not trusted",
            with(&other_subject, oidc_provider_arn()),
            "NoPermission",
            ErrorKind::AccessDenied,
            403,
        ),
    ];
    for (what, request, code, kind, status) in cases {
        let error = cloud.failure(
            what,
            cloud
                .client
                .sts_anonymous()
                .assume_role_with_oidc(&request)
                .await,
        );
        assert_eq!(error.code(), Some(code), "{what}: {error}");
        assert_eq!(error.kind(), kind, "{what}: {error}");
        assert_eq!(error.http_status(), Some(status), "{what}: {error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Error codes of the operations, as the client classifies them
// ---------------------------------------------------------------------------------------------

/// Rows of expected errors; every mismatch is collected and reported at the end.
struct Table<'c> {
    cloud: &'c Cloud,
    rows: usize,
    failures: Vec<String>,
}

impl<'c> Table<'c> {
    fn new(cloud: &'c Cloud) -> Self {
        Self {
            cloud,
            rows: 0,
            failures: Vec::new(),
        }
    }

    fn row<T: std::fmt::Debug>(
        &mut self,
        what: &str,
        result: Result<T, Error>,
        code: &str,
        kind: ErrorKind,
        status: u16,
    ) {
        self.rows += 1;
        let error = match result {
            Ok(value) => {
                self.failures
                    .push(format!("{what}: expected {code}, succeeded: {value:?}"));
                return;
            }
            Err(error) => error,
        };
        self.cloud.assert_secret_free(&error);
        if error.code() != Some(code) || error.kind() != kind || error.http_status() != Some(status)
        {
            self.failures.push(format!(
                "{what}: expected {code} / {kind:?} / {status}, got {:?} / {:?} / {:?} ({error})",
                error.code(),
                error.kind(),
                error.http_status()
            ));
        }
        if error.request_id().is_none() || error.action().is_empty() {
            self.failures
                .push(format!("{what}: no RequestId or action in {error:?}"));
        }
        if error.is_retryable() {
            self.failures
                .push(format!("{what}: {code} must not be retryable"));
        }
    }

    fn finish(self, at_least: usize) {
        assert!(
            self.failures.is_empty(),
            "{} of {} rows failed:\n{}",
            self.failures.len(),
            self.rows,
            self.failures.join("\n")
        );
        assert!(self.rows >= at_least, "only {} rows ran", self.rows);
    }
}

fn tags(count: usize, prefix: &str) -> Vec<Tag> {
    (0..count)
        .map(|i| Tag::new(format!("{prefix}{i}"), "v"))
        .collect()
}

#[tokio::test]
async fn every_error_code_of_the_operations_through_the_client() {
    let cloud = Cloud::start().await;
    let mut t = Table::new(&cloud);
    let (root_a, root_b) = (cloud.root(A), cloud.root(B));
    let (ram_a, ram_b, ims_b) = (
        cloud.client.ram(&root_a),
        cloud.client.ram(&root_b),
        cloud.client.ims(&root_b),
    );
    let trust = TrustPolicy::for_accounts(&[B]).to_json();
    let role = |name: &str| CreateRoleRequest {
        role_name: name.to_string(),
        assume_role_policy_document: trust.clone(),
        ..Default::default()
    };
    let policy = |name: &str| CreatePolicyRequest {
        policy_name: name.to_string(),
        policy_document: allow(&["amqp:*"]),
        ..Default::default()
    };
    let version = |name: &str, document: String| CreatePolicyVersionRequest {
        policy_name: name.to_string(),
        policy_document: document,
        set_as_default: false,
        rotate_strategy: RotateStrategy::None,
    };
    let user = |name: &str| CreateUserRequest {
        user_name: name.to_string(),
        ..Default::default()
    };
    let profile = |name: &str, password: Option<&str>| LoginProfileRequest {
        user_name: name.to_string(),
        password: password.map(Sensitive::new),
        ..Default::default()
    };

    // Account A: role r1 with policy p1 attached and one tag; policy p5 with five versions.
    ram_a
        .create_role(&CreateRoleRequest {
            tags: vec![Tag::new("team", "mq")],
            ..role("r1")
        })
        .await
        .unwrap();
    ram_a.create_policy(&policy("p1")).await.unwrap();
    ram_a
        .attach_policy_to_role(PolicyType::Custom, "p1", "r1")
        .await
        .unwrap();
    ram_a.create_policy(&policy("p5")).await.unwrap();
    for _ in 2..=5 {
        ram_a
            .create_policy_version(&version("p5", allow(&["amqp:Get*"])))
            .await
            .unwrap();
    }

    // ---- roles ----
    t.row(
        "CreateRole twice",
        ram_a.create_role(&role("r1")).await,
        "EntityAlreadyExists.Role",
        AlreadyExists,
        409,
    );
    t.row(
        "GetRole missing",
        ram_a.get_role("nope").await,
        "EntityNotExist.Role",
        NotFound,
        404,
    );
    t.row(
        "UpdateRole missing",
        ram_a
            .update_role(&UpdateRoleRequest {
                role_name: "nope".to_string(),
                new_description: Some("x".to_string()),
                ..Default::default()
            })
            .await,
        "EntityNotExist.Role",
        NotFound,
        404,
    );
    t.row(
        "DeleteRole missing",
        ram_a.delete_role("nope").await,
        "EntityNotExist.Role",
        NotFound,
        404,
    );
    t.row(
        "DeleteRole with a policy attached",
        ram_a.delete_role("r1").await,
        "DeleteConflict.Role.Policy",
        Conflict,
        409,
    );
    t.row(
        "ListPoliciesForRole missing",
        ram_a.list_policies_for_role("nope").await,
        "EntityNotExist.Role",
        NotFound,
        404,
    );
    t.row(
        "AttachPolicyToRole twice",
        ram_a
            .attach_policy_to_role(PolicyType::Custom, "p1", "r1")
            .await,
        "EntityAlreadyExists.Role.Policy",
        AlreadyExists,
        409,
    );
    t.row(
        "AttachPolicyToRole missing policy",
        ram_a
            .attach_policy_to_role(PolicyType::Custom, "nope", "r1")
            .await,
        "EntityNotExist.Policy",
        NotFound,
        404,
    );
    t.row(
        "AttachPolicyToRole missing system policy",
        ram_a
            .attach_policy_to_role(PolicyType::System, "NoSuchAccess", "r1")
            .await,
        "EntityNotExist.Policy",
        NotFound,
        404,
    );
    t.row(
        "AttachPolicyToRole missing role",
        ram_a
            .attach_policy_to_role(PolicyType::Custom, "p1", "nope")
            .await,
        "EntityNotExist.Role",
        NotFound,
        404,
    );
    t.row(
        "DetachPolicyFromRole not attached",
        ram_a
            .detach_policy_from_role(PolicyType::System, "AliyunAMQPFullAccess", "r1")
            .await,
        "EntityNotExist.Role.Policy",
        NotFound,
        404,
    );
    t.row(
        "CreateRole invalid name",
        ram_a.create_role(&role("bad name!")).await,
        "InvalidParameter.RoleName.InvalidChars",
        InvalidParameter,
        400,
    );
    t.row(
        "CreateRole long name",
        ram_a.create_role(&role(&"r".repeat(65))).await,
        "InvalidParameter.RoleName.Length",
        InvalidParameter,
        400,
    );
    t.row(
        "CreateRole MaxSessionDuration 100",
        ram_a
            .create_role(&CreateRoleRequest {
                max_session_duration: Some(100),
                ..role("r2")
            })
            .await,
        "InvalidParameter.MaxSessionDuration",
        InvalidParameter,
        400,
    );
    t.row(
        "UpdateRole NewMaxSessionDuration 50000",
        ram_a
            .update_role(&UpdateRoleRequest {
                role_name: "r1".to_string(),
                new_max_session_duration: Some(50000),
                ..Default::default()
            })
            .await,
        "InvalidParameter.NewMaxSessionDuration",
        InvalidParameter,
        400,
    );
    t.row(
        "CreateRole trust policy not JSON",
        ram_a
            .create_role(&CreateRoleRequest {
                assume_role_policy_document: "{not json".to_string(),
                ..role("r2")
            })
            .await,
        "MalformedPolicyDocument",
        InvalidParameter,
        400,
    );
    t.row(
        "CreateRole trust policy without Principal",
        ram_a
            .create_role(&CreateRoleRequest {
                assume_role_policy_document: allow(&["sts:AssumeRole"]),
                ..role("r2")
            })
            .await,
        "MalformedPolicyDocument",
        InvalidParameter,
        400,
    );
    t.row(
        "UpdateRole malformed trust policy",
        ram_a
            .update_role(&UpdateRoleRequest {
                role_name: "r1".to_string(),
                new_assume_role_policy_document: Some("[]".to_string()),
                ..Default::default()
            })
            .await,
        "MalformedPolicyDocument",
        InvalidParameter,
        400,
    );
    t.row(
        "CreateRole 21 tags",
        ram_a
            .create_role(&CreateRoleRequest {
                tags: tags(21, "k"),
                ..role("r2")
            })
            .await,
        "InvalidParameter.Tag.Size",
        InvalidParameter,
        400,
    );
    t.row(
        "CreateRole reserved tag key",
        ram_a
            .create_role(&CreateRoleRequest {
                tags: vec![Tag::new("acs:owner", "x")],
                ..role("r2")
            })
            .await,
        "InvalidParameter.Tag.Key",
        InvalidParameter,
        400,
    );
    t.row(
        "TagResources past 20 tags",
        ram_a
            .tag_resources(
                TagResourceType::Role,
                &["r1".to_string()],
                &tags(20, "more"),
            )
            .await,
        "LimitExceeded.Tag",
        LimitExceeded,
        409,
    );
    t.row(
        "TagResources missing role",
        ram_a
            .tag_resources(TagResourceType::Role, &["nope".to_string()], &tags(1, "k"))
            .await,
        "EntityNotExist.Role",
        NotFound,
        404,
    );
    t.row(
        "UntagResources missing policy",
        ram_a
            .untag_resources(TagResourceType::Policy, &["nope".to_string()], &[])
            .await,
        "EntityNotExist.Policy",
        NotFound,
        404,
    );
    ram_a.create_role(&role("r-many")).await.unwrap();
    for index in 0..10 {
        let name = format!("many-{index}");
        ram_a.create_policy(&policy(&name)).await.unwrap();
        ram_a
            .attach_policy_to_role(PolicyType::Custom, &name, "r-many")
            .await
            .unwrap();
    }
    t.row(
        "AttachPolicyToRole an 11th custom policy",
        ram_a
            .attach_policy_to_role(PolicyType::Custom, "p1", "r-many")
            .await,
        "LimitExceeded.Role.Policy",
        LimitExceeded,
        409,
    );

    // ---- policies ----
    t.row(
        "CreatePolicy twice",
        ram_a.create_policy(&policy("p1")).await,
        "EntityAlreadyExists.Policy",
        AlreadyExists,
        409,
    );
    t.row(
        "CreatePolicy named like a system policy",
        ram_a.create_policy(&policy("AdministratorAccess")).await,
        "EntityAlreadyExists.Policy",
        AlreadyExists,
        409,
    );
    t.row(
        "CreatePolicy invalid name",
        ram_a.create_policy(&policy("bad_name")).await,
        "InvalidParameter.PolicyName.InvalidChars",
        InvalidParameter,
        400,
    );
    t.row("CreatePolicy malformed document", ram_a.create_policy(&CreatePolicyRequest {
            policy_document: r#"{"Version":"1","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#.to_string(),
            ..policy("p2") }).await,
        "MalformedPolicyDocument", InvalidParameter, 400);
    t.row(
        "CreatePolicy oversized document",
        ram_a
            .create_policy(&CreatePolicyRequest {
                policy_document: allow(&[&format!("amqp:{}", "x".repeat(6200))]),
                ..policy("p2")
            })
            .await,
        "InvalidParameter.PolicyDocument.Length",
        InvalidParameter,
        400,
    );
    t.row(
        "GetPolicy missing custom",
        ram_a.get_policy(PolicyType::Custom, "nope").await,
        "EntityNotExist.Policy",
        NotFound,
        404,
    );
    t.row(
        "GetPolicy missing system",
        ram_a.get_policy(PolicyType::System, "NoSuchAccess").await,
        "EntityNotExist.Policy",
        NotFound,
        404,
    );
    t.row(
        "ListPolicyVersions missing",
        ram_a.list_policy_versions(PolicyType::Custom, "nope").await,
        "EntityNotExist.Policy",
        NotFound,
        404,
    );
    t.row(
        "CreatePolicyVersion a sixth",
        ram_a
            .create_policy_version(&version("p5", allow(&["amqp:List*"])))
            .await,
        "LimitExceeded.Policy.Version",
        LimitExceeded,
        409,
    );
    t.row(
        "CreatePolicyVersion missing policy",
        ram_a
            .create_policy_version(&version("nope", allow(&["amqp:*"])))
            .await,
        "EntityNotExist.Policy",
        NotFound,
        404,
    );
    t.row(
        "CreatePolicyVersion malformed",
        ram_a
            .create_policy_version(&version("p1", "{}".to_string()))
            .await,
        "MalformedPolicyDocument",
        InvalidParameter,
        400,
    );
    t.row(
        "DeletePolicyVersion the default",
        ram_a.delete_policy_version("p5", "v1").await,
        "DeleteConflict.Policy.Version.Default",
        Conflict,
        409,
    );
    t.row(
        "DeletePolicyVersion missing",
        ram_a.delete_policy_version("p5", "v9").await,
        "EntityNotExist.Policy.Version",
        NotFound,
        404,
    );
    t.row(
        "DeletePolicy with versions, not cascading",
        ram_a.delete_policy("p5", false).await,
        "DeleteConflict.Policy.Version",
        Conflict,
        409,
    );
    t.row(
        "DeletePolicy attached to a role",
        ram_a.delete_policy("p1", true).await,
        "DeleteConflict.Policy.Role",
        Conflict,
        409,
    );
    t.row(
        "DeletePolicy missing",
        ram_a.delete_policy("nope", false).await,
        "EntityNotExist.Policy",
        NotFound,
        404,
    );

    // ---- users (account B) ----
    ram_b.create_user(&user("u1")).await.unwrap();
    ram_b.create_policy(&policy("pu")).await.unwrap();
    ram_b
        .attach_policy_to_user(PolicyType::Custom, "pu", "u1")
        .await
        .unwrap();
    ram_b.create_user(&user("u2")).await.unwrap();
    for _ in 0..2 {
        let key = ram_b.create_access_key(Some("u2")).await.unwrap();
        cloud.remember(key.access_key_secret.expose());
    }
    ram_b.create_user(&user("u3")).await.unwrap();
    cloud.remember("Good-Passw0rd!");
    ram_b
        .create_login_profile(&profile("u3", Some("Good-Passw0rd!")))
        .await
        .unwrap();
    cloud
        .set_password_policy(
            B,
            Service::Ram,
            &[("MinimumPasswordLength", "10"), ("RequireSymbols", "true")],
        )
        .await;
    for weak in ["short", "longbutnosymbols"] {
        cloud.remember(weak);
    }

    t.row(
        "CreateUser twice",
        ram_b.create_user(&user("u1")).await,
        "EntityAlreadyExists.User",
        AlreadyExists,
        409,
    );
    t.row(
        "CreateUser invalid name",
        ram_b.create_user(&user("bad name")).await,
        "InvalidParameter.UserName.InvalidChars",
        InvalidParameter,
        400,
    );
    t.row(
        "GetUser missing",
        ram_b.get_user("nope").await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "UpdateUser rename onto another user",
        ram_b
            .update_user(&UpdateUserRequest {
                user_name: "u1".to_string(),
                new_user_name: Some("u2".to_string()),
                ..Default::default()
            })
            .await,
        "EntityAlreadyExists.User",
        AlreadyExists,
        409,
    );
    t.row(
        "UpdateUser missing",
        ram_b
            .update_user(&UpdateUserRequest {
                user_name: "nope".to_string(),
                new_comments: Some("x".to_string()),
                ..Default::default()
            })
            .await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "DeleteUser with a policy",
        ram_b.delete_user("u1").await,
        "DeleteConflict.User.Policy",
        Conflict,
        409,
    );
    t.row(
        "DeleteUser with access keys",
        ram_b.delete_user("u2").await,
        "DeleteConflict.User.AccessKey",
        Conflict,
        409,
    );
    t.row(
        "DeleteUser with a login profile",
        ram_b.delete_user("u3").await,
        "DeleteConflict.User.LoginProfile",
        Conflict,
        409,
    );
    t.row(
        "DeleteUser missing",
        ram_b.delete_user("nope").await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "DeletePolicy attached to a user",
        ram_b.delete_policy("pu", true).await,
        "DeleteConflict.Policy.User",
        Conflict,
        409,
    );
    t.row(
        "AttachPolicyToUser twice",
        ram_b
            .attach_policy_to_user(PolicyType::Custom, "pu", "u1")
            .await,
        "EntityAlreadyExists.User.Policy",
        AlreadyExists,
        409,
    );
    t.row(
        "AttachPolicyToUser missing user",
        ram_b
            .attach_policy_to_user(PolicyType::Custom, "pu", "nope")
            .await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "DetachPolicyFromUser not attached",
        ram_b
            .detach_policy_from_user(PolicyType::System, "AliyunRAMFullAccess", "u1")
            .await,
        "EntityNotExist.User.Policy",
        NotFound,
        404,
    );
    t.row(
        "ListPoliciesForUser missing",
        ram_b.list_policies_for_user("nope").await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "CreateLoginProfile twice",
        ram_b
            .create_login_profile(&profile("u3", Some("Good-Passw0rd!")))
            .await,
        "EntityAlreadyExists.User.LoginProfile",
        AlreadyExists,
        409,
    );
    t.row(
        "CreateLoginProfile too short",
        ram_b
            .create_login_profile(&profile("u1", Some("short")))
            .await,
        "InvalidParameter.Password.TooWeak",
        InvalidParameter,
        400,
    );
    t.row(
        "CreateLoginProfile without a symbol",
        ram_b
            .create_login_profile(&profile("u1", Some("longbutnosymbols")))
            .await,
        "InvalidParameter.Password.TooWeak",
        InvalidParameter,
        400,
    );
    t.row(
        "UpdateLoginProfile weak password",
        ram_b
            .update_login_profile(&profile("u3", Some("short")))
            .await,
        "InvalidParameter.Password.TooWeak",
        InvalidParameter,
        400,
    );
    t.row(
        "CreateLoginProfile without a password",
        ram_b.create_login_profile(&profile("u1", None)).await,
        "MissingPassword",
        InvalidParameter,
        400,
    );
    t.row(
        "CreateLoginProfile missing user",
        ram_b
            .create_login_profile(&profile("nope", Some("Good-Passw0rd!")))
            .await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "GetLoginProfile none",
        ram_b.get_login_profile("u2").await,
        "EntityNotExist.User.LoginProfile",
        NotFound,
        404,
    );
    t.row(
        "UpdateLoginProfile none",
        ram_b
            .update_login_profile(&LoginProfileRequest {
                user_name: "u2".to_string(),
                mfa_bind_required: Some(true),
                ..Default::default()
            })
            .await,
        "EntityNotExist.User.LoginProfile",
        NotFound,
        404,
    );
    t.row(
        "DeleteLoginProfile none",
        ram_b.delete_login_profile("u2").await,
        "EntityNotExist.User.LoginProfile",
        NotFound,
        404,
    );
    t.row(
        "CreateAccessKey a third",
        ram_b.create_access_key(Some("u2")).await,
        "LimitExceeded.User.AccessKey",
        LimitExceeded,
        409,
    );
    t.row(
        "CreateAccessKey missing user",
        ram_b.create_access_key(Some("nope")).await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "CreateAccessKey by root without UserName",
        ram_b.create_access_key(None).await,
        "MissingUserName",
        InvalidParameter,
        400,
    );
    t.row(
        "UpdateAccessKey missing key",
        ram_b
            .update_access_key(
                Some("u2"),
                "LTAI5tNoSuchKey000000",
                AccessKeyStatus::Inactive,
            )
            .await,
        "EntityNotExist.User.AccessKey",
        NotFound,
        404,
    );
    t.row(
        "DeleteAccessKey missing key",
        ram_b
            .delete_access_key(Some("u2"), "LTAI5tNoSuchKey000000")
            .await,
        "EntityNotExist.User.AccessKey",
        NotFound,
        404,
    );
    t.row(
        "ListAccessKeys missing user",
        ram_b.list_access_keys(Some("nope")).await,
        "EntityNotExist.User",
        NotFound,
        404,
    );

    // ---- IMS ----
    let domain = ims_b.get_default_domain().await.unwrap();
    let ims_user = |upn: String| ims::CreateUserRequest {
        user_principal_name: upn,
        display_name: "IMS".to_string(),
        ..Default::default()
    };
    let ims_profile =
        |upn: String, password: &str, status: Option<&str>| CreateLoginProfileRequest {
            user_principal_name: upn,
            password: Some(Sensitive::new(password)),
            status: status.map(str::to_string),
            ..Default::default()
        };
    t.row(
        "IMS CreateUser in another domain",
        ims_b
            .create_user(&ims_user("x@account-a.onaliyun.com".to_string()))
            .await,
        "InvalidParameter.UserPrincipalName",
        InvalidParameter,
        400,
    );
    t.row(
        "IMS CreateUser twice",
        ims_b.create_user(&ims_user(format!("u1@{domain}"))).await,
        "EntityAlreadyExists.User",
        AlreadyExists,
        409,
    );
    t.row(
        "IMS CreateUser 21 tags",
        ims_b
            .create_user(&ims::CreateUserRequest {
                tags: tags(21, "k"),
                ..ims_user(format!("tagged@{domain}"))
            })
            .await,
        "InvalidParameter.Tag.Size",
        InvalidParameter,
        400,
    );
    t.row(
        "IMS GetUser missing",
        ims_b
            .get_user(&UserLookup::PrincipalName(format!("nope@{domain}")))
            .await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "IMS GetUser unknown id",
        ims_b.get_user(&UserLookup::UserId("1".to_string())).await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "IMS CreateLoginProfile weak password",
        ims_b
            .create_login_profile(&ims_profile(format!("u1@{domain}"), "short", None))
            .await,
        "InvalidParameter.Password.TooWeak",
        InvalidParameter,
        400,
    );
    t.row(
        "IMS CreateLoginProfile bad status",
        ims_b
            .create_login_profile(&ims_profile(
                format!("u1@{domain}"),
                "Good-Passw0rd!",
                Some("Bogus"),
            ))
            .await,
        "InvalidParameter.Status",
        InvalidParameter,
        400,
    );
    t.row(
        "IMS CreateLoginProfile twice",
        ims_b
            .create_login_profile(&ims_profile(format!("u3@{domain}"), "Good-Passw0rd!", None))
            .await,
        "EntityAlreadyExists.User.LoginProfile",
        AlreadyExists,
        409,
    );
    t.row(
        "IMS CreateAccessKey a third",
        ims_b.create_access_key(Some(&format!("u2@{domain}"))).await,
        "LimitExceeded.User.AccessKey",
        LimitExceeded,
        409,
    );
    t.row(
        "IMS ListAccessKeys missing user",
        ims_b
            .list_access_keys(Some(&format!("nope@{domain}")))
            .await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "IMS DeleteAccessKey missing key",
        ims_b
            .delete_access_key(Some(&format!("u2@{domain}")), "LTAI5tNoSuchKey000000")
            .await,
        "EntityNotExist.User.AccessKey",
        NotFound,
        404,
    );
    t.row(
        "IMS TagResources missing user",
        ims_b
            .tag_users(&[format!("nope@{domain}")], &tags(1, "k"))
            .await,
        "EntityNotExist.User",
        NotFound,
        404,
    );
    t.row(
        "IMS TagResources reserved key",
        ims_b
            .tag_users(&[format!("u1@{domain}")], &[Tag::new("aliyun-x", "v")])
            .await,
        "InvalidParameter.Tag.Key",
        InvalidParameter,
        400,
    );
    t.row(
        "IMS TagResources without tags",
        ims_b.tag_users(&[format!("u1@{domain}")], &[]).await,
        "MissingTag",
        InvalidParameter,
        400,
    );

    // ---- STS and permissions ----
    let assumer = cloud
        .user_with_key(B, "assumer", &["AliyunSTSAssumeRoleAccess"])
        .await;
    let bare = cloud.user_with_key(B, "bare", &[]).await;
    let stranger = cloud
        .user_with_key(C, "stranger", &["AliyunSTSAssumeRoleAccess"])
        .await;
    let sts = cloud.client.sts(&assumer);
    t.row(
        "AssumeRole DurationSeconds 100",
        sts.assume_role(&AssumeRoleRequest {
            duration_seconds: Some(100),
            ..assume("r1", "sess")
        })
        .await,
        "InvalidParameter.DurationSeconds",
        InvalidParameter,
        400,
    );
    t.row(
        "AssumeRole DurationSeconds above the role's maximum",
        sts.assume_role(&AssumeRoleRequest {
            duration_seconds: Some(7200),
            ..assume("r1", "sess")
        })
        .await,
        "InvalidParameter.DurationSeconds",
        InvalidParameter,
        400,
    );
    t.row(
        "AssumeRole one-letter session name",
        sts.assume_role(&assume("r1", "s")).await,
        "InvalidParameter.RoleSessionName",
        InvalidParameter,
        400,
    );
    t.row(
        "AssumeRole not an ARN",
        sts.assume_role(&AssumeRoleRequest {
            role_arn: "r1".to_string(),
            ..assume("r1", "sess")
        })
        .await,
        "InvalidParameter.RoleArn",
        InvalidParameter,
        400,
    );
    t.row(
        "AssumeRole malformed session policy",
        sts.assume_role(&AssumeRoleRequest {
            policy: Some("{".to_string()),
            ..assume("r1", "sess")
        })
        .await,
        "InvalidParameter.PolicyGrammar",
        InvalidParameter,
        400,
    );
    t.row(
        "AssumeRole invalid ExternalId",
        sts.assume_role(&AssumeRoleRequest {
            external_id: Some("x".to_string()),
            ..assume("r1", "sess")
        })
        .await,
        "InvalidParameter.ExternalId",
        InvalidParameter,
        400,
    );
    t.row(
        "AssumeRole with an empty RoleArn",
        sts.assume_role(&AssumeRoleRequest {
            role_arn: String::new(),
            ..assume("r1", "sess")
        })
        .await,
        "MissingRoleArn",
        InvalidParameter,
        400,
    );
    t.row(
        "an action the service does not have",
        cloud
            .client
            .call::<Value>(
                Service::Ram,
                "NoSuchAction",
                &Params::new(),
                Auth::Signed(&root_a),
            )
            .await,
        "InvalidAction.NotFound",
        NotFound,
        404,
    );
    t.row(
        "AssumeRole missing role",
        sts.assume_role(&assume("nope", "sess")).await,
        "EntityNotExist.Role",
        NotFound,
        404,
    );
    t.row(
        "AssumeRole by a root key",
        cloud
            .client
            .sts(&root_b)
            .assume_role(&assume("r1", "sess"))
            .await,
        "NoPermission",
        AccessDenied,
        403,
    );
    t.row(
        "AssumeRole by an untrusted account",
        cloud
            .client
            .sts(&stranger)
            .assume_role(&assume("r1", "sess"))
            .await,
        "NoPermission",
        AccessDenied,
        403,
    );
    t.row(
        "AssumeRole without sts:AssumeRole",
        cloud
            .client
            .sts(&bare)
            .assume_role(&assume("r1", "sess"))
            .await,
        "NoPermission",
        AccessDenied,
        403,
    );
    t.row(
        "RAM call without a RAM permission",
        cloud.client.ram(&bare).get_user("bare").await,
        "NoPermission",
        AccessDenied,
        403,
    );
    t.row(
        "IMS call without a RAM permission",
        cloud.client.ims(&bare).get_default_domain().await,
        "NoPermission",
        AccessDenied,
        403,
    );
    let granted = sts.assume_role(&assume("r1", "sess")).await.unwrap();
    cloud.remember(granted.credentials.access_key_secret.expose());
    cloud.remember(granted.credentials.security_token.expose());
    let session = StaticProvider::new(granted.credentials.into_credentials());
    t.row(
        "RAM call by a session of a role without permissions",
        cloud.client.ram(&session).list_roles().await,
        "NoPermission",
        AccessDenied,
        403,
    );

    t.finish(98);
}

// ---------------------------------------------------------------------------------------------
// Authentication: unknown, disabled and wrong keys; STS tokens; expiry and refresh
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn authentication_errors_through_the_client() {
    let cloud = Cloud::start().await;
    role_in_a(&cloud, "r1", &TrustPolicy::for_accounts(&[B]), &[]).await;
    let user = cloud
        .user_with_key(B, "keyed", &["AliyunSTSAssumeRoleAccess"])
        .await;
    let user_credentials = user.credentials().await.unwrap();
    let user_key = user_credentials.access_key_id.clone();
    let granted = cloud
        .client
        .sts(&user)
        .assume_role(&assume("r1", "sess"))
        .await
        .unwrap();
    let sts = granted.credentials;
    cloud.remember(sts.access_key_secret.expose());
    cloud.remember(sts.security_token.expose());
    let root_b = cloud.root(B);
    let root_key = root_b.credentials().await.unwrap().access_key_id;
    let wrong_secret = "definitely-not-the-secret-0123456789";
    let wrong_token = "CAIS-not-the-token-0123456789abcdef";
    cloud.remember(wrong_secret);
    cloud.remember(wrong_token);

    // A second key of the user, disabled.
    let ram_b = cloud.client.ram(&root_b);
    let disabled = ram_b.create_access_key(Some("keyed")).await.unwrap();
    cloud.remember(disabled.access_key_secret.expose());
    ram_b
        .update_access_key(
            Some("keyed"),
            &disabled.access_key_id,
            AccessKeyStatus::Inactive,
        )
        .await
        .unwrap();
    // A key that existed once: created for another user, then deleted.
    ram_b
        .create_user(&CreateUserRequest {
            user_name: "gone".to_string(),
            ..Default::default()
        })
        .await
        .unwrap();
    let deleted = ram_b.create_access_key(Some("gone")).await.unwrap();
    cloud.remember(deleted.access_key_secret.expose());
    ram_b
        .delete_access_key(Some("gone"), &deleted.access_key_id)
        .await
        .unwrap();

    let cases: Vec<(&str, Credentials, &str, ErrorKind, u16)> = vec![
        (
            "unknown key id",
            Credentials::access_key("LTAI5tNoSuchKey000000", wrong_secret),
            "InvalidAccessKeyId.NotFound",
            ErrorKind::CredentialsInvalid,
            404,
        ),
        (
            "deleted key",
            Credentials::access_key(
                deleted.access_key_id.clone(),
                deleted.access_key_secret.clone(),
            ),
            "InvalidAccessKeyId.NotFound",
            ErrorKind::CredentialsInvalid,
            404,
        ),
        (
            "disabled key",
            Credentials::access_key(
                disabled.access_key_id.clone(),
                disabled.access_key_secret.clone(),
            ),
            "InvalidAccessKeyId.Inactive",
            ErrorKind::CredentialsInvalid,
            400,
        ),
        (
            "root key, wrong secret",
            Credentials::access_key(root_key.clone(), wrong_secret),
            "SignatureDoesNotMatch",
            ErrorKind::SignatureMismatch,
            400,
        ),
        (
            "user key, wrong secret",
            Credentials::access_key(user_key.clone(), wrong_secret),
            "SignatureDoesNotMatch",
            ErrorKind::SignatureMismatch,
            400,
        ),
        (
            "STS key, wrong secret",
            Credentials::sts(
                sts.access_key_id.clone(),
                wrong_secret,
                sts.security_token.clone(),
                None,
            ),
            "SignatureDoesNotMatch",
            ErrorKind::SignatureMismatch,
            400,
        ),
        (
            "STS key, wrong token",
            Credentials::sts(
                sts.access_key_id.clone(),
                sts.access_key_secret.clone(),
                wrong_token,
                None,
            ),
            "InvalidSecurityToken.MismatchWithAccessKey",
            ErrorKind::CredentialsInvalid,
            400,
        ),
        (
            "STS key without its token",
            Credentials::access_key(sts.access_key_id.clone(), sts.access_key_secret.clone()),
            "MissingSecurityToken",
            ErrorKind::CredentialsInvalid,
            400,
        ),
        (
            "permanent key with a token",
            Credentials::sts(
                user_key.clone(),
                user_credentials.access_key_secret.clone(),
                sts.security_token.clone(),
                None,
            ),
            "InvalidSecurityToken.MismatchWithAccessKey",
            ErrorKind::CredentialsInvalid,
            400,
        ),
    ];
    let mut table = Table::new(&cloud);
    for (what, credentials, code, kind, status) in cases {
        let provider = StaticProvider::new(credentials);
        table.row(
            &format!("{what} (STS)"),
            cloud.client.sts(&provider).get_caller_identity().await,
            code,
            kind,
            status,
        );
        table.row(
            &format!("{what} (RAM)"),
            cloud.client.ram(&provider).get_role("r1").await,
            code,
            kind,
            status,
        );
        table.row(
            &format!("{what} (IMS)"),
            cloud.client.ims(&provider).get_default_domain().await,
            code,
            kind,
            status,
        );
        if code == "SignatureDoesNotMatch" {
            // The service echoes its string to sign (with the token); the client drops it.
            let error = cloud
                .client
                .sts(&provider)
                .get_caller_identity()
                .await
                .unwrap_err();
            assert!(
                error
                    .message()
                    .ends_with("server string to sign is:[REDACTED]"),
                "{what}: {}",
                error.message()
            );
        }
    }
    table.finish(27);
}

/// STS credentials that are fetched again with `AssumeRole` after the client invalidates
/// them, the way a refreshing provider behaves.
struct Refreshing<'c> {
    client: &'c Client,
    assumer: StaticProvider,
    current: Mutex<Option<Credentials>>,
    fetches: AtomicU32,
}

impl std::fmt::Debug for Refreshing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refreshing")
    }
}

impl CredentialsProvider for Refreshing<'_> {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(async move {
            if let Some(current) = self.current.lock().unwrap().clone() {
                return Ok(current);
            }
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let fresh = self
                .client
                .sts(&self.assumer)
                .assume_role(&AssumeRoleRequest {
                    duration_seconds: Some(3600),
                    ..assume("r1", "refreshed")
                })
                .await?
                .credentials
                .into_credentials();
            *self.current.lock().unwrap() = Some(fresh.clone());
            Ok(fresh)
        })
    }

    fn invalidate(&self) {
        *self.current.lock().unwrap() = None;
    }
}

#[tokio::test]
async fn expired_sts_token_is_reported_and_a_refreshing_provider_recovers() {
    // 900 s tokens live 1.8 s of wall time (rounded up to the second).
    let cloud = Cloud::start_with(0.002, Vec::new()).await;
    role_in_a(&cloud, "r1", &TrustPolicy::for_accounts(&[B]), &[]).await;
    let assumer = cloud
        .user_with_key(B, "assumer", &["AliyunSTSAssumeRoleAccess"])
        .await;
    let granted = cloud
        .client
        .sts(&assumer)
        .assume_role(&AssumeRoleRequest {
            duration_seconds: Some(900),
            ..assume("r1", "short")
        })
        .await
        .unwrap();
    cloud.remember(granted.credentials.access_key_secret.expose());
    cloud.remember(granted.credentials.security_token.expose());
    let expires = granted.credentials.expires_at().expect("Expiration");
    let expired = granted.credentials.into_credentials();
    let fixed = StaticProvider::new(expired.clone());
    assert!(
        cloud.client.sts(&fixed).get_caller_identity().await.is_ok(),
        "fresh credentials work"
    );

    // Wait for the expiry the answer announced (bounded generously), then a little more.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while jiff::Timestamp::now() <= expires {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock did not reach {expires}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cloud.reset_calls().await;
    let error = cloud.failure(
        "GetCallerIdentity with an expired token",
        cloud.client.sts(&fixed).get_caller_identity().await,
    );
    assert_eq!(error.code(), Some("InvalidSecurityToken.Expired"));
    assert_eq!(error.kind(), ErrorKind::CredentialsExpired);
    assert_eq!(error.http_status(), Some(400));
    // The client invalidates the provider and tries once more; a static provider cannot help.
    assert_eq!(
        cloud.attempts.codes("GetCallerIdentity"),
        vec!["InvalidSecurityToken.Expired"; 2]
    );
    assert_eq!(
        cloud
            .count("GetCallerIdentity", "InvalidSecurityToken.Expired")
            .await,
        2
    );

    // A provider that refreshes on invalidate turns the same situation into a success.
    let refreshing = Refreshing {
        client: &cloud.client,
        assumer,
        current: Mutex::new(Some(expired)),
        fetches: AtomicU32::new(0),
    };
    cloud.reset_calls().await;
    let identity = cloud
        .client
        .sts(&refreshing)
        .get_caller_identity()
        .await
        .unwrap();
    assert_eq!(
        identity.arn,
        format!("acs:ram::{A}:assumed-role/r1/refreshed")
    );
    assert_eq!(refreshing.fetches.load(Ordering::SeqCst), 1);
    assert_eq!(
        cloud.attempts.codes("GetCallerIdentity"),
        vec!["InvalidSecurityToken.Expired", "Success"]
    );
    if let Some(fresh) = refreshing.current.lock().unwrap().as_ref() {
        cloud.remember(fresh.access_key_secret.expose());
    }
}

// ---------------------------------------------------------------------------------------------
// Injected faults: throttling and unavailability, retried by the client
// ---------------------------------------------------------------------------------------------

/// Root credentials of an account that clear the emulator's faults just before attempt
/// `clear_before` of a call, so "fail, then succeed" needs no timing.
struct ClearFaultsBefore {
    inner: StaticProvider,
    admin: reqwest::Client,
    base: String,
    clear_before: u32,
    handed_out: AtomicU32,
}

impl std::fmt::Debug for ClearFaultsBefore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClearFaultsBefore")
    }
}

impl CredentialsProvider for ClearFaultsBefore {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(async move {
            let attempt = self.handed_out.fetch_add(1, Ordering::SeqCst) + 1;
            if attempt == self.clear_before {
                clear_faults(&self.admin, &self.base).await;
            }
            self.inner.credentials().await
        })
    }
}

impl Cloud {
    fn clearing_before(&self, account: &str, attempt: u32) -> ClearFaultsBefore {
        ClearFaultsBefore {
            inner: self.root(account),
            admin: self.admin.clone(),
            base: self.emulator.base_url(),
            clear_before: attempt,
            handed_out: AtomicU32::new(0),
        }
    }
}

#[tokio::test]
async fn injected_throttling_and_unavailability_are_retried() {
    let cloud = Cloud::start().await;
    role_in_a(&cloud, "r1", &TrustPolicy::for_accounts(&[B]), &[]).await;
    let root_a = cloud.root(A);

    // Throttled twice, then served: one call, three attempts, each signed afresh.
    cloud
        .set_faults(json!([{"action": "GetRole", "code": "Throttling.User"}]))
        .await;
    cloud.reset_calls().await;
    let provider = cloud.clearing_before(A, 3);
    let role = cloud.client.ram(&provider).get_role("r1").await.unwrap();
    assert_eq!(role.role_name, "r1");
    assert_eq!(cloud.count("GetRole", "Throttling.User").await, 2);
    assert_eq!(cloud.count("GetRole", "Success").await, 1);
    assert_eq!(
        cloud.attempts.codes("GetRole"),
        vec!["Throttling.User", "Throttling.User", "Success"]
    );

    // Throttling that does not stop: the client gives up after its attempts.
    cloud
        .set_faults(json!([{"action": "GetRole", "code": "Throttling.User"}]))
        .await;
    cloud.reset_calls().await;
    let error = cloud.failure(
        "GetRole, always throttled",
        cloud.client.ram(&root_a).get_role("r1").await,
    );
    assert_eq!(error.code(), Some("Throttling.User"));
    assert_eq!(error.kind(), ErrorKind::Throttled);
    assert_eq!(error.http_status(), Some(400));
    assert!(error.is_retryable());
    assert_eq!(
        cloud.count("GetRole", "Throttling.User").await,
        u64::from(MAX_ATTEMPTS)
    );

    // ServiceUnavailable, then served.
    cloud
        .set_faults(json!([{"action": "*", "code": "ServiceUnavailable"}]))
        .await;
    cloud.reset_calls().await;
    let provider = cloud.clearing_before(A, 2);
    assert!(cloud.client.ram(&provider).get_role("r1").await.is_ok());
    assert_eq!(
        cloud.attempts.codes("GetRole"),
        vec!["ServiceUnavailable", "Success"]
    );

    // ServiceUnavailable that does not stop.
    cloud
        .set_faults(json!([{"action": "*", "code": "ServiceUnavailable"}]))
        .await;
    cloud.reset_calls().await;
    let error = cloud.failure(
        "GetCallerIdentity, always unavailable",
        cloud.client.sts(&cloud.root(B)).get_caller_identity().await,
    );
    assert_eq!(error.code(), Some("ServiceUnavailable"));
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(error.http_status(), Some(503));
    assert_eq!(
        cloud.count("GetCallerIdentity", "ServiceUnavailable").await,
        u64::from(MAX_ATTEMPTS)
    );

    cloud.clear_faults().await;

    // CreateAccessKey is not repeated after a 5xx (it may have created a key) ...
    let root_b = cloud.root(B);
    cloud
        .client
        .ram(&root_b)
        .create_user(&CreateUserRequest {
            user_name: "keyed".to_string(),
            ..Default::default()
        })
        .await
        .unwrap();
    cloud
        .set_faults(json!([{"action": "CreateAccessKey", "code": "ServiceUnavailable"}]))
        .await;
    cloud.reset_calls().await;
    let error = cloud.failure(
        "CreateAccessKey, unavailable",
        cloud
            .client
            .ram(&root_b)
            .create_access_key(Some("keyed"))
            .await,
    );
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(
        cloud.count("CreateAccessKey", "ServiceUnavailable").await,
        1
    );

    // ... but is repeated after throttling (a throttled request was not executed).
    cloud
        .set_faults(json!([{"action": "CreateAccessKey", "code": "Throttling.User"}]))
        .await;
    cloud.reset_calls().await;
    let provider = cloud.clearing_before(B, 2);
    let key = cloud
        .client
        .ram(&provider)
        .create_access_key(Some("keyed"))
        .await
        .unwrap();
    cloud.remember(key.access_key_secret.expose());
    assert_eq!(
        cloud.attempts.codes("CreateAccessKey"),
        vec!["Throttling.User", "Success"]
    );
    let keys = cloud
        .client
        .ram(&root_b)
        .list_access_keys(Some("keyed"))
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "exactly one key was created");
    cloud.clear_faults().await;
}
