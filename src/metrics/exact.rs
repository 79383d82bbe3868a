//! Exact statistics of many values in memory that does not grow with them: a run's records may be on disk
//! (a soak of millions of requests), so its quantiles are found by re-reading the values a few times rather
//! than by sorting them all in memory.
//!
//! - **Sums** are exact and then rounded once ([`ExactSum`], Shewchuk's algorithm, as Python's `math.fsum`):
//!   a mean does not depend on the order the records arrived in, and a sum over a file equals the sum over
//!   the same values in memory, bit for bit.
//! - **Order statistics** by radix selection ([`exact_series_stats`]): each value's bits are mapped to a key
//!   whose unsigned order is `f64::total_cmp`'s; each pass over the values counts, for every wanted rank, the
//!   next 8 bits of the keys that share the prefix found so far (a 256-bucket histogram); once a rank's bucket
//!   holds at most [`COLLECT_MAX`] values, the next pass collects them and picks the rank exactly. Memory is
//!   the histograms — a few kilobytes per wanted rank — whatever the number of values; a series of a million
//!   latencies takes about five passes.
//!
//! The results equal the sort-based [`SeriesStats::of`] bit for bit (a test checks it), so every output may
//! use either.

use super::series::{QUANTILES, SeriesStats, interpolate};

/// A sum of `f64`s without rounding error until the end: the partials of Shewchuk's algorithm. Adding in any
/// order gives the same [`ExactSum::total`], the exact sum rounded to the nearest `f64`.
#[derive(Debug, Clone, Default)]
pub struct ExactSum {
    /// Non-overlapping partial sums, smallest magnitude first.
    partials: Vec<f64>,
    /// Infinities and NaNs, summed apart (the partials hold finite values only).
    special: f64,
}

impl ExactSum {
    /// Adds `x`.
    pub fn add(&mut self, mut x: f64) {
        if !x.is_finite() {
            self.special += x;
            return;
        }
        let mut kept = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        if x != 0.0 {
            self.partials.push(x);
        }
    }

    /// The exact sum, rounded half to even (as `math.fsum`; infinities and NaNs as IEEE addition has them).
    pub fn total(&self) -> f64 {
        if self.special != 0.0 || self.special.is_nan() {
            return self.special;
        }
        let p = &self.partials;
        let Some(&last) = p.last() else {
            return 0.0;
        };
        let mut n = p.len() - 1;
        let mut hi = last;
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = p[n];
            hi = x + y;
            lo = y - (hi - x);
            if lo != 0.0 {
                break;
            }
        }
        // Half-way cases: the partials below decide which way the rounding of `hi + lo` goes.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }
}

