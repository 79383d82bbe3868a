//! Settings, layered once: built-in defaults < config file < environment < command line, then validated into
//! typed [`Settings`]. Nothing downstream reads raw flags.
//!
//! Environment: `OPENAI_API_BASE` (or `OPENAI_BASE_URL`) and `OPENAI_API_KEY` as the original;
//! `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL` for `--llm-api anthropic`; `GCLOUD_ACCESS_TOKEN`,
//! `GCLOUD_PROJECT_ID`, `GCLOUD_REGION` (or `VERTEXAI_BASE_URL`) for `--llm-api vertexai`; and
//! `LLMPERF_<KEY>` for any config key (`LLMPERF_NUM_CONCURRENT_REQUESTS=4`; nested keys with `__`,
//! `LLMPERF_SIMULATOR__TTFT_MS=50`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::backend::LlmApi;
use crate::cli::LoadTestArgs;

use crate::report::{ProgressMode, ReportOutputs, sanitize_base_name};
use crate::shard::Shard;
use crate::sim::SimConfig;

use crate::{Error, Secret};

mod endpoint;
mod load;
#[cfg(test)]
mod tests;
mod validate;
mod workload;
use endpoint::{Bases, parse_headers, resolve_endpoint};
pub use load::{DURATION_PROMPT_POOL, LoadSettings, Sweep};
pub use workload::{DatasetOrder, WorkloadSettings};

/// The original's defaults (spec §2).
pub mod defaults {
    /// `--mean-input-tokens`.
    pub const MEAN_INPUT_TOKENS: u64 = 550;
    /// `--stddev-input-tokens`.
    pub const STDDEV_INPUT_TOKENS: u64 = 150;
    /// `--mean-output-tokens`.
    pub const MEAN_OUTPUT_TOKENS: u64 = 150;
    /// `--stddev-output-tokens`.
    pub const STDDEV_OUTPUT_TOKENS: u64 = 80;
    /// `--num-concurrent-requests`.
    pub const NUM_CONCURRENT_REQUESTS: u64 = 10;
    /// `--timeout`, seconds.
    pub const TIMEOUT_S: f64 = 90.0;
    /// `--max-num-completed-requests` of the load test.
    pub const MAX_NUM_COMPLETED_REQUESTS: u64 = 10;
    /// The correctness test's own default.
    pub const CORRECTNESS_MAX_NUM_COMPLETED_REQUESTS: u64 = 50;
    /// `--llm-api`.
    pub const LLM_API: &str = "openai";
    /// The Anthropic API base (`/v1/messages` is appended).
    pub const ANTHROPIC_BASE_URL: &str = crate::backend::anthropic::DEFAULT_BASE_URL;
    /// `--seed`: the original's fixed seed.
    pub const SEED: u64 = 11111;
    /// The original's per-read HTTP timeout.
    pub const READ_TIMEOUT_S: f64 = 180.0;
    /// TCP/TLS connect timeout, seconds.
    pub const CONNECT_TIMEOUT_S: f64 = 30.0;
    /// Seconds requests in flight get after `timeout` or a first signal, before they are cancelled.
    pub const GRACE_PERIOD_S: f64 = 20.0;
    /// Longest SSE line accepted, bytes.
    pub const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;
    /// Most bytes read from one response, bytes.
    pub const MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;
}

/// Environment variable Kubernetes sets in each pod of an Indexed Job (defined beside [`Shard`], which names it
/// in its errors).
pub use crate::shard::JOB_COMPLETION_INDEX;

/// `openai_api_base` value that starts the built-in simulator in-process.
pub const BUILTIN_ENDPOINT: &str = "builtin";

/// One entry of `token_confs.input` / `token_confs.output` (the fork's config format).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConf {
    /// A label; only used to tell runs apart in file names when their means collide.
    #[serde(default)]
    pub name: Option<String>,
    /// Mean, in tokens.
    pub mean: u64,
    /// Standard deviation, in tokens.
    pub stddev: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenConfs {
    #[serde(default)]
    input: Option<Vec<TokenConf>>,
    #[serde(default)]
    output: Option<Vec<TokenConf>>,
}

