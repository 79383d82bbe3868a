//! How a run is driven beyond its settings: whose clients send the requests, and what stops it.

use std::sync::Arc;

use crate::backend::ClientFactory;
use crate::observer::{LogObserver, RunObserver};
use crate::stop::StopHandle;

/// What a run needs besides its [`Settings`](crate::Settings): your own clients, a [`StopHandle`] and a
/// [`RunObserver`]. The default runs the clients `settings.llm_api` names, with a fresh handle nobody else
/// holds, and reports to the log ([`LogObserver`]).
///
/// ```
/// use llmperf_actors::{RunOptions, StopHandle};
///
/// let stop = StopHandle::new();
/// let options = RunOptions::new().stop_handle(stop.clone());
/// // run_load_tests_with(&settings, &options) on one thread; stop.stop() from another stops it.
/// # let _ = options;
/// ```
#[derive(Clone, Default)]
pub struct RunOptions {
    pub(crate) client: Option<ClientFactory>,
    pub(crate) stop: StopHandle,
    pub(crate) observer: Option<Arc<dyn RunObserver>>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("client", &self.client.as_ref().map(|_| "custom"))
            .field("stop", &self.stop)
            .field("observer", &self.observer.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl RunOptions {
    /// The built-in clients and a fresh stop handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends the requests with clients built by `factory` (one per client actor, on its thread) instead of
    /// the ones `settings.llm_api` names. The endpoint settings still decide whether the built-in simulator
    /// starts; the reachability check is skipped.
    pub fn client(mut self, factory: ClientFactory) -> Self {
        self.client = Some(factory);
        self
    }

    /// Stops the runs when `stop` is stopped (keep a clone to call [`StopHandle::stop`] with).
    pub fn stop_handle(mut self, stop: StopHandle) -> Self {
        self.stop = stop;
        self
    }

    /// Reports each run's start, progress, notices, warnings, summary and files to `observer` as they happen
    /// (the binary's console is one; the default logs warnings and prints nothing).
    pub fn observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The observer runs report to.
    pub(crate) fn observer_or_log(&self) -> Arc<dyn RunObserver> {
        self.observer
            .clone()
            .unwrap_or_else(|| Arc::new(LogObserver))
    }
}