/// The key of `v` whose unsigned order is `f64::total_cmp`'s order of the values.
fn key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The value of a [`key`].
fn value(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// A rank's bucket this small is collected and sorted rather than refined by another histogram pass.
pub const COLLECT_MAX: u64 = 4096;

/// The levels each series reports: the original's six, then p99.9.
fn levels() -> impl Iterator<Item = f64> {
    QUANTILES.iter().map(|&(_, q)| q).chain([0.999])
}

/// A wanted rank of one series, and how far it is found.
#[derive(Debug, Clone, Copy)]
struct Target {
    series: usize,
    rank: u64,
    /// Its rank among the values whose keys start with `prefix`.
    sub_rank: u64,
    /// The top `depth` bits of its key, found so far.
    prefix: u64,
    depth: u32,
    /// The next pass collects the values under `prefix` instead of counting their next bits.
    collect: bool,
    /// The key, once found.
    found: Option<u64>,
}

/// The values of one series under one prefix, as one pass sees them.
struct Group {
    series: usize,
    prefix: u64,
    depth: u32,
    collect: bool,
    hist: Vec<u64>,
    keys: Vec<u64>,
}

impl Group {
    fn holds(&self, k: u64) -> bool {
        self.depth == 0 || k >> (64 - self.depth) == self.prefix
    }

    fn add(&mut self, k: u64) {
        if self.collect {
            self.keys.push(k);
        } else {
            self.hist[((k >> (56 - self.depth)) & 0xff) as usize] += 1;
        }
    }
}

/// What the first pass learns of one series.
#[derive(Debug, Clone, Default)]
struct Totals {
    n: u64,
    sum: ExactSum,
    min: u64,
    max: u64,
}

/// The statistics of `series` series at once (as [`SeriesStats::of`] of each), exactly, in memory that does
/// not grow with the values. Every call of `visit` must hand its sink the same `(series, value)` pairs (any
/// order; NaNs are dropped, as pandas does); it is called a few times (one pass for counts and sums, then
/// one per 8 bits the quantiles still need).
pub fn exact_series_stats(
    series: usize,
    visit: impl Fn(&mut dyn FnMut(usize, f64)),
) -> Vec<SeriesStats> {
    let mut totals = vec![Totals::default(); series];
    visit(&mut |s, v| {
        if v.is_nan() {
            return;
        }
        let (t, k) = (&mut totals[s], key(v));
        if t.n == 0 {
            (t.min, t.max) = (k, k);
        }
        t.n += 1;
        t.sum.add(v);
        t.min = t.min.min(k);
        t.max = t.max.max(k);
    });
    let means: Vec<f64> = totals
        .iter()
        .map(|t| t.sum.total() / t.n.max(1) as f64)
        .collect();
    let mut targets: Vec<Target> = Vec::new();
    for (s, t) in totals.iter().enumerate().filter(|(_, t)| t.n > 0) {
        let mut ranks: Vec<u64> = levels()
            .flat_map(|q| {
                let h = (t.n - 1) as f64 * q;
                [h.floor() as u64, h.ceil() as u64]
            })
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        targets.extend(ranks.into_iter().map(|rank| Target {
            series: s,
            rank,
            sub_rank: rank,
            prefix: 0,
            depth: 0,
            collect: t.n <= COLLECT_MAX,
            found: None,
        }));
    }
    // Squared deviations from the mean, summed in the first selection pass (or in a pass of their own when
    // there is nothing to select).
    let mut squares = vec![ExactSum::default(); series];
    let mut first = true;
    // Eight bits a pass, and one to collect: a rank not found by then means the values changed between
    // visits; it reads NaN rather than looping for ever.
    for _ in 0..10 {
        if !first && targets.iter().all(|t| t.found.is_some()) {
            break;
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut of_target: Vec<Option<usize>> = vec![None; targets.len()];
        for (i, t) in targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.found.is_none())
        {
            let same = |g: &Group| {
                (g.series, g.prefix, g.depth, g.collect) == (t.series, t.prefix, t.depth, t.collect)
            };
            of_target[i] = Some(groups.iter().position(same).unwrap_or_else(|| {
                groups.push(Group {
                    series: t.series,
                    prefix: t.prefix,
                    depth: t.depth,
                    collect: t.collect,
                    hist: if t.collect { Vec::new() } else { vec![0; 256] },
                    keys: Vec::new(),
                });
                groups.len() - 1
            }));
        }
        let mut by_series: Vec<Vec<usize>> = vec![Vec::new(); series];
        for (g, group) in groups.iter().enumerate() {
            by_series[group.series].push(g);
        }
        visit(&mut |s, v| {
            if v.is_nan() {
                return;
            }
            if first {
                squares[s].add((v - means[s]) * (v - means[s]));
            }
            let k = key(v);
            for &g in &by_series[s] {
                if groups[g].holds(k) {
                    groups[g].add(k);
                }
            }
        });
        first = false;
        for g in groups.iter_mut().filter(|g| g.collect) {
            g.keys.sort_unstable();
        }
        for (t, g) in targets.iter_mut().zip(&of_target) {
            let Some(g) = g.map(|g| &groups[g]) else {
                continue;
            };
            if g.collect {
                t.found = g.keys.get(t.sub_rank as usize).copied();
                debug_assert!(
                    t.found.is_some(),
                    "a pass saw the values the one before it counted"
                );
                continue;
            }
            let mut below = 0;
            for (digit, &count) in g.hist.iter().enumerate() {
                if below + count > t.sub_rank {
                    t.sub_rank -= below;
                    t.prefix = t.prefix << 8 | digit as u64;
                    t.depth += 8;
                    if t.depth == 64 {
                        t.found = Some(t.prefix);
                    }
                    t.collect = count <= COLLECT_MAX;
                    break;
                }
                below += count;
            }
        }
    }
    totals
        .iter()
        .enumerate()
        .map(|(s, t)| {
            if t.n == 0 {
                return SeriesStats::of([]);
            }
            let at = |rank: u64| {
                targets
                    .iter()
                    .find(|x| x.series == s && x.rank == rank)
                    .and_then(|x| x.found)
                    .map_or(f64::NAN, value)
            };
            let quantile = |q: f64| {
                let h = (t.n - 1) as f64 * q;
                interpolate(h, at(h.floor() as u64), at(h.ceil() as u64))
            };
            SeriesStats {
                p999: Some(quantile(0.999)),
                quantiles: QUANTILES
                    .iter()
                    .map(|&(label, q)| (label, Some(quantile(q))))
                    .collect(),
                mean: Some(means[s]),
                min: Some(value(t.min)),
                max: Some(value(t.max)),
                stddev: (t.n > 1).then(|| (squares[s].total() / (t.n - 1) as f64).sqrt()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sort_based(values: &[f64]) -> SeriesStats {
        SeriesStats::of(values.iter().copied())
    }

    fn exact(values: &[f64]) -> SeriesStats {
        exact_series_stats(1, |sink| values.iter().for_each(|&v| sink(0, v)))
            .pop()
            .unwrap()
    }

    /// A deterministic spread of `n` values: skewed latencies, repeats, a few outliers and NaNs.
    fn spread(n: u64, seed: u64) -> Vec<f64> {
        let mut x = seed | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                match i % 97 {
                    0 => 0.25,
                    1 => f64::NAN,
                    2 => 40.0 * u,
                    _ => 0.01 + 0.2 * u * u,
                }
            })
            .collect()
    }

    #[test]
    fn keys_order_values_as_total_cmp_does() {
        let mut v = [
            3.5,
            -0.0,
            0.0,
            -2.0,
            1e-300,
            f64::INFINITY,
            -1e300,
            7.0,
            0.5,
        ];
        let mut by_key = v;
        by_key.sort_by_key(|&x| key(x));
        v.sort_by(f64::total_cmp);
        assert_eq!(v.map(f64::to_bits), by_key.map(f64::to_bits));
        for x in v {
            assert_eq!(value(key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn exact_sums_do_not_depend_on_the_order() {
        let values = [1e16, 1.0, -1e16, 0.1, 0.2, 0.3, 1e-3];
        let forward = values.iter().fold(ExactSum::default(), |mut s, &v| {
            s.add(v);
            s
        });
        let backward = values.iter().rev().fold(ExactSum::default(), |mut s, &v| {
            s.add(v);
            s
        });
        // math.fsum([1e16, 1.0, -1e16, 0.1, 0.2, 0.3, 1e-3]) == 1.601
        assert_eq!(forward.total(), 1.601);
        assert_eq!(forward.total().to_bits(), backward.total().to_bits());
        assert_eq!(ExactSum::default().total(), 0.0);
        let mut inf = ExactSum::default();
        inf.add(1.0);
        inf.add(f64::INFINITY);
        assert_eq!(inf.total(), f64::INFINITY);
    }

    #[test]
    fn radix_selection_equals_sorting_bit_for_bit() {
        // Small (collected at once), medium, and large enough to need several histogram passes.
        for (n, seed) in [
            (1, 3),
            (2, 5),
            (7, 11),
            (500, 13),
            (20_000, 17),
            (200_000, 19),
        ] {
            let values = spread(n, seed);
            let (want, got) = (sort_based(&values), exact(&values));
            assert_eq!(format!("{want:?}"), format!("{got:?}"), "n = {n}");
        }
        // Every value equal, and only two distinct values: ranks inside one bucket to the last bit.
        let same = vec![0.125; 50_000];
        assert_eq!(exact(&same), sort_based(&same));
        let two: Vec<f64> = (0..30_000)
            .map(|i| if i % 3 == 0 { 1.0 } else { 2.0 })
            .collect();
        assert_eq!(exact(&two), sort_based(&two));
        assert_eq!(exact(&[]), SeriesStats::of([]));
        assert_eq!(exact(&[f64::NAN]), SeriesStats::of([]));
    }

    #[test]
    fn many_series_in_one_visit_and_few_passes() {
        let a = spread(60_000, 23);
        let b: Vec<f64> = spread(9_000, 29).iter().map(|v| v * 1000.0).collect();
        let passes = std::cell::Cell::new(0);
        let got = exact_series_stats(3, |sink| {
            passes.set(passes.get() + 1);
            // Interleaved, as records carry several metrics each.
            for i in 0..a.len().max(b.len()) {
                if let Some(&v) = a.get(i) {
                    sink(0, v);
                }
                if let Some(&v) = b.get(i) {
                    sink(2, v);
                }
            }
        });
        assert_eq!(got[0], sort_based(&a));
        assert_eq!(got[1], SeriesStats::of([]));
        assert_eq!(got[2], sort_based(&b));
        assert!(passes.get() <= 6, "{} passes", passes.get());
    }
}
