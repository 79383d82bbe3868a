//! LLMPerf's summary statistics and result files (spec §6.4, §6.5), with valid JSON: `null` where the
//! original wrote `NaN`, numbers where it wrote strings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::metrics::{Metrics, QUANTILES, SeriesStats, Slo};

/// `version` written into every summary, as the original's RESULTS_VERSION.
pub const RESULTS_VERSION: &str = "2023-08-31";

/// The settings of one run, as they appear in its summary.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// The model queried.
    pub model: String,
    /// The API used.
    pub llm_api: String,
    /// Mean target prompt length.
    pub mean_input_tokens: u64,
    /// Its standard deviation.
    pub stddev_input_tokens: u64,
    /// Mean `max_tokens`.
    pub mean_output_tokens: u64,
    /// Its standard deviation.
    pub stddev_output_tokens: u64,
    /// Requests in flight at once.
    pub num_concurrent_requests: u64,
    /// Extra body parameters (flattened into the summary).
    pub additional_sampling_params: Map<String, Value>,
    /// User metadata copied into the summary.
    pub metadata: Map<String, Value>,
    /// Seconds after which no request was launched.
    pub timeout_s: f64,
    /// Requests to send in all.
    pub max_num_completed_requests: u64,
    /// Seed of the prompt draws.
    pub seed: u64,
    /// The sanitized base name of the result files.
    pub base_name: String,
    /// Where files go; `None` writes nothing (the original's `--results-dir ""`).
    pub results_dir: Option<PathBuf>,
    /// Target rate and goodput targets.
    pub load: LoadOptions,
    /// The first this-many requests are warm-up.
    pub warmup_requests: u64,
    /// Requests due in the first this-many seconds are warm-up.
    pub warmup_seconds: f64,
}

impl RunInfo {
    /// Whether request `index`, due at `scheduled_start_s`, is part of the warm-up.
    pub fn is_warmup(&self, index: usize, scheduled_start_s: f64) -> bool {
        (index as u64) < self.warmup_requests || scheduled_start_s < self.warmup_seconds
    }
}

/// The metrics summarized, in the original's order, and whether their values are integers.
const ORIGINAL_SERIES: [(&str, bool); 6] = [
    ("inter_token_latency_s", false),
    ("ttft_s", false),
    ("end_to_end_latency_s", false),
    ("request_output_throughput_token_per_s", false),
    ("number_input_tokens", true),
    ("number_output_tokens", true),
];

/// Extra series, written after the original keys.
const EXTRA_SERIES: [(&str, bool); 11] = [
    ("tpot_s", false),
    ("number_input_tokens_actual", true),
    ("prompt_tokens", true),
    ("generated_tokens", true),
    ("generation_throughput_token_per_s", false),
    ("connect_s", false),
    ("scheduled_ttft_s", false),
    ("scheduled_end_to_end_latency_s", false),
    ("dispatch_delay_s", false),
    ("ttft_any_s", false),
    ("number_reasoning_tokens", true),
];

fn series_value(m: &Metrics, name: &str) -> Option<f64> {
    Some(match name {
        "inter_token_latency_s" => m.inter_token_latency_s,
        "ttft_s" => m.ttft_s,
        "end_to_end_latency_s" => m.end_to_end_latency_s,
        "request_output_throughput_token_per_s" => m.request_output_throughput_token_per_s,
        "number_input_tokens" => m.number_input_tokens as f64,
        "number_output_tokens" => m.number_output_tokens as f64,
        "number_input_tokens_actual" => m.number_input_tokens_actual as f64,
        "tpot_s" => return m.tpot_s,
        "scheduled_ttft_s" => return m.scheduled_ttft_s,
        "scheduled_end_to_end_latency_s" => return m.scheduled_end_to_end_latency_s,
        "dispatch_delay_s" => m.dispatch_delay_s,
        "ttft_any_s" => return m.ttft_any_s,
        "number_reasoning_tokens" => m.number_reasoning_tokens as f64,
        "prompt_tokens" => m.prompt_tokens as f64,
        "generated_tokens" => m.generated_tokens as f64,
        "generation_throughput_token_per_s" => m.generation_throughput_token_per_s,
        "connect_s" => return m.connect_s,
        _ => return None,
    })
}

