//! `RequestsLauncher`: the closed loop.
//!
//! It owns a pool of client recipients. On [`RunRequests`] it starts up to `concurrency` requests; each time
//! one finishes it forwards the result to the collector and hands the next request to the now-free client, so
//! `concurrency` requests stay in flight until the list is exhausted or the timeout passes. It never sends a
//! request twice and never sends more than the list holds (the original sends up to C − 1 extra requests and
//! discards them). Requests in flight at the timeout are awaited and recorded. It replies [`RunFinished`] when
//! nothing is left in flight.

use std::collections::VecDeque;
use std::time::Instant;

use actix::prelude::*;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::backend::ClientResponse;
use crate::messages::{
    ExecuteRequest, PreparedRequest, RequestCompleted, RunFinished, RunRequests,
};
use crate::metrics::{Measured, StreamTimings, Usage};

pub struct RequestsLauncher {
    clients: Vec<Recipient<ExecuteRequest>>,
    run: Option<Run>,
}

/// State of the run in progress.
struct Run {
    queue: VecDeque<(usize, PreparedRequest)>,
    idle: Vec<usize>,
    in_flight: usize,
    launched: usize,
    started: Instant,
    timeout: std::time::Duration,
    timed_out: bool,
    collector: Recipient<RequestCompleted>,
    reply: Option<oneshot::Sender<RunFinished>>,
}

impl RequestsLauncher {
    pub fn new(clients: Vec<Recipient<ExecuteRequest>>) -> Self {
        RequestsLauncher { clients, run: None }
    }

    fn launch_more(&mut self, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        while !run.queue.is_empty() && !run.idle.is_empty() {
            if run.started.elapsed() >= run.timeout {
                run.timed_out = true;
                break;
            }
            let slot = run.idle.pop().expect("checked non-empty");
            let (index, request) = run.queue.pop_front().expect("checked non-empty");
            run.in_flight += 1;
            run.launched += 1;
            let send = self.clients[slot].send(ExecuteRequest {
                config: request.config.clone(),
            });
            ctx.spawn(
                actix::fut::wrap_future::<_, Self>(send)
                    .map(move |res, act, ctx| act.on_done(slot, index, request, res, ctx)),
            );
        }
        if run.in_flight == 0 && (run.queue.is_empty() || run.timed_out || run.idle.is_empty()) {
            let run = self.run.take().expect("run in progress");
            if let Some(reply) = run.reply {
                let _ = reply.send(RunFinished {
                    started: run.started,
                    ended: Instant::now(),
                    launched: run.launched,
                    timed_out: run.timed_out || run.started.elapsed() >= run.timeout,
                });
            }
        }
    }

    fn on_done(
        &mut self,
        slot: usize,
        index: usize,
        request: PreparedRequest,
        res: Result<ClientResponse, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        let Some(run) = self.run.as_mut() else { return };
        run.in_flight -= 1;
        let response = match res {
            Ok(r) => {
                run.idle.push(slot);
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
                reasoning_text: String::new(),
            },
        };
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
        self.launch_more(ctx);
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
            let concurrency = msg.concurrency.min(self.clients.len());
            self.run = Some(Run {
                queue: msg.requests.into_iter().enumerate().collect(),
                idle: (0..concurrency).rev().collect(),
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
