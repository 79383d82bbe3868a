//! The command line (public: the flags are as stable as the result files, and tools may generate docs from
//! [`Cli`]). Command-line interface: the original's flags (spec §2) plus `--config` and `--seed`, and the `serve-sim`,
//! `merge` and `report` subcommands. `docs/cli.md` is generated from these definitions (`tests/cli_docs.rs`).
//!
//! The load and correctness tests' flags (`run_args`) have no clap defaults on purpose: a flag given on the
//! command line overrides the config file and the environment, and a flag not given leaves them alone. The
//! defaults live in `settings`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod capacity_args;
use crate::duration;

mod run_args;
pub use crate::settings::on_off;
pub use capacity_args::{CapacityArgs, CapacitySearchArgs};
pub use run_args::{
    ApiKeyArg, ClientArgs, ConnectionArgs, CorrectnessArgs, LoadTestArgs, OutputArgs, RunArgs,
    TimeoutArgs,
};

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
    #[allow(missing_docs)] // clap would print a doc comment here as help
    pub command: Option<Command>,
    #[command(flatten)]
    #[allow(missing_docs)] // clap would print a doc comment here as help
    pub load: LoadTestArgs,
}

#[derive(Debug, Subcommand)]
#[allow(missing_docs)] // clap would print a doc comment here as help; the variants are documented
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
    /// Find the highest request rate (or concurrency) at which the endpoint meets an SLO on latency
    /// quantiles with a goodput target: bracket, bisect, judge each step by confidence intervals
    /// (docs/capacity.md).
    Capacity(Box<CapacityArgs>),
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

/// `report` flags.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A results directory a load test wrote (its `*_requests.jsonl`, `*_run.json`, `*_summary.json`).
    #[arg(value_name = "RESULTS_DIR")]
    pub dir: PathBuf,
    /// Compare with the runs in this results directory: the change per metric.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Reports to rebuild: any of table, csv, charts, html, all, none [default: all].
    #[arg(long, value_name = "LIST")]
    pub output_format: Option<String>,
    /// Write the CSV files and charts here instead of RESULTS_DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --baseline: fail (exit status 3) when a metric is more than PCT percent worse than the baseline
    /// (latencies up, throughputs down; the error rate by more than PCT percentage points).
    #[arg(long, value_name = "PCT", requires = "baseline")]
    pub max_regression: Option<f64>,
}

/// `serve-sim` flags. Times are milliseconds, or a duration with a unit (`0.5s`).
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Time to first token, in milliseconds (or 0.1s).
    #[arg(long, value_name = "MS", default_value_t = 100.0, value_parser = duration::millis_arg)]
    pub ttft_ms: f64,
    /// Delay between chunks, in milliseconds (or 0.01s).
    #[arg(long, value_name = "MS", default_value_t = 10.0, value_parser = duration::millis_arg)]
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
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = duration::whole_millis_arg)]
    pub close_delay_ms: u64,
    /// Close a connection silently once it has waited this long for its next request (a proxy's keep-alive
    /// timeout) [default: never].
    #[arg(long, value_name = "MS", value_parser = duration::whole_millis_arg)]
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
    #[arg(long, value_name = "MS", value_parser = duration::millis_arg, help_heading = "Saturating engine")]
    pub decode_step_ms: Option<f64>,
    /// Engine: decode-step time per running request, in milliseconds [default: 0].
    #[arg(long, value_name = "MS", help_heading = "Saturating engine")]
    pub decode_ms_per_running: Option<f64>,
    /// Engine: KV-cache budget in tokens; a request reserves its prompt and its whole output when admitted
    /// [default: no limit].
    #[arg(long, value_name = "TOKENS", help_heading = "Saturating engine")]
    pub kv_cache_tokens: Option<u64>,
}
