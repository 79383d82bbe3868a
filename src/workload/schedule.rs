//! Arrival schedules for open-loop load: when each request is due, as offsets from the start of the run.
//! Drawn from the seed, so two runs with the same seed send at the same offsets, and drawn as the run
//! consumes them ([`Schedule::Drawn`]), so a day-long run at thousands of requests per second holds no list
//! of offsets. Pure.
//!
//! | arrival | gaps between requests | dispersion (CV of the gaps) |
//! |---|---|---|
//! | `constant` | exactly 1/R | 0 |
//! | `poisson` | exponential with mean 1/R | 1 |
//! | `gamma` | gamma with shape K (`--burstiness`) and scale 1/(R·K): mean 1/R | 1/√K (K < 1 is burstier than Poisson) |
//!
//! The first request is due at offset 0.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Exp, Gamma};

/// How requests arrive at a given mean rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Evenly spaced.
    Constant,
    /// A Poisson process: exponential gaps.
    Poisson,
    /// Gamma-distributed gaps with this shape (burstiness); 1 is Poisson.
    Gamma(f64),
}

impl Arrival {
    /// Parses `constant`, `poisson` or `gamma` (with `burstiness` as the shape).
    pub fn parse(name: &str, burstiness: f64) -> Result<Arrival, String> {
        match name {
            "constant" => Ok(Arrival::Constant),
            "poisson" => Ok(Arrival::Poisson),
            "gamma" if burstiness.is_finite() && burstiness > 0.0 => Ok(Arrival::Gamma(burstiness)),
            "gamma" => Err(format!(
                "burstiness must be a positive number; got {burstiness}"
            )),
            other => Err(format!(
                "arrival '{other}' is not one of constant, poisson, gamma"
            )),
        }
    }
}

/// Offsets (seconds from the start) of `n` requests arriving at `rate` per second: the open loop's due times
/// for `seed`, so a model of a run can replay its arrivals.
///
/// ```
/// use llmperf_actors::settings::Arrival;
/// assert_eq!(llmperf_actors::sources::schedule(4.0, Arrival::Constant, 3, 1), [0.0, 0.25, 0.5]);
/// ```
pub fn schedule(rate: f64, arrival: Arrival, n: usize, seed: u64) -> Vec<f64> {
    Arrivals::new(rate, arrival, seed).take(n).collect()
}

/// The endless sequence of offsets [`schedule`] takes its first `n` from, drawn as they are needed: a
/// schedule of any length costs no memory.
pub struct Arrivals {
    rate: f64,
    i: u64,
    t: f64,
    gaps: Option<Box<dyn FnMut() -> f64 + Send>>,
}

impl Arrivals {
    /// Arrivals at `rate` per second (positive and finite), random ones seeded with `seed`.
    pub fn new(rate: f64, arrival: Arrival, seed: u64) -> Arrivals {
        assert!(rate > 0.0 && rate.is_finite(), "rate must be positive");
        let mut rng = StdRng::seed_from_u64(seed);
        let gaps: Option<Box<dyn FnMut() -> f64 + Send>> = match arrival {
            Arrival::Constant => None,
            Arrival::Poisson => {
                let d = Exp::new(rate).expect("positive rate");
                Some(Box::new(move || d.sample(&mut rng)))
            }
            Arrival::Gamma(shape) => {
                let d = Gamma::new(shape, 1.0 / (rate * shape)).expect("positive shape and scale");
                Some(Box::new(move || d.sample(&mut rng)))
            }
        };
        Arrivals {
            rate,
            i: 0,
            t: 0.0,
            gaps,
        }
    }
}

impl Iterator for Arrivals {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        let offset = match &mut self.gaps {
            // i / R directly: summing 1/R would drift by rounding.
            None => self.i as f64 / self.rate,
            Some(gap) => {
                if self.i > 0 {
                    self.t += gap();
                }
                self.t
            }
        };
        self.i += 1;
        Some(offset)
    }
}

