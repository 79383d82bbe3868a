//! The load and correctness tests' flags. Their field names are the configuration keys they set: the flags given
//! become a [`ConfigLayer`] through serde ([`ConfigLayer::from_fields`]), the top layer over the config file and
//! the environment, so no key is written twice. The flags the two tests share are declared once, in flattened
//! groups; where the correctness test's help says something else, it says so with `mut_arg`.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::{Error, duration};

use crate::settings::{ConfigLayer, Settings, SettingsBuilder, on_off};

/// The load test's flags (`token_benchmark_ray.py`).
#[derive(Debug, Default, Clone, Args, Serialize)]
pub struct LoadTestArgs {
    /// YAML config file: every flag below as a key (snake_case), plus `models`, `token_confs`,
    /// `openai_api_base`, `openai_api_key` and `simulator` (see settings/config.yml).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The model to query, sent verbatim as "model" [required unless the config names `models`].
    #[arg(long)]
    pub model: Option<String>,
    /// Mean number of tokens to send in the prompt [default: 550].
    #[arg(long, value_name = "N")]
    pub mean_input_tokens: Option<u64>,
    /// Standard deviation of the number of prompt tokens [default: 150].
    #[arg(long, value_name = "N")]
    pub stddev_input_tokens: Option<u64>,
    /// Mean number of tokens to generate (max_tokens) [default: 150].
    #[arg(long, value_name = "N")]
    pub mean_output_tokens: Option<u64>,
    /// Standard deviation of the number of tokens to generate [default: 80].
    #[arg(long, value_name = "N")]
    pub stddev_output_tokens: Option<u64>,
    /// The run: concurrency, limits, request extras, results, API, metadata, seed.
    #[command(flatten)]
    #[serde(flatten)]
    pub run: RunArgs,
    /// Open loop: send requests at this mean rate (requests/s) instead of a closed loop.
    #[arg(long, value_name = "R", help_heading = "Load modes")]
    pub request_rate: Option<f64>,
    /// Arrival process with --request-rate: constant, poisson or gamma [default: poisson].
    #[arg(long, value_name = "KIND", help_heading = "Load modes")]
    pub arrival: Option<String>,
    /// Shape of gamma arrivals: below 1 burstier than Poisson, above 1 smoother [default: 1].
    #[arg(long, value_name = "K", help_heading = "Load modes")]
    pub burstiness: Option<f64>,
    /// Open loop: at most this many requests in flight; later ones wait (counted, never dropped).
    #[arg(long, value_name = "N", help_heading = "Load modes")]
    pub max_concurrency: Option<u64>,
    /// Send N warm-up requests first, on top of --max-num-completed-requests, and leave them out of the
    /// statistics (they stay, marked, in the per-request log).
    #[arg(long, value_name = "N", help_heading = "Load modes")]
    pub warmup_requests: Option<u64>,
    /// Leave requests due in the first S seconds out of the statistics (seconds, or 500ms, 1m).
    #[arg(long, value_name = "DURATION", value_parser = duration::seconds_arg, help_heading = "Load modes")]
    pub warmup_seconds: Option<f64>,
    /// Run a steady state this long: seconds, or 30s, 5m, 1h (replaces --timeout; requests are not capped
    /// unless --max-num-completed-requests is given; prompts come from a pool of 1000, reused).
    #[arg(long, value_name = "DURATION", value_parser = duration_text, help_heading = "Load modes")]
    pub duration: Option<String>,
    /// Sweep: one run per concurrency, e.g. 1,2,4,8 (each writes its files, plus a sweep summary).
    #[arg(long, value_name = "LIST", help_heading = "Load modes")]
    pub sweep_concurrency: Option<String>,
    /// Sweep: one open-loop run per request rate, e.g. 1,5,10.
    #[arg(long, value_name = "LIST", help_heading = "Load modes")]
    pub sweep_rates: Option<String>,
    /// Stop a sweep after a step whose error rate is above this fraction.
    #[arg(long, value_name = "F", help_heading = "Load modes")]
    pub sweep_max_error_rate: Option<f64>,
    /// Stop a sweep after a step whose p99 end-to-end latency (from the scheduled start) is above this
    /// (seconds, or 500ms, 2s).
    #[arg(long, value_name = "DURATION", value_parser = duration_text, help_heading = "Load modes")]
    pub sweep_max_e2e_p99: Option<String>,
    /// Goodput targets, e.g. ttft=500ms,tpot=50ms,e2e=10s (any subset).
    #[arg(long, value_name = "TARGETS", help_heading = "Load modes")]
    pub slo: Option<String>,
    /// Fail the run (exit status 3) when any of these holds at its end, k6-style, e.g.
    /// 'error_rate>0.01,ttft_p99>2s,goodput<0.9': NAME then >, >=, < or <=, then a limit (2s, 500ms, 0.01,
    /// 1%). Names: error_rate, errors, completed, goodput, goodput_rate, output_throughput, input_throughput,
    /// request_throughput, or ttft/itl/tpot/e2e/… with _p50/_p90/_p95/_p99/_p999/_mean/_min/_max (see
    /// docs/exit-codes.md).
    #[arg(long, value_name = "EXPR", help_heading = "Exit status")]
    pub fail_on: Option<String>,
    /// Prompts from this file instead of sonnet lines: JSON Lines ({"prompt": ...} or {"messages": [...]} per
    /// line, optional max_tokens, id, timestamp) or ShareGPT JSON (the human turns).
    #[arg(long, value_name = "PATH", help_heading = "Workloads")]
    pub dataset: Option<String>,
    /// Order of the dataset's prompts: sequential or shuffle (seeded by --seed) [default: sequential].
    #[arg(long, value_name = "ORDER", help_heading = "Workloads")]
    pub dataset_order: Option<String>,
    /// ShareGPT: max_tokens = the token count of the recorded gpt answer (else sampled as usual).
    #[arg(long, help_heading = "Workloads")]
    #[serde(skip_serializing_if = "is_false")]
    pub dataset_output_lengths: bool,
    /// Every prompt starts with the same N-token prefix built from the corpus (for prefix caching).
    #[arg(long, value_name = "N", help_heading = "Workloads")]
    pub shared_prefix_tokens: Option<u64>,
    /// With --shared-prefix-tokens: G different prefixes, request i using prefix i mod G [default: 1].
    #[arg(long, value_name = "G", help_heading = "Workloads")]
    pub prefix_groups: Option<u64>,
    /// Conversations of T turns: turn k carries the previous turns and the model's replies; concurrency
    /// counts conversations; --max-num-completed-requests counts conversations [default: 1].
    #[arg(long, value_name = "T", help_heading = "Workloads")]
    pub multi_turn: Option<u64>,
    /// Send each dataset line at its "timestamp" (seconds from the start), on the open-loop schedule.
    #[arg(long, help_heading = "Workloads")]
    #[serde(skip_serializing_if = "is_false")]
    pub replay_timestamps: bool,
    /// This process's shard, 0-based, when the run is split with --shard-count [default: $JOB_COMPLETION_INDEX,
    /// else 0].
    #[arg(long, value_name = "I")]
    pub shard_index: Option<u64>,
    /// Split the run into N shards (e.g. the pods of an Indexed Job): this process sends the requests whose
    /// index is ≡ shard index (mod N), with its share of the concurrency; files get a _shard-I-of-N suffix
    /// [default: 1].
    #[arg(long, value_name = "N")]
    pub shard_count: Option<u64>,
    /// Wait until this wall-clock time before the first request (after all setup), so that the shards of a
    /// split run start together: RFC 3339 (2026-05-01T12:00:00Z) or Unix seconds; a time already past starts
    /// at once, with a warning [default: start at once].
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
    /// Endpoint, key, headers, TLS verification and the tokenizer.
    #[command(flatten)]
    #[serde(flatten)]
    pub client: ClientArgs,
    /// Also write the server's usage counts into the llmperf keys (number_output_tokens and what derives from
    /// it) where it sends one, instead of the Llama tokenizer's count [default: off; the table and the
    /// standard metrics use the server's counts anyway].
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub use_server_token_counts: bool,
    /// Reports beside the llmperf JSON files (always written): any of table (stdout), csv, charts (SVG), html,
    /// all, none, comma-separated [default: table].
    #[arg(long, value_name = "LIST", help_heading = "Reports")]
    pub output_format: Option<String>,
    /// Write SVG charts into the results directory (latency CDF, ITL histogram, timeline; sweep curve).
    #[arg(long, overrides_with = "no_charts", help_heading = "Reports")]
    #[serde(skip)]
    pub charts: bool,
    /// Do not write charts (overrides the config file).
    #[arg(long, help_heading = "Reports")]
    #[serde(skip)]
    pub no_charts: bool,
    /// Write the per-request records and the summary as CSV into the results directory.
    #[arg(long, overrides_with = "no_csv", help_heading = "Reports")]
    #[serde(skip)]
    pub csv: bool,
    /// Do not write CSV files (overrides the config file).
    #[arg(long, help_heading = "Reports")]
    #[serde(skip)]
    pub no_csv: bool,
    /// Progress as a plain line every few seconds instead of a bar.
    #[arg(long, help_heading = "Reports")]
    #[serde(skip_serializing_if = "is_false")]
    pub quiet: bool,
    /// Live progress on stderr: auto (a bar on a terminal, plain lines otherwise or with NO_COLOR), bar,
    /// plain, off [default: auto].
    #[arg(long, value_name = "MODE", help_heading = "Reports")]
    pub progress: Option<String>,
    /// Per-request timeouts and the grace period.
    #[command(flatten)]
    #[serde(flatten)]
    pub timeouts: TimeoutArgs,
    /// Connection reuse and stream usage.
    #[command(flatten)]
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// Scrape the server's Prometheus metrics during each run (vLLM, SGLang, TGI, llama.cpp names known):
    /// from URL, or without one from the endpoint's scheme://host:port/metrics; writes B_server_metrics.jsonl
    /// and server keys in the summary (see docs/server-metrics.md) [default: off].
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "auto",
          help_heading = "Server metrics")]
    pub server_metrics: Option<String>,
    /// Time between two scrapes, e.g. 1s or 500ms [default: 1s].
    #[arg(long, value_name = "DURATION", help_heading = "Server metrics")]
    pub server_metrics_interval: Option<String>,
}

