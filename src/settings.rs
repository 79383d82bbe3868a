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
use crate::metrics::{Slo, parse_seconds};
use crate::report::{ProgressMode, ReportOutputs, sanitize_base_name};
use crate::shard::Shard;
use crate::sim::SimConfig;
use crate::workload::schedule::Arrival;
use crate::{Error, Secret};

mod endpoint;
mod workload;
use endpoint::{Bases, parse_headers, resolve_endpoint};
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

/// Environment variable Kubernetes sets in each pod of an Indexed Job: the pod's 0-based completion index,
/// used as `shard_index` when no `--shard-index` flag is given.
pub const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

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
    /// The first N requests are warm-up.
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
    /// Extra request headers (`--header`, `headers:`), in order.
    pub headers: Vec<(String, Secret)>,
    /// Accept any TLS certificate (`--insecure`).
    pub insecure: bool,
    /// A Hugging Face `tokenizer.json` instead of the embedded Llama tokenizer.
    pub tokenizer: Option<PathBuf>,
    /// `number_output_tokens` from the server's usage where present.
    pub use_server_token_counts: bool,
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
        .set_override_option("connect_timeout", a.connect_timeout)?
        .set_override_option("first_byte_timeout", a.first_byte_timeout)?
        .set_override_option("idle_timeout", a.idle_timeout)?
        .set_override_option("request_timeout", a.request_timeout)?
        .set_override_option("grace_period", a.grace_period)?
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