/// The `correctness:` section: overrides the top-level keys for the correctness test.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrectnessSection {
    model: Option<String>,
    models: Option<Vec<String>>,
    num_concurrent_requests: Option<u64>,
    timeout: Option<f64>,
    max_num_completed_requests: Option<u64>,
    additional_sampling_params: Option<Value>,
    results_dir: Option<String>,
    llm_api: Option<String>,
    metadata: Option<Value>,
    seed: Option<u64>,
}

/// Which test the settings are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The load test.
    LoadTest,
    /// The correctness test.
    Correctness,
}

/// Every key the config file (and `LLMPERF_*` variables) may set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    model: Option<String>,
    models: Option<Vec<String>>,
    mean_input_tokens: Option<u64>,
    stddev_input_tokens: Option<u64>,
    mean_output_tokens: Option<u64>,
    stddev_output_tokens: Option<u64>,
    token_confs: Option<TokenConfs>,
    num_concurrent_requests: Option<u64>,
    timeout: Option<f64>,
    max_num_completed_requests: Option<u64>,
    additional_sampling_params: Option<Value>,
    results_dir: Option<String>,
    llm_api: Option<String>,
    metadata: Option<Value>,
    seed: Option<u64>,
    shard_index: Option<u64>,
    shard_count: Option<u64>,
    start_at: Option<Value>,
    openai_api_base: Option<String>,
    openai_api_key: Option<String>,
    read_timeout: Option<f64>,
    connect_timeout: Option<f64>,
    first_byte_timeout: Option<f64>,
    idle_timeout: Option<f64>,
    request_timeout: Option<f64>,
    grace_period: Option<f64>,
    max_line_bytes: Option<u64>,
    max_response_bytes: Option<u64>,
    simulator: Option<SimConfig>,
    correctness: Option<CorrectnessSection>,
    anthropic_base_url: Option<String>,
    anthropic_api_key: Option<String>,
    vertexai_base_url: Option<String>,
    headers: Option<Value>,
    insecure: Option<bool>,
    tokenizer: Option<String>,
    use_server_token_counts: Option<bool>,
    stream_usage: Option<Value>,
    connection_reuse: Option<Value>,
    request_rate: Option<f64>,
    arrival: Option<String>,
    burstiness: Option<f64>,
    max_concurrency: Option<u64>,
    warmup_requests: Option<u64>,
    warmup_seconds: Option<f64>,
    duration: Option<Value>,
    sweep_concurrency: Option<Value>,
    sweep_rates: Option<Value>,
    sweep_max_error_rate: Option<f64>,
    sweep_max_e2e_p99: Option<Value>,
    slo: Option<Value>,
    output_format: Option<Value>,
    charts: Option<bool>,
    csv: Option<bool>,
    quiet: Option<bool>,
    progress: Option<String>,
    dataset: Option<String>,
    dataset_order: Option<String>,
    dataset_output_lengths: Option<bool>,
    shared_prefix_tokens: Option<u64>,
    prefix_groups: Option<u64>,
    multi_turn: Option<u64>,
    replay_timestamps: Option<bool>,
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// An OpenAI-compatible API base URL.
    Url(String),
    /// The built-in simulator, started in-process on a free loopback port.
    Builtin,
}

