//! Settings, layered once and validated once: built-in defaults < config file < environment < command line (or
//! [`Settings::builder`]), each layer a [`ConfigLayer`] — the one schema of every key — then validated into typed
//! [`Settings`]. Nothing downstream reads raw flags.
//!
//! Environment: `OPENAI_API_BASE` (or `OPENAI_BASE_URL`) and `OPENAI_API_KEY` as the original;
//! `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL` for `--llm-api anthropic`; `GCLOUD_ACCESS_TOKEN`,
//! `GCLOUD_PROJECT_ID`, `GCLOUD_REGION` (or `VERTEXAI_BASE_URL`) for `--llm-api vertexai`;
//! `JOB_COMPLETION_INDEX` for `shard_index`; and `LLMPERF_<KEY>` for any config key
//! (`LLMPERF_NUM_CONCURRENT_REQUESTS=4`; nested keys with `__`, `LLMPERF_SIMULATOR__TTFT_MS=50`).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::backend::LlmApi;
use crate::report::{ReportOutputs, sanitize_base_name};
use crate::sim::SimConfig;

use crate::{Error, Secret};

mod builder;
mod endpoint;
mod gates;
mod layers;
mod load_modes;
mod prompts;
mod schema;
#[cfg(test)]
mod tests;
mod validate;
mod values;
/// Which part of a split run this process sends (`shard_index`, `shard_count`).
pub use crate::shard::Shard;
/// The open loop's arrival process (`arrival`, `burstiness`).
pub use crate::workload::schedule::Arrival;
pub use builder::SettingsBuilder;
pub use gates::Gates;
pub use layers::Mode;
pub use load_modes::{DURATION_PROMPT_POOL, LoadSettings, Sweep};
pub use prompts::{DatasetOrder, WorkloadSettings};
pub use schema::{ConfigLayer, CorrectnessSection, TokenConf, TokenConfs};
pub use values::{on_off, parse_metadata};
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
    /// What fails a run (exit status 3): `fail_on` thresholds, the correctness test's mismatch limit.
    pub gates: Gates,
    /// The `capacity` subcommand's search (`capacity:` section), when one is set.
    pub capacity: Option<crate::capacity::CapacitySettings>,
    /// Which part of the run this process executes (`Shard::WHOLE` unless `shard_count` > 1); see [`Shard`].
    /// `num_concurrent_requests` and `max_num_completed_requests` above are the whole run's totals.
    pub shard: Shard,
    /// Wall-clock time to wait for before the first request (`--start-at`, `start_at`); `None` starts at once.
    pub start_at: Option<std::time::SystemTime>,
    /// Extra request headers (`--header`, `headers:`), in order.
    pub headers: Vec<(String, Secret)>,
    /// Accept any TLS certificate (`--insecure`).
    pub insecure: bool,
    /// A Hugging Face `tokenizer.json` instead of the embedded Llama tokenizer (`--tokenizer`'s path, or the
    /// cached file of its model id).
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
    /// `--server-metrics`: scrape the server's Prometheus metrics during each run.
    pub server_metrics: Option<crate::server_metrics::ServerMetricsSettings>,
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

impl Settings {
    /// The matrix of runs, models × input confs × output confs, in that nesting order (like the fork's run.py),
    /// with file names made unique.
    ///
    /// A dataset run takes its prompts from the file, so the input confs do not apply: one run per model and
    /// output conf, named after the dataset, `<model>_<dataset stem>` (with `_<mean output>` when there are
    /// several output confs), not `<model>_<mean input>_<mean output>`.
    pub fn runs(&self) -> Vec<RunSpec> {
        let stem = self.workload.dataset.as_ref().map(|p| {
            p.file_stem()
                .map_or_else(|| "dataset".into(), |s| s.to_string_lossy().into_owned())
        });
        let inputs = match stem {
            Some(_) => &self.input_confs[..self.input_confs.len().min(1)],
            None => &self.input_confs[..],
        };
        let mut runs = Vec::new();
        for model in &self.models {
            for input in inputs {
                for output in &self.output_confs {
                    let name = match &stem {
                        Some(stem) if self.output_confs.len() > 1 => {
                            format!("{model}_{stem}_{}", output.mean)
                        }
                        Some(stem) => format!("{model}_{stem}"),
                        None => format!("{model}_{}_{}", input.mean, output.mean),
                    };
                    let base_name = sanitize_base_name(&name);
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
