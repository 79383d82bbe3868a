//! One run in the dispatch core: its source, its requests in flight (each awaited by a task of its own), its
//! limits (timeout, stop) and what it reports when it ends. The embedders' one-at-a-time session is a job
//! too, one that never ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{MailboxError, Recipient};
use serde_json::Value;
use tokio::sync::oneshot;

use super::clients::Clients;
use crate::actors::follow_on::{FollowOn, FollowOnState};
use crate::actors::pacer::Pacer;
use crate::backend::ClientResponse;
use crate::error_kind::ErrorKind;
use crate::messages::{RequestCompleted, RunFinished};
use crate::metrics::{Measured, StreamTimings, Usage};
use crate::sources::{Now, Outgoing, PreparedRequest, RequestSource};

/// One request in flight: what is needed to record it, or to record it as cancelled.
pub(super) struct InFlight {
    /// The task awaiting the client's reply (aborted when the request is cancelled).
    pub task: actix_rt::task::JoinHandle<()>,
    /// Its index in the run.
    pub index: usize,
    pub request: PreparedRequest,
    /// When it was due, in seconds from the run's start (`None`: when it was sent).
    pub scheduled: Option<f64>,
    pub sent_at: Instant,
    pub client: usize,
    /// `Some`: a follow-on, whose start the client decides (see `actors/follow_on.rs`).
    pub follow_on: Option<Arc<FollowOn>>,
    /// Counted in the live progress as launched (a follow-on is, once the request before it has ended).
    pub counted: bool,
}

impl InFlight {
    /// When it left: `None` for a follow-on that has not started (or never will).
    pub fn started(&self) -> Option<Instant> {
        match self.follow_on.as_deref().map(FollowOn::state) {
            None => Some(self.sent_at),
            Some(FollowOnState::Started(at)) => Some(at),
            Some(_) => None,
        }
    }
}

/// A run (or the embedders' session) in the dispatch core.
pub(super) struct Job {
    pub id: u64,
    pub source: Box<dyn RequestSource>,
    pub started: Instant,
    /// Nothing is sent (or due) after this long.
    pub timeout: Duration,
    /// Where each result goes.
    pub sink: Recipient<RequestCompleted>,
    /// A run replies when it ends; `None`: the embedders' session, which never ends.
    pub reply: Option<oneshot::Sender<RunFinished>>,
    /// Requests sent, by send number.
    pub flying: HashMap<u64, InFlight>,
    /// Requests accepted from the source whose prompt is being counted, with their client.
    pub preparing: HashMap<u64, (Outgoing, usize)>,
    pub pacers: Vec<Pacer>,
    /// Timelines started, and those still being paced.
    pub timelines: usize,
    pub pacing: usize,
    /// Round-robin position over the clients.
    pub turn: usize,
    pub launched: usize,
    pub queued: usize,
    /// The core still asks the source (false once it is done, refused for the timeout, or stopped).
    pub asking: bool,
    /// The source said it is done.
    pub done: bool,
    /// Stopped ([`StopRun`](crate::messages::StopRun) or the grace period's end): nothing more is sent.
    pub stopped: bool,
    /// The timeout refused a request or cut a timeline short.
    pub timed_out: bool,
    /// When a [`StopRun`](crate::messages::StopRun) stopped it (a signal), if one did.
    pub stop_requested: Option<Instant>,
}

impl Job {
    /// A job for `source`, started now.
    pub fn new(
        id: u64,
        source: Box<dyn RequestSource>,
        (started, timeout): (Instant, Duration),
        sink: Recipient<RequestCompleted>,
        reply: Option<oneshot::Sender<RunFinished>>,
    ) -> Job {
        Job {
            id,
            source,
            started,
            timeout,
            sink,
            reply,
            flying: HashMap::new(),
            preparing: HashMap::new(),
            pacers: Vec::new(),
            timelines: 0,
            pacing: 0,
            turn: 0,
            launched: 0,
            queued: 0,
            asking: true,
            done: false,
            stopped: false,
            timed_out: false,
            stop_requested: None,
        }
    }

    /// Whether this is the embedders' session.
    pub fn is_session(&self) -> bool {
        self.reply.is_none()
    }

