//! Judging one step of a capacity search from its measured requests: for each quantile target, the
//! order-statistic interval of that quantile; for the goodput, the Wilson interval of the fraction of good
//! requests. A step **passes** when every interval clears its target, **fails** as soon as one interval is
//! wholly on the wrong side, and otherwise needs **more** requests — or, at the step's request cap, is decided
//! by the point estimates and marked as not confident. Pure.
//!
//! The samples come in the order the requests were sent, and near saturation neighbours are alike (one busy
//! period slows many in a row): every interval is taken on the step's effective sample size `n / τ`, with `τ`
//! the largest autocorrelation time of the judged series ([`stats::autocorrelation_time`]). Without it a
//! 120-request step at 1.2× the capacity passed "confidently" a third of the time (docs/capacity.md).

use serde::Serialize;

use super::slo::{CapacitySlo, LatencyKind, Target};
use super::stats::{self, quantile, quantile_interval_eff, wilson_eff};

/// What one measured request contributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// It succeeded.
    pub ok: bool,
    /// Time to first token from the scheduled start, seconds.
    pub ttft_s: f64,
    /// Time per output token after the first, seconds (`None`: fewer than two tokens, which meets any TPOT).
    pub tpot_s: Option<f64>,
    /// End-to-end latency from the scheduled start, seconds.
    pub e2e_s: f64,
}

impl Sample {
    /// Its value of `kind`, as judged: a failed request misses every target (+∞); one too short for a TPOT
    /// meets it (0).
    pub fn value(&self, kind: LatencyKind) -> f64 {
        if !self.ok {
            return f64::INFINITY;
        }
        match kind {
            LatencyKind::Ttft => self.ttft_s,
            LatencyKind::Tpot => self.tpot_s.unwrap_or(0.0),
            LatencyKind::E2e => self.e2e_s,
        }
    }

    /// Whether it met every target of `slo` (its goodput).
    pub fn good(&self, slo: &CapacitySlo) -> bool {
        self.ok && slo.targets.iter().all(|t| self.value(t.kind) <= t.max_s)
    }
}

/// The verdict on a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The SLO is met at this load.
    Pass,
    /// It is not.
    Fail,
    /// Not clear yet: measure more requests.
    More,
}

/// One criterion as measured on a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criterion {
    /// `ttft_p99`, `goodput`.
    pub name: String,
    /// `TTFT p99`, `goodput`.
    pub label: String,
    /// The point estimate (seconds, or the good fraction).
    pub estimate: Option<f64>,
    /// Its confidence interval (`None`: that bound needs more requests).
    pub ci_low: Option<f64>,
    /// Upper bound.
    pub ci_high: Option<f64>,
    /// The target: the limit in seconds, or the least good fraction.
    pub target: f64,
    /// How far inside the target the estimate is, relative to the target (negative: outside).
    pub margin: f64,
    /// `pass`, `fail` or `more` on this criterion alone.
    pub verdict: Verdict,
}

/// A step's judgement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// Whether the intervals decided it (false: decided by the point estimates at the request cap, or by
    /// over-saturation).
    pub confident: bool,
    /// Requests judged (warm-up excluded).
    pub n: usize,
    /// Requests that met every target.
    pub good: usize,
    /// The autocorrelation time the intervals were widened by (1: the values are independent).
    pub tau: f64,
    /// The effective sample size, `⌊n / τ⌋`.
    pub effective_n: usize,
    /// Every criterion: the quantile targets, then the goodput.
    pub criteria: Vec<Criterion>,
    /// The criterion that decided it (a fail), or the closest to its target (a pass).
    pub limiting: Option<String>,
    /// Why, in words.
    pub reason: String,
}

/// How a step is judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// The targets.
    pub slo: CapacitySlo,
    /// The least fraction of good requests.
    pub goodput: f64,
    /// Two-sided confidence level of the intervals (0.95).
    pub confidence: f64,
}