/// The correctness test's flags (`llm_correctness.py`), plus `--config` and `--seed`.
///
/// The config file's top-level keys apply, and a `correctness:` section overrides them for this test.
#[derive(Debug, Default, Clone, Args, Serialize)]
#[command(
    mut_arg("timeout", |a| a.help("No new request is started after this long (seconds, or 30s, 5m, 1h) [default: 90]")),
    mut_arg("max_num_completed_requests", |a| {
        a.help("Number of requests to send (and record) in all [default: 50]")
    }),
    mut_arg("additional_sampling_params", |a| {
        a.help(r#"JSON object merged into every request body after {"temperature": 0.0} [default: {}]"#)
    }),
    mut_arg("seed", |a| a.help("Seed of the number draws [default: 11111]"))
)]
pub struct CorrectnessArgs {
    /// YAML config file (see settings/config.yml); its `correctness:` section overrides the top-level keys.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The model to query [required unless the config names `models`].
    #[arg(long)]
    pub model: Option<String>,
    /// The run: concurrency, limits, request extras, results, API, metadata, seed.
    #[command(flatten)]
    #[serde(flatten)]
    pub run: RunArgs,
    /// Endpoint, key, headers, TLS verification and the tokenizer.
    #[command(flatten)]
    #[serde(flatten)]
    pub client: ClientArgs,
    /// Per-request timeouts and the grace period.
    #[command(flatten)]
    #[serde(flatten)]
    pub timeouts: TimeoutArgs,
    /// Connection reuse and stream usage.
    #[command(flatten)]
    #[serde(flatten)]
    pub connection: ConnectionArgs,
    /// Fail (exit status 3) when more than this fraction of the answers lack their number, e.g. 0.05
    /// [default: no limit].
    #[arg(long, value_name = "F", help_heading = "Exit status")]
    pub max_mismatch_rate: Option<f64>,
}

