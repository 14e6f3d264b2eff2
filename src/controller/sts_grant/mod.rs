//! Reconciles `StsGrant` objects: short-lived STS credentials for a role, obtained with
//! `AssumeRole` and kept fresh in a Secret.
//!
//! Each reconcile is a short pipeline: read the Secret -> validate the spec -> resolve the role
//! and the source credentials -> [`decide::decide`] whether to refresh -> `AssumeRole` and write
//! the Secret in one server-side apply -> restart rollout targets when due -> write the status
//! only if it changed. The Secret is the record of what is served, so a restart of the operator
//! never mints fresh credentials again; the next reconcile is requeued at the planned refresh
//! time (`schedule::plan_refresh`), or at the expiry while refreshes fail.
//!
//! Watches: the grants; Secrets labelled `app.kubernetes.io/managed-by=ram-operator` only (a
//! grant's own Secret, a `RamUser`'s AccessKey Secret), mapped to the grants that write or read
//! them; `RamUser`s (key rotation) and `CrossAccountRole`s (a new ARN). A user-supplied
//! `source.secretRef` Secret is not labelled and so not watched: an edit to it is picked up at
//! the next resync or refresh. There is no finalizer: the Secret is a Kubernetes child, garbage
//! collected through its owner reference (`secretDeletionPolicy: Delete`), and nothing in the
//! cloud needs cleaning up (credentials simply expire).

pub mod cache;
pub mod decide;
pub mod echo;
pub mod output;
pub mod record;
pub mod resolve;
pub mod rollout;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{
    Action, Config as ControllerConfig, Controller, Error as ControllerError,
};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use tokio::sync::Semaphore;
use tracing::Instrument;

use self::cache::{CachedSecret, SecretCache, SourceSecrets};
use self::decide::{Decision, RefreshReason, Served, Wanted, decide};
use self::echo::OwnWrites;
use self::output::{Failure, GRANT_LABEL, Issued};
use self::record::GrantRecord;
use self::resolve::AccountCache;
use super::context::{apply_status, apply_status_object, stable_fraction};
use super::error::{Error, Retry, cloud_reason};
use super::schedule::{self, plan_refresh};
use super::{Context, FIELD_MANAGER, MIN_REQUEUE, Scope};
use crate::alicloud::ErrorKind;
use crate::alicloud::sts::AssumeRoleRequest;
use crate::crd::sts_grant::AssumedRoleUser;
use crate::crd::{
    CrossAccountRole, MANAGED_BY_LABEL, MANAGED_BY_VALUE, RamUser, StsGrant, StsGrantStatus,
    parse_go_duration,
};

const KIND: &str = "StsGrant";

/// The shortest wait for a planned time that is still ahead: the planned instant itself is
/// what matters, so this floor is far below [`MIN_REQUEUE`] (which guards past deadlines).
const PLANNED_FLOOR: Duration = Duration::from_millis(10);

/// Reconciles doing API or cloud work at once, over all namespaces of the process. Without a
/// bound, a thousand grants reconciled together opened a thousand connections to the API
/// server (about 120 MiB of TLS buffers and handshakes) and queued on the STS budget anyway;
/// 32 keep a 100 calls/s budget busy at API latencies up to a quarter of a second.
pub const MAX_CONCURRENT_RECONCILES: usize = 32;

/// Slots of reconciles that may refresh: the Secret has no planned refresh, or it is near.
static RECONCILE_SLOTS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(MAX_CONCURRENT_RECONCILES));

/// Slots of reconciles whose Secret plans its refresh for later, as far as the cache tells:
/// they decide and rarely write. Apart from the slots above because a due grant holds its slot
/// while it waits for the STS budget: at a restart during a refresh peak, every grant is
/// reconciled once, and with one pool the not-due ones went through at the STS budget's pace
/// behind the due ones, so the runner's backlog (taken in no particular order) drained slowly
/// and single due grants waited up to 42 s.
static QUICK_SLOTS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(MAX_CONCURRENT_RECONCILES));

/// A Secret whose refresh is planned this close counts as due for the choice of slot pool.
const DUE_MARGIN: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);

/// The slot pool of a reconcile whose grant's Secret is `cached` (or not there yet).
fn slots(cached: Option<&CachedSecret>, now: Timestamp) -> &'static Semaphore {
    let planned_later = cached
        .and_then(CachedSecret::next_refresh)
        .is_some_and(|at| at > now + DUE_MARGIN);
    if planned_later {
        &QUICK_SLOTS
    } else {
        &RECONCILE_SLOTS
    }
}

