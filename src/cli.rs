//! Command-line interface: the original's flags (spec §2) plus `--config` and `--seed`, and the `serve-sim`
//! subcommand.
//!
//! Flags have no clap defaults on purpose: a flag given on the command line overrides the config file and the
//! environment, and a flag not given leaves them alone. The defaults live in `settings`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// LLMPerf-compatible load test for LLM APIs, built on actix actors.
///
/// Runs a token throughput and latency benchmark: streaming chat-completion requests with prompts sampled from
/// Shakespeare's sonnets, at a fixed concurrency, writing LLMPerf's result files. Settings come from built-in
/// defaults < the --config file < environment (OPENAI_API_BASE, OPENAI_API_KEY, LLMPERF_KEY for any config key) < these flags.
#[derive(Debug, Parser)]
#[command(
    name = "llmperf-actors",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub load: LoadTestArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the correctness test: ask the model to turn number words into digits and count mismatches.
    Correctness(CorrectnessArgs),
    /// Serve the built-in OpenAI-compatible streaming simulator (for demos and tests; loopback by default).
    ServeSim(SimArgs),
    /// Merge the per-request logs of a sharded run's shards into one LLMPerf summary and individual-responses
    /// file, exactly as if one process had run it.
    Merge(MergeArgs),
    /// Rebuild the summary table, CSV files and charts from a results directory (also a crashed run's
    /// per-request log), optionally compared with a baseline results directory.
    Report(ReportArgs),
}

/// `merge` flags.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Directories holding the shards' files (`<base>_shard-I-of-N_run.json` and `..._requests.jsonl`); every
    /// run found is merged.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Directory for the merged files.
    #[arg(long, value_name = "DIR", required = true)]
    pub results_dir: PathBuf,
}