/// The run's size and what goes with it, shared by the load and correctness tests.
#[derive(Debug, Default, Clone, Args, Serialize)]
pub struct RunArgs {
    /// Number of requests in flight at once (closed loop) [default: 10].
    #[arg(long, value_name = "N")]
    pub num_concurrent_requests: Option<u64>,
    /// No new request is started after this long (seconds, or 500ms, 30s, 5m, 1h); requests in flight are
    /// awaited [default: 90].
    #[arg(long, value_name = "DURATION", value_parser = duration::seconds_arg)]
    pub timeout: Option<f64>,
    /// Number of requests to send (and record) in all [default: 10].
    #[arg(long, value_name = "N")]
    pub max_num_completed_requests: Option<u64>,
    /// JSON object merged into every request body, e.g. '{"temperature": 0.7}' [default: {}].
    #[arg(long, value_name = "JSON")]
    pub additional_sampling_params: Option<String>,
    /// Directory for the result files; empty writes none [default: ""].
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<String>,
    /// The API to query [default: openai]: openai (chat completions, any OpenAI-compatible endpoint),
    /// openai-completions (legacy /v1/completions with a plain prompt), anthropic (native Messages API;
    /// ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL), vertexai (Vertex AI's OpenAI-compatible endpoint;
    /// GCLOUD_ACCESS_TOKEN, GCLOUD_PROJECT_ID, GCLOUD_REGION).
    #[arg(long, value_name = "API")]
    pub llm_api: Option<String>,
    /// Extra keys for the summary, as key=value pairs separated by commas.
    #[arg(long, value_name = "K=V,...")]
    pub metadata: Option<String>,
    /// Seed of the prompt and length draws; the same seed gives the original's prompts [default: 11111].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

/// Where requests go, how they are sent and counted, shared by the load and correctness tests.
#[derive(Debug, Default, Clone, Args, Serialize)]
pub struct ClientArgs {
    /// API base URL of the chosen --llm-api, e.g. http://localhost:8000/v1 (or `builtin`, the built-in
    /// simulator); over OPENAI_API_BASE / ANTHROPIC_BASE_URL / VERTEXAI_BASE_URL and the config file.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// API key of the chosen --llm-api (OpenAI and Vertex: Bearer; Anthropic: x-api-key); over
    /// OPENAI_API_KEY / ANTHROPIC_API_KEY / GCLOUD_ACCESS_TOKEN and the config file. Never printed; on a
    /// shared machine prefer the environment (other users can see a process's flags).
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<ApiKeyArg>,
    /// Extra request header 'Name: value', for gateways (repeatable; replaces the config's `headers`, and a
    /// header the API sets itself, e.g. Authorization).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Do not verify TLS certificates (self-signed test endpoints only; prints a warning) [default: verify].
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// Count tokens with this Hugging Face tokenizer instead of the embedded Llama tokenizer (prompt budget
    /// and output counts): a tokenizer.json path, or a model id such as meta-llama/Llama-2-7b-hf, looked up in
    /// the Hugging Face cache (HF_HOME) and fetched into it unless HF_HUB_OFFLINE is set.
    #[arg(long, value_name = "PATH|ID")]
    pub tokenizer: Option<String>,
}

/// How requests use connections and what they ask the server for, shared by the load and correctness tests.
#[derive(Debug, Default, Clone, Args, Serialize)]
pub struct ConnectionArgs {
    /// Keep connections open between requests [default: on]; off opens a new connection for every request, as
    /// the original llmperf does (each record's connect_s then holds the connect time).
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub connection_reuse: Option<bool>,
    /// Ask OpenAI-shaped APIs for token usage (stream_options.include_usage), so the table and the standard
    /// metrics use the server's counts [default: on]; a server that rejects the field is asked again without
    /// it.
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub stream_usage: Option<bool>,
}

/// The per-request timeouts and the shutdown grace period, shared by the load and correctness tests. Each takes
/// seconds or a duration with a unit (500ms, 30s, 5m, 1h).
#[derive(Debug, Default, Clone, Args, Serialize)]
pub struct TimeoutArgs {
    /// TCP/TLS connect timeout, seconds (error kind connect_timeout) [default: 30].
    #[arg(long, value_name = "DURATION", value_parser = duration::seconds_arg, help_heading = "Timeouts")]
    pub connect_timeout: Option<f64>,
    /// From a request's start to the response headers, seconds (error kind first_byte_timeout)
    /// [default: read_timeout, 180].
    #[arg(long, value_name = "DURATION", value_parser = duration::seconds_arg, help_heading = "Timeouts")]
    pub first_byte_timeout: Option<f64>,
    /// Longest silence between two reads of a stream, seconds (error kind idle_timeout) [default: read_timeout,
    /// 180].
    #[arg(long, value_name = "DURATION", value_parser = duration::seconds_arg, help_heading = "Timeouts")]
    pub idle_timeout: Option<f64>,
    /// Longest a whole request may take, seconds (error kind request_timeout) [default: no limit].
    #[arg(long, value_name = "DURATION", value_parser = duration::seconds_arg, help_heading = "Timeouts")]
    pub request_timeout: Option<f64>,
    /// After --timeout, or a first Ctrl-C / SIGTERM, how long requests in flight may finish before they are
    /// recorded as cancelled, seconds [default: 20].
    #[arg(long, value_name = "DURATION", value_parser = duration::seconds_arg, help_heading = "Timeouts")]
    pub grace_period: Option<f64>,
}

/// `--api-key`'s value: `Debug` does not show it (the argument structs are `Debug`).
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct ApiKeyArg(String);

impl std::str::FromStr for ApiKeyArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ApiKeyArg(s.to_string()))
    }
}