/// Statistics of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// `(metric, stats, integer-valued)` for the original metrics then the extras.
    pub series: Vec<(&'static str, SeriesStats, bool)>,
    /// Recorded results, successful or not (the original's `num_requests_started`).
    pub num_requests_started: u64,
    /// Requests with a non-null error code.
    pub number_errors: u64,
    /// `number_errors / num_requests_started` (0 when nothing was recorded).
    pub error_rate: f64,
    /// Error code (as JSON) → count, most frequent first.
    pub error_codes: Vec<(Value, u64)>,
    /// Error kind (see [`crate::ErrorKind`]) → count, most frequent first (ties by name).
    pub error_kinds: Vec<(String, u64)>,
    /// Σ output tokens of successful requests / wall time (an aggregate, despite the name).
    pub mean_output_throughput_token_per_s: f64,
    /// Successful requests.
    pub num_completed_requests: u64,
    /// Successful requests per minute of wall time.
    pub num_completed_requests_per_min: f64,
    /// Wall time of the run, in seconds.
    pub elapsed_s: f64,
    /// Load-mode statistics (rates, dispatch, goodput, warm-up).
    pub load: LoadStats,
}

/// What a run targeted, for the statistics that compare against it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadOptions {
    /// Open loop: the target request rate.
    pub target_request_rate: Option<f64>,
    /// Goodput targets.
    pub slo: Slo,
    /// Requests that waited for a free slot (from the launcher).
    pub queued: usize,
    /// Output tokens are counted with a tokenizer the user chose (`--tokenizer`).
    pub custom_tokenizer: bool,
}

/// Statistics beside LLMPerf's: achieved rate, dispatch lag, throughputs, goodput, warm-up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadStats {
    /// The target rate, in an open loop.
    pub target_request_rate: Option<f64>,
    /// (requests − 1) / (last actual start − first actual start), over the measured requests.
    pub achieved_request_rate: Option<f64>,
    /// Successful requests per second of the measured window.
    pub request_throughput_per_s: f64,
    /// Σ `prompt_tokens` (the server's count when sent) of successful requests per second.
    pub input_token_throughput_token_per_s: f64,
    /// Σ `generated_tokens` (the server's count when sent) of successful requests per second.
    pub output_token_throughput_token_per_s: f64,
    /// Successful requests whose `generated_tokens` is the server's count, and all successful requests.
    pub server_counted: (u64, u64),
    /// Requests that opened a connection.
    pub new_connections: u64,
    /// Output tokens are counted with a tokenizer the user chose (`--tokenizer`).
    pub custom_tokenizer: bool,
    /// Requests that went out more than 1 ms after they were due.
    pub late_dispatches: u64,
    /// The largest dispatch delay, seconds.
    pub max_dispatch_delay_s: f64,
    /// Requests that waited for a free slot.
    pub queued: u64,
    /// Warm-up requests, left out of every statistic.
    pub warmup_requests: u64,
    /// The goodput targets, as text (`ttft=0.5s,…`); `None` without targets.
    pub slo: Option<String>,
    /// Good requests / measured requests (errored ones count as not good).
    pub goodput_fraction: Option<f64>,
    /// Good requests per second of the measured window.
    pub goodput_request_rate: Option<f64>,
    /// Σ `usage.completion_tokens` over successful requests that reported it.
    pub server_output_tokens: Option<u64>,
    /// Σ tokenizer output tokens (answer and reasoning, special tokens excluded) / Σ server output tokens, over
    /// the successful requests that have both.
    pub output_tokens_vs_server_ratio: Option<f64>,
    /// Gaps between content chunks, pooled across the successful measured requests (filled in by the
    /// collector, which sees the chunk timings).
    pub inter_chunk_gap_s: Option<SeriesStats>,
}

/// Computes the summary statistics over `records` for a run that lasted `elapsed_s` seconds.
pub fn summarize(records: &[Metrics], elapsed_s: f64) -> Stats {
    summarize_with(records, elapsed_s, &LoadOptions::default())
}

