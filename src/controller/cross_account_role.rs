//! Reconciles `CrossAccountRole` objects. (Being written: the controller is not wired up yet.)

use std::sync::Arc;

use super::{Context, Scope};

/// Runs the `CrossAccountRole` controller over `scope` until shutdown.
pub async fn run(ctx: Arc<Context>, scope: Scope) {
    let _ = (ctx, scope);
    std::future::pending::<()>().await
}
