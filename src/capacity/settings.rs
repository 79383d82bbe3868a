//! The `capacity:` section of the configuration (the `capacity` subcommand's flags set the same keys) and its
//! validation into [`CapacitySettings`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::judge::Rules;
use super::search::{SearchKind, SearchParams};
use super::slo::CapacitySlo;
use crate::Error;
use crate::metrics::parse_seconds;

/// The `capacity:` section: every key optional; `slo` is required to run a search.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySection {
    /// `--slo`: `ttft_p99=500ms,tpot_p99=50ms,e2e_p50=4s` (a target without `_pQ` counts in the goodput only).
    pub slo: Option<String>,
    /// `--goodput`: the least fraction of requests meeting every target [default: 0.95].
    pub goodput: Option<f64>,
    /// `--search`: `rate` (open loop, Poisson arrivals) or `concurrency` (closed loop) [default: rate].
    pub search: Option<String>,
    /// `--min-rate`: the lightest load tried (a concurrency with `search: concurrency`) [default: 1].
    pub min_rate: Option<f64>,
    /// `--max-rate`: the heaviest load tried [default: 1000].
    pub max_rate: Option<f64>,
    /// `--start-rate`: the first load [default: min_rate].
    pub start_rate: Option<f64>,
    /// `--growth`: factor between bracketing steps [default: 2].
    pub growth: Option<f64>,
    /// `--tolerance`: stop bisecting when the bracket is this narrow, relative to its low end [default: 0.05].
    pub tolerance: Option<f64>,
    /// `--time-budget`: the whole search's time, seconds or text such as `10m` [default: 10m].
    pub time_budget: Option<Value>,
    /// `--step-requests`: judged requests a step needs before it can pass [default: 50].
    pub step_requests: Option<u64>,
    /// `--max-step-requests`: requests a step sends at most, warm-up included [default: 500].
    pub max_step_requests: Option<u64>,
    /// `--step-warmup`: requests at the start of each step left out of its judgement [default: 5].
    pub step_warmup: Option<u64>,
    /// `--max-step-seconds`: a step sends nothing after this long [default: 120].
    pub max_step_seconds: Option<Value>,
    /// `--confidence`: two-sided level of every interval [default: 0.95].
    pub confidence: Option<f64>,
}

/// The validated search settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacitySettings {
    /// How steps are judged.
    pub rules: Rules,
    /// What is searched and how.
    pub search: SearchParams,
    /// The whole search's time.
    pub time_budget: Duration,
    /// Judged requests a step needs before it can pass.
    pub step_requests: usize,
    /// Requests a step sends at most.
    pub max_step_requests: usize,
    /// Requests at the start of a step left out of its judgement.
    pub step_warmup: usize,
    /// A step sends nothing after this long.
    pub max_step_time: Duration,
}

/// `30`, `30s`, `500ms`, `10m`, `1h` → seconds.
fn duration_text(key: &str, v: &Value) -> Result<f64, Error> {
    let bad = || {
        Error::Config(format!(
            "capacity.{key} must be a duration such as 90, 90s, 10m or 1h; got {v}"
        ))
    };
    let secs = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            if let Some(m) = s.strip_suffix('m').filter(|m| !m.ends_with('m')) {
                m.trim().parse::<f64>().ok().map(|x| x * 60.0)
            } else if let Some(h) = s.strip_suffix('h') {
                h.trim().parse::<f64>().ok().map(|x| x * 3600.0)
            } else {
                parse_seconds(s)
            }
        }
        _ => None,
    };
    secs.filter(|x| x.is_finite() && *x > 0.0).ok_or_else(bad)
}

