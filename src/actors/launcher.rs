//! `RequestsLauncher`: hands requests to a pool of client actors, at most one request per client at a time,
//! and keeps the closed loop going.
//!
//! Two ways to drive it:
//! - **A closed-loop run** ([`RunRequests`] without a schedule): it starts up to `concurrency` requests; each
//!   time one finishes it forwards the result to the run's collector and hands the next request to the
//!   now-free client, until `limit` requests are sent or the timeout passes, then replies [`RunFinished`]. It
//!   never sends more than `limit` (the original sends up to C − 1 extra requests and discards them).
//!   Requests in flight at the timeout are awaited and recorded.
//! - **An open-loop run** (with a schedule): a [`Pacer`] thread says when each request is due; the launcher
//!   sends it to the next client round-robin (a client actor may then have many requests in flight), or —
//!   when `concurrency` requests are already in flight (`--max-concurrency`) — queues it until one finishes.
//!   Queued requests are counted and sent late, never dropped; each record carries its scheduled start.
//! - **One request at a time**, like the original's `RequestsLauncher` in a user's own code:
//!   [`LaunchRequest`] queues a request (sent as soon as a client is free), [`GetNextReady`] returns the next
//!   finished `(Metrics, generated text, RequestConfig)` — waiting for it or not — and [`SubscribeResults`]
//!   sends every finished result to a recipient as well.
//!
//! Stopping: with a `grace` in [`RunRequests`], requests still in flight `grace` after the timeout are
//! recorded as cancelled (error kind `cancelled`) and the run finishes, so a stalled endpoint cannot hold it
//! forever. [`StopRun`] (sent on Ctrl-C / SIGTERM) stops launching at once and does the same after its grace.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::Value;
use tokio::sync::oneshot;

use super::in_flight::{InFlight, cancel_all};
use super::pacer::{Dispatch, Pacer, PacerDone};
use super::progress::ProgressTally;
use crate::backend::{ClientResponse, RequestConfig};
use crate::error_kind::ErrorKind;
use crate::messages::{
    ExecuteRequest, GetNextReady, LaunchRequest, PreparedRequest, ProgressEvent, RequestCompleted,
    RequestResult, RunFinished, RunRequests, StopRun, SubscribeResults,
};
use crate::metrics::{Measured, StartTimes, StreamTimings, Usage, compute_metrics};
use crate::tokenizer::{TokenCount, Tokenizer};

/// The launcher actor. Create it with the client recipients of a [`ClientPool`](super::ClientPool).
pub struct RequestsLauncher {
    clients: Vec<Recipient<ExecuteRequest>>,
    /// Clients with no request in flight.
    idle: Vec<usize>,
    created: Instant,
    run: Option<Run>,
    single: Single,
    /// Counts every run request sent (live progress).
    progress: Option<ProgressTally>,
    /// Numbers the runs, so a grace timer of an earlier run does nothing to a later one.
    runs: u64,
    /// Numbers the requests sent.
    sent: u64,
}

/// State of the run in progress.
struct Run {
    /// The request pool; request `k` uses `pool[k % pool.len()]`.
    pool: Vec<PreparedRequest>,
    /// How many requests to launch in all.
    limit: usize,
    /// Requests launched so far (the next `k` in a closed loop).
    launched: usize,
    concurrency: usize,
    in_flight: usize,
    started: Instant,
    timeout: Duration,
    timed_out: bool,
    collector: Recipient<RequestCompleted>,
    reply: Option<oneshot::Sender<RunFinished>>,
    open: Option<OpenLoop>,
    /// Which run this is (see `RequestsLauncher::runs`).
    id: u64,
    /// Stopped by [`StopRun`]: nothing more is launched.
    stopped: bool,
    /// The run's requests in flight, by send number.
    flying: HashMap<u64, InFlight>,
}

/// Open-loop state: requests waiting for a slot (position and due offset), the pacer (which holds the
/// schedule).
struct OpenLoop {
    waiting: VecDeque<(usize, f64)>,
    queued: usize,
    next_client: usize,
    pacer: Pacer,
    pacer_done: bool,
}

impl Run {
    fn request(&self, k: usize) -> PreparedRequest {
        self.pool[k % self.pool.len()].clone()
    }
}

/// State of requests launched one at a time.
#[derive(Default)]
struct Single {
    queue: VecDeque<RequestConfig>,
    in_flight: usize,
    ready: VecDeque<RequestResult>,
    waiters: VecDeque<oneshot::Sender<Option<RequestResult>>>,
    subscribers: Vec<Recipient<RequestResult>>,
    tokenizer: Option<Tokenizer>,
}

