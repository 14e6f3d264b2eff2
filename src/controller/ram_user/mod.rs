//! Reconciles `RamUser` objects: a RAM user in Account B for an application (an AccessKey
//! published in a Secret, optionally rotated) or for a person (a console login profile).
//!
//! The reconcile is a short pipeline: validate the spec ([`validate`]), resolve the
//! credentials, observe the cloud user, then one step per concern, each comparing desired with
//! observed state through the pure functions of [`user`], [`keys`] and [`console`] and changing
//! only the difference; status is written only when it changed. Cloud calls: users are created
//! and tagged through IMS (it sets the `UserPrincipalName` and takes tags on create, so a user
//! never exists without its ownership tag); fields, policies, keys and login profiles go
//! through RAM. Nothing here signs requests or renders a secret into a log line.

pub mod console;
pub mod keys;
mod secret_owner;
pub mod user;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Patch, PatchParams};
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::{Api, Resource, ResourceExt};
use tracing::Instrument;

use self::keys::{KeyAction, KeyState, ListedKey};
use self::secret_owner::SecretOwner;
use self::user::Ownership;
use self::validate::Desired;
use super::context::apply_status;
use super::error::{Error, Retry};
use super::latest::latest;
use super::secrets::{self, AccessKeySecretInput};
use super::{Context, FIELD_MANAGER, MIN_REQUEUE, Scope, identity};
use crate::alicloud::ims::{CreateUserRequest, ImsUser, UserLookup};
use crate::alicloud::ram::{LoginProfileRequest, PolicyType as CloudPolicyType};
use crate::alicloud::{self, ErrorKind, Sensitive, SharedCredentialsProvider};
use crate::crd::conditions::{self, ConditionUpdate};
use crate::crd::ram_user::{
    AccessKeyCreation, AccessKeyFormat, AccessKeyStatus, ConsoleAccess, ProgrammaticAccess,
    RamUser, RamUserStatus, RotationStatus,
};
use crate::crd::{
    Adoption, DeletionPolicy, FINALIZER, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PolicyRef, PolicyType,
};

/// The kind, for metrics, tags and logs.
pub const KIND: &str = "RamUser";
/// Key of the generated console password in its Secret.
pub const PASSWORD_KEY: &str = "password";
/// Upper bound of key actions in one reconcile (each changes state; this only stops a bug
/// from spinning).
const MAX_KEY_STEPS: usize = 10;

/// Runs the `RamUser` controller over `scope` until shutdown.
pub async fn run(ctx: Arc<Context>, scope: Scope) {
    let users = scope.api::<RamUser>(&ctx.kube);
    let secrets = scope.api::<Secret>(&ctx.kube);
    // Only the Secrets the operator writes are watched and cached.
    let managed = format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}");
    let config = ctx.settings.watcher_config();
    Controller::new(users, config.clone())
        .owns(secrets, config.labels(&managed))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(object = %object, "reconciled"),
                Err(error) => tracing::debug!(%error, "reconcile failed"),
            }
        })
        .await;
}

fn object_key(user: &RamUser) -> String {
    format!(
        "{}/{}",
        user.namespace().unwrap_or_default(),
        user.name_any()
    )
}

async fn reconcile(
    user: Arc<RamUser>,
    ctx: Arc<Context>,
) -> Result<Action, finalizer::Error<Error>> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let namespace = user.namespace().unwrap_or_default();
    let name = user.name_any();
    let key = object_key(&user);
    let span = tracing::info_span!("reconcile", kind = KIND, %namespace, %name);
    async move {
        let api: Api<RamUser> = Api::namespaced(ctx.kube.clone(), &namespace);
        let user = match latest(&api, &name).await {
            Ok(Some(latest)) => latest,
            Ok(None) => return Ok(Action::await_change()),
            Err(error) => return Err(finalizer::Error::ApplyFailed(Error::from(error))),
        };
        let result = finalizer(&api, FINALIZER, user, |event| async {
            match event {
                FinalizerEvent::Apply(user) => Run::new(&ctx, &api, &user).apply().await,
                FinalizerEvent::Cleanup(user) => Run::new(&ctx, &api, &user).cleanup().await,
            }
        })
        .await;
        match &result {
            Ok(_) => ctx.reset_backoff(&key),
            Err(error) => {
                let reason = match error {
                    finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => {
                        e.reason()
                    }
                    _ => "FinalizerUpdateFailed",
                };
                ctx.metrics.reconcile_failed(KIND, reason);
                tracing::warn!(%reason, %error, "reconcile failed");
            }
        }
        result
    }
    .instrument(span)
    .await
}