/// The load test's flags (`token_benchmark_ray.py`).
#[derive(Debug, Default, Clone, Args)]
pub struct LoadTestArgs {
    /// YAML config file: every flag below as a key (snake_case), plus `models`, `token_confs`,
    /// `openai_api_base`, `openai_api_key` and `simulator` (see settings/config.yml).
    #[arg(long, value_name = "FILE")]
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
    /// Number of requests in flight at once (closed loop) [default: 10].
    #[arg(long, value_name = "N")]
    pub num_concurrent_requests: Option<u64>,
    /// Seconds after which no new request is started; requests in flight are awaited [default: 90].
    #[arg(long, value_name = "SECONDS")]
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
    /// Leave the first N requests out of the statistics (they stay, marked, in the per-request log).
    #[arg(long, value_name = "N", help_heading = "Load modes")]
    pub warmup_requests: Option<u64>,
    /// Leave requests due in the first S seconds out of the statistics.
    #[arg(long, value_name = "S", help_heading = "Load modes")]
    pub warmup_seconds: Option<f64>,
    /// Run a steady state for S seconds (replaces --timeout; requests are not capped unless
    /// --max-num-completed-requests is given; prompts come from a pool of 1000, reused).
    #[arg(long, value_name = "S", help_heading = "Load modes")]
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
    /// Stop a sweep after a step whose p99 end-to-end latency (from the scheduled start) is above this.
    #[arg(long, value_name = "DURATION", help_heading = "Load modes")]
    pub sweep_max_e2e_p99: Option<String>,
    /// Goodput targets, e.g. ttft=500ms,tpot=50ms,e2e=10s (any subset).
    #[arg(long, value_name = "TARGETS", help_heading = "Load modes")]
    pub slo: Option<String>,
    /// Prompts from this file instead of sonnet lines: JSON Lines ({"prompt": ...} or {"messages": [...]} per
    /// line, optional max_tokens, id, timestamp) or ShareGPT JSON (the human turns).
    #[arg(long, value_name = "PATH", help_heading = "Workloads")]
    pub dataset: Option<String>,
    /// Order of the dataset's prompts: sequential or shuffle (seeded by --seed) [default: sequential].
    #[arg(long, value_name = "ORDER", help_heading = "Workloads")]
    pub dataset_order: Option<String>,
    /// ShareGPT: max_tokens = the token count of the recorded gpt answer (else sampled as usual).
    #[arg(long, help_heading = "Workloads")]
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
    /// Extra request header 'Name: value', for gateways (repeatable; replaces the config's `headers`, and a
    /// header the API sets itself, e.g. Authorization).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// Do not verify TLS certificates (self-signed test endpoints only; prints a warning) [default: verify].
    #[arg(long)]
    pub insecure: bool,
    /// Count tokens with this Hugging Face tokenizer.json instead of the embedded Llama tokenizer (prompt
    /// budget and output counts).
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<String>,
    /// Also write the server's usage counts into the llmperf keys (number_output_tokens and what derives from
    /// it) where it sends one, instead of the Llama tokenizer's count [default: off; the table and the
    /// standard metrics use the server's counts anyway].
    #[arg(long)]
    pub use_server_token_counts: bool,
    /// Reports beside the llmperf JSON files (always written): any of table (stdout), csv, charts (SVG), all,
    /// none, comma-separated [default: table].
    #[arg(long, value_name = "LIST", help_heading = "Reports")]
    pub output_format: Option<String>,
    /// Write SVG charts into the results directory (latency CDF, ITL histogram, timeline; sweep curve).
    #[arg(long, overrides_with = "no_charts", help_heading = "Reports")]
    pub charts: bool,
    /// Do not write charts (overrides the config file).
    #[arg(long, help_heading = "Reports")]
    pub no_charts: bool,
    /// Write the per-request records and the summary as CSV into the results directory.
    #[arg(long, overrides_with = "no_csv", help_heading = "Reports")]
    pub csv: bool,
    /// Do not write CSV files (overrides the config file).
    #[arg(long, help_heading = "Reports")]
    pub no_csv: bool,
    /// Progress as a plain line every few seconds instead of a bar.
    #[arg(long, help_heading = "Reports")]
    pub quiet: bool,
    /// Live progress on stderr: auto (a bar on a terminal, plain lines otherwise or with NO_COLOR), bar,
    /// plain, off [default: auto].
    #[arg(long, value_name = "MODE", help_heading = "Reports")]
    pub progress: Option<String>,
    /// Per-request timeouts and the grace period.
    #[command(flatten)]
    pub timeouts: TimeoutArgs,
    /// Connection reuse and stream usage.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// How requests use connections and what they ask the server for, shared by the load and correctness tests.
#[derive(Debug, Default, Clone, Args)]
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

/// `on`/`off` (also true/false, yes/no, 1/0).
pub fn on_off(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("'{s}' is not on or off")),
    }
}

/// The per-request timeouts and the shutdown grace period, shared by the load and correctness tests.
#[derive(Debug, Default, Clone, Args)]
pub struct TimeoutArgs {
    /// TCP/TLS connect timeout, seconds (error kind connect_timeout) [default: 30].
    #[arg(long, value_name = "SECONDS", help_heading = "Timeouts")]
    pub connect_timeout: Option<f64>,
    /// From a request's start to the response headers, seconds (error kind first_byte_timeout)
    /// [default: read_timeout, 180].
    #[arg(long, value_name = "SECONDS", help_heading = "Timeouts")]
    pub first_byte_timeout: Option<f64>,
    /// Longest silence between two reads of a stream, seconds (error kind idle_timeout) [default: read_timeout,
    /// 180].
    #[arg(long, value_name = "SECONDS", help_heading = "Timeouts")]
    pub idle_timeout: Option<f64>,
    /// Longest a whole request may take, seconds (error kind request_timeout) [default: no limit].
    #[arg(long, value_name = "SECONDS", help_heading = "Timeouts")]
    pub request_timeout: Option<f64>,
    /// After --timeout, or a first Ctrl-C / SIGTERM, how long requests in flight may finish before they are
    /// recorded as cancelled, seconds [default: 20].
    #[arg(long, value_name = "SECONDS", help_heading = "Timeouts")]
    pub grace_period: Option<f64>,
}

