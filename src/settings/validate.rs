//! Validation: the merged [`ConfigLayer`] becomes typed [`Settings`], once, with errors that name the key and
//! the flag, and the fix.

use std::collections::HashMap;

use super::endpoint::{Bases, parse_headers, resolve_endpoint};
use super::values::{
    at_least_one, json_object, on_off_key, parse_metadata, report_outputs, seconds,
};
use super::*;

impl ConfigLayer {
    /// Checks every key and applies the defaults (the correctness test's own default of 50 requests); the
    /// `correctness:` section has been applied already.
    pub(super) fn validate(
        self,
        mode: Mode,
        env: &HashMap<String, String>,
    ) -> Result<Settings, Error> {
        if mode == Mode::Correctness && self.shard_count.is_some_and(|n| n > 1) {
            return Err(Error::Config(
                "shard_count applies to the load test only; remove it (or set it to 1) for \
                 `llmperf-actors correctness`"
                    .into(),
            ));
        }
        let default_max = match mode {
            Mode::LoadTest => defaults::MAX_NUM_COMPLETED_REQUESTS,
            Mode::Correctness => defaults::CORRECTNESS_MAX_NUM_COMPLETED_REQUESTS,
        };
        self.validate_with(default_max, env)
    }

    fn validate_with(
        mut self,
        default_max: u64,
        env: &HashMap<String, String>,
    ) -> Result<Settings, Error> {
        // First, so that a bad value is the error reported whatever else is missing.
        let start_at = match self.start_at.take() {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(crate::start_at::parse(&s)?),
            Some(other) => Some(crate::start_at::parse(&other.to_string())?),
        };
        let load = self.load_settings()?;
        let gates = self.gates(&load)?;
        let models = match (self.model.take(), self.models.take()) {
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
        let confs = self.token_confs.take().unwrap_or_default();
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
        let headers = parse_headers(self.headers.take())?;
        let stream_usage = on_off_key("stream_usage", self.stream_usage.take(), true)?;
        if !stream_usage && self.use_server_token_counts == Some(true) {
            return Err(Error::Config(
                "use_server_token_counts needs the server's usage, which stream_usage: off stops asking for; \
                 drop one of --use-server-token-counts and --stream-usage off"
                    .into(),
            ));
        }
        let (endpoint, api_key) = resolve_endpoint(
            llm_api,
            &Bases {
                openai: self.openai_api_base.take().or(self.base_url.clone()),
                openai_key: self.openai_api_key.take().or(self.api_key.clone()),
                anthropic: self.anthropic_base_url.take().or(self.base_url.clone()),
                anthropic_key: self.anthropic_api_key.take().or(self.api_key.clone()),
                vertexai: self.vertexai_base_url.take().or(self.base_url.clone()),
                vertexai_key: self.vertexai_access_token.take().or(self.api_key.clone()),
            },
            &headers,
            env,
        )?;
        // A path, or a Hugging Face model id resolved from the cache (or fetched into it).
        let tokenizer = match self.tokenizer.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(crate::tokenizer::hub::resolve(t, env).map_err(Error::Config)?),
        };
        let results_dir = match self.results_dir.take() {
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
        let workload = self.workload_settings(&load, shard)?;
        Ok(Settings {
            workload,
            load,
            gates,
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
            // A section without an SLO cannot run (the capacity subcommand says so); a load test ignores it.
            capacity: (self.capacity.as_ref())
                .filter(|c| c.slo.is_some())
                .map(|c| c.validated())
                .transpose()?,
            shard,
            start_at,
            headers,
            insecure: self.insecure.unwrap_or(false),
            tokenizer,
            use_server_token_counts: self.use_server_token_counts.unwrap_or(false),
            stream_usage,
            connection_reuse: on_off_key("connection_reuse", self.connection_reuse, true)?,
            report: report_outputs(
                self.output_format,
                self.charts,
                self.csv,
                self.quiet,
                self.progress,
                self.llmperf_stdout,
            )?,
            server_metrics: crate::server_metrics::settings(
                self.server_metrics,
                self.server_metrics_interval,
            )?,
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
