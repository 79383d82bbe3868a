//! Statistics of one metric over many requests: numpy's quantiles (R-7), the sample standard deviation,
//! and a fixed-memory distribution for very many values. Pure: numbers in, numbers out.

use super::exact::ExactSum;

/// Quantile with linear interpolation between closest ranks (numpy/pandas default, "R-7"): position
/// h = (n − 1)·q. `sorted` must be sorted ascending and non-empty.
///
/// ```
/// use llmperf_actors::metrics::quantile;
/// // numpy.quantile([1, 2, 3, 4, 10], 0.9) == 7.6
/// assert!((quantile(&[1.0, 2.0, 3.0, 4.0, 10.0], 0.9) - 7.6).abs() < 1e-12);
/// ```
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    interpolate(h, sorted[h.floor() as usize], sorted[h.ceil() as usize])
}

/// The R-7 quantile at position `h` from the order statistics at `floor(h)` and `ceil(h)`.
pub(super) fn interpolate(h: f64, at_floor: f64, at_ceil: f64) -> f64 {
    at_floor + (h - h.floor()) * (at_ceil - at_floor)
}

/// The exact sum of `values`, rounded once ([`ExactSum`]): the same whatever their order.
fn exact_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = ExactSum::default();
    values.into_iter().for_each(|v| sum.add(v));
    sum.total()
}

/// The mean of `values` (non-empty) from their exact sum.
fn mean(values: &[f64]) -> f64 {
    exact_sum(values.iter().copied()) / values.len() as f64
}

/// Sample standard deviation (ddof = 1); `None` for fewer than two values (the original's NaN). Both sums
/// are exact ([`ExactSum`]), so the result does not depend on the order of the values.
pub fn sample_stddev(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let mean = mean(values);
    let ss = exact_sum(values.iter().map(|v| (v - mean) * (v - mean)));
    Some((ss / (values.len() - 1) as f64).sqrt())
}

/// The quantile labels and levels LLMPerf reports.
pub const QUANTILES: [(&str, f64); 6] = [
    ("p25", 0.25),
    ("p50", 0.5),
    ("p75", 0.75),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
];

/// The statistics of one metric over the successful requests. Every field is `None` when there are none.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesStats {
    /// The 99.9th percentile (an extra beside the original's levels).
    pub p999: Option<f64>,
    /// `(label, value)` for p25, p50, p75, p90, p95, p99.
    pub quantiles: Vec<(&'static str, Option<f64>)>,
    /// Arithmetic mean.
    pub mean: Option<f64>,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Sample standard deviation; `None` for fewer than two values.
    pub stddev: Option<f64>,
}

impl SeriesStats {
    /// The quantile at position `k` of [`QUANTILES`] (`None` when there were no values).
    fn level(&self, k: usize) -> Option<f64> {
        self.quantiles.get(k).and_then(|(_, v)| *v)
    }

    /// The 25th percentile.
    pub fn p25(&self) -> Option<f64> {
        self.level(0)
    }

    /// The median.
    pub fn p50(&self) -> Option<f64> {
        self.level(1)
    }

    /// The 75th percentile.
    pub fn p75(&self) -> Option<f64> {
        self.level(2)
    }

    /// The 90th percentile.
    pub fn p90(&self) -> Option<f64> {
        self.level(3)
    }