/// A client's reply to request `id`, handed to the launcher by the task that awaited it.
struct Replied {
    id: u64,
    slot: usize,
    origin: Origin,
    res: Result<ClientResponse, MailboxError>,
}

impl Message for Replied {
    type Result = ();
}

impl Handler<Replied> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: Replied, ctx: &mut Context<Self>) {
        self.on_done(msg.id, msg.slot, msg.origin, msg.res, ctx);
    }
}

/// Where a finished request goes.
enum Origin {
    Run {
        index: usize,
        request: PreparedRequest,
        /// Open loop: when it was due, in seconds from the run's start.
        scheduled: Option<f64>,
    },
    Single {
        config: RequestConfig,
    },
}

impl RequestsLauncher {
    /// A launcher over these clients (each gets at most one request at a time).
    pub fn new(clients: Vec<Recipient<ExecuteRequest>>) -> Self {
        let idle = (0..clients.len()).rev().collect();
        RequestsLauncher {
            clients,
            idle,
            created: Instant::now(),
            run: None,
            single: Single::default(),
            progress: None,
            runs: 0,
            sent: 0,
        }
    }

    /// Counts tokens of results launched one at a time with this tokenizer (default: the embedded Llama one).
    pub fn with_tokenizer(mut self, tokenizer: Tokenizer) -> Self {
        self.single.tokenizer = Some(tokenizer);
        self
    }

    /// Counts [`ProgressEvent::Launched`] into `progress` for every run request sent.
    pub fn with_progress(mut self, progress: ProgressTally) -> Self {
        self.progress = Some(progress);
        self
    }

    fn send(&mut self, slot: usize, origin: Origin, ctx: &mut Context<Self>) {
        let config = match &origin {
            Origin::Run { request, .. } => request.config.clone(),
            Origin::Single { config } => config.clone(),
        };
        if let (Some(p), Origin::Run { .. }) = (&self.progress, &origin) {
            p.record(ProgressEvent::Launched);
        }
        let send = self.clients[slot].send(ExecuteRequest { config });
        self.sent += 1;
        let id = self.sent;
        let tracked = match &origin {
            Origin::Run {
                index,
                request,
                scheduled,
            } => Some((*index, request.clone(), *scheduled)),
            Origin::Single { .. } => None,
        };
        // Each request is awaited by a task of its own on this arbiter, which hands the reply back as a
        // message. (A future spawned into the actor's context would do the same, but actix polls every
        // future of a context whenever the context wakes: with 1,000 requests in flight that is 1,000 polls
        // per dispatch and per reply, and the launcher fell milliseconds behind its schedule.)
        let me = ctx.address();
        let task = actix_rt::spawn(async move {
            let res = send.await;
            me.do_send(Replied {
                id,
                slot,
                origin,
                res,
            });
        });
        if let (Some((index, request, scheduled)), Some(run)) = (tracked, self.run.as_mut()) {
            run.flying.insert(
                id,
                InFlight {
                    task,
                    index,
                    request,
                    scheduled,
                    sent_at: Instant::now(),
                },
            );
        }
    }

    /// Records the run's requests still in flight as cancelled (aborting their tasks) and finishes the run,
    /// if run `id` is still the one in progress.
    fn cancel_in_flight(&mut self, id: u64) {
        let Some(run) = self.run.as_mut().filter(|r| r.id == id) else {
            return;
        };
        cancel_all(&mut run.flying, run.started, &run.collector, "requests");
        run.in_flight = 0;
        run.stopped = true;
        if let Some(open) = run.open.as_mut() {
            open.pacer.stop();
            open.pacer_done = true;
            open.waiting.clear();
        }
        self.finish_run_if_done();
    }

    /// Starts whatever can start: closed-loop run requests first (up to the run's concurrency), then single
    /// requests. (Open-loop requests start when the pacer says so, see `dispatch`.)
    fn launch_more(&mut self, ctx: &mut Context<Self>) {
        while let Some(&slot) = self.idle.last() {
            let origin = if let Some(run) = self.run.as_mut().filter(|r| {
                r.open.is_none()
                    && r.launched < r.limit
                    && r.in_flight < r.concurrency
                    && !r.timed_out
                    && !r.stopped
            }) {
                if run.started.elapsed() >= run.timeout {
                    run.timed_out = true;
                    continue;
                }
                let index = run.launched;
                let request = run.request(index);
                run.in_flight += 1;
                run.launched += 1;
                Origin::Run {
                    index,
                    request,
                    scheduled: None,
                }
            } else if let Some(config) = self.single.queue.pop_front() {
                self.single.in_flight += 1;
                Origin::Single { config }
            } else {
                break;
            };
            self.idle.pop();
            self.send(slot, origin, ctx);
        }
        self.finish_run_if_done();
        self.answer_waiters_if_idle();
    }

