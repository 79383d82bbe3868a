//! The `Progress` actor: live progress of a run — completed / in flight / errors, current request and token
//! throughput, elapsed and remaining time (by requests or by duration).
//!
//! It runs on an arbiter of its own, off the client arbiters, so drawing never delays a timestamp. The
//! launcher sends it [`ProgressEvent::Launched`] per request sent and the collector
//! [`ProgressEvent::Recorded`] per result: each costs a few counter updates (O(1), no rescans). A timer redraws
//! twice a second; the current rates come from a short ring of counter snapshots (the last ~5 s). The runner
//! sends [`FinishProgress`] at the end of the run, and waits for it before printing the summary.
//!
//! Output goes to stderr: an indicatif bar when stdout and stderr are terminals and `NO_COLOR` is unset
//! ([`ProgressMode::Auto`]), otherwise a plain line every 5 s and one at the end — no escape codes.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use actix::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::messages::{FinishProgress, ProgressEvent};
use crate::report::ProgressMode;

const TICK: Duration = Duration::from_millis(500);
const PLAIN_EVERY: Duration = Duration::from_secs(5);
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

/// The counters, separate from drawing so they can be tested alone.
#[derive(Debug, Clone)]
pub struct ProgressState {
    plan: ProgressPlan,
    started: Instant,
    launched: u64,
    recorded: u64,
    errors: u64,
    output_tokens: u64,
    window: VecDeque<(Instant, u64, u64)>,
}

impl ProgressState {
    /// Counters at zero, the clock starting now.
    pub fn new(plan: ProgressPlan) -> Self {
        let started = Instant::now();
        ProgressState {
            plan,
            started,
            launched: 0,
            recorded: 0,
            errors: 0,
            output_tokens: 0,
            window: VecDeque::from([(started, 0, 0)]),
        }
    }

    /// Applies one event: O(1).
    pub fn apply(&mut self, e: ProgressEvent) {
        match e {
            ProgressEvent::Launched => self.launched += 1,
            ProgressEvent::Recorded {
                ok, output_tokens, ..
            } => {
                self.recorded += 1;
                if ok {
                    self.output_tokens += output_tokens;
                } else {
                    self.errors += 1;
                }
            }
        }
    }

    /// Takes a snapshot for the current rates (called by the timer, not per result).
    pub fn sample(&mut self, now: Instant) {
        self.window
            .push_back((now, self.recorded, self.output_tokens));
        while self.window.len() > WINDOW {
            self.window.pop_front();
        }
    }

    /// Requests recorded.
    pub fn completed(&self) -> u64 {
        self.recorded
    }

    /// Requests sent and not yet recorded.
    pub fn in_flight(&self) -> u64 {
        self.launched.saturating_sub(self.recorded)
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
            (self.recorded - r0) as f64 / dt,
            (self.output_tokens - k0) as f64 / dt,
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
            .map(|t| t.saturating_sub(self.recorded) as f64 / rate);
        match (by_time, by_count) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The counters as one plain line.
    pub fn line(&self, now: Instant) -> String {
        let (rps, tps) = self.rates(now);
        let total = self.plan.total.map_or(String::new(), |t| format!("/{t}"));
        let remaining = self
            .remaining_s(now)
            .map_or("?".into(), |s| clock(s.round() as u64));
        format!(
            "{}: {}{total} done, {} in flight, {} errors | {rps:.1} req/s, {tps:.0} tok/s | {} elapsed, {remaining} left",
            self.plan.label,
            self.recorded,
            self.in_flight(),
            self.errors,
            clock(now.saturating_duration_since(self.started).as_secs()),
        )
    }
}

fn clock(s: u64) -> String {
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// Whether progress is drawn as a bar for `mode` here: stdout and stderr are terminals and `NO_COLOR` unset.
pub fn use_bar(mode: ProgressMode) -> bool {
    match mode {
        ProgressMode::Bar => true,
        ProgressMode::Auto => {
            std::io::stdout().is_terminal()
                && std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
        ProgressMode::Plain | ProgressMode::Off => false,
    }
}

enum Draw {
    Bar(ProgressBar),
    Plain { last: Instant },
}

/// Shows a run's progress (see the module docs).
pub struct Progress {
    state: ProgressState,
    draw: Draw,
}

impl Progress {
    /// Starts the actor on an arbiter of its own; returns its address and the arbiter (stop it when done).
    /// `None` for [`ProgressMode::Off`].
    pub fn start_own_arbiter(
        plan: ProgressPlan,
        mode: ProgressMode,
    ) -> Option<(Addr<Progress>, Arbiter)> {
        if mode == ProgressMode::Off {
            return None;
        }
        let bar = use_bar(mode);
        let arbiter = Arbiter::new();
        let addr = Progress::start_in_arbiter(&arbiter.handle(), move |_| {
            let state = ProgressState::new(plan);
            let draw = if bar {
                let pb = match state.plan.total {
                    Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
                    None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                };
                let template = if state.plan.total.is_some() {
                    "{prefix} [{bar:20}] {pos}/{len} {wide_msg}"
                } else {
                    "{prefix} {spinner} {pos} {wide_msg}"
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    pb.set_style(style.progress_chars("=> "));
                }
                pb.set_prefix(state.plan.label.clone());
                Draw::Bar(pb)
            } else {
                Draw::Plain {
                    last: Instant::now(),
                }
            };
            Progress { state, draw }
        });
        Some((addr, arbiter))
    }

    fn redraw(&mut self, now: Instant, force: bool) {
        match &mut self.draw {
            Draw::Bar(pb) => {
                let (rps, tps) = self.state.rates(now);
                let remaining = self
                    .state
                    .remaining_s(now)
                    .map_or("?".into(), |s| clock(s.round() as u64));
                pb.set_position(self.state.completed());
                pb.set_message(format!(
                    "{} in flight, {} errors | {rps:.1} req/s, {tps:.0} tok/s | {} elapsed, {remaining} left",
                    self.state.in_flight(),
                    self.state.errors,
                    clock(
                        now.saturating_duration_since(self.state.started)
                            .as_secs()
                    ),
                ));
            }
            Draw::Plain { last } => {
                if force || now.saturating_duration_since(*last) >= PLAIN_EVERY {
                    *last = now;
                    eprintln!("{}", self.state.line(now));
                }
            }
        }
    }
}

impl Actor for Progress {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(TICK, |act, _| {
            let now = Instant::now();
            act.state.sample(now);
            act.redraw(now, false);
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
        self.redraw(now, true);
        if let Draw::Bar(pb) = &self.draw {
            pb.finish();
        }
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
            "run: 2/10 done, 2 in flight, 1 errors | 1.0 req/s, 50 tok/s | 00:02 elapsed, 00:08 left"
        );
        assert!(!s.line(now).contains('\x1b'));
    }
}