/// Reconciles a controller's runner holds at once: in a slot, or waiting for one or for the
/// Secret list. Unbounded, it spawned a task per grant at start-up (10,000 tasks of about
/// 4.5 KiB each). Above the bound, due grants wait in kube-runtime's scheduler, whose backlog
/// is a hash set taken in no particular order: with a bound as small as the slots, a controller
/// over every namespace restarted during a refresh peak (STS budget fully used) left single
/// grants waiting up to 41 s while others due later went first. 256 keep a backlog of about
/// 2.5 s at 100 `AssumeRole` calls/s in arrival order (the slots and the STS limiter are both
/// first come, first served). With one controller per namespace, each keeps the slot count.
fn runner_bound(scope: &Scope) -> u16 {
    match scope {
        Scope::All => 256,
        Scope::Namespace(_) => MAX_CONCURRENT_RECONCILES as u16,
    }
}

/// What the grant controller shares across reconciles.
pub struct GrantContext {
    pub ctx: Arc<Context>,
    /// Accounts of source keys, for the per-account `AssumeRole` budget.
    pub accounts: AccountCache,
    /// The controller's own writes, whose watch events need no work.
    pub own: Arc<OwnWrites>,
    /// The labelled Secrets of the scope, without their values.
    pub secrets: Arc<SecretCache>,
    /// Source Secrets' data, for a few seconds.
    pub sources: Arc<SourceSecrets>,
    /// Until when a reconcile at start-up waits for the Secret list ([`SecretCache::listed_by`]).
    pub list_deadline: tokio::time::Instant,
}

/// The longest a reconcile waits for the first list of the labelled Secrets, from the
/// controller's start: a list of 10,000 Secrets on a loaded API server takes seconds.
const LIST_WAIT: Duration = Duration::from_secs(30);

/// Runs the `StsGrant` controller over `scope` until shutdown.
pub async fn run(ctx: Arc<Context>, scope: Scope) {
    let kube = ctx.kube.clone();
    let config = ctx.settings.watcher_config();
    // The grant cache holds compact records ([`record`]), not whole objects: no
    // `managedFields` (more than half of a grant's JSON, 3.9 of 6.6 KB, and read by nothing
    // here), and the spec and status as text.
    let (grants, writer) = reflector::store();
    let grant_events = reflector(
        writer,
        watcher(scope.api::<GrantRecord>(&kube), config.clone()),
    )
    .applied_objects();
    let controller = Controller::for_stream(grant_events, grants.clone())
        .with_config(ControllerConfig::default().concurrency(runner_bound(&scope)));
    let labelled = config
        .clone()
        .labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    let by_secret = grants.clone();
    let by_user = grants.clone();
    let by_role = grants;
    let metrics = ctx.metrics.clone();
    let own = Arc::new(OwnWrites::default());
    let (secret_own, user_own, role_own, done_own) =
        (own.clone(), own.clone(), own.clone(), own.clone());
    let secrets = Arc::new(SecretCache::default());
    let sources = Arc::new(SourceSecrets::default());
    let (cached, dropped, listing) = (secrets.clone(), sources.clone(), secrets.clone());
    // The labelled Secrets feed the Secret cache, then (without their data, which the mapper
    // does not read) the mapper, but for the first list (`SecretCache::triggers`); a changed
    // labelled source is read afresh.
    let secret_events = watcher(scope.api::<Secret>(&kube), labelled)
        .map_ok(move |event| {
            cached.observe(&event);
            if let watcher::Event::Apply(secret) | watcher::Event::Delete(secret) = &event {
                dropped.invalidate(&key(secret));
            }
            event.modify(|secret| {
                secret.managed_fields_mut().clear();
                secret.data = None;
            })
        })
        .try_filter(move |event| std::future::ready(listing.triggers(event)))
        .touched_objects();
    let grant_ctx = Arc::new(GrantContext {
        ctx,
        accounts: AccountCache::default(),
        own,
        secrets,
        sources,
        list_deadline: tokio::time::Instant::now() + LIST_WAIT,
    });
    controller
        // One watch serves both directions: a grant's own Secret (owner reference or name,
        // also for `Retain` Secrets that have no owner) and the source Secrets grants read.
        .watches_stream(secret_events, move |secret| {
            grants_of_secret(&by_secret, &secret_own, &secret)
        })
        .watches(scope.api::<RamUser>(&kube), config.clone(), move |user| {
            changed(
                &user_own,
                grants_where(&by_user, &user, |grant, name| {
                    grant.links().source_user.as_deref() == Some(name)
                }),
            )
        })
        .watches(
            scope.api::<CrossAccountRole>(&kube),
            config.clone(),
            move |role| {
                changed(
                    &role_own,
                    grants_where(&by_role, &role, |grant, name| {
                        grant.links().role_ref.as_deref() == Some(name)
                    }),
                )
            },
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, grant_ctx)
        .for_each(|result| {
            let metrics = metrics.clone();
            let own = done_own.clone();
            async move {
                match result {
                    Ok(_) => {}
                    // A requeued grant that is gone was deleted: drop its series.
                    Err(ControllerError::ObjectNotFound(object)) => {
                        let namespace = object.namespace.as_deref().unwrap_or_default();
                        own.forget(&namespaced_key(namespace, &object.name));
                        metrics.forget_grant(namespace, &object.name);
                    }
                    // The reconcile already logged and recorded its own failure.
                    Err(ControllerError::ReconcilerFailed(..)) => {}
                    Err(error) => tracing::warn!(%error, "StsGrant controller"),
                }
            }
        })
        .await;
}

