//! Two result sets side by side (`llmperf-actors report DIR --baseline DIR2`): for each run of the current
//! set, the baseline run with the same base name (or the only one, when each set holds one run), and per metric
//! the baseline's and current p50 / p99 and the change in percent; then the throughputs and the error rate.

use std::fmt::Write;

use comfy_table::{CellAlignment, Table, presets};

use super::export::table::{ROWS, cell};
use super::result::RunSummary;
use super::stats::{Metric, Stats};

/// The change from `before` to `after` in percent, `+12.3 %`; `-` when either is missing or `before` is 0.
pub fn change(before: Option<f64>, after: Option<f64>) -> String {
    match (before, after) {
        (Some(b), Some(a)) if b != 0.0 && b.is_finite() && a.is_finite() => {
            format!("{:+.1} %", (a - b) / b * 100.0)
        }
        _ => "-".into(),
    }
}

/// The comparison table of one pair of runs.
pub fn compare_table(before: &Stats, after: &Stats) -> String {
    let mut t = Table::new();
    t.load_style(presets::ASCII_MARKDOWN).force_no_tty();
    t.set_header(vec![
        "Metric",
        "baseline p50",
        "p50",
        "change",
        "baseline p99",
        "p99",
        "change",
    ]);
    let open =
        before.load.target_request_rate.is_some() || after.load.target_request_rate.is_some();
    for r in ROWS.iter().filter(|r| open || !r.open_loop_only) {
        let (b, a) = (before.series(r.metric), after.series(r.metric));
        let (b50, a50) = (b.p50(), a.p50());
        let (b99, a99) = (b.p99(), a.p99());
        t.add_row(vec![
            r.label.to_string(),
            cell(b50, r.scale),
            cell(a50, r.scale),
            change(b50, a50),
            cell(b99, r.scale),
            cell(a99, r.scale),
            change(b99, a99),
        ]);
    }
    let mut totals = Table::new();
    totals.load_style(presets::ASCII_MARKDOWN).force_no_tty();
    totals.set_header(vec!["Total", "baseline", "current", "change"]);
    let rows = [
        (
            "Output throughput (tok/s)",
            before.mean_output_throughput_token_per_s,
            after.mean_output_throughput_token_per_s,
        ),
        (
            "Request throughput (req/s)",
            before.load.request_throughput_per_s,
            after.load.request_throughput_per_s,
        ),
        (
            "Error rate (%)",
            before.error_rate * 100.0,
            after.error_rate * 100.0,
        ),
    ];
    for (name, b, a) in rows {
        totals.add_row(vec![
            name.to_string(),
            format!("{b:.2}"),
            format!("{a:.2}"),
            change(Some(b), Some(a)),
        ]);
    }
    for table in [&mut t, &mut totals] {
        for i in 1..table.column_count() {
            if let Some(c) = table.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    format!("{t}\n{totals}\n")
}

/// Which way a metric gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worse {
    /// Latencies: a rise is a regression, measured in percent of the baseline.
    Up,
    /// Throughputs: a fall is a regression, measured in percent of the baseline.
    Down,
    /// The error rate: a rise is a regression, measured in percentage points (a relative change from 0 % has
    /// no meaning).
    UpPoints,
}

/// How much worse one metric got than its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// The run compared.
    pub run: String,
    /// The metric, as the table labels it (`TTFT (ms) p99`).
    pub metric: String,
    /// Which way is worse.
    pub worse: Worse,
    /// How much worse: percent of the baseline (or percentage points for the error rate); negative when
    /// it got better.
    pub worse_by: f64,
}

impl std::fmt::Display for Regression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (unit, way) = match self.worse {
            Worse::Up => ("%", "higher is worse"),
            Worse::Down => ("%", "lower is worse"),
            Worse::UpPoints => (" points", "higher is worse"),
        };
        write!(
            f,
            "{}: {} worse by {:.1}{unit} ({way})",
            self.run, self.metric, self.worse_by
        )
    }
}

