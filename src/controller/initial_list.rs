//! How the controllers' watches fetch the objects that exist when they start.
//!
//! A paged list brings 500 objects per response: at 10,000 grants that is a 1.2 MB page of
//! Secrets (credentials included) plus one of grants, decoded whole while the previous page is
//! still being cached, on every start and every re-list. A streaming list (a watch with
//! `sendInitialEvents`, Kubernetes' `WatchList`) brings the same objects one event at a time.
//! The API server's `WatchList` gate is on by default in Kubernetes 1.34 and later, off in 1.33
//! (which rejects the request with 422) and may be turned off by an administrator, so `auto`
//! asks the API server once at start-up and falls back to pages.

use std::time::Duration;

use std::fmt::Debug;

use kube::api::{Api, WatchParams};
use kube::runtime::watcher;
use serde::de::DeserializeOwned;

/// The `--initial-list` choice.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitialList {
    /// Streaming lists where the API server serves them, pages otherwise.
    #[default]
    Auto,
    /// Streaming lists (fails to start watching where the API server refuses them).
    Stream,
    /// Paged lists of 500 objects.
    Page,
}

/// What the watches use, once `auto` is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy {
    Stream,
    Page,
}

impl ListStrategy {
    /// A watcher configuration (labels and the like still to be added) for this strategy.
    pub fn watcher_config(self) -> watcher::Config {
        match self {
            Self::Stream => watcher::Config::default().streaming_lists(),
            Self::Page => watcher::Config::default(),
        }
    }
}

/// A name no object has: the probe watch must not stream the whole collection.
const PROBE_NAME: &str = "ram-operator-watch-list-probe";

/// Decides `choice` against the API server: for `auto`, one streaming watch of `api`'s
/// collection (the operator's StsGrants) restricted to a name no object has.
pub async fn resolve<K>(choice: InitialList, api: &Api<K>) -> ListStrategy
where
    K: Clone + DeserializeOwned + Debug,
{
    let strategy = match choice {
        InitialList::Stream => ListStrategy::Stream,
        InitialList::Page => ListStrategy::Page,
        InitialList::Auto => {
            let params = WatchParams::streaming_lists()
                .fields(&format!("metadata.name={PROBE_NAME}"))
                .timeout(1);
            // The answer's status is all that counts; the stream itself is dropped unread.
            let probe = tokio::time::timeout(Duration::from_secs(10), api.watch(&params, "0"));
            match probe.await {
                Ok(result) => strategy_for(result.map(drop)),
                Err(_) => ListStrategy::Page,
            }
        }
    };
    tracing::info!(?choice, ?strategy, "initial list strategy decided");
    strategy
}

/// Streaming where the probe watch was accepted. A refusal (`WatchList` off: 422 Invalid,
/// or 400 from servers too old to know the parameter) and any other failure mean pages, which
/// every API server serves.
fn strategy_for(probe: Result<(), kube::Error>) -> ListStrategy {
    match probe {
        Ok(()) => ListStrategy::Stream,
        Err(error) => {
            tracing::info!(%error, "the API server refused a streaming list; using paged lists");
            ListStrategy::Page
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use kube::runtime::watcher::InitialListStrategy;

    #[test]
    fn an_accepted_probe_streams_and_a_refused_one_pages() {
        assert_eq!(strategy_for(Ok(())), ListStrategy::Stream);
        let refused = kube::Error::Api(
            Status::failure(
                "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                "Invalid",
            )
            .with_code(422)
            .boxed(),
        );
        assert_eq!(strategy_for(Err(refused)), ListStrategy::Page);
    }

    #[test]
    fn the_strategy_picks_the_watchers_initial_list() {
        assert_eq!(
            ListStrategy::Stream.watcher_config().initial_list_strategy,
            InitialListStrategy::StreamingList
        );
        assert_eq!(
            ListStrategy::Page.watcher_config().initial_list_strategy,
            InitialListStrategy::ListWatch
        );
    }
}
