//! The statistics a capacity step is judged by: the Wilson score interval for a fraction (the goodput) and the
//! distribution-free order-statistic interval for a quantile (the SLO latencies). Pure: numbers in, numbers
//! out.
//!
//! | interval | formula |
//! |---|---|
//! | Wilson, `k` of `n`, level `1 − α` | centre `(p̂ + z²/2n) / (1 + z²/n)`, half-width `z/(1 + z²/n) · √(p̂(1 − p̂)/n + z²/4n²)`, `z = Φ⁻¹(1 − α/2)` |
//! | quantile `q` of `n` sorted values `x₍₁₎ ≤ … ≤ x₍ₙ₎` | `[x₍ₗ₎, x₍ᵤ₎]`: `l` the largest with `P(B ≤ l − 1) ≤ α/2`, `u` the smallest with `P(B ≤ u − 1) ≥ 1 − α/2`, `B ~ Binomial(n, q)` (the number of values below the true quantile) |
//!
//! A quantile bound that would need an order statistic outside `1..=n` does not exist yet: too few values for
//! that confidence (the upper bound of a p99 at 95 % needs about 300 values once the rest agree).
//!
//! Both formulas assume independent values. Latencies measured in the order requests were sent are not: near
//! saturation one busy period slows many requests in a row. [`autocorrelation_time`] measures how much, and
//! the `_eff` forms take it as an **effective sample size** `n / τ`: the Wilson interval of `k/τ` good of
//! `n/τ`, and the binomial ranks of `n/τ` values scaled back to `n` (`l = ⌊l′·n/m⌋`, `u = ⌈u′·n/m⌉`,
//! `m = ⌊n/τ⌋`). With `τ = 1` they are the formulas above.

/// `Φ⁻¹(p)`, the standard normal quantile, by Acklam's rational approximation refined with one Halley step
/// (error below 1e-12 for `0 < p < 1`).
///
/// ```
/// use llmperf_actors::capacity::stats::normal_quantile;
/// assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-6);
/// ```
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let low = 0.02425;
    let x = if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Halley step on Φ(x) − p.
    let e = 0.5 * erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The complementary error function (W. J. Cody's rational approximations via the Numerical Recipes
/// Chebyshev fit, relative error below 1.2e-7; enough for one refinement step of [`normal_quantile`]).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// A two-sided interval; a bound that does not exist (too few values) is `None`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub low: Option<f64>,
    /// Upper bound.
    pub high: Option<f64>,
}

/// The Wilson score interval of the fraction `k / n` at two-sided level `confidence` (e.g. 0.95); `[0, 1]`
/// when `n = 0`.
///
/// ```
/// use llmperf_actors::capacity::stats::wilson;
/// let (lo, hi) = wilson(95, 100, 0.95);
/// assert!((lo - 0.8882).abs() < 1e-3 && (hi - 0.9785).abs() < 1e-3);
/// ```
pub fn wilson(k: u64, n: u64, confidence: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    wilson_fraction(k as f64 / n as f64, n as f64, confidence)
}

/// The Wilson interval of a fraction `p` measured on `n` values (`n` may be an effective, fractional size).
fn wilson_fraction(p: f64, n: f64, confidence: f64) -> (f64, f64) {
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// `P(B ≤ j)` for `j = 0..n`, `B ~ Binomial(n, q)`, computed in log space (no underflow for large `n`).
fn binomial_cdf(n: usize, q: f64) -> Vec<f64> {
    let mut cdf = Vec::with_capacity(n + 1);
    if q <= 0.0 {
        return vec![1.0; n + 1];
    }
    if q >= 1.0 {
        let mut v = vec![0.0; n + 1];
        v[n] = 1.0;
        return v;
    }
    let (lq, l1q) = (q.ln(), (1.0 - q).ln());
    let mut log_pmf = n as f64 * l1q;
    let mut sum = 0.0;
    for j in 0..=n {
        sum += log_pmf.exp();
        cdf.push(sum.min(1.0));
        if j < n {
            log_pmf += ((n - j) as f64 / (j + 1) as f64).ln() + lq - l1q;
        }
    }
    cdf
}

/// The 1-based ranks `(l, u)` of the order statistics bounding quantile `q` of `n` values at two-sided level
/// `confidence`; a rank outside `1..=n` means that bound does not exist yet.
pub fn quantile_ranks(n: usize, q: f64, confidence: f64) -> (usize, usize) {
    let alpha = 1.0 - confidence;
    let cdf = binomial_cdf(n, q);
    // P(B ≤ j) for j = -1 is 0.
    let at = |j: isize| if j < 0 { 0.0 } else { cdf[j as usize] };
    let mut l = 0;
    for cand in 1..=n {
        if at(cand as isize - 1) <= alpha / 2.0 {
            l = cand;
        } else {
            break;
        }
    }
    let u = (1..=n)
        .find(|&cand| at(cand as isize - 1) >= 1.0 - alpha / 2.0)
        .unwrap_or(n + 1);
    (l, u)
}

/// The nearest-rank quantile `q` of ascending `sorted` (`x₍⌈qn⌉₎`); `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The order-statistic interval of quantile `q` of ascending `sorted` at two-sided level `confidence`.
///
/// ```
/// use llmperf_actors::capacity::stats::quantile_interval;
/// let v: Vec<f64> = (1..=100).map(f64::from).collect();
/// let ci = quantile_interval(&v, 0.5, 0.95);
/// assert_eq!((ci.low, ci.high), (Some(40.0), Some(61.0)));
/// ```
pub fn quantile_interval(sorted: &[f64], q: f64, confidence: f64) -> Interval {
    let n = sorted.len();
    let (l, u) = quantile_ranks(n, q, confidence);
    Interval {
        low: (1..=n).contains(&l).then(|| sorted[l - 1]),
        high: (1..=n).contains(&u).then(|| sorted[u - 1]),
    }
}

/// Midranks of `values` (ties share the mean of their ranks, so an indicator series is ranked fairly), from 0.
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]].total_cmp(&values[order[i]]).is_eq() {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0;
        for &k in &order[i..=j] {
            ranks[k] = mid;
        }
        i = j + 1;
    }
    ranks
}

