//! A new load mode is one new file: this test writes one — `Ticker`, "N requests, one every M ms, at most K in
//! flight" — and runs it through the real dispatch core and client actors with `RunSource`. Nothing in the
//! crate knows about it.

#[path = "common/scripted.rs"]
mod scripted;

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
    let done = launcher
        .send(RunSource {
            source: Box::new(ticker),
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
    // Paced, not a burst: each start at least ~25 ms after the one before (less a few ms of scheduling jitter
    // on a busy machine), the eight over at least 7 × 25 ms.
    let starts = counters.starts.lock().unwrap().clone();
    for w in starts.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap >= Duration::from_millis(15), "{gap:?}");
    }
    let span = starts[7] - starts[0];
    assert!(span >= Duration::from_millis(170), "{span:?}");
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
