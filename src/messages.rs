//! Every actor message, in one vocabulary.
//!
//! Flow: the runner sends [`RunRequests`] to the `RequestsLauncher`, which sends [`ExecuteRequest`] to free
//! client actors (at most `concurrency` at once), forwards each answer to the collector as
//! [`RequestCompleted`], and replies [`RunFinished`] when the last request is done. The runner then sends
//! [`FinishRun`] to the collector, which writes the final files and replies with the summary.

use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::backend::{ClientResponse, RequestConfig};
use crate::report::RunSummary;

/// A request ready to send: its config plus what we know of its prompt.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub config: RequestConfig,
    /// Real token count of the prompt (BOS included); `config.prompt.1` is the target length.
    pub actual_input_tokens: u64,
}

/// Launcher → client actor: send this request and reply with what was measured.
#[derive(Message)]
#[rtype(result = "ClientResponse")]
pub struct ExecuteRequest {
    pub config: RequestConfig,
}

/// Runner → client actor: reply once the actor is running (so the clock starts after the pool is ready).
#[derive(Message)]
#[rtype(result = "()")]
pub struct GetReady;

/// Runner → launcher: run these requests in a closed loop; replies when every launched request has finished.
#[derive(Message)]
#[rtype(result = "RunFinished")]
pub struct RunRequests {
    pub requests: Vec<PreparedRequest>,
    /// At most this many requests in flight.
    pub concurrency: usize,
    /// No request is launched once this much time has passed since the start.
    pub timeout: Duration,
    /// Where each finished request goes.
    pub collector: Recipient<RequestCompleted>,
}

/// Launcher → runner (reply to [`RunRequests`]).
#[derive(Debug, Clone, Copy)]
pub struct RunFinished {
    pub started: Instant,
    pub ended: Instant,
    pub launched: usize,
    pub timed_out: bool,
}

/// Launcher → collector: one request finished (successfully or not). No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RequestCompleted {
    /// Position of the request in the run's prompt list.
    pub index: usize,
    pub request: PreparedRequest,
    pub response: ClientResponse,
    /// Seconds from the start of the run to the start of this request.
    pub start_offset_s: f64,
}

/// Runner → collector: the run is over; compute the summary, write the final files, reply with the summary.
#[derive(Message)]
#[rtype(result = "Result<RunSummary, crate::Error>")]
pub struct FinishRun {
    pub started: Instant,
    pub ended: Instant,
}
