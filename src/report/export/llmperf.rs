//! LLMPerf's load-test files (spec §6.5), `B_summary.json` and `B_individual_responses.json`, from the typed
//! statistics, with valid JSON: `null` where the original wrote `NaN`, numbers where it wrote strings.
//! [`summary_object`] is the one place the summary's keys are written; [`SummaryFacts`] the one place a
//! summary is read back (by `report DIR`, for what no other file keeps).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{
    Exported, Exporter, io_error, to_json_indent4, write_atomically, write_atomically_with,
};
use crate::Error;
use crate::metrics::{QUANTILES, SeriesStats, Slo};
use crate::report::description::{RunDescription, RunParams};
use crate::report::result::{Interruption, RunReport};
use crate::report::stats::{LoadStats, Metric, Stats};

/// `version` written into every summary, as the original's RESULTS_VERSION.
pub const RESULTS_VERSION: &str = "2023-08-31";

fn number(x: Option<f64>, integer: bool) -> Value {
    match x {
        Some(v) if integer && v.fract() == 0.0 && v >= 0.0 => Value::from(v as u64),
        Some(v) => Value::from(v), // non-finite values become null
        None => Value::Null,
    }
}

/// Inserts `value` under `key`, flattening nested objects with `_` as the original's `flatten_dict` does (an
/// empty object disappears; lists stay as they are). An existing key keeps its position and takes the value.
pub(crate) fn insert_flat(map: &mut Map<String, Value>, key: String, value: &Value) {
    match value {
        Value::Object(inner) => {
            for (k, v) in inner {
                insert_flat(map, format!("{key}_{k}"), v);
            }
        }
        v => {
            map.insert(key, v.clone());
        }
    }
}

fn insert_series(map: &mut Map<String, Value>, name: &str, s: &SeriesStats, int: bool, p999: bool) {
    for ((label, _), (_, v)) in QUANTILES.iter().zip(&s.quantiles) {
        map.insert(
            format!("results_{name}_quantiles_{label}"),
            number(*v, false),
        );
    }
    if p999 {
        map.insert(
            format!("results_{name}_quantiles_p999"),
            number(s.p999, false),
        );
    }
    map.insert(format!("results_{name}_mean"), number(s.mean, false));
    map.insert(format!("results_{name}_min"), number(s.min, int));
    map.insert(format!("results_{name}_max"), number(s.max, int));
    map.insert(format!("results_{name}_stddev"), number(s.stddev, false));
}

