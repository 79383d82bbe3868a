//! Requests in flight, as the launcher and the conversation driver both keep them: each awaited by a task of
//! its own (see `RequestsLauncher::send` for why not a future in the actor's context), and recorded as
//! cancelled when a stopped run's grace period ends.

use std::collections::HashMap;
use std::time::Instant;

use actix::Recipient;

use crate::backend::ClientResponse;
use crate::messages::{PreparedRequest, RequestCompleted};

/// One request in flight: what is needed to record it as cancelled.
pub(super) struct InFlight {
    /// The task awaiting the client's reply (aborted when the request is cancelled).
    pub task: actix_rt::task::JoinHandle<()>,
    /// Its index in the run's request list.
    pub index: usize,
    pub request: PreparedRequest,
    /// Open loop: when it was due, in seconds from the run's start.
    pub scheduled: Option<f64>,
    pub sent_at: Instant,
}

/// Aborts every request in `flying` and sends each to `collector` as cancelled, in send order; `what` names
/// them in the warning ("requests", "turns"). Returns how many there were.
pub(super) fn cancel_all(
    flying: &mut HashMap<u64, InFlight>,
    run_started: Instant,
    collector: &Recipient<RequestCompleted>,
    what: &str,
) -> usize {
    let into_run = run_started.elapsed();
    let mut cancelled: Vec<(u64, InFlight)> = flying.drain().collect();
    cancelled.sort_by_key(|(k, _)| *k);
    if !cancelled.is_empty() {
        log::warn!(
            "{} {what} still in flight after the grace period: recorded as cancelled",
            cancelled.len()
        );
    }
    let n = cancelled.len();
    for (_, f) in cancelled {
        f.task.abort();
        let start_offset_s = f
            .sent_at
            .saturating_duration_since(run_started)
            .as_secs_f64();
        collector.do_send(RequestCompleted {
            index: f.index,
            request: f.request,
            response: ClientResponse::cancelled(f.sent_at, into_run),
            start_offset_s,
            scheduled_start_s: f.scheduled.unwrap_or(start_offset_s),
        });
    }
    n
}