fn grants_where<K: Resource>(
    grants: &Store<GrantRecord>,
    object: &K,
    matches: impl Fn(&GrantRecord, &str) -> bool,
) -> Vec<ObjectRef<GrantRecord>> {
    let namespace = object.meta().namespace.as_deref();
    let name = object.meta().name.as_deref().unwrap_or_default();
    grants
        .state()
        .iter()
        .filter(|grant| grant.metadata.namespace.as_deref() == namespace)
        .filter(|grant| matches(grant, name))
        .map(|grant| ObjectRef::from_obj(grant.as_ref()))
        .collect()
}

/// Marks the grants a dependency event maps to as changed (their next reconcile takes the
/// full path) and returns them.
fn changed(own: &OwnWrites, grants: Vec<ObjectRef<GrantRecord>>) -> Vec<ObjectRef<GrantRecord>> {
    for grant in &grants {
        own.changed(&object_key(grant));
    }
    grants
}

fn object_key(object: &ObjectRef<GrantRecord>) -> String {
    namespaced_key(
        object.namespace.as_deref().unwrap_or_default(),
        &object.name,
    )
}

fn grants_of_secret(
    grants: &Store<GrantRecord>,
    own: &OwnWrites,
    secret: &Secret,
) -> Vec<ObjectRef<GrantRecord>> {
    let owners = secret.metadata.owner_references.clone().unwrap_or_default();
    let owned_by = |kind: &str, name: &str| owners.iter().any(|o| o.kind == kind && o.name == name);
    let labelled_for = secret.labels().get(GRANT_LABEL).cloned();
    let version = secret.metadata.resource_version.as_deref();
    let related = grants_where(grants, secret, |grant, secret_name| {
        let grant_name = grant.metadata.name.as_deref().unwrap_or_default();
        let its_own = grant.secret_name() == secret_name
            || owned_by(KIND, grant_name)
            || labelled_for.as_deref() == Some(grant_name);
        // The echo of this process's own write of the grant's Secret carries no news.
        if its_own && own.is_own_secret(&key(grant), version) {
            return false;
        }
        let links = grant.links();
        its_own
            || links.source_secret.as_deref() == Some(secret_name)
            || links
                .source_user
                .as_deref()
                .is_some_and(|user| owned_by("RamUser", user))
    });
    changed(own, related)
}

/// `namespace/name`: how the controller's own maps and caches key grants and Secrets.
fn namespaced_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn key(object: &impl Resource) -> String {
    namespaced_key(
        object.meta().namespace.as_deref().unwrap_or_default(),
        &object.name_any(),
    )
}

/// The session name: `spec.roleSessionName`, default `<namespace>.<name>` (cut to 64, the
/// STS maximum; both parts are DNS names, so every character is allowed).
pub fn session_name(grant: &StsGrant) -> String {
    if let Some(name) = &grant.spec.role_session_name {
        return name.clone();
    }
    let mut name = key(grant).replace('/', ".");
    name.truncate(64);
    name
}

/// The spec values the reconcile needs, checked.
struct Validated {
    refresh_before: Option<Duration>,
    min_interval: Option<Duration>,
    duration_seconds: u32,
}

fn validate(grant: &StsGrant) -> Result<Validated, Error> {
    let refresh_before = grant
        .spec
        .refresh_before
        .as_deref()
        .map(|text| {
            parse_go_duration(text).map_err(|error| {
                Error::invalid_spec(
                    "InvalidRefreshBefore",
                    format!("spec.refreshBefore: {error}; use a Go duration such as 20m"),
                )
            })
        })
        .transpose()?;
    let min_interval = grant
        .spec
        .rollout
        .as_ref()
        .map(|rollout| {
            parse_go_duration(&rollout.min_interval).map_err(|error| {
                Error::invalid_spec(
                    "InvalidMinInterval",
                    format!("spec.rollout.minInterval: {error}; use a Go duration such as 5m"),
                )
            })
        })
        .transpose()?;
    let duration_seconds = u32::try_from(grant.spec.duration_seconds)
        .ok()
        .filter(|seconds| (900..=43_200).contains(seconds))
        .ok_or_else(|| {
            Error::invalid_spec(
                "InvalidDuration",
                "spec.durationSeconds must be within 900-43200",
            )
        })?;
    Ok(Validated {
        refresh_before,
        min_interval,
        duration_seconds,
    })
}

