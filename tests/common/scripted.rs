//! The scripted client the dispatch tests share: each request is answered as a script says (after a delay,
//! with a text, or failed), and every request is counted (sent, in flight at once, its start), so counts and
//! timings are exact. Plus [`Sink`], a collector that keeps every `RequestCompleted`.
//!
//! Include it with `#[path = "common/scripted.rs"] mod scripted;`.
#![allow(dead_code)] // each test file uses its own subset

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use llmperf_actors::backend::{ClientFactory, ClientResponse, LlmClient, RequestConfig};
use llmperf_actors::messages::{PreparedRequest, RequestCompleted};
use llmperf_actors::metrics::{Measured, StreamTimings, Usage};
use serde_json::Value;

/// How the client answers one request.
pub struct Reply {
    /// How long the request takes.
    pub delay: Duration,
    /// The generated text.
    pub text: String,
    /// Fails it with HTTP 500.
    pub fail: bool,
}

impl Reply {
    /// Succeeds after `delay` with `text`.
    pub fn after(delay: Duration, text: impl Into<String>) -> Reply {
        Reply {
            delay,
            text: text.into(),
            fail: false,
        }
    }
}

/// What every client of one factory saw.
#[derive(Default)]
pub struct Counters {
    in_flight: AtomicUsize,
    /// The most requests in flight at once, over all clients.
    pub peak: AtomicUsize,
    /// Requests sent.
    pub sent: AtomicUsize,
    /// When each request started, in order.
    pub starts: Mutex<Vec<Instant>>,
    /// The first `gate` requests wait (up to 10 s) until `gate` have started, so that many are in flight together
    /// however late a busy machine runs any one of them (see [`echo_gated`]).
    gate: usize,
}

impl Counters {
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }
}

type Script = Arc<dyn Fn(&RequestConfig) -> Reply + Send + Sync>;

struct ScriptedClient {
    script: Script,
    counters: Arc<Counters>,
}

impl LlmClient for ScriptedClient {
    fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse> {
        let reply = (self.script)(&config);
        let c = self.counters.clone();
        Box::pin(async move {
            let started = Instant::now();
            c.starts.lock().unwrap().push(started);
            c.sent.fetch_add(1, Ordering::SeqCst);
            let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            c.peak.fetch_max(now, Ordering::SeqCst);
            if c.sent() <= c.gate {
                let all_started = || c.sent() >= c.gate;
                let _ = wait_until(Duration::from_secs(10), all_started).await;
            }
            actix_rt::time::sleep(reply.delay).await;
            c.in_flight.fetch_sub(1, Ordering::SeqCst);
            ClientResponse {
                started,
                measured: Measured {
                    timings: StreamTimings {
                        first_content_s: Some(0.001),
                        first_token_s: Some(0.001),
                        last_content_s: Some(0.002),
                        end_s: reply.delay.as_secs_f64(),
                        data_events: 2,
                        ..Default::default()
                    },
                    usage: Usage::default(),
                    error: reply
                        .fail
                        .then(|| (Value::from(500), "scripted failure".into())),
                    error_kind: None,
                },
                generated_text: reply.text,
                reasoning_text: String::new(),
            }
        })
    }
}

/// Clients answering as `script` says, and what they saw.
pub fn scripted(
    script: impl Fn(&RequestConfig) -> Reply + Send + Sync + 'static,
) -> (ClientFactory, Arc<Counters>) {
    scripted_gated(0, script)
}

fn scripted_gated(
    gate: usize,
    script: impl Fn(&RequestConfig) -> Reply + Send + Sync + 'static,
) -> (ClientFactory, Arc<Counters>) {
    let counters = Arc::new(Counters {
        gate,
        ..Counters::default()
    });
    let (script, c): (Script, _) = (Arc::new(script), counters.clone());
    let factory: ClientFactory = Arc::new(move || {
        Box::new(ScriptedClient {
            script: script.clone(),
            counters: c.clone(),
        }) as Box<dyn LlmClient>
    });
    (factory, counters)
}

/// Clients that answer each request after `delay` with its prompt text.
pub fn echo(delay: Duration) -> (ClientFactory, Arc<Counters>) {
    scripted(move |c| Reply::after(delay, c.prompt.0.clone()))
}

/// Like [`echo`], but the first `gate` requests are held until `gate` have started: a peak of in-flight requests
/// is then exactly what the dispatcher allows, not what the machine's scheduling happened to overlap.
pub fn echo_gated(delay: Duration, gate: usize) -> (ClientFactory, Arc<Counters>) {
    scripted_gated(gate, move |c| Reply::after(delay, c.prompt.0.clone()))
}

/// Polls `done` every millisecond, letting the actors run meanwhile, until it holds (true) or `limit` passes
/// (false).
pub async fn wait_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    while !done() {
        if Instant::now() >= until {
            return false;
        }
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

/// Waits (up to 10 s: generous on a busy machine) until `done` holds; fails the test naming `what` otherwise.
/// Use it instead of sleeping "long enough" for a mailbox to drain.
pub async fn eventually(what: &str, done: impl Fn() -> bool) {
    assert!(
        wait_until(Duration::from_secs(10), done).await,
        "{what}: not within 10 s"
    );
}

/// `n` requests whose prompts are `prompt 0`, `prompt 1`, …
pub fn requests(n: usize) -> Vec<PreparedRequest> {
    (0..n)
        .map(|i| PreparedRequest {
            config: RequestConfig {
                model: "m".into(),
                prompt: (format!("prompt {i}"), 10),
                sampling_params: Default::default(),
                llm_api: "openai".into(),
                metadata: Default::default(),
                messages: None,
            },
            actual_input_tokens: Some(9),
        })
        .collect()
}

/// A collector that keeps every result.
#[derive(Default)]
pub struct Sink {
    pub seen: Arc<Mutex<Vec<RequestCompleted>>>,
}

impl Sink {
    /// Starts a sink; returns its recipient and what it keeps.
    pub fn start_new() -> (
        Recipient<RequestCompleted>,
        Arc<Mutex<Vec<RequestCompleted>>>,
    ) {
        let sink = Sink::default();
        let seen = sink.seen.clone();
        (sink.start().recipient(), seen)
    }
}

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<RequestCompleted> for Sink {
    type Result = ();
    fn handle(&mut self, msg: RequestCompleted, _: &mut Context<Self>) {
        self.seen.lock().unwrap().push(msg);
    }
}
