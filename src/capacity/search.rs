//! The search over load: **bracket** the capacity by growing the load from the start (× `growth`) while steps
//! pass — or shrinking it while they fail — then **bisect** between the highest load that passed and the
//! lowest that failed until they are within `tolerance` of each other. Pure: loads in, loads out; the runner
//! runs each step and records its verdict.
//!
//! Over concurrency the loads are whole numbers and the bisection ends when the two are adjacent.

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
    steps: Vec<(f64, bool)>,
}

impl Search {
    /// A search with these parameters (checked by the settings: `0 < min ≤ start ≤ max`, `growth > 1`).
    pub fn new(params: SearchParams) -> Search {
        Search {
            params,
            lo: None,
            hi: None,
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
    /// s.record(1.0, true);
    /// assert_eq!(s.next_load(), Some(2.0));
    /// s.record(2.0, false);
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
                if self.converged(lo, hi) {
                    return None;
                }
                let mid = if self.whole() {
                    ((lo + hi) / 2.0).floor()
                } else {
                    round3((lo + hi) / 2.0)
                };
                // Rounding can land on a load already run: the bracket is as narrow as loads are written.
                (mid > lo && mid < hi).then_some(mid)
            }
            (None, None) => None,
        }
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

    /// Records the verdict on `load`.
    pub fn record(&mut self, load: f64, pass: bool) {
        self.steps.push((load, pass));
        if pass {
            self.lo = Some(self.lo.map_or(load, |l| l.max(load)));
        } else {
            self.hi = Some(self.hi.map_or(load, |h| h.min(load)));
        }
    }

    /// The highest load that passed and the lowest that failed.
    pub fn bracket(&self) -> (Option<f64>, Option<f64>) {
        (self.lo, self.hi)
    }

    /// The steps so far: load and whether it passed.
    pub fn steps(&self) -> &[(f64, bool)] {
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
            s.record(load, load <= cap);
            assert!(s.steps().len() < 50, "does not end");
        }
        s
    }

    #[test]
    fn brackets_by_doubling_then_bisects_to_the_tolerance() {
        let s = run(params(SearchKind::Rate, 1.0), 13.3);
        let loads: Vec<f64> = s.steps().iter().map(|x| x.0).collect();
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
        let loads: Vec<f64> = s.steps().iter().map(|x| x.0).collect();
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
        assert_eq!(s.steps().last(), Some(&(64.0, true)));
    }

    #[test]
    fn over_concurrency_the_loads_are_whole_and_end_adjacent() {
        let s = run(params(SearchKind::Concurrency, 1.0), 11.0);
        assert!(s.steps().iter().all(|(l, _)| l.fract() == 0.0));
        assert_eq!(s.bracket(), (Some(11.0), Some(12.0)));
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
        s.record(1.0, true);
        assert_eq!(s.verdict(), SearchVerdict::Incomplete);
    }
}
