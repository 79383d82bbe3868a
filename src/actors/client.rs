//! Client actors: each wraps one [`LlmClient`] built inside its own arbiter, and handles [`ExecuteRequest`] by
//! streaming the request. [`ClientPool`] spreads `n` of them over one arbiter per core.

use actix::prelude::*;

use crate::backend::{ClientFactory, ClientResponse, LlmClient};
use crate::messages::{ExecuteRequest, GetReady};

/// An actor around one LLM client. The launcher sends it one request at a time.
pub struct ClientActor {
    client: Box<dyn LlmClient>,
}

impl ClientActor {
    /// Wraps `client`; the actor sends one request through it per `ExecuteRequest`.
    pub fn new(client: Box<dyn LlmClient>) -> Self {
        ClientActor { client }
    }
}

impl Actor for ClientActor {
    type Context = Context<Self>;
}

impl Handler<ExecuteRequest> for ClientActor {
    type Result = ResponseFuture<ClientResponse>;

    fn handle(&mut self, msg: ExecuteRequest, _: &mut Context<Self>) -> Self::Result {
        self.client.llm_request(msg.config)
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
