//! Sharded load: one run split over `N` processes (pods of a Kubernetes Indexed Job), each running `1/N` of it.
//!
//! Shard `I` of `N` (0-based, as Kubernetes' `JOB_COMPLETION_INDEX`):
//! - **requests**: the full, unsharded prompt list is generated from the seed, and shard `I` sends the requests
//!   whose index `i` satisfies `i ≡ I (mod N)`. The `N` shards' request sets are disjoint and together are
//!   exactly the unsharded run's. Nothing else is drawn at random per shard, so every shard uses the same seed;
//! - **concurrency**: `C / N` clients, and one more for the first `C mod N` shards, so the shares add up to `C`;
//! - **files**: the base name gets a `_shard-I-of-N` suffix, so shards writing into one shared volume never
//!   clobber each other.
//!
//! Pure: numbers in, numbers out.

use crate::Error;

/// Environment variable Kubernetes sets in each pod of an Indexed Job: the pod's 0-based completion index,
/// used as `shard_index` when no `--shard-index` flag is given.
pub const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

/// Which part of a run this process executes. `Shard::WHOLE` (0 of 1) is the unsharded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index, below `count`.
    pub index: u64,
    /// Number of shards, at least 1.
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl Shard {
    /// The unsharded run.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The shard from the settings' `shard_index` and `shard_count`, checked: `shard_index` below `shard_count`, `shard_count`, and every
    /// shard with at least one client and one request (else a [`Error::Config`] naming the key and the fix).
    pub fn validated(
        index: Option<u64>,
        count: Option<u64>,
        concurrency: u64,
        requests: u64,
    ) -> Result<Shard, Error> {
        let count = count.unwrap_or(1);
        if count == 0 {
            return Err(Error::Config(
                "shard_count must be at least 1; got 0 (1 runs the whole load in this process)"
                    .into(),
            ));
        }
        let index = index.unwrap_or(0);
        if index >= count {
            return Err(Error::Config(format!(
                "shard_index {index} must be below shard_count {count} (the index comes from --shard-index, \
                 `shard_index`, or {JOB_COMPLETION_INDEX} in a Kubernetes Indexed Job): set --shard-count to the \
                 Job's `completions`"
            )));
        }
        for (key, total) in [
            ("num_concurrent_requests", concurrency),
            ("max_num_completed_requests", requests),
        ] {
            if total < count {
                return Err(Error::Config(format!(
                    "{key} {total} is below shard_count {count}, so some shards would get none: raise {key} to \
                     at least {count} or lower --shard-count"
                )));
            }
        }
        Ok(Shard { index, count })
    }

    /// Whether this is one part of a split run (`count > 1`).
    pub fn is_sharded(&self) -> bool {
        self.count > 1
    }

    /// This shard's part of `total` items spread as evenly as possible: `total / N`, plus one for the first
    /// `total mod N` shards.
    ///
    /// ```
    /// use llmperf_actors::settings::Shard;
    /// let shares: Vec<u64> = (0..3).map(|i| Shard { index: i, count: 3 }.share(10)).collect();
    /// assert_eq!(shares, [4, 3, 3]);
    /// ```
    pub fn share(&self, total: u64) -> u64 {
        total / self.count + u64::from(self.index < total % self.count)
    }

    /// The global index (in the unsharded prompt list) of this shard's `local`-th request: `I + local·N`.
    pub fn global_index(&self, local: usize) -> usize {
        self.index as usize + local * self.count as usize
    }

    /// Keeps the items of `all` whose position is `≡ I (mod N)`, in order. Their count is `share(all.len())`.
    pub fn select<T>(&self, all: Vec<T>) -> Vec<T> {
        let (i, n) = (self.index as usize, self.count as usize);
        all.into_iter()
            .enumerate()
            .filter(|(k, _)| k % n == i)
            .map(|(_, t)| t)
            .collect()
    }

    /// The suffix added to the result files' base name: `_shard-I-of-N`, empty for the unsharded run.
    pub fn file_suffix(&self) -> String {
        if self.is_sharded() {
            format!("_shard-{}-of-{}", self.index, self.count)
        } else {
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        for total in 0..40u64 {
            for count in 1..9u64 {
                let shares: Vec<u64> = (0..count)
                    .map(|index| Shard { index, count }.share(total))
                    .collect();
                assert_eq!(shares.iter().sum::<u64>(), total, "{total} over {count}");
                let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
                assert!(hi - lo <= 1, "{shares:?}");
            }
        }
    }

    #[test]
    fn selections_are_disjoint_and_cover_everything() {
        let all: Vec<usize> = (0..23).collect();
        let mut seen = Vec::new();
        for index in 0..4 {
            let s = Shard { index, count: 4 };
            let part = s.select(all.clone());
            assert_eq!(part.len() as u64, s.share(23));
            for (local, g) in part.iter().enumerate() {
                assert_eq!(s.global_index(local), *g);
                assert_eq!(*g % 4, index as usize);
            }
            seen.extend(part);
        }
        seen.sort();
        assert_eq!(seen, all);
    }

    #[test]
    fn suffix_only_when_sharded() {
        assert_eq!(Shard::WHOLE.file_suffix(), "");
        assert_eq!(Shard { index: 2, count: 3 }.file_suffix(), "_shard-2-of-3");
    }
}
