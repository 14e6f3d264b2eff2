//! Reconciles `CrossAccountRole` objects: Account A's RAM role that trusts other accounts.
//!
//! The controller wiring, the finalizer, status and Events live here; the steps are split by
//! job: [`desired`] (validate and build, pure), [`diff`] (what differs and what the operator
//! may touch, pure), [`cloud`] (observe, reads only), [`apply`] (change only the difference),
//! [`cleanup`] (deletion policy), [`status`] (conditions, pure). Knows nothing of HTTP signing.

pub mod apply;
pub mod cleanup;
pub mod cloud;
pub mod desired;
pub mod diff;
pub mod status;

use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::{Api, Resource, ResourceExt};
use tracing::Instrument;

use super::error::{Error, Retry};
use super::latest::latest;
use super::{Context, MIN_REQUEUE, Scope, context, identity};
use crate::alicloud::ErrorKind;
use crate::crd::{CrossAccountRole, CrossAccountRoleStatus, FINALIZER};

use apply::Target;
use cleanup::Cleanup;
use cloud::Cloud;

/// The kind, for metrics, keys and the ownership tag.
pub const KIND: &str = "CrossAccountRole";

/// Runs the `CrossAccountRole` controller over `scope` until shutdown.
pub async fn run(ctx: Arc<Context>, scope: Scope) {
    let api = scope.api::<CrossAccountRole>(&ctx.kube);
    // No `.owns(..)`: this kind writes no Secrets. The credentials Secret is read on every
    // reconcile, and credential failures back off, so a fixed Secret is picked up without
    // caching Secrets here.
    Controller::new(api, ctx.settings.watcher_config())
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(object = %object.name, "reconciled"),
                Err(error) => tracing::warn!(%error, "CrossAccountRole reconcile failed"),
            }
        })
        .await;
}

fn object_key(object: &CrossAccountRole) -> String {
    format!(
        "{KIND}/{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

async fn reconcile(
    object: Arc<CrossAccountRole>,
    ctx: Arc<Context>,
) -> Result<Action, finalizer::Error<Error>> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let span = tracing::info_span!("reconcile", kind = KIND, %namespace, %name);
    async move {
        let api: Api<CrossAccountRole> = Api::namespaced(ctx.kube.clone(), &namespace);
        let key = object_key(&object);
        let object = match latest(&api, &name).await {
            Ok(Some(latest)) => latest,
            Ok(None) => return Ok(Action::await_change()),
            Err(error) => return Err(finalizer::Error::ApplyFailed(Error::from(error))),
        };
        let result = finalizer(&api, FINALIZER, object, |event| async {
            match event {
                FinalizerEvent::Apply(object) => reconcile_apply(&ctx, &api, &object).await,
                FinalizerEvent::Cleanup(object) => reconcile_cleanup(&ctx, &api, &object).await,
            }
        })
        .await;
        if result.is_ok() {
            ctx.reset_backoff(&key);
        }
        result
    }
    .instrument(span)
    .await
}

fn error_policy(
    object: Arc<CrossAccountRole>,
    error: &finalizer::Error<Error>,
    ctx: Arc<Context>,
) -> Action {
    let retry = match error {
        finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error) => {
            error.retry()
        }
        _ => Retry::Backoff,
    };
    match retry {
        Retry::Backoff => Action::requeue(ctx.next_backoff(&object_key(&object)).max(MIN_REQUEUE)),
        Retry::AfterChange => Action::requeue(ctx.settings.resync_interval.max(MIN_REQUEUE)),
    }
}

fn target<'a>(
    ctx: &'a Context,
    object: &CrossAccountRole,
    reference: &'a k8s_openapi::api::core::v1::ObjectReference,
    credentials: &'a dyn crate::alicloud::CredentialsProvider,
) -> Target<'a> {
    Target {
        ctx,
        reference,
        owner: ctx.owner_tag_value(
            &object.namespace().unwrap_or_default(),
            KIND,
            &object.name_any(),
        ),
        cloud: Cloud {
            client: &ctx.cloud,
            credentials,
        },
    }
}

async fn credentials(
    ctx: &Context,
    object: &CrossAccountRole,
) -> Result<crate::alicloud::SharedCredentialsProvider, Error> {
    identity::resolve(
        &ctx.kube,
        ctx.settings.default_credentials.as_ref(),
        &object.namespace().unwrap_or_default(),
        object.spec.credentials_ref.as_ref(),
    )
    .await
}

