//! Two result sets side by side (`llmperf-actors report DIR --baseline DIR2`): for each run of the current
//! set, the baseline run with the same base name (or the only one, when each set holds one run), and per metric
//! the baseline's and current p50 / p99 and the change in percent; then the throughputs and the error rate.

use std::fmt::Write;

use comfy_table::{CellAlignment, Table, presets};

use super::export::table::{ROWS, cell};
use super::result::RunSummary;
use super::stats::Stats;

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

/// The comparison of every run of `after` that has a baseline in `before` (the run with the same base name,
/// or the only one when each side holds one run).
pub fn compare_runs(before: &[RunSummary], after: &[RunSummary]) -> String {
    let mut out = String::new();
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
    out
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
}