/// Builds the `_summary.json` object in the original's key order, then our extra keys; `interrupted` says
/// whether (and how) a signal cut the run short.
pub fn summary_object(
    info: &RunDescription,
    stats: &Stats,
    timestamp: u64,
    interrupted: Option<&Interruption>,
) -> Map<String, Value> {
    let p = &info.params;
    let mut m = Map::new();
    m.insert("version".into(), RESULTS_VERSION.into());
    m.insert("name".into(), format!("{}_summary", info.base_name).into());
    m.insert("model".into(), p.model.clone().into());
    // A dataset run records its dataset instead of the length settings it did not use.
    match &p.dataset {
        None => {
            m.insert("mean_input_tokens".into(), p.mean_input_tokens.into());
            m.insert("stddev_input_tokens".into(), p.stddev_input_tokens.into());
        }
        Some(dataset) => {
            m.insert("dataset".into(), dataset.clone().into());
        }
    }
    if !p.dataset_max_tokens {
        m.insert("mean_output_tokens".into(), p.mean_output_tokens.into());
        m.insert("stddev_output_tokens".into(), p.stddev_output_tokens.into());
    }
    m.insert(
        "num_concurrent_requests".into(),
        p.num_concurrent_requests.into(),
    );
    insert_flat(
        &mut m,
        "additional_sampling_params".into(),
        &Value::Object(p.additional_sampling_params.clone()),
    );
    let (original, extra) = stats.series.split_at(Metric::ORIGINAL);
    for (metric, s) in original {
        insert_series(&mut m, metric.name(), s, metric.is_integer(), false);
    }
    m.insert(
        "results_num_requests_started".into(),
        stats.num_requests_started.into(),
    );
    m.insert("results_error_rate".into(), stats.error_rate.into());
    m.insert("results_number_errors".into(), stats.number_errors.into());
    m.insert(
        "results_error_code_frequency".into(),
        stats.error_code_frequency().into(),
    );
    m.insert(
        "results_mean_output_throughput_token_per_s".into(),
        stats.mean_output_throughput_token_per_s.into(),
    );
    m.insert(
        "results_num_completed_requests".into(),
        stats.num_completed_requests.into(),
    );
    m.insert(
        "results_num_completed_requests_per_min".into(),
        stats.num_completed_requests_per_min.into(),
    );
    for (k, v) in &p.metadata {
        insert_flat(&mut m, k.clone(), v);
    }
    m.insert("timestamp".into(), timestamp.into());
    // ---- extras ----
    m.insert("llm_api".into(), p.llm_api.clone().into());
    m.insert("timeout".into(), p.timeout_s.into());
    m.insert(
        "max_num_completed_requests".into(),
        p.max_num_completed_requests.into(),
    );
    m.insert("seed".into(), p.seed.into());
    m.insert("results_elapsed_s".into(), stats.elapsed_s.into());
    let counts: Map<String, Value> = stats
        .error_codes
        .iter()
        .map(|(code, n)| {
            let key = match code {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key, Value::from(*n))
        })
        .collect();
    m.insert("results_error_code_counts".into(), Value::Object(counts));
    let kinds: Map<String, Value> = stats
        .error_kinds
        .iter()
        .map(|(k, n)| (k.clone(), Value::from(*n)))
        .collect();
    m.insert("results_error_kind_counts".into(), Value::Object(kinds));
    m.insert(
        "results_number_cancelled".into(),
        stats.number_cancelled.into(),
    );
    for (metric, s) in original {
        m.insert(
            format!("results_{}_quantiles_p999", metric.name()),
            number(s.p999, false),
        );
    }
    for (metric, s) in extra {
        insert_series(&mut m, metric.name(), s, metric.is_integer(), true);
    }
    insert_load(&mut m, &stats.load);
    insert_interruption(&mut m, interrupted);
    if !stats.ttft_by_turn.is_empty() {
        let by_turn: Map<String, Value> = stats
            .ttft_by_turn
            .iter()
            .map(|t| {
                let s = &t.ttft;
                let v = json!({"mean": s.mean, "p50": s.p50(), "p90": s.p90(), "p99": s.p99(), "count": t.count});
                (t.turn.to_string(), v)
            })
            .collect();
        m.insert("results_ttft_s_by_turn".into(), Value::Object(by_turn));
    }
    m
}

/// Our keys saying whether the run ran its course: `complete`, and `interrupted` (the signal and when, or
/// `null`), as in the run file.
fn insert_interruption(m: &mut Map<String, Value>, interrupted: Option<&Interruption>) {
    m.insert("complete".into(), interrupted.is_none().into());
    m.insert(
        "interrupted".into(),
        interrupted
            .and_then(|i| serde_json::to_value(i).ok())
            .unwrap_or(Value::Null),
    );
}

fn insert_load(m: &mut Map<String, Value>, l: &LoadStats) {
    let opt = |v: Option<f64>| v.map_or(Value::Null, Value::from);
    m.insert(
        "results_target_request_rate".into(),
        opt(l.target_request_rate),
    );
    m.insert(
        "results_achieved_request_rate".into(),
        opt(l.achieved_request_rate),
    );
    m.insert(
        "results_request_throughput_per_s".into(),
        l.request_throughput_per_s.into(),
    );
    m.insert(
        "results_input_token_throughput_token_per_s".into(),
        l.input_token_throughput_token_per_s.into(),
    );
    m.insert(
        "results_output_token_throughput_token_per_s".into(),
        l.output_token_throughput_token_per_s.into(),
    );
    m.insert(
        "results_token_counts_source".into(),
        l.token_counts_source().into(),
    );
    m.insert(
        "results_num_new_connections".into(),
        l.new_connections.into(),
    );
    m.insert(
        "results_num_late_dispatches".into(),
        l.late_dispatches.into(),
    );
    m.insert(
        "results_max_dispatch_delay_s".into(),
        l.max_dispatch_delay_s.into(),
    );
    m.insert("results_num_queued_requests".into(), l.queued.into());
    m.insert(
        "results_num_warmup_requests".into(),
        l.warmup_requests.into(),
    );
    m.insert(
        "results_slo".into(),
        l.slo.clone().map_or(Value::Null, Value::from),
    );
    m.insert("results_goodput_fraction".into(), opt(l.goodput_fraction));
    m.insert(
        "results_goodput_request_rate".into(),
        opt(l.goodput_request_rate),
    );
    m.insert(
        "results_server_output_tokens".into(),
        l.server_output_tokens.map_or(Value::Null, Value::from),
    );
    m.insert(
        "results_output_tokens_vs_server_ratio".into(),
        opt(l.output_tokens_vs_server_ratio),
    );
    if let Some(gaps) = &l.inter_chunk_gap_s {
        insert_series(m, "inter_chunk_gap_s", gaps, false, true);
    }
}