fn secs(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_infinite() => "∞".into(),
        Some(v) if v < 1.0 => format!("{:.0} ms", v * 1000.0),
        Some(v) => format!("{v:.2} s"),
        None => "?".into(),
    }
}

fn quantile_criterion(samples: &[Sample], t: &Target, confidence: f64, tau: f64) -> Criterion {
    let mut values: Vec<f64> = samples.iter().map(|s| s.value(t.kind)).collect();
    values.sort_by(f64::total_cmp);
    let estimate = quantile(&values, t.quantile);
    let ci = quantile_interval_eff(&values, t.quantile, confidence, tau);
    let verdict = match (ci.low, ci.high) {
        (Some(lo), _) if lo > t.max_s => Verdict::Fail,
        (_, Some(hi)) if hi <= t.max_s => Verdict::Pass,
        _ => Verdict::More,
    };
    let margin = estimate.map_or(f64::NEG_INFINITY, |e| (t.max_s - e) / t.max_s);
    Criterion {
        name: t.name(),
        label: t.label(),
        estimate,
        ci_low: ci.low,
        ci_high: ci.high,
        target: t.max_s,
        margin,
        verdict,
    }
}

impl Rules {
    /// The largest autocorrelation time among the series the SLO looks at (each target's latency, and
    /// whether each request was good), in the order sent.
    fn autocorrelation_time(&self, samples: &[Sample]) -> f64 {
        let good: Vec<f64> = samples
            .iter()
            .map(|s| f64::from(u8::from(s.good(&self.slo))))
            .collect();
        let mut kinds: Vec<LatencyKind> = Vec::new();
        for t in &self.slo.targets {
            if !kinds.contains(&t.kind) {
                kinds.push(t.kind);
            }
        }
        kinds
            .into_iter()
            .map(|k| {
                let v: Vec<f64> = samples.iter().map(|s| s.value(k)).collect();
                stats::autocorrelation_time(&v)
            })
            .fold(stats::autocorrelation_time(&good), f64::max)
    }

    /// Judges `samples`; `at_cap`: no more requests will come, so an unclear step is decided by its point
    /// estimates.
    pub fn judge(&self, samples: &[Sample], at_cap: bool) -> Judgement {
        let tau = self.autocorrelation_time(samples);
        let mut criteria: Vec<Criterion> = self
            .slo
            .quantile_targets()
            .map(|t| quantile_criterion(samples, t, self.confidence, tau))
            .collect();
        let n = samples.len();
        let good = samples.iter().filter(|s| s.good(&self.slo)).count();
        let (lo, hi) = wilson_eff(good as u64, n as u64, self.confidence, tau);
        let fraction = (n > 0).then(|| good as f64 / n as f64);
        criteria.push(Criterion {
            name: "goodput".into(),
            label: "goodput".into(),
            estimate: fraction,
            ci_low: Some(lo),
            ci_high: Some(hi),
            target: self.goodput,
            margin: fraction.map_or(f64::NEG_INFINITY, |f| (f - self.goodput) / self.goodput),
            verdict: if n > 0 && lo >= self.goodput {
                Verdict::Pass
            } else if n > 0 && hi < self.goodput {
                Verdict::Fail
            } else {
                Verdict::More
            },
        });
        let worst = limiting_criterion(&criteria).map(|c| c.name.clone());
        let failed = criteria.iter().find(|c| c.verdict == Verdict::Fail);
        let (verdict, confident, limiting, reason) = if let Some(c) = failed {
            (
                Verdict::Fail,
                true,
                Some(c.name.clone()),
                format!("{} outside its target: {}", c.label, describe(c)),
            )
        } else if criteria.iter().all(|c| c.verdict == Verdict::Pass) {
            let c = criteria
                .iter()
                .min_by(|a, b| a.margin.total_cmp(&b.margin))
                .expect("the goodput is always a criterion");
            (
                Verdict::Pass,
                true,
                Some(c.name.clone()),
                format!("every target met; closest {}", describe(c)),
            )
        } else if at_cap {
            let c = limiting_criterion(&criteria).expect("the goodput is always a criterion");
            // The step passes when every estimate is inside its target.
            let pass = criteria.iter().all(|c| c.margin >= 0.0);
            (
                if pass { Verdict::Pass } else { Verdict::Fail },
                false,
                Some(c.name.clone()),
                format!(
                    "undecided at the request cap ({n}), by the point estimate: {}",
                    describe(c)
                ),
            )
        } else {
            (
                Verdict::More,
                false,
                worst,
                format!("not clear after {n} requests"),
            )
        };
        Judgement {
            verdict,
            confident,
            n,
            good,
            tau,
            effective_n: stats::effective_n(n, tau),
            criteria,
            limiting,
            reason,
        }
    }
}

