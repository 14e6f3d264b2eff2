//! The latest version of an object, read at the start of a reconcile.
//!
//! The controller's cache can lag behind the status this process wrote a moment ago. A
//! reconcile that works from the cached object would take its memory (ids, attached policies,
//! login profile, key creation intent) from an older status and write that older memory back,
//! or redo cloud work already done. One GET per reconcile costs little for kinds that change
//! rarely; StsGrant, where it would cost one request per refresh, has its own cheaper check.

use std::fmt::Debug;
use std::sync::Arc;

use kube::Api;
use serde::de::DeserializeOwned;

/// The object `name` as the API server has it now; `None` when it is gone.
pub async fn latest<K>(api: &Api<K>, name: &str) -> Result<Option<Arc<K>>, kube::Error>
where
    K: Clone + DeserializeOwned + Debug,
{
    Ok(api.get_opt(name).await?.map(Arc::new))
}
