//! Multi-turn runs: time to first token by turn, so the effect of the growing context is visible. Added to
//! the summary as `results_ttft_s_by_turn` (`{"1": {"mean", "p50", "p90", "p99", "count"}, …}`) and printed
//! as one line per turn. Only successful, measured (non-warm-up) requests count.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Map, Value, json};

use crate::metrics::{Metrics, SeriesStats};

/// The by-turn statistics and their printed lines, or `None` when no record carries a turn.
pub fn ttft_by_turn(records: &[Metrics]) -> Option<(Value, String)> {
    let mut by_turn: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for m in records.iter().filter(|m| m.is_ok() && !m.warmup) {
        if let Some(t) = m.turn {
            by_turn.entry(t).or_default().push(m.ttft_s);
        }
    }
    if by_turn.is_empty() {
        return None;
    }
    let mut obj = Map::new();
    let mut text = String::from("TTFT by turn (s):\n");
    for (turn, values) in by_turn {
        let n = values.len();
        let s = SeriesStats::of(values);
        let q = |label: &str| {
            s.quantiles
                .iter()
                .find(|(l, _)| *l == label)
                .and_then(|(_, v)| *v)
        };
        obj.insert(
            turn.to_string(),
            json!({"mean": s.mean, "p50": q("p50"), "p90": q("p90"), "p99": q("p99"), "count": n}),
        );
        let _ = writeln!(
            text,
            "  turn {turn}: mean {:.4}, p50 {:.4}, p90 {:.4} ({n} requests)",
            s.mean.unwrap_or(0.0),
            q("p50").unwrap_or(0.0),
            q("p90").unwrap_or(0.0)
        );
    }
    Some((Value::Object(obj), text))
}