/// What a `_summary.json` tells `report DIR` about its run beyond the records: the settings (for a run that
/// left no run file), the targets and the launcher's queued count (which no other file keeps), and the
/// measured window. The one place a summary is read back by key; each key is one [`summary_object`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryFacts {
    /// The settings (`unknown` / 0 where the summary lacks them).
    pub params: RunParams,
    /// `results_target_request_rate`.
    pub target_request_rate: Option<f64>,
    /// `results_slo`.
    pub slo: Slo,
    /// `results_num_queued_requests`.
    pub queued: u64,
    /// `results_elapsed_s`: the measured window.
    pub elapsed_s: Option<f64>,
}

impl SummaryFacts {
    /// Reads them from a summary object; `None` (no summary) gives the defaults.
    pub fn read(summary: Option<&Map<String, Value>>) -> SummaryFacts {
        let get = |k: &str| summary.and_then(|m| m.get(k));
        let text = |k: &str| {
            get(k)
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string()
        };
        let int = |k: &str| get(k).and_then(Value::as_u64).unwrap_or(0);
        let float = |k: &str| get(k).and_then(Value::as_f64);
        SummaryFacts {
            params: RunParams {
                model: text("model"),
                llm_api: text("llm_api"),
                mean_input_tokens: int("mean_input_tokens"),
                stddev_input_tokens: int("stddev_input_tokens"),
                mean_output_tokens: int("mean_output_tokens"),
                stddev_output_tokens: int("stddev_output_tokens"),
                num_concurrent_requests: int("num_concurrent_requests"),
                max_num_completed_requests: int("max_num_completed_requests"),
                additional_sampling_params: Map::new(),
                metadata: Map::new(),
                timeout_s: float("timeout").unwrap_or(0.0),
                seed: int("seed"),
                dataset: get("dataset").and_then(Value::as_str).map(String::from),
                dataset_max_tokens: get("dataset").is_some() && get("mean_output_tokens").is_none(),
            },
            target_request_rate: float("results_target_request_rate"),
            slo: get("results_slo")
                .and_then(Value::as_str)
                .and_then(|s| Slo::parse(s).ok())
                .unwrap_or_default(),
            queued: int("results_num_queued_requests"),
            elapsed_s: float("results_elapsed_s"),
        }
    }
}

/// Writes `B_summary.json` and `B_individual_responses.json` into `dir`, atomically. Returns their paths. The
/// records are serialized straight to the file (a run of a million requests does not build its JSON in
/// memory).
pub fn write_final_files(
    dir: &Path,
    base_name: &str,
    summary: &Map<String, Value>,
    records: impl IntoIterator<Item = impl Serialize>,
) -> std::io::Result<Vec<PathBuf>> {
    let summary_path = dir.join(format!("{base_name}_summary.json"));
    let individual_path = dir.join(format!("{base_name}_individual_responses.json"));
    write_atomically_with(&individual_path, |w| {
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(w, fmt);
        serde::Serializer::collect_seq(&mut ser, records).map_err(std::io::Error::other)
    })?;
    write_atomically(&summary_path, &to_json_indent4(summary))?;
    Ok(vec![summary_path, individual_path])
}

