//! The per-request records a run yields — the typed input of every statistic and output — and reading them
//! back from a per-request log (`<base>_requests.jsonl`), also a crashed run's, whose last line may be torn.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::store::RecordStore;
use crate::backend::RequestConfig;
use crate::metrics::Metrics;

/// One finished request, as the collector keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The request's index in the whole run's prompt list.
    pub index: u64,
    /// The `max_tokens` the request was sent with, when it had one.
    pub max_tokens: Option<u64>,
    /// The per-request record.
    pub metrics: Metrics,
    /// The correctness test's scored answer (a load test keeps no texts: they are in the log).
    pub answer: Option<Box<ScoredAnswer>>,
}

/// A correctness-test answer and how it scored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredAnswer {
    /// The model's answer.
    pub generated_text: String,
    /// The request, with `metadata.rnd_number`.
    pub request_config: RequestConfig,
    /// How the answer scored.
    pub outcome: Outcome,
}

/// How one correctness-test answer scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The answer contains the number.
    Match,
    /// The request succeeded but the answer does not contain the number.
    Mismatch,
    /// The request failed.
    Error,
}

impl RunRecord {
    /// A record read back from a file, or built by hand: no answer kept.
    pub fn new(index: u64, metrics: Metrics, max_tokens: Option<u64>) -> RunRecord {
        RunRecord {
            index,
            max_tokens,
            metrics,
            answer: None,
        }
    }

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
    crate::backend::request::max_tokens_in(sampling_params)
}

/// What reading a log found.
#[derive(Debug, Default)]
pub struct LogRead {
    /// The records, in the log's order (most of a long log's spilled to disk: see [`RecordStore`]).
    pub records: RecordStore,
    /// Whether the last line was incomplete (a crashed run) and was skipped.
    pub torn_last_line: bool,
}

/// Reads a per-request log, a line at a time (a log of millions of requests is never in memory whole). A
/// last line that does not parse is skipped (the run crashed while writing it); any other bad line is an
/// error naming it.
pub fn read_requests_log(path: &Path, spill_dir: Option<&Path>) -> Result<LogRead, String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = LogRead {
        records: RecordStore::new().spilling_into(spill_dir),
        torn_last_line: false,
    };
    // A bad line is an error only once a good line follows it.
    let mut bad: Option<(usize, String)> = None;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        if let Some((n, e)) = bad.take() {
            return Err(format!("{} line {}: {e}", path.display(), n + 1));
        }
        match serde_json::from_str::<Value>(&line)
            .map_err(|e| e.to_string())
            .and_then(|v| record_of(&v))
        {
            Ok(r) => out.records.push(r),
            Err(e) => bad = Some((n, e)),
        }
    }
    out.torn_last_line = bad.is_some();
    Ok(out)
}

fn record_of(line: &Value) -> Result<RunRecord, String> {
    let metrics: Metrics = line
        .get("metrics")
        .cloned()
        .ok_or("no `metrics`")
        .and_then(|m| serde_json::from_value(m).map_err(|_| "bad `metrics`"))?;
    let index = line.get("index").and_then(Value::as_u64).unwrap_or(0);
    Ok(RunRecord::new(index, metrics, max_tokens_in(line)))
}

/// The `max_tokens` of a log line's request.
pub fn max_tokens_in(line: &Value) -> Option<u64> {
    line.get("request_config")
        .and_then(|c| c.get("sampling_params"))
        .and_then(Value::as_object)
        .and_then(max_tokens_of)
}

/// The measured window of a run that lasted `elapsed_s`: when a warm-up was left out, it opens at the first
/// measured request's start.
pub fn measured_elapsed(records: &RecordStore, elapsed_s: f64) -> f64 {
    let mut warmup = false;
    let window_start = records
        .iter()
        .inspect(|r| warmup |= r.metrics.warmup)
        .filter(|r| !r.metrics.warmup)
        .map(|r| r.metrics.actual_start_s)
        .fold(f64::INFINITY, f64::min);
    if warmup && window_start.is_finite() {
        elapsed_s - window_start
    } else {
        elapsed_s
    }
}

/// A run's wall time estimated from its records (a crashed run has no run file): the latest end, from the
/// run's start. Errored requests have no end; their start counts.
pub fn elapsed_from_records(records: &RecordStore) -> f64 {
    records
        .iter()
        .map(|r| r.metrics.ended_s())
        .fold(0.0, f64::max)
}

/// Parsed log lines `(line number, record)`, and whether a torn final line was skipped.
pub type ParsedLog = (Vec<(usize, Value)>, bool);

/// The lines of a per-request log's text, with their 1-based line numbers. A final line without its newline
/// that does not parse (the process was killed while writing it) is skipped and reported as `torn = true`;
/// any other bad line is an error `(line number, message)`.
pub fn parse_log(text: &str) -> Result<ParsedLog, (usize, String)> {
    let mut out = Vec::new();
    let mut torn = false;
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => out.push((n + 1, v)),
            Err(_) if n + 1 == lines.len() && !complete => torn = true,
            Err(e) => return Err((n + 1, e.to_string())),
        }
    }
    Ok((out, torn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_skipped_and_others_are_errors() {
        let (v, torn) = parse_log("{\"a\":1}\n{\"a\":2}\n{\"a\":").unwrap();
        assert_eq!((v.len(), torn), (2, true));
        let (v, torn) = parse_log("{\"a\":1}\n\n{\"a\":2}\n").unwrap();
        assert_eq!((v.len(), torn), (2, false));
        assert_eq!(
            parse_log("{\"a\":1}\n{\"a\":\n{\"a\":2}\n").unwrap_err().0,
            2
        );
        // A complete last line that does not parse is not a torn write.
        assert_eq!(parse_log("{\"a\":1}\n{\"a\":\n").unwrap_err().0, 2);
    }
}