/// A duration given as seconds (number) or text (`500ms`, `2s`).
fn seconds_value(key: &str, v: Option<Value>) -> Result<Option<f64>, Error> {
    let bad = |got: &dyn std::fmt::Display| {
        Error::Config(format!(
            "{key} must be a duration such as 30, 30s or 500ms; got {got}"
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

impl RawSettings {
    /// For the correctness test, the `correctness:` section's keys replace the top-level ones.
    fn merge_correctness_section(mut self) -> RawSettings {
        let Some(c) = self.correctness.take() else {
            return self;
        };
        if c.model.is_some() || c.models.is_some() {
            self.model = c.model;
            self.models = c.models;
        }
        macro_rules! over {
            ($($field:ident),*) => { $( if c.$field.is_some() { self.$field = c.$field; } )* };
        }
        over!(
            num_concurrent_requests,
            timeout,
            max_num_completed_requests,
            additional_sampling_params,
            results_dir,
            llm_api,
            metadata,
            seed
        );
        self
    }

    fn validate(self, mode: Mode, env: &HashMap<String, String>) -> Result<Settings, Error> {
        if mode == Mode::Correctness && self.shard_count.is_some_and(|n| n > 1) {
            return Err(Error::Config(
                "shard_count applies to the load test only; remove it (or set it to 1) for \
                 `llmperf-actors correctness`"
                    .into(),
            ));
        }
        let (raw, default_max) = match mode {
            Mode::LoadTest => (self, defaults::MAX_NUM_COMPLETED_REQUESTS),
            Mode::Correctness => (
                self.merge_correctness_section(),
                defaults::CORRECTNESS_MAX_NUM_COMPLETED_REQUESTS,
            ),
        };
        raw.validate_with(default_max, env)
    }

    fn validate_with(
        self,
        default_max: u64,
        env: &HashMap<String, String>,
    ) -> Result<Settings, Error> {
        let load = self.load_settings()?;
        let models = match (self.model, self.models) {
            (Some(m), _) => vec![m],
            (None, Some(ms)) if !ms.is_empty() => ms,
            _ => {
                return Err(Error::Config(
                    "no model given: pass --model NAME, or list `models:` in the --config file"
                        .into(),
                ));
            }
        };
        if let Some(m) = models.iter().find(|m| m.trim().is_empty()) {
            return Err(Error::Config(format!("model name '{m}' is empty")));
        }
        let confs = self.token_confs.unwrap_or_default();
        let input_confs = pick_confs(
            "input",
            self.mean_input_tokens,
            self.stddev_input_tokens,
            confs.input,
            (defaults::MEAN_INPUT_TOKENS, defaults::STDDEV_INPUT_TOKENS),
        )?;
        let output_confs = pick_confs(
            "output",
            self.mean_output_tokens,
            self.stddev_output_tokens,
            confs.output,
            (defaults::MEAN_OUTPUT_TOKENS, defaults::STDDEV_OUTPUT_TOKENS),
        )?;
        let llm_api: LlmApi = self
            .llm_api
            .as_deref()
            .unwrap_or(defaults::LLM_API)
            .parse()
            .map_err(Error::Config)?;
        let headers = parse_headers(self.headers)?;
        let (endpoint, api_key) = resolve_endpoint(
            llm_api,
            &Bases {
                openai: self.openai_api_base,
                openai_key: self.openai_api_key,
                anthropic: self.anthropic_base_url,
                anthropic_key: self.anthropic_api_key,
                vertexai: self.vertexai_base_url,
            },
            &headers,
            env,
        )?;
        let tokenizer = match self.tokenizer.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => {
                let p = PathBuf::from(p);
                if !p.is_file() {
                    return Err(Error::Config(format!(
                        "tokenizer file {} (--tokenizer / `tokenizer`) does not exist or is not a file; \
                         pass the path of a Hugging Face tokenizer.json",
                        p.display()
                    )));
                }
                Some(p)
            }
        };
        let results_dir = match self.results_dir {
            Some(d) if !d.trim().is_empty() => {
                let p = PathBuf::from(d);
                if p.exists() && !p.is_dir() {
                    return Err(Error::Config(format!(
                        "results_dir {} exists and is not a directory; pass another --results-dir",
                        p.display()
                    )));
                }
                Some(p)
            }
            _ => None,
        };
        let num_concurrent_requests = at_least_one(
            "num_concurrent_requests",
            self.num_concurrent_requests
                .unwrap_or(defaults::NUM_CONCURRENT_REQUESTS),
        )?;
        let max_num_completed_requests = at_least_one(
            "max_num_completed_requests",
            self.max_num_completed_requests.unwrap_or(default_max),
        )?;
        let shard = Shard::validated(
            self.shard_index,
            self.shard_count,
            num_concurrent_requests,
            max_num_completed_requests,
        )?;
        let workload = workload::RawWorkload {
            dataset: self.dataset,
            dataset_order: self.dataset_order,
            dataset_output_lengths: self.dataset_output_lengths,
            shared_prefix_tokens: self.shared_prefix_tokens,
            prefix_groups: self.prefix_groups,
            multi_turn: self.multi_turn,
            replay_timestamps: self.replay_timestamps,
        }
        .validated(&load, shard)?;
        Ok(Settings {
            workload,
            load,
            models,
            input_confs,
            output_confs,
            num_concurrent_requests,
            timeout: seconds("timeout", self.timeout.unwrap_or(defaults::TIMEOUT_S))?,
            max_num_completed_requests,
            additional_sampling_params: json_object(
                "additional_sampling_params",
                self.additional_sampling_params,
            )?,
            results_dir,
            llm_api,
            metadata: parse_metadata(self.metadata)?,
            seed: self.seed.unwrap_or(defaults::SEED),
            endpoint,
            api_key,
            read_timeout: seconds(
                if self.idle_timeout.is_some() {
                    "idle_timeout"
                } else {
                    "read_timeout"
                },
                self.idle_timeout
                    .or(self.read_timeout)
                    .unwrap_or(defaults::READ_TIMEOUT_S),
            )?,
            first_byte_timeout: seconds(
                if self.first_byte_timeout.is_some() {
                    "first_byte_timeout"
                } else {
                    "read_timeout"
                },
                self.first_byte_timeout
                    .or(self.read_timeout)
                    .unwrap_or(defaults::READ_TIMEOUT_S),
            )?,
            request_timeout: self
                .request_timeout
                .map(|t| seconds("request_timeout", t))
                .transpose()?,
            grace_period: match self.grace_period.unwrap_or(defaults::GRACE_PERIOD_S) {
                g if g.is_finite() && g >= 0.0 => Duration::from_secs_f64(g),
                g => {
                    return Err(Error::Config(format!(
                        "grace_period must be 0 or more seconds; got {g}"
                    )));
                }
            },
            max_line_bytes: at_least_one(
                "max_line_bytes",
                self.max_line_bytes.unwrap_or(defaults::MAX_LINE_BYTES),
            )? as usize,
            max_response_bytes: at_least_one(
                "max_response_bytes",
                self.max_response_bytes
                    .unwrap_or(defaults::MAX_RESPONSE_BYTES),
            )? as usize,
            connect_timeout: seconds(
                "connect_timeout",
                self.connect_timeout.unwrap_or(defaults::CONNECT_TIMEOUT_S),
            )?,
            simulator: self.simulator.unwrap_or_default().validated()?,
            shard,
            headers,
            insecure: self.insecure.unwrap_or(false),
            tokenizer,
            use_server_token_counts: self.use_server_token_counts.unwrap_or(false),
            report: report_outputs(
                self.output_format,
                self.charts,
                self.csv,
                self.quiet,
                self.progress,
            )?,
        })
    }
}

impl RawSettings {
    fn load_settings(&self) -> Result<LoadSettings, Error> {
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

/// Scalar `mean_*`/`stddev_*` keys (from any layer) win over the `token_confs` list.
fn pick_confs(
    what: &str,
    mean: Option<u64>,
    stddev: Option<u64>,
    list: Option<Vec<TokenConf>>,
    (default_mean, default_stddev): (u64, u64),
) -> Result<Vec<TokenConf>, Error> {
    if mean.is_some() || stddev.is_some() || list.is_none() {
        if list.is_some() {
            log::warn!(
                "mean_{what}_tokens/stddev_{what}_tokens are set, so token_confs.{what} is ignored"
            );
        }
        return Ok(vec![TokenConf {
            name: None,
            mean: mean.unwrap_or(default_mean),
            stddev: stddev.unwrap_or(default_stddev),
        }]);
    }
    let list = list.unwrap_or_default();
    if list.is_empty() {
        return Err(Error::Config(format!(
            "token_confs.{what} is empty: list at least one {{name, mean, stddev}}"
        )));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn args() -> LoadTestArgs {
        LoadTestArgs {
            model: Some("m".into()),
            ..Default::default()
        }
    }

    fn config_file(text: &str) -> (tempfile::TempDir, LoadTestArgs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yml");
        std::fs::write(&path, text).unwrap();
        let a = LoadTestArgs {
            config: Some(path),
            ..Default::default()
        };
        (dir, a)
    }

    #[test]
    fn defaults_are_the_originals() {
        let s = Settings::load(&args(), &env(&[("OPENAI_API_BASE", "http://x/v1")])).unwrap();
        assert_eq!(s.input_confs[0].mean, 550);
        assert_eq!(s.input_confs[0].stddev, 150);
        assert_eq!(s.output_confs[0].mean, 150);
        assert_eq!(s.output_confs[0].stddev, 80);
        assert_eq!(s.num_concurrent_requests, 10);
        assert_eq!(s.timeout, Duration::from_secs(90));
        assert_eq!(s.max_num_completed_requests, 10);
        assert_eq!(s.seed, 11111);
        assert_eq!(s.results_dir, None);
        assert_eq!(s.endpoint, Endpoint::Url("http://x/v1".into()));
        assert!(s.additional_sampling_params.is_empty());
    }

    #[test]
    fn precedence_file_env_cli() {
        let (_d, mut a) = config_file(
            "openai_api_base: builtin\nmodels: [a]\nnum_concurrent_requests: 3\ntimeout: 5\nseed: 1\n",
        );
        let s = Settings::load(&a, &env(&[])).unwrap();
        assert_eq!((s.num_concurrent_requests, s.seed), (3, 1));
        assert_eq!(s.endpoint, Endpoint::Builtin);
        let e = env(&[
            ("LLMPERF_NUM_CONCURRENT_REQUESTS", "4"),
            ("OPENAI_API_BASE", "http://e/v1"),
        ]);
        let s = Settings::load(&a, &e).unwrap();
        assert_eq!(s.num_concurrent_requests, 4);
        assert_eq!(s.endpoint, Endpoint::Url("http://e/v1".into()));
        a.num_concurrent_requests = Some(5);
        a.model = Some("cli-model".into());
        let s = Settings::load(&a, &e).unwrap();
        assert_eq!(s.num_concurrent_requests, 5);
        assert_eq!(s.models, ["cli-model"]);
        assert_eq!(s.timeout, Duration::from_secs(5));
    }

    #[test]
    fn matrix_from_the_forks_config() {
        let (_d, a) = config_file(
            "openai_api_base: http://h/v1
openai_api_key: k
models: ['llama2:7b', 'mistral:7b']
token_confs:
  input:
    - {name: input-S, mean: 150, stddev: 100}
    - {name: input-M, mean: 650, stddev: 250}
  output:
    - {name: output-S, mean: 50, stddev: 20}
",
        );
        let s = Settings::load(&a, &env(&[])).unwrap();
        let runs = s.runs();
        let names: Vec<&str> = runs.iter().map(|r| r.base_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "llama2-7b_150_50",
                "llama2-7b_650_50",
                "mistral-7b_150_50",
                "mistral-7b_650_50"
            ]
        );
        assert_eq!(s.api_key.as_ref().map(Secret::expose), Some("k"));
    }

    #[test]
    fn clashing_runs_get_distinct_file_names() {
        let (_d, a) = config_file(
            "openai_api_base: builtin
models: ['a/b', 'a:b']
token_confs:
  input:
    - {name: x, mean: 100, stddev: 1}
    - {name: y, mean: 100, stddev: 50}
",
        );
        let runs = Settings::load(&a, &env(&[])).unwrap().runs();
        let mut names: Vec<&str> = runs.iter().map(|r| r.base_name.as_str()).collect();
        assert_eq!(names.len(), 4);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 4, "{names:?}");
    }

    #[test]
    fn bad_input_names_the_key() {
        let msg = |a: &LoadTestArgs, e: &[(&str, &str)]| {
            Settings::load(a, &env(e)).unwrap_err().to_string()
        };
        let base = [("OPENAI_API_BASE", "http://x/v1")];
        let (_d, a) =
            config_file("openai_api_base: builtin\nmodel: m\nnum_concurent_requests: 3\n");
        assert!(
            msg(&a, &[]).contains("num_concurent_requests"),
            "{}",
            msg(&a, &[])
        );
        let (_d2, a) = config_file("openai_api_base: builtin\nmodel: m\ntimeout: soon\n");
        assert!(msg(&a, &[]).contains("timeout"), "{}", msg(&a, &[]));
        let no_model = LoadTestArgs::default();
        assert!(msg(&no_model, &base).contains("--model"));
        assert!(msg(&args(), &[]).contains("OPENAI_API_BASE"));
        assert!(msg(&args(), &[("OPENAI_API_BASE", "localhost:8000")]).contains("http://"));
        let mut a = args();
        a.additional_sampling_params = Some("[1]".into());
        assert!(msg(&a, &base).contains("additional_sampling_params"));
        let mut a = args();
        a.metadata = Some("a=1,b".into());
        assert!(msg(&a, &base).contains("'b'"));
        let mut a = args();
        a.num_concurrent_requests = Some(0);
        assert!(msg(&a, &base).contains("num_concurrent_requests"));
        let mut a = args();
        a.llm_api = Some("sagemaker".into());
        assert!(msg(&a, &base).contains("sagemaker"));
        let missing = LoadTestArgs {
            config: Some("/nonexistent/c.yml".into()),
            ..args()
        };
        assert!(msg(&missing, &base).contains("/nonexistent/c.yml"));
    }

    #[test]
    fn correctness_section_overrides_top_level_and_cli_overrides_both() {
        let (_d, a) = config_file(
            "openai_api_base: builtin
models: [big]
num_concurrent_requests: 8
correctness:
  model: small
  num_concurrent_requests: 2
  additional_sampling_params: {top_p: 0.5}
",
        );
        let mut c = crate::cli::CorrectnessArgs {
            config: a.config.clone(),
            ..Default::default()
        };
        let s = Settings::load_correctness(&c, &env(&[])).unwrap();
        assert_eq!(s.models, ["small"]);
        assert_eq!(s.num_concurrent_requests, 2);
        assert_eq!(s.max_num_completed_requests, 50);
        assert_eq!(s.additional_sampling_params["top_p"], 0.5);
        let load = Settings::load(&a, &env(&[])).unwrap();
        assert_eq!(
            (load.models[0].as_str(), load.num_concurrent_requests),
            ("big", 8)
        );
        assert_eq!(load.max_num_completed_requests, 10);
        c.num_concurrent_requests = Some(3);
        c.max_num_completed_requests = Some(7);
        let s = Settings::load_correctness(&c, &env(&[])).unwrap();
        assert_eq!(
            (s.num_concurrent_requests, s.max_num_completed_requests),
            (3, 7)
        );
    }

    #[test]
    fn metadata_and_params() {
        let mut a = args();
        a.metadata = Some("team=infra,url=http://x/?a=b".into());
        a.additional_sampling_params = Some(r#"{"temperature": 0.5, "max_tokens": 7}"#.into());
        let s = Settings::load(&a, &env(&[("OPENAI_API_BASE", "http://x/v1")])).unwrap();
        assert_eq!(s.metadata["url"], "http://x/?a=b");
        assert_eq!(s.additional_sampling_params["max_tokens"], 7);
    }
}
