//! `RequestsLauncher`: the dispatch core. It hands requests to a pool of client actors, which return
//! measurements that it forwards to a collector.
//!
//! The core owns what every load mode shares; the modes themselves are [`RequestSource`]s (`src/sources/`),
//! plain state machines it asks what to send next and when:
//!
//! - **the clients**: which are idle (nothing in flight), which are gone; a source names the client a request
//!   goes to ([`Target`]: an idle one, the next in turn, or a given one);
//! - **follow-ons**: after a source answers `Wait`, a client carrying one of its requests may be given the
//!   source's [follow-on](RequestSource::follow_on), which starts on the client's thread when that request
//!   ends (the closed loop's next request, without a round trip through this actor); a stop, the grace
//!   period's end or the timeout keeps one that has not started from ever leaving (`actors/follow_on.rs`);
//! - **the requests in flight**, each awaited by a task of its own on this arbiter, which hands the reply back
//!   as a message. (A future spawned into the actor's context would do the same, but actix polls every future
//!   of a context whenever the context wakes: with 1,000 requests in flight that is 1,000 polls per dispatch
//!   and per reply, and the launcher fell milliseconds behind its schedule.);
//! - **timing**: a source's [`Next::Pace`] goes to a pacer thread ([`Pacer`], microsecond precision), which
//!   sends `Dispatch` at each due time;
//! - **the timeout**: nothing is sent once it has passed (nothing *due* after it, for a scheduled request: an
//!   open loop's queued requests, due before it, still leave);
//! - **stopping and the grace period**: [`StopRun`] (Ctrl-C, SIGTERM) stops asking the source at once; `grace`
//!   after it — or after the timeout — the requests still in flight are recorded as cancelled (error kind
//!   `cancelled`) and the run ends, so a stalled endpoint cannot hold it forever. A reply that arrives after
//!   its request was cancelled is dropped;
//! - **progress**: one `Launched` count per request sent;
//! - **results**: each reply goes to the source ([`RequestSource::completed`]) and then to the run's
//!   collector as [`RequestCompleted`], with its start offset and scheduled offset.
//!
//! Runs: [`RunSource`] runs any source; [`RunRequests`] is the closed loop ([`ClosedLoop`]) or, with a
//! schedule, the open loop and trace replay ([`OpenLoop`]); [`RunConversations`] is multi-turn
//! ([`Conversations`]). Each replies [`RunFinished`] when its source is done (or the timeout or a stop ended
//! it) and nothing it sent is in flight. Runs may overlap; they share the clients.
//!
//! One request at a time, like the original's `RequestsLauncher` in a user's own code: [`LaunchRequest`]
//! offers a request to the session's [`OneAtATime`] source (sent as soon as a client is idle, after any run's
//! requests), [`GetNextReady`] returns the next finished `(Metrics, generated text, RequestConfig)` — waiting
//! for it or not — and [`SubscribeResults`] sends every one to a recipient as well (`launcher/embedder.rs`).
//!
//! **Token counting never runs here.** The collector counts a run's tokens on its own thread. What the core
//! itself needs counted goes to a counter on a thread of its own (a `SyncArbiter` of one, started on first
//! use, with the launcher's tokenizer; see `actors/counter.rs`): the prompts of requests built at send time
//! ([`Outgoing::count_prompt`]: conversation turns, counted between turns and sent once counted), and the
//! one-at-a-time results, which reach [`GetNextReady`] callers with their tokens counted there. An embedding
//! application's arbiter is never held up by a tokenizer.
//!
//! [`LaunchRequest`]: crate::messages::LaunchRequest
//! [`GetNextReady`]: crate::messages::GetNextReady
//! [`SubscribeResults`]: crate::messages::SubscribeResults
//! [`OneAtATime`]: crate::sources::single::OneAtATime

mod clients;
mod embedder;
mod job;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use self::clients::Clients;
use self::embedder::Inbox;
use self::job::{InFlight, Job, client_unavailable};
use super::counter::Counter;
use super::follow_on::{FollowOn, FollowOnState};
use super::pacer::Pacer;
use super::progress::ProgressTally;
use crate::messages::{
    CountPrompt, Dispatch, ExecuteRequest, PacerDone, ProgressEvent, PromptCounted, Replied,
    RequestCompleted, RunConversations, RunFinished, RunRequests, RunSource, StopRun,
};
use crate::sources::closed::ClosedLoop;
use crate::sources::conversation::Conversations;
use crate::sources::open::OpenLoop;
use crate::sources::{Completion, Due, Next, Outgoing, RequestSource, Target};
use crate::tokenizer::Tokenizer;
use crate::workload::schedule::Schedule;

