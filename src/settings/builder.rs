//! [`SettingsBuilder`]: settings for library users, layered like the binary's — built-in defaults < the config
//! file < the environment < what the builder sets — and validated the same way.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::layers::{Mode, layered};
use super::{ConfigLayer, Settings, TokenConf, TokenConfs};
use crate::Error;
use crate::backend::LlmApi;
use crate::sim::SimConfig;

/// Builds [`Settings`]: `Settings::builder().model("m").openai_api_base("builtin").build()?`.
///
/// What the builder sets is the top layer, over the [`config_file`](Self::config_file) and the
/// [`env`](Self::env) map (the process environment is not read unless passed). The setters cover the common
/// keys; [`configure`](Self::configure) reaches every key of the schema, [`ConfigLayer`].
#[derive(Clone, Default)]
pub struct SettingsBuilder {
    mode: Mode,
    config_file: Option<PathBuf>,
    env: HashMap<String, String>,
    layer: ConfigLayer,
}

impl std::fmt::Debug for SettingsBuilder {
    /// Environment values are left out: they may be credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut env: Vec<&String> = self.env.keys().collect();
        env.sort();
        f.debug_struct("SettingsBuilder")
            .field("mode", &self.mode)
            .field("config_file", &self.config_file)
            .field("env", &env)
            .finish_non_exhaustive()
    }
}

