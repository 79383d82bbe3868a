//! The closed loop, the open loop and the one-at-a-time API through the dispatch core, checked with the scripted client so
//! counts are exact.

#[path = "common/scripted.rs"]
mod scripted;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use llmperf_actors::actors::progress::{ProgressPlan, ProgressState};
use llmperf_actors::actors::{ClientPool, ProgressTally, RequestsLauncher};
use llmperf_actors::backend::ClientFactory;
use llmperf_actors::messages::{RequestCompleted, RunFinished, RunRequests, StopRun};
use scripted::{Counters, Reply, Sink, echo, echo_gated, eventually, requests, scripted};

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

/// Starts a closed loop of `n` requests, `c` at a time, on clients from `f`, with a progress tally; returns
/// the launcher (the run is under way), its reply to come, the tally, the sink and the pool.
#[allow(clippy::type_complexity)]
async fn start_closed_loop(
    f: ClientFactory,
    n: usize,
    c: usize,
    grace: Option<Duration>,
) -> (
    Addr<RequestsLauncher>,
    Request<RequestsLauncher, RunRequests>,
    ProgressTally,
    Arc<Mutex<Vec<RequestCompleted>>>,
    ClientPool,
) {
    let pool = ClientPool::start(f, c, 2);
    pool.ready().await;
    let tally = ProgressTally::default();
    let launcher = RequestsLauncher::new(pool.recipients())
        .with_progress(tally.clone())
        .start();
    let (sink, seen) = Sink::start_new();
    let run = launcher.send(RunRequests {
        grace,
        ..RunRequests::closed_loop(requests(n), c, Duration::from_secs(600), sink)
    });
    (launcher, run, tally, seen, pool)
}

/// Requests counted as launched and not yet recorded (the sink records no progress: all launched).
fn launched(tally: &ProgressTally) -> u64 {
    let plan = ProgressPlan {
        label: String::new(),
        total: None,
        duration_s: None,
    };
    ProgressState::with_tally(plan, tally.clone()).in_flight()
}

#[actix::test]
async fn the_next_request_of_a_closed_loop_starts_without_the_launcher() {
    // One at a time; request 0 takes half a second, the others 10 ms. The launcher queues request 1 on the
    // client along with request 0 (a follow-on). This thread is the launcher's: while it is blocked for two
    // seconds, request 1 still starts the moment request 0 ends, on the client's thread, and nothing after
    // it can (request 2 needs the launcher to hear that 0 ended).
    let (f, counters) = scripted(|c| {
        let ms = if c.prompt.0 == "prompt 0" { 500 } else { 10 };
        Reply::after(Duration::from_millis(ms), c.prompt.0.clone())
    });
    let (_launcher, run, tally, seen, _pool) = start_closed_loop(f, 10, 1, None).await;
    eventually("the first request starts", || counters.sent() >= 1).await;
    assert_eq!(counters.sent(), 1, "request 0 lasts 500 ms");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        counters.sent(),
        2,
        "the follow-on started; nothing after it"
    );
    let done = run.await.unwrap();
    eventually("every request is recorded", || {
        seen.lock().unwrap().len() >= 10
    })
    .await;
    assert_eq!(
        (done.launched, counters.sent(), counters.peak()),
        (10, 10, 1)
    );
    assert_eq!(launched(&tally), 10);
    let mut order: Vec<usize> = seen.lock().unwrap().iter().map(|r| r.index).collect();
    order.sort();
    assert_eq!(order, (0..10).collect::<Vec<_>>());
}

#[actix::test]
async fn a_stop_withdraws_the_follow_ons_and_every_request_sent_is_recorded() {
    // Three at a time, a second each: three follow-ons wait behind the first three when the stop comes.
    let (f, counters) = echo(Duration::from_secs(1));
    let (launcher, run, tally, seen, _pool) =
        start_closed_loop(f, 100, 3, Some(Duration::from_secs(30))).await;
    eventually("the first three start", || counters.sent() >= 3).await;
    launcher.do_send(StopRun {
        grace: Duration::from_secs(30),
    });
    let done = run.await.unwrap();
    eventually("every request sent is recorded", || {
        seen.lock().unwrap().len() >= done.launched
    })
    .await;
    assert!(done.stopped_at.is_some());
    // Sent, counted as launched, recorded: the same three. The withdrawn follow-ons left no trace.
    assert_eq!((done.launched, counters.sent()), (3, 3));
    assert_eq!(launched(&tally), 3);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|r| r.response.measured.error.is_none()));
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
