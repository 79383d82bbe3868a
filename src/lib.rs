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
//!  launcher, collector ──ProgressTally──▶ Progress (own arbiter: live progress on stderr)
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
//! The documented API is small: the [`actors`] and their [`messages`], the load modes ([`sources`]: write a
//! [`sources::RequestSource`] and run it with [`RunSource`]), the [`backend`] (the [`LlmClient`]
//! trait, the shipped clients, SSE framing), the per-request record and its formulas ([`metrics`]), and what
//! the crate root re-exports ([`Settings`], [`run`], [`run_with_client`], the simulator). The other modules —
//! `workload` (prompts, number words, schedules), `report` (llmperf files, summaries, merge), `sim`,
//! `settings`, `shard`, `tokenizer` — are internals: reachable for the test suite, hidden from these docs, and
//! not covered by semver.

#![warn(missing_docs)]

// The stable API: the actors, their messages, the client trait and shipped clients, the per-request record,
// and what the crate root re-exports.
pub mod actors;
pub mod backend;
pub mod capacity;
pub mod messages;
pub mod metrics;
pub mod sources;

// Internals: public only so the test suite (and the binary) can reach them, hidden from the docs, and free to
// change between versions. Everything an embedding application needs from them is re-exported below.
#[doc(hidden)]
pub mod cli;
mod error;
mod error_kind;
#[doc(hidden)]
pub mod report;
mod runner;
mod secret;
#[doc(hidden)]
pub mod settings;
#[doc(hidden)]
pub mod shard;
#[doc(hidden)]
pub mod shutdown;
#[doc(hidden)]
pub mod sim;
mod start_at;
#[doc(hidden)]
pub mod tokenizer;
#[doc(hidden)]
pub mod workload;

pub use actors::{ClientActor, ClientPool, Collector, Progress, RequestsLauncher};
pub use backend::openai::{OpenAiChatClient, OpenAiConfig};
pub use backend::stream::HttpOptions;
pub use backend::{ClientFactory, ClientResponse, LlmClient, RequestConfig};
#[doc(hidden)]
pub use cli::{CorrectnessArgs, LoadTestArgs};
pub use error::Error;
pub use error_kind::ErrorKind;
pub use messages::{
    FinishRun, GetNextReady, LaunchRequest, PreparedRequest, RequestCompleted, RequestResult,
    RunFinished, RunRequests, RunSource, StopRun, SubscribeResults,
};
pub use metrics::{Measured, Metrics, StreamTimings, Usage};
pub use report::{Metric, RunDescription, RunSummary, Stats};
pub use runner::{
    run_capacity_search, run_correctness_tests, run_load_tests, run_load_tests_with_client,
};
pub use secret::Secret;
pub use settings::{ConfigLayer, Settings, SettingsBuilder};
pub use sim::{SimConfig, SimServer, start_in_background as start_simulator};
pub use tokenizer::Tokenizer;

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
