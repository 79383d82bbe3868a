//! The search over load: **bracket** the capacity by growing the load from the start (× `growth`) while steps
//! pass — or shrinking it while they fail — then **bisect** between the highest load that passed and the
//! lowest that failed until they are within `tolerance` of each other. Pure: loads in, loads out; the runner
//! runs each step and records its verdict.
//!
//! Over concurrency the loads are whole numbers and the bisection ends when the two are adjacent.
//!
//! A verdict is **conclusive** when the step's intervals decided it (or the step was plainly over-saturated),
//! and only conclusive verdicts bound the capacity's interval. Once the capacity is bracketed, a step left
//! undecided at its request cap ends the bisection: that load is within the measurement's noise of the
//! capacity, and steps between it and its neighbours would be as undecided (their point verdicts would only
//! move the estimate around inside the same interval). If an end of the interval is then missing, the search
//! steps outward (× `growth`, within the bounds) until a step decides it.

use serde::Serialize;

/// What is searched over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchKind {
    /// Open-loop request rate (requests/s), Poisson arrivals.
    Rate,
    /// Closed-loop concurrency (requests in flight).
    Concurrency,
}

impl SearchKind {
    /// The unit after a load: `req/s`, `in flight`.
    pub fn unit(self) -> &'static str {
        match self {
            SearchKind::Rate => "req/s",
            SearchKind::Concurrency => "in flight",
        }
    }
}

/// The search's bounds and pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchParams {
    /// Rate or concurrency.
    pub kind: SearchKind,
    /// The lightest load tried.
    pub min: f64,
    /// The heaviest load tried.
    pub max: f64,
    /// The first load (between `min` and `max`).
    pub start: f64,
    /// Factor between bracketing steps (> 1).
    pub growth: f64,
    /// Stop bisecting when (lowest fail − highest pass) / highest pass is at most this.
    pub tolerance: f64,
}

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchVerdict {
    /// Bracketed: a load that passes and one that fails.
    Found,
    /// Even the lightest load (`min`) fails.
    BelowMin,
    /// The heaviest allowed load (`max`) still passes.
    AboveMax,
    /// Stopped (the time budget, a signal) before it could bracket the capacity.
    Incomplete,
}

/// The search's state: the steps so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    params: SearchParams,
    /// Highest load that passed.
    lo: Option<f64>,
    /// Lowest load that failed.
    hi: Option<f64>,
    /// Highest load that passed conclusively.
    sure_lo: Option<f64>,
    /// Lowest load that failed conclusively.
    sure_hi: Option<f64>,
    /// The bisection is over (converged, or a step near the capacity was undecided).
    bisected: bool,
    steps: Vec<Step>,
}

/// One step's outcome as the search saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Its load.
    pub load: f64,
    /// It met the SLO (conclusively or by the point estimates).
    pub pass: bool,
    /// The intervals (or over-saturation) decided it.
    pub conclusive: bool,
}

