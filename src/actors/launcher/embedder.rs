//! The launcher one request at a time, as the original's `RequestsLauncher` is used in a user's own code:
//! [`LaunchRequest`] offers a request to the session (a job whose source is
//! [`OneAtATime`]), [`GetNextReady`] returns the next finished request, [`SubscribeResults`] pushes each one to a
//! recipient.
//!
//! The session's results go to the counter (its own thread), which counts their tokens, computes the
//! per-request record and hands it back as [`ResultCounted`]; the inbox here only queues finished results and
//! the callers waiting for them.

use std::collections::VecDeque;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::RequestsLauncher;
use crate::messages::{
    GetNextReady, LaunchRequest, RequestResult, ResultCounted, SubscribeResults,
};
use crate::sources::single::OneAtATime;

/// Finished one-at-a-time results and who waits for them.
#[derive(Default)]
pub(super) struct Inbox {
    ready: VecDeque<RequestResult>,
    waiters: VecDeque<oneshot::Sender<Option<RequestResult>>>,
    subscribers: Vec<Recipient<RequestResult>>,
    /// Requests offered whose result has not been delivered yet (queued, in flight, or being counted).
    outstanding: usize,
}

impl Inbox {
    fn deliver(&mut self, result: RequestResult) {
        self.outstanding = self.outstanding.saturating_sub(1);
        for s in &self.subscribers {
            s.do_send(result.clone());
        }
        match self.waiters.pop_front() {
            Some(w) => {
                let _ = w.send(Some(result));
            }
            None => self.ready.push_back(result),
        }
        if self.outstanding == 0 {
            // Blocking callers get `None` once nothing is left to wait for.
            for w in self.waiters.drain(..) {
                let _ = w.send(None);
            }
        }
    }
}

impl RequestsLauncher {
    /// The session's position among the jobs, starting it if needed.
    fn session(&mut self, ctx: &mut Context<Self>) -> usize {
        if let Some(i) = self.jobs.iter().position(|j| j.is_session()) {
            return i;
        }
        let sink = self.counter(ctx).recipient();
        let started = (self.created, Duration::MAX, None);
        self.start_job(Box::new(OneAtATime::default()), started, sink, None, ctx)
    }
}

impl Handler<LaunchRequest> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: LaunchRequest, ctx: &mut Context<Self>) {
        let i = self.session(ctx);
        if self.jobs[i].source.offer(msg.0) {
            self.inbox.outstanding += 1;
        } else {
            log::error!("the one-at-a-time session refused a request");
        }
        self.pump(ctx);
    }
}

impl Handler<ResultCounted> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: ResultCounted, _: &mut Context<Self>) {
        self.inbox.deliver(msg.0);
    }
}

impl Handler<GetNextReady> for RequestsLauncher {
    type Result = ResponseFuture<Option<RequestResult>>;

    fn handle(&mut self, msg: GetNextReady, _: &mut Context<Self>) -> Self::Result {
        if let Some(r) = self.inbox.ready.pop_front() {
            return Box::pin(async move { Some(r) });
        }
        if !msg.block || self.inbox.outstanding == 0 {
            return Box::pin(async { None });
        }
        let (tx, rx) = oneshot::channel();
        self.inbox.waiters.push_back(tx);
        Box::pin(async move { rx.await.ok().flatten() })
    }
}

impl Handler<SubscribeResults> for RequestsLauncher {
    type Result = ();

    fn handle(&mut self, msg: SubscribeResults, _: &mut Context<Self>) {
        self.inbox.subscribers.push(msg.0);
    }
}
