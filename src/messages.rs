//! Every actor message, in one vocabulary.
//!
//! Flow: the runner sends [`RunRequests`] (or [`RunConversations`], or any source as [`RunSource`]) to the
//! `RequestsLauncher`, the dispatch core. It asks the run's request source what to send, sends
//! [`ExecuteRequest`] to client actors, forwards each answer to the collector as [`RequestCompleted`], and
//! replies [`RunFinished`] when the run is over. The runner then sends [`FinishRun`] to the collector, which
//! replies with the run's typed result ([`CollectedRun`]); the report pipeline turns that into statistics and
//! files.
//!
//! Embedding code can also drive the launcher one request at a time: [`LaunchRequest`], [`GetNextReady`],
//! [`SubscribeResults`], receiving [`RequestResult`]s.
//!
//! The rest is the core's own plumbing (crate-private): the pacer's `Dispatch` and `PacerDone`, the replies
//! handed back by per-request tasks (`Replied`, `PromptCounted`), and the counting thread's `CountPrompt` and
//! `ResultCounted`.

use std::time::{Duration, Instant};

use actix::prelude::*;

use serde::Serialize;

pub use crate::actors::follow_on::{FollowOn, FollowOnState};
use crate::backend::{ClientResponse, RequestConfig};
use crate::metrics::Metrics;
use crate::report::{Exporters, RunResult};
use crate::sources::RequestSource;
use crate::workload::schedule::Schedule;

pub use crate::sources::PreparedRequest;

/// Launcher → client actor: send this request and reply with what was measured.
#[derive(Message)]
#[rtype(result = "ClientResponse")]
pub struct ExecuteRequest {
    /// The request, as the client will send it.
    pub config: RequestConfig,
    /// `Some`: a follow-on — it starts when the client has nothing else in flight, if the [`FollowOn`] still
    /// lets it then (the launcher's closed loop; see `actors/follow_on.rs`). `None`: it starts at once.
    pub follow_on: Option<std::sync::Arc<FollowOn>>,
}

impl ExecuteRequest {
    /// `config`, to start at once.
    pub fn new(config: RequestConfig) -> ExecuteRequest {
        ExecuteRequest {
            config,
            follow_on: None,
        }
    }
}

/// Runner → client actor: reply once the actor is running (so the clock starts after the pool is ready).
#[derive(Message)]
#[rtype(result = "()")]
pub struct GetReady;

/// Runner → launcher: run these requests in a closed loop (or, with a schedule, an open loop); replies when
/// every launched request has finished.
#[derive(Message)]
#[rtype(result = "RunFinished")]
pub struct RunRequests {
    /// The requests, in launch order. When `limit` is larger, they are reused cyclically.
    pub requests: Vec<PreparedRequest>,
    /// How many requests to launch in all.
    pub limit: usize,
    /// Closed loop: requests in flight. Open loop: the most in flight (more wait in a queue, never dropped).
    pub concurrency: usize,
    /// Open loop: when each request is due, in seconds from the start (at least `limit` entries): explicit
    /// offsets (`vec.into()`) or a [`Schedule::Drawn`] one, drawn as the run goes. `None` runs the closed
    /// loop.
    pub schedule: Option<Schedule>,
    /// No request is launched (scheduled, in open loop) once this much time has passed since the start.
    pub timeout: Duration,
    /// Where each finished request goes.
    pub collector: Recipient<RequestCompleted>,
    /// Requests still in flight this long after `timeout` (or after a [`StopRun`]) are recorded as
    /// cancelled; `None` waits for them however long they take.
    pub grace: Option<Duration>,
}

/// Runner (on Ctrl-C / SIGTERM) → launcher: launch nothing more; requests still in flight after `grace` are
/// recorded as cancelled and the run finishes. No reply.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopRun {
    /// How long requests in flight may still finish.
    pub grace: Duration,
}

impl RunRequests {
    /// A closed loop over `requests`, each sent once, `concurrency` at a time.
    pub fn closed_loop(
        requests: Vec<PreparedRequest>,
        concurrency: usize,
        timeout: Duration,
        collector: Recipient<RequestCompleted>,
    ) -> RunRequests {
        RunRequests {
            limit: requests.len(),
            requests,
            concurrency,
            schedule: None,
            timeout,
            collector,
            grace: None,
        }
    }
}

/// Runner → launcher: run multi-turn conversations in a closed loop; replies [`RunFinished`] when the last one
/// is done. Turn `k` of conversation `c` is built from `turns[c · turns_per_conversation + k]`
/// (its user message(s) and `max_tokens`) and the conversation so far, the model's replies included.
#[derive(Message)]
#[rtype(result = "RunFinished")]
pub struct RunConversations {
    /// One template per turn, conversation-major.
    pub turns: Vec<PreparedRequest>,
    /// Turns per conversation (at least 1).
    pub turns_per_conversation: usize,
    /// Conversations in flight at once.
    pub concurrency: usize,
    /// No turn is sent once this much time has passed since the start.
    pub timeout: Duration,
    /// Where each finished request goes.
    pub collector: Recipient<RequestCompleted>,
    /// Turns still in flight this long after `timeout` (or after a [`StopRun`]) are recorded as cancelled;
    /// `None` waits for them however long they take.
    pub grace: Option<Duration>,
}

/// Runner or user → launcher: run this request source (any load mode, see [`crate::sources`]); replies
/// [`RunFinished`] when it is done and nothing it sent is in flight.
#[derive(Message)]
#[rtype(result = "RunFinished")]
pub struct RunSource {
    /// What to send and when.
    pub source: Box<dyn RequestSource>,
    /// Nothing is sent (or, for a request with a scheduled offset, due) once this much time has passed since
    /// the start.
    pub timeout: Duration,
    /// Where each finished request goes.
    pub collector: Recipient<RequestCompleted>,
    /// Requests still in flight this long after `timeout` (or after a [`StopRun`]) are recorded as
    /// cancelled; `None` waits for them however long they take.
    pub grace: Option<Duration>,
}