/// Setters of keys whose value is stored as given.
macro_rules! setters {
    ($($(#[$doc:meta])* $key:ident: $ty:ty,)*) => {
        $(
            $(#[$doc])*
            pub fn $key(mut self, value: $ty) -> Self {
                self.layer.$key = Some(value.into());
                self
            }
        )*
    };
}

impl Settings {
    /// A builder of load-test settings (see [`SettingsBuilder`]).
    ///
    /// ```
    /// let settings = llmperf_actors::Settings::builder()
    ///     .model("sim-model")
    ///     .openai_api_base("builtin")
    ///     .max_num_completed_requests(4)
    ///     .build()?;
    /// assert_eq!(settings.num_concurrent_requests, 10);
    /// # Ok::<(), llmperf_actors::Error>(())
    /// ```
    pub fn builder() -> SettingsBuilder {
        SettingsBuilder::default()
    }
}

impl SettingsBuilder {
    /// Settings for the correctness test instead: the config file's `correctness:` section applies, and
    /// `max_num_completed_requests` defaults to 50.
    pub fn correctness(mut self) -> Self {
        self.mode = Mode::Correctness;
        self
    }

    /// Read this YAML config file (the binary's `--config`).
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// The environment to read (`LLMPERF_*`, `OPENAI_API_BASE`, …); empty unless given:
    /// `.env(std::env::vars().collect())` reads the process's.
    pub fn env(mut self, env: HashMap<String, String>) -> Self {
        self.env = env;
        self
    }

    /// Sets keys on the builder's layer directly: any key of the schema, e.g.
    /// `.configure(|c| c.slo = Some("ttft=500ms".into()))`.
    pub fn configure(mut self, f: impl FnOnce(&mut ConfigLayer)) -> Self {
        f(&mut self.layer);
        self
    }

    /// Every key `layer` sets replaces what the builder had set.
    pub fn layer(mut self, layer: &ConfigLayer) -> Result<Self, Error> {
        self.layer = std::mem::take(&mut self.layer).overlay(layer)?;
        Ok(self)
    }

    setters! {
        /// The model to query (replaces `models`).
        model: impl Into<String>,
        /// Mean prompt length, tokens (default 550).
        mean_input_tokens: u64,
        /// Its standard deviation (default 150).
        stddev_input_tokens: u64,
        /// Mean `max_tokens` (default 150).
        mean_output_tokens: u64,
        /// Its standard deviation (default 80).
        stddev_output_tokens: u64,
        /// Requests in flight at once (default 10).
        num_concurrent_requests: u64,
        /// Requests to send in all (default 10; 50 for the correctness test).
        max_num_completed_requests: u64,
        /// Seed of the draws (default 11111, the original's prompts).
        seed: u64,
        /// OpenAI-compatible API base, or `builtin` for the built-in simulator.
        openai_api_base: impl Into<String>,
        /// OpenAI key.
        openai_api_key: impl Into<String>,
        /// Anthropic API base, or `builtin`.
        anthropic_base_url: impl Into<String>,
        /// Anthropic key.
        anthropic_api_key: impl Into<String>,
        /// Vertex AI API base, or `builtin`.
        vertexai_base_url: impl Into<String>,
        /// Open loop at this rate, requests/s.
        request_rate: f64,
        /// Open loop: at most this many requests in flight.
        max_concurrency: u64,
        /// N warm-up requests, sent first, on top of the measured ones.
        warmup_requests: u64,
        /// This process's shard of a split run.
        shard_index: u64,
        /// Number of shards.
        shard_count: u64,
        /// Every prompt starts with a shared prefix of this many tokens.
        shared_prefix_tokens: u64,
        /// Number of different shared prefixes.
        prefix_groups: u64,
        /// Turns per conversation.
        multi_turn: u64,
        /// Accept any TLS certificate.
        insecure: bool,
        /// Use the server's usage counts in the llmperf keys.
        use_server_token_counts: bool,
        /// Write SVG charts.
        charts: bool,
        /// Write CSV files.
        csv: bool,
        /// The built-in simulator's behaviour (the whole section).
        simulator: SimConfig,
    }

    /// The models to run, one after another.
    pub fn models<S: Into<String>>(mut self, models: impl IntoIterator<Item = S>) -> Self {
        self.layer.models = Some(models.into_iter().map(Into::into).collect());
        self
    }

    /// Length distributions: one run per model × input × output.
    pub fn token_confs(mut self, input: Vec<TokenConf>, output: Vec<TokenConf>) -> Self {
        self.layer.token_confs = Some(TokenConfs {
            input: Some(input),
            output: Some(output),
        });
        self
    }

    /// The API shape (default OpenAI chat completions).
    pub fn llm_api(mut self, api: LlmApi) -> Self {
        self.layer.llm_api = Some(api.as_str().to_string());
        self
    }

    /// No request is launched after this long (default 90 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.layer.timeout = Some(timeout.as_secs_f64());
        self
    }

    /// A steady-state run of this length.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.layer.duration = Some(Value::from(duration.as_secs_f64()));
        self
    }

    /// After the timeout, how long requests in flight may finish (default 20 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.layer.grace_period = Some(grace.as_secs_f64());
        self
    }

    /// Merged into every request body.
    pub fn additional_sampling_params(mut self, params: Map<String, Value>) -> Self {
        self.layer.additional_sampling_params = Some(Value::Object(params));
        self
    }

    /// Copied into every summary.
    pub fn metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.layer.metadata = Some(Value::Object(metadata));
        self
    }

    /// Where the result files go (none are written unless set).
    pub fn results_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.layer.results_dir = Some(dir.into().to_string_lossy().into_owned());
        self
    }

    /// Adds a request header (the builder's headers replace the config file's).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let line = Value::from(format!("{name}: {value}"));
        match &mut self.layer.headers {
            Some(Value::Array(lines)) => lines.push(line),
            other => *other = Some(Value::Array(vec![line])),
        }
        self
    }

    /// Prompts from this dataset file instead of sonnet lines.
    pub fn dataset(mut self, path: impl Into<PathBuf>) -> Self {
        self.layer.dataset = Some(path.into().to_string_lossy().into_owned());
        self
    }

    /// Layers the config file, the environment and what was set, and validates.
    pub fn build(self) -> Result<Settings, Error> {
        layered(
            self.mode,
            self.config_file.as_deref(),
            &self.env,
            &self.layer,
        )
    }
}
