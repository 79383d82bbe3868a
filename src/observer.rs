//! How a run tells the outside what is happening: the [`RunObserver`] trait. The library prints nothing to
//! stdout; it reports the start of each run, live progress, notices (the original's "Test timed out …"),
//! warnings with their numbers, each finished run's typed summary, the outputs across runs (the table of all
//! runs, a sweep's summary) and the files written — and the caller decides what to show. The binary's console
//! draws a progress bar and prints tables; an embedding application can log, collect or ignore.
//!
//! Observers are called from the runner's thread and, for progress, from the progress actor's own thread:
//! they take `&self` and are `Send + Sync` (use a `Mutex` inside for state).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use llmperf_actors::{RunObserver, RunSummary};
//!
//! #[derive(Default)]
//! struct Names(Mutex<Vec<String>>);
//!
//! impl RunObserver for Names {
//!     fn run_finished(&self, summary: &RunSummary) {
//!         if let Ok(mut names) = self.0.lock() {
//!             names.push(summary.description.base_name.clone());
//!         }
//!     }
//! }
//!
//! let names = Arc::new(Names::default());
//! let mut settings = llmperf_actors::Settings::builder()
//!     .model("sim-model")
//!     .openai_api_base("builtin")
//!     .max_num_completed_requests(2)
//!     .mean_output_tokens(3)
//!     .build()?;
//! settings.simulator.ttft_ms = 1.0;
//! settings.simulator.itl_ms = 1.0;
//! let options = llmperf_actors::RunOptions::new().observer(names.clone());
//! llmperf_actors::run_load_tests_with(&settings, &options)?;
//! assert_eq!(names.0.lock().unwrap().len(), 1);
//! # Ok::<(), llmperf_actors::Error>(())
//! ```

use std::fmt;
use std::path::PathBuf;

use crate::report::{RunDescription, RunSummary};

/// Live progress of one run, sampled twice a second by the progress actor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgressSnapshot {
    /// The run's base name.
    pub label: String,
    /// Requests recorded (finished, successful or not).
    pub completed: u64,
    /// Requests the run sends in all, when capped (a multi-turn run counts every turn's request).
    pub total: Option<u64>,
    /// Requests sent and not yet recorded.
    pub in_flight: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests recorded per second over the last few seconds.
    pub requests_per_s: f64,
    /// Output tokens per second over the last few seconds.
    pub tokens_per_s: f64,
    /// Seconds since the run started.
    pub elapsed_s: f64,
    /// Estimated seconds left (by requests at the current rate, or by the run's duration), when known.
    pub remaining_s: Option<f64>,
}

/// `mm:ss`.
pub fn clock(seconds: f64) -> String {
    let s = if seconds.is_finite() && seconds > 0.0 {
        seconds.round() as u64
    } else {
        0
    };
    format!("{:02}:{:02}", s / 60, s % 60)
}

impl ProgressSnapshot {
    /// The counters after the label: `12/20 requests, 3 in flight, 0 errors`.
    pub fn counts(&self) -> String {
        let total = self.total.map_or(String::new(), |t| format!("/{t}"));
        format!(
            "{}{total} requests, {} in flight, {} errors",
            self.completed, self.in_flight, self.errors
        )
    }

    /// The rates and times: `12.1 req/s, 523 tok/s | 00:01 elapsed, 00:00 left`.
    pub fn rates(&self) -> String {
        let remaining = self.remaining_s.map_or("?".into(), clock);
        format!(
            "{:.1} req/s, {:.0} tok/s | {} elapsed, {remaining} left",
            self.requests_per_s,
            self.tokens_per_s,
            clock(self.elapsed_s)
        )
    }
}

impl fmt::Display for ProgressSnapshot {
    /// One plain line: `run: 12/20 requests, 3 in flight, 0 errors | 12.1 req/s, 523 tok/s | 00:01 elapsed, …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} | {}", self.label, self.counts(), self.rates())
    }
}

/// Receives what a benchmark does, as it happens. Every method has a default: [`RunObserver::warning`] and
/// [`RunObserver::notice`] log (`log::warn!`, `log::info!`), the others do nothing.
pub trait RunObserver: Send + Sync {
    /// A run starts: its prompts are built, its clients ready. `total` is the number of requests it sends
    /// when capped.
    fn run_started(&self, _run: &RunDescription, _total: Option<u64>) {}

    /// Live progress, about twice a second while a run goes (only when progress is not `off`).
    fn progress(&self, _snapshot: &ProgressSnapshot) {}

    /// The run's last progress: every result is counted. Called before [`RunObserver::run_finished`].
    fn progress_finished(&self, _snapshot: &ProgressSnapshot) {}

    /// A line the original LLMPerf prints as it is (e.g. "Test timed out before all requests could be
    /// completed.").
    fn notice(&self, run: &RunDescription, text: &str) {
        log::info!("{}: {text}", run.base_name);
    }

    /// Something that looks wrong, with the numbers that show it and advice; each is reported once.
    fn warning(&self, run: Option<&RunDescription>, text: &str) {
        match run {
            Some(r) => log::warn!("{}: {text}", r.base_name),
            None => log::warn!("{text}"),
        }
    }

    /// A run is over and its files are written: its statistics, its report text (the summary table, and the
    /// original's printed block when asked for) and its files.
    fn run_finished(&self, _summary: &RunSummary) {}

    /// A report across runs and its files: a sweep's summary when the sweep is over, the table of all runs
    /// when every run is over.
    fn across_runs(&self, _text: &str, _files: &[PathBuf]) {}
}

/// The observer of [`crate::run`] and the other functions without one: warnings and notices go to the
/// `log` crate, nothing is printed.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogObserver;

impl RunObserver for LogObserver {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_line_has_the_numbers_and_no_escape_codes() {
        let s = ProgressSnapshot {
            label: "run".into(),
            completed: 2,
            total: Some(10),
            in_flight: 2,
            errors: 1,
            requests_per_s: 1.0,
            tokens_per_s: 50.0,
            elapsed_s: 2.0,
            remaining_s: Some(8.0),
        };
        assert_eq!(
            s.to_string(),
            "run: 2/10 requests, 2 in flight, 1 errors | 1.0 req/s, 50 tok/s | 00:02 elapsed, 00:08 left"
        );
        assert_eq!(clock(f64::NAN), "00:00");
        assert_eq!(clock(61.4), "01:01");
    }
}