/// Launcher → runner (reply to [`RunRequests`], [`RunConversations`] and [`RunSource`]).
#[derive(Debug, Clone, Copy)]
pub struct RunFinished {
    /// When the clock started (the pool was ready).
    pub started: Instant,
    /// When the last request finished.
    pub ended: Instant,
    /// Requests sent.
    pub launched: usize,
    /// Whether the timeout stopped launches (or passed during the run).
    pub timed_out: bool,
    /// Open loop: requests that had to wait for a free slot (`--max-concurrency`).
    pub queued: usize,
    /// When a [`StopRun`] stopped the run (Ctrl-C / SIGTERM in the binary); `None` when it ran its course.
    pub stopped_at: Option<Instant>,
}

/// Launcher → collector: one request finished (successfully or not). No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RequestCompleted {
    /// Position of the request in the run's prompt list.
    pub index: usize,
    /// The request that was sent.
    pub request: PreparedRequest,
    /// What the client measured.
    pub response: ClientResponse,
    /// Seconds from the start of the run to the start of this request.
    pub start_offset_s: f64,
    /// Seconds from the start of the run to when the request was due (= `start_offset_s` in a closed loop).
    pub scheduled_start_s: f64,
}

/// Runner → collector: the run is over; reply with its typed result and its exporters.
#[derive(Message)]
#[rtype(result = "CollectedRun")]
pub struct FinishRun {
    /// When the clock started.
    pub started: Instant,
    /// When the last request finished.
    pub ended: Instant,
    /// Requests sent.
    pub launched: usize,
    /// Open loop: requests that had to wait for a free slot.
    pub queued: usize,
}

/// Collector → runner (reply to [`FinishRun`]): what the run recorded, and the exporters that saw each record
/// arrive, to be fed the finished run.
#[derive(Debug)]
pub struct CollectedRun {
    /// The run's typed result.
    pub result: RunResult,
    /// Its outputs.
    pub exporters: Exporters,
}

/// User → launcher: queue one request; it is sent as soon as a client is free. No reply.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct LaunchRequest(pub RequestConfig);

/// User → launcher: the next finished request launched with [`LaunchRequest`]. With `block: false` it answers
/// at once (`None` if nothing is ready); with `block: true` it waits for the next one to finish (`None` once
/// nothing is queued or in flight).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Option<RequestResult>")]
pub struct GetNextReady {
    /// Wait for the next result instead of answering at once.
    pub block: bool,
}

/// User → launcher: also send every [`RequestResult`] to this recipient, as it finishes. No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeResults(pub Recipient<RequestResult>);

/// Launcher → user: one finished request, as the original's `(metrics, generated_text, request_config)`.
#[derive(Message, Debug, Clone, Serialize)]
#[rtype(result = "()")]
pub struct RequestResult {
    /// The per-request record, as in `_individual_responses.json`.
    pub metrics: Metrics,
    /// The text the model generated.
    pub generated_text: String,
    /// The request as it was sent.
    pub request_config: RequestConfig,
}

/// Launcher / collector → `Progress` actor: one tiny event per launch and per recorded result (O(1) to
/// handle). No reply.
#[derive(Message, Debug, Clone, Copy, PartialEq)]
#[rtype(result = "()")]
pub enum ProgressEvent {
    /// The launcher sent a request (it is in flight).
    Launched,
    /// The collector recorded a finished request.
    Recorded {
        /// Whether it succeeded.
        ok: bool,
        /// Its output tokens (0 when it failed).
        output_tokens: u64,
        /// Part of the warm-up.
        warmup: bool,
    },
}

/// Runner → `Progress` actor: the run is over; report the last state to the observer. Replies when done, so
/// the summary is reported after it.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct FinishProgress;

/// Pacer thread → launcher: due time `k` of timeline `timeline` of run `job` has come. No reply.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub(crate) struct Dispatch {
    /// The run.
    pub job: u64,
    /// Which of the run's paced timelines.
    pub timeline: usize,
    /// Position in the timeline.
    pub k: usize,
    /// When it was due, in seconds from the start of the run.
    pub offset: f64,
}

/// Pacer thread → launcher: a timeline ended after `dispatched` due times (`complete`: all of them; otherwise
/// the timeout or a stop cut it). No reply.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub(crate) struct PacerDone {
    /// The run.
    pub job: u64,
    /// Due times delivered.
    pub dispatched: usize,
    /// Whether the timeline was delivered to its end.
    pub complete: bool,
}

/// A request's own task → launcher: the client's reply to request `id` of run `job` (or the mailbox error).
/// No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Replied {
    /// The run.
    pub job: u64,
    /// The request's send number.
    pub id: u64,
    /// What the client measured, or why it could not.
    pub res: Result<ClientResponse, MailboxError>,
}

/// Launcher → counter (its own thread): count this prompt's tokens; replies the count.
#[derive(Message)]
#[rtype(result = "u64")]
pub(crate) struct CountPrompt(pub String);

/// A request's own task → launcher: the prompt of request `id` of run `job` was counted (`None`: the counter
/// was gone). No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PromptCounted {
    /// The run.
    pub job: u64,
    /// The request's send number.
    pub id: u64,
    /// Its prompt's tokens, BOS included.
    pub tokens: Option<u64>,
}

/// Counter → launcher: a one-at-a-time request's result, its tokens counted, for [`GetNextReady`] callers and
/// subscribers. No reply.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ResultCounted(pub RequestResult);
