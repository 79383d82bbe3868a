//! The per-request records the tables, CSV files and charts are made from, and reading them back from a
//! per-request log (`<base>_requests.jsonl`) — also a crashed run's, whose last line may be torn.

use std::ops::Deref;
use std::path::Path;

use serde_json::Value;

use crate::metrics::Metrics;

/// One request as the reports see it: its record and what it asked for. The record is borrowed from the
/// collector at the end of a run (no second copy of every record), owned when read back from a log.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRecord<'a> {
    /// The request's index in the run's prompt list.
    pub index: u64,
    /// The per-request record.
    pub metrics: RecordMetrics<'a>,
    /// The `max_tokens` the request was sent with, when it had one.
    pub max_tokens: Option<u64>,
}

/// A per-request record, borrowed or owned — like `Cow`, but 16 bytes whichever it is (a `Cow<Metrics>` is
/// as large as the record itself, so a list of borrowed ones would cost as much as a copy).
#[derive(Debug, Clone, PartialEq)]
pub enum RecordMetrics<'a> {
    /// Borrowed from the collector's records.
    Borrowed(&'a Metrics),
    /// Read back from a file, or built by hand.
    Owned(Box<Metrics>),
}

impl RecordMetrics<'_> {
    /// The record, made owned first if it is borrowed.
    pub fn to_mut(&mut self) -> &mut Metrics {
        if let RecordMetrics::Borrowed(m) = *self {
            *self = RecordMetrics::Owned(Box::new(m.clone()));
        }
        match self {
            RecordMetrics::Owned(m) => m,
            RecordMetrics::Borrowed(_) => unreachable!("made owned above"),
        }
    }
}

impl Deref for RecordMetrics<'_> {
    type Target = Metrics;
    fn deref(&self) -> &Metrics {
        match self {
            RecordMetrics::Borrowed(m) => m,
            RecordMetrics::Owned(m) => m,
        }
    }
}

impl From<Metrics> for RecordMetrics<'_> {
    fn from(m: Metrics) -> Self {
        RecordMetrics::Owned(Box::new(m))
    }
}

impl<'a> From<&'a Metrics> for RecordMetrics<'a> {
    fn from(m: &'a Metrics) -> Self {
        RecordMetrics::Borrowed(m)
    }
}

impl ReportRecord<'_> {
    /// Whether the response stopped at `max_tokens`: the server's count when it sent one, else the tokenizer's
    /// count without its special token (BOS), reached the cap.
    pub fn hit_max_tokens(&self) -> bool {
        let Some(cap) = self.max_tokens else {
            return false;
        };
        let m = &self.metrics;
        let generated = m
            .server_completion_tokens
            .unwrap_or_else(|| m.number_output_tokens.saturating_sub(1));
        generated >= cap
    }
}

/// `max_tokens` from a request's sampling parameters.
pub fn max_tokens_of(sampling_params: &serde_json::Map<String, Value>) -> Option<u64> {
    sampling_params
        .get("max_tokens")
        .or_else(|| sampling_params.get("max_completion_tokens"))
        .and_then(Value::as_u64)
}

/// What reading a log found.
#[derive(Debug, Clone, Default)]
pub struct LogRead {
    /// The records, in the log's order.
    pub records: Vec<ReportRecord<'static>>,
    /// Whether the last line was incomplete (a crashed run) and was skipped.
    pub torn_last_line: bool,
}

/// Reads a per-request log. A last line that does not parse is skipped (the run crashed while writing it);
/// any other bad line is an error naming it.
pub fn read_requests_log(path: &Path) -> Result<LogRead, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let mut out = LogRead::default();
    for (i, (n, line)) in lines.iter().enumerate() {
        let parsed = serde_json::from_str::<Value>(line)
            .map_err(|e| e.to_string())
            .and_then(|v| record_of(&v));
        match parsed {
            Ok(r) => out.records.push(r),
            Err(_) if i + 1 == lines.len() => out.torn_last_line = true,
            Err(e) => return Err(format!("{} line {}: {e}", path.display(), n + 1)),
        }
    }
    Ok(out)
}

fn record_of(line: &Value) -> Result<ReportRecord<'static>, String> {
    let metrics: Metrics = line
        .get("metrics")
        .cloned()
        .ok_or("no `metrics`")
        .and_then(|m| serde_json::from_value(m).map_err(|_| "bad `metrics`"))?;
    let max_tokens = line
        .get("request_config")
        .and_then(|c| c.get("sampling_params"))
        .and_then(Value::as_object)
        .and_then(max_tokens_of);
    Ok(ReportRecord {
        index: line.get("index").and_then(Value::as_u64).unwrap_or(0),
        metrics: metrics.into(),
        max_tokens,
    })
}

/// The measured window of a run that lasted `elapsed_s`: when a warm-up was left out, it opens at the first
/// measured request's start (as the collector computes it).
pub fn measured_elapsed(records: &[ReportRecord], elapsed_s: f64) -> f64 {
    let window_start = records
        .iter()
        .filter(|r| !r.metrics.warmup)
        .map(|r| r.metrics.actual_start_s)
        .fold(f64::INFINITY, f64::min);
    if records.iter().any(|r| r.metrics.warmup) && window_start.is_finite() {
        elapsed_s - window_start
    } else {
        elapsed_s
    }
}

/// A run's wall time estimated from its records (a crashed run has no run file): the latest end, from the
/// run's start. Errored requests have no end; their start counts.
pub fn elapsed_from_records(records: &[ReportRecord]) -> f64 {
    records
        .iter()
        .map(|r| r.metrics.actual_start_s + r.metrics.end_to_end_latency_s)
        .fold(0.0, f64::max)
}