impl std::fmt::Debug for ApiKeyArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeyArg(***)")
    }
}

/// A duration flag kept as text (its config key takes text too): checked here, so clap's error names the flag.
fn duration_text(text: &str) -> Result<String, String> {
    duration::seconds_arg(text).map(|_| text.to_string())
}

/// A switch not given sets no key (serde skips it), so it leaves the config file's value alone.
fn is_false(b: &bool) -> bool {
    !*b
}

impl LoadTestArgs {
    /// The flags given, as the top configuration layer.
    pub fn to_config(&self) -> Result<ConfigLayer, Error> {
        let mut layer = ConfigLayer::from_fields(self)?;
        layer.charts = flag(self.charts, self.no_charts);
        layer.csv = flag(self.csv, self.no_csv);
        Ok(layer)
    }

    /// The load test's settings: the `--config` file, `env` and these flags, layered and validated.
    pub fn settings(&self, env: &HashMap<String, String>) -> Result<Settings, Error> {
        with_file(Settings::builder(), &self.config)
            .env(env.clone())
            .layer(&self.to_config()?)?
            .build()
    }
}

impl CorrectnessArgs {
    /// The flags given, as the top configuration layer.
    pub fn to_config(&self) -> Result<ConfigLayer, Error> {
        ConfigLayer::from_fields(self)
    }

