//! The capacity search's service-level objective: latency targets on quantiles the user picks
//! (`ttft_p99=500ms,tpot_p90=50ms,e2e_p50=4s`), plus a goodput target. Pure.

use std::fmt;

use crate::metrics::parse_seconds;

/// A latency a target is set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LatencyKind {
    /// Time to first token, from the scheduled start.
    Ttft,
    /// Time per output token after the first.
    Tpot,
    /// End-to-end latency, from the scheduled start.
    E2e,
}

impl LatencyKind {
    /// The name in the SLO syntax and the outputs.
    pub fn name(self) -> &'static str {
        match self {
            LatencyKind::Ttft => "ttft",
            LatencyKind::Tpot => "tpot",
            LatencyKind::E2e => "e2e",
        }
    }

    /// The name a reader sees ("TTFT").
    pub fn label(self) -> &'static str {
        match self {
            LatencyKind::Ttft => "TTFT",
            LatencyKind::Tpot => "TPOT",
            LatencyKind::E2e => "E2E",
        }
    }
}

/// One target: quantile `quantile` of `kind` at most `max_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Which latency.
    pub kind: LatencyKind,
    /// The quantile, e.g. 0.99.
    pub quantile: f64,
    /// The limit, seconds.
    pub max_s: f64,
}

impl Target {
    /// The criterion's name in the outputs: `ttft_p99`, `tpot_p99.9`.
    pub fn name(&self) -> String {
        format!("{}_p{}", self.kind.name(), trim(self.quantile * 100.0))
    }

    /// The name a reader sees: `TTFT p99`.
    pub fn label(&self) -> String {
        format!("{} p{}", self.kind.label(), trim(self.quantile * 100.0))
    }
}

/// `99.0` → `99`, `99.9` → `99.9`.
fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The targets of a search, in the order given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CapacitySlo {
    /// Every target.
    pub targets: Vec<Target>,
}

impl CapacitySlo {
    /// Parses `ttft_p99=500ms,tpot_p90=50ms,e2e=10s`: a latency (`ttft`, `tpot`, `e2e`), optionally `_pQ`
    /// (a quantile in percent, above 0 and below 100; without it, p`goodput` — the target then only counts in
    /// the goodput), `=`, a duration (`500ms`, `2s`, seconds without unit).
    ///
    /// ```
    /// use llmperf_actors::capacity::slo::CapacitySlo;
    /// let slo = CapacitySlo::parse("ttft_p99=500ms,tpot_p90=0.05").unwrap();
    /// assert_eq!(slo.targets[0].name(), "ttft_p99");
    /// assert_eq!((slo.targets[1].quantile, slo.targets[1].max_s), (0.9, 0.05));
    /// ```
    pub fn parse(text: &str) -> Result<CapacitySlo, String> {
        let mut targets = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item.split_once('=').ok_or_else(|| {
                format!("SLO item '{item}' must be name=duration, e.g. ttft_p99=500ms")
            })?;
            let max_s = parse_seconds(value.trim()).ok_or_else(|| {
                format!("SLO '{item}': '{value}' is not a duration like 500ms or 2s")
            })?;
            let key = key.trim();
            let (metric, quantile) = match key.split_once("_p") {
                Some((m, q)) => {
                    let pct: f64 = q.parse().map_err(|_| {
                        format!("SLO '{item}': '{q}' after _p is not a percentile like 99 or 99.9")
                    })?;
                    if !(pct > 0.0 && pct < 100.0) {
                        return Err(format!(
                            "SLO '{item}': the percentile must be above 0 and below 100"
                        ));
                    }
                    (m, Some(pct / 100.0))
                }
                None => (key, None),
            };
            let kind = match metric {
                "ttft" => LatencyKind::Ttft,
                "tpot" => LatencyKind::Tpot,
                "e2e" => LatencyKind::E2e,
                other => {
                    return Err(format!(
                        "unknown SLO latency '{other}': use ttft, tpot or e2e (e.g. ttft_p99=500ms)"
                    ));
                }
            };
            targets.push(Target {
                kind,
                // NaN marks "no quantile": only the goodput counts it.
                quantile: quantile.unwrap_or(f64::NAN),
                max_s,
            });
        }
        if targets.is_empty() {
            return Err("the SLO sets no target: give e.g. ttft_p99=500ms,tpot_p99=50ms".into());
        }
        Ok(CapacitySlo { targets })
    }

    /// The targets judged as quantiles (those written with `_pQ`).
    pub fn quantile_targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|t| !t.quantile.is_nan())
    }
}

impl fmt::Display for CapacitySlo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .targets
            .iter()
            .map(|t| {
                let name = if t.quantile.is_nan() {
                    t.kind.name().to_string()
                } else {
                    t.name()
                };
                format!("{name}={}ms", trim(t.max_s * 1000.0))
            })
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quantile_targets_and_plain_ones() {
        let slo = CapacitySlo::parse("ttft_p99=500ms, tpot_p99.9=50ms,e2e=10").unwrap();
        let names: Vec<String> = slo.targets.iter().map(Target::name).collect();
        assert_eq!(names[..2], ["ttft_p99", "tpot_p99.9"]);
        assert!((slo.targets[1].quantile - 0.999).abs() < 1e-12);
        assert!(slo.targets[2].quantile.is_nan());
        assert_eq!(slo.quantile_targets().count(), 2);
        assert_eq!(
            slo.to_string(),
            "ttft_p99=500ms,tpot_p99.9=50ms,e2e=10000ms"
        );
        assert_eq!(slo.targets[0].label(), "TTFT p99");
    }

    #[test]
    fn errors_name_the_item_and_the_fix() {
        for (text, says) in [
            ("ttft_p99", "name=duration"),
            ("ttft_p99=fast", "not a duration"),
            ("ttft_pxx=1s", "percentile"),
            ("ttft_p100=1s", "below 100"),
            ("itl_p50=1s", "use ttft, tpot or e2e"),
            ("", "sets no target"),
        ] {
            let e = CapacitySlo::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
