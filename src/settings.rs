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
use crate::report::sanitize_base_name;
use crate::sim::SimConfig;
use crate::{Error, Secret};

mod endpoint;
use endpoint::{Bases, parse_headers, resolve_endpoint};

/// The original's defaults (spec §2).
pub mod defaults {
    pub const MEAN_INPUT_TOKENS: u64 = 550;
    pub const STDDEV_INPUT_TOKENS: u64 = 150;
    pub const MEAN_OUTPUT_TOKENS: u64 = 150;
    pub const STDDEV_OUTPUT_TOKENS: u64 = 80;
    pub const NUM_CONCURRENT_REQUESTS: u64 = 10;
    pub const TIMEOUT_S: f64 = 90.0;
    pub const MAX_NUM_COMPLETED_REQUESTS: u64 = 10;
    /// The correctness test's own default.
    pub const CORRECTNESS_MAX_NUM_COMPLETED_REQUESTS: u64 = 50;
    pub const LLM_API: &str = "openai";
    /// The Anthropic API base (`/v1/messages` is appended).
    pub const ANTHROPIC_BASE_URL: &str = crate::backend::anthropic::DEFAULT_BASE_URL;
    pub const SEED: u64 = 11111;
    /// The original's per-read HTTP timeout.
    pub const READ_TIMEOUT_S: f64 = 180.0;
    pub const CONNECT_TIMEOUT_S: f64 = 30.0;
}

/// `openai_api_base` value that starts the built-in simulator in-process.
pub const BUILTIN_ENDPOINT: &str = "builtin";

/// One entry of `token_confs.input` / `token_confs.output` (the fork's config format).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConf {
    /// A label; only used to tell runs apart in file names when their means collide.
    #[serde(default)]
    pub name: Option<String>,
    pub mean: u64,
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
    LoadTest,
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
    openai_api_base: Option<String>,
    openai_api_key: Option<String>,
    read_timeout: Option<f64>,
    connect_timeout: Option<f64>,
    simulator: Option<SimConfig>,
    correctness: Option<CorrectnessSection>,
    anthropic_base_url: Option<String>,
    anthropic_api_key: Option<String>,
    vertexai_base_url: Option<String>,
    headers: Option<Value>,
    insecure: Option<bool>,
    tokenizer: Option<String>,
    use_server_token_counts: Option<bool>,
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
    pub models: Vec<String>,
    pub input_confs: Vec<TokenConf>,
    pub output_confs: Vec<TokenConf>,
    pub num_concurrent_requests: u64,
    pub timeout: Duration,
    pub max_num_completed_requests: u64,
    pub additional_sampling_params: Map<String, Value>,
    pub results_dir: Option<PathBuf>,
    pub llm_api: LlmApi,
    pub metadata: Map<String, Value>,
    pub seed: u64,
    /// The API base of the chosen `llm_api` (or the built-in simulator).
    pub endpoint: Endpoint,
    /// The chosen API's credential (OpenAI key, Anthropic key, Google access token).
    pub api_key: Option<Secret>,
    pub read_timeout: Duration,
    pub connect_timeout: Duration,
    pub simulator: SimConfig,
    /// Extra request headers (`--header`, `headers:`), in order.
    pub headers: Vec<(String, Secret)>,
    /// Accept any TLS certificate (`--insecure`).
    pub insecure: bool,
    /// A Hugging Face `tokenizer.json` instead of the embedded Llama tokenizer.
    pub tokenizer: Option<PathBuf>,
    /// `number_output_tokens` from the server's usage where present.
    pub use_server_token_counts: bool,
}

/// One run of the matrix: a model with one input and one output length distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub model: String,
    pub input: TokenConf,
    pub output: TokenConf,
    /// Sanitized base name of the result files, unique within the matrix.
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
        // Connection and counting settings are top-level only.
        .set_override_option(
            "headers",
            (!a.headers.is_empty()).then(|| a.headers.clone()),
        )?
        .set_override_option("insecure", a.insecure.then_some(true))?
        .set_override_option("tokenizer", a.tokenizer.clone())?
        .set_override_option(
            "use_server_token_counts",
            a.use_server_token_counts.then_some(true),
        )
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
        Ok(Settings {
            models,
            input_confs,
            output_confs,
            num_concurrent_requests: at_least_one(
                "num_concurrent_requests",
                self.num_concurrent_requests
                    .unwrap_or(defaults::NUM_CONCURRENT_REQUESTS),
            )?,
            timeout: seconds("timeout", self.timeout.unwrap_or(defaults::TIMEOUT_S))?,
            max_num_completed_requests: at_least_one(
                "max_num_completed_requests",
                self.max_num_completed_requests.unwrap_or(default_max),
            )?,
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
                "read_timeout",
                self.read_timeout.unwrap_or(defaults::READ_TIMEOUT_S),
            )?,
            connect_timeout: seconds(
                "connect_timeout",
                self.connect_timeout.unwrap_or(defaults::CONNECT_TIMEOUT_S),
            )?,
            simulator: self.simulator.unwrap_or_default().validated()?,
            headers,
            insecure: self.insecure.unwrap_or(false),
            tokenizer,
            use_server_token_counts: self.use_server_token_counts.unwrap_or(false),
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
