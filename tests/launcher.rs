//! The closed loop, checked with a scripted client so counts are exact.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use llmperf_actors::actors::{ClientPool, RequestsLauncher};
use llmperf_actors::backend::{ClientFactory, ClientResponse, LlmClient, RequestConfig};
use llmperf_actors::messages::{PreparedRequest, RequestCompleted, RunRequests};
use llmperf_actors::metrics::{Measured, StreamTimings, Usage};

/// Sleeps, then answers; counts how many requests are in flight at once across all clients. The first `gate`
/// requests to start wait (up to 10 s) until `gate` have started, so that many are in flight together however
/// late the machine runs any one of them: the peak is then exactly what the launcher allows.
struct ScriptedClient {
    delay: Duration,
    gate: usize,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
}

impl LlmClient for ScriptedClient {
    fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse> {
        let (delay, gate) = (self.delay, self.gate);
        let (in_flight, peak, sent) =
            (self.in_flight.clone(), self.peak.clone(), self.sent.clone());
        Box::pin(async move {
            let started = Instant::now();
            let nth = sent.fetch_add(1, Ordering::SeqCst) + 1;
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            if nth <= gate {
                let until = Instant::now() + Duration::from_secs(10);
                while sent.load(Ordering::SeqCst) < gate && Instant::now() < until {
                    actix_rt::time::sleep(Duration::from_millis(1)).await;
                }
            }
            actix_rt::time::sleep(delay).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            ClientResponse {
                started,
                measured: Measured {
                    timings: StreamTimings {
                        first_content_s: Some(0.001),
                        first_token_s: Some(0.001),
                        last_content_s: Some(0.002),
                        end_s: delay.as_secs_f64(),
                        data_events: 2,
                        ..Default::default()
                    },
                    usage: Usage::default(),
                    error: None,
                    error_kind: None,
                },
                generated_text: config.prompt.0,
                reasoning_text: String::new(),
            }
        })
    }
}

#[derive(Default)]
struct Sink {
    seen: Arc<Mutex<Vec<usize>>>,
}
impl Actor for Sink {
    type Context = Context<Self>;
}
impl Handler<RequestCompleted> for Sink {
    type Result = ();
    fn handle(&mut self, msg: RequestCompleted, _: &mut Context<Self>) {
        self.seen.lock().unwrap().push(msg.index);
    }
}

struct Counters {
    peak: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
}

/// Waits (up to 10 s: generous on a busy machine) until `done()` holds, letting the actors run meanwhile.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "{what}: not within 10 s");
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Scripted clients that take `delay` per request, the first `gate` of them gated (see [`ScriptedClient`]).
fn factory(delay: Duration, gate: usize) -> (ClientFactory, Counters) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let c = Counters {
        peak: peak.clone(),
        sent: sent.clone(),
    };
    let f: ClientFactory = Arc::new(move || {
        Box::new(ScriptedClient {
            delay,
            gate,
            in_flight: in_flight.clone(),
            peak: peak.clone(),
            sent: sent.clone(),
        }) as Box<dyn LlmClient>
    });
    (f, c)
}