/// The condition reason of a failure, specific to grants where STS says more than the kind.
pub fn failure_reason(error: &Error) -> &'static str {
    match error {
        Error::Cloud(cloud) => match cloud.kind() {
            ErrorKind::NotFound => "RoleNotFound",
            ErrorKind::InvalidParameter
                if cloud
                    .code()
                    .is_some_and(|code| code.contains("DurationSeconds")) =>
            {
                "InvalidDuration"
            }
            kind => cloud_reason(kind),
        },
        other => other.reason(),
    }
}

async fn reconcile(grant: Arc<GrantRecord>, gctx: Arc<GrantContext>) -> Result<Action, Error> {
    let namespace = grant.metadata.namespace.clone().unwrap_or_default();
    let name = grant.name_any();
    let span = tracing::info_span!("reconcile", kind = KIND, %namespace, %name);
    reconcile_inner(grant, gctx, namespace, name)
        .instrument(span)
        .await
}

async fn reconcile_inner(
    grant: Arc<GrantRecord>,
    gctx: Arc<GrantContext>,
    namespace: String,
    name: String,
) -> Result<Action, Error> {
    let ctx = &gctx.ctx;
    let _timer = ctx.metrics.reconcile_started(KIND);
    let grant_key = key(grant.as_ref());
    if grant.metadata.deletion_timestamp.is_some() {
        gctx.own.forget(&grant_key);
        ctx.metrics.forget_grant(&namespace, &name);
        return Ok(Action::await_change());
    }
    let now = Timestamp::now();
    // The watch event of the own last write, with nothing changed since: no work until the
    // planned wake-up.
    if let Some(wake_at) =
        gctx.own
            .echo(&grant_key, grant.metadata.resource_version.as_deref(), now)
    {
        let delay = schedule::duration_between(now, wake_at).max(PLANNED_FLOOR);
        return Ok(Action::requeue(delay));
    }
    // Without the Secret in the cache yet, wait for the list (not holding a slot) rather than
    // read it.
    let mut cached = gctx.secrets.get(&namespace, grant.secret_name());
    if cached.is_none() {
        gctx.secrets.listed_by(gctx.list_deadline).await;
        cached = gctx.secrets.get(&namespace, grant.secret_name());
    }
    let _slot = slots(cached.as_deref(), now).acquire().await.ok();
    // Boxed: at start-up every grant's reconcile is a live future waiting above, and the
    // work below (HTTP requests, signing) would size each of them at kilobytes; this way only
    // the 32 in slots carry it.
    Box::pin(serve(grant, &gctx, &namespace, &name, &grant_key)).await
}

/// A reconcile in a slot: decide, refresh when due, write the status.
async fn serve(
    record: Arc<GrantRecord>,
    gctx: &GrantContext,
    namespace: &str,
    name: &str,
    grant_key: &str,
) -> Result<Action, Error> {
    let ctx = &gctx.ctx;
    let begun = gctx.own.begin(grant_key);
    let now = Timestamp::now();
    let grants: Api<StsGrant> = Api::namespaced(ctx.kube.clone(), namespace);
    // The cached object can lag behind this controller's own last status write (the Secret's
    // watch event may arrive first); deciding and writing from it would undo that write, e.g.
    // lose a pending rollout. Then one read gives the current status; a cache that already
    // shows the own last write (or a process that has not written the grant yet) is current.
    // A record that does not decode (it cannot: it is the grant's own JSON) is read afresh.
    let cached = gctx
        .own
        .cache_is_current(grant_key, record.meta().resource_version.as_deref())
        .then(|| record.grant().ok())
        .flatten();
    let (grant, read) = match cached {
        Some(grant) => (grant, Ok(())),
        None => match grants.get_opt(name).await {
            Ok(Some(fresh)) => (fresh, Ok(())),
            Ok(None) => return Ok(Action::await_change()),
            Err(error) => match record.grant() {
                Ok(grant) => (grant, Err(Error::Kube(error))),
                Err(_) => return Err(Error::Kube(error)),
            },
        },
    };
    let old_status = grant.status.clone().unwrap_or_default();
    // What the Secret served before this reconcile, for the failure status.
    let mut served = None;
    let written = async {
        read?;
        let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), namespace);
        let existing = own_secret(gctx, &secrets, grant_key, namespace, &grant).await?;
        served = existing
            .as_ref()
            .map(|secret| secret.served(output::wants_cli_config(&grant)));
        if let Some(secret) = &existing {
            check_secret_is_ours(&grant, secret)?;
        }
        let Outcome {
            status,
            wake_at,
            events,
        } = apply(gctx, &grant, &secrets, served.as_ref(), &old_status, now).await?;
        // The Events and the status write at once: one API round trip less per refresh for
        // the 32 reconcile slots (the Events never fail the reconcile, and are published also
        // when the status write fails: the credentials were obtained).
        let write_status = async {
            if status == old_status {
                return Ok(grant.metadata.resource_version.clone());
            }
            let written = apply_status_object(&grants, name, &status).await?;
            Ok::<_, Error>(written.metadata.resource_version)
        };
        let ((), version) = tokio::join!(publish(ctx, &grant, events), write_status);
        Ok::<_, Error>((wake_at, version?))
    }
    .await;
    let (planned, version) = match written {
        Ok(written) => written,
        Err(error) => {
            return fail(
                gctx,
                &grant,
                &grants,
                &old_status,
                served.as_ref(),
                error,
                now,
            )
            .await;
        }
    };
    ctx.reset_backoff(grant_key);
    let ceiling = ctx.resync_after(grant_key);
    let done = Timestamp::now();
    let delay = schedule::delay_until(done, planned, PLANNED_FLOOR, ceiling);
    let wake_at = done
        .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
        .unwrap_or(done);
    gctx.own
        .settled(grant_key, begun, version.as_deref(), wake_at);
    tracing::debug!(?delay, wake_at = %planned, "credentials served");
    Ok(Action::requeue(delay))
}