async fn reconcile_apply(
    ctx: &Context,
    api: &Api<CrossAccountRole>,
    object: &CrossAccountRole,
) -> Result<Action, Error> {
    let reference = object.object_ref(&());
    let previous = object.status.clone().unwrap_or_default();
    let generation = object.metadata.generation;
    let outcome = async {
        let provider = credentials(ctx, object).await?;
        let target = target(ctx, object, &reference, provider.as_ref());
        apply::apply(&target, object).await
    }
    .await;
    match outcome {
        Ok(facts) => {
            let status = status::ready(&previous, facts, generation, jiff::Timestamp::now());
            write_status(api, object, &previous, &status).await?;
            Ok(Action::requeue(
                ctx.resync_after(&object_key(object)).max(MIN_REQUEUE),
            ))
        }
        Err(error) => Err(report_failure(ctx, api, object, &reference, error, "Reconcile").await),
    }
}

async fn reconcile_cleanup(
    ctx: &Context,
    api: &Api<CrossAccountRole>,
    object: &CrossAccountRole,
) -> Result<Action, Error> {
    let reference = object.object_ref(&());
    let role_name = object.role_name().to_string();
    if cleanup::orphans(object) {
        let note = format!("deletionPolicy is Orphan: role {role_name} is left in the cloud");
        tracing::info!("{note}");
        ctx.event(
            &reference,
            EventType::Normal,
            "RoleOrphaned",
            "Cleanup",
            note,
        )
        .await;
        return Ok(Action::await_change());
    }
    let provider = match credentials(ctx, object).await {
        Ok(provider) => provider,
        Err(error) if never_reached_the_cloud(object) => {
            // Credentials that never worked created nothing; waiting for them would hold the
            // object (and its namespace) in deletion for ever.
            let note = format!(
                "role {role_name} was never created or observed ({}): nothing to delete",
                error.reason()
            );
            tracing::info!("{note}");
            ctx.event(&reference, EventType::Normal, "RoleLeft", "Cleanup", note)
                .await;
            return Ok(Action::await_change());
        }
        Err(error) => {
            return Err(report_failure(ctx, api, object, &reference, error, "Cleanup").await);
        }
    };
    let outcome = {
        let target = target(ctx, object, &reference, provider.as_ref());
        cleanup::cleanup(&target, object).await
    };
    let (reason, note) = match outcome {
        Ok(Cleanup::Deleted) => (
            "RoleDeleted",
            format!("detached every policy, deleted the inline policies and role {role_name}"),
        ),
        Ok(Cleanup::AlreadyGone) => ("RoleDeleted", format!("role {role_name} was already gone")),
        Ok(Cleanup::NotOwned) => (
            "RoleLeft",
            format!(
                "role {role_name} does not carry this object's ownership tag: it was not \
                 touched"
            ),
        ),
        // A key the cloud does not know never created anything either.
        Err(Error::Cloud(error))
            if never_reached_the_cloud(object)
                && matches!(
                    error.kind(),
                    ErrorKind::CredentialsInvalid | ErrorKind::SignatureMismatch
                ) =>
        {
            (
                "RoleLeft",
                format!(
                    "role {role_name} was never created or observed (the credentials are \
                     refused: {}): nothing to delete",
                    error.code().unwrap_or("CredentialsInvalid")
                ),
            )
        }
        Err(error) => {
            return Err(report_failure(ctx, api, object, &reference, error, "Cleanup").await);
        }
    };
    tracing::info!(reason, "{note}");
    ctx.event(&reference, EventType::Normal, reason, "Cleanup", note)
        .await;
    Ok(Action::await_change())
}

/// Whether the object never saw its role in the cloud: no status with a role id or ARN, so no
/// reconcile ever got past the credentials.
fn never_reached_the_cloud(object: &CrossAccountRole) -> bool {
    object
        .status
        .as_ref()
        .is_none_or(|status| status.role_id.is_none() && status.arn.is_none())
}

/// Sets the failure conditions, publishes a Warning Event and counts the failure; returns the
/// error for `error_policy`.
async fn report_failure(
    ctx: &Context,
    api: &Api<CrossAccountRole>,
    object: &CrossAccountRole,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    error: Error,
    action: &str,
) -> Error {
    let reason = error.reason();
    tracing::warn!(reason, %error, "{action} failed");
    ctx.metrics.reconcile_failed(KIND, reason);
    ctx.event(
        reference,
        EventType::Warning,
        reason,
        action,
        error.to_string(),
    )
    .await;
    let previous = object.status.clone().unwrap_or_default();
    let status = status::failed(
        &previous,
        &error,
        object.metadata.generation,
        jiff::Timestamp::now(),
    );
    if let Err(status_error) = write_status(api, object, &previous, &status).await {
        tracing::warn!(error = %status_error, "could not write the failure status");
    }
    error
}

/// Writes `status` unless it equals what is stored: a steady state costs no write.
async fn write_status(
    api: &Api<CrossAccountRole>,
    object: &CrossAccountRole,
    previous: &CrossAccountRoleStatus,
    status: &CrossAccountRoleStatus,
) -> Result<(), Error> {
    if object.status.is_some() && previous == status {
        return Ok(());
    }
    context::apply_status(api, &object.name_any(), status).await
}
