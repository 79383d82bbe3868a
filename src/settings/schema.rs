//! The configuration schema. [`ConfigLayer`] is the YAML file's schema, what the `LLMPERF_*` environment
//! variables set, what the command-line flags set (their field names are its keys) and what
//! [`Settings::builder`](super::Settings::builder) sets: every key is declared once, as one of its fields, and
//! is read once, in validation. Layers are merged key by key, the higher one's value replacing the lower one's,
//! then validated into [`Settings`](super::Settings).
//!
//! To add a key: a field here (its name is the key, in the file and as `LLMPERF_<KEY>`), its check in
//! `validate.rs`, and, for a flag, a field of the same name in `cli::run_args` (with its help).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;
use crate::sim::SimConfig;

/// One entry of `token_confs.input` / `token_confs.output` (the fork's config format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The `token_confs:` section: length distributions, one run per combination.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfs {
    /// Prompt length distributions.
    #[serde(default)]
    pub input: Option<Vec<TokenConf>>,
    /// `max_tokens` distributions.
    #[serde(default)]
    pub output: Option<Vec<TokenConf>>,
}

/// The `correctness:` section: for `llmperf-actors correctness`, its keys replace the top-level ones (a `model`
/// or `models` here replaces both).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrectnessSection {
    /// As the top-level key.
    pub model: Option<String>,
    /// As the top-level key.
    pub models: Option<Vec<String>>,
    /// As the top-level key.
    pub num_concurrent_requests: Option<u64>,
    /// As the top-level key.
    #[serde(default, with = "crate::duration::serde_seconds")]
    pub timeout: Option<f64>,
    /// As the top-level key (the correctness test's default is 50).
    pub max_num_completed_requests: Option<u64>,
    /// As the top-level key.
    pub additional_sampling_params: Option<Value>,
    /// As the top-level key.
    pub results_dir: Option<String>,
    /// As the top-level key.
    pub llm_api: Option<String>,
    /// As the top-level key.
    pub metadata: Option<Value>,
    /// As the top-level key.
    pub seed: Option<u64>,
    /// As the top-level key.
    pub max_mismatch_rate: Option<f64>,
}