/// The grant's Secret as served now: from the Secret cache when it can be trusted (see
/// [`cache`]), else read.
async fn own_secret(
    gctx: &GrantContext,
    secrets: &Api<Secret>,
    grant_key: &str,
    namespace: &str,
    grant: &StsGrant,
) -> Result<Option<Arc<CachedSecret>>, kube::Error> {
    if let Some(cached) = gctx.secrets.get(namespace, grant.secret_name())
        && gctx
            .own
            .secret_cache_is_current(grant_key, cached.resource_version.as_deref())
    {
        return Ok(Some(cached));
    }
    let read = secrets.get_opt(grant.secret_name()).await?;
    Ok(read.map(|secret| Arc::new(CachedSecret::from_secret(&secret))))
}

/// A Secret of the same name that the operator did not write for this grant is never
/// overwritten.
fn check_secret_is_ours(grant: &StsGrant, secret: &CachedSecret) -> Result<(), Error> {
    let ours = secret.written_for.is_some() && secret.written_for == grant.metadata.name;
    if ours {
        Ok(())
    } else {
        Err(Error::Conflict {
            reason: "SecretNotOwned",
            message: format!(
                "Secret {} exists and was not written by ram-operator for this grant: choose \
                 another spec.secretName or delete that Secret",
                grant.secret_name()
            ),
        })
    }
}

/// What a successful reconcile leaves behind.
struct Outcome {
    status: StsGrantStatus,
    /// The next moment the grant needs attention (refresh or restart).
    wake_at: Timestamp,
    /// Events about the refresh, published together with the status write.
    events: Vec<RefreshEvent>,
}

/// An Event of a refresh, published after the Secret is written.
struct RefreshEvent {
    type_: EventType,
    reason: &'static str,
    note: String,
    /// Its note never repeats ([`Context::event_once`]).
    once: bool,
}

/// Publishes `events` about `grant`; failures are logged only.
async fn publish(ctx: &super::Context, grant: &StsGrant, events: Vec<RefreshEvent>) {
    let reference = grant.object_ref(&());
    for event in events {
        if event.once {
            ctx.event_once(&reference, event.type_, event.reason, "Refresh", event.note)
                .await;
        } else {
            ctx.event(&reference, event.type_, event.reason, "Refresh", event.note)
                .await;
        }
    }
}

async fn apply(
    gctx: &GrantContext,
    grant: &StsGrant,
    secrets: &Api<Secret>,
    served: Option<&Served>,
    old_status: &StsGrantStatus,
    now: Timestamp,
) -> Result<Outcome, Error> {
    let ctx = &gctx.ctx;
    let validated = validate(grant)?;
    let role_arn = resolve::role_arn(&ctx.kube, grant).await?;
    let source = resolve::source(
        &ctx.kube,
        &gctx.sources,
        ctx.settings.default_credentials.as_ref(),
        grant,
    )
    .await?;
    let generation = grant.metadata.generation;
    let wanted = Wanted {
        generation: generation.unwrap_or_default(),
        role_arn: &role_arn,
        source_access_key_id: &source.access_key_id,
        cli_config: output::wants_cli_config(grant),
    };
    let mut events = Vec::new();
    let (mut status, next_refresh) = match decide(now, &wanted, served) {
        Decision::Wait(until) => {
            let Some(served) = served else {
                return Err(Error::waiting("NoCredentials", "no Secret to serve"));
            };
            let status = output::healthy_status(old_status, generation, served, None, now);
            (status, until)
        }
        Decision::Refresh(reason) => {
            if reason == RefreshReason::Due
                && let Some(scheduled) = served.and_then(|served| served.next_refresh)
            {
                let late = schedule::duration_between(scheduled, now);
                ctx.metrics.refresh_lateness.observe(late.as_secs_f64());
            }
            let refreshed =
                refresh(gctx, grant, secrets, &validated, &role_arn, &source, reason).await?;
            events = refreshed.events;
            let mut status = output::healthy_status(
                old_status,
                generation,
                &refreshed.served,
                Some(refreshed.assumed_role_user),
                Timestamp::now(),
            );
            if grant.spec.rollout.is_some() {
                let replaced = served
                    .filter(|served| served.valid_at(now))
                    .and_then(|served| served.refreshed_at.zip(served.expiration));
                let pending = old_status.rollout_due_time.as_ref().map(|time| time.0);
                let deadline = rollout::deadline_after_refresh(now, replaced, pending);
                status.rollout_due_time = Some(output::time(deadline));
            }
            (status, refreshed.served.next_refresh.unwrap_or(now))
        }
    };
    let mut wake_at = next_refresh;
    if let Some(restart_at) = restart_rollout(gctx, grant, &validated, &mut status).await {
        wake_at = wake_at.min(restart_at);
    }
    if let (Some(expiration), Some(next)) = (&status.expiration, &status.next_refresh_time) {
        ctx.metrics.grant_credentials(
            grant.metadata.namespace.as_deref().unwrap_or_default(),
            &grant.name_any(),
            expiration.0,
            next.0,
        );
    }
    Ok(Outcome {
        status,
        wake_at,
        events,
    })
}

