//! Values that take several forms in the layers (text from a flag or the environment, or YAML structure) and
//! their checks: reports, JSON objects, metadata, seconds, counts, on/off. Errors name the key and the flag.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::Error;
use crate::report::{ProgressMode, ReportOutputs};

/// `on`/`off` (also true/false, yes/no, 1/0).
pub fn on_off(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("'{s}' is not on or off")),
    }
}

/// The reports to produce: `output_format` (a list or comma-separated names), then `charts` / `csv`, then
/// `progress` (`quiet` makes the automatic mode plain lines).
pub(super) fn report_outputs(
    formats: Option<Value>,
    charts: Option<bool>,
    csv: Option<bool>,
    quiet: Option<bool>,
    progress: Option<String>,
) -> Result<ReportOutputs, Error> {
    let mut o = ReportOutputs::default();
    if let Some(v) = formats {
        let list: Vec<String> = match v {
            Value::String(s) => vec![s],
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s),
                    other => Err(Error::Config(format!(
                        "output_format: {other} is not a name; use table, csv, charts, html, all or none"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            other => {
                return Err(Error::Config(format!(
                    "output_format: {other} is not a list of names; use e.g. [table, csv, charts]"
                )));
            }
        };
        o.set_formats(&list)
            .map_err(|e| Error::Config(format!("output_format / --output-format: {e}")))?;
    }
    o.charts = charts.unwrap_or(o.charts);
    o.csv = csv.unwrap_or(o.csv);
    if let Some(p) = progress {
        o.progress = p
            .parse()
            .map_err(|e| Error::Config(format!("progress / --progress: {e}")))?;
    }
    if quiet == Some(true) && o.progress == ProgressMode::Auto {
        o.progress = ProgressMode::Plain;
    }
    Ok(o)
}

/// A JSON object given as an object or as a JSON string (`--additional-sampling-params '{"a": 1}'`).
pub(super) fn json_object(key: &str, v: Option<Value>) -> Result<Map<String, Value>, Error> {
    let bad = |got: &str| {
        Error::Config(format!(
            "{key} must be a JSON object, e.g. '{{\"temperature\": 0.7}}'; got {got}"
        ))
    };
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Map::new()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(bad(&s)),
            Err(e) => Err(bad(&format!("{s} ({e})"))),
        },
        Some(other) => Err(bad(&other.to_string())),
    }
}

/// `k1=v1,k2=v2` (split at the first `=` of each item) or a mapping.
pub fn parse_metadata(v: Option<Value>) -> Result<Map<String, Value>, Error> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(Value::String(s)) => {
            let mut m = Map::new();
            for item in s.split(',').filter(|i| !i.trim().is_empty()) {
                let (k, v) = item.split_once('=').ok_or_else(|| {
                    Error::Config(format!(
                        "metadata item '{item}' has no '=': write key=value pairs separated by commas, \
                         e.g. --metadata team=infra,gpu=a100"
                    ))
                })?;
                m.insert(k.trim().to_string(), Value::from(v.trim()));
            }
            Ok(m)
        }
        Some(other) => Err(Error::Config(format!(
            "metadata must be key=value pairs or a mapping; got {other}"
        ))),
    }
}

pub(super) fn seconds(key: &str, v: f64) -> Result<Duration, Error> {
    if v.is_finite() && v > 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(Error::Config(format!(
            "{key} must be a positive number of seconds; got {v}"
        )))
    }
}

pub(super) fn at_least_one(key: &str, v: u64) -> Result<u64, Error> {
    if v >= 1 {
        Ok(v)
    } else {
        Err(Error::Config(format!("{key} must be at least 1; got {v}")))
    }
}

/// An on/off key: a boolean, or one of on/off, true/false, yes/no, 1/0 (from the file, the environment or
/// the flag); `default` when unset.
pub(super) fn on_off_key(key: &str, v: Option<Value>, default: bool) -> Result<bool, Error> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(b),
        Some(Value::Number(n)) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
            Ok(n.as_u64() == Some(1))
        }
        Some(Value::String(s)) => on_off(&s).map_err(|_| {
            Error::Config(format!(
                "{key} must be on or off (--{} on|off); got '{s}'",
                key.replace('_', "-")
            ))
        }),
        Some(other) => Err(Error::Config(format!(
            "{key} must be on or off (--{} on|off); got {other}",
            key.replace('_', "-")
        ))),
    }
}