/// The dispatch core. Create it with the client recipients of a [`ClientPool`](super::ClientPool).
pub struct RequestsLauncher {
    recipients: Vec<Recipient<ExecuteRequest>>,
    clients: Clients,
    /// Runs in start order, the embedders' session (if any) last: the order in which sources are asked.
    jobs: Vec<Job>,
    created: Instant,
    /// Counts every request sent (live progress).
    progress: Option<ProgressTally>,
    /// What the counter counts with (default: the embedded Llama tokenizer).
    tokenizer: Option<Tokenizer>,
    counter: Option<Addr<Counter>>,
    inbox: Inbox,
    /// Numbers the jobs, so a late timer or pacer message of an earlier run does nothing to a later one.
    jobs_started: u64,
    /// Numbers the requests sent.
    sent: u64,
    /// Clients that may take a follow-on once the sources have answered `Wait`: `(job, client)`.
    follow_candidates: Vec<(u64, usize)>,
}

impl RequestsLauncher {
    /// A launcher over these clients.
    pub fn new(clients: Vec<Recipient<ExecuteRequest>>) -> Self {
        RequestsLauncher {
            clients: Clients::new(clients.len()),
            recipients: clients,
            jobs: Vec::new(),
            created: Instant::now(),
            progress: None,
            tokenizer: None,
            counter: None,
            inbox: Inbox::default(),
            jobs_started: 0,
            sent: 0,
            follow_candidates: Vec::new(),
        }
    }

    /// Counts conversation prompts and the tokens of results launched one at a time with this tokenizer
    /// (default: the embedded Llama one), on the counter's own thread.
    pub fn with_tokenizer(mut self, tokenizer: Tokenizer) -> Self {
        self.tokenizer = Some(tokenizer);
        self
    }

    /// Counts [`ProgressEvent::Launched`] into `progress` for every request sent.
    pub fn with_progress(mut self, progress: ProgressTally) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The counter, started on its own thread on first use.
    fn counter(&mut self, ctx: &mut Context<Self>) -> Addr<Counter> {
        let tokenizer = self.tokenizer.get_or_insert_with(Tokenizer::llama).clone();
        self.counter
            .get_or_insert_with(|| Counter::start(tokenizer, ctx.address().recipient().downgrade()))
            .clone()
    }

    fn position(&self, job: u64) -> Option<usize> {
        self.jobs.iter().position(|j| j.id == job)
    }

    /// Starts a job for `source`; a run (with `reply`) goes before the embedders' session.
    fn start_job(
        &mut self,
        source: Box<dyn RequestSource>,
        (started, timeout, grace): (Instant, Duration, Option<Duration>),
        sink: Recipient<RequestCompleted>,
        reply: Option<oneshot::Sender<RunFinished>>,
        ctx: &mut Context<Self>,
    ) -> usize {
        self.jobs_started += 1;
        let id = self.jobs_started;
        if let Some(at) = grace.and_then(|g| timeout.checked_add(g)) {
            ctx.run_later(at, move |act, _| act.cancel(id));
        }
        let job = Job::new(id, source, (started, timeout), sink, reply);
        let at = match job.is_session() {
            true => self.jobs.len(),
            false => self
                .jobs
                .iter()
                .position(Job::is_session)
                .unwrap_or(self.jobs.len()),
        };
        self.jobs.insert(at, job);
        at
    }