    /// The correctness test's settings: the `--config` file (its `correctness:` section over its top-level
    /// keys), `env` and these flags, layered and validated.
    pub fn settings(&self, env: &HashMap<String, String>) -> Result<Settings, Error> {
        with_file(Settings::builder().correctness(), &self.config)
            .env(env.clone())
            .layer(&self.to_config()?)?
            .build()
    }
}

/// The builder, with `--config`'s file if given.
fn with_file(b: SettingsBuilder, config: &Option<PathBuf>) -> SettingsBuilder {
    match config {
        Some(path) => b.config_file(path.clone()),
        None => b,
    }
}

impl Settings {
    /// The load test's settings from its flags (as the binary runs): [`LoadTestArgs::settings`].
    pub fn load(args: &LoadTestArgs, env: &HashMap<String, String>) -> Result<Settings, Error> {
        args.settings(env)
    }

    /// The correctness test's settings from its flags: [`CorrectnessArgs::settings`].
    pub fn load_correctness(
        args: &CorrectnessArgs,
        env: &HashMap<String, String>,
    ) -> Result<Settings, Error> {
        args.settings(env)
    }
}

/// `--charts` / `--no-charts`, `--csv` / `--no-csv`: whichever was given (the last, clap keeps one).
fn flag(on: bool, off: bool) -> Option<bool> {
    if on {
        Some(true)
    } else if off {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    /// Each flag of `subcommand` (none: the load test), given alone with the value "1", as a layer.
    fn each_flag(subcommand: Option<&str>) -> Vec<(String, ConfigLayer)> {
        let root = Cli::command();
        let cmd = match subcommand {
            Some(name) => root.find_subcommand(name).unwrap().clone(),
            None => root,
        };
        let mut layers = Vec::new();
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if ["config", "help", "version"].contains(&long) {
                continue;
            }
            let mut argv: Vec<String> = vec!["llmperf-actors".into()];
            argv.extend(subcommand.map(String::from));
            argv.push(format!("--{long}"));
            if arg.get_action().takes_values() {
                argv.push("1".into());
            }
            let layer = match Cli::try_parse_from(&argv).unwrap().command {
                Some(Command::Correctness(c)) => c.to_config(),
                _ => Cli::try_parse_from(&argv).unwrap().load.to_config(),
            };
            layers.push((long.to_string(), layer.unwrap()));
        }
        layers
    }

    #[test]
    fn every_flag_sets_a_key_of_the_schema() {
        for subcommand in [None, Some("correctness")] {
            let layers = each_flag(subcommand);
            assert!(layers.len() > 10, "{subcommand:?}");
            for (flag, layer) in layers {
                assert_ne!(layer, ConfigLayer::default(), "--{flag} sets no key");
            }
        }
    }

    #[test]
    fn flags_win_over_the_environment_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.yml");
        std::fs::write(
            &cfg,
            "openai_api_base: builtin\nmodels: [big]\nnum_concurrent_requests: 8\ncharts: true\n\
             correctness: {model: small, num_concurrent_requests: 2}\n",
        )
        .unwrap();
        let env = HashMap::from([("LLMPERF_NUM_CONCURRENT_REQUESTS".into(), "4".into())]);
        let parse = |args: &[&str]| {
            let argv = ["llmperf-actors"].iter().chain(args);
            Cli::try_parse_from(argv).unwrap()
        };
        let cfg = cfg.to_str().unwrap();
        let s = parse(&["--config", cfg]).load.settings(&env).unwrap();
        assert_eq!(
            (s.models[0].as_str(), s.num_concurrent_requests),
            ("big", 4)
        );
        assert!(s.report.charts);
        let cli = parse(&[
            "--config",
            cfg,
            "--num-concurrent-requests",
            "5",
            "--model",
            "m",
            "--no-charts",
        ]);
        let s = cli.load.settings(&env).unwrap();
        assert_eq!((s.models[0].as_str(), s.num_concurrent_requests), ("m", 5));
        assert!(!s.report.charts);
        let Some(Command::Correctness(c)) = parse(&["correctness", "--config", cfg]).command else {
            panic!("not the correctness subcommand")
        };
        let s = c.settings(&env).unwrap();
        assert_eq!(
            (s.models[0].as_str(), s.num_concurrent_requests),
            ("small", 2)
        );
        let argv = [
            "correctness",
            "--config",
            cfg,
            "--model",
            "m",
            "--num-concurrent-requests",
            "3",
        ];
        let Some(Command::Correctness(c)) = parse(&argv).command else {
            panic!("not the correctness subcommand")
        };
        let s = c.settings(&env).unwrap();
        assert_eq!((s.models[0].as_str(), s.num_concurrent_requests), ("m", 3));
    }
}