impl LoadTestArgs {
    /// `--charts` / `--no-charts`, if either was given.
    pub fn charts_flag(&self) -> Option<bool> {
        flag(self.charts, self.no_charts)
    }

    /// `--csv` / `--no-csv`, if either was given.
    pub fn csv_flag(&self) -> Option<bool> {
        flag(self.csv, self.no_csv)
    }
}

fn flag(on: bool, off: bool) -> Option<bool> {
    if on {
        Some(true)
    } else if off {
        Some(false)
    } else {
        None
    }
}

/// `report` flags.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A results directory a load test wrote (its `*_requests.jsonl`, `*_run.json`, `*_summary.json`).
    #[arg(value_name = "RESULTS_DIR")]
    pub dir: PathBuf,
    /// Compare with the runs in this results directory: the change per metric.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Reports to rebuild: any of table, csv, charts, all, none [default: all].
    #[arg(long, value_name = "LIST")]
    pub output_format: Option<String>,
    /// Write the CSV files and charts here instead of RESULTS_DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `serve-sim` flags.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Time to first token, in milliseconds.
    #[arg(long, default_value_t = 100.0)]
    pub ttft_ms: f64,
    /// Delay between chunks, in milliseconds.
    #[arg(long, default_value_t = 10.0)]
    pub itl_ms: f64,
    /// Tokens per streamed chunk.
    #[arg(long, default_value_t = 1)]
    pub tokens_per_chunk: u32,
    /// Fixed output length; by default the request's max_tokens (else 100).
    #[arg(long)]
    pub output_tokens: Option<u64>,
    /// Reasoning tokens streamed before the answer (reasoning_content / Anthropic thinking).
    #[arg(long, default_value_t = 0)]
    pub reasoning_tokens: u64,
    /// Worker threads [default: number of cores].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Concurrent generation slots; more requests queue server-side [default: unlimited].
    #[arg(long)]
    pub capacity: Option<usize>,
    /// Inject a fault: KIND:N into every Nth request, KIND@A,B into requests A and B (1-based arrival order);
    /// KIND one of http_400, http_401, http_404, http_429, http_500, http_503, error_mid_stream,
    /// close_mid_stream, reset_mid_stream, close_before_done, stall, slow_trickle, malformed_json, invalid_utf8,
    /// split_utf8, framing_variants, huge_line, redirect, never_answer (repeatable; the first rule that matches
    /// wins).
    #[arg(long = "fault", value_name = "KIND:N")]
    pub faults: Vec<String>,
    /// Append each streamed response's timings (arrival, first content piece, last piece) to FILE: the ground
    /// truth `scripts/bench-client.sh` compares the client's TTFT and inter-token latency with.
    #[arg(long, value_name = "FILE")]
    pub timing_log: Option<PathBuf>,
    /// The model id GET /v1/models lists [default: sim-model]; requests may name any model.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Like llama.cpp's server: advertise keep-alive, yet close the connection right after each streamed
    /// response's last byte, without reading anything more.
    #[arg(long)]
    pub close_after_stream: bool,
    /// With --close-after-stream: wait this long after the last byte before closing (still not reading), so
    /// a request sent on the reused connection meets a reset.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub close_delay_ms: u64,
    /// Close a connection silently once it has waited this long for its next request (a proxy's keep-alive
    /// timeout) [default: never].
    #[arg(long, value_name = "MS")]
    pub idle_close_ms: Option<u64>,
    /// Streamed responses without Content-Length or Transfer-Encoding: the body ends when the connection
    /// closes.
    #[arg(long)]
    pub close_delimited: bool,
    /// Where a streamed OpenAI-shaped response puts the usage it was asked for (stream_options.include_usage):
    /// a chunk of its own with "choices": [], or on the finish chunk (llama.cpp's /v1/completions).
    #[arg(long, value_name = "WHERE", default_value = "separate",
          value_parser = clap::builder::PossibleValuesParser::new(["separate", "with_last_choice"]))]
    pub usage_chunk: String,
    /// The chat role chunk says "content": null (llama.cpp) instead of "".
    #[arg(long)]
    pub role_content_null: bool,
    /// Answer a request that has a stream_options field with HTTP 400 naming the field.
    #[arg(long)]
    pub reject_stream_options: bool,
    /// Saturate like a serving engine (docs/simulator.md): N requests run at once in one batch, more wait in a
    /// FIFO queue; --ttft-ms becomes the fixed time of a prefill step [default: off, fixed timings].
    #[arg(long, value_name = "N", help_heading = "Saturating engine")]
    pub batch_slots: Option<usize>,
    /// Engine: prefill time per prompt token, in milliseconds [default: 0].
    #[arg(long, value_name = "MS", help_heading = "Saturating engine")]
    pub prefill_ms_per_token: Option<f64>,
    /// Engine: fixed time of a decode step (one token for every running request), in milliseconds
    /// [default: --itl-ms].
    #[arg(long, value_name = "MS", help_heading = "Saturating engine")]
    pub decode_step_ms: Option<f64>,
    /// Engine: decode-step time per running request, in milliseconds [default: 0].
    #[arg(long, value_name = "MS", help_heading = "Saturating engine")]
    pub decode_ms_per_running: Option<f64>,
    /// Engine: KV-cache budget in tokens; a request reserves its prompt and its whole output when admitted
    /// [default: no limit].
    #[arg(long, value_name = "TOKENS", help_heading = "Saturating engine")]
    pub kv_cache_tokens: Option<u64>,
}

