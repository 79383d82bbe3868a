//! The `Progress` actor: live progress of a run — completed / in flight / errors, current request and token
//! throughput, elapsed and remaining time (by requests or by duration) — reported to the run's
//! [`RunObserver`] as [`ProgressSnapshot`]s. It draws nothing: the binary's console turns the snapshots into a
//! bar or plain lines on stderr.
//!
//! It runs on an arbiter of its own, off the client arbiters, so observing never delays a timestamp. The
//! launcher counts [`ProgressEvent::Launched`] per request sent and the collector [`ProgressEvent::Recorded`]
//! per result into a shared [`ProgressTally`] (a few atomic additions, no message: two mailbox messages per
//! request would wake this arbiter's thread 2,000 times a second at 1,000 requests/s, for counters nobody
//! reads between snapshots). A timer takes a snapshot twice a second from the tally; the current rates come
//! from a short ring of counter snapshots (the last ~5 s). Events sent as messages are counted into the same
//! tally. The runner sends [`FinishProgress`] at the end of the run, and waits for it before reporting the
//! run's summary, so the last snapshot counts every result.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::messages::{FinishProgress, ProgressEvent};
use crate::observer::{ProgressSnapshot, RunObserver};

const TICK: Duration = Duration::from_millis(500);
const WINDOW: usize = 10;

/// What a run is expected to do, for the "remaining" estimate.
#[derive(Debug, Clone, Default)]
pub struct ProgressPlan {
    /// Shown before the counters (the run's base name).
    pub label: String,
    /// Requests to send, when capped.
    pub total: Option<u64>,
    /// Seconds the run lasts at most (its timeout or `--duration`).
    pub duration_s: Option<f64>,
}

/// The run's progress counters, shared by the launcher, the collector and the [`Progress`] actor: counting is
/// a few relaxed atomic additions on the counting thread, and wakes nobody.
#[derive(Debug, Clone, Default)]
pub struct ProgressTally(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    launched: AtomicU64,
    recorded: AtomicU64,
    errors: AtomicU64,
    output_tokens: AtomicU64,
}