    /// A run: starts a job for `source` and replies when it ends.
    fn run(
        &mut self,
        source: Box<dyn RequestSource>,
        (timeout, grace): (Duration, Option<Duration>),
        collector: Recipient<RequestCompleted>,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<RunFinished> {
        let started = Instant::now();
        let (tx, rx) = oneshot::channel();
        self.start_job(source, (started, timeout, grace), collector, Some(tx), ctx);
        self.pump(ctx);
        Box::pin(async move { rx.await.unwrap_or_else(|_| nothing_run(started)) })
    }

    /// Asks every job's source what to send until each answers `Wait` or `Done`, then ends the runs that are
    /// over.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        for i in 0..self.jobs.len() {
            while self.jobs[i].asking {
                if !self.jobs[i].is_session() && self.clients.alive() == 0 {
                    // Every client actor is gone: nothing can be sent any more.
                    self.jobs[i].halt();
                    break;
                }
                let now = self.jobs[i].now(&self.clients);
                match self.jobs[i].source.next(&now) {
                    Next::Send(out) => {
                        if self.jobs[i].too_late(&out, &now) {
                            self.jobs[i].timed_out = true;
                            self.jobs[i].halt();
                        } else {
                            self.accept(i, out, ctx);
                        }
                    }
                    Next::Pace(schedule) => self.pace(i, schedule, ctx),
                    Next::Wait => break,
                    Next::Done => {
                        self.jobs[i].done = true;
                        self.jobs[i].halt();
                    }
                }
            }
        }
        self.offer_follow_ons(ctx);
        self.end_runs_that_are_over();
    }

    /// Asks the sources for a follow-on for each candidate client that still carries exactly one request of
    /// theirs, and queues it there.
    fn offer_follow_ons(&mut self, ctx: &mut Context<Self>) {
        while let Some((job_id, slot)) = self.follow_candidates.pop() {
            let Some(i) = self.position(job_id) else {
                continue;
            };
            let job = &mut self.jobs[i];
            if !job.asking || !self.clients.can_follow(slot) {
                continue;
            }
            let now = job.now(&self.clients);
            // (It would not start anyway: the client refuses a follow-on once the timeout has passed.)
            if now.offset >= job.timeout.as_secs_f64() {
                continue;
            }
            let Some((index, request)) = job.source.follow_on(&now) else {
                continue;
            };
            let gate = Arc::new(FollowOn::new(job.started, job.deadline()));
            self.sent += 1;
            let id = self.sent;
            self.clients.queue_follow_on(slot, job_id, id);
            let out = Outgoing {
                target: Target::Client(slot),
                ..Outgoing::now(index, request)
            };
            self.dispatch(i, id, slot, out, Some(gate), ctx);
        }
    }

    /// Takes a client for `out` and sends it, or first has its prompt counted.
    fn accept(&mut self, i: usize, out: Outgoing, ctx: &mut Context<Self>) {
        let job = &mut self.jobs[i];
        let Some(slot) = self.clients.take(out.target, &mut job.turn) else {
            job.halt();
            return;
        };
        self.sent += 1;
        let id = self.sent;
        if !out.count_prompt {
            self.send(i, id, slot, out, ctx);
            return;
        }
        let text = out.request.config.prompt.0.clone();
        self.jobs[i].preparing.insert(id, (out, slot));
        let (count, me, job) = (
            self.counter(ctx).send(CountPrompt(text)),
            ctx.address(),
            self.jobs[i].id,
        );
        actix_rt::spawn(async move {
            let tokens = count.await.ok();
            me.do_send(PromptCounted { job, id, tokens });
        });
    }

    /// Sends request `id` to client `slot` to start at once; a task of its own awaits the reply. The client
    /// may take a follow-on then.
    fn send(&mut self, i: usize, id: u64, slot: usize, out: Outgoing, ctx: &mut Context<Self>) {
        self.dispatch(i, id, slot, out, None, ctx);
        if self.clients.can_follow(slot) {
            self.follow_candidates.push((self.jobs[i].id, slot));
        }
    }

    /// Sends request `id` to client `slot`, to start at once or as a follow-on; a task of its own awaits the
    /// reply.
    fn dispatch(
        &mut self,
        i: usize,
        id: u64,
        slot: usize,
        out: Outgoing,
        follow_on: Option<Arc<FollowOn>>,
        ctx: &mut Context<Self>,
    ) {
        // A follow-on counts in the live progress once the request before it has ended (`on_reply`).
        let counted = follow_on.is_none();
        if let (Some(p), true) = (&self.progress, counted) {
            p.record(ProgressEvent::Launched);
        }
        let job = &mut self.jobs[i];
        job.launched += 1;
        job.queued += usize::from(out.queued);
        let send = self.recipients[slot].send(ExecuteRequest {
            config: out.request.config.clone(),
            follow_on: follow_on.clone(),
        });
        let (me, job_id) = (ctx.address(), job.id);
        let task = actix_rt::spawn(async move {
            let res = send.await;
            me.do_send(Replied {
                job: job_id,
                id,
                res,
            });
        });
        job.flying.insert(
            id,
            InFlight {
                task,
                index: out.index,
                request: out.request,
                scheduled: out.scheduled,
                sent_at: Instant::now(),
                client: slot,
                follow_on,
                counted,
            },
        );
    }

    /// Has the pacer wake the job at each offset of `schedule`.
    fn pace(&mut self, i: usize, schedule: Schedule, ctx: &mut Context<Self>) {
        let job = &mut self.jobs[i];
        let timeline = job.timelines;
        job.timelines += 1;
        job.pacing += 1;
        let pacer = Pacer::start(
            schedule,
            job.started,
            job.timeout,
            (job.id, timeline),
            ctx.address(),
        );
        job.pacers.push(pacer);
    }

    fn on_reply(&mut self, msg: Replied, ctx: &mut Context<Self>) {
        let flying = self
            .position(msg.job)
            .and_then(|i| Some((i, self.jobs[i].flying.remove(&msg.id)?)));
        let Some((i, f)) = flying else {
            // A reply that was already on its way when the request was recorded as cancelled.
            log::debug!(
                "reply to request {} arrived after it was cancelled; dropped",
                msg.id
            );
            return;
        };
        if f.follow_on.as_deref().map(FollowOn::state) == Some(FollowOnState::NotStarted) {
            // The client refused it: the run's timeout had passed when the request before it ended. It was
            // never sent.
            let job = &mut self.jobs[i];
            if job.unsent(msg.id, &f, &mut self.clients) {
                self.uncount(1);
            }
            let job = &mut self.jobs[i];
            if !job.stopped {
                job.timed_out = true;
                job.halt();
            }
            self.pump(ctx);
            return;
        }
        self.promote_follow_on(f.client, msg.id);
        if !f.counted
            && let Some(p) = &self.progress
        {
            // A follow-on whose reply came before the reply of the request it followed.
            p.record(ProgressEvent::Launched);
        }
        let response = match msg.res {
            Ok(r) => {
                self.clients.release(f.client);
                r
            }
            // The client actor is gone: record the request as failed and stop using that client.
            Err(e) => {
                self.clients.lose(f.client);
                client_unavailable(e)
            }
        };
        let job = &mut self.jobs[i];
        let start_offset_s = response
            .started
            .saturating_duration_since(job.started)
            .as_secs_f64();
        let scheduled_start_s = f.scheduled.unwrap_or(start_offset_s);
        job.source.completed(&Completion {
            index: f.index,
            client: f.client,
            request: &f.request,
            response: &response,
            start_offset_s,
            scheduled_start_s,
        });
        job.sink.do_send(RequestCompleted {
            index: f.index,
            request: f.request,
            response,
            start_offset_s,
            scheduled_start_s,
        });
        self.pump(ctx);
    }

    /// Request `id` on `slot` has ended: the follow-on queued there (if it is not `id` itself) is the request
    /// in flight there now. It counts as launched, and the client may take the next follow-on.
    fn promote_follow_on(&mut self, slot: usize, id: u64) {
        let Some((job, next)) = self.clients.follow_on(slot) else {
            return;
        };
        self.clients.clear_follow_on(slot);
        if next == id {
            return;
        }
        let Some(i) = self.position(job) else {
            return;
        };
        if let Some(f) = self.jobs[i].flying.get_mut(&next)
            && !f.counted
        {
            f.counted = true;
            if let Some(p) = &self.progress {
                p.record(ProgressEvent::Launched);
            }
        }
        self.follow_candidates.push((job, slot));
    }

    /// Takes back `n` launches from the live progress: follow-ons it counted that were never sent.
    fn uncount(&self, n: u64) {
        if let (Some(p), true) = (&self.progress, n > 0) {
            p.unlaunch(n);
        }
    }

    /// The grace period of run `job` is over: records what is still in flight as cancelled and ends it.
    fn cancel(&mut self, job: u64) {
        if let Some(i) = self.position(job) {
            let uncounted = self.jobs[i].cancel_in_flight(&mut self.clients);
            self.uncount(uncounted);
            self.end_runs_that_are_over();
        }
    }

    fn end_runs_that_are_over(&mut self) {
        while let Some(i) = self.jobs.iter().position(Job::over) {
            self.jobs.remove(i).finish();
        }
    }
}