/// An open-loop schedule: when each request is due, in seconds from the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Explicit offsets (trace replay, or a schedule built by the caller).
    Offsets(Vec<f64>),
    /// Arrivals drawn on the fly from the seed: fixed memory however long the run.
    Drawn(Drawn),
}

/// A drawn schedule: the whole run's arrivals that fall before a horizon, capped at a count, and of those
/// the positions `first`, `first + every`, … (one shard's share).
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    rate: f64,
    arrival: Arrival,
    seed: u64,
    first: usize,
    every: usize,
    len: usize,
    first_offset: f64,
    last_offset: f64,
}

impl Schedule {
    /// The arrivals at `rate` from `seed` that fall before `horizon` seconds (if any), at most `cap` of them
    /// over the whole run, and of those every `every`-th starting at `first`. Counting them walks the
    /// sequence once (≈ 20 ns per arrival) and keeps nothing.
    pub fn drawn(
        rate: f64,
        arrival: Arrival,
        seed: u64,
        horizon: Option<f64>,
        cap: usize,
        (first, every): (usize, usize),
    ) -> Schedule {
        let every = every.max(1);
        let (mut len, mut first_offset, mut last_offset) = (0, 0.0, 0.0);
        let whole = Arrivals::new(rate, arrival, seed)
            .take(cap)
            .take_while(|&t| horizon.is_none_or(|h| t < h));
        for (j, t) in whole.enumerate() {
            if j % every == first {
                if len == 0 {
                    first_offset = t;
                }
                last_offset = t;
                len += 1;
            }
        }
        Schedule::Drawn(Drawn {
            rate,
            arrival,
            seed,
            first,
            every,
            len,
            first_offset,
            last_offset,
        })
    }