/// One layer of configuration: every key the config file, the environment, the flags and the builder may set.
/// `None` leaves a key to the layers below; the defaults are applied in validation.
///
/// Keys that take several forms (a mapping or a JSON string, a list or comma-separated text, seconds or
/// `500ms`, on/off or a boolean) are JSON values here and are checked in validation, where errors name the key.
/// The keys are documented in `settings/config.yml` and the flags in `docs/cli.md`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    /// `--model`: the one model to query (replaces `models`).
    pub model: Option<String>,
    /// The models to run, one after another (the fork's key).
    pub models: Option<Vec<String>>,
    /// `--mean-input-tokens` (replaces `token_confs.input`).
    pub mean_input_tokens: Option<u64>,
    /// `--stddev-input-tokens`.
    pub stddev_input_tokens: Option<u64>,
    /// `--mean-output-tokens` (replaces `token_confs.output`).
    pub mean_output_tokens: Option<u64>,
    /// `--stddev-output-tokens`.
    pub stddev_output_tokens: Option<u64>,
    /// Length distributions, one run per combination (the fork's key).
    pub token_confs: Option<TokenConfs>,
    /// `--num-concurrent-requests`.
    pub num_concurrent_requests: Option<u64>,
    /// `--timeout`, seconds.
    #[serde(default, with = "crate::duration::serde_seconds")]
    pub timeout: Option<f64>,
    /// `--max-num-completed-requests`.
    pub max_num_completed_requests: Option<u64>,
    /// `--additional-sampling-params`: a mapping or a JSON object's text.
    pub additional_sampling_params: Option<Value>,
    /// `--results-dir`; empty writes nothing.
    pub results_dir: Option<String>,
    /// `--llm-api`.
    pub llm_api: Option<String>,
    /// `--metadata`: a mapping or `k=v,…` text.
    pub metadata: Option<Value>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--shard-index` (else `JOB_COMPLETION_INDEX`).
    pub shard_index: Option<u64>,
    /// `--shard-count`.
    pub shard_count: Option<u64>,
    /// `--start-at`: RFC 3339 text or Unix seconds.
    pub start_at: Option<Value>,
    /// `--base-url`: the API base of whichever `llm_api` is chosen, or `builtin`. A layer that sets it
    /// replaces the per-API bases of the layers below; within one layer a per-API base wins for its API.
    pub base_url: Option<String>,
    /// `--api-key`: the credential of whichever `llm_api` is chosen (a layer that sets it replaces the per-API
    /// keys of the layers below; within one layer a per-API key wins for its API).
    pub api_key: Option<String>,
    /// The OpenAI-compatible API base, or `builtin` (`OPENAI_API_BASE`).
    pub openai_api_base: Option<String>,
    /// The OpenAI key (`OPENAI_API_KEY`).
    pub openai_api_key: Option<String>,
    /// Seconds for the response headers and for each read of the stream (the original's 180).
    #[serde(default, with = "crate::duration::serde_seconds")]
    pub read_timeout: Option<f64>,
    /// `--connect-timeout`, seconds.
    #[serde(default, with = "crate::duration::serde_seconds")]
    pub connect_timeout: Option<f64>,
    /// `--first-byte-timeout`, seconds.
    #[serde(default, with = "crate::duration::serde_seconds")]
    pub first_byte_timeout: Option<f64>,
    /// `--idle-timeout`, seconds.
    #[serde(default, with = "crate::duration::serde_seconds")]
    pub idle_timeout: Option<f64>,
    /// `--request-timeout`, seconds.
    #[serde(default, with = "crate::duration::serde_seconds")]
    pub request_timeout: Option<f64>,
    /// `--grace-period`, seconds.
    #[serde(default, with = "crate::duration::serde_seconds")]
    pub grace_period: Option<f64>,
    /// Longest SSE line accepted, bytes.
    pub max_line_bytes: Option<u64>,
    /// Most bytes read from one response.
    pub max_response_bytes: Option<u64>,
    /// The built-in simulator's behaviour.
    pub simulator: Option<SimConfig>,
    /// Keys replacing the top-level ones for the correctness test.
    pub correctness: Option<CorrectnessSection>,
    /// The Anthropic API base, or `builtin` (`ANTHROPIC_BASE_URL`).
    pub anthropic_base_url: Option<String>,
    /// The Anthropic key (`ANTHROPIC_API_KEY`).
    pub anthropic_api_key: Option<String>,
    /// Vertex AI's API base, or `builtin` (`VERTEXAI_BASE_URL`).
    pub vertexai_base_url: Option<String>,
    /// Vertex AI's access token (`GCLOUD_ACCESS_TOKEN`).
    pub vertexai_access_token: Option<String>,
    /// `--header`: a mapping `{Name: value}`, a list of `Name: value` or one such text.
    pub headers: Option<Value>,
    /// `--insecure`.
    pub insecure: Option<bool>,
    /// `--tokenizer`: a `tokenizer.json` path, or a Hugging Face model id.
    pub tokenizer: Option<String>,
    /// `--use-server-token-counts`.
    pub use_server_token_counts: Option<bool>,
    /// `--stream-usage`: on/off or a boolean.
    pub stream_usage: Option<Value>,
    /// `--connection-reuse`: on/off or a boolean.
    pub connection_reuse: Option<Value>,
    /// `--request-rate`, requests/s.
    pub request_rate: Option<f64>,
    /// `--arrival`.
    pub arrival: Option<String>,
    /// `--burstiness`.
    pub burstiness: Option<f64>,
    /// `--max-concurrency`.
    pub max_concurrency: Option<u64>,
    /// `--warmup-requests`.
    pub warmup_requests: Option<u64>,
    /// `--warmup-seconds`.
    #[serde(default, with = "crate::duration::serde_seconds")]
    pub warmup_seconds: Option<f64>,
    /// `--duration`: seconds or text such as `500ms`.
    pub duration: Option<Value>,
    /// `--sweep-concurrency`: a list or `1,2,4`.
    pub sweep_concurrency: Option<Value>,
    /// `--sweep-rates`: a list or `1,5,10`.
    pub sweep_rates: Option<Value>,
    /// `--sweep-max-error-rate`.
    pub sweep_max_error_rate: Option<f64>,
    /// `--sweep-max-e2e-p99`: seconds or text such as `500ms`.
    pub sweep_max_e2e_p99: Option<Value>,
    /// `--slo`: text such as `ttft=500ms,e2e=10s` or a mapping.
    pub slo: Option<Value>,
    /// `--fail-on`: thresholds that fail the run (exit status 3), text `error_rate>0.01,ttft_p99>2s` or a
    /// list of items.
    pub fail_on: Option<Value>,
    /// `--max-mismatch-rate`: the correctness test fails (exit status 3) above this fraction.
    pub max_mismatch_rate: Option<f64>,
    /// `--output-format`: a list or comma-separated names.
    pub output_format: Option<Value>,
    /// `--charts` / `--no-charts`.
    pub charts: Option<bool>,
    /// `--csv` / `--no-csv`.
    pub csv: Option<bool>,
    /// `--quiet`.
    pub quiet: Option<bool>,
    /// `--llmperf-stdout`: print the original LLMPerf's blocks too.
    pub llmperf_stdout: Option<bool>,
    /// `--progress`.
    pub progress: Option<String>,
    /// `--dataset`.
    pub dataset: Option<String>,
    /// `--dataset-order`.
    pub dataset_order: Option<String>,
    /// `--dataset-output-lengths`.
    pub dataset_output_lengths: Option<bool>,
    /// `--shared-prefix-tokens`.
    pub shared_prefix_tokens: Option<u64>,
    /// `--prefix-groups`.
    pub prefix_groups: Option<u64>,
    /// `--multi-turn`.
    pub multi_turn: Option<u64>,
    /// `--replay-timestamps`.
    pub replay_timestamps: Option<bool>,
    /// `--server-metrics [URL]`: a URL, or on/off.
    pub server_metrics: Option<Value>,
    /// `--server-metrics-interval`: seconds or text such as `500ms`.
    pub server_metrics_interval: Option<Value>,
    /// The `capacity` subcommand's search (its flags set these keys).
    pub capacity: Option<crate::capacity::CapacitySection>,
}

/// An error that only a mistake in this crate can cause (a struct whose fields are not keys).
fn internal(e: serde_json::Error) -> Error {
    Error::Config(format!("invalid configuration: {e}"))
}

/// The keys `value` sets: its fields, less those that are `None`.
fn given_keys(value: &impl Serialize) -> Result<Map<String, Value>, Error> {
    match serde_json::to_value(value).map_err(internal)? {
        Value::Object(mut m) => {
            m.retain(|_, v| !v.is_null());
            Ok(m)
        }
        other => Err(Error::Config(format!(
            "invalid configuration: {other} is not a set of keys"
        ))),
    }
}

impl ConfigLayer {
    /// The layer that a struct of key-named fields sets (the command-line structs, the `correctness:`
    /// section): each field that is not `None` sets the key of its name. A field that is not a key is an
    /// error (the flags are tested against the schema, so it is a mistake in this crate).
    pub fn from_fields(fields: &impl Serialize) -> Result<ConfigLayer, Error> {
        serde_json::from_value(Value::Object(given_keys(fields)?)).map_err(internal)
    }

    /// This layer under `over`: every key `over` sets replaces this layer's value; `over`'s `base_url` /
    /// `api_key` also replace this layer's per-API bases / keys (a flag beats the environment whatever the API).
    pub fn overlay(mut self, over: &ConfigLayer) -> Result<ConfigLayer, Error> {
        self.yield_endpoint_to(over);
        let mut merged = given_keys(&self)?;
        for (key, value) in given_keys(over)? {
            match (merged.get_mut(&key), value) {
                // The capacity section is merged key by key, so a flag keeps the file's other keys.
                (Some(Value::Object(low)), Value::Object(high)) if key == "capacity" => {
                    low.extend(high.into_iter().filter(|(_, v)| !v.is_null()));
                }
                (_, value) => {
                    merged.insert(key, value);
                }
            }
        }
        serde_json::from_value(Value::Object(merged)).map_err(internal)
    }

    /// Drops the per-API bases and keys that `over`'s generic `base_url` / `api_key` replace.
    pub(super) fn yield_endpoint_to(&mut self, over: &ConfigLayer) {
        if over.base_url.is_some() {
            self.openai_api_base = None;
            self.anthropic_base_url = None;
            self.vertexai_base_url = None;
        }
        if over.api_key.is_some() {
            self.openai_api_key = None;
            self.anthropic_api_key = None;
            self.vertexai_access_token = None;
        }
    }

    /// For the correctness test: the `correctness:` section's keys replace the top-level ones, and a `model`
    /// or `models` there replaces both top-level keys.
    pub(super) fn with_correctness_section(mut self) -> Result<ConfigLayer, Error> {
        let Some(section) = self.correctness.take() else {
            return Ok(self);
        };
        let section = ConfigLayer::from_fields(&section)?;
        if section.model.is_some() || section.models.is_some() {
            self.model = None;
            self.models = None;
        }
        self.overlay(&section)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_higher_layer_replaces_only_the_keys_it_sets() {
        let file = ConfigLayer {
            model: Some("file".into()),
            seed: Some(1),
            simulator: Some(SimConfig {
                ttft_ms: 5.0,
                ..SimConfig::default()
            }),
            ..ConfigLayer::default()
        };
        let cli = ConfigLayer {
            model: Some("cli".into()),
            headers: Some(serde_json::json!(["X: 1"])),
            ..ConfigLayer::default()
        };
        let merged = file.clone().overlay(&cli).unwrap();
        assert_eq!(merged.model.as_deref(), Some("cli"));
        assert_eq!(merged.seed, Some(1));
        assert_eq!(merged.simulator, file.simulator);
        assert_eq!(merged.headers, cli.headers);
        assert_eq!(ConfigLayer::default().overlay(&file).unwrap(), file);
    }

    #[test]
    fn every_section_key_is_a_top_level_key() {
        let section = CorrectnessSection {
            model: Some("m".into()),
            models: Some(vec!["a".into()]),
            num_concurrent_requests: Some(1),
            timeout: Some(1.0),
            max_num_completed_requests: Some(1),
            additional_sampling_params: Some(Value::from("{}")),
            results_dir: Some("r".into()),
            llm_api: Some("openai".into()),
            metadata: Some(Value::from("a=1")),
            seed: Some(1),
            max_mismatch_rate: Some(0.1),
        };
        let layer = ConfigLayer::from_fields(&section).unwrap();
        assert_eq!(given_keys(&layer).unwrap().len(), 11);
        let base = ConfigLayer {
            models: Some(vec!["top".into()]),
            seed: Some(2),
            correctness: Some(CorrectnessSection {
                model: Some("small".into()),
                ..CorrectnessSection::default()
            }),
            ..ConfigLayer::default()
        };
        let c = base.with_correctness_section().unwrap();
        assert_eq!(
            (c.model.as_deref(), c.models, c.seed),
            (Some("small"), None, Some(2))
        );
    }

    #[test]
    fn settings_config_yml_documents_every_key() {
        let keys = match serde_json::to_value(ConfigLayer::default()).unwrap() {
            Value::Object(m) => m.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
            other => panic!("{other}"),
        };
        assert!(keys.len() > 60, "{keys:?}");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/settings/config.yml");
        let text = std::fs::read_to_string(path).unwrap();
        let missing: Vec<&String> = keys
            .iter()
            .filter(|k| !text.contains(&format!("{k}:")))
            .collect();
        assert!(
            missing.is_empty(),
            "settings/config.yml does not show {missing:?}"
        );
    }
}