/// Validated settings for a load test (possibly a matrix of runs).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Models to run, in order.
    pub models: Vec<String>,
    /// Prompt length distributions.
    pub input_confs: Vec<TokenConf>,
    /// `max_tokens` distributions.
    pub output_confs: Vec<TokenConf>,
    /// Requests in flight at once.
    pub num_concurrent_requests: u64,
    /// No request is launched after this long.
    pub timeout: Duration,
    /// Requests to send per run.
    pub max_num_completed_requests: u64,
    /// Merged into every request body.
    pub additional_sampling_params: Map<String, Value>,
    /// Where files go; `None` writes nothing.
    pub results_dir: Option<PathBuf>,
    /// The API shape.
    pub llm_api: LlmApi,
    /// Copied into every summary.
    pub metadata: Map<String, Value>,
    /// Seed of the draws.
    pub seed: u64,
    /// The API base of the chosen `llm_api` (or the built-in simulator).
    pub endpoint: Endpoint,
    /// The chosen API's credential (OpenAI key, Anthropic key, Google access token).
    pub api_key: Option<Secret>,
    /// Idle timeout: the longest wait for each read of the stream (`idle_timeout`, else `read_timeout`).
    pub read_timeout: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// From a request's start to its response headers (`first_byte_timeout`, else `read_timeout`).
    pub first_byte_timeout: Duration,
    /// A whole request, start to last byte; `None` is no limit.
    pub request_timeout: Option<Duration>,
    /// After `timeout` (or a first Ctrl-C / SIGTERM), how long requests in flight may still finish before
    /// they are recorded as cancelled.
    pub grace_period: Duration,
    /// Longest SSE line accepted.
    pub max_line_bytes: usize,
    /// Most bytes read from one response.
    pub max_response_bytes: usize,
    /// The built-in simulator's behaviour (used with [`Endpoint::Builtin`]).
    pub simulator: SimConfig,
    /// Load modes beyond the original's closed loop.
    pub load: LoadSettings,
    /// Which part of the run this process executes (`Shard::WHOLE` unless `shard_count` > 1); see [`crate::shard`].
    /// `num_concurrent_requests` and `max_num_completed_requests` above are the whole run's totals.
    pub shard: Shard,
    /// Wall-clock time to wait for before the first request (`--start-at`, `start_at`); `None` starts at once.
    pub start_at: Option<std::time::SystemTime>,
    /// Extra request headers (`--header`, `headers:`), in order.
    pub headers: Vec<(String, Secret)>,
    /// Accept any TLS certificate (`--insecure`).
    pub insecure: bool,
    /// A Hugging Face `tokenizer.json` instead of the embedded Llama tokenizer.
    pub tokenizer: Option<PathBuf>,
    /// `number_output_tokens` from the server's usage where present.
    pub use_server_token_counts: bool,
    /// Ask OpenAI-shaped APIs for usage (`stream_options.include_usage`).
    pub stream_usage: bool,
    /// Keep connections open between requests.
    pub connection_reuse: bool,
    /// The table, CSV, charts and progress to produce (`--output-format`, `--charts`, `--csv`, `--quiet`,
    /// `--progress`).
    pub report: ReportOutputs,
    /// What is sent: sonnet prompts or a dataset, shared prefixes, conversations, trace replay.
    pub workload: WorkloadSettings,
}

/// One run of the matrix: a model with one input and one output length distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The model queried.
    pub model: String,
    /// Prompt length distribution.
    pub input: TokenConf,
    /// `max_tokens` distribution.
    pub output: TokenConf,
    /// Sanitized base name of the result files, unique within the matrix; without the shard suffix.
    pub base_name: String,
}

fn config_err(e: impl std::fmt::Display) -> Error {
    Error::Config(format!("invalid configuration: {e}"))
}

impl Settings {
    /// Layers defaults, the `--config` file, the environment `env` and the CLI `args`, and validates.
    pub fn load(args: &LoadTestArgs, env: &HashMap<String, String>) -> Result<Settings, Error> {
        Settings::load_for(Mode::LoadTest, args, env)
    }

    /// Settings for the correctness test: as [`Settings::load`], with the config file's `correctness:` section
    /// over its top-level keys, and the test's own default of 50 requests.
    pub fn load_correctness(
        args: &crate::cli::CorrectnessArgs,
        env: &HashMap<String, String>,
    ) -> Result<Settings, Error> {
        Settings::load_for(Mode::Correctness, &LoadTestArgs::from(args), env)
    }