    /// Open loop: sends request `k`, due at `offset`, to the next client round-robin, or queues it when the
    /// cap is reached.
    fn dispatch(&mut self, k: usize, offset: f64, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        let Some(open) = run.open.as_mut() else {
            return;
        };
        if run.stopped {
            return;
        }
        if run.in_flight >= run.concurrency || self.clients.is_empty() {
            open.waiting.push_back((k, offset));
            open.queued += 1;
            return;
        }
        let slot = open.next_client % self.clients.len();
        open.next_client += 1;
        run.in_flight += 1;
        run.launched += 1;
        let origin = Origin::Run {
            index: k,
            request: run.request(k),
            scheduled: Some(offset),
        };
        self.send(slot, origin, ctx);
    }

    fn finish_run_if_done(&mut self) {
        let done = self.run.as_ref().is_some_and(|r| {
            if r.in_flight > 0 {
                return false;
            }
            match &r.open {
                Some(open) => (open.pacer_done || r.stopped) && open.waiting.is_empty(),
                None => {
                    let all_clients_gone = self.idle.is_empty() && self.single.in_flight == 0;
                    r.launched >= r.limit || r.timed_out || r.stopped || all_clients_gone
                }
            }
        });
        if !done {
            return;
        }
        let run = self.run.take().expect("checked above");
        let queued = run.open.as_ref().map_or(0, |o| o.queued);
        if let Some(open) = &run.open {
            open.pacer.stop();
        }
        if let Some(reply) = run.reply {
            let _ = reply.send(RunFinished {
                started: run.started,
                ended: Instant::now(),
                launched: run.launched,
                timed_out: run.timed_out
                    || (run.launched < run.limit && run.started.elapsed() >= run.timeout),
                queued,
            });
        }
    }

    /// Blocking `GetNextReady` callers get `None` once nothing is left to wait for.
    fn answer_waiters_if_idle(&mut self) {
        if self.single.in_flight == 0 && self.single.queue.is_empty() {
            for w in self.single.waiters.drain(..) {
                let _ = w.send(None);
            }
        }
    }

    fn on_done(
        &mut self,
        id: u64,
        slot: usize,
        origin: Origin,
        res: Result<ClientResponse, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        if matches!(origin, Origin::Run { .. })
            && !self
                .run
                .as_ref()
                .is_some_and(|r| r.flying.contains_key(&id))
        {
            // A reply that was already on its way when the request was recorded as cancelled.
            log::debug!("reply to request {id} arrived after it was cancelled; dropped");
            return;
        }
        let open_loop = self.run.as_ref().is_some_and(|r| r.open.is_some());
        let response = match res {
            Ok(r) => {
                if !open_loop || !matches!(origin, Origin::Run { .. }) {
                    self.idle.push(slot);
                }
                r
            }
            // The client actor is gone: record the request as failed and stop using that client.
            Err(e) => ClientResponse {
                started: Instant::now(),
                measured: Measured {
                    timings: StreamTimings::default(),
                    usage: Usage::default(),
                    error: Some((Value::from(-1), format!("client actor unavailable: {e}"))),
                    error_kind: Some(ErrorKind::ClientUnavailable),
                },
                generated_text: String::new(),
                reasoning_text: String::new(),
            },
        };
        match origin {
            Origin::Run {
                index,
                request,
                scheduled,
            } => {
                if let Some(run) = self.run.as_mut() {
                    run.flying.remove(&id);
                    run.in_flight -= 1;
                    let start_offset_s = response
                        .started
                        .saturating_duration_since(run.started)
                        .as_secs_f64();
                    run.collector.do_send(RequestCompleted {
                        index,
                        request,
                        response,
                        start_offset_s,
                        scheduled_start_s: scheduled.unwrap_or(start_offset_s),
                    });
                    let next = run.open.as_mut().and_then(|o| o.waiting.pop_front());
                    if let Some((k, offset)) = next {
                        self.dispatch(k, offset, ctx);
                    }
                }
            }
            Origin::Single { config } => {
                self.single.in_flight -= 1;
                let result = self.single_result(config, response);
                for s in &self.single.subscribers {
                    s.do_send(result.clone());
                }
                match self.single.waiters.pop_front() {
                    Some(w) => {
                        let _ = w.send(Some(result));
                    }
                    None => self.single.ready.push_back(result),
                }
            }
        }
        self.launch_more(ctx);
    }

