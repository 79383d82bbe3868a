//! What the exit status says about finished runs, for CI and Kubernetes Jobs (`docs/exit-codes.md`): every
//! request of a run failed (status [`ALL_REQUESTS_FAILED`]), a `--fail-on` threshold held, the correctness
//! test's mismatch rate went over `--max-mismatch-rate`, or `report --baseline` found a metric worse than
//! `--max-regression` (status [`THRESHOLD_FAILED`]). Pure: summaries in, a [`GateOutcome`] (its text and
//! status) out; the binary prints the text and exits with the status.

use std::fmt::Write;

use super::compare::Regression;
use super::result::RunSummary;
use super::thresholds::{Threshold, evaluate};

/// Exit status when a threshold failed (`--fail-on`, `--max-mismatch-rate`, `--max-regression`).
pub const THRESHOLD_FAILED: u8 = 3;
/// Exit status when every request of a run failed (cancelled requests are not failures).
pub const ALL_REQUESTS_FAILED: u8 = 4;

/// The verdict on a set of runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateOutcome {
    /// What to print: each threshold's verdict, the runs whose requests all failed.
    pub text: String,
    /// `None` when every check passed, else [`THRESHOLD_FAILED`] or [`ALL_REQUESTS_FAILED`] (the more
    /// severe, when both apply).
    pub status: Option<u8>,
}

impl GateOutcome {
    fn fail(&mut self, status: u8) {
        self.status = Some(self.status.map_or(status, |s| s.max(status)));
    }
}

/// Whether every request of the run that finished failed: at least one errored, none succeeded (a run
/// whose requests were all cancelled, or that recorded none, did not fail).
pub fn all_requests_failed(run: &RunSummary) -> bool {
    run.stats.num_completed_requests == 0 && run.stats.number_errors > 0
}

/// Checks the runs of a load test: the runs whose requests all failed, then `thresholds` on each run (a
/// sweep's or matrix's runs each; one failing run fails the whole).
pub fn check_load_runs(runs: &[RunSummary], thresholds: &[Threshold]) -> GateOutcome {
    let mut out = all_failed(runs);
    if thresholds.is_empty() {
        return out;
    }
    let _ = writeln!(out.text, "\nThresholds (--fail-on):");
    for run in runs {
        let verdicts = evaluate(thresholds, &run.stats);
        let failed = verdicts.iter().filter(|v| v.failed).count();
        let _ = writeln!(
            out.text,
            "{}: {}",
            run.description.base_name,
            if failed == 0 {
                "passed".to_string()
            } else {
                format!("FAILED ({failed} of {})", verdicts.len())
            }
        );
        for v in &verdicts {
            let _ = writeln!(out.text, "  {v}");
        }
        if failed > 0 {
            out.fail(THRESHOLD_FAILED);
        }
    }
    out
}

/// Checks the runs of a correctness test: the runs whose requests all failed, then each run's mismatch rate
/// against `max_mismatch_rate`.
pub fn check_correctness_runs(runs: &[RunSummary], max_mismatch_rate: Option<f64>) -> GateOutcome {
    let mut out = all_failed(runs);
    let Some(limit) = max_mismatch_rate else {
        return out;
    };
    let _ = writeln!(out.text, "\nMismatch limit (--max-mismatch-rate {limit}):");
    for run in runs {
        let Some(scores) = &run.scores else {
            continue;
        };
        let failed = scores.mismatch_rate > limit;
        let _ = writeln!(
            out.text,
            "  {}  {}: mismatch rate {:.4} ({} of {} answers){}",
            if failed { "FAIL" } else { "pass" },
            run.description.base_name,
            scores.mismatch_rate,
            scores.num_mismatched_requests,
            scores.num_completed_requests,
            if failed { " is above the limit" } else { "" }
        );
        if failed {
            out.fail(THRESHOLD_FAILED);
        }
    }
    out
}

/// Checks `report --baseline`'s comparison: fails when a metric got more than `max_pct` worse (percent of
/// the baseline; percentage points for the error rate).
pub fn check_regressions(changes: &[Regression], max_pct: f64) -> GateOutcome {
    let mut out = GateOutcome::default();
    let worse: Vec<&Regression> = changes.iter().filter(|c| c.worse_by > max_pct).collect();
    let _ = writeln!(
        out.text,
        "\nRegression check (--max-regression {max_pct}: latencies up, throughputs down by more than \
         {max_pct} %, the error rate up by more than {max_pct} points): {} of {} compared metrics regressed",
        worse.len(),
        changes.len()
    );
    for c in &worse {
        let _ = writeln!(out.text, "  FAIL  {c}");
    }
    if !worse.is_empty() {
        out.fail(THRESHOLD_FAILED);
    }
    out
}

fn all_failed(runs: &[RunSummary]) -> GateOutcome {
    let mut out = GateOutcome::default();
    for run in runs.iter().filter(|r| all_requests_failed(r)) {
        let _ = writeln!(
            out.text,
            "\nEvery request of {} failed ({} errors, codes {}): exit status {ALL_REQUESTS_FAILED}.",
            run.description.base_name,
            run.stats.number_errors,
            run.stats.error_code_frequency()
        );
        out.fail(ALL_REQUESTS_FAILED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::Worse;

    #[test]
    fn regressions_fail_only_past_the_limit() {
        let c = |worse_by| Regression {
            run: "r".into(),
            metric: "TTFT (ms) p99".into(),
            worse: Worse::Up,
            worse_by,
        };
        assert_eq!(check_regressions(&[c(9.9), c(-50.0)], 10.0).status, None);
        let out = check_regressions(&[c(9.9), c(10.1)], 10.0);
        assert_eq!(out.status, Some(THRESHOLD_FAILED));
        assert!(out.text.contains("1 of 2"), "{}", out.text);
    }

    #[test]
    fn the_more_severe_status_wins() {
        let mut o = GateOutcome::default();
        o.fail(ALL_REQUESTS_FAILED);
        o.fail(THRESHOLD_FAILED);
        assert_eq!(o.status, Some(ALL_REQUESTS_FAILED));
    }
}