fn error_policy(user: Arc<RamUser>, error: &finalizer::Error<Error>, ctx: Arc<Context>) -> Action {
    let key = object_key(&user);
    let retry = match error {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.retry(),
        _ => Retry::Backoff,
    };
    match retry {
        Retry::Backoff => Action::requeue(ctx.next_backoff(&key)),
        Retry::AfterChange => Action::requeue(ctx.resync_after(&key)),
    }
}

/// One reconcile of one object: the working status, and what was last written.
struct Run<'a> {
    ctx: &'a Context,
    api: &'a Api<RamUser>,
    user: &'a RamUser,
    namespace: String,
    name: String,
    reference: ObjectReference,
    now: Timestamp,
    status: RamUserStatus,
    saved: RamUserStatus,
}

/// The credentials and names a reconcile acts with once they are resolved.
struct Target {
    provider: SharedCredentialsProvider,
    user_name: String,
    principal_name: String,
}

impl<'a> Run<'a> {
    fn new(ctx: &'a Context, api: &'a Api<RamUser>, user: &'a RamUser) -> Self {
        let status = user.status.clone().unwrap_or_default();
        Self {
            ctx,
            api,
            user,
            namespace: user.namespace().unwrap_or_default(),
            name: user.name_any(),
            reference: user.object_ref(&()),
            now: Timestamp::now(),
            saved: status.clone(),
            status,
        }
    }

    fn generation(&self) -> Option<i64> {
        self.user.metadata.generation
    }

    /// Writes the status when it differs from what was last written (a steady state costs no
    /// write).
    async fn save(&mut self) -> Result<(), Error> {
        if self.status != self.saved {
            apply_status(self.api, &self.name, &self.status).await?;
            self.saved = self.status.clone();
        }
        Ok(())
    }