fn requests(n: usize) -> Vec<PreparedRequest> {
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

async fn run(n: usize, c: usize, delay_ms: u64, timeout: Duration) -> (Vec<usize>, Counters, bool) {
    let (f, counters) = factory(Duration::from_millis(delay_ms), n.min(c));
    let pool = ClientPool::start(f, c, 2);
    pool.ready().await;
    let launcher = RequestsLauncher::new(pool.recipients()).start();
    let sink = Sink::default();
    let seen = sink.seen.clone();
    let sink = sink.start();
    let done = launcher
        .send(RunRequests::closed_loop(
            requests(n),
            c,
            timeout,
            sink.recipient(),
        ))
        .await
        .unwrap();
    // Results are forwarded before the reply; wait for the sink's mailbox rather than guess how long it takes.
    eventually("every launched request reaches the sink", || {
        seen.lock().unwrap().len() >= done.launched
    })
    .await;
    assert_eq!(done.launched, seen.lock().unwrap().len());
    let seen = seen.lock().unwrap().clone();
    (seen, counters, done.timed_out)
}

#[actix::test]
async fn keeps_exactly_c_in_flight_and_sends_each_request_once() {
    let (mut seen, counters, timed_out) = run(25, 4, 15, Duration::from_secs(60)).await;
    assert!(!timed_out);
    assert_eq!(counters.peak.load(Ordering::SeqCst), 4);
    assert_eq!(
        counters.sent.load(Ordering::SeqCst),
        25,
        "no surplus requests"
    );
    seen.sort();
    assert_eq!(seen, (0..25).collect::<Vec<_>>());
}

#[actix::test]
async fn concurrency_above_the_request_count_sends_no_more_than_asked() {
    let (seen, counters, _) = run(3, 10, 5, Duration::from_secs(60)).await;
    assert_eq!(seen.len(), 3);
    assert_eq!(counters.sent.load(Ordering::SeqCst), 3);
}

#[actix::test]
async fn timeout_stops_launching_but_in_flight_requests_are_recorded() {
    // Two at a time, at least 100 ms each, timeout 250 ms: each slot launches at ≥ 0, ≥ 0.1 and ≥ 0.2 s, never
    // at ≥ 0.3 s, so at most 6 (exact). The first two start at once; how many more start before 250 ms is the
    // machine's load (each needs the one before it done in time), so 2 is the lower bound.
    let (seen, counters, timed_out) = run(100, 2, 100, Duration::from_millis(250)).await;
    assert!(timed_out);
    let sent = counters.sent.load(Ordering::SeqCst);
    assert!((2..=6).contains(&sent), "sent {sent}");
    assert_eq!(seen.len(), sent, "every launched request is recorded");
}

/// Receives results pushed by the launcher.
#[derive(Default)]
struct Subscriber {
    got: Arc<Mutex<Vec<String>>>,
}
impl Actor for Subscriber {
    type Context = Context<Self>;
}
impl Handler<llmperf_actors::RequestResult> for Subscriber {
    type Result = ();
    fn handle(&mut self, msg: llmperf_actors::RequestResult, _: &mut Context<Self>) {
        self.got.lock().unwrap().push(msg.generated_text);
    }
}

#[actix::test]
async fn one_request_at_a_time_api_mirrors_the_original_launcher() {
    use llmperf_actors::{GetNextReady, LaunchRequest, SubscribeResults};
    let (f, counters) = factory(Duration::from_millis(10), 2);
    let pool = ClientPool::start(f, 2, 1);
    pool.ready().await;
    let launcher = RequestsLauncher::new(pool.recipients()).start();
    assert!(
        launcher
            .send(GetNextReady { block: false })
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        launcher
            .send(GetNextReady { block: true })
            .await
            .unwrap()
            .is_none(),
        "nothing launched: a blocking call must not hang"
    );
    let sub = Subscriber::default();
    let pushed = sub.got.clone();
    launcher.do_send(SubscribeResults(sub.start().recipient()));
    for r in requests(5) {
        launcher.do_send(LaunchRequest(r.config));
    }
    assert!(
        launcher
            .send(GetNextReady { block: false })
            .await
            .unwrap()
            .is_none(),
        "nothing has finished yet"
    );
    let mut texts = Vec::new();
    while let Some(r) = launcher.send(GetNextReady { block: true }).await.unwrap() {
        assert!(r.metrics.is_ok());
        assert_eq!(r.metrics.number_input_tokens, 10);
        texts.push(r.generated_text);
    }
    texts.sort();
    assert_eq!(
        texts,
        (0..5).map(|i| format!("prompt {i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        counters.peak.load(Ordering::SeqCst),
        2,
        "one request per client at a time"
    );
    eventually("subscribers get every result too", || {
        pushed.lock().unwrap().len() >= 5
    })
    .await;
    assert_eq!(
        pushed.lock().unwrap().len(),
        5,
        "subscribers get every result, once"
    );
}