    /// How many requests it holds.
    pub fn len(&self) -> usize {
        match self {
            Schedule::Offsets(v) => v.len(),
            Schedule::Drawn(d) => d.len,
        }
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first and the last offset (`(0, 0)` when empty).
    pub fn span(&self) -> (f64, f64) {
        match self {
            Schedule::Offsets(v) => (
                v.first().copied().unwrap_or(0.0),
                v.last().copied().unwrap_or(0.0),
            ),
            Schedule::Drawn(d) => (d.first_offset, d.last_offset),
        }
    }

    /// Keeps the first `n` requests at most.
    pub fn truncate(&mut self, n: usize) {
        match self {
            Schedule::Offsets(v) => v.truncate(n),
            Schedule::Drawn(d) if n < d.len => {
                // The new last offset is the n-th of the sequence: walk to it once.
                d.last_offset = Schedule::Drawn(d.clone())
                    .into_offsets()
                    .take(n)
                    .last()
                    .unwrap_or(0.0);
                d.len = n;
            }
            Schedule::Drawn(_) => {}
        }
    }

    /// The offsets, in order, drawn as they are consumed.
    pub fn into_offsets(self) -> Box<dyn Iterator<Item = f64> + Send> {
        match self {
            Schedule::Offsets(v) => Box::new(v.into_iter()),
            Schedule::Drawn(d) => Box::new(
                Arrivals::new(d.rate, d.arrival, d.seed)
                    .skip(d.first)
                    .step_by(d.every)
                    .take(d.len),
            ),
        }
    }
}

impl From<Vec<f64>> for Schedule {
    fn from(offsets: Vec<f64>) -> Schedule {
        Schedule::Offsets(offsets)
    }
}

/// The number of requests a schedule at `rate` holds within `duration` seconds: offsets 0, …, < duration.
#[cfg(test)]
pub fn count_within(offsets: &[f64], duration: f64) -> usize {
    offsets.partition_point(|&t| t < duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_schedule_is_evenly_spaced() {
        assert_eq!(schedule(4.0, Arrival::Constant, 3, 1), [0.0, 0.25, 0.5]);
    }

    #[test]
    fn drawn_schedules_are_the_precomputed_ones_without_the_list() {
        for arrival in [Arrival::Constant, Arrival::Poisson, Arrival::Gamma(0.5)] {
            let whole = schedule(200.0, arrival, 5_000, 9);
            // A duration horizon (2 s at 200/s: about 400 arrivals) and shard 1 of 3.
            let within = count_within(&whole, 2.0);
            let shard: Vec<f64> = whole[..within].iter().copied().skip(1).step_by(3).collect();
            let drawn = Schedule::drawn(200.0, arrival, 9, Some(2.0), usize::MAX, (1, 3));
            assert_eq!(drawn.len(), shard.len(), "{arrival:?}");
            assert_eq!(drawn.span(), (shard[0], *shard.last().unwrap()));
            assert_eq!(drawn.clone().into_offsets().collect::<Vec<_>>(), shard);
            // A count cap instead of a horizon, and truncation.
            let mut capped = Schedule::drawn(200.0, arrival, 9, None, 100, (0, 1));
            assert_eq!(
                capped.clone().into_offsets().collect::<Vec<_>>(),
                whole[..100]
            );
            capped.truncate(40);
            assert_eq!((capped.len(), capped.span()), (40, (0.0, whole[39])));
            assert_eq!(capped.into_offsets().count(), 40);
        }
        let mut explicit = Schedule::from(vec![0.0, 0.5, 1.0]);
        explicit.truncate(2);
        assert_eq!((explicit.len(), explicit.span()), (2, (0.0, 0.5)));
    }

    fn gaps(offsets: &[f64]) -> Vec<f64> {
        offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn mean_cv(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn constant_is_exact() {
        let s = schedule(100.0, Arrival::Constant, 1001, 7);
        assert_eq!(s.len(), 1001);
        assert!((s[1000] - 10.0).abs() < 1e-9);
        let (_, cv) = mean_cv(&gaps(&s));
        assert!(cv < 1e-9);
    }

    // With 20,000 gaps the sample mean is within ±3 % and the CV within ±5 % of the truth with overwhelming
    // probability (the standard errors are ~0.7 % and ~1.5 %); the seed is fixed, so these never flake.
    #[test]
    fn poisson_has_the_rate_and_unit_dispersion() {
        let s = schedule(50.0, Arrival::Poisson, 20_001, 11111);
        let (mean, cv) = mean_cv(&gaps(&s));
        assert!((mean * 50.0 - 1.0).abs() < 0.03, "mean gap {mean}");
        assert!((cv - 1.0).abs() < 0.05, "cv {cv}");
    }

    #[test]
    fn gamma_dispersion_follows_burstiness() {
        for k in [0.25, 1.0, 4.0] {
            let s = schedule(200.0, Arrival::Gamma(k), 20_001, 3);
            let (mean, cv) = mean_cv(&gaps(&s));
            assert!((mean * 200.0 - 1.0).abs() < 0.05, "k {k}: mean gap {mean}");
            let want = 1.0 / k.sqrt();
            assert!((cv / want - 1.0).abs() < 0.08, "k {k}: cv {cv} want {want}");
        }
    }

    #[test]
    fn same_seed_same_schedule() {
        let a = schedule(10.0, Arrival::Poisson, 100, 42);
        assert_eq!(a, schedule(10.0, Arrival::Poisson, 100, 42));
        assert_ne!(a, schedule(10.0, Arrival::Poisson, 100, 43));
        assert_eq!(a[0], 0.0);
        assert!(a.windows(2).all(|w| w[1] >= w[0]));
    }

    #[test]
    fn counting_within_a_duration() {
        let s = schedule(10.0, Arrival::Constant, 100, 1);
        assert_eq!(count_within(&s, 1.0), 10);
        assert_eq!(count_within(&s, 0.0), 0);
    }

    #[test]
    fn parsing() {
        assert_eq!(Arrival::parse("gamma", 0.5), Ok(Arrival::Gamma(0.5)));
        assert!(Arrival::parse("gamma", 0.0).is_err());
        assert!(
            Arrival::parse("bursty", 1.0)
                .unwrap_err()
                .contains("bursty")
        );
    }
}