    async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        // Notes name ids and names, never a secret value.
        if type_ == EventType::Normal {
            tracing::info!(%reason, %note, "cloud change");
        }
        self.ctx
            .event(&self.reference, type_, reason, action, note)
            .await;
    }

    fn set_condition(&mut self, type_: &str, status: &str, reason: &str, message: &str) {
        let generation = self.generation();
        conditions::set(
            &mut self.status.conditions,
            &ConditionUpdate {
                type_,
                status,
                reason,
                message,
            },
            generation,
            self.now,
        );
    }

    /// Records a failure in the conditions, writes status, publishes a Warning Event.
    async fn fail(&mut self, error: &Error, during_cleanup: bool) {
        let reason = error.reason();
        let message = if during_cleanup {
            format!("deleting the RAM user failed: {error}")
        } else {
            error.to_string()
        };
        let stalled = during_cleanup || error.is_stalled();
        self.set_condition(conditions::READY, conditions::FALSE, reason, &message);
        self.set_condition(
            conditions::STALLED,
            if stalled {
                conditions::TRUE
            } else {
                conditions::FALSE
            },
            reason,
            &message,
        );
        self.set_condition(
            conditions::RECONCILING,
            if error.is_stalled() {
                conditions::FALSE
            } else {
                conditions::TRUE
            },
            reason,
            "retrying with backoff",
        );
        if let Err(write_error) = self.save().await {
            tracing::warn!(error = %write_error, "could not write the failure status");
        }
        self.event(EventType::Warning, reason, "Reconcile", message)
            .await;
    }

    // ---- apply ---------------------------------------------------------------------------

    async fn apply(mut self) -> Result<Action, Error> {
        match self.apply_steps().await {
            Ok(next_at) => {
                self.set_condition(
                    conditions::READY,
                    conditions::TRUE,
                    "Reconciled",
                    "the RAM user matches the spec",
                );
                self.set_condition(conditions::RECONCILING, conditions::FALSE, "Reconciled", "");
                self.set_condition(conditions::STALLED, conditions::FALSE, "Reconciled", "");
                self.status.observed_generation = self.generation();
                self.save().await?;
                let key = object_key(self.user);
                let delay = keys::requeue_delay(
                    next_at,
                    Timestamp::now(),
                    self.ctx.resync_after(&key),
                    MIN_REQUEUE,
                );
                Ok(Action::requeue(delay))
            }
            Err(error) => {
                self.fail(&error, false).await;
                Err(error)
            }
        }
    }

    /// The pipeline; returns when the next time-driven action is due (rotation, retirement).
    async fn apply_steps(&mut self) -> Result<Option<Timestamp>, Error> {
        let desired = validate::desired(self.user)?;
        let target = self.target(&desired.user_name).await?;
        let observed = self.ensure_user(&desired, &target).await?;
        self.status.user_id = Some(observed.user_id.clone());
        self.status.user_principal_name = Some(target.principal_name.clone());
        self.correct_fields(&target, &observed).await?;
        self.reconcile_policies(&target).await?;
        match (&self.user.spec.programmatic, &self.user.spec.console) {
            (Some(programmatic), _) => self.reconcile_keys(&desired, &target, programmatic).await,
            (None, Some(console)) => {
                self.reconcile_login_profile(&target, console).await?;
                Ok(None)
            }
            (None, None) => Ok(None),
        }
    }

    /// Credentials, and the user's principal name (default domain looked up once, then read
    /// from status).
    async fn target(&mut self, user_name: &str) -> Result<Target, Error> {
        let provider = identity::resolve(
            &self.ctx.kube,
            self.ctx.settings.default_credentials.as_ref(),
            &self.namespace,
            self.user.spec.credentials_ref.as_ref(),
        )
        .await?;
        let known = self
            .status
            .user_principal_name
            .as_deref()
            .filter(|upn| {
                upn.split_once('@')
                    .is_some_and(|(name, _)| name == user_name)
            })
            .map(str::to_string);
        let principal_name = match known {
            Some(upn) => upn,
            None => {
                let domain = self.ctx.cloud.ims(&*provider).get_default_domain().await?;
                format!("{user_name}@{domain}")
            }
        };
        Ok(Target {
            provider,
            user_name: user_name.to_string(),
            principal_name,
        })
    }

    fn owner_value(&self) -> String {
        self.ctx.owner_tag_value(&self.namespace, KIND, &self.name)
    }

    async fn get_user(&self, target: &Target) -> Result<Option<ImsUser>, Error> {
        let lookup = UserLookup::PrincipalName(target.principal_name.clone());
        match self
            .ctx
            .cloud
            .ims(&*target.provider)
            .get_user(&lookup)
            .await
        {
            Ok(user) => Ok(Some(user)),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Finds the user and makes sure it is ours: create it, adopt it, or refuse.
    async fn ensure_user(&mut self, desired: &Desired, target: &Target) -> Result<ImsUser, Error> {
        let owner = self.owner_value();
        let ims = self.ctx.cloud.ims(&*target.provider);
        let Some(observed) = self.get_user(target).await? else {
            if desired.adoption == Adoption::Adopt {
                return Err(Error::waiting(
                    "UserNotFound",
                    format!(
                        "adoption is Adopt but RAM user {} does not exist: create it, or use \
                         adoption AdoptOrCreate",
                        target.user_name
                    ),
                ));
            }
            let request = CreateUserRequest {
                user_principal_name: target.principal_name.clone(),
                display_name: user::display_name(&self.user.spec, &target.user_name),
                comments: self.user.spec.comments.clone(),
                email: self.user.spec.email.clone(),
                mobile_phone: self.user.spec.mobile_phone.clone(),
                tags: user::desired_tags(&self.user.spec, &owner),
            };
            let created = ims.create_user(&request).await?;
            self.event(
                EventType::Normal,
                "UserCreated",
                "CreateUser",
                format!("created RAM user {}", target.principal_name),
            )
            .await;
            return Ok(created);
        };
        match user::ownership(&observed.tags, &owner) {
            Ownership::Ours => Ok(observed),
            Ownership::Other(other) => Err(Error::Conflict {
                reason: "AlreadyExists",
                message: format!(
                    "RAM user {} is managed by {other} (tag {}); it is never taken over: \
                     choose another spec.userName",
                    target.user_name,
                    crate::crd::OWNER_TAG_KEY
                ),
            }),
            Ownership::Untagged if desired.adoption == Adoption::Never => Err(Error::Conflict {
                reason: "AlreadyExists",
                message: format!(
                    "RAM user {} already exists and was not created by this operator; it \
                         is left untouched: set spec.adoption to Adopt to take it over, or \
                         choose another spec.userName",
                    target.user_name
                ),
            }),
            Ownership::Untagged => {
                let tags = user::desired_tags(&self.user.spec, &owner);
                ims.tag_users(std::slice::from_ref(&target.principal_name), &tags)
                    .await?;
                self.event(
                    EventType::Normal,
                    "UserAdopted",
                    "TagResources",
                    format!(
                        "adopted existing RAM user {} (tagged {})",
                        target.principal_name,
                        crate::crd::OWNER_TAG_KEY
                    ),
                )
                .await;
                // The tags are now as desired; later steps read fields, not tags.
                Ok(ImsUser {
                    tags: tags
                        .into_iter()
                        .map(|t| alicloud::wire::ResourceTag {
                            key: t.key,
                            value: t.value,
                        })
                        .collect(),
                    ..observed
                })
            }
        }
    }

    /// Display name, comments, email, mobile phone and tags drifted from the spec.
    async fn correct_fields(&mut self, target: &Target, observed: &ImsUser) -> Result<(), Error> {
        if let Some((request, fields)) =
            user::field_updates(&self.user.spec, observed, &target.user_name)
        {
            self.ctx
                .cloud
                .ram(&*target.provider)
                .update_user(&request)
                .await?;
            self.event(
                EventType::Normal,
                "UserUpdated",
                "UpdateUser",
                format!(
                    "corrected {} of RAM user {}",
                    fields.join(", "),
                    target.user_name
                ),
            )
            .await;
        }
        let desired_tags = user::desired_tags(&self.user.spec, &self.owner_value());
        let missing = user::tags_to_set(&desired_tags, &observed.tags);
        if !missing.is_empty() {
            self.ctx
                .cloud
                .ims(&*target.provider)
                .tag_users(std::slice::from_ref(&target.principal_name), &missing)
                .await?;
            let keys: Vec<&str> = missing.iter().map(|t| t.key.as_str()).collect();
            self.event(
                EventType::Normal,
                "TagsUpdated",
                "TagResources",
                format!(
                    "set tags {} on RAM user {}",
                    keys.join(", "),
                    target.user_name
                ),
            )
            .await;
        }
        Ok(())
    }

    async fn reconcile_policies(&mut self, target: &Target) -> Result<(), Error> {
        let ram = self.ctx.cloud.ram(&*target.provider);
        let attached = ram.list_policies_for_user(&target.user_name).await?;
        let plan = user::policy_plan(
            &self.user.spec.policies,
            &attached,
            &self.status.attached_policies,
        );
        for policy in &plan.attach {
            ram.attach_policy_to_user(cloud_type(policy), &policy.name, &target.user_name)
                .await?;
            self.event(
                EventType::Normal,
                "PolicyAttached",
                "AttachPolicyToUser",
                format!(
                    "attached {} policy {} to RAM user {}",
                    user::type_name(policy.policy_type),
                    policy.name,
                    target.user_name
                ),
            )
            .await;
        }
        for policy in &plan.detach {
            match ram
                .detach_policy_from_user(cloud_type(policy), &policy.name, &target.user_name)
                .await
            {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
            self.event(
                EventType::Normal,
                "PolicyDetached",
                "DetachPolicyFromUser",
                format!(
                    "detached policy {} from RAM user {} (no longer in spec.policies)",
                    policy.name, target.user_name
                ),
            )
            .await;
        }
        self.status.attached_policies = plan.remembered;
        Ok(())
    }

    // ---- programmatic access -------------------------------------------------------------

    /// Reads a Secret this `RamUser` writes: `None` when absent; refused when it exists and is
    /// not ours. One the operator wrote for an earlier `RamUser` of the same name is taken over
    /// (see `secret_owner`).
    async fn read_owned_secret(&self, secret_name: &str) -> Result<Option<Secret>, Error> {
        let secrets: Api<Secret> = Api::namespaced(self.ctx.kube.clone(), &self.namespace);
        let Some(secret) = secrets.get_opt(secret_name).await? else {
            return Ok(None);
        };
        match secret_owner::classify(&secret, self.user) {
            SecretOwner::ThisUser => Ok(Some(secret)),
            SecretOwner::EarlierUserOfThisName => {
                // Rewritten whole: a partial apply would drop the data fields this manager owns.
                let data = secret.data.clone().unwrap_or_default();
                self.write_secret(secret_name, data).await?;
                self.event(
                    EventType::Normal,
                    "SecretAdopted",
                    "AdoptSecret",
                    format!(
                        "took over Secret {secret_name}, written for an earlier RamUser of this \
                         name that no longer exists"
                    ),
                )
                .await;
                Ok(Some(secret))
            }
            SecretOwner::Foreign => Err(Error::Conflict {
                reason: "SecretConflict",
                message: format!(
                    "Secret {}/{secret_name} exists and is not owned by this RamUser; it is \
                     never overwritten: delete it or choose another Secret name",
                    self.namespace
                ),
            }),
        }
    }

    /// Writes a Secret the operator owns, whole, with server-side apply.
    async fn write_secret(
        &self,
        secret_name: &str,
        data: BTreeMap<String, ByteString>,
    ) -> Result<(), Error> {
        let secrets: Api<Secret> = Api::namespaced(self.ctx.kube.clone(), &self.namespace);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(secret_name.to_string()),
                namespace: Some(self.namespace.clone()),
                labels: Some([(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string())].into()),
                owner_references: self.user.controller_owner_ref(&()).map(|o| vec![o]),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".to_string()),
            data: Some(data),
            ..Secret::default()
        };
        let mut patch = serde_json::to_value(&secret).map_err(|e| {
            Error::invalid_spec("SecretRenderFailed", format!("rendering the Secret: {e}"))
        })?;
        if let Some(map) = patch.as_object_mut() {
            map.insert("apiVersion".into(), "v1".into());
            map.insert("kind".into(), "Secret".into());
        }
        secrets
            .patch(
                secret_name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        Ok(())
    }

    fn access_key_data(
        &self,
        programmatic: &ProgrammaticAccess,
        id: &str,
        secret: &str,
    ) -> BTreeMap<String, ByteString> {
        let formats = &programmatic.formats;
        secrets::access_key_secret_data(
            &AccessKeySecretInput {
                access_key_id: id,
                access_key_secret: secret,
                region: &self.ctx.settings.region,
            },
            formats.contains(&AccessKeyFormat::CredentialsFile),
            formats.contains(&AccessKeyFormat::CliConfig),
        )
    }

    async fn reconcile_keys(
        &mut self,
        desired: &Desired,
        target: &Target,
        programmatic: &ProgrammaticAccess,
    ) -> Result<Option<Timestamp>, Error> {
        let secret_name = &programmatic.access_key_secret_name;
        let secret = self.read_owned_secret(secret_name).await?;
        let data = secret.and_then(|s| s.data).unwrap_or_default();
        let published_id = secrets::text_value(&data, secrets::ENV_ACCESS_KEY_ID)
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        let published_secret = secrets::text_value(&data, secrets::ENV_ACCESS_KEY_SECRET)
            .filter(|s| !s.is_empty())
            .map(Sensitive::new);
        let published = published_id.clone().filter(|_| published_secret.is_some());

        let ram = self.ctx.cloud.ram(&*target.provider);
        let listed = ram
            .list_access_keys(Some(&target.user_name))
            .await?
            .into_iter()
            .map(|k| ListedKey {
                created: alicloud::signature::parse_timestamp(&k.create_date),
                id: k.access_key_id,
                status: k.status,
            })
            .collect();
        let mut state = key_state_from_status(&self.status, listed, published);

        let mut next_at = None;
        for _ in 0..MAX_KEY_STEPS {
            match keys::next_action(&state, desired.rotation, self.now) {
                Err(full) => {
                    self.sync_key_status(&state);
                    return Err(Error::Conflict {
                        reason: "AccessKeyLimit",
                        message: format!(
                            "RAM user {} has two AccessKeys and the operator owns neither \
                             slot it needs{} (keys not created by the operator: {}); delete one \
                             of them in RAM",
                            target.user_name,
                            if full.rotation { " to rotate" } else { "" },
                            full.foreign.join(", ")
                        ),
                    });
                }
                Ok(KeyAction::Settled { next_at: at }) => {
                    next_at = at;
                    break;
                }
                Ok(KeyAction::ClearIntent) => state.intent = None,
                Ok(KeyAction::ForgetRetiring) => state.retiring = None,
                Ok(KeyAction::StartRetiring { id, retire_after }) => {
                    state.retiring = Some(keys::Retiring {
                        id: id.clone(),
                        retire_after,
                    });
                    state.previous = state.current().map(|k| k.id.clone());
                    let rotation = self.status.rotation.get_or_insert_with(Default::default);
                    rotation.last_rotation_time = Some(Time(self.now));
                }
                Ok(KeyAction::Delete { id, reason }) => {
                    match ram.delete_access_key(Some(&target.user_name), &id).await {
                        Ok(()) => {}
                        Err(error) if error.kind() == ErrorKind::NotFound => {}
                        Err(error) => return Err(error.into()),
                    }
                    state.forget(&id);
                    if state.previous.as_deref() == Some(id.as_str()) {
                        state.previous = None;
                    }
                    if state.retiring.as_ref().is_some_and(|r| r.id == id) {
                        state.retiring = None;
                    }
                    self.event(
                        EventType::Normal,
                        "AccessKeyDeleted",
                        "DeleteAccessKey",
                        format!(
                            "deleted AccessKey {id} of RAM user {}: {}",
                            target.user_name,
                            reason.describe()
                        ),
                    )
                    .await;
                }
                Ok(KeyAction::Create { rotation }) => {
                    // The intent goes to the API server before the call: CreateAccessKey is
                    // not idempotent and its secret is returned only once.
                    state.intent = Some(keys::Intent {
                        started_at: self.now,
                        known_key_ids: state.listed.iter().map(|k| k.id.clone()).collect(),
                        rotation,
                    });
                    self.sync_key_status(&state);
                    self.save().await?;
                    let created = ram.create_access_key(Some(&target.user_name)).await?;
                    let data = self.access_key_data(
                        programmatic,
                        &created.access_key_id,
                        created.access_key_secret.expose(),
                    );
                    self.write_secret(secret_name, data).await?;
                    let new_key = ListedKey {
                        id: created.access_key_id.clone(),
                        created: alicloud::signature::parse_timestamp(&created.create_date)
                            .or(Some(self.now)),
                        status: created.status.clone(),
                    };
                    match desired.rotation.filter(|_| rotation) {
                        Some(policy) => {
                            state.rotated(new_key, keys::after(self.now, policy.grace_period));
                            let rotation =
                                self.status.rotation.get_or_insert_with(Default::default);
                            rotation.last_rotation_time = Some(Time(self.now));
                        }
                        None => state.created(new_key),
                    }
                    self.event(
                        EventType::Normal,
                        if rotation {
                            "AccessKeyRotated"
                        } else {
                            "AccessKeyCreated"
                        },
                        "CreateAccessKey",
                        format!(
                            "created AccessKey {} for RAM user {} and published it in Secret {}",
                            created.access_key_id, target.user_name, secret_name
                        ),
                    )
                    .await;
                    self.sync_key_status(&state);
                    self.save().await?;
                }
            }
        }
        self.sync_key_status(&state);
        // The Secret holds the current key; re-render it when the formats or its contents
        // drifted (the secret is in the Secret itself, so nothing needs RAM).
        if let (Some(current), Some(secret_value)) = (state.current(), &published_secret)
            && published_id.as_deref() == Some(current.id.as_str())
        {
            let wanted = self.access_key_data(programmatic, &current.id, secret_value.expose());
            if wanted != data {
                self.write_secret(secret_name, wanted).await?;
                self.event(
                    EventType::Normal,
                    "SecretUpdated",
                    "WriteSecret",
                    format!("re-rendered Secret {secret_name} for spec.programmatic.formats"),
                )
                .await;
            }
        }
        Ok(next_at)
    }

    /// Copies the key state into the status (ids and times only, never a secret).
    fn sync_key_status(&mut self, state: &KeyState) {
        let current = state.current().cloned();
        self.status.access_key_id = current.as_ref().map(|k| k.id.clone());
        self.status.access_key_created = current.as_ref().and_then(|k| k.created).map(Time);
        self.status.access_keys = state
            .listed
            .iter()
            .map(|k| AccessKeyStatus {
                id: k.id.clone(),
                created: k.created.map(Time),
                status: Some(k.status.clone()),
                owned: state.owned.contains(&k.id),
                current: current.as_ref().is_some_and(|c| c.id == k.id),
            })
            .collect();
        self.status.access_key_creation = state.intent.as_ref().map(|intent| AccessKeyCreation {
            started_at: Time(intent.started_at),
            known_key_ids: intent.known_key_ids.iter().cloned().collect(),
            reason: Some(
                if intent.rotation {
                    "Rotation"
                } else {
                    "Initial"
                }
                .to_string(),
            ),
        });
        let rotation_spec = self
            .user
            .spec
            .programmatic
            .as_ref()
            .and_then(|p| p.rotation.as_ref());
        let next_rotation = rotation_spec
            .and_then(|r| crate::crd::parse_go_duration(&r.every).ok())
            .zip(current.as_ref().and_then(|k| k.created))
            .and_then(|(every, created)| keys::rotation_due(created, every));
        let previous = self.status.rotation.clone().unwrap_or_default();
        let rotation = RotationStatus {
            last_rotation_time: previous.last_rotation_time,
            next_rotation_time: next_rotation.map(Time),
            retiring_access_key_id: state.retiring.as_ref().map(|r| r.id.clone()),
            retire_after: state.retiring.as_ref().map(|r| Time(r.retire_after)),
        };
        self.status.rotation = (rotation != RotationStatus::default()).then_some(rotation);
    }

    // ---- console access ------------------------------------------------------------------

    async fn reconcile_login_profile(
        &mut self,
        target: &Target,
        console: &ConsoleAccess,
    ) -> Result<(), Error> {
        let ram = self.ctx.cloud.ram(&*target.provider);
        let profile = match ram.get_login_profile(&target.user_name).await {
            Ok(profile) => Some(profile),
            Err(error) if error.kind() == ErrorKind::NotFound => None,
            Err(error) => return Err(error.into()),
        };
        match profile {
            Some(profile) => {
                if profile.mfa_bind_required != console.mfa_bind_required {
                    ram.update_login_profile(&LoginProfileRequest {
                        user_name: target.user_name.clone(),
                        mfa_bind_required: Some(console.mfa_bind_required),
                        ..LoginProfileRequest::default()
                    })
                    .await?;
                    self.event(
                        EventType::Normal,
                        "LoginProfileUpdated",
                        "UpdateLoginProfile",
                        format!(
                            "set MFABindRequired={} on the login profile of {}",
                            console.mfa_bind_required, target.user_name
                        ),
                    )
                    .await;
                }
                // PasswordResetRequired is not enforced after creation: it turns false when
                // the person sets their own password, which is the point.
            }
            None => {
                let (password, generated) = self.console_password(target, console).await?;
                let request = LoginProfileRequest {
                    user_name: target.user_name.clone(),
                    password: Some(password),
                    password_reset_required: Some(
                        console.password_reset_required.unwrap_or(generated),
                    ),
                    mfa_bind_required: Some(console.mfa_bind_required),
                };
                match ram.create_login_profile(&request).await {
                    Ok(_) => {}
                    Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
                    Err(error) => return Err(error.into()),
                }
                self.status.login_profile_created = Some(Time(self.now));
                self.event(
                    EventType::Normal,
                    "LoginProfileCreated",
                    "CreateLoginProfile",
                    format!(
                        "created the console login profile of {} (MFA binding required: {}, \
                         password {})",
                        target.principal_name,
                        console.mfa_bind_required,
                        if generated {
                            "generated into its Secret"
                        } else {
                            "from spec.console.passwordSecretRef"
                        }
                    ),
                )
                .await;
            }
        }
        Ok(())
    }

    /// The password for a new login profile, and whether the operator generated it. A generated
    /// password is written to its Secret before the profile is created, and a password found
    /// there from an earlier attempt is reused while it satisfies the policy: a crash between
    /// the two steps never loses the password.
    async fn console_password(
        &self,
        target: &Target,
        console: &ConsoleAccess,
    ) -> Result<(Sensitive, bool), Error> {
        if let Some(reference) = &console.password_secret_ref {
            let secrets: Api<Secret> = Api::namespaced(self.ctx.kube.clone(), &self.namespace);
            let secret = secrets.get_opt(&reference.name).await?.ok_or_else(|| {
                Error::waiting(
                    "PasswordSecretNotFound",
                    format!(
                        "Secret {}/{} (spec.console.passwordSecretRef) does not exist: create it",
                        self.namespace, reference.name
                    ),
                )
            })?;
            let data = secret.data.unwrap_or_default();
            let password = secrets::text_value(&data, &reference.key)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    Error::waiting(
                        "PasswordSecretInvalid",
                        format!(
                            "Secret {}/{} has no key {:?} (or it is empty)",
                            self.namespace, reference.name, reference.key
                        ),
                    )
                })?;
            return Ok((Sensitive::new(password), false));
        }
        let secret_name = console.password_secret_name.as_deref().ok_or_else(|| {
            Error::invalid_spec(
                "PasswordSourceMissing",
                "set spec.console.passwordSecretName (generated password) or \
                 spec.console.passwordSecretRef",
            )
        })?;
        let policy = self
            .ctx
            .cloud
            .ims(&*target.provider)
            .get_password_policy()
            .await?;
        let stored = self
            .read_owned_secret(secret_name)
            .await?
            .and_then(|s| s.data)
            .and_then(|data| secrets::text_value(&data, PASSWORD_KEY).map(Sensitive::new))
            .filter(|p| {
                console::password_violation(&policy, p.expose(), &target.user_name).is_none()
            });
        if let Some(password) = stored {
            return Ok((password, true));
        }
        let password = Sensitive::new(console::generate_password(
            &policy,
            &target.user_name,
            &mut rand::rng(),
        ));
        let mut data = BTreeMap::new();
        data.insert(
            PASSWORD_KEY.to_string(),
            ByteString(password.expose().as_bytes().to_vec()),
        );
        self.write_secret(secret_name, data).await?;
        Ok((password, true))
    }

    // ---- cleanup -------------------------------------------------------------------------

    async fn cleanup(mut self) -> Result<Action, Error> {
        if self.user.spec.deletion_policy == DeletionPolicy::Orphan {
            self.event(
                EventType::Normal,
                "Orphaned",
                "Delete",
                format!(
                    "deletionPolicy is Orphan: RAM user {} is left in place",
                    self.user.user_name()
                ),
            )
            .await;
            return Ok(Action::await_change());
        }
        match self.delete_user().await {
            Ok(()) => Ok(Action::await_change()),
            // Credentials that never worked created nothing; waiting for them would hold the
            // object (and its namespace) in deletion for ever.
            Err(error) if self.never_reached_the_cloud() && credentials_failure(&error) => {
                self.event(
                    EventType::Normal,
                    "UserLeft",
                    "Delete",
                    format!(
                        "RAM user {} was never created or observed ({}): nothing to delete",
                        self.user.user_name(),
                        error.reason()
                    ),
                )
                .await;
                Ok(Action::await_change())
            }
            Err(error) => {
                self.fail(&error, true).await;
                Err(error)
            }
        }
    }

    /// Whether no reconcile ever saw the user in the cloud (no user id or key in the status).
    fn never_reached_the_cloud(&self) -> bool {
        self.user.status.as_ref().is_none_or(|status| {
            status.user_id.is_none()
                && status.access_key_id.is_none()
                && status.access_keys.is_empty()
        })
    }

    /// Deletes the user when it exists and is ours: policies, keys, login profile, user.
    /// Spec validation is not needed (and never blocks this).
    async fn delete_user(&mut self) -> Result<(), Error> {
        let user_name = self.user.user_name().to_string();
        let target = self.target(&user_name).await?;
        let Some(observed) = self.get_user(&target).await? else {
            return Ok(());
        };
        if user::ownership(&observed.tags, &self.owner_value()) != Ownership::Ours {
            self.event(
                EventType::Normal,
                "UserNotOwned",
                "Delete",
                format!(
                    "RAM user {user_name} was not created or adopted by this object; it is left \
                     in place"
                ),
            )
            .await;
            return Ok(());
        }
        let ram = self.ctx.cloud.ram(&*target.provider);
        for policy in ram.list_policies_for_user(&user_name).await? {
            let policy_type = if policy.policy_type.eq_ignore_ascii_case("Custom") {
                CloudPolicyType::Custom
            } else {
                CloudPolicyType::System
            };
            ignore_not_found(
                ram.detach_policy_from_user(policy_type, &policy.policy_name, &user_name)
                    .await,
            )?;
        }
        for key in ram.list_access_keys(Some(&user_name)).await? {
            ignore_not_found(
                ram.delete_access_key(Some(&user_name), &key.access_key_id)
                    .await,
            )?;
        }
        ignore_not_found(ram.delete_login_profile(&user_name).await)?;
        ignore_not_found(ram.delete_user(&user_name).await)?;
        self.event(
            EventType::Normal,
            "UserDeleted",
            "DeleteUser",
            format!(
                "deleted RAM user {user_name} with its policy attachments, AccessKeys and login \
                 profile"
            ),
        )
        .await;
        Ok(())
    }
}

