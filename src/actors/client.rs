//! Client actors: each wraps one [`LlmClient`] built inside its own arbiter, and handles [`ExecuteRequest`] by
//! streaming the request. [`ClientPool`] spreads `n` of them over one arbiter per core.
//!
//! A request may come as a follow-on ([`ExecuteRequest::follow_on`]): it waits on this actor's thread until
//! the actor has nothing in flight, then starts at once, unless its [`FollowOn`] was settled otherwise (see
//! `actors/follow_on.rs`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::follow_on::FollowOn;
use crate::backend::{ClientFactory, ClientResponse, LlmClient};
use crate::messages::{ExecuteRequest, GetReady};

/// An actor around one LLM client. The launcher sends it one request at a time, and at most one follow-on.
pub struct ClientActor {
    client: Box<dyn LlmClient>,
    busy: Rc<Busy>,
}

impl ClientActor {
    /// Wraps `client`; the actor sends one request through it per `ExecuteRequest`.
    pub fn new(client: Box<dyn LlmClient>) -> Self {
        ClientActor {
            client,
            busy: Rc::default(),
        }
    }
}

/// The actor's requests in flight, and the follow-ons waiting for there to be none.
#[derive(Default)]
struct Busy {
    running: Cell<usize>,
    waiting: RefCell<Vec<oneshot::Sender<()>>>,
}

/// One request in flight; its end may wake the follow-ons.
struct Running(Rc<Busy>);

impl Busy {
    fn enter(self: &Rc<Self>) -> Running {
        self.running.set(self.running.get() + 1);
        Running(self.clone())
    }

    /// Returns once nothing is in flight.
    async fn idle(&self) {
        while self.running.get() > 0 {
            let (tx, rx) = oneshot::channel();
            self.waiting.borrow_mut().push(tx);
            let _ = rx.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let busy = &self.0;
        busy.running.set(busy.running.get() - 1);
        if busy.running.get() == 0 {
            for tx in busy.waiting.borrow_mut().drain(..) {
                let _ = tx.send(());
            }
        }
    }
}

/// The reply of a follow-on that did not start (the launcher knows from its [`FollowOn`], and drops it).
fn not_started() -> ClientResponse {
    ClientResponse::cancelled(std::time::Instant::now(), std::time::Duration::ZERO)
}

/// `request`, started when nothing else is in flight on the actor, if `gate` still lets it.
async fn follow_on(
    busy: Rc<Busy>,
    gate: std::sync::Arc<FollowOn>,
    request: futures_util::future::LocalBoxFuture<'static, ClientResponse>,
) -> ClientResponse {
    busy.idle().await;
    if !gate.start() {
        return not_started();
    }
    let _running = busy.enter();
    request.await
}

impl Actor for ClientActor {
    type Context = Context<Self>;
}

impl Handler<ExecuteRequest> for ClientActor {
    type Result = ResponseFuture<ClientResponse>;

    fn handle(&mut self, msg: ExecuteRequest, _: &mut Context<Self>) -> Self::Result {
        // The request's clock starts when its future is first polled, not here.
        let request = self.client.llm_request(msg.config);
        match msg.follow_on {
            None => {
                let running = self.busy.enter();
                Box::pin(async move {
                    let response = request.await;
                    drop(running);
                    response
                })
            }
            Some(gate) => Box::pin(follow_on(self.busy.clone(), gate, request)),
        }
    }
}

impl Handler<GetReady> for ClientActor {
    type Result = ();
    fn handle(&mut self, _: GetReady, _: &mut Context<Self>) {}
}

/// `n` client actors spread round-robin over one arbiter per core. Dropping the pool stops its arbiters.
pub struct ClientPool {
    arbiters: Vec<Arbiter>,
    clients: Vec<Addr<ClientActor>>,
}

impl ClientPool {
    /// Starts `n` actors, each building its client with `factory` on its own arbiter's thread.
    pub fn start(factory: ClientFactory, n: usize, arbiters: usize) -> ClientPool {
        let arbiters: Vec<Arbiter> = (0..arbiters.max(1)).map(|_| Arbiter::new()).collect();
        let clients = (0..n)
            .map(|i| {
                let f = factory.clone();
                ClientActor::start_in_arbiter(&arbiters[i % arbiters.len()].handle(), move |_| {
                    ClientActor::new(f())
                })
            })
            .collect();
        ClientPool { arbiters, clients }
    }

    /// Waits until every actor has been constructed and answers messages.
    pub async fn ready(&self) {
        for c in &self.clients {
            // A client that fails to start shows up later as a mailbox error on its first request.
            let _ = c.send(GetReady).await;
        }
    }

    /// Recipients for the launcher, one per client actor.
    pub fn recipients(&self) -> Vec<Recipient<ExecuteRequest>> {
        self.clients.iter().map(|c| c.clone().recipient()).collect()
    }

    /// The number of arbiters (threads) the clients run on.
    pub fn arbiter_count(&self) -> usize {
        self.arbiters.len()
    }
}

impl Drop for ClientPool {
    fn drop(&mut self) {
        for a in &self.arbiters {
            a.stop();
        }
    }
}
