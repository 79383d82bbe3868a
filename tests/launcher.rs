//! The closed loop, the open loop and the one-at-a-time API through the dispatch core, checked with the scripted client so
//! counts are exact.

#[path = "common/scripted.rs"]
mod scripted;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use llmperf_actors::actors::{ClientPool, RequestsLauncher};
use llmperf_actors::messages::{RunFinished, RunRequests};
use scripted::{Counters, Sink, echo, echo_gated, eventually, requests};

async fn run(
    n: usize,
    c: usize,
    delay_ms: u64,
    timeout: Duration,
) -> (Vec<usize>, Arc<Counters>, bool) {
    let (f, counters) = echo_gated(Duration::from_millis(delay_ms), n.min(c));
    let pool = ClientPool::start(f, c, 2);
    pool.ready().await;
    let launcher = RequestsLauncher::new(pool.recipients()).start();
    let (sink, seen) = Sink::start_new();
    let done = launcher
        .send(RunRequests::closed_loop(requests(n), c, timeout, sink))
        .await
        .unwrap();
    // Results are forwarded before the reply; wait for the sink's mailbox rather than guess how long it takes.
    eventually("every launched request reaches the sink", || {
        seen.lock().unwrap().len() >= done.launched
    })
    .await;
    let seen: Vec<usize> = seen.lock().unwrap().iter().map(|r| r.index).collect();
    assert_eq!(done.launched, seen.len());
    (seen, counters, done.timed_out)
}

#[actix::test]
async fn keeps_exactly_c_in_flight_and_sends_each_request_once() {
    let (mut seen, counters, timed_out) = run(25, 4, 15, Duration::from_secs(60)).await;
    assert!(!timed_out);
    assert_eq!(counters.peak(), 4);
    assert_eq!(counters.sent(), 25, "no surplus requests");
    seen.sort();
    assert_eq!(seen, (0..25).collect::<Vec<_>>());
}

#[actix::test]
async fn concurrency_above_the_request_count_sends_no_more_than_asked() {
    let (seen, counters, _) = run(3, 10, 5, Duration::from_secs(60)).await;
    assert_eq!(seen.len(), 3);
    assert_eq!(counters.sent(), 3);
}

#[actix::test]
async fn timeout_stops_launching_but_in_flight_requests_are_recorded() {
    // Two at a time, at least 100 ms each, timeout 250 ms: each slot launches at ≥ 0, ≥ 0.1 and ≥ 0.2 s, never at
    // ≥ 0.3 s, so at most 6 (exact). The first two start at once; how many more start before 250 ms depends on
    // the machine's load (each needs the one before it done in time), so 2 is the lower bound.
    let (seen, counters, timed_out) = run(100, 2, 100, Duration::from_millis(250)).await;
    assert!(timed_out);
    let sent = counters.sent();
    assert!((2..=6).contains(&sent), "sent {sent}");
    assert_eq!(seen.len(), sent, "every launched request is recorded");
}

async fn open_loop(
    offsets: Vec<f64>,
    cap: usize,
    timeout: Duration,
) -> (Vec<(usize, f64, f64)>, Arc<Counters>, RunFinished) {
    let (f, counters) = echo(Duration::from_millis(50));
    let pool = ClientPool::start(f, 2, 1);
    pool.ready().await;
    let launcher = RequestsLauncher::new(pool.recipients()).start();
    let (sink, seen) = Sink::start_new();
    let done = launcher
        .send(RunRequests {
            requests: requests(3),
            limit: offsets.len(),
            concurrency: cap,
            schedule: Some(offsets.into()),
            timeout,
            collector: sink,
            grace: None,
        })
        .await
        .unwrap();
    eventually("every launched request reaches the sink", || {
        seen.lock().unwrap().len() >= done.launched
    })
    .await;
    let mut seen: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| (r.index, r.scheduled_start_s, r.start_offset_s))
        .collect();
    seen.sort_by_key(|s| s.0);
    (seen, counters, done)
}

#[actix::test]
async fn open_loop_queues_at_the_cap_and_sends_every_request_late_rather_than_never() {
    // Ten due 10 ms apart, 50 ms replies, at most 2 in flight: most wait for a slot.
    let offsets: Vec<f64> = (0..10).map(|k| k as f64 * 0.01).collect();
    let (seen, counters, done) = open_loop(offsets.clone(), 2, Duration::from_secs(30)).await;
    assert_eq!((done.launched, done.timed_out), (10, false));
    assert!(done.queued >= 5, "queued {}", done.queued);
    assert!(counters.peak() <= 2);
    for (k, &(index, scheduled, actual)) in seen.iter().enumerate() {
        assert_eq!((index, scheduled), (k, offsets[k]));
        assert!(actual >= scheduled, "{actual} < {scheduled}");
    }
}

#[actix::test]
async fn the_timeout_cuts_an_open_loop_schedule() {
    let (seen, counters, done) =
        open_loop(vec![0.0, 0.05, 5.0], 100, Duration::from_millis(200)).await;
    assert!(done.timed_out);
    assert_eq!((done.launched, counters.sent(), seen.len()), (2, 2, 2));
    let elapsed = done.ended.duration_since(done.started);
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
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
    let (f, counters) = echo_gated(Duration::from_millis(10), 2);
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
    assert_eq!(counters.peak(), 2, "one request per client at a time");
    eventually("subscribers get every result too", || {
        pushed.lock().unwrap().len() >= 5
    })
    .await;
    assert_eq!(
        pushed.lock().unwrap().len(),
        5,
        "subscribers get every result too"
    );
}