    fn single_result(&mut self, config: RequestConfig, response: ClientResponse) -> RequestResult {
        let tokenizer = self.single.tokenizer.get_or_insert_with(Tokenizer::llama);
        let output_tokens = tokenizer.count(&response.generated_text) as u64;
        let input_tokens = tokenizer.count(&config.prompt.0) as u64;
        let start_offset_s = response
            .started
            .saturating_duration_since(self.created)
            .as_secs_f64();
        RequestResult {
            metrics: compute_metrics(
                &response.measured,
                output_tokens,
                config.prompt.1,
                input_tokens,
                StartTimes::unscheduled(start_offset_s),
            ),
            generated_text: response.generated_text,
            request_config: config,
        }
    }
}

impl Actor for RequestsLauncher {
    type Context = Context<Self>;
}

impl Handler<RunRequests> for RequestsLauncher {
    type Result = ResponseFuture<RunFinished>;

    fn handle(&mut self, msg: RunRequests, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let started = Instant::now();
        if self.run.is_some() {
            log::error!("RunRequests received while a run is in progress; ignored");
        } else if msg.requests.is_empty() || msg.limit == 0 {
            let _ = tx.send(RunFinished {
                started,
                ended: started,
                launched: 0,
                timed_out: false,
                queued: 0,
            });
        } else {
            let open = msg.schedule.map(|mut schedule| {
                schedule.truncate(msg.limit);
                let pacer = Pacer::start(schedule, started, msg.timeout, ctx.address());
                OpenLoop {
                    waiting: VecDeque::new(),
                    queued: 0,
                    next_client: 0,
                    pacer,
                    pacer_done: false,
                }
            });
            self.runs += 1;
            let id = self.runs;
            if let Some(grace) = msg.grace {
                ctx.run_later(msg.timeout + grace, move |act, _| act.cancel_in_flight(id));
            }
            self.run = Some(Run {
                id,
                stopped: false,
                flying: HashMap::new(),
                pool: msg.requests,
                limit: msg.limit,
                launched: 0,
                concurrency: msg.concurrency.max(1),
                in_flight: 0,
                started,
                timeout: msg.timeout,
                timed_out: false,
                collector: msg.collector,
                reply: Some(tx),
                open,
            });
            self.launch_more(ctx);
        }
        Box::pin(async move {
            rx.await.unwrap_or(RunFinished {
                started,
                ended: Instant::now(),
                launched: 0,
                timed_out: false,
                queued: 0,
            })
        })
    }
}

impl Handler<StopRun> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: StopRun, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        if run.stopped {
            return;
        }
        run.stopped = true;
        if let Some(open) = run.open.as_mut() {
            open.pacer.stop();
            open.waiting.clear();
        }
        let id = run.id;
        ctx.run_later(msg.grace, move |act, _| act.cancel_in_flight(id));
        self.finish_run_if_done();
    }
}

impl Handler<Dispatch> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: Dispatch, ctx: &mut Context<Self>) {
        self.dispatch(msg.k, msg.offset, ctx);
    }
}

impl Handler<PacerDone> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: PacerDone, _: &mut Context<Self>) {
        if let Some(run) = self.run.as_mut()
            && let Some(open) = run.open.as_mut()
        {
            open.pacer_done = true;
            if msg.dispatched < run.limit {
                run.timed_out = true;
            }
        }
        self.finish_run_if_done();
    }
}

impl Handler<LaunchRequest> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: LaunchRequest, ctx: &mut Context<Self>) {
        self.single.queue.push_back(msg.0);
        self.launch_more(ctx);
    }
}

impl Handler<GetNextReady> for RequestsLauncher {
    type Result = ResponseFuture<Option<RequestResult>>;

    fn handle(&mut self, msg: GetNextReady, _: &mut Context<Self>) -> Self::Result {
        if let Some(r) = self.single.ready.pop_front() {
            return Box::pin(async move { Some(r) });
        }
        let nothing_pending = self.single.in_flight == 0 && self.single.queue.is_empty();
        if !msg.block || nothing_pending {
            return Box::pin(async { None });
        }
        let (tx, rx) = oneshot::channel();
        self.single.waiters.push_back(tx);
        Box::pin(async move { rx.await.ok().flatten() })
    }
}

impl Handler<SubscribeResults> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: SubscribeResults, _: &mut Context<Self>) {
        self.single.subscribers.push(msg.0);
    }
}
