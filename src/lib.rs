//! # llmperf-actors
//!
//! An LLMPerf-compatible load test (and correctness test) for LLM APIs, built as an actix actor system. It
//! sends streaming chat-completion requests with prompts sampled from Shakespeare's sonnets at a fixed
//! concurrency, measures time to first token, inter-token latency, end-to-end latency and throughput per
//! request, and writes the same result files, with the same keys, as the original Python LLMPerf.
//!
//! ## The actors
//!
//! ```text
//!  run() ──RunRequests──▶ RequestsLauncher ──ExecuteRequest──▶ ClientActor × C (one arbiter per core)
//!                              │  ◀──────── ClientResponse ────────┘   each owns an LlmClient (HTTP/1.1)
//!                              └──RequestCompleted──▶ Collector (own thread: token counts, JSONL log)
//!  run() ──FinishRun──▶ Collector ──▶ RunResult ──▶ statistics ──▶ exporters: llmperf files, printed
//!                                      summary (+ table, CSV, SVG charts on request) ──▶ RunSummary
//!  launcher, collector ──ProgressTally──▶ Progress (own arbiter: snapshots to the RunObserver)
//!
//!  your code ──LaunchRequest / GetNextReady / SubscribeResults──▶ RequestsLauncher ──▶ RequestResult
//! ```
//!
//! ## Use
//!
//! The whole benchmark, as the binary runs it — here against the built-in simulator:
//!
//! ```
//! use llmperf_actors::Settings;
//!
//! let mut settings = Settings::builder()
//!     .model("sim-model")
//!     .openai_api_base("builtin")
//!     .max_num_completed_requests(4)
//!     .mean_output_tokens(5)
//!     .build()?;
//! settings.simulator.ttft_ms = 1.0;
//! settings.simulator.itl_ms = 1.0;
//! let summaries = llmperf_actors::run(&settings)?;
//! assert_eq!(summaries[0].stats.num_completed_requests, 4);
//! # Ok::<(), llmperf_actors::Error>(())
//! ```
//!
//! The actors one request at a time inside your own actix application: see `examples/embed_in_actix_app.rs`;
//! your own client for another API: implement [`LlmClient`] (see `examples/custom_client.rs`) and pass it to
//! [`run_with_client`] or to a [`ClientPool`].
//!
//! ## Layout
//!
//! The API: the [`actors`] and their [`messages`], the load modes ([`sources`]: write a
//! [`sources::RequestSource`] and run it with [`RunSource`]), the [`backend`] (the [`LlmClient`] trait, the
//! shipped clients, SSE framing, [`RequestConfig`]), the per-request record, its formulas and the
//! [`StreamTimer`] that fills it ([`metrics`]), the configuration schema ([`settings`]: [`Settings`],
//! [`ConfigLayer`]), the command line ([`cli`], whose flags are as stable as the config keys), the typed
//! results and their exporters ([`report`]), the server's metrics beside them ([`server_metrics`]), the
//! simulator ([`sim`]; its server needs the cargo feature `sim`, on by default), and what the crate root
//! re-exports ([`run`], [`run_load_tests_with`] with [`RunOptions`] and a [`StopHandle`], [`Tokenizer`]).
//! Prompt sampling, schedules, durations, sharding and signal handling are private to the crate.

#![warn(missing_docs)]
#![warn(unnameable_types)] // every type a public signature uses can be named from outside

// The API: the actors, their messages, the client trait and shipped clients, the per-request record, the
// load modes, and what the crate root re-exports.
pub mod actors;
pub mod backend;
pub mod capacity;
pub mod messages;
pub mod metrics;
pub mod observer;
pub mod sources;

// The command line, the results pipeline (with the server's metrics), the configuration schema and the
// simulator are part of the API too:
// the flags and config keys are as stable as the result files.
pub mod cli;
pub(crate) mod duration;
mod error;
mod error_kind;
pub mod report;
mod runner;
mod secret;
pub mod server_metrics;
pub mod settings;
pub(crate) mod shard;
#[cfg_attr(not(feature = "sim"), allow(dead_code))]
pub mod sim;
mod start_at;
mod stop;
pub(crate) mod tokenizer;
pub(crate) mod workload;

pub use actors::{ClientActor, ClientPool, Collector, Progress, RequestsLauncher};
pub use backend::openai::{OpenAiChatClient, OpenAiConfig};
pub use backend::stream::HttpOptions;
pub use backend::{ClientFactory, ClientResponse, LlmClient, RequestConfig};
pub use error::Error;
pub use error_kind::ErrorKind;
pub use messages::{
    FinishRun, GetNextReady, LaunchRequest, PreparedRequest, RequestCompleted, RequestResult,
    RunFinished, RunRequests, RunSource, StopRun, SubscribeResults,
};
pub use metrics::{Measured, Metrics, StreamTimer, StreamTimings, Usage};
pub use observer::{LogObserver, ProgressSnapshot, RunObserver};
pub use report::{Metric, RunDescription, RunSummary, Stats};
pub use runner::{
    RunOptions, run_capacity_search, run_correctness_tests, run_correctness_tests_with,
    run_load_tests, run_load_tests_with, run_load_tests_with_client,
};
pub use secret::Secret;
pub use settings::{ConfigLayer, Settings, SettingsBuilder};
pub use sim::SimConfig;
#[cfg(feature = "sim")]
pub use sim::{SimServer, start_in_background as start_simulator};
pub use stop::StopHandle;
pub use tokenizer::{TokenCount, Tokenizer};
/// Why the prompts could not be built (inside [`Error::Prompt`]).
pub use workload::PromptError;

/// Runs the load test(s) `settings` describe — one run per model × input × output length distribution — and
/// returns each run's summary (the content of its `_summary.json`). Blocks; starts its own actix system, so
/// call it from plain code, not from inside an actix runtime.
pub fn run(settings: &Settings) -> Result<Vec<RunSummary>, Error> {
    run_load_tests(settings)
}

/// [`run`] with your own clients: `factory` builds one [`LlmClient`] per client actor, on the actor's thread.
pub fn run_with_client(
    settings: &Settings,
    factory: ClientFactory,
) -> Result<Vec<RunSummary>, Error> {
    run_load_tests_with_client(settings, Some(factory))
}
