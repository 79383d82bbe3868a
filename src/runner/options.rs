//! How a run is driven beyond its settings: whose clients send the requests, and what stops it.

use crate::backend::ClientFactory;
use crate::stop::StopHandle;

/// What a run needs besides its [`Settings`](crate::Settings): your own clients and a [`StopHandle`]. The
/// default runs the clients `settings.llm_api` names, with a fresh handle nobody else holds.
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
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("client", &self.client.as_ref().map(|_| "custom"))
            .field("stop", &self.stop)
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
}
