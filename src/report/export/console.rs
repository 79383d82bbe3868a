//! The human-readable summary the original prints to stdout (spec §6.4), then the lines for our load modes
//! (rates, dispatch lag, queueing, warm-up, goodput) and, for a multi-turn run, TTFT by turn.
//! [`OriginalSummary`] is its exporter: one text block, separate from the summary table, so either can be
//! left out.

use std::fmt::Write;

use super::{Exported, Exporter};
use crate::Error;
use crate::report::description::RunDescription;
use crate::report::result::RunReport;
use crate::report::stats::{Metric, Stats};

/// The exporter of the original's printed block.
#[derive(Debug, Clone, Copy, Default)]
pub struct OriginalSummary;

impl Exporter for OriginalSummary {
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        out.text
            .push_str(&print_summary(&report.description, &report.stats));
        Ok(())
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) => format!("{x:?}"),
        None => "nan".into(),
    }
}

/// Formats the summary the way the original prints it: each metric with its quantiles, mean, min, max and
/// stddev, then the run totals.
pub fn print_summary(info: &RunDescription, stats: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Results for token benchmark for {} queried with the {} api.\n",
        info.params.model, info.params.llm_api
    );
    for (metric, s) in &stats.series {
        let _ = writeln!(out, "{}", metric.name());
        for (label, v) in &s.quantiles {
            let _ = writeln!(out, "    {label} = {}", num(*v));
        }
        let _ = writeln!(out, "    mean = {}", num(s.mean));
        let _ = writeln!(out, "    min = {}", num(s.min));
        let _ = writeln!(out, "    max = {}", num(s.max));
        let _ = writeln!(out, "    stddev = {}", num(s.stddev));
    }
    let _ = writeln!(out, "Number Of Errored Requests: {}", stats.number_errors);
    if stats.number_cancelled > 0 {
        let _ = writeln!(
            out,
            "Number Of Cancelled Requests: {} (in flight when the run was stopped; not errors)",
            stats.number_cancelled
        );
    }
    if stats.number_errors > 0 {
        let _ = writeln!(out, "Error Code Frequency");
        let _ = writeln!(out, "{}", stats.error_code_frequency());
        let kinds: Vec<String> = stats
            .error_kinds
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let _ = writeln!(out, "Error Kinds: {}", kinds.join(", "));
    }
    let _ = writeln!(
        out,
        "Overall Output Throughput: {:?}",
        stats.mean_output_throughput_token_per_s
    );
    let _ = writeln!(
        out,
        "Number Of Completed Requests: {}",
        stats.num_completed_requests
    );
    let _ = writeln!(
        out,
        "Completed Requests Per Minute: {:?}",
        stats.num_completed_requests_per_min
    );
    print_load(&mut out, stats);
    print_turns(&mut out, stats);
    out
}

/// Multi-turn runs: one line per turn with its TTFT.
fn print_turns(out: &mut String, stats: &Stats) {
    if stats.ttft_by_turn.is_empty() {
        return;
    }
    let _ = writeln!(out, "TTFT by turn (s):");
    for t in &stats.ttft_by_turn {
        let s = &t.ttft;
        let _ = writeln!(
            out,
            "  turn {}: mean {:.4}, p50 {:.4}, p90 {:.4} ({} requests)",
            t.turn,
            s.mean.unwrap_or(0.0),
            s.p50().unwrap_or(0.0),
            s.p90().unwrap_or(0.0),
            t.count
        );
    }
}

/// The lines for the load modes, after the original's: rates, dispatch lag, queueing, warm-up, goodput.
fn print_load(out: &mut String, stats: &Stats) {
    let l = &stats.load;
    if let Some(target) = l.target_request_rate {
        let achieved = l
            .achieved_request_rate
            .map_or("n/a".into(), |a| format!("{a:.3}"));
        let _ = writeln!(
            out,
            "Target Request Rate: {target} req/s, achieved: {achieved} req/s"
        );
        let d = stats.series(Metric::DispatchDelay);
        let _ = writeln!(
            out,
            "Dispatch Delay p50 / p99: {} / {} s",
            num(d.p50()),
            num(d.p99())
        );
        for (label, actual, scheduled) in [
            ("TTFT", Metric::Ttft, Metric::ScheduledTtft),
            (
                "End-To-End Latency",
                Metric::EndToEndLatency,
                Metric::ScheduledEndToEndLatency,
            ),
        ] {
            let actual = stats.series(actual).p99();
            let scheduled = stats.series(scheduled).p99();
            let _ = writeln!(
                out,
                "{label} p99 from actual send / from scheduled send: {} / {} s",
                num(actual),
                num(scheduled)
            );
        }
    }
    if l.queued > 0 {
        let _ = writeln!(
            out,
            "Queued Requests: {} waited for a free slot (--max-concurrency); their wait is in the scheduled-send latencies",
            l.queued
        );
    }
    if l.late_dispatches > 0 && l.target_request_rate.is_some() {
        let _ = writeln!(
            out,
            "Warning: the client fell behind the schedule: {} requests went out more than 1 ms late (max {:.1} ms)",
            l.late_dispatches,
            l.max_dispatch_delay_s * 1e3
        );
    }
    if l.warmup_requests > 0 {
        let _ = writeln!(
            out,
            "Warm-Up Requests (not in the statistics): {}",
            l.warmup_requests
        );
    }
    if let (Some(slo), Some(f)) = (&l.slo, l.goodput_fraction) {
        let _ = writeln!(
            out,
            "Goodput ({slo}): {:.1} % of requests, {:.3} req/s",
            f * 100.0,
            l.goodput_request_rate.unwrap_or(0.0)
        );
    }
}
