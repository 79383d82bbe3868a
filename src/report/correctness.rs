//! The correctness test's scoring, summary and files (spec §7).
//!
//! Files for `B` = sanitize(`{model}_correctness`): `B_summary.json` with the original's keys, and
//! `B_individual_responses.json`, the list of `{metrics, generated_text, request_config}` (plus `outcome`).
//!
//! Fixed against the original: only a `null` error code is a success (an error code `0` is an error), and
//! nothing divides by zero when no request completed (the rates are then 0).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::description::RunDescription;
use super::llmperf::{RESULTS_VERSION, insert_flat, to_json_indent4};
use crate::backend::RequestConfig;
use crate::metrics::Metrics;
use crate::workload::correctness::answer_matches;

/// How one answer scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The answer contains the number.
    Match,
    /// The request succeeded but the answer does not contain the number.
    Mismatch,
    /// The request failed.
    Error,
}

/// One scored request, as written to `B_individual_responses.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CorrectnessRecord {
    /// The per-request record.
    pub metrics: Metrics,
    /// The model's answer.
    pub generated_text: String,
    /// The request, with `metadata.rnd_number`.
    pub request_config: RequestConfig,
    /// How the answer scored.
    pub outcome: Outcome,
}

impl CorrectnessRecord {
    /// The number the request asked for (`metadata.rnd_number`).
    pub fn expected(&self) -> Option<u64> {
        self.request_config.metadata.get("rnd_number")?.as_u64()
    }
}

/// Scores an answer: an error if the request failed, else whether the text contains the number.
pub fn score(metrics: &Metrics, text: &str, expected: Option<u64>) -> Outcome {
    match (metrics.is_ok(), expected) {
        (false, _) => Outcome::Error,
        (true, Some(n)) if answer_matches(text, n as u32) => Outcome::Match,
        _ => Outcome::Mismatch,
    }
}

/// Counts over the recorded requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorrectnessStats {
    /// Requests that failed.
    pub number_errors: u64,
    /// Successful requests whose answer lacks the number.
    pub num_mismatched_requests: u64,
    /// All recorded requests, errored ones included.
    pub num_completed_requests: u64,
    /// Completed minus errors.
    pub num_non_errored_requests: u64,
    /// errors / completed (completed includes errored requests, as the original).
    pub error_rate: f64,
    /// mismatched / completed (completed includes errored requests, as the original).
    pub mismatch_rate: f64,
}

/// Counts and rates over `records`.
pub fn correctness_stats(records: &[CorrectnessRecord]) -> CorrectnessStats {
    let count = |o: Outcome| records.iter().filter(|r| r.outcome == o).count() as u64;
    let completed = records.len() as u64;
    let errors = count(Outcome::Error);
    let mismatched = count(Outcome::Mismatch);
    let rate = |x: u64| {
        if completed > 0 {
            x as f64 / completed as f64
        } else {
            0.0
        }
    };
    CorrectnessStats {
        number_errors: errors,
        num_mismatched_requests: mismatched,
        num_completed_requests: completed,
        num_non_errored_requests: completed - errors,
        error_rate: rate(errors),
        mismatch_rate: rate(mismatched),
    }
}

/// The summary object in the original's key order: version, name, the counts and rates, model,
/// num_concurrent_requests, additional_sampling_params_*, llm_api, user metadata, timestamp; then extras.
pub fn correctness_summary_object(
    info: &RunDescription,
    stats: &CorrectnessStats,
    timestamp: u64,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("version".into(), RESULTS_VERSION.into());
    m.insert("name".into(), format!("{}_summary", info.base_name).into());
    m.insert("number_errors".into(), stats.number_errors.into());
    m.insert(
        "num_mismatched_requests".into(),
        stats.num_mismatched_requests.into(),
    );
    m.insert("error_rate".into(), stats.error_rate.into());
    m.insert("mismatch_rate".into(), stats.mismatch_rate.into());
    m.insert(
        "num_completed_requests".into(),
        stats.num_completed_requests.into(),
    );
    m.insert(
        "num_non_errored_requests".into(),
        stats.num_non_errored_requests.into(),
    );
    m.insert("model".into(), info.params.model.clone().into());
    m.insert(
        "num_concurrent_requests".into(),
        info.params.num_concurrent_requests.into(),
    );
    insert_flat(
        &mut m,
        "additional_sampling_params".into(),
        &Value::Object(info.params.additional_sampling_params.clone()),
    );
    m.insert("llm_api".into(), info.params.llm_api.clone().into());
    for (k, v) in &info.params.metadata {
        insert_flat(&mut m, k.clone(), v);
    }
    m.insert("timestamp".into(), timestamp.into());
    m.insert("seed".into(), info.params.seed.into());
    let non_errored = stats.num_non_errored_requests;
    m.insert(
        "mismatch_rate_of_non_errored".into(),
        if non_errored > 0 {
            Value::from(stats.num_mismatched_requests as f64 / non_errored as f64)
        } else {
            Value::Null
        },
    );
    m
}

/// Longest answer text shown in the mismatch list.
const SHOWN_CHARS: usize = 80;
/// Most mismatches listed.
const SHOWN_MISMATCHES: usize = 20;