    /// Requests accepted from the source and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.flying.len() + self.preparing.len()
    }

    /// What the source is told.
    pub fn now(&self, clients: &Clients) -> Now {
        Now {
            offset: self.started.elapsed().as_secs_f64(),
            in_flight: self.in_flight(),
            idle_clients: clients.idle(),
            clients: clients.len(),
        }
    }

    /// Whether `out` comes too late: due (or, unscheduled, sent) at or after the timeout.
    pub fn too_late(&self, out: &Outgoing, now: &Now) -> bool {
        out.scheduled.unwrap_or(now.offset) >= self.timeout.as_secs_f64()
    }

    /// Asks the source nothing more and stops its pacers.
    pub fn halt(&mut self) {
        self.asking = false;
        for p in &self.pacers {
            p.stop();
        }
    }

    /// A run is over when nothing is in flight and nothing more can be sent: the source is done, the timeout
    /// or a stop ended it, or the timeout cut its timeline and nothing it queued is left.
    pub fn over(&self) -> bool {
        !self.is_session()
            && self.in_flight() == 0
            && (!self.asking || (self.pacing == 0 && self.timed_out))
    }

    /// When a follow-on of this run would start too late: at its timeout.
    pub fn deadline(&self) -> Option<Instant> {
        self.started.checked_add(self.timeout)
    }

    /// Withdraws the follow-ons that have not started: they are never sent, so they are no longer counted
    /// as launched and free their clients. Returns how many of them the live progress had counted.
    pub fn withdraw_follow_ons(&mut self, clients: &mut Clients) -> u64 {
        let withdrawn: Vec<u64> = self
            .flying
            .iter()
            .filter(|(_, f)| {
                f.follow_on
                    .as_deref()
                    .is_some_and(|g| g.withdraw() == FollowOnState::NotStarted)
            })
            .map(|(&id, _)| id)
            .collect();
        let mut counted = 0;
        for id in withdrawn {
            if let Some(f) = self.flying.remove(&id) {
                counted += u64::from(self.unsent(id, &f, clients));
            }
        }
        counted
    }

    /// `f`, follow-on `id`, was never sent: uncounts it and frees its client; whether the live progress had
    /// counted it.
    pub fn unsent(&mut self, id: u64, f: &InFlight, clients: &mut Clients) -> bool {
        f.task.abort();
        self.launched -= 1;
        clients.release(f.client);
        if clients.follow_on(f.client) == Some((self.id, id)) {
            clients.clear_follow_on(f.client);
        }
        f.counted
    }

    /// Records every request in flight as cancelled (aborting its task, freeing its client), in send order,
    /// and drops those still being prepared or queued as follow-ons (never sent). The run is stopped.
    /// Returns how many withdrawn follow-ons the live progress had counted.
    pub fn cancel_in_flight(&mut self, clients: &mut Clients) -> u64 {
        self.stopped = true;
        self.halt();
        for (_, slot) in self.preparing.drain().map(|(_, p)| p) {
            clients.release(slot);
        }
        let uncounted = self.withdraw_follow_ons(clients);
        let into_run = self.started.elapsed();
        let mut cancelled: Vec<(u64, InFlight)> = self.flying.drain().collect();
        cancelled.sort_by_key(|(k, _)| *k);
        if !cancelled.is_empty() {
            log::warn!(
                "{} requests still in flight after the grace period: recorded as cancelled",
                cancelled.len()
            );
        }
        for (id, f) in cancelled {
            f.task.abort();
            clients.release(f.client);
            if clients.follow_on(f.client) == Some((self.id, id)) {
                clients.clear_follow_on(f.client);
            }
            // Every follow-on left is one that started (the rest were withdrawn above).
            let sent_at = f.started().unwrap_or(f.sent_at);
            let start_offset_s = sent_at
                .saturating_duration_since(self.started)
                .as_secs_f64();
            self.sink.do_send(RequestCompleted {
                index: f.index,
                request: f.request,
                response: ClientResponse::cancelled(sent_at, into_run),
                start_offset_s,
                scheduled_start_s: f.scheduled.unwrap_or(start_offset_s),
            });
        }
        uncounted
    }

    /// Ends the run: stops its pacers and replies.
    pub fn finish(mut self) {
        self.halt();
        let timed_out = self.timed_out || (!self.done && self.started.elapsed() >= self.timeout);
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(RunFinished {
                started: self.started,
                ended: Instant::now(),
                launched: self.launched,
                timed_out,
                queued: self.queued,
                stopped_at: self.stop_requested,
            });
        }
    }
}

/// The record of a request whose client actor is gone.
pub(super) fn client_unavailable(e: MailboxError) -> ClientResponse {
    ClientResponse {
        started: Instant::now(),
        measured: Measured {
            timings: StreamTimings::default(),
            usage: Usage::default(),
            error: Some((Value::from(-1), format!("client actor unavailable: {e}"))),
            error_kind: Some(ErrorKind::ClientUnavailable),
        },
        generated_text: String::new(),
        reasoning_text: String::new(),
    }
}