impl CapacitySection {
    /// Validates the section; errors name the key (`capacity.<key>`, the flag `--<key>`) and the fix.
    pub fn validated(&self) -> Result<CapacitySettings, Error> {
        let cfg = |m: String| Error::Config(m);
        let text = self.slo.as_deref().ok_or_else(|| {
            cfg("the capacity search needs an SLO: --slo ttft_p99=500ms,tpot_p99=50ms (or capacity.slo)".into())
        })?;
        let slo =
            CapacitySlo::parse(text).map_err(|e| cfg(format!("capacity.slo (--slo): {e}")))?;
        let fraction = |key: &str, v: Option<f64>, default: f64| {
            let x = v.unwrap_or(default);
            if x > 0.0 && x < 1.0 || (key == "goodput" && x == 1.0) {
                Ok(x)
            } else {
                Err(cfg(format!(
                    "capacity.{key} (--{}) must be between 0 and 1, e.g. 0.95; got {x}",
                    key.replace('_', "-")
                )))
            }
        };
        let goodput = fraction("goodput", self.goodput, 0.95)?;
        let confidence = fraction("confidence", self.confidence, 0.95)?;
        let kind = match self.search.as_deref().unwrap_or("rate") {
            "rate" => SearchKind::Rate,
            "concurrency" => SearchKind::Concurrency,
            other => {
                return Err(cfg(format!(
                    "capacity.search (--search) must be rate or concurrency; got '{other}'"
                )));
            }
        };
        let min = self.min_rate.unwrap_or(1.0);
        let max = self.max_rate.unwrap_or(1000.0);
        let start = self.start_rate.unwrap_or(min);
        for (key, v) in [("min_rate", min), ("max_rate", max), ("start_rate", start)] {
            let flag = key.replace('_', "-");
            if !(v.is_finite() && v > 0.0) {
                return Err(cfg(format!(
                    "capacity.{key} (--{flag}) must be above 0; got {v}"
                )));
            }
            if kind == SearchKind::Concurrency && v.fract() != 0.0 {
                return Err(cfg(format!(
                    "capacity.{key} (--{flag}) is a concurrency with --search concurrency: a whole number; got {v}"
                )));
            }
        }
        if !(min <= start && start <= max) {
            return Err(cfg(format!(
                "capacity: need min_rate ≤ start_rate ≤ max_rate (--min-rate, --start-rate, --max-rate); got \
                 {min}, {start}, {max}"
            )));
        }
        let growth = self.growth.unwrap_or(2.0);
        if !(growth.is_finite() && growth > 1.0) {
            return Err(cfg(format!(
                "capacity.growth (--growth) must be above 1, e.g. 2; got {growth}"
            )));
        }
        let tolerance = self.tolerance.unwrap_or(0.05);
        if !(tolerance.is_finite() && tolerance > 0.0) {
            return Err(cfg(format!(
                "capacity.tolerance (--tolerance) must be above 0, e.g. 0.05; got {tolerance}"
            )));
        }
        let time_budget = match &self.time_budget {
            None | Some(Value::Null) => 600.0,
            Some(v) => duration_text("time_budget", v)?,
        };
        let max_step = match &self.max_step_seconds {
            None | Some(Value::Null) => 120.0,
            Some(v) => duration_text("max_step_seconds", v)?,
        };
        let step_requests = self.step_requests.unwrap_or(50) as usize;
        if step_requests < 10 {
            return Err(cfg(format!(
                "capacity.step_requests (--step-requests) must be at least 10; got {step_requests}"
            )));
        }
        let step_warmup = self.step_warmup.unwrap_or(5) as usize;
        let max_step_requests = self.max_step_requests.unwrap_or(500) as usize;
        if max_step_requests < step_requests + step_warmup {
            return Err(cfg(format!(
                "capacity.max_step_requests (--max-step-requests) must be at least step_requests + step_warmup \
                 ({}); got {max_step_requests}",
                step_requests + step_warmup
            )));
        }
        Ok(CapacitySettings {
            rules: Rules {
                slo,
                goodput,
                confidence,
            },
            search: SearchParams {
                kind,
                min,
                max,
                start,
                growth,
                tolerance,
            },
            time_budget: Duration::from_secs_f64(time_budget),
            step_requests,
            max_step_requests,
            step_warmup,
            max_step_time: Duration::from_secs_f64(max_step),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_durations_take_units() {
        let s = CapacitySection {
            slo: Some("ttft_p99=500ms".into()),
            time_budget: Some(Value::from("2m")),
            ..Default::default()
        }
        .validated()
        .unwrap();
        assert_eq!(s.rules.goodput, 0.95);
        assert_eq!(s.time_budget, Duration::from_secs(120));
        assert_eq!(
            (s.search.min, s.search.start, s.search.max),
            (1.0, 1.0, 1000.0)
        );
        assert_eq!(s.search.kind, SearchKind::Rate);
        assert_eq!(s.max_step_time, Duration::from_secs(120));
    }

    #[test]
    fn bad_values_name_the_key_and_the_flag() {
        let base = CapacitySection {
            slo: Some("ttft_p99=500ms".into()),
            ..Default::default()
        };
        for (section, says) in [
            (CapacitySection::default(), "--slo"),
            (
                CapacitySection {
                    goodput: Some(1.5),
                    ..base.clone()
                },
                "--goodput",
            ),
            (
                CapacitySection {
                    search: Some("tokens".into()),
                    ..base.clone()
                },
                "--search",
            ),
            (
                CapacitySection {
                    min_rate: Some(5.0),
                    max_rate: Some(2.0),
                    ..base.clone()
                },
                "--max-rate",
            ),
            (
                CapacitySection {
                    search: Some("concurrency".into()),
                    min_rate: Some(1.5),
                    ..base.clone()
                },
                "whole number",
            ),
            (
                CapacitySection {
                    growth: Some(1.0),
                    ..base.clone()
                },
                "--growth",
            ),
            (
                CapacitySection {
                    time_budget: Some(Value::from("soon")),
                    ..base.clone()
                },
                "time_budget",
            ),
            (
                CapacitySection {
                    step_requests: Some(3),
                    ..base.clone()
                },
                "--step-requests",
            ),
            (
                CapacitySection {
                    max_step_requests: Some(20),
                    ..base.clone()
                },
                "--max-step-requests",
            ),
        ] {
            let e = section.validated().unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