/// The integrated autocorrelation time `τ = 1 + 2 Σₖ ρₖ` of `values` in the order measured, on their midranks
/// (so a failed request's infinite latency is simply the largest), by Geyer's initial positive sequence: the
/// sum runs over pairs `ρ₂ₘ + ρ₂ₘ₊₁` while they stay positive. At least 1 (independent values); the variance
/// of a mean of `n` such values is that of `n / τ` independent ones.
///
/// ```
/// use llmperf_actors::capacity::stats::autocorrelation_time;
/// // Alternating values are anti-correlated: no inflation.
/// let v: Vec<f64> = (0..100).map(|i| (i % 2) as f64).collect();
/// assert_eq!(autocorrelation_time(&v), 1.0);
/// // Runs of ten equal values: about ten times fewer independent ones.
/// let runs: Vec<f64> = (0..200).map(|i| ((i / 10) % 2) as f64).collect();
/// assert!(autocorrelation_time(&runs) > 5.0);
/// ```
pub fn autocorrelation_time(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 4 {
        return 1.0;
    }
    let r = midranks(values);
    let mean = r.iter().sum::<f64>() / n as f64;
    let d: Vec<f64> = r.iter().map(|x| x - mean).collect();
    let var = d.iter().map(|x| x * x).sum::<f64>() / n as f64;
    if var <= 0.0 {
        return 1.0;
    }
    let rho = |k: usize| d.iter().zip(&d[k..]).map(|(a, b)| a * b).sum::<f64>() / n as f64 / var;
    let mut tau = -1.0;
    let mut m = 0;
    while 2 * m + 1 < n {
        let pair = rho(2 * m) + rho(2 * m + 1);
        if pair <= 0.0 {
            break;
        }
        tau += 2.0 * pair;
        m += 1;
    }
    tau.max(1.0)
}

/// The effective sample size `⌊n / τ⌋`, at least 1 (when `n ≥ 1`).
pub fn effective_n(n: usize, tau: f64) -> usize {
    if n == 0 {
        return 0;
    }
    ((n as f64 / tau.max(1.0)).floor() as usize).clamp(1, n)
}

/// [`wilson`] on an effective sample: `k / τ` good of `n / τ`.
pub fn wilson_eff(k: u64, n: u64, confidence: f64, tau: f64) -> (f64, f64) {
    let m = effective_n(n as usize, tau);
    if m as u64 == n || n == 0 {
        return wilson(k, n, confidence);
    }
    wilson_fraction(k as f64 / n as f64, m as f64, confidence)
}

