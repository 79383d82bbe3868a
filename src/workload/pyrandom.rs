//! CPython's `random` module, reproduced for the draws LLMPerf makes.
//!
//! LLMPerf seeds Python's global Mersenne Twister and draws prompt lengths with `gauss` and line orders with
//! `shuffle`. Reproducing those algorithms exactly makes our prompts identical to the original's for the same
//! seed (spec §4.1). Pure: no I/O, no actors.

use rand_mt::Mt;

/// Python's `random.Random`, restricted to `random()`, `gauss()`, `getrandbits(k ≤ 32)`, `randbelow` and
/// `shuffle`, with CPython's algorithms (3.8–3.12).
pub struct PyRandom {
    mt: Mt,
    gauss_next: Option<f64>,
}

impl PyRandom {
    /// Seeds like `random.seed(n)` for an integer `n`: `init_by_array` over the 32-bit chunks of `|n|`.
    pub fn new(seed: u64) -> Self {
        let mut key = vec![seed as u32];
        if seed >> 32 != 0 {
            key.push((seed >> 32) as u32);
        }
        PyRandom {
            mt: Mt::new_with_key(key),
            gauss_next: None,
        }
    }

    fn next_u32(&mut self) -> u32 {
        self.mt.next_u32()
    }

    /// `random.random()`: 53 random bits as a float in [0, 1).
    pub fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `random.getrandbits(k)` for `1 <= k <= 32`.
    pub fn getrandbits(&mut self, k: u32) -> u32 {
        debug_assert!((1..=32).contains(&k));
        self.next_u32() >> (32 - k)
    }

    /// `random._randbelow(n)` for `n >= 1`: rejection sampling over `bit_length(n)` bits.
    pub fn randbelow(&mut self, n: u32) -> u32 {
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `random.gauss(mu, sigma)`, including its cached second value.
    pub fn gauss(&mut self, mu: f64, sigma: f64) -> f64 {
        let z = match self.gauss_next.take() {
            Some(z) => z,
            None => {
                let x2pi = self.random() * std::f64::consts::TAU;
                let g2rad = (-2.0 * (1.0 - self.random()).ln()).sqrt();
                self.gauss_next = Some(x2pi.sin() * g2rad);
                x2pi.cos() * g2rad
            }
        };
        mu + z * sigma
    }

    /// `random.shuffle(list)`: Fisher–Yates from the end.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.randbelow(i as u32 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// LLMPerf's `sample_random_positive_int(mean, stddev)`: truncate a normal draw toward zero, redraw until
    /// it is positive. Every call consumes a draw even when `stddev` is 0.
    ///
    /// Returns `None` instead of looping forever when no positive value can come out (`mean <= 0`,
    /// `stddev == 0`), or after a million fruitless draws.
    pub fn sample_random_positive_int(&mut self, mean: f64, stddev: f64) -> Option<u64> {
        for _ in 0..1_000_000 {
            let v = self.gauss(mean, stddev).trunc();
            if v > 0.0 {
                return Some(v as u64);
            }
            if stddev == 0.0 {
                return None;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values printed by CPython for `random.seed(11111)` (spec §4.1).
    #[test]
    fn random_matches_cpython() {
        let mut r = PyRandom::new(11111);
        assert_eq!(r.random(), 0.9479227239554819);
        assert_eq!(r.random(), 0.026355604507073638);
        assert_eq!(r.random(), 0.3605189895382517);
    }

    #[test]
    fn gauss_matches_cpython() {
        let mut r = PyRandom::new(11111);
        let got: Vec<f64> = (0..4).map(|_| r.gauss(0.0, 1.0)).collect();
        let want = [
            0.2188610547428915,
            -0.07428402778542952,
            -0.6476173412802638,
            0.7776577095441252,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{g} vs {w}");
        }
    }

    #[test]
    fn getrandbits_matches_cpython() {
        let mut r = PyRandom::new(11111);
        assert_eq!(r.getrandbits(32), 4071297090);
        assert_eq!(r.getrandbits(32), 1412511523);
        assert_eq!(r.getrandbits(32), 113196452);
    }

    #[test]
    fn positive_int_never_zero_and_gives_up_when_impossible() {
        let mut r = PyRandom::new(1);
        for _ in 0..1000 {
            assert!(r.sample_random_positive_int(1.0, 5.0).unwrap() >= 1);
        }
        assert_eq!(r.sample_random_positive_int(0.0, 0.0), None);
        assert_eq!(r.sample_random_positive_int(7.0, 0.0), Some(7));
    }

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let mut a: Vec<u32> = (0..84).collect();
        let mut b = a.clone();
        PyRandom::new(5).shuffle(&mut a);
        PyRandom::new(5).shuffle(&mut b);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..84).collect::<Vec<_>>());
        assert_ne!(a, sorted);
    }
}
