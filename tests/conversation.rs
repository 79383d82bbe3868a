//! The conversation driver, checked with a scripted client so counts are exact: turns in sequence, each
//! carrying the previous replies; concurrency counts conversations; a failed turn ends its conversation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use llmperf_actors::Tokenizer;
use llmperf_actors::actors::progress::{ProgressPlan, ProgressState};
use llmperf_actors::actors::{ClientPool, ConversationDriver, ProgressTally};
use llmperf_actors::backend::{ClientFactory, ClientResponse, LlmClient, RequestConfig};
use llmperf_actors::messages::{PreparedRequest, RequestCompleted, RunConversations};
use llmperf_actors::metrics::{Measured, StreamTimings, Usage};
use serde_json::{Value, json};

/// Answers "reply to <last user message>"; fails any request whose last message is "fail"; tracks the peak
/// number of requests in flight.
struct Scripted {
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl LlmClient for Scripted {
    fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse> {
        let (in_flight, peak) = (self.in_flight.clone(), self.peak.clone());
        Box::pin(async move {
            let started = Instant::now();
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            actix_rt::time::sleep(Duration::from_millis(10)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let messages = config.messages.unwrap_or_default();
            let last = messages
                .last()
                .and_then(|m| m["content"].as_str())
                .unwrap_or("")
                .to_string();
            let error = (last == "fail").then(|| (Value::from(500), "scripted failure".into()));
            ClientResponse {
                started,
                measured: Measured {
                    timings: StreamTimings {
                        first_content_s: Some(0.001),
                        first_token_s: Some(0.001),
                        last_content_s: Some(0.002),
                        end_s: 0.01,
                        data_events: 2,
                        ..Default::default()
                    },
                    usage: Usage::default(),
                    error,
                    error_kind: None,
                },
                generated_text: format!("reply to {last}"),
                reasoning_text: String::new(),
            }
        })
    }
}

#[derive(Default)]
struct Sink {
    seen: Arc<Mutex<Vec<RequestCompleted>>>,
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

fn template(text: &str) -> PreparedRequest {
    PreparedRequest {
        config: RequestConfig {
            model: "m".into(),
            prompt: (text.into(), 0),
            sampling_params: Default::default(),
            llm_api: "openai".into(),
            metadata: Default::default(),
            messages: None,
        },
        actual_input_tokens: Some(0),
    }
}

/// Waits (up to 10 s: generous on a busy machine) until `done()` holds, letting the actors run meanwhile.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "{what}: not within 10 s");
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn run(texts: &[&str], turns: usize, concurrency: usize) -> (Vec<RequestCompleted>, usize) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let p = peak.clone();
    let f: ClientFactory = Arc::new(move || {
        Box::new(Scripted {
            in_flight: in_flight.clone(),
            peak: p.clone(),
        }) as Box<dyn LlmClient>
    });
    let pool = ClientPool::start(f, concurrency, 2);
    pool.ready().await;
    let tally = ProgressTally::default();
    let driver = ConversationDriver::new(pool.recipients(), Tokenizer::llama())
        .with_progress(tally.clone())
        .start();
    let sink = Sink::default();
    let seen = sink.seen.clone();
    let done = driver
        .send(RunConversations {
            turns: texts.iter().map(|t| template(t)).collect(),
            turns_per_conversation: turns,
            concurrency,
            timeout: Duration::from_secs(30),
            collector: sink.start().recipient(),
        })
        .await
        .unwrap();
    // The driver forwards each turn before it replies; wait for the sink's mailbox rather than guess how long.
    eventually("every turn sent reaches the sink", || {
        seen.lock().unwrap().len() >= done.launched
    })
    .await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(done.launched, seen.len());
    // Every turn sent was counted for the live progress (nothing records here, so all are "in flight").
    let progress = ProgressState::with_tally(ProgressPlan::default(), tally);
    assert_eq!(progress.in_flight(), seen.len() as u64);
    (seen, peak.load(Ordering::SeqCst))
}

#[actix::test]
async fn turns_carry_the_replies_and_concurrency_counts_conversations() {
    let texts = ["a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2", "c3"];
    let (seen, peak) = run(&texts, 3, 2).await;
    assert_eq!(seen.len(), 9);
    assert!(
        peak <= 2,
        "at most 2 conversations (so requests) in flight: {peak}"
    );
    for c in seen.iter() {
        let meta = &c.request.config.metadata;
        let conv = meta["conversation_id"].as_u64().unwrap() as usize;
        let turn = meta["turn"].as_u64().unwrap() as usize;
        assert_eq!(c.index, conv * 3 + turn - 1);
        let mut expected = Vec::new();
        for k in 0..turn {
            let user = texts[conv * 3 + k];
            expected.push(json!({"role": "user", "content": user}));
            if k + 1 < turn {
                expected.push(json!({"role": "assistant", "content": format!("reply to {user}")}));
            }
        }
        assert_eq!(c.request.config.messages.as_ref().unwrap(), &expected);
        let tokens = Tokenizer::llama().count_plain(&c.request.config.prompt.0) as u64 + 1;
        assert_eq!(c.request.actual_input_tokens, Some(tokens));
    }
}

#[actix::test]
async fn a_failed_turn_ends_its_conversation_only() {
    let (seen, _) = run(&["a1", "fail", "a3", "b1", "b2", "b3"], 3, 1).await;
    let indices: Vec<usize> = seen.iter().map(|c| c.index).collect();
    assert_eq!(indices, vec![0, 1, 3, 4, 5]);
}