/// The original's printed summary, then the mismatches (expected vs got) and the errors, truncated.
pub fn correctness_text(
    info: &RunDescription,
    stats: &CorrectnessStats,
    records: &[CorrectnessRecord],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Results for llm correctness test for {} queried with the {} api.",
        info.params.model, info.params.llm_api
    );
    let _ = writeln!(
        out,
        "Errors: {}, Error rate: {:?}",
        stats.number_errors, stats.error_rate
    );
    let _ = writeln!(
        out,
        "Mismatched: {}, Mismatch rate: {:?}",
        stats.num_mismatched_requests, stats.mismatch_rate
    );
    let _ = writeln!(out, "Completed: {}", stats.num_completed_requests);
    let _ = writeln!(
        out,
        "Completed without errors: {}",
        stats.num_non_errored_requests
    );
    let list = |out: &mut String, outcome: Outcome, title: &str| {
        let items: Vec<&CorrectnessRecord> =
            records.iter().filter(|r| r.outcome == outcome).collect();
        if items.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title}:");
        for r in items.iter().take(SHOWN_MISMATCHES) {
            let expected = r.expected().map_or("?".into(), |n| n.to_string());
            let line = match outcome {
                Outcome::Error => format!(
                    "{} {}",
                    r.metrics
                        .error_code
                        .as_ref()
                        .map_or(Value::Null, Clone::clone),
                    r.metrics.error_msg
                ),
                _ => r.generated_text.replace('\n', " "),
            };
            let mut shown: String = line.chars().take(SHOWN_CHARS).collect();
            if line.chars().count() > SHOWN_CHARS {
                shown.push('…');
            }
            let _ = writeln!(out, "    expected {expected}, got: {shown}");
        }
        if items.len() > SHOWN_MISMATCHES {
            let _ = writeln!(out, "    … and {} more", items.len() - SHOWN_MISMATCHES);
        }
    };
    list(&mut out, Outcome::Mismatch, "Mismatched requests");
    list(&mut out, Outcome::Error, "Errored requests");
    out
}

/// Writes `B_summary.json` and `B_individual_responses.json` atomically; returns their paths.
pub fn write_correctness_files(
    dir: &Path,
    base_name: &str,
    summary: &Map<String, Value>,
    records: &[CorrectnessRecord],
) -> std::io::Result<Vec<PathBuf>> {
    let summary_path = dir.join(format!("{base_name}_summary.json"));
    let individual_path = dir.join(format!("{base_name}_individual_responses.json"));
    super::write_atomically(&individual_path, &to_json_indent4(&records))?;
    super::write_atomically(&summary_path, &to_json_indent4(summary))?;
    Ok(vec![summary_path, individual_path])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Measured, StartTimes, compute_metrics};

    fn record(text: &str, n: u64, error: bool) -> CorrectnessRecord {
        let measured = Measured {
            timings: Default::default(),
            usage: Default::default(),
            error: error.then(|| (Value::from(500), "boom".to_string())),
            error_kind: None,
        };
        let metrics = compute_metrics(&measured, 3, 0, 20, StartTimes::unscheduled(0.0));
        let mut metadata = Map::new();
        metadata.insert("rnd_number".into(), n.into());
        let request_config = RequestConfig {
            model: "m".into(),
            prompt: ("q".into(), 0),
            sampling_params: Map::new(),
            llm_api: "openai".into(),
            metadata,
            messages: None,
        };
        let outcome = score(&metrics, text, Some(n));
        CorrectnessRecord {
            metrics,
            generated_text: text.into(),
            request_config,
            outcome,
        }
    }

    fn info() -> RunDescription {
        RunDescription {
            test: crate::report::description::TestKind::Correctness,
            base_name: "m_correctness".into(),
            params: crate::report::description::RunParams {
                model: "m".into(),
                llm_api: "openai".into(),
                num_concurrent_requests: 2,
                seed: 1,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn scoring_and_rates() {
        let records = vec![
            record("1,234", 1234, false),
            record("The answer is 77", 77, false),
            record("1 234", 1234, false),
            record("", 5, true),
        ];
        let outcomes: Vec<Outcome> = records.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Match,
                Outcome::Match,
                Outcome::Mismatch,
                Outcome::Error
            ]
        );
        let s = correctness_stats(&records);
        assert_eq!((s.number_errors, s.num_mismatched_requests), (1, 1));
        assert_eq!(
            (s.num_completed_requests, s.num_non_errored_requests),
            (4, 3)
        );
        assert_eq!((s.error_rate, s.mismatch_rate), (0.25, 0.25));
        let text = correctness_text(&info(), &s, &records);
        assert!(
            text.contains("Mismatched: 1, Mismatch rate: 0.25"),
            "{text}"
        );
        assert!(text.contains("expected 1234, got: 1 234"), "{text}");
        assert!(text.contains("expected 5, got: 500 boom"), "{text}");
    }

    #[test]
    fn summary_keys_in_the_original_order_and_empty_runs_do_not_crash() {
        let s = correctness_stats(&[]);
        let mut i = info();
        i.params
            .additional_sampling_params
            .insert("temperature".into(), Value::from(0.0));
        i.params.metadata.insert("team".into(), "x".into());
        let m = correctness_summary_object(&i, &s, 5);
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            keys[..13],
            [
                "version",
                "name",
                "number_errors",
                "num_mismatched_requests",
                "error_rate",
                "mismatch_rate",
                "num_completed_requests",
                "num_non_errored_requests",
                "model",
                "num_concurrent_requests",
                "additional_sampling_params_temperature",
                "llm_api",
                "team"
            ]
        );
        assert_eq!(keys[13], "timestamp");
        assert_eq!(m["error_rate"], 0.0);
        assert_eq!(m["mismatch_rate_of_non_errored"], Value::Null);
    }
}
