//! What a person reads after each run: one line with the run's totals, then the metric table (p50/p90/p95/
//! p99, mean and max per metric), a few lines for the load modes when they apply, and — for a run where every
//! request failed — a short explanation instead of a table of empty cells; then one compact table across the
//! runs of a config matrix or a sweep. The warnings with advice are in `table/warnings.rs`. Plain ASCII
//! (Markdown-style) so it reads the same on a terminal, in a log or in a pipe — no escape codes, no dependence
//! on the terminal's width.

use std::fmt::Write;

use comfy_table::{CellAlignment, Table, presets};

pub(crate) mod warnings;
pub use warnings::{WarningContext, warnings};

use super::{Exported, Exporter};
use crate::Error;
use crate::metrics::SeriesStats;
use crate::report::correctness::CorrectnessStats;
use crate::report::description::RunDescription;
use crate::report::export::correctness::answer_lists;
use crate::report::result::RunReport;
use crate::report::stats::{LoadStats, Metric, Stats};
use crate::report::store::RecordStore;

/// How a metric is shown: its row label, the series it comes from, and the scale to its unit.
pub(crate) struct Row {
    /// Row label, with its unit.
    pub label: &'static str,
    /// The metric it shows.
    pub metric: Metric,
    /// Multiplier from the series' unit (seconds, tokens) to the label's unit.
    pub scale: f64,
    /// Only shown for open-loop runs.
    pub open_loop_only: bool,
}

/// The metric rows of the table, in order. Token rows and throughputs are the standard metrics: the server's
/// counts when it sent them (the llmperf keys keep the original's definitions).
pub(crate) const ROWS: [Row; 10] = [
    row("TTFT (ms)", Metric::Ttft, 1e3, false),
    row("ITL (ms)", Metric::InterTokenLatency, 1e3, false),
    row("TPOT (ms)", Metric::Tpot, 1e3, false),
    row("E2E latency (ms)", Metric::EndToEndLatency, 1e3, false),
    row(
        "Output throughput (tok/s/req)",
        Metric::GenerationThroughput,
        1.0,
        false,
    ),
    row("Input tokens", Metric::PromptTokens, 1.0, false),
    row("Output tokens", Metric::GeneratedTokens, 1.0, false),
    row("Scheduled TTFT (ms)", Metric::ScheduledTtft, 1e3, true),
    row(
        "Scheduled E2E (ms)",
        Metric::ScheduledEndToEndLatency,
        1e3,
        true,
    ),
    row("Dispatch delay (ms)", Metric::DispatchDelay, 1e3, true),
];

const fn row(label: &'static str, metric: Metric, scale: f64, open_loop_only: bool) -> Row {
    Row {
        label,
        metric,
        scale,
        open_loop_only,
    }
}

/// A number for a table cell: 1 decimal, or `-` when absent.
pub(crate) fn cell(v: Option<f64>, scale: f64) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{:.1}", x * scale),
        _ => "-".into(),
    }
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::ASCII_MARKDOWN).force_no_tty();
    t.set_header(header.to_vec());
    t
}

