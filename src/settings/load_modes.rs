//! Load-mode settings: open-loop rate and arrivals, the in-flight cap, warm-up, duration, sweeps and goodput
//! targets, validated from the raw keys.

use std::time::Duration;

use serde_json::Value;

use super::ConfigLayer;
use crate::Error;
use crate::metrics::{Slo, parse_seconds};
use crate::workload::schedule::Arrival;

/// Prompt pool of a `--duration` run: requests reuse these prompts cyclically.
pub const DURATION_PROMPT_POOL: u64 = 1000;

/// A list of values, one run each.
#[derive(Debug, Clone, PartialEq)]
pub enum Sweep {
    /// Closed loop at each concurrency.
    Concurrency(Vec<u64>),
    /// Open loop at each request rate.
    Rates(Vec<f64>),
}

/// How load is applied: closed or open loop, warm-up, duration, sweeps, goodput targets.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSettings {
    /// Open loop at this rate (requests/s); `None` is the closed loop.
    pub request_rate: Option<f64>,
    /// Arrival process of the open loop.
    pub arrival: Arrival,
    /// Open loop: cap on requests in flight.
    pub max_concurrency: Option<u64>,
    /// N warm-up requests, sent first, on top of `max_num_completed_requests`.
    pub warmup_requests: u64,
    /// Requests due in the first S seconds are warm-up.
    pub warmup_seconds: f64,
    /// Steady-state duration; replaces the timeout.
    pub duration: Option<Duration>,
    /// Whether `max_num_completed_requests` was given (it then caps a duration run).
    pub max_requests_explicit: bool,
    /// One run per value.
    pub sweep: Option<Sweep>,
    /// Stop a sweep after a step above this error rate.
    pub sweep_max_error_rate: Option<f64>,
    /// Stop a sweep after a step above this p99 scheduled end-to-end latency, seconds.
    pub sweep_max_e2e_p99_s: Option<f64>,
    /// Goodput targets.
    pub slo: Slo,
}

/// A duration given as seconds (number) or text (`500ms`, `2s`).
fn seconds_value(key: &str, v: Option<Value>) -> Result<Option<f64>, Error> {
    let bad = |got: &dyn std::fmt::Display| {
        Error::Config(format!(
            "{key} must be a duration: a number of seconds (30) or 500ms, 30s, 5m, 1h; got {got}"
        ))
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(Some)
            .ok_or_else(|| bad(&n)),
        Some(Value::String(s)) => parse_seconds(s.trim()).map(Some).ok_or_else(|| bad(&s)),
        Some(other) => Err(bad(&other)),
    }
}

/// A list of numbers given as a list or as text `1,2,4`.
fn number_list(key: &str, v: Option<Value>) -> Result<Option<Vec<f64>>, Error> {
    let bad = |got: &dyn std::fmt::Display| {
        Error::Config(format!(
            "{key} must be a list of positive numbers such as 1,2,4; got {got}"
        ))
    };
    let items: Vec<Value> = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(Value::String(s)) => s
            .split(',')
            .map(|x| x.trim())
            .filter(|x| !x.is_empty())
            .map(|x| x.parse::<f64>().map(Value::from).map_err(|_| bad(&s)))
            .collect::<Result<_, _>>()?,
        Some(Value::Number(n)) => vec![Value::Number(n)],
        Some(other) => return Err(bad(&other)),
    };
    let nums: Vec<f64> = items
        .iter()
        .map(|x| {
            x.as_f64()
                .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|f| f.is_finite() && *f > 0.0)
                .ok_or_else(|| bad(x))
        })
        .collect::<Result<_, _>>()?;
    if nums.is_empty() {
        return Err(bad(&"an empty list"));
    }
    Ok(Some(nums))
}

impl ConfigLayer {
    pub(super) fn load_settings(&self) -> Result<LoadSettings, Error> {
        let positive = |key: &str, v: Option<f64>| match v {
            Some(x) if !(x.is_finite() && x > 0.0) => Err(Error::Config(format!(
                "{key} must be a positive number; got {x}"
            ))),
            _ => Ok(v),
        };
        let request_rate = positive("request_rate", self.request_rate)?;
        let arrival = Arrival::parse(
            self.arrival.as_deref().unwrap_or("poisson"),
            self.burstiness.unwrap_or(1.0),
        )
        .map_err(|e| Error::Config(format!("arrival/burstiness: {e}")))?;
        let concurrency = number_list("sweep_concurrency", self.sweep_concurrency.clone())?;
        let rates = number_list("sweep_rates", self.sweep_rates.clone())?;
        let sweep = match (concurrency, rates) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "give sweep_concurrency or sweep_rates, not both".into(),
                ));
            }
            (Some(c), None) => {
                if let Some(x) = c.iter().find(|x| x.fract() != 0.0) {
                    return Err(Error::Config(format!(
                        "sweep_concurrency values must be whole numbers; got {x}"
                    )));
                }
                Some(Sweep::Concurrency(c.iter().map(|x| *x as u64).collect()))
            }
            (None, Some(r)) => Some(Sweep::Rates(r)),
            (None, None) => None,
        };
        let slo = match &self.slo {
            None | Some(Value::Null) => Slo::default(),
            Some(Value::String(s)) => {
                Slo::parse(s).map_err(|e| Error::Config(format!("slo: {e}")))?
            }
            Some(Value::Object(m)) => {
                let mut slo = Slo::default();
                for (k, v) in m {
                    let secs = seconds_value(&format!("slo.{k}"), Some(v.clone()))?;
                    match k.as_str() {
                        "ttft" => slo.ttft_s = secs,
                        "tpot" => slo.tpot_s = secs,
                        "e2e" => slo.e2e_s = secs,
                        other => {
                            return Err(Error::Config(format!(
                                "unknown SLO '{other}': use ttft, tpot or e2e"
                            )));
                        }
                    }
                }
                slo
            }
            Some(other) => {
                return Err(Error::Config(format!(
                    "slo must be text like ttft=500ms,e2e=10s or a mapping; got {other}"
                )));
            }
        };
        let duration = seconds_value("duration", self.duration.clone())?;
        if duration == Some(0.0) {
            return Err(Error::Config("duration must be above 0".into()));
        }
        let warmup_seconds = self.warmup_seconds.unwrap_or(0.0);
        if !(warmup_seconds.is_finite() && warmup_seconds >= 0.0) {
            return Err(Error::Config(format!(
                "warmup_seconds must be 0 or more; got {warmup_seconds}"
            )));
        }
        if let Some(0) = self.max_concurrency {
            return Err(Error::Config("max_concurrency must be at least 1".into()));
        }
        Ok(LoadSettings {
            request_rate,
            arrival,
            max_concurrency: self.max_concurrency,
            warmup_requests: self.warmup_requests.unwrap_or(0),
            warmup_seconds,
            duration: duration.map(Duration::from_secs_f64),
            max_requests_explicit: self.max_num_completed_requests.is_some(),
            sweep,
            sweep_max_error_rate: self.sweep_max_error_rate,
            sweep_max_e2e_p99_s: seconds_value(
                "sweep_max_e2e_p99",
                self.sweep_max_e2e_p99.clone(),
            )?,
            slo,
        })
    }
}
