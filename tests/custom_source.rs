//! A new load mode is one new file: this test writes one — `Ticker`, "N requests, one every M ms, at most K in
//! flight" — and runs it through the real dispatch core and client actors with `RunSource`. Nothing in the
//! crate knows about it.

#[path = "common/scripted.rs"]
mod scripted;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use llmperf_actors::actors::{ClientPool, RequestsLauncher};
use llmperf_actors::messages::{PreparedRequest, RunSource};
use llmperf_actors::sources::{Due, Next, Now, Outgoing, RequestSource, Target};
use scripted::{Sink, echo, requests};

// ---- the load mode ----------------------------------------------------------------------------------------

/// `n` requests from `pool`, one every `every` seconds, at most `cap` in flight (a request held back by the
/// cap leaves when a slot frees, and the next is due `every` after it).
struct Ticker {
    pool: Vec<PreparedRequest>,
    n: usize,
    every: f64,
    cap: usize,
    sent: usize,
    next_at: f64,
    /// A wake-up is pending at `next_at`.
    waking: bool,
}

impl RequestSource for Ticker {
    fn next(&mut self, now: &Now) -> Next {
        if self.sent == self.n {
            return Next::Done;
        }
        if self.waking || now.in_flight >= self.cap {
            return Next::Wait;
        }
        if now.offset < self.next_at {
            self.waking = true;
            return Next::at(self.next_at);
        }
        let index = self.sent;
        self.sent += 1;
        self.next_at = now.offset + self.every;
        let request = self.pool[index % self.pool.len()].clone();
        Next::Send(Outgoing {
            target: Target::RoundRobin,
            ..Outgoing::now(index, request)
        })
    }

    fn due(&mut self, _: Due, _: &Now) {
        self.waking = false;
    }
}

// ---- run through the real core ----------------------------------------------------------------------------

/// Any source, recording when the core was told to send each request (seconds from the start).
struct Recorded<S>(S, Arc<Mutex<Vec<f64>>>);

impl<S: RequestSource> RequestSource for Recorded<S> {
    fn next(&mut self, now: &Now) -> Next {
        let next = self.0.next(now);
        if let Next::Send(_) = next {
            self.1.lock().unwrap().push(now.offset);
        }
        next
    }

    fn due(&mut self, due: Due, now: &Now) {
        self.0.due(due, now);
    }
}

#[actix::test]
async fn a_source_written_outside_the_crate_runs_through_the_real_core() {
    // 60 ms replies, one request every 25 ms, at most 2 in flight.
    let (factory, counters) = echo(Duration::from_millis(60));
    let pool = ClientPool::start(factory, 2, 1);
    pool.ready().await;
    let launcher = RequestsLauncher::new(pool.recipients()).start();
    let (sink, seen) = Sink::start_new();
    let ticker = Ticker {
        pool: requests(3),
        n: 8,
        every: 0.025,
        cap: 2,
        sent: 0,
        next_at: 0.0,
        waking: false,
    };
    let sent_at = Arc::new(Mutex::new(Vec::new()));
    let done = launcher
        .send(RunSource {
            source: Box::new(Recorded(ticker, sent_at.clone())),
            timeout: Duration::from_secs(30),
            collector: sink,
            grace: None,
        })
        .await
        .unwrap();
    actix_rt::time::sleep(Duration::from_millis(20)).await;

    assert_eq!((done.launched, done.timed_out), (8, false));
    assert_eq!(counters.sent(), 8);
    assert!(counters.peak() <= 2, "peak {}", counters.peak());
    // Paced by the core's pacer: never early, so each send at least 25 ms after the one before.
    let sent_at = sent_at.lock().unwrap().clone();
    assert_eq!(sent_at.len(), 8);
    for w in sent_at.windows(2) {
        assert!(w[1] - w[0] >= 0.025 - 1e-9, "{sent_at:?}");
    }
    let mut indices: Vec<usize> = seen.lock().unwrap().iter().map(|r| r.index).collect();
    indices.sort();
    assert_eq!(indices, (0..8).collect::<Vec<_>>());
    let prompts: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.request.config.prompt.0.clone())
        .collect();
    assert!(prompts.iter().all(|p| p.starts_with("prompt ")));
}
