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

impl Running {
    /// Ends the request; `true` when a follow-on was waiting for it, and may now start.
    fn end(self) -> bool {
        let busy = &self.0;
        let frees = busy.running.get() == 1 && !busy.waiting.borrow().is_empty();
        drop(self);
        frees
    }
}

/// Hands `response` back, after letting a follow-on that `freed` just let start go first: its request's
/// first byte leaves before this reply wakes the launcher's thread (a system call and, often, a lock both
/// threads take).
async fn reply(response: ClientResponse, freed: bool) -> ClientResponse {
    if freed {
        tokio::task::yield_now().await;
    }
    response
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
    let running = busy.enter();
    let response = request.await;
    reply(response, running.end()).await
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
                    reply(response, running.end()).await
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

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Context as TaskContext, Waker};
    use std::time::{Duration, Instant};

    use futures_util::future::LocalBoxFuture;

    use super::*;
    use crate::backend::RequestConfig;

    type Reply = Pin<Box<Request<ClientActor, ExecuteRequest>>>;

    /// Request "first" waits for `go`; request "second", when it starts, notes whether the first's reply had
    /// already been handed back.
    struct Probe {
        go: Mutex<Option<oneshot::Receiver<()>>>,
        first_started: Arc<AtomicBool>,
        second_made: Arc<AtomicBool>,
        first_reply: Arc<Mutex<Option<Reply>>>,
        reply_was_out: Arc<Mutex<Option<bool>>>,
    }

    impl LlmClient for Probe {
        fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse> {
            let done = || ClientResponse::cancelled(Instant::now(), Duration::ZERO);
            if config.prompt.0 == "first" {
                let go = self.go.lock().unwrap().take().expect("one first request");
                let started = self.first_started.clone();
                return Box::pin(async move {
                    started.store(true, Ordering::SeqCst);
                    let _ = go.await;
                    done()
                });
            }
            self.second_made.store(true, Ordering::SeqCst);
            let (first_reply, out) = (self.first_reply.clone(), self.reply_was_out.clone());
            Box::pin(async move {
                let mut slot = first_reply.lock().unwrap();
                let reply = slot.as_mut().expect("the first reply is kept");
                let mut cx = TaskContext::from_waker(Waker::noop());
                *out.lock().unwrap() = Some(reply.as_mut().poll(&mut cx).is_ready());
                done()
            })
        }
    }

    async fn until(what: &str, flag: &AtomicBool) {
        for _ in 0..2_000 {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{what} never happened");
    }

    #[actix::test]
    async fn a_follow_on_starts_before_the_reply_it_follows_is_handed_back() {
        let (go_tx, go_rx) = oneshot::channel();
        let (first_started, second_made) = (Arc::default(), Arc::<AtomicBool>::default());
        let first_reply = Arc::new(Mutex::new(None));
        let reply_was_out = Arc::new(Mutex::new(None));
        let probe = Probe {
            go: Mutex::new(Some(go_rx)),
            first_started: Arc::clone(&first_started),
            second_made: second_made.clone(),
            first_reply: first_reply.clone(),
            reply_was_out: reply_was_out.clone(),
        };
        // The client on a thread of its own, as in a run.
        let arbiter = Arbiter::new();
        let client = ClientActor::start_in_arbiter(&arbiter.handle(), move |_| {
            ClientActor::new(Box::new(probe))
        });
        let cfg = |text: &str| RequestConfig::new("m", text, 1);
        let reply = client.send(ExecuteRequest::new(cfg("first")));
        *first_reply.lock().unwrap() = Some(Box::pin(reply));
        until("the first request's start", &first_started).await;
        let gate = Arc::new(FollowOn::new(Instant::now(), None));
        let second = client.send(ExecuteRequest {
            config: cfg("second"),
            follow_on: Some(gate),
        });
        until("the follow-on's arrival", &second_made).await;
        go_tx.send(()).unwrap();
        second.await.expect("the follow-on's reply");
        assert_eq!(
            *reply_was_out.lock().unwrap(),
            Some(false),
            "the follow-on started after the reply of the request it follows was handed back"
        );
        arbiter.stop();
    }
}