impl Search {
    /// A search with these parameters (checked by the settings: `0 < min ≤ start ≤ max`, `growth > 1`).
    pub fn new(params: SearchParams) -> Search {
        Search {
            params,
            lo: None,
            hi: None,
            sure_lo: None,
            sure_hi: None,
            bisected: false,
            steps: Vec::new(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &SearchParams {
        &self.params
    }

    fn whole(&self) -> bool {
        self.params.kind == SearchKind::Concurrency
    }

    /// The next load to try; `None` when the search is over.
    ///
    /// ```
    /// use llmperf_actors::capacity::search::{Search, SearchKind, SearchParams};
    /// let mut s = Search::new(SearchParams {
    ///     kind: SearchKind::Rate, min: 1.0, max: 100.0, start: 1.0, growth: 2.0, tolerance: 0.1,
    /// });
    /// assert_eq!(s.next_load(), Some(1.0));
    /// s.record(1.0, true, true);
    /// assert_eq!(s.next_load(), Some(2.0));
    /// s.record(2.0, false, true);
    /// assert_eq!(s.next_load(), Some(1.5));
    /// ```
    pub fn next_load(&self) -> Option<f64> {
        let p = &self.params;
        if self.steps.is_empty() {
            return Some(p.start);
        }
        match (self.lo, self.hi) {
            (Some(lo), None) if lo >= p.max => None,
            (Some(lo), None) => {
                let up = if self.whole() {
                    (lo * p.growth).ceil().max(lo + 1.0)
                } else {
                    round3(lo * p.growth)
                };
                Some(up.min(p.max))
            }
            (None, Some(hi)) if hi <= p.min => None,
            (None, Some(hi)) => {
                let down = if self.whole() {
                    (hi / p.growth).floor().min(hi - 1.0)
                } else {
                    round3(hi / p.growth)
                };
                Some(down.max(p.min))
            }
            (Some(lo), Some(hi)) => {
                if !self.bisected {
                    let mid = if self.whole() {
                        ((lo + hi) / 2.0).floor()
                    } else {
                        round3((lo + hi) / 2.0)
                    };
                    // Rounding can land on a load already run: the bracket is as narrow as loads are written.
                    if !self.converged(lo, hi) && mid > lo && mid < hi {
                        return Some(mid);
                    }
                }
                self.outward()
            }
            (None, None) => None,
        }
    }

    /// After the bisection: a step beyond the farthest load tried on the side whose interval end no step
    /// has decided conclusively yet; `None` when both ends are decided or the bound is reached.
    fn outward(&self) -> Option<f64> {
        let p = &self.params;
        // From the farthest load tried, whatever its verdict, so an outward step is never repeated.
        let tried = || self.steps.iter().map(|s| s.load);
        if self.sure_hi.is_none() {
            let top = tried().fold(f64::NEG_INFINITY, f64::max);
            if top < p.max {
                let up = if self.whole() {
                    (top * p.growth).ceil().max(top + 1.0)
                } else {
                    round3(top * p.growth)
                };
                return Some(up.min(p.max));
            }
        }
        if self.sure_lo.is_none() {
            let bottom = tried().fold(f64::INFINITY, f64::min);
            if bottom > p.min {
                let down = if self.whole() {
                    (bottom / p.growth).floor().min(bottom - 1.0)
                } else {
                    round3(bottom / p.growth)
                };
                return Some(down.max(p.min));
            }
        }
        None
    }

    fn converged(&self, lo: f64, hi: f64) -> bool {
        if hi <= lo {
            return true;
        }
        if self.whole() && hi - lo <= 1.0 {
            return true;
        }
        (hi - lo) / lo <= self.params.tolerance
    }

    /// Records the verdict on `load`; `conclusive`: its intervals decided it.
    pub fn record(&mut self, load: f64, pass: bool, conclusive: bool) {
        self.steps.push(Step {
            load,
            pass,
            conclusive,
        });
        let (max, min) = (
            |a: Option<f64>| Some(a.map_or(load, |x: f64| x.max(load))),
            |a: Option<f64>| Some(a.map_or(load, |x: f64| x.min(load))),
        );
        if pass {
            self.lo = max(self.lo);
            if conclusive {
                self.sure_lo = max(self.sure_lo);
            }
        } else {
            self.hi = min(self.hi);
            if conclusive {
                self.sure_hi = min(self.sure_hi);
            }
        }
        if let (Some(lo), Some(hi)) = (self.lo, self.hi)
            && (!conclusive || self.converged(lo, hi))
        {
            self.bisected = true;
        }
    }

    /// The highest load that passed and the lowest that failed (by whatever decided each step).
    pub fn bracket(&self) -> (Option<f64>, Option<f64>) {
        (self.lo, self.hi)
    }

    /// The capacity's interval: the highest load that passed and the lowest that failed **conclusively**.
    pub fn interval(&self) -> (Option<f64>, Option<f64>) {
        (self.sure_lo, self.sure_hi)
    }

    /// The steps so far.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// How it ended (or would, if it stopped now).
    pub fn verdict(&self) -> SearchVerdict {
        match (self.lo, self.hi) {
            (Some(_), Some(_)) => SearchVerdict::Found,
            (Some(lo), None) if lo >= self.params.max => SearchVerdict::AboveMax,
            (None, Some(hi)) if hi <= self.params.min => SearchVerdict::BelowMin,
            _ => SearchVerdict::Incomplete,
        }
    }
}

/// `x` to 3 significant digits (loads are run, named and reported as written: 13.3, not 13.333…).
pub fn round3(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return x;
    }
    let scale = 10f64.powi(2 - x.log10().floor() as i32);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kind: SearchKind, start: f64) -> SearchParams {
        SearchParams {
            kind,
            min: 1.0,
            max: 64.0,
            start,
            growth: 2.0,
            tolerance: 0.05,
        }
    }

    /// Runs the search against a server whose true capacity is `cap` (a step passes iff load ≤ cap).
    fn run(p: SearchParams, cap: f64) -> Search {
        let mut s = Search::new(p);
        while let Some(load) = s.next_load() {
            s.record(load, load <= cap, true);
            assert!(s.steps().len() < 50, "does not end");
        }
        s
    }

    #[test]
    fn brackets_by_doubling_then_bisects_to_the_tolerance() {
        let s = run(params(SearchKind::Rate, 1.0), 13.3);
        let loads: Vec<f64> = s.steps().iter().map(|x| x.load).collect();
        assert_eq!(loads[..6], [1.0, 2.0, 4.0, 8.0, 16.0, 12.0]);
        let (lo, hi) = s.bracket();
        let (lo, hi) = (lo.unwrap(), hi.unwrap());
        assert!(lo <= 13.3 && 13.3 < hi, "{lo} {hi}");
        assert!((hi - lo) / lo <= 0.05);
        assert_eq!(s.verdict(), SearchVerdict::Found);
        // Bisection halves the bracket: 8 → 16 needs log2(8 / (0.05 · 12)) ≈ 4 more steps.
        assert!(s.steps().len() <= 10, "{loads:?}");
    }

    #[test]
    fn a_start_that_fails_brackets_downwards() {
        let s = run(params(SearchKind::Rate, 32.0), 5.0);
        let loads: Vec<f64> = s.steps().iter().map(|x| x.load).collect();
        assert_eq!(loads[..4], [32.0, 16.0, 8.0, 4.0]);
        let (lo, hi) = s.bracket();
        assert!(lo.unwrap() <= 5.0 && 5.0 < hi.unwrap());
    }

    #[test]
    fn below_the_minimum_and_above_the_maximum_are_verdicts_not_capacities() {
        let s = run(params(SearchKind::Rate, 4.0), 0.5);
        assert_eq!(s.verdict(), SearchVerdict::BelowMin);
        assert_eq!(s.bracket(), (None, Some(1.0)));
        let s = run(params(SearchKind::Rate, 4.0), 1000.0);
        assert_eq!(s.verdict(), SearchVerdict::AboveMax);
        assert_eq!(
            s.steps().last().map(|x| (x.load, x.pass)),
            Some((64.0, true))
        );
    }

    #[test]
    fn over_concurrency_the_loads_are_whole_and_end_adjacent() {
        let s = run(params(SearchKind::Concurrency, 1.0), 11.0);
        assert!(s.steps().iter().all(|x| x.load.fract() == 0.0));
        assert_eq!(s.bracket(), (Some(11.0), Some(12.0)));
    }

    #[test]
    fn an_undecided_step_near_the_capacity_ends_the_bisection_and_the_interval_ends_are_conclusive()
    {
        let mut s = Search::new(params(SearchKind::Rate, 8.0));
        for (load, pass, sure) in [(8.0, true, true), (16.0, true, true), (32.0, false, false)] {
            assert_eq!(s.next_load(), Some(load));
            s.record(load, pass, sure);
        }
        // Bracketed by an undecided fail: no bisection; the high end is not decided, so a step outward.
        assert_eq!(s.bracket(), (Some(16.0), Some(32.0)));
        assert_eq!(s.interval(), (Some(16.0), None));
        assert_eq!(s.next_load(), Some(64.0));
        s.record(64.0, false, true);
        assert_eq!(s.next_load(), None);
        assert_eq!(s.interval(), (Some(16.0), Some(64.0)));
        assert_eq!(s.bracket(), (Some(16.0), Some(32.0)));
        assert_eq!(s.verdict(), SearchVerdict::Found);

        // Conclusive verdicts bisect as before; the first undecided one stops it.
        let mut s = Search::new(params(SearchKind::Rate, 8.0));
        for (load, pass, sure) in [(8.0, true, true), (16.0, false, true), (12.0, true, false)] {
            assert_eq!(s.next_load(), Some(load));
            s.record(load, pass, sure);
        }
        assert_eq!(s.bracket(), (Some(12.0), Some(16.0)));
        assert_eq!(s.interval(), (Some(8.0), Some(16.0)));
        assert_eq!(s.next_load(), None);
    }

    #[test]
    fn the_same_verdicts_give_the_same_loads() {
        let a = run(params(SearchKind::Rate, 3.0), 20.0);
        let b = run(params(SearchKind::Rate, 3.0), 20.0);
        assert_eq!(a.steps(), b.steps());
    }

    #[test]
    fn loads_are_rounded_to_three_digits() {
        assert_eq!(round3(13.333333), 13.3);
        assert_eq!(round3(0.123456), 0.123);
        assert_eq!(round3(1234.5), 1230.0);
    }

    #[test]
    fn stopped_before_bracketing_is_incomplete() {
        let mut s = Search::new(params(SearchKind::Rate, 1.0));
        s.record(1.0, true, true);
        assert_eq!(s.verdict(), SearchVerdict::Incomplete);
    }
}
