//! # llmperf-actors
//!
//! An LLMPerf-compatible load test for LLM APIs, built as an actix actor system. It sends streaming
//! chat-completion requests with prompts sampled from Shakespeare's sonnets at a fixed concurrency, measures
//! time to first token, inter-token latency, end-to-end latency and throughput per request, and writes the same
//! result files, with the same keys, as the original Python LLMPerf.
//!
//! ```text
//!  runner ──RunRequests──▶ RequestsLauncher ──ExecuteRequest──▶ ClientActor × C (one arbiter per core)
//!                               │  ◀──────── ClientResponse ───────────┘
//!                               └──RequestCompleted──▶ Collector (own thread: tokenizing, files)
//!  runner ──FinishRun──▶ Collector ──▶ summary + llmperf files
//! ```
//!
//! Layout: `workload` (prompts, pure), `metrics` (formulas, pure), `backend` (HTTP clients, SSE),
//! `actors` (launcher, clients, collector), `report` (files and printed summary), `sim` (the built-in
//! simulator), `settings` (layered configuration), `runner` (one run after another).

pub mod actors;
pub mod backend;
pub mod cli;
mod error;
pub mod messages;
pub mod metrics;
pub mod report;
pub mod runner;
mod secret;
pub mod settings;
pub mod sim;
pub mod tokenizer;
pub mod workload;

pub use backend::{LlmClient, RequestConfig};
pub use error::Error;
pub use metrics::Metrics;
pub use runner::{run_correctness_tests, run_load_tests};
pub use secret::Secret;
pub use settings::Settings;