/// The exporter of `B_summary.json` and `B_individual_responses.json` (the measured records) into a
/// directory.
#[derive(Debug, Clone)]
pub struct LlmperfFiles {
    dir: PathBuf,
    /// List warm-up records too (merge has always listed every record its logs hold).
    with_warmup: bool,
    /// What the error of a failed write says is being written.
    what: &'static str,
}

impl LlmperfFiles {
    /// A run's files, into `dir`.
    pub fn new(dir: &Path) -> LlmperfFiles {
        LlmperfFiles {
            dir: dir.to_path_buf(),
            with_warmup: false,
            what: "writing results into",
        }
    }

    /// Merged shards' files, into `dir`.
    pub fn merged(dir: &Path) -> LlmperfFiles {
        LlmperfFiles {
            with_warmup: true,
            what: "writing merged results into",
            ..LlmperfFiles::new(dir)
        }
    }
}

impl Exporter for LlmperfFiles {
    fn run(&mut self, report: &RunReport, out: &mut Exported) -> Result<(), Error> {
        let mut summary = summary_object(
            &report.description,
            &report.stats,
            report.timestamp,
            report.window.interrupted.as_ref(),
        );
        if let Some(server) = &report.server {
            // `--server-metrics`: its keys after all others (server_metrics/summary.rs).
            summary.extend(crate::server_metrics::summary::summary_keys(
                server,
                &report.records,
            ));
        }
        let records = report
            .records
            .iter()
            .filter(|r| self.with_warmup || !r.metrics.warmup)
            .map(crate::report::store::metrics_of);
        let files = write_final_files(&self.dir, &report.description.base_name, &summary, records)
            .map_err(io_error(format!("{} {}", self.what, self.dir.display())))?;
        out.files.extend(files);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::report::stats::LoadOptions;
    use crate::report::stats::testing::record;
    use crate::report::stats::{summarize, summarize_with};

    fn info() -> RunDescription {
        let mut params = Map::new();
        params.insert("temperature".into(), Value::from(0.5));
        params.insert(
            "response_format".into(),
            serde_json::json!({"type": "json_object"}),
        );
        let mut metadata = Map::new();
        metadata.insert("team".into(), "infra".into());
        metadata.insert("model".into(), "renamed".into());
        RunDescription::load_test(
            "m_550_150",
            RunParams {
                model: "m".into(),
                llm_api: "openai".into(),
                mean_input_tokens: 550,
                stddev_input_tokens: 150,
                mean_output_tokens: 150,
                stddev_output_tokens: 80,
                num_concurrent_requests: 2,
                additional_sampling_params: params,
                metadata,
                timeout_s: 90.0,
                max_num_completed_requests: 10,
                seed: 11111,
                ..RunParams::default()
            },
        )
    }

    #[test]
    fn goodput_and_rates_against_hand_computed_values() {
        // ttft 0.1/0.2/0.3/0.4 s, e2e 1/2/3/4 s, 11 tokens each, one more that errored.
        let mut recs: Vec<Metrics> = (1..=4)
            .map(|i| record(0.1 * i as f64, i as f64, 12, None))
            .collect();
        recs.push(record(0.1, 0.5, 1, Some(500)));
        for (i, r) in recs.iter_mut().enumerate() {
            r.actual_start_s = i as f64 * 0.5; // 5 requests over 2 s: 2 req/s
        }
        let slo = Slo {
            ttft_s: Some(0.25),
            tpot_s: None,
            e2e_s: Some(2.5),
        };
        let opts = LoadOptions {
            target_request_rate: Some(2.0),
            slo,
            queued: 3,
            custom_tokenizer: false,
        };
        let s = summarize_with(&recs, 10.0, &opts);
        // Good: requests 1 and 2 (ttft ≤ 0.25 and e2e ≤ 2.5); 3 and 4 miss, the errored one never counts.
        assert_eq!(s.load.goodput_fraction, Some(2.0 / 5.0));
        assert_eq!(s.load.goodput_request_rate, Some(0.2));
        assert_eq!(s.load.achieved_request_rate, Some(2.0));
        assert_eq!(s.load.request_throughput_per_s, 0.4);
        assert_eq!(s.load.queued, 3);
        let tpot_only = LoadOptions {
            slo: Slo {
                tpot_s: Some(0.1),
                ..Slo::default()
            },
            ..opts
        };
        // tpot = (e2e − ttft) / 10: 0.09, 0.18, 0.27, 0.36 → only the first is good.
        assert_eq!(
            summarize_with(&recs, 10.0, &tpot_only)
                .load
                .goodput_fraction,
            Some(0.2)
        );
        let m = summary_object(&info(), &s, 0, None);
        assert_eq!(m["results_goodput_fraction"], 0.4);
        assert_eq!(m["results_target_request_rate"], 2.0);
        assert_eq!(m["results_num_queued_requests"], 3);
    }

    #[test]
    fn summary_keys_in_the_original_order() {
        let recs = vec![record(0.1, 1.0, 11, None), record(0.2, 2.0, 21, None)];
        let m = summary_object(&info(), &summarize(&recs, 4.0), 1_700_000_000, None);
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        let mut want = vec![
            "version",
            "name",
            "model",
            "mean_input_tokens",
            "stddev_input_tokens",
            "mean_output_tokens",
            "stddev_output_tokens",
            "num_concurrent_requests",
            "additional_sampling_params_temperature",
            "additional_sampling_params_response_format_type",
        ];
        let owned: Vec<String> = Metric::ALL[..Metric::ORIGINAL]
            .iter()
            .map(|m| m.name())
            .flat_map(|n| {
                let mut v: Vec<String> = QUANTILES
                    .iter()
                    .map(|(q, _)| format!("results_{n}_quantiles_{q}"))
                    .collect();
                for s in ["mean", "min", "max", "stddev"] {
                    v.push(format!("results_{n}_{s}"));
                }
                v
            })
            .collect();
        want.extend(owned.iter().map(String::as_str));
        want.extend([
            "results_num_requests_started",
            "results_error_rate",
            "results_number_errors",
            "results_error_code_frequency",
            "results_mean_output_throughput_token_per_s",
            "results_num_completed_requests",
            "results_num_completed_requests_per_min",
            "team",
            "timestamp",
        ]);
        assert_eq!(&keys[..want.len()], &want[..]);
        assert_eq!(
            m["model"], "renamed",
            "metadata overrides in place, as dict.update does"
        );
        assert_eq!(
            m["results_number_output_tokens_min"], 11,
            "a number, not a string"
        );
        let sd = m["results_ttft_s_stddev"].as_f64().unwrap();
        assert!((sd - 0.07071067811865475).abs() < 1e-12, "{sd}");
        assert_eq!(m["version"], RESULTS_VERSION);
        assert_eq!(m["name"], "m_550_150_summary");
    }

    #[test]
    fn empty_params_disappear_and_single_sample_stddev_is_null() {
        let mut i = info();
        i.params.additional_sampling_params.clear();
        let m = summary_object(&i, &summarize(&[record(0.1, 1.0, 11, None)], 1.0), 0, None);
        assert!(
            !m.keys()
                .any(|k| k.starts_with("additional_sampling_params"))
        );
        assert_eq!(m["results_ttft_s_stddev"], Value::Null);
        let none = summary_object(&i, &summarize(&[], 1.0), 0, None);
        assert_eq!(none["results_ttft_s_mean"], Value::Null);
        assert_eq!(none["results_error_code_frequency"], "{}");
        assert_eq!(none["results_error_rate"], 0.0);
    }

    #[test]
    fn files_are_indented_valid_json() {
        let dir = tempfile::tempdir().unwrap();
        let recs = vec![record(0.1, 1.0, 11, None)];
        let m = summary_object(&info(), &summarize(&recs, 1.0), 0, None);
        let files = write_final_files(dir.path(), "m_550_150", &m, &recs).unwrap();
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.starts_with("{\n    \"version\": \"2023-08-31\""));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["results_ttft_s_stddev"], Value::Null);
        let arr: Value = serde_json::from_slice(&std::fs::read(&files[1]).unwrap()).unwrap();
        assert_eq!(arr.as_array().unwrap().len(), 1);
    }
}