    fn load_for(
        mode: Mode,
        args: &LoadTestArgs,
        env: &HashMap<String, String>,
    ) -> Result<Settings, Error> {
        let mut b = config::Config::builder();
        if let Some(path) = &args.config {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Config(format!(
                    "cannot read config file {} given with --config: {e}",
                    path.display()
                ))
            })?;
            b = b.add_source(config::File::from_str(&text, config::FileFormat::Yaml));
        }
        let llmperf_env: config::Map<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("LLMPERF_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        b = b.add_source(
            config::Environment::with_prefix("LLMPERF")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(llmperf_env)),
        );
        let non_empty = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let base = non_empty("OPENAI_API_BASE").or_else(|| non_empty("OPENAI_BASE_URL"));
        b = b
            .set_override_option("openai_api_base", base)
            .and_then(|b| b.set_override_option("openai_api_key", non_empty("OPENAI_API_KEY")))
            .and_then(|b| {
                b.set_override_option("anthropic_api_key", non_empty("ANTHROPIC_API_KEY"))
            })
            .and_then(|b| {
                b.set_override_option("anthropic_base_url", non_empty("ANTHROPIC_BASE_URL"))
            })
            .and_then(|b| {
                b.set_override_option(
                    "vertexai_base_url",
                    non_empty(crate::backend::vertex::BASE_URL_VAR),
                )
            })
            .map_err(config_err)?;
        let prefix = match mode {
            Mode::LoadTest => "",
            Mode::Correctness => "correctness.",
        };
        if mode == Mode::LoadTest
            && let Some(v) = env
                .get(JOB_COMPLETION_INDEX)
                .filter(|v| !v.trim().is_empty())
        {
            let index: u64 = v.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "{JOB_COMPLETION_INDEX}='{v}' is not a shard index (a non-negative integer); \
                     unset it or pass --shard-index"
                ))
            })?;
            b = b.set_override("shard_index", index).map_err(config_err)?;
        }
        b = apply_cli(b, args, prefix).map_err(config_err)?;
        let raw: RawSettings = b
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| {
                Error::Config(format!(
                    "invalid configuration: {e}. Check the key names and types against settings/config.yml \
                     (or `llmperf-actors --help`)"
                ))
            })?;
        raw.validate(mode, env)
    }

    /// The matrix of runs, models × input confs × output confs, in that nesting order (like the fork's run.py),
    /// with file names made unique.
    pub fn runs(&self) -> Vec<RunSpec> {
        let mut runs = Vec::new();
        for model in &self.models {
            for input in &self.input_confs {
                for output in &self.output_confs {
                    let base_name =
                        sanitize_base_name(&format!("{model}_{}_{}", input.mean, output.mean));
                    runs.push(RunSpec {
                        model: model.clone(),
                        input: input.clone(),
                        output: output.clone(),
                        base_name,
                    });
                }
            }
        }
        make_unique(&mut runs);
        runs
    }
}

/// Gives every run its own files: a clash adds the conf names, then a counter.
fn make_unique(runs: &mut [RunSpec]) {
    let count = |runs: &[RunSpec], name: &str| runs.iter().filter(|r| r.base_name == name).count();
    let clashing: Vec<usize> = (0..runs.len())
        .filter(|&i| count(runs, &runs[i].base_name) > 1)
        .collect();
    for &i in &clashing {
        let r = &runs[i];
        let label = |c: &TokenConf| {
            c.name
                .clone()
                .unwrap_or_else(|| format!("{}-{}", c.mean, c.stddev))
        };
        let name = sanitize_base_name(&format!(
            "{}_{}_{}",
            r.base_name,
            label(&r.input),
            label(&r.output)
        ));
        log::warn!(
            "runs share the file name {}; writing {} instead",
            r.base_name,
            name
        );
        runs[i].base_name = name;
    }
    for i in 0..runs.len() {
        let mut k = 2;
        while runs[..i].iter().any(|r| r.base_name == runs[i].base_name) {
            runs[i].base_name = format!("{}_{k}", runs[i].base_name);
            k += 1;
        }
    }
}