/// The reply of a run that sent nothing.
fn nothing_run(started: Instant) -> RunFinished {
    RunFinished {
        started,
        ended: Instant::now(),
        launched: 0,
        timed_out: false,
        queued: 0,
        stopped_at: None,
    }
}

impl Actor for RequestsLauncher {
    type Context = Context<Self>;
}

impl Handler<RunSource> for RequestsLauncher {
    type Result = ResponseFuture<RunFinished>;

    fn handle(&mut self, msg: RunSource, ctx: &mut Context<Self>) -> Self::Result {
        self.run(msg.source, (msg.timeout, msg.grace), msg.collector, ctx)
    }
}

impl Handler<RunRequests> for RequestsLauncher {
    type Result = ResponseFuture<RunFinished>;

    fn handle(&mut self, msg: RunRequests, ctx: &mut Context<Self>) -> Self::Result {
        let source: Box<dyn RequestSource> = match msg.schedule {
            None => Box::new(ClosedLoop::new(msg.requests, msg.limit, msg.concurrency)),
            Some(mut schedule) => {
                schedule.truncate(msg.limit);
                Box::new(OpenLoop::new(msg.requests, schedule, msg.concurrency))
            }
        };
        self.run(source, (msg.timeout, msg.grace), msg.collector, ctx)
    }
}

