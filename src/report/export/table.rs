//! The summary table printed after the original's summary block: one row per metric with p50/p90/p95/p99,
//! mean and max; the run totals; warnings with advice; and one compact table across the runs of a config
//! matrix or a sweep. Plain ASCII (Markdown-style) so it reads the same on a terminal, in a log or in a
//! pipe — no escape codes, no dependence on the terminal's width.

use std::fmt::Write;

use comfy_table::{CellAlignment, Table, presets};

use super::{Exported, Exporter};
use crate::Error;
use crate::metrics::SeriesStats;
use crate::report::description::RunDescription;
use crate::report::records::RunRecord;
use crate::report::result::RunReport;
use crate::report::stats::{LoadStats, Metric, Stats};

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
    let mut t = new_table(&["Metric", "p50", "p90", "p95", "p99", "mean", "max"]);
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

/// The run totals: requests, errors, wall time, throughputs, goodput.
pub fn totals_table(stats: &Stats) -> String {
    let l = &stats.load;
    let mut t = new_table(&["Total", "value"]);
    let mut add = |k: &str, v: String| {
        t.add_row(vec![k.to_string(), v]);
    };
    add("Requests", stats.num_requests_started.to_string());
    add("Completed", stats.num_completed_requests.to_string());
    add(
        "Errors",
        format!(
            "{} ({:.1} %)",
            stats.number_errors,
            stats.error_rate * 100.0
        ),
    );
    if stats.number_cancelled > 0 {
        add(
            "Cancelled (run stopped; not errors)",
            stats.number_cancelled.to_string(),
        );
    }
    add("Elapsed (s)", format!("{:.2}", stats.elapsed_s));
    add(
        "Output throughput (tok/s)",
        format!("{:.1}", l.output_token_throughput_token_per_s),
    );
    add(
        "Input throughput (tok/s)",
        format!("{:.1}", l.input_token_throughput_token_per_s),
    );
    add(
        "Request throughput (req/s)",
        format!("{:.3}", l.request_throughput_per_s),
    );
    if let Some(target) = l.target_request_rate {
        add(
            "Request rate target / achieved (req/s)",
            format!("{target} / {}", cell(l.achieved_request_rate, 1.0)),
        );
    }
    if let (Some(slo), Some(f)) = (&l.slo, l.goodput_fraction) {
        add(
            &format!("Goodput ({slo})"),
            format!(
                "{:.1} %, {:.3} req/s",
                f * 100.0,
                l.goodput_request_rate.unwrap_or(0.0)
            ),
        );
    }
    if l.warmup_requests > 0 {
        add("Warm-up requests (excluded)", l.warmup_requests.to_string());
    }
    add("New connections", l.new_connections.to_string());
    align_numbers(&mut t, 1);
    t.to_string()
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

/// Things that look wrong in a run, each with advice. `records` are the run's records (warm-up included; it
/// is skipped), with the `max_tokens` each request asked for.
pub fn warnings(stats: &Stats, records: &[RunRecord]) -> Vec<String> {
    let mut out = Vec::new();
    let l = &stats.load;
    if stats.num_requests_started > 0 && stats.error_rate > 0.05 {
        out.push(format!(
            "error rate {:.1} % ({} of {} requests failed, codes {}) — check the endpoint's logs, the API key, \
             --timeout, or lower the concurrency / request rate",
            stats.error_rate * 100.0,
            stats.number_errors,
            stats.num_requests_started - stats.number_cancelled,
            stats.error_code_frequency()
        ));
    }
    if stats.number_cancelled > 0 {
        out.push(format!(
            "{} requests were still in flight when the run was stopped and were cancelled; they are not errors \
             and are left out of the error rate and the statistics — raise --grace-period to let them finish",
            stats.number_cancelled
        ));
    }
    let measured = records.iter().filter(|r| !r.metrics.warmup).count() as f64;
    if l.target_request_rate.is_some()
        && measured > 0.0
        && (l.late_dispatches as f64 / measured > 0.05 || l.max_dispatch_delay_s > 0.010)
    {
        out.push(format!(
            "the client fell behind the schedule: {} of {} requests went out more than 1 ms late (max {:.1} ms) — \
             the rate is too high for this machine, or --max-concurrency queues requests; compare the scheduled \
             latencies with the actual ones",
            l.late_dispatches,
            measured,
            l.max_dispatch_delay_s * 1e3
        ));
    }
    if let Some(ratio) = l.output_tokens_vs_server_ratio
        && (ratio - 1.0).abs() > 0.03
    {
        let mut advice = String::from(
            "the table and the standard metrics use the server's counts; the llmperf keys \
             (number_output_tokens, …) use the tokenizer's",
        );
        if !l.custom_tokenizer {
            advice.push_str(
                " — pass the model's own tokenizer.json with --tokenizer PATH, or \
                 --use-server-token-counts to put the server's counts in the llmperf keys too",
            );
        }
        out.push(format!(
            "the tokenizer counts {:+.1} % output tokens against the server's (special tokens such as BOS \
             excluded, reasoning included); {advice}",
            (ratio - 1.0) * 100.0
        ));
    }
    let ok: Vec<&RunRecord> = records
        .iter()
        .filter(|r| !r.metrics.warmup && r.metrics.is_ok())
        .collect();
    if !ok.is_empty() && ok.iter().all(|r| r.hit_max_tokens()) {
        out.push(
            "every response stopped at max_tokens — output lengths are the cap you set, not the model's; raise \
             --mean-output-tokens to measure natural lengths, or keep it to measure fixed-length generation"
                .into(),
        );
    }
    out
}

/// The whole block printed after the original's summary: metric table, totals, warnings.
pub fn summary_tables(stats: &Stats, records: &[RunRecord]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nSummary (successful requests)");
    let _ = writeln!(out, "{}\n", metrics_table(stats));
    let _ = writeln!(out, "{}", totals_table(stats));
    let _ = writeln!(out, "Token counts: {}", token_counts_note(&stats.load));
    for w in warnings(stats, records) {
        let _ = writeln!(out, "Warning: {w}");
    }
    out
}

/// The exporter of the summary table block after the original's.
#[derive(Debug, Clone, Copy, Default)]
pub struct SummaryTable;

impl Exporter for SummaryTable {
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        out.text
            .push_str(&summary_tables(&report.stats, &report.records));
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
                .map_or("-".into(), |r| r.to_string()),
            format!("{:.3}", load.map_or(0.0, |l| l.request_throughput_per_s)),
            cell(stats.map(|s| s.mean_output_throughput_token_per_s), 1.0),
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
