//! Speaking to LLM APIs: the [`LlmClient`] trait, the request description, and stream framing.
//!
//! A backend knows HTTP and wire formats; it knows nothing about launchers, results or reports. It measures a
//! request (timings, server usage, the error if any) and returns the generated text; token counting happens
//! later, off the network threads.

pub mod openai;
pub mod sse;

use std::time::Instant;

use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::metrics::Measured;

/// One request to send, in the shape of the original's `RequestConfig` (`prompt` is `[text, target_tokens]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestConfig {
    /// Sent verbatim as `"model"`.
    pub model: String,
    /// The prompt text and its target length in tokens (the original's `number_input_tokens`).
    pub prompt: (String, u64),
    /// Merged into the request body (`max_tokens`, `temperature`, …).
    #[serde(default)]
    pub sampling_params: Map<String, Value>,
    /// The API the request is for, e.g. `openai`.
    pub llm_api: String,
    /// Free-form data carried with the request (the correctness test keeps `rnd_number` here).
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// What a client hands back for one request.
#[derive(Debug, Clone)]
pub struct ClientResponse {
    /// When the client started the request (its clock starts before connecting, like the original's).
    pub started: Instant,
    /// Timings, server usage and the error, if any.
    pub measured: Measured,
    /// The concatenated content of the stream.
    pub generated_text: String,
}

/// A streaming LLM client. Implementations run inside one arbiter and may hold `!Send` state (an
/// `awc::Client`); many requests may be in flight on one client at once.
pub trait LlmClient: 'static {
    /// Sends one request and measures it. Never fails: errors are part of the returned measurement.
    fn llm_request(&self, config: RequestConfig) -> LocalBoxFuture<'static, ClientResponse>;
}

/// Builds a client inside the arbiter that will own it. Called once per client actor.
pub type ClientFactory = std::sync::Arc<dyn Fn() -> Box<dyn LlmClient> + Send + Sync>;
