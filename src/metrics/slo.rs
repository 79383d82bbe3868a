//! Service-level objectives for goodput, and the duration syntax they are written in.

use super::Metrics;

/// Service-level objectives for goodput: a request is *good* when it succeeded and met every target given.
/// Latencies are taken from the scheduled start (what a user arriving on schedule felt; the same as from the
/// actual start in a closed loop). A request too short to have a TPOT meets the TPOT target.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Slo {
    /// Time to first token, seconds.
    pub ttft_s: Option<f64>,
    /// Time per output token after the first, seconds.
    pub tpot_s: Option<f64>,
    /// End-to-end latency, seconds.
    pub e2e_s: Option<f64>,
}

impl Slo {
    /// Whether no target is set.
    pub fn is_empty(&self) -> bool {
        self.ttft_s.is_none() && self.tpot_s.is_none() && self.e2e_s.is_none()
    }

    /// Whether `m` is good under these targets.
    pub fn met(&self, m: &Metrics) -> bool {
        let within = |target: Option<f64>, value: Option<f64>| match (target, value) {
            (None, _) => true,
            (Some(t), Some(v)) => v <= t,
            (Some(_), None) => false,
        };
        m.is_ok()
            && within(self.ttft_s, m.scheduled_ttft_s)
            && within(self.e2e_s, m.scheduled_end_to_end_latency_s)
            && (self.tpot_s.is_none() || m.tpot_s.is_none() || within(self.tpot_s, m.tpot_s))
    }

    /// Parses `ttft=500ms,tpot=50ms,e2e=10s` (any subset; units `ms`, `s`, or none for seconds).
    ///
    /// ```
    /// use llmperf_actors::metrics::Slo;
    /// let slo = Slo::parse("ttft=500ms,e2e=10").unwrap();
    /// assert_eq!((slo.ttft_s, slo.tpot_s, slo.e2e_s), (Some(0.5), None, Some(10.0)));
    /// ```
    pub fn parse(text: &str) -> Result<Slo, String> {
        let mut slo = Slo::default();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item.split_once('=').ok_or_else(|| {
                format!("SLO item '{item}' must be name=duration, e.g. ttft=500ms")
            })?;
            let seconds = parse_seconds(value.trim()).ok_or_else(|| {
                format!("SLO '{item}': '{value}' is not a duration like 500ms or 2s")
            })?;
            let slot = match key.trim() {
                "ttft" => &mut slo.ttft_s,
                "tpot" => &mut slo.tpot_s,
                "e2e" => &mut slo.e2e_s,
                other => return Err(format!("unknown SLO '{other}': use ttft, tpot or e2e")),
            };
            *slot = Some(seconds);
        }
        Ok(slo)
    }
}

impl std::fmt::Display for Slo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("ttft", self.ttft_s),
            ("tpot", self.tpot_s),
            ("e2e", self.e2e_s),
        ]
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}s")))
        .collect();
        write!(f, "{}", parts.join(","))
    }
}

/// `500ms`, `2s`, `5m`, `1.5` (seconds) → seconds; `None` if it is not a non-negative duration (the syntax
/// of every time flag, `duration.rs`).
pub fn parse_seconds(text: &str) -> Option<f64> {
    crate::duration::parse_seconds(text).ok()
}