/// [`quantile_interval`] on an effective sample: the binomial ranks of `m = ⌊n/τ⌋` values, scaled to `n`.
///
/// ```
/// use llmperf_actors::capacity::stats::{quantile_interval, quantile_interval_eff};
/// let v: Vec<f64> = (1..=100).map(f64::from).collect();
/// assert_eq!(quantile_interval_eff(&v, 0.5, 0.95, 1.0), quantile_interval(&v, 0.5, 0.95));
/// let wide = quantile_interval_eff(&v, 0.5, 0.95, 4.0);
/// assert!(wide.low.unwrap() < 40.0 && wide.high.unwrap() > 61.0);
/// ```
pub fn quantile_interval_eff(sorted: &[f64], q: f64, confidence: f64, tau: f64) -> Interval {
    let n = sorted.len();
    let m = effective_n(n, tau);
    if m == n {
        return quantile_interval(sorted, q, confidence);
    }
    let (l, u) = quantile_ranks(m, q, confidence);
    let scale = n as f64 / m as f64;
    let l = if l >= 1 {
        (l as f64 * scale).floor() as usize
    } else {
        0
    };
    let u = if u <= m {
        (u as f64 * scale).ceil() as usize
    } else {
        n + 1
    };
    Interval {
        low: (1..=n).contains(&l).then(|| sorted[l - 1]),
        high: (1..=n).contains(&u).then(|| sorted[u - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_the_tables() {
        for (p, z) in [
            (0.5, 0.0),
            (0.8413447460685429, 1.0),
            (0.975, 1.959963984540054),
            (0.995, 2.5758293035489004),
            (0.01, -2.3263478740408408),
            (1e-6, -4.753424308822899),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 1e-6,
                "{p}: {}",
                normal_quantile(p)
            );
        }
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn wilson_matches_hand_computed_values_and_stays_in_0_1() {
        // 0 of 10: [0, z²/(n+z²)] = [0, 0.2775].
        let (lo, hi) = wilson(0, 10, 0.95);
        assert!(lo.abs() < 1e-12);
        assert!((hi - 0.2775).abs() < 1e-3, "{hi}");
        // 10 of 10 mirrors it.
        let (lo, hi) = wilson(10, 10, 0.95);
        assert!((lo - 0.7225).abs() < 1e-3 && hi == 1.0, "{lo} {hi}");
        // 50 of 100: 0.5 ± 0.0962 (centre exactly 0.5).
        let (lo, hi) = wilson(50, 100, 0.95);
        assert!((lo - 0.4038).abs() < 1e-3 && (hi - 0.5962).abs() < 1e-3);
        // More values, narrower.
        let (a, b) = wilson(500, 1000, 0.95);
        assert!(b - a < hi - lo);
        assert_eq!(wilson(0, 0, 0.95), (0.0, 1.0));
    }

    #[test]
    fn binomial_cdf_sums_to_one_without_underflow() {
        let c = binomial_cdf(3, 0.5);
        let want = [0.125, 0.5, 0.875, 1.0];
        for (a, b) in c.iter().zip(want) {
            assert!((a - b).abs() < 1e-12);
        }
        let big = binomial_cdf(5000, 0.99);
        assert!((big[5000] - 1.0).abs() < 1e-9);
        assert!(big[4900] < 0.01 && big[4900] > 0.0);
    }

    #[test]
    fn quantile_ranks_follow_the_binomial_tables() {
        // The median of 100 at 95 %: ranks 40 and 61 by the exact binomial (the normal approximation gives
        // 40 and 61 too); P(B ≤ 39) = 0.0176 ≤ 0.025 < P(B ≤ 40) = 0.0284.
        assert_eq!(quantile_ranks(100, 0.5, 0.95), (40, 61));
        // A p99 upper bound needs enough values: with 100 it does not exist, with 300 it does (0.99³⁰⁰ ≈ 0.049,
        // two-sided 0.025 needs n ≥ 368).
        assert_eq!(quantile_ranks(100, 0.99, 0.95).1, 101);
        assert!(quantile_ranks(400, 0.99, 0.95).1 <= 400);
        // A p90 of 30 values has an upper bound below the maximum only from about 45 values.
        // P(B ≤ 6) = 0.0128 ≤ 0.025 < P(B ≤ 7) = 0.0702 for B ~ Binomial(10, 0.9).
        assert_eq!(quantile_ranks(10, 0.9, 0.95), (7, 11));
    }

    #[test]
    fn autocorrelated_values_count_as_fewer() {
        // Independent draws (a fixed LCG): τ near 1.
        let mut x = 12345u64;
        let iid: Vec<f64> = (0..400)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 11) as f64
            })
            .collect();
        assert!(
            autocorrelation_time(&iid) < 1.5,
            "{}",
            autocorrelation_time(&iid)
        );
        // A slow drift up (a queue filling): every value is correlated with its neighbours.
        let drift: Vec<f64> = (0..400).map(|i| i as f64).collect();
        assert!(autocorrelation_time(&drift) > 20.0);
        // Ties rank together: a constant series carries no correlation to measure.
        assert_eq!(autocorrelation_time(&[1.0; 50]), 1.0);
        assert_eq!(effective_n(100, 4.0), 25);
        assert_eq!(effective_n(3, 10.0), 1);
        assert_eq!(effective_n(0, 2.0), 0);
        // Fewer effective values, a wider interval around the same fraction.
        let (a, b) = wilson(80, 100, 0.95);
        let (c, d) = wilson_eff(80, 100, 0.95, 4.0);
        assert!(c < a && d > b);
        assert_eq!(wilson_eff(80, 100, 0.95, 1.0), (a, b));
        // The scaled ranks: a p90 upper bound that 100 independent values give, 100 values worth 10 do not.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!(quantile_interval_eff(&v, 0.9, 0.95, 1.0).high.is_some());
        assert_eq!(quantile_interval_eff(&v, 0.9, 0.95, 10.0).high, None);
    }

    #[test]
    fn the_quantile_interval_brackets_the_estimate_and_shrinks_with_more_values() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let ci = quantile_interval(&v, 0.9, 0.95);
        let est = quantile(&v, 0.9).unwrap();
        assert_eq!(est, 900.0);
        let (lo, hi) = (ci.low.unwrap(), ci.high.unwrap());
        assert!(lo < est && est < hi, "{lo} {hi}");
        assert!(hi - lo < 50.0);
        let small: Vec<f64> = (1..=20).map(f64::from).collect();
        let ci = quantile_interval(&small, 0.99, 0.95);
        assert_eq!(ci.high, None);
        assert!(ci.low.is_some());
    }
}