/// The correctness test's flags (`llm_correctness.py`), plus `--config` and `--seed`.
///
/// The config file's top-level keys apply, and a `correctness:` section overrides them for this test.
#[derive(Debug, Default, Clone, Args)]
pub struct CorrectnessArgs {
    /// YAML config file (see settings/config.yml); its `correctness:` section overrides the top-level keys.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The model to query [required unless the config names `models`].
    #[arg(long)]
    pub model: Option<String>,
    /// Number of requests in flight at once (closed loop) [default: 10].
    #[arg(long, value_name = "N")]
    pub num_concurrent_requests: Option<u64>,
    /// Seconds after which no new request is started [default: 90].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Number of requests to send (and record) in all [default: 50].
    #[arg(long, value_name = "N")]
    pub max_num_completed_requests: Option<u64>,
    /// JSON object merged into every request body after {"temperature": 0.0} [default: {}].
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
    /// Seed of the number draws [default: 11111].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Extra request header 'Name: value', for gateways (repeatable; replaces the config's `headers`, and a
    /// header the API sets itself, e.g. Authorization).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// Do not verify TLS certificates (self-signed test endpoints only; prints a warning) [default: verify].
    #[arg(long)]
    pub insecure: bool,
    /// Count tokens with this Hugging Face tokenizer.json instead of the embedded Llama tokenizer (prompt
    /// budget and output counts).
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<String>,
    /// Per-request timeouts and the grace period.
    #[command(flatten)]
    pub timeouts: TimeoutArgs,
    /// Connection reuse and stream usage.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

impl From<&CorrectnessArgs> for LoadTestArgs {
    fn from(a: &CorrectnessArgs) -> Self {
        LoadTestArgs {
            config: a.config.clone(),
            model: a.model.clone(),
            num_concurrent_requests: a.num_concurrent_requests,
            timeout: a.timeout,
            max_num_completed_requests: a.max_num_completed_requests,
            additional_sampling_params: a.additional_sampling_params.clone(),
            results_dir: a.results_dir.clone(),
            llm_api: a.llm_api.clone(),
            metadata: a.metadata.clone(),
            seed: a.seed,
            headers: a.headers.clone(),
            insecure: a.insecure,
            tokenizer: a.tokenizer.clone(),
            timeouts: a.timeouts.clone(),
            connection: a.connection.clone(),
            ..LoadTestArgs::default()
        }
    }
}