/// [`summarize`], with the run's targets. Warm-up records are left out of everything.
pub fn summarize_with(all: &[Metrics], elapsed_s: f64, opts: &LoadOptions) -> Stats {
    // References, not copies: at the end of a long run the records are most of the process's memory.
    let records: Vec<&Metrics> = all.iter().filter(|m| !m.warmup).collect();
    let records = &records[..];
    let ok: Vec<&Metrics> = records.iter().copied().filter(|m| m.is_ok()).collect();
    let series = ORIGINAL_SERIES
        .iter()
        .chain(EXTRA_SERIES.iter())
        .map(|&(name, int)| {
            let stats = SeriesStats::of(ok.iter().filter_map(|m| series_value(m, name)));
            (name, stats, int)
        })
        .collect();
    let mut counts: BTreeMap<String, (Value, u64)> = BTreeMap::new();
    for code in records.iter().filter_map(|m| m.error_code.as_ref()) {
        counts
            .entry(code.to_string())
            .or_insert((code.clone(), 0))
            .1 += 1;
    }
    let mut error_codes: Vec<(Value, u64)> = counts.into_values().collect();
    error_codes.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for m in records.iter().filter(|m| !m.is_ok()) {
        *kinds
            .entry(m.error_kind.as_deref().unwrap_or("unknown"))
            .or_insert(0) += 1;
    }
    let mut error_kinds: Vec<(String, u64)> =
        kinds.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    error_kinds.sort_by_key(|c| std::cmp::Reverse(c.1));
    let started = records.len() as u64;
    let errors = started - ok.len() as u64;
    let per_s = |x: f64| if elapsed_s > 0.0 { x / elapsed_s } else { 0.0 };
    let output_tokens: u64 = ok.iter().map(|m| m.number_output_tokens).sum();
    Stats {
        series,
        num_requests_started: started,
        number_errors: errors,
        error_rate: if started > 0 {
            errors as f64 / started as f64
        } else {
            0.0
        },
        error_codes,
        error_kinds,
        mean_output_throughput_token_per_s: per_s(output_tokens as f64),
        num_completed_requests: ok.len() as u64,
        num_completed_requests_per_min: per_s(ok.len() as f64) * 60.0,
        elapsed_s,
        load: load_stats(all, records, &ok, elapsed_s, opts),
    }
}

fn load_stats(
    all: &[Metrics],
    records: &[&Metrics],
    ok: &[&Metrics],
    elapsed_s: f64,
    opts: &LoadOptions,
) -> LoadStats {
    let per_s = |x: f64| if elapsed_s > 0.0 { x / elapsed_s } else { 0.0 };
    let starts = records.iter().map(|m| m.actual_start_s);
    let first = starts.clone().fold(f64::INFINITY, f64::min);
    let last = starts.fold(f64::NEG_INFINITY, f64::max);
    let achieved =
        (records.len() >= 2 && last > first).then(|| (records.len() - 1) as f64 / (last - first));
    let good = ok.iter().filter(|m| opts.slo.met(m)).count() as f64;
    let server_output: Vec<u64> = ok
        .iter()
        .filter_map(|m| m.server_completion_tokens)
        .collect();
    // Like with like: the tokenizer's count without its special tokens, reasoning included, against the
    // server's, over the requests that have both.
    let (counted, server) = ok
        .iter()
        .filter_map(|m| Some((m.tokenizer_generated_tokens?, m.server_completion_tokens?)))
        .fold((0u64, 0u64), |(a, b), (t, s)| (a + t, b + s));
    LoadStats {
        target_request_rate: opts.target_request_rate,
        achieved_request_rate: achieved,
        request_throughput_per_s: per_s(ok.len() as f64),
        input_token_throughput_token_per_s: per_s(
            ok.iter().map(|m| m.prompt_tokens).sum::<u64>() as f64
        ),
        output_token_throughput_token_per_s: per_s(
            ok.iter().map(|m| m.generated_tokens).sum::<u64>() as f64,
        ),
        custom_tokenizer: opts.custom_tokenizer,
        server_counted: (
            ok.iter()
                .filter(|m| m.token_counts_source == crate::metrics::OutputCount::SERVER)
                .count() as u64,
            ok.len() as u64,
        ),
        new_connections: records
            .iter()
            .filter(|m| m.new_connection == Some(true))
            .count() as u64,
        late_dispatches: records
            .iter()
            .filter(|m| m.dispatch_delay_s > 0.001)
            .count() as u64,
        max_dispatch_delay_s: records
            .iter()
            .map(|m| m.dispatch_delay_s)
            .fold(0.0, f64::max),
        queued: opts.queued as u64,
        warmup_requests: (all.len() - records.len()) as u64,
        slo: (!opts.slo.is_empty()).then(|| opts.slo.to_string()),
        goodput_fraction: (!opts.slo.is_empty() && !records.is_empty())
            .then(|| good / records.len() as f64),
        goodput_request_rate: (!opts.slo.is_empty()).then(|| per_s(good)),
        server_output_tokens: (!server_output.is_empty()).then(|| server_output.iter().sum()),
        output_tokens_vs_server_ratio: (server > 0).then(|| counted as f64 / server as f64),
        inter_chunk_gap_s: None,
    }
}

