//! Multi-turn runs: time to first token by turn, so the effect of the growing context is visible. Written into
//! the summary as `results_ttft_s_by_turn` and printed as one line per turn. Only successful, measured
//! (non-warm-up) requests count; the statistics compute it with the others (`stats.rs`).

use crate::metrics::SeriesStats;

/// Time to first token by turn of a multi-turn run.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnTtft {
    /// The turn, 1-based.
    pub turn: u64,
    /// TTFT over that turn's successful measured requests.
    pub ttft: SeriesStats,
    /// How many requests.
    pub count: usize,
}