/// Command-line values override the layers below; `prefix` puts them into a section (`correctness.`).
fn apply_cli(
    b: config::ConfigBuilder<config::builder::DefaultState>,
    a: &LoadTestArgs,
    prefix: &str,
) -> Result<config::ConfigBuilder<config::builder::DefaultState>, config::ConfigError> {
    let k = |key: &str| format!("{prefix}{key}");
    b.set_override_option(k("model"), a.model.clone())?
        .set_override_option(k("mean_input_tokens"), a.mean_input_tokens)?
        .set_override_option(k("stddev_input_tokens"), a.stddev_input_tokens)?
        .set_override_option(k("mean_output_tokens"), a.mean_output_tokens)?
        .set_override_option(k("stddev_output_tokens"), a.stddev_output_tokens)?
        .set_override_option(k("num_concurrent_requests"), a.num_concurrent_requests)?
        .set_override_option(k("timeout"), a.timeout)?
        .set_override_option(
            k("max_num_completed_requests"),
            a.max_num_completed_requests,
        )?
        .set_override_option(
            k("additional_sampling_params"),
            a.additional_sampling_params.clone(),
        )?
        .set_override_option(k("results_dir"), a.results_dir.clone())?
        .set_override_option(k("llm_api"), a.llm_api.clone())?
        .set_override_option(k("metadata"), a.metadata.clone())?
        .set_override_option(k("seed"), a.seed)?
        .set_override_option(k("request_rate"), a.request_rate)?
        .set_override_option(k("arrival"), a.arrival.clone())?
        .set_override_option(k("burstiness"), a.burstiness)?
        .set_override_option(k("max_concurrency"), a.max_concurrency)?
        .set_override_option(k("warmup_requests"), a.warmup_requests)?
        .set_override_option(k("warmup_seconds"), a.warmup_seconds)?
        .set_override_option(k("duration"), a.duration.clone())?
        .set_override_option(k("sweep_concurrency"), a.sweep_concurrency.clone())?
        .set_override_option(k("sweep_rates"), a.sweep_rates.clone())?
        .set_override_option(k("sweep_max_error_rate"), a.sweep_max_error_rate)?
        .set_override_option(k("sweep_max_e2e_p99"), a.sweep_max_e2e_p99.clone())?
        .set_override_option(k("slo"), a.slo.clone())?
        .set_override_option(k("shard_index"), a.shard_index)?
        .set_override_option(k("shard_count"), a.shard_count)?
        .set_override_option(k("dataset"), a.dataset.clone())?
        .set_override_option(k("dataset_order"), a.dataset_order.clone())?
        .set_override_option(
            k("dataset_output_lengths"),
            a.dataset_output_lengths.then_some(true),
        )?
        .set_override_option(k("shared_prefix_tokens"), a.shared_prefix_tokens)?
        .set_override_option(k("prefix_groups"), a.prefix_groups)?
        .set_override_option(k("multi_turn"), a.multi_turn)?
        .set_override_option(k("replay_timestamps"), a.replay_timestamps.then_some(true))?
        // Connection and counting settings are top-level only.
        .set_override_option(
            "headers",
            (!a.headers.is_empty()).then(|| a.headers.clone()),
        )?
        .set_override_option("insecure", a.insecure.then_some(true))?
        .set_override_option("start_at", a.start_at.clone())?
        .set_override_option("connect_timeout", a.timeouts.connect_timeout)?
        .set_override_option("first_byte_timeout", a.timeouts.first_byte_timeout)?
        .set_override_option("idle_timeout", a.timeouts.idle_timeout)?
        .set_override_option("request_timeout", a.timeouts.request_timeout)?
        .set_override_option("grace_period", a.timeouts.grace_period)?
        .set_override_option("stream_usage", a.connection.stream_usage)?
        .set_override_option("connection_reuse", a.connection.connection_reuse)?
        .set_override_option("tokenizer", a.tokenizer.clone())?
        .set_override_option(
            "use_server_token_counts",
            a.use_server_token_counts.then_some(true),
        )?
        .set_override_option("output_format", a.output_format.clone())?
        .set_override_option("charts", a.charts_flag())?
        .set_override_option("csv", a.csv_flag())?
        .set_override_option("quiet", a.quiet.then_some(true))?
        .set_override_option("progress", a.progress.clone())
}

/// The reports to produce: `output_format` (a list or comma-separated names), then `charts` / `csv`, then
/// `progress` (`quiet` makes the automatic mode plain lines).
fn report_outputs(
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
                        "output_format: {other} is not a name; use table, csv, charts, all or none"
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
fn json_object(key: &str, v: Option<Value>) -> Result<Map<String, Value>, Error> {
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

fn seconds(key: &str, v: f64) -> Result<Duration, Error> {
    if v.is_finite() && v > 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(Error::Config(format!(
            "{key} must be a positive number of seconds; got {v}"
        )))
    }
}

fn at_least_one(key: &str, v: u64) -> Result<u64, Error> {
    if v >= 1 {
        Ok(v)
    } else {
        Err(Error::Config(format!("{key} must be at least 1; got {v}")))
    }
}