fn ignore_not_found(result: Result<(), alicloud::Error>) -> Result<(), Error> {
    match result {
        Err(error) if error.kind() != ErrorKind::NotFound => Err(error.into()),
        _ => Ok(()),
    }
}

fn cloud_type(policy: &PolicyRef) -> CloudPolicyType {
    match policy.policy_type {
        PolicyType::System => CloudPolicyType::System,
        PolicyType::Custom => CloudPolicyType::Custom,
    }
}

/// The key state as the status and the Secret describe it, next to the keys RAM lists.
fn key_state_from_status(
    status: &RamUserStatus,
    listed: Vec<ListedKey>,
    published: Option<String>,
) -> KeyState {
    let mut owned: BTreeSet<String> = status
        .access_keys
        .iter()
        .filter(|k| k.owned)
        .map(|k| k.id.clone())
        .collect();
    // The key in the Secret was put there by the operator (the Secret is ours).
    owned.extend(published.clone());
    let retiring = status.rotation.as_ref().and_then(|r| {
        Some(keys::Retiring {
            id: r.retiring_access_key_id.clone()?,
            retire_after: r.retire_after.as_ref()?.0,
        })
    });
    let intent = status
        .access_key_creation
        .as_ref()
        .map(|creation| keys::Intent {
            started_at: creation.started_at.0,
            known_key_ids: creation.known_key_ids.iter().cloned().collect(),
            rotation: creation.reason.as_deref() == Some("Rotation"),
        });
    KeyState {
        listed,
        published,
        previous: status.access_key_id.clone(),
        owned,
        intent,
        retiring,
    }
}

/// Whether `error` says the credentials cannot be used at all (missing, or refused by the
/// cloud), as opposed to a passing failure.
fn credentials_failure(error: &Error) -> bool {
    match error {
        Error::Credentials { .. } => true,
        Error::Cloud(error) => matches!(
            error.kind(),
            crate::alicloud::ErrorKind::CredentialsInvalid
                | crate::alicloud::ErrorKind::SignatureMismatch
        ),
        _ => false,
    }
}
