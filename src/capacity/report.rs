//! The search's result: the capacity with its interval and what limits it, every step with its decision and
//! why — printed as text and written as `<base>_capacity.json` (a script's input). Pure, except
//! [`write_json`].

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::judge::{Criterion, Judgement, Verdict, describe};
use super::search::{SearchKind, SearchVerdict};
use super::step::StepCounts;
use crate::report::export::table::warnings::fell_behind;

/// One quantile target as measured on a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantileRow {
    /// `ttft_p99`.
    pub name: String,
    /// Point estimate, seconds (`null` when nothing was judged; failed requests count as infinitely slow and
    /// show as `null` when they make the quantile infinite).
    pub estimate_s: Option<f64>,
    /// Lower bound of its interval (`null`: needs more requests).
    pub ci_low_s: Option<f64>,
    /// Upper bound.
    pub ci_high_s: Option<f64>,
    /// The limit, seconds.
    pub target_s: f64,
}

/// One step of the search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRow {
    /// 1-based, in the order run.
    pub step: usize,
    /// Request rate (req/s) or concurrency.
    pub load: f64,
    /// The step's result files' base name.
    pub base_name: String,
    /// Requests judged (warm-up excluded).
    pub n: usize,
    /// Requests sent, warm-up included.
    pub sent: usize,
    /// Requests completed.
    pub completed: usize,
    /// Completed requests per second over the step.
    pub achieved_rate: Option<f64>,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Largest dispatch delay, seconds.
    pub max_dispatch_delay_s: f64,
    /// Judged requests that left later than the pacing threshold (20 ms, or a quarter of the mean gap).
    pub late_dispatches: usize,
    /// The client fell behind its schedule in this step (more than 5 % of its requests late, at least 2):
    /// its latencies include this machine's own lag, so its verdict is not the server's alone.
    pub client_late: bool,
    /// Fraction of judged requests meeting every target.
    pub goodput: Option<f64>,
    /// Its Wilson interval.
    pub goodput_ci_low: Option<f64>,
    /// Upper bound.
    pub goodput_ci_high: Option<f64>,
    /// Each quantile target.
    pub quantiles: Vec<QuantileRow>,
    /// `pass` or `fail`.
    pub decision: Verdict,
    /// Whether the intervals decided it (false: the point estimates at the request cap or the time limit, or
    /// over-saturation).
    pub confident: bool,
    /// The autocorrelation time of the judged latencies (1: independent); the intervals count `n / tau`
    /// requests.
    pub tau: f64,
    /// The effective sample size the intervals were computed on, `⌊n / tau⌋`.
    pub effective_n: usize,
    /// The step was stopped as over-saturated.
    pub over_saturated: bool,
    /// The criterion that decided it (or, on a pass, the closest to its target).
    pub limiting: Option<String>,
    /// Why, in words.
    pub reason: String,
    /// Seconds the step took, draining included.
    pub duration_s: f64,
}

impl StepRow {
    /// The row of a finished step.
    pub fn new(
        step: usize,
        load: f64,
        base_name: String,
        j: &Judgement,
        counts: &StepCounts,
        (over_saturated, duration_s): (bool, f64),
    ) -> StepRow {
        let fin = |x: Option<f64>| x.filter(|v| v.is_finite());
        let goodput = j.criteria.iter().find(|c| c.name == "goodput");
        StepRow {
            step,
            load,
            base_name,
            n: j.n,
            sent: counts.sent,
            completed: counts.completed,
            achieved_rate: counts.achieved_rate,
            max_in_flight: counts.max_in_flight,
            max_dispatch_delay_s: counts.max_dispatch_delay_s,
            late_dispatches: counts.late,
            client_late: fell_behind(counts.late, counts.dispatched),
            goodput: goodput.and_then(|c| c.estimate),
            goodput_ci_low: goodput.and_then(|c| c.ci_low),
            goodput_ci_high: goodput.and_then(|c| c.ci_high),
            quantiles: j
                .criteria
                .iter()
                .filter(|c| c.name != "goodput")
                .map(|c| QuantileRow {
                    name: c.name.clone(),
                    estimate_s: fin(c.estimate),
                    ci_low_s: fin(c.ci_low),
                    ci_high_s: fin(c.ci_high),
                    target_s: c.target,
                })
                .collect(),
            decision: j.verdict,
            confident: j.confident,
            tau: j.tau,
            effective_n: j.effective_n,
            over_saturated,
            limiting: j.limiting.clone(),
            reason: j.reason.clone(),
            duration_s,
        }
    }
}