impl Handler<RunConversations> for RequestsLauncher {
    type Result = ResponseFuture<RunFinished>;

    fn handle(&mut self, msg: RunConversations, ctx: &mut Context<Self>) -> Self::Result {
        let source = Conversations::new(msg.turns, msg.turns_per_conversation, msg.concurrency);
        self.run(
            Box::new(source),
            (msg.timeout, msg.grace),
            msg.collector,
            ctx,
        )
    }
}

impl Handler<StopRun> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: StopRun, ctx: &mut Context<Self>) {
        let mut uncounted = 0;
        for job in self
            .jobs
            .iter_mut()
            .filter(|j| !j.is_session() && !j.stopped)
        {
            job.stopped = true;
            job.stop_requested = Some(Instant::now());
            job.halt();
            // Nothing leaves after a stop: follow-ons not started yet never will.
            uncounted += job.withdraw_follow_ons(&mut self.clients);
            let id = job.id;
            ctx.run_later(msg.grace, move |act, _| act.cancel(id));
        }
        self.uncount(uncounted);
        self.end_runs_that_are_over();
    }
}

impl Handler<Replied> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: Replied, ctx: &mut Context<Self>) {
        self.on_reply(msg, ctx);
    }
}

impl Handler<PromptCounted> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: PromptCounted, ctx: &mut Context<Self>) {
        let Some(i) = self.position(msg.job) else {
            return;
        };
        let Some((mut out, slot)) = self.jobs[i].preparing.remove(&msg.id) else {
            return;
        };
        if self.jobs[i].stopped {
            // Stopped while its prompt was counted: never sent.
            self.clients.release(slot);
            self.end_runs_that_are_over();
            return;
        }
        match msg.tokens {
            Some(tokens) => {
                out.request.config.prompt.1 = tokens;
                out.request.actual_input_tokens = Some(tokens);
            }
            None => log::warn!(
                "the token counter is gone; request {} goes uncounted",
                out.index
            ),
        }
        self.send(i, msg.id, slot, out, ctx);
    }
}

impl Handler<Dispatch> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: Dispatch, ctx: &mut Context<Self>) {
        let Some(i) = self.position(msg.job).filter(|&i| self.jobs[i].asking) else {
            return;
        };
        let now = self.jobs[i].now(&self.clients);
        let due = Due {
            timeline: msg.timeline,
            k: msg.k,
            offset: msg.offset,
        };
        self.jobs[i].source.due(due, &now);
        self.pump(ctx);
    }
}

impl Handler<PacerDone> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: PacerDone, _: &mut Context<Self>) {
        if let Some(i) = self.position(msg.job) {
            let job = &mut self.jobs[i];
            job.pacing = job.pacing.saturating_sub(1);
            // A pacer stopped because its source said it was done (a capacity step decided early) is not a
            // timeout.
            if !msg.complete && !job.stopped && !job.done {
                log::debug!(
                    "the timeout cut the schedule after {} due times",
                    msg.dispatched
                );
                job.timed_out = true;
            }
        }
        self.end_runs_that_are_over();
    }
}
