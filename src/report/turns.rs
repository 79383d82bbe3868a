//! Multi-turn runs: time to first token by turn, so the effect of the growing context is visible. Written into
//! the summary as `results_ttft_s_by_turn` and printed as one line per turn. Only successful, measured
//! (non-warm-up) requests count. Pure.

use std::collections::BTreeMap;

use crate::metrics::{Metrics, SeriesStats};

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

/// TTFT by turn, in turn order; empty when no record carries a turn.
pub fn ttft_by_turn<'a>(records: impl IntoIterator<Item = &'a Metrics>) -> Vec<TurnTtft> {
    let mut by_turn: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for m in records.into_iter().filter(|m| m.is_ok() && !m.warmup) {
        if let Some(t) = m.turn {
            by_turn.entry(t).or_default().push(m.ttft_s);
        }
    }
    by_turn
        .into_iter()
        .map(|(turn, values)| TurnTtft {
            turn,
            count: values.len(),
            ttft: SeriesStats::of(values),
        })
        .collect()
}