/// The whole search: the `_capacity.json` file's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityReport {
    /// `rate` or `concurrency`.
    pub search: SearchKind,
    /// `req/s` or `in flight`.
    pub unit: String,
    /// The SLO as given.
    pub slo: String,
    /// The least good fraction.
    pub goodput_target: f64,
    /// Level of every interval.
    pub confidence: f64,
    /// `found`, `below_min`, `above_max` or `incomplete`.
    pub verdict: SearchVerdict,
    /// The capacity (`null` unless found).
    pub capacity: Option<f64>,
    /// The highest load whose step passed conclusively (the interval's low end; `null`: none did).
    pub ci_low: Option<f64>,
    /// The lowest load whose step failed conclusively (its high end; `null`: none did).
    pub ci_high: Option<f64>,
    /// The criterion that failed at the lowest load that failed (`ttft_p99`, `goodput`).
    pub limited_by: Option<String>,
    /// The same, as a reader says it (`TTFT p99`).
    pub limited_by_label: Option<String>,
    /// Requests sent over every step.
    pub requests_used: usize,
    /// What a fixed sweep of 10 loads would send, each load measured with as many requests as this search's
    /// most-measured step (10 × its `sent`): the least a sweep needs to decide every load as surely.
    pub sweep_10_requests: usize,
    /// Seconds the search took.
    pub elapsed_s: f64,
    /// The time budget, seconds.
    pub time_budget_s: f64,
    /// Why it stopped early (`time_budget`, `signal`), if it did.
    pub stopped_by: Option<String>,
    /// The lightest and heaviest loads allowed.
    pub min_load: f64,
    /// Heaviest.
    pub max_load: f64,
    /// Seed of every step's arrivals and prompts.
    pub seed: u64,
    /// Every step, in order.
    pub steps: Vec<StepRow>,
}

/// Where the capacity lies between the highest pass `lo` and the lowest fail `hi`: where the limiting
/// criterion's margin, interpolated linearly between the two steps, reaches 0 (the midpoint when the margins
/// do not allow it). Over concurrency: `lo`, the highest concurrency that passed.
pub fn interpolate(
    kind: SearchKind,
    lo: (f64, Option<&Criterion>),
    hi: (f64, Option<&Criterion>),
) -> f64 {
    if kind == SearchKind::Concurrency {
        return lo.0;
    }
    let (a, b) = (lo.0, hi.0);
    match (lo.1.map(|c| c.margin), hi.1.map(|c| c.margin)) {
        (Some(ma), Some(mb)) if ma.is_finite() && mb.is_finite() && ma >= 0.0 && mb < 0.0 => {
            a + (b - a) * ma / (ma - mb)
        }
        (Some(ma), Some(mb)) if ma >= 0.0 && mb == f64::NEG_INFINITY => a,
        _ => (a + b) / 2.0,
    }
}

fn load(x: f64, kind: SearchKind) -> String {
    match kind {
        SearchKind::Concurrency => format!("{x:.0}"),
        SearchKind::Rate if x >= 100.0 => format!("{x:.0}"),
        SearchKind::Rate if x >= 10.0 => format!("{x:.1}"),
        SearchKind::Rate => format!("{x:.2}"),
    }
}

