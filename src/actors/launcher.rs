//! `RequestsLauncher`: hands requests to a pool of client actors, at most one request per client at a time,
//! and keeps the closed loop going.
//!
//! Two ways to drive it:
//! - **A run** ([`RunRequests`]): it starts up to `concurrency` requests; each time one finishes it forwards
//!   the result to the run's collector and hands the next request to the now-free client, until the list is
//!   exhausted or the timeout passes, then replies [`RunFinished`]. It never sends a request twice and never
//!   more than the list holds (the original sends up to C − 1 extra requests and discards them). Requests in
//!   flight at the timeout are awaited and recorded.
//! - **One request at a time**, like the original's `RequestsLauncher` in a user's own code:
//!   [`LaunchRequest`] queues a request (sent as soon as a client is free), [`GetNextReady`] returns the next
//!   finished `(Metrics, generated text, RequestConfig)` — waiting for it or not — and [`SubscribeResults`]
//!   sends every finished result to a recipient as well.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::backend::{ClientResponse, RequestConfig};
use crate::messages::{
    ExecuteRequest, GetNextReady, LaunchRequest, PreparedRequest, RequestCompleted, RequestResult,
    RunFinished, RunRequests, SubscribeResults,
};
use crate::metrics::{Measured, StreamTimings, Usage, compute_metrics};
use crate::tokenizer::{TokenCount, Tokenizer};

/// The launcher actor. Create it with the client recipients of a [`ClientPool`](super::ClientPool).
pub struct RequestsLauncher {
    clients: Vec<Recipient<ExecuteRequest>>,
    /// Clients with no request in flight.
    idle: Vec<usize>,
    created: Instant,
    run: Option<Run>,
    single: Single,
}

/// State of the run in progress.
struct Run {
    queue: VecDeque<(usize, PreparedRequest)>,
    concurrency: usize,
    in_flight: usize,
    launched: usize,
    started: Instant,
    timeout: Duration,
    timed_out: bool,
    collector: Recipient<RequestCompleted>,
    reply: Option<oneshot::Sender<RunFinished>>,
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

/// Where a finished request goes.
enum Origin {
    Run {
        index: usize,
        request: PreparedRequest,
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
        }
    }

    /// Counts tokens of results launched one at a time with this tokenizer (default: the embedded Llama one).
    pub fn with_tokenizer(mut self, tokenizer: Tokenizer) -> Self {
        self.single.tokenizer = Some(tokenizer);
        self
    }

    fn send(&mut self, slot: usize, origin: Origin, ctx: &mut Context<Self>) {
        let config = match &origin {
            Origin::Run { request, .. } => request.config.clone(),
            Origin::Single { config } => config.clone(),
        };
        let send = self.clients[slot].send(ExecuteRequest { config });
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(send)
                .map(move |res, act, ctx| act.on_done(slot, origin, res, ctx)),
        );
    }

    /// Starts whatever can start: run requests first (up to the run's concurrency), then single requests.
    fn launch_more(&mut self, ctx: &mut Context<Self>) {
        while let Some(&slot) = self.idle.last() {
            let origin = if let Some(run) = self
                .run
                .as_mut()
                .filter(|r| !r.queue.is_empty() && r.in_flight < r.concurrency && !r.timed_out)
            {
                if run.started.elapsed() >= run.timeout {
                    run.timed_out = true;
                    continue;
                }
                let (index, request) = run.queue.pop_front().expect("checked non-empty");
                run.in_flight += 1;
                run.launched += 1;
                Origin::Run { index, request }
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

    fn finish_run_if_done(&mut self) {
        let done = self.run.as_ref().is_some_and(|r| {
            let all_clients_gone = self.idle.is_empty() && self.single.in_flight == 0;
            r.in_flight == 0 && (r.queue.is_empty() || r.timed_out || all_clients_gone)
        });
        if !done {
            return;
        }
        let run = self.run.take().expect("checked above");
        if let Some(reply) = run.reply {
            let _ = reply.send(RunFinished {
                started: run.started,
                ended: Instant::now(),
                launched: run.launched,
                timed_out: run.timed_out || run.started.elapsed() >= run.timeout,
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
        slot: usize,
        origin: Origin,
        res: Result<ClientResponse, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        let response = match res {
            Ok(r) => {
                self.idle.push(slot);
                r
            }
            // The client actor is gone: record the request as failed and stop using that client.
            Err(e) => ClientResponse {
                started: Instant::now(),
                measured: Measured {
                    timings: StreamTimings::default(),
                    usage: Usage::default(),
                    error: Some((Value::from(-1), format!("client actor unavailable: {e}"))),
                },
                generated_text: String::new(),
            },
        };
        match origin {
            Origin::Run { index, request } => {
                if let Some(run) = self.run.as_mut() {
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
                    });
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
                start_offset_s,
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
        } else {
            self.run = Some(Run {
                queue: msg.requests.into_iter().enumerate().collect(),
                concurrency: msg.concurrency,
                in_flight: 0,
                launched: 0,
                started,
                timeout: msg.timeout,
                timed_out: false,
                collector: msg.collector,
                reply: Some(tx),
            });
            self.launch_more(ctx);
        }
        Box::pin(async move {
            rx.await.unwrap_or(RunFinished {
                started,
                ended: Instant::now(),
                launched: 0,
                timed_out: false,
            })
        })
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