/// New credentials, written.
struct Refreshed {
    served: Served,
    assumed_role_user: AssumedRoleUser,
    /// To publish, not yet published.
    events: Vec<RefreshEvent>,
}

async fn refresh(
    gctx: &GrantContext,
    grant: &StsGrant,
    secrets: &Api<Secret>,
    validated: &Validated,
    role_arn: &str,
    source: &resolve::Source,
    reason: RefreshReason,
) -> Result<Refreshed, Error> {
    let ctx = &gctx.ctx;
    let provider = gctx.accounts.with_account(&ctx.cloud, source).await;
    let request = AssumeRoleRequest {
        role_arn: role_arn.to_owned(),
        role_session_name: session_name(grant),
        duration_seconds: Some(validated.duration_seconds),
        policy: grant.spec.policy.clone(),
        external_id: grant.spec.external_id.clone(),
        source_identity: None,
    };
    let obtained_at = Timestamp::now();
    let response = ctx
        .cloud
        .sts(provider.as_ref())
        .assume_role(&request)
        .await?;
    let credentials = &response.credentials;
    let expiration = credentials.expires_at().ok_or_else(|| {
        Error::Cloud(crate::alicloud::Error::local(
            ErrorKind::Decode,
            "AssumeRole",
            "the response has no valid Credentials.Expiration",
        ))
    })?;
    let plan = plan_refresh(
        obtained_at,
        expiration,
        validated.refresh_before,
        stable_fraction(&key(grant)),
    );
    let issued = Issued {
        access_key_id: &credentials.access_key_id,
        access_key_secret: credentials.access_key_secret.expose(),
        security_token: credentials.security_token.expose(),
        expiration,
        obtained_at,
        plan,
        role_arn,
        source_access_key_id: &source.access_key_id,
    };
    let secret = output::desired_secret(grant, &issued, &ctx.settings.region);
    let written = secrets
        .patch(
            grant.secret_name(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await?;
    gctx.own
        .wrote_secret(&key(grant), written.metadata.resource_version.as_deref());
    // The next reconcile need not wait for the watch to show the write.
    gctx.secrets.observe(&watcher::Event::Apply(written));
    let served = Served::from_secret(&secret, output::wants_cli_config(grant));
    let expires = crate::alicloud::signature::format_timestamp(expiration);
    tracing::info!(
        access_key_id = %credentials.access_key_id,
        %expires,
        refresh_at = %plan.refresh_at,
        reason = reason.describe(),
        "credentials refreshed"
    );
    // The note names the new AccessKey ID, so it never repeats: no series to fold into.
    let mut events = vec![RefreshEvent {
        type_: EventType::Normal,
        reason: "CredentialsRefreshed",
        note: format!(
            "Obtained credentials {} for {role_arn}, valid until {expires}, because {}; next \
             refresh at {}",
            credentials.access_key_id,
            reason.describe(),
            crate::alicloud::signature::format_timestamp(plan.refresh_at)
        ),
        once: true,
    }];
    // Once per spec: when the grant is first issued or its spec changed.
    if plan.shortened
        && matches!(
            reason,
            RefreshReason::SecretMissing | RefreshReason::SpecChanged
        )
    {
        events.push(RefreshEvent {
            type_: EventType::Warning,
            reason: "RefreshBeforeTooLong",
            note: format!(
                "STS granted {}s, not longer than spec.refreshBefore; refreshing {}s before \
                 expiry (a third of the lifetime) instead",
                schedule::duration_between(obtained_at, expiration).as_secs(),
                plan.refresh_before.as_secs()
            ),
            once: false,
        });
    }
    Ok(Refreshed {
        served,
        assumed_role_user: AssumedRoleUser {
            arn: response.assumed_role_user.arn.clone(),
            assumed_role_id: response.assumed_role_user.assumed_role_id.clone(),
        },
        events,
    })
}

/// Restarts the rollout targets when a pending restart is due; returns when to look again if
/// one is still pending.
async fn restart_rollout(
    gctx: &GrantContext,
    grant: &StsGrant,
    validated: &Validated,
    status: &mut StsGrantStatus,
) -> Option<Timestamp> {
    let ctx = &gctx.ctx;
    let Some(rollout) = &grant.spec.rollout else {
        status.rollout_due_time = None;
        return None;
    };
    let deadline = status.rollout_due_time.as_ref()?.0;
    let last = status.last_rollout_time.as_ref().map(|time| time.0);
    let min_interval = validated.min_interval.unwrap_or_default();
    let at = rollout::restart_at(last, min_interval, deadline);
    let now = Timestamp::now();
    if at > now {
        return Some(at);
    }
    let namespace = grant.metadata.namespace.as_deref().unwrap_or_default();
    let reference = grant.object_ref(&());
    for target in &rollout.targets {
        match rollout::restart(&ctx.kube, namespace, target, now).await {
            Ok(true) => {
                ctx.event(
                    &reference,
                    EventType::Normal,
                    "RolloutRestarted",
                    "Rollout",
                    format!(
                        "Restarted {:?} {} to load the new credentials",
                        target.kind, target.name
                    ),
                )
                .await;
            }
            Ok(false) => {
                ctx.event(
                    &reference,
                    EventType::Warning,
                    "RolloutTargetNotFound",
                    "Rollout",
                    format!(
                        "{:?} {} does not exist in {namespace}",
                        target.kind, target.name
                    ),
                )
                .await;
            }
            Err(error) => {
                tracing::warn!(%error, target = %target.name, "could not restart a rollout target");
                ctx.event(
                    &reference,
                    EventType::Warning,
                    "RolloutFailed",
                    "Rollout",
                    format!("Restarting {:?} {}: {error}", target.kind, target.name),
                )
                .await;
                // Keep the restart pending and look again shortly.
                return Some(now + MIN_REQUEUE * 5);
            }
        }
    }
    // Rounded up: the next restart must not come sooner than `minInterval` after this one.
    status.last_rollout_time = Some(output::time_ceil(now));
    status.rollout_due_time = None;
    None
}

/// Records a failure: status (only if it changed), a Warning Event, the metric; returns the
/// error for `error_policy`.
async fn fail(
    gctx: &GrantContext,
    grant: &StsGrant,
    grants: &Api<StsGrant>,
    old_status: &StsGrantStatus,
    served: Option<&Served>,
    error: Error,
    now: Timestamp,
) -> Result<Action, Error> {
    let ctx = &gctx.ctx;
    // The next reconcile takes the full path.
    gctx.own.reset(&key(grant));
    let reason = failure_reason(&error);
    let message = error.to_string();
    tracing::warn!(reason, error = %message, "StsGrant reconcile failed");
    ctx.metrics.reconcile_failed(KIND, reason);
    let failure = Failure {
        reason,
        message: &message,
        stalled: error.is_stalled(),
        refresh_failed: !matches!(error, Error::Waiting { .. }),
    };
    let status =
        output::failed_status(old_status, grant.metadata.generation, served, &failure, now);
    if status != *old_status
        && let Err(status_error) = apply_status(grants, &grant.name_any(), &status).await
    {
        tracing::warn!(error = %status_error, "could not write the failure status");
    }
    ctx.event(
        &grant.object_ref(&()),
        EventType::Warning,
        reason,
        "Refresh",
        &message,
    )
    .await;
    Err(error)
}

fn error_policy(grant: Arc<GrantRecord>, error: &Error, gctx: Arc<GrantContext>) -> Action {
    let ctx = &gctx.ctx;
    let key = key(grant.as_ref());
    let backoff = match error.retry() {
        Retry::Backoff => ctx.next_backoff(&key),
        Retry::AfterChange => ctx.resync_after(&key),
    };
    Action::requeue(retry_after_failure(
        backoff,
        Timestamp::now(),
        grant.expiration(),
    ))
}

/// The wait after a failure: the backoff, bounded by the remaining lifetime of the credentials
/// still served, and never past their expiry, so the grant turns `CredentialsExpired` at that
/// moment rather than at the next retry.
pub fn retry_after_failure(
    backoff: Duration,
    now: Timestamp,
    expiration: Option<Timestamp>,
) -> Duration {
    match expiration {
        Some(expiration) if now < expiration => {
            let until_expiry = schedule::duration_between(now, expiration) + PLANNED_FLOOR;
            schedule::retry_delay(backoff, now, expiration).min(until_expiry)
        }
        _ => backoff,
    }
    .max(PLANNED_FLOOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, F: Future>(_: impl FnOnce(A, B) -> F) -> usize {
        size_of::<F>()
    }

    /// What a grant's reconcile weighs while it waits for the list or a slot: the work in a
    /// slot is boxed, so this stays far below the kilobytes of the whole pipeline.
    #[test]
    fn a_waiting_reconcile_is_small() {
        let size = future_size(reconcile);
        assert!(size <= 1024, "the reconcile future is {size} bytes");
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn only_a_refresh_planned_well_ahead_takes_a_quick_slot() {
        let secret = |next: Option<Timestamp>| {
            let mut secret = Secret::default();
            if let Some(next) = next {
                secret.metadata.annotations = Some(
                    [(
                        decide::NEXT_REFRESH_ANNOTATION.to_string(),
                        next.to_string(),
                    )]
                    .into(),
                );
            }
            CachedSecret::from_secret(&secret)
        };
        let quick: &Semaphore = &QUICK_SLOTS;
        let due: &Semaphore = &RECONCILE_SLOTS;
        let now = at(0);
        assert!(std::ptr::eq(slots(None, now), due), "no Secret yet");
        assert!(
            std::ptr::eq(slots(Some(&secret(None)), now), due),
            "no plan"
        );
        assert!(
            std::ptr::eq(slots(Some(&secret(Some(at(-1)))), now), due),
            "overdue"
        );
        assert!(
            std::ptr::eq(slots(Some(&secret(Some(at(4)))), now), due),
            "near"
        );
        assert!(
            std::ptr::eq(slots(Some(&secret(Some(at(60)))), now), quick),
            "ahead"
        );
    }

    fn grant(extra: serde_json::Value) -> StsGrant {
        let mut spec = serde_json::json!({"roleArn": "acs:ram::1111:role/r"});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        let mut grant = StsGrant::new("app", serde_json::from_value(spec).unwrap());
        grant.metadata.namespace = Some("team-a".into());
        grant
    }

    #[test]
    fn session_names_default_to_namespace_and_name() {
        assert_eq!(session_name(&grant(serde_json::json!({}))), "team-a.app");
        let named = grant(serde_json::json!({"roleSessionName": "rabbit"}));
        assert_eq!(session_name(&named), "rabbit");
        let mut long = grant(serde_json::json!({}));
        long.metadata.name = Some("x".repeat(100));
        assert_eq!(session_name(&long).len(), 64);
    }

    #[test]
    fn validation_reads_durations() {
        let valid = validate(&grant(serde_json::json!({
            "refreshBefore": "5m",
            "rollout": {"targets": [{"kind": "Deployment", "name": "d"}], "minInterval": "30s"}
        })))
        .unwrap();
        assert_eq!(valid.refresh_before, Some(Duration::from_secs(300)));
        assert_eq!(valid.min_interval, Some(Duration::from_secs(30)));
        assert_eq!(valid.duration_seconds, 3600);
        let bad = validate(&grant(serde_json::json!({"refreshBefore": "5 minutes"})));
        assert_eq!(bad.err().map(|e| e.reason()), Some("InvalidRefreshBefore"));
    }

    #[test]
    fn sts_failures_get_grant_specific_reasons() {
        let cloud = |code: &str, status: u16| {
            Error::Cloud(crate::alicloud::Error::from_response(
                "AssumeRole",
                status,
                format!(r#"{{"Code":"{code}","Message":"m","RequestId":"r"}}"#).as_bytes(),
                None,
                &[],
            ))
        };
        assert_eq!(failure_reason(&cloud("NoPermission", 403)), "AccessDenied");
        assert_eq!(
            failure_reason(&cloud("EntityNotExist.Role", 404)),
            "RoleNotFound"
        );
        assert_eq!(
            failure_reason(&cloud("InvalidParameter.DurationSeconds", 400)),
            "InvalidDuration"
        );
        assert_eq!(failure_reason(&cloud("Throttling.User", 400)), "Throttled");
        assert_eq!(
            failure_reason(&Error::waiting(resolve::ROLE_NOT_READY, "x")),
            "RoleNotReady"
        );
    }

    #[test]
    fn retries_never_pass_the_expiry() {
        let backoff = Duration::from_secs(120);
        // Plenty of lifetime: the backoff, capped at half of what remains.
        assert_eq!(retry_after_failure(backoff, at(0), Some(at(1000))), backoff);
        // Two seconds left: at most one second.
        assert_eq!(
            retry_after_failure(backoff, at(0), Some(at(2))),
            Duration::from_secs(1)
        );
        // 0.5 s left: at the expiry (plus the floor), not a second later.
        let now = at(0);
        let expiration = now + jiff::SignedDuration::from_millis(500);
        assert_eq!(
            retry_after_failure(backoff, now, Some(expiration)),
            Duration::from_millis(510)
        );
        // Expired or unknown: the plain backoff.
        assert_eq!(retry_after_failure(backoff, at(5), Some(at(1))), backoff);
        assert_eq!(retry_after_failure(backoff, at(5), None), backoff);
    }
}