impl ProgressTally {
    /// Takes back `n` launches: requests counted as launched that were never sent (follow-ons withdrawn by a
    /// stop, or refused for the timeout).
    pub(crate) fn unlaunch(&self, n: u64) {
        let _ = self
            .0
            .launched
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                Some(l.saturating_sub(n))
            });
    }

    /// Counts one event.
    pub fn record(&self, e: ProgressEvent) {
        let c = &self.0;
        match e {
            ProgressEvent::Launched => {
                c.launched.fetch_add(1, Ordering::Relaxed);
            }
            ProgressEvent::Recorded {
                ok, output_tokens, ..
            } => {
                if ok {
                    c.output_tokens.fetch_add(output_tokens, Ordering::Relaxed);
                } else {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                }
                c.recorded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The counters, separate from reporting so they can be tested alone.
#[derive(Debug, Clone)]
pub struct ProgressState {
    plan: ProgressPlan,
    started: Instant,
    tally: ProgressTally,
    window: VecDeque<(Instant, u64, u64)>,
}

impl ProgressState {
    /// Counters at zero, the clock starting now.
    pub fn new(plan: ProgressPlan) -> Self {
        Self::with_tally(plan, ProgressTally::default())
    }

    /// Reads its counters from `tally`, the clock starting now.
    pub fn with_tally(plan: ProgressPlan, tally: ProgressTally) -> Self {
        let started = Instant::now();
        let mut state = ProgressState {
            plan,
            started,
            tally,
            window: VecDeque::new(),
        };
        state.sample(started);
        state
    }

    /// Applies one event: O(1).
    pub fn apply(&mut self, e: ProgressEvent) {
        self.tally.record(e);
    }

    fn recorded(&self) -> u64 {
        ProgressTally::get(&self.tally.0.recorded)
    }

    fn output_tokens(&self) -> u64 {
        ProgressTally::get(&self.tally.0.output_tokens)
    }

    fn errors(&self) -> u64 {
        ProgressTally::get(&self.tally.0.errors)
    }

    /// Takes a snapshot for the current rates (called by the timer, not per result).
    pub fn sample(&mut self, now: Instant) {
        let snapshot = (now, self.recorded(), self.output_tokens());
        self.window.push_back(snapshot);
        while self.window.len() > WINDOW {
            self.window.pop_front();
        }
    }

    /// Requests recorded.
    pub fn completed(&self) -> u64 {
        self.recorded()
    }

    /// Requests sent and not yet recorded.
    pub fn in_flight(&self) -> u64 {
        // Saturating: the two counters are read a moment apart, from other threads' relaxed additions.
        ProgressTally::get(&self.tally.0.launched).saturating_sub(self.recorded())
    }

    /// (requests/s, output tokens/s) over the snapshot window.
    pub fn rates(&self, now: Instant) -> (f64, f64) {
        let Some(&(t0, r0, k0)) = self.window.front() else {
            return (0.0, 0.0);
        };
        let dt = now.saturating_duration_since(t0).as_secs_f64();
        if dt <= 0.0 {
            return (0.0, 0.0);
        }
        (
            self.recorded().saturating_sub(r0) as f64 / dt,
            self.output_tokens().saturating_sub(k0) as f64 / dt,
        )
    }

    /// Seconds left: by requests (at the current rate) and by duration; the smaller when both are known.
    pub fn remaining_s(&self, now: Instant) -> Option<f64> {
        let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
        let by_time = self.plan.duration_s.map(|d| (d - elapsed).max(0.0));
        let (rate, _) = self.rates(now);
        let by_count = self
            .plan
            .total
            .filter(|_| rate > 0.0)
            .map(|t| t.saturating_sub(self.recorded()) as f64 / rate);
        match (by_time, by_count) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The counters at `now`.
    pub fn snapshot(&self, now: Instant) -> ProgressSnapshot {
        let (requests_per_s, tokens_per_s) = self.rates(now);
        ProgressSnapshot {
            label: self.plan.label.clone(),
            completed: self.recorded(),
            total: self.plan.total,
            in_flight: self.in_flight(),
            errors: self.errors(),
            requests_per_s,
            tokens_per_s,
            elapsed_s: now.saturating_duration_since(self.started).as_secs_f64(),
            remaining_s: self.remaining_s(now),
        }
    }

    /// The counters as one plain line.
    pub fn line(&self, now: Instant) -> String {
        self.snapshot(now).to_string()
    }
}

/// Reports a run's progress to its observer (see the module docs).
pub struct Progress {
    state: ProgressState,
    observer: Arc<dyn RunObserver>,
}

impl Progress {
    /// Starts the actor on an arbiter of its own, reading its counters from `tally` and reporting to
    /// `observer`; returns its address and the arbiter (stop it when done).
    pub fn start_own_arbiter(
        plan: ProgressPlan,
        observer: Arc<dyn RunObserver>,
        tally: ProgressTally,
    ) -> (Addr<Progress>, Arbiter) {
        let arbiter = Arbiter::new();
        let addr = Progress::start_in_arbiter(&arbiter.handle(), move |_| Progress {
            state: ProgressState::with_tally(plan, tally),
            observer,
        });
        (addr, arbiter)
    }
}

impl Actor for Progress {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(TICK, |act, _| {
            let now = Instant::now();
            act.state.sample(now);
            act.observer.progress(&act.state.snapshot(now));
        });
    }
}

impl Handler<ProgressEvent> for Progress {
    type Result = ();

    fn handle(&mut self, msg: ProgressEvent, _: &mut Context<Self>) {
        self.state.apply(msg);
    }
}

impl Handler<FinishProgress> for Progress {
    type Result = ();

    fn handle(&mut self, _: FinishProgress, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.observer.progress_finished(&self.state.snapshot(now));
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_rates_and_remaining() {
        let mut s = ProgressState::new(ProgressPlan {
            label: "run".into(),
            total: Some(10),
            duration_s: None,
        });
        let t0 = s.started;
        for _ in 0..4 {
            s.apply(ProgressEvent::Launched);
        }
        s.apply(ProgressEvent::Recorded {
            ok: true,
            output_tokens: 100,
            warmup: false,
        });
        s.apply(ProgressEvent::Recorded {
            ok: false,
            output_tokens: 0,
            warmup: false,
        });
        let now = t0 + Duration::from_secs(2);
        assert_eq!(s.in_flight(), 2);
        assert_eq!(s.rates(now), (1.0, 50.0));
        assert_eq!(s.remaining_s(now), Some(8.0));
        assert_eq!(
            s.line(now),
            "run: 2/10 requests, 2 in flight, 1 errors | 1.0 req/s, 50 tok/s | 00:02 elapsed, 00:08 left"
        );
        assert!(!s.line(now).contains('\x1b'));
    }
}