impl CapacityReport {
    /// The headline: `Capacity: 7.8 req/s (95 % CI 7.4–8.1), limited by TTFT p99`, or why there is none.
    pub fn headline(&self) -> String {
        let k = self.search;
        let unit = &self.unit;
        let pct = self.confidence * 100.0;
        let limited = self
            .limited_by_label
            .as_deref()
            .map_or(String::new(), |l| format!(", limited by {l}"));
        match self.verdict {
            SearchVerdict::Found => {
                let ci = match (self.ci_low, self.ci_high) {
                    (Some(a), Some(b)) => format!("{}–{}", load(a, k), load(b, k)),
                    (Some(a), None) => format!("above {}", load(a, k)),
                    (None, Some(b)) => format!("below {}", load(b, k)),
                    (None, None) => "not decided by any step".into(),
                };
                format!(
                    "Capacity: {} {unit} ({pct:.0} % CI {ci}){limited}",
                    load(self.capacity.unwrap_or(0.0), k),
                )
            }
            SearchVerdict::BelowMin => format!(
                "No capacity: even the lightest load allowed, {} {unit}, misses the SLO{limited}; lower \
                 --min-rate or relax the SLO",
                load(self.min_load, k)
            ),
            SearchVerdict::AboveMax => format!(
                "No capacity found: the heaviest load allowed, {} {unit}, still meets the SLO, so the capacity \
                 is above it; raise --max-rate",
                load(self.max_load, k)
            ),
            SearchVerdict::Incomplete => format!(
                "Search incomplete (stopped by {}): highest load that passed conclusively {}, lowest that \
                 failed conclusively {}",
                self.stopped_by.as_deref().unwrap_or("?"),
                self.ci_low
                    .map_or("none".into(), |x| format!("{} {unit}", load(x, k))),
                self.ci_high
                    .map_or("none".into(), |x| format!("{} {unit}", load(x, k))),
            ),
        }
    }

    /// The step table and the headline, as printed.
    pub fn text(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "\nCapacity search by {} under {} with goodput ≥ {:.1} %\n",
            match self.search {
                SearchKind::Rate => "request rate",
                SearchKind::Concurrency => "concurrency",
            },
            self.slo,
            self.goodput_target * 100.0
        ));
        let names: Vec<&str> = self
            .steps
            .first()
            .map(|r| r.quantiles.iter().map(|q| q.name.as_str()).collect())
            .unwrap_or_default();
        let mut head = format!(
            "{:>4} {:>9} {:>6} {:>9} {:>17}",
            "step", "load", "n", "achieved", "goodput"
        );
        for n in &names {
            head.push_str(&format!(" {:>24}", n));
        }
        head.push_str("  decision");
        s.push_str(&head);
        s.push('\n');
        let ms = |x: Option<f64>| x.map_or("?".into(), |v| format!("{:.0}", v * 1000.0));
        for r in &self.steps {
            let gp = match (r.goodput, r.goodput_ci_low, r.goodput_ci_high) {
                (Some(g), Some(a), Some(b)) => {
                    format!("{:.1} ({:.0}–{:.0})", g * 100.0, a * 100.0, b * 100.0)
                }
                _ => "?".into(),
            };
            let mut line = format!(
                "{:>4} {:>9} {:>6} {:>9} {:>17}",
                r.step,
                load(r.load, self.search),
                r.n,
                r.achieved_rate.map_or("?".into(), |a| format!("{a:.2}")),
                gp
            );
            for q in &r.quantiles {
                line.push_str(&format!(
                    " {:>24}",
                    format!(
                        "{} ms ({}–{})",
                        ms(q.estimate_s),
                        ms(q.ci_low_s),
                        ms(q.ci_high_s)
                    )
                ));
            }
            let decision = match (r.decision, r.confident) {
                (Verdict::Pass, true) => "pass",
                (Verdict::Pass, false) => "pass?",
                (Verdict::Fail, true) => "FAIL",
                _ => "FAIL?",
            };
            line.push_str(&format!("  {decision}: {}", r.reason));
            s.push_str(&line);
            s.push('\n');
        }
        s.push_str(&format!(
            "(load in {}; achieved in completed req/s; goodput in % with its interval; quantiles in ms with \
             their intervals; ? after a decision: by point estimate, not by the intervals)\n",
            self.unit
        ));
        let late: Vec<&StepRow> = self.steps.iter().filter(|r| r.client_late).collect();
        if !late.is_empty() {
            let loads: Vec<String> = late.iter().map(|r| load(r.load, self.search)).collect();
            let worst = late
                .iter()
                .map(|r| r.max_dispatch_delay_s)
                .fold(0.0, f64::max);
            s.push_str(&format!(
                "warning: the client fell behind its schedule at {} {} (requests up to {:.0} ms late): those \
                 steps measured this machine's lag as well as the server; run the search where the client \
                 has CPU to spare\n",
                loads.join(", "),
                self.unit,
                worst * 1e3
            ));
        }
        s.push_str(&format!(
            "{} requests in {} steps over {:.0} s (a fixed sweep of 10 loads measured like its largest step: \
             {} requests)\n",
            self.requests_used,
            self.steps.len(),
            self.elapsed_s,
            self.sweep_10_requests
        ));
        s.push_str(&self.headline());
        s.push('\n');
        s
    }
}

