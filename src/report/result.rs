//! A run's typed result, in three stages:
//!
//! - [`RunResult`]: what the collector yields when the run is over — the [`RunDescription`], the wall-clock
//!   window and every [`RunRecord`] (or what `report DIR` and `merge` read back from files);
//! - [`RunReport`]: the result with its statistics ([`Stats`], and [`CorrectnessStats`] for a correctness
//!   run), which every exporter is fed;
//! - [`RunSummary`]: what a caller gets back — the report without its records, plus the printed text and the
//!   files written.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::correctness::CorrectnessStats;
use super::description::{RunDescription, TestKind};
use super::export::run_file::unix_seconds;
use super::stats::{Stats, summarize_store};
use super::store::RecordStore;
use crate::metrics::SeriesStats;
use crate::server_metrics::ServerRun;

/// When a run ran, and the launcher's counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunWindow {
    /// Wall-clock start of the timed section (the client actors were ready), Unix seconds.
    pub start_unix_s: f64,
    /// From the start to the end of the last request, seconds (monotonic clock).
    pub elapsed_s: f64,
    /// The measured window, warm-up left out: what the rates divide by.
    pub measured_elapsed_s: f64,
    /// Requests sent.
    pub launched: u64,
    /// Open loop: requests that waited for a free slot (`--max-concurrency`).
    pub queued: u64,
    /// The run was stopped before it ran its course (Ctrl-C / SIGTERM): when, and by what.
    pub interrupted: Option<Interruption>,
}

/// How a run was cut short: the first Ctrl-C / SIGTERM stopped its launches (its requests in flight got the
/// grace period, the rest were recorded as cancelled, its files were written). Written into the run file and
/// the summary as `"interrupted": {"signal": "SIGINT", "at_unix_s": …, "after_s": …}` beside
/// `"complete": false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    /// `SIGINT` or `SIGTERM`; `null` when embedding code stopped the run (a `StopRun` without a signal).
    pub signal: Option<String>,
    /// When the run was stopped, Unix seconds.
    pub at_unix_s: f64,
    /// When the run was stopped, seconds after its start.
    pub after_s: f64,
}

impl Interruption {
    /// A run that started at `started` and was stopped at `at`, by `signal` (its number) if one did.
    pub fn stopped(started: Instant, at: Instant, signal: Option<i32>) -> Interruption {
        Interruption {
            signal: signal.map(Interruption::signal_name),
            at_unix_s: unix_seconds(at),
            after_s: at.saturating_duration_since(started).as_secs_f64(),
        }
    }

    /// The name written for a signal number: `SIGINT`, `SIGTERM`, else `signal N`.
    pub fn signal_name(signal: i32) -> String {
        match signal {
            libc::SIGINT => "SIGINT".into(),
            libc::SIGTERM => "SIGTERM".into(),
            n => format!("signal {n}"),
        }
    }

    /// The line printed under a stopped run's report.
    pub fn describe(&self) -> String {
        format!(
            "The run was interrupted by {} {:.1} s after its start: it did not finish; requests not yet sent \
             were not started, those still in flight after the grace period are counted as cancelled, not as \
             errors.",
            self.signal.as_deref().unwrap_or("a stop request"),
            self.after_s
        )
    }
}

/// One finished run, as the collector yields it.
#[derive(Debug)]
pub struct RunResult {
    /// What ran.
    pub description: RunDescription,
    /// When, and the launcher's counts.
    pub window: RunWindow,
    /// Every finished request, in completion order, warm-up included (marked); most of a long run's on disk.
    pub records: RecordStore,
    /// The gaps between content chunks, pooled across the successful measured requests (only a live run has
    /// them: the log keeps no chunk timings).
    pub inter_chunk_gaps: Option<SeriesStats>,
    /// The server's metrics over the run (`--server-metrics`).
    pub server: Option<Box<ServerRun>>,
}

/// A run with its statistics: what every exporter is fed.
#[derive(Debug)]
pub struct RunReport {
    /// What ran.
    pub description: RunDescription,
    /// When, and the launcher's counts.
    pub window: RunWindow,
    /// Every finished request, warm-up included (marked).
    pub records: RecordStore,
    /// LLMPerf's load-test statistics and ours, over the measured records.
    pub stats: Stats,
    /// A correctness run's counts.
    pub scores: Option<CorrectnessStats>,
    /// When the statistics were computed, Unix seconds (the summary's `timestamp`).
    pub timestamp: u64,
    /// The server's metrics over the run (`--server-metrics`).
    pub server: Option<Box<ServerRun>>,
}

impl RunReport {
    /// Computes the statistics of `result`.
    pub fn new(result: RunResult) -> RunReport {
        let RunResult {
            description,
            window,
            records,
            inter_chunk_gaps,
            server,
        } = result;
        let opts = description.load_options(window.queued as usize);
        let mut stats = summarize_store(&records, window.measured_elapsed_s, &opts);
        stats.load.inter_chunk_gap_s = inter_chunk_gaps;
        let scores =
            (description.test == TestKind::Correctness).then(|| CorrectnessStats::of(&records));
        RunReport {
            description,
            window,
            records,
            stats,
            scores,
            timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            server,
        }
    }
}

/// One finished run, as a caller gets it: its description and statistics, the printed report, the files.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// What ran.
    pub description: RunDescription,
    /// When, and the launcher's counts.
    pub window: RunWindow,
    /// The statistics (the `_summary.json` holds the same numbers under LLMPerf's keys).
    pub stats: Stats,
    /// A correctness run's counts.
    pub scores: Option<CorrectnessStats>,
    /// The summary's `timestamp`.
    pub timestamp: u64,
    /// The human-readable report printed to stdout.
    pub text: String,
    /// Files written (none without a results directory).
    pub files: Vec<PathBuf>,
}