/// How much worse `after` is than `before` for each metric that has a direction: the table's latency rows
/// (p50 and p99; up is worse), the per-request output throughput (p50 and p99; down is worse), the run's
/// output and request throughputs (down is worse) and the error rate (up is worse, in percentage points).
/// The token counts are the workload, not a result, and are left out; so is a metric whose baseline is 0
/// or missing.
pub fn regressions(run: &str, before: &Stats, after: &Stats) -> Vec<Regression> {
    let open =
        before.load.target_request_rate.is_some() || after.load.target_request_rate.is_some();
    let mut out = Vec::new();
    let mut push = |metric: String, worse: Worse, b: Option<f64>, a: Option<f64>| {
        let (Some(b), Some(a)) = (b, a) else {
            return;
        };
        if !(a.is_finite() && b.is_finite()) {
            return;
        }
        let worse_by = match worse {
            Worse::Up if b > 0.0 => (a - b) / b * 100.0,
            Worse::Down if b > 0.0 => (b - a) / b * 100.0,
            Worse::UpPoints => (a - b) * 100.0,
            _ => return,
        };
        out.push(Regression {
            run: run.to_string(),
            metric,
            worse,
            worse_by,
        });
    };
    for r in ROWS.iter().filter(|r| open || !r.open_loop_only) {
        let worse = match r.metric {
            Metric::PromptTokens | Metric::GeneratedTokens => continue,
            Metric::GenerationThroughput => Worse::Down,
            _ => Worse::Up,
        };
        let (b, a) = (before.series(r.metric), after.series(r.metric));
        push(format!("{} p50", r.label), worse, b.p50(), a.p50());
        push(format!("{} p99", r.label), worse, b.p99(), a.p99());
    }
    push(
        "Output throughput (tok/s)".into(),
        Worse::Down,
        Some(before.mean_output_throughput_token_per_s),
        Some(after.mean_output_throughput_token_per_s),
    );
    push(
        "Request throughput (req/s)".into(),
        Worse::Down,
        Some(before.load.request_throughput_per_s),
        Some(after.load.request_throughput_per_s),
    );
    push(
        "Error rate".into(),
        Worse::UpPoints,
        Some(before.error_rate),
        Some(after.error_rate),
    );
    out
}

/// The comparison of every run of `after` that has a baseline in `before` (the run with the same base name,
/// or the only one when each side holds one run), as text, and each compared metric's change
/// ([`regressions`]).
pub fn compare_runs(before: &[RunSummary], after: &[RunSummary]) -> (String, Vec<Regression>) {
    let mut out = String::new();
    let mut changes = Vec::new();
    let only = before.len() == 1 && after.len() == 1;
    for run in after {
        let base = before
            .iter()
            .find(|b| b.description.base_name == run.description.base_name)
            .or(if only { before.first() } else { None });
        match base {
            Some(b) => {
                let _ = writeln!(
                    out,
                    "\nCompared with the baseline {} (change = (current − baseline) / baseline)",
                    b.description.base_name
                );
                out.push_str(&compare_table(&b.stats, &run.stats));
                changes.extend(regressions(
                    &run.description.base_name,
                    &b.stats,
                    &run.stats,
                ));
            }
            None => {
                let _ = writeln!(
                    out,
                    "\nNo baseline run named {} in the baseline directory; not compared.",
                    run.description.base_name
                );
            }
        }
    }
    (out, changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_is_relative_to_the_baseline() {
        assert_eq!(change(Some(2.0), Some(3.0)), "+50.0 %");
        assert_eq!(change(Some(2.0), Some(1.0)), "-50.0 %");
        assert_eq!(change(Some(0.0), Some(1.0)), "-");
        assert_eq!(change(None, Some(1.0)), "-");
    }

    #[test]
    fn regressions_know_which_way_is_worse() {
        use crate::report::stats::summarize;
        use crate::report::stats::testing::record;
        // The same 4 requests, then twice as slow: latencies up 100 %, throughputs down 50 %; one error in 5.
        let base: Vec<_> = (1..=4)
            .map(|i| record(0.1 * i as f64, i as f64, 11, None))
            .collect();
        let mut slow: Vec<_> = (1..=4)
            .map(|i| record(0.2 * i as f64, 2.0 * i as f64, 11, None))
            .collect();
        slow.push(record(0.0, 0.0, 0, Some(500)));
        let r = regressions("run", &summarize(&base, 4.0), &summarize(&slow, 8.0));
        let find = |m: &str| {
            r.iter()
                .find(|x| x.metric == m)
                .unwrap_or_else(|| panic!("{m}: {r:?}"))
        };
        assert_eq!(find("TTFT (ms) p99").worse, Worse::Up);
        assert!((find("TTFT (ms) p99").worse_by - 100.0).abs() < 1e-9);
        assert!((find("E2E latency (ms) p50").worse_by - 100.0).abs() < 1e-9);
        assert_eq!(find("Output throughput (tok/s)").worse, Worse::Down);
        assert!((find("Output throughput (tok/s)").worse_by - 50.0).abs() < 1e-9);
        assert!((find("Error rate").worse_by - 20.0).abs() < 1e-9);
        assert!(r.iter().all(|x| !x.metric.starts_with("Input tokens")));
        // The other way round, everything got better.
        let better = regressions("run", &summarize(&slow, 8.0), &summarize(&base, 4.0));
        assert!(better.iter().all(|x| x.worse_by < 0.0), "{better:?}");
        assert!(
            find("TTFT (ms) p99")
                .to_string()
                .contains("higher is worse")
        );
    }
}