fn align_numbers(t: &mut Table, from: usize) {
    let n = t.column_count();
    for i in from..n {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// The metric table of one run: p50/p90/p95/p99/mean/max per metric, over the successful measured requests.
pub fn metrics_table(stats: &Stats) -> String {
    let open = stats.load.target_request_rate.is_some();
    let mut t = new_table(&[
        "Metric (successful requests)",
        "p50",
        "p90",
        "p95",
        "p99",
        "mean",
        "max",
    ]);
    for r in ROWS.iter().filter(|r| open || !r.open_loop_only) {
        let s = stats.series(r.metric);
        let mut cells = vec![r.label.to_string()];
        cells.extend([s.p50(), s.p90(), s.p95(), s.p99()].map(|q| cell(q, r.scale)));
        cells.push(cell(s.mean, r.scale));
        cells.push(cell(s.max, r.scale));
        t.add_row(cells);
    }
    align_numbers(&mut t, 1);
    t.to_string()
}

/// A number as a person reads it: 4 significant digits at most below 100 (`0.333`, `12.36`), one decimal
/// above (`523.4`), no trailing zeros (`5`, not `5.000`); `-` when not finite.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let a = x.abs();
    let text = if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Successful measured requests.
fn successful(stats: &Stats) -> u64 {
    stats.num_completed_requests
}

/// The run's totals on one line: requests, errors, wall time, throughputs, new connections.
pub fn totals_line(name: &str, stats: &Stats) -> String {
    let l = &stats.load;
    let cancelled = if stats.number_cancelled > 0 {
        format!(
            ", {} cancelled (run stopped; not errors)",
            stats.number_cancelled
        )
    } else {
        String::new()
    };
    format!(
        "{name}: {} requests, {} errors ({:.1} %){cancelled}, {:.2} s | {} req/s, {} output tok/s, {} input tok/s | \
         {} new connections",
        stats.num_requests_started,
        stats.number_errors,
        stats.error_rate * 100.0,
        stats.elapsed_s,
        number(l.request_throughput_per_s),
        number(l.output_token_throughput_token_per_s),
        number(l.input_token_throughput_token_per_s),
        l.new_connections
    )
}

/// The lines for what applies to this run only: the open loop's rate and queue, goodput, warm-up, TTFT by
/// turn, and where token counts come from when it is not the server.
fn extra_lines(stats: &Stats) -> Vec<String> {
    let l = &stats.load;
    let mut out = Vec::new();
    if let Some(target) = l.target_request_rate {
        let mut line = format!(
            "Request rate: target {} req/s, achieved {} req/s",
            number(target),
            l.achieved_request_rate.map_or("-".into(), number)
        );
        if l.queued > 0 {
            let _ = write!(
                line,
                "; {} requests waited for a free slot (--max-concurrency)",
                l.queued
            );
        }
        out.push(line);
    }
    if let (Some(slo), Some(f)) = (&l.slo, l.goodput_fraction) {
        out.push(format!(
            "Goodput ({slo}): {:.1} % of requests, {} req/s",
            f * 100.0,
            number(l.goodput_request_rate.unwrap_or(0.0))
        ));
    }
    if l.warmup_requests > 0 {
        out.push(format!(
            "Warm-up: {} requests left out of the statistics",
            l.warmup_requests
        ));
    }
    if !stats.ttft_by_turn.is_empty() {
        let turns: Vec<String> = stats
            .ttft_by_turn
            .iter()
            .map(|t| format!("{}: {}", t.turn, cell(t.ttft.p50(), 1e3)))
            .collect();
        out.push(format!("TTFT p50 by turn (ms): {}", turns.join(", ")));
    }
    if l.token_counts_source() != "server" && successful(stats) > 0 {
        out.push(format!("Token counts: {}", token_counts_note(l)));
    }
    out
}

/// Where the token rows and throughputs come from.
fn token_counts_note(l: &LoadStats) -> String {
    match (l.token_counts_source(), l.server_counted) {
        ("server", _) => "the server's usage".into(),
        ("mixed", (s, n)) => {
            format!("the server's usage for {s} of {n}, the tokenizer for the rest")
        }
        _ => "the tokenizer (the server sent no usage)".into(),
    }
}

/// A run with no successful request: what happened, in one line, instead of a table of empty cells.
fn failed_run(stats: &Stats) -> String {
    if stats.num_requests_started == 0 {
        return "No request was sent: nothing to measure.".into();
    }
    let kinds: Vec<String> = stats
        .error_kinds
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    format!(
        "Every request failed (codes {}{}): no latency or throughput to show. The warning below says why; each \
         error is in the per-request log.",
        stats.error_code_frequency(),
        if kinds.is_empty() {
            String::new()
        } else {
            format!("; kinds {}", kinds.join(", "))
        }
    )
}

/// What is printed for one run: its totals line, then the metric table (or, when every request failed, a
/// short explanation), then the lines for what applies to this run only.
pub fn run_text(name: &str, stats: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{}", totals_line(name, stats));
    if successful(stats) == 0 {
        let _ = writeln!(out, "{}", failed_run(stats));
    } else {
        let _ = writeln!(out, "{}", metrics_table(stats));
    }
    for line in extra_lines(stats) {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// [`run_text`], then a line per warning (`warnings`): what `report DIR` prints (a live run reports its
/// warnings to its observer instead).
pub fn summary_tables(name: &str, stats: &Stats, records: &RecordStore) -> String {
    let mut out = run_text(name, stats);
    for w in warnings(stats, records, &WarningContext::default()) {
        let _ = writeln!(out, "Warning: {w}");
    }
    out
}

/// A correctness run: its counts on one line (rates formatted), then the mismatched and errored answers.
pub fn correctness_text(name: &str, scores: &CorrectnessStats, records: &RecordStore) -> String {
    format!(
        "\n{name}: {} requests, {} errors ({:.1} %), {} mismatched ({:.1} %), {} answered correctly\n{}",
        scores.num_completed_requests,
        scores.number_errors,
        scores.error_rate * 100.0,
        scores.num_mismatched_requests,
        scores.mismatch_rate * 100.0,
        scores
            .num_non_errored_requests
            .saturating_sub(scores.num_mismatched_requests),
        answer_lists(records)
    )
}

/// The exporter of the text after each run: [`run_text`] for a load test (and its warnings, with
/// [`SummaryTable::with_warnings`]); [`correctness_text`] for a correctness run.
#[derive(Debug, Clone, Copy, Default)]
pub struct SummaryTable {
    warnings: bool,
}

impl SummaryTable {
    /// Also prints the warnings (for `report DIR`, which has no observer).
    pub fn with_warnings() -> SummaryTable {
        SummaryTable { warnings: true }
    }
}

impl Exporter for SummaryTable {
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        let name = &report.description.base_name;
        let text = match &report.scores {
            Some(scores) => correctness_text(name, scores, &report.records),
            None if self.warnings => summary_tables(name, &report.stats, &report.records),
            None => run_text(name, &report.stats),
        };
        out.text.push_str(&text);
        Ok(())
    }
}

/// The exporter of one compact table across the runs of a config matrix or a sweep, printed when every run
/// is over (if there was more than one).
#[derive(Debug, Clone, Default)]
pub struct RunsTable {
    rows: Vec<Vec<String>>,
}

impl RunsTable {
    /// The table's row of one run. A correctness run has no load-test statistics: its row has always shown
    /// dashes and zeros.
    fn row(description: &RunDescription, stats: Option<&Stats>) -> Vec<String> {
        let none = SeriesStats::default();
        let series = |m: Metric| stats.map_or(&none, |s| s.series(m));
        let load = stats.map(|s| &s.load);
        vec![
            description
                .summary_name()
                .trim_end_matches("_summary")
                .to_string(),
            description.params.num_concurrent_requests.to_string(),
            load.and_then(|l| l.target_request_rate)
                .map_or("-".into(), number),
            format!("{:.3}", load.map_or(0.0, |l| l.request_throughput_per_s)),
            // The same throughput as each run's totals line (server counts when the server sent them).
            cell(load.map(|l| l.output_token_throughput_token_per_s), 1.0),
            cell(series(Metric::Ttft).p50(), 1e3),
            cell(series(Metric::Ttft).p99(), 1e3),
            cell(series(Metric::EndToEndLatency).p50(), 1e3),
            cell(series(Metric::EndToEndLatency).p99(), 1e3),
            format!("{:.1} %", stats.map_or(0.0, |s| s.error_rate) * 100.0),
        ]
    }
}

impl Exporter for RunsTable {
    fn run(&mut self, report: &RunReport, _: &mut Exported) -> Result<(), Error> {
        let stats = report.scores.is_none().then_some(&report.stats);
        self.rows.push(Self::row(&report.description, stats));
        Ok(())
    }

    fn finish(&mut self, out: &mut Exported) -> Result<(), Error> {
        if self.rows.len() < 2 {
            return Ok(());
        }
        let mut t = new_table(&[
            "Run",
            "conc.",
            "rate",
            "req/s",
            "out tok/s",
            "TTFT p50 (ms)",
            "TTFT p99 (ms)",
            "E2E p50 (ms)",
            "E2E p99 (ms)",
            "errors",
        ]);
        for row in self.rows.drain(..) {
            t.add_row(row);
        }
        align_numbers(&mut t, 1);
        let _ = write!(out.text, "\nAll runs\n{t}\n");
        Ok(())
    }
}
