//! The correctness test's outputs (spec §7): the original's printed block with the mismatches and errors
//! ([`CorrectnessText`]), and for `B` = sanitize(`{model}_correctness`) `B_summary.json` with the original's
//! keys and `B_individual_responses.json`, the list of `{metrics, generated_text, request_config}` (plus
//! `outcome`) ([`CorrectnessFiles`]).

use std::borrow::Cow;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::llmperf::{RESULTS_VERSION, insert_flat};
use super::{
    Exported, Exporter, io_error, to_json_indent4, write_atomically, write_atomically_with,
};
use crate::Error;
use crate::report::correctness::{CorrectnessStats, expected};
use crate::report::description::RunDescription;
use crate::report::records::{Outcome, RunRecord};
use crate::report::result::RunReport;
use crate::report::store::RecordStore;

/// The summary object in the original's key order: version, name, the counts and rates, model,
/// num_concurrent_requests, additional_sampling_params_*, llm_api, user metadata, timestamp; then extras.
pub fn correctness_summary_object(
    info: &RunDescription,
    stats: &CorrectnessStats,
    timestamp: u64,
) -> Map<String, Value> {
    let p = &info.params;
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
    m.insert("model".into(), p.model.clone().into());
    m.insert(
        "num_concurrent_requests".into(),
        p.num_concurrent_requests.into(),
    );
    insert_flat(
        &mut m,
        "additional_sampling_params".into(),
        &Value::Object(p.additional_sampling_params.clone()),
    );
    m.insert("llm_api".into(), p.llm_api.clone().into());
    for (k, v) in &p.metadata {
        insert_flat(&mut m, k.clone(), v);
    }
    m.insert("timestamp".into(), timestamp.into());
    m.insert("seed".into(), p.seed.into());
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

/// The records of `records` that have a scored answer.
fn answered(records: &RecordStore) -> impl Iterator<Item = Cow<'_, RunRecord>> {
    records.iter().filter(|r| r.answer.is_some())
}

/// The original's printed summary, then the mismatches (expected vs got) and the errors, truncated.
pub fn correctness_text(
    info: &RunDescription,
    stats: &CorrectnessStats,
    records: &RecordStore,
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
    out.push_str(&answer_lists(records));
    out
}

/// The mismatched and errored answers (expected vs got), at most 20 of each, truncated.
pub fn answer_lists(records: &RecordStore) -> String {
    let mut out = String::new();
    let list = |out: &mut String, outcome: Outcome, title: &str| {
        let mut items =
            answered(records).filter(|r| r.answer.as_ref().map(|a| a.outcome) == Some(outcome));
        let shown: Vec<Cow<'_, RunRecord>> = items.by_ref().take(SHOWN_MISMATCHES).collect();
        let more = items.count();
        if shown.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title}:");
        for r in &shown {
            let Some(a) = r.answer.as_deref() else {
                continue;
            };
            let metrics = &r.metrics;
            let expected = expected(&a.request_config).map_or("?".into(), |n| n.to_string());
            let line = match outcome {
                Outcome::Error => format!(
                    "{} {}",
                    metrics
                        .error_code
                        .as_ref()
                        .map_or(Value::Null, Clone::clone),
                    metrics.error_msg
                ),
                _ => a.generated_text.replace('\n', " "),
            };
            let mut shown: String = line.chars().take(SHOWN_CHARS).collect();
            if line.chars().count() > SHOWN_CHARS {
                shown.push('…');
            }
            let _ = writeln!(out, "    expected {expected}, got: {shown}");
        }
        if more > 0 {
            let _ = writeln!(out, "    … and {more} more");
        }
    };
    list(&mut out, Outcome::Mismatch, "Mismatched requests");
    list(&mut out, Outcome::Error, "Errored requests");
    out
}

/// One element of `B_individual_responses.json`: a record with its scored answer.
struct ScoredLine<'a>(Cow<'a, RunRecord>);

impl Serialize for ScoredLine<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let Some(a) = self.0.answer.as_deref() else {
            return s.serialize_none();
        };
        let mut line = s.serialize_struct("ScoredLine", 4)?;
        line.serialize_field("metrics", &self.0.metrics)?;
        line.serialize_field("generated_text", &a.generated_text)?;
        line.serialize_field("request_config", &a.request_config)?;
        line.serialize_field("outcome", &a.outcome)?;
        line.end()
    }
}

/// Writes `B_summary.json` and `B_individual_responses.json` atomically; returns their paths.
pub fn write_correctness_files(
    dir: &Path,
    base_name: &str,
    summary: &Map<String, Value>,
    records: &RecordStore,
) -> std::io::Result<Vec<PathBuf>> {
    let summary_path = dir.join(format!("{base_name}_summary.json"));
    let individual_path = dir.join(format!("{base_name}_individual_responses.json"));
    write_atomically_with(&individual_path, |w| {
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(w, fmt);
        serde::Serializer::collect_seq(&mut ser, answered(records).map(ScoredLine))
            .map_err(std::io::Error::other)
    })?;
    write_atomically(&summary_path, &to_json_indent4(summary))?;
    Ok(vec![summary_path, individual_path])
}

/// A correctness run's counts (all zero for a run that is not one).
fn scores(report: &RunReport) -> CorrectnessStats {
    report
        .scores
        .unwrap_or_else(|| CorrectnessStats::of(&report.records))
}

/// The exporter of the correctness test's printed block.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorrectnessText;

impl Exporter for CorrectnessText {
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        let text = correctness_text(&report.description, &scores(report), &report.records);
        out.text.push_str(&text);
        Ok(())
    }
}

/// The exporter of the correctness test's two files into a directory.
#[derive(Debug, Clone)]
pub struct CorrectnessFiles {
    dir: PathBuf,
}

impl CorrectnessFiles {
    /// Into `dir`.
    pub fn new(dir: &Path) -> CorrectnessFiles {
        CorrectnessFiles {
            dir: dir.to_path_buf(),
        }
    }
}

impl Exporter for CorrectnessFiles {
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        let summary =
            correctness_summary_object(&report.description, &scores(report), report.timestamp);
        let files = write_correctness_files(
            &self.dir,
            &report.description.base_name,
            &summary,
            &report.records,
        )
        .map_err(io_error(format!(
            "writing results into {}",
            self.dir.display()
        )))?;
        out.files.extend(files);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::correctness::testing::scored;
    use crate::report::description::{RunParams, TestKind};

    fn info() -> RunDescription {
        RunDescription {
            test: TestKind::Correctness,
            base_name: "m_correctness".into(),
            params: RunParams {
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
    fn the_printed_block_lists_mismatches_and_errors() {
        let records = RecordStore::from(vec![
            scored("1,234", 1234, false),
            scored("1 234", 1234, false),
            scored("", 5, true),
        ]);
        let s = CorrectnessStats::of(&records);
        let text = correctness_text(&info(), &s, &records);
        assert!(
            text.contains("Mismatched: 1, Mismatch rate: 0.3333333333333333"),
            "{text}"
        );
        assert!(text.contains("expected 1234, got: 1 234"), "{text}");
        assert!(text.contains("expected 5, got: 500 boom"), "{text}");
    }

    #[test]
    fn summary_keys_in_the_original_order_and_empty_runs_do_not_crash() {
        let s = CorrectnessStats::of(&RecordStore::new());
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