    /// The 95th percentile.
    pub fn p95(&self) -> Option<f64> {
        self.level(4)
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Option<f64> {
        self.level(5)
    }

    /// Statistics of `values`; NaNs are dropped first, as pandas does.
    pub fn of(values: impl IntoIterator<Item = f64>) -> SeriesStats {
        let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
        v.sort_by(f64::total_cmp);
        let nonempty = !v.is_empty();
        SeriesStats {
            p999: nonempty.then(|| quantile(&v, 0.999)),
            quantiles: QUANTILES
                .iter()
                .map(|&(label, q)| (label, nonempty.then(|| quantile(&v, q))))
                .collect(),
            mean: nonempty.then(|| mean(&v)),
            min: v.first().copied(),
            max: v.last().copied(),
            stddev: sample_stddev(&v),
        }
    }
}

/// A distribution pooled from very many values (the gaps between content chunks of every request), kept in
/// fixed memory: an HDR histogram of microseconds with three significant digits (about 200 KB whatever the
/// count), plus exact count, mean, standard deviation (Welford), min and max. Quantiles are within 0.1 % of
/// the exact ones (they are the bucket's upper edge, not numpy's interpolation).
#[derive(Debug, Clone)]
pub struct PooledSeries {
    hist: hdrhistogram::Histogram<u64>,
    count: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

/// The largest value the histogram resolves (one hour, in µs); larger ones count at this value.
const POOLED_MAX_US: u64 = 3_600_000_000;

impl Default for PooledSeries {
    fn default() -> Self {
        PooledSeries {
            hist: hdrhistogram::Histogram::new_with_bounds(1, POOLED_MAX_US, 3)
                .expect("constant histogram bounds are valid"),
            count: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl PooledSeries {
    /// Adds one value, in seconds; NaNs and negative values are ignored.
    pub fn record(&mut self, seconds: f64) {
        if seconds.is_nan() || seconds < 0.0 {
            return;
        }
        let us = (seconds * 1e6).round().clamp(1.0, POOLED_MAX_US as f64) as u64;
        self.hist.saturating_record(us);
        self.count += 1;
        let d = seconds - self.mean;
        self.mean += d / self.count as f64;
        self.m2 += d * (seconds - self.mean);
        self.min = self.min.min(seconds);
        self.max = self.max.max(seconds);
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The distribution as CDF steps: `(seconds, % of values at or below)`, one step per histogram bucket
    /// that holds values (at most a few thousand, whatever the count); empty when nothing was recorded.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let n = self.count.max(1) as f64;
        let mut points = Vec::new();
        let mut below = 0u64;
        for v in self.hist.iter_recorded() {
            let x = v.value_iterated_to() as f64 / 1e6;
            if points.is_empty() {
                points.push((x, 0.0));
            }
            points.push((x, below as f64 / n * 100.0));
            below += v.count_since_last_iteration();
            points.push((x, below as f64 / n * 100.0));
        }
        points
    }

    /// The statistics, in seconds.
    pub fn stats(&self) -> SeriesStats {
        let nonempty = self.count > 0;
        let q = |q: f64| nonempty.then(|| self.hist.value_at_quantile(q) as f64 / 1e6);
        SeriesStats {
            p999: q(0.999),
            quantiles: QUANTILES.iter().map(|&(label, p)| (label, q(p))).collect(),
            mean: nonempty.then_some(self.mean),
            min: nonempty.then_some(self.min),
            max: nonempty.then_some(self.max),
            stddev: (self.count > 1).then(|| (self.m2 / (self.count - 1) as f64).sqrt()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_series_matches_the_exact_statistics() {
        // 100,000 gaps between 1 ms and 101 ms (a skewed spread), against the exact sort-based statistics.
        let values: Vec<f64> = (0..100_000u64)
            .map(|i| 0.001 + 0.1 * ((i * 7919 % 100_000) as f64 / 100_000.0).powi(3))
            .collect();
        let mut pooled = PooledSeries::default();
        for &v in &values {
            pooled.record(v);
        }
        pooled.record(f64::NAN);
        let (got, want) = (pooled.stats(), SeriesStats::of(values.iter().copied()));
        assert_eq!(pooled.len(), 100_000);
        let close = |a: Option<f64>, b: Option<f64>, rel: f64| {
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!((a - b).abs() <= rel * b + 1e-6, "{a} vs {b}");
        };
        for ((label, g), (_, w)) in got.quantiles.iter().zip(&want.quantiles) {
            assert!(label.starts_with('p'));
            close(*g, *w, 0.002);
        }
        close(got.p999, want.p999, 0.002);
        close(got.mean, want.mean, 1e-9);
        close(got.stddev, want.stddev, 1e-6);
        assert_eq!((got.min, got.max), (want.min, want.max));
        let empty = PooledSeries::default().stats();
        assert!(empty.mean.is_none() && empty.p999.is_none() && empty.stddev.is_none());
    }

    #[test]
    fn quantiles_interpolate_linearly_like_numpy() {
        // numpy.quantile([1, 2, 3, 4, 10], q) for the six levels:
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        let want = [2.0, 3.0, 4.0, 7.6, 8.8, 9.76];
        for ((_, q), w) in QUANTILES.iter().zip(want) {
            assert!((quantile(&v, *q) - w).abs() < 1e-12, "q={q}");
        }
        assert_eq!(quantile(&[5.0], 0.99), 5.0);
        // numpy.quantile(range(1, 101), 0.99) == 99.01
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((quantile(&hundred, 0.99) - 99.01).abs() < 1e-9);
        assert!((quantile(&hundred, 0.25) - 25.75).abs() < 1e-9);
    }

    #[test]
    fn stddev_is_the_sample_stddev() {
        // statistics.stdev([2, 4, 4, 4, 5, 5, 7, 9]) == 2.138089935299395
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!((sample_stddev(&v).unwrap() - 2.138089935299395).abs() < 1e-12);
        assert_eq!(sample_stddev(&[1.0]), None);
        assert_eq!(sample_stddev(&[]), None);
    }

    #[test]
    fn series_stats_drop_nan_and_handle_empty() {
        let s = SeriesStats::of([3.0, f64::NAN, 1.0, 2.0]);
        assert_eq!(s.min, Some(1.0));
        assert_eq!(s.max, Some(3.0));
        assert_eq!(s.mean, Some(2.0));
        assert_eq!(s.quantiles[1], ("p50", Some(2.0)));
        assert_eq!(
            (s.p25(), s.p50(), s.p75()),
            (Some(1.5), Some(2.0), Some(2.5))
        );
        assert!((s.p99().unwrap() - 2.98).abs() < 1e-12);
        assert_eq!(SeriesStats::default().p50(), None);
        let e = SeriesStats::of([]);
        assert!(
            e.mean.is_none() && e.stddev.is_none() && e.quantiles.iter().all(|(_, v)| v.is_none())
        );
    }
}