/// Writes `report` as `<base>_capacity.json` into `dir`; returns its path.
pub fn write_json(report: &CapacityReport, dir: &Path, base: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{base}_capacity.json"));
    let bytes = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    crate::report::export::write_atomically(&path, &bytes)?;
    Ok(path)
}

/// A step's judgement in one line, for the log.
pub fn one_line(j: &Judgement) -> String {
    let parts: Vec<String> = j.criteria.iter().map(describe).collect();
    format!("{:?}: {} [{}]", j.verdict, j.reason, parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crit(margin: f64) -> Criterion {
        Criterion {
            name: "ttft_p90".into(),
            label: "TTFT p90".into(),
            estimate: Some(0.5 * (1.0 - margin)),
            ci_low: None,
            ci_high: None,
            target: 0.5,
            margin,
            verdict: Verdict::More,
        }
    }

    #[test]
    fn the_capacity_is_where_the_limiting_margin_crosses_zero() {
        let (a, b) = (crit(0.2), crit(-0.6));
        // 0.2 of the way 0.2 → −0.6 is a quarter: 8 + 4 · 0.25 = 9.
        assert!(
            (interpolate(SearchKind::Rate, (8.0, Some(&a)), (12.0, Some(&b))) - 9.0).abs() < 1e-12
        );
        // No usable margins: the midpoint; a step that failed with errors (−∞): the pass.
        assert_eq!(
            interpolate(SearchKind::Rate, (8.0, None), (12.0, None)),
            10.0
        );
        let inf = crit(f64::NEG_INFINITY);
        assert_eq!(
            interpolate(SearchKind::Rate, (8.0, Some(&a)), (12.0, Some(&inf))),
            8.0
        );
        assert_eq!(
            interpolate(SearchKind::Concurrency, (8.0, Some(&a)), (9.0, Some(&b))),
            8.0
        );
    }

    #[test]
    fn a_step_the_client_fell_behind_in_is_flagged_and_warned_about() {
        let j = Judgement {
            verdict: Verdict::Pass,
            confident: true,
            n: 40,
            good: 40,
            tau: 1.0,
            effective_n: 40,
            criteria: vec![crit(0.2)],
            limiting: None,
            reason: "every target met".into(),
        };
        let row = |load: f64, late: usize| {
            let counts = StepCounts {
                sent: 42,
                dispatched: 40,
                late,
                max_dispatch_delay_s: if late > 0 { 0.184 } else { 0.004 },
                ..StepCounts::default()
            };
            StepRow::new(1, load, "b".into(), &j, &counts, (false, 4.0))
        };
        // 2 of 40 late is 5 %: hiccups; 3 is more.
        let (steady, hiccups, behind) = (row(8.0, 0), row(16.0, 2), row(32.0, 3));
        assert!(!steady.client_late && !hiccups.client_late && behind.client_late);
        let mut report = CapacityReport {
            search: SearchKind::Rate,
            unit: "req/s".into(),
            slo: "ttft_p90=500ms".into(),
            goodput_target: 0.95,
            confidence: 0.95,
            verdict: SearchVerdict::AboveMax,
            capacity: None,
            ci_low: Some(16.0),
            ci_high: None,
            limited_by: None,
            limited_by_label: None,
            requests_used: 126,
            sweep_10_requests: 420,
            elapsed_s: 12.0,
            time_budget_s: 600.0,
            stopped_by: None,
            min_load: 8.0,
            max_load: 32.0,
            seed: 1,
            steps: vec![steady.clone(), hiccups.clone()],
        };
        assert!(!report.text().contains("fell behind"), "{}", report.text());
        report.steps.push(behind);
        let text = report.text();
        assert!(
            text.contains("warning: the client fell behind its schedule at 32.0 req/s (requests up to 184 ms late)"),
            "{text}"
        );
    }
}
