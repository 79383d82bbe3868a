//! The human-readable summary the original prints to stdout (spec §6.4).

use std::fmt::Write;

use super::llmperf::{RunInfo, Stats};

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) => format!("{x:?}"),
        None => "nan".into(),
    }
}

/// Formats the summary the way the original prints it: each metric with its quantiles, mean, min, max and
/// stddev, then the run totals.
pub fn print_summary(info: &RunInfo, stats: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Results for token benchmark for {} queried with the {} api.\n",
        info.model, info.llm_api
    );
    for (name, s, _) in &stats.series {
        let _ = writeln!(out, "{name}");
        for (label, v) in &s.quantiles {
            let _ = writeln!(out, "    {label} = {}", num(*v));
        }
        let _ = writeln!(out, "    mean = {}", num(s.mean));
        let _ = writeln!(out, "    min = {}", num(s.min));
        let _ = writeln!(out, "    max = {}", num(s.max));
        let _ = writeln!(out, "    stddev = {}", num(s.stddev));
    }
    let _ = writeln!(out, "Number Of Errored Requests: {}", stats.number_errors);
    if stats.number_errors > 0 {
        let _ = writeln!(out, "Error Code Frequency");
        let _ = writeln!(out, "{}", stats.error_code_frequency());
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
    out
}