/// The criterion that limits: the one furthest outside its target — a latency target before the goodput when
/// both are outside (the goodput only counts requests that missed the targets, so the target says what
/// limits); when every one is inside, the closest to its target.
fn limiting_criterion(criteria: &[Criterion]) -> Option<&Criterion> {
    let by_margin = |a: &&Criterion, b: &&Criterion| a.margin.total_cmp(&b.margin);
    criteria
        .iter()
        .filter(|c| c.margin < 0.0 && c.name != "goodput")
        .min_by(by_margin)
        .or_else(|| criteria.iter().min_by(by_margin))
}

/// `TTFT p99 620 ms (CI 550 ms–700 ms) vs 500 ms`.
pub fn describe(c: &Criterion) -> String {
    if c.name == "goodput" {
        let pct = |x: Option<f64>| x.map_or("?".into(), |v| format!("{:.1} %", v * 100.0));
        format!(
            "goodput {} (CI {}–{}) vs {}",
            pct(c.estimate),
            pct(c.ci_low),
            pct(c.ci_high),
            pct(Some(c.target))
        )
    } else {
        format!(
            "{} {} (CI {}–{}) vs {}",
            c.label,
            secs(c.estimate),
            secs(c.ci_low),
            secs(c.ci_high),
            secs(Some(c.target))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(slo: &str) -> Rules {
        Rules {
            slo: CapacitySlo::parse(slo).unwrap(),
            goodput: 0.95,
            confidence: 0.95,
        }
    }

    fn ok(ttft: f64) -> Sample {
        Sample {
            ok: true,
            ttft_s: ttft,
            tpot_s: Some(0.01),
            e2e_s: ttft + 1.0,
        }
    }

    #[test]
    fn a_step_well_inside_passes_once_the_interval_clears_the_target() {
        let r = rules("ttft_p90=500ms");
        // 20 requests: the p90's upper bound is the 20th value or beyond; all at 100 ms except none: the
        // interval's upper bound exists only once n is large enough.
        let few: Vec<Sample> = (0..10).map(|_| ok(0.1)).collect();
        assert_eq!(r.judge(&few, false).verdict, Verdict::More);
        // Spread in no particular order (a fixed pseudo-random sequence): independent-looking values.
        let mut x = 3u64;
        let many: Vec<Sample> = (0..200)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ok(0.1 + (x >> 44) as f64 * 1e-9)
            })
            .collect();
        let j = r.judge(&many, false);
        assert_eq!(
            (j.verdict, j.confident),
            (Verdict::Pass, true),
            "{}",
            j.reason
        );
        assert_eq!(j.good, 200);
    }

    #[test]
    fn latencies_that_climb_through_the_step_are_not_a_confident_pass() {
        // The same values as a queue filling up: sorted, every one close to its neighbours. Independent, 200
        // of them would clear a p90 target above the largest; in this order they count as a handful.
        let r = rules("ttft_p90=500ms");
        let climbing: Vec<Sample> = (0..200).map(|i| ok(0.1 + i as f64 * 1e-3)).collect();
        let j = r.judge(&climbing, false);
        assert!(
            j.tau > 10.0 && j.effective_n < 20,
            "{} {}",
            j.tau,
            j.effective_n
        );
        let mut shuffled = climbing.clone();
        let mut x = 7u64;
        for i in (1..shuffled.len()).rev() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            shuffled.swap(i, ((x >> 33) % (i as u64 + 1)) as usize);
        }
        let k = r.judge(&shuffled, false);
        assert!(k.tau < 2.0, "{}", k.tau);
        assert_eq!(
            (k.verdict, k.confident),
            (Verdict::Pass, true),
            "{}",
            k.reason
        );
        // The p90's interval is wider in the climbing order.
        let width = |j: &Judgement| {
            j.criteria[0].ci_high.unwrap_or(f64::INFINITY) - j.criteria[0].ci_low.unwrap()
        };
        assert!(width(&j) > width(&k));
    }

    #[test]
    fn a_step_plainly_over_fails_early_and_names_the_criterion() {
        let r = rules("ttft_p90=500ms,tpot_p90=50ms");
        let slow: Vec<Sample> = (0..30).map(|_| ok(2.0)).collect();
        let j = r.judge(&slow, false);
        assert_eq!((j.verdict, j.confident), (Verdict::Fail, true));
        assert_eq!(j.limiting.as_deref(), Some("ttft_p90"));
        assert!(j.reason.contains("TTFT p90"), "{}", j.reason);
    }

    #[test]
    fn the_goodput_can_decide_alone_and_failures_count_against_it() {
        let r = rules("e2e=5s");
        let mut s: Vec<Sample> = (0..100).map(|_| ok(0.1)).collect();
        for x in s.iter_mut().take(30) {
            x.ok = false;
        }
        let j = r.judge(&s, false);
        assert_eq!(j.verdict, Verdict::Fail);
        assert_eq!(j.limiting.as_deref(), Some("goodput"));
        assert_eq!(j.criteria.len(), 1);
    }

    #[test]
    fn at_the_cap_an_unclear_step_is_decided_by_the_estimate_not_confidently() {
        let r = Rules {
            goodput: 0.5,
            ..rules("ttft_p50=500ms")
        };
        // Half just below, half just above: the median sits at the target.
        let s: Vec<Sample> = (0..40)
            .map(|i| ok(if i < 21 { 0.49 } else { 0.51 }))
            .collect();
        assert_eq!(r.judge(&s, false).verdict, Verdict::More);
        let j = r.judge(&s, true);
        assert_eq!((j.verdict, j.confident), (Verdict::Pass, false));
        assert!(j.reason.contains("undecided"), "{}", j.reason);
    }

    #[test]
    fn a_missed_latency_target_limits_before_the_goodput() {
        // TPOT p90 just over its target; the goodput further under its own: the TPOT is what limits.
        let r = Rules {
            goodput: 0.9,
            ..rules("tpot_p90=20ms")
        };
        let s: Vec<Sample> = (0..40)
            .map(|i| Sample {
                tpot_s: Some(if i < 30 { 0.015 } else { 0.0205 }),
                ..ok(0.1)
            })
            .collect();
        let j = r.judge(&s, true);
        assert_eq!(j.verdict, Verdict::Fail);
        assert_eq!(j.limiting.as_deref(), Some("tpot_p90"), "{}", j.reason);
    }

    #[test]
    fn a_request_too_short_for_a_tpot_meets_it() {
        let s = Sample {
            ok: true,
            ttft_s: 0.1,
            tpot_s: None,
            e2e_s: 0.1,
        };
        assert!(s.good(&CapacitySlo::parse("tpot=1ms").unwrap()));
        assert_eq!(s.value(LatencyKind::Tpot), 0.0);
        let failed = Sample { ok: false, ..s };
        assert_eq!(failed.value(LatencyKind::Ttft), f64::INFINITY);
    }
}