impl LoadStats {
    /// Where the standard token counts come from: `server`, `tokenizer`, or `mixed` (some of each).
    pub fn token_counts_source(&self) -> &'static str {
        match self.server_counted {
            (0, _) => "tokenizer",
            (s, n) if s == n => "server",
            _ => "mixed",
        }
    }
}

impl Stats {
    /// The error-code frequency in the original's style, a Python dict literal: `{500: 2, 'rate_limit': 1}`.
    pub fn error_code_frequency(&self) -> String {
        let items: Vec<String> = self
            .error_codes
            .iter()
            .map(|(code, n)| match code {
                Value::String(s) => format!("'{s}': {n}"),
                other => format!("{other}: {n}"),
            })
            .collect();
        format!("{{{}}}", items.join(", "))
    }
}

/// One finished run: its summary object (the content of `_summary.json`), the printed report, and the files
/// written.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The `_summary.json` object, keys in order.
    pub summary: Map<String, Value>,
    /// The human-readable report printed to stdout.
    pub text: String,
    /// Files written (none without a results directory).
    pub files: Vec<PathBuf>,
}

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

/// Builds the `_summary.json` object in the original's key order, then our extra keys.
pub fn summary_object(info: &RunInfo, stats: &Stats, timestamp: u64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("version".into(), RESULTS_VERSION.into());
    m.insert("name".into(), format!("{}_summary", info.base_name).into());
    m.insert("model".into(), info.model.clone().into());
    m.insert("mean_input_tokens".into(), info.mean_input_tokens.into());
    m.insert(
        "stddev_input_tokens".into(),
        info.stddev_input_tokens.into(),
    );
    m.insert("mean_output_tokens".into(), info.mean_output_tokens.into());
    m.insert(
        "stddev_output_tokens".into(),
        info.stddev_output_tokens.into(),
    );
    m.insert(
        "num_concurrent_requests".into(),
        info.num_concurrent_requests.into(),
    );
    insert_flat(
        &mut m,
        "additional_sampling_params".into(),
        &Value::Object(info.additional_sampling_params.clone()),
    );
    let (original, extra) = stats.series.split_at(ORIGINAL_SERIES.len());
    for (name, s, int) in original {
        insert_series(&mut m, name, s, *int, false);
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
    for (k, v) in &info.metadata {
        insert_flat(&mut m, k.clone(), v);
    }
    m.insert("timestamp".into(), timestamp.into());
    // ---- extras ----
    m.insert("llm_api".into(), info.llm_api.clone().into());
    m.insert("timeout".into(), info.timeout_s.into());
    m.insert(
        "max_num_completed_requests".into(),
        info.max_num_completed_requests.into(),
    );
    m.insert("seed".into(), info.seed.into());
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
    for (name, s, _) in original {
        m.insert(
            format!("results_{name}_quantiles_p999"),
            number(s.p999, false),
        );
    }
    for (name, s, int) in extra {
        insert_series(&mut m, name, s, *int, true);
    }
    insert_load(&mut m, &stats.load);
    m
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

/// JSON with 4-space indentation, like the original's `json.dump(..., indent=4)`.
pub fn to_json_indent4(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    value
        .serialize(&mut ser)
        .expect("serializing JSON values to memory cannot fail");
    out
}

/// Writes `B_summary.json` and `B_individual_responses.json` into `dir`, atomically. Returns their paths. The
/// records are serialized straight to the file (a run of a million requests does not build its JSON in
/// memory).
pub fn write_final_files<'a>(
    dir: &Path,
    base_name: &str,
    summary: &Map<String, Value>,
    records: impl IntoIterator<Item = &'a Metrics>,
) -> std::io::Result<Vec<PathBuf>> {
    let summary_path = dir.join(format!("{base_name}_summary.json"));
    let individual_path = dir.join(format!("{base_name}_individual_responses.json"));
    super::write_atomically_with(&individual_path, |w| {
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(w, fmt);
        serde::Serializer::collect_seq(&mut ser, records).map_err(std::io::Error::other)
    })?;
    super::write_atomically(&summary_path, &to_json_indent4(summary))?;
    Ok(vec![summary_path, individual_path])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Measured, StartTimes, StreamTimings, Usage, compute_metrics};

    fn record(ttft: f64, e2e: f64, tokens: u64, error: Option<i64>) -> Metrics {
        let m = Measured {
            timings: StreamTimings {
                first_content_s: Some(ttft),
                first_token_s: Some(ttft),
                last_content_s: Some(e2e),
                end_s: e2e,
                data_events: tokens,

                ..StreamTimings::default()
            },
            usage: Usage::default(),
            error: error.map(|c| (Value::from(c), "err".to_string())),
            error_kind: None,
        };
        compute_metrics(&m, tokens, 100, 95, StartTimes::unscheduled(0.0))
    }

    fn info() -> RunInfo {
        let mut params = Map::new();
        params.insert("temperature".into(), Value::from(0.5));
        params.insert(
            "response_format".into(),
            serde_json::json!({"type": "json_object"}),
        );
        let mut metadata = Map::new();
        metadata.insert("team".into(), "infra".into());
        metadata.insert("model".into(), "renamed".into());
        RunInfo {
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
            base_name: "m_550_150".into(),
            results_dir: None,
            load: LoadOptions::default(),
            warmup_requests: 0,
            warmup_seconds: 0.0,
        }
    }

    #[test]
    fn counts_errors_and_completed() {
        let recs = vec![
            record(0.1, 1.0, 11, None),
            record(0.2, 2.0, 21, None),
            record(0.3, 0.5, 1, Some(500)),
            record(0.3, 0.5, 1, Some(429)),
            record(0.3, 0.5, 1, Some(500)),
        ];
        let s = summarize(&recs, 10.0);
        assert_eq!(s.num_requests_started, 5);
        assert_eq!(s.number_errors, 3);
        assert_eq!(s.num_completed_requests, 2);
        assert!((s.error_rate - 0.6).abs() < 1e-12);
        assert_eq!(s.error_code_frequency(), "{500: 2, 429: 1}");
        assert!((s.mean_output_throughput_token_per_s - 3.2).abs() < 1e-12);
        assert!((s.num_completed_requests_per_min - 12.0).abs() < 1e-12);
        let ttft = &s.series[1];
        assert_eq!(ttft.0, "ttft_s");
        assert_eq!(
            ttft.1.max,
            Some(0.2),
            "errored requests are not in the stats"
        );
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
        let m = summary_object(&info(), &s, 0);
        assert_eq!(m["results_goodput_fraction"], 0.4);
        assert_eq!(m["results_target_request_rate"], 2.0);
        assert_eq!(m["results_num_queued_requests"], 3);
    }

    #[test]
    fn summary_keys_in_the_original_order() {
        let recs = vec![record(0.1, 1.0, 11, None), record(0.2, 2.0, 21, None)];
        let m = summary_object(&info(), &summarize(&recs, 4.0), 1_700_000_000);
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
        let owned: Vec<String> = ORIGINAL_SERIES
            .iter()
            .flat_map(|(n, _)| {
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
        i.additional_sampling_params.clear();
        let m = summary_object(&i, &summarize(&[record(0.1, 1.0, 11, None)], 1.0), 0);
        assert!(
            !m.keys()
                .any(|k| k.starts_with("additional_sampling_params"))
        );
        assert_eq!(m["results_ttft_s_stddev"], Value::Null);
        let none = summary_object(&i, &summarize(&[], 1.0), 0);
        assert_eq!(none["results_ttft_s_mean"], Value::Null);
        assert_eq!(none["results_error_code_frequency"], "{}");
        assert_eq!(none["results_error_rate"], 0.0);
    }

    #[test]
    fn files_are_indented_valid_json() {
        let dir = tempfile::tempdir().unwrap();
        let recs = vec![record(0.1, 1.0, 11, None)];
        let m = summary_object(&info(), &summarize(&recs, 1.0), 0);
        let files = write_final_files(dir.path(), "m_550_150", &m, &recs).unwrap();
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.starts_with("{\n    \"version\": \"2023-08-31\""));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["results_ttft_s_stddev"], Value::Null);
        let arr: Value = serde_json::from_slice(&std::fs::read(&files[1]).unwrap()).unwrap();
        assert_eq!(arr.as_array().unwrap().len(), 1);
    }
}
